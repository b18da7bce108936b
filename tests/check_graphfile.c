/* Graph files: canonical round trip, code-built graphs saved and reloaded
 * rendering bit-identically, a table of malformed files and their messages,
 * missing sources, format versions, sample-rate conversion of sources.
 *
 * The shipped demo (examples/demo.mixstage.json) names four WAV sources;
 * write_demo_sources() synthesises them next to a copy of it.
 * `tests/check_graphfile --canonicalize IN OUT` writes the sources next to
 * IN, loads it and saves it canonically to OUT (how the demo was made). */
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

#define FS 48000.0
#define SRC_LEN 48000 /* 1 s per source: quick, also under valgrind */

static char tmpdir[256];

/* The --canonicalize tool shares the source writers but runs outside the
 * Check runner, where ck_assert cannot report. */
static int in_tool;
#define REQUIRE(c)                                 \
  do {                                             \
    if (in_tool && !(c)) {                         \
      fprintf(stderr, "failed: %s\n", #c);          \
      exit(1);                                     \
    } else if (!in_tool) {                         \
      ck_assert(c);                                \
    }                                              \
  } while (0)

static void make_tmpdir(void) {
  snprintf(tmpdir, sizeof tmpdir, "graphfile-test.XXXXXX");
  ck_assert_ptr_nonnull(mkdtemp(tmpdir));
}

static void remove_tmpdir(void) {
  DIR *d = opendir(tmpdir);
  struct dirent *e;
  char p[600];
  if (!d) return;
  while ((e = readdir(d)))
    if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) {
      snprintf(p, sizeof p, "%s/%s", tmpdir, e->d_name);
      unlink(p);
    }
  closedir(d);
  rmdir(tmpdir);
}

static void write_wav(const char *dir, const char *name, const float *x, int64_t frames, int ch, double rate) {
  char p[600], err[256];
  mixstage_write_config cfg;
  mixstage_write_config_init(&cfg);
  cfg.sample_type = MIXSTAGE_SAMPLE_FLOAT32; /* exact samples: renders compare bit for bit */
  snprintf(p, sizeof p, "%s/%s", dir, name);
  int rc = mixstage_audio_write(p, x, frames, ch, rate, &cfg, NULL, err, sizeof err);
  if (rc != MIXSTAGE_OK) fprintf(stderr, "%s\n", err);
  REQUIRE(rc == MIXSTAGE_OK);
}

/* Kick (pitch-swept bursts at 120 BPM), bass (55 Hz + octave), keys
 * (stereo triad, voices spread), vox (harmonic tone with vibrato). */
static void write_demo_sources(const char *dir) {
  float *m = malloc(sizeof(float) * SRC_LEN), *st = malloc(sizeof(float) * 2 * SRC_LEN);
  REQUIRE(m && st);
  for (int i = 0; i < SRC_LEN; i++) {
    int ph = i % 24000;
    m[i] = ph < 6000 ? (float)(0.8 * sin(2 * TU_PI * (50.0 + 80.0 * exp(-ph / 1200.0)) * ph / FS) * exp(-ph / 3000.0)) : 0.0f;
  }
  write_wav(dir, "kick.wav", m, SRC_LEN, 1, FS);
  for (int i = 0; i < SRC_LEN; i++) {
    double t = i / FS;
    m[i] = (float)(0.3 * sin(2 * TU_PI * 55.0 * t) + 0.1 * sin(2 * TU_PI * 110.0 * t));
  }
  write_wav(dir, "bass.wav", m, SRC_LEN, 1, FS);
  for (int i = 0; i < SRC_LEN; i++) {
    double t = i / FS;
    st[2 * i] = (float)(0.15 * (sin(2 * TU_PI * 220.0 * t) + 0.7 * sin(2 * TU_PI * 277.2 * t)));
    st[2 * i + 1] = (float)(0.15 * (0.7 * sin(2 * TU_PI * 277.2 * t) + sin(2 * TU_PI * 329.6 * t)));
  }
  write_wav(dir, "keys.wav", st, SRC_LEN, 2, FS);
  for (int i = 0; i < SRC_LEN; i++) {
    double t = i / FS, f = 330.0 * (1.0 + 0.01 * sin(2 * TU_PI * 5.0 * t)), a = 0;
    for (int h = 1; h <= 6; h++) a += sin(2 * TU_PI * f * h * t) / h;
    m[i] = (float)(0.2 * a);
  }
  write_wav(dir, "vox.wav", m, SRC_LEN, 1, FS);
  free(m);
  free(st);
}

static char *read_text(const char *path) {
  FILE *f = fopen(path, "rb");
  ck_assert_msg(f != NULL, "cannot open %s", path);
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  fseek(f, 0, SEEK_SET);
  char *t = malloc((size_t)n + 1);
  ck_assert(t && fread(t, 1, (size_t)n, f) == (size_t)n);
  t[n] = 0;
  fclose(f);
  return t;
}

static void write_text(const char *path, const char *t) {
  FILE *f = fopen(path, "wb");
  ck_assert(f && fwrite(t, 1, strlen(t), f) == strlen(t));
  fclose(f);
}

static char *demo_path(void) {
  static char p[1024];
  const char *top = getenv("top_srcdir");
  snprintf(p, sizeof p, "%s/examples/demo.mixstage.json", top ? top : "..");
  return p;
}

/* Renders `frames` of program (0: the longest source) plus at most 0.1 s of
 * tail; returns the frames, *out owned by the caller.  The tail cap keeps
 * the reverb's ring-out (seconds) out of the run time; the comparisons cover
 * the program and the start of the tail. */
static int64_t render_len(mixstage_graph *g, int64_t frames, float **out) {
  mixstage_render_config rc0;
  mixstage_render_config_init(&rc0);
  rc0.frames = frames;
  rc0.max_tail_frames = 4800;
  int64_t n = mixstage_graph_render_frames(g, &rc0);
  ck_assert_msg(n > 0, "render_frames: %s", mixstage_graph_last_error(g));
  *out = malloc(sizeof(float) * 2 * (size_t)n);
  ck_assert_ptr_nonnull(*out);
  int rc = mixstage_graph_render(g, &rc0, *out, n);
  ck_assert_msg(rc == MIXSTAGE_OK, "render: %s", mixstage_graph_last_error(g));
  return n;
}

static int64_t render(mixstage_graph *g, float **out) { return render_len(g, 0, out); }

/* ---- round trips ---------------------------------------------------------- */

/* The shipped demo is canonical: load -> save gives the same bytes, and the
 * reloaded copy renders bit-identically (lanes, sidechain, sends included). */
START_TEST(test_canonical_round_trip) {
  make_tmpdir();
  write_demo_sources(tmpdir);
  char *orig = read_text(demo_path());
  char in[600], out[600], msg[1024];
  snprintf(in, sizeof in, "%s/demo.mixstage.json", tmpdir);
  snprintf(out, sizeof out, "%s/saved.json", tmpdir);
  write_text(in, orig);
  int err = -99;
  mixstage_graphfile *doc = mixstage_graphfile_load(in, NULL, msg, sizeof msg, &err);
  ck_assert_msg(doc != NULL, "%s", msg);
  ck_assert_int_eq(err, MIXSTAGE_OK);
  ck_assert_int_eq(mixstage_graphfile_profile_count(doc), 1);
  ck_assert_ptr_nonnull(mixstage_graphfile_find_profile(doc, "no-fx-mix"));
  ck_assert_int_eq(mixstage_graphfile_save(doc, out, msg, sizeof msg), MIXSTAGE_OK);
  char *saved = read_text(out);
  ck_assert_str_eq(saved, orig);
  char *s2 = mixstage_graphfile_to_string(doc);
  ck_assert_str_eq(s2, orig);

  /* The saved copy (sources beside it) renders exactly as the original. */
  mixstage_graph *g2 = mixstage_graph_load(out, NULL, msg, sizeof msg, &err);
  ck_assert_msg(g2 != NULL, "%s", msg);
  float *a, *b;
  int64_t na = render(mixstage_graphfile_graph(doc), &a), nb = render(g2, &b);
  ck_assert_int_eq(na, nb);
  ck_assert(memcmp(a, b, sizeof(float) * 2 * (size_t)na) == 0);
  /* The render is not silence (the sources peak near 0.8). */
  ck_assert(tu_peak(a, 2 * na) > 0.05);
  /* The vox fader lane came through the file: -12 dB at frame 0, linear to
   * 0 dB at 24000, so -6 dB at 12000 (exact in double: 1e-9 allows only
   * rounding). */
  int e2;
  mixstage_lane *lane = mixstage_strip_lane(mixstage_graph_find_strip(g2, "Vox"), MIXSTAGE_STRIP_FADER, &e2);
  ck_assert_ptr_nonnull(lane);
  ck_assert_int_eq(mixstage_lane_point_count(lane), 3);
  ck_assert_double_eq_tol(mixstage_lane_value_at(lane, 12000), -6.0, 1e-9);
  free(a);
  free(b);
  free(saved);
  free(s2);
  free(orig);
  mixstage_graph_destroy(g2);
  mixstage_graphfile_destroy(doc);
  /* Atomic save leaves no temporary files: exactly the 4 sources, the copy
   * and the saved file. */
  int files = 0;
  DIR *d = opendir(tmpdir);
  struct dirent *e;
  while ((e = readdir(d)))
    if (e->d_name[0] != '.' || strlen(e->d_name) > 2) files += e->d_name[0] != '.' || e->d_name[1] != '.';
  closedir(d);
  ck_assert_int_eq(files, 6);
  remove_tmpdir();
}
END_TEST

/* A graph built in code, saved and loaded, renders bit-identically. */
START_TEST(test_code_built_round_trip) {
  make_tmpdir();
  write_demo_sources(tmpdir);
  int err;
  mixstage_graph *g = mixstage_graph_create(NULL, &err);
  mixstage_bus *grp = mixstage_graph_add_bus(g, "Band", MIXSTAGE_BUS_GROUP, 2, &err);
  mixstage_bus *ret = mixstage_graph_add_bus(g, "Room", MIXSTAGE_BUS_RETURN, 2, &err);
  ck_assert(grp && ret);
  mixstage_bus_set_fader_db(grp, -2.25);
  mixstage_node *rv = mixstage_bus_insert(ret, "reverb", MIXSTAGE_ROLE_MIX_FX, -1, &err);
  mixstage_node_set_param_by_name(rv, "decay", 0.8);
  const char *names[] = {"bass.wav", "keys.wav", "vox.wav"};
  const int chans[] = {1, 2, 1};
  for (int i = 0; i < 3; i++) {
    char p[600];
    float *x;
    int64_t n;
    int ch;
    snprintf(p, sizeof p, "%s/%s", tmpdir, names[i]);
    ck_assert_int_eq(mixstage_audio_read(p, FS, &x, &n, &ch, NULL, NULL, 0), MIXSTAGE_OK);
    mixstage_strip *s = mixstage_graph_add_strip(g, names[i], chans[i], &err);
    mixstage_strip_set_source_buffer(s, x, ch, n, 1);
    mixstage_free(x);
    mixstage_strip_set_fader_db(s, -1.0 / 3.0); /* not a short decimal: tests exact numbers */
    mixstage_strip_set_pan(s, 0.1 * i);
    mixstage_strip_set_color(s, 0x123456u * (unsigned)(i + 1));
    if (i < 2) mixstage_strip_set_output(s, grp);
    mixstage_node *eq = mixstage_strip_insert(s, "eq", MIXSTAGE_ROLE_STRIP, -1, &err);
    mixstage_node_set_param_by_name(eq, "band2_gain", 2.5 + i);
    mixstage_node *c = mixstage_strip_insert(s, "compressor", MIXSTAGE_ROLE_DESIGN, -1, &err);
    mixstage_node_set_param_by_name(c, "threshold", -30.0);
    mixstage_node_set_bypass(c, i == 1);
    mixstage_strip_add_send(s, ret, -9.5, MIXSTAGE_TAP_PRE_FADER, MIXSTAGE_ROLE_MIX_FX, &err);
  }
  mixstage_graphfile *doc = mixstage_graphfile_wrap(g, &err);
  ck_assert_ptr_nonnull(doc);
  for (int i = 0; i < 3; i++) ck_assert_int_eq(mixstage_graphfile_set_source_path(doc, names[i], names[i]), MIXSTAGE_OK);
  ck_assert_int_eq(mixstage_graphfile_set_source_path(doc, "nobody", "x.wav"), MIXSTAGE_ENOTFOUND);
  mixstage_profile *p = mixstage_profile_create("dry", mixstage_profile_find("mix-stems"), &err);
  mixstage_profile_set_action(p, MIXSTAGE_ROLE_DESIGN, MIXSTAGE_ACTION_BYPASS);
  ck_assert_int_eq(mixstage_graphfile_add_profile(doc, p, "mix-stems"), MIXSTAGE_OK);
  ck_assert_int_eq(mixstage_graphfile_add_profile(doc, p, "mix-stems"), MIXSTAGE_EEXIST);
  mixstage_profile_destroy(p);

  char path[600], msg[1024];
  snprintf(path, sizeof path, "%s/built.json", tmpdir);
  ck_assert_int_eq(mixstage_graphfile_save(doc, path, msg, sizeof msg), MIXSTAGE_OK);
  mixstage_graphfile *back = mixstage_graphfile_load(path, NULL, msg, sizeof msg, &err);
  ck_assert_msg(back != NULL, "%s", msg);
  mixstage_profile *dry = mixstage_graphfile_find_profile(back, "dry");
  ck_assert_ptr_nonnull(dry);
  ck_assert_int_eq(mixstage_profile_action(dry, MIXSTAGE_ROLE_DESIGN), MIXSTAGE_ACTION_BYPASS);
  ck_assert_int_eq(mixstage_profile_stems(dry), MIXSTAGE_STEMS_PER_STRIP);

  float *a, *b;
  int64_t na = render(mixstage_graphfile_graph(doc), &a), nb = render(mixstage_graphfile_graph(back), &b);
  ck_assert_int_eq(na, nb);
  ck_assert(memcmp(a, b, sizeof(float) * 2 * (size_t)na) == 0);
  ck_assert(tu_peak(a, 2 * na) > 0.05);
  /* Saving the reloaded graph gives the same bytes again. */
  char *t1 = mixstage_graphfile_to_string(doc), *t2 = mixstage_graphfile_to_string(back);
  ck_assert_str_eq(t1, t2);
  /* -1/3 is written in the shortest form that reads back exactly. */
  ck_assert_ptr_nonnull(strstr(t1, "\"fader\": -0.3333333333333333,"));
  ck_assert(mixstage_strip_fader_db(mixstage_graph_strip(mixstage_graphfile_graph(back), 0)) == -1.0 / 3.0);
  /* Without the document, sources are written as null. */
  char *bare = mixstage_graph_to_string(mixstage_graphfile_graph(doc));
  ck_assert_ptr_nonnull(strstr(bare, "\"source\": null"));
  free(bare);
  free(t1);
  free(t2);
  free(a);
  free(b);
  mixstage_graphfile_destroy(back);
  mixstage_graphfile_destroy(doc);
  remove_tmpdir();
}
END_TEST

/* ---- engine getters ---------------------------------------------------------- */

static int pull_silence(void *user, float *const *planar, int channels, int frames, int64_t position) {
  (void)user;
  (void)position;
  for (int c = 0; c < channels; c++) memset(planar[c], 0, sizeof(float) * (size_t)frames);
  return 0;
}

/* Every getter, with its NULL and error cases; errors leave a message that
 * names the object. */
START_TEST(test_getters) {
  make_tmpdir();
  write_demo_sources(tmpdir);
  int err;
  mixstage_graph *g = mixstage_graph_create(NULL, &err);
  mixstage_strip *kick = mixstage_graph_add_strip(g, "Kick", 1, &err);
  mixstage_strip *bass = mixstage_graph_add_strip(g, "Bass", 1, &err);
  mixstage_bus *drums = mixstage_graph_add_bus(g, "Drums", MIXSTAGE_BUS_GROUP, 2, &err);
  mixstage_bus *room = mixstage_graph_add_bus(g, "Room", MIXSTAGE_BUS_RETURN, 2, &err);
  ck_assert(kick && bass && drums && room);

  /* Source paths: the path as given, in the engine's own copy. */
  ck_assert_ptr_null(mixstage_strip_source_path(NULL));
  ck_assert_ptr_null(mixstage_strip_source_path(kick));
  char path[600];
  snprintf(path, sizeof path, "%s/kick.wav", tmpdir);
  ck_assert_int_eq(mixstage_strip_set_source_file(kick, path), MIXSTAGE_OK);
  ck_assert_ptr_nonnull(mixstage_strip_source_path(kick));
  ck_assert_str_eq(mixstage_strip_source_path(kick), path);
  ck_assert_ptr_ne(mixstage_strip_source_path(kick), path);
  /* A failed load keeps the previous source and its path. */
  char missing[600];
  snprintf(missing, sizeof missing, "%s/none.wav", tmpdir);
  ck_assert_int_eq(mixstage_strip_set_source_file(kick, missing), MIXSTAGE_ENOTFOUND);
  ck_assert_str_eq(mixstage_strip_source_path(kick), path);
  ck_assert_int_eq(mixstage_strip_source_frames(kick), SRC_LEN);
  /* A stereo file does not fit a mono strip: refused, path kept. */
  char keys[600];
  snprintf(keys, sizeof keys, "%s/keys.wav", tmpdir);
  ck_assert_int_eq(mixstage_strip_set_source_file(kick, keys), MIXSTAGE_ECHANNELS);
  ck_assert_str_eq(mixstage_strip_source_path(kick), path);
  /* Buffer and callback sources have no path. */
  float buf[64] = {0};
  ck_assert_int_eq(mixstage_strip_set_source_file(bass, path), MIXSTAGE_OK);
  ck_assert_int_eq(mixstage_strip_set_source_buffer(bass, buf, 1, 64, 1), MIXSTAGE_OK);
  ck_assert_ptr_null(mixstage_strip_source_path(bass));
  ck_assert_int_eq(mixstage_strip_set_source_file(bass, path), MIXSTAGE_OK);
  ck_assert_int_eq(mixstage_strip_set_source_callback(bass, pull_silence, NULL, 1, 64), MIXSTAGE_OK);
  ck_assert_ptr_null(mixstage_strip_source_path(bass));

  /* Sidechain keys. */
  mixstage_node *comp = mixstage_strip_insert(bass, "compressor", MIXSTAGE_ROLE_STRIP, -1, &err);
  mixstage_node *eq = mixstage_strip_insert(bass, "eq", MIXSTAGE_ROLE_STRIP, -1, &err);
  ck_assert(comp && eq);
  ck_assert_ptr_null(mixstage_node_sidechain_strip(NULL));
  ck_assert_ptr_null(mixstage_node_sidechain_bus(NULL));
  ck_assert_int_eq(mixstage_node_sidechain_tap(NULL), MIXSTAGE_ENULL);
  ck_assert_ptr_null(mixstage_node_sidechain_strip(comp));
  ck_assert_ptr_null(mixstage_node_sidechain_bus(comp));
  ck_assert_int_eq(mixstage_node_sidechain_tap(comp), MIXSTAGE_ENOTFOUND);
  ck_assert_msg(strstr(mixstage_graph_last_error(g), "strip 'Bass' insert 1 (compressor)"), "%s",
                mixstage_graph_last_error(g));
  ck_assert_int_eq(mixstage_node_set_sidechain_strip(comp, kick, MIXSTAGE_TAP_POST_FADER), MIXSTAGE_OK);
  ck_assert_ptr_eq(mixstage_node_sidechain_strip(comp), kick);
  ck_assert_ptr_null(mixstage_node_sidechain_bus(comp));
  ck_assert_int_eq(mixstage_node_sidechain_tap(comp), MIXSTAGE_TAP_POST_FADER);
  ck_assert_int_eq(mixstage_node_set_sidechain_bus(comp, drums, MIXSTAGE_TAP_PRE_FADER), MIXSTAGE_OK);
  ck_assert_ptr_null(mixstage_node_sidechain_strip(comp));
  ck_assert_ptr_eq(mixstage_node_sidechain_bus(comp), drums);
  ck_assert_int_eq(mixstage_node_sidechain_tap(comp), MIXSTAGE_TAP_PRE_FADER);
  /* A refused key (the eq takes none) leaves no key behind. */
  ck_assert_int_eq(mixstage_node_set_sidechain_strip(eq, kick, MIXSTAGE_TAP_PRE_FADER), MIXSTAGE_EUNSUPPORTED);
  ck_assert_ptr_null(mixstage_node_sidechain_strip(eq));
  ck_assert_int_eq(mixstage_node_clear_sidechain(comp), MIXSTAGE_OK);
  ck_assert_ptr_null(mixstage_node_sidechain_bus(comp));
  ck_assert_int_eq(mixstage_node_sidechain_tap(comp), MIXSTAGE_ENOTFOUND);

  /* Lanes: found only once made; finding never makes one. */
  int thr = mixstage_node_param_id(comp, "threshold");
  ck_assert_int_ge(thr, 0);
  ck_assert_ptr_null(mixstage_node_find_lane(NULL, thr));
  ck_assert_ptr_null(mixstage_node_find_lane(comp, thr));
  ck_assert_ptr_null(mixstage_node_find_lane(comp, thr)); /* still none */
  ck_assert_ptr_null(mixstage_node_find_lane(comp, -1));
  ck_assert_ptr_null(mixstage_node_find_lane(comp, mixstage_node_param_count(comp)));
  mixstage_lane *nl = mixstage_node_lane(comp, thr, &err);
  ck_assert_ptr_nonnull(nl);
  ck_assert_ptr_eq(mixstage_node_find_lane(comp, thr), nl);
  for (int w = MIXSTAGE_STRIP_CLIP_GAIN; w <= MIXSTAGE_STRIP_WIDTH; w++) {
    ck_assert_ptr_null(mixstage_strip_find_lane(kick, w));
    mixstage_lane *l = mixstage_strip_lane(kick, w, &err);
    ck_assert_ptr_nonnull(l);
    ck_assert_ptr_eq(mixstage_strip_find_lane(kick, w), l);
    if (w == MIXSTAGE_STRIP_CLIP_GAIN) {
      ck_assert_ptr_null(mixstage_bus_find_lane(drums, w)); /* buses have no clip gain */
      continue;
    }
    ck_assert_ptr_null(mixstage_bus_find_lane(drums, w));
    l = mixstage_bus_lane(drums, w, &err);
    ck_assert_ptr_nonnull(l);
    ck_assert_ptr_eq(mixstage_bus_find_lane(drums, w), l);
  }
  ck_assert_ptr_null(mixstage_strip_find_lane(NULL, MIXSTAGE_STRIP_FADER));
  ck_assert_ptr_null(mixstage_strip_find_lane(kick, 4));
  ck_assert_ptr_null(mixstage_strip_find_lane(kick, -1));
  ck_assert_ptr_null(mixstage_bus_find_lane(NULL, MIXSTAGE_STRIP_FADER));
  ck_assert_ptr_null(mixstage_bus_find_lane(drums, 4));
  mixstage_send *snd = mixstage_strip_add_send(kick, room, -6.0, MIXSTAGE_TAP_POST_FADER, MIXSTAGE_ROLE_MIX_FX, &err);
  ck_assert_ptr_nonnull(snd);
  ck_assert_ptr_null(mixstage_send_find_lane(NULL));
  ck_assert_ptr_null(mixstage_send_find_lane(snd));
  mixstage_lane *sl = mixstage_send_lane(snd, &err);
  ck_assert_ptr_eq(mixstage_send_find_lane(snd), sl);

  /* Points come back in time order, exactly as given; outputs may be NULL. */
  ck_assert_int_eq(mixstage_lane_add_point(nl, 9600, -30.0, MIXSTAGE_CURVE_STEP), MIXSTAGE_OK);
  ck_assert_int_eq(mixstage_lane_add_point(nl, 0, -1.0 / 3.0, MIXSTAGE_CURVE_LINEAR), MIXSTAGE_OK);
  ck_assert_int_eq(mixstage_lane_add_point(nl, 4800, -12.5, MIXSTAGE_CURVE_EXPONENTIAL), MIXSTAGE_OK);
  const int64_t want_f[] = {0, 4800, 9600};
  const double want_v[] = {-1.0 / 3.0, -12.5, -30.0};
  const int want_c[] = {MIXSTAGE_CURVE_LINEAR, MIXSTAGE_CURVE_EXPONENTIAL, MIXSTAGE_CURVE_STEP};
  ck_assert_int_eq(mixstage_lane_point_count(nl), 3);
  for (int i = 0; i < 3; i++) {
    int64_t f = -1;
    double v = 1;
    int c = -1;
    ck_assert_int_eq(mixstage_lane_point(nl, i, &f, &v, &c), MIXSTAGE_OK);
    ck_assert_int_eq(f, want_f[i]);
    ck_assert(v == want_v[i]); /* bit-exact: saving relies on it */
    ck_assert_int_eq(c, want_c[i]);
  }
  ck_assert_int_eq(mixstage_lane_point(nl, 1, NULL, NULL, NULL), MIXSTAGE_OK);
  int64_t f = 77;
  double v = 77;
  int c = 77;
  ck_assert_int_eq(mixstage_lane_point(NULL, 0, &f, &v, &c), MIXSTAGE_ENULL);
  ck_assert_int_eq(mixstage_lane_point(nl, -1, &f, &v, &c), MIXSTAGE_ERANGE);
  ck_assert_int_eq(mixstage_lane_point(nl, 3, &f, &v, &c), MIXSTAGE_ERANGE);
  ck_assert_msg(strstr(mixstage_graph_last_error(g), "'threshold'"), "%s", mixstage_graph_last_error(g));
  ck_assert(f == 77 && v == 77 && c == 77); /* untouched on error */
  ck_assert_int_eq(mixstage_lane_point(sl, 0, &f, &v, &c), MIXSTAGE_ERANGE); /* empty lane */
  /* A cleared lane still exists, with no points. */
  ck_assert_int_eq(mixstage_lane_clear(nl), MIXSTAGE_OK);
  ck_assert_ptr_eq(mixstage_node_find_lane(comp, thr), nl);
  ck_assert_int_eq(mixstage_lane_point(nl, 0, &f, &v, &c), MIXSTAGE_ERANGE);
  mixstage_graph_destroy(g);
  remove_tmpdir();
}
END_TEST

/* The program rendered by the code-built graph test: its sources end after
 * 1 s, its lanes run longer. */
#define PROGRAM (int64_t)(2.5 * FS)

static void check_lane(mixstage_lane *l, int n, const int64_t *fr, const double *val, const int *cur) {
  ck_assert_ptr_nonnull(l);
  ck_assert_int_eq(mixstage_lane_point_count(l), n);
  for (int i = 0; i < n; i++) {
    int64_t f;
    double v;
    int c;
    ck_assert_int_eq(mixstage_lane_point(l, i, &f, &v, &c), MIXSTAGE_OK);
    ck_assert_int_eq(f, fr[i]);
    ck_assert_msg(v == val[i], "point %d: %.17g != %.17g", i, v, val[i]);
    ck_assert_int_eq(c, cur[i]);
  }
}

/* A graph built in code with file sources, sidechain keys (a strip key
 * post-fader and a bus key pre-fader) and lanes on a node parameter, a
 * strip fader, a bus pan and a send level saves completely with
 * mixstage_graph_save(): the loaded copy renders bit-identically and saves
 * to the same bytes. */
START_TEST(test_code_built_graph_saves_completely) {
  make_tmpdir();
  write_demo_sources(tmpdir);
  int err;
  char p[600], msg[1024];
  mixstage_graph *g = mixstage_graph_create(NULL, &err);
  mixstage_bus *drums = mixstage_graph_add_bus(g, "Drums", MIXSTAGE_BUS_GROUP, 2, &err);
  mixstage_bus *room = mixstage_graph_add_bus(g, "Room", MIXSTAGE_BUS_RETURN, 2, &err);
  mixstage_node *rv = mixstage_bus_insert(room, "reverb", MIXSTAGE_ROLE_MIX_FX, -1, &err);
  const char *names[] = {"Kick", "Bass", "Vox"}, *files[] = {"kick.wav", "bass.wav", "vox.wav"};
  mixstage_strip *st[3];
  for (int i = 0; i < 3; i++) {
    st[i] = mixstage_graph_add_strip(g, names[i], 1, &err);
    snprintf(p, sizeof p, "%s/%s", tmpdir, files[i]);
    ck_assert_int_eq(mixstage_strip_set_source_file(st[i], p), MIXSTAGE_OK);
  }
  ck_assert(drums && room && rv);
  ck_assert_int_eq(mixstage_strip_set_output(st[0], drums), MIXSTAGE_OK);
  ck_assert_int_eq(mixstage_strip_set_fader_db(st[0], -3.0), MIXSTAGE_OK);
  /* Bass ducked by the kick after its fader; vox by the drum bus before. */
  mixstage_node *bc = mixstage_strip_insert(st[1], "compressor", MIXSTAGE_ROLE_STRIP, -1, &err);
  mixstage_node *vc = mixstage_strip_insert(st[2], "compressor", MIXSTAGE_ROLE_STRIP, -1, &err);
  ck_assert(bc && vc);
  ck_assert_int_eq(mixstage_node_set_param_by_name(bc, "ratio", 8.0), MIXSTAGE_OK);
  ck_assert_int_eq(mixstage_node_set_sidechain_strip(bc, st[0], MIXSTAGE_TAP_POST_FADER), MIXSTAGE_OK);
  ck_assert_int_eq(mixstage_node_set_sidechain_bus(vc, drums, MIXSTAGE_TAP_PRE_FADER), MIXSTAGE_OK);
  mixstage_send *snd = mixstage_strip_add_send(st[2], room, -8.0, MIXSTAGE_TAP_POST_FADER, MIXSTAGE_ROLE_MIX_FX, &err);
  ck_assert_ptr_nonnull(snd);
  /* Lanes with every curve; values that are not short decimals. */
  const int64_t nf[] = {0, 24000, 60000}, ff[] = {1000, 30000, 90000}, pf[] = {0, 48000}, sf[] = {12000, 50000};
  const double nv[] = {-40.0, -1.0 / 3.0, -25.0}, fv[] = {-12.0, 0.1, -2.0 / 7.0}, pv[] = {-0.7, 0.35},
               sv[] = {-20.0, -6.0};
  const int nc[] = {0, MIXSTAGE_CURVE_EXPONENTIAL, MIXSTAGE_CURVE_STEP}, fc[] = {0, MIXSTAGE_CURVE_LINEAR, MIXSTAGE_CURVE_EXPONENTIAL},
            pc[] = {0, MIXSTAGE_CURVE_LINEAR}, sc[] = {0, MIXSTAGE_CURVE_STEP};
  int thr = mixstage_node_param_id(bc, "threshold");
  mixstage_lane *l[4] = {mixstage_node_lane(bc, thr, &err), mixstage_strip_lane(st[2], MIXSTAGE_STRIP_FADER, &err),
                         mixstage_bus_lane(drums, MIXSTAGE_STRIP_PAN, &err), mixstage_send_lane(snd, &err)};
  for (int i = 0; i < 3; i++) ck_assert_int_eq(mixstage_lane_add_point(l[0], nf[i], nv[i], nc[i]), MIXSTAGE_OK);
  for (int i = 0; i < 3; i++) ck_assert_int_eq(mixstage_lane_add_point(l[1], ff[i], fv[i], fc[i]), MIXSTAGE_OK);
  for (int i = 0; i < 2; i++) ck_assert_int_eq(mixstage_lane_add_point(l[2], pf[i], pv[i], pc[i]), MIXSTAGE_OK);
  for (int i = 0; i < 2; i++) ck_assert_int_eq(mixstage_lane_add_point(l[3], sf[i], sv[i], sc[i]), MIXSTAGE_OK);
  /* A lane made but left empty does nothing and is not written. */
  ck_assert_ptr_nonnull(mixstage_strip_lane(st[0], MIXSTAGE_STRIP_WIDTH, &err));

  /* Sources under the file's directory are written relative to it. */
  char path[600];
  snprintf(path, sizeof path, "%s/built.json", tmpdir);
  ck_assert_int_eq(mixstage_graph_save(g, path, msg, sizeof msg), MIXSTAGE_OK);
  char *t1 = read_text(path);
  ck_assert_ptr_nonnull(strstr(t1, "\"source\": \"kick.wav\""));
  ck_assert_ptr_nonnull(strstr(t1, "\"sidechain\": {\"strip\": \"Kick\", \"tap\": \"post-fader\"}"));
  ck_assert_ptr_nonnull(strstr(t1, "\"sidechain\": {\"bus\": \"Drums\", \"tap\": \"pre-fader\"}"));
  ck_assert_ptr_nonnull(strstr(t1, "\"curve\": \"exponential\", \"frame\": 24000, \"value\": -0.3333333333333333}"));
  ck_assert_ptr_null(strstr(t1, "\"width\": []"));
  /* Without a file, paths are written as given. */
  char *bare = mixstage_graph_to_string(g);
  snprintf(p, sizeof p, "\"source\": \"%s/kick.wav\"", tmpdir);
  ck_assert_ptr_nonnull(strstr(bare, p));

  mixstage_graph *g2 = mixstage_graph_load(path, NULL, msg, sizeof msg, &err);
  ck_assert_msg(g2 != NULL, "%s", msg);
  /* What the loaded graph says, through the same getters. */
  mixstage_strip *b2 = mixstage_graph_find_strip(g2, "Bass"), *v2 = mixstage_graph_find_strip(g2, "Vox");
  mixstage_node *bc2 = mixstage_strip_node(b2, 0), *vc2 = mixstage_strip_node(v2, 0);
  ck_assert_ptr_eq(mixstage_node_sidechain_strip(bc2), mixstage_graph_find_strip(g2, "Kick"));
  ck_assert_int_eq(mixstage_node_sidechain_tap(bc2), MIXSTAGE_TAP_POST_FADER);
  ck_assert_ptr_eq(mixstage_node_sidechain_bus(vc2), mixstage_graph_find_bus(g2, "Drums"));
  ck_assert_int_eq(mixstage_node_sidechain_tap(vc2), MIXSTAGE_TAP_PRE_FADER);
  check_lane(mixstage_node_find_lane(bc2, thr), 3, nf, nv, nc);
  check_lane(mixstage_strip_find_lane(v2, MIXSTAGE_STRIP_FADER), 3, ff, fv, fc);
  check_lane(mixstage_bus_find_lane(mixstage_graph_find_bus(g2, "Drums"), MIXSTAGE_STRIP_PAN), 2, pf, pv, pc);
  check_lane(mixstage_send_find_lane(mixstage_strip_send(v2, 0)), 2, sf, sv, sc);
  ck_assert_ptr_null(mixstage_strip_find_lane(mixstage_graph_find_strip(g2, "Kick"), MIXSTAGE_STRIP_WIDTH));
  snprintf(p, sizeof p, "%s/kick.wav", tmpdir);
  ck_assert_str_eq(mixstage_strip_source_path(mixstage_graph_find_strip(g2, "Kick")), p);

  /* Bit-identical renders over 2.5 s (lanes run to 1.9 s). */
  float *a, *b;
  int64_t na = render_len(g, PROGRAM, &a), nb = render_len(g2, PROGRAM, &b);
  ck_assert_int_eq(na, nb);
  ck_assert(memcmp(a, b, sizeof(float) * 2 * (size_t)na) == 0);
  ck_assert(tu_peak(a, 2 * na) > 0.05);
  /* The comparison would see a lost key: without it the bass is louder
   * (8:1 ducking under every kick) and the render differs. */
  float *c;
  ck_assert_int_eq(mixstage_node_clear_sidechain(bc2), MIXSTAGE_OK);
  int64_t nc2 = render_len(g2, PROGRAM, &c);
  ck_assert(nc2 != na || memcmp(a, c, sizeof(float) * 2 * (size_t)na) != 0);
  free(c);
  ck_assert_int_eq(mixstage_node_set_sidechain_strip(bc2, mixstage_graph_find_strip(g2, "Kick"), MIXSTAGE_TAP_POST_FADER),
                   MIXSTAGE_OK);

  /* The loaded graph saves to the same bytes, in place or as a string
   * loaded relative to the file's directory. */
  char again[600];
  snprintf(again, sizeof again, "%s/again.json", tmpdir);
  ck_assert_int_eq(mixstage_graph_save(g2, again, msg, sizeof msg), MIXSTAGE_OK);
  char *t2 = read_text(again);
  ck_assert_str_eq(t2, t1);
  mixstage_graphfile *doc = mixstage_graphfile_load_string(t1, tmpdir, NULL, msg, sizeof msg, &err);
  ck_assert_msg(doc != NULL, "%s", msg);
  char *t3 = mixstage_graphfile_to_string(doc);
  ck_assert_str_eq(t3, t1);

  /* Saved elsewhere, the sources are not under the file's directory: they
   * are written as absolute, folded paths, and the copy still loads and
   * renders the same. */
  char sub[600], other[700];
  snprintf(sub, sizeof sub, "%s/sub", tmpdir);
  ck_assert_int_eq(mkdir(sub, 0777), 0);
  snprintf(other, sizeof other, "%s/other.json", sub);
  ck_assert_int_eq(mixstage_graph_save(g, other, msg, sizeof msg), MIXSTAGE_OK);
  char *t4 = read_text(other);
  ck_assert_ptr_null(strstr(t4, "\"source\": \"kick.wav\""));
  ck_assert_ptr_nonnull(strstr(t4, "\"source\": \"/"));
  ck_assert_ptr_null(strstr(t4, "/./"));
  ck_assert_ptr_null(strstr(t4, "/../"));
  mixstage_graph *g3 = mixstage_graph_load(other, NULL, msg, sizeof msg, &err);
  ck_assert_msg(g3 != NULL, "%s", msg);
  float *d;
  int64_t nd = render_len(g3, PROGRAM, &d);
  ck_assert_int_eq(nd, na);
  ck_assert(memcmp(a, d, sizeof(float) * 2 * (size_t)na) == 0);
  free(d);
  /* A file naming "../kick.wav" keeps that spelling when saved in place. */
  char *t5 = strdup(t1), *t6 = NULL;
  for (int i = 0; i < 3; i++) {
    char q[32];
    snprintf(q, sizeof q, "\"%s\"", files[i]);
    char *at = strstr(t5, q);
    ck_assert_ptr_nonnull(at);
    size_t len6 = strlen(t5) + 4;
    t6 = malloc(len6);
    snprintf(t6, len6, "%.*s\"../%s%s", (int)(at - t5), t5, files[i], at + 1 + strlen(files[i]));
    free(t5);
    t5 = strdup(t6);
    if (i < 2) free(t6);
  }
  snprintf(other, sizeof other, "%s/up.json", sub);
  write_text(other, t6);
  mixstage_graph *g4 = mixstage_graph_load(other, NULL, msg, sizeof msg, &err);
  ck_assert_msg(g4 != NULL, "%s", msg);
  ck_assert_int_eq(mixstage_graph_save(g4, other, msg, sizeof msg), MIXSTAGE_OK);
  char *t7 = read_text(other);
  ck_assert_str_eq(t7, t6);

  free(a);
  free(b);
  free(bare);
  free(t1);
  free(t2);
  free(t3);
  free(t4);
  free(t5);
  free(t6);
  free(t7);
  mixstage_graphfile_destroy(doc);
  mixstage_graph_destroy(g4);
  mixstage_graph_destroy(g3);
  mixstage_graph_destroy(g2);
  mixstage_graph_destroy(g);
  snprintf(other, sizeof other, "%s/other.json", sub);
  unlink(other);
  snprintf(other, sizeof other, "%s/up.json", sub);
  unlink(other);
  rmdir(sub);
  remove_tmpdir();
}
END_TEST

/* ---- last-error freshness ------------------------------------------------------ */

/* Every failing call below must replace the graph's message with one naming
 * the object at fault: bindings raise exceptions carrying it, and a stale
 * message from an earlier failure would blame the wrong object. */
typedef struct fresh_fx {
  mixstage_graph *g;
  mixstage_strip *bass, *kick;
  mixstage_bus *drums, *room, *mix;
  mixstage_send *send;
  mixstage_node *comp, *eq;
  mixstage_lane *fader, *level, *thr_lane;
  int thr, eq_structural;
} fresh_fx;

static const struct {
  int status;
  const char *names; /* the object the message must name */
} fresh_table[] = {
    {MIXSTAGE_ERANGE, "graph"},
    {MIXSTAGE_EEXIST, "strip 'Bass'"},
    {MIXSTAGE_ERANGE, "strip 'X'"},
    {MIXSTAGE_EINVAL, "bus 'Y'"},
    {MIXSTAGE_EINVAL, "new bus"},
    {MIXSTAGE_ENULL, "strip 'Bass'"},
    {MIXSTAGE_ECHANNELS, "strip 'Bass'"},
    {MIXSTAGE_ERANGE, "strip 'Bass'"},
    {MIXSTAGE_ENULL, "strip 'Bass'"},
    {MIXSTAGE_ENOTFOUND, "strip 'Bass'"},
    {MIXSTAGE_ENULL, "strip 'Bass'"},
    {MIXSTAGE_ECHANNELS, "strip 'Bass'"},
    {MIXSTAGE_ERANGE, "strip 'Bass'"},
    {MIXSTAGE_ERANGE, "strip 'Bass'"},
    {MIXSTAGE_ERANGE, "strip 'Bass'"},
    {MIXSTAGE_ERANGE, "bus 'Drums'"},
    {MIXSTAGE_EINVAL, "strip 'Bass'"},
    {MIXSTAGE_ENULL, "strip 'Bass'"},
    {MIXSTAGE_ECYCLE, "bus 'Drums'"},
    {MIXSTAGE_EINVAL, "mix bus 'Mix'"},
    {MIXSTAGE_EINVAL, "strip 'Bass'"},
    {MIXSTAGE_ERANGE, "strip 'Bass'"},
    {MIXSTAGE_EINVAL, "mix bus 'Mix'"},
    {MIXSTAGE_ERANGE, "send 'Bass -> Room'"},
    {MIXSTAGE_ENOTFOUND, "strip 'Bass'"},
    {MIXSTAGE_ENOTFOUND, "bus 'Drums'"},
    {MIXSTAGE_ENOTFOUND, "strip 'Bass'"},
    {MIXSTAGE_ENULL, "strip 'Bass'"},
    {MIXSTAGE_ERANGE, "bus 'Drums'"},
    {MIXSTAGE_ERANGE, "strip 'Bass'"},
    {MIXSTAGE_ERANGE, "strip 'Bass' insert 1 (compressor)"},
    {MIXSTAGE_ERANGE, "strip 'Bass' insert 1 (compressor)"},
    {MIXSTAGE_ENULL, "strip 'Bass' insert 1 (compressor)"},
    {MIXSTAGE_ENOTFOUND, "strip 'Bass' insert 1 (compressor)"},
    {MIXSTAGE_ENULL, "strip 'Bass' insert 1 (compressor)"},
    {MIXSTAGE_ENOTFOUND, "strip 'Bass' insert 1 (compressor)"},
    {MIXSTAGE_ERANGE, "strip 'Bass' insert 1 (compressor)"},
    {MIXSTAGE_ERANGE, "strip 'Bass' insert 1 (compressor)"},
    {MIXSTAGE_ENOTFOUND, "strip 'Bass' insert 1 (compressor)"},
    {MIXSTAGE_ENULL, "strip 'Bass' insert 1 (compressor)"},
    {MIXSTAGE_ENOTFOUND, "strip 'Bass' insert 1 (compressor)"},
    {MIXSTAGE_ENOTFOUND, "strip 'Bass' insert 1 (compressor)"},
    {MIXSTAGE_EUNSUPPORTED, "strip 'Bass' insert 2 (eq)"},
    {MIXSTAGE_ENULL, "strip 'Bass' insert 1 (compressor)"},
    {MIXSTAGE_EINVAL, "strip 'Bass' insert 1 (compressor)"},
    {MIXSTAGE_ECYCLE, "strip 'Bass'"},
    {MIXSTAGE_ENOTFOUND, "strip 'Bass' insert 1 (compressor)"},
    {MIXSTAGE_ENOTFOUND, "strip 'Bass' insert 1 (compressor)"},
    {MIXSTAGE_EUNSUPPORTED, "strip 'Bass' insert 2 (eq)"},
    {MIXSTAGE_ERANGE, "strip 'Bass' lane 'fader'"},
    {MIXSTAGE_ERANGE, "strip 'Bass' lane 'fader'"},
    {MIXSTAGE_ERANGE, "strip 'Bass' lane 'fader'"},
    {MIXSTAGE_ERANGE, "strip 'Bass' lane 'fader'"},
    {MIXSTAGE_ERANGE, "send 'Bass -> Room' lane 'level'"},
    {MIXSTAGE_ERANGE, "strip 'Bass' insert 1 (compressor) lane 'threshold'"},
    {MIXSTAGE_ERANGE, "send 'Bass -> Room' lane 'level'"},
};

static int fresh_call(fresh_fx *f, int i) {
  int e = 1;
  float buf[8] = {0};
  double v;
  mixstage_param_info info;
  int64_t fr;
  switch (i) {
  case 0: return mixstage_graph_set_tempo(f->g, 5.0);
  case 1: mixstage_graph_add_strip(f->g, "Bass", 1, &e); return e;
  case 2: mixstage_graph_add_strip(f->g, "X", 0, &e); return e;
  case 3: mixstage_graph_add_bus(f->g, "Y", 7, 2, &e); return e;
  case 4: mixstage_graph_add_bus(f->g, NULL, MIXSTAGE_BUS_GROUP, 2, &e); return e;
  case 5: return mixstage_strip_set_source_buffer(f->bass, NULL, 1, 8, 1);
  case 6: return mixstage_strip_set_source_buffer(f->bass, buf, 2, 4, 1);
  case 7: return mixstage_strip_set_source_buffer(f->bass, buf, 1, -1, 1);
  case 8: return mixstage_strip_set_source_file(f->bass, NULL);
  case 9: return mixstage_strip_set_source_file(f->bass, "no-such-dir/none.wav");
  case 10: return mixstage_strip_set_source_callback(f->bass, NULL, NULL, 1, 8);
  case 11: return mixstage_strip_set_source_callback(f->bass, pull_silence, NULL, 3, 8);
  case 12: return mixstage_strip_set_fader_db(f->bass, 20.0);
  case 13: return mixstage_strip_set_clip_gain_db(f->bass, 99.0);
  case 14: return mixstage_strip_set_pan(f->bass, NAN);
  case 15: return mixstage_bus_set_width(f->drums, 3.0);
  case 16: return mixstage_strip_set_output(f->bass, f->room);
  case 17: return mixstage_strip_set_output(f->bass, NULL);
  case 18: return mixstage_bus_set_output(f->drums, f->drums);
  case 19: return mixstage_bus_set_output(f->mix, f->drums);
  case 20: mixstage_strip_add_send(f->bass, f->drums, 0.0, MIXSTAGE_TAP_POST_FADER, MIXSTAGE_ROLE_MIX_FX, &e); return e;
  case 21: mixstage_strip_add_send(f->bass, f->room, 99.0, MIXSTAGE_TAP_POST_FADER, MIXSTAGE_ROLE_MIX_FX, &e); return e;
  case 22: mixstage_bus_add_send(f->mix, f->room, 0.0, MIXSTAGE_TAP_POST_FADER, MIXSTAGE_ROLE_MIX_FX, &e); return e;
  case 23: return mixstage_send_set_level_db(f->send, 50.0);
  case 24: mixstage_strip_lane(f->bass, 9, &e); return e;
  case 25: mixstage_bus_lane(f->drums, MIXSTAGE_STRIP_CLIP_GAIN, &e); return e;
  case 26: mixstage_strip_insert(f->bass, "nope", MIXSTAGE_ROLE_STRIP, -1, &e); return e;
  case 27: mixstage_strip_insert(f->bass, NULL, MIXSTAGE_ROLE_STRIP, -1, &e); return e;
  case 28: mixstage_bus_insert(f->drums, "eq", 99, -1, &e); return e;
  case 29: mixstage_strip_insert(f->bass, "eq", MIXSTAGE_ROLE_STRIP, 99, &e); return e;
  case 30: return mixstage_node_set_role(f->comp, 99);
  case 31: return mixstage_node_param_info(f->comp, 999, &info);
  case 32: return mixstage_node_param_info(f->comp, 0, NULL);
  case 33: return mixstage_node_param_id(f->comp, "nope");
  case 34: return mixstage_node_param_id(f->comp, NULL);
  case 35: return mixstage_node_set_param(f->comp, 999, 0.0);
  case 36: return mixstage_node_set_param(f->comp, f->thr, 99.0);
  case 37: return mixstage_node_set_param(f->comp, f->thr, NAN);
  case 38: return mixstage_node_get_param(f->comp, 999, &v);
  case 39: return mixstage_node_get_param(f->comp, f->thr, NULL);
  case 40: return mixstage_node_set_param_by_name(f->comp, "nope", 1.0);
  case 41: return mixstage_node_get_param_by_name(f->comp, "nope", &v);
  case 42: return mixstage_node_set_sidechain_strip(f->eq, f->kick, MIXSTAGE_TAP_PRE_FADER);
  case 43: return mixstage_node_set_sidechain_strip(f->comp, NULL, MIXSTAGE_TAP_PRE_FADER);
  case 44: return mixstage_node_set_sidechain_bus(f->comp, f->drums, 7);
  case 45: return mixstage_node_set_sidechain_strip(f->comp, f->bass, MIXSTAGE_TAP_PRE_FADER);
  case 46: return mixstage_node_sidechain_tap(f->comp);
  case 47: mixstage_node_lane(f->comp, 999, &e); return e;
  case 48: mixstage_node_lane(f->eq, f->eq_structural, &e); return e;
  case 49: return mixstage_lane_add_point(f->fader, -1, 0.0, MIXSTAGE_CURVE_LINEAR);
  case 50: return mixstage_lane_add_point(f->fader, 0, 99.0, MIXSTAGE_CURVE_LINEAR);
  case 51: return mixstage_lane_add_point(f->fader, 0, 0.0, 9);
  case 52: return mixstage_lane_point(f->fader, 5, &fr, &v, &e);
  case 53: return mixstage_lane_add_point(f->level, 0, -200.0, MIXSTAGE_CURVE_LINEAR);
  case 54: return mixstage_lane_add_point(f->thr_lane, 0, 5.0, MIXSTAGE_CURVE_LINEAR);
  case 55: return mixstage_lane_point(f->level, 0, NULL, NULL, NULL);
  default: return 1;
  }
}

START_TEST(test_last_error_is_fresh) {
  fresh_fx f;
  int err;
  f.g = mixstage_graph_create(NULL, &err);
  f.bass = mixstage_graph_add_strip(f.g, "Bass", 1, &err);
  f.kick = mixstage_graph_add_strip(f.g, "Kick", 1, &err);
  f.drums = mixstage_graph_add_bus(f.g, "Drums", MIXSTAGE_BUS_GROUP, 2, &err);
  f.room = mixstage_graph_add_bus(f.g, "Room", MIXSTAGE_BUS_RETURN, 2, &err);
  f.mix = mixstage_graph_mix_bus(f.g);
  f.send = mixstage_strip_add_send(f.bass, f.room, -6.0, MIXSTAGE_TAP_POST_FADER, MIXSTAGE_ROLE_MIX_FX, &err);
  f.comp = mixstage_strip_insert(f.bass, "compressor", MIXSTAGE_ROLE_STRIP, -1, &err);
  f.eq = mixstage_strip_insert(f.bass, "eq", MIXSTAGE_ROLE_STRIP, -1, &err);
  f.fader = mixstage_strip_lane(f.bass, MIXSTAGE_STRIP_FADER, &err);
  f.level = mixstage_send_lane(f.send, &err);
  f.thr = mixstage_node_param_id(f.comp, "threshold");
  f.thr_lane = mixstage_node_lane(f.comp, f.thr, &err);
  ck_assert(f.send && f.comp && f.eq && f.fader && f.level && f.thr_lane);
  ck_assert_int_eq(mixstage_lane_add_point(f.fader, 0, -3.0, MIXSTAGE_CURVE_LINEAR), MIXSTAGE_OK);
  f.eq_structural = -1;
  for (int i = 0; i < mixstage_node_param_count(f.eq); i++) {
    mixstage_param_info info;
    mixstage_node_param_info(f.eq, i, &info);
    if (!info.automatable && f.eq_structural < 0) f.eq_structural = info.id;
  }
  ck_assert_int_ge(f.eq_structural, 0);
  int n = (int)(sizeof fresh_table / sizeof *fresh_table);
  ck_assert_int_eq(fresh_call(&f, n), 1); /* the table and the calls agree in length */
  for (int i = 0; i < n; i++) {
    /* A known earlier failure leaves a message the next one must replace. */
    ck_assert_int_eq(mixstage_graph_set_tempo(f.g, 1.0), MIXSTAGE_ERANGE);
    char stale[600];
    snprintf(stale, sizeof stale, "%s", mixstage_graph_last_error(f.g));
    int rc = fresh_call(&f, i);
    const char *msg = mixstage_graph_last_error(f.g);
    ck_assert_msg(rc == fresh_table[i].status, "call %d: %s, expected %s (%s)", i, mixstage_err_name(rc),
                  mixstage_err_name(fresh_table[i].status), msg);
    ck_assert_msg(strcmp(msg, stale) != 0, "call %d left the stale message \"%s\"", i, msg);
    ck_assert_msg(strstr(msg, fresh_table[i].names), "call %d: \"%s\" does not name %s", i, msg,
                  fresh_table[i].names);
  }
  mixstage_graph_destroy(f.g);
}
END_TEST

/* ---- validation ------------------------------------------------------------ */

/* JSON written with ' for " to keep the table readable. */
static char *unquote(const char *s) {
  char *t = strdup(s);
  for (char *p = t; *p; p++)
    if (*p == '\'') *p = '"';
  return t;
}

#define H "{'format': 'mixstage-graph', 'version': 1, "
#define STRIP1 "{'name': 'A', 'channels': 1"
#define CB "{'type': 'compressor'"

static const struct {
  const char *json, *expect;
  int status;
} bad_files[] = {
    {"", "not valid JSON", MIXSTAGE_EFORMAT},
    {"{", "line 1, column 1: not valid JSON", MIXSTAGE_EFORMAT},
    {"[]", "expected an object, got an array", MIXSTAGE_EFORMAT},
    {"{'version': 1}", "format: required key is missing", MIXSTAGE_EFORMAT},
    {"{'format': 'other', 'version': 1}", "format: \"other\" is not \"mixstage-graph\"", MIXSTAGE_EFORMAT},
    {"{'format': 'mixstage-graph'}", "version: required key is missing", MIXSTAGE_EFORMAT},
    {"{'format': 'mixstage-graph', 'version': 99}", "version: 99 is newer than this library reads", MIXSTAGE_EFORMAT},
    {"{'format': 'mixstage-graph', 'version': 0}", "version: 0 is not a format version", MIXSTAGE_EFORMAT},
    {"{'format': 'mixstage-graph', 'version': '1'}", "version: expected an integer, got a string", MIXSTAGE_EFORMAT},
    {H "'tempi': 120}", "tempi: unknown key (allowed: format, version", MIXSTAGE_EFORMAT},
    {H "'sample_rate': 1000}", "sample_rate: 1000.0 is below the minimum 8000.0", MIXSTAGE_EFORMAT},
    {H "'tempo': 'fast'}", "tempo: expected a number, got a string", MIXSTAGE_EFORMAT},
    {H "'tempo': NaN}", "not valid JSON", MIXSTAGE_EFORMAT},
    {H "'tempo': 1e999}", "not valid JSON", MIXSTAGE_EFORMAT},
    {H "'max_block': 1.5}", "max_block: expected an integer, got a fraction", MIXSTAGE_EFORMAT},
    {H "'tempo': 100, 'tempo': 120}", "duplicate object key", MIXSTAGE_EFORMAT},
    {H "'mix': {'channels': 0}}", "mix.channels: 0 is below the minimum 1", MIXSTAGE_EFORMAT},
    {H "'strips': {}}", "strips: expected an array, got an object", MIXSTAGE_EFORMAT},
    {H "'strips': [{'channels': 1}]}", "strips[0].name: required key is missing", MIXSTAGE_EFORMAT},
    {H "'strips': [{'name': 'A'}]}", "strips[0].channels: required key is missing", MIXSTAGE_EFORMAT},
    {H "'strips': [{'name': 'A', 'channels': 17}]}", "strips[0].channels: 17 is above the maximum 16", MIXSTAGE_EFORMAT},
    {H "'strips': [" STRIP1 ", 'fader': 20}]}", "strips[0].fader: 20.0 is above the maximum 12.0", MIXSTAGE_EFORMAT},
    {H "'strips': [" STRIP1 ", 'width': 2.5}]}", "strips[0].width: 2.5 is above the maximum 2.0", MIXSTAGE_EFORMAT},
    {H "'strips': [" STRIP1 ", 'mute': 'yes'}]}", "strips[0].mute: expected true or false, got a string", MIXSTAGE_EFORMAT},
    {H "'strips': [" STRIP1 ", 'color': 'red'}]}", "strips[0].color: \"red\" is not a colour", MIXSTAGE_EFORMAT},
    {H "'strips': [" STRIP1 ", 'gain': 1}]}", "strips[0].gain: unknown key", MIXSTAGE_EFORMAT},
    {H "'strips': [" STRIP1 ", 'source': 5}]}", "strips[0].source: expected a file path or null, got a number", MIXSTAGE_EFORMAT},
    {H "'strips': [" STRIP1 "}, " STRIP1 "}]}", "strips[1].name: the name \"A\" is already used by a strip", MIXSTAGE_EEXIST},
    {H "'strips': [" STRIP1 ", 'output': 'Drums'}]}", "strips[0].output: no bus named \"Drums\"", MIXSTAGE_EFORMAT},
    {H "'buses': [{'name': 'V', 'kind': 'return'}], 'strips': [" STRIP1 ", 'output': 'V'}]}",
     "strips[0].output: \"V\" is an FX return", MIXSTAGE_EFORMAT},
    {H "'buses': [{'name': 'G', 'kind': 'aux'}]}", "buses[0].kind: \"aux\" is not one of \"group\", \"return\"", MIXSTAGE_EFORMAT},
    {H "'buses': [{'name': 'Mix'}]}", "buses[0].name: a bus named \"Mix\" already exists", MIXSTAGE_EEXIST},
    {H "'buses': [{'name': 'G'}, {'name': 'H', 'output': 'G'}, {'name': 'I', 'output': 'H'}], "
       "'strips': [" STRIP1 ", 'output': 'I'}]}", NULL, MIXSTAGE_OK}, /* a valid chain of groups */
    {H "'buses': [{'name': 'G', 'output': 'H'}, {'name': 'H', 'output': 'G'}]}", "buses[", MIXSTAGE_ECYCLE},
    {H "'buses': [{'name': 'G'}], 'strips': [" STRIP1 ", 'output': 'G', 'inserts': [" CB
       ", 'sidechain': {'bus': 'G'}}]}]}", "strips[0].", MIXSTAGE_ECYCLE},
    {H "'strips': [" STRIP1 ", 'inserts': [{'type': 'fuzz'}]}]}", "strips[0].inserts[0].type: no node type \"fuzz\" (types: gain, eq", MIXSTAGE_EFORMAT},
    {H "'strips': [" STRIP1 ", 'inserts': [{'role': 'strip'}]}]}", "strips[0].inserts[0].type: required key is missing", MIXSTAGE_EFORMAT},
    {H "'strips': [{}, {}, {}, " STRIP1 ", 'inserts': [{'type': 'eq'}, " CB ", 'params': {'ratio': 0.5}}]}]}",
     "strips[0].name: required key is missing", MIXSTAGE_EFORMAT},
    {H "'strips': [" STRIP1 "}, {'name': 'B', 'channels': 1}, {'name': 'C', 'channels': 1}, {'name': 'D', 'channels': 1, "
       "'inserts': [{'type': 'eq'}, " CB ", 'params': {'ratio': 0.5}}]}]}",
     "strips[3].inserts[1].params.ratio: 0.5 is below the minimum 1.0", MIXSTAGE_EFORMAT},
    {H "'strips': [" STRIP1 ", 'inserts': [" CB ", 'params': {'ratioo': 2}}]}]}",
     "strips[0].inserts[0].params.ratioo: compressor has no parameter \"ratioo\"", MIXSTAGE_EFORMAT},
    {H "'strips': [" STRIP1 ", 'inserts': [" CB ", 'params': {'ratio': '4:1'}}]}]}",
     "strips[0].inserts[0].params.ratio: expected a number, got a string", MIXSTAGE_EFORMAT},
    {H "'strips': [" STRIP1 ", 'inserts': [" CB ", 'role': 'master'}]}]}", "strips[0].inserts[0].role: \"master\" is not a role", MIXSTAGE_EFORMAT},
    {H "'strips': [" STRIP1 ", 'inserts': [{'type': 'eq', 'params': {'band1_type': 1.5}}]}]}",
     "strips[0].inserts[0].params.band1_type: 1.5 is not a whole number", MIXSTAGE_EFORMAT},
    {H "'strips': [" STRIP1 ", 'inserts': [{'type': 'eq', 'bypass': 1}]}]}", "strips[0].inserts[0].bypass: expected true or false", MIXSTAGE_EFORMAT},
    {H "'strips': [" STRIP1 ", 'sends': [{'to': 'Plate'}]}]}", "strips[0].sends[0].to: no bus named \"Plate\"", MIXSTAGE_EFORMAT},
    {H "'buses': [{'name': 'G'}], 'strips': [" STRIP1 ", 'sends': [{'to': 'G'}]}]}", "strips[0].sends[0].to: \"G\" is not an FX return", MIXSTAGE_EFORMAT},
    {H "'buses': [{'name': 'V', 'kind': 'return'}], 'strips': [" STRIP1 ", 'sends': [{'to': 'V', 'level': 20}]}]}",
     "strips[0].sends[0].level: 20.0 is above the maximum 12.0", MIXSTAGE_EFORMAT},
    {H "'buses': [{'name': 'V', 'kind': 'return'}], 'strips': [" STRIP1 ", 'sends': [{'to': 'V', 'tap': 'middle'}]}]}",
     "strips[0].sends[0].tap: \"middle\" is not one of \"pre-fader\", \"post-fader\"", MIXSTAGE_EFORMAT},
    {H "'strips': [" STRIP1 ", 'sends': [{}]}]}", "strips[0].sends[0].to: required key is missing", MIXSTAGE_EFORMAT},
    {H "'strips': [" STRIP1 ", 'inserts': [{'type': 'eq', 'sidechain': {'strip': 'A'}}]}]}",
     "strips[0].inserts[0].sidechain: the eq node takes no sidechain key", MIXSTAGE_EUNSUPPORTED},
    {H "'strips': [" STRIP1 ", 'inserts': [" CB ", 'sidechain': {'strip': 'Kick'}}]}]}",
     "strips[0].inserts[0].sidechain.strip: no strip named \"Kick\"", MIXSTAGE_EFORMAT},
    {H "'strips': [" STRIP1 ", 'inserts': [" CB ", 'sidechain': {'strip': 'A', 'bus': 'Mix'}}]}]}",
     "strips[0].inserts[0].sidechain: give exactly one of", MIXSTAGE_EFORMAT},
    {H "'strips': [" STRIP1 ", 'lanes': {'volume': []}}]}", "strips[0].lanes.volume: no such lane", MIXSTAGE_EFORMAT},
    {H "'strips': [" STRIP1 ", 'lanes': {'fader': [{'frame': 10, 'value': 0}, {'frame': 5, 'value': 0}]}}]}",
     "strips[0].lanes.fader[1].frame: 5 is not after the previous point's frame 10", MIXSTAGE_EFORMAT},
    {H "'strips': [" STRIP1 ", 'lanes': {'fader': [{'frame': 0, 'value': 50}]}}]}",
     "strips[0].lanes.fader[0].value: 50.0 is above the maximum 12.0", MIXSTAGE_EFORMAT},
    {H "'strips': [" STRIP1 ", 'lanes': {'pan': [{'frame': 0, 'value': 0, 'curve': 'sine'}]}}]}",
     "strips[0].lanes.pan[0].curve: \"sine\" is not one of \"linear\", \"exponential\", \"step\"", MIXSTAGE_EFORMAT},
    {H "'strips': [" STRIP1 ", 'lanes': {'pan': [{'frame': -1, 'value': 0}]}}]}",
     "strips[0].lanes.pan[0].frame: -1 is below the minimum 0", MIXSTAGE_EFORMAT},
    {H "'strips': [" STRIP1 ", 'inserts': [{'type': 'eq', 'lanes': {'band1_type': [{'frame': 0, 'value': 1}]}}]}]}",
     "strips[0].inserts[0].lanes.band1_type: eq.band1_type cannot be automated", MIXSTAGE_EFORMAT},
    {H "'profiles': [{'name': 'final'}]}", "profiles[0].name: \"final\" is a built-in profile", MIXSTAGE_EFORMAT},
    {H "'profiles': [{'name': 'x', 'actions': {'mix-fx': 'loud'}}]}", "profiles[0].actions.mix-fx: \"loud\" is not one of", MIXSTAGE_EFORMAT},
    {H "'profiles': [{'name': 'x', 'actions': {'vocals': 'mute'}}]}", "profiles[0].actions.vocals: \"vocals\" is not a role", MIXSTAGE_EFORMAT},
    {H "'profiles': [{'name': 'x', 'base': 'y'}]}", "profiles[0].base: no profile named \"y\"", MIXSTAGE_EFORMAT},
    {H "'profiles': [{'name': 'x'}, {'name': 'x'}]}", "profiles[1].name: a profile named \"x\" is already defined", MIXSTAGE_EFORMAT},
    {H "'profiles': [{'name': 'x', 'stems': 'all'}]}", "profiles[0].stems: \"all\" is not one of \"none\"", MIXSTAGE_EFORMAT},
};

START_TEST(test_malformed_table) {
  int n = (int)(sizeof bad_files / sizeof bad_files[0]), failures = 0;
  ck_assert_int_ge(n, 30);
  for (int i = 0; i < n; i++) {
    char *j = unquote(bad_files[i].json), msg[1024] = "unset";
    int err = 12345;
    mixstage_graphfile *doc = mixstage_graphfile_load_string(j, ".", NULL, msg, sizeof msg, &err);
    if (!bad_files[i].expect) {
      if (!doc || err != MIXSTAGE_OK) {
        fprintf(stderr, "entry %d: expected success, got %d: %s\n", i, err, msg);
        failures++;
      }
    } else if (doc || err != bad_files[i].status || !strstr(msg, bad_files[i].expect)) {
      fprintf(stderr, "entry %d: %s\n  expected status %d with \"%s\"\n  got %d: \"%s\"\n", i, j,
              bad_files[i].status, bad_files[i].expect, err, msg);
      failures++;
    }
    mixstage_graphfile_destroy(doc);
    free(j);
  }
  ck_assert_int_eq(failures, 0);
}
END_TEST

/* Cycle messages carry the engine's description of the loop. */
START_TEST(test_cycle_message) {
  char *j = unquote(H "'buses': [{'name': 'G', 'output': 'H'}, {'name': 'H', 'output': 'G'}]}");
  char msg[1024];
  int err;
  ck_assert_ptr_null(mixstage_graph_load_string(j, NULL, NULL, msg, sizeof msg, &err));
  ck_assert_int_eq(err, MIXSTAGE_ECYCLE);
  ck_assert_msg(strstr(msg, "buses[0].output: ") || strstr(msg, "buses[1].output: "), "%s", msg);
  ck_assert_msg(strstr(msg, "G") && strstr(msg, "H"), "%s", msg);
  free(j);
}
END_TEST

START_TEST(test_missing_source) {
  make_tmpdir();
  char path[600], msg[1024];
  char *j = unquote(H "'strips': [" STRIP1 ", 'source': 'nothere.wav'}]}");
  snprintf(path, sizeof path, "%s/g.json", tmpdir);
  write_text(path, j);
  int err;
  mixstage_graph *g = mixstage_graph_load(path, NULL, msg, sizeof msg, &err);
  ck_assert_ptr_null(g);
  ck_assert_int_eq(err, MIXSTAGE_ENOTFOUND);
  /* The file name comes first, then the place in it. */
  ck_assert_msg(strncmp(msg, path, strlen(path)) == 0, "%s", msg);
  ck_assert_msg(strstr(msg, "strips[0].source: source file \"nothere.wav\" not found"), "%s", msg);
  /* A missing graph file. */
  snprintf(path, sizeof path, "%s/none.json", tmpdir);
  ck_assert_ptr_null(mixstage_graph_load(path, NULL, msg, sizeof msg, &err));
  ck_assert_int_eq(err, MIXSTAGE_ENOTFOUND);
  ck_assert_ptr_null(mixstage_graph_load(NULL, NULL, msg, sizeof msg, &err));
  ck_assert_int_eq(err, MIXSTAGE_ENULL);
  free(j);
  remove_tmpdir();
}
END_TEST

/* Files that are not regular files are refused at once (a FIFO would make
 * open() wait for a writer forever), and so is a graph file with bytes after
 * a NUL, which the JSON parser would otherwise silently ignore. */
START_TEST(test_special_files) {
  make_tmpdir();
  char path[600], fifo[600], msg[1024];
  int err;
  snprintf(fifo, sizeof fifo, "%s/pipe", tmpdir);
  ck_assert_int_eq(mkfifo(fifo, 0600), 0);
  ck_assert_ptr_null(mixstage_graph_load(fifo, NULL, msg, sizeof msg, &err));
  ck_assert_int_eq(err, MIXSTAGE_EIO);
  ck_assert_msg(strstr(msg, "not a regular file"), "%s", msg);
  /* A FIFO named as a strip's source. */
  char *j = unquote(H "'strips': [" STRIP1 ", 'source': 'pipe'}]}");
  snprintf(path, sizeof path, "%s/g.json", tmpdir);
  write_text(path, j);
  ck_assert_ptr_null(mixstage_graph_load(path, NULL, msg, sizeof msg, &err));
  ck_assert_msg(strstr(msg, "not a regular file"), "%s", msg);
  unlink(fifo);
  /* A NUL byte, then more text. */
  char *ok = unquote(H "'strips': []}");
  FILE *f = fopen(path, "wb");
  ck_assert_ptr_nonnull(f);
  fwrite(ok, 1, strlen(ok), f);
  fwrite("\0 trailing", 1, 10, f);
  fclose(f);
  ck_assert_ptr_null(mixstage_graph_load(path, NULL, msg, sizeof msg, &err));
  ck_assert_int_eq(err, MIXSTAGE_EFORMAT);
  ck_assert_msg(strstr(msg, "NUL byte"), "%s", msg);
  /* Without the trailing bytes the same text loads. */
  write_text(path, ok);
  mixstage_graph *g = mixstage_graph_load(path, NULL, msg, sizeof msg, &err);
  ck_assert_msg(g != NULL, "%s", msg);
  mixstage_graph_destroy(g);
  free(ok);
  free(j);
  remove_tmpdir();
}
END_TEST

/* Negative zero saves as 0, so save -> load -> save is a fixed point. */
START_TEST(test_negative_zero_round_trip) {
  int err;
  mixstage_graph *g = mixstage_graph_create(NULL, &err);
  mixstage_strip *s = mixstage_graph_add_strip(g, "A", 2, &err);
  ck_assert_int_eq(mixstage_strip_set_pan(s, -0.0), MIXSTAGE_OK);
  ck_assert_int_eq(mixstage_strip_set_fader_db(s, -0.0), MIXSTAGE_OK);
  char *t1 = mixstage_graph_to_string(g);
  ck_assert_ptr_nonnull(t1);
  ck_assert_msg(!strstr(t1, "-0,") && !strstr(t1, "-0\n"), "%s", t1);
  char msg[512];
  mixstage_graphfile *doc = mixstage_graphfile_load_string(t1, ".", NULL, msg, sizeof msg, &err);
  ck_assert_msg(doc != NULL, "%s", msg);
  char *t2 = mixstage_graphfile_to_string(doc);
  ck_assert_str_eq(t1, t2);
  free(t1);
  free(t2);
  mixstage_graphfile_destroy(doc);
  mixstage_graph_destroy(g);
}
END_TEST

/* Version 1 (the current one) loads; a newer version is refused clearly. */
START_TEST(test_versions) {
  char msg[1024];
  int err;
  char *j = unquote("{'format': 'mixstage-graph', 'version': 1, 'strips': [{'name': 'A', 'channels': 2}]}");
  mixstage_graph *g = mixstage_graph_load_string(j, NULL, NULL, msg, sizeof msg, &err);
  ck_assert_msg(g != NULL, "%s", msg);
  ck_assert_int_eq(mixstage_graph_strip_count(g), 1);
  ck_assert_int_eq(mixstage_strip_channels(mixstage_graph_strip(g, 0)), 2);
  /* Defaults: 48 kHz, 1024-frame blocks, 120 BPM. */
  ck_assert(mixstage_graph_sample_rate(g) == 48000.0 && mixstage_graph_max_block(g) == 1024 && mixstage_graph_tempo(g) == 120.0);
  mixstage_graph_destroy(g);
  free(j);
  j = unquote("{'format': 'mixstage-graph', 'version': 99, 'future_key': 1}");
  ck_assert_ptr_null(mixstage_graph_load_string(j, NULL, NULL, msg, sizeof msg, &err));
  ck_assert_int_eq(err, MIXSTAGE_EFORMAT);
  ck_assert_str_eq(msg, "version: 99 is newer than this library reads (versions 1 to 1): upgrade libmixstage");
  free(j);
}
END_TEST

/* Sources at another rate are converted to the graph's rate; an override
 * config replaces the file's rate. */
START_TEST(test_source_rate_and_override) {
  make_tmpdir();
  float *x = malloc(sizeof(float) * 4410);
  tu_sine(x, 4410, 1000.0, 44100.0, 0.5, 0.0);
  write_wav(tmpdir, "s44.wav", x, 4410, 1, 44100.0);
  free(x);
  char *j = unquote(H "'strips': [" STRIP1 ", 'source': 's44.wav'}]}"), msg[1024];
  int err;
  mixstage_graph *g = mixstage_graph_load_string(j, tmpdir, NULL, msg, sizeof msg, &err);
  ck_assert_msg(g != NULL, "%s", msg);
  /* 0.1 s at 48 kHz: round(4410 * 48000 / 44100) = 4800 frames. */
  ck_assert_int_eq(mixstage_strip_source_frames(mixstage_graph_strip(g, 0)), 4800);
  mixstage_graph_destroy(g);
  mixstage_graph_config cfg;
  mixstage_graph_config_init(&cfg);
  cfg.sample_rate = 96000;
  cfg.max_block_frames = 256;
  g = mixstage_graph_load_string(j, tmpdir, &cfg, msg, sizeof msg, &err);
  ck_assert_msg(g != NULL, "%s", msg);
  ck_assert(mixstage_graph_sample_rate(g) == 96000.0);
  ck_assert_int_eq(mixstage_graph_max_block(g), 256);
  ck_assert_int_eq(mixstage_strip_source_frames(mixstage_graph_strip(g, 0)), 9600);
  /* The 1 kHz tone survives conversion: amplitude 0.5 within 1 % (SRC
   * passband ripple is far smaller; the window edges cost the rest). */
  float *out;
  int64_t n = render(g, &out);
  ck_assert_int_ge(n, 9600);
  float *l = malloc(sizeof(float) * 4096);
  for (int i = 0; i < 4096; i++) l[i] = out[2 * (2000 + i)];
  double amp = tu_tone_amplitude(l, 4096, 1000.0, 96000.0);
  /* Centre pan of a mono strip on a stereo mix: -3 dB per side. */
  ck_assert_msg(fabs(amp - 0.5 * sqrt(0.5)) < 0.01 * 0.5, "amp %g", amp);
  free(l);
  free(out);
  mixstage_graph_destroy(g);
  free(j);
  remove_tmpdir();
}
END_TEST

/* Allocation failure at every site of the graph's allocator: the load fails
 * cleanly with MIXSTAGE_ENOMEM (no crash, nothing leaked under valgrind)
 * until the budget suffices, then succeeds. */
typedef struct budget {
  long left;
} budget;
static void *budget_alloc(void *user, size_t n) {
  budget *b = user;
  if (b->left <= 0) return NULL;
  b->left--;
  return malloc(n);
}
static void budget_free(void *user, void *p) {
  (void)user;
  free(p);
}

START_TEST(test_alloc_failure) {
  char *j = unquote(H "'buses': [{'name': 'V', 'kind': 'return', 'inserts': [{'type': 'delay'}]}], "
                      "'strips': [" STRIP1 ", 'inserts': [" CB "}, {'type': 'eq'}], 'sends': [{'to': 'V'}], "
                      "'lanes': {'fader': [{'frame': 0, 'value': 0}, {'frame': 100, 'value': -6}]}}]}");
  char msg[1024];
  int err = 0, ok = 0;
  long n;
  for (n = 0; n < 10000 && !ok; n++) {
    budget b = {n};
    mixstage_graph_config cfg;
    mixstage_graph_config_init(&cfg);
    cfg.alloc = budget_alloc;
    cfg.free = budget_free;
    cfg.alloc_user = &b;
    mixstage_graph *g = mixstage_graph_load_string(j, NULL, &cfg, msg, sizeof msg, &err);
    if (g) {
      ok = 1;
      mixstage_graph_destroy(g);
    } else {
      ck_assert_msg(err == MIXSTAGE_ENOMEM, "budget %ld: %d %s", n, err, msg);
    }
  }
  ck_assert_msg(ok, "never succeeded");
  ck_assert_int_gt(n, 3); /* the graph did allocate through the hook */
  fprintf(stderr, "alloc-failure: succeeded with %ld allocations\n", n - 1);
  free(j);
}
END_TEST

/* NULL and nonsense arguments are refused, never dereferenced. */
START_TEST(test_null_arguments) {
  int err = 0;
  char msg[64];
  ck_assert_ptr_null(mixstage_graphfile_load_string(NULL, NULL, NULL, msg, sizeof msg, &err));
  ck_assert_int_eq(err, MIXSTAGE_ENULL);
  ck_assert_ptr_null(mixstage_graphfile_load_string("{", NULL, NULL, NULL, 0, NULL));
  ck_assert_ptr_null(mixstage_graphfile_wrap(NULL, &err));
  ck_assert_int_eq(err, MIXSTAGE_ENULL);
  mixstage_graphfile_destroy(NULL);
  ck_assert_ptr_null(mixstage_graphfile_graph(NULL));
  ck_assert_ptr_null(mixstage_graphfile_release(NULL));
  ck_assert_int_eq(mixstage_graphfile_profile_count(NULL), 0);
  ck_assert_ptr_null(mixstage_graphfile_profile(NULL, 0));
  ck_assert_ptr_null(mixstage_graphfile_to_string(NULL));
  ck_assert_ptr_null(mixstage_graph_to_string(NULL));
  ck_assert_int_eq(mixstage_graph_save(NULL, "x.json", NULL, 0), MIXSTAGE_ENULL);
  ck_assert_int_eq(mixstage_graphfile_save(NULL, "x.json", NULL, 0), MIXSTAGE_ENULL);
  ck_assert_int_eq(mixstage_graphfile_add_profile(NULL, NULL, NULL), MIXSTAGE_ENULL);
  ck_assert_int_eq(mixstage_graphfile_set_source_path(NULL, "a", "b"), MIXSTAGE_ENULL);
  /* Saving into a missing directory is an I/O error with a message. */
  mixstage_graph *g = mixstage_graph_create(NULL, &err);
  ck_assert_int_eq(mixstage_graph_save(g, "no-such-dir/x.json", msg, sizeof msg), MIXSTAGE_EIO);
  ck_assert_ptr_nonnull(strstr(msg, "no-such-dir/x.json"));
  mixstage_graph_destroy(g);
}
END_TEST

static Suite *graphfile_suite(void) {
  Suite *s = suite_create("graphfile");
  TCase *tc = tcase_create("core");
  tcase_set_timeout(tc, 60);
  tcase_add_test(tc, test_canonical_round_trip);
  tcase_add_test(tc, test_code_built_round_trip);
  tcase_add_test(tc, test_getters);
  tcase_add_test(tc, test_code_built_graph_saves_completely);
  tcase_add_test(tc, test_last_error_is_fresh);
  tcase_add_test(tc, test_malformed_table);
  tcase_add_test(tc, test_cycle_message);
  tcase_add_test(tc, test_missing_source);
  tcase_add_test(tc, test_special_files);
  tcase_add_test(tc, test_negative_zero_round_trip);
  tcase_add_test(tc, test_versions);
  tcase_add_test(tc, test_source_rate_and_override);
  tcase_add_test(tc, test_alloc_failure);
  tcase_add_test(tc, test_null_arguments);
  suite_add_tcase(s, tc);
  return s;
}

int main(int argc, char **argv) {
  if (argc == 4 && strcmp(argv[1], "--canonicalize") == 0) {
    in_tool = 1;
    char dir[1024];
    snprintf(dir, sizeof dir, "%s", argv[2]);
    char *slash = strrchr(dir, '/');
    if (slash) *slash = 0;
    else snprintf(dir, sizeof dir, ".");
    write_demo_sources(dir);
    char msg[1024];
    int err;
    mixstage_graphfile *doc = mixstage_graphfile_load(argv[2], NULL, msg, sizeof msg, &err);
    if (!doc || mixstage_graphfile_save(doc, argv[3], msg, sizeof msg) != MIXSTAGE_OK) {
      fprintf(stderr, "%s\n", msg);
      return 1;
    }
    mixstage_graphfile_destroy(doc);
    return 0;
  }
  SRunner *sr = srunner_create(graphfile_suite());
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? 1 : 0;
}
