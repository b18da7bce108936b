/* mixstage assess / mixstage gain-stage: the mix assessment (mono
 * compatibility, phase between strips, masking) and the gain staging of a
 * graph file, through assess.h. */
#define _POSIX_C_SOURCE 200809L

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

/* Parses FILE.json [--json] [--quiet] plus the command's own options through
 * @p extra (returns 1 taken, 0 not, 10 + code on error).  Returns -1 to go
 * on, else an exit code. */
static int parse_graph_command(const char *cmd, int argc, char **argv, const char **file, cli_common *c,
                               int (*extra)(const char *, int, char **, int *, void *), void *user) {
  int dashdash = 0;
  *file = NULL;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (!dashdash && !strcmp(a, "--")) {
      dashdash = 1;
      continue;
    }
    if (!dashdash && a[0] == '-' && a[1]) {
      if (!strcmp(a, "--json")) {
        c->json = 1;
        continue;
      }
      if (!strcmp(a, "--quiet") || !strcmp(a, "-q")) {
        c->quiet = 1;
        continue;
      }
      int t = extra ? extra(cmd, argc, argv, &i, user) : 0;
      if (t >= 10) return t - 10;
      if (t == 1) continue;
      return cli_usage_error(cmd, "%s: unknown option '%s'", cmd, a);
    }
    if (*file) return cli_usage_error(cmd, "%s takes one graph file", cmd);
    *file = a;
  }
  if (!*file) return cli_usage_error(cmd, "%s: no graph file given", cmd);
  return -1;
}

static int parse_db(const char *s, double lo, double hi, double *out) {
  char *end;
  double v = strtod(s, &end);
  if (end == s || *end || !(v >= lo && v <= hi)) return -1;
  *out = v;
  return 0;
}

/* ---- assess ------------------------------------------------------------------------ */

typedef struct assess_opts {
  mixstage_assess_config cfg;
  int top; /* masking pairs shown in text */
} assess_opts;

static int assess_option(const char *cmd, int argc, char **argv, int *i, void *user) {
  assess_opts *o = user;
  const char *v;
  int t;
  if ((t = cli_take_value(argc, argv, i, "--max-lag", NULL, &v))) {
    if (t < 0 || parse_db(v, 0.1, 1000, &o->cfg.max_lag_ms) < 0)
      return 10 + cli_usage_error(cmd, "%s: --max-lag takes milliseconds, 0.1 .. 1000", cmd);
    return 1;
  }
  if ((t = cli_take_value(argc, argv, i, "--top", NULL, &v))) {
    if (t < 0 || cli_parse_int(v, 1, 100000, &o->top) < 0)
      return 10 + cli_usage_error(cmd, "%s: --top takes a number of pairs", cmd);
    return 1;
  }
  return 0;
}

static json_t *phase_json(const mixstage_phase_result *r, double rate) {
  json_t *o = json_object();
  json_object_set_new(o, "offset_frames", json_integer(r->offset_frames));
  json_object_set_new(o, "offset_ms", json_real(1000.0 * (double)r->offset_frames / rate));
  json_object_set_new(o, "sign", json_integer(r->sign));
  json_object_set_new(o, "correlation", cli_num(r->correlation));
  json_object_set_new(o, "zero_lag_correlation", cli_num(r->zero_lag_correlation));
  json_object_set_new(o, "polarity_flip", json_boolean(r->polarity_flip));
  json_object_set_new(o, "time_offset", json_boolean(r->time_offset));
  return o;
}

int cli_cmd_assess(int argc, char **argv) {
  const char *file;
  cli_common c = {0, 0};
  assess_opts o;
  mixstage_assess_config_init(&o.cfg);
  o.top = 5;
  int rc = parse_graph_command("assess", argc, argv, &file, &c, assess_option, &o);
  if (rc >= 0) return rc;
  mixstage_graphfile *doc = cli_load_graphfile("assess", file, &c, &rc);
  if (!doc) return rc;
  mixstage_graph *g = mixstage_graphfile_graph(doc);
  double rate = mixstage_graph_sample_rate(g);
  mixstage_mix_assessment *a = NULL;
  int st = mixstage_graph_assess(g, &o.cfg, &a);
  if (st != MIXSTAGE_OK) {
    char msg[1024];
    snprintf(msg, sizeof msg, "%s: %s", file, mixstage_graph_last_error(g));
    cli_error("%s", msg);
    if (c.json) cli_print_json_error("assess", file, CLI_EXIT_FAILED, st, msg);
    mixstage_graphfile_destroy(doc);
    return CLI_EXIT_FAILED;
  }
  rc = CLI_EXIT_OK;
  if (c.json) {
    json_t *d = json_object();
    json_object_set_new(d, "command", json_string("assess"));
    json_object_set_new(d, "file", json_string(file));
    json_t *m = json_object();
    json_object_set_new(m, "correlation", cli_num(a->mono.correlation));
    json_object_set_new(m, "mono_loss_db", cli_num(a->mono.mono_loss_db));
    json_object_set_new(m, "side_to_mid_db", cli_num(a->mono.side_to_mid_db));
    json_object_set_new(m, "balance_db", cli_num(a->mono.balance_db));
    json_object_set_new(d, "mono", m);
    json_t *names = json_array();
    for (int i = 0; i < a->strip_count; i++) json_array_append_new(names, json_string(a->strip_names[i]));
    json_object_set_new(d, "strips", names);
    json_t *ph = json_array();
    for (int i = 0; i < a->phase_count; i++) {
      json_t *e = phase_json(&a->phase[i].result, rate);
      json_object_set_new(e, "a", json_string(a->strip_names[a->phase[i].a]));
      json_object_set_new(e, "b", json_string(a->strip_names[a->phase[i].b]));
      json_array_append_new(ph, e);
    }
    json_object_set_new(d, "phase", ph);
    json_t *mk = json_array();
    for (int i = 0; i < a->masking_count; i++) {
      const mixstage_masking_pair *p = &a->masking[i];
      json_t *e = json_object();
      json_object_set_new(e, "a", json_string(a->strip_names[p->a]));
      json_object_set_new(e, "b", json_string(a->strip_names[p->b]));
      json_object_set_new(e, "score_db", cli_num(p->score_db));
      json_object_set_new(e, "band_hz", p->band >= 0 ? json_real(p->band_hz) : json_null());
      json_t *ov = json_array();
      for (int k = 0; k < MIXSTAGE_THIRD_OCTAVE_BANDS; k++) json_array_append_new(ov, cli_num(p->overlap_db[k]));
      json_object_set_new(e, "overlap_db", ov);
      json_array_append_new(mk, e);
    }
    json_object_set_new(d, "masking", mk);
    json_t *bands = json_array();
    for (int k = 0; k < MIXSTAGE_THIRD_OCTAVE_BANDS; k++) json_array_append_new(bands, json_real(mixstage_third_octave_hz(k)));
    json_object_set_new(d, "third_octave_hz", bands);
    json_object_set_new(d, "exit_status", json_integer(rc));
    if (cli_print_json(d) < 0) rc = CLI_EXIT_FAILED;
  } else if (!c.quiet) {
    char x[32], y[32], z[32];
    printf("%s\n", file);
    printf("mono compatibility: correlation %+.3f, mono fold loses %s, side/mid %s, balance %s\n",
           a->mono.correlation, cli_db(x, sizeof x, a->mono.mono_loss_db, "dB"),
           cli_db(y, sizeof y, a->mono.side_to_mid_db, "dB"), cli_db(z, sizeof z, a->mono.balance_db, "dB"));
    printf("phase between strips (|correlation| >= %.2f within %.1f ms):%s\n", o.cfg.phase_threshold,
           o.cfg.max_lag_ms, a->phase_count ? "" : " none");
    for (int i = 0; i < a->phase_count; i++) {
      const mixstage_phase_result *r = &a->phase[i].result;
      printf("  %s / %s: correlation %+.3f at %+.2f ms (%lld frames)%s%s\n", a->strip_names[a->phase[i].a],
             a->strip_names[a->phase[i].b], r->correlation, 1000.0 * (double)r->offset_frames / rate,
             (long long)r->offset_frames, r->polarity_flip ? ", POLARITY FLIPPED" : "",
             r->time_offset ? ", TIME OFFSET" : "");
    }
    printf("masking (pairs competing most, highest first):%s\n", a->masking_count ? "" : " fewer than two strips");
    for (int i = 0; i < a->masking_count && i < o.top; i++) {
      const mixstage_masking_pair *p = &a->masking[i];
      if (p->band < 0) printf("  %s / %s: no shared band\n", a->strip_names[p->a], a->strip_names[p->b]);
      else
        printf("  %s / %s: %s at %g Hz\n", a->strip_names[p->a], a->strip_names[p->b],
               cli_db(x, sizeof x, p->score_db, "dB"), p->band_hz);
    }
  }
  mixstage_mix_assessment_free(a);
  mixstage_graphfile_destroy(doc);
  return rc;
}

/* ---- gain-stage -------------------------------------------------------------------- */

typedef struct gain_opts {
  mixstage_gain_stage_config cfg;
  const char *write; /* --write OUT.json: apply and save */
} gain_opts;

static int gain_option(const char *cmd, int argc, char **argv, int *i, void *user) {
  gain_opts *o = user;
  const char *v;
  int t;
  if ((t = cli_take_value(argc, argv, i, "--target-rms", NULL, &v))) {
    if (t < 0 || parse_db(v, -60, 0, &o->cfg.target_rms_dbfs) < 0)
      return 10 + cli_usage_error(cmd, "%s: --target-rms takes dBFS, -60 .. 0", cmd);
    return 1;
  }
  if ((t = cli_take_value(argc, argv, i, "--max-peak", NULL, &v))) {
    if (t < 0 || parse_db(v, -60, 0, &o->cfg.max_peak_dbfs) < 0)
      return 10 + cli_usage_error(cmd, "%s: --max-peak takes dBFS, -60 .. 0", cmd);
    return 1;
  }
  if ((t = cli_take_value(argc, argv, i, "--write", "-w", &v))) {
    if (t < 0 || !*v) return 10 + cli_usage_error(cmd, "%s: --write needs a graph file to write", cmd);
    o->write = v;
    return 1;
  }
  return 0;
}

int cli_cmd_gain_stage(int argc, char **argv) {
  const char *file;
  cli_common c = {0, 0};
  gain_opts o = {.write = NULL};
  mixstage_gain_stage_config_init(&o.cfg);
  int rc = parse_graph_command("gain-stage", argc, argv, &file, &c, gain_option, &o);
  if (rc >= 0) return rc;
  mixstage_graphfile *doc = cli_load_graphfile("gain-stage", file, &c, &rc);
  if (!doc) return rc;
  mixstage_graph *g = mixstage_graphfile_graph(doc);
  mixstage_gain_stage_report *rep = NULL;
  char msg[1024];
  int st = mixstage_graph_gain_stage(g, &o.cfg, o.write != NULL, &rep);
  if (st != MIXSTAGE_OK) snprintf(msg, sizeof msg, "%s: %s", file, mixstage_graph_last_error(g));
  if (st == MIXSTAGE_OK && o.write) {
    char err[512];
    st = mixstage_graphfile_save(doc, o.write, err, sizeof err);
    if (st != MIXSTAGE_OK) snprintf(msg, sizeof msg, "%s", err);
  }
  if (st != MIXSTAGE_OK) {
    cli_error("%s", msg);
    if (c.json) cli_print_json_error("gain-stage", file, CLI_EXIT_FAILED, st, msg);
    mixstage_gain_stage_report_free(rep);
    mixstage_graphfile_destroy(doc);
    return CLI_EXIT_FAILED;
  }
  rc = CLI_EXIT_OK;
  if (c.json) {
    json_t *d = json_object();
    json_object_set_new(d, "command", json_string("gain-stage"));
    json_object_set_new(d, "file", json_string(file));
    json_object_set_new(d, "target_rms_dbfs", json_real(o.cfg.target_rms_dbfs));
    json_object_set_new(d, "max_peak_dbfs", json_real(o.cfg.max_peak_dbfs));
    json_object_set_new(d, "written", o.write ? json_string(o.write) : json_null());
    json_t *arr = json_array();
    for (int i = 0; i < rep->count; i++) {
      const mixstage_gain_stage_result *r = &rep->strips[i].result;
      json_t *e = json_object();
      json_object_set_new(e, "strip", json_string(rep->strips[i].name));
      json_object_set_new(e, "measured_channels", json_integer(rep->strips[i].measured_channels));
      json_object_set_new(e, "rms_before_dbfs", cli_num(r->rms_before_dbfs));
      json_object_set_new(e, "peak_before_dbfs", cli_num(r->peak_before_dbfs));
      json_object_set_new(e, "clip_gain_db", json_real(r->clip_gain_db));
      json_object_set_new(e, "rms_after_dbfs", cli_num(r->rms_after_dbfs));
      json_object_set_new(e, "peak_after_dbfs", cli_num(r->peak_after_dbfs));
      json_object_set_new(e, "peak_limited", json_boolean(r->peak_limited));
      json_object_set_new(e, "clips", json_boolean(r->clips));
      json_object_set_new(e, "too_quiet", json_boolean(r->too_quiet));
      json_object_set_new(e, "clamped", json_boolean(r->clamped));
      json_array_append_new(arr, e);
    }
    json_object_set_new(d, "strips", arr);
    json_object_set_new(d, "clipping", json_integer(rep->clipping));
    json_object_set_new(d, "too_quiet", json_integer(rep->too_quiet));
    json_object_set_new(d, "exit_status", json_integer(rc));
    if (cli_print_json(d) < 0) rc = CLI_EXIT_FAILED;
  } else if (!c.quiet) {
    printf("%s: clip gains for %.1f dBFS RMS, peaks at or below %.1f dBFS%s\n", file, o.cfg.target_rms_dbfs,
           o.cfg.max_peak_dbfs, o.write ? "" : " (suggested; --write applies them)");
    for (int i = 0; i < rep->count; i++) {
      const mixstage_gain_stage_result *r = &rep->strips[i].result;
      char a[32], b[32], x[32], y[32];
      printf("  %-16s %+6.1f dB   RMS %s -> %s, peak %s -> %s%s%s%s%s\n", rep->strips[i].name, r->clip_gain_db,
             cli_db(a, sizeof a, r->rms_before_dbfs, "dBFS"), cli_db(b, sizeof b, r->rms_after_dbfs, "dBFS"),
             cli_db(x, sizeof x, r->peak_before_dbfs, "dBFS"), cli_db(y, sizeof y, r->peak_after_dbfs, "dBFS"),
             r->peak_limited ? ", set by the peak" : "", r->clips ? ", CLIPS" : "",
             r->too_quiet ? ", TOO QUIET" : "", r->clamped ? ", at the clip-gain limit" : "");
    }
    if (o.write) printf("wrote %s with these clip gains\n", o.write);
  }
  mixstage_gain_stage_report_free(rep);
  mixstage_graphfile_destroy(doc);
  return rc;
}
