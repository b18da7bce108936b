/* stem_roundtrip: the mix engineer's side of a stem delivery.
 *
 *   stem_roundtrip DIR [--out FILE]    (DIR holds manifest.json and the stems;
 *                                       default FILE: DIR/../remix.wav)
 *
 * Reads DIR/manifest.json (with jansson), builds a fresh mix graph with one
 * strip per stem and FX stem (each file read with mixstage_audio_read at
 * the delivery's rate, faders at 0 dB, centred: the stems are already
 * panned), puts a new mix-bus chain on it ("add another tape compressor in
 * the mix": bus_compressor with its tape stage on), renders, and compares
 * the re-mix with the delivered reference (the production mix).
 *
 * The reference is added to the graph as a strip named "reference", muted:
 * in a host it is the A/B track.  A muted strip adds nothing to a render, so
 * the comparison itself is computed from the files with mixstage_measure():
 * integrated loudness and true peak of both, then the re-mix gain-matched to
 * the reference's loudness and the RMS of their difference, in dB below the
 * reference's RMS.  That difference is what the new bus chain (and the
 * production's bus compressor and limiter, absent from the stems) changed.
 */
#define _POSIX_C_SOURCE 200809L
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mixstage.h"

#define MAX_STEMS 64

static mixstage_graph *G;

static void check(int status, const char *what) {
  if (status >= 0) return;
  fprintf(stderr, "stem_roundtrip: %s: %s\n  %s\n", what, mixstage_strerror(status),
          G ? mixstage_graph_last_error(G) : "");
  exit(1);
}

static double rms_db(const float *x, int64_t n) {
  double s = 0;
  for (int64_t i = 0; i < n; i++) s += (double)x[i] * x[i];
  return n ? 10.0 * log10(s / (double)n + 1e-300) : -INFINITY;
}

int main(int argc, char **argv) {
  if (argc != 2 && !(argc == 4 && strcmp(argv[2], "--out") == 0)) {
    fprintf(stderr, "usage: %s DIR [--out FILE]\n", argv[0]);
    return 2;
  }
  const char *dir = argv[1];
  char path[4096], outpath[4096], msg[512];
  if (argc == 4) snprintf(outpath, sizeof outpath, "%s", argv[3]);
  else snprintf(outpath, sizeof outpath, "%s/../remix.wav", dir);

  /* ---- the manifest: which files, of which kind, at which rate ---- */
  snprintf(path, sizeof path, "%s/manifest.json", dir);
  json_error_t je;
  json_t *man = json_load_file(path, 0, &je);
  if (!man) {
    fprintf(stderr, "stem_roundtrip: %s: %s (line %d)\n", path, je.text, je.line);
    return 1;
  }
  json_t *files = json_object_get(man, "files");
  const char *profile = json_string_value(json_object_get(man, "profile"));
  double rate = json_number_value(json_object_get(json_array_get(files, 0), "sample_rate"));
  if (!json_is_array(files) || rate <= 0) {
    fprintf(stderr, "stem_roundtrip: %s: no files\n", path);
    return 1;
  }

  mixstage_graph_config gc;
  mixstage_graph_config_init(&gc);
  gc.sample_rate = rate;
  int err;
  G = mixstage_graph_create(&gc, &err);
  check(G ? MIXSTAGE_OK : err, "graph");

  float *audio[MAX_STEMS];
  int naudio = 0, nstems = 0;
  float *ref = NULL;
  int64_t ref_frames = 0;
  size_t i;
  json_t *f;
  printf("delivery %s (profile '%s', %.0f Hz)\n", dir, profile ? profile : "?", rate);
  json_array_foreach(files, i, f) {
    const char *kind = json_string_value(json_object_get(f, "kind"));
    const char *name = json_string_value(json_object_get(f, "name"));
    const char *file = json_string_value(json_object_get(f, "path"));
    if (!kind || !name || !file || naudio == MAX_STEMS) continue;
    int is_ref = !strcmp(kind, "reference");
    if (!is_ref && strcmp(kind, "stem") && strcmp(kind, "fx-return")) continue; /* a "mix" file */
    snprintf(path, sizeof path, "%s/%s", dir, file);
    float *x;
    int64_t n;
    int ch;
    check(mixstage_audio_read(path, rate, &x, &n, &ch, NULL, msg, sizeof msg) < 0 ? (fprintf(stderr, "%s\n", msg), -1)
                                                                                   : 0,
          path);
    audio[naudio++] = x;
    mixstage_strip *s = mixstage_graph_add_strip(G, name, ch, &err);
    check(s ? MIXSTAGE_OK : err, name);
    check(mixstage_strip_set_source_buffer(s, x, ch, n, 0), name);
    if (is_ref) {
      /* the A/B track: in the session, silent in the render */
      check(mixstage_strip_set_mute(s, 1), "reference");
      ref = x;
      ref_frames = n;
    } else {
      nstems++;
    }
    printf("  %-10s %-14s %lld frames, %d ch%s\n", kind, name, (long long)n, ch, is_ref ? " (muted, for A/B)" : "");
  }
  if (!ref || nstems == 0) {
    fprintf(stderr, "stem_roundtrip: %s has no reference or no stems\n", dir);
    return 1;
  }

  /* ---- the mix engineer's own bus chain: another tape compressor ---- */
  int e2;
  mixstage_node *tape = mixstage_bus_insert(mixstage_graph_mix_bus(G), "bus_compressor", MIXSTAGE_ROLE_BUS_DYNAMICS,
                                            -1, &e2);
  check(tape ? MIXSTAGE_OK : e2, "bus compressor");
  check(mixstage_node_set_param_by_name(tape, "tape", 1.0), "tape");
  check(mixstage_node_set_param_by_name(tape, "threshold", -20.0), "threshold");
  check(mixstage_node_set_param_by_name(tape, "makeup", 2.0), "makeup");

  /* ---- render: as long as the stems (they already carry their tails) ---- */
  mixstage_render_config rc;
  mixstage_render_config_init(&rc);
  rc.max_tail_frames = 0;
  int64_t frames = mixstage_graph_render_frames(G, &rc);
  check(frames < 0 ? (int)frames : 0, "length");
  int ch = mixstage_bus_channels(mixstage_graph_mix_bus(G));
  float *mixbuf = calloc((size_t)frames * (size_t)ch, sizeof(float));
  if (!mixbuf) return 1;
  int r = mixstage_graph_render(G, &rc, mixbuf, frames);
  if (r != MIXSTAGE_ENUMERIC) check(r, "render");
  mixstage_write_config wc;
  mixstage_write_config_init(&wc);
  mixstage_file_stats ws;
  if (mixstage_audio_write(outpath, mixbuf, frames, ch, rate, &wc, &ws, msg, sizeof msg) < 0) {
    fprintf(stderr, "stem_roundtrip: %s\n", msg);
    return 1;
  }

  /* ---- A/B against the reference, loudness-matched ---- */
  mixstage_file_stats a, b;
  int64_t n = frames < ref_frames ? frames : ref_frames;
  check(mixstage_measure(mixbuf, n, ch, rate, &a), "measure");
  check(mixstage_measure(ref, n, ch, rate, &b), "measure");
  double match_db = b.integrated_lufs - a.integrated_lufs, g = pow(10.0, match_db / 20.0);
  float *diff = malloc(sizeof(float) * (size_t)n * (size_t)ch);
  if (!diff) return 1;
  for (int64_t k = 0; k < n * ch; k++) diff[k] = (float)(g * mixbuf[k] - ref[k]);
  double d_db = rms_db(diff, n * ch) - rms_db(ref, n * ch);
  printf("re-mix of %d stems with a tape bus compressor -> %s\n", nstems, outpath);
  printf("  %-10s %7.1f LUFS  %+6.1f dBTP  LRA %4.1f LU\n", "re-mix", a.integrated_lufs, a.true_peak_dbtp,
         a.loudness_range_lu);
  printf("  %-10s %7.1f LUFS  %+6.1f dBTP  LRA %4.1f LU\n", "reference", b.integrated_lufs, b.true_peak_dbtp,
         b.loudness_range_lu);
  printf("  loudness-matched A/B (re-mix %+.2f dB): difference %.1f dB below the reference\n", match_db, -d_db);

  free(diff);
  free(mixbuf);
  for (int k = 0; k < naudio; k++) mixstage_free(audio[k]);
  mixstage_graph_destroy(G);
  json_decref(man);
  return isfinite(a.integrated_lufs) && isfinite(d_db) ? 0 : 1;
}
