/* Delay lines: latency compensation of node keys, bypassed paths, bus
 * inputs and bounces.  Made and freed by the schedule (prepare.c,
 * bounce.c) and run by process.c, which is why they are in neither.
 * init and free are edit-time; clear and process render-time (no
 * allocation). */
#include <string.h>
#include "internal.h"

/* Frames one pass of mixstage__delay_process moves: the ring holds the
 * delay plus one pass, so a pass's input goes in before its output is read
 * back and nothing still to be read is overwritten. */
#define DL_PIECE 256

int mixstage__delay_init(mixstage_graph *g, mixstage__delay *d, int channels, int delay) {
  memset(d, 0, sizeof *d);
  d->channels = channels;
  d->delay = delay;
  if (delay <= 0) return MIXSTAGE_OK;
  d->len = delay + DL_PIECE;
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

/* dst[0 .. n-1] = src[0 .. n-1] (distinct buffers), eight floats per step
 * where the compiler has vector types: short runs without a library call
 * (GCC would otherwise turn the loop back into one). */
#if defined(__GNUC__) && !defined(__clang__)
__attribute__((optimize("no-tree-loop-distribute-patterns")))
#endif
static void copy_floats(float *restrict dst, const float *restrict src, int n) {
  int k = 0;
#if defined(__GNUC__) || defined(__clang__)
  typedef float v8 __attribute__((vector_size(32)));
  for (; k + 8 <= n; k += 8) {
    v8 t;
    memcpy(&t, src + k, sizeof t);
    memcpy(dst + k, &t, sizeof t);
  }
#endif
  for (; k < n; k++) dst[k] = src[k];
}

/* ring[at .. at+n-1] (wrapping at len) = x[0 .. n-1], or the reverse. */
static void ring_put(float *ring, int len, int at, const float *x, int n) {
  const int run = len - at < n ? len - at : n;
  copy_floats(ring + at, x, run);
  copy_floats(ring, x + run, n - run);
}
static void ring_get(const float *ring, int len, int at, float *x, int n) {
  const int run = len - at < n ? len - at : n;
  copy_floats(x, ring + at, run);
  copy_floats(x + run, ring, n - run);
}

/* In place: out[i] = in[i - delay].  Each pass writes its input at pos and
 * reads its output from delay frames behind it (the ring holds delay +
 * DL_PIECE frames): two straight copies per channel. */
void mixstage__delay_process(mixstage__delay *d, float *const *io, int channels, int n) {
  if (d->delay <= 0) return;
  const int len = d->len, nc = channels < d->channels ? channels : d->channels;
  for (int done = 0; done < n;) {
    const int m = n - done < DL_PIECE ? n - done : DL_PIECE;
    int rd = d->pos - d->delay;
    if (rd < 0) rd += len;
    for (int c = 0; c < nc; c++) {
      float *ring = d->buf + (size_t)c * (size_t)len, *x = io[c] + done;
      ring_put(ring, len, d->pos, x, m);
      ring_get(ring, len, rd, x, m);
    }
    d->pos += m;
    if (d->pos >= len) d->pos -= len;
    done += m;
  }
}
