/* Delay lines: latency compensation of node keys, bypassed paths, bus
 * inputs and bounces.  Made and freed by the schedule (prepare.c,
 * bounce.c) and run by process.c, which is why they are in neither.
 * init and free are edit-time; clear and process render-time (no
 * allocation). */
#include <string.h>
#include "internal.h"
#include "dsp/cpu.h"

/* Delays up to this many frames are kept in a sliding buffer instead of a
 * ring: the history is contiguous, so a block's input is appended and its
 * output read in one run each, with no wrap to split at (short rings, the
 * lookahead of a limiter say, wrap nearly every block, and the split runs
 * cost more than the copies).  DL_SLACK frames past the history take the
 * appends; when they are used up the history moves back to the start, at
 * most delay / DL_SLACK floats per frame. */
#define DL_SLIDE_MAX 1024
#define DL_SLACK 1024

int mixstage__delay_init(mixstage_graph *g, mixstage__delay *d, int channels, int delay) {
  memset(d, 0, sizeof *d);
  d->channels = channels;
  d->delay = delay;
  if (delay <= 0) return MIXSTAGE_OK;
  /* a ring holds exactly `delay` frames; a sliding buffer DL_SLACK more */
  d->len = delay <= DL_SLIDE_MAX ? delay + DL_SLACK : delay;
  d->pos = delay <= DL_SLIDE_MAX ? delay : 0;
  d->buf = mixstage__galloc(g, (size_t)channels * (size_t)d->len, sizeof(float));
  return d->buf ? MIXSTAGE_OK : MIXSTAGE_ENOMEM;
}

void mixstage__delay_free(mixstage_graph *g, mixstage__delay *d) {
  mixstage__gfree(g, d->buf);
  memset(d, 0, sizeof *d);
}

void mixstage__delay_clear(mixstage__delay *d) {
  if (d->buf) memset(d->buf, 0, sizeof(float) * (size_t)d->channels * (size_t)d->len);
  d->pos = d->len > d->delay ? d->delay : 0;
}

#if defined(__GNUC__) || defined(__clang__)
typedef float dl_v8 __attribute__((vector_size(32)));
typedef float dl_v4 __attribute__((vector_size(16)));
#define DL_VEC 1
#else
#define DL_VEC 0
#endif

/* Swaps a[0 .. n-1] with b[0 .. n-1] (distinct buffers), eight floats per
 * step (then four) where the compiler has vector types. */
static inline __attribute__((always_inline)) void swap_floats(float *restrict a, float *restrict b, int n) {
  int k = 0;
#if DL_VEC
  for (; k + 8 <= n; k += 8) {
    dl_v8 t, u;
    memcpy(&t, a + k, sizeof t);
    memcpy(&u, b + k, sizeof u);
    memcpy(a + k, &u, sizeof u);
    memcpy(b + k, &t, sizeof t);
  }
  /* then four: a run's length is the ring's and the call's remainders, so
   * the scalar tail is short */
  if (k + 4 <= n) {
    dl_v4 t, u;
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

/* dst[0 .. n-1] = src[0 .. n-1] front to back, eight floats per step where
 * the compiler has vector types: right also for overlapping runs with dst
 * before src. */
static inline __attribute__((always_inline)) void copy_forward(float *dst, const float *src, int n) {
  int k = 0;
#if DL_VEC
  for (; k + 8 <= n; k += 8) {
    dl_v8 t;
    memcpy(&t, src + k, sizeof t);
    memcpy(dst + k, &t, sizeof t);
  }
#endif
  for (; k < n; k++) dst[k] = src[k];
}

/* In one pass: app[0 .. n-1] = x[0 .. n-1] and x[0 .. n-1] = hist[0 .. n-1],
 * where hist = app - delay, delay >= 8: eight frames at a time, so each
 * step's read of hist, where it lies in app, was appended by an earlier
 * step. */
static inline __attribute__((always_inline)) void exchange(float *app, const float *hist, float *x, int n) {
  int k = 0;
#if DL_VEC
  for (; k + 8 <= n; k += 8) {
    dl_v8 a, h;
    memcpy(&a, x + k, sizeof a);
    memcpy(&h, hist + k, sizeof h);
    memcpy(app + k, &a, sizeof a);
    memcpy(x + k, &h, sizeof h);
  }
#endif
  for (; k < n; k++) {
    const float a = x[k], h = hist[k];
    app[k] = a;
    x[k] = h;
  }
}

/* Ring: swaps x[0 .. n-1] with the ring's n frames from p on, in stretches
 * that do not wrap. */
static inline __attribute__((always_inline)) void ring_swap(float *ring, int len, int p, float *x, int n) {
  for (int i = 0; i < n;) {
    const int run = len - p < n - i ? len - p : n - i;
    swap_floats(ring + p, x + i, run);
    i += run;
    p += run;
    if (p == len) p = 0;
  }
}

/* Sliding buffer: channel c's history is buf[pos - delay .. pos - 1]. */
static inline __attribute__((always_inline)) void slide_process(mixstage__delay *d, float *const *io, int channels, int n) {
  const int len = d->len, delay = d->delay;
  for (int done = 0; done < n;) {
    const int m = n - done < DL_SLACK ? n - done : DL_SLACK;
    int w = d->pos;
    if (w + m > len) { /* the slack is used up: the history back to the start */
      for (int c = 0; c < channels; c++) {
        float *b = d->buf + (size_t)c * (size_t)len;
        copy_forward(b, b + w - delay, delay);
      }
      w = delay;
    }
    for (int c = 0; c < channels; c++) {
      float *b = d->buf + (size_t)c * (size_t)len, *x = io[c] + done;
      if (delay >= 8) {
        exchange(b + w, b + w - delay, x, m);
      } else {
        copy_forward(b + w, x, m);
        /* frames from delay on were appended just above: the run reads them */
        copy_forward(x, b + w - delay, m);
      }
    }
    d->pos = w + m;
    done += m;
  }
}

static inline __attribute__((always_inline)) void delay_run(mixstage__delay *d, float *const *io, int channels, int n) {
  if (d->len > d->delay) {
    slide_process(d, io, channels, n);
    return;
  }
  const int len = d->len;
  for (int c = 0; c < channels; c++) ring_swap(d->buf + (size_t)c * (size_t)len, len, d->pos, io[c], n);
  d->pos = n >= len ? (int)(((long long)d->pos + n) % len) : d->pos + n >= len ? d->pos + n - len : d->pos + n;
}

#if (defined(__x86_64__) || defined(__i386__)) && (defined(__GNUC__) || defined(__clang__))
/* The same moves with 256-bit vectors where the CPU has AVX (the baseline
 * build splits each eight-float vector into two SSE moves); copies, so the
 * same bits whichever runs. */
#define DL_AVX 1
__attribute__((target("avx"))) static void delay_run_avx(mixstage__delay *d, float *const *io, int channels, int n) {
  delay_run(d, io, channels, n);
}
#else
#define DL_AVX 0
#endif

/* Apart, so the dispatch below stays a few instructions. */
static __attribute__((noinline)) void delay_run_base(mixstage__delay *d, float *const *io, int channels, int n) {
  delay_run(d, io, channels, n);
}

/* In place: out[i] = in[i - delay]. */
void mixstage__delay_process(mixstage__delay *d, float *const *io, int channels, int n) {
  if (d->delay <= 0) return;
  if (channels > d->channels) channels = d->channels;
#if DL_AVX
  if (mixstage__cpu_avx()) {
    delay_run_avx(d, io, channels, n);
    return;
  }
#endif
  delay_run_base(d, io, channels, n);
}

/* The line's state after mixstage__delay_process over in[0 .. n-1],
 * without the delayed output: for a dry path kept warm while nothing reads
 * it.  Only the last `delay` frames are kept; the frames before them would
 * pass through the line. */
void mixstage__delay_push(mixstage__delay *d, const float *const *in, int channels, int n) {
  if (d->delay <= 0 || n <= 0) return;
  const int len = d->len, delay = d->delay;
  if (channels > d->channels) channels = d->channels;
  if (len > delay) { /* sliding buffer: the history is buf[pos - delay .. pos - 1] */
    int w = d->pos;
    const int keep = n < delay ? delay - n : 0, take = n < delay ? n : delay;
    if (n >= delay || w + n > len) {
      /* the kept part of the history back to the start, then the input */
      for (int c = 0; c < channels; c++) {
        float *b = d->buf + (size_t)c * (size_t)len;
        copy_forward(b, b + w - keep, keep);
        memcpy(b + keep, in[c] + (n - take), sizeof(float) * (size_t)take);
      }
      d->pos = delay;
    } else {
      for (int c = 0; c < channels; c++)
        memcpy(d->buf + (size_t)c * (size_t)len + w, in[c], sizeof(float) * (size_t)n);
      d->pos = w + n;
    }
    return;
  }
  const int skip = n > len ? n - len : 0;
  const int p0 = (int)(((int64_t)d->pos + skip) % len);
  const int m = n - skip, head = len - p0 < m ? len - p0 : m;
  for (int c = 0; c < channels; c++) {
    float *ring = d->buf + (size_t)c * (size_t)len;
    const float *x = in[c] + skip;
    memcpy(ring + p0, x, sizeof(float) * (size_t)head);
    memcpy(ring, x + head, sizeof(float) * (size_t)(m - head));
  }
  d->pos = (int)(((int64_t)d->pos + n) % len);
}
