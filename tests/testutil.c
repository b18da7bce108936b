#include "testutil.h"
#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <complex.h>

void tu_song_sources(float *src[5], int64_t len, double fs, double lead_seconds) {
  for (int k = 0; k < 5; k++) {
    src[k] = calloc((size_t)len, sizeof(float));
    ck_assert_ptr_nonnull(src[k]);
  }
  for (int64_t i = 0; i < len; i++) {
    double t = (double)i / fs;
    int ph = (int)(i % 24000);
    src[0][i] = ph < 6000 ? (float)(0.8 * sin(2 * TU_PI * (50.0 + 80.0 * exp(-ph / 1200.0)) * ph / fs) * exp(-ph / 3000.0)) : 0.0f;
    src[1][i] = (float)(0.3 * sin(2 * TU_PI * 55.0 * t) + 0.1 * sin(2 * TU_PI * 110.0 * t));
    src[2][i] = (float)(0.15 * (sin(2 * TU_PI * 220.0 * t) + sin(2 * TU_PI * 277.2 * t) + sin(2 * TU_PI * 329.6 * t)));
    src[3][i] = t < lead_seconds ? (float)(0.3 * sin(2 * TU_PI * 660.0 * t) * (0.5 + 0.5 * sin(2 * TU_PI * 4 * t))) : 0.0f;
    int hp = (int)(i % 6000);
    src[4][i] = hp < 600 ? (float)(0.2 * exp(-hp / 150.0) * sin((double)i * 1.7) * cos((double)i * 2.9)) : 0.0f;
  }
}

void tu_song_strips(mixstage_graph *g, float *const src[5], int64_t len, mixstage_strip *st[5]) {
  static const char *const names[5] = {"Kick", "Bass", "Pad", "Lead", "Hat"};
  int err;
  for (int k = 0; k < 5; k++) {
    st[k] = mixstage_graph_add_strip(g, names[k], 1, &err);
    ck_assert_ptr_nonnull(st[k]);
    ck_assert_int_eq(mixstage_strip_set_source_buffer(st[k], src[k], 1, len, 0), MIXSTAGE_OK);
  }
  mixstage_strip_set_pan(st[2], -0.3);
  mixstage_strip_set_pan(st[3], 0.3);
  mixstage_strip_set_pan(st[4], 0.5);
}

void tu_sine(float *x, int64_t n, double freq, double fs, double amp, double phase) {
  for (int64_t i = 0; i < n; i++) x[i] = (float)(amp * sin(2.0 * TU_PI * freq * (double)i / fs + phase));
}

void tu_noise(float *x, int64_t n, double amp, uint32_t seed) {
  uint32_t s = seed ? seed : 1u;
  for (int64_t i = 0; i < n; i++) {
    s ^= s << 13; s ^= s >> 17; s ^= s << 5;
    x[i] = (float)(amp * ((double)s / 2147483648.0 - 1.0));
  }
}

double tu_peak(const float *x, int64_t n) {
  double p = 0.0;
  for (int64_t i = 0; i < n; i++) if (fabs(x[i]) > p) p = fabs(x[i]);
  return p;
}

double tu_rms(const float *x, int64_t n) {
  double s = 0.0;
  for (int64_t i = 0; i < n; i++) s += (double)x[i] * x[i];
  return n > 0 ? sqrt(s / (double)n) : 0.0;
}

double tu_db(double g) { return g > 1e-50 ? 20.0 * log10(g) : -999.0; }

static double bh_window(int64_t i, int64_t n) {
  double w = 2.0 * TU_PI * (double)i / (double)(n - 1);
  return 0.35875 - 0.48829 * cos(w) + 0.14128 * cos(2 * w) - 0.01168 * cos(3 * w);
}

double tu_tone_amplitude(const float *x, int64_t n, double freq, double fs) {
  double re = 0, im = 0, wsum = 0;
  for (int64_t i = 0; i < n; i++) {
    double w = bh_window(i, n);
    double ph = 2.0 * TU_PI * freq * (double)i / fs;
    re += w * x[i] * cos(ph);
    im -= w * x[i] * sin(ph);
    wsum += w;
  }
  return 2.0 * sqrt(re * re + im * im) / wsum;
}

static void fft(double complex *a, int n) {
  for (int i = 1, j = 0; i < n; i++) {
    int bit = n >> 1;
    for (; j & bit; bit >>= 1) j ^= bit;
    j ^= bit;
    if (i < j) { double complex t = a[i]; a[i] = a[j]; a[j] = t; }
  }
  for (int len = 2; len <= n; len <<= 1) {
    double complex wl = cexp(-2.0 * I * TU_PI / len);
    for (int i = 0; i < n; i += len) {
      double complex w = 1.0;
      for (int k = 0; k < len / 2; k++) {
        double complex u = a[i + k], v = a[i + k + len / 2] * w;
        a[i + k] = u + v;
        a[i + k + len / 2] = u - v;
        w *= wl;
      }
    }
  }
}

int tu_spectrum(const float *x, int n, double *mag) {
  if (n < 2 || (n & (n - 1))) return -1;
  double complex *a = malloc(sizeof(double complex) * (size_t)n);
  if (!a) return -1;
  double wsum = 0;
  for (int i = 0; i < n; i++) { double w = bh_window(i, n); wsum += w; a[i] = w * x[i]; }
  fft(a, n);
  for (int k = 0; k <= n / 2; k++) mag[k] = 2.0 * cabs(a[k]) / wsum;
  free(a);
  return 0;
}
