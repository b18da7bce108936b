/* Loudness range after EBU Tech 3342 (see loudness_range.h). */
#include "loudness_range.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "mixstage/common.h"

#define LRA_MIN_LUFS (-70.0) /* the absolute gate */
#define LRA_MAX_LUFS 10.0    /* louder blocks count in the top bin */
#define LRA_STEP 0.01
#define LRA_BINS 8000

int mixstage__lra_init(mixstage__lra *l) {
  memset(l, 0, sizeof *l);
  l->bins = calloc(LRA_BINS, sizeof *l->bins);
  return l->bins ? MIXSTAGE_OK : MIXSTAGE_ENOMEM;
}

void mixstage__lra_free(mixstage__lra *l) {
  free(l->bins);
  memset(l, 0, sizeof *l);
}

void mixstage__lra_reset(mixstage__lra *l) {
  if (l->bins) memset(l->bins, 0, LRA_BINS * sizeof *l->bins);
  l->energy_sum = 0.0;
  l->count = 0;
}

static double bin_centre(int k) { return LRA_MIN_LUFS + LRA_STEP * ((double)k + 0.5); }

void mixstage__lra_add(mixstage__lra *l, double lufs) {
  if (!l->bins || !(lufs > LRA_MIN_LUFS)) return; /* also NaN and -inf */
  int k = (int)((lufs - LRA_MIN_LUFS) / LRA_STEP);
  if (k >= LRA_BINS) k = LRA_BINS - 1;
  l->bins[k]++;
  /* The gate compares with the mean of the values as binned, so a block
   * and its bin are always on the same side of it. */
  l->energy_sum += pow(10.0, 0.1 * bin_centre(k));
  l->count++;
}

double mixstage__lra_value(const mixstage__lra *l) {
  if (!l->bins || l->count == 0) return 0.0;
  double gate = 10.0 * log10(l->energy_sum / (double)l->count) - 20.0;
  int first = 0;
  while (first < LRA_BINS && bin_centre(first) < gate) first++;
  int64_t n = 0;
  for (int k = first; k < LRA_BINS; k++) n += l->bins[k];
  if (n == 0) return 0.0;
  /* Element round((n - 1) p) (0-based) of the sorted values. */
  int64_t lo_idx = llround((double)(n - 1) * 0.10), hi_idx = llround((double)(n - 1) * 0.95);
  double lo = 0.0, hi = 0.0;
  int64_t seen = 0;
  int have_lo = 0;
  for (int k = first; k < LRA_BINS; k++) {
    if (!l->bins[k]) continue;
    seen += l->bins[k];
    if (!have_lo && seen > lo_idx) {
      lo = bin_centre(k);
      have_lo = 1;
    }
    if (seen > hi_idx) {
      hi = bin_centre(k);
      break;
    }
  }
  return hi - lo;
}
