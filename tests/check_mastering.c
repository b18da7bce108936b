/* Check suite for the mastering nodes: multiband, width, tilt_eq.
 *
 * Every expectation is computed independently of the library's DSP: the
 * crossover, tilt and shelf responses come from their analogue prototypes
 * mapped through the bilinear transform (on the unit circle the digital
 * response at f is the analogue response at s = j tan(pi f/fs)/tan(pi fc/fs)
 * for a design pre-warped at fc), never from lib/dsp/biquad.c.
 */
#include <check.h>
#include <complex.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "node.h"
#include "testutil.h"

#define SQRT2 1.41421356237309504880

/* ---------------------------------------------------------------- helpers */

static mixstage__node_host *mk(const char *type, int nch, double fs) {
  int err = -1;
  mixstage__node_host *h = mixstage__host_create(type, nch, fs, 120.0, &err);
  ck_assert_msg(h != NULL && err == MIXSTAGE_OK, "create %s: %d", type, err);
  return h;
}

static void setp(mixstage__node_host *h, const char *name, double v) {
  int rc = mixstage__host_set(h, name, v);
  ck_assert_msg(rc == MIXSTAGE_OK, "set %s = %g: %d", name, v, rc);
}

static void setband(mixstage__node_host *h, int band, const char *field, double v) {
  char name[64];
  snprintf(name, sizeof name, "band%d_%s", band, field);
  setp(h, name, v);
}

static float **planar(int nch, int64_t n) {
  float **b = calloc((size_t)nch, sizeof *b);
  ck_assert_ptr_nonnull(b);
  for (int c = 0; c < nch; c++) {
    b[c] = calloc((size_t)n, sizeof(float));
    ck_assert_ptr_nonnull(b[c]);
  }
  return b;
}

static void planar_free(float **b, int nch) {
  for (int c = 0; c < nch; c++) free(b[c]);
  free(b);
}

/* H(f) of an impulse response h[0..n-1] (the IR has decayed by n). */
static double complex dft_at(const float *h, int n, double f, double fs) {
  double complex acc = 0.0, w = 1.0, step = cexp(-2.0 * I * TU_PI * f / fs);
  for (int i = 0; i < n; i++) {
    acc += (double)h[i] * w;
    w *= step;
  }
  return acc;
}

/* The 40 log-spaced test frequencies, 20 Hz .. 20 kHz. */
static double logfreq(int k) { return 20.0 * pow(1000.0, (double)k / 39.0); }

/* Pre-warped normalised Laplace variable for a design at fc. */
static double complex sn(double f, double fc, double fs) {
  return I * tan(TU_PI * f / fs) / tan(TU_PI * fc / fs);
}
static double complex bw_den(double complex s) { return s * s + SQRT2 * s + 1.0; }
/* LR4 = Butterworth-2 squared; A = LP + HP = (s^2 - sqrt2 s + 1)/(s^2 + sqrt2 s + 1). */
static double complex lr4_lp(double f, double fc, double fs) {
  double complex d = bw_den(sn(f, fc, fs));
  return 1.0 / (d * d);
}
static double complex lr4_hp(double f, double fc, double fs) {
  double complex s = sn(f, fc, fs), d = bw_den(s);
  return (s * s * s * s) / (d * d);
}
static double complex lr4_ap(double f, double fc, double fs) {
  double complex s = sn(f, fc, fs);
  return (s * s - SQRT2 * s + 1.0) / bw_den(s);
}

/* Analytic band responses of the phase-compensated tree (see multiband.c). */
static void mb_bands(double f, int nb, const double *xf, double fs, double complex *hb) {
  double complex l1 = lr4_lp(f, xf[0], fs), h1 = lr4_hp(f, xf[0], fs);
  double complex l2 = lr4_lp(f, xf[1], fs), h2 = lr4_hp(f, xf[1], fs);
  double complex a2 = lr4_ap(f, xf[1], fs);
  if (nb == 3) {
    hb[0] = a2 * l1;
    hb[1] = l2 * h1;
    hb[2] = h2 * h1;
    return;
  }
  double complex l3 = lr4_lp(f, xf[2], fs), h3 = lr4_hp(f, xf[2], fs);
  double complex a3 = lr4_ap(f, xf[2], fs);
  hb[0] = a3 * a2 * l1;
  hb[1] = a3 * l2 * h1;
  hb[2] = l3 * h2 * h1;
  hb[3] = h3 * h2 * h1;
}

static double complex mb_total(double f, int nb, const double *xf, double fs, const double *g) {
  double complex hb[4], t = 0.0;
  mb_bands(f, nb, xf, fs, hb);
  for (int b = 0; b < nb; b++) t += g[b] * hb[b];
  return t;
}

/* Parameters set through the host take effect at the next control cell
 * and gains ramp across that cell; run two cells of silence so the
 * measurement starts with every value settled (the filters stay at rest). */
static void settle(mixstage__node_host *h, int nch) {
  float **z = planar(nch, 2 * MIXSTAGE_CONTROL_FRAMES);
  mixstage__host_process(h, z, 2 * MIXSTAGE_CONTROL_FRAMES, NULL, 0);
  for (int c = 0; c < nch; c++)
    for (int i = 0; i < 2 * MIXSTAGE_CONTROL_FRAMES; i++) ck_assert(z[c][i] == 0.0f);
  planar_free(z, nch);
}

/* Impulse response of channel 0 of a node (amplitude amp, n frames), the
 * other channels fed the same impulse. */
static float *impulse_response(mixstage__node_host *h, int nch, int n, double amp) {
  settle(h, nch);
  float **b = planar(nch, n);
  for (int c = 0; c < nch; c++) b[c][0] = (float)amp;
  mixstage__host_process(h, b, n, NULL, 0);
  float *ir = b[0];
  for (int c = 1; c < nch; c++) {
    /* every channel sees the same impulse, so it must give the same IR */
    ck_assert_msg(memcmp(b[c], b[0], sizeof(float) * (size_t)n) == 0, "channel %d differs", c);
    free(b[c]);
  }
  free(b);
  for (int i = 0; i < n; i++) ir[i] = (float)(ir[i] / amp);
  return ir;
}

static int all_finite(float *const *b, int nch, int64_t n) {
  for (int c = 0; c < nch; c++)
    for (int64_t i = 0; i < n; i++)
      if (!isfinite(b[c][i])) return 0;
  return 1;
}

/* ---------------------------------------------------------- param tables */

static void check_table(const char *type, const char *const *names, int count) {
  const mixstage__node_class *cls = mixstage__find_node_class(type);
  ck_assert_ptr_nonnull(cls);
  ck_assert_int_eq(cls->num_params, count);
  for (int i = 0; i < count; i++) {
    const mixstage_param_info *p = &cls->params[i];
    ck_assert_int_eq(p->id, i);
    ck_assert_str_eq(p->name, names[i]);
    ck_assert_ptr_nonnull(p->label);
    ck_assert(p->min < p->max && p->def >= p->min && p->def <= p->max);
    ck_assert(p->unit == MIXSTAGE_UNIT_ENUM ? p->choices != NULL : p->choices == NULL);
  }
}

START_TEST(test_param_tables) {
  static const char *const mb[] = {
      "bands",           "xover1",         "xover2",        "xover3",         "band1_threshold",
      "band1_ratio",     "band1_attack",   "band1_release", "band1_gain",     "band2_threshold",
      "band2_ratio",     "band2_attack",   "band2_release", "band2_gain",     "band3_threshold",
      "band3_ratio",     "band3_attack",   "band3_release", "band3_gain",     "band4_threshold",
      "band4_ratio",     "band4_attack",   "band4_release", "band4_gain",     "knee",
      "link",            "output"};
  static const char *const wd[] = {"width", "bass_mono", "bass_mono_freq", "output"};
  static const char *const te[] = {"tilt",           "tilt_freq",       "low_shelf_gain",
                                   "low_shelf_freq", "high_shelf_gain", "high_shelf_freq",
                                   "output"};
  check_table("multiband", mb, 27);
  check_table("width", wd, 4);
  check_table("tilt_eq", te, 7);
  ck_assert_str_eq(mixstage__find_node_class("multiband")->params[0].choices, "3|4");
}
END_TEST

/* ------------------------------------------------------------- multiband */

/* No band compressing: the bands must sum to the all-pass A1 A2 (A3).
 * Spec: flat within 0.05 dB.  The node runs in double and rounds to float
 * once, so the measured error is ~1e-6 dB; we assert 0.01 dB, and also the
 * complex response against the analytic all-pass within 1e-4 (a missing
 * all-pass compensation on a lower band gives dips of several dB and a
 * complex error of order 1, so both checks can fail). */
START_TEST(test_mb_flat_sum) {
  static const double rates[] = {44100.0, 48000.0};
  double worst_db = 0.0, worst_c = 0.0;
  for (int ri = 0; ri < 2; ri++)
    for (int nb = 3; nb <= 4; nb++)
      for (int variant = 0; variant < 2; variant++) {
        double fs = rates[ri];
        mixstage__node_host *h = mk("multiband", 2, fs);
        setp(h, "bands", nb == 4 ? 1.0 : 0.0);
        double xf[3] = {120.0, 1000.0, 6000.0};
        if (variant) { /* the extremes of the ranges: lowest and highest corners */
          xf[0] = 20.0;
          xf[1] = 200.0;
          xf[2] = 16000.0;
          if (nb == 3) xf[1] = 8000.0;
        }
        setp(h, "xover1", xf[0]);
        setp(h, "xover2", xf[1]);
        setp(h, "xover3", xf[2]);
        for (int b = 1; b <= 4; b++) setband(h, b, "threshold", 0.0);
        /* 32768 frames: an LR4 at 20 Hz has decayed by > 140 dB by then. */
        int n = 32768;
        float *ir = impulse_response(h, 2, n, 0.25);
        ck_assert_float_eq(mixstage__host_gain_reduction(h), 0.0f);
        double g[4] = {1, 1, 1, 1};
        for (int k = 0; k < 40; k++) {
          double f = logfreq(k);
          double complex m = dft_at(ir, n, f, fs);
          double dev = fabs(20.0 * log10(cabs(m)));
          double complex ref = mb_total(f, nb, xf, fs, g);
          double cd = cabs(m - ref);
          if (dev > worst_db) worst_db = dev;
          if (cd > worst_c) worst_c = cd;
          ck_assert_msg(dev < 0.01, "fs %g, %d bands, variant %d: %.6f dB at %.1f Hz", fs, nb,
                        variant, dev, f);
          ck_assert_msg(cd < 1e-4, "fs %g, %d bands: complex error %g at %.1f Hz", fs, nb, cd, f);
        }
        free(ir);
        mixstage__host_destroy(h);
      }
  printf("multiband flat sum: max |dB| deviation %.3g dB, max complex error %.3g\n", worst_db,
         worst_c);
}
END_TEST

/* Per-band gain lands in its band: the IR must match sum_b g_b H_b within
 * 0.05 dB at 40 frequencies (float output rounding is ~1e-6 dB; the margin
 * covers the truncation of the DFT, < 1e-7). */
static void check_band_gains(double fs, int nb, const double *set_xf, const double *eff_xf,
                             const double *gdb) {
  mixstage__node_host *h = mk("multiband", 2, fs);
  setp(h, "bands", nb == 4 ? 1.0 : 0.0);
  setp(h, "xover1", set_xf[0]);
  setp(h, "xover2", set_xf[1]);
  setp(h, "xover3", set_xf[2]);
  double g[4];
  for (int b = 1; b <= 4; b++) {
    setband(h, b, "threshold", 0.0);
    setband(h, b, "gain", gdb[b - 1]);
    g[b - 1] = pow(10.0, gdb[b - 1] / 20.0);
  }
  int n = 16384;
  /* -30 dBFS impulse: with +6 dB band gain no band reaches the 0 dB knee. */
  float *ir = impulse_response(h, 2, n, 0.03);
  for (int k = 0; k < 40; k++) {
    double f = logfreq(k);
    if (f > 0.45 * fs) break;
    double got = 20.0 * log10(cabs(dft_at(ir, n, f, fs)));
    double want = 20.0 * log10(cabs(mb_total(f, nb, eff_xf, fs, g)));
    ck_assert_msg(fabs(got - want) < 0.05, "fs %g %d bands: %.4f dB, want %.4f dB at %.1f Hz", fs,
                  nb, got, want, f);
  }
  free(ir);
  mixstage__host_destroy(h);
}

START_TEST(test_mb_band_gains) {
  const double xf[3] = {150.0, 1200.0, 5000.0};
  const double g4[4] = {6.0, -4.0, 3.0, -6.0};
  check_band_gains(48000.0, 4, xf, xf, g4);
  const double g3[4] = {-6.0, 6.0, -3.0, 0.0};
  check_band_gains(44100.0, 3, xf, xf, g3);
}
END_TEST

/* Crossovers set out of order are kept ordered: xover2 is raised to
 * 1.5 x xover1; at 22.05 kHz xover3 is capped at 0.45 fs.  The measured
 * response must match the analytic one at the effective corners (and would
 * miss it by several dB at the set ones, so the test can fail). */
START_TEST(test_mb_xover_order) {
  const double g3[4] = {0.0, 6.0, 0.0, 0.0};
  const double set1[3] = {1000.0, 200.0, 6000.0}, eff1[3] = {1000.0, 1500.0, 6000.0};
  check_band_gains(48000.0, 3, set1, eff1, g3);
  const double g4[4] = {0.0, 0.0, 6.0, -6.0};
  const double set2[3] = {300.0, 4000.0, 16000.0};
  const double eff2[3] = {300.0, 4000.0, 0.45 * 22050.0};
  check_band_gains(22050.0, 4, set2, eff2, g4);
}
END_TEST

/* A loud tone in band 2 is compressed by the static curve; quiet tones in
 * bands 1 and 3 are left alone.
 *   band 2: threshold -30 dB, ratio 4, knee 6 dB; tone 350 Hz at 0.5 peak.
 *   Peak level in band 2 = 0.5 |H_mid(350)| (analytic), overshoot ~24 dB >
 *   knee/2, so GR = (1 - 1/4)(L - T) (Giannoulis eq. 4).
 *   Bands 1 and 3 keep their defaults (threshold -18 dB): the 350 Hz tone
 *   leaks into them at < -36 dB, below the knee.
 * Tolerances: GR within 0.05 dB (the held peak of a sampled sine reads
 * within 0.003 dB of the crest at 350 Hz / 48 kHz; ballistics have settled
 * after 0.4 s with 1 ms attack); tone amplitudes within 0.1 dB (window
 * leakage between the tones is below -90 dB); the quiet tones are at 30 Hz
 * and 12 kHz, where band 2's own response is < -45 dB, so compressing it
 * changes them by < 0.05 dB. */
START_TEST(test_mb_band_isolation) {
  const double fs = 48000.0;
  const int n = 28800, tail = 16384;
  mixstage__node_host *h = mk("multiband", 2, fs);
  setband(h, 2, "threshold", -30.0);
  setband(h, 2, "ratio", 4.0);
  setband(h, 2, "attack", 1.0);
  setband(h, 2, "release", 50.0);
  float **b = planar(2, n);
  float *q1 = malloc(sizeof(float) * n), *q3 = malloc(sizeof(float) * n);
  tu_sine(b[0], n, 350.0, fs, 0.5, 0.0);
  tu_sine(q1, n, 30.0, fs, 0.01, 0.3);
  tu_sine(q3, n, 12000.0, fs, 0.01, 0.7);
  for (int i = 0; i < n; i++) {
    b[0][i] += q1[i] + q3[i];
    b[1][i] = b[0][i];
  }
  mixstage__host_process(h, b, n, NULL, 0);
  ck_assert_int_eq(memcmp(b[0], b[1], sizeof(float) * n), 0); /* linked, same input */

  const double xf[3] = {120.0, 1000.0, 6000.0};
  double complex hb[4];
  mb_bands(350.0, 3, xf, fs, hb);
  double level_db = 20.0 * log10(0.5 * cabs(hb[1]));
  double gr_want = (1.0 - 1.0 / 4.0) * (level_db + 30.0);
  double gr_got = mixstage__host_gain_reduction(h);
  printf("multiband isolation: band-2 GR %.4f dB (expected %.4f)\n", gr_got, gr_want);
  ck_assert_msg(fabs(gr_got - gr_want) < 0.05, "GR %.4f, want %.4f", gr_got, gr_want);

  double g[4] = {1.0, pow(10.0, -gr_want / 20.0), 1.0, 1.0};
  const float *y = b[0] + (n - tail);
  double a350 = tu_tone_amplitude(y, tail, 350.0, fs);
  double w350 = 0.5 * cabs(mb_total(350.0, 3, xf, fs, g));
  ck_assert_msg(fabs(tu_db(a350 / w350)) < 0.1, "350 Hz: %.5f, want %.5f", a350, w350);
  double a30 = tu_tone_amplitude(y, tail, 30.0, fs);
  double a12k = tu_tone_amplitude(y, tail, 12000.0, fs);
  printf("multiband isolation: 350 Hz %.3f dB, 30 Hz %+.4f dB, 12 kHz %+.4f dB vs input\n",
         tu_db(a350 / 0.5), tu_db(a30 / 0.01), tu_db(a12k / 0.01));
  ck_assert_msg(fabs(tu_db(a30 / 0.01)) < 0.1, "30 Hz changed by %.4f dB", tu_db(a30 / 0.01));
  ck_assert_msg(fabs(tu_db(a12k / 0.01)) < 0.1, "12 kHz changed by %.4f dB",
                tu_db(a12k / 0.01));
  free(q1);
  free(q3);
  planar_free(b, 2);
  mixstage__host_destroy(h);
}
END_TEST

/* Stereo link within a band: a loud band-2 tone on the left only.  At 100 %
 * the quiet right channel is ducked by the same GR (measured amplitude
 * ratio within 0.1 dB of the reported GR); at 0 % it is untouched (within
 * 0.1 dB of its uncompressed level). */
static double link_right_change_db(double link, double *gr) {
  const double fs = 48000.0;
  const int n = 24000, tail = 16384;
  mixstage__node_host *h = mk("multiband", 2, fs);
  setband(h, 2, "threshold", -30.0);
  setband(h, 2, "ratio", 4.0);
  setband(h, 2, "attack", 1.0);
  setp(h, "link", link);
  float **b = planar(2, n);
  tu_sine(b[0], n, 400.0, fs, 0.5, 0.0);
  tu_sine(b[1], n, 400.0, fs, 0.003, 0.0); /* -50 dBFS: below every threshold */
  mixstage__host_process(h, b, n, NULL, 0);
  *gr = mixstage__host_gain_reduction(h);
  const double xf[3] = {120.0, 1000.0, 6000.0}, g[4] = {1, 1, 1, 1};
  double unc = 0.003 * cabs(mb_total(400.0, 3, xf, fs, g));
  double a = tu_tone_amplitude(b[1] + (n - tail), tail, 400.0, fs);
  planar_free(b, 2);
  mixstage__host_destroy(h);
  return tu_db(a / unc);
}

START_TEST(test_mb_link) {
  double gr1, gr0;
  double d1 = link_right_change_db(100.0, &gr1);
  double d0 = link_right_change_db(0.0, &gr0);
  ck_assert_msg(gr1 > 10.0, "GR %.3f", gr1);
  /* Linked: the right channel's band-2 share (|H_mid(400)|^2 ~ 0.97 of the
   * level) is ducked by the GR; the analytic mix of the ducked band 2 and
   * the untouched bands 1/3 predicts the change. */
  const double fs = 48000.0, xf[3] = {120.0, 1000.0, 6000.0};
  double g[4] = {1.0, pow(10.0, -gr1 / 20.0), 1.0, 1.0}, g1[4] = {1, 1, 1, 1};
  double want = 20.0 * log10(cabs(mb_total(400.0, 3, xf, fs, g)) /
                             cabs(mb_total(400.0, 3, xf, fs, g1)));
  ck_assert_msg(fabs(d1 - want) < 0.1, "linked: right changed %.3f dB, want %.3f", d1, want);
  ck_assert_msg(fabs(d0) < 0.1, "unlinked: right changed %.3f dB", d0);
}
END_TEST

/* ------------------------------------------------------------------ width */

START_TEST(test_width_mono_and_transparent) {
  const int n = 4096;
  float **in = planar(4, n), **b = planar(4, n);
  for (int c = 0; c < 4; c++) tu_noise(in[c], n, 0.9, 11u + (uint32_t)c);
  in[1][17] = 1e-30f; /* channels 170 dB apart: still exact */
  in[0][17] = 0.5f;

  /* 100 %: bit-transparent (memcmp), 2 and 4 channels. */
  for (int nch = 2; nch <= 4; nch += 2) {
    mixstage__node_host *h = mk("width", nch, 48000.0);
    for (int c = 0; c < nch; c++) memcpy(b[c], in[c], sizeof(float) * n);
    mixstage__host_process(h, b, n, NULL, 0);
    for (int c = 0; c < nch; c++)
      ck_assert_msg(memcmp(b[c], in[c], sizeof(float) * n) == 0, "100%%: ch %d changed", c);
    mixstage__host_destroy(h);
  }

  /* 0 %: L == R exactly, equal to (L + R)/2 within float rounding (6e-8
   * relative to full scale), channels 3 and 4 untouched. */
  mixstage__node_host *h = mk("width", 4, 48000.0);
  setp(h, "width", 0.0);
  settle(h, 4);
  for (int c = 0; c < 4; c++) memcpy(b[c], in[c], sizeof(float) * n);
  mixstage__host_process(h, b, n, NULL, 0);
  ck_assert_int_eq(memcmp(b[0], b[1], sizeof(float) * n), 0);
  for (int i = 0; i < n; i++)
    ck_assert_msg(fabs(b[0][i] - 0.5 * ((double)in[0][i] + in[1][i])) < 1e-7, "mid at %d", i);
  ck_assert_int_eq(memcmp(b[2], in[2], sizeof(float) * n), 0);
  ck_assert_int_eq(memcmp(b[3], in[3], sizeof(float) * n), 0);
  mixstage__host_destroy(h);

  /* Mono passes unchanged at any width. */
  h = mk("width", 1, 48000.0);
  setp(h, "width", 0.0);
  setp(h, "bass_mono", 1.0);
  settle(h, 1);
  memcpy(b[0], in[0], sizeof(float) * n);
  mixstage__host_process(h, b, n, NULL, 0);
  ck_assert_int_eq(memcmp(b[0], in[0], sizeof(float) * n), 0);
  mixstage__host_destroy(h);
  planar_free(in, 4);
  planar_free(b, 4);
}
END_TEST

/* 200 %: side doubled, mid unchanged, within 2 float ulps of full scale
 * (2.4e-7): one rounding of each output plus the input's own. */
START_TEST(test_width_double_side) {
  const int n = 4096;
  float **in = planar(2, n), **b = planar(2, n);
  tu_noise(in[0], n, 0.4, 3u);
  tu_noise(in[1], n, 0.4, 5u);
  mixstage__node_host *h = mk("width", 2, 44100.0);
  setp(h, "width", 200.0);
  settle(h, 2);
  for (int c = 0; c < 2; c++) memcpy(b[c], in[c], sizeof(float) * n);
  mixstage__host_process(h, b, n, NULL, 0);
  for (int i = 0; i < n; i++) {
    double mi = 0.5 * ((double)in[0][i] + in[1][i]), si = 0.5 * ((double)in[0][i] - in[1][i]);
    double mo = 0.5 * ((double)b[0][i] + b[1][i]), so = 0.5 * ((double)b[0][i] - b[1][i]);
    ck_assert_msg(fabs(mo - mi) < 2.4e-7 && fabs(so - 2.0 * si) < 2.4e-7, "frame %d", i);
  }
  mixstage__host_destroy(h);
  planar_free(in, 2);
  planar_free(b, 2);
}
END_TEST

/* Bass mono, corner 120 Hz.  LR4 high-pass on the side: at 40 Hz the side
 * is down 20 log10(1 + 3^4) = 38 dB (spec: > 30 dB); at 1 kHz it is within
 * 0.002 dB (spec: 0.5 dB).  A mid-only 40 Hz tone must pass exactly (the mid
 * is never filtered).  Measured after 0.25 s so the filter has settled. */
static double side_gain_db(double f, double fs) {
  const int n = 24000, tail = 12000;
  mixstage__node_host *h = mk("width", 2, fs);
  setp(h, "bass_mono", 1.0);
  setp(h, "bass_mono_freq", 120.0);
  float **b = planar(2, n);
  tu_sine(b[0], n, f, fs, 0.5, 0.0);
  for (int i = 0; i < n; i++) b[1][i] = -b[0][i];
  mixstage__host_process(h, b, n, NULL, 0);
  float *side = malloc(sizeof(float) * tail);
  for (int i = 0; i < tail; i++) side[i] = 0.5f * (b[0][n - tail + i] - b[1][n - tail + i]);
  double a = tu_tone_amplitude(side, tail, f, fs);
  free(side);
  planar_free(b, 2);
  mixstage__host_destroy(h);
  return tu_db(a / 0.5);
}

START_TEST(test_width_bass_mono) {
  double lo = side_gain_db(40.0, 48000.0), hi = side_gain_db(1000.0, 48000.0);
  printf("width bass mono @120 Hz: side at 40 Hz %.2f dB, at 1 kHz %.4f dB\n", lo, hi);
  ck_assert_msg(lo < -30.0, "side at 40 Hz only %.2f dB", lo);
  ck_assert_msg(fabs(hi) < 0.5, "side at 1 kHz %.3f dB", hi);
  /* and it matches the analytic LR4 high-pass within 0.1 dB */
  ck_assert_msg(fabs(lo - 20.0 * log10(cabs(lr4_hp(40.0, 120.0, 48000.0)))) < 0.1, "%.3f", lo);

  const int n = 8192;
  float **b = planar(2, n), *ref = malloc(sizeof(float) * n);
  tu_sine(ref, n, 40.0, 48000.0, 0.7, 0.0);
  memcpy(b[0], ref, sizeof(float) * n);
  memcpy(b[1], ref, sizeof(float) * n);
  mixstage__node_host *h = mk("width", 2, 48000.0);
  setp(h, "bass_mono", 1.0);
  setp(h, "width", 150.0);
  settle(h, 2);
  mixstage__host_process(h, b, n, NULL, 0);
  ck_assert_int_eq(memcmp(b[0], ref, sizeof(float) * n), 0);
  ck_assert_int_eq(memcmp(b[1], ref, sizeof(float) * n), 0);
  ck_assert_msg(mixstage__host_tail(h) > 0, "bass mono has a tail");
  mixstage__host_destroy(h);
  free(ref);
  planar_free(b, 2);
}
END_TEST

/* Output trim applies to every channel: +6 dB within float rounding. */
START_TEST(test_width_output) {
  const int n = 512;
  float **in = planar(3, n), **b = planar(3, n);
  for (int c = 0; c < 3; c++) tu_noise(in[c], n, 0.3, 21u + (uint32_t)c);
  mixstage__node_host *h = mk("width", 3, 48000.0);
  setp(h, "output", 6.0);
  settle(h, 3);
  for (int c = 0; c < 3; c++) memcpy(b[c], in[c], sizeof(float) * n);
  mixstage__host_process(h, b, n, NULL, 0);
  double g = pow(10.0, 6.0 / 20.0);
  for (int c = 0; c < 3; c++)
    for (int i = 0; i < n; i++) ck_assert(fabs(b[c][i] - g * in[c][i]) < 1.2e-7);
  mixstage__host_destroy(h);
  planar_free(in, 3);
  planar_free(b, 3);
}
END_TEST

/* ---------------------------------------------------------------- tilt_eq */

/* Analytic responses (analogue prototypes, bilinear pre-warped at the corner). */
static double complex tilt_h(double f, double tilt_db, double f0, double fs) {
  double rg = pow(10.0, tilt_db / 40.0); /* sqrt(G) */
  double complex s = sn(f, f0, fs);
  return rg * (s + 1.0 / rg) / (s + rg);
}
/* RBJ shelves, Q = 1/sqrt(2) (S = 1): H(s) = A (s^2 + sqrt(A)/Q s + A)/(A s^2 + sqrt(A)/Q s + 1)
 * for the low shelf, and the same with s -> 1/s for the high shelf. */
static double complex lowshelf_h(double f, double gdb, double fc, double fs) {
  double a = pow(10.0, gdb / 40.0), k = sqrt(a) * SQRT2;
  double complex s = sn(f, fc, fs);
  return a * (s * s + k * s + a) / (a * s * s + k * s + 1.0);
}
static double complex highshelf_h(double f, double gdb, double fc, double fs) {
  double a = pow(10.0, gdb / 40.0), k = sqrt(a) * SQRT2;
  double complex s = sn(f, fc, fs);
  return a * (a * s * s + k * s + 1.0) / (s * s + k * s + a);
}

/* Measured (IR DFT) against analytic within 0.05 dB at 20 Hz, the pivot, and
 * 20 kHz (and 40 log-spaced points below 0.45 fs). */
static void check_tilt(double fs, double tilt, double f0, double lg, double lf, double hg,
                       double hf, double out) {
  mixstage__node_host *h = mk("tilt_eq", 2, fs);
  setp(h, "tilt", tilt);
  setp(h, "tilt_freq", f0);
  setp(h, "low_shelf_gain", lg);
  setp(h, "low_shelf_freq", lf);
  setp(h, "high_shelf_gain", hg);
  setp(h, "high_shelf_freq", hf);
  setp(h, "output", out);
  int n = 32768;
  float *ir = impulse_response(h, 2, n, 0.1);
  double fr[43];
  for (int k = 0; k < 40; k++) fr[k] = logfreq(k);
  fr[40] = 20.0;
  fr[41] = 20000.0;
  fr[42] = f0;
  for (int k = 0; k < 43; k++) {
    double f = fr[k];
    if (f > 0.47 * fs) continue;
    double got = 20.0 * log10(cabs(dft_at(ir, n, f, fs)));
    double want = 20.0 * log10(cabs(tilt_h(f, tilt, f0, fs) * lowshelf_h(f, lg, lf, fs) *
                                    highshelf_h(f, hg, hf, fs))) +
                  out;
    ck_assert_msg(fabs(got - want) < 0.05, "fs %g tilt %g: %.4f dB, want %.4f at %.1f Hz", fs,
                  tilt, got, want, f);
    if (k >= 40 && lg == 0.0 && hg == 0.0 && out == 0.0 && fs == 48000.0)
      printf("tilt %+g dB @%g Hz, fs %g: %8.1f Hz measured %+.4f dB, analytic %+.4f dB\n", tilt,
             f0, fs, f, got, want);
  }
  free(ir);
  mixstage__host_destroy(h);
}

START_TEST(test_tilt_response) {
  check_tilt(48000.0, 6.0, 1000.0, 0, 100, 0, 10000, 0);
  check_tilt(48000.0, -6.0, 1000.0, 0, 100, 0, 10000, 0);
  check_tilt(44100.0, 6.0, 200.0, 0, 100, 0, 10000, 0);
  check_tilt(44100.0, -4.5, 5000.0, 0, 100, 0, 10000, 0);
  /* the analytic tilt really is +-tilt/2 near the band edges at a central
   * pivot: the test's reference is the intended curve, not any curve */
  ck_assert(fabs(20.0 * log10(cabs(tilt_h(20000.0, 6.0, 1000.0, 48000.0))) - 3.0) < 0.2);
  ck_assert(fabs(20.0 * log10(cabs(tilt_h(20.0, 6.0, 1000.0, 48000.0))) + 3.0) < 0.2);
}
END_TEST

START_TEST(test_tilt_shelves) {
  check_tilt(48000.0, 0.0, 1000.0, 6.0, 100.0, -4.0, 10000.0, 0.0);
  check_tilt(44100.0, 3.0, 700.0, -12.0, 20.0, 12.0, 20000.0, -3.0);
  check_tilt(96000.0, -2.0, 2500.0, 12.0, 500.0, -12.0, 2000.0, 12.0);
}
END_TEST

START_TEST(test_tilt_transparent) {
  const int n = 4096;
  float **in = planar(3, n), **b = planar(3, n);
  for (int c = 0; c < 3; c++) tu_noise(in[c], n, 1.0, 7u + (uint32_t)c);
  mixstage__node_host *h = mk("tilt_eq", 3, 44100.0);
  for (int c = 0; c < 3; c++) memcpy(b[c], in[c], sizeof(float) * n);
  mixstage__host_process(h, b, n, NULL, 0);
  for (int c = 0; c < 3; c++) ck_assert_int_eq(memcmp(b[c], in[c], sizeof(float) * n), 0);
  mixstage__host_destroy(h);
  planar_free(in, 3);
  planar_free(b, 3);
}
END_TEST

/* The reported tail covers the ring-down: after tail frames the IR is below
 * -100 dB of its peak (the tail is computed for -120 dB with margin). */
START_TEST(test_tails) {
  const char *types[] = {"tilt_eq", "width", "multiband"};
  for (int t = 0; t < 3; t++) {
    mixstage__node_host *h = mk(types[t], 2, 48000.0);
    if (t == 0) {
      setp(h, "low_shelf_gain", 12.0);
      setp(h, "low_shelf_freq", 20.0);
    } else if (t == 1) {
      setp(h, "bass_mono", 1.0);
      setp(h, "bass_mono_freq", 20.0);
    } else {
      setp(h, "xover1", 20.0);
      for (int k = 1; k <= 4; k++) setband(h, k, "threshold", 0.0);
    }
    const int n = 1 << 16;
    float **b = planar(2, n);
    b[0][0] = 0.5f;
    b[1][0] = -0.5f; /* pure side, so width's side filter rings */
    mixstage__host_process(h, b, n, NULL, 0);
    int64_t tail = mixstage__host_tail(h);
    ck_assert_msg(tail > 0 && tail < n, "%s tail %lld", types[t], (long long)tail);
    double pk = tu_peak(b[0], n), after = tu_peak(b[0] + tail, n - tail);
    ck_assert_msg(after < 1e-5 * pk, "%s: %g after %lld frames", types[t], after,
                  (long long)tail);
    planar_free(b, 2);
    mixstage__host_destroy(h);
  }
}
END_TEST

/* --------------------------------------------------- block-split, extremes */

typedef struct pset {
  const char *name;
  double v;
} pset;

/* Runs a node over n frames of noise, once in 32-frame-aligned chunks of
 * 4096 and once in pseudo-random chunks of 1..97 frames, with the same
 * parameter change applied after frame `at` in both; returns 1 if the
 * outputs are bit-identical. */
static int split_identical(const char *type, int nch, const pset *before, int nb,
                           const pset *change, int nc) {
  const int n = 16384, at = 6000;
  float **x = planar(nch, n), **a = planar(nch, n), **b = planar(nch, n);
  for (int c = 0; c < nch; c++) {
    tu_noise(x[c], n, 0.9, 100u + (uint32_t)c);
    for (int i = 0; i < n; i++) x[c][i] *= (float)(0.2 + 0.8 * (i / 3000 % 2)); /* bursts */
    memcpy(a[c], x[c], sizeof(float) * n);
    memcpy(b[c], x[c], sizeof(float) * n);
  }
  float *pa[16], *pb[16];
  for (int run = 0; run < 2; run++) {
    mixstage__node_host *h = mk(type, nch, 44100.0);
    for (int i = 0; i < nb; i++) setp(h, before[i].name, before[i].v);
    float **buf = run ? b : a;
    uint32_t seed = 12345u;
    int64_t pos = 0;
    int changed = 0;
    while (pos < n) {
      int len;
      if (run == 0) {
        len = 4096;
      } else {
        seed = seed * 1664525u + 1013904223u;
        len = 1 + (int)((seed >> 16) % 97u);
      }
      if (!changed && pos + len > at) len = (int)(at - pos);
      if (pos + len > n) len = (int)(n - pos);
      if (len > 0) {
        for (int c = 0; c < nch; c++) (run ? pb : pa)[c] = buf[c] + pos;
        mixstage__host_process(h, run ? pb : pa, len, NULL, 0);
        pos += len;
      }
      if (!changed && pos == at) {
        for (int i = 0; i < nc; i++) setp(h, change[i].name, change[i].v);
        changed = 1;
      }
    }
    mixstage__host_destroy(h);
  }
  int same = 1;
  for (int c = 0; c < nch; c++) same &= memcmp(a[c], b[c], sizeof(float) * n) == 0;
  ck_assert(all_finite(a, nch, n));
  planar_free(x, nch);
  planar_free(a, nch);
  planar_free(b, nch);
  return same;
}

START_TEST(test_block_split) {
  const pset mb0[] = {{"bands", 1}, {"band1_threshold", -30}, {"band2_threshold", -24},
                      {"band3_threshold", -20}, {"band4_threshold", -20}, {"link", 60},
                      {"band2_attack", 0.5}};
  const pset mb1[] = {{"xover1", 200}, {"band2_gain", 5}, {"output", -3}, {"band3_ratio", 8}};
  ck_assert(split_identical("multiband", 2, mb0, 7, mb1, 4));
  ck_assert(split_identical("multiband", 3, mb0, 1, mb1, 4));
  const pset w0[] = {{"width", 140}, {"bass_mono", 1}};
  const pset w1[] = {{"width", 60}, {"bass_mono", 0}, {"output", 4}};
  ck_assert(split_identical("width", 2, w0, 2, w1, 3));
  const pset t0[] = {{"tilt", 4}, {"low_shelf_gain", -6}};
  const pset t1[] = {{"tilt", -3}, {"high_shelf_gain", 6}, {"output", -2}};
  ck_assert(split_identical("tilt_eq", 2, t0, 2, t1, 3));
}
END_TEST

/* Every parameter at its minimum, then its maximum, then a mixture
 * (odd ids at min, even at max), at 22.05 kHz with 16 channels and at
 * 96 kHz with 2: +12 dBFS noise with an impulse of 1e4, then 0.3 s of
 * silence.  The output must stay finite, and the last silent block must be
 * 140 dB below the first (plus 1e-12 when the first is already silent): the
 * slowest poles, a +12 dB low shelf at 20 Hz (poles at 14 Hz, time constant
 * 16 ms), fall by ~160 dB in 0.3 s, while an unstable or self-oscillating
 * section, or a state stuck on a non-zero value, would not decay. */
static void check_extremes(const char *type) {
  const double rates[] = {22050.0, 96000.0};
  const int chans[] = {16, 2};
  const int n = 2048;
  for (int r = 0; r < 2; r++) {
    const int nch = chans[r];
    const int quiet = (int)(0.3 * rates[r]);
    float **b = planar(nch, n);
    for (int mode = 0; mode < 3; mode++) {
      mixstage__node_host *h = mk(type, nch, rates[r]);
      const mixstage__node_class *cls = mixstage__find_node_class(type);
      for (int i = 0; i < cls->num_params; i++) {
        const mixstage_param_info *p = &cls->params[i];
        double v = mode == 0 ? p->min : mode == 1 ? p->max : (i % 2 ? p->min : p->max);
        setp(h, p->name, v);
      }
      for (int c = 0; c < nch; c++) {
        tu_noise(b[c], n, 4.0, 9u + (uint32_t)c);
        b[c][100] = 1e4f;
      }
      mixstage__host_process(h, b, n, NULL, 0);
      ck_assert_msg(all_finite(b, nch, n), "%s mode %d fs %g", type, mode, rates[r]);
      double pk = 0.0, first = -1.0;
      for (int done = 0; done < quiet; done += n) {
        for (int c = 0; c < nch; c++) memset(b[c], 0, sizeof(float) * n);
        mixstage__host_process(h, b, n, NULL, 0);
        ck_assert_msg(all_finite(b, nch, n), "%s silence", type);
        pk = 0.0;
        for (int c = 0; c < nch; c++) pk = fmax(pk, tu_peak(b[c], n));
        if (first < 0.0) first = pk;
      }
      ck_assert_msg(pk <= 1e-7 * first + 1e-12, "%s mode %d fs %g: %g after silence (first %g)",
                    type, mode, rates[r], pk, first);
      ck_assert(isfinite(mixstage__host_gain_reduction(h)));
      mixstage__host_destroy(h);
    }
    planar_free(b, nch);
  }
}

START_TEST(test_extremes_multiband) { check_extremes("multiband"); }
END_TEST
START_TEST(test_extremes_width) { check_extremes("width"); }
END_TEST
START_TEST(test_extremes_tilt_eq) { check_extremes("tilt_eq"); }
END_TEST

static Suite *mastering_suite(void) {
  Suite *s = suite_create("mastering");
  TCase *tc = tcase_create("core");
  tcase_set_timeout(tc, 60);
  tcase_add_test(tc, test_param_tables);
  tcase_add_test(tc, test_mb_flat_sum);
  tcase_add_test(tc, test_mb_band_gains);
  tcase_add_test(tc, test_mb_xover_order);
  tcase_add_test(tc, test_mb_band_isolation);
  tcase_add_test(tc, test_mb_link);
  tcase_add_test(tc, test_width_mono_and_transparent);
  tcase_add_test(tc, test_width_double_side);
  tcase_add_test(tc, test_width_bass_mono);
  tcase_add_test(tc, test_width_output);
  tcase_add_test(tc, test_tilt_response);
  tcase_add_test(tc, test_tilt_shelves);
  tcase_add_test(tc, test_tilt_transparent);
  tcase_add_test(tc, test_tails);
  tcase_add_test(tc, test_block_split);
  tcase_add_test(tc, test_extremes_multiband);
  tcase_add_test(tc, test_extremes_width);
  tcase_add_test(tc, test_extremes_tilt_eq);
  suite_add_tcase(s, tc);
  return s;
}

int main(void) {
  SRunner *sr = srunner_create(mastering_suite());
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
