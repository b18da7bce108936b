/* Float trapezoidal SVF lane kernels (see svf.h for the structure and why). */
#include "svf.h"
#include "cpu.h"

#include <math.h>
#include <string.h>

int mixstage__svf_is_identity(const mixstage__biquad *c) {
  return c->b0 == 1.0 && c->b1 == c->a1 && c->b2 == c->a2;
}

/* The SVF's z-domain denominator, scaled to a0 = 1, is 1 + a1 z^-1 + a2 z^-2
 * with (1 + a1 + a2) = 4 g^2 / D, (1 - a1 + a2) = 4 / D, (1 - a2) = 2 g k / D,
 * D = 1 + g k + g^2.  Its outputs v1 (band-pass) and v2 (low-pass) have
 * numerators g (1 - z^-2) / D and g^2 (1 + z^-1)^2 / D; matching
 * m0 + m1 v1 + m2 v2 to b0 + b1 z^-1 + b2 z^-2 at z = 1, z = -1 and in the
 * odd part gives m0 + m2 = H(1), m0 = H(-1), m1 = (2 (b0 - b2) / Q - m0 g k) / g.
 * Every quantity here is a ratio of sums that the biquad holds to double
 * precision, so the float rounding at the end is the only coarse step. */
void mixstage__svf_from_biquad(const mixstage__biquad *c, float coef[MIXSTAGE__SVF_COEFS]) {
  const double p = 1.0 + c->a1 + c->a2, q = 1.0 - c->a1 + c->a2;
  if (!(p > 0.0 && q > 0.0) || !isfinite(p + q)) { /* unstable: never designed; pass through */
    memset(coef, 0, sizeof(float) * MIXSTAGE__SVF_COEFS);
    coef[MIXSTAGE__SVF_D0] = 1.0f;
    return;
  }
  const double g = sqrt(p / q), gk = 2.0 * (1.0 - c->a2) / q;
  const double a1 = 0.25 * q, a2 = g * a1, a3 = 0.25 * p; /* 1/D, g/D, g^2/D */
  const double m0 = (c->b0 - c->b1 + c->b2) / q;
  const double d0 = (c->b0 + c->b1 + c->b2) / p; /* m0 + m2 */
  const double m2 = d0 - m0;
  const double m1 = (2.0 * (c->b0 - c->b2) / q - m0 * gk) / g;
  coef[MIXSTAGE__SVF_C1] = (float)(2.0 * a1);
  coef[MIXSTAGE__SVF_C2] = (float)(2.0 * a2);
  coef[MIXSTAGE__SVF_C3] = (float)(2.0 * a3);
  if (mixstage__svf_is_identity(c)) { /* exactly flat: y = x whatever the memory */
    coef[MIXSTAGE__SVF_D0] = 1.0f;
    coef[MIXSTAGE__SVF_D1] = 0.0f;
    coef[MIXSTAGE__SVF_D3] = 0.0f;
    return;
  }
  coef[MIXSTAGE__SVF_D0] = (float)d0;
  coef[MIXSTAGE__SVF_D1] = (float)(m1 * a1 + m2 * a2);
  coef[MIXSTAGE__SVF_D3] = (float)(m1 * a2 + m2 * (a3 - 1.0));
}

void mixstage__svf_lanes_set(float *sec, int stride, int lane, const float coef[MIXSTAGE__SVF_COEFS]) {
  for (int r = 0; r < MIXSTAGE__SVF_COEFS; r++) sec[r * stride + lane] = coef[r];
}

void mixstage__svf_lanes_clear(float *sec, int stride) {
  memset(sec + MIXSTAGE__SVF_S1 * stride, 0, sizeof(float) * 2 * (size_t)stride);
}

static void svf_flush(float *const *sec, int nsec, int stride) {
  for (int k = 0; k < nsec; k++) {
    float *s = sec[k] + MIXSTAGE__SVF_S1 * stride; /* rows s1, s2 are adjacent */
    for (int l = 0; l < 2 * stride; l++)
      if (fabsf(s[l]) < MIXSTAGE__SVF_FLUSH) s[l] = 0.0f;
  }
}

/* One lane through the sections, sample by sample (the portable fallback;
 * the vector kernels do the same operations per lane).  gain[i * gstep]
 * multiplies frame i when gain is not NULL. */
#if defined(__GNUC__) || defined(__clang__)
__attribute__((unused)) /* only the builds without vector kernels call it */
#endif
static inline void svf_lane_scalar(float *const *sec, int nsec, int stride, int lane, float *x, const float *gain,
                                   int gstep, int n) {
  for (int k = 0; k < nsec; k++) {
    float *p = sec[k] + lane;
    const float d0 = p[MIXSTAGE__SVF_D0 * stride], d1 = p[MIXSTAGE__SVF_D1 * stride];
    const float d3 = p[MIXSTAGE__SVF_D3 * stride], c1 = p[MIXSTAGE__SVF_C1 * stride];
    const float c2 = p[MIXSTAGE__SVF_C2 * stride], c3 = p[MIXSTAGE__SVF_C3 * stride];
    float s1 = p[MIXSTAGE__SVF_S1 * stride], s2 = p[MIXSTAGE__SVF_S2 * stride];
    for (int i = 0; i < n; i++) {
      const float v = x[i], v3 = v - s2;
      x[i] = d1 * s1 + (d3 * v3 + d0 * v);
      const float u1 = c1 * s1 + c2 * v3, u2 = c2 * s1 + c3 * v3;
      s1 = u1 - s1;
      s2 = s2 + u2;
    }
    p[MIXSTAGE__SVF_S1 * stride] = s1;
    p[MIXSTAGE__SVF_S2 * stride] = s2;
  }
  if (gain)
    for (int i = 0; i < n; i++) x[i] *= gain[i * gstep];
}

#define SVF_CHUNK 32 /* frames per pass through the intermediate buffer */

#if (defined(__x86_64__) || defined(__i386__)) && (defined(__GNUC__) || defined(__clang__))
#define SVF_X86 1
#include <immintrin.h>
#include "transpose8.h"
int mixstage__svf_fused(void) { return mixstage__cpu_avx2_fma(); }
#else
#define SVF_X86 0
int mixstage__svf_fused(void) { return 0; }
#endif

#if defined(__GNUC__) || defined(__clang__)
typedef float svf_v4 __attribute__((vector_size(16)));

static inline svf_v4 v4_load(const float *p) {
  svf_v4 v;
  memcpy(&v, p, sizeof v);
  return v;
}

static inline void v4_store(float *p, svf_v4 v) { memcpy(p, &v, sizeof v); }

/* Lanes l .. l+3 through the sections, one section at a time over a chunk
 * of frames held in v[] (the recursion is per section; the chunk gives the
 * CPU independent frames of the next section to overlap). */
#if SVF_X86
static void svf_lanes4_fused(float *const *sec, int nsec, int stride, int nlanes, float *const *buf,
                             const float *gain, int n);
#endif

void mixstage__svf_lanes_process(float *const *sec, int nsec, int stride, int nlanes, float *const *buf,
                                 const float *gain, int n, int flush) {
#if SVF_X86
  if (mixstage__svf_fused()) {
    svf_lanes4_fused(sec, nsec, stride, nlanes, buf, gain, n);
    if (flush) svf_flush(sec, nsec, stride);
    return;
  }
#endif
  svf_v4 v[SVF_CHUNK];
  for (int l = 0; l < nlanes; l += MIXSTAGE__SVF_W) {
    const int w = nlanes - l < MIXSTAGE__SVF_W ? nlanes - l : MIXSTAGE__SVF_W;
    for (int done = 0; done < n; done += SVF_CHUNK) {
      const int m = n - done < SVF_CHUNK ? n - done : SVF_CHUNK;
      for (int i = 0; i < m; i++) {
        svf_v4 x = {0.0f, 0.0f, 0.0f, 0.0f};
        for (int j = 0; j < w; j++) x[j] = buf[l + j][done + i];
        v[i] = x;
      }
      for (int k = 0; k < nsec; k++) {
        float *p = sec[k] + l;
        const svf_v4 d0 = v4_load(p + MIXSTAGE__SVF_D0 * stride), d1 = v4_load(p + MIXSTAGE__SVF_D1 * stride);
        const svf_v4 d3 = v4_load(p + MIXSTAGE__SVF_D3 * stride), c1 = v4_load(p + MIXSTAGE__SVF_C1 * stride);
        const svf_v4 c2 = v4_load(p + MIXSTAGE__SVF_C2 * stride), c3 = v4_load(p + MIXSTAGE__SVF_C3 * stride);
        svf_v4 s1 = v4_load(p + MIXSTAGE__SVF_S1 * stride), s2 = v4_load(p + MIXSTAGE__SVF_S2 * stride);
        for (int i = 0; i < m; i++) {
          const svf_v4 x = v[i], v3 = x - s2;
          v[i] = d1 * s1 + (d3 * v3 + d0 * x);
          const svf_v4 u1 = c1 * s1 + c2 * v3, u2 = c2 * s1 + c3 * v3;
          s1 = u1 - s1;
          s2 = s2 + u2;
        }
        v4_store(p + MIXSTAGE__SVF_S1 * stride, s1);
        v4_store(p + MIXSTAGE__SVF_S2 * stride, s2);
      }
      for (int i = 0; i < m; i++) {
        svf_v4 y = v[i];
        if (gain) y = y * gain[done + i];
        for (int j = 0; j < w; j++) buf[l + j][done + i] = y[j];
      }
    }
  }
  if (flush) svf_flush(sec, nsec, stride);
}
#else
void mixstage__svf_lanes_process(float *const *sec, int nsec, int stride, int nlanes, float *const *buf,
                                 const float *gain, int n, int flush) {
  for (int l = 0; l < nlanes; l++) svf_lane_scalar(sec, nsec, stride, l, buf[l], gain, 1, n);
  if (flush) svf_flush(sec, nsec, stride);
}
#endif

/* ---- eight lanes (AVX, chosen at run time) ------------------------------------ */

#if SVF_X86
#define W8_TARGET __attribute__((target("avx")))

int mixstage__svf_lanes8_available(void) { return mixstage__cpu_avx(); }


/* Up to four sections k .. k+ns-1 over v[0 .. m-1], their memory in
 * registers (the coefficients are memory operands): svf.h's operations in
 * its order.  The sections' recursions are independent, so the CPU
 * overlaps section j of frame i with section j + 1 of frame i - 1.
 * MADD(a, b, c) is a b + c: two roundings, or one where the CPU fuses
 * (mixstage__svf_fused; the per-node kernel then fuses the same way). */
#define W8_LOAD(j)                                                                                 \
  float *const p##j = ns > j ? sec[k + j] : NULL;                                                  \
  __m256 s1_##j = _mm256_setzero_ps(), s2_##j = _mm256_setzero_ps();                               \
  if (ns > j) {                                                                                    \
    s1_##j = _mm256_loadu_ps(p##j + 8 * MIXSTAGE__SVF_S1);                                         \
    s2_##j = _mm256_loadu_ps(p##j + 8 * MIXSTAGE__SVF_S2);                                         \
  }

#define W8_C(q, r) _mm256_loadu_ps(q + 8 * MIXSTAGE__SVF_##r)
/* The empty asm hides q's value from the optimiser, so the coefficients
 * stay memory operands of the arithmetic instead of being hoisted out of
 * the frame loop into registers that then spill (24 of them do not fit). */
#define W8_TICK(j, MADD)                                                                           \
  if (ns > j) {                                                                                    \
    const float *q = p##j;                                                                         \
    __asm__("" : "+r"(q));                                                                         \
    const __m256 v3 = _mm256_sub_ps(x, s2_##j);                                                    \
    const __m256 y = MADD(W8_C(q, D1), s1_##j, MADD(W8_C(q, D3), v3, _mm256_mul_ps(W8_C(q, D0), x))); \
    const __m256 u1 = MADD(W8_C(q, C1), s1_##j, _mm256_mul_ps(W8_C(q, C2), v3));                   \
    const __m256 u2 = MADD(W8_C(q, C2), s1_##j, _mm256_mul_ps(W8_C(q, C3), v3));                   \
    s1_##j = _mm256_sub_ps(u1, s1_##j);                                                            \
    s2_##j = _mm256_add_ps(s2_##j, u2);                                                            \
    x = y;                                                                                         \
  }

#define W8_SAVE(j)                                                                                 \
  if (ns > j) {                                                                                    \
    _mm256_storeu_ps(p##j + 8 * MIXSTAGE__SVF_S1, s1_##j);                                         \
    _mm256_storeu_ps(p##j + 8 * MIXSTAGE__SVF_S2, s2_##j);                                         \
  }

#define W8_MADD(a, b, c) _mm256_add_ps(_mm256_mul_ps(a, b), c)
#define W8_FMADD(a, b, c) _mm256_fmadd_ps(a, b, c)

#define W8_DEFINE(PASS, SECTIONS, TARGET, MADD)                                                    \
  TARGET static inline __attribute__((always_inline)) void PASS(float *const *sec, int k, const int ns, \
                                                                __m256 *v, int m) {                \
    W8_LOAD(0) W8_LOAD(1) W8_LOAD(2) W8_LOAD(3)                                                    \
    for (int i = 0; i < m; i++) {                                                                  \
      __m256 x = v[i];                                                                             \
      W8_TICK(0, MADD) W8_TICK(1, MADD) W8_TICK(2, MADD) W8_TICK(3, MADD)                          \
      v[i] = x;                                                                                    \
    }                                                                                              \
    W8_SAVE(0) W8_SAVE(1) W8_SAVE(2) W8_SAVE(3)                                                    \
  }                                                                                                \
  TARGET static void SECTIONS(float *const *sec, int nsec, __m256 *v, int m) {                     \
    for (int k = 0; k < nsec; k += 4) {                                                            \
      switch (nsec - k) {                                                                          \
      case 1: PASS(sec, k, 1, v, m); break;                                                        \
      case 2: PASS(sec, k, 2, v, m); break;                                                        \
      case 3: PASS(sec, k, 3, v, m); break;                                                        \
      default: PASS(sec, k, 4, v, m); break;                                                       \
      }                                                                                            \
    }                                                                                              \
  }

W8_DEFINE(w8_pass, w8_sections, W8_TARGET, W8_MADD)
W8_DEFINE(w8_pass_fused, w8_sections_fused, __attribute__((target("avx,fma"))), W8_FMADD)

/* Up to four sections straight from and to the lanes' buffers: eight
 * frames at a time are loaded, transposed in registers, run through the
 * sections (memory in registers for the whole call), scaled by the gain,
 * transposed back and stored; the last n % 8 frames go through a small
 * frame-major scratch.  The same operations per lane as PASS. */
#define W8_DEFINE_DIRECT(DIRECT, RUN, TARGET, MADD)                                                \
  TARGET static inline __attribute__((always_inline)) void DIRECT(float *const *sec, const int ns, \
                                                                  float *const *buf, const float *gain, int n) { \
    const int k = 0;                                                                               \
    W8_LOAD(0) W8_LOAD(1) W8_LOAD(2) W8_LOAD(3)                                                    \
    float *const b0 = buf[0], *const b1 = buf[1], *const b2 = buf[2], *const b3 = buf[3];          \
    float *const b4 = buf[4], *const b5 = buf[5], *const b6 = buf[6], *const b7 = buf[7];          \
    int i = 0;                                                                                     \
    for (; i + 8 <= n; i += 8) {                                                                   \
      __m256 v[8];                                                                                 \
      v[0] = _mm256_loadu_ps(b0 + i);                                                              \
      v[1] = _mm256_loadu_ps(b1 + i);                                                              \
      v[2] = _mm256_loadu_ps(b2 + i);                                                              \
      v[3] = _mm256_loadu_ps(b3 + i);                                                              \
      v[4] = _mm256_loadu_ps(b4 + i);                                                              \
      v[5] = _mm256_loadu_ps(b5 + i);                                                              \
      v[6] = _mm256_loadu_ps(b6 + i);                                                              \
      v[7] = _mm256_loadu_ps(b7 + i);                                                              \
      mixstage__transpose8(v);                                                                     \
      for (int t = 0; t < 8; t++) {                                                                \
        __m256 x = v[t];                                                                           \
        W8_TICK(0, MADD) W8_TICK(1, MADD) W8_TICK(2, MADD) W8_TICK(3, MADD)                        \
        if (gain) x = _mm256_mul_ps(x, _mm256_loadu_ps(gain + 8 * (i + t)));                       \
        v[t] = x;                                                                                  \
      }                                                                                            \
      mixstage__transpose8(v);                                                                     \
      _mm256_storeu_ps(b0 + i, v[0]);                                                              \
      _mm256_storeu_ps(b1 + i, v[1]);                                                              \
      _mm256_storeu_ps(b2 + i, v[2]);                                                              \
      _mm256_storeu_ps(b3 + i, v[3]);                                                              \
      _mm256_storeu_ps(b4 + i, v[4]);                                                              \
      _mm256_storeu_ps(b5 + i, v[5]);                                                              \
      _mm256_storeu_ps(b6 + i, v[6]);                                                              \
      _mm256_storeu_ps(b7 + i, v[7]);                                                              \
    }                                                                                              \
    for (; i < n; i++) {                                                                           \
      float f[8] = {b0[i], b1[i], b2[i], b3[i], b4[i], b5[i], b6[i], b7[i]};                       \
      __m256 x = _mm256_loadu_ps(f);                                                               \
      W8_TICK(0, MADD) W8_TICK(1, MADD) W8_TICK(2, MADD) W8_TICK(3, MADD)                          \
      if (gain) x = _mm256_mul_ps(x, _mm256_loadu_ps(gain + 8 * i));                               \
      _mm256_storeu_ps(f, x);                                                                      \
      b0[i] = f[0], b1[i] = f[1], b2[i] = f[2], b3[i] = f[3];                                      \
      b4[i] = f[4], b5[i] = f[5], b6[i] = f[6], b7[i] = f[7];                                      \
    }                                                                                              \
    W8_SAVE(0) W8_SAVE(1) W8_SAVE(2) W8_SAVE(3)                                                    \
  }                                                                                                \
  TARGET static void RUN(float *const *sec, int nsec, float *const *buf, const float *gain, int n) { \
    if (!gain) { /* the usual case: no gain test per frame */                                      \
      switch (nsec) {                                                                              \
      case 1: DIRECT(sec, 1, buf, NULL, n); break;                                                 \
      case 2: DIRECT(sec, 2, buf, NULL, n); break;                                                 \
      case 3: DIRECT(sec, 3, buf, NULL, n); break;                                                 \
      default: DIRECT(sec, 4, buf, NULL, n); break;                                                \
      }                                                                                            \
      return;                                                                                      \
    }                                                                                              \
    switch (nsec) {                                                                                \
    case 1: DIRECT(sec, 1, buf, gain, n); break;                                                   \
    case 2: DIRECT(sec, 2, buf, gain, n); break;                                                   \
    case 3: DIRECT(sec, 3, buf, gain, n); break;                                                   \
    default: DIRECT(sec, 4, buf, gain, n); break;                                                  \
    }                                                                                              \
  }

W8_DEFINE_DIRECT(w8_direct, w8_run_direct, W8_TARGET, W8_MADD)
W8_DEFINE_DIRECT(w8_direct_fused, w8_run_direct_fused, __attribute__((target("avx,fma"))), W8_FMADD)

/* The four-lane per-node kernel where the CPU fuses: the same structure as
 * the portable kernel, the same operations per lane as w8_pass_fused. */
__attribute__((target("fma"))) static void svf_lanes4_fused(float *const *sec, int nsec, int stride, int nlanes,
                                                            float *const *buf, const float *gain, int n) {
  __m128 v[SVF_CHUNK];
  for (int l = 0; l < nlanes; l += MIXSTAGE__SVF_W) {
    const int w = nlanes - l < MIXSTAGE__SVF_W ? nlanes - l : MIXSTAGE__SVF_W;
    for (int done = 0; done < n; done += SVF_CHUNK) {
      const int m = n - done < SVF_CHUNK ? n - done : SVF_CHUNK;
      for (int i = 0; i < m; i++) {
        float t[4] = {0.0f, 0.0f, 0.0f, 0.0f};
        for (int j = 0; j < w; j++) t[j] = buf[l + j][done + i];
        v[i] = _mm_loadu_ps(t);
      }
      for (int k = 0; k < nsec; k++) {
        float *p = sec[k] + l;
        const __m128 d0 = _mm_loadu_ps(p + MIXSTAGE__SVF_D0 * stride), d1 = _mm_loadu_ps(p + MIXSTAGE__SVF_D1 * stride);
        const __m128 d3 = _mm_loadu_ps(p + MIXSTAGE__SVF_D3 * stride), c1 = _mm_loadu_ps(p + MIXSTAGE__SVF_C1 * stride);
        const __m128 c2 = _mm_loadu_ps(p + MIXSTAGE__SVF_C2 * stride), c3 = _mm_loadu_ps(p + MIXSTAGE__SVF_C3 * stride);
        __m128 s1 = _mm_loadu_ps(p + MIXSTAGE__SVF_S1 * stride), s2 = _mm_loadu_ps(p + MIXSTAGE__SVF_S2 * stride);
        for (int i = 0; i < m; i++) {
          const __m128 x = v[i], v3 = _mm_sub_ps(x, s2);
          v[i] = _mm_fmadd_ps(d1, s1, _mm_fmadd_ps(d3, v3, _mm_mul_ps(d0, x)));
          const __m128 u1 = _mm_fmadd_ps(c1, s1, _mm_mul_ps(c2, v3));
          const __m128 u2 = _mm_fmadd_ps(c2, s1, _mm_mul_ps(c3, v3));
          s1 = _mm_sub_ps(u1, s1);
          s2 = _mm_add_ps(s2, u2);
        }
        _mm_storeu_ps(p + MIXSTAGE__SVF_S1 * stride, s1);
        _mm_storeu_ps(p + MIXSTAGE__SVF_S2 * stride, s2);
      }
      for (int i = 0; i < m; i++) {
        __m128 y = v[i];
        if (gain) y = _mm_mul_ps(y, _mm_set1_ps(gain[done + i]));
        float t[4];
        _mm_storeu_ps(t, y);
        for (int j = 0; j < w; j++) buf[l + j][done + i] = t[j];
      }
    }
  }
}

W8_TARGET void mixstage__svf_lanes8_process(float *const *sec, int nsec, float *const *buf, const float *gain, int n,
                                            int flush) {
  __m256 v[SVF_CHUNK];
  const int fused = mixstage__svf_fused();
  if (nsec >= 1 && nsec <= 4) { /* the usual channel EQ: one pass, no scratch */
    if (fused) w8_run_direct_fused(sec, nsec, buf, gain, n);
    else w8_run_direct(sec, nsec, buf, gain, n);
    n = 0; /* done; only the flush below */
  }
  for (int done = 0; done < n; done += SVF_CHUNK) {
    const int m = n - done < SVF_CHUNK ? n - done : SVF_CHUNK;
    int i = 0;
    for (; i + 8 <= m; i += 8) {
      for (int j = 0; j < 8; j++) v[i + j] = _mm256_loadu_ps(buf[j] + done + i);
      mixstage__transpose8(v + i);
    }
    for (; i < m; i++) {
      float t[8];
      for (int j = 0; j < 8; j++) t[j] = buf[j][done + i];
      v[i] = _mm256_loadu_ps(t);
    }
    if (fused) w8_sections_fused(sec, nsec, v, m);
    else w8_sections(sec, nsec, v, m);
    if (gain)
      for (i = 0; i < m; i++) v[i] = _mm256_mul_ps(v[i], _mm256_loadu_ps(gain + 8 * (done + i)));
    for (i = 0; i + 8 <= m; i += 8) {
      mixstage__transpose8(v + i);
      for (int j = 0; j < 8; j++) _mm256_storeu_ps(buf[j] + done + i, v[i + j]);
    }
    for (; i < m; i++) {
      float t[8];
      _mm256_storeu_ps(t, v[i]);
      for (int j = 0; j < 8; j++) buf[j][done + i] = t[j];
    }
  }
  if (flush) { /* svf_flush, eight lanes at once: |s| < FLUSH -> +0 (svf_flush stores 0.0f too) */
    const __m256 abs_mask = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff));
    const __m256 lim = _mm256_set1_ps(MIXSTAGE__SVF_FLUSH);
    for (int k = 0; k < nsec; k++)
      for (int r = MIXSTAGE__SVF_S1; r <= MIXSTAGE__SVF_S2; r++) {
        float *p = sec[k] + 8 * r;
        __m256 s = _mm256_loadu_ps(p);
        __m256 tiny = _mm256_cmp_ps(_mm256_and_ps(s, abs_mask), lim, _CMP_LT_OQ);
        _mm256_storeu_ps(p, _mm256_andnot_ps(tiny, s));
      }
  }
}
#else
int mixstage__svf_lanes8_available(void) { return 0; }

/* Never called where unavailable; kept correct regardless. */
void mixstage__svf_lanes8_process(float *const *sec, int nsec, float *const *buf, const float *gain, int n,
                                  int flush) {
  for (int l = 0; l < 8; l++) svf_lane_scalar(sec, nsec, 8, l, buf[l], gain ? gain + l : NULL, 8, n);
  if (flush) svf_flush(sec, nsec, 8);
}
#endif
