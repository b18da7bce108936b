/* True-peak measurement by 4x polyphase interpolation (see truepeak.h). */
#include "truepeak.h"
#include "cpu.h"

#include <math.h>
#include <string.h>

#if (defined(__x86_64__) || defined(__i386__)) && defined(__SSE2__) && defined(__GNUC__) && \
    !defined(MIXSTAGE_NO_VECTOR)
#define HAVE_X86 1
#include <immintrin.h>
#else
#define HAVE_X86 0
#endif

#define L 4
#define TAPS MIXSTAGE__TP_TAPS
#define KAISER_BETA 8.0

#define PI 3.14159265358979323846

typedef mixstage__tp_v4 v4f;

/* Zeroth-order modified Bessel function, by its series (converges fast for
 * the arguments a Kaiser window needs). */
static double bessel_i0(double x) {
  double sum = 1.0, term = 1.0, q = x * x / 4.0;
  for (int k = 1; k < 50; k++) {
    term *= q / ((double)k * (double)k);
    sum += term;
    if (term < 1e-17 * sum) break;
  }
  return sum;
}

static void design(v4f *coef) {
  /* Low-pass at the input's Nyquist frequency on the 4x grid, gain L:
   * h[m] = sinc((m - c) / L) w[m], m = 0 .. L TAPS - 1, c the centre.  Phase
   * p takes h[k L + p], so output sample n + p / L of phase p is
   * sum_k h[k L + p] x[n - k] (up to the constant group delay). */
  const int n = L * TAPS;
  const double c = 0.5 * (double)(n - 1);
  const double i0b = bessel_i0(KAISER_BETA);
  float h[L * TAPS];
  for (int m = 0; m < n; m++) {
    double t = ((double)m - c) / (double)L;
    double s = t == 0.0 ? 1.0 : sin(PI * t) / (PI * t);
    double r = ((double)m - c) / c;
    double w = bessel_i0(KAISER_BETA * sqrt(fmax(0.0, 1.0 - r * r))) / i0b;
    h[m] = (float)(s * w);
  }
  /* Normalise each phase to unity DC gain, so a constant reads exactly. */
  for (int p = 0; p < L; p++) {
    double sum = 0.0;
    for (int k = 0; k < TAPS; k++) sum += h[k * L + p];
    for (int k = 0; k < TAPS; k++) coef[k][p] = (float)(h[k * L + p] / sum);
  }
}

void mixstage__truepeak_reset(mixstage__truepeak *tp) {
  memset(tp->ch, 0, sizeof tp->ch);
}

void mixstage__truepeak_init(mixstage__truepeak *tp, int channels) {
  design(tp->coef); /* edit time: 256 Bessel series */
  for (int k = 0; k < TAPS; k++)
    for (int p = 0; p < L; p++)
      tp->bcast[k][p] = (mixstage__tp_v4){tp->coef[k][p], tp->coef[k][p], tp->coef[k][p], tp->coef[k][p]};
  /* An interpolated sample of phase p is at most sum_k |coef[k][p]| times
   * the largest input magnitude in its window, and its float dot product
   * exceeds that by a relative 64 u < 4e-6 at most; the refinement raises a
   * local extremum by at most 1.25 (see block_sse2).  The margin of 1e-4
   * covers both roundings many times over. */
  double gain = 0.0;
  for (int p = 0; p < L; p++) {
    double sum = 0.0;
    for (int k = 0; k < TAPS; k++) sum += fabs((double)tp->coef[k][p]);
    if (sum > gain) gain = sum;
  }
  tp->reach = 1.25 * gain * (1.0 + 1e-4);
  tp->channels = channels < 1 ? 1 : channels > MIXSTAGE__TP_MAX_CHANNELS ? MIXSTAGE__TP_MAX_CHANNELS : channels;
  mixstage__truepeak_reset(tp);
}

/* Largest |y| of the parabola through (-1, a), (0, b), (1, c) when b is a
 * local extremum; else |b|. */
static inline double refine(double a, double b, double c) {
  double ab = fabs(b);
  if (!((b >= a && b >= c) || (b <= a && b <= c))) return ab;
  double den = a - 2.0 * b + c;
  if (den == 0.0) return ab;
  double d = a - c;
  double v = fabs(b - d * d / (8.0 * den));
  return v > ab ? v : ab;
}

/* One block of a channel.  xw: TAPS - 1 samples of history, then the m new
 * ones (padded with zeros to a whole step of the kernel).  y[p][1 + n] receives phase p
 * of frame n; y[2][0] and y[3][0] hold the two interpolated samples before
 * the block.  Returns the peak: before, raised by the block's refined |y|
 * and |x|. */
typedef double (*block_fn)(const mixstage__truepeak *tp, const float *xw, int m, float (*y)[MIXSTAGE__TP_BLOCK + 17],
                          double before);

/* The refinement of every interpolated sample t of the block, in time order
 * t = 4 n + p: the parabola through t - 2, t - 1, t centred on t - 1. */
#define TRIPLE(p, n, a, b, c)                                                   \
  do {                                                                          \
    switch (p) {                                                                \
    case 0: a = y[2][n]; b = y[3][n]; c = y[0][1 + (n)]; break;                 \
    case 1: a = y[3][n]; b = y[0][1 + (n)]; c = y[1][1 + (n)]; break;           \
    case 2: a = y[0][1 + (n)]; b = y[1][1 + (n)]; c = y[2][1 + (n)]; break;     \
    default: a = y[1][1 + (n)]; b = y[2][1 + (n)]; c = y[3][1 + (n)]; break;    \
    }                                                                           \
  } while (0)

static double block_scalar(const mixstage__truepeak *tp, const float *xw, int m, float (*y)[MIXSTAGE__TP_BLOCK + 17],
                           double before) {
  double peak = before;
  for (int n = 0; n < m; n++) {
    const float *x = xw + TAPS - 1 + n;
    for (int p = 0; p < L; p++) {
      float acc = 0.0f;
      for (int k = 0; k < TAPS; k++) acc += tp->coef[k][p] * x[-k];
      y[p][1 + n] = acc;
    }
    double a = fabs((double)x[0]);
    if (a > peak) peak = a;
  }
  for (int n = 0; n < m; n++)
    for (int p = 0; p < L; p++) {
      float a, b, c;
      TRIPLE(p, n, a, b, c);
      double r = refine(a, b, c);
      if (r > peak) peak = r;
    }
  return peak;
}

#if HAVE_X86
/* The FIR, eight frames a step (two vectors: independent sums hide the
 * adds' latency), and the refinement in double, two at a time: each lane
 * does the scalar form's operations, so both forms give the same bits.  The
 * refinement is skipped where it cannot raise the peak: for a local
 * extremum b between a and c, |d| = |a - c| <= |den|, so the vertex is at
 * most |b| + |d| / 8 <= 1.25 max(|a|, |b|, |c|). */
static double block_finish(const float (*y)[MIXSTAGE__TP_BLOCK + 17], int m, __m128 xm, __m128 ym, double before);

/* The largest |x| and |y| of one step of eight frames, kept per lane (lane
 * j: frames j and 4 + j of every step) in the order block_sse2 always kept
 * them, so that a NaN is passed by exactly as there. */
static inline void step_max(const float *x, __m128 a0, __m128 a1, __m128 a2, __m128 a3, __m128 b0, __m128 b1,
                            __m128 b2, __m128 b3, int left, __m128 *xm, __m128 *ym) {
  const __m128 absmask = _mm_castsi128_ps(_mm_set1_epi32(0x7fffffff));
  *xm = _mm_max_ps(_mm_and_ps(_mm_loadu_ps(x), absmask), *xm); /* padding is zero */
  *xm = _mm_max_ps(_mm_and_ps(_mm_loadu_ps(x + 4), absmask), *xm);
  __m128 ya = _mm_max_ps(_mm_max_ps(_mm_and_ps(a0, absmask), _mm_and_ps(a1, absmask)),
                         _mm_max_ps(_mm_and_ps(a2, absmask), _mm_and_ps(a3, absmask)));
  __m128 yb = _mm_max_ps(_mm_max_ps(_mm_and_ps(b0, absmask), _mm_and_ps(b1, absmask)),
                         _mm_max_ps(_mm_and_ps(b2, absmask), _mm_and_ps(b3, absmask)));
  if (left < 8) { /* lanes past the block hold the padding's response */
    float t[8];
    _mm_storeu_ps(t, ya);
    _mm_storeu_ps(t + 4, yb);
    for (int i = left; i < 8; i++) t[i] = 0.0f;
    ya = _mm_loadu_ps(t);
    yb = _mm_loadu_ps(t + 4);
  }
  *ym = _mm_max_ps(_mm_max_ps(ya, yb), *ym);
}

static double block_sse2(const mixstage__truepeak *tp, const float *xw, int m, float (*y)[MIXSTAGE__TP_BLOCK + 17],
                         double before) {
  __m128 xm = _mm_setzero_ps(), ym = xm;
  for (int n = 0; n < m; n += 8) {
    const float *x = xw + TAPS - 1 + n;
    __m128 a0 = _mm_setzero_ps(), a1 = a0, a2 = a0, a3 = a0, b0 = a0, b1 = a0, b2 = a0, b3 = a0;
    for (int k = 0; k < TAPS; k++) {
      __m128 v = _mm_loadu_ps(x - k), w = _mm_loadu_ps(x + 4 - k);
      __m128 c0 = (__m128)tp->bcast[k][0], c1 = (__m128)tp->bcast[k][1];
      __m128 c2 = (__m128)tp->bcast[k][2], c3 = (__m128)tp->bcast[k][3];
      a0 = _mm_add_ps(a0, _mm_mul_ps(c0, v));
      a1 = _mm_add_ps(a1, _mm_mul_ps(c1, v));
      a2 = _mm_add_ps(a2, _mm_mul_ps(c2, v));
      a3 = _mm_add_ps(a3, _mm_mul_ps(c3, v));
      b0 = _mm_add_ps(b0, _mm_mul_ps(c0, w));
      b1 = _mm_add_ps(b1, _mm_mul_ps(c1, w));
      b2 = _mm_add_ps(b2, _mm_mul_ps(c2, w));
      b3 = _mm_add_ps(b3, _mm_mul_ps(c3, w));
    }
    _mm_storeu_ps(&y[0][1 + n], a0);
    _mm_storeu_ps(&y[1][1 + n], a1);
    _mm_storeu_ps(&y[2][1 + n], a2);
    _mm_storeu_ps(&y[3][1 + n], a3);
    _mm_storeu_ps(&y[0][5 + n], b0);
    _mm_storeu_ps(&y[1][5 + n], b1);
    _mm_storeu_ps(&y[2][5 + n], b2);
    _mm_storeu_ps(&y[3][5 + n], b3);
    step_max(x, a0, a1, a2, a3, b0, b1, b2, b3, m - n, &xm, &ym);
  }
  return block_finish((const float (*)[MIXSTAGE__TP_BLOCK + 17])y, m, xm, ym, before);
}

/* The FIR of block_sse2 sixteen frames a step in 256-bit vectors: each lane
 * does the same multiplies and adds in the same order (no FMA), so the
 * interpolated samples are the same bits; the maxima are then taken eight
 * frames at a time in 128-bit halves exactly as block_sse2 takes them. */
__attribute__((target("avx"))) static double block_avx(const mixstage__truepeak *tp, const float *xw, int m,
                                                        float (*y)[MIXSTAGE__TP_BLOCK + 17], double before) {
  __m128 xm = _mm_setzero_ps(), ym = xm;
  for (int n = 0; n < m; n += 16) {
    const float *x = xw + TAPS - 1 + n;
    __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0, b0 = a0, b1 = a0, b2 = a0, b3 = a0;
    for (int k = 0; k < TAPS; k++) {
      __m256 v = _mm256_loadu_ps(x - k), w = _mm256_loadu_ps(x + 8 - k);
      __m256 c0 = _mm256_set1_ps(tp->coef[k][0]), c1 = _mm256_set1_ps(tp->coef[k][1]);
      __m256 c2 = _mm256_set1_ps(tp->coef[k][2]), c3 = _mm256_set1_ps(tp->coef[k][3]);
      a0 = _mm256_add_ps(a0, _mm256_mul_ps(c0, v));
      a1 = _mm256_add_ps(a1, _mm256_mul_ps(c1, v));
      a2 = _mm256_add_ps(a2, _mm256_mul_ps(c2, v));
      a3 = _mm256_add_ps(a3, _mm256_mul_ps(c3, v));
      b0 = _mm256_add_ps(b0, _mm256_mul_ps(c0, w));
      b1 = _mm256_add_ps(b1, _mm256_mul_ps(c1, w));
      b2 = _mm256_add_ps(b2, _mm256_mul_ps(c2, w));
      b3 = _mm256_add_ps(b3, _mm256_mul_ps(c3, w));
    }
    _mm256_storeu_ps(&y[0][1 + n], a0);
    _mm256_storeu_ps(&y[1][1 + n], a1);
    _mm256_storeu_ps(&y[2][1 + n], a2);
    _mm256_storeu_ps(&y[3][1 + n], a3);
    _mm256_storeu_ps(&y[0][9 + n], b0);
    _mm256_storeu_ps(&y[1][9 + n], b1);
    _mm256_storeu_ps(&y[2][9 + n], b2);
    _mm256_storeu_ps(&y[3][9 + n], b3);
    step_max(x, _mm256_castps256_ps128(a0), _mm256_castps256_ps128(a1), _mm256_castps256_ps128(a2),
             _mm256_castps256_ps128(a3), _mm256_extractf128_ps(a0, 1), _mm256_extractf128_ps(a1, 1),
             _mm256_extractf128_ps(a2, 1), _mm256_extractf128_ps(a3, 1), m - n, &xm, &ym);
    if (n + 8 < m)
      step_max(x + 8, _mm256_castps256_ps128(b0), _mm256_castps256_ps128(b1), _mm256_castps256_ps128(b2),
               _mm256_castps256_ps128(b3), _mm256_extractf128_ps(b0, 1), _mm256_extractf128_ps(b1, 1),
               _mm256_extractf128_ps(b2, 1), _mm256_extractf128_ps(b3, 1), m - n - 8, &xm, &ym);
  }
  return block_finish((const float (*)[MIXSTAGE__TP_BLOCK + 17])y, m, xm, ym, before);
}

/* The end of a block: the peak from the maxima, then the refinement where
 * it may raise it. */
static double block_finish(const float (*y)[MIXSTAGE__TP_BLOCK + 17], int m, __m128 xm, __m128 ym, double before) {
  float xs[4], ys[4];
  _mm_storeu_ps(xs, xm);
  _mm_storeu_ps(ys, ym);
  double peak = 0.0, ymax = fmax(fabs((double)y[2][0]), fabs((double)y[3][0]));
  for (int i = 0; i < 4; i++) {
    if ((double)xs[i] > peak) peak = xs[i];
    if ((double)ys[i] > ymax) ymax = ys[i];
  }
  if (peak < before) peak = before;
  if (1.25 * (1.0 + 1e-9) * ymax < peak) return peak; /* NaN: refined below, as ever */
  const __m128d sign = _mm_set1_pd(-0.0), two = _mm_set1_pd(2.0), eight = _mm_set1_pd(8.0),
                one = _mm_set1_pd(1.0), zero = _mm_setzero_pd();
  __m128d pk = zero;
  int mv = m & ~1;
  for (int p = 0; p < L; p++)
    for (int n = 0; n < mv; n += 2) {
      const float *pa, *pb, *pc;
      switch (p) {
      case 0: pa = &y[2][n]; pb = &y[3][n]; pc = &y[0][1 + n]; break;
      case 1: pa = &y[3][n]; pb = &y[0][1 + n]; pc = &y[1][1 + n]; break;
      case 2: pa = &y[0][1 + n]; pb = &y[1][1 + n]; pc = &y[2][1 + n]; break;
      default: pa = &y[1][1 + n]; pb = &y[2][1 + n]; pc = &y[3][1 + n]; break;
      }
      __m128d a = _mm_cvtps_pd(_mm_castsi128_ps(_mm_loadl_epi64((const __m128i *)pa)));
      __m128d b = _mm_cvtps_pd(_mm_castsi128_ps(_mm_loadl_epi64((const __m128i *)pb)));
      __m128d c = _mm_cvtps_pd(_mm_castsi128_ps(_mm_loadl_epi64((const __m128i *)pc)));
      __m128d ab = _mm_andnot_pd(sign, b);
      __m128d ext = _mm_or_pd(_mm_and_pd(_mm_cmpge_pd(b, a), _mm_cmpge_pd(b, c)),
                              _mm_and_pd(_mm_cmple_pd(b, a), _mm_cmple_pd(b, c)));
      __m128d den = _mm_add_pd(_mm_sub_pd(a, _mm_mul_pd(two, b)), c);
      __m128d ok = _mm_and_pd(ext, _mm_cmpneq_pd(den, zero));
      ok = _mm_and_pd(ok, _mm_cmpord_pd(den, den));
      __m128d safe = _mm_or_pd(_mm_and_pd(ok, den), _mm_andnot_pd(ok, one));
      __m128d d = _mm_sub_pd(a, c);
      __m128d v = _mm_andnot_pd(sign, _mm_sub_pd(b, _mm_div_pd(_mm_mul_pd(d, d), _mm_mul_pd(eight, safe))));
      __m128d take = _mm_and_pd(ok, _mm_cmpgt_pd(v, ab));
      __m128d r = _mm_or_pd(_mm_and_pd(take, v), _mm_andnot_pd(take, ab));
      __m128d gt = _mm_cmpgt_pd(r, pk); /* NaN never taken, as r > peak */
      pk = _mm_or_pd(_mm_and_pd(gt, r), _mm_andnot_pd(gt, pk));
    }
  double lanes[2];
  _mm_storeu_pd(lanes, pk);
  for (int i = 0; i < 2; i++)
    if (lanes[i] > peak) peak = lanes[i];
  for (int n = mv; n < m; n++)
    for (int p = 0; p < L; p++) {
      float a, b, c;
      TRIPLE(p, n, a, b, c);
      double r = refine(a, b, c);
      if (r > peak) peak = r;
    }
  return peak;
}

#endif

/* Whether the block in xw (history and m new samples) cannot raise the
 * peak: every interpolated sample of it, and every refined extremum (whose
 * neighbours include the two interpolated samples before the block), stays
 * below tp->reach times the largest magnitude among them.  Blocks well
 * below the loudest so far (quiet passages, decays, silence: most of a
 * stem) then cost a scan instead of the FIR.  A NaN never raises the peak,
 * so the comparisons may pass it by. */
static int block_below(const mixstage__truepeak *tp, const mixstage__tp_channel *ch, const float *xw, int m) {
  float big = 0.0f;
  for (int i = 0; i < TAPS - 1 + m; i++) {
    float a = fabsf(xw[i]);
    big = a > big ? a : big;
  }
  double prev = fmax(fabs((double)ch->prev1), fabs((double)ch->prev2));
  return tp->reach * fmax((double)big, prev) < ch->peak;
}

/* Phase p of frame n of the block, as the block kernels compute it (the
 * same products summed in the same order). */
static float interpolate(const mixstage__truepeak *tp, const float *xw, int n, int p) {
  const float *x = xw + TAPS - 1 + n;
  float acc = 0.0f;
  for (int k = 0; k < TAPS; k++) acc += tp->coef[k][p] * x[-k];
  return acc;
}

static void run(const mixstage__truepeak *tp, mixstage__tp_channel *ch, const float *x, long n, long stride) {
  float xw[TAPS - 1 + MIXSTAGE__TP_BLOCK + 16];
  float y[L][MIXSTAGE__TP_BLOCK + 17];
  block_fn fn = block_scalar;
#if HAVE_X86
  fn = mixstage__cpu_avx() ? block_avx : block_sse2;
#endif
  memcpy(xw, ch->hist, sizeof ch->hist);
  while (n > 0) {
    int m = n < MIXSTAGE__TP_BLOCK ? (int)n : MIXSTAGE__TP_BLOCK;
    for (int i = 0; i < m; i++) xw[TAPS - 1 + i] = x[(long)i * stride];
    if (block_below(tp, ch, xw, m)) {
      /* The next block's first refinements need the last two samples. */
      ch->prev2 = interpolate(tp, xw, m - 1, 2);
      ch->prev1 = interpolate(tp, xw, m - 1, 3);
      memmove(xw, xw + m, sizeof ch->hist);
      x += (long)m * stride;
      n -= m;
      continue;
    }
    memset(xw + TAPS - 1 + m, 0, 16 * sizeof(float));
    y[2][0] = ch->prev2;
    y[3][0] = ch->prev1;
    ch->peak = fn(tp, xw, m, y, ch->peak);
    ch->prev2 = y[2][m];
    ch->prev1 = y[3][m];
    memmove(xw, xw + m, sizeof ch->hist);
    x += (long)m * stride;
    n -= m;
  }
  memcpy(ch->hist, xw, sizeof ch->hist);
}

void mixstage__truepeak_add(mixstage__truepeak *tp, const float *x, long n) {
  for (int c = 0; c < tp->channels; c++) run(tp, &tp->ch[c], x + c, n, tp->channels);
}

void mixstage__truepeak_add_channel(mixstage__truepeak *tp, int c, const float *x, long n) {
  if (c >= 0 && c < tp->channels) run(tp, &tp->ch[c], x, n, 1);
}

double mixstage__truepeak_value(const mixstage__truepeak *tp, int c) {
  return c >= 0 && c < tp->channels ? tp->ch[c].peak : 0.0;
}
