/* libmixstage internal: second-order sections as float trapezoidal state-
 * variable filters (SVF), run on lanes (the channels of one or several
 * strips side by side in vectors).
 *
 * Why this structure.  A direct form in float fails the EQ's accuracy at
 * low corners: a 20 Hz section at 96 kHz has 1 + a1 + a2 ~ 4e-7, so a
 * float a1 or a2 (rounding 6e-8) moves the DC gain by ~15 % (over 1 dB),
 * and its float state adds noise amplified by ~1/(1 + a1 + a2).  The
 * trapezoidal-integrated SVF (two integrators in a loop, Zavalishin's
 * topology-preserving transform; Simper's "linear trapezoidal SVF")
 * instead carries g = tan(pi f / fs) and k = 1/Q as separate small
 * coefficients: a float g is relatively exact (the corner moves by 6e-8
 * relative), and its states are the integrators' outputs, so the rounding
 * noise is not amplified by the pole's closeness to z = 1.
 * tests/check_eq.c (test_svf_low_corners) measures 20-30 Hz shelves,
 * bells and high-passes at 48 and 96 kHz, with deep cuts, against the
 * cookbook response within 0.05 dB.
 *
 * Coefficients are designed in double (lib/dsp/biquad.c, the RBJ
 * cookbook) and converted here, in double, to the SVF of exactly the same
 * transfer function (mixstage__svf_from_biquad), then rounded to float.
 *
 * Per sample and section, in this order (float):
 *     v3 = x - s2
 *     y  = d1 s1 + (d3 v3 + d0 x)
 *     u1 = c1 s1 + c2 v3,   u2 = c2 s1 + c3 v3
 *     s1 = u1 - s1,         s2 = s2 + u2
 * where the CPU has FMA (mixstage__svf_fused), each "a b + c" above whose
 * c is a product or a sum of products is one fused multiply-add: y =
 * fma(d1, s1, fma(d3, v3, d0 x)), u1 = fma(c1, s1, c2 v3), u2 = fma(c2,
 * s1, c3 v3); otherwise every product and sum is rounded.  Every kernel
 * (per-node and lane group) picks the same way, so their bits agree on
 * any one machine.
 * with c1 = 2 a1, c2 = 2 a2, c3 = 2 a3 of Simper's a1 = 1/(1 + g(g + k)),
 * a2 = g a1, a3 = g a2, and the output mix m0 x + m1 v1 + m2 v2 folded into
 * d0 = m0 + m2, d1 = m1 a1 + m2 a2, d3 = m1 a2 + m2 (a3 - 1).  Every kernel
 * below (four-lane portable, eight-lane AVX) does exactly these operations
 * per lane, so a lane's bits do not depend on the kernel or its neighbours.
 *
 * Layout: one section of a lane bank is MIXSTAGE__SVF_ROWS rows of
 * `stride` floats; row r, lane l at sec[r * stride + l].  Padding lanes
 * hold zero coefficients (zeroed memory does) and stay silent.
 */
#ifndef MIXSTAGE_DSP_SVF_H
#define MIXSTAGE_DSP_SVF_H
#include "biquad.h"

enum {
  MIXSTAGE__SVF_D0,
  MIXSTAGE__SVF_D1,
  MIXSTAGE__SVF_D3,
  MIXSTAGE__SVF_C1,
  MIXSTAGE__SVF_C2,
  MIXSTAGE__SVF_C3,
  MIXSTAGE__SVF_S1,
  MIXSTAGE__SVF_S2,
  MIXSTAGE__SVF_ROWS
};
#define MIXSTAGE__SVF_COEFS MIXSTAGE__SVF_S1 /* rows before the memory */

/* Lanes of the portable kernel's vector; strides are multiples of it. */
#define MIXSTAGE__SVF_W 4
#define MIXSTAGE__SVF_PAD(n) (((n) + MIXSTAGE__SVF_W - 1) / MIXSTAGE__SVF_W * MIXSTAGE__SVF_W)

/* Memory magnitudes below this are flushed to zero by the kernels' flush:
 * 1e-30 is 600 dB below full scale, and 8 decades above float's smallest
 * normal, so between two flushes (32 frames) the memory can only reach
 * denormals in a section with poles near the origin, which takes it to
 * exact zero within a few samples. */
#define MIXSTAGE__SVF_FLUSH 1e-30f

/* The SVF coefficients (MIXSTAGE__SVF_COEFS floats, in row order) of the
 * biquad c, which must be stable (every design function's output is).
 * Exactly flat sections (b == a, see mixstage__svf_is_identity) give d0 = 1
 * and d1 = d3 = 0: the output is the input, bit for bit, whatever the
 * memory. */
void mixstage__svf_from_biquad(const mixstage__biquad *c, float coef[MIXSTAGE__SVF_COEFS]);
/* b0 = 1, b1 = a1, b2 = a2: the biquad is the identity. */
int mixstage__svf_is_identity(const mixstage__biquad *c);

/* 1 where the kernels fuse multiply-adds (x86 with AVX2 and FMA). */
int mixstage__svf_fused(void);

/* Sets lane `lane`'s coefficients of one section (its memory untouched). */
void mixstage__svf_lanes_set(float *sec, int stride, int lane, const float coef[MIXSTAGE__SVF_COEFS]);
/* Clears the memory of every lane of one section. */
void mixstage__svf_lanes_clear(float *sec, int stride);

/* In place over buf[l][0 .. n-1], lanes l = 0 .. nlanes-1 (nlanes <=
 * stride, stride a multiple of MIXSTAGE__SVF_W), through sections
 * sec[0 .. nsec-1] in series (nsec may be 0), then times gain[i] when gain
 * is not NULL (frame i's gain, shared by the lanes).  flush != 0: after
 * the block, memory below MIXSTAGE__SVF_FLUSH is zeroed (call it at fixed
 * points of the timeline, so the output does not depend on block splits).
 * Portable (compiler vector extensions, or scalar). */
void mixstage__svf_lanes_process(float *const *sec, int nsec, int stride, int nlanes, float *const *buf,
                                 const float *gain, int n, int flush);

/* Eight lanes in one AVX vector: sec[k] is a section with stride 8,
 * buf[0 .. 7] the lanes' samples in place (a padding lane points at n
 * floats of scratch and has zero coefficients), gain NULL or n frames of
 * eight per-lane gains, frame-major (gain[8 i + l]).  The same operations
 * per lane as mixstage__svf_lanes_process, so the same bits.  Only where
 * mixstage__svf_lanes8_available() (checked at run time).  No allocation. */
int mixstage__svf_lanes8_available(void);
void mixstage__svf_lanes8_process(float *const *sec, int nsec, float *const *buf, const float *gain, int n,
                                  int flush);

#endif
