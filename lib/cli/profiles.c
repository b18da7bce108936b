/* mixstage profiles / mixstage info: what a graph holds and what each render
 * profile does to it, in the words of the stem rules. */
#define _POSIX_C_SOURCE 200809L /* clock_gettime, strsignal, fileno */

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

/* ---- the stages of a graph, by role ---------------------------------------------- */

/* For every role, the stages of one graph that carry it ("Kick eq",
 * "Vox -> Plate"), and the graph's sidechain keys, read from the engine.
 * (Source paths are shown as the file spells them, from its canonical JSON.) */
typedef struct stage_list {
  json_t *by_role[MIXSTAGE_ROLE_COUNT]; /* arrays of strings */
  json_t *keys;                         /* "Bass compressor keyed by Kick" */
} stage_list;

static const char *node_words(const mixstage_node *n) {
  const char *t = mixstage_node_type(n);
  if (!strcmp(t, "bus_compressor")) return "bus compressor";
  if (!strcmp(t, "console_color")) return "console colour";
  if (!strcmp(t, "tilt_eq")) return "tilt EQ";
  if (!strcmp(t, "eq")) return "EQ";
  return t;
}

/* One entry per owner and role: "Kick (EQ, compressor)", "Lead -> Plate,
 * Delay" for its sends. */
static void add_owner(stage_list *s, const char *owner, int nnodes, mixstage_node *(*node)(void *, int),
                      int nsends, mixstage_send *(*send)(void *, int), void *obj) {
  for (int r = 0; r < MIXSTAGE_ROLE_COUNT; r++) {
    char buf[512];
    size_t l = 0;
    buf[0] = 0;
    for (int k = 0; k < nnodes && l < sizeof buf; k++) {
      mixstage_node *n = node(obj, k);
      if (mixstage_node_role(n) == r)
        l += (size_t)snprintf(buf + l, sizeof buf - l, "%s%s", l ? ", " : "", node_words(n));
    }
    if (l) {
      char e[640];
      snprintf(e, sizeof e, "%s (%s)", owner, buf);
      json_array_append_new(s->by_role[r], json_string(e));
    }
    l = 0;
    buf[0] = 0;
    for (int k = 0; k < nsends && l < sizeof buf; k++) {
      mixstage_send *sd = send(obj, k);
      if (mixstage_send_role(sd) == r)
        l += (size_t)snprintf(buf + l, sizeof buf - l, "%s%s", l ? " and " : "",
                              mixstage_bus_name(mixstage_send_target(sd)));
    }
    if (l) {
      char e[640];
      snprintf(e, sizeof e, "%s -> %s", owner, buf);
      json_array_append_new(s->by_role[r], json_string(e));
    }
  }
}

static mixstage_node *strip_node(void *s, int k) { return mixstage_strip_node(s, k); }
static mixstage_node *bus_node(void *b, int k) { return mixstage_bus_node(b, k); }
static mixstage_send *strip_send(void *s, int k) { return mixstage_strip_send(s, k); }
static mixstage_send *bus_send(void *b, int k) { return mixstage_bus_send(b, k); }

/* Sidechain keys of one insert chain, from the engine's getters. */
static void collect_keys(stage_list *s, const char *owner, int nnodes, mixstage_node *(*node)(void *, int),
                         void *obj) {
  for (int k = 0; k < nnodes; k++) {
    mixstage_node *n = node(obj, k);
    mixstage_strip *ks = mixstage_node_sidechain_strip(n);
    mixstage_bus *kb = mixstage_node_sidechain_bus(n);
    if (!ks && !kb) continue;
    int tap = mixstage_node_sidechain_tap(n);
    char buf[256];
    snprintf(buf, sizeof buf, "%s %s keyed by %s (%s)", owner, mixstage_node_type(n),
             ks ? mixstage_strip_name(ks) : mixstage_bus_name(kb),
             tap == MIXSTAGE_TAP_POST_FADER ? "post-fader" : "pre-fader");
    json_array_append_new(s->keys, json_string(buf));
  }
}

static void stages_init(stage_list *s, mixstage_graph *g) {
  for (int r = 0; r < MIXSTAGE_ROLE_COUNT; r++) s->by_role[r] = json_array();
  s->keys = json_array();
  if (!g) return;
  for (int i = 0; i < mixstage_graph_strip_count(g); i++) {
    mixstage_strip *st = mixstage_graph_strip(g, i);
    add_owner(s, mixstage_strip_name(st), mixstage_strip_node_count(st), strip_node,
              mixstage_strip_send_count(st), strip_send, st);
    collect_keys(s, mixstage_strip_name(st), mixstage_strip_node_count(st), strip_node, st);
  }
  for (int b = 0; b < mixstage_graph_bus_count(g); b++) {
    mixstage_bus *bus = mixstage_graph_bus(g, b);
    add_owner(s, mixstage_bus_name(bus), mixstage_bus_node_count(bus), bus_node, mixstage_bus_send_count(bus),
              bus_send, bus);
    collect_keys(s, mixstage_bus_name(bus), mixstage_bus_node_count(bus), bus_node, bus);
  }
}

static void stages_free(stage_list *s) {
  for (int r = 0; r < MIXSTAGE_ROLE_COUNT; r++) json_decref(s->by_role[r]);
  json_decref(s->keys);
}

/* ---- producer words ------------------------------------------------------------------ */

static const char *const ROLE_WORDS[MIXSTAGE_ROLE_COUNT] = {
    "channel-strip processing", "sound-design effects", "sends to the shared reverb and delay returns",
    "mix-bus console colour", "mix-bus glue (tape) compression", "the placeholder limiter",
    "the mastering chain",
};

/* What each role covers, for a listing without a graph to name stages. */
static const char *const ROLE_EXAMPLES[MIXSTAGE_ROLE_COUNT] = {
    "clip gain, EQ, compression, saturation, gate, fader, pan",
    "a reverb or delay that is part of a sound, the room in a sample",
    "plate and delay returns fed by sends",
    "console emulation, the first mix-bus stage",
    "the slow bus compressor",
    "the brickwall limiter kept on the mix bus to hear the song loud",
    "final EQ, multiband dynamics, width, the loudness-targeted true-peak limiter",
};

static const char *const ACTION_NAMES[3] = {"on", "bypass", "mute"};
static const char *const ACTION_VERBS[3] = {"kept", "bypassed", "muted"};

/* Why the action matters for this role in this profile, as a mix engineer
 * would say it; "" when the verb says it all. */
static const char *action_reason(const mixstage_profile *p, int role, int action) {
  int stems = mixstage_profile_stems(p) != MIXSTAGE_STEMS_NONE;
  if (action == MIXSTAGE_ACTION_ON) {
    if (stems && role == MIXSTAGE_ROLE_STRIP) return "printed into each stem";
    if (stems && role == MIXSTAGE_ROLE_DESIGN) return "kept in the stem";
    if (stems && role == MIXSTAGE_ROLE_BUS_COLOR) return "applied to each stem on its own";
    return "";
  }
  if (action == MIXSTAGE_ACTION_BYPASS) {
    if (role == MIXSTAGE_ROLE_MASTERING) return "not part of this render";
    if (role == MIXSTAGE_ROLE_BUS_DYNAMICS && stems) return "it cannot be undone later; the mix adds its own";
    if (role == MIXSTAGE_ROLE_PLACEHOLDER_LIMITER && stems) return "stems never carry mix-bus limiting";
    if (role == MIXSTAGE_ROLE_PLACEHOLDER_LIMITER &&
        mixstage_profile_action(p, MIXSTAGE_ROLE_MASTERING) == MIXSTAGE_ACTION_ON)
      return "the mastering limiter takes its place";
    return "passed through, latency kept";
  }
  if (role == MIXSTAGE_ROLE_MIX_FX && stems) return "no shared reverb or delay in any stem";
  return "silenced";
}

static const char *stems_name(int stems) {
  return stems == MIXSTAGE_STEMS_PER_STRIP ? "per-strip" : stems == MIXSTAGE_STEMS_PER_GROUP ? "per-group" : "none";
}

static void delivers_words(const mixstage_profile *p, char *buf, size_t size) {
  size_t l = 0;
  buf[0] = 0;
#define ADD(s) l += (size_t)snprintf(buf + (l < size ? l : size), l < size ? size - l : 0, "%s%s", l ? ", " : "", s)
  if (mixstage_profile_mix(p)) ADD("the mix");
  if (mixstage_profile_stems(p) == MIXSTAGE_STEMS_PER_STRIP) ADD("one stem per strip");
  if (mixstage_profile_stems(p) == MIXSTAGE_STEMS_PER_GROUP)
    ADD("one stem per group bus (and per strip routed straight to the mix bus)");
  if (mixstage_profile_fx_stems(p)) ADD("the FX returns as their own stems");
  if (mixstage_profile_reference(p)) ADD("the production mix as the reference for A/B");
#undef ADD
  if (!buf[0]) snprintf(buf, size, "nothing");
}

static void describe(const stage_list *s, int have_graph, const mixstage_profile *p, FILE *out,
                     const char *indent) {
  static const char *const head[3] = {"keeps", "bypasses", "mutes"};
  for (int a = 0; a < 3; a++) {
    int first = 1;
    for (int r = 0; r < MIXSTAGE_ROLE_COUNT; r++) {
      if (mixstage_profile_action(p, r) != a) continue;
      size_t n = json_array_size(s->by_role[r]);
      if (have_graph && n == 0) continue; /* the file has no such stage */
      const char *h = head[a];
      if (r == MIXSTAGE_ROLE_MASTERING && a == MIXSTAGE_ACTION_BYPASS) h = "leaves out";
      const char *why = action_reason(p, r, a);
      fprintf(out, "%s%-10s %s [%s]%s%s: ", indent, first || h != head[a] ? h : "", ROLE_WORDS[r],
              mixstage_role_name(r), *why ? ", " : "", why);
      if (!have_graph) fputs(ROLE_EXAMPLES[r], out);
      for (size_t k = 0; k < n; k++)
        fprintf(out, "%s%s", k ? ", " : "", json_string_value(json_array_get(s->by_role[r], k)));
      fputc('\n', out);
      first = 0;
    }
  }
  /* Sidechain keys are not a role: production ducking stays in every profile. */
  size_t nk = json_array_size(s->keys);
  if (!have_graph || nk) {
    fprintf(out, "%s%-10s production sidechain ducking%s: ", indent, "keeps",
            mixstage_profile_stems(p) != MIXSTAGE_STEMS_NONE
                ? ", baked into the stems, keyed by the production signal even when the key is not in the stem"
                : "");
    if (!have_graph) fputs("a compressor or gate keyed by another strip", out);
    for (size_t k = 0; k < nk; k++)
      fprintf(out, "%s%s", k ? ", " : "", json_string_value(json_array_get(s->keys, k)));
    fputc('\n', out);
  }
  char d[512];
  delivers_words(p, d, sizeof d);
  fprintf(out, "%s%-10s %s\n", indent, "delivers", d);
}

static json_t *profile_json(const stage_list *s, const mixstage_profile *p, int builtin) {
  json_t *o = json_object();
  json_object_set_new(o, "name", json_string(mixstage_profile_name(p)));
  json_object_set_new(o, "builtin", json_boolean(builtin));
  json_t *roles = json_object();
  for (int r = 0; r < MIXSTAGE_ROLE_COUNT; r++) {
    int a = mixstage_profile_action(p, r);
    json_t *ro = json_object();
    json_object_set_new(ro, "action", json_string(a >= 0 && a < 3 ? ACTION_NAMES[a] : "?"));
    json_object_set_new(ro, "what", json_string(ROLE_WORDS[r]));
    json_object_set_new(ro, "covers", json_string(ROLE_EXAMPLES[r]));
    const char *why = a >= 0 && a < 3 ? action_reason(p, r, a) : "";
    char m[256];
    snprintf(m, sizeof m, "%s%s%s", a >= 0 && a < 3 ? ACTION_VERBS[a] : "?", *why ? ": " : "", why);
    json_object_set_new(ro, "meaning", json_string(m));
    json_object_set(ro, "stages", s->by_role[r]);
    json_object_set_new(roles, mixstage_role_name(r), ro);
  }
  json_object_set_new(o, "roles", roles);
  json_object_set(o, "sidechain_keys", s->keys);
  json_object_set_new(o, "stems", json_string(stems_name(mixstage_profile_stems(p))));
  json_object_set_new(o, "fx_stems", json_boolean(mixstage_profile_fx_stems(p)));
  json_object_set_new(o, "mix", json_boolean(mixstage_profile_mix(p)));
  json_object_set_new(o, "reference", json_boolean(mixstage_profile_reference(p)));
  char d[512];
  delivers_words(p, d, sizeof d);
  json_object_set_new(o, "delivers", json_string(d));
  return o;
}

/* Every profile (built-ins, then the file's) described or as JSON. */
static json_t *all_profiles(mixstage_graphfile *doc, json_t *canon, int json, const char *indent) {
  stage_list s;
  mixstage_graph *g = doc ? mixstage_graphfile_graph(doc) : NULL;
  stages_init(&s, g);
  json_t *arr = json ? json_array() : NULL;
  int ncustom = doc ? mixstage_graphfile_profile_count(doc) : 0;
  for (int i = 0;; i++) {
    const mixstage_profile *p = mixstage_profile_builtin(i);
    int builtin = p != NULL;
    if (!p) {
      if (i - 3 >= ncustom) break;
      p = mixstage_graphfile_profile(doc, i - 3);
      if (!p) break;
    }
    if (json) {
      json_array_append_new(arr, profile_json(&s, p, builtin));
    } else {
      printf("%s%s%s\n", indent, mixstage_profile_name(p), builtin ? " (built-in)" : " (custom, from the file)");
      char ind[64];
      snprintf(ind, sizeof ind, "%s  ", indent);
      describe(&s, g != NULL, p, stdout, ind);
    }
  }
  stages_free(&s);
  return arr;
}

/* Loads FILE for profiles/info; prints the loader's message on failure (on
 * stderr, and with --json as the document on stdout too). */
static mixstage_graphfile *load_doc(const char *cmd, const char *path, const cli_common *c, json_t **canon,
                                    int *exit_code) {
  char msg[1024];
  int err;
  mixstage_graphfile *doc = mixstage_graphfile_load(path, NULL, msg, sizeof msg, &err);
  if (!doc) {
    if (!msg[0]) snprintf(msg, sizeof msg, "%s: %s", path, mixstage_strerror(err));
    cli_hint_load_error(msg, sizeof msg);
    cli_error("%s", msg);
    *exit_code = err == MIXSTAGE_ENOMEM ? CLI_EXIT_FAILED : CLI_EXIT_INVALID;
    if (c->json) cli_print_json_error(cmd, path, *exit_code, err, msg);
    return NULL;
  }
  char *text = mixstage_graphfile_to_string(doc);
  *canon = text ? json_loads(text, 0, NULL) : NULL;
  mixstage_free(text);
  if (!*canon) {
    cli_error("%s: out of memory", path);
    mixstage_graphfile_destroy(doc);
    *exit_code = CLI_EXIT_FAILED;
    return NULL;
  }
  return doc;
}

/* Parses [FILE] [--json] [--quiet]; returns -1 on success, else an exit code. */
static int parse_simple(const char *cmd, int argc, char **argv, int need_file, const char **file,
                        cli_common *c, int *names) {
  *file = NULL;
  int dashdash = 0;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (!dashdash && !strcmp(a, "--")) dashdash = 1;
    else if (!dashdash && names && !strcmp(a, "--names")) *names = 1;
    else if (!dashdash && !strcmp(a, "--json")) c->json = 1;
    else if (!dashdash && (!strcmp(a, "--quiet") || !strcmp(a, "-q"))) c->quiet = 1;
    else if (!dashdash && a[0] == '-' && a[1]) return cli_usage_error(cmd, "%s: unknown option '%s'", cmd, a);
    else if (*file) return cli_usage_error(cmd, "%s takes one graph file", cmd);
    else *file = a;
  }
  if (need_file && !*file) return cli_usage_error(cmd, "%s: no graph file given", cmd);
  return -1;
}

int cli_cmd_profiles(int argc, char **argv) {
  const char *file;
  cli_common c = {0, 0};
  int names = 0;
  int rc = parse_simple("profiles", argc, argv, 0, &file, &c, &names);
  if (rc >= 0) return rc;
  json_t *canon = NULL;
  mixstage_graphfile *doc = NULL;
  if (file && !(doc = load_doc("profiles", file, &c, &canon, &rc))) return rc;
  if (names) {
    for (int i = 0; mixstage_profile_builtin(i); i++) puts(mixstage_profile_name(mixstage_profile_builtin(i)));
    for (int i = 0; doc && i < mixstage_graphfile_profile_count(doc); i++)
      puts(mixstage_profile_name(mixstage_graphfile_profile(doc, i)));
    json_decref(canon);
    mixstage_graphfile_destroy(doc);
    return CLI_EXIT_OK;
  }
  json_t *arr = all_profiles(doc, canon, c.json, "");
  if (c.json) {
    json_t *o = json_object();
    if (file) json_object_set_new(o, "file", json_string(file));
    json_object_set_new(o, "profiles", arr);
    if (cli_print_json(o) < 0) rc = CLI_EXIT_FAILED;
  }
  json_decref(canon);
  mixstage_graphfile_destroy(doc);
  return rc >= 0 ? rc : CLI_EXIT_OK;
}

/* ---- info --------------------------------------------------------------------------------- */

static json_t *find_named(json_t *arr, const char *name) {
  size_t i;
  json_t *o;
  json_array_foreach(arr, i, o) {
    const char *n = json_string_value(json_object_get(o, "name"));
    if (n && !strcmp(n, name)) return o;
  }
  return NULL;
}

static const char *tap_name(int tap) { return tap == MIXSTAGE_TAP_PRE_FADER ? "pre-fader" : "post-fader"; }

static const char *kind_name(int kind) {
  return kind == MIXSTAGE_BUS_MIX ? "mix" : kind == MIXSTAGE_BUS_RETURN ? "return" : "group";
}

/* Inserts of a strip or bus: engine getters plus the file's sidechain. */
static json_t *inserts_json(int count, mixstage_node *(*get)(void *, int), void *owner, json_t *cinserts) {
  json_t *arr = json_array();
  for (int k = 0; k < count; k++) {
    mixstage_node *n = get(owner, k);
    json_t *o = json_object();
    json_object_set_new(o, "type", json_string(mixstage_node_type(n)));
    json_object_set_new(o, "role", json_string(mixstage_role_name(mixstage_node_role(n))));
    json_object_set_new(o, "bypass", json_boolean(mixstage_node_bypass(n)));
    json_object_set_new(o, "latency_frames", json_integer(mixstage_node_latency(n)));
    json_t *sc = json_object_get(json_array_get(cinserts, (size_t)k), "sidechain");
    json_object_set_new(o, "sidechain", sc ? json_deep_copy(sc) : json_null());
    json_array_append_new(arr, o);
  }
  return arr;
}

static json_t *sends_json(int count, mixstage_send *(*get)(void *, int), void *owner) {
  json_t *arr = json_array();
  for (int k = 0; k < count; k++) {
    mixstage_send *sd = get(owner, k);
    json_t *o = json_object();
    json_object_set_new(o, "to", json_string(mixstage_bus_name(mixstage_send_target(sd))));
    json_object_set_new(o, "level_db", json_real(mixstage_send_level_db(sd)));
    json_object_set_new(o, "tap", json_string(tap_name(mixstage_send_tap(sd))));
    json_object_set_new(o, "role", json_string(mixstage_role_name(mixstage_send_role(sd))));
    json_object_set_new(o, "mute", json_boolean(mixstage_send_mute(sd)));
    json_array_append_new(arr, o);
  }
  return arr;
}

static json_t *lane_names(json_t *lanes) {
  json_t *arr = json_array();
  const char *key;
  json_t *v;
  json_object_foreach(lanes, key, v) {
    json_t *o = json_object();
    json_object_set_new(o, "param", json_string(key));
    json_object_set_new(o, "points", json_integer((json_int_t)json_array_size(v)));
    json_array_append_new(arr, o);
  }
  return arr;
}

/* The info document; printed as text from the same data so both agree. */
static json_t *info_json(const char *file, mixstage_graphfile *doc, json_t *canon, int *rc) {
  mixstage_graph *g = mixstage_graphfile_graph(doc);
  double rate = mixstage_graph_sample_rate(g);
  json_t *o = json_object();
  json_object_set_new(o, "file", json_string(file));
  json_object_set(o, "version", json_object_get(canon, "version"));
  json_object_set_new(o, "sample_rate", json_real(rate));
  json_object_set_new(o, "tempo_bpm", json_real(mixstage_graph_tempo(g)));
  json_object_set_new(o, "max_block", json_integer(mixstage_graph_max_block(g)));
  json_object_set_new(o, "mix_channels", json_integer(mixstage_bus_channels(mixstage_graph_mix_bus(g))));

  int prc = mixstage_graph_prepare(g);
  if (prc < 0) {
    cli_error("%s: %s", file, mixstage_graph_last_error(g));
    *rc = CLI_EXIT_INVALID;
  }
  mixstage_render_config rc0;
  mixstage_render_config_init(&rc0);
  rc0.max_tail_frames = 0;
  int64_t program = prc < 0 ? -1 : mixstage_graph_render_frames(g, &rc0);
  int64_t full = prc < 0 ? -1 : mixstage_graph_render_frames(g, NULL);
  json_object_set_new(o, "program_frames", program >= 0 ? json_integer(program) : json_null());
  json_object_set_new(o, "program_seconds", program >= 0 ? json_real((double)program / rate) : json_null());
  json_object_set_new(o, "render_frames", full >= 0 ? json_integer(full) : json_null());
  json_object_set_new(o, "render_seconds", full >= 0 ? json_real((double)full / rate) : json_null());
  int lat = prc < 0 ? 0 : mixstage_graph_latency(g);
  json_object_set_new(o, "latency_frames", prc < 0 ? json_null() : json_integer(lat));
  json_object_set_new(o, "latency_ms", prc < 0 ? json_null() : json_real(1000.0 * lat / rate));

  json_t *strips = json_array();
  json_t *cstrips = json_object_get(canon, "strips");
  for (int i = 0; i < mixstage_graph_strip_count(g); i++) {
    mixstage_strip *st = mixstage_graph_strip(g, i);
    json_t *cs = find_named(cstrips, mixstage_strip_name(st));
    json_t *s = json_object();
    json_object_set_new(s, "name", json_string(mixstage_strip_name(st)));
    json_object_set_new(s, "channels", json_integer(mixstage_strip_channels(st)));
    json_t *src = json_object_get(cs, "source");
    json_object_set_new(s, "source", src ? json_deep_copy(src) : json_null());
    json_object_set_new(s, "source_frames", json_integer(mixstage_strip_source_frames(st)));
    json_object_set_new(s, "output", json_string(mixstage_bus_name(mixstage_strip_output(st))));
    json_object_set_new(s, "clip_gain_db", json_real(mixstage_strip_clip_gain_db(st)));
    json_object_set_new(s, "fader_db", json_real(mixstage_strip_fader_db(st)));
    json_object_set_new(s, "pan", json_real(mixstage_strip_pan(st)));
    json_object_set_new(s, "width", json_real(mixstage_strip_width(st)));
    json_object_set_new(s, "mute", json_boolean(mixstage_strip_mute(st)));
    json_object_set_new(s, "solo", json_boolean(mixstage_strip_solo(st)));
    json_object_set_new(s, "polarity_inverted", json_boolean(mixstage_strip_polarity(st)));
    json_object_set_new(s, "inserts", inserts_json(mixstage_strip_node_count(st), strip_node, st,
                                                   json_object_get(cs, "inserts")));
    json_object_set_new(s, "sends", sends_json(mixstage_strip_send_count(st), strip_send, st));
    json_object_set_new(s, "automation", lane_names(json_object_get(cs, "lanes")));
    json_array_append_new(strips, s);
  }
  json_object_set_new(o, "strips", strips);

  json_t *buses = json_array();
  json_t *cbuses = json_object_get(canon, "buses");
  for (int b = 0; b < mixstage_graph_bus_count(g); b++) {
    mixstage_bus *bus = mixstage_graph_bus(g, b);
    json_t *cb = b == 0 ? json_object_get(canon, "mix") : find_named(cbuses, mixstage_bus_name(bus));
    json_t *j = json_object();
    json_object_set_new(j, "name", json_string(mixstage_bus_name(bus)));
    json_object_set_new(j, "kind", json_string(kind_name(mixstage_bus_kind_of(bus))));
    json_object_set_new(j, "channels", json_integer(mixstage_bus_channels(bus)));
    mixstage_bus *out = b == 0 ? NULL : mixstage_bus_output(bus);
    json_object_set_new(j, "output", out ? json_string(mixstage_bus_name(out)) : json_null());
    json_object_set_new(j, "fader_db", json_real(mixstage_bus_fader_db(bus)));
    json_object_set_new(j, "mute", json_boolean(mixstage_bus_mute(bus)));
    /* Who feeds it: strips and buses routed here, and sends to it. */
    json_t *fed = json_array();
    for (int i = 0; i < mixstage_graph_strip_count(g); i++) {
      mixstage_strip *st = mixstage_graph_strip(g, i);
      if (mixstage_strip_output(st) == bus) json_array_append_new(fed, json_string(mixstage_strip_name(st)));
      for (int k = 0; k < mixstage_strip_send_count(st); k++)
        if (mixstage_send_target(mixstage_strip_send(st, k)) == bus) {
          char buf[160];
          snprintf(buf, sizeof buf, "%s (send)", mixstage_strip_name(st));
          json_array_append_new(fed, json_string(buf));
        }
    }
    for (int c = 1; c < mixstage_graph_bus_count(g); c++) {
      mixstage_bus *ob = mixstage_graph_bus(g, c);
      if (mixstage_bus_output(ob) == bus) json_array_append_new(fed, json_string(mixstage_bus_name(ob)));
      for (int k = 0; k < mixstage_bus_send_count(ob); k++)
        if (mixstage_send_target(mixstage_bus_send(ob, k)) == bus) {
          char buf[160];
          snprintf(buf, sizeof buf, "%s (send)", mixstage_bus_name(ob));
          json_array_append_new(fed, json_string(buf));
        }
    }
    json_object_set_new(j, "fed_by", fed);
    json_object_set_new(j, "inserts", inserts_json(mixstage_bus_node_count(bus), bus_node, bus,
                                                   json_object_get(cb, "inserts")));
    json_object_set_new(j, "sends", sends_json(mixstage_bus_send_count(bus), bus_send, bus));
    json_object_set_new(j, "automation", lane_names(json_object_get(cb, "lanes")));
    json_array_append_new(buses, j);
  }
  json_object_set_new(o, "buses", buses);

  json_t *keys = json_array();
  stage_list s;
  stages_init(&s, g);
  json_array_extend(keys, s.keys);
  stages_free(&s);
  json_object_set_new(o, "sidechain_keys", keys);
  return o;
}

static void print_inserts(json_t *inserts, const char *indent) {
  size_t k;
  json_t *n;
  if (!json_array_size(inserts)) return;
  printf("%sinserts   ", indent);
  json_array_foreach(inserts, k, n) {
    printf("%s%zu. %s [%s]", k ? "  " : "", k + 1, json_string_value(json_object_get(n, "type")),
           json_string_value(json_object_get(n, "role")));
    if (json_is_true(json_object_get(n, "bypass"))) printf(" (bypassed)");
    json_int_t lat = json_integer_value(json_object_get(n, "latency_frames"));
    if (lat) printf(" (%lld frames latency)", (long long)lat);
    json_t *sc = json_object_get(n, "sidechain");
    if (json_is_object(sc)) {
      const char *key = json_string_value(json_object_get(sc, "strip"));
      if (!key) key = json_string_value(json_object_get(sc, "bus"));
      printf(" keyed by %s (%s)", key ? key : "?", json_string_value(json_object_get(sc, "tap")));
    }
  }
  putchar('\n');
}

static void print_sends(json_t *sends, const char *indent) {
  size_t k;
  json_t *sd;
  json_array_foreach(sends, k, sd) {
    printf("%s%s-> %s %+.1f dB %s [%s]%s\n", indent, k ? "          " : "sends     ",
           json_string_value(json_object_get(sd, "to")), json_real_value(json_object_get(sd, "level_db")),
           json_string_value(json_object_get(sd, "tap")), json_string_value(json_object_get(sd, "role")),
           json_is_true(json_object_get(sd, "mute")) ? " (muted)" : "");
  }
}

static void print_lanes(json_t *lanes, const char *indent) {
  size_t k;
  json_t *l;
  if (!json_array_size(lanes)) return;
  printf("%sautomation", indent);
  json_array_foreach(lanes, k, l)
      printf("%s%s (%lld points)", k ? ", " : " ", json_string_value(json_object_get(l, "param")),
             (long long)json_integer_value(json_object_get(l, "points")));
  putchar('\n');
}

static void print_info(json_t *o) {
  double rate = json_real_value(json_object_get(o, "sample_rate"));
  printf("%s\n", json_string_value(json_object_get(o, "file")));
  printf("  format version %lld, %.0f Hz, %.6g BPM, blocks of %lld frames, mix bus %lld channels\n",
         (long long)json_integer_value(json_object_get(o, "version")), rate,
         json_real_value(json_object_get(o, "tempo_bpm")),
         (long long)json_integer_value(json_object_get(o, "max_block")),
         (long long)json_integer_value(json_object_get(o, "mix_channels")));
  json_t *pf = json_object_get(o, "program_frames"), *rf = json_object_get(o, "render_frames");
  if (json_is_integer(pf) && json_is_integer(rf))
    printf("  length    %.3f s program (%lld frames); %.3f s rendered with tails\n",
           (double)json_integer_value(pf) / rate, (long long)json_integer_value(pf),
           (double)json_integer_value(rf) / rate);
  else
    printf("  length    unknown (no source with a known length)\n");
  json_t *lat = json_object_get(o, "latency_frames");
  if (json_is_integer(lat))
    printf("  latency   %lld frames (%.2f ms), compensated in every render\n", (long long)json_integer_value(lat),
           json_real_value(json_object_get(o, "latency_ms")));

  json_t *strips = json_object_get(o, "strips");
  printf("\nstrips (%zu)\n", json_array_size(strips));
  size_t i;
  json_t *s;
  const char *ind = "            ";
  json_array_foreach(strips, i, s) {
    json_t *src = json_object_get(s, "source");
    printf("  %-9s %lld ch, source %s", json_string_value(json_object_get(s, "name")),
           (long long)json_integer_value(json_object_get(s, "channels")),
           json_is_string(src) ? json_string_value(src) : "(none)");
    json_int_t sf = json_integer_value(json_object_get(s, "source_frames"));
    if (sf > 0) printf(" (%.3f s)", (double)sf / rate);
    printf(" -> %s\n", json_string_value(json_object_get(s, "output")));
    printf("%sclip gain %+.1f dB, fader %+.1f dB, pan %+.2f, width %.2f%s%s%s\n", ind,
           json_real_value(json_object_get(s, "clip_gain_db")), json_real_value(json_object_get(s, "fader_db")),
           json_real_value(json_object_get(s, "pan")), json_real_value(json_object_get(s, "width")),
           json_is_true(json_object_get(s, "mute")) ? ", muted" : "",
           json_is_true(json_object_get(s, "solo")) ? ", soloed" : "",
           json_is_true(json_object_get(s, "polarity_inverted")) ? ", polarity inverted" : "");
    print_inserts(json_object_get(s, "inserts"), ind);
    print_sends(json_object_get(s, "sends"), ind);
    print_lanes(json_object_get(s, "automation"), ind);
  }
  json_t *buses = json_object_get(o, "buses");
  printf("\nbuses (%zu)\n", json_array_size(buses));
  json_array_foreach(buses, i, s) {
    json_t *out = json_object_get(s, "output");
    printf("  %-9s %s, %lld ch%s%s", json_string_value(json_object_get(s, "name")),
           json_string_value(json_object_get(s, "kind")), (long long)json_integer_value(json_object_get(s, "channels")),
           json_is_string(out) ? " -> " : "", json_is_string(out) ? json_string_value(out) : "");
    json_t *fed = json_object_get(s, "fed_by");
    size_t k;
    json_t *f;
    json_array_foreach(fed, k, f) printf("%s%s", k ? ", " : ", fed by ", json_string_value(f));
    putchar('\n');
    print_inserts(json_object_get(s, "inserts"), ind);
    print_sends(json_object_get(s, "sends"), ind);
    print_lanes(json_object_get(s, "automation"), ind);
  }
  json_t *keys = json_object_get(o, "sidechain_keys");
  if (json_array_size(keys)) {
    printf("\nsidechain keys\n");
    json_array_foreach(keys, i, s) printf("  %s\n", json_string_value(s));
  }
}

int cli_cmd_info(int argc, char **argv) {
  const char *file;
  cli_common c = {0, 0};
  int rc = parse_simple("info", argc, argv, 1, &file, &c, NULL);
  if (rc >= 0) return rc;
  json_t *canon = NULL;
  mixstage_graphfile *doc = load_doc("info", file, &c, &canon, &rc);
  if (!doc) return rc;
  rc = CLI_EXIT_OK;
  json_t *o = info_json(file, doc, canon, &rc);
  if (c.json) {
    json_object_set_new(o, "profiles", all_profiles(doc, canon, 1, ""));
    if (cli_print_json(o) < 0 && rc == CLI_EXIT_OK) rc = CLI_EXIT_FAILED;
  } else {
    if (!c.quiet) {
      print_info(o);
      printf("\nprofiles\n");
      all_profiles(doc, canon, 0, "  ");
    }
    json_decref(o);
  }
  json_decref(canon);
  mixstage_graphfile_destroy(doc);
  return rc;
}
