/* Delay lines: latency compensation of node keys, bypassed paths, bus
 * inputs and bounces.  Made and freed by the schedule (prepare.c,
 * bounce.c) and run by process.c, which is why they are in neither.
 * init and free are edit-time; clear and process render-time (no
 * allocation). */
#include <string.h>
#include "internal.h"

int mixstage__delay_init(mixstage_graph *g, mixstage__delay *d, int channels, int delay) {
  memset(d, 0, sizeof *d);
  d->channels = channels;
  d->delay = delay;
  if (delay <= 0) return MIXSTAGE_OK;
  d->len = delay;
  d->buf = mixstage__galloc(g, (size_t)channels * (size_t)d->len, sizeof(float));
  return d->buf ? MIXSTAGE_OK : MIXSTAGE_ENOMEM;
}

void mixstage__delay_free(mixstage_graph *g, mixstage__delay *d) {
  mixstage__gfree(g, d->buf);
  memset(d, 0, sizeof *d);
}

void mixstage__delay_clear(mixstage__delay *d) {
  if (d->buf) memset(d->buf, 0, sizeof(float) * (size_t)d->channels * (size_t)d->len);
  d->pos = 0;
}

/* In place: out[i] = in[i - delay].  The ring holds exactly `delay` frames. */
void mixstage__delay_process(mixstage__delay *d, float *const *io, int channels, int n) {
  if (d->delay <= 0) return;
  int len = d->len;
  for (int c = 0; c < channels && c < d->channels; c++) {
    float *ring = d->buf + (size_t)c * (size_t)len;
    float *x = io[c];
    int p = d->pos;
    /* swap x with the ring in stretches that do not wrap */
    for (int i = 0; i < n;) {
      int run = len - p < n - i ? len - p : n - i;
      float *r = ring + p, *y = x + i;
      for (int k = 0; k < run; k++) {
        float t = r[k];
        r[k] = y[k];
        y[k] = t;
      }
      i += run;
      p += run;
      if (p == len) p = 0;
    }
  }
  d->pos = (d->pos + n) % len;
}
