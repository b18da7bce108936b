/* "saturation": oversampled, anti-aliased soft clipping.
 *
 * The curve.  With drive gain g, bias beta = 0.5 * bias and u = g x + beta,
 *
 *     y(x) = (tanh(u) - tanh(beta)) / (g sech^2(beta)),
 *
 * an odd, smooth (analytic) curve when beta = 0.  Subtracting tanh(beta)
 * removes the static offset the bias creates; dividing by the slope at the
 * operating point, g sech^2(beta), is the automatic level compensation: y'(0)
 * = 1, so small signals pass at unity gain at every drive and bias, and only
 * peaks are shaped (the ceiling falls as drive rises).  A non-zero bias makes
 * the curve asymmetric around the operating point, so it adds even harmonics;
 * the DC that asymmetric clipping of a large signal produces is removed by a
 * one-pole DC blocker at 5 Hz on the wet path.  beta is limited to +-0.5
 * (bias +-1), where the steeper side still clips at 1.9x the gentler one.
 *
 * Aliasing.  The curve runs at 1x, 2x, 4x or 8x (oversample.h, LIGHT
 * design: pass band to 20 kHz at 48 kHz, >= 80 dB stop band) and, when
 * oversampled, is evaluated with first-order antiderivative anti-aliasing
 * (ADAA; Parker, Zavalishin, Le Bivic, "Reducing the aliasing of nonlinear
 * waveshaping using continuous-time convolution", DAFx-16; Bilbao, Esqueda,
 * Parker, Valimaki, "Antiderivative antialiasing for memoryless
 * nonlinearities", IEEE SPL 24(7), 2017):
 *
 *     D[n] = (F(u[n]) - F(u[n-1])) / (u[n] - u[n-1]),   F(u) = log cosh u,
 *
 * the mean of tanh over the segment between two samples.  ADAA lowers the
 * aliases by about 20 dB on top of what oversampling gives.  For small signals
 * it acts as (1 + z^-1)/2, a half-sample delay with a cos(w/2) droop; a short
 * symmetric even-length FIR E (least-squares fit of E(w) cos(w/2) = 1 over the
 * 0 .. 0.45 fs pass band, designed in init) follows it, so the small-signal
 * path is flat and its delay is a whole number of top-rate samples, which the
 * oversampler folds into its integer latency.  At 1x there is no room for
 * that correction: the curve is evaluated directly (aliasing as a plain
 * waveshaper).  Float throughout (fastmath.h: tanh <= 4e-7 relative,
 * log(1 + e^-2a) <= 2e-7 absolute): the wet path's rounding stays within
 * ~2e-6 of its full-scale level (see dsp/tanh_adaa.h); the curve parameters
 * are computed in double per frame and rounded once.
 *
 * Kernels.  Chosen once at init by the CPU (mixstage__cpu_avx2_fma): AVX2/FMA
 * eight samples per vector (1x: fastmath.h's rational tanh; oversampled: the
 * eight-wide ADAA of tanh_adaa.h and the AVX2 half-band sums of
 * oversample.c), else SSE2 four per vector (the x86-64 baseline), else
 * portable C.  The kernels round differently in the last bits, all within
 * the bounds above; a machine always runs the same one, so output is the
 * same for every block size and thread count.
 *
 * The default is 2x.  Figures at 48 kHz (tests/check_saturation prints the
 * aliasing; aliasing = energy of every non-harmonic component in
 * 20 Hz..20 kHz of a 5 kHz sine at 0 dBFS with 24 dB of drive, re full
 * scale; cost = callgrind instructions of process() per frame per channel
 * through the node host, stereo, drive 24 dB, 0.5 sine + noise, AVX2/FMA
 * kernels; in brackets the SSE2-only figures of the previous version):
 *
 *     factor   aliasing      cost (before)   latency
 *     1x       -35.9 dBFS       7   (24)      0
 *     2x       -65.3 dBFS     161  (256)     34    <- default
 *     4x       -85.4 dBFS     295  (473)     37
 *     8x      -110.1 dBFS     563  (902)     38
 *
 * The former default (8x, double precision) cost 2503 per frame per
 * channel; 2x meets the -60 dBFS requirement at 6 % of that.  In the
 * benchmark graph (32 stereo strips, callgrind, 1 s offline render,
 * bench_graph) the node costs, per frame per stereo strip including its
 * calls: 9.3 at 1x (16 before its fast path, 48 before the wide
 * kernels; 2 s render), 325 at the default 2x (515 before).
 *
 * Work follows the settings: at 100 % wet the dry line is only written (a
 * copy, so a later mix change finds its history), never mixed; output gain
 * is skipped at 0 dB; parameters are evaluated per frame only while a ramp
 * runs; the DC blocker runs only while the curve is asymmetric (bias != 0).
 * When bias returns to 0 its DC estimate stops following the signal and
 * decays with the blocker's own 5 Hz time constant, then is dropped below
 * 1e-9: no step.
 *
 * Parameters ramp linearly across one 32-frame control cell (no zipper);
 * the oversampling factor switches at the next cell and changes latency(), so
 * it is not automatable.  Output gain is applied after the dry/wet mix; the
 * dry path is delayed by latency() so the mix never comb-filters.
 */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "../dsp/fastmath.h"
#include "../dsp/tanh_adaa.h"
#include "../dsp/oversample.h"
#include "../node.h"

enum { P_DRIVE, P_BIAS, P_OUTPUT, P_MIX, P_OVERSAMPLING, P_COUNT };

static const mixstage_param_info sat_params[P_COUNT] = {
    {P_DRIVE, "drive", "Drive", MIXSTAGE_UNIT_DB, 0.0, 36.0, 0.0, 1, NULL},
    {P_BIAS, "bias", "Bias", MIXSTAGE_UNIT_NONE, -1.0, 1.0, 0.0, 1, NULL},
    {P_OUTPUT, "output", "Output", MIXSTAGE_UNIT_DB, -36.0, 12.0, 0.0, 1, NULL},
    {P_MIX, "mix", "Mix", MIXSTAGE_UNIT_PERCENT, 0.0, 100.0, 100.0, 1, NULL},
    {P_OVERSAMPLING, "oversampling", "Oversampling", MIXSTAGE_UNIT_ENUM, 0.0, 3.0, 1.0, 0,
     "1x|2x|4x|8x"},
};

#define NFACT 4           /* 1x, 2x, 4x, 8x */
#define MAXCH MIXSTAGE_OS_MAX_CHANNELS
#define CELL MIXSTAGE_CONTROL_FRAMES
#define EQ_MAX_HALF 5     /* up to 10 taps */
#define BIAS_SCALE 0.5    /* beta = BIAS_SCALE * bias */
#define DC_HZ 5.0
enum { DC_OFF, DC_TRACK, DC_RELEASE };
enum { K1X_PORTABLE, K1X_SSE2, K1X_AVX2 }; /* the 1x kernels (curve_1x) */

/* Half-length of the droop-correcting FIR per factor (taps = 2 * half):
 * chosen from the measured fit (pass band within 0.003 dB, see tests). */
static const int eq_half[NFACT] = {0, 5, 3, 3};

/* The curve parameters at one base frame. */
typedef struct sat_curve {
  double g, beta, tb, k; /* drive gain, bias offset, tanh(beta), 1/(g sech^2 beta) */
  double out, mix;
} sat_curve;

typedef struct sat_state {
  int nch;
  double fs;
  mixstage__oversampler os[NFACT];
  int cur;     /* index into os[] in use */
  int latency; /* of os[cur] */
  /* ramped parameters, as in gain.c */
  double prev[4], target[4]; /* drive gain, beta, output gain, mix fraction */
  int cell_pos;
  int want; /* oversampling index requested by the last update */
  int k1x;  /* the 1x kernel this machine runs (K1X_*) */
  sat_curve steady_cv; /* the curve at the targets (no libm calls per block) */
  /* steady_cv as the 1x kernel takes it with the output gain folded in
   * (the fast path of sat_process): drive, output / drive, tanh beta */
  float steady_g, steady_s_out, steady_tb;
  /* droop-correcting FIR after ADAA, per factor */
  double eq[NFACT][EQ_MAX_HALF];
  float eqf[NFACT][EQ_MAX_HALF];
  float *eq_hist; /* nch * 2 * EQ_MAX_HALF: the FIR's last inputs */
  /* ADAA memory: previous top-rate input */
  float x_prev[MAXCH];
  /* DC blocker, as y = x - d, d' = (1 - R) x + R d (d: the DC estimate). */
  double dc_r, dc_d[MAXCH];
  int dc_mode;        /* DC_OFF, DC_TRACK or DC_RELEASE */
  int dc_release;     /* frames of release left */
  int dc_release_len; /* frames for d to fall from 4 to 1e-9 */
  /* dry delay line: latency frames, sized for the largest factor */
  float *dry;
  int dry_cap, dry_pos;
} sat_state;

/* Least-squares design of the even-length symmetric FIR
 * E(w) = sum_k 2 e_k cos((k + 1/2) w) with E(w) cos(w/2) ~= 1 on [0, wp]
 * (normal equations on a dense grid; T <= 5 unknowns, Gaussian elimination
 * with partial pivoting). */
static void design_eq(double *e, int T, double wp) {
  double A[EQ_MAX_HALF][EQ_MAX_HALF + 1];
  memset(A, 0, sizeof A);
  const int npts = 512;
  for (int i = 0; i < npts; i++) {
    double w = wp * (double)i / (double)(npts - 1), b[EQ_MAX_HALF];
    for (int k = 0; k < T; k++) b[k] = 2.0 * cos(((double)k + 0.5) * w) * cos(0.5 * w);
    for (int r = 0; r < T; r++) {
      for (int c = 0; c < T; c++) A[r][c] += b[r] * b[c];
      A[r][T] += b[r];
    }
  }
  for (int col = 0; col < T; col++) {
    int piv = col;
    for (int r = col + 1; r < T; r++)
      if (fabs(A[r][col]) > fabs(A[piv][col])) piv = r;
    if (piv != col)
      for (int c = 0; c <= T; c++) {
        double t = A[col][c];
        A[col][c] = A[piv][c];
        A[piv][c] = t;
      }
    for (int r = col + 1; r < T; r++) {
      double f = A[r][col] / A[col][col];
      for (int c = col; c <= T; c++) A[r][c] -= f * A[col][c];
    }
  }
  for (int r = T - 1; r >= 0; r--) {
    double s = A[r][T];
    for (int c = r + 1; c < T; c++) s -= A[r][c] * e[c];
    e[r] = s / A[r][r];
  }
  /* Exact unity at DC: E(0) = 1. */
  double dc = 0.0;
  for (int k = 0; k < T; k++) dc += 2.0 * e[k];
  for (int k = 0; k < T; k++) e[k] /= dc;
}

/* Top-rate delay of ADAA (1/2) plus the correcting FIR ((2T - 1)/2). */
static int extra_hi_for(int idx) { return idx == 0 ? 0 : eq_half[idx]; }

static void sat_fini(void *s, const mixstage__node_env *env) {
  sat_state *st = s;
  for (int i = 0; i < NFACT; i++) mixstage__os_fini(&st->os[i], env->alloc);
  mixstage__free(env->alloc, st->eq_hist);
  mixstage__free(env->alloc, st->dry);
  st->eq_hist = NULL;
  st->dry = NULL;
}

static void sat_reset(void *s);
static void curve_at(const sat_state *st, int k, sat_curve *cv);

static int sat_init(void *s, const mixstage__node_env *env) {
  sat_state *st = s;
  int nch = env->channels;
  if (nch < 1 || nch > MAXCH || !(env->sample_rate > 0.0)) return MIXSTAGE_EINVAL;
  st->nch = nch;
  st->fs = env->sample_rate;
  st->dry_cap = 1;
  for (int i = 0; i < NFACT; i++) {
    int r = mixstage__os_init_design(&st->os[i], env->alloc, nch, 1 << i, extra_hi_for(i),
                                     MIXSTAGE_OS_LIGHT);
    if (r != MIXSTAGE_OK) {
      sat_fini(s, env);
      return r;
    }
    int lat = mixstage__os_latency(&st->os[i]);
    if (lat > st->dry_cap) st->dry_cap = lat;
    if (i > 0) {
      design_eq(st->eq[i], eq_half[i], 2.0 * 3.14159265358979323846 * 0.45 / (double)(1 << i));
      for (int m = 0; m < eq_half[i]; m++) st->eqf[i][m] = (float)st->eq[i][m];
    }
  }
  st->eq_hist = mixstage__calloc(env->alloc, (size_t)nch * 2 * EQ_MAX_HALF, sizeof(float));
  st->dry = mixstage__calloc(env->alloc, (size_t)nch * (size_t)st->dry_cap, sizeof(float));
  if (!st->eq_hist || !st->dry) {
    sat_fini(s, env);
    return MIXSTAGE_ENOMEM;
  }
  /* One-pole DC blocker y = x - x1 + R y1, R = exp(-2 pi fc / fs). */
  st->dc_r = exp(-2.0 * 3.14159265358979323846 * DC_HZ / st->fs);
  /* |d| <= max |wet| < 4; after release it is dropped at 1e-9 (no click). */
  st->dc_release_len = (int)ceil(log(4.0 / 1e-9) / -log(st->dc_r));
  st->cur = st->want = 1;
#if defined(MIXSTAGE_HAVE_X86_TANHR)
  st->k1x = mixstage__cpu_avx2_fma() ? K1X_AVX2 : K1X_SSE2;
#else
  st->k1x = K1X_PORTABLE;
#endif
  st->latency = mixstage__os_latency(&st->os[st->cur]);
  st->prev[0] = st->target[0] = 1.0;
  st->prev[3] = st->target[3] = 1.0;
  st->prev[2] = st->target[2] = 1.0;
  sat_reset(s);
  return MIXSTAGE_OK;
}

/* Clear the wet path's memory for the current factor. */
static void clear_wet(sat_state *st) {
  mixstage__os_reset(&st->os[st->cur]);
  memset(st->eq_hist, 0, sizeof(float) * (size_t)st->nch * 2 * EQ_MAX_HALF);
  memset(st->x_prev, 0, sizeof st->x_prev);
}

/* The curve at the targets, and its floats for the 1x fast path (rounded
 * as sat_process rounds them per block). */
static void set_steady(sat_state *st) {
  curve_at(st, CELL, &st->steady_cv);
  st->steady_g = (float)st->steady_cv.g;
  st->steady_s_out = (float)(st->steady_cv.out / st->steady_cv.g);
  st->steady_tb = (float)st->steady_cv.tb;
}

static void sat_reset(void *s) {
  sat_state *st = s;
  for (int i = 0; i < 4; i++) st->prev[i] = st->target[i];
  st->cell_pos = CELL;
  if (st->want != st->cur) {
    st->cur = st->want;
    st->latency = mixstage__os_latency(&st->os[st->cur]);
  }
  clear_wet(st);
  set_steady(st);
  memset(st->dc_d, 0, sizeof st->dc_d);
  st->dc_mode = st->target[1] != 0.0 ? DC_TRACK : DC_OFF;
  st->dc_release = 0;
  memset(st->dry, 0, sizeof(float) * (size_t)st->nch * (size_t)st->dry_cap);
  st->dry_pos = 0;
}

static void sat_update(void *s, const double *p) {
  sat_state *st = s;
  double f = st->cell_pos >= CELL ? 1.0 : (double)st->cell_pos / (double)CELL;
  for (int i = 0; i < 4; i++) st->prev[i] += (st->target[i] - st->prev[i]) * f;
  st->target[0] = mixstage__db_to_gain(p[P_DRIVE]);
  st->target[1] = BIAS_SCALE * p[P_BIAS];
  st->target[2] = mixstage__db_to_gain(p[P_OUTPUT]);
  st->target[3] = p[P_MIX] * 0.01;
  st->cell_pos = 0;
  set_steady(st);
  /* The curve is asymmetric (makes DC) while bias is or ramps from non-zero. */
  if (st->prev[1] != 0.0 || st->target[1] != 0.0) st->dc_mode = DC_TRACK;
  int want = (int)lrint(p[P_OVERSAMPLING]);
  st->want = want < 0 ? 0 : want >= NFACT ? NFACT - 1 : want;
  if (st->want != st->cur) {
    /* Update runs at a cell boundary: switch now, from clean state.  The
     * new factor's latency applies from here on. */
    st->cur = st->want;
    st->latency = mixstage__os_latency(&st->os[st->cur]);
    clear_wet(st);
    memset(st->dry, 0, sizeof(float) * (size_t)st->nch * (size_t)st->dry_cap);
    st->dry_pos = 0;
  }
}

static void curve_at(const sat_state *st, int k, sat_curve *cv) {
  double f = (double)k / (double)CELL, v[4];
  for (int i = 0; i < 4; i++)
    v[i] = k >= CELL ? st->target[i] : st->prev[i] + (st->target[i] - st->prev[i]) * f;
  double ch = cosh(v[1]);
  cv->g = v[0];
  cv->beta = v[1];
  cv->tb = tanh(v[1]);
  cv->k = ch * ch / v[0];
  cv->out = v[2];
  cv->mix = v[3];
}

/* 1x: y = (tanh(g x + beta) - tanh beta) / (g sech^2 beta), rewritten with
 * tanh(a + b) - tanh b = tanh a (1 - tanh^2 b) / (1 + tanh a tanh b) as
 *     y = t s / (1 + tb t),   t = tanh(g x), s = 1/g (times the output gain
 * when nothing follows), tb = tanh beta,
 * so no cancellation at any bias (small signals keep float relative
 * precision) and one tanh per sample.  The tanh is fastmath.h's rational form
 * (<= 4e-7 relative), then three roundings; the symmetric curve (tb = 0) is
 * t s, and t s / (1 + 0 t) gives the same bits, so a block that ramps the
 * bias through 0 changes nothing.  Every sample is computed alone (the
 * parameter arrays gs = 1 are per frame, padded to n + 8 with zeros), so no
 * sample's value depends on its place in the block.  Three kernels, one per
 * machine (chosen at init): AVX2/FMA eight samples at a time, SSE2 four,
 * portable scalar. */
static void curve_1x_portable(float *const *buf, int nch, int n, const float *g, const float *s,
                              const float *tb, int gs, int asym) {
  for (int c = 0; c < nch; c++)
    for (int i = 0; i < n; i++) {
      int k = gs ? i : 0;
      float t = mixstage__tanhf_rat(g[k] * buf[c][i]);
      buf[c][i] = asym ? t * s[k] / (1.0f + tb[k] * t) : t * s[k];
    }
}

#if defined(MIXSTAGE_HAVE_X86_TANHR)
/* One vector of the curve: t s, or t s / (1 + tb t) when asym. */
static inline __m128 sat_curve4(__m128 x, __m128 G, __m128 S, __m128 TB, int asym) {
  const __m128 t = mixstage__tanh_rat4(_mm_mul_ps(G, x));
  return asym ? _mm_div_ps(_mm_mul_ps(t, S), _mm_add_ps(_mm_set1_ps(1.0f), _mm_mul_ps(TB, t))) : _mm_mul_ps(t, S);
}

static void curve_1x_sse2(float *const *buf, int nch, int n, const float *g, const float *s,
                          const float *tb, int gs, int asym) {
  const int whole = n & ~3;
  for (int c = 0; c < nch; c++) {
    float *x = buf[c];
    __m128 G = _mm_set1_ps(g[0]), S = _mm_set1_ps(s[0]), TB = _mm_set1_ps(tb[0]);
    int i = 0;
    for (; i < whole; i += 4) {
      if (gs) {
        G = _mm_loadu_ps(g + i);
        S = _mm_loadu_ps(s + i);
        TB = _mm_loadu_ps(tb + i);
      }
      _mm_storeu_ps(x + i, sat_curve4(_mm_loadu_ps(x + i), G, S, TB, asym));
    }
    if (i < n) { /* the last n - i samples, zero-padded to a vector */
      float tail[4] = {0.0f, 0.0f, 0.0f, 0.0f};
      memcpy(tail, x + i, sizeof(float) * (size_t)(n - i));
      if (gs) {
        G = _mm_loadu_ps(g + i);
        S = _mm_loadu_ps(s + i);
        TB = _mm_loadu_ps(tb + i);
      }
      _mm_storeu_ps(tail, sat_curve4(_mm_loadu_ps(tail), G, S, TB, asym));
      memcpy(x + i, tail, sizeof(float) * (size_t)(n - i));
    }
  }
}

static inline MIXSTAGE_AVX2_FMA __m256 sat_curve8(__m256 x, __m256 G, __m256 S, __m256 TB, int asym) {
  const __m256 t = mixstage__tanh_rat8(_mm256_mul_ps(G, x));
  return asym ? _mm256_div_ps(_mm256_mul_ps(t, S), _mm256_fmadd_ps(TB, t, _mm256_set1_ps(1.0f)))
              : _mm256_mul_ps(t, S);
}

/* The last n - i samples of x, zero-padded to a vector. */
static inline MIXSTAGE_AVX2_FMA __attribute__((always_inline)) void
curve_1x_avx2_tail(float *x, int i, int n, const float *g, const float *s, const float *tb, const int gs,
                   const int asym) {
  float tail[8] = {0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f};
  memcpy(tail, x + i, sizeof(float) * (size_t)(n - i));
  const int q = gs ? i : 0;
  const __m256 G = gs ? _mm256_loadu_ps(g + q) : _mm256_set1_ps(g[0]);
  const __m256 S = gs ? _mm256_loadu_ps(s + q) : _mm256_set1_ps(s[0]);
  const __m256 TB = gs ? _mm256_loadu_ps(tb + q) : _mm256_set1_ps(tb[0]);
  _mm256_storeu_ps(tail, sat_curve8(_mm256_loadu_ps(tail), G, S, TB, asym));
  memcpy(x + i, tail, sizeof(float) * (size_t)(n - i));
}

/* The loops for one kind of parameters (per frame or one set) and curve,
 * so the branches leave them; channels two at a time, so the curve's
 * constants are set up once per pair and the loop runs half as often. */
static inline MIXSTAGE_AVX2_FMA __attribute__((always_inline)) void
curve_1x_avx2_run(float *const *buf, int nch, int n, const float *g, const float *s, const float *tb,
                  const int gs, const int asym) {
  const int whole = n & ~7;
  int c = 0;
  for (; c + 2 <= nch; c += 2) {
    float *x0 = buf[c], *x1 = buf[c + 1];
    __m256 G = _mm256_set1_ps(g[0]), S = _mm256_set1_ps(s[0]), TB = _mm256_set1_ps(tb[0]);
    for (int i = 0; i < whole; i += 8) {
      if (gs) {
        G = _mm256_loadu_ps(g + i);
        S = _mm256_loadu_ps(s + i);
        TB = _mm256_loadu_ps(tb + i);
      }
      _mm256_storeu_ps(x0 + i, sat_curve8(_mm256_loadu_ps(x0 + i), G, S, TB, asym));
      _mm256_storeu_ps(x1 + i, sat_curve8(_mm256_loadu_ps(x1 + i), G, S, TB, asym));
    }
    if (whole < n) {
      curve_1x_avx2_tail(x0, whole, n, g, s, tb, gs, asym);
      curve_1x_avx2_tail(x1, whole, n, g, s, tb, gs, asym);
    }
  }
  if (c < nch) {
    float *x = buf[c];
    __m256 G = _mm256_set1_ps(g[0]), S = _mm256_set1_ps(s[0]), TB = _mm256_set1_ps(tb[0]);
    for (int i = 0; i < whole; i += 8) {
      if (gs) {
        G = _mm256_loadu_ps(g + i);
        S = _mm256_loadu_ps(s + i);
        TB = _mm256_loadu_ps(tb + i);
      }
      _mm256_storeu_ps(x + i, sat_curve8(_mm256_loadu_ps(x + i), G, S, TB, asym));
    }
    if (whole < n) curve_1x_avx2_tail(x, whole, n, g, s, tb, gs, asym);
  }
}

static MIXSTAGE_AVX2_FMA void curve_1x_avx2(float *const *buf, int nch, int n, const float *g,
                                            const float *s, const float *tb, int gs, int asym) {
  if (gs && asym) curve_1x_avx2_run(buf, nch, n, g, s, tb, 1, 1);
  else if (gs) curve_1x_avx2_run(buf, nch, n, g, s, tb, 1, 0);
  else if (asym) curve_1x_avx2_run(buf, nch, n, g, s, tb, 0, 1);
  else curve_1x_avx2_run(buf, nch, n, g, s, tb, 0, 0);
}
#endif

static inline void curve_1x(int kern, float *const *buf, int nch, int n, const float *g, const float *s,
                     const float *tb, int gs, int asym) {
#if defined(MIXSTAGE_HAVE_X86_TANHR)
  if (kern == K1X_AVX2) {
    curve_1x_avx2(buf, nch, n, g, s, tb, gs, asym);
    return;
  }
  if (kern == K1X_SSE2) {
    curve_1x_sse2(buf, nch, n, g, s, tb, gs, asym);
    return;
  }
#endif
  (void)kern;
  curve_1x_portable(buf, nch, n, g, s, tb, gs, asym);
}

/* Droop-correcting FIR (even length 2T, symmetric) over n samples in place:
 * out[j] = sum_m e[m] (y[j-T+1+m] + y[j-T-m]); hist keeps the last 2T-1
 * inputs (oldest first).  Float: 10 taps of unit-scale values. */
static void droop_fir(float *x, int n, const float *e, int T, float *hist) {
  const int P = 2 * T - 1;
  float w[2 * EQ_MAX_HALF + 8 * CELL + 8];
  memcpy(w, hist, sizeof(float) * (size_t)P);
  memcpy(w + P, x, sizeof(float) * (size_t)n);
  memset(w + P + n, 0, sizeof(float) * 4);
  memcpy(hist, w + n, sizeof(float) * (size_t)P);
#if defined(MIXSTAGE_HAVE_V4F)
  for (int j = 0; j < n; j += 4) {
    mixstage__v4f acc = mixstage__v4f_set1(0.0f);
    for (int m = 0; m < T; m++) {
      mixstage__v4f a, b;
      memcpy(&a, w + P + j - T + 1 + m, sizeof a);
      memcpy(&b, w + P + j - T - m, sizeof b);
      acc += e[m] * (a + b);
    }
    if (j + 4 <= n) memcpy(x + j, &acc, sizeof acc);
    else for (int q = 0; q < n - j; q++) x[j + q] = acc[q];
  }
#else
  for (int j = 0; j < n; j++) {
    float acc = 0.0f;
    for (int m = 0; m < T; m++) acc += e[m] * (w[P + j - T + 1 + m] + w[P + j - T - m]);
    x[j] = acc;
  }
#endif
}

/* Every case (sat_process takes the common one itself). */
static __attribute__((noinline)) void sat_process_general(sat_state *st, float *const *buf, int nch,
                                                          int nframes) {
  mixstage__oversampler *os = &st->os[st->cur];
  const int L = os->factor, lat = st->latency;
  const int steady = st->cell_pos >= CELL;

  /* A finished ramp back to bias 0: the curve is symmetric again, so the DC
   * estimate stops following the signal and decays with the blocker's own
   * time constant (no step), then is dropped.  Decided at the cell
   * boundary, so any block split sees it at the same frame. */
  if (steady && st->dc_mode == DC_TRACK && st->target[1] == 0.0) {
    st->dc_mode = DC_RELEASE;
    st->dc_release = st->dc_release_len;
  }

  /* Curve parameters: one set when steady (nothing moves), else one per
   * frame (the ramp depends only on the position in the cell, so any block
   * split gives the same values). */
  sat_curve cv[CELL];
  const int nc = steady ? 1 : nframes;
  if (steady) cv[0] = st->steady_cv;
  else curve_at(st, st->cell_pos + 1, &cv[0]);
  for (int i = 1; i < nc; i++) curve_at(st, st->cell_pos + i + 1, &cv[i]);
  const int cs = steady ? 0 : 1; /* stride into cv[] */
  const int wet_only = st->target[3] == 1.0 && (steady || st->prev[3] == 1.0);
  const int unity_out = st->target[2] == 1.0 && (steady || st->prev[2] == 1.0);
  const int dc_on = st->dc_mode != DC_OFF;

  /* Dry path: a delay of exactly lat frames.  At 100 % wet only the line is
   * written (a copy), so a later mix change finds the right history. */
  float dry_blk[MAXCH][CELL];
  if (lat > 0) {
    int pos0 = st->dry_pos;
    for (int c = 0; c < nch; c++) {
      float *line = st->dry + (size_t)c * (size_t)st->dry_cap;
      if (wet_only && lat >= nframes) {
        int first = lat - pos0 < nframes ? lat - pos0 : nframes;
        memcpy(line + pos0, buf[c], sizeof(float) * (size_t)first);
        memcpy(line, buf[c] + first, sizeof(float) * (size_t)(nframes - first));
        continue;
      }
      int pos = pos0;
      for (int i = 0; i < nframes; i++) {
        dry_blk[c][i] = line[pos];
        line[pos] = buf[c][i];
        pos = pos + 1 == lat ? 0 : pos + 1;
      }
    }
    st->dry_pos = (int)(((int64_t)pos0 + nframes) % lat);
  } else if (!wet_only) {
    for (int c = 0; c < nch; c++) memcpy(dry_blk[c], buf[c], sizeof(float) * (size_t)nframes);
  }

  /* Output gain folds into the 1x curve when nothing follows it. */
  const int fold_out = L == 1 && wet_only && !dc_on;

  if (L == 1) {
    float gf[CELL + 8], sf[CELL + 8], tbf[CELL + 8];
    int asym = 0;
    for (int i = 0; i < nc; i++) {
      gf[i] = (float)cv[i].g;
      sf[i] = (float)((fold_out ? cv[i].out : 1.0) / cv[i].g);
      tbf[i] = (float)cv[i].tb;
      if (tbf[i] != 0.0f) asym = 1;
    }
    if (cs) /* the kernels read whole vectors of per-frame values */
      for (int i = nc; i < nc + 8; i++) gf[i] = sf[i] = tbf[i] = 0.0f;
    curve_1x(st->k1x, buf, nch, nframes, gf, sf, tbf, cs, asym);
  } else {
    mixstage__os_up(os, (const float *const *)buf, nframes);
    const int n = nframes * L;
    float pg[8 * CELL + 8], pb[8 * CELL + 8], ptb[8 * CELL + 8], pk[8 * CELL + 8],
        pig[8 * CELL + 8], lbuf[8 * CELL + 8];
    const int np = steady ? 1 : n;
    for (int j = 0; j < np; j++) {
      const sat_curve *p = &cv[j / L];
      pg[j] = (float)p->g;
      pb[j] = (float)p->beta;
      ptb[j] = (float)p->tb;
      pk[j] = (float)p->k;
      pig[j] = (float)(1.0 / p->g);
    }
    for (int j = np; j < np + 8; j++) pg[j] = pb[j] = ptb[j] = pk[j] = pig[j] = 1.0f;
    const mixstage__adaa_par P = {pg, pb, ptb, pk, pig, steady ? 0 : 1, st->k1x == K1X_AVX2};
    for (int c = 0; c < nch; c++) {
      mixstage__tanh_adaa(os->hi[c], n, &st->x_prev[c], &P, lbuf);
      droop_fir(os->hi[c], n, st->eqf[st->cur], eq_half[st->cur],
                st->eq_hist + (size_t)c * 2 * EQ_MAX_HALF);
    }
    mixstage__os_down(os, buf, nframes);
  }

  /* DC blocker (double: its pole is 6.5e-4 from 1 at 48 kHz, where float
   * state would round the estimate by 1e-4 of itself). */
  if (dc_on) {
    const double R = st->dc_r, A = 1.0 - R;
    const int track = st->dc_mode == DC_TRACK;
    const int nrun = track ? nframes : (st->dc_release < nframes ? st->dc_release : nframes);
    for (int c = 0; c < nch; c++) {
      double d = st->dc_d[c];
      float *x = buf[c];
      if (track) {
        for (int i = 0; i < nframes; i++) {
          double xw = (double)x[i];
          x[i] = (float)(xw - d);
          d = A * xw + R * d;
          if (fabs(d) < 1e-30) d = 0.0; /* no denormals in the feedback path */
        }
      } else {
        for (int i = 0; i < nrun; i++) {
          x[i] = (float)((double)x[i] - d);
          d *= R;
        }
      }
      st->dc_d[c] = d;
    }
    if (!track) {
      st->dc_release -= nrun;
      if (st->dc_release == 0) {
        st->dc_mode = DC_OFF;
        memset(st->dc_d, 0, sizeof st->dc_d); /* below 1e-9 by now */
      }
    }
  }

  /* Dry/wet mix and output gain, only where the settings ask. */
  if (!wet_only) {
    for (int c = 0; c < nch; c++)
      for (int i = 0; i < nframes; i++) {
        const sat_curve *p = &cv[i * cs];
        float m = (float)p->mix, o = (float)p->out;
        buf[c][i] = o * ((1.0f - m) * dry_blk[c][i] + m * buf[c][i]);
      }
  } else if (!unity_out && !fold_out) {
    for (int c = 0; c < nch; c++)
      for (int i = 0; i < nframes; i++) buf[c][i] *= (float)cv[i * cs].out;
  }

  st->cell_pos += nframes;
  if (st->cell_pos > CELL) st->cell_pos = CELL;
}

/* Any number of frames (max_frames): the general path takes them a cell at
 * most per pass, and while its ramps run (the cell update() was called at)
 * only to that cell's end, where they come to rest and the DC blocker's
 * mode is decided, as a call per cell would see it. */
static void sat_process(void *s, float *const *buf, int nch, int nframes, const float *const *key,
                        int key_nch) {
  (void)key;
  (void)key_nch;
  sat_state *st = s;
  float *part[MAXCH];
  for (int c = 0; c < nch; c++) part[c] = buf[c];
  for (int done = 0; done < nframes;) {
    /* The common case, 1x at 100 % wet with nothing moving and no DC to
     * remove: the curve alone, output gain folded in, no dry line (1x has
     * no latency).  The same values and kernel as the general path; once
     * taken it holds until the next update(). */
    if (st->cur == 0 && st->cell_pos >= CELL && st->target[3] == 1.0 && st->dc_mode == DC_OFF) {
      curve_1x(st->k1x, part, nch, nframes - done, &st->steady_g, &st->steady_s_out, &st->steady_tb, 0,
               st->steady_tb != 0.0f);
      return; /* cell_pos stays CELL */
    }
    int n = nframes - done, lim = st->cell_pos < CELL ? CELL - st->cell_pos : CELL;
    if (n > lim) n = lim;
    sat_process_general(st, part, nch, n);
    done += n;
    for (int c = 0; c < nch; c++) part[c] = buf[c] + done;
  }
}

static int sat_latency(const void *s) { return ((const sat_state *)s)->latency; }

/* The linear-phase kernels ring for as long after their centre as before it
 * (latency frames), and the DC blocker lets a removed offset decay by 60 dB
 * in ln(1000) / (2 pi 5 Hz) = 0.22 s. */
static int64_t sat_tail(const void *s) {
  const sat_state *st = s;
  return (int64_t)st->latency + (int64_t)ceil(st->fs * 6.907755278982137 / (2.0 * 3.14159265358979323846 * DC_HZ));
}

const mixstage__node_class mixstage__saturation_class = {
    .name = "saturation",
    .description = "Oversampled soft clipper (tanh, antiderivative anti-aliasing) with bias, mix",
    .params = sat_params,
    .num_params = P_COUNT,
    .accepts_key = 0,
    .state_size = sizeof(sat_state),
    .init = sat_init,
    .fini = sat_fini,
    .reset = sat_reset,
    .update = sat_update,
    .process = sat_process,
    .latency = sat_latency,
    .tail = sat_tail,
    .gain_reduction = NULL,
    .max_frames = 8 * CELL, /* a block; sat_process cuts the general path into cells */
};
