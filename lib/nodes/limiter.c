/* "limiter": lookahead brickwall limiter with a true-peak ceiling.
 *
 * Signal flow, per sample n (all channels in lockstep):
 *
 *   x = in * input_gain --> audio delay line (latency frames) ----------> * g --> out
 *                      \--> true-peak detector (4x, oversample.h)           ^
 *                           + envelope of the band above 0.44 fs            |
 *                           --> required gain r = min(1, ceiling / peak)    |
 *                           --> stereo link (dB blend of own / loudest)     |
 *                           --> release: one-pole in dB, instant attack     |
 *                           --> sliding minimum over M = W + 2P samples     |
 *                           --> two cascaded boxcars, W1 + W2 - 1 = W ------/
 *
 * Why it never overshoots: let s be the sliding minimum of the released
 * requirement e (e <= r by construction) over the last M samples and h the
 * average of s over the last W samples (the two boxcars are a triangle of
 * support W).  h[n] <= r[k] whenever the W samples averaged all lie in the
 * M-sample window that contains k, i.e. for n in [k+W-1, k+M-1].  Applying
 * h[n] to the sample detected at n - Dg with Dg = W + P - 1 and M = W + 2P
 * therefore gives every sample a gain no larger than the requirement of any
 * detector interval within P samples of it: the attack is a smooth S-shaped
 * ramp (triangular kernel) that is complete before the peak arrives, and it
 * never rises above what the lookahead window needs.  The minimum and the
 * boxcars run on gains quantised down to 2^-36 in int64, so the running sums
 * are exact (no drift over hours) and quantisation only ever lowers the gain.
 *
 * The delay line holds the input before the input gain, and the input gain
 * travels beside it in a ring, so the output is one float gain times the
 * delayed input: out[n] = x[n - D] * float(gi[n - D] g[n]).  gain_trace
 * reports that float, so out == trace * delayed input bit for bit (the stem
 * renderer relies on it; the detector still sees float(x gi) as before).
 *
 * Linked (link = 100 %, or mono), every channel has the same requirement, so
 * the gain chains would be identical: one chain runs (channel 0's) and its
 * gain multiplies every channel; the trace is one row.  Below 100 % each
 * channel runs its own chain, starting from the linked one's state (exact:
 * they were equal); back at 100 % they run side by side on the common
 * requirement until their states are equal, then join.
 *
 * At rest (sample-peak detection, linked, nothing pending in the chain) a
 * piece whose frames cannot reach the ceiling, by one bound on the largest
 * |x| times the largest input gain, skips the peaks, the requirement and the
 * chain: they would give exactly a gain of 1, so the output is the delayed
 * input times float(input gain), the per-frame path's bits (check_kernels
 * compares the two).  The gain ring is rewritten only while the input gain
 * moves.
 *
 * Latency = detector delay + Dg frames, where Dg = lookahead in frames.
 * The lookahead parameter is edit-time (not automatable): changing it
 * clears the limiter's memory so the latency stays consistent.
 */
#include <math.h>
#include <string.h>
#include "../dsp/biquad.h"
#include "../dsp/dynamics.h"
#include "../dsp/oversample.h"
#include "../node.h"
#ifdef __SSE2__
#include <emmintrin.h>
#endif

enum { P_CEILING, P_INPUT_GAIN, P_RELEASE, P_LOOKAHEAD, P_TRUE_PEAK, P_LINK, P_COUNT };

static const mixstage_param_info limiter_params[P_COUNT] = {
    {P_CEILING, "ceiling", "Ceiling", MIXSTAGE_UNIT_DB, -24.0, 0.0, -1.0, 1, NULL},
    {P_INPUT_GAIN, "input_gain", "Input gain", MIXSTAGE_UNIT_DB, -12.0, 36.0, 0.0, 1, NULL},
    {P_RELEASE, "release", "Release", MIXSTAGE_UNIT_MS, 1.0, 2000.0, 100.0, 1, NULL},
    {P_LOOKAHEAD, "lookahead", "Lookahead", MIXSTAGE_UNIT_MS, 0.5, 20.0, 5.0, 0, NULL},
    {P_TRUE_PEAK, "true_peak", "True-peak detection", MIXSTAGE_UNIT_BOOL, 0.0, 1.0, 1.0, 1, NULL},
    {P_LINK, "link", "Channel link", MIXSTAGE_UNIT_PERCENT, 0.0, 100.0, 100.0, 1, NULL},
};

/* Samples of neighbourhood each output sample is protected over (see above):
 * the detector reports the interval [k, k+1); P = 2 covers both intervals
 * that touch a sample plus one more, so the slope of the gain ramp next to
 * a peak is also covered. */
#define LIM_P 2
#define LIM_QBITS 36
#define LIM_QONE ((int64_t)1 << LIM_QBITS)
/* Safety margin below the ceiling, dB: covers the 4x detector's residual
 * ripple (0.05 dB) and the spectral spread of the gain ramp itself.
 * Measured on the stress set at +12 dB with an independent 256-tap-per-phase
 * interpolator: highest true peak 0.11 dB below the ceiling. */
#define LIM_MARGIN_DB 0.1
/* The fast dB conversions (dynamics.h) err by < 2.4e-10 dB (log2) and
 * < 2e-11 relative (exp2); these guards lean every error towards more
 * reduction, so the fast path is never less safe than the exact one. */
#define LIM_DB_GUARD 1e-9
#define LIM_EXP_GUARD (1.0 - 1e-10)

/* High-band correction (see limiter_process): the band above 0.44 fs
 * (4th-order Butterworth high-pass, 21.1 kHz at 48 kHz), where the detector's
 * interpolator rolls off (its half-sample phase reads 0.86 at 22 kHz, 0.53
 * at 23 kHz, 0 at Nyquist); its
 * magnitude kept for LIM_HF_RING samples, the window half-width around the
 * aligned position, and the envelope factor 1/cos(pi 6/48): a component
 * within 6 kHz of Nyquist at 48 kHz has an envelope that can exceed its
 * samples by at most that much. */
#define LIM_HF_RING 32
#define LIM_HF_HALF 3
#define LIM_HF_ENV 1.083
#define LIM_HF_FC 0.44
/* Frames of history the high band is re-run over when true-peak detection
 * is switched on (see tp_prime): its slowest poles (radius 0.868 at every
 * rate, the design being relative to fs) forget the zero start to about
 * 0.868^512 = 3e-32 of the signal within this many samples. */
#define LIM_HF_PRIME 512

typedef struct lim_chan {
  float *delay;   /* audio delay line (before the input gain), dlen */
  int64_t *dq_v;  /* sliding-minimum deque values, ring of mlen */
  int64_t *dq_t;  /* their sample indices */
  int64_t *box1;  /* ring of W1 quantised gains */
  int64_t *box2;  /* ring of W2 first-stage sums */
  int dq_head, dq_count;
  int64_t sum1, sum2;
  double env_db; /* released requirement, dB <= 0 */
  mixstage__biquad_state hf_st[2];
  float hf[LIM_HF_RING]; /* |high band|, ring */
} lim_chan;

typedef struct limiter_state {
  double fs;
  int nch;
  const mixstage__allocator *alloc;
  lim_chan ch[MIXSTAGE_MAX_CHANNELS];
  mixstage__true_peak tp; /* per-channel true-peak detector */
  int dmax;           /* allocated length of delay lines and rings */
  int la, w, w1, w2, m, det_delay;
  int dpos, b1pos, b2pos; /* ring positions shared by all channels */
  double *gin;        /* input gain of each frame in the delay line, dlen */
  int gin_flat;       /* the last gin_flat frames of gin (up to dmax) equal gi_target */
  float trace[MIXSTAGE_MAX_CHANNELS][MIXSTAGE_CONTROL_FRAMES]; /* gain_trace */
  int trace_n, trace_nch, trace_rows; /* one row when linked */
  int joined; /* every channel's gain chain equals channel 0's (kept there only) */
  double box_den; /* W1 W2 2^36: the triangle's full-scale sum */
  mixstage__biquad hf_sec[2];
  int hf_pos, hf_lag;
  int64_t t;              /* sample counter for the deque */
  double ceil_lin, ceil_db, rel_b, link;
  int true_peak;
  int tp_live; /* the 4x detector and the high band are current */
  /* input gain ramp across one control cell, as in gain.c */
  double gi_prev, gi_target;
  int cell_pos;
  double gr_gain; /* last applied gain of the most-reduced channel */
  int initialised;
} limiter_state;

/* mixstage__limiter_rest_shortcut (node.h) */
static int lim_shortcut = 1;

int mixstage__limiter_rest_shortcut(int on) {
  const int was = lim_shortcut;
  lim_shortcut = on != 0;
  return was;
}

static int lookahead_frames(double ms, double fs) {
  int n = (int)floor(ms * 0.001 * fs + 0.5);
  return n < LIM_P + 1 ? LIM_P + 1 : n;
}

/* Dg = W + P - 1 = la; the triangle of support W is two boxcars. */
static void set_lookahead(limiter_state *st, int la) {
  st->la = la;
  st->w = la - LIM_P + 1;
  st->m = st->w + 2 * LIM_P;
  st->w1 = (st->w + 1) / 2;
  st->w2 = st->w + 1 - st->w1;
  st->box_den = (double)st->w1 * (double)st->w2 * (double)LIM_QONE;
}

static void limiter_fini(void *s, const mixstage__node_env *env) {
  limiter_state *st = s;
  (void)env;
  for (int c = 0; c < MIXSTAGE_MAX_CHANNELS; c++) {
    lim_chan *ch = &st->ch[c];
    mixstage__free(st->alloc, ch->delay);
    mixstage__free(st->alloc, ch->dq_v);
    mixstage__free(st->alloc, ch->dq_t);
    mixstage__free(st->alloc, ch->box1);
    mixstage__free(st->alloc, ch->box2);
    memset(ch, 0, sizeof *ch);
  }
  mixstage__tp_fini(&st->tp, st->alloc);
  mixstage__free(st->alloc, st->gin);
  st->gin = NULL;
}

static int limiter_init(void *s, const mixstage__node_env *env) {
  limiter_state *st = s;
  st->fs = env->sample_rate;
  st->nch = env->channels;
  st->alloc = env->alloc;
  int lmax = lookahead_frames(limiter_params[P_LOOKAHEAD].max, st->fs);
  /* The exact int64 boxcar sums need W1 W2 2^36 < 2^63: fs up to ~800 kHz. */
  if (!(st->fs > 0.0) || lmax > 16384) return MIXSTAGE_ERANGE;
  st->det_delay = mixstage__tp_latency();
  /* + one control cell: a block is written before it is read back */
  st->dmax = lmax + st->det_delay + 2 * LIM_P + 2 + MIXSTAGE_CONTROL_FRAMES;
  /* The rings also hold the history tp_prime() re-runs the detector over. */
  if (st->dmax < LIM_HF_PRIME + 1) st->dmax = LIM_HF_PRIME + 1;
  for (int c = 0; c < st->nch; c++) {
    lim_chan *ch = &st->ch[c];
    ch->delay = mixstage__calloc(env->alloc, (size_t)st->dmax, sizeof(float));
    ch->dq_v = mixstage__calloc(env->alloc, (size_t)st->dmax, sizeof(int64_t));
    ch->dq_t = mixstage__calloc(env->alloc, (size_t)st->dmax, sizeof(int64_t));
    ch->box1 = mixstage__calloc(env->alloc, (size_t)st->dmax, sizeof(int64_t));
    ch->box2 = mixstage__calloc(env->alloc, (size_t)st->dmax, sizeof(int64_t));
    if (!ch->delay || !ch->dq_v || !ch->dq_t || !ch->box1 || !ch->box2) {
      limiter_fini(s, env);
      return MIXSTAGE_ENOMEM;
    }
  }
  st->gin = mixstage__calloc(env->alloc, (size_t)st->dmax, sizeof(double));
  if (!st->gin || mixstage__tp_init(&st->tp, env->alloc, st->nch) != MIXSTAGE_OK) {
    limiter_fini(s, env);
    return MIXSTAGE_ENOMEM;
  }
  set_lookahead(st, lookahead_frames(limiter_params[P_LOOKAHEAD].def, st->fs));
  mixstage__butterworth_highpass(st->hf_sec, 4, LIM_HF_FC * st->fs, st->fs);
  /* the band's group delay near Nyquist is ~1-2 samples: centre the window
   * at the detector's position minus that */
  st->hf_lag = st->det_delay - 2;
  if (st->hf_lag < LIM_HF_HALF) st->hf_lag = LIM_HF_HALF;
  if (st->hf_lag > LIM_HF_RING - LIM_HF_HALF - 1) st->hf_lag = LIM_HF_RING - LIM_HF_HALF - 1;
  st->gi_prev = st->gi_target = 1.0;
  return MIXSTAGE_OK;
}

static void limiter_reset(void *s) {
  limiter_state *st = s;
  for (int c = 0; c < st->nch; c++) {
    lim_chan *ch = &st->ch[c];
    memset(ch->delay, 0, (size_t)st->dmax * sizeof(float));
    /* The gain chain starts at unity: an empty deque reads 1.0 and the
     * boxcars are full of ones. */
    ch->dq_head = 0;
    ch->dq_count = 0;
    for (int i = 0; i < st->w1; i++) ch->box1[i] = LIM_QONE;
    ch->sum1 = (int64_t)st->w1 * LIM_QONE;
    for (int i = 0; i < st->w2; i++) ch->box2[i] = ch->sum1;
    ch->sum2 = (int64_t)st->w2 * ch->sum1;
    ch->env_db = 0.0;
    mixstage__biquad_reset(&ch->hf_st[0]);
    mixstage__biquad_reset(&ch->hf_st[1]);
    memset(ch->hf, 0, sizeof ch->hf);
  }
  for (int i = 0; i < st->dmax; i++) st->gin[i] = st->gi_target;
  st->gin_flat = st->dmax;
  mixstage__tp_reset(&st->tp);
  st->tp_live = 1; /* all zero, as the zeroed history it would have seen */
  st->trace_n = 0;
  st->dpos = st->b1pos = st->b2pos = 0;
  st->hf_pos = 0;
  st->t = 0;
  st->gi_prev = st->gi_target;
  st->cell_pos = MIXSTAGE_CONTROL_FRAMES;
  st->gr_gain = 1.0;
  st->joined = 1;
}

static void limiter_update(void *s, const double *p) {
  limiter_state *st = s;
  st->ceil_db = p[P_CEILING] - LIM_MARGIN_DB;
  st->ceil_lin = mixstage__db_to_gain(st->ceil_db);
  st->rel_b = 1.0 - mixstage__onepole_coef(p[P_RELEASE] * 0.001, st->fs);
  st->link = p[P_LINK] * 0.01;
  st->true_peak = p[P_TRUE_PEAK] >= 0.5;
  double gi = mixstage__db_to_gain(p[P_INPUT_GAIN]);
  if (!st->initialised) {
    if (gi != st->gi_target) st->gin_flat = 0;
    st->gi_prev = st->gi_target = gi;
    st->cell_pos = MIXSTAGE_CONTROL_FRAMES;
  } else {
    st->gi_prev = st->cell_pos >= MIXSTAGE_CONTROL_FRAMES
                      ? st->gi_target
                      : st->gi_prev + (st->gi_target - st->gi_prev) * st->cell_pos /
                                          (double)MIXSTAGE_CONTROL_FRAMES;
    if (gi != st->gi_target) st->gin_flat = 0; /* the ring holds the old gain */
    st->gi_target = gi;
    st->cell_pos = 0;
  }
  int la = lookahead_frames(p[P_LOOKAHEAD], st->fs);
  if (la != st->la) {
    set_lookahead(st, la);
    if (st->initialised) limiter_reset(s);
  }
  st->initialised = 1;
}

/* Gains below 2^-36 (-217 dB) quantise to 0: absurd inputs are muted,
 * never let through above the ceiling.  exp2_fast's relative error (< 2e-11,
 * dynamics.h) is covered by LIM_EXP_GUARD, so q never exceeds the exact
 * floor(10^(e/20) 2^36) by more than the rounding of the product: the
 * quantisation still only ever lowers the gain. */
static inline int64_t lim_quantise(double e) {
  if (e == 0.0) return LIM_QONE;
  return (int64_t)floor(mixstage__exp2_fast(e * 0.16609640474436813) * LIM_EXP_GUARD *
                        (double)LIM_QONE);
}

/* The gain chain of one channel (or of the linked requirement) over n
 * frames: release in dB, sliding minimum, two boxcars; g[i] the gain for
 * frame i.  asks 0: req is all 0.  t0, b1, b2: the shared sample counter
 * and ring positions at frame 0 (the caller advances them once for all
 * channels). */
/* Whether a gain chain is at rest: no reduction pending anywhere in it
 * (released, the deque's minimum and both boxcars at full scale). */
static int lim_chain_at_rest(const limiter_state *st, const lim_chan *ch) {
  const int64_t full = (int64_t)st->w2 * (int64_t)st->w1 * LIM_QONE;
  return ch->env_db == 0.0 && ch->sum2 == full && (ch->dq_count == 0 || ch->dq_v[ch->dq_head] == LIM_QONE);
}

/* n >= 1 frames of a chain at rest that nothing asks to reduce: every frame
 * pushes 2^36, which empties the deque behind it; the boxcars hold nothing
 * but full-scale values and keep them.  The state after n frames is that of
 * the per-frame path in lim_gain_chain, and the gain is sum2 / box_den =
 * exactly 1 (W1 W2 2^36 is exact in both). */
static void lim_chain_hold(lim_chan *ch, int64_t t0, int n) {
  ch->dq_v[ch->dq_head] = LIM_QONE;
  ch->dq_t[ch->dq_head] = t0 + n - 1;
  ch->dq_count = 1;
}

static void lim_gain_chain(const limiter_state *st, lim_chan *ch, const double *req, int asks,
                           double *g, int n, int64_t t0, int b1, int b2) {
  int rest = lim_chain_at_rest(st, ch);
  for (int i = 0; i < n && rest && asks; i++) rest = req[i] == 0.0;
  if (rest) {
    if (n > 0) lim_chain_hold(ch, t0, n);
    const double one = (double)ch->sum2 / st->box_den;
    for (int i = 0; i < n; i++) g[i] = one;
    return;
  }
  /* Release in dB (time constant = release), attack instant: e <= r. */
  double e = ch->env_db, ev[MIXSTAGE_CONTROL_FRAMES];
  const double keep = 1.0 - st->rel_b;
  for (int i = 0; i < n; i++) {
    double r = req[i];
    e = r < e ? r : r + keep * (e - r);
    if (e > -1e-7) e = 0.0; /* the end of a release lands on exact unity */
    ev[i] = e;
  }
  ch->env_db = e;
  int64_t q[MIXSTAGE_CONTROL_FRAMES];
  int i0 = 0;
#ifdef __SSE2__
  /* two frames per vector: mixstage__exp2_fast_v2 gives exp2_fast's bits */
  for (; i0 + 2 <= n; i0 += 2) {
    double gv[2];
    _mm_storeu_pd(gv, mixstage__exp2_fast_v2(_mm_mul_pd(_mm_loadu_pd(ev + i0),
                                                        _mm_set1_pd(0.16609640474436813))));
    for (int k = 0; k < 2; k++)
      q[i0 + k] = ev[i0 + k] == 0.0 ? LIM_QONE
                                    : (int64_t)floor(gv[k] * LIM_EXP_GUARD * (double)LIM_QONE);
  }
#endif
  for (int i = i0; i < n; i++) q[i] = lim_quantise(ev[i]);

  const int cap = st->dmax, m = st->m, w1 = st->w1, w2 = st->w2;
  int head = ch->dq_head, count = ch->dq_count;
  int64_t sum1 = ch->sum1, sum2 = ch->sum2;
  for (int i = 0; i < n; i++) {
    const int64_t t = t0 + i, qi = q[i];
    /* Sliding minimum over the last m samples: a monotonic deque of
     * increasing values (front = minimum), O(1) amortised. */
    while (count > 0) {
      int back = head + count - 1;
      if (back >= cap) back -= cap;
      if (ch->dq_v[back] >= qi) count--;
      else break;
    }
    int slot = head + count;
    if (slot >= cap) slot -= cap;
    ch->dq_v[slot] = qi;
    ch->dq_t[slot] = t;
    count++;
    while (ch->dq_t[head] <= t - m) {
      if (++head >= cap) head = 0;
      count--;
    }
    const int64_t smin = ch->dq_v[head];
    /* Two exact boxcars (integer running sums). */
    sum1 += smin - ch->box1[b1];
    ch->box1[b1] = smin;
    sum2 += sum1 - ch->box2[b2];
    ch->box2[b2] = sum1;
    if (++b1 >= w1) b1 = 0;
    if (++b2 >= w2) b2 = 0;
    g[i] = (double)sum2 / st->box_den;
  }
  ch->dq_head = head;
  ch->dq_count = count;
  ch->sum1 = sum1;
  ch->sum2 = sum2;
}

/* Copies channel 0's gain chain (the linked one) to channels 1 .. nch-1. */
static void chain_split(limiter_state *st, int nch) {
  const lim_chan *c0 = &st->ch[0];
  for (int c = 1; c < nch; c++) {
    lim_chan *ch = &st->ch[c];
    memcpy(ch->dq_v, c0->dq_v, (size_t)st->dmax * sizeof(int64_t));
    memcpy(ch->dq_t, c0->dq_t, (size_t)st->dmax * sizeof(int64_t));
    memcpy(ch->box1, c0->box1, (size_t)st->w1 * sizeof(int64_t));
    memcpy(ch->box2, c0->box2, (size_t)st->w2 * sizeof(int64_t));
    ch->dq_head = c0->dq_head;
    ch->dq_count = c0->dq_count;
    ch->sum1 = c0->sum1;
    ch->sum2 = c0->sum2;
    ch->env_db = c0->env_db;
  }
}

/* 1 if every channel's gain chain is in channel 0's state (same future on
 * the same requirement): the deques compared as sequences, the rings whole. */
static int chains_equal(const limiter_state *st, int nch) {
  const lim_chan *c0 = &st->ch[0];
  const int cap = st->dmax;
  for (int c = 1; c < nch; c++) {
    const lim_chan *ch = &st->ch[c];
    if (ch->env_db != c0->env_db || ch->sum1 != c0->sum1 || ch->sum2 != c0->sum2 ||
        ch->dq_count != c0->dq_count)
      return 0;
    for (int j = 0; j < c0->dq_count; j++) {
      int a = (c0->dq_head + j) % cap, b = (ch->dq_head + j) % cap;
      if (ch->dq_v[b] != c0->dq_v[a] || ch->dq_t[b] != c0->dq_t[a]) return 0;
    }
    if (memcmp(ch->box1, c0->box1, (size_t)st->w1 * sizeof(int64_t)) != 0 ||
        memcmp(ch->box2, c0->box2, (size_t)st->w2 * sizeof(int64_t)) != 0)
      return 0;
  }
  return 1;
}

/* True-peak detection off costs nothing: neither the 4x interpolator nor
 * the high band runs, since in sample-peak mode their outputs are unused
 * (the requirement comes from the delay line alone), so the output is the
 * same bits as if they had run.  When detection is switched on they are
 * rebuilt from the delay line, which holds the input x and its input gain
 * for every one of the last dmax frames, so float(x gi) is exactly the
 * detector input they missed.  The interpolator is an FIR of
 * MIXSTAGE_TP_TAPS_PER_PHASE taps: re-fed that many frames it is in exactly
 * the state it would have had.  The high band is IIR: re-run from rest over
 * LIM_HF_PRIME frames it matches its continuous state to far below float
 * resolution.  Bounded work, once per switch, no allocation. */
static void tp_prime(limiter_state *st, int nch) {
  const int dlen = st->dmax;
  float x[MIXSTAGE_TP_TAPS_PER_PHASE];
  mixstage__tp_reset(&st->tp);
  for (int c = 0; c < nch; c++) {
    lim_chan *ch = &st->ch[c];
    for (int k = 0; k < MIXSTAGE_TP_TAPS_PER_PHASE; k++) {
      int j = st->dpos - MIXSTAGE_TP_TAPS_PER_PHASE + k;
      if (j < 0) j += dlen;
      x[k] = (float)(ch->delay[j] * st->gin[j]);
    }
    mixstage__tp_process_channel(&st->tp, c, x, MIXSTAGE_TP_TAPS_PER_PHASE, NULL);
    mixstage__biquad_reset(&ch->hf_st[0]);
    mixstage__biquad_reset(&ch->hf_st[1]);
    for (int k = LIM_HF_PRIME; k >= 1; k--) {
      int j = st->dpos - k;
      if (j < 0) j += dlen;
      double v = (double)(float)(ch->delay[j] * st->gin[j]);
      v = mixstage__biquad_tick(&st->hf_sec[0], &ch->hf_st[0], v);
      v = mixstage__biquad_tick(&st->hf_sec[1], &ch->hf_st[1], v);
      if (k <= LIM_HF_RING) ch->hf[(st->hf_pos - k + LIM_HF_RING) % LIM_HF_RING] = (float)fabs(v);
    }
  }
  st->tp_live = 1;
}

/* Required gain (dB <= 0) of each frame from its peak p: 0 at or below the
 * ceiling, else ceiling - dB(p) (leaning low by LIM_DB_GUARD, see above),
 * at least -1000 dB so e stays finite on inf.  A NaN peak asks nothing (as
 * before: its frame is NaN whatever the gain).  pmax: the largest p (NaN
 * ignored), so a block under the ceiling costs nothing.  Returns 1 if any
 * frame asks for reduction. */
static int lim_requirement(const limiter_state *st, const double *p, double pmax, double *req,
                           int n) {
  if (!(pmax > st->ceil_lin)) {
    memset(req, 0, sizeof(double) * (size_t)n);
    return 0;
  }
  const double top = st->ceil_db - LIM_DB_GUARD;
  for (int i = 0; i < n; i++) {
    double r = 0.0;
    if (p[i] > st->ceil_lin) r = top - 6.0205999132796240 * mixstage__log2_fast(p[i]);
    if (!(r <= 0.0)) r = 0.0;
    req[i] = r < -1000.0 ? -1000.0 : r;
  }
  return 1;
}

/* Sample peak |float(x[k] g[k])| for k < n into p (max-merged into p when
 * merge; a NaN reads 0: it asks no reduction, as before), returning the
 * largest merged with m. */
static double lim_sample_peak(const float *x, const double *g, double *p, int n, int merge,
                              double m) {
  int k = 0;
#ifdef __SSE2__
  const __m128d mag = _mm_castsi128_pd(_mm_set1_epi64x(0x7fffffffffffffffLL));
  __m128d mv = _mm_set1_pd(m);
  for (; k + 2 <= n; k += 2) {
    __m128d xd = _mm_cvtps_pd(_mm_castsi128_ps(_mm_loadl_epi64((const __m128i *)(const void *)(x + k))));
    __m128d v = _mm_and_pd(_mm_cvtps_pd(_mm_cvtpd_ps(_mm_mul_pd(xd, _mm_loadu_pd(g + k)))), mag);
    v = _mm_max_pd(v, merge ? _mm_loadu_pd(p + k) : _mm_setzero_pd()); /* NaN: the other */
    _mm_storeu_pd(p + k, v);
    mv = _mm_max_pd(v, mv); /* the second operand wins when v is NaN */
  }
  double mm[2];
  _mm_storeu_pd(mm, mv);
  m = mm[0] > mm[1] ? mm[0] : mm[1];
#endif
  for (; k < n; k++) {
    double v = fabs((double)(float)(x[k] * g[k]));
    double o = merge ? p[k] : 0.0;
    if (!(v > o)) v = o;
    p[k] = v;
    if (v > m) m = v;
  }
  return m;
}

/* Peak of each frame of channel c at the detector's position (true peak
 * with the high-band correction, or the sample peak) into p[0 .. n-1], or
 * max-merged into it when merge (the linked detector reads the loudest
 * channel).  The frames were already written to the delay line from
 * st->dpos on.  Returns the largest peak of the block merged with m. */
static double lim_detect(limiter_state *st, int c, const float *xin, const float *pk, double *p,
                         int n, int merge, double m) {
  lim_chan *ch = &st->ch[c];
  const int dlen = st->dmax;
  if (!st->true_peak) {
    /* sample peak at the detector's position: that frame's detector input */
    int j = st->dpos - st->det_delay;
    if (j < 0) j += dlen;
    for (int i = 0; i < n;) {
      int run = dlen - j < n - i ? dlen - j : n - i;
      m = lim_sample_peak(ch->delay + j, st->gin + j, p + i, run, merge, m);
      i += run;
      j = 0;
    }
    return m;
  }
  int hp = st->hf_pos;
  for (int i = 0; i < n; i++) {
    double v = mixstage__biquad_tick(&st->hf_sec[0], &ch->hf_st[0], (double)xin[i]);
    v = mixstage__biquad_tick(&st->hf_sec[1], &ch->hf_st[1], v);
    ch->hf[hp] = (float)fabs(v);
    /* The detector's interpolator (like BS.1770's) is flat to ~0.42 fs
     * and under-reads components in its transition band next to
     * Nyquist.  Its error there is at most the envelope of that band,
     * so the band's envelope (max over +-LIM_HF_HALF samples around
     * the detector's position) is added: conservative by design.  On
     * program material the band above 21 kHz is tens of dB down, so the
     * extra reduction is negligible; on stress material made of content
     * next to Nyquist it costs up to ~2 dB of extra reduction (see the
     * figures in tests/check_bus_stages.c). */
    float hm = 0.0f;
    for (int j = -LIM_HF_HALF; j <= LIM_HF_HALF; j++) {
      float a = ch->hf[(hp - st->hf_lag + j + 2 * LIM_HF_RING) % LIM_HF_RING];
      if (a > hm) hm = a;
    }
    double v2 = (double)pk[i] + LIM_HF_ENV * (double)hm;
    double o = merge ? p[i] : 0.0;
    if (!(v2 > o)) v2 = o;
    p[i] = v2;
    if (v2 > m) m = v2;
    if (++hp >= LIM_HF_RING) hp = 0;
  }
  return m;
}

/* The linked sample peak of each frame: max_c |float(x_c g)| equals
 * float(max_c |x_c| g) bit for bit (g > 0, and rounding is monotonic and
 * symmetric), so the channels' magnitudes are merged in float first and
 * converted once.  A NaN sample is passed over (it asks no reduction, as
 * per channel).  Returns the largest peak of the block. */
static double lim_linked_sample_peak(const limiter_state *st, int nch, double *p, int n) {
  const int dlen = st->dmax;
  float amax[MIXSTAGE_CONTROL_FRAMES];
  double m = 0.0;
  int j = st->dpos - st->det_delay;
  if (j < 0) j += dlen;
  for (int i = 0; i < n;) {
    int run = dlen - j < n - i ? dlen - j : n - i;
    int k = 0;
#ifdef __SSE2__
    const __m128 mag = _mm_castsi128_ps(_mm_set1_epi32(0x7fffffff));
    for (; k + 4 <= run; k += 4) {
      __m128 a = _mm_setzero_ps();
      for (int c = 0; c < nch; c++) /* max_ps returns its second operand for a NaN */
        a = _mm_max_ps(_mm_and_ps(_mm_loadu_ps(st->ch[c].delay + j + k), mag), a);
      _mm_storeu_ps(amax + k, a);
    }
#endif
    for (; k < run; k++) {
      float a = 0.0f;
      for (int c = 0; c < nch; c++) {
        float v = fabsf(st->ch[c].delay[j + k]);
        if (v > a) a = v;
      }
      amax[k] = a;
    }
    m = lim_sample_peak(amax, st->gin + j, p + i, run, 0, m);
    i += run;
    j = 0;
  }
  return m;
}

/* max(a, |x[k]|) over k < n, a NaN passed over (as lim_linked_sample_peak
 * does: max_ps returns its second operand for a NaN). */
static float lim_abs_max(const float *x, int n, float a) {
  int k = 0;
#ifdef __SSE2__
  const __m128 mag = _mm_castsi128_ps(_mm_set1_epi32(0x7fffffff));
  __m128 av = _mm_set1_ps(a), aw = av;
  for (; k + 8 <= n; k += 8) {
    av = _mm_max_ps(_mm_and_ps(_mm_loadu_ps(x + k), mag), av);
    aw = _mm_max_ps(_mm_and_ps(_mm_loadu_ps(x + k + 4), mag), aw);
  }
  av = _mm_max_ps(av, aw);
  av = _mm_max_ps(av, _mm_movehl_ps(av, av));
  a = _mm_cvtss_f32(_mm_max_ss(av, _mm_shuffle_ps(av, av, 1)));
#endif
  for (; k < n; k++) {
    const float v = fabsf(x[k]);
    if (v > a) a = v;
  }
  return a;
}

/* max(a, |x|) over the n frames of every channel's delay line from ring
 * position j on. */
static float lim_ring_abs_max(const limiter_state *st, int nch, int j, int n, float a) {
  const int dlen = st->dmax;
  for (int i = 0; i < n;) {
    int run = dlen - j < n - i ? dlen - j : n - i;
    for (int c = 0; c < nch; c++) a = lim_abs_max(st->ch[c].delay + j, run, a);
    i += run;
    j = 0;
  }
  return a;
}

/* Whether a frame may ask for reduction in linked sample-peak mode, given
 * a >= every frame's largest |x| over the channels and g >= every frame's
 * input gain (both positive): 0 proves that none does, so the requirement
 * is all 0 (the peaks themselves are not needed then).  Each peak is
 * float(a_k gin_k) (lim_linked_sample_peak), a_k gin_k <= a g, and rounding
 * is monotonic, so no peak exceeds float(a g). */
static int lim_bound_asks(const limiter_state *st, float a, double g) {
  return (double)(float)((double)a * g) > st->ceil_lin;
}

/* lim_bound_asks for the n frames at the detector's position of a piece
 * already in the delay line. */
static int lim_linked_may_ask(const limiter_state *st, int nch, int n) {
  const int dlen = st->dmax;
  int j = st->dpos - st->det_delay;
  if (j < 0) j += dlen;
  const float a = lim_ring_abs_max(st, nch, j, n, 0.0f);
  double g = st->gi_target;
  if (st->gin_flat < st->det_delay + n) {
    g = 0.0;
    for (int i = 0; i < n; i++) {
      if (st->gin[j] > g) g = st->gin[j];
      if (++j >= dlen) j = 0;
    }
  }
  return lim_bound_asks(st, a, g);
}

/* The float gain of each frame, trace[i] = float(gin[i - D] g[i]); g NULL:
 * g[i] = 1 (float(gin[i - D]) exactly, one value while the ring is steady). */
static void lim_gain_floats(const limiter_state *st, const double *g, float *trace, int n) {
  const int dlen = st->dmax;
  int j = st->dpos - st->la - st->det_delay;
  if (j < 0) j += dlen;
  if (!g) {
    if (st->gin_flat >= st->la + st->det_delay + n) {
      const float f = (float)st->gi_target;
      int i = 0;
#ifdef __SSE2__
      for (const __m128 v = _mm_set1_ps(f); i + 4 <= n; i += 4) _mm_storeu_ps(trace + i, v);
#endif
      for (; i < n; i++) trace[i] = f;
      return;
    }
    for (int i = 0; i < n; i++) {
      trace[i] = (float)st->gin[j];
      if (++j >= dlen) j = 0;
    }
    return;
  }
  for (int i = 0; i < n;) {
    int run = dlen - j < n - i ? dlen - j : n - i;
    const double *gn = st->gin + j;
    int k = 0;
#ifdef __SSE2__
    for (; k + 2 <= run; k += 2) {
      __m128 f = _mm_cvtpd_ps(_mm_mul_pd(_mm_loadu_pd(gn + k), _mm_loadu_pd(g + i + k)));
      _mm_storel_epi64((__m128i *)(void *)(trace + i + k), _mm_castps_si128(f));
    }
#endif
    for (; k < run; k++) trace[i + k] = (float)(gn[k] * g[i + k]);
    i += run;
    j = 0;
  }
}

/* out[i] = delay[c][i - D] * gf[i]: the delayed input times its float gain. */
static void lim_apply(const limiter_state *st, int c, const float *gf, float *out, int n) {
  const int dlen = st->dmax;
  const float *dl = st->ch[c].delay;
  int j = st->dpos - st->la - st->det_delay;
  if (j < 0) j += dlen;
  for (int i = 0; i < n;) {
    int run = dlen - j < n - i ? dlen - j : n - i;
    const float *x = dl + j;
    const float *g = gf + i;
    float *y = out + i;
    int k = 0;
#ifdef __SSE2__
    for (; k + 4 <= run; k += 4) _mm_storeu_ps(y + k, _mm_mul_ps(_mm_loadu_ps(x + k), _mm_loadu_ps(g + k)));
#endif
    for (; k < run; k++) y[k] = x[k] * g[k];
    i += run;
    j = 0;
  }
}

/* out[i] = delay[c][i - D] * f for every channel: lim_apply with one gain. */
static void lim_apply_const(const limiter_state *st, int nch, float f, float *const *out, int n) {
  const int dlen = st->dmax;
  int j = st->dpos - st->la - st->det_delay;
  if (j < 0) j += dlen;
  for (int i = 0; i < n;) {
    int run = dlen - j < n - i ? dlen - j : n - i;
    for (int c = 0; c < nch; c++) {
      const float *x = st->ch[c].delay + j;
      float *y = out[c] + i;
      int k = 0;
#ifdef __SSE2__
      for (const __m128 fv = _mm_set1_ps(f); k + 4 <= run; k += 4)
        _mm_storeu_ps(y + k, _mm_mul_ps(_mm_loadu_ps(x + k), fv));
#endif
      for (; k < run; k++) y[k] = x[k] * f;
    }
    i += run;
    j = 0;
  }
}

/* The general path of a piece already in the delay line: peaks,
 * requirements, the gain chain(s), the float gains (trace rows) and the
 * output.  Returns the last frame's gain of the most reduced channel. */
static double lim_detect_and_reduce(limiter_state *st, float *const *buf, int nch, int nframes, const double *gi,
                                    int linked, int one) {
  float xin[MIXSTAGE_CONTROL_FRAMES];
  float pk[MIXSTAGE_CONTROL_FRAMES];
  double p[MIXSTAGE_CONTROL_FRAMES], worst[MIXSTAGE_CONTROL_FRAMES];
  double req[MIXSTAGE_MAX_CHANNELS][MIXSTAGE_CONTROL_FRAMES];
  double pch[MIXSTAGE_MAX_CHANNELS][MIXSTAGE_CONTROL_FRAMES];
  double g[MIXSTAGE_CONTROL_FRAMES];
  /* Peaks.  The linked requirement is that of the loudest channel's peak;
   * below 100 % link each channel's own is blended with it. */
  double pmax = 0.0;
  if (linked && !st->true_peak) pmax = lim_linked_sample_peak(st, nch, p, nframes);
  for (int c = 0; c < nch && !(linked && !st->true_peak); c++) {
    if (st->true_peak) {
      for (int i = 0; i < nframes; i++) xin[i] = (float)(buf[c][i] * gi[i]);
      mixstage__tp_process_channel(&st->tp, c, xin, nframes, pk);
    }
    if (linked) {
      pmax = lim_detect(st, c, xin, pk, p, nframes, c > 0, pmax);
    } else {
      double m = lim_detect(st, c, xin, pk, pch[c], nframes, 0, 0.0);
      lim_requirement(st, pch[c], m, req[c], nframes);
      if (m > pmax) pmax = m;
      if (c == 0) memcpy(p, pch[0], sizeof(double) * (size_t)nframes);
      for (int i = 0; i < nframes && c > 0; i++)
        if (pch[c][i] > p[i]) p[i] = pch[c][i];
    }
  }
  const int asks = lim_requirement(st, p, pmax, worst, nframes);

  double gmin = 1.0;
  if (one) {
    lim_gain_chain(st, &st->ch[0], worst, asks, g, nframes, st->t, st->b1pos, st->b2pos);
    lim_gain_floats(st, g, st->trace[0], nframes);
    for (int c = 0; c < nch; c++) lim_apply(st, c, st->trace[0], buf[c], nframes);
    if (nframes > 0) gmin = g[nframes - 1];
  } else {
    for (int c = 0; c < nch; c++) {
      double *r = req[c];
      if (linked) r = worst;
      else
        for (int i = 0; i < nframes; i++) r[i] = st->link * worst[i] + (1.0 - st->link) * r[i];
      lim_gain_chain(st, &st->ch[c], r, 1, g, nframes, st->t, st->b1pos, st->b2pos);
      lim_gain_floats(st, g, st->trace[c], nframes);
      lim_apply(st, c, st->trace[c], buf[c], nframes);
      if (nframes > 0 && g[nframes - 1] < gmin) gmin = g[nframes - 1];
    }
  }
  return gmin;
}

/* One control cell's worth at most (the stack buffers' and the trace's
 * size). */
static void limiter_piece(limiter_state *st, float *const *buf, int nch, int nframes) {
  double gi[MIXSTAGE_CONTROL_FRAMES];
  const int dlen = st->dmax;
  if (nframes > MIXSTAGE_CONTROL_FRAMES) nframes = MIXSTAGE_CONTROL_FRAMES; /* limiter_process's pieces */
  if (nframes < 0) nframes = 0;
  /* link = 1 gives every channel the requirement worst exactly (1 w + 0 r) */
  int linked = st->link >= 1.0 || nch == 1;
  if (!linked && st->joined && nframes > 0) {
    chain_split(st, nch);
    st->joined = 0;
  }
  int one = linked && st->joined; /* one chain, one gain, one trace row */

  /* Input gain (ramped across the control cell); the array only while it
   * ramps or for the true-peak detector's input. */
  const int ramping = st->cell_pos + 1 < MIXSTAGE_CONTROL_FRAMES;
  if (!ramping && st->true_peak) {
    for (int i = 0; i < nframes; i++) gi[i] = st->gi_target;
  } else if (ramping) {
    for (int i = 0; i < nframes; i++) {
      int k = st->cell_pos + i + 1;
      gi[i] = k >= MIXSTAGE_CONTROL_FRAMES ? st->gi_target
                                           : st->gi_prev + (st->gi_target - st->gi_prev) * k /
                                                               (double)MIXSTAGE_CONTROL_FRAMES;
    }
  }
  if (st->true_peak && !st->tp_live) tp_prime(st, nch);
  if (!st->true_peak) st->tp_live = 0;

  /* The block goes into the delay line first (it holds at least
   * nframes + latency frames, so nothing still to be read is overwritten);
   * the detector and the output then read it back at their delays.  A gain
   * ring already full of the steady input gain needs no writing. */
  const int gin_write = ramping || st->gin_flat < dlen;
  for (int i = 0, j = st->dpos; i < nframes;) {
    int run = dlen - j < nframes - i ? dlen - j : nframes - i;
    for (int c = 0; c < nch; c++) memcpy(st->ch[c].delay + j, buf[c] + i, sizeof(float) * (size_t)run);
    if (ramping) memcpy(st->gin + j, gi + i, sizeof(double) * (size_t)run);
    else if (gin_write)
      for (int k = 0; k < run; k++) st->gin[j + k] = st->gi_target;
    i += run;
    j = 0;
  }
  if (gin_write) {
    int tail = nframes;
    if (ramping) {
      tail = 0;
      while (tail < nframes && gi[nframes - 1 - tail] == st->gi_target) tail++;
    }
    st->gin_flat = tail < nframes ? tail : st->gin_flat + nframes < dlen ? st->gin_flat + nframes : dlen;
  }

  double gmin = 1.0;
  if (lim_shortcut && one && !st->true_peak && nframes > 0 && lim_chain_at_rest(st, &st->ch[0]) &&
      !lim_linked_may_ask(st, nch, nframes)) {
    /* At rest, and no frame's sample peak can reach the ceiling: the
     * per-frame path's chain state and gains (exactly 1), directly. */
    lim_chain_hold(&st->ch[0], st->t, nframes);
    lim_gain_floats(st, NULL, st->trace[0], nframes);
    if (st->gin_flat >= st->la + st->det_delay + nframes) /* the trace is one value */
      lim_apply_const(st, nch, st->trace[0][0], buf, nframes);
    else
      for (int c = 0; c < nch; c++) lim_apply(st, c, st->trace[0], buf[c], nframes);
  } else {
    gmin = lim_detect_and_reduce(st, buf, nch, nframes, gi, linked, one);
  }

  if (nframes > 0) st->gr_gain = gmin;
  st->t += nframes;
  st->hf_pos = (st->hf_pos + nframes) % LIM_HF_RING;
  st->dpos = (st->dpos + nframes) % dlen;
  st->b1pos = (st->b1pos + nframes) % st->w1;
  st->b2pos = (st->b2pos + nframes) % st->w2;
  st->trace_n = nframes;
  st->trace_nch = nch;
  st->trace_rows = one ? 1 : nch;
  if (linked && !st->joined && chains_equal(st, nch)) st->joined = 1;
  st->cell_pos += nframes;
  if (st->cell_pos > MIXSTAGE_CONTROL_FRAMES) st->cell_pos = MIXSTAGE_CONTROL_FRAMES;
}

/* Any number of frames, a control cell's worth at a time: delay line,
 * detector, deque, box filters and release are sample-sequential, so the
 * split does not change a bit.  gain_trace covers the last piece only, so
 * it answers 0 for a longer call (the engine asks for traces only of
 * single cells). */
static void limiter_process(void *s, float *const *buf, int nch, int nframes,
                            const float *const *key, int key_nch) {
  (void)key;
  (void)key_nch;
  if (nframes <= MIXSTAGE_CONTROL_FRAMES) { /* one piece: the engine's usual call */
    if (nframes > 0) limiter_piece(s, buf, nch, nframes);
    return;
  }
  float *piece[MIXSTAGE_MAX_CHANNELS];
  for (int done = 0; done < nframes; done += MIXSTAGE_CONTROL_FRAMES) {
    const int n = nframes - done < MIXSTAGE_CONTROL_FRAMES ? nframes - done : MIXSTAGE_CONTROL_FRAMES;
    for (int c = 0; c < nch; c++) piece[c] = buf[c] + done;
    limiter_piece(s, piece, nch, n);
  }
}

static int limiter_gain_trace(const void *s, float *const *g, int nch, int n) {
  const limiter_state *st = s;
  if (n < 0 || n > st->trace_n || nch > st->trace_nch) return 0;
  for (int c = 0; c < nch; c++)
    memcpy(g[c], st->trace[st->trace_rows == 1 ? 0 : c], sizeof(float) * (size_t)n);
  return 1;
}

static int limiter_latency(const void *s) {
  const limiter_state *st = s;
  return st->la + st->det_delay;
}

static int64_t limiter_tail(const void *s) {
  const limiter_state *st = s;
  return st->la + st->det_delay;
}

static float limiter_gain_reduction(const void *s) {
  const limiter_state *st = s;
  return (float)-mixstage__gain_to_db(st->gr_gain);
}

const mixstage__node_class mixstage__limiter_class = {
    .name = "limiter",
    .description = "Lookahead brickwall limiter with a true-peak (4x) ceiling",
    .params = limiter_params,
    .num_params = P_COUNT,
    .accepts_key = 0,
    .state_size = sizeof(limiter_state),
    .init = limiter_init,
    .fini = limiter_fini,
    .reset = limiter_reset,
    .update = limiter_update,
    .process = limiter_process,
    .latency = limiter_latency,
    .tail = limiter_tail,
    .gain_reduction = limiter_gain_reduction,
    .gain_trace = limiter_gain_trace,
    .max_frames = 8 * MIXSTAGE_CONTROL_FRAMES, /* a block, a cell's worth at a time */
};
