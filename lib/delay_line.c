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

/* Swaps a[0 .. n-1] with b[0 .. n-1] (distinct buffers), eight floats per
 * step (then four) where the compiler has vector types. */
static void swap_floats(float *restrict a, float *restrict b, int n) {
  int k = 0;
#if defined(__GNUC__) || defined(__clang__)
  typedef float v8 __attribute__((vector_size(32)));
  for (; k + 8 <= n; k += 8) {
    v8 t, u;
    memcpy(&t, a + k, sizeof t);
    memcpy(&u, b + k, sizeof u);
    memcpy(a + k, &u, sizeof u);
    memcpy(b + k, &t, sizeof t);
  }
  /* then four: a run's length is the ring's and the call's remainders, so
   * the scalar tail is short */
  typedef float v4 __attribute__((vector_size(16)));
  if (k + 4 <= n) {
    v4 t, u;
    memcpy(&t, a + k, sizeof t);
    memcpy(&u, b + k, sizeof u);
    memcpy(a + k, &u, sizeof u);
    memcpy(b + k, &t, sizeof t);
    k += 4;
  }
#endif
  for (; k < n; k++) {
    float t = a[k];
    a[k] = b[k];
    b[k] = t;
  }
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
      swap_floats(ring + p, x + i, run);
      i += run;
      p += run;
      if (p == len) p = 0;
    }
  }
  d->pos = (d->pos + n) % len;
}

/* The ring's state after mixstage__delay_process over in[0 .. n-1], without
 * the delayed output: for a dry path kept warm while nothing reads it.  Only
 * the last `delay` frames stay in the ring; the frames before them would
 * pass through it. */
void mixstage__delay_push(mixstage__delay *d, const float *const *in, int channels, int n) {
  if (d->delay <= 0 || n <= 0) return;
  const int len = d->len;
  const int skip = n > len ? n - len : 0;
  const int p0 = (int)(((int64_t)d->pos + skip) % len);
  const int m = n - skip, head = len - p0 < m ? len - p0 : m;
  for (int c = 0; c < channels && c < d->channels; c++) {
    float *ring = d->buf + (size_t)c * (size_t)len;
    const float *x = in[c] + skip;
    memcpy(ring + p0, x, sizeof(float) * (size_t)head);
    memcpy(ring, x + head, sizeof(float) * (size_t)(m - head));
  }
  d->pos = (int)(((int64_t)d->pos + n) % len);
}
