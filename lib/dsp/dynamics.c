/* Dynamics building blocks: coefficient set-up and resets (the per-sample
 * kernels are inline in dynamics.h). */
#include "dynamics.h"
#include "cpu.h"
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

int mixstage__dyn_detector_lanes_ready(const mixstage__dyn_detector *d) {
  return d->mode == MIXSTAGE__DET_PEAK && !d->hpf_on;
}

void mixstage__dyn_detector_abs_max(mixstage__dyn_detector *d, const float *const *src, int nch, int n, float *a) {
  if (!d->linked) mixstage__dyn_detector_to_linked(d, nch);
  abs_max(src, nch, 0, n, a);
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

/* ---- four linked compressors (AVX2, chosen at run time) -------------------------- */

#if (defined(__x86_64__) || defined(__i386__)) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>
#define L4_TARGET __attribute__((target("avx2")))

int mixstage__comp_lanes4_available(void) { return mixstage__cpu_avx2_fma(); }

/* mixstage__log2_fast_v2 on four lanes. */
L4_TARGET static inline __m256d l4_log2(__m256d x) {
  const __m256i mant_mask = _mm256_set1_epi64x(0x000fffffffffffffLL);
  const __m256i one_bits = _mm256_set1_epi64x(0x3ff0000000000000LL);
  const __m256i two52_bits = _mm256_set1_epi64x(0x4330000000000000LL);
  const __m256d two52 = _mm256_set1_pd(4503599627370496.0);
  __m256i u = _mm256_castpd_si256(x);
  __m256i ebits = _mm256_and_si256(_mm256_srli_epi64(u, 52), _mm256_set1_epi64x(0x7ff));
  __m256d e = _mm256_sub_pd(_mm256_sub_pd(_mm256_castsi256_pd(_mm256_or_si256(ebits, two52_bits)), two52),
                            _mm256_set1_pd(1023.0));
  __m256d m = _mm256_castsi256_pd(_mm256_or_si256(_mm256_and_si256(u, mant_mask), one_bits));
  __m256d big = _mm256_cmp_pd(m, _mm256_set1_pd(1.4142135623730951), _CMP_GT_OQ);
  m = _mm256_blendv_pd(m, _mm256_mul_pd(m, _mm256_set1_pd(0.5)), big);
  e = _mm256_add_pd(e, _mm256_and_pd(big, _mm256_set1_pd(1.0)));
  const __m256d one = _mm256_set1_pd(1.0);
  __m256d s = _mm256_div_pd(_mm256_sub_pd(m, one), _mm256_add_pd(m, one));
  __m256d s2 = _mm256_mul_pd(s, s);
  __m256d p = _mm256_set1_pd(MIXSTAGE__LOG2_TOP);
#define MIXSTAGE__STEP(c) p = _mm256_add_pd(_mm256_mul_pd(p, s2), _mm256_set1_pd(c));
  MIXSTAGE__LOG2_REST(MIXSTAGE__STEP)
#undef MIXSTAGE__STEP
  return _mm256_add_pd(e, _mm256_mul_pd(s, p));
}

/* mixstage__exp2_fast_v2 on four lanes (0 for x <= -1022 and NaN). */
L4_TARGET static inline __m256d l4_exp2(__m256d x) {
  __m256d ok = _mm256_cmp_pd(x, _mm256_set1_pd(-1022.0), _CMP_GT_OQ);
  x = _mm256_min_pd(x, _mm256_setzero_pd());
  x = _mm256_max_pd(x, _mm256_set1_pd(-1022.0));
  __m128i k = _mm256_cvttpd_epi32(x);
  __m256d t = _mm256_mul_pd(_mm256_add_pd(_mm256_sub_pd(x, _mm256_cvtepi32_pd(k)), _mm256_set1_pd(0.5)),
                            _mm256_set1_pd(0.69314718055994531));
  __m256d p = _mm256_set1_pd(MIXSTAGE__EXP2_TOP);
#define MIXSTAGE__STEP(c) p = _mm256_add_pd(_mm256_mul_pd(p, t), _mm256_set1_pd(c));
  MIXSTAGE__EXP2_REST(MIXSTAGE__STEP)
#undef MIXSTAGE__STEP
  __m256i kb = _mm256_cvtepu32_epi64(_mm_add_epi32(k, _mm_set1_epi32(1023)));
  __m256d scale = _mm256_castsi256_pd(_mm256_slli_epi64(kb, 52));
  __m256d r = _mm256_mul_pd(_mm256_mul_pd(p, _mm256_set1_pd(0.70710678118654752440)), scale);
  return _mm256_and_pd(ok, r);
}

/* The kernel body; fused: the levels come from four linked peak
 * detectors fed amax[l] (as peak_det_block computes them), else from lvl. */
L4_TARGET static inline __attribute__((always_inline)) void
l4_run(mixstage__comp_lanes4 *c, const double *const *lvl, const float *const *amax, mixstage__peak_det *const *pk,
       const int fused, float *const *gain, double *gr_last, double *target_last, double *level_last, int n) {
  const __m256d pf = _mm256_loadu_pd(c->p_floor), thr = _mm256_loadu_pd(c->thr);
  const __m256d sl = _mm256_loadu_pd(c->slope), kn = _mm256_loadu_pd(c->knee);
  const __m256d nkn = _mm256_sub_pd(_mm256_setzero_pd(), kn); /* -W: exact */
  const __m256d hkn = _mm256_mul_pd(_mm256_set1_pd(0.5), kn), kn2 = _mm256_mul_pd(_mm256_set1_pd(2.0), kn);
  const __m256d up = _mm256_loadu_pd(c->up), down = _mm256_loadu_pd(c->down);
  const __m256d dry = _mm256_loadu_pd(c->dry), wet = _mm256_loadu_pd(c->wet);
  const __m256d zero = _mm256_setzero_pd(), one = _mm256_set1_pd(1.0), flush = _mm256_set1_pd(1e-12);
  __m256d y = _mm256_loadu_pd(c->y), tg = zero, lv = zero;
  /* the last level and reduction the curve and the gain were computed for
   * (NaN at first: unequal to anything, so the first frame computes both) */
  __m256d lprev = _mm256_set1_pd(NAN), yprev = lprev;
  __m128 row = _mm_setzero_ps();
  float rows[64][4];
  __m128 cur = _mm_setzero_ps(), sm = _mm_setzero_ps();
  for (int i = 0; i < n;) {
    /* Fused: runs up to the next frame at which some lane's peak segment
     * completes (peak_det_block's runs, cut finer: the held maximum is
     * stored and reloaded exactly). */
    int run = n - i;
    if (fused) {
      for (int j = 0; j < 4; j++)
        if (pk[j]->seg_len - pk[j]->pos < run) run = pk[j]->seg_len - pk[j]->pos;
      cur = _mm_setr_ps(pk[0]->cur, pk[1]->cur, pk[2]->cur, pk[3]->cur);
      sm = _mm_setr_ps(pk[0]->seg_max, pk[1]->seg_max, pk[2]->seg_max, pk[3]->seg_max);
    }
    for (const int end = i + run; i < end; i++) {
    __m256d l;
    if (fused) {
      /* a > cur ? a : cur, then cur > sm ? cur : sm (maxps), squared in double */
      cur = _mm_max_ps(_mm_setr_ps(amax[0][i], amax[1][i], amax[2][i], amax[3][i]), cur);
      __m256d h = _mm256_cvtps_pd(_mm_max_ps(cur, sm));
      l = _mm256_mul_pd(h, h);
    } else {
      l = _mm256_setr_pd(lvl[0][i], lvl[1][i], lvl[2][i], lvl[3][i]);
    }
    lv = l;
    /* Static curve, as mixstage__dyn_compress_target_n; a pure function of
     * the level, so kept while no lane's level moves (a held peak). */
    if (_mm256_movemask_pd(_mm256_cmp_pd(l, lprev, _CMP_NEQ_UQ))) {
      lprev = l;
      __m256d on = _mm256_cmp_pd(l, pf, _CMP_GE_OQ);
      __m256d db = _mm256_mul_pd(_mm256_set1_pd(3.0102999566398120), l4_log2(l));
      __m256d audible = _mm256_cmp_pd(l, _mm256_set1_pd(1e-60), _CMP_GT_OQ);
      db = _mm256_blendv_pd(_mm256_set1_pd(-600.0), db, audible);
      __m256d over = _mm256_sub_pd(db, thr);
      __m256d over2 = _mm256_mul_pd(_mm256_set1_pd(2.0), over);
      __m256d t = _mm256_add_pd(over, hkn);
      __m256d in_knee = _mm256_div_pd(_mm256_mul_pd(_mm256_mul_pd(sl, t), t), kn2);
      __m256d above = _mm256_mul_pd(sl, over);
      __m256d r = _mm256_blendv_pd(above, in_knee, _mm256_cmp_pd(over2, kn, _CMP_LT_OQ));
      on = _mm256_and_pd(on, _mm256_cmp_pd(over2, nkn, _CMP_GT_OQ));
      tg = _mm256_and_pd(on, r);
    }
    /* ballistics: where the target differs, y + b d with b by the sign of
     * d, flushed below 1e-12; where it equals y, y stays (mixstage__dyn_smooth
     * then computes y + b 0 == y as well) */
    __m256d d = _mm256_sub_pd(tg, y);
    __m256d b = _mm256_blendv_pd(down, up, _mm256_cmp_pd(d, zero, _CMP_GT_OQ));
    __m256d yn = _mm256_add_pd(y, _mm256_mul_pd(b, d));
    yn = _mm256_andnot_pd(_mm256_cmp_pd(yn, flush, _CMP_LT_OQ), yn);
    y = _mm256_blendv_pd(y, yn, _mm256_cmp_pd(tg, y, _CMP_NEQ_UQ));
    /* gain: 1 exactly at no reduction, as mixstage__dyn_gr_to_gain; kept
     * while no lane's reduction moves (at rest, or holding) */
    if (_mm256_movemask_pd(_mm256_cmp_pd(y, yprev, _CMP_NEQ_UQ))) {
      yprev = y;
      __m256d e = l4_exp2(_mm256_mul_pd(y, _mm256_set1_pd(-0.16609640474436813)));
      __m256d g = _mm256_blendv_pd(e, one, _mm256_cmp_pd(y, zero, _CMP_EQ_OQ));
      row = _mm256_cvtpd_ps(_mm256_add_pd(dry, _mm256_mul_pd(wet, g)));
    }
    _mm_storeu_ps(rows[i], row);
    }
    if (fused) {
      float cv[4];
      _mm_storeu_ps(cv, cur);
      for (int j = 0; j < 4; j++) {
        pk[j]->cur = cv[j];
        pk[j]->pos += run;
        peak_seg_end(pk[j]);
      }
    }
  }
  _mm256_storeu_pd(c->y, y);
  _mm256_storeu_pd(gr_last, y);
  _mm256_storeu_pd(target_last, tg);
  _mm256_storeu_pd(level_last, lv);
  /* rows (frame-major) to the four lanes' gain rows: a 4x4 transpose per
   * four frames (data movement only) */
  int i = 0;
  for (; i + 4 <= n; i += 4) {
    __m128 r0 = _mm_loadu_ps(rows[i]), r1 = _mm_loadu_ps(rows[i + 1]), r2 = _mm_loadu_ps(rows[i + 2]),
           r3 = _mm_loadu_ps(rows[i + 3]);
    _MM_TRANSPOSE4_PS(r0, r1, r2, r3);
    _mm_storeu_ps(gain[0] + i, r0);
    _mm_storeu_ps(gain[1] + i, r1);
    _mm_storeu_ps(gain[2] + i, r2);
    _mm_storeu_ps(gain[3] + i, r3);
  }
  for (; i < n; i++)
    for (int l = 0; l < 4; l++) gain[l][i] = rows[i][l];
}

L4_TARGET void mixstage__comp_lanes4_run(mixstage__comp_lanes4 *c, const double *const *lvl, float *const *gain,
                                         double *gr_last, double *target_last, double *level_last, int n) {
  l4_run(c, lvl, NULL, NULL, 0, gain, gr_last, target_last, level_last, n);
}

L4_TARGET void mixstage__comp_lanes4_run_peak(mixstage__comp_lanes4 *c, const float *const *amax,
                                              mixstage__peak_det *const *pk, float *const *gain, double *gr_last,
                                              double *target_last, double *level_last, int n) {
  l4_run(c, NULL, amax, pk, 1, gain, gr_last, target_last, level_last, n);
}
#else
int mixstage__comp_lanes4_available(void) { return 0; }

void mixstage__comp_lanes4_run(mixstage__comp_lanes4 *c, const double *const *lvl, float *const *gain,
                               double *gr_last, double *target_last, double *level_last, int n) {
  for (int l = 0; l < 4; l++) {
    level_last[l] = n > 0 ? lvl[l][n - 1] : 0.0;
    mixstage__dyn_smoother sm = {c->y[l], c->up[l], c->down[l]};
    double t = 0.0;
    for (int i = 0; i < n; i++) {
      t = lvl[l][i] >= c->p_floor[l] ? mixstage__dyn_compress_gr_slope(mixstage__dyn_power_to_db(lvl[l][i]),
                                                                          c->thr[l], c->slope[l], c->knee[l])
                                      : 0.0;
      double y = mixstage__dyn_smooth(&sm, t);
      gain[l][i] = (float)(c->dry[l] + c->wet[l] * mixstage__dyn_gr_to_gain(y));
    }
    c->y[l] = sm.y;
    gr_last[l] = sm.y;
    target_last[l] = t;
  }
}

void mixstage__comp_lanes4_run_peak(mixstage__comp_lanes4 *c, const float *const *amax,
                                    mixstage__peak_det *const *pk, float *const *gain, double *gr_last,
                                    double *target_last, double *level_last, int n) {
  double lvl[4][64];
  const double *lp[4];
  for (int l = 0; l < 4; l++) {
    peak_det_block(pk[l], amax[l], n, lvl[l]);
    lp[l] = lvl[l];
  }
  mixstage__comp_lanes4_run(c, lp, gain, gr_last, target_last, level_last, n);
}
#endif
