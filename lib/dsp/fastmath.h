/* libmixstage internal: float tanh and log(1 + e^-2a) for waveshapers, four
 * values at a time.
 *
 * tanh is odd; for a = |x|:
 *   a <  0.55   tanh a = a + a z P(z), z = a^2, P of degree 4: the degree-5
 *               (in z) near-minimax fit of tanh(a)/a on [0, 0.55] (Lawson-
 *               weighted least squares on Chebyshev nodes, float coefficients):
 *               relative error <= 3.2e-9 in exact arithmetic.  Exact relative
 *               behaviour near 0 (a + a z P: no cancellation, tanh(a) = a in
 *               float below a ~ 3e-4).
 *   a >= 0.55   tanh a = 1 - 2 / (1 + e^{2a}) with a clamped to 9.5 (tanh
 *               rounds to 1 in float from a = 9.01), e^{2a} = 2^n 2^f with
 *               n = round(2a log2 e), |f| <= 1/2, 2^f by its Taylor series to
 *               degree 7 (remainder < (ln2 / 2)^8 / 8! * 1.5 = 8e-9), 2^n
 *               built in the exponent field.  From a = 0.55, 2 / (1 + e^{2a})
 *               <= tanh a, so the subtraction at most doubles its relative
 *               error.
 * Whole-range bound with float rounding: relative error <= 4e-7 (about 6
 * float ulps), tests/check_saturation measures it against libm's tanh over
 * [-20, 20] and at the extremes.  A NaN input gives +-1 or NaN (no trap);
 * the engine contains non-finite samples separately.
 *
 * log(1 + e^{-2a}), a >= 0 (the non-linear part of log cosh a = a - ln 2 +
 * log(1 + e^{-2a})): a clamped to 12 (the term is < 4e-11 beyond), e = e^{-2a}
 * as above, then log(1 + e) = 2 atanh(s), s = e / (2 + e) <= 1/3, by its
 * series to s^15 (remainder < (1/9)^8 / 17 * 2/3 = 9e-10 relative).  Float
 * rounding: <= 2e-7 absolute (values lie in [0, ln 2]), checked in
 * tests/check_saturation against libm.
 *
 * The vector form (GCC/Clang vector extension, SSE2 on x86-64, generic
 * lowering elsewhere) and the scalar form do the same float operations in
 * the same order, so they give the same bits; callers use one of them for a
 * whole build so output never depends on a sample's position in a block.
 */
#ifndef MIXSTAGE_DSP_FASTMATH_H
#define MIXSTAGE_DSP_FASTMATH_H

#include <stdint.h>
#include <string.h>

#define MIXSTAGE_TANH_SMALL 0.55f
#define MIXSTAGE_TANH_CLAMP 9.5f
/* Near-minimax coefficients of (tanh(a)/a - 1) / z = P(z), see above. */
#define MIXSTAGE_TANH_P1 -3.333331048e-01f
#define MIXSTAGE_TANH_P2 1.333246082e-01f
#define MIXSTAGE_TANH_P3 -5.384274200e-02f
#define MIXSTAGE_TANH_P4 2.103979141e-02f
#define MIXSTAGE_TANH_P5 -6.235699635e-03f
/* Taylor coefficients of 2^f: (ln 2)^k / k!. */
#define MIXSTAGE_EXP2_C1 0.693147180559945f
#define MIXSTAGE_EXP2_C2 0.240226506959101f
#define MIXSTAGE_EXP2_C3 0.0555041086648216f
#define MIXSTAGE_EXP2_C4 0.00961812910762848f
#define MIXSTAGE_EXP2_C5 0.00133335581464284f
#define MIXSTAGE_EXP2_C6 0.000154035303933816f
#define MIXSTAGE_EXP2_C7 1.52527338040598e-05f
#define MIXSTAGE_LOG2E_X2 2.88539008177793f /* 2 log2 e */
#define MIXSTAGE_ROUND_MAGIC 12582912.0f     /* 1.5 * 2^23: adding it rounds to an integer */
#define MIXSTAGE_L1PE_CLAMP 12.0f

/* 2^y for -125 <= y <= 127, where the scale 2^round(y) is a normal float
 * (scalar; the compressor's gain uses it too, lib/dsp/dynamics.c). */
static inline float mixstage__exp2f_small(float y) {
  float rm = y + MIXSTAGE_ROUND_MAGIC;
  uint32_t rb;
  memcpy(&rb, &rm, sizeof rb);
  float f = y - (rm - MIXSTAGE_ROUND_MAGIC);
  float q = MIXSTAGE_EXP2_C7;
  q = q * f + MIXSTAGE_EXP2_C6;
  q = q * f + MIXSTAGE_EXP2_C5;
  q = q * f + MIXSTAGE_EXP2_C4;
  q = q * f + MIXSTAGE_EXP2_C3;
  q = q * f + MIXSTAGE_EXP2_C2;
  q = q * f + MIXSTAGE_EXP2_C1;
  q = q * f + 1.0f;
  /* the integer n sits in the low mantissa bits of rm */
  uint32_t sb = (rb - 0x4B400000u + 127u) << 23;
  float scale;
  memcpy(&scale, &sb, sizeof scale);
  return q * scale;
}

/* log(1 + e^{-2a}) for a >= 0 (scalar). */
static inline float mixstage__log1p_exp_neg2f(float a) {
  float ac = a < MIXSTAGE_L1PE_CLAMP ? a : MIXSTAGE_L1PE_CLAMP;
  float e = mixstage__exp2f_small(ac * -MIXSTAGE_LOG2E_X2);
  float s = e / (2.0f + e), z = s * s;
  float p = 1.0f / 15.0f;
  p = p * z + 1.0f / 13.0f;
  p = p * z + 1.0f / 11.0f;
  p = p * z + 1.0f / 9.0f;
  p = p * z + 1.0f / 7.0f;
  p = p * z + 1.0f / 5.0f;
  p = p * z + 1.0f / 3.0f;
  p = p * z + 1.0f;
  return 2.0f * s * p;
}

/* Scalar form. */
static inline float mixstage__tanhf(float x) {
  uint32_t bits, sign;
  memcpy(&bits, &x, sizeof bits);
  sign = bits & 0x80000000u;
  bits ^= sign;
  float a;
  memcpy(&a, &bits, sizeof a);
  float t;
  if (a < MIXSTAGE_TANH_SMALL) {
    float z = a * a;
    float p = MIXSTAGE_TANH_P5;
    p = p * z + MIXSTAGE_TANH_P4;
    p = p * z + MIXSTAGE_TANH_P3;
    p = p * z + MIXSTAGE_TANH_P2;
    p = p * z + MIXSTAGE_TANH_P1;
    t = a + a * (z * p);
  } else {
    float ac = a < MIXSTAGE_TANH_CLAMP ? a : MIXSTAGE_TANH_CLAMP;
    t = 1.0f - 2.0f / (1.0f + mixstage__exp2f_small(ac * MIXSTAGE_LOG2E_X2));
  }
  memcpy(&bits, &t, sizeof bits);
  bits |= sign;
  memcpy(&t, &bits, sizeof t);
  return t;
}

/* MIXSTAGE_NO_VECTOR builds the scalar forms (to test them on x86-64). */
#if defined(__GNUC__) && !defined(MIXSTAGE_NO_VECTOR)
#define MIXSTAGE_HAVE_V4F 1
typedef float mixstage__v4f __attribute__((vector_size(16)));
typedef uint32_t mixstage__v4u __attribute__((vector_size(16)));
typedef int32_t mixstage__v4i __attribute__((vector_size(16)));

static inline mixstage__v4f mixstage__v4f_set1(float v) {
  mixstage__v4f r = {v, v, v, v};
  return r;
}

static inline mixstage__v4f mixstage__v4f_sel(mixstage__v4i m, mixstage__v4f a, mixstage__v4f b) {
  return (mixstage__v4f)(((mixstage__v4u)m & (mixstage__v4u)a) | (~(mixstage__v4u)m & (mixstage__v4u)b));
}

static inline mixstage__v4f mixstage__v4f_abs(mixstage__v4f x) {
  const mixstage__v4u mag = {0x7FFFFFFFu, 0x7FFFFFFFu, 0x7FFFFFFFu, 0x7FFFFFFFu};
  return (mixstage__v4f)((mixstage__v4u)x & mag);
}

static inline mixstage__v4f mixstage__exp2_4(mixstage__v4f y) {
  mixstage__v4f rm = y + MIXSTAGE_ROUND_MAGIC;
  mixstage__v4f f = y - (rm - MIXSTAGE_ROUND_MAGIC);
  mixstage__v4f q = mixstage__v4f_set1(MIXSTAGE_EXP2_C7);
  q = q * f + MIXSTAGE_EXP2_C6;
  q = q * f + MIXSTAGE_EXP2_C5;
  q = q * f + MIXSTAGE_EXP2_C4;
  q = q * f + MIXSTAGE_EXP2_C3;
  q = q * f + MIXSTAGE_EXP2_C2;
  q = q * f + MIXSTAGE_EXP2_C1;
  q = q * f + 1.0f;
  mixstage__v4u sb = ((mixstage__v4u)rm - 0x4B400000u + 127u) << 23;
  return q * (mixstage__v4f)sb;
}

static inline mixstage__v4f mixstage__log1p_exp_neg2_4(mixstage__v4f a) {
  const mixstage__v4f clamp = mixstage__v4f_set1(MIXSTAGE_L1PE_CLAMP);
  mixstage__v4f ac = mixstage__v4f_sel(a < clamp, a, clamp);
  mixstage__v4f e = mixstage__exp2_4(ac * -MIXSTAGE_LOG2E_X2);
  mixstage__v4f s = e / (2.0f + e), z = s * s;
  mixstage__v4f p = mixstage__v4f_set1(1.0f / 15.0f);
  p = p * z + 1.0f / 13.0f;
  p = p * z + 1.0f / 11.0f;
  p = p * z + 1.0f / 9.0f;
  p = p * z + 1.0f / 7.0f;
  p = p * z + 1.0f / 5.0f;
  p = p * z + 1.0f / 3.0f;
  p = p * z + 1.0f;
  return 2.0f * s * p;
}

/* Vector form: both branches, then a select. */
static inline mixstage__v4f mixstage__tanh4(mixstage__v4f x) {
  const mixstage__v4u signbit = {0x80000000u, 0x80000000u, 0x80000000u, 0x80000000u};
  mixstage__v4u bits = (mixstage__v4u)x;
  mixstage__v4u sign = bits & signbit;
  mixstage__v4f a = (mixstage__v4f)(bits ^ sign);

  mixstage__v4f z = a * a;
  mixstage__v4f p = mixstage__v4f_set1(MIXSTAGE_TANH_P5);
  p = p * z + MIXSTAGE_TANH_P4;
  p = p * z + MIXSTAGE_TANH_P3;
  p = p * z + MIXSTAGE_TANH_P2;
  p = p * z + MIXSTAGE_TANH_P1;
  mixstage__v4f ts = a + a * (z * p);

  const mixstage__v4f clamp = mixstage__v4f_set1(MIXSTAGE_TANH_CLAMP);
  mixstage__v4f ac = mixstage__v4f_sel(a < clamp, a, clamp);
  mixstage__v4f tb = 1.0f - 2.0f / (1.0f + mixstage__exp2_4(ac * MIXSTAGE_LOG2E_X2));

  mixstage__v4u small = (mixstage__v4u)(a < MIXSTAGE_TANH_SMALL);
  mixstage__v4u t = (small & (mixstage__v4u)ts) | (~small & (mixstage__v4u)tb);
  return (mixstage__v4f)(t | sign);
}
#endif

/* ---- Rational tanh, for the plain (1x) waveshaper ----
 *
 * tanh x ~= x P(z) / Q(z), z = x^2, x clamped to [-9, 9] (1 - tanh 9 =
 * 3e-8), P of degree 5 and Q of degree 3 with P(0) = Q(0) = 1 (so tanh x = x
 * exactly wherever z underflows): a relative-error fit of tanh(x)/x on
 * [0, 9] (iteratively reweighted linearised least squares, Sanathanan-Koerner
 * with Lawson weights; 6.2e-8 in exact arithmetic), result clamped to
 * [-1, 1].  Odd by construction, no branch, one division: about 16 vector
 * operations for 4 or 8 values, half the cost of the two-branch form above.
 * With float coefficients and float rounding (or fused multiply-adds) the
 * measured worst relative error is 3.5e-7 over [-20, 20]; the stated bound,
 * checked in tests/check_saturation against libm for every form, is 4e-7.
 * The forms differ in their last bits (fused or separate multiply-add), so a
 * caller picks one per machine (mixstage__cpu_avx2_fma) and keeps it: output
 * never depends on block size, thread count or a sample's place in a block.
 * A NaN input gives a NaN or +-1 (no trap). */
#define MIXSTAGE_TANHR_CLAMP 9.0f
#define MIXSTAGE_TANHR_P1 1.292244494e-01f
#define MIXSTAGE_TANHR_P2 2.924073255e-03f
#define MIXSTAGE_TANHR_P3 9.294891242e-06f
#define MIXSTAGE_TANHR_P4 -1.285275530e-08f
#define MIXSTAGE_TANHR_P5 1.841560238e-11f
#define MIXSTAGE_TANHR_Q1 4.625574648e-01f
#define MIXSTAGE_TANHR_Q2 2.377711609e-02f
#define MIXSTAGE_TANHR_Q3 2.285391238e-04f

/* Portable scalar form (separate multiply and add: -ffp-contract=off). */
static inline float mixstage__tanhf_rat(float x) {
  float xc = x > MIXSTAGE_TANHR_CLAMP ? MIXSTAGE_TANHR_CLAMP : x < -MIXSTAGE_TANHR_CLAMP ? -MIXSTAGE_TANHR_CLAMP : x;
  float z = xc * xc;
  float p = MIXSTAGE_TANHR_P5;
  p = p * z + MIXSTAGE_TANHR_P4;
  p = p * z + MIXSTAGE_TANHR_P3;
  p = p * z + MIXSTAGE_TANHR_P2;
  p = p * z + MIXSTAGE_TANHR_P1;
  p = p * z + 1.0f;
  float q = MIXSTAGE_TANHR_Q3;
  q = q * z + MIXSTAGE_TANHR_Q2;
  q = q * z + MIXSTAGE_TANHR_Q1;
  q = q * z + 1.0f;
  float t = xc * p / q;
  return t > 1.0f ? 1.0f : t < -1.0f ? -1.0f : t;
}

#if (defined(__x86_64__) || defined(__i386__)) && defined(__SSE2__) && defined(__GNUC__) && \
    !defined(MIXSTAGE_NO_VECTOR)
#define MIXSTAGE_HAVE_X86_TANHR 1
#include <immintrin.h>

/* SSE2 (the x86-64 baseline), four values: the scalar form's operations. */
static inline __m128 mixstage__tanh_rat4(__m128 x) {
  const __m128 c = _mm_set1_ps(MIXSTAGE_TANHR_CLAMP);
  __m128 xc = _mm_max_ps(_mm_min_ps(x, c), _mm_sub_ps(_mm_setzero_ps(), c));
  __m128 z = _mm_mul_ps(xc, xc);
  __m128 p = _mm_set1_ps(MIXSTAGE_TANHR_P5);
  p = _mm_add_ps(_mm_mul_ps(p, z), _mm_set1_ps(MIXSTAGE_TANHR_P4));
  p = _mm_add_ps(_mm_mul_ps(p, z), _mm_set1_ps(MIXSTAGE_TANHR_P3));
  p = _mm_add_ps(_mm_mul_ps(p, z), _mm_set1_ps(MIXSTAGE_TANHR_P2));
  p = _mm_add_ps(_mm_mul_ps(p, z), _mm_set1_ps(MIXSTAGE_TANHR_P1));
  p = _mm_add_ps(_mm_mul_ps(p, z), _mm_set1_ps(1.0f));
  __m128 q = _mm_set1_ps(MIXSTAGE_TANHR_Q3);
  q = _mm_add_ps(_mm_mul_ps(q, z), _mm_set1_ps(MIXSTAGE_TANHR_Q2));
  q = _mm_add_ps(_mm_mul_ps(q, z), _mm_set1_ps(MIXSTAGE_TANHR_Q1));
  q = _mm_add_ps(_mm_mul_ps(q, z), _mm_set1_ps(1.0f));
  __m128 t = _mm_div_ps(_mm_mul_ps(xc, p), q);
  const __m128 one = _mm_set1_ps(1.0f);
  return _mm_max_ps(_mm_min_ps(t, one), _mm_sub_ps(_mm_setzero_ps(), one));
}

#define MIXSTAGE_AVX2_FMA __attribute__((target("avx2,fma")))

/* Callers choose the AVX2/FMA forms where mixstage__cpu_avx2_fma() (cpu.h). */
#include "cpu.h"

/* AVX2/FMA, eight values: the same polynomial with fused multiply-adds. */
static inline MIXSTAGE_AVX2_FMA __m256 mixstage__tanh_rat8(__m256 x) {
  const __m256 c = _mm256_set1_ps(MIXSTAGE_TANHR_CLAMP);
  __m256 xc = _mm256_max_ps(_mm256_min_ps(x, c), _mm256_sub_ps(_mm256_setzero_ps(), c));
  __m256 z = _mm256_mul_ps(xc, xc);
  __m256 p = _mm256_fmadd_ps(_mm256_set1_ps(MIXSTAGE_TANHR_P5), z, _mm256_set1_ps(MIXSTAGE_TANHR_P4));
  p = _mm256_fmadd_ps(p, z, _mm256_set1_ps(MIXSTAGE_TANHR_P3));
  p = _mm256_fmadd_ps(p, z, _mm256_set1_ps(MIXSTAGE_TANHR_P2));
  p = _mm256_fmadd_ps(p, z, _mm256_set1_ps(MIXSTAGE_TANHR_P1));
  p = _mm256_fmadd_ps(p, z, _mm256_set1_ps(1.0f));
  __m256 q = _mm256_fmadd_ps(_mm256_set1_ps(MIXSTAGE_TANHR_Q3), z, _mm256_set1_ps(MIXSTAGE_TANHR_Q2));
  q = _mm256_fmadd_ps(q, z, _mm256_set1_ps(MIXSTAGE_TANHR_Q1));
  q = _mm256_fmadd_ps(q, z, _mm256_set1_ps(1.0f));
  __m256 t = _mm256_div_ps(_mm256_mul_ps(xc, p), q);
  const __m256 one = _mm256_set1_ps(1.0f);
  return _mm256_max_ps(_mm256_min_ps(t, one), _mm256_sub_ps(_mm256_setzero_ps(), one));
}

/* AVX2/FMA forms of 2^y and log(1 + e^-2a) (eight values): the operations
 * of mixstage__exp2_4 / mixstage__log1p_exp_neg2_4 with fused multiply-adds
 * (one rounding where those have two); the same bound, 2e-7 absolute,
 * checked in tests/check_saturation. */
static inline MIXSTAGE_AVX2_FMA __m256 mixstage__exp2_8(__m256 y) {
  const __m256 magic = _mm256_set1_ps(MIXSTAGE_ROUND_MAGIC);
  __m256 rm = _mm256_add_ps(y, magic);
  __m256 f = _mm256_sub_ps(y, _mm256_sub_ps(rm, magic));
  __m256 q = _mm256_fmadd_ps(_mm256_set1_ps(MIXSTAGE_EXP2_C7), f, _mm256_set1_ps(MIXSTAGE_EXP2_C6));
  q = _mm256_fmadd_ps(q, f, _mm256_set1_ps(MIXSTAGE_EXP2_C5));
  q = _mm256_fmadd_ps(q, f, _mm256_set1_ps(MIXSTAGE_EXP2_C4));
  q = _mm256_fmadd_ps(q, f, _mm256_set1_ps(MIXSTAGE_EXP2_C3));
  q = _mm256_fmadd_ps(q, f, _mm256_set1_ps(MIXSTAGE_EXP2_C2));
  q = _mm256_fmadd_ps(q, f, _mm256_set1_ps(MIXSTAGE_EXP2_C1));
  q = _mm256_fmadd_ps(q, f, _mm256_set1_ps(1.0f));
  __m256i sb = _mm256_sub_epi32(_mm256_castps_si256(rm), _mm256_set1_epi32(0x4B400000 - 127));
  return _mm256_mul_ps(q, _mm256_castsi256_ps(_mm256_slli_epi32(sb, 23)));
}

static inline MIXSTAGE_AVX2_FMA __m256 mixstage__log1p_exp_neg2_8(__m256 a) {
  __m256 ac = _mm256_min_ps(a, _mm256_set1_ps(MIXSTAGE_L1PE_CLAMP));
  __m256 e = mixstage__exp2_8(_mm256_mul_ps(ac, _mm256_set1_ps(-MIXSTAGE_LOG2E_X2)));
  __m256 sv = _mm256_div_ps(e, _mm256_add_ps(_mm256_set1_ps(2.0f), e)), z = _mm256_mul_ps(sv, sv);
  __m256 p = _mm256_fmadd_ps(_mm256_set1_ps(1.0f / 15.0f), z, _mm256_set1_ps(1.0f / 13.0f));
  p = _mm256_fmadd_ps(p, z, _mm256_set1_ps(1.0f / 11.0f));
  p = _mm256_fmadd_ps(p, z, _mm256_set1_ps(1.0f / 9.0f));
  p = _mm256_fmadd_ps(p, z, _mm256_set1_ps(1.0f / 7.0f));
  p = _mm256_fmadd_ps(p, z, _mm256_set1_ps(1.0f / 5.0f));
  p = _mm256_fmadd_ps(p, z, _mm256_set1_ps(1.0f / 3.0f));
  p = _mm256_fmadd_ps(p, z, _mm256_set1_ps(1.0f));
  return _mm256_mul_ps(_mm256_mul_ps(_mm256_set1_ps(2.0f), sv), p);
}
#endif

#endif
