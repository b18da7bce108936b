/* Render profiles and bounces: the stem rules, measured. */
#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "mixstage.h"
#include "testutil.h"

#define FS 48000.0
#define LEN 96000 /* 2 s of program */

/* A small song: a kick keying a bass compressor, a pad with a production
 * reverb insert (design), a lead with a post-fader send to a plate (mix-fx),
 * kick and a hat in a Drums group with a compressor and an EQ, and the three
 * mix-bus stages.  The lead's last note ends at 1.0 s. */
typedef struct song {
  mixstage_graph *g;
  float *src[5];
  mixstage_node *group_comp, *bus_comp, *limiter, *color;
  mixstage_bus *drums, *plate;
} song;

static void make_song(song *s, int group_saturation) {
  memset(s, 0, sizeof *s);
  int err;
  s->g = mixstage_graph_create(NULL, &err);
  ck_assert_ptr_nonnull(s->g);
  mixstage_graph *g = s->g;
  tu_song_sources(s->src, LEN, FS, 1.0);
  mixstage_strip *st[5];
  tu_song_strips(g, s->src, LEN, st);
  s->drums = mixstage_graph_add_bus(g, "Drums", MIXSTAGE_BUS_GROUP, 2, &err);
  s->plate = mixstage_graph_add_bus(g, "Plate", MIXSTAGE_BUS_RETURN, 2, &err);
  mixstage_strip_set_output(st[0], s->drums);
  mixstage_strip_set_output(st[4], s->drums);
  /* strip processing; the kick's limiter adds latency on one path into the
   * Drums group only, which the group, the stems and the keys must align */
  ck_assert_ptr_nonnull(mixstage_strip_insert(st[0], "limiter", MIXSTAGE_ROLE_STRIP, -1, &err));
  mixstage_node *eq = mixstage_strip_insert(st[1], "eq", MIXSTAGE_ROLE_STRIP, -1, &err);
  mixstage_node_set_param_by_name(eq, "band1_type", 1);
  mixstage_node_set_param_by_name(eq, "band1_freq", 35.0);
  mixstage_node *duck = mixstage_strip_insert(st[1], "compressor", MIXSTAGE_ROLE_STRIP, -1, &err);
  mixstage_node_set_param_by_name(duck, "threshold", -30.0);
  mixstage_node_set_param_by_name(duck, "ratio", 8.0);
  mixstage_node_set_param_by_name(duck, "attack", 1.0);
  mixstage_node_set_param_by_name(duck, "release", 120.0);
  ck_assert_int_eq(mixstage_node_set_sidechain_strip(duck, st[0], MIXSTAGE_TAP_PRE_FADER), MIXSTAGE_OK);
  mixstage_node *rv = mixstage_strip_insert(st[2], "reverb", MIXSTAGE_ROLE_DESIGN, -1, &err);
  mixstage_node_set_param_by_name(rv, "mix", 30.0);
  mixstage_node_set_param_by_name(rv, "decay", 1.5);
  ck_assert_ptr_nonnull(mixstage_strip_add_send(st[3], s->plate, -6.0, MIXSTAGE_TAP_POST_FADER, MIXSTAGE_ROLE_MIX_FX, &err));
  mixstage_node *plate = mixstage_bus_insert(s->plate, "reverb", MIXSTAGE_ROLE_MIX_FX, -1, &err);
  mixstage_node_set_param_by_name(plate, "decay", 2.5);
  /* group: compressor (dynamics) and EQ (linear) — or a saturation */
  s->group_comp = mixstage_bus_insert(s->drums, "compressor", MIXSTAGE_ROLE_STRIP, -1, &err);
  mixstage_node_set_param_by_name(s->group_comp, "threshold", -24.0);
  mixstage_node_set_param_by_name(s->group_comp, "ratio", 4.0);
  mixstage_node *geq = mixstage_bus_insert(s->drums, "eq", MIXSTAGE_ROLE_STRIP, -1, &err);
  mixstage_node_set_param_by_name(geq, "band1_type", 5);
  mixstage_node_set_param_by_name(geq, "band1_freq", 3000.0);
  mixstage_node_set_param_by_name(geq, "band1_gain", 3.0);
  if (group_saturation) {
    mixstage_node *sat = mixstage_bus_insert(s->drums, "saturation", MIXSTAGE_ROLE_STRIP, -1, &err);
    mixstage_node_set_param_by_name(sat, "drive", 12.0);
  }
  mixstage_bus *mix = mixstage_graph_mix_bus(g);
  s->color = mixstage_bus_insert(mix, "console_color", MIXSTAGE_ROLE_BUS_COLOR, -1, &err);
  s->bus_comp = mixstage_bus_insert(mix, "bus_compressor", MIXSTAGE_ROLE_BUS_DYNAMICS, -1, &err);
  mixstage_node_set_param_by_name(s->bus_comp, "threshold", -20.0);
  s->limiter = mixstage_bus_insert(mix, "limiter", MIXSTAGE_ROLE_PLACEHOLDER_LIMITER, -1, &err);
  mixstage_node_set_param_by_name(s->limiter, "input_gain", 6.0);
  ck_assert_ptr_nonnull(s->limiter);
}

static void free_song(song *s) {
  mixstage_graph_destroy(s->g);
  for (int k = 0; k < 5; k++) free(s->src[k]);
}

static const float *out_of(const mixstage_bounce *b, const char *name) {
  int i = mixstage_bounce_find(b, name);
  ck_assert_msg(i >= 0, "no output named %s", name);
  return mixstage_bounce_data(b, i);
}

START_TEST(test_builtin_profiles_follow_the_rules) {
  const mixstage_profile *prod = mixstage_profile_find("production");
  const mixstage_profile *stems = mixstage_profile_find("mix-stems");
  const mixstage_profile *fin = mixstage_profile_find("final");
  ck_assert_ptr_eq(prod, mixstage_profile_builtin(0));
  ck_assert_ptr_eq(stems, mixstage_profile_builtin(1));
  ck_assert_ptr_eq(fin, mixstage_profile_builtin(2));
  ck_assert_ptr_null(mixstage_profile_builtin(3));
  ck_assert_ptr_null(mixstage_profile_find("mastered"));
  const int want[3][MIXSTAGE_ROLE_COUNT] = {
      /* strip design mix-fx color dynamics placeholder mastering */
      {0, 0, 0, 0, 0, 0, 1},
      {0, 0, 2, 0, 1, 1, 1},
      {0, 0, 0, 0, 0, 1, 0},
  };
  for (int p = 0; p < 3; p++)
    for (int r = 0; r < MIXSTAGE_ROLE_COUNT; r++)
      ck_assert_int_eq(mixstage_profile_action(mixstage_profile_builtin(p), r), want[p][r]);
  ck_assert_int_eq(mixstage_profile_stems(stems), MIXSTAGE_STEMS_PER_STRIP);
  ck_assert_int_eq(mixstage_profile_reference(stems), 1);
  ck_assert_int_eq(mixstage_profile_mix(prod), 1);
  ck_assert_int_eq(mixstage_profile_set_action((mixstage_profile *)stems, 0, 1), MIXSTAGE_ESTATE);
  int err;
  mixstage_profile *c = mixstage_profile_create("dry-plus-fx", stems, &err);
  ck_assert_ptr_nonnull(c);
  ck_assert_int_eq(mixstage_profile_set_action(c, MIXSTAGE_ROLE_DESIGN, MIXSTAGE_ACTION_BYPASS), MIXSTAGE_OK);
  ck_assert_int_eq(mixstage_profile_set_action(c, 99, 0), MIXSTAGE_ERANGE);
  ck_assert_int_eq(mixstage_profile_set_stems(c, 7), MIXSTAGE_ERANGE);
  ck_assert_str_eq(mixstage_profile_name(c), "dry-plus-fx");
  mixstage_profile_destroy(c);
  ck_assert_ptr_null(mixstage_profile_create("", NULL, &err));
  ck_assert_int_eq(err, MIXSTAGE_EINVAL);
}
END_TEST

/* The null check: stems + FX stems (bus color bypassed) against the
 * production mix with its mix-bus stages bypassed.  Float sums of the same
 * terms in another order differ by a few ulps of the mix level: -100 dBFS
 * is the stem rules' bound and about 40 dB above that noise. */
START_TEST(test_stems_null_against_production) {
  song s;
  make_song(&s, 0);
  double residual = 0;
  ck_assert_int_eq(mixstage_graph_null_check(s.g, NULL, NULL, &residual), MIXSTAGE_OK);
  ck_assert_msg(residual < -100.0, "residual %.1f dBFS", residual);
  /* A test that can fail: without the FX stems the reverb is missing. */
  int err;
  mixstage_profile *dry = mixstage_profile_create("dry", mixstage_profile_find("mix-stems"), &err);
  mixstage_profile_set_action(dry, MIXSTAGE_ROLE_BUS_COLOR, MIXSTAGE_ACTION_BYPASS);
  mixstage_bounce *b = mixstage_graph_bounce(s.g, dry, NULL, &err);
  ck_assert_ptr_nonnull(b);
  ck_assert_int_eq(mixstage_bounce_kind(b, mixstage_bounce_find(b, "Plate")), MIXSTAGE_OUTPUT_FX);
  for (int i = 0; i < mixstage_bounce_count(b); i++) ck_assert_int_eq(mixstage_bounce_adds_up(b, i), 1);
  mixstage_bounce_destroy(b);
  mixstage_profile_destroy(dry);
  free_song(&s);
}
END_TEST

/* A nonlinear group stage: the bounce says per-strip stems through it do
 * not add up, and the residual shows it. */
START_TEST(test_group_saturation_is_reported) {
  song s;
  make_song(&s, 1);
  int err;
  mixstage_bounce *b = mixstage_graph_bounce(s.g, mixstage_profile_find("mix-stems"), NULL, &err);
  ck_assert_ptr_nonnull(b);
  int k = mixstage_bounce_find(b, "Kick");
  ck_assert_int_eq(mixstage_bounce_adds_up(b, k), 0);
  ck_assert_msg(strstr(mixstage_bounce_note(b, k), "saturation") != NULL, "note: %s", mixstage_bounce_note(b, k));
  ck_assert_int_eq(mixstage_bounce_adds_up(b, mixstage_bounce_find(b, "Lead")), 1);
  /* the deprecated former name gives the same answers */
  ck_assert_int_eq(mixstage_bounce_nulls(b, k), 0);
  ck_assert_int_eq(mixstage_bounce_nulls(b, mixstage_bounce_find(b, "Lead")), 1);
  ck_assert_int_eq(mixstage_bounce_adds_up(b, mixstage_bounce_count(b)), MIXSTAGE_ERANGE);
  ck_assert_int_eq(mixstage_bounce_adds_up(NULL, 0), MIXSTAGE_ERANGE);
  mixstage_bounce_destroy(b);
  double residual;
  ck_assert_int_eq(mixstage_graph_null_check(s.g, NULL, NULL, &residual), MIXSTAGE_OK);
  ck_assert_msg(residual > -60.0, "a saturated group cannot null per strip (%.1f)", residual);
  free_song(&s);
}
END_TEST

/* The bass stem's ducking equals the production ducking sample for sample:
 * the production mix with every other strip muted (the kick still keys the
 * bass: mute is after the key tap) and the mix-bus stages bypassed, against
 * the bass stem with bus color bypassed. */
START_TEST(test_ducking_baked_into_stem) {
  song s;
  make_song(&s, 0);
  int err;
  mixstage_profile *p = mixstage_profile_create("stems-no-color", mixstage_profile_find("mix-stems"), &err);
  mixstage_profile_set_action(p, MIXSTAGE_ROLE_BUS_COLOR, MIXSTAGE_ACTION_BYPASS);
  mixstage_bounce *b = mixstage_graph_bounce(s.g, p, NULL, &err);
  ck_assert_ptr_nonnull(b);
  const float *bass = out_of(b, "Bass");
  /* the same through the production mix */
  mixstage_profile *q = mixstage_profile_create("prod-no-bus", NULL, &err);
  for (int r = MIXSTAGE_ROLE_BUS_COLOR; r <= MIXSTAGE_ROLE_MASTERING; r++)
    mixstage_profile_set_action(q, r, MIXSTAGE_ACTION_BYPASS);
  const char *others[] = {"Kick", "Pad", "Lead", "Hat"};
  for (int k = 0; k < 4; k++) mixstage_strip_set_mute(mixstage_graph_find_strip(s.g, others[k]), 1);
  mixstage_graph_set_profile(s.g, q);
  int64_t n = mixstage_graph_render_frames(s.g, NULL);
  ck_assert_int_eq(n, mixstage_bounce_frames(b));
  float *ref = calloc(2 * (size_t)n, sizeof(float));
  ck_assert_int_eq(mixstage_graph_render(s.g, NULL, ref, n), MIXSTAGE_OK);
  mixstage_graph_set_profile(s.g, NULL);
  ck_assert_msg(memcmp(ref, bass, sizeof(float) * 2 * (size_t)n) == 0, "bass stem differs from the production bass");
  /* and it really ducks: 30 ms after a hit vs late in the gap */
  double ducked = tu_peak(bass + 2 * 1440, 2 * 480), open = tu_peak(bass + 2 * 20000, 2 * 2000);
  ck_assert_msg(tu_db(ducked / open) < -10.0, "ducking only %.1f dB", tu_db(ducked / open));
  free(ref);
  mixstage_bounce_destroy(b);
  mixstage_profile_destroy(p);
  mixstage_profile_destroy(q);
  free_song(&s);
}
END_TEST

/* No stem carries external reverb: after the lead's last note (1.0 s) its
 * stem is silent (< -120 dBFS) once console color's 5 Hz DC blocker has
 * settled (time constant 32 ms: 300 ms is 9 of them), while the reference
 * still has the plate's tail; the pad's design reverb stays in its stem. */
START_TEST(test_no_external_reverb_in_stems) {
  song s;
  make_song(&s, 0);
  int err;
  mixstage_bounce *b = mixstage_graph_bounce(s.g, mixstage_profile_find("mix-stems"), NULL, &err);
  ck_assert_ptr_nonnull(b);
  const float *lead = out_of(b, "Lead");
  const float *plate = out_of(b, "Plate");
  int64_t from = (int64_t)(1.3 * FS), len = (int64_t)(0.5 * FS);
  ck_assert_msg(tu_db(tu_peak(lead + 2 * from, 2 * len)) < -120.0, "lead stem has a tail: %.1f dBFS",
                tu_db(tu_peak(lead + 2 * from, 2 * len)));
  ck_assert_msg(tu_db(tu_peak(plate + 2 * from, 2 * len)) > -60.0, "the plate has no tail");
  /* the pad's production reverb continues after the program ends */
  const float *pad = out_of(b, "Pad");
  ck_assert_msg(tu_db(tu_peak(pad + 2 * (LEN + 2400), 2 * 4800)) > -70.0, "pad stem lost its design reverb tail");
  ck_assert_int_eq(mixstage_bounce_kind(b, mixstage_bounce_find(b, "reference")), MIXSTAGE_OUTPUT_REFERENCE);
  mixstage_bounce_destroy(b);
  free_song(&s);
}
END_TEST

/* Stems carry no limiting and no bus compression: the mix bus is driven
 * hard and the reference is held at the limiter's ceiling, yet the stems are
 * bit-identical whatever the limiter and the bus compressor do. */
START_TEST(test_stems_untouched_by_bus_dynamics) {
  song s;
  make_song(&s, 0);
  mixstage_node_set_param_by_name(s.limiter, "input_gain", 18.0);
  mixstage_node_set_param_by_name(s.bus_comp, "threshold", -30.0);
  mixstage_node_set_param_by_name(s.bus_comp, "ratio", 2.0); /* 10:1 */
  int err;
  mixstage_bounce *b = mixstage_graph_bounce(s.g, mixstage_profile_find("mix-stems"), NULL, &err);
  ck_assert_ptr_nonnull(b);
  int64_t n = mixstage_bounce_frames(b);
  const float *ref = out_of(b, "reference");
  ck_assert_msg(tu_db(tu_peak(ref, 2 * n)) <= -1.0 + 1e-3, "reference peak %.2f", tu_db(tu_peak(ref, 2 * n)));
  ck_assert_msg(mixstage_node_gain_reduction_db(s.limiter) >= 0.0, "meter");
  /* neutral bus dynamics: the reference changes, no stem does */
  mixstage_node_set_param_by_name(s.limiter, "input_gain", 0.0);
  mixstage_node_set_bypass(s.bus_comp, 1);
  mixstage_bounce *b2 = mixstage_graph_bounce(s.g, mixstage_profile_find("mix-stems"), NULL, &err);
  ck_assert_ptr_nonnull(b2);
  ck_assert(memcmp(out_of(b2, "reference"), ref, sizeof(float) * 2 * (size_t)n) != 0);
  for (int i = 0; i < mixstage_bounce_count(b); i++) {
    if (mixstage_bounce_kind(b, i) == MIXSTAGE_OUTPUT_REFERENCE) continue;
    ck_assert_msg(memcmp(mixstage_bounce_data(b, i), mixstage_bounce_data(b2, i), sizeof(float) * 2 * (size_t)n) == 0,
                  "stem %s depends on the bus dynamics", mixstage_bounce_name(b, i));
  }
  mixstage_bounce_destroy(b);
  mixstage_bounce_destroy(b2);
  free_song(&s);
}
END_TEST

/* final: the placeholder limiter is bypassed and the mastering chain runs. */
START_TEST(test_final_profile_swaps_limiters) {
  song s;
  make_song(&s, 0);
  int err;
  mixstage_node *ml = mixstage_bus_insert(mixstage_graph_mix_bus(s.g), "limiter", MIXSTAGE_ROLE_MASTERING, -1, &err);
  mixstage_node_set_param_by_name(ml, "ceiling", -6.0);
  mixstage_bounce *p = mixstage_graph_bounce(s.g, mixstage_profile_find("production"), NULL, &err);
  mixstage_bounce *f = mixstage_graph_bounce(s.g, mixstage_profile_find("final"), NULL, &err);
  ck_assert_ptr_nonnull(p);
  ck_assert_ptr_nonnull(f);
  ck_assert_int_eq(mixstage_bounce_count(p), 1);
  int64_t n = mixstage_bounce_frames(f);
  double pp = tu_db(tu_peak(out_of(p, "mix"), 2 * n)), fp = tu_db(tu_peak(out_of(f, "mix"), 2 * n));
  ck_assert_msg(pp > -2.0 && pp <= -1.0 + 1e-3, "production peak %.2f (placeholder at -1)", pp);
  ck_assert_msg(fp <= -6.0 + 1e-3 && fp > -8.0, "final peak %.2f (mastering limiter at -6)", fp);
  /* production via render() equals the production bounce */
  float *r = calloc(2 * (size_t)n, sizeof(float));
  ck_assert_int_eq(mixstage_graph_render(s.g, NULL, r, n), MIXSTAGE_OK);
  ck_assert(memcmp(r, out_of(p, "mix"), sizeof(float) * 2 * (size_t)n) == 0);
  /* and the final profile set on the graph renders the final mix */
  mixstage_graph_set_profile(s.g, mixstage_profile_find("final"));
  ck_assert_int_eq(mixstage_graph_render(s.g, NULL, r, n), MIXSTAGE_OK);
  ck_assert(memcmp(r, out_of(f, "mix"), sizeof(float) * 2 * (size_t)n) == 0);
  free(r);
  mixstage_bounce_destroy(p);
  mixstage_bounce_destroy(f);
  free_song(&s);
}
END_TEST

/* Bounces are identical with one thread or three, and repeatable. */
START_TEST(test_bounce_threads_identical) {
  song s;
  make_song(&s, 1);
  int err;
  mixstage_render_config rc;
  mixstage_render_config_init(&rc);
  mixstage_bounce *a = mixstage_graph_bounce(s.g, mixstage_profile_find("mix-stems"), &rc, &err);
  rc.threads = 3;
  mixstage_bounce *b = mixstage_graph_bounce(s.g, mixstage_profile_find("mix-stems"), &rc, &err);
  ck_assert_ptr_nonnull(a);
  ck_assert_ptr_nonnull(b);
  ck_assert_int_eq(mixstage_bounce_count(a), mixstage_bounce_count(b));
  size_t n = (size_t)mixstage_bounce_frames(a) * 2;
  for (int i = 0; i < mixstage_bounce_count(a); i++)
    ck_assert_msg(memcmp(mixstage_bounce_data(a, i), mixstage_bounce_data(b, i), sizeof(float) * n) == 0,
                  "output %s differs with 3 threads", mixstage_bounce_name(a, i));
  mixstage_bounce_destroy(a);
  mixstage_bounce_destroy(b);
  free_song(&s);
}
END_TEST

/* Per-group stems: the Drums group is one stem, the other strips their own;
 * with bus color bypassed they still add up. */
START_TEST(test_group_stems) {
  song s;
  make_song(&s, 1); /* even with a saturated group: a group stem is exact */
  int err;
  mixstage_profile *p = mixstage_profile_create("groups", mixstage_profile_find("mix-stems"), &err);
  mixstage_profile_set_stems(p, MIXSTAGE_STEMS_PER_GROUP);
  mixstage_bounce *b = mixstage_graph_bounce(s.g, p, NULL, &err);
  ck_assert_ptr_nonnull(b);
  ck_assert_int_ge(mixstage_bounce_find(b, "Drums"), 0);
  ck_assert_int_eq(mixstage_bounce_find(b, "Kick"), MIXSTAGE_ENOTFOUND);
  ck_assert_int_ge(mixstage_bounce_find(b, "Bass"), 0);
  mixstage_bounce_destroy(b);
  double residual;
  ck_assert_int_eq(mixstage_graph_null_check(s.g, p, NULL, &residual), MIXSTAGE_OK);
  ck_assert_msg(residual < -100.0, "group stems residual %.1f dBFS", residual);
  mixstage_profile_destroy(p);
  free_song(&s);
}
END_TEST

/* Routings where a dynamics stage is fed by something the stem profile
 * mutes or forks: every stage applies the gain it applied in the production
 * mix, so the stems (and FX stems) still add up to the production mix.
 *   route 0: the Plate return into the compressed Drums group;
 *   route 1: Drums into a compressed "Band" group, the Plate into Band;
 *   route 2: the bass compressor keyed by the Plate return (post fader);
 *   route 3: the Drums group compressor keyed by the Plate (a group keyed
 *            by a return), the Plate into the mix bus.
 * Each with per-strip and per-group stems; the bound is the stem rules'
 * -100 dBFS (see test_stems_null_against_production).  Before the stem
 * path took these gains from the production pass, routes 0 and 1 left
 * -23 and -17 dBFS (the group compressor of the fork did not hear the
 * muted return); routes 2 and 3 guard the keys. */
START_TEST(test_stems_add_up_whatever_feeds_dynamics) {
  for (int route = 0; route < 4; route++) {
    for (int per_group = 0; per_group < 2; per_group++) {
      song s;
      make_song(&s, 0);
      int err;
      mixstage_bus *mix = mixstage_graph_mix_bus(s.g);
      mixstage_bus *band = NULL;
      if (route == 0) {
        ck_assert_int_eq(mixstage_bus_set_output(s.plate, s.drums), MIXSTAGE_OK);
      } else if (route == 1) {
        band = mixstage_graph_add_bus(s.g, "Band", MIXSTAGE_BUS_GROUP, 2, &err);
        mixstage_node *bc = mixstage_bus_insert(band, "compressor", MIXSTAGE_ROLE_STRIP, -1, &err);
        mixstage_node_set_param_by_name(bc, "threshold", -30.0);
        mixstage_node_set_param_by_name(bc, "ratio", 6.0);
        ck_assert_int_eq(mixstage_bus_set_output(s.drums, band), MIXSTAGE_OK);
        ck_assert_int_eq(mixstage_bus_set_output(s.plate, band), MIXSTAGE_OK);
        ck_assert_int_eq(mixstage_bus_set_output(band, mix), MIXSTAGE_OK);
      } else if (route == 2) {
        mixstage_strip *bass = mixstage_graph_find_strip(s.g, "Bass");
        mixstage_node *k = mixstage_strip_insert(bass, "compressor", MIXSTAGE_ROLE_STRIP, -1, &err);
        mixstage_node_set_param_by_name(k, "threshold", -40.0);
        mixstage_node_set_param_by_name(k, "ratio", 4.0);
        ck_assert_int_eq(mixstage_node_set_sidechain_bus(k, s.plate, MIXSTAGE_TAP_POST_FADER), MIXSTAGE_OK);
      } else {
        ck_assert_int_eq(mixstage_node_set_sidechain_bus(s.group_comp, s.plate, MIXSTAGE_TAP_POST_FADER),
                         MIXSTAGE_OK);
        mixstage_node_set_param_by_name(s.group_comp, "threshold", -40.0);
      }
      mixstage_profile *p = mixstage_profile_create("stems", mixstage_profile_find("mix-stems"), &err);
      if (per_group) mixstage_profile_set_stems(p, MIXSTAGE_STEMS_PER_GROUP);
      double residual = 0;
      ck_assert_int_eq(mixstage_graph_null_check(s.g, p, NULL, &residual), MIXSTAGE_OK);
      ck_assert_msg(residual < -100.0, "route %d, %s stems: residual %.1f dBFS", route,
                    per_group ? "group" : "strip", residual);
      mixstage_bounce *b = mixstage_graph_bounce(s.g, p, NULL, &err);
      ck_assert_ptr_nonnull(b);
      for (int i = 0; i < mixstage_bounce_count(b); i++)
        ck_assert_msg(mixstage_bounce_nulls(b, i), "%s: %s", mixstage_bounce_name(b, i), mixstage_bounce_note(b, i));
      mixstage_bounce_destroy(b);
      mixstage_profile_destroy(p);
      free_song(&s);
    }
  }
}
END_TEST

/* A host switches profiles between blocks: the change crossfades over
 * 10 ms, so no sample step exceeds the signal's own largest step by more
 * than the fade's slope allows (a hard switch of this -12 dB limiter would
 * step by about 0.2).  Bound: the sine's own max step (2 pi 220/48000 x 0.5
 * = 0.0144) plus the fade's 0.5 x 0.75 / 480 per sample: 0.016. */
START_TEST(test_realtime_profile_switch_is_click_free) {
  int err;
  mixstage_graph_config cfg;
  mixstage_graph_config_init(&cfg);
  cfg.max_block_frames = 64;
  mixstage_graph *g = mixstage_graph_create(&cfg, &err);
  float *x = malloc(sizeof(float) * LEN);
  tu_sine(x, LEN, 220.0, FS, 0.5, 0.0);
  mixstage_strip *st = mixstage_graph_add_strip(g, "Tone", 1, &err);
  mixstage_strip_set_source_buffer(st, x, 1, LEN, 1);
  mixstage_strip_set_pan(st, -1.0);
  mixstage_node *ml = mixstage_bus_insert(mixstage_graph_mix_bus(g), "limiter", MIXSTAGE_ROLE_MASTERING, -1, &err);
  mixstage_node_set_param_by_name(ml, "ceiling", -18.0);
  mixstage_node_set_param_by_name(ml, "release", 5.0);
  ck_assert_int_eq(mixstage_graph_prepare(g), MIXSTAGE_OK);
  float *out = calloc(2 * LEN, sizeof(float));
  for (int f = 0; f < LEN; f += 64) {
    if (f == 48000) mixstage_graph_set_profile(g, mixstage_profile_find("final"));
    ck_assert_int_eq(mixstage_graph_process(g, out + 2 * f, 64), MIXSTAGE_OK);
  }
  double step = 0;
  for (int f = 40000; f < 60000; f++) step = fmax(step, fabs(out[2 * f] - out[2 * (f - 1)]));
  ck_assert_msg(step < 0.016, "largest step %.4f across the switch", step);
  int L = mixstage_graph_latency(g);
  ck_assert_double_eq_tol(tu_peak(out + 2 * (30000 + L), 2 * 4800), 0.5, 1e-3); /* production: limiter off */
  ck_assert_msg(tu_db(tu_peak(out + 2 * 80000, 2 * 4800)) < -17.5, "final: mastering limiter on");
  free(out);
  free(x);
  mixstage_graph_destroy(g);
}
END_TEST

/* A muted insert silences its strip from that point (a role muted by a
 * profile); a bypassed one passes its input.  The pad carries the song's
 * only design reverb; with design muted the pad stem is exact silence. */
START_TEST(test_muted_and_bypassed_inserts) {
  song s;
  make_song(&s, 0);
  int err;
  mixstage_profile *p = mixstage_profile_create("no-design", mixstage_profile_find("mix-stems"), &err);
  mixstage_profile_set_action(p, MIXSTAGE_ROLE_DESIGN, MIXSTAGE_ACTION_MUTE);
  mixstage_profile_set_action(p, MIXSTAGE_ROLE_BUS_COLOR, MIXSTAGE_ACTION_BYPASS);
  mixstage_bounce *b = mixstage_graph_bounce(s.g, p, NULL, &err);
  ck_assert_ptr_nonnull(b);
  int64_t n = mixstage_bounce_frames(b);
  ck_assert(tu_peak(out_of(b, "Pad"), 2 * n) == 0.0);
  ck_assert(tu_peak(out_of(b, "Lead"), 2 * n) > 0.1);
  mixstage_bounce_destroy(b);
  mixstage_profile_set_action(p, MIXSTAGE_ROLE_DESIGN, MIXSTAGE_ACTION_BYPASS);
  b = mixstage_graph_bounce(s.g, p, NULL, &err);
  ck_assert_ptr_nonnull(b);
  /* bypassed: the dry pad, which ends with the program (no reverb tail) */
  const float *pad = out_of(b, "Pad");
  ck_assert(tu_peak(pad, 2 * LEN) > 0.05);
  ck_assert_msg(tu_db(tu_peak(pad + 2 * (LEN + 2400), 2 * 4800)) < -120.0, "bypassed reverb left a tail");
  mixstage_bounce_destroy(b);
  mixstage_profile_destroy(p);
  free_song(&s);
}
END_TEST

/* A profile's own mix forks strips whose stages it changes, and their
 * sends feed forks of the returns: bypassing role `strip` by profile gives
 * the same bits as bypassing those nodes by hand in the production mix. */
START_TEST(test_profile_mix_forks_sends) {
  song s;
  make_song(&s, 0);
  int err;
  mixstage_strip *bass = mixstage_graph_find_strip(s.g, "Bass");
  ck_assert_ptr_nonnull(mixstage_strip_add_send(bass, s.plate, -3.0, MIXSTAGE_TAP_PRE_FADER, MIXSTAGE_ROLE_MIX_FX, &err));
  mixstage_profile *p = mixstage_profile_create("no-strip", NULL, &err);
  mixstage_profile_set_action(p, MIXSTAGE_ROLE_STRIP, MIXSTAGE_ACTION_BYPASS);
  mixstage_bounce *b = mixstage_graph_bounce(s.g, p, NULL, &err);
  ck_assert_ptr_nonnull(b);
  int64_t n = mixstage_bounce_frames(b);
  int bypassed = 0;
  for (int i = 0; i < mixstage_graph_strip_count(s.g); i++) {
    mixstage_strip *st = mixstage_graph_strip(s.g, i);
    for (int k = 0; k < mixstage_strip_node_count(st); k++)
      if (mixstage_node_role(mixstage_strip_node(st, k)) == MIXSTAGE_ROLE_STRIP) {
        mixstage_node_set_bypass(mixstage_strip_node(st, k), 1);
        bypassed++;
      }
  }
  for (int i = 1; i < mixstage_graph_bus_count(s.g); i++) {
    mixstage_bus *bus = mixstage_graph_bus(s.g, i);
    for (int k = 0; k < mixstage_bus_node_count(bus); k++)
      if (mixstage_node_role(mixstage_bus_node(bus, k)) == MIXSTAGE_ROLE_STRIP) {
        mixstage_node_set_bypass(mixstage_bus_node(bus, k), 1);
        bypassed++;
      }
  }
  ck_assert_int_ge(bypassed, 4);
  float *r = calloc(2 * (size_t)n, sizeof(float));
  ck_assert_int_eq(mixstage_graph_render_frames(s.g, NULL), n);
  ck_assert_int_eq(mixstage_graph_render(s.g, NULL, r, n), MIXSTAGE_OK);
  ck_assert_msg(memcmp(r, out_of(b, "mix"), sizeof(float) * 2 * (size_t)n) == 0,
                "profile bypass differs from bypass by hand");
  free(r);
  mixstage_bounce_destroy(b);
  mixstage_profile_destroy(p);
  free_song(&s);
}
END_TEST

/* The null check as it was computed before it ran in one pass: two more
 * bounces (the stems with bus color bypassed plus the FX stems; the
 * production mix with the mix-bus stages bypassed), summed in double in
 * output order.  The one-pass check must give the same figure exactly:
 * the forks compute the same samples and the sum runs in the same order. */
static double null_by_two_bounces(mixstage_graph *g, const mixstage_profile *base, int threads) {
  int err;
  mixstage_profile *stems = mixstage_profile_create("ref-stems", base, &err);
  mixstage_profile *mix = mixstage_profile_create("ref-mix", NULL, &err);
  mixstage_profile_set_action(stems, MIXSTAGE_ROLE_BUS_COLOR, MIXSTAGE_ACTION_BYPASS);
  mixstage_profile_set_fx_stems(stems, 1);
  mixstage_profile_set_mix(stems, 0);
  mixstage_profile_set_reference(stems, 0);
  mixstage_profile_set_stems(mix, MIXSTAGE_STEMS_NONE);
  mixstage_profile_set_mix(mix, 1);
  mixstage_profile_set_reference(mix, 0);
  for (int r = MIXSTAGE_ROLE_BUS_COLOR; r <= MIXSTAGE_ROLE_MASTERING; r++)
    mixstage_profile_set_action(mix, r, MIXSTAGE_ACTION_BYPASS);
  mixstage_render_config rc;
  mixstage_render_config_init(&rc);
  rc.threads = threads;
  mixstage_bounce *bs = mixstage_graph_bounce(g, stems, &rc, &err);
  mixstage_bounce *bm = mixstage_graph_bounce(g, mix, &rc, &err);
  ck_assert_ptr_nonnull(bs);
  ck_assert_ptr_nonnull(bm);
  size_t n = (size_t)mixstage_bounce_frames(bs) * (size_t)mixstage_bounce_channels(bs);
  const float *ref = mixstage_bounce_data(bm, 0);
  double peak = 0.0;
  for (size_t i = 0; i < n; i++) {
    double sum = 0.0;
    for (int k = 0; k < mixstage_bounce_count(bs); k++) sum += mixstage_bounce_data(bs, k)[i];
    double r = fabs(sum - (double)ref[i]);
    if (r > peak) peak = r;
  }
  mixstage_bounce_destroy(bs);
  mixstage_bounce_destroy(bm);
  mixstage_profile_destroy(stems);
  mixstage_profile_destroy(mix);
  return peak > 0.0 ? 20.0 * log10(peak) : -400.0;
}

typedef struct stream_copy {
  const mixstage_bounce *whole; /* the in-memory bounce to compare with */
  int64_t next;                 /* frame expected next */
  int mismatches, calls;
} stream_copy;

static int compare_block(void *user, const mixstage_bounce *b, int64_t frame, int frames,
                         const float *const *outputs) {
  stream_copy *sc = user;
  sc->calls++;
  if (frame != sc->next) sc->mismatches++;
  sc->next = frame + frames;
  int ch = mixstage_bounce_channels(b);
  for (int i = 0; i < mixstage_bounce_count(b); i++) {
    const float *w = mixstage_bounce_data(sc->whole, mixstage_bounce_find(sc->whole, mixstage_bounce_name(b, i)));
    if (memcmp(w + frame * ch, outputs[i], sizeof(float) * (size_t)frames * (size_t)ch)) sc->mismatches++;
  }
  return 0;
}

/* One pass for a delivery and its null check: the streamed bounce's blocks
 * equal the in-memory bounce bit for bit, and its null residual (and
 * mixstage_graph_null_check()'s) equals the figure of the two extra
 * bounces, with one thread and with three, per strip and per group (the
 * saturated group: a residual far from zero, so equality is not trivial).
 * The null check's stems share the delivered stems' forks where they are the
 * same (the group forks; with the console colour bypassed by the user, the
 * whole path, the delivered stem's own fork at the mix bus included): the
 * same bits as the bounce without the null check and as the extra bounces.
 * Under a sanitizer (MIXSTAGE_SANITIZER) each variant and profile runs with
 * one of the two thread counts, alternating, so that every variant and
 * every profile still meets both (the forks' memory, the pool's tasks):
 * half the renders.  The plain run takes all twelve; the build uses
 * -ffp-contract=off, so its bits are the ones the sanitizer build makes. */
START_TEST(test_null_check_in_one_pass) {
  const int sanitizer = getenv("MIXSTAGE_SANITIZER") != NULL;
  for (int variant = 0; variant < 3; variant++) {
    int sat = variant == 1;
    song s;
    make_song(&s, sat);
    if (variant == 2) ck_assert_int_eq(mixstage_node_set_bypass(s.color, 1), MIXSTAGE_OK);
    int err;
    mixstage_profile *groups = mixstage_profile_create("groups", mixstage_profile_find("mix-stems"), &err);
    mixstage_profile_set_stems(groups, MIXSTAGE_STEMS_PER_GROUP);
    const mixstage_profile *profiles[2] = {mixstage_profile_find("mix-stems"), groups};
    for (int pi = 0; pi < 2; pi++)
      for (int threads = 1; threads <= 3; threads += 2) {
        if (sanitizer && threads != 1 + 2 * ((variant + pi) % 2)) continue;
        double want = null_by_two_bounces(s.g, profiles[pi], threads);
        mixstage_render_config rc;
        mixstage_render_config_init(&rc);
        rc.threads = threads;
        double got = 0.0;
        ck_assert_int_eq(mixstage_graph_null_check(s.g, profiles[pi], &rc, &got), MIXSTAGE_OK);
        ck_assert_msg(got == want, "sat %d profile %d threads %d: one pass %.17g dB, two bounces %.17g dB", sat, pi,
                      threads, got, want);
        mixstage_bounce *whole = mixstage_graph_bounce(s.g, profiles[pi], &rc, &err);
        ck_assert_ptr_nonnull(whole);
        stream_copy sc = {whole, 0, 0, 0};
        mixstage_bounce *d = mixstage_graph_bounce_stream(s.g, profiles[pi], &rc, MIXSTAGE_BOUNCE_NULL_CHECK,
                                                          compare_block, &sc, &err);
        ck_assert_ptr_nonnull(d);
        ck_assert_int_eq(sc.mismatches, 0);
        ck_assert_int_eq(sc.next, mixstage_bounce_frames(whole));
        ck_assert_int_gt(sc.calls, 1);
        ck_assert_int_eq(mixstage_bounce_count(d), mixstage_bounce_count(whole));
        ck_assert_ptr_null(mixstage_bounce_data(d, 0));
        ck_assert_msg(mixstage_bounce_null_residual(d) == want, "stream residual %.17g, want %.17g",
                      mixstage_bounce_null_residual(d), want);
        if (sat && pi == 0) ck_assert_msg(want > -60.0, "saturated group, per-strip stems: residual %.1f", want);
        for (int i = 0; i < mixstage_bounce_count(d); i++)
          ck_assert_int_eq(mixstage_bounce_nulls(d, i), mixstage_bounce_nulls(whole, i));
        mixstage_bounce_destroy(d);
        mixstage_bounce_destroy(whole);
      }
    /* bad input */
    ck_assert_ptr_null(mixstage_graph_bounce_stream(s.g, mixstage_profile_find("production"), NULL,
                                                    MIXSTAGE_BOUNCE_NULL_CHECK, compare_block, NULL, &err));
    ck_assert_int_eq(err, MIXSTAGE_EINVAL);
    ck_assert_ptr_null(mixstage_graph_bounce_stream(s.g, groups, NULL, 0, NULL, NULL, &err));
    ck_assert_int_eq(err, MIXSTAGE_ENULL);
    ck_assert_ptr_null(mixstage_graph_bounce_stream(s.g, groups, NULL, 8, compare_block, NULL, &err));
    ck_assert_int_eq(err, MIXSTAGE_EINVAL);
    ck_assert(isnan(mixstage_bounce_null_residual(NULL)));
    mixstage_profile_destroy(groups);
    free_song(&s);
  }
}
END_TEST

static int stop_at_third(void *user, const mixstage_bounce *b, int64_t frame, int frames, const float *const *o) {
  (void)b, (void)frame, (void)frames, (void)o;
  return ++*(int *)user == 3 ? MIXSTAGE_EIO : 0;
}

/* A block callback's error stops the bounce with that status. */
START_TEST(test_stream_stops_on_error) {
  song s;
  make_song(&s, 0);
  int err, calls = 0;
  ck_assert_ptr_null(
      mixstage_graph_bounce_stream(s.g, mixstage_profile_find("mix-stems"), NULL, 0, stop_at_third, &calls, &err));
  ck_assert_int_eq(err, MIXSTAGE_EIO);
  ck_assert_int_lt(calls, 3 + (int)(0.1 * FS / 256) + 2); /* stops within a progress interval */
  free_song(&s);
}
END_TEST

static Suite *profiles_suite(void) {
  Suite *s = suite_create("profiles");
  TCase *tc = tcase_create("stems");
  tcase_set_timeout(tc, 120);
  tcase_add_test(tc, test_builtin_profiles_follow_the_rules);
  tcase_add_test(tc, test_stems_null_against_production);
  tcase_add_test(tc, test_group_saturation_is_reported);
  tcase_add_test(tc, test_ducking_baked_into_stem);
  tcase_add_test(tc, test_no_external_reverb_in_stems);
  tcase_add_test(tc, test_stems_untouched_by_bus_dynamics);
  tcase_add_test(tc, test_final_profile_swaps_limiters);
  tcase_add_test(tc, test_bounce_threads_identical);
  tcase_add_test(tc, test_group_stems);
  tcase_add_test(tc, test_stems_add_up_whatever_feeds_dynamics);
  tcase_add_test(tc, test_realtime_profile_switch_is_click_free);
  tcase_add_test(tc, test_muted_and_bypassed_inserts);
  tcase_add_test(tc, test_profile_mix_forks_sends);
  tcase_add_test(tc, test_null_check_in_one_pass);
  tcase_add_test(tc, test_stream_stops_on_error);
  suite_add_tcase(s, tc);
  return s;
}

int main(void) {
  SRunner *sr = srunner_create(profiles_suite());
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
