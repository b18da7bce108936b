/* "tilt_eq": a broad mastering EQ.
 *
 * Three minimum-phase sections in series, in double per channel:
 *  - tilt: a first-order shelf pivoting at tilt_freq, -tilt/2 dB at DC and
 *    +tilt/2 dB at the top, 0 dB at tilt_freq.  Analogue prototype
 *        H(s) = sqrt(G) (s + w0/sqrt(G)) / (s + w0 sqrt(G)),  G = 10^(tilt/20),
 *    i.e. a first-order high shelf of tilt dB (zero and pole placed
 *    geometrically about w0) scaled by -tilt/2 dB; bilinear transform with
 *    the pivot pre-warped so it stays at 0 dB exactly.  One pole and one zero
 *    give the gentle 6 dB/oct-bounded slope of a classic tilt control.
 *  - low shelf and high shelf: RBJ cookbook shelves with S = 1
 *    (Q = 1/sqrt(2): the steepest slope without overshoot), gain/2 at the
 *    corner.
 * then an output trim.
 *
 * Only minimum phase is offered; no "phase" parameter is declared, so a
 * linear-phase mode can be appended later with a new id.
 *
 * A section at exactly 0 dB is the identity (b0 = 1), so the node with its
 * defaults is bit-transparent.  Coefficients change at control-cell
 * boundaries (the engine moves automated values once per 32-frame cell); the
 * output gain ramps linearly across the cell.
 */
#include <math.h>
#include "../node.h"
#include "../dsp/biquad.h"

enum {
  P_TILT,
  P_TILT_FREQ,
  P_LOW_GAIN,
  P_LOW_FREQ,
  P_HIGH_GAIN,
  P_HIGH_FREQ,
  P_OUTPUT,
  P_COUNT
};

static const mixstage_param_info tilt_params[P_COUNT] = {
    {P_TILT, "tilt", "Tilt", MIXSTAGE_UNIT_DB, -6.0, 6.0, 0.0, 1, NULL},
    {P_TILT_FREQ, "tilt_freq", "Tilt pivot", MIXSTAGE_UNIT_HZ, 200.0, 5000.0, 1000.0, 1, NULL},
    {P_LOW_GAIN, "low_shelf_gain", "Low shelf gain", MIXSTAGE_UNIT_DB, -12.0, 12.0, 0.0, 1, NULL},
    {P_LOW_FREQ, "low_shelf_freq", "Low shelf frequency", MIXSTAGE_UNIT_HZ, 20.0, 500.0, 100.0, 1,
     NULL},
    {P_HIGH_GAIN, "high_shelf_gain", "High shelf gain", MIXSTAGE_UNIT_DB, -12.0, 12.0, 0.0, 1,
     NULL},
    {P_HIGH_FREQ, "high_shelf_freq", "High shelf frequency", MIXSTAGE_UNIT_HZ, 2000.0, 20000.0,
     10000.0, 1, NULL},
    {P_OUTPUT, "output", "Output", MIXSTAGE_UNIT_DB, -12.0, 12.0, 0.0, 1, NULL},
};

#define CF MIXSTAGE_CONTROL_FRAMES
#define NSEC 3
#define TILT_STRIDE MIXSTAGE__LANE_PAD(MIXSTAGE_MAX_CHANNELS)

typedef struct tilt_state {
  double fs;
  mixstage__biquad sec[NSEC]; /* tilt, low shelf, high shelf */
  /* The sections as lanes, one per channel (biquad.h); memory flushed
   * every CF frames counted from reset. */
  double bank[NSEC][MIXSTAGE__BQL_ROWS * TILT_STRIDE];
  int phase;
  double g_prev, g_target; /* output gain, ramped across a cell */
  int cell_pos;
  int primed;
  int nch;
  int64_t tail;
} tilt_state;


static int tilt_init(void *s, const mixstage__node_env *env) {
  tilt_state *st = s;
  st->fs = env->sample_rate;
  for (int k = 0; k < NSEC; k++) {
    mixstage__biquad_identity(&st->sec[k]);
    for (int c = 0; c < env->channels; c++)
      mixstage__biquad_lanes_set(st->bank[k], TILT_STRIDE, c, &st->sec[k]);
  }
  st->nch = env->channels;
  st->g_prev = st->g_target = 1.0;
  st->cell_pos = CF;
  return MIXSTAGE_OK;
}

static void tilt_reset(void *s) {
  tilt_state *st = s;
  for (int k = 0; k < NSEC; k++) mixstage__biquad_lanes_clear(st->bank[k], TILT_STRIDE);
  st->phase = 0;
  st->g_prev = st->g_target;
  st->cell_pos = CF;
}

static void tilt_update(void *s, const double *p) {
  tilt_state *st = s;
  double tilt = p[P_TILT];
  if (tilt != 0.0) {
    mixstage__biquad *t = &st->sec[0];
    mixstage__biquad_highshelf1(t, p[P_TILT_FREQ], tilt, st->fs);
    double k = mixstage__db_to_gain(-0.5 * tilt);
    t->b0 *= k;
    t->b1 *= k;
    t->b2 *= k;
  } else {
    mixstage__biquad_identity(&st->sec[0]);
  }
  if (p[P_LOW_GAIN] != 0.0)
    mixstage__biquad_lowshelf(&st->sec[1], p[P_LOW_FREQ], MIXSTAGE__Q_BUTTERWORTH, p[P_LOW_GAIN],
                              st->fs);
  else
    mixstage__biquad_identity(&st->sec[1]);
  if (p[P_HIGH_GAIN] != 0.0)
    mixstage__biquad_highshelf(&st->sec[2], p[P_HIGH_FREQ], MIXSTAGE__Q_BUTTERWORTH,
                               p[P_HIGH_GAIN], st->fs);
  else
    mixstage__biquad_identity(&st->sec[2]);

  double g = mixstage__db_to_gain(p[P_OUTPUT]);
  if (!st->primed) {
    st->g_prev = g;
  } else {
    int k = st->cell_pos;
    st->g_prev = k >= CF ? st->g_target
                         : st->g_prev + (st->g_target - st->g_prev) * (double)k / (double)CF;
  }
  st->g_target = g;
  st->primed = 1;
  st->cell_pos = 0;
  st->tail = mixstage__biquad_cascade_tail(st->sec, NSEC, st->fs);
  for (int k = 0; k < NSEC; k++)
    for (int c = 0; c < st->nch; c++)
      mixstage__biquad_lanes_set(st->bank[k], TILT_STRIDE, c, &st->sec[k]);
}

static void tilt_process(void *s, float *const *buf, int nch, int nframes,
                         const float *const *key, int key_nch) {
  (void)key;
  (void)key_nch;
  tilt_state *st = s;
  double gp = st->g_prev, gt = st->g_target;
  double *sec[NSEC] = {st->bank[0], st->bank[1], st->bank[2]};
  if (nch > st->nch) nch = st->nch;
  for (int done = 0; done < nframes;) {
    /* at most one flush interval per pass */
    int n = nframes - done, to_flush = CF - st->phase;
    if (n > to_flush) n = to_flush;
    double g[CF];
    for (int i = 0; i < n; i++) {
      int pos = st->cell_pos + done + i + 1;
      g[i] = pos >= CF ? gt : gp + (gt - gp) * (double)pos / (double)CF;
    }
    float *cb[MIXSTAGE_MAX_CHANNELS];
    for (int c = 0; c < nch; c++) cb[c] = buf[c] + done;
    mixstage__biquad_lanes_process(sec, NSEC, TILT_STRIDE, nch, cb, g, n, n == to_flush);
    st->phase = n == to_flush ? 0 : st->phase + n;
    done += n;
  }
  st->cell_pos += nframes;
  if (st->cell_pos >= CF) {
    st->cell_pos = CF;
    st->g_prev = st->g_target;
  }
}

static int64_t tilt_tail(const void *s) { return ((const tilt_state *)s)->tail; }

const mixstage__node_class mixstage__tilt_eq_class = {
    .name = "tilt_eq",
    .description = "Mastering EQ: first-order tilt, low and high shelves, output trim",
    .params = tilt_params,
    .num_params = P_COUNT,
    .state_size = sizeof(tilt_state),
    .init = tilt_init,
    .reset = tilt_reset,
    .update = tilt_update,
    .process = tilt_process,
    .tail = tilt_tail,
    .linear = 1,
    .max_frames = 8 * CF, /* a block: the passes cut at flush points, any count */
};
