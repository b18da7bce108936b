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
 * Aliasing.  The curve runs at 2x, 4x or 8x (oversample.h) and is evaluated
 * with first-order antiderivative anti-aliasing (ADAA; Parker, Zavalishin,
 * Le Bivic, "Reducing the aliasing of nonlinear waveshaping using continuous-
 * time convolution", DAFx-16; Bilbao, Esqueda, Parker, Valimaki, "Antiderivative
 * antialiasing for memoryless nonlinearities", IEEE SPL 24(7), 2017):
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
 * waveshaper).
 *
 * Parameters ramp linearly across one 32-frame control cell (no zipper);
 * the oversampling factor switches at the next cell and changes latency(), so
 * it is not automatable.  Output gain is applied after the dry/wet mix; the
 * dry path is delayed by latency() so the mix never comb-filters.
 */
#include <math.h>
#include <string.h>

#include "../dsp/oversample.h"
#include "../node.h"

enum { P_DRIVE, P_BIAS, P_OUTPUT, P_MIX, P_OVERSAMPLING, P_COUNT };

static const mixstage_param_info sat_params[P_COUNT] = {
    {P_DRIVE, "drive", "Drive", MIXSTAGE_UNIT_DB, 0.0, 36.0, 0.0, 1, NULL},
    {P_BIAS, "bias", "Bias", MIXSTAGE_UNIT_NONE, -1.0, 1.0, 0.0, 1, NULL},
    {P_OUTPUT, "output", "Output", MIXSTAGE_UNIT_DB, -36.0, 12.0, 0.0, 1, NULL},
    {P_MIX, "mix", "Mix", MIXSTAGE_UNIT_PERCENT, 0.0, 100.0, 100.0, 1, NULL},
    {P_OVERSAMPLING, "oversampling", "Oversampling", MIXSTAGE_UNIT_ENUM, 0.0, 3.0, 3.0, 0,
     "1x|2x|4x|8x"},
};

#define NFACT 4           /* 1x, 2x, 4x, 8x */
#define MAXCH MIXSTAGE_OS_MAX_CHANNELS
#define CELL MIXSTAGE_CONTROL_FRAMES
#define EQ_MAX_HALF 5     /* up to 10 taps */
#define BIAS_SCALE 0.5    /* beta = BIAS_SCALE * bias */
#define DC_HZ 5.0
#define ADAA_EPS 1e-5     /* below this |du| the quotient is replaced by tanh(mid) */

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
  /* droop-correcting FIR after ADAA, per factor */
  double eq[NFACT][EQ_MAX_HALF];
  double *eq_hist; /* nch * 2 * (2 * EQ_MAX_HALF) doubled ring */
  int eq_pos;
  /* ADAA memory: previous top-rate input and F at it (for cached g, beta) */
  double x_prev[MAXCH], f_prev[MAXCH], f_g[MAXCH], f_beta[MAXCH];
  /* DC blocker */
  double dc_r, dc_x1[MAXCH], dc_y1[MAXCH];
  /* dry delay line: latency frames, sized for the largest factor */
  float *dry;
  int dry_cap, dry_pos;
  float dry_blk[MAXCH][CELL];
} sat_state;

/* log cosh u without overflow and without cancellation near 0:
 * log cosh u = log1p(2 sinh^2(u/2)) for small |u|, |u| + log1p(e^-2|u|) - log 2 otherwise. */
static double log_cosh(double u) {
  double a = fabs(u);
  if (a < 1.0) {
    double s = sinh(0.5 * a);
    return log1p(2.0 * s * s);
  }
  return a + log1p(exp(-2.0 * a)) - 0.69314718055994530942;
}

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

static int sat_init(void *s, const mixstage__node_env *env) {
  sat_state *st = s;
  int nch = env->channels;
  if (nch < 1 || nch > MAXCH || !(env->sample_rate > 0.0)) return MIXSTAGE_EINVAL;
  st->nch = nch;
  st->fs = env->sample_rate;
  st->dry_cap = 1;
  for (int i = 0; i < NFACT; i++) {
    int r = mixstage__os_init_ex(&st->os[i], env->alloc, nch, 1 << i, extra_hi_for(i));
    if (r != MIXSTAGE_OK) {
      sat_fini(s, env);
      return r;
    }
    int lat = mixstage__os_latency(&st->os[i]);
    if (lat > st->dry_cap) st->dry_cap = lat;
    if (i > 0) design_eq(st->eq[i], eq_half[i], 2.0 * 3.14159265358979323846 * 0.45 / (double)(1 << i));
  }
  st->eq_hist = mixstage__calloc(env->alloc, (size_t)nch * 4 * EQ_MAX_HALF, sizeof(double));
  st->dry = mixstage__calloc(env->alloc, (size_t)nch * (size_t)st->dry_cap, sizeof(float));
  if (!st->eq_hist || !st->dry) {
    sat_fini(s, env);
    return MIXSTAGE_ENOMEM;
  }
  /* One-pole DC blocker y = x - x1 + R y1, R = exp(-2 pi fc / fs). */
  st->dc_r = exp(-2.0 * 3.14159265358979323846 * DC_HZ / st->fs);
  st->cur = st->want = 2;
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
  memset(st->eq_hist, 0, sizeof(double) * (size_t)st->nch * 4 * EQ_MAX_HALF);
  st->eq_pos = 0;
  for (int c = 0; c < MAXCH; c++) {
    st->x_prev[c] = 0.0;
    st->f_g[c] = -1.0; /* no cached F */
  }
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
  memset(st->dc_x1, 0, sizeof st->dc_x1);
  memset(st->dc_y1, 0, sizeof st->dc_y1);
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

static void sat_process(void *s, float *const *buf, int nch, int nframes, const float *const *key,
                        int key_nch) {
  (void)key;
  (void)key_nch;
  sat_state *st = s;
  mixstage__oversampler *os = &st->os[st->cur];
  const int L = os->factor, lat = st->latency;
  sat_curve cv[CELL];

  /* Per-frame curve parameters (the ramp depends only on the position in
   * the cell, so any block split gives the same values). */
  int steady = st->cell_pos >= CELL;
  for (int i = 0; i < nframes; i++) {
    if (steady && i > 0) cv[i] = cv[0];
    else curve_at(st, st->cell_pos + i + 1, &cv[i]);
  }

  /* Dry path: a delay of exactly lat frames. */
  for (int c = 0; c < nch; c++) {
    float *line = st->dry + (size_t)c * (size_t)st->dry_cap;
    int pos = st->dry_pos;
    for (int i = 0; i < nframes; i++) {
      if (lat == 0) {
        st->dry_blk[c][i] = buf[c][i];
        continue;
      }
      st->dry_blk[c][i] = line[pos];
      line[pos] = buf[c][i];
      pos = pos + 1 == lat ? 0 : pos + 1;
    }
    if (c == nch - 1) st->dry_pos = pos;
  }

  mixstage__os_up(os, (const float *const *)buf, nframes);

  const int T = st->cur == 0 ? 0 : eq_half[st->cur], H = 2 * T;
  const double *e = st->eq[st->cur];
  int epos_end = st->eq_pos;
  for (int c = 0; c < nch; c++) {
    float *x = os->hi[c];
    double xp = st->x_prev[c], fp = st->f_prev[c], fg = st->f_g[c], fb = st->f_beta[c];
    double *hist = st->eq_hist + (size_t)c * 2 * (size_t)(2 * EQ_MAX_HALF);
    int epos = st->eq_pos;
    for (int i = 0; i < nframes; i++) {
      const sat_curve *p = &cv[i];
      for (int j = 0; j < L; j++) {
        double xn = (double)x[i * L + j];
        double un = p->g * xn + p->beta, y;
        if (L == 1) {
          x[i * L + j] = (float)((tanh(un) - p->tb) * p->k);
          continue;
        }
        /* ADAA: F at the previous input, recomputed only if the curve moved. */
        double up = p->g * xp + p->beta, du = un - up;
        if (fg != p->g || fb != p->beta) {
          fp = log_cosh(up);
          fg = p->g;
          fb = p->beta;
        }
        double fn = log_cosh(un);
        double d = fabs(du) > ADAA_EPS ? (fn - fp) / du : tanh(0.5 * (un + up));
        y = (d - p->tb) * p->k;
        xp = xn;
        fp = fn;
        /* Droop-correcting FIR (even length 2T, symmetric). */
        epos = (epos == 0 ? H : epos) - 1;
        hist[epos] = hist[epos + H] = y;
        const double *w = hist + epos;
        double acc = 0.0;
        for (int m = 0; m < T; m++) acc += e[m] * (w[T - 1 - m] + w[T + m]);
        x[i * L + j] = (float)acc;
      }
    }
    st->x_prev[c] = xp;
    st->f_prev[c] = fp;
    st->f_g[c] = fg;
    st->f_beta[c] = fb;
    epos_end = epos;
  }
  st->eq_pos = epos_end;

  mixstage__os_down(os, buf, nframes);

  const double R = st->dc_r;
  for (int c = 0; c < nch; c++) {
    double x1 = st->dc_x1[c], y1 = st->dc_y1[c];
    for (int i = 0; i < nframes; i++) {
      double xw = (double)buf[c][i];
      double yw = xw - x1 + R * y1;
      if (fabs(yw) < 1e-30) yw = 0.0; /* no denormals in the feedback path */
      x1 = xw;
      y1 = yw;
      float m = (float)cv[i].mix, o = (float)cv[i].out;
      buf[c][i] = o * ((1.0f - m) * st->dry_blk[c][i] + m * (float)yw);
    }
    st->dc_x1[c] = x1;
    st->dc_y1[c] = y1;
  }

  st->cell_pos += nframes;
  if (st->cell_pos > CELL) st->cell_pos = CELL;
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
};
