/* Check suite for the translation previews (lib/translate.c).
 *
 * Everything is measured from audio that went through mixstage_translate():
 * impulse responses DFT'd at 30 frequencies against the analytic curve,
 * tone levels (tu_tone_amplitude), exact channel equality, finiteness.
 */
#define _POSIX_C_SOURCE 200809L
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mixstage.h"
#include "testutil.h"

#define FS 48000.0
/* 0.5 s impulse responses: the slowest section (club 30 Hz 4th-order HP,
 * Q 1.31, time constant 2Q/w0 = 14 ms) has decayed by > 250 dB by then, so
 * truncation does not bias the DFT. */
#define IR_LEN 24000
/* -40 dBFS impulse: its response stays far below the phone/laptop
 * compressor knees, whose gain is then exactly 1, so the measured curve is
 * the linear (designed) one. */
#define IMP_AMP 0.01

static double dft_db(const float *x, int stride, int n, double f, double fs, double scale) {
  /* e^{-jwi} by a rotating phasor in double, renormalised every 1024
   * steps: the drift stays ~1e-13, far below the 0.05 dB (0.6 %) tolerance. */
  double re = 0.0, im = 0.0, w = 2.0 * TU_PI * f / fs;
  double cr = cos(w), ci = -sin(w), pr = 1.0, pi = 0.0;
  for (int i = 0; i < n; i++) {
    double v = x[(size_t)i * stride];
    re += v * pr;
    im += v * pi;
    double t = pr * cr - pi * ci;
    pi = pr * ci + pi * cr;
    pr = t;
    if ((i & 1023) == 1023) {
      double g = 1.0 / hypot(pr, pi);
      pr *= g;
      pi *= g;
    }
  }
  return 20.0 * log10(hypot(re, im) / scale + 1e-300);
}

START_TEST(test_names) {
  int n = mixstage_playback_system_count();
  ck_assert_int_eq(n, 5);
  const char *expect[] = {"laptop", "phone", "earbuds", "car", "club"};
  for (int i = 0; i < n; i++) {
    ck_assert_str_eq(mixstage_playback_system_name(i), expect[i]);
    ck_assert_ptr_nonnull(mixstage_playback_system_description(i));
    ck_assert_int_gt((int)strlen(mixstage_playback_system_description(i)), 10);
    ck_assert_int_eq(mixstage_playback_system_find(expect[i]), i);
  }
  ck_assert_ptr_null(mixstage_playback_system_name(n));
  ck_assert_ptr_null(mixstage_playback_system_name(-1));
  ck_assert_ptr_null(mixstage_playback_system_description(n));
  ck_assert_int_eq(mixstage_playback_system_find("hifi"), MIXSTAGE_ENOTFOUND);
  ck_assert_int_eq(mixstage_playback_system_find(NULL), MIXSTAGE_ENULL);
  ck_assert_int_eq(MIXSTAGE_PLAYBACK_CLUB, 4);
}
END_TEST

START_TEST(test_bad_args) {
  float buf[8] = {0};
  ck_assert_int_eq(mixstage_translate(buf, 4, 2, FS, 5, buf), MIXSTAGE_ERANGE);
  ck_assert_int_eq(mixstage_translate(buf, 4, 2, FS, -1, buf), MIXSTAGE_ERANGE);
  ck_assert_int_eq(mixstage_translate(buf, 4, 0, FS, 0, buf), MIXSTAGE_EINVAL);
  ck_assert_int_eq(mixstage_translate(buf, 4, 65, FS, 0, buf), MIXSTAGE_EINVAL);
  ck_assert_int_eq(mixstage_translate(buf, -1, 2, FS, 0, buf), MIXSTAGE_EINVAL);
  ck_assert_int_eq(mixstage_translate(buf, 4, 2, 4000.0, 0, buf), MIXSTAGE_EINVAL);
  ck_assert_int_eq(mixstage_translate(buf, 4, 2, NAN, 0, buf), MIXSTAGE_EINVAL);
  ck_assert_int_eq(mixstage_translate(NULL, 4, 2, FS, 0, buf), MIXSTAGE_ENULL);
  ck_assert_int_eq(mixstage_translate(buf, 4, 2, FS, 0, NULL), MIXSTAGE_ENULL);
  ck_assert_int_eq(mixstage_translate(NULL, 0, 2, FS, 0, NULL), MIXSTAGE_OK);
  ck_assert(isnan(mixstage_translate_response_db(9, 1000.0, FS)));
  ck_assert(isnan(mixstage_translate_response_db(0, 30000.0, FS)));
  ck_assert(isnan(mixstage_translate_response_db(0, -1.0, FS)));
  ck_assert(isnan(mixstage_translate_response_db(0, 1000.0, 0.0)));
  ck_assert_int_eq(mixstage_translate_write(buf, 4, 2, FS, NULL, "x", NULL, NULL, 0),
                   MIXSTAGE_ENULL);
}
END_TEST

/* Measured response of each system (a centre impulse in both channels, DFT
 * of each output channel) equals mixstage_translate_response_db() within
 * 0.05 dB at 30 log-spaced frequencies 20 Hz - 20 kHz.  Where the designed
 * curve is below -50 dB (deep stop bands of the phone/laptop high-passes),
 * the float rounding of a -40 dBFS response (~1e-9 per sample, summed over
 * the IR) is no longer 0.05 dB below the signal, so there the measurement
 * must only lie below -45 dB. */
START_TEST(test_response_matches_design) {
  int sys = _i;
  float *x = calloc((size_t)IR_LEN * 2, sizeof *x);
  float *y = calloc((size_t)IR_LEN * 2, sizeof *y);
  x[0] = x[1] = (float)IMP_AMP;
  ck_assert_int_eq(mixstage_translate(x, IR_LEN, 2, FS, sys, y), MIXSTAGE_OK);
  double worst = 0.0;
  for (int k = 0; k < 30; k++) {
    double f = 20.0 * pow(1000.0, k / 29.0);
    double want = mixstage_translate_response_db(sys, f, FS);
    ck_assert(isfinite(want));
    for (int c = 0; c < 2; c++) {
      double got = dft_db(y + c, 2, IR_LEN, f, FS, IMP_AMP);
      if (want > -50.0) {
        double e = fabs(got - want);
        if (e > worst) worst = e;
        ck_assert_msg(e < 0.05, "%s ch%d %.1f Hz: measured %.3f dB, designed %.3f dB",
                      mixstage_playback_system_name(sys), c, f, got, want);
      } else {
        ck_assert_msg(got < -45.0, "%s %.1f Hz: %.2f dB", mixstage_playback_system_name(sys), f,
                      got);
      }
    }
  }
  printf("translate: %-8s response max |measured - designed| = %.2e dB\n",
         mixstage_playback_system_name(sys), worst);
  free(x);
  free(y);
}
END_TEST

/* The designed curves have the features the header documents (each checked
 * on the analytic curve, which the test above ties to the audio). */
START_TEST(test_curve_shapes) {
  double (*r)(int, double, double) = mixstage_translate_response_db;
  /* phone: > 20 dB down at 100 Hz relative to 1 kHz; presence bump. */
  ck_assert(r(1, 100.0, FS) - r(1, 1000.0, FS) < -20.0);
  ck_assert(r(1, 3000.0, FS) - r(1, 1000.0, FS) > 2.0);
  ck_assert(r(1, 16000.0, FS) < -6.0);
  /* laptop: nothing at 60 Hz, mids near 0 dB. */
  ck_assert(r(0, 60.0, FS) < -30.0);
  ck_assert(fabs(r(0, 900.0, FS) - 3.0) < 1.0);
  /* earbuds: bass lifted about 4 dB at 50 Hz, down at 15 Hz. */
  ck_assert(r(2, 50.0, FS) > 3.0 && r(2, 50.0, FS) < 5.0);
  ck_assert(r(2, 12.0, FS) < r(2, 50.0, FS) - 3.0);
  /* car: cabin gain near +6 dB at 25-30 Hz, +3 dB near 180 Hz. */
  ck_assert(r(3, 30.0, FS) > 4.5);
  ck_assert(r(3, 180.0, FS) > 3.0);
  /* club: sub emphasis at 55 Hz, high-passed at 20 Hz. */
  ck_assert(r(4, 55.0, FS) > 4.0);
  ck_assert(r(4, 20.0, FS) < -4.0);
}
END_TEST

/* Phone preview: one speaker, so L == R bit for bit for any input (here
 * independent noises), and 100 Hz comes out > 20 dB below 1 kHz (tones at
 * -40 dBFS, below the compressor, measured separately). */
START_TEST(test_phone_mono) {
  int n = 24000;
  float *l = malloc((size_t)n * sizeof *l), *rr = malloc((size_t)n * sizeof *rr);
  float *x = malloc((size_t)n * 2 * sizeof *x), *y = malloc((size_t)n * 2 * sizeof *y);
  float *m = malloc((size_t)n * sizeof *m);
  tu_noise(l, n, 0.5, 1);
  tu_noise(rr, n, 0.5, 2);
  for (int i = 0; i < n; i++) {
    x[2 * i] = l[i];
    x[2 * i + 1] = rr[i];
  }
  ck_assert_int_eq(mixstage_translate(x, n, 2, FS, MIXSTAGE_PLAYBACK_PHONE, y), MIXSTAGE_OK);
  int differ = 0;
  for (int i = 0; i < n; i++) differ += y[2 * i] != y[2 * i + 1];
  ck_assert_int_eq(differ, 0);
  ck_assert(tu_peak(y, 2 * (int64_t)n) > 0.01); /* not silenced */
  /* in place (out == in) gives the same bits */
  ck_assert_int_eq(mixstage_translate(x, n, 2, FS, MIXSTAGE_PLAYBACK_PHONE, x), MIXSTAGE_OK);
  ck_assert(memcmp(x, y, (size_t)n * 2 * sizeof *x) == 0);

  double amp[2];
  double fr[2] = {100.0, 1000.0};
  for (int t = 0; t < 2; t++) {
    tu_sine(l, n, fr[t], FS, 0.01, 0.0);
    for (int i = 0; i < n; i++) x[2 * i] = x[2 * i + 1] = l[i];
    ck_assert_int_eq(mixstage_translate(x, n, 2, FS, MIXSTAGE_PLAYBACK_PHONE, y), MIXSTAGE_OK);
    /* measure the second half (transient gone) */
    for (int i = 0; i < n / 2; i++) m[i] = y[2 * (i + n / 2)];
    amp[t] = tu_tone_amplitude(m, n / 2, fr[t], FS);
  }
  double rel = tu_db(amp[0] / amp[1]);
  printf("translate: phone 100 Hz relative to 1 kHz = %.1f dB\n", rel);
  ck_assert_msg(rel < -20.0, "phone 100 Hz only %.1f dB below 1 kHz", rel);
  free(l);
  free(rr);
  free(x);
  free(y);
  free(m);
}
END_TEST

/* The phone's compressor acts on loud material: a 0 dBFS 1 kHz tone comes
 * out at least 6 dB below the linear curve (threshold -20 dBFS, 3:1: a
 * steady tone peaking ~+1 dBFS after the EQ is reduced by ~14 dB; 6 dB
 * leaves margin for the knee), while a -40 dBFS tone follows the curve
 * within 0.05 dB. */
START_TEST(test_phone_compressor) {
  int n = 24000;
  float *s = malloc((size_t)n * sizeof *s), *y = malloc((size_t)n * sizeof *y);
  double lin = pow(10.0, mixstage_translate_response_db(1, 1000.0, FS) / 20.0);
  double amps[2] = {1.0, 0.01};
  double got[2];
  for (int t = 0; t < 2; t++) {
    tu_sine(s, n, 1000.0, FS, amps[t], 0.0);
    ck_assert_int_eq(mixstage_translate(s, n, 1, FS, 1, y), MIXSTAGE_OK);
    got[t] = tu_db(tu_tone_amplitude(y + n / 2, n / 2, 1000.0, FS) / (amps[t] * lin));
  }
  printf("translate: phone compressor at 0 dBFS: %.1f dB, at -40 dBFS: %.3f dB\n", got[0],
         got[1]);
  ck_assert(got[0] < -6.0);
  ck_assert(fabs(got[1]) < 0.05);
  free(s);
  free(y);
}
END_TEST

/* Club: below 100 Hz the subs are mono.  A pure side signal at 50 Hz
 * (L = -R) must come out > 30 dB below what the same tone gets as centre
 * content (design: LR8 high-pass at 100 Hz, -48 dB at 50 Hz); at 1 kHz
 * the side is kept (within 0.5 dB of the centre gain: the LR8 is -0.0 dB
 * there, 0.5 dB allows for the tone measurement's window). */
START_TEST(test_club_mono_sub) {
  int n = 48000;
  float *s = malloc((size_t)n * sizeof *s), *x = malloc((size_t)n * 2 * sizeof *x);
  float *y = malloc((size_t)n * 2 * sizeof *y), *side = malloc((size_t)n * sizeof *side);
  double fr[2] = {50.0, 1000.0};
  double rel[2];
  for (int t = 0; t < 2; t++) {
    tu_sine(s, n, fr[t], FS, 0.25, 0.0);
    for (int i = 0; i < n; i++) {
      x[2 * i] = s[i];
      x[2 * i + 1] = -s[i];
    }
    ck_assert_int_eq(mixstage_translate(x, n, 2, FS, MIXSTAGE_PLAYBACK_CLUB, y), MIXSTAGE_OK);
    for (int i = 0; i < n / 2; i++)
      side[i] = 0.5f * (y[2 * (i + n / 2)] - y[2 * (i + n / 2) + 1]);
    double centre = pow(10.0, mixstage_translate_response_db(4, fr[t], FS) / 20.0);
    rel[t] = tu_db(tu_tone_amplitude(side, n / 2, fr[t], FS) / (0.25 * centre));
  }
  printf("translate: club side at 50 Hz %.1f dB, at 1 kHz %.2f dB (re centre)\n", rel[0], rel[1]);
  ck_assert_msg(rel[0] < -30.0, "club side at 50 Hz only %.1f dB down", rel[0]);
  ck_assert_msg(fabs(rel[1]) < 0.5, "club side at 1 kHz %.2f dB", rel[1]);
  free(s);
  free(x);
  free(y);
  free(side);
}
END_TEST

/* Stability: loud noise (0 dBFS peak, 6 independent channels) at 8 kHz,
 * 48 kHz and 192 kHz gives finite output bounded by 4 (+12 dB: the largest
 * boost is +6 dB, noise peaks add a few dB through the bells); silence
 * gives exact zeros; earbuds (no channel mixing, no compressor) keep the
 * channels independent (a channel fed silence stays silent). */
START_TEST(test_stable) {
  int sys = _i;
  double rates[3] = {8000.0, 48000.0, 192000.0};
  int ch = 6, n = 9600;
  float *x = malloc((size_t)n * ch * sizeof *x), *y = malloc((size_t)n * ch * sizeof *y);
  float *s = malloc((size_t)n * sizeof *s);
  for (int r = 0; r < 3; r++) {
    for (int c = 0; c < ch; c++) {
      tu_noise(s, n, 1.0, 10 + c);
      for (int i = 0; i < n; i++) x[i * ch + c] = s[i];
    }
    ck_assert_int_eq(mixstage_translate(x, n, ch, rates[r], sys, y), MIXSTAGE_OK);
    int bad = 0;
    for (int64_t i = 0; i < (int64_t)n * ch; i++) bad += !isfinite(y[i]);
    ck_assert_int_eq(bad, 0);
    double pk = tu_peak(y, (int64_t)n * ch);
    ck_assert_msg(pk < 4.0 && pk > 0.05, "%s at %.0f Hz: peak %.3f",
                  mixstage_playback_system_name(sys), rates[r], pk);
    for (int k = 0; k < 30; k++) {
      double f = 20.0 * pow(1000.0, k / 29.0);
      if (f <= rates[r] / 2) ck_assert(isfinite(mixstage_translate_response_db(sys, f, rates[r])));
    }
  }
  memset(x, 0, (size_t)n * ch * sizeof *x);
  ck_assert_int_eq(mixstage_translate(x, n, ch, FS, sys, y), MIXSTAGE_OK);
  int nonzero = 0;
  for (int64_t i = 0; i < (int64_t)n * ch; i++) nonzero += y[i] != 0.0f;
  ck_assert_int_eq(nonzero, 0);
  free(x);
  free(y);
  free(s);
}
END_TEST

START_TEST(test_earbuds_separation) {
  int n = 4800;
  float *x = calloc((size_t)n * 2, sizeof *x), *y = malloc((size_t)n * 2 * sizeof *y);
  float *s = malloc((size_t)n * sizeof *s);
  tu_noise(s, n, 0.5, 7);
  for (int i = 0; i < n; i++) x[2 * i] = s[i];
  ck_assert_int_eq(mixstage_translate(x, n, 2, FS, MIXSTAGE_PLAYBACK_EARBUDS, y), MIXSTAGE_OK);
  int leaked = 0;
  for (int i = 0; i < n; i++) leaked += y[2 * i + 1] != 0.0f;
  ck_assert_int_eq(leaked, 0);
  ck_assert(tu_peak(y, 2 * (int64_t)n) > 0.1);
  free(x);
  free(y);
  free(s);
}
END_TEST

/* One file per system, each the same audio mixstage_translate() gives
 * (written as float32, read back exactly). */
START_TEST(test_write) {
  char dir[] = "translate-test-XXXXXX";
  ck_assert_ptr_nonnull(mkdtemp(dir));
  int n = 4800;
  float *x = malloc((size_t)n * 2 * sizeof *x), *y = malloc((size_t)n * 2 * sizeof *y);
  tu_noise(x, 2 * (int64_t)n, 0.3, 3);
  mixstage_write_config wc;
  mixstage_write_config_init(&wc);
  wc.sample_type = MIXSTAGE_SAMPLE_FLOAT32;
  char err[256];
  ck_assert_int_eq(mixstage_translate_write(x, n, 2, FS, dir, "song", &wc, err, sizeof err),
                   MIXSTAGE_OK);
  for (int sys = 0; sys < mixstage_playback_system_count(); sys++) {
    char path[512];
    snprintf(path, sizeof path, "%s/song-%s.wav", dir, mixstage_playback_system_name(sys));
    float *r;
    int64_t frames;
    int ch;
    ck_assert_int_eq(mixstage_audio_read(path, 0, &r, &frames, &ch, NULL, err, sizeof err),
                     MIXSTAGE_OK);
    ck_assert_int_eq(frames, n);
    ck_assert_int_eq(ch, 2);
    ck_assert_int_eq(mixstage_translate(x, n, 2, FS, sys, y), MIXSTAGE_OK);
    ck_assert(memcmp(r, y, (size_t)n * 2 * sizeof *y) == 0);
    mixstage_free(r);
    unlink(path);
  }
  ck_assert_int_ne(
      mixstage_translate_write(x, n, 2, FS, "translate-no-such-dir/x", "a", NULL, err, sizeof err),
      MIXSTAGE_OK);
  rmdir(dir);
  free(x);
  free(y);
}
END_TEST

int main(void) {
  Suite *s = suite_create("translate");
  TCase *tc = tcase_create("core");
  tcase_set_timeout(tc, 60);
  tcase_add_test(tc, test_names);
  tcase_add_test(tc, test_bad_args);
  tcase_add_loop_test(tc, test_response_matches_design, 0, 5);
  tcase_add_test(tc, test_curve_shapes);
  tcase_add_test(tc, test_phone_mono);
  tcase_add_test(tc, test_phone_compressor);
  tcase_add_test(tc, test_club_mono_sub);
  tcase_add_loop_test(tc, test_stable, 0, 5);
  tcase_add_test(tc, test_earbuds_separation);
  tcase_add_test(tc, test_write);
  suite_add_tcase(s, tc);
  SRunner *sr = srunner_create(s);
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
