/* mixstage master: loudness-targeted masters of songs, one by one or as an
 * album (one gain shift for every song, relative loudness kept), with the
 * streaming report, through master.h.
 *
 * A song is a graph file (its mix bus holds a limiter of role mastering) or
 * an audio file: that becomes a graph of one strip playing the file into a
 * mix bus with a mastering limiter, at the file's rate and channel count.
 * Each master is delivered as the final profile's mix, DIR/<song>.<ext>.
 */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

typedef struct song {
  const char *path;
  mixstage_graphfile *doc; /* graph files */
  mixstage_graph *g;       /* audio files: the graph made around them */
  char name[256];          /* output file name */
} song;

static mixstage_graph *song_graph(song *s) { return s->doc ? mixstage_graphfile_graph(s->doc) : s->g; }

static int is_graph_file(const char *path) {
  size_t n = strlen(path);
  return n > 5 && !strcmp(path + n - 5, ".json");
}

/* A graph playing the audio file at its own rate into a mastering limiter. */
static mixstage_graph *audio_song(const char *path, char *msg, size_t size) {
  float *buf = NULL;
  int64_t frames = 0;
  int ch = 0;
  double rate = 0;
  int st = mixstage_audio_read(path, 0, &buf, &frames, &ch, &rate, msg, size);
  if (st != MIXSTAGE_OK) return NULL;
  mixstage_graph_config gc;
  mixstage_graph_config_init(&gc);
  gc.sample_rate = rate;
  gc.mix_channels = ch;
  int err = MIXSTAGE_OK;
  mixstage_graph *g = mixstage_graph_create(&gc, &err);
  mixstage_strip *s = g ? mixstage_graph_add_strip(g, "song", ch, &err) : NULL;
  if (s) err = mixstage_strip_set_source_buffer(s, buf, ch, frames, 1);
  if (s && err == MIXSTAGE_OK && !mixstage_bus_insert(mixstage_graph_mix_bus(g), "limiter", MIXSTAGE_ROLE_MASTERING, -1, &err) && !err)
    err = MIXSTAGE_ENOMEM;
  mixstage_free(buf);
  if (!g || err != MIXSTAGE_OK) {
    snprintf(msg, size, "%s: cannot master it: %s", path,
             g && *mixstage_graph_last_error(g) ? mixstage_graph_last_error(g) : mixstage_strerror(err));
    mixstage_graph_destroy(g);
    return NULL;
  }
  return g;
}

static json_t *report_json(const mixstage_master_report *r) {
  json_t *m = json_object();
  json_object_set_new(m, "target_lufs", json_real(r->target_lufs));
  json_object_set_new(m, "ceiling_dbtp", json_real(r->ceiling_dbtp));
  json_object_set_new(m, "integrated_lufs", cli_num(r->integrated_lufs));
  json_object_set_new(m, "true_peak_dbtp", cli_num(r->true_peak_dbtp));
  json_object_set_new(m, "loudness_range_lu", cli_num(r->loudness_range_lu));
  json_object_set_new(m, "input_gain_db", json_real(r->input_gain_db));
  json_object_set_new(m, "bus_fader_db", json_real(r->bus_fader_db));
  json_object_set_new(m, "limiter_ceiling_db", json_real(r->limiter_ceiling_db));
  json_object_set_new(m, "converged", json_boolean(r->converged));
  json_object_set_new(m, "renders", json_integer(r->iteration_count));
  json_t *st = json_array();
  for (int k = 0; k < MIXSTAGE_STREAMING_SERVICES; k++) {
    json_t *e = json_object();
    json_object_set_new(e, "service", json_string(r->streaming[k].service));
    json_object_set_new(e, "reference_lufs", json_real(r->streaming[k].reference_lufs));
    json_object_set_new(e, "gain_db", json_real(r->streaming[k].gain_db));
    json_array_append_new(st, e);
  }
  json_object_set_new(m, "streaming", st);
  return m;
}

/* --target: a preset or LUFS[,DBTP], as render --master takes. */
static int parse_target(const char *v, mixstage_master_config *mc) {
  if (mixstage_master_config_preset(mc, v) == MIXSTAGE_OK) return 0;
  char *end;
  errno = 0;
  double lufs = strtod(v, &end), tp = -1.0;
  if (end == v || errno) return -1;
  if (*end == ',') {
    const char *q = end + 1;
    tp = strtod(q, &end);
    if (end == q || errno) return -1;
  }
  if (*end || !(lufs >= -40.0 && lufs <= -3.0) || !(tp >= -12.0 && tp <= 0.0)) return -1;
  mc->target_lufs = lufs;
  mc->ceiling_dbtp = tp;
  return 0;
}

/* The final profile's mix of a mastered song, written to @p path. */
static int write_master(mixstage_graph *g, const mixstage_render_config *rc, const char *path,
                        const mixstage_write_config *w, mixstage_file_stats *st, char *msg, size_t size) {
  int err = MIXSTAGE_OK;
  mixstage_bounce *b = mixstage_graph_bounce(g, mixstage_profile_find("final"), rc, &err);
  if (!b) {
    snprintf(msg, size, "%s", mixstage_graph_last_error(g));
    return err ? err : MIXSTAGE_ENOMEM;
  }
  int i = mixstage_bounce_find(b, "mix");
  err = i < 0 ? i
              : mixstage_audio_write(path, mixstage_bounce_data(b, i), mixstage_bounce_frames(b),
                                     mixstage_bounce_channels(b), mixstage_graph_sample_rate(g), w, st, msg, size);
  mixstage_bounce_destroy(b);
  return err;
}

int cli_cmd_master(int argc, char **argv) {
  cli_common c = {0, 0};
  mixstage_master_config mc;
  mixstage_master_config_init(&mc);
  mixstage_write_config w;
  mixstage_write_config_init(&w);
  mixstage_render_config rcfg;
  mixstage_render_config_init(&rcfg);
  const char *out = "mixstage-master";
  int album = 0, nsongs = 0, dashdash = 0;
  song *songs = calloc((size_t)argc + 1, sizeof *songs);
  if (!songs) {
    cli_error("out of memory");
    return CLI_EXIT_FAILED;
  }
  int rc = -1;
  for (int i = 1; i < argc && rc < 0; i++) {
    const char *a = argv[i], *v;
    int t;
    if (dashdash || a[0] != '-' || !a[1]) {
      songs[nsongs++].path = a;
    } else if (!strcmp(a, "--")) {
      dashdash = 1;
    } else if (!strcmp(a, "--json")) {
      c.json = 1;
    } else if (!strcmp(a, "--quiet") || !strcmp(a, "-q")) {
      c.quiet = 1;
    } else if (!strcmp(a, "--album")) {
      album = 1;
    } else if ((t = cli_take_value(argc, argv, &i, "--target", "-T", &v))) {
      if (t < 0 || parse_target(v, &mc) < 0)
        rc = cli_usage_error("master", "master: --target takes a preset (streaming, apple-music, ebu-r128, club) "
                             "or LUFS[,DBTP] such as -11,-0.5 (LUFS -40 .. -3, dBTP -12 .. 0)");
    } else if ((t = cli_take_value(argc, argv, &i, "--out", "-o", &v))) {
      if (t < 0 || !*v) rc = cli_usage_error("master", "master: --out needs a directory");
      else out = v;
    } else if ((t = cli_take_value(argc, argv, &i, "--threads", "-t", &v))) {
      if (t < 0 || cli_parse_int(v, 1, 64, &rcfg.threads) < 0)
        rc = cli_usage_error("master", "master: --threads takes a number from 1 to 64");
    } else if ((t = cli_write_option("master", argc, argv, &i, &w))) {
      if (t >= 10) rc = t - 10;
    } else {
      rc = cli_usage_error("master", "master: unknown option '%s'", a);
    }
  }
  if (rc < 0 && nsongs == 0) rc = cli_usage_error("master", "master: no song given (graph files or audio files)");
  if (rc < 0 && album && nsongs < 2) rc = cli_usage_error("master", "master: --album takes two songs or more");
  if (rc < 0 && w.format == MIXSTAGE_FORMAT_FLAC && w.sample_type == MIXSTAGE_SAMPLE_FLOAT32)
    rc = cli_usage_error("master", "master: FLAC cannot hold float32 samples");
  if (rc >= 0) {
    free(songs);
    return rc;
  }

  /* Load every song before mastering any. */
  char msg[1024];
  rc = CLI_EXIT_OK;
  for (int i = 0; i < nsongs; i++) {
    song *s = &songs[i];
    if (is_graph_file(s->path)) {
      int code;
      cli_common quiet_json = {0, 0}; /* errors as JSON once, at the end */
      s->doc = cli_load_graphfile("master", s->path, &quiet_json, &code);
      if (!s->doc && code > rc) rc = code;
    } else if (!(s->g = audio_song(s->path, msg, sizeof msg))) {
      cli_error("%s", msg);
      if (rc == CLI_EXIT_OK) rc = CLI_EXIT_FAILED;
    }
    /* Output name: the file's stem, numbered when two songs share it. */
    const char *base = strrchr(s->path, '/');
    base = base ? base + 1 : s->path;
    char stem[200];
    snprintf(stem, sizeof stem, "%s", base);
    char *dot = strstr(stem, ".mixstage.json");
    if (!dot) dot = strrchr(stem, '.');
    if (dot && dot != stem) *dot = 0;
    char leaf[220];
    snprintf(leaf, sizeof leaf, "%s", stem);
    for (int k = 2, same = 1; same; k++) {
      char cand[256];
      mixstage_deliver_file_name(leaf, cli_extension(w.format), cand, sizeof cand);
      same = 0;
      for (int q = 0; q < i && !same; q++) same = !strcmp(songs[q].name, cand);
      if (!same) snprintf(s->name, sizeof s->name, "%s", cand);
      else snprintf(leaf, sizeof leaf, "%s-%d", stem, k);
    }
  }
  if (rc != CLI_EXIT_OK) {
    if (c.json) cli_print_json_error("master", NULL, rc, 0, "some song did not load; nothing was mastered");
    for (int i = 0; i < nsongs; i++) {
      mixstage_graphfile_destroy(songs[i].doc);
      mixstage_graph_destroy(songs[i].g);
    }
    free(songs);
    return rc;
  }
  if (cli_mkdirs(out) != 0) {
    cli_error("%s: cannot make the directory: %s", out, strerror(errno));
    rc = CLI_EXIT_FAILED;
  }

  mixstage_master_report *reps = calloc((size_t)nsongs, sizeof *reps);
  mixstage_graph **graphs = calloc((size_t)nsongs, sizeof *graphs);
  mixstage_album_report ar;
  memset(&ar, 0, sizeof ar);
  int *status = calloc((size_t)nsongs, sizeof *status);
  if (rc == CLI_EXIT_OK && (!reps || !graphs || !status)) {
    cli_error("out of memory");
    rc = CLI_EXIT_FAILED;
  }
  for (int i = 0; rc == CLI_EXIT_OK && i < nsongs; i++) graphs[i] = song_graph(&songs[i]);
  int album_status = MIXSTAGE_OK;
  if (rc == CLI_EXIT_OK && album) {
    album_status = mixstage_album_master(graphs, nsongs, &mc, &rcfg, &ar, reps);
    if (album_status != MIXSTAGE_OK && album_status != MIXSTAGE_ESTATE) {
      /* The message is on the graph at fault. */
      for (int i = 0; i < nsongs; i++)
        if (*mixstage_graph_last_error(graphs[i])) {
          cli_error("%s: %s", songs[i].path, mixstage_graph_last_error(graphs[i]));
          break;
        }
      rc = CLI_EXIT_FAILED;
    }
    for (int i = 0; i < nsongs; i++) status[i] = album_status;
  }
  json_t *arr = json_array();
  for (int i = 0; rc == CLI_EXIT_OK && i < nsongs; i++) {
    song *s = &songs[i];
    if (!album) status[i] = mixstage_graph_master(graphs[i], &mc, &rcfg, &reps[i], NULL);
    json_t *e = json_object();
    json_object_set_new(e, "song", json_string(s->path));
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", out, s->name);
    int st = status[i];
    if (st == MIXSTAGE_OK || st == MIXSTAGE_ESTATE) json_object_set_new(e, "master", report_json(&reps[i]));
    if (st == MIXSTAGE_OK) {
      mixstage_file_stats fs;
      st = write_master(graphs[i], &rcfg, path, &w, &fs, msg, sizeof msg);
      if (st == MIXSTAGE_OK) json_object_set_new(e, "file", cli_stats_json(path, &fs));
      else cli_error("%s: %s", s->path, msg);
    } else {
      snprintf(msg, sizeof msg, "%s: %s", s->path,
               st == MIXSTAGE_ESTATE ? "the master did not reach the target within the renders allowed; not written"
                                     : mixstage_graph_last_error(graphs[i]));
      cli_error("%s", msg);
      json_object_set_new(e, "error", json_string(msg));
    }
    json_object_set_new(e, "status", json_string(st == MIXSTAGE_OK ? "ok" : "failed"));
    if (st != MIXSTAGE_OK) rc = CLI_EXIT_FAILED;
    status[i] = st;
    json_array_append_new(arr, e);
  }
  if (c.json) {
    json_t *d = json_object();
    json_object_set_new(d, "command", json_string("master"));
    json_object_set_new(d, "out", json_string(out));
    json_object_set_new(d, "target_lufs", json_real(mc.target_lufs));
    json_object_set_new(d, "ceiling_dbtp", json_real(mc.ceiling_dbtp));
    if (album) {
      json_t *a = json_object();
      json_object_set_new(a, "album_gain_db", json_real(ar.album_gain_db));
      json_object_set_new(a, "combined_before_lufs", cli_num(ar.combined_before_lufs));
      json_object_set_new(a, "combined_lufs", cli_num(ar.combined_lufs));
      json_object_set_new(d, "album", a);
    }
    json_object_set_new(d, "songs", arr);
    json_object_set_new(d, "exit_status", json_integer(rc));
    if (cli_print_json(d) < 0 && rc == CLI_EXIT_OK) rc = CLI_EXIT_FAILED;
  } else {
    if (!c.quiet && json_array_size(arr)) {
      if (album)
        printf("album to %.1f LUFS / %.1f dBTP: every song moved %+.2f dB; all songs together %.2f -> %.2f LUFS\n",
               mc.target_lufs, mc.ceiling_dbtp, ar.album_gain_db, ar.combined_before_lufs, ar.combined_lufs);
      size_t i;
      json_t *e;
      json_array_foreach(arr, i, e) {
        json_t *m = json_object_get(e, "master");
        json_t *f = json_object_get(e, "file");
        printf("%s%s\n", json_string_value(json_object_get(e, "song")),
               f ? "" : " (FAILED)");
        if (!m) continue;
        printf("  %.2f LUFS, %.2f dBTP, LRA %.1f LU in %d renders (limiter input %+.2f dB)%s%s\n",
               json_number_value(json_object_get(m, "integrated_lufs")),
               json_number_value(json_object_get(m, "true_peak_dbtp")),
               json_number_value(json_object_get(m, "loudness_range_lu")),
               (int)json_integer_value(json_object_get(m, "renders")),
               json_number_value(json_object_get(m, "input_gain_db")), f ? " -> " : "",
               f ? json_string_value(json_object_get(f, "path")) : "");
        printf("  streaming playback gain:");
        size_t k;
        json_t *sv;
        json_array_foreach(json_object_get(m, "streaming"), k, sv)
          printf("%s %s %+.1f dB", k ? "," : "", json_string_value(json_object_get(sv, "service")),
                 json_number_value(json_object_get(sv, "gain_db")));
        putchar('\n');
      }
    }
    json_decref(arr);
  }
  for (int i = 0; i < nsongs; i++) {
    mixstage_graphfile_destroy(songs[i].doc);
    mixstage_graph_destroy(songs[i].g);
  }
  free(reps);
  free(graphs);
  free(status);
  free(songs);
  return rc;
}
