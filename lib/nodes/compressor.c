/* "compressor": feed-forward channel compressor with soft knee, peak or RMS
 * detection, stereo link, sidechain key with high-pass, makeup and parallel
 * (dry/wet) mix.
 *
 * Topology (Giannoulis, Massberg & Reiss, JAES 2012, fig. 7b): detector ->
 * dB -> static curve -> attack/release in the dB domain -> gain.  No
 * lookahead, so no latency: the dry path of the mix needs no delay to stay
 * aligned.
 *
 * Linked (link = 100 %, a sidechain key, or mono), the usual case, runs one
 * detector on the maximum over the channels, one gain computer and one
 * ballistics per frame, and multiplies every channel by the same gain.
 * Below 100 % link each channel has its own level, ballistics and gain.
 * Moving to a partial link starts every channel from the linked state;
 * moving back to 100 % keeps the per-channel ballistics (each channel fed
 * the common target, as before) until they agree to 1e-9 dB, far below the
 * float resolution of a gain (5e-7 dB), and then joins them.
 *
 * Only the selected detector (peak or RMS) runs; a switch seeds the new one
 * from the old one's level (lib/dsp/dynamics.h).
 *
 * Precision.  The linked path (the usual case) runs the float kernel of
 * lib/dsp/dynamics.h: a float power from the detector, the static curve
 * from a float log2 (level error < 1e-5 dB from -80 to +40 dB), float
 * exp2 for the gain (< 1e-6 relative to 100 dB of GR), float gain rows
 * (against a double compressor: < 2e-6 relative, tests/check_dynamics and
 * tests/check_kernels); only the ballistics state is double
 * (with a 0.05 ms attack and a 5 s release at 48 kHz, b = 1 - a is 4e-6
 * for the release, and a float state y += b (t - y) would stop moving once
 * b |t - y| falls below half an ulp of y: a stall 0.23 dB short of the
 * target at 20 dB of GR).  The partial-link path, one gain per channel,
 * stays in double with the scalar functions of dynamics.h (errors below
 * 2.4e-10 dB).  The kernel's elementwise stages give the same bits on
 * every machine and at every position in a vector, so a lane group
 * (comp_process_lanes) and one instance give the same output.
 *
 * Work follows the settings: only the selected detector runs; a cell whose
 * levels all lie below the curve skips it (exactly: the zeros it would
 * give); a compressor at rest with nothing to do skips its ballistics and
 * gain (the gain is dry + wet exactly); a stereo key's RMS one-poles share
 * one vector. */
#include <string.h>
#include "../node.h"
#include "../dsp/dynamics.h"

/* The most frames process() and process_lanes() take in one call: the
 * engine's block (MIXSTAGE__BLOCK). */
#define COMP_MAX_FRAMES 256

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
  double slope; /* 1 - 1/ratio */
  mixstage__comp_curve_f curve; /* the static curve of the linked (float) path */
  /* makeup (linear) and wet fraction: ramped across one control cell after
   * an update, as in the gain node, so automation never steps */
  double makeup_prev, makeup_target, mix_prev, mix_target;
  float dry_f, wet_f; /* the gain row's dry + wet g once the ramps have run (comp_mix_at's, rounded) */
  int cell_pos;
  int fresh; /* no audio since init/reset: the next update jumps, no ramp */
  float gr_now; /* largest current GR over the channels, dB */
  /* Gain applied by the last process() call, per channel (gain_trace): the
   * float by which each sample was multiplied, so the trace is exact.  A
   * linked gain is one row (trace_rows = 1) served for every channel.  The
   * kernel writes its rows here in whole vectors: the padding. */
  float trace[MIXSTAGE_MAX_CHANNELS][MIXSTAGE_CONTROL_FRAMES + MIXSTAGE__COMP_VEC];
  int trace_n, trace_nch, trace_rows;
  /* 1: the ballistics of every channel equal bal[0] (kept in bal[0] only) */
  int bal_joined;
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
  st->bal_joined = 1;
  return MIXSTAGE_OK;
}

static void comp_reset(void *s) {
  comp_state *st = s;
  mixstage__dyn_detector_reset(&st->det);
  for (int c = 0; c < MIXSTAGE_MAX_CHANNELS; c++) mixstage__comp_ballistics_reset(&st->bal[c]);
  st->bal_joined = 1;
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

static inline void comp_mix_at(const comp_state *st, int k, double *dry, double *wet);

static void comp_update(void *s, const double *p) {
  comp_state *st = s;
  st->thr = p[P_THRESHOLD];
  st->ratio = p[P_RATIO] < 1.0 ? 1.0 : p[P_RATIO];
  st->knee = p[P_KNEE] < 0.0 ? 0.0 : p[P_KNEE];
  st->slope = 1.0 - 1.0 / st->ratio;
  mixstage__comp_curve_f_set(&st->curve, st->thr, st->ratio, st->knee);
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
  double dry, wet;
  comp_mix_at(st, MIXSTAGE_CONTROL_FRAMES, &dry, &wet);
  st->dry_f = (float)dry;
  st->wet_f = (float)wet;
}

/* Static GR of a level (partial-link path, double). */
static inline double comp_target(const comp_state *st, double level) {
  return mixstage__dyn_compress_gr_slope(mixstage__dyn_power_to_db(level), st->thr, st->slope, st->knee);
}

/* GR of one frame: static curve, then the ballistics. */
static inline double comp_gr(const comp_state *st, mixstage__comp_ballistics *b, double level) {
  return mixstage__comp_ballistics_run(b, comp_target(st, level));
}

/* Dry/wet and makeup folded into one gain (the node has no latency, so the
 * dry path needs no delay), rounded to float and applied as a float
 * product: out == trace * in holds bit for bit.  dry = 1 - mix and wet =
 * mix * makeup, so this is (1 - mix) + mix * makeup * g10(gr) as written. */
static inline float comp_gain(double dry, double wet, double gr) {
  return (float)(dry + wet * mixstage__dyn_gr_to_gain(gr));
}

/* Makeup and mix at frame k of the cell (after an update they ramp). */
static inline void comp_mix_at(const comp_state *st, int k, double *dry, double *wet) {
  double mk = ramp_now(st->makeup_prev, st->makeup_target, k);
  double mx = ramp_now(st->mix_prev, st->mix_target, k);
  *dry = 1.0 - mx;
  *wet = mx * mk;
}

/* The kernel's view of an instance for frames 0 .. n-1 of a linked run:
 * curve, ballistics, and makeup and mix as they stand at each frame (k0 =
 * the cell position of frame 0; while they ramp, the first frames' values
 * in dr/wr, MIXSTAGE_CONTROL_FRAMES floats each). */
static void comp_lane(comp_state *st, mixstage__comp_lane *l, int k0, int n, float *dr, float *wr) {
  l->curve = &st->curve;
  l->bal = &st->bal[0];
  l->dry = st->dry_f; /* where the ramps end */
  l->wet = st->wet_f;
  l->ramp_n = k0 >= MIXSTAGE_CONTROL_FRAMES ? 0 : MIXSTAGE_CONTROL_FRAMES - k0 < n ? MIXSTAGE_CONTROL_FRAMES - k0 : n;
  for (int i = 0; i < l->ramp_n; i++) {
    double dry, wet;
    comp_mix_at(st, k0 + i, &dry, &wet);
    dr[i] = (float)dry;
    wr[i] = (float)wet;
  }
  l->dry_ramp = dr;
  l->wet_ramp = wr;
}

/* One linked gain for every channel: the common case.  pw: the cell's
 * linked levels (float powers) from frame i0 on, zero padded. */
static void comp_run_linked(comp_state *st, float *const *buf, int nch, int i0, int t0, int n, const float *pw) {
  float dr[MIXSTAGE_CONTROL_FRAMES], wr[MIXSTAGE_CONTROL_FRAMES];
  float *out[MIXSTAGE_MAX_CHANNELS];
  mixstage__comp_lane l;
  comp_lane(st, &l, st->cell_pos + i0 + 1, n, dr, wr);
  for (int c = 0; c < nch; c++) out[c] = buf[c] + i0;
  l.pw = pw;
  l.row = st->trace[0] + t0;
  l.out = out;
  l.out_nch = nch;
  mixstage__comp_lanes_run(&l, 1, n);
  st->gr_now = l.gr_last;
}

/* Each channel with its own ballistics and gain: partial link (own levels
 * blended towards the loudest), or linked (lvl, common target) while the
 * channels' ballistics have not yet joined after a partial link.  Returns
 * the frames done: fewer than n when linked channels joined (the caller
 * goes on with comp_run_linked). */
static int comp_run_channels(comp_state *st, float *const *buf, int nch, int i0, int t0, int n,
                             const float *const *src, int sn, int linked, const double *lvl) {
  double pw[MIXSTAGE_MAX_CHANNELS];
  double link = st->link;
  for (int i = 0; i < n; i++) {
    double pmax = 0.0;
    if (!linked && sn > 0) pmax = mixstage__dyn_detector_run(&st->det, src, sn, i0 + i, pw);
    double dry, wet;
    comp_mix_at(st, st->cell_pos + i0 + i + 1, &dry, &wet);
    double hi = 0.0;
    for (int c = 0; c < nch; c++) {
      double level = lvl ? lvl[i] : 0.0;
      if (!linked) /* partial link: blend each channel's level towards the loudest */
        level = link * pmax + (1.0 - link) * (c < sn ? pw[c] : 0.0);
      double gr = comp_gr(st, &st->bal[c], level);
      if (gr > hi) hi = gr;
      float g = comp_gain(dry, wet, gr);
      buf[c][i0 + i] *= g;
      st->trace[c][t0 + i] = g;
    }
    st->gr_now = (float)hi;
    if (linked) { /* join once every channel agrees with channel 0 (see top) */
      const mixstage__comp_ballistics *b0 = &st->bal[0];
      int same = 1;
      for (int c = 1; c < nch && same; c++)
        same = fabs(st->bal[c].fast.y - b0->fast.y) <= 1e-9 &&
               fabs(st->bal[c].slow.y - b0->slow.y) <= 1e-9;
      if (same) {
        st->bal_joined = 1;
        return i + 1;
      }
    }
  }
  return n;
}

static void comp_process(void *s, float *const *buf, int nch, int nframes, const float *const *key,
                         int key_nch) {
  comp_state *st = s;
  const float *const *src = key ? key : (const float *const *)buf;
  int sn = key ? key_nch : nch;
  if (sn > MIXSTAGE_MAX_CHANNELS) sn = MIXSTAGE_MAX_CHANNELS;
  if (sn < 0) sn = 0;
  if (nch > MIXSTAGE_MAX_CHANNELS) nch = MIXSTAGE_MAX_CHANNELS;
  /* A key is linked across its channels: one gain for all input channels. */
  int linked = key != NULL || st->link >= 1.0 || nch == 1;
  /* linked levels, zero padded for the kernel's whole vectors */
  float lvl[MIXSTAGE_CONTROL_FRAMES + MIXSTAGE__COMP_VEC];
  double lvl_d[MIXSTAGE_CONTROL_FRAMES];
  int rows = 1; /* trace rows written: nch once any frame had per-channel gains */

  if (nframes > 0 && !linked && st->bal_joined) { /* partial link starts from the linked state */
    for (int c = 1; c < MIXSTAGE_MAX_CHANNELS; c++) {
      st->bal[c].fast.y = st->bal[0].fast.y;
      st->bal[c].slow.y = st->bal[0].slow.y;
    }
    st->bal_joined = 0;
  }
  /* Calls of several cells (max_frames) go cell by cell; their trace rows
   * overwrite each other, and trace_n = 0 says the trace is not kept. */
  for (int i0 = 0; i0 < nframes; i0 += MIXSTAGE_CONTROL_FRAMES) {
    int n = nframes - i0 < MIXSTAGE_CONTROL_FRAMES ? nframes - i0 : MIXSTAGE_CONTROL_FRAMES;
    if (linked) {
      mixstage__dyn_detector_run_linked_f(&st->det, src, sn, i0, n, lvl);
      for (int i = n; i < MIXSTAGE__COMP_PAD(n); i++) lvl[i] = 0.0f;
      if (!st->bal_joined) /* the per-channel path reads them in double */
        for (int i = 0; i < n; i++) lvl_d[i] = (double)lvl[i];
    }
    int done = 0;
    while (done < n) {
      if (linked && st->bal_joined) {
        comp_run_linked(st, buf, nch, i0 + done, done, n - done, lvl + done);
        if (rows > 1) /* the block also has per-channel frames: full rows */
          for (int c = 1; c < nch; c++)
            memcpy(&st->trace[c][done], &st->trace[0][done],
                   sizeof(float) * (size_t)(n - done));
        break;
      }
      rows = nch;
      done += comp_run_channels(st, buf, nch, i0 + done, done, n - done, src, sn, linked,
                                linked ? lvl_d + done : NULL);
    }
  }
  st->trace_n = nframes <= MIXSTAGE_CONTROL_FRAMES ? nframes : 0; /* beyond the contract */
  st->trace_nch = nch;
  st->trace_rows = rows;
  st->fresh = 0;
  st->cell_pos += nframes;
  if (st->cell_pos > MIXSTAGE_CONTROL_FRAMES) st->cell_pos = MIXSTAGE_CONTROL_FRAMES;
}

/* Whether an instance runs this chunk as comp_run_linked over the whole of
 * it: what the lane kernel computes. */
static int comp_lane_ready(const comp_state *st, int nch, int keyed) {
  return (keyed || st->link >= 1.0 || nch == 1) && st->bal_joined;
}

/* Lane group (node.h): up to MIXSTAGE__COMP_LANES instances at a time
 * through mixstage__comp_lanes_run, the kernel comp_run_linked runs with
 * one lane: every instance's levels and static targets, then the
 * ballistics of four at a time in a vector of doubles, then each
 * instance's gain row, applied to its channels.  Makeup and mix ramps,
 * auto release and keys are all taken; up to COMP_MAX_FRAMES frames (the
 * kernel's stages are sample-sequential, the ramps run out within the
 * first cell: a call of several cells equals them one by one). */
static int comp_process_lanes(void *const *states, float *const *const *bufs, const float *const *const *keys,
                              const int *key_nch, int count, int nch, int nframes) {
  if (nch < 1 || nch > MIXSTAGE_MAX_CHANNELS || nframes < 1 || nframes > COMP_MAX_FRAMES) return 0;
  for (int m = 0; m < count; m++) {
    int keyed = keys && keys[m];
    /* a key is linked across its channels, as in comp_process; a key of no
     * channels (silence) goes the plain way */
    if (keyed && (key_nch[m] < 1 || key_nch[m] > MIXSTAGE_MAX_CHANNELS)) return 0;
    if (!comp_lane_ready(states[m], nch, keyed)) return 0;
  }
  const int traced = nframes <= MIXSTAGE_CONTROL_FRAMES; /* the trace holds one cell */
  float dr[MIXSTAGE__COMP_LANES][MIXSTAGE_CONTROL_FRAMES], wr[MIXSTAGE__COMP_LANES][MIXSTAGE_CONTROL_FRAMES];
  for (int b = 0; b < count; b += MIXSTAGE__COMP_LANES) {
    const int w = count - b < MIXSTAGE__COMP_LANES ? count - b : MIXSTAGE__COMP_LANES;
    mixstage__comp_lane l[MIXSTAGE__COMP_LANES];
    for (int j = 0; j < w; j++) {
      comp_state *st = states[b + j];
      const int keyed = keys && keys[b + j];
      comp_lane(st, &l[j], st->cell_pos + 1, nframes, dr[j], wr[j]);
      l[j].pw = NULL;
      l[j].det = &st->det;
      l[j].src = keyed ? keys[b + j] : (const float *const *)bufs[b + j];
      l[j].nch = keyed ? key_nch[b + j] : nch;
      l[j].row = traced ? st->trace[0] : NULL;
      l[j].out = bufs[b + j];
      l[j].out_nch = nch;
    }
    mixstage__comp_lanes_run(l, w, nframes);
    for (int j = 0; j < w; j++) {
      comp_state *st = states[b + j];
      st->gr_now = l[j].gr_last;
      st->trace_n = traced ? nframes : 0;
      st->trace_nch = nch;
      st->trace_rows = 1;
      st->fresh = 0;
      st->cell_pos += nframes;
      if (st->cell_pos > MIXSTAGE_CONTROL_FRAMES) st->cell_pos = MIXSTAGE_CONTROL_FRAMES;
    }
  }
  return 1;
}

static float comp_gain_reduction(const void *s) {
  const comp_state *st = s;
  return st->gr_now;
}

static int comp_gain_trace(const void *s, float *const *g, int nch, int n) {
  const comp_state *st = s;
  if (n < 0 || n > st->trace_n || n > MIXSTAGE_CONTROL_FRAMES || nch > st->trace_nch) return 0;
  for (int c = 0; c < nch; c++)
    memcpy(g[c], st->trace[st->trace_rows == 1 ? 0 : c], sizeof(float) * (size_t)n);
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
    .process_lanes = comp_process_lanes,
    .max_frames = COMP_MAX_FRAMES,
};
