/* libmixstage internal: dynamics building blocks shared by the compressor,
 * gate, bus compressor and multiband compressor.
 *
 * Signal flow of a feed-forward log-domain dynamics processor (Giannoulis,
 * Massberg & Reiss, "Digital Dynamic Range Compressor Design -- A Tutorial and
 * Analysis", JAES 60(6), 2012, fig. 7b):
 *
 *   key/input --> level detector (peak or RMS, per channel, linked)
 *             --> dB --> static gain computer (threshold, ratio, knee)
 *             --> gain-reduction ballistics in dB (attack/release branching)
 *             --> linear gain applied to the input.
 *
 * Gain reduction (GR) is always a non-negative number of dB: 0 = unity.
 * Every per-sample function here is inline, allocation-free and keeps its
 * state in the struct passed in, so a caller that runs them sample by sample
 * is bit-identical however its blocks are split.  The *_set functions compute
 * coefficients only; they are render-time safe (call them from update()).
 * The *_reset functions clear signal memory but keep coefficients.
 */
#ifndef MIXSTAGE_DSP_DYNAMICS_H
#define MIXSTAGE_DSP_DYNAMICS_H

#include <math.h>
#include <stdint.h>
#include <string.h>
#include "mixstage/graph.h" /* MIXSTAGE_MAX_CHANNELS */
#include "biquad.h"
#ifdef __SSE2__
#include <emmintrin.h>
#endif

/* ---------------------------------------------------------------------- */
/* Inline log2 / exp2 for the per-sample dB conversions.                    */
/*                                                                          */
/* libm's log() and exp() are correctly rounded to ~0.5 ulp, which a gain   */
/* computer does not need, and are out-of-line calls the compiler cannot    */
/* schedule around.  These are plain series with stated truncation bounds   */
/* (checked against libm by tests/check_kernels.c over their whole domain): */
/*   log2: |error| < 4e-11 (1.2e-10 dB on a power, 2.4e-10 dB on a gain)   */
/*   exp2: relative error < 2e-11 (< 2e-10 dB)                              */
/* Both are far below float resolution of the gains they feed (6e-8), so    */
/* the static curves are unchanged at any tolerance a test can state.       */
/* They are deterministic, so sample-sequential callers stay bit-identical  */
/* however their blocks are split.                                          */
/* ---------------------------------------------------------------------- */

/* The two series' coefficients, one definition for every chain below and
 * in dynamics.c (scalar, two-lane SSE2, four-lane AVX2): each evaluates
 * p = TOP, then p = p * s + c for each c of REST in order (Horner), so
 * the chains agree bit for bit.
 * log2: (2/ln2) / (2j + 1) for j = 5 .. 0, in s^2.
 * exp2: 1/j! for j = 9 .. 0, in t = g ln 2. */
#define MIXSTAGE__LOG2_TOP 0.26230818925253880 /* (2/ln2)/11 */
#define MIXSTAGE__LOG2_REST(STEP)                                                                  \
  STEP(0.32059889797532520)    /* /9 */                                                          \
  STEP(0.41219858311113240)    /* /7 */                                                          \
  STEP(0.57707801635558530)    /* /5 */                                                          \
  STEP(0.96179669392597560)    /* /3 */                                                          \
  STEP(2.88539008177792680)    /* 2/ln2 */
#define MIXSTAGE__EXP2_TOP 2.7557319223985893e-06 /* 1/9! */
#define MIXSTAGE__EXP2_REST(STEP)                                                                  \
  STEP(2.4801587301587302e-05) /* 1/8! */                                                        \
  STEP(1.9841269841269841e-04)                                                                   \
  STEP(1.3888888888888889e-03)                                                                   \
  STEP(8.3333333333333333e-03)                                                                   \
  STEP(4.1666666666666667e-02)                                                                   \
  STEP(1.6666666666666667e-01)                                                                   \
  STEP(0.5)                                                                                      \
  STEP(1.0)                                                                                      \
  STEP(1.0)

/* log2(x) for finite normal x > 0 (callers floor their input at 1e-60).
 * x = 2^e m with m in [sqrt(1/2), sqrt(2)); log2 m = (2/ln 2) atanh(s),
 * s = (m - 1)/(m + 1), |s| <= 0.1716; the atanh series is cut after s^11:
 * the first omitted term, (2/ln 2) s^13/13, is below 2.5e-11. */
static inline double mixstage__log2_fast(double x) {
  uint64_t u;
  memcpy(&u, &x, sizeof u);
  int e = (int)((u >> 52) & 0x7ff) - 1023;
  u = (u & 0x000fffffffffffffULL) | 0x3ff0000000000000ULL;
  double m;
  memcpy(&m, &u, sizeof m);
  if (m > 1.4142135623730951) {
    m *= 0.5;
    e++;
  }
  double s = (m - 1.0) / (m + 1.0), s2 = s * s;
  double p = MIXSTAGE__LOG2_TOP;
#define MIXSTAGE__STEP(c) p = p * s2 + (c);
  MIXSTAGE__LOG2_REST(MIXSTAGE__STEP)
#undef MIXSTAGE__STEP
  return (double)e + s * p;
}

/* 2^x for x <= 0 (a gain from a reduction), 0 below -1022.  x = k + f with
 * k = trunc(x), f in (-1, 0]; 2^f = sqrt(1/2) 2^g with g = f + 1/2 in
 * (-1/2, 1/2], and 2^g = e^(g ln 2) by its Taylor series to degree 9: the
 * remainder is below (ln2/2)^10/10! = 7e-12 relative. */
static inline double mixstage__exp2_fast(double x) {
  if (!(x > -1022.0)) return 0.0; /* also NaN: no gain rather than garbage */
  if (x > 0.0) x = 0.0;
  int k = (int)x;
  double t = (x - (double)k + 0.5) * 0.69314718055994531; /* g ln 2, |t| <= 0.347 */
  double p = MIXSTAGE__EXP2_TOP;
#define MIXSTAGE__STEP(c) p = p * t + (c);
  MIXSTAGE__EXP2_REST(MIXSTAGE__STEP)
#undef MIXSTAGE__STEP
  uint64_t u = (uint64_t)(k + 1023) << 52;
  double scale;
  memcpy(&scale, &u, sizeof scale);
  return p * 0.70710678118654752440 * scale;
}

/* Linear gain of a reduction of gr dB (gr >= 0): 10^(-gr/20), exactly 1.0
 * for gr == 0 so an idle compressor multiplies by its makeup alone. */
static inline double mixstage__dyn_gr_to_gain(double gr) {
  return gr == 0.0 ? 1.0 : mixstage__exp2_fast(gr * -0.16609640474436813); /* log2(10)/20 */
}

/* Amplitude to dB (20 log10), -600 dB floor, like mixstage__gain_to_db. */
static inline double mixstage__dyn_amp_to_db(double a) {
  return a > 1e-30 ? 6.0205999132796240 * mixstage__log2_fast(a) : -600.0;
}

/* ---------------------------------------------------------------------- */
/* Two-lane versions of the conversions above, for callers that convert a   */
/* whole control cell at once.  Each lane runs the same IEEE operations in  */
/* the same order as the scalar function (SSE2 mulpd/addpd/divpd round each */
/* lane exactly as mulsd/addsd/divsd do; no FMA), so the results are the    */
/* scalar results bit for bit and the stated error bounds carry over.  The  */
/* scalar loop is the fallback elsewhere.                                   */
/* ---------------------------------------------------------------------- */

#ifdef __SSE2__
/* mixstage__log2_fast on both lanes; lanes that are not finite normal
 * positive numbers give garbage (no trap): the caller masks them. */
static inline __m128d mixstage__log2_fast_v2(__m128d x) {
  const __m128i mant_mask = _mm_set1_epi64x(0x000fffffffffffffLL);
  const __m128i one_bits = _mm_set1_epi64x(0x3ff0000000000000LL);
  const __m128i two52_bits = _mm_set1_epi64x(0x4330000000000000LL);
  const __m128d two52 = _mm_set1_pd(4503599627370496.0);
  __m128i u = _mm_castpd_si128(x);
  /* biased exponent E in [0, 2047] as a double: bits of 2^52 + E minus 2^52 */
  __m128i ebits = _mm_and_si128(_mm_srli_epi64(u, 52), _mm_set1_epi64x(0x7ff));
  __m128d e = _mm_sub_pd(_mm_sub_pd(_mm_castsi128_pd(_mm_or_si128(ebits, two52_bits)), two52),
                         _mm_set1_pd(1023.0));
  __m128d m = _mm_castsi128_pd(_mm_or_si128(_mm_and_si128(u, mant_mask), one_bits));
  __m128d big = _mm_cmpgt_pd(m, _mm_set1_pd(1.4142135623730951));
  m = _mm_or_pd(_mm_and_pd(big, _mm_mul_pd(m, _mm_set1_pd(0.5))), _mm_andnot_pd(big, m));
  e = _mm_add_pd(e, _mm_and_pd(big, _mm_set1_pd(1.0))); /* (double)(e + 1), exact */
  __m128d one = _mm_set1_pd(1.0);
  __m128d s = _mm_div_pd(_mm_sub_pd(m, one), _mm_add_pd(m, one));
  __m128d s2 = _mm_mul_pd(s, s);
  __m128d p = _mm_set1_pd(MIXSTAGE__LOG2_TOP);
#define MIXSTAGE__STEP(c) p = _mm_add_pd(_mm_mul_pd(p, s2), _mm_set1_pd(c));
  MIXSTAGE__LOG2_REST(MIXSTAGE__STEP)
#undef MIXSTAGE__STEP
  return _mm_add_pd(e, _mm_mul_pd(s, p));
}

/* mixstage__exp2_fast on both lanes (0 for x <= -1022 and NaN). */
static inline __m128d mixstage__exp2_fast_v2(__m128d x) {
  __m128d ok = _mm_cmpgt_pd(x, _mm_set1_pd(-1022.0)); /* false for NaN */
  x = _mm_min_pd(x, _mm_setzero_pd());
  x = _mm_max_pd(x, _mm_set1_pd(-1022.0)); /* only masked lanes move: k stays in range */
  __m128i k = _mm_cvttpd_epi32(x); /* trunc, as (int)x; k in [-1022, 0] */
  __m128d t = _mm_mul_pd(_mm_add_pd(_mm_sub_pd(x, _mm_cvtepi32_pd(k)), _mm_set1_pd(0.5)),
                         _mm_set1_pd(0.69314718055994531));
  __m128d p = _mm_set1_pd(MIXSTAGE__EXP2_TOP);
#define MIXSTAGE__STEP(c) p = _mm_add_pd(_mm_mul_pd(p, t), _mm_set1_pd(c));
  MIXSTAGE__EXP2_REST(MIXSTAGE__STEP)
#undef MIXSTAGE__STEP
  /* 2^k: (k + 1023) << 52, k + 1023 in [1, 1023] zero-extended to 64 bits */
  __m128i kb = _mm_add_epi32(k, _mm_set1_epi32(1023));
  __m128d scale = _mm_castsi128_pd(_mm_slli_epi64(_mm_unpacklo_epi32(kb, _mm_setzero_si128()), 52));
  __m128d r = _mm_mul_pd(_mm_mul_pd(p, _mm_set1_pd(0.70710678118654752440)), scale);
  return _mm_and_pd(ok, r);
}
#endif

/* g[i] = mixstage__dyn_gr_to_gain(gr[i]) for i < n, bit for bit. */
static inline void mixstage__dyn_gr_to_gain_n(const double *gr, double *g, int n) {
  int i = 0;
#ifdef __SSE2__
  const __m128d zero = _mm_setzero_pd(), one = _mm_set1_pd(1.0);
  for (; i + 2 <= n; i += 2) {
    __m128d x = _mm_loadu_pd(gr + i);
    __m128d e = mixstage__exp2_fast_v2(_mm_mul_pd(x, _mm_set1_pd(-0.16609640474436813)));
    __m128d idle = _mm_cmpeq_pd(x, zero);
    _mm_storeu_pd(g + i, _mm_or_pd(_mm_and_pd(idle, one), _mm_andnot_pd(idle, e)));
  }
#endif
  for (; i < n; i++) g[i] = mixstage__dyn_gr_to_gain(gr[i]);
}

/* x[i] *= g[i] for i < n.  Each lane is the same IEEE float product as the
 * scalar loop, so out == g * in bit for bit (gain_trace) at any width. */
static inline void mixstage__dyn_apply_gain(float *x, const float *g, int n) {
  int i = 0;
#ifdef __SSE2__
  for (; i + 4 <= n; i += 4)
    _mm_storeu_ps(x + i, _mm_mul_ps(_mm_loadu_ps(x + i), _mm_loadu_ps(g + i)));
#endif
  for (; i < n; i++) x[i] *= g[i];
}

/* ---------------------------------------------------------------------- */
/* Static gain computers (Giannoulis et al. 2012, eq. 4 and its mirror for  */
/* downward expansion).  Inputs and outputs in dB; knee is the full width   */
/* W of the quadratic transition centred on the threshold.                  */
/* ---------------------------------------------------------------------- */

/* Compressor: GR >= 0 for input level x_db.  ratio >= 1 (1 = no effect).
 *   2(x-T) <  -W : GR = 0
 *   |2(x-T)| <= W : GR = (1 - 1/R) (x - T + W/2)^2 / (2W)
 *   2(x-T) >   W : GR = (1 - 1/R) (x - T)                                  */
static inline double mixstage__dyn_compress_gr(double x_db, double thr_db, double ratio,
                                               double knee_db) {
  double over = x_db - thr_db;
  double slope = 1.0 - 1.0 / ratio;
  if (2.0 * over <= -knee_db) return 0.0;
  if (2.0 * over < knee_db) {
    double t = over + 0.5 * knee_db;
    return slope * t * t / (2.0 * knee_db);
  }
  return slope * over;
}

/* As above with slope = 1 - 1/ratio precomputed by the caller
 * (once per update rather than a division per frame); same results. */
static inline double mixstage__dyn_compress_gr_slope(double x_db, double thr_db, double slope,
                                                     double knee_db) {
  double over = x_db - thr_db;
  if (2.0 * over <= -knee_db) return 0.0;
  if (2.0 * over < knee_db) {
    double t = over + 0.5 * knee_db;
    return slope * t * t / (2.0 * knee_db);
  }
  return slope * over;
}

/* Downward expander / gate: below the threshold the output falls ratio dB per
 * dB of input (ratio >= 1; 100 behaves as a gate), limited to range_db (>= 0,
 * the attenuation when fully closed).  Same quadratic knee as above.
 *   2(x-T) >   W : GR = 0
 *   |2(x-T)| <= W : GR = (R - 1) (x - T - W/2)^2 / (2W)
 *   2(x-T) <  -W : GR = (R - 1) (T - x)                                     */
static inline double mixstage__dyn_expand_gr(double x_db, double thr_db, double ratio,
                                             double knee_db, double range_db) {
  double under = thr_db - x_db;
  double slope = ratio - 1.0;
  double gr;
  if (2.0 * under <= -knee_db) return 0.0;
  if (2.0 * under < knee_db) {
    double t = under + 0.5 * knee_db;
    gr = slope * t * t / (2.0 * knee_db);
  } else {
    gr = slope * under;
  }
  return gr < range_db ? gr : range_db;
}

/* ---------------------------------------------------------------------- */
/* Level detectors, one instance per detected channel.                      */
/* ---------------------------------------------------------------------- */

/* Peak: the maximum of |x| over a short sliding window (hold_ms), so a steady
 * tone reads its crest value without ripple while the attack stays instant.
 * The window is split into MIXSTAGE__PEAK_SEGS segments whose maxima are kept
 * (a block-wise sliding maximum): the held value covers between
 * (SEGS-1)*seg_len+1 and SEGS*seg_len samples, cost O(1) per sample plus
 * O(SEGS) once per segment.  A tone whose half period is shorter than the
 * window reads ripple-free; the window also delays the start of a release by
 * at most hold_ms, which is why it is kept short (see MIXSTAGE__PEAK_HOLD_MS). */
#define MIXSTAGE__PEAK_SEGS 8
#define MIXSTAGE__PEAK_HOLD_MS 5.0 /* covers the half period of 100 Hz */

typedef struct mixstage__peak_det {
  float seg[MIXSTAGE__PEAK_SEGS - 1]; /* maxima of the completed segments */
  float seg_max;                      /* max of seg[] */
  float cur;                          /* max of the segment being filled */
  int pos, idx, seg_len;
} mixstage__peak_det;

void mixstage__peak_det_set(mixstage__peak_det *d, double hold_ms, double fs);
void mixstage__peak_det_reset(mixstage__peak_det *d);

/* Feeds |x| (ax >= 0) and returns the held peak amplitude (linear). */
static inline float mixstage__peak_det_run(mixstage__peak_det *d, float ax) {
  if (ax > d->cur) d->cur = ax;
  float out = d->cur > d->seg_max ? d->cur : d->seg_max;
  if (++d->pos >= d->seg_len) {
    d->seg[d->idx] = d->cur;
    if (++d->idx >= MIXSTAGE__PEAK_SEGS - 1) d->idx = 0;
    float m = 0.0f;
    for (int i = 0; i < MIXSTAGE__PEAK_SEGS - 1; i++)
      if (d->seg[i] > m) m = d->seg[i];
    d->seg_max = m;
    d->cur = 0.0f;
    d->pos = 0;
  }
  return out;
}

/* RMS: one-pole mean square, ms += (1 - a)(x^2 - ms) with a = e^(-1/(tau fs))
 * and tau = the window.  A sine of peak A reads A^2/2, i.e. 3.01 dB below its
 * peak level; the caller takes 10 log10(ms) as the level in dB. */
typedef struct mixstage__rms_det {
  double ms; /* mean square */
  double b;  /* 1 - a */
} mixstage__rms_det;

void mixstage__rms_det_set(mixstage__rms_det *d, double window_ms, double fs);
void mixstage__rms_det_reset(mixstage__rms_det *d);

static inline double mixstage__rms_det_run(mixstage__rms_det *d, double x) {
  double ms = d->ms + d->b * (x * x - d->ms);
  d->ms = ms < 1e-30 ? 0.0 : ms; /* keep the decay in silence out of denormals */
  return d->ms;
}

/* Two channels' detectors over frames 0 .. n-1 of x0 and x1, side by side:
 * lvl[k] is the larger mean square of frame k (a NaN channel passed over,
 * 0 floor), the linked level mixstage__dyn_detector_run gives for two
 * channels, bit for bit. */
void mixstage__rms_det_run_pair(mixstage__rms_det *r0, mixstage__rms_det *r1, const float *x0, const float *x1,
                                int n, double *lvl);

/* Mean square to dB (10 log10), with the same -600 dB floor as
 * mixstage__gain_to_db. */
static inline double mixstage__dyn_power_to_db(double ms) {
  return ms > 1e-60 ? 3.0102999566398120 * mixstage__log2_fast(ms) : -600.0;
}

/* The power below which mixstage__dyn_compress_gr() returns exactly 0
 * (level <= T - W/2), lowered by 1e-6 relative (4e-6 dB) so the fast dB
 * conversion's error cannot move a level across it: a caller may skip the
 * conversion and the gain computer below this power with bit-identical
 * results.  Edit/update time (one exp). */
static inline double mixstage__dyn_compress_floor_power(double thr_db, double knee_db) {
  return exp((thr_db - 0.5 * knee_db) * 0.23025850929940457) * (1.0 - 1e-6);
}

/* GR target of the compressor curve for each level (power) lvl[i], i < n:
 * mixstage__dyn_compress_gr_slope(mixstage__dyn_power_to_db(lvl[i]), ...)
 * when lvl[i] >= p_floor (see mixstage__dyn_compress_floor_power), exactly
 * 0 below it and for NaN, bit for bit as the scalar expressions. */
static inline void mixstage__dyn_compress_target_n(const double *lvl, double *gr, int n,
                                                   double p_floor, double thr_db, double slope,
                                                   double knee_db) {
  int i = 0;
#ifdef __SSE2__
  const __m128d pf = _mm_set1_pd(p_floor), thr = _mm_set1_pd(thr_db);
  const __m128d sl = _mm_set1_pd(slope), kn = _mm_set1_pd(knee_db);
  const __m128d nkn = _mm_set1_pd(-knee_db), hkn = _mm_set1_pd(0.5 * knee_db);
  const __m128d kn2 = _mm_set1_pd(2.0 * knee_db), two = _mm_set1_pd(2.0);
  for (; i + 2 <= n; i += 2) {
    __m128d l = _mm_loadu_pd(lvl + i);
    __m128d on = _mm_cmpge_pd(l, pf); /* false for NaN */
    __m128d db = _mm_mul_pd(_mm_set1_pd(3.0102999566398120), mixstage__log2_fast_v2(l));
    __m128d audible = _mm_cmpgt_pd(l, _mm_set1_pd(1e-60)); /* the -600 dB floor */
    db = _mm_or_pd(_mm_and_pd(audible, db), _mm_andnot_pd(audible, _mm_set1_pd(-600.0)));
    __m128d over = _mm_sub_pd(db, thr);
    __m128d over2 = _mm_mul_pd(two, over);
    __m128d t = _mm_add_pd(over, hkn);
    __m128d in_knee = _mm_div_pd(_mm_mul_pd(_mm_mul_pd(sl, t), t), kn2);
    __m128d above = _mm_mul_pd(sl, over);
    __m128d knee_sel = _mm_cmplt_pd(over2, kn);
    __m128d r = _mm_or_pd(_mm_and_pd(knee_sel, in_knee), _mm_andnot_pd(knee_sel, above));
    on = _mm_and_pd(on, _mm_cmpgt_pd(over2, nkn)); /* 2 over <= -W: 0 */
    _mm_storeu_pd(gr + i, _mm_and_pd(on, r));
  }
#endif
  for (; i < n; i++)
    gr[i] = lvl[i] >= p_floor
                ? mixstage__dyn_compress_gr_slope(mixstage__dyn_power_to_db(lvl[i]), thr_db, slope,
                                                  knee_db)
                : 0.0;
}

/* ---------------------------------------------------------------------- */
/* Gain-reduction ballistics in dB (Giannoulis et al. 2012, eq. 12,         */
/* "smooth branching" applied in the log domain after the gain computer).   */
/* ---------------------------------------------------------------------- */

/* One-pole branching: a step of the target towards more GR is followed with
 * a_up, a step towards less with a_down, y += (1 - a)(target - y) where
 * a = e^(-1/(tau fs)): tau is the time to 63 % of a step.  For a compressor
 * a_up is the attack and a_down the release; for a gate (GR rises as it
 * closes) a_up is the release and a_down the attack. */
typedef struct mixstage__dyn_smoother {
  double y;
  double b_up, b_down; /* 1 - a */
} mixstage__dyn_smoother;

void mixstage__dyn_smoother_set(mixstage__dyn_smoother *s, double up_ms, double down_ms,
                                double fs);
static inline double mixstage__dyn_smooth(mixstage__dyn_smoother *s, double target) {
  double d = target - s->y;
  double y = s->y + (d > 0.0 ? s->b_up : s->b_down) * d;
  s->y = y < 1e-12 ? 0.0 : y; /* GR is >= 0; flush the tail of a release */
  return s->y;
}

/* Compressor ballistics with an optional program-dependent release.
 *
 * Fixed release (auto off): one branching smoother, attack/release as set.
 *
 * Auto release (dual time constant, in the spirit of the two-capacitor
 * program-dependent release of analogue units): a second, slow smoother s
 * charges only under sustained overload (attack tau = max(250 ms, 4 x
 * attack)) and releases with 8 x the release time (at most 10 s); the
 * output is max(fast, slow).  A short transient barely charges s, so the GR
 * recovers with the set release; after a long overload s holds the GR up and
 * the recovery is slow, which avoids pumping on dense material while keeping
 * transients from punching holes.  In steady state both equal the target, so
 * the static curve is unchanged, and attack is the set attack because s is
 * never faster than the fast smoother. */
typedef struct mixstage__comp_ballistics {
  mixstage__dyn_smoother fast, slow;
  int auto_release;
} mixstage__comp_ballistics;

void mixstage__comp_ballistics_set(mixstage__comp_ballistics *b, double attack_ms,
                                   double release_ms, int auto_release, double fs);
void mixstage__comp_ballistics_reset(mixstage__comp_ballistics *b);
/* Gives b the coefficients and mode of ref (set with _set) without the
 * transcendental calls: for per-channel instances sharing one setting. */
void mixstage__comp_ballistics_set_like(mixstage__comp_ballistics *b,
                                        const mixstage__comp_ballistics *ref);

/* Feeds the static GR target (dB >= 0); returns the smoothed GR in dB. */
static inline double mixstage__comp_ballistics_run(mixstage__comp_ballistics *b, double target) {
  double f = mixstage__dyn_smooth(&b->fast, target);
  if (!b->auto_release) return f;
  double s = mixstage__dyn_smooth(&b->slow, target);
  return f > s ? f : s;
}

/* ---------------------------------------------------------------------- */
/* The channel compressor's float kernel (lib/nodes/compressor.c).          */
/*                                                                          */
/* A linked compressor in stages, each a loop over a control cell:          */
/*   level (a float power per frame, mixstage__dyn_detector_run_linked_f)   */
/*   -> static GR target (float log2 and the soft-knee curve, elementwise)  */
/*   -> ballistics (a recursion; double state, several compressors side by  */
/*      side in one vector)                                                 */
/*   -> gain dry + wet 10^(-GR/20) (float exp2, elementwise).               */
/* The elementwise stages are written once with 8-float compiler vectors    */
/* and built twice, for AVX2 (chosen at run time, never -march) and for the */
/* baseline (SSE2 on x86-64, generic lowering elsewhere), with a plain      */
/* scalar form for other compilers; none fuses a multiply and an add (FMA   */
/* would save ~2 of ~40 operations per vector and make the bits depend on   */
/* the machine), so all give the same bits wherever a frame sits in a      */
/* vector.  The ballistics do mixstage__dyn_smooth's IEEE double operations */
/* per lane (four lanes per AVX2 vector).  So a cell gives the same bits    */
/* through one compressor or through a lane group of eight, on any CPU.     */
/*                                                                          */
/* Accuracy against libm in double (tests/check_kernels.c):                */
/*   level in dB (float log2, atanh series to s^7: truncation < 4.2e-8 in   */
/*   log2): |error| < 1e-5 dB from -80 to +40 dB, < 4e-5 dB over +-300 dB   */
/*   (float rounding of the exponent sum and of the dB scale dominate);     */
/*   gain (float exp2, Taylor series to degree 7 on [-1/2, 1/2], remainder  */
/*   5e-9): relative error < 1e-6 to 100 dB of GR, < 4e-6 to 400 dB (the   */
/*   rounding of the exponent -GR log2(10)/20 dominates).                   */
/* The static curve has slope <= 1, so its GR error is within the level's   */
/* plus float rounding of the GR (a few 1e-6 dB): three orders below the    */
/* 0.05 dB the static-curve tests demand.                                   */
/*                                                                          */
/* The ballistics state stays double: with the 5 s release at 48 kHz,       */
/* b = 1 - a = 4.2e-6, and a float state y += b (t - y) stops moving once    */
/* b |t - y| is below half an ulp of y: 0.23 dB short of the target at 20   */
/* dB of GR (tests/check_kernels.c shows the stall).                        */
/* ---------------------------------------------------------------------- */

/* Buffers handed to the elementwise stages hold n frames rounded up to a
 * whole vector: the stages compute the padding too (results unused). */
#define MIXSTAGE__COMP_VEC 8
#define MIXSTAGE__COMP_PAD(n) (((n) + MIXSTAGE__COMP_VEC - 1) / MIXSTAGE__COMP_VEC * MIXSTAGE__COMP_VEC)
/* Compressors per ballistics call (a lane group). */
#define MIXSTAGE__COMP_LANES 8

/* The static curve in float (mixstage__dyn_compress_gr's formula). */
typedef struct mixstage__comp_curve_f {
  float thr, slope, knee, neg_knee, half_knee, inv_2knee; /* dB; 1 - 1/R; W, -W, W/2, 1/(2W) or 0 */
  float p_zero; /* a power below which the float curve is exactly 0 (the stage then skips it) */
} mixstage__comp_curve_f;

void mixstage__comp_curve_f_set(mixstage__comp_curve_f *c, double thr_db, double ratio, double knee_db);
/* tg[i] = GR target (dB >= 0) of the power pw[i], i < MIXSTAGE__COMP_PAD(n)
 * (both arrays that long); powers >= 0 or +inf, never NaN (as the detector
 * gives them).  Returns 0 when every target is 0 (the cell stayed below
 * p_zero: the curve was skipped), else 1. */
int mixstage__comp_target_f(const mixstage__comp_curve_f *c, const float *pw, float *tg, int n);
/* Test hook: runs the kernel's stages in form 0 (plain scalar), 1 (baseline
 * vectors) or 2 (AVX2) where available, -1 the best one
 * (the default); returns the form that was in use.  Not for render time. */
int mixstage__comp_kernel_form(int form);
/* The float level in dB (10 log10 p; -600 for p <= 0) the curve uses;
 * for the accuracy tests. */
float mixstage__comp_power_db_f(float p);
/* row[i] = dry + wet * 10^(-gr[i]/20), the power of ten exactly 1 at
 * gr[i] == 0, i < MIXSTAGE__COMP_PAD(n).  0 <= gr < 1000 dB. */
void mixstage__comp_gain_f(const float *gr, float *row, int n, float dry, float wet);
/* Ballistics of count (1 .. MIXSTAGE__COMP_LANES) compressors over n >= 1
 * frames: compressor l is fed tg[l][i] and writes
 * gr[l][i] = (float)mixstage__comp_ballistics_run(b[l], tg[l][i]), bit for
 * bit; rows are MIXSTAGE__COMP_PAD(n) long.  Bit l of targets: tg[l] may
 * hold a nonzero target (mixstage__comp_target_f's result).  Returns a bit
 * per compressor whose GR may be nonzero; rows of the others are left
 * unwritten (their GR is 0 throughout, their state unchanged). */
unsigned mixstage__comp_ballistics_lanes(mixstage__comp_ballistics *const *b, int count, const float *const *tg,
                                         float *const *gr, int n, unsigned targets);

/* ---------------------------------------------------------------------- */
/* Gate state: hysteresis and hold.                                         */
/* ---------------------------------------------------------------------- */

/* The gate opens when the level reaches open_db and starts to close only
 * after the level has stayed below close_db (= open_db - hysteresis) for
 * hold samples; while it is open or held the caller applies no expansion.
 * Hysteresis stops a level hovering at the threshold from chattering. */
typedef struct mixstage__gate_hold {
  int open;
  int count; /* samples of hold left */
  int hold;  /* hold length in samples */
} mixstage__gate_hold;

void mixstage__gate_hold_set(mixstage__gate_hold *g, double hold_ms, double fs);
void mixstage__gate_hold_reset(mixstage__gate_hold *g);

/* Returns 1 while the gate is open (including hold), 0 when closed. */
static inline int mixstage__gate_hold_run(mixstage__gate_hold *g, double level_db, double open_db,
                                          double close_db) {
  if (level_db >= open_db || (g->open && level_db >= close_db)) {
    g->open = 1;
    g->count = g->hold;
  } else if (g->open) {
    if (g->count > 0) g->count--;
    else g->open = 0;
  }
  return g->open;
}

/* ---------------------------------------------------------------------- */
/* Complete sidechain detector: optional key high-pass, then peak or RMS    */
/* per channel.  Up to MIXSTAGE_MAX_CHANNELS source channels (the input's   */
/* or the key's), no allocation.                                           */
/* ---------------------------------------------------------------------- */

enum { MIXSTAGE__DET_PEAK = 0, MIXSTAGE__DET_RMS = 1 };

/* Only the selected detector runs.  Switching the mode mid-stream seeds the
 * newly selected one from the level the other one reads, so the gain does
 * not jump to "silence" and attack again:
 *   peak -> RMS: the mean square starts at the held peak squared, a sine's
 *     crest (3 dB above its mean square), and settles within one window:
 *     errs towards more reduction, never an overshoot;
 *   RMS -> peak: every segment of the hold window starts at sqrt(mean
 *     square), which rolls out within the hold time (MIXSTAGE__PEAK_HOLD_MS).
 * (Running both all the time would continue from a settled level, at the
 * cost of a second detector on every sample of every channel.)
 *
 * Peak state has two layouts.  Linked (all channels share one gain), one
 * detector peak[0] is fed max_c |x_c|: a sliding maximum of the maxima
 * equals the maximum of the per-channel sliding maxima, bit for bit.
 * Per channel (partial link), peak[c] per channel.  Going from per-channel
 * to linked merges exactly (segment-wise max; the counters run in
 * lockstep); going back copies the linked state to every channel, which can
 * only over-read a quiet channel for at most the hold time.  RMS state is
 * per channel in both layouts (a one-pole of the max is not the max of the
 * one-poles). */
typedef struct mixstage__dyn_detector {
  mixstage__biquad hpf; /* RBJ 2nd-order high-pass, Q = 1/sqrt(2) */
  int hpf_on;
  int mode;   /* MIXSTAGE__DET_PEAK or MIXSTAGE__DET_RMS */
  int linked; /* peak state in the linked layout (peak[0] only) */
  mixstage__biquad_state hs[MIXSTAGE_MAX_CHANNELS];
  mixstage__peak_det peak[MIXSTAGE_MAX_CHANNELS];
  mixstage__rms_det rms[MIXSTAGE_MAX_CHANNELS];
} mixstage__dyn_detector;

/* mode: MIXSTAGE__DET_PEAK / _RMS; rms_window_ms: the RMS time constant;
 * hpf_hz <= 0 switches the key high-pass off.  Render-time safe. */
void mixstage__dyn_detector_set(mixstage__dyn_detector *d, int mode, double rms_window_ms,
                                double hpf_hz, double fs);
void mixstage__dyn_detector_reset(mixstage__dyn_detector *d);
/* Layout changes (see above); bounded work, render-time safe. */
void mixstage__dyn_detector_to_linked(mixstage__dyn_detector *d, int nch);
void mixstage__dyn_detector_to_per_channel(mixstage__dyn_detector *d);

/* Runs frame i of src[0 .. nch-1] (nch <= MIXSTAGE_MAX_CHANNELS) through the
 * per-channel detectors.  Writes each channel's level as a power (squared
 * peak amplitude, or mean square) to pw[c] when pw is not NULL, and returns
 * the maximum over the channels.  Convert with mixstage__dyn_power_to_db(). */
static inline double mixstage__dyn_detector_run(mixstage__dyn_detector *d,
                                                const float *const *src, int nch, int i,
                                                double *pw) {
  if (d->linked) mixstage__dyn_detector_to_per_channel(d);
  double m = 0.0;
  for (int c = 0; c < nch; c++) {
    double x = (double)src[c][i];
    if (d->hpf_on) x = mixstage__biquad_tick(&d->hpf, &d->hs[c], x);
    double p;
    if (d->mode == MIXSTAGE__DET_RMS) {
      p = mixstage__rms_det_run(&d->rms[c], x);
    } else {
      double a = (double)mixstage__peak_det_run(&d->peak[c], (float)fabs(x));
      p = a * a;
    }
    if (pw) pw[c] = p;
    if (p > m) m = p;
  }
  return m;
}

/* Linked level of frames i0 .. i0+n-1 of src[0 .. nch-1] (nch <=
 * MIXSTAGE_MAX_CHANNELS; nch == 0 reads silence): lvl[k] is the maximum
 * over the channels of the power, as mixstage__dyn_detector_run returns it
 * (same bits).  Linking by the maximum keeps a source panned hard to one
 * side compressed exactly as it would be on its own. */
#define MIXSTAGE__DET_BLOCK 64 /* frames per inner pass (stack buffer) */
void mixstage__dyn_detector_run_linked(mixstage__dyn_detector *d, const float *const *src, int nch,
                                       int i0, int n, double *lvl);
/* As mixstage__dyn_detector_run_linked with the level as a float power:
 * pw[k] = (float)lvl[k] (NaN, from a non-finite key through the high-pass
 * or the RMS detector, as 0), the same bits as the peak detector's float
 * (held amplitude)^2 (a product of two floats is exact in double). */
void mixstage__dyn_detector_run_linked_f(mixstage__dyn_detector *d, const float *const *src, int nch, int i0, int n,
                                         float *pw);

/* The whole linked kernel for count (1 .. MIXSTAGE__COMP_LANES) compressors
 * over n >= 1 frames (any n: the kernel works in sub-blocks of
 * MIXSTAGE__COMP_SUB frames, each stage sample-sequential, so one call of n
 * frames equals the same frames in any split), each stage as the functions
 * above do it (so the same bits), in one call: the levels (pw given, or det
 * run on src), targets, ballistics side by side, gain rows, and the gain
 * applied to the out channels.
 *
 * The AVX2 and baseline forms run the peak hold window of a linked peak
 * detector without key filter on whole vectors (segment ends inside a
 * vector by masks: max is exact, so the levels are
 * mixstage__dyn_detector_run_linked_f's bit for bit) and note which vectors
 * of levels can reach the curve, so the curve runs only on those (the
 * others give exactly its zeros); a vector whose GR is 0 throughout gets
 * dry + wet exactly, as the exp2 gives at 0. */
#define MIXSTAGE__COMP_SUB 64
typedef struct mixstage__comp_lane {
  const float *pw;              /* levels, MIXSTAGE__COMP_PAD(n) floats; NULL: det on src */
  mixstage__dyn_detector *det;  /* linked detector, fed src[0 .. nch-1] from frame 0 */
  const float *const *src;
  int nch;
  const mixstage__comp_curve_f *curve;
  mixstage__comp_ballistics *bal;
  float dry, wet;                     /* row = dry + wet g ... */
  const float *dry_ramp, *wet_ramp;   /* ... or, for frames i < ramp_n, dry_ramp[i] + wet_ramp[i] g */
  int ramp_n;                         /* 0 .. n (0: no ramp; the arrays may then be NULL) */
  float *row;                         /* out: the gain row, MIXSTAGE__COMP_PAD(n) floats; NULL: not kept */
  float *const *out;                  /* out[0 .. out_nch-1][i] *= row[i], i < n (a float product) */
  int out_nch;
  float gr_last;                      /* out: the GR of frame n-1, dB */
} mixstage__comp_lane;
void mixstage__comp_lanes_run(mixstage__comp_lane *lanes, int count, int n);

#endif
