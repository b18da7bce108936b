/* "width": mid/side stereo width with bass mono.
 *
 * M = (L + R) / 2, S = (L - R) / 2; the side is scaled by width / 100
 * (0 % = mono, 100 % = unchanged, 200 % = side doubled) and recombined as
 * L = M + S', R = M - S'.  Bass mono removes the side below bass_mono_freq
 * with a Linkwitz-Riley 4th-order high-pass on S only: the mid is never
 * filtered, so the centre (kick, bass, vocal) keeps its phase, and what is
 * removed from S is exactly its LR4 low-pass complement.
 *
 * Channel layouts: the width matrix acts on the first two channels (front
 * L/R); further channels (centre, LFE, surrounds) pass unchanged.  A mono
 * buffer passes unchanged.  The output trim applies to every channel.
 *
 * Exactness: at width 100 % with bass mono off the matrix is the identity and
 * the node is bit-transparent (the samples are not touched; M + S can differ
 * from L by one double ulp of the louder channel when L and R are more than
 * ~170 dB apart, so the identity is not computed).  At 0 % both outputs are
 * the same double M rounded once, so L == R exactly.
 *
 * Parameter moves: width, the bass-mono switch (as a 0..1 blend between S and
 * HP(S)) and the output gain ramp linearly across one 32-frame control cell,
 * as in gain.c, so automation never steps.  The side high-pass runs all the
 * time so switching bass mono on finds its state warm.
 */
#include <math.h>
#include "../node.h"
#include "../dsp/biquad.h"

enum { P_WIDTH, P_BASS_MONO, P_BASS_FREQ, P_OUTPUT, P_COUNT };

static const mixstage_param_info width_params[P_COUNT] = {
    {P_WIDTH, "width", "Width", MIXSTAGE_UNIT_PERCENT, 0.0, 200.0, 100.0, 1, NULL},
    {P_BASS_MONO, "bass_mono", "Bass mono", MIXSTAGE_UNIT_BOOL, 0.0, 1.0, 0.0, 1, NULL},
    {P_BASS_FREQ, "bass_mono_freq", "Bass mono below", MIXSTAGE_UNIT_HZ, 20.0, 500.0, 120.0, 1,
     NULL},
    {P_OUTPUT, "output", "Output", MIXSTAGE_UNIT_DB, -18.0, 18.0, 0.0, 1, NULL},
};

#define CF MIXSTAGE_CONTROL_FRAMES

/* A value ramped linearly across one control cell: at frame k (1..CF) of the
 * cell it is prev + (target - prev) k / CF, so it depends only on the
 * position in the cell, never on how the block was split. */
typedef struct ramp {
  double prev, target;
} ramp;

static double ramp_at(const ramp *r, int k) {
  return k >= CF ? r->target : r->prev + (r->target - r->prev) * (double)k / (double)CF;
}

static void ramp_set(ramp *r, int cell_pos, double v, int jump) {
  r->prev = jump ? v : ramp_at(r, cell_pos);
  r->target = v;
}

typedef struct width_state {
  double fs;
  mixstage__biquad hp[2];          /* LR4 high-pass on the side */
  mixstage__biquad_state side[2];  /* its memory */
  ramp w, blend, gain;
  int cell_pos; /* frames since the last update, capped at CF */
  int primed;   /* first update sets values without a ramp */
  int64_t tail;
} width_state;

static int width_init(void *s, const mixstage__node_env *env) {
  width_state *st = s;
  st->fs = env->sample_rate;
  st->cell_pos = CF;
  st->primed = 0;
  mixstage__biquad_identity(&st->hp[0]);
  mixstage__biquad_identity(&st->hp[1]);
  return MIXSTAGE_OK;
}

static void width_reset(void *s) {
  width_state *st = s;
  mixstage__biquad_reset(&st->side[0]);
  mixstage__biquad_reset(&st->side[1]);
  st->w.prev = st->w.target;
  st->blend.prev = st->blend.target;
  st->gain.prev = st->gain.target;
  st->cell_pos = CF;
}

static void width_update(void *s, const double *p) {
  width_state *st = s;
  int jump = !st->primed;
  ramp_set(&st->w, st->cell_pos, p[P_WIDTH] * 0.01, jump);
  ramp_set(&st->blend, st->cell_pos, p[P_BASS_MONO] >= 0.5 ? 1.0 : 0.0, jump);
  ramp_set(&st->gain, st->cell_pos, mixstage__db_to_gain(p[P_OUTPUT]), jump);
  mixstage__linkwitz_riley(st->hp, 4, 1, p[P_BASS_FREQ], st->fs);
  st->tail = p[P_BASS_MONO] >= 0.5 ? mixstage__biquad_cascade_tail(st->hp, 2, st->fs) : 0;
  st->primed = 1;
  st->cell_pos = 0;
}

static void width_run(width_state *st, float *const *buf, int nch, int nframes) {
  int unity_gain = st->gain.prev == 1.0 && st->gain.target == 1.0;
  if (nch >= 2) {
    float *l = buf[0], *r = buf[1];
    /* The identity: keep the side filter running, leave the samples alone. */
    int identity = unity_gain && st->w.prev == 1.0 && st->w.target == 1.0 &&
                   st->blend.prev == 0.0 && st->blend.target == 0.0;
    for (int i = 0; i < nframes; i++) {
      int k = st->cell_pos + i + 1;
      double x0 = l[i], x1 = r[i];
      double m = 0.5 * (x0 + x1), sd = 0.5 * (x0 - x1);
      double hs = mixstage__biquad_tick(&st->hp[1], &st->side[1],
                                        mixstage__biquad_tick(&st->hp[0], &st->side[0], sd));
      if (identity) continue;
      double b = ramp_at(&st->blend, k), w = ramp_at(&st->w, k), g = ramp_at(&st->gain, k);
      double so = w * (sd + b * (hs - sd));
      l[i] = (float)(g * (m + so));
      r[i] = (float)(g * (m - so));
    }
  }
  int first = nch >= 2 ? 2 : 0;
  if (!unity_gain) {
    for (int c = first; c < nch; c++)
      for (int i = 0; i < nframes; i++)
        buf[c][i] = (float)(ramp_at(&st->gain, st->cell_pos + i + 1) * buf[c][i]);
  }
  st->cell_pos += nframes;
  if (st->cell_pos >= CF) {
    /* The cell is over: every ramp now sits at its target. */
    st->cell_pos = CF;
    st->w.prev = st->w.target;
    st->blend.prev = st->blend.target;
    st->gain.prev = st->gain.target;
  }
}

/* Any number of frames (max_frames): while the ramps run (the cell update()
 * was called at) a pass reaches only to that cell's end, where they come to
 * rest and the identity and unity tests may change, as a call per cell
 * would see them. */
static void width_process(void *s, float *const *buf, int nch, int nframes,
                          const float *const *key, int key_nch) {
  (void)key;
  (void)key_nch;
  width_state *st = s;
  int first = CF - st->cell_pos;
  if (first <= 0 || first >= nframes) {
    width_run(st, buf, nch, nframes);
    return;
  }
  float *rest[MIXSTAGE_MAX_CHANNELS];
  for (int c = 0; c < nch && c < MIXSTAGE_MAX_CHANNELS; c++) rest[c] = buf[c] + first;
  width_run(st, buf, nch, first);
  width_run(st, rest, nch, nframes - first);
}

static int64_t width_tail(const void *s) { return ((const width_state *)s)->tail; }

const mixstage__node_class mixstage__width_class = {
    .name = "width",
    .description = "Mid/side stereo width with bass mono (LR4 high-pass on the side)",
    .params = width_params,
    .num_params = P_COUNT,
    .state_size = sizeof(width_state),
    .init = width_init,
    .reset = width_reset,
    .update = width_update,
    .process = width_process,
    .tail = width_tail,
    .linear = 1,
    .max_frames = 8 * CF, /* a block: width_process stops a pass where the ramps end */
};
