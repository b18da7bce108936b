/* libmixstage — audio files (libsndfile), rate conversion (libsamplerate),
 * measurement (libebur128) and delivery manifests (jansson).
 *
 * Files are written through one path: quantise a chunk, hash it as stored,
 * meter the stored values, hand the chunk to libsndfile.  So the statistics
 * and checksum describe exactly the samples in the file, and long renders
 * need only one chunk of scratch memory beyond the caller's buffer. */
#define _GNU_SOURCE /* fsync, fchmod, O_CLOEXEC, O_DIRECTORY */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#include <ebur128.h>
#include <jansson.h>
#include <samplerate.h>
#include <sndfile.h>

#include "config.h"
#ifdef __SSE2__
#include <emmintrin.h>
#endif
#include "io_read.h"
#include "mixstage/io.h"
#include "loudness_gate.h"
#include "loudness_hops.h"
#include "loudness_range.h"
#include "dsp/truepeak.h"
#include "io_writer.h"
#include "resample.h"

#define IO_CHUNK MIXSTAGE__IO_CHUNK /* frames per libsndfile / libsamplerate call */
#define IO_MAX_CHANNELS 64     /* generous: a 9.1.6 bed is 16 */
#define IO_MIN_RATE 8000.0
#define IO_MAX_RATE 768000.0
#define IO_DEFAULT_SEED UINT64_C(0x6d69787374616765) /* "mixstage" */

/* ---- names and messages -------------------------------------------------- */

static const char *const format_names[] = {"wav", "aiff", "flac"};
static const char *const sample_type_names[] = {"pcm16", "pcm24", "float32"};

MIXSTAGE_EXPORT const char *mixstage_file_format_name(int format) {
  return format >= 0 && format < 3 ? format_names[format] : NULL;
}

MIXSTAGE_EXPORT const char *mixstage_sample_type_name(int sample_type) {
  return sample_type >= 0 && sample_type < 3 ? sample_type_names[sample_type] : NULL;
}

MIXSTAGE_EXPORT void mixstage_free(void *ptr) { free(ptr); }

/* "file 'PATH': MESSAGE" into err (if any), and returns status. */
static int fail(int status, char *err, size_t errlen, const char *path, const char *fmt, ...) {
  if (err && errlen > 0) {
    int n = snprintf(err, errlen, "file '%s': ", path ? path : "(null)");
    if (n >= 0 && (size_t)n < errlen) {
      va_list ap;
      va_start(ap, fmt);
      vsnprintf(err + n, errlen - (size_t)n, fmt, ap);
      va_end(ap);
    }
  }
  return status;
}

static void clear_err(char *err, size_t errlen) {
  if (err && errlen > 0) err[0] = '\0';
}

static int rate_ok(double r) { return isfinite(r) && r >= IO_MIN_RATE && r <= IO_MAX_RATE; }

/* ---- checksum ------------------------------------------------------------ */

/* 64-bit FNV-1a (Fowler, Noll, Vo; offset basis and prime from the
 * reference description).  Not cryptographic: it detects changed audio. */
#define FNV_OFFSET UINT64_C(0xcbf29ce484222325)
#define FNV_PRIME UINT64_C(0x100000001b3)

static inline uint64_t fnv_bytes(uint64_t h, const unsigned char *b, int n) {
  for (int i = 0; i < n; i++) h = (h ^ b[i]) * FNV_PRIME;
  return h;
}

/* One stored sample, little-endian whatever the host or container. */
static inline uint64_t fnv_int(uint64_t h, int32_t q, int bytes) {
  uint32_t u = (uint32_t)q;
  unsigned char b[4] = {(unsigned char)u, (unsigned char)(u >> 8), (unsigned char)(u >> 16),
                        (unsigned char)(u >> 24)};
  return fnv_bytes(h, b, bytes);
}

static inline uint64_t fnv_float(uint64_t h, float x) {
  uint32_t u;
  memcpy(&u, &x, 4);
  return fnv_int(h, (int32_t)u, 4);
}

/* ---- meter: peak, RMS and libebur128 over a stream ------------------------ */

typedef struct meter {
  ebur128_state *st;
  int channels;
  double rate;
  int64_t frames;
  int64_t hop, since_hop;   /* 100 ms reading grid anchored at frame 0 */
  int64_t win_m, win_s;     /* 400 ms and 3 s windows, in frames */
  double peak, sumsq, mom_max, short_max;
  /* Energy of the last 30 hops: momentary is the mean of 4, short-term of
   * 30, so each sample is summed once per reading instead of 34 times
   * (libebur128 re-sums whole windows).  Only where libebur128's 100 ms
   * window is exactly the hop (rates that are a multiple of 10 Hz); other
   * rates ask libebur128 for each window. */
  int hop_energy;
  mixstage__loudness_hops hops;
  mixstage__lra lra; /* Tech 3342 from the 10 Hz short-term readings */
  mixstage__gate gate; /* integrated loudness from the 10 Hz 400 ms blocks */
  mixstage__truepeak tp;
} meter;

/* Loudness channel weights per ITU-R BS.1770-4 Table 4: channels at
 * elevation < 30 deg and 60..120 deg azimuth weigh 1.41 (Mp090 / Mp110),
 * others 1.0, LFE is excluded.  libebur128's default map already covers
 * L R C LFE Ls Rs; 7.1 and 7.1.4 (WAVEFORMATEXTENSIBLE order) are set here. */
static void meter_channel_map(ebur128_state *st, int channels) {
  static const int map_7_1_4[12] = {EBUR128_LEFT,   EBUR128_RIGHT, EBUR128_CENTER,
                                    EBUR128_UNUSED, EBUR128_Mp135, EBUR128_Mm135,
                                    EBUR128_Mp090,  EBUR128_Mm090, EBUR128_Up045,
                                    EBUR128_Um045,  EBUR128_Up135, EBUR128_Um135};
  if (channels == 8 || channels == 12)
    for (int c = 0; c < channels; c++) ebur128_set_channel(st, (unsigned)c, map_7_1_4[c]);
}

static int meter_init(meter *m, int channels, double rate) {
  memset(m, 0, sizeof *m);
  unsigned long r = (unsigned long)lround(rate);
  /* Not EBUR128_MODE_I: libebur128 would keep every gating block of the
   * stream (loudness_gate.h keeps a fixed set of bins instead). */
  m->st = ebur128_init((unsigned)channels, r, EBUR128_MODE_M | EBUR128_MODE_S);
  if (!m->st) return MIXSTAGE_ENOMEM;
  if (mixstage__lra_init(&m->lra) != MIXSTAGE_OK) {
    ebur128_destroy(&m->st);
    return MIXSTAGE_ENOMEM;
  }
  if (mixstage__gate_init(&m->gate) != MIXSTAGE_OK) {
    mixstage__lra_free(&m->lra);
    ebur128_destroy(&m->st);
    return MIXSTAGE_ENOMEM;
  }
  meter_channel_map(m->st, channels);
  mixstage__truepeak_init(&m->tp, channels);
  m->channels = channels;
  m->rate = rate;
  m->hop = (int64_t)lround(rate * 0.1);
  m->win_m = (int64_t)lround(rate * 0.4);
  m->win_s = (int64_t)lround(rate * 3.0);
  m->mom_max = m->short_max = -HUGE_VAL;
  m->hop_energy = r % 10 == 0 && (int64_t)(r / 10) == m->hop && m->win_m == 4 * m->hop && m->win_s == 30 * m->hop;
  return MIXSTAGE_OK;
}

/* A reading on the hop grid from the hop energies (see meter). */
static void meter_read_hops(meter *m) {
  double mo, sh;
  mixstage__hops_push(&m->hops, m->st, &mo, &sh);
  if (m->frames >= m->win_m) {
    if (mo > m->mom_max) m->mom_max = mo;
    mixstage__gate_add(&m->gate, mixstage__hops_block_energy(&m->hops));
  }
  if (m->frames >= m->win_s) {
    if (sh > m->short_max) m->short_max = sh;
    mixstage__lra_add(&m->lra, sh);
  }
}

static void meter_read(meter *m, int final) {
  double v;
  /* Full windows only; a stream shorter than a window reads once, at its end. */
  if ((m->frames >= m->win_m || final) && ebur128_loudness_momentary(m->st, &v) == EBUR128_SUCCESS &&
      v > m->mom_max)
    m->mom_max = v;
  if ((m->frames >= m->win_s || final) && ebur128_loudness_shortterm(m->st, &v) == EBUR128_SUCCESS &&
      v > m->short_max)
    m->short_max = v;
}

/* Everything but the sample peak and the sum of squares (meter_add). */
static int meter_add_stream(meter *m, const float *x, int64_t n) {
  const int ch = m->channels;
  mixstage__truepeak_add(&m->tp, x, (long)n);
  while (n > 0) {
    int64_t k = m->hop - m->since_hop;
    if (k > n) k = n;
    if (ebur128_add_frames_float(m->st, x, (size_t)k) != EBUR128_SUCCESS) return MIXSTAGE_ENOMEM;
    x += k * ch;
    n -= k;
    m->frames += k;
    m->since_hop += k;
    if (m->since_hop == m->hop && m->hop_energy) {
      m->since_hop = 0;
      meter_read_hops(m);
    } else if (m->since_hop == m->hop) {
      m->since_hop = 0;
      meter_read(m, 0);
      double v;
      /* The gating block: libebur128's momentary window is the same 400 ms. */
      if (m->frames >= m->win_m && ebur128_loudness_momentary(m->st, &v) == EBUR128_SUCCESS && v > -HUGE_VAL)
        mixstage__gate_add(&m->gate, pow(10.0, (v + 0.691) / 10.0));
      if (m->frames >= m->win_s && ebur128_loudness_shortterm(m->st, &v) == EBUR128_SUCCESS)
        mixstage__lra_add(&m->lra, v);
    }
  }
  return MIXSTAGE_OK;
}

static int meter_add(meter *m, const float *x, int64_t n) {
  const int ch = m->channels;
  double pk = m->peak, ss = m->sumsq;
  for (int64_t i = 0; i < n * ch; i++) {
    double a = fabs((double)x[i]);
    if (a > pk) pk = a;
    ss += (double)x[i] * x[i];
  }
  m->peak = pk;
  m->sumsq = ss;
  return meter_add_stream(m, x, n);
}

static double db20(double a) { return a > 0.0 ? 20.0 * log10(a) : -HUGE_VAL; }

static void meter_finish(meter *m, mixstage_file_stats *s) {
  if (m->frames > 0 && (m->since_hop > 0 || m->frames < m->win_s)) meter_read(m, m->frames < m->win_s);
  s->frames = m->frames;
  s->channels = m->channels;
  s->sample_rate = m->rate;
  s->seconds = (double)m->frames / m->rate;
  s->peak_dbfs = db20(m->peak);
  double tp = 0.0;
  for (int c = 0; c < m->channels; c++)
    if (mixstage__truepeak_value(&m->tp, c) > tp) tp = mixstage__truepeak_value(&m->tp, c);
  if (m->peak > tp) tp = m->peak; /* a true peak is never below the sample peak */
  s->true_peak_dbtp = db20(tp);
  s->integrated_lufs = mixstage__gate_value(&m->gate);
  s->loudness_range_lu = mixstage__lra_value(&m->lra);
  s->momentary_max_lufs = m->mom_max;
  s->short_term_max_lufs = m->short_max;
  double n = (double)m->frames * m->channels;
  s->rms_dbfs = n > 0 ? db20(sqrt(m->sumsq / n)) : -HUGE_VAL;
}

static void meter_free(meter *m) {
  if (m->st) ebur128_destroy(&m->st);
  mixstage__lra_free(&m->lra);
  mixstage__gate_free(&m->gate);
}

MIXSTAGE_EXPORT int mixstage_measure(const float *data, int64_t frames, int channels, double rate,
                                     mixstage_file_stats *stats) {
  if (!stats || (!data && frames > 0)) return MIXSTAGE_ENULL;
  if (frames < 0 || channels < 1 || channels > IO_MAX_CHANNELS || !rate_ok(rate))
    return MIXSTAGE_EINVAL;
  meter m;
  int st = meter_init(&m, channels, rate);
  if (st < 0) return st;
  st = meter_add(&m, data, frames);
  if (st < 0) {
    meter_free(&m);
    return st;
  }
  memset(stats, 0, sizeof *stats);
  meter_finish(&m, stats);
  meter_free(&m);
  uint64_t h = FNV_OFFSET;
  int64_t clipped = 0;
  for (int64_t i = 0; i < frames * channels; i++) {
    h = fnv_float(h, data[i]);
    clipped += fabsf(data[i]) > 1.0f;
  }
  stats->checksum = h;
  stats->clipped_samples = clipped;
  stats->format = -1;
  stats->sample_type = MIXSTAGE_SAMPLE_FLOAT32;
  return MIXSTAGE_OK;
}

/* ---- rate conversion ------------------------------------------------------ */

/* Converts a whole interleaved buffer with SRC_SINC_BEST_QUALITY, through
 * the streaming converter a delivery uses (resample.h): the converter's
 * output is time-aligned with its input, and the result is cut or
 * zero-padded to round(frames * ratio). */
typedef struct {
  float *buf;
  int64_t at;
  int ch;
} resample_into;

static int resample_take(void *user, const float *frames, int64_t n) {
  resample_into *t = user;
  memcpy(t->buf + (size_t)t->at * (size_t)t->ch, frames, sizeof(float) * (size_t)n * (size_t)t->ch);
  t->at += n;
  return MIXSTAGE_OK;
}

static int resample(const float *in, int64_t frames, int ch, double ratio, float **out,
                    int64_t *out_frames, const char **why) {
  *out = NULL;
  *why = NULL;
  if (!src_is_valid_ratio(ratio)) {
    *why = "sample-rate ratio outside 1/256 .. 256";
    return MIXSTAGE_EINVAL;
  }
  double want_d = floor((double)frames * ratio + 0.5);
  if (want_d > (double)(INT64_MAX / 4) / ch) return MIXSTAGE_ENOMEM;
  int64_t want = (int64_t)want_d;
  resample_into t = {malloc(sizeof(float) * (size_t)(want > 0 ? want : 1) * (size_t)ch), 0, ch};
  if (!t.buf) return MIXSTAGE_ENOMEM;
  mixstage__resampler *r;
  int st = mixstage__resampler_new(&r, ch, ratio, why);
  if (st == MIXSTAGE_OK) st = mixstage__resampler_push(r, in, frames, resample_take, &t, why);
  if (st == MIXSTAGE_OK) st = mixstage__resampler_finish(r, resample_take, &t, why);
  mixstage__resampler_free(r);
  if (st != MIXSTAGE_OK) {
    free(t.buf);
    return st;
  }
  *out = t.buf;
  *out_frames = want;
  return MIXSTAGE_OK;
}

/* ---- opening files for reading -------------------------------------------- */

typedef mixstage__rfile rfile;

int mixstage__open_read(const char *path, rfile *f, char *err, size_t errlen) {
  memset(f, 0, sizeof *f);
  /* O_NONBLOCK: opening a FIFO would wait for a writer forever; the mode
   * is checked before anything is read, and cleared for the reads. */
  f->fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  if (f->fd < 0) {
    int e = errno;
    if (e == ENOENT || e == ENOTDIR) return fail(MIXSTAGE_ENOTFOUND, err, errlen, path, "no such file");
    if (e == EACCES) return fail(MIXSTAGE_EIO, err, errlen, path, "permission denied");
    return fail(MIXSTAGE_EIO, err, errlen, path, "cannot open: %s", strerror(e));
  }
  struct stat sb;
  if (fstat(f->fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
    close(f->fd);
    return fail(MIXSTAGE_EIO, err, errlen, path, "not a regular file");
  }
  (void)fcntl(f->fd, F_SETFL, 0);
  /* Our descriptor, closed by us: sf_open_fd's ownership on failure varies
   * between libsndfile versions. */
  f->sf = sf_open_fd(f->fd, SFM_READ, &f->info, 0);
  if (!f->sf) {
    int code = sf_error(NULL);
    const char *why = sf_strerror(NULL);
    close(f->fd);
    if (code == SF_ERR_SYSTEM) return fail(MIXSTAGE_EIO, err, errlen, path, "read error: %s", why);
    return fail(MIXSTAGE_EFORMAT, err, errlen, path, "unsupported format (%s)", why);
  }
  if (f->info.channels < 1 || f->info.channels > IO_MAX_CHANNELS || f->info.samplerate <= 0 ||
      f->info.frames < 0) {
    sf_close(f->sf);
    close(f->fd);
    return fail(MIXSTAGE_EFORMAT, err, errlen, path, "unsupported format (%d channels at %d Hz)",
                f->info.channels, f->info.samplerate);
  }
  return MIXSTAGE_OK;
}

void mixstage__close_read(rfile *f) {
  if (f->sf) sf_close(f->sf);
  if (f->fd >= 0) close(f->fd);
}

MIXSTAGE_EXPORT int mixstage_audio_read(const char *path, double target_rate, float **out,
                                        int64_t *frames, int *channels, double *file_rate,
                                        char *err, size_t errlen) {
  clear_err(err, errlen);
  if (out) *out = NULL;
  if (!path || !out || !frames || !channels) return MIXSTAGE_ENULL;
  if (!isfinite(target_rate) || target_rate < 0)
    return fail(MIXSTAGE_EINVAL, err, errlen, path, "invalid target rate %g Hz", target_rate);
  rfile f;
  int st = mixstage__open_read(path, &f, err, errlen);
  if (st < 0) return st;
  const int ch = f.info.channels;
  const double rate = f.info.samplerate;
  if (target_rate > 0 && !src_is_valid_ratio(target_rate / rate)) {
    mixstage__close_read(&f);
    return fail(MIXSTAGE_EINVAL, err, errlen, path, "cannot convert %g Hz to %g Hz", rate,
                target_rate);
  }
  if ((uint64_t)f.info.frames > (uint64_t)(SIZE_MAX / sizeof(float) / 2) / (uint64_t)ch) {
    mixstage__close_read(&f);
    return fail(MIXSTAGE_ENOMEM, err, errlen, path, "too long to hold in memory");
  }
  /* The header's length is only a claim: a few damaged bytes can claim
   * billions of frames.  The buffer starts at one chunk and doubles as
   * frames arrive, up to the claim. */
  const int64_t claim = f.info.frames;
  int64_t cap = claim < IO_CHUNK ? claim : IO_CHUNK;
  float *buf = malloc((size_t)(cap > 0 ? cap * ch : 1) * sizeof(float));
  if (!buf) {
    mixstage__close_read(&f);
    return fail(MIXSTAGE_ENOMEM, err, errlen, path, "out of memory");
  }
  int64_t n = 0;
  while (n < claim) {
    if (n == cap) {
      int64_t grown = cap > claim / 2 ? claim : 2 * cap;
      float *more = realloc(buf, (size_t)(grown * ch) * sizeof(float));
      if (!more) {
        free(buf);
        mixstage__close_read(&f);
        return fail(MIXSTAGE_ENOMEM, err, errlen, path, "out of memory");
      }
      buf = more;
      cap = grown;
    }
    sf_count_t want = cap - n > IO_CHUNK ? IO_CHUNK : cap - n;
    sf_count_t got = sf_readf_float(f.sf, buf + n * ch, want);
    if (got <= 0) break;
    n += got;
  }
  if (sf_error(f.sf) != SF_ERR_NO_ERROR) {
    char why[256];
    snprintf(why, sizeof why, "%s", sf_strerror(f.sf));
    free(buf);
    mixstage__close_read(&f);
    return fail(MIXSTAGE_EIO, err, errlen, path, "read error: %s", why);
  }
  mixstage__close_read(&f);
  if (target_rate > 0 && target_rate != rate) {
    float *conv;
    int64_t cn;
    const char *why;
    st = resample(buf, n, ch, target_rate / rate, &conv, &cn, &why);
    free(buf);
    if (st < 0)
      return fail(st, err, errlen, path, "sample-rate conversion failed: %s",
                  why ? why : mixstage_strerror(st));
    buf = conv;
    n = cn;
  }
  *out = buf;
  *frames = n;
  *channels = ch;
  if (file_rate) *file_rate = rate;
  return MIXSTAGE_OK;
}

/* ---- measuring a file as stored ------------------------------------------- */

static int container_format(int sf_format) {
  switch (sf_format & SF_FORMAT_TYPEMASK) {
  case SF_FORMAT_WAV:
  case SF_FORMAT_WAVEX:
  case SF_FORMAT_RF64: return MIXSTAGE_FORMAT_WAV;
  case SF_FORMAT_AIFF: return MIXSTAGE_FORMAT_AIFF;
  case SF_FORMAT_FLAC: return MIXSTAGE_FORMAT_FLAC;
  default: return -1;
  }
}

MIXSTAGE_EXPORT int mixstage_measure_file(const char *path, mixstage_file_stats *stats, char *err,
                                          size_t errlen) {
  clear_err(err, errlen);
  if (!path || !stats) return MIXSTAGE_ENULL;
  rfile f;
  int st = mixstage__open_read(path, &f, err, errlen);
  if (st < 0) return st;
  int type;
  switch (f.info.format & SF_FORMAT_SUBMASK) {
  case SF_FORMAT_PCM_16: type = MIXSTAGE_SAMPLE_PCM16; break;
  case SF_FORMAT_PCM_24: type = MIXSTAGE_SAMPLE_PCM24; break;
  case SF_FORMAT_FLOAT: type = MIXSTAGE_SAMPLE_FLOAT32; break;
  default:
    mixstage__close_read(&f);
    return fail(MIXSTAGE_EFORMAT, err, errlen, path,
                "unsupported sample type (only 16-bit, 24-bit and float)");
  }
  const int ch = f.info.channels;
  if (!rate_ok(f.info.samplerate)) {
    mixstage__close_read(&f);
    return fail(MIXSTAGE_EFORMAT, err, errlen, path, "unsupported rate %d Hz", f.info.samplerate);
  }
  float *fb = malloc(sizeof(float) * IO_CHUNK * (size_t)ch);
  int32_t *ib = malloc(sizeof(int32_t) * IO_CHUNK * (size_t)ch);
  meter m;
  if (!fb || !ib || meter_init(&m, ch, f.info.samplerate) < 0) {
    free(fb);
    free(ib);
    mixstage__close_read(&f);
    return fail(MIXSTAGE_ENOMEM, err, errlen, path, "out of memory");
  }
  /* libsndfile hands integers left-justified in 32 bits. */
  const int32_t shift = type == MIXSTAGE_SAMPLE_PCM16 ? 65536 : 256;
  const int32_t full = type == MIXSTAGE_SAMPLE_PCM16 ? 32767 : 8388607;
  const double scale = type == MIXSTAGE_SAMPLE_PCM16 ? 1.0 / 32768.0 : 1.0 / 8388608.0;
  const int bytes = type == MIXSTAGE_SAMPLE_PCM16 ? 2 : 3;
  uint64_t h = FNV_OFFSET;
  int64_t clipped = 0;
  for (;;) {
    sf_count_t got;
    if (type == MIXSTAGE_SAMPLE_FLOAT32) {
      got = sf_readf_float(f.sf, fb, IO_CHUNK);
      for (sf_count_t i = 0; i < got * ch; i++) {
        h = fnv_float(h, fb[i]);
        clipped += fabsf(fb[i]) > 1.0f;
      }
    } else {
      got = sf_readf_int(f.sf, ib, IO_CHUNK);
      for (sf_count_t i = 0; i < got * ch; i++) {
        int32_t q = ib[i] / shift;
        h = fnv_int(h, q, bytes);
        clipped += q >= full || q <= -full - 1;
        fb[i] = (float)(q * scale);
      }
    }
    if (got <= 0) break;
    if (meter_add(&m, fb, got) < 0) {
      st = fail(MIXSTAGE_ENOMEM, err, errlen, path, "out of memory");
      break;
    }
  }
  if (st == MIXSTAGE_OK && sf_error(f.sf) != SF_ERR_NO_ERROR)
    st = fail(MIXSTAGE_EIO, err, errlen, path, "read error: %s", sf_strerror(f.sf));
  if (st == MIXSTAGE_OK) {
    memset(stats, 0, sizeof *stats);
    meter_finish(&m, stats);
    stats->checksum = h;
    stats->clipped_samples = clipped;
    stats->sample_type = type;
    stats->format = container_format(f.info.format);
  }
  meter_free(&m);
  free(fb);
  free(ib);
  mixstage__close_read(&f);
  return st;
}

/* ---- atomic replacement ---------------------------------------------------- */

typedef struct atomic_file {
  char *tmp;  /* temporary path, NULL once renamed or removed */
  char *dir;  /* directory, for the fsync that makes the rename durable */
  int fd;
} atomic_file;

static atomic_uint_fast64_t temp_counter;

static uint64_t splitmix64(uint64_t *s) {
  uint64_t z = (*s += UINT64_C(0x9e3779b97f4a7c15));
  z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
  z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
  return z ^ (z >> 31);
}

/* Creates ".NAME.XXXXXXXX.tmp" next to path with O_EXCL, so the mode is
 * 0666 less the umask exactly as for a plain create (mkstemp would force
 * 0600); an existing target's mode is carried over. */
static int atomic_begin(atomic_file *a, const char *path, char *err, size_t errlen) {
  memset(a, 0, sizeof *a);
  a->fd = -1;
  struct stat sb;
  int have_target = lstat(path, &sb) == 0;
  if (have_target && S_ISDIR(sb.st_mode))
    return fail(MIXSTAGE_EIO, err, errlen, path, "is a directory");
  /* The rename replaces a symbolic link itself: the new file gets the
   * usual mode, never the link's 0777 nor its target's. */
  if (have_target && S_ISLNK(sb.st_mode)) have_target = 0;
  const char *slash = strrchr(path, '/');
  const char *base = slash ? slash + 1 : path;
  if (!*base) return fail(MIXSTAGE_EINVAL, err, errlen, path, "no file name");
  size_t dirlen = slash ? (size_t)(slash - path) : 0;
  a->dir = malloc(dirlen + 2);
  a->tmp = malloc(strlen(path) + 32);
  if (!a->dir || !a->tmp) {
    free(a->dir);
    free(a->tmp);
    a->dir = a->tmp = NULL;
    return fail(MIXSTAGE_ENOMEM, err, errlen, path, "out of memory");
  }
  if (slash) {
    memcpy(a->dir, path, dirlen ? dirlen : 1); /* "/name": the root */
    a->dir[dirlen ? dirlen : 1] = '\0';
  } else {
    strcpy(a->dir, ".");
  }
  uint64_t seed = atomic_fetch_add(&temp_counter, 1) ^ ((uint64_t)getpid() << 32) ^
                  (uint64_t)time(NULL) ^ (uint64_t)(uintptr_t)a;
  int e = EEXIST;
  for (int tries = 0; tries < 100 && a->fd < 0 && e == EEXIST; tries++) {
    sprintf(a->tmp, "%.*s.%s.%08x.tmp", (int)(base - path), path, base,
            (unsigned)(splitmix64(&seed) & 0xffffffffu));
    a->fd = open(a->tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
    e = errno;
  }
  if (a->fd < 0) {
    free(a->tmp);
    a->tmp = NULL;
    int st = fail(MIXSTAGE_EIO, err, errlen, path, "cannot create a file in '%s': %s", a->dir,
                  strerror(e));
    free(a->dir);
    a->dir = NULL;
    return st;
  }
  if (have_target) (void)fchmod(a->fd, sb.st_mode & 07777);
  return MIXSTAGE_OK;
}

static void atomic_abort(atomic_file *a) {
  if (a->fd >= 0) close(a->fd);
  if (a->tmp) unlink(a->tmp);
  free(a->tmp);
  free(a->dir);
  a->fd = -1;
  a->tmp = a->dir = NULL;
}

static int atomic_commit(atomic_file *a, const char *path, char *err, size_t errlen) {
  int st = MIXSTAGE_OK;
  /* fsync before rename: otherwise a crash may leave the new name pointing
   * at an empty file.  Delayed-allocation file systems report ENOSPC here. */
  if (fsync(a->fd) != 0) {
    st = fail(MIXSTAGE_EIO, err, errlen, path, "write error: %s", strerror(errno));
  } else {
    int fd = a->fd;
    a->fd = -1;
    if (close(fd) != 0) st = fail(MIXSTAGE_EIO, err, errlen, path, "write error: %s", strerror(errno));
    else if (rename(a->tmp, path) != 0)
      st = fail(MIXSTAGE_EIO, err, errlen, path, "cannot rename into place: %s", strerror(errno));
  }
  if (st < 0) {
    atomic_abort(a);
    return st;
  }
  int dfd = open(a->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) { /* best effort: some file systems refuse fsync on a directory */
    (void)fsync(dfd);
    close(dfd);
  }
  free(a->tmp);
  free(a->dir);
  a->tmp = a->dir = NULL;
  return MIXSTAGE_OK;
}

/* ---- writing audio ------------------------------------------------------- */

MIXSTAGE_EXPORT void mixstage_write_config_init(mixstage_write_config *cfg) {
  if (!cfg) return;
  memset(cfg, 0, sizeof *cfg);
  cfg->format = MIXSTAGE_FORMAT_WAV;
  cfg->sample_type = MIXSTAGE_SAMPLE_PCM24;
  cfg->dither = 1;
  cfg->dither_seed = IO_DEFAULT_SEED;
  cfg->output_rate = 0.0;
}

/* The dither's generator: xorshift64* (Vigna, "An experimental exploration
 * of Marsaglia's xorshift generators", 2016), fast, and its top 32 bits pass
 * BigCrush (rng_next32 below). */
typedef struct rng {
  uint64_t s;
} rng;


static int sf_format_for(const mixstage_write_config *c, int channels, int64_t frames) {
  int sub = c->sample_type == MIXSTAGE_SAMPLE_PCM16   ? SF_FORMAT_PCM_16
            : c->sample_type == MIXSTAGE_SAMPLE_PCM24 ? SF_FORMAT_PCM_24
                                                      : SF_FORMAT_FLOAT;
  int bytes = c->sample_type == MIXSTAGE_SAMPLE_PCM16 ? 2 : c->sample_type == MIXSTAGE_SAMPLE_PCM24 ? 3 : 4;
  switch (c->format) {
  case MIXSTAGE_FORMAT_WAV:
    /* RIFF sizes are 32-bit: beyond that, RF64 (EBU Tech 3306).  Above two
     * channels, WAVE_FORMAT_EXTENSIBLE carries the speaker mask. */
    if ((double)frames * channels * bytes > 4294967295.0 - 4096.0) return SF_FORMAT_RF64 | sub;
    return (channels > 2 ? SF_FORMAT_WAVEX : SF_FORMAT_WAV) | sub;
  case MIXSTAGE_FORMAT_AIFF: return SF_FORMAT_AIFF | sub;
  default: return SF_FORMAT_FLAC | sub;
  }
}

/* ---- a file written as it is produced (io_writer.h) ----------------------- */

struct mixstage__writer {
  char *path;
  atomic_file af;
  SNDFILE *sf;
  meter m;
  int metering;
  int channels, type, is_int, dither, bytes, format;
  int32_t shift;
  double scale, qmax, qmin;
  rng r;
  uint64_t h;
  int64_t clipped;
  int32_t *ib;
  float *fb;
};

void mixstage__writer_abort(mixstage__writer *w) {
  if (!w) return;
  if (w->sf) sf_close(w->sf);
  if (w->af.tmp) atomic_abort(&w->af);
  if (w->metering) meter_free(&w->m);
  free(w->ib);
  free(w->fb);
  free(w->path);
  free(w);
}

int mixstage__writer_open(mixstage__writer **out, const char *path, int channels, double rate,
                          int64_t frames_hint, const mixstage_write_config *cfg, char *err, size_t errlen) {
  *out = NULL;
  SF_INFO info;
  memset(&info, 0, sizeof info);
  info.samplerate = (int)rate;
  info.channels = channels;
  info.format = sf_format_for(cfg, channels, frames_hint);
  if (!sf_format_check(&info))
    return fail(MIXSTAGE_EFORMAT, err, errlen, path, "%s cannot hold %s at %d channels, %g Hz",
                format_names[cfg->format], sample_type_names[cfg->sample_type], channels, rate);
  mixstage__writer *w = calloc(1, sizeof *w);
  if (!w) return fail(MIXSTAGE_ENOMEM, err, errlen, path, "out of memory");
  w->af.fd = -1;
  w->path = malloc(strlen(path) + 1);
  w->ib = malloc(sizeof(int32_t) * IO_CHUNK * (size_t)channels);
  w->fb = malloc(sizeof(float) * IO_CHUNK * (size_t)channels);
  if (!w->path || !w->ib || !w->fb || meter_init(&w->m, channels, rate) < 0) {
    mixstage__writer_abort(w);
    return fail(MIXSTAGE_ENOMEM, err, errlen, path, "out of memory");
  }
  strcpy(w->path, path);
  w->metering = 1;
  int st = atomic_begin(&w->af, path, err, errlen);
  if (st != MIXSTAGE_OK) {
    mixstage__writer_abort(w);
    return st;
  }
  w->sf = sf_open_fd(w->af.fd, SFM_WRITE, &info, 0);
  if (!w->sf) {
    st = fail(MIXSTAGE_EIO, err, errlen, path, "cannot write: %s", sf_strerror(NULL));
    mixstage__writer_abort(w);
    return st;
  }
  /* A hint above 4 GiB chose RF64; a shorter file is then written as WAV. */
  if ((info.format & SF_FORMAT_TYPEMASK) == SF_FORMAT_RF64)
    sf_command(w->sf, SFC_RF64_AUTO_DOWNGRADE, NULL, SF_TRUE);
  w->channels = channels;
  w->format = cfg->format;
  w->type = cfg->sample_type;
  w->is_int = w->type != MIXSTAGE_SAMPLE_FLOAT32;
  w->scale = w->type == MIXSTAGE_SAMPLE_PCM16 ? 32768.0 : 8388608.0;
  w->qmax = w->scale - 1.0;
  w->qmin = -w->scale;
  w->shift = w->type == MIXSTAGE_SAMPLE_PCM16 ? 65536 : 256;
  w->bytes = w->type == MIXSTAGE_SAMPLE_PCM16 ? 2 : 3;
  w->dither = cfg->dither && w->is_int;
  uint64_t seed = cfg->dither_seed;
  w->r.s = splitmix64(&seed) | 1; /* xorshift must not start at zero */
  w->h = FNV_OFFSET;
  *out = w;
  return MIXSTAGE_OK;
}

/* floor(t) of t clamped to [lo, hi], two integers of int32_t's range: the
 * clamp first, so that the truncation below is exact and the result is
 * floor(t) clamped to [lo, hi] (floor is monotonic); t is never NaN. */
static inline double floor_within(double t, double lo, double hi) {
#ifdef __SSE2__
  /* In vector registers, where the compiler keeps it free of branches (a
   * branch on the signal's sign mispredicts half the time). */
  __m128d c = _mm_min_sd(_mm_max_sd(_mm_set_sd(t), _mm_set_sd(lo)), _mm_set_sd(hi));
  __m128d f = _mm_cvtepi32_pd(_mm_cvttpd_epi32(c));
  return _mm_cvtsd_f64(_mm_sub_sd(f, _mm_and_pd(_mm_cmpgt_sd(f, c), _mm_set_sd(1.0))));
#else
  double c = t < lo ? lo : t > hi ? hi : t;
  double f = (double)(int32_t)c;
  return f > c ? f - 1.0 : f;
#endif
}

static inline uint32_t rng_next32(uint64_t *s) {
  uint64_t x = *s;
  x ^= x >> 12;
  x ^= x << 25;
  x ^= x >> 27;
  *s = x;
  return (uint32_t)((x * UINT64_C(0x2545f4914f6cdd1d)) >> 32);
}

/* One chunk of an integer file: quantised (dithered as configured), hashed
 * as stored, and the stored values' sample peak and sum of squares taken
 * on the way (meter_add's, in its order).  The specialisations by sample
 * width and dither are the loop of mixstage_audio_write() as it always was,
 * sample for sample: the same doubles, the same generator sequence (two
 * draws per sample; their sum is exact, so the draw order cannot matter),
 * the same bytes hashed. */
static inline __attribute__((always_inline)) void quantize_int(mixstage__writer *w, const float *x, int64_t count, int32_t *ib, float *fb,
                                const int bytes, const int dither) {
  const double scale = w->scale, inv = 1.0 / scale, qmax = w->qmax, qmin = w->qmin;
  const int32_t shift = w->shift;
  uint64_t h = w->h, s = w->r.s;
  int64_t clipped = 0;
  double pk = w->m.peak, ss = w->m.sumsq;
  for (int64_t i = 0; i < count; i++) {
    double v = (double)x[i] * scale;
    if (v != v) v = 0.0;
    /* Clipping is counted on the signal, not on where dither lands. */
    double plain = floor_within(v + 0.5, qmin - 1.0, qmax + 1.0);
    clipped += plain > qmax || plain < qmin;
    /* TPDF: sum of two independent uniform [-0.5, 0.5) LSB values
     * (Lipshitz, Wannamaker & Vanderkooy, JAES 1992): the error's first two
     * moments become independent of the signal. */
    if (dither) {
      double u1 = (double)rng_next32(&s) * (1.0 / 4294967296.0);
      double u2 = (double)rng_next32(&s) * (1.0 / 4294967296.0);
      v += u1 + u2 - 1.0;
    }
    double q = floor_within(v + 0.5, qmin, qmax);
    int32_t qi = (int32_t)q;
    uint32_t u = (uint32_t)qi;
    h = (h ^ (u & 0xffu)) * FNV_PRIME;
    h = (h ^ ((u >> 8) & 0xffu)) * FNV_PRIME;
    if (bytes == 3) h = (h ^ ((u >> 16) & 0xffu)) * FNV_PRIME;
    ib[i] = qi * shift;
    float f = (float)(q * inv); /* scale is a power of two: q / scale exactly */
    fb[i] = f;
    double a = fabs((double)f);
    if (a > pk) pk = a;
    ss += (double)f * f;
  }
  w->h = h;
  w->r.s = s;
  w->clipped += clipped;
  w->m.peak = pk;
  w->m.sumsq = ss;
}

int mixstage__writer_write(mixstage__writer *w, const float *data, int64_t frames, char *err, size_t errlen) {
  const int channels = w->channels;
  int32_t *ib = w->ib;
  float *fb = w->fb;
  for (int64_t pos = 0; pos < frames; pos += IO_CHUNK) {
    int64_t n = frames - pos < IO_CHUNK ? frames - pos : IO_CHUNK;
    const float *x = data + pos * channels;
    sf_count_t put;
    int rc;
    if (w->is_int) {
      const int64_t count = n * channels;
      if (w->bytes == 3 && w->dither) quantize_int(w, x, count, ib, fb, 3, 1);
      else if (w->bytes == 3) quantize_int(w, x, count, ib, fb, 3, 0);
      else if (w->dither) quantize_int(w, x, count, ib, fb, 2, 1);
      else quantize_int(w, x, count, ib, fb, 2, 0);
      put = sf_writef_int(w->sf, ib, n);
      rc = put == n ? meter_add_stream(&w->m, fb, n) : MIXSTAGE_OK;
    } else {
      for (int64_t i = 0; i < n * channels; i++) {
        w->h = fnv_float(w->h, x[i]);
        w->clipped += fabsf(x[i]) > 1.0f;
      }
      memcpy(fb, x, sizeof(float) * (size_t)(n * channels));
      put = sf_writef_float(w->sf, fb, n);
      rc = put == n ? meter_add(&w->m, fb, n) : MIXSTAGE_OK;
    }
    if (put != n) return fail(MIXSTAGE_EIO, err, errlen, w->path, "write error: %s", sf_strerror(w->sf));
    if (rc < 0) return fail(MIXSTAGE_ENOMEM, err, errlen, w->path, "out of memory");
  }
  return MIXSTAGE_OK;
}

int mixstage__writer_finish(mixstage__writer *w, mixstage_file_stats *stats, char *err, size_t errlen) {
  /* sf_close rewrites the header (and flushes FLAC's encoder): its error
   * matters as much as any write's. */
  sf_write_sync(w->sf);
  int ce = sf_close(w->sf);
  w->sf = NULL;
  int st = MIXSTAGE_OK;
  if (ce != 0) st = fail(MIXSTAGE_EIO, err, errlen, w->path, "write error: %s", sf_error_number(ce));
  if (st == MIXSTAGE_OK) st = atomic_commit(&w->af, w->path, err, errlen);
  if (st == MIXSTAGE_OK && stats) {
    memset(stats, 0, sizeof *stats);
    meter_finish(&w->m, stats);
    stats->checksum = w->h;
    stats->clipped_samples = w->clipped;
    stats->format = w->format;
    stats->sample_type = w->type;
  }
  mixstage__writer_abort(w); /* after a commit: frees only */
  return st;
}

MIXSTAGE_EXPORT int mixstage_audio_write(const char *path, const float *data, int64_t frames,
                                         int channels, double rate,
                                         const mixstage_write_config *cfg,
                                         mixstage_file_stats *stats_out, char *err,
                                         size_t errlen) {
  clear_err(err, errlen);
  mixstage_write_config defaults;
  if (!cfg) {
    mixstage_write_config_init(&defaults);
    cfg = &defaults;
  }
  if (!path || (!data && frames > 0)) return MIXSTAGE_ENULL;
  if (frames < 0) return fail(MIXSTAGE_EINVAL, err, errlen, path, "negative frame count");
  if (channels < 1 || channels > IO_MAX_CHANNELS)
    return fail(MIXSTAGE_EINVAL, err, errlen, path, "invalid channel count %d", channels);
  if (!rate_ok(rate)) return fail(MIXSTAGE_EINVAL, err, errlen, path, "invalid rate %g Hz", rate);
  if (cfg->format < 0 || cfg->format > 2 || cfg->sample_type < 0 || cfg->sample_type > 2 ||
      (cfg->dither != 0 && cfg->dither != 1))
    return fail(MIXSTAGE_EINVAL, err, errlen, path, "invalid write configuration");
  double out_rate = cfg->output_rate > 0 ? cfg->output_rate : rate;
  if (cfg->output_rate != 0 && !rate_ok(cfg->output_rate))
    return fail(MIXSTAGE_EINVAL, err, errlen, path, "invalid output rate %g Hz", cfg->output_rate);
  if (out_rate != floor(out_rate))
    return fail(MIXSTAGE_EINVAL, err, errlen, path, "files need a whole-number rate, not %g Hz",
                out_rate);
  if (cfg->format == MIXSTAGE_FORMAT_FLAC && cfg->sample_type == MIXSTAGE_SAMPLE_FLOAT32)
    return fail(MIXSTAGE_EFORMAT, err, errlen, path, "FLAC cannot store 32-bit float samples");
  if (cfg->format == MIXSTAGE_FORMAT_FLAC && channels > 8)
    return fail(MIXSTAGE_EFORMAT, err, errlen, path, "FLAC holds at most 8 channels, not %d",
                channels);

  float *conv = NULL;
  if (out_rate != rate) {
    const char *why;
    int st = resample(data, frames, channels, out_rate / rate, &conv, &frames, &why);
    if (st < 0)
      return fail(st, err, errlen, path, "sample-rate conversion failed: %s",
                  why ? why : mixstage_strerror(st));
    data = conv;
  }
  mixstage__writer *w;
  int st = mixstage__writer_open(&w, path, channels, out_rate, frames, cfg, err, errlen);
  if (st == MIXSTAGE_OK) {
    st = mixstage__writer_write(w, data, frames, err, errlen);
    if (st == MIXSTAGE_OK) st = mixstage__writer_finish(w, stats_out, err, errlen);
    else mixstage__writer_abort(w);
  }
  free(conv);
  return st;
}

/* ---- manifest ------------------------------------------------------------- */

struct mixstage_manifest {
  json_t *info;  /* caller's top-level keys, in insertion order */
  json_t *files; /* array of entry objects */
};

MIXSTAGE_EXPORT mixstage_manifest *mixstage_manifest_create(int *error) {
  mixstage_manifest *m = calloc(1, sizeof *m);
  if (m) {
    m->info = json_object();
    m->files = json_array();
  }
  if (!m || !m->info || !m->files) {
    mixstage_manifest_destroy(m);
    if (error) *error = MIXSTAGE_ENOMEM;
    return NULL;
  }
  if (error) *error = MIXSTAGE_OK;
  return m;
}

MIXSTAGE_EXPORT void mixstage_manifest_destroy(mixstage_manifest *m) {
  if (!m) return;
  json_decref(m->info);
  json_decref(m->files);
  free(m);
}

MIXSTAGE_EXPORT int mixstage_manifest_file_count(const mixstage_manifest *m) {
  return m ? (int)json_array_size(m->files) : 0;
}

/* Steals @p v (jansson's _new convention), also on failure. */
static int put(json_t *obj, const char *key, json_t *v) {
  if (!v) return MIXSTAGE_ENOMEM;
  return json_object_set_new(obj, key, v) == 0 ? MIXSTAGE_OK : MIXSTAGE_ENOMEM;
}

/* JSON has no infinities: silence's -inf levels become null. */
static json_t *jnum(double v) { return isfinite(v) ? json_real(v) : json_null(); }

static int top_key_ok(const char *key) {
  return key[0] && strcmp(key, "manifest_version") != 0 && strcmp(key, "generator") != 0 &&
         strcmp(key, "files") != 0;
}

static int set_top(mixstage_manifest *m, const char *key, json_t *v) {
  if (!m || !key) {
    json_decref(v);
    return MIXSTAGE_ENULL;
  }
  if (!top_key_ok(key)) {
    json_decref(v);
    return MIXSTAGE_EINVAL;
  }
  return put(m->info, key, v);
}

MIXSTAGE_EXPORT int mixstage_manifest_set_string(mixstage_manifest *m, const char *key,
                                                 const char *value) {
  if (!value) return MIXSTAGE_ENULL;
  json_t *v = json_string(value);
  if (!v) return MIXSTAGE_EINVAL; /* not UTF-8 */
  return set_top(m, key, v);
}

MIXSTAGE_EXPORT int mixstage_manifest_set_number(mixstage_manifest *m, const char *key,
                                                 double value) {
  if (!isfinite(value)) return m && key ? MIXSTAGE_EINVAL : MIXSTAGE_ENULL;
  return set_top(m, key, json_real(value));
}

MIXSTAGE_EXPORT int mixstage_manifest_set_integer(mixstage_manifest *m, const char *key,
                                                  int64_t value) {
  return set_top(m, key, json_integer((json_int_t)value));
}

MIXSTAGE_EXPORT int mixstage_manifest_set_json(mixstage_manifest *m, const char *key,
                                               const char *json) {
  if (!json) return MIXSTAGE_ENULL;
  json_t *v = json_loads(json, JSON_DECODE_ANY, NULL);
  if (!v) return m && key ? MIXSTAGE_EFORMAT : MIXSTAGE_ENULL;
  return set_top(m, key, v);
}

static int utf8_ok(const char *s) {
  json_t *t = json_string(s);
  json_decref(t);
  return t != NULL;
}

static json_t *role_array(const char *const *roles, int *st) {
  json_t *a = json_array();
  if (!a) {
    *st = MIXSTAGE_ENOMEM;
    return NULL;
  }
  for (size_t i = 0; roles && roles[i]; i++) {
    if (mixstage_role_from_name(roles[i]) < 0) {
      *st = MIXSTAGE_ENOTFOUND;
      json_decref(a);
      return NULL;
    }
    if (json_array_append_new(a, json_string(roles[i])) != 0) {
      *st = MIXSTAGE_ENOMEM;
      json_decref(a);
      return NULL;
    }
  }
  return a;
}

MIXSTAGE_EXPORT int mixstage_manifest_add_file(mixstage_manifest *m, const char *path,
                                               const char *kind, const char *profile,
                                               const mixstage_file_stats *s,
                                               const char *const *roles_on,
                                               const char *const *roles_bypassed,
                                               const char *const *roles_muted,
                                               int64_t latency_removed_frames) {
  if (!m || !path || !kind || !profile || !s) return MIXSTAGE_ENULL;
  static const char *const kinds[] = {"stem", "mix", "reference", "fx-return"};
  int kind_ok = 0;
  for (int i = 0; i < 4; i++) kind_ok |= strcmp(kind, kinds[i]) == 0;
  if (!kind_ok || !path[0] || !profile[0] || latency_removed_frames < 0 ||
      json_array_size(m->files) >= INT_MAX)
    return MIXSTAGE_EINVAL;

  if (!utf8_ok(path) || !utf8_ok(kind) || !utf8_ok(profile)) return MIXSTAGE_EINVAL;

  int st = MIXSTAGE_OK;
  json_t *on = role_array(roles_on, &st);
  json_t *byp = on ? role_array(roles_bypassed, &st) : NULL;
  json_t *mut = byp ? role_array(roles_muted, &st) : NULL;
  if (!mut) {
    json_decref(on);
    json_decref(byp);
    return st < 0 ? st : MIXSTAGE_ENOMEM;
  }
  json_t *roles = json_object();
  if (!roles) st = MIXSTAGE_ENOMEM;
  /* The _new setters take the reference even when they fail. */
  if (st == 0) st = put(roles, "on", on);
  else json_decref(on);
  if (st == 0) st = put(roles, "bypass", byp);
  else json_decref(byp);
  if (st == 0) st = put(roles, "mute", mut);
  else json_decref(mut);

  json_t *e = st == 0 ? json_object() : NULL;
  char hex[32];
  snprintf(hex, sizeof hex, "fnv1a64:%016llx", (unsigned long long)s->checksum);
  const char *fmt = mixstage_file_format_name(s->format);
  const char *typ = mixstage_sample_type_name(s->sample_type);
  double sr = s->sample_rate;
  if (!e) st = MIXSTAGE_ENOMEM;
  /* Field order is the documented layout. */
  if (st == 0) st = put(e, "path", json_string(path));
  if (st == 0) st = put(e, "kind", json_string(kind));
  if (st == 0) st = put(e, "profile", json_string(profile));
  if (st == 0) st = put(e, "format", fmt ? json_string(fmt) : json_null());
  if (st == 0) st = put(e, "sample_type", typ ? json_string(typ) : json_null());
  if (st == 0)
    st = put(e, "sample_rate",
             sr == floor(sr) && sr < 1e15 ? json_integer((json_int_t)sr) : jnum(sr));
  if (st == 0) st = put(e, "channels", json_integer(s->channels));
  if (st == 0) st = put(e, "frames", json_integer((json_int_t)s->frames));
  if (st == 0) st = put(e, "seconds", jnum(s->seconds));
  if (st == 0)
    st = put(e, "latency_removed_frames", json_integer((json_int_t)latency_removed_frames));
  if (st == 0) {
    st = put(e, "roles", roles);
    roles = NULL;
  }
  if (st == 0) st = put(e, "peak_dbfs", jnum(s->peak_dbfs));
  if (st == 0) st = put(e, "true_peak_dbtp", jnum(s->true_peak_dbtp));
  if (st == 0) st = put(e, "integrated_lufs", jnum(s->integrated_lufs));
  if (st == 0) st = put(e, "loudness_range_lu", jnum(s->loudness_range_lu));
  if (st == 0) st = put(e, "momentary_max_lufs", jnum(s->momentary_max_lufs));
  if (st == 0) st = put(e, "short_term_max_lufs", jnum(s->short_term_max_lufs));
  if (st == 0) st = put(e, "rms_dbfs", jnum(s->rms_dbfs));
  if (st == 0) st = put(e, "clipped_samples", json_integer((json_int_t)s->clipped_samples));
  if (st == 0) st = put(e, "checksum", json_string(hex));
  json_decref(roles);
  if (st == 0) {
    st = json_array_append_new(m->files, e) == 0 ? 0 : MIXSTAGE_ENOMEM;
  } else {
    json_decref(e);
  }
  if (st < 0) return st;
  return (int)json_array_size(m->files) - 1;
}

static int set_file(mixstage_manifest *m, int index, const char *key, json_t *v) {
  if (!m || !key) {
    json_decref(v);
    return MIXSTAGE_ENULL;
  }
  if (index < 0 || (size_t)index >= json_array_size(m->files)) {
    json_decref(v);
    return MIXSTAGE_ERANGE;
  }
  if (!key[0] || strcmp(key, "path") == 0) {
    json_decref(v);
    return MIXSTAGE_EINVAL;
  }
  return put(json_array_get(m->files, (size_t)index), key, v);
}

MIXSTAGE_EXPORT int mixstage_manifest_file_set_string(mixstage_manifest *m, int index,
                                                      const char *key, const char *value) {
  if (!value) return MIXSTAGE_ENULL;
  json_t *v = json_string(value);
  if (!v) return MIXSTAGE_EINVAL;
  return set_file(m, index, key, v);
}

MIXSTAGE_EXPORT int mixstage_manifest_file_set_number(mixstage_manifest *m, int index,
                                                      const char *key, double value) {
  if (!isfinite(value)) return m && key ? MIXSTAGE_EINVAL : MIXSTAGE_ENULL;
  return set_file(m, index, key, json_real(value));
}

MIXSTAGE_EXPORT int mixstage_manifest_file_set_integer(mixstage_manifest *m, int index,
                                                       const char *key, int64_t value) {
  return set_file(m, index, key, json_integer((json_int_t)value));
}

MIXSTAGE_EXPORT int mixstage_manifest_file_set_json(mixstage_manifest *m, int index,
                                                    const char *key, const char *json) {
  if (!json) return MIXSTAGE_ENULL;
  json_t *v = json_loads(json, JSON_DECODE_ANY, NULL);
  if (!v) return m && key ? MIXSTAGE_EFORMAT : MIXSTAGE_ENULL;
  return set_file(m, index, key, v);
}

/* 2: the roles of a file under "on", "bypass" and "mute", the profile's
 * actions' words (version 1 wrote "bypassed" and "muted"). */
#define MANIFEST_VERSION 2

MIXSTAGE_EXPORT char *mixstage_manifest_to_string(const mixstage_manifest *m) {
  if (!m) return NULL;
  json_t *root = json_object();
  int st = root ? MIXSTAGE_OK : MIXSTAGE_ENOMEM;
  if (st == 0) st = put(root, "manifest_version", json_integer(MANIFEST_VERSION));
  if (st == 0) st = put(root, "generator", json_string("libmixstage " PACKAGE_VERSION));
  if (st == 0) st = json_object_update(root, m->info) == 0 ? 0 : MIXSTAGE_ENOMEM;
  if (st == 0) st = json_object_set(root, "files", m->files) == 0 ? 0 : MIXSTAGE_ENOMEM;
  /* 12 significant digits: far below any audible or metering difference,
   * and stable against last-bit differences between builds. */
  char *text = st == 0 ? json_dumps(root, JSON_INDENT(2) | JSON_REAL_PRECISION(12)) : NULL;
  json_decref(root);
  if (!text) return NULL;
  /* Copy into plain malloc so mixstage_free() is right even if someone
   * installed custom jansson allocators. */
  size_t n = strlen(text);
  char *out = malloc(n + 2);
  if (out) {
    memcpy(out, text, n);
    out[n] = '\n';
    out[n + 1] = '\0';
  }
  void (*jfree)(void *);
  json_malloc_t jmalloc;
  json_get_alloc_funcs(&jmalloc, &jfree);
  jfree(text);
  return out;
}

MIXSTAGE_EXPORT int mixstage_manifest_write(const mixstage_manifest *m, const char *path,
                                            char *err, size_t errlen) {
  clear_err(err, errlen);
  if (!m || !path) return MIXSTAGE_ENULL;
  char *text = mixstage_manifest_to_string(m);
  if (!text) return fail(MIXSTAGE_ENOMEM, err, errlen, path, "out of memory");
  atomic_file af;
  int st = atomic_begin(&af, path, err, errlen);
  if (st == MIXSTAGE_OK) {
    size_t n = strlen(text), off = 0;
    while (off < n) {
      ssize_t w = write(af.fd, text + off, n - off);
      if (w < 0 && errno == EINTR) continue;
      if (w <= 0) {
        st = fail(MIXSTAGE_EIO, err, errlen, path, "write error: %s",
                  w < 0 ? strerror(errno) : "no progress");
        break;
      }
      off += (size_t)w;
    }
    if (st == MIXSTAGE_OK) st = atomic_commit(&af, path, err, errlen);
    else atomic_abort(&af);
  }
  free(text);
  return st;
}
