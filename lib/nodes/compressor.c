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
 * Precision: the ballistics state is double: with a 0.05 ms attack and a
 * 5 s release at 48 kHz, b = 1 - a is 4e-6 for the release, and a float
 * state y += b (t - y) would stop moving once b |t - y| falls below half an
 * ulp of y (a stall 0.1 dB short of the target at 20 dB of GR).  It is one
 * scalar per frame when linked, so double costs nothing measurable.  The
 * peak detector is float (maxima are exact in any precision), the RMS mean
 * square double (a one-pole too).  The dB conversions use the fast log2/exp2
 * of dynamics.h (errors below 2.4e-10 dB); the linked path converts the GR
 * of a whole cell to gains two frames at a time with their two-lane forms,
 * which give the scalar bits, so renders do not depend on the path taken. */
#include <string.h>
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
  double slope; /* 1 - 1/ratio */
  double p_floor; /* level (power) below which the static GR is exactly 0 */
  /* Last level and its static GR (linked path): a held peak repeats its
   * level for many frames, and the target is a pure function of it.  NaN
   * when nothing is remembered (a NaN never compares equal). */
  double memo_level, memo_target;
  /* makeup (linear) and wet fraction: ramped across one control cell after
   * an update, as in the gain node, so automation never steps */
  double makeup_prev, makeup_target, mix_prev, mix_target;
  int cell_pos;
  int fresh; /* no audio since init/reset: the next update jumps, no ramp */
  float gr_now; /* largest current GR over the channels, dB */
  /* Gain applied by the last process() call, per channel (gain_trace): the
   * float by which each sample was multiplied, so the trace is exact.  A
   * linked gain is one row (trace_rows = 1) served for every channel. */
  float trace[MIXSTAGE_MAX_CHANNELS][MIXSTAGE_CONTROL_FRAMES];
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
  st->memo_level = NAN;
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

static void comp_update(void *s, const double *p) {
  comp_state *st = s;
  st->thr = p[P_THRESHOLD];
  st->ratio = p[P_RATIO] < 1.0 ? 1.0 : p[P_RATIO];
  st->knee = p[P_KNEE] < 0.0 ? 0.0 : p[P_KNEE];
  st->slope = 1.0 - 1.0 / st->ratio;
  st->memo_level = NAN;
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

/* Static GR of a level: the curve above the floor (below it the GR is
 * exactly 0, so the dB conversion is skipped). */
static inline double comp_target(const comp_state *st, double level) {
  return level >= st->p_floor ? mixstage__dyn_compress_gr_slope(mixstage__dyn_power_to_db(level),
                                                               st->thr, st->slope, st->knee)
                              : 0.0;
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

/* Static GR and ballistics of the linked levels lvl[0 .. n-1]: gr[i] is
 * mixstage__comp_ballistics_run() of comp_target(lvl[i]), bit for bit.  The
 * target is remembered across frames (and cells) while the level repeats.
 * A smoother whose state equals its target stays put exactly (y + b * 0 ==
 * y, and y was flushed when it was stored), so that step is skipped.
 * Returns 0 when every gr[i] is exactly 0 (state 0 and never moved). */
static int comp_gr_cell(comp_state *st, const double *lvl, double *gr, int n) {
  mixstage__comp_ballistics *b = &st->bal[0];
  double ml = st->memo_level, mt = st->memo_target;
  int moving;
  if (!b->auto_release) {
    double y = b->fast.y, up = b->fast.b_up, down = b->fast.b_down;
    moving = y != 0.0;
    for (int i = 0; i < n; i++) {
      double l = lvl[i];
      if (l != ml) {
        mt = comp_target(st, l);
        ml = l;
      }
      if (mt != y) { /* mixstage__dyn_smooth, written with branches */
        double d = mt - y;
        if (d > 0.0) y = y + up * d;
        else y = y + down * d;
        if (y < 1e-12) y = 0.0;
        moving = 1;
      }
      gr[i] = y;
    }
    b->fast.y = y;
  } else {
    moving = 1;
    for (int i = 0; i < n; i++) {
      double l = lvl[i];
      if (l != ml) {
        mt = comp_target(st, l);
        ml = l;
      }
      gr[i] = mixstage__comp_ballistics_run(b, mt);
    }
  }
  st->memo_level = ml;
  st->memo_target = mt;
  return moving;
}

/* row[i] = (float)(dry + wet * g[i]): the same double operations and
 * rounding per lane as the scalar expression (comp_gain). */
static void comp_rows(float *row, const double *g, double dry, double wet, int n) {
  int i = 0;
#ifdef __SSE2__
  const __m128d vd = _mm_set1_pd(dry), vw = _mm_set1_pd(wet);
  for (; i + 4 <= n; i += 4) {
    __m128 lo = _mm_cvtpd_ps(_mm_add_pd(vd, _mm_mul_pd(vw, _mm_loadu_pd(g + i))));
    __m128 hi = _mm_cvtpd_ps(_mm_add_pd(vd, _mm_mul_pd(vw, _mm_loadu_pd(g + i + 2))));
    _mm_storeu_ps(row + i, _mm_movelh_ps(lo, hi));
  }
#endif
  for (; i < n; i++) row[i] = (float)(dry + wet * g[i]);
}

/* One linked gain for every channel: the common case.  The cell runs in
 * stages: levels -> static GR -> ballistics (serial, the target
 * remembered while the level repeats), then GR -> linear gain -> float
 * gain two and four frames at a time (the scalar bits exactly). */
static void comp_run_linked(comp_state *st, float *const *buf, int nch, int i0, int t0, int n,
                            const double *lvl) {
  float *row = st->trace[0] + t0;
  double gr[MIXSTAGE_CONTROL_FRAMES], g[MIXSTAGE_CONTROL_FRAMES];
  int moving = comp_gr_cell(st, lvl, gr, n);
  if (moving) mixstage__dyn_gr_to_gain_n(gr, g, n);
  if (st->cell_pos + i0 + 1 >= MIXSTAGE_CONTROL_FRAMES) { /* makeup and mix constant */
    double dry, wet;
    comp_mix_at(st, MIXSTAGE_CONTROL_FRAMES, &dry, &wet);
    if (moving) {
      comp_rows(row, g, dry, wet, n);
    } else { /* no reduction: comp_gain(dry, wet, 0), the gain is exactly 1 */
      float g0 = (float)(dry + wet);
      for (int i = 0; i < n; i++) row[i] = g0;
    }
  } else {
    for (int i = 0; i < n; i++) {
      double dry, wet;
      comp_mix_at(st, st->cell_pos + i0 + i + 1, &dry, &wet);
      row[i] = (float)(dry + wet * (moving ? g[i] : 1.0));
    }
  }
  for (int c = 0; c < nch; c++) mixstage__dyn_apply_gain(buf[c] + i0, row, n);
  st->gr_now = n > 0 ? (float)gr[n - 1] : 0.0f;
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
  double lvl[MIXSTAGE_CONTROL_FRAMES];
  int rows = 1; /* trace rows written: nch once any frame had per-channel gains */

  if (nframes > 0 && !linked && st->bal_joined) { /* partial link starts from the linked state */
    for (int c = 1; c < MIXSTAGE_MAX_CHANNELS; c++) {
      st->bal[c].fast.y = st->bal[0].fast.y;
      st->bal[c].slow.y = st->bal[0].slow.y;
    }
    st->bal_joined = 0;
  }
  /* Beyond the contract (> 32 frames) the work goes in cells of 32 whose
   * trace rows overwrite each other; trace_n = 0 then says so. */
  for (int i0 = 0; i0 < nframes; i0 += MIXSTAGE_CONTROL_FRAMES) {
    int n = nframes - i0 < MIXSTAGE_CONTROL_FRAMES ? nframes - i0 : MIXSTAGE_CONTROL_FRAMES;
    if (linked) mixstage__dyn_detector_run_linked(&st->det, src, sn, i0, n, lvl);
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
                                linked ? lvl + done : NULL);
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
 * it with constant makeup and mix and the fixed release: what the lane
 * kernel computes. */
static int comp_lane_ready(const comp_state *st, int nch, int keyed, int nframes) {
  return (keyed || st->link >= 1.0 || nch == 1) && st->bal_joined && !st->bal[0].auto_release &&
         st->cell_pos + 1 >= MIXSTAGE_CONTROL_FRAMES && nframes <= MIXSTAGE_CONTROL_FRAMES;
}

/* Lane group (node.h): each instance's detector runs as in comp_process
 * (mixstage__dyn_detector_run_linked), then the static curve, ballistics
 * and gains of four instances at a time go through one vector kernel
 * (mixstage__comp_lanes4_run), and each instance applies its gain row.
 * Every step is the linked path's, bit for bit; the remembered target is
 * left as that path leaves it (the curve is a pure function of the level). */
static int comp_process_lanes(void *const *states, float *const *const *bufs, const float *const *const *keys,
                              const int *key_nch, int count, int nch, int nframes) {
  if (nch < 1 || nch > MIXSTAGE_MAX_CHANNELS || nframes < 1 || !mixstage__comp_lanes4_available()) return 0;
  for (int m = 0; m < count; m++) {
    int keyed = keys && keys[m];
    /* a key is linked across its channels, as in comp_process; a key of no
     * channels (silence) goes the plain way */
    if (keyed && (key_nch[m] < 1 || key_nch[m] > MIXSTAGE_MAX_CHANNELS)) return 0;
    if (!comp_lane_ready(states[m], nch, keyed, nframes)) return 0;
  }
  double lvl[4][MIXSTAGE_CONTROL_FRAMES];
  float amax[4][MIXSTAGE_CONTROL_FRAMES];
  float spare[MIXSTAGE_CONTROL_FRAMES];
  for (int b = 0; b < count; b += 4) {
    mixstage__comp_lanes4 k;
    const double *lp[4];
    const float *ap[4];
    mixstage__peak_det *pk[4], pad_pk;
    float *gp[4];
    double gr[4], tg[4], lv[4];
    /* Peak detectors on the raw input run inside the kernel (their channel
     * maxima first); other detectors give their levels here. */
    int fused = 1;
    for (int j = 0; j < 4 && b + j < count; j++)
      fused &= mixstage__dyn_detector_lanes_ready(&((comp_state *)states[b + j])->det);
    for (int j = 0; j < 4; j++) {
      comp_state *st = b + j < count ? states[b + j] : states[b];
      const int src = b + j < count ? b + j : b;
      const int keyed = keys && keys[src];
      const float *const *x = keyed ? keys[src] : (const float *const *)bufs[src];
      const int xn = keyed ? key_nch[src] : nch; /* detector channels */
      if (b + j >= count) { /* padding: a copy of lane 0, results unused */
        pad_pk = st->det.peak[0];
        pk[j] = &pad_pk;
        ap[j] = amax[0];
        lp[j] = lvl[0];
      } else if (fused) {
        mixstage__dyn_detector_abs_max(&st->det, x, xn, nframes, amax[j]);
        pk[j] = &st->det.peak[0];
        ap[j] = amax[j];
      } else {
        mixstage__dyn_detector_run_linked(&st->det, x, xn, 0, nframes, lvl[j]);
        lp[j] = lvl[j];
      }
      double dry, wet;
      comp_mix_at(st, MIXSTAGE_CONTROL_FRAMES, &dry, &wet);
      k.p_floor[j] = st->p_floor;
      k.thr[j] = st->thr;
      k.slope[j] = st->slope;
      k.knee[j] = st->knee;
      k.up[j] = st->bal[0].fast.b_up;
      k.down[j] = st->bal[0].fast.b_down;
      k.y[j] = st->bal[0].fast.y;
      k.dry[j] = dry;
      k.wet[j] = wet;
      gp[j] = b + j < count ? st->trace[0] : spare;
    }
    if (fused) mixstage__comp_lanes4_run_peak(&k, ap, pk, gp, gr, tg, lv, nframes);
    else mixstage__comp_lanes4_run(&k, lp, gp, gr, tg, lv, nframes);
    for (int j = 0; j < 4 && b + j < count; j++) {
      comp_state *st = states[b + j];
      st->bal[0].fast.y = k.y[j];
      st->memo_level = lv[j];
      st->memo_target = tg[j];
      for (int c = 0; c < nch; c++) mixstage__dyn_apply_gain(bufs[b + j][c], st->trace[0], nframes);
      st->gr_now = (float)gr[j];
      st->trace_n = nframes;
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
};
