/* "console_color": mix-bus console colour.  Subtle, level-dependent
 * saturation with a gentle fixed tonal shape; nearly transparent at normal
 * mix levels.
 *
 * Curve (applied at 2x, to u = drive * x):
 *     t = tanh(u / c)
 *     f(u) = c t + beta c t^2
 * c is the headroom of the odd part (the curve bends around |u| ~ c, i.e.
 * c = 3 is ~ +9.5 dB above full scale) and beta the even part.  Small-signal
 * series: f(u) = u + (beta / c) u^2 - u^3 / (3 c^2) + ..., so for a sine of
 * amplitude A the harmonics are, relative to the fundamental,
 *     H2 ~ beta A / (2 c)       (rises 6 dB per 6 dB of level)
 *     H3 ~ A^2 / (12 c^2)       (rises 12 dB per 6 dB)
 * and the higher ones fall off fast (tanh is analytic): mostly low-order
 * harmonics whose amount rises smoothly with level.  "character" p = 0..1
 * sets the balance: c = 2.5 + p (less odd) and beta = 0.045 p (more even).
 * At the default (drive 0 dB, character 50 %: c = 3, beta = 0.0225) the THD
 * of a 1 kHz sine measures about 0.05 % at -18 dBFS, 0.3 % at -6 dBFS and
 * 0.9 % at 0 dBFS (tests/check_bus_stages.c).  Drive is level-compensated
 * (f(d x) / d): it moves the signal along the curve without changing the
 * level of quiet material; "output" sets the level.
 *
 * Only the distortion residual r = f(d x)/d - x goes through the 2x
 * oversampler (oversample.h) and a 10 Hz DC blocker (the even term makes
 * DC); the clean signal takes a plain integer delay of the same latency
 * (read from the oversampler's input window: 2K frames of history against
 * a latency of 2K - 1).
 * So the linear path is exact (bit-exact apart from the tone shelves and
 * output gain) and aliasing only concerns the small residual: at 1x, a
 * 15 kHz sine at 0 dBFS would fold its 3rd harmonic to 3 kHz at about
 * -40 dB (audible as an inharmonic tone); at 2x the fold-back of every
 * harmonic that matters is below -100 dB (the residual is itself >= 40 dB
 * down, the LIGHT oversampler's stop band >= 80 dB).  Latency:
 * mixstage__os_latency_for_design(2, 0, MIXSTAGE_OS_LIGHT) = 31 frames.
 * Cost (callgrind, benchmark graph's mix bus, stereo, settings steady,
 * AVX2 machine): 52 instructions per frame per channel, of which the 2x
 * oversampler is 24 (its phase-split form: the curve is memoryless, so the
 * two phases are never interleaved; both channels in one pass of the taps),
 * the residual (colour_curve.h's rational tanh, eight samples per vector)
 * 9, the three first-order sections 15 (pipelined across an AVX vector:
 * the DC blocker on frame i, the low shelf on frame i and the high shelf on
 * frame i - 1, two vector steps a frame instead of three) and the node's
 * own bookkeeping 4.  Each step kept the operations and their order: the
 * output bits did not change.  (Was 216 with the two-branch tanh and the
 * sections' state through memory every sample, 119 before the half-band
 * sums took 32 outputs per pass, 82 before the phase-split oversampler and
 * the pipelined sections.)
 *
 * Tone: first-order shelves (biquad.h, bilinear, pre-warped): a low shelf at
 * 100 Hz of 0.2 - 0.25 tone dB and a high shelf at 10 kHz of
 * -0.2 + 0.25 tone dB (tone = -1..1): by default a touch of low-end weight
 * and top-end softening (+0.2 / -0.2 dB); tone tilts it (-1: +0.45 / -0.45,
 * +1: -0.05 / +0.05).  The shape never exceeds 0.45 dB.
 */
#include <math.h>
#include <string.h>
#include "../dsp/biquad.h"
#include "../dsp/colour_curve.h"
#include "../dsp/cpu.h"
#include "../dsp/oversample.h"
#include "../node.h"
#ifdef __SSE2__
#include <emmintrin.h>
#endif
#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif

enum { P_DRIVE, P_CHARACTER, P_TONE, P_OUTPUT, P_MIX, P_COUNT };

static const mixstage_param_info cc_params[P_COUNT] = {
    {P_DRIVE, "drive", "Drive", MIXSTAGE_UNIT_DB, -12.0, 12.0, 0.0, 1, NULL},
    {P_CHARACTER, "character", "Character (even/odd)", MIXSTAGE_UNIT_PERCENT, 0.0, 100.0, 50.0, 1,
     NULL},
    {P_TONE, "tone", "Tone tilt", MIXSTAGE_UNIT_PERCENT, -100.0, 100.0, 0.0, 1, NULL},
    {P_OUTPUT, "output", "Output", MIXSTAGE_UNIT_DB, -12.0, 12.0, 0.0, 1, NULL},
    {P_MIX, "mix", "Mix", MIXSTAGE_UNIT_PERCENT, 0.0, 100.0, 100.0, 1, NULL},
};

#define CC_OS_FACTOR 2
#define CC_LOW_HZ 100.0
#define CC_HIGH_HZ 10000.0
#define CC_DC_HZ 10.0
#define CC_SECTIONS 3

typedef struct cc_ramp {
  double prev, target;
} cc_ramp;

typedef struct cc_state {
  double fs;
  int nch;
  const mixstage__allocator *alloc;
  mixstage__oversampler os;
  int os_ok;
  int lat; /* the clean signal is read from the oversampler's input window */
  /* Section 0 the DC blocker (on the residual), 1 and 2 the tone shelves;
   * their TDF-II memory per channel as structure of arrays, so one vector
   * runs a channel pair. */
  mixstage__biquad sec[CC_SECTIONS];
  double s1[CC_SECTIONS][MIXSTAGE__LANE_PAD(MIXSTAGE_MAX_CHANNELS)];
  double s2[CC_SECTIONS][MIXSTAGE__LANE_PAD(MIXSTAGE_MAX_CHANNELS)];
  cc_ramp drive, character, output, mix;
  int kernel; /* residual kernel (colour_curve.h), chosen at init */
  int avx;    /* the AVX tone path runs (tested once at init) */
  int cell_pos;
  int initialised;
} cc_state;

static void cc_fini(void *s, const mixstage__node_env *env) {
  cc_state *st = s;
  (void)env;
  if (st->os_ok) mixstage__os_fini(&st->os, st->alloc);
  st->os_ok = 0;
}

static int cc_init(void *s, const mixstage__node_env *env) {
  cc_state *st = s;
  st->fs = env->sample_rate;
  st->nch = env->channels;
  st->alloc = env->alloc;
  int rc = mixstage__os_init_design(&st->os, env->alloc, st->nch, CC_OS_FACTOR, 0,
                                    MIXSTAGE_OS_LIGHT);
  if (rc != MIXSTAGE_OK) return rc;
  st->os_ok = 1;
  st->lat = mixstage__os_latency(&st->os);
  /* 2x with no extra delay: the phase-split path runs, and its input window
   * (2K frames of history) covers the latency (2K - 1) */
  if (!mixstage__os2_available(&st->os) || mixstage__os2_input_history(&st->os) < st->lat) {
    cc_fini(s, env);
    return MIXSTAGE_EINVAL;
  }
  mixstage__biquad_highpass1(&st->sec[0], CC_DC_HZ, st->fs);
  st->kernel = mixstage__cc_residual_best();
#if defined(__x86_64__) || defined(__i386__)
  st->avx = mixstage__cpu_avx();
#endif
  return MIXSTAGE_OK;
}

static void cc_reset(void *s) {
  cc_state *st = s;
  mixstage__os_reset(&st->os);
  memset(st->s1, 0, sizeof st->s1);
  memset(st->s2, 0, sizeof st->s2);
  st->drive.prev = st->drive.target;
  st->character.prev = st->character.target;
  st->output.prev = st->output.target;
  st->mix.prev = st->mix.target;
  st->cell_pos = MIXSTAGE_CONTROL_FRAMES;
}

static void ramp_set(cc_ramp *r, double v, int cell_pos, int first) {
  if (first) r->prev = v;
  else if (cell_pos < MIXSTAGE_CONTROL_FRAMES)
    r->prev += (r->target - r->prev) * cell_pos / (double)MIXSTAGE_CONTROL_FRAMES;
  else r->prev = r->target;
  r->target = v;
}

static inline double ramp_at(const cc_ramp *r, int k) {
  return k >= MIXSTAGE_CONTROL_FRAMES
             ? r->target
             : r->prev + (r->target - r->prev) * k / (double)MIXSTAGE_CONTROL_FRAMES;
}

static void cc_update(void *s, const double *p) {
  cc_state *st = s;
  int first = !st->initialised;
  double tone = p[P_TONE] * 0.01;
  /* Shelf gains jump at the cell boundary; at <= 0.45 dB that is inaudible. */
  mixstage__biquad_lowshelf1(&st->sec[1], CC_LOW_HZ, 0.2 - 0.25 * tone, st->fs);
  mixstage__biquad_highshelf1(&st->sec[2], CC_HIGH_HZ, -0.2 + 0.25 * tone, st->fs);
  ramp_set(&st->drive, mixstage__db_to_gain(p[P_DRIVE]), st->cell_pos, first);
  ramp_set(&st->character, p[P_CHARACTER] * 0.01, st->cell_pos, first);
  ramp_set(&st->output, mixstage__db_to_gain(p[P_OUTPUT]), st->cell_pos, first);
  ramp_set(&st->mix, p[P_MIX] * 0.01, st->cell_pos, first);
  st->cell_pos = first ? MIXSTAGE_CONTROL_FRAMES : 0;
  st->initialised = 1;
}

/* The tone path for a channel pair (or one channel, lanes = 1) over the
 * block: v = dry + DC-blocked residual, then the two shelves, times g, mixed
 * against dry.  All three sections are first order (b2 = a2 = 0), so only
 * s1 is carried: the arithmetic of mixstage__biquad_tick (same order, same
 * flush of |y| < 1e-280), state held in registers across the block; the
 * pair form runs the two channels in the two lanes of an SSE2 vector.
 * g and mx per frame (NULL: gc and mxc throughout); mixing only where
 * mx < 1. */
#ifdef __SSE2__
#define CC_PAIR 1
#define CC_SECTION(k)                                                                              \
  do {                                                                                             \
    __m128d y = _mm_add_pd(_mm_mul_pd(b0[k], v), s1[k]);                                           \
    y = _mm_andnot_pd(_mm_cmplt_pd(_mm_and_pd(y, mag), tiny), y); /* |y| < 1e-280: 0 */            \
    s1[k] = _mm_sub_pd(_mm_mul_pd(b1[k], v), _mm_mul_pd(a1[k], y));                                \
    v = y;                                                                                         \
  } while (0)

static inline __attribute__((always_inline)) void
cc_tone_pair_body(cc_state *st, int c, const float *d0, const float *d1, const float *r0, const float *r1, float *o0,
                  float *o1, const double *g, const double *mx, double gc, double mxc, int n) {
  const __m128d tiny = _mm_set1_pd(1e-280);
  const __m128d mag = _mm_castsi128_pd(_mm_set1_epi64x(0x7fffffffffffffffLL));
  __m128d b0[CC_SECTIONS], b1[CC_SECTIONS], a1[CC_SECTIONS], s1[CC_SECTIONS];
  for (int k = 0; k < CC_SECTIONS; k++) {
    b0[k] = _mm_set1_pd(st->sec[k].b0);
    b1[k] = _mm_set1_pd(st->sec[k].b1);
    a1[k] = _mm_set1_pd(st->sec[k].a1);
    s1[k] = _mm_loadu_pd(&st->s1[k][c]);
  }
  if (!g && !mx && mxc >= 1.0) { /* settled, all wet: one gain, no mix */
    const __m128d gv = _mm_set1_pd(gc);
    for (int i = 0; i < n; i++) {
      const __m128d dry = _mm_cvtps_pd(_mm_unpacklo_ps(_mm_load_ss(d0 + i), _mm_load_ss(d1 + i)));
      __m128d v = _mm_cvtps_pd(_mm_unpacklo_ps(_mm_load_ss(r0 + i), _mm_load_ss(r1 + i)));
      CC_SECTION(0);
      v = _mm_add_pd(dry, v);
      CC_SECTION(1);
      CC_SECTION(2);
      __m128 o = _mm_cvtpd_ps(_mm_mul_pd(v, gv));
      _mm_store_ss(o0 + i, o);
      _mm_store_ss(o1 + i, _mm_shuffle_ps(o, o, 1));
    }
    n = 0;
  }
  for (int i = 0; i < n; i++) {
    const __m128d dry = _mm_cvtps_pd(_mm_unpacklo_ps(_mm_load_ss(d0 + i), _mm_load_ss(d1 + i)));
    __m128d v = _mm_cvtps_pd(_mm_unpacklo_ps(_mm_load_ss(r0 + i), _mm_load_ss(r1 + i)));
    CC_SECTION(0);
    v = _mm_add_pd(dry, v);
    CC_SECTION(1);
    CC_SECTION(2);
    const double gi = g ? g[i] : gc, mi = mx ? mx[i] : mxc;
    v = _mm_mul_pd(v, _mm_set1_pd(gi));
    if (!(mi >= 1.0)) v = _mm_add_pd(dry, _mm_mul_pd(_mm_set1_pd(mi), _mm_sub_pd(v, dry)));
    __m128 o = _mm_cvtpd_ps(v);
    _mm_store_ss(o0 + i, o);
    _mm_store_ss(o1 + i, _mm_shuffle_ps(o, o, 1));
  }
  for (int k = 0; k < CC_SECTIONS; k++) _mm_storeu_pd(&st->s1[k][c], s1[k]);
}
#undef CC_SECTION

static void cc_tone_pair_sse2(cc_state *st, int c, const float *d0, const float *d1, const float *r0,
                              const float *r1, float *o0, float *o1, const double *g, const double *mx, double gc,
                              double mxc, int n) {
  cc_tone_pair_body(st, c, d0, d1, r0, r1, o0, o1, g, mx, gc, mxc, n);
}

#if defined(__x86_64__) || defined(__i386__)
/* Settled and all wet (the usual case), with AVX: the three sections
 * pipelined.  The DC blocker takes frame i in a 128-bit vector while the low
 * shelf takes frame i and the high shelf frame i - 1 side by side in one
 * 256-bit vector (lanes: low shelf ch c, c + 1, high shelf ch c, c + 1), so
 * a frame costs two section steps instead of three, and the I/O moves four
 * frames at a time.  Every lane runs the operations of CC_SECTION on the
 * same values in the same order: the bits of the frame-by-frame form. */
#define CC_SEC2(b0, b1, a1, s, v, y)                                                               \
  do {                                                                                             \
    y = _mm_add_pd(_mm_mul_pd(b0, v), s);                                                          \
    y = _mm_andnot_pd(_mm_cmplt_pd(_mm_and_pd(y, mag2), tiny2), y);                                \
    s = _mm_sub_pd(_mm_mul_pd(b1, v), _mm_mul_pd(a1, y));                                          \
  } while (0)
/* x: the residual pair of frame i, dry: its clean pair; out: the high
 * shelf's output pair of frame i - 1. */
#define CC_STEP(x, dry, out)                                                                       \
  do {                                                                                             \
    __m128d y0_;                                                                                   \
    CC_SEC2(b0a, b1a, a1a, sa, x, y0_);                                                            \
    const __m256d v_ = _mm256_permute2f128_pd(_mm256_castpd128_pd256(_mm_add_pd(dry, y0_)), Y, 0x20); \
    Y = _mm256_add_pd(_mm256_mul_pd(B0, v_), S);                                                   \
    Y = _mm256_andnot_pd(_mm256_cmp_pd(_mm256_and_pd(Y, mag4), tiny4, _CMP_LT_OS), Y);             \
    S = _mm256_sub_pd(_mm256_mul_pd(B1, v_), _mm256_mul_pd(A1, Y));                                \
    out = _mm256_extractf128_pd(Y, 1);                                                             \
  } while (0)
#define CC_PAIR_AT(p0, p1, i) _mm_cvtps_pd(_mm_unpacklo_ps(_mm_load_ss((p0) + (i)), _mm_load_ss((p1) + (i))))

__attribute__((target("avx"))) static void cc_tone_pair_avx_settled(cc_state *st, int c, const float *d0,
                                                                    const float *d1, const float *r0,
                                                                    const float *r1, float *o0, float *o1,
                                                                    double gc, int n) {
  const __m128d tiny2 = _mm_set1_pd(1e-280);
  const __m128d mag2 = _mm_castsi128_pd(_mm_set1_epi64x(0x7fffffffffffffffLL));
  const __m256d tiny4 = _mm256_set1_pd(1e-280);
  const __m256d mag4 = _mm256_castsi256_pd(_mm256_set1_epi64x(0x7fffffffffffffffLL));
  const mixstage__biquad *q = st->sec;
  const __m128d b0a = _mm_set1_pd(q[0].b0), b1a = _mm_set1_pd(q[0].b1), a1a = _mm_set1_pd(q[0].a1);
  const __m256d B0 = _mm256_setr_pd(q[1].b0, q[1].b0, q[2].b0, q[2].b0);
  const __m256d B1 = _mm256_setr_pd(q[1].b1, q[1].b1, q[2].b1, q[2].b1);
  const __m256d A1 = _mm256_setr_pd(q[1].a1, q[1].a1, q[2].a1, q[2].a1);
  const __m256d G = _mm256_set1_pd(gc);
  __m128d sa = _mm_loadu_pd(&st->s1[0][c]), sl = _mm_loadu_pd(&st->s1[1][c]);
  __m128d x, y, yl, out;
  /* frame 0: the DC blocker and the low shelf */
  x = CC_PAIR_AT(r0, r1, 0);
  CC_SEC2(b0a, b1a, a1a, sa, x, y);
  x = _mm_add_pd(CC_PAIR_AT(d0, d1, 0), y);
  CC_SEC2(_mm256_castpd256_pd128(B0), _mm256_castpd256_pd128(B1), _mm256_castpd256_pd128(A1), sl, x, yl);
  __m256d S = _mm256_set_m128d(_mm_loadu_pd(&st->s1[2][c]), sl), Y = _mm256_castpd128_pd256(yl);
  int i = 1;
  for (; i + 4 <= n; i += 4) {
    const __m128 D0 = _mm_loadu_ps(d0 + i), D1 = _mm_loadu_ps(d1 + i);
    const __m128 R0 = _mm_loadu_ps(r0 + i), R1 = _mm_loadu_ps(r1 + i);
    const __m256d dlo = _mm256_cvtps_pd(_mm_unpacklo_ps(D0, D1)), dhi = _mm256_cvtps_pd(_mm_unpackhi_ps(D0, D1));
    const __m256d rlo = _mm256_cvtps_pd(_mm_unpacklo_ps(R0, R1)), rhi = _mm256_cvtps_pd(_mm_unpackhi_ps(R0, R1));
    __m128d u0, u1, u2, u3;
    CC_STEP(_mm256_castpd256_pd128(rlo), _mm256_castpd256_pd128(dlo), u0);
    CC_STEP(_mm256_extractf128_pd(rlo, 1), _mm256_extractf128_pd(dlo, 1), u1);
    CC_STEP(_mm256_castpd256_pd128(rhi), _mm256_castpd256_pd128(dhi), u2);
    CC_STEP(_mm256_extractf128_pd(rhi, 1), _mm256_extractf128_pd(dhi, 1), u3);
    const __m128 oa = _mm256_cvtpd_ps(_mm256_mul_pd(_mm256_set_m128d(u1, u0), G));
    const __m128 ob = _mm256_cvtpd_ps(_mm256_mul_pd(_mm256_set_m128d(u3, u2), G));
    _mm_storeu_ps(o0 + i - 1, _mm_shuffle_ps(oa, ob, _MM_SHUFFLE(2, 0, 2, 0)));
    _mm_storeu_ps(o1 + i - 1, _mm_shuffle_ps(oa, ob, _MM_SHUFFLE(3, 1, 3, 1)));
  }
  for (; i < n; i++) {
    CC_STEP(CC_PAIR_AT(r0, r1, i), CC_PAIR_AT(d0, d1, i), out);
    const __m128 o = _mm_cvtpd_ps(_mm_mul_pd(out, _mm256_castpd256_pd128(G)));
    _mm_store_ss(o0 + i - 1, o);
    _mm_store_ss(o1 + i - 1, _mm_shuffle_ps(o, o, 1));
  }
  /* frame n - 1: the high shelf */
  __m128d sh = _mm256_extractf128_pd(S, 1);
  CC_SEC2(_mm256_extractf128_pd(B0, 1), _mm256_extractf128_pd(B1, 1), _mm256_extractf128_pd(A1, 1), sh,
          _mm256_castpd256_pd128(Y), out);
  const __m128 o = _mm_cvtpd_ps(_mm_mul_pd(out, _mm256_castpd256_pd128(G)));
  _mm_store_ss(o0 + n - 1, o);
  _mm_store_ss(o1 + n - 1, _mm_shuffle_ps(o, o, 1));
  _mm_storeu_pd(&st->s1[0][c], sa);
  _mm_storeu_pd(&st->s1[1][c], _mm256_castpd256_pd128(S));
  _mm_storeu_pd(&st->s1[2][c], sh);
}
#undef CC_STEP
#undef CC_SEC2
#undef CC_PAIR_AT

/* The same instructions VEX-encoded: three operands, no register copies
 * (the loop is a chain of dependent sections, so the copies are a third of
 * its instructions). */
__attribute__((target("avx"))) static void cc_tone_pair_avx(cc_state *st, int c, const float *d0, const float *d1,
                                                            const float *r0, const float *r1, float *o0, float *o1,
                                                            const double *g, const double *mx, double gc,
                                                            double mxc, int n) {
  cc_tone_pair_body(st, c, d0, d1, r0, r1, o0, o1, g, mx, gc, mxc, n);
}
#endif

static void cc_tone_pair(cc_state *st, int c, const float *d0, const float *d1, const float *r0,
                         const float *r1, float *o0, float *o1, const double *g, const double *mx,
                         double gc, double mxc, int n) {
#if defined(__x86_64__) || defined(__i386__)
  if (st->avx) {
    if (!g && !mx && mxc >= 1.0 && n > 0) {
      cc_tone_pair_avx_settled(st, c, d0, d1, r0, r1, o0, o1, gc, n);
      return;
    }
    cc_tone_pair_avx(st, c, d0, d1, r0, r1, o0, o1, g, mx, gc, mxc, n);
    return;
  }
#endif
  cc_tone_pair_sse2(st, c, d0, d1, r0, r1, o0, o1, g, mx, gc, mxc, n);
}
#else
#define CC_PAIR 0
#endif

static void cc_tone_one(cc_state *st, int c, const float *d0, const float *r0, float *o0,
                        const double *g, const double *mx, double gc, double mxc, int n) {
  double b0[CC_SECTIONS], b1[CC_SECTIONS], a1[CC_SECTIONS], s1[CC_SECTIONS];
  for (int k = 0; k < CC_SECTIONS; k++) {
    b0[k] = st->sec[k].b0;
    b1[k] = st->sec[k].b1;
    a1[k] = st->sec[k].a1;
    s1[k] = st->s1[k][c];
  }
  for (int i = 0; i < n; i++) {
    const double dry = (double)d0[i];
    double v = (double)r0[i];
    for (int k = 0; k < CC_SECTIONS; k++) {
      double y = b0[k] * v + s1[k];
      y = (y < 1e-280 && y > -1e-280) ? 0.0 : y;
      s1[k] = b1[k] * v - a1[k] * y;
      v = k == 0 ? dry + y : y;
    }
    const double mi = mx ? mx[i] : mxc;
    v *= g ? g[i] : gc;
    o0[i] = (float)(mi >= 1.0 ? v : dry + mi * (v - dry));
  }
  for (int k = 0; k < CC_SECTIONS; k++) st->s1[k][c] = s1[k];
}

/* One piece of at most MIXSTAGE_OS_MAX_FRAMES frames (the oversampler's and
 * the stack buffers' size).  The curve is memoryless, so the residual runs
 * on the oversampler's two phases apart (oversample.h, phase-split 2x). */
static void cc_piece(cc_state *st, float *const *buf, int nch, int nframes) {
  float res[MIXSTAGE_MAX_CHANNELS][MIXSTAGE_OS_MAX_FRAMES];
  float *rp[MIXSTAGE_MAX_CHANNELS];
  const float *dry[MIXSTAGE_MAX_CHANNELS];
  for (int c = 0; c < nch; c++) rp[c] = res[c];
  /* Nothing moves once the cell's ramp is done: one set of constants. */
  const int steady = st->cell_pos >= MIXSTAGE_CONTROL_FRAMES;

  mixstage__os2_up(&st->os, (const float *const *)buf, nframes);
  if (steady) {
    double d = st->drive.target, p = st->character.target, c = 2.5 + p;
    float *ph[2 * MIXSTAGE_MAX_CHANNELS];
    for (int ch = 0; ch < nch; ch++) {
      ph[2 * ch] = mixstage__os2_even(&st->os, ch);
      ph[2 * ch + 1] = mixstage__os2_odd(&st->os, ch);
    }
    mixstage__cc_residual_many(st->kernel, ph, 2 * nch, nframes, (float)(d / c), (float)(c / d),
                               (float)(0.045 * p));
  } else {
    for (int i = 0; i < nframes; i++) {
      int k = st->cell_pos + i + 1;
      double d = ramp_at(&st->drive, k), p = ramp_at(&st->character, k), c = 2.5 + p;
      const float a = (float)(d / c), cd = (float)(c / d), beta = (float)(0.045 * p);
      for (int ch = 0; ch < nch; ch++) {
        mixstage__cc_residual(st->kernel, mixstage__os2_even(&st->os, ch) + i, 1, a, cd, beta);
        mixstage__cc_residual(st->kernel, mixstage__os2_odd(&st->os, ch) + i, 1, a, cd, beta);
      }
    }
  }
  mixstage__os2_down(&st->os, rp, nframes);

  /* The clean signal: the block's input delayed by the latency, read from
   * the oversampler's input window (valid until its next up). */
  for (int c = 0; c < nch; c++) dry[c] = mixstage__os2_input(&st->os, c) - st->lat;
  double g[MIXSTAGE_OS_MAX_FRAMES], mx[MIXSTAGE_OS_MAX_FRAMES];
  for (int i = 0; i < nframes && !steady; i++) {
    int k = st->cell_pos + i + 1;
    g[i] = ramp_at(&st->output, k);
    mx[i] = ramp_at(&st->mix, k);
  }
  const double *gp = steady ? NULL : g, *mxp = steady ? NULL : mx;
  const double gc = st->output.target, mxc = st->mix.target;
  int c = 0;
#if CC_PAIR
  for (; c + 2 <= nch; c += 2)
    cc_tone_pair(st, c, dry[c], dry[c + 1], res[c], res[c + 1], buf[c], buf[c + 1], gp, mxp, gc, mxc,
                 nframes);
#endif
  for (; c < nch; c++) cc_tone_one(st, c, dry[c], res[c], buf[c], gp, mxp, gc, mxc, nframes);
  st->cell_pos += nframes;
  if (st->cell_pos > MIXSTAGE_CONTROL_FRAMES) st->cell_pos = MIXSTAGE_CONTROL_FRAMES;
}

/* Any number of frames, in pieces of MIXSTAGE_OS_MAX_FRAMES: every stage is
 * sample-sequential, so the split does not change a bit. */
static void cc_process(void *s, float *const *buf, int nch, int nframes, const float *const *key,
                       int key_nch) {
  (void)key;
  (void)key_nch;
  float *piece[MIXSTAGE_MAX_CHANNELS];
  for (int done = 0; done < nframes; done += MIXSTAGE_OS_MAX_FRAMES) {
    const int n = nframes - done < MIXSTAGE_OS_MAX_FRAMES ? nframes - done : MIXSTAGE_OS_MAX_FRAMES;
    for (int c = 0; c < nch; c++) piece[c] = buf[c] + done;
    cc_piece(s, piece, nch, n);
  }
}

static int cc_latency(const void *s) {
  const cc_state *st = s;
  return st->lat;
}

static int64_t cc_tail(const void *s) {
  const cc_state *st = s;
  /* latency plus the DC blocker's decay to -120 dB: tau = 1/(2 pi 10 Hz),
   * 13.8 tau ~ 0.22 s */
  return st->lat + (int64_t)(0.22 * st->fs);
}

const mixstage__node_class mixstage__console_color_class = {
    .name = "console_color",
    .description = "Console colour: subtle level-dependent saturation and gentle tonal shape",
    .params = cc_params,
    .num_params = P_COUNT,
    .accepts_key = 0,
    .state_size = sizeof(cc_state),
    .init = cc_init,
    .fini = cc_fini,
    .reset = cc_reset,
    .update = cc_update,
    .process = cc_process,
    .latency = cc_latency,
    .tail = cc_tail,
    .gain_reduction = NULL,
    .max_frames = 8 * MIXSTAGE_CONTROL_FRAMES, /* a block, in pieces of MIXSTAGE_OS_MAX_FRAMES */
};
