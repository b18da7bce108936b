/* Lane groups: the lane kernels of the node classes (process_lanes) against
 * the plain per-node path, and the engine's group runner against a graph in
 * which no group can form.
 *
 * Tolerance: none, the outputs must be equal bit for bit.  Why that is the
 * right demand and not a convenience: a strip leaves its group for any
 * chunk in which one of its inserts crossfades, is keyed, is traced for a
 * bounce, or differs in shape from the others (an EQ band switched off),
 * and rejoins it after; renders must not depend on block size or thread
 * count, which decide nothing about grouping but everything about where
 * such switches fall in the work.  So a lane kernel must give every lane
 * exactly the IEEE operations of process(), in the same order (the build
 * has -ffp-contract=off, so no fused multiply-adds on either side).
 *
 * Each case runs `count` (1 .. 9) instances of a class on mono, stereo and
 * 6-channel buffers with random parameters, in chunks on the 32-frame
 * control grid (split at random points inside cells, as host blocks split
 * them), changing the parameters of random instances at cell boundaries;
 * restarting random instances (then a compressor's peak-hold segments and
 * an EQ's flush points fall elsewhere than its neighbours');
 * twin instances go one by one through process().  After every chunk the
 * buffers, the gain traces and the reduction meters must be equal.  The
 * instances of a class that takes a sidechain key are keyed at random.  The
 * lane path must have been taken for a good share of the chunks (a case in
 * which every call declined would prove nothing).
 */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "dsp/biquad.h"
#include "dsp/dynamics.h"
#include "mixstage.h"
#include "testutil.h"

#define FS 48000.0
#define CELL MIXSTAGE_CONTROL_FRAMES
#define MAXN 9
#define CHUNKS 240 /* about 7500 frames a case */

static uint32_t rng = 12345u;
static double urand(void) {
  rng = rng * 1664525u + 1013904223u;
  return (double)(rng >> 8) / 16777216.0;
}

typedef struct twin {
  const mixstage__node_class *cls;
  int nch;
  mixstage__node_env env;
  void *a, *b;       /* a: per node (reference), b: through the lane kernel */
  double pv[128];
  float *xa[16], *xb[16];
} twin;

static mixstage__allocator test_alloc;
static void *t_alloc(void *u, size_t n) {
  (void)u;
  return calloc(1, n);
}
static void t_free(void *u, void *p) {
  (void)u;
  free(p);
}

/* Random value of parameter info pi; enums and booleans as integers. */
static double random_param(const mixstage__node_class *cls, int p, int shape_seed) {
  const mixstage_param_info *pi = &cls->params[p];
  if (pi->unit == MIXSTAGE_UNIT_ENUM || pi->unit == MIXSTAGE_UNIT_BOOL) {
    /* EQ band types and slopes follow the case's shape seed, so instances
     * share their active section count in most cases (the lane path) and
     * differ in some (the decline path) */
    if (shape_seed >= 0) return (double)((shape_seed * 7 + p * 3) % (int)(pi->max + 1.0));
    return floor(urand() * (pi->max + 1.0 - 1e-9));
  }
  if (pi->unit == MIXSTAGE_UNIT_HZ || pi->unit == MIXSTAGE_UNIT_MS)
    return pi->min * pow(pi->max / pi->min, urand()); /* log-uniform */
  return pi->min + (pi->max - pi->min) * urand();
}

/* New parameter values.  Structural ones (not automatable: EQ band types
 * and slopes, the detector) only at init, as the engine changes them only
 * at a prepare.  common: the compressor in the case the kernel takes
 * (linked, fixed release), for every instance of the case. */
static void twin_params(twin *t, int shape_seed, int init, int common) {
  const mixstage__node_class *cls = t->cls;
  for (int p = 0; p < cls->num_params; p++) {
    const mixstage_param_info *pi = &cls->params[p];
    if (init) t->pv[p] = pi->def;
    if (!pi->automatable && !init) continue;
    t->pv[p] = random_param(cls, p, shape_seed);
  }
  if (!strcmp(cls->name, "compressor")) {
    if (common || urand() < 0.7) t->pv[9] = 100.0; /* link */
    if (common || urand() < 0.7) t->pv[5] = 0.0;   /* auto release off */
    if (urand() < 0.6) t->pv[10] = 0.0;            /* key high-pass off */
    if (urand() < 0.5) t->pv[11] = 100.0;          /* mix */
  } else if (!strcmp(cls->name, "eq")) {
    if (urand() < 0.5) t->pv[8 * 5] = 0.0; /* output gain 0 dB: no gain row */
    if (urand() < 0.1) t->pv[5 * (int)(urand() * 8.0) + 2] = 0.0; /* a flat bell or shelf */
  }
}

static void twin_init(twin *t, const char *type, int nch, int shape_seed) {
  memset(t, 0, sizeof *t);
  t->cls = mixstage__find_node_class(type);
  ck_assert_ptr_nonnull(t->cls);
  t->nch = nch;
  t->env = (mixstage__node_env){FS, 120.0, nch, &test_alloc};
  t->a = calloc(1, t->cls->state_size);
  t->b = calloc(1, t->cls->state_size);
  ck_assert_int_eq(t->cls->init(t->a, &t->env), MIXSTAGE_OK);
  ck_assert_int_eq(t->cls->init(t->b, &t->env), MIXSTAGE_OK);
  twin_params(t, shape_seed, 1, shape_seed >= 0);
  t->cls->update(t->a, t->pv);
  t->cls->update(t->b, t->pv);
  if (t->cls->reset) {
    t->cls->reset(t->a);
    t->cls->reset(t->b);
  }
  for (int c = 0; c < nch; c++) {
    t->xa[c] = calloc(CELL, sizeof(float));
    t->xb[c] = calloc(CELL, sizeof(float));
  }
}

static void twin_free(twin *t) {
  if (t->cls->fini) {
    t->cls->fini(t->a, &t->env);
    t->cls->fini(t->b, &t->env);
  }
  free(t->a);
  free(t->b);
  for (int c = 0; c < t->nch; c++) {
    free(t->xa[c]);
    free(t->xb[c]);
  }
}

/* Bursts of noise and tones with silent gaps (so compressors attack and
 * release, and EQ memory rings out to exact zeros). */
static float signal_at(int inst, int c, int64_t k) {
  int64_t period = 900 + 170 * inst + 37 * c;
  double env = (k % period) < period / 2 ? exp(-(double)(k % period) / (150.0 + 40.0 * inst)) : 0.0;
  double tone = sin(2 * TU_PI * (60.0 + 91.0 * inst + 13.0 * c) * (double)k / FS);
  rng = rng * 1664525u + 1013904223u;
  double noise = ((double)(rng >> 8) / 8388608.0 - 1.0) * 0.5;
  return (float)(env * (1.2 * tone + noise));
}

/* count instances of type on nch channels; returns the share of chunks the
 * lane kernel took. */
static double run_case(const char *type, int nch, int count, int same_shape) {
  twin t[MAXN];
  int shape = same_shape ? (int)(urand() * 1000.0) : -1;
  for (int m = 0; m < count; m++) twin_init(&t[m], type, nch, shape);
  const mixstage__node_class *cls = t[0].cls;
  int64_t pos = 0;
  int taken = 0, calls = 0;
  /* Sidechain keys (classes that take one): some instances keyed, by a
   * signal of their own, of 1 or 2 channels. */
  float keybuf[MAXN][2][CELL];
  float *keyp[MAXN][2];
  const float *const *keys[MAXN];
  int key_nch[MAXN];
  for (int m = 0; m < count; m++) {
    keyp[m][0] = keybuf[m][0];
    keyp[m][1] = keybuf[m][1];
    key_nch[m] = urand() < 0.5 ? 1 : 2;
    keys[m] = cls->accepts_key && urand() < 0.3 ? (const float *const *)keyp[m] : NULL;
  }
  for (int chunk = 0; chunk < CHUNKS; chunk++) {
    int o = (int)(pos % CELL);
    /* a chunk ends at the cell's end or at a random split inside it */
    int n = CELL - o;
    if (urand() < 0.3) n = 1 + (int)(urand() * (double)(n - 1));
    if (o == 0 && chunk > 0 && urand() < 0.15) { /* a parameter move at a boundary */
      int m = (int)(urand() * count);
      twin_params(&t[m], shape, 0, same_shape);
      cls->update(t[m].a, t[m].pv);
      cls->update(t[m].b, t[m].pv);
    }
    if (chunk > 0 && urand() < 0.04 && cls->reset) { /* a restart (locate, fault) puts one out of step */
      int m = (int)(urand() * count);
      cls->reset(t[m].a);
      cls->reset(t[m].b);
    }
    void *states[MAXN];
    float *const *bufs[MAXN];
    for (int m = 0; m < count; m++) {
      for (int c = 0; c < nch; c++)
        for (int i = 0; i < n; i++) t[m].xa[c][i] = t[m].xb[c][i] = signal_at(m, c, pos + i);
      for (int c = 0; keys[m] && c < key_nch[m]; c++)
        for (int i = 0; i < n; i++) keybuf[m][c][i] = signal_at(m + 11, c, pos + i);
      cls->process(t[m].a, t[m].xa, nch, n, keys[m], keys[m] ? key_nch[m] : 0);
      states[m] = t[m].b;
      bufs[m] = t[m].xb;
    }
    calls++;
    if (cls->process_lanes(states, bufs, keys, key_nch, count, nch, n)) taken++;
    else
      for (int m = 0; m < count; m++) cls->process(t[m].b, t[m].xb, nch, n, keys[m], keys[m] ? key_nch[m] : 0);
    for (int m = 0; m < count; m++) {
      for (int c = 0; c < nch; c++)
        ck_assert_msg(!memcmp(t[m].xa[c], t[m].xb[c], sizeof(float) * (size_t)n),
                      "%s, %d instances of %d channels: instance %d channel %d differs at frame %lld", type,
                      count, nch, m, c, (long long)pos);
      if (cls->gain_reduction)
        ck_assert_msg(cls->gain_reduction(t[m].a) == cls->gain_reduction(t[m].b),
                      "%s: instance %d reduction meter differs at frame %lld", type, m, (long long)pos);
      if (cls->gain_trace) {
        float ga[16][CELL], gb[16][CELL];
        float *pa[16], *pb[16];
        for (int c = 0; c < nch; c++) {
          pa[c] = ga[c];
          pb[c] = gb[c];
        }
        int ra = cls->gain_trace(t[m].a, pa, nch, n), rb = cls->gain_trace(t[m].b, pb, nch, n);
        ck_assert_int_eq(ra, rb);
        for (int c = 0; ra && c < nch; c++)
          ck_assert_msg(!memcmp(ga[c], gb[c], sizeof(float) * (size_t)n), "%s: instance %d trace differs", type, m);
      }
    }
    pos += n;
  }
  for (int m = 0; m < count; m++) twin_free(&t[m]);
  return (double)taken / (double)calls;
}

static void run_class(const char *type) {
  static const int chans[3] = {1, 2, 6};
  double taken_sum = 0.0;
  int cases = 0;
  for (int ci = 0; ci < 3; ci++)
    for (int count = 1; count <= MAXN; count++)
      for (int same = 0; same < 2; same++) {
        double share = run_case(type, chans[ci], count, same);
        if (same) {
          taken_sum += share;
          cases++;
        }
      }
  /* Where the CPU lacks the vector kernel, every call declines (the engine
   * then runs process() per node): nothing to demand of the share. */
  int avail = !strcmp(type, "eq") ? mixstage__biquad_lanes4_available() : 1; /* the compressor's is portable */
  if (avail)
    ck_assert_msg(taken_sum / cases > 0.3, "%s: the lane kernel took only %.0f %% of the chunks", type,
                  100.0 * taken_sum / cases);
}

START_TEST(test_eq_lanes) { run_class("eq"); }
END_TEST

START_TEST(test_compressor_lanes) { run_class("compressor"); }
END_TEST

/* ---- engine: groups against no groups ---------------------------------------- */

#define STRIPS 9
#define BUSES 3
#define LEN 20011

typedef struct mix {
  mixstage_graph *g;
  mixstage_node *eq[STRIPS], *comp[STRIPS], *bcomp[BUSES];
  float *src[STRIPS];
} mix;

/* Nine strips (seven stereo, two mono) through EQ, compressor and
 * saturation, into three group buses with an RMS compressor each (a lane
 * group of buses).  ungrouped: each strip and bus also gets 0 dB gain nodes
 * (x * 1.0f == x, so the audio is unchanged), a number of its own, which
 * gives every chain its own shape, so no group forms. */
static void mix_build(mix *mx, int ungrouped) {
  mixstage_graph_config cfg;
  mixstage_graph_config_init(&cfg);
  int err = -99;
  mx->g = mixstage_graph_create(&cfg, &err);
  ck_assert_ptr_nonnull(mx->g);
  uint32_t save = rng;
  rng = 777u;
  mixstage_bus *bus[BUSES];
  for (int b = 0; b < BUSES; b++) {
    char name[16];
    snprintf(name, sizeof name, "G%d", b);
    bus[b] = mixstage_graph_add_bus(mx->g, name, MIXSTAGE_BUS_GROUP, 2, &err);
    ck_assert_ptr_nonnull(bus[b]);
    for (int k = 0; k < (ungrouped ? b + 1 : 0); k++)
      ck_assert_ptr_nonnull(mixstage_bus_insert(bus[b], "gain", MIXSTAGE_ROLE_STRIP, -1, &err));
    mixstage_node *n = mx->bcomp[b] = mixstage_bus_insert(bus[b], "compressor", MIXSTAGE_ROLE_STRIP, -1, &err);
    ck_assert_ptr_nonnull(n);
    mixstage_node_set_param_by_name(n, "detector", 1.0);
    mixstage_node_set_param_by_name(n, "threshold", -24.0 + 3.0 * b);
    mixstage_node_set_param_by_name(n, "ratio", 2.0 + b);
    mixstage_node_set_param_by_name(n, "rms_window", 5.0 + 5.0 * b);
  }
  for (int i = 0; i < STRIPS; i++) {
    char name[16];
    snprintf(name, sizeof name, "S%d", i);
    int ch = i == 3 || i == 7 ? 1 : 2;
    mixstage_strip *s = mixstage_graph_add_strip(mx->g, name, ch, &err);
    ck_assert_ptr_nonnull(s);
    mx->src[i] = malloc(sizeof(float) * (size_t)ch * LEN);
    for (int64_t k = 0; k < LEN; k++)
      for (int c = 0; c < ch; c++) mx->src[i][k * ch + c] = signal_at(i, c, k);
    ck_assert_int_eq(mixstage_strip_set_source_buffer(s, mx->src[i], ch, LEN, 0), MIXSTAGE_OK);
    mixstage_strip_set_pan(s, -0.8 + 0.2 * i);
    ck_assert_int_eq(mixstage_strip_set_output(s, bus[i % BUSES]), MIXSTAGE_OK);
    const char *chain[3] = {"eq", "compressor", "saturation"};
    for (int k = 0; k < (ungrouped ? i + 1 : 0); k++) /* i + 1 gain nodes: a shape of its own */
      ck_assert_ptr_nonnull(mixstage_strip_insert(s, "gain", MIXSTAGE_ROLE_STRIP, -1, &err));
    for (int k = 0; k < 3; k++) {
      const char *type = chain[k];
      mixstage_node *n = mixstage_strip_insert(s, type, MIXSTAGE_ROLE_STRIP, -1, &err);
      ck_assert_ptr_nonnull(n);
      if (!strcmp(type, "eq")) {
        mx->eq[i] = n;
        mixstage_node_set_param_by_name(n, "band1_type", 1.0);
        mixstage_node_set_param_by_name(n, "band1_freq", 40.0 + 10.0 * i);
        mixstage_node_set_param_by_name(n, "band3_type", 5.0);
        mixstage_node_set_param_by_name(n, "band3_gain", -6.0 + 1.5 * i);
        mixstage_node_set_param_by_name(n, "band3_freq", 300.0 * (1 + i));
        mixstage_node_set_param_by_name(n, "band6_type", 4.0);
        mixstage_node_set_param_by_name(n, "band6_gain", 3.0);
      } else if (!strcmp(type, "compressor")) {
        mx->comp[i] = n;
        if (i == 5 || i == 6 || i == 8) /* ducked by strip 0: a level of their own */
          ck_assert_int_eq(mixstage_node_set_sidechain_strip(n, mixstage_graph_strip(mx->g, 0), MIXSTAGE_TAP_PRE_FADER), MIXSTAGE_OK);
        mixstage_node_set_param_by_name(n, "threshold", -30.0 + 2.0 * i);
        mixstage_node_set_param_by_name(n, "ratio", 2.0 + i);
        mixstage_node_set_param_by_name(n, "attack", 1.0 + i);
        mixstage_node_set_param_by_name(n, "makeup", 0.5 * i);
      } else if (!strcmp(type, "saturation")) {
        mixstage_node_set_param_by_name(n, "oversampling", 0.0);
      }
    }
  }
  rng = save;
  ck_assert_int_eq(mixstage_graph_prepare(mx->g), MIXSTAGE_OK);
  if (!ungrouped) ck_assert_int_ge(mx->g->group_count, 3); /* the stereo strips (7), the mono pair, the buses */
  else ck_assert_int_eq(mx->g->group_count, 0);
  int bus_lanes = 0;
  for (int k = 0; k < mx->g->group_count; k++)
    if (mx->g->groups[k].units[0]->kind == MIXSTAGE__UNIT_BUS) bus_lanes += mx->g->groups[k].count;
  /* G0 and G2 (G1 takes no keyed strip, so it is a level earlier) */
  ck_assert_int_eq(bus_lanes, ungrouped ? 0 : 2);
}

static void mix_free(mix *mx) {
  mixstage_graph_destroy(mx->g);
  for (int i = 0; i < STRIPS; i++) free(mx->src[i]);
}

/* The whole program in blocks of `block` frames, with moves between blocks:
 * an EQ band and a compressor threshold automated, an EQ bypassed and back
 * (crossfades: those strips leave their group for a while), an EQ shelf
 * set flat (once rung out it leaves that EQ's list of sections, so the EQ
 * stops matching the others). */
static float *mix_render(mix *mx, int block) {
  float *out = malloc(sizeof(float) * 2 * LEN);
  for (int64_t f = 0, n; f < LEN; f += n) {
    n = LEN - f < block ? (int)(LEN - f) : block;
    /* moves land on the same frames whatever the block size */
    if (f < 4000 && 4000 < f + n) n = (int)(4000 - f);
    if (f < 9000 && 9000 < f + n) n = (int)(9000 - f);
    if (f == 4000) {
      mixstage_node_set_param_by_name(mx->eq[2], "band3_gain", 9.0);
      mixstage_node_set_param_by_name(mx->comp[5], "threshold", -40.0);
      mixstage_node_set_bypass(mx->eq[4], 1);
    }
    if (f == 9000) {
      mixstage_node_set_bypass(mx->eq[4], 0);
      mixstage_node_set_param_by_name(mx->eq[6], "band6_gain", 0.0); /* flat: leaves the list */
      mixstage_node_set_param_by_name(mx->comp[1], "mix", 60.0);
      mixstage_node_set_param_by_name(mx->bcomp[1], "threshold", -30.0); /* a bus's ramp in its group */
    }
    ck_assert_int_eq(mixstage_graph_process(mx->g, out + 2 * f, n), MIXSTAGE_OK);
  }
  return out;
}

START_TEST(test_engine_groups) {
  mix ref, grp;
  mix_build(&ref, 1);
  float *want = mix_render(&ref, 256);
  mix_free(&ref);
  static const int blocks[3] = {256, 37, 64};
  for (int b = 0; b < 3; b++) {
    mix_build(&grp, 0);
    float *got = mix_render(&grp, blocks[b]);
    for (int64_t k = 0; k < 2 * LEN; k++)
      ck_assert_msg(!memcmp(&got[k], &want[k], sizeof(float)), "block %d: sample %lld differs: %.9g vs %.9g",
                    blocks[b], (long long)k, got[k], want[k]);
    free(got);
    mix_free(&grp);
  }
  /* and a render on two threads (a group is one task) */
  mix_build(&grp, 0);
  mixstage_render_config rc;
  mixstage_render_config_init(&rc);
  rc.threads = 2;
  rc.remove_latency = 0;
  rc.frames = LEN;
  rc.max_tail_frames = 0;
  int64_t total = mixstage_graph_render_frames(grp.g, &rc);
  float *two = malloc(sizeof(float) * 2 * (size_t)total);
  ck_assert_int_eq(mixstage_graph_render(grp.g, &rc, two, total), MIXSTAGE_OK);
  mix_free(&grp);
  mix_build(&ref, 1);
  rc.threads = 1;
  float *one = malloc(sizeof(float) * 2 * (size_t)total);
  ck_assert_int_eq(mixstage_graph_render(ref.g, &rc, one, total), MIXSTAGE_OK);
  ck_assert_msg(!memcmp(one, two, sizeof(float) * 2 * (size_t)total), "two threads, grouped, differ");
  mix_free(&ref);
  free(one);
  free(two);
  free(want);
}
END_TEST

static Suite *lanes_suite(void) {
  test_alloc = (mixstage__allocator){t_alloc, t_free, NULL};
  Suite *s = suite_create("lanes");
  TCase *tc = tcase_create("kernels");
  tcase_set_timeout(tc, 300);
  tcase_add_test(tc, test_eq_lanes);
  tcase_add_test(tc, test_compressor_lanes);
  tcase_add_test(tc, test_engine_groups);
  suite_add_tcase(s, tc);
  return s;
}

int main(void) {
  SRunner *sr = srunner_create(lanes_suite());
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
