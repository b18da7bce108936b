/* API abuse: NULL handles, out-of-range values, bad buffers, allocation
 * failure at every site, error codes and messages. */
#define _DEFAULT_SOURCE /* mkdtemp */
#include <check.h>
#include <stdio.h>
#include <unistd.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "mixstage.h"
#include "node.h"

START_TEST(test_every_status_has_a_message) {
  const int codes[] = {
#define X(name, value, msg) value,
      MIXSTAGE_STATUS_MAP(X)
#undef X
  };
  for (size_t i = 0; i < sizeof codes / sizeof *codes; i++) {
    const char *m = mixstage_strerror(codes[i]);
    ck_assert_ptr_nonnull(m);
    ck_assert_int_gt((int)strlen(m), 5);
    ck_assert_str_ne(m, "unknown libmixstage status code");
    ck_assert(strncmp(mixstage_err_name(codes[i]), "MIXSTAGE_", 9) == 0);
    for (size_t j = 0; j < i; j++) ck_assert_str_ne(m, mixstage_strerror(codes[j]));
  }
  ck_assert_str_eq(mixstage_strerror(12345), "unknown libmixstage status code");
  ck_assert_str_eq(mixstage_err_name(-999), "MIXSTAGE_UNKNOWN");
  ck_assert_str_eq(mixstage_err_name(MIXSTAGE_ECYCLE), "MIXSTAGE_ECYCLE");
  ck_assert_ptr_nonnull(mixstage_version_string());
}
END_TEST

START_TEST(test_roles_and_units) {
  ck_assert_str_eq(mixstage_role_name(MIXSTAGE_ROLE_MIX_FX), "mix-fx");
  ck_assert_str_eq(mixstage_role_name(MIXSTAGE_ROLE_PLACEHOLDER_LIMITER), "placeholder-limiter");
  ck_assert_ptr_null(mixstage_role_name(MIXSTAGE_ROLE_COUNT));
  ck_assert_ptr_null(mixstage_role_name(-1));
  for (int r = 0; r < MIXSTAGE_ROLE_COUNT; r++) ck_assert_int_eq(mixstage_role_from_name(mixstage_role_name(r)), r);
  ck_assert_int_eq(mixstage_role_from_name("reverb"), MIXSTAGE_ENOTFOUND);
  ck_assert_int_eq(mixstage_role_from_name(NULL), MIXSTAGE_ENOTFOUND);
  ck_assert_str_eq(mixstage_unit_name(MIXSTAGE_UNIT_DB), "dB");
  ck_assert_str_eq(mixstage_unit_name(999), "");
}
END_TEST

START_TEST(test_null_handles) {
  int err = 0;
  mixstage_graph_destroy(NULL);
  ck_assert_str_eq(mixstage_graph_last_error(NULL), "no graph (NULL handle)");
  ck_assert_ptr_null(mixstage_graph_add_strip(NULL, "x", 2, &err));
  ck_assert_int_eq(err, MIXSTAGE_ENULL);
  ck_assert_ptr_null(mixstage_graph_add_bus(NULL, "x", MIXSTAGE_BUS_GROUP, 2, &err));
  ck_assert_int_eq(err, MIXSTAGE_ENULL);
  ck_assert_ptr_null(mixstage_graph_mix_bus(NULL));
  ck_assert_int_eq(mixstage_graph_prepare(NULL), MIXSTAGE_ENULL);
  ck_assert_int_eq(mixstage_graph_process(NULL, NULL, 64), MIXSTAGE_ENULL);
  ck_assert_int_eq(mixstage_graph_process_planar(NULL, NULL, 2, 64), MIXSTAGE_ENULL);
  ck_assert_int_eq(mixstage_graph_render(NULL, NULL, NULL, 0), MIXSTAGE_ENULL);
  ck_assert_int_eq(mixstage_graph_render_frames(NULL, NULL), MIXSTAGE_ENULL);
  ck_assert_int_eq(mixstage_graph_locate(NULL, 0), MIXSTAGE_ENULL);
  ck_assert_int_eq(mixstage_graph_set_tempo(NULL, 120), MIXSTAGE_ENULL);
  ck_assert_int_eq(mixstage_strip_set_source_buffer(NULL, NULL, 1, 0, 0), MIXSTAGE_ENULL);
  ck_assert_int_eq(mixstage_strip_set_source_callback(NULL, NULL, NULL, 1, 0), MIXSTAGE_ENULL);
  ck_assert_int_eq(mixstage_strip_set_fader_db(NULL, 0), MIXSTAGE_ENULL);
  ck_assert_int_eq(mixstage_strip_set_pan(NULL, 0), MIXSTAGE_ENULL);
  ck_assert_int_eq(mixstage_strip_set_mute(NULL, 1), MIXSTAGE_ENULL);
  ck_assert_int_eq(mixstage_strip_set_output(NULL, NULL), MIXSTAGE_ENULL);
  ck_assert_int_eq(mixstage_bus_set_output(NULL, NULL), MIXSTAGE_ENULL);
  ck_assert_ptr_null(mixstage_strip_insert(NULL, "gain", 0, -1, &err));
  ck_assert_int_eq(err, MIXSTAGE_ENULL);
  ck_assert_ptr_null(mixstage_strip_add_send(NULL, NULL, 0, 0, 0, &err));
  ck_assert_int_eq(mixstage_node_set_param(NULL, 0, 0), MIXSTAGE_ENULL);
  ck_assert_int_eq(mixstage_node_set_param_by_name(NULL, "gain", 0), MIXSTAGE_ENULL);
  ck_assert_int_eq(mixstage_node_set_bypass(NULL, 1), MIXSTAGE_ENULL);
  ck_assert_int_eq(mixstage_node_set_sidechain_strip(NULL, NULL, 0), MIXSTAGE_ENULL);
  ck_assert_ptr_null(mixstage_node_lane(NULL, 0, &err));
  ck_assert_int_eq(mixstage_lane_add_point(NULL, 0, 0, 0), MIXSTAGE_ENULL);
  ck_assert_str_eq(mixstage_node_label(NULL), "(NULL node)");
  ck_assert_ptr_null(mixstage_strip_name(NULL));
  ck_assert_int_eq(mixstage_graph_strip_count(NULL), 0);
}
END_TEST

START_TEST(test_out_of_range_config) {
  mixstage_graph_config cfg;
  int err = 0;
  mixstage_graph_config_init(&cfg);
  cfg.sample_rate = 4000;
  ck_assert_ptr_null(mixstage_graph_create(&cfg, &err));
  ck_assert_int_eq(err, MIXSTAGE_ERANGE);
  mixstage_graph_config_init(&cfg);
  cfg.sample_rate = NAN;
  ck_assert_ptr_null(mixstage_graph_create(&cfg, &err));
  mixstage_graph_config_init(&cfg);
  cfg.max_block_frames = 0;
  ck_assert_ptr_null(mixstage_graph_create(&cfg, &err));
  mixstage_graph_config_init(&cfg);
  cfg.mix_channels = 17;
  ck_assert_ptr_null(mixstage_graph_create(&cfg, &err));
  mixstage_graph_config_init(&cfg);
  cfg.tempo_bpm = 5;
  ck_assert_ptr_null(mixstage_graph_create(&cfg, &err));
  ck_assert_int_eq(err, MIXSTAGE_ERANGE);
  mixstage_graph *g = mixstage_graph_create(NULL, &err);
  ck_assert_ptr_nonnull(g);
  ck_assert_double_eq(mixstage_graph_sample_rate(g), 48000.0);
  ck_assert_int_eq(mixstage_graph_set_tempo(g, 1000.0), MIXSTAGE_ERANGE);
  ck_assert(strstr(mixstage_graph_last_error(g), "tempo") != NULL);
  mixstage_graph_destroy(g);
}
END_TEST

/* Misuse of objects: each refusal names the object at fault. */
START_TEST(test_bad_values_name_the_object) {
  int err;
  mixstage_graph *g = mixstage_graph_create(NULL, &err);
  mixstage_strip *s = mixstage_graph_add_strip(g, "Bass", 2, &err);
  ck_assert_ptr_null(mixstage_graph_add_strip(g, "Bass", 2, &err));
  ck_assert_int_eq(err, MIXSTAGE_EEXIST);
  ck_assert(strstr(mixstage_graph_last_error(g), "'Bass'"));
  ck_assert_ptr_null(mixstage_graph_add_strip(g, "Wide", 17, &err));
  ck_assert_int_eq(err, MIXSTAGE_ERANGE);
  ck_assert_ptr_null(mixstage_graph_add_strip(g, "", 2, &err));
  ck_assert_int_eq(err, MIXSTAGE_EINVAL);
  ck_assert_ptr_null(mixstage_graph_add_strip(g, NULL, 2, &err));
  ck_assert_ptr_null(mixstage_graph_add_bus(g, "Mix2", MIXSTAGE_BUS_MIX, 2, &err));
  ck_assert_int_eq(err, MIXSTAGE_EINVAL);

  ck_assert_int_eq(mixstage_strip_set_fader_db(s, 20.0), MIXSTAGE_ERANGE);
  ck_assert(strstr(mixstage_graph_last_error(g), "strip 'Bass'") && strstr(mixstage_graph_last_error(g), "fader"));
  ck_assert_int_eq(mixstage_strip_set_pan(s, NAN), MIXSTAGE_ERANGE);
  ck_assert_int_eq(mixstage_strip_set_pan(s, -1.5), MIXSTAGE_ERANGE);
  ck_assert_int_eq(mixstage_strip_set_clip_gain_db(s, INFINITY), MIXSTAGE_ERANGE);
  ck_assert_int_eq(mixstage_strip_set_color(s, 0x1000000), MIXSTAGE_ERANGE);
  ck_assert_double_eq(mixstage_strip_fader_db(s), 0.0); /* unchanged */

  float buf[8] = {0};
  ck_assert_int_eq(mixstage_strip_set_source_buffer(s, buf, 3, 2, 1), MIXSTAGE_ECHANNELS);
  ck_assert(strstr(mixstage_graph_last_error(g), "strip 'Bass'"));
  ck_assert_int_eq(mixstage_strip_set_source_buffer(s, NULL, 1, 10, 1), MIXSTAGE_ENULL);
  ck_assert_int_eq(mixstage_strip_set_source_buffer(s, buf, 1, -1, 1), MIXSTAGE_ERANGE);
  ck_assert_int_eq(mixstage_strip_set_source_buffer(s, buf, 1, 0, 1), MIXSTAGE_OK); /* empty is fine */

  ck_assert_ptr_null(mixstage_strip_insert(s, "flanger-9000", MIXSTAGE_ROLE_STRIP, -1, &err));
  ck_assert_int_eq(err, MIXSTAGE_ENOTFOUND);
  ck_assert(strstr(mixstage_graph_last_error(g), "flanger-9000"));
  ck_assert_ptr_null(mixstage_strip_insert(s, "gain", 99, -1, &err));
  ck_assert_int_eq(err, MIXSTAGE_ERANGE);
  ck_assert_ptr_null(mixstage_strip_insert(s, "gain", MIXSTAGE_ROLE_STRIP, 5, &err));
  ck_assert_int_eq(err, MIXSTAGE_ERANGE);
  mixstage_node *n = mixstage_strip_insert(s, "gain", MIXSTAGE_ROLE_STRIP, -1, &err);
  ck_assert_ptr_nonnull(n);
  ck_assert_str_eq(mixstage_node_label(n), "strip 'Bass' insert 1 (gain)");
  ck_assert_int_eq(mixstage_node_set_param_by_name(n, "gain", 99.0), MIXSTAGE_ERANGE);
  ck_assert(strstr(mixstage_graph_last_error(g), "strip 'Bass' insert 1 (gain): gain 99"));
  ck_assert_int_eq(mixstage_node_set_param_by_name(n, "nope", 1.0), MIXSTAGE_ENOTFOUND);
  ck_assert_int_eq(mixstage_node_set_param(n, 99, 1.0), MIXSTAGE_ENOTFOUND);
  ck_assert_int_eq(mixstage_node_set_param(n, 0, NAN), MIXSTAGE_ERANGE);
  mixstage_param_info info;
  ck_assert_int_eq(mixstage_node_param_info(n, 0, &info), MIXSTAGE_OK);
  ck_assert_str_eq(info.name, "gain");
  ck_assert_int_eq(info.unit, MIXSTAGE_UNIT_DB);
  ck_assert_int_eq(mixstage_node_param_info(n, 2, &info), MIXSTAGE_ERANGE);
  ck_assert_int_eq(mixstage_node_set_role(n, -1), MIXSTAGE_ERANGE);

  mixstage_bus *ret = mixstage_graph_add_bus(g, "Plate", MIXSTAGE_BUS_RETURN, 2, &err);
  mixstage_bus *grp = mixstage_graph_add_bus(g, "Drums", MIXSTAGE_BUS_GROUP, 2, &err);
  ck_assert_int_eq(mixstage_strip_set_output(s, ret), MIXSTAGE_EINVAL);
  ck_assert(strstr(mixstage_graph_last_error(g), "FX return"));
  ck_assert_ptr_null(mixstage_strip_add_send(s, grp, 0.0, MIXSTAGE_TAP_POST_FADER, MIXSTAGE_ROLE_MIX_FX, &err));
  ck_assert_int_eq(err, MIXSTAGE_EINVAL);
  ck_assert_ptr_null(mixstage_strip_add_send(s, ret, 0.0, 7, MIXSTAGE_ROLE_MIX_FX, &err));
  ck_assert_ptr_null(mixstage_strip_add_send(s, ret, 50.0, MIXSTAGE_TAP_POST_FADER, MIXSTAGE_ROLE_MIX_FX, &err));
  ck_assert_int_eq(err, MIXSTAGE_ERANGE);
  ck_assert_int_eq(mixstage_bus_set_output(mixstage_graph_mix_bus(g), grp), MIXSTAGE_EINVAL);

  mixstage_lane *lane = mixstage_strip_lane(s, MIXSTAGE_STRIP_FADER, &err);
  ck_assert_int_eq(mixstage_lane_add_point(lane, -5, 0.0, 0), MIXSTAGE_ERANGE);
  ck_assert_int_eq(mixstage_lane_add_point(lane, 5, 50.0, 0), MIXSTAGE_ERANGE);
  ck_assert_int_eq(mixstage_lane_add_point(lane, 5, 0.0, 9), MIXSTAGE_ERANGE);
  ck_assert_ptr_null(mixstage_strip_lane(s, 42, &err));
  ck_assert_int_eq(err, MIXSTAGE_ENOTFOUND);
  ck_assert_ptr_null(mixstage_bus_lane(grp, MIXSTAGE_STRIP_CLIP_GAIN, &err));

  /* Another graph's objects are refused. */
  mixstage_graph *g2 = mixstage_graph_create(NULL, &err);
  mixstage_bus *other = mixstage_graph_add_bus(g2, "Other", MIXSTAGE_BUS_GROUP, 2, &err);
  ck_assert_int_eq(mixstage_strip_set_output(s, other), MIXSTAGE_EINVAL);
  mixstage_graph_destroy(g2);
  mixstage_graph_destroy(g);
}
END_TEST

/* Names become file names and JSON strings: invalid UTF-8 is refused when
 * the strip or bus is made, with the offset of the bad byte. */
START_TEST(test_names_must_be_utf8) {
  int err;
  mixstage_graph *g = mixstage_graph_create(NULL, &err);
  const char *bad[] = {"Vox\xff", "\xc0\xafslash", "ab\xed\xa0\x80", "\xf4\x90\x80\x80", "cut\xe2\x82"};
  for (int i = 0; i < 5; i++) {
    ck_assert_ptr_null(mixstage_graph_add_strip(g, bad[i], 2, &err));
    ck_assert_int_eq(err, MIXSTAGE_EINVAL);
    ck_assert_msg(strstr(mixstage_graph_last_error(g), "not valid UTF-8"), "%s", mixstage_graph_last_error(g));
    ck_assert_ptr_null(mixstage_graph_add_bus(g, bad[i], MIXSTAGE_BUS_GROUP, 2, &err));
    ck_assert_int_eq(err, MIXSTAGE_EINVAL);
  }
  ck_assert_ptr_nonnull(mixstage_graph_add_strip(g, "Gesang \xc3\xa4 \xe2\x82\xac \xf0\x9f\x8e\xb8", 2, &err));
  mixstage_graph_destroy(g);
}
END_TEST

START_TEST(test_process_buffers_and_state) {
  int err;
  mixstage_graph_config cfg;
  mixstage_graph_config_init(&cfg);
  cfg.max_block_frames = 256;
  mixstage_graph *g = mixstage_graph_create(&cfg, &err);
  mixstage_graph_add_strip(g, "A", 2, &err);
  float out[2 * 512];
  ck_assert_int_eq(mixstage_graph_process(g, out, 64), MIXSTAGE_ESTATE); /* not prepared */
  ck_assert_int_eq(mixstage_graph_prepare(g), MIXSTAGE_OK);
  ck_assert_int_eq(mixstage_graph_process(g, out, 0), MIXSTAGE_EBLOCKSIZE);
  ck_assert_int_eq(mixstage_graph_process(g, out, 257), MIXSTAGE_EBLOCKSIZE);
  ck_assert_int_eq(mixstage_graph_process(g, out, -3), MIXSTAGE_EBLOCKSIZE);
  ck_assert_int_eq(mixstage_graph_process(g, NULL, 64), MIXSTAGE_ENULL);
  float *planar[2] = {out, out + 256};
  ck_assert_int_eq(mixstage_graph_process_planar(g, planar, 1, 64), MIXSTAGE_ECHANNELS);
  ck_assert_int_eq(mixstage_graph_process_planar(g, planar, 2, 64), MIXSTAGE_OK);
  ck_assert_int_eq(mixstage_graph_process(g, out, 256), MIXSTAGE_OK);
  ck_assert_int_eq(mixstage_graph_position(g), 320);
  ck_assert_int_eq(mixstage_graph_locate(g, -1), MIXSTAGE_ERANGE);
  /* Positions whose next blocks would overflow the frame counter. */
  ck_assert_int_eq(mixstage_graph_locate(g, INT64_MAX), MIXSTAGE_ERANGE);
  ck_assert_int_eq(mixstage_graph_locate(g, INT64_MAX - 64), MIXSTAGE_ERANGE);
  ck_assert_ptr_nonnull(strstr(mixstage_graph_last_error(g), "beyond"));
  ck_assert_int_eq(mixstage_graph_locate(g, 1000), MIXSTAGE_OK);
  ck_assert_int_eq(mixstage_graph_position(g), 1000);
  /* An edit unprepares: processing is refused until prepare. */
  mixstage_graph_add_strip(g, "B", 2, &err);
  ck_assert_int_eq(mixstage_graph_is_prepared(g), 0);
  ck_assert_int_eq(mixstage_graph_process(g, out, 64), MIXSTAGE_ESTATE);
  /* Render: too small a buffer, NULL buffer. */
  float src[100] = {0};
  mixstage_strip_set_source_buffer(mixstage_graph_find_strip(g, "A"), src, 1, 100, 1);
  ck_assert_int_eq(mixstage_graph_render_frames(g, NULL), 100);
  ck_assert_int_eq(mixstage_graph_render(g, NULL, out, 99), MIXSTAGE_ERANGE);
  ck_assert_int_eq(mixstage_graph_render(g, NULL, NULL, 100), MIXSTAGE_ENULL);
  mixstage_render_config rc;
  mixstage_render_config_init(&rc);
  rc.frames = -5;
  ck_assert_int_eq(mixstage_graph_render_frames(g, &rc), MIXSTAGE_ERANGE);
  mixstage_graph_destroy(g);
}
END_TEST

static int pull_silence(void *user, float *const *planar, int channels, int frames, int64_t pos) {
  (void)user;
  (void)pos;
  for (int c = 0; c < channels; c++) memset(planar[c], 0, sizeof(float) * (size_t)frames);
  return 0;
}

START_TEST(test_callback_source_needs_length) {
  int err;
  mixstage_graph *g = mixstage_graph_create(NULL, &err);
  mixstage_strip *s = mixstage_graph_add_strip(g, "Live", 2, &err);
  ck_assert_int_eq(mixstage_strip_set_source_callback(s, NULL, NULL, 2, -1), MIXSTAGE_ENULL);
  ck_assert_int_eq(mixstage_strip_set_source_callback(s, pull_silence, NULL, 3, -1), MIXSTAGE_ECHANNELS);
  ck_assert_int_eq(mixstage_strip_set_source_callback(s, pull_silence, NULL, 2, -1), MIXSTAGE_OK);
  ck_assert_int_eq(mixstage_graph_render_frames(g, NULL), MIXSTAGE_EINVAL);
  ck_assert(strstr(mixstage_graph_last_error(g), "strip 'Live'"));
  mixstage_render_config rc;
  mixstage_render_config_init(&rc);
  rc.frames = 480;
  ck_assert_int_eq(mixstage_graph_render_frames(g, &rc), 480);
  mixstage_graph_destroy(g);
}
END_TEST

/* Allocation failure at every site: a counting allocator fails the k-th
 * allocation, for every k until a full build-prepare-render succeeds.  No
 * crash, a clean error, nothing leaked (the live count returns to zero). */
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

static int build_and_render(failing_alloc *fa) {
  mixstage_graph_config cfg;
  mixstage_graph_config_init(&cfg);
  cfg.alloc = fa_alloc;
  cfg.free = fa_free;
  cfg.alloc_user = fa;
  int err;
  mixstage_graph *g = mixstage_graph_create(&cfg, &err);
  if (!g) return err;
  int rc = MIXSTAGE_OK;
  float src[2 * 300];
  for (int i = 0; i < 600; i++) src[i] = 0.1f * (float)(i % 7);
  mixstage_strip *a = mixstage_graph_add_strip(g, "A", 2, &err);
  mixstage_strip *b = a ? mixstage_graph_add_strip(g, "B", 1, &err) : NULL;
  mixstage_bus *grp = b ? mixstage_graph_add_bus(g, "G", MIXSTAGE_BUS_GROUP, 2, &err) : NULL;
  mixstage_bus *ret = grp ? mixstage_graph_add_bus(g, "R", MIXSTAGE_BUS_RETURN, 2, &err) : NULL;
  if (!ret) rc = err;
  if (rc == MIXSTAGE_OK) rc = mixstage_strip_set_source_buffer(a, src, 2, 300, 1);
  if (rc == MIXSTAGE_OK) rc = mixstage_strip_set_source_buffer(b, src, 1, 300, 1);
  if (rc == MIXSTAGE_OK) rc = mixstage_strip_set_output(a, grp);
  mixstage_node *n = NULL;
  if (rc == MIXSTAGE_OK && !(n = mixstage_strip_insert(a, "gain", MIXSTAGE_ROLE_STRIP, -1, &err))) rc = err;
  if (rc == MIXSTAGE_OK && !mixstage_bus_insert(grp, "gain", MIXSTAGE_ROLE_STRIP, -1, &err)) rc = err;
  if (rc == MIXSTAGE_OK && !mixstage_strip_add_send(b, ret, -3, MIXSTAGE_TAP_PRE_FADER, MIXSTAGE_ROLE_MIX_FX, &err)) rc = err;
  mixstage_lane *lane = NULL;
  if (rc == MIXSTAGE_OK && !(lane = mixstage_node_lane(n, 0, &err))) rc = err;
  if (rc == MIXSTAGE_OK) rc = mixstage_lane_add_point(lane, 10, -3.0, 0);
  if (rc == MIXSTAGE_OK) rc = mixstage_graph_prepare(g);
  float out[2 * 400];
  if (rc == MIXSTAGE_OK) rc = mixstage_graph_render(g, NULL, out, 400);
  if (rc != MIXSTAGE_OK) ck_assert_int_eq(rc, MIXSTAGE_ENOMEM);
  if (rc != MIXSTAGE_OK) ck_assert_int_gt((int)strlen(mixstage_graph_last_error(g)), 0);
  mixstage_graph_destroy(g);
  return rc;
}

START_TEST(test_allocation_failure_everywhere) {
  int succeeded = 0;
  long sites = 0;
  for (long k = 0; k < 10000 && !succeeded; k++) {
    failing_alloc fa = {0, k, 0};
    int rc = build_and_render(&fa);
    ck_assert_msg(fa.live == 0, "failing allocation %ld leaked %ld blocks", k, fa.live);
    if (rc == MIXSTAGE_OK) succeeded = 1;
    else ck_assert_int_eq(rc, MIXSTAGE_ENOMEM);
    sites = k;
  }
  ck_assert(succeeded);
  ck_assert_int_gt(sites, 20); /* the walk really covered many sites */
}
END_TEST

/* Every registered node type: parameter ids equal indexes, ranges hold
 * their defaults, enums list their choices, and the type renders silence to
 * silence without NaN. */
START_TEST(test_node_types_introspection) {
  int count = 0;
  for (int i = 0; mixstage_node_type_name(i); i++) {
    count++;
    const mixstage__node_class *cls = mixstage__find_node_class(mixstage_node_type_name(i));
    ck_assert_ptr_nonnull(cls);
    ck_assert_ptr_nonnull(mixstage_node_type_description(i));
    for (int p = 0; p < cls->num_params; p++) {
      const mixstage_param_info *pi = &cls->params[p];
      ck_assert_msg(pi->id == p, "%s: parameter %s has id %d at index %d", cls->name, pi->name, pi->id, p);
      ck_assert_msg(pi->min <= pi->def && pi->def <= pi->max, "%s.%s default out of range", cls->name, pi->name);
      ck_assert(pi->name && pi->label && pi->name[0]);
      if (pi->unit == MIXSTAGE_UNIT_ENUM) ck_assert_msg(pi->choices != NULL, "%s.%s has no choices", cls->name, pi->name);
      for (int q = 0; q < p; q++) ck_assert_str_ne(pi->name, cls->params[q].name);
    }
    /* The stem renderer needs the gain every keyed (dynamics) node applied.
     * multiband is the one exception: its gain differs per band, so its
     * output is not one gain per channel times its input. */
    if (cls->accepts_key && strcmp(cls->name, "multiband") != 0)
      ck_assert_msg(cls->gain_trace != NULL, "%s takes a key but has no gain_trace", cls->name);
    /* a node whose gain follows a key (or its own level) is not linear */
    if (cls->accepts_key || cls->gain_trace)
      ck_assert_msg(cls->linear == 0, "%s is dynamics but claims to be linear", cls->name);
  }
  ck_assert_int_ge(count, 1);
  ck_assert_ptr_null(mixstage_node_type_name(count));
  ck_assert_ptr_null(mixstage_node_type_name(-1));
}
END_TEST

/* A source from a file: read at the graph rate (a 44.1 kHz file on a 48 kHz
 * graph comes out 48/44.1 as long), plays through the strip, and a missing
 * file or a file wider than the strip is refused naming both. */
START_TEST(test_source_from_file) {
  char dir[] = "/tmp/mixstage-api-XXXXXX";
  ck_assert_ptr_nonnull(mkdtemp(dir));
  char path[256];
  snprintf(path, sizeof path, "%s/tone.wav", dir);
  float tone[2 * 4410];
  for (int i = 0; i < 4410; i++) tone[2 * i] = tone[2 * i + 1] = (float)(0.25 * sin(2 * 3.14159265358979 * 441.0 * i / 44100.0));
  mixstage_write_config wc;
  mixstage_write_config_init(&wc);
  wc.sample_type = MIXSTAGE_SAMPLE_FLOAT32;
  ck_assert_int_eq(mixstage_audio_write(path, tone, 4410, 2, 44100.0, &wc, NULL, NULL, 0), MIXSTAGE_OK);
  int err;
  mixstage_graph *g = mixstage_graph_create(NULL, &err);
  mixstage_strip *st = mixstage_graph_add_strip(g, "Tone", 2, &err);
  mixstage_strip *mono = mixstage_graph_add_strip(g, "Mono", 1, &err);
  ck_assert_int_eq(mixstage_strip_set_source_file(st, path), MIXSTAGE_OK);
  ck_assert_int_eq(mixstage_strip_source_frames(st), 4800);
  ck_assert_int_eq(mixstage_strip_set_source_file(mono, path), MIXSTAGE_ECHANNELS);
  ck_assert(strstr(mixstage_graph_last_error(g), "strip 'Mono'") && strstr(mixstage_graph_last_error(g), "tone.wav"));
  ck_assert_int_eq(mixstage_strip_set_source_file(st, "/nonexistent/x.wav"), MIXSTAGE_ENOTFOUND);
  ck_assert(strstr(mixstage_graph_last_error(g), "strip 'Tone'") && strstr(mixstage_graph_last_error(g), "x.wav"));
  ck_assert_int_eq(mixstage_strip_source_frames(st), 4800); /* the good source stays */
  float out[2 * 4800];
  ck_assert_int_eq(mixstage_graph_render(g, NULL, out, 4800), MIXSTAGE_OK);
  double peak = 0;
  for (int i = 200; i < 4600; i++) peak = fmax(peak, fabs(out[2 * i]));
  ck_assert_double_eq_tol(peak, 0.25, 0.002); /* resampled sine keeps its level */
  mixstage_graph_destroy(g);
  remove(path);
  rmdir(dir);
}
END_TEST

/* Choice parameters by name, and the "did you mean" of unknown names. */
START_TEST(test_choices_by_name) {
  int err = 0;
  mixstage_graph *g = mixstage_graph_create(NULL, &err);
  ck_assert_ptr_nonnull(g);
  mixstage_strip *s = mixstage_graph_add_strip(g, "Vox", 2, &err);
  mixstage_node *eq = mixstage_strip_insert(s, "eq", MIXSTAGE_ROLE_STRIP, -1, &err);
  ck_assert_ptr_nonnull(eq);
  char name[32];
  ck_assert_int_eq(mixstage_node_set_param_choice(eq, "band1_type", "highpass"), MIXSTAGE_OK);
  ck_assert_int_eq(mixstage_node_get_param_choice(eq, "band1_type", name, sizeof name), MIXSTAGE_OK);
  ck_assert_str_eq(name, "highpass");
  double v = -1;
  ck_assert_int_eq(mixstage_node_get_param_by_name(eq, "band1_type", &v), MIXSTAGE_OK);
  ck_assert_double_eq(v, 1.0); /* "off|highpass|..." */
  ck_assert_int_eq(mixstage_node_set_param_choice(eq, "band1_type", "notch"), MIXSTAGE_OK);
  ck_assert_int_eq(mixstage_node_get_param_choice(eq, "band1_type", name, sizeof name), MIXSTAGE_OK);
  ck_assert_str_eq(name, "notch");
  /* a misspelt choice: refused, the value kept, the message helps */
  ck_assert_int_eq(mixstage_node_set_param_choice(eq, "band1_type", "hipass"), MIXSTAGE_ENOTFOUND);
  ck_assert(strstr(mixstage_graph_last_error(g), "did you mean 'highpass'"));
  ck_assert(strstr(mixstage_graph_last_error(g), "lowshelf"));
  ck_assert_int_eq(mixstage_node_get_param_choice(eq, "band1_type", name, sizeof name), MIXSTAGE_OK);
  ck_assert_str_eq(name, "notch");
  /* names compare exactly: a case slip is suggested, not taken */
  ck_assert_int_eq(mixstage_node_set_param_choice(eq, "band1_type", "Bell"), MIXSTAGE_ENOTFOUND);
  ck_assert(strstr(mixstage_graph_last_error(g), "did you mean 'bell'"));
  ck_assert_int_eq(mixstage_node_set_param_choice(eq, "band1_freq", "bell"), MIXSTAGE_EINVAL);
  ck_assert(strstr(mixstage_graph_last_error(g), "band1_freq is not a choice"));
  ck_assert_int_eq(mixstage_node_set_param_choice(eq, "band1_typ", "bell"), MIXSTAGE_ENOTFOUND);
  ck_assert(strstr(mixstage_graph_last_error(g), "did you mean 'band1_type'"));
  ck_assert(strstr(mixstage_graph_last_error(g), "parameters: band1_type, band1_freq"));
  /* nothing close: no suggestion, the list only */
  ck_assert_int_eq(mixstage_node_param_id(eq, "xyzzy"), MIXSTAGE_ENOTFOUND);
  ck_assert(!strstr(mixstage_graph_last_error(g), "did you mean"));
  ck_assert_int_eq(mixstage_node_get_param_choice(eq, "band1_type", name, 3), MIXSTAGE_ERANGE);
  ck_assert_int_eq(mixstage_node_set_param_choice(NULL, "band1_type", "bell"), MIXSTAGE_ENULL);
  ck_assert_int_eq(mixstage_node_set_param_choice(eq, "band1_type", NULL), MIXSTAGE_ENULL);
  ck_assert_int_eq(mixstage_node_get_param_choice(eq, "band1_type", NULL, 0), MIXSTAGE_ENULL);
  mixstage_graph_destroy(g);
}
END_TEST

/* A source callback that edits the graph it is rendered in: refused with
 * MIXSTAGE_ESTATE naming the object, the render unharmed. */
typedef struct editing_source {
  mixstage_graph *g;
  mixstage_strip *s;
  int insert_rc, prepare_rc, locate_rc, send_rc, process_rc, calls;
} editing_source;
static int edit_from_callback(void *user, float *const *planar, int channels, int frames, int64_t pos) {
  editing_source *e = user;
  int err = 0;
  if (e->calls++ == 0) {
    e->insert_rc = mixstage_strip_insert(e->s, "eq", MIXSTAGE_ROLE_STRIP, -1, &err) ? MIXSTAGE_OK : err;
    e->prepare_rc = mixstage_graph_prepare(e->g);
    e->locate_rc = mixstage_graph_locate(e->g, 0);
    float out[2 * 64];
    e->process_rc = mixstage_graph_process(e->g, out, 64);
    e->send_rc = mixstage_strip_set_fader_db(e->s, -6.0); /* control-safe: allowed */
  }
  for (int c = 0; c < channels; c++)
    for (int i = 0; i < frames; i++) planar[c][i] = 0.25f;
  return 0;
}

START_TEST(test_callbacks_cannot_edit_their_graph) {
  int err = 0;
  mixstage_graph *g = mixstage_graph_create(NULL, &err);
  mixstage_strip *s = mixstage_graph_add_strip(g, "Vox", 1, &err);
  editing_source e = {g, s, 1, 1, 1, 1, 1, 0};
  ck_assert_int_eq(mixstage_strip_set_source_callback(s, edit_from_callback, &e, 1, 4800), MIXSTAGE_OK);
  mixstage_render_config rc;
  mixstage_render_config_init(&rc);
  rc.frames = 4800;
  for (int threads = 1; threads <= 2; threads++) {
    e.calls = 0;
    rc.threads = threads;
    int64_t n = mixstage_graph_render_frames(g, &rc);
    float *out = calloc((size_t)n * 2, sizeof *out);
    ck_assert_int_eq(mixstage_graph_render(g, &rc, out, n), MIXSTAGE_OK);
    ck_assert_int_eq(e.insert_rc, MIXSTAGE_ESTATE);
    ck_assert_int_eq(e.prepare_rc, MIXSTAGE_ESTATE);
    ck_assert_int_eq(e.locate_rc, MIXSTAGE_ESTATE);
    ck_assert_int_eq(e.process_rc, MIXSTAGE_ESTATE);
    ck_assert_int_eq(e.send_rc, MIXSTAGE_OK);
    ck_assert_int_eq(mixstage_strip_node_count(s), 0);
    ck_assert(out[2 * 100] != 0.0f); /* the render went on */
    free(out);
  }
  ck_assert(strstr(mixstage_graph_last_error(g), "rendering"));
  /* editable again after the render */
  ck_assert_ptr_nonnull(mixstage_strip_insert(s, "eq", MIXSTAGE_ROLE_STRIP, -1, &err));
  ck_assert_int_eq(mixstage_graph_prepare(g), MIXSTAGE_OK);
  mixstage_graph_destroy(g);
}
END_TEST

static Suite *api_suite(void) {
  Suite *s = suite_create("api");
  TCase *tc = tcase_create("abuse");
  tcase_set_timeout(tc, 120);
  tcase_add_test(tc, test_every_status_has_a_message);
  tcase_add_test(tc, test_roles_and_units);
  tcase_add_test(tc, test_null_handles);
  tcase_add_test(tc, test_out_of_range_config);
  tcase_add_test(tc, test_bad_values_name_the_object);
  tcase_add_test(tc, test_process_buffers_and_state);
  tcase_add_test(tc, test_names_must_be_utf8);
  tcase_add_test(tc, test_callback_source_needs_length);
  tcase_add_test(tc, test_allocation_failure_everywhere);
  tcase_add_test(tc, test_node_types_introspection);
  tcase_add_test(tc, test_source_from_file);
  tcase_add_test(tc, test_choices_by_name);
  tcase_add_test(tc, test_callbacks_cannot_edit_their_graph);
  suite_add_tcase(s, tc);
  return s;
}

int main(void) {
  SRunner *sr = srunner_create(api_suite());
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
