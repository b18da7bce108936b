/* The offline render on several threads: bit-identical to one thread for
 * every graph shape (pipelined or not), and the graph's worker pool reused
 * across renders and gone with the graph. */
#include <check.h>
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include "mixstage.h"
#include "testutil.h"

#define FS 48000.0
#define STRIPS 10
/* Not a multiple of the 256-frame block, so the last block is short. */
#define LEN 30011

enum { SHAPE_PIPELINED, SHAPE_STRIP_KEYED_BY_BUS, SHAPE_BUS_KEYED_BY_STRIP, SHAPE_BOTH_KEYS };

typedef struct song {
  mixstage_graph *g;
  float *src[STRIPS];
} song;

static mixstage_node *insert(mixstage_strip *s, mixstage_bus *b, const char *type) {
  int err = -99;
  mixstage_node *n = s ? mixstage_strip_insert(s, type, MIXSTAGE_ROLE_STRIP, -1, &err)
                       : mixstage_bus_insert(b, type, MIXSTAGE_ROLE_BUS_DYNAMICS, -1, &err);
  ck_assert_msg(n != NULL, "insert %s: %s", type, mixstage_strerror(err));
  return n;
}

/* The benchmark graph in small: strips through EQ, compressor and
 * saturation into two groups, sends to two returns (reverb, delay), a
 * return sending on to the other, a ducking key from strip 0 to the strips
 * of group B, automation, and a limiter (latency) on the mix.  shape adds a
 * key that crosses between strips and buses, which rules out pipelining. */
static void song_build(song *so, int shape) {
  mixstage_graph_config cfg;
  mixstage_graph_config_init(&cfg);
  int err = -99;
  so->g = mixstage_graph_create(&cfg, &err);
  ck_assert_ptr_nonnull(so->g);
  mixstage_graph *g = so->g;
  mixstage_bus *ga = mixstage_graph_add_bus(g, "Group A", MIXSTAGE_BUS_GROUP, 2, &err);
  mixstage_bus *gb = mixstage_graph_add_bus(g, "Group B", MIXSTAGE_BUS_GROUP, 2, &err);
  mixstage_bus *verb = mixstage_graph_add_bus(g, "Verb", MIXSTAGE_BUS_RETURN, 2, &err);
  mixstage_bus *echo = mixstage_graph_add_bus(g, "Echo", MIXSTAGE_BUS_RETURN, 2, &err);
  ck_assert_ptr_nonnull(ga && gb && verb && echo ? ga : NULL);
  insert(NULL, verb, "reverb");
  insert(NULL, echo, "delay");
  insert(NULL, ga, "bus_compressor");
  insert(NULL, mixstage_graph_mix_bus(g), "limiter");
  ck_assert_ptr_nonnull(mixstage_bus_add_send(echo, verb, -9.0, MIXSTAGE_TAP_POST_FADER, MIXSTAGE_ROLE_MIX_FX, &err));
  mixstage_strip *st[STRIPS];
  for (int i = 0; i < STRIPS; i++) {
    char name[16];
    snprintf(name, sizeof name, "S%d", i);
    int ch = i % 3 == 2 ? 1 : 2;
    st[i] = mixstage_graph_add_strip(g, name, ch, &err);
    ck_assert_ptr_nonnull(st[i]);
    so->src[i] = malloc(sizeof(float) * (size_t)ch * LEN);
    ck_assert_ptr_nonnull(so->src[i]);
    float *mono = malloc(sizeof(float) * LEN);
    tu_noise(mono, LEN, 0.3, 1000u + (uint32_t)i);
    for (int64_t k = 0; k < LEN; k++) {
      /* A bursty envelope, so the dynamics move. */
      float env = (float)exp(-(double)(k % (2000 + 300 * i)) / 600.0);
      float tone = (float)(0.4 * sin(2 * TU_PI * (110.0 + 37.0 * i) * (double)k / FS));
      for (int c = 0; c < ch; c++) so->src[i][k * ch + c] = env * (tone + (c ? -mono[k] : mono[k]));
    }
    free(mono);
    ck_assert_int_eq(mixstage_strip_set_source_buffer(st[i], so->src[i], ch, LEN, 0), MIXSTAGE_OK);
    mixstage_strip_set_pan(st[i], -0.8 + 0.16 * i);
    mixstage_strip_set_fader_db(st[i], -6.0 - (i % 3));
    insert(st[i], NULL, "eq");
    mixstage_node *comp = insert(st[i], NULL, "compressor");
    mixstage_node_set_param_by_name(comp, "threshold", -24.0);
    insert(st[i], NULL, "saturation");
    if (i >= 5 && i < 8)
      ck_assert_int_eq(mixstage_node_set_sidechain_strip(comp, st[0], MIXSTAGE_TAP_PRE_FADER), MIXSTAGE_OK);
    if (i >= 1) mixstage_strip_set_output(st[i], i < 5 ? ga : gb);
    if (i % 2)
      ck_assert_ptr_nonnull(
          mixstage_strip_add_send(st[i], verb, -12.0, MIXSTAGE_TAP_POST_FADER, MIXSTAGE_ROLE_MIX_FX, &err));
    if (i % 3 == 0)
      ck_assert_ptr_nonnull(
          mixstage_strip_add_send(st[i], echo, -15.0, MIXSTAGE_TAP_PRE_FADER, MIXSTAGE_ROLE_MIX_FX, &err));
  }
  mixstage_lane *fl = mixstage_strip_lane(st[3], MIXSTAGE_STRIP_FADER, &err);
  ck_assert_ptr_nonnull(fl);
  mixstage_lane_add_point(fl, 0, -20.0, MIXSTAGE_CURVE_LINEAR);
  mixstage_lane_add_point(fl, 20000, 0.0, MIXSTAGE_CURVE_LINEAR);
  if (shape == SHAPE_STRIP_KEYED_BY_BUS || shape == SHAPE_BOTH_KEYS) {
    mixstage_node *c = insert(st[9], NULL, "compressor");
    ck_assert_int_eq(mixstage_node_set_sidechain_bus(c, ga, MIXSTAGE_TAP_POST_FADER), MIXSTAGE_OK);
  }
  if (shape == SHAPE_BUS_KEYED_BY_STRIP || shape == SHAPE_BOTH_KEYS) {
    mixstage_node *c = insert(NULL, gb, "bus_compressor");
    ck_assert_int_eq(mixstage_node_set_sidechain_strip(c, st[2], MIXSTAGE_TAP_POST_FADER), MIXSTAGE_OK);
  }
}

/* The same song with the process loop in blocks of `block` frames, the
 * latency cut, n frames. */
static float *process_blocks(mixstage_graph *g, int block, int64_t n) {
  ck_assert_int_eq(mixstage_graph_prepare(g), MIXSTAGE_OK);
  int L = mixstage_graph_latency(g);
  float *rt = calloc(2 * ((size_t)n + (size_t)L + (size_t)block), sizeof(float));
  ck_assert_ptr_nonnull(rt);
  for (int64_t f = 0; f < n + L; f += block) {
    int b = (int)(n + L - f < block ? n + L - f : block);
    ck_assert_int_eq(mixstage_graph_process(g, rt + 2 * f, b), MIXSTAGE_OK);
  }
  memmove(rt, rt + 2 * L, sizeof(float) * 2 * (size_t)n);
  return rt;
}

static void song_free(song *so) {
  mixstage_graph_destroy(so->g);
  for (int i = 0; i < STRIPS; i++) free(so->src[i]);
}

static float *render(mixstage_graph *g, int threads, int64_t *frames) {
  mixstage_render_config rc;
  mixstage_render_config_init(&rc);
  rc.threads = threads;
  rc.max_tail_frames = 4000;
  int64_t n = mixstage_graph_render_frames(g, &rc);
  ck_assert_int_gt(n, LEN);
  float *out = calloc(2 * (size_t)n, sizeof(float));
  ck_assert_ptr_nonnull(out);
  int r = mixstage_graph_render(g, &rc, out, n);
  ck_assert_msg(r == MIXSTAGE_OK, "%d threads: %s (%s)", threads, mixstage_strerror(r), mixstage_graph_last_error(g));
  *frames = n;
  return out;
}

static void check_shape(int shape) {
  song so;
  song_build(&so, shape);
  ck_assert_int_eq(mixstage_graph_prepare(so.g), MIXSTAGE_OK);
  ck_assert_int_gt(mixstage_graph_latency(so.g), 0); /* the limiter: a short first block */
  int64_t n, m;
  float *ref = render(so.g, 1, &n);
  ck_assert(tu_rms(ref, 2 * n) > 1e-3); /* not a silent comparison */
  const int counts[] = {2, 3, 8};
  for (int k = 0; k < 3; k++) {
    float *par = render(so.g, counts[k], &m);
    ck_assert_int_eq(m, n);
    ck_assert_msg(memcmp(ref, par, sizeof(float) * 2 * (size_t)n) == 0, "shape %d: %d threads differ", shape,
                  counts[k]);
    free(par);
  }
  /* And the real-time path in odd blocks agrees with both. */
  ck_assert_int_eq(mixstage_graph_prepare(so.g), MIXSTAGE_OK);
  int L = mixstage_graph_latency(so.g);
  float *rt = calloc(2 * ((size_t)n + (size_t)L + 300), sizeof(float));
  for (int64_t f = 0; f < n + L; f += 300) {
    int b = (int)(n + L - f < 300 ? n + L - f : 300);
    ck_assert_int_eq(mixstage_graph_process(so.g, rt + 2 * f, b), MIXSTAGE_OK);
  }
  ck_assert_msg(memcmp(ref, rt + 2 * L, sizeof(float) * 2 * (size_t)n) == 0, "shape %d: blocks of 300 differ",
                shape);
  free(rt);
  free(ref);
  song_free(&so);
}

START_TEST(test_threads_identical_pipelined) { check_shape(SHAPE_PIPELINED); }
END_TEST

START_TEST(test_threads_identical_strip_keyed_by_bus) { check_shape(SHAPE_STRIP_KEYED_BY_BUS); }
END_TEST

START_TEST(test_threads_identical_bus_keyed_by_strip) { check_shape(SHAPE_BUS_KEYED_BY_STRIP); }
END_TEST

/* Group buses, FX returns (one feeding the other), a ducking key from a
 * strip to strips, a strip keyed by a group bus and a group bus keyed by a
 * strip (not pipelined), and the same without the crossing keys
 * (pipelined): renders on 1, 2 and 4 threads, with and without the latency
 * cut (the limiter's latency makes the first blocks short), and process calls in blocks of several sizes all give the same bits.
 * Bit-identity is the claim: summation order into every bus is fixed. */
START_TEST(test_keys_threads_blocks_identical) {
  const int shapes[] = {SHAPE_BOTH_KEYS, SHAPE_PIPELINED};
  for (int sh = 0; sh < 2; sh++) {
    song so;
    song_build(&so, shapes[sh]);
    ck_assert_int_eq(mixstage_graph_prepare(so.g), MIXSTAGE_OK);
    int64_t n, m;
    float *ref = render(so.g, 1, &n);
    ck_assert(tu_rms(ref, 2 * n) > 1e-3);
    const int counts[] = {2, 4};
    for (int k = 0; k < 2; k++) {
      float *par = render(so.g, counts[k], &m);
      ck_assert_int_eq(m, n);
      ck_assert_msg(memcmp(ref, par, sizeof(float) * 2 * (size_t)n) == 0, "shape %d: %d threads differ",
                    shapes[sh], counts[k]);
      free(par);
    }
    /* Without the latency cut: the same samples, L frames later. */
    int L = mixstage_graph_latency(so.g);
    ck_assert_int_gt(L, 0);
    for (int t = 1; t <= 4; t *= 2) {
      mixstage_render_config rc;
      mixstage_render_config_init(&rc);
      rc.threads = t;
      rc.max_tail_frames = 4000;
      rc.remove_latency = 0;
      int64_t c = mixstage_graph_render_frames(so.g, &rc);
      ck_assert_int_eq(c, n); /* the program and its tail, from the graph's frame 0 */
      float *whole = calloc(2 * (size_t)c, sizeof(float));
      ck_assert_ptr_nonnull(whole);
      ck_assert_int_eq(mixstage_graph_render(so.g, &rc, whole, c), MIXSTAGE_OK);
      ck_assert_msg(memcmp(ref, whole + 2 * L, sizeof(float) * 2 * (size_t)(n - L)) == 0,
                    "shape %d: %d threads without the latency cut differ", shapes[sh], t);
      free(whole);
    }
    const int blocks[] = {1, 64, 256, 300, 1024};
    for (int b = 0; b < 5; b++) {
      float *rt = process_blocks(so.g, blocks[b], n);
      ck_assert_msg(memcmp(ref, rt, sizeof(float) * 2 * (size_t)n) == 0, "shape %d: blocks of %d differ",
                    shapes[sh], blocks[b]);
      free(rt);
    }
    free(ref);
    song_free(&so);
  }
}
END_TEST

/* ---- settled chains over the block (process.c span_chains) -------------------
 * A unit whose values rest runs its chain insert by insert over the block,
 * a class with max_frames taking several cells per call; one that moves
 * runs cell by cell.  A song whose units go from one to the other (setters,
 * bypass crossfades, a mute, through lane groups, keys and a node with
 * latency), in host blocks of 1 frame (every call one frame), 32, 33, 96,
 * 256 and 264: the same bits, so a several-cell call gives what cell-by-cell
 * calls give.  With a chain fault and a source fault inside blocks, in
 * blocks that keep cells whole (a block that splits a cell contains a fault
 * to its part of the cell, as ever): the same bits too, so a fault found
 * once per block is contained to the same cell as one found per cell.
 * Strip 3's insert with latency runs on through spans, its dry path kept
 * warm there by pushes into its delay line, until a bypass crossfades to
 * that path: the song once more with a flat fader lane on strip 3, which
 * keeps it from resting (cell by cell, the dry path delayed in place), gives
 * the same bits. */
#define SPAN_STRIPS 8
#define SPAN_LEN 34000
/* Events land at multiples of 8448 = 33 * 256, a process-call boundary for
 * every block size tried, so every run takes each setter at the same
 * control boundary. */
#define SPAN_EVENT 8448

typedef struct span_song {
  mixstage_graph *g;
  float *src[SPAN_STRIPS];
  mixstage_node *eq[SPAN_STRIPS], *width[SPAN_STRIPS], *sat[SPAN_STRIPS], *gain[SPAN_STRIPS];
  mixstage_strip *st[SPAN_STRIPS];
} span_song;

static void span_build(span_song *so, int faults) {
  memset(so, 0, sizeof *so);
  mixstage_graph_config cfg;
  mixstage_graph_config_init(&cfg);
  int err = -99;
  so->g = mixstage_graph_create(&cfg, &err);
  ck_assert_ptr_nonnull(so->g);
  for (int i = 0; i < SPAN_STRIPS; i++) {
    char name[16];
    snprintf(name, sizeof name, "S%d", i);
    int ch = i == 7 ? 1 : 2;
    so->st[i] = mixstage_graph_add_strip(so->g, name, ch, &err);
    ck_assert_ptr_nonnull(so->st[i]);
    so->src[i] = malloc(sizeof(float) * (size_t)ch * SPAN_LEN);
    ck_assert_ptr_nonnull(so->src[i]);
    float *mono = malloc(sizeof(float) * SPAN_LEN);
    tu_noise(mono, SPAN_LEN, 0.3, 77u + (uint32_t)i);
    for (int64_t k = 0; k < SPAN_LEN; k++) {
      float env = (float)exp(-(double)(k % (1500 + 400 * i)) / 500.0);
      float tone = (float)(0.4 * sin(2 * TU_PI * (90.0 + 53.0 * i) * (double)k / FS));
      for (int c = 0; c < ch; c++) so->src[i][k * ch + c] = env * (tone + (c ? -mono[k] : mono[k]));
    }
    free(mono);
    if (faults && i == 6) so->src[i][12345 * 2] = 3e38f; /* +12 dB of gain overflows: a chain fault */
    if (faults && i == 5) so->src[i][20001 * 2 + 1] = NAN; /* a source fault */
    ck_assert_int_eq(mixstage_strip_set_source_buffer(so->st[i], so->src[i], ch, SPAN_LEN, 0), MIXSTAGE_OK);
    mixstage_strip_set_pan(so->st[i], -0.7 + 0.2 * i);
    so->gain[i] = insert(so->st[i], NULL, "gain");
    mixstage_node_set_param_by_name(so->gain[i], "gain", i == 6 ? 12.0 : -1.0);
    so->eq[i] = insert(so->st[i], NULL, "eq");
    mixstage_node_set_param_choice(so->eq[i], "band2_type", "bell");
    mixstage_node_set_param_by_name(so->eq[i], "band2_gain", 6.0);
    mixstage_node_set_param_by_name(so->eq[i], "output", -2.0);
    so->width[i] = insert(so->st[i], NULL, "width");
    mixstage_node_set_param_by_name(so->width[i], "width", 140.0);
    mixstage_node *gate = insert(so->st[i], NULL, "gate");
    mixstage_node_set_param_by_name(gate, "threshold", -30.0);
    if (i >= 4 && i < 6) { /* keyed: opens and closes with strip 0's bursts */
      ck_assert_int_eq(mixstage_node_set_sidechain_strip(gate, so->st[0], MIXSTAGE_TAP_PRE_FADER), MIXSTAGE_OK);
      mixstage_node_set_param_by_name(gate, "threshold", -14.0);
      mixstage_node_set_param_by_name(gate, "hold", 2.0);
    }
    insert(so->st[i], NULL, "tilt_eq");
    mixstage_node *comp = insert(so->st[i], NULL, "compressor"); /* max_frames 0: a cell per call */
    mixstage_node_set_param_by_name(comp, "threshold", -20.0);
    /* (the saturation's bounded curve would hide the faults of strips 5 and 6) */
    if (i == 5 || i == 6) continue;
    so->sat[i] = insert(so->st[i], NULL, "saturation");
    mixstage_node_set_param_by_name(so->sat[i], "drive", 9.0);
    /* 2x oversampling (latency: a dry path, compensated at the mix) on one strip */
    mixstage_node_set_param_choice(so->sat[i], "oversampling", i == 3 ? "2x" : "1x");
  }
}

static void span_event(span_song *so, int k) {
  for (int i = 0; i < SPAN_STRIPS; i++) {
    switch (k) {
      case 1: /* parameters move (smoothed), then rest again */
        if (i < 4) mixstage_node_set_param_by_name(so->eq[i], "band2_gain", -4.0);
        if (i % 2 && so->sat[i]) mixstage_node_set_param_by_name(so->sat[i], "bias", 0.3);
        if (i == 2) mixstage_node_set_param_by_name(so->width[i], "output", 3.0);
        break;
      case 2: /* crossfades to bypass, a mute, the bias back (the DC blocker's release) */
        if (i == 1 || i == 2) mixstage_node_set_bypass(so->width[i], 1);
        if (i == 4) mixstage_node_set_bypass(so->eq[i], 1);
        if (i == 3) mixstage_node_set_bypass(so->sat[i], 1); /* to its dry path */
        if (i % 2 && so->sat[i]) mixstage_node_set_param_by_name(so->sat[i], "bias", 0.0);
        if (i == 7) mixstage_strip_set_mute(so->st[i], 1);
        break;
      case 3: /* and back on */
        if (i == 1 || i == 2) mixstage_node_set_bypass(so->width[i], 0);
        if (i == 4) mixstage_node_set_bypass(so->eq[i], 0);
        if (i == 3) mixstage_node_set_bypass(so->sat[i], 0);
        if (i == 7) mixstage_strip_set_mute(so->st[i], 0);
        mixstage_node_set_param_by_name(so->gain[i], "gain", i == 6 ? 12.0 : 2.0);
        break;
    }
  }
}

/* The song in process calls of `block` frames; faults counted.  pin: a
 * fader lane on strip 3 at its value (0 dB). */
static float *span_run(int block, int64_t n, int with_faults, int pin, int *faults) {
  span_song so;
  span_build(&so, with_faults);
  if (pin) {
    int err = 0;
    mixstage_lane *lane = mixstage_strip_lane(so.st[3], MIXSTAGE_STRIP_FADER, &err);
    ck_assert_ptr_nonnull(lane);
    ck_assert_int_eq(mixstage_lane_add_point(lane, 0, 0.0, MIXSTAGE_CURVE_LINEAR), MIXSTAGE_OK);
  }
  ck_assert_int_eq(mixstage_graph_prepare(so.g), MIXSTAGE_OK);
  float *out = calloc(2 * ((size_t)n + (size_t)block), sizeof(float));
  ck_assert_ptr_nonnull(out);
  *faults = 0;
  for (int64_t f = 0; f < n;) {
    if (f % SPAN_EVENT == 0 && f > 0) span_event(&so, (int)(f / SPAN_EVENT));
    int64_t next = (f / SPAN_EVENT + 1) * SPAN_EVENT;
    int b = (int)(n - f < block ? n - f : block);
    ck_assert_int_le(f + b, next); /* events fall on call boundaries */
    int r = mixstage_graph_process(so.g, out + 2 * f, b);
    ck_assert_msg(r == MIXSTAGE_OK || r == MIXSTAGE_ENUMERIC, "blocks of %d: %s", block, mixstage_strerror(r));
    *faults += r == MIXSTAGE_ENUMERIC;
    f += b;
  }
  mixstage_graph_destroy(so.g);
  for (int i = 0; i < SPAN_STRIPS; i++) free(so.src[i]);
  return out;
}

START_TEST(test_settled_spans_blocks_identical) {
  const int64_t n = SPAN_LEN + 2000;
  for (int with_faults = 0; with_faults <= 1; with_faults++) {
    int f1, fb;
    /* the reference: blocks of 1, or of one cell with the faults */
    const int ref_block = with_faults ? 32 : 1;
    float *ref = span_run(ref_block, n, with_faults, 0, &f1);
    ck_assert_int_eq(f1 >= 2, with_faults); /* both faults met, or none */
    ck_assert(tu_rms(ref, 2 * n) > 1e-2);
    for (int64_t i = 0; i < 2 * n; i++) ck_assert(isfinite(ref[i]));
    const int all[] = {32, 33, 96, 256, 264}, whole[] = {64, 96, 256};
    const int *blocks = with_faults ? whole : all, count = with_faults ? 3 : 5;
    for (int b = 0; b <= count; b++) {
      const int pin = b == count; /* then strip 3 cell by cell, in blocks of 256 */
      if (pin && with_faults) break;
      float *out = span_run(pin ? 256 : blocks[b], n, with_faults, pin, &fb);
      ck_assert_int_eq(fb >= 2, with_faults);
      for (int64_t i = 0; i < 2 * n; i++)
        ck_assert_msg(memcmp(&ref[i], &out[i], sizeof(float)) == 0,
                      "%s: blocks of %d%s differ from blocks of %d at frame %lld channel %d: %.9g vs %.9g",
                      with_faults ? "faults" : "no faults", pin ? 256 : blocks[b], pin ? " (strip 3 pinned)" : "",
                      ref_block, (long long)(i / 2), (int)(i % 2), out[i], ref[i]);
      free(out);
    }
    free(ref);
  }
}
END_TEST

/* Threads of this process, from /proc (Linux); -1 elsewhere. */
static int thread_count(void) {
  DIR *d = opendir("/proc/self/task");
  if (!d) return -1;
  int n = 0;
  struct dirent *e;
  while ((e = readdir(d)))
    if (e->d_name[0] != '.') n++;
  closedir(d);
  return n;
}

/* Several threaded renders on one graph: the workers outlive a render (no
 * thread per call), a new count replaces them, an edit between renders is
 * picked up, and destroying the idle graph ends them. */
START_TEST(test_pool_reused_and_destroyed) {
  int base = thread_count();
  song so;
  song_build(&so, SHAPE_PIPELINED);
  int64_t n, m;
  float *ref = render(so.g, 1, &n);
  ck_assert_int_eq(thread_count(), base); /* one thread makes no pool */
  const int counts[] = {2, 2, 3, 3, 2};
  for (int k = 0; k < 5; k++) {
    float *par = render(so.g, counts[k], &m);
    ck_assert_msg(memcmp(ref, par, sizeof(float) * 2 * (size_t)n) == 0, "render %d (%d threads) differs", k,
                  counts[k]);
    free(par);
    if (base > 0) ck_assert_int_eq(thread_count(), base + counts[k] - 1);
  }
  /* An edit (a new strip) between threaded renders. */
  int err;
  mixstage_strip *extra = mixstage_graph_add_strip(so.g, "Extra", 1, &err);
  ck_assert_ptr_nonnull(extra);
  ck_assert_int_eq(mixstage_strip_set_source_buffer(extra, so.src[2], 1, LEN, 0), MIXSTAGE_OK);
  float *ref2 = render(so.g, 1, &n);
  ck_assert(memcmp(ref, ref2, sizeof(float) * 2 * (size_t)n) != 0);
  float *par = render(so.g, 2, &m);
  ck_assert(memcmp(ref2, par, sizeof(float) * 2 * (size_t)n) == 0);
  free(par);
  /* A child of fork() has none of the parent's workers: it starts its own.
   * (ThreadSanitizer cannot follow a fork of a threaded process.) */
#if !defined(__SANITIZE_THREAD__)
  pid_t pid = fork();
  ck_assert_int_ge(pid, 0);
  if (pid == 0) {
    mixstage_render_config rc;
    mixstage_render_config_init(&rc);
    rc.threads = 2;
    rc.max_tail_frames = 4000;
    float *c = calloc(2 * (size_t)n, sizeof(float));
    int ok = c && mixstage_graph_render(so.g, &rc, c, n) == MIXSTAGE_OK &&
             memcmp(ref2, c, sizeof(float) * 2 * (size_t)n) == 0;
    /* Freed, so that the child is clean under valgrind too. */
    free(c);
    free(ref);
    free(ref2);
    song_free(&so);
    _exit(ok ? 0 : 1);
  }
  int status = 0;
  ck_assert_int_eq(waitpid(pid, &status, 0), pid);
  ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "render in a forked child failed");
#endif
  free(ref);
  free(ref2);
  song_free(&so);
  if (base > 0) ck_assert_int_eq(thread_count(), base);
}
END_TEST

static int cancel_early(void *user, int64_t done, int64_t total) {
  (void)total;
  *(int64_t *)user = done;
  return done >= 9600;
}

/* A cancelled pipelined render leaves the graph whole: the next render is
 * exact. */
START_TEST(test_cancel_then_render) {
  song so;
  song_build(&so, SHAPE_PIPELINED);
  int64_t n, m;
  float *ref = render(so.g, 1, &n);
  mixstage_render_config rc;
  mixstage_render_config_init(&rc);
  rc.threads = 2;
  rc.max_tail_frames = 4000;
  int64_t seen = 0;
  rc.progress = cancel_early;
  rc.progress_user = &seen;
  float *out = calloc(2 * (size_t)n, sizeof(float));
  ck_assert_int_eq(mixstage_graph_render(so.g, &rc, out, n), MIXSTAGE_ECANCELLED);
  ck_assert(seen >= 9600 && seen < n);
  free(out);
  float *par = render(so.g, 2, &m);
  ck_assert(memcmp(ref, par, sizeof(float) * 2 * (size_t)n) == 0);
  free(par);
  free(ref);
  song_free(&so);
}
END_TEST


/* ---- units at rest take every control-safe change --------------------------
 * A unit found settled skips its control checks while nothing is touched
 * (process.c block_start): each setter below, made between two 64-frame
 * blocks after the graph has come to rest, must change the very next
 * block against the same run without it. */

enum {
  CHANGE_FADER, CHANGE_PAN, CHANGE_WIDTH, CHANGE_CLIP, CHANGE_MUTE, CHANGE_SOLO, CHANGE_POLARITY,
  CHANGE_BUS_FADER, CHANGE_BUS_MUTE, CHANGE_SEND_LEVEL, CHANGE_SEND_MUTE, CHANGE_NODE_PARAM,
  CHANGE_NODE_BYPASS, CHANGE_NODE_ROLE, CHANGE_PROFILE, CHANGE_PROFILE_ACTION, CHANGE_LANE, CHANGE_COUNT
};

#define REST_BLOCK 64
#define REST_WARM 40 /* blocks before the change: every smoother long settled */
#define REST_AFTER 4

/* The output of REST_AFTER blocks after `change` (or none: -1). */
static float *rest_run(int change) {
  int err = -99;
  mixstage_graph *g = mixstage_graph_create(NULL, &err);
  ck_assert_ptr_nonnull(g);
  int64_t len = (REST_WARM + REST_AFTER) * REST_BLOCK;
  float *src[2];
  mixstage_strip *st[2];
  mixstage_bus *ret = mixstage_graph_add_bus(g, "Ret", MIXSTAGE_BUS_RETURN, 2, &err);
  ck_assert_ptr_nonnull(ret);
  for (int i = 0; i < 2; i++) {
    src[i] = malloc(sizeof(float) * 2 * (size_t)len);
    ck_assert_ptr_nonnull(src[i]);
    tu_noise(src[i], 2 * len, 0.25, 77u + (uint32_t)i);
    st[i] = mixstage_graph_add_strip(g, i ? "B" : "A", 2, &err);
    ck_assert_ptr_nonnull(st[i]);
    ck_assert_int_eq(mixstage_strip_set_source_buffer(st[i], src[i], 2, len, 0), MIXSTAGE_OK);
  }
  mixstage_node *trim = insert(st[0], NULL, "gain");
  mixstage_send *send = mixstage_strip_add_send(st[0], ret, -6.0, MIXSTAGE_TAP_POST_FADER, MIXSTAGE_ROLE_MIX_FX, &err);
  ck_assert_ptr_nonnull(send);
  mixstage_lane *lane = mixstage_strip_lane(st[0], MIXSTAGE_STRIP_FADER, &err);
  ck_assert_ptr_nonnull(lane);
  mixstage_profile *prof = mixstage_profile_create("rest", NULL, &err);
  ck_assert_ptr_nonnull(prof);
  /* No insert has the design role until CHANGE_NODE_ROLE gives it. */
  ck_assert_int_eq(mixstage_profile_set_action(prof, MIXSTAGE_ROLE_DESIGN, MIXSTAGE_ACTION_MUTE), MIXSTAGE_OK);
  ck_assert_int_eq(mixstage_graph_set_profile(g, prof), MIXSTAGE_OK);
  mixstage_profile *muting = mixstage_profile_create("rest-muting", NULL, &err);
  ck_assert_ptr_nonnull(muting);
  ck_assert_int_eq(mixstage_profile_set_action(muting, MIXSTAGE_ROLE_STRIP, MIXSTAGE_ACTION_MUTE), MIXSTAGE_OK);
  ck_assert_int_eq(mixstage_graph_prepare(g), MIXSTAGE_OK);
  float *out = calloc(2 * (size_t)len, sizeof(float));
  ck_assert_ptr_nonnull(out);
  for (int b = 0; b < REST_WARM + REST_AFTER; b++) {
    if (b == REST_WARM) {
      int rc = MIXSTAGE_OK;
      switch (change) {
      case CHANGE_FADER: rc = mixstage_strip_set_fader_db(st[0], -3.0); break;
      case CHANGE_PAN: rc = mixstage_strip_set_pan(st[0], 0.5); break;
      case CHANGE_WIDTH: rc = mixstage_strip_set_width(st[0], 0.5); break;
      case CHANGE_CLIP: rc = mixstage_strip_set_clip_gain_db(st[0], -3.0); break;
      case CHANGE_MUTE: rc = mixstage_strip_set_mute(st[0], 1); break;
      case CHANGE_SOLO: rc = mixstage_strip_set_solo(st[1], 1); break;
      case CHANGE_POLARITY: rc = mixstage_strip_set_polarity(st[0], 1); break;
      case CHANGE_BUS_FADER: rc = mixstage_bus_set_fader_db(ret, -3.0); break;
      case CHANGE_BUS_MUTE: rc = mixstage_bus_set_mute(ret, 1); break;
      case CHANGE_SEND_LEVEL: rc = mixstage_send_set_level_db(send, -20.0); break;
      case CHANGE_SEND_MUTE: rc = mixstage_send_set_mute(send, 1); break;
      case CHANGE_NODE_PARAM: rc = mixstage_node_set_param_by_name(trim, "gain", -6.0); break;
      case CHANGE_NODE_BYPASS: rc = mixstage_node_set_bypass(trim, 1); break;
      case CHANGE_NODE_ROLE: rc = mixstage_node_set_role(trim, MIXSTAGE_ROLE_DESIGN); break;
      case CHANGE_PROFILE: rc = mixstage_graph_set_profile(g, muting); break;
      case CHANGE_PROFILE_ACTION:
        rc = mixstage_profile_set_action(prof, MIXSTAGE_ROLE_STRIP, MIXSTAGE_ACTION_MUTE);
        break;
      case CHANGE_LANE:
        rc = mixstage_lane_add_point(lane, (REST_WARM + 1) * REST_BLOCK, -12.0, MIXSTAGE_CURVE_STEP);
        break;
      }
      ck_assert_msg(rc == MIXSTAGE_OK, "change %d: %s", change, mixstage_strerror(rc));
    }
    ck_assert_int_eq(mixstage_graph_process(g, out + 2 * (size_t)b * REST_BLOCK, REST_BLOCK), MIXSTAGE_OK);
  }
  mixstage_graph_destroy(g);
  mixstage_profile_destroy(prof);
  mixstage_profile_destroy(muting);
  free(src[0]);
  free(src[1]);
  float *after = malloc(sizeof(float) * 2 * REST_AFTER * REST_BLOCK);
  ck_assert_ptr_nonnull(after);
  memcpy(after, out + 2 * REST_WARM * REST_BLOCK, sizeof(float) * 2 * REST_AFTER * REST_BLOCK);
  free(out);
  return after;
}

START_TEST(test_units_at_rest_take_changes) {
  float *ref = rest_run(-1);
  for (int c = 0; c < CHANGE_COUNT; c++) {
    float *x = rest_run(c);
    /* Changes take effect at a control boundary; the lane point lands one
     * block later.  Either way the second block after the change differs. */
    size_t from = 2 * REST_BLOCK, n = 2 * (REST_AFTER - 1) * REST_BLOCK;
    ck_assert_msg(memcmp(ref + from, x + from, sizeof(float) * n) != 0,
                  "change %d did not reach the unit at rest", c);
    if (c != CHANGE_LANE)
      ck_assert_msg(memcmp(ref, x, sizeof(float) * 2 * REST_BLOCK) != 0,
                    "change %d waited more than one block", c);
    free(x);
  }
  free(ref);
}
END_TEST

static Suite *render_suite(void) {
  Suite *s = suite_create("render");
  TCase *tc = tcase_create("threads");
  tcase_set_timeout(tc, 120);
  tcase_add_test(tc, test_threads_identical_pipelined);
  tcase_add_test(tc, test_threads_identical_strip_keyed_by_bus);
  tcase_add_test(tc, test_threads_identical_bus_keyed_by_strip);
  tcase_add_test(tc, test_keys_threads_blocks_identical);
  tcase_add_test(tc, test_settled_spans_blocks_identical);
  tcase_add_test(tc, test_pool_reused_and_destroyed);
  tcase_add_test(tc, test_cancel_then_render);
  tcase_add_test(tc, test_units_at_rest_take_changes);
  suite_add_tcase(s, tc);
  return s;
}

int main(void) {
  SRunner *sr = srunner_create(render_suite());
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
