/* Dynamics building blocks: coefficient set-up and resets (the per-sample
 * kernels are inline in dynamics.h). */
#include "dynamics.h"
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
    if (d->pos >= d->seg_len) { /* segment complete: as in mixstage__peak_det_run */
      d->seg[d->idx] = d->cur;
      if (++d->idx >= MIXSTAGE__PEAK_SEGS - 1) d->idx = 0;
      float m = 0.0f;
      for (int k = 0; k < MIXSTAGE__PEAK_SEGS - 1; k++)
        if (d->seg[k] > m) m = d->seg[k];
      d->seg_max = m;
      d->cur = 0.0f;
      d->pos = 0;
    }
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
      for (int k = 0; k < m; k++) a[k] = 0.0f;
      for (int c = 0; c < nch; c++) {
        const float *x = src[c] + i0 + b;
        if (d->hpf_on) {
          for (int k = 0; k < m; k++) {
            float ax = (float)fabs(mixstage__biquad_tick(&d->hpf, &d->hs[c], (double)x[k]));
            if (ax > a[k]) a[k] = ax;
          }
        } else {
          int k = 0;
#ifdef __SSE2__
          /* maxps(p, q) is p > q ? p : q, the scalar rule below: NaN ignored */
          const __m128 abs_mask = _mm_castsi128_ps(_mm_set1_epi32(0x7fffffff));
          for (; k + 4 <= m; k += 4)
            _mm_storeu_ps(a + k, _mm_max_ps(_mm_and_ps(_mm_loadu_ps(x + k), abs_mask),
                                            _mm_loadu_ps(a + k)));
#endif
          for (; k < m; k++) {
            float ax = fabsf(x[k]);
            a[k] = ax > a[k] ? ax : a[k];
          }
        }
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
