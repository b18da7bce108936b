/* Tails and silence: processing time of silent blocks against busy ones.
 *
 * A strip plays 2 s of noise bursts into a reverb return and a delay return,
 * then stops; the mix bus runs console color, the bus compressor and the
 * limiter.  Blocks of 64 frames are timed one by one.  While the tails decay
 * towards zero the values pass through the denormal range, where unflushed
 * arithmetic costs up to 100x: with denormals flushed, silent blocks should
 * cost about what busy blocks cost (target: at most 1.5x).
 *
 * usage: bench_tails [seconds]   (default 30) */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "mixstage.h"

static double now_us(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1e6 + ts.tv_nsec * 1e-3;
}

static int cmp(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

static double median(double *v, int n) {
  qsort(v, (size_t)n, sizeof *v, cmp);
  return n ? v[n / 2] : 0.0;
}

static void die(mixstage_graph *g, const char *what) {
  fprintf(stderr, "bench_tails: %s: %s\n", what, mixstage_graph_last_error(g));
  exit(1);
}

int main(int argc, char **argv) {
  double secs = argc > 1 ? atof(argv[1]) : 30.0;
  const double fs = 48000.0;
  const int block = 64;
  int64_t busy = (int64_t)(2.0 * fs), total = (int64_t)(secs * fs);
  int err;
  mixstage_graph_config cfg;
  mixstage_graph_config_init(&cfg);
  cfg.max_block_frames = block;
  mixstage_graph *g = mixstage_graph_create(&cfg, &err);
  float *src = malloc(sizeof(float) * 2 * (size_t)busy);
  uint32_t r = 12345;
  for (int64_t i = 0; i < busy; i++) {
    double env = exp(-(double)(i % 12000) / 2000.0);
    for (int c = 0; c < 2; c++) {
      r ^= r << 13; r ^= r >> 17; r ^= r << 5;
      src[2 * i + c] = (float)(0.5 * env * ((double)r / 2147483648.0 - 1.0));
    }
  }
  mixstage_strip *st = mixstage_graph_add_strip(g, "Noise", 2, &err);
  if (!st || mixstage_strip_set_source_buffer(st, src, 2, busy, 0)) die(g, "strip");
  mixstage_bus *rv = mixstage_graph_add_bus(g, "Reverb", MIXSTAGE_BUS_RETURN, 2, &err);
  mixstage_bus *dl = mixstage_graph_add_bus(g, "Delay", MIXSTAGE_BUS_RETURN, 2, &err);
  if (!mixstage_strip_add_send(st, rv, -6, MIXSTAGE_TAP_POST_FADER, MIXSTAGE_ROLE_MIX_FX, &err)) die(g, "send");
  if (!mixstage_strip_add_send(st, dl, -10, MIXSTAGE_TAP_POST_FADER, MIXSTAGE_ROLE_MIX_FX, &err)) die(g, "send");
  mixstage_node *n = mixstage_bus_insert(rv, "reverb", MIXSTAGE_ROLE_MIX_FX, -1, &err);
  if (!n) die(g, "reverb");
  mixstage_node_set_param_by_name(n, "decay", 4.0);
  n = mixstage_bus_insert(dl, "delay", MIXSTAGE_ROLE_MIX_FX, -1, &err);
  if (!n) die(g, "delay");
  mixstage_node_set_param_by_name(n, "feedback", 60.0);
  mixstage_bus *mix = mixstage_graph_mix_bus(g);
  if (!mixstage_bus_insert(mix, "console_color", MIXSTAGE_ROLE_BUS_COLOR, -1, &err) ||
      !mixstage_bus_insert(mix, "bus_compressor", MIXSTAGE_ROLE_BUS_DYNAMICS, -1, &err) ||
      !mixstage_bus_insert(mix, "limiter", MIXSTAGE_ROLE_PLACEHOLDER_LIMITER, -1, &err))
    die(g, "mix bus");
  if (mixstage_graph_prepare(g)) die(g, "prepare");
  int nb = (int)(total / block);
  double *t = malloc(sizeof(double) * (size_t)nb);
  float out[2 * 64];
  int first_silent = -1;
  for (int b = 0; b < nb; b++) {
    double t0 = now_us();
    mixstage_graph_process(g, out, block);
    t[b] = now_us() - t0;
    /* silence: the output has fallen below -300 dBFS (denormal land and below) */
    if (first_silent < 0 && b * block > busy) {
      double p = 0;
      for (int i = 0; i < 2 * block; i++) p = fmax(p, fabs(out[i]));
      if (p < 1e-15) first_silent = b;
    }
  }
  int b0 = (int)(0.25 * fs / block), b1 = (int)(busy / block);
  int s0 = (int)((busy + 0.5 * fs) / block); /* tails decaying and silent */
  int nbusy = b1 - b0, nsil = nb - s0;
  double *busy_t = malloc(sizeof(double) * (size_t)nbusy), *sil_t = malloc(sizeof(double) * (size_t)nsil);
  memcpy(busy_t, t + b0, sizeof(double) * (size_t)nbusy);
  memcpy(sil_t, t + s0, sizeof(double) * (size_t)nsil);
  double mb = median(busy_t, nbusy), ms = median(sil_t, nsil);
  double worst = 0;
  for (int i = 0; i < nsil; i++) worst = fmax(worst, sil_t[i]);
  printf("tails: reverb 4 s + delay 60 %% feedback + mix-bus stages, 64-frame blocks at 48 kHz\n");
  printf("  busy blocks   (0.25-2 s):  median %.1f us (%d blocks)\n", mb, nbusy);
  printf("  decaying/silent (%.1f-%.0f s): median %.1f us (%d blocks), ratio %.2fx (target <= 1.5x)\n",
         (double)(busy + 0.5 * fs) / fs, secs, ms, nsil, ms / mb);
  if (first_silent >= 0)
    printf("  output below 1e-15 from %.1f s on\n", first_silent * (double)block / fs);
  mixstage_graph_destroy(g);
  free(src);
  free(t);
  free(busy_t);
  free(sil_t);
  return 0;
}
