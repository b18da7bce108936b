/* "bus_compressor": mix-bus glue compressor in the manner of the classic
 * console bus compressors: feed-forward VCA-style gain, an RMS-ish linked
 * detector, stepped ratios, soft knee, side-chain high-pass, optional
 * program-dependent release, parallel mix and an optional tape stage.
 *
 *   key or input --> [sc_hpf: 2nd-order Butterworth HP] --> RMS (per channel)
 *     --> max over channels (link) --> dB (+3.01: sine peak calibration)
 *     --> soft-knee gain computer --> attack/release in dB --> gain
 *   input * gain * makeup --> 4x oversampled tape curve (if on) --\
 *   input (delayed by the same latency) ----------------------------> mix
 *
 * Detector (lib/dsp/dynamics.h): a one-pole mean square whose window is
 * attack/8, clamped to [0.02, 2] ms.  Short enough that the set attack is
 * what one hears and measures (the window adds < 5 % to a 10 ms attack),
 * long enough above 16 ms attack to average a waveform instead of tracking
 * its peaks: program-dependent smoothing like the averaging detectors of
 * the classic bus compressors.  Its level is 10 log10(2 ms): a steady sine
 * reads its peak level in dBFS (the RMS reading + 3.01 dB), so the threshold
 * is where a sine of that peak level starts to compress.
 *
 * Attack: the classic stepped values 0.1, 0.3, 1, 3, 10, 30 ms are the
 * recommended settings (any value in range is accepted).  Release: time
 * constant of the GR recovery; auto_release uses the dual time-constant
 * program-dependent release of dynamics.h (comp_ballistics).  Ratios are the
 * stepped 2:1, 4:1, 10:1.
 *
 * Tape: a symmetric soft saturation (tanh) driven by tape_drive and
 * level-compensated (small signals pass at unity), mostly third harmonic;
 * run at 4x through oversample.h because 18 dB of drive into tanh would
 * alias audibly at 1x.  The latency (mixstage__os_latency_for(4) frames) is
 * the same whether tape is on or not, and the dry path of the mix is delayed
 * to match.  With tape off the oversampler's output is unused, so it pauses
 * once tape has been off for MIXSTAGE_OS_MEMORY_FRAMES frames (by then its
 * memory holds no tape-shaped samples); switched back on it is reset and
 * re-fed the last MIXSTAGE_OS_MEMORY_FRAMES frames of its input, rebuilt
 * bit for bit from the dry and gain rings, so it resumes in exactly the
 * state it would have reached running all along (see os_resume).
 *
 * With tape off the output is not taken from the oversampler (whose round
 * trip is a delay only to within its pass-band ripple and half-band roll-off)
 * but computed as one gain on the delayed input: the compressor gain is
 * delayed with the audio (a ring beside the dry delay) and folded with the
 * mix into
 *     out[n] = x[n - L] * float((1 - mix[n]) + mix[n] g[n - L] makeup[n - L]),
 * the same timing as the wet path through the oversampler.  That float is
 * what gain_trace reports, so out == trace * delayed input bit for bit and a
 * stem scaled by the trace is exactly its share of the bus.  Switching tape
 * crossfades between the two paths across one control cell; the trace is
 * unavailable (gain_trace returns 0) while any of the tape path is heard.
 */
#include <math.h>
#include <string.h>
#include "../dsp/biquad.h"
#include "../dsp/dyn_block.h"
#include "../dsp/dynamics.h"
#include "../dsp/oversample.h"
#include "../node.h"
#ifdef __SSE2__
#include <emmintrin.h>
#endif

enum {
  P_THRESHOLD,
  P_RATIO,
  P_ATTACK,
  P_RELEASE,
  P_AUTO_RELEASE,
  P_KNEE,
  P_SC_HPF,
  P_MAKEUP,
  P_MIX,
  P_TAPE,
  P_TAPE_DRIVE,
  P_COUNT
};

static const mixstage_param_info bus_comp_params[P_COUNT] = {
    {P_THRESHOLD, "threshold", "Threshold", MIXSTAGE_UNIT_DB, -40.0, 0.0, -16.0, 1, NULL},
    {P_RATIO, "ratio", "Ratio", MIXSTAGE_UNIT_ENUM, 0.0, 2.0, 0.0, 1, "2|4|10"},
    {P_ATTACK, "attack", "Attack", MIXSTAGE_UNIT_MS, 0.1, 30.0, 10.0, 1, NULL},
    {P_RELEASE, "release", "Release", MIXSTAGE_UNIT_SECONDS, 0.1, 1.2, 0.3, 1, NULL},
    {P_AUTO_RELEASE, "auto_release", "Auto release", MIXSTAGE_UNIT_BOOL, 0.0, 1.0, 0.0, 1, NULL},
    {P_KNEE, "knee", "Knee", MIXSTAGE_UNIT_DB, 0.0, 12.0, 6.0, 1, NULL},
    {P_SC_HPF, "sc_hpf", "Side-chain high-pass", MIXSTAGE_UNIT_HZ, 0.0, 500.0, 0.0, 1, NULL},
    {P_MAKEUP, "makeup", "Make-up gain", MIXSTAGE_UNIT_DB, -12.0, 24.0, 0.0, 1, NULL},
    {P_MIX, "mix", "Mix", MIXSTAGE_UNIT_PERCENT, 0.0, 100.0, 100.0, 1, NULL},
    {P_TAPE, "tape", "Tape stage", MIXSTAGE_UNIT_BOOL, 0.0, 1.0, 0.0, 1, NULL},
    {P_TAPE_DRIVE, "tape_drive", "Tape drive", MIXSTAGE_UNIT_DB, 0.0, 18.0, 6.0, 1, NULL},
};

static const double ratio_steps[3] = {2.0, 4.0, 10.0};

#define BC_OS_FACTOR 4
/* Below this the side-chain high-pass is off (0 = off in the UI). */
#define BC_HPF_MIN_HZ 10.0
/* sine peak calibration of the RMS reading: 10 log10(2) */
#define BC_SINE_CAL_DB 3.0102999566398120

/* A value ramped linearly across one control cell (cf. gain.c). */
typedef struct bc_ramp {
  double prev, target;
} bc_ramp;

typedef struct bus_comp_state {
  double fs;
  int nch;
  const mixstage__allocator *alloc;
  /* detector */
  mixstage__biquad hpf;
  int hpf_on;
  mixstage__biquad_state hpf_st[MIXSTAGE_MAX_CHANNELS];
  mixstage__rms_det rms[MIXSTAGE_MAX_CHANNELS];
  mixstage__comp_ballistics ball;
  double thr, ratio, knee;
  double p_floor; /* mean square below which the static GR is exactly 0 */
  double gr; /* current GR, dB */
  /* gain stages */
  bc_ramp makeup, mix, drive;
  bc_ramp tape_x; /* 0 = plain gain path, 1 = oversampled tape path */
  int cell_pos;
  int tape;
  int initialised;
  /* tape oversampler and the matching dry delay */
  mixstage__oversampler os;
  int os_ok;
  int os_live; /* the oversampler's state is current */
  int os_idle; /* frames its output has gone unused (capped) */
  int lat;
  float *dry; /* nch * dlen ring */
  double *gdel; /* dlen ring: compressor gain x makeup, delayed with dry */
  int dlen, dpos;
  /* gain_trace: the float gain each channel's delayed input was multiplied
   * by in the last process() call (one linked gain, so one row) */
  float trace[MIXSTAGE_OS_MAX_FRAMES];
  int trace_n, trace_nch, trace_ok;
  int wide; /* dyn_block.h's four-lane forms run here */
} bus_comp_state;

static void bc_fini(void *s, const mixstage__node_env *env) {
  bus_comp_state *st = s;
  (void)env;
  if (st->os_ok) mixstage__os_fini(&st->os, st->alloc);
  st->os_ok = 0;
  mixstage__free(st->alloc, st->dry);
  st->dry = NULL;
  mixstage__free(st->alloc, st->gdel);
  st->gdel = NULL;
}

static int bc_init(void *s, const mixstage__node_env *env) {
  bus_comp_state *st = s;
  st->fs = env->sample_rate;
  st->nch = env->channels;
  st->alloc = env->alloc;
  int rc = mixstage__os_init(&st->os, env->alloc, st->nch, BC_OS_FACTOR);
  if (rc != MIXSTAGE_OK) return rc;
  st->os_ok = 1;
  st->lat = mixstage__os_latency(&st->os);
  /* a block is written to the rings before it is read back */
  st->dlen = st->lat + MIXSTAGE_OS_MAX_FRAMES;
  /* the rings also hold the history os_resume() re-feeds */
  if (st->dlen < MIXSTAGE_OS_MEMORY_FRAMES) st->dlen = MIXSTAGE_OS_MEMORY_FRAMES;
  st->dry = mixstage__calloc(env->alloc, (size_t)st->nch * (size_t)st->dlen, sizeof(float));
  st->gdel = mixstage__calloc(env->alloc, (size_t)st->dlen, sizeof(double));
  if (!st->dry || !st->gdel) {
    bc_fini(s, env);
    return MIXSTAGE_ENOMEM;
  }
  mixstage__biquad_identity(&st->hpf);
  st->wide = mixstage__dynb_wide_available();
  return MIXSTAGE_OK;
}

static void bc_reset(void *s) {
  bus_comp_state *st = s;
  for (int c = 0; c < MIXSTAGE_MAX_CHANNELS; c++) {
    mixstage__biquad_reset(&st->hpf_st[c]);
    mixstage__rms_det_reset(&st->rms[c]);
  }
  mixstage__comp_ballistics_reset(&st->ball);
  st->gr = 0.0;
  st->makeup.prev = st->makeup.target;
  st->mix.prev = st->mix.target;
  st->drive.prev = st->drive.target;
  st->tape_x.prev = st->tape_x.target;
  st->cell_pos = MIXSTAGE_CONTROL_FRAMES;
  mixstage__os_reset(&st->os);
  memset(st->dry, 0, (size_t)st->nch * (size_t)st->dlen * sizeof(float));
  /* the silent history was "played" at no reduction */
  for (int j = 0; j < st->dlen; j++) st->gdel[j] = st->makeup.target;
  st->dpos = 0;
  st->os_live = 1; /* reset state = fed silence, as the rings say */
  st->os_idle = 0;
  st->trace_n = 0;
}

static void ramp_set(bc_ramp *r, double v, int cell_pos, int first) {
  if (first) r->prev = v;
  else if (cell_pos < MIXSTAGE_CONTROL_FRAMES)
    r->prev += (r->target - r->prev) * cell_pos / (double)MIXSTAGE_CONTROL_FRAMES;
  else r->prev = r->target;
  r->target = v;
}

/* Value of r at frame k of the cell; constant (the target) from k = 32 on. */
static inline double ramp_at(const bc_ramp *r, int k) {
  return k >= MIXSTAGE_CONTROL_FRAMES
             ? r->target
             : r->prev + (r->target - r->prev) * k / (double)MIXSTAGE_CONTROL_FRAMES;
}

static void bc_update(void *s, const double *p) {
  bus_comp_state *st = s;
  int first = !st->initialised;
  st->thr = p[P_THRESHOLD];
  int ri = (int)floor(p[P_RATIO] + 0.5);
  st->ratio = ratio_steps[ri < 0 ? 0 : ri > 2 ? 2 : ri];
  st->knee = p[P_KNEE];
  /* the level is the power in dB plus the sine calibration */
  st->p_floor = mixstage__dyn_compress_floor_power(st->thr - BC_SINE_CAL_DB, st->knee);
  double att = p[P_ATTACK];
  double win = att / 8.0;
  win = win < 0.02 ? 0.02 : win > 2.0 ? 2.0 : win;
  for (int c = 0; c < MIXSTAGE_MAX_CHANNELS; c++) mixstage__rms_det_set(&st->rms[c], win, st->fs);
  mixstage__comp_ballistics_set(&st->ball, att, p[P_RELEASE] * 1000.0, p[P_AUTO_RELEASE] >= 0.5,
                                st->fs);
  double f = p[P_SC_HPF];
  int on = f >= BC_HPF_MIN_HZ;
  if (on) mixstage__biquad_highpass(&st->hpf, f, MIXSTAGE__Q_BUTTERWORTH, st->fs);
  else mixstage__biquad_identity(&st->hpf);
  if (on && !st->hpf_on)
    for (int c = 0; c < MIXSTAGE_MAX_CHANNELS; c++) mixstage__biquad_reset(&st->hpf_st[c]);
  st->hpf_on = on;
  ramp_set(&st->makeup, mixstage__db_to_gain(p[P_MAKEUP]), st->cell_pos, first);
  ramp_set(&st->mix, p[P_MIX] * 0.01, st->cell_pos, first);
  ramp_set(&st->drive, mixstage__db_to_gain(p[P_TAPE_DRIVE]), st->cell_pos, first);
  st->tape = p[P_TAPE] >= 0.5;
  ramp_set(&st->tape_x, st->tape ? 1.0 : 0.0, st->cell_pos, first);
  st->cell_pos = first ? MIXSTAGE_CONTROL_FRAMES : 0;
  st->initialised = 1;
}

/* Rebuilds the paused oversampler: wet input was float(x g) with x in the
 * dry ring and g in the gain ring, so the last MIXSTAGE_OS_MEMORY_FRAMES
 * frames of it are re-fed exactly (tape was off throughout them, so no
 * curve is applied).  Bounded work once per switch, no allocation. */
static void os_resume(bus_comp_state *st, int nch) {
  float in[MIXSTAGE_MAX_CHANNELS][MIXSTAGE_OS_MAX_FRAMES];
  const float *ip[MIXSTAGE_MAX_CHANNELS] = {0};
  float *op[MIXSTAGE_MAX_CHANNELS] = {0};
  for (int c = 0; c < nch; c++) ip[c] = op[c] = in[c];
  mixstage__os_reset(&st->os);
  for (int done = 0; done < MIXSTAGE_OS_MEMORY_FRAMES; done += MIXSTAGE_OS_MAX_FRAMES) {
    int n = MIXSTAGE_OS_MEMORY_FRAMES - done;
    if (n > MIXSTAGE_OS_MAX_FRAMES) n = MIXSTAGE_OS_MAX_FRAMES;
    for (int i = 0; i < n; i++) {
      int j = st->dpos - MIXSTAGE_OS_MEMORY_FRAMES + done + i;
      if (j < 0) j += st->dlen;
      for (int c = 0; c < nch; c++)
        in[c][i] = (float)(st->dry[(size_t)c * (size_t)st->dlen + (size_t)j] * st->gdel[j]);
    }
    mixstage__os_up(&st->os, ip, n);
    mixstage__os_down(&st->os, op, n);
  }
  st->os_live = 1;
  st->os_idle = 0;
}

/* Tape curve, level-compensated: tanh(d x) / d has unity slope at 0, so the
 * drive sets how early the curve bends, not the level of quiet material. */
static inline float tape_curve(float x, double d) { return (float)(tanh(d * (double)x) / d); }

/* gf[i] = float((1 - mx[i]) + mx[i] gd[i]): the delayed gain with the mix
 * folded in (see the top of the file); mx NULL: mx[i] = mxc throughout. */
static void bc_gain_floats(const double *gd, const double *mx, double mxc, float *gf, int n) {
  int i = 0;
#ifdef __SSE2__
  const __m128d one = _mm_set1_pd(1.0), mc = _mm_set1_pd(mxc);
  for (; i + 2 <= n; i += 2) {
    __m128d m = mx ? _mm_loadu_pd(mx + i) : mc;
    __m128d v = _mm_add_pd(_mm_sub_pd(one, m), _mm_mul_pd(m, _mm_loadu_pd(gd + i)));
    _mm_storel_epi64((__m128i *)(void *)(gf + i), _mm_castps_si128(_mm_cvtpd_ps(v)));
  }
#endif
  for (; i < n; i++) {
    double m = mx ? mx[i] : mxc;
    gf[i] = (float)((1.0 - m) + m * gd[i]);
  }
}


/* y[i] = x[i] g[i] (one IEEE float product each, at any width). */
static void bc_mul(float *y, const float *x, const float *g, int n) {
  int i = 0;
#ifdef __SSE2__
  for (; i + 4 <= n; i += 4) _mm_storeu_ps(y + i, _mm_mul_ps(_mm_loadu_ps(x + i), _mm_loadu_ps(g + i)));
#endif
  for (; i < n; i++) y[i] = x[i] * g[i];
}

/* The largest of lvl[0 .. n-1] and 0, NaN passed over (the comparison
 * m = lvl[i] > m ? lvl[i] : m; maxpd(p, q) is p > q ? p : q per lane). */
static double bc_max(const double *lvl, int n) {
  double m = 0.0;
  int i = 0;
#ifdef __SSE2__
  __m128d a = _mm_setzero_pd(), b = a;
  for (; i + 4 <= n; i += 4) {
    a = _mm_max_pd(_mm_loadu_pd(lvl + i), a);
    b = _mm_max_pd(_mm_loadu_pd(lvl + i + 2), b);
  }
  a = _mm_max_pd(a, b);
  m = _mm_cvtsd_f64(_mm_max_sd(a, _mm_unpackhi_pd(a, a)));
#endif
  for (; i < n; i++)
    if (lvl[i] > m) m = lvl[i];
  return m;
}

/* One piece of at most MIXSTAGE_OS_MAX_FRAMES frames (the oversampler's,
 * the stack buffers' and the trace's size). */
static void bc_piece(bus_comp_state *st, float *const *buf, int nch, int nframes,
                     const float *const *key, int key_nch) {
  const float *const *det = key && key_nch > 0 ? key : (const float *const *)buf;
  int dn = key && key_nch > 0 ? key_nch : nch;
  if (dn > MIXSTAGE_MAX_CHANNELS) dn = MIXSTAGE_MAX_CHANNELS;
  float wet[MIXSTAGE_MAX_CHANNELS][MIXSTAGE_OS_MAX_FRAMES];
  double gnow[MIXSTAGE_OS_MAX_FRAMES];

  /* The tape stage runs while its output can be heard and for
   * MIXSTAGE_OS_MEMORY_FRAMES frames after (see the top of the file); only
   * then is the gained input (wet) needed. */
  int heard = st->tape || st->tape_x.target > 0.0 || ramp_at(&st->tape_x, st->cell_pos + 1) > 0.0;
  if (heard) {
    if (!st->os_live) os_resume(st, nch);
    st->os_idle = 0;
  } else if (st->os_live) {
    st->os_idle += nframes;
    if (st->os_idle >= MIXSTAGE_OS_MEMORY_FRAMES) st->os_live = 0;
  }
  int os_run = st->os_live;
  /* makeup, mix and tape crossfade ramp only in the cell after an update */
  int ramping = st->cell_pos + 1 < MIXSTAGE_CONTROL_FRAMES;

  /* Detector, channel by channel over the block (each channel's filter and
   * mean square are sample-sequential; the channels are independent), then
   * the linked level: the largest mean square of each frame. */
  double lvl[MIXSTAGE_OS_MAX_FRAMES], ms_c[MIXSTAGE_OS_MAX_FRAMES];
  double tgt[MIXSTAGE_OS_MAX_FRAMES], grs[MIXSTAGE_OS_MAX_FRAMES];
  double lmax = 0.0;
  if (dn == 2 && !st->hpf_on) {
    mixstage__rms_det_run_pair(&st->rms[0], &st->rms[1], det[0], det[1], nframes, lvl);
    lmax = bc_max(lvl, nframes);
  } else {
    for (int i = 0; i < nframes; i++) lvl[i] = 0.0;
    for (int c = 0; c < dn; c++) {
      const float *x = det[c];
      mixstage__rms_det *rd = &st->rms[c];
      double ms = rd->ms;
      const double b = rd->b;
      if (st->hpf_on) {
        for (int i = 0; i < nframes; i++) {
          double v = mixstage__biquad_tick(&st->hpf, &st->hpf_st[c], (double)x[i]);
          ms = ms + b * (v * v - ms);
          ms = ms < 1e-30 ? 0.0 : ms; /* mixstage__rms_det_run */
          ms_c[i] = ms;
        }
      } else {
        for (int i = 0; i < nframes; i++) {
          double v = (double)x[i];
          ms = ms + b * (v * v - ms);
          ms = ms < 1e-30 ? 0.0 : ms;
          ms_c[i] = ms;
        }
      }
      rd->ms = ms;
      for (int i = 0; i < nframes; i++)
        if (ms_c[i] > lvl[i]) lvl[i] = ms_c[i]; /* a NaN channel is passed over, as before */
    }
    for (int i = 0; i < nframes; i++)
      if (lvl[i] > lmax) lmax = lvl[i];
  }
  /* Static curve: exactly 0 below the knee, where the dB conversion is
   * skipped (the level is the power in dB plus the sine calibration, folded
   * into the threshold). */
  if (lmax < st->p_floor) memset(tgt, 0, sizeof(double) * (size_t)nframes);
  else
    mixstage__dynb_target_n(st->wide, lvl, tgt, nframes, st->p_floor, st->thr - BC_SINE_CAL_DB,
                            1.0 - 1.0 / st->ratio, st->knee);
  /* a GR of 600 dB or more is held at 600; a NaN (from a NaN key) reads 0:
   * no reduction */
  if (!mixstage__dynb_ballistics_n(st->wide, &st->ball, tgt, grs, nframes))
    for (int i = 0; i < nframes; i++)
      if (!(grs[i] < 600.0)) grs[i] = grs[i] != grs[i] ? 0.0 : 600.0;
  if (nframes > 0) st->gr = grs[nframes - 1];
  mixstage__dynb_gain_n(st->wide, grs, gnow, nframes, ramping ? 1.0 : st->makeup.target);
  if (ramping)
    for (int i = 0; i < nframes; i++) gnow[i] *= ramp_at(&st->makeup, st->cell_pos + i + 1);
  if (os_run)
    for (int c = 0; c < nch; c++)
      for (int i = 0; i < nframes; i++) wet[c][i] = (float)(buf[c][i] * gnow[i]);

  if (os_run) {
    const float *wp[MIXSTAGE_MAX_CHANNELS] = {0};
    for (int c = 0; c < nch; c++) wp[c] = wet[c];
    mixstage__os_up(&st->os, wp, nframes);
  }
  if (st->tape) {
    const int f = BC_OS_FACTOR;
    for (int i = 0; i < nframes; i++) {
      double d = ramp_at(&st->drive, st->cell_pos + i + 1);
      for (int c = 0; c < nch; c++) {
        float *h = st->os.hi[c] + i * f;
        for (int j = 0; j < f; j++) h[j] = tape_curve(h[j], d);
      }
    }
  }
  if (os_run) {
    float *wout[MIXSTAGE_MAX_CHANNELS] = {0};
    for (int c = 0; c < nch; c++) wout[c] = wet[c];
    mixstage__os_down(&st->os, wout, nframes);
  }

  /* Mix against the dry input delayed by the oversampler's latency. */
  int traced = 1;
  if (st->tape_x.target <= 0.0 && (!ramping || st->tape_x.prev <= 0.0)) {
    /* Tape crossfade at 0 throughout: the plain gain path only, a block at
     * a time.  The block goes into the rings first (they hold at least
     * nframes + latency frames), then is read back at the latency; the
     * arithmetic per sample is that of the general loop below. */
    double mxv[MIXSTAGE_OS_MAX_FRAMES];
    if (ramping)
      for (int i = 0; i < nframes; i++) mxv[i] = ramp_at(&st->mix, st->cell_pos + i + 1);
    for (int i = 0, j = st->dpos; i < nframes;) {
      int run = st->dlen - j < nframes - i ? st->dlen - j : nframes - i;
      for (int c = 0; c < nch; c++)
        memcpy(st->dry + (size_t)c * (size_t)st->dlen + j, buf[c] + i, sizeof(float) * (size_t)run);
      memcpy(st->gdel + j, gnow + i, sizeof(double) * (size_t)run);
      i += run;
      j = 0;
    }
    int j = st->dpos - st->lat;
    if (j < 0) j += st->dlen;
    for (int i = 0; i < nframes;) {
      int run = st->dlen - j < nframes - i ? st->dlen - j : nframes - i;
      bc_gain_floats(st->gdel + j, ramping ? mxv + i : NULL, st->mix.target, st->trace + i, run);
      for (int c = 0; c < nch; c++)
        bc_mul(buf[c] + i, st->dry + (size_t)c * (size_t)st->dlen + j, st->trace + i, run);
      i += run;
      j = 0;
    }
    st->dpos = (st->dpos + nframes) % st->dlen;
  } else {
    for (int i = 0; i < nframes; i++) {
      int k = st->cell_pos + i + 1;
      double mx = ramping ? ramp_at(&st->mix, k) : st->mix.target;
      double tx = ramping ? ramp_at(&st->tape_x, k) : st->tape_x.target;
      int rd = st->dpos - st->lat;
      if (rd < 0) rd += st->dlen;
      st->gdel[st->dpos] = gnow[i];
      double gd = st->gdel[rd];
      /* tape off: one gain on the delayed input, mix folded in (see top) */
      float gf = (float)((1.0 - mx) + mx * gd);
      st->trace[i] = gf;
      if (tx > 0.0) traced = 0;
      for (int c = 0; c < nch; c++) {
        float *d = st->dry + (size_t)c * (size_t)st->dlen;
        d[st->dpos] = buf[c][i];
        float dry = d[rd];
        if (tx <= 0.0) {
          buf[c][i] = dry * gf;
        } else {
          double w = tx >= 1.0 ? (double)wet[c][i]
                               : tx * (double)wet[c][i] + (1.0 - tx) * ((double)dry * gd);
          buf[c][i] = mx >= 1.0 ? (float)w : (float)(dry + mx * (w - dry));
        }
      }
      if (++st->dpos >= st->dlen) st->dpos = 0;
    }
  }
  st->trace_n = nframes;
  st->trace_nch = nch;
  st->trace_ok = traced;
  st->cell_pos += nframes;
  if (st->cell_pos > MIXSTAGE_CONTROL_FRAMES) st->cell_pos = MIXSTAGE_CONTROL_FRAMES;
}

/* Any number of frames, in pieces of MIXSTAGE_OS_MAX_FRAMES: the detector,
 * ballistics, rings and oversampler are sample-sequential, so the split does
 * not change a bit.  gain_trace covers the last piece only, so it answers 0
 * for a longer call (the engine asks for traces only of single cells). */
static void bc_process(void *s, float *const *buf, int nch, int nframes, const float *const *key,
                       int key_nch) {
  float *piece[MIXSTAGE_MAX_CHANNELS];
  const float *kpiece[MIXSTAGE_MAX_CHANNELS];
  const int kn = key && key_nch > 0 ? (key_nch < MIXSTAGE_MAX_CHANNELS ? key_nch : MIXSTAGE_MAX_CHANNELS) : 0;
  if (nframes <= MIXSTAGE_OS_MAX_FRAMES) { /* one piece: the engine's usual call */
    if (nframes > 0) bc_piece(s, buf, nch, nframes, kn ? key : NULL, kn);
    return;
  }
  for (int done = 0; done < nframes; done += MIXSTAGE_OS_MAX_FRAMES) {
    const int n = nframes - done < MIXSTAGE_OS_MAX_FRAMES ? nframes - done : MIXSTAGE_OS_MAX_FRAMES;
    for (int c = 0; c < nch; c++) piece[c] = buf[c] + done;
    for (int c = 0; c < kn; c++) kpiece[c] = key[c] + done;
    bc_piece(s, piece, nch, n, kn ? kpiece : NULL, kn);
  }
}

static int bc_latency(const void *s) {
  const bus_comp_state *st = s;
  return st->lat;
}

static int64_t bc_tail(const void *s) {
  const bus_comp_state *st = s;
  return st->lat;
}

static float bc_gain_reduction(const void *s) {
  const bus_comp_state *st = s;
  return (float)st->gr;
}

static int bc_gain_trace(const void *s, float *const *g, int nch, int n) {
  const bus_comp_state *st = s;
  if (!st->trace_ok || n < 0 || n > st->trace_n || nch > st->trace_nch) return 0;
  for (int c = 0; c < nch; c++)
    for (int i = 0; i < n; i++) g[c][i] = st->trace[i];
  return 1;
}

const mixstage__node_class mixstage__bus_compressor_class = {
    .name = "bus_compressor",
    .description = "Mix-bus glue compressor: RMS-ish linked detector, stepped ratios, optional tape",
    .params = bus_comp_params,
    .num_params = P_COUNT,
    .accepts_key = 1,
    .state_size = sizeof(bus_comp_state),
    .init = bc_init,
    .fini = bc_fini,
    .reset = bc_reset,
    .update = bc_update,
    .process = bc_process,
    .latency = bc_latency,
    .tail = bc_tail,
    .gain_reduction = bc_gain_reduction,
    .gain_trace = bc_gain_trace,
    .max_frames = 8 * MIXSTAGE_CONTROL_FRAMES, /* a block, in pieces of MIXSTAGE_OS_MAX_FRAMES */
};
