/* The mixer's sample loops in three forms (mixer.h). */
#include "mixer.h"

#include <string.h>

#include "cpu.h"

#if defined(__GNUC__) || defined(__clang__)
#define MIXSTAGE__MIX_INLINE inline __attribute__((always_inline))
#define MIX_VECTORS 1
#else
#define MIXSTAGE__MIX_INLINE inline
#define MIX_VECTORS 0
#endif

#if defined(__SSE__)
#include <xmmintrin.h>
#endif
#if MIX_VECTORS && (defined(__x86_64__) || defined(__i386__)) && defined(__SSE2__)
#define MIX_AVX 1
#include <immintrin.h>
#else
#define MIX_AVX 0
#endif

/* ---- form 0: plain scalar ---------------------------------------------- */

#define MIX_NAME(x) x##_f0
#define MIX_ATTR
#define MIX_VT float
#define MIX_W 1
#define MIX_SET1(x) (x)
#define MIX_ANY_NAN(z) ((z) != (z))
#include "mixer_body.h"
#undef MIX_NAME
#undef MIX_ATTR
#undef MIX_VT
#undef MIX_W
#undef MIX_SET1
#undef MIX_ANY_NAN

static void deinterleave2_f0(const float *d, float *l, float *r, int n, float g, int scaled) {
  if (scaled)
    for (int i = 0; i < n; i++) {
      l[i] = d[2 * i] * g;
      r[i] = d[2 * i + 1] * g;
    }
  else
    for (int i = 0; i < n; i++) {
      l[i] = d[2 * i];
      r[i] = d[2 * i + 1];
    }
}

static const mixstage__mixer mixer_f0 = {0, scale_f0, add_f0, deinterleave2_f0, sum_f0, stereo_f0, stereo_for_f0};

/* ---- form 1: four lanes ------------------------------------------------- */

#if MIX_VECTORS
typedef float mix_v4f __attribute__((vector_size(16)));
#define MIX_NAME(x) x##_f1
#define MIX_ATTR
#define MIX_VT mix_v4f
#define MIX_W 4
#define MIX_SET1(x) ((mix_v4f){(x), (x), (x), (x)})
#if defined(__SSE__)
#define MIX_ANY_NAN(z) (_mm_movemask_ps(_mm_cmpunord_ps((__m128)(z), (__m128)(z))) != 0)
#else
#define MIX_ANY_NAN(z) mix_any_nan4(z)
static inline int mix_any_nan4(mix_v4f z) { return z[0] != z[0] || z[1] != z[1] || z[2] != z[2] || z[3] != z[3]; }
#endif
#include "mixer_body.h"
#undef MIX_NAME
#undef MIX_ATTR
#undef MIX_VT
#undef MIX_W
#undef MIX_SET1
#undef MIX_ANY_NAN

static MIXSTAGE__MIX_INLINE void deinterleave2_pass_f1(const float *d, float *l, float *r, int n, float g,
                                                      const int scaled) {
  int i = 0;
#if defined(__SSE__)
  __m128 vg = _mm_set1_ps(g);
  for (; i + 4 <= n; i += 4) {
    __m128 a = _mm_loadu_ps(d + 2 * i), b = _mm_loadu_ps(d + 2 * i + 4);
    __m128 x = _mm_shuffle_ps(a, b, _MM_SHUFFLE(2, 0, 2, 0)), y = _mm_shuffle_ps(a, b, _MM_SHUFFLE(3, 1, 3, 1));
    _mm_storeu_ps(l + i, scaled ? _mm_mul_ps(x, vg) : x);
    _mm_storeu_ps(r + i, scaled ? _mm_mul_ps(y, vg) : y);
  }
#endif
  for (; i < n; i++) {
    l[i] = scaled ? d[2 * i] * g : d[2 * i];
    r[i] = scaled ? d[2 * i + 1] * g : d[2 * i + 1];
  }
}

static void deinterleave2_f1(const float *d, float *l, float *r, int n, float g, int scaled) {
  if (scaled) deinterleave2_pass_f1(d, l, r, n, g, 1);
  else deinterleave2_pass_f1(d, l, r, n, g, 0);
}

static const mixstage__mixer mixer_f1 = {1, scale_f1, add_f1, deinterleave2_f1, sum_f1, stereo_f1, stereo_for_f1};
#endif

/* ---- form 2: eight lanes, AVX ------------------------------------------- */

#if MIX_AVX
typedef float mix_v8f __attribute__((vector_size(32)));
#define MIX_NAME(x) x##_f2
#define MIX_ATTR __attribute__((target("avx")))
#define MIX_VT mix_v8f
#define MIX_W 8
#define MIX_SET1(x) ((mix_v8f){(x), (x), (x), (x), (x), (x), (x), (x)})
#define MIX_ANY_NAN(z) (_mm256_movemask_ps(_mm256_cmp_ps((__m256)(z), (__m256)(z), _CMP_UNORD_Q)) != 0)
#include "mixer_body.h"
#undef MIX_NAME
#undef MIX_VT
#undef MIX_W
#undef MIX_SET1
#undef MIX_ANY_NAN

/* Eight frames at p: the two 128-bit halves of each vector are loaded four
 * frames apart, so that one in-lane shuffle puts the eight left (right)
 * samples in order. */
static MIX_ATTR MIXSTAGE__MIX_INLINE void deinterleave2_8_f2(const float *p, float *l, float *r, __m256 vg,
                                                            const int scaled) {
  __m256 a = _mm256_insertf128_ps(_mm256_castps128_ps256(_mm_loadu_ps(p)), _mm_loadu_ps(p + 8), 1);
  __m256 b = _mm256_insertf128_ps(_mm256_castps128_ps256(_mm_loadu_ps(p + 4)), _mm_loadu_ps(p + 12), 1);
  __m256 x = _mm256_shuffle_ps(a, b, _MM_SHUFFLE(2, 0, 2, 0)), y = _mm256_shuffle_ps(a, b, _MM_SHUFFLE(3, 1, 3, 1));
  _mm256_storeu_ps(l, scaled ? _mm256_mul_ps(x, vg) : x);
  _mm256_storeu_ps(r, scaled ? _mm256_mul_ps(y, vg) : y);
}

/* Sixteen frames per turn: the loop's own instructions are a fifth of the
 * eight-frame body's. */
static MIX_ATTR MIXSTAGE__MIX_INLINE void deinterleave2_pass_f2(const float *d, float *l, float *r, int n, float g,
                                                               const int scaled) {
  int i = 0;
  __m256 vg = _mm256_set1_ps(g);
  for (; i + 16 <= n; i += 16) {
    deinterleave2_8_f2(d + 2 * i, l + i, r + i, vg, scaled);
    deinterleave2_8_f2(d + 2 * i + 16, l + i + 8, r + i + 8, vg, scaled);
  }
  if (i + 8 <= n) {
    deinterleave2_8_f2(d + 2 * i, l + i, r + i, vg, scaled);
    i += 8;
  }
  for (; i < n; i++) {
    l[i] = scaled ? d[2 * i] * g : d[2 * i];
    r[i] = scaled ? d[2 * i + 1] * g : d[2 * i + 1];
  }
}

static MIX_ATTR void deinterleave2_f2(const float *d, float *l, float *r, int n, float g, int scaled) {
  if (scaled) deinterleave2_pass_f2(d, l, r, n, g, 1);
  else deinterleave2_pass_f2(d, l, r, n, g, 0);
}
#undef MIX_ATTR

static const mixstage__mixer mixer_f2 = {2, scale_f2, add_f2, deinterleave2_f2, sum_f2, stereo_f2, stereo_for_f2};
#endif

const mixstage__mixer *mixstage__mixer_form(int form) {
  switch (form) {
    case 0: return &mixer_f0;
#if MIX_VECTORS
    case 1: return &mixer_f1;
#endif
#if MIX_AVX
    case 2: return mixstage__cpu_avx() ? &mixer_f2 : NULL;
#endif
    default: return NULL;
  }
}

static const mixstage__mixer *mixer_choose(void) {
#if MIX_AVX
  if (mixstage__cpu_avx()) return &mixer_f2;
#endif
#if MIX_VECTORS
  return &mixer_f1;
#else
  return &mixer_f0;
#endif
}

/* The choice is fixed once the instruction set is (cpu.h: at load), so it
 * is kept: the engine asks for it per unit and block. */
static const mixstage__mixer *mixer_chosen;

const mixstage__mixer *mixstage__mixer_best(void) {
  const mixstage__mixer *m = __atomic_load_n(&mixer_chosen, __ATOMIC_RELAXED);
  if (!m) {
    m = mixer_choose();
    __atomic_store_n(&mixer_chosen, m, __ATOMIC_RELAXED);
  }
  return m;
}
