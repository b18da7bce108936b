/* libmixstage internal: second-order (biquad) and first-order IIR sections.
 *
 * Design functions follow Robert Bristow-Johnson, "Cookbook formulae for
 * audio EQ biquad filter coefficients" (the RBJ Audio EQ Cookbook), with
 * w0 = 2 pi f / fs and alpha = sin(w0) / (2 Q).  First-order sections come
 * from the bilinear transform with the corner pre-warped (K = tan(w0 / 2)),
 * so the corner lands exactly on f.  Butterworth cascades use the analogue
 * pole angles: section k of an order-n filter has
 *     Q_k = 1 / (2 sin((2k - 1) pi / (2n))),  k = 1 .. floor(n / 2),
 * plus one first-order section when n is odd.
 *
 * Conventions
 *  - Coefficients are double, normalised so a0 = 1:
 *        y[n] = b0 x[n] + b1 x[n-1] + b2 x[n-2] - a1 y[n-1] - a2 y[n-2].
 *    A first-order section is a biquad with b2 = a2 = 0.
 *  - Every design function clamps f to mixstage__biquad_clamp_freq() and Q to
 *    [MIXSTAGE__BIQUAD_Q_MIN, MIXSTAGE__BIQUAD_Q_MAX], so any finite input
 *    yields a stable filter (poles strictly inside the unit circle).  Non-
 *    finite f or Q give the identity section.
 *  - Design functions are pure arithmetic (no allocation) and may run at
 *    render time (e.g. in a node's update()), but cost a few transcendental
 *    calls: do not call them per sample.
 *  - Processing is transposed direct form II in double, one state struct per
 *    channel per section; float in, float out.  It is sample-sequential, so
 *    any split of a block gives identical bits.
 *  - Denormals: the recursive output is flushed to exactly 0 below 1e-280
 *    (far below float's range, so the float output is unchanged); a section
 *    fed silence therefore decays to exact zeros instead of crawling through
 *    double denormals, with or without FTZ/DAZ.
 *
 * Typical use
 *     mixstage__biquad hp[2];
 *     mixstage__biquad_state st[2][MIXSTAGE_MAX_CHANNELS];
 *     int n = mixstage__butterworth_highpass(hp, 4, 80.0, fs);   // 24 dB/oct
 *     for (c...) mixstage__biquad_process_cascade(hp, n, st_of_channel_c, buf[c], frames);
 * (keep the states of one channel contiguous: states[c * nsec + k]).
 */
#ifndef MIXSTAGE_DSP_BIQUAD_H
#define MIXSTAGE_DSP_BIQUAD_H
#include <stdint.h>

#include "lanes.h"

/* Normalised coefficients (a0 = 1). */
typedef struct mixstage__biquad {
  double b0, b1, b2, a1, a2;
} mixstage__biquad;

/* Per-channel TDF-II memory of one section. */
typedef struct mixstage__biquad_state {
  double s1, s2;
} mixstage__biquad_state;

/* Largest Butterworth order the helpers design (4 biquads = 48 dB/oct). */
#define MIXSTAGE__BUTTERWORTH_MAX_ORDER 8
/* Sections an order-n Butterworth filter needs: ceil(n / 2). */
#define MIXSTAGE__BUTTERWORTH_SECTIONS(n) (((n) + 1) / 2)

/* Q range every design function clamps to. */
#define MIXSTAGE__BIQUAD_Q_MIN 0.025
#define MIXSTAGE__BIQUAD_Q_MAX 100.0
/* Q of a second-order Butterworth section, 1/sqrt(2). */
#define MIXSTAGE__Q_BUTTERWORTH 0.70710678118654752440

/* Clamps a design frequency into [1e-6 fs, 0.49 fs]: the upper bound keeps
 * tan(w0/2) and alpha finite and the poles away from z = -1; the lower
 * bound keeps w0 > 0 so every section stays strictly stable.  (Design
 * functions return the identity for a non-finite f before clamping.) */
double mixstage__biquad_clamp_freq(double f, double fs);

/* b0 = 1, all else 0: passes audio unchanged (bit-exact through _tick). */
void mixstage__biquad_identity(mixstage__biquad *c);

/* ---- RBJ cookbook second-order designs ----------------------------------- */
/* 12 dB/oct low-/high-pass, -3.01 dB at f when q = 1/sqrt(2). */
void mixstage__biquad_lowpass(mixstage__biquad *c, double f, double q, double fs);
void mixstage__biquad_highpass(mixstage__biquad *c, double f, double q, double fs);
/* Band-pass with constant 0 dB peak gain at f (the cookbook's second BPF). */
void mixstage__biquad_bandpass(mixstage__biquad *c, double f, double q, double fs);
/* Notch: zero gain at f, -3 dB bandwidth set by q. */
void mixstage__biquad_notch(mixstage__biquad *c, double f, double q, double fs);
/* All-pass: unity gain, phase -180 degrees at f. */
void mixstage__biquad_allpass(mixstage__biquad *c, double f, double q, double fs);
/* Peaking EQ ("bell"): gain_db at f; q is the cookbook's Q (bandwidth
 * between the half-gain-in-dB points, symmetrical boost/cut). */
void mixstage__biquad_peaking(mixstage__biquad *c, double f, double q, double gain_db, double fs);
/* Shelves in the cookbook's Q form (alpha = sin(w0) / (2 Q)): gain_db at the
 * shelf, 0 dB on the other side, gain_db / 2 at f.  q = 1/sqrt(2) is the
 * cookbook's S = 1 (steepest slope without overshoot); larger q overshoots
 * (a resonant shelf).  Convert a shelf slope S with mixstage__shelf_q_from_slope. */
void mixstage__biquad_lowshelf(mixstage__biquad *c, double f, double q, double gain_db, double fs);
void mixstage__biquad_highshelf(mixstage__biquad *c, double f, double q, double gain_db, double fs);
/* Cookbook: 1/Q = sqrt((A + 1/A)(1/S - 1) + 2), A = 10^(gain_db/40); S in
 * (0, 1] gives a monotone shelf.  Returns Q (clamped to the Q range). */
double mixstage__shelf_q_from_slope(double gain_db, double slope);

/* ---- First-order designs (bilinear, pre-warped) ---------------------------- */
/* 6 dB/oct low-/high-pass, -3.01 dB at f. */
void mixstage__biquad_lowpass1(mixstage__biquad *c, double f, double fs);
void mixstage__biquad_highpass1(mixstage__biquad *c, double f, double fs);
/* H(s) = (1 - s)/(1 + s): unity gain, phase 0 at DC, -90 degrees at f. */
void mixstage__biquad_allpass1(mixstage__biquad *c, double f, double fs);
/* 6 dB/oct shelves: gain_db on the shelf side, gain_db / 2 exactly at f. */
void mixstage__biquad_lowshelf1(mixstage__biquad *c, double f, double gain_db, double fs);
void mixstage__biquad_highshelf1(mixstage__biquad *c, double f, double gain_db, double fs);

/* ---- Butterworth and Linkwitz-Riley cascades ------------------------------- */
/* Q values of the second-order sections of an order-n (1..8) Butterworth
 * filter, ascending (order 4: 0.5412, 1.3066).  Writes floor(n/2) values to
 * q[] and returns that count; returns -1 for n outside 1..8. */
int mixstage__butterworth_q(int order, double *q);
/* Order-n (1..8) Butterworth low-/high-pass at f: writes ceil(n/2) sections
 * (the first-order one first when n is odd) and returns that count, or -1.
 * Magnitude is exactly 1/sqrt(1 + (wa/wc)^(2n)) on the pre-warped axis:
 * -3.01 dB at f, 6n dB/oct asymptotically. */
int mixstage__butterworth_lowpass(mixstage__biquad *sec, int order, double f, double fs);
int mixstage__butterworth_highpass(mixstage__biquad *sec, int order, double f, double fs);
/* Linkwitz-Riley low-/high-pass of order 2, 4 or 8 (a squared Butterworth of
 * half the order): -6.02 dB at f, and LP + HP sum to an all-pass (for LR2
 * the HP output must be polarity-inverted to sum flat).  Writes order/2
 * sections (LR2 = one section with Q = 0.5; LR4 = two Q = 0.7071 sections)
 * and returns that count, or -1 for other orders. */
int mixstage__linkwitz_riley(mixstage__biquad *sec, int order, int highpass, double f, double fs);

/* ---- Analytic response ------------------------------------------------------ */
/* H(e^{jw}) at frequency f: real and imaginary parts. */
void mixstage__biquad_response(const mixstage__biquad *c, double f, double fs, double *re,
                               double *im);
/* |H| (linear), and its phase in radians (-pi, pi]. */
double mixstage__biquad_magnitude(const mixstage__biquad *c, double f, double fs);
double mixstage__biquad_phase(const mixstage__biquad *c, double f, double fs);
/* 20 log10 |H| of a cascade of n sections (product of the sections). */
double mixstage__biquad_cascade_db(const mixstage__biquad *c, int n, double f, double fs);

/* ---- Processing ------------------------------------------------------------- */
static inline void mixstage__biquad_reset(mixstage__biquad_state *s) {
  s->s1 = 0.0;
  s->s2 = 0.0;
}

/* One sample through one section (TDF-II). */
static inline double mixstage__biquad_tick(const mixstage__biquad *c, mixstage__biquad_state *s,
                                           double x) {
  double y = c->b0 * x + s->s1;
  /* Flush below anything float can hold: silent input then decays to exact
   * zeros in two samples instead of through double denormals. */
  y = (y < 1e-280 && y > -1e-280) ? 0.0 : y;
  s->s1 = c->b1 * x - c->a1 * y + s->s2;
  s->s2 = c->b2 * x - c->a2 * y;
  return y;
}

/* In place over buf[0 .. n-1] through one section. */
static inline void mixstage__biquad_process(const mixstage__biquad *c, mixstage__biquad_state *s,
                                            float *buf, int n) {
  mixstage__biquad_state st = *s;
  for (int i = 0; i < n; i++) buf[i] = (float)mixstage__biquad_tick(c, &st, (double)buf[i]);
  *s = st;
}

/* In place through nsec sections in series; the signal stays double between
 * sections (rounded to float once).  s[k] is this channel's state of
 * section k. */
static inline void mixstage__biquad_process_cascade(const mixstage__biquad *c, int nsec,
                                                    mixstage__biquad_state *s, float *buf,
                                                    int n) {
  for (int i = 0; i < n; i++) {
    double v = (double)buf[i];
    for (int k = 0; k < nsec; k++) v = mixstage__biquad_tick(&c[k], &s[k], v);
    buf[i] = (float)v;
  }
}

/* ---- Lane cascades ---------------------------------------------------------- */
/* The same cascade shape run on several independent lanes (the channels of
 * a node; later the channels of several strips), one vector operation
 * advancing the same section of MIXSTAGE__LANE_W lanes (lib/dsp/lanes.h).
 * Each lane has its own coefficients.
 *
 * Layout: one section of a lane group is MIXSTAGE__BQL_ROWS rows of
 * `stride` doubles, stride = MIXSTAGE__LANE_PAD(lanes): row r, lane l at
 * sec[r * stride + l].  Padding lanes must hold zero coefficients (zeroed
 * memory does), so they stay silent.
 *
 * Double coefficients and double state, as the single-channel path: a
 * 30 Hz high-pass at 48 kHz has poles 4e-3 from z = 1, where float
 * coefficients would move the corner and float state adds low-frequency
 * noise near -100 dBFS; with two doubles per SSE2 vector a stereo channel
 * pair fills one vector anyway.  Per lane the arithmetic is exactly that of
 * mixstage__biquad_tick, in the same order, except the per-sample denormal
 * flush, which is replaced by mixstage__biquad_lanes_flush (see there).
 */
enum {
  MIXSTAGE__BQL_B0,
  MIXSTAGE__BQL_B1,
  MIXSTAGE__BQL_B2,
  MIXSTAGE__BQL_A1,
  MIXSTAGE__BQL_A2,
  MIXSTAGE__BQL_S1,
  MIXSTAGE__BQL_S2,
  MIXSTAGE__BQL_ROWS
};

/* State magnitudes below this are flushed to zero by _lanes_flush. */
#define MIXSTAGE__BQL_FLUSH 1e-200

/* Sets lane `lane`'s coefficients of one section (its memory untouched). */
/* One sample of lane `lane` through nsec sections of a lane group, in the
 * kernel's own order of operations (no flush): for per-sample paths that
 * cannot take a whole block, so they give the kernel's bits. */
static inline double mixstage__biquad_lanes_tick(double *const *sec, int nsec, int stride, int lane, double v) {
  for (int k = 0; k < nsec; k++) {
    double *p = sec[k] + lane;
    double y = p[MIXSTAGE__BQL_B0 * stride] * v + p[MIXSTAGE__BQL_S1 * stride];
    p[MIXSTAGE__BQL_S1 * stride] =
        p[MIXSTAGE__BQL_B1 * stride] * v - p[MIXSTAGE__BQL_A1 * stride] * y + p[MIXSTAGE__BQL_S2 * stride];
    p[MIXSTAGE__BQL_S2 * stride] = p[MIXSTAGE__BQL_B2 * stride] * v - p[MIXSTAGE__BQL_A2 * stride] * y;
    v = y;
  }
  return v;
}

void mixstage__biquad_lanes_set(double *sec, int stride, int lane, const mixstage__biquad *c);
/* Clears the memory of every lane of one section. */
void mixstage__biquad_lanes_clear(double *sec, int stride);

/* In place over buf[l][0 .. n-1] for lanes l = 0 .. nlanes-1 (nlanes <=
 * stride) through sections sec[0 .. nsec-1] in series; the signal stays
 * double between sections and is rounded to float once, after multiplying
 * by gain[i] when gain is not NULL (frame i's gain, shared by the lanes).
 * Sample-sequential: any split of n gives the same bits.  nsec may be 0
 * (gain only).  flush != 0: then mixstage__biquad_lanes_flush, fused (the
 * memory is flushed as the kernel stores it).  No allocation; stack use
 * ~1.5 KB. */
void mixstage__biquad_lanes_process(double *const *sec, int nsec, int stride, int nlanes,
                                    float *const *buf, const double *gain, int n, int flush);

/* Flushes state below MIXSTAGE__BQL_FLUSH in magnitude to exact zero.
 * Call it at fixed points of the signal's timeline (the node does every 32
 * frames counted from reset, whatever the block split, so renders stay
 * bit-identical across block sizes).  Why once per block is enough:
 *  - With silent input a stable section's state decays geometrically; once
 *    below the threshold it is zeroed, and zero state with zero input stays
 *    exactly zero.  So silence ends in exact zeros, and the state never
 *    lingers in (or limit-cycles through) double denormals.
 *  - Between two flushes (32 frames) a state that starts at >= 1e-200 can
 *    only reach the double denormal range (< 2.2e-308, 108 decades lower)
 *    if the section's poles lie within ~4e-4 of the origin; such a section
 *    takes any value from there to exact zero in a few samples (each step
 *    shrinks it by more than 1/2, so rounding cannot sustain it).  Denormal
 *    arithmetic is thus a few operations per decay at most, never a crawl,
 *    with or without FTZ/DAZ.
 *  - 1e-200 is 155 decades below the smallest float (1.4e-45): flushing
 *    changes no float output beyond the sign of a zero. */
void mixstage__biquad_lanes_flush(double *const *sec, int nsec, int stride);

/* ---- Four-lane cascades ------------------------------------------------------ */
/* The lane cascade above with four lanes per vector: one AVX register of
 * four doubles, for lane groups of several strips (a stereo strip already
 * fills the two-double SSE2 vector of mixstage__biquad_lanes_process, so
 * running strips side by side only pays with the wider vector).  Per lane
 * the operations, their order and the flush are exactly those of
 * mixstage__biquad_lanes_process, so the bits are the same whichever kernel
 * a lane goes through; -ffp-contract=off keeps the compiler from fusing
 * them.
 *
 * sec[k]: section k in the lane layout with stride 4.  buf[0 .. 3]: the four
 * lanes' samples, in place (a padding lane points at scratch of n silent
 * floats and has zero coefficients).  gain: NULL, or n frames of four per-
 * lane gains, frame-major (gain[4 i + l]); a lane without a gain takes 1.0,
 * which changes no bit.  Available only where the CPU has AVX (checked at
 * run time: the library is built for the baseline ISA); the caller uses
 * the two-lane kernel otherwise.  No allocation; stack use ~1.5 KB. */
int mixstage__biquad_lanes4_available(void);
void mixstage__biquad_lanes4_process(double *const *sec, int nsec, float *const *buf, const double *gain, int n,
                                     int flush);

/* ---- Two-lane cascades ------------------------------------------------------- */
/* mixstage__biquad_lanes_process for lanes 0 and 1 of a lane group (stride
 * as there), nsec = 1 .. 4 sections, no gain, for a stereo pair on CPUs with
 * AVX (mixstage__biquad_lanes4_available): the same operations in the same
 * order and the same flush, so the same bits, with three-operand vector
 * instructions and four frames per float load and store.  Other section
 * counts, or no AVX, go to mixstage__biquad_lanes_process.  No allocation;
 * no stack buffers. */
void mixstage__biquad_pair_process(double *const *sec, int nsec, int stride, float *const *buf, int n, int flush);

/* Frames for a cascade's impulse response to fall 120 dB, from its largest
 * pole radius (factor 2: margin for coincident poles, as in an LR4);
 * 10 s worth for a pole on or outside the unit circle, 0 for none. */
int64_t mixstage__biquad_cascade_tail(const mixstage__biquad *c, int n, double fs);

#endif
