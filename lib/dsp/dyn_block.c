/* Four-lane forms of dynamics.h's block conversions (see dyn_block.h). */
#include "dyn_block.h"

#include "dynamics.h"
#include "cpu.h"

#if (defined(__x86_64__) || defined(__i386__)) && (defined(__GNUC__) || defined(__clang__)) && \
    defined(__SSE2__)
#define DYNB_AVX2 1
#include <immintrin.h>
#define DYNB_TARGET __attribute__((target("avx2")))

int mixstage__dynb_wide_available(void) { return mixstage__cpu_avx2_fma(); }

/* mixstage__log2_fast_v2, four lanes. */
DYNB_TARGET static inline __m256d dynb_log2(__m256d x) {
  const __m256i mant_mask = _mm256_set1_epi64x(0x000fffffffffffffLL);
  const __m256i one_bits = _mm256_set1_epi64x(0x3ff0000000000000LL);
  const __m256i two52_bits = _mm256_set1_epi64x(0x4330000000000000LL);
  const __m256d two52 = _mm256_set1_pd(4503599627370496.0);
  __m256i u = _mm256_castpd_si256(x);
  __m256i ebits = _mm256_and_si256(_mm256_srli_epi64(u, 52), _mm256_set1_epi64x(0x7ff));
  __m256d e = _mm256_sub_pd(
      _mm256_sub_pd(_mm256_castsi256_pd(_mm256_or_si256(ebits, two52_bits)), two52),
      _mm256_set1_pd(1023.0));
  __m256d m = _mm256_castsi256_pd(_mm256_or_si256(_mm256_and_si256(u, mant_mask), one_bits));
  __m256d big = _mm256_cmp_pd(m, _mm256_set1_pd(1.4142135623730951), _CMP_GT_OQ);
  m = _mm256_blendv_pd(m, _mm256_mul_pd(m, _mm256_set1_pd(0.5)), big);
  e = _mm256_add_pd(e, _mm256_and_pd(big, _mm256_set1_pd(1.0)));
  const __m256d one = _mm256_set1_pd(1.0);
  __m256d s = _mm256_div_pd(_mm256_sub_pd(m, one), _mm256_add_pd(m, one));
  __m256d s2 = _mm256_mul_pd(s, s);
  __m256d p = _mm256_set1_pd(MIXSTAGE__LOG2_TOP);
#define MIXSTAGE__STEP(c) p = _mm256_add_pd(_mm256_mul_pd(p, s2), _mm256_set1_pd(c));
  MIXSTAGE__LOG2_REST(MIXSTAGE__STEP)
#undef MIXSTAGE__STEP
  return _mm256_add_pd(e, _mm256_mul_pd(s, p));
}

/* mixstage__exp2_fast_v2, four lanes (0 for x <= -1022 and NaN). */
DYNB_TARGET static inline __m256d dynb_exp2(__m256d x) {
  __m256d ok = _mm256_cmp_pd(x, _mm256_set1_pd(-1022.0), _CMP_GT_OQ);
  x = _mm256_min_pd(x, _mm256_setzero_pd());
  x = _mm256_max_pd(x, _mm256_set1_pd(-1022.0));
  __m128i k = _mm256_cvttpd_epi32(x);
  __m256d t = _mm256_mul_pd(
      _mm256_add_pd(_mm256_sub_pd(x, _mm256_cvtepi32_pd(k)), _mm256_set1_pd(0.5)),
      _mm256_set1_pd(0.69314718055994531));
  __m256d p = _mm256_set1_pd(MIXSTAGE__EXP2_TOP);
#define MIXSTAGE__STEP(c) p = _mm256_add_pd(_mm256_mul_pd(p, t), _mm256_set1_pd(c));
  MIXSTAGE__EXP2_REST(MIXSTAGE__STEP)
#undef MIXSTAGE__STEP
  __m256i kb = _mm256_cvtepu32_epi64(_mm_add_epi32(k, _mm_set1_epi32(1023)));
  __m256d scale = _mm256_castsi256_pd(_mm256_slli_epi64(kb, 52));
  __m256d r = _mm256_mul_pd(_mm256_mul_pd(p, _mm256_set1_pd(0.70710678118654752440)), scale);
  return _mm256_and_pd(ok, r);
}

/* mixstage__dyn_compress_target_n's SSE2 body, four lanes; returns the
 * frames done (a multiple of 4). */
DYNB_TARGET static int target4(const double *lvl, double *gr, int n, double p_floor, double thr_db,
                               double slope, double knee_db) {
  const __m256d pf = _mm256_set1_pd(p_floor), thr = _mm256_set1_pd(thr_db);
  const __m256d sl = _mm256_set1_pd(slope), kn = _mm256_set1_pd(knee_db);
  const __m256d nkn = _mm256_set1_pd(-knee_db), hkn = _mm256_set1_pd(0.5 * knee_db);
  const __m256d kn2 = _mm256_set1_pd(2.0 * knee_db), two = _mm256_set1_pd(2.0);
  int i = 0;
  for (; i + 4 <= n; i += 4) {
    __m256d l = _mm256_loadu_pd(lvl + i);
    __m256d on = _mm256_cmp_pd(l, pf, _CMP_GE_OQ); /* false for NaN */
    __m256d db = _mm256_mul_pd(_mm256_set1_pd(3.0102999566398120), dynb_log2(l));
    __m256d audible = _mm256_cmp_pd(l, _mm256_set1_pd(1e-60), _CMP_GT_OQ);
    db = _mm256_blendv_pd(_mm256_set1_pd(-600.0), db, audible);
    __m256d over = _mm256_sub_pd(db, thr);
    __m256d over2 = _mm256_mul_pd(two, over);
    __m256d t = _mm256_add_pd(over, hkn);
    __m256d in_knee = _mm256_div_pd(_mm256_mul_pd(_mm256_mul_pd(sl, t), t), kn2);
    __m256d above = _mm256_mul_pd(sl, over);
    __m256d knee_sel = _mm256_cmp_pd(over2, kn, _CMP_LT_OQ);
    __m256d r = _mm256_blendv_pd(above, in_knee, knee_sel);
    on = _mm256_and_pd(on, _mm256_cmp_pd(over2, nkn, _CMP_GT_OQ));
    _mm256_storeu_pd(gr + i, _mm256_and_pd(on, r));
  }
  return i;
}

DYNB_TARGET static int gain4(const double *gr, double *g, int n, double k) {
  const __m256d zero = _mm256_setzero_pd(), one = _mm256_set1_pd(1.0), kk = _mm256_set1_pd(k);
  int i = 0;
  for (; i + 4 <= n; i += 4) {
    __m256d x = _mm256_loadu_pd(gr + i);
    __m256d e = dynb_exp2(_mm256_mul_pd(x, _mm256_set1_pd(-0.16609640474436813)));
    __m256d idle = _mm256_cmp_pd(x, zero, _CMP_EQ_OQ);
    _mm256_storeu_pd(g + i, _mm256_mul_pd(_mm256_blendv_pd(e, one, idle), kk));
  }
  return i;
}
/* mixstage__dyn_smooth per frame, VEX-encoded, four frames per pass.  The
 * choice d > 0 ? b_up : b_down is a blend on the sign of d: they differ
 * only at d = +0, where either coefficient times d gives +0 (and at a NaN
 * d, where either gives NaN).  Returns 1 if every output is below 600. */
DYNB_TARGET static int smooth4(mixstage__dyn_smoother *sm, const double *tg, double *gr, int n) {
  const __m128d up = _mm_set_sd(sm->b_up), down = _mm_set_sd(sm->b_down), flush = _mm_set_sd(1e-12);
  const __m128d cap = _mm_set_sd(600.0);
  __m128d y = _mm_set_sd(sm->y), ok = _mm_castsi128_pd(_mm_set1_epi64x(-1));
#define DYNB_SMOOTH_STEP(i)                                                      \
  do {                                                                           \
    const __m128d d = _mm_sub_sd(_mm_load_sd(tg + (i)), y);                      \
    const __m128d v = _mm_add_sd(y, _mm_mul_sd(_mm_blendv_pd(up, down, d), d));  \
    y = _mm_andnot_pd(_mm_cmplt_sd(v, flush), v);                                \
    ok = _mm_and_pd(ok, _mm_cmplt_sd(y, cap));                                   \
    _mm_store_sd(gr + (i), y);                                                   \
  } while (0)
  int i = 0;
  for (; i + 4 <= n; i += 4) {
    DYNB_SMOOTH_STEP(i);
    DYNB_SMOOTH_STEP(i + 1);
    DYNB_SMOOTH_STEP(i + 2);
    DYNB_SMOOTH_STEP(i + 3);
  }
  for (; i < n; i++) DYNB_SMOOTH_STEP(i);
#undef DYNB_SMOOTH_STEP
  sm->y = _mm_cvtsd_f64(y);
  return _mm_movemask_pd(ok) & 1;
}
#else
#define DYNB_AVX2 0
int mixstage__dynb_wide_available(void) { return 0; }
#endif

int mixstage__dynb_ballistics_n(int wide, mixstage__comp_ballistics *b, const double *tg, double *gr, int n) {
#if DYNB_AVX2
  if (wide && !b->auto_release) return smooth4(&b->fast, tg, gr, n);
#else
  (void)wide;
#endif
  int ok = 1;
  for (int i = 0; i < n; i++) {
    gr[i] = mixstage__comp_ballistics_run(b, tg[i]);
    ok &= gr[i] < 600.0;
  }
  return ok;
}

void mixstage__dynb_target_n(int wide, const double *lvl, double *gr, int n, double p_floor,
                             double thr_db, double slope, double knee_db) {
  int i = 0;
#if DYNB_AVX2
  if (wide) i = target4(lvl, gr, n, p_floor, thr_db, slope, knee_db);
#else
  (void)wide;
#endif
  mixstage__dyn_compress_target_n(lvl + i, gr + i, n - i, p_floor, thr_db, slope, knee_db);
}

void mixstage__dynb_gain_n(int wide, const double *gr, double *g, int n, double k) {
  int i = 0;
#if DYNB_AVX2
  if (wide) i = gain4(gr, g, n, k);
#else
  (void)wide;
#endif
  mixstage__dyn_gr_to_gain_n(gr + i, g + i, n - i);
  for (; i < n; i++) g[i] *= k;
}
