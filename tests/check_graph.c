/* The graph engine: routing, pan law, faders and automation, smoothing,
 * cycles, latency compensation, sidechains, block-size independence. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "mixstage.h"
#include "node.h"
#include "testutil.h"

#define FS 48000.0

static mixstage_graph *new_graph(int max_block) {
  mixstage_graph_config cfg;
  mixstage_graph_config_init(&cfg);
  cfg.max_block_frames = max_block;
  int err = -99;
  mixstage_graph *g = mixstage_graph_create(&cfg, &err);
  ck_assert_ptr_nonnull(g);
  ck_assert_int_eq(err, MIXSTAGE_OK);
  return g;
}

static float *render_all(mixstage_graph *g, int64_t *frames) {
  int64_t n = mixstage_graph_render_frames(g, NULL);
  ck_assert_msg(n >= 0, "render_frames: %s", mixstage_graph_last_error(g));
  float *out = calloc((size_t)(n ? n : 1) * 2, sizeof(float));
  int rc = mixstage_graph_render(g, NULL, out, n);
  ck_assert_msg(rc == MIXSTAGE_OK, "render: %s (%s)", mixstage_strerror(rc), mixstage_graph_last_error(g));
  *frames = n;
  return out;
}

static float *dc(int64_t n, float v) {
  float *x = malloc(sizeof(float) * (size_t)n);
  for (int64_t i = 0; i < n; i++) x[i] = v;
  return x;
}

START_TEST(test_empty_graph_renders_silence) {
  mixstage_graph *g = new_graph(512);
  mixstage_strip *s = mixstage_graph_add_strip(g, "Empty", 2, NULL);
  float z[2 * 1000] = {0};
  ck_assert_int_eq(mixstage_strip_set_source_buffer(s, z, 2, 1000, 1), MIXSTAGE_OK);
  int64_t n;
  float *out = render_all(g, &n);
  ck_assert_int_eq(n, 1000);
  ck_assert(tu_peak(out, 2 * n) == 0.0);
  free(out);
  mixstage_graph_destroy(g);
}
END_TEST

/* Constant-power pan of a mono source: -3.01 dB each side at centre, hard
 * left/right put everything on one side.  The law is exact in float: 1e-6. */
START_TEST(test_pan_law_mono) {
  const double pans[] = {-1.0, -0.5, 0.0, 0.5, 1.0};
  for (int k = 0; k < 5; k++) {
    mixstage_graph *g = new_graph(256);
    mixstage_strip *s = mixstage_graph_add_strip(g, "Mono", 1, NULL);
    float *x = dc(4800, 0.5f);
    mixstage_strip_set_source_buffer(s, x, 1, 4800, 1);
    free(x);
    ck_assert_int_eq(mixstage_strip_set_pan(s, pans[k]), MIXSTAGE_OK);
    int64_t n;
    float *out = render_all(g, &n);
    double th = (pans[k] + 1.0) * TU_PI / 4.0;
    ck_assert_double_eq_tol(out[2 * 1000], 0.5 * cos(th), 1e-6);
    ck_assert_double_eq_tol(out[2 * 1000 + 1], 0.5 * sin(th), 1e-6);
    if (pans[k] == 0.0) ck_assert_double_eq_tol(tu_db(out[2000] / 0.5), -3.0103, 0.001);
    free(out);
    mixstage_graph_destroy(g);
  }
}
END_TEST

/* Balance for stereo sources: unity at centre, far side follows cos(p pi/2);
 * width 0 folds to mono, width 2 doubles the side signal. */
START_TEST(test_balance_and_width_stereo) {
  mixstage_graph *g = new_graph(256);
  mixstage_strip *s = mixstage_graph_add_strip(g, "Stereo", 2, NULL);
  float x[2 * 2000];
  for (int i = 0; i < 2000; i++) x[2 * i] = 0.5f, x[2 * i + 1] = 0.25f;
  mixstage_strip_set_source_buffer(s, x, 2, 2000, 1);
  int64_t n;
  float *out = render_all(g, &n);
  ck_assert_float_eq(out[1000], 0.5f);
  ck_assert_float_eq(out[1001], 0.25f);
  free(out);
  mixstage_strip_set_pan(s, 0.5);
  out = render_all(g, &n);
  ck_assert_double_eq_tol(out[1000], 0.5 * cos(0.25 * TU_PI), 1e-6);
  ck_assert_double_eq_tol(out[1001], 0.25, 1e-6);
  free(out);
  mixstage_strip_set_pan(s, 0.0);
  mixstage_strip_set_width(s, 0.0);
  out = render_all(g, &n);
  ck_assert_double_eq_tol(out[1000], 0.375, 1e-6);
  ck_assert_double_eq_tol(out[1001], 0.375, 1e-6);
  free(out);
  mixstage_strip_set_width(s, 2.0);
  out = render_all(g, &n);
  ck_assert_double_eq_tol(out[1000], 0.625, 1e-6);
  ck_assert_double_eq_tol(out[1001], 0.125, 1e-6);
  free(out);
  mixstage_graph_destroy(g);
}
END_TEST

/* A fader lane from 0 dB to -20 dB over one second, linear in dB, applied
 * sample by sample: every frame matches the ramp to float precision (1e-5
 * relative), and a step point switches exactly at its frame. */
START_TEST(test_fader_automation_ramp) {
  mixstage_graph *g = new_graph(512);
  mixstage_strip *s = mixstage_graph_add_strip(g, "Ramp", 2, NULL);
  int64_t len = 96000;
  float *x = dc(len, 1.0f);
  mixstage_strip_set_source_buffer(s, x, 1, len, 1);
  free(x);
  mixstage_strip_set_pan(s, -1.0); /* all on the left at unity */
  int err;
  mixstage_lane *lane = mixstage_strip_lane(s, MIXSTAGE_STRIP_FADER, &err);
  ck_assert_ptr_nonnull(lane);
  ck_assert_int_eq(mixstage_lane_add_point(lane, 0, 0.0, MIXSTAGE_CURVE_LINEAR), MIXSTAGE_OK);
  ck_assert_int_eq(mixstage_lane_add_point(lane, 48000, -20.0, MIXSTAGE_CURVE_LINEAR), MIXSTAGE_OK);
  ck_assert_int_eq(mixstage_lane_add_point(lane, 60001, -6.0, MIXSTAGE_CURVE_STEP), MIXSTAGE_OK);
  ck_assert_int_eq(mixstage_lane_point_count(lane), 3);
  int64_t n;
  float *out = render_all(g, &n);
  for (int64_t f = 0; f <= 48000; f += 997) {
    double want = pow(10.0, (-20.0 * (double)f / 48000.0) / 20.0);
    ck_assert_msg(fabs(out[2 * f] / want - 1.0) < 1e-5, "frame %lld: %g vs %g", (long long)f, out[2 * f], want);
  }
  ck_assert_double_eq_tol(out[2 * 60000], 0.1, 1e-6);                   /* held -20 dB */
  ck_assert_double_eq_tol(out[2 * 60001], pow(10.0, -6.0 / 20.0), 1e-6); /* step at 60001 */
  ck_assert_double_eq_tol(mixstage_lane_value_at(lane, 24000), -10.0, 1e-12);
  free(out);
  mixstage_graph_destroy(g);
}
END_TEST

/* A 40 dB fader jump made by a control thread between blocks is smoothed:
 * on a DC signal no sample-to-sample step exceeds 1 % of full level
 * (unsmoothed it would be 99 %); the 10 ms smoother with per-sample
 * interpolation moves at most 6.5 % of the dB distance per 32-frame cell,
 * 0.08 dB per sample, which is 0.93 % in gain. */
START_TEST(test_fader_change_is_smoothed) {
  mixstage_graph *g = new_graph(64);
  mixstage_strip *s = mixstage_graph_add_strip(g, "Smooth", 1, NULL);
  int64_t len = 48000;
  float *x = dc(len, 1.0f);
  mixstage_strip_set_source_buffer(s, x, 1, len, 1);
  free(x);
  mixstage_strip_set_pan(s, -1.0);
  ck_assert_int_eq(mixstage_graph_prepare(g), MIXSTAGE_OK);
  float *out = calloc(2 * (size_t)len, sizeof(float));
  for (int64_t f = 0; f < len; f += 48) {
    if (f == 4800) mixstage_strip_set_fader_db(s, -40.0);
    ck_assert_int_eq(mixstage_graph_process(g, out + 2 * f, 48), MIXSTAGE_OK);
  }
  double maxstep = 0.0;
  for (int64_t f = 1; f < len; f++) maxstep = fmax(maxstep, fabs(out[2 * f] - out[2 * (f - 1)]));
  ck_assert_msg(maxstep < 0.01, "largest step %g", maxstep);
  ck_assert_double_eq_tol(out[2 * 4799], 1.0, 1e-6);
  ck_assert_double_eq_tol(out[2 * (len - 1)], 0.01, 1e-5); /* settled within 900 ms */
  free(out);
  mixstage_graph_destroy(g);
}
END_TEST

START_TEST(test_cycle_through_buses) {
  mixstage_graph *g = new_graph(64);
  mixstage_bus *a = mixstage_graph_add_bus(g, "Bus A", MIXSTAGE_BUS_GROUP, 2, NULL);
  mixstage_bus *b = mixstage_graph_add_bus(g, "Bus B", MIXSTAGE_BUS_GROUP, 2, NULL);
  ck_assert_int_eq(mixstage_bus_set_output(a, b), MIXSTAGE_OK);
  ck_assert_int_eq(mixstage_bus_set_output(b, a), MIXSTAGE_ECYCLE);
  const char *msg = mixstage_graph_last_error(g);
  ck_assert_msg(strstr(msg, "Bus B -> Bus A -> Bus B") != NULL, "message: %s", msg);
  ck_assert_ptr_eq(mixstage_bus_output(b), mixstage_graph_mix_bus(g)); /* refused, not half-done */
  ck_assert_int_eq(mixstage_graph_prepare(g), MIXSTAGE_OK);
  mixstage_graph_destroy(g);
}
END_TEST

START_TEST(test_cycle_through_sends) {
  mixstage_graph *g = new_graph(64);
  mixstage_bus *r1 = mixstage_graph_add_bus(g, "Plate", MIXSTAGE_BUS_RETURN, 2, NULL);
  mixstage_bus *r2 = mixstage_graph_add_bus(g, "Echo", MIXSTAGE_BUS_RETURN, 2, NULL);
  int err;
  ck_assert_ptr_nonnull(mixstage_bus_add_send(r1, r2, -10, MIXSTAGE_TAP_POST_FADER, MIXSTAGE_ROLE_MIX_FX, &err));
  ck_assert_ptr_null(mixstage_bus_add_send(r2, r1, -10, MIXSTAGE_TAP_POST_FADER, MIXSTAGE_ROLE_MIX_FX, &err));
  ck_assert_int_eq(err, MIXSTAGE_ECYCLE);
  const char *msg = mixstage_graph_last_error(g);
  ck_assert_msg(strstr(msg, "Echo -> Plate -> Echo") != NULL, "message: %s", msg);
  ck_assert_int_eq(mixstage_bus_send_count(r2), 0);
  mixstage_graph_destroy(g);
}
END_TEST

/* The convention's own example: Kick -> Bus A -> Bass -> Kick through a bus
 * and two sidechain keys. */
START_TEST(test_cycle_through_sidechain) {
  mixstage_graph *g = new_graph(64);
  mixstage_strip *kick = mixstage_graph_add_strip(g, "Kick", 1, NULL);
  mixstage_strip *bass = mixstage_graph_add_strip(g, "Bass", 1, NULL);
  mixstage_bus *busa = mixstage_graph_add_bus(g, "Bus A", MIXSTAGE_BUS_GROUP, 2, NULL);
  ck_assert_int_eq(mixstage_strip_set_output(kick, busa), MIXSTAGE_OK);
  int err;
  mixstage_node *bc = mixstage_strip_insert(bass, "compressor", MIXSTAGE_ROLE_STRIP, -1, &err);
  mixstage_node *kc = mixstage_strip_insert(kick, "compressor", MIXSTAGE_ROLE_STRIP, -1, &err);
  ck_assert_int_eq(mixstage_node_set_sidechain_bus(bc, busa, MIXSTAGE_TAP_POST_FADER), MIXSTAGE_OK);
  ck_assert_int_eq(mixstage_node_set_sidechain_strip(kc, bass, MIXSTAGE_TAP_PRE_FADER), MIXSTAGE_ECYCLE);
  const char *msg = mixstage_graph_last_error(g);
  ck_assert_msg(strstr(msg, "strip 'Kick'") && strstr(msg, "Kick -> Bus A -> Bass -> Kick"), "message: %s", msg);
  ck_assert_int_eq(mixstage_graph_prepare(g), MIXSTAGE_OK);
  /* Gain nodes take no key. */
  mixstage_node *gn = mixstage_strip_insert(bass, "gain", MIXSTAGE_ROLE_STRIP, -1, &err);
  ck_assert_int_eq(mixstage_node_set_sidechain_strip(gn, kick, MIXSTAGE_TAP_PRE_FADER), MIXSTAGE_EUNSUPPORTED);
  mixstage_graph_destroy(g);
}
END_TEST

/* Large graphs (routing checks search only what an edit can reach; keys
 * are followed through per-unit lists): the results must be those of the
 * exhaustive search.  A chain of 3,000 buses, a loop closed at its far end
 * through an output and through a sidechain key, and a render through the
 * whole chain that must equal the strip routed straight to the mix. */
START_TEST(test_long_chain_cycles_and_schedule) {
  enum { NB = 3000 };
  mixstage_graph *g = new_graph(64);
  mixstage_bus **bus = malloc(sizeof *bus * NB);
  int err;
  char name[32];
  for (int k = 0; k < NB; k++) {
    snprintf(name, sizeof name, "Bus %d", k);
    bus[k] = mixstage_graph_add_bus(g, name, MIXSTAGE_BUS_GROUP, 2, &err);
    ck_assert_ptr_nonnull(bus[k]);
    if (k) ck_assert_int_eq(mixstage_bus_set_output(bus[k], bus[k - 1]), MIXSTAGE_OK);
  }
  /* Bus 0 -> Bus 2999 closes the chain: named from the edited bus on. */
  ck_assert_int_eq(mixstage_bus_set_output(bus[0], bus[NB - 1]), MIXSTAGE_ECYCLE);
  const char *msg = mixstage_graph_last_error(g);
  ck_assert_msg(strstr(msg, "bus 'Bus 0': output to 'Bus 2999' would create a cycle: Bus 0 -> Bus 2999 -> Bus 2998 -> "),
                "message: %s", msg);
  ck_assert_ptr_eq(mixstage_bus_output(bus[0]), mixstage_graph_mix_bus(g));
  /* A strip feeding the far end, ducked by the near end: a loop through a key. */
  mixstage_strip *far = mixstage_graph_add_strip(g, "Far", 1, &err);
  ck_assert_int_eq(mixstage_strip_set_output(far, bus[NB - 1]), MIXSTAGE_OK);
  mixstage_node *duck = mixstage_strip_insert(far, "compressor", MIXSTAGE_ROLE_STRIP, -1, &err);
  ck_assert_int_eq(mixstage_node_set_sidechain_bus(duck, bus[0], MIXSTAGE_TAP_POST_FADER), MIXSTAGE_ECYCLE);
  msg = mixstage_graph_last_error(g);
  ck_assert_msg(strstr(msg, "sidechain key 'Bus 0' would create a cycle: Far -> Bus 2999 -> Bus 2998 -> "),
                "message: %s", msg);
  ck_assert_ptr_null(mixstage_node_sidechain_bus(duck));
  /* Keyed by a unit beside the chain instead; then a loop through that key
   * is refused, and allowed once the key is moved elsewhere or cleared. */
  mixstage_bus *side = mixstage_graph_add_bus(g, "Side", MIXSTAGE_BUS_GROUP, 2, &err);
  ck_assert_int_eq(mixstage_node_set_sidechain_bus(duck, side, MIXSTAGE_TAP_PRE_FADER), MIXSTAGE_OK);
  ck_assert_int_eq(mixstage_bus_set_output(side, bus[NB - 1]), MIXSTAGE_OK);
  ck_assert_int_eq(mixstage_bus_set_output(side, mixstage_graph_mix_bus(g)), MIXSTAGE_OK);
  mixstage_bus *side2 = mixstage_graph_add_bus(g, "Side 2", MIXSTAGE_BUS_GROUP, 2, &err);
  ck_assert_int_eq(mixstage_bus_set_output(side2, side), MIXSTAGE_OK);
  ck_assert_int_eq(mixstage_bus_set_output(bus[NB - 1], side2), MIXSTAGE_ECYCLE); /* Side -> Far -> Bus 2999 */
  msg = mixstage_graph_last_error(g);
  ck_assert_msg(strstr(msg, "Bus 2999 -> Side 2 -> Side -> Far -> Bus 2999"), "message: %s", msg);
  ck_assert_int_eq(mixstage_node_set_sidechain_strip(duck, mixstage_graph_add_strip(g, "Key", 1, &err),
                                                     MIXSTAGE_TAP_POST_FADER), MIXSTAGE_OK);
  ck_assert_int_eq(mixstage_bus_set_output(bus[NB - 1], side2), MIXSTAGE_OK);
  ck_assert_int_eq(mixstage_bus_set_output(bus[NB - 1], bus[NB - 2]), MIXSTAGE_OK);
  ck_assert_int_eq(mixstage_node_set_sidechain_bus(duck, side, MIXSTAGE_TAP_POST_FADER), MIXSTAGE_OK);
  ck_assert_int_eq(mixstage_node_clear_sidechain(duck), MIXSTAGE_OK);
  ck_assert_int_eq(mixstage_bus_set_output(bus[NB - 1], side2), MIXSTAGE_OK);
  ck_assert_int_eq(mixstage_bus_set_output(bus[NB - 1], bus[NB - 2]), MIXSTAGE_OK);
  ck_assert_int_eq(mixstage_graph_prepare(g), MIXSTAGE_OK);

  /* Through the 3,000 buses (unity faders, centred) the strip must arrive
   * as it does straight into the mix: any bus run before its input would
   * lose or delay the signal. */
  mixstage_node_set_bypass(duck, 1);
  const int64_t len = 4096;
  float *x = dc(len, 0.5f);
  ck_assert_int_eq(mixstage_strip_set_source_buffer(far, x, 1, len, 1), MIXSTAGE_OK);
  int64_t n1, n2;
  float *through = render_all(g, &n1);
  ck_assert_int_eq(mixstage_strip_set_output(far, mixstage_graph_mix_bus(g)), MIXSTAGE_OK);
  float *direct = render_all(g, &n2);
  ck_assert_int_eq(n1, n2);
  ck_assert_int_eq(memcmp(through, direct, sizeof(float) * 2 * (size_t)n1), 0);
  ck_assert_float_gt(fabsf(direct[2 * 2000]), 0.1f); /* and it is not silence */
  free(through);
  free(direct);
  free(x);
  free(bus);
  mixstage_graph_destroy(g);
}
END_TEST

/* Points arrive in any order: whatever the order, the lane holds them sorted
 * by frame, a point at an existing frame replaces it, and the lane reads the
 * same as one built in time order. */
START_TEST(test_lane_points_any_order) {
  enum { NP = 20000 };
  mixstage_graph *g = new_graph(64);
  int err;
  mixstage_strip *a = mixstage_graph_add_strip(g, "A", 1, &err);
  mixstage_strip *b = mixstage_graph_add_strip(g, "B", 1, &err);
  mixstage_lane *la = mixstage_strip_lane(a, MIXSTAGE_STRIP_FADER, &err);
  mixstage_lane *lb = mixstage_strip_lane(b, MIXSTAGE_STRIP_FADER, &err);
  ck_assert_ptr_nonnull(la);
  ck_assert_ptr_nonnull(lb);
  int *perm = malloc(sizeof *perm * NP);
  for (int i = 0; i < NP; i++) perm[i] = i;
  uint32_t r = 1;
  for (int i = NP - 1; i > 0; i--) { /* Fisher-Yates, a fixed LCG */
    r = r * 1664525u + 1013904223u;
    int j = (int)((r >> 8) % (uint32_t)(i + 1)), t = perm[i];
    perm[i] = perm[j];
    perm[j] = t;
  }
#define VALUE_AT(i) (-60.0 + (double)((i) * 7 % 61))
  for (int i = 0; i < NP; i++)
    ck_assert_int_eq(mixstage_lane_add_point(la, (int64_t)i * 5, VALUE_AT(i), (int)(i % 3)), MIXSTAGE_OK);
  /* b: shuffled, every point first with a wrong value, then replaced */
  for (int k = 0; k < NP; k++)
    ck_assert_int_eq(mixstage_lane_add_point(lb, (int64_t)perm[k] * 5, 0.0, MIXSTAGE_CURVE_STEP), MIXSTAGE_OK);
  for (int k = NP - 1; k >= 0; k--) {
    int i = perm[k];
    ck_assert_int_eq(mixstage_lane_add_point(lb, (int64_t)i * 5, VALUE_AT(i), (int)(i % 3)), MIXSTAGE_OK);
  }
  ck_assert_int_eq(mixstage_lane_point_count(la), NP);
  ck_assert_int_eq(mixstage_lane_point_count(lb), NP);
  for (int i = 0; i < NP; i++) {
    int64_t fa, fb;
    double va, vb;
    int ca, cb;
    ck_assert_int_eq(mixstage_lane_point(la, i, &fa, &va, &ca), MIXSTAGE_OK);
    ck_assert_int_eq(mixstage_lane_point(lb, i, &fb, &vb, &cb), MIXSTAGE_OK);
    ck_assert_int_eq(fa, (int64_t)i * 5);
    ck_assert_int_eq(fb, fa);
    ck_assert(va == VALUE_AT(i) && vb == va);
    ck_assert_int_eq(cb, ca);
  }
  for (int64_t f = -3; f < (int64_t)NP * 5 + 3; f += 3)
    ck_assert(mixstage_lane_value_at(la, f) == mixstage_lane_value_at(lb, f));
  /* Before the first point, between two, and past the last. */
  ck_assert_int_eq(mixstage_lane_add_point(la, 2, -1.0, MIXSTAGE_CURVE_LINEAR), MIXSTAGE_OK);
  ck_assert_int_eq(mixstage_lane_add_point(la, (int64_t)NP * 5, -2.0, MIXSTAGE_CURVE_LINEAR), MIXSTAGE_OK);
  int64_t f;
  double v;
  ck_assert_int_eq(mixstage_lane_point(la, 1, &f, &v, NULL), MIXSTAGE_OK);
  ck_assert(f == 2 && v == -1.0);
  ck_assert_int_eq(mixstage_lane_point(la, NP + 1, &f, &v, NULL), MIXSTAGE_OK);
  ck_assert(f == (int64_t)NP * 5 && v == -2.0);
#undef VALUE_AT
  free(perm);
  mixstage_graph_destroy(g);
}
END_TEST

/* An impulse on two strips, one through a node with latency, the other
 * direct, and a third through a group bus: after compensation all arrive at
 * the same frame, and the render puts that frame at sample 0 + its offset. */
START_TEST(test_latency_compensation_aligns_impulses) {
  const char *type = "limiter";
  mixstage_graph *g = new_graph(256);
  float imp[4800] = {0};
  imp[100] = 0.25f;
  mixstage_strip *a = mixstage_graph_add_strip(g, "Direct", 1, NULL);
  mixstage_strip *b = mixstage_graph_add_strip(g, "Delayed", 1, NULL);
  mixstage_strip *c = mixstage_graph_add_strip(g, "Grouped", 1, NULL);
  mixstage_bus *grp = mixstage_graph_add_bus(g, "Group", MIXSTAGE_BUS_GROUP, 2, NULL);
  mixstage_strip_set_source_buffer(a, imp, 1, 4800, 1);
  mixstage_strip_set_source_buffer(b, imp, 1, 4800, 1);
  mixstage_strip_set_source_buffer(c, imp, 1, 4800, 1);
  mixstage_strip_set_output(c, grp);
  mixstage_strip_set_pan(a, -1.0);
  mixstage_strip_set_pan(b, 1.0);
  mixstage_strip_set_pan(c, 1.0);
  int err;
  ck_assert_ptr_nonnull(mixstage_strip_insert(b, type, MIXSTAGE_ROLE_STRIP, -1, &err));
  mixstage_node *gl = mixstage_bus_insert(grp, type, MIXSTAGE_ROLE_STRIP, -1, &err);
  ck_assert_ptr_nonnull(gl);
  mixstage_bus_insert(grp, type, MIXSTAGE_ROLE_STRIP, -1, &err);
  ck_assert_int_eq(mixstage_graph_prepare(g), MIXSTAGE_OK);
  int L = mixstage_node_latency(gl);
  ck_assert_int_gt(L, 0);
  ck_assert_int_eq(mixstage_graph_latency(g), 2 * L);
  int64_t n;
  float *out = render_all(g, &n);
  /* Left: Direct alone.  Right: Delayed + Grouped, each peaking at 100. */
  int pl = 0, pr = 0;
  for (int64_t i = 0; i < n; i++) {
    if (fabsf(out[2 * i]) > fabsf(out[2 * pl])) pl = (int)i;
    if (fabsf(out[2 * i + 1]) > fabsf(out[2 * pr + 1])) pr = (int)i;
  }
  ck_assert_int_eq(pl, 100);
  ck_assert_int_eq(pr, 100);
  free(out);
  mixstage_graph_destroy(g);
}
END_TEST

/* The same graph rendered whole, and processed in blocks of 1, 7, 64 and 509
 * frames with the latency dropped by hand: identical bits. */
static mixstage_graph *busy_graph(int max_block, float **keep) {
  mixstage_graph *g = new_graph(max_block);
  int64_t len = 24000;
  float *x = malloc(sizeof(float) * 2 * (size_t)len);
  for (int64_t i = 0; i < len; i++) {
    x[2 * i] = (float)(0.5 * sin(2 * TU_PI * 220.0 * (double)i / FS) * exp(-(double)(i % 6000) / 1500.0));
    x[2 * i + 1] = (float)(0.3 * sin(2 * TU_PI * 331.0 * (double)i / FS));
  }
  *keep = x;
  int err;
  mixstage_strip *s1 = mixstage_graph_add_strip(g, "One", 2, &err);
  mixstage_strip *s2 = mixstage_graph_add_strip(g, "Two", 1, &err);
  mixstage_bus *grp = mixstage_graph_add_bus(g, "Group", MIXSTAGE_BUS_GROUP, 2, &err);
  mixstage_bus *ret = mixstage_graph_add_bus(g, "Return", MIXSTAGE_BUS_RETURN, 2, &err);
  mixstage_strip_set_source_buffer(s1, x, 2, len, 0);
  mixstage_strip_set_source_buffer(s2, x, 1, len, 0); /* borrowed, read as mono with stride? no: 1 channel */
  mixstage_strip_set_output(s1, grp);
  mixstage_strip_set_clip_gain_db(s2, -3.0);
  mixstage_strip_set_pan(s2, 0.3);
  mixstage_node *gn = mixstage_strip_insert(s1, "gain", MIXSTAGE_ROLE_STRIP, -1, &err);
  mixstage_lane *lane = mixstage_node_lane(gn, mixstage_node_param_id(gn, "gain"), &err);
  mixstage_lane_add_point(lane, 1000, 0.0, MIXSTAGE_CURVE_LINEAR);
  mixstage_lane_add_point(lane, 9000, -12.0, MIXSTAGE_CURVE_EXPONENTIAL);
  mixstage_lane *fl = mixstage_strip_lane(s2, MIXSTAGE_STRIP_FADER, &err);
  mixstage_lane_add_point(fl, 0, -6.0, MIXSTAGE_CURVE_LINEAR);
  mixstage_lane_add_point(fl, 12345, 0.0, MIXSTAGE_CURVE_LINEAR);
  mixstage_strip_add_send(s2, ret, -6.0, MIXSTAGE_TAP_POST_FADER, MIXSTAGE_ROLE_MIX_FX, &err);
  const char *types[] = {"eq", "compressor", "saturation", "reverb", "delay", "limiter", "console_color",
                         "bus_compressor", NULL};
  for (int i = 0; types[i]; i++) {
    ck_assert_ptr_nonnull(mixstage__find_node_class(types[i]));
    mixstage_node *n;
    if (!strcmp(types[i], "reverb") || !strcmp(types[i], "delay"))
      n = mixstage_bus_insert(ret, types[i], MIXSTAGE_ROLE_MIX_FX, -1, &err);
    else if (!strcmp(types[i], "limiter") || !strcmp(types[i], "console_color") || !strcmp(types[i], "bus_compressor"))
      n = mixstage_bus_insert(mixstage_graph_mix_bus(g), types[i], MIXSTAGE_ROLE_BUS_DYNAMICS, -1, &err);
    else
      n = mixstage_strip_insert(s2, types[i], MIXSTAGE_ROLE_STRIP, -1, &err);
    ck_assert_ptr_nonnull(n);
    if (!strcmp(types[i], "compressor")) {
      mixstage_node_set_sidechain_strip(n, s1, MIXSTAGE_TAP_PRE_FADER);
      mixstage_node_set_param_by_name(n, "threshold", -30.0);
    }
  }
  return g;
}

START_TEST(test_block_size_independence) {
  float *src;
  mixstage_graph *g = busy_graph(4096, &src);
  int64_t n;
  float *ref = render_all(g, &n);
  float *again = render_all(g, &n);
  ck_assert_msg(memcmp(ref, again, sizeof(float) * 2 * (size_t)n) == 0, "repeated render differs");
  free(again);
  /* Parallel renders: 2 and 3 threads give the same bits. */
  for (int t = 2; t <= 3; t++) {
    mixstage_render_config rc;
    mixstage_render_config_init(&rc);
    rc.threads = t;
    float *par = calloc(2 * (size_t)n, sizeof(float));
    ck_assert_int_eq(mixstage_graph_render(g, &rc, par, n), MIXSTAGE_OK);
    ck_assert_msg(memcmp(ref, par, sizeof(float) * 2 * (size_t)n) == 0, "%d-thread render differs", t);
    free(par);
  }
  const int blocks[] = {1, 7, 64, 509, 4096};
  /* Under a sanitizer (MIXSTAGE_SANITIZER set by scripts/test.sh), one-frame
   * blocks run over the first 24000 frames only: the source, both automation
   * lanes and every insert are active there, and the tail after it runs the
   * same per-block code; the plain run keeps the whole render. */
  const int64_t one_frame_upto = getenv("MIXSTAGE_SANITIZER") ? 24000 : INT64_MAX;
  for (int b = 0; b < 5; b++) {
    ck_assert_int_eq(mixstage_graph_prepare(g), MIXSTAGE_OK);
    int L = mixstage_graph_latency(g);
    int64_t cmp = blocks[b] == 1 && one_frame_upto < n ? one_frame_upto : n;
    int64_t total = cmp + L;
    float *out = calloc(2 * (size_t)total + 2 * 4096, sizeof(float));
    for (int64_t f = 0; f < total; f += blocks[b]) {
      int m = (int)(total - f < blocks[b] ? total - f : blocks[b]);
      int rc = mixstage_graph_process(g, out + 2 * f, m);
      ck_assert_int_eq(rc, MIXSTAGE_OK);
    }
    ck_assert_msg(memcmp(ref, out + 2 * L, sizeof(float) * 2 * (size_t)cmp) == 0,
                  "block size %d differs from the offline render", blocks[b]);
    free(out);
  }
  free(ref);
  mixstage_graph_destroy(g);
  free(src);
}
END_TEST

/* Mute, solo and polarity; sends follow their strip's mute. */
START_TEST(test_mute_solo_polarity_sends) {
  mixstage_graph *g = new_graph(256);
  mixstage_strip *a = mixstage_graph_add_strip(g, "A", 1, NULL);
  mixstage_strip *b = mixstage_graph_add_strip(g, "B", 1, NULL);
  mixstage_bus *ret = mixstage_graph_add_bus(g, "Ret", MIXSTAGE_BUS_RETURN, 2, NULL);
  float *x = dc(4800, 0.5f);
  mixstage_strip_set_source_buffer(a, x, 1, 4800, 1);
  mixstage_strip_set_source_buffer(b, x, 1, 4800, 1);
  free(x);
  mixstage_strip_set_pan(a, -1.0);
  mixstage_strip_set_pan(b, 1.0);
  int err;
  mixstage_send *snd = mixstage_strip_add_send(b, ret, 0.0, MIXSTAGE_TAP_PRE_FADER, MIXSTAGE_ROLE_MIX_FX, &err);
  ck_assert_ptr_nonnull(snd);
  mixstage_bus_set_pan(ret, -1.0); /* return's left side only */
  int64_t n;
  float *out = render_all(g, &n);
  ck_assert_double_eq_tol(out[2000], 0.5 + 0.5, 1e-6); /* A + return of B */
  ck_assert_double_eq_tol(out[2001], 0.5, 1e-6);
  free(out);
  mixstage_strip_set_solo(a, 1);
  out = render_all(g, &n);
  ck_assert_double_eq_tol(out[2000], 0.5, 1e-6); /* B and its send are muted by A's solo */
  ck_assert_double_eq_tol(out[2001], 0.0, 1e-9);
  free(out);
  mixstage_strip_set_solo(a, 0);
  mixstage_strip_set_polarity(a, 1);
  mixstage_send_set_mute(snd, 1);
  out = render_all(g, &n);
  ck_assert_double_eq_tol(out[2000], -0.5, 1e-6);
  ck_assert_double_eq_tol(out[2001], 0.5, 1e-6);
  free(out);
  mixstage_graph_destroy(g);
}
END_TEST

/* A NaN in a source never reaches the output: the block is silenced and the
 * render reports it, naming the strip. */
START_TEST(test_nan_is_contained) {
  mixstage_graph *g = new_graph(256);
  mixstage_strip *a = mixstage_graph_add_strip(g, "Broken", 1, NULL);
  float *x = dc(4800, 0.5f);
  x[1000] = NAN;
  x[2000] = INFINITY;
  mixstage_strip_set_source_buffer(a, x, 1, 4800, 1);
  free(x);
  int64_t n = mixstage_graph_render_frames(g, NULL);
  float *out = calloc(2 * (size_t)n, sizeof(float));
  ck_assert_int_eq(mixstage_graph_render(g, NULL, out, n), MIXSTAGE_ENUMERIC);
  for (int64_t i = 0; i < 2 * n; i++) ck_assert(isfinite(out[i]));
  ck_assert(strstr(mixstage_graph_last_error(g), "strip 'Broken'") != NULL);
  ck_assert_double_eq_tol(out[2 * 3000], 0.5 * cos(TU_PI / 4), 1e-6); /* the rest plays */
  free(out);
  mixstage_graph_destroy(g);
}
END_TEST

/* A node that turns finite input into infinity: the engine checks each
 * unit's chain once per 32-frame chunk.  With one node running the fault is
 * pinned on it; the chunk is silenced and the rest plays. */
START_TEST(test_node_fault_is_pinned) {
  mixstage_graph *g = new_graph(256);
  int err;
  mixstage_strip *a = mixstage_graph_add_strip(g, "Hot", 1, NULL);
  float *x = dc(4800, 0.5f);
  x[1000] = 3e38f; /* finite; +36 dB overflows */
  x[3000] = 3e38f;
  mixstage_strip_set_source_buffer(a, x, 1, 4800, 1);
  free(x);
  mixstage_node *gn = mixstage_strip_insert(a, "gain", MIXSTAGE_ROLE_STRIP, -1, &err);
  ck_assert_ptr_nonnull(gn);
  ck_assert_int_eq(mixstage_node_set_param_by_name(gn, "gain", 36.0), MIXSTAGE_OK);
  int64_t n = mixstage_graph_render_frames(g, NULL);
  float *out = calloc(2 * (size_t)n, sizeof(float));
  ck_assert_int_eq(mixstage_graph_render(g, NULL, out, n), MIXSTAGE_ENUMERIC);
  for (int64_t i = 0; i < 2 * n; i++) ck_assert(isfinite(out[i]));
  ck_assert_int_eq(mixstage_node_numeric_faults(gn), 2);
  ck_assert(strstr(mixstage_graph_last_error(g), mixstage_node_label(gn)) != NULL);
  ck_assert(strstr(mixstage_graph_last_error(g), "produced NaN or infinity") != NULL);
  double lvl = 0.5 * pow(10.0, 36.0 / 20.0) * cos(TU_PI / 4);
  ck_assert(out[2 * 992] == 0.0f);  /* the faulty chunk, 992 .. 1023 */
  ck_assert(out[2 * 1023] == 0.0f);
  ck_assert_double_eq_tol(out[2 * 991], lvl, 1e-6 * lvl);
  ck_assert_double_eq_tol(out[2 * 1024], lvl, 1e-6 * lvl);
  ck_assert_double_eq_tol(out[2 * 2000], lvl, 1e-6 * lvl);
  free(out);
  mixstage_graph_destroy(g);
}
END_TEST

/* With several nodes the end-of-chain check cannot tell which one failed:
 * the first fault names the strip's chain and resets all its inserts; from
 * then on the strip checks after every node, so the next fault is pinned.
 * A source fault is still named as the source's, whichever nodes follow. */
START_TEST(test_chain_fault_then_pinned) {
  mixstage_graph *g = new_graph(256);
  int err;
  mixstage_strip *a = mixstage_graph_add_strip(g, "Hot", 1, NULL);
  float *x = dc(4800, 0.5f);
  x[1000] = 3e38f;
  mixstage_strip_set_source_buffer(a, x, 1, 4800, 1);
  mixstage_node *eq = mixstage_strip_insert(a, "eq", MIXSTAGE_ROLE_STRIP, -1, &err);
  mixstage_node *gn = mixstage_strip_insert(a, "gain", MIXSTAGE_ROLE_STRIP, -1, &err);
  ck_assert_ptr_nonnull(eq);
  ck_assert_ptr_nonnull(gn);
  ck_assert_int_eq(mixstage_node_set_param_by_name(gn, "gain", 36.0), MIXSTAGE_OK);
  int64_t n = mixstage_graph_render_frames(g, NULL);
  float *out = calloc(2 * (size_t)n, sizeof(float));
  ck_assert_int_eq(mixstage_graph_render(g, NULL, out, n), MIXSTAGE_ENUMERIC);
  for (int64_t i = 0; i < 2 * n; i++) ck_assert(isfinite(out[i]));
  ck_assert(strstr(mixstage_graph_last_error(g), "strip 'Hot': NaN or infinity in its chain") != NULL);
  ck_assert_int_eq(mixstage_node_numeric_faults(gn), 0);
  ck_assert_int_eq(mixstage_node_numeric_faults(eq), 0);
  ck_assert(out[2 * 1000] == 0.0f);
  ck_assert(fabsf(out[2 * 3000]) > 1.0f); /* the rest plays */

  /* a second fault in the same render is pinned on the node */
  x[3000] = 3e38f;
  mixstage_strip_set_source_buffer(a, x, 1, 4800, 1);
  ck_assert_int_eq(mixstage_graph_render(g, NULL, out, n), MIXSTAGE_ENUMERIC);
  for (int64_t i = 0; i < 2 * n; i++) ck_assert(isfinite(out[i]));
  ck_assert_int_eq(mixstage_node_numeric_faults(gn), 1);
  ck_assert(strstr(mixstage_graph_last_error(g), mixstage_node_label(gn)) != NULL);

  /* the source at fault: named as the source's */
  x[1000] = x[3000] = 0.5f;
  x[2000] = NAN;
  mixstage_strip_set_source_buffer(a, x, 1, 4800, 1);
  ck_assert_int_eq(mixstage_graph_render(g, NULL, out, n), MIXSTAGE_ENUMERIC);
  for (int64_t i = 0; i < 2 * n; i++) ck_assert(isfinite(out[i]));
  ck_assert(strstr(mixstage_graph_last_error(g), "strip 'Hot': its source produced") != NULL);
  ck_assert_int_eq(mixstage_node_numeric_faults(gn), 1);
  ck_assert(fabsf(out[2 * 3000]) > 1.0f);
  free(x);
  free(out);
  mixstage_graph_destroy(g);
}
END_TEST

/* The engine runs fader, pan, mute, sends and clip gain through a fused
 * constant pass when nothing moves in a cell, and through per-sample ramps
 * when something does or a lane is present.  A lane holding one value makes
 * every gain constant but takes the per-sample path, so the two renders must
 * agree to the bit: every routing map (1->2, 2->2, 2->1, 1->1, and sends
 * 1->2, 2->2, 2->1), polarity, a muted strip, a source that ends early. */
static mixstage_graph *gain_paths_graph(int lanes, float **src) {
  mixstage_graph *g = new_graph(256);
  int err;
  mixstage_bus *m = mixstage_graph_add_bus(g, "M", MIXSTAGE_BUS_GROUP, 1, &err);
  mixstage_bus *r = mixstage_graph_add_bus(g, "R", MIXSTAGE_BUS_RETURN, 2, &err);
  mixstage_bus *r1 = mixstage_graph_add_bus(g, "R1", MIXSTAGE_BUS_RETURN, 1, &err);
  mixstage_strip *st[4];
  static const int ch[4] = {1, 2, 2, 1};
  for (int i = 0; i < 4; i++) {
    char name[8] = {'S', (char)('0' + i), 0};
    st[i] = mixstage_graph_add_strip(g, name, ch[i], &err);
    ck_assert_ptr_nonnull(st[i]);
    ck_assert_int_eq(mixstage_strip_set_source_buffer(st[i], src[i], ch[i], 3000 + 500 * i, 1), MIXSTAGE_OK);
  }
  ck_assert_int_eq(mixstage_strip_set_output(st[2], m), MIXSTAGE_OK);
  ck_assert_int_eq(mixstage_strip_set_output(st[3], m), MIXSTAGE_OK);
  mixstage_send *sn[3] = {
      mixstage_strip_add_send(st[0], r, -4.5, MIXSTAGE_TAP_PRE_FADER, MIXSTAGE_ROLE_MIX_FX, &err),
      mixstage_strip_add_send(st[1], r, -7.25, MIXSTAGE_TAP_POST_FADER, MIXSTAGE_ROLE_MIX_FX, &err),
      mixstage_strip_add_send(st[2], r1, -2.0, MIXSTAGE_TAP_PRE_FADER, MIXSTAGE_ROLE_MIX_FX, &err)};
  mixstage_strip_set_pan(st[0], 0.4);
  mixstage_strip_set_pan(st[1], -0.3);
  mixstage_strip_set_width(st[1], 1.3);
  mixstage_strip_set_polarity(st[1], 1);
  mixstage_strip_set_mute(st[3], 1);
  mixstage_bus_set_fader_db(m, -1.5);
  static const double clip[4] = {-3.5, 2.25, 0.0, 1.0}, fader[4] = {-6.2, 3.1, -0.7, -2.0}, send[3] = {-4.5, -7.25, -2.0};
  for (int i = 0; i < 4; i++) {
    if (!lanes) {
      mixstage_strip_set_clip_gain_db(st[i], clip[i]);
      mixstage_strip_set_fader_db(st[i], fader[i]);
      continue;
    }
    mixstage_lane *l = mixstage_strip_lane(st[i], MIXSTAGE_STRIP_CLIP_GAIN, &err);
    ck_assert_int_eq(mixstage_lane_add_point(l, 0, clip[i], MIXSTAGE_CURVE_LINEAR), MIXSTAGE_OK);
    l = mixstage_strip_lane(st[i], MIXSTAGE_STRIP_FADER, &err);
    ck_assert_int_eq(mixstage_lane_add_point(l, 0, fader[i], MIXSTAGE_CURVE_LINEAR), MIXSTAGE_OK);
  }
  for (int i = 0; i < 3 && lanes; i++) {
    mixstage_lane *l = mixstage_send_lane(sn[i], &err);
    ck_assert_int_eq(mixstage_lane_add_point(l, 0, send[i], MIXSTAGE_CURVE_LINEAR), MIXSTAGE_OK);
  }
  if (lanes) {
    mixstage_lane *l = mixstage_bus_lane(m, MIXSTAGE_STRIP_FADER, &err);
    ck_assert_int_eq(mixstage_lane_add_point(l, 0, -1.5, MIXSTAGE_CURVE_LINEAR), MIXSTAGE_OK);
  }
  return g;
}

START_TEST(test_constant_gain_paths_match_ramps) {
  float *src[4];
  for (int i = 0; i < 4; i++) {
    int64_t len = (3000 + 500 * i) * (i == 1 || i == 2 ? 2 : 1);
    src[i] = malloc(sizeof(float) * (size_t)len);
    tu_noise(src[i], len, 0.7, 11u + (uint32_t)i);
  }
  int64_t n0, n1;
  mixstage_graph *g0 = gain_paths_graph(0, src), *g1 = gain_paths_graph(1, src);
  float *a = render_all(g0, &n0), *b = render_all(g1, &n1);
  ck_assert_int_eq(n0, n1);
  ck_assert(tu_peak(a, 2 * n0) > 0.1);
  for (int64_t i = 0; i < 2 * n0; i++)
    ck_assert_msg(memcmp(&a[i], &b[i], sizeof(float)) == 0, "sample %lld: %a (constant) vs %a (ramp)", (long long)i,
                  (double)a[i], (double)b[i]);
  free(a);
  free(b);
  mixstage_graph_destroy(g0);
  mixstage_graph_destroy(g1);
  for (int i = 0; i < 4; i++) free(src[i]);
}
END_TEST

/* Setters between process calls, lanes and lane groups, for host blocks of
 * every shape: 1 frame, one cell, 33 (each block starts at a new offset
 * in its cell), the engine's 256 and the whole render.  The calls are split
 * so that every change lands at the same frame in each run; the engine
 * takes it at the next 32-frame boundary, so every run gives the same bits.
 * Between the changes most strips are settled (nothing moves), the state in
 * which the engine reads sources and runs tails over whole blocks. */
enum { SET_STRIPS = 6, SET_LEN = 20000 };
typedef struct setter_graph {
  mixstage_graph *g;
  mixstage_strip *st[SET_STRIPS + 1];
  mixstage_send *send;
  mixstage_node *eq2, *comp4;
  float *src[SET_STRIPS + 1];
} setter_graph;

static void setter_graph_build(setter_graph *t) {
  int err;
  t->g = new_graph(4096);
  mixstage_bus *grp = mixstage_graph_add_bus(t->g, "Group", MIXSTAGE_BUS_GROUP, 2, &err);
  mixstage_bus *ret = mixstage_graph_add_bus(t->g, "Return", MIXSTAGE_BUS_RETURN, 2, &err);
  ck_assert_ptr_nonnull(grp);
  ck_assert_ptr_nonnull(ret);
  for (int i = 0; i <= SET_STRIPS; i++) {
    int ch = i < SET_STRIPS ? 2 : 1;
    char name[8] = {'S', (char)('0' + i), 0};
    t->src[i] = malloc(sizeof(float) * (size_t)ch * SET_LEN);
    tu_noise(t->src[i], (int64_t)ch * SET_LEN, 0.5, 101u + (uint32_t)i);
    t->st[i] = mixstage_graph_add_strip(t->g, name, ch, &err);
    ck_assert_ptr_nonnull(t->st[i]);
    ck_assert_int_eq(mixstage_strip_set_source_buffer(t->st[i], t->src[i], ch, SET_LEN - 700 * i, 0), MIXSTAGE_OK);
    if (i < SET_STRIPS) { /* the same chain: one lane group */
      mixstage_node *eq = mixstage_strip_insert(t->st[i], "eq", MIXSTAGE_ROLE_STRIP, -1, &err);
      mixstage_node *cp = mixstage_strip_insert(t->st[i], "compressor", MIXSTAGE_ROLE_STRIP, -1, &err);
      ck_assert_ptr_nonnull(eq);
      ck_assert_ptr_nonnull(cp);
      ck_assert_int_eq(mixstage_node_set_param_by_name(cp, "threshold", -24.0), MIXSTAGE_OK);
      if (i == 2) t->eq2 = eq;
      if (i == 4) t->comp4 = cp;
    }
    if (i % 2) ck_assert_int_eq(mixstage_strip_set_output(t->st[i], grp), MIXSTAGE_OK);
  }
  t->send = mixstage_strip_add_send(t->st[1], ret, -6.0, MIXSTAGE_TAP_POST_FADER, MIXSTAGE_ROLE_MIX_FX, &err);
  ck_assert_ptr_nonnull(t->send);
  ck_assert_ptr_nonnull(mixstage_strip_add_send(t->st[SET_STRIPS], ret, -3.0, MIXSTAGE_TAP_PRE_FADER,
                                                MIXSTAGE_ROLE_MIX_FX, &err));
  ck_assert_ptr_nonnull(mixstage_bus_insert(ret, "delay", MIXSTAGE_ROLE_MIX_FX, -1, &err));
  /* a lane on one strip only (the others stay settled) */
  mixstage_lane *cl = mixstage_strip_lane(t->st[3], MIXSTAGE_STRIP_CLIP_GAIN, &err);
  ck_assert_ptr_nonnull(cl);
  ck_assert_int_eq(mixstage_lane_add_point(cl, 4000, 0.0, MIXSTAGE_CURVE_LINEAR), MIXSTAGE_OK);
  ck_assert_int_eq(mixstage_lane_add_point(cl, 6000, -9.0, MIXSTAGE_CURVE_LINEAR), MIXSTAGE_OK);
}

/* The controls before the first change (restored before every run). */
static void setter_graph_initial(setter_graph *t) {
  for (int i = 0; i <= SET_STRIPS; i++) {
    mixstage_strip *s = t->st[i];
    ck_assert_int_eq(mixstage_strip_set_fader_db(s, -2.0 * i), MIXSTAGE_OK);
    mixstage_strip_set_pan(s, 0.0);
    mixstage_strip_set_width(s, 1.0);
    mixstage_strip_set_mute(s, 0);
    mixstage_strip_set_solo(s, 0);
    mixstage_strip_set_polarity(s, 0);
    mixstage_strip_set_clip_gain_db(s, i == 5 ? 2.0 : 0.0);
  }
  mixstage_send_set_level_db(t->send, -6.0);
  mixstage_send_set_mute(t->send, 0);
  mixstage_node_set_param_by_name(t->eq2, "output", 0.0);
  mixstage_node_set_bypass(t->comp4, 0);
}

/* Change number k (applied when the render reaches setter_frames[k]). */
static const int64_t setter_frames[] = {1000, 3000, 5001, 7777, 9000, 11000, 12345, 13000, 15000, 16001, 17000};
static void setter_apply(setter_graph *t, int k) {
  switch (k) {
    case 0: ck_assert_int_eq(mixstage_strip_set_fader_db(t->st[0], -9.0), MIXSTAGE_OK); break;
    case 1: mixstage_strip_set_mute(t->st[1], 1); break;
    case 2: mixstage_send_set_level_db(t->send, -20.0); break;
    case 3: ck_assert_int_eq(mixstage_node_set_param_by_name(t->eq2, "output", 6.0), MIXSTAGE_OK); break;
    case 4:
      mixstage_strip_set_mute(t->st[1], 0);
      mixstage_strip_set_polarity(t->st[3], 1);
      break;
    case 5: mixstage_node_set_bypass(t->comp4, 1); break;
    case 6: mixstage_strip_set_solo(t->st[5], 1); break;
    case 7: mixstage_strip_set_solo(t->st[5], 0); break;
    case 8:
      mixstage_strip_set_pan(t->st[0], 0.5);
      mixstage_strip_set_width(t->st[2], 0.4);
      mixstage_node_set_bypass(t->comp4, 0);
      break;
    case 9: mixstage_strip_set_clip_gain_db(t->st[5], -144.0); mixstage_strip_set_polarity(t->st[5], 1); break;
    default: mixstage_send_set_mute(t->send, 1); break;
  }
}

/* Renders the graph from frame 0 in host blocks of `block` frames (with
 * the changes when `changes`); returns frames 0 .. total-1 (stereo). */
static float *setter_render(setter_graph *t, int block, int changes, int64_t total) {
  setter_graph_initial(t);
  ck_assert_int_eq(mixstage_graph_prepare(t->g), MIXSTAGE_OK);
  ck_assert_int_eq(mixstage_graph_locate(t->g, 0), MIXSTAGE_OK);
  float *out = calloc(2 * (size_t)total, sizeof(float));
  int next = 0, count = (int)(sizeof setter_frames / sizeof setter_frames[0]);
  for (int64_t f = 0; f < total;) {
    while (changes && next < count && setter_frames[next] == f) setter_apply(t, next++);
    int64_t end = f + block < total ? f + block : total;
    if (changes && next < count && setter_frames[next] < end) end = setter_frames[next];
    ck_assert_int_eq(mixstage_graph_process(t->g, out + 2 * f, (int)(end - f)), MIXSTAGE_OK);
    f = end;
  }
  return out;
}

START_TEST(test_setters_block_size_independence) {
  setter_graph t;
  setter_graph_build(&t);
  const int64_t total = SET_LEN + 2000;
  float *ref = setter_render(&t, 256, 1, total);
  float *plain = setter_render(&t, 256, 0, total);
  ck_assert(tu_peak(ref, 2 * total) > 0.05);
  /* the changes are heard: after each one the output differs */
  int count = (int)(sizeof setter_frames / sizeof setter_frames[0]);
  for (int k = 0; k < count; k++) {
    int64_t a = setter_frames[k], b = k + 1 < count ? setter_frames[k + 1] : total;
    ck_assert_msg(memcmp(ref + 2 * a, plain + 2 * a, sizeof(float) * 2 * (size_t)(b - a)) != 0,
                  "change %d at frame %lld is not heard", k, (long long)a);
  }
  free(plain);
  const int blocks[] = {1, 32, 33, 4096};
  for (int b = 0; b < 4; b++) {
    float *out = setter_render(&t, blocks[b], 1, total);
    for (int64_t i = 0; i < 2 * total; i++)
      ck_assert_msg(memcmp(&ref[i], &out[i], sizeof(float)) == 0, "block %d, frame %lld: %a vs %a (block 256)",
                    blocks[b], (long long)(i / 2), (double)out[i], (double)ref[i]);
    free(out);
  }
  free(ref);
  mixstage_graph_destroy(t.g);
  for (int i = 0; i <= SET_STRIPS; i++) free(t.src[i]);
}
END_TEST

/* A bass keyed by the kick through the graph ducks on each hit by the
 * compressor's static curve and recovers between hits. */
START_TEST(test_sidechain_ducking_in_graph) {
  mixstage_graph *g = new_graph(512);
  int64_t len = 96000;
  float *kick = calloc((size_t)len, sizeof(float));
  float *bass = malloc(sizeof(float) * (size_t)len);
  for (int64_t i = 0; i < len; i++) {
    int64_t ph = i % 24000; /* a hit every 0.5 s */
    kick[i] = ph < 4800 ? (float)(0.9 * sin(2 * TU_PI * 60.0 * (double)ph / FS) * exp(-(double)ph / 2400.0)) : 0.0f;
    bass[i] = (float)(0.25 * sin(2 * TU_PI * 110.0 * (double)i / FS));
  }
  int err;
  mixstage_strip *ks = mixstage_graph_add_strip(g, "Kick", 1, &err);
  mixstage_strip *bs = mixstage_graph_add_strip(g, "Bass", 1, &err);
  mixstage_strip_set_source_buffer(ks, kick, 1, len, 1);
  mixstage_strip_set_source_buffer(bs, bass, 1, len, 1);
  mixstage_strip_set_mute(ks, 1); /* listen to the bass alone: the key still runs */
  mixstage_strip_set_pan(bs, -1.0);
  mixstage_node *c = mixstage_strip_insert(bs, "compressor", MIXSTAGE_ROLE_STRIP, -1, &err);
  mixstage_node_set_param_by_name(c, "threshold", -30.0);
  mixstage_node_set_param_by_name(c, "ratio", 8.0);
  mixstage_node_set_param_by_name(c, "knee", 0.0);
  mixstage_node_set_param_by_name(c, "attack", 1.0);
  mixstage_node_set_param_by_name(c, "release", 60.0);
  ck_assert_int_eq(mixstage_node_set_sidechain_strip(c, ks, MIXSTAGE_TAP_PRE_FADER), MIXSTAGE_OK);
  int64_t n;
  float *out = render_all(g, &n);
  /* At the hit's peak the key is about -1.5 dBFS: 28.5 dB over, 8:1 gives
   * about 25 dB of reduction; measure the bass envelope around 30 ms after
   * each hit, and late in each gap (400-480 ms) where it must be back. */
  for (int hit = 0; hit < 3; hit++) {
    int64_t h = (int64_t)hit * 24000;
    double duck = tu_peak(out + 2 * (h + 1200), 2 * 480) / 0.25;
    double rec = tu_peak(out + 2 * (h + 19200), 2 * 3840) / 0.25;
    ck_assert_msg(tu_db(duck) < -15.0, "hit %d: ducked only %.1f dB", hit, tu_db(duck));
    ck_assert_msg(tu_db(rec) > -0.5, "hit %d: not recovered between hits (%.2f dB)", hit, tu_db(rec));
  }
  free(out);
  free(kick);
  free(bass);
  mixstage_graph_destroy(g);
}
END_TEST

/* Progress reaches the total, and a non-zero return cancels the render
 * (single- and multi-threaded). */
typedef struct {
  int64_t last, calls, cancel_at;
} progress_log;

static int on_progress(void *user, int64_t done, int64_t total) {
  progress_log *p = user;
  ck_assert(done >= p->last && done <= total);
  p->last = done;
  p->calls++;
  return p->cancel_at > 0 && done >= p->cancel_at;
}

START_TEST(test_progress_and_cancel) {
  float *src;
  mixstage_graph *g = busy_graph(4096, &src);
  for (int threads = 1; threads <= 2; threads++) {
    mixstage_render_config rc;
    mixstage_render_config_init(&rc);
    rc.threads = threads;
    progress_log log = {0, 0, 0};
    rc.progress = on_progress;
    rc.progress_user = &log;
    int64_t n = mixstage_graph_render_frames(g, &rc);
    float *out = calloc(2 * (size_t)n, sizeof(float));
    ck_assert_int_eq(mixstage_graph_render(g, &rc, out, n), MIXSTAGE_OK);
    ck_assert_int_eq(log.last, n);
    ck_assert_int_ge(log.calls, (int)(n / 4800) - 1); /* about every 100 ms */
    progress_log stop = {0, 0, 9600};
    rc.progress_user = &stop;
    ck_assert_int_eq(mixstage_graph_render(g, &rc, out, n), MIXSTAGE_ECANCELLED);
    ck_assert(stop.last < n);
    ck_assert(strstr(mixstage_graph_last_error(g), "cancelled") != NULL);
    free(out);
  }
  mixstage_graph_destroy(g);
  free(src);
}
END_TEST

static Suite *graph_suite(void) {
  Suite *s = suite_create("graph");
  TCase *tc = tcase_create("engine");
  tcase_set_timeout(tc, 60);
  tcase_add_test(tc, test_empty_graph_renders_silence);
  tcase_add_test(tc, test_pan_law_mono);
  tcase_add_test(tc, test_balance_and_width_stereo);
  tcase_add_test(tc, test_fader_automation_ramp);
  tcase_add_test(tc, test_fader_change_is_smoothed);
  tcase_add_test(tc, test_cycle_through_buses);
  tcase_add_test(tc, test_cycle_through_sends);
  tcase_add_test(tc, test_cycle_through_sidechain);
  tcase_add_test(tc, test_long_chain_cycles_and_schedule);
  tcase_add_test(tc, test_lane_points_any_order);
  tcase_add_test(tc, test_latency_compensation_aligns_impulses);
  tcase_add_test(tc, test_block_size_independence);
  tcase_add_test(tc, test_mute_solo_polarity_sends);
  tcase_add_test(tc, test_nan_is_contained);
  tcase_add_test(tc, test_node_fault_is_pinned);
  tcase_add_test(tc, test_chain_fault_then_pinned);
  tcase_add_test(tc, test_constant_gain_paths_match_ramps);
  tcase_add_test(tc, test_setters_block_size_independence);
  tcase_add_test(tc, test_sidechain_ducking_in_graph);
  tcase_add_test(tc, test_progress_and_cancel);
  suite_add_tcase(s, tc);
  return s;
}

int main(void) {
  SRunner *sr = srunner_create(graph_suite());
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
