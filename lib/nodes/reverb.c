/* "reverb": an algorithmic reverb for music, built as a feedback delay
 * network (FDN).
 *
 * Signal flow (per sample):
 *
 *   in[0..nch-1] --mean--> pre-delay line --+--> early-reflection taps (per
 *                                            |    output channel) ----------+
 *                                            +--> 4 series all-passes       |
 *                                                 (input diffusion)         |
 *                                                      |                    |
 *                                  16-line FDN <-------+                    |
 *              (time-varying orthogonal feedback, Jot absorption)           |
 *                                      |                                    |
 *                              late taps per channel --> early/late mix <---+
 *                                                             |
 *                                                  width (mid/side) -> dry/wet
 *
 * The late reverb follows Jot & Chaigne, "Digital delay networks for
 * designing artificial reverberators" (AES 90th convention, 1991): a lossless
 * prototype (delay lines closed through an orthogonal matrix, here the 16x16
 * Sylvester-Hadamard matrix scaled by 1/4) made lossy by a gain per line,
 *     g_i = 10^(-3 L_i / (RT60 fs)),
 * so every recirculation through line i loses exactly 60 L_i / (RT60 fs) dB
 * and every mode decays by 60 dB in RT60 seconds whatever its line.  The
 * frequency dependence of RT60 uses the same rule in dB: two first-order
 * shelves per line whose dB gains are proportional to L_i, so the ratio of
 * decay times is the same for every line:
 *   - above damping_high the decay time falls towards REV_HIGH_RATIO x decay
 *     (0.4: the "HF ratio" of a hall; at damping_high itself the dB loss per
 *     pass is midway, i.e. RT60 = decay / (1 + (1/0.4 - 1)/2) = 0.57 x decay);
 *   - below damping_low the decay time falls towards REV_LOW_RATIO x decay
 *     (0.6: shortened lows keep a mix clean of low-frequency build-up, which
 *     is what a mix engineer otherwise high-passes the return for; at
 *     damping_low itself RT60 = 0.75 x decay).
 * Every gain is <= 1 at every frequency (first-order shelves with a cut are
 * monotone, the feedback matrix is orthogonal at every instant), so the loop
 * gain is < 1 by construction for every parameter value.
 *
 * Line lengths are 16 primes (hence mutually prime, so no two lines share
 * a mode series) spread geometrically between 38 and 112 ms at size 100 %,
 * scaled by 0.25 + 0.75 size.
 *
 * Modulation (against the metallic ringing of a static FDN) is a
 * time-varying feedback matrix, after Schlecht & Habets, "Time-varying
 * feedback matrices in feedback delay networks and their application in
 * artificial reverberation", JASA 138(3), 2015: before the Hadamard matrix,
 * lines i and i + 8 pass through a Givens rotation whose angle turns slowly
 * (eight distinct rates, 0.55 .. 1.45 x REV_ROT_MAX_HZ x modulation).  The
 * product of orthogonal matrices stays orthogonal, so unlike modulated
 * delay-line reads (whose interpolation loses high frequencies on every
 * pass and shortens the HF decay, by ~0.4 dB per pass at 10 kHz for a cubic
 * Lagrange read) this keeps the decay exactly as set at every frequency and
 * the line lengths integer; the slowly exchanged energy smears each mode
 * over a band of about the rotation rate.
 *
 * Channels: the input is summed to mono (mean of all channels).  Output
 * channel c (0..15) taps the 16 lines with the signs of row c of the
 * Hadamard matrix times a fixed sign pattern, so all 16 possible outputs are
 * mutually orthogonal mixes of the lines: the late tails of any two channels
 * are decorrelated, for any channel count.  Early reflections use a separate
 * pseudo-random tap pattern per output channel (seeded by the channel
 * index).  Width works on the wet signal around the mean of the channels:
 *     wet_c = mid + w (wet_c - mid),  mid = mean_c(wet_c),
 * which for two channels is plain mid/side with side gain w (0..2).
 *
 * Parameters (id: name, unit, range, default):
 *   0 predelay      ms       0 .. 250    20   before early and late parts
 *   1 size          %        0 .. 100    60   line lengths x (0.25 + 0.75 size)
 *   2 decay         s      0.1 .. 30    2.0   RT60 between the damping corners
 *   3 damping_high  Hz    1000 .. 20000 8000  above: RT60 -> 0.4 x decay
 *   4 damping_low   Hz      20 .. 1000  150   below: RT60 -> 0.6 x decay
 *   5 diffusion     %        0 .. 100    75   all-pass coefficients 0.75/0.625 x
 *   6 width         %        0 .. 200   100   side gain of the wet signal
 *   7 early         %        0 .. 100    30   equal-power balance: 0 = late only,
 *                                             100 = early reflections only
 *   8 mix           %        0 .. 100   100   linear dry/wet crossfade
 *   9 modulation    %        0 .. 100    20   feedback-matrix rotation rate
 *                                             (0 = static, 100 = 0.8 .. 2.2 Hz)
 * Levels: a full-scale impulse gives early reflections of unit energy per
 * channel; the late field has the energy of a lossy orthonormal network
 * (it grows with decay, like a room's reverberant level).  Pre-delay and
 * size are not automatable (moving a read point or re-tuning the lines
 * mid-sound would click); they are set-up controls.
 */
#include <math.h>
#include <string.h>
#include "../node.h"
#include "../dsp/biquad.h"

enum {
  P_PREDELAY,
  P_SIZE,
  P_DECAY,
  P_DAMP_HIGH,
  P_DAMP_LOW,
  P_DIFFUSION,
  P_WIDTH,
  P_EARLY,
  P_MIX,
  P_MODULATION,
  P_COUNT
};

static const mixstage_param_info reverb_params[P_COUNT] = {
    /* Pre-delay and size move read points or re-tune the network: they
     * are set-up controls, not automation targets (a jump would click). */
    {P_PREDELAY, "predelay", "Pre-delay", MIXSTAGE_UNIT_MS, 0.0, 250.0, 20.0, 0, NULL},
    {P_SIZE, "size", "Size", MIXSTAGE_UNIT_PERCENT, 0.0, 100.0, 60.0, 0, NULL},
    {P_DECAY, "decay", "Decay time (RT60)", MIXSTAGE_UNIT_SECONDS, 0.1, 30.0, 2.0, 1, NULL},
    {P_DAMP_HIGH, "damping_high", "High damping", MIXSTAGE_UNIT_HZ, 1000.0, 20000.0, 8000.0, 1,
     NULL},
    {P_DAMP_LOW, "damping_low", "Low damping", MIXSTAGE_UNIT_HZ, 20.0, 1000.0, 150.0, 1, NULL},
    {P_DIFFUSION, "diffusion", "Diffusion", MIXSTAGE_UNIT_PERCENT, 0.0, 100.0, 75.0, 1, NULL},
    {P_WIDTH, "width", "Width", MIXSTAGE_UNIT_PERCENT, 0.0, 200.0, 100.0, 1, NULL},
    {P_EARLY, "early", "Early/late balance", MIXSTAGE_UNIT_PERCENT, 0.0, 100.0, 30.0, 1, NULL},
    {P_MIX, "mix", "Dry/wet", MIXSTAGE_UNIT_PERCENT, 0.0, 100.0, 100.0, 1, NULL},
    {P_MODULATION, "modulation", "Modulation", MIXSTAGE_UNIT_PERCENT, 0.0, 100.0, 20.0, 1, NULL},
};

#define REV_PI 3.14159265358979323846
#define REV_LINES 16
#define REV_AP 4
#define REV_ER_TAPS 12
#define REV_HIGH_RATIO 0.4
#define REV_LOW_RATIO 0.6
#define REV_LINE_MIN_MS 38.0
#define REV_LINE_MAX_MS 112.0
/* Rotation rate (Hz) of the feedback matrix at modulation 100 %. */
#define REV_ROT_MAX_HZ 1.5
#define REV_ER_MIN_MS 2.0
#define REV_ER_SPAN_MS 78.0
#define REV_PREDELAY_MAX_MS 250.0
/* Late output gain.  The late energy per channel grows with the decay
 * (about (g^2 / (1 - g^2)) / 16 of the input energy with orthonormal taps);
 * with 2.0 a full-scale impulse gives -5 dB at the default 2 s / 60 %
 * (-14.6 dB at 0.5 s, +0.6 dB at 6 s), so at the default 30 % balance the
 * early reflections (unit energy) and the late field carry about equal
 * energy. */
#define REV_LATE_GAIN 2.0f
/* Values below this are flushed to zero in the feedback paths, so a silent
 * input ends in exact zeros rather than float denormals (-400 dBFS: far
 * below anything audible or measurable). */
#define REV_FLUSH 1e-20f

/* Schroeder all-pass diffuser lengths (ms): mutually prime-ish, not scaled
 * by size so small rooms stay dense.  Their coefficients scale with
 * diffusion; the later (longer) stages use a smaller one. */
static const double rev_ap_ms[REV_AP] = {4.77, 3.59, 12.73, 9.30};
static const double rev_ap_coef[REV_AP] = {0.75, 0.75, 0.625, 0.625};

typedef struct ramp {
  float prev, target;
} ramp;

typedef struct reverb_state {
  double fs;
  int nch;
  float *mem;

  float *pre; /* pre-delay + early-reflection line, power-of-two size */
  int pre_mask, pre_wp;

  float *ap[REV_AP];
  int ap_len[REV_AP], ap_pos[REV_AP];
  float ap_g[REV_AP];

  float *line[REV_LINES]; /* FDN lines, each line_mask + 1 long */
  int line_mask, line_wp;
  int len[REV_LINES];
  /* Per line: the mid-band gain and the two first-order shelves (b2 = a2
   * = 0), structure of arrays so one vector runs two lines.  Their memory
   * is flushed below MIXSTAGE__BQL_FLUSH every MIXSTAGE_CONTROL_FRAMES
   * frames counted from reset (biquad.h says why that is enough). */
  double gmid[REV_LINES];
  double lo_b0[REV_LINES], lo_b1[REV_LINES], lo_a1[REV_LINES], lo_s[REV_LINES];
  double hi_b0[REV_LINES], hi_b1[REV_LINES], hi_a1[REV_LINES], hi_s[REV_LINES];
  int phase;

  /* Givens rotation of lines (k, k + 8): angle phasor and its per-sample
   * increment. */
  double rot_c[REV_LINES / 2], rot_s[REV_LINES / 2];
  double rot_cw[REV_LINES / 2], rot_sw[REV_LINES / 2];

  /* Late taps, line-major: tap[i][c] is line i's sign and gain in output
   * channel c (channels padded to whole vectors). */
  double tap[REV_LINES][MIXSTAGE__LANE_PAD(MIXSTAGE_MAX_CHANNELS)];
  float in_gain[REV_LINES];

  int predelay; /* frames */
  int er_pos[MIXSTAGE_MAX_CHANNELS][REV_ER_TAPS];
  float er_gain[MIXSTAGE_MAX_CHANNELS][REV_ER_TAPS];

  double size; /* last size the lengths were computed for; < 0: none */
  int64_t tail;

  ramp dry, early, late, width;
  int cell_pos;
  int primed; /* 0 until the first update: no ramp from silence then */
} reverb_state;

/* ---- helpers -------------------------------------------------------------- */

static int pow2_at_least(int n) {
  int p = 1;
  while (p < n) p <<= 1;
  return p;
}

static int is_prime(int n) {
  if (n < 2) return 0;
  if (n % 2 == 0) return n == 2;
  for (int d = 3; d * d <= n; d += 2)
    if (n % d == 0) return 0;
  return 1;
}

/* Smallest prime >= n.  Prime gaps below 2^31 are under 300, so the bound
 * never cuts a search short; it only makes the loop visibly finite. */
static int prime_at_least(int n) {
  for (int m = n; m < n + 1000; m++)
    if (is_prime(m)) return m;
  return n;
}

/* Sylvester-Hadamard sign: (-1)^popcount(r & c). */
static float hadamard_sign(int r, int c) {
  unsigned v = (unsigned)(r & c), p = 0;
  while (v) {
    p ^= 1u;
    v &= v - 1u;
  }
  return p ? -1.0f : 1.0f;
}

/* Deterministic xorshift32 in [0, 1). */
static double rnd01(uint32_t *s) {
  *s ^= *s << 13;
  *s ^= *s >> 17;
  *s ^= *s << 5;
  return (double)(*s >> 8) / 16777216.0;
}

static float ramp_at(const ramp *r, int k) {
  return k >= MIXSTAGE_CONTROL_FRAMES
             ? r->target
             : r->prev + (r->target - r->prev) * (float)k / (float)MIXSTAGE_CONTROL_FRAMES;
}

static void ramp_set(ramp *r, int cell_pos, float v) {
  r->prev = ramp_at(r, cell_pos);
  r->target = v;
}

static double size_scale(double size_pct) { return 0.25 + 0.75 * size_pct / 100.0; }

/* ---- lifecycle ------------------------------------------------------------ */

static int reverb_init(void *s, const mixstage__node_env *env) {
  reverb_state *st = s;
  memset(st, 0, sizeof *st);
  st->fs = env->sample_rate > 0.0 ? env->sample_rate : 48000.0;
  st->nch = env->channels;
  const double ms = st->fs / 1000.0;

  /* + one control cell: a block's input is written before its taps read */
  int pre_n = pow2_at_least(
      (int)ceil((REV_PREDELAY_MAX_MS + REV_ER_MIN_MS + REV_ER_SPAN_MS + 1.0) * ms) + 2 +
      MIXSTAGE_CONTROL_FRAMES);
  int ap_total = 0;
  for (int k = 0; k < REV_AP; k++) {
    st->ap_len[k] = (int)lround(rev_ap_ms[k] * ms);
    if (st->ap_len[k] < 1) st->ap_len[k] = 1;
    ap_total += st->ap_len[k];
  }
  /* Longest line; the prime search may add a few samples. */
  int line_n = pow2_at_least((int)ceil(REV_LINE_MAX_MS * ms) + 400);
  size_t total = (size_t)pre_n + (size_t)ap_total + (size_t)line_n * REV_LINES;
  st->mem = mixstage__calloc(env->alloc, total, sizeof(float));
  if (!st->mem) return MIXSTAGE_ENOMEM;

  float *p = st->mem;
  st->pre = p;
  st->pre_mask = pre_n - 1;
  p += pre_n;
  for (int k = 0; k < REV_AP; k++) {
    st->ap[k] = p;
    p += st->ap_len[k];
  }
  st->line_mask = line_n - 1;
  for (int i = 0; i < REV_LINES; i++) {
    st->line[i] = p;
    p += line_n;
  }

  /* Fixed sign patterns (from a seeded generator) decorrelate the input
   * injection from the output taps; unit energy overall (16 x 1/16). */
  uint32_t seed = 0x9E3779B9u;
  float dsign[REV_LINES];
  for (int i = 0; i < REV_LINES; i++) {
    dsign[i] = rnd01(&seed) < 0.5 ? -1.0f : 1.0f;
    st->in_gain[i] = (rnd01(&seed) < 0.5 ? -0.25f : 0.25f);
  }
  for (int c = 0; c < MIXSTAGE_MAX_CHANNELS; c++)
    for (int i = 0; i < REV_LINES; i++)
      st->tap[i][c] = 0.25f * REV_LATE_GAIN * hadamard_sign(c, i) * dsign[i];

  for (int k = 0; k < REV_LINES / 2; k++) st->rot_cw[k] = 1.0;
  st->size = -1.0;
  st->cell_pos = MIXSTAGE_CONTROL_FRAMES;
  return MIXSTAGE_OK;
}

static void reverb_fini(void *s, const mixstage__node_env *env) {
  reverb_state *st = s;
  mixstage__free(env->alloc, st->mem);
  st->mem = NULL;
}

static void reverb_reset(void *s) {
  reverb_state *st = s;
  size_t total = (size_t)(st->pre_mask + 1) + (size_t)(st->line_mask + 1) * REV_LINES;
  for (int k = 0; k < REV_AP; k++) total += (size_t)st->ap_len[k];
  memset(st->mem, 0, total * sizeof(float));
  st->pre_wp = 0;
  st->line_wp = 0;
  for (int k = 0; k < REV_AP; k++) st->ap_pos[k] = 0;
  st->phase = 0;
  for (int i = 0; i < REV_LINES; i++) {
    st->lo_s[i] = 0.0;
    st->hi_s[i] = 0.0;
  }
  /* Start angles on the golden angle so no two rotations move together. */
  for (int k = 0; k < REV_LINES / 2; k++) {
    st->rot_c[k] = cos(2.399963229728653 * k);
    st->rot_s[k] = sin(2.399963229728653 * k);
  }
  st->dry.prev = st->dry.target;
  st->early.prev = st->early.target;
  st->late.prev = st->late.target;
  st->width.prev = st->width.target;
  st->cell_pos = MIXSTAGE_CONTROL_FRAMES;
}

/* Line lengths and early-reflection pattern for a size.  Bounded work
 * (16 prime searches, 16 x 12 taps); only run when size moved. */
static void reverb_set_size(reverb_state *st, double size_pct) {
  const double ms = st->fs / 1000.0, sc = size_scale(size_pct);
  int prev = 0;
  for (int i = 0; i < REV_LINES; i++) {
    double l_ms =
        REV_LINE_MIN_MS * pow(REV_LINE_MAX_MS / REV_LINE_MIN_MS, (double)i / (REV_LINES - 1)) * sc;
    int n = (int)lround(l_ms * ms);
    if (n < 8) n = 8;
    if (n <= prev) n = prev + 1;
    st->len[i] = prime_at_least(n);
    prev = st->len[i];
  }
  /* Early reflections: taps denser towards the end (u^1.4 warps uniform
   * slots), jittered within their slot, amplitude falling as 1/distance
   * (t0/t), random signs; normalised to unit energy per channel. */
  for (int c = 0; c < MIXSTAGE_MAX_CHANNELS; c++) {
    uint32_t seed = 0x2545F491u ^ (uint32_t)(c * 0x68E31DA4u + 1u);
    double e = 0.0, g[REV_ER_TAPS];
    for (int k = 0; k < REV_ER_TAPS; k++) {
      double u = ((double)k + 0.15 + 0.7 * rnd01(&seed)) / REV_ER_TAPS;
      double t_ms = REV_ER_MIN_MS + REV_ER_SPAN_MS * sc * pow(u, 1.4);
      int pos = (int)lround(t_ms * ms);
      st->er_pos[c][k] = pos < 1 ? 1 : pos;
      g[k] = (REV_ER_MIN_MS / t_ms) * (rnd01(&seed) < 0.5 ? -1.0 : 1.0);
      e += g[k] * g[k];
    }
    for (int k = 0; k < REV_ER_TAPS; k++) st->er_gain[c][k] = (float)(g[k] / sqrt(e));
  }
  st->size = size_pct;
}

static void reverb_update(void *s, const double *praw) {
  /* Defensive: the engine validates values, but an out-of-range or NaN
   * value must never reach the buffers' bounds or the loop gain. */
  double p[P_COUNT];
  for (int i = 0; i < P_COUNT; i++) {
    double v = praw[i];
    const mixstage_param_info *pi = &reverb_params[i];
    p[i] = v != v ? pi->def : v < pi->min ? pi->min : v > pi->max ? pi->max : v;
  }
  reverb_state *st = s;
  const double fs = st->fs;
  if (p[P_SIZE] != st->size) reverb_set_size(st, p[P_SIZE]);

  st->predelay = (int)lround(p[P_PREDELAY] * fs / 1000.0);
  double rt = p[P_DECAY] < 0.1 ? 0.1 : p[P_DECAY];
  for (int i = 0; i < REV_LINES; i++) {
    /* Jot: -60 dB per RT60 seconds, i.e. -60 L/(RT60 fs) dB per pass. */
    double a_db = -60.0 * st->len[i] / (rt * fs);
    st->gmid[i] = pow(10.0, a_db / 20.0);
    mixstage__biquad hi, lo;
    mixstage__biquad_highshelf1(&hi, p[P_DAMP_HIGH], a_db * (1.0 / REV_HIGH_RATIO - 1.0), fs);
    mixstage__biquad_lowshelf1(&lo, p[P_DAMP_LOW], a_db * (1.0 / REV_LOW_RATIO - 1.0), fs);
    st->hi_b0[i] = hi.b0;
    st->hi_b1[i] = hi.b1;
    st->hi_a1[i] = hi.a1;
    st->lo_b0[i] = lo.b0;
    st->lo_b1[i] = lo.b1;
    st->lo_a1[i] = lo.a1;
  }
  double diff = p[P_DIFFUSION] / 100.0;
  for (int k = 0; k < REV_AP; k++) st->ap_g[k] = (float)(rev_ap_coef[k] * diff);
  for (int k = 0; k < REV_LINES / 2; k++) {
    /* Eight non-harmonic rates spread over 0.55 .. 1.45 x the maximum. */
    double rate = p[P_MODULATION] / 100.0 * REV_ROT_MAX_HZ * (0.55 + 0.9 * k / 7.0);
    double w = 2.0 * REV_PI * rate / fs;
    st->rot_cw[k] = cos(w);
    st->rot_sw[k] = sin(w);
  }

  /* Equal-power early/late balance; linear dry/wet (a crossfade that keeps
   * the sum of dry and wet gains at one, as users expect of "mix"). */
  double e = p[P_EARLY] / 100.0, m = p[P_MIX] / 100.0;
  ramp_set(&st->dry, st->cell_pos, (float)(1.0 - m));
  ramp_set(&st->early, st->cell_pos, (float)(m * sin(0.5 * REV_PI * e)));
  ramp_set(&st->late, st->cell_pos, e >= 1.0 ? 0.0f : (float)(m * cos(0.5 * REV_PI * e)));
  ramp_set(&st->width, st->cell_pos, (float)(p[P_WIDTH] / 100.0));
  if (st->primed) {
    st->cell_pos = 0;
  } else {
    st->dry.prev = st->dry.target;
    st->early.prev = st->early.target;
    st->late.prev = st->late.target;
    st->width.prev = st->width.target;
    st->primed = 1;
  }

  /* Tail to -90 dB re a full-scale impulse: the late response starts below
   * 0 dBFS (about -20 dB per sample for an impulse) and decays 60 dB per
   * RT60 in its slowest band (the mid band, both damping ratios being < 1),
   * so 1.5 RT60 after the late onset (pre-delay + longest line) is
   * conservative.  The diffusers are all-passes (unit energy) whose own
   * ring to -90 dB only matters when it outlasts that, at short decays. */
  double ring = 1.5 * rt * fs, ap_ring = 0.0;
  for (int k = 0; k < REV_AP; k++)
    if (st->ap_g[k] > 0.0f) ap_ring += st->ap_len[k] * ceil(-4.5 / log10((double)st->ap_g[k]));
  double frames = st->predelay + st->len[REV_LINES - 1] + (ring > ap_ring ? ring : ap_ring) + 4.0;
  double er_end = st->predelay + (REV_ER_MIN_MS + REV_ER_SPAN_MS) * fs / 1000.0 + 1.0;
  st->tail = (int64_t)ceil(frames > er_end ? frames : er_end);
}

/* ---- processing ----------------------------------------------------------- */

static inline float flush(float x) { return (x < REV_FLUSH && x > -REV_FLUSH) ? 0.0f : x; }

/* In-place fast Walsh-Hadamard transform of 16 values, scaled by 1/4 so the
 * matrix is orthogonal (lossless).  Stage order h = 1, 2, 4, 8 and each
 * butterfly as in the textbook loop; the stages h >= 2 pair whole vectors. */
static inline void fwht16(double *v) {
  for (int j = 0; j < REV_LINES; j += 2) {
    double a = v[j], b = v[j + 1];
    v[j] = a + b;
    v[j + 1] = a - b;
  }
#if MIXSTAGE__LANES_VECTOR
  mixstage__v2d w[REV_LINES / 2];
  for (int k = 0; k < REV_LINES / 2; k++) w[k] = mixstage__v2d_load(v + 2 * k);
#define REV_BF(a, b)                                                                               \
  do {                                                                                             \
    mixstage__v2d t = w[a];                                                                        \
    w[a] = t + w[b];                                                                               \
    w[b] = t - w[b];                                                                               \
  } while (0)
  /* vector strides 1, 2, 4 = h 2, 4, 8 */
  REV_BF(0, 1); REV_BF(2, 3); REV_BF(4, 5); REV_BF(6, 7);
  REV_BF(0, 2); REV_BF(1, 3); REV_BF(4, 6); REV_BF(5, 7);
  REV_BF(0, 4); REV_BF(1, 5); REV_BF(2, 6); REV_BF(3, 7);
#undef REV_BF
  const mixstage__v2d q = mixstage__v2d_set1(0.25);
  for (int k = 0; k < REV_LINES / 2; k++) mixstage__v2d_store(v + 2 * k, w[k] * q);
#else
  for (int h = 2; h < REV_LINES; h <<= 1)
    for (int i = 0; i < REV_LINES; i += h << 1)
      for (int j = i; j < i + h; j++) {
        double a = v[j], b = v[j + h];
        v[j] = a + b;
        v[j + h] = a - b;
      }
  for (int i = 0; i < REV_LINES; i++) v[i] *= 0.25;
#endif
}

/* Absorption of every line: y = gmid x, then the low and the high shelf
 * (first-order TDF-II: y = b0 x + s, s = b1 x - a1 y), in place on z. */
static inline void absorb16(reverb_state *st, double *z) {
#if MIXSTAGE__LANES_VECTOR
  typedef mixstage__v2d v2d;
  for (int i = 0; i < REV_LINES; i += 2) {
    v2d x = mixstage__v2d_load(z + i);
    v2d s = mixstage__v2d_load(st->lo_s + i);
    v2d y = mixstage__v2d_load(st->lo_b0 + i) * x + s;
    s = mixstage__v2d_load(st->lo_b1 + i) * x - mixstage__v2d_load(st->lo_a1 + i) * y;
    mixstage__v2d_store(st->lo_s + i, s);
    x = y;
    s = mixstage__v2d_load(st->hi_s + i);
    y = mixstage__v2d_load(st->hi_b0 + i) * x + s;
    s = mixstage__v2d_load(st->hi_b1 + i) * x - mixstage__v2d_load(st->hi_a1 + i) * y;
    mixstage__v2d_store(st->hi_s + i, s);
    mixstage__v2d_store(z + i, y);
  }
#else
  for (int i = 0; i < REV_LINES; i++) {
    double x = z[i], y = st->lo_b0[i] * x + st->lo_s[i];
    st->lo_s[i] = st->lo_b1[i] * x - st->lo_a1[i] * y;
    x = y;
    y = st->hi_b0[i] * x + st->hi_s[i];
    st->hi_s[i] = st->hi_b1[i] * x - st->hi_a1[i] * y;
    z[i] = y;
  }
#endif
}

/* e[0 .. n-1] += g p[0 .. n-1], four frames per vector. */
static inline void tap_add(float *e, float g, const float *p, int n) {
  int t = 0;
#if MIXSTAGE__LANES_VECTOR
  typedef float v4f __attribute__((vector_size(16)));
  const v4f gv = {g, g, g, g};
  for (; t + 4 <= n; t += 4) {
    v4f a, b;
    memcpy(&a, e + t, sizeof a);
    memcpy(&b, p + t, sizeof b);
    a += gv * b;
    memcpy(e + t, &a, sizeof a);
  }
#endif
  for (; t < n; t++) e[t] += g * p[t];
}

/* Early reflections of channel c for the n frames whose input starts at
 * pre-line position wp0 (already written): tap by tap over the block, each
 * tap a contiguous run of the line split at its end.  Each frame's sum
 * runs over the taps in order, as a per-frame loop would. */
static void early_taps(const reverb_state *st, int c, int wp0, int n, float *e) {
  const int size = st->pre_mask + 1;
  for (int t = 0; t < n; t++) e[t] = 0.0f;
  for (int j = 0; j < REV_ER_TAPS; j++) {
    int start = (wp0 - st->predelay - st->er_pos[c][j]) & st->pre_mask;
    int n1 = size - start < n ? size - start : n;
    tap_add(e, st->er_gain[c][j], st->pre + start, n1);
    tap_add(e + n1, st->er_gain[c][j], st->pre, n - n1);
  }
}

static void reverb_process(void *s, float *const *buf, int nch, int nframes,
                           const float *const *key, int key_nch) {
  (void)key;
  (void)key_nch;
  reverb_state *st = s;
  const float inv_nch = 1.0f / (float)nch;
  const int pmask = st->pre_mask, lmask = st->line_mask;
  double z[REV_LINES];
  float wet[MIXSTAGE_MAX_CHANNELS];

  float er[MIXSTAGE_MAX_CHANNELS][MIXSTAGE_CONTROL_FRAMES];
  for (int t0 = 0, t = 0; t0 < nframes; t0 += MIXSTAGE_CONTROL_FRAMES) {
    const int nb = nframes - t0 < MIXSTAGE_CONTROL_FRAMES ? nframes - t0 : MIXSTAGE_CONTROL_FRAMES;
    /* Pre-delay line, also the early-reflection tap line: the block's mono
     * input first, then the taps over the block (every tap reads at least
     * one frame back, and the line has a cell of slack, so this reads what a
     * frame-by-frame loop would). */
    const int wp0 = st->pre_wp;
    for (int i = 0; i < nb; i++) {
      float x = 0.0f;
      for (int c = 0; c < nch; c++) x += buf[c][t0 + i];
      st->pre[(wp0 + i) & pmask] = x * inv_nch;
    }
    for (int c = 0; c < nch; c++) early_taps(st, c, wp0, nb, er[c]);
    st->pre_wp = (wp0 + nb) & pmask;

    for (int i = 0; i < nb; i++, t++) {
      int k = st->cell_pos + t + 1;
      float g_dry = ramp_at(&st->dry, k), g_e = ramp_at(&st->early, k);
      float g_l = ramp_at(&st->late, k), w = ramp_at(&st->width, k);

      float xd = st->pre[(wp0 + i - st->predelay) & pmask];
      for (int c = 0; c < nch; c++) wet[c] = g_e * er[c][i];

      /* Input diffusion: Schroeder all-passes
       * w[n] = x[n] + g w[n-M],  y[n] = w[n-M] - g w[n]. */
      float v = xd;
      for (int a = 0; a < REV_AP; a++) {
        float *b = st->ap[a];
        int pos = st->ap_pos[a];
        float old = b[pos], g = st->ap_g[a];
        float wn = flush(v + g * old);
        b[pos] = wn;
        v = old - g * wn;
        if (++pos == st->ap_len[a]) pos = 0;
        st->ap_pos[a] = pos;
      }

      /* FDN: read each line, absorb (Jot), tap. */
      for (int i = 0; i < REV_LINES; i++)
        z[i] = st->line[i][(st->line_wp - st->len[i]) & lmask] * st->gmid[i];
      absorb16(st, z);
      if (++st->phase == MIXSTAGE_CONTROL_FRAMES) {
        st->phase = 0;
        for (int i = 0; i < REV_LINES; i++) {
          if (fabs(st->lo_s[i]) < MIXSTAGE__BQL_FLUSH) st->lo_s[i] = 0.0;
          if (fabs(st->hi_s[i]) < MIXSTAGE__BQL_FLUSH) st->hi_s[i] = 0.0;
        }
      }
      /* Late taps: each channel's sum over the lines in line order, two
       * channels per vector. */
  #if MIXSTAGE__LANES_VECTOR
      for (int c = 0; c < nch; c += 2) {
        mixstage__v2d l = {0.0, 0.0};
        for (int i = 0; i < REV_LINES; i++)
          l += mixstage__v2d_load(&st->tap[i][c]) * mixstage__v2d_set1(z[i]);
        wet[c] += g_l * (float)l[0];
        if (c + 1 < nch) wet[c + 1] += g_l * (float)l[1];
      }
  #else
      for (int c = 0; c < nch; c++) {
        double l = 0.0;
        for (int i = 0; i < REV_LINES; i++) l += st->tap[i][c] * z[i];
        wet[c] += g_l * (float)l;
      }
  #endif
      /* Time-varying part of the feedback matrix: rotations of the pairs
       * (k, k + 8); the phasors advance once per sample. */
      for (int j = 0; j < REV_LINES / 2; j++) { /* independent: the compiler pairs them */
        double c0 = st->rot_c[j], s0 = st->rot_s[j];
        double a = z[j], b = z[j + REV_LINES / 2];
        z[j] = c0 * a - s0 * b;
        z[j + REV_LINES / 2] = s0 * a + c0 * b;
        double cn = c0 * st->rot_cw[j] - s0 * st->rot_sw[j];
        double sn = s0 * st->rot_cw[j] + c0 * st->rot_sw[j];
        /* One Newton step keeps |phasor| = 1 (an orthogonal rotation) to
         * double precision for hours. */
        double r = 1.5 - 0.5 * (cn * cn + sn * sn);
        st->rot_c[j] = cn * r;
        st->rot_s[j] = sn * r;
      }
      fwht16(z);
      for (int i = 0; i < REV_LINES; i++)
        st->line[i][st->line_wp] = flush((float)(z[i] + st->in_gain[i] * v));
      st->line_wp = (st->line_wp + 1) & lmask;

      /* Width around the channel mean (mid/side for stereo). */
      if (nch > 1) {
        float mid = 0.0f;
        for (int c = 0; c < nch; c++) mid += wet[c];
        mid *= inv_nch;
        for (int c = 0; c < nch; c++) wet[c] = mid + w * (wet[c] - mid);
      }
      for (int c = 0; c < nch; c++) buf[c][t] = g_dry * buf[c][t] + wet[c];
    }
  }
  st->cell_pos += nframes;
  if (st->cell_pos > MIXSTAGE_CONTROL_FRAMES) st->cell_pos = MIXSTAGE_CONTROL_FRAMES;
}

static int reverb_latency(const void *s) {
  (void)s;
  return 0;
}

static int64_t reverb_tail(const void *s) { return ((const reverb_state *)s)->tail; }

const mixstage__node_class mixstage__reverb_class = {
    .name = "reverb",
    .description = "Algorithmic reverb: 16-line feedback delay network with early reflections",
    .params = reverb_params,
    .num_params = P_COUNT,
    .state_size = sizeof(reverb_state),
    .init = reverb_init,
    .fini = reverb_fini,
    .reset = reverb_reset,
    .update = reverb_update,
    .process = reverb_process,
    .latency = reverb_latency,
    .tail = reverb_tail,
    /* Linear.  The feedback-matrix rotation is time-variant but depends only
     * on time since reset, not on the signal: a copy processing part of the
     * signal from the same start gives exactly that part's share. */
    .linear = 1,
};
