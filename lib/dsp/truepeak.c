/* True-peak measurement by 4x polyphase interpolation (see truepeak.h). */
#include "truepeak.h"

#include <math.h>
#include <string.h>

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
  tp->channels = channels < 1 ? 1 : channels > MIXSTAGE__TP_MAX_CHANNELS ? MIXSTAGE__TP_MAX_CHANNELS : channels;
  mixstage__truepeak_reset(tp);
}

/* Largest |y| of the parabola through (-1, a), (0, b), (1, c) when b is a
 * local extremum; else |b|. */
static inline double refine(float a, float b, float c) {
  double ab = fabs((double)b);
  if (!((b >= a && b >= c) || (b <= a && b <= c))) return ab;
  double den = (double)a - 2.0 * (double)b + (double)c;
  if (den == 0.0) return ab;
  double d = (double)a - (double)c;
  double v = fabs((double)b - d * d / (8.0 * den));
  return v > ab ? v : ab;
}

static void run(const v4f *coef, mixstage__tp_channel *ch, const float *x, long n, long stride) {
  double peak = ch->peak;
  float p2 = ch->prev2, p1 = ch->prev1;
  int pos = ch->pos;
  for (long i = 0; i < n; i++) {
    float s = x[i * stride];
    /* Newest sample at hist[pos] and hist[pos + TAPS]: the window
     * hist[pos .. pos + TAPS - 1] then runs newest to oldest. */
    pos = pos == 0 ? TAPS - 1 : pos - 1;
    ch->hist[pos] = s;
    ch->hist[pos + TAPS] = s;
    const float *w = ch->hist + pos;
    v4f acc = {0.0f, 0.0f, 0.0f, 0.0f};
    for (int k = 0; k < TAPS; k++) acc += coef[k] * w[k];
    for (int p = 0; p < L; p++) {
      double r = refine(p2, p1, acc[p]);
      if (r > peak) peak = r;
      p2 = p1;
      p1 = acc[p];
    }
    double a = fabs((double)s);
    if (a > peak) peak = a; /* never below the sample peak */
  }
  ch->peak = peak;
  ch->prev2 = p2;
  ch->prev1 = p1;
  ch->pos = pos;
}

void mixstage__truepeak_add(mixstage__truepeak *tp, const float *x, long n) {
  for (int c = 0; c < tp->channels; c++) run(tp->coef, &tp->ch[c], x + c, n, tp->channels);
}

void mixstage__truepeak_add_channel(mixstage__truepeak *tp, int c, const float *x, long n) {
  if (c >= 0 && c < tp->channels) run(tp->coef, &tp->ch[c], x, n, 1);
}

double mixstage__truepeak_value(const mixstage__truepeak *tp, int c) {
  return c >= 0 && c < tp->channels ? tp->ch[c].peak : 0.0;
}
