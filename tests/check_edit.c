/* Editing a graph (edit.h): removing strips, buses, sends, nodes and lanes,
 * moving and replacing nodes, serials.
 *
 * The main check is an equivalence: a graph built in full, rendered (so its
 * runtime exists when the edit tears it down), then edited, must render bit
 * for bit what the same graph built from scratch without the removed parts
 * (or with the chain in the new order, or with the new node type) renders,
 * and must save to the same graph-file text.  Tolerance: none.  A prepare
 * starts every node afresh (edit.h), and the engine's output is a pure
 * function of the graph's objects, their order and their settings, so any
 * difference is something the edit left behind (a stale key, a send into a
 * removed return, a lane that kept automating, a wrong order).  Each
 * comparison also checks that the edit changed the render, so that a no-op
 * edit could not pass by matching itself.
 */
#define _POSIX_C_SOURCE 200809L /* mkdtemp */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mixstage.h"
#include "testutil.h"

#define FS 48000.0
#define LEN 12000 /* 0.25 s of source per strip: the whole suite runs in seconds, under ASan too */
#define TAIL 4800

static float src_kick[LEN], src_bass[LEN], src_pad[2 * LEN];

static void make_sources(void) {
  static int done;
  if (done) return;
  done = 1;
  /* kick: noise bursts of 50 ms every 125 ms, so keys and gates move */
  tu_noise(src_kick, LEN, 0.8, 1234u);
  for (int i = 0; i < LEN; i++)
    if (i % 6000 >= 2400) src_kick[i] = 0.0f;
  tu_sine(src_bass, LEN, 110.0, FS, 0.5, 0.0);
  float l[LEN], r[LEN];
  tu_sine(l, LEN, 440.0, FS, 0.3, 0.0);
  tu_sine(r, LEN, 660.0, FS, 0.3, 0.5);
  for (int i = 0; i < LEN; i++) {
    src_pad[2 * i] = l[i];
    src_pad[2 * i + 1] = r[i];
  }
}

/* What a test graph holds.  The builder adds what is asked in one fixed
 * order, so that a graph edited down and one built without the removed
 * parts list their objects in the same order. */
typedef struct spec {
  int kick, bass, pad;      /* strips "Kick" (mono), "Bass" (mono), "Pad" (stereo) */
  int group;                /* group bus "Group" with a compressor; Bass routes into it */
  int verb;                 /* FX return "Verb" with a reverb */
  int send_kick, send_pad;  /* sends into Verb */
  const char *kick_chain[5]; /* node types of Kick's chain, NULL-terminated */
  int key_bass;             /* Bass's compressor keyed by Kick, post-fader */
  int key_pad;              /* Pad's compressor keyed by Group, pre-fader */
  int lane_fader;           /* a fader lane on Kick */
  int lane_thr;             /* a threshold lane on Kick's nodes that have one */
  int mix_limiter;          /* a limiter on the mix bus */
} spec;

typedef struct built {
  mixstage_strip *kick, *bass, *pad;
  mixstage_bus *group, *verb;
  mixstage_send *send_kick, *send_pad;
  mixstage_node *chain[4], *comp_bass, *comp_pad, *comp_group, *reverb, *limiter;
  mixstage_lane *fader_lane, *thr_lane;
} built;

static spec full(void) {
  spec s = {1, 1, 1, 1, 1, 1, 1, {"eq", "compressor", "gain", NULL}, 1, 1, 1, 1, 1};
  return s;
}

/* The same settings for every node that has a parameter by that name, so a
 * node made by replace and one made new of that type agree. */
static void configure(mixstage_node *n) {
  static const struct {
    const char *name;
    double v;
  } set[] = {{"threshold", -30}, {"ratio", 6}, {"attack", 5}, {"release", 80},
             {"gain", -3},       {"output", -2}, {"decay", 0.8}, {"ceiling", -1}};
  for (size_t i = 0; i < sizeof set / sizeof *set; i++) {
    mixstage_graph *g = mixstage_node_graph(n);
    int id = mixstage_node_param_id(n, set[i].name);
    (void)g;
    if (id >= 0) ck_assert_int_eq(mixstage_node_set_param(n, id, set[i].v), MIXSTAGE_OK);
  }
}

#define OK(call) ck_assert_msg((call) == MIXSTAGE_OK, "%s: %s", #call, mixstage_graph_last_error(g))

static mixstage_graph *build(const spec *sp, built *o) {
  make_sources();
  memset(o, 0, sizeof *o);
  int err;
  mixstage_graph *g = mixstage_graph_create(NULL, &err);
  ck_assert_ptr_nonnull(g);
  if (sp->kick) {
    o->kick = mixstage_graph_add_strip(g, "Kick", 1, &err);
    ck_assert_ptr_nonnull(o->kick);
    OK(mixstage_strip_set_source_buffer(o->kick, src_kick, 1, LEN, 0));
    for (int i = 0; sp->kick_chain[i]; i++) {
      mixstage_node *n = mixstage_strip_insert(o->kick, sp->kick_chain[i], MIXSTAGE_ROLE_STRIP, -1, &err);
      ck_assert_ptr_nonnull(n);
      configure(n);
      o->chain[i] = n;
      int thr = mixstage_node_param_id(n, "threshold");
      if (sp->lane_thr && thr >= 0) {
        o->thr_lane = mixstage_node_lane(n, thr, &err);
        ck_assert_ptr_nonnull(o->thr_lane);
        OK(mixstage_lane_add_point(o->thr_lane, 0, -30.0, MIXSTAGE_CURVE_LINEAR));
        OK(mixstage_lane_add_point(o->thr_lane, 6000, -12.0, MIXSTAGE_CURVE_LINEAR));
        OK(mixstage_lane_add_point(o->thr_lane, 11000, -40.0, MIXSTAGE_CURVE_STEP));
      }
    }
    if (sp->lane_fader) {
      o->fader_lane = mixstage_strip_lane(o->kick, MIXSTAGE_STRIP_FADER, &err);
      ck_assert_ptr_nonnull(o->fader_lane);
      OK(mixstage_lane_add_point(o->fader_lane, 0, 0.0, MIXSTAGE_CURVE_LINEAR));
      OK(mixstage_lane_add_point(o->fader_lane, 8000, -9.0, MIXSTAGE_CURVE_LINEAR));
    }
  }
  if (sp->bass) {
    o->bass = mixstage_graph_add_strip(g, "Bass", 1, &err);
    ck_assert_ptr_nonnull(o->bass);
    OK(mixstage_strip_set_source_buffer(o->bass, src_bass, 1, LEN, 0));
    o->comp_bass = mixstage_strip_insert(o->bass, "compressor", MIXSTAGE_ROLE_STRIP, -1, &err);
    ck_assert_ptr_nonnull(o->comp_bass);
    configure(o->comp_bass);
  }
  if (sp->pad) {
    o->pad = mixstage_graph_add_strip(g, "Pad", 2, &err);
    ck_assert_ptr_nonnull(o->pad);
    OK(mixstage_strip_set_source_buffer(o->pad, src_pad, 2, LEN, 0));
    OK(mixstage_strip_set_pan(o->pad, -0.25));
    o->comp_pad = mixstage_strip_insert(o->pad, "compressor", MIXSTAGE_ROLE_STRIP, -1, &err);
    ck_assert_ptr_nonnull(o->comp_pad);
    configure(o->comp_pad);
  }
  if (sp->group) {
    o->group = mixstage_graph_add_bus(g, "Group", MIXSTAGE_BUS_GROUP, 2, &err);
    ck_assert_ptr_nonnull(o->group);
    o->comp_group = mixstage_bus_insert(o->group, "compressor", MIXSTAGE_ROLE_BUS_DYNAMICS, -1, &err);
    ck_assert_ptr_nonnull(o->comp_group);
    configure(o->comp_group);
    if (o->bass) OK(mixstage_strip_set_output(o->bass, o->group));
  }
  if (sp->verb) {
    o->verb = mixstage_graph_add_bus(g, "Verb", MIXSTAGE_BUS_RETURN, 2, &err);
    ck_assert_ptr_nonnull(o->verb);
    o->reverb = mixstage_bus_insert(o->verb, "reverb", MIXSTAGE_ROLE_MIX_FX, -1, &err);
    ck_assert_ptr_nonnull(o->reverb);
    configure(o->reverb);
  }
  if (sp->send_kick && o->kick && o->verb) {
    o->send_kick = mixstage_strip_add_send(o->kick, o->verb, -6.0, MIXSTAGE_TAP_POST_FADER, MIXSTAGE_ROLE_MIX_FX, &err);
    ck_assert_ptr_nonnull(o->send_kick);
  }
  if (sp->send_pad && o->pad && o->verb) {
    o->send_pad = mixstage_strip_add_send(o->pad, o->verb, -10.0, MIXSTAGE_TAP_PRE_FADER, MIXSTAGE_ROLE_MIX_FX, &err);
    ck_assert_ptr_nonnull(o->send_pad);
  }
  if (sp->key_bass && o->kick && o->bass) OK(mixstage_node_set_sidechain_strip(o->comp_bass, o->kick, MIXSTAGE_TAP_POST_FADER));
  if (sp->key_pad && o->group && o->pad) OK(mixstage_node_set_sidechain_bus(o->comp_pad, o->group, MIXSTAGE_TAP_PRE_FADER));
  if (sp->mix_limiter) {
    o->limiter = mixstage_bus_insert(mixstage_graph_mix_bus(g), "limiter", MIXSTAGE_ROLE_PLACEHOLDER_LIMITER, -1, &err);
    ck_assert_ptr_nonnull(o->limiter);
    configure(o->limiter);
  }
  return g;
}

static float *render(mixstage_graph *g, int64_t *frames) {
  mixstage_render_config rc;
  mixstage_render_config_init(&rc);
  rc.max_tail_frames = TAIL;
  int64_t n = mixstage_graph_render_frames(g, &rc);
  if (n == MIXSTAGE_EINVAL || n == 0) { /* no source left: render a fixed length */
    rc.frames = LEN;
    n = mixstage_graph_render_frames(g, &rc);
  }
  ck_assert_msg(n > 0, "render_frames: %s", mixstage_graph_last_error(g));
  float *out = malloc(sizeof(float) * 2 * (size_t)n);
  ck_assert_ptr_nonnull(out);
  ck_assert_msg(mixstage_graph_render(g, &rc, out, n) == MIXSTAGE_OK, "render: %s", mixstage_graph_last_error(g));
  *frames = n;
  return out;
}

/* The edited graph renders and saves as the graph of @p sp built afresh;
 * and its render differs from @p before (the render before the edit). */
static void assert_as_built(mixstage_graph *edited, const spec *sp, const float *before, int64_t before_n,
                            const char *what) {
  built o;
  mixstage_graph *ref = build(sp, &o);
  int64_t n1, n2;
  float *a = render(edited, &n1), *b = render(ref, &n2);
  ck_assert_msg(n1 == n2, "%s: %lld frames after the edit, %lld built afresh", what, (long long)n1, (long long)n2);
  size_t diff = 0;
  for (int64_t i = 0; i < 2 * n1; i++)
    if (memcmp(&a[i], &b[i], sizeof(float)) != 0 && !diff) diff = (size_t)i + 1;
  ck_assert_msg(!diff, "%s: the edited graph renders differently from one built afresh (sample %zu: %.9g vs %.9g)",
                what, diff - 1, diff ? a[diff - 1] : 0.0, diff ? b[diff - 1] : 0.0);
  if (before) {
    int changed = before_n != n1;
    for (int64_t i = 0; !changed && i < 2 * n1; i++) changed = before[i] != a[i];
    ck_assert_msg(changed, "%s: the edit did not change the render (the comparison proves nothing)", what);
  }
  char *ja = mixstage_graph_to_string(edited), *jb = mixstage_graph_to_string(ref);
  ck_assert_ptr_nonnull(ja);
  ck_assert_ptr_nonnull(jb);
  ck_assert_msg(strcmp(ja, jb) == 0, "%s: the edited graph saves differently:\n%s\n---- built afresh:\n%s", what, ja, jb);
  mixstage_free(ja);
  mixstage_free(jb);
  free(a);
  free(b);
  mixstage_graph_destroy(ref);
}

/* Builds the full graph and renders it once, so that the edits tear down a
 * prepared runtime.  *before receives that render. */
static mixstage_graph *full_rendered(built *o, float **before, int64_t *n) {
  spec sp = full();
  mixstage_graph *g = build(&sp, o);
  *before = render(g, n);
  double peak = tu_peak(*before, 2 * *n);
  ck_assert_msg(peak > 0.05, "the test graph is (nearly) silent: peak %g", peak);
  return g;
}

/* ---- serials ------------------------------------------------------------------ */

START_TEST(test_serials) {
  built o;
  spec sp = full();
  mixstage_graph *g = build(&sp, &o);
  mixstage_bus *mix = mixstage_graph_mix_bus(g);
  ck_assert_uint_eq(mixstage_bus_serial(mix), 1);
  ck_assert_uint_eq(mixstage_strip_serial(NULL), 0);
  ck_assert_uint_eq(mixstage_node_serial(NULL), 0);
  ck_assert_uint_eq(mixstage_lane_serial(NULL), 0);
  /* unique and increasing in the order made */
  uint64_t s[] = {mixstage_strip_serial(o.kick), mixstage_node_serial(o.chain[0]), mixstage_node_serial(o.chain[1]),
                  mixstage_lane_serial(o.thr_lane), mixstage_node_serial(o.chain[2]), mixstage_lane_serial(o.fader_lane),
                  mixstage_strip_serial(o.bass), mixstage_bus_serial(o.group), mixstage_bus_serial(o.verb),
                  mixstage_send_serial(o.send_kick), mixstage_send_serial(o.send_pad)};
  for (size_t i = 1; i < sizeof s / sizeof *s; i++) ck_assert_uint_gt(s[i], s[i - 1]);
  ck_assert_ptr_eq(mixstage_graph_strip_by_serial(g, mixstage_strip_serial(o.kick)), o.kick);
  ck_assert_ptr_eq(mixstage_graph_bus_by_serial(g, 1), mix);
  ck_assert_ptr_eq(mixstage_graph_bus_by_serial(g, mixstage_bus_serial(o.verb)), o.verb);
  ck_assert_ptr_eq(mixstage_graph_send_by_serial(g, mixstage_send_serial(o.send_pad)), o.send_pad);
  ck_assert_ptr_eq(mixstage_graph_node_by_serial(g, mixstage_node_serial(o.reverb)), o.reverb);
  ck_assert_ptr_eq(mixstage_graph_lane_by_serial(g, mixstage_lane_serial(o.fader_lane)), o.fader_lane);
  /* the wrong kind, 0, unknown, NULL graph: nothing */
  ck_assert_ptr_null(mixstage_graph_bus_by_serial(g, mixstage_strip_serial(o.kick)));
  ck_assert_ptr_null(mixstage_graph_node_by_serial(g, mixstage_lane_serial(o.thr_lane)));
  ck_assert_ptr_null(mixstage_graph_strip_by_serial(g, 0));
  ck_assert_ptr_null(mixstage_graph_strip_by_serial(g, 1u << 30));
  ck_assert_ptr_null(mixstage_graph_strip_by_serial(NULL, mixstage_strip_serial(o.kick)));
  /* owners of sends */
  ck_assert_ptr_eq(mixstage_send_source_strip(o.send_kick), o.kick);
  ck_assert_ptr_null(mixstage_send_source_bus(o.send_kick));
  ck_assert_ptr_null(mixstage_send_source_strip(NULL));
  /* a lane removed and made again is a new lane */
  uint64_t old = mixstage_lane_serial(o.fader_lane);
  ck_assert_int_eq(mixstage_lane_remove(o.fader_lane), MIXSTAGE_OK);
  ck_assert_ptr_null(mixstage_graph_lane_by_serial(g, old));
  int err;
  mixstage_lane *again = mixstage_strip_lane(o.kick, MIXSTAGE_STRIP_FADER, &err);
  ck_assert_ptr_nonnull(again);
  ck_assert_uint_gt(mixstage_lane_serial(again), s[10]);
  ck_assert_ptr_eq(mixstage_graph_lane_by_serial(g, mixstage_lane_serial(again)), again);
  /* a serial is never handed out twice, even after removals */
  mixstage_strip *x = mixstage_graph_add_strip(g, "X", 1, &err);
  uint64_t sx = mixstage_strip_serial(x);
  ck_assert_int_eq(mixstage_strip_remove(x), MIXSTAGE_OK);
  x = mixstage_graph_add_strip(g, "X", 1, &err);
  ck_assert_uint_gt(mixstage_strip_serial(x), sx);
  ck_assert_ptr_null(mixstage_graph_strip_by_serial(g, sx));
  mixstage_graph_destroy(g);
}
END_TEST

/* ---- removals ------------------------------------------------------------------ */

START_TEST(test_remove_strip) {
  built o;
  float *before;
  int64_t n;
  mixstage_graph *g = full_rendered(&o, &before, &n);
  int err;
  mixstage_meter *m = mixstage_meter_create(1, FS, 1024, NULL, &err);
  ck_assert_ptr_nonnull(m);
  OK(mixstage_strip_attach_meter(o.kick, m, MIXSTAGE_TAP_PRE_FADER));
  uint64_t sk = mixstage_strip_serial(o.kick), sn = mixstage_node_serial(o.chain[1]);
  uint64_t ss = mixstage_send_serial(o.send_kick), sl = mixstage_lane_serial(o.thr_lane);
  uint64_t sf = mixstage_lane_serial(o.fader_lane);
  ck_assert_ptr_null(mixstage_node_sidechain_lost(o.comp_bass));
  OK(mixstage_strip_remove(o.kick));
  /* everything it took is gone */
  ck_assert_int_eq(mixstage_graph_strip_count(g), 2);
  ck_assert_ptr_eq(mixstage_graph_strip(g, 0), o.bass);
  ck_assert_ptr_eq(mixstage_graph_strip(g, 1), o.pad);
  ck_assert_ptr_null(mixstage_graph_find_strip(g, "Kick"));
  ck_assert_ptr_null(mixstage_graph_strip_by_serial(g, sk));
  ck_assert_ptr_null(mixstage_graph_node_by_serial(g, sn));
  ck_assert_ptr_null(mixstage_graph_send_by_serial(g, ss));
  ck_assert_ptr_null(mixstage_graph_lane_by_serial(g, sl));
  ck_assert_ptr_null(mixstage_graph_lane_by_serial(g, sf));
  /* the key it gave is cleared, and the node says so */
  ck_assert_ptr_null(mixstage_node_sidechain_strip(o.comp_bass));
  ck_assert_ptr_null(mixstage_node_sidechain_bus(o.comp_bass));
  ck_assert_int_eq(mixstage_node_sidechain_tap(o.comp_bass), MIXSTAGE_ENOTFOUND);
  ck_assert_str_eq(mixstage_node_sidechain_lost(o.comp_bass), "Kick");
  /* its name is free again; the other names still resolve */
  ck_assert_ptr_eq(mixstage_graph_find_strip(g, "Pad"), o.pad);
  ck_assert_ptr_eq(mixstage_graph_find_bus(g, "Verb"), o.verb);
  /* the meter was detached: destroying it now must not leave the graph
   * pushing into freed memory (ASan) */
  mixstage_meter_destroy(m);
  spec sp = full();
  sp.kick = 0;
  assert_as_built(g, &sp, before, n, "strip removed");
  /* clearing (or setting) the key forgets the loss */
  OK(mixstage_node_clear_sidechain(o.comp_bass));
  ck_assert_ptr_null(mixstage_node_sidechain_lost(o.comp_bass));
  free(before);
  mixstage_graph_destroy(g);
}
END_TEST

START_TEST(test_remove_bus) {
  built o;
  float *before;
  int64_t n;
  mixstage_graph *g = full_rendered(&o, &before, &n);
  /* the mix bus stays */
  ck_assert_int_eq(mixstage_bus_remove(mixstage_graph_mix_bus(g)), MIXSTAGE_EINVAL);
  ck_assert_ptr_nonnull(strstr(mixstage_graph_last_error(g), "mix bus 'Mix'"));
  /* refused while Bass routes into Group: nothing changes */
  ck_assert_int_eq(mixstage_bus_remove(o.group), MIXSTAGE_ESTATE);
  const char *msg = mixstage_graph_last_error(g);
  ck_assert_msg(strstr(msg, "bus 'Group'") && strstr(msg, "strip 'Bass'") && strstr(msg, "1 strip or bus routes"),
                "%s", msg);
  ck_assert_int_eq(mixstage_graph_bus_count(g), 3);
  ck_assert_int_eq(mixstage_graph_is_prepared(g), 1); /* a refusal does not even unprepare */
  /* and with two routers the message counts them and names the first */
  int err;
  mixstage_bus *sub = mixstage_graph_add_bus(g, "Sub", MIXSTAGE_BUS_GROUP, 2, &err);
  OK(mixstage_bus_set_output(sub, o.group));
  ck_assert_int_eq(mixstage_bus_remove(o.group), MIXSTAGE_ESTATE);
  ck_assert_msg(strstr(mixstage_graph_last_error(g), "2 strips or buses route into it (the first is strip 'Bass')"),
                "%s", mixstage_graph_last_error(g));
  OK(mixstage_bus_remove(sub));
  OK(mixstage_strip_set_output(o.bass, mixstage_graph_mix_bus(g)));
  uint64_t sg = mixstage_bus_serial(o.group), sc = mixstage_node_serial(o.comp_group);
  OK(mixstage_bus_remove(o.group));
  ck_assert_int_eq(mixstage_graph_bus_count(g), 2);
  ck_assert_ptr_eq(mixstage_graph_bus(g, 1), o.verb);
  ck_assert_ptr_null(mixstage_graph_bus_by_serial(g, sg));
  ck_assert_ptr_null(mixstage_graph_node_by_serial(g, sc));
  ck_assert_ptr_null(mixstage_graph_find_bus(g, "Group"));
  ck_assert_ptr_null(mixstage_node_sidechain_bus(o.comp_pad));
  ck_assert_str_eq(mixstage_node_sidechain_lost(o.comp_pad), "Group");
  spec sp = full();
  sp.group = 0;
  assert_as_built(g, &sp, before, n, "group bus removed");
  free(before);
  mixstage_graph_destroy(g);
}
END_TEST

START_TEST(test_remove_return_takes_sends) {
  built o;
  float *before;
  int64_t n;
  mixstage_graph *g = full_rendered(&o, &before, &n);
  uint64_t s1 = mixstage_send_serial(o.send_kick), s2 = mixstage_send_serial(o.send_pad);
  uint64_t sr = mixstage_node_serial(o.reverb);
  OK(mixstage_bus_remove(o.verb));
  ck_assert_int_eq(mixstage_strip_send_count(o.kick), 0);
  ck_assert_int_eq(mixstage_strip_send_count(o.pad), 0);
  ck_assert_ptr_null(mixstage_graph_send_by_serial(g, s1));
  ck_assert_ptr_null(mixstage_graph_send_by_serial(g, s2));
  ck_assert_ptr_null(mixstage_graph_node_by_serial(g, sr));
  spec sp = full();
  sp.verb = 0;
  assert_as_built(g, &sp, before, n, "FX return removed");
  free(before);
  mixstage_graph_destroy(g);
}
END_TEST

START_TEST(test_remove_send) {
  built o;
  float *before;
  int64_t n;
  mixstage_graph *g = full_rendered(&o, &before, &n);
  int err;
  mixstage_lane *l = mixstage_send_lane(o.send_kick, &err);
  OK(mixstage_lane_add_point(l, 100, -20.0, MIXSTAGE_CURVE_LINEAR));
  uint64_t sl = mixstage_lane_serial(l);
  OK(mixstage_send_remove(o.send_kick));
  ck_assert_int_eq(mixstage_strip_send_count(o.kick), 0);
  ck_assert_ptr_null(mixstage_graph_lane_by_serial(g, sl));
  ck_assert_ptr_eq(mixstage_strip_send(o.pad, 0), o.send_pad);
  spec sp = full();
  sp.send_kick = 0;
  assert_as_built(g, &sp, before, n, "send removed");
  ck_assert_int_eq(mixstage_send_remove(NULL), MIXSTAGE_ENULL);
  free(before);
  mixstage_graph_destroy(g);
}
END_TEST

START_TEST(test_remove_node) {
  built o;
  float *before;
  int64_t n;
  mixstage_graph *g = full_rendered(&o, &before, &n);
  uint64_t sl = mixstage_lane_serial(o.thr_lane);
  OK(mixstage_node_enable_gr_history(o.chain[1], 1.0));
  OK(mixstage_node_remove(o.chain[1])); /* the compressor, with its threshold lane */
  ck_assert_int_eq(mixstage_strip_node_count(o.kick), 2);
  ck_assert_ptr_eq(mixstage_strip_node(o.kick, 1), o.chain[2]);
  ck_assert_ptr_null(mixstage_graph_lane_by_serial(g, sl));
  ck_assert_str_eq(mixstage_node_label(o.chain[2]), "strip 'Kick' insert 2 (gain)");
  spec sp = full();
  sp.kick_chain[1] = "gain";
  sp.kick_chain[2] = NULL;
  assert_as_built(g, &sp, before, n, "insert removed");
  /* a node that is keyed: the key unit's list lets go of it */
  OK(mixstage_node_remove(o.comp_bass));
  OK(mixstage_strip_remove(o.kick)); /* would touch the removed node if it had not */
  OK(mixstage_node_remove(o.limiter));
  ck_assert_int_eq(mixstage_bus_node_count(mixstage_graph_mix_bus(g)), 0);
  int64_t n2;
  free(render(g, &n2));
  ck_assert_int_eq(mixstage_node_remove(NULL), MIXSTAGE_ENULL);
  free(before);
  mixstage_graph_destroy(g);
}
END_TEST

START_TEST(test_remove_lane) {
  built o;
  float *before;
  int64_t n;
  mixstage_graph *g = full_rendered(&o, &before, &n);
  OK(mixstage_lane_remove(o.fader_lane));
  ck_assert_ptr_null(mixstage_strip_find_lane(o.kick, MIXSTAGE_STRIP_FADER));
  OK(mixstage_lane_remove(o.thr_lane));
  ck_assert_ptr_null(mixstage_node_find_lane(o.chain[1], mixstage_node_param_id(o.chain[1], "threshold")));
  spec sp = full();
  sp.lane_fader = sp.lane_thr = 0;
  assert_as_built(g, &sp, before, n, "lanes removed");
  ck_assert_int_eq(mixstage_lane_remove(NULL), MIXSTAGE_ENULL);
  free(before);
  mixstage_graph_destroy(g);
}
END_TEST

/* Everything the caller added goes; the empty graph renders silence. */
START_TEST(test_remove_everything) {
  built o;
  float *before;
  int64_t n;
  mixstage_graph *g = full_rendered(&o, &before, &n);
  OK(mixstage_strip_remove(o.bass)); /* Group has no router left */
  OK(mixstage_bus_remove(o.group));
  OK(mixstage_strip_remove(o.kick));
  OK(mixstage_bus_remove(o.verb)); /* Pad's send goes with it */
  ck_assert_int_eq(mixstage_strip_send_count(o.pad), 0);
  OK(mixstage_strip_remove(o.pad));
  OK(mixstage_node_remove(o.limiter));
  ck_assert_int_eq(mixstage_graph_strip_count(g), 0);
  ck_assert_int_eq(mixstage_graph_bus_count(g), 1);
  int64_t m;
  float *out = render(g, &m);
  ck_assert_int_eq(m, LEN);
  ck_assert(tu_peak(out, 2 * m) == 0.0);
  free(out);
  spec none = {0};
  assert_as_built(g, &none, NULL, 0, "everything removed");
  /* and the graph is still a graph: it grows again */
  int err;
  mixstage_strip *s = mixstage_graph_add_strip(g, "Kick", 1, &err);
  ck_assert_ptr_nonnull(s);
  OK(mixstage_strip_set_source_buffer(s, src_kick, 1, LEN, 0));
  out = render(g, &m);
  ck_assert(tu_peak(out, 2 * m) > 0.1);
  free(out);
  free(before);
  mixstage_graph_destroy(g);
}
END_TEST

/* The same edits on a graph never prepared (no runtime to tear down). */
START_TEST(test_remove_unprepared) {
  built o;
  spec sp = full();
  mixstage_graph *g = build(&sp, &o);
  OK(mixstage_strip_remove(o.kick));
  OK(mixstage_strip_set_output(o.bass, mixstage_graph_mix_bus(g)));
  OK(mixstage_bus_remove(o.group));
  OK(mixstage_node_replace(o.comp_pad, "gate"));
  sp.kick = sp.group = 0;
  built r;
  mixstage_graph *want = build(&sp, &r);
  OK(mixstage_node_replace(r.comp_pad, "gate"));
  /* Pad's gate lost its key with Group; "want" never had one */
  ck_assert_str_eq(mixstage_node_sidechain_lost(o.comp_pad), "Group");
  int64_t n1, n2;
  float *a = render(g, &n1), *b = render(want, &n2);
  ck_assert_int_eq(n1, n2);
  ck_assert(memcmp(a, b, sizeof(float) * 2 * (size_t)n1) == 0);
  free(a);
  free(b);
  mixstage_graph_destroy(want);
  mixstage_graph_destroy(g);
}
END_TEST

/* ---- moving and replacing ------------------------------------------------------ */

START_TEST(test_move_node) {
  built o;
  float *before;
  int64_t n;
  mixstage_graph *g = full_rendered(&o, &before, &n);
  OK(mixstage_node_move(o.chain[2], 0)); /* gain, eq, compressor */
  ck_assert_ptr_eq(mixstage_strip_node(o.kick, 0), o.chain[2]);
  ck_assert_ptr_eq(mixstage_strip_node(o.kick, 1), o.chain[0]);
  ck_assert_ptr_eq(mixstage_strip_node(o.kick, 2), o.chain[1]);
  ck_assert_int_eq(mixstage_graph_is_prepared(g), 0);
  spec sp = full();
  sp.kick_chain[0] = "gain";
  sp.kick_chain[1] = "eq";
  sp.kick_chain[2] = "compressor";
  assert_as_built(g, &sp, before, n, "gain moved first");
  /* -1 is last; the same place is fine; others are refused */
  OK(mixstage_node_move(o.chain[2], -1)); /* eq, compressor, gain */
  ck_assert_ptr_eq(mixstage_strip_node(o.kick, 2), o.chain[2]);
  OK(mixstage_node_move(o.chain[1], 1));
  OK(mixstage_node_move(o.chain[0], 2)); /* compressor, gain, eq */
  ck_assert_ptr_eq(mixstage_strip_node(o.kick, 0), o.chain[1]);
  ck_assert_ptr_eq(mixstage_strip_node(o.kick, 1), o.chain[2]);
  ck_assert_ptr_eq(mixstage_strip_node(o.kick, 2), o.chain[0]);
  sp.kick_chain[0] = "compressor";
  sp.kick_chain[1] = "gain";
  sp.kick_chain[2] = "eq";
  assert_as_built(g, &sp, NULL, 0, "eq moved last");
  ck_assert_int_eq(mixstage_node_move(o.chain[0], 3), MIXSTAGE_ERANGE);
  ck_assert_msg(strstr(mixstage_graph_last_error(g), "strip 'Kick' insert 3 (eq): position 3 is outside -1 .. 2"),
                "%s", mixstage_graph_last_error(g));
  ck_assert_int_eq(mixstage_node_move(o.chain[0], -2), MIXSTAGE_ERANGE);
  ck_assert_int_eq(mixstage_node_move(NULL, 0), MIXSTAGE_ENULL);
  free(before);
  mixstage_graph_destroy(g);
}
END_TEST

START_TEST(test_replace_node) {
  built o;
  float *before;
  int64_t n;
  mixstage_graph *g = full_rendered(&o, &before, &n);
  mixstage_node *c = o.chain[1];
  uint64_t sc = mixstage_node_serial(c);
  mixstage_lane *lane = o.thr_lane;
  OK(mixstage_node_set_bypass(c, 0));
  OK(mixstage_node_set_role(c, MIXSTAGE_ROLE_DESIGN));
  OK(mixstage_node_replace(c, "gate"));
  /* same handle, serial, place and role; values of the same name came along */
  ck_assert_str_eq(mixstage_node_type(c), "gate");
  ck_assert_uint_eq(mixstage_node_serial(c), sc);
  ck_assert_ptr_eq(mixstage_graph_node_by_serial(g, sc), c);
  ck_assert_ptr_eq(mixstage_strip_node(o.kick, 1), c);
  ck_assert_int_eq(mixstage_node_role(c), MIXSTAGE_ROLE_DESIGN);
  double v;
  OK(mixstage_node_get_param_by_name(c, "ratio", &v));
  ck_assert(v == 6.0);
  OK(mixstage_node_get_param_by_name(c, "range", &v)); /* the gate's own: default */
  ck_assert(v == -80.0);
  /* the threshold lane fits the gate's range: it is the same lane */
  ck_assert_ptr_eq(mixstage_node_find_lane(c, mixstage_node_param_id(c, "threshold")), lane);
  ck_assert_ptr_eq(mixstage_graph_lane_by_serial(g, mixstage_lane_serial(lane)), lane);
  OK(mixstage_node_set_role(c, MIXSTAGE_ROLE_STRIP));
  spec sp = full();
  sp.kick_chain[1] = "gate";
  assert_as_built(g, &sp, before, n, "compressor replaced by a gate");

  /* values that do not fit, or mean something else, are not carried */
  OK(mixstage_node_set_param_by_name(c, "attack", 60.0));  /* the compressor's range is 0.05 .. 500 */
  OK(mixstage_node_set_param_by_name(c, "ratio", 80.0));   /* outside the compressor's 1 .. 50 */
  OK(mixstage_node_set_param_by_name(c, "release", 400.0));
  OK(mixstage_lane_add_point(lane, 12000, -80.0, MIXSTAGE_CURVE_LINEAR)); /* below the compressor's -60 */
  uint64_t sl = mixstage_lane_serial(lane);
  OK(mixstage_node_replace(c, "compressor"));
  OK(mixstage_node_get_param_by_name(c, "attack", &v));
  ck_assert(v == 60.0);
  OK(mixstage_node_get_param_by_name(c, "ratio", &v));
  ck_assert(v == 4.0); /* default */
  OK(mixstage_node_get_param_by_name(c, "release", &v));
  ck_assert(v == 400.0);
  ck_assert_ptr_null(mixstage_node_find_lane(c, mixstage_node_param_id(c, "threshold")));
  ck_assert_ptr_null(mixstage_graph_lane_by_serial(g, sl));
  /* a choice parameter takes a same-named value only when it means the
   * same: the compressor's ratio (4:1) is no index into "2|4|10" */
  OK(mixstage_node_set_param_by_name(c, "ratio", 2.0));
  OK(mixstage_node_replace(c, "bus_compressor"));
  OK(mixstage_node_get_param_by_name(c, "ratio", &v));
  ck_assert(v == 0.0);
  OK(mixstage_node_get_param_by_name(c, "threshold", &v));
  ck_assert(v == -30.0);

  /* a keyed node replaced by a type without a key loses it, and says so */
  ck_assert_ptr_eq(mixstage_node_sidechain_strip(o.comp_bass), o.kick);
  OK(mixstage_node_enable_gr_history(o.comp_bass, 1.0));
  OK(mixstage_node_replace(o.comp_bass, "eq"));
  ck_assert_ptr_null(mixstage_node_sidechain_strip(o.comp_bass));
  ck_assert_str_eq(mixstage_node_sidechain_lost(o.comp_bass), "Kick");
  ck_assert_int_eq(mixstage_node_gr_history(o.comp_bass, NULL, 0, NULL, NULL), 0);
  OK(mixstage_strip_remove(o.kick)); /* would touch the eq if Kick still listed it as keyed */
  /* a keyed node replaced by a type that takes a key keeps it */
  ck_assert_ptr_eq(mixstage_node_sidechain_bus(o.comp_pad), o.group);
  OK(mixstage_node_replace(o.comp_pad, "gate"));
  ck_assert_ptr_eq(mixstage_node_sidechain_bus(o.comp_pad), o.group);
  ck_assert_ptr_null(mixstage_node_sidechain_lost(o.comp_pad));
  int64_t m;
  free(render(g, &m));

  /* unknown types: nothing changes, the message suggests */
  ck_assert_int_eq(mixstage_node_replace(o.comp_pad, "compresor"), MIXSTAGE_ENOTFOUND);
  ck_assert_msg(strstr(mixstage_graph_last_error(g), "there is no node type 'compresor' (did you mean 'compressor'?)"),
                "%s", mixstage_graph_last_error(g));
  ck_assert_str_eq(mixstage_node_type(o.comp_pad), "gate");
  ck_assert_int_eq(mixstage_node_replace(o.comp_pad, NULL), MIXSTAGE_ENULL);
  ck_assert_int_eq(mixstage_node_replace(NULL, "eq"), MIXSTAGE_ENULL);
  free(before);
  mixstage_graph_destroy(g);
}
END_TEST

/* Same type: nothing but a prepare. */
START_TEST(test_replace_same_type) {
  built o;
  float *before;
  int64_t n;
  mixstage_graph *g = full_rendered(&o, &before, &n);
  mixstage_lane *lane = o.thr_lane;
  OK(mixstage_node_replace(o.chain[1], "compressor"));
  ck_assert_ptr_eq(mixstage_node_find_lane(o.chain[1], mixstage_node_param_id(o.chain[1], "threshold")), lane);
  int64_t m;
  float *after = render(g, &m);
  ck_assert_int_eq(m, n);
  ck_assert(memcmp(after, before, sizeof(float) * 2 * (size_t)n) == 0);
  free(after);
  free(before);
  mixstage_graph_destroy(g);
}
END_TEST

/* ---- refused while rendering ------------------------------------------------------ */

typedef struct busy_probe {
  built *o;
  int calls;
  int rc[8];
  char msg[8][160];
} busy_probe;

static int pull_and_edit(void *user, float *const *planar, int channels, int frames, int64_t position) {
  busy_probe *p = user;
  for (int c = 0; c < channels; c++) memset(planar[c], 0, sizeof(float) * (size_t)frames);
  if (p->calls++) return 0;
  mixstage_graph *g = mixstage_strip_graph(p->o->kick);
  int i = 0;
#define TRY(call)                                                                   \
  do {                                                                              \
    p->rc[i] = (call);                                                              \
    snprintf(p->msg[i], sizeof p->msg[i], "%s", mixstage_graph_last_error(g));      \
    i++;                                                                            \
  } while (0)
  TRY(mixstage_strip_remove(p->o->kick));
  TRY(mixstage_bus_remove(p->o->verb));
  TRY(mixstage_send_remove(p->o->send_pad));
  TRY(mixstage_node_remove(p->o->chain[0]));
  TRY(mixstage_lane_remove(p->o->fader_lane));
  TRY(mixstage_node_move(p->o->chain[0], 2));
  TRY(mixstage_node_replace(p->o->chain[1], "gate"));
#undef TRY
  (void)position;
  return 0;
}

START_TEST(test_refused_while_rendering) {
  built o;
  spec sp = full();
  mixstage_graph *g = build(&sp, &o);
  busy_probe p = {&o, 0, {0}, {{0}}};
  int err;
  mixstage_strip *live = mixstage_graph_add_strip(g, "Live", 1, &err);
  OK(mixstage_strip_set_source_callback(live, pull_and_edit, &p, 1, LEN));
  int64_t n;
  float *a = render(g, &n);
  ck_assert_int_gt(p.calls, 0);
  for (int i = 0; i < 7; i++) ck_assert_msg(p.rc[i] == MIXSTAGE_ESTATE, "edit %d during a render: %d", i, p.rc[i]);
  /* each refusal names its object */
  const char *who[7] = {"strip 'Kick'", "return 'Verb'", "send 'Pad -> Verb'", "strip 'Kick' insert 1 (eq)",
                        "strip 'Kick' lane 'fader'", "strip 'Kick' insert 1 (eq)", "strip 'Kick' insert 2 (compressor)"};
  for (int i = 0; i < 7; i++)
    ck_assert_msg(strstr(p.msg[i], who[i]) && strstr(p.msg[i], "rendering"), "edit %d: %s", i, p.msg[i]);
  /* nothing changed: the same render again, with the objects all there */
  ck_assert_int_eq(mixstage_graph_strip_count(g), 4);
  ck_assert_str_eq(mixstage_node_type(o.chain[1]), "compressor");
  ck_assert_ptr_eq(mixstage_strip_node(o.kick, 0), o.chain[0]);
  ck_assert_ptr_nonnull(mixstage_strip_find_lane(o.kick, MIXSTAGE_STRIP_FADER));
  free(a);
  mixstage_graph_destroy(g);
}
END_TEST

/* ---- graph files ------------------------------------------------------------------- */

START_TEST(test_save_after_remove) {
  built o;
  float *before;
  int64_t n;
  mixstage_graph *g = full_rendered(&o, &before, &n);
  int err;
  mixstage_graphfile *doc = mixstage_graphfile_wrap(g, &err);
  ck_assert_ptr_nonnull(doc);
  OK(mixstage_graphfile_set_source_path(doc, "Kick", "audio/kick.wav"));
  OK(mixstage_graphfile_set_source_path(doc, "Pad", "audio/pad.wav"));
  char *s1 = mixstage_graphfile_to_string(doc);
  ck_assert_ptr_nonnull(strstr(s1, "audio/kick.wav"));
  OK(mixstage_strip_remove(o.kick));
  OK(mixstage_send_remove(o.send_pad));
  OK(mixstage_node_remove(o.comp_group));
  /* a new strip may sit where Kick was in memory: the recorded path must
   * not follow the address */
  mixstage_strip *k2 = mixstage_graph_add_strip(g, "Kick", 1, &err);
  ck_assert_ptr_nonnull(k2);
  char *s2 = mixstage_graphfile_to_string(doc);
  ck_assert_ptr_null(strstr(s2, "audio/kick.wav"));
  ck_assert_ptr_nonnull(strstr(s2, "audio/pad.wav"));
  /* what remains round-trips: loaded back, it saves the same text */
  char *s3 = mixstage_graph_to_string(g);
  char msg[512];
  mixstage_graph *back = mixstage_graph_load_string(s3, NULL, NULL, msg, sizeof msg, &err);
  ck_assert_msg(back != NULL, "%s", msg);
  char *s4 = mixstage_graph_to_string(back);
  ck_assert_str_eq(s3, s4);
  ck_assert_int_eq(mixstage_graph_strip_count(back), 3);
  ck_assert_int_eq(mixstage_bus_node_count(mixstage_graph_find_bus(back, "Group")), 0);
  ck_assert_int_eq(mixstage_strip_send_count(mixstage_graph_find_strip(back, "Pad")), 0);
  /* Bass's lost key is not saved */
  mixstage_node *bc = mixstage_strip_node(mixstage_graph_find_strip(back, "Bass"), 0);
  ck_assert_ptr_null(mixstage_node_sidechain_strip(bc));
  mixstage_free(s1);
  mixstage_free(s2);
  mixstage_free(s3);
  mixstage_free(s4);
  mixstage_graph_destroy(back);
  mixstage_graphfile_destroy(doc);
  free(before);
}
END_TEST

/* A real-time host: a strip streaming a file (served by the graph's reader
 * thread) is removed between process calls; the reader lets go of it. */
START_TEST(test_remove_streamed_strip_in_real_time) {
  make_sources();
  char dir[] = "/tmp/mixstage-edit-XXXXXX";
  ck_assert_ptr_nonnull(mkdtemp(dir));
  char path[64];
  snprintf(path, sizeof path, "%s/kick.wav", dir);
  ck_assert_int_eq(mixstage_audio_write(path, src_kick, LEN, 1, FS, NULL, NULL, NULL, 0), MIXSTAGE_OK);
  int err;
  mixstage_graph *g = mixstage_graph_create(NULL, &err);
  mixstage_strip *f = mixstage_graph_add_strip(g, "File", 1, &err);
  mixstage_strip *b = mixstage_graph_add_strip(g, "Bass", 1, &err);
  OK(mixstage_strip_set_source_file(f, path));
  OK(mixstage_strip_set_source_buffer(b, src_bass, 1, LEN, 0));
  OK(mixstage_graph_prepare(g));
  OK(mixstage_graph_wait_sources(g, 5000));
  float out[2 * 256];
  for (int i = 0; i < 8; i++) OK(mixstage_graph_process(g, out, 256));
  ck_assert_int_eq(mixstage_graph_process(g, out, 256), MIXSTAGE_OK);
  OK(mixstage_strip_remove(f));
  ck_assert_int_eq(mixstage_graph_process(g, out, 256), MIXSTAGE_ESTATE); /* the edit unprepared it */
  OK(mixstage_graph_prepare(g));
  OK(mixstage_graph_locate(g, 2048));
  double peak = 0;
  for (int i = 0; i < 8; i++) {
    OK(mixstage_graph_process(g, out, 256));
    double p = tu_peak(out, 512);
    if (p > peak) peak = p;
  }
  ck_assert(peak > 0.2); /* Bass plays on */
  mixstage_graph_destroy(g);
  unlink(path);
  rmdir(dir);
}
END_TEST

/* ---- allocation failure ------------------------------------------------------------- */

typedef struct {
  long count, fail_at, live;
} failing_alloc;

static void *fa_alloc(void *u, size_t n) {
  failing_alloc *a = u;
  if (a->count++ == a->fail_at) return NULL;
  void *p = malloc(n);
  if (p) a->live++;
  return p;
}

static void fa_free(void *u, void *p) {
  failing_alloc *a = u;
  if (p) a->live--;
  free(p);
}

#define STEP(call)              \
  do {                          \
    if (rc == MIXSTAGE_OK) rc = (call); \
  } while (0)

/* Builds, renders, edits (every edit that allocates, and removals between
 * them) and renders again, with the k-th allocation failing. */
static int edit_with_failures(failing_alloc *fa) {
  make_sources();
  mixstage_graph_config cfg;
  mixstage_graph_config_init(&cfg);
  cfg.alloc = fa_alloc;
  cfg.free = fa_free;
  cfg.alloc_user = fa;
  int err = MIXSTAGE_OK, rc = MIXSTAGE_OK;
  mixstage_graph *g = mixstage_graph_create(&cfg, &err);
  if (!g) return err;
  mixstage_strip *a = mixstage_graph_add_strip(g, "A", 1, &err);
  mixstage_strip *b = a ? mixstage_graph_add_strip(g, "B", 1, &err) : NULL;
  mixstage_bus *r = b ? mixstage_graph_add_bus(g, "R", MIXSTAGE_BUS_RETURN, 2, &err) : NULL;
  mixstage_node *comp = r ? mixstage_strip_insert(a, "compressor", MIXSTAGE_ROLE_STRIP, -1, &err) : NULL;
  mixstage_node *gain = comp ? mixstage_strip_insert(a, "gain", MIXSTAGE_ROLE_STRIP, -1, &err) : NULL;
  mixstage_node *kc = gain ? mixstage_strip_insert(b, "compressor", MIXSTAGE_ROLE_STRIP, -1, &err) : NULL;
  mixstage_send *s = kc ? mixstage_strip_add_send(a, r, -6, MIXSTAGE_TAP_POST_FADER, MIXSTAGE_ROLE_MIX_FX, &err) : NULL;
  mixstage_lane *l = s ? mixstage_node_lane(comp, 0, &err) : NULL;
  if (!l) rc = err;
  STEP(mixstage_strip_set_source_buffer(a, src_kick, 1, 2000, 0));
  STEP(mixstage_strip_set_source_buffer(b, src_bass, 1, 2000, 0));
  STEP(mixstage_lane_add_point(l, 100, -20.0, MIXSTAGE_CURVE_LINEAR));
  STEP(mixstage_node_set_sidechain_strip(kc, a, MIXSTAGE_TAP_POST_FADER));
  float out[2 * 3000];
  mixstage_render_config rcfg;
  mixstage_render_config_init(&rcfg);
  rcfg.max_tail_frames = 0;
  STEP(mixstage_graph_render(g, &rcfg, out, 3000));
  if (rc == MIXSTAGE_OK) {
    int r1 = mixstage_node_replace(comp, "gate");
    if (r1 != MIXSTAGE_OK) {
      /* a failed replace leaves the node as it was */
      ck_assert_str_eq(mixstage_node_type(comp), "compressor");
      ck_assert_ptr_eq(mixstage_node_find_lane(comp, 0), l);
      ck_assert_ptr_eq(mixstage_node_sidechain_strip(kc), a);
    }
    rc = r1;
  }
  STEP(mixstage_node_move(gain, 0));
  STEP(mixstage_send_remove(s));
  mixstage_strip *c = NULL;
  if (rc == MIXSTAGE_OK && !(c = mixstage_graph_add_strip(g, "C", 1, &err))) rc = err;
  mixstage_send *s2 = NULL;
  if (rc == MIXSTAGE_OK && !(s2 = mixstage_strip_add_send(c, r, -3, MIXSTAGE_TAP_PRE_FADER, MIXSTAGE_ROLE_MIX_FX, &err)))
    rc = err;
  STEP(mixstage_lane_remove(l));
  if (rc == MIXSTAGE_OK && !mixstage_send_lane(s2, &err)) rc = err;
  STEP(mixstage_strip_remove(a)); /* kc loses its key */
  STEP(mixstage_node_replace(kc, "limiter"));
  STEP(mixstage_bus_remove(r));
  STEP(mixstage_graph_render(g, &rcfg, out, 3000));
  if (rc != MIXSTAGE_OK) {
    ck_assert_int_eq(rc, MIXSTAGE_ENOMEM);
    ck_assert_int_gt((int)strlen(mixstage_graph_last_error(g)), 0);
  } else {
    ck_assert_int_eq(mixstage_graph_strip_count(g), 2);
    ck_assert_int_eq(mixstage_graph_bus_count(g), 1);
  }
  mixstage_graph_destroy(g);
  return rc;
}

START_TEST(test_allocation_failure) {
  int succeeded = 0;
  long k;
  for (k = 0; k < 20000 && !succeeded; k++) {
    failing_alloc fa = {0, k, 0};
    int rc = edit_with_failures(&fa);
    ck_assert_msg(fa.live == 0, "failing allocation %ld leaked %ld blocks", k, fa.live);
    if (rc == MIXSTAGE_OK) succeeded = 1;
    else ck_assert_int_eq(rc, MIXSTAGE_ENOMEM);
  }
  ck_assert(succeeded);
  ck_assert_int_gt(k, 40); /* the walk reached the edits' allocations */
}
END_TEST

static Suite *edit_suite(void) {
  Suite *s = suite_create("edit");
  TCase *tc = tcase_create("edit");
  tcase_set_timeout(tc, 120);
  tcase_add_test(tc, test_serials);
  tcase_add_test(tc, test_remove_strip);
  tcase_add_test(tc, test_remove_bus);
  tcase_add_test(tc, test_remove_return_takes_sends);
  tcase_add_test(tc, test_remove_send);
  tcase_add_test(tc, test_remove_node);
  tcase_add_test(tc, test_remove_lane);
  tcase_add_test(tc, test_remove_everything);
  tcase_add_test(tc, test_remove_unprepared);
  tcase_add_test(tc, test_move_node);
  tcase_add_test(tc, test_replace_node);
  tcase_add_test(tc, test_replace_same_type);
  tcase_add_test(tc, test_refused_while_rendering);
  tcase_add_test(tc, test_save_after_remove);
  tcase_add_test(tc, test_remove_streamed_strip_in_real_time);
  tcase_add_test(tc, test_allocation_failure);
  suite_add_tcase(s, tc);
  return s;
}

int main(void) {
  SRunner *sr = srunner_create(edit_suite());
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
