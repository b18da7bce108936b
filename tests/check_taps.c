/* Check suite for meters inside the graph and gain-reduction histories
 * (include/mixstage/analysis.h, "meters inside the graph").
 *
 * The reference for every attached meter is mixstage_meter_analyse() of the
 * audio the graph rendered: the tap must measure the same signal.  Attached
 * meters run libebur128 in histogram mode (0.1 LU bins), which the meters
 * module documents, and tests, to agree with the exact analysis within
 * 0.05 LU; a difference of two histogram figures is within 0.1 LU.  Sample
 * peaks and RMS are summed in double over the same samples, so they agree to
 * rounding: the only float difference between a tap and the rendered output
 * is the mix bus's balance stage, (m + s) with m = (l + r) / 2,
 * s = (l - r) / 2, a few ulps (1e-6 dB), hence 1e-4 dB below. */
#define _GNU_SOURCE
#include <check.h>
#include <malloc.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mixstage.h"
#include "testutil.h"

#define FS 48000.0
#define LU_TOL 0.05  /* histogram vs exact gating, see above */
#define PEAK_TOL 1e-4 /* dB: a few float ulps of the mix bus balance stage */

static mixstage_graph *new_graph(void) {
  mixstage_graph_config gc;
  mixstage_graph_config_init(&gc);
  gc.sample_rate = FS;
  gc.max_block_frames = 1024;
  int err = -1;
  mixstage_graph *g = mixstage_graph_create(&gc, &err);
  ck_assert_ptr_nonnull(g);
  ck_assert_int_eq(err, MIXSTAGE_OK);
  return g;
}

static mixstage_strip *add_strip(mixstage_graph *g, const char *name, const float *x, int ch, int64_t n) {
  int err = -1;
  mixstage_strip *s = mixstage_graph_add_strip(g, name, ch, &err);
  ck_assert_ptr_nonnull(s);
  ck_assert_int_eq(mixstage_strip_set_source_buffer(s, x, ch, n, 1), MIXSTAGE_OK);
  return s;
}

static mixstage_meter *new_meter(int ch) {
  int err = -1;
  mixstage_meter *m = mixstage_meter_create(ch, FS, 1024, NULL, &err);
  ck_assert_ptr_nonnull(m);
  ck_assert_int_eq(err, MIXSTAGE_OK);
  return m;
}

/* Renders the graph (stereo mix) into a new buffer; *frames gets its length. */
static float *render(mixstage_graph *g, int threads, int64_t *frames) {
  mixstage_render_config rc;
  mixstage_render_config_init(&rc);
  rc.threads = threads;
  int64_t n = mixstage_graph_render_frames(g, &rc);
  ck_assert_int_gt(n, 0);
  float *out = malloc(sizeof(float) * 2 * (size_t)n);
  ck_assert_ptr_nonnull(out);
  ck_assert_int_eq(mixstage_graph_render(g, &rc, out, n), MIXSTAGE_OK);
  *frames = n;
  return out;
}

static void report_of(mixstage_meter *m, mixstage_meter_report *r) {
  ck_assert_int_eq(mixstage_meter_get_report(m, r), MIXSTAGE_OK);
}

/* An attached meter against the exact analysis of the same audio. */
static void assert_matches(const mixstage_meter_report *tap, const mixstage_meter_report *ref) {
  ck_assert_int_eq(tap->frames, ref->frames);
  ck_assert_double_eq_tol(tap->integrated_lufs, ref->integrated_lufs, LU_TOL);
  ck_assert_double_eq_tol(tap->sample_peak_max_dbfs, ref->sample_peak_max_dbfs, PEAK_TOL);
  ck_assert_double_eq_tol(tap->true_peak_max_dbtp, ref->true_peak_max_dbtp, PEAK_TOL);
  ck_assert_double_eq_tol(tap->rms_total_dbfs, ref->rms_total_dbfs, PEAK_TOL);
  /* momentary maxima come from the same 100 ms grid, not from the histogram */
  ck_assert_double_eq_tol(tap->momentary_max_lufs, ref->momentary_max_lufs, 1e-3);
}

static void analyse(const float *x, int64_t n, mixstage_meter_report *r) {
  ck_assert_int_eq(mixstage_meter_analyse(x, n, 2, FS, NULL, r), MIXSTAGE_OK);
}

/* ---- meters on strips and buses ------------------------------------------------ */

/* A mono strip with a compressor, panned into the stereo mix: its post-fader
 * meter measures exactly what a render of that strip alone gives. */
START_TEST(strip_post_meter_equals_render) {
  const int64_t n = (int64_t)(3.0 * FS);
  float *x = malloc(sizeof(float) * (size_t)n);
  ck_assert_ptr_nonnull(x);
  tu_sine(x, n, 997.0, FS, 0.5, 0.0);
  for (int64_t i = n / 2; i < n; i++) x[i] *= 0.25f; /* a level step: something to gate */
  mixstage_graph *g = new_graph();
  mixstage_strip *s = add_strip(g, "Tone", x, 1, n);
  int err;
  mixstage_node *c = mixstage_strip_insert(s, "compressor", MIXSTAGE_ROLE_STRIP, -1, &err);
  ck_assert_ptr_nonnull(c);
  ck_assert_int_eq(mixstage_node_set_param_by_name(c, "threshold", -20.0), MIXSTAGE_OK);
  ck_assert_int_eq(mixstage_strip_set_pan(s, -0.3), MIXSTAGE_OK);
  mixstage_meter *post = new_meter(2);
  ck_assert_int_eq(mixstage_strip_attach_meter(s, post, MIXSTAGE_TAP_POST_FADER), MIXSTAGE_OK);
  int64_t frames;
  float *out = render(g, 1, &frames);
  mixstage_meter_report rt, rr;
  report_of(post, &rt);
  analyse(out, frames, &rr);
  assert_matches(&rt, &rr);
  ck_assert_double_lt(rt.integrated_lufs, -10.0); /* a real level, not silence */
  ck_assert_double_gt(rt.integrated_lufs, -40.0);
  /* per channel too: the pan made the sides differ */
  ck_assert_double_eq_tol(rt.sample_peak_dbfs[0], rr.sample_peak_dbfs[0], PEAK_TOL);
  ck_assert_double_eq_tol(rt.sample_peak_dbfs[1], rr.sample_peak_dbfs[1], PEAK_TOL);
  ck_assert_double_gt(rt.sample_peak_dbfs[0] - rt.sample_peak_dbfs[1], 1.0);
  mixstage_meter_report_clear(&rt);
  mixstage_meter_report_clear(&rr);
  mixstage_graph_destroy(g); /* the graph only borrows the meter */
  mixstage_meter_destroy(post);
  free(out);
  free(x);
}
END_TEST

/* Pre- and post-fader taps differ by the fader, on a strip and on the mix
 * bus.  Peaks and RMS: the same samples times one float gain, so 6.00 dB
 * within 0.01 dB (float rounding of the gain and the balance stage is
 * 1e-6 dB).  Loudness: two histogram figures, within 0.1 LU. */
START_TEST(pre_post_differ_by_fader) {
  const int64_t n = (int64_t)(2.0 * FS);
  float *x = malloc(sizeof(float) * 2 * (size_t)n), *l = malloc(sizeof(float) * (size_t)n);
  ck_assert_ptr_nonnull(x);
  ck_assert_ptr_nonnull(l);
  tu_sine(l, n, 440.0, FS, 0.4, 0.0);
  for (int64_t i = 0; i < n; i++) {
    x[2 * i] = l[i];
    x[2 * i + 1] = 0.5f * l[i];
  }
  mixstage_graph *g = new_graph();
  mixstage_strip *s = add_strip(g, "Pad", x, 2, n);
  ck_assert_int_eq(mixstage_strip_set_fader_db(s, -6.0), MIXSTAGE_OK);
  mixstage_bus *mix = mixstage_graph_mix_bus(g);
  ck_assert_int_eq(mixstage_bus_set_fader_db(mix, -3.0), MIXSTAGE_OK);
  mixstage_meter *m[4];
  for (int i = 0; i < 4; i++) m[i] = new_meter(2);
  ck_assert_int_eq(mixstage_strip_attach_meter(s, m[0], MIXSTAGE_TAP_PRE_FADER), MIXSTAGE_OK);
  ck_assert_int_eq(mixstage_strip_attach_meter(s, m[1], MIXSTAGE_TAP_POST_FADER), MIXSTAGE_OK);
  ck_assert_int_eq(mixstage_bus_attach_meter(mix, m[2], MIXSTAGE_TAP_PRE_FADER), MIXSTAGE_OK);
  ck_assert_int_eq(mixstage_bus_attach_meter(mix, m[3], MIXSTAGE_TAP_POST_FADER), MIXSTAGE_OK);
  int64_t frames;
  float *out = render(g, 1, &frames);
  mixstage_meter_report r[4];
  for (int i = 0; i < 4; i++) report_of(m[i], &r[i]);
  const double fader[2] = {6.0, 3.0};
  for (int k = 0; k < 2; k++) {
    const mixstage_meter_report *pre = &r[2 * k], *post = &r[2 * k + 1];
    ck_assert_double_eq_tol(pre->sample_peak_max_dbfs - post->sample_peak_max_dbfs, fader[k], 0.01);
    ck_assert_double_eq_tol(pre->sample_peak_dbfs[1] - post->sample_peak_dbfs[1], fader[k], 0.01);
    ck_assert_double_eq_tol(pre->rms_total_dbfs - post->rms_total_dbfs, fader[k], 0.01);
    ck_assert_double_eq_tol(pre->integrated_lufs - post->integrated_lufs, fader[k], 2 * LU_TOL);
  }
  /* the source itself: 0.4 peak on the left */
  ck_assert_double_eq_tol(r[0].sample_peak_dbfs[0], 20.0 * log10(0.4), 1e-4);
  /* the strip's post tap is the mix bus's pre tap (one input, no inserts) */
  ck_assert_double_eq_tol(r[1].sample_peak_max_dbfs, r[2].sample_peak_max_dbfs, PEAK_TOL);
  mixstage_meter_report ro;
  analyse(out, frames, &ro);
  assert_matches(&r[3], &ro);
  for (int i = 0; i < 4; i++) mixstage_meter_report_clear(&r[i]);
  mixstage_meter_report_clear(&ro);
  /* detach: the graph no longer touches the meter */
  for (int t = 0; t < 2; t++) {
    ck_assert_int_eq(mixstage_strip_attach_meter(s, NULL, t), MIXSTAGE_OK);
    ck_assert_int_eq(mixstage_bus_attach_meter(mix, NULL, t), MIXSTAGE_OK);
  }
  for (int i = 0; i < 4; i++) mixstage_meter_destroy(m[i]);
  free(out);
  out = render(g, 1, &frames); /* would touch freed meters if still attached */
  mixstage_graph_destroy(g);
  free(out);
  free(l);
  free(x);
}
END_TEST

/* Two strips into a group bus, a third straight to the mix.  The mix bus
 * meter equals the rendered mix; with the third strip muted the mix is the
 * group alone, and the group's meter equals it.  Each render starts the
 * meters afresh (render prepares). */
START_TEST(bus_meters_equal_render) {
  const int64_t n = (int64_t)(2.5 * FS);
  float *a = malloc(sizeof(float) * (size_t)n), *b = malloc(sizeof(float) * (size_t)n),
        *c = malloc(sizeof(float) * (size_t)n);
  ck_assert_ptr_nonnull(a);
  ck_assert_ptr_nonnull(b);
  ck_assert_ptr_nonnull(c);
  tu_noise(a, n, 0.3, 11u);
  tu_sine(b, n, 220.0, FS, 0.3, 0.0);
  tu_sine(c, n, 3000.0, FS, 0.2, 0.0);
  mixstage_graph *g = new_graph();
  int err;
  mixstage_bus *grp = mixstage_graph_add_bus(g, "Band", MIXSTAGE_BUS_GROUP, 2, &err);
  ck_assert_ptr_nonnull(grp);
  mixstage_strip *sa = add_strip(g, "Noise", a, 1, n), *sb = add_strip(g, "Bass", b, 1, n);
  mixstage_strip *sc = add_strip(g, "Lead", c, 1, n);
  ck_assert_int_eq(mixstage_strip_set_output(sa, grp), MIXSTAGE_OK);
  ck_assert_int_eq(mixstage_strip_set_output(sb, grp), MIXSTAGE_OK);
  ck_assert_int_eq(mixstage_strip_set_pan(sa, 0.5), MIXSTAGE_OK);
  ck_assert_ptr_nonnull(mixstage_bus_insert(grp, "compressor", MIXSTAGE_ROLE_STRIP, -1, &err));
  ck_assert_int_eq(mixstage_bus_set_fader_db(grp, -2.0), MIXSTAGE_OK);
  mixstage_meter *mg = new_meter(2), *mm = new_meter(2);
  ck_assert_int_eq(mixstage_bus_attach_meter(grp, mg, MIXSTAGE_TAP_POST_FADER), MIXSTAGE_OK);
  ck_assert_int_eq(mixstage_bus_attach_meter(mixstage_graph_mix_bus(g), mm, MIXSTAGE_TAP_POST_FADER),
                   MIXSTAGE_OK);
  mixstage_meter_report rt, rr;
  int64_t frames;
  float *out = render(g, 1, &frames);
  report_of(mm, &rt);
  analyse(out, frames, &rr);
  assert_matches(&rt, &rr);
  mixstage_meter_report_clear(&rt);
  mixstage_meter_report_clear(&rr);
  free(out);

  ck_assert_int_eq(mixstage_strip_set_mute(sc, 1), MIXSTAGE_OK);
  out = render(g, 2, &frames);
  analyse(out, frames, &rr);
  report_of(mg, &rt);
  assert_matches(&rt, &rr);
  mixstage_meter_report_clear(&rt);
  report_of(mm, &rt); /* the mix meter too, restarted by the second render */
  assert_matches(&rt, &rr);
  mixstage_meter_report_clear(&rt);
  mixstage_meter_report_clear(&rr);
  mixstage_graph_destroy(g);
  mixstage_meter_destroy(mg);
  mixstage_meter_destroy(mm);
  free(out);
  free(a);
  free(b);
  free(c);
}
END_TEST

/* ---- real time against offline ----------------------------------------------------- */

typedef struct rig {
  mixstage_graph *g;
  mixstage_meter *m[3];
  mixstage_node *comp;
  float *src[3];
} rig;

static void rig_build(rig *r, int64_t n) {
  r->g = new_graph();
  for (int i = 0; i < 3; i++) {
    r->src[i] = malloc(sizeof(float) * (size_t)n);
    ck_assert_ptr_nonnull(r->src[i]);
  }
  tu_sine(r->src[0], n, 110.0, FS, 0.6, 0.0);
  for (int64_t i = 0; i < n; i++) r->src[0][i] *= (float)(0.5 + 0.5 * sin(2.0 * TU_PI * 1.5 * (double)i / FS));
  tu_noise(r->src[1], n, 0.2, 5u);
  tu_sine(r->src[2], n, 1500.0, FS, 0.25, 1.0);
  int err;
  mixstage_bus *grp = mixstage_graph_add_bus(r->g, "Group", MIXSTAGE_BUS_GROUP, 2, &err);
  ck_assert_ptr_nonnull(grp);
  mixstage_strip *s[3];
  const char *names[3] = {"Bass", "Hats", "Keys"};
  for (int i = 0; i < 3; i++) s[i] = add_strip(r->g, names[i], r->src[i], 1, n);
  ck_assert_int_eq(mixstage_strip_set_output(s[0], grp), MIXSTAGE_OK);
  ck_assert_int_eq(mixstage_strip_set_output(s[1], grp), MIXSTAGE_OK);
  r->comp = mixstage_strip_insert(s[0], "compressor", MIXSTAGE_ROLE_STRIP, -1, &err);
  ck_assert_ptr_nonnull(r->comp);
  ck_assert_int_eq(mixstage_node_set_param_by_name(r->comp, "threshold", -24.0), MIXSTAGE_OK);
  ck_assert_int_eq(mixstage_node_enable_gr_history(r->comp, 10.0), MIXSTAGE_OK);
  r->m[0] = new_meter(1);
  r->m[1] = new_meter(2);
  r->m[2] = new_meter(2);
  ck_assert_int_eq(mixstage_strip_attach_meter(s[0], r->m[0], MIXSTAGE_TAP_PRE_FADER), MIXSTAGE_OK);
  ck_assert_int_eq(mixstage_bus_attach_meter(grp, r->m[1], MIXSTAGE_TAP_POST_FADER), MIXSTAGE_OK);
  ck_assert_int_eq(mixstage_bus_attach_meter(mixstage_graph_mix_bus(r->g), r->m[2], MIXSTAGE_TAP_POST_FADER),
                   MIXSTAGE_OK);
}

static void rig_free(rig *r) {
  mixstage_graph_destroy(r->g);
  for (int i = 0; i < 3; i++) {
    mixstage_meter_destroy(r->m[i]);
    free(r->src[i]);
  }
}

static float *history(const mixstage_node *nd, int64_t *count, int64_t *first) {
  int hop = 0;
  int64_t n = mixstage_node_gr_history(nd, NULL, 0, NULL, NULL);
  ck_assert_int_ge(n, 0);
  float *h = malloc(sizeof(float) * (size_t)(n ? n : 1));
  ck_assert_ptr_nonnull(h);
  ck_assert_int_eq(mixstage_node_gr_history(nd, h, n, first, &hop), n);
  ck_assert_int_eq(hop, 32);
  *count = n;
  return h;
}

/* The same figures from a real-time host's 64-frame process calls as from a
 * render on two threads: the meters see identical samples in a different
 * chunking, and every sum runs sample by sample, so the reports are equal
 * (1e-9 allows only for libm differences, none expected); the history is
 * taken on the 32-frame grid whatever the block, so it is identical. */
START_TEST(process_equals_render) {
  const int64_t n = (int64_t)(2.0 * FS);
  rig r;
  rig_build(&r, n);
  int64_t frames;
  float *out = render(r.g, 2, &frames);
  mixstage_meter_report a[3], b[3];
  for (int i = 0; i < 3; i++) report_of(r.m[i], &a[i]);
  int64_t na, fa, nb, fb;
  float *ha = history(r.comp, &na, &fa);
  ck_assert_int_eq(na, frames / 32);
  ck_assert_int_eq(fa, 0);

  ck_assert_int_eq(mixstage_graph_prepare(r.g), MIXSTAGE_OK); /* restarts meters and history */
  ck_assert_int_eq(mixstage_node_gr_history(r.comp, NULL, 0, NULL, NULL), 0);
  float blk[2 * 100]; /* blocks of 64, then of 100 frames */
  for (int64_t done = 0; done < frames; done += 64) {
    int k = frames - done < 64 ? (int)(frames - done) : 64;
    ck_assert_int_eq(mixstage_graph_process(r.g, blk, k), MIXSTAGE_OK);
    for (int i = 0; i < 2 * k; i++) ck_assert(blk[i] == out[2 * done + i]);
  }
  for (int i = 0; i < 3; i++) {
    report_of(r.m[i], &b[i]);
    ck_assert_int_eq(a[i].frames, frames);
    ck_assert_int_eq(b[i].frames, frames);
    ck_assert_double_eq_tol(a[i].integrated_lufs, b[i].integrated_lufs, 1e-9);
    ck_assert_double_eq_tol(a[i].loudness_range_lu, b[i].loudness_range_lu, 1e-9);
    ck_assert_double_eq_tol(a[i].sample_peak_max_dbfs, b[i].sample_peak_max_dbfs, 1e-9);
    ck_assert_double_eq_tol(a[i].true_peak_max_dbtp, b[i].true_peak_max_dbtp, 1e-9);
    ck_assert_double_eq_tol(a[i].rms_total_dbfs, b[i].rms_total_dbfs, 1e-9);
    ck_assert_double_eq_tol(a[i].short_term_max_lufs, b[i].short_term_max_lufs, 1e-9);
    ck_assert_int_eq(a[i].series_count, b[i].series_count);
    ck_assert_double_gt(a[i].integrated_lufs, -40.0);
    mixstage_meter_report_clear(&a[i]);
    mixstage_meter_report_clear(&b[i]);
  }
  float *hb = history(r.comp, &nb, &fb);
  ck_assert_int_eq(nb, na);
  ck_assert_int_eq(fb, fa);
  ck_assert(memcmp(ha, hb, sizeof(float) * (size_t)na) == 0);
  float gmax = 0.0f;
  for (int64_t i = 0; i < na; i++) gmax = ha[i] > gmax ? ha[i] : gmax;
  ck_assert_double_gt(gmax, 3.0); /* the compressor worked */

  /* Blocks of 100 frames split the control cells: still the same history. */
  ck_assert_int_eq(mixstage_graph_prepare(r.g), MIXSTAGE_OK);
  for (int64_t done = 0; done < frames; done += 100) {
    int k = frames - done < 100 ? (int)(frames - done) : 100;
    ck_assert_int_eq(mixstage_graph_process(r.g, blk, k), MIXSTAGE_OK);
  }
  free(hb);
  hb = history(r.comp, &nb, &fb);
  ck_assert_int_eq(nb, na);
  ck_assert(memcmp(ha, hb, sizeof(float) * (size_t)na) == 0);
  free(ha);
  free(hb);
  free(out);
  rig_free(&r);
}
END_TEST

/* ---- gain-reduction history ----------------------------------------------------------- */

/* A 1 kHz tone stepped -40, -10, -20 dBFS RMS through a compressor at
 * threshold -30 dB, ratio 4:1, hard knee, RMS detection: the static curve
 * gives 0, (1 - 1/4) * 20 = 15 and (1 - 1/4) * 10 = 7.5 dB of reduction.
 * Tolerance 0.05 dB in the settled part of each step (its last 300 ms): the
 * one-pole RMS detector (10 ms) leaves a 2 kHz ripple of +-1/(2 pi 2000
 * 0.01) = +-0.8 % in power, 0.035 dB of level, 0.026 dB of reduction before
 * the attack smoothing.  The step up lands on a cell boundary (frame 24000 =
 * cell 750): the cell before reads 0 exactly (a hard knee below the
 * threshold), the cell after already reduces. */
START_TEST(gr_history_static_curve) {
  const int64_t step = 24000, n = 5 * step; /* 0.5 s, then 1 s, then 1 s */
  float *x = malloc(sizeof(float) * (size_t)n);
  ck_assert_ptr_nonnull(x);
  const double rms_db[3] = {-40.0, -10.0, -20.0};
  tu_sine(x, n, 1000.0, FS, 1.0, 0.0);
  for (int64_t i = 0; i < n; i++) {
    int k = i < step ? 0 : i < 3 * step ? 1 : 2;
    x[i] *= (float)(sqrt(2.0) * pow(10.0, rms_db[k] / 20.0));
  }
  mixstage_graph *g = new_graph();
  mixstage_strip *s = add_strip(g, "Vox", x, 1, n);
  int err;
  mixstage_node *c = mixstage_strip_insert(s, "compressor", MIXSTAGE_ROLE_STRIP, -1, &err);
  ck_assert_ptr_nonnull(c);
  ck_assert_int_eq(mixstage_node_set_param_by_name(c, "threshold", -30.0), 0);
  ck_assert_int_eq(mixstage_node_set_param_by_name(c, "ratio", 4.0), 0);
  ck_assert_int_eq(mixstage_node_set_param_by_name(c, "knee", 0.0), 0);
  ck_assert_int_eq(mixstage_node_set_param_by_name(c, "attack", 1.0), 0);
  ck_assert_int_eq(mixstage_node_set_param_by_name(c, "release", 50.0), 0);
  ck_assert_int_eq(mixstage_node_set_param_by_name(c, "detector", 1.0), 0);
  ck_assert_int_eq(mixstage_node_set_param_by_name(c, "rms_window", 10.0), 0);
  ck_assert_int_eq(mixstage_node_set_param_by_name(c, "makeup", 6.0), 0); /* not reduction */
  ck_assert_int_eq(mixstage_node_enable_gr_history(c, 10.0), MIXSTAGE_OK);
  int64_t frames, cnt, first;
  float *out = render(g, 1, &frames);
  float *h = history(c, &cnt, &first);
  ck_assert_int_eq(first, 0);
  ck_assert_int_eq(cnt, frames / 32);
  ck_assert_int_ge(cnt, n / 32);
  const double expect[3] = {0.0, 15.0, 7.5};
  const int64_t end[3] = {step, 3 * step, 5 * step};
  for (int k = 0; k < 3; k++)
    for (int64_t i = (end[k] - 14400) / 32; i < end[k] / 32; i++) ck_assert_double_eq_tol(h[i], expect[k], 0.05);
  ck_assert(h[step / 32 - 1] == 0.0f);
  ck_assert_double_gt(h[step / 32], 0.5);
  /* the rendered level agrees: -10 dBFS RMS in, 15 dB reduced, 6 dB makeup,
   * -3.01 dB centre pan */
  ck_assert_double_eq_tol(tu_db(tu_rms(out + 2 * (2 * step), 2 * (step / 2))), -10.0 - 15.0 + 6.0 - 3.0103,
                          0.1);
  /* the newest points only, and their first frame */
  float last[10];
  int64_t f10;
  ck_assert_int_eq(mixstage_node_gr_history(c, last, 10, &f10, NULL), cnt);
  ck_assert_int_eq(f10, (cnt - 10) * 32);
  ck_assert(memcmp(last, h + cnt - 10, sizeof last) == 0);
  /* a located process jumps: the history restarts at the new cell */
  ck_assert_int_eq(mixstage_graph_prepare(g), MIXSTAGE_OK);
  ck_assert_int_eq(mixstage_graph_locate(g, 2 * step + 5), MIXSTAGE_OK);
  float blk[2 * 1024];
  ck_assert_int_eq(mixstage_graph_process(g, blk, 1024), MIXSTAGE_OK);
  ck_assert_int_eq(mixstage_node_gr_history(c, NULL, 0, &first, NULL), (5 + 1024) / 32);
  ck_assert_int_eq(first, 2 * step);
  ck_assert_int_eq(mixstage_node_clear_gr_history(c), MIXSTAGE_OK);
  ck_assert_int_eq(mixstage_node_gr_history(c, NULL, 0, &first, NULL), 0);
  ck_assert_int_eq(first, 0);
  /* bypassed: no reduction recorded */
  ck_assert_int_eq(mixstage_node_set_bypass(c, 1), MIXSTAGE_OK);
  free(out);
  out = render(g, 1, &frames);
  free(h);
  h = history(c, &cnt, &first);
  for (int64_t i = 0; i < cnt; i++) ck_assert(h[i] == 0.0f);
  free(h);
  free(out);
  mixstage_graph_destroy(g);
  free(x);
}
END_TEST

/* A bass ducked by a kick's sidechain: reduction while each kick sounds,
 * none before the first and none once the release has run out.  Kicks of
 * 80 ms every 500 ms from 250 ms; 40 ms release: 250 ms after a kick ends
 * the reduction has fallen through six release time constants. */
START_TEST(gr_history_sidechain_duck) {
  const int64_t n = (int64_t)(2.25 * FS), period = 24000, first_hit = 12000, hit_len = 3840;
  float *bass = malloc(sizeof(float) * (size_t)n), *kick = calloc((size_t)n, sizeof(float));
  ck_assert_ptr_nonnull(bass);
  ck_assert_ptr_nonnull(kick);
  tu_sine(bass, n, 55.0, FS, 0.5, 0.0);
  for (int64_t t0 = first_hit; t0 + hit_len <= n; t0 += period)
    for (int64_t i = 0; i < hit_len; i++)
      kick[t0 + i] = (float)(0.9 * exp(-(double)i / 1200.0) * sin(2.0 * TU_PI * 60.0 * (double)i / FS));
  mixstage_graph *g = new_graph();
  mixstage_strip *sb = add_strip(g, "Bass", bass, 1, n), *sk = add_strip(g, "Kick", kick, 1, n);
  int err;
  mixstage_node *c = mixstage_strip_insert(sb, "compressor", MIXSTAGE_ROLE_STRIP, -1, &err);
  ck_assert_ptr_nonnull(c);
  ck_assert_int_eq(mixstage_node_set_param_by_name(c, "threshold", -30.0), 0);
  ck_assert_int_eq(mixstage_node_set_param_by_name(c, "ratio", 10.0), 0);
  ck_assert_int_eq(mixstage_node_set_param_by_name(c, "attack", 0.5), 0);
  ck_assert_int_eq(mixstage_node_set_param_by_name(c, "release", 40.0), 0);
  ck_assert_int_eq(mixstage_node_set_sidechain_strip(c, sk, MIXSTAGE_TAP_PRE_FADER), MIXSTAGE_OK);
  ck_assert_int_eq(mixstage_node_enable_gr_history(c, 5.0), MIXSTAGE_OK);
  int64_t frames, cnt, first;
  float *out = render(g, 1, &frames);
  float *h = history(c, &cnt, &first);
  ck_assert_int_eq(first, 0);
  for (int64_t i = 0; i < first_hit / 32; i++) ck_assert(h[i] == 0.0f); /* the bass alone is never reduced */
  int hits = 0;
  for (int64_t t0 = first_hit; t0 + hit_len <= n; t0 += period, hits++) {
    float peak = 0.0f;
    for (int64_t i = t0 / 32; i < (t0 + hit_len) / 32; i++) peak = h[i] > peak ? h[i] : peak;
    ck_assert_double_gt(peak, 10.0); /* a 0.9 kick 30 dB over the threshold at 10:1 */
    for (int64_t i = (t0 + hit_len + 12000) / 32; i < (t0 + period) / 32 && i < cnt; i++)
      ck_assert_double_lt(h[i], 0.05);
  }
  ck_assert_int_eq(hits, 4);
  free(h);
  free(out);
  mixstage_graph_destroy(g);
  free(bass);
  free(kick);
}
END_TEST

/* A ring of 0.1 s (150 cells at 48 kHz) keeps the newest 150 points: the
 * same as the tail of a long ring on an identical strip. */
START_TEST(gr_history_ring_overflow) {
  const int64_t n = (int64_t)(1.0 * FS);
  float *x = malloc(sizeof(float) * (size_t)n);
  ck_assert_ptr_nonnull(x);
  tu_noise(x, n, 0.8, 3u);
  mixstage_graph *g = new_graph();
  mixstage_node *c[2];
  int err;
  for (int i = 0; i < 2; i++) {
    mixstage_strip *s = add_strip(g, i ? "Long" : "Short", x, 1, n);
    c[i] = mixstage_strip_insert(s, "compressor", MIXSTAGE_ROLE_STRIP, -1, &err);
    ck_assert_ptr_nonnull(c[i]);
  }
  ck_assert_int_eq(mixstage_node_enable_gr_history(c[0], 0.1), MIXSTAGE_OK);
  ck_assert_int_eq(mixstage_node_enable_gr_history(c[1], 10.0), MIXSTAGE_OK);
  int64_t frames, n0, n1, f0, f1;
  float *out = render(g, 2, &frames);
  float *h0 = history(c[0], &n0, &f0), *h1 = history(c[1], &n1, &f1);
  ck_assert_int_eq(n0, 150);
  ck_assert_int_eq(n1, frames / 32);
  ck_assert_int_eq(f0, f1 + (n1 - 150) * 32);
  ck_assert(memcmp(h0, h1 + n1 - 150, 150 * sizeof(float)) == 0);
  float gmax = 0.0f;
  for (int64_t i = 0; i < n0; i++) gmax = h0[i] > gmax ? h0[i] : gmax;
  ck_assert_double_gt(gmax, 1.0);
  /* 0 frees the ring */
  ck_assert_int_eq(mixstage_node_enable_gr_history(c[0], 0.0), MIXSTAGE_OK);
  ck_assert_int_eq(mixstage_node_gr_history(c[0], h0, n0, &f0, NULL), 0);
  free(h0);
  free(h1);
  free(out);
  mixstage_graph_destroy(g);
  free(x);
}
END_TEST

/* A stem bounce runs the production mix as its main pass and forks every
 * stem from it: the meters and the history follow the main pass once, so
 * they read as after a plain render, and the history survives the bounce. */
START_TEST(bounce_counts_once) {
  const int64_t n = (int64_t)(1.5 * FS);
  float *a = malloc(sizeof(float) * (size_t)n), *b = malloc(sizeof(float) * (size_t)n);
  ck_assert_ptr_nonnull(a);
  ck_assert_ptr_nonnull(b);
  tu_sine(a, n, 330.0, FS, 0.5, 0.0);
  tu_noise(b, n, 0.3, 9u);
  mixstage_graph *g = new_graph();
  mixstage_strip *sa = add_strip(g, "Gtr", a, 1, n);
  add_strip(g, "Shaker", b, 1, n);
  int err;
  mixstage_node *c = mixstage_strip_insert(sa, "compressor", MIXSTAGE_ROLE_STRIP, -1, &err);
  ck_assert_ptr_nonnull(c);
  ck_assert_int_eq(mixstage_node_enable_gr_history(c, 5.0), MIXSTAGE_OK);
  mixstage_meter *m = new_meter(2);
  ck_assert_int_eq(mixstage_bus_attach_meter(mixstage_graph_mix_bus(g), m, MIXSTAGE_TAP_POST_FADER), 0);
  int64_t frames, na, nb, fa, fb;
  float *out = render(g, 1, &frames);
  mixstage_meter_report ra, rb;
  report_of(m, &ra);
  float *ha = history(c, &na, &fa);
  mixstage_bounce *bo = mixstage_graph_bounce(g, mixstage_profile_find("mix-stems"), NULL, &err);
  ck_assert_ptr_nonnull(bo);
  ck_assert_int_ge(mixstage_bounce_count(bo), 2);
  report_of(m, &rb);
  ck_assert_int_eq(rb.frames, ra.frames);
  ck_assert_double_eq_tol(rb.integrated_lufs, ra.integrated_lufs, 1e-9);
  ck_assert_double_eq_tol(rb.sample_peak_max_dbfs, ra.sample_peak_max_dbfs, 1e-9);
  float *hb = history(c, &nb, &fb);
  ck_assert_int_eq(nb, na);
  ck_assert(memcmp(ha, hb, sizeof(float) * (size_t)na) == 0);
  mixstage_meter_report_clear(&ra);
  mixstage_meter_report_clear(&rb);
  mixstage_bounce_destroy(bo);
  mixstage_graph_destroy(g);
  mixstage_meter_destroy(m);
  free(ha);
  free(hb);
  free(out);
  free(a);
  free(b);
}
END_TEST

/* ---- errors ----------------------------------------------------------------------------- */

static void assert_msg(mixstage_graph *g, const char *a, const char *b) {
  const char *msg = mixstage_graph_last_error(g);
  ck_assert_msg(strstr(msg, a) != NULL, "'%s' not in '%s'", a, msg);
  if (b) ck_assert_msg(strstr(msg, b) != NULL, "'%s' not in '%s'", b, msg);
}

START_TEST(errors) {
  float x[480] = {0};
  mixstage_graph *g = new_graph();
  mixstage_strip *s = add_strip(g, "Mono", x, 1, 480);
  int err;
  mixstage_bus *grp = mixstage_graph_add_bus(g, "Quad", MIXSTAGE_BUS_GROUP, 2, &err);
  ck_assert_ptr_nonnull(grp);
  mixstage_meter *m1 = new_meter(1), *m2 = new_meter(2);

  ck_assert_int_eq(mixstage_strip_attach_meter(NULL, m1, MIXSTAGE_TAP_PRE_FADER), MIXSTAGE_ENULL);
  ck_assert_int_eq(mixstage_bus_attach_meter(NULL, m1, MIXSTAGE_TAP_PRE_FADER), MIXSTAGE_ENULL);
  ck_assert_int_eq(mixstage_strip_attach_meter(s, m1, 2), MIXSTAGE_EINVAL);
  assert_msg(g, "strip 'Mono'", "tap 2");
  /* mono strip: 1 channel pre-fader, the stereo mix's 2 post-fader */
  ck_assert_int_eq(mixstage_strip_attach_meter(s, m2, MIXSTAGE_TAP_PRE_FADER), MIXSTAGE_ECHANNELS);
  assert_msg(g, "strip 'Mono'", "2-channel meter");
  ck_assert_int_eq(mixstage_strip_attach_meter(s, m1, MIXSTAGE_TAP_POST_FADER), MIXSTAGE_ECHANNELS);
  assert_msg(g, "strip 'Mono'", "post-fader");
  ck_assert_int_eq(mixstage_bus_attach_meter(grp, m1, MIXSTAGE_TAP_PRE_FADER), MIXSTAGE_ECHANNELS);
  assert_msg(g, "bus 'Quad'", "meter");
  ck_assert_int_eq(mixstage_strip_attach_meter(s, m1, MIXSTAGE_TAP_PRE_FADER), MIXSTAGE_OK);
  /* one meter, one tap */
  ck_assert_int_eq(mixstage_bus_attach_meter(grp, m2, MIXSTAGE_TAP_POST_FADER), MIXSTAGE_OK);
  ck_assert_int_eq(mixstage_bus_attach_meter(mixstage_graph_mix_bus(g), m2, MIXSTAGE_TAP_PRE_FADER),
                   MIXSTAGE_EINVAL);
  assert_msg(g, "bus 'Mix'", "already attached to bus 'Quad'");
  ck_assert_int_eq(mixstage_bus_attach_meter(grp, m2, MIXSTAGE_TAP_POST_FADER), MIXSTAGE_OK); /* again: fine */
  /* exact gating allocates while pushing; another rate cannot be right */
  mixstage_meter_config mc;
  mixstage_meter_config_init(&mc);
  mc.exact_gating = 1;
  mixstage_meter *mx = mixstage_meter_create(1, FS, 256, &mc, &err);
  mixstage_meter *mr = mixstage_meter_create(1, 44100.0, 256, NULL, &err);
  ck_assert_ptr_nonnull(mx);
  ck_assert_ptr_nonnull(mr);
  ck_assert_int_eq(mixstage_strip_attach_meter(s, mx, MIXSTAGE_TAP_PRE_FADER), MIXSTAGE_EINVAL);
  assert_msg(g, "strip 'Mono'", "exact gating");
  ck_assert_int_eq(mixstage_strip_attach_meter(s, mr, MIXSTAGE_TAP_PRE_FADER), MIXSTAGE_EINVAL);
  assert_msg(g, "strip 'Mono'", "44100 Hz");
  /* routing changed after the attach: prepare refuses, naming the bus */
  mixstage_bus *mono = mixstage_graph_add_bus(g, "MonoBus", MIXSTAGE_BUS_GROUP, 1, &err);
  ck_assert_ptr_nonnull(mono);
  ck_assert_int_eq(mixstage_bus_set_output(grp, mono), MIXSTAGE_OK);
  ck_assert_int_eq(mixstage_graph_prepare(g), MIXSTAGE_ECHANNELS);
  assert_msg(g, "bus 'Quad'", "2-channel meter");
  ck_assert_int_eq(mixstage_bus_attach_meter(grp, NULL, MIXSTAGE_TAP_POST_FADER), MIXSTAGE_OK);
  ck_assert_int_eq(mixstage_graph_prepare(g), MIXSTAGE_OK);

  /* histories: dynamics nodes only */
  mixstage_node *eq = mixstage_strip_insert(s, "eq", MIXSTAGE_ROLE_STRIP, -1, &err);
  mixstage_node *gate = mixstage_strip_insert(s, "gate", MIXSTAGE_ROLE_STRIP, -1, &err);
  mixstage_node *lim = mixstage_bus_insert(mixstage_graph_mix_bus(g), "limiter", MIXSTAGE_ROLE_MASTERING, -1, &err);
  ck_assert_ptr_nonnull(eq);
  ck_assert_ptr_nonnull(gate);
  ck_assert_ptr_nonnull(lim);
  ck_assert_int_eq(mixstage_node_enable_gr_history(eq, 1.0), MIXSTAGE_EUNSUPPORTED);
  assert_msg(g, mixstage_node_label(eq), "eq");
  assert_msg(g, "strip 'Mono'", NULL);
  ck_assert_int_eq(mixstage_node_enable_gr_history(NULL, 1.0), MIXSTAGE_ENULL);
  ck_assert_int_eq(mixstage_node_enable_gr_history(gate, -1.0), MIXSTAGE_ERANGE);
  assert_msg(g, mixstage_node_label(gate), NULL);
  ck_assert_int_eq(mixstage_node_enable_gr_history(gate, NAN), MIXSTAGE_ERANGE);
  ck_assert_int_eq(mixstage_node_enable_gr_history(gate, 90000.0), MIXSTAGE_ERANGE);
  ck_assert_int_eq(mixstage_node_enable_gr_history(gate, 1.0), MIXSTAGE_OK);
  ck_assert_int_eq(mixstage_node_enable_gr_history(lim, 1.0), MIXSTAGE_OK);
  float out[4];
  int64_t first = -1;
  int hop = 0;
  ck_assert_int_eq(mixstage_node_gr_history(NULL, out, 4, &first, &hop), MIXSTAGE_ENULL);
  ck_assert_int_eq(mixstage_node_gr_history(gate, out, -1, &first, &hop), MIXSTAGE_EINVAL);
  assert_msg(g, mixstage_node_label(gate), NULL);
  ck_assert_int_eq(mixstage_node_gr_history(gate, out, 4, &first, &hop), 0);
  ck_assert_int_eq(first, 0);
  ck_assert_int_eq(hop, 32);
  ck_assert_int_eq(mixstage_node_gr_history(eq, out, 4, NULL, NULL), 0); /* history off: none */
  ck_assert_int_eq(mixstage_node_clear_gr_history(NULL), MIXSTAGE_ENULL);
  mixstage_graph_destroy(g); /* frees the rings (ASan/valgrind would see a leak) */
  mixstage_meter_destroy(m1);
  mixstage_meter_destroy(m2);
  mixstage_meter_destroy(mx);
  mixstage_meter_destroy(mr);
}
END_TEST

/* ---- real-time safety -------------------------------------------------------------------- */

/* glibc's heap in use (bytes), or -1 when unknown (valgrind's allocator
 * reports zeros). */
static long heap_in_use(void) {
  struct mallinfo2 mi = mallinfo2();
  if (mi.uordblks == 0 && mi.hblkhd == 0) return -1;
  return (long)(mi.uordblks + mi.hblkhd);
}

/* Processing with meters at every tap kind and a history on: the heap in
 * use is unchanged over 4 s of 64-frame blocks (any allocation kept or
 * freed shows; libebur128's exact-gating growth, which the attach refuses,
 * is the kind of thing this catches: see tests/check_meters.c). */
START_TEST(process_does_not_allocate) {
  const int64_t n = (int64_t)(5.0 * FS);
  rig r;
  rig_build(&r, n);
  ck_assert_int_eq(mixstage_graph_prepare(r.g), MIXSTAGE_OK);
  float blk[2 * 64];
  for (int i = 0; i < 10; i++) ck_assert_int_eq(mixstage_graph_process(r.g, blk, 64), MIXSTAGE_OK);
  long before = heap_in_use();
  for (int i = 0; i < 3000; i++) ck_assert_int_eq(mixstage_graph_process(r.g, blk, 64), MIXSTAGE_OK);
  long after = heap_in_use();
  if (before >= 0 && after >= 0) ck_assert_int_eq(after - before, 0);
  mixstage_meter_report rep;
  report_of(r.m[2], &rep);
  ck_assert_int_eq(rep.frames, 3010 * 64);
  ck_assert_int_gt(mixstage_node_gr_history(r.comp, NULL, 0, NULL, NULL), 3000);
  mixstage_meter_report_clear(&rep);
  rig_free(&r);
}
END_TEST

static Suite *taps_suite(void) {
  Suite *s = suite_create("taps");
  TCase *m = tcase_create("meters");
  tcase_add_test(m, strip_post_meter_equals_render);
  tcase_add_test(m, pre_post_differ_by_fader);
  tcase_add_test(m, bus_meters_equal_render);
  tcase_add_test(m, process_equals_render);
  tcase_add_test(m, bounce_counts_once);
  tcase_set_timeout(m, 300); /* generous for valgrind and the sanitizers */
  suite_add_tcase(s, m);
  TCase *h = tcase_create("history");
  tcase_add_test(h, gr_history_static_curve);
  tcase_add_test(h, gr_history_sidechain_duck);
  tcase_add_test(h, gr_history_ring_overflow);
  tcase_set_timeout(h, 300);
  suite_add_tcase(s, h);
  TCase *e = tcase_create("api");
  tcase_add_test(e, errors);
  tcase_add_test(e, process_does_not_allocate);
  tcase_set_timeout(e, 300);
  suite_add_tcase(s, e);
  return s;
}

int main(void) {
  SRunner *sr = srunner_create(taps_suite());
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
