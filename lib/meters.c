/* libmixstage — meters: loudness (ITU-R BS.1770-4 / EBU R128 through
 * libebur128) and the engineer's everyday figures (RMS, crest factor,
 * correlation, balance, mid/side, DC offset, clipping), over a buffer or a
 * stream pushed from an audio callback. */
#include <ebur128.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "mixstage/analysis.h"
#include "internal.h"
#include "loudness_hops.h"
#include "loudness_range.h"
#include "dsp/truepeak.h"

#define METER_MAX_BLOCK 1048576
#define METER_MAX_SERIES_SECONDS 86400.0

struct mixstage_meter {
  ebur128_state *st;
  int ch;
  double rate;
  int max_block;
  int true_peak, series_on, exact;
  int lch, rch;
  double clip;
  int64_t frames;
  int64_t points;      /* series grid points passed so far */
  int64_t next_point;  /* frame index of the next 100 ms grid point */
  int64_t win_m, win_s;
  double mom_max, short_max;
  double peak[MIXSTAGE_METER_MAX_CHANNELS];
  double sum[MIXSTAGE_METER_MAX_CHANNELS];
  double sumsq[MIXSTAGE_METER_MAX_CHANNELS];
  int64_t clipped[MIXSTAGE_METER_MAX_CHANNELS];
  double s_lr; /* sum of L*R; with sumsq of L and R it gives correlation and M/S */
  mixstage__loudness_hops hops; /* the last 30 grid blocks (100 ms each) */
  double *mser, *sser;
  int64_t ser_cap, ser_n;
  int truncated;
  /* how libebur128 was set up, so a restart can set it up again */
  int ebur_mode;
  int ebur_ch[MIXSTAGE_METER_MAX_CHANNELS];
  mixstage__lra lra; /* Tech 3342 from the 10 Hz short-term readings */
  mixstage__truepeak tp;
};

static const char *const role_names[] = {"unused",         "left",      "right",
                                         "centre",         "lfe",       "left-surround",
                                         "right-surround", "dual-mono", "other"};

MIXSTAGE_EXPORT const char *mixstage_channel_role_name(int role) {
  if (role < 0 || role >= (int)(sizeof role_names / sizeof role_names[0])) return NULL;
  return role_names[role];
}

MIXSTAGE_EXPORT void mixstage_meter_config_init(mixstage_meter_config *cfg) {
  if (!cfg) return;
  memset(cfg, 0, sizeof *cfg);
  cfg->layout = MIXSTAGE_METER_LAYOUT_AUTO;
  cfg->true_peak = 1;
  cfg->series = 1;
  cfg->series_max_seconds = 600.0;
  cfg->clip_level = 1.0;
  cfg->exact_gating = 0;
  cfg->left_channel = 0;
  cfg->right_channel = 1;
}

MIXSTAGE_EXPORT void mixstage_meter_report_clear(mixstage_meter_report *report) {
  if (!report) return;
  free(report->momentary_series);
  free(report->short_term_series);
  memset(report, 0, sizeof *report);
}

/* The libebur128 channel for a role.  Weights per BS.1770-4 Table 4: 1.41 for
 * the surrounds (libebur128 applies it to LEFT/RIGHT_SURROUND), LFE
 * excluded, DUAL_MONO counted twice; OTHER weighs 1.0 as the centre does. */
static int ebur_channel(int role) {
  switch (role) {
  case MIXSTAGE_CHANNEL_LEFT: return EBUR128_LEFT;
  case MIXSTAGE_CHANNEL_RIGHT: return EBUR128_RIGHT;
  case MIXSTAGE_CHANNEL_CENTRE: return EBUR128_CENTER;
  case MIXSTAGE_CHANNEL_LEFT_SURROUND: return EBUR128_LEFT_SURROUND;
  case MIXSTAGE_CHANNEL_RIGHT_SURROUND: return EBUR128_RIGHT_SURROUND;
  case MIXSTAGE_CHANNEL_DUAL_MONO: return EBUR128_DUAL_MONO;
  case MIXSTAGE_CHANNEL_OTHER: return EBUR128_CENTER;
  default: return EBUR128_UNUSED; /* UNUSED, LFE */
  }
}

/* AUTO layout: the WAVE/SMPTE order L R C LFE Ls Rs; 8 channels as 7.1
 * (L R C LFE Lrs Rrs Lss Rss: the side pair at +-90 deg weighs 1.41, the
 * rear pair at +-135 deg 1.0), the same rule mixstage_measure() follows;
 * other extra channels weigh 1.0. */
static int auto_role(int c, int channels) {
  static const int six[6] = {MIXSTAGE_CHANNEL_LEFT,   MIXSTAGE_CHANNEL_RIGHT,
                             MIXSTAGE_CHANNEL_CENTRE, MIXSTAGE_CHANNEL_LFE,
                             MIXSTAGE_CHANNEL_LEFT_SURROUND, MIXSTAGE_CHANNEL_RIGHT_SURROUND};
  if (channels == 8 || channels == 12) {
    static const int s71[8] = {MIXSTAGE_CHANNEL_LEFT,          MIXSTAGE_CHANNEL_RIGHT,
                               MIXSTAGE_CHANNEL_CENTRE,        MIXSTAGE_CHANNEL_LFE,
                               MIXSTAGE_CHANNEL_OTHER,         MIXSTAGE_CHANNEL_OTHER,
                               MIXSTAGE_CHANNEL_LEFT_SURROUND, MIXSTAGE_CHANNEL_RIGHT_SURROUND};
    return c < 8 ? s71[c] : MIXSTAGE_CHANNEL_OTHER;
  }
  return c < 6 ? six[c] : MIXSTAGE_CHANNEL_OTHER;
}

static int check_args(int channels, double rate, const mixstage_meter_config *cfg) {
  if (channels < 1 || channels > MIXSTAGE_METER_MAX_CHANNELS) return MIXSTAGE_ECHANNELS;
  if (!(rate >= 8000.0 && rate <= 768000.0) || rate != floor(rate)) return MIXSTAGE_EINVAL;
  if (cfg->layout < MIXSTAGE_METER_LAYOUT_AUTO || cfg->layout > MIXSTAGE_METER_LAYOUT_EXPLICIT)
    return MIXSTAGE_EINVAL;
  if (cfg->layout == MIXSTAGE_METER_LAYOUT_DUAL_MONO && channels != 1) return MIXSTAGE_ECHANNELS;
  if (cfg->layout == MIXSTAGE_METER_LAYOUT_EXPLICIT)
    for (int c = 0; c < channels; c++)
      if (cfg->channel_roles[c] < MIXSTAGE_CHANNEL_UNUSED ||
          cfg->channel_roles[c] > MIXSTAGE_CHANNEL_OTHER)
        return MIXSTAGE_EINVAL;
  if (!(cfg->clip_level > 0.0) || !isfinite(cfg->clip_level)) return MIXSTAGE_EINVAL;
  if (channels >= 2 &&
      (cfg->left_channel < 0 || cfg->left_channel >= channels || cfg->right_channel < 0 ||
       cfg->right_channel >= channels || cfg->left_channel == cfg->right_channel))
    return MIXSTAGE_EINVAL;
  return MIXSTAGE_OK;
}

/* Builds a meter; series_points is the series capacity. */
static mixstage_meter *meter_new(int channels, double rate, int max_block,
                                 const mixstage_meter_config *cfg, int exact,
                                 int64_t series_points, int *error) {
  mixstage_meter *m = calloc(1, sizeof *m);
  if (!m) goto nomem;
  m->ch = channels;
  m->rate = rate;
  m->max_block = max_block;
  m->true_peak = cfg->true_peak != 0;
  m->series_on = cfg->series != 0;
  m->exact = exact;
  m->clip = cfg->clip_level;
  m->lch = cfg->left_channel;
  m->rch = cfg->right_channel;
  int mode = EBUR128_MODE_I | EBUR128_MODE_S | EBUR128_MODE_M;
  if (m->true_peak) mixstage__truepeak_init(&m->tp, channels);
  if (!exact) mode |= EBUR128_MODE_HISTOGRAM;
  m->ebur_mode = mode;
  m->st = ebur128_init((unsigned)channels, (unsigned long)rate, mode);
  if (!m->st || mixstage__lra_init(&m->lra) != MIXSTAGE_OK) goto nomem;
  for (int c = 0; c < channels; c++) {
    int role = cfg->layout == MIXSTAGE_METER_LAYOUT_EXPLICIT ? cfg->channel_roles[c]
               : cfg->layout == MIXSTAGE_METER_LAYOUT_DUAL_MONO ? MIXSTAGE_CHANNEL_DUAL_MONO
               : channels == 1                                  ? MIXSTAGE_CHANNEL_CENTRE
                                                                : auto_role(c, channels);
    m->ebur_ch[c] = ebur_channel(role);
    ebur128_set_channel(m->st, (unsigned)c, m->ebur_ch[c]);
  }
  m->win_m = (int64_t)llround(rate * 0.4);
  m->win_s = (int64_t)llround(rate * 3.0);
  m->next_point = (int64_t)llround(rate * 0.1);
  m->mom_max = m->short_max = -HUGE_VAL;
  if (m->series_on && series_points > 0) {
    m->mser = malloc((size_t)series_points * sizeof *m->mser);
    m->sser = malloc((size_t)series_points * sizeof *m->sser);
    if (!m->mser || !m->sser) goto nomem;
    m->ser_cap = series_points;
  }
  if (error) *error = MIXSTAGE_OK;
  return m;
nomem:
  mixstage_meter_destroy(m);
  if (error) *error = MIXSTAGE_ENOMEM;
  return NULL;
}

MIXSTAGE_EXPORT void mixstage_meter_destroy(mixstage_meter *m) {
  if (!m) return;
  if (m->st) ebur128_destroy(&m->st);
  mixstage__lra_free(&m->lra);
  free(m->mser);
  free(m->sser);
  free(m);
}

MIXSTAGE_EXPORT mixstage_meter *mixstage_meter_create(int channels, double rate,
                                                      int max_block_frames,
                                                      const mixstage_meter_config *cfg,
                                                      int *error) {
  mixstage_meter_config def;
  if (!cfg) {
    mixstage_meter_config_init(&def);
    cfg = &def;
  }
  int st = check_args(channels, rate, cfg);
  if (st == MIXSTAGE_OK && (max_block_frames < 1 || max_block_frames > METER_MAX_BLOCK))
    st = MIXSTAGE_EBLOCKSIZE;
  if (st == MIXSTAGE_OK &&
      !(cfg->series_max_seconds >= 0.0 && cfg->series_max_seconds <= METER_MAX_SERIES_SECONDS))
    st = MIXSTAGE_EINVAL;
  if (st != MIXSTAGE_OK) {
    if (error) *error = st;
    return NULL;
  }
  int64_t pts = (int64_t)floor(cfg->series_max_seconds * 10.0 + 1e-9);
  return meter_new(channels, rate, max_block_frames, cfg, cfg->exact_gating != 0, pts, error);
}

/* One reading on the 100 ms grid (EBU Tech 3341 asks for >= 10 Hz).  The
 * maxima take full windows only, as mixstage_measure() does; before that the
 * windows count silence for the time not yet heard, as libebur128 does. */
static void grid_read(mixstage_meter *m) {
  double mo, sh;
  mixstage__hops_push(&m->hops, m->st, &mo, &sh);
  if (m->frames >= m->win_m && mo > m->mom_max) m->mom_max = mo;
  if (m->frames >= m->win_s && sh > m->short_max) m->short_max = sh;
  if (m->frames >= m->win_s) mixstage__lra_add(&m->lra, sh);
  if (m->series_on) {
    if (m->ser_n < m->ser_cap) {
      m->mser[m->ser_n] = mo;
      m->sser[m->ser_n] = sh;
      m->ser_n++;
    } else {
      m->truncated = 1;
    }
  }
  m->points++;
  /* Rounded per point from frame 0, so odd rates (11025 Hz) do not drift. */
  m->next_point = (int64_t)llround((double)(m->points + 1) * m->rate * 0.1);
}

/* Sample-by-sample statistics, in double. */
static void stats_add(mixstage_meter *m, const float *x, int64_t n) {
  const int ch = m->ch;
  for (int c = 0; c < ch; c++) {
    double pk = m->peak[c], s = m->sum[c], ss = m->sumsq[c];
    int64_t cl = m->clipped[c];
    const double clip = m->clip;
    for (int64_t i = 0; i < n; i++) {
      double v = x[i * ch + c], a = fabs(v);
      if (a > pk) pk = a;
      if (a >= clip) cl++;
      s += v;
      ss += v * v;
    }
    m->peak[c] = pk;
    m->sum[c] = s;
    m->sumsq[c] = ss;
    m->clipped[c] = cl;
  }
  if (ch >= 2) {
    double lr = m->s_lr;
    for (int64_t i = 0; i < n; i++) lr += (double)x[i * ch + m->lch] * x[i * ch + m->rch];
    m->s_lr = lr;
  }
}

/* Feeds libebur128, stopping at each 100 ms grid point to read. */
static int meter_feed(mixstage_meter *m, const float *x, int64_t n) {
  stats_add(m, x, n);
  if (m->true_peak) mixstage__truepeak_add(&m->tp, x, (long)n);
  while (n > 0) {
    int64_t k = m->next_point - m->frames;
    if (k > n) k = n;
    if (ebur128_add_frames_float(m->st, x, (size_t)k) != EBUR128_SUCCESS) return MIXSTAGE_ENOMEM;
    x += k * m->ch;
    n -= k;
    m->frames += k;
    if (m->frames == m->next_point) grid_read(m);
  }
  return MIXSTAGE_OK;
}

MIXSTAGE_EXPORT int mixstage_meter_push(mixstage_meter *meter, const float *interleaved,
                                        int frames) {
  if (!meter || (!interleaved && frames > 0)) return MIXSTAGE_ENULL;
  if (frames < 0 || frames > meter->max_block) return MIXSTAGE_EBLOCKSIZE;
  return meter_feed(meter, interleaved, frames);
}

MIXSTAGE_EXPORT int mixstage_meter_loudness_now(mixstage_meter *meter, double *momentary_lufs,
                                                double *short_term_lufs) {
  if (!meter) return MIXSTAGE_ENULL;
  double v;
  if (momentary_lufs)
    *momentary_lufs =
        ebur128_loudness_momentary(meter->st, &v) == EBUR128_SUCCESS ? v : -HUGE_VAL;
  if (short_term_lufs)
    *short_term_lufs =
        ebur128_loudness_shortterm(meter->st, &v) == EBUR128_SUCCESS ? v : -HUGE_VAL;
  return MIXSTAGE_OK;
}

static double db20(double a) { return a > 0.0 ? 20.0 * log10(a) : -HUGE_VAL; }
static double db10(double p) { return p > 0.0 ? 10.0 * log10(p) : -HUGE_VAL; }

MIXSTAGE_EXPORT int mixstage_meter_get_report(mixstage_meter *m, mixstage_meter_report *r) {
  if (!r) return MIXSTAGE_ENULL;
  memset(r, 0, sizeof *r);
  if (!m) return MIXSTAGE_ENULL;
  const int ch = m->ch;
  const double n = (double)m->frames;
  r->channels = ch;
  r->sample_rate = m->rate;
  r->frames = m->frames;
  r->seconds = n / m->rate;

  double v;
  r->momentary_lufs =
      ebur128_loudness_momentary(m->st, &v) == EBUR128_SUCCESS ? v : -HUGE_VAL;
  r->short_term_lufs =
      ebur128_loudness_shortterm(m->st, &v) == EBUR128_SUCCESS ? v : -HUGE_VAL;
  /* A stream shorter than a window is read once at its end (padded with
   * silence), so a short sound still shows a maximum. */
  r->momentary_max_lufs = m->mom_max;
  r->short_term_max_lufs = m->short_max;
  if (m->frames > 0 && m->frames < m->win_m && r->momentary_lufs > r->momentary_max_lufs)
    r->momentary_max_lufs = r->momentary_lufs;
  if (m->frames > 0 && m->frames < m->win_s && r->short_term_lufs > r->short_term_max_lufs)
    r->short_term_max_lufs = r->short_term_lufs;
  r->integrated_lufs = ebur128_loudness_global(m->st, &v) == EBUR128_SUCCESS ? v : -HUGE_VAL;
  r->loudness_range_lu = mixstage__lra_value(&m->lra);

  double pkmax = 0.0, tpmax = 0.0, sstot = 0.0;
  for (int c = 0; c < ch; c++) {
    double pk = m->peak[c];
    r->sample_peak_dbfs[c] = db20(pk);
    if (pk > pkmax) pkmax = pk;
    double tp = -1.0;
    if (m->true_peak) {
      /* A true peak is never below the sample peak (BS.1770-4 Annex 2). */
      tp = mixstage__truepeak_value(&m->tp, c);
      if (pk > tp) tp = pk;
      if (tp > tpmax) tpmax = tp;
    }
    r->true_peak_dbtp[c] = tp >= 0.0 ? db20(tp) : -HUGE_VAL;
    double ms = n > 0 ? m->sumsq[c] / n : 0.0;
    sstot += m->sumsq[c];
    r->rms_dbfs[c] = db10(ms);
    r->crest_db[c] = ms > 0.0 ? r->sample_peak_dbfs[c] - r->rms_dbfs[c] : NAN;
    r->dc_offset[c] = n > 0 ? m->sum[c] / n : 0.0;
    r->clipped_samples[c] = m->clipped[c];
    r->clipped_total += m->clipped[c];
  }
  r->sample_peak_max_dbfs = db20(pkmax);
  r->true_peak_max_dbtp = m->true_peak ? db20(tpmax) : -HUGE_VAL;
  r->rms_total_dbfs = n > 0 ? db10(sstot / (n * ch)) : -HUGE_VAL;
  r->crest_total_db = sstot > 0.0 ? r->sample_peak_max_dbfs - r->rms_total_dbfs : NAN;

  r->correlation = r->balance_db = r->mid_side_ratio_db = NAN;
  r->mid_rms_dbfs = r->side_rms_dbfs = NAN;
  if (ch >= 2 && n > 0) {
    const double ll = m->sumsq[m->lch], rr = m->sumsq[m->rch], lr = m->s_lr;
    if (ll > 0.0 && rr > 0.0) {
      double c = lr / sqrt(ll * rr);
      r->correlation = c > 1.0 ? 1.0 : c < -1.0 ? -1.0 : c;
    }
    if (ll > 0.0 || rr > 0.0) r->balance_db = db10(ll) - db10(rr);
    /* (L+R)/2 and (L-R)/2 energies from the same three sums; clamp the
     * rounding residue of an exact cancellation to silence. */
    double mm = 0.25 * (ll + 2.0 * lr + rr), ss = 0.25 * (ll - 2.0 * lr + rr);
    double eps = 1e-12 * (ll + rr);
    if (mm < eps) mm = 0.0;
    if (ss < eps) ss = 0.0;
    r->mid_rms_dbfs = db10(mm / n);
    r->side_rms_dbfs = db10(ss / n);
    if (mm > 0.0 || ss > 0.0) r->mid_side_ratio_db = db10(mm) - db10(ss);
  }

  if (m->ser_n > 0) {
    r->momentary_series = malloc((size_t)m->ser_n * sizeof(double));
    r->short_term_series = malloc((size_t)m->ser_n * sizeof(double));
    if (!r->momentary_series || !r->short_term_series) {
      mixstage_meter_report_clear(r);
      return MIXSTAGE_ENOMEM;
    }
    memcpy(r->momentary_series, m->mser, (size_t)m->ser_n * sizeof(double));
    memcpy(r->short_term_series, m->sser, (size_t)m->ser_n * sizeof(double));
    r->series_count = m->ser_n;
  }
  r->series_truncated = m->truncated;
  return MIXSTAGE_OK;
}

MIXSTAGE_EXPORT int mixstage_meter_analyse(const float *data, int64_t frames, int channels,
                                           double rate, const mixstage_meter_config *cfg,
                                           mixstage_meter_report *report) {
  if (!report) return MIXSTAGE_ENULL;
  memset(report, 0, sizeof *report);
  if (!data && frames > 0) return MIXSTAGE_ENULL;
  if (frames < 0) return MIXSTAGE_EINVAL;
  mixstage_meter_config def;
  if (!cfg) {
    mixstage_meter_config_init(&def);
    cfg = &def;
  }
  int st = check_args(channels, rate, cfg);
  if (st != MIXSTAGE_OK) return st;
  /* The series holds one point per whole 100 ms of the buffer (+1 for the
   * rounding of odd rates). */
  int64_t pts = (int64_t)((double)frames / (rate * 0.1)) + 1;
  mixstage_meter *m = meter_new(channels, rate, METER_MAX_BLOCK, cfg, 1, pts, &st);
  if (!m) return st;
  st = meter_feed(m, data, frames);
  if (st == MIXSTAGE_OK) st = mixstage_meter_get_report(m, report);
  mixstage_meter_destroy(m);
  return st;
}

/* ======================== meters inside the graph ========================= */

/* The engine's buffers are planar and libebur128 takes interleaved frames:
 * interleave through a small stack buffer (4 KiB, 64 .. 1024 frames at a
 * time) rather than a per-meter scratch, so a meter needs nothing extra to be
 * attached and the engine's block size never matters.  Real-time safe in
 * histogram mode (attach refuses exact gating). */
int mixstage__meter_push_planar(mixstage_meter *m, float *const *planar, int frames) {
  float tmp[1024];
  const int ch = m->ch;
  const int step = (int)(sizeof tmp / sizeof tmp[0]) / ch;
  int st = MIXSTAGE_OK;
  for (int done = 0; done < frames && st == MIXSTAGE_OK; done += step) {
    int n = frames - done < step ? frames - done : step;
    for (int c = 0; c < ch; c++) {
      const float *x = planar[c] + done;
      for (int i = 0; i < n; i++) tmp[i * ch + c] = x[i];
    }
    st = meter_feed(m, tmp, n);
  }
  return st;
}

/* Back to the state of a freshly created meter (same settings, same series
 * capacity).  libebur128 has no reset, so its state is made anew; on failure
 * the meter keeps its old state. */
int mixstage__meter_restart(mixstage_meter *m) {
  ebur128_state *st = ebur128_init((unsigned)m->ch, (unsigned long)m->rate, m->ebur_mode);
  if (!st) return MIXSTAGE_ENOMEM;
  for (int c = 0; c < m->ch; c++) ebur128_set_channel(st, (unsigned)c, m->ebur_ch[c]);
  ebur128_destroy(&m->st);
  m->st = st;
  m->frames = m->points = 0;
  m->next_point = (int64_t)llround(m->rate * 0.1);
  m->mom_max = m->short_max = -HUGE_VAL;
  memset(m->peak, 0, sizeof m->peak);
  memset(m->sum, 0, sizeof m->sum);
  memset(m->sumsq, 0, sizeof m->sumsq);
  memset(m->clipped, 0, sizeof m->clipped);
  m->s_lr = 0.0;
  mixstage__hops_reset(&m->hops);
  m->ser_n = 0;
  m->truncated = 0;
  mixstage__lra_reset(&m->lra);
  mixstage__truepeak_reset(&m->tp);
  return MIXSTAGE_OK;
}

static const char *tap_name(int tap) { return tap == MIXSTAGE_TAP_PRE_FADER ? "pre-fader" : "post-fader"; }

/* Channels a unit has at a tap, from its routing (valid before prepare). */
static int unit_tap_channels(const mixstage__unit *u, int tap) {
  if (tap == MIXSTAGE_TAP_PRE_FADER) return u->channels;
  return u->output ? u->output->u.channels : u->channels;
}

int mixstage__meter_check(mixstage_graph *g, const mixstage__unit *u, int tap, const mixstage_meter *m,
                          int ch) {
  const char *what = mixstage__unit_what(u);
  if (m->exact)
    return mixstage__fail(g, MIXSTAGE_EINVAL,
                          "%s '%s': the meter at the %s tap uses exact gating, which allocates while "
                          "pushing; create it with exact_gating 0 to attach it",
                          what, u->name, tap_name(tap));
  if (m->rate != g->sample_rate)
    return mixstage__fail(g, MIXSTAGE_EINVAL, "%s '%s': the meter at the %s tap runs at %g Hz, the graph at %g Hz",
                          what, u->name, tap_name(tap), m->rate, g->sample_rate);
  if (m->ch != ch)
    return mixstage__fail(g, MIXSTAGE_ECHANNELS,
                          "%s '%s': the %d-channel meter does not fit the %s tap, which has %d channel%s", what,
                          u->name, m->ch, tap_name(tap), ch, ch == 1 ? "" : "s");
  return MIXSTAGE_OK;
}

static int attach(mixstage__unit *u, mixstage_meter *m, int tap) {
  mixstage_graph *g = u->graph;
  const char *what = mixstage__unit_what(u);
  if (tap != MIXSTAGE_TAP_PRE_FADER && tap != MIXSTAGE_TAP_POST_FADER)
    return mixstage__fail(g, MIXSTAGE_EINVAL, "%s '%s': meter tap %d is neither MIXSTAGE_TAP_PRE_FADER nor "
                          "MIXSTAGE_TAP_POST_FADER", what, u->name, tap);
  if (m) {
    int rc = mixstage__meter_check(g, u, tap, m, unit_tap_channels(u, tap));
    if (rc != MIXSTAGE_OK) return rc;
    /* Two taps pushing into one meter would mix two signals in one figure
     * and, in a threaded render, push from two threads at once. */
    for (int i = 0; i < g->strip_count + g->bus_count; i++) {
      const mixstage__unit *v = i < g->strip_count ? &g->strips[i]->u : &g->buses[i - g->strip_count]->u;
      for (int t = 0; t < 2; t++)
        if (v->meter[t] == m && !(v == u && t == tap))
          return mixstage__fail(g, MIXSTAGE_EINVAL,
                                "%s '%s': the meter is already attached to %s '%s' at the %s tap; a meter "
                                "measures one tap",
                                what, u->name, mixstage__unit_what(v), v->name, tap_name(t));
    }
  }
  u->meter[tap] = m;
  return MIXSTAGE_OK;
}

MIXSTAGE_EXPORT int mixstage_strip_attach_meter(mixstage_strip *strip, mixstage_meter *meter, int tap) {
  if (!strip) return MIXSTAGE_ENULL;
  return attach(&strip->u, meter, tap);
}

MIXSTAGE_EXPORT int mixstage_bus_attach_meter(mixstage_bus *bus, mixstage_meter *meter, int tap) {
  if (!bus) return MIXSTAGE_ENULL;
  return attach(&bus->u, meter, tap);
}

#define GR_MAX_SECONDS 86400.0

MIXSTAGE_EXPORT int mixstage_node_enable_gr_history(mixstage_node *node, double seconds) {
  if (!node) return MIXSTAGE_ENULL;
  mixstage_graph *g = node->graph;
  if (!node->cls->gain_reduction)
    return mixstage__fail(g, MIXSTAGE_EUNSUPPORTED,
                          "%s: a %s node reports no gain reduction, so it keeps no history (dynamics "
                          "nodes do)",
                          mixstage_node_label(node), node->cls->name);
  if (!(seconds >= 0.0 && seconds <= GR_MAX_SECONDS))
    return mixstage__fail(g, MIXSTAGE_ERANGE, "%s: gain-reduction history of %g s is outside 0 .. %g s",
                          mixstage_node_label(node), seconds, GR_MAX_SECONDS);
  int64_t cap = (int64_t)ceil(seconds * g->sample_rate / (double)MIXSTAGE__CELL);
  float *ring = NULL;
  if (cap > 0) {
    ring = mixstage__galloc(g, (size_t)cap, sizeof *ring);
    if (!ring)
      return mixstage__fail(g, MIXSTAGE_ENOMEM, "%s: out of memory for %g s of gain-reduction history",
                            mixstage_node_label(node), seconds);
  }
  mixstage__gfree(g, node->grh);
  node->grh = ring;
  mixstage__controls_moved(g); /* the engine runs a chain with a history cell by cell (span_ready) */
  node->grh_cap = cap;
  node->grh_n = node->grh_head = node->grh_next = 0;
  return MIXSTAGE_OK;
}

MIXSTAGE_EXPORT int64_t mixstage_node_gr_history(const mixstage_node *node, float *out_db, int64_t max_points,
                                                 int64_t *first_frame, int *hop_frames) {
  if (!node) return MIXSTAGE_ENULL;
  if (max_points < 0)
    return mixstage__fail(node->graph, MIXSTAGE_EINVAL, "%s: negative history capacity %lld",
                          mixstage_node_label(node), (long long)max_points);
  int64_t n = node->grh ? node->grh_n : 0;
  int64_t k = out_db ? (n < max_points ? n : max_points) : n;
  if (out_db && k > 0) {
    int64_t cap = node->grh_cap;
    int64_t i = (node->grh_head - k + cap) % cap; /* the newest k, oldest first */
    for (int64_t j = 0; j < k; j++) {
      out_db[j] = node->grh[i];
      if (++i == cap) i = 0;
    }
  }
  if (first_frame) *first_frame = k > 0 ? node->grh_next - k * MIXSTAGE__CELL : 0;
  if (hop_frames) *hop_frames = MIXSTAGE__CELL;
  return n;
}

MIXSTAGE_EXPORT int mixstage_node_clear_gr_history(mixstage_node *node) {
  if (!node) return MIXSTAGE_ENULL;
  node->grh_n = 0;
  return MIXSTAGE_OK;
}
