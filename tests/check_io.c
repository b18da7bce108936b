/* Check suite for lib/io.c: file round trips, dither, clipping, rate
 * conversion, loudness and true peak, atomic writes, manifests.
 *
 * Reference values come from theory, not from the library: TPDF dither
 * statistics (Lipshitz, Wannamaker & Vanderkooy, JAES 1992), EBU Tech 3341
 * test case 1 for loudness, the closed form of a sampled sine for true peak.
 * Files are written into a fresh directory under the build directory. */
#define _GNU_SOURCE /* mkdtemp, setrlimit */
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <ebur128.h>
#include <malloc.h>

#include "mixstage.h"
#include "io_writer.h" /* the streaming writer behind deliveries */
#include "testutil.h"

static char dir[64];

static void setup(void) {
  strcpy(dir, "io-test.XXXXXX");
  ck_assert_ptr_nonnull(mkdtemp(dir));
}

static void teardown(void) {
  DIR *d = opendir(dir);
  if (!d) return;
  struct dirent *e;
  char p[512];
  while ((e = readdir(d)) != NULL) {
    if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
    snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
    unlink(p);
  }
  closedir(d);
  rmdir(dir);
}

static void path_in(char *out, size_t n, const char *name) { snprintf(out, n, "%s/%s", dir, name); }

/* Number of leftover temporary files (".NAME.XXXXXXXX.tmp") in the test dir. */
static int temp_files(void) {
  DIR *d = opendir(dir);
  ck_assert_ptr_nonnull(d);
  struct dirent *e;
  int n = 0;
  while ((e = readdir(d)) != NULL) {
    size_t l = strlen(e->d_name);
    if (e->d_name[0] == '.' && l > 4 && strcmp(e->d_name + l - 4, ".tmp") == 0) n++;
  }
  closedir(d);
  return n;
}

/* Stereo test programme: a 997 Hz sine (not a divisor of the rate, so every
 * quantiser step is visited) at -6 dBFS plus low-level noise on the right. */
static float *programme(int64_t frames, double rate) {
  float *x = malloc(sizeof(float) * 2 * (size_t)frames);
  float *l = malloc(sizeof(float) * (size_t)frames), *r = malloc(sizeof(float) * (size_t)frames);
  tu_sine(l, frames, 997.0, rate, 0.5, 0.3);
  tu_noise(r, frames, 0.25, 1234);
  for (int64_t i = 0; i < frames; i++) {
    x[2 * i] = l[i];
    x[2 * i + 1] = r[i] + 0.2f * l[i];
  }
  free(l);
  free(r);
  return x;
}

static void interleave_sine(float *x, int64_t frames, int ch, double f, double fs, double amp,
                            double phase) {
  float *m = malloc(sizeof(float) * (size_t)frames);
  tu_sine(m, frames, f, fs, amp, phase);
  for (int64_t i = 0; i < frames; i++)
    for (int c = 0; c < ch; c++) x[i * ch + c] = m[i];
  free(m);
}

/* ---- round trips ----------------------------------------------------------- */

START_TEST(test_round_trip) {
  const int format = _i / 3, type = _i % 3;
  const double rate = 48000;
  const int64_t n = 24000;
  float *x = programme(n, rate);
  char p[256], err[512];
  snprintf(p, sizeof p, "%s/rt_%d_%d.%s", dir, format, type,
           mixstage_file_format_name(format));
  mixstage_write_config wc;
  mixstage_write_config_init(&wc);
  wc.format = format;
  wc.sample_type = type;
  mixstage_file_stats ws;
  int st = mixstage_audio_write(p, x, n, 2, rate, &wc, &ws, err, sizeof err);
  if (format == MIXSTAGE_FORMAT_FLAC && type == MIXSTAGE_SAMPLE_FLOAT32) {
    ck_assert_int_eq(st, MIXSTAGE_EFORMAT);
    ck_assert_ptr_nonnull(strstr(err, p)); /* the message names the file */
    ck_assert_int_eq(access(p, F_OK), -1);
    ck_assert_int_eq(temp_files(), 0);
    free(x);
    return;
  }
  ck_assert_msg(st == MIXSTAGE_OK, "%s", err);
  ck_assert_int_eq(ws.frames, n);
  ck_assert_int_eq(ws.format, format);
  ck_assert_int_eq(ws.sample_type, type);

  float *y;
  int64_t m;
  int ch;
  double fr;
  st = mixstage_audio_read(p, 0, &y, &m, &ch, &fr, err, sizeof err);
  ck_assert_msg(st == MIXSTAGE_OK, "%s", err);
  ck_assert_int_eq(m, n);
  ck_assert_int_eq(ch, 2);
  ck_assert(fr == rate);

  /* The checksum reported by the write is that of the file's contents. */
  mixstage_file_stats fs;
  ck_assert_int_eq(mixstage_measure_file(p, &fs, err, sizeof err), MIXSTAGE_OK);
  ck_assert_uint_eq(fs.checksum, ws.checksum);
  ck_assert_int_eq(fs.format, format);
  ck_assert_int_eq(fs.sample_type, type);
  ck_assert_int_eq(fs.frames, n);

  if (type == MIXSTAGE_SAMPLE_FLOAT32) {
    ck_assert_int_eq(memcmp(x, y, sizeof(float) * 2 * (size_t)n), 0); /* bit-exact */
    mixstage_file_stats bs;
    ck_assert_int_eq(mixstage_measure(x, n, 2, rate, &bs), MIXSTAGE_OK);
    ck_assert_uint_eq(bs.checksum, ws.checksum);
  } else {
    const double lsb = type == MIXSTAGE_SAMPLE_PCM16 ? 1.0 / 32768 : 1.0 / 8388608;
    double maxe = 0, sum = 0, sum2 = 0;
    for (int64_t i = 0; i < 2 * n; i++) {
      double e = ((double)y[i] - x[i]) / lsb;
      if (fabs(e) > maxe) maxe = fabs(e);
      sum += e;
      sum2 += e * e;
    }
    double mean = sum / (2.0 * n), var = sum2 / (2.0 * n);
    /* Rounding adds at most 0.5 LSB and TPDF dither at most 1 LSB (plus
     * float32 input resolution, < 0.02 LSB at 24 bits). */
    ck_assert_msg(maxe < 1.52, "max error %.3f LSB", maxe);
    /* Total error power = dither variance 2 x LSB^2/12 + rounding LSB^2/12
     * = LSB^2/4 (TPDF makes the rounding error uniform and independent of
     * the signal).  48000 samples estimate it within ~1 %; 10 % allowed. */
    ck_assert_msg(fabs(var / 0.25 - 1.0) < 0.10, "error power %.4f LSB^2, expected 0.25", var);
    ck_assert_msg(fabs(mean) < 0.02, "error mean %.4f LSB", mean); /* 0 +- 4 sigma */
  }
  mixstage_free(y);
  free(x);
}
END_TEST

/* Without dither the error is plain rounding: |e| <= 1/2 LSB, power LSB^2/12. */
START_TEST(test_no_dither_rounds) {
  const int64_t n = 24000;
  float *x = programme(n, 48000);
  char p[256], err[256];
  path_in(p, sizeof p, "nd.wav");
  mixstage_write_config wc;
  mixstage_write_config_init(&wc);
  wc.sample_type = MIXSTAGE_SAMPLE_PCM16;
  wc.dither = 0;
  ck_assert_int_eq(mixstage_audio_write(p, x, n, 2, 48000, &wc, NULL, err, sizeof err), 0);
  float *y;
  int64_t m;
  int ch;
  ck_assert_int_eq(mixstage_audio_read(p, 0, &y, &m, &ch, NULL, err, sizeof err), 0);
  double maxe = 0, sum2 = 0;
  for (int64_t i = 0; i < 2 * n; i++) {
    double e = ((double)y[i] - x[i]) * 32768.0;
    if (fabs(e) > maxe) maxe = fabs(e);
    sum2 += e * e;
  }
  ck_assert_msg(maxe <= 0.5 + 1e-6, "max error %.4f LSB", maxe);
  ck_assert_msg(fabs(sum2 / (2.0 * n) * 12.0 - 1.0) < 0.10, "error power %.4f", sum2 / (2.0 * n));
  mixstage_free(y);
  free(x);
}
END_TEST

/* The same audio and seed give the same samples in every container; another
 * seed gives other dither. */
START_TEST(test_dither_reproducible) {
  const int64_t n = 4800;
  float *x = programme(n, 48000);
  char p[256], err[256];
  mixstage_write_config wc;
  mixstage_write_config_init(&wc);
  uint64_t sums[3];
  for (int f = 0; f < 3; f++) {
    mixstage_file_stats s;
    wc.format = f;
    snprintf(p, sizeof p, "%s/rep.%s", dir, mixstage_file_format_name(f));
    ck_assert_int_eq(mixstage_audio_write(p, x, n, 2, 48000, &wc, &s, err, sizeof err), 0);
    sums[f] = s.checksum;
  }
  ck_assert_uint_eq(sums[0], sums[1]);
  ck_assert_uint_eq(sums[0], sums[2]);
  mixstage_file_stats s;
  wc.format = MIXSTAGE_FORMAT_WAV;
  wc.dither_seed = 99;
  path_in(p, sizeof p, "rep2.wav");
  ck_assert_int_eq(mixstage_audio_write(p, x, n, 2, 48000, &wc, &s, err, sizeof err), 0);
  ck_assert_uint_ne(s.checksum, sums[0]);
  free(x);
}
END_TEST

/* ---- clipping --------------------------------------------------------------- */

START_TEST(test_clipping_never_wraps) {
  const int64_t n = 4800;
  const double rate = 48000;
  float *x = malloc(sizeof(float) * n);
  tu_sine(x, n, 1000.0, rate, 2.0, 0.1); /* +6.02 dBFS */
  int64_t expect = 0;
  for (int64_t i = 0; i < n; i++) {
    double q = floor(x[i] * 32768.0 + 0.5);
    expect += q > 32767.0 || q < -32768.0;
  }
  char p[256], err[256];
  path_in(p, sizeof p, "clip.wav");
  mixstage_write_config wc;
  mixstage_write_config_init(&wc);
  wc.sample_type = MIXSTAGE_SAMPLE_PCM16;
  mixstage_file_stats s;
  ck_assert_int_eq(mixstage_audio_write(p, x, n, 1, rate, &wc, &s, err, sizeof err), 0);
  ck_assert_int_eq(s.clipped_samples, expect);
  ck_assert(expect > n / 2); /* a +6 dB sine spends 2/3 of its time above full scale */
  float *y;
  int64_t m;
  int ch;
  ck_assert_int_eq(mixstage_audio_read(p, 0, &y, &m, &ch, NULL, err, sizeof err), 0);
  int flips = 0;
  double hi = -2, lo = 2;
  for (int64_t i = 0; i < n; i++) {
    if (fabs(x[i]) > 1e-3 && (x[i] > 0) != (y[i] > 0)) flips++;
    if (y[i] > hi) hi = y[i];
    if (y[i] < lo) lo = y[i];
    if (x[i] >= 1.0f) ck_assert(y[i] == 32767.0f / 32768.0f);
    if (x[i] <= -1.0f) ck_assert(y[i] == -1.0f);
  }
  ck_assert_int_eq(flips, 0);
  ck_assert(hi == 32767.0f / 32768.0f && lo == -1.0f);
  ck_assert(s.peak_dbfs <= 0.0 && s.peak_dbfs > -0.001);
  mixstage_free(y);

  /* Float files store overs unclipped and count them. */
  wc.sample_type = MIXSTAGE_SAMPLE_FLOAT32;
  ck_assert_int_eq(mixstage_audio_write(p, x, n, 1, rate, &wc, &s, err, sizeof err), 0);
  int64_t over = 0;
  for (int64_t i = 0; i < n; i++) over += fabsf(x[i]) > 1.0f;
  ck_assert_int_eq(s.clipped_samples, over);
  ck_assert(fabs(s.peak_dbfs - 6.0206) < 0.01);
  free(x);
}
END_TEST

/* ---- rate conversion --------------------------------------------------------- */

/* Frequency from linearly interpolated rising zero crossings. */
static double zero_cross_freq(const float *x, int64_t a, int64_t b, double fs) {
  double first = -1, last = -1;
  int count = 0;
  for (int64_t i = a; i + 1 < b; i++) {
    if (x[i] < 0 && x[i + 1] >= 0) {
      double t = i + x[i] / (double)(x[i] - x[i + 1]);
      if (first < 0) first = t;
      last = t;
      count++;
    }
  }
  return (count - 1) / ((last - first) / fs);
}

START_TEST(test_resample_441_to_48) {
  const int64_t n = 44100;
  float *x = malloc(sizeof(float) * n);
  const double amp = 0.5, ph = 0.7;
  tu_sine(x, n, 1000.0, 44100, amp, ph);
  char p[256], err[256];
  path_in(p, sizeof p, "r441.wav");
  mixstage_write_config wc;
  mixstage_write_config_init(&wc);
  wc.sample_type = MIXSTAGE_SAMPLE_FLOAT32;
  ck_assert_int_eq(mixstage_audio_write(p, x, n, 1, 44100, &wc, NULL, err, sizeof err), 0);
  float *y;
  int64_t m;
  int ch;
  double fr;
  ck_assert_int_eq(mixstage_audio_read(p, 48000, &y, &m, &ch, &fr, err, sizeof err), 0);
  ck_assert(fr == 44100);
  ck_assert_int_eq(m, 48000); /* round(44100 * 48000 / 44100) */
  /* Middle 0.5 s, away from the converter's start and end transients. */
  const int64_t a = 12000, b = 36000;
  double lvl = tu_db(tu_tone_amplitude(y + a, b - a, 1000.0, 48000) / amp);
  ck_assert_msg(fabs(lvl) < 0.01, "level %.4f dB", lvl);
  double f = zero_cross_freq(y, a, b, 48000);
  /* 480 periods timed by interpolated crossings: the estimate is good to
   * well under 1 ppm; 10 ppm (0.01 Hz) is allowed. */
  ck_assert_msg(fabs(f - 1000.0) < 0.01, "frequency %.5f Hz", f);
  /* Time-aligned: the output equals the ideal 48 kHz sine with the same
   * phase at t = 0 (measured -149 dB; -120 dB allowed). */
  double e2 = 0, s2 = 0;
  for (int64_t i = a; i < b; i++) {
    double ideal = amp * sin(2 * TU_PI * 1000.0 * i / 48000.0 + ph);
    e2 += (y[i] - ideal) * (y[i] - ideal);
    s2 += ideal * ideal;
  }
  double resid = 10 * log10(e2 / s2);
  ck_assert_msg(resid < -120.0, "residual against the ideal sine %.1f dB", resid);
  mixstage_free(y);
  free(x);
}
END_TEST

START_TEST(test_resample_removes_above_nyquist) {
  const int64_t n = 48000; /* 0.5 s at 96 kHz */
  float *x = malloc(sizeof(float) * n);
  tu_sine(x, n, 30000.0, 96000, 0.9, 0.0);
  char p[256], err[256];
  path_in(p, sizeof p, "r96.wav");
  mixstage_write_config wc;
  mixstage_write_config_init(&wc);
  wc.sample_type = MIXSTAGE_SAMPLE_FLOAT32;
  ck_assert_int_eq(mixstage_audio_write(p, x, n, 1, 96000, &wc, NULL, err, sizeof err), 0);
  float *y;
  int64_t m;
  int ch;
  ck_assert_int_eq(mixstage_audio_read(p, 48000, &y, &m, &ch, NULL, err, sizeof err), 0);
  ck_assert_int_eq(m, 24000);
  /* Steady part; all of it must be gone, including its 18 kHz alias. */
  double rms = tu_rms(y + 4000, 16000) * sqrt(2.0) / 0.9;
  double alias = tu_tone_amplitude(y + 4000, 16000, 18000.0, 48000) / 0.9;
  ck_assert_msg(tu_db(rms) < -90.0, "residual %.1f dB", tu_db(rms));
  ck_assert_msg(tu_db(alias) < -90.0, "alias %.1f dB", tu_db(alias));
  mixstage_free(y);

  /* The write side converts too: 96 kHz in, 48 kHz file out. */
  wc.output_rate = 48000;
  mixstage_file_stats s;
  path_in(p, sizeof p, "w48.wav");
  ck_assert_int_eq(mixstage_audio_write(p, x, n, 1, 96000, &wc, &s, err, sizeof err), 0);
  ck_assert_int_eq(s.frames, 24000);
  ck_assert(s.sample_rate == 48000);
  /* (The tone's abrupt start and end are broadband and pass: judge the
   * steady part, as above.) */
  ck_assert_int_eq(mixstage_audio_read(p, 0, &y, &m, &ch, NULL, err, sizeof err), 0);
  ck_assert_int_eq(m, 24000);
  rms = tu_rms(y + 4000, 16000) * sqrt(2.0) / 0.9;
  ck_assert_msg(tu_db(rms) < -90.0, "residual after write %.1f dB", tu_db(rms));
  mixstage_free(y);
  free(x);
}
END_TEST

/* ---- loudness and peaks -------------------------------------------------------- */

/* EBU Tech 3341 test case 1 (-23 dBFS stereo 1 kHz sine reads -23.0 LUFS),
 * and the same 10 dB lower.  Tech 3341 allows +-0.1 LU. */
START_TEST(test_loudness_tech3341) {
  const double level = _i == 0 ? -23.0 : -33.0;
  const int64_t n = 6 * 48000;
  float *x = malloc(sizeof(float) * 2 * n);
  interleave_sine(x, n, 2, 1000.0, 48000, pow(10, level / 20), 0.0);
  mixstage_file_stats s;
  ck_assert_int_eq(mixstage_measure(x, n, 2, 48000, &s), MIXSTAGE_OK);
  ck_assert_msg(fabs(s.integrated_lufs - level) < 0.1, "I %.3f", s.integrated_lufs);
  ck_assert_msg(fabs(s.momentary_max_lufs - level) < 0.1, "M %.3f", s.momentary_max_lufs);
  ck_assert_msg(fabs(s.short_term_max_lufs - level) < 0.1, "S %.3f", s.short_term_max_lufs);
  ck_assert_msg(s.loudness_range_lu < 0.1, "LRA %.3f", s.loudness_range_lu);
  ck_assert_msg(fabs(s.peak_dbfs - level) < 0.01, "peak %.3f", s.peak_dbfs);
  /* RMS of a sine is peak - 3.01 dB. */
  ck_assert_msg(fabs(s.rms_dbfs - (level - 3.0103)) < 0.01, "rms %.3f", s.rms_dbfs);
  ck_assert_int_eq(s.frames, n);
  ck_assert(fabs(s.seconds - 6.0) < 1e-12);
  ck_assert_int_eq(s.clipped_samples, 0);
  free(x);
}
END_TEST

/* A sine at fs/4 with a 45 degree phase is sampled at +-0.707 of its
 * amplitude: the sample peak reads 3.01 dB low, a BS.1770 true-peak meter
 * must read the amplitude (BS.1770-4 Annex 2 tolerance: +0.2 / -0.4 dB). */
START_TEST(test_true_peak_between_samples) {
  const int64_t n = 48000;
  const double amp = 0.5;
  float *x = malloc(sizeof(float) * n);
  tu_sine(x, n, 12000.0, 48000, amp, TU_PI / 4);
  mixstage_file_stats s;
  ck_assert_int_eq(mixstage_measure(x, n, 1, 48000, &s), MIXSTAGE_OK);
  double want = 20 * log10(amp);
  ck_assert_msg(fabs(s.peak_dbfs - (want - 3.0103)) < 0.01, "sample peak %.3f", s.peak_dbfs);
  ck_assert_msg(s.true_peak_dbtp - want < 0.2 && s.true_peak_dbtp - want > -0.4, "TP %.3f vs %.3f",
                s.true_peak_dbtp, want);
  free(x);
}
END_TEST

START_TEST(test_measure_silence_and_args) {
  float z[960] = {0};
  mixstage_file_stats s;
  ck_assert_int_eq(mixstage_measure(z, 480, 2, 48000, &s), MIXSTAGE_OK);
  ck_assert(isinf(s.peak_dbfs) && s.peak_dbfs < 0);
  ck_assert(isinf(s.integrated_lufs) && s.integrated_lufs < 0);
  ck_assert(isinf(s.rms_dbfs) && s.rms_dbfs < 0);
  ck_assert_int_eq(mixstage_measure(NULL, 0, 1, 48000, &s), MIXSTAGE_OK);
  ck_assert_int_eq(s.frames, 0);
  ck_assert_int_eq(mixstage_measure(NULL, 10, 1, 48000, &s), MIXSTAGE_ENULL);
  ck_assert_int_eq(mixstage_measure(z, 10, 1, 48000, NULL), MIXSTAGE_ENULL);
  ck_assert_int_eq(mixstage_measure(z, -1, 1, 48000, &s), MIXSTAGE_EINVAL);
  ck_assert_int_eq(mixstage_measure(z, 10, 0, 48000, &s), MIXSTAGE_EINVAL);
  ck_assert_int_eq(mixstage_measure(z, 10, 1, 100, &s), MIXSTAGE_EINVAL);
  ck_assert_int_eq(mixstage_measure(z, 10, 1, NAN, &s), MIXSTAGE_EINVAL);
}
END_TEST


/* A programme whose 400 ms blocks spread from below the absolute gate to
 * well above the relative one: noise segments of 1.7 s at levels that
 * cycle through the list, so blocks straddle the changes too. */
static float *gated_programme(int64_t n, int ch) {
  static const double levels_db[] = {-12, -40, -20, -75, -31, -26, -50, -18, -60, -23, -9, -35};
  const int nl = (int)(sizeof levels_db / sizeof *levels_db);
  float *x = malloc(sizeof(float) * (size_t)(n * ch));
  ck_assert_ptr_nonnull(x);
  tu_noise(x, n * ch, 1.0, 12345);
  int64_t seg = n / 24;
  for (int64_t i = 0; i < n; i++) {
    double a = pow(10.0, levels_db[(i / seg) % nl] / 20.0);
    for (int c = 0; c < ch; c++) x[i * ch + c] *= (float)a;
  }
  return x;
}

/* Integrated loudness from the bounded gating bins (loudness_gate.h) equals
 * libebur128's exact mode, which keeps every block: to 1e-9 LU, i.e. up to
 * rounding (the bins are 0.01 LU wide; only a block that close to the
 * relative gate could be counted differently, and none is here).  At 48 and
 * 44.1 kHz the blocks come from the 100 ms hop energies, at 11025 Hz (no
 * whole 100 ms hop) from libebur128's momentary window. */
START_TEST(test_integrated_equals_libebur128) {
  static const double rates[] = {48000, 44100, 11025};
  const double fs = rates[_i];
  const int ch = 2;
  const int64_t n = (int64_t)(40.8 * fs);
  float *x = gated_programme(n, ch);
  mixstage_file_stats s;
  ck_assert_int_eq(mixstage_measure(x, n, ch, fs, &s), MIXSTAGE_OK);
  ebur128_state *st = ebur128_init((unsigned)ch, (unsigned long)fs, EBUR128_MODE_I);
  ck_assert_ptr_nonnull(st);
  ck_assert_int_eq(ebur128_add_frames_float(st, x, (size_t)n), EBUR128_SUCCESS);
  double want;
  ck_assert_int_eq(ebur128_loudness_global(st, &want), EBUR128_SUCCESS);
  ebur128_destroy(&st);
  ck_assert_msg(fabs(s.integrated_lufs - want) < 1e-9, "%g Hz: %.12f LUFS, libebur128 %.12f", fs,
                s.integrated_lufs, want);
  ck_assert(isfinite(want));
  free(x);
}
END_TEST

/* A delivered file's meters keep a fixed amount of memory, whatever the
 * length: 20 minutes streamed through the writer (8 kHz mono keeps it
 * cheap; gating blocks come every 100 ms at any rate) allocate no more
 * after the first minute than before.  libebur128's exact mode, used
 * before, would hold some 11000 more blocks (about 350 KiB). */
START_TEST(test_writer_meters_do_not_grow) {
  const double fs = 8000;
  const int blk = 4000;
  float *x = malloc(sizeof(float) * blk);
  ck_assert_ptr_nonnull(x);
  tu_noise(x, blk, 0.1, 777);
  char path[512], err[256];
  path_in(path, sizeof path, "long.wav");
  mixstage_write_config cfg;
  mixstage_write_config_init(&cfg);
  cfg.sample_type = MIXSTAGE_SAMPLE_PCM16;
  mixstage__writer *w = NULL;
  ck_assert_int_eq(mixstage__writer_open(&w, path, 1, fs, 0, &cfg, err, sizeof err), MIXSTAGE_OK);
  size_t after_1min = 0;
  /* Under AddressSanitizer (MIXSTAGE_SANITIZER=address) the heap counters
   * read nothing (below): 2 minutes take the writer and its meters through
   * every path the 20 do, for the sanitizer to watch. */
  const char *san = getenv("MIXSTAGE_SANITIZER");
  const int minutes = san && !strcmp(san, "address") ? 2 : 20;
  const int blocks = (int)(minutes * 60 * fs / blk);
  for (int b = 0; b < blocks; b++) {
    ck_assert_int_eq(mixstage__writer_write(w, x, blk, err, sizeof err), MIXSTAGE_OK);
    if (b + 1 == (int)(60 * fs / blk)) after_1min = mallinfo2().uordblks;
  }
  size_t at_end = mallinfo2().uordblks;
  mixstage_file_stats st;
  ck_assert_int_eq(mixstage__writer_finish(w, &st, err, sizeof err), MIXSTAGE_OK);
  ck_assert_int_eq(st.frames, (int64_t)blocks * blk);
  ck_assert(isfinite(st.integrated_lufs));
  /* Under AddressSanitizer glibc's counters do not see the heap and both
   * read the same: the check is for the ordinary build. */
  ck_assert_msg(at_end <= after_1min + 16384, "heap grew by %zu bytes from minute 1 to minute 20",
                at_end - after_1min);
  free(x);
}
END_TEST

/* ---- errors and atomic replacement ----------------------------------------------- */

START_TEST(test_read_errors_name_the_file) {
  char p[256], err[512];
  float *y = (float *)1;
  int64_t m;
  int ch;
  path_in(p, sizeof p, "nope.wav");
  ck_assert_int_eq(mixstage_audio_read(p, 0, &y, &m, &ch, NULL, err, sizeof err),
                   MIXSTAGE_ENOTFOUND);
  ck_assert_ptr_null(y);
  char want[600];
  snprintf(want, sizeof want, "file '%s': no such file", p);
  ck_assert_str_eq(err, want);

  path_in(p, sizeof p, "garbage.wav");
  FILE *f = fopen(p, "w");
  fputs("this is not audio, just text long enough to be read as a header........", f);
  fclose(f);
  ck_assert_int_eq(mixstage_audio_read(p, 0, &y, &m, &ch, NULL, err, sizeof err), MIXSTAGE_EFORMAT);
  snprintf(want, sizeof want, "file '%s': unsupported format", p);
  ck_assert_msg(strncmp(err, want, strlen(want)) == 0, "%s", err);
  mixstage_file_stats s;
  ck_assert_int_eq(mixstage_measure_file(p, &s, err, sizeof err), MIXSTAGE_EFORMAT);
  ck_assert_ptr_nonnull(strstr(err, p));
  ck_assert_int_eq(mixstage_audio_read(NULL, 0, &y, &m, &ch, NULL, err, sizeof err), MIXSTAGE_ENULL);
  ck_assert_int_eq(mixstage_audio_read(p, -1, &y, &m, &ch, NULL, NULL, 0), MIXSTAGE_EINVAL);
}
END_TEST

static uint64_t file_checksum(const char *p) {
  mixstage_file_stats s;
  char err[256];
  ck_assert_msg(mixstage_measure_file(p, &s, err, sizeof err) == 0, "%s", err);
  return s.checksum;
}

/* A write that fails part-way (file-size limit: the same short write and
 * EFBIG a full disk gives as ENOSPC), or cannot start (missing directory),
 * leaves no temporary file and the previous file intact. */
START_TEST(test_atomic_write_failures) {
  const int format = _i; /* WAV, AIFF, FLAC: each encoder's error path */
  const int64_t n = 48000;
  float *x = programme(n, 48000);
  char p[256], err[512];
  snprintf(p, sizeof p, "%s/target.%s", dir, mixstage_file_format_name(format));
  mixstage_write_config wc;
  mixstage_write_config_init(&wc);
  wc.format = format;
  mixstage_file_stats s;
  ck_assert_int_eq(mixstage_audio_write(p, x, 4800, 2, 48000, &wc, &s, err, sizeof err), 0);
  uint64_t before = file_checksum(p);
  ck_assert_uint_eq(before, s.checksum);

  signal(SIGXFSZ, SIG_IGN);
  struct rlimit old, lim;
  ck_assert_int_eq(getrlimit(RLIMIT_FSIZE, &old), 0);
  lim = old;
  lim.rlim_cur = 64 * 1024; /* the full render needs ~290 kB (~200 kB as FLAC) */
  ck_assert_int_eq(setrlimit(RLIMIT_FSIZE, &lim), 0);
  int st = mixstage_audio_write(p, x, n, 2, 48000, &wc, &s, err, sizeof err);
  ck_assert_int_eq(setrlimit(RLIMIT_FSIZE, &old), 0);
  ck_assert_int_eq(st, MIXSTAGE_EIO);
  ck_assert_msg(strstr(err, p) != NULL, "%s", err);
  ck_assert_int_eq(temp_files(), 0);
  ck_assert_uint_eq(file_checksum(p), before);

  char bad[300];
  snprintf(bad, sizeof bad, "%s/no/such/dir/x.wav", dir);
  st = mixstage_audio_write(bad, x, n, 2, 48000, &wc, &s, err, sizeof err);
  ck_assert_int_eq(st, MIXSTAGE_EIO);
  char want[400];
  snprintf(want, sizeof want, "file '%s': ", bad);
  ck_assert_msg(strncmp(err, want, strlen(want)) == 0, "%s", err);

  /* A good write then replaces the file whole. */
  ck_assert_int_eq(mixstage_audio_write(p, x, n, 2, 48000, &wc, &s, err, sizeof err), 0);
  ck_assert_uint_eq(file_checksum(p), s.checksum);
  ck_assert_uint_ne(s.checksum, before);
  ck_assert_int_eq(temp_files(), 0);
  free(x);
}
END_TEST

START_TEST(test_write_argument_checks) {
  float x[64] = {0};
  char p[256], err[256];
  path_in(p, sizeof p, "args.wav");
  mixstage_write_config wc;
  mixstage_write_config_init(&wc);
  ck_assert_int_eq(wc.format, MIXSTAGE_FORMAT_WAV);
  ck_assert_int_eq(wc.sample_type, MIXSTAGE_SAMPLE_PCM24);
  ck_assert_int_eq(wc.dither, 1);
  mixstage_write_config_init(NULL);
  ck_assert_int_eq(mixstage_audio_write(NULL, x, 8, 1, 48000, &wc, NULL, NULL, 0), MIXSTAGE_ENULL);
  ck_assert_int_eq(mixstage_audio_write(p, NULL, 8, 1, 48000, &wc, NULL, NULL, 0), MIXSTAGE_ENULL);
  ck_assert_int_eq(mixstage_audio_write(p, x, -1, 1, 48000, &wc, NULL, NULL, 0), MIXSTAGE_EINVAL);
  ck_assert_int_eq(mixstage_audio_write(p, x, 8, 0, 48000, &wc, NULL, NULL, 0), MIXSTAGE_EINVAL);
  ck_assert_int_eq(mixstage_audio_write(p, x, 8, 1, 0, &wc, NULL, NULL, 0), MIXSTAGE_EINVAL);
  ck_assert_int_eq(mixstage_audio_write(p, x, 8, 1, 44100.5, &wc, NULL, err, sizeof err),
                   MIXSTAGE_EINVAL);
  wc.format = 7;
  ck_assert_int_eq(mixstage_audio_write(p, x, 8, 1, 48000, &wc, NULL, NULL, 0), MIXSTAGE_EINVAL);
  wc.format = MIXSTAGE_FORMAT_FLAC;
  ck_assert_int_eq(mixstage_audio_write(p, x, 4, 10, 48000, &wc, NULL, err, sizeof err),
                   MIXSTAGE_EFORMAT);
  ck_assert_int_eq(access(p, F_OK), -1);
  /* Zero frames and NULL config: a valid empty file with the defaults. */
  mixstage_file_stats s;
  ck_assert_int_eq(mixstage_audio_write(p, NULL, 0, 2, 48000, NULL, &s, err, sizeof err), 0);
  ck_assert_int_eq(s.frames, 0);
  ck_assert_int_eq(s.sample_type, MIXSTAGE_SAMPLE_PCM24);
  float *y;
  int64_t m;
  int ch;
  ck_assert_int_eq(mixstage_audio_read(p, 0, &y, &m, &ch, NULL, err, sizeof err), 0);
  ck_assert_int_eq(m, 0);
  ck_assert_int_eq(ch, 2);
  mixstage_free(y);
  ck_assert_str_eq(mixstage_file_format_name(2), "flac");
  ck_assert_ptr_null(mixstage_file_format_name(3));
  ck_assert_str_eq(mixstage_sample_type_name(0), "pcm16");
  ck_assert_ptr_null(mixstage_sample_type_name(-1));
  mixstage_free(NULL);
}
END_TEST

/* 5.1 and 7.1.4 files (WAVE_FORMAT_EXTENSIBLE) keep every channel apart. */
START_TEST(test_multichannel) {
  const int chans = _i == 0 ? 6 : 12;
  const int64_t n = 4800;
  float *x = malloc(sizeof(float) * n * chans);
  for (int64_t i = 0; i < n; i++)
    for (int c = 0; c < chans; c++) x[i * chans + c] = (float)((c + 1) * 0.05 * sin(0.01 * i * (c + 1)));
  char p[256], err[256];
  path_in(p, sizeof p, "multi.wav");
  mixstage_write_config wc;
  mixstage_write_config_init(&wc);
  wc.sample_type = MIXSTAGE_SAMPLE_FLOAT32;
  ck_assert_int_eq(mixstage_audio_write(p, x, n, chans, 48000, &wc, NULL, err, sizeof err), 0);
  float *y;
  int64_t m;
  int ch;
  ck_assert_int_eq(mixstage_audio_read(p, 0, &y, &m, &ch, NULL, err, sizeof err), 0);
  ck_assert_int_eq(ch, chans);
  ck_assert_int_eq(memcmp(x, y, sizeof(float) * n * chans), 0);
  mixstage_free(y);
  free(x);
}
END_TEST

/* ---- manifest ------------------------------------------------------------------ */

static const char *js(json_t *o, const char *k) { return json_string_value(json_object_get(o, k)); }

START_TEST(test_manifest_round_trip) {
  int e;
  mixstage_manifest *m = mixstage_manifest_create(&e);
  ck_assert_int_eq(e, MIXSTAGE_OK);
  ck_assert_int_eq(mixstage_manifest_set_string(m, "graph", "Song"), 0);
  ck_assert_int_eq(mixstage_manifest_set_integer(m, "sample_rate", 48000), 0);
  ck_assert_int_eq(mixstage_manifest_set_number(m, "tempo_bpm", 92.5), 0);
  ck_assert_int_eq(mixstage_manifest_set_json(m, "profile", "{\"name\":\"mix-stems\"}"), 0);
  ck_assert_int_eq(mixstage_manifest_set_json(m, "bad", "{nope"), MIXSTAGE_EFORMAT);
  ck_assert_int_eq(mixstage_manifest_set_string(m, "files", "x"), MIXSTAGE_EINVAL);
  ck_assert_int_eq(mixstage_manifest_set_number(m, "x", INFINITY), MIXSTAGE_EINVAL);
  ck_assert_int_eq(mixstage_manifest_set_string(NULL, "x", "y"), MIXSTAGE_ENULL);

  const int64_t n = 48000;
  float *x = programme(n, 48000);
  mixstage_file_stats s, quiet;
  ck_assert_int_eq(mixstage_measure(x, n, 2, 48000, &s), 0);
  float z[8] = {0};
  ck_assert_int_eq(mixstage_measure(z, 4, 2, 48000, &quiet), 0);
  const char *on[] = {"strip", "design", "bus-color", NULL};
  const char *byp[] = {"bus-dynamics", "placeholder-limiter", NULL};
  const char *mut[] = {"mix-fx", NULL};
  const char *badrole[] = {"glue", NULL};
  ck_assert_int_eq(mixstage_manifest_add_file(m, "stems/vox.wav", "stem", "mix-stems", &s, on,
                                              byp, mut, 64),
                   0);
  ck_assert_int_eq(mixstage_manifest_add_file(m, "stems/pad.wav", "fx-return", "mix-stems",
                                              &quiet, NULL, NULL, NULL, 0),
                   1);
  ck_assert_int_eq(mixstage_manifest_add_file(m, "x.wav", "stem", "p", &s, badrole, NULL, NULL, 0),
                   MIXSTAGE_ENOTFOUND);
  ck_assert_int_eq(mixstage_manifest_add_file(m, "x.wav", "drum", "p", &s, NULL, NULL, NULL, 0),
                   MIXSTAGE_EINVAL);
  ck_assert_int_eq(mixstage_manifest_add_file(m, "x.wav", "stem", "p", &s, NULL, NULL, NULL, -1),
                   MIXSTAGE_EINVAL);
  ck_assert_int_eq(mixstage_manifest_file_count(m), 2);
  ck_assert_int_eq(mixstage_manifest_file_set_number(m, 0, "null_residual_dbfs", -141.5), 0);
  ck_assert_int_eq(mixstage_manifest_file_set_string(m, 0, "strip", "Vox"), 0);
  ck_assert_int_eq(mixstage_manifest_file_set_integer(m, 1, "bus_index", 3), 0);
  ck_assert_int_eq(mixstage_manifest_file_set_json(m, 1, "sources", "[\"Pad L\",\"Pad R\"]"), 0);
  ck_assert_int_eq(mixstage_manifest_file_set_number(m, 2, "x", 1), MIXSTAGE_ERANGE);
  ck_assert_int_eq(mixstage_manifest_file_set_string(m, 0, "path", "evil"), MIXSTAGE_EINVAL);

  char *text = mixstage_manifest_to_string(m);
  ck_assert_ptr_nonnull(text);
  json_error_t je;
  json_t *root = json_loads(text, 0, &je);
  ck_assert_msg(root != NULL, "%s", je.text);
  ck_assert_int_eq(json_integer_value(json_object_get(root, "manifest_version")), 2);
  ck_assert_ptr_nonnull(strstr(js(root, "generator"), "libmixstage"));
  ck_assert_str_eq(js(root, "graph"), "Song");
  ck_assert_int_eq(json_integer_value(json_object_get(root, "sample_rate")), 48000);
  ck_assert(json_real_value(json_object_get(root, "tempo_bpm")) == 92.5);
  ck_assert_str_eq(js(json_object_get(root, "profile"), "name"), "mix-stems");
  ck_assert_ptr_null(json_object_get(root, "date")); /* reproducible: no date */
  json_t *files = json_object_get(root, "files");
  ck_assert_int_eq(json_array_size(files), 2);
  json_t *f0 = json_array_get(files, 0);
  ck_assert_str_eq(js(f0, "path"), "stems/vox.wav");
  ck_assert_str_eq(js(f0, "kind"), "stem");
  ck_assert_str_eq(js(f0, "profile"), "mix-stems");
  ck_assert_ptr_null(js(f0, "format")); /* a buffer, not a file */
  ck_assert_str_eq(js(f0, "sample_type"), "float32");
  ck_assert_int_eq(json_integer_value(json_object_get(f0, "sample_rate")), 48000);
  ck_assert_int_eq(json_integer_value(json_object_get(f0, "channels")), 2);
  ck_assert_int_eq(json_integer_value(json_object_get(f0, "frames")), n);
  ck_assert_int_eq(json_integer_value(json_object_get(f0, "latency_removed_frames")), 64);
  ck_assert_int_eq(json_integer_value(json_object_get(f0, "clipped_samples")), 0);
  json_t *roles = json_object_get(f0, "roles");
  ck_assert_int_eq(json_array_size(json_object_get(roles, "on")), 3);
  ck_assert_str_eq(json_string_value(json_array_get(json_object_get(roles, "bypass"), 1)),
                   "placeholder-limiter");
  ck_assert_str_eq(json_string_value(json_array_get(json_object_get(roles, "mute"), 0)), "mix-fx");
  ck_assert_ptr_null(json_object_get(roles, "muted")); /* version 1's word, no more */
  /* 12 significant digits: values survive to ~1e-11 relative. */
  const struct {
    const char *k;
    double v;
  } nums[] = {{"seconds", s.seconds},
              {"peak_dbfs", s.peak_dbfs},
              {"true_peak_dbtp", s.true_peak_dbtp},
              {"integrated_lufs", s.integrated_lufs},
              {"loudness_range_lu", s.loudness_range_lu},
              {"momentary_max_lufs", s.momentary_max_lufs},
              {"short_term_max_lufs", s.short_term_max_lufs},
              {"rms_dbfs", s.rms_dbfs},
              {"null_residual_dbfs", -141.5}};
  for (size_t i = 0; i < sizeof nums / sizeof nums[0]; i++) {
    json_t *v = json_object_get(f0, nums[i].k);
    ck_assert_msg(json_is_number(v), "%s missing", nums[i].k);
    ck_assert_msg(fabs(json_number_value(v) - nums[i].v) <= 1e-10 * fabs(nums[i].v) + 1e-12,
                  "%s: %.17g vs %.17g", nums[i].k, json_number_value(v), nums[i].v);
  }
  char hex[40];
  snprintf(hex, sizeof hex, "fnv1a64:%016llx", (unsigned long long)s.checksum);
  ck_assert_str_eq(js(f0, "checksum"), hex);
  ck_assert_str_eq(js(f0, "strip"), "Vox");
  json_t *f1 = json_array_get(files, 1);
  ck_assert_str_eq(js(f1, "kind"), "fx-return");
  ck_assert(json_is_null(json_object_get(f1, "peak_dbfs"))); /* silence: -inf -> null */
  ck_assert(json_is_null(json_object_get(f1, "integrated_lufs")));
  ck_assert_int_eq(json_array_size(json_object_get(json_object_get(f1, "roles"), "on")), 0);
  ck_assert_int_eq(json_integer_value(json_object_get(f1, "bus_index")), 3);
  ck_assert_int_eq(json_array_size(json_object_get(f1, "sources")), 2);
  json_decref(root);

  /* Written atomically, byte-identical to the string, and reproducible. */
  char p[256], err[256];
  path_in(p, sizeof p, "manifest.json");
  ck_assert_int_eq(mixstage_manifest_write(m, p, err, sizeof err), 0);
  FILE *f = fopen(p, "rb");
  char *buf = calloc(1, strlen(text) + 16);
  size_t got = fread(buf, 1, strlen(text) + 8, f);
  fclose(f);
  ck_assert_uint_eq(got, strlen(text));
  ck_assert_str_eq(buf, text);
  char *again = mixstage_manifest_to_string(m);
  ck_assert_str_eq(again, text);
  ck_assert_int_eq(temp_files(), 0);
  char bad[300];
  snprintf(bad, sizeof bad, "%s/missing/manifest.json", dir);
  ck_assert_int_eq(mixstage_manifest_write(m, bad, err, sizeof err), MIXSTAGE_EIO);
  ck_assert_ptr_nonnull(strstr(err, bad));
  free(buf);
  mixstage_free(again);
  mixstage_free(text);
  mixstage_manifest_destroy(m);
  mixstage_manifest_destroy(NULL);
  ck_assert_ptr_null(mixstage_manifest_to_string(NULL));
  free(x);
}
END_TEST

/* Writing over a symbolic link replaces the link with a file of the usual
 * mode; the link's target keeps its contents and mode.  A FIFO is refused
 * as a source at once instead of waiting for a writer. */
START_TEST(test_links_and_fifos) {
  char target[256], link_path[256], fifo[256], err[512];
  snprintf(target, sizeof target, "%s/secret", dir);
  snprintf(link_path, sizeof link_path, "%s/out.wav", dir);
  snprintf(fifo, sizeof fifo, "%s/fifo.wav", dir);
  FILE *f = fopen(target, "w");
  ck_assert_ptr_nonnull(f);
  fputs("keep", f);
  fclose(f);
  ck_assert_int_eq(chmod(target, 0600), 0);
  ck_assert_int_eq(symlink("secret", link_path), 0);
  float x[2 * 480] = {0};
  mode_t um = umask(022);
  int st = mixstage_audio_write(link_path, x, 480, 2, 48000, NULL, NULL, err, sizeof err);
  umask(um);
  ck_assert_msg(st == MIXSTAGE_OK, "%s", err);
  struct stat sb;
  ck_assert_int_eq(lstat(link_path, &sb), 0);
  ck_assert(S_ISREG(sb.st_mode));
  ck_assert_int_eq(sb.st_mode & 07777, 0644);
  ck_assert_int_eq(stat(target, &sb), 0);
  ck_assert_int_eq(sb.st_mode & 07777, 0600);
  ck_assert_int_eq(sb.st_size, 4);
  ck_assert_int_eq(mkfifo(fifo, 0600), 0);
  float *y = NULL;
  int64_t m;
  int ch;
  double fr;
  st = mixstage_audio_read(fifo, 0, &y, &m, &ch, &fr, err, sizeof err);
  ck_assert_int_eq(st, MIXSTAGE_EIO);
  ck_assert_msg(strstr(err, "not a regular file") && strstr(err, fifo), "%s", err);
  ck_assert_ptr_null(y);
}
END_TEST

static Suite *io_suite(void) {
  Suite *s = suite_create("io");
  TCase *files = tcase_create("files");
  tcase_add_checked_fixture(files, setup, teardown);
  tcase_set_timeout(files, 120); /* generous for valgrind */
  tcase_add_loop_test(files, test_round_trip, 0, 9);
  tcase_add_test(files, test_no_dither_rounds);
  tcase_add_test(files, test_dither_reproducible);
  tcase_add_test(files, test_clipping_never_wraps);
  tcase_add_test(files, test_read_errors_name_the_file);
  tcase_add_loop_test(files, test_atomic_write_failures, 0, 3);
  tcase_add_test(files, test_write_argument_checks);
  tcase_add_test(files, test_links_and_fifos);
  tcase_add_loop_test(files, test_multichannel, 0, 2);
  tcase_add_test(files, test_writer_meters_do_not_grow);
  suite_add_tcase(s, files);

  TCase *src = tcase_create("resample");
  tcase_add_checked_fixture(src, setup, teardown);
  tcase_set_timeout(src, 120);
  tcase_add_test(src, test_resample_441_to_48);
  tcase_add_test(src, test_resample_removes_above_nyquist);
  suite_add_tcase(s, src);

  TCase *meter = tcase_create("meter");
  tcase_set_timeout(meter, 120);
  tcase_add_loop_test(meter, test_loudness_tech3341, 0, 2);
  tcase_add_test(meter, test_true_peak_between_samples);
  tcase_add_test(meter, test_measure_silence_and_args);
  tcase_add_loop_test(meter, test_integrated_equals_libebur128, 0, 3);
  suite_add_tcase(s, meter);

  TCase *man = tcase_create("manifest");
  tcase_add_checked_fixture(man, setup, teardown);
  tcase_set_timeout(man, 120);
  tcase_add_test(man, test_manifest_round_trip);
  suite_add_tcase(s, man);
  return s;
}

int main(void) {
  SRunner *sr = srunner_create(io_suite());
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
