/* libmixstage internal: the tanh waveshaper with first-order antiderivative
 * anti-aliasing, on a block of top-rate samples (saturation.c describes the
 * curve and its sources).  Per top-rate sample, with u = g x + beta,
 *
 *     y = (D - tanh beta) k,   D = mean of tanh over [u[n-1], u[n]],
 *
 * k = 1/(g sech^2 beta) (the level compensation).  Input n <= 
 * MIXSTAGE_ADAA_MAX_N samples; lbuf: scratch of n + 8 floats.  Tested
 * against a double-precision ADAA in tests/check_saturation.
 */
#ifndef MIXSTAGE_DSP_TANH_ADAA_H
#define MIXSTAGE_DSP_TANH_ADAA_H

#include <math.h>
#include <string.h>

#include "fastmath.h"

#define MIXSTAGE_ADAA_SERIES 0.2f /* below this |du| the mean is taken from its series */
#define MIXSTAGE_ADAA_MAX_N 256   /* 32 frames at 8x */

/* One channel of the oversampled curve, n top-rate samples of x in place.
 * Parameters per top-rate sample (ramp: arrays of n) or one set (steady).
 * Float, four samples side by side; every sample takes both branches and a
 * select, so none depends on its place in the block.
 *
 * ADAA: with F = log cosh = |u| - ln 2 + L(|u|), L(a) = log(1 + e^-2a),
 *     D = (F(u) - F(up)) / du = (|u| - |up|) / du + (L(u) - L(up)) / du,
 * and the first quotient is exactly +-1 when u and up share a sign, so the
 * only float error is L's (<= 2e-7 absolute) over |du| >= MIXSTAGE_ADAA_SERIES:
 * <= 2 x 2e-7 / 0.2 = 2e-6 before the gain 1/(g sech^2 beta), i.e. within
 * ~2e-6 of the wet path's full-scale level (-114 dB), far below the aliases
 * we remove.  Small steps take the series about the midpoint m,
 * written with tanh(m) - tanh(beta) = tv (1 - tb^2) / (1 + tv tb),
 * tv = tanh(m - beta), so no cancellation at any bias. */
typedef struct mixstage__adaa_par {
  const float *g, *b, *tb, *k, *ig; /* drive, beta, tanh beta, k, 1/g */
  int stride;                       /* 1: arrays of n, 0: one value */
  int wide; /* 1: the AVX2/FMA kernel (only where mixstage__cpu_avx2_fma()); arrays padded to n + 8 */
} mixstage__adaa_par;

#if defined(MIXSTAGE_HAVE_V4F)
static inline mixstage__v4f mixstage__adaa_par4(const float *p, int j, int stride) {
  mixstage__v4f v;
  if (stride) memcpy(&v, p + j, sizeof v);
  else v = mixstage__v4f_set1(p[0]);
  return v;
}
#endif

#if defined(MIXSTAGE_HAVE_X86_TANHR)
/* Eight samples at a time with fused multiply-adds: the operations of the
 * four-wide form below, the midpoint tanh from the rational form (the same
 * 4e-7 bound).  Rounds differently from the SSE2 form; a machine runs one. */
static inline MIXSTAGE_AVX2_FMA __m256 mixstage__adaa_par8(const float *p, int j, int stride) {
  return stride ? _mm256_loadu_ps(p + j) : _mm256_set1_ps(p[0]);
}

static inline MIXSTAGE_AVX2_FMA void mixstage__tanh_adaa_avx2(float *x, int n, float *x_prev,
                                                       const mixstage__adaa_par *P, float *lbuf) {
  const int s = P->stride;
  float w[MIXSTAGE_ADAA_MAX_N + 8], o[MIXSTAGE_ADAA_MAX_N + 8];
  w[0] = *x_prev;
  memcpy(w + 1, x, sizeof(float) * (size_t)n);
  memset(w + 1 + n, 0, sizeof(float) * 7);
  *x_prev = x[n - 1];
  const __m256 mag = _mm256_castsi256_ps(_mm256_set1_epi32(0x7FFFFFFF));
  {
    __m256 up0 = _mm256_fmadd_ps(_mm256_set1_ps(P->g[0]), _mm256_set1_ps(w[0]), _mm256_set1_ps(P->b[0]));
    float l0[8];
    _mm256_storeu_ps(l0, mixstage__log1p_exp_neg2_8(_mm256_and_ps(up0, mag)));
    lbuf[0] = l0[0];
  }
  const __m256 thr = _mm256_set1_ps(MIXSTAGE_ADAA_SERIES), one = _mm256_set1_ps(1.0f);
  for (int j = 0; j < n; j += 8) {
    __m256 G = mixstage__adaa_par8(P->g, j, s), B = mixstage__adaa_par8(P->b, j, s);
    __m256 TB = mixstage__adaa_par8(P->tb, j, s), K = mixstage__adaa_par8(P->k, j, s);
    __m256 IG = mixstage__adaa_par8(P->ig, j, s);
    __m256 xp = _mm256_loadu_ps(w + j), xn = _mm256_loadu_ps(w + j + 1);
    __m256 u = _mm256_fmadd_ps(G, xn, B), up = _mm256_fmadd_ps(G, xp, B), du = _mm256_sub_ps(u, up);
    __m256 au = _mm256_and_ps(u, mag), aup = _mm256_and_ps(up, mag);
    __m256 lu = mixstage__log1p_exp_neg2_8(au), lp;
    _mm256_storeu_ps(lbuf + j + 1, lu);
    if (s) lp = mixstage__log1p_exp_neg2_8(aup);
    else lp = _mm256_loadu_ps(lbuf + j);
    __m256 yq = _mm256_mul_ps(
        _mm256_sub_ps(_mm256_div_ps(_mm256_add_ps(_mm256_sub_ps(au, aup), _mm256_sub_ps(lu, lp)), du), TB), K);
    __m256 tv = mixstage__tanh_rat8(_mm256_mul_ps(_mm256_mul_ps(G, _mm256_add_ps(xn, xp)), _mm256_set1_ps(0.5f)));
    __m256 den = _mm256_fmadd_ps(tv, TB, one);
    __m256 t = _mm256_div_ps(_mm256_add_ps(tv, TB), den), t2 = _mm256_mul_ps(t, t);
    __m256 h = _mm256_mul_ps(_mm256_mul_ps(_mm256_set1_ps(0.25f), du), du);
    __m256 c = _mm256_fmadd_ps(t2, _mm256_fnmadd_ps(_mm256_set1_ps(720.0f), t2, _mm256_set1_ps(960.0f)),
                               _mm256_set1_ps(-272.0f));
    c = _mm256_mul_ps(c, _mm256_set1_ps(1.0f / 5040.0f));
    c = _mm256_fmadd_ps(c, h,
                        _mm256_mul_ps(_mm256_fnmadd_ps(_mm256_set1_ps(24.0f), t2, _mm256_set1_ps(16.0f)),
                                      _mm256_set1_ps(1.0f / 120.0f)));
    c = _mm256_fmsub_ps(c, h, _mm256_set1_ps(2.0f / 6.0f));
    __m256 ys = _mm256_fmadd_ps(K, _mm256_mul_ps(_mm256_mul_ps(_mm256_mul_ps(t, _mm256_sub_ps(one, t2)), h), c),
                                _mm256_div_ps(_mm256_mul_ps(tv, IG), den));
    __m256 small = _mm256_cmp_ps(_mm256_and_ps(du, mag), thr, _CMP_LT_OQ);
    _mm256_storeu_ps(o + j, _mm256_blendv_ps(yq, ys, small));
  }
  memcpy(x, o, sizeof(float) * (size_t)n);
}
#endif

static inline void mixstage__tanh_adaa(float *x, int n, float *x_prev, const mixstage__adaa_par *P,
                                       float *lbuf) {
#if defined(MIXSTAGE_HAVE_X86_TANHR)
  if (P->wide) {
    mixstage__tanh_adaa_avx2(x, n, x_prev, P, lbuf);
    return;
  }
#endif
  const int s = P->stride;
  float w[MIXSTAGE_ADAA_MAX_N + 8], o[MIXSTAGE_ADAA_MAX_N + 8]; /* w = [x_prev | x[0..n-1] | pad] */
  w[0] = *x_prev;
  memcpy(w + 1, x, sizeof(float) * (size_t)n);
  memset(w + 1 + n, 0, sizeof(float) * 7);
  *x_prev = x[n - 1];
#if defined(MIXSTAGE_HAVE_V4F)
  /* L at the previous input for this block's first parameters; for a
   * steady curve L(up[j]) is then L(u[j-1]) bit for bit. */
  {
    mixstage__v4f up0 = mixstage__adaa_par4(P->g, 0, 0) * mixstage__v4f_set1(w[0]) + mixstage__adaa_par4(P->b, 0, 0);
    mixstage__v4f l0 = mixstage__log1p_exp_neg2_4(mixstage__v4f_abs(up0));
    lbuf[0] = l0[0];
  }
  const mixstage__v4f thr = mixstage__v4f_set1(MIXSTAGE_ADAA_SERIES);
  for (int j = 0; j < n; j += 4) {
    mixstage__v4f xp, xn, G = mixstage__adaa_par4(P->g, j, s), B = mixstage__adaa_par4(P->b, j, s), TB = mixstage__adaa_par4(P->tb, j, s),
                          K = mixstage__adaa_par4(P->k, j, s), IG = mixstage__adaa_par4(P->ig, j, s);
    memcpy(&xp, w + j, sizeof xp);
    memcpy(&xn, w + j + 1, sizeof xn);
    mixstage__v4f u = G * xn + B, up = G * xp + B, du = u - up;
    mixstage__v4f au = mixstage__v4f_abs(u), aup = mixstage__v4f_abs(up);
    mixstage__v4f lu = mixstage__log1p_exp_neg2_4(au), lp;
    memcpy(lbuf + j + 1, &lu, sizeof lu);
    if (s) lp = mixstage__log1p_exp_neg2_4(aup);
    else memcpy(&lp, lbuf + j, sizeof lp);
    mixstage__v4f yq = (((au - aup) + (lu - lp)) / du - TB) * K;
    mixstage__v4f tv = mixstage__tanh4(G * (xn + xp) * 0.5f);
    mixstage__v4f den = 1.0f + tv * TB;
    mixstage__v4f t = (tv + TB) / den, t2 = t * t, h = 0.25f * du * du;
    mixstage__v4f c = (-272.0f + t2 * (960.0f - 720.0f * t2)) * (1.0f / 5040.0f);
    c = c * h + (16.0f - 24.0f * t2) * (1.0f / 120.0f);
    c = c * h - 2.0f / 6.0f;
    mixstage__v4f ys = tv * IG / den + K * (t * (1.0f - t2) * h * c);
    mixstage__v4f y = mixstage__v4f_sel(mixstage__v4f_abs(du) < thr, ys, yq);
    memcpy(o + j, &y, sizeof y);
  }
#else
  for (int j = 0; j < n; j++) {
    int q = s ? j : 0;
    float G = P->g[q], B = P->b[q], TB = P->tb[q], K = P->k[q], IG = P->ig[q];
    float xp = j == 0 ? w[0] : x[j - 1], xn = x[j];
    float u = G * xn + B, up = G * xp + B, du = u - up, y;
    if (fabsf(du) < MIXSTAGE_ADAA_SERIES) {
      float tv = mixstage__tanhf(G * (xn + xp) * 0.5f), den = 1.0f + tv * TB;
      float t = (tv + TB) / den, t2 = t * t, h = 0.25f * du * du;
      float c = (-272.0f + t2 * (960.0f - 720.0f * t2)) * (1.0f / 5040.0f);
      c = c * h + (16.0f - 24.0f * t2) * (1.0f / 120.0f);
      c = c * h - 2.0f / 6.0f;
      y = tv * IG / den + K * (t * (1.0f - t2) * h * c);
    } else {
      float au = fabsf(u), aup = fabsf(up);
      float lu = mixstage__log1p_exp_neg2f(au), lp = mixstage__log1p_exp_neg2f(aup);
      y = (((au - aup) + (lu - lp)) / du - TB) * K;
    }
    o[j] = y;
  }
  (void)lbuf;
#endif
  memcpy(x, o, sizeof(float) * (size_t)n);
}

#endif
