/* mixstage translate: previews of a mix through simulated playback systems
 * (laptop, phone, earbuds, car, club; translate.h), one file per system,
 * each measured.  The mix is an audio file, or a graph file whose
 * production mix is rendered first. */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

/* "phone,car" or "all" into a mask of systems; -1 naming the bad word. */
static int parse_systems(const char *list, unsigned *mask, char *bad, size_t size) {
  *mask = 0;
  const char *p = list;
  while (*p) {
    size_t n = strcspn(p, ",");
    char word[64];
    snprintf(word, sizeof word, "%.*s", (int)(n < sizeof word ? n : sizeof word - 1), p);
    if (!strcmp(word, "all")) {
      *mask |= (1u << mixstage_playback_system_count()) - 1u;
    } else {
      int k = mixstage_playback_system_find(word);
      if (k < 0) {
        snprintf(bad, size, "%s", word);
        return -1;
      }
      *mask |= 1u << k;
    }
    p += n;
    if (*p == ',') p++;
  }
  return *mask ? 0 : -1;
}

/* The production mix of a graph file, or the audio file as it is. */
static int read_mix(const char *path, const cli_common *c, float **data, int64_t *frames, int *ch, double *rate,
                    int *exit_code) {
  size_t n = strlen(path);
  if (!(n > 5 && !strcmp(path + n - 5, ".json"))) {
    char msg[1024];
    if (mixstage_audio_read(path, 0, data, frames, ch, rate, msg, sizeof msg) == MIXSTAGE_OK) return 0;
    cli_error("%s", msg);
    if (c->json) cli_print_json_error("translate", path, CLI_EXIT_FAILED, 0, msg);
    *exit_code = CLI_EXIT_FAILED;
    return -1;
  }
  mixstage_graphfile *doc = cli_load_graphfile("translate", path, c, exit_code);
  if (!doc) return -1;
  mixstage_graph *g = mixstage_graphfile_graph(doc);
  int err = MIXSTAGE_OK;
  mixstage_bounce *b = mixstage_graph_bounce(g, mixstage_profile_find("production"), NULL, &err);
  int i = b ? mixstage_bounce_find(b, "mix") : -1;
  if (i >= 0) {
    *frames = mixstage_bounce_frames(b);
    *ch = mixstage_bounce_channels(b);
    *rate = mixstage_graph_sample_rate(g);
    *data = malloc((size_t)*frames * (size_t)*ch * sizeof **data);
    if (*data) memcpy(*data, mixstage_bounce_data(b, i), (size_t)*frames * (size_t)*ch * sizeof **data);
  }
  int ok = i >= 0 && *data;
  if (!ok) {
    char msg[1024];
    snprintf(msg, sizeof msg, "%s: %s", path, b ? "out of memory" : mixstage_graph_last_error(g));
    cli_error("%s", msg);
    if (c->json) cli_print_json_error("translate", path, CLI_EXIT_FAILED, err, msg);
    *exit_code = CLI_EXIT_FAILED;
  }
  mixstage_bounce_destroy(b);
  mixstage_graphfile_destroy(doc);
  return ok ? 0 : -1;
}

int cli_cmd_translate(int argc, char **argv) {
  cli_common c = {0, 0};
  mixstage_write_config w;
  mixstage_write_config_init(&w);
  const char *file = NULL, *out = "mixstage-translate", *to = "all";
  int dashdash = 0;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i], *v;
    int t;
    if (dashdash || a[0] != '-' || !a[1]) {
      if (file) return cli_usage_error("translate", "translate takes one mix (an audio or graph file)");
      file = a;
    } else if (!strcmp(a, "--")) {
      dashdash = 1;
    } else if (!strcmp(a, "--json")) {
      c.json = 1;
    } else if (!strcmp(a, "--quiet") || !strcmp(a, "-q")) {
      c.quiet = 1;
    } else if ((t = cli_take_value(argc, argv, &i, "--to", NULL, &v))) {
      if (t < 0) return cli_usage_error("translate", "translate: --to needs systems, as phone,car");
      to = v;
    } else if ((t = cli_take_value(argc, argv, &i, "--out", "-o", &v))) {
      if (t < 0 || !*v) return cli_usage_error("translate", "translate: --out needs a directory");
      out = v;
    } else if ((t = cli_write_option("translate", argc, argv, &i, &w))) {
      if (t >= 10) return t - 10;
    } else {
      return cli_usage_error("translate", "translate: unknown option '%s'", a);
    }
  }
  if (!file) return cli_usage_error("translate", "translate: no mix given");
  unsigned mask;
  char bad[64] = "";
  if (parse_systems(to, &mask, bad, sizeof bad) < 0) {
    int n = mixstage_playback_system_count();
    const char *names[n + 1];
    for (int k = 0; k < n; k++) names[k] = mixstage_playback_system_name(k);
    names[n] = "all";
    char hint[128];
    cli_did_you_mean(bad, names, n + 1, hint, sizeof hint);
    return cli_usage_error("translate", "translate: no playback system '%s'%s (systems: laptop, phone, earbuds, car, "
                           "club, or all)", bad, hint);
  }
  if (w.format == MIXSTAGE_FORMAT_FLAC && w.sample_type == MIXSTAGE_SAMPLE_FLOAT32)
    return cli_usage_error("translate", "translate: FLAC cannot hold float32 samples");

  float *mix = NULL;
  int64_t frames = 0;
  int ch = 0;
  double rate = 0;
  int rc = CLI_EXIT_OK;
  if (read_mix(file, &c, &mix, &frames, &ch, &rate, &rc) < 0) return rc;
  float *preview = malloc((size_t)frames * (size_t)ch * sizeof *preview);
  if (!preview || cli_mkdirs(out) != 0) {
    char msg[1024];
    snprintf(msg, sizeof msg, "%s: %s", preview ? out : "translate", preview ? strerror(errno) : "out of memory");
    cli_error("%s", msg);
    if (c.json) cli_print_json_error("translate", file, CLI_EXIT_FAILED, 0, msg);
    free(preview);
    mixstage_free(mix);
    return CLI_EXIT_FAILED;
  }
  /* The preview's name: the mix's file stem and the system. */
  const char *base = strrchr(file, '/');
  base = base ? base + 1 : file;
  char stem[200];
  snprintf(stem, sizeof stem, "%s", base);
  char *dot = strstr(stem, ".mixstage.json");
  if (!dot) dot = strrchr(stem, '.');
  if (dot && dot != stem) *dot = 0;

  mixstage_file_stats orig;
  int have_orig = mixstage_measure(mix, frames, ch, rate, &orig) == MIXSTAGE_OK;
  json_t *arr = json_array();
  if (!c.json && !c.quiet && have_orig) {
    char a[32], b[32];
    printf("%s: %s, %s true peak\n", file, cli_db(a, sizeof a, orig.integrated_lufs, "LUFS"),
           cli_db(b, sizeof b, orig.true_peak_dbtp, "dBTP"));
  }
  for (int k = 0; k < mixstage_playback_system_count(); k++) {
    if (!(mask & (1u << k))) continue;
    const char *sys = mixstage_playback_system_name(k);
    char msg[1024], leaf[300], path[4096];
    int st = mixstage_translate(mix, frames, ch, rate, k, preview);
    mixstage_file_stats fs;
    if (st == MIXSTAGE_OK) {
      char name[260];
      snprintf(name, sizeof name, "%s-%s", stem, sys);
      mixstage_deliver_file_name(name, cli_extension(w.format), leaf, sizeof leaf);
      snprintf(path, sizeof path, "%s/%s", out, leaf);
      st = mixstage_audio_write(path, preview, frames, ch, rate, &w, &fs, msg, sizeof msg);
    } else {
      snprintf(msg, sizeof msg, "%s: %s: %s", file, sys, mixstage_strerror(st));
    }
    json_t *e = json_object();
    json_object_set_new(e, "system", json_string(sys));
    json_object_set_new(e, "description", json_string(mixstage_playback_system_description(k)));
    if (st != MIXSTAGE_OK) {
      cli_error("%s", msg);
      json_object_set_new(e, "status", json_string("failed"));
      json_object_set_new(e, "error", json_string(msg));
      rc = CLI_EXIT_FAILED;
    } else {
      json_object_set_new(e, "status", json_string("ok"));
      json_object_set_new(e, "file", cli_stats_json(path, &fs));
      /* The designed curve at a few landmarks, for the report. */
      static const double HZ[] = {50, 100, 1000, 3000, 10000};
      json_t *resp = json_object();
      for (size_t q = 0; q < sizeof HZ / sizeof *HZ; q++) {
        char key[16];
        snprintf(key, sizeof key, "%g", HZ[q]);
        json_object_set_new(resp, key, cli_num(mixstage_translate_response_db(k, HZ[q], rate)));
      }
      json_object_set_new(e, "response_db", resp);
      if (!c.json && !c.quiet) {
        char a[32], b[32];
        printf("  %-8s %-40s %s, %s  (response: 50 Hz %+.1f, 100 Hz %+.1f, 3 kHz %+.1f, 10 kHz %+.1f dB)\n", sys,
               path, cli_db(a, sizeof a, fs.integrated_lufs, "LUFS"), cli_db(b, sizeof b, fs.true_peak_dbtp, "dBTP"),
               mixstage_translate_response_db(k, 50, rate), mixstage_translate_response_db(k, 100, rate),
               mixstage_translate_response_db(k, 3000, rate), mixstage_translate_response_db(k, 10000, rate));
      }
    }
    json_array_append_new(arr, e);
  }
  if (c.json) {
    json_t *d = json_object();
    json_object_set_new(d, "command", json_string("translate"));
    json_object_set_new(d, "mix", json_string(file));
    json_object_set_new(d, "out", json_string(out));
    if (have_orig) json_object_set_new(d, "mix_stats", cli_stats_json(file, &orig));
    json_object_set_new(d, "previews", arr);
    json_object_set_new(d, "exit_status", json_integer(rc));
    if (cli_print_json(d) < 0 && rc == CLI_EXIT_OK) rc = CLI_EXIT_FAILED;
  } else {
    json_decref(arr);
  }
  free(preview);
  mixstage_free(mix);
  return rc;
}
