/* eq_dump: prints the "eq" node's measured magnitude response for a fixed set
 * of settings, for tests/eq_reference.py to compare against scipy.
 *
 * The response is measured, not computed from coefficients: a unit impulse
 * runs through the node (via the node host, on the engine's control grid)
 * and its output is Fourier-transformed at each frequency in double.
 *
 * Output format (one case after another; '#' lines are comments):
 *   case <fs> <type> <freq> <gain_db> <q> <slope_db_per_oct>
 *   <frequency_hz> <magnitude_db>        (40 lines, 20 Hz .. 0.45 fs, log-spaced)
 *   end
 * Exit status 0, or 1 if the node could not be created. */
#include <complex.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "node.h"

#define PI 3.14159265358979323846
#define NFREQ 40

typedef struct dump_case {
  const char *type;
  double freq, gain, q;
  int slope; /* enum index 0..3 = 6..24 dB/oct */
} dump_case;

static const char *const type_names[] = {"off",       "highpass", "lowpass", "lowshelf",
                                         "highshelf", "bell",     "notch"};

static const dump_case cases[] = {
    /* Butterworth orders 1..4 (q is ignored for 6/18/24 and exact 1/sqrt(2) for 12). */
    {"highpass", 80.0, 0.0, 0.70710678118654752, 0},
    {"highpass", 80.0, 0.0, 0.70710678118654752, 1},
    {"highpass", 80.0, 0.0, 0.70710678118654752, 2},
    {"highpass", 80.0, 0.0, 0.70710678118654752, 3},
    {"highpass", 1000.0, 0.0, 0.70710678118654752, 3},
    {"lowpass", 6000.0, 0.0, 0.70710678118654752, 0},
    {"lowpass", 6000.0, 0.0, 0.70710678118654752, 1},
    {"lowpass", 6000.0, 0.0, 0.70710678118654752, 2},
    {"lowpass", 6000.0, 0.0, 0.70710678118654752, 3},
    {"lowpass", 15000.0, 0.0, 0.70710678118654752, 2},
    /* Cookbook types. */
    {"lowshelf", 150.0, 6.0, 0.70710678118654752, 1},
    {"lowshelf", 400.0, -12.0, 1.8, 1},
    {"highshelf", 6000.0, -8.0, 1.0, 1},
    {"highshelf", 10000.0, 4.5, 0.5, 1},
    {"bell", 800.0, 10.0, 1.5, 1},
    {"bell", 2500.0, -18.0, 6.0, 1},
    {"bell", 45.0, 3.0, 0.4, 1},
    {"notch", 3000.0, 0.0, 5.0, 1},
    {"highpass", 120.0, 0.0, 3.0, 1}, /* resonant 12 dB/oct: cookbook HPF */
    {"lowpass", 9000.0, 0.0, 0.5, 1},
};
static const double rates[] = {44100.0, 48000.0, 96000.0};

static int type_index(const char *t) {
  for (int i = 0; i < 7; i++)
    if (strcmp(t, type_names[i]) == 0) return i;
  return 0;
}

static double dft_db(const float *h, int n, double f, double fs) {
  double w = 2.0 * PI * f / fs;
  double complex acc = 0.0, rot = cexp(-I * w), p = 1.0;
  for (int i = 0; i < n; i++) {
    if ((i & 1023) == 0) p = cexp(-I * w * (double)i); /* re-seed: no drift */
    acc += (double)h[i] * p;
    p *= rot;
  }
  double m = cabs(acc);
  return m > 1e-30 ? 20.0 * log10(m) : -600.0;
}

int main(void) {
  const int ncase = (int)(sizeof cases / sizeof cases[0]);
  printf("# eq_dump: measured magnitude of the eq node's impulse response\n");
  for (int r = 0; r < 3; r++)
    for (int c = 0; c < ncase; c++) {
      const dump_case *d = &cases[c];
      double fs = rates[r];
      int n = fs > 50000.0 ? 1 << 16 : 1 << 15; /* long enough to decay below 1e-7 */
      int err;
      mixstage__node_host *h = mixstage__host_create("eq", 1, fs, 120.0, &err);
      if (!h) {
        fprintf(stderr, "eq_dump: cannot create eq node: %d\n", err);
        return 1;
      }
      mixstage__host_set(h, "band1_type", type_index(d->type));
      mixstage__host_set(h, "band1_freq", d->freq);
      mixstage__host_set(h, "band1_gain", d->gain);
      mixstage__host_set(h, "band1_q", d->q);
      mixstage__host_set(h, "band1_slope", d->slope);
      float *x = calloc((size_t)n, sizeof *x);
      if (!x) return 1;
      x[0] = 1.0f;
      float *bufs[1] = {x};
      mixstage__host_process(h, bufs, n, NULL, 0);
      printf("case %.1f %s %.17g %.17g %.17g %d\n", fs, d->type, d->freq, d->gain, d->q,
             6 * (d->slope + 1));
      for (int i = 0; i < NFREQ; i++) {
        double f = 20.0 * pow(0.45 * fs / 20.0, (double)i / (NFREQ - 1));
        printf("%.10g %.10f\n", f, dft_db(x, n, f, fs));
      }
      printf("end\n");
      free(x);
      mixstage__host_destroy(h);
    }
  return 0;
}
