/* analysis_tour: every analysis figure libmixstage gives, on one programme.
 *
 * A guided tour for mix engineers of include/mixstage/analysis.h, assess.h,
 * master.h and translate.h, run on the built-in demo song (kick, clap and
 * hats in a Drums group, a bass ducked by the kick, a pad, a lead sent to a
 * plate and a delay, the mix-bus stages and a mastering chain):
 *
 *   1. meters inside the graph while it plays, and the gain-reduction history
 *      of every dynamics node;
 *   2. the meters of the rendered mix and of a strip (its stem);
 *   3. gain staging: the clip gain that puts each source at -18 dBFS RMS;
 *   4. mix assessment: mono compatibility, phase trouble, masking, on the
 *      stems as a mix engineer receives them (plus a planted second kick mic);
 *   5. the final master at each preset and a custom target, with what the
 *      streaming services' normalisation would do to each;
 *   6. album mode: two songs mastered together;
 *   7. reference A/B of the master against the production mix;
 *   8. translation previews (laptop, phone, earbuds, car, club).
 *
 *   analysis_tour [--out DIR] [--seconds S]   (defaults: analysis-out, 4)
 *
 * Cost: one render of the song costs about a quarter of a second of CPU per
 * second of audio, and the master search renders several times per target.
 * So the song is rendered over an excerpt (its first S seconds plus up to 1 s
 * of tail; --seconds 0 renders it all), the mix is printed once without its
 * placeholder limiter, and the masters are searched in a mastering session
 * made of that print and the song's own mastering chain, as a mastering
 * engineer works.
 *
 * Files written under DIR: masters/<preset>.wav, album/<song>.wav, ab/A.wav
 * and ab/B.wav (the loudness-matched pair), translation/master-<system>.wav.
 * Exit status 0, or 1 with the library's message on any failure.
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "mixstage.h"

static double excerpt_seconds = 4.0;

/* ---- failure handling ------------------------------------------------------- */

static void check(int status, mixstage_graph *g, const char *what) {
  if (status >= 0) return;
  const char *msg = g ? mixstage_graph_last_error(g) : "";
  fprintf(stderr, "analysis_tour: %s: %s%s%s\n", what, mixstage_strerror(status),
          *msg ? ": " : "", msg);
  exit(1);
}

static void *xmalloc(size_t n) {
  void *p = malloc(n ? n : 1);
  if (!p) {
    fprintf(stderr, "analysis_tour: out of memory\n");
    exit(1);
  }
  return p;
}

static void make_dir(const char *path) {
  if (mkdir(path, 0777) != 0 && errno != EEXIST) {
    fprintf(stderr, "analysis_tour: cannot create %s: %s\n", path, strerror(errno));
    exit(1);
  }
}

static char *join(const char *dir, const char *name) {
  size_t n = strlen(dir) + strlen(name) + 2;
  char *p = xmalloc(n);
  snprintf(p, n, "%s/%s", dir, name);
  return p;
}

/* ---- number formatting: levels of silence read -inf, figures that do not
 * apply (a correlation of one channel) read n/a ----------------------------- */

static const char *num(double v, int decimals) {
  static char ring[16][32];
  static int next;
  char *s = ring[next++ % 16];
  if (isnan(v))
    snprintf(s, sizeof ring[0], "n/a");
  else if (isinf(v))
    snprintf(s, sizeof ring[0], v > 0 ? "+inf" : "-inf");
  else
    snprintf(s, sizeof ring[0], "%.*f", decimals, v);
  return s;
}

static const char *snum(double v, int decimals) {
  static char ring[16][32];
  static int next;
  char *s = ring[next++ % 16];
  if (isnan(v) || isinf(v))
    snprintf(s, sizeof ring[0], "%s", num(v, decimals));
  else
    snprintf(s, sizeof ring[0], "%+.*f", decimals, v);
  return s;
}

static void heading(const char *title) { printf("\n== %s ==\n", title); }

/* ---- helpers on the graph ---------------------------------------------------- */

static mixstage_graph *demo_song(void) {
  int err;
  mixstage_graph *g = mixstage_demo_song_create(0, &err);
  if (!g) check(err, NULL, "mixstage_demo_song_create");
  return g;
}

/* The render settings of the whole tour: the excerpt and up to 1 s of tail
 * (the song's own tail when it is rendered whole). */
static void excerpt_config(mixstage_graph *g, mixstage_render_config *rc) {
  mixstage_render_config_init(rc);
  if (excerpt_seconds > 0) {
    rc->frames = (int64_t)(excerpt_seconds * mixstage_graph_sample_rate(g));
    rc->max_tail_frames = (int64_t)mixstage_graph_sample_rate(g);
  }
}

/* Renders @p g with its active profile; frees with free(). */
static float *render(mixstage_graph *g, const mixstage_render_config *rc, int64_t *frames) {
  int64_t n = mixstage_graph_render_frames(g, rc);
  check(n < 0 ? (int)n : 0, g, "mixstage_graph_render_frames");
  int ch = mixstage_bus_channels(mixstage_graph_mix_bus(g));
  float *out = xmalloc(sizeof(float) * (size_t)ch * (size_t)n);
  check(mixstage_graph_render(g, rc, out, n), g, "mixstage_graph_render");
  *frames = n;
  return out;
}

/* A session graph of stereo strips playing buffers (copied), all at 0 dB:
 * what a mix or mastering engineer opens from delivered files. */
static mixstage_graph *session(double rate) {
  mixstage_graph_config cfg;
  mixstage_graph_config_init(&cfg);
  cfg.sample_rate = rate;
  int err;
  mixstage_graph *s = mixstage_graph_create(&cfg, &err);
  if (!s) check(err, NULL, "mixstage_graph_create");
  return s;
}

static mixstage_strip *session_strip(mixstage_graph *s, const char *name, const float *x,
                                     int64_t frames) {
  int err;
  mixstage_strip *st = mixstage_graph_add_strip(s, name, 2, &err);
  if (!st) check(err, s, "mixstage_graph_add_strip");
  check(mixstage_strip_set_source_buffer(st, x, 2, frames, 1), s,
        "mixstage_strip_set_source_buffer");
  return st;
}

/* A mastering session: the premaster on one strip, and copies of the song's
 * mix-bus stages of role mastering (type, bypass and every parameter). */
static mixstage_graph *mastering_session(mixstage_graph *song, const float *premaster,
                                         int64_t frames) {
  mixstage_graph *s = session(mixstage_graph_sample_rate(song));
  session_strip(s, "Premaster", premaster, frames);
  mixstage_bus *from = mixstage_graph_mix_bus(song), *to = mixstage_graph_mix_bus(s);
  for (int i = 0; i < mixstage_bus_node_count(from); i++) {
    mixstage_node *n = mixstage_bus_node(from, i);
    if (mixstage_node_role(n) != MIXSTAGE_ROLE_MASTERING) continue;
    int err;
    mixstage_node *c = mixstage_bus_insert(to, mixstage_node_type(n), MIXSTAGE_ROLE_MASTERING,
                                           -1, &err);
    if (!c) check(err, s, "mixstage_bus_insert");
    for (int k = 0; k < mixstage_node_param_count(n); k++) {
      mixstage_param_info pi;
      double v;
      check(mixstage_node_param_info(n, k, &pi), song, "mixstage_node_param_info");
      check(mixstage_node_get_param(n, pi.id, &v), song, "mixstage_node_get_param");
      check(mixstage_node_set_param(c, pi.id, v), s, "mixstage_node_set_param");
    }
    check(mixstage_node_set_bypass(c, mixstage_node_bypass(n)), s, "mixstage_node_set_bypass");
  }
  return s;
}

/* The mix as it goes to mastering: the production profile with the
 * placeholder limiter bypassed (the final profile does the same before its
 * mastering chain). */
static mixstage_profile *premaster_profile(mixstage_graph *g) {
  int err;
  mixstage_profile *p = mixstage_profile_create("premaster", mixstage_profile_find("production"),
                                                &err);
  if (!p) check(err, g, "mixstage_profile_create");
  check(mixstage_profile_set_action(p, MIXSTAGE_ROLE_PLACEHOLDER_LIMITER, MIXSTAGE_ACTION_BYPASS),
        g, "mixstage_profile_set_action");
  return p;
}

/* ---- printing a meter report --------------------------------------------------- */

/* Loudness below the BS.1770 absolute gate (-70 LUFS) is silence to a
 * loudness meter: print it as such rather than as a deep figure. */
static const char *lufs(double v) { return v < -70.0 ? "<-70" : num(v, 1); }

static void print_meter(const mixstage_meter_report *r, const char *indent) {
  printf("%sloudness     integrated %s LUFS, range (LRA) %s LU\n", indent,
         lufs(r->integrated_lufs), num(r->loudness_range_lu, 1));
  printf("%s             momentary max %s LUFS (400 ms), short-term max %s LUFS (3 s)\n",
         indent, lufs(r->momentary_max_lufs), lufs(r->short_term_max_lufs));
  printf("%s             at the end: momentary %s, short-term %s LUFS\n", indent,
         lufs(r->momentary_lufs), lufs(r->short_term_lufs));
  printf("%speaks        sample peak", indent);
  for (int c = 0; c < r->channels; c++) printf(" %s", num(r->sample_peak_dbfs[c], 2));
  printf(" dBFS, true peak");
  for (int c = 0; c < r->channels; c++) printf(" %s", num(r->true_peak_dbtp[c], 2));
  printf(" dBTP\n");
  printf("%slevel        RMS", indent);
  for (int c = 0; c < r->channels; c++) printf(" %s", num(r->rms_dbfs[c], 2));
  printf(" dBFS (all channels %s), crest factor", num(r->rms_total_dbfs, 2));
  for (int c = 0; c < r->channels; c++) printf(" %s", num(r->crest_db[c], 1));
  printf(" dB\n");
  if (r->channels >= 2) {
    printf("%sstereo       correlation %s (+1 mono, 0 wide, -1 out of phase), balance %s dB"
           " (+ leans left)\n", indent, num(r->correlation, 3), snum(r->balance_db, 2));
    printf("%s             mid %s dBFS, side %s dBFS: mid/side %s dB\n", indent,
           num(r->mid_rms_dbfs, 1), num(r->side_rms_dbfs, 1), num(r->mid_side_ratio_db, 1));
  }
  printf("%shealth       DC offset", indent);
  for (int c = 0; c < r->channels; c++) printf(" %.1e", r->dc_offset[c]);
  printf(", clipped samples %lld\n", (long long)r->clipped_total);
}

/* The short-term loudness every second: the curve a loudness meter draws. */
static void print_short_term_curve(const mixstage_meter_report *r) {
  printf("  short-term loudness (LUFS) every second:");
  for (int64_t i = 9; i < r->series_count; i += 10)
    printf(" %s", lufs(r->short_term_series[i]));
  printf("\n");
}

/* ---- 1. meters inside the graph and gain-reduction history --------------------- */

typedef struct tracked_node {
  mixstage_node *node;
  char where[96];
} tracked_node;

static int track(mixstage_graph *g, mixstage_node *node, double seconds, const char *unit,
                 int index, tracked_node *t) {
  int rc = mixstage_node_enable_gr_history(node, seconds);
  if (rc == MIXSTAGE_EUNSUPPORTED) return 0;
  check(rc, g, "mixstage_node_enable_gr_history");
  t->node = node;
  snprintf(t->where, sizeof t->where, "%s insert %d: %s (%s)", unit, index + 1,
           mixstage_node_type(node), mixstage_role_name(mixstage_node_role(node)));
  return 1;
}

/* Turns on the gain-reduction history of every node whose type reports one
 * (the library says which: other types answer MIXSTAGE_EUNSUPPORTED). */
static int track_dynamics(mixstage_graph *g, double seconds, tracked_node *out, int cap) {
  int n = 0;
  for (int s = 0; s < mixstage_graph_strip_count(g); s++) {
    mixstage_strip *st = mixstage_graph_strip(g, s);
    for (int i = 0; i < mixstage_strip_node_count(st) && n < cap; i++)
      n += track(g, mixstage_strip_node(st, i), seconds, mixstage_strip_name(st), i, &out[n]);
  }
  for (int b = 0; b < mixstage_graph_bus_count(g); b++) {
    mixstage_bus *bus = mixstage_graph_bus(g, b);
    char unit[80];
    snprintf(unit, sizeof unit, "bus %s", mixstage_bus_name(bus));
    for (int i = 0; i < mixstage_bus_node_count(bus) && n < cap; i++)
      n += track(g, mixstage_bus_node(bus, i), seconds, unit, i, &out[n]);
  }
  return n;
}

/* One line per dynamics node: how hard and how often it works, and a strip
 * chart of the first 2 s (one column per 100 ms, the largest reduction in it:
 * ' ' none, '.' < 1 dB, '1'..'9' dB, '#' 10 dB or more). */
static void print_gr(mixstage_graph *g, const tracked_node *t) {
  int64_t first = 0;
  int hop = 0;
  int64_t n = mixstage_node_gr_history(t->node, NULL, 0, NULL, NULL);
  check(n < 0 ? (int)n : 0, g, "mixstage_node_gr_history");
  if (n == 0) {
    printf("  %-40s no history\n", t->where);
    return;
  }
  float *gr = xmalloc(sizeof(float) * (size_t)n);
  n = mixstage_node_gr_history(t->node, gr, n, &first, &hop);
  check(n < 0 ? (int)n : 0, g, "mixstage_node_gr_history");
  double max = 0.0, sum = 0.0;
  int64_t working = 0;
  for (int64_t i = 0; i < n; i++) {
    if (gr[i] > max) max = gr[i];
    sum += gr[i];
    if (gr[i] >= 0.5f) working++;
  }
  int per_col = (int)(0.1 * mixstage_graph_sample_rate(g) / hop);
  char chart[21] = {0};
  for (int c = 0; c < 20; c++) {
    double m = 0.0;
    for (int64_t i = (int64_t)c * per_col; i < (int64_t)(c + 1) * per_col && i < n; i++)
      if (gr[i] > m) m = gr[i];
    chart[c] = m < 0.05 ? ' ' : m < 1.0 ? '.' : m >= 10.0 ? '#' : (char)('0' + (int)m);
  }
  printf("  %-40s [%s] max %4.1f dB, mean %4.1f dB, >= 0.5 dB %3.0f%% of the time\n", t->where,
         chart, max, sum / (double)n, 100.0 * (double)working / (double)n);
  free(gr);
}

static float *tour_in_graph(mixstage_graph *g, const mixstage_render_config *rc,
                            int64_t *frames) {
  heading("1. Meters inside the graph, while it plays");
  printf("The song is rendered as it goes to mastering (the production mix with its\n"
         "placeholder limiter bypassed: the premaster).  Meters attached to the mix bus\n"
         "and to the Hats strip are fed by the engine as it processes (real-time safe:\n"
         "no allocation on the audio thread), and every dynamics node keeps a\n"
         "gain-reduction history, one point per 32 frames.\n");
  double rate = mixstage_graph_sample_rate(g);
  int block = mixstage_graph_max_block(g) > 256 ? mixstage_graph_max_block(g) : 256;
  mixstage_strip *hats = mixstage_graph_find_strip(g, "Hats");
  mixstage_bus *mixbus = mixstage_graph_mix_bus(g);
  if (!hats) check(MIXSTAGE_ENOTFOUND, g, "the demo song has no strip named Hats");
  int err;
  mixstage_meter *m_mix = mixstage_meter_create(mixstage_bus_channels(mixbus), rate, block,
                                                NULL, &err);
  if (!m_mix) check(err, g, "mixstage_meter_create");
  /* Pre-fader: the strip's own channels; post-fader: those of the bus it
   * feeds, after fader and pan. */
  mixstage_meter *m_pre = mixstage_meter_create(mixstage_strip_channels(hats), rate, block,
                                                NULL, &err);
  if (!m_pre) check(err, g, "mixstage_meter_create");
  mixstage_meter *m_post = mixstage_meter_create(
      mixstage_bus_channels(mixstage_strip_output(hats)), rate, block, NULL, &err);
  if (!m_post) check(err, g, "mixstage_meter_create");
  check(mixstage_bus_attach_meter(mixbus, m_mix, MIXSTAGE_TAP_POST_FADER), g,
        "mixstage_bus_attach_meter");
  check(mixstage_strip_attach_meter(hats, m_pre, MIXSTAGE_TAP_PRE_FADER), g,
        "mixstage_strip_attach_meter");
  check(mixstage_strip_attach_meter(hats, m_post, MIXSTAGE_TAP_POST_FADER), g,
        "mixstage_strip_attach_meter");

  int64_t total = mixstage_graph_render_frames(g, rc);
  check(total < 0 ? (int)total : 0, g, "mixstage_graph_render_frames");
  tracked_node nodes[64];
  /* Room for the render and its latency pre-roll. */
  int nn = track_dynamics(g, (double)total / rate + 1.0, nodes, 64);

  mixstage_profile *pm = premaster_profile(g);
  check(mixstage_graph_set_profile(g, pm), g, "mixstage_graph_set_profile");
  float *mix = render(g, rc, frames);
  check(mixstage_graph_set_profile(g, mixstage_profile_find("production")), g,
        "mixstage_graph_set_profile");
  mixstage_profile_destroy(pm); /* no longer active */

  mixstage_meter_report r;
  check(mixstage_meter_get_report(m_mix, &r), g, "mixstage_meter_get_report");
  printf("\nMix bus, after its fader (the meter on the master section):\n");
  print_meter(&r, "  ");
  mixstage_meter_report_clear(&r);

  mixstage_meter_report pre, post;
  check(mixstage_meter_get_report(m_pre, &pre), g, "mixstage_meter_get_report");
  check(mixstage_meter_get_report(m_post, &post), g, "mixstage_meter_get_report");
  printf("\nHats strip, before and after its fader (%s dB) and pan (%s):\n",
         snum(mixstage_strip_fader_db(hats), 1), snum(mixstage_strip_pan(hats), 2));
  const mixstage_meter_report *pp[2] = {&pre, &post};
  for (int i = 0; i < 2; i++)
    printf("  %-11s %s LUFS, true peak %s dBTP, RMS %s dBFS, balance %s dB\n",
           i ? "post-fader" : "pre-fader", lufs(pp[i]->integrated_lufs),
           num(pp[i]->true_peak_max_dbtp, 2), num(pp[i]->rms_total_dbfs, 2),
           snum(pp[i]->balance_db, 2));
  mixstage_meter_report_clear(&pre);
  mixstage_meter_report_clear(&post);

  printf("\nGain reduction of every dynamics node (chart: first 2 s, one column per\n"
         "100 ms, ' ' none, '.' under 1 dB, digits dB, '#' 10 dB or more):\n");
  for (int i = 0; i < nn; i++) print_gr(g, &nodes[i]);
  printf("  (the Bass compressor keyed by the kick ducks on every beat; the placeholder\n"
         "   limiter is bypassed in the premaster, the mastering limiter is off)\n");

  /* The graph borrows meters: detach before destroying them. */
  check(mixstage_bus_attach_meter(mixbus, NULL, MIXSTAGE_TAP_POST_FADER), g, "detach");
  check(mixstage_strip_attach_meter(hats, NULL, MIXSTAGE_TAP_PRE_FADER), g, "detach");
  check(mixstage_strip_attach_meter(hats, NULL, MIXSTAGE_TAP_POST_FADER), g, "detach");
  for (int i = 0; i < nn; i++) check(mixstage_node_enable_gr_history(nodes[i].node, 0), g, "gr");
  mixstage_meter_destroy(m_mix);
  mixstage_meter_destroy(m_pre);
  mixstage_meter_destroy(m_post);
  return mix;
}

/* ---- 2. meters of the render and of a strip ------------------------------------------ */

static mixstage_bounce *tour_meters(mixstage_graph *g, const mixstage_render_config *rc,
                                    const float *pre, int64_t pre_frames) {
  heading("2. Meters of the rendered mix and of a strip");
  double rate = mixstage_graph_sample_rate(g);
  mixstage_meter_config mc;
  mixstage_meter_config_init(&mc);
  mixstage_meter_report r;
  check(mixstage_meter_analyse(pre, pre_frames, 2, rate, &mc, &r), g, "mixstage_meter_analyse");
  printf("The premaster rendered above, measured offline (the same figures as the\n"
         "mix-bus meter, which gated in 0.1 LU histogram bins): %s LUFS, LRA %s LU,\n"
         "true peak %s dBTP.\n", lufs(r.integrated_lufs), num(r.loudness_range_lu, 1),
         num(r.true_peak_max_dbtp, 2));
  mixstage_meter_report_clear(&r);

  /* One mix-stems bounce gives each strip as it sounds in the mix, the FX
   * returns, and the production mix as the reference. */
  int err;
  mixstage_bounce *b = mixstage_graph_bounce(g, mixstage_profile_find("mix-stems"), rc, &err);
  if (!b) check(err, g, "mixstage_graph_bounce");
  int ri = mixstage_bounce_find(b, "reference");
  check(ri, g, "the mix-stems bounce has no reference");
  check(mixstage_meter_analyse(mixstage_bounce_data(b, ri), mixstage_bounce_frames(b),
                               mixstage_bounce_channels(b), rate, &mc, &r),
        g, "mixstage_meter_analyse");
  printf("\nThe production mix (placeholder limiter on), %.2f s:\n", r.seconds);
  print_meter(&r, "  ");
  print_short_term_curve(&r);
  mixstage_meter_report_clear(&r);

  int bi = mixstage_bounce_find(b, "Bass");
  check(bi, g, "the mix-stems bounce has no Bass stem");
  check(mixstage_meter_analyse(mixstage_bounce_data(b, bi), mixstage_bounce_frames(b),
                               mixstage_bounce_channels(b), rate, &mc, &r),
        g, "mixstage_meter_analyse");
  printf("\nThe Bass stem (mix-stems profile: its inserts, fader and ducking):\n");
  print_meter(&r, "  ");
  mixstage_meter_report_clear(&r);

  printf("\nEvery output of the mix-stems bounce:\n");
  printf("  %-10s %-9s %7s %7s %7s %6s %6s %6s\n", "output", "kind", "LUFS", "dBTP", "RMS",
         "crest", "corr", "clips");
  static const char *const kinds[] = {"mix", "stem", "fx stem", "reference"};
  mc.series = 0; /* no curves needed for a table */
  for (int i = 0; i < mixstage_bounce_count(b); i++) {
    check(mixstage_meter_analyse(mixstage_bounce_data(b, i), mixstage_bounce_frames(b),
                                 mixstage_bounce_channels(b), rate, &mc, &r),
          g, "mixstage_meter_analyse");
    int k = mixstage_bounce_kind(b, i);
    printf("  %-10s %-9s %7s %7s %7s %6s %6s %6lld\n", mixstage_bounce_name(b, i),
           k >= 0 && k < 4 ? kinds[k] : "?", lufs(r.integrated_lufs),
           num(r.true_peak_max_dbtp, 2), num(r.rms_total_dbfs, 1), num(r.crest_total_db, 1),
           num(r.correlation, 2), (long long)r.clipped_total);
    mixstage_meter_report_clear(&r);
  }
  return b;
}

/* ---- 3. gain staging ---------------------------------------------------------- */

static void tour_gain_staging(mixstage_graph *g) {
  heading("3. Gain staging");
  printf("Each source is measured on its own, before any processing, and given the\n"
         "clip gain that puts it at -18 dBFS RMS with peaks at or below -6 dBFS.\n");
  mixstage_gain_stage_config gc;
  mixstage_gain_stage_config_init(&gc);
  mixstage_gain_stage_report *rep = NULL;
  /* apply = 1: the report is the same as a suggestion's (sources are
   * measured at 0 dB clip gain), and the gains are set. */
  check(mixstage_graph_gain_stage(g, &gc, 1, &rep), g, "mixstage_graph_gain_stage");
  printf("  %-6s %10s %10s %10s %10s %10s  %s\n", "strip", "RMS before", "peak", "clip gain",
         "RMS after", "peak after", "notes");
  for (int i = 0; i < rep->count; i++) {
    const mixstage_gain_stage_strip *s = &rep->strips[i];
    const mixstage_gain_stage_result *x = &s->result;
    char notes[96] = "";
    if (x->peak_limited) strcat(notes, "the peak sets the gain ");
    if (x->clips) strcat(notes, "CLIPS ");
    if (x->too_quiet) strcat(notes, "far too quiet ");
    if (x->clamped) strcat(notes, "gain clamped ");
    printf("  %-6s %10s %10s %10s %10s %10s  %s\n", s->name, num(x->rms_before_dbfs, 1),
           num(x->peak_before_dbfs, 1), snum(x->clip_gain_db, 1), num(x->rms_after_dbfs, 1),
           num(x->peak_after_dbfs, 1), notes);
  }
  printf("  %d strip(s) clip, %d far too quiet (below %.0f dBFS RMS)\n", rep->clipping,
         rep->too_quiet, gc.quiet_dbfs);
  printf("  applied:");
  for (int i = 0; i < rep->count; i++)
    printf(" %s %s dB%s", rep->strips[i].name,
           snum(mixstage_strip_clip_gain_db(mixstage_graph_strip(g, rep->strips[i].index)), 1),
           i + 1 < rep->count ? "," : "\n");
  mixstage_gain_stage_report_free(rep);

  /* A single buffer, as a recording arrives: a take peaking at -3 dBFS. */
  enum { N = 48000 };
  float *take = xmalloc(sizeof(float) * N);
  for (int i = 0; i < N; i++)
    take[i] = (float)(pow(10.0, -3.0 / 20.0) * sin(2.0 * 3.14159265358979 * 220.0 * i / 48000.0));
  mixstage_gain_stage_result one;
  check(mixstage_gain_stage_buffer(take, N, 1, &gc, &one), NULL, "mixstage_gain_stage_buffer");
  printf("  a 220 Hz take peaking at -3 dBFS: RMS %s dBFS, clip gain %s dB -> RMS %s dBFS,"
         " peak %s dBFS\n", num(one.rms_before_dbfs, 1), snum(one.clip_gain_db, 1),
         num(one.rms_after_dbfs, 1), num(one.peak_after_dbfs, 1));
  free(take);
}

/* ---- 4. mix assessment ------------------------------------------------------------ */

static void tour_assessment(mixstage_graph *g, const mixstage_bounce *stems, const float *mix,
                            int64_t mix_frames) {
  heading("4. Mix assessment");
  mixstage_mono_compat mono;
  check(mixstage_mono_compat_buffer(mix, mix_frames, 2, &mono), g, "mixstage_mono_compat_buffer");
  printf("Mono compatibility of the production mix:\n");
  printf("  correlation %s, level lost folded to mono %s dB, width (side/mid) %s dB,"
         " balance (R over L) %s dB\n", num(mono.correlation, 3), num(mono.mono_loss_db, 2),
         num(mono.side_to_mid_db, 1), snum(mono.balance_db, 2));

  /* The stems as a mix engineer opens them, one strip each, plus a second
   * microphone on the kick: the kick stem 37 samples late (about 26 cm
   * further away) and wired with inverted polarity, at -6 dB. */
  mixstage_graph *s = session(mixstage_graph_sample_rate(g));
  int64_t n = mixstage_bounce_frames(stems);
  for (int i = 0; i < mixstage_bounce_count(stems); i++)
    if (mixstage_bounce_kind(stems, i) == MIXSTAGE_OUTPUT_STEM)
      session_strip(s, mixstage_bounce_name(stems, i), mixstage_bounce_data(stems, i), n);
  int ki = mixstage_bounce_find(stems, "Kick");
  check(ki, g, "no Kick stem");
  const float *kick = mixstage_bounce_data(stems, ki);
  float *mic2 = xmalloc(sizeof(float) * 2 * (size_t)n);
  for (int64_t i = 0; i < 2 * n; i++) mic2[i] = i < 2 * 37 ? 0.0f : -0.5f * kick[i - 2 * 37];
  session_strip(s, "Kick room", mic2, n);
  free(mic2);

  mixstage_assess_config ac;
  mixstage_assess_config_init(&ac);
  mixstage_mix_assessment *a = NULL;
  check(mixstage_graph_assess(s, &ac, &a), s, "mixstage_graph_assess");
  printf("The stems with the planted kick room mic (37 samples late, inverted):\n");
  printf("  the stems' mix folded to mono loses %s dB (correlation %s)\n",
         num(a->mono.mono_loss_db, 2), num(a->mono.correlation, 3));
  printf("Phase trouble between strips (|correlation| >= %.2f within +-%.0f ms):\n",
         ac.phase_threshold, ac.max_lag_ms);
  if (a->phase_count == 0) printf("  none\n");
  for (int i = 0; i < a->phase_count; i++) {
    const mixstage_phase_pair_entry *p = &a->phase[i];
    printf("  %s / %s: correlation %s at an offset of %lld samples%s%s (as they are: %s)\n",
           a->strip_names[p->a], a->strip_names[p->b], num(p->result.correlation, 3),
           (long long)p->result.offset_frames,
           p->result.polarity_flip ? ", polarity flipped" : "",
           p->result.time_offset ? ", time offset" : "", num(p->result.zero_lag_correlation, 3));
  }
  printf("Masking, the pairs that compete most (score: overlap in the 1/3-octave band):\n");
  for (int i = 0, shown = 0; i < a->masking_count && shown < 5; i++) {
    const mixstage_masking_pair *p = &a->masking[i];
    if (p->band < 0) break;
    /* The planted mic masks the kick by construction: leave it out. */
    if (strcmp(a->strip_names[p->a], "Kick room") == 0 ||
        strcmp(a->strip_names[p->b], "Kick room") == 0)
      continue;
    printf("  %d. %-5s / %-5s %6s dB around %5.0f Hz\n", ++shown, a->strip_names[p->a],
           a->strip_names[p->b], num(p->score_db, 1), p->band_hz);
  }
  printf("  (carve one of each pair with EQ around that band)\n");
  mixstage_mix_assessment_free(a);
  mixstage_graph_destroy(s);
}

/* ---- 5. the final master -------------------------------------------------------------- */

static void print_streaming(const mixstage_streaming_gain *s) {
  printf("      playback gain:");
  for (int i = 0; i < MIXSTAGE_STREAMING_SERVICES; i++)
    printf(" %s %s dB%s", s[i].service, snum(s[i].gain_db, 1),
           i + 1 < MIXSTAGE_STREAMING_SERVICES ? "," : "\n");
}

static void write_wav(double rate, const char *path, const float *x, int64_t frames) {
  char err[512];
  check(mixstage_audio_write(path, x, frames, 2, rate, NULL, NULL, err, sizeof err), NULL, err);
}

static float *tour_masters(mixstage_graph *g, const float *prod, int64_t prod_frames,
                           const float *pre, int64_t pre_frames, const char *outdir,
                           int64_t *master_frames) {
  heading("5. The final master");
  double rate = mixstage_graph_sample_rate(g);
  mixstage_file_stats ps;
  check(mixstage_measure(prod, prod_frames, 2, rate, &ps), g, "mixstage_measure");
  printf("The production mix (placeholder limiter on) reads %s LUFS, %s dBTP; the\n"
         "streaming services would play it back at:\n", lufs(ps.integrated_lufs),
         num(ps.true_peak_dbtp, 2));
  mixstage_streaming_gain sg[MIXSTAGE_STREAMING_SERVICES];
  check(mixstage_master_streaming_report(ps.integrated_lufs, ps.true_peak_dbtp, sg), g,
        "mixstage_master_streaming_report");
  print_streaming(sg);

  printf("\nThe final profile masters to a loudness target with a true-peak ceiling,\n"
         "measuring and correcting the limiter's input gain until it lands within\n"
         "+-0.3 LU.  Here in a mastering session: the premaster (placeholder limiter\n"
         "bypassed) into the song's own mastering chain.\n");
  mixstage_graph *s = mastering_session(g, pre, pre_frames);
  char *dir = join(outdir, "masters");
  make_dir(dir);
  float *keep = NULL;
  for (int p = 0; p <= 4; p++) {
    mixstage_master_config mc;
    mixstage_master_config_init(&mc);
    const char *name = mixstage_master_preset_name(p);
    if (name) {
      check(mixstage_master_config_preset(&mc, name), s, "mixstage_master_config_preset");
    } else {
      name = "custom"; /* a hot rock master */
      mc.target_lufs = -11.0;
      mc.ceiling_dbtp = -0.5;
    }
    mixstage_master_report rep;
    float *audio = NULL;
    int st = mixstage_graph_master(s, &mc, NULL, &rep, &audio);
    if (st == MIXSTAGE_ESTATE) /* the report and audio hold the best attempt */
      printf("  (not converged) %s\n", mixstage_graph_last_error(s));
    else
      check(st, s, "mixstage_graph_master");
    printf("  %-11s target %5.1f LUFS, %4.1f dBTP -> %6s LUFS, %5s dBTP, LRA %s LU%s\n", name,
           rep.target_lufs, rep.ceiling_dbtp, num(rep.integrated_lufs, 2),
           num(rep.true_peak_dbtp, 2), num(rep.loudness_range_lu, 1),
           rep.converged ? "" : "  NOT CONVERGED");
    printf("      limiter input gain %s dB, ceiling %s dB, mix-bus fader %s dB, %d renders\n",
           snum(rep.input_gain_db, 2), num(rep.limiter_ceiling_db, 2),
           snum(rep.bus_fader_db, 2), rep.iteration_count);
    print_streaming(rep.streaming);
    char file[64];
    snprintf(file, sizeof file, "%s.wav", name);
    char *path = join(dir, file);
    write_wav(rate, path, audio, rep.frames);
    free(path);
    if (p == 0) {
      keep = audio; /* the streaming master, for A/B and translation */
      *master_frames = rep.frames;
    } else {
      mixstage_free(audio);
    }
  }
  printf("  (a master louder than a service's reference is turned down on playback:\n"
         "   the loudness bought with limiting is lost, the squashing stays)\n");
  printf("  files: %s/<preset>.wav\n", dir);
  free(dir);
  mixstage_graph_destroy(s);
  return keep;
}

/* ---- 6. album mode ------------------------------------------------------------------- */

static void tour_album(mixstage_graph *g, const float *pre, int64_t pre_frames,
                       const mixstage_bounce *stems, const char *outdir) {
  heading("6. Album mode");
  printf("Two songs mastered together to -14 LUFS: one album gain moves both, so the\n"
         "breakdown (the song without its drums: its other stems and FX stems added\n"
         "up) stays quieter than the full song, as it was mixed.\n");
  double rate = mixstage_graph_sample_rate(g);
  int64_t n = mixstage_bounce_frames(stems);
  float *breakdown = xmalloc(sizeof(float) * 2 * (size_t)n);
  memset(breakdown, 0, sizeof(float) * 2 * (size_t)n);
  for (int i = 0; i < mixstage_bounce_count(stems); i++) {
    int kind = mixstage_bounce_kind(stems, i);
    if (kind != MIXSTAGE_OUTPUT_STEM && kind != MIXSTAGE_OUTPUT_FX) continue;
    mixstage_strip *st = mixstage_graph_find_strip(g, mixstage_bounce_name(stems, i));
    mixstage_bus *to = st ? mixstage_strip_output(st) : NULL;
    if (to && strcmp(mixstage_bus_name(to), "Drums") == 0) continue;
    const float *x = mixstage_bounce_data(stems, i);
    for (int64_t k = 0; k < 2 * n; k++) breakdown[k] += x[k];
  }
  mixstage_graph *songs[2] = {mastering_session(g, pre, pre_frames),
                              mastering_session(g, breakdown, n)};
  free(breakdown);
  static const char *const names[2] = {"full song", "breakdown"};
  double before[2];
  for (int i = 0; i < 2; i++) {
    /* Each song's loudness through its mastering chain as it stands. */
    check(mixstage_graph_set_profile(songs[i], mixstage_profile_find("final")), songs[i],
          "mixstage_graph_set_profile");
    int64_t f;
    float *x = render(songs[i], NULL, &f);
    mixstage_file_stats st;
    check(mixstage_measure(x, f, 2, rate, &st), songs[i], "mixstage_measure");
    before[i] = st.integrated_lufs;
    free(x);
  }
  mixstage_master_config mc;
  mixstage_master_config_init(&mc);
  mixstage_album_report album;
  mixstage_master_report reps[2];
  float *audio[2] = {NULL, NULL};
  check(mixstage_album_master(songs, 2, &mc, NULL, &album, reps), songs[0],
        "mixstage_album_master");
  printf("  album gain %s dB; all songs together %s LUFS before, %s LUFS after\n",
         snum(album.album_gain_db, 2), lufs(album.combined_before_lufs),
         num(album.combined_lufs, 2));
  for (int i = 0; i < 2; i++)
    printf("  %-10s %6s LUFS -> %6s LUFS, true peak %5s dBTP\n", names[i], num(before[i], 2),
           num(reps[i].integrated_lufs, 2), num(reps[i].true_peak_dbtp, 2));
  printf("  difference between the songs: %s LU before, %s LU after\n",
         num(before[0] - before[1], 2),
         num(reps[0].integrated_lufs - reps[1].integrated_lufs, 2));
  char *dir = join(outdir, "album");
  make_dir(dir);
  static const char *const files[2] = {"1-full-song.wav", "2-breakdown.wav"};
  for (int i = 0; i < 2; i++) {
    /* The sessions are left at their album masters: print them. */
    int64_t f;
    audio[i] = render(songs[i], NULL, &f);
    char *path = join(dir, files[i]);
    write_wav(rate, path, audio[i], f);
    free(path);
    free(audio[i]);
    mixstage_graph_destroy(songs[i]);
  }
  printf("  files: %s/1-full-song.wav, 2-breakdown.wav\n", dir);
  free(dir);
}

/* ---- 7. reference A/B ------------------------------------------------------------------- */

static void tour_ab(double rate, const float *prod, int64_t prod_frames, const float *master,
                    int64_t master_frames, const char *outdir) {
  heading("7. Reference A/B: the streaming master (B) against the production mix (A)");
  int64_t n = prod_frames < master_frames ? prod_frames : master_frames;
  mixstage_ab_result r;
  check(mixstage_ab_compare(prod, n, 2, master, n, 2, rate, &r), NULL, "mixstage_ab_compare");
  printf("  loudness match: B needs %s dB to sound as loud as A\n", snum(r.match_gain_db, 2));
  printf("  %-22s %9s %9s %9s\n", "", "A", "B", "B - A");
  printf("  %-22s %9s %9s %9s\n", "integrated (LUFS)", num(r.a_lufs, 2), num(r.b_lufs, 2),
         snum(r.loudness_diff_lu, 2));
  printf("  %-22s %9s %9s %9s\n", "loudness range (LU)", num(r.a_lra_lu, 2), num(r.b_lra_lu, 2),
         snum(r.lra_diff_lu, 2));
  printf("  %-22s %9s %9s %9s\n", "crest factor (dB)", num(r.a_crest_db, 2),
         num(r.b_crest_db, 2), snum(r.crest_diff_db, 2));
  printf("  %-22s %9s %9s %9s\n", "width, side/mid (dB)", num(r.a_width_db, 2),
         num(r.b_width_db, 2), snum(r.width_diff_db, 2));
  printf("  %-22s %9s %9s %9s\n", "correlation", num(r.a_correlation, 3),
         num(r.b_correlation, 3), snum(r.correlation_diff, 3));
  printf("  tonal balance per octave band (dBFS; B - A as is, and loudness-matched):\n");
  printf("  %8s %9s %9s %9s %9s\n", "band Hz", "A", "B", "B - A", "matched");
  for (int i = 0; i < MIXSTAGE_OCTAVE_BANDS; i++)
    printf("  %8.1f %9s %9s %9s %9s\n", r.band_hz[i], num(r.a_band_dbfs[i], 1),
           num(r.b_band_dbfs[i], 1), snum(r.band_diff_db[i], 2),
           snum(r.band_diff_matched_db[i], 2));
  char *dir = join(outdir, "ab");
  make_dir(dir);
  double ga, gb;
  char err[512];
  check(mixstage_ab_write_pair(prod, n, 2, master, n, 2, rate, dir, NULL, &ga, &gb, err,
                               sizeof err),
        NULL, err);
  printf("  wrote %s/A.wav (%s dB) and B.wav (%s dB): loudness-matched, for listening\n", dir,
         snum(ga, 2), snum(gb, 2));
  free(dir);
}

/* ---- 8. translation ----------------------------------------------------------------------- */

static void tour_translation(const float *master, int64_t frames, double rate,
                             const char *outdir) {
  heading("8. Translation: the streaming master through other playback systems");
  float *prev = xmalloc(sizeof(float) * 2 * (size_t)frames);
  double ref_bands[MIXSTAGE_OCTAVE_BANDS], bands[MIXSTAGE_OCTAVE_BANDS];
  check(mixstage_band_levels(master, frames, 2, rate, 0, ref_bands), NULL, "mixstage_band_levels");
  mixstage_file_stats ref;
  check(mixstage_measure(master, frames, 2, rate, &ref), NULL, "mixstage_measure");
  printf("  designed response at 60 Hz / 1 kHz / 10 kHz (dB), then the preview against\n"
         "  the master: loudness, the octave bands at 63 Hz, 1 kHz and 8 kHz, correlation\n");
  for (int s = 0; s < mixstage_playback_system_count(); s++) {
    check(mixstage_translate(master, frames, 2, rate, s, prev), NULL, "mixstage_translate");
    check(mixstage_band_levels(prev, frames, 2, rate, 0, bands), NULL, "mixstage_band_levels");
    mixstage_file_stats st;
    check(mixstage_measure(prev, frames, 2, rate, &st), NULL, "mixstage_measure");
    mixstage_mono_compat mono;
    check(mixstage_mono_compat_buffer(prev, frames, 2, &mono), NULL, "mixstage_mono_compat");
    printf("  %-8s %6s %5s %5s | %s LU, 63 Hz %s, 1 kHz %s, 8 kHz %s dB, corr %s\n",
           mixstage_playback_system_name(s), snum(mixstage_translate_response_db(s, 60, rate), 1),
           snum(mixstage_translate_response_db(s, 1000, rate), 1),
           snum(mixstage_translate_response_db(s, 10000, rate), 1),
           snum(st.integrated_lufs - ref.integrated_lufs, 1), snum(bands[1] - ref_bands[1], 1),
           snum(bands[5] - ref_bands[5], 1), snum(bands[8] - ref_bands[8], 1),
           num(mono.correlation, 2));
    printf("           %s\n", mixstage_playback_system_description(s));
  }
  free(prev);
  char *dir = join(outdir, "translation");
  make_dir(dir);
  char err[512];
  check(mixstage_translate_write(master, frames, 2, rate, dir, "master", NULL, err, sizeof err),
        NULL, err);
  printf("  files: %s/master-<system>.wav\n", dir);
  free(dir);
}

/* ---- main ----------------------------------------------------------------------------- */

int main(int argc, char **argv) {
  const char *outdir = "analysis-out";
  for (int i = 1; i < argc; i++) {
    char *end = NULL;
    if (strcmp(argv[i], "--out") == 0 && i + 1 < argc) {
      outdir = argv[++i];
    } else if (strcmp(argv[i], "--seconds") == 0 && i + 1 < argc &&
               (excerpt_seconds = strtod(argv[++i], &end), *end == '\0') &&
               excerpt_seconds >= 0 && excerpt_seconds <= 3600) {
      continue;
    } else {
      fprintf(stderr, "usage: analysis_tour [--out DIR] [--seconds S]\n");
      return 2;
    }
  }
  make_dir(outdir);

  mixstage_graph *g = demo_song();
  double rate = mixstage_graph_sample_rate(g);
  printf("libmixstage %s analysis tour: the demo song, %.1f s at %.0f Hz, %d strips,\n"
         "%d buses (mix bus included).\n", mixstage_version_string(),
         mixstage_demo_song_seconds(), rate, mixstage_graph_strip_count(g),
         mixstage_graph_bus_count(g));
  if (excerpt_seconds > 0)
    printf("Rendered over its first %.1f s (plus up to 1 s of tail) to keep the tour\n"
           "quick; --seconds 0 renders the whole song.\n", excerpt_seconds);
  printf("Levels: dBFS (full scale 1.0; a full-scale sine has an RMS of -3.01 dBFS),\n"
         "loudness LUFS (ITU-R BS.1770-4), true peak dBTP, loudness range LU (EBU 3342).\n");

  mixstage_render_config rc;
  excerpt_config(g, &rc);
  int64_t pre_frames = 0, master_frames = 0;
  float *pre = tour_in_graph(g, &rc, &pre_frames);
  mixstage_bounce *stems = tour_meters(g, &rc, pre, pre_frames);
  int ri = mixstage_bounce_find(stems, "reference");
  const float *prod = mixstage_bounce_data(stems, ri); /* the production mix */
  int64_t prod_frames = mixstage_bounce_frames(stems);
  tour_gain_staging(g); /* applies clip gains: nothing below renders g again */
  tour_assessment(g, stems, prod, prod_frames);
  float *master = tour_masters(g, prod, prod_frames, pre, pre_frames, outdir, &master_frames);
  tour_album(g, pre, pre_frames, stems, outdir);
  tour_ab(rate, prod, prod_frames, master, master_frames, outdir);
  tour_translation(master, master_frames, rate, outdir);

  mixstage_free(master);
  mixstage_bounce_destroy(stems);
  free(pre);
  mixstage_graph_destroy(g);
  printf("\nDone: files under %s/\n", outdir);
  return 0;
}
