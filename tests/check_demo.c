/* The built-in demo song: the graph made in memory, the files written for
 * it, the copy shipped in examples/demo-song/, and the error paths.
 *
 * Rendering the whole song takes several seconds of CPU (minutes under
 * valgrind), so the bit-identity check covers the first RENDER_SECONDS:
 * every strip, the sidechain duck, both sends and returns, the drum group
 * and the mix-bus stages are already sounding by then (the clap enters at
 * 4 s).  Under valgrind (MIXSTAGE_SANITIZER=valgrind) the first second,
 * which still runs every strip but the clap through every stage. */
#define _POSIX_C_SOURCE 200809L
#include <check.h>
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "mixstage.h"
#include "testutil.h"

#define RENDER_SECONDS 5
#define BLOCK 512

static char tmpdir[256];

static void make_tmpdir(void) {
  snprintf(tmpdir, sizeof tmpdir, "demo-test.XXXXXX");
  ck_assert_ptr_nonnull(mkdtemp(tmpdir));
}

/* Removes a tree of at most two levels (DIR/sources/...), which is all the
 * writer makes. */
static void remove_tree(const char *dir, int depth) {
  DIR *d = opendir(dir);
  if (!d) {
    unlink(dir);
    return;
  }
  struct dirent *e;
  char p[1024];
  while ((e = readdir(d))) {
    if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
    snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
    struct stat sb;
    if (depth > 0 && stat(p, &sb) == 0 && S_ISDIR(sb.st_mode)) remove_tree(p, depth - 1);
    else unlink(p);
  }
  closedir(d);
  rmdir(dir);
}

static char *slurp(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  fseek(f, 0, SEEK_SET);
  char *t = malloc((size_t)n + 1);
  ck_assert_ptr_nonnull(t);
  ck_assert_uint_eq(fread(t, 1, (size_t)n, f), (size_t)n);
  fclose(f);
  t[n] = 0;
  *len = (size_t)n;
  return t;
}

static int exists(const char *path) {
  struct stat sb;
  return stat(path, &sb) == 0;
}

/* The first `frames` frames of the graph's production mix, processed block
 * by block as a host would; stereo interleaved, owned by the caller. */
static float *process(mixstage_graph *g, int64_t frames) {
  /* Process as fast as it goes: streamed sources are read on this thread. */
  ck_assert_int_eq(mixstage_graph_set_freewheel(g, 1), MIXSTAGE_OK);
  ck_assert_msg(mixstage_graph_prepare(g) == MIXSTAGE_OK, "prepare: %s", mixstage_graph_last_error(g));
  float *out = calloc((size_t)frames * 2, sizeof(float));
  ck_assert_ptr_nonnull(out);
  for (int64_t pos = 0; pos < frames; pos += BLOCK) {
    int n = frames - pos < BLOCK ? (int)(frames - pos) : BLOCK;
    int rc = mixstage_graph_process(g, out + 2 * pos, n);
    ck_assert_msg(rc == MIXSTAGE_OK, "process: %s", mixstage_graph_last_error(g));
  }
  return out;
}

static mixstage_node *bass_duck(mixstage_graph *g) {
  mixstage_strip *bass = mixstage_graph_find_strip(g, "Bass");
  ck_assert_ptr_nonnull(bass);
  for (int k = 0; k < mixstage_strip_node_count(bass); k++) {
    mixstage_node *n = mixstage_strip_node(bass, k);
    if (!strcmp(mixstage_node_type(n), "compressor") && mixstage_node_sidechain_strip(n)) return n;
  }
  return NULL;
}

/* The song in memory: rate, length, every strip, the production sidechain. */
START_TEST(test_create) {
  ck_assert(mixstage_demo_song_seconds() == 16.0);
  int err = -999;
  mixstage_graph *g = mixstage_demo_song_create(44100, &err);
  ck_assert_ptr_nonnull(g);
  ck_assert_int_eq(err, MIXSTAGE_OK);
  /* Synthesised at the rate asked for: 16 s is exactly 705600 frames. */
  ck_assert(mixstage_graph_sample_rate(g) == 44100.0);
  ck_assert(mixstage_graph_tempo(g) == 120.0);
  static const char *const names[] = {"Kick", "Clap", "Hats", "Bass", "Pad", "Lead"};
  ck_assert_int_eq(mixstage_graph_strip_count(g), 6);
  for (int i = 0; i < 6; i++) {
    mixstage_strip *s = mixstage_graph_find_strip(g, names[i]);
    ck_assert_msg(s != NULL, "strip %s", names[i]);
    ck_assert_int_eq(mixstage_strip_source_frames(s), 705600);
  }
  ck_assert_int_eq(mixstage_graph_bus_count(g), 4); /* Mix, Drums, Plate, Delay */
  mixstage_node *duck = bass_duck(g);
  ck_assert_ptr_nonnull(duck);
  ck_assert_ptr_eq(mixstage_node_sidechain_strip(duck), mixstage_graph_find_strip(g, "Kick"));
  mixstage_graph_destroy(g);
}
END_TEST

/* mixstage_demo_song_write() at 48 kHz: it equals the shipped file byte for
 * byte, and the file with its sources renders exactly what
 * mixstage_demo_song_create() renders. */
START_TEST(test_write_shipped_and_bit_identical) {
  make_tmpdir();
  char dir[600], path[700], msg[1024] = "";
  snprintf(dir, sizeof dir, "%s/song", tmpdir); /* not there yet: the writer makes it */
  ck_assert_msg(mixstage_demo_song_write(dir, 0, msg, sizeof msg) == MIXSTAGE_OK, "%s", msg);

  snprintf(path, sizeof path, "%s/demo-song.mixstage.json", dir);
  size_t n_written = 0, n_shipped = 0;
  char *written = slurp(path, &n_written);
  ck_assert_ptr_nonnull(written);
  char shipped_path[1024];
  const char *top = getenv("top_srcdir");
  snprintf(shipped_path, sizeof shipped_path, "%s/examples/demo-song/demo-song.mixstage.json", top ? top : "..");
  char *shipped = slurp(shipped_path, &n_shipped);
  ck_assert_msg(shipped != NULL, "cannot read %s", shipped_path);
  /* The shipped copy names compact sources (sources/<strip>.flac, the
   * first bars as 16-bit FLAC: `mixstage demo --compact 6 --no-render`), so
   * that it renders as shipped; everything else is the writer's, byte for
   * byte. */
  {
    char *flac = malloc(n_written + 64);
    size_t n = 0;
    ck_assert_ptr_nonnull(flac);
    for (size_t i = 0; i < n_written; i++) {
      if (!strncmp(written + i, ".wav\"", 5) && n_written + 64 - n > 8) {
        memcpy(flac + n, ".flac\"", 6);
        n += 6;
        i += 4;
        continue;
      }
      flac[n++] = written[i];
    }
    free(written);
    written = flac;
    n_written = n;
  }
  ck_assert_msg(n_written == n_shipped && memcmp(written, shipped, n_written) == 0,
                "%s is stale: it differs from what mixstage_demo_song_write() writes today "
                "(regenerate it: examples/demo_song --out OUT, then copy OUT/demo-song/demo-song.mixstage.json)",
                shipped_path);
  free(written);
  free(shipped);

  /* The sources are 32-bit float at the song's rate and length. */
  static const char *const names[] = {"Kick", "Clap", "Hats", "Bass", "Pad", "Lead"};
  for (int i = 0; i < 6; i++) {
    char src[700];
    snprintf(src, sizeof src, "%s/sources/%s.wav", dir, names[i]);
    mixstage_file_stats st;
    ck_assert_msg(mixstage_measure_file(src, &st, msg, sizeof msg) == MIXSTAGE_OK, "%s", msg);
    ck_assert_int_eq(st.sample_type, MIXSTAGE_SAMPLE_FLOAT32);
    ck_assert(st.sample_rate == 48000.0);
    ck_assert_int_eq(st.frames, 768000);
    ck_assert_int_eq(st.channels, strcmp(names[i], "Pad") ? 1 : 2);
  }

  int err;
  mixstage_graph *from_file = mixstage_graph_load(path, NULL, msg, sizeof msg, &err);
  ck_assert_msg(from_file != NULL, "loading %s: %s", path, msg);
  mixstage_graph *in_memory = mixstage_demo_song_create(0, &err);
  ck_assert_ptr_nonnull(in_memory);
  ck_assert(mixstage_graph_sample_rate(from_file) == 48000.0);

  /* The production sidechain must survive the file: without it the bass
   * would not duck and the renders below would differ anyway; this names
   * the cause. */
  mixstage_node *duck = bass_duck(from_file);
  ck_assert_msg(duck != NULL, "the graph file lost the Bass compressor's sidechain key (Kick)");
  ck_assert_ptr_eq(mixstage_node_sidechain_strip(duck), mixstage_graph_find_strip(from_file, "Kick"));

  const char *san = getenv("MIXSTAGE_SANITIZER");
  const int64_t frames = (san && !strcmp(san, "valgrind") ? 1 : RENDER_SECONDS) * 48000;
  float *a = process(in_memory, frames);
  float *b = process(from_file, frames);
  /* Not silence: the comparison must be of the song.  The production mix
   * sits a few dB under its -1 dBFS limiter ceiling; -20 dBFS is far below
   * any plausible level and far above an accidental near-silence. */
  ck_assert_msg(tu_peak(a, 2 * frames) > 0.1, "peak %g", tu_peak(a, 2 * frames));
  int64_t first = -1;
  for (int64_t i = 0; i < 2 * frames && first < 0; i++)
    if (memcmp(&a[i], &b[i], sizeof(float))) first = i;
  ck_assert_msg(first < 0, "the loaded file renders differently from frame %lld (%g vs %g)",
                (long long)(first / 2), first < 0 ? 0.0 : a[first], first < 0 ? 0.0 : b[first]);
  free(a);
  free(b);
  mixstage_graph_destroy(from_file);
  mixstage_graph_destroy(in_memory);
  remove_tree(tmpdir, 2);
}
END_TEST

/* A source that cannot be written: the message names it and no graph file
 * appears (the sources go first, the graph file last). */
START_TEST(test_write_source_fails) {
  make_tmpdir();
  char dir[600], path[700], msg[1024] = "";
  snprintf(dir, sizeof dir, "%s/song", tmpdir);
  snprintf(path, sizeof path, "%s/sources/Lead.wav", dir);
  ck_assert_int_eq(mkdir(dir, 0777), 0);
  snprintf(msg, sizeof msg, "%s/sources", dir);
  ck_assert_int_eq(mkdir(msg, 0777), 0);
  /* A directory where the last source should go: the rename over it fails
   * even for root, which a permission bit would not stop. */
  ck_assert_int_eq(mkdir(path, 0777), 0);
  ck_assert_int_eq(mixstage_demo_song_write(dir, 0, msg, sizeof msg), MIXSTAGE_EIO);
  ck_assert_msg(strstr(msg, path) != NULL, "message \"%s\" does not name %s", msg, path);
  snprintf(path, sizeof path, "%s/demo-song.mixstage.json", dir);
  ck_assert_msg(!exists(path), "%s was written although a source failed", path);
  remove_tree(tmpdir, 3);
}
END_TEST

/* Directories that cannot be made, and bad arguments: nothing is written. */
START_TEST(test_write_errors) {
  make_tmpdir();
  char blocker[600], dir[700], path[800], msg[1024] = "";
  /* A regular file where a parent directory should be. */
  snprintf(blocker, sizeof blocker, "%s/file", tmpdir);
  FILE *f = fopen(blocker, "w");
  ck_assert_ptr_nonnull(f);
  fclose(f);
  snprintf(dir, sizeof dir, "%s/song", blocker);
  ck_assert_int_eq(mixstage_demo_song_write(dir, 0, msg, sizeof msg), MIXSTAGE_EIO);
  ck_assert_msg(strstr(msg, dir) != NULL, "message \"%s\" does not name %s", msg, dir);
  snprintf(path, sizeof path, "%s/demo-song.mixstage.json", dir);
  ck_assert(!exists(path));
  /* DIR itself a file. */
  ck_assert_int_eq(mixstage_demo_song_write(blocker, 0, msg, sizeof msg), MIXSTAGE_EIO);
  ck_assert_msg(strstr(msg, blocker) != NULL, "message \"%s\" does not name %s", msg, blocker);
  /* DIR/sources a file. */
  snprintf(dir, sizeof dir, "%s/song2", tmpdir);
  ck_assert_int_eq(mkdir(dir, 0777), 0);
  snprintf(path, sizeof path, "%s/sources", dir);
  f = fopen(path, "w");
  ck_assert_ptr_nonnull(f);
  fclose(f);
  ck_assert_int_eq(mixstage_demo_song_write(dir, 0, msg, sizeof msg), MIXSTAGE_EIO);
  ck_assert_msg(strstr(msg, path) != NULL, "message \"%s\" does not name %s", msg, path);
  snprintf(path, sizeof path, "%s/demo-song.mixstage.json", dir);
  ck_assert(!exists(path));

  /* Rates: out of range (ERANGE), fractional (EINVAL); nothing made. */
  snprintf(dir, sizeof dir, "%s/song3", tmpdir);
  static const double bad_range[] = {-48000, 1, 44099, 192001, 1e9, NAN, INFINITY};
  for (size_t i = 0; i < sizeof bad_range / sizeof *bad_range; i++) {
    msg[0] = 0;
    ck_assert_int_eq(mixstage_demo_song_write(dir, bad_range[i], msg, sizeof msg), MIXSTAGE_ERANGE);
    ck_assert(msg[0] != 0);
    int err = 0;
    ck_assert_ptr_null(mixstage_demo_song_create(bad_range[i], &err));
    ck_assert_int_eq(err, MIXSTAGE_ERANGE);
  }
  ck_assert_int_eq(mixstage_demo_song_write(dir, 44100.5, NULL, 0), MIXSTAGE_EINVAL);
  int err = 0;
  ck_assert_ptr_null(mixstage_demo_song_create(48000.25, &err));
  ck_assert_int_eq(err, MIXSTAGE_EINVAL);
  ck_assert_ptr_null(mixstage_demo_song_create(10, NULL)); /* error may be NULL */
  ck_assert(!exists(dir));
  ck_assert_int_eq(mixstage_demo_song_write(NULL, 0, msg, sizeof msg), MIXSTAGE_ENULL);
  remove_tree(tmpdir, 2);
}
END_TEST

static Suite *demo_suite(void) {
  Suite *s = suite_create("demo");
  TCase *tc = tcase_create("core");
  tcase_set_timeout(tc, 300); /* synthesis and rendering under the sanitizers */
  tcase_add_test(tc, test_create);
  tcase_add_test(tc, test_write_shipped_and_bit_identical);
  tcase_add_test(tc, test_write_source_fails);
  tcase_add_test(tc, test_write_errors);
  suite_add_tcase(s, tc);
  return s;
}

int main(void) {
  SRunner *sr = srunner_create(demo_suite());
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? 1 : 0;
}
