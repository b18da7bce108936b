/* Dynamics building blocks: coefficient set-up and resets (the per-sample
 * kernels are inline in dynamics.h). */
#include "dynamics.h"
#include "cpu.h"

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
#ifdef __SSE2__
    if (!d->hpf_on && nch == 2) { /* both one-poles in one vector: the same operations per lane */
      const float *x0 = src[0] + i0, *x1 = src[1] + i0;
      const __m128d b = _mm_set_pd(d->rms[1].b, d->rms[0].b), floor = _mm_set1_pd(1e-30);
      __m128d ms = _mm_set_pd(d->rms[1].ms, d->rms[0].ms);
      for (int k = 0; k < n; k++) {
        const __m128d v = _mm_set_pd((double)x1[k], (double)x0[k]);
        ms = _mm_add_pd(ms, _mm_mul_pd(b, _mm_sub_pd(_mm_mul_pd(v, v), ms)));
        ms = _mm_andnot_pd(_mm_cmplt_pd(ms, floor), ms); /* ms < 1e-30 ? 0 : ms */
        double m2[2];
        _mm_storeu_pd(m2, ms);
        /* as the loop below: lvl = 0, then p > lvl ? p : lvl per channel */
        double l = m2[0] > 0.0 ? m2[0] : 0.0;
        lvl[k] = m2[1] > l ? m2[1] : l;
      }
      double m2[2];
      _mm_storeu_pd(m2, ms);
      d->rms[0].ms = m2[0];
      d->rms[1].ms = m2[1];
      return;
    }
#endif
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

/* mixstage__dyn_detector_run_linked with float powers.  The peak detector
 * on the raw input runs here directly (the channel maximum, then the hold
 * window squaring the held float amplitude in float: the correctly rounded
 * product, as (float) of the exact double product). */
void mixstage__dyn_detector_run_linked_f(mixstage__dyn_detector *d, const float *const *src, int nch, int i0, int n,
                                         float *pw) {
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
    for (int k = 0; k < m; k++) { /* NaN (a non-finite key through the high-pass) as silence */
      const float v = (float)lvl[k];
      pw[b + k] = v > 0.0f ? v : 0.0f;
    }
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
/* Taylor coefficients of 2^f = e^(f ln 2), degree 7 (|f| <= 1/2: remainder
 * (ln 2 / 2)^8 / 8! < 5e-9 relative). */
#define CF_E7 1.5252733804059841e-05f
#define CF_E6 1.5403530393381609e-04f
#define CF_E5 1.3333558146428443e-03f
#define CF_E4 9.6181291076284772e-03f
#define CF_E3 5.5504108664821580e-02f
#define CF_E2 2.4022650695910071e-01f
#define CF_E1 6.9314718055994531e-01f
#define CF_MAGIC 12582912.0f /* 1.5 * 2^23: adding it rounds to an integer */
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
  const float x = gr * CF_GAIN_LOG2;
  const float rm = x + CF_MAGIC, f = x - (rm - CF_MAGIC);
  float q = CF_E7;
  q = q * f + CF_E6;
  q = q * f + CF_E5;
  q = q * f + CF_E4;
  q = q * f + CF_E3;
  q = q * f + CF_E2;
  q = q * f + CF_E1;
  q = q * f + 1.0f;
  uint32_t rb;
  memcpy(&rb, &rm, sizeof rb);
  const uint32_t sb = (rb - 0x4B400000u + 127u) << 23;
  float scale;
  memcpy(&scale, &sb, sizeof scale);
  return dry + wet * (q * scale);
}

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

/* cf_target1 on eight frames (selects for the branches). */
CF_INLINE int cf_target_body(const mixstage__comp_curve_f *c, const float *pw, float *tg, int n, int np) {
  {
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
  n = np;
  const cf_v8 thr = CF_SET1(c->thr), slope = CF_SET1(c->slope), knee = CF_SET1(c->knee);
  const cf_v8 nknee = CF_SET1(c->neg_knee), hknee = CF_SET1(c->half_knee), ik = CF_SET1(c->inv_2knee);
  const cf_v8 zero = CF_SET1(0.0f), one = CF_SET1(1.0f);
  for (int i = 0; i < n; i += MIXSTAGE__COMP_VEC) {
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
    const cf_v8 r = CF_SEL(two < knee, slope * t * t * ik, slope * over);
    cf_store(tg + i, CF_SEL(two > nknee, r, zero));
  }
  return 1;
}

/* cf_gain1 on eight frames. */
CF_INLINE void cf_gain_body(const float *gr, float *row, int n, float dry, float wet) {
  const cf_v8 vd = CF_SET1(dry), vw = CF_SET1(wet);
  for (int i = 0; i < n; i += MIXSTAGE__COMP_VEC) {
    const cf_v8 x = cf_load(gr + i) * CF_GAIN_LOG2;
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
    cf_store(row + i, vd + vw * (q * (cf_v8)sb));
  }
}

static unsigned cf_ballistics_run(mixstage__comp_ballistics *const *b, int count, const float *const *tg,
                                  float *const *gr, int n, unsigned targets, int form);

/* mixstage__comp_lanes_run with the stage bodies inlined (no call per
 * stage and lane). */
CF_INLINE void cf_lanes_body(mixstage__comp_lane *L, int count, int n, int form) {
  enum { PAD = MIXSTAGE__COMP_PAD(MIXSTAGE_CONTROL_FRAMES) };
  float pwb[MIXSTAGE__COMP_LANES][PAD], tg[MIXSTAGE__COMP_LANES][PAD], gr[MIXSTAGE__COMP_LANES][PAD];
  mixstage__comp_ballistics *bal[MIXSTAGE__COMP_LANES] = {NULL};
  const float *tp[MIXSTAGE__COMP_LANES] = {NULL};
  float *gp[MIXSTAGE__COMP_LANES] = {NULL};
  const int np = MIXSTAGE__COMP_PAD(n);
  unsigned live = 0;
  for (int l = 0; l < count; l++) {
    const float *pw = L[l].pw;
    if (!pw) {
      for (int i = n; i < np; i++) pwb[l][i] = 0.0f;
      mixstage__dyn_detector_run_linked_f(L[l].det, L[l].src, L[l].nch, 0, n, pwb[l]);
      pw = pwb[l];
    }
    live |= (unsigned)cf_target_body(L[l].curve, pw, tg[l], n, np) << l;
    bal[l] = L[l].bal;
    tp[l] = tg[l];
    gp[l] = gr[l];
  }
  const unsigned nz = cf_ballistics_run(bal, count, tp, gp, n, live, form);
  for (int l = 0; l < count; l++) {
    float *row = L[l].row;
    const int moving = (nz >> l) & 1u;
    if (!L[l].dry_ramp) {
      if (moving) {
        cf_gain_body(gr[l], row, np, L[l].dry, L[l].wet);
      } else { /* the gain at no reduction is exactly 1: dry + wet 1 */
        const float g0 = L[l].dry + L[l].wet;
        for (int i = 0; i < n; i++) row[i] = g0;
      }
    } else {
      if (moving) cf_gain_body(gr[l], row, np, 0.0f, 1.0f); /* 0 + 1 g == g exactly */
      for (int i = 0; i < n; i++) row[i] = L[l].dry_ramp[i] + L[l].wet_ramp[i] * (moving ? row[i] : 1.0f);
    }
    L[l].gr_last = moving ? gr[l][n - 1] : 0.0f;
  }
}

static void cf_lanes_base(mixstage__comp_lane *L, int count, int n) { cf_lanes_body(L, count, n, 1); }

static int cf_target_base(const mixstage__comp_curve_f *c, const float *pw, float *tg, int n, int np) {
  return cf_target_body(c, pw, tg, n, np);
}
static void cf_gain_base(const float *gr, float *row, int n, float dry, float wet) {
  cf_gain_body(gr, row, n, dry, wet);
}

#if defined(__x86_64__) || defined(__i386__)
#define CF_X86 1
#include <immintrin.h>
#define CF_AVX2 __attribute__((target("avx2")))
CF_AVX2 static int cf_target_avx2(const mixstage__comp_curve_f *c, const float *pw, float *tg, int n, int np) {
  return cf_target_body(c, pw, tg, n, np);
}
CF_AVX2 static void cf_gain_avx2(const float *gr, float *row, int n, float dry, float wet) {
  cf_gain_body(gr, row, n, dry, wet);
}
CF_AVX2 static void cf_lanes_avx2(mixstage__comp_lane *L, int count, int n) { cf_lanes_body(L, count, n, 2); }

#else
#define CF_X86 0
#endif
#else
#define CF_VECTOR 0
#define CF_X86 0
#endif

/* Which form runs: 2 AVX2 (with AVX for the ballistics), 1 the baseline
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

int mixstage__comp_target_f(const mixstage__comp_curve_f *c, const float *pw, float *tg, int n) {
  const int np = MIXSTAGE__COMP_PAD(n);
  const int form = cf_form();
#if CF_X86
  if (form == 2) return cf_target_avx2(c, pw, tg, n, np);
#endif
#if CF_VECTOR
  if (form == 1) return cf_target_base(c, pw, tg, n, np);
#endif
  float m = 0.0f;
  for (int i = 0; i < n; i++) m = pw[i] > m ? pw[i] : m;
  if (!(m >= c->p_zero)) {
    memset(tg, 0, sizeof(float) * (size_t)np);
    return 0;
  }
  for (int i = 0; i < np; i++) tg[i] = cf_target1(c, pw[i]);
  return 1;
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
#define CF_AVX __attribute__((target("avx")))

/* m ? a : b per lane, as bit operations (GCC splits a blendv of vectors it
 * built from scalars into per-lane branches). */
CF_AVX static inline __attribute__((always_inline)) __m256d cf_sel4(__m256d m, __m256d a, __m256d b) {
  return _mm256_or_pd(_mm256_and_pd(m, a), _mm256_andnot_pd(m, b));
}

/* One frame of four compressors: cf_ballistics1's operations per lane. */
CF_AVX static inline __attribute__((always_inline)) __m128
cf_step4(__m128 t4, __m256d *y, __m256d *s, __m256d up, __m256d down, __m256d sup, __m256d sdown, __m256d au,
         const int autorel) {
  const __m256d zero = _mm256_setzero_pd(), flush = _mm256_set1_pd(1e-12);
  const __m256d t = _mm256_cvtps_pd(t4);
  __m256d d = _mm256_sub_pd(t, *y);
  __m256d v = _mm256_add_pd(*y, _mm256_mul_pd(cf_sel4(_mm256_cmp_pd(d, zero, _CMP_GT_OQ), up, down), d));
  *y = _mm256_andnot_pd(_mm256_cmp_pd(v, flush, _CMP_LT_OQ), v);
  __m256d out = *y;
  if (autorel) {
    d = _mm256_sub_pd(t, *s);
    v = _mm256_add_pd(*s, _mm256_mul_pd(cf_sel4(_mm256_cmp_pd(d, zero, _CMP_GT_OQ), sup, sdown), d));
    v = _mm256_andnot_pd(_mm256_cmp_pd(v, flush, _CMP_LT_OQ), v);
    *s = cf_sel4(au, v, *s);
    out = cf_sel4(au, _mm256_max_pd(out, *s), out); /* y > s ? y : s */
  }
  return _mm256_cvtpd_ps(out);
}

/* Four compressors in one vector of doubles (AVX), four frames per pass:
 * targets in and GR out go through 4x4 transposes (rows are padded). */
CF_AVX static inline __attribute__((always_inline)) void
cf_quad_run(const float *const *tp, float *const *gp, __m256d *y, __m256d *s, __m256d up, __m256d down, __m256d sup,
            __m256d sdown, __m256d au, int n, const int autorel) {
  for (int i = 0; i < n; i += 4) {
    __m128 r0 = _mm_loadu_ps(tp[0] + i), r1 = _mm_loadu_ps(tp[1] + i), r2 = _mm_loadu_ps(tp[2] + i),
           r3 = _mm_loadu_ps(tp[3] + i);
    _MM_TRANSPOSE4_PS(r0, r1, r2, r3);
    const int m = n - i;
    r0 = cf_step4(r0, y, s, up, down, sup, sdown, au, autorel);
    r1 = m > 1 ? cf_step4(r1, y, s, up, down, sup, sdown, au, autorel) : _mm_setzero_ps();
    r2 = m > 2 ? cf_step4(r2, y, s, up, down, sup, sdown, au, autorel) : _mm_setzero_ps();
    r3 = m > 3 ? cf_step4(r3, y, s, up, down, sup, sdown, au, autorel) : _mm_setzero_ps();
    _MM_TRANSPOSE4_PS(r0, r1, r2, r3);
    _mm_storeu_ps(gp[0] + i, r0);
    _mm_storeu_ps(gp[1] + i, r1);
    _mm_storeu_ps(gp[2] + i, r2);
    _mm_storeu_ps(gp[3] + i, r3);
  }
}

/* Lanes w .. 3 are padding (a copy of lane 0, results dropped). */
CF_AVX static void cf_ballistics4(mixstage__comp_ballistics *const *b, int w, const float *const *tg,
                                  float *const *gr, int n) {
  double yv[4], sv[4], upv[4], dnv[4], supv[4], sdnv[4], auv[4];
  const float *tp[4];
  float *gp[4], spare[4][MIXSTAGE_CONTROL_FRAMES + MIXSTAGE__COMP_VEC];
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
  for (; l < count; l++)
    if ((live >> l) & 1u) cf_ballistics1(b[l], tg[l], gr[l], n);
  return live;
}

unsigned mixstage__comp_ballistics_lanes(mixstage__comp_ballistics *const *b, int count, const float *const *tg,
                                         float *const *gr, int n, unsigned targets) {
  return cf_ballistics_run(b, count, tg, gr, n, targets, cf_form());
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
  /* plain scalar: the stage functions one by one */
  enum { PAD = MIXSTAGE__COMP_PAD(MIXSTAGE_CONTROL_FRAMES) };
  for (int l = 0; l < count; l++) {
    float pwb[PAD] = {0.0f}, tg[PAD], gr[PAD];
    const float *pw = lanes[l].pw, *tp = tg;
    float *gp = gr;
    if (!pw) {
      mixstage__dyn_detector_run_linked_f(lanes[l].det, lanes[l].src, lanes[l].nch, 0, n, pwb);
      pw = pwb;
    }
    const int live = mixstage__comp_target_f(lanes[l].curve, pw, tg, n);
    const int moving = (int)mixstage__comp_ballistics_lanes(&lanes[l].bal, 1, &tp, &gp, n, (unsigned)live);
    float *row = lanes[l].row;
    if (!lanes[l].dry_ramp) {
      if (moving) mixstage__comp_gain_f(gr, row, n, lanes[l].dry, lanes[l].wet);
      else
        for (int i = 0; i < n; i++) row[i] = lanes[l].dry + lanes[l].wet;
    } else {
      if (moving) mixstage__comp_gain_f(gr, row, n, 0.0f, 1.0f);
      for (int i = 0; i < n; i++)
        row[i] = lanes[l].dry_ramp[i] + lanes[l].wet_ramp[i] * (moving ? row[i] : 1.0f);
    }
    lanes[l].gr_last = moving ? gr[n - 1] : 0.0f;
  }
}
