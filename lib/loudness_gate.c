/* Integrated loudness in bounded memory (see loudness_gate.h). */
#include "loudness_gate.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "mixstage/common.h"

/* Bins of 0.01 LU from the absolute gate (-70 LUFS) up; blocks above
 * +30 LUFS (30 dB over full scale) share the top bin. */
#define GATE_MIN_LUFS (-70.0)
#define GATE_STEP 0.01
#define GATE_BINS 10000

int mixstage__gate_init(mixstage__gate *g) {
  memset(g, 0, sizeof *g);
  g->energy = calloc(GATE_BINS, sizeof *g->energy);
  g->count = calloc(GATE_BINS, sizeof *g->count);
  if (g->energy && g->count) return MIXSTAGE_OK;
  mixstage__gate_free(g);
  return MIXSTAGE_ENOMEM;
}

void mixstage__gate_free(mixstage__gate *g) {
  free(g->energy);
  free(g->count);
  memset(g, 0, sizeof *g);
}

/* libebur128's conversion, to the last bit (it divides natural logs). */
static double energy_to_lufs(double e) { return 10.0 * (log(e) / log(10.0)) - 0.691; }

/* The bin of an energy, monotonic in it: a block in a higher bin than the
 * gate's is above the gate, one in a lower bin below it. */
static int bin_of(double e) {
  double k = floor((energy_to_lufs(e) - GATE_MIN_LUFS) / GATE_STEP);
  return k < 0.0 ? 0 : k >= GATE_BINS ? GATE_BINS - 1 : (int)k;
}

void mixstage__gate_add(mixstage__gate *g, double e) {
  /* The absolute gate as libebur128 applies it (-70 LUFS as an energy);
   * ten blocks a second, so the pow() costs nothing. */
  if (!g->energy || !(e >= pow(10.0, (GATE_MIN_LUFS + 0.691) / 10.0))) return; /* also NaN */
  int k = bin_of(e);
  g->energy[k] += e;
  g->count[k]++;
  g->sum += e;
  g->n++;
}

double mixstage__gate_value(const mixstage__gate *g) {
  if (!g->energy || g->n == 0) return -HUGE_VAL;
  /* BS.1770-4: the relative gate lies 10 LU below the mean of the blocks
   * that passed the absolute one. */
  const double rel = g->sum / (double)g->n * pow(10.0, -10.0 / 10.0);
  const int kr = bin_of(rel);
  double sum = 0.0;
  int64_t n = 0;
  for (int k = kr; k < GATE_BINS; k++) {
    if (!g->count[k]) continue;
    if (k == kr && g->energy[k] / g->count[k] < rel) continue;
    sum += g->energy[k];
    n += g->count[k];
  }
  return n ? energy_to_lufs(sum / (double)n) : -HUGE_VAL;
}
