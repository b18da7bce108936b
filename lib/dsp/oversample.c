/* Oversampling by cascaded polyphase half-band FIR stages, and the ITU-R
 * BS.1770-4 Annex 2 true-peak detector.  See oversample.h for the figures.
 *
 * Half-band design: windowed sinc, h[c+d] = 1/2 sinc(d/2) w(d), c = 2K-1,
 * w = Kaiser (Kaiser & Schafer, "On the use of the I0-sinh window for
 * spectrum analysis", 1980; Oppenheim & Schafer, Discrete-Time Signal
 * Processing, 3rd ed., sec. 7.6).  sinc(d/2) is zero for even d != 0, so only
 * the centre tap and the 2K odd-offset taps are non-zero and each phase of
 * the polyphase split is either a pure delay or a symmetric 2K-tap FIR.
 * The outer taps are scaled to sum to 1/4 so both phases have exactly unit
 * DC gain (no ripple at DC between even and odd output samples).
 */
#include "oversample.h"

#include <math.h>
#include <string.h>

#define OS_PI 3.14159265358979323846

/* Per-stage design: K (kernel length 4K-1) and Kaiser beta, chosen by
 * measuring the designed response (stop band >= 104 dB, see header).  Stage
 * 1 carries the steep 0.45..0.55 fs transition; later stages only have to
 * reject images of the 0..0.45 fs band, which lie far above it. */
static const struct {
  int half;
  double beta;
} hb_design[MIXSTAGE_OS_MAX_STAGES] = {{34, 10.5}, {7, 11.0}, {5, 10.9}};

/* Zeroth-order modified Bessel function of the first kind, by its power
 * series (converges for all x; the loop is bounded). */
static double bessel_i0(double x) {
  double sum = 1.0, term = 1.0, q = 0.25 * x * x;
  for (int k = 1; k < 200; k++) {
    term *= q / ((double)k * (double)k);
    sum += term;
    if (term < sum * 1e-17) break;
  }
  return sum;
}

/* Kaiser window value at offset d from the centre of a window of half-length m
 * (|d| <= m). */
static double kaiser(double d, double m, double beta) {
  double r = d / m;
  double a = 1.0 - r * r;
  return bessel_i0(beta * sqrt(a > 0.0 ? a : 0.0)) / bessel_i0(beta);
}

/* g[m] = h[c +- (2m+1)] for m = 0..K-1, normalised to sum 1/4. */
static void design_halfband(double *g, int K, double beta) {
  double sum = 0.0, half_len = (double)(2 * K - 1);
  for (int m = 0; m < K; m++) {
    double d = (double)(2 * m + 1);
    double x = OS_PI * d / 2.0;
    g[m] = 0.5 * (sin(x) / x) * kaiser(d, half_len, beta);
    sum += g[m];
  }
  for (int m = 0; m < K; m++) g[m] *= 0.25 / sum;
}

static int stages_for(int factor) {
  switch (factor) {
  case 1: return 0;
  case 2: return 1;
  case 4: return 2;
  case 8: return 3;
  default: return -1;
  }
}

/* Round trip in top-rate samples before padding: each stage s (output rate
 * 2^(s+1) base) delays by c_s = 2K_s - 1 of its own high-rate samples, once
 * up and once down. */
static int round_trip_hi(int factor) {
  int ns = stages_for(factor), total = 0;
  for (int s = 0; s < ns; s++) total += 2 * (2 * hb_design[s].half - 1) * (factor >> (s + 1));
  return total;
}

static int pad_for(int factor, int extra_hi) {
  int t = round_trip_hi(factor) + extra_hi;
  return (factor - t % factor) % factor;
}

int mixstage__os_latency_for(int factor, int extra_hi) {
  if (stages_for(factor) < 0 || extra_hi < 0) return 0;
  return (round_trip_hi(factor) + extra_hi + pad_for(factor, extra_hi)) / factor;
}

int mixstage__os_latency(const mixstage__oversampler *os) {
  return mixstage__os_latency_for(os->factor, os->extra_hi);
}

int mixstage__os_up_delay_hi(const mixstage__oversampler *os) {
  return round_trip_hi(os->factor) / 2;
}

void mixstage__os_fini(mixstage__oversampler *os, const mixstage__allocator *a) {
  if (!os) return;
  mixstage__free(a, os->block);
  mixstage__free(a, os->taps);
  memset(os, 0, sizeof *os);
}

int mixstage__os_init(mixstage__oversampler *os, const mixstage__allocator *a, int nch,
                      int factor) {
  return mixstage__os_init_ex(os, a, nch, factor, 0);
}

int mixstage__os_init_ex(mixstage__oversampler *os, const mixstage__allocator *a, int nch,
                         int factor, int extra_hi) {
  int ns = stages_for(factor);
  memset(os, 0, sizeof *os);
  if (ns < 0 || nch < 1 || nch > MIXSTAGE_OS_MAX_CHANNELS || extra_hi < 0 ||
      (factor == 1 && extra_hi != 0))
    return MIXSTAGE_EINVAL;
  os->factor = factor;
  os->nstages = ns;
  os->nch = nch;
  os->extra_hi = extra_hi;
  os->pad = pad_for(factor, extra_hi);

  size_t ntaps = 0, per_ch = (size_t)MIXSTAGE_OS_MAX_FRAMES * (size_t)factor; /* hi */
  if (ns >= 2) per_ch += (size_t)MIXSTAGE_OS_MAX_FRAMES * 2;                   /* mid */
  if (ns >= 3) per_ch += (size_t)MIXSTAGE_OS_MAX_FRAMES * 4;                   /* mid2 */
  per_ch += (size_t)factor;                                                   /* pad line */
  for (int s = 0; s < ns; s++) {
    size_t K = (size_t)hb_design[s].half;
    ntaps += K;
    per_ch += 2 * (2 * K) * 2 + K; /* up_hist, dn_even (doubled), dn_odd */
  }
  os->block = mixstage__calloc(a, per_ch * (size_t)nch, sizeof(float));
  os->taps = ns > 0 ? mixstage__calloc(a, ntaps, sizeof(double)) : NULL;
  if (!os->block || (ns > 0 && !os->taps)) {
    mixstage__os_fini(os, a);
    return MIXSTAGE_ENOMEM;
  }

  float *p = os->block;
  for (int c = 0; c < nch; c++) {
    os->hi[c] = p;
    p += MIXSTAGE_OS_MAX_FRAMES * factor;
    if (ns >= 2) {
      os->mid[c] = p;
      p += MIXSTAGE_OS_MAX_FRAMES * 2;
    }
    if (ns >= 3) {
      os->mid2[c] = p;
      p += MIXSTAGE_OS_MAX_FRAMES * 4;
    }
  }
  os->pad_hist = p;
  p += (size_t)factor * (size_t)nch;
  double *t = os->taps;
  for (int s = 0; s < ns; s++) {
    mixstage__hb_stage *st = &os->st[s];
    int K = hb_design[s].half;
    st->half = K;
    st->hlen = 2 * K;
    design_halfband(t, K, hb_design[s].beta);
    st->g = t;
    t += K;
    st->up_hist = p;
    p += (size_t)2 * st->hlen * (size_t)nch;
    st->dn_even = p;
    p += (size_t)2 * st->hlen * (size_t)nch;
    st->dn_odd = p;
    p += (size_t)K * (size_t)nch;
  }
  mixstage__os_reset(os);
  return MIXSTAGE_OK;
}

void mixstage__os_reset(mixstage__oversampler *os) {
  for (int s = 0; s < os->nstages; s++) {
    mixstage__hb_stage *st = &os->st[s];
    memset(st->up_hist, 0, sizeof(float) * 2 * (size_t)st->hlen * (size_t)os->nch);
    memset(st->dn_even, 0, sizeof(float) * 2 * (size_t)st->hlen * (size_t)os->nch);
    memset(st->dn_odd, 0, sizeof(float) * (size_t)st->half * (size_t)os->nch);
    st->up_pos = st->dn_pos = st->dn_odd_pos = 0;
  }
  if (os->pad_hist) memset(os->pad_hist, 0, sizeof(float) * (size_t)os->factor * (size_t)os->nch);
  os->pad_pos = 0;
}

/* Interpolate by 2: n inputs -> 2n outputs.  With w[m] = x[n-m]:
 *   y[2n]   = 2 sum_j h[2j] x[n-j]      (the symmetric outer taps)
 *   y[2n+1] = 2 h[c] x[n-(K-1)] = x[n-K+1]
 * Positions and ring state are per stage, shared by the channels, so each
 * channel's call must start from the same position: the caller saves it. */
static int hb_up(const mixstage__hb_stage *st, float *hist, int pos, const float *in, float *out,
                 int n) {
  const int K = st->half, H = st->hlen;
  const double *g = st->g;
  for (int i = 0; i < n; i++) {
    pos = (pos == 0 ? H : pos) - 1;
    hist[pos] = hist[pos + H] = in[i];
    const float *w = hist + pos;
    double acc = 0.0;
    /* g[m] multiplies the pair at |d| = 2m+1, i.e. w[K-1-m] and w[K+m]. */
    for (int m = 0; m < K; m++) acc += g[m] * ((double)w[K - 1 - m] + (double)w[K + m]);
    out[2 * i] = (float)(2.0 * acc);
    out[2 * i + 1] = w[K - 1];
  }
  return pos;
}

/* Decimate by 2: 2n inputs -> n outputs, y[n] = sum_i h[i] v[2n - i]:
 *   y[n] = 1/2 v[2(n-K)+1] + sum_j g (v_even[n-j] + v_even[n-(2K-1-j)]).
 * The odd-phase samples go through a K-sample delay line. */
static void hb_down(const mixstage__hb_stage *st, float *even, float *odd, int *pos_io,
                    int *opos_io, const float *in, float *out, int n) {
  const int K = st->half, H = st->hlen;
  const double *g = st->g;
  int pos = *pos_io, opos = *opos_io;
  for (int i = 0; i < n; i++) {
    pos = (pos == 0 ? H : pos) - 1;
    even[pos] = even[pos + H] = in[2 * i];
    const float *w = even + pos;
    double acc = 0.0;
    for (int m = 0; m < K; m++) acc += g[m] * ((double)w[K - 1 - m] + (double)w[K + m]);
    acc += 0.5 * (double)odd[opos];
    odd[opos] = in[2 * i + 1];
    opos = opos + 1 == K ? 0 : opos + 1;
    out[i] = (float)acc;
  }
  *pos_io = pos;
  *opos_io = opos;
}

void mixstage__os_up(mixstage__oversampler *os, const float *const *in, int nframes) {
  const int ns = os->nstages;
  if (ns == 0) {
    for (int c = 0; c < os->nch; c++) memmove(os->hi[c], in[c], sizeof(float) * (size_t)nframes);
    return;
  }
  for (int s = 0; s < ns; s++) {
    mixstage__hb_stage *st = &os->st[s];
    int n = nframes << s, pos = st->up_pos;
    for (int c = 0; c < os->nch; c++) {
      const float *src = s == 0 ? in[c] : (s == 1 ? os->mid[c] : os->mid2[c]);
      float *dst = s == ns - 1 ? os->hi[c] : (s == 0 ? os->mid[c] : os->mid2[c]);
      pos = hb_up(st, st->up_hist + (size_t)c * 2 * st->hlen, st->up_pos, src, dst, n);
    }
    st->up_pos = pos;
  }
}

void mixstage__os_down(mixstage__oversampler *os, float *const *out, int nframes) {
  const int ns = os->nstages, L = os->factor;
  if (ns == 0) {
    for (int c = 0; c < os->nch; c++) memmove(out[c], os->hi[c], sizeof(float) * (size_t)nframes);
    return;
  }
  /* The pad: a delay of whole top-rate samples that rounds the round trip
   * up to whole base frames. */
  if (os->pad > 0) {
    int pp = os->pad_pos;
    for (int c = 0; c < os->nch; c++) {
      float *line = os->pad_hist + (size_t)c * (size_t)L, *x = os->hi[c];
      pp = os->pad_pos;
      for (int i = 0; i < nframes * L; i++) {
        float t = line[pp];
        line[pp] = x[i];
        x[i] = t;
        pp = pp + 1 == os->pad ? 0 : pp + 1;
      }
    }
    os->pad_pos = pp;
  }
  for (int s = ns - 1; s >= 0; s--) {
    mixstage__hb_stage *st = &os->st[s];
    int n = nframes << s, pos = 0, opos = 0;
    for (int c = 0; c < os->nch; c++) {
      const float *src = s == ns - 1 ? os->hi[c] : (s == 0 ? os->mid[c] : os->mid2[c]);
      float *dst = s == 0 ? out[c] : (s == 1 ? os->mid[c] : os->mid2[c]);
      pos = st->dn_pos;
      opos = st->dn_odd_pos;
      hb_down(st, st->dn_even + (size_t)c * 2 * st->hlen, st->dn_odd + (size_t)c * st->half, &pos,
              &opos, src, dst, n);
    }
    st->dn_pos = pos;
    st->dn_odd_pos = opos;
  }
}

/* ---- true peak (ITU-R BS.1770-4 Annex 2) ---------------------------------
 * Interpolation by 4 with a 127-tap (4 x 32 - 1) windowed-sinc lowpass cut at
 * the base Nyquist frequency.  Tap i = j + 4q of the prototype is phase j's
 * tap q; the centre (i = 63 = 3 + 4 * 15) falls in phase 3, whose other taps
 * sit on zeros of the sinc, so phase 3 outputs x[n - 15] exactly.  The four
 * values computed at base frame n are the signal at n - 15.75 ... n - 15. */
#define TP_T MIXSTAGE_TP_TAPS_PER_PHASE
#define TP_LEN (4 * TP_T - 1)
#define TP_CENTRE (2 * TP_T - 1)
#define TP_BETA 8.0

static void design_tp(double taps[4][TP_T]) {
  for (int j = 0; j < 4; j++) {
    double sum = 0.0;
    for (int q = 0; q < TP_T; q++) {
      int i = j + 4 * q;
      double v = 0.0;
      if (i < TP_LEN) {
        int d = i - TP_CENTRE;
        double x = OS_PI * (double)d / 4.0;
        v = (d == 0 ? 1.0 : sin(x) / x) * kaiser((double)d, (double)TP_CENTRE, TP_BETA);
      }
      taps[j][q] = v;
      sum += v;
    }
    /* Each phase passes DC exactly. */
    for (int q = 0; q < TP_T; q++) taps[j][q] /= sum;
  }
}

int mixstage__tp_latency(void) { return (TP_CENTRE - 3) / 4; }

int mixstage__tp_init(mixstage__true_peak *tp, const mixstage__allocator *a, int nch) {
  memset(tp, 0, sizeof *tp);
  if (nch < 1 || nch > MIXSTAGE_OS_MAX_CHANNELS) return MIXSTAGE_EINVAL;
  tp->hist = mixstage__calloc(a, (size_t)nch * 2 * TP_T, sizeof(float));
  if (!tp->hist) return MIXSTAGE_ENOMEM;
  tp->nch = nch;
  design_tp(tp->taps);
  return MIXSTAGE_OK;
}

void mixstage__tp_fini(mixstage__true_peak *tp, const mixstage__allocator *a) {
  if (!tp) return;
  mixstage__free(a, tp->hist);
  tp->hist = NULL;
  tp->nch = 0;
}

void mixstage__tp_reset(mixstage__true_peak *tp) {
  if (tp->hist) memset(tp->hist, 0, sizeof(float) * (size_t)tp->nch * 2 * TP_T);
  memset(tp->pos, 0, sizeof tp->pos);
}

/* One channel through the interpolator.  merge: peak[i] = max(peak[i], v)
 * instead of peak[i] = v. */
static float tp_run(double taps[4][TP_T], float *hist, int pos0, int *pos_out, const float *in,
                    int n, float *peak, int merge) {
  int pos = pos0;
  float blockmax = 0.0f;
  for (int i = 0; i < n; i++) {
    pos = (pos == 0 ? TP_T : pos) - 1;
    hist[pos] = hist[pos + TP_T] = in[i];
    const float *w = hist + pos;
    double m = 0.0;
    for (int j = 0; j < 4; j++) {
      double acc = 0.0;
      for (int q = 0; q < TP_T; q++) acc += taps[j][q] * (double)w[q];
      acc = fabs(acc);
      if (acc > m) m = acc;
    }
    float v = (float)m;
    if (peak) peak[i] = merge && peak[i] > v ? peak[i] : v;
    if (v > blockmax) blockmax = v;
  }
  *pos_out = pos;
  return blockmax;
}

float mixstage__tp_process_channel(mixstage__true_peak *tp, int c, const float *in, int nframes,
                                   float *peak) {
  return tp_run(tp->taps, tp->hist + (size_t)c * 2 * TP_T, tp->pos[c], &tp->pos[c], in, nframes,
                peak, 0);
}

float mixstage__tp_process(mixstage__true_peak *tp, const float *const *in, int nframes,
                           float *peak) {
  float m = 0.0f;
  for (int c = 0; c < tp->nch; c++) {
    float v = tp_run(tp->taps, tp->hist + (size_t)c * 2 * TP_T, tp->pos[c], &tp->pos[c], in[c],
                     nframes, peak, c > 0);
    if (v > m) m = v;
  }
  return m;
}

float mixstage__tp_block(const float *x, int64_t nframes) {
  double taps[4][TP_T];
  float hist[2 * TP_T];
  float zeros[TP_T];
  float m = 0.0f;
  int pos = 0;
  design_tp(taps);
  memset(hist, 0, sizeof hist);
  memset(zeros, 0, sizeof zeros);
  for (int64_t i = 0; i < nframes; i += 1024) {
    int n = nframes - i < 1024 ? (int)(nframes - i) : 1024;
    float v = tp_run(taps, hist, pos, &pos, x + i, n, NULL, 0);
    if (v > m) m = v;
  }
  /* Flush: the interpolated signal rings on for up to TP_T frames. */
  float v = tp_run(taps, hist, pos, &pos, zeros, TP_T, NULL, 0);
  return v > m ? v : m;
}
