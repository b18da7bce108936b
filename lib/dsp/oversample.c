/* Oversampling by cascaded polyphase half-band FIR stages, and the ITU-R
 * BS.1770-4 Annex 2 true-peak detector.  See oversample.h for the figures.
 *
 * Half-band design: windowed sinc, h[c+d] = 1/2 sinc(d/2) w(d), c = 2K-1,
 * w = Kaiser (Kaiser & Schafer, "On the use of the I0-sinh window for
 * spectrum analysis", 1980; Oppenheim & Schafer, Discrete-Time Signal
 * Processing, 3rd ed., sec. 7.6).  sinc(d/2) is zero for even d != 0, so only
 * the centre tap and the 2K odd-offset taps are non-zero and each phase of
 * the polyphase split is either a pure delay or a symmetric 2K-tap FIR.
 * The outer taps are scaled to sum to 1/4 so both phases have exactly unit
 * DC gain (no ripple at DC between even and odd output samples).
 */
#include "oversample.h"
#include "cpu.h"

#include <math.h>
#include <string.h>
/* SSE2 (the x86-64 baseline) for the phase (de)interleaving around the
 * half-band sums: moves and one product per sample, the same bits. */
#if defined(__SSE2__) && !defined(MIXSTAGE_NO_VECTOR)
#define OS_SSE2 1
#include <emmintrin.h>
#else
#define OS_SSE2 0
#endif

#define OS_PI 3.14159265358979323846
/* A phase-split window's block part: a block and the spare lanes the sums
 * compute past it (HB_SPARE below). */
#define OS2_BLOCK (MIXSTAGE_OS_MAX_FRAMES + 8)
#define HB_MAX_K 34 /* longest stage (FLAT stage 1) */

/* Per-stage designs: K (kernel length 4K-1) and Kaiser beta, chosen by
 * measuring the designed response (see the figures in oversample.h).
 *
 * FLAT: stage 1 carries the steep 0.45..0.55 fs transition (>= 104 dB); later
 * stages only reject images of the 0..0.45 fs band, which lie far above it.
 * LIGHT: pass band to 0.4167 fs (20 kHz at 48 kHz), stop band from
 * 0.5833 fs (what folds from there lands above 20 kHz), >= 80 dB in every
 * stage: a third of the taps of FLAT's first stage. */
static const struct {
  int half;
  float beta;
} hb_design[MIXSTAGE_OS_DESIGNS][MIXSTAGE_OS_MAX_STAGES] = {
    {{34, 10.5f}, {7, 11.0f}, {5, 10.9f}},
    {{16, 8.0f}, {5, 8.25f}, {4, 7.25f}},
};

/* Zeroth-order modified Bessel function of the first kind, by its power
 * series (converges for all x; the loop is bounded). */
static double bessel_i0(double x) {
  double sum = 1.0, term = 1.0, q = 0.25 * x * x;
  for (int k = 1; k < 200; k++) {
    term *= q / ((double)k * (double)k);
    sum += term;
    if (term < sum * 1e-17) break;
  }
  return sum;
}

/* Kaiser window value at offset d from the centre of a window of half-length m
 * (|d| <= m). */
static double kaiser(double d, double m, double beta) {
  double r = d / m;
  double a = 1.0 - r * r;
  return bessel_i0(beta * sqrt(a > 0.0 ? a : 0.0)) / bessel_i0(beta);
}

/* g[m] = h[c +- (2m+1)] for m = 0..K-1, normalised to sum 1/4; designed in
 * double, stored in float (tap rounding, 2^-25 relative, leaves the stop
 * band floor near -140 dB, far below the design's). */
static void design_halfband(float *g, int K, double beta) {
  double gd[HB_MAX_K];
  double sum = 0.0, half_len = (double)(2 * K - 1);
  for (int m = 0; m < K; m++) {
    double d = (double)(2 * m + 1);
    double x = OS_PI * d / 2.0;
    gd[m] = 0.5 * (sin(x) / x) * kaiser(d, half_len, beta);
    sum += gd[m];
  }
  for (int m = 0; m < K; m++) g[m] = (float)(gd[m] * (0.25 / sum));
}

static int stages_for(int factor) {
  switch (factor) {
  case 1: return 0;
  case 2: return 1;
  case 4: return 2;
  case 8: return 3;
  default: return -1;
  }
}

/* Round trip in top-rate samples before padding: each stage s (output rate
 * 2^(s+1) base) delays by c_s = 2K_s - 1 of its own high-rate samples, once
 * up and once down. */
static int round_trip_hi(int factor, int design) {
  int ns = stages_for(factor), total = 0;
  for (int s = 0; s < ns; s++)
    total += 2 * (2 * hb_design[design][s].half - 1) * (factor >> (s + 1));
  return total;
}

static int pad_for(int factor, int extra_hi, int design) {
  int t = round_trip_hi(factor, design) + extra_hi;
  return (factor - t % factor) % factor;
}

int mixstage__os_latency_for_design(int factor, int extra_hi, int design) {
  if (stages_for(factor) < 0 || extra_hi < 0 || design < 0 || design >= MIXSTAGE_OS_DESIGNS)
    return 0;
  return (round_trip_hi(factor, design) + extra_hi + pad_for(factor, extra_hi, design)) / factor;
}

int mixstage__os_latency_for(int factor, int extra_hi) {
  return mixstage__os_latency_for_design(factor, extra_hi, MIXSTAGE_OS_FLAT);
}

int mixstage__os_latency(const mixstage__oversampler *os) {
  return mixstage__os_latency_for_design(os->factor, os->extra_hi, os->design);
}

int mixstage__os_up_delay_hi(const mixstage__oversampler *os) {
  return round_trip_hi(os->factor, os->design) / 2;
}

void mixstage__os_fini(mixstage__oversampler *os, const mixstage__allocator *a) {
  if (!os) return;
  mixstage__free(a, os->block);
  mixstage__free(a, os->taps);
  memset(os, 0, sizeof *os);
}

int mixstage__os_init(mixstage__oversampler *os, const mixstage__allocator *a, int nch,
                      int factor) {
  return mixstage__os_init_ex(os, a, nch, factor, 0);
}

int mixstage__os_init_ex(mixstage__oversampler *os, const mixstage__allocator *a, int nch,
                         int factor, int extra_hi) {
  return mixstage__os_init_design(os, a, nch, factor, extra_hi, MIXSTAGE_OS_FLAT);
}

static int hb_wide_available(void);

int mixstage__os_init_design(mixstage__oversampler *os, const mixstage__allocator *a, int nch,
                             int factor, int extra_hi, int design) {
  int ns = stages_for(factor);
  memset(os, 0, sizeof *os);
  if (ns < 0 || nch < 1 || nch > MIXSTAGE_OS_MAX_CHANNELS || extra_hi < 0 ||
      (factor == 1 && extra_hi != 0) || design < 0 || design >= MIXSTAGE_OS_DESIGNS)
    return MIXSTAGE_EINVAL;
  os->factor = factor;
  os->nstages = ns;
  os->nch = nch;
  os->design = design;
  os->extra_hi = extra_hi;
  os->pad = pad_for(factor, extra_hi, design);

  size_t ntaps = 0, per_ch = (size_t)MIXSTAGE_OS_MAX_FRAMES * (size_t)factor; /* hi */
  if (ns >= 2) per_ch += (size_t)MIXSTAGE_OS_MAX_FRAMES * 2;                   /* mid */
  if (ns >= 3) per_ch += (size_t)MIXSTAGE_OS_MAX_FRAMES * 4;                   /* mid2 */
  per_ch += (size_t)factor;                                                   /* pad line */
  for (int s = 0; s < ns; s++) {
    size_t K = (size_t)hb_design[design][s].half;
    ntaps += K;
    per_ch += 2 * K + 2 * K + K; /* up_hist, dn_even, dn_odd */
  }
  const int split = factor == 2 && os->pad == 0;
  const size_t K0 = ns > 0 ? (size_t)hb_design[design][0].half : 0;
  if (split) per_ch += 2 * (2 * K0 + OS2_BLOCK) + K0 + OS2_BLOCK; /* in_win, even_win, odd_win */
  os->block = mixstage__calloc(a, per_ch * (size_t)nch, sizeof(float));
  os->taps = ns > 0 ? mixstage__calloc(a, ntaps, sizeof(float)) : NULL;
  if (!os->block || (ns > 0 && !os->taps)) {
    mixstage__os_fini(os, a);
    return MIXSTAGE_ENOMEM;
  }

  float *p = os->block;
  for (int c = 0; c < nch; c++) {
    os->hi[c] = p;
    p += MIXSTAGE_OS_MAX_FRAMES * factor;
    if (ns >= 2) {
      os->mid[c] = p;
      p += MIXSTAGE_OS_MAX_FRAMES * 2;
    }
    if (ns >= 3) {
      os->mid2[c] = p;
      p += MIXSTAGE_OS_MAX_FRAMES * 4;
    }
  }
  os->pad_hist = p;
  p += (size_t)factor * (size_t)nch;
  for (int c = 0; c < nch && split; c++) {
    os->in_win[c] = p;
    p += 2 * K0 + OS2_BLOCK;
    os->even_win[c] = p;
    p += 2 * K0 + OS2_BLOCK;
    os->odd_win[c] = p;
    p += K0 + OS2_BLOCK;
  }
  float *t = os->taps;
  for (int s = 0; s < ns; s++) {
    mixstage__hb_stage *st = &os->st[s];
    int K = hb_design[design][s].half;
    st->half = K;
    st->hlen = 2 * K;
    st->wide = hb_wide_available();
    design_halfband(t, K, hb_design[design][s].beta);
    st->g = t;
    t += K;
    st->up_hist = p;
    p += (size_t)st->hlen * (size_t)nch;
    st->dn_even = p;
    p += (size_t)st->hlen * (size_t)nch;
    st->dn_odd = p;
    p += (size_t)K * (size_t)nch;
  }
  mixstage__os_reset(os);
  return MIXSTAGE_OK;
}

void mixstage__os_reset(mixstage__oversampler *os) {
  for (int s = 0; s < os->nstages; s++) {
    mixstage__hb_stage *st = &os->st[s];
    memset(st->up_hist, 0, sizeof(float) * (size_t)st->hlen * (size_t)os->nch);
    memset(st->dn_even, 0, sizeof(float) * (size_t)st->hlen * (size_t)os->nch);
    memset(st->dn_odd, 0, sizeof(float) * (size_t)st->half * (size_t)os->nch);
  }
  if (os->pad_hist) memset(os->pad_hist, 0, sizeof(float) * (size_t)os->factor * (size_t)os->nch);
  for (int c = 0; c < os->nch && os->in_win[0]; c++) {
    const size_t H = (size_t)os->st[0].hlen, K = (size_t)os->st[0].half;
    memset(os->in_win[c], 0, sizeof(float) * (H + OS2_BLOCK));
    memset(os->even_win[c], 0, sizeof(float) * (H + OS2_BLOCK));
    memset(os->odd_win[c], 0, sizeof(float) * (K + OS2_BLOCK));
  }
  os->in_last = 0;
}

/* Largest number of inputs one stage sees per call (stage 3 of 8x: 4 x 32)
 * and the longest history (stage 1 of FLAT: 2K = 68).  Windows carry 8
 * spare slots: outputs are computed 8 at a time. */
#define HB_MAX_N (MIXSTAGE_OS_MAX_FRAMES * 4)
#define HB_MAX_H (2 * HB_MAX_K)
#define HB_SPARE 8

/* The symmetric half-band sum for n consecutive outputs,
 *   acc[i] = sum_{m=0}^{K-1} g[m] (p[i+1+m] + p[i-m]),   i = 0 .. n-1,
 * over a linear window p (reads p[1-K] .. p[n8-1+K], n8 = n rounded up to 8).
 * Float throughout: the sum of <= 34 products of unit-scale values rounds
 * at ~1e-7 of full scale (-140 dB), below every stated figure.  Each output
 * is summed in the same order (m ascending) in the vector and the scalar
 * form, so both give the same bits and no output depends on its position in
 * the block.  Eight outputs side by side (GCC/Clang vector extension: two
 * SSE registers). */
static void hb_sym_base(const float *g, int K, const float *p, float *acc, int n) {
#if defined(__GNUC__) && !defined(MIXSTAGE_NO_VECTOR)
  typedef float v4f __attribute__((vector_size(4 * sizeof(float))));
  for (int i = 0; i < n; i += 8) {
    v4f s0 = {0.0f, 0.0f, 0.0f, 0.0f}, s1 = s0;
    for (int m = 0; m < K; m++) {
      v4f x0, x1, y0, y1, gm = {g[m], g[m], g[m], g[m]};
      memcpy(&x0, p + i + 1 + m, sizeof x0);
      memcpy(&x1, p + i + 5 + m, sizeof x1);
      memcpy(&y0, p + i - m, sizeof y0);
      memcpy(&y1, p + i + 4 - m, sizeof y1);
      s0 += gm * (x0 + y0);
      s1 += gm * (x1 + y1);
    }
    memcpy(acc + i, &s0, sizeof s0);
    memcpy(acc + i + 4, &s1, sizeof s1);
  }
#else
  for (int i = 0; i < n; i++) {
    float s = 0.0f;
    for (int m = 0; m < K; m++) s += g[m] * (p[i + 1 + m] + p[i - m]);
    acc[i] = s;
  }
#endif
}

#if (defined(__x86_64__) || defined(__i386__)) && defined(__GNUC__) && defined(__SSE2__) && \
    !defined(MIXSTAGE_NO_VECTOR)
#define HB_AVX2 1
#include <immintrin.h>
/* Eight outputs per vector, s = g[m] (x + y) + s fused: half the
 * instructions of the SSE2 form.  Same taps in the same order; the fused
 * multiply-add rounds once where the base form rounds twice, so the two
 * differ in the last bits (a machine runs one of them for every block). */
static __attribute__((target("avx2,fma"))) void hb_sym_avx2(const float *g, int K, const float *p,
                                                             float *acc, int n) {
  int i = 0;
  /* Thirty-two outputs at a time: one broadcast tap feeds four sums, and
   * the loop's bookkeeping is shared (a third of the instructions of one
   * vector at a time); each sum still runs m ascending. */
  for (; i + 32 <= n; i += 32) {
    __m256 s0 = _mm256_setzero_ps(), s1 = s0, s2 = s0, s3 = s0;
    const float *x = p + i + 1, *y = p + i;
#if defined(__GNUC__) && (__GNUC__ >= 8 || defined(__clang__))
#pragma GCC unroll 4
#endif
    for (int m = 0; m < K; m++) {
      const __m256 gm = _mm256_broadcast_ss(g + m);
      s0 = _mm256_fmadd_ps(gm, _mm256_add_ps(_mm256_loadu_ps(x + m), _mm256_loadu_ps(y - m)), s0);
      s1 = _mm256_fmadd_ps(gm, _mm256_add_ps(_mm256_loadu_ps(x + m + 8), _mm256_loadu_ps(y - m + 8)), s1);
      s2 = _mm256_fmadd_ps(gm, _mm256_add_ps(_mm256_loadu_ps(x + m + 16), _mm256_loadu_ps(y - m + 16)), s2);
      s3 = _mm256_fmadd_ps(gm, _mm256_add_ps(_mm256_loadu_ps(x + m + 24), _mm256_loadu_ps(y - m + 24)), s3);
    }
    _mm256_storeu_ps(acc + i, s0);
    _mm256_storeu_ps(acc + i + 8, s1);
    _mm256_storeu_ps(acc + i + 16, s2);
    _mm256_storeu_ps(acc + i + 24, s3);
  }
  for (; i < n; i += 8) {
    __m256 s = _mm256_setzero_ps();
    for (int m = 0; m < K; m++)
      s = _mm256_fmadd_ps(_mm256_broadcast_ss(g + m),
                          _mm256_add_ps(_mm256_loadu_ps(p + i + 1 + m), _mm256_loadu_ps(p + i - m)), s);
    _mm256_storeu_ps(acc + i, s);
  }
}

static int hb_wide_available(void) { return mixstage__cpu_avx2_fma(); }
#else
#define HB_AVX2 0
static int hb_wide_available(void) { return 0; }
#endif

/* acc[i] = sum_m g[m] (p[i + 1 + m] + p[i - m]), i < n rounded up to 8. */
static void hb_sym(const mixstage__hb_stage *st, const float *p, float *acc, int n) {
#if HB_AVX2
  if (st->wide) {
    hb_sym_avx2(st->g, st->half, p, acc, n);
    return;
  }
#endif
  hb_sym_base(st->g, st->half, p, acc, n);
}

/* Interpolate by 2: n inputs -> 2n outputs.  With the window
 * lin = [2K previous inputs | in[0..n-1]] and x[j] = lin[2K + j]:
 *   y[2j]   = 2 sum_m g[m] (x[j-K+1+m] + x[j-K-m])   (the symmetric outer taps)
 *   y[2j+1] = 2 h[c] x[j-K+1] = x[j-K+1]              (the centre tap)
 * hist (2K floats, oldest first) carries the window between calls. */
static void hb_up(const mixstage__hb_stage *st, float *hist, const float *in, float *out, int n) {
  const int K = st->half, H = st->hlen;
  float lin[HB_MAX_H + HB_MAX_N + HB_SPARE], acc[HB_MAX_N + HB_SPARE];
  memcpy(lin, hist, sizeof(float) * (size_t)H);
  memcpy(lin + H, in, sizeof(float) * (size_t)n);
  memset(lin + H + n, 0, sizeof(float) * HB_SPARE); /* lanes past n: computed, discarded */
  const float *p = lin + H - K;
  hb_sym(st, p, acc, n);
  int j = 0;
#if OS_SSE2
  const __m128 two = _mm_set1_ps(2.0f);
  for (; j + 4 <= n; j += 4) { /* four frames interleaved per pair of stores */
    const __m128 e = _mm_mul_ps(two, _mm_loadu_ps(acc + j)), o = _mm_loadu_ps(p + j + 1);
    _mm_storeu_ps(out + 2 * j, _mm_unpacklo_ps(e, o));
    _mm_storeu_ps(out + 2 * j + 4, _mm_unpackhi_ps(e, o));
  }
#endif
  for (; j < n; j++) {
    out[2 * j] = 2.0f * acc[j];
    out[2 * j + 1] = p[j + 1];
  }
  memcpy(hist, lin + n, sizeof(float) * (size_t)H);
}

/* Decimate by 2: 2n inputs -> n outputs, y[j] = sum_i h[i] v[2j - i]:
 *   y[j] = sum_m g[m] (e[j-K+1+m] + e[j-K-m]) + 1/2 o[j-K],
 * e[j] = v[2j] (window: 2K previous even inputs first), o[j] = v[2j+1] (a
 * K-sample delay: K previous odd inputs first). */
static void hb_down(const mixstage__hb_stage *st, float *even, float *odd, const float *in,
                    float *out, int n) {
  const int K = st->half, H = st->hlen;
  float lin[HB_MAX_H + HB_MAX_N + HB_SPARE], acc[HB_MAX_N + HB_SPARE];
  float olin[HB_MAX_H / 2 + HB_MAX_N];
  memcpy(lin, even, sizeof(float) * (size_t)H);
  memcpy(olin, odd, sizeof(float) * (size_t)K);
  int j = 0;
#if OS_SSE2
  for (; j + 4 <= n; j += 4) { /* even and odd phases of four frames */
    const __m128 a = _mm_loadu_ps(in + 2 * j), b = _mm_loadu_ps(in + 2 * j + 4);
    _mm_storeu_ps(lin + H + j, _mm_shuffle_ps(a, b, _MM_SHUFFLE(2, 0, 2, 0)));
    _mm_storeu_ps(olin + K + j, _mm_shuffle_ps(a, b, _MM_SHUFFLE(3, 1, 3, 1)));
  }
#endif
  for (; j < n; j++) {
    lin[H + j] = in[2 * j];
    olin[K + j] = in[2 * j + 1];
  }
  memset(lin + H + n, 0, sizeof(float) * HB_SPARE);
  hb_sym(st, lin + H - K, acc, n);
  j = 0;
#if OS_SSE2
  const __m128 half = _mm_set1_ps(0.5f);
  for (; j + 4 <= n; j += 4)
    _mm_storeu_ps(out + j, _mm_add_ps(_mm_loadu_ps(acc + j), _mm_mul_ps(half, _mm_loadu_ps(olin + j))));
#endif
  for (; j < n; j++) out[j] = acc[j] + 0.5f * olin[j];
  memcpy(even, lin + n, sizeof(float) * (size_t)H);
  memcpy(odd, olin + n, sizeof(float) * (size_t)K);
}

void mixstage__os_up(mixstage__oversampler *os, const float *const *in, int nframes) {
  const int ns = os->nstages;
  if (ns == 0) {
    for (int c = 0; c < os->nch; c++) memmove(os->hi[c], in[c], sizeof(float) * (size_t)nframes);
    return;
  }
  for (int s = 0; s < ns; s++) {
    mixstage__hb_stage *st = &os->st[s];
    int n = nframes << s;
    for (int c = 0; c < os->nch; c++) {
      const float *src = s == 0 ? in[c] : (s == 1 ? os->mid[c] : os->mid2[c]);
      float *dst = s == ns - 1 ? os->hi[c] : (s == 0 ? os->mid[c] : os->mid2[c]);
      hb_up(st, st->up_hist + (size_t)c * st->hlen, src, dst, n);
    }
  }
}

void mixstage__os_down(mixstage__oversampler *os, float *const *out, int nframes) {
  const int ns = os->nstages, L = os->factor;
  if (ns == 0) {
    for (int c = 0; c < os->nch; c++) memmove(out[c], os->hi[c], sizeof(float) * (size_t)nframes);
    return;
  }
  /* The pad: a delay of whole top-rate samples that rounds the round trip
   * up to whole base frames. */
  if (os->pad > 0) {
    /* pad_hist holds the last `pad` inputs, oldest first */
    const int P = os->pad, n = nframes * L;
    for (int c = 0; c < os->nch; c++) {
      float *line = os->pad_hist + (size_t)c * (size_t)L, *x = os->hi[c];
      float tmp[MIXSTAGE_OS_MAX_FRAMES * 8 + 8];
      memcpy(tmp, line, sizeof(float) * (size_t)P);
      memcpy(tmp + P, x, sizeof(float) * (size_t)n);
      memcpy(x, tmp, sizeof(float) * (size_t)n);
      memcpy(line, tmp + n, sizeof(float) * (size_t)P);
    }
  }
  for (int s = ns - 1; s >= 0; s--) {
    mixstage__hb_stage *st = &os->st[s];
    int n = nframes << s;
    for (int c = 0; c < os->nch; c++) {
      const float *src = s == ns - 1 ? os->hi[c] : (s == 0 ? os->mid[c] : os->mid2[c]);
      float *dst = s == 0 ? out[c] : (s == 1 ? os->mid[c] : os->mid2[c]);
      hb_down(st, st->dn_even + (size_t)c * st->hlen, st->dn_odd + (size_t)c * st->half, src, dst,
              n);
    }
  }
}

/* ---- phase-split 2x ----------------------------------------------------
 * hb_up() and hb_down() with the windows kept between calls instead of
 * rebuilt from the histories, and the top-rate samples left in their two
 * phases: in_win = [2K previous inputs | block], even_win / odd_win the
 * down windows that up() fills directly.  Each value is computed by the
 * same operations as there. */
int mixstage__os2_available(const mixstage__oversampler *os) { return os->in_win[0] != NULL; }

#if HB_AVX2
/* Forward copy of n floats, dst <= src (overlap allowed: each chunk is
 * loaded before the store that could reach into it). */
static inline __attribute__((target("avx2,fma"), always_inline)) void os2_move(float *dst, const float *src,
                                                                             int n) {
  int k = 0;
  if (n == 32) { /* a whole piece, and the LIGHT windows: straight line */
    const __m256 a = _mm256_loadu_ps(src), b = _mm256_loadu_ps(src + 8), c = _mm256_loadu_ps(src + 16),
                 d = _mm256_loadu_ps(src + 24);
    _mm256_storeu_ps(dst, a);
    _mm256_storeu_ps(dst + 8, b);
    _mm256_storeu_ps(dst + 16, c);
    _mm256_storeu_ps(dst + 24, d);
    return;
  }
  for (; k + 8 <= n; k += 8) _mm256_storeu_ps(dst + k, _mm256_loadu_ps(src + k));
  for (; k < n; k++) dst[k] = src[k];
}

/* The half-band sums of two channels at once, eight outputs per vector; a
 * whole piece (32 frames) in one pass of the taps, each broadcast tap
 * feeding eight sums.  Each sum runs m ascending with fused multiply-adds as
 * in hb_sym_avx2: the same bits.  Then, in registers, up: y = 2 s (the even
 * phase, whose window has room for n rounded up to 8); down:
 * y = s + 1/2 o (the centre tap), the final vector masked at n. */
#define HB2_TAP(s, x, u, k) s = _mm256_fmadd_ps(gm, _mm256_add_ps(_mm256_loadu_ps((x) + (k)), _mm256_loadu_ps((u) + (k))), s)
static inline __attribute__((target("avx2,fma"), always_inline)) void
hb2_out(float *y, const float *o, __m256 s, int j, int n, int down) {
  if (down) s = _mm256_add_ps(s, _mm256_mul_ps(_mm256_set1_ps(0.5f), _mm256_loadu_ps(o + j)));
  else s = _mm256_mul_ps(_mm256_set1_ps(2.0f), s);
  if (down && n - j < 8) { /* the caller's buffer ends at n */
    const __m256i mask = _mm256_cmpgt_epi32(_mm256_set1_epi32(n - j), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
    _mm256_maskstore_ps(y + j, mask, s);
  } else {
    _mm256_storeu_ps(y + j, s);
  }
}

static __attribute__((target("avx2,fma"))) void hb2_pair_avx2(const float *g, int K, const float *p0,
                                                               const float *p1, float *y0, float *y1,
                                                               const float *o0, const float *o1, int n,
                                                               int down) {
  int j = 0;
  if (n == 32) {
    __m256 s0 = _mm256_setzero_ps(), s1 = s0, s2 = s0, s3 = s0, s4 = s0, s5 = s0, s6 = s0, s7 = s0;
    const float *x0 = p0 + 1, *x1 = p1 + 1;
#if defined(__GNUC__) && (__GNUC__ >= 8 || defined(__clang__))
#pragma GCC unroll 2
#endif
    for (int m = 0; m < K; m++) {
      const __m256 gm = _mm256_broadcast_ss(g + m);
      const float *a0 = x0 + m, *b0 = p0 - m, *a1 = x1 + m, *b1 = p1 - m;
      HB2_TAP(s0, a0, b0, 0);
      HB2_TAP(s1, a0, b0, 8);
      HB2_TAP(s2, a0, b0, 16);
      HB2_TAP(s3, a0, b0, 24);
      HB2_TAP(s4, a1, b1, 0);
      HB2_TAP(s5, a1, b1, 8);
      HB2_TAP(s6, a1, b1, 16);
      HB2_TAP(s7, a1, b1, 24);
    }
    hb2_out(y0, o0, s0, 0, n, down);
    hb2_out(y0, o0, s1, 8, n, down);
    hb2_out(y0, o0, s2, 16, n, down);
    hb2_out(y0, o0, s3, 24, n, down);
    hb2_out(y1, o1, s4, 0, n, down);
    hb2_out(y1, o1, s5, 8, n, down);
    hb2_out(y1, o1, s6, 16, n, down);
    hb2_out(y1, o1, s7, 24, n, down);
    return;
  }
  for (; j < n; j += 8) {
    __m256 s0 = _mm256_setzero_ps(), s1 = s0;
    const float *x0 = p0 + j + 1, *x1 = p1 + j + 1, *u0 = p0 + j, *u1 = p1 + j;
    for (int m = 0; m < K; m++) {
      const __m256 gm = _mm256_broadcast_ss(g + m);
      HB2_TAP(s0, x0 + m, u0 - m, 0);
      HB2_TAP(s1, x1 + m, u1 - m, 0);
    }
    hb2_out(y0, o0, s0, j, n, down);
    hb2_out(y1, o1, s1, j, n, down);
  }
}
#undef HB2_TAP

/* mixstage__os2_up / down for channels c, c + 1. */
static __attribute__((target("avx2,fma"))) void os2_up_pair_avx2(mixstage__oversampler *os, int c,
                                                                  const float *in0, const float *in1, int n) {
  const mixstage__hb_stage *st = &os->st[0];
  const int K = st->half, H = st->hlen, last = os->in_last;
  float *w[2] = {os->in_win[c], os->in_win[c + 1]};
  const float *in[2] = {in0, in1};
  for (int k = 0; k < 2; k++) {
    if (last > 0) os2_move(w[k], w[k] + last, H);
    os2_move(w[k] + H, in[k], n);
    _mm256_storeu_ps(w[k] + H + n, _mm256_setzero_ps()); /* lanes past n: computed, discarded */
    os2_move(os->odd_win[c + k] + K, w[k] + H - K + 1, n); /* the centre tap */
  }
  hb2_pair_avx2(st->g, K, w[0] + H - K, w[1] + H - K, os->even_win[c] + H, os->even_win[c + 1] + H, NULL,
                NULL, n, 0);
}

static __attribute__((target("avx2,fma"))) void os2_down_pair_avx2(mixstage__oversampler *os, int c, float *y0,
                                                                    float *y1, int n) {
  const mixstage__hb_stage *st = &os->st[0];
  const int K = st->half, H = st->hlen;
  float *e0 = os->even_win[c], *e1 = os->even_win[c + 1], *o0 = os->odd_win[c], *o1 = os->odd_win[c + 1];
  _mm256_storeu_ps(e0 + H + n, _mm256_setzero_ps());
  _mm256_storeu_ps(e1 + H + n, _mm256_setzero_ps());
  hb2_pair_avx2(st->g, K, e0 + H - K, e1 + H - K, y0, y1, o0, o1, n, 1);
  os2_move(e0, e0 + n, H);
  os2_move(e1, e1 + n, H);
  os2_move(o0, o0 + n, K);
  os2_move(o1, o1 + n, K);
}
#endif

void mixstage__os2_up(mixstage__oversampler *os, const float *const *in, int nframes) {
  const mixstage__hb_stage *st = &os->st[0];
  const int K = st->half, H = st->hlen, n = nframes, last = os->in_last;
  float acc[HB_MAX_N + HB_SPARE];
  int c = 0;
#if HB_AVX2
  if (st->wide)
    for (; c + 2 <= os->nch; c += 2) os2_up_pair_avx2(os, c, in[c], in[c + 1], n);
#endif
  for (; c < os->nch; c++) {
    float *w = os->in_win[c];
    if (last > 0) memmove(w, w + last, sizeof(float) * (size_t)H);
    memcpy(w + H, in[c], sizeof(float) * (size_t)n);
    memset(w + H + n, 0, sizeof(float) * HB_SPARE); /* lanes past n: computed, discarded */
    const float *p = w + H - K;
    hb_sym(st, p, acc, n);
    float *e = os->even_win[c] + H;
    int j = 0;
#if OS_SSE2
    const __m128 two = _mm_set1_ps(2.0f);
    for (; j + 4 <= n; j += 4) _mm_storeu_ps(e + j, _mm_mul_ps(two, _mm_loadu_ps(acc + j)));
#endif
    for (; j < n; j++) e[j] = 2.0f * acc[j];
    memcpy(os->odd_win[c] + K, p + 1, sizeof(float) * (size_t)n); /* the centre tap */
  }
  os->in_last = n;
}

void mixstage__os2_down(mixstage__oversampler *os, float *const *out, int nframes) {
  const mixstage__hb_stage *st = &os->st[0];
  const int K = st->half, H = st->hlen, n = nframes;
  float acc[HB_MAX_N + HB_SPARE];
  int c = 0;
#if HB_AVX2
  if (st->wide)
    for (; c + 2 <= os->nch; c += 2) os2_down_pair_avx2(os, c, out[c], out[c + 1], n);
#endif
  for (; c < os->nch; c++) {
    float *e = os->even_win[c], *o = os->odd_win[c], *y = out[c];
    memset(e + H + n, 0, sizeof(float) * HB_SPARE);
    hb_sym(st, e + H - K, acc, n);
    int j = 0;
#if OS_SSE2
    const __m128 half = _mm_set1_ps(0.5f);
    for (; j + 4 <= n; j += 4)
      _mm_storeu_ps(y + j, _mm_add_ps(_mm_loadu_ps(acc + j), _mm_mul_ps(half, _mm_loadu_ps(o + j))));
#endif
    for (; j < n; j++) y[j] = acc[j] + 0.5f * o[j];
    memmove(e, e + n, sizeof(float) * (size_t)H);
    memmove(o, o + n, sizeof(float) * (size_t)K);
  }
}

/* ---- true peak (ITU-R BS.1770-4 Annex 2) ---------------------------------
 * Interpolation by 4 with a 127-tap (4 x 32 - 1) windowed-sinc lowpass cut at
 * the base Nyquist frequency.  Tap i = j + 4q of the prototype is phase j's
 * tap q; the centre (i = 63 = 3 + 4 * 15) falls in phase 3, whose other taps
 * sit on zeros of the sinc, so phase 3 outputs x[n - 15] exactly.  The four
 * values computed at base frame n are the signal at n - 15.75 ... n - 15. */
#define TP_T MIXSTAGE_TP_TAPS_PER_PHASE
#define TP_LEN (4 * TP_T - 1)
#define TP_CENTRE (2 * TP_T - 1)
#define TP_BETA 8.0

static void design_tp(double taps[4][TP_T]) {
  for (int j = 0; j < 4; j++) {
    double sum = 0.0;
    for (int q = 0; q < TP_T; q++) {
      int i = j + 4 * q;
      double v = 0.0;
      if (i < TP_LEN) {
        int d = i - TP_CENTRE;
        double x = OS_PI * (double)d / 4.0;
        v = (d == 0 ? 1.0 : sin(x) / x) * kaiser((double)d, (double)TP_CENTRE, TP_BETA);
      }
      taps[j][q] = v;
      sum += v;
    }
    /* Each phase passes DC exactly. */
    for (int q = 0; q < TP_T; q++) taps[j][q] /= sum;
  }
}

int mixstage__tp_latency(void) { return (TP_CENTRE - 3) / 4; }

int mixstage__tp_init(mixstage__true_peak *tp, const mixstage__allocator *a, int nch) {
  memset(tp, 0, sizeof *tp);
  if (nch < 1 || nch > MIXSTAGE_OS_MAX_CHANNELS) return MIXSTAGE_EINVAL;
  tp->hist = mixstage__calloc(a, (size_t)nch * 2 * TP_T, sizeof(float));
  if (!tp->hist) return MIXSTAGE_ENOMEM;
  tp->nch = nch;
  design_tp(tp->taps);
  return MIXSTAGE_OK;
}

void mixstage__tp_fini(mixstage__true_peak *tp, const mixstage__allocator *a) {
  if (!tp) return;
  mixstage__free(a, tp->hist);
  tp->hist = NULL;
  tp->nch = 0;
}

void mixstage__tp_reset(mixstage__true_peak *tp) {
  if (tp->hist) memset(tp->hist, 0, sizeof(float) * (size_t)tp->nch * 2 * TP_T);
  memset(tp->pos, 0, sizeof tp->pos);
}

/* One channel through the interpolator.  merge: peak[i] = max(peak[i], v)
 * instead of peak[i] = v. */
static float tp_run(double taps[4][TP_T], float *hist, int pos0, int *pos_out, const float *in,
                    int n, float *peak, int merge) {
  int pos = pos0;
  float blockmax = 0.0f;
  for (int i = 0; i < n; i++) {
    pos = (pos == 0 ? TP_T : pos) - 1;
    hist[pos] = hist[pos + TP_T] = in[i];
    const float *w = hist + pos;
    double m = 0.0;
    for (int j = 0; j < 4; j++) {
      double acc = 0.0;
      for (int q = 0; q < TP_T; q++) acc += taps[j][q] * (double)w[q];
      acc = fabs(acc);
      if (acc > m) m = acc;
    }
    float v = (float)m;
    if (peak) peak[i] = merge && peak[i] > v ? peak[i] : v;
    if (v > blockmax) blockmax = v;
  }
  *pos_out = pos;
  return blockmax;
}

float mixstage__tp_process_channel(mixstage__true_peak *tp, int c, const float *in, int nframes,
                                   float *peak) {
  return tp_run(tp->taps, tp->hist + (size_t)c * 2 * TP_T, tp->pos[c], &tp->pos[c], in, nframes,
                peak, 0);
}

float mixstage__tp_process(mixstage__true_peak *tp, const float *const *in, int nframes,
                           float *peak) {
  float m = 0.0f;
  for (int c = 0; c < tp->nch; c++) {
    float v = tp_run(tp->taps, tp->hist + (size_t)c * 2 * TP_T, tp->pos[c], &tp->pos[c], in[c],
                     nframes, peak, c > 0);
    if (v > m) m = v;
  }
  return m;
}

float mixstage__tp_block(const float *x, int64_t nframes) {
  double taps[4][TP_T];
  float hist[2 * TP_T];
  float zeros[TP_T];
  float m = 0.0f;
  int pos = 0;
  design_tp(taps);
  memset(hist, 0, sizeof hist);
  memset(zeros, 0, sizeof zeros);
  for (int64_t i = 0; i < nframes; i += 1024) {
    int n = nframes - i < 1024 ? (int)(nframes - i) : 1024;
    float v = tp_run(taps, hist, pos, &pos, x + i, n, NULL, 0);
    if (v > m) m = v;
  }
  /* Flush: the interpolated signal rings on for up to TP_T frames. */
  float v = tp_run(taps, hist, pos, &pos, zeros, TP_T, NULL, 0);
  return v > m ? v : m;
}
