/* custom_profile: "dry stems plus FX stems", a delivery many mix engineers
 * ask for, built with the profile API and delivered with a manifest.
 *
 *   custom_profile [--out DIR]      (default DIR: out; writes DIR/dry-plus-fx/)
 *
 * What the mix engineer gets:
 *   - one stem per track, with everything that is part of the sound (EQ,
 *     compression, the synth's own delay) but none of the shared reverb or
 *     delay: "dry" stems;
 *   - each shared effect return (the Plate reverb, the Echo delay) printed
 *     as its own stem, exactly as the production mix heard it, so the
 *     engineer can keep it, replace it or rebalance it;
 *   - the production mix as reference.wav, for level-matched A/B;
 *   - no mix-bus glue or limiting on anything but the reference.
 * Stems + FX stems add up to the production mix (before its mix-bus
 * stages): the program checks it and prints the residual.
 */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mixstage.h"

#define FS 48000
#define LEN (4 * FS) /* 4 s: two bars at 120 BPM */
#define PI 3.14159265358979323846

static mixstage_graph *G;

static void check(int status, const char *what) {
  if (status >= 0) return;
  fprintf(stderr, "custom_profile: %s: %s\n  %s\n", what, mixstage_strerror(status), mixstage_graph_last_error(G));
  exit(1);
}

static void set(mixstage_node *n, const char *param, double v) { check(mixstage_node_set_param_by_name(n, param, v), param); }

static mixstage_strip *track(const char *name, const float *pcm) {
  int err;
  mixstage_strip *s = mixstage_graph_add_strip(G, name, 2, &err);
  check(s ? MIXSTAGE_OK : err, name);
  check(mixstage_strip_set_source_buffer(s, pcm, 1, LEN, 0), name);
  return s;
}

static mixstage_node *insert(mixstage_strip *s, const char *type, int role) {
  int err;
  mixstage_node *n = mixstage_strip_insert(s, type, role, -1, &err);
  check(n ? MIXSTAGE_OK : err, type);
  return n;
}

static mixstage_node *bus_insert(mixstage_bus *b, const char *type, int role) {
  int err;
  mixstage_node *n = mixstage_bus_insert(b, type, role, -1, &err);
  check(n ? MIXSTAGE_OK : err, type);
  return n;
}

/* Prints each delivered file as the delivery reports it. */
static void report(void *user, const char *path, const char *name, int kind, const mixstage_file_stats *st) {
  (void)user;
  (void)name;
  static const char *const kinds[] = {"mix", "dry stem", "FX stem", "reference"};
  printf("  %-10s %-40s %6.1f LUFS %+6.1f dBTP\n", kinds[kind & 3], path,
         isfinite(st->integrated_lufs) ? st->integrated_lufs : -INFINITY, st->true_peak_dbtp);
}

int main(int argc, char **argv) {
  const char *out = "out";
  if (argc == 3 && strcmp(argv[1], "--out") == 0) out = argv[2];
  else if (argc != 1) {
    fprintf(stderr, "usage: %s [--out DIR]\n", argv[0]);
    return 2;
  }

  /* ---- a short session: kick, bass, a plucked synth, a lead ---- */
  static float kick[LEN], bass[LEN], pluck[LEN], lead[LEN];
  for (int i = 0; i < LEN; i++) {
    double t = (double)i / FS, tb = fmod(t, 0.5), t8 = fmod(t, 0.25);
    kick[i] = (float)(0.7 * sin(2 * PI * (45.0 * tb + 2.5 * (1.0 - exp(-tb / 0.03)))) * exp(-tb / 0.12));
    bass[i] = (float)(0.25 * tanh(2.0 * sin(2 * PI * 55.0 * t)) * (0.6 + 0.4 * exp(-t8 / 0.1)));
    pluck[i] = (float)(0.2 * sin(2 * PI * 440.0 * t + 1.5 * sin(2 * PI * 880.0 * t)) * exp(-t8 / 0.05));
    lead[i] = t < 3.0 ? (float)(0.2 * sin(2 * PI * 659.25 * t) * (0.5 + 0.5 * sin(2 * PI * 2.0 * t))) : 0.0f;
  }

  int err;
  G = mixstage_graph_create(NULL, &err); /* 48 kHz, stereo mix bus */
  check(G ? MIXSTAGE_OK : err, "graph");
  mixstage_strip *k = track("Kick", kick), *b = track("Bass", bass), *p = track("Pluck", pluck),
                 *l = track("Lead", lead);

  /* Channel-strip work (role "strip"): stays in every stem. */
  mixstage_node *duck = insert(b, "compressor", MIXSTAGE_ROLE_STRIP);
  set(duck, "threshold", -28.0);
  set(duck, "ratio", 6.0);
  check(mixstage_node_set_sidechain_strip(duck, k, MIXSTAGE_TAP_PRE_FADER), "sidechain");
  mixstage_node *eq = insert(l, "eq", MIXSTAGE_ROLE_STRIP);
  set(eq, "band1_type", 1); /* high-pass */
  set(eq, "band1_freq", 200.0);

  /* The pluck's own delay is part of its sound (role "design"): it stays in
   * the pluck's stem, even in a "dry" delivery. */
  mixstage_node *slap = insert(p, "delay", MIXSTAGE_ROLE_DESIGN);
  set(slap, "mix", 25.0);
  check(mixstage_strip_set_pan(p, -0.4), "pan");

  /* Shared effects (role "mix-fx"): a plate and an echo fed by sends. */
  mixstage_bus *plate = mixstage_graph_add_bus(G, "Plate", MIXSTAGE_BUS_RETURN, 2, &err);
  mixstage_bus *echo = mixstage_graph_add_bus(G, "Echo", MIXSTAGE_BUS_RETURN, 2, &err);
  check(plate && echo ? MIXSTAGE_OK : err, "returns");
  set(bus_insert(plate, "reverb", MIXSTAGE_ROLE_MIX_FX), "decay", 1.2);
  mixstage_node *dl = bus_insert(echo, "delay", MIXSTAGE_ROLE_MIX_FX);
  set(dl, "mix", 100.0);
  set(dl, "feedback", 25.0);
  check(mixstage_strip_add_send(l, plate, -8.0, MIXSTAGE_TAP_POST_FADER, MIXSTAGE_ROLE_MIX_FX, &err) ? 0 : err, "send");
  check(mixstage_strip_add_send(l, echo, -14.0, MIXSTAGE_TAP_POST_FADER, MIXSTAGE_ROLE_MIX_FX, &err) ? 0 : err, "send");
  check(mixstage_strip_add_send(p, plate, -12.0, MIXSTAGE_TAP_POST_FADER, MIXSTAGE_ROLE_MIX_FX, &err) ? 0 : err, "send");

  /* Mix bus as in production: console colour, glue, a placeholder limiter. */
  mixstage_bus *mix = mixstage_graph_mix_bus(G);
  bus_insert(mix, "console_color", MIXSTAGE_ROLE_BUS_COLOR);
  set(bus_insert(mix, "bus_compressor", MIXSTAGE_ROLE_BUS_DYNAMICS), "threshold", -18.0);
  set(bus_insert(mix, "limiter", MIXSTAGE_ROLE_PLACEHOLDER_LIMITER), "input_gain", 4.0);

  /* ---- the profile: start from the built-in mix-stems rules ---- */
  mixstage_profile *dry = mixstage_profile_create("dry-plus-fx", mixstage_profile_find("mix-stems"), &err);
  check(dry ? MIXSTAGE_OK : err, "profile");
  /* mix-stems already mutes the sends to the returns (dry stems), bypasses
   * the bus compressor and the placeholder limiter, and keeps console
   * colour on each stem.  Add the returns as their own stems: */
  check(mixstage_profile_set_fx_stems(dry, 1), "fx stems");
  /* and keep the production mix as the reference for A/B (already on in
   * mix-stems; said here so that the intent is on the page): */
  check(mixstage_profile_set_reference(dry, 1), "reference");
  /* Some engineers want console colour left to them too: uncomment.
   * check(mixstage_profile_set_action(dry, MIXSTAGE_ROLE_BUS_COLOR, MIXSTAGE_ACTION_BYPASS), "color"); */

  /* ---- deliver: 24-bit WAV, tails to -90 dBFS, manifest.json ---- */
  mixstage_deliver_config cfg;
  mixstage_deliver_config_init(&cfg);
  cfg.file_done = report;
  double residual = NAN;
  cfg.null_residual_out = &residual;
  char dir[4096];
  snprintf(dir, sizeof dir, "%s/dry-plus-fx", out);
  printf("delivering profile '%s' to %s/\n", mixstage_profile_name(dry), dir);
  int rc = mixstage_graph_deliver(G, dry, dir, &cfg);
  check(rc, "delivery");
  printf("  manifest   %s/manifest.json\n", dir);
  /* The stem rules' check: stems + FX stems (bus colour bypassed) against
   * the production mix with its mix-bus stages bypassed. */
  printf("null check: %.1f dBFS (%s)\n", residual, residual < -100.0 ? "the stems add up" : "THEY DO NOT ADD UP");

  mixstage_profile_destroy(dry);
  mixstage_graph_destroy(G);
  return residual < -100.0 ? 0 : 1;
}
