/* demo_song: libmixstage's built-in demo.
 *
 * Takes the demo song from the library (mixstage_demo_song_create(): 8 bars
 * of A minor at 120 BPM, 48 kHz, kick, clap, hats, bass, pad and lead
 * synthesised in memory, with its production mix) and delivers it under the
 * three render profiles with mixstage_graph_deliver():
 *
 *   DIR/production/  the production mix (32-bit float) and manifest.json
 *   DIR/mix-stems/   one 24-bit stem per strip, the Plate and Delay returns
 *                    as FX stems, the production mix as reference.wav
 *   DIR/final/       the master: placeholder limiter out, mastering chain in,
 *                    mastered to the streaming target (-14 LUFS, -1 dBTP)
 *                    with mixstage_graph_master()
 *   DIR/demo-song/   the song as a graph file plus its sources
 *                    (mixstage_demo_song_write()), for `mixstage render`
 *
 * It prints the gain staging and routing it finds in the graph, then, per
 * profile, what was kept, bypassed and muted, each file's loudness and true
 * peak, and the stems' null check; then runs the song block by block as a
 * real-time host would, reading the mix-bus gain reduction, and checks that
 * pass against the delivered production mix.
 *
 *   demo_song [--out DIR]        (default DIR: out)
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "mixstage.h"

/* ---- failure handling: the library's own message, then exit 1 ------------ */

static mixstage_graph *G;

static void fail(int status, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fputs("demo_song: ", stderr);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  const char *msg = G ? mixstage_graph_last_error(G) : "";
  fprintf(stderr, ": %s%s%s\n", mixstage_strerror(status), *msg ? " — " : "", msg);
  mixstage_graph_destroy(G);
  exit(1);
}

static void ok(int status, const char *what) {
  if (status < 0) fail(status, "%s", what);
}

static void *xcalloc(size_t n, size_t size) {
  void *p = calloc(n, size);
  if (!p) {
    fprintf(stderr, "demo_song: out of memory\n");
    exit(1);
  }
  return p;
}

/* mkdir -p: the song's files go into OUT/demo-song, and the writer makes
 * only that last level. */
static int make_dirs(const char *path) {
  char p[4096];
  snprintf(p, sizeof p, "%s", path);
  for (char *c = p + 1;; c++) {
    if (*c != '/' && *c) continue;
    char keep = *c;
    *c = 0;
    if (mkdir(p, 0777) < 0 && errno != EEXIST) return -1;
    if (!keep) return 0;
    *c = keep;
  }
}

/* The first node on @p bus with @p role, or NULL. */
static mixstage_node *bus_node_with_role(mixstage_bus *bus, int role) {
  for (int k = 0; k < mixstage_bus_node_count(bus); k++)
    if (mixstage_node_role(mixstage_bus_node(bus, k)) == role) return mixstage_bus_node(bus, k);
  return NULL;
}

/* ---- the delivery report ------------------------------------------------------ */

static void print_file(void *user, const char *path, const char *name, int kind,
                       const mixstage_file_stats *st) {
  (void)user;
  (void)name;
  static const char *const kinds[] = {"mix", "stem", "FX stem", "reference"};
  char lufs[32], tp[32];
  if (isfinite(st->integrated_lufs)) snprintf(lufs, sizeof lufs, "%6.1f LUFS", st->integrated_lufs);
  else snprintf(lufs, sizeof lufs, "%11s", "silent");
  if (isfinite(st->true_peak_dbtp)) snprintf(tp, sizeof tp, "%+6.1f dBTP", st->true_peak_dbtp);
  else snprintf(tp, sizeof tp, "%11s", "-inf");
  printf("   %-9s %-36s %s  %s  %.2f s\n", kinds[kind & 3], path, lufs, tp, st->seconds);
}

/* What a role covers in this graph, in words: its inserts by owner, and for
 * mix-fx the sends and returns it governs. */
static void role_words(int role, char *out, size_t size) {
  out[0] = 0;
  size_t l = 0;
  int any = 0;
  if (role == MIXSTAGE_ROLE_MIX_FX) {
    /* Returns fed by mix-fx sends. */
    for (int b = 1; b < mixstage_graph_bus_count(G); b++) {
      mixstage_bus *bus = mixstage_graph_bus(G, b);
      if (mixstage_bus_kind_of(bus) != MIXSTAGE_BUS_RETURN) continue;
      l += (size_t)snprintf(out + l, size - l, "%s%s", any ? " and " : "sends to the ", mixstage_bus_name(bus));
      any = 1;
    }
    if (any) snprintf(out + l, size - l, " returns");
    return;
  }
  for (int i = 0; i < mixstage_graph_strip_count(G); i++) {
    mixstage_strip *s = mixstage_graph_strip(G, i);
    for (int k = 0; k < mixstage_strip_node_count(s); k++) {
      mixstage_node *n = mixstage_strip_node(s, k);
      if (mixstage_node_role(n) != role) continue;
      if (role == MIXSTAGE_ROLE_STRIP) {
        if (!any) l += (size_t)snprintf(out + l, size - l, "channel-strip EQ, compression, saturation, faders, pan");
        any = 1;
        break;
      }
      l += (size_t)snprintf(out + l, size - l, "%s%s's %s", any ? ", " : "", mixstage_strip_name(s),
                            mixstage_node_type(n));
      any = 1;
    }
    if (l >= size) return;
  }
  for (int b = 0; b < mixstage_graph_bus_count(G); b++) {
    mixstage_bus *bus = mixstage_graph_bus(G, b);
    for (int k = 0; k < mixstage_bus_node_count(bus); k++) {
      mixstage_node *n = mixstage_bus_node(bus, k);
      if (mixstage_node_role(n) != role || (role == MIXSTAGE_ROLE_STRIP && any)) continue;
      const char *t = mixstage_node_type(n);
      if (role == MIXSTAGE_ROLE_PLACEHOLDER_LIMITER) t = "placeholder limiter";
      else if (!strcmp(t, "bus_compressor")) t = "bus compressor";
      else if (!strcmp(t, "console_color")) t = "console colour";
      l += (size_t)snprintf(out + l, size - l, "%s%s%s%s", any ? ", " : "", b == 0 ? "" : mixstage_bus_name(bus),
                            b == 0 ? "" : "'s ", t);
      any = 1;
      if (l >= size) return;
    }
  }
}

static void describe_profile(const mixstage_profile *p) {
  static const char *const verb[3] = {"kept", "bypassed", "muted"};
  for (int a = 0; a < 3; a++) {
    char line[1024] = "";
    size_t l = 0;
    for (int r = 0; r < MIXSTAGE_ROLE_COUNT; r++) {
      if (mixstage_profile_action(p, r) != a) continue;
      char w[512];
      role_words(r, w, sizeof w);
      if (!w[0]) continue;
      if (r == MIXSTAGE_ROLE_MASTERING && a == MIXSTAGE_ACTION_BYPASS) {
        /* "bypassed" mastering means: not part of this render */
        l += (size_t)snprintf(line + l, sizeof line - l, "%smastering chain (%s) off", l ? "; " : "", w);
        continue;
      }
      l += (size_t)snprintf(line + l, sizeof line - l, "%s%s", l ? "; " : "", w);
      if (l >= sizeof line) break;
    }
    if (line[0]) printf("   %-9s %s\n", verb[a], line);
  }
  if (mixstage_profile_stems(p) != MIXSTAGE_STEMS_NONE)
    printf("   delivers one stem per %s%s%s\n", mixstage_profile_stems(p) == MIXSTAGE_STEMS_PER_STRIP ? "strip" : "group",
           mixstage_profile_fx_stems(p) ? ", the FX returns as their own stems" : "",
           mixstage_profile_reference(p) ? ", and the production mix as reference.wav for A/B" : "");
}

/* ---- the graph, as found ------------------------------------------------------- */

/* Gain staging per strip: the source as bounced (measured from the file
 * mixstage_demo_song_write() made of it) against the clip gain that brings
 * it to about -18 dBFS RMS, then fader, pan and the insert chain. */
static void print_strips(const char *song_dir) {
  printf("%-6s %-7s %10s %11s %10s %8s %6s  %s\n", "strip", "source", "peak", "loudness", "clip gain", "fader",
         "pan", "inserts");
  for (int i = 0; i < mixstage_graph_strip_count(G); i++) {
    mixstage_strip *s = mixstage_graph_strip(G, i);
    char path[4200], msg[512], ins[200] = "";
    snprintf(path, sizeof path, "%s/sources/%s.wav", song_dir, mixstage_strip_name(s));
    mixstage_file_stats st;
    if (mixstage_measure_file(path, &st, msg, sizeof msg) < 0) fail(MIXSTAGE_EIO, "%s", msg);
    for (int k = 0; k < mixstage_strip_node_count(s); k++) {
      mixstage_node *n = mixstage_strip_node(s, k);
      size_t l = strlen(ins);
      snprintf(ins + l, sizeof ins - l, "%s%s%s%s", k ? ", " : "", mixstage_node_type(n),
               mixstage_node_role(n) == MIXSTAGE_ROLE_DESIGN ? " (design)" : "",
               mixstage_node_sidechain_strip(n) ? " (keyed)" : "");
    }
    printf("%-6s %-7s %5.1f dBFS %6.1f LUFS %+7.1f dB %+5.1f dB %+5.2f  %s\n", mixstage_strip_name(s),
           st.channels == 2 ? "stereo" : "mono", st.peak_dbfs, st.integrated_lufs, mixstage_strip_clip_gain_db(s),
           mixstage_strip_fader_db(s), mixstage_strip_pan(s), ins);
  }
}

/* For a tempo-synced delay node: its note value by name ("1/8d") and its
 * time in ms at the graph's tempo (a dotted note lasts 3/2 of the plain
 * one, a triplet 2/3); 0 for any other node. */
static double synced_delay_ms(mixstage_node *n, char *note, size_t size) {
  double sync = 0, idx = -1;
  if (strcmp(mixstage_node_type(n), "delay") || mixstage_node_get_param_by_name(n, "sync", &sync) < 0 || !sync ||
      mixstage_node_get_param_by_name(n, "note", &idx) < 0)
    return 0;
  mixstage_param_info info;
  if (mixstage_node_param_info(n, mixstage_node_param_id(n, "note"), &info) < 0 || !info.choices) return 0;
  const char *c = info.choices;
  for (int k = 0; k < (int)idx && c; k++) {
    c = strchr(c, '|');
    if (c) c++;
  }
  if (!c) return 0;
  size_t len = strcspn(c, "|");
  snprintf(note, size, "%.*s", (int)len, c);
  int num = 0, den = 0;
  char kind = 0;
  if (sscanf(note, "%d/%d%c", &num, &den, &kind) < 2 || den <= 0) return 0;
  double beats = 4.0 * num / den * (kind == 'd' ? 1.5 : kind == 't' ? 2.0 / 3.0 : 1.0);
  return beats * 60000.0 / mixstage_graph_tempo(G);
}

static const char *tap_word(int tap) { return tap == MIXSTAGE_TAP_PRE_FADER ? "pre-fader" : "post-fader"; }

/* Routing: groups and returns with what feeds them, sends, sidechain keys,
 * the mix-bus chain with its roles. */
static void print_routing(void) {
  printf("\nbuses:");
  for (int b = 1; b < mixstage_graph_bus_count(G); b++) {
    mixstage_bus *bus = mixstage_graph_bus(G, b);
    int group = mixstage_bus_kind_of(bus) == MIXSTAGE_BUS_GROUP;
    printf("%s %s (%s", b > 1 ? ";" : "", mixstage_bus_name(bus), group ? "group:" : "mix-fx return");
    for (int i = 0, first = 1; group && i < mixstage_graph_strip_count(G); i++)
      if (mixstage_strip_output(mixstage_graph_strip(G, i)) == bus) {
        printf("%s %s", first ? "" : ",", mixstage_strip_name(mixstage_graph_strip(G, i)));
        first = 0;
      }
    printf(")");
  }
  printf("; Mix\nsends:");
  for (int i = 0, any = 0; i < mixstage_graph_strip_count(G); i++) {
    mixstage_strip *s = mixstage_graph_strip(G, i);
    for (int k = 0; k < mixstage_strip_send_count(s); k++, any = 1) {
      mixstage_send *snd = mixstage_strip_send(s, k);
      printf("%s %s -> %s %.0f dB %s", any ? "," : "", mixstage_strip_name(s),
             mixstage_bus_name(mixstage_send_target(snd)), mixstage_send_level_db(snd),
             tap_word(mixstage_send_tap(snd)));
    }
  }
  for (int b = 1; b < mixstage_graph_bus_count(G); b++) {
    mixstage_bus *bus = mixstage_graph_bus(G, b);
    for (int k = 0; k < mixstage_bus_node_count(bus); k++) {
      char note[16];
      double ms = synced_delay_ms(mixstage_bus_node(bus, k), note, sizeof note);
      if (ms > 0)
        printf("\n       (the %s return repeats every %s note: %.0f ms at %.0f BPM)", mixstage_bus_name(bus), note,
               ms, mixstage_graph_tempo(G));
    }
  }
  for (int i = 0; i < mixstage_graph_strip_count(G); i++) {
    mixstage_strip *s = mixstage_graph_strip(G, i);
    for (int k = 0; k < mixstage_strip_node_count(s); k++) {
      mixstage_node *n = mixstage_strip_node(s, k);
      mixstage_strip *key = mixstage_node_sidechain_strip(n);
      if (key)
        printf("\nsidechain: %s's %s keyed by %s (%s): ducks under every hit, kept in every stem",
               mixstage_strip_name(s), mixstage_node_type(n), mixstage_strip_name(key),
               tap_word(mixstage_node_sidechain_tap(n)));
    }
  }
  mixstage_bus *mix = mixstage_graph_mix_bus(G);
  printf("\nmix bus:");
  for (int k = 0; k < mixstage_bus_node_count(mix); k++) {
    mixstage_node *n = mixstage_bus_node(mix, k);
    printf("%s %s (%s)", k ? " ->" : "", mixstage_node_type(n), mixstage_role_name(mixstage_node_role(n)));
  }
  printf("\n");
}

/* ---- main ---------------------------------------------------------------------- */

/* The final master, loudness-targeted: mixstage_graph_master() measures
 * renders of the final profile and corrects the gain into the mastering
 * limiter until the song is within 0.3 LU of -14 LUFS and at or under
 * -1 dBTP, leaving the graph there for the delivery. */
static void master_final(const mixstage_render_config *render) {
  mixstage_master_config mc;
  mixstage_master_config_init(&mc); /* the streaming preset */
  mixstage_master_report rep;
  ok(mixstage_graph_master(G, &mc, render, &rep, NULL), "mastering to the streaming target");
  printf("   mastered to %.0f LUFS / %.0f dBTP in %d renders: %.2f LUFS, %.2f dBTP, LRA %.1f LU "
         "(mastering limiter input %+.2f dB)\n",
         rep.target_lufs, rep.ceiling_dbtp, rep.iteration_count, rep.integrated_lufs, rep.true_peak_dbtp,
         rep.loudness_range_lu, rep.input_gain_db);
  printf("   streaming playback gain:");
  for (int i = 0; i < MIXSTAGE_STREAMING_SERVICES; i++)
    printf("%s %s %+.1f dB", i ? "," : "", rep.streaming[i].service, rep.streaming[i].gain_db);
  printf("\n");
}

int main(int argc, char **argv) {
  const char *outdir = "out";
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--out") == 0 && i + 1 < argc) outdir = argv[++i];
    else {
      fprintf(stderr, "usage: %s [--out DIR]\n", argv[0]);
      return 2;
    }
  }
  char song_dir[4096], msg[1024];
  if (strlen(outdir) > sizeof song_dir - 64) {
    fprintf(stderr, "demo_song: %s: path too long\n", outdir);
    return 1;
  }
  snprintf(song_dir, sizeof song_dir, "%s/demo-song", outdir);

  int err;
  G = mixstage_demo_song_create(0, &err);
  if (!G) fail(err, "creating the demo song");
  const double fs = mixstage_graph_sample_rate(G), bpm = mixstage_graph_tempo(G);
  const int64_t song = (int64_t)llround(mixstage_demo_song_seconds() * fs);
  printf("libmixstage %s — demo song: %.0f bars of A minor at %.0f BPM, %.0f Hz\n\n", mixstage_version_string(),
         mixstage_demo_song_seconds() * bpm / 240.0, bpm, fs);

  /* The same song as files: a graph file and its sources, which
   * `mixstage render` renders bit-identically to the graph above. */
  if (make_dirs(outdir) < 0) {
    fprintf(stderr, "demo_song: %s: %s\n", outdir, strerror(errno));
    mixstage_graph_destroy(G);
    return 1;
  }
  int rc = mixstage_demo_song_write(song_dir, fs, msg, sizeof msg);
  if (rc < 0) {
    fprintf(stderr, "demo_song: %s\n", msg);
    mixstage_graph_destroy(G);
    return 1;
  }
  print_strips(song_dir);
  print_routing();
  ok(mixstage_graph_prepare(G), "prepare");
  int latency = mixstage_graph_latency(G);
  printf("latency compensated: %d frames (%.2f ms)\n", latency, 1000.0 * latency / fs);

  /* ---- deliver the three profiles ---- */
  mixstage_deliver_config dc;
  mixstage_deliver_config_init(&dc); /* 24-bit WAV, TPDF dither, tails to -90 dBFS */
  dc.render.threads = 2;             /* bit-identical for any count */
  dc.file_done = print_file;
  double residual = NAN;
  dc.null_residual_out = &residual;
  static const char *const profiles[3] = {"production", "mix-stems", "final"};
  int numeric = 0;
  for (int k = 0; k < 3; k++) {
    const mixstage_profile *p = mixstage_profile_find(profiles[k]);
    char dir[4200];
    snprintf(dir, sizeof dir, "%s/%s", outdir, profiles[k]);
    /* The production mix is delivered as 32-bit float: it is the
     * reference the block-by-block pass below is compared with. */
    dc.write.sample_type = k == 0 ? MIXSTAGE_SAMPLE_FLOAT32 : MIXSTAGE_SAMPLE_PCM24;
    printf("\n== %s -> %s/\n", profiles[k], dir);
    describe_profile(p);
    if (k == 2) master_final(&dc.render);
    residual = NAN;
    rc = mixstage_graph_deliver(G, p, dir, &dc);
    if (rc == MIXSTAGE_ENUMERIC) numeric = 1;
    else if (rc < 0) fail(rc, "delivering %s", profiles[k]);
    if (!isnan(residual))
      printf("   null check: stems + FX stems vs the production mix (mix-bus stages bypassed): %.1f dBFS%s\n",
             residual, residual < -100.0 ? " — the stems add up" : " — THE STEMS DO NOT ADD UP");
  }

  /* ---- a pass block by block, as a real-time host would run it, reading
   * the mix-bus gain reduction as it goes; compared with the delivered
   * production mix ---- */
  char path[4200];
  snprintf(path, sizeof path, "%s/production/mix.wav", outdir);
  float *out = NULL;
  int64_t total = 0;
  int nch = 0;
  if (mixstage_audio_read(path, 0, &out, &total, &nch, NULL, msg, sizeof msg) < 0) {
    fprintf(stderr, "demo_song: %s\n", msg);
    mixstage_graph_destroy(G);
    return 1;
  }
  mixstage_bus *mix = mixstage_graph_mix_bus(G);
  mixstage_node *buscomp = bus_node_with_role(mix, MIXSTAGE_ROLE_BUS_DYNAMICS);
  mixstage_node *lim = bus_node_with_role(mix, MIXSTAGE_ROLE_PLACEHOLDER_LIMITER);
  if (!buscomp || !lim) fail(MIXSTAGE_ENOTFOUND, "the mix bus's compressor and placeholder limiter");
  ok(mixstage_graph_set_profile(G, NULL), "profile");
  ok(mixstage_graph_prepare(G), "prepare");
  enum { BLOCK = 256 };
  int64_t pass = total + latency;
  float *live = xcalloc((size_t)pass * 2, sizeof(float));
  double gr_bc_max = 0, gr_bc_sum = 0, gr_lim_max = 0, gr_lim_sum = 0;
  int64_t nblocks = 0, lim_active = 0;
  for (int64_t pos = 0; pos < pass; pos += BLOCK) {
    int n = pass - pos < BLOCK ? (int)(pass - pos) : BLOCK;
    int ps = mixstage_graph_process(G, live + 2 * pos, n);
    if (ps < 0 && ps != MIXSTAGE_ENUMERIC) fail(ps, "processing");
    if (pos >= latency + song) continue; /* gain reduction over the song itself */
    double a = mixstage_node_gain_reduction_db(buscomp), b = mixstage_node_gain_reduction_db(lim);
    gr_bc_max = fmax(gr_bc_max, a);
    gr_lim_max = fmax(gr_lim_max, b);
    gr_bc_sum += a;
    gr_lim_sum += b;
    lim_active += b > 0.1;
    nblocks++;
  }
  int64_t mismatch = 0;
  for (int64_t i = 0; i < total * 2; i++) mismatch += live[2 * (int64_t)latency + i] != out[i];

  printf("\nproduction mix: %lld frames = %.2f s (%.2f s of song + %.2f s of tails, trimmed at -90 dBFS)\n",
         (long long)total, (double)total / fs, (double)song / fs, (double)(total - song) / fs);
  printf("gain reduction (read every %d frames while processing): bus compressor max %.1f dB, mean %.1f dB; "
         "placeholder limiter max %.1f dB, mean %.1f dB, active %.0f%% of the time\n",
         BLOCK, gr_bc_max, gr_bc_sum / (double)nblocks, gr_lim_max, gr_lim_sum / (double)nblocks,
         100.0 * (double)lim_active / (double)nblocks);
  printf("block-by-block pass vs the delivered production mix: %s\n", mismatch ? "DIFFERENT" : "bit-identical");
  if (numeric) printf("warning: a node produced NaN/Inf during a render and was reset\n");

  /* The file earlier versions of the demo wrote (README, scripts). */
  mixstage_write_config wc;
  mixstage_write_config_init(&wc);
  wc.sample_type = MIXSTAGE_SAMPLE_FLOAT32;
  snprintf(path, sizeof path, "%s/demo_production.wav", outdir);
  if (mixstage_audio_write(path, out, total, 2, fs, &wc, NULL, msg, sizeof msg) < 0)
    printf("not written: %s\n", msg);
  else
    printf("wrote %s (a copy of production/mix.wav)\n", path);
  printf("wrote %s/demo-song.mixstage.json and its sources/: render it with\n"
         "  mixstage render %s/demo-song.mixstage.json --out DIR\n", song_dir, song_dir);

  mixstage_graph_destroy(G);
  mixstage_free(out);
  free(live);
  return mismatch ? 1 : 0;
}
