/* Gain staging, mix assessment and reference A/B (see include/mixstage/assess.h).
 *
 * Everything here is edit-time analysis over whole buffers, built on the
 * public API only: graphs are measured by rendering them (solo, bypass) or
 * bouncing them, loudness comes from mixstage_measure() (libebur128).
 * Spectra use a small iterative radix-2 FFT (Cooley-Tukey, decimation in
 * time) written here; sums are in double.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mixstage.h"

#define MAXCH 64
#define PI 3.14159265358979323846

static double db_pow(double p) { return p > 0.0 ? 10.0 * log10(p) : -INFINITY; }

static int check_buffer(const float *data, int64_t frames, int channels) {
  if (!data) return MIXSTAGE_ENULL;
  if (frames < 1 || channels < 1 || channels > MAXCH) return MIXSTAGE_EINVAL;
  return MIXSTAGE_OK;
}

static int check_rate(double rate) {
  return (rate >= 8000.0 && rate <= 768000.0) ? MIXSTAGE_OK : MIXSTAGE_EINVAL;
}

/* ---- FFT ------------------------------------------------------------------- */

typedef struct fft {
  int n, log2n;
  double *cs; /* cos, sin of 2 pi k / n for k < n/2, interleaved */
} fft;

static int fft_init(fft *f, int n) {
  f->n = n;
  f->log2n = 0;
  while ((1 << f->log2n) < n) f->log2n++;
  f->cs = malloc(sizeof(double) * (size_t)n);
  if (!f->cs) return MIXSTAGE_ENOMEM;
  for (int k = 0; k < n / 2; k++) {
    double w = 2.0 * PI * k / n;
    f->cs[2 * k] = cos(w);
    f->cs[2 * k + 1] = sin(w);
  }
  return MIXSTAGE_OK;
}

static void fft_fini(fft *f) { free(f->cs); }

/* In place on interleaved complex re/im; dir = -1 forward (e^{-i w n}),
 * +1 inverse (unscaled). */
static void fft_run(const fft *f, double *x, int dir) {
  int n = f->n;
  for (int i = 1, j = 0; i < n; i++) { /* bit-reversal permutation */
    int bit = n >> 1;
    for (; j & bit; bit >>= 1) j ^= bit;
    j ^= bit;
    if (i < j) {
      double t0 = x[2 * i], t1 = x[2 * i + 1];
      x[2 * i] = x[2 * j];
      x[2 * i + 1] = x[2 * j + 1];
      x[2 * j] = t0;
      x[2 * j + 1] = t1;
    }
  }
  for (int len = 2; len <= n; len <<= 1) {
    int half = len >> 1, step = n / len;
    for (int i = 0; i < n; i += len)
      for (int k = 0; k < half; k++) {
        double wr = f->cs[2 * k * step], wi = dir * f->cs[2 * k * step + 1];
        double *u = x + 2 * (i + k), *v = x + 2 * (i + k + half);
        double vr = v[0] * wr - v[1] * wi, vi = v[0] * wi + v[1] * wr;
        v[0] = u[0] - vr;
        v[1] = u[1] - vi;
        u[0] += vr;
        u[1] += vi;
      }
  }
}

/* ---- bands ----------------------------------------------------------------- */

static const double third_nominal[MIXSTAGE_THIRD_OCTAVE_BANDS] = {
    31.5, 40,   50,   63,   80,   100,  125,  160,  200,   250,   315,   400,   500,  630,
    800,  1000, 1250, 1600, 2000, 2500, 3150, 4000, 5000, 6300, 8000, 10000, 12500, 16000};

MIXSTAGE_EXPORT double mixstage_third_octave_hz(int band) {
  return band >= 0 && band < MIXSTAGE_THIRD_OCTAVE_BANDS ? third_nominal[band] : 0.0;
}

MIXSTAGE_EXPORT double mixstage_octave_hz(int band) {
  return band >= 0 && band < MIXSTAGE_OCTAVE_BANDS ? third_nominal[3 * band] : 0.0;
}

/* Band edges from the exact base-10 centres of IEC 61260-1:
 * fc = 1000 * 10^(k/10), edges fc * 10^(+-1/20) (1/3 octave) or
 * fc * 10^(+-3/20) (octave).  Band 0 is k = -15 (31.6 Hz). */
static void band_edges(int third, int band, double *lo, double *hi) {
  int k = third ? band - 15 : 3 * band - 15;
  double fc = 1000.0 * pow(10.0, k / 10.0), h = third ? 0.05 : 0.15;
  *lo = fc * pow(10.0, -h);
  *hi = fc * pow(10.0, h);
}

/* Welch mean-square band levels.  With a Hann window w, Parseval gives the
 * windowed mean square as sum_k |X_k|^2 / (N sum w^2); the one-sided bins
 * 0 < k < N/2 count twice. */
static int band_power(const float *data, int64_t frames, int channels, double rate, int third,
                      double *power) {
  int nb = third ? MIXSTAGE_THIRD_OCTAVE_BANDS : MIXSTAGE_OCTAVE_BANDS;
  /* ~0.34 s frames: 2.9 Hz bins at 48 kHz, so the 31.5 Hz 1/3 octave gets bins. */
  int n = 1024;
  while (n < rate * 0.3) n <<= 1;
  fft f;
  if (fft_init(&f, n)) return MIXSTAGE_ENOMEM;
  double *x = malloc(sizeof(double) * 2 * (size_t)n), *w = malloc(sizeof(double) * (size_t)n);
  double *acc = calloc((size_t)n / 2, sizeof(double));
  if (!x || !w || !acc) {
    free(x), free(w), free(acc), fft_fini(&f);
    return MIXSTAGE_ENOMEM;
  }
  double wsum = 0.0;
  for (int i = 0; i < n; i++) {
    w[i] = 0.5 - 0.5 * cos(2.0 * PI * i / n); /* periodic Hann: constant overlap-add at N/2 */
    wsum += w[i] * w[i];
  }
  int hop = n / 2;
  int64_t count = 0;
  for (int64_t start = 0;; start += hop) {
    for (int c = 0; c < channels; c++) {
      for (int i = 0; i < n; i++) {
        int64_t t = start + i;
        x[2 * i] = t < frames ? w[i] * data[t * channels + c] : 0.0;
        x[2 * i + 1] = 0.0;
      }
      fft_run(&f, x, -1);
      for (int k = 1; k < n / 2; k++) acc[k] += x[2 * k] * x[2 * k] + x[2 * k + 1] * x[2 * k + 1];
      count++;
    }
    if (start + n >= frames) break;
  }
  double norm = 2.0 / ((double)n * wsum * (double)count);
  for (int b = 0; b < nb; b++) {
    double lo, hi, s = 0.0;
    band_edges(third, b, &lo, &hi);
    int any = 0;
    for (int k = 1; k < n / 2; k++) {
      double fk = k * rate / n;
      if (fk >= lo && fk < hi) s += acc[k], any = 1;
    }
    power[b] = any ? s * norm : -1.0; /* -1: band beyond Nyquist */
  }
  free(x), free(w), free(acc), fft_fini(&f);
  return MIXSTAGE_OK;
}

MIXSTAGE_EXPORT int mixstage_band_levels(const float *data, int64_t frames, int channels,
                                         double rate, int third_octave, double *levels_dbfs) {
  int rc = check_buffer(data, frames, channels);
  if (rc) return rc;
  if (!levels_dbfs) return MIXSTAGE_ENULL;
  if (check_rate(rate)) return MIXSTAGE_EINVAL;
  double p[MIXSTAGE_THIRD_OCTAVE_BANDS];
  int nb = third_octave ? MIXSTAGE_THIRD_OCTAVE_BANDS : MIXSTAGE_OCTAVE_BANDS;
  if ((rc = band_power(data, frames, channels, rate, third_octave != 0, p))) return rc;
  for (int b = 0; b < nb; b++) levels_dbfs[b] = p[b] < 0.0 ? -INFINITY : db_pow(p[b]);
  return MIXSTAGE_OK;
}

/* ---- gain staging ------------------------------------------------------------ */

MIXSTAGE_EXPORT void mixstage_gain_stage_config_init(mixstage_gain_stage_config *cfg) {
  if (!cfg) return;
  cfg->target_rms_dbfs = -18.0;
  cfg->max_peak_dbfs = -6.0;
  cfg->quiet_dbfs = -50.0;
}

static int check_gs_config(const mixstage_gain_stage_config *cfg) {
  return isfinite(cfg->target_rms_dbfs) && isfinite(cfg->max_peak_dbfs) && isfinite(cfg->quiet_dbfs)
             ? MIXSTAGE_OK
             : MIXSTAGE_EINVAL;
}

/* The clip-gain range of a strip (graph.h: -60 .. +36 dB). */
#define CLIP_MIN_DB -60.0
#define CLIP_MAX_DB 36.0

static void gain_stage_from(double rms_db, double peak_db, const mixstage_gain_stage_config *cfg,
                            mixstage_gain_stage_result *r) {
  memset(r, 0, sizeof *r);
  r->rms_before_dbfs = rms_db;
  r->peak_before_dbfs = peak_db;
  r->clips = peak_db >= 0.0;
  r->too_quiet = !(rms_db >= cfg->quiet_dbfs);
  if (!isfinite(rms_db)) { /* silence: nothing to stage */
    r->rms_after_dbfs = r->peak_after_dbfs = -INFINITY;
    return;
  }
  double g_rms = cfg->target_rms_dbfs - rms_db, g_peak = cfg->max_peak_dbfs - peak_db;
  double g = g_rms <= g_peak ? g_rms : g_peak;
  r->peak_limited = g_peak < g_rms;
  if (g < CLIP_MIN_DB) g = CLIP_MIN_DB, r->clamped = 1;
  if (g > CLIP_MAX_DB) g = CLIP_MAX_DB, r->clamped = 1;
  r->clip_gain_db = g;
  r->rms_after_dbfs = rms_db + g;
  r->peak_after_dbfs = peak_db + g;
}

/* Unweighted RMS and sample peak over the first @p use channels. */
static void level_of(const float *data, int64_t frames, int stride, int use, double *rms_db,
                     double *peak_db) {
  double ss = 0.0, pk = 0.0;
  for (int64_t i = 0; i < frames; i++)
    for (int c = 0; c < use; c++) {
      double v = data[i * stride + c];
      ss += v * v;
      if (fabs(v) > pk) pk = fabs(v);
    }
  *rms_db = db_pow(ss / ((double)frames * use));
  *peak_db = pk > 0.0 ? 20.0 * log10(pk) : -INFINITY;
}

MIXSTAGE_EXPORT int mixstage_gain_stage_buffer(const float *data, int64_t frames, int channels,
                                               const mixstage_gain_stage_config *cfg,
                                               mixstage_gain_stage_result *result) {
  int rc = check_buffer(data, frames, channels);
  if (rc) return rc;
  if (!result) return MIXSTAGE_ENULL;
  mixstage_gain_stage_config def;
  if (!cfg) mixstage_gain_stage_config_init(&def), cfg = &def;
  if (check_gs_config(cfg)) return MIXSTAGE_EINVAL;
  double rms, pk;
  level_of(data, frames, channels, channels, &rms, &pk);
  gain_stage_from(rms, pk, cfg, result);
  return MIXSTAGE_OK;
}

/* Saved state of the controls the measurement neutralises. */
typedef struct unit_state {
  double clip, fader, pan, width;
  int mute, solo;
} unit_state;

typedef struct saved_graph {
  int ns, nb;
  unit_state *strips, *buses;
  int nnodes, nsends;
  int *node_bypass, *send_mute;
} saved_graph;

/* Visits every node and send of every strip and bus in a fixed order. */
static int count_nodes(mixstage_graph *g, int *nsends) {
  int n = 0, s = 0;
  for (int i = 0; i < mixstage_graph_strip_count(g); i++) {
    mixstage_strip *st = mixstage_graph_strip(g, i);
    n += mixstage_strip_node_count(st);
    s += mixstage_strip_send_count(st);
  }
  for (int i = 0; i < mixstage_graph_bus_count(g); i++) {
    mixstage_bus *b = mixstage_graph_bus(g, i);
    n += mixstage_bus_node_count(b);
    s += mixstage_bus_send_count(b);
  }
  *nsends = s;
  return n;
}

/* Pan that makes the stage unity: a mono unit feeding a wider bus is panned
 * hard left, where the constant-power law (cos, sin of (p+1) pi/4) gives
 * exactly 1 on the left; balance and equal-width routes are unity at 0. */
static double neutral_pan(int from, int to) { return from == 1 && to >= 2 ? -1.0 : 0.0; }

static void save_and_neutralise(mixstage_graph *g, saved_graph *s) {
  int ni = 0, si = 0;
  for (int i = 0; i < s->ns; i++) {
    mixstage_strip *st = mixstage_graph_strip(g, i);
    unit_state *u = &s->strips[i];
    u->clip = mixstage_strip_clip_gain_db(st);
    u->fader = mixstage_strip_fader_db(st);
    u->pan = mixstage_strip_pan(st);
    u->width = mixstage_strip_width(st);
    u->mute = mixstage_strip_mute(st);
    u->solo = mixstage_strip_solo(st);
    mixstage_strip_set_clip_gain_db(st, 0.0);
    mixstage_strip_set_fader_db(st, 0.0);
    mixstage_bus *out = mixstage_strip_output(st);
    mixstage_strip_set_pan(st, neutral_pan(mixstage_strip_channels(st),
                                           out ? mixstage_bus_channels(out) : 0));
    mixstage_strip_set_width(st, 1.0);
    mixstage_strip_set_mute(st, 0);
    mixstage_strip_set_solo(st, 0);
    for (int k = 0; k < mixstage_strip_node_count(st); k++) {
      mixstage_node *n = mixstage_strip_node(st, k);
      s->node_bypass[ni++] = mixstage_node_bypass(n);
      mixstage_node_set_bypass(n, 1);
    }
    for (int k = 0; k < mixstage_strip_send_count(st); k++) {
      mixstage_send *sd = mixstage_strip_send(st, k);
      s->send_mute[si++] = mixstage_send_mute(sd);
      mixstage_send_set_mute(sd, 1);
    }
  }
  for (int i = 0; i < s->nb; i++) {
    mixstage_bus *b = mixstage_graph_bus(g, i);
    unit_state *u = &s->buses[i];
    u->fader = mixstage_bus_fader_db(b);
    u->pan = mixstage_bus_pan(b);
    u->width = mixstage_bus_width(b);
    u->mute = mixstage_bus_mute(b);
    mixstage_bus_set_fader_db(b, 0.0);
    mixstage_bus *out = mixstage_bus_output(b);
    mixstage_bus_set_pan(b, neutral_pan(mixstage_bus_channels(b), out ? mixstage_bus_channels(out) : 0));
    mixstage_bus_set_width(b, 1.0);
    mixstage_bus_set_mute(b, 0);
    for (int k = 0; k < mixstage_bus_node_count(b); k++) {
      mixstage_node *n = mixstage_bus_node(b, k);
      s->node_bypass[ni++] = mixstage_node_bypass(n);
      mixstage_node_set_bypass(n, 1);
    }
    for (int k = 0; k < mixstage_bus_send_count(b); k++) {
      mixstage_send *sd = mixstage_bus_send(b, k);
      s->send_mute[si++] = mixstage_send_mute(sd);
      mixstage_send_set_mute(sd, 1);
    }
  }
}

static void restore(mixstage_graph *g, const saved_graph *s) {
  int ni = 0, si = 0;
  for (int i = 0; i < s->ns; i++) {
    mixstage_strip *st = mixstage_graph_strip(g, i);
    const unit_state *u = &s->strips[i];
    mixstage_strip_set_clip_gain_db(st, u->clip);
    mixstage_strip_set_fader_db(st, u->fader);
    mixstage_strip_set_pan(st, u->pan);
    mixstage_strip_set_width(st, u->width);
    mixstage_strip_set_mute(st, u->mute);
    mixstage_strip_set_solo(st, u->solo);
    for (int k = 0; k < mixstage_strip_node_count(st); k++)
      mixstage_node_set_bypass(mixstage_strip_node(st, k), s->node_bypass[ni++]);
    for (int k = 0; k < mixstage_strip_send_count(st); k++)
      mixstage_send_set_mute(mixstage_strip_send(st, k), s->send_mute[si++]);
  }
  for (int i = 0; i < s->nb; i++) {
    mixstage_bus *b = mixstage_graph_bus(g, i);
    const unit_state *u = &s->buses[i];
    mixstage_bus_set_fader_db(b, u->fader);
    mixstage_bus_set_pan(b, u->pan);
    mixstage_bus_set_width(b, u->width);
    mixstage_bus_set_mute(b, u->mute);
    for (int k = 0; k < mixstage_bus_node_count(b); k++)
      mixstage_node_set_bypass(mixstage_bus_node(b, k), s->node_bypass[ni++]);
    for (int k = 0; k < mixstage_bus_send_count(b); k++)
      mixstage_send_set_mute(mixstage_bus_send(b, k), s->send_mute[si++]);
  }
}

/* Channels of the strip's signal that survive to the mix bus: a narrower
 * bus on the way folds it (stereo into mono averages L and R). */
static int surviving_channels(mixstage_strip *st) {
  int ch = mixstage_strip_channels(st);
  for (mixstage_bus *b = mixstage_strip_output(st); b; b = mixstage_bus_output(b))
    if (mixstage_bus_channels(b) < ch) ch = mixstage_bus_channels(b);
  return ch;
}

MIXSTAGE_EXPORT void mixstage_gain_stage_report_free(mixstage_gain_stage_report *report) {
  if (!report) return;
  free(report->strips);
  free(report);
}

MIXSTAGE_EXPORT int mixstage_graph_gain_stage(mixstage_graph *g, const mixstage_gain_stage_config *cfg,
                                              int apply, mixstage_gain_stage_report **report) {
  if (!g || !report) return MIXSTAGE_ENULL;
  *report = NULL;
  mixstage_gain_stage_config def;
  if (!cfg) mixstage_gain_stage_config_init(&def), cfg = &def;
  if (check_gs_config(cfg)) return MIXSTAGE_EINVAL;
  saved_graph s = {0};
  s.ns = mixstage_graph_strip_count(g);
  s.nb = mixstage_graph_bus_count(g);
  s.nnodes = count_nodes(g, &s.nsends);
  mixstage_gain_stage_report *rep = calloc(1, sizeof *rep);
  s.strips = calloc((size_t)s.ns + 1, sizeof *s.strips);
  s.buses = calloc((size_t)s.nb + 1, sizeof *s.buses);
  s.node_bypass = calloc((size_t)s.nnodes + 1, sizeof(int));
  s.send_mute = calloc((size_t)s.nsends + 1, sizeof(int));
  if (rep) rep->strips = calloc((size_t)s.ns + 1, sizeof *rep->strips);
  int rc = MIXSTAGE_OK;
  float *buf = NULL;
  if (!rep || !rep->strips || !s.strips || !s.buses || !s.node_bypass || !s.send_mute) {
    rc = MIXSTAGE_ENOMEM;
    goto out;
  }
  int mixch = mixstage_bus_channels(mixstage_graph_mix_bus(g));
  save_and_neutralise(g, &s);
  int64_t cap = 0;
  for (int i = 0; i < s.ns && rc == MIXSTAGE_OK; i++) {
    mixstage_strip *st = mixstage_graph_strip(g, i);
    int64_t len = mixstage_strip_source_frames(st);
    if (len == 0) continue;
    mixstage_strip_set_solo(st, 1);
    mixstage_render_config rcfg;
    mixstage_render_config_init(&rcfg);
    rcfg.frames = len > 0 ? len : 0; /* unknown length: the program's */
    rcfg.max_tail_frames = 0;
    int64_t n = mixstage_graph_render_frames(g, &rcfg);
    if (n < 0) {
      rc = (int)n;
    } else if (n > 0) {
      if (n > cap) {
        free(buf);
        cap = n;
        if (!(buf = malloc(sizeof(float) * (size_t)(n * mixch)))) rc = MIXSTAGE_ENOMEM;
      }
      if (rc == MIXSTAGE_OK) rc = mixstage_graph_render(g, &rcfg, buf, cap);
      if (rc == MIXSTAGE_ENUMERIC) rc = MIXSTAGE_OK; /* bypassed nodes do not run; the source did */
    }
    mixstage_strip_set_solo(st, 0);
    if (rc != MIXSTAGE_OK || n == 0) continue;
    mixstage_gain_stage_strip *e = &rep->strips[rep->count++];
    e->index = i;
    snprintf(e->name, sizeof e->name, "%s", mixstage_strip_name(st));
    e->measured_channels = surviving_channels(st);
    if (e->measured_channels > mixch) e->measured_channels = mixch;
    double rms, pk;
    level_of(buf, n, mixch, e->measured_channels, &rms, &pk);
    gain_stage_from(rms, pk, cfg, &e->result);
    rep->clipping += e->result.clips;
    rep->too_quiet += e->result.too_quiet;
  }
  restore(g, &s);
  if (rc == MIXSTAGE_OK && apply)
    for (int i = 0; i < rep->count && rc == MIXSTAGE_OK; i++)
      if (isfinite(rep->strips[i].result.rms_before_dbfs))
        rc = mixstage_strip_set_clip_gain_db(mixstage_graph_strip(g, rep->strips[i].index),
                                             rep->strips[i].result.clip_gain_db);
out:
  free(buf);
  free(s.strips), free(s.buses), free(s.node_bypass), free(s.send_mute);
  if (rc != MIXSTAGE_OK) {
    mixstage_gain_stage_report_free(rep);
    return rc;
  }
  *report = rep;
  return MIXSTAGE_OK;
}

/* ---- mono compatibility --------------------------------------------------------- */

MIXSTAGE_EXPORT int mixstage_mono_compat_buffer(const float *data, int64_t frames, int channels,
                                                mixstage_mono_compat *r) {
  int rc = check_buffer(data, frames, channels);
  if (rc) return rc;
  if (!r) return MIXSTAGE_ENULL;
  if (channels == 1) {
    r->correlation = 1.0;
    r->mono_loss_db = 0.0;
    r->side_to_mid_db = -INFINITY;
    r->balance_db = 0.0;
    return MIXSTAGE_OK;
  }
  double ll = 0.0, rr = 0.0, lr = 0.0;
  for (int64_t i = 0; i < frames; i++) {
    double l = data[i * channels], x = data[i * channels + 1];
    ll += l * l;
    rr += x * x;
    lr += l * x;
  }
  r->correlation = ll > 0.0 && rr > 0.0 ? lr / sqrt(ll * rr) : (ll > 0.0 || rr > 0.0 ? 0.0 : 1.0);
  double sum = ll + rr + 2.0 * lr; /* sum (L+R)^2 */
  if (sum < 0.0) sum = 0.0;
  r->mono_loss_db = ll + rr > 0.0 ? -db_pow(sum / (2.0 * (ll + rr))) : 0.0;
  double mid = 0.25 * sum, side = 0.25 * (ll + rr - 2.0 * lr);
  r->side_to_mid_db = side > 0.0 ? (mid > 0.0 ? 10.0 * log10(side / mid) : INFINITY) : -INFINITY;
  r->balance_db = ll > 0.0 && rr > 0.0 ? 10.0 * log10(rr / ll) : 0.0;
  return MIXSTAGE_OK;
}

/* ---- phase between two signals ---------------------------------------------------- */

MIXSTAGE_EXPORT void mixstage_assess_config_init(mixstage_assess_config *cfg) {
  if (!cfg) return;
  cfg->max_lag_ms = 20.0;
  cfg->phase_threshold = 0.5;
  cfg->masking_floor_dbfs = -70.0;
}

static double mono_at(const float *x, int64_t i, int ch) {
  double s = 0.0;
  for (int c = 0; c < ch; c++) s += x[i * ch + c];
  return s;
}

/* Cross-correlation c(t) = sum_n a(n) b(n + t) for |t| <= M, block by block:
 * each block of L samples of a is correlated (through conj(A) B) with the
 * L + 2M samples of b around it, in an FFT of N >= L + 2M points so that no
 * product wraps around; the blocks' partial sums add to the full sum. */
MIXSTAGE_EXPORT int mixstage_phase_pair(const float *a, const float *b, int64_t frames, int channels,
                                        double rate, const mixstage_assess_config *cfg,
                                        mixstage_phase_result *r) {
  int rc = check_buffer(a, frames, channels);
  if (rc) return rc;
  if (!b || !r) return MIXSTAGE_ENULL;
  if (check_rate(rate)) return MIXSTAGE_EINVAL;
  mixstage_assess_config def;
  if (!cfg) mixstage_assess_config_init(&def), cfg = &def;
  if (!(cfg->max_lag_ms >= 0.0 && cfg->max_lag_ms <= 1000.0)) return MIXSTAGE_EINVAL;
  int64_t m64 = (int64_t)ceil(cfg->max_lag_ms * 0.001 * rate);
  if (m64 > frames - 1) m64 = frames - 1;
  int M = (int)m64;
  int n = 4096;
  while (n < 4 * (2 * M + 1)) n <<= 1;
  int L = n - 2 * M;
  fft f;
  if (fft_init(&f, n)) return MIXSTAGE_ENOMEM;
  double *xa = malloc(sizeof(double) * 2 * (size_t)n), *xb = malloc(sizeof(double) * 2 * (size_t)n);
  double *c = calloc((size_t)(2 * M + 1), sizeof(double));
  if (!xa || !xb || !c) {
    free(xa), free(xb), free(c), fft_fini(&f);
    return MIXSTAGE_ENOMEM;
  }
  double ea = 0.0, eb = 0.0, c0 = 0.0;
  for (int64_t i = 0; i < frames; i++) {
    double va = mono_at(a, i, channels), vb = mono_at(b, i, channels);
    ea += va * va;
    eb += vb * vb;
    c0 += va * vb;
  }
  for (int64_t start = 0; start < frames; start += L) {
    for (int i = 0; i < n; i++) {
      int64_t ta = start + i, tb = start - M + i;
      xa[2 * i] = i < L && ta < frames ? mono_at(a, ta, channels) : 0.0;
      xb[2 * i] = tb >= 0 && tb < frames && i < L + 2 * M ? mono_at(b, tb, channels) : 0.0;
      xa[2 * i + 1] = xb[2 * i + 1] = 0.0;
    }
    fft_run(&f, xa, -1);
    fft_run(&f, xb, -1);
    for (int k = 0; k < n; k++) { /* conj(A) B */
      double ar = xa[2 * k], ai = xa[2 * k + 1], br = xb[2 * k], bi = xb[2 * k + 1];
      xa[2 * k] = ar * br + ai * bi;
      xa[2 * k + 1] = ar * bi - ai * br;
    }
    fft_run(&f, xa, +1);
    for (int j = 0; j <= 2 * M; j++) c[j] += xa[2 * j] / n; /* index j is lag j - M */
  }
  int best = M;
  for (int j = 0; j <= 2 * M; j++)
    if (fabs(c[j]) > fabs(c[best])) best = j;
  double norm = ea > 0.0 && eb > 0.0 ? 1.0 / sqrt(ea * eb) : 0.0;
  memset(r, 0, sizeof *r);
  r->offset_frames = best - M;
  r->correlation = c[best] * norm;
  r->sign = r->correlation < 0.0 ? -1 : 1;
  r->zero_lag_correlation = c0 * norm;
  r->correlated = fabs(r->correlation) >= cfg->phase_threshold;
  r->polarity_flip = r->correlated && r->sign < 0;
  r->time_offset = r->correlated && r->offset_frames != 0;
  free(xa), free(xb), free(c), fft_fini(&f);
  return MIXSTAGE_OK;
}

/* ---- masking ----------------------------------------------------------------------- */

/* Overlap in a band: the quieter level, less half the level difference, so
 * two loud and equal strips score highest (the one loud and the other faint
 * do not compete: the louder masks without a fight). */
static void masking_pair(const double *la, const double *lb, double floor_db, mixstage_masking_pair *p) {
  p->score_db = -INFINITY;
  p->band = 0;
  for (int k = 0; k < MIXSTAGE_THIRD_OCTAVE_BANDS; k++) {
    double lo = la[k] < lb[k] ? la[k] : lb[k];
    double ov = (lo < floor_db || !isfinite(lo)) ? -INFINITY : lo - 0.5 * fabs(la[k] - lb[k]);
    p->overlap_db[k] = ov;
    if (ov > p->score_db) p->score_db = ov, p->band = k;
  }
  if (isinf(p->score_db)) p->band = -1; /* no band where both are above the floor */
  p->band_hz = p->band >= 0 ? third_nominal[p->band] : 0.0;
}

static int cmp_masking(const void *x, const void *y) {
  const mixstage_masking_pair *a = x, *b = y;
  if (a->score_db > b->score_db) return -1;
  if (a->score_db < b->score_db) return 1;
  return a->a != b->a ? a->a - b->a : a->b - b->b;
}

/* Ranks pairs from precomputed 1/3-octave levels. */
static int rank_levels(const double (*lv)[MIXSTAGE_THIRD_OCTAVE_BANDS], int count, double floor_db,
                       mixstage_masking_pair *pairs, int capacity, int *npairs) {
  int total = count * (count - 1) / 2, k = 0;
  mixstage_masking_pair *all = malloc(sizeof *all * (size_t)total);
  if (!all) return MIXSTAGE_ENOMEM;
  for (int i = 0; i < count; i++)
    for (int j = i + 1; j < count; j++) {
      all[k].a = i, all[k].b = j;
      masking_pair(lv[i], lv[j], floor_db, &all[k]);
      k++;
    }
  qsort(all, (size_t)total, sizeof *all, cmp_masking);
  int w = total < capacity ? total : capacity;
  if (w > 0) memcpy(pairs, all, sizeof *all * (size_t)w);
  *npairs = w;
  free(all);
  return MIXSTAGE_OK;
}

MIXSTAGE_EXPORT int mixstage_masking_rank(const float *const *strips, int count, int64_t frames,
                                          int channels, double rate, const mixstage_assess_config *cfg,
                                          mixstage_masking_pair *pairs, int capacity, int *npairs) {
  if (!strips || !npairs || (!pairs && capacity > 0)) return MIXSTAGE_ENULL;
  *npairs = 0;
  if (count < 2 || count > 4096 || capacity < 0 || frames < 1 || channels < 1 || channels > MAXCH ||
      check_rate(rate))
    return MIXSTAGE_EINVAL;
  for (int i = 0; i < count; i++)
    if (!strips[i]) return MIXSTAGE_ENULL;
  mixstage_assess_config def;
  if (!cfg) mixstage_assess_config_init(&def), cfg = &def;
  double (*lv)[MIXSTAGE_THIRD_OCTAVE_BANDS] = malloc(sizeof *lv * (size_t)count);
  if (!lv) return MIXSTAGE_ENOMEM;
  int rc = MIXSTAGE_OK;
  for (int i = 0; i < count && rc == MIXSTAGE_OK; i++)
    rc = mixstage_band_levels(strips[i], frames, channels, rate, 1, lv[i]);
  if (rc == MIXSTAGE_OK)
    rc = rank_levels((const double (*)[MIXSTAGE_THIRD_OCTAVE_BANDS])lv, count,
                     cfg->masking_floor_dbfs, pairs, capacity, npairs);
  free(lv);
  return rc;
}

/* ---- graph assessment ------------------------------------------------------------------ */

MIXSTAGE_EXPORT void mixstage_mix_assessment_free(mixstage_mix_assessment *a) {
  if (!a) return;
  free(a->strip_names);
  free(a->phase);
  free(a->masking);
  free(a);
}

MIXSTAGE_EXPORT int mixstage_graph_assess(mixstage_graph *g, const mixstage_assess_config *cfg,
                                          mixstage_mix_assessment **out) {
  if (!g || !out) return MIXSTAGE_ENULL;
  *out = NULL;
  mixstage_assess_config def;
  if (!cfg) mixstage_assess_config_init(&def), cfg = &def;
  int rc = MIXSTAGE_OK;
  mixstage_bounce *bo = mixstage_graph_bounce(g, mixstage_profile_find("mix-stems"), NULL, &rc);
  if (!bo) return rc ? rc : MIXSTAGE_ENOMEM;
  rc = MIXSTAGE_OK;
  int64_t frames = mixstage_bounce_frames(bo);
  int ch = mixstage_bounce_channels(bo);
  double rate = mixstage_graph_sample_rate(g);
  int ns = mixstage_graph_strip_count(g);
  mixstage_mix_assessment *a = calloc(1, sizeof *a);
  const float **data = calloc((size_t)ns + 1, sizeof *data);
  double (*lv)[MIXSTAGE_THIRD_OCTAVE_BANDS] = calloc((size_t)ns + 1, sizeof *lv);
  if (!a || !data || !lv) {
    rc = MIXSTAGE_ENOMEM;
    goto out;
  }
  if (frames < 1) {
    rc = MIXSTAGE_EINVAL;
    goto out;
  }
  int ref = mixstage_bounce_find(bo, "reference");
  if (ref < 0) ref = mixstage_bounce_find(bo, "mix");
  if (ref >= 0) rc = mixstage_mono_compat_buffer(mixstage_bounce_data(bo, ref), frames, ch, &a->mono);
  /* The stems of strips, by strip index (a group or return of the same
   * name is not a strip stem). */
  int n = 0;
  a->strip_names = calloc((size_t)ns + 1, sizeof *a->strip_names);
  if (!a->strip_names) rc = MIXSTAGE_ENOMEM;
  for (int i = 0; i < ns && rc == MIXSTAGE_OK; i++) {
    const char *name = mixstage_strip_name(mixstage_graph_strip(g, i));
    for (int k = 0; k < mixstage_bounce_count(bo); k++)
      if (mixstage_bounce_kind(bo, k) == MIXSTAGE_OUTPUT_STEM && !strcmp(mixstage_bounce_name(bo, k), name)) {
        data[n] = mixstage_bounce_data(bo, k);
        snprintf(a->strip_names[n], 64, "%s", name);
        n++;
        break;
      }
  }
  a->strip_count = n;
  int np = n * (n - 1) / 2;
  if (rc == MIXSTAGE_OK && np > 0) {
    a->phase = calloc((size_t)np, sizeof *a->phase);
    a->masking = calloc((size_t)np, sizeof *a->masking);
    if (!a->phase || !a->masking) rc = MIXSTAGE_ENOMEM;
    for (int i = 0; i < n && rc == MIXSTAGE_OK; i++)
      rc = mixstage_band_levels(data[i], frames, ch, rate, 1, lv[i]);
    for (int i = 0; i < n && rc == MIXSTAGE_OK; i++)
      for (int j = i + 1; j < n && rc == MIXSTAGE_OK; j++) {
        mixstage_phase_result pr;
        rc = mixstage_phase_pair(data[i], data[j], frames, ch, rate, cfg, &pr);
        if (rc == MIXSTAGE_OK && pr.correlated) {
          a->phase[a->phase_count].a = i;
          a->phase[a->phase_count].b = j;
          a->phase[a->phase_count].result = pr;
          a->phase_count++;
        }
      }
    if (rc == MIXSTAGE_OK)
      rc = rank_levels((const double (*)[MIXSTAGE_THIRD_OCTAVE_BANDS])lv, n, cfg->masking_floor_dbfs,
                       a->masking, np, &a->masking_count);
  }
out:
  mixstage_bounce_destroy(bo);
  free(data);
  free(lv);
  if (rc != MIXSTAGE_OK) {
    mixstage_mix_assessment_free(a);
    return rc;
  }
  *out = a;
  return MIXSTAGE_OK;
}

/* ---- reference A/B ------------------------------------------------------------------------ */

MIXSTAGE_EXPORT int mixstage_ab_compare(const float *a, int64_t a_frames, int a_channels,
                                        const float *b, int64_t b_frames, int b_channels, double rate,
                                        mixstage_ab_result *r) {
  int rc = check_buffer(a, a_frames, a_channels);
  if (rc) return rc;
  if ((rc = check_buffer(b, b_frames, b_channels))) return rc;
  if (!r) return MIXSTAGE_ENULL;
  if (check_rate(rate)) return MIXSTAGE_EINVAL;
  mixstage_file_stats sa, sb;
  if ((rc = mixstage_measure(a, a_frames, a_channels, rate, &sa))) return rc;
  if ((rc = mixstage_measure(b, b_frames, b_channels, rate, &sb))) return rc;
  /* Below the absolute gate (-70 LUFS) nothing can be matched. */
  if (!isfinite(sa.integrated_lufs) || !isfinite(sb.integrated_lufs)) return MIXSTAGE_ERANGE;
  mixstage_mono_compat ma, mb;
  mixstage_mono_compat_buffer(a, a_frames, a_channels, &ma);
  mixstage_mono_compat_buffer(b, b_frames, b_channels, &mb);
  memset(r, 0, sizeof *r);
  r->a_lufs = sa.integrated_lufs;
  r->b_lufs = sb.integrated_lufs;
  r->match_gain_db = sa.integrated_lufs - sb.integrated_lufs;
  r->loudness_diff_lu = -r->match_gain_db;
  r->a_lra_lu = sa.loudness_range_lu;
  r->b_lra_lu = sb.loudness_range_lu;
  r->lra_diff_lu = r->b_lra_lu - r->a_lra_lu;
  r->a_crest_db = sa.peak_dbfs - sa.rms_dbfs;
  r->b_crest_db = sb.peak_dbfs - sb.rms_dbfs;
  r->crest_diff_db = r->b_crest_db - r->a_crest_db;
  r->a_width_db = ma.side_to_mid_db;
  r->b_width_db = mb.side_to_mid_db;
  /* Two mono buffers have equal (no) width: report 0, not NaN. */
  r->width_diff_db = isinf(r->a_width_db) && r->a_width_db == r->b_width_db ? 0.0 : r->b_width_db - r->a_width_db;
  r->a_correlation = ma.correlation;
  r->b_correlation = mb.correlation;
  r->correlation_diff = mb.correlation - ma.correlation;
  double pa[MIXSTAGE_OCTAVE_BANDS], pb[MIXSTAGE_OCTAVE_BANDS];
  if ((rc = band_power(a, a_frames, a_channels, rate, 0, pa))) return rc;
  if ((rc = band_power(b, b_frames, b_channels, rate, 0, pb))) return rc;
  for (int k = 0; k < MIXSTAGE_OCTAVE_BANDS; k++) {
    r->band_hz[k] = mixstage_octave_hz(k);
    r->a_band_dbfs[k] = pa[k] < 0.0 ? -INFINITY : db_pow(pa[k]);
    r->b_band_dbfs[k] = pb[k] < 0.0 ? -INFINITY : db_pow(pb[k]);
    /* Empty or absent bands on both sides do not differ. */
    if (isfinite(r->a_band_dbfs[k]) && isfinite(r->b_band_dbfs[k]))
      r->band_diff_db[k] = r->b_band_dbfs[k] - r->a_band_dbfs[k];
    else if (r->a_band_dbfs[k] == r->b_band_dbfs[k])
      r->band_diff_db[k] = 0.0;
    else
      r->band_diff_db[k] = isfinite(r->a_band_dbfs[k]) ? -INFINITY : INFINITY;
    r->band_diff_matched_db[k] = r->band_diff_db[k] + r->match_gain_db;
  }
  return MIXSTAGE_OK;
}

static int write_scaled(const char *dir, const char *stem, const float *x, int64_t frames, int ch,
                        double rate, double gain_db, const mixstage_write_config *cfg, char *err,
                        size_t errlen) {
  const char *ext = cfg && cfg->format == MIXSTAGE_FORMAT_AIFF  ? "aiff"
                    : cfg && cfg->format == MIXSTAGE_FORMAT_FLAC ? "flac"
                                                                 : "wav";
  size_t len = strlen(dir) + strlen(stem) + 8;
  char *path = malloc(len);
  float *y = malloc(sizeof(float) * (size_t)(frames * ch));
  if (!path || !y) {
    free(path), free(y);
    return MIXSTAGE_ENOMEM;
  }
  snprintf(path, len, "%s/%s.%s", dir, stem, ext);
  double g = pow(10.0, gain_db / 20.0);
  for (int64_t i = 0; i < frames * ch; i++) y[i] = (float)(x[i] * g);
  int rc = mixstage_audio_write(path, y, frames, ch, rate, cfg, NULL, err, errlen);
  free(path), free(y);
  return rc;
}

MIXSTAGE_EXPORT int mixstage_ab_write_pair(const float *a, int64_t a_frames, int a_channels,
                                           const float *b, int64_t b_frames, int b_channels,
                                           double rate, const char *dir,
                                           const mixstage_write_config *cfg, double *gain_a_db,
                                           double *gain_b_db, char *err, size_t errlen) {
  if (!dir) return MIXSTAGE_ENULL;
  mixstage_ab_result r;
  int rc = mixstage_ab_compare(a, a_frames, a_channels, b, b_frames, b_channels, rate, &r);
  if (rc) {
    if (err && errlen) snprintf(err, errlen, "A/B pair: %s", mixstage_strerror(rc));
    return rc;
  }
  /* Turn the louder one down: matching never adds gain, so it cannot clip. */
  double ga = r.match_gain_db < 0.0 ? 0.0 : -r.match_gain_db;
  double gb = r.match_gain_db < 0.0 ? r.match_gain_db : 0.0;
  if ((rc = write_scaled(dir, "A", a, a_frames, a_channels, rate, ga, cfg, err, errlen))) return rc;
  if ((rc = write_scaled(dir, "B", b, b_frames, b_channels, rate, gb, cfg, err, errlen))) return rc;
  if (gain_a_db) *gain_a_db = ga;
  if (gain_b_db) *gain_b_db = gb;
  return MIXSTAGE_OK;
}
