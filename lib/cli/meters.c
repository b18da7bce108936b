/* mixstage analyze / mixstage compare: the meters and the loudness-matched
 * reference A/B on audio files. */
#define _POSIX_C_SOURCE 200809L /* clock_gettime, strsignal, fileno */

#include <errno.h>
#include <math.h>
#include <string.h>

#include "cli.h"

/* Parses FILE... [--json] [--quiet] [--pair DIR]; returns -1 to go on, else
 * an exit code.  @p files must hold argc entries. */
static int parse_files(const char *cmd, int argc, char **argv, const char **files, int *nfiles,
                       cli_common *c, const char **pair) {
  int dashdash = 0;
  *nfiles = 0;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (!dashdash && !strcmp(a, "--")) {
      dashdash = 1;
      continue;
    }
    if (!dashdash && pair) {
      int t = cli_take_value(argc, argv, &i, "--pair", NULL, pair);
      if (t < 0) return cli_usage_error(cmd, "%s: --pair needs a directory", cmd);
      if (t > 0) continue;
    }
    if (!dashdash && !strcmp(a, "--json")) c->json = 1;
    else if (!dashdash && (!strcmp(a, "--quiet") || !strcmp(a, "-q"))) c->quiet = 1;
    else if (!dashdash && a[0] == '-' && a[1]) return cli_usage_error(cmd, "%s: unknown option '%s'", cmd, a);
    else files[(*nfiles)++] = a;
  }
  return -1;
}

/* ---- analyze ----------------------------------------------------------------------- */

static json_t *per_channel(const double *v, int n) {
  json_t *a = json_array();
  for (int c = 0; c < n; c++) json_array_append_new(a, cli_num(v[c]));
  return a;
}

static json_t *report_json(const char *file, const mixstage_meter_report *r) {
  json_t *o = json_object();
  json_object_set_new(o, "file", json_string(file));
  json_object_set_new(o, "sample_rate", json_real(r->sample_rate));
  json_object_set_new(o, "channels", json_integer(r->channels));
  json_object_set_new(o, "frames", json_integer(r->frames));
  json_object_set_new(o, "seconds", json_real(r->seconds));
  json_object_set_new(o, "integrated_lufs", cli_num(r->integrated_lufs));
  json_object_set_new(o, "short_term_max_lufs", cli_num(r->short_term_max_lufs));
  json_object_set_new(o, "momentary_max_lufs", cli_num(r->momentary_max_lufs));
  json_object_set_new(o, "loudness_range_lu", cli_num(r->loudness_range_lu));
  /* "peak_dbfs" as the manifest and measure() name it; "sample_peak_dbfs"
   * is its deprecated alias. */
  json_object_set_new(o, "peak_dbfs", cli_num(r->sample_peak_max_dbfs));
  json_object_set_new(o, "sample_peak_dbfs", cli_num(r->sample_peak_max_dbfs));
  json_object_set_new(o, "true_peak_dbtp", cli_num(r->true_peak_max_dbtp));
  json_object_set_new(o, "rms_dbfs", cli_num(r->rms_total_dbfs));
  json_object_set_new(o, "crest_db", cli_num(r->crest_total_db));
  json_object_set_new(o, "correlation", cli_num(r->correlation));
  json_object_set_new(o, "balance_db", cli_num(r->balance_db));
  json_object_set_new(o, "mid_rms_dbfs", cli_num(r->mid_rms_dbfs));
  json_object_set_new(o, "side_rms_dbfs", cli_num(r->side_rms_dbfs));
  json_object_set_new(o, "mid_side_ratio_db", cli_num(r->mid_side_ratio_db));
  json_object_set_new(o, "clipped_samples", json_integer(r->clipped_total));
  json_t *ch = json_object();
  json_object_set_new(ch, "peak_dbfs", per_channel(r->sample_peak_dbfs, r->channels));
  json_object_set_new(ch, "sample_peak_dbfs", per_channel(r->sample_peak_dbfs, r->channels));
  json_object_set_new(ch, "true_peak_dbtp", per_channel(r->true_peak_dbtp, r->channels));
  json_object_set_new(ch, "rms_dbfs", per_channel(r->rms_dbfs, r->channels));
  json_object_set_new(ch, "crest_db", per_channel(r->crest_db, r->channels));
  json_object_set_new(ch, "dc_offset", per_channel(r->dc_offset, r->channels));
  json_t *clip = json_array();
  for (int c = 0; c < r->channels; c++) json_array_append_new(clip, json_integer(r->clipped_samples[c]));
  json_object_set_new(ch, "clipped_samples", clip);
  json_object_set_new(o, "per_channel", ch);
  return o;
}

static void print_report(const char *file, const mixstage_meter_report *r) {
  char a[32], b[32], c[32], d[32], e[32];
  printf("%s\n  %.0f Hz, %d channel%s, %.3f s (%lld frames)\n", file, r->sample_rate, r->channels,
         r->channels == 1 ? "" : "s", r->seconds, (long long)r->frames);
  printf("  loudness   integrated %s, short-term max %s, momentary max %s, range %s\n",
         cli_db(a, sizeof a, r->integrated_lufs, "LUFS"), cli_db(b, sizeof b, r->short_term_max_lufs, "LUFS"),
         cli_db(c, sizeof c, r->momentary_max_lufs, "LUFS"), cli_db(d, sizeof d, r->loudness_range_lu, "LU"));
  printf("  peaks      sample %s, true %s\n", cli_db(a, sizeof a, r->sample_peak_max_dbfs, "dBFS"),
         cli_db(b, sizeof b, r->true_peak_max_dbtp, "dBTP"));
  printf("  level      RMS %s, crest %s, clipped samples %lld\n", cli_db(a, sizeof a, r->rms_total_dbfs, "dBFS"),
         cli_db(b, sizeof b, r->crest_total_db, "dB"), (long long)r->clipped_total);
  if (r->channels >= 2)
    printf("  stereo     correlation %s, balance %s, mid %s, side %s, mid/side %s\n",
           isnan(r->correlation) ? "n/a" : (snprintf(a, sizeof a, "%+.3f", r->correlation), a),
           cli_db(b, sizeof b, r->balance_db, "dB"), cli_db(c, sizeof c, r->mid_rms_dbfs, "dBFS"),
           cli_db(d, sizeof d, r->side_rms_dbfs, "dBFS"), cli_db(e, sizeof e, r->mid_side_ratio_db, "dB"));
  for (int ch = 0; ch < r->channels; ch++)
    printf("  channel %-2d peak %s, true peak %s, RMS %s, crest %s, DC %+.6f\n", ch + 1,
           cli_db(a, sizeof a, r->sample_peak_dbfs[ch], "dBFS"), cli_db(b, sizeof b, r->true_peak_dbtp[ch], "dBTP"),
           cli_db(c, sizeof c, r->rms_dbfs[ch], "dBFS"), cli_db(d, sizeof d, r->crest_db[ch], "dB"),
           r->dc_offset[ch]);
}

int cli_cmd_analyze(int argc, char **argv) {
  const char *files[argc > 0 ? argc : 1];
  int n;
  cli_common c = {0, 0};
  int rc = parse_files("analyze", argc, argv, files, &n, &c, NULL);
  if (rc >= 0) return rc;
  if (n == 0) return cli_usage_error("analyze", "analyze: no audio file given");
  rc = CLI_EXIT_OK;
  json_t *arr = json_array();
  mixstage_meter_config mc;
  mixstage_meter_config_init(&mc);
  mc.series = 0;
  for (int i = 0; i < n; i++) {
    float *buf = NULL;
    int64_t frames = 0;
    int ch = 0;
    double rate = 0;
    char msg[1024];
    int st = mixstage_audio_read(files[i], 0, &buf, &frames, &ch, &rate, msg, sizeof msg);
    mixstage_meter_report r;
    if (st == MIXSTAGE_OK) {
      st = mixstage_meter_analyse(buf, frames, ch, rate, &mc, &r);
      if (st < 0) snprintf(msg, sizeof msg, "%s: %s", files[i], mixstage_strerror(st));
    }
    mixstage_free(buf);
    if (st < 0) {
      cli_error("%s", msg);
      json_t *o = json_object();
      json_object_set_new(o, "file", json_string(files[i]));
      json_object_set_new(o, "error", json_string(msg));
      json_array_append_new(arr, o);
      rc = CLI_EXIT_FAILED;
      continue;
    }
    if (c.json) json_array_append_new(arr, report_json(files[i], &r));
    else if (!c.quiet) {
      if (i) putchar('\n');
      print_report(files[i], &r);
    }
    mixstage_meter_report_clear(&r);
  }
  if (c.json) {
    json_t *o = json_object();
    json_object_set_new(o, "files", arr);
    if (cli_print_json(o) < 0) rc = CLI_EXIT_FAILED;
  } else {
    json_decref(arr);
  }
  return rc;
}

/* ---- compare ------------------------------------------------------------------------ */

int cli_cmd_compare(int argc, char **argv) {
  const char *files[argc > 0 ? argc : 1];
  const char *pair = NULL;
  int n;
  cli_common c = {0, 0};
  int rc = parse_files("compare", argc, argv, files, &n, &c, &pair);
  if (rc >= 0) return rc;
  if (n != 2) return cli_usage_error("compare", "compare takes two audio files, A (the reference) and B (the mix)");

  float *a = NULL, *b = NULL;
  int64_t af = 0, bf = 0;
  int ac = 0, bc = 0;
  double rate = 0, brate = 0;
  char msg[1024];
  int st = mixstage_audio_read(files[0], 0, &a, &af, &ac, &rate, msg, sizeof msg);
  /* B is read at A's rate, so the comparison is sample for sample. */
  if (st == MIXSTAGE_OK) st = mixstage_audio_read(files[1], rate, &b, &bf, &bc, &brate, msg, sizeof msg);
  mixstage_ab_result r;
  if (st == MIXSTAGE_OK) {
    st = mixstage_ab_compare(a, af, ac, b, bf, bc, rate, &r);
    if (st == MIXSTAGE_ERANGE)
      snprintf(msg, sizeof msg, "%s and %s: one of them is silent, there is no loudness to match", files[0],
               files[1]);
    else if (st < 0)
      snprintf(msg, sizeof msg, "%s and %s: %s", files[0], files[1], mixstage_strerror(st));
  }
  double ga = NAN, gb = NAN;
  if (st == MIXSTAGE_OK && pair) {
    if (cli_mkdirs(pair) != 0) {
      snprintf(msg, sizeof msg, "%s: %s", pair, strerror(errno));
      st = MIXSTAGE_EIO;
    } else {
      st = mixstage_ab_write_pair(a, af, ac, b, bf, bc, rate, pair, NULL, &ga, &gb, msg, sizeof msg);
    }
  }
  mixstage_free(a);
  mixstage_free(b);
  if (st < 0) {
    cli_error("%s", msg);
    return CLI_EXIT_FAILED;
  }

  if (c.json) {
    json_t *o = json_object();
    json_object_set_new(o, "a", json_string(files[0]));
    json_object_set_new(o, "b", json_string(files[1]));
    json_object_set_new(o, "sample_rate", json_real(rate));
    json_object_set_new(o, "b_file_rate", json_real(brate));
    json_object_set_new(o, "match_gain_db", cli_num(r.match_gain_db));
    json_object_set_new(o, "a_lufs", cli_num(r.a_lufs));
    json_object_set_new(o, "b_lufs", cli_num(r.b_lufs));
    json_object_set_new(o, "loudness_diff_lu", cli_num(r.loudness_diff_lu));
    json_object_set_new(o, "a_lra_lu", cli_num(r.a_lra_lu));
    json_object_set_new(o, "b_lra_lu", cli_num(r.b_lra_lu));
    json_object_set_new(o, "lra_diff_lu", cli_num(r.lra_diff_lu));
    json_object_set_new(o, "a_crest_db", cli_num(r.a_crest_db));
    json_object_set_new(o, "b_crest_db", cli_num(r.b_crest_db));
    json_object_set_new(o, "crest_diff_db", cli_num(r.crest_diff_db));
    json_object_set_new(o, "a_width_db", cli_num(r.a_width_db));
    json_object_set_new(o, "b_width_db", cli_num(r.b_width_db));
    json_object_set_new(o, "width_diff_db", cli_num(r.width_diff_db));
    json_object_set_new(o, "a_correlation", cli_num(r.a_correlation));
    json_object_set_new(o, "b_correlation", cli_num(r.b_correlation));
    json_object_set_new(o, "correlation_diff", cli_num(r.correlation_diff));
    json_t *bands = json_array();
    for (int k = 0; k < MIXSTAGE_OCTAVE_BANDS; k++) {
      json_t *bo = json_object();
      json_object_set_new(bo, "hz", json_real(r.band_hz[k]));
      json_object_set_new(bo, "a_dbfs", cli_num(r.a_band_dbfs[k]));
      json_object_set_new(bo, "b_dbfs", cli_num(r.b_band_dbfs[k]));
      json_object_set_new(bo, "diff_db", cli_num(r.band_diff_db[k]));
      json_object_set_new(bo, "diff_matched_db", cli_num(r.band_diff_matched_db[k]));
      json_array_append_new(bands, bo);
    }
    json_object_set_new(o, "octaves", bands);
    if (pair) {
      json_t *po = json_object();
      json_object_set_new(po, "dir", json_string(pair));
      json_object_set_new(po, "a_gain_db", cli_num(ga));
      json_object_set_new(po, "b_gain_db", cli_num(gb));
      json_object_set_new(o, "pair", po);
    }
    return cli_print_json(o) < 0 ? CLI_EXIT_FAILED : CLI_EXIT_OK;
  }
  if (c.quiet) return CLI_EXIT_OK;
  char x[32], y[32];
  printf("A (reference) %s: %s\n", files[0], cli_db(x, sizeof x, r.a_lufs, "LUFS"));
  printf("B (mix)       %s: %s\n", files[1], cli_db(x, sizeof x, r.b_lufs, "LUFS"));
  printf("loudness match: B %+.2f dB to meet A (B is %+.2f LU against A)\n", r.match_gain_db, r.loudness_diff_lu);
  char z[32], w[32];
  if (isnan(r.correlation_diff)) snprintf(w, sizeof w, "n/a");
  else snprintf(w, sizeof w, "%+.3f", r.correlation_diff);
  printf("B - A: loudness range %s, crest %s, width (side/mid) %s, correlation %s\n",
         cli_db(x, sizeof x, r.lra_diff_lu, "LU"), cli_db(y, sizeof y, r.crest_diff_db, "dB"),
         cli_db(z, sizeof z, r.width_diff_db, "dB"), w);
  printf("\ntonal balance per octave (dB; B - A matched is what a level-matched A/B hears)\n");
  printf("  %-16s", "Hz");
  /* "31.5", "125", "1k", "16k": at most 5 characters, so the columns of
   * 7 always keep a gap. */
  for (int k = 0; k < MIXSTAGE_OCTAVE_BANDS; k++) {
    char hz[16];
    if (r.band_hz[k] >= 1000.0) snprintf(hz, sizeof hz, "%gk", r.band_hz[k] / 1000.0);
    else snprintf(hz, sizeof hz, "%g", r.band_hz[k]);
    printf("%7s", hz);
  }
  const char *rows[4] = {"A dBFS", "B dBFS", "B - A", "B - A matched"};
  const double *vals[4] = {r.a_band_dbfs, r.b_band_dbfs, r.band_diff_db, r.band_diff_matched_db};
  for (int row = 0; row < 4; row++) {
    printf("\n  %-16s", rows[row]);
    for (int k = 0; k < MIXSTAGE_OCTAVE_BANDS; k++) {
      if (isfinite(vals[row][k])) printf(row >= 2 ? "%+7.1f" : "%7.1f", vals[row][k]);
      else printf("%7s", isnan(vals[row][k]) ? "n/a" : vals[row][k] < 0 ? "-inf" : "+inf");
    }
  }
  putchar('\n');
  if (pair)
    printf("\nwrote %s/A.wav (%+.2f dB) and %s/B.wav (%+.2f dB), matched in loudness\n", pair, ga, pair, gb);
  return CLI_EXIT_OK;
}
