/* The console colour's residual kernels (see colour_curve.h). */
#include "colour_curve.h"

#include "fastmath.h"

static void residual_portable(float *h, int n, float a, float cd, float beta) {
  for (int j = 0; j < n; j++) {
    float t = mixstage__tanhf_rat(h[j] * a);
    h[j] = cd * (t + beta * (t * t)) - h[j];
  }
}

#if defined(MIXSTAGE_HAVE_X86_TANHR)
/* The portable kernel's operations, four samples per vector. */
static void residual_sse2(float *h, int n, float a, float cd, float beta) {
  const __m128 va = _mm_set1_ps(a), vc = _mm_set1_ps(cd), vb = _mm_set1_ps(beta);
  int j = 0;
  for (; j + 4 <= n; j += 4) {
    __m128 x = _mm_loadu_ps(h + j);
    __m128 t = mixstage__tanh_rat4(_mm_mul_ps(x, va));
    __m128 r = _mm_sub_ps(_mm_mul_ps(vc, _mm_add_ps(t, _mm_mul_ps(vb, _mm_mul_ps(t, t)))), x);
    _mm_storeu_ps(h + j, r);
  }
  residual_portable(h + j, n - j, a, cd, beta);
}

/* Eight samples per vector with fused multiply-adds; the tail of a block
 * goes through a zero-padded vector so every sample takes the same path
 * (the operations are per lane: a sample's bits do not depend on where it
 * sits).  count arrays with the same constants in one call. */
static MIXSTAGE_AVX2_FMA void residual_avx2_many(float *const *hs, int count, int n, float a, float cd,
                                                 float beta) {
  const __m256 va = _mm256_set1_ps(a), vc = _mm256_set1_ps(cd), vb = _mm256_set1_ps(beta);
#define CC_R8(x) _mm256_fmsub_ps(vc, _mm256_fmadd_ps(_mm256_mul_ps(vb, t_), t_, t_), x)
  for (int q = 0; q < count; q++) {
    float *h = hs[q];
    int j = 0;
    for (; j + 8 <= n; j += 8) {
      const __m256 x = _mm256_loadu_ps(h + j);
      const __m256 t_ = mixstage__tanh_rat8(_mm256_mul_ps(x, va));
      _mm256_storeu_ps(h + j, CC_R8(x));
    }
    if (j < n) {
      float w[8] = {0};
      const int m = n - j;
      for (int k = 0; k < m; k++) w[k] = h[j + k];
      const __m256 x = _mm256_loadu_ps(w);
      const __m256 t_ = mixstage__tanh_rat8(_mm256_mul_ps(x, va));
      _mm256_storeu_ps(w, CC_R8(x));
      for (int k = 0; k < m; k++) h[j + k] = w[k];
    }
  }
#undef CC_R8
}
#endif

int mixstage__cc_residual_available(int kernel) {
  switch (kernel) {
  case MIXSTAGE_CC_KERNEL_PORTABLE: return 1;
#if defined(MIXSTAGE_HAVE_X86_TANHR)
  case MIXSTAGE_CC_KERNEL_SSE2: return 1;
  case MIXSTAGE_CC_KERNEL_AVX2: return mixstage__cpu_avx2_fma();
#endif
  default: return 0;
  }
}

int mixstage__cc_residual_best(void) {
  for (int k = MIXSTAGE_CC_KERNELS - 1; k > 0; k--)
    if (mixstage__cc_residual_available(k)) return k;
  return MIXSTAGE_CC_KERNEL_PORTABLE;
}

void mixstage__cc_residual_many(int kernel, float *const *h, int count, int n, float a, float cd,
                                float beta) {
#if defined(MIXSTAGE_HAVE_X86_TANHR)
  if (kernel == MIXSTAGE_CC_KERNEL_AVX2) {
    residual_avx2_many(h, count, n, a, cd, beta);
    return;
  }
#endif
  for (int q = 0; q < count; q++) mixstage__cc_residual(kernel, h[q], n, a, cd, beta);
}

void mixstage__cc_residual(int kernel, float *h, int n, float a, float cd, float beta) {
#if defined(MIXSTAGE_HAVE_X86_TANHR)
  if (kernel == MIXSTAGE_CC_KERNEL_AVX2) {
    residual_avx2_many(&h, 1, n, a, cd, beta);
    return;
  }
  if (kernel == MIXSTAGE_CC_KERNEL_SSE2) {
    residual_sse2(h, n, a, cd, beta);
    return;
  }
#endif
  (void)kernel;
  residual_portable(h, n, a, cd, beta);
}
