/* File sources that stream: a strip plays an audio file without holding it.
 *
 * A decoder reads the file block by block (libsndfile) and, when the file's
 * rate differs from the graph's, converts it with libsamplerate in streaming
 * mode.  The decoder repeats the whole-file converter's calls exactly (io.c,
 * resample(): the same input offered from the same file frame, the same
 * output room, end of input flagged at the same call), so a render from the
 * start is bit-identical to the whole-file path, resampled or not.
 *
 * Two ways to reach the decoder, never both at once:
 * - offline (mixstage__file_sources_offline() around every render): the
 *   thread that runs the strip reads synchronously through a small block;
 * - real time: the graph's reader thread fills one single-producer,
 *   single-consumer ring per source ahead of the audio thread, which only
 *   copies out of the ring.  Data missing at the audio thread's deadline is
 *   played as silence and counted as an underrun; ring contents are tagged
 *   by position, so after a locate nothing stale is ever played.
 *
 * Memory per source: the ring (RING_FRAMES frames), two converter chunks and
 * libsamplerate's state; none of it grows with the file's length. */
#define _GNU_SOURCE
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <samplerate.h>
#include <sndfile.h>

#include "internal.h"
#include "io_read.h"
#include "mixstage/io.h"
#include "source_file.h"

/* Freewheeling (mixstage_graph_set_freewheel) is the documented way to do
 * I/O inside process: RealtimeSanitizer is told so, for that read only. */
#if defined(__has_feature)
#if __has_feature(realtime_sanitizer)
#include <sanitizer/rtsan_interface.h>
#define RTSAN_ALLOW_BEGIN() __rtsan_disable()
#define RTSAN_ALLOW_END() __rtsan_enable()
#endif
#endif
#ifndef RTSAN_ALLOW_BEGIN
#define RTSAN_ALLOW_BEGIN() ((void)0)
#define RTSAN_ALLOW_END() ((void)0)
#endif

#define CHUNK MIXSTAGE__IO_CHUNK
/* Real-time prefetch: 65536 frames, 1.37 s at 48 kHz (a power of two). */
#define RING_FRAMES 65536
#define RING_MASK (RING_FRAMES - 1)
/* The reader refills a ring once at least this much of it is free. */
#define MIN_FILL 2048
/* Offline reads go through a block of this many frames. */
#define SYNC_BLOCK 2048
/* A resampled source started mid-file restarts its converter at least this
 * many input frames early (at ratios below 1, scaled by 1 / ratio) and
 * discards the output up to the wanted frame.  libsamplerate's best sinc
 * reaches about 42 input frames each side (scaled as well), so the kept
 * output is computed from the same samples as in continuous playback. */
#define PREROLL_IN 512
#define FRAME_BITS 48
#define FRAME_MASK ((UINT64_C(1) << FRAME_BITS) - 1)

typedef struct decoder {
  mixstage__rfile f;
  int ch;
  int64_t file_frames; /* from the header */
  double ratio;        /* graph rate / file rate */
  int resampled;
  int64_t L, M;        /* ratio = L / M exactly (restart grid), or L = 0 */
  int64_t length;      /* output frames */
  int64_t pos;         /* output frame the next pull starts at */
  int64_t file_next;   /* file frame the next file read starts at */
  /* converter (resampled only) */
  SRC_STATE *src;
  float *in, *out;     /* CHUNK frames each, interleaved */
  int64_t in_pos;      /* file frame of in[0] */
  int in_fill;
  int out_have, out_used;
  int64_t gen, cap;    /* output frames generated since frame 0; cut-off as resample() */
  int src_done;
  /* what the file was when opened: a change is an error, not audio */
  dev_t dev;
  ino_t ino;
  off_t size;
  struct timespec mtime;
} decoder;

struct mixstage__file_source {
  mixstage_graph *graph;
  mixstage__file_reader *reader; /* when attached */
  char *path;  /* as given, for messages */
  char *where; /* absolute, for the checks: the caller may change directory */
  int ch;
  int64_t length;
  int may_nan; /* float or double samples: NaN and infinity are possible */
  decoder dec;
  _Atomic int offline;
  /* offline: frames [blk_frame, blk_frame + blk_n) */
  float *blk;
  int64_t blk_frame;
  int blk_n;
  /* real time: the ring (RING_FRAMES interleaved frames) */
  float *ring;
  _Atomic uint64_t w, r;         /* frames written (reader), consumed (audio thread) */
  _Atomic uint64_t seek_req;     /* serial << FRAME_BITS | frame: asked by the consumer */
  _Atomic uint64_t ack;          /* serial the reader has positioned for */
  _Atomic uint64_t start_idx;    /* ring index of the frame asked for, valid with ack */
  uint64_t prod_serial;          /* reader: the last request served */
  int prod_valid;                /* reader: the ring follows a request */
  int64_t prod_frame;            /* reader: source frame at w */
  uint64_t serial;               /* consumer: the last request made */
  int pending;                   /* consumer: waiting for ack == serial */
  int64_t pend_frame, ring_frame; /* consumer: frame asked for; frame at r (-1: none) */
  int starving;                  /* consumer: the previous read was short */
  _Atomic int64_t underruns, missing;
  /* the first error; msg is written before status is published */
  _Atomic int status;
  char msg[MIXSTAGE__ERR_MAX / 2];
  char note[MIXSTAGE__ERR_MAX]; /* mixstage_strip_source_message()'s */
};

struct mixstage__file_reader {
  pthread_t tid;
  pid_t pid; /* in a child of fork() the thread does not exist */
  pthread_mutex_t mu; /* held by the reader while it serves; by edit-time calls to take sources away */
  pthread_cond_t wake; /* edit-time calls wake the reader (the audio thread never does: it is polled) */
  int quit;           /* under mu */
  mixstage__file_source **list;
  int count, cap;
};

/* ---- errors ------------------------------------------------------------- */

static int set_error(mixstage__file_source *fs, int status, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;
static int set_error(mixstage__file_source *fs, int status, const char *fmt, ...) {
  if (atomic_load_explicit(&fs->status, memory_order_acquire) != MIXSTAGE_OK) return status;
  int n = snprintf(fs->msg, sizeof fs->msg, "file '%s': ", fs->path);
  if (n >= 0 && (size_t)n < sizeof fs->msg) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(fs->msg + n, sizeof fs->msg - (size_t)n, fmt, ap);
    va_end(ap);
  }
  atomic_store_explicit(&fs->status, status, memory_order_release);
  return status;
}

static int same_time(struct timespec a, struct timespec b) { return a.tv_sec == b.tv_sec && a.tv_nsec == b.tv_nsec; }

/* The file must still be the one opened, as it was: not deleted, replaced,
 * truncated, extended or rewritten.  Checked before every read from it. */
static int check_file(mixstage__file_source *fs) {
  decoder *d = &fs->dec;
  struct stat a, b;
  if (fstat(d->f.fd, &a) != 0) return set_error(fs, MIXSTAGE_EIO, "cannot stat: %s", strerror(errno));
  if (a.st_size != d->size)
    return set_error(fs, MIXSTAGE_EIO, "changed since it was opened (%lld bytes, now %lld)%s",
                     (long long)d->size, (long long)a.st_size, a.st_size < d->size ? ": truncated" : "");
  if (!same_time(a.st_mtim, d->mtime))
    return set_error(fs, MIXSTAGE_EIO, "was modified since it was opened");
  if (stat(fs->where, &b) != 0) {
    int e = errno;
    if (e == ENOENT || e == ENOTDIR) return set_error(fs, MIXSTAGE_EIO, "was deleted or moved since it was opened");
    return set_error(fs, MIXSTAGE_EIO, "cannot stat: %s", strerror(e));
  }
  if (b.st_dev != d->dev || b.st_ino != d->ino)
    return set_error(fs, MIXSTAGE_EIO, "was replaced by another file since it was opened");
  return MIXSTAGE_OK;
}

/* ---- the decoder ------------------------------------------------------------ */

/* n file frames from file_next on into dst. */
static int file_read(mixstage__file_source *fs, float *dst, int n) {
  decoder *d = &fs->dec;
  int st = check_file(fs);
  if (st != MIXSTAGE_OK) return st;
  sf_count_t got = 0;
  while (got < n) {
    sf_count_t k = sf_readf_float(d->f.sf, dst + (size_t)got * (size_t)d->ch, n - got);
    if (k <= 0) break;
    got += k;
  }
  if (got < n) {
    if (sf_error(d->f.sf) != SF_ERR_NO_ERROR) return set_error(fs, MIXSTAGE_EIO, "read error: %s", sf_strerror(d->f.sf));
    return set_error(fs, MIXSTAGE_EIO, "ends at frame %lld, its header says %lld frames: truncated",
                     (long long)(d->file_next + got), (long long)d->file_frames);
  }
  d->file_next += n;
  return MIXSTAGE_OK;
}

static int file_seek(mixstage__file_source *fs, int64_t frame) {
  decoder *d = &fs->dec;
  if (d->file_next == frame) return MIXSTAGE_OK;
  int st = check_file(fs);
  if (st != MIXSTAGE_OK) return st;
  if (sf_seek(d->f.sf, frame, SEEK_SET) != frame)
    return set_error(fs, MIXSTAGE_EIO, "cannot seek to frame %lld: %s", (long long)frame, sf_strerror(d->f.sf));
  d->file_next = frame;
  return MIXSTAGE_OK;
}

/* One call of resample()'s loop: offer the converter min(left, CHUNK) file
 * frames from in_pos and min(cap - gen, CHUNK) frames of room. */
static int src_step(mixstage__file_source *fs) {
  decoder *d = &fs->dec;
  const int ch = d->ch;
  int64_t left = d->file_frames - d->in_pos;
  int in_n = left < CHUNK ? (int)left : CHUNK;
  if (d->in_fill < in_n) {
    int st = file_read(fs, d->in + (size_t)d->in_fill * (size_t)ch, in_n - d->in_fill);
    if (st != MIXSTAGE_OK) return st;
    d->in_fill = in_n;
  }
  int64_t room = d->cap - d->gen;
  SRC_DATA s;
  memset(&s, 0, sizeof s);
  s.data_in = d->in;
  s.input_frames = in_n;
  s.data_out = d->out;
  s.output_frames = room < CHUNK ? (long)room : CHUNK;
  s.end_of_input = d->in_pos + in_n == d->file_frames;
  s.src_ratio = d->ratio;
  int e = src_process(d->src, &s);
  if (e != 0) return set_error(fs, MIXSTAGE_EINVAL, "sample-rate conversion failed: %s", src_strerror(e));
  int used = (int)s.input_frames_used;
  if (used > 0 && used < d->in_fill)
    memmove(d->in, d->in + (size_t)used * (size_t)ch, sizeof(float) * (size_t)(d->in_fill - used) * (size_t)ch);
  d->in_fill -= used;
  d->in_pos += used;
  d->out_have = (int)s.output_frames_gen;
  d->out_used = 0;
  d->gen += s.output_frames_gen;
  if (d->gen >= d->cap) d->src_done = 1;
  if (s.output_frames_gen == 0 && used == 0 && (s.end_of_input || in_n == 0)) d->src_done = 1;
  return MIXSTAGE_OK;
}

/* The next n output frames into dst (interleaved; NULL discards them).
 * The caller keeps pos + n <= length. */
static int dec_pull(mixstage__file_source *fs, float *dst, int64_t n) {
  decoder *d = &fs->dec;
  const int ch = d->ch;
  if (!d->resampled) {
    if (!dst) {
      int st = file_seek(fs, d->pos + n);
      if (st == MIXSTAGE_OK) d->pos += n;
      return st;
    }
    int st = file_read(fs, dst, (int)n);
    if (st == MIXSTAGE_OK) d->pos += n;
    return st;
  }
  while (n > 0) {
    if (d->out_used < d->out_have) {
      int k = d->out_have - d->out_used;
      if (k > n) k = (int)n;
      if (dst) {
        memcpy(dst, d->out + (size_t)d->out_used * (size_t)ch, sizeof(float) * (size_t)k * (size_t)ch);
        dst += (size_t)k * (size_t)ch;
      }
      d->out_used += k;
      d->pos += k;
      n -= k;
    } else if (d->src_done) {
      /* resample() zero-pads to the length when the converter ends early */
      if (dst) memset(dst, 0, sizeof(float) * (size_t)n * (size_t)ch);
      d->pos += n;
      n = 0;
    } else {
      int st = src_step(fs);
      if (st != MIXSTAGE_OK) return st;
    }
  }
  return MIXSTAGE_OK;
}

/* Output frame where a converter restarted for frame F begins: on the grid
 * where output and input frames coincide (multiples of L), a pre-roll
 * before F; 0 (the start) when there is no such grid. */
static int64_t restart_point(const decoder *d, int64_t F) {
  if (!d->L) return 0;
  double down = d->ratio < 1.0 ? d->ratio : 1.0;
  int64_t pre_out = (int64_t)ceil(ceil(PREROLL_IN / down) * d->ratio);
  if (F <= pre_out) return 0;
  return (F - pre_out) / d->L * d->L;
}

/* Positions the decoder so that the next pull starts at output frame F. */
static int dec_seek(mixstage__file_source *fs, int64_t F) {
  decoder *d = &fs->dec;
  if (F == d->pos) return MIXSTAGE_OK;
  if (!d->resampled) {
    int st = file_seek(fs, F);
    if (st == MIXSTAGE_OK) d->pos = F;
    return st;
  }
  int64_t k0 = restart_point(d, F);
  /* Going on from here is exact, and cheaper when it is nearer. */
  if (F > d->pos && F - d->pos <= F - k0) return dec_pull(fs, NULL, F - d->pos);
  src_reset(d->src);
  int64_t in0 = d->L ? k0 / d->L * d->M : 0;
  int st = file_seek(fs, in0);
  if (st != MIXSTAGE_OK) return st;
  d->in_pos = in0;
  d->in_fill = 0;
  d->out_have = d->out_used = 0;
  d->gen = k0;
  d->src_done = 0;
  d->pos = k0;
  return dec_pull(fs, NULL, F - k0);
}

static int64_t gcd64(int64_t a, int64_t b) {
  while (b) {
    int64_t t = a % b;
    a = b;
    b = t;
  }
  return a;
}

/* ---- open and close ------------------------------------------------------------ */

static void source_free(mixstage_graph *g, mixstage__file_source *fs) {
  if (!fs) return;
  if (fs->dec.src) src_delete(fs->dec.src);
  if (fs->dec.f.sf) mixstage__close_read(&fs->dec.f);
  mixstage__gfree(g, fs->dec.in);
  mixstage__gfree(g, fs->dec.out);
  mixstage__gfree(g, fs->blk);
  mixstage__gfree(g, fs->ring);
  if (fs->where != fs->path) free(fs->where);
  mixstage__gfree(g, fs->path);
  mixstage__gfree(g, fs);
}

static const mixstage__file_ops file_ops = {mixstage__file_source_close, mixstage__file_reader_destroy};

int mixstage__file_source_open(mixstage_graph *g, const char *path, double rate, mixstage__file_source **out,
                               int *channels, int64_t *length, char *err, size_t errlen) {
  *out = NULL;
  g->file_ops = &file_ops; /* before any source exists, so graph.c can always free it */
  mixstage__file_source *fs = mixstage__galloc(g, 1, sizeof *fs);
  size_t plen = strlen(path) + 1;
  char *p = fs ? mixstage__galloc(g, plen, 1) : NULL;
  if (!p) {
    mixstage__gfree(g, fs);
    snprintf(err, errlen, "file '%s': out of memory", path);
    return MIXSTAGE_ENOMEM;
  }
  memcpy(p, path, plen);
  fs->graph = g;
  fs->path = p;
  decoder *d = &fs->dec;
  d->f.fd = -1;
  int st = mixstage__open_read(path, &d->f, err, errlen);
  if (st != MIXSTAGE_OK) {
    d->f.sf = NULL;
    source_free(g, fs);
    return st;
  }
  struct stat sb;
  if (fstat(d->f.fd, &sb) != 0) {
    snprintf(err, errlen, "file '%s': cannot stat: %s", path, strerror(errno));
    source_free(g, fs);
    return MIXSTAGE_EIO;
  }
  fs->where = realpath(path, NULL);
  if (!fs->where) fs->where = fs->path;
  d->dev = sb.st_dev;
  d->ino = sb.st_ino;
  d->size = sb.st_size;
  d->mtime = sb.st_mtim;
  const int ch = d->ch = fs->ch = d->f.info.channels;
  const double file_rate = d->f.info.samplerate;
  int sub = d->f.info.format & SF_FORMAT_SUBMASK;
  fs->may_nan = sub == SF_FORMAT_FLOAT || sub == SF_FORMAT_DOUBLE;
  d->file_frames = d->f.info.frames;
  d->resampled = rate != file_rate;
  st = MIXSTAGE_OK;
  if (d->resampled) {
    d->ratio = rate / file_rate;
    if (!src_is_valid_ratio(d->ratio)) {
      snprintf(err, errlen, "file '%s': cannot convert %g Hz to %g Hz", path, file_rate, rate);
      source_free(g, fs);
      return MIXSTAGE_EINVAL;
    }
    /* as resample(): round(frames * ratio), and a few frames of room more */
    double want = floor((double)d->file_frames * d->ratio + 0.5);
    if (want > (double)(INT64_MAX / 4) / ch) st = MIXSTAGE_ENOMEM;
    d->length = (int64_t)want;
    d->cap = d->length + 64;
    if (rate == floor(rate) && rate < 2147483647.0) {
      int64_t a = (int64_t)rate, b = (int64_t)file_rate, q = gcd64(a, b);
      d->L = a / q;
      d->M = b / q;
      if (d->L > (1 << 20)) d->L = d->M = 0; /* a grid point too rarely: restart from the start */
    }
    int e = 0;
    if (st == MIXSTAGE_OK) {
      d->src = src_new(SRC_SINC_BEST_QUALITY, ch, &e);
      d->in = mixstage__galloc(g, (size_t)CHUNK * (size_t)ch, sizeof(float));
      d->out = mixstage__galloc(g, (size_t)CHUNK * (size_t)ch, sizeof(float));
      if (!d->src || !d->in || !d->out) st = MIXSTAGE_ENOMEM;
    }
  } else {
    d->length = d->file_frames;
  }
  if (st == MIXSTAGE_OK && (uint64_t)d->length > FRAME_MASK / 2) st = MIXSTAGE_ENOMEM;
  if (st == MIXSTAGE_OK) {
    fs->blk = mixstage__galloc(g, (size_t)SYNC_BLOCK * (size_t)ch, sizeof(float));
    fs->ring = mixstage__galloc(g, (size_t)RING_FRAMES * (size_t)ch, sizeof(float));
    if (!fs->blk || !fs->ring) st = MIXSTAGE_ENOMEM;
  }
  if (st != MIXSTAGE_OK) {
    snprintf(err, errlen, "file '%s': out of memory", path);
    source_free(g, fs);
    return st;
  }
  fs->length = d->length;
  fs->ring_frame = -1;
  fs->blk_frame = -1;
  d->pos = 0;
  d->file_next = 0;
  *out = fs;
  *channels = ch;
  *length = fs->length;
  return MIXSTAGE_OK;
}

static int reader_usable(const mixstage__file_reader *rd) { return rd && rd->pid == getpid(); }

void mixstage__file_source_close(mixstage_graph *g, mixstage__file_source *fs) {
  if (!fs) return;
  mixstage__file_reader *rd = fs->reader;
  if (reader_usable(rd)) {
    pthread_mutex_lock(&rd->mu);
    for (int i = 0; i < rd->count; i++)
      if (rd->list[i] == fs) {
        rd->list[i] = rd->list[--rd->count];
        break;
      }
    pthread_mutex_unlock(&rd->mu);
  }
  source_free(g, fs);
}

/* ---- real time: the consumer side (audio thread) ---------------------------------- */

static void post_seek(mixstage__file_source *fs, int64_t f) {
  fs->serial = (fs->serial + 1) & ((UINT64_C(1) << (64 - FRAME_BITS)) - 1);
  if (fs->serial == 0) fs->serial = 1; /* 0 is the reader's "nothing served yet" */
  fs->pending = 1;
  fs->pend_frame = f;
  atomic_store_explicit(&fs->seek_req, fs->serial << FRAME_BITS | (uint64_t)f, memory_order_release);
}

/* Takes up the reader's answer to the pending request, if it came. */
static void adopt(mixstage__file_source *fs) {
  if (fs->pending && atomic_load_explicit(&fs->ack, memory_order_acquire) == fs->serial) {
    fs->pending = 0;
    fs->ring_frame = fs->pend_frame;
    atomic_store_explicit(&fs->r, atomic_load_explicit(&fs->start_idx, memory_order_relaxed), memory_order_release);
  }
}

/* Ring frames from index r on, k of them, into planar at offset off. */
static void ring_copy(const mixstage__file_source *fs, uint64_t r, int k, float *const *planar, int off) {
  const int ch = fs->ch;
  while (k > 0) {
    int i = (int)(r & RING_MASK);
    int run = RING_FRAMES - i < k ? RING_FRAMES - i : k;
    const float *src = fs->ring + (size_t)i * (size_t)ch;
    for (int c = 0; c < ch; c++) {
      float *y = planar[c] + off;
      for (int j = 0; j < run; j++) y[j] = src[(size_t)j * (size_t)ch + (size_t)c];
    }
    r += (uint64_t)run;
    off += run;
    k -= run;
  }
}

static void ring_read(mixstage__file_source *fs, float *const *planar, int64_t f, int m) {
  int got = 0;
  if (atomic_load_explicit(&fs->status, memory_order_acquire) == MIXSTAGE_OK) {
    adopt(fs);
    if (!fs->pending) {
      int64_t d = f - fs->ring_frame;
      if (fs->ring_frame < 0 || d < 0 || d > RING_FRAMES) {
        post_seek(fs, f);
      } else {
        uint64_t r = atomic_load_explicit(&fs->r, memory_order_relaxed);
        uint64_t w = atomic_load_explicit(&fs->w, memory_order_acquire);
        int64_t avail = (int64_t)(w - r);
        /* Frames an underrun played as silence arrive late: skip them. */
        int64_t skip = d < avail ? d : avail;
        r += (uint64_t)skip;
        fs->ring_frame += skip;
        avail -= skip;
        if (fs->ring_frame == f) {
          got = avail < m ? (int)avail : m;
          ring_copy(fs, r, got, planar, 0);
          r += (uint64_t)got;
          fs->ring_frame += got;
          avail -= got;
        }
        atomic_store_explicit(&fs->r, r, memory_order_release);
      }
    }
    if (got < m) {
      if (!fs->starving) atomic_fetch_add_explicit(&fs->underruns, 1, memory_order_relaxed);
      atomic_fetch_add_explicit(&fs->missing, m - got, memory_order_relaxed);
    }
    fs->starving = got < m;
  }
  for (int c = 0; c < fs->ch; c++) memset(planar[c] + got, 0, sizeof(float) * (size_t)(m - got));
}

/* ---- offline: synchronous reads ----------------------------------------------------- */

static void sync_read(mixstage__file_source *fs, float *const *planar, int64_t f, int m) {
  const int ch = fs->ch;
  int off = 0;
  while (off < m) {
    int64_t ff = f + off;
    if (ff < fs->blk_frame || ff >= fs->blk_frame + fs->blk_n) {
      int st = atomic_load_explicit(&fs->status, memory_order_relaxed);
      if (st == MIXSTAGE_OK) st = dec_seek(fs, ff);
      int64_t left = fs->length - ff;
      int k = left < SYNC_BLOCK ? (int)left : SYNC_BLOCK;
      if (st == MIXSTAGE_OK) st = dec_pull(fs, fs->blk, k);
      if (st != MIXSTAGE_OK) {
        fs->blk_n = 0;
        for (int c = 0; c < ch; c++) memset(planar[c] + off, 0, sizeof(float) * (size_t)(m - off));
        return;
      }
      fs->blk_frame = ff;
      fs->blk_n = k;
    }
    int at = (int)(ff - fs->blk_frame);
    int k = fs->blk_n - at < m - off ? fs->blk_n - at : m - off;
    const float *src = fs->blk + (size_t)at * (size_t)ch;
    for (int c = 0; c < ch; c++) {
      float *y = planar[c] + off;
      for (int j = 0; j < k; j++) y[j] = src[(size_t)j * (size_t)ch + (size_t)c];
    }
    off += k;
  }
}

int mixstage__file_source_read(mixstage__file_source *fs, float *const *planar, int64_t f, int n) {
  int m = f >= fs->length ? 0 : fs->length - f < n ? (int)(fs->length - f) : n;
  if (m > 0) {
    if (atomic_load_explicit(&fs->offline, memory_order_relaxed)) {
      RTSAN_ALLOW_BEGIN();
      sync_read(fs, planar, f, m);
      RTSAN_ALLOW_END();
    } else {
      ring_read(fs, planar, f, m);
    }
  }
  if (m < n)
    for (int c = 0; c < fs->ch; c++) memset(planar[c] + m, 0, sizeof(float) * (size_t)(n - m));
  return fs->may_nan;
}

/* ---- the reader thread ------------------------------------------------------------- */

/* One step of work for one source; 1 if there was any. */
static int serve(mixstage__file_source *fs) {
  if (atomic_load_explicit(&fs->offline, memory_order_relaxed)) return 0;
  uint64_t req = atomic_load_explicit(&fs->seek_req, memory_order_acquire);
  uint64_t serial = req >> FRAME_BITS;
  uint64_t w = atomic_load_explicit(&fs->w, memory_order_relaxed);
  if (serial != fs->prod_serial) {
    fs->prod_serial = serial;
    int64_t F = (int64_t)(req & FRAME_MASK);
    if (atomic_load_explicit(&fs->status, memory_order_relaxed) == MIXSTAGE_OK && F < fs->length) dec_seek(fs, F);
    fs->prod_frame = F;
    fs->prod_valid = 1;
    atomic_store_explicit(&fs->start_idx, w, memory_order_relaxed);
    atomic_store_explicit(&fs->ack, serial, memory_order_release);
    return 1;
  }
  if (!fs->prod_valid || atomic_load_explicit(&fs->status, memory_order_relaxed) != MIXSTAGE_OK) return 0;
  int64_t remaining = fs->length - fs->prod_frame;
  if (remaining <= 0) return 0;
  uint64_t r = atomic_load_explicit(&fs->r, memory_order_acquire);
  int64_t room = RING_FRAMES - (int64_t)(w - r);
  if (room < MIN_FILL && room < remaining) return 0;
  int64_t k = room < remaining ? room : remaining;
  if (k > CHUNK) k = CHUNK;
  if (k <= 0) return 0;
  int i = (int)(w & RING_MASK);
  int first = RING_FRAMES - i < k ? RING_FRAMES - i : (int)k;
  int st = dec_pull(fs, fs->ring + (size_t)i * (size_t)fs->ch, first);
  if (st == MIXSTAGE_OK && k > first) st = dec_pull(fs, fs->ring, k - first);
  if (st != MIXSTAGE_OK) return 0;
  fs->prod_frame += k;
  atomic_store_explicit(&fs->w, w + (uint64_t)k, memory_order_release);
  return 1;
}

static double now_ms(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec * 1e3 + (double)t.tv_nsec * 1e-6;
}

/* The audio thread cannot wake anyone without a system call, so the reader
 * polls the rings it serves: every POLL_BUSY_MS while there was work in the
 * last IDLE_AFTER_MS (a ring drains at most RING_FRAMES in 1.37 s at
 * 48 kHz: polling is 500 times finer), every POLL_IDLE_MS after (a new
 * request then waits up to that long; hosts prime with wait_sources).
 * With every source offline it sleeps until an edit-time call wakes it. */
#define POLL_BUSY_MS 2
#define POLL_IDLE_MS 20
#define IDLE_AFTER_MS 500

static void *reader_main(void *arg) {
  mixstage__file_reader *rd = arg;
  double last_work = now_ms();
  pthread_mutex_lock(&rd->mu);
  while (!rd->quit) {
    int busy = 0, live = 0;
    for (int i = 0; i < rd->count; i++) {
      live |= !atomic_load_explicit(&rd->list[i]->offline, memory_order_relaxed);
      busy |= serve(rd->list[i]);
    }
    double t = now_ms();
    if (busy) {
      last_work = t;
      /* let edit-time calls in between passes */
      pthread_mutex_unlock(&rd->mu);
      pthread_mutex_lock(&rd->mu);
      continue;
    }
    if (!live) {
      pthread_cond_wait(&rd->wake, &rd->mu);
      last_work = now_ms();
      continue;
    }
    int ms = t - last_work < IDLE_AFTER_MS ? POLL_BUSY_MS : POLL_IDLE_MS;
    struct timespec until;
    clock_gettime(CLOCK_MONOTONIC, &until);
    until.tv_nsec += (long)ms * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
      until.tv_sec++;
      until.tv_nsec -= 1000000000L;
    }
    pthread_cond_timedwait(&rd->wake, &rd->mu, &until);
  }
  pthread_mutex_unlock(&rd->mu);
  return NULL;
}

/* Edit-time: the reader looks at its sources now. */
static void reader_wake(mixstage__file_reader *rd) {
  pthread_mutex_lock(&rd->mu);
  pthread_cond_signal(&rd->wake);
  pthread_mutex_unlock(&rd->mu);
}

int mixstage__file_source_attach(mixstage_graph *g, mixstage__file_source *fs) {
  mixstage__file_reader *rd = g->reader;
  if (rd && !reader_usable(rd)) rd = g->reader = NULL; /* a child of fork(): the parent's is not ours */
  if (!rd) {
    rd = mixstage__galloc(g, 1, sizeof *rd);
    if (!rd) return MIXSTAGE_ENOMEM;
    if (pthread_mutex_init(&rd->mu, NULL) != 0) {
      mixstage__gfree(g, rd);
      return MIXSTAGE_ENOMEM;
    }
    pthread_condattr_t ca;
    int ok = pthread_condattr_init(&ca) == 0;
    if (ok) {
      pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
      ok = pthread_cond_init(&rd->wake, &ca) == 0;
      pthread_condattr_destroy(&ca);
    }
    if (!ok) {
      pthread_mutex_destroy(&rd->mu);
      mixstage__gfree(g, rd);
      return MIXSTAGE_ENOMEM;
    }
    /* The reader takes no signals: they belong to the host's threads. */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    int e = pthread_create(&rd->tid, NULL, reader_main, rd);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (e != 0) {
      pthread_cond_destroy(&rd->wake);
      pthread_mutex_destroy(&rd->mu);
      mixstage__gfree(g, rd);
      return MIXSTAGE_ENOMEM;
    }
    rd->pid = getpid();
    g->reader = rd;
  }
  atomic_store_explicit(&fs->offline, g->freewheel, memory_order_relaxed);
  pthread_mutex_lock(&rd->mu);
  int rc = mixstage__grow(g, (void **)&rd->list, &rd->cap, rd->count + 1, sizeof *rd->list);
  if (rc == MIXSTAGE_OK) {
    rd->list[rd->count++] = fs;
    fs->reader = rd;
    pthread_cond_signal(&rd->wake);
  }
  pthread_mutex_unlock(&rd->mu);
  return rc;
}

void mixstage__file_reader_destroy(mixstage_graph *g) {
  mixstage__file_reader *rd = g->reader;
  if (!rd) return;
  g->reader = NULL;
  for (int i = 0; i < rd->count; i++) rd->list[i]->reader = NULL;
  if (reader_usable(rd)) {
    pthread_mutex_lock(&rd->mu);
    rd->quit = 1;
    pthread_cond_signal(&rd->wake);
    pthread_mutex_unlock(&rd->mu);
    pthread_join(rd->tid, NULL);
    pthread_cond_destroy(&rd->wake);
    pthread_mutex_destroy(&rd->mu);
  }
  mixstage__gfree(g, rd->list);
  mixstage__gfree(g, rd);
}

/* ---- around offline renders --------------------------------------------------------- */

static mixstage__file_source *strip_file(mixstage_strip *s) { return s->src.kind == 3 ? s->src.file : NULL; }

static int fail_source(mixstage_graph *g, mixstage_strip *s) {
  mixstage__file_source *fs = s->src.file;
  return mixstage__fail(g, atomic_load_explicit(&fs->status, memory_order_acquire), "strip '%s': %s", s->u.name,
                        fs->msg);
}

/* Moves every file source to synchronous reads (on) or to the ring. */
static void set_offline(mixstage_graph *g, int on) {
  mixstage__file_reader *rd = reader_usable(g->reader) ? g->reader : NULL;
  if (rd) pthread_mutex_lock(&rd->mu);
  for (int i = 0; i < g->strip_count; i++) {
    mixstage__file_source *fs = strip_file(g->strips[i]);
    if (!fs) continue;
    atomic_store_explicit(&fs->offline, on, memory_order_relaxed);
    /* Either way the ring starts afresh at the next real-time read. */
    fs->pending = 0;
    fs->ring_frame = -1;
    fs->starving = 0;
    fs->prod_valid = 0;
    fs->blk_n = 0;
  }
  if (rd) {
    pthread_cond_signal(&rd->wake); /* sources may have come back to it */
    pthread_mutex_unlock(&rd->mu);
  }
}

int mixstage__file_sources_offline(mixstage_graph *g, int on) {
  set_offline(g, on || g->freewheel);
  if (!on) return MIXSTAGE_OK;
  /* A file changed since it was opened fails the render before it starts. */
  for (int i = 0; i < g->strip_count; i++) {
    mixstage__file_source *fs = strip_file(g->strips[i]);
    if (fs && atomic_load_explicit(&fs->status, memory_order_relaxed) == MIXSTAGE_OK) check_file(fs);
  }
  return mixstage__file_sources_check(g);
}

MIXSTAGE_EXPORT int mixstage_graph_set_freewheel(mixstage_graph *g, int on) {
  if (!g) return MIXSTAGE_ENULL;
  g->freewheel = on ? 1 : 0;
  set_offline(g, g->freewheel);
  return MIXSTAGE_OK;
}

MIXSTAGE_EXPORT int mixstage_graph_freewheel(const mixstage_graph *g) { return g ? g->freewheel : 0; }

int mixstage__file_sources_failed(mixstage_graph *g) {
  for (int i = 0; i < g->strip_count; i++) {
    mixstage__file_source *fs = strip_file(g->strips[i]);
    if (fs && atomic_load_explicit(&fs->status, memory_order_relaxed) != MIXSTAGE_OK) return 1;
  }
  return 0;
}

int mixstage__file_sources_check(mixstage_graph *g) {
  for (int i = 0; i < g->strip_count; i++) {
    mixstage__file_source *fs = strip_file(g->strips[i]);
    if (fs && atomic_load_explicit(&fs->status, memory_order_acquire) != MIXSTAGE_OK) return fail_source(g, g->strips[i]);
  }
  return MIXSTAGE_OK;
}

/* ---- public: real-time status ------------------------------------------------------------ */

MIXSTAGE_EXPORT int64_t mixstage_strip_source_underruns(const mixstage_strip *s) {
  if (!s) return MIXSTAGE_ENULL;
  return s->src.kind == 3 ? atomic_load_explicit(&s->src.file->underruns, memory_order_relaxed) : 0;
}

MIXSTAGE_EXPORT int64_t mixstage_graph_source_underruns(const mixstage_graph *g) {
  if (!g) return MIXSTAGE_ENULL;
  int64_t n = 0;
  for (int i = 0; i < g->strip_count; i++) n += mixstage_strip_source_underruns(g->strips[i]);
  return n;
}

MIXSTAGE_EXPORT int mixstage_strip_source_error(const mixstage_strip *s) {
  if (!s) return MIXSTAGE_ENULL;
  return s->src.kind == 3 ? atomic_load_explicit(&s->src.file->status, memory_order_acquire) : MIXSTAGE_OK;
}

MIXSTAGE_EXPORT const char *mixstage_strip_source_message(const mixstage_strip *s) {
  if (!s) return "no strip (NULL handle)";
  if (s->src.kind != 3) return "";
  mixstage__file_source *fs = s->src.file;
  int64_t u = atomic_load_explicit(&fs->underruns, memory_order_relaxed);
  if (atomic_load_explicit(&fs->status, memory_order_acquire) != MIXSTAGE_OK)
    snprintf(fs->note, sizeof fs->note, "strip '%s': %s", s->u.name, fs->msg);
  else if (u)
    snprintf(fs->note, sizeof fs->note, "strip '%s': file '%s': %lld underruns in real time (%lld frames played "
             "as silence: the reader thread fell behind)", s->u.name, fs->path, (long long)u,
             (long long)atomic_load_explicit(&fs->missing, memory_order_relaxed));
  else
    fs->note[0] = '\0';
  return fs->note;
}

/* ---- public: priming the rings ---------------------------------------------------------- */

static int primed(mixstage__file_source *fs, int64_t pos) {
  if (atomic_load_explicit(&fs->status, memory_order_acquire) != MIXSTAGE_OK || pos >= fs->length) return 1;
  adopt(fs);
  if (fs->pending || fs->ring_frame != pos) return 0;
  int64_t want = fs->length - pos < RING_FRAMES / 2 ? fs->length - pos : RING_FRAMES / 2;
  uint64_t avail = atomic_load_explicit(&fs->w, memory_order_acquire) - atomic_load_explicit(&fs->r, memory_order_relaxed);
  return (int64_t)avail >= want;
}

MIXSTAGE_EXPORT int mixstage_graph_wait_sources(mixstage_graph *g, int timeout_ms) {
  if (!g) return MIXSTAGE_ENULL;
  if (timeout_ms < 0)
    return mixstage__fail(g, MIXSTAGE_ERANGE, "graph: wait for sources: timeout %d ms is negative", timeout_ms);
  int64_t pos = g->pos;
  for (int i = 0; i < g->strip_count; i++) {
    mixstage__file_source *fs = strip_file(g->strips[i]);
    if (!fs || atomic_load(&fs->offline) || pos >= fs->length) continue;
    adopt(fs);
    if (fs->pending ? fs->pend_frame != pos : fs->ring_frame != pos) post_seek(fs, pos);
  }
  if (reader_usable(g->reader)) reader_wake(g->reader);
  struct timespec t0, now;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  for (;;) {
    mixstage_strip *late = NULL;
    for (int i = 0; i < g->strip_count && !late; i++) {
      mixstage__file_source *fs = strip_file(g->strips[i]);
      if (fs && !atomic_load(&fs->offline) && !primed(fs, pos)) late = g->strips[i];
    }
    int rc = mixstage__file_sources_check(g);
    if (rc != MIXSTAGE_OK) return rc;
    if (!late) return MIXSTAGE_OK;
    clock_gettime(CLOCK_MONOTONIC, &now);
    double ms = (double)(now.tv_sec - t0.tv_sec) * 1e3 + (double)(now.tv_nsec - t0.tv_nsec) * 1e-6;
    if (ms >= timeout_ms)
      return mixstage__fail(g, MIXSTAGE_EIO, "strip '%s': file '%s': not buffered within %d ms", late->u.name,
                            late->src.file->path, timeout_ms);
    struct timespec nap = {0, 1000000};
    nanosleep(&nap, NULL);
  }
}

/* ---- the strip's file source (API) ------------------------------------------------- */

/* Here rather than in graph.c: opening a file is this layer's business, and
 * the graph model must not depend on the file reader. */
MIXSTAGE_EXPORT int mixstage_strip_set_source_file(mixstage_strip *s, const char *path) {
  return mixstage_strip_set_source_file_mode(s, path, MIXSTAGE_SOURCE_STREAM);
}

/* The whole file, decoded and converted, as a buffer source. */
static int set_source_preloaded(mixstage_strip *s, const char *path, char *copy) {
  mixstage_graph *g = s->u.graph;
  float *data = NULL;
  int64_t frames = 0;
  int ch = 0;
  char why[MIXSTAGE__ERR_MAX / 2];
  why[0] = '\0';
  int rc = mixstage_audio_read(path, g->sample_rate, &data, &frames, &ch, NULL, why, sizeof why);
  if (rc != MIXSTAGE_OK) {
    mixstage__gfree(g, copy);
    return mixstage__fail(g, rc, "strip '%s': %s", s->u.name, why[0] ? why : mixstage_strerror(rc));
  }
  if (ch > s->u.channels) {
    mixstage_free(data);
    mixstage__gfree(g, copy);
    return mixstage__fail(g, MIXSTAGE_ECHANNELS, "strip '%s': file '%s' has %d channels, the strip %d",
                          s->u.name, path, ch, s->u.channels);
  }
  rc = mixstage_strip_set_source_buffer(s, data, ch, frames, 1);
  mixstage_free(data);
  if (rc != MIXSTAGE_OK) {
    mixstage__gfree(g, copy);
    return rc;
  }
  s->source_path = copy; /* after set_source_buffer(), which clears it */
  return MIXSTAGE_OK;
}

MIXSTAGE_EXPORT int mixstage_strip_set_source_file_mode(mixstage_strip *s, const char *path, int mode) {
  if (!s) return MIXSTAGE_ENULL;
  mixstage_graph *g = s->u.graph;
  if (MIXSTAGE__UNIT_BUSY(&s->u)) return MIXSTAGE_ESTATE;
  if (!path) return mixstage__fail(g, MIXSTAGE_ENULL, "strip '%s': source file path is NULL", s->u.name);
  if (mode != MIXSTAGE_SOURCE_STREAM && mode != MIXSTAGE_SOURCE_PRELOAD)
    return mixstage__fail(g, MIXSTAGE_EINVAL, "strip '%s': source mode %d is not stream (0) or preload (1)",
                          s->u.name, mode);
  /* The path is copied first, so that running out of memory for it leaves
   * the old source in place. */
  size_t plen = strlen(path) + 1;
  char *copy = mixstage__galloc(g, plen, 1);
  if (!copy) return mixstage__fail(g, MIXSTAGE_ENOMEM, "strip '%s': out of memory", s->u.name);
  memcpy(copy, path, plen);
  if (mode == MIXSTAGE_SOURCE_PRELOAD) return set_source_preloaded(s, path, copy);
  mixstage__file_source *fs = NULL;
  int ch = 0;
  int64_t frames = 0;
  char why[MIXSTAGE__ERR_MAX / 2];
  why[0] = '\0';
  int rc = mixstage__file_source_open(g, path, g->sample_rate, &fs, &ch, &frames, why, sizeof why);
  if (rc == MIXSTAGE_OK && ch > s->u.channels) {
    snprintf(why, sizeof why, "file '%s' has %d channels, the strip %d", path, ch, s->u.channels);
    rc = MIXSTAGE_ECHANNELS;
  }
  if (rc == MIXSTAGE_OK && frames > (INT64_MAX / 4) / ch) {
    snprintf(why, sizeof why, "file '%s': source length %lld frames is invalid", path, (long long)frames);
    rc = MIXSTAGE_ERANGE;
  }
  if (rc == MIXSTAGE_OK && (rc = mixstage__file_source_attach(g, fs)) != MIXSTAGE_OK)
    snprintf(why, sizeof why, "file '%s': out of memory starting its reader thread", path);
  if (rc != MIXSTAGE_OK) {
    mixstage__file_source_close(g, fs);
    mixstage__gfree(g, copy);
    return mixstage__fail(g, rc, "strip '%s': %s", s->u.name, why[0] ? why : mixstage_strerror(rc));
  }
  mixstage__strip_source_release(s);
  s->src.kind = 3;
  s->src.file = fs;
  s->src.channels = ch;
  s->src.frames = frames;
  s->source_path = copy;
  return MIXSTAGE_OK;
}
