/* Biquad and first-order section design (RBJ Audio EQ Cookbook; bilinear
 * transform with pre-warping) and analytic response.  See biquad.h. */
#include "biquad.h"
#include "cpu.h"

#include <math.h>

#define BQ_PI 3.14159265358979323846

double mixstage__biquad_clamp_freq(double f, double fs) {
  double lo = 1e-6 * fs, hi = 0.49 * fs;
  if (!(f > lo)) return lo; /* also catches NaN */
  return f < hi ? f : hi;
}

void mixstage__biquad_identity(mixstage__biquad *c) {
  c->b0 = 1.0;
  c->b1 = c->b2 = c->a1 = c->a2 = 0.0;
}

static double clamp_q(double q) {
  if (!(q > MIXSTAGE__BIQUAD_Q_MIN)) return MIXSTAGE__BIQUAD_Q_MIN;
  return q < MIXSTAGE__BIQUAD_Q_MAX ? q : MIXSTAGE__BIQUAD_Q_MAX;
}

/* Gains beyond +-200 dB are meaningless and would overflow A^2 terms. */
static double clamp_gain_db(double g) { return g < -200.0 ? -200.0 : g > 200.0 ? 200.0 : g; }

/* The cookbook's intermediate values.  1 - cos(w0) is formed as
 * 2 sin^2(w0/2) so low corners (20 Hz at 192 kHz) keep full relative
 * precision instead of cancelling. */
typedef struct bq_w {
  double cw;   /* cos(w0) */
  double omc;  /* 1 - cos(w0) */
  double opc;  /* 1 + cos(w0) */
  double alpha; /* sin(w0) / (2 Q) */
  double sw;   /* sin(w0) */
} bq_w;

static int bq_prep(bq_w *w, double f, double q, double fs) {
  if (!isfinite(f) || !isfinite(q) || !(fs > 0.0) || !isfinite(fs)) return 0;
  double w0 = 2.0 * BQ_PI * mixstage__biquad_clamp_freq(f, fs) / fs;
  double sh = sin(0.5 * w0);
  w->cw = cos(w0);
  w->omc = 2.0 * sh * sh;
  w->opc = 2.0 - w->omc;
  w->sw = sin(w0);
  w->alpha = w->sw / (2.0 * clamp_q(q));
  return 1;
}

static void bq_set(mixstage__biquad *c, double b0, double b1, double b2, double a0, double a1,
                   double a2) {
  double ia = 1.0 / a0;
  c->b0 = b0 * ia;
  c->b1 = b1 * ia;
  c->b2 = b2 * ia;
  c->a1 = a1 * ia;
  c->a2 = a2 * ia;
}

void mixstage__biquad_lowpass(mixstage__biquad *c, double f, double q, double fs) {
  bq_w w;
  if (!bq_prep(&w, f, q, fs)) { mixstage__biquad_identity(c); return; }
  bq_set(c, 0.5 * w.omc, w.omc, 0.5 * w.omc, 1.0 + w.alpha, -2.0 * w.cw, 1.0 - w.alpha);
}

void mixstage__biquad_highpass(mixstage__biquad *c, double f, double q, double fs) {
  bq_w w;
  if (!bq_prep(&w, f, q, fs)) { mixstage__biquad_identity(c); return; }
  bq_set(c, 0.5 * w.opc, -w.opc, 0.5 * w.opc, 1.0 + w.alpha, -2.0 * w.cw, 1.0 - w.alpha);
}

void mixstage__biquad_bandpass(mixstage__biquad *c, double f, double q, double fs) {
  bq_w w;
  if (!bq_prep(&w, f, q, fs)) { mixstage__biquad_identity(c); return; }
  bq_set(c, w.alpha, 0.0, -w.alpha, 1.0 + w.alpha, -2.0 * w.cw, 1.0 - w.alpha);
}

void mixstage__biquad_notch(mixstage__biquad *c, double f, double q, double fs) {
  bq_w w;
  if (!bq_prep(&w, f, q, fs)) { mixstage__biquad_identity(c); return; }
  bq_set(c, 1.0, -2.0 * w.cw, 1.0, 1.0 + w.alpha, -2.0 * w.cw, 1.0 - w.alpha);
}

void mixstage__biquad_allpass(mixstage__biquad *c, double f, double q, double fs) {
  bq_w w;
  if (!bq_prep(&w, f, q, fs)) { mixstage__biquad_identity(c); return; }
  bq_set(c, 1.0 - w.alpha, -2.0 * w.cw, 1.0 + w.alpha, 1.0 + w.alpha, -2.0 * w.cw, 1.0 - w.alpha);
}

void mixstage__biquad_peaking(mixstage__biquad *c, double f, double q, double gain_db, double fs) {
  bq_w w;
  if (!bq_prep(&w, f, q, fs) || !isfinite(gain_db)) { mixstage__biquad_identity(c); return; }
  double A = pow(10.0, clamp_gain_db(gain_db) / 40.0);
  bq_set(c, 1.0 + w.alpha * A, -2.0 * w.cw, 1.0 - w.alpha * A, 1.0 + w.alpha / A, -2.0 * w.cw,
         1.0 - w.alpha / A);
}

/* Cookbook shelves, written with (A+1) -/+ (A-1)cos(w0) expanded through
 * 1 -/+ cos(w0) so no large terms cancel at low corners:
 *   (A+1) - (A-1)cos = A(1-cos) + (1+cos),  (A+1) + (A-1)cos = A(1+cos) + (1-cos),
 *   (A-1) - (A+1)cos = A(1-cos) - (1+cos),  (A-1) + (A+1)cos = A(1+cos) - (1-cos). */
void mixstage__biquad_lowshelf(mixstage__biquad *c, double f, double q, double gain_db, double fs) {
  bq_w w;
  if (!bq_prep(&w, f, q, fs) || !isfinite(gain_db)) { mixstage__biquad_identity(c); return; }
  double A = pow(10.0, clamp_gain_db(gain_db) / 40.0);
  double t = 2.0 * sqrt(A) * w.alpha;
  double pm = A * w.omc + w.opc; /* (A+1) - (A-1)cos */
  double pp = A * w.opc + w.omc; /* (A+1) + (A-1)cos */
  double mm = A * w.omc - w.opc; /* (A-1) - (A+1)cos */
  double mp = A * w.opc - w.omc; /* (A-1) + (A+1)cos */
  bq_set(c, A * (pm + t), 2.0 * A * mm, A * (pm - t), pp + t, -2.0 * mp, pp - t);
}

void mixstage__biquad_highshelf(mixstage__biquad *c, double f, double q, double gain_db,
                                double fs) {
  bq_w w;
  if (!bq_prep(&w, f, q, fs) || !isfinite(gain_db)) { mixstage__biquad_identity(c); return; }
  double A = pow(10.0, clamp_gain_db(gain_db) / 40.0);
  double t = 2.0 * sqrt(A) * w.alpha;
  double pm = A * w.omc + w.opc;
  double pp = A * w.opc + w.omc;
  double mm = A * w.omc - w.opc;
  double mp = A * w.opc - w.omc;
  bq_set(c, A * (pp + t), -2.0 * A * mp, A * (pp - t), pm + t, 2.0 * mm, pm - t);
}

double mixstage__shelf_q_from_slope(double gain_db, double slope) {
  if (!isfinite(gain_db) || !(slope > 0.0)) return MIXSTAGE__Q_BUTTERWORTH;
  double A = pow(10.0, clamp_gain_db(gain_db) / 40.0);
  double v = (A + 1.0 / A) * (1.0 / slope - 1.0) + 2.0;
  if (!(v > 0.0)) return MIXSTAGE__BIQUAD_Q_MAX;
  return clamp_q(1.0 / sqrt(v));
}

/* ---- first order: H(s) mapped by s = (1/K)(1 - z^-1)/(1 + z^-1) ---------- */

static int bq_prep1(double *K, double f, double fs) {
  if (!isfinite(f) || !(fs > 0.0) || !isfinite(fs)) return 0;
  *K = tan(BQ_PI * mixstage__biquad_clamp_freq(f, fs) / fs);
  return 1;
}

/* H(s) = 1/(1 + s) */
void mixstage__biquad_lowpass1(mixstage__biquad *c, double f, double fs) {
  double K;
  if (!bq_prep1(&K, f, fs)) { mixstage__biquad_identity(c); return; }
  bq_set(c, K, K, 0.0, K + 1.0, K - 1.0, 0.0);
}

/* H(s) = s/(1 + s) */
void mixstage__biquad_highpass1(mixstage__biquad *c, double f, double fs) {
  double K;
  if (!bq_prep1(&K, f, fs)) { mixstage__biquad_identity(c); return; }
  bq_set(c, 1.0, -1.0, 0.0, K + 1.0, K - 1.0, 0.0);
}

/* H(s) = (1 - s)/(1 + s) */
void mixstage__biquad_allpass1(mixstage__biquad *c, double f, double fs) {
  double K;
  if (!bq_prep1(&K, f, fs)) { mixstage__biquad_identity(c); return; }
  bq_set(c, K - 1.0, K + 1.0, 0.0, K + 1.0, K - 1.0, 0.0);
}

/* H(s) = (s + sqrt(G)) / (s + 1/sqrt(G)): G at DC, 1 at infinity, and
 * |H(j)| = sqrt(G), i.e. half the shelf in dB at the corner. */
void mixstage__biquad_lowshelf1(mixstage__biquad *c, double f, double gain_db, double fs) {
  double K;
  if (!bq_prep1(&K, f, fs) || !isfinite(gain_db)) { mixstage__biquad_identity(c); return; }
  double r = pow(10.0, clamp_gain_db(gain_db) / 40.0); /* sqrt(G) */
  bq_set(c, 1.0 + K * r, K * r - 1.0, 0.0, 1.0 + K / r, K / r - 1.0, 0.0);
}

/* H(s) = sqrt(G) (sqrt(G) s + 1) / (s + sqrt(G)): 1 at DC, G at infinity. */
void mixstage__biquad_highshelf1(mixstage__biquad *c, double f, double gain_db, double fs) {
  double K;
  if (!bq_prep1(&K, f, fs) || !isfinite(gain_db)) { mixstage__biquad_identity(c); return; }
  double r = pow(10.0, clamp_gain_db(gain_db) / 40.0);
  bq_set(c, r * (r + K), r * (K - r), 0.0, 1.0 + K * r, K * r - 1.0, 0.0);
}

/* ---- Butterworth / Linkwitz-Riley --------------------------------------- */

int mixstage__butterworth_q(int order, double *q) {
  if (order < 1 || order > MIXSTAGE__BUTTERWORTH_MAX_ORDER) return -1;
  int n = order / 2;
  /* Pole pair k sits at angle (2k-1) pi / (2 order) from the imaginary
   * axis; its Q is 1/(2 sin(angle)).  k = 1 is the most resonant, so walk
   * k downwards to list Q ascending. */
  for (int i = 0; i < n; i++) {
    int k = n - i;
    q[i] = 1.0 / (2.0 * sin((2.0 * k - 1.0) * BQ_PI / (2.0 * order)));
  }
  return n;
}

static int butterworth(mixstage__biquad *sec, int order, double f, double fs, int highpass) {
  double q[MIXSTAGE__BUTTERWORTH_MAX_ORDER / 2];
  int n2 = mixstage__butterworth_q(order, q);
  if (n2 < 0) return -1;
  int k = 0;
  if (order & 1) {
    if (highpass) mixstage__biquad_highpass1(&sec[k++], f, fs);
    else mixstage__biquad_lowpass1(&sec[k++], f, fs);
  }
  for (int i = 0; i < n2; i++) {
    if (highpass) mixstage__biquad_highpass(&sec[k++], f, q[i], fs);
    else mixstage__biquad_lowpass(&sec[k++], f, q[i], fs);
  }
  return k;
}

int mixstage__butterworth_lowpass(mixstage__biquad *sec, int order, double f, double fs) {
  return butterworth(sec, order, f, fs, 0);
}

int mixstage__butterworth_highpass(mixstage__biquad *sec, int order, double f, double fs) {
  return butterworth(sec, order, f, fs, 1);
}

int mixstage__linkwitz_riley(mixstage__biquad *sec, int order, int highpass, double f, double fs) {
  if (order == 2) {
    /* Two identical first-order Butterworths = one section with Q = 1/2
     * (1/(1+s)^2 = 1/(s^2 + 2s + 1)); the bilinear map preserves products. */
    if (highpass) mixstage__biquad_highpass(&sec[0], f, 0.5, fs);
    else mixstage__biquad_lowpass(&sec[0], f, 0.5, fs);
    return 1;
  }
  if (order != 4 && order != 8) return -1;
  int n = butterworth(sec, order / 2, f, fs, highpass);
  for (int i = 0; i < n; i++) sec[n + i] = sec[i];
  return 2 * n;
}

/* ---- response ----------------------------------------------------------- */

void mixstage__biquad_response(const mixstage__biquad *c, double f, double fs, double *re,
                               double *im) {
  /* H = (b0 + b1 z^-1 + b2 z^-2) / (1 + a1 z^-1 + a2 z^-2), z^-1 = e^{-jw}. */
  double w = 2.0 * BQ_PI * f / fs;
  double c1 = cos(w), s1 = sin(w), c2 = cos(2.0 * w), s2 = sin(2.0 * w);
  double nr = c->b0 + c->b1 * c1 + c->b2 * c2, ni = -(c->b1 * s1 + c->b2 * s2);
  double dr = 1.0 + c->a1 * c1 + c->a2 * c2, di = -(c->a1 * s1 + c->a2 * s2);
  double d = dr * dr + di * di;
  *re = (nr * dr + ni * di) / d;
  *im = (ni * dr - nr * di) / d;
}

double mixstage__biquad_magnitude(const mixstage__biquad *c, double f, double fs) {
  double re, im;
  mixstage__biquad_response(c, f, fs, &re, &im);
  return hypot(re, im);
}

double mixstage__biquad_phase(const mixstage__biquad *c, double f, double fs) {
  double re, im;
  mixstage__biquad_response(c, f, fs, &re, &im);
  return atan2(im, re);
}

double mixstage__biquad_cascade_db(const mixstage__biquad *c, int n, double f, double fs) {
  double db = 0.0;
  for (int k = 0; k < n; k++) {
    double m = mixstage__biquad_magnitude(&c[k], f, fs);
    db += m > 1e-30 ? 20.0 * log10(m) : -600.0;
  }
  return db;
}

int64_t mixstage__biquad_cascade_tail(const mixstage__biquad *c, int n, double fs) {
  double rmax = 0.0;
  for (int k = 0; k < n; k++) {
    double disc = c[k].a1 * c[k].a1 - 4.0 * c[k].a2, r;
    if (disc < 0.0) {
      r = sqrt(c[k].a2);
    } else {
      double sq = sqrt(disc);
      r = fmax(fabs(-c[k].a1 + sq), fabs(-c[k].a1 - sq)) * 0.5;
    }
    if (r > rmax) rmax = r;
  }
  if (rmax <= 0.0) return 0;
  if (rmax >= 1.0) return (int64_t)(10.0 * fs);
  return (int64_t)ceil(2.0 * log(1e-6) / log(rmax));
}

/* ---- lane cascades -------------------------------------------------------- */

void mixstage__biquad_lanes_set(double *sec, int stride, int lane, const mixstage__biquad *c) {
  sec[MIXSTAGE__BQL_B0 * stride + lane] = c->b0;
  sec[MIXSTAGE__BQL_B1 * stride + lane] = c->b1;
  sec[MIXSTAGE__BQL_B2 * stride + lane] = c->b2;
  sec[MIXSTAGE__BQL_A1 * stride + lane] = c->a1;
  sec[MIXSTAGE__BQL_A2 * stride + lane] = c->a2;
}

void mixstage__biquad_lanes_clear(double *sec, int stride) {
  for (int l = 0; l < stride; l++) {
    sec[MIXSTAGE__BQL_S1 * stride + l] = 0.0;
    sec[MIXSTAGE__BQL_S2 * stride + l] = 0.0;
  }
}

/* Frames per pass: the working signal of one vector of lanes (1 KB). */
#define BQL_CHUNK 64

#if MIXSTAGE__LANES_VECTOR
#ifdef __SSE2__
#include <emmintrin.h>
#include <string.h>
/* Two adjacent floats into the low half of a vector.  Through memcpy: the
 * floats are only 4-byte aligned, so a double load would be undefined. */
static inline __m128 load_2f(const float *p) {
  double d;
  memcpy(&d, p, sizeof d);
  return _mm_castpd_ps(_mm_set_sd(d));
}
#endif
typedef mixstage__v2d v2d;
typedef long long v2i __attribute__((vector_size(16)));
typedef float v2f __attribute__((vector_size(8)));

/* Branch-free: |s| < MIXSTAGE__BQL_FLUSH becomes +0, all else unchanged. */
static inline v2d bql_flush2(v2d s) {
  const v2i abs_mask = {0x7fffffffffffffffLL, 0x7fffffffffffffffLL};
  const v2d lim = {MIXSTAGE__BQL_FLUSH, MIXSTAGE__BQL_FLUSH};
  v2i tiny = (v2d)((v2i)s & abs_mask) < lim;
  return (v2d)((v2i)s & ~tiny);
}

void mixstage__biquad_lanes_flush(double *const *sec, int nsec, int stride) {
  for (int k = 0; k < nsec; k++) {
    double *s = sec[k] + MIXSTAGE__BQL_S1 * stride; /* rows s1, s2 are adjacent */
    for (int l = 0; l < 2 * stride; l += MIXSTAGE__LANE_W)
      mixstage__v2d_store(s + l, bql_flush2(mixstage__v2d_load(s + l)));
  }
}

/* Section j of a pass: coefficients and memory of the vector at lane l. */
#define BQL_LOAD(j)                                                                                \
  double *const p##j = ns > j ? sec[k + j] + l : NULL;                                             \
  v2d b0_##j = zero, b1_##j = zero, b2_##j = zero, a1_##j = zero, a2_##j = zero;                   \
  v2d s1_##j = zero, s2_##j = zero;                                                                \
  if (ns > j) {                                                                                    \
    b0_##j = mixstage__v2d_load(p##j + MIXSTAGE__BQL_B0 * stride);                                 \
    b1_##j = mixstage__v2d_load(p##j + MIXSTAGE__BQL_B1 * stride);                                 \
    b2_##j = mixstage__v2d_load(p##j + MIXSTAGE__BQL_B2 * stride);                                 \
    a1_##j = mixstage__v2d_load(p##j + MIXSTAGE__BQL_A1 * stride);                                 \
    a2_##j = mixstage__v2d_load(p##j + MIXSTAGE__BQL_A2 * stride);                                 \
    s1_##j = mixstage__v2d_load(p##j + MIXSTAGE__BQL_S1 * stride);                                 \
    s2_##j = mixstage__v2d_load(p##j + MIXSTAGE__BQL_S2 * stride);                                 \
  }

/* TDF-II, the operations of mixstage__biquad_tick in its order. */
#define BQL_TICK(j)                                                                                \
  if (ns > j) {                                                                                    \
    v2d y = b0_##j * x + s1_##j;                                                                   \
    s1_##j = b1_##j * x - a1_##j * y + s2_##j;                                                     \
    s2_##j = b2_##j * x - a2_##j * y;                                                              \
    x = y;                                                                                         \
  }

#define BQL_SAVE(j)                                                                                \
  if (ns > j) {                                                                                    \
    if (flush) {                                                                                   \
      s1_##j = bql_flush2(s1_##j);                                                                 \
      s2_##j = bql_flush2(s2_##j);                                                                 \
    }                                                                                              \
    mixstage__v2d_store(p##j + MIXSTAGE__BQL_S1 * stride, s1_##j);                                 \
    mixstage__v2d_store(p##j + MIXSTAGE__BQL_S2 * stride, s2_##j);                                 \
  }

/* One pass of ns (0..4) sections over m frames of the vector at lane l,
 * sample by sample with the sections' memory in registers: the sections'
 * recursions are independent, so the CPU overlaps section j of frame i with
 * section j + 1 of frame i - 1 instead of waiting on one recursion.  The
 * first pass reads the float input, the last applies the gain and writes
 * float; passes between go through v.  Inlined with constant flags, so
 * each combination is its own branch-free loop.  flush: the memory is
 * flushed (mixstage__biquad_lanes_flush) as it is stored. */
static inline __attribute__((always_inline)) void
bql_pass(double *const *sec, int k, int l, int stride, const int ns, const int first,
         const int last, const int has_gain, v2d *v, const float *in0, const float *in1,
         float *out0, float *out1, const double *gain, int m, int flush) {
  const v2d zero = {0.0, 0.0};
  BQL_LOAD(0) BQL_LOAD(1) BQL_LOAD(2) BQL_LOAD(3)
  int i = 0;
#ifdef __SSE2__
  /* Two frames per step where floats are read or written: a 64-bit load
   * per lane and one unpack give both frames' vectors, and one unpack
   * gives both lanes' float pairs to store (fewer instructions than
   * converting lane by lane; the same roundings). */
  if (first || last) {
    for (; i + 2 <= m; i += 2) {
      v2d x, x1;
      if (first) {
        __m128 u = _mm_unpacklo_ps(load_2f(in0 + i), load_2f(in1 + i));
        x = (v2d)_mm_cvtps_pd(u);
        x1 = (v2d)_mm_cvtps_pd(_mm_movehl_ps(u, u));
      } else {
        x = v[i];
        x1 = v[i + 1];
      }
      BQL_TICK(0) BQL_TICK(1) BQL_TICK(2) BQL_TICK(3)
      v2d y0 = x;
      x = x1;
      BQL_TICK(0) BQL_TICK(1) BQL_TICK(2) BQL_TICK(3)
      if (last) {
        if (has_gain) {
          y0 *= mixstage__v2d_set1(gain[i]);
          x *= mixstage__v2d_set1(gain[i + 1]);
        }
        __m128 u = _mm_unpacklo_ps(_mm_cvtpd_ps((__m128d)y0), _mm_cvtpd_ps((__m128d)x));
        _mm_storel_pi((__m64 *)(void *)(out0 + i), u);
        _mm_storeh_pi((__m64 *)(void *)(out1 + i), u);
      } else {
        v[i] = y0;
        v[i + 1] = x;
      }
    }
  }
#endif
  for (; i < m; i++) {
    v2d x = first ? (v2d){(double)in0[i], (double)in1[i]} : v[i];
    BQL_TICK(0) BQL_TICK(1) BQL_TICK(2) BQL_TICK(3)
    if (last) {
      if (has_gain) x *= mixstage__v2d_set1(gain[i]);
      v2f y = __builtin_convertvector(x, v2f);
      out0[i] = y[0];
      out1[i] = y[1];
    } else {
      v[i] = x;
    }
  }
  BQL_SAVE(0) BQL_SAVE(1) BQL_SAVE(2) BQL_SAVE(3)
}

#define BQL_PASS(ns, first, last, g)                                                               \
  bql_pass(sec, k, l, stride, ns, first, last, g, v, in0, in1, out0, out1, gn, m, fl)

void mixstage__biquad_lanes_process(double *const *sec, int nsec, int stride, int nlanes,
                                    float *const *buf, const double *gain, int n, int flush) {
  static const float silence[BQL_CHUNK];
  float scratch[BQL_CHUNK]; /* the output of a padding lane */
  v2d v[BQL_CHUNK];
  const int g = gain != NULL;
  for (int done = 0; done < n; done += BQL_CHUNK) {
    const int m = n - done < BQL_CHUNK ? n - done : BQL_CHUNK;
    const double *gn = gain ? gain + done : NULL;
    const int fl = flush && done + m == n; /* after the last chunk */
    for (int l = 0; l < nlanes; l += MIXSTAGE__LANE_W) {
      const int pair = l + 1 < nlanes;
      float *out0 = buf[l] + done, *out1 = pair ? buf[l + 1] + done : scratch;
      const float *in0 = out0, *in1 = pair ? out1 : silence;
      int k = 0;
      {
        if (nsec <= 4) {
          switch (nsec * 2 + g) {
          case 0: BQL_PASS(0, 1, 1, 0); break;
          case 1: BQL_PASS(0, 1, 1, 1); break;
          case 2: BQL_PASS(1, 1, 1, 0); break;
          case 3: BQL_PASS(1, 1, 1, 1); break;
          case 4: BQL_PASS(2, 1, 1, 0); break;
          case 5: BQL_PASS(2, 1, 1, 1); break;
          case 6: BQL_PASS(3, 1, 1, 0); break;
          case 7: BQL_PASS(3, 1, 1, 1); break;
          case 8: BQL_PASS(4, 1, 1, 0); break;
          default: BQL_PASS(4, 1, 1, 1); break;
          }
          continue;
        }
        BQL_PASS(4, 1, 0, 0);
        for (k = 4; nsec - k > 4; k += 4) BQL_PASS(4, 0, 0, 0);
        switch ((nsec - k) * 2 + g) {
        case 2: BQL_PASS(1, 0, 1, 0); break;
        case 3: BQL_PASS(1, 0, 1, 1); break;
        case 4: BQL_PASS(2, 0, 1, 0); break;
        case 5: BQL_PASS(2, 0, 1, 1); break;
        case 6: BQL_PASS(3, 0, 1, 0); break;
        case 7: BQL_PASS(3, 0, 1, 1); break;
        case 8: BQL_PASS(4, 0, 1, 0); break;
        default: BQL_PASS(4, 0, 1, 1); break;
        }
      }
    }
  }
}
#else
void mixstage__biquad_lanes_flush(double *const *sec, int nsec, int stride) {
  for (int k = 0; k < nsec; k++) {
    double *s = sec[k] + MIXSTAGE__BQL_S1 * stride; /* rows s1, s2 are adjacent */
    for (int l = 0; l < 2 * stride; l++)
      if (fabs(s[l]) < MIXSTAGE__BQL_FLUSH) s[l] = 0.0;
  }
}

/* Scalar: lane by lane, the same operations in the same order. */
void mixstage__biquad_lanes_process(double *const *sec, int nsec, int stride, int nlanes,
                                    float *const *buf, const double *gain, int n, int flush) {
  for (int l = 0; l < nlanes; l++) {
    float *x = buf[l];
    for (int i = 0; i < n; i++) {
      double v = mixstage__biquad_lanes_tick(sec, nsec, stride, l, (double)x[i]);
      if (gain) v *= gain[i];
      x[i] = (float)v;
    }
  }
  if (flush) mixstage__biquad_lanes_flush(sec, nsec, stride);
}
#endif

/* ---- four-lane cascades (AVX, chosen at run time) ---------------------------------- */

#if (defined(__x86_64__) || defined(__i386__)) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>

#define W4_TARGET __attribute__((target("avx")))
#define W4_CHUNK 32 /* frames per pass through the intermediate buffer */

int mixstage__biquad_lanes4_available(void) { return mixstage__cpu_avx(); }

W4_TARGET static inline __m256d w4_flush(__m256d s) {
  const __m256d abs_mask = _mm256_castsi256_pd(_mm256_set1_epi64x(0x7fffffffffffffffLL));
  __m256d tiny = _mm256_cmp_pd(_mm256_and_pd(s, abs_mask), _mm256_set1_pd(MIXSTAGE__BQL_FLUSH), _CMP_LT_OQ);
  return _mm256_andnot_pd(tiny, s);
}

#define W4_LOAD(j)                                                                                 \
  double *const p##j = ns > j ? sec[k + j] : NULL;                                                 \
  __m256d b0_##j = zero, b1_##j = zero, b2_##j = zero, a1_##j = zero, a2_##j = zero;               \
  __m256d s1_##j = zero, s2_##j = zero;                                                            \
  if (ns > j) {                                                                                    \
    b0_##j = _mm256_loadu_pd(p##j + 4 * MIXSTAGE__BQL_B0);                                         \
    b1_##j = _mm256_loadu_pd(p##j + 4 * MIXSTAGE__BQL_B1);                                         \
    b2_##j = _mm256_loadu_pd(p##j + 4 * MIXSTAGE__BQL_B2);                                         \
    a1_##j = _mm256_loadu_pd(p##j + 4 * MIXSTAGE__BQL_A1);                                         \
    a2_##j = _mm256_loadu_pd(p##j + 4 * MIXSTAGE__BQL_A2);                                         \
    s1_##j = _mm256_loadu_pd(p##j + 4 * MIXSTAGE__BQL_S1);                                         \
    s2_##j = _mm256_loadu_pd(p##j + 4 * MIXSTAGE__BQL_S2);                                         \
  }

/* mixstage__biquad_tick's operations in its order: y = b0 x + s1,
 * s1 = (b1 x - a1 y) + s2, s2 = b2 x - a2 y. */
#define W4_TICK(j, x)                                                                              \
  if (ns > j) {                                                                                    \
    __m256d y_ = _mm256_add_pd(_mm256_mul_pd(b0_##j, x), s1_##j);                                  \
    s1_##j = _mm256_add_pd(_mm256_sub_pd(_mm256_mul_pd(b1_##j, x), _mm256_mul_pd(a1_##j, y_)), s2_##j); \
    s2_##j = _mm256_sub_pd(_mm256_mul_pd(b2_##j, x), _mm256_mul_pd(a2_##j, y_));                   \
    x = y_;                                                                                        \
  }

#define W4_TICKS(x) W4_TICK(0, x) W4_TICK(1, x) W4_TICK(2, x) W4_TICK(3, x)

#define W4_SAVE(j)                                                                                 \
  if (ns > j) {                                                                                    \
    if (flush) {                                                                                   \
      s1_##j = w4_flush(s1_##j);                                                                   \
      s2_##j = w4_flush(s2_##j);                                                                   \
    }                                                                                              \
    _mm256_storeu_pd(p##j + 4 * MIXSTAGE__BQL_S1, s1_##j);                                         \
    _mm256_storeu_pd(p##j + 4 * MIXSTAGE__BQL_S2, s2_##j);                                         \
  }

/* One pass of ns (0..4) sections k .. k+ns-1 over frames 0 .. m-1 of io
 * (already offset), with the sections' memory in registers; first reads
 * the floats, last applies the gains and writes floats, passes between go
 * through v.  Four frames at a time where floats move: a 4x4 transpose
 * turns four lanes' frames into four frames' lane vectors and back (the
 * conversions are exact widening and the same rounding per lane). */
W4_TARGET static inline __attribute__((always_inline)) void
w4_pass(double *const *sec, int k, const int ns, const int first, const int last, const int has_gain, __m256d *v,
        float *const *io, const double *gain, int m, int flush) {
  const __m256d zero = _mm256_setzero_pd();
  W4_LOAD(0) W4_LOAD(1) W4_LOAD(2) W4_LOAD(3)
  float *const l0 = io[0], *const l1 = io[1], *const l2 = io[2], *const l3 = io[3];
  int i = 0;
  for (; i + 4 <= m; i += 4) {
    __m256d x0, x1, x2, x3;
    if (first) {
      __m128 r0 = _mm_loadu_ps(l0 + i), r1 = _mm_loadu_ps(l1 + i), r2 = _mm_loadu_ps(l2 + i),
             r3 = _mm_loadu_ps(l3 + i);
      _MM_TRANSPOSE4_PS(r0, r1, r2, r3);
      x0 = _mm256_cvtps_pd(r0);
      x1 = _mm256_cvtps_pd(r1);
      x2 = _mm256_cvtps_pd(r2);
      x3 = _mm256_cvtps_pd(r3);
    } else {
      x0 = v[i];
      x1 = v[i + 1];
      x2 = v[i + 2];
      x3 = v[i + 3];
    }
    W4_TICKS(x0) W4_TICKS(x1) W4_TICKS(x2) W4_TICKS(x3)
    if (last) {
      if (has_gain) {
        x0 = _mm256_mul_pd(x0, _mm256_loadu_pd(gain + 4 * i));
        x1 = _mm256_mul_pd(x1, _mm256_loadu_pd(gain + 4 * i + 4));
        x2 = _mm256_mul_pd(x2, _mm256_loadu_pd(gain + 4 * i + 8));
        x3 = _mm256_mul_pd(x3, _mm256_loadu_pd(gain + 4 * i + 12));
      }
      __m128 r0 = _mm256_cvtpd_ps(x0), r1 = _mm256_cvtpd_ps(x1), r2 = _mm256_cvtpd_ps(x2),
             r3 = _mm256_cvtpd_ps(x3);
      _MM_TRANSPOSE4_PS(r0, r1, r2, r3);
      _mm_storeu_ps(l0 + i, r0);
      _mm_storeu_ps(l1 + i, r1);
      _mm_storeu_ps(l2 + i, r2);
      _mm_storeu_ps(l3 + i, r3);
    } else {
      v[i] = x0;
      v[i + 1] = x1;
      v[i + 2] = x2;
      v[i + 3] = x3;
    }
  }
  for (; i < m; i++) {
    __m256d x = first ? _mm256_cvtps_pd(_mm_setr_ps(l0[i], l1[i], l2[i], l3[i])) : v[i];
    W4_TICKS(x)
    if (last) {
      if (has_gain) x = _mm256_mul_pd(x, _mm256_loadu_pd(gain + 4 * i));
      float o[4];
      _mm_storeu_ps(o, _mm256_cvtpd_ps(x));
      l0[i] = o[0];
      l1[i] = o[1];
      l2[i] = o[2];
      l3[i] = o[3];
    } else {
      v[i] = x;
    }
  }
  W4_SAVE(0) W4_SAVE(1) W4_SAVE(2) W4_SAVE(3)
}

#define W4_PASS(ns, first, last, g) w4_pass(sec, k, ns, first, last, g, v, io, gn, m, fl)

W4_TARGET void mixstage__biquad_lanes4_process(double *const *sec, int nsec, float *const *buf, const double *gain,
                                               int n, int flush) {
  __m256d v[W4_CHUNK];
  const int g = gain != NULL;
  for (int done = 0; done < n; done += W4_CHUNK) {
    const int m = n - done < W4_CHUNK ? n - done : W4_CHUNK;
    const double *gn = gain ? gain + 4 * done : NULL;
    const int fl = flush && done + m == n; /* after the last chunk */
    float *io[4] = {buf[0] + done, buf[1] + done, buf[2] + done, buf[3] + done};
    int k = 0;
    if (nsec <= 4) {
      switch (nsec * 2 + g) {
      case 0: W4_PASS(0, 1, 1, 0); break;
      case 1: W4_PASS(0, 1, 1, 1); break;
      case 2: W4_PASS(1, 1, 1, 0); break;
      case 3: W4_PASS(1, 1, 1, 1); break;
      case 4: W4_PASS(2, 1, 1, 0); break;
      case 5: W4_PASS(2, 1, 1, 1); break;
      case 6: W4_PASS(3, 1, 1, 0); break;
      case 7: W4_PASS(3, 1, 1, 1); break;
      case 8: W4_PASS(4, 1, 1, 0); break;
      default: W4_PASS(4, 1, 1, 1); break;
      }
      continue;
    }
    W4_PASS(4, 1, 0, 0);
    for (k = 4; nsec - k > 4; k += 4) W4_PASS(4, 0, 0, 0);
    switch ((nsec - k) * 2 + g) {
    case 2: W4_PASS(1, 0, 1, 0); break;
    case 3: W4_PASS(1, 0, 1, 1); break;
    case 4: W4_PASS(2, 0, 1, 0); break;
    case 5: W4_PASS(2, 0, 1, 1); break;
    case 6: W4_PASS(3, 0, 1, 0); break;
    case 7: W4_PASS(3, 0, 1, 1); break;
    case 8: W4_PASS(4, 0, 1, 0); break;
    default: W4_PASS(4, 0, 1, 1); break;
    }
  }
}

/* ---- two-lane cascades (AVX, chosen at run time) ------------------------------------ */

/* Sections of a pair of lanes in registers: lanes 0 and 1 of each row. */
#define W2_LOAD(j)                                                                                 \
  double *const q##j = ns > j ? sec[j] : NULL;                                                     \
  __m128d b0_##j = zero, b1_##j = zero, b2_##j = zero, a1_##j = zero, a2_##j = zero;               \
  __m128d s1_##j = zero, s2_##j = zero;                                                            \
  if (ns > j) {                                                                                    \
    b0_##j = _mm_loadu_pd(q##j + MIXSTAGE__BQL_B0 * stride);                                       \
    b1_##j = _mm_loadu_pd(q##j + MIXSTAGE__BQL_B1 * stride);                                       \
    b2_##j = _mm_loadu_pd(q##j + MIXSTAGE__BQL_B2 * stride);                                       \
    a1_##j = _mm_loadu_pd(q##j + MIXSTAGE__BQL_A1 * stride);                                       \
    a2_##j = _mm_loadu_pd(q##j + MIXSTAGE__BQL_A2 * stride);                                       \
    s1_##j = _mm_loadu_pd(q##j + MIXSTAGE__BQL_S1 * stride);                                       \
    s2_##j = _mm_loadu_pd(q##j + MIXSTAGE__BQL_S2 * stride);                                       \
  }

/* BQL_TICK's operations in its order (mixstage__biquad_tick's). */
#define W2_TICK(j, x)                                                                              \
  if (ns > j) {                                                                                    \
    const __m128d y_ = _mm_add_pd(_mm_mul_pd(b0_##j, x), s1_##j);                                  \
    s1_##j = _mm_add_pd(_mm_sub_pd(_mm_mul_pd(b1_##j, x), _mm_mul_pd(a1_##j, y_)), s2_##j);        \
    s2_##j = _mm_sub_pd(_mm_mul_pd(b2_##j, x), _mm_mul_pd(a2_##j, y_));                            \
    x = y_;                                                                                        \
  }

#define W2_TICKS(x) W2_TICK(0, x) W2_TICK(1, x) W2_TICK(2, x) W2_TICK(3, x)

#define W2_SAVE(j)                                                                                 \
  if (ns > j) {                                                                                    \
    if (flush) {                                                                                   \
      const __m128d m_ = _mm_castsi128_pd(_mm_set1_epi64x(0x7fffffffffffffffLL));                  \
      const __m128d t_ = _mm_set1_pd(MIXSTAGE__BQL_FLUSH);                                         \
      s1_##j = _mm_andnot_pd(_mm_cmplt_pd(_mm_and_pd(s1_##j, m_), t_), s1_##j);                    \
      s2_##j = _mm_andnot_pd(_mm_cmplt_pd(_mm_and_pd(s2_##j, m_), t_), s2_##j);                    \
    }                                                                                              \
    _mm_storeu_pd(q##j + MIXSTAGE__BQL_S1 * stride, s1_##j);                                       \
    _mm_storeu_pd(q##j + MIXSTAGE__BQL_S2 * stride, s2_##j);                                       \
  }

/* ns (1..4) sections over n frames of l0 and r0, both lanes in one
 * two-double vector per frame.  Four frames at a time: one float load per
 * lane, one interleave and two widenings give the four frames' vectors;
 * one narrowing per two frames and one shuffle per lane give the floats
 * back (exact widening, the same rounding per lane). */
W4_TARGET static inline __attribute__((always_inline)) void w2_run(double *const *sec, int stride, const int ns,
                                                                  float *l0, float *r0, int n, int flush) {
  const __m128d zero = _mm_setzero_pd();
  W2_LOAD(0) W2_LOAD(1) W2_LOAD(2) W2_LOAD(3)
  int i = 0;
  for (; i + 4 <= n; i += 4) {
    const __m128 l = _mm_loadu_ps(l0 + i), r = _mm_loadu_ps(r0 + i);
    const __m256d u01 = _mm256_cvtps_pd(_mm_unpacklo_ps(l, r)), u23 = _mm256_cvtps_pd(_mm_unpackhi_ps(l, r));
    __m128d x0 = _mm256_castpd256_pd128(u01), x1 = _mm256_extractf128_pd(u01, 1);
    __m128d x2 = _mm256_castpd256_pd128(u23), x3 = _mm256_extractf128_pd(u23, 1);
    W2_TICKS(x0) W2_TICKS(x1) W2_TICKS(x2) W2_TICKS(x3)
    const __m128 y01 = _mm256_cvtpd_ps(_mm256_insertf128_pd(_mm256_castpd128_pd256(x0), x1, 1));
    const __m128 y23 = _mm256_cvtpd_ps(_mm256_insertf128_pd(_mm256_castpd128_pd256(x2), x3, 1));
    _mm_storeu_ps(l0 + i, _mm_shuffle_ps(y01, y23, _MM_SHUFFLE(2, 0, 2, 0)));
    _mm_storeu_ps(r0 + i, _mm_shuffle_ps(y01, y23, _MM_SHUFFLE(3, 1, 3, 1)));
  }
  for (; i < n; i++) {
    __m128d x = _mm_cvtps_pd(_mm_unpacklo_ps(_mm_load_ss(l0 + i), _mm_load_ss(r0 + i)));
    W2_TICKS(x)
    const __m128 y = _mm_cvtpd_ps(x);
    _mm_store_ss(l0 + i, y);
    _mm_store_ss(r0 + i, _mm_shuffle_ps(y, y, _MM_SHUFFLE(1, 1, 1, 1)));
  }
  W2_SAVE(0) W2_SAVE(1) W2_SAVE(2) W2_SAVE(3)
}

W4_TARGET void mixstage__biquad_pair_process(double *const *sec, int nsec, int stride, float *const *buf, int n,
                                             int flush) {
  switch (nsec) {
  case 1: w2_run(sec, stride, 1, buf[0], buf[1], n, flush); break;
  case 2: w2_run(sec, stride, 2, buf[0], buf[1], n, flush); break;
  case 3: w2_run(sec, stride, 3, buf[0], buf[1], n, flush); break;
  case 4: w2_run(sec, stride, 4, buf[0], buf[1], n, flush); break;
  default: mixstage__biquad_lanes_process(sec, nsec, stride, 2, buf, NULL, n, flush); break;
  }
}
#else
int mixstage__biquad_lanes4_available(void) { return 0; }

/* Never called where the kernel is unavailable; kept correct regardless. */
void mixstage__biquad_lanes4_process(double *const *sec, int nsec, float *const *buf, const double *gain, int n,
                                     int flush) {
  for (int l = 0; l < 4; l++) {
    float *x = buf[l];
    for (int i = 0; i < n; i++) {
      double v = mixstage__biquad_lanes_tick(sec, nsec, 4, l, (double)x[i]);
      if (gain) v *= gain[4 * i + l];
      x[i] = (float)v;
    }
  }
  if (flush) mixstage__biquad_lanes_flush(sec, nsec, 4);
}

/* Never called where the kernel is unavailable; kept correct regardless. */
void mixstage__biquad_pair_process(double *const *sec, int nsec, int stride, float *const *buf, int n, int flush) {
  mixstage__biquad_lanes_process(sec, nsec, stride, 2, buf, NULL, n, flush);
}
#endif
