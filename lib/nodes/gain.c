/* "gain": trim and polarity.  The reference example of a node class. */
#include "../node.h"

enum { P_GAIN, P_INVERT, P_COUNT };

static const mixstage_param_info gain_params[P_COUNT] = {
    {P_GAIN, "gain", "Gain", MIXSTAGE_UNIT_DB, -96.0, 36.0, 0.0, 1, NULL},
    {P_INVERT, "invert", "Invert polarity", MIXSTAGE_UNIT_BOOL, 0.0, 1.0, 0.0, 1, NULL},
};

typedef struct gain_state {
  float g_prev;   /* gain before the last update */
  float g_target; /* linear gain incl. polarity, from the last update */
  int cell_pos;   /* frames since the last update */
} gain_state;

static void gain_reset(void *s) {
  gain_state *st = s;
  st->g_prev = st->g_target;
  st->cell_pos = MIXSTAGE_CONTROL_FRAMES;
}

static void gain_update(void *s, const double *p) {
  gain_state *st = s;
  double g = mixstage__db_to_gain(p[P_GAIN]);
  st->g_prev = st->cell_pos >= MIXSTAGE_CONTROL_FRAMES
                   ? st->g_target
                   : st->g_prev + (st->g_target - st->g_prev) * (float)st->cell_pos /
                                      (float)MIXSTAGE_CONTROL_FRAMES;
  st->g_target = (float)(p[P_INVERT] >= 0.5 ? -g : g);
  st->cell_pos = 0;
}

static void gain_process(void *s, float *const *buf, int nch, int nframes, const float *const *key,
                         int key_nch) {
  (void)key;
  (void)key_nch;
  gain_state *st = s;
  if (st->cell_pos >= MIXSTAGE_CONTROL_FRAMES || st->g_prev == st->g_target) {
    float g = st->g_target;
    for (int c = 0; c < nch; c++)
      for (int i = 0; i < nframes; i++) buf[c][i] *= g;
  } else {
    /* Ramp across one control cell so a change never steps.  The gain at a
     * sample depends only on its position in the cell, so any split of the
     * block gives the same result. */
    float d = (st->g_target - st->g_prev) / (float)MIXSTAGE_CONTROL_FRAMES;
    for (int c = 0; c < nch; c++)
      for (int i = 0; i < nframes; i++) {
        int k = st->cell_pos + i + 1;
        float g = k >= MIXSTAGE_CONTROL_FRAMES ? st->g_target : st->g_prev + d * (float)k;
        buf[c][i] *= g;
      }
  }
  st->cell_pos += nframes;
  if (st->cell_pos > MIXSTAGE_CONTROL_FRAMES) st->cell_pos = MIXSTAGE_CONTROL_FRAMES;
}

const mixstage__node_class mixstage__gain_class = {
    .name = "gain",
    .description = "Trim gain and polarity inversion",
    .params = gain_params,
    .num_params = P_COUNT,
    .state_size = sizeof(gain_state),
    .reset = gain_reset,
    .update = gain_update,
    .process = gain_process,
    .linear = 1,
    .max_frames = 8 * MIXSTAGE_CONTROL_FRAMES, /* a block: the ramp follows the position, any count */
};
