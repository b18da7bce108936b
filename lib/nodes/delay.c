/* "delay": mono, stereo and ping-pong echo with filtered feedback, tempo
 * sync and optional modulation.
 *
 * Each delay line is written with
 *     line <- F(input + feedback x line output)
 * where F is a 12 dB/oct high-pass then a 12 dB/oct low-pass (RBJ cookbook
 * Butterworth sections, Q = 1/sqrt(2), double precision).  The filters are
 * inside the loop and before the first echo, so echo n has passed through F
 * n times: each repeat is darker and thinner than the last, as on a tape or
 * analogue delay.  At the ends of their ranges (hpf = 20 Hz, lpf =
 * 20 kHz) the filters are switched off, so "wide open" is exactly
 * transparent and echo n of an impulse is exactly feedback^(n-1).
 *
 * Modes (buffers are planar, nch = 1 .. 16):
 *   mono      the input is summed to mono (mean of all channels), one line
 *             at the left time; every output channel gets the same echo.
 *   stereo    one line per channel, fed by that channel: even channels
 *             (0 = left, 2, 4, ...) use the left time, odd channels the
 *             right time.
 *   pingpong  channels pair up (0,1), (2,3), ...: the mean of a pair's input
 *             enters the even channel's line; its output crosses to the odd
 *             channel's line and back, each leg at the left time and scaled
 *             by feedback, so echoes alternate even, odd, even, ...  With an
 *             odd channel count the last channel echoes on its own (as
 *             stereo mode).  time_right_ms / note_right are not used.
 *
 * Times: a time in ms, or (sync = 1) a note value at the graph's tempo
 * (env->tempo_bpm; 120 if unset), where a quarter note is one beat:
 * dotted = 1.5x, triplet = 2/3x.  Synced times are clamped to 1 .. 4000 ms.
 * The delay in frames is round(time x fs), rounded to the nearest frame (an
 * echo is then within half a frame of the exact time and exactly on a frame
 * whenever time x fs is an integer: at 120 BPM and 48 kHz a 1/4 is 24000
 * frames, a 1/8 dotted 18000 and a 1/16 triplet 4000).  With mod_depth = 0
 * the echo is read without interpolation, so echoes are exact copies.
 *
 * Time changes glide (a linear ramp of the read point over 100 ms, heard as
 * a short pitch bend, like moving a tape head) instead of clicking.  The
 * modulation moves the read point by mod_depth x sin(2 pi mod_rate t), read
 * with third-order Lagrange interpolation; channels take the LFO in
 * quadrature (0, 90, 180, 270 degrees for channels 0, 1, 2, 3, ...) so a
 * stereo delay widens instead of wobbling in pitch as one.
 *
 * Parameters (id: name, unit, range, default):
 *   0 mode           enum  mono|stereo|pingpong      stereo
 *   1 sync           bool  0 .. 1                    0
 *   2 time_ms        ms    1 .. 4000                 375
 *   3 time_right_ms  ms    1 .. 4000                 500 (stereo, odd channels)
 *   4 note           enum  1/1 .. 1/32 (14 values)   1/4
 *   5 note_right     enum  as note                   1/8d
 *   6 feedback       %     0 .. 98                   35
 *   7 hpf            Hz    20 .. 2000 (20 = off)     80
 *   8 lpf            Hz    1000 .. 20000 (20k = off) 6000
 *   9 mod_depth      ms    0 .. 10                   0
 *  10 mod_rate       Hz    0.05 .. 10                0.5
 *  11 mix            %     0 .. 100 (linear)         100
 * Memory: one line of 4.01 s per channel, allocated in init.
 */
#include <math.h>
#include <string.h>
#include "../node.h"
#include "../dsp/biquad.h"
#include "../dsp/cpu.h"

enum {
  P_MODE,
  P_SYNC,
  P_TIME,
  P_TIME_R,
  P_NOTE,
  P_NOTE_R,
  P_FEEDBACK,
  P_HPF,
  P_LPF,
  P_MOD_DEPTH,
  P_MOD_RATE,
  P_MIX,
  P_COUNT
};

enum { MODE_MONO, MODE_STEREO, MODE_PINGPONG };

#define DLY_NOTES "1/1|1/2|1/2d|1/2t|1/4|1/4d|1/4t|1/8|1/8d|1/8t|1/16|1/16d|1/16t|1/32"
/* Length of each note value in beats (quarter notes), in the order above. */
static const double dly_note_beats[] = {4.0,  2.0,       3.0,       4.0 / 3.0, 1.0,
                                        1.5,  2.0 / 3.0, 0.5,       0.75,      1.0 / 3.0,
                                        0.25, 0.375,     1.0 / 6.0, 0.125};
#define DLY_NUM_NOTES ((int)(sizeof dly_note_beats / sizeof dly_note_beats[0]))

static const mixstage_param_info delay_params[P_COUNT] = {
    {P_MODE, "mode", "Mode", MIXSTAGE_UNIT_ENUM, 0.0, 2.0, 1.0, 0, "mono|stereo|pingpong"},
    {P_SYNC, "sync", "Tempo sync", MIXSTAGE_UNIT_BOOL, 0.0, 1.0, 0.0, 0, NULL},
    {P_TIME, "time_ms", "Time", MIXSTAGE_UNIT_MS, 1.0, 4000.0, 375.0, 1, NULL},
    {P_TIME_R, "time_right_ms", "Time (right)", MIXSTAGE_UNIT_MS, 1.0, 4000.0, 500.0, 1, NULL},
    {P_NOTE, "note", "Note value", MIXSTAGE_UNIT_ENUM, 0.0, DLY_NUM_NOTES - 1, 4.0, 0, DLY_NOTES},
    {P_NOTE_R, "note_right", "Note value (right)", MIXSTAGE_UNIT_ENUM, 0.0, DLY_NUM_NOTES - 1, 8.0,
     0, DLY_NOTES},
    {P_FEEDBACK, "feedback", "Feedback", MIXSTAGE_UNIT_PERCENT, 0.0, 98.0, 35.0, 1, NULL},
    {P_HPF, "hpf", "Feedback high-pass", MIXSTAGE_UNIT_HZ, 20.0, 2000.0, 80.0, 1, NULL},
    {P_LPF, "lpf", "Feedback low-pass", MIXSTAGE_UNIT_HZ, 1000.0, 20000.0, 6000.0, 1, NULL},
    {P_MOD_DEPTH, "mod_depth", "Modulation depth", MIXSTAGE_UNIT_MS, 0.0, 10.0, 0.0, 1, NULL},
    {P_MOD_RATE, "mod_rate", "Modulation rate", MIXSTAGE_UNIT_HZ, 0.05, 10.0, 0.5, 1, NULL},
    {P_MIX, "mix", "Dry/wet", MIXSTAGE_UNIT_PERCENT, 0.0, 100.0, 100.0, 1, NULL},
};

#define DLY_PI 3.14159265358979323846
#define DLY_MAX_MS 4000.0
#define DLY_MOD_MAX_MS 10.0
#define DLY_GLIDE_S 0.1
/* Echoes are rendered in full down to -90 dB, but never for more than a
 * minute: at 98 % feedback and 4 s that would be half an hour. */
#define DLY_TAIL_CAP_S 60.0
#define DLY_FLUSH 1e-20f

typedef struct ramp {
  float prev, target;
} ramp;

typedef struct delay_line {
  float *buf;
  double cur;  /* read delay in frames, gliding towards target */
  double step; /* glide increment per frame (> 0 while gliding) */
  int target;  /* delay in frames */
} delay_line;

/* Feedback filters of every line as lanes (biquad.h): section 0 the
 * high-pass, 1 the low-pass. */
#define DLY_STRIDE MIXSTAGE__LANE_PAD(MIXSTAGE_MAX_CHANNELS)

typedef struct delay_state {
  double fs, tempo;
  int nch, len; /* frames per line buffer */
  float *mem;
  delay_line line[MIXSTAGE_MAX_CHANNELS];
  int wp;
  int mode;
  mixstage__biquad hp, lp;
  int hp_on, lp_on;
  double bank[2][MIXSTAGE__BQL_ROWS * DLY_STRIDE];
  double *act[2]; /* the sections switched on, in order */
  int nact;
  int phase; /* frames since reset, mod MIXSTAGE_CONTROL_FRAMES: flush points */
  /* The LFO: lfo_c/lfo_s is its phasor at flush phase lfo_base of the
   * current cell; phase p reads it times e^{i (p - lfo_base) w}, from tables
   * of those powers.  The phasor moves on once per cell (and when the rate
   * changes), on the grid counted from reset, so the LFO depends only on the
   * frame's position, and costs nothing per frame while the depth is 0. */
  double lfo_c, lfo_s, lfo_w;
  int lfo_base;
  double lfo_pc[MIXSTAGE_CONTROL_FRAMES + 1], lfo_ps[MIXSTAGE_CONTROL_FRAMES + 1];
  ramp fb, dry, wet, depth; /* depth in frames */
  int cell_pos;
  int primed;
  int avx; /* the CPU has AVX: the block loops' eight-float forms, a stereo line pair's
            * filters on mixstage__biquad_pair_process */
  int64_t tail;
} delay_state;

static float ramp_at(const ramp *r, int k) {
  return k >= MIXSTAGE_CONTROL_FRAMES
             ? r->target
             : r->prev + (r->target - r->prev) * (float)k / (float)MIXSTAGE_CONTROL_FRAMES;
}

static void ramp_set(ramp *r, int cell_pos, float v) {
  r->prev = ramp_at(r, cell_pos);
  r->target = v;
}

static int delay_init(void *s, const mixstage__node_env *env) {
  delay_state *st = s;
  memset(st, 0, sizeof *st);
  st->fs = env->sample_rate > 0.0 ? env->sample_rate : 48000.0;
  st->tempo = env->tempo_bpm > 0.0 ? env->tempo_bpm : 120.0;
  st->nch = env->channels;
  /* Longest delay plus the deepest modulation, plus the cubic's extra tap
   * and rounding. */
  st->len = (int)ceil((DLY_MAX_MS + DLY_MOD_MAX_MS) * st->fs / 1000.0) + 8;
  st->mem = mixstage__calloc(env->alloc, (size_t)st->len * (size_t)st->nch, sizeof(float));
  if (!st->mem) return MIXSTAGE_ENOMEM;
  for (int c = 0; c < st->nch; c++) st->line[c].buf = st->mem + (size_t)c * (size_t)st->len;
  st->cell_pos = MIXSTAGE_CONTROL_FRAMES;
  st->lfo_c = 1.0;
  st->lfo_w = -1.0; /* no rate yet: the first update builds the tables */
  st->avx = mixstage__cpu_avx();
  return MIXSTAGE_OK;
}

static void delay_fini(void *s, const mixstage__node_env *env) {
  delay_state *st = s;
  mixstage__free(env->alloc, st->mem);
  st->mem = NULL;
}

static void delay_reset(void *s) {
  delay_state *st = s;
  memset(st->mem, 0, (size_t)st->len * (size_t)st->nch * sizeof(float));
  st->wp = 0;
  for (int c = 0; c < st->nch; c++) {
    delay_line *l = &st->line[c];
    l->cur = l->target;
    l->step = 0.0;
  }
  mixstage__biquad_lanes_clear(st->bank[0], DLY_STRIDE);
  mixstage__biquad_lanes_clear(st->bank[1], DLY_STRIDE);
  st->phase = 0;
  st->lfo_c = 1.0;
  st->lfo_s = 0.0;
  st->lfo_base = 0;
  st->fb.prev = st->fb.target;
  st->dry.prev = st->dry.target;
  st->wet.prev = st->wet.target;
  st->depth.prev = st->depth.target;
  st->cell_pos = MIXSTAGE_CONTROL_FRAMES;
}

/* Moves the LFO's phasor on by k frames (k <= MIXSTAGE_CONTROL_FRAMES); one
 * Newton step keeps |phasor| = 1. */
static void lfo_advance(delay_state *st, int k) {
  double cn = st->lfo_c * st->lfo_pc[k] - st->lfo_s * st->lfo_ps[k];
  double sn = st->lfo_s * st->lfo_pc[k] + st->lfo_c * st->lfo_ps[k];
  double rn = 1.5 - 0.5 * (cn * cn + sn * sn);
  st->lfo_c = cn * rn;
  st->lfo_s = sn * rn;
}

/* Powers e^{i k w}, k = 0 .. MIXSTAGE_CONTROL_FRAMES, by complex
 * multiplication in double, each renormalised. */
static void lfo_tables(delay_state *st, double w) {
  const double cw = cos(w), sw = sin(w);
  double c = 1.0, sn = 0.0;
  st->lfo_w = w;
  for (int k = 0; k <= MIXSTAGE_CONTROL_FRAMES; k++) {
    st->lfo_pc[k] = c;
    st->lfo_ps[k] = sn;
    double cn = c * cw - sn * sw, snn = sn * cw + c * sw;
    double r = 1.5 - 0.5 * (cn * cn + snn * snn);
    c = cn * r;
    sn = snn * r;
  }
}

static double time_ms(const delay_state *st, const double *p, int right) {
  if (p[P_SYNC] >= 0.5) {
    int n = (int)lround(p[right ? P_NOTE_R : P_NOTE]);
    if (n < 0) n = 0;
    if (n >= DLY_NUM_NOTES) n = DLY_NUM_NOTES - 1;
    double ms = dly_note_beats[n] * 60000.0 / st->tempo;
    return ms < 1.0 ? 1.0 : ms > DLY_MAX_MS ? DLY_MAX_MS : ms;
  }
  return p[right ? P_TIME_R : P_TIME];
}

static void delay_update(void *s, const double *praw) {
  /* Defensive: the engine validates values, but an out-of-range or NaN
   * value must never reach the buffers' bounds or the loop gain. */
  double p[P_COUNT];
  for (int i = 0; i < P_COUNT; i++) {
    double v = praw[i];
    const mixstage_param_info *pi = &delay_params[i];
    p[i] = v != v ? pi->def : v < pi->min ? pi->min : v > pi->max ? pi->max : v;
  }
  delay_state *st = s;
  const double fs = st->fs;
  int mode = (int)lround(p[P_MODE]);
  st->mode = mode < MODE_MONO ? MODE_MONO : mode > MODE_PINGPONG ? MODE_PINGPONG : mode;

  int max_frames = (int)lround(DLY_MAX_MS * fs / 1000.0);
  int tl = (int)lround(time_ms(st, p, 0) * fs / 1000.0);
  int tr = (int)lround(time_ms(st, p, 1) * fs / 1000.0);
  tl = tl < 1 ? 1 : tl > max_frames ? max_frames : tl;
  tr = tr < 1 ? 1 : tr > max_frames ? max_frames : tr;
  int tmax = 0;
  for (int c = 0; c < st->nch; c++) {
    delay_line *l = &st->line[c];
    int t = (st->mode == MODE_STEREO && (c & 1)) ? tr : tl;
    if (!st->primed) {
      l->cur = t;
      l->step = 0.0;
    } else if (t != l->target) {
      l->step = fabs((double)t - l->cur) / (DLY_GLIDE_S * fs);
    }
    l->target = t;
    if (t > tmax) tmax = t;
  }

  st->hp_on = p[P_HPF] > delay_params[P_HPF].min;
  st->lp_on = p[P_LPF] < delay_params[P_LPF].max;
  if (st->hp_on)
    mixstage__biquad_highpass(&st->hp, p[P_HPF], MIXSTAGE__Q_BUTTERWORTH, fs);
  else
    mixstage__biquad_identity(&st->hp);
  if (st->lp_on)
    mixstage__biquad_lowpass(&st->lp, p[P_LPF], MIXSTAGE__Q_BUTTERWORTH, fs);
  else
    mixstage__biquad_identity(&st->lp);
  for (int c = 0; c < st->nch; c++) {
    mixstage__biquad_lanes_set(st->bank[0], DLY_STRIDE, c, &st->hp);
    mixstage__biquad_lanes_set(st->bank[1], DLY_STRIDE, c, &st->lp);
  }
  st->nact = 0;
  if (st->hp_on) st->act[st->nact++] = st->bank[0];
  if (st->lp_on) st->act[st->nact++] = st->bank[1];

  double w = 2.0 * DLY_PI * p[P_MOD_RATE] / fs;
  if (w != st->lfo_w) {
    /* the new rate runs from this frame: rebase the phasor here */
    if (st->lfo_w >= 0.0) lfo_advance(st, st->phase - st->lfo_base);
    st->lfo_base = st->phase;
    lfo_tables(st, w);
  }

  double fb = p[P_FEEDBACK] / 100.0, m = p[P_MIX] / 100.0;
  double depth = p[P_MOD_DEPTH] * fs / 1000.0;
  ramp_set(&st->fb, st->cell_pos, (float)fb);
  ramp_set(&st->dry, st->cell_pos, (float)(1.0 - m));
  ramp_set(&st->wet, st->cell_pos, (float)m);
  ramp_set(&st->depth, st->cell_pos, (float)depth);
  if (st->primed) {
    st->cell_pos = 0;
  } else {
    st->fb.prev = st->fb.target;
    st->dry.prev = st->dry.target;
    st->wet.prev = st->wet.target;
    st->depth.prev = st->depth.target;
    st->primed = 1;
  }

  /* Echo n (n >= 1) peaks at most at fb^(n-1) (the filters never gain),
   * so the last echo above -90 dB is n = 1 + floor(4.5 / -log10(fb)).  The
   * tail runs to that echo, plus the modulation depth and 0.2 s for the
   * filters' own ring-out. */
  double echoes = fb > 0.0 ? 1.0 + floor(4.5 / -log10(fb)) : 1.0;
  double frames = echoes * (tmax + depth) + 0.2 * fs;
  double cap = DLY_TAIL_CAP_S * fs;
  st->tail = (int64_t)ceil(frames < cap ? frames : cap);
}

/* Reads line l at a delay of d frames (1 <= d <= len - 3); exact when d is
 * an integer. */
static inline float read_line(const delay_state *st, const delay_line *l, double d) {
  const int len = st->len;
  int n = (int)d;
  double f = d - (double)n;
  int i0 = st->wp - n;
  if (i0 < 0) i0 += len;
  if (f == 0.0) return l->buf[i0];
  int im1 = i0 + 1 == len ? 0 : i0 + 1; /* delay n - 1 */
  int i1 = i0 == 0 ? len - 1 : i0 - 1;  /* delay n + 1 */
  /* Too close to the write point for the cubic: linear. */
  if (n < 2) return (float)((1.0 - f) * l->buf[i0] + f * l->buf[i1]);
  int i2 = i1 == 0 ? len - 1 : i1 - 1;
  /* Third-order Lagrange, taps at delays n-1 .. n+2, D = 1 + f from the
   * first: the passive (|H| <= 1) central interval. */
  double D = 1.0 + f;
  double h0 = -(D - 1.0) * (D - 2.0) * (D - 3.0) / 6.0;
  double h1 = D * (D - 2.0) * (D - 3.0) * 0.5;
  double h2 = -D * (D - 1.0) * (D - 3.0) * 0.5;
  double h3 = D * (D - 1.0) * (D - 2.0) / 6.0;
  return (float)(h0 * l->buf[im1] + h1 * l->buf[i0] + h2 * l->buf[i1] + h3 * l->buf[i2]);
}

static inline float flush_small(float y) { return (y < DLY_FLUSH && y > -DLY_FLUSH) ? 0.0f : y; }

/* Block loops of delay_block, four floats per vector where the compiler has
 * vector types; each element gets the scalar loop's operations (products
 * rounded, then sums: no contraction), so the bits are the same. */
#if defined(__GNUC__) || defined(__clang__)
#define DLY_VEC 1
typedef float dly_v4 __attribute__((vector_size(16)));
typedef int32_t dly_v4i __attribute__((vector_size(16)));
static inline dly_v4 dly_ld(const float *p) {
  dly_v4 v;
  memcpy(&v, p, sizeof v);
  return v;
}
static inline void dly_st(float *p, dly_v4 v) { memcpy(p, &v, sizeof v); }
#else
#define DLY_VEC 0
#endif

/* y[t] = a[t] + g[t] r[t] */
static void blk_feed(float *y, const float *a, const float *g, const float *r, int n) {
  int t = 0;
#if DLY_VEC
  for (; t + 4 <= n; t += 4) dly_st(y + t, dly_ld(a + t) + dly_ld(g + t) * dly_ld(r + t));
#endif
  for (; t < n; t++) y[t] = a[t] + g[t] * r[t];
}

/* y[t] = a[t] + g r[t] (a gain at rest) */
static void blk_feed_c(float *y, const float *a, float g, const float *r, int n) {
  int t = 0;
#if DLY_VEC
  const dly_v4 gv = {g, g, g, g};
  for (; t + 4 <= n; t += 4) dly_st(y + t, dly_ld(a + t) + gv * dly_ld(r + t));
#endif
  for (; t < n; t++) y[t] = a[t] + g * r[t];
}

/* d[t] = flush_small(w[t]) */
static void blk_store_flushed(float *d, const float *w, int n) {
  int t = 0;
#if DLY_VEC
  const dly_v4 lim = {DLY_FLUSH, DLY_FLUSH, DLY_FLUSH, DLY_FLUSH};
  for (; t + 4 <= n; t += 4) {
    dly_v4 y = dly_ld(w + t);
    dly_v4i small = (y < lim) & (y > -lim);
    dly_st(d + t, (dly_v4)((dly_v4i)y & ~small));
  }
#endif
  for (; t < n; t++) d[t] = flush_small(w[t]);
}

/* x[t] = gd[t] x[t] + gw[t] r[t] */
static void blk_mix(float *x, const float *gd, const float *gw, const float *r, int n) {
  int t = 0;
#if DLY_VEC
  for (; t + 4 <= n; t += 4) dly_st(x + t, dly_ld(gd + t) * dly_ld(x + t) + dly_ld(gw + t) * dly_ld(r + t));
#endif
  for (; t < n; t++) x[t] = gd[t] * x[t] + gw[t] * r[t];
}

/* x[t] = gd x[t] + gw r[t] (gains at rest) */
static void blk_mix_c(float *x, float gd, float gw, const float *r, int n) {
  int t = 0;
#if DLY_VEC
  const dly_v4 dv = {gd, gd, gd, gd}, wv = {gw, gw, gw, gw};
  for (; t + 4 <= n; t += 4) dly_st(x + t, dv * dly_ld(x + t) + wv * dly_ld(r + t));
#endif
  for (; t < n; t++) x[t] = gd * x[t] + gw * r[t];
}

#if DLY_VEC && (defined(__x86_64__) || defined(__i386__))
/* The settled block loops (gains at rest) eight floats per vector where the
 * CPU has AVX: blk_feed_c, blk_mix_c and blk_store_flushed's operations
 * per element (products rounded, then sums), so the same bits. */
#define DLY_AVX 1
#define DLY_AVX_TARGET __attribute__((target("avx")))
typedef float dly_v8 __attribute__((vector_size(32)));
typedef int32_t dly_v8i __attribute__((vector_size(32)));
static inline DLY_AVX_TARGET dly_v8 dly_ld8(const float *p) {
  dly_v8 v;
  memcpy(&v, p, sizeof v);
  return v;
}
static inline DLY_AVX_TARGET void dly_st8(float *p, dly_v8 v) { memcpy(p, &v, sizeof v); }

static DLY_AVX_TARGET void blk_feed_c_avx(float *y, const float *a, float g, const float *r, int n) {
  int t = 0;
  const dly_v8 gv = {g, g, g, g, g, g, g, g};
  for (; t + 8 <= n; t += 8) dly_st8(y + t, dly_ld8(a + t) + gv * dly_ld8(r + t));
  for (; t < n; t++) y[t] = a[t] + g * r[t];
}

static DLY_AVX_TARGET void blk_mix_c_avx(float *x, float gd, float gw, const float *r, int n) {
  int t = 0;
  const dly_v8 dv = {gd, gd, gd, gd, gd, gd, gd, gd}, wv = {gw, gw, gw, gw, gw, gw, gw, gw};
  for (; t + 8 <= n; t += 8) dly_st8(x + t, dv * dly_ld8(x + t) + wv * dly_ld8(r + t));
  for (; t < n; t++) x[t] = gd * x[t] + gw * r[t];
}

static DLY_AVX_TARGET void blk_store_flushed_avx(float *d, const float *w, int n) {
  int t = 0;
  const dly_v8 lim = {DLY_FLUSH, DLY_FLUSH, DLY_FLUSH, DLY_FLUSH, DLY_FLUSH, DLY_FLUSH, DLY_FLUSH, DLY_FLUSH};
  for (; t + 8 <= n; t += 8) {
    dly_v8 y = dly_ld8(w + t);
    dly_v8i small = (y < lim) & (y > -lim);
    dly_st8(d + t, (dly_v8)((dly_v8i)y & ~small));
  }
  for (; t < n; t++) d[t] = flush_small(w[t]);
}
#else
#define DLY_AVX 0
#endif

/* Line c's feedback filters, one sample: the lane kernel's arithmetic. */
static inline float filt(delay_state *st, int c, float x) {
  return flush_small((float)mixstage__biquad_lanes_tick(st->act, st->nact, DLY_STRIDE, c, x));
}

/* Advances the flush timeline by n frames (n never crosses a flush point):
 * filter memory below MIXSTAGE__BQL_FLUSH is zeroed every
 * MIXSTAGE_CONTROL_FRAMES frames from reset, whatever the block split
 * (already done by the filter kernel when `flushed`). */
static inline void advance_phase_flushed(delay_state *st, int n, int flushed) {
  st->phase += n;
  if (st->phase == MIXSTAGE_CONTROL_FRAMES) {
    st->phase = 0;
    if (!flushed) mixstage__biquad_lanes_flush(st->act, st->nact, DLY_STRIDE);
    lfo_advance(st, MIXSTAGE_CONTROL_FRAMES - st->lfo_base);
    st->lfo_base = 0;
  }
}

static inline void advance_phase(delay_state *st, int n) { advance_phase_flushed(st, n, 0); }

/* Frames delay_block takes at once: the class's max_frames. */
#define DLY_BLOCK (8 * MIXSTAGE_CONTROL_FRAMES)

/* The common case as block operations: no modulation, no glide, mono or
 * stereo mode, every delay at least the block (so no read falls in the
 * block being written; the buffer's 10 ms of slack past the longest delay
 * keeps the block's writes off its reads).  The reads stay in the line,
 * taken in runs split at its end; the writes are split likewise; the
 * filters run as one lane kernel call per flush interval (the flush fused
 * at each flush point).  Every sample gets exactly the arithmetic of the
 * per-sample loop.  Returns 0 (nothing done) when the case does not
 * apply. */
static int delay_block(delay_state *st, float *const *buf, int nch, int n) {
  if (st->mode == MODE_PINGPONG || st->depth.prev != 0.0f || st->depth.target != 0.0f || n > DLY_BLOCK)
    return 0;
  const int nlines = st->mode == MODE_MONO ? 1 : nch, len = st->len;
  for (int c = 0; c < nlines; c++)
    if (st->line[c].step > 0.0 || st->line[c].target < n) return 0;

  /* Gains per frame while a ramp runs; constants at rest (ramp_at's
   * targets, the same values). */
  const int at_rest = st->cell_pos >= MIXSTAGE_CONTROL_FRAMES;
  float fb[DLY_BLOCK], g_dry[DLY_BLOCK], g_wet[DLY_BLOCK];
  if (!at_rest)
    for (int t = 0; t < n; t++) {
      int k = st->cell_pos + t + 1;
      fb[t] = ramp_at(&st->fb, k);
      g_dry[t] = ramp_at(&st->dry, k);
      g_wet[t] = ramp_at(&st->wet, k);
    }
  /* Each line's reads: r0 for frames 0 .. n1 - 1, then from the line's start. */
  const float *r0[MIXSTAGE_MAX_CHANNELS];
  int rn1[MIXSTAGE_MAX_CHANNELS];
  for (int c = 0; c < nlines; c++) {
    int i0 = st->wp - st->line[c].target;
    if (i0 < 0) i0 += len;
    r0[c] = st->line[c].buf + i0;
    rn1[c] = len - i0 < n ? len - i0 : n;
  }
  float w[MIXSTAGE_MAX_CHANNELS][DLY_BLOCK];
  float *wp[MIXSTAGE_MAX_CHANNELS];
  if (st->mode == MODE_MONO) {
    const int n1 = rn1[0];
    for (int t = 0; t < n; t++) {
      float x = 0.0f;
      for (int c = 0; c < nch; c++) x += buf[c][t];
      x /= (float)nch;
      const float r = t < n1 ? r0[0][t] : st->line[0].buf[t - n1];
      w[0][t] = x + (at_rest ? st->fb.target : fb[t]) * r;
    }
  } else {
    for (int c = 0; c < nch; c++) {
      const int n1 = rn1[c];
#if DLY_AVX
      if (at_rest && st->avx) {
        blk_feed_c_avx(w[c], buf[c], st->fb.target, r0[c], n1);
        blk_feed_c_avx(w[c] + n1, buf[c] + n1, st->fb.target, st->line[c].buf, n - n1);
        continue;
      }
#endif
      if (at_rest) {
        blk_feed_c(w[c], buf[c], st->fb.target, r0[c], n1);
        blk_feed_c(w[c] + n1, buf[c] + n1, st->fb.target, st->line[c].buf, n - n1);
      } else {
        blk_feed(w[c], buf[c], fb, r0[c], n1);
        blk_feed(w[c] + n1, buf[c] + n1, fb + n1, st->line[c].buf, n - n1);
      }
    }
  }
  /* The output, before the line is written (the reads stay valid). */
  for (int c = 0; c < nch; c++) {
    const int l = st->mode == MODE_MONO ? 0 : c, n1 = rn1[l];
#if DLY_AVX
    if (at_rest && st->avx) {
      blk_mix_c_avx(buf[c], st->dry.target, st->wet.target, r0[l], n1);
      blk_mix_c_avx(buf[c] + n1, st->dry.target, st->wet.target, st->line[l].buf, n - n1);
      continue;
    }
#endif
    if (at_rest) {
      blk_mix_c(buf[c], st->dry.target, st->wet.target, r0[l], n1);
      blk_mix_c(buf[c] + n1, st->dry.target, st->wet.target, st->line[l].buf, n - n1);
    } else {
      blk_mix(buf[c], g_dry, g_wet, r0[l], n1);
      blk_mix(buf[c] + n1, g_dry + n1, g_wet + n1, st->line[l].buf, n - n1);
    }
  }
  for (int done = 0; done < n;) {
    const int piece = n - done < MIXSTAGE_CONTROL_FRAMES - st->phase ? n - done : MIXSTAGE_CONTROL_FRAMES - st->phase;
    const int at_flush = st->phase + piece == MIXSTAGE_CONTROL_FRAMES;
    for (int c = 0; c < nlines; c++) wp[c] = w[c] + done;
    if (st->avx && nlines == 2)
      mixstage__biquad_pair_process(st->act, st->nact, DLY_STRIDE, wp, piece, at_flush);
    else
      mixstage__biquad_lanes_process(st->act, st->nact, DLY_STRIDE, nlines, wp, NULL, piece, at_flush);
    advance_phase_flushed(st, piece, at_flush);
    done += piece;
  }
  const int n1 = len - st->wp < n ? len - st->wp : n;
  for (int c = 0; c < nlines; c++) {
    float *b = st->line[c].buf;
#if DLY_AVX
    if (st->avx) {
      blk_store_flushed_avx(b + st->wp, w[c], n1);
      blk_store_flushed_avx(b, w[c] + n1, n - n1);
      continue;
    }
#endif
    blk_store_flushed(b + st->wp, w[c], n1);
    blk_store_flushed(b, w[c] + n1, n - n1);
  }
  st->wp = n1 < n ? n - n1 : st->wp + n;
  if (st->wp == len) st->wp = 0;
  return 1;
}

static void delay_process(void *s, float *const *io, int nch, int nframes, const float *const *key,
                          int key_nch) {
  (void)key;
  (void)key_nch;
  delay_state *st = s;
  const double dmax = (double)(st->len - 3);
  float r[MIXSTAGE_MAX_CHANNELS];
  if (nch > st->nch) nch = st->nch;
  const int nlines = st->mode == MODE_MONO ? 1 : nch;

  /* Block operations in pieces no longer than the shortest delay (so a
   * call of any length takes them), while the common case holds; the rest
   * frame by frame.  Both give every sample the same arithmetic. */
  float *buf[MIXSTAGE_MAX_CHANNELS];
  int done = 0, shortest = DLY_BLOCK;
  for (int c = 0; c < nlines; c++)
    if (st->line[c].target < shortest) shortest = st->line[c].target;
  while (done < nframes) {
    int n = nframes - done;
    if (n > shortest) n = shortest;
    for (int c = 0; c < nch; c++) buf[c] = io[c] + done;
    if (!delay_block(st, buf, nch, n)) break;
    st->cell_pos += n;
    if (st->cell_pos > MIXSTAGE_CONTROL_FRAMES) st->cell_pos = MIXSTAGE_CONTROL_FRAMES;
    done += n;
  }
  if (done == nframes) return;
  for (int c = 0; c < nch; c++) buf[c] = io[c] + done;
  nframes -= done;
  for (int t = 0; t < nframes; t++) {
    int k = st->cell_pos + t + 1;
    float fb = ramp_at(&st->fb, k), g_dry = ramp_at(&st->dry, k), g_wet = ramp_at(&st->wet, k);
    double depth = ramp_at(&st->depth, k);

    /* Quadrature LFO phases: sin, cos, -sin, -cos for channels 0..3 mod 4. */
    const int lk = st->phase - st->lfo_base;
    const double lc = st->lfo_c * st->lfo_pc[lk] - st->lfo_s * st->lfo_ps[lk];
    const double ls = st->lfo_s * st->lfo_pc[lk] + st->lfo_c * st->lfo_ps[lk];
    double q[4] = {ls, lc, -ls, -lc};
    for (int c = 0; c < nlines; c++) {
      delay_line *l = &st->line[c];
      if (l->step > 0.0) { /* glide, landing exactly on the target */
        double tgt = (double)l->target;
        if (fabs(tgt - l->cur) <= l->step) {
          l->cur = tgt;
          l->step = 0.0;
        } else {
          l->cur += l->cur < tgt ? l->step : -l->step;
        }
      }
      double d = l->cur + depth * q[c & 3];
      d = d < 1.0 ? 1.0 : d > dmax ? dmax : d;
      r[c] = read_line(st, l, d);
    }

    if (st->mode == MODE_MONO) {
      float x = 0.0f;
      for (int c = 0; c < nch; c++) x += buf[c][t];
      x /= (float)nch;
      st->line[0].buf[st->wp] = filt(st, 0, x + fb * r[0]);
      for (int c = 0; c < nch; c++) buf[c][t] = g_dry * buf[c][t] + g_wet * r[0];
    } else {
      for (int c = 0; c < nch; c++) {
        float w;
        if (st->mode == MODE_PINGPONG && c + 1 < nch && !(c & 1))
          w = 0.5f * (buf[c][t] + buf[c + 1][t]) + fb * r[c + 1];
        else if (st->mode == MODE_PINGPONG && (c & 1))
          w = fb * r[c - 1];
        else
          w = buf[c][t] + fb * r[c];
        st->line[c].buf[st->wp] = filt(st, c, w);
      }
      for (int c = 0; c < nch; c++) buf[c][t] = g_dry * buf[c][t] + g_wet * r[c];
    }
    if (++st->wp == st->len) st->wp = 0;
    advance_phase(st, 1);
  }
  st->cell_pos += nframes;
  if (st->cell_pos > MIXSTAGE_CONTROL_FRAMES) st->cell_pos = MIXSTAGE_CONTROL_FRAMES;
}

static int delay_latency(const void *s) {
  (void)s;
  return 0;
}

static int64_t delay_tail(const void *s) { return ((const delay_state *)s)->tail; }

const mixstage__node_class mixstage__delay_class = {
    .name = "delay",
    .description = "Mono, stereo and ping-pong delay with filtered feedback and tempo sync",
    .params = delay_params,
    .num_params = P_COUNT,
    .state_size = sizeof(delay_state),
    .init = delay_init,
    .fini = delay_fini,
    .reset = delay_reset,
    .update = delay_update,
    .process = delay_process,
    .latency = delay_latency,
    .tail = delay_tail,
    /* Linear.  Modulation and time glides move the read point by time and
     * parameters alone, never by the signal, so a copy started at the same
     * time gives exactly its part's share. */
    .linear = 1,
    .max_frames = 8 * MIXSTAGE_CONTROL_FRAMES, /* a block: pieces up to each flush point, any count */
};
