/* The loudness-targeted final master, album mastering and the streaming
 * report (include/mixstage/master.h).  Edit-time only.  The mix is captured
 * once where it enters the mastering limiter and the search's passes run
 * only the chain from there on (mastering_chain.h), each equal to a full
 * render of the final profile at its settings; graphs whose shape does not
 * allow that are bounced in full for every pass.  Every pass is measured
 * as mixstage_measure() does (libebur128, ITU-R BS.1770-4). */
#include <ebur128.h>
#include <math.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "loudness_gate.h"
#include "loudness_hops.h"
#include "loudness_range.h"
#include "mastering_chain.h"
#include "dsp/truepeak.h"
#include "mixstage.h"

/* The limiter's input-gain range (lib/nodes/limiter.c's parameter table). */
#define LIM_GAIN_MIN (-12.0)
#define LIM_GAIN_MAX 36.0
#define LIM_CEIL_MIN (-24.0)
/* The mix-bus fader's lowest setting (graph.h). */
#define FADER_MIN (-144.0)
/* Secant slopes are clamped to this range, LU per dB: 1 is the slope of an
 * unlimited programme (integrated loudness is homogeneous of degree 1 in
 * gain: every gated block moves with it); a limiter only lowers it. */
#define SLOPE_MIN 0.05
#define SLOPE_MAX 1.0
/* Extra margin when the measured true peak exceeds the ceiling, dB: the
 * limiter's ceiling is lowered by the excess plus this, so the next render
 * lands below rather than on the ceiling again. */
#define TP_MARGIN_DB 0.02

/* ---- presets ------------------------------------------------------------ */

typedef struct preset {
  const char *name;
  double lufs, dbtp;
} preset;

static const preset presets[] = {
    {"streaming", -14.0, -1.0},
    {"apple-music", -16.0, -1.0},
    {"ebu-r128", -23.0, -1.0},
    {"club", -8.0, -0.3},
};
#define PRESET_COUNT ((int)(sizeof presets / sizeof presets[0]))

MIXSTAGE_EXPORT void mixstage_master_config_init(mixstage_master_config *cfg) {
  if (!cfg) return;
  memset(cfg, 0, sizeof *cfg);
  cfg->target_lufs = presets[0].lufs;
  cfg->ceiling_dbtp = presets[0].dbtp;
  cfg->tolerance_lu = 0.3;
  cfg->max_iterations = 12;
  cfg->use_bus_fader = 1;
}

MIXSTAGE_EXPORT const char *mixstage_master_preset_name(int index) {
  return index >= 0 && index < PRESET_COUNT ? presets[index].name : NULL;
}

MIXSTAGE_EXPORT int mixstage_master_config_preset_index(mixstage_master_config *cfg, int index) {
  if (!cfg) return MIXSTAGE_ENULL;
  if (index < 0 || index >= PRESET_COUNT) return MIXSTAGE_ERANGE;
  cfg->target_lufs = presets[index].lufs;
  cfg->ceiling_dbtp = presets[index].dbtp;
  return MIXSTAGE_OK;
}

MIXSTAGE_EXPORT int mixstage_master_config_preset(mixstage_master_config *cfg, const char *name) {
  if (!cfg || !name) return MIXSTAGE_ENULL;
  for (int i = 0; i < PRESET_COUNT; i++)
    if (strcmp(presets[i].name, name) == 0) return mixstage_master_config_preset_index(cfg, i);
  return MIXSTAGE_ENOTFOUND;
}

/* ---- streaming report --------------------------------------------------- */

/* Reference levels as the services describe their default normalisation
 * (assumptions, dates unknown): see master.h for the model. */
static const struct {
  const char *name;
  double ref;
  int up;
} services[MIXSTAGE_STREAMING_SERVICES] = {
    {"Spotify", -14.0, 1},
    {"Apple Music", -16.0, 0},
    {"YouTube", -14.0, 0},
    {"Tidal", -14.0, 0},
    {"Amazon Music", -14.0, 0},
};
/* Spotify raises quiet masters only until the true peak reaches this. */
#define SPOTIFY_TP_LIMIT (-1.0)

MIXSTAGE_EXPORT int mixstage_master_streaming_report(double lufs, double tp, mixstage_streaming_gain *out) {
  if (!out) return MIXSTAGE_ENULL;
  for (int i = 0; i < MIXSTAGE_STREAMING_SERVICES; i++) {
    double g = 0.0;
    if (isfinite(lufs)) {
      g = services[i].ref - lufs;
      if (g > 0.0) {
        if (!services[i].up) g = 0.0;
        else {
          double room = isfinite(tp) ? SPOTIFY_TP_LIMIT - tp : g;
          if (room < 0.0) room = 0.0;
          if (g > room) g = room;
        }
      }
    }
    out[i].service = services[i].name;
    out[i].reference_lufs = services[i].ref;
    out[i].turns_up = services[i].up;
    out[i].gain_db = g;
  }
  return MIXSTAGE_OK;
}

/* ---- the search ---------------------------------------------------------- */

/* A programme's capture is held in memory up to this size (4 bytes per
 * sample: about 5.8 minutes of stereo at 48 kHz), and spilled to a
 * temporary file beyond it; the passes' outputs follow the capture.  In
 * memory a master needs about three times this (the capture, the pass being
 * measured and the best so far); spilled, a few blocks. */
#define MASTER_MEMORY_BYTES ((int64_t)128 << 20)

static _Atomic int64_t memory_budget = MASTER_MEMORY_BYTES;
static _Atomic int force_full_renders = 0;
static _Atomic long capture_count = 0;

long mixstage__master_capture_count(void) { return atomic_load(&capture_count); }

void mixstage__master_tuning(int64_t memory_bytes, int full_renders) {
  atomic_store(&memory_budget, memory_bytes >= 0 ? memory_bytes : MASTER_MEMORY_BYTES);
  atomic_store(&force_full_renders, full_renders != 0);
}

typedef struct target {
  double lufs, ceiling, tol;
  int max_it, use_fader;
} target;

typedef struct master_ctx {
  mixstage_graph *g;
  mixstage_bus *mix;
  mixstage_node *lim;
  int lim_index; /* its position in the mix bus's chain */
  int id_gain, id_ceiling, id_tp;
  double fader0; /* the mix-bus fader as the user left it */
  double x_min;  /* lowest total gain reachable (limiter + fader) */
} master_ctx;

static int find_limiter(mixstage_graph *g, master_ctx *c) {
  memset(c, 0, sizeof *c);
  c->g = g;
  c->mix = mixstage_graph_mix_bus(g);
  for (int i = mixstage_bus_node_count(c->mix) - 1; i >= 0 && !c->lim; i--) {
    mixstage_node *n = mixstage_bus_node(c->mix, i);
    if (mixstage_node_role(n) == MIXSTAGE_ROLE_MASTERING && strcmp(mixstage_node_type(n), "limiter") == 0) {
      c->lim = n;
      c->lim_index = i;
    }
  }
  if (!c->lim)
    return mixstage__fail(g, MIXSTAGE_EINVAL,
                          "mix bus '%s': no limiter with role mastering to master with; "
                          "add a limiter with role mastering (mixstage_bus_insert(mix, \"limiter\", "
                          "MIXSTAGE_ROLE_MASTERING, -1, &err))",
                          mixstage_bus_name(c->mix));
  c->id_gain = mixstage_node_param_id(c->lim, "input_gain");
  c->id_ceiling = mixstage_node_param_id(c->lim, "ceiling");
  c->id_tp = mixstage_node_param_id(c->lim, "true_peak");
  if (c->id_gain < 0 || c->id_ceiling < 0 || c->id_tp < 0)
    return mixstage__fail(g, MIXSTAGE_EINVAL, "%s: not the expected limiter parameters",
                          mixstage_node_label(c->lim));
  /* The fader follows the limiter: anything but 0 dB there would move the
   * true peak off the ceiling the limiter holds, so the master owns it (0 dB,
   * or lower for targets below the limiter's input-gain range). */
  c->fader0 = 0.0;
  return MIXSTAGE_OK;
}

/* Total gain x (dB) split between the limiter's input gain and, below its
 * range, the mix-bus fader, which follows the inserts (the engine applies a
 * unit's fader after its insert chain) and so moves loudness and true peak
 * by exactly the same dB. */
static void split_gain(const master_ctx *c, double x, double *lim_db, double *fader_db) {
  double li = x, fd = c->fader0;
  if (x < LIM_GAIN_MIN) {
    li = LIM_GAIN_MIN;
    fd = c->fader0 + (x - LIM_GAIN_MIN);
  }
  *lim_db = li;
  *fader_db = fd;
}

/* Sets the graph to total gain x and the limiter's ceiling. */
static int apply_gain(master_ctx *c, double x, double ceiling, double *lim_db, double *fader_db) {
  double li, fd;
  split_gain(c, x, &li, &fd);
  int rc = mixstage_node_set_param(c->lim, c->id_gain, li);
  if (rc >= 0) rc = mixstage_node_set_param(c->lim, c->id_ceiling, ceiling);
  if (rc >= 0) rc = mixstage_node_set_param(c->lim, c->id_tp, 1.0);
  if (rc >= 0) rc = mixstage_bus_set_fader_db(c->mix, fd);
  if (rc < 0) return mixstage__fail(c->g, rc, "%s: setting the master gain failed", mixstage_node_label(c->lim));
  *lim_db = li;
  *fader_db = fd;
  return MIXSTAGE_OK;
}

/* Where the graph stands: the limiter's gain, plus the fader if an earlier
 * master took it below 0 dB. */
static double current_gain(master_ctx *c, int use_fader) {
  double x = 0.0;
  mixstage_node_get_param(c->lim, c->id_gain, &x);
  double f_now = mixstage_bus_fader_db(c->mix);
  if (f_now < 0.0 && use_fader && x <= LIM_GAIN_MIN) x += f_now;
  return x;
}

/* ---- measuring a programme block by block ---------------------------------- */

/* The figures mixstage_measure() gives for integrated loudness, true peak and
 * loudness range, from a stream: the same libebur128 state (modes, channel
 * map), the same true-peak interpolator, hop energies, gating bins and
 * loudness-range histogram fed on the same 100 ms grid anchored at frame 0
 * (io.c's meter), without the checksum, RMS and maxima the search does not
 * use.  A pass is measured
 * block by block as it is produced, whether it is kept in memory or on
 * disk; tests/check_master.c checks the figures against mixstage_measure()
 * of the same audio (the full-render passes use it), equal to the bit. */
typedef struct stream_meter {
  ebur128_state *st;
  mixstage__truepeak *tp;
  mixstage__lra lra;
  mixstage__gate gate;
  mixstage__loudness_hops hops;
  int lra_ok, gate_ok, hop_energy, channels;
  double rate, peak;
  int64_t frames, hop, since_hop, win_m, win_s;
} stream_meter;

static void stream_meter_free(stream_meter *m) {
  if (m->st) ebur128_destroy(&m->st);
  if (m->lra_ok) mixstage__lra_free(&m->lra);
  if (m->gate_ok) mixstage__gate_free(&m->gate);
  free(m->tp);
  memset(m, 0, sizeof *m);
}

static int stream_meter_init(stream_meter *m, int channels, double rate) {
  memset(m, 0, sizeof *m);
  unsigned long r = (unsigned long)lround(rate);
  m->st = ebur128_init((unsigned)channels, r, EBUR128_MODE_M | EBUR128_MODE_S);
  m->tp = malloc(sizeof *m->tp);
  m->lra_ok = mixstage__lra_init(&m->lra) == MIXSTAGE_OK;
  m->gate_ok = mixstage__gate_init(&m->gate) == MIXSTAGE_OK;
  if (!m->st || !m->tp || !m->lra_ok || !m->gate_ok) {
    stream_meter_free(m);
    return MIXSTAGE_ENOMEM;
  }
  static const int map_7_1_4[12] = {EBUR128_LEFT,  EBUR128_RIGHT, EBUR128_CENTER, EBUR128_UNUSED,
                                    EBUR128_Mp135, EBUR128_Mm135, EBUR128_Mp090,  EBUR128_Mm090,
                                    EBUR128_Up045, EBUR128_Um045, EBUR128_Up135,  EBUR128_Um135};
  if (channels == 8 || channels == 12)
    for (int c = 0; c < channels; c++) ebur128_set_channel(m->st, (unsigned)c, map_7_1_4[c]);
  mixstage__truepeak_init(m->tp, channels);
  m->channels = channels;
  m->rate = rate;
  m->hop = (int64_t)lround(rate * 0.1);
  m->win_m = (int64_t)lround(rate * 0.4);
  m->win_s = (int64_t)lround(rate * 3.0);
  m->hop_energy = r % 10 == 0 && (int64_t)(r / 10) == m->hop && m->win_m == 4 * m->hop && m->win_s == 30 * m->hop;
  return MIXSTAGE_OK;
}

static int stream_meter_add(stream_meter *m, const float *x, int64_t n) {
  const int ch = m->channels;
  double pk = m->peak;
  for (int64_t i = 0; i < n * ch; i++) {
    double a = fabs((double)x[i]);
    if (a > pk) pk = a;
  }
  m->peak = pk;
  mixstage__truepeak_add(m->tp, x, (long)n);
  while (n > 0) {
    int64_t k = m->hop - m->since_hop;
    if (k > n) k = n;
    if (ebur128_add_frames_float(m->st, x, (size_t)k) != EBUR128_SUCCESS) return MIXSTAGE_ENOMEM;
    x += k * ch;
    n -= k;
    m->frames += k;
    m->since_hop += k;
    if (m->since_hop == m->hop && m->hop_energy) {
      m->since_hop = 0;
      double mo, sh;
      mixstage__hops_push(&m->hops, m->st, &mo, &sh);
      if (m->frames >= m->win_m) mixstage__gate_add(&m->gate, mixstage__hops_block_energy(&m->hops));
      if (m->frames >= m->win_s) mixstage__lra_add(&m->lra, sh);
    } else if (m->since_hop == m->hop) {
      m->since_hop = 0;
      double v;
      if (m->frames >= m->win_m && ebur128_loudness_momentary(m->st, &v) == EBUR128_SUCCESS && v > -HUGE_VAL)
        mixstage__gate_add(&m->gate, pow(10.0, (v + 0.691) / 10.0));
      if (m->frames >= m->win_s && ebur128_loudness_shortterm(m->st, &v) == EBUR128_SUCCESS)
        mixstage__lra_add(&m->lra, v);
    }
  }
  return MIXSTAGE_OK;
}

static double db20(double a) { return a > 0.0 ? 20.0 * log10(a) : -HUGE_VAL; }

/* The figures the master uses; the rest of *s is zero. */
static void stream_meter_finish(stream_meter *m, mixstage_file_stats *s) {
  memset(s, 0, sizeof *s);
  s->frames = m->frames;
  s->channels = m->channels;
  s->sample_rate = m->rate;
  s->seconds = (double)m->frames / m->rate;
  s->peak_dbfs = db20(m->peak);
  double tp = 0.0;
  for (int c = 0; c < m->channels; c++)
    if (mixstage__truepeak_value(m->tp, c) > tp) tp = mixstage__truepeak_value(m->tp, c);
  if (m->peak > tp) tp = m->peak;
  s->true_peak_dbtp = db20(tp);
  s->integrated_lufs = mixstage__gate_value(&m->gate);
  s->loudness_range_lu = mixstage__lra_value(&m->lra);
  s->format = -1;
  s->sample_type = MIXSTAGE_SAMPLE_FLOAT32;
}

/* ---- measuring passes -------------------------------------------------------- */

/* What the search measures: either the captured mastering chain run at the
 * candidate settings (mastering_chain.h), or, where the graph's shape does
 * not allow that, a full bounce of the final profile.  Both give the same
 * audio for the same settings. */
typedef struct session {
  master_ctx c;
  const mixstage_render_config *render;
  mixstage__mchain *chain; /* NULL: full renders */
  int channels;
  double rate;
  /* chain passes: the pass being measured and the best so far */
  mixstage__spool cur, best;
  /* full renders */
  mixstage_bounce *cur_b, *best_b;
  stream_meter meter; /* chain passes */
} session;

/* Sets up the measuring passes of c's graph: captures the chain when it can.
 * memory_bytes: this programme's share of the memory budget. */
static int session_open(session *s, const master_ctx *c, const mixstage_render_config *render,
                        int64_t memory_bytes) {
  memset(s, 0, sizeof *s);
  s->c = *c;
  s->render = render;
  s->channels = mixstage_bus_channels(c->mix);
  s->rate = mixstage_graph_sample_rate(c->g);
  if (atomic_load(&force_full_renders)) return MIXSTAGE_OK;
  /* Every pass detects true peaks (and the graph is left so): the capture
   * is prepared with it, so that the latencies match the passes'. */
  int rc = mixstage_node_set_param(c->lim, c->id_tp, 1.0);
  if (rc < 0) return rc;
  char why[256] = "";
  rc = mixstage__mchain_capture(c->g, c->lim_index, render, memory_bytes, &s->chain, why, sizeof why);
  if (rc == MIXSTAGE_EUNSUPPORTED || rc == MIXSTAGE_ENUMERIC) return MIXSTAGE_OK; /* full renders */
  if (rc == MIXSTAGE_ECANCELLED) return mixstage__fail(c->g, rc, "master: cancelled by the caller");
  if (rc == MIXSTAGE_EIO) return mixstage__fail(c->g, rc, "master: %s", why);
  if (rc == MIXSTAGE_ENOMEM) return mixstage__fail(c->g, rc, "master: out of memory capturing the mix");
  if (rc < 0) return rc;
  atomic_fetch_add(&capture_count, 1);
  return MIXSTAGE_OK;
}

/* Empties the passes' outputs before a search. */
static int session_begin(session *s) {
  mixstage_bounce_destroy(s->cur_b);
  mixstage_bounce_destroy(s->best_b);
  s->cur_b = s->best_b = NULL;
  mixstage__spool_close(&s->cur);
  mixstage__spool_close(&s->best);
  if (!s->chain) return MIXSTAGE_OK;
  char why[256] = "";
  int mem = mixstage__mchain_in_memory(s->chain);
  int64_t frames = mixstage__mchain_frames(s->chain);
  int rc = mixstage__spool_open(&s->cur, s->channels, frames, mem, why, sizeof why);
  if (rc == MIXSTAGE_OK) rc = mixstage__spool_open(&s->best, s->channels, frames, mem, why, sizeof why);
  if (rc != MIXSTAGE_OK) return mixstage__fail(s->c.g, rc, "master: %s", rc == MIXSTAGE_EIO ? why : "out of memory");
  return MIXSTAGE_OK;
}

static void session_close(session *s) {
  mixstage__spool_close(&s->cur);
  mixstage__spool_close(&s->best);
  mixstage__mchain_destroy(s->chain);
  mixstage_bounce_destroy(s->cur_b);
  mixstage_bounce_destroy(s->best_b);
  stream_meter_free(&s->meter);
  memset(s, 0, sizeof *s);
}

/* Each block of a pass is kept and measured while it is still in cache. */
static int pass_sink(void *user, const float *x, int frames) {
  session *s = user;
  int rc = mixstage__spool_write(&s->cur, x, frames);
  if (rc == MIXSTAGE_OK) rc = stream_meter_add(&s->meter, x, frames);
  return rc;
}

/* One measuring pass at total gain x (limiter input gain li and fader fd,
 * split_gain()) and limiter ceiling ceil. */
static int session_pass(session *s, double x, double ceil, mixstage_file_stats *st) {
  master_ctx *c = &s->c;
  const mixstage_render_config *r = s->render;
  double li, fd;
  if (!s->chain) {
    int rc = apply_gain(c, x, ceil, &li, &fd);
    if (rc < 0) return rc;
    int err = MIXSTAGE_OK;
    mixstage_bounce_destroy(s->cur_b);
    s->cur_b = mixstage_graph_bounce(c->g, mixstage_profile_find("final"), r, &err);
    if (!s->cur_b) return err < 0 ? err : MIXSTAGE_ENOMEM;
    int k = mixstage_bounce_find(s->cur_b, "mix");
    if (k < 0) return mixstage__fail(c->g, MIXSTAGE_ESTATE, "the final profile delivered no mix");
    return mixstage_measure(mixstage_bounce_data(s->cur_b, k), mixstage_bounce_frames(s->cur_b),
                            mixstage_bounce_channels(s->cur_b), s->rate, st);
  }
  /* The capture is done: progress stays at its end, and every pass gives
   * the caller a chance to cancel. */
  int64_t T = mixstage__mchain_frames(s->chain);
  if (r && r->progress && r->progress(r->progress_user, T, T))
    return mixstage__fail(c->g, MIXSTAGE_ECANCELLED, "master: cancelled by the caller");
  split_gain(c, x, &li, &fd);
  int rc = mixstage__mchain_set_param(s->chain, c->lim_index, c->id_gain, li);
  if (rc == MIXSTAGE_OK) rc = mixstage__mchain_set_param(s->chain, c->lim_index, c->id_ceiling, ceil);
  if (rc == MIXSTAGE_OK) rc = mixstage__mchain_set_param(s->chain, c->lim_index, c->id_tp, 1.0);
  if (rc != MIXSTAGE_OK) return rc;
  mixstage__mchain_set_fader_db(s->chain, fd);
  rc = mixstage__spool_clear(&s->cur);
  if (rc == MIXSTAGE_OK) {
    stream_meter_free(&s->meter);
    rc = stream_meter_init(&s->meter, s->channels, s->rate);
  }
  if (rc == MIXSTAGE_OK) rc = mixstage__mchain_run(s->chain, pass_sink, s);
  if (rc == MIXSTAGE_EIO) return mixstage__fail(c->g, rc, "master: reading or writing a temporary file failed");
  if (rc == MIXSTAGE_EUNSUPPORTED)
    return mixstage__fail(c->g, MIXSTAGE_ESTATE, "%s: its latency changed with the master's settings",
                          mixstage_node_label(c->lim));
  if (rc < 0) return rc;
  stream_meter_finish(&s->meter, st);
  return MIXSTAGE_OK;
}

/* The pass just measured becomes the best. */
static void session_keep(session *s) {
  if (!s->chain) {
    mixstage_bounce_destroy(s->best_b);
    s->best_b = s->cur_b;
    s->cur_b = NULL;
    return;
  }
  mixstage__spool t = s->best;
  s->best = s->cur;
  s->cur = t;
}

/* The best pass's audio, malloc'd (frames x channels). */
static int session_best_audio(session *s, float **audio, int64_t frames) {
  size_t n = (size_t)frames * (size_t)s->channels;
  if (!s->chain) {
    int k = s->best_b ? mixstage_bounce_find(s->best_b, "mix") : -1;
    if (k < 0) return MIXSTAGE_ESTATE;
    *audio = malloc(n ? n * sizeof(float) : 1);
    if (!*audio) return MIXSTAGE_ENOMEM;
    memcpy(*audio, mixstage_bounce_data(s->best_b, k), n * sizeof(float));
    return MIXSTAGE_OK;
  }
  if (s->best.mem) {
    *audio = mixstage__spool_take(&s->best);
    return *audio ? MIXSTAGE_OK : MIXSTAGE_ENOMEM;
  }
  *audio = malloc(n ? n * sizeof(float) : 1);
  if (!*audio) return MIXSTAGE_ENOMEM;
  int rc = mixstage__spool_rewind(&s->best);
  int64_t got = rc == MIXSTAGE_OK ? mixstage__spool_read(&s->best, *audio, frames) : rc;
  if (got != frames) {
    free(*audio);
    *audio = NULL;
    return mixstage__fail(s->c.g, MIXSTAGE_EIO, "master: reading a temporary file failed");
  }
  return MIXSTAGE_OK;
}

/* Hands the best pass's audio to sink in order, in blocks, without a
 * render: from memory, the bounce, or the temporary file. */
static int session_best_stream(session *s, int64_t frames, mixstage__mchain_sink sink, void *user) {
  const int C = s->channels;
  const float *data = NULL;
  if (!s->chain) {
    int k = s->best_b ? mixstage_bounce_find(s->best_b, "mix") : -1;
    if (k < 0) return MIXSTAGE_ESTATE;
    data = mixstage_bounce_data(s->best_b, k);
  } else if (s->best.mem) {
    data = s->best.mem;
  }
  if (data) {
    for (int64_t pos = 0; pos < frames; pos += 4096) {
      int n = frames - pos < 4096 ? (int)(frames - pos) : 4096;
      int rc = sink(user, data + (size_t)pos * (size_t)C, n);
      if (rc < 0) return rc;
    }
    return MIXSTAGE_OK;
  }
  float *buf = malloc(sizeof(float) * 4096 * (size_t)C);
  if (!buf) return MIXSTAGE_ENOMEM;
  int rc = mixstage__spool_rewind(&s->best);
  for (int64_t pos = 0; rc == MIXSTAGE_OK && pos < frames;) {
    int64_t got = mixstage__spool_read(&s->best, buf, 4096);
    if (got <= 0) {
      rc = mixstage__fail(s->c.g, MIXSTAGE_EIO, "master: reading a temporary file failed");
      break;
    }
    rc = sink(user, buf, (int)got);
    if (rc > 0) rc = MIXSTAGE_OK;
    pos += got;
  }
  free(buf);
  return rc;
}

/* Ranks attempts for "best so far": true-peak safe first, then closest. */
static double badness(const target *t, double L, double tp) {
  double e = fabs(L - t->lufs);
  return tp > t->ceiling ? 1000.0 + e : e;
}

/* The search (see master.h) over s's measuring passes. */
static int master_one(session *s, const target *t, mixstage_master_report *rep, float **audio_out,
                      mixstage__mchain_sink sink, void *sink_user) {
  master_ctx c = s->c;
  mixstage_graph *g = c.g;
  int rc = session_begin(s);
  if (rc < 0) return rc;
  c.x_min = t->use_fader ? LIM_GAIN_MIN + (FADER_MIN - c.fader0) : LIM_GAIN_MIN;
  if (c.x_min > LIM_GAIN_MIN) c.x_min = LIM_GAIN_MIN;
  s->c.x_min = c.x_min;

  memset(rep, 0, sizeof *rep);
  rep->target_lufs = t->lufs;
  rep->ceiling_dbtp = t->ceiling;
  rep->tolerance_lu = t->tol;

  double x = current_gain(&c, t->use_fader);
  int turned = 0; /* 1 once more gain was seen to make the master quieter */
  double ceil_db = t->ceiling;
  /* Bracket of total gains known to be too quiet (lo) and too loud (hi). */
  double lo = -HUGE_VAL, hi = HUGE_VAL;
  int have_prev = 0, have_best = 0;
  double xp = 0.0, Lp = 0.0;
  double best_bad = HUGE_VAL, best_x = x, best_ceil = ceil_db;
  mixstage_file_stats best_st;
  memset(&best_st, 0, sizeof best_st);
  int status = MIXSTAGE_ESTATE;

  for (int it = 0; it < t->max_it; it++) {
    double li, fd;
    split_gain(&c, x, &li, &fd);
    mixstage_file_stats st;
    rc = session_pass(s, x, ceil_db, &st);
    if (rc < 0) break;
    double L = st.integrated_lufs, tp = st.true_peak_dbtp;
    mixstage_master_step *sp = &rep->steps[rep->iteration_count++];
    sp->input_gain_db = li;
    sp->bus_fader_db = fd;
    sp->ceiling_db = ceil_db;
    sp->integrated_lufs = L;
    sp->true_peak_dbtp = tp;
    if (!isfinite(L)) {
      rc = mixstage__fail(g, MIXSTAGE_ERANGE, "mix bus '%s': the final mix is silent (below the -70 LUFS "
                          "gate); there is nothing to master", mixstage_bus_name(c.mix));
      break;
    }
    double bad = badness(t, L, tp);
    if (bad < best_bad) {
      session_keep(s);
      have_best = 1;
      best_bad = bad;
      best_x = x;
      best_ceil = ceil_db;
      best_st = st;
    }
    int loud_ok = fabs(L - t->lufs) <= t->tol, tp_ok = tp <= t->ceiling;
    if (loud_ok && tp_ok) {
      status = MIXSTAGE_OK;
      break;
    }
    if (!tp_ok) {
      /* The meter's interpolator reads a little above the limiter's own
       * detector: lower the limiter's ceiling by the excess and measure
       * again at the same gain.  The loudness curve changed, so the secant
       * history and bracket start afresh. */
      double nc = ceil_db - (tp - t->ceiling) - TP_MARGIN_DB;
      if (nc < LIM_CEIL_MIN) {
        rc = mixstage__fail(g, MIXSTAGE_ERANGE, "%s: the true peak stays above %.2f dBTP even with the "
                            "ceiling at %.1f dB", mixstage_node_label(c.lim), t->ceiling, LIM_CEIL_MIN);
        break;
      }
      ceil_db = nc;
      have_prev = 0;
      lo = -HUGE_VAL;
      hi = HUGE_VAL;
      continue;
    }
    double slope = 1.0;
    if (have_prev && fabs(x - xp) > 1e-9) slope = (L - Lp) / (x - xp);
    if (L < t->lufs) {
      /* Driven so hard that more gain made it quieter (the limiter's
       * release pumping): the loudest point lies below x, so x bounds the
       * search from above like a too-loud point. */
      /* More gain made it quieter: the relative gate of BS.1770 now admits
       * quiet passages the limiter has raised (or the release pumps), so
       * the curve is not monotonic here.  Probe the top of the range: if
       * that is loud enough it brackets a crossing, if not the target is
       * out of reach. */
      if (have_prev && x > xp && L <= Lp) turned = 1;
      if (x > lo) lo = x;
    } else if (x < hi) {
      hi = x;
    }
    /* Everything before the limiter ignores its input gain, so while the
     * true peak sits clearly below the limiter's ceiling the limiter is
     * idle here and at every lower gain: going down, the slope is exactly 1. */
    if (L > t->lufs && tp < ceil_db - 1.0) slope = 1.0;
    if (!(slope >= SLOPE_MIN)) slope = SLOPE_MIN; /* also catches NaN */
    if (slope > SLOPE_MAX) slope = SLOPE_MAX;
    /* Aim half the tolerance past the target in the direction of travel:
     * on a concave curve both the first slope-1 step and the secant fall
     * short, and an exact prediction still lands within the tolerance. */
    double aim = t->lufs + (L < t->lufs ? 0.5 : -0.5) * t->tol;
    double dx = (aim - L) / slope;
    /* Going down while the limiter works, the secant of a concave curve
     * over-steps and slope 1 under-steps: the root lies between the two
     * predictions, so take their mean. */
    if (L > t->lufs && slope < 1.0) dx = 0.5 * (dx + (aim - L));
    /* A flat stretch of the curve gives a tiny slope and a huge step: take
     * at most 4 dB per LU still missing (plus 1 dB), so one poor estimate
     * cannot throw the gain to the end of its range. */
    double cap = 4.0 * fabs(t->lufs - L) + 1.0;
    if (dx > cap) dx = cap;
    if (dx < -cap) dx = -cap;
    double xn = x + dx;
    if (turned && !isfinite(hi)) xn = LIM_GAIN_MAX;
    if (xn > LIM_GAIN_MAX) xn = LIM_GAIN_MAX;
    if (xn < c.x_min) xn = c.x_min;
    if (isfinite(lo) && isfinite(hi) && !(xn > lo && xn < hi)) xn = 0.5 * (lo + hi);
    if (fabs(xn - x) < 1e-6) {
      /* Pinned at an end of the range and still off target, or a bracket
       * narrowed to nothing across a jump of the gated loudness (reported
       * below as not converged). */
      if (x < LIM_GAIN_MAX - 1e-9 && x > c.x_min + 1e-9) break;
      if (L < t->lufs)
        rc = mixstage__fail(g, MIXSTAGE_ERANGE, "%s: %.1f LUFS at the limiter's highest input gain "
                            "(+%.0f dB); the target %.1f LUFS is out of reach", mixstage_node_label(c.lim),
                            L, LIM_GAIN_MAX, t->lufs);
      else
        rc = mixstage__fail(g, MIXSTAGE_ERANGE, "%s: %.1f LUFS at the lowest gain available (%.0f dB%s); "
                            "the target %.1f LUFS is out of reach", mixstage_node_label(c.lim), L, x,
                            t->use_fader ? ", limiter and mix-bus fader" : "; use_bus_fader is off",
                            t->lufs);
      break;
    }
    have_prev = 1;
    xp = x;
    Lp = L;
    x = xn;
  }

  if (have_best) {
    /* Leave the graph at the attempt reported (the best one). */
    double li, fd;
    int rc2 = apply_gain(&c, best_x, best_ceil, &li, &fd);
    rep->integrated_lufs = best_st.integrated_lufs;
    rep->true_peak_dbtp = best_st.true_peak_dbtp;
    rep->loudness_range_lu = best_st.loudness_range_lu;
    rep->input_gain_db = li;
    rep->bus_fader_db = fd;
    rep->limiter_ceiling_db = best_ceil;
    rep->frames = best_st.frames;
    rep->converged = status == MIXSTAGE_OK;
    mixstage_master_streaming_report(best_st.integrated_lufs, best_st.true_peak_dbtp, rep->streaming);
    if (sink && rc >= 0 && rc2 >= 0) {
      int rc3 = session_best_stream(s, best_st.frames, sink, sink_user);
      if (rc3 < 0) rc = rc3;
    }
    if (audio_out && rc >= 0 && rc2 >= 0) {
      int rc3 = session_best_audio(s, audio_out, best_st.frames);
      if (rc3 < 0) rc = rc3;
    }
    if (rc >= 0 && rc2 < 0) rc = rc2;
  }
  if (rc < 0) return rc;
  if (status != MIXSTAGE_OK)
    return mixstage__fail(g, MIXSTAGE_ESTATE, "%s: not on target after %d passes (best %.2f LUFS, %.2f dBTP; "
                          "target %.2f +- %.2f LUFS, ceiling %.2f dBTP)", mixstage_node_label(c.lim),
                          rep->iteration_count, rep->integrated_lufs, rep->true_peak_dbtp, t->lufs, t->tol,
                          t->ceiling);
  return MIXSTAGE_OK;
}

static int check_config(const mixstage_master_config *cfg, target *t) {
  mixstage_master_config d;
  if (!cfg) {
    mixstage_master_config_init(&d);
    cfg = &d;
  }
  if (!(cfg->target_lufs >= -40.0 && cfg->target_lufs <= -3.0) ||
      !(cfg->ceiling_dbtp >= -12.0 && cfg->ceiling_dbtp <= 0.0) ||
      !(cfg->tolerance_lu >= 0.05 && cfg->tolerance_lu <= 3.0) || cfg->max_iterations < 2 ||
      cfg->max_iterations > MIXSTAGE_MASTER_MAX_ITERATIONS || (cfg->use_bus_fader != 0 && cfg->use_bus_fader != 1))
    return MIXSTAGE_EINVAL;
  t->lufs = cfg->target_lufs;
  t->ceiling = cfg->ceiling_dbtp;
  t->tol = cfg->tolerance_lu;
  t->max_it = cfg->max_iterations;
  t->use_fader = cfg->use_bus_fader;
  return MIXSTAGE_OK;
}

/* mixstage_graph_master(), handing the master to audio_out or sink. */
static int graph_master(mixstage_graph *graph, const mixstage_master_config *cfg,
                        const mixstage_render_config *render, mixstage_master_report *out, float **audio_out,
                        mixstage__mchain_sink sink, void *sink_user) {
  if (audio_out) *audio_out = NULL;
  if (!graph) return MIXSTAGE_ENULL;
  target t;
  if (check_config(cfg, &t) < 0)
    return mixstage__fail(graph, MIXSTAGE_EINVAL, "master config: target -40..-3 LUFS, ceiling -12..0 dBTP, "
                          "tolerance 0.05..3 LU, 2..%d iterations, use_bus_fader 0 or 1",
                          MIXSTAGE_MASTER_MAX_ITERATIONS);
  master_ctx c;
  int rc = find_limiter(graph, &c);
  if (rc < 0) return rc;
  session s;
  rc = session_open(&s, &c, render, atomic_load(&memory_budget));
  mixstage_master_report local;
  if (rc >= 0) rc = master_one(&s, &t, out ? out : &local, audio_out, sink, sink_user);
  session_close(&s);
  return rc;
}

MIXSTAGE_EXPORT int mixstage_graph_master(mixstage_graph *graph, const mixstage_master_config *cfg,
                                          const mixstage_render_config *render,
                                          mixstage_master_report *out, float **audio_out) {
  return graph_master(graph, cfg, render, out, audio_out, NULL, NULL);
}

int mixstage__graph_master_to(mixstage_graph *graph, const mixstage_master_config *cfg,
                              const mixstage_render_config *render, mixstage_master_report *out,
                              mixstage__mchain_sink sink, void *user) {
  if (!sink) return MIXSTAGE_ENULL;
  return graph_master(graph, cfg, render, out, NULL, sink, user);
}

/* ---- album ---------------------------------------------------------------- */

/* libebur128 state for one song's audio, with the BS.1770-4 channel weights
 * io.c uses (libebur128's default map covers 1-6 channels; 7.1 and 7.1.4 in
 * WAVEFORMATEXTENSIBLE order are set explicitly). */
static ebur128_state *song_state(const float *x, int64_t frames, int ch, double rate) {
  ebur128_state *st = ebur128_init((unsigned)ch, (unsigned long)lround(rate), EBUR128_MODE_I);
  if (!st) return NULL;
  static const int map[12] = {EBUR128_LEFT,  EBUR128_RIGHT, EBUR128_CENTER, EBUR128_UNUSED,
                              EBUR128_Mp135, EBUR128_Mm135, EBUR128_Mp090,  EBUR128_Mm090,
                              EBUR128_Up045, EBUR128_Um045, EBUR128_Up135,  EBUR128_Um135};
  if (ch == 8 || ch == 12)
    for (int c = 0; c < ch; c++) ebur128_set_channel(st, (unsigned)c, map[c]);
  if (frames > 0 && ebur128_add_frames_float(st, x, (size_t)frames) != EBUR128_SUCCESS) ebur128_destroy(&st);
  return st;
}

/* Integrated loudness of the songs as one programme; each song's own in L. */
static int combined_loudness(mixstage_graph *const *graphs, int n, float *const *audio,
                             const int64_t *frames, double *L, double *combined) {
  ebur128_state **sts = calloc((size_t)n, sizeof *sts);
  if (!sts) return MIXSTAGE_ENOMEM;
  int rc = MIXSTAGE_OK;
  for (int i = 0; i < n && rc == MIXSTAGE_OK; i++) {
    int ch = mixstage_bus_channels(mixstage_graph_mix_bus(graphs[i]));
    sts[i] = song_state(audio[i], frames[i], ch, mixstage_graph_sample_rate(graphs[i]));
    if (!sts[i]) rc = MIXSTAGE_ENOMEM;
    else if (ebur128_loudness_global(sts[i], &L[i]) != EBUR128_SUCCESS) L[i] = -HUGE_VAL;
  }
  if (rc == MIXSTAGE_OK && ebur128_loudness_global_multiple(sts, (size_t)n, combined) != EBUR128_SUCCESS)
    *combined = -HUGE_VAL;
  for (int i = 0; i < n; i++)
    if (sts[i]) ebur128_destroy(&sts[i]);
  free(sts);
  return rc;
}

MIXSTAGE_EXPORT int mixstage_album_master(mixstage_graph *const *graphs, int n,
                                          const mixstage_master_config *cfg,
                                          const mixstage_render_config *render,
                                          mixstage_album_report *album, mixstage_master_report *reports) {
  if (!graphs) return MIXSTAGE_ENULL;
  if (n < 1) return MIXSTAGE_EINVAL;
  for (int i = 0; i < n; i++)
    if (!graphs[i]) return MIXSTAGE_ENULL;
  target t;
  if (check_config(cfg, &t) < 0)
    return mixstage__fail(graphs[0], MIXSTAGE_EINVAL, "master config: out of range (see mixstage_master_config)");
  int rc = MIXSTAGE_OK;
  for (int i = 0; i < n && rc == MIXSTAGE_OK; i++) {
    master_ctx c;
    rc = find_limiter(graphs[i], &c);
  }
  if (rc < 0) return rc;

  float **audio = calloc((size_t)n, sizeof *audio);
  int64_t *frames = calloc((size_t)n, sizeof *frames);
  double *L0 = calloc((size_t)n, sizeof *L0), *L = calloc((size_t)n, sizeof *L);
  double *x0 = calloc((size_t)n, sizeof *x0);
  mixstage_master_report *rep = calloc((size_t)n, sizeof *rep);
  session *ss = calloc((size_t)n, sizeof *ss);
  mixstage_album_report ar;
  memset(&ar, 0, sizeof ar);
  if (!audio || !frames || !L0 || !L || !x0 || !rep || !ss) {
    rc = MIXSTAGE_ENOMEM;
    goto done;
  }

  /* Every song's mix is captured once; all the album's passes run on the
   * captures.  The memory budget is shared between the songs. */
  for (int i = 0; i < n && rc >= 0; i++) {
    master_ctx c;
    find_limiter(graphs[i], &c);
    rc = session_open(&ss[i], &c, render, atomic_load(&memory_budget) / n);
  }
  if (rc < 0) goto done;

  /* The album as mixed: each song at its own limiter gain, ceiling set. */
  for (int i = 0; i < n && rc >= 0; i++) {
    master_ctx *c = &ss[i].c;
    double li, fd;
    x0[i] = current_gain(c, t.use_fader);
    rc = apply_gain(c, x0[i], t.ceiling, &li, &fd);
    mixstage_file_stats st;
    if (rc >= 0) rc = session_begin(&ss[i]);
    if (rc >= 0) rc = session_pass(&ss[i], x0[i], t.ceiling, &st);
    if (rc < 0) break;
    session_keep(&ss[i]);
    rc = session_best_audio(&ss[i], &audio[i], st.frames);
    frames[i] = st.frames;
  }
  if (rc < 0) goto done;
  rc = combined_loudness(graphs, n, audio, frames, L0, &ar.combined_before_lufs);
  if (rc < 0) goto done;
  for (int i = 0; i < n; i++)
    if (!isfinite(L0[i])) {
      rc = mixstage__fail(graphs[i], MIXSTAGE_ERANGE, "album song %d: the final mix is silent", i);
      goto done;
    }

  /* One album gain A moves every song's loudness by the same amount; the
   * limiters shape each song a little differently, so the combined
   * loudness is measured again and A corrected (a fixed-point step: the
   * combined loudness moves about one-for-one with A). */
  double A = t.lufs - ar.combined_before_lufs;
  target ts = t;
  ts.tol = 0.5 * t.tol;
  rc = MIXSTAGE_ESTATE;
  for (int outer = 0; outer < 4; outer++) {
    int err = MIXSTAGE_OK;
    for (int i = 0; i < n && err >= 0; i++) {
      ts.lufs = L0[i] + A;
      if (outer == 0) {
        /* Start each search at the gain the album gain suggests at slope 1
         * (the song's loudness at x0 is known already). */
        master_ctx *c = &ss[i].c;
        double li, fd, x = x0[i] + A;
        double x_min = t.use_fader ? LIM_GAIN_MIN + FADER_MIN : LIM_GAIN_MIN;
        x = x < x_min ? x_min : x > LIM_GAIN_MAX ? LIM_GAIN_MAX : x;
        err = apply_gain(c, x, t.ceiling, &li, &fd);
        if (err < 0) break;
      }
      free(audio[i]);
      audio[i] = NULL;
      err = master_one(&ss[i], &ts, &rep[i], &audio[i], NULL, NULL);
      frames[i] = rep[i].frames;
    }
    if (err < 0) {
      rc = err;
      break;
    }
    err = combined_loudness(graphs, n, audio, frames, L, &ar.combined_lufs);
    if (err < 0) {
      rc = err;
      break;
    }
    ar.album_gain_db = A;
    if (fabs(ar.combined_lufs - t.lufs) <= t.tol) {
      rc = MIXSTAGE_OK;
      break;
    }
    A += t.lufs - ar.combined_lufs;
  }
  if (rc == MIXSTAGE_ESTATE)
    mixstage__fail(graphs[0], rc, "album: combined loudness %.2f LUFS, not within %.2f LU of %.2f LUFS",
                   ar.combined_lufs, t.tol, t.lufs);

done:
  if (album) *album = ar;
  if (reports && rep)
    for (int i = 0; i < n; i++) reports[i] = rep[i];
  if (audio)
    for (int i = 0; i < n; i++) free(audio[i]);
  if (ss)
    for (int i = 0; i < n; i++) session_close(&ss[i]);
  free(ss);
  free(audio);
  free(frames);
  free(L0);
  free(L);
  free(x0);
  free(rep);
  return rc;
}
