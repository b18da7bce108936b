/* Dynamics building blocks: coefficient set-up and resets (the per-sample
 * kernels are inline in dynamics.h). */
#include "dynamics.h"
#include "cpu.h"
#include "fastmath.h"

#include <float.h>
#include "../node.h"

void mixstage__peak_det_set(mixstage__peak_det *d, double hold_ms, double fs) {
  /* seg_len = ceil(hold / SEGS): the held span is then between 7/8 of
   * hold_ms and hold_ms (plus less than one segment of rounding). */
  double n = hold_ms * 0.001 * fs / (double)MIXSTAGE__PEAK_SEGS;
  int len = n >= 1.0 ? (int)ceil(n) : 1;
  if (len > (1 << 24)) len = 1 << 24;
  if (len != d->seg_len) {
    d->seg_len = len;
    if (d->pos >= len) d->pos = len - 1;
  }
}

void mixstage__peak_det_reset(mixstage__peak_det *d) {
  for (int i = 0; i < MIXSTAGE__PEAK_SEGS - 1; i++) d->seg[i] = 0.0f;
  d->seg_max = 0.0f;
  d->cur = 0.0f;
  d->pos = 0;
  d->idx = 0;
}

void mixstage__rms_det_set(mixstage__rms_det *d, double window_ms, double fs) {
  d->b = 1.0 - mixstage__onepole_coef(window_ms * 0.001, fs);
}

void mixstage__rms_det_reset(mixstage__rms_det *d) { d->ms = 0.0; }

void mixstage__dyn_smoother_set(mixstage__dyn_smoother *s, double up_ms, double down_ms,
                                double fs) {
  s->b_up = 1.0 - mixstage__onepole_coef(up_ms * 0.001, fs);
  s->b_down = 1.0 - mixstage__onepole_coef(down_ms * 0.001, fs);
}

void mixstage__comp_ballistics_set(mixstage__comp_ballistics *b, double attack_ms,
                                   double release_ms, int auto_release, double fs) {
  mixstage__dyn_smoother_set(&b->fast, attack_ms, release_ms, fs);
  double slow_att = 4.0 * attack_ms > 250.0 ? 4.0 * attack_ms : 250.0;
  double slow_rel = 8.0 * release_ms < 10000.0 ? 8.0 * release_ms : 10000.0;
  if (slow_rel < release_ms) slow_rel = release_ms;
  mixstage__dyn_smoother_set(&b->slow, slow_att, slow_rel, fs);
  if (auto_release && !b->auto_release) b->slow.y = 0.0; /* max(fast, 0) = fast: no jump */
  b->auto_release = auto_release;
}

void mixstage__comp_ballistics_set_like(mixstage__comp_ballistics *b,
                                        const mixstage__comp_ballistics *ref) {
  b->fast.b_up = ref->fast.b_up;
  b->fast.b_down = ref->fast.b_down;
  b->slow.b_up = ref->slow.b_up;
  b->slow.b_down = ref->slow.b_down;
  if (ref->auto_release && !b->auto_release) b->slow.y = 0.0;
  b->auto_release = ref->auto_release;
}

void mixstage__comp_ballistics_reset(mixstage__comp_ballistics *b) {
  b->fast.y = 0.0;
  b->slow.y = 0.0;
}

void mixstage__gate_hold_set(mixstage__gate_hold *g, double hold_ms, double fs) {
  double n = hold_ms * 0.001 * fs + 0.5;
  g->hold = n < 1.0 ? 0 : n > 2147483647.0 ? 2147483647 : (int)n;
  if (g->count > g->hold) g->count = g->hold;
}

void mixstage__gate_hold_reset(mixstage__gate_hold *g) {
  g->open = 0;
  g->count = 0;
}

/* Held level of a peak detector, as mixstage__peak_det_run last returned it. */
static float peak_held(const mixstage__peak_det *p) { return p->cur > p->seg_max ? p->cur : p->seg_max; }

/* Every segment of the hold window at v (mode switch RMS -> peak). */
static void peak_fill(mixstage__peak_det *p, float v) {
  for (int k = 0; k < MIXSTAGE__PEAK_SEGS - 1; k++) p->seg[k] = v;
  p->seg_max = v;
  p->cur = v;
}

void mixstage__dyn_detector_set(mixstage__dyn_detector *d, int mode, double rms_window_ms,
                                double hpf_hz, double fs) {
  int on = hpf_hz > 0.0;
  if (on) mixstage__biquad_highpass(&d->hpf, hpf_hz, MIXSTAGE__Q_BUTTERWORTH, fs);
  if (on && !d->hpf_on) /* start from rest rather than from stale memory */
    for (int c = 0; c < MIXSTAGE_MAX_CHANNELS; c++) mixstage__biquad_reset(&d->hs[c]);
  d->hpf_on = on;
  mode = mode == MIXSTAGE__DET_RMS ? MIXSTAGE__DET_RMS : MIXSTAGE__DET_PEAK;
  if (mode != d->mode) { /* seed the newly selected detector (see dynamics.h) */
    for (int c = 0; c < MIXSTAGE_MAX_CHANNELS; c++) {
      mixstage__peak_det *pk = &d->peak[d->linked ? 0 : c];
      if (mode == MIXSTAGE__DET_RMS) {
        double a = (double)peak_held(pk);
        d->rms[c].ms = a * a;
      }
    }
    if (mode == MIXSTAGE__DET_PEAK) {
      if (d->linked) {
        double m = 0.0;
        for (int c = 0; c < MIXSTAGE_MAX_CHANNELS; c++)
          if (d->rms[c].ms > m) m = d->rms[c].ms;
        peak_fill(&d->peak[0], (float)sqrt(m));
      } else {
        for (int c = 0; c < MIXSTAGE_MAX_CHANNELS; c++)
          peak_fill(&d->peak[c], (float)sqrt(d->rms[c].ms));
      }
    }
  }
  d->mode = mode;
  mixstage__peak_det_set(&d->peak[0], MIXSTAGE__PEAK_HOLD_MS, fs);
  mixstage__rms_det_set(&d->rms[0], rms_window_ms, fs);
  for (int c = 1; c < MIXSTAGE_MAX_CHANNELS; c++) { /* one exp(), not sixteen */
    d->rms[c].b = d->rms[0].b;
    if (d->peak[c].seg_len != d->peak[0].seg_len) {
      d->peak[c].seg_len = d->peak[0].seg_len;
      if (d->peak[c].pos >= d->peak[c].seg_len) d->peak[c].pos = d->peak[c].seg_len - 1;
    }
  }
}

void mixstage__dyn_detector_reset(mixstage__dyn_detector *d) {
  for (int c = 0; c < MIXSTAGE_MAX_CHANNELS; c++) {
    mixstage__biquad_reset(&d->hs[c]);
    mixstage__peak_det_reset(&d->peak[c]);
    mixstage__rms_det_reset(&d->rms[c]);
  }
}

/* The per-channel detectors of the nch channels that ran did so in lockstep
 * (same seg_len, pos, idx), so their segment-wise maximum is exactly the
 * linked detector's state. */
void mixstage__dyn_detector_to_linked(mixstage__dyn_detector *d, int nch) {
  mixstage__peak_det *p0 = &d->peak[0];
  for (int c = 1; c < nch && c < MIXSTAGE_MAX_CHANNELS; c++) {
    const mixstage__peak_det *pc = &d->peak[c];
    for (int k = 0; k < MIXSTAGE__PEAK_SEGS - 1; k++)
      if (pc->seg[k] > p0->seg[k]) p0->seg[k] = pc->seg[k];
    if (pc->seg_max > p0->seg_max) p0->seg_max = pc->seg_max;
    if (pc->cur > p0->cur) p0->cur = pc->cur;
  }
  d->linked = 1;
}

void mixstage__dyn_detector_to_per_channel(mixstage__dyn_detector *d) {
  for (int c = 1; c < MIXSTAGE_MAX_CHANNELS; c++) d->peak[c] = d->peak[0];
  d->linked = 0;
}

/* A segment complete (pos reached seg_len): as in mixstage__peak_det_run. */
static inline void peak_seg_end(mixstage__peak_det *d) {
  if (d->pos < d->seg_len) return;
  d->seg[d->idx] = d->cur;
  if (++d->idx >= MIXSTAGE__PEAK_SEGS - 1) d->idx = 0;
  float m = 0.0f;
  for (int k = 0; k < MIXSTAGE__PEAK_SEGS - 1; k++)
    if (d->seg[k] > m) m = d->seg[k];
  d->seg_max = m;
  d->cur = 0.0f;
  d->pos = 0;
}

/* a[k] = max over the channels of |src[c][i0 + k]|, k < n (NaN never wins),
 * as the running maximum a = 0, then a = |x_c| > a ? |x_c| : a per channel.
 * The first two channels go in one pass (no zeroing pass, one store). */
static void abs_max(const float *const *src, int nch, int i0, int n, float *a) {
  if (nch <= 0) {
    for (int k = 0; k < n; k++) a[k] = 0.0f;
    return;
  }
  const float *x0 = src[0] + i0, *x1 = nch > 1 ? src[1] + i0 : NULL;
  int k = 0;
#ifdef __SSE2__
  /* maxps(p, q) is p > q ? p : q, the scalar rule below: NaN ignored */
  const __m128 abs_mask = _mm_castsi128_ps(_mm_set1_epi32(0x7fffffff));
  if (x1) {
    for (; k + 4 <= n; k += 4) {
      __m128 m = _mm_max_ps(_mm_and_ps(_mm_loadu_ps(x0 + k), abs_mask), _mm_setzero_ps());
      _mm_storeu_ps(a + k, _mm_max_ps(_mm_and_ps(_mm_loadu_ps(x1 + k), abs_mask), m));
    }
  } else {
    for (; k + 4 <= n; k += 4)
      _mm_storeu_ps(a + k, _mm_max_ps(_mm_and_ps(_mm_loadu_ps(x0 + k), abs_mask), _mm_setzero_ps()));
  }
#endif
  for (; k < n; k++) {
    float ax = fabsf(x0[k]), m = ax > 0.0f ? ax : 0.0f;
    if (x1) {
      ax = fabsf(x1[k]);
      m = ax > m ? ax : m;
    }
    a[k] = m;
  }
  for (int c = 2; c < nch; c++) {
    const float *x = src[c] + i0;
    k = 0;
#ifdef __SSE2__
    for (; k + 4 <= n; k += 4)
      _mm_storeu_ps(a + k, _mm_max_ps(_mm_and_ps(_mm_loadu_ps(x + k), abs_mask), _mm_loadu_ps(a + k)));
#endif
    for (; k < n; k++) {
      float ax = fabsf(x[k]);
      a[k] = ax > a[k] ? ax : a[k];
    }
  }
}

/* mixstage__peak_det_run over a[0 .. n-1], same results: within a segment
 * the held value is max(seg_max, running max of the segment). */
static void peak_det_block(mixstage__peak_det *d, const float *a, int n, double *lvl) {
  int i = 0;
  while (i < n) {
    int run = d->seg_len - d->pos;
    if (run > n - i) run = n - i;
    float cur = d->cur, sm = d->seg_max;
    for (int k = i; k < i + run; k++) {
      if (a[k] > cur) cur = a[k]; /* NaN never wins: ignored */
      double h = (double)(cur > sm ? cur : sm);
      lvl[k] = h * h;
    }
    d->cur = cur;
    d->pos += run;
    i += run;
    peak_seg_end(d);
  }
}

/* The two one-poles side by side in one SSE2 vector, mixstage__rms_det_run's
 * operations per lane.  The recursion is serial, so the work around it is
 * what a block form saves: four frames are loaded, widened and squared
 * together, and their levels (lanes transposed by pairs of frames) taken
 * and stored two at a time, with the scalar rule's max operations in its
 * operand order (maxpd(p, q) is p > q ? p : q per lane). */
#ifdef __SSE2__
static inline __attribute__((always_inline)) void rms_pair_body(mixstage__rms_det *r0, mixstage__rms_det *r1,
                                                                const float *x0, const float *x1, int n,
                                                                double *lvl, float *pw) {
  const __m128d b = _mm_set_pd(r1->b, r0->b), floor = _mm_set1_pd(1e-30), zero = _mm_setzero_pd();
  __m128d ms = _mm_set_pd(r1->ms, r0->ms);
#define RMS_PAIR_STEP(q)                                                                           \
  (ms = _mm_add_pd(ms, _mm_mul_pd(b, _mm_sub_pd((q), ms))), ms = _mm_andnot_pd(_mm_cmplt_pd(ms, floor), ms))
/* lvl of two frames' mean-square pairs m, p: hi > l ? hi : l, l = lo > 0 ? lo : 0 */
#define RMS_PAIR_LEVELS(m, p)                                                                      \
  _mm_max_pd(_mm_unpackhi_pd((m), (p)), _mm_max_pd(_mm_unpacklo_pd((m), (p)), zero))
/* two levels out: as doubles, or (pw) as power_floats' floats: maxps(v, 0)
 * is v > 0 ? v : 0 per lane, NaN to 0 */
#define RMS_PAIR_OUT(k, v)                                                                         \
  do {                                                                                             \
    if (pw)                                                                                        \
      _mm_storel_pi((__m64 *)(void *)(pw + (k)), _mm_max_ps(_mm_cvtpd_ps(v), _mm_setzero_ps()));   \
    else                                                                                           \
      _mm_storeu_pd(lvl + (k), (v));                                                               \
  } while (0)
  int k = 0;
  for (; k + 4 <= n; k += 4) {
    const __m128 a = _mm_loadu_ps(x0 + k), c = _mm_loadu_ps(x1 + k);
    const __m128 lo = _mm_unpacklo_ps(a, c), hi = _mm_unpackhi_ps(a, c); /* frames k, k+1 | k+2, k+3 */
    const __m128d v0 = _mm_cvtps_pd(lo), v1 = _mm_cvtps_pd(_mm_movehl_ps(lo, lo));
    const __m128d v2 = _mm_cvtps_pd(hi), v3 = _mm_cvtps_pd(_mm_movehl_ps(hi, hi));
    const __m128d q0 = _mm_mul_pd(v0, v0), q1 = _mm_mul_pd(v1, v1), q2 = _mm_mul_pd(v2, v2), q3 = _mm_mul_pd(v3, v3);
    RMS_PAIR_STEP(q0);
    const __m128d m0 = ms;
    RMS_PAIR_STEP(q1);
    RMS_PAIR_OUT(k, RMS_PAIR_LEVELS(m0, ms));
    RMS_PAIR_STEP(q2);
    const __m128d m2 = ms;
    RMS_PAIR_STEP(q3);
    RMS_PAIR_OUT(k + 2, RMS_PAIR_LEVELS(m2, ms));
  }
  for (; k < n; k++) {
    const __m128d v = _mm_cvtps_pd(_mm_unpacklo_ps(_mm_load_ss(x0 + k), _mm_load_ss(x1 + k)));
    RMS_PAIR_STEP(_mm_mul_pd(v, v));
    const __m128d l = RMS_PAIR_LEVELS(ms, ms);
    if (pw)
      _mm_store_ss(pw + k, _mm_max_ss(_mm_cvtpd_ps(l), _mm_setzero_ps()));
    else
      _mm_store_sd(lvl + k, l);
  }
#undef RMS_PAIR_STEP
#undef RMS_PAIR_LEVELS
#undef RMS_PAIR_OUT
  double m2[2];
  _mm_storeu_pd(m2, ms);
  r0->ms = m2[0];
  r1->ms = m2[1];
}

static void rms_pair_sse2(mixstage__rms_det *r0, mixstage__rms_det *r1, const float *x0, const float *x1, int n,
                          double *lvl) {
  rms_pair_body(r0, r1, x0, x1, n, lvl, NULL);
}

static void rms_pair_sse2_f(mixstage__rms_det *r0, mixstage__rms_det *r1, const float *x0, const float *x1, int n,
                            float *pw) {
  rms_pair_body(r0, r1, x0, x1, n, NULL, pw);
}

#if defined(__x86_64__) || defined(__i386__)
/* The same instructions VEX-encoded (three operands: no register copies). */
__attribute__((target("avx"))) static void rms_pair_avx(mixstage__rms_det *r0, mixstage__rms_det *r1,
                                                        const float *x0, const float *x1, int n, double *lvl) {
  rms_pair_body(r0, r1, x0, x1, n, lvl, NULL);
}

__attribute__((target("avx"))) static void rms_pair_avx_f(mixstage__rms_det *r0, mixstage__rms_det *r1,
                                                          const float *x0, const float *x1, int n, float *pw) {
  rms_pair_body(r0, r1, x0, x1, n, NULL, pw);
}
#endif
#endif

void mixstage__rms_det_run_pair(mixstage__rms_det *r0, mixstage__rms_det *r1, const float *x0, const float *x1,
                                int n, double *lvl) {
#ifdef __SSE2__
#if defined(__x86_64__) || defined(__i386__)
  if (mixstage__cpu_avx()) {
    rms_pair_avx(r0, r1, x0, x1, n, lvl);
    return;
  }
#endif
  rms_pair_sse2(r0, r1, x0, x1, n, lvl);
#else
  for (int k = 0; k < n; k++) {
    const double p0 = mixstage__rms_det_run(r0, (double)x0[k]), p1 = mixstage__rms_det_run(r1, (double)x1[k]);
    const double l = p0 > 0.0 ? p0 : 0.0;
    lvl[k] = p1 > l ? p1 : l;
  }
#endif
}

void mixstage__dyn_detector_run_linked(mixstage__dyn_detector *d, const float *const *src, int nch,
                                       int i0, int n, double *lvl) {
  if (nch <= 0) { /* no source channels: silence, detector state kept */
    for (int k = 0; k < n; k++) lvl[k] = 0.0;
    return;
  }
  if (!d->linked) mixstage__dyn_detector_to_linked(d, nch);
  if (d->mode == MIXSTAGE__DET_PEAK) {
    float a[MIXSTAGE__DET_BLOCK];
    for (int b = 0; b < n; b += MIXSTAGE__DET_BLOCK) {
      int m = n - b < MIXSTAGE__DET_BLOCK ? n - b : MIXSTAGE__DET_BLOCK;
      /* max over the channels of |x| (NaN never wins a > comparison) */
      if (d->hpf_on) {
        for (int k = 0; k < m; k++) a[k] = 0.0f;
        for (int c = 0; c < nch; c++) {
          const float *x = src[c] + i0 + b;
          for (int k = 0; k < m; k++) {
            float ax = (float)fabs(mixstage__biquad_tick(&d->hpf, &d->hs[c], (double)x[k]));
            if (ax > a[k]) a[k] = ax;
          }
        }
      } else {
        abs_max(src, nch, i0 + b, m, a);
      }
      peak_det_block(&d->peak[0], a, m, lvl + b);
    }
  } else {
    if (!d->hpf_on && nch == 2) {
      mixstage__rms_det_run_pair(&d->rms[0], &d->rms[1], src[0] + i0, src[1] + i0, n, lvl);
      return;
    }
    for (int k = 0; k < n; k++) lvl[k] = 0.0;
    for (int c = 0; c < nch; c++) {
      const float *x = src[c] + i0;
      mixstage__rms_det *r = &d->rms[c];
      for (int k = 0; k < n; k++) {
        double v = (double)x[k];
        if (d->hpf_on) v = mixstage__biquad_tick(&d->hpf, &d->hs[c], v);
        double p = mixstage__rms_det_run(r, v);
        if (p > lvl[k]) lvl[k] = p;
      }
    }
  }
}

/* The hold window over a[0 .. m-1] (channel maxima, never NaN, >= 0) as
 * peak_det_block computes it, writing the held amplitude squared in float.
 * Within a segment the held value is max(seg_max, running maximum): four
 * frames at a time the running maximum is a prefix maximum (two shifted
 * maxima; the zeros shifted in are neutral for values >= 0).  Maxima are
 * exact, so this is peak_det_block's result bit for bit. */
static void peak_hold_power(mixstage__peak_det *p, const float *a, int m, float *pw) {
  for (int i = 0; i < m;) {
    int run = p->seg_len - p->pos;
    if (run > m - i) run = m - i;
    float cur = p->cur;
    const float sm = p->seg_max;
    const int end = i + run;
#ifdef __SSE2__
    __m128 vc = _mm_set1_ps(cur);
    const __m128 vs = _mm_set1_ps(sm);
    for (; i + 4 <= end; i += 4) {
      __m128 v = _mm_loadu_ps(a + i);
      v = _mm_max_ps(v, _mm_castsi128_ps(_mm_slli_si128(_mm_castps_si128(v), 4)));
      v = _mm_max_ps(v, _mm_castsi128_ps(_mm_slli_si128(_mm_castps_si128(v), 8)));
      v = _mm_max_ps(v, vc);
      vc = _mm_shuffle_ps(v, v, 0xff);
      const __m128 h = _mm_max_ps(v, vs);
      _mm_storeu_ps(pw + i, _mm_mul_ps(h, h));
    }
    cur = _mm_cvtss_f32(vc);
#endif
    for (; i < end; i++) {
      if (a[i] > cur) cur = a[i];
      const float h = cur > sm ? cur : sm;
      pw[i] = h * h;
    }
    p->cur = cur;
    p->pos += run;
    peak_seg_end(p);
  }
}

#ifdef __SSE2__
/* abs_max of one or two channels (x1 NULL: mono) and peak_hold_power in
 * one pass, the same operations: the channel maximum of four frames goes
 * straight into the prefix maximum. */
static void peak_hold_power12(mixstage__peak_det *p, const float *x0, const float *x1, int m, float *pw) {
  const __m128 abs_mask = _mm_castsi128_ps(_mm_set1_epi32(0x7fffffff)), zero = _mm_setzero_ps();
  for (int i = 0; i < m;) {
    int run = p->seg_len - p->pos;
    if (run > m - i) run = m - i;
    const int end = i + run;
    __m128 vc = _mm_set1_ps(p->cur);
    const float sm = p->seg_max;
    const __m128 vs = _mm_set1_ps(sm);
    for (; i + 4 <= end; i += 4) {
      __m128 v = _mm_max_ps(_mm_and_ps(_mm_loadu_ps(x0 + i), abs_mask), zero);
      if (x1) v = _mm_max_ps(_mm_and_ps(_mm_loadu_ps(x1 + i), abs_mask), v);
      v = _mm_max_ps(v, _mm_castsi128_ps(_mm_slli_si128(_mm_castps_si128(v), 4)));
      v = _mm_max_ps(v, _mm_castsi128_ps(_mm_slli_si128(_mm_castps_si128(v), 8)));
      v = _mm_max_ps(v, vc);
      vc = _mm_shuffle_ps(v, v, 0xff);
      const __m128 h = _mm_max_ps(v, vs);
      _mm_storeu_ps(pw + i, _mm_mul_ps(h, h));
    }
    float cur = _mm_cvtss_f32(vc);
    for (; i < end; i++) {
      float ax = fabsf(x0[i]), a = ax > 0.0f ? ax : 0.0f;
      if (x1) {
        ax = fabsf(x1[i]);
        a = ax > a ? ax : a;
      }
      if (a > cur) cur = a;
      const float h = cur > sm ? cur : sm;
      pw[i] = h * h;
    }
    p->cur = cur;
    p->pos += run;
    peak_seg_end(p);
  }
}
#endif

/* pw[k] = (float)lvl[k] when above 0, else 0 (NaN too): levels as float
 * powers.  maxps(v, 0) is v > 0 ? v : 0 per lane, the scalar rule. */
static void power_floats(const double *lvl, float *pw, int m) {
  int k = 0;
#ifdef __SSE2__
  for (; k + 4 <= m; k += 4) {
    const __m128 lo = _mm_cvtpd_ps(_mm_loadu_pd(lvl + k)), hi = _mm_cvtpd_ps(_mm_loadu_pd(lvl + k + 2));
    _mm_storeu_ps(pw + k, _mm_max_ps(_mm_movelh_ps(lo, hi), _mm_setzero_ps()));
  }
#endif
  for (; k < m; k++) {
    const float v = (float)lvl[k];
    pw[k] = v > 0.0f ? v : 0.0f;
  }
}

/* mixstage__dyn_detector_run_linked with float powers.  The peak detector
 * on the raw input runs here directly (the channel maximum, then the hold
 * window squaring the held float amplitude in float: the correctly rounded
 * product, as (float) of the exact double product). */
void mixstage__dyn_detector_run_linked_f(mixstage__dyn_detector *d, const float *const *src, int nch, int i0, int n,
                                         float *pw) {
  if (nch == 2 && d->mode == MIXSTAGE__DET_RMS && !d->hpf_on) {
    /* run_linked's stereo RMS, rounded to float as below (the float of a
     * maximum >= 0 is >= 0, so the rounding is the whole of it) */
    if (!d->linked) mixstage__dyn_detector_to_linked(d, nch);
#ifdef __SSE2__
    /* the pair's levels go to float in its loop, power_floats' operations */
#if defined(__x86_64__) || defined(__i386__)
    if (mixstage__cpu_avx()) {
      rms_pair_avx_f(&d->rms[0], &d->rms[1], src[0] + i0, src[1] + i0, n, pw);
      return;
    }
#endif
    rms_pair_sse2_f(&d->rms[0], &d->rms[1], src[0] + i0, src[1] + i0, n, pw);
#else
    double lvl[MIXSTAGE__DET_BLOCK];
    for (int b = 0; b < n; b += MIXSTAGE__DET_BLOCK) {
      const int m = n - b < MIXSTAGE__DET_BLOCK ? n - b : MIXSTAGE__DET_BLOCK;
      mixstage__rms_det_run_pair(&d->rms[0], &d->rms[1], src[0] + i0 + b, src[1] + i0 + b, m, lvl);
      power_floats(lvl, pw + b, m);
    }
#endif
    return;
  }
  if (nch > 0 && d->mode == MIXSTAGE__DET_PEAK && !d->hpf_on) {
    if (!d->linked) mixstage__dyn_detector_to_linked(d, nch);
    mixstage__peak_det *p = &d->peak[0];
#ifdef __SSE2__
    if (nch <= 2) {
      peak_hold_power12(p, src[0] + i0, nch > 1 ? src[1] + i0 : NULL, n, pw);
      return;
    }
#endif
    float a[MIXSTAGE__DET_BLOCK];
    for (int b = 0; b < n; b += MIXSTAGE__DET_BLOCK) {
      const int m = n - b < MIXSTAGE__DET_BLOCK ? n - b : MIXSTAGE__DET_BLOCK;
      abs_max(src, nch, i0 + b, m, a);
      peak_hold_power(p, a, m, pw + b);
    }
    return;
  }
  double lvl[MIXSTAGE__DET_BLOCK];
  for (int b = 0; b < n; b += MIXSTAGE__DET_BLOCK) {
    const int m = n - b < MIXSTAGE__DET_BLOCK ? n - b : MIXSTAGE__DET_BLOCK;
    mixstage__dyn_detector_run_linked(d, src, nch, i0 + b, m, lvl);
    power_floats(lvl, pw + b, m); /* NaN (a non-finite key through the high-pass) as silence */
  }
}

/* ---- the channel compressor's float kernel (see dynamics.h) ----------------------- */

void mixstage__comp_curve_f_set(mixstage__comp_curve_f *c, double thr_db, double ratio, double knee_db) {
  if (!(ratio >= 1.0)) ratio = 1.0;
  if (!(knee_db >= 0.0)) knee_db = 0.0;
  if (knee_db > 100.0) knee_db = 100.0; /* these two keep silence below the curve (cf_target1) */
  if (!(thr_db >= -300.0)) thr_db = -300.0;
  c->thr = (float)thr_db;
  c->slope = (float)(1.0 - 1.0 / ratio);
  c->knee = (float)knee_db;
  c->neg_knee = -c->knee;
  c->half_knee = 0.5f * c->knee;
  c->inv_2knee = c->knee > 0.0f ? (float)(1.0 / (2.0 * (double)c->knee)) : 0.0f;
  /* The curve is 0 for 2 (dB - thr) <= -W, i.e. dB <= thr - W/2.  1e-3 dB
   * below that edge, far beyond the float level's error (< 2e-5 dB) and the
   * rounding of dB - thr, no power can reach the knee: a cell whose powers
   * all lie below p_zero gives exactly the zeros the curve would. */
  c->p_zero = (float)pow(10.0, ((double)c->thr - 0.5 * (double)c->knee - 1e-3) * 0.1);
}

/* log2 series coefficients (2/ln 2)/(2j + 1), j = 3 .. 0, in s^2 (|s| <=
 * 0.1716: the first omitted term, (2/ln 2) s^9 / 9, is below 4.2e-8). */
#define CF_L7 0.41219858311113240f
#define CF_L5 0.57707801635558530f
#define CF_L3 0.96179669392597560f
#define CF_L1 2.88539008177792680f
/* 2^f by fastmath.h's degree-7 Taylor series (|f| <= 1/2: remainder
 * (ln 2 / 2)^8 / 8! < 5e-9 relative), the one the waveshapers use. */
#define CF_E7 MIXSTAGE_EXP2_C7
#define CF_E6 MIXSTAGE_EXP2_C6
#define CF_E5 MIXSTAGE_EXP2_C5
#define CF_E4 MIXSTAGE_EXP2_C4
#define CF_E3 MIXSTAGE_EXP2_C3
#define CF_E2 MIXSTAGE_EXP2_C2
#define CF_E1 MIXSTAGE_EXP2_C1
#define CF_MAGIC MIXSTAGE_ROUND_MAGIC
#define CF_DB_POW 3.0102999566398120f /* 10 log10(2) */
#define CF_GAIN_LOG2 -0.16609640474436813f /* -log2(10) / 20 */

/* Scalar forms: the operations of the vector bodies below, in their order. */
static inline float cf_log2(float p) {
  uint32_t u;
  memcpy(&u, &p, sizeof u);
  float e = (float)((int32_t)(u >> 23) - 127);
  uint32_t mb = (u & 0x007fffffu) | 0x3f800000u;
  float m;
  memcpy(&m, &mb, sizeof m);
  if (m > 1.41421356f) {
    m = m * 0.5f;
    e = e + 1.0f;
  }
  const float s = (m - 1.0f) / (m + 1.0f), s2 = s * s;
  float q = CF_L7;
  q = q * s2 + CF_L5;
  q = q * s2 + CF_L3;
  q = q * s2 + CF_L1;
  return e + s * q;
}

float mixstage__comp_power_db_f(float p) {
  return p > 0.0f ? CF_DB_POW * cf_log2(p) : -600.0f;
}

/* Powers are >= 0 or +inf, never NaN (mixstage__dyn_detector_run_linked_f).
 * No floor is needed: 0 and subnormal powers read as -382 dB or so (+inf as
 * +385 dB: exponent 128, mantissa 1), and with the threshold >= -300 dB and
 * the knee <= 100 dB (mixstage__comp_curve_f_set clamps them) such a level
 * is far below the knee. */
static inline float cf_target1(const mixstage__comp_curve_f *c, float p) {
  const float db = CF_DB_POW * cf_log2(p);
  const float over = db - c->thr, two = over + over, t = over + c->half_knee;
  const float r = two < c->knee ? c->slope * t * t * c->inv_2knee : c->slope * over;
  return two > c->neg_knee ? r : 0.0f;
}

/* 2^x, x = -gr log2(10)/20.  No clamp: a target is at most the level of
 * FLT_MAX (385 dB) above a threshold >= -60 dB (the node clamps it) times
 * a slope < 1, so x > -75 and 2^x stays a normal float.  At gr = 0, x = 0,
 * f = 0, the polynomial is exactly 1 and the scale 2^0: the gain is
 * exactly 1 with no special case. */
static inline float cf_gain1(float gr, float dry, float wet) {
  return dry + wet * mixstage__exp2f_small(gr * CF_GAIN_LOG2);
}

/* ---- the kernel's stages ------------------------------------------------------------
 * Levels (the peak hold window on whole vectors where it can, else
 * mixstage__dyn_detector_run_linked_f), targets, ballistics, gain rows
 * applied to the channels; see dynamics.h.  A lane group works in
 * sub-blocks of MIXSTAGE__COMP_SUB frames, stage by stage over its lanes. */

/* The hold window's segment just filled (its maximum cur_end) enters the
 * window: mixstage__peak_det_run's segment end. */
static inline void cf_seg_close(mixstage__peak_det *p, float cur_end) {
  p->seg[p->idx] = cur_end;
  if (++p->idx >= MIXSTAGE__PEAK_SEGS - 1) p->idx = 0;
#if defined(__SSE2__) && MIXSTAGE__PEAK_SEGS == 8
  /* the maximum of seg[0 .. 6] (and 0) as two overlapping fours: a
   * maximum of values >= 0 in any order is the same value */
  __m128 m4 = _mm_max_ps(_mm_loadu_ps(p->seg), _mm_loadu_ps(p->seg + 3));
  m4 = _mm_max_ps(m4, _mm_shuffle_ps(m4, m4, 0x4e));
  m4 = _mm_max_ps(m4, _mm_shuffle_ps(m4, m4, 0xb1));
  const float m = _mm_cvtss_f32(_mm_max_ss(m4, _mm_setzero_ps()));
#else
  float m = 0.0f;
  for (int k = 0; k < MIXSTAGE__PEAK_SEGS - 1; k++) m = p->seg[k] > m ? p->seg[k] : m;
#endif
  p->seg_max = m;
  p->cur = 0.0f;
  p->pos = 0;
}

/* One frame of the linked peak level, as a float power: abs_max's channel
 * rule (NaN never wins), then mixstage__peak_det_run. */
static inline float cf_peak_frame(mixstage__peak_det *p, const float *const *src, int nch, int i) {
  float a = fabsf(src[0][i]);
  a = a > 0.0f ? a : 0.0f;
  for (int c = 1; c < nch; c++) {
    const float ax = fabsf(src[c][i]);
    a = ax > a ? ax : a;
  }
  if (a > p->cur) p->cur = a;
  const float h = p->cur > p->seg_max ? p->cur : p->seg_max;
  if (++p->pos >= p->seg_len) cf_seg_close(p, p->cur);
  return h * h;
}

/* What the level stage knows of its vectors of eight levels: flat[v] is
 * nonzero when levels 8v .. 8v+7 are equal (a hold window's level mostly
 * is: it moves only on a new maximum or at a segment end), so their target
 * is worked out once. */
typedef struct cf_vecs {
  uint8_t flat[MIXSTAGE__COMP_SUB / MIXSTAGE__COMP_VEC];
} cf_vecs;

#if defined(__GNUC__) || defined(__clang__)
#define CF_VECTOR 1
/* 32-byte vectors live only inside the inlined bodies below (never passed
 * between functions), so the baseline build's ABI note does not apply. */
#pragma GCC diagnostic ignored "-Wpsabi"
typedef float cf_v8 __attribute__((vector_size(32)));
typedef int32_t cf_i8 __attribute__((vector_size(32)));
typedef uint32_t cf_u8 __attribute__((vector_size(32)));
#define CF_SET1(x) ((cf_v8){(x), (x), (x), (x), (x), (x), (x), (x)})
#define CF_SEL(m, a, b) ((cf_v8)(((cf_i8)(m) & (cf_i8)(a)) | (~(cf_i8)(m) & (cf_i8)(b))))
#define CF_INLINE static inline __attribute__((always_inline))

CF_INLINE cf_v8 cf_load(const float *p) {
  cf_v8 v;
  memcpy(&v, p, sizeof v);
  return v;
}

CF_INLINE void cf_store(float *p, cf_v8 v) { memcpy(p, &v, sizeof v); }

/* cf_target1 on eight frames (selects for the branches).  Without vs
 * (nothing known of the levels), a cell whose levels all lie below p_zero
 * gets the curve's zeros without it, and the result is 1 when the curve
 * ran; with vs, the curve runs once for a flat vector (cf_target1: the same
 * operations, so the same bits), and the result is 1 when a target is not
 * 0.  Either way 0 means every target is 0. */
CF_INLINE int cf_target_body(const mixstage__comp_curve_f *c, const float *pw, float *tg, int n, int np,
                             const cf_vecs *vs) {
  if (!vs) {
    /* the skip: every power of the cell below p_zero (NaN counts as 0) */
    cf_v8 mx = CF_SET1(0.0f);
    int i = 0;
    for (; i + MIXSTAGE__COMP_VEC <= n; i += MIXSTAGE__COMP_VEC) {
      const cf_v8 p = cf_load(pw + i);
      mx = CF_SEL(p > mx, p, mx);
    }
    float m = 0.0f;
    for (int k = 0; k < MIXSTAGE__COMP_VEC; k++) m = mx[k] > m ? mx[k] : m;
    for (; i < n; i++) m = pw[i] > m ? pw[i] : m;
    if (!(m >= c->p_zero)) {
      memset(tg, 0, sizeof(float) * (size_t)np);
      return 0;
    }
  }
  const cf_v8 thr = CF_SET1(c->thr), slope = CF_SET1(c->slope), knee = CF_SET1(c->knee);
  const cf_v8 nknee = CF_SET1(c->neg_knee), hknee = CF_SET1(c->half_knee), ik = CF_SET1(c->inv_2knee);
  const cf_v8 zero = CF_SET1(0.0f), one = CF_SET1(1.0f);
  float flat_p = -1.0f, flat_t = 0.0f; /* the last flat vector's level (never negative) and target */
  cf_i8 any = {0};
  for (int i = 0; i < np; i += MIXSTAGE__COMP_VEC) {
    if (vs && vs->flat[i / MIXSTAGE__COMP_VEC]) {
      if (pw[i] != flat_p) {
        flat_p = pw[i];
        flat_t = cf_target1(c, flat_p);
      }
      const cf_v8 t = CF_SET1(flat_t);
      any |= (cf_i8)t;
      cf_store(tg + i, t);
      continue;
    }
    const cf_u8 u = (cf_u8)cf_load(pw + i);
    cf_v8 e = __builtin_convertvector((cf_i8)(u >> 23) - 127, cf_v8);
    cf_v8 m = (cf_v8)((u & 0x007fffffu) | 0x3f800000u);
    const cf_i8 hi = m > CF_SET1(1.41421356f);
    m = CF_SEL(hi, m * 0.5f, m);
    e = CF_SEL(hi, e + one, e);
    const cf_v8 s = (m - one) / (m + one), s2 = s * s;
    cf_v8 q = CF_SET1(CF_L7);
    q = q * s2 + CF_L5;
    q = q * s2 + CF_L3;
    q = q * s2 + CF_L1;
    const cf_v8 db = CF_DB_POW * (e + s * q);
    const cf_v8 over = db - thr, two = over + over, t = over + hknee;
    const cf_v8 r = CF_SEL(two > nknee, CF_SEL(two < knee, slope * t * t * ik, slope * over), zero);
    any |= (cf_i8)r;
    cf_store(tg + i, r);
  }
  if (!vs) return 1;
  int nz = 0;
  for (int k = 0; k < MIXSTAGE__COMP_VEC; k++) nz |= any[k];
  return nz != 0;
}

/* cf_gain1 on eight frames: vd + vw 10^(-gr/20). */
CF_INLINE cf_v8 cf_gain_vec(cf_v8 gr, cf_v8 vd, cf_v8 vw) {
  const cf_v8 x = gr * CF_GAIN_LOG2;
  const cf_v8 rm = x + CF_MAGIC, f = x - (rm - CF_MAGIC);
  cf_v8 q = CF_SET1(CF_E7);
  q = q * f + CF_E6;
  q = q * f + CF_E5;
  q = q * f + CF_E4;
  q = q * f + CF_E3;
  q = q * f + CF_E2;
  q = q * f + CF_E1;
  q = q * f + 1.0f;
  const cf_u8 sb = ((cf_u8)rm - 0x4B400000u + 127u) << 23;
  return vd + vw * (q * (cf_v8)sb);
}

CF_INLINE void cf_gain_body(const float *gr, float *row, int n, float dry, float wet) {
  const cf_v8 vd = CF_SET1(dry), vw = CF_SET1(wet);
  for (int i = 0; i < n; i += MIXSTAGE__COMP_VEC) cf_store(row + i, cf_gain_vec(cf_load(gr + i), vd, vw));
}

/* Frames 0 .. m-1 of a sub-block starting at frame b0 of the call: the
 * row d + w g (g = 1 where gr is NULL: the GR stayed 0; d, w the lane's
 * dry and wet or, inside its ramp, the ramps' values), then each out
 * channel times the row.  row holds MIXSTAGE__COMP_PAD(m) floats. */
CF_INLINE void cf_row_body(const mixstage__comp_lane *L, int b0, int m, const float *gr, float *row) {
  enum { SP = MIXSTAGE__COMP_SUB };
  const int np = MIXSTAGE__COMP_PAD(m), ramp = L->ramp_n - b0;
  float dbuf[SP], wbuf[SP];
  if (ramp > 0)
    for (int i = 0; i < np; i++) {
      dbuf[i] = i < ramp ? L->dry_ramp[b0 + i] : L->dry;
      wbuf[i] = i < ramp ? L->wet_ramp[b0 + i] : L->wet;
    }
  const cf_v8 vd = CF_SET1(L->dry), vw = CF_SET1(L->wet), one = CF_SET1(1.0f);
  float *const *out = L->out;
  const int nout = L->out_nch;
  float *const o0 = nout > 0 ? out[0] + b0 : NULL, *const o1 = nout > 1 ? out[1] + b0 : NULL;
  for (int i = 0; i < np; i += MIXSTAGE__COMP_VEC) {
    cf_v8 d = vd, w = vw;
    if (i < ramp) {
      d = cf_load(dbuf + i);
      w = cf_load(wbuf + i);
    }
    const cf_v8 g = gr ? cf_gain_vec(cf_load(gr + i), d, w) : d + w * one;
    cf_store(row + i, g);
    if (i + MIXSTAGE__COMP_VEC <= m) {
      if (nout == 2) { /* stereo, the usual case, without the loop */
        cf_store(o0 + i, cf_load(o0 + i) * g);
        cf_store(o1 + i, cf_load(o1 + i) * g);
      } else {
        for (int c = 0; c < nout; c++) cf_store(out[c] + b0 + i, cf_load(out[c] + b0 + i) * g);
      }
    } else {
      for (int c = 0; c < nout; c++)
        for (int k = i; k < m; k++) out[c][b0 + k] *= row[k];
    }
  }
}
#else
#define CF_VECTOR 0
#endif

#if (defined(__x86_64__) || defined(__i386__)) && CF_VECTOR
#define CF_X86 1
#include <immintrin.h>
#define CF_AVX2 __attribute__((target("avx2")))

/* lanes 0 .. b-1 set: 8 floats from cf_lt_mask + 8 - b */
static const int32_t cf_lt_mask[16] = {-1, -1, -1, -1, -1, -1, -1, -1, 0, 0, 0, 0, 0, 0, 0, 0};

/* The linked peak level of frames i0 .. i0+n-1 (n <= 512) as float powers
 * pw[0 .. n-1] (zeros up to MIXSTAGE__COMP_PAD(n)), on whole vectors of
 * four frames (SSE2) or eight (AVX2).  Within a segment of the hold window
 * the held value is max(seg_max, running maximum), the running maximum a
 * prefix maximum (shifted maxima: the zeros shifted in are neutral, every
 * value being >= 0).  A segment that ends inside a vector (at most once:
 * the caller sees to seg_len >= the width) splits it by a mask: its frames
 * before the end, then the new segment's from zero.  Maxima are exact, so
 * these are mixstage__dyn_detector_run_linked_f's levels bit for bit.
 * Returns the vectors of eight frames that hold a power >= pz. */

/* prefix maximum of four values >= 0 */
static inline __m128 cf_pmax4(__m128 v) {
  v = _mm_max_ps(v, _mm_castsi128_ps(_mm_slli_si128(_mm_castps_si128(v), 4)));
  return _mm_max_ps(v, _mm_castsi128_ps(_mm_slli_si128(_mm_castps_si128(v), 8)));
}

CF_INLINE void cf_peak4_body(mixstage__peak_det *p, const float *const *src, const int nch, int i0, int n,
                             float *pw, cf_vecs *out) {
  const __m128 mag = _mm_castsi128_ps(_mm_set1_epi32(0x7fffffff)), zero = _mm_setzero_ps();
  __m128 vc = _mm_set1_ps(p->cur), vs = _mm_set1_ps(p->seg_max); /* running max, window max */
  __m128 first = zero; /* the first level of the vector of eight, four times */
  const int len = p->seg_len;
  int pos = p->pos, i = 0, half_flat = 0;
  memset(out->flat, 0, sizeof out->flat);
  for (; i + 4 <= n; i += 4) {
    __m128 a = _mm_max_ps(_mm_and_ps(_mm_loadu_ps(src[0] + i0 + i), mag), zero);
    for (int c = 1; c < nch; c++) a = _mm_max_ps(_mm_and_ps(_mm_loadu_ps(src[c] + i0 + i), mag), a);
    const int rem = len - pos;
    __m128 h;
    if (rem >= 4) {
      const __m128 pm = _mm_max_ps(cf_pmax4(a), vc);
      h = _mm_max_ps(pm, vs);
      vc = _mm_shuffle_ps(pm, pm, 0xff);
      if ((pos += 4) == len) {
        cf_seg_close(p, _mm_cvtss_f32(vc));
        vc = zero;
        vs = _mm_set1_ps(p->seg_max);
        pos = 0;
      }
    } else {
      const __m128 mo = _mm_loadu_ps((const float *)(cf_lt_mask + 8 - rem));
      const __m128 po = _mm_max_ps(cf_pmax4(_mm_and_ps(a, mo)), vc), ho = _mm_max_ps(po, vs);
      cf_seg_close(p, _mm_cvtss_f32(_mm_shuffle_ps(po, po, 0xff)));
      vs = _mm_set1_ps(p->seg_max);
      const __m128 pn = cf_pmax4(_mm_andnot_ps(mo, a)), hn = _mm_max_ps(pn, vs);
      vc = _mm_shuffle_ps(pn, pn, 0xff);
      pos = 4 - rem;
      h = _mm_or_ps(_mm_and_ps(mo, ho), _mm_andnot_ps(mo, hn));
    }
    const __m128 pv = _mm_mul_ps(h, h);
    _mm_storeu_ps(pw + i, pv);
    if (!(i & 4)) {
      first = _mm_shuffle_ps(pv, pv, 0);
      half_flat = _mm_movemask_ps(_mm_cmpeq_ps(pv, first)) == 15;
    } else {
      out->flat[i >> 3] = (uint8_t)(half_flat & (_mm_movemask_ps(_mm_cmpeq_ps(pv, first)) == 15));
    }
  }
  p->cur = _mm_cvtss_f32(vc);
  p->pos = pos;
  for (; i < n; i++) pw[i] = cf_peak_frame(p, src, nch, i0 + i);
  for (; i < MIXSTAGE__COMP_PAD(n); i++) pw[i] = 0.0f;
}

static void cf_peak4(mixstage__peak_det *p, const float *const *src, int nch, int i0, int n, float *pw,
                     cf_vecs *out) {
  /* the usual channel counts with their loop unrolled */
  if (nch == 2) cf_peak4_body(p, src, 2, i0, n, pw, out);
  else if (nch == 1) cf_peak4_body(p, src, 1, i0, n, pw, out);
  else cf_peak4_body(p, src, nch, i0, n, pw, out);
}

/* prefix maximum of eight values >= 0: within each half, then the low
 * half's last value into the high half */
CF_AVX2 static inline __attribute__((always_inline)) __m256 cf_pmax8(__m256 v) {
  v = _mm256_max_ps(v, _mm256_castsi256_ps(_mm256_slli_si256(_mm256_castps_si256(v), 4)));
  v = _mm256_max_ps(v, _mm256_castsi256_ps(_mm256_slli_si256(_mm256_castps_si256(v), 8)));
  const __m256 lo = _mm256_permute2f128_ps(v, v, 0x08); /* (0, low half) */
  return _mm256_max_ps(v, _mm256_shuffle_ps(lo, lo, 0xff));
}

CF_AVX2 static inline __attribute__((always_inline)) void
cf_peak8_body(mixstage__peak_det *p, const float *const *src, const int nch, int i0, int n, float *pw,
              cf_vecs *out) {
  const __m256 mag = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff)), zero = _mm256_setzero_ps();
  const __m256i last = _mm256_set1_epi32(7);
  __m256 vc = _mm256_set1_ps(p->cur), vs = _mm256_set1_ps(p->seg_max);
  const int len = p->seg_len;
  int pos = p->pos, i = 0;
  memset(out->flat, 0, sizeof out->flat);
  for (; i + 8 <= n; i += 8) {
    __m256 a = _mm256_max_ps(_mm256_and_ps(_mm256_loadu_ps(src[0] + i0 + i), mag), zero);
    for (int c = 1; c < nch; c++) a = _mm256_max_ps(_mm256_and_ps(_mm256_loadu_ps(src[c] + i0 + i), mag), a);
    const int rem = len - pos;
    __m256 h;
    if (rem >= 8) {
      const __m256 pm = _mm256_max_ps(cf_pmax8(a), vc);
      h = _mm256_max_ps(pm, vs);
      vc = _mm256_permutevar8x32_ps(pm, last);
      if ((pos += 8) == len) {
        cf_seg_close(p, _mm256_cvtss_f32(vc));
        vc = zero;
        vs = _mm256_set1_ps(p->seg_max);
        pos = 0;
      }
    } else {
      const __m256 mo = _mm256_loadu_ps((const float *)(cf_lt_mask + 8 - rem));
      const __m256 po = _mm256_max_ps(cf_pmax8(_mm256_and_ps(a, mo)), vc), ho = _mm256_max_ps(po, vs);
      cf_seg_close(p, _mm256_cvtss_f32(_mm256_permutevar8x32_ps(po, last)));
      vs = _mm256_set1_ps(p->seg_max);
      const __m256 pn = cf_pmax8(_mm256_andnot_ps(mo, a)), hn = _mm256_max_ps(pn, vs);
      vc = _mm256_permutevar8x32_ps(pn, last);
      pos = 8 - rem;
      h = _mm256_blendv_ps(hn, ho, mo);
    }
    const __m256 pv = _mm256_mul_ps(h, h);
    _mm256_storeu_ps(pw + i, pv);
    const __m256 first = _mm256_broadcastss_ps(_mm256_castps256_ps128(pv));
    out->flat[i >> 3] = (uint8_t)(_mm256_movemask_ps(_mm256_cmp_ps(pv, first, _CMP_EQ_OQ)) == 0xff);
  }
  p->cur = _mm256_cvtss_f32(vc);
  p->pos = pos;
  for (; i < n; i++) pw[i] = cf_peak_frame(p, src, nch, i0 + i);
  for (; i < MIXSTAGE__COMP_PAD(n); i++) pw[i] = 0.0f;
}

CF_AVX2 static void cf_peak8(mixstage__peak_det *p, const float *const *src, int nch, int i0, int n, float *pw,
                             cf_vecs *out) {
  if (nch == 2) cf_peak8_body(p, src, 2, i0, n, pw, out);
  else if (nch == 1) cf_peak8_body(p, src, 1, i0, n, pw, out);
  else cf_peak8_body(p, src, nch, i0, n, pw, out);
}
#else
#define CF_X86 0
#endif

/* Which form runs: 2 AVX2, 1 the baseline
 * vectors, 0 plain scalar.  All give the same bits; tests force each. */
static int cf_forced = -1;

static int cf_form(void) {
  if (cf_forced >= 0) return cf_forced;
#if CF_X86
  if (mixstage__cpu_avx2_fma()) return 2;
#endif
  return CF_VECTOR;
}

int mixstage__comp_kernel_form(int form) {
  const int was = cf_form();
  int best = CF_VECTOR;
#if CF_X86
  if (mixstage__cpu_avx2_fma()) best = 2;
#endif
  cf_forced = form < 0 ? -1 : form > best ? best : form;
  return was;
}

/* One compressor's ballistics: mixstage__comp_ballistics_run per frame. */
static void cf_ballistics1(mixstage__comp_ballistics *b, const float *tg, float *gr, int n) {
  double y = b->fast.y, s = b->slow.y;
  const double up = b->fast.b_up, down = b->fast.b_down, sup = b->slow.b_up, sdown = b->slow.b_down;
  const int au = b->auto_release;
  for (int i = 0; i < n; i++) {
    const double t = (double)tg[i];
    double d = t - y, v = y + (d > 0.0 ? up : down) * d;
    y = v < 1e-12 ? 0.0 : v;
    double out = y;
    if (au) {
      d = t - s;
      v = s + (d > 0.0 ? sup : sdown) * d;
      s = v < 1e-12 ? 0.0 : v;
      out = y > s ? y : s;
    }
    gr[i] = (float)out;
  }
  b->fast.y = y;
  b->slow.y = s;
}

#if CF_X86
/* m ? a : b per lane, as bit operations (GCC splits a blendv of vectors it
 * built from scalars into per-lane branches). */
CF_AVX2 static inline __attribute__((always_inline)) __m256d cf_sel4(__m256d m, __m256d a, __m256d b) {
  return _mm256_or_pd(_mm256_and_pd(m, a), _mm256_andnot_pd(m, b));
}

/* One frame of four compressors: cf_ballistics1's operations per lane.
 * Without auto release the attack/release choice d > 0 ? up : down is a
 * blend on the sign of d: they differ only at d = +0, where either
 * coefficient times d gives +0. */
CF_AVX2 static inline __attribute__((always_inline)) __m128
cf_step4(__m128 t4, __m256d *y, __m256d *s, __m256d up, __m256d down, __m256d sup, __m256d sdown, __m256d au,
         const int autorel) {
  const __m256d zero = _mm256_setzero_pd(), flush = _mm256_set1_pd(1e-12);
  const __m256d t = _mm256_cvtps_pd(t4);
  __m256d d = _mm256_sub_pd(t, *y);
  if (!autorel) {
    const __m256d v = _mm256_add_pd(*y, _mm256_mul_pd(_mm256_blendv_pd(up, down, d), d));
    *y = _mm256_andnot_pd(_mm256_cmp_pd(v, flush, _CMP_LT_OQ), v);
    return _mm256_cvtpd_ps(*y);
  }
  __m256d v = _mm256_add_pd(*y, _mm256_mul_pd(cf_sel4(_mm256_cmp_pd(d, zero, _CMP_GT_OQ), up, down), d));
  *y = _mm256_andnot_pd(_mm256_cmp_pd(v, flush, _CMP_LT_OQ), v);
  __m256d out = *y;
  d = _mm256_sub_pd(t, *s);
  v = _mm256_add_pd(*s, _mm256_mul_pd(cf_sel4(_mm256_cmp_pd(d, zero, _CMP_GT_OQ), sup, sdown), d));
  v = _mm256_andnot_pd(_mm256_cmp_pd(v, flush, _CMP_LT_OQ), v);
  *s = cf_sel4(au, v, *s);
  out = cf_sel4(au, _mm256_max_pd(out, *s), out); /* y > s ? y : s */
  return _mm256_cvtpd_ps(out);
}

/* Four compressors in one vector of doubles (AVX2), four frames per pass:
 * targets in and GR out go through 4x4 transposes (rows are padded). */
CF_AVX2 static inline __attribute__((always_inline)) void
cf_quad_run(const float *const *tp, float *const *gp, __m256d *y, __m256d *s, __m256d up, __m256d down, __m256d sup,
            __m256d sdown, __m256d au, int n, const int autorel) {
  for (int i = 0; i < n; i += 4) {
    __m128 r0 = _mm_loadu_ps(tp[0] + i), r1 = _mm_loadu_ps(tp[1] + i), r2 = _mm_loadu_ps(tp[2] + i),
           r3 = _mm_loadu_ps(tp[3] + i);
    _MM_TRANSPOSE4_PS(r0, r1, r2, r3);
    if (i + 4 <= n) {
      r0 = cf_step4(r0, y, s, up, down, sup, sdown, au, autorel);
      r1 = cf_step4(r1, y, s, up, down, sup, sdown, au, autorel);
      r2 = cf_step4(r2, y, s, up, down, sup, sdown, au, autorel);
      r3 = cf_step4(r3, y, s, up, down, sup, sdown, au, autorel);
    } else { /* the last 1 .. 3 frames */
      const int m = n - i;
      r0 = cf_step4(r0, y, s, up, down, sup, sdown, au, autorel);
      r1 = m > 1 ? cf_step4(r1, y, s, up, down, sup, sdown, au, autorel) : _mm_setzero_ps();
      r2 = m > 2 ? cf_step4(r2, y, s, up, down, sup, sdown, au, autorel) : _mm_setzero_ps();
      r3 = _mm_setzero_ps();
    }
    _MM_TRANSPOSE4_PS(r0, r1, r2, r3);
    _mm_storeu_ps(gp[0] + i, r0);
    _mm_storeu_ps(gp[1] + i, r1);
    _mm_storeu_ps(gp[2] + i, r2);
    _mm_storeu_ps(gp[3] + i, r3);
  }
}

/* cf_ballistics1 without auto release, VEX-encoded, four frames per pass:
 * the attack/release choice a blend on the sign of d, as in cf_step4. */
CF_AVX2 static void cf_ballistics1_avx2(mixstage__comp_ballistics *b, const float *tg, float *gr, int n) {
  const __m128d up = _mm_set_sd(b->fast.b_up), down = _mm_set_sd(b->fast.b_down), flush = _mm_set_sd(1e-12);
  __m128d y = _mm_set_sd(b->fast.y);
#define CF_SMOOTH1(i)                                                                              \
  do {                                                                                             \
    const __m128d d = _mm_sub_sd(_mm_cvtss_sd(_mm_setzero_pd(), _mm_load_ss(tg + (i))), y);        \
    const __m128d v = _mm_add_sd(y, _mm_mul_sd(_mm_blendv_pd(up, down, d), d));                   \
    y = _mm_andnot_pd(_mm_cmplt_sd(v, flush), v);                                                 \
    _mm_store_ss(gr + (i), _mm_cvtsd_ss(_mm_setzero_ps(), y));                                    \
  } while (0)
  int i = 0;
  for (; i + 4 <= n; i += 4) {
    CF_SMOOTH1(i);
    CF_SMOOTH1(i + 1);
    CF_SMOOTH1(i + 2);
    CF_SMOOTH1(i + 3);
  }
  for (; i < n; i++) CF_SMOOTH1(i);
#undef CF_SMOOTH1
  b->fast.y = _mm_cvtsd_f64(y);
}

/* Lanes w .. 3 are padding (a copy of lane 0, results dropped); n <=
 * MIXSTAGE__COMP_SUB. */
CF_AVX2 static void cf_ballistics4(mixstage__comp_ballistics *const *b, int w, const float *const *tg,
                                  float *const *gr, int n) {
  double yv[4], sv[4], upv[4], dnv[4], supv[4], sdnv[4], auv[4];
  const float *tp[4];
  float *gp[4], spare[4][MIXSTAGE__COMP_SUB + MIXSTAGE__COMP_VEC];
  int anyauto = 0;
  for (int j = 0; j < 4; j++) {
    const mixstage__comp_ballistics *bj = b[j < w ? j : 0];
    yv[j] = bj->fast.y;
    sv[j] = bj->slow.y;
    upv[j] = bj->fast.b_up;
    dnv[j] = bj->fast.b_down;
    supv[j] = bj->slow.b_up;
    sdnv[j] = bj->slow.b_down;
    const int64_t m = bj->auto_release ? -1 : 0;
    memcpy(&auv[j], &m, sizeof m);
    anyauto |= bj->auto_release;
    tp[j] = tg[j < w ? j : 0];
    gp[j] = j < w ? gr[j] : spare[j];
  }
  __m256d y = _mm256_loadu_pd(yv), s = _mm256_loadu_pd(sv);
  const __m256d up = _mm256_loadu_pd(upv), down = _mm256_loadu_pd(dnv);
  const __m256d sup = _mm256_loadu_pd(supv), sdown = _mm256_loadu_pd(sdnv), au = _mm256_loadu_pd(auv);
  if (anyauto) cf_quad_run(tp, gp, &y, &s, up, down, sup, sdown, au, n, 1);
  else cf_quad_run(tp, gp, &y, &s, up, down, sup, sdown, au, n, 0);
  _mm256_storeu_pd(yv, y);
  _mm256_storeu_pd(sv, s);
  for (int j = 0; j < w; j++) {
    b[j]->fast.y = yv[j];
    b[j]->slow.y = sv[j];
  }
}
#endif

/* Whether a compressor's GR can be nonzero in a cell: its state is not at
 * rest or its targets are not all 0.  (At rest with zero targets every
 * step is y + b 0 = 0: the GR row would be all zeros.) */
static int cf_live(const mixstage__comp_ballistics *b, int targets) {
  return targets || b->fast.y != 0.0 || (b->auto_release && b->slow.y != 0.0);
}

/* n <= MIXSTAGE__COMP_SUB */
static unsigned cf_ballistics_run(mixstage__comp_ballistics *const *b, int count, const float *const *tg,
                                  float *const *gr, int n, unsigned targets, int form) {
  unsigned live = 0;
  for (int l = 0; l < count; l++) live |= (unsigned)cf_live(b[l], (targets >> l) & 1u) << l;
  if (!live) return 0;
  int l = 0;
#if CF_X86
  if (count > 1 && form == 2)
    for (; l < count; l += 4)
      if ((live >> l) & 15u) cf_ballistics4(b + l, count - l < 4 ? count - l : 4, tg + l, gr + l, n);
#else
  (void)form;
#endif
  for (; l < count; l++) {
    if (!((live >> l) & 1u)) continue;
#if CF_X86
    if (form == 2 && !b[l]->auto_release) {
      cf_ballistics1_avx2(b[l], tg[l], gr[l], n);
      continue;
    }
#endif
    cf_ballistics1(b[l], tg[l], gr[l], n);
  }
  return live;
}

unsigned mixstage__comp_ballistics_lanes(mixstage__comp_ballistics *const *b, int count, const float *const *tg,
                                         float *const *gr, int n, unsigned targets) {
  const int form = cf_form();
  unsigned live = 0;
  for (int b0 = 0; b0 < n; b0 += MIXSTAGE__COMP_SUB) {
    const int m = n - b0 < MIXSTAGE__COMP_SUB ? n - b0 : MIXSTAGE__COMP_SUB;
    const float *tp[MIXSTAGE__COMP_LANES];
    float *gp[MIXSTAGE__COMP_LANES];
    for (int l = 0; l < count; l++) {
      tp[l] = tg[l] + b0;
      gp[l] = gr[l] + b0;
    }
    /* a lane live at the start stays so (its rows are written throughout) */
    live |= cf_ballistics_run(b, count, tp, gp, m, targets | live, form);
  }
  return live;
}

#if CF_X86
/* Whether lane l's levels are a stereo RMS detector without key filter:
 * two such lanes run side by side (cf_rms_two). */
static inline int cf_rms_stereo(const mixstage__comp_lane *l) {
  return !l->pw && l->nch == 2 && l->det->mode == MIXSTAGE__DET_RMS && !l->det->hpf_on;
}

/* mixstage__dyn_detector_run_linked_f of two stereo RMS lanes, frames
 * b0 .. b0+m-1, in one vector of four doubles (lane a's two one-poles,
 * then b's): mixstage__rms_det_run's operations per lane, so the same
 * bits.  Four frames at a time are transposed into four vectors, the
 * recursion steps through them, and two frames' levels of both lanes come
 * out of one unpack and two maxima, in the scalar rule's operand order
 * (hi > l ? hi : l, l = lo > 0 ? lo : 0; vmaxpd is p > q ? p : q). */
CF_AVX2 static void cf_rms_two(mixstage__comp_lane *la, mixstage__comp_lane *lb, int b0, int m, float *pa,
                               float *pb) {
  mixstage__dyn_detector *da = la->det, *db = lb->det;
  if (!da->linked) mixstage__dyn_detector_to_linked(da, 2);
  if (!db->linked) mixstage__dyn_detector_to_linked(db, 2);
  const float *a0 = la->src[0] + b0, *a1 = la->src[1] + b0, *c0 = lb->src[0] + b0, *c1 = lb->src[1] + b0;
  const __m256d b = _mm256_set_pd(db->rms[1].b, db->rms[0].b, da->rms[1].b, da->rms[0].b);
  const __m256d floor = _mm256_set1_pd(1e-30), zero = _mm256_setzero_pd();
  const __m128 fzero = _mm_setzero_ps();
  __m256d ms = _mm256_set_pd(db->rms[1].ms, db->rms[0].ms, da->rms[1].ms, da->rms[0].ms);
#define CF_RMS_STEP(v)                                                                             \
  (ms = _mm256_add_pd(ms, _mm256_mul_pd(b, _mm256_sub_pd(_mm256_mul_pd((v), (v)), ms))),          \
   ms = _mm256_andnot_pd(_mm256_cmp_pd(ms, floor, _CMP_LT_OQ), ms))
#define CF_RMS_LEVELS(p, q)                                                                        \
  _mm256_max_pd(_mm256_unpackhi_pd((p), (q)), _mm256_max_pd(_mm256_unpacklo_pd((p), (q)), zero))
  int k = 0;
  for (; k + 4 <= m; k += 4) {
    __m128 r0 = _mm_loadu_ps(a0 + k), r1 = _mm_loadu_ps(a1 + k), r2 = _mm_loadu_ps(c0 + k),
           r3 = _mm_loadu_ps(c1 + k);
    _MM_TRANSPOSE4_PS(r0, r1, r2, r3); /* r0: frame k of a0, a1, c0, c1 */
    CF_RMS_STEP(_mm256_cvtps_pd(r0));
    const __m256d m0 = ms;
    CF_RMS_STEP(_mm256_cvtps_pd(r1));
    const __m128 f01 = _mm256_cvtpd_ps(CF_RMS_LEVELS(m0, ms)); /* a k, a k+1, b k, b k+1 */
    CF_RMS_STEP(_mm256_cvtps_pd(r2));
    const __m256d m2 = ms;
    CF_RMS_STEP(_mm256_cvtps_pd(r3));
    const __m128 f23 = _mm256_cvtpd_ps(CF_RMS_LEVELS(m2, ms));
    _mm_storeu_ps(pa + k, _mm_max_ps(_mm_movelh_ps(f01, f23), fzero));
    _mm_storeu_ps(pb + k, _mm_max_ps(_mm_movehl_ps(f23, f01), fzero));
  }
  for (; k < m; k++) {
    CF_RMS_STEP(_mm256_cvtps_pd(_mm_setr_ps(a0[k], a1[k], c0[k], c1[k])));
    const __m128 f = _mm_max_ps(_mm256_cvtpd_ps(CF_RMS_LEVELS(ms, ms)), fzero); /* a, a, b, b */
    pa[k] = _mm_cvtss_f32(f);
    pb[k] = _mm_cvtss_f32(_mm_movehl_ps(f, f));
  }
#undef CF_RMS_STEP
#undef CF_RMS_LEVELS
  double v[4];
  _mm256_storeu_pd(v, ms);
  da->rms[0].ms = v[0];
  da->rms[1].ms = v[1];
  db->rms[0].ms = v[2];
  db->rms[1].ms = v[3];
}
#endif

/* The levels of frames b0 .. b0+m-1 of a lane into pw
 * (MIXSTAGE__COMP_PAD(m) floats) or, when the lane has them, a pointer to
 * them; *vs what is known of their vectors (NULL: nothing). */
static inline const float *cf_levels(const mixstage__comp_lane *l, int b0, int m, float *pw, int form, cf_vecs *buf,
                                 const cf_vecs **vs) {
  *vs = NULL;
  if (l->pw) return l->pw + b0;
  mixstage__dyn_detector *d = l->det;
#if CF_X86
  if (form >= 1 && l->nch > 0 && d->mode == MIXSTAGE__DET_PEAK && !d->hpf_on &&
      d->peak[0].seg_len >= (form == 2 ? 8 : 4)) {
    if (!d->linked) mixstage__dyn_detector_to_linked(d, l->nch);
    if (form == 2) cf_peak8(&d->peak[0], l->src, l->nch, b0, m, pw, buf);
    else cf_peak4(&d->peak[0], l->src, l->nch, b0, m, pw, buf);
    *vs = buf;
    return pw;
  }
#else
  (void)form;
  (void)buf;
#endif
  for (int i = m; i < MIXSTAGE__COMP_PAD(m); i++) pw[i] = 0.0f;
  mixstage__dyn_detector_run_linked_f(d, l->src, l->nch, b0, m, pw);
  return pw;
}

#if CF_VECTOR
/* mixstage__comp_lanes_run's vector forms: a sub-block at a time, the
 * levels and targets of every lane, the ballistics side by side, then
 * every lane's row, applied. */
CF_INLINE void cf_lanes_body(mixstage__comp_lane *L, int count, int n, int form) {
  enum { SP = MIXSTAGE__COMP_SUB };
  float pwb[SP], tg[MIXSTAGE__COMP_LANES][SP], gr[MIXSTAGE__COMP_LANES][SP], rowb[SP];
  mixstage__comp_ballistics *bal[MIXSTAGE__COMP_LANES];
  const float *tp[MIXSTAGE__COMP_LANES];
  float *gp[MIXSTAGE__COMP_LANES];
  for (int l = 0; l < count; l++) {
    bal[l] = L[l].bal;
    tp[l] = tg[l];
    gp[l] = gr[l];
  }
  /* AVX2: stereo RMS lanes two by two (cf_rms_two), their levels in pwr */
  int nrms = 0;
#if CF_X86
  int rms[MIXSTAGE__COMP_LANES];
  float pwr[MIXSTAGE__COMP_LANES][SP];
  if (form == 2)
    for (int l = 0; l < count; l++)
      if (cf_rms_stereo(&L[l])) rms[nrms++] = l;
#endif
  nrms -= nrms % 2;
  for (int b0 = 0; b0 < n; b0 += SP) {
    const int m = n - b0 < SP ? n - b0 : SP, np = MIXSTAGE__COMP_PAD(m);
    unsigned targets = 0, paired = 0;
#if CF_X86
    for (int j = 0; j < nrms; j += 2) {
      const int a = rms[j], c = rms[j + 1];
      cf_rms_two(&L[a], &L[c], b0, m, pwr[a], pwr[c]);
      for (int i = m; i < np; i++) pwr[a][i] = pwr[c][i] = 0.0f;
      paired |= 1u << a | 1u << c;
    }
#endif
    for (int l = 0; l < count; l++) {
      cf_vecs buf;
      const cf_vecs *vs = NULL;
#if CF_X86
      const float *pw = (paired >> l) & 1u ? pwr[l] : cf_levels(&L[l], b0, m, pwb, form, &buf, &vs);
#else
      const float *pw = cf_levels(&L[l], b0, m, pwb, form, &buf, &vs);
#endif
      targets |= (unsigned)cf_target_body(L[l].curve, pw, tg[l], m, np, vs) << l;
    }
    const unsigned moving = cf_ballistics_run(bal, count, tp, gp, m, targets, form);
    for (int l = 0; l < count; l++) {
      const int mv = (moving >> l) & 1u;
      if (mv)
        for (int i = m; i < np; i++) gr[l][i] = 0.0f; /* the padding: finite */
      cf_row_body(&L[l], b0, m, mv ? gr[l] : NULL, L[l].row ? L[l].row + b0 : rowb);
      L[l].gr_last = mv ? gr[l][m - 1] : 0.0f;
    }
  }
}

static void cf_lanes_base(mixstage__comp_lane *L, int count, int n) { cf_lanes_body(L, count, n, 1); }
static int cf_target_base(const mixstage__comp_curve_f *c, const float *pw, float *tg, int n, int np) {
  return cf_target_body(c, pw, tg, n, np, NULL);
}
static void cf_gain_base(const float *gr, float *row, int n, float dry, float wet) {
  cf_gain_body(gr, row, n, dry, wet);
}
#endif

#if CF_X86
CF_AVX2 static int cf_target_avx2(const mixstage__comp_curve_f *c, const float *pw, float *tg, int n, int np) {
  return cf_target_body(c, pw, tg, n, np, NULL);
}
CF_AVX2 static void cf_gain_avx2(const float *gr, float *row, int n, float dry, float wet) {
  cf_gain_body(gr, row, n, dry, wet);
}
CF_AVX2 static void cf_lanes_avx2(mixstage__comp_lane *L, int count, int n) { cf_lanes_body(L, count, n, 2); }
#endif

/* The scalar form's targets: the cell's skip, then cf_target1 per frame. */
static int cf_target_scalar(const mixstage__comp_curve_f *c, const float *pw, float *tg, int n, int np) {
  float m = 0.0f;
  for (int i = 0; i < n; i++) m = pw[i] > m ? pw[i] : m;
  if (!(m >= c->p_zero)) {
    memset(tg, 0, sizeof(float) * (size_t)np);
    return 0;
  }
  for (int i = 0; i < np; i++) tg[i] = cf_target1(c, pw[i]);
  return 1;
}

int mixstage__comp_target_f(const mixstage__comp_curve_f *c, const float *pw, float *tg, int n) {
  const int np = MIXSTAGE__COMP_PAD(n);
  const int form = cf_form();
#if CF_X86
  if (form == 2) return cf_target_avx2(c, pw, tg, n, np);
#endif
#if CF_VECTOR
  if (form == 1) return cf_target_base(c, pw, tg, n, np);
#endif
  return cf_target_scalar(c, pw, tg, n, np);
}

void mixstage__comp_gain_f(const float *gr, float *row, int n, float dry, float wet) {
  const int np = MIXSTAGE__COMP_PAD(n), form = cf_form();
#if CF_X86
  if (form == 2) {
    cf_gain_avx2(gr, row, np, dry, wet);
    return;
  }
#endif
#if CF_VECTOR
  if (form == 1) {
    cf_gain_base(gr, row, np, dry, wet);
    return;
  }
#endif
  for (int i = 0; i < np; i++) row[i] = cf_gain1(gr[i], dry, wet);
}

/* The plain scalar form: each lane through the stages one frame at a time
 * (the reference the vector forms equal). */
static void cf_lanes_scalar(mixstage__comp_lane *L, int count, int n) {
  enum { SP = MIXSTAGE__COMP_SUB };
  for (int l = 0; l < count; l++) {
    mixstage__comp_lane *lane = &L[l];
    for (int b0 = 0; b0 < n; b0 += SP) {
      const int m = n - b0 < SP ? n - b0 : SP, np = MIXSTAGE__COMP_PAD(m);
      float pwb[SP], tg[SP], gr[SP], rowb[SP];
      cf_vecs buf;
      const cf_vecs *vs;
      const float *pw = cf_levels(lane, b0, m, pwb, 0, &buf, &vs), *tp = tg;
      float *gp = gr;
      const int targets = cf_target_scalar(lane->curve, pw, tg, m, np);
      const int moving = (int)cf_ballistics_run(&lane->bal, 1, &tp, &gp, m, (unsigned)targets, 0);
      float *row = lane->row ? lane->row + b0 : rowb;
      for (int i = 0; i < m; i++) {
        const int k = b0 + i;
        const float d = k < lane->ramp_n ? lane->dry_ramp[k] : lane->dry;
        const float w = k < lane->ramp_n ? lane->wet_ramp[k] : lane->wet;
        row[i] = moving ? cf_gain1(gr[i], d, w) : d + w * 1.0f;
        for (int c = 0; c < lane->out_nch; c++) lane->out[c][k] *= row[i];
      }
      lane->gr_last = moving ? gr[m - 1] : 0.0f;
    }
  }
}

void mixstage__comp_lanes_run(mixstage__comp_lane *lanes, int count, int n) {
  const int form = cf_form();
#if CF_X86
  if (form == 2) {
    cf_lanes_avx2(lanes, count, n);
    return;
  }
#endif
#if CF_VECTOR
  if (form == 1) {
    cf_lanes_base(lanes, count, n);
    return;
  }
#endif
  cf_lanes_scalar(lanes, count, n);
}
