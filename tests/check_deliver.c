/* Delivery: profiles rendered to files and a manifest, measured on disk. */
#define _POSIX_C_SOURCE 200809L
#include <check.h>
#define _DEFAULT_SOURCE
#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <jansson.h>
#include <malloc.h>
#ifdef __SSE2__
#include <xmmintrin.h>
#endif
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include "mixstage.h"
#include "io_writer.h" /* mixstage__deliver_hold_memory() */
#include "testutil.h"

#define FS 48000.0
#define LEN 48000 /* 1 s of program: keeps the suite quick under valgrind */

/* The song of check_profiles.c, shortened: a kick keying a bass compressor,
 * a pad with a design reverb, a lead (last note ends at 0.5 s) sending to a
 * plate return, kick and hat in a Drums group, and the mix-bus stages
 * including a mastering limiter for the final profile. */
typedef struct song {
  mixstage_graph *g;
  float *src[5];
} song;

static void make_song(song *s) {
  memset(s, 0, sizeof *s);
  int err;
  s->g = mixstage_graph_create(NULL, &err);
  ck_assert_ptr_nonnull(s->g);
  mixstage_graph *g = s->g;
  tu_song_sources(s->src, LEN, FS, 0.5);
  mixstage_strip *st[5];
  tu_song_strips(g, s->src, LEN, st);
  mixstage_bus *drums = mixstage_graph_add_bus(g, "Drums", MIXSTAGE_BUS_GROUP, 2, &err);
  mixstage_bus *plate = mixstage_graph_add_bus(g, "Plate", MIXSTAGE_BUS_RETURN, 2, &err);
  mixstage_strip_set_output(st[0], drums);
  mixstage_strip_set_output(st[4], drums);
  mixstage_node *duck = mixstage_strip_insert(st[1], "compressor", MIXSTAGE_ROLE_STRIP, -1, &err);
  mixstage_node_set_param_by_name(duck, "threshold", -30.0);
  mixstage_node_set_param_by_name(duck, "ratio", 8.0);
  ck_assert_int_eq(mixstage_node_set_sidechain_strip(duck, st[0], MIXSTAGE_TAP_PRE_FADER), MIXSTAGE_OK);
  mixstage_node *rv = mixstage_strip_insert(st[2], "reverb", MIXSTAGE_ROLE_DESIGN, -1, &err);
  mixstage_node_set_param_by_name(rv, "mix", 30.0);
  mixstage_node_set_param_by_name(rv, "decay", 0.6);
  ck_assert_ptr_nonnull(mixstage_strip_add_send(st[3], plate, -6.0, MIXSTAGE_TAP_POST_FADER, MIXSTAGE_ROLE_MIX_FX, &err));
  mixstage_node *pl = mixstage_bus_insert(plate, "reverb", MIXSTAGE_ROLE_MIX_FX, -1, &err);
  mixstage_node_set_param_by_name(pl, "decay", 1.2);
  mixstage_node *gc = mixstage_bus_insert(drums, "compressor", MIXSTAGE_ROLE_STRIP, -1, &err);
  mixstage_node_set_param_by_name(gc, "threshold", -24.0);
  mixstage_bus *mix = mixstage_graph_mix_bus(g);
  ck_assert_ptr_nonnull(mixstage_bus_insert(mix, "console_color", MIXSTAGE_ROLE_BUS_COLOR, -1, &err));
  mixstage_node *bc = mixstage_bus_insert(mix, "bus_compressor", MIXSTAGE_ROLE_BUS_DYNAMICS, -1, &err);
  mixstage_node_set_param_by_name(bc, "threshold", -20.0);
  mixstage_node *lim = mixstage_bus_insert(mix, "limiter", MIXSTAGE_ROLE_PLACEHOLDER_LIMITER, -1, &err);
  mixstage_node_set_param_by_name(lim, "input_gain", 6.0);
  mixstage_node *ml = mixstage_bus_insert(mix, "limiter", MIXSTAGE_ROLE_MASTERING, -1, &err);
  ck_assert_ptr_nonnull(ml);
  mixstage_node_set_param_by_name(ml, "ceiling", -2.0);
}

static void free_song(song *s) {
  mixstage_graph_destroy(s->g);
  for (int k = 0; k < 5; k++) free(s->src[k]);
}

/* ---- file-system helpers ---------------------------------------------------- */

static char tmproot[256];

static void make_tmproot(void) {
  snprintf(tmproot, sizeof tmproot, "%s/check_deliver.XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
  ck_assert_ptr_nonnull(mkdtemp(tmproot));
}

static void rm_tree(const char *path) {
  DIR *d = opendir(path);
  if (d) {
    struct dirent *e;
    while ((e = readdir(d))) {
      if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
      char p[1024];
      snprintf(p, sizeof p, "%s/%s", path, e->d_name);
      rm_tree(p);
    }
    closedir(d);
    rmdir(path);
  } else {
    unlink(path);
  }
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* The directory's entries (hidden ones too), sorted, joined by '|'. */
static void listing(const char *dir, char *out, size_t size) {
  char *names[64];
  int n = 0;
  out[0] = 0;
  DIR *d = opendir(dir);
  if (!d) return;
  struct dirent *e;
  while ((e = readdir(d)) && n < 64)
    if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) names[n++] = strdup(e->d_name);
  closedir(d);
  qsort(names, (size_t)n, sizeof *names, cmp_str);
  for (int i = 0; i < n; i++) {
    size_t l = strlen(out);
    snprintf(out + l, size - l, "%s%s", i ? "|" : "", names[i]);
    free(names[i]);
  }
}

static json_t *load_manifest(const char *dir) {
  char p[512];
  snprintf(p, sizeof p, "%s/manifest.json", dir);
  json_error_t je;
  json_t *root = json_load_file(p, 0, &je);
  ck_assert_msg(root != NULL, "manifest %s: %s (line %d)", p, je.text, je.line);
  return root;
}

/* ---- tests ------------------------------------------------------------------ */

/* A saturated Drums group: the null check fails, so no stem may claim to
 * add up; the stems through the group name the saturation, the others say
 * the set does not add up and name it too. */
START_TEST(test_manifest_agrees_with_null_check) {
  song s;
  make_song(&s);
  int err;
  mixstage_bus *drums = mixstage_graph_find_bus(s.g, "Drums");
  mixstage_node *sat = mixstage_bus_insert(drums, "saturation", MIXSTAGE_ROLE_STRIP, -1, &err);
  ck_assert_ptr_nonnull(sat);
  mixstage_node_set_param_by_name(sat, "drive", 18.0);
  make_tmproot();
  char dir[512];
  snprintf(dir, sizeof dir, "%s/stems", tmproot);
  double residual = 0;
  mixstage_deliver_config cfg;
  mixstage_deliver_config_init(&cfg);
  cfg.null_residual_out = &residual;
  ck_assert_int_eq(mixstage_graph_deliver(s.g, mixstage_profile_find("mix-stems"), dir, &cfg), MIXSTAGE_OK);
  ck_assert_msg(residual > -100.0, "residual %.1f", residual);
  json_t *m = load_manifest(dir);
  size_t i;
  json_t *f;
  int stems = 0, through = 0, set = 0;
  json_array_foreach(json_object_get(m, "files"), i, f) {
    const char *kind = json_string_value(json_object_get(f, "kind"));
    if (strcmp(kind, "stem") && strcmp(kind, "fx-return")) continue;
    stems++;
    ck_assert_msg(json_is_false(json_object_get(f, "adds_up")), "%s claims to add up",
                  json_string_value(json_object_get(f, "path")));
    const char *note = json_string_value(json_object_get(f, "adds_up_note"));
    ck_assert_ptr_nonnull(note);
    ck_assert_msg(strstr(note, "(saturation)"), "%s", note);
    if (strstr(note, "as a set")) set++;
    else through++;
  }
  ck_assert_int_eq(stems, 6);   /* five strips and the Plate */
  ck_assert_int_eq(through, 2); /* Kick and Hat, in the Drums group */
  ck_assert_int_eq(set, 4);
  json_decref(m);
  rm_tree(tmproot);
  free_song(&s);
}
END_TEST

START_TEST(test_file_names) {
  char b[64];
  ck_assert_int_eq(mixstage_deliver_file_name("Vox/Lead: take 2", "wav", b, sizeof b), MIXSTAGE_OK);
  ck_assert_str_eq(b, "Vox_Lead_ take 2.wav");
  mixstage_deliver_file_name("..", "wav", b, sizeof b);
  ck_assert_str_eq(b, "__.wav");
  mixstage_deliver_file_name(".hidden ", "flac", b, sizeof b);
  ck_assert_str_eq(b, "_hidden_.flac");
  mixstage_deliver_file_name("", "wav", b, sizeof b);
  ck_assert_str_eq(b, "output.wav");
  mixstage_deliver_file_name("con", "wav", b, sizeof b);
  ck_assert_str_eq(b, "_con.wav");
  mixstage_deliver_file_name("Bass\tDI\n", "aiff", b, sizeof b);
  ck_assert_str_eq(b, "Bass_DI_.aiff");
  mixstage_deliver_file_name("Gesang \xc3\x84", "wav", b, sizeof b); /* UTF-8 kept */
  ck_assert_str_eq(b, "Gesang \xc3\x84.wav");
  ck_assert_int_eq(mixstage_deliver_file_name("Kick", "wav", b, 5), MIXSTAGE_ERANGE);
  ck_assert_int_eq(mixstage_deliver_file_name(NULL, "wav", b, sizeof b), MIXSTAGE_ENULL);
}
END_TEST

/* The three built-in profiles, float32 so that the files can be compared
 * with the bounce bit for bit. */
START_TEST(test_three_profiles) {
  song s;
  make_song(&s);
  make_tmproot();
  mixstage_deliver_config cfg;
  mixstage_deliver_config_init(&cfg);
  cfg.write.sample_type = MIXSTAGE_SAMPLE_FLOAT32;
  cfg.render.max_tail_frames = (int64_t)(10 * FS);
  ck_assert_int_eq(mixstage_graph_prepare(s.g), MIXSTAGE_OK);
  int latency = mixstage_graph_latency(s.g);
  ck_assert_int_gt(latency, 0); /* the limiters' lookahead */
  const char *want[3] = {
      "manifest.json|mix.wav",
      "Bass.wav|Hat.wav|Kick.wav|Lead.wav|Pad.wav|Plate.wav|manifest.json|reference.wav",
      "manifest.json|mix.wav",
  };
  static const char *const file_keys[] = {
      "path", "kind", "profile", "format", "sample_type", "sample_rate", "channels", "frames", "seconds",
      "latency_removed_frames", "roles", "peak_dbfs", "true_peak_dbtp", "integrated_lufs", "checksum", "name",
      "adds_up", "dither"};
  static const char *const top_keys[] = {"profile", "profile_actions", "stems", "fx_stems", "graph_sample_rate",
                                         "graph_frames", "program_frames", "tail_frames", "tail_threshold_dbfs",
                                         "tail_truncated", "latency_removed_frames", "null_check_residual_dbfs",
                                         "files"};
  for (int pi = 0; pi < 3; pi++) {
    const mixstage_profile *p = mixstage_profile_builtin(pi);
    char dir[512], list[2048];
    snprintf(dir, sizeof dir, "%s/%s", tmproot, mixstage_profile_name(p));
    int rc = mixstage_graph_deliver(s.g, p, dir, &cfg);
    ck_assert_msg(rc == MIXSTAGE_OK, "%s: %s", mixstage_err_name(rc), mixstage_graph_last_error(s.g));
    listing(dir, list, sizeof list);
    ck_assert_str_eq(list, want[pi]);

    json_t *man = load_manifest(dir);
    for (size_t k = 0; k < sizeof top_keys / sizeof *top_keys; k++)
      ck_assert_msg(json_object_get(man, top_keys[k]) != NULL, "manifest lacks %s", top_keys[k]);
    ck_assert_str_eq(json_string_value(json_object_get(man, "profile")), mixstage_profile_name(p));
    int64_t frames = json_integer_value(json_object_get(man, "graph_frames"));
    int64_t program = json_integer_value(json_object_get(man, "program_frames"));
    ck_assert_int_eq(program, LEN);
    json_t *res = json_object_get(man, "null_check_residual_dbfs");
    if (pi == 1) {
      /* the stem rules' bound (check_profiles.c explains the -100 dBFS) */
      ck_assert_msg(json_is_number(res) && json_number_value(res) < -100.0, "residual %g",
                    json_number_value(res));
    } else {
      ck_assert(json_is_null(res));
    }

    /* Every file: its entry has every field, its length is the common one,
     * its checksum is the one on disk, and its samples are the bounce's. */
    mixstage_render_config rc_b = cfg.render;
    int err;
    mixstage_bounce *b = mixstage_graph_bounce(s.g, p, &rc_b, &err);
    ck_assert_ptr_nonnull(b);
    json_t *files = json_object_get(man, "files");
    ck_assert_int_eq((int)json_array_size(files), mixstage_bounce_count(b));
    ck_assert_int_le(frames, mixstage_bounce_frames(b));
    size_t i;
    json_t *f;
    json_array_foreach(files, i, f) {
      for (size_t k = 0; k < sizeof file_keys / sizeof *file_keys; k++)
        ck_assert_msg(json_object_get(f, file_keys[k]) != NULL, "entry %zu lacks %s", i, file_keys[k]);
      ck_assert_int_eq(json_integer_value(json_object_get(f, "latency_removed_frames")), latency);
      ck_assert_int_eq(json_integer_value(json_object_get(f, "frames")), frames);
      const char *name = json_string_value(json_object_get(f, "name"));
      int bi = mixstage_bounce_find(b, name);
      ck_assert_int_ge(bi, 0);
      char path[1024];
      snprintf(path, sizeof path, "%s/%s", dir, json_string_value(json_object_get(f, "path")));
      mixstage_file_stats st;
      ck_assert_int_eq(mixstage_measure_file(path, &st, NULL, 0), MIXSTAGE_OK);
      ck_assert_int_eq(st.frames, frames);
      char sum[40];
      snprintf(sum, sizeof sum, "fnv1a64:%016llx", (unsigned long long)st.checksum);
      ck_assert_str_eq(json_string_value(json_object_get(f, "checksum")), sum);
      float *x;
      int64_t n;
      int ch;
      ck_assert_int_eq(mixstage_audio_read(path, 0, &x, &n, &ch, NULL, NULL, 0), MIXSTAGE_OK);
      ck_assert_int_eq(ch, 2);
      ck_assert_msg(memcmp(x, mixstage_bounce_data(b, bi), sizeof(float) * 2 * (size_t)n) == 0,
                    "%s differs from the bounce", path);
      mixstage_free(x);
      /* roles: the reference is the production mix, the stems mute mix-fx */
      json_t *roles = json_object_get(f, "roles");
      const char *kind = json_string_value(json_object_get(f, "kind"));
      json_t *muted = json_object_get(roles, "mute");
      if (!strcmp(kind, "stem")) {
        ck_assert_int_eq((int)json_array_size(muted), 1);
        ck_assert_str_eq(json_string_value(json_array_get(muted, 0)), "mix-fx");
      } else {
        ck_assert_int_eq((int)json_array_size(muted), 0);
      }
    }

    if (pi == 1) {
      /* Tails: the plate (decay 1.2 s after the lead's last note at 0.5 s)
       * runs past the program; the files keep it until every output has
       * stayed under -90 dBFS for 100 ms, and not a frame longer. */
      int64_t win = (int64_t)(0.1 * FS), nb = mixstage_bounce_frames(b);
      ck_assert_int_gt(frames, program + win);
      ck_assert_int_lt(frames, nb); /* trimmed: shorter than program + the reverbs' own tail estimate */
      ck_assert_int_lt(frames, program + cfg.render.max_tail_frames);
      double last_win = -999, before = -999, beyond = -999;
      for (int k = 0; k < mixstage_bounce_count(b); k++) {
        const float *x = mixstage_bounce_data(b, k);
        last_win = fmax(last_win, tu_db(tu_peak(x + 2 * (frames - win), 2 * win)));
        before = fmax(before, tu_db(tu_peak(x + 2 * (frames - win - 480), 2 * 480)));
        beyond = fmax(beyond, tu_db(tu_peak(x + 2 * frames, 2 * (nb - frames))));
      }
      ck_assert_msg(last_win < -90.0, "last 100 ms at %.1f dBFS", last_win);
      ck_assert_msg(before >= -90.0, "tail cut early: the 10 ms before the last 100 ms at %.1f dBFS", before);
      ck_assert_msg(beyond < -90.0, "trimmed audio above the threshold: %.1f dBFS", beyond);
      ck_assert(json_is_false(json_object_get(man, "tail_truncated")));
    }
    mixstage_bounce_destroy(b);
    json_decref(man);
  }
  rm_tree(tmproot);
  free_song(&s);
}
END_TEST

/* A directory that is a file: refused before rendering, naming the path. */
START_TEST(test_not_a_directory) {
  song s;
  make_song(&s);
  make_tmproot();
  char path[512];
  snprintf(path, sizeof path, "%s/plain-file", tmproot);
  FILE *fp = fopen(path, "w");
  ck_assert_ptr_nonnull(fp);
  fputs("x", fp);
  fclose(fp);
  int rc = mixstage_graph_deliver(s.g, mixstage_profile_find("production"), path, NULL);
  ck_assert_int_eq(rc, MIXSTAGE_EIO);
  ck_assert_msg(strstr(mixstage_graph_last_error(s.g), path) != NULL, "message: %s", mixstage_graph_last_error(s.g));
  char sub[600];
  snprintf(sub, sizeof sub, "%s/below", path);
  ck_assert_int_eq(mixstage_graph_deliver(s.g, mixstage_profile_find("production"), sub, NULL), MIXSTAGE_EIO);
  ck_assert_int_eq(mixstage_graph_deliver(s.g, NULL, tmproot, NULL), MIXSTAGE_ENULL);
  ck_assert_int_eq(mixstage_graph_deliver(NULL, mixstage_profile_find("production"), tmproot, NULL), MIXSTAGE_ENULL);
  mixstage_deliver_config cfg;
  mixstage_deliver_config_init(&cfg);
  cfg.write.format = MIXSTAGE_FORMAT_FLAC;
  cfg.write.sample_type = MIXSTAGE_SAMPLE_FLOAT32;
  ck_assert_int_eq(mixstage_graph_deliver(s.g, mixstage_profile_find("production"), tmproot, &cfg), MIXSTAGE_EFORMAT);
  mixstage_deliver_config_init(&cfg);
  cfg.tail_threshold_db = NAN;
  ck_assert_int_eq(mixstage_graph_deliver(s.g, mixstage_profile_find("production"), tmproot, &cfg), MIXSTAGE_EINVAL);
  rm_tree(tmproot);
  free_song(&s);
}
END_TEST

typedef struct cancel_at {
  double fraction;
  int64_t last_done, total;
  int calls, monotonic;
} cancel_at;

static int cancel_cb(void *user, int64_t done, int64_t total) {
  cancel_at *c = user;
  if (done < c->last_done || (c->total && total != c->total)) c->monotonic = 0;
  c->last_done = done;
  c->total = total;
  c->calls++;
  return c->fraction > 0 && (double)done >= c->fraction * (double)total;
}

static void checksums(const char *dir, const char *const *names, uint64_t *sums) {
  for (int i = 0; names[i]; i++) {
    char p[600];
    snprintf(p, sizeof p, "%s/%s", dir, names[i]);
    /* FNV-1a of the bytes: covers headers and the manifest too */
    FILE *fp = fopen(p, "rb");
    ck_assert_ptr_nonnull(fp);
    uint64_t h = 0xcbf29ce484222325ull;
    int ch;
    while ((ch = fgetc(fp)) != EOF) h = (h ^ (unsigned char)ch) * 0x100000001b3ull;
    fclose(fp);
    sums[i] = h;
  }
}

/* Cancelled deliveries, during the render and while files are written,
 * leave the directory exactly as it was; a completed one reports progress
 * monotonically up to its total. */
START_TEST(test_cancel_leaves_nothing) {
  song s;
  make_song(&s);
  make_tmproot();
  char fresh[512], prev[512], before[2048], after[2048];
  snprintf(fresh, sizeof fresh, "%s/fresh", tmproot);
  snprintf(prev, sizeof prev, "%s/prev", tmproot);
  mixstage_deliver_config cfg;
  mixstage_deliver_config_init(&cfg);
  cancel_at c = {0, 0, 0, 0, 1};
  cfg.render.progress = cancel_cb;
  cfg.render.progress_user = &c;
  /* a previous good delivery (production: mix.wav) */
  ck_assert_int_eq(mixstage_graph_deliver(s.g, mixstage_profile_find("production"), prev, &cfg), MIXSTAGE_OK);
  ck_assert(c.monotonic);
  ck_assert_int_eq(c.last_done, c.total);
  ck_assert_int_gt(c.calls, 3);
  /* the mix-stems delivery writes mix.wav? no: reference.wav and stems; so
   * deliver production-like names too: a custom profile with the mix */
  int err;
  mixstage_profile *both = mixstage_profile_create("stems-and-mix", mixstage_profile_find("mix-stems"), &err);
  ck_assert_int_eq(mixstage_profile_set_mix(both, 1), MIXSTAGE_OK);
  const char *names[] = {"mix.wav", "manifest.json", NULL};
  uint64_t sum0[2], sum1[2];
  checksums(prev, names, sum0);
  listing(prev, before, sizeof before);
  /* 0.5: in the render; 0.8 of (3 passes + writing) = in the writing phase */
  const double at[2] = {0.5, 0.8};
  for (int k = 0; k < 2; k++) {
    c = (cancel_at){at[k], 0, 0, 0, 1};
    ck_assert_int_eq(mixstage_graph_deliver(s.g, both, fresh, &cfg), MIXSTAGE_ECANCELLED);
    listing(fresh, after, sizeof after);
    ck_assert_msg(after[0] == 0, "cancelled at %.1f left: %s", at[k], after);
    c = (cancel_at){at[k], 0, 0, 0, 1};
    ck_assert_int_eq(mixstage_graph_deliver(s.g, both, prev, &cfg), MIXSTAGE_ECANCELLED);
    listing(prev, after, sizeof after);
    ck_assert_str_eq(after, before);
    checksums(prev, names, sum1);
    ck_assert(sum0[0] == sum1[0] && sum0[1] == sum1[1]);
  }
  /* and a completed one replaces them */
  c = (cancel_at){0, 0, 0, 0, 1};
  ck_assert_int_eq(mixstage_graph_deliver(s.g, both, prev, &cfg), MIXSTAGE_OK);
  checksums(prev, names, sum1);
  ck_assert(sum0[0] != sum1[0]); /* the stems profile's mix has no bus dynamics */
  listing(prev, after, sizeof after);
  ck_assert_msg(strstr(after, ".part") == NULL && strstr(after, ".tmp") == NULL && strstr(after, ".old") == NULL,
                "left over: %s", after);
  mixstage_profile_destroy(both);
  rm_tree(tmproot);
  free_song(&s);
}
END_TEST

/* 48 kHz graph, 44.1 kHz files: the length scales by 44100/48000. */
START_TEST(test_output_rate) {
  song s;
  make_song(&s);
  make_tmproot();
  mixstage_deliver_config cfg;
  mixstage_deliver_config_init(&cfg);
  cfg.write.output_rate = 44100.0;
  ck_assert_int_eq(mixstage_graph_deliver(s.g, mixstage_profile_find("production"), tmproot, &cfg), MIXSTAGE_OK);
  json_t *man = load_manifest(tmproot);
  int64_t gf = json_integer_value(json_object_get(man, "graph_frames"));
  json_t *f = json_array_get(json_object_get(man, "files"), 0);
  char p[600];
  snprintf(p, sizeof p, "%s/mix.wav", tmproot);
  mixstage_file_stats st;
  ck_assert_int_eq(mixstage_measure_file(p, &st, NULL, 0), MIXSTAGE_OK);
  ck_assert(st.sample_rate == 44100.0);
  ck_assert_int_eq(json_integer_value(json_object_get(f, "frames")), st.frames);
  /* one frame of rounding at most */
  double want = (double)gf * 44100.0 / 48000.0;
  ck_assert_msg(fabs((double)st.frames - want) <= 1.0, "%lld frames for %.1f", (long long)st.frames, want);
  json_decref(man);
  rm_tree(tmproot);
  free_song(&s);
}
END_TEST

/* 16-bit with TPDF dither: read back, the error against the float bounce is
 * within 1.5 LSB (+-1 LSB of triangular dither plus 0.5 of rounding) and its
 * RMS is 0.5 LSB (variance 1/6 + 1/12 LSB^2); undithered rounding would read
 * 0.29 LSB, so the test sees whether dither is applied.  The stems' dither
 * is uncorrelated (own seeds): |correlation| of two stems' errors < 0.02
 * (3 sigma for ~1e5 samples is 0.01). */
START_TEST(test_pcm16_dither) {
  song s;
  make_song(&s);
  make_tmproot();
  mixstage_deliver_config cfg;
  mixstage_deliver_config_init(&cfg);
  cfg.write.sample_type = MIXSTAGE_SAMPLE_PCM16;
  cfg.null_check = 0;
  const mixstage_profile *p = mixstage_profile_find("mix-stems");
  ck_assert_int_eq(mixstage_graph_deliver(s.g, p, tmproot, &cfg), MIXSTAGE_OK);
  json_t *man = load_manifest(tmproot);
  ck_assert(json_is_null(json_object_get(man, "null_check_residual_dbfs")));
  json_decref(man);
  int err;
  mixstage_bounce *b = mixstage_graph_bounce(s.g, p, &cfg.render, &err);
  ck_assert_ptr_nonnull(b);
  const char *names[2] = {"Bass", "Pad"};
  double *e[2] = {NULL, NULL};
  int64_t n = 0;
  for (int k = 0; k < 2; k++) {
    char path[600];
    snprintf(path, sizeof path, "%s/%s.wav", tmproot, names[k]);
    float *x;
    int ch;
    ck_assert_int_eq(mixstage_audio_read(path, 0, &x, &n, &ch, NULL, NULL, 0), MIXSTAGE_OK);
    const float *ref = mixstage_bounce_data(b, mixstage_bounce_find(b, names[k]));
    e[k] = malloc(sizeof(double) * 2 * (size_t)n);
    double mx = 0, ss = 0;
    for (int64_t i = 0; i < 2 * n; i++) {
      e[k][i] = ((double)x[i] - (double)ref[i]) * 32768.0;
      mx = fmax(mx, fabs(e[k][i]));
      ss += e[k][i] * e[k][i];
    }
    double rms = sqrt(ss / (2.0 * (double)n));
    ck_assert_msg(mx <= 1.5 + 1e-3, "%s: error %.3f LSB", names[k], mx);
    ck_assert_msg(rms > 0.45 && rms < 0.55, "%s: error RMS %.3f LSB", names[k], rms);
    mixstage_free(x);
  }
  double sxy = 0, sxx = 0, syy = 0;
  for (int64_t i = 0; i < 2 * n; i++) {
    sxy += e[0][i] * e[1][i];
    sxx += e[0][i] * e[0][i];
    syy += e[1][i] * e[1][i];
  }
  double corr = sxy / sqrt(sxx * syy);
  ck_assert_msg(fabs(corr) < 0.02, "dither correlated across stems: %.3f", corr);
  free(e[0]);
  free(e[1]);
  mixstage_bounce_destroy(b);
  rm_tree(tmproot);
  free_song(&s);
}
END_TEST

/* Names that collide on a case-insensitive volume get a number. */
START_TEST(test_name_collisions) {
  int err;
  mixstage_graph *g = mixstage_graph_create(NULL, &err);
  float x[4800];
  tu_sine(x, 4800, 440.0, FS, 0.1, 0.0);
  const char *names[] = {"Kick", "kick", "Vox/Lead", "mix"};
  for (int k = 0; k < 4; k++) {
    mixstage_strip *st = mixstage_graph_add_strip(g, names[k], 1, &err);
    ck_assert_ptr_nonnull(st);
    mixstage_strip_set_source_buffer(st, x, 1, 4800, 1);
  }
  mixstage_profile *p = mixstage_profile_create("stems+mix", mixstage_profile_find("mix-stems"), &err);
  mixstage_profile_set_mix(p, 1);
  make_tmproot();
  ck_assert_int_eq(mixstage_graph_deliver(g, p, tmproot, NULL), MIXSTAGE_OK);
  char list[1024];
  listing(tmproot, list, sizeof list);
  ck_assert_str_eq(list, "Kick.wav|Vox_Lead.wav|kick 2.wav|manifest.json|mix 2.wav|mix.wav|reference.wav");
  rm_tree(tmproot);
  mixstage_profile_destroy(p);
  mixstage_graph_destroy(g);
}
END_TEST

/* The reserved outputs keep their names: strips called "reference" and
 * "mix" give way, and a file delivered over a symbolic link replaces the
 * link with a file of the usual mode (never the link's 0777). */
START_TEST(test_reserved_names_and_links) {
  int err;
  mixstage_graph *g = mixstage_graph_create(NULL, &err);
  float x[4800];
  tu_sine(x, 4800, 440.0, FS, 0.1, 0.0);
  const char *names[] = {"reference", "mix"};
  for (int k = 0; k < 2; k++) {
    mixstage_strip *st = mixstage_graph_add_strip(g, names[k], 1, &err);
    ck_assert_ptr_nonnull(st);
    mixstage_strip_set_source_buffer(st, x, 1, 4800, 1);
  }
  mixstage_profile *p = mixstage_profile_create("stems+mix", mixstage_profile_find("mix-stems"), &err);
  mixstage_profile_set_mix(p, 1);
  make_tmproot();
  char target[512], link_path[512];
  snprintf(target, sizeof target, "%s/private.txt", tmproot);
  FILE *f = fopen(target, "w");
  ck_assert_ptr_nonnull(f);
  fputs("not audio\n", f);
  fclose(f);
  ck_assert_int_eq(chmod(target, 0600), 0);
  snprintf(link_path, sizeof link_path, "%s/mix.wav", tmproot);
  ck_assert_int_eq(symlink(target, link_path), 0);
  mode_t um = umask(022);
  ck_assert_int_eq(mixstage_graph_deliver(g, p, tmproot, NULL), MIXSTAGE_OK);
  umask(um);
  char list[1024];
  listing(tmproot, list, sizeof list);
  ck_assert_str_eq(list, "manifest.json|mix 2.wav|mix.wav|private.txt|reference 2.wav|reference.wav");
  json_t *man = load_manifest(tmproot);
  json_t *files = json_object_get(man, "files");
  int checked = 0;
  for (size_t i = 0; i < json_array_size(files); i++) {
    json_t *e = json_array_get(files, i);
    const char *path = json_string_value(json_object_get(e, "path"));
    const char *kind = json_string_value(json_object_get(e, "kind"));
    if (strcmp(path, "reference.wav") == 0) { ck_assert_str_eq(kind, "reference"); checked++; }
    if (strcmp(path, "mix.wav") == 0) { ck_assert_str_eq(kind, "mix"); checked++; }
    if (strcmp(path, "reference 2.wav") == 0 || strcmp(path, "mix 2.wav") == 0) {
      ck_assert_str_eq(kind, "stem");
      checked++;
    }
  }
  ck_assert_int_eq(checked, 4);
  json_decref(man);
  struct stat sb;
  ck_assert_int_eq(lstat(link_path, &sb), 0);
  ck_assert_msg(S_ISREG(sb.st_mode), "mix.wav is still a link");
  ck_assert_int_eq(sb.st_mode & 07777, 0644);
  ck_assert_int_eq(stat(target, &sb), 0);
  ck_assert_int_eq(sb.st_mode & 07777, 0600); /* the link's target is untouched */
  ck_assert_int_eq(sb.st_size, 10);
  rm_tree(tmproot);
  mixstage_profile_destroy(p);
  mixstage_graph_destroy(g);
}
END_TEST

/* ---- one streaming pass against the buffered delivery it replaced -------------- */

static uint64_t fnv1a_str(const char *s) {
  uint64_t h = 0xcbf29ce484222325ull;
  for (; *s; s++) h = (h ^ (unsigned char)*s) * 0x100000001b3ull;
  return h;
}

/* The delivery's length as the buffered delivery computed it: the last
 * frame at or above the threshold in any output, plus the window, at least
 * the program, at most the bounce. */
static int64_t trimmed(const mixstage_bounce *b, int64_t program, double thr_db, int64_t window) {
  int64_t frames = mixstage_bounce_frames(b), last = -1;
  int ch = mixstage_bounce_channels(b);
  float thr = (float)pow(10.0, thr_db / 20.0);
  for (int i = 0; i < mixstage_bounce_count(b); i++) {
    const float *x = mixstage_bounce_data(b, i);
    for (int64_t f = frames - 1; f > last; f--) {
      int loud = 0;
      for (int c = 0; c < ch; c++) loud |= fabsf(x[f * ch + c]) >= thr;
      if (loud) {
        last = f;
        break;
      }
    }
  }
  int64_t end = last + 1 + window;
  if (end < program) end = program;
  return end > frames ? frames : end;
}

static int same_bytes(const char *a, const char *b) {
  FILE *fa = fopen(a, "rb"), *fb = fopen(b, "rb");
  int same = fa && fb;
  while (same) {
    int x = fgetc(fa), y = fgetc(fb);
    if (x != y) same = 0;
    if (x == EOF || y == EOF) break;
  }
  if (fa) fclose(fa);
  if (fb) fclose(fb);
  return same;
}

/* Heap in use while a delivery renders: the lowest reading from `from` on
 * and the highest after it. */
typedef struct heap_watch {
  int64_t from;
  size_t at_from, most;
  int seen;
} heap_watch;

static int watch_heap(void *user, int64_t done, int64_t total) {
  (void)total;
  heap_watch *h = user;
  if (done < h->from) return 0;
  struct mallinfo2 mi = mallinfo2();
  size_t now = mi.uordblks + mi.hblkhd; /* large blocks are mmapped: hblkhd */
  if (!h->seen++) h->at_from = now;
  if (now > h->most) h->most = now;
  return 0;
}

/* A delivery with a rate conversion streams.  (a) Its files are byte for
 * byte mixstage_audio_write()'s of the trimmed bounce at the output rate
 * (the converter fed in pieces gives what it gives fed whole), with a held
 * tail that goes through the spill file (16 frames in memory), and denormal
 * converted samples kept.  (b) The
 * heap does not grow with the length: over the last 9 s of a 12 s delivery
 * it grows by less than 64 KiB, where keeping the outputs whole (as before)
 * adds 48000 * 8 bytes a second of every output (the old code grew by
 * 6 MiB here, its held buffers doubling).  glibc's
 * counters read nothing under AddressSanitizer: there (b) runs 3 s, for the
 * sanitizer to watch the paths, without the bound. */
START_TEST(test_output_rate_streams) {
  song s;
  make_song(&s);
  make_tmproot();
  const mixstage_profile *p = mixstage_profile_find("mix-stems");
  mixstage_deliver_config cfg;
  mixstage_deliver_config_init(&cfg);
  cfg.tail_window_seconds = 0.35;
  cfg.tail_threshold_db = -70.0;
  cfg.write.output_rate = 44100.0;
  char out[512], ref[600], a[700];
  int err;
  mixstage_bounce *b = mixstage_graph_bounce(s.g, p, &cfg.render, &err);
  ck_assert_ptr_nonnull(b);
  mixstage_render_config nt = cfg.render;
  nt.max_tail_frames = 0;
  int64_t program = mixstage_graph_render_frames(s.g, &nt);
  int64_t frames = trimmed(b, program, cfg.tail_threshold_db, llround(cfg.tail_window_seconds * FS));
  ck_assert_int_gt(frames, program + 16); /* a held tail, mostly spilled */
  /* PCM24 compared byte for byte; float32 by the samples' checksum (a float
   * WAV's PEAK chunk carries the time of writing). */
  for (int ft = 0; ft < 2; ft++) {
    if (ft) cfg.write.sample_type = MIXSTAGE_SAMPLE_FLOAT32;
    snprintf(out, sizeof out, "%s/rate%d", tmproot, ft);
    mixstage__deliver_hold_memory(16);
    ck_assert_int_eq(mixstage_graph_deliver(s.g, p, out, &cfg), MIXSTAGE_OK);
    mixstage__deliver_hold_memory(-1);
    json_t *man = load_manifest(out);
    json_t *files = json_object_get(man, "files");
    ck_assert_int_eq((int)json_array_size(files), mixstage_bounce_count(b));
    for (int i = 0; i < mixstage_bounce_count(b); i++) {
      json_t *f = json_array_get(files, (size_t)i);
      const char *path = json_string_value(json_object_get(f, "path"));
      mixstage_write_config w = cfg.write;
      w.dither_seed ^= fnv1a_str(path);
      snprintf(ref, sizeof ref, "%s/ref-%s", tmproot, path);
      mixstage_file_stats st;
      ck_assert_int_eq(mixstage_audio_write(ref, mixstage_bounce_data(b, i), frames, 2, FS, &w, &st, NULL, 0),
                       MIXSTAGE_OK);
      snprintf(a, sizeof a, "%s/%s", out, path);
      char sum[40];
      snprintf(sum, sizeof sum, "fnv1a64:%016llx", (unsigned long long)st.checksum);
      ck_assert_str_eq(json_string_value(json_object_get(f, "checksum")), sum);
      ck_assert_int_eq(json_integer_value(json_object_get(f, "frames")), st.frames);
      if (!ft) ck_assert_msg(same_bytes(a, ref), "%s differs from the whole output converted and written", a);
      unlink(ref);
    }
    json_decref(man);
  }
  mixstage_bounce_destroy(b);
  free_song(&s);

  /* Noise just above the smallest normal float: the converted samples are
   * often denormal; the converter keeps them even when the thread that
   * delivers flushes denormals (the file does not depend on the caller's
   * floating-point mode). */
  {
    const int64_t n = 4800;
    float *tiny = malloc(sizeof(float) * 2 * (size_t)n);
    ck_assert_ptr_nonnull(tiny);
    tu_noise(tiny, 2 * n, 1.0, 17);
    for (int64_t q = 0; q < 2 * n; q++) tiny[q] *= 4e-38f;
    mixstage_graph *tg = mixstage_graph_create(NULL, &err);
    ck_assert_ptr_nonnull(tg);
    mixstage_strip *ts = mixstage_graph_add_strip(tg, "Tiny", 2, &err);
    ck_assert_int_eq(mixstage_strip_set_source_buffer(ts, tiny, 2, n, 0), MIXSTAGE_OK);
    const mixstage_profile *prod = mixstage_profile_find("production");
    mixstage_deliver_config tc;
    mixstage_deliver_config_init(&tc);
    tc.write.output_rate = 44100.0;
    tc.write.sample_type = MIXSTAGE_SAMPLE_FLOAT32;
    snprintf(out, sizeof out, "%s/tiny", tmproot);
#ifdef __SSE2__
    const unsigned int csr = _mm_getcsr();
    _mm_setcsr(csr | 0x8040u); /* a caller flushing denormals (FTZ, DAZ), like the render's threads */
#endif
    ck_assert_int_eq(mixstage_graph_deliver(tg, prod, out, &tc), MIXSTAGE_OK);
#ifdef __SSE2__
    _mm_setcsr(csr);
#endif
    mixstage_bounce *tb = mixstage_graph_bounce(tg, prod, &tc.render, &err);
    ck_assert_ptr_nonnull(tb);
    json_t *man = load_manifest(out);
    json_t *f = json_array_get(json_object_get(man, "files"), 0);
    int64_t tf = json_integer_value(json_object_get(man, "graph_frames"));
    mixstage_write_config w = tc.write;
    w.dither_seed ^= fnv1a_str(json_string_value(json_object_get(f, "path")));
    snprintf(ref, sizeof ref, "%s/ref-tiny.wav", tmproot);
    mixstage_file_stats st;
    ck_assert_int_eq(mixstage_audio_write(ref, mixstage_bounce_data(tb, 0), tf, 2, FS, &w, &st, NULL, 0), MIXSTAGE_OK);
    char sum[40];
    snprintf(sum, sizeof sum, "fnv1a64:%016llx", (unsigned long long)st.checksum);
    ck_assert_str_eq(json_string_value(json_object_get(f, "checksum")), sum);
    json_decref(man);
    mixstage_bounce_destroy(tb);
    mixstage_graph_destroy(tg);
    free(tiny);
  }

  const char *san = getenv("MIXSTAGE_SANITIZER");
  const int asan = san && !strcmp(san, "address");
  const int64_t len = (int64_t)((asan ? 3 : 12) * FS);
  mixstage_graph *g = mixstage_graph_create(NULL, &err);
  ck_assert_ptr_nonnull(g);
  float *x = malloc(sizeof(float) * 2 * (size_t)len);
  ck_assert_ptr_nonnull(x);
  tu_noise(x, 2 * len, 0.3, 5);
  mixstage_strip *st = mixstage_graph_add_strip(g, "Noise", 2, &err);
  ck_assert_ptr_nonnull(st);
  ck_assert_int_eq(mixstage_strip_set_source_buffer(st, x, 2, len, 0), MIXSTAGE_OK);
  mixstage_deliver_config_init(&cfg);
  cfg.write.output_rate = 44100.0;
  heap_watch h = {(int64_t)(asan ? 1 : 3) * (int64_t)FS, 0, 0, 0};
  cfg.render.progress = watch_heap;
  cfg.render.progress_user = &h;
  snprintf(out, sizeof out, "%s/long", tmproot);
  ck_assert_int_eq(mixstage_graph_deliver(g, mixstage_profile_find("production"), out, &cfg), MIXSTAGE_OK);
  ck_assert_msg(h.seen > 10, "no progress seen after %lld frames", (long long)h.from);
  if (!asan)
    ck_assert_msg(h.most <= h.at_from + 65536, "heap grew by %zu bytes from %lld to %lld frames", h.most - h.at_from,
                  (long long)h.from, (long long)len);
  snprintf(a, sizeof a, "%s/mix.wav", out);
  mixstage_file_stats fs;
  ck_assert_int_eq(mixstage_measure_file(a, &fs, NULL, 0), MIXSTAGE_OK);
  ck_assert(fs.sample_rate == 44100.0);
  ck_assert_int_ge(fs.frames, len * 441 / 480);
  mixstage_graph_destroy(g);
  free(x);
  rm_tree(tmproot);
}
END_TEST

/* The streamed delivery's files are byte for byte what the buffered one
 * wrote (bounce, trim, mixstage_audio_write with the per-file seed), for
 * WAV PCM24 and FLAC PCM16, with a tail window long enough that the held
 * tail is flushed several times; a bounce written with
 * mixstage_bounce_deliver() gives the same files again; the manifest's
 * null residual is mixstage_graph_null_check()'s.  Only 16 frames of the
 * held tail stay in memory here, so most of it goes through the spill file
 * and back (deliver.c), over and over. */
START_TEST(test_stream_equals_buffered) {
  song s;
  make_song(&s);
  make_tmproot();
  mixstage__deliver_hold_memory(16);
  const mixstage_profile *p = mixstage_profile_find("mix-stems");
  for (int fmt = 0; fmt < 2; fmt++) {
    mixstage_deliver_config cfg;
    mixstage_deliver_config_init(&cfg);
    cfg.tail_window_seconds = fmt ? 0.35 : 0.1;
    cfg.tail_threshold_db = fmt ? -70.0 : -90.0;
    if (fmt) {
      cfg.write.format = MIXSTAGE_FORMAT_FLAC;
      cfg.write.sample_type = MIXSTAGE_SAMPLE_PCM16;
    }
    char out[512], again[512], ref[600];
    snprintf(out, sizeof out, "%s/stream%d", tmproot, fmt);
    snprintf(again, sizeof again, "%s/again%d", tmproot, fmt);
    double residual = 0;
    cfg.null_residual_out = &residual;
    ck_assert_int_eq(mixstage_graph_deliver(s.g, p, out, &cfg), MIXSTAGE_OK);
    double want;
    ck_assert_int_eq(mixstage_graph_null_check(s.g, p, &cfg.render, &want), MIXSTAGE_OK);
    ck_assert_msg(residual == want, "residual %.17g, null check %.17g", residual, want);
    int err;
    mixstage_bounce *b = mixstage_graph_bounce(s.g, p, &cfg.render, &err);
    ck_assert_ptr_nonnull(b);
    mixstage_render_config nt = cfg.render;
    nt.max_tail_frames = 0;
    int64_t program = mixstage_graph_render_frames(s.g, &nt);
    int64_t frames = trimmed(b, program, cfg.tail_threshold_db, llround(cfg.tail_window_seconds * FS));
    ck_assert_int_gt(frames, program); /* the tails matter here */
    ck_assert_int_lt(frames, mixstage_bounce_frames(b));
    ck_assert_int_eq(mixstage_bounce_deliver(s.g, b, p, again, &cfg), MIXSTAGE_OK);
    json_t *man = load_manifest(out);
    ck_assert_int_eq(json_integer_value(json_object_get(man, "graph_frames")), frames);
    json_t *files = json_object_get(man, "files");
    ck_assert_int_eq((int)json_array_size(files), mixstage_bounce_count(b));
    const char *id = json_string_value(json_object_get(man, "delivery_id"));
    ck_assert_ptr_nonnull(id);
    for (int i = 0; i < mixstage_bounce_count(b); i++) {
      json_t *f = json_array_get(files, (size_t)i);
      const char *path = json_string_value(json_object_get(f, "path"));
      ck_assert_str_eq(json_string_value(json_object_get(f, "delivery_id")), id);
      mixstage_write_config w = cfg.write;
      w.dither_seed ^= fnv1a_str(path);
      snprintf(ref, sizeof ref, "%s/ref-%s", tmproot, path);
      mixstage_file_stats st;
      ck_assert_int_eq(mixstage_audio_write(ref, mixstage_bounce_data(b, i), frames, 2, FS, &w, &st, NULL, 0),
                       MIXSTAGE_OK);
      char a[700], c[700];
      snprintf(a, sizeof a, "%s/%s", out, path);
      snprintf(c, sizeof c, "%s/%s", again, path);
      ck_assert_msg(same_bytes(a, ref), "%s differs from the buffered delivery's", a);
      ck_assert_msg(same_bytes(c, ref), "%s (from the bounce) differs", c);
      /* the on-the-fly measurements are the buffered writer's (the manifest
       * prints about 10 significant digits: 1e-6 dB covers its rounding) */
      const char *keys[3] = {"integrated_lufs", "true_peak_dbtp", "loudness_range_lu"};
      const double vals[3] = {st.integrated_lufs, st.true_peak_dbtp, st.loudness_range_lu};
      for (int q = 0; q < 3; q++) {
        json_t *v = json_object_get(f, keys[q]);
        if (!isfinite(vals[q])) ck_assert(json_is_null(v));
        else ck_assert_msg(fabs(json_number_value(v) - vals[q]) < 1e-6, "%s %s: %.10g vs %.10g", path, keys[q],
                           json_number_value(v), vals[q]);
      }
      unlink(ref);
    }
    json_decref(man);
    /* a bounce of another profile is refused, naming both */
    mixstage_bounce *other = mixstage_graph_bounce(s.g, mixstage_profile_find("production"), &cfg.render, &err);
    ck_assert_int_eq(mixstage_bounce_deliver(s.g, other, p, again, &cfg), MIXSTAGE_EINVAL);
    ck_assert_ptr_nonnull(strstr(mixstage_graph_last_error(s.g), "production"));
    mixstage_bounce_destroy(other);
    mixstage_bounce_destroy(b);
  }
  mixstage__deliver_hold_memory(-1);
  rm_tree(tmproot);
  free_song(&s);
}
END_TEST

/* A tail that falls quiet and comes back: echoes 400 ms apart of a 50 ms
 * burst, silent in between for longer than the tail window.  The frames of
 * each gap wait for the next echo to confirm them; with 16 frames held in
 * memory nearly all of a gap waits in the spill file and is read back when
 * the echo arrives.  The file is byte for byte the buffered delivery's
 * (bounce, trim, mixstage_audio_write). */
START_TEST(test_held_tail_read_back) {
  int err;
  mixstage_graph *g = mixstage_graph_create(NULL, &err);
  ck_assert_ptr_nonnull(g);
  const int64_t len = 9600; /* 0.2 s of program */
  float *x = calloc(2 * (size_t)len, sizeof(float));
  ck_assert_ptr_nonnull(x);
  tu_noise(x, 2 * 2400, 0.5, 99);
  mixstage_strip *st = mixstage_graph_add_strip(g, "Burst", 2, &err);
  ck_assert_ptr_nonnull(st);
  ck_assert_int_eq(mixstage_strip_set_source_buffer(st, x, 2, len, 0), MIXSTAGE_OK);
  mixstage_node *dl = mixstage_strip_insert(st, "delay", MIXSTAGE_ROLE_DESIGN, -1, &err);
  ck_assert_ptr_nonnull(dl);
  ck_assert_int_eq(mixstage_node_set_param_by_name(dl, "time_ms", 400.0), MIXSTAGE_OK);
  ck_assert_int_eq(mixstage_node_set_param_by_name(dl, "time_right_ms", 400.0), MIXSTAGE_OK);
  ck_assert_int_eq(mixstage_node_set_param_by_name(dl, "feedback", 50.0), MIXSTAGE_OK);
  make_tmproot();
  const mixstage_profile *p = mixstage_profile_find("production");
  mixstage_deliver_config cfg;
  mixstage_deliver_config_init(&cfg);
  cfg.render.max_tail_frames = (int64_t)(3 * FS);
  char out[512], ref[600], a[700];
  snprintf(out, sizeof out, "%s/echoes", tmproot);
  mixstage__deliver_hold_memory(16);
  ck_assert_int_eq(mixstage_graph_deliver(g, p, out, &cfg), MIXSTAGE_OK);
  mixstage__deliver_hold_memory(-1);
  mixstage_bounce *b = mixstage_graph_bounce(g, p, &cfg.render, &err);
  ck_assert_ptr_nonnull(b);
  mixstage_render_config nt = cfg.render;
  nt.max_tail_frames = 0;
  int64_t program = mixstage_graph_render_frames(g, &nt);
  const int64_t window = llround(cfg.tail_window_seconds * FS);
  int64_t frames = trimmed(b, program, cfg.tail_threshold_db, window);
  /* The spill file was read back: a quiet run in the kept tail longer than
   * the window and the 16 frames in memory together. */
  const float *m = mixstage_bounce_data(b, 0);
  float thr = (float)pow(10.0, cfg.tail_threshold_db / 20.0);
  int64_t run = 0, longest = 0;
  for (int64_t f = program; f < frames; f++) {
    run = fabsf(m[2 * f]) >= thr || fabsf(m[2 * f + 1]) >= thr ? 0 : run + 1;
    if (run > longest) longest = run;
  }
  ck_assert_int_gt(frames, program + (int64_t)(0.8 * FS)); /* two echoes at least */
  ck_assert_msg(longest > window + 16 + 1024, "longest quiet run kept: %lld frames", (long long)longest);
  snprintf(ref, sizeof ref, "%s/ref.wav", tmproot);
  mixstage_write_config w = cfg.write;
  w.dither_seed ^= fnv1a_str("mix.wav");
  ck_assert_int_eq(mixstage_audio_write(ref, m, frames, 2, FS, &w, NULL, NULL, 0), MIXSTAGE_OK);
  snprintf(a, sizeof a, "%s/mix.wav", out);
  ck_assert_msg(same_bytes(a, ref), "%s differs from the buffered delivery's", a);
  mixstage_bounce_destroy(b);
  rm_tree(tmproot);
  mixstage_graph_destroy(g);
  free(x);
}
END_TEST

/* ---- kill safety -------------------------------------------------------------- */

/* The folder holds one complete delivery: manifest.json parses, every file
 * it lists exists with the checksum it states and the manifest's delivery
 * id; nothing hidden is left. */
static void check_whole(const char *dir, const char *expect_ids[2], int *which) {
  json_t *man = load_manifest(dir);
  const char *id = json_string_value(json_object_get(man, "delivery_id"));
  ck_assert_ptr_nonnull(id);
  *which = -1;
  for (int k = 0; k < 2; k++)
    if (expect_ids[k] && !strcmp(id, expect_ids[k])) *which = k;
  json_t *files = json_object_get(man, "files");
  ck_assert_int_gt((int)json_array_size(files), 0);
  for (size_t i = 0; i < json_array_size(files); i++) {
    json_t *f = json_array_get(files, i);
    char p[700], sum[64];
    snprintf(p, sizeof p, "%s/%s", dir, json_string_value(json_object_get(f, "path")));
    mixstage_file_stats st;
    char err[256];
    ck_assert_msg(mixstage_measure_file(p, &st, err, sizeof err) == MIXSTAGE_OK, "%s", err);
    snprintf(sum, sizeof sum, "fnv1a64:%016llx", (unsigned long long)st.checksum);
    ck_assert_msg(!strcmp(sum, json_string_value(json_object_get(f, "checksum"))), "%s: %s vs manifest %s", p, sum,
                  json_string_value(json_object_get(f, "checksum")));
    ck_assert_str_eq(json_string_value(json_object_get(f, "delivery_id")), id);
  }
  json_decref(man);
  DIR *d = opendir(dir);
  struct dirent *e;
  while ((e = readdir(d)))
    ck_assert_msg(e->d_name[0] != '.' || !strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."), "left over: %s",
                  e->d_name);
  closedir(d);
}

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* One trial: a child delivers `prof` into `dir` and is killed after `delay`
 * seconds.  The folder must then hold a complete manifest at once and, after
 * the recovery, exactly one whole delivery.  Returns 0 when it is the
 * previous one, 1 when the new one; *killed counts children that died by
 * the signal (not finished). */
static int kill_trial(mixstage_graph *g, const mixstage_profile *prof, const char *dir,
                      const mixstage_deliver_config *cfg, double delay, int *killed) {
  json_t *man = load_manifest(dir);
  char before[64];
  snprintf(before, sizeof before, "%s", json_string_value(json_object_get(man, "delivery_id")));
  json_decref(man);
  pid_t pid = fork();
  ck_assert_int_ge(pid, 0);
  if (pid == 0) _exit(mixstage_graph_deliver(g, prof, dir, cfg) == MIXSTAGE_OK ? 0 : 1);
  struct timespec ts = {(time_t)delay, (long)((delay - floor(delay)) * 1e9)};
  nanosleep(&ts, NULL);
  kill(pid, SIGKILL);
  int status;
  waitpid(pid, &status, 0);
  *killed += WIFSIGNALED(status);
  json_decref(load_manifest(dir)); /* a complete manifest, even before recovery */
  ck_assert_int_eq(mixstage_deliver_recover(dir), MIXSTAGE_OK);
  const char *ids[2] = {before, NULL};
  int which;
  check_whole(dir, ids, &which);
  return which == 0 ? 0 : 1;
}

/* A delivering child process killed (SIGKILL) at random instants over the
 * whole delivery, a third of them in its last 15% (the commit is there):
 * after each kill, manifest.json is a complete manifest at once; after the
 * recovery every delivery runs first (mixstage_deliver_recover()), the
 * folder holds exactly the previous delivery or the new one, and nothing
 * hidden.  The two deliveries differ (mix-stems, then a custom profile
 * with other file content), so a mix would be caught by the checksums. */
START_TEST(test_kill_at_random_instants) {
  song s;
  make_song(&s);
  make_tmproot();
  char dir[512];
  snprintf(dir, sizeof dir, "%s/kill", tmproot);
  mixstage_deliver_config cfg;
  mixstage_deliver_config_init(&cfg);
  int err;
  mixstage_profile *alt = mixstage_profile_create("alt", mixstage_profile_find("mix-stems"), &err);
  mixstage_profile_set_action(alt, MIXSTAGE_ROLE_BUS_COLOR, MIXSTAGE_ACTION_BYPASS);
  const mixstage_profile *prof[2] = {mixstage_profile_find("mix-stems"), alt};
  ck_assert_int_eq(mixstage_graph_deliver(s.g, prof[0], dir, &cfg), MIXSTAGE_OK);
  /* how long a delivery takes in a child */
  double full = 1e9;
  pid_t pid;
  int status;
  for (int k = 0; k < 2; k++) { /* the quicker of two: the machine is shared */
    double t0 = now_s();
    pid = fork();
    if (pid == 0) _exit(mixstage_graph_deliver(s.g, prof[1 - k], dir, &cfg) == MIXSTAGE_OK ? 0 : 1);
    waitpid(pid, &status, 0);
    ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    if (now_s() - t0 < full) full = now_s() - t0;
  }
  srand(12345);
  int old_seen = 0, new_seen = 0, killed = 0;
  /* under a sanitizer each delivery is several times slower: fewer trials
   * keep the test's time, each still as strict */
  const int trials = getenv("MIXSTAGE_SANITIZER") ? 15 : 30;
  for (int trial = 0; trial < trials; trial++) {
    double u = (double)rand() / RAND_MAX;
    /* two in three anywhere in the delivery, one in three around its end
     * (the commit), half of those after it: both outcomes get seen */
    double delay = trial % 3 == 2 ? full * (0.85 + 0.6 * u) : full * 1.05 * u;
    if (kill_trial(s.g, prof[trial & 1], dir, &cfg, delay, &killed)) new_seen++;
    else old_seen++;
  }
  /* A loaded machine (a sanitizer, a parallel test) can make the children
   * slower than the timed ones, so that no kill lands after the commit, or
   * quicker, so that none lands before it.  Then a few more trials, each as
   * strict, aim later (or earlier) until both sides are seen. */
  int extra = 0, ignored = 0;
  for (double late = full; (old_seen == 0 || new_seen == 0) && extra < 12; extra++) {
    late *= new_seen == 0 ? 1.5 : 1.0;
    double delay = new_seen == 0 ? late : full * 0.05 / (1 + extra);
    if (kill_trial(s.g, prof[extra & 1], dir, &cfg, delay, &ignored)) new_seen++;
    else old_seen++;
  }
  fprintf(stderr,
          "kill test: %d of %d killed mid-delivery (delivery %.3f s), %d more trials; previous kept %d, new %d\n",
          killed, trials, full, extra, old_seen, new_seen);
  ck_assert_msg(killed >= trials / 3, "only %d of %d children were killed mid-delivery", killed, trials);
  ck_assert_msg(old_seen > 0 && new_seen > 0, "previous kept %d, new %d: the kills missed one side", old_seen,
                new_seen);
  /* and the next delivery works and leaves nothing behind */
  ck_assert_int_eq(mixstage_graph_deliver(s.g, prof[0], dir, &cfg), MIXSTAGE_OK);
  const char *none[2] = {NULL, NULL};
  int which;
  check_whole(dir, none, &which);
  mixstage_profile_destroy(alt);
  rm_tree(tmproot);
  free_song(&s);
}
END_TEST

/* A live delivery's stage is never touched by another's cleanup: a lock
 * held by this process keeps a planted stage; a stage whose lock is free is
 * settled (rolled back: the journal says a file had no previous version,
 * and the manifest is not its own). */
START_TEST(test_cleanup_spares_live_stage) {
  make_tmproot();
  char dir[512], p[700];
  snprintf(dir, sizeof dir, "%s/live", tmproot);
  mkdir(dir, 0777);
  const char *ids[2] = {"1-live", "2-dead"};
  int fds[2];
  for (int k = 0; k < 2; k++) {
    snprintf(p, sizeof p, "%s/.mixstage-%s.lock", dir, ids[k]);
    fds[k] = open(p, O_RDWR | O_CREAT, 0666);
    ck_assert_int_ge(fds[k], 0);
    snprintf(p, sizeof p, "%s/.mixstage-%s.stage", dir, ids[k]);
    mkdir(p, 0777);
    snprintf(p, sizeof p, "%s/.mixstage-%s.stage/names", dir, ids[k]);
    FILE *f = fopen(p, "w");
    fprintf(f, "manifest 1\nx%d.wav\nmanifest.json\n", k);
    fclose(f);
    snprintf(p, sizeof p, "%s/x%d.wav", dir, k); /* as if renamed in before the kill */
    fclose(fopen(p, "w"));
  }
  ck_assert_int_eq(flock(fds[0], LOCK_EX), 0);
  close(fds[1]);
  ck_assert_int_eq(mixstage_deliver_recover(dir), MIXSTAGE_OK);
  char list[2048];
  listing(dir, list, sizeof list);
  ck_assert_str_eq(list, ".mixstage-1-live.lock|.mixstage-1-live.stage|x0.wav");
  close(fds[0]);
  ck_assert_int_eq(mixstage_deliver_recover(dir), MIXSTAGE_OK);
  listing(dir, list, sizeof list);
  ck_assert_str_eq(list, "");
  ck_assert_int_eq(mixstage_deliver_recover(NULL), MIXSTAGE_ENULL);
  rm_tree(tmproot);
}
END_TEST

/* A pull source that counts the renders that read it (each starts at 0). */
typedef struct counted_source {
  const float *x;
  int64_t n;
  int renders;
} counted_source;

static int counted_pull(void *user, float *const *planar, int channels, int frames, int64_t pos) {
  counted_source *c = user;
  if (pos == 0) c->renders++;
  for (int i = 0; i < frames; i++) {
    float v = pos + i < c->n ? c->x[pos + i] : 0.0f;
    for (int ch = 0; ch < channels; ch++) planar[ch][i] = v;
  }
  return pos + frames >= c->n;
}

/* Production, mix-stems and final asked for together come out of one
 * render (the extra strip's source is read once, against three times
 * separately) and every folder holds exactly the bytes of the separate
 * deliveries: files, manifest, delivery id (tolerance zero: the forks run
 * the same operations on the same samples; the dither is seeded by file
 * name).  Progress is monotonic on one scale; a cancel during the shared
 * pass leaves every folder as it was; two profiles into one folder are
 * refused before anything is written. */
START_TEST(test_profiles_share_one_pass) {
  song s;
  make_song(&s);
  make_tmproot();
  float *air = malloc(sizeof(float) * LEN);
  tu_noise(air, LEN, 0.05, 7u);
  counted_source cs = {air, LEN, 0};
  int err = -1;
  mixstage_strip *st = mixstage_graph_add_strip(s.g, "Air", 2, &err);
  ck_assert_ptr_nonnull(st);
  ck_assert_int_eq(mixstage_strip_set_source_callback(st, counted_pull, &cs, 1, LEN), MIXSTAGE_OK);
  const mixstage_profile *ps[3] = {mixstage_profile_find("production"), mixstage_profile_find("mix-stems"),
                                   mixstage_profile_find("final")};
  char sep[3][512], tog[3][512];
  const char *dirs[3];
  for (int j = 0; j < 3; j++) {
    snprintf(sep[j], sizeof sep[j], "%s/sep/%s", tmproot, mixstage_profile_name(ps[j]));
    snprintf(tog[j], sizeof tog[j], "%s/tog/%s", tmproot, mixstage_profile_name(ps[j]));
    dirs[j] = tog[j];
  }
  mixstage_deliver_config cfg;
  mixstage_deliver_config_init(&cfg);
  double r_sep = NAN, r_tog = NAN;
  for (int j = 0; j < 3; j++) {
    cfg.null_residual_out = j == 1 ? &r_sep : NULL;
    ck_assert_int_eq(mixstage_graph_deliver(s.g, ps[j], sep[j], &cfg), MIXSTAGE_OK);
  }
  ck_assert_int_eq(cs.renders, 3);
  cancel_at c = {0, 0, 0, 0, 1};
  cfg.render.progress = cancel_cb;
  cfg.render.progress_user = &c;
  cfg.null_residual_out = &r_tog;
  int rc = mixstage_graph_deliver_profiles(s.g, ps, dirs, 3, &cfg);
  ck_assert_msg(rc == MIXSTAGE_OK, "%d: %s", rc, mixstage_graph_last_error(s.g));
  ck_assert_msg(cs.renders == 4, "three profiles together took %d renders", cs.renders - 3);
  ck_assert(c.monotonic && c.last_done == c.total && c.calls > 3);
  ck_assert(isfinite(r_sep) && r_tog == r_sep);
  for (int j = 0; j < 3; j++) {
    char la[2048], lb[2048];
    listing(sep[j], la, sizeof la);
    listing(tog[j], lb, sizeof lb);
    ck_assert_str_eq(la, lb);
    char *save = NULL, *names = strdup(la);
    for (char *nm = strtok_r(names, "|", &save); nm; nm = strtok_r(NULL, "|", &save)) {
      char pa[2600], pb[2600];
      snprintf(pa, sizeof pa, "%s/%s", sep[j], nm);
      snprintf(pb, sizeof pb, "%s/%s", tog[j], nm);
      ck_assert_msg(same_bytes(pa, pb), "%s/%s differs from the separate delivery", mixstage_profile_name(ps[j]), nm);
    }
    free(names);
  }
  /* cancelled in the shared pass: every folder as it was */
  char before[3][2048];
  for (int j = 0; j < 3; j++) listing(tog[j], before[j], sizeof before[j]);
  c = (cancel_at){0.5, 0, 0, 0, 1};
  ck_assert_int_eq(mixstage_graph_deliver_profiles(s.g, ps, dirs, 3, &cfg), MIXSTAGE_ECANCELLED);
  for (int j = 0; j < 3; j++) {
    char now[2048], pa[800], pb[800];
    listing(tog[j], now, sizeof now);
    ck_assert_str_eq(now, before[j]);
    snprintf(pa, sizeof pa, "%s/manifest.json", sep[j]);
    snprintf(pb, sizeof pb, "%s/manifest.json", tog[j]);
    ck_assert(same_bytes(pa, pb));
  }
  const char *same[2] = {tog[0], tog[0]};
  ck_assert_int_eq(mixstage_graph_deliver_profiles(s.g, ps, same, 2, &cfg), MIXSTAGE_EINVAL);
  ck_assert_int_eq(mixstage_graph_deliver_profiles(s.g, ps, dirs, 0, &cfg), MIXSTAGE_EINVAL);
  ck_assert_int_eq(mixstage_graph_deliver_profiles(s.g, NULL, dirs, 3, &cfg), MIXSTAGE_ENULL);
  free(air);
  rm_tree(tmproot);
  free_song(&s);
}
END_TEST

static Suite *deliver_suite(void) {
  Suite *s = suite_create("deliver");
  TCase *tc = tcase_create("deliver");
  tcase_set_timeout(tc, 120);
  tcase_add_test(tc, test_file_names);
  tcase_add_test(tc, test_manifest_agrees_with_null_check);
  tcase_add_test(tc, test_three_profiles);
  tcase_add_test(tc, test_not_a_directory);
  tcase_add_test(tc, test_cancel_leaves_nothing);
  tcase_add_test(tc, test_output_rate);
  tcase_add_test(tc, test_pcm16_dither);
  tcase_add_test(tc, test_name_collisions);
  tcase_add_test(tc, test_reserved_names_and_links);
  tcase_add_test(tc, test_stream_equals_buffered);
  tcase_add_test(tc, test_held_tail_read_back);
  tcase_add_test(tc, test_output_rate_streams);
  tcase_add_test(tc, test_cleanup_spares_live_stage);
  tcase_add_test(tc, test_profiles_share_one_pass);
  suite_add_tcase(s, tc);
  TCase *kill = tcase_create("kill");
  tcase_set_timeout(kill, 600);
  tcase_add_test(kill, test_kill_at_random_instants);
  suite_add_tcase(s, kill);
  return s;
}

int main(void) {
  SRunner *sr = srunner_create(deliver_suite());
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
