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
#include "../dsp/cpu.h"

/* x86: AVX2/FMA kernels for the FDN (eight frames per vector), the
 * diffusers, early taps and mix, chosen at init on CPUs that have it. */
#if (defined(__x86_64__) || defined(__i386__)) && defined(__GNUC__) && defined(__SSE2__)
#define REV_AVX2 1
#include <immintrin.h>
#include "../dsp/transpose8.h"
#define REV_AVX2_FMA __attribute__((target("avx2,fma")))
#else
#define REV_AVX2 0
#endif

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
/* Frames a settled stereo block runs at once across cells (AVX2 path). */
#define REV_SEG (4 * MIXSTAGE_CONTROL_FRAMES)
/* Late output gain.  The late energy per channel grows with the decay
 * (about (g^2 / (1 - g^2)) / 16 of the input energy with orthonormal taps);
 * with 2.0 a full-scale impulse gives -5 dB at the default 2 s / 60 %
 * (-14.6 dB at 0.5 s, +0.6 dB at 6 s), so at the default 30 % balance the
 * early reflections (unit energy) and the late field carry about equal
 * energy. */
#define REV_LATE_GAIN 2.0f
/* Values below this are flushed to zero where they are stored (delay-line
 * and all-pass writes, and the shelves' memory once per 32-frame cell), so a
 * silent input ends in exact zeros rather than float denormals (-600 dBFS:
 * far below anything audible or measurable).  Why that is enough: every
 * stored value is 0 or >= 1e-30, 8 decades above the smallest normal float
 * (1.2e-38); a value computed from stored ones within one pass (gains,
 * shelves, rotation, Hadamard) can only fall below that transiently, for a
 * handful of operations, before it is stored and flushed, so denormal
 * arithmetic never recirculates (no crawl without FTZ/DAZ).  The shelves'
 * memory is flushed at fixed points (every 32 frames counted from reset);
 * between two flushes a state >= 1e-30 only reaches the denormal range if
 * its pole is below 0.57 in magnitude (0.57^32 = 1.5e-8), and such a
 * section halves its state every step, so it reaches exact zero in a few
 * dozen operations. */
#define REV_FLUSH 1e-30f

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
  /* Frames the FDN and the diffusers advance block-wise at most: no line or
   * all-pass is shorter, so a block only reads values written before it. */
  int seg_max;
  /* The same bound with REV_SEG instead of the cell: frames a settled
   * stereo block advances at once on AVX2 (reverb_process). */
  int seg_big;
  /* Per line (structure of arrays, four lines per vector): the low shelf
   * with the mid-band gain and the Hadamard scale 1/4 folded in, then the
   * high shelf, both first-order TDF-II written as
   *     y = b0 x + s,  s' = d x - a1 s,  d = b1 - a1 b0
   * (the same filter; d is small when the shelf is gentle, so float state
   * carries only the shelf's deviation from b0 and its rounding stays near
   * 1e-7 of the signal even with a pole 3e-3 from z = 1).  Float: the
   * loop's gains are all below one, so rounding errors decay with the tail
   * instead of building up (tests/check_space.c bounds the difference from
   * a double-precision reference). */
  float lo_b0[REV_LINES], lo_d[REV_LINES], lo_a1[REV_LINES], lo_s[REV_LINES];
  float hi_b0[REV_LINES], hi_d[REV_LINES], hi_a1[REV_LINES], hi_s[REV_LINES];
  int phase; /* frames since reset, modulo MIXSTAGE_CONTROL_FRAMES */

  /* Givens rotation of lines (k, k + 8).  rot_c/rot_s is the phasor at
   * frame phase rot_base of the current cell; frame phase p uses it times
   * e^{i (p - rot_base) w_k}, from tables of those powers (double, and float
   * for the per-frame arithmetic).  The double phasor moves once per cell
   * (and when the rate changes), on the cell grid counted from reset, so
   * the result does not depend on how blocks are split. */
  double rot_c[REV_LINES / 2], rot_s[REV_LINES / 2];
  double rot_w[REV_LINES / 2];
  int rot_base;
  double rot_pc[MIXSTAGE_CONTROL_FRAMES + 1][REV_LINES / 2];
  double rot_ps[MIXSTAGE_CONTROL_FRAMES + 1][REV_LINES / 2];
  float rot_pcf[MIXSTAGE_CONTROL_FRAMES + 1][REV_LINES / 2];
  float rot_psf[MIXSTAGE_CONTROL_FRAMES + 1][REV_LINES / 2];
  /* The same float powers pair by pair (frames along a row, as the
   * eight-frame kernel reads them), zero past the cell. */
  float rot_pcf_t[REV_LINES / 2][MIXSTAGE_CONTROL_FRAMES + 8];
  float rot_psf_t[REV_LINES / 2][MIXSTAGE_CONTROL_FRAMES + 8];

  /* Late taps: tap[c][i] is line i's sign and gain in output channel c
   * (x4: the lines are read scaled by 1/4, see lo_b0). */
  float tap[MIXSTAGE_MAX_CHANNELS][REV_LINES];
  float in_gain[REV_LINES];
  /* tap and in_gain, each value repeated eight times: one vector operand
   * per line for the eight-frame kernel (fdn_frames_avx2). */
  float tap8[MIXSTAGE_MAX_CHANNELS][REV_LINES][8];
  float in_gain8[REV_LINES][8];

  int predelay; /* frames */
  int er_pos[MIXSTAGE_MAX_CHANNELS][REV_ER_TAPS];
  float er_gain[MIXSTAGE_MAX_CHANNELS][REV_ER_TAPS];

  double size; /* last size the lengths were computed for; < 0: none */
  int64_t tail;

  ramp dry, early, late, width;
  int cell_pos;
  int primed; /* 0 until the first update: no ramp from silence then */
  int avx2;   /* this machine runs the AVX2/FMA kernels (fdn_frames_avx2, ...) */
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

/* Powers e^{i k w}, k = 0 .. MIXSTAGE_CONTROL_FRAMES, of pair j's per-frame
 * rotation, by complex multiplication in double; one Newton step per power
 * keeps |phasor| = 1 (an orthogonal rotation) to double precision. */
static void rot_tables(reverb_state *st, int j, double w) {
  const double cw = cos(w), sw = sin(w);
  double c = 1.0, s = 0.0;
  st->rot_w[j] = w;
  for (int k = 0; k <= MIXSTAGE_CONTROL_FRAMES; k++) {
    st->rot_pc[k][j] = c;
    st->rot_ps[k][j] = s;
    st->rot_pcf[k][j] = (float)c;
    st->rot_psf[k][j] = (float)s;
    st->rot_pcf_t[j][k] = (float)c;
    st->rot_psf_t[j][k] = (float)s;
    double cn = c * cw - s * sw, sn = s * cw + c * sw;
    double r = 1.5 - 0.5 * (cn * cn + sn * sn);
    c = cn * r;
    s = sn * r;
  }
}

/* Moves pair j's base phasor on by k frames (k <= MIXSTAGE_CONTROL_FRAMES). */
static void rot_advance(reverb_state *st, int j, int k) {
  double c0 = st->rot_c[j], s0 = st->rot_s[j];
  double cn = c0 * st->rot_pc[k][j] - s0 * st->rot_ps[k][j];
  double sn = s0 * st->rot_pc[k][j] + c0 * st->rot_ps[k][j];
  double r = 1.5 - 0.5 * (cn * cn + sn * sn);
  st->rot_c[j] = cn * r;
  st->rot_s[j] = sn * r;
}

/* ---- lifecycle ------------------------------------------------------------ */

static int reverb_init(void *s, const mixstage__node_env *env) {
  reverb_state *st = s;
  memset(st, 0, sizeof *st);
#if REV_AVX2
  st->avx2 = mixstage__cpu_avx2_fma();
#endif
  st->fs = env->sample_rate > 0.0 ? env->sample_rate : 48000.0;
  st->nch = env->channels;
  const double ms = st->fs / 1000.0;

  /* + one segment: a block's input is written before its taps read */
  int pre_n = pow2_at_least(
      (int)ceil((REV_PREDELAY_MAX_MS + REV_ER_MIN_MS + REV_ER_SPAN_MS + 1.0) * ms) + 2 + REV_SEG);
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
      st->tap[c][i] = REV_LATE_GAIN * hadamard_sign(c, i) * dsign[i];
  for (int i = 0; i < REV_LINES; i++)
    for (int l = 0; l < 8; l++) {
      st->in_gain8[i][l] = st->in_gain[i];
      for (int c = 0; c < MIXSTAGE_MAX_CHANNELS; c++) st->tap8[c][i][l] = st->tap[c][i];
    }

  for (int k = 0; k < REV_LINES / 2; k++) rot_tables(st, k, 0.0);
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
  st->rot_base = 0;
  for (int i = 0; i < REV_LINES; i++) {
    st->lo_s[i] = 0.0f;
    st->hi_s[i] = 0.0f;
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
  st->seg_max = st->len[0] < MIXSTAGE_CONTROL_FRAMES ? st->len[0] : MIXSTAGE_CONTROL_FRAMES;
  for (int k = 0; k < REV_AP; k++)
    if (st->ap_len[k] < st->seg_max) st->seg_max = st->ap_len[k];
  st->seg_big = st->len[0] < REV_SEG ? st->len[0] : REV_SEG;
  for (int k = 0; k < REV_AP; k++)
    if (st->ap_len[k] < st->seg_big) st->seg_big = st->ap_len[k];
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
    double g = 0.25 * pow(10.0, a_db / 20.0); /* 1/4: the Hadamard matrix's scale */
    mixstage__biquad hi, lo;
    mixstage__biquad_highshelf1(&hi, p[P_DAMP_HIGH], a_db * (1.0 / REV_HIGH_RATIO - 1.0), fs);
    mixstage__biquad_lowshelf1(&lo, p[P_DAMP_LOW], a_db * (1.0 / REV_LOW_RATIO - 1.0), fs);
    st->lo_b0[i] = (float)(g * lo.b0);
    st->lo_d[i] = (float)(g * (lo.b1 - lo.a1 * lo.b0));
    st->lo_a1[i] = (float)lo.a1;
    st->hi_b0[i] = (float)hi.b0;
    st->hi_d[i] = (float)(hi.b1 - hi.a1 * hi.b0);
    st->hi_a1[i] = (float)hi.a1;
  }
  double diff = p[P_DIFFUSION] / 100.0;
  for (int k = 0; k < REV_AP; k++) st->ap_g[k] = (float)(rev_ap_coef[k] * diff);
  double wk[REV_LINES / 2];
  int moved = 0;
  for (int k = 0; k < REV_LINES / 2; k++) {
    /* Eight non-harmonic rates spread over 0.55 .. 1.45 x the maximum. */
    double rate = p[P_MODULATION] / 100.0 * REV_ROT_MAX_HZ * (0.55 + 0.9 * k / 7.0);
    wk[k] = 2.0 * REV_PI * rate / fs;
    moved |= wk[k] != st->rot_w[k];
  }
  if (moved) {
    /* The new rates run from this frame: rebase every phasor here. */
    for (int k = 0; k < REV_LINES / 2; k++) {
      rot_advance(st, k, st->phase - st->rot_base);
      rot_tables(st, k, wk[k]);
    }
    st->rot_base = st->phase;
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

#if MIXSTAGE__LANES_VECTOR
#define REV_VECTOR 1
/* Four floats: four lines of the FDN, or four frames of a diffuser. */
typedef float rev_v4f __attribute__((vector_size(16)));
typedef int32_t rev_v4i __attribute__((vector_size(16)));
#if defined(__clang__) || (defined(__GNUC__) && __GNUC__ >= 12)
#define REV_SHUF2(x, y, a, b, c, d) __builtin_shufflevector(x, y, a, b, c, d)
#else
#define REV_SHUF2(x, y, a, b, c, d) __builtin_shuffle(x, y, (rev_v4i){a, b, c, d})
#endif
#define REV_SHUF(x, a, b, c, d) REV_SHUF2(x, x, a, b, c, d)

static inline rev_v4f ld4(const float *p) {
  rev_v4f v;
  memcpy(&v, p, sizeof v);
  return v;
}

static inline void st4(float *p, rev_v4f v) { memcpy(p, &v, sizeof v); }

static inline rev_v4f flush4(rev_v4f x) {
  const rev_v4f t = {REV_FLUSH, REV_FLUSH, REV_FLUSH, REV_FLUSH};
  rev_v4i small = (x < t) & (x > -t);
  return (rev_v4f)((rev_v4i)x & ~small);
}

/* Hadamard stages h = 1, 2 inside one vector (lines 4q .. 4q + 3); the
 * products by +-1 are exact, so this is a + b / a - b as in the scalar
 * path. */
static inline rev_v4f h4(rev_v4f x) {
  const rev_v4f s1 = {1.0f, -1.0f, 1.0f, -1.0f}, s2 = {1.0f, 1.0f, -1.0f, -1.0f};
  x = REV_SHUF(x, 0, 0, 2, 2) + REV_SHUF(x, 1, 1, 3, 3) * s1;
  return REV_SHUF(x, 0, 1, 0, 1) + REV_SHUF(x, 2, 3, 2, 3) * s2;
}

/* Four rows of four floats, from row stride `is` to row stride `os`,
 * transposed (four frames of four lines <-> four lines of four frames). */
static inline void transpose4(const float *in, int is, float *out, int os) {
  rev_v4f r0 = ld4(in), r1 = ld4(in + is), r2 = ld4(in + 2 * is), r3 = ld4(in + 3 * is);
  rev_v4f t0 = REV_SHUF2(r0, r1, 0, 4, 1, 5), t1 = REV_SHUF2(r2, r3, 0, 4, 1, 5);
  rev_v4f t2 = REV_SHUF2(r0, r1, 2, 6, 3, 7), t3 = REV_SHUF2(r2, r3, 2, 6, 3, 7);
  st4(out, REV_SHUF2(t0, t1, 0, 1, 4, 5));
  st4(out + os, REV_SHUF2(t0, t1, 2, 3, 6, 7));
  st4(out + 2 * os, REV_SHUF2(t2, t3, 0, 1, 4, 5));
  st4(out + 3 * os, REV_SHUF2(t2, t3, 2, 3, 6, 7));
}
#else
#define REV_VECTOR 0
#endif

/* e[0 .. n-1] += g p[0 .. n-1], four frames per vector. */
static inline void tap_add(float *e, float g, const float *p, int n) {
  int t = 0;
#if REV_VECTOR
  const rev_v4f gv = {g, g, g, g};
  for (; t + 4 <= n; t += 4) st4(e + t, ld4(e + t) + gv * ld4(p + t));
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

/* Schroeder all-pass w[n] = x[n] + g w[n-M], y[n] = w[n-M] - g w[n], in
 * place on v[0 .. m-1], m <= M: every read is of a value written before
 * the block, so the frames are independent and run four at a time, in two
 * runs split at the buffer's end. */
static void allpass_block(float *b, int len, int *ppos, float g, float *v, int m) {
  int pos = *ppos;
  for (int done = 0; done < m;) {
    int n = m - done < len - pos ? m - done : len - pos;
    float *bp = b + pos, *vp = v + done;
    int t = 0;
#if REV_VECTOR
    const rev_v4f gv = {g, g, g, g};
    for (; t + 4 <= n; t += 4) {
      rev_v4f old = ld4(bp + t), wn = flush4(ld4(vp + t) + gv * old);
      st4(bp + t, wn);
      st4(vp + t, old - gv * wn);
    }
#endif
    for (; t < n; t++) {
      float old = bp[t], wn = flush(vp[t] + g * old);
      bp[t] = wn;
      vp[t] = old - g * wn;
    }
    pos += n;
    if (pos == len) pos = 0;
    done += n;
  }
  *ppos = pos;
}

#if REV_AVX2
/* allpass_block eight frames per vector: the same products and sums (no
 * fused multiply-add) and the same flush, so the same bits. */
static REV_AVX2_FMA void allpass_block_avx2(float *b, int len, int *ppos, float g, float *v, int m) {
  int pos = *ppos;
  const __m256 gv = _mm256_set1_ps(g), lim = _mm256_set1_ps(REV_FLUSH);
  const __m256 mag = _mm256_castsi256_ps(_mm256_set1_epi32(0x7FFFFFFF));
  for (int done = 0; done < m;) {
    int n = m - done < len - pos ? m - done : len - pos;
    float *bp = b + pos, *vp = v + done;
    int t = 0;
    for (; t + 8 <= n; t += 8) {
      const __m256 old = _mm256_loadu_ps(bp + t);
      __m256 wn = _mm256_add_ps(_mm256_loadu_ps(vp + t), _mm256_mul_ps(gv, old));
      wn = _mm256_andnot_ps(_mm256_cmp_ps(_mm256_and_ps(wn, mag), lim, _CMP_LT_OQ), wn);
      _mm256_storeu_ps(bp + t, wn);
      _mm256_storeu_ps(vp + t, _mm256_sub_ps(old, _mm256_mul_ps(gv, wn)));
    }
    for (; t < n; t++) {
      float old = bp[t], wn = flush(vp[t] + g * old);
      bp[t] = wn;
      vp[t] = old - g * wn;
    }
    pos += n;
    if (pos == len) pos = 0;
    done += n;
  }
  *ppos = pos;
}

/* The pre-delay line's mono input for frames t0 .. t0 + n - 1 of buf into
 * dst, eight frames per vector: ((0 + x0) + x1) + ... times 1/nch, the
 * sums and product of reverb_process's four-frame loop, so the same bits.
 * Returns the frames done (n rounded down to eight). */
static REV_AVX2_FMA int mono_in_avx2(float *dst, float *const *buf, int t0, int nch, float inv_nch, int n) {
  const __m256 inv = _mm256_set1_ps(inv_nch);
  int i = 0;
  for (; i + 8 <= n; i += 8) {
    __m256 x = _mm256_setzero_ps();
    for (int c = 0; c < nch; c++) x = _mm256_add_ps(x, _mm256_loadu_ps(buf[c] + t0 + i));
    _mm256_storeu_ps(dst + i, _mm256_mul_ps(x, inv));
  }
  return i;
}

static inline REV_AVX2_FMA __m256 rev_flush8(__m256 x) {
  const __m256 mag = _mm256_castsi256_ps(_mm256_set1_epi32(0x7FFFFFFF));
  __m256 small = _mm256_cmp_ps(_mm256_and_ps(x, mag), _mm256_set1_ps(REV_FLUSH), _CMP_LT_OQ);
  return _mm256_andnot_ps(small, x);
}

#endif

#if REV_AVX2
/* Loops of fixed short counts, unrolled so their vectors stay in registers. */
#if defined(__GNUC__) && (__GNUC__ >= 8 || defined(__clang__))
#define REV_UNROLL8 _Pragma("GCC unroll 8")
#define REV_UNROLL12 _Pragma("GCC unroll 12")
#else
#define REV_UNROLL8
#define REV_UNROLL12
#endif
#endif

#if REV_AVX2
/* The end of a cell: rot_advance for the eight pairs, four per vector (the
 * same double operations, no fused multiply-adds, so the same bits), and
 * the shelves' memory flushed. */
static REV_AVX2_FMA __attribute__((noinline)) void cell_end_avx2(reverb_state *st) {
  const int k = MIXSTAGE_CONTROL_FRAMES - st->rot_base;
  const __m256d half = _mm256_set1_pd(0.5), three_half = _mm256_set1_pd(1.5);
  for (int j = 0; j < REV_LINES / 2; j += 4) {
    const __m256d c0 = _mm256_loadu_pd(st->rot_c + j), s0 = _mm256_loadu_pd(st->rot_s + j);
    const __m256d pc = _mm256_loadu_pd(st->rot_pc[k] + j), ps = _mm256_loadu_pd(st->rot_ps[k] + j);
    const __m256d cn = _mm256_sub_pd(_mm256_mul_pd(c0, pc), _mm256_mul_pd(s0, ps));
    const __m256d sn = _mm256_add_pd(_mm256_mul_pd(s0, pc), _mm256_mul_pd(c0, ps));
    const __m256d r =
        _mm256_sub_pd(three_half, _mm256_mul_pd(half, _mm256_add_pd(_mm256_mul_pd(cn, cn), _mm256_mul_pd(sn, sn))));
    _mm256_storeu_pd(st->rot_c + j, _mm256_mul_pd(cn, r));
    _mm256_storeu_pd(st->rot_s + j, _mm256_mul_pd(sn, r));
  }
  st->rot_base = 0;
  for (int i = 0; i < REV_LINES; i += 8) {
    _mm256_storeu_ps(st->lo_s + i, rev_flush8(_mm256_loadu_ps(st->lo_s + i)));
    _mm256_storeu_ps(st->hi_s + i, rev_flush8(_mm256_loadu_ps(st->hi_s + i)));
  }
}

/* Lines 8h .. 8h + 7 of frames t .. t + 7 (t + nf valid) through the
 * shelves, into xs[8h ..] (a row per line).  The shelves run frame by frame
 * on eight lines per vector, between two 8x8 transposes. */
static inline REV_AVX2_FMA __attribute__((always_inline)) void absorb8(reverb_state *st, int h,
                                                                      const float *const *in, int t, int nf,
                                                                      float (*xs)[8]) {
  __m256 r[8];
  REV_UNROLL8
  for (int j = 0; j < 8; j++) r[j] = _mm256_loadu_ps(in[8 * h + j] + t);
  mixstage__transpose8(r);
  const __m256 lb0 = _mm256_loadu_ps(st->lo_b0 + 8 * h), ld = _mm256_loadu_ps(st->lo_d + 8 * h);
  const __m256 la1 = _mm256_loadu_ps(st->lo_a1 + 8 * h), hb0 = _mm256_loadu_ps(st->hi_b0 + 8 * h);
  const __m256 hd = _mm256_loadu_ps(st->hi_d + 8 * h), ha1 = _mm256_loadu_ps(st->hi_a1 + 8 * h);
  __m256 l = _mm256_loadu_ps(st->lo_s + 8 * h), s = _mm256_loadu_ps(st->hi_s + 8 * h);
#define REV_SHELVES(j)                                     \
  do {                                                     \
    const __m256 y = _mm256_fmadd_ps(lb0, r[j], l);        \
    l = _mm256_fnmadd_ps(la1, l, _mm256_mul_ps(ld, r[j])); \
    r[j] = _mm256_fmadd_ps(hb0, y, s);                     \
    s = _mm256_fnmadd_ps(ha1, s, _mm256_mul_ps(hd, y));    \
  } while (0)
  if (nf == 8) {
    REV_UNROLL8
    for (int j = 0; j < 8; j++) REV_SHELVES(j);
  } else {
    for (int j = 0; j < nf; j++) REV_SHELVES(j);
  }
#undef REV_SHELVES
  _mm256_storeu_ps(st->lo_s + 8 * h, l);
  _mm256_storeu_ps(st->hi_s + 8 * h, s);
  mixstage__transpose8(r);
  REV_UNROLL8
  for (int j = 0; j < 8; j++) _mm256_store_ps(xs[8 * h + j], r[j]);
}

/* Hadamard stages 4, 2, 1 on lines 8h .. 8h + 7 (the scale 1/4 is in
 * lo_b0/lo_d), then the injection of the diffused input vb, flushed and
 * stored to the lines. */
static inline REV_AVX2_FMA __attribute__((always_inline)) void mix8(const reverb_state *st, int h,
                                                                   float (*xs)[8], __m256 vb, float *const *out,
                                                                   int t) {
  __m256 x0 = _mm256_load_ps(xs[8 * h]), x1 = _mm256_load_ps(xs[8 * h + 1]);
  __m256 x2 = _mm256_load_ps(xs[8 * h + 2]), x3 = _mm256_load_ps(xs[8 * h + 3]);
  __m256 x4 = _mm256_load_ps(xs[8 * h + 4]), x5 = _mm256_load_ps(xs[8 * h + 5]);
  __m256 x6 = _mm256_load_ps(xs[8 * h + 6]), x7 = _mm256_load_ps(xs[8 * h + 7]);
  __m256 a, b;
#define REV_BFLY(p, q) (a = p, b = q, p = _mm256_add_ps(a, b), q = _mm256_sub_ps(a, b))
  REV_BFLY(x0, x4), REV_BFLY(x1, x5), REV_BFLY(x2, x6), REV_BFLY(x3, x7);
  REV_BFLY(x0, x2), REV_BFLY(x1, x3), REV_BFLY(x4, x6), REV_BFLY(x5, x7);
  REV_BFLY(x0, x1), REV_BFLY(x2, x3), REV_BFLY(x4, x5), REV_BFLY(x6, x7);
#undef REV_BFLY
  const float(*g)[8] = st->in_gain8 + 8 * h;
  float *const *o = out + 8 * h;
  _mm256_storeu_ps(o[0] + t, rev_flush8(_mm256_fmadd_ps(_mm256_loadu_ps(g[0]), vb, x0)));
  _mm256_storeu_ps(o[1] + t, rev_flush8(_mm256_fmadd_ps(_mm256_loadu_ps(g[1]), vb, x1)));
  _mm256_storeu_ps(o[2] + t, rev_flush8(_mm256_fmadd_ps(_mm256_loadu_ps(g[2]), vb, x2)));
  _mm256_storeu_ps(o[3] + t, rev_flush8(_mm256_fmadd_ps(_mm256_loadu_ps(g[3]), vb, x3)));
  _mm256_storeu_ps(o[4] + t, rev_flush8(_mm256_fmadd_ps(_mm256_loadu_ps(g[4]), vb, x4)));
  _mm256_storeu_ps(o[5] + t, rev_flush8(_mm256_fmadd_ps(_mm256_loadu_ps(g[5]), vb, x5)));
  _mm256_storeu_ps(o[6] + t, rev_flush8(_mm256_fmadd_ps(_mm256_loadu_ps(g[6]), vb, x6)));
  _mm256_storeu_ps(o[7] + t, rev_flush8(_mm256_fmadd_ps(_mm256_loadu_ps(g[7]), vb, x7)));
}

/* The FDN eight frames per vector, lines apart (x[i] = frames t .. t + 7 of
 * line i), the layout of the lines themselves: in[i] has line i's reads of
 * the block, out[i] takes its writes (both m frames, rounded up to eight,
 * readable and writable).  Only the shelves recurse in time; they run on
 * the frames in turn (8x8 transposes to eight lines per vector and back).
 * Everything after them is the same for every frame, so it runs on the
 * line vectors as they are: the late taps and the Hadamard stages need no
 * shuffles or horizontal adds.  A frame's values get the same operations
 * wherever it sits in the block (fused multiply-adds as written, the
 * butterflies a + b / a - b in stage order 8, 4, 2, 1, each tap sum in one
 * tree), so every block split gives the same bits; the SSE2 and portable
 * paths (no fused multiply-adds) round differently, within the double
 * reference's tolerance in tests/check_space.c. */

static REV_AVX2_FMA void fdn_frames_avx2(reverb_state *st, const float *const *in, float *const *out,
                                         const float *v, int m, int nch, float *const *late) {
  float pcf[REV_LINES / 2], psf[REV_LINES / 2]; /* the cell's phasors */
  for (int j = 0; j < REV_LINES / 2; j++) {
    pcf[j] = (float)st->rot_c[j];
    psf[j] = (float)st->rot_s[j];
  }
  float xs[REV_LINES][8] __attribute__((aligned(32)));
  for (int t = 0; t < m; t += 8) {
    const int nf = m - t < 8 ? m - t : 8;
    const int k = st->phase - st->rot_base; /* this group's first frame power */
    /* Absorption (Jot): low shelf with the line gain, then high shelf. */
    absorb8(st, 0, in, t, nf, xs);
    absorb8(st, 1, in, t, nf, xs);
    /* Late taps: per channel tap[8 + j] x[8 + j] + tap[j] x[j], summed
     * ((0 + 1) + (2 + 3)) + ((4 + 5) + (6 + 7)). */
    for (int c = 0; c < nch; c++) {
      const float(*tp)[8] = st->tap8[c];
#define REV_TAP(j)                                                                 \
  _mm256_fmadd_ps(_mm256_loadu_ps(tp[8 + j]), _mm256_load_ps(xs[8 + j]),           \
                  _mm256_mul_ps(_mm256_loadu_ps(tp[j]), _mm256_load_ps(xs[j])))
      const __m256 lo = _mm256_add_ps(_mm256_add_ps(REV_TAP(0), REV_TAP(1)), _mm256_add_ps(REV_TAP(2), REV_TAP(3)));
      const __m256 hi = _mm256_add_ps(_mm256_add_ps(REV_TAP(4), REV_TAP(5)), _mm256_add_ps(REV_TAP(6), REV_TAP(7)));
#undef REV_TAP
      _mm256_storeu_ps(late[c] + t, _mm256_add_ps(lo, hi));
    }
    /* Rotations of the pairs (j, j + 8) by the cell's phasor times each
     * frame's power, then the Hadamard stage across them (h = 8). */
    REV_UNROLL8
    for (int j = 0; j < 8; j++) {
      const __m256 er = _mm256_loadu_ps(st->rot_pcf_t[j] + k);
      const __m256 ei = _mm256_loadu_ps(st->rot_psf_t[j] + k);
      const __m256 pc = _mm256_broadcast_ss(pcf + j), ps = _mm256_broadcast_ss(psf + j);
      const __m256 cs = _mm256_fmsub_ps(pc, er, _mm256_mul_ps(ps, ei));
      const __m256 sn = _mm256_fmadd_ps(ps, er, _mm256_mul_ps(pc, ei));
      const __m256 x0 = _mm256_load_ps(xs[j]), x1 = _mm256_load_ps(xs[j + 8]);
      const __m256 a = _mm256_fmsub_ps(cs, x0, _mm256_mul_ps(sn, x1));
      const __m256 b = _mm256_fmadd_ps(sn, x0, _mm256_mul_ps(cs, x1));
      _mm256_store_ps(xs[j], _mm256_add_ps(a, b));
      _mm256_store_ps(xs[j + 8], _mm256_sub_ps(a, b));
    }
    /* Stages 4, 2, 1 and the injection, eight lines at a time. */
    const __m256 vb = _mm256_loadu_ps(v + t);
    mix8(st, 0, xs, vb, out, t);
    mix8(st, 1, xs, vb, out, t);
    /* A group never crosses a cell's end (blocks start on the group grid
     * or end at the cell): at one, the phasors move on and the shelves'
     * memory is flushed, as frame by frame. */
    st->phase += nf;
    if (st->phase == MIXSTAGE_CONTROL_FRAMES) {
      st->phase = 0;
      cell_end_avx2(st);
      for (int j = 0; j < REV_LINES / 2; j++) {
        pcf[j] = (float)st->rot_c[j];
        psf[j] = (float)st->rot_s[j];
      }
    }
  }
}

/* fdn_frames_avx2 on a block of m <= seg_big frames, line_wp advanced:
 * straight on the lines when m is whole vectors and the write run does not
 * wrap (nearly every block; a wrapping read run is copied); otherwise (then
 * m <= MIXSTAGE_CONTROL_FRAMES, within a cell) through copies padded to
 * whole vectors (the padding's results are not kept). */
static REV_AVX2_FMA void fdn_block_avx2(reverb_state *st, const float *v, int m, int nch,
                                        float *const *late) {
  const int size = st->line_mask + 1, wp = st->line_wp;
  const float *rp[REV_LINES];
  float *wq[REV_LINES];
  float rd[REV_LINES][REV_SEG], wr[REV_LINES][MIXSTAGE_CONTROL_FRAMES];
  st->line_wp = (wp + m) & st->line_mask;
  if (!(m & 7) && wp + m <= size) {
    /* A line whose read run wraps (one line in ~16 blocks) is copied. */
    for (int i = 0; i < REV_LINES; i++) {
      const int start = (wp - st->len[i]) & st->line_mask;
      rp[i] = st->line[i] + start;
      wq[i] = st->line[i] + wp;
      if (start + m > size) {
        const int n1 = size - start;
        memcpy(rd[i], st->line[i] + start, sizeof(float) * (size_t)n1);
        memcpy(rd[i] + n1, st->line[i], sizeof(float) * (size_t)(m - n1));
        rp[i] = rd[i];
      }
    }
    fdn_frames_avx2(st, rp, wq, v, m, nch, late);
    return;
  }
  float vp[MIXSTAGE_CONTROL_FRAMES] = {0.0f};
  memcpy(vp, v, sizeof(float) * (size_t)m);
  for (int i = 0; i < REV_LINES; i++) {
    const int start = (wp - st->len[i]) & st->line_mask;
    const int n1 = size - start < m ? size - start : m;
    memcpy(rd[i], st->line[i] + start, sizeof(float) * (size_t)n1);
    memcpy(rd[i] + n1, st->line[i], sizeof(float) * (size_t)(m - n1));
    memset(rd[i] + m, 0, sizeof(float) * (size_t)(MIXSTAGE_CONTROL_FRAMES - m));
    rp[i] = rd[i];
    wq[i] = wr[i];
  }
  fdn_frames_avx2(st, rp, wq, vp, m, nch, late);
  const int n1 = size - wp < m ? size - wp : m;
  for (int i = 0; i < REV_LINES; i++) {
    memcpy(st->line[i] + wp, wr[i], sizeof(float) * (size_t)n1);
    memcpy(st->line[i], wr[i] + n1, sizeof(float) * (size_t)(m - n1));
  }
}
#endif

#if REV_AVX2


/* early_taps for a block whose every tap run is contiguous in the line
 * (returns 0 otherwise, having done nothing): eight frames at a time, the
 * sum over the taps in registers.  Per frame 0 + g0 p0 + g1 p1 + ... in
 * tap order, products rounded then added, as early_taps does. */
static REV_AVX2_FMA int early_taps_avx2(const reverb_state *st, int c, int wp0, int n, float *e) {
  const int size = st->pre_mask + 1;
  const float *p[REV_ER_TAPS];
  for (int j = 0; j < REV_ER_TAPS; j++) {
    const int start = (wp0 - st->predelay - st->er_pos[c][j]) & st->pre_mask;
    if (start + n > size) return 0;
    p[j] = st->pre + start;
  }
  const float *g = st->er_gain[c];
  int t = 0;
  /* Thirty-two frames at a time, tap by tap: one broadcast gain feeds four
   * sums (each frame's sum still runs over the taps in order). */
  for (; t + 32 <= n; t += 32) {
    const __m256 z = _mm256_setzero_ps();
    __m256 a0 = z, a1 = z, a2 = z, a3 = z;
    REV_UNROLL12
    for (int j = 0; j < REV_ER_TAPS; j++) {
      const __m256 gj = _mm256_set1_ps(g[j]);
      const float *pj = p[j] + t;
      a0 = _mm256_add_ps(a0, _mm256_mul_ps(gj, _mm256_loadu_ps(pj)));
      a1 = _mm256_add_ps(a1, _mm256_mul_ps(gj, _mm256_loadu_ps(pj + 8)));
      a2 = _mm256_add_ps(a2, _mm256_mul_ps(gj, _mm256_loadu_ps(pj + 16)));
      a3 = _mm256_add_ps(a3, _mm256_mul_ps(gj, _mm256_loadu_ps(pj + 24)));
    }
    _mm256_storeu_ps(e + t, a0);
    _mm256_storeu_ps(e + t + 8, a1);
    _mm256_storeu_ps(e + t + 16, a2);
    _mm256_storeu_ps(e + t + 24, a3);
  }
  for (; t + 8 <= n; t += 8) {
    __m256 acc = _mm256_setzero_ps();
    REV_UNROLL12
    for (int j = 0; j < REV_ER_TAPS; j++)
      acc = _mm256_add_ps(acc, _mm256_mul_ps(_mm256_set1_ps(g[j]), _mm256_loadu_ps(p[j] + t)));
    _mm256_storeu_ps(e + t, acc);
  }
  for (; t < n; t++) {
    float acc = 0.0f;
    for (int j = 0; j < REV_ER_TAPS; j++) acc += g[j] * p[j][t];
    e[t] = acc;
  }
  return 1;
}
#endif

/* The FDN over m <= seg_max frames within one control cell (st->phase + m
 * <= MIXSTAGE_CONTROL_FRAMES): v[] is the diffused input, late[c][] gets
 * each channel's late taps.  Lines are at least m long, so the block's
 * reads are all of values written before it: they are gathered into
 * frame-major rows z[t][line], each frame then runs absorb, taps, rotation,
 * Hadamard and injection on four lines per vector, and the rows are
 * written back line by line.  Per frame the operations are those of a
 * sample-by-sample loop, so any split of the cell gives the same bits. */
static void fdn_block(reverb_state *st, const float *v, int m, int nch,
                      float late[][MIXSTAGE_CONTROL_FRAMES]) {
  float z[MIXSTAGE_CONTROL_FRAMES][REV_LINES];
  const int size = st->line_mask + 1;
#if REV_AVX2
  if (st->avx2) {
    float *lr[MIXSTAGE_MAX_CHANNELS];
    for (int c = 0; c < nch; c++) lr[c] = late[c];
    fdn_block_avx2(st, v, m, nch, lr);
    return;
  }
#endif
  /* Line-major copies of the block's reads (split at each buffer's end),
   * then transposed four by four into frame-major rows. */
  float rd[REV_LINES][MIXSTAGE_CONTROL_FRAMES + 3];
  for (int i = 0; i < REV_LINES; i++) {
    const float *ln = st->line[i];
    int start = (st->line_wp - st->len[i]) & st->line_mask;
    int n1 = size - start < m ? size - start : m;
    memcpy(rd[i], ln + start, sizeof(float) * (size_t)n1);
    memcpy(rd[i] + n1, ln, sizeof(float) * (size_t)(m - n1));
  }
#if REV_VECTOR
  const int m4 = m & ~3;
  for (int q = 0; q < REV_LINES; q += 4)
    for (int t = 0; t < m4; t += 4) transpose4(&rd[q][t], (int)(sizeof rd[0] / sizeof(float)), &z[t][q], REV_LINES);
  for (int t = m4; t < m; t++)
    for (int i = 0; i < REV_LINES; i++) z[t][i] = rd[i][t];
#else
  for (int t = 0; t < m; t++)
    for (int i = 0; i < REV_LINES; i++) z[t][i] = rd[i][t];
#endif
  const int k0 = st->phase - st->rot_base;
#if REV_VECTOR
  /* Absorption (Jot): the low shelf with the line gain, then the high;
   * four lines at a time over the block (their coefficients and memory
   * then stay in registers), in place on z. */
  for (int q = 0; q < 4; q++) {
    const rev_v4f lb0 = ld4(st->lo_b0 + 4 * q), ld = ld4(st->lo_d + 4 * q);
    const rev_v4f la1 = ld4(st->lo_a1 + 4 * q), hb0 = ld4(st->hi_b0 + 4 * q);
    const rev_v4f hd = ld4(st->hi_d + 4 * q), ha1 = ld4(st->hi_a1 + 4 * q);
    rev_v4f ls = ld4(st->lo_s + 4 * q), hs = ld4(st->hi_s + 4 * q);
    for (int t = 0; t < m; t++) {
      rev_v4f in = ld4(z[t] + 4 * q);
      rev_v4f y = lb0 * in + ls;
      ls = ld * in - la1 * ls;
      st4(z[t] + 4 * q, hb0 * y + hs);
      hs = hd * y - ha1 * hs;
    }
    st4(st->lo_s + 4 * q, ls);
    st4(st->hi_s + 4 * q, hs);
  }
  rev_v4f ing[4];
  for (int q = 0; q < 4; q++) ing[q] = ld4(st->in_gain + 4 * q);
  /* Per frame and channel the four partial tap sums, added up four frames
   * at a time below. */
  float acc[MIXSTAGE_MAX_CHANNELS][MIXSTAGE_CONTROL_FRAMES + 3][4];
  rev_v4f pc[2], ps[2];
  for (int h = 0; h < 2; h++)
    for (int l = 0; l < 4; l++) {
      pc[h][l] = (float)st->rot_c[4 * h + l];
      ps[h][l] = (float)st->rot_s[4 * h + l];
    }
  for (int t = 0; t < m; t++) {
    rev_v4f x[4];
    for (int q = 0; q < 4; q++) x[q] = ld4(z[t] + 4 * q);
    /* Late taps: each channel's sum over its lines. */
    for (int c = 0; c < nch; c++) {
      rev_v4f a = ld4(st->tap[c]) * x[0] + ld4(st->tap[c] + 4) * x[1];
      a += ld4(st->tap[c] + 8) * x[2] + ld4(st->tap[c] + 12) * x[3];
      st4(acc[c][t], a);
    }
    /* Time-varying part of the feedback matrix: rotations of the pairs
     * (k, k + 8) by the cell's phasor times this frame's power. */
    const int k = k0 + t;
    for (int h = 0; h < 2; h++) {
      rev_v4f er = ld4(st->rot_pcf[k] + 4 * h), ei = ld4(st->rot_psf[k] + 4 * h);
      rev_v4f c = pc[h] * er - ps[h] * ei, s = ps[h] * er + pc[h] * ei;
      rev_v4f a = x[h], b = x[h + 2];
      x[h] = c * a - s * b;
      x[h + 2] = s * a + c * b;
    }
    /* Hadamard: stages h = 8, 4 across vectors, then 1, 2 inside them (the
     * stages commute); the scale 1/4 is in lo_b0/lo_d. */
    rev_v4f a0 = x[0] + x[2], a2 = x[0] - x[2], a1 = x[1] + x[3], a3 = x[1] - x[3];
    x[0] = h4(a0 + a1);
    x[1] = h4(a0 - a1);
    x[2] = h4(a2 + a3);
    x[3] = h4(a2 - a3);
    const rev_v4f vb = {v[t], v[t], v[t], v[t]};
    for (int q = 0; q < 4; q++) st4(z[t] + 4 * q, flush4(x[q] + ing[q] * vb));
  }
  /* late = (a0 + a1) + (a2 + a3) per frame, four frames per transpose. */
  for (int c = 0; c < nch; c++)
    for (int t = 0; t < m; t += 4) {
      float tr[4][4];
      transpose4(acc[c][t], 4, tr[0], 4);
      rev_v4f sum = (ld4(tr[0]) + ld4(tr[1])) + (ld4(tr[2]) + ld4(tr[3]));
      if (t + 4 <= m) {
        st4(late[c] + t, sum);
      } else {
        for (int l = 0; l < m - t; l++) late[c][t + l] = sum[l];
      }
    }
#else
  for (int t = 0; t < m; t++) {
    float x[REV_LINES];
    for (int i = 0; i < REV_LINES; i++) {
      float in = z[t][i];
      float y = st->lo_b0[i] * in + st->lo_s[i];
      st->lo_s[i] = st->lo_d[i] * in - st->lo_a1[i] * st->lo_s[i];
      x[i] = st->hi_b0[i] * y + st->hi_s[i];
      st->hi_s[i] = st->hi_d[i] * y - st->hi_a1[i] * st->hi_s[i];
    }
    for (int c = 0; c < nch; c++) {
      float a[4];
      for (int l = 0; l < 4; l++)
        a[l] = st->tap[c][l] * x[l] + st->tap[c][4 + l] * x[4 + l] +
               (st->tap[c][8 + l] * x[8 + l] + st->tap[c][12 + l] * x[12 + l]);
      late[c][t] = (a[0] + a[1]) + (a[2] + a[3]);
    }
    const int k = k0 + t;
    for (int j = 0; j < REV_LINES / 2; j++) {
      float pcj = (float)st->rot_c[j], psj = (float)st->rot_s[j];
      float er = st->rot_pcf[k][j], ei = st->rot_psf[k][j];
      float c = pcj * er - psj * ei, s = psj * er + pcj * ei;
      float a = x[j], b = x[j + 8];
      x[j] = c * a - s * b;
      x[j + 8] = s * a + c * b;
    }
    for (int l = 0; l < 4; l++) {
      float a0 = x[l] + x[8 + l], a2 = x[l] - x[8 + l];
      float a1 = x[4 + l] + x[12 + l], a3 = x[4 + l] - x[12 + l];
      x[l] = a0 + a1;
      x[4 + l] = a0 - a1;
      x[8 + l] = a2 + a3;
      x[12 + l] = a2 - a3;
    }
    for (int q = 0; q < REV_LINES; q += 4) {
      float p0 = x[q] + x[q + 1], p1 = x[q] - x[q + 1];
      float p2 = x[q + 2] + x[q + 3], p3 = x[q + 2] - x[q + 3];
      x[q] = p0 + p2;
      x[q + 1] = p1 + p3;
      x[q + 2] = p0 - p2;
      x[q + 3] = p1 - p3;
    }
    for (int i = 0; i < REV_LINES; i++) z[t][i] = flush(x[i] + st->in_gain[i] * v[t]);
  }
#endif
#if REV_VECTOR
  for (int q = 0; q < REV_LINES; q += 4)
    for (int t = 0; t < m4; t += 4) transpose4(&z[t][q], REV_LINES, &rd[q][t], (int)(sizeof rd[0] / sizeof(float)));
  for (int t = m4; t < m; t++)
    for (int i = 0; i < REV_LINES; i++) rd[i][t] = z[t][i];
#else
  for (int t = 0; t < m; t++)
    for (int i = 0; i < REV_LINES; i++) rd[i][t] = z[t][i];
#endif
  {
    int n1 = size - st->line_wp < m ? size - st->line_wp : m;
    for (int i = 0; i < REV_LINES; i++) {
      memcpy(st->line[i] + st->line_wp, rd[i], sizeof(float) * (size_t)n1);
      memcpy(st->line[i], rd[i] + n1, sizeof(float) * (size_t)(m - n1));
    }
  }
  st->line_wp = (st->line_wp + m) & st->line_mask;

  st->phase += m;
  if (st->phase == MIXSTAGE_CONTROL_FRAMES) {
    st->phase = 0;
    for (int j = 0; j < REV_LINES / 2; j++)
      rot_advance(st, j, MIXSTAGE_CONTROL_FRAMES - st->rot_base);
    st->rot_base = 0;
    for (int i = 0; i < REV_LINES; i++) {
      st->lo_s[i] = flush(st->lo_s[i]);
      st->hi_s[i] = flush(st->hi_s[i]);
    }
  }
}

/* The frame-wise mix, element by element as a per-frame loop would do it:
 * wet = g_e er + g_l late; mid = (sum of wet) inv; wet = mid + w (wet - mid);
 * out = g_dry out + wet. */
static void mix_wet(float *wet, const float *ge, const float *er, const float *gl,
                    const float *late, int n) {
  int i = 0;
#if REV_VECTOR
  for (; i + 4 <= n; i += 4)
    st4(wet + i, ld4(ge + i) * ld4(er + i) + ld4(gl + i) * ld4(late + i));
#endif
  for (; i < n; i++) wet[i] = ge[i] * er[i] + gl[i] * late[i];
}

static void mix_add(float *mid, const float *wet, int n) {
  int i = 0;
#if REV_VECTOR
  for (; i + 4 <= n; i += 4) st4(mid + i, ld4(mid + i) + ld4(wet + i));
#endif
  for (; i < n; i++) mid[i] += wet[i];
}

static void mix_width(float *wet, const float *sum, float inv_nch, const float *w, int n) {
  int i = 0;
#if REV_VECTOR
  const rev_v4f iv = {inv_nch, inv_nch, inv_nch, inv_nch};
  for (; i + 4 <= n; i += 4) {
    rev_v4f mid = ld4(sum + i) * iv;
    st4(wet + i, mid + ld4(w + i) * (ld4(wet + i) - mid));
  }
#endif
  for (; i < n; i++) {
    float mid = sum[i] * inv_nch;
    wet[i] = mid + w[i] * (wet[i] - mid);
  }
}

static void mix_out(float *out, const float *g, const float *wet, int n) {
  int i = 0;
#if REV_VECTOR
  for (; i + 4 <= n; i += 4) st4(out + i, ld4(g + i) * ld4(out + i) + ld4(wet + i));
#endif
  for (; i < n; i++) out[i] = g[i] * out[i] + wet[i];
}

#if REV_AVX2
/* The frame-wise mix of a stereo block in one pass, eight frames per
 * vector: mix_wet, mix_add, mix_width and mix_out's operations in their
 * order (products rounded, then sums), so the same bits. */
static REV_AVX2_FMA void mix_stereo_avx2(float *const *buf, int t0, const float *gd, const float *ge,
                                         const float *gl, const float *gw, float *const *er,
                                         float *const *late, int n) {
  const __m256 half = _mm256_set1_ps(0.5f); /* inv_nch for two channels */
  float *o0 = buf[0] + t0, *o1 = buf[1] + t0;
  int i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m256 e = _mm256_loadu_ps(ge + i), l = _mm256_loadu_ps(gl + i);
    __m256 w0 = _mm256_add_ps(_mm256_mul_ps(e, _mm256_loadu_ps(er[0] + i)), _mm256_mul_ps(l, _mm256_loadu_ps(late[0] + i)));
    __m256 w1 = _mm256_add_ps(_mm256_mul_ps(e, _mm256_loadu_ps(er[1] + i)), _mm256_mul_ps(l, _mm256_loadu_ps(late[1] + i)));
    const __m256 mid = _mm256_mul_ps(_mm256_add_ps(w0, w1), half), w = _mm256_loadu_ps(gw + i);
    w0 = _mm256_add_ps(mid, _mm256_mul_ps(w, _mm256_sub_ps(w0, mid)));
    w1 = _mm256_add_ps(mid, _mm256_mul_ps(w, _mm256_sub_ps(w1, mid)));
    const __m256 d = _mm256_loadu_ps(gd + i);
    _mm256_storeu_ps(o0 + i, _mm256_add_ps(_mm256_mul_ps(d, _mm256_loadu_ps(o0 + i)), w0));
    _mm256_storeu_ps(o1 + i, _mm256_add_ps(_mm256_mul_ps(d, _mm256_loadu_ps(o1 + i)), w1));
  }
  for (; i < n; i++) {
    float w0 = ge[i] * er[0][i] + gl[i] * late[0][i], w1 = ge[i] * er[1][i] + gl[i] * late[1][i];
    const float mid = (w0 + w1) * 0.5f;
    w0 = mid + gw[i] * (w0 - mid);
    w1 = mid + gw[i] * (w1 - mid);
    o0[i] = gd[i] * o0[i] + w0;
    o1[i] = gd[i] * o1[i] + w1;
  }
}
#endif

#if REV_AVX2
/* mix_stereo_avx2 with every gain one constant (no ramp in the cell). */
static REV_AVX2_FMA void mix_stereo_const_avx2(float *const *buf, int t0, float gdc, float gec, float glc,
                                               float gwc, float *const *er, float *const *late, int n) {
  const __m256 half = _mm256_set1_ps(0.5f);
  const __m256 e = _mm256_set1_ps(gec), l = _mm256_set1_ps(glc), w = _mm256_set1_ps(gwc);
  const __m256 d = _mm256_set1_ps(gdc);
  float *o0 = buf[0] + t0, *o1 = buf[1] + t0;
  int i = 0;
  for (; i + 8 <= n; i += 8) {
    __m256 w0 = _mm256_add_ps(_mm256_mul_ps(e, _mm256_loadu_ps(er[0] + i)), _mm256_mul_ps(l, _mm256_loadu_ps(late[0] + i)));
    __m256 w1 = _mm256_add_ps(_mm256_mul_ps(e, _mm256_loadu_ps(er[1] + i)), _mm256_mul_ps(l, _mm256_loadu_ps(late[1] + i)));
    const __m256 mid = _mm256_mul_ps(_mm256_add_ps(w0, w1), half);
    w0 = _mm256_add_ps(mid, _mm256_mul_ps(w, _mm256_sub_ps(w0, mid)));
    w1 = _mm256_add_ps(mid, _mm256_mul_ps(w, _mm256_sub_ps(w1, mid)));
    _mm256_storeu_ps(o0 + i, _mm256_add_ps(_mm256_mul_ps(d, _mm256_loadu_ps(o0 + i)), w0));
    _mm256_storeu_ps(o1 + i, _mm256_add_ps(_mm256_mul_ps(d, _mm256_loadu_ps(o1 + i)), w1));
  }
  for (; i < n; i++) {
    float w0 = gec * er[0][i] + glc * late[0][i], w1 = gec * er[1][i] + glc * late[1][i];
    const float mid = (w0 + w1) * 0.5f;
    w0 = mid + gwc * (w0 - mid);
    w1 = mid + gwc * (w1 - mid);
    o0[i] = gdc * o0[i] + w0;
    o1[i] = gdc * o1[i] + w1;
  }
}
#endif

static void reverb_process(void *s, float *const *buf, int nch, int nframes,
                           const float *const *key, int key_nch) {
  (void)key;
  (void)key_nch;
  reverb_state *st = s;
  const float inv_nch = 1.0f / (float)nch;
  const int pmask = st->pre_mask;
  float wet_b[MIXSTAGE_MAX_CHANNELS][MIXSTAGE_CONTROL_FRAMES];
  float er[MIXSTAGE_MAX_CHANNELS][MIXSTAGE_CONTROL_FRAMES];
  float late[MIXSTAGE_MAX_CHANNELS][MIXSTAGE_CONTROL_FRAMES];
  float v_cell[MIXSTAGE_CONTROL_FRAMES];
#if REV_AVX2
  float er_seg[2][REV_SEG], late_seg[2][REV_SEG], v_seg[REV_SEG];
#endif

  for (int t0 = 0; t0 < nframes;) {
    int nb = nframes - t0, seg = 0;
    const int settled = st->cell_pos + t0 + 1 >= MIXSTAGE_CONTROL_FRAMES;
    float *erp[MIXSTAGE_MAX_CHANNELS], *latep[MIXSTAGE_MAX_CHANNELS], *v = v_cell;
#if REV_AVX2
    /* Settled stereo from a point of the eight-frame grid: whole groups of
     * eight across cells (the FDN kernel moves the phasors on at each
     * cell's end), up to seg_big frames and the lines' end. */
    if (st->avx2 && nch == 2 && settled && !(st->phase & 7)) {
      int n = nb < st->seg_big ? nb : st->seg_big;
      const int to_end = st->line_mask + 1 - st->line_wp;
      n = (n < to_end ? n : to_end) & ~7;
      if (n > 0) {
        nb = n;
        seg = 1;
        for (int c = 0; c < 2; c++) {
          erp[c] = er_seg[c];
          latep[c] = late_seg[c];
        }
        v = v_seg;
      }
    }
#endif
    if (!seg) {
      /* A block within one cell, no longer than the shortest line. */
      if (nb > MIXSTAGE_CONTROL_FRAMES - st->phase) nb = MIXSTAGE_CONTROL_FRAMES - st->phase;
      if (nb > st->seg_max) nb = st->seg_max;
      for (int c = 0; c < nch; c++) {
        erp[c] = er[c];
        latep[c] = late[c];
      }
    }
    /* Pre-delay line, also the early-reflection tap line: the block's mono
     * input first, then the taps over the block (every tap reads at least
     * one frame back, and the line has a segment of slack, so this reads
     * what a frame-by-frame loop would). */
    const int wp0 = st->pre_wp;
    int i = 0;
#if REV_AVX2
    if (st->avx2 && wp0 + nb <= pmask + 1) i = mono_in_avx2(st->pre + wp0, buf, t0, nch, inv_nch, nb);
#endif
#if REV_VECTOR
    if (wp0 + nb <= pmask + 1) /* no wrap: four frames per vector, the same sums */
      for (; i + 4 <= nb; i += 4) {
        rev_v4f x = {0.0f, 0.0f, 0.0f, 0.0f};
        for (int c = 0; c < nch; c++) x += ld4(buf[c] + t0 + i);
        st4(st->pre + wp0 + i, x * inv_nch);
      }
#endif
    for (; i < nb; i++) {
      float x = 0.0f;
      for (int c = 0; c < nch; c++) x += buf[c][t0 + i];
      st->pre[(wp0 + i) & pmask] = x * inv_nch;
    }
    for (int c = 0; c < nch; c++) {
#if REV_AVX2
      if (st->avx2 && early_taps_avx2(st, c, wp0, nb, erp[c])) continue;
#endif
      early_taps(st, c, wp0, nb, erp[c]);
    }
    st->pre_wp = (wp0 + nb) & pmask;

    /* Input diffusion, then the late reverb. */
    {
      const int rs = (wp0 - st->predelay) & pmask;
      if (rs + nb <= pmask + 1) memcpy(v, st->pre + rs, sizeof(float) * (size_t)nb);
      else
        for (int k = 0; k < nb; k++) v[k] = st->pre[(rs + k) & pmask];
    }
    for (int a = 0; a < REV_AP; a++) {
#if REV_AVX2
      if (st->avx2) {
        allpass_block_avx2(st->ap[a], st->ap_len[a], &st->ap_pos[a], st->ap_g[a], v, nb);
        continue;
      }
#endif
      allpass_block(st->ap[a], st->ap_len[a], &st->ap_pos[a], st->ap_g[a], v, nb);
    }
#if REV_AVX2
    if (seg)
      fdn_block_avx2(st, v, nb, nch, latep);
    else
#endif
      fdn_block(st, v, nb, nch, late);

    /* Gains per frame (ramps only in a cell after an update), then the
     * mix frame-wise, four frames per vector where the compiler can. */
    float g_dry[MIXSTAGE_CONTROL_FRAMES], g_e[MIXSTAGE_CONTROL_FRAMES];
    float g_l[MIXSTAGE_CONTROL_FRAMES], g_w[MIXSTAGE_CONTROL_FRAMES];
#if REV_AVX2
    if (st->avx2 && nch == 2 && settled) { /* the targets throughout */
      mix_stereo_const_avx2(buf, t0, st->dry.target, st->early.target, st->late.target,
                            st->width.target, erp, latep, nb);
      t0 += nb;
      continue;
    }
#endif
    if (settled) {
      for (int i = 0; i < nb; i++) {
        g_dry[i] = st->dry.target;
        g_e[i] = st->early.target;
        g_l[i] = st->late.target;
        g_w[i] = st->width.target;
      }
    } else {
      for (int i = 0; i < nb; i++) {
        const int k = st->cell_pos + t0 + i + 1;
        g_dry[i] = ramp_at(&st->dry, k);
        g_e[i] = ramp_at(&st->early, k);
        g_l[i] = ramp_at(&st->late, k);
        g_w[i] = ramp_at(&st->width, k);
      }
    }
#if REV_AVX2
    if (st->avx2 && nch == 2) {
      mix_stereo_avx2(buf, t0, g_dry, g_e, g_l, g_w, erp, latep, nb);
      t0 += nb;
      continue;
    }
#endif
    for (int c = 0; c < nch; c++) mix_wet(wet_b[c], g_e, erp[c], g_l, latep[c], nb);
    /* Width around the channel mean (mid/side for stereo). */
    if (nch > 1) {
      float mid[MIXSTAGE_CONTROL_FRAMES];
      memcpy(mid, wet_b[0], sizeof(float) * (size_t)nb);
      for (int c = 1; c < nch; c++) mix_add(mid, wet_b[c], nb);
      for (int c = 0; c < nch; c++) mix_width(wet_b[c], mid, inv_nch, g_w, nb);
    }
    for (int c = 0; c < nch; c++) mix_out(buf[c] + t0, g_dry, wet_b[c], nb);
    t0 += nb;
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
    .max_frames = 8 * MIXSTAGE_CONTROL_FRAMES, /* a block: reverb_process cuts it within cells */
};
