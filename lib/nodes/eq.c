/* "eq": an 8-band parametric channel EQ.
 *
 * Each band is one of off | highpass | lowpass | lowshelf | highshelf | bell
 * | notch, designed with the RBJ Audio EQ Cookbook (lib/dsp/biquad.c):
 *
 *  highpass / lowpass  Butterworth, slope 6/12/18/24 dB/oct = order 1..4
 *                      (order 1 is the pre-warped bilinear first-order
 *                      section; 18 dB = first-order + Q 1.0; 24 dB = Q
 *                      0.5412 + 1.3066).  The band's q shapes only the
 *                      12 dB/oct case (a resonant or damped 2-pole; the
 *                      default q = 1/sqrt(2) is exact Butterworth).  At 6,
 *                      18 and 24 dB/oct q is ignored, so those slopes are
 *                      always exactly Butterworth.  gain is ignored.
 *  lowshelf/highshelf  cookbook shelf in its Q form: gain at the shelf,
 *                      gain/2 at freq; q = 1/sqrt(2) is S = 1 (steepest
 *                      without overshoot), higher q adds the classic bump.
 *  bell                cookbook peaking EQ (gain, q).
 *  notch               cookbook notch (q sets the width; gain ignored).
 *
 * Frequencies above 0.49 fs are designed at 0.49 fs (the parameter range
 * reaches 24 kHz for high rates; at 44.1 kHz the top is 21.6 kHz).
 *
 * Coefficients are designed in double and run as float trapezoidal state-
 * variable filters (lib/dsp/svf.h): a 20 Hz high-pass at 96 kHz has poles
 * within 1e-3 of z = 1, where a float direct form would move the corner
 * and the gain audibly; the SVF keeps g = tan(pi f / fs) and 1/Q apart, so
 * float holds the cookbook response within 0.05 dB (tests/check_eq.c
 * measures 20-30 Hz corners at 48 and 96 kHz).  All active sections run in
 * series per sample.  Bands that are 'off' are not in the processing list
 * at all; with every band off and output at 0 dB the node returns its
 * input bit for bit.  Neither are flat sections (a bell or shelf at 0 dB
 * designs to b = a exactly): their output is their input whatever their
 * memory, so they leave the list at once, memory cleared.  Coefficients
 * change only in update(), at
control-grid boundaries; a band whose type or slope changes starts from
 * cleared memory (old state belongs to a different filter structure).  The
 * output gain ramps linearly across one control cell, as in gain.c.
 */
#include <math.h>
#include <string.h>

#include "../dsp/svf.h"
#include "../node.h"

#define EQ_BANDS 8
#define EQ_SEC_PER_BAND 2 /* 24 dB/oct = two biquads */
#define EQ_SLOTS (EQ_BANDS * EQ_SEC_PER_BAND)
#define EQ_PPB 5 /* parameters per band */

enum { BP_TYPE, BP_FREQ, BP_GAIN, BP_Q, BP_SLOPE };
enum { P_OUTPUT = EQ_BANDS * EQ_PPB, P_COUNT };

enum { T_OFF, T_HIGHPASS, T_LOWPASS, T_LOWSHELF, T_HIGHSHELF, T_BELL, T_NOTCH, T_COUNT };

#define TYPE_CHOICES "off|highpass|lowpass|lowshelf|highshelf|bell|notch"
#define SLOPE_CHOICES "6|12|18|24"
#define Q_DEF 0.70710678118654752440 /* exact Butterworth; displays as 0.7071 */

#define BAND(n, fdef)                                                                              \
  {(n - 1) * EQ_PPB + BP_TYPE, "band" #n "_type", "Band " #n " type", MIXSTAGE_UNIT_ENUM, 0.0,    \
   (double)(T_COUNT - 1), 0.0, 0, TYPE_CHOICES},                                                   \
      {(n - 1) * EQ_PPB + BP_FREQ, "band" #n "_freq", "Band " #n " frequency", MIXSTAGE_UNIT_HZ,   \
       10.0, 24000.0, fdef, 1, NULL},                                                              \
      {(n - 1) * EQ_PPB + BP_GAIN, "band" #n "_gain", "Band " #n " gain", MIXSTAGE_UNIT_DB, -30.0, \
       30.0, 0.0, 1, NULL},                                                                        \
      {(n - 1) * EQ_PPB + BP_Q, "band" #n "_q", "Band " #n " Q", MIXSTAGE_UNIT_Q, 0.1, 24.0,       \
       Q_DEF, 1, NULL},                                                                            \
      {(n - 1) * EQ_PPB + BP_SLOPE, "band" #n "_slope", "Band " #n " slope (dB/oct)",              \
       MIXSTAGE_UNIT_ENUM, 0.0, 3.0, 1.0, 0, SLOPE_CHOICES}

static const mixstage_param_info eq_params[P_COUNT] = {
    BAND(1, 30.0),   BAND(2, 100.0),  BAND(3, 250.0),  BAND(4, 600.0),
    BAND(5, 1500.0), BAND(6, 3500.0), BAND(7, 8000.0), BAND(8, 16000.0),
    {P_OUTPUT, "output", "Output gain", MIXSTAGE_UNIT_DB, -30.0, 30.0, 0.0, 1, NULL},
};

/* Lane-group coefficient cache (eq_process_lanes): one batch of eight
 * lanes in the kernel's layout, kept by the instance that holds the
 * batch's first lane.  Valid while the same lanes (instance, channel) are
 * in it with the same coefficient serials: then only the memory rows move
 * per call. */
typedef struct eq_lane_cache {
  const void *src[8]; /* the lanes' instances (NULL: padding) */
  uint64_t serial[8];
  uint32_t gen[8]; /* each lane's mem_gen as this cache left its memory */
  int ch[8];
  int nact; /* 0: empty */
  float sec[EQ_SLOTS][MIXSTAGE__SVF_ROWS * 8];
  /* each lane's memory in its instance's bank: row s1 at mem[k][j], row s2
   * mstride[j] further (padding lanes: the scratch pair below) */
  float *mem[EQ_SLOTS][8];
  int mstride[8];
  float scratch[4]; /* padding lanes' memory: s1 at [0 .. 1], s2 at [2 .. 3] */
} eq_lane_cache;

typedef struct eq_state {
  double fs;
  int nch;
  /* Lane bank: EQ_SLOTS sections of MIXSTAGE__SVF_ROWS rows of `stride`
   * floats (coefficients and memory, one lane per channel; svf.h). */
  float *bank;
  int stride;
  int phase; /* frames since reset, mod MIXSTAGE_CONTROL_FRAMES: flush points */

  int band_type[EQ_BANDS];  /* type and slope as designed, to detect changes */
  int band_slope[EQ_BANDS];

  /* The processing list: active (not flat) sections in band order. */
  int nact;
  float *act[EQ_SLOTS]; /* the slots' sections in the bank */
  /* Changes whenever the coefficients or the list change: unique across
   * instances, so a lane cache can tell whether its copy is current. */
  uint64_t serial;
  /* Counts writes of the bank's memory (process, reset, a lane group's
   * write-back): a lane cache whose copy of the memory is the latest skips
   * reading it back. */
  uint32_t mem_gen;

  double g_prev, g_target; /* output gain ramp, as gain.c */
  int cell_pos;
  int64_t tail;
  eq_lane_cache cache;
} eq_state;

static uint64_t eq_new_serial(void) {
  static uint64_t next; /* lock-free: instances may update on several threads */
  return __atomic_add_fetch(&next, 1, __ATOMIC_RELAXED);
}

static int enum_index(double v, int n) {
  int i = (int)lround(v);
  return i < 0 ? 0 : i >= n ? n - 1 : i;
}

/* Frames for a section's impulse response to fall by 120 dB, from its
 * largest pole radius. */
static double section_decay_frames(const mixstage__biquad *c) {
  double r, disc = c->a1 * c->a1 - 4.0 * c->a2;
  if (disc < 0.0) {
    r = sqrt(c->a2);
  } else {
    double sq = sqrt(disc);
    double r1 = fabs(0.5 * (-c->a1 + sq)), r2 = fabs(0.5 * (-c->a1 - sq));
    r = r1 > r2 ? r1 : r2;
  }
  if (!(r > 1e-12)) return 2.0;
  if (r >= 1.0) return 0.0; /* cannot happen with clamped designs */
  return 2.0 + log(1e-6) / log(r);
}

static float *slot_sec(const eq_state *st, int slot) {
  return st->bank + (size_t)slot * MIXSTAGE__SVF_ROWS * (size_t)st->stride;
}

static int eq_init(void *s, const mixstage__node_env *env) {
  eq_state *st = s;
  st->fs = env->sample_rate;
  st->nch = env->channels;
  st->stride = MIXSTAGE__SVF_PAD(env->channels);
  /* zeroed: padding lanes keep zero coefficients, so they stay silent */
  st->bank = mixstage__calloc(env->alloc, (size_t)EQ_SLOTS * MIXSTAGE__SVF_ROWS * (size_t)st->stride,
                              sizeof *st->bank);
  if (!st->bank) return MIXSTAGE_ENOMEM;
  for (int b = 0; b < EQ_BANDS; b++) st->band_type[b] = T_OFF;
  st->g_prev = st->g_target = 1.0;
  st->cell_pos = MIXSTAGE_CONTROL_FRAMES;
  st->serial = eq_new_serial();
  return MIXSTAGE_OK;
}

static void eq_fini(void *s, const mixstage__node_env *env) {
  eq_state *st = s;
  mixstage__free(env->alloc, st->bank);
  st->bank = NULL;
}

static void eq_reset(void *s) {
  eq_state *st = s;
  for (int k = 0; k < EQ_SLOTS; k++) mixstage__svf_lanes_clear(slot_sec(st, k), st->stride);
  st->phase = 0;
  st->mem_gen++;
  st->g_prev = st->g_target;
  st->cell_pos = MIXSTAGE_CONTROL_FRAMES;
}

/* Designs band b into sec[]; returns the number of sections (0 = off). */
static int design_band(const double *bp, double fs, mixstage__biquad *sec) {
  int type = enum_index(bp[BP_TYPE], T_COUNT);
  double f = bp[BP_FREQ], g = bp[BP_GAIN], q = bp[BP_Q];
  switch (type) {
  case T_HIGHPASS:
  case T_LOWPASS: {
    int order = enum_index(bp[BP_SLOPE], 4) + 1;
    if (order == 2) {
      if (type == T_HIGHPASS) mixstage__biquad_highpass(&sec[0], f, q, fs);
      else mixstage__biquad_lowpass(&sec[0], f, q, fs);
      return 1;
    }
    return type == T_HIGHPASS ? mixstage__butterworth_highpass(sec, order, f, fs)
                              : mixstage__butterworth_lowpass(sec, order, f, fs);
  }
  case T_LOWSHELF: mixstage__biquad_lowshelf(&sec[0], f, q, g, fs); return 1;
  case T_HIGHSHELF: mixstage__biquad_highshelf(&sec[0], f, q, g, fs); return 1;
  case T_BELL: mixstage__biquad_peaking(&sec[0], f, q, g, fs); return 1;
  case T_NOTCH: mixstage__biquad_notch(&sec[0], f, q, fs); return 1;
  default: return 0;
  }
}

static void eq_update(void *s, const double *p) {
  eq_state *st = s;
  double tail = 0.0;
  st->nact = 0;
  for (int b = 0; b < EQ_BANDS; b++) {
    const double *bp = p + b * EQ_PPB;
    int type = enum_index(bp[BP_TYPE], T_COUNT);
    int slope = enum_index(bp[BP_SLOPE], 4);
    int is_pass = type == T_HIGHPASS || type == T_LOWPASS;
    if (type != st->band_type[b] || (is_pass && slope != st->band_slope[b])) {
      for (int j = 0; j < EQ_SEC_PER_BAND; j++)
        mixstage__svf_lanes_clear(slot_sec(st, b * EQ_SEC_PER_BAND + j), st->stride);
      st->band_type[b] = type;
      st->band_slope[b] = slope;
    }
    mixstage__biquad sec[EQ_SEC_PER_BAND];
    int n = design_band(bp, st->fs, sec);
    for (int j = 0; j < n; j++) {
      float *slot = slot_sec(st, b * EQ_SEC_PER_BAND + j);
      if (mixstage__svf_is_identity(&sec[j])) {
        /* Flat: its output is its input whatever its memory, so it leaves
         * the list; it restarts from rest if it bends again. */
        mixstage__svf_lanes_clear(slot, st->stride);
        continue;
      }
      float coef[MIXSTAGE__SVF_COEFS];
      mixstage__svf_from_biquad(&sec[j], coef);
      for (int c = 0; c < st->nch; c++) mixstage__svf_lanes_set(slot, st->stride, c, coef);
      st->act[st->nact++] = slot;
      tail += section_decay_frames(&sec[j]);
    }
  }
  st->serial = eq_new_serial();
  st->mem_gen++; /* sections may have been cleared above */
  /* A cascade decays no slower than the sum of its sections' decay times. */
  double cap = 120.0 * st->fs;
  st->tail = (int64_t)ceil(tail < cap ? tail : cap);

  st->g_prev = st->cell_pos >= MIXSTAGE_CONTROL_FRAMES
                   ? st->g_target
                   : st->g_prev + (st->g_target - st->g_prev) * (double)st->cell_pos /
                                      (double)MIXSTAGE_CONTROL_FRAMES;
  st->g_target = mixstage__db_to_gain(p[P_OUTPUT]);
  st->cell_pos = 0;
}

/* Output gain of frame pos (1 .. CELL) of the cell, rounded to the float
 * the kernels multiply by; 1 (which changes no bit) when the node applies
 * none. */
static inline float eq_gain_at(const eq_state *st, int pos) {
  const int ramp = st->cell_pos < MIXSTAGE_CONTROL_FRAMES && st->g_prev != st->g_target;
  if (!ramp && st->g_target == 1.0) return 1.0f;
  const double dg = (st->g_target - st->g_prev) / (double)MIXSTAGE_CONTROL_FRAMES;
  /* The ramp value depends only on the position in the control cell, so
   * any split of the block gives the same gain per sample. */
  return (float)((!ramp || pos >= MIXSTAGE_CONTROL_FRAMES) ? st->g_target : st->g_prev + dg * (double)pos);
}

static inline int eq_has_gain(const eq_state *st) {
  return (st->cell_pos < MIXSTAGE_CONTROL_FRAMES && st->g_prev != st->g_target) || st->g_target != 1.0;
}

/* All channels advance through the active sections together as the lanes
 * of the SVF kernel (svf.h), then take the output gain.  The memory is
 * flushed of magnitudes below 1e-30 every MIXSTAGE_CONTROL_FRAMES frames
 * counted from reset (not at call boundaries), so the output does not
 * depend on how blocks are split. */
static void eq_process(void *s, float *const *buf, int nch, int nframes, const float *const *key,
                       int key_nch) {
  (void)key;
  (void)key_nch;
  eq_state *st = s;
  const int nact = st->nact, has_gain = eq_has_gain(st);
  if (nch > st->nch) nch = st->nch;

  for (int done = 0; done < nframes;) {
    /* At most one control cell per pass (process() gets at most one). */
    int n = nframes - done, to_flush = MIXSTAGE_CONTROL_FRAMES - st->phase;
    if (n > to_flush) n = to_flush;
    if (nact > 0 || has_gain) {
      float gbuf[MIXSTAGE_CONTROL_FRAMES];
      if (has_gain)
        for (int i = 0; i < n; i++) gbuf[i] = eq_gain_at(st, st->cell_pos + done + i + 1);
      float *cb[MIXSTAGE_MAX_CHANNELS];
      for (int c = 0; c < nch; c++) cb[c] = buf[c] + done;
      mixstage__svf_lanes_process(st->act, nact, st->stride, nch, cb, has_gain ? gbuf : NULL, n,
                                  n == to_flush);
    }
    st->phase = n == to_flush ? 0 : st->phase + n;
    done += n;
  }
  st->mem_gen++;
  st->cell_pos += nframes;
  if (st->cell_pos > MIXSTAGE_CONTROL_FRAMES) st->cell_pos = MIXSTAGE_CONTROL_FRAMES;
}

/* Lane group (node.h): the channels of every instance side by side, eight
 * to a vector (mixstage__svf_lanes8_process).  Each batch of eight lanes
 * has its coefficients in the cache of the instance holding its first
 * lane, refreshed only when a lane's serial moved; per call the memory rows
 * are put back into the banks, and read from them only when something else
 * wrote them since (mem_gen).  It takes instances with the same number of
 * active sections at the same flush phase (then every lane sees the
 * sections, splits and flushes of its own eq_process), up to eight channels
 * each (so no instance holds two batches' first lanes); others go one by
 * one. */
static int eq_process_lanes(void *const *states, float *const *const *bufs, const float *const *const *keys,
                            const int *key_nch, int count, int nch, int nframes) {
  (void)keys;
  (void)key_nch;
  if (nch < 1 || nch > 8 || !mixstage__svf_lanes8_available()) return 0;
  const eq_state *s0 = states[0];
  const int nact = s0->nact;
  int any_gain = 0;
  if (nact == 0) return 0;
  for (int m = 0; m < count; m++) {
    const eq_state *st = states[m];
    if (st->nact != nact || st->phase != s0->phase || st->nch != nch) return 0;
    any_gain |= eq_has_gain(st);
  }
  const int lanes = count * nch;
  float gain[MIXSTAGE_CONTROL_FRAMES * 8];
  float pad[MIXSTAGE_CONTROL_FRAMES];
  /* Even channel counts: lanes 2i, 2i+1 are adjacent in one bank (and
   * padding pairs in the scratch), two floats per copy. */
  const int pairs = !(nch & 1);
  for (int b = 0; b < lanes; b += 8) {
    eq_lane_cache *cache = &((eq_state *)states[b / nch])->cache;
    const eq_state *ls[8];
    int lc[8], valid = cache->nact == nact, fresh = 1;
    float *io[8];
    for (int j = 0, m = b / nch, c = b % nch; j < 8; j++) {
      if (m < count) {
        const eq_state *st = states[m];
        ls[j] = st;
        lc[j] = c;
        io[j] = bufs[m][c];
        fresh &= cache->gen[j] == st->mem_gen;
        valid &= (cache->src[j] == st) & (cache->ch[j] == c) & (cache->serial[j] == st->serial);
        cache->gen[j] = st->mem_gen + 1u; /* every instance's mem_gen moves on by one at the end */
        if (++c == nch) c = 0, m++;
      } else {
        ls[j] = NULL;
        lc[j] = 0;
        io[j] = pad;
        valid &= cache->src[j] == NULL;
      }
    }
    if (!ls[7]) memset(pad, 0, sizeof pad);
    if (!valid) {
      for (int k = 0; k < nact; k++) {
        float *d = cache->sec[k];
        memset(d, 0, sizeof cache->sec[k]); /* padding lanes: zero coefficients, silent */
        for (int j = 0; j < 8; j++)
          if (ls[j])
            for (int r = 0; r < MIXSTAGE__SVF_COEFS; r++) d[8 * r + j] = ls[j]->act[k][r * ls[j]->stride + lc[j]];
      }
      for (int j = 0; j < 8; j++) {
        cache->src[j] = ls[j];
        cache->ch[j] = lc[j];
        cache->serial[j] = ls[j] ? ls[j]->serial : 0;
        cache->mstride[j] = ls[j] ? ls[j]->stride : 2;
        for (int k = 0; k < nact; k++)
          cache->mem[k][j] = ls[j] ? ls[j]->act[k] + MIXSTAGE__SVF_S1 * ls[j]->stride + lc[j] : cache->scratch;
      }
      cache->nact = nact;
      fresh = 0;
    }
    float *sec[EQ_SLOTS];
    for (int k = 0; k < nact; k++) sec[k] = cache->sec[k];
    if (!fresh) /* the banks' memory rows s1, s2 into the cache */
      for (int k = 0; k < nact; k++) {
        float *d = cache->sec[k] + 8 * MIXSTAGE__SVF_S1;
        if (pairs) {
          for (int j = 0; j < 8; j += 2) {
            const float *m = cache->mem[k][j];
            memcpy(d + j, m, 2 * sizeof *d);
            memcpy(d + 8 + j, m + cache->mstride[j], 2 * sizeof *d);
          }
        } else {
          for (int j = 0; j < 8; j++) {
            const float *m = cache->mem[k][j];
            d[j] = m[0];
            d[8 + j] = m[cache->mstride[j]];
          }
        }
      }
    int phase = s0->phase;
    for (int done = 0; done < nframes;) {
      int n = nframes - done, to_flush = MIXSTAGE_CONTROL_FRAMES - phase;
      if (n > to_flush) n = to_flush;
      if (any_gain)
        for (int i = 0; i < n; i++)
          for (int j = 0; j < 8; j++)
            gain[8 * i + j] = ls[j] ? eq_gain_at(ls[j], ls[j]->cell_pos + done + i + 1) : 1.0f;
      float *part[8];
      if (done)
        for (int j = 0; j < 8; j++) part[j] = ls[j] ? io[j] + done : pad;
      mixstage__svf_lanes8_process(sec, nact, done ? part : io, any_gain ? gain : NULL, n, n == to_flush);
      phase = n == to_flush ? 0 : phase + n;
      done += n;
    }
    for (int k = 0; k < nact; k++) {
      const float *d = cache->sec[k] + 8 * MIXSTAGE__SVF_S1;
      if (pairs) {
        for (int j = 0; j < 8; j += 2) {
          float *m = cache->mem[k][j];
          memcpy(m, d + j, 2 * sizeof *d);
          memcpy(m + cache->mstride[j], d + 8 + j, 2 * sizeof *d);
        }
      } else {
        for (int j = 0; j < 8; j++) {
          float *m = cache->mem[k][j];
          m[0] = d[j];
          m[cache->mstride[j]] = d[8 + j];
        }
      }
    }
  }
  /* as the passes above advance it: 0 exactly when a flush point is reached */
  const int phase = (s0->phase + nframes) % MIXSTAGE_CONTROL_FRAMES;
  for (int m = 0; m < count; m++) {
    eq_state *st = states[m];
    st->phase = phase;
    st->mem_gen++;
    st->cell_pos += nframes;
    if (st->cell_pos > MIXSTAGE_CONTROL_FRAMES) st->cell_pos = MIXSTAGE_CONTROL_FRAMES;
  }
  return 1;
}

static int64_t eq_tail(const void *s) { return ((const eq_state *)s)->tail; }

const mixstage__node_class mixstage__eq_class = {
    .name = "eq",
    .description = "8-band parametric EQ: Butterworth high/low-pass, shelves, bells, notches",
    .params = eq_params,
    .num_params = P_COUNT,
    .state_size = sizeof(eq_state),
    .init = eq_init,
    .fini = eq_fini,
    .reset = eq_reset,
    .update = eq_update,
    .process = eq_process,
    .tail = eq_tail,
    .linear = 1,
    .process_lanes = eq_process_lanes,
    .max_frames = 8 * MIXSTAGE_CONTROL_FRAMES, /* a block: the passes cut at flush points, any count */
};
