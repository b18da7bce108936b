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
 * Coefficients and filter memory are double: a 20 Hz high-pass at 96 kHz
 * has poles within 1e-3 of z = 1, where float coefficients would move the
 * corner audibly.  All active sections run in series per sample in double
 * and are rounded to float once.  Bands that are 'off' are not in the
 * processing list at all; with every band off and output at 0 dB the node
 * returns its input bit for bit.  Neither are flat sections (a bell or shelf
 * at 0 dB designs to b = a exactly, see is_identity) once their memory is
 * zero: such a section with zero memory outputs its input exactly and its
 * memory stays zero, so leaving it out changes no bit; while a band that
 * was just set flat still rings out its old memory it keeps running.  Coefficients change only in update(), at
 * control-grid boundaries; a band whose type or slope changes starts from
 * cleared memory (old state belongs to a different filter structure).  The
 * output gain ramps linearly across one control cell, as in gain.c.
 */
#include <math.h>
#include <string.h>

#include "../dsp/biquad.h"
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

typedef struct eq_state {
  double fs;
  int nch;
  /* Lane bank: EQ_SLOTS sections of MIXSTAGE__BQL_ROWS rows of `stride`
   * doubles (coefficients and memory, one lane per channel; biquad.h). */
  double *bank;
  int stride;
  int phase; /* frames since reset, mod MIXSTAGE_CONTROL_FRAMES: flush points */

  int band_type[EQ_BANDS];  /* type and slope as designed, to detect changes */
  int band_slope[EQ_BANDS];

  /* The processing list: active sections in band order. */
  int nact;
  double *act[EQ_SLOTS]; /* the slots' sections in the bank */
  /* Designed sections in band order with their slots, flat ones included:
   * the processing list is rebuilt from these when a flat section's memory
   * has rung out to zero. */
  int ndes;
  mixstage__biquad des[EQ_SLOTS];
  int des_slot[EQ_SLOTS];
  int pending_flat; /* a flat section is still in the list, ringing out */

  double g_prev, g_target; /* output gain ramp, as gain.c */
  int cell_pos;
  int64_t tail;
} eq_state;

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

static double *slot_sec(const eq_state *st, int slot) {
  return st->bank + (size_t)slot * MIXSTAGE__BQL_ROWS * (size_t)st->stride;
}

static int eq_init(void *s, const mixstage__node_env *env) {
  eq_state *st = s;
  st->fs = env->sample_rate;
  st->nch = env->channels;
  st->stride = MIXSTAGE__LANE_PAD(env->channels);
  /* zeroed: padding lanes keep zero coefficients, so they stay silent */
  st->bank = mixstage__calloc(env->alloc, (size_t)EQ_SLOTS * MIXSTAGE__BQL_ROWS * (size_t)st->stride,
                              sizeof *st->bank);
  if (!st->bank) return MIXSTAGE_ENOMEM;
  for (int b = 0; b < EQ_BANDS; b++) st->band_type[b] = T_OFF;
  st->g_prev = st->g_target = 1.0;
  st->cell_pos = MIXSTAGE_CONTROL_FRAMES;
  return MIXSTAGE_OK;
}

static void eq_fini(void *s, const mixstage__node_env *env) {
  eq_state *st = s;
  mixstage__free(env->alloc, st->bank);
  st->bank = NULL;
}

/* b == a with b0 = 1: the section is the identity, exactly (with zero
 * memory, y = x and the memory stays zero: b1 x - a1 y = 0 bit for bit). */
static int is_identity(const mixstage__biquad *c) {
  return c->b0 == 1.0 && c->b1 == c->a1 && c->b2 == c->a2;
}

static int slot_is_zero(const eq_state *st, int slot) {
  const double *m = slot_sec(st, slot) + MIXSTAGE__BQL_S1 * st->stride; /* rows s1, s2 */
  for (int l = 0; l < 2 * st->stride; l++)
    if (m[l] != 0.0) return 0;
  return 1;
}

/* Processing list = designed sections minus flat ones at rest. */
static void build_active(eq_state *st) {
  st->nact = 0;
  st->pending_flat = 0;
  for (int k = 0; k < st->ndes; k++) {
    if (is_identity(&st->des[k])) {
      if (slot_is_zero(st, st->des_slot[k])) continue;
      st->pending_flat = 1;
    }
    st->act[st->nact++] = slot_sec(st, st->des_slot[k]);
  }
}

static void eq_reset(void *s) {
  eq_state *st = s;
  for (int k = 0; k < EQ_SLOTS; k++) mixstage__biquad_lanes_clear(slot_sec(st, k), st->stride);
  st->phase = 0;
  build_active(st); /* flat sections at rest leave the list */
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
  st->ndes = 0;
  for (int b = 0; b < EQ_BANDS; b++) {
    const double *bp = p + b * EQ_PPB;
    int type = enum_index(bp[BP_TYPE], T_COUNT);
    int slope = enum_index(bp[BP_SLOPE], 4);
    int is_pass = type == T_HIGHPASS || type == T_LOWPASS;
    if (type != st->band_type[b] || (is_pass && slope != st->band_slope[b])) {
      for (int j = 0; j < EQ_SEC_PER_BAND; j++)
        mixstage__biquad_lanes_clear(slot_sec(st, b * EQ_SEC_PER_BAND + j), st->stride);
      st->band_type[b] = type;
      st->band_slope[b] = slope;
    }
    mixstage__biquad sec[EQ_SEC_PER_BAND];
    int n = design_band(bp, st->fs, sec);
    for (int j = 0; j < n; j++) {
      st->des[st->ndes] = sec[j];
      st->des_slot[st->ndes] = b * EQ_SEC_PER_BAND + j;
      for (int c = 0; c < st->nch; c++)
        mixstage__biquad_lanes_set(slot_sec(st, b * EQ_SEC_PER_BAND + j), st->stride, c, &sec[j]);
      st->ndes++;
      tail += section_decay_frames(&sec[j]);
    }
  }
  build_active(st);
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

/* All channels advance through the active sections together as the lanes
 * of the cascade kernel (biquad.h), the output gain fused into its final
 * rounding to float.  The state is flushed of magnitudes below 1e-200
 * every MIXSTAGE_CONTROL_FRAMES frames counted from reset (not at call
 * boundaries), so the output does not depend on how blocks are split. */
static void eq_process(void *s, float *const *buf, int nch, int nframes, const float *const *key,
                       int key_nch) {
  (void)key;
  (void)key_nch;
  eq_state *st = s;
  const int nact = st->nact;
  const int ramp = st->cell_pos < MIXSTAGE_CONTROL_FRAMES && st->g_prev != st->g_target;
  const double g = st->g_target, g0 = st->g_prev;
  const double dg = (st->g_target - st->g_prev) / (double)MIXSTAGE_CONTROL_FRAMES;
  if (nch > st->nch) nch = st->nch;

  for (int done = 0; done < nframes;) {
    /* At most one control cell per pass (process() gets at most one). */
    int n = nframes - done, to_flush = MIXSTAGE_CONTROL_FRAMES - st->phase;
    if (n > to_flush) n = to_flush;
    if (nact > 0 || ramp || g != 1.0) {
      double gbuf[MIXSTAGE_CONTROL_FRAMES];
      const double *gain = NULL;
      if (ramp || g != 1.0) {
        /* The ramp value depends only on the position in the control cell,
         * so any split of the block gives the same gain per sample. */
        for (int i = 0; i < n; i++) {
          int pos = st->cell_pos + done + i + 1;
          gbuf[i] = (!ramp || pos >= MIXSTAGE_CONTROL_FRAMES) ? g : g0 + dg * (double)pos;
        }
        gain = gbuf;
      }
      float *cb[MIXSTAGE_MAX_CHANNELS];
      for (int c = 0; c < nch; c++) cb[c] = buf[c] + done;
      mixstage__biquad_lanes_process(st->act, nact, st->stride, nch, cb, gain, n, n == to_flush);
    }
    st->phase = n == to_flush ? 0 : st->phase + n;
    done += n;
  }
  /* A flat section that has rung out to zero leaves the list (exact). */
  if (st->pending_flat) build_active(st);
  st->cell_pos += nframes;
  if (st->cell_pos > MIXSTAGE_CONTROL_FRAMES) st->cell_pos = MIXSTAGE_CONTROL_FRAMES;
}

/* Output gain of frame pos (1 .. CELL) of the cell, as eq_process computes
 * it; 1.0 (which changes no bit) when the node applies none. */
static inline double eq_gain_at(const eq_state *st, int pos) {
  const int ramp = st->cell_pos < MIXSTAGE_CONTROL_FRAMES && st->g_prev != st->g_target;
  if (!ramp && st->g_target == 1.0) return 1.0;
  const double dg = (st->g_target - st->g_prev) / (double)MIXSTAGE_CONTROL_FRAMES;
  return (!ramp || pos >= MIXSTAGE_CONTROL_FRAMES) ? st->g_target : st->g_prev + dg * (double)pos;
}

/* Lane group (node.h): the channels of every instance side by side, four to
 * a vector (mixstage__biquad_lanes4_process).  Each batch of four lanes
 * gathers its lanes' sections from their instances, runs, and puts the
 * memory back.  It takes instances with the same number of active sections
 * at the same flush phase (then every lane sees the sections, splits and
 * flushes of its own eq_process); others go one by one. */
static int eq_process_lanes(void *const *states, float *const *const *bufs, const float *const *const *keys,
                            const int *key_nch, int count, int nch, int nframes) {
  (void)keys;
  (void)key_nch;
  if (!mixstage__biquad_lanes4_available()) return 0;
  const eq_state *s0 = states[0];
  const int nact = s0->nact;
  int any_gain = 0;
  if (nact == 0) return 0;
  for (int m = 0; m < count; m++) {
    const eq_state *st = states[m];
    if (st->nact != nact || st->phase != s0->phase || st->nch != nch) return 0;
    any_gain |= (st->cell_pos < MIXSTAGE_CONTROL_FRAMES && st->g_prev != st->g_target) || st->g_target != 1.0;
  }
  const int lanes = count * nch;
  double bank[EQ_SLOTS][MIXSTAGE__BQL_ROWS * 4];
  double *sec[EQ_SLOTS];
  double gain[MIXSTAGE_CONTROL_FRAMES * 4];
  float pad[MIXSTAGE_CONTROL_FRAMES];
  static const double zero_rows[2];
  for (int k = 0; k < nact; k++) sec[k] = bank[k];
  int phase = s0->phase;
  for (int done = 0; done < nframes;) {
    int n = nframes - done, to_flush = MIXSTAGE_CONTROL_FRAMES - phase;
    if (n > to_flush) n = to_flush;
    for (int b = 0; b < lanes; b += 4) {
      /* Lane j of the batch: its instance's section rows (first row at
       * src[j], rows stride[j] apart).  A padding lane reads zeros
       * (silent: zero coefficients) and writes its memory to a dummy. */
      float *io[4];
      const eq_state *ls[4];
      int lc[4], stride[4];
      for (int j = 0; j < 4; j++) {
        int l = b + j;
        ls[j] = l < lanes ? states[l / nch] : NULL;
        lc[j] = l < lanes ? l % nch : 0;
        stride[j] = ls[j] ? ls[j]->stride : 0;
        io[j] = ls[j] ? bufs[l / nch][lc[j]] + done : pad;
      }
      if (!ls[3]) memset(pad, 0, sizeof pad);
      if (!(nch & 1)) {
        /* Even channel counts: lanes come in pairs adjacent in one
         * instance's rows (its stride is even), two doubles per copy. */
        for (int k = 0; k < nact; k++) {
          const double *a = ls[0]->act[k] + lc[0], *c = ls[2] ? ls[2]->act[k] + lc[2] : zero_rows;
          double *d = bank[k];
          for (int r = 0; r < MIXSTAGE__BQL_ROWS; r++, d += 4) {
            memcpy(d, a + r * stride[0], 2 * sizeof *d);
            memcpy(d + 2, c + r * stride[2], 2 * sizeof *d);
          }
        }
      } else {
        for (int k = 0; k < nact; k++) {
          const double *src[4];
          for (int j = 0; j < 4; j++) src[j] = ls[j] ? ls[j]->act[k] + lc[j] : zero_rows;
          double *d = bank[k];
          for (int r = 0; r < MIXSTAGE__BQL_ROWS; r++, d += 4) {
            d[0] = src[0][r * stride[0]];
            d[1] = src[1][r * stride[1]];
            d[2] = src[2][r * stride[2]];
            d[3] = src[3][r * stride[3]];
          }
        }
      }
      if (any_gain)
        for (int i = 0; i < n; i++)
          for (int j = 0; j < 4; j++)
            gain[4 * i + j] = ls[j] ? eq_gain_at(ls[j], ls[j]->cell_pos + done + i + 1) : 1.0;
      mixstage__biquad_lanes4_process(sec, nact, io, any_gain ? gain : NULL, n, n == to_flush);
      for (int k = 0; k < nact; k++) {
        double dummy[2];
        const double *m = bank[k] + 4 * MIXSTAGE__BQL_S1;
        for (int j = 0; j < 4; j++) {
          double *p = ls[j] ? ls[j]->act[k] + lc[j] : dummy;
          p[MIXSTAGE__BQL_S1 * stride[j]] = m[j];
          p[MIXSTAGE__BQL_S2 * stride[j]] = m[4 + j];
        }
      }
    }
    phase = n == to_flush ? 0 : phase + n;
    done += n;
  }
  for (int m = 0; m < count; m++) {
    eq_state *st = states[m];
    st->phase = phase;
    if (st->pending_flat) build_active(st);
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
};
