/* "compressor": feed-forward channel compressor with soft knee, peak or RMS
 * detection, stereo link, sidechain key with high-pass, makeup and parallel
 * (dry/wet) mix.
 *
 * Topology (Giannoulis, Massberg & Reiss, JAES 2012, fig. 7b): detector ->
 * dB -> static curve -> attack/release in the dB domain -> gain.  The GR
 * smoothing is per channel so the link amount can be moved while playing;
 * at link = 100 % every channel is fed the same target and so gets the
 * same gain.  No lookahead, so no latency: the dry path of the mix needs no
 * delay to stay aligned. */
#include "../node.h"
#include "../dsp/dynamics.h"

enum {
  P_THRESHOLD,
  P_RATIO,
  P_KNEE,
  P_ATTACK,
  P_RELEASE,
  P_AUTO_RELEASE,
  P_MAKEUP,
  P_DETECTOR,
  P_RMS_WINDOW,
  P_LINK,
  P_KEY_HPF,
  P_MIX,
  P_COUNT
};

static const mixstage_param_info comp_params[P_COUNT] = {
    {P_THRESHOLD, "threshold", "Threshold", MIXSTAGE_UNIT_DB, -60.0, 0.0, -18.0, 1, NULL},
    {P_RATIO, "ratio", "Ratio", MIXSTAGE_UNIT_RATIO, 1.0, 50.0, 4.0, 1, NULL},
    {P_KNEE, "knee", "Knee", MIXSTAGE_UNIT_DB, 0.0, 24.0, 6.0, 1, NULL},
    {P_ATTACK, "attack", "Attack", MIXSTAGE_UNIT_MS, 0.05, 500.0, 10.0, 1, NULL},
    {P_RELEASE, "release", "Release", MIXSTAGE_UNIT_MS, 5.0, 5000.0, 100.0, 1, NULL},
    {P_AUTO_RELEASE, "auto_release", "Auto release", MIXSTAGE_UNIT_BOOL, 0.0, 1.0, 0.0, 1, NULL},
    {P_MAKEUP, "makeup", "Makeup gain", MIXSTAGE_UNIT_DB, -24.0, 36.0, 0.0, 1, NULL},
    {P_DETECTOR, "detector", "Detector", MIXSTAGE_UNIT_ENUM, 0.0, 1.0, 0.0, 0, "peak|rms"},
    {P_RMS_WINDOW, "rms_window", "RMS window", MIXSTAGE_UNIT_MS, 1.0, 300.0, 10.0, 1, NULL},
    {P_LINK, "link", "Channel link", MIXSTAGE_UNIT_PERCENT, 0.0, 100.0, 100.0, 1, NULL},
    {P_KEY_HPF, "key_hpf", "Key high-pass", MIXSTAGE_UNIT_HZ, 0.0, 1000.0, 0.0, 1, NULL},
    {P_MIX, "mix", "Mix", MIXSTAGE_UNIT_PERCENT, 0.0, 100.0, 100.0, 1, NULL},
};

typedef struct comp_state {
  double fs;
  double thr, ratio, knee, link;
  double p_floor; /* level (power) below which the static GR is exactly 0 */
  /* makeup (linear) and wet fraction: ramped across one control cell after
   * an update, as in the gain node, so automation never steps */
  double makeup_prev, makeup_target, mix_prev, mix_target;
  int cell_pos;
  int fresh; /* no audio since init/reset: the next update jumps, no ramp */
  float gr_now; /* largest current GR over the channels, dB */
  /* Gain applied by the last process() call, per channel (gain_trace): the
   * float by which each sample was multiplied, so the trace is exact. */
  float trace[MIXSTAGE_MAX_CHANNELS][MIXSTAGE_CONTROL_FRAMES];
  int trace_n, trace_nch;
  mixstage__dyn_detector det;
  mixstage__comp_ballistics bal[MIXSTAGE_MAX_CHANNELS];
} comp_state;

static int comp_init(void *s, const mixstage__node_env *env) {
  comp_state *st = s;
  if (!(env->sample_rate > 0.0) || env->channels < 1 || env->channels > MIXSTAGE_MAX_CHANNELS)
    return MIXSTAGE_EINVAL;
  st->fs = env->sample_rate;
  st->cell_pos = MIXSTAGE_CONTROL_FRAMES;
  st->fresh = 1;
  return MIXSTAGE_OK;
}

static void comp_reset(void *s) {
  comp_state *st = s;
  mixstage__dyn_detector_reset(&st->det);
  for (int c = 0; c < MIXSTAGE_MAX_CHANNELS; c++) mixstage__comp_ballistics_reset(&st->bal[c]);
  st->makeup_prev = st->makeup_target;
  st->mix_prev = st->mix_target;
  st->cell_pos = MIXSTAGE_CONTROL_FRAMES;
  st->fresh = 1;
  st->gr_now = 0.0f;
  st->trace_n = 0;
}

/* Value a cell ramp has reached after pos frames (the update may come mid-ramp). */
static double ramp_now(double prev, double target, int pos) {
  return pos >= MIXSTAGE_CONTROL_FRAMES
             ? target
             : prev + (target - prev) * (double)pos / (double)MIXSTAGE_CONTROL_FRAMES;
}

static void comp_update(void *s, const double *p) {
  comp_state *st = s;
  st->thr = p[P_THRESHOLD];
  st->ratio = p[P_RATIO] < 1.0 ? 1.0 : p[P_RATIO];
  st->knee = p[P_KNEE] < 0.0 ? 0.0 : p[P_KNEE];
  st->p_floor = mixstage__dyn_compress_floor_power(st->thr, st->knee);
  st->link = p[P_LINK] * 0.01;
  if (st->link < 0.0) st->link = 0.0;
  if (st->link > 1.0) st->link = 1.0;
  int auto_rel = p[P_AUTO_RELEASE] >= 0.5;
  mixstage__comp_ballistics_set(&st->bal[0], p[P_ATTACK], p[P_RELEASE], auto_rel, st->fs);
  for (int c = 1; c < MIXSTAGE_MAX_CHANNELS; c++)
    mixstage__comp_ballistics_set_like(&st->bal[c], &st->bal[0]);
  mixstage__dyn_detector_set(&st->det, p[P_DETECTOR] >= 0.5 ? MIXSTAGE__DET_RMS : MIXSTAGE__DET_PEAK,
                             p[P_RMS_WINDOW], p[P_KEY_HPF], st->fs);

  double mk = mixstage__db_to_gain(p[P_MAKEUP]);
  double mx = p[P_MIX] * 0.01;
  mx = mx < 0.0 ? 0.0 : mx > 1.0 ? 1.0 : mx;
  if (!st->fresh) {
    st->makeup_prev = ramp_now(st->makeup_prev, st->makeup_target, st->cell_pos);
    st->mix_prev = ramp_now(st->mix_prev, st->mix_target, st->cell_pos);
    st->cell_pos = 0;
  } else { /* nothing played since init/reset: start at the values, no fade */
    st->makeup_prev = mk;
    st->mix_prev = mx;
    st->cell_pos = MIXSTAGE_CONTROL_FRAMES;
  }
  st->makeup_target = mk;
  st->mix_target = mx;
}

static void comp_process(void *s, float *const *buf, int nch, int nframes, const float *const *key,
                         int key_nch) {
  comp_state *st = s;
  double pw[MIXSTAGE_MAX_CHANNELS];
  const float *const *src = key ? key : (const float *const *)buf;
  int sn = key ? key_nch : nch;
  if (sn > MIXSTAGE_MAX_CHANNELS) sn = MIXSTAGE_MAX_CHANNELS;
  if (nch > MIXSTAGE_MAX_CHANNELS) nch = MIXSTAGE_MAX_CHANNELS;
  /* A key is linked across its channels: one gain for all input channels. */
  int linked = key != NULL || st->link >= 1.0 || nch == 1;
  double link = st->link;
  double thr = st->thr, ratio = st->ratio, knee = st->knee, p_floor = st->p_floor;
  float gr_max = 0.0f;

  for (int i = 0; i < nframes; i++) {
    double pmax = sn > 0 ? mixstage__dyn_detector_run(&st->det, src, sn, i, linked ? NULL : pw)
                         : 0.0;
    int k = st->cell_pos + i + 1;
    double mk = k >= MIXSTAGE_CONTROL_FRAMES
                    ? st->makeup_target
                    : st->makeup_prev + (st->makeup_target - st->makeup_prev) * (double)k /
                                            (double)MIXSTAGE_CONTROL_FRAMES;
    double mx = k >= MIXSTAGE_CONTROL_FRAMES
                    ? st->mix_target
                    : st->mix_prev + (st->mix_target - st->mix_prev) * (double)k /
                                         (double)MIXSTAGE_CONTROL_FRAMES;
    /* Below the knee the static GR is exactly 0: skip the dB conversion. */
    double target_linked =
        linked && pmax >= p_floor
            ? mixstage__dyn_compress_gr(mixstage__dyn_power_to_db(pmax), thr, ratio, knee)
            : 0.0;
    double gr_hi = 0.0;
    /* Linked channels whose ballistics state equals channel 0's (the usual
     * case: same target, same coefficients since reset) would repeat its
     * exact computation: take its result instead. */
    const mixstage__comp_ballistics *b0 = &st->bal[0];
    const double f0 = b0->fast.y, s0 = b0->slow.y;
    float g0 = 1.0f;
    for (int c = 0; c < nch; c++) {
      mixstage__comp_ballistics *bc = &st->bal[c];
      if (linked && c > 0 && bc->fast.y == f0 && bc->slow.y == s0) {
        bc->fast.y = b0->fast.y;
        bc->slow.y = b0->slow.y;
        buf[c][i] *= g0;
        if (i < MIXSTAGE_CONTROL_FRAMES) st->trace[c][i] = g0;
        continue;
      }
      double target = target_linked;
      if (!linked) {
        /* Partial link: blend each channel's level towards the loudest. */
        double pc = link * pmax + (1.0 - link) * (c < sn ? pw[c] : 0.0);
        target = pc >= p_floor
                     ? mixstage__dyn_compress_gr(mixstage__dyn_power_to_db(pc), thr, ratio, knee)
                     : 0.0;
      }
      double gr = mixstage__comp_ballistics_run(&st->bal[c], target);
      if (gr > gr_hi) gr_hi = gr;
      /* Dry/wet and makeup folded into one gain (the node has no latency,
       * so the dry path needs no delay), rounded to float and applied as a
       * float product: out == trace * in holds bit for bit. */
      float g = (float)((1.0 - mx) + mx * mk * mixstage__dyn_gr_to_gain(gr));
      if (c == 0) g0 = g;
      buf[c][i] *= g;
      if (i < MIXSTAGE_CONTROL_FRAMES) st->trace[c][i] = g;
    }
    gr_max = (float)gr_hi;
  }
  if (nframes > 0) st->gr_now = gr_max;
  st->trace_n = nframes <= MIXSTAGE_CONTROL_FRAMES ? nframes : 0; /* beyond the contract */
  st->trace_nch = nch;
  st->fresh = 0;
  st->cell_pos += nframes;
  if (st->cell_pos > MIXSTAGE_CONTROL_FRAMES) st->cell_pos = MIXSTAGE_CONTROL_FRAMES;
}

static float comp_gain_reduction(const void *s) {
  const comp_state *st = s;
  return st->gr_now;
}

static int comp_gain_trace(const void *s, float *const *g, int nch, int n) {
  const comp_state *st = s;
  if (n < 0 || n > st->trace_n || n > MIXSTAGE_CONTROL_FRAMES || nch > st->trace_nch) return 0;
  for (int c = 0; c < nch; c++)
    for (int i = 0; i < n; i++) g[c][i] = st->trace[c][i];
  return 1;
}

const mixstage__node_class mixstage__compressor_class = {
    .name = "compressor",
    .description = "Feed-forward compressor: soft knee, peak/RMS, link, sidechain key, parallel mix",
    .params = comp_params,
    .num_params = P_COUNT,
    .accepts_key = 1,
    .state_size = sizeof(comp_state),
    .init = comp_init,
    .reset = comp_reset,
    .update = comp_update,
    .process = comp_process,
    .gain_reduction = comp_gain_reduction,
    .gain_trace = comp_gain_trace,
};
