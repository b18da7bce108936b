/* render_ref: the C reference for the binding tests.  Builds the graph that
 * tests/python/test_mixstage.py and tests/lua/test_mixstage.lua also build
 * (sources computed with exact integer arithmetic, so every language makes
 * the same float32 samples), renders it and prints
 *     <frames> <channels> <FNV-1a 64 of the float32 bytes, 16 hex digits>
 * With a path argument it also writes the raw interleaved float32 render.
 * With --bounce PROFILE it bounces that profile instead (same tail cap and
 * threads) and prints one line per output:
 *     <name> <frames> <channels> <FNV-1a 64 hex>
 * Keep the three builders in step. */
#include <string.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "mixstage.h"

#define FRAMES 24000

static uint64_t fnv1a64(const float *data, size_t samples) {
  uint64_t h = 1469598103934665603ULL;
  const unsigned char *b = (const unsigned char *)data;
  for (size_t i = 0; i < sizeof(float) * samples; i++) {
    h ^= b[i];
    h *= 1099511628211ULL;
  }
  return h;
}

static void check(int st, mixstage_graph *g, const char *what) {
  if (st < 0) {
    fprintf(stderr, "render_ref: %s: %s: %s\n", what, mixstage_strerror(st), mixstage_graph_last_error(g));
    exit(1);
  }
}

int main(int argc, char **argv) {
  static float kick[FRAMES], pad[2 * FRAMES];
  for (int i = 0; i < FRAMES; i++) {
    int k = i % 12000;
    kick[i] = k < 2400 ? (float)(((k / 40) % 2 == 0 ? 0.75 : -0.75) * (double)(2400 - k) / 2400.0) : 0.0f;
  }
  uint64_t x = 12345;
  for (int i = 0; i < 2 * FRAMES; i++) {
    x = (x * 1103515245u + 12345u) % 2147483648u;
    pad[i] = (float)(((double)x / 2147483648.0 - 0.5) * 0.25);
  }

  mixstage_graph_config cfg;
  mixstage_graph_config_init(&cfg);
  cfg.max_block_frames = 256;
  int err = 0;
  mixstage_graph *g = mixstage_graph_create(&cfg, &err);
  check(err, NULL, "create");
  mixstage_strip *k = mixstage_graph_add_strip(g, "Kick", 1, &err);
  check(err, g, "Kick");
  check(mixstage_strip_set_source_buffer(k, kick, 1, FRAMES, 1), g, "kick source");
  check(mixstage_strip_set_fader_db(k, -2.0), g, "kick fader");
  mixstage_strip *p = mixstage_graph_add_strip(g, "Pad", 2, &err);
  check(err, g, "Pad");
  check(mixstage_strip_set_source_buffer(p, pad, 2, FRAMES, 1), g, "pad source");
  check(mixstage_strip_set_fader_db(p, -3.0), g, "pad fader");
  check(mixstage_strip_set_pan(p, 0.3), g, "pad pan");
  mixstage_node *duck = mixstage_strip_insert(p, "compressor", MIXSTAGE_ROLE_STRIP, -1, &err);
  check(err, g, "duck");
  check(mixstage_node_set_param_by_name(duck, "threshold", -30.0), g, "threshold");
  check(mixstage_node_set_param_by_name(duck, "ratio", 8.0), g, "ratio");
  check(mixstage_node_set_sidechain_strip(duck, k, MIXSTAGE_TAP_PRE_FADER), g, "sidechain");
  mixstage_bus *verb = mixstage_graph_add_bus(g, "Verb", MIXSTAGE_BUS_RETURN, 2, &err);
  check(err, g, "Verb");
  mixstage_bus_insert(verb, "reverb", MIXSTAGE_ROLE_MIX_FX, -1, &err);
  check(err, g, "reverb");
  mixstage_strip_add_send(p, verb, -10.0, MIXSTAGE_TAP_POST_FADER, MIXSTAGE_ROLE_MIX_FX, &err);
  check(err, g, "send");
  mixstage_bus_insert(mixstage_graph_mix_bus(g), "limiter", MIXSTAGE_ROLE_PLACEHOLDER_LIMITER, -1, &err);
  check(err, g, "limiter");

  mixstage_render_config rc;
  mixstage_render_config_init(&rc);
  rc.max_tail_frames = 4800;
  rc.threads = 2;
  if (argc > 2 && strcmp(argv[1], "--bounce") == 0) {
    const mixstage_profile *prof = mixstage_profile_find(argv[2]);
    if (!prof) {
      fprintf(stderr, "render_ref: no profile '%s'\n", argv[2]);
      return 1;
    }
    mixstage_bounce *bo = mixstage_graph_bounce(g, prof, &rc, &err);
    check(err, g, "bounce");
    int64_t bf = mixstage_bounce_frames(bo);
    int bc = mixstage_bounce_channels(bo);
    for (int i = 0; i < mixstage_bounce_count(bo); i++)
      printf("%s %lld %d %016llx\n", mixstage_bounce_name(bo, i), (long long)bf, bc,
             (unsigned long long)fnv1a64(mixstage_bounce_data(bo, i), (size_t)bf * (size_t)bc));
    mixstage_bounce_destroy(bo);
    mixstage_graph_destroy(g);
    return 0;
  }
  int64_t n = mixstage_graph_render_frames(g, &rc);
  check((int)(n < 0 ? n : 0), g, "render_frames");
  float *out = malloc(sizeof(float) * 2 * (size_t)n);
  if (!out) return 1;
  check(mixstage_graph_render(g, &rc, out, n), g, "render");
  uint64_t h = fnv1a64(out, 2 * (size_t)n);
  printf("%lld 2 %016llx\n", (long long)n, (unsigned long long)h);
  if (argc > 1) {
    FILE *f = fopen(argv[1], "wb");
    if (!f || fwrite(out, sizeof(float) * 2, (size_t)n, f) != (size_t)n || fclose(f) != 0) {
      perror(argv[1]);
      return 1;
    }
  }
  free(out);
  mixstage_graph_destroy(g);
  return 0;
}
