/* libmixstage internal: the console colour's distortion residual, a block of
 * samples at a time (lib/nodes/console_color.c describes the curve).
 *
 *   r = cd (t + beta t^2) - x,   t = tanh(a x),   a = d / c,  cd = c / d
 *
 * tanh is fastmath.h's rational form (relative error <= 4e-7), so
 * |r - r_exact| <= 1e-6 |x| (tanh's error scaled by cd (1 + 2 beta |t|)
 * <= 1.1 cd, plus the float roundings of a x, the sum and the final
 * difference, each <= 6e-8 |x|): below -120 dB of the signal, on a residual
 * that is added to an exact clean path.  tests/check_bus_stages.c checks
 * every kernel against a double-precision reference over the parameter
 * ranges.  The rational tanh is odd by construction (x P(x^2) / Q(x^2)), so
 * with beta = 0 the residual is exactly odd: no even harmonics.  The
 * portable and SSE2 kernels give the same bits; the AVX2/FMA
 * one rounds its multiply-adds once, so a caller picks one kernel per
 * machine (mixstage__cc_residual_best) and keeps it. */
#ifndef MIXSTAGE_DSP_COLOUR_CURVE_H
#define MIXSTAGE_DSP_COLOUR_CURVE_H

enum {
  MIXSTAGE_CC_KERNEL_PORTABLE = 0,
  MIXSTAGE_CC_KERNEL_SSE2 = 1,
  MIXSTAGE_CC_KERNEL_AVX2 = 2,
  MIXSTAGE_CC_KERNELS = 3
};

/* Whether kernel k runs on this machine and build. */
int mixstage__cc_residual_available(int kernel);
/* The fastest available kernel (tested once at init). */
int mixstage__cc_residual_best(void);
/* h[0 .. n-1] (any n >= 0) replaced by its residual, in place. */
void mixstage__cc_residual(int kernel, float *h, int n, float a, float cd, float beta);
/* The same for h[0 .. count-1], each of n samples (the constants set up
 * once): the bits of count calls of mixstage__cc_residual. */
void mixstage__cc_residual_many(int kernel, float *const *h, int count, int n, float a, float cd,
                                float beta);

#endif
