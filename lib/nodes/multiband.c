/* "multiband": 3- or 4-band compressor on a Linkwitz-Riley crossover.
 *
 * Crossover.  Each split is an LR4 (two cascaded Butterworth Q = 1/sqrt(2)
 * sections, -6.02 dB at the corner).  An LR4 pair sums to the second-order
 * all-pass A(s) = (s^2 - sqrt2 s + 1)/(s^2 + sqrt2 s + 1), since
 * 1 + s^4 = (s^2 + sqrt2 s + 1)(s^2 - sqrt2 s + 1) (Linkwitz & Riley, JAES
 * 1976).  The bands are split as a tree and the lower bands are passed
 * through the all-pass of every split they skip, so the bands sum to a pure
 * all-pass and the magnitude is flat to numerical precision:
 *
 *   3 bands:  low = A2 L1 x      mid = L2 H1 x      high = H2 H1 x
 *             sum = A2 L1 + (L2 + H2) H1 = A2 (L1 + H1) = A2 A1
 *   4 bands:  low = A3 A2 L1 x   lm = A3 L2 H1 x   hm = L3 H2 H1 x
 *             high = H3 H2 H1 x  sum = A3 A2 A1
 *
 * (Lk/Hk: LR4 low/high-pass at crossover k; Ak: RBJ all-pass at crossover k
 * with Q = 1/sqrt(2), which is exactly Lk + Hk because both come from the
 * same bilinear transform pre-warped at the same corner.)
 *
 * Crossover order at run time: the lower crossover wins.  xover2 is raised to
 * at least 1.5 x xover1 and, with 4 bands, xover3 to at least 1.5 x xover2
 * (LR4 slopes closer than ~0.6 octave leave the band between them with no
 * passband).  Then the top crossover is capped at 0.45 fs and the lower ones
 * are pushed down to keep the 1.5 ratio, so any sample rate gets a valid
 * split.
 *
 * Dynamics per band (Giannoulis, Massberg & Reiss, JAES 2012: log-domain
 * feed-forward, soft knee, smooth branching ballistics in dB), using the
 * shared blocks of dsp/dynamics.h:
 *   - peak detector per channel with a hold window of 1.2 half-periods of the
 *     band's lowest frequency (20 Hz for the low band, the lower crossover
 *     otherwise), so a steady tone reads its crest without ripple;
 *   - stereo link within the band: each channel's level in dB is
 *     link * (max over channels) + (1 - link) * (its own level); at 100 %
 *     every channel gets the same gain, so the image does not shift;
 *   - soft-knee gain computer (threshold, ratio, knee shared by all bands);
 *   - attack/release ballistics on the gain reduction, per channel.
 * Band gain (make-up) and output ramp linearly across one 32-frame control
 * cell.  With no band compressing, every band gain at 0 dB and output 0 dB
 * the node is an all-pass.
 *
 * gain_reduction() reports the largest band GR (over bands and channels).
 */
#include <math.h>
#include "../node.h"
#include "../dsp/biquad.h"
#include "../dsp/dynamics.h"

#define NB_MAX 4
#define CF MIXSTAGE_CONTROL_FRAMES

enum { P_BANDS, P_XOVER1, P_XOVER2, P_XOVER3, P_BAND0 };
/* Per band, in this order: threshold, ratio, attack, release, gain. */
enum { B_THRESHOLD, B_RATIO, B_ATTACK, B_RELEASE, B_GAIN, B_COUNT };
#define PB(k, f) (P_BAND0 + (k) * B_COUNT + (f))
enum { P_KNEE = PB(NB_MAX, 0), P_LINK, P_OUTPUT, P_COUNT };

#define BAND_PARAMS(k)                                                                          \
  {PB(k - 1, B_THRESHOLD), "band" #k "_threshold", "Band " #k " threshold", MIXSTAGE_UNIT_DB,    \
   -60.0, 0.0, -18.0, 1, NULL},                                                                 \
  {PB(k - 1, B_RATIO), "band" #k "_ratio", "Band " #k " ratio", MIXSTAGE_UNIT_RATIO, 1.0, 20.0,  \
   2.0, 1, NULL},                                                                               \
  {PB(k - 1, B_ATTACK), "band" #k "_attack", "Band " #k " attack", MIXSTAGE_UNIT_MS, 0.1, 500.0, \
   10.0, 1, NULL},                                                                              \
  {PB(k - 1, B_RELEASE), "band" #k "_release", "Band " #k " release", MIXSTAGE_UNIT_MS, 5.0,     \
   5000.0, 150.0, 1, NULL},                                                                     \
  {PB(k - 1, B_GAIN), "band" #k "_gain", "Band " #k " gain", MIXSTAGE_UNIT_DB, -18.0, 18.0, 0.0, \
   1, NULL}

static const mixstage_param_info mb_params[P_COUNT] = {
    {P_BANDS, "bands", "Bands", MIXSTAGE_UNIT_ENUM, 0.0, 1.0, 0.0, 0, "3|4"},
    {P_XOVER1, "xover1", "Crossover 1", MIXSTAGE_UNIT_HZ, 20.0, 1000.0, 120.0, 1, NULL},
    {P_XOVER2, "xover2", "Crossover 2", MIXSTAGE_UNIT_HZ, 200.0, 8000.0, 1000.0, 1, NULL},
    {P_XOVER3, "xover3", "Crossover 3 (4 bands)", MIXSTAGE_UNIT_HZ, 1000.0, 16000.0, 6000.0, 1,
     NULL},
    BAND_PARAMS(1),
    BAND_PARAMS(2),
    BAND_PARAMS(3),
    BAND_PARAMS(4),
    {P_KNEE, "knee", "Knee", MIXSTAGE_UNIT_DB, 0.0, 24.0, 6.0, 1, NULL},
    {P_LINK, "link", "Stereo link", MIXSTAGE_UNIT_PERCENT, 0.0, 100.0, 100.0, 1, NULL},
    {P_OUTPUT, "output", "Output", MIXSTAGE_UNIT_DB, -18.0, 18.0, 0.0, 1, NULL},
};

/* Minimum ratio between adjacent crossovers, and the top corner / fs. */
#define XOVER_SPACING 1.5
#define XOVER_TOP 0.45

/* Filter memory of one channel. */
typedef struct mb_chan {
  mixstage__biquad_state lp[3][2], hp[3][2]; /* LR4 pairs at crossovers 1..3 */
  mixstage__biquad_state ap2_lo, ap3_lo, ap3_lm;
} mb_chan;

typedef struct mb_ramp {
  double prev, target;
} mb_ramp;

typedef struct mb_state {
  double fs;
  int nb;         /* 3 or 4 */
  double xf[3];   /* effective crossover frequencies */
  mixstage__biquad lp[3][2], hp[3][2], ap[3];
  double thr[NB_MAX], ratio[NB_MAX], knee, link;
  float knee_lo[NB_MAX]; /* amplitude of thr - knee/2: below it GR is 0 */
  mb_ramp band_gain[NB_MAX], out_gain;
  int cell_pos, primed;
  mixstage__peak_det det[NB_MAX][MIXSTAGE_MAX_CHANNELS];
  mixstage__comp_ballistics bal[NB_MAX][MIXSTAGE_MAX_CHANNELS];
  mb_chan ch[MIXSTAGE_MAX_CHANNELS];
  float gr_max;
  int64_t tail;
} mb_state;

static double ramp_at(const mb_ramp *r, int k) {
  return k >= CF ? r->target : r->prev + (r->target - r->prev) * (double)k / (double)CF;
}

static void ramp_set(mb_ramp *r, int cell_pos, double v, int jump) {
  r->prev = jump ? v : ramp_at(r, cell_pos);
  r->target = v;
}


static void reset_split(mb_chan *c, int k) {
  for (int j = 0; j < 2; j++) {
    mixstage__biquad_reset(&c->lp[k][j]);
    mixstage__biquad_reset(&c->hp[k][j]);
  }
}

static int mb_init(void *s, const mixstage__node_env *env) {
  mb_state *st = s;
  st->fs = env->sample_rate;
  st->nb = 3;
  st->cell_pos = CF;
  return MIXSTAGE_OK;
}

static void mb_reset(void *s) {
  mb_state *st = s;
  for (int c = 0; c < MIXSTAGE_MAX_CHANNELS; c++) {
    mb_chan *ch = &st->ch[c];
    for (int k = 0; k < 3; k++) reset_split(ch, k);
    mixstage__biquad_reset(&ch->ap2_lo);
    mixstage__biquad_reset(&ch->ap3_lo);
    mixstage__biquad_reset(&ch->ap3_lm);
    for (int b = 0; b < NB_MAX; b++) {
      mixstage__peak_det_reset(&st->det[b][c]);
      mixstage__comp_ballistics_reset(&st->bal[b][c]);
    }
  }
  for (int b = 0; b < NB_MAX; b++) st->band_gain[b].prev = st->band_gain[b].target;
  st->out_gain.prev = st->out_gain.target;
  st->cell_pos = CF;
  st->gr_max = 0.0f;
}

static void mb_update(void *s, const double *p) {
  mb_state *st = s;
  int nb = p[P_BANDS] >= 0.5 ? 4 : 3;
  if (st->primed && nb != st->nb) {
    /* The sections only the 4-band tree uses start from rest when they come
     * in; the band that is split or merged keeps its memory. */
    for (int c = 0; c < MIXSTAGE_MAX_CHANNELS; c++) {
      reset_split(&st->ch[c], 2);
      mixstage__biquad_reset(&st->ch[c].ap3_lo);
      mixstage__biquad_reset(&st->ch[c].ap3_lm);
      mixstage__peak_det_reset(&st->det[3][c]);
      mixstage__comp_ballistics_reset(&st->bal[3][c]);
    }
  }
  st->nb = nb;

  /* Keep the crossovers ordered (see the header comment). */
  double f1 = p[P_XOVER1], f2 = p[P_XOVER2], f3 = p[P_XOVER3];
  double top = XOVER_TOP * st->fs;
  if (f2 < XOVER_SPACING * f1) f2 = XOVER_SPACING * f1;
  if (nb == 4) {
    if (f3 < XOVER_SPACING * f2) f3 = XOVER_SPACING * f2;
    if (f3 > top) f3 = top;
    if (f2 > f3 / XOVER_SPACING) f2 = f3 / XOVER_SPACING;
  } else if (f2 > top) {
    f2 = top;
  }
  if (f1 > f2 / XOVER_SPACING) f1 = f2 / XOVER_SPACING;
  st->xf[0] = f1;
  st->xf[1] = f2;
  st->xf[2] = f3;
  for (int k = 0; k < nb - 1; k++) {
    mixstage__linkwitz_riley(st->lp[k], 4, 0, st->xf[k], st->fs);
    mixstage__linkwitz_riley(st->hp[k], 4, 1, st->xf[k], st->fs);
    mixstage__biquad_allpass(&st->ap[k], st->xf[k], MIXSTAGE__Q_BUTTERWORTH, st->fs);
  }

  int jump = !st->primed;
  for (int b = 0; b < NB_MAX; b++) {
    st->thr[b] = p[PB(b, B_THRESHOLD)];
    st->ratio[b] = p[PB(b, B_RATIO)];
    /* Hold window: 1.2 half-periods of the band's lowest frequency. */
    double flo = b == 0 ? 20.0 : st->xf[b - 1];
    double hold_ms = 600.0 / flo;
    for (int c = 0; c < MIXSTAGE_MAX_CHANNELS; c++) {
      mixstage__peak_det_set(&st->det[b][c], hold_ms, st->fs);
      mixstage__comp_ballistics_set(&st->bal[b][c], p[PB(b, B_ATTACK)], p[PB(b, B_RELEASE)], 0,
                                    st->fs);
    }
    ramp_set(&st->band_gain[b], st->cell_pos, mixstage__db_to_gain(p[PB(b, B_GAIN)]), jump);
  }
  st->knee = p[P_KNEE];
  for (int b = 0; b < NB_MAX; b++)
    st->knee_lo[b] = (float)mixstage__db_to_gain(st->thr[b] - 0.5 * st->knee);
  st->link = p[P_LINK] * 0.01;
  ramp_set(&st->out_gain, st->cell_pos, mixstage__db_to_gain(p[P_OUTPUT]), jump);
  st->tail = mixstage__biquad_cascade_tail(st->lp[0], 2, st->fs);
  st->primed = 1;
  st->cell_pos = 0;
}

/* Splits one sample into nb bands (see the tree in the header comment). */
static inline void mb_split(const mb_state *st, mb_chan *ch, double x, double *v) {
  double lo = x, r = x;
  for (int j = 0; j < 2; j++) lo = mixstage__biquad_tick(&st->lp[0][j], &ch->lp[0][j], lo);
  for (int j = 0; j < 2; j++) r = mixstage__biquad_tick(&st->hp[0][j], &ch->hp[0][j], r);
  lo = mixstage__biquad_tick(&st->ap[1], &ch->ap2_lo, lo);
  double m = r, h = r;
  for (int j = 0; j < 2; j++) m = mixstage__biquad_tick(&st->lp[1][j], &ch->lp[1][j], m);
  for (int j = 0; j < 2; j++) h = mixstage__biquad_tick(&st->hp[1][j], &ch->hp[1][j], h);
  if (st->nb == 3) {
    v[0] = lo;
    v[1] = m;
    v[2] = h;
    return;
  }
  lo = mixstage__biquad_tick(&st->ap[2], &ch->ap3_lo, lo);
  m = mixstage__biquad_tick(&st->ap[2], &ch->ap3_lm, m);
  double hm = h, hh = h;
  for (int j = 0; j < 2; j++) hm = mixstage__biquad_tick(&st->lp[2][j], &ch->lp[2][j], hm);
  for (int j = 0; j < 2; j++) hh = mixstage__biquad_tick(&st->hp[2][j], &ch->hp[2][j], hh);
  v[0] = lo;
  v[1] = m;
  v[2] = hm;
  v[3] = hh;
}

static void mb_process(void *s, float *const *buf, int nch, int nframes, const float *const *key,
                       int key_nch) {
  (void)key;
  (void)key_nch;
  mb_state *st = s;
  const int nb = st->nb;
  const double link = st->link;
  double v[MIXSTAGE_MAX_CHANNELS][NB_MAX];
  double acc[MIXSTAGE_MAX_CHANNELS];
  double lvl[MIXSTAGE_MAX_CHANNELS];

  float grm = 0.0f; /* largest GR of the last frame */
  for (int i = 0; i < nframes; i++) {
    const int k = st->cell_pos + i + 1;
    grm = 0.0f;
    for (int c = 0; c < nch; c++) {
      mb_split(st, &st->ch[c], (double)buf[c][i], v[c]);
      acc[c] = 0.0;
    }
    for (int b = 0; b < nb; b++) {
      /* Peak levels, and the linked level. */
      float amax = 0.0f;
      for (int c = 0; c < nch; c++) {
        float a = mixstage__peak_det_run(&st->det[b][c], (float)fabs(v[c][b]));
        lvl[c] = a;
        if (a > amax) amax = a;
      }
      const double mk = ramp_at(&st->band_gain[b], k);
      /* The linked level never exceeds the loudest channel's, so below the
       * knee no channel has a GR target: skip the logarithms. */
      const int quiet = amax <= st->knee_lo[b];
      const double max_db = quiet ? -600.0 : mixstage__dyn_amp_to_db(amax);
      for (int c = 0; c < nch; c++) {
        double target = 0.0;
        if (!quiet) {
          double x_db =
              link >= 1.0 ? max_db : link * max_db + (1.0 - link) * mixstage__dyn_amp_to_db(lvl[c]);
          target = mixstage__dyn_compress_gr(x_db, st->thr[b], st->ratio[b], st->knee);
        }
        double gr = mixstage__comp_ballistics_run(&st->bal[b][c], target);
        double g = gr > 0.0 ? mk * mixstage__dyn_gr_to_gain(gr) : mk;
        acc[c] += g * v[c][b];
        if (gr > grm) grm = (float)gr;
      }
    }
    const double go = ramp_at(&st->out_gain, k);
    for (int c = 0; c < nch; c++) buf[c][i] = (float)(go * acc[c]);
  }

  st->gr_max = grm;

  st->cell_pos += nframes;
  if (st->cell_pos >= CF) {
    st->cell_pos = CF;
    for (int b = 0; b < NB_MAX; b++) st->band_gain[b].prev = st->band_gain[b].target;
    st->out_gain.prev = st->out_gain.target;
  }
}

static int64_t mb_tail(const void *s) { return ((const mb_state *)s)->tail; }

static float mb_gain_reduction(const void *s) { return ((const mb_state *)s)->gr_max; }

const mixstage__node_class mixstage__multiband_class = {
    .name = "multiband",
    .description = "3/4-band compressor on phase-compensated Linkwitz-Riley LR4 crossovers",
    .params = mb_params,
    .num_params = P_COUNT,
    .state_size = sizeof(mb_state),
    .init = mb_init,
    .reset = mb_reset,
    .update = mb_update,
    .process = mb_process,
    .tail = mb_tail,
    .gain_reduction = mb_gain_reduction,
};
