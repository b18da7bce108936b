/* Check suite for lib/meters.c.
 *
 * Loudness and true peak against EBU Tech 3341 (V4, 2016) test cases 1-6 and
 * 15-19, loudness range against EBU Tech 3342 (V4) cases 1-4, all
 * synthesised here, at 44.1, 48 and 96 kHz.  The expected values and
 * tolerances are the specifications': integrated loudness -23.0 (case 2:
 * -33.0) +-0.1 LU, true peak -6.0 (case 19: +3.0) dBTP +0.2/-0.4 dB, LRA
 * +-1 LU.  The statistics (correlation, mid/side, balance, DC, clipping,
 * crest factor) are checked against closed forms.
 *
 * Runtime: the step sequences are streamed through an exact-gating meter in
 * blocks, never held whole.  At 48 kHz they are true stereo; at 44.1 and
 * 96 kHz the identical L = R pair is fed as one DUAL_MONO channel, which
 * libebur128 counts twice: the same sum of channel energies BS.1770 forms
 * for L = R, at half the cost. */
#define _GNU_SOURCE
#include <check.h>
#include <malloc.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mixstage.h"
#include "testutil.h"

#define BLOCK 4096

typedef struct step {
  double dbfs, seconds;
} step;

/* Streams a 1 kHz sine (continuous phase) whose level follows @p steps,
 * identical on @p copies channels, through @p m. */
static void push_steps(mixstage_meter *m, int copies, double fs, const step *steps, int nsteps) {
  static float buf[BLOCK * 2];
  /* 1 kHz has exactly 10 periods in 10 ms at 44.1, 48 and 96 kHz: one
   * table of fs/100 samples, read cyclically, is the whole sine. */
  static double tab[960];
  const int len = (int)(fs / 100.0);
  ck_assert(len <= 960 && len * 100.0 == fs);
  for (int i = 0; i < len; i++) tab[i] = sin(2.0 * TU_PI * 1000.0 * i / fs);
  int64_t i0 = 0;
  for (int s = 0; s < nsteps; s++) {
    const double a = pow(10.0, steps[s].dbfs / 20.0);
    int64_t n = (int64_t)llround(steps[s].seconds * fs);
    while (n > 0) {
      int k = n > BLOCK ? BLOCK : (int)n;
      for (int i = 0; i < k; i++) {
        float v = (float)(a * tab[(i0 + i) % len]);
        for (int c = 0; c < copies; c++) buf[i * copies + c] = v;
      }
      ck_assert_int_eq(mixstage_meter_push(m, buf, k), MIXSTAGE_OK);
      i0 += k;
      n -= k;
    }
  }
}

/* The report of a step sequence: stereo at 48 kHz, dual mono elsewhere. */
static void measure_steps(double fs, const step *steps, int nsteps, mixstage_meter_report *r) {
  mixstage_meter_config mc;
  mixstage_meter_config_init(&mc);
  mc.true_peak = 0;
  mc.exact_gating = 1;
  int stereo = fs == 48000.0;
  if (!stereo) mc.layout = MIXSTAGE_METER_LAYOUT_DUAL_MONO;
  int st;
  mixstage_meter *m = mixstage_meter_create(stereo ? 2 : 1, fs, BLOCK, &mc, &st);
  ck_assert_ptr_nonnull(m);
  push_steps(m, stereo ? 2 : 1, fs, steps, nsteps);
  ck_assert_int_eq(mixstage_meter_get_report(m, r), MIXSTAGE_OK);
  mixstage_meter_destroy(m);
}

static const double rates[3] = {44100.0, 48000.0, 96000.0};

/* ---- EBU Tech 3341 cases 1 and 2 ---------------------------------------- */

/* Case 1: stereo 1 kHz at -23 dBFS, 20 s: M, S and I all -23.0 +-0.1.
 * Case 2: the same at -33 dBFS: -33.0.  Measured through
 * mixstage_meter_analyse() on a whole buffer, true stereo at every rate. */
START_TEST(tech3341_cases_1_2) {
  const double fs = rates[_i / 2];
  const double level = (_i % 2) ? -33.0 : -23.0;
  const int64_t n = (int64_t)(20.0 * fs);
  float *x = malloc((size_t)n * 2 * sizeof *x);
  ck_assert_ptr_nonnull(x);
  const double a = pow(10.0, level / 20.0);
  for (int64_t i = 0; i < n; i++)
    x[2 * i] = x[2 * i + 1] = (float)(a * sin(2.0 * TU_PI * 1000.0 * (double)i / fs));
  mixstage_meter_config mc;
  mixstage_meter_config_init(&mc);
  mc.true_peak = 0;
  mixstage_meter_report r;
  ck_assert_int_eq(mixstage_meter_analyse(x, n, 2, fs, &mc, &r), MIXSTAGE_OK);
  ck_assert_double_eq_tol(r.integrated_lufs, level, 0.1);
  ck_assert_double_eq_tol(r.momentary_max_lufs, level, 0.1);
  ck_assert_double_eq_tol(r.short_term_max_lufs, level, 0.1);
  ck_assert_double_eq_tol(r.momentary_lufs, level, 0.1);
  ck_assert_double_eq_tol(r.short_term_lufs, level, 0.1);
  /* A steady tone has no loudness range (Tech 3342: LRA 0 within 1 LU). */
  ck_assert_double_le(r.loudness_range_lu, 1.0);
  ck_assert_int_eq(r.frames, n);
  mixstage_meter_report_clear(&r);
  free(x);
}
END_TEST

/* ---- EBU Tech 3341 cases 3-5: the gates ---------------------------------- */

/* Runs: cases 3 and 5 at the three rates, the 100 s case 4 at 48 kHz only
 * (runtime under valgrind). */
START_TEST(tech3341_gating) {
  const double fs = _i < 6 ? rates[_i % 3] : 48000.0;
  const int c = _i < 3 ? 0 : _i < 6 ? 2 : 1;
  /* case 3: the relative gate removes the -36 dBFS parts */
  static const step c3[] = {{-36, 10}, {-23, 60}, {-36, 10}};
  /* case 4: the absolute gate (-70 LUFS) removes the -72 dBFS parts, the
   * relative gate the -36 dBFS parts */
  static const step c4[] = {{-72, 10}, {-36, 10}, {-23, 60}, {-36, 10}, {-72, 10}};
  /* case 5: -26/-20/-26 dBFS over 20/20.1/20 s: nothing is gated, the energy
   * mean is -23.0 */
  static const step c5[] = {{-26, 20}, {-20, 20.1}, {-26, 20}};
  mixstage_meter_report r;
  if (c == 0)
    measure_steps(fs, c3, 3, &r);
  else if (c == 1)
    measure_steps(fs, c4, 5, &r);
  else
    measure_steps(fs, c5, 3, &r);
  ck_assert_double_eq_tol(r.integrated_lufs, -23.0, 0.1);
  mixstage_meter_report_clear(&r);
}
END_TEST

/* Case 6: 5.0 channels, 1 kHz, 20 s: L, R at -28 dBFS, C at -24, Ls, Rs at
 * -30 (weighted +1.5 dB): -23.0 +-0.1.  We add an LFE channel at -6 dBFS
 * in the L R C LFE Ls Rs order: BS.1770 excludes it, so a meter that counted
 * it would read about -8 LUFS.  Checked with the AUTO layout and with the
 * same roles given explicitly, in both orders. */
START_TEST(tech3341_case_6_surround) {
  const double fs = 48000.0;
  const int64_t n = (int64_t)(20.0 * fs);
  const double lv[6] = {-28, -28, -24, -6, -30, -30};
  /* explicit map in a film order: L C R Ls Rs LFE */
  const int perm[6] = {0, 2, 1, 4, 5, 3};
  float *x = malloc((size_t)n * 6 * sizeof *x), *y = malloc((size_t)n * 6 * sizeof *y);
  ck_assert_ptr_nonnull(x);
  ck_assert_ptr_nonnull(y);
  double g[6];
  for (int c = 0; c < 6; c++) g[c] = pow(10.0, lv[c] / 20.0);
  for (int64_t i = 0; i < n; i++) {
    double s = sin(2.0 * TU_PI * 1000.0 * (double)i / fs);
    for (int c = 0; c < 6; c++) x[6 * i + c] = (float)(g[c] * s);
    for (int c = 0; c < 6; c++) y[6 * i + c] = x[6 * i + perm[c]];
  }
  mixstage_meter_config mc;
  mixstage_meter_config_init(&mc);
  mc.true_peak = 0;
  mixstage_meter_report r;
  ck_assert_int_eq(mixstage_meter_analyse(x, n, 6, fs, &mc, &r), MIXSTAGE_OK);
  ck_assert_double_eq_tol(r.integrated_lufs, -23.0, 0.1);
  mixstage_meter_report_clear(&r);
  const int roles[6] = {MIXSTAGE_CHANNEL_LEFT,          MIXSTAGE_CHANNEL_CENTRE,
                        MIXSTAGE_CHANNEL_RIGHT,         MIXSTAGE_CHANNEL_LEFT_SURROUND,
                        MIXSTAGE_CHANNEL_RIGHT_SURROUND, MIXSTAGE_CHANNEL_LFE};
  mc.layout = MIXSTAGE_METER_LAYOUT_EXPLICIT;
  memcpy(mc.channel_roles, roles, sizeof roles);
  ck_assert_int_eq(mixstage_meter_analyse(y, n, 6, fs, &mc, &r), MIXSTAGE_OK);
  ck_assert_double_eq_tol(r.integrated_lufs, -23.0, 0.1);
  mixstage_meter_report_clear(&r);
  free(x);
  free(y);
}
END_TEST

/* Channel weights one by one, relative to a left channel alone: surround
 * +1.5 dB (10 log10 1.41 = 1.49), dual mono +3.01 dB, LFE and UNUSED
 * excluded (silence).  Tolerance 0.01 dB: the same signal, only the weight
 * differs. */
START_TEST(channel_roles) {
  const double fs = 48000.0;
  const int64_t n = 48000;
  float *x = malloc((size_t)n * sizeof *x);
  ck_assert_ptr_nonnull(x);
  tu_sine(x, n, 997.0, fs, 0.1, 0.0);
  mixstage_meter_config mc;
  mixstage_meter_config_init(&mc);
  mc.true_peak = 0;
  mc.layout = MIXSTAGE_METER_LAYOUT_EXPLICIT;
  const int roles[6] = {MIXSTAGE_CHANNEL_LEFT,           MIXSTAGE_CHANNEL_LEFT_SURROUND,
                        MIXSTAGE_CHANNEL_DUAL_MONO,      MIXSTAGE_CHANNEL_LFE,
                        MIXSTAGE_CHANNEL_UNUSED,         MIXSTAGE_CHANNEL_OTHER};
  double l[6];
  mixstage_meter_report r;
  for (int k = 0; k < 6; k++) {
    mc.channel_roles[0] = roles[k];
    ck_assert_int_eq(mixstage_meter_analyse(x, n, 1, fs, &mc, &r), MIXSTAGE_OK);
    l[k] = r.integrated_lufs;
    mixstage_meter_report_clear(&r);
  }
  ck_assert(isfinite(l[0]));
  ck_assert_double_eq_tol(l[1] - l[0], 10.0 * log10(1.41), 0.01);
  ck_assert_double_eq_tol(l[2] - l[0], 10.0 * log10(2.0), 0.01);
  ck_assert(isinf(l[3]) && l[3] < 0);
  ck_assert(isinf(l[4]) && l[4] < 0);
  ck_assert_double_eq_tol(l[5], l[0], 0.01);
  /* The DUAL_MONO layout equals the DUAL_MONO role. */
  mc.layout = MIXSTAGE_METER_LAYOUT_DUAL_MONO;
  ck_assert_int_eq(mixstage_meter_analyse(x, n, 1, fs, &mc, &r), MIXSTAGE_OK);
  ck_assert_double_eq_tol(r.integrated_lufs, l[2], 1e-9);
  mixstage_meter_report_clear(&r);
  free(x);
}
END_TEST

/* ---- EBU Tech 3341 cases 15-19: true peak --------------------------------- */

/* Tones at fs/4, fs/6, fs/8 whose samples miss the crest by the stated
 * phase; 1 s, stereo.  Expected -6.0 dBTP (case 19: +3.0) within +0.2/-0.4
 * dB.  The sample peak is checked too (closed form a * |sin| at the
 * nearest sample), so a meter returning the sample peak fails cases 16-19. */
START_TEST(tech3341_true_peak) {
  const double fs = rates[_i / 5];
  const int c = _i % 5;
  static const double div[5] = {4, 4, 6, 8, 4};
  static const double phase_deg[5] = {0, 45, 60, 67.5, 45};
  static const double amp_db[5] = {-6, -6, -6, -6, 3};
  const double a = pow(10.0, amp_db[c] / 20.0), f = fs / div[c];
  const double ph = phase_deg[c] * TU_PI / 180.0;
  const int64_t n = (int64_t)fs;
  float *x = malloc((size_t)n * 2 * sizeof *x);
  ck_assert_ptr_nonnull(x);
  /* sin(2 pi f t + phase) as Tech 3341 states the phases: at 0 deg a
   * sample lands on the crest of fs/4; at 45/60/67.5 deg the samples miss
   * it.  20 ms raised-cosine fades: an abrupt onset would make the
   * interpolator ring (Gibbs) above the steady-state peak the case is
   * about, so the ends are kept out of the measurement's business. */
  const int64_t fade = (int64_t)(0.02 * fs);
  double spk = 0.0;
  for (int64_t i = 0; i < n; i++) {
    double v = a * sin(2.0 * TU_PI * f * (double)i / fs + ph), g = 1.0;
    if (i < fade) g = 0.5 - 0.5 * cos(TU_PI * (double)i / (double)fade);
    if (n - 1 - i < fade) g = 0.5 - 0.5 * cos(TU_PI * (double)(n - 1 - i) / (double)fade);
    if (g == 1.0 && fabs(v) > spk) spk = fabs(v);
    x[2 * i] = x[2 * i + 1] = (float)(g * v);
  }
  /* the nearest sample to the crest: max |sin(phase + k 2 pi / div)| */
  double near = 0.0;
  for (int k = 0; k < (int)div[c]; k++) {
    double v = fabs(sin(ph + 2.0 * TU_PI * k / div[c]));
    if (v > near) near = v;
  }
  ck_assert_double_eq_tol(spk, a * near, 1e-9 * a);
  mixstage_meter_report r;
  ck_assert_int_eq(mixstage_meter_analyse(x, n, 2, fs, NULL, &r), MIXSTAGE_OK);
  const double expect = amp_db[c];
  ck_assert_double_le(r.true_peak_max_dbtp, expect + 0.2);
  ck_assert_double_ge(r.true_peak_max_dbtp, expect - 0.4);
  ck_assert_double_eq_tol(r.true_peak_dbtp[0], r.true_peak_dbtp[1], 1e-9);
  ck_assert_double_eq_tol(r.sample_peak_max_dbfs, amp_db[c] + 20.0 * log10(near), 0.01);
  mixstage_meter_report_clear(&r);
  free(x);
}
END_TEST

/* ---- true peak against an ideal interpolation ------------------------------ */

/* The band-limited (Whittaker-Shannon) interpolation of x at time t, in
 * double: sum x[n] sinc(t - n) = sin(pi t)/pi * sum x[n] (-1)^n / (t - n). */
static double sinc_interp(const float *x, int n, int stride, double t) {
  double k = floor(t);
  if (t == k && k >= 0 && k < n) return x[(int64_t)k * stride];
  double acc = 0.0;
  for (int i = 0; i < n; i++) acc += (i & 1 ? -1.0 : 1.0) * x[(int64_t)i * stride] / (t - i);
  return sin(TU_PI * t) / TU_PI * acc;
}

/* The ideal true peak of one channel: the interpolation on a 16x grid, then
 * each point within 1 dB of the grid's maximum refined on a 512x grid around
 * it.  What a perfect meter would read, to ~1e-4 dB. */
static double ideal_true_peak(const float *x, int n, int stride) {
  const int L = 16;
  double *y = malloc(sizeof(double) * (size_t)n * L);
  ck_assert_ptr_nonnull(y);
  double top = 0.0;
  for (int m = 0; m < n * L; m++) {
    y[m] = fabs(sinc_interp(x, n, stride, (double)m / L));
    if (y[m] > top) top = y[m];
  }
  double best = top;
  for (int m = 0; m < n * L; m++) {
    if (y[m] < top * 0.891) continue;
    for (int j = -32; j <= 32; j++) {
      double v = fabs(sinc_interp(x, n, stride, (double)m / L + j / 512.0));
      if (v > best) best = v;
    }
  }
  free(y);
  return best;
}

static uint32_t tp_rng = 0x9E3779B9u;
static double tp_uniform(void) { /* xorshift32, [0, 1) */
  tp_rng ^= tp_rng << 13;
  tp_rng ^= tp_rng >> 17;
  tp_rng ^= tp_rng << 5;
  return (double)tp_rng / 4294967296.0;
}

/* Raised-cosine fades at both ends, so the programme itself is band-limited
 * and neither the meter nor the ideal rings at an abrupt edge. */
static void fade_ends(float *x, int n, int ch, int fade) {
  for (int i = 0; i < fade; i++) {
    float g = (float)(0.5 - 0.5 * cos(TU_PI * (double)i / (double)fade));
    for (int c = 0; c < ch; c++) {
      x[i * ch + c] *= g;
      x[(n - 1 - i) * ch + c] *= g;
    }
  }
}

/* Tolerance: +-0.2 dB of the ideal (the Tech 3341 true-peak cases allow
 * +0.2/-0.4).  Sines from 20 Hz to 20 kHz at random phases at 44.1 and
 * 48 kHz: the ideal is the sine's amplitude.  libebur128 1.2.6 read a
 * 23 kHz tone at 48 kHz 1.3 dB low. */
START_TEST(true_peak_sines_vs_ideal) {
  const double fs = _i < 24 || _i >= 48 ? 48000.0 : 44100.0;
  const int k = _i % 24;
  /* 20 Hz .. 20 kHz; then 22 and 23 kHz at 48 kHz, above the meter's flat
   * pass band (0.4535 fs), where it may read up to 0.5 dB low. */
  const double f = _i >= 48 ? 22000.0 + 1000.0 * (_i - 48) : 20.0 * pow(1000.0, (double)k / 23.0);
  const double tol = _i >= 48 ? 0.5 : 0.2;
  tp_rng = 0x9E3779B9u + (uint32_t)_i * 7919u;
  const int n = (int)(0.3 * fs);
  float *x = malloc(sizeof(float) * (size_t)n * 2);
  ck_assert_ptr_nonnull(x);
  const double amp = 0.5, ph = 2.0 * TU_PI * tp_uniform();
  for (int i = 0; i < n; i++) x[2 * i] = x[2 * i + 1] = (float)(amp * sin(2.0 * TU_PI * f * i / fs + ph));
  fade_ends(x, n, 2, (int)(0.02 * fs));
  mixstage_meter_report r;
  ck_assert_int_eq(mixstage_meter_analyse(x, n, 2, fs, NULL, &r), MIXSTAGE_OK);
  mixstage_file_stats st;
  ck_assert_int_eq(mixstage_measure(x, n, 2, fs, &st), MIXSTAGE_OK);
  double err = r.true_peak_max_dbtp - 20.0 * log10(amp);
  ck_assert_msg(fabs(err) <= tol, "%.0f Hz at %.0f Hz: true peak %+.3f dB from the ideal", f, fs, err);
  /* The file statistics read the same figure. */
  ck_assert_double_eq_tol(st.true_peak_dbtp, r.true_peak_max_dbtp, 1e-9);
  mixstage_meter_report_clear(&r);
  free(x);
}
END_TEST

/* White noise band-limited to 20 kHz (what any 48 kHz converter or
 * resampler leaves), in place: a 511-tap Blackman-windowed sinc in double. */
static void band_limit_20k(float *x, int n, double fs) {
  const int taps = 511, c = taps / 2;
  const double fc = 20000.0 / fs;
  double *h = malloc(sizeof(double) * taps), *y = malloc(sizeof(double) * (size_t)n);
  ck_assert(h && y);
  for (int k = 0; k < taps; k++) {
    double t = k - c, w = 0.42 - 0.5 * cos(2.0 * TU_PI * k / (taps - 1)) + 0.08 * cos(4.0 * TU_PI * k / (taps - 1));
    h[k] = (t == 0.0 ? 2.0 * fc : sin(2.0 * TU_PI * fc * t) / (TU_PI * t)) * w;
  }
  for (int i = 0; i < n; i++) {
    double a = 0.0;
    for (int k = 0; k < taps; k++)
      if (i - k + c >= 0 && i - k + c < n) a += h[k] * x[i - k + c];
    y[i] = a;
  }
  for (int i = 0; i < n; i++) x[i] = (float)y[i];
  free(h);
  free(y);
}

/* Bright material: noise band-limited to 20 kHz, and such noise driven
 * 12 dB into a sample-peak limiter (inter-sample overs are what true peak is
 * for), against the ideal interpolation of the same samples.  (Noise flat to
 * fs/2 is not a fair case for any realisable interpolator: its energy just
 * below Nyquist cannot be told from its images.) */
START_TEST(true_peak_noise_vs_ideal) {
  const double fs = 48000.0;
  const int n = 2048;
  float *x = malloc(sizeof(float) * n);
  ck_assert_ptr_nonnull(x);
  tp_rng = 0x12345u + (uint32_t)_i * 104729u;
  if (_i < 3) {
    for (int i = 0; i < n; i++) x[i] = (float)(0.4 * (tp_uniform() - 0.5));
    band_limit_20k(x, n, fs);
  } else {
    /* Noise 12 dB into a limiter with a -1 dBFS sample-peak ceiling. */
    int err;
    mixstage_graph_config cfg;
    mixstage_graph_config_init(&cfg);
    cfg.mix_channels = 1;
    mixstage_graph *g = mixstage_graph_create(&cfg, &err);
    ck_assert_ptr_nonnull(g);
    const int len = 48000 + n;
    float *src = malloc(sizeof(float) * len);
    ck_assert_ptr_nonnull(src);
    for (int i = 0; i < len; i++) src[i] = (float)(0.5 * (tp_uniform() - 0.5));
    band_limit_20k(src, len, fs);
    mixstage_strip *s = mixstage_graph_add_strip(g, "noise", 1, &err);
    ck_assert_int_eq(mixstage_strip_set_source_buffer(s, src, 1, len, 0), MIXSTAGE_OK);
    mixstage_node *lim = mixstage_strip_insert(s, "limiter", MIXSTAGE_ROLE_STRIP, -1, &err);
    ck_assert_ptr_nonnull(lim);
    ck_assert_int_eq(mixstage_node_set_param_by_name(lim, "input_gain", 12.0), MIXSTAGE_OK);
    ck_assert_int_eq(mixstage_node_set_param_by_name(lim, "ceiling", -1.0), MIXSTAGE_OK);
    ck_assert_int_eq(mixstage_node_set_param_by_name(lim, "true_peak", 0.0), MIXSTAGE_OK);
    mixstage_render_config rc;
    mixstage_render_config_init(&rc);
    rc.frames = len;
    rc.max_tail_frames = 0;
    float *out = malloc(sizeof(float) * len);
    ck_assert_ptr_nonnull(out);
    ck_assert_int_eq(mixstage_graph_render(g, &rc, out, len), MIXSTAGE_OK);
    memcpy(x, out + len - n, sizeof(float) * n); /* the limiter settled */
    free(out);
    free(src);
    mixstage_graph_destroy(g);
  }
  fade_ends(x, n, 1, 64);
  double ideal = 20.0 * log10(ideal_true_peak(x, n, 1));
  mixstage_meter_report r;
  ck_assert_int_eq(mixstage_meter_analyse(x, n, 1, fs, NULL, &r), MIXSTAGE_OK);
  double err = r.true_peak_max_dbtp - ideal;
  ck_assert_msg(fabs(err) <= 0.2, "case %d: true peak %.3f dBTP, ideal %.3f (%+.3f dB; sample peak %.3f)", _i,
                r.true_peak_max_dbtp, ideal, err, r.sample_peak_max_dbfs);
  mixstage_meter_report_clear(&r);
  free(x);
}
END_TEST

/* ---- EBU Tech 3342 cases 1-4: loudness range ------------------------------ */

/* Runs: cases 1-3 at the three rates, the 100 s case 4 at 48 kHz only. */
START_TEST(tech3342_lra) {
  const double fs = _i < 9 ? rates[_i % 3] : 48000.0;
  const int c = _i < 9 ? _i / 3 : 3;
  static const step c1[] = {{-20, 20}, {-30, 20}};
  static const step c2[] = {{-20, 20}, {-15, 20}};
  static const step c3[] = {{-40, 20}, {-20, 20}};
  static const step c4[] = {{-50, 20}, {-35, 20}, {-20, 20}, {-35, 20}, {-50, 20}};
  static const double expect[4] = {10, 5, 20, 15};
  const step *s[4] = {c1, c2, c3, c4};
  mixstage_meter_report r;
  measure_steps(fs, s[c], c == 3 ? 5 : 2, &r);
  ck_assert_double_eq_tol(r.loudness_range_lu, expect[c], 1.0);
  mixstage_meter_report_clear(&r);
}
END_TEST

/* ---- the series ------------------------------------------------------------ */

/* Stereo 1 kHz at -23 dBFS for 5 s: 50 points; momentary reads -23.0 once
 * its 400 ms window is full, short-term once its 3 s window is; the first
 * point (100 ms of tone in a 400 ms window padded with silence) reads a
 * quarter of the energy, -23 - 6.02 dB.  Tolerances 0.1 LU (Tech 3341). */
START_TEST(series) {
  const double fs = 48000.0;
  const int64_t n = (int64_t)(5.0 * fs);
  float *x = malloc((size_t)n * 2 * sizeof *x);
  ck_assert_ptr_nonnull(x);
  const double a = pow(10.0, -23.0 / 20.0);
  for (int64_t i = 0; i < n; i++)
    x[2 * i] = x[2 * i + 1] = (float)(a * sin(2.0 * TU_PI * 1000.0 * (double)i / fs));
  mixstage_meter_report r;
  ck_assert_int_eq(mixstage_meter_analyse(x, n, 2, fs, NULL, &r), MIXSTAGE_OK);
  ck_assert_int_eq(r.series_count, 50);
  ck_assert_int_eq(r.series_truncated, 0);
  ck_assert_double_eq_tol(r.momentary_series[0], -23.0 - 10.0 * log10(4.0), 0.1);
  for (int k = 3; k < 50; k++) ck_assert_double_eq_tol(r.momentary_series[k], -23.0, 0.1);
  for (int k = 29; k < 50; k++) ck_assert_double_eq_tol(r.short_term_series[k], -23.0, 0.1);
  ck_assert_double_lt(r.short_term_series[0], -23.0 - 10.0 * log10(30.0) + 0.1);
  mixstage_meter_report_clear(&r);
  ck_assert_ptr_null(r.momentary_series);

  /* A streaming meter keeping at most 2 s: 20 points, then truncated. */
  mixstage_meter_config mc;
  mixstage_meter_config_init(&mc);
  mc.series_max_seconds = 2.0;
  int st;
  mixstage_meter *m = mixstage_meter_create(2, fs, 1000, &mc, &st);
  ck_assert_ptr_nonnull(m);
  for (int64_t i = 0; i < n; i += 1000) ck_assert_int_eq(mixstage_meter_push(m, x + 2 * i, 1000), 0);
  ck_assert_int_eq(mixstage_meter_get_report(m, &r), MIXSTAGE_OK);
  ck_assert_int_eq(r.series_count, 20);
  ck_assert_int_eq(r.series_truncated, 1);
  ck_assert_double_eq_tol(r.momentary_series[19], -23.0, 0.1);
  mixstage_meter_report_clear(&r);
  double mo, sh;
  ck_assert_int_eq(mixstage_meter_loudness_now(m, &mo, &sh), MIXSTAGE_OK);
  ck_assert_double_eq_tol(mo, -23.0, 0.1);
  ck_assert_double_eq_tol(sh, -23.0, 0.1);
  mixstage_meter_destroy(m);
  free(x);
}
END_TEST

/* ---- streaming: block-split invariance, histogram accuracy, no allocation -- */

static void fill_programme(float *x, int64_t n, double fs) {
  /* noise bursts over a tone, with a level step: exercises both gates */
  tu_noise(x, 2 * n, 0.3, 99u);
  for (int64_t i = 0; i < n; i++) {
    double g = (i < n / 2) ? 1.0 : 0.2;
    double s = 0.2 * sin(2.0 * TU_PI * 220.0 * (double)i / fs);
    x[2 * i] = (float)(g * (x[2 * i] * ((i / 4800) % 3 == 0) + s));
    x[2 * i + 1] = (float)(g * (x[2 * i + 1] * ((i / 4800) % 3 == 0) - s));
  }
}

/* Blocks of 1..37 frames and blocks of 4096 give bit-identical reports
 * (everything is sample-sequential); the histogram meter agrees with the
 * exact analysis within 0.05 LU (half a 0.1 LU bin). */
START_TEST(stream_equivalence) {
  const double fs = 48000.0;
  const int64_t n = 8 * 48000;
  float *x = malloc((size_t)n * 2 * sizeof *x);
  ck_assert_ptr_nonnull(x);
  fill_programme(x, n, fs);
  mixstage_meter *a = mixstage_meter_create(2, fs, 4096, NULL, NULL);
  mixstage_meter *b = mixstage_meter_create(2, fs, 4096, NULL, NULL);
  ck_assert_ptr_nonnull(a);
  ck_assert_ptr_nonnull(b);
  for (int64_t i = 0; i < n;) {
    int k = (int)(1 + (i * 7919) % 37);
    if (k > n - i) k = (int)(n - i);
    ck_assert_int_eq(mixstage_meter_push(a, x + 2 * i, k), MIXSTAGE_OK);
    i += k;
  }
  for (int64_t i = 0; i < n; i += 4096) {
    int k = n - i < 4096 ? (int)(n - i) : 4096;
    ck_assert_int_eq(mixstage_meter_push(b, x + 2 * i, k), MIXSTAGE_OK);
  }
  mixstage_meter_report ra, rb, re;
  ck_assert_int_eq(mixstage_meter_get_report(a, &ra), MIXSTAGE_OK);
  ck_assert_int_eq(mixstage_meter_get_report(b, &rb), MIXSTAGE_OK);
  ck_assert_int_eq(mixstage_meter_analyse(x, n, 2, fs, NULL, &re), MIXSTAGE_OK);
  ck_assert(ra.integrated_lufs == rb.integrated_lufs);
  ck_assert(ra.loudness_range_lu == rb.loudness_range_lu);
  ck_assert(ra.true_peak_max_dbtp == rb.true_peak_max_dbtp);
  ck_assert(ra.correlation == rb.correlation);
  ck_assert_int_eq(ra.series_count, rb.series_count);
  ck_assert_int_eq(ra.series_count, 80);
  ck_assert(memcmp(ra.momentary_series, rb.momentary_series, 80 * sizeof(double)) == 0);
  ck_assert(memcmp(ra.short_term_series, rb.short_term_series, 80 * sizeof(double)) == 0);
  ck_assert(memcmp(ra.momentary_series, re.momentary_series, 80 * sizeof(double)) == 0);
  ck_assert_double_eq_tol(ra.integrated_lufs, re.integrated_lufs, 0.05);
  ck_assert_double_eq_tol(ra.loudness_range_lu, re.loudness_range_lu, 0.1);
  ck_assert(ra.true_peak_max_dbtp == re.true_peak_max_dbtp);
  /* the level step makes a loudness range well above zero */
  ck_assert_double_gt(re.loudness_range_lu, 5.0);
  mixstage_meter_report_clear(&ra);
  mixstage_meter_report_clear(&rb);
  mixstage_meter_report_clear(&re);
  mixstage_meter_destroy(a);
  mixstage_meter_destroy(b);
  free(x);
}
END_TEST

/* glibc's heap in use (bytes), or -1 when unknown (valgrind's allocator
 * reports zeros). */
static long heap_in_use(void) {
  struct mallinfo2 mi = mallinfo2();
  if (mi.uordblks == 0 && mi.hblkhd == 0) return -1;
  return (long)(mi.uordblks + mi.hblkhd);
}

/* push() in the default (histogram) mode allocates nothing: the heap in use
 * is unchanged after 20 s of audio with every reading on.  The control, an
 * exact-gating meter, must grow (one block per 100 ms), which shows the
 * probe can see libebur128's allocations. */
START_TEST(push_does_not_allocate) {
  const double fs = 48000.0;
  static float buf[2 * 480];
  tu_noise(buf, 2 * 480, 0.5, 7u);
  mixstage_meter_config mc;
  mixstage_meter_config_init(&mc);
  for (int exact = 0; exact <= 1; exact++) {
    mc.exact_gating = exact;
    mixstage_meter *m = mixstage_meter_create(2, fs, 480, &mc, NULL);
    ck_assert_ptr_nonnull(m);
    ck_assert_int_eq(mixstage_meter_push(m, buf, 480), MIXSTAGE_OK); /* warm up */
    long before = heap_in_use();
    for (int k = 0; k < 2000; k++) ck_assert_int_eq(mixstage_meter_push(m, buf, 480), 0);
    long after = heap_in_use();
    if (before >= 0 && after >= 0) {
      if (exact)
        ck_assert_int_gt(after - before, 1000);
      else
        ck_assert_int_eq(after - before, 0);
    }
    mixstage_meter_destroy(m);
  }
}
END_TEST

/* ---- statistics -------------------------------------------------------------- */

static void analyse2(const float *x, int64_t n, mixstage_meter_report *r) {
  mixstage_meter_config mc;
  mixstage_meter_config_init(&mc);
  mc.true_peak = 0;
  ck_assert_int_eq(mixstage_meter_analyse(x, n, 2, 48000.0, &mc, r), MIXSTAGE_OK);
}

/* Correlation, balance and mid/side for L = R, L = -R, independent noise,
 * and L = s, R = s/2.  Independent noise over N = 48000 frames has a
 * correlation with standard deviation 1/sqrt(N) = 0.0046: |c| < 0.02 is
 * 4.3 sigma (the seeds are fixed, so the test is deterministic anyway). */
START_TEST(stereo_image) {
  const int64_t n = 48000;
  float *x = malloc((size_t)n * 2 * sizeof *x), *l = malloc((size_t)n * sizeof *l),
        *rr = malloc((size_t)n * sizeof *rr);
  ck_assert_ptr_nonnull(x);
  ck_assert_ptr_nonnull(l);
  ck_assert_ptr_nonnull(rr);
  tu_noise(l, n, 0.5, 1u);
  tu_noise(rr, n, 0.5, 2u);
  mixstage_meter_report r;

  for (int64_t i = 0; i < n; i++) x[2 * i] = x[2 * i + 1] = l[i];
  analyse2(x, n, &r);
  ck_assert_double_eq_tol(r.correlation, 1.0, 1e-9);
  ck_assert_double_eq_tol(r.balance_db, 0.0, 1e-9);
  ck_assert(isinf(r.mid_side_ratio_db) && r.mid_side_ratio_db > 0);
  ck_assert_double_eq_tol(r.mid_rms_dbfs, r.rms_dbfs[0], 1e-6);
  mixstage_meter_report_clear(&r);

  for (int64_t i = 0; i < n; i++) x[2 * i] = l[i], x[2 * i + 1] = -l[i];
  analyse2(x, n, &r);
  ck_assert_double_eq_tol(r.correlation, -1.0, 1e-9);
  ck_assert(isinf(r.mid_side_ratio_db) && r.mid_side_ratio_db < 0);
  ck_assert_double_eq_tol(r.side_rms_dbfs, r.rms_dbfs[0], 1e-6);
  mixstage_meter_report_clear(&r);

  for (int64_t i = 0; i < n; i++) x[2 * i] = l[i], x[2 * i + 1] = rr[i];
  analyse2(x, n, &r);
  ck_assert_double_lt(fabs(r.correlation), 0.02);
  /* M/S energies differ by 2 sum(LR) / (sum L^2 + sum R^2) ~ correlation:
   * 0.2 dB allows |c| up to 0.023 */
  ck_assert_double_eq_tol(r.mid_side_ratio_db, 0.0, 0.2);
  ck_assert_double_eq_tol(r.balance_db, 0.0, 0.1);
  mixstage_meter_report_clear(&r);

  /* L = s, R = s / 2: balance +6.02 dB; mid 0.75 s, side 0.25 s: 9.54 dB */
  for (int64_t i = 0; i < n; i++) x[2 * i] = l[i], x[2 * i + 1] = 0.5f * l[i];
  analyse2(x, n, &r);
  ck_assert_double_eq_tol(r.balance_db, 20.0 * log10(2.0), 1e-4);
  ck_assert_double_eq_tol(r.mid_side_ratio_db, 20.0 * log10(3.0), 1e-4);
  ck_assert_double_eq_tol(r.correlation, 1.0, 1e-9);
  mixstage_meter_report_clear(&r);

  /* Right silent: balance +inf, correlation undefined */
  for (int64_t i = 0; i < n; i++) x[2 * i] = l[i], x[2 * i + 1] = 0.0f;
  analyse2(x, n, &r);
  ck_assert(isinf(r.balance_db) && r.balance_db > 0);
  ck_assert(isnan(r.correlation));
  mixstage_meter_report_clear(&r);
  free(x);
  free(l);
  free(rr);
}
END_TEST

/* RMS, crest factor, DC offset and clipping.  A 1 kHz sine at 48 kHz (48
 * samples a period, one on each crest) over whole periods: RMS a/sqrt 2,
 * crest 3.01 dB; a square wave has crest 0 dB.  Offsets of the sine by
 * +0.1 and -0.25 read back exactly (whole periods sum to zero): tolerance
 * 1e-6 for float rounding.  Clipping: 37 samples planted at +1.0, 5 at
 * -1.2 and 3 at 0.999 (below full scale, not counted) in noise of
 * amplitude 0.5. */
START_TEST(levels_dc_clipping) {
  const int64_t n = 48000;
  float *x = malloc((size_t)n * 2 * sizeof *x);
  ck_assert_ptr_nonnull(x);
  for (int64_t i = 0; i < n; i++) {
    double s = 0.5 * sin(2.0 * TU_PI * 1000.0 * (double)i / 48000.0);
    x[2 * i] = (float)(s + 0.1);
    x[2 * i + 1] = (float)(s - 0.25);
  }
  mixstage_meter_report r;
  analyse2(x, n, &r);
  ck_assert_double_eq_tol(r.dc_offset[0], 0.1, 1e-6);
  ck_assert_double_eq_tol(r.dc_offset[1], -0.25, 1e-6);
  mixstage_meter_report_clear(&r);

  for (int64_t i = 0; i < n; i++)
    x[2 * i] = (float)(0.5 * sin(2.0 * TU_PI * 1000.0 * (double)i / 48000.0)),
    x[2 * i + 1] = (i / 24) % 2 ? 0.25f : -0.25f;
  analyse2(x, n, &r);
  ck_assert_double_eq_tol(r.rms_dbfs[0], 20.0 * log10(0.5 / sqrt(2.0)), 1e-4);
  ck_assert_double_eq_tol(r.crest_db[0], 10.0 * log10(2.0), 0.01);
  ck_assert_double_eq_tol(r.crest_db[1], 0.0, 1e-6);
  ck_assert_double_eq_tol(r.rms_dbfs[1], 20.0 * log10(0.25), 1e-6);
  ck_assert_double_eq_tol(r.sample_peak_max_dbfs, 20.0 * log10(0.5), 1e-4);
  ck_assert_int_eq(r.clipped_total, 0);
  mixstage_meter_report_clear(&r);

  tu_noise(x, 2 * n, 0.5, 3u);
  for (int k = 0; k < 37; k++) x[2 * (k * 1000 + 11)] = 1.0f;
  for (int k = 0; k < 5; k++) x[2 * (k * 999 + 5) + 1] = -1.2f;
  for (int k = 0; k < 3; k++) x[2 * (k * 777 + 3) + 1] = 0.999f;
  analyse2(x, n, &r);
  ck_assert_int_eq(r.clipped_samples[0], 37);
  ck_assert_int_eq(r.clipped_samples[1], 5);
  ck_assert_int_eq(r.clipped_total, 42);
  ck_assert_double_eq_tol(r.sample_peak_dbfs[1], 20.0 * log10(1.2), 1e-5);
  mixstage_meter_report_clear(&r);
  /* a lower clip level counts the 0.999 samples too */
  mixstage_meter_config mc;
  mixstage_meter_config_init(&mc);
  mc.clip_level = 0.99;
  ck_assert_int_eq(mixstage_meter_analyse(x, n, 2, 48000.0, &mc, &r), MIXSTAGE_OK);
  ck_assert_int_eq(r.clipped_samples[1], 8);
  mixstage_meter_report_clear(&r);
  free(x);
}
END_TEST

/* Silence and empty input: levels -inf, undefined ratios NAN, no series. */
START_TEST(silence_and_empty) {
  static float z[2 * 4800];
  mixstage_meter_report r;
  ck_assert_int_eq(mixstage_meter_analyse(z, 4800, 2, 48000.0, NULL, &r), MIXSTAGE_OK);
  ck_assert(isinf(r.integrated_lufs) && r.integrated_lufs < 0);
  ck_assert(isinf(r.rms_total_dbfs) && r.rms_total_dbfs < 0);
  ck_assert(isinf(r.true_peak_max_dbtp) && r.true_peak_max_dbtp < 0);
  ck_assert(isnan(r.correlation));
  ck_assert(isnan(r.balance_db));
  ck_assert(isnan(r.mid_side_ratio_db));
  ck_assert(isnan(r.crest_total_db));
  ck_assert_double_eq(r.loudness_range_lu, 0.0);
  ck_assert_int_eq(r.series_count, 1);
  mixstage_meter_report_clear(&r);
  ck_assert_int_eq(mixstage_meter_analyse(NULL, 0, 1, 48000.0, NULL, &r), MIXSTAGE_OK);
  ck_assert_int_eq(r.frames, 0);
  ck_assert_int_eq(r.series_count, 0);
  ck_assert(isnan(r.correlation));
  mixstage_meter_report_clear(&r);
}
END_TEST

/* Every documented error. */
START_TEST(api_errors) {
  static float x[2 * 64];
  mixstage_meter_config mc;
  mixstage_meter_report r;
  mixstage_meter_config_init(&mc);
  mixstage_meter_config_init(NULL);
  mixstage_meter_report_clear(NULL);
  mixstage_meter_destroy(NULL);
  ck_assert_int_eq(mixstage_meter_analyse(x, 64, 2, 48000, NULL, NULL), MIXSTAGE_ENULL);
  ck_assert_int_eq(mixstage_meter_analyse(NULL, 64, 2, 48000, NULL, &r), MIXSTAGE_ENULL);
  ck_assert_int_eq(mixstage_meter_analyse(x, -1, 2, 48000, NULL, &r), MIXSTAGE_EINVAL);
  ck_assert_int_eq(mixstage_meter_analyse(x, 64, 0, 48000, NULL, &r), MIXSTAGE_ECHANNELS);
  ck_assert_int_eq(mixstage_meter_analyse(x, 4, 17, 48000, NULL, &r), MIXSTAGE_ECHANNELS);
  ck_assert_int_eq(mixstage_meter_analyse(x, 64, 2, 7999, NULL, &r), MIXSTAGE_EINVAL);
  ck_assert_int_eq(mixstage_meter_analyse(x, 64, 2, 44100.5, NULL, &r), MIXSTAGE_EINVAL);
  ck_assert_int_eq(mixstage_meter_analyse(x, 64, 2, NAN, NULL, &r), MIXSTAGE_EINVAL);
  mc.layout = MIXSTAGE_METER_LAYOUT_DUAL_MONO;
  ck_assert_int_eq(mixstage_meter_analyse(x, 64, 2, 48000, &mc, &r), MIXSTAGE_ECHANNELS);
  mc.layout = 9;
  ck_assert_int_eq(mixstage_meter_analyse(x, 64, 2, 48000, &mc, &r), MIXSTAGE_EINVAL);
  mc.layout = MIXSTAGE_METER_LAYOUT_EXPLICIT;
  mc.channel_roles[1] = 99;
  ck_assert_int_eq(mixstage_meter_analyse(x, 64, 2, 48000, &mc, &r), MIXSTAGE_EINVAL);
  mixstage_meter_config_init(&mc);
  mc.clip_level = 0.0;
  ck_assert_int_eq(mixstage_meter_analyse(x, 64, 2, 48000, &mc, &r), MIXSTAGE_EINVAL);
  mixstage_meter_config_init(&mc);
  mc.right_channel = 0;
  ck_assert_int_eq(mixstage_meter_analyse(x, 64, 2, 48000, &mc, &r), MIXSTAGE_EINVAL);
  mc.right_channel = 2;
  ck_assert_int_eq(mixstage_meter_analyse(x, 64, 2, 48000, &mc, &r), MIXSTAGE_EINVAL);
  /* one channel ignores the stereo pair */
  ck_assert_int_eq(mixstage_meter_analyse(x, 64, 1, 48000, &mc, &r), MIXSTAGE_OK);
  mixstage_meter_report_clear(&r);

  int st = 1;
  ck_assert_ptr_null(mixstage_meter_create(2, 48000, 0, NULL, &st));
  ck_assert_int_eq(st, MIXSTAGE_EBLOCKSIZE);
  ck_assert_ptr_null(mixstage_meter_create(2, 48000, 1048577, NULL, &st));
  ck_assert_int_eq(st, MIXSTAGE_EBLOCKSIZE);
  ck_assert_ptr_null(mixstage_meter_create(0, 48000, 64, NULL, &st));
  ck_assert_int_eq(st, MIXSTAGE_ECHANNELS);
  mixstage_meter_config_init(&mc);
  mc.series_max_seconds = -1;
  ck_assert_ptr_null(mixstage_meter_create(2, 48000, 64, &mc, &st));
  ck_assert_int_eq(st, MIXSTAGE_EINVAL);
  mc.series_max_seconds = INFINITY;
  ck_assert_ptr_null(mixstage_meter_create(2, 48000, 64, &mc, NULL));
  mixstage_meter *m = mixstage_meter_create(2, 48000, 64, NULL, &st);
  ck_assert_ptr_nonnull(m);
  ck_assert_int_eq(st, MIXSTAGE_OK);
  ck_assert_int_eq(mixstage_meter_push(NULL, x, 64), MIXSTAGE_ENULL);
  ck_assert_int_eq(mixstage_meter_push(m, NULL, 64), MIXSTAGE_ENULL);
  ck_assert_int_eq(mixstage_meter_push(m, NULL, 0), MIXSTAGE_OK);
  ck_assert_int_eq(mixstage_meter_push(m, x, 65), MIXSTAGE_EBLOCKSIZE);
  ck_assert_int_eq(mixstage_meter_push(m, x, -1), MIXSTAGE_EBLOCKSIZE);
  ck_assert_int_eq(mixstage_meter_loudness_now(NULL, NULL, NULL), MIXSTAGE_ENULL);
  ck_assert_int_eq(mixstage_meter_loudness_now(m, NULL, NULL), MIXSTAGE_OK);
  ck_assert_int_eq(mixstage_meter_get_report(NULL, &r), MIXSTAGE_ENULL);
  ck_assert_int_eq(mixstage_meter_get_report(m, NULL), MIXSTAGE_ENULL);
  mixstage_meter_destroy(m);

  ck_assert_str_eq(mixstage_channel_role_name(MIXSTAGE_CHANNEL_LFE), "lfe");
  ck_assert_str_eq(mixstage_channel_role_name(MIXSTAGE_CHANNEL_OTHER), "other");
  ck_assert_ptr_null(mixstage_channel_role_name(MIXSTAGE_CHANNEL_OTHER + 1));
  ck_assert_ptr_null(mixstage_channel_role_name(-1));
}
END_TEST

static Suite *meters_suite(void) {
  Suite *s = suite_create("meters");
  TCase *ebu = tcase_create("ebu");
  tcase_add_loop_test(ebu, tech3341_cases_1_2, 0, 6);
  tcase_add_loop_test(ebu, tech3341_gating, 0, 7);
  tcase_add_test(ebu, tech3341_case_6_surround);
  tcase_add_test(ebu, channel_roles);
  tcase_add_loop_test(ebu, tech3341_true_peak, 0, 15);
  tcase_add_loop_test(ebu, tech3342_lra, 0, 10);
  tcase_add_loop_test(ebu, true_peak_sines_vs_ideal, 0, 50);
  tcase_add_loop_test(ebu, true_peak_noise_vs_ideal, 0, 6);
  tcase_set_timeout(ebu, 300); /* generous for valgrind */
  suite_add_tcase(s, ebu);
  TCase *st = tcase_create("stream");
  tcase_add_test(st, series);
  tcase_add_test(st, stream_equivalence);
  tcase_add_test(st, push_does_not_allocate);
  tcase_set_timeout(st, 120);
  suite_add_tcase(s, st);
  TCase *stats = tcase_create("stats");
  tcase_add_test(stats, stereo_image);
  tcase_add_test(stats, levels_dc_clipping);
  tcase_add_test(stats, silence_and_empty);
  tcase_add_test(stats, api_errors);
  tcase_set_timeout(stats, 120);
  suite_add_tcase(s, stats);
  return s;
}

int main(void) {
  SRunner *sr = srunner_create(meters_suite());
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
