/* Check suite for streamed file sources (lib/source_file.c).
 *
 * The reference is the whole-file path (MIXSTAGE_SOURCE_PRELOAD), which
 * decodes and converts the file in one go exactly as set_source_file did
 * before streaming: a streamed file must play the same samples.  Files are
 * written into a fresh directory under the build directory. */
#define _GNU_SOURCE /* mkdtemp, usleep */
#include <check.h>
#include <dirent.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "mixstage.h"
#include "testutil.h"

static char dir[64];

static void setup(void) {
  strcpy(dir, "srcfile-test.XXXXXX");
  ck_assert_ptr_nonnull(mkdtemp(dir));
}

static void teardown(void) {
  DIR *d = opendir(dir);
  if (!d) return;
  struct dirent *e;
  char p[512];
  while ((e = readdir(d)) != NULL) {
    if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
    snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
    unlink(p);
  }
  closedir(d);
  rmdir(dir);
}

static void path_in(char *out, size_t n, const char *name) { snprintf(out, n, "%s/%s", dir, name); }

/* A test signal that changes every sample and is never silent for long:
 * two inharmonic tones and noise, a different mix per channel. */
static float *make_signal(int64_t frames, int ch, double rate) {
  float *x = malloc(sizeof(float) * (size_t)(frames * ch));
  float *t = malloc(sizeof(float) * (size_t)frames);
  float *nz = malloc(sizeof(float) * (size_t)frames);
  ck_assert(x && t && nz);
  tu_noise(nz, frames, 0.05, 1234);
  for (int c = 0; c < ch; c++) {
    tu_sine(t, frames, 441.0 + 97.0 * c, rate, 0.4, 0.3 * c);
    for (int64_t i = 0; i < frames; i++)
      x[i * ch + c] = t[i] + nz[i] * (c ? -1.0f : 1.0f) + 0.2f * (float)sin(2 * TU_PI * 3001.0 * (double)i / rate);
  }
  free(t);
  free(nz);
  return x;
}

static void write_file(const char *path, int64_t frames, int ch, double rate, int format, int type) {
  float *x = make_signal(frames, ch, rate);
  mixstage_write_config wc;
  mixstage_write_config_init(&wc);
  wc.format = format;
  wc.sample_type = type;
  wc.dither = 0;
  char err[256];
  ck_assert_msg(mixstage_audio_write(path, x, frames, ch, rate, &wc, NULL, err, sizeof err) == MIXSTAGE_OK, "%s", err);
  free(x);
}

/* One strip playing the file, straight to the stereo mix bus. */
static mixstage_graph *file_graph(const char *path, int mode, int strip_ch, mixstage_strip **out) {
  int err;
  mixstage_graph *g = mixstage_graph_create(NULL, &err);
  ck_assert_ptr_nonnull(g);
  mixstage_strip *s = mixstage_graph_add_strip(g, "Track", strip_ch, &err);
  ck_assert_ptr_nonnull(s);
  ck_assert_msg(mixstage_strip_set_source_file_mode(s, path, mode) == MIXSTAGE_OK, "%s", mixstage_graph_last_error(g));
  if (out) *out = s;
  return g;
}

static float *render(mixstage_graph *g, int threads, int64_t *frames) {
  mixstage_render_config rc;
  mixstage_render_config_init(&rc);
  rc.threads = threads;
  rc.max_tail_frames = 0;
  int64_t n = mixstage_graph_render_frames(g, &rc);
  ck_assert_int_gt(n, 0);
  float *out = malloc(sizeof(float) * (size_t)n * 2);
  ck_assert_ptr_nonnull(out);
  int st = mixstage_graph_render(g, &rc, out, n);
  ck_assert_msg(st == MIXSTAGE_OK, "%s: %s", mixstage_strerror(st), mixstage_graph_last_error(g));
  *frames = n;
  return out;
}

/* ---- same samples as the whole-file path ------------------------------------- */

static const struct {
  const char *name;
  int format, type, ch;
  double rate;
} cases[] = {
    {"pcm16.wav", MIXSTAGE_FORMAT_WAV, MIXSTAGE_SAMPLE_PCM16, 2, 48000.0},
    {"pcm24.flac", MIXSTAGE_FORMAT_FLAC, MIXSTAGE_SAMPLE_PCM24, 1, 48000.0},
    {"float.wav", MIXSTAGE_FORMAT_WAV, MIXSTAGE_SAMPLE_FLOAT32, 2, 48000.0},
    {"pcm24-44k1.wav", MIXSTAGE_FORMAT_WAV, MIXSTAGE_SAMPLE_PCM24, 2, 44100.0},
    {"pcm16-44k1.flac", MIXSTAGE_FORMAT_FLAC, MIXSTAGE_SAMPLE_PCM16, 1, 44100.0},
    {"pcm24-96k.wav", MIXSTAGE_FORMAT_WAV, MIXSTAGE_SAMPLE_PCM24, 2, 96000.0},
};

/* Rendered from the start, streamed equals preloaded bit for bit, same rate
 * or converted (the converter is fed the same calls), for one and for three
 * threads; and the length comes out the same. */
START_TEST(test_bit_identical_to_whole_file) {
  char path[256];
  path_in(path, sizeof path, cases[_i].name);
  /* 200000 frames: several converter chunks and sync blocks, not a multiple of any */
  write_file(path, 200003, cases[_i].ch, cases[_i].rate, cases[_i].format, cases[_i].type);
  mixstage_strip *ss, *sp;
  mixstage_graph *gs = file_graph(path, MIXSTAGE_SOURCE_STREAM, 2, &ss);
  mixstage_graph *gp = file_graph(path, MIXSTAGE_SOURCE_PRELOAD, 2, &sp);
  ck_assert_int_eq(mixstage_strip_source_frames(ss), mixstage_strip_source_frames(sp));
  ck_assert_str_eq(mixstage_strip_source_path(ss), path);
  int64_t ns, np, nt;
  float *ref = render(gp, 1, &np);
  float *a = render(gs, 1, &ns);
  float *b = render(gs, 3, &nt);
  ck_assert_int_eq(ns, np);
  ck_assert_int_eq(nt, np);
  ck_assert_msg(memcmp(a, ref, sizeof(float) * (size_t)np * 2) == 0, "%s: streamed render differs", cases[_i].name);
  ck_assert_msg(memcmp(b, ref, sizeof(float) * (size_t)np * 2) == 0, "%s: 3-thread render differs", cases[_i].name);
  /* a test that cannot fail is no test: the render holds the signal */
  ck_assert_double_gt(tu_peak(ref, np * 2), 0.1);
  free(a);
  free(b);
  free(ref);
  mixstage_graph_destroy(gs);
  mixstage_graph_destroy(gp);
}
END_TEST

/* The 44.1 -> 48 kHz conversion of the stream is the converter's output at
 * full quality: a 1 kHz tone comes out at 1 kHz with the level of the same
 * tone made at 48 kHz (within 0.01 dB), and with no spur above that tone's
 * (the analysis window's side lobes, -92 dB, are the floor). */
START_TEST(test_resampled_tone) {
  char path[256];
  path_in(path, sizeof path, "tone-44k1.wav");
  const int64_t n = 44100 * 2;
  float *x = malloc(sizeof(float) * (size_t)n);
  tu_sine(x, n, 1000.0, 44100.0, 0.5, 0.0);
  mixstage_write_config wc;
  mixstage_write_config_init(&wc);
  wc.sample_type = MIXSTAGE_SAMPLE_FLOAT32;
  char err[256];
  ck_assert(mixstage_audio_write(path, x, n, 1, 44100.0, &wc, NULL, err, sizeof err) == MIXSTAGE_OK);
  free(x);
  mixstage_strip *s;
  mixstage_graph *g = file_graph(path, MIXSTAGE_SOURCE_STREAM, 1, &s);
  ck_assert_int_eq(mixstage_strip_source_frames(s), 96000); /* round(88200 * 48000 / 44100) */
  int64_t frames;
  float *out = render(g, 1, &frames);
  ck_assert_int_eq(frames, 96000);
  /* The same tone made at 48 kHz and played from a buffer is the level to meet. */
  float *native = malloc(sizeof(float) * 96000);
  tu_sine(native, 96000, 1000.0, 48000.0, 0.5, 0.0);
  int e;
  mixstage_graph *gn = mixstage_graph_create(NULL, &e);
  mixstage_strip *sn = mixstage_graph_add_strip(gn, "Native", 1, &e);
  ck_assert_int_eq(mixstage_strip_set_source_buffer(sn, native, 1, 96000, 1), MIXSTAGE_OK);
  int64_t nn;
  float *ref = render(gn, 1, &nn);
  /* left channel of the centre-panned mono strip, 1 s from the middle */
  const int N = 65536;
  float *l = malloc(sizeof(float) * N);
  double *mag = malloc(sizeof(double) * (N / 2 + 1));
  int k0 = (int)lround(1000.0 * N / 48000.0);
  double want = 0, floor_ = 0; /* the native tone's level, and its highest spur (the window's) */
  for (int i = 0; i < N; i++) l[i] = ref[(size_t)(16000 + i) * 2];
  ck_assert_int_eq(tu_spectrum(l, N, mag), 0);
  for (int k = 1; k <= N / 2; k++) {
    if (abs(k - k0) <= TU_BH_HALF_WIDTH + 2) {
      if (mag[k] > want) want = mag[k];
    } else if (mag[k] > floor_) {
      floor_ = mag[k];
    }
  }
  for (int i = 0; i < N; i++) l[i] = out[(size_t)(16000 + i) * 2];
  ck_assert_int_eq(tu_spectrum(l, N, mag), 0);
  double peak = 0, spur = 0;
  for (int k = 1; k <= N / 2; k++) {
    if (abs(k - k0) <= TU_BH_HALF_WIDTH + 2) {
      if (mag[k] > peak) peak = mag[k];
    } else if (mag[k] > spur) {
      spur = mag[k];
    }
  }
  ck_assert_double_gt(want, 0.1);
  ck_assert_double_lt(fabs(tu_db(peak / want)), 0.01);
  /* Blackman-Harris side lobes (-92 dB) bound what the spectrum can see;
   * the converted tone shows nothing above the native one's. */
  ck_assert_double_lt(tu_db(spur / peak), tu_db(floor_ / want) + 1.0);
  ck_assert_double_lt(tu_db(spur / peak), -90.0);
  free(ref);
  free(native);
  mixstage_graph_destroy(gn);
  free(mag);
  free(l);
  free(out);
  mixstage_graph_destroy(g);
}
END_TEST

/* ---- real time: the reader thread and the ring --------------------------------------- */

/* Processes frames [from, from + n) in blocks of blk, after a locate; with
 * pace, one block per block duration (as a host's audio callback). */
static void play(mixstage_graph *g, int64_t from, float *out, int64_t n, int blk, int wait, int pace) {
  ck_assert_int_eq(mixstage_graph_locate(g, from), MIXSTAGE_OK);
  if (wait) ck_assert_msg(mixstage_graph_wait_sources(g, 5000) == MIXSTAGE_OK, "%s", mixstage_graph_last_error(g));
  struct timespec t0;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  for (int64_t done = 0; done < n; done += blk) {
    int k = n - done < blk ? (int)(n - done) : blk;
    ck_assert_int_eq(mixstage_graph_process(g, out + done * 2, k), MIXSTAGE_OK);
    if (pace) {
      /* sleep until the next block is due */
      double due = (double)(done + k) / 48000.0;
      struct timespec now;
      clock_gettime(CLOCK_MONOTONIC, &now);
      double el = (double)(now.tv_sec - t0.tv_sec) + (double)(now.tv_nsec - t0.tv_nsec) * 1e-9;
      if (due > el) usleep((useconds_t)((due - el) * 1e6));
    }
  }
}

/* At a host's pace, after priming: no underrun, and the same bits as the
 * offline render of the preloaded file (same rate: nothing to tolerate). */
START_TEST(test_realtime_no_underrun) {
  char path[256];
  path_in(path, sizeof path, "rt.wav");
  const int64_t len = 48000 * 4;
  write_file(path, len, 2, 48000.0, MIXSTAGE_FORMAT_WAV, MIXSTAGE_SAMPLE_PCM24);
  mixstage_strip *s;
  mixstage_graph *g = file_graph(path, MIXSTAGE_SOURCE_STREAM, 2, &s);
  mixstage_graph *gp = file_graph(path, MIXSTAGE_SOURCE_PRELOAD, 2, NULL);
  int64_t nr;
  float *ref = render(gp, 1, &nr);
  ck_assert_int_eq(mixstage_graph_prepare(g), MIXSTAGE_OK);
  const int64_t n = 48000 * 3 / 2; /* 1.5 s: longer than the ring */
  float *out = malloc(sizeof(float) * (size_t)n * 2);
  const int64_t from = 100000;
  play(g, from, out, n, 256, 1, 1);
  const char *msg = mixstage_strip_source_message(s);
  ck_assert_int_eq(mixstage_strip_source_error(s), MIXSTAGE_OK);
  ck_assert_msg(mixstage_strip_source_underruns(s) == 0, "%s", msg);
  ck_assert_int_eq(mixstage_graph_source_underruns(g), 0);
  ck_assert_str_eq(msg, "");
  ck_assert_msg(memcmp(out, ref + from * 2, sizeof(float) * (size_t)n * 2) == 0, "real-time output differs");
  free(out);
  free(ref);
  mixstage_graph_destroy(g);
  mixstage_graph_destroy(gp);
}
END_TEST

/* Without priming, a locate far away starves the audio thread: that is
 * counted, reported, and played as silence; every frame that is not silent
 * is the right frame (nothing stale from before the locate). */
START_TEST(test_realtime_underrun_is_silent) {
  char path[256];
  path_in(path, sizeof path, "rt2.wav");
  const int64_t len = 48000 * 6;
  write_file(path, len, 2, 48000.0, MIXSTAGE_FORMAT_WAV, MIXSTAGE_SAMPLE_PCM16);
  mixstage_strip *s;
  mixstage_graph *g = file_graph(path, MIXSTAGE_SOURCE_STREAM, 2, &s);
  mixstage_graph *gp = file_graph(path, MIXSTAGE_SOURCE_PRELOAD, 2, NULL);
  int64_t nr;
  float *ref = render(gp, 1, &nr);
  ck_assert_int_eq(mixstage_graph_prepare(g), MIXSTAGE_OK);
  const int64_t n = 24000;
  float *out = malloc(sizeof(float) * (size_t)n * 2);
  play(g, 0, out, n, 512, 1, 0); /* fills the ring with the start */
  ck_assert_int_eq(mixstage_strip_source_underruns(s), 0);
  const int64_t from = 48000 * 4 + 77;
  play(g, from, out, n, 512, 0, 1); /* at a host's pace: the reader catches up */
  int64_t under = mixstage_strip_source_underruns(s);
  ck_assert_int_ge(under, 1);
  ck_assert_int_eq(mixstage_graph_source_underruns(g), under);
  const char *msg = mixstage_strip_source_message(s);
  ck_assert_int_eq(mixstage_strip_source_error(s), MIXSTAGE_OK);
  ck_assert_msg(strstr(msg, "strip 'Track'") && strstr(msg, path) && strstr(msg, "underrun"), "%s", msg);
  /* the first chunk after the locate (to the next control boundary) asks
   * for the data: it cannot have arrived */
  int first = 32 - (int)(from % 32);
  for (int i = 0; i < first * 2; i++) ck_assert(out[i] == 0.0f);
  int64_t silent = 0, good = 0;
  for (int64_t i = 0; i < n; i++) {
    const float *r = ref + (from + i) * 2, *o = out + i * 2;
    if (o[0] == 0.0f && o[1] == 0.0f) silent++;
    else {
      ck_assert_msg(o[0] == r[0] && o[1] == r[1], "frame %lld is not the file's frame %lld", (long long)i,
                    (long long)(from + i));
      good++;
    }
  }
  ck_assert_int_ge(silent, first);
  ck_assert_int_gt(good, 0); /* the reader caught up */
  free(out);
  free(ref);
  mixstage_graph_destroy(g);
  mixstage_graph_destroy(gp);
}
END_TEST

/* A converted file started mid-file (a locate): the converter restarts on a
 * pre-roll, at a frame where output and input frames coincide, and the
 * output up to the wanted frame is discarded.  Against the continuous
 * render the difference must stay below 1e-5 (-100 dBFS, a third of a
 * 16-bit LSB): the kept output is computed from the same input samples, and
 * only the converter's phase, accumulated in double precision along another
 * path, could differ.  Same rate: identical.  44.1, 96 and 22.05 kHz to
 * 48 kHz (up, down, up by more than 2). */
START_TEST(test_mid_file_start) {
  char path[256];
  static const double rates[] = {48000.0, 44100.0, 96000.0, 22050.0};
  double rate = rates[_i];
  char name[64];
  snprintf(name, sizeof name, "mid-%g.wav", rate);
  path_in(path, sizeof path, name);
  write_file(path, (int64_t)(rate * 5), 2, rate, MIXSTAGE_FORMAT_WAV, MIXSTAGE_SAMPLE_PCM24);
  mixstage_graph *g = file_graph(path, MIXSTAGE_SOURCE_STREAM, 2, NULL);
  mixstage_graph *gp = file_graph(path, MIXSTAGE_SOURCE_PRELOAD, 2, NULL);
  int64_t nr;
  float *ref = render(gp, 1, &nr);
  ck_assert_int_eq(mixstage_graph_prepare(g), MIXSTAGE_OK);
  const int64_t starts[] = {1, 777, 48000 * 2 + 13, 48000 * 4 - 5};
  const int64_t n = 9000;
  float *out = malloc(sizeof(float) * (size_t)n * 2);
  double worst = 0;
  for (int k = 0; k < 4; k++) {
    play(g, starts[k], out, n, 1000, 1, 0);
    for (int64_t i = 0; i < n * 2; i++) {
      double d = fabs((double)out[i] - ref[starts[k] * 2 + i]);
      if (d > worst) worst = d;
    }
  }
  if (rate != 48000.0) ck_assert_msg(worst < 1e-5, "worst difference %g", worst);
  else ck_assert_msg(worst == 0.0, "worst difference %g", worst);
  fprintf(stderr, "mid-file start at %g Hz: worst difference from continuous playback %.3g\n", rate, worst);
  free(out);
  free(ref);
  mixstage_graph_destroy(g);
  mixstage_graph_destroy(gp);
}
END_TEST

/* Freewheeling, process() reads on the calling thread: a converted file
 * played block by block as fast as it goes is the offline render, bit for
 * bit, with no underrun; back in real time, the ring takes over. */
START_TEST(test_freewheel) {
  char path[256];
  path_in(path, sizeof path, "fw-44k1.flac");
  write_file(path, 44100 * 3, 2, 44100.0, MIXSTAGE_FORMAT_FLAC, MIXSTAGE_SAMPLE_PCM24);
  mixstage_strip *s;
  mixstage_graph *g = file_graph(path, MIXSTAGE_SOURCE_STREAM, 2, &s);
  mixstage_graph *gp = file_graph(path, MIXSTAGE_SOURCE_PRELOAD, 2, NULL);
  int64_t nr;
  float *ref = render(gp, 1, &nr);
  ck_assert_int_eq(mixstage_graph_freewheel(g), 0);
  ck_assert_int_eq(mixstage_graph_set_freewheel(g, 1), MIXSTAGE_OK);
  ck_assert_int_eq(mixstage_graph_freewheel(g), 1);
  ck_assert_int_eq(mixstage_graph_prepare(g), MIXSTAGE_OK);
  float *out = malloc(sizeof(float) * (size_t)nr * 2);
  play(g, 0, out, nr, 333, 0, 0);
  ck_assert_int_eq(mixstage_strip_source_underruns(s), 0);
  ck_assert_msg(memcmp(out, ref, sizeof(float) * (size_t)nr * 2) == 0, "freewheeling output differs");
  /* an offline render in between leaves it freewheeling */
  int64_t n2;
  float *again = render(g, 2, &n2);
  ck_assert_int_eq(memcmp(again, ref, sizeof(float) * (size_t)nr * 2), 0);
  play(g, 1000, out, 4000, 500, 0, 0);
  ck_assert_int_eq(memcmp(out, ref + 2000, sizeof(float) * 4000 * 2), 0);
  ck_assert_int_eq(mixstage_strip_source_underruns(s), 0);
  ck_assert_int_eq(mixstage_graph_set_freewheel(g, 0), MIXSTAGE_OK);
  play(g, 1000, out, 4000, 500, 1, 0);
  ck_assert_int_eq(mixstage_strip_source_underruns(s), 0);
  ck_assert_int_eq(mixstage_graph_set_freewheel(NULL, 1), MIXSTAGE_ENULL);
  free(again);
  free(out);
  free(ref);
  mixstage_graph_destroy(g);
  mixstage_graph_destroy(gp);
}
END_TEST

/* ---- bad input ------------------------------------------------------------------------ */

typedef struct vandal {
  const char *path;
  int what; /* 0 delete, 1 truncate, 2 rewrite in place */
  int done;
} vandal;

static int vandalise(void *user, int64_t done, int64_t total) {
  vandal *v = user;
  if (!v->done && done > 0 && done < total / 2) {
    v->done = 1;
    if (v->what == 0) ck_assert_int_eq(unlink(v->path), 0);
    else if (v->what == 1) ck_assert_int_eq(truncate(v->path, 20000), 0);
    else {
      FILE *f = fopen(v->path, "r+b");
      ck_assert_ptr_nonnull(f);
      fseek(f, 300000, SEEK_SET);
      fputs("garbage", f);
      fclose(f);
      /* same size: only the modification time tells */
      struct timespec ts[2] = {{0, UTIME_OMIT}, {time(NULL) + 5, 0}};
      utimensat(AT_FDCWD, v->path, ts, 0);
    }
  }
  return 0;
}

/* A file deleted, truncated or rewritten during a render fails it, naming
 * the strip and the file, for one thread and for two, same rate or not. */
START_TEST(test_file_changes_during_render) {
  int what = _i % 3, threads = 1 + (_i / 3) % 2, resampled = _i / 6;
  char path[256];
  path_in(path, sizeof path, "victim.wav");
  write_file(path, 48000 * 20, 2, resampled ? 44100.0 : 48000.0, MIXSTAGE_FORMAT_WAV, MIXSTAGE_SAMPLE_PCM16);
  mixstage_graph *g = file_graph(path, MIXSTAGE_SOURCE_STREAM, 2, NULL);
  /* a second strip, so that two threads have two units to share */
  int err;
  mixstage_strip *other = mixstage_graph_add_strip(g, "Other", 1, &err);
  static float tone[4800];
  tu_sine(tone, 4800, 100.0, 48000.0, 0.1, 0.0);
  ck_assert_int_eq(mixstage_strip_set_source_buffer(other, tone, 1, 4800, 0), MIXSTAGE_OK);
  vandal v = {path, what, 0};
  mixstage_render_config rc;
  mixstage_render_config_init(&rc);
  rc.threads = threads;
  rc.progress = vandalise;
  rc.progress_user = &v;
  int64_t n = mixstage_graph_render_frames(g, &rc);
  float *out = malloc(sizeof(float) * (size_t)n * 2);
  int st = mixstage_graph_render(g, &rc, out, n);
  ck_assert(v.done);
  ck_assert_int_eq(st, MIXSTAGE_EIO);
  const char *msg = mixstage_graph_last_error(g);
  static const char *const words[] = {"deleted", "truncated", "modified"};
  ck_assert_msg(strstr(msg, "strip 'Track'") && strstr(msg, path) && strstr(msg, words[what]), "%s", msg);
  /* and it stays failed: the next render says so at once */
  ck_assert_int_eq(mixstage_graph_render(g, &rc, out, n), MIXSTAGE_EIO);
  free(out);
  mixstage_graph_destroy(g);
}
END_TEST

/* Changed between set_source_file and the render: refused before rendering. */
START_TEST(test_file_replaced_before_render) {
  char path[256];
  path_in(path, sizeof path, "swap.wav");
  write_file(path, 48000, 2, 48000.0, MIXSTAGE_FORMAT_WAV, MIXSTAGE_SAMPLE_PCM16);
  mixstage_graph *g = file_graph(path, MIXSTAGE_SOURCE_STREAM, 2, NULL);
  write_file(path, 48000, 2, 48000.0, MIXSTAGE_FORMAT_WAV, MIXSTAGE_SAMPLE_PCM24); /* atomic rename: a new file */
  mixstage_render_config rc;
  mixstage_render_config_init(&rc);
  float *out = malloc(sizeof(float) * 48000 * 2 * 2);
  ck_assert_int_eq(mixstage_graph_render(g, &rc, out, 48000 * 2), MIXSTAGE_EIO);
  ck_assert_msg(strstr(mixstage_graph_last_error(g), "replaced"), "%s", mixstage_graph_last_error(g));
  /* setting the source again takes the new file */
  mixstage_strip *s = mixstage_graph_find_strip(g, "Track");
  ck_assert_int_eq(mixstage_strip_set_source_file(s, path), MIXSTAGE_OK);
  ck_assert_int_eq(mixstage_graph_render(g, &rc, out, 48000 * 2), MIXSTAGE_OK);
  free(out);
  mixstage_graph_destroy(g);
}
END_TEST

/* In real time a failed file plays silence and says why. */
START_TEST(test_realtime_error_reported) {
  char path[256];
  path_in(path, sizeof path, "rtgone.wav");
  write_file(path, 48000 * 4, 2, 48000.0, MIXSTAGE_FORMAT_WAV, MIXSTAGE_SAMPLE_PCM16);
  mixstage_strip *s;
  mixstage_graph *g = file_graph(path, MIXSTAGE_SOURCE_STREAM, 2, &s);
  ck_assert_int_eq(mixstage_graph_prepare(g), MIXSTAGE_OK);
  ck_assert_int_eq(unlink(path), 0);
  ck_assert_int_eq(mixstage_graph_wait_sources(g, 2000), MIXSTAGE_EIO);
  ck_assert_msg(strstr(mixstage_graph_last_error(g), "strip 'Track'"), "%s", mixstage_graph_last_error(g));
  float out[512 * 2];
  ck_assert_int_eq(mixstage_graph_process(g, out, 512), MIXSTAGE_OK);
  for (int i = 0; i < 1024; i++) ck_assert(out[i] == 0.0f);
  ck_assert_int_eq(mixstage_strip_source_error(s), MIXSTAGE_EIO);
  const char *msg = mixstage_strip_source_message(s);
  ck_assert_msg(strstr(msg, "strip 'Track'") && strstr(msg, "deleted") && strstr(msg, path), "%s", msg);
  mixstage_graph_destroy(g);
}
END_TEST

START_TEST(test_refusals) {
  char path[256], fifo[256];
  path_in(path, sizeof path, "ok.wav");
  path_in(fifo, sizeof fifo, "pipe.wav");
  write_file(path, 4800, 2, 48000.0, MIXSTAGE_FORMAT_WAV, MIXSTAGE_SAMPLE_PCM16);
  ck_assert_int_eq(mkfifo(fifo, 0600), 0);
  int err;
  mixstage_graph *g = mixstage_graph_create(NULL, &err);
  mixstage_strip *s = mixstage_graph_add_strip(g, "S", 2, &err);
  mixstage_strip *mono = mixstage_graph_add_strip(g, "M", 1, &err);
  ck_assert_int_eq(mixstage_strip_set_source_file(s, fifo), MIXSTAGE_EIO);
  ck_assert_msg(strstr(mixstage_graph_last_error(g), "not a regular file"), "%s", mixstage_graph_last_error(g));
  ck_assert_int_eq(mixstage_strip_set_source_file(s, dir), MIXSTAGE_EIO);
  ck_assert_int_eq(mixstage_strip_set_source_file(mono, path), MIXSTAGE_ECHANNELS);
  ck_assert_int_eq(mixstage_strip_set_source_file_mode(s, path, 7), MIXSTAGE_EINVAL);
  ck_assert_int_eq(mixstage_strip_set_source_file_mode(NULL, path, 0), MIXSTAGE_ENULL);
  ck_assert_int_eq(mixstage_strip_source_underruns(NULL), MIXSTAGE_ENULL);
  ck_assert_int_eq(mixstage_graph_wait_sources(NULL, 0), MIXSTAGE_ENULL);
  ck_assert_int_eq(mixstage_graph_wait_sources(g, -1), MIXSTAGE_ERANGE);
  /* streamed, then replaced by a buffer, then streamed again: no leak (ASan) */
  ck_assert_int_eq(mixstage_strip_set_source_file(s, path), MIXSTAGE_OK);
  ck_assert_int_eq(mixstage_strip_source_frames(s), 4800);
  static float buf[100];
  ck_assert_int_eq(mixstage_strip_set_source_buffer(s, buf, 1, 100, 0), MIXSTAGE_OK);
  ck_assert_ptr_null(mixstage_strip_source_path(s));
  ck_assert_int_eq(mixstage_strip_set_source_file(s, path), MIXSTAGE_OK);
  ck_assert_int_eq(mixstage_strip_set_source_file(mono, "/nonexistent/x.wav"), MIXSTAGE_ENOTFOUND);
  mixstage_graph_destroy(g);
}
END_TEST

/* ---- memory ------------------------------------------------------------------------------- */

typedef struct counter {
  size_t now, peak;
} counter;

static void *count_alloc(void *user, size_t n) {
  counter *c = user;
  size_t *p = malloc(n + 16);
  if (!p) return NULL;
  p[0] = n;
  c->now += n;
  if (c->now > c->peak) c->peak = c->now;
  return (char *)p + 16;
}

static void count_free(void *user, void *ptr) {
  if (!ptr) return;
  counter *c = user;
  size_t *p = (size_t *)((char *)ptr - 16);
  c->now -= p[0];
  free(p);
}

/* Peak bytes the graph allocates to render a file of that many seconds. */
static size_t peak_for(const char *path, int mode) {
  counter c = {0, 0};
  mixstage_graph_config cfg;
  mixstage_graph_config_init(&cfg);
  cfg.alloc = count_alloc;
  cfg.free = count_free;
  cfg.alloc_user = &c;
  int err;
  mixstage_graph *g = mixstage_graph_create(&cfg, &err);
  mixstage_strip *s = mixstage_graph_add_strip(g, "Long", 2, &err);
  ck_assert_int_eq(mixstage_strip_set_source_file_mode(s, path, mode), MIXSTAGE_OK);
  int64_t n;
  float *out = render(g, 2, &n);
  free(out);
  mixstage_graph_destroy(g);
  ck_assert_int_eq(c.now, 0);
  return c.peak;
}

/* The graph's memory for a streamed file does not grow with its length: a
 * 10 s and a 100 s file (converted, the costlier case) take the same peak,
 * under 2 MiB (ring 512 KiB, converter chunks, engine buffers); preloading
 * the long one takes its 38 MB. */
START_TEST(test_memory_bounded) {
  char shortp[256], longp[256];
  path_in(shortp, sizeof shortp, "s010.wav"); /* names of one length: the graph keeps the path */
  path_in(longp, sizeof longp, "s100.wav");
  write_file(shortp, 44100 * 10, 2, 44100.0, MIXSTAGE_FORMAT_WAV, MIXSTAGE_SAMPLE_PCM16);
  write_file(longp, 44100 * 100, 2, 44100.0, MIXSTAGE_FORMAT_WAV, MIXSTAGE_SAMPLE_PCM16);
  size_t ps = peak_for(shortp, MIXSTAGE_SOURCE_STREAM);
  size_t pl = peak_for(longp, MIXSTAGE_SOURCE_STREAM);
  size_t pp = peak_for(longp, MIXSTAGE_SOURCE_PRELOAD);
  fprintf(stderr, "graph peak: streamed 10 s %zu bytes, 100 s %zu bytes; preloaded 100 s %zu bytes\n", ps, pl, pp);
  ck_assert_uint_eq(ps, pl);
  ck_assert_uint_lt(pl, 2u << 20);
  ck_assert_uint_gt(pp, (size_t)48000 * 100 * 2 * sizeof(float));
}
END_TEST

static Suite *suite(void) {
  Suite *s = suite_create("source_file");
  TCase *same = tcase_create("same-samples");
  tcase_add_checked_fixture(same, setup, teardown);
  tcase_set_timeout(same, 120);
  tcase_add_loop_test(same, test_bit_identical_to_whole_file, 0, (int)(sizeof cases / sizeof *cases));
  tcase_add_test(same, test_resampled_tone);
  tcase_add_loop_test(same, test_mid_file_start, 0, 4);
  suite_add_tcase(s, same);
  TCase *rt = tcase_create("realtime");
  tcase_add_checked_fixture(rt, setup, teardown);
  tcase_set_timeout(rt, 60);
  tcase_add_test(rt, test_realtime_no_underrun);
  tcase_add_test(rt, test_realtime_underrun_is_silent);
  tcase_add_test(rt, test_realtime_error_reported);
  tcase_add_test(rt, test_freewheel);
  suite_add_tcase(s, rt);
  TCase *bad = tcase_create("bad-input");
  tcase_add_checked_fixture(bad, setup, teardown);
  tcase_set_timeout(bad, 120);
  tcase_add_loop_test(bad, test_file_changes_during_render, 0, 12);
  tcase_add_test(bad, test_file_replaced_before_render);
  tcase_add_test(bad, test_refusals);
  suite_add_tcase(s, bad);
  TCase *mem = tcase_create("memory");
  tcase_add_checked_fixture(mem, setup, teardown);
  tcase_set_timeout(mem, 120);
  tcase_add_test(mem, test_memory_bounded);
  suite_add_tcase(s, mem);
  return s;
}

int main(void) {
  SRunner *sr = srunner_create(suite());
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
