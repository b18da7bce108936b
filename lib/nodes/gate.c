/* "gate": noise gate / downward expander with hysteresis, hold, range and a
 * sidechain key with high-pass.
 *
 * The level (held peak, linked over the input's or the key's channels)
 * drives a state machine (mixstage__gate_hold): the gate opens at the
 * threshold and closes only after the level has stayed below threshold -
 * hysteresis for the hold time.  While open it applies no gain change; when
 * closed it applies the downward-expansion curve (ratio, limited to range:
 * ratio 100 makes any level a few dB under the threshold fall straight to the
 * range floor, i.e. a gate).  The GR is smoothed in dB by one-pole branching
 * (Giannoulis et al. 2012, eq. 12): opening with the attack time, closing
 * with the release time.  An opening from the floor is therefore an
 * exponential-in-dB fade: the gain slope is bounded by about 0.37 / attack
 * (full scale per second), so the default 0.5 ms attack opens without a
 * click while keeping the transient. */
#include "../node.h"
#include "../dsp/dynamics.h"

enum {
  P_THRESHOLD,
  P_RANGE,
  P_RATIO,
  P_ATTACK,
  P_HOLD,
  P_RELEASE,
  P_HYSTERESIS,
  P_KEY_HPF,
  P_COUNT
};

static const mixstage_param_info gate_params[P_COUNT] = {
    {P_THRESHOLD, "threshold", "Threshold", MIXSTAGE_UNIT_DB, -96.0, 0.0, -50.0, 1, NULL},
    {P_RANGE, "range", "Range", MIXSTAGE_UNIT_DB, -96.0, 0.0, -80.0, 1, NULL},
    {P_RATIO, "ratio", "Expansion ratio", MIXSTAGE_UNIT_RATIO, 1.0, 100.0, 100.0, 1, NULL},
    {P_ATTACK, "attack", "Attack", MIXSTAGE_UNIT_MS, 0.01, 100.0, 0.5, 1, NULL},
    {P_HOLD, "hold", "Hold", MIXSTAGE_UNIT_MS, 0.0, 2000.0, 20.0, 1, NULL},
    {P_RELEASE, "release", "Release", MIXSTAGE_UNIT_MS, 1.0, 5000.0, 100.0, 1, NULL},
    {P_HYSTERESIS, "hysteresis", "Hysteresis", MIXSTAGE_UNIT_DB, 0.0, 12.0, 3.0, 1, NULL},
    {P_KEY_HPF, "key_hpf", "Key high-pass", MIXSTAGE_UNIT_HZ, 0.0, 1000.0, 0.0, 1, NULL},
};

typedef struct gate_state {
  double fs;
  double thr, close_thr, ratio, range; /* range as GR >= 0 */
  float gr_now;
  /* Gain applied by the last process() call (gain_trace).  The gate's gain
   * is linked by construction (one level for all channels), so one row
   * serves every channel. */
  float trace[MIXSTAGE_CONTROL_FRAMES];
  int trace_n, trace_nch;
  mixstage__dyn_detector det;
  mixstage__gate_hold hold;
  mixstage__dyn_smoother sm; /* up = closing (release), down = opening (attack) */
} gate_state;

static int gate_init(void *s, const mixstage__node_env *env) {
  gate_state *st = s;
  if (!(env->sample_rate > 0.0) || env->channels < 1 || env->channels > MIXSTAGE_MAX_CHANNELS)
    return MIXSTAGE_EINVAL;
  st->fs = env->sample_rate;
  return MIXSTAGE_OK;
}

static void gate_reset(void *s) {
  gate_state *st = s;
  mixstage__dyn_detector_reset(&st->det);
  mixstage__gate_hold_reset(&st->hold);
  /* After a locate the gate starts closed, as it would after silence. */
  st->sm.y = st->range;
  st->gr_now = (float)st->range;
  st->trace_n = 0;
}

static void gate_update(void *s, const double *p) {
  gate_state *st = s;
  st->thr = p[P_THRESHOLD];
  st->close_thr = p[P_THRESHOLD] - (p[P_HYSTERESIS] > 0.0 ? p[P_HYSTERESIS] : 0.0);
  st->ratio = p[P_RATIO] < 1.0 ? 1.0 : p[P_RATIO];
  st->range = p[P_RANGE] < 0.0 ? -p[P_RANGE] : 0.0;
  mixstage__dyn_detector_set(&st->det, MIXSTAGE__DET_PEAK, 10.0, p[P_KEY_HPF], st->fs);
  mixstage__gate_hold_set(&st->hold, p[P_HOLD], st->fs);
  mixstage__dyn_smoother_set(&st->sm, p[P_RELEASE], p[P_ATTACK], st->fs);
}

static void gate_process(void *s, float *const *buf, int nch, int nframes, const float *const *key,
                         int key_nch) {
  gate_state *st = s;
  const float *const *src = key ? key : (const float *const *)buf;
  int sn = key ? key_nch : nch;
  if (sn > MIXSTAGE_MAX_CHANNELS) sn = MIXSTAGE_MAX_CHANNELS;
  if (nch > MIXSTAGE_MAX_CHANNELS) nch = MIXSTAGE_MAX_CHANNELS;
  if (sn < 0) sn = 0;
  double gr = st->sm.y;
  double lvl[MIXSTAGE_CONTROL_FRAMES];
  for (int i = 0; i < nframes; i++) {
    /* linked level (max over the channels), a cell at a time */
    if (i % MIXSTAGE_CONTROL_FRAMES == 0)
      mixstage__dyn_detector_run_linked(&st->det, src, sn, i,
                                        nframes - i < MIXSTAGE_CONTROL_FRAMES ? nframes - i
                                                                              : MIXSTAGE_CONTROL_FRAMES,
                                        lvl);
    double p = lvl[i % MIXSTAGE_CONTROL_FRAMES];
    double level = mixstage__dyn_power_to_db(p);
    int open = mixstage__gate_hold_run(&st->hold, level, st->thr, st->close_thr);
    double target = open ? 0.0 : mixstage__dyn_expand_gr(level, st->thr, st->ratio, 0.0, st->range);
    gr = mixstage__dyn_smooth(&st->sm, target);
    float g = (float)mixstage__dyn_gr_to_gain(gr);
    st->trace[i % MIXSTAGE_CONTROL_FRAMES] = g;
    /* one gain row per cell, applied to every channel (same float products) */
    if (i % MIXSTAGE_CONTROL_FRAMES == MIXSTAGE_CONTROL_FRAMES - 1 || i == nframes - 1) {
      int i0 = i - i % MIXSTAGE_CONTROL_FRAMES;
      for (int c = 0; c < nch; c++) mixstage__dyn_apply_gain(buf[c] + i0, st->trace, i - i0 + 1);
    }
  }
  st->gr_now = (float)gr;
  st->trace_n = nframes <= MIXSTAGE_CONTROL_FRAMES ? nframes : 0; /* beyond the contract */
  st->trace_nch = nch;
}

static float gate_gain_reduction(const void *s) {
  const gate_state *st = s;
  return st->gr_now;
}

static int gate_gain_trace(const void *s, float *const *g, int nch, int n) {
  const gate_state *st = s;
  if (n < 0 || n > st->trace_n || nch > st->trace_nch) return 0;
  for (int c = 0; c < nch; c++)
    for (int i = 0; i < n; i++) g[c][i] = st->trace[i];
  return 1;
}

const mixstage__node_class mixstage__gate_class = {
    .name = "gate",
    .description = "Noise gate / downward expander with hysteresis, hold and sidechain key",
    .params = gate_params,
    .num_params = P_COUNT,
    .accepts_key = 1,
    .state_size = sizeof(gate_state),
    .init = gate_init,
    .reset = gate_reset,
    .update = gate_update,
    .process = gate_process,
    .gain_reduction = gate_gain_reduction,
    .gain_trace = gate_gain_trace,
    .max_frames = 8 * MIXSTAGE_CONTROL_FRAMES, /* a block: levels a cell at a time, any count */
};
