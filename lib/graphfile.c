/* Graph files: a whole graph as JSON (jansson), loaded with validation that
 * names the place in the file, saved canonically.  See docs/graph-format.md.
 *
 * Loading builds the graph in one pass over the document in dependency order
 * (buses, strips, routing, inserts, sends, sidechains, lanes, profiles) and
 * checks every value before handing it to the engine, so the engine's own
 * refusals are only a second line of defence; any failure destroys the
 * partly built graph.  Edit-time code throughout: it allocates and does I/O. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mixstage.h"
#include "mixstage/graphfile.h"

#define FORMAT_NAME "mixstage-graph"
#define PATH_MAX_LEN 256

struct mixstage_graphfile {
  mixstage_graph *graph;
  /* Saving reads everything about the graph from the engine's getters; the
   * document adds only what the engine cannot know: the directory source
   * paths are written relative to (the loaded file's; NULL: as given), the
   * paths recorded for strips without a file source, and the profiles. */
  char *base_dir;
  uint64_t *path_strips; /* strips by serial: a removed strip's never matches */
  char **paths;
  int npaths;
  mixstage_profile **profiles;
  char **bases;
  int nprofiles;
};

/* ---- messages ------------------------------------------------------------ */

typedef struct ctx {
  char *err;
  size_t errlen;
  int status;
  const char *base_dir;
  mixstage_graph *g;
} ctx;

/* Records the first error as "PATH: MESSAGE" and returns its status. */
static int bad(ctx *c, int status, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int bad(ctx *c, int status, const char *path, const char *fmt, ...) {
  if (c->status != MIXSTAGE_OK) return c->status;
  c->status = status;
  if (c->err && c->errlen) {
    int k = path && *path ? snprintf(c->err, c->errlen, "%s: ", path) : 0;
    if (k < 0) k = 0;
    if ((size_t)k < c->errlen) {
      va_list ap;
      va_start(ap, fmt);
      vsnprintf(c->err + k, c->errlen - (size_t)k, fmt, ap);
      va_end(ap);
    }
  }
  return status;
}

/* Shortest "%.Ng" that reads back as the same double, so saved files keep
 * every value exactly and stay readable (0.1, not 0.10000000000000001). */
static void fmt_num(char *buf, size_t n, double v) {
  /* -0 would reload as the integer 0 (JSON integers have no sign of zero),
   * so save -> load -> save would not be a fixed point: write it as 0. */
  if (v == 0.0) v = 0.0;
  /* Whole numbers as integers ("50", not "5e+01"); exact below 2^53. */
  if (v == floor(v) && fabs(v) < 1e15) {
    snprintf(buf, n, "%.0f", v);
    return;
  }
  for (int prec = 1; prec <= 17; prec++) {
    snprintf(buf, n, "%.*g", prec, v);
    if (strtod(buf, NULL) == v) return;
  }
}

/* For messages: integral values keep a ".0" so "1.0" reads as a number. */
static const char *msg_num(char *buf, size_t n, double v) {
  fmt_num(buf, n, v);
  if (!strpbrk(buf, ".eEn") && strlen(buf) + 3 < n) strcat(buf, ".0");
  return buf;
}

static const char *type_word(const json_t *j) {
  switch (json_typeof(j)) {
  case JSON_OBJECT: return "an object";
  case JSON_ARRAY: return "an array";
  case JSON_STRING: return "a string";
  case JSON_INTEGER:
  case JSON_REAL: return "a number";
  case JSON_TRUE:
  case JSON_FALSE: return "a boolean";
  default: return "null";
  }
}

/* JSON paths longer than PATH_MAX_LEN are cut short with "...": only
 * messages use them. */
static void cut(char *out, int n) {
  if (n >= PATH_MAX_LEN) memcpy(out + PATH_MAX_LEN - 4, "...", 4);
}

static void subpath(char *out, const char *path, const char *key) {
  if (path && *path) cut(out, snprintf(out, PATH_MAX_LEN, "%s.%s", path, key));
  else cut(out, snprintf(out, PATH_MAX_LEN, "%s", key));
}

static void subindex(char *out, const char *path, const char *key, size_t i) {
  if (path && *path) cut(out, snprintf(out, PATH_MAX_LEN, "%s.%s[%zu]", path, key, i));
  else cut(out, snprintf(out, PATH_MAX_LEN, "%s[%zu]", key, i));
}

/* ---- typed field readers ----------------------------------------------- */

static int check_object(ctx *c, const json_t *j, const char *path) {
  if (!json_is_object(j)) return bad(c, MIXSTAGE_EFORMAT, path, "expected an object, got %s", type_word(j));
  return MIXSTAGE_OK;
}

/* Unknown keys are errors: a misspelt key silently ignored is a mix that
 * renders wrong without anyone noticing. */
static int check_keys(ctx *c, const json_t *obj, const char *path, const char *const *allowed) {
  const char *key;
  json_t *v;
  json_object_foreach((json_t *)obj, key, v) {
    int ok = 0;
    for (int i = 0; allowed[i]; i++)
      if (strcmp(key, allowed[i]) == 0) ok = 1;
    if (!ok) {
      char p[PATH_MAX_LEN], list[512] = "";
      size_t k = 0;
      for (int i = 0; allowed[i] && k < sizeof list; i++)
        k += (size_t)snprintf(list + k, sizeof list - k, "%s%s", i ? ", " : "", allowed[i]);
      subpath(p, path, key);
      return bad(c, MIXSTAGE_EFORMAT, p, "unknown key (allowed: %s)", list);
    }
  }
  return MIXSTAGE_OK;
}

static int range_check(ctx *c, const char *p, double v, double lo, double hi) {
  char a[40], b[40];
  if (v < lo) return bad(c, MIXSTAGE_EFORMAT, p, "%s is below the minimum %s", msg_num(a, sizeof a, v), msg_num(b, sizeof b, lo));
  if (v > hi) return bad(c, MIXSTAGE_EFORMAT, p, "%s is above the maximum %s", msg_num(a, sizeof a, v), msg_num(b, sizeof b, hi));
  return MIXSTAGE_OK;
}

static int get_num(ctx *c, const json_t *obj, const char *path, const char *key, double lo, double hi,
                   double def, double *out) {
  char p[PATH_MAX_LEN];
  json_t *j = json_object_get(obj, key);
  *out = def;
  if (!j) return MIXSTAGE_OK;
  double v = json_is_number(j) ? json_number_value(j) : 0.0;
  if (json_is_number(j) && isfinite(v) && v >= lo && v <= hi) { /* the common case: no path to format */
    *out = v;
    return MIXSTAGE_OK;
  }
  subpath(p, path, key);
  if (!json_is_number(j)) return bad(c, MIXSTAGE_EFORMAT, p, "expected a number, got %s", type_word(j));
  if (!isfinite(v)) return bad(c, MIXSTAGE_EFORMAT, p, "not a finite number");
  return range_check(c, p, v, lo, hi);
}

static int get_int(ctx *c, const json_t *obj, const char *path, const char *key, long long lo, long long hi,
                   long long def, int required, long long *out) {
  char p[PATH_MAX_LEN];
  json_t *j = json_object_get(obj, key);
  *out = def;
  if (j && json_is_integer(j) && json_integer_value(j) >= lo && json_integer_value(j) <= hi) {
    *out = json_integer_value(j); /* the common case: no path to format */
    return MIXSTAGE_OK;
  }
  subpath(p, path, key);
  if (!j) return required ? bad(c, MIXSTAGE_EFORMAT, p, "required key is missing") : MIXSTAGE_OK;
  if (!json_is_integer(j)) return bad(c, MIXSTAGE_EFORMAT, p, "expected an integer, got %s", json_is_real(j) ? "a fraction" : type_word(j));
  long long v = json_integer_value(j);
  if (v < lo) return bad(c, MIXSTAGE_EFORMAT, p, "%lld is below the minimum %lld", v, lo);
  if (v > hi) return bad(c, MIXSTAGE_EFORMAT, p, "%lld is above the maximum %lld", v, hi);
  *out = v;
  return MIXSTAGE_OK;
}

static int get_bool(ctx *c, const json_t *obj, const char *path, const char *key, int *out) {
  char p[PATH_MAX_LEN];
  json_t *j = json_object_get(obj, key);
  *out = 0;
  if (!j) return MIXSTAGE_OK;
  subpath(p, path, key);
  if (!json_is_boolean(j)) return bad(c, MIXSTAGE_EFORMAT, p, "expected true or false, got %s", type_word(j));
  *out = json_is_true(j);
  return MIXSTAGE_OK;
}

/* A string field; NULL when absent and not required. */
static int get_str(ctx *c, const json_t *obj, const char *path, const char *key, int required,
                   const char **out) {
  char p[PATH_MAX_LEN];
  json_t *j = json_object_get(obj, key);
  *out = NULL;
  if (!j && !required) return MIXSTAGE_OK;
  subpath(p, path, key);
  if (!j) return bad(c, MIXSTAGE_EFORMAT, p, "required key is missing");
  if (!json_is_string(j)) return bad(c, MIXSTAGE_EFORMAT, p, "expected a string, got %s", type_word(j));
  if (!*json_string_value(j)) return bad(c, MIXSTAGE_EFORMAT, p, "must not be empty");
  *out = json_string_value(j);
  return MIXSTAGE_OK;
}

/* One of a "|"-free list of words; returns the index. */
static int get_word(ctx *c, const json_t *obj, const char *path, const char *key,
                    const char *const *words, int def, int *out) {
  const char *s;
  *out = def;
  if (get_str(c, obj, path, key, 0, &s)) return c->status;
  if (!s) return MIXSTAGE_OK;
  for (int i = 0; words[i]; i++)
    if (strcmp(s, words[i]) == 0) {
      *out = i;
      return MIXSTAGE_OK;
    }
  char p[PATH_MAX_LEN], list[256] = "";
  size_t k = 0;
  for (int i = 0; words[i] && k < sizeof list; i++)
    k += (size_t)snprintf(list + k, sizeof list - k, "%s\"%s\"", i ? ", " : "", words[i]);
  subpath(p, path, key);
  return bad(c, MIXSTAGE_EFORMAT, p, "\"%s\" is not one of %s", s, list);
}

/* An optional array field: NULL when absent. */
static int get_array(ctx *c, const json_t *obj, const char *path, const char *key, json_t **out) {
  char p[PATH_MAX_LEN];
  json_t *j = json_object_get(obj, key);
  *out = NULL;
  if (!j) return MIXSTAGE_OK;
  subpath(p, path, key);
  if (!json_is_array(j)) return bad(c, MIXSTAGE_EFORMAT, p, "expected an array, got %s", type_word(j));
  *out = j;
  return MIXSTAGE_OK;
}

static int get_objfield(ctx *c, const json_t *obj, const char *path, const char *key, json_t **out) {
  char p[PATH_MAX_LEN];
  json_t *j = json_object_get(obj, key);
  *out = NULL;
  if (!j) return MIXSTAGE_OK;
  subpath(p, path, key);
  if (!json_is_object(j)) return bad(c, MIXSTAGE_EFORMAT, p, "expected an object, got %s", type_word(j));
  *out = j;
  return MIXSTAGE_OK;
}

/* Wraps an engine refusal with the place in the file. */
static int engine(ctx *c, int rc, const char *path) {
  if (rc >= 0) return MIXSTAGE_OK;
  const char *m = mixstage_graph_last_error(c->g);
  return bad(c, rc, path, "%s", m && *m ? m : mixstage_strerror(rc));
}

static const char *const TAPS[] = {"pre-fader", "post-fader", NULL};
static const char *const CURVES[] = {"linear", "exponential", "step", NULL};
static const char *const KINDS[] = {"group", "return", NULL};
static const char *const ACTIONS[] = {"on", "bypass", "mute", NULL};
static const char *const STEMS[] = {"none", "per-strip", "per-group", NULL};

/* ---- routing units --------------------------------------------------------
 * Buses are units 0 .. nbus-1 in the graph's order (0 is the mix bus),
 * strips follow.  Edges remember where in the file they were made, so a
 * loop found by prepare can be reported at a line of the file. */

typedef struct edge {
  int from, to;
  char path[PATH_MAX_LEN];
} edge;

typedef struct build {
  ctx *c;
  int nbus, nstrip;
  json_t **unit_json; /* the file's object for each unit (mix: "mix") */
  char (*unit_path)[PATH_MAX_LEN];
  edge *edges;
  int nedges, capedges;
} build;

static int unit_of_bus(build *b, mixstage_bus *bus) {
  for (int i = 0; i < b->nbus; i++)
    if (mixstage_graph_bus(b->c->g, i) == bus) return i;
  return -1;
}

static int add_edge(build *b, int from, int to, const char *path) {
  if (b->nedges == b->capedges) {
    int cap = b->capedges ? 2 * b->capedges : 32;
    edge *e = realloc(b->edges, sizeof *e * (size_t)cap);
    if (!e) return bad(b->c, MIXSTAGE_ENOMEM, path, "out of memory");
    b->edges = e;
    b->capedges = cap;
  }
  edge *e = &b->edges[b->nedges++];
  e->from = from;
  e->to = to;
  snprintf(e->path, sizeof e->path, "%s", path);
  return MIXSTAGE_OK;
}

/* Depth-first search for a back edge; returns its index or -1. */
static int dfs(build *b, int u, char *state) {
  state[u] = 1;
  for (int i = 0; i < b->nedges; i++) {
    if (b->edges[i].from != u) continue;
    int v = b->edges[i].to;
    if (state[v] == 1) return i;
    if (state[v] == 0) {
      int r = dfs(b, v, state);
      if (r >= 0) return r;
    }
  }
  state[u] = 2;
  return -1;
}

static const char *find_loop_edge(build *b) {
  int n = b->nbus + b->nstrip;
  char *state = calloc((size_t)n, 1);
  if (!state) return NULL;
  int r = -1;
  for (int u = 0; u < n && r < 0; u++)
    if (!state[u]) r = dfs(b, u, state);
  free(state);
  return r >= 0 ? b->edges[r].path : NULL;
}

/* ---- loading pieces ---------------------------------------------------- */

static int find_unit(build *b, const char *name, int *is_strip) {
  mixstage_bus *bus = mixstage_graph_find_bus(b->c->g, name);
  if (bus) {
    *is_strip = 0;
    return unit_of_bus(b, bus);
  }
  mixstage_strip *s = mixstage_graph_find_strip(b->c->g, name);
  if (s) {
    *is_strip = 1;
    for (int i = 0; i < b->nstrip; i++)
      if (mixstage_graph_strip(b->c->g, i) == s) return b->nbus + i;
  }
  return -1;
}

static int load_points(ctx *c, mixstage_lane *lane, json_t *arr, const char *path, double lo, double hi) {
  size_t i;
  json_t *pt;
  long long prev = -1;
  if (!json_is_array(arr)) return bad(c, MIXSTAGE_EFORMAT, path, "expected an array of points, got %s", type_word(arr));
  static const char *const keys[] = {"frame", "value", "curve", NULL};
  /* A lane may hold millions of points: the point's path is put together
   * by hand, and the others only for a message. */
  char p[PATH_MAX_LEN], pv[PATH_MAX_LEN];
  size_t plen = strlen(path) < PATH_MAX_LEN - 32 ? strlen(path) : PATH_MAX_LEN - 32;
  memcpy(p, path, plen);
  json_array_foreach(arr, i, pt) {
    char digits[24];
    int nd = 0;
    size_t q = plen, k = i;
    do digits[nd++] = (char)('0' + k % 10); while ((k /= 10) > 0);
    p[q++] = '[';
    while (nd > 0) p[q++] = digits[--nd];
    p[q++] = ']';
    p[q] = 0;
    long long frame;
    double value;
    int curve;
    if (check_object(c, pt, p) || check_keys(c, pt, p, keys)) return c->status;
    if (get_int(c, pt, p, "frame", 0, INT64_MAX / 2, 0, 1, &frame)) return c->status;
    if (!json_object_get(pt, "value")) {
      subpath(pv, p, "value");
      return bad(c, MIXSTAGE_EFORMAT, pv, "required key is missing");
    }
    if (get_num(c, pt, p, "value", lo, hi, 0, &value)) return c->status;
    if (get_word(c, pt, p, "curve", CURVES, 0, &curve)) return c->status;
    if (frame <= prev) {
      subpath(pv, p, "frame");
      return bad(c, MIXSTAGE_EFORMAT, pv, "%lld is not after the previous point's frame %lld", frame, prev);
    }
    prev = frame;
    int rc = mixstage_lane_add_point(lane, frame, value, curve);
    if (rc < 0) {
      subpath(pv, p, "value");
      return engine(c, rc, pv);
    }
  }
  return MIXSTAGE_OK;
}

/* Strip/bus lanes: {"fader": [points], ...}. */
static const char *const STRIP_LANES[] = {"clip_gain", "fader", "pan", "width", NULL};
static const double LANE_LO[] = {-60, -144, -1, 0}, LANE_HI[] = {36, 12, 1, 2};

static int load_unit_lanes(build *b, json_t *obj, const char *path, mixstage_strip *s, mixstage_bus *bus) {
  ctx *c = b->c;
  json_t *lanes, *arr;
  const char *key;
  if (get_objfield(c, obj, path, "lanes", &lanes) || !lanes) return c->status;
  char lp[PATH_MAX_LEN];
  subpath(lp, path, "lanes");
  json_object_foreach(lanes, key, arr) {
    char p[PATH_MAX_LEN];
    int which = -1;
    subpath(p, lp, key);
    for (int i = s ? 0 : 1; STRIP_LANES[i]; i++)
      if (strcmp(key, STRIP_LANES[i]) == 0) which = i;
    if (which < 0)
      return bad(c, MIXSTAGE_EFORMAT, p, "no such lane (%s)", s ? "clip_gain, fader, pan or width" : "fader, pan or width");
    int err = 0;
    mixstage_lane *lane = s ? mixstage_strip_lane(s, which, &err) : mixstage_bus_lane(bus, which, &err);
    if (!lane) return engine(c, err ? err : MIXSTAGE_EINVAL, p);
    if (load_points(c, lane, arr, p, LANE_LO[which], LANE_HI[which])) return c->status;
  }
  return MIXSTAGE_OK;
}

static int load_sends(build *b, json_t *obj, const char *path, int unit, mixstage_strip *s, mixstage_bus *bus) {
  ctx *c = b->c;
  json_t *arr, *sj;
  size_t i;
  static const char *const keys[] = {"to", "level", "tap", "role", "mute", "lanes", NULL};
  if (get_array(c, obj, path, "sends", &arr) || !arr) return c->status;
  json_array_foreach(arr, i, sj) {
    char p[PATH_MAX_LEN], pt[PATH_MAX_LEN];
    const char *to, *role_s;
    double level;
    int tap, mute, err = 0;
    subindex(p, path, "sends", i);
    if (check_object(c, sj, p) || check_keys(c, sj, p, keys)) return c->status;
    if (get_str(c, sj, p, "to", 1, &to) || get_num(c, sj, p, "level", -144, 12, 0, &level) ||
        get_word(c, sj, p, "tap", TAPS, MIXSTAGE_TAP_POST_FADER, &tap) || get_bool(c, sj, p, "mute", &mute) ||
        get_str(c, sj, p, "role", 0, &role_s))
      return c->status;
    subpath(pt, p, "to");
    mixstage_bus *target = mixstage_graph_find_bus(c->g, to);
    if (!target) return bad(c, MIXSTAGE_EFORMAT, pt, "no bus named \"%s\"", to);
    if (mixstage_bus_kind_of(target) != MIXSTAGE_BUS_RETURN)
      return bad(c, MIXSTAGE_EFORMAT, pt, "\"%s\" is not an FX return (sends feed buses of kind \"return\")", to);
    int role = MIXSTAGE_ROLE_MIX_FX;
    if (role_s && (role = mixstage_role_from_name(role_s)) < 0) {
      subpath(pt, p, "role");
      return bad(c, MIXSTAGE_EFORMAT, pt, "\"%s\" is not a role", role_s);
    }
    mixstage_send *snd = s ? mixstage_strip_add_send(s, target, level, tap, role, &err)
                           : mixstage_bus_add_send(bus, target, level, tap, role, &err);
    if (!snd) return engine(c, err ? err : MIXSTAGE_EINVAL, p);
    if (mute && engine(c, mixstage_send_set_mute(snd, 1), p)) return c->status;
    if (add_edge(b, unit, unit_of_bus(b, target), pt)) return c->status;
    json_t *lanes, *pts;
    const char *key;
    if (get_objfield(c, sj, p, "lanes", &lanes)) return c->status;
    if (lanes) json_object_foreach(lanes, key, pts) {
        char lp[PATH_MAX_LEN], lq[PATH_MAX_LEN];
        subpath(lp, p, "lanes");
        subpath(lq, lp, key);
        if (strcmp(key, "level") != 0) return bad(c, MIXSTAGE_EFORMAT, lq, "no such lane (a send has \"level\")");
        mixstage_lane *lane = mixstage_send_lane(snd, &err);
        if (!lane) return engine(c, err, lq);
        if (load_points(c, lane, pts, lq, -144, 12)) return c->status;
      }
  }
  return MIXSTAGE_OK;
}

static int load_param(ctx *c, mixstage_node *node, const char *name, json_t *v, const char *p) {
  int id = mixstage_node_param_id(node, name);
  if (id < 0) return bad(c, MIXSTAGE_EFORMAT, p, "%s has no parameter \"%s\"", mixstage_node_type(node), name);
  mixstage_param_info info;
  if (engine(c, mixstage_node_param_info(node, id, &info), p)) return c->status;
  double x;
  if (json_is_number(v)) {
    x = json_number_value(v);
  } else if (json_is_boolean(v) && info.unit == MIXSTAGE_UNIT_BOOL) {
    x = json_is_true(v);
  } else if (json_is_string(v) && info.unit == MIXSTAGE_UNIT_ENUM && info.choices) {
    /* Enum parameters may be named by choice: "mode": "rms". */
    const char *s = json_string_value(v), *q = info.choices;
    size_t len = strlen(s);
    int idx = 0, found = -1;
    while (q) {
      const char *bar = strchr(q, '|');
      size_t n = bar ? (size_t)(bar - q) : strlen(q);
      if (n == len && strncmp(q, s, n) == 0) found = idx;
      idx++;
      q = bar ? bar + 1 : NULL;
    }
    if (found < 0) return bad(c, MIXSTAGE_EFORMAT, p, "\"%s\" is not one of %s", s, info.choices);
    x = found;
  } else {
    return bad(c, MIXSTAGE_EFORMAT, p, "expected a number, got %s", type_word(v));
  }
  if (!isfinite(x)) return bad(c, MIXSTAGE_EFORMAT, p, "not a finite number");
  if (range_check(c, p, x, info.min, info.max)) return c->status;
  if ((info.unit == MIXSTAGE_UNIT_ENUM || info.unit == MIXSTAGE_UNIT_BOOL) && x != floor(x))
    return bad(c, MIXSTAGE_EFORMAT, p, "%g is not a whole number (the parameter is a %s)", x,
               info.unit == MIXSTAGE_UNIT_ENUM ? "choice" : "switch");
  return engine(c, mixstage_node_set_param(node, id, x), p);
}

/* Inserts; sidechains are connected later, once every unit exists. */
static int load_inserts(build *b, json_t *obj, const char *path, mixstage_strip *s, mixstage_bus *bus) {
  ctx *c = b->c;
  json_t *arr, *ij;
  size_t i;
  static const char *const keys[] = {"type", "role", "bypass", "params", "sidechain", "lanes", NULL};
  if (get_array(c, obj, path, "inserts", &arr) || !arr) return c->status;
  json_array_foreach(arr, i, ij) {
    char p[PATH_MAX_LEN], q[PATH_MAX_LEN];
    const char *type, *role_s, *key;
    int bypass, err = 0;
    json_t *params, *v;
    subindex(p, path, "inserts", i);
    if (check_object(c, ij, p) || check_keys(c, ij, p, keys)) return c->status;
    if (get_str(c, ij, p, "type", 1, &type) || get_str(c, ij, p, "role", 0, &role_s) ||
        get_bool(c, ij, p, "bypass", &bypass) || get_objfield(c, ij, p, "params", &params))
      return c->status;
    int known = 0;
    for (int t = 0; mixstage_node_type_name(t); t++)
      if (strcmp(mixstage_node_type_name(t), type) == 0) known = 1;
    if (!known) {
      char list[512] = "";
      size_t k = 0;
      for (int t = 0; mixstage_node_type_name(t) && k < sizeof list; t++)
        k += (size_t)snprintf(list + k, sizeof list - k, "%s%s", t ? ", " : "", mixstage_node_type_name(t));
      subpath(q, p, "type");
      return bad(c, MIXSTAGE_EFORMAT, q, "no node type \"%s\" (types: %s)", type, list);
    }
    int role = MIXSTAGE_ROLE_STRIP;
    if (role_s && (role = mixstage_role_from_name(role_s)) < 0) {
      subpath(q, p, "role");
      return bad(c, MIXSTAGE_EFORMAT, q, "\"%s\" is not a role", role_s);
    }
    mixstage_node *node = s ? mixstage_strip_insert(s, type, role, -1, &err)
                            : mixstage_bus_insert(bus, type, role, -1, &err);
    if (!node) return engine(c, err ? err : MIXSTAGE_EINVAL, p);
    if (bypass && engine(c, mixstage_node_set_bypass(node, 1), p)) return c->status;
    if (params) {
      char pp[PATH_MAX_LEN];
      subpath(pp, p, "params");
      json_object_foreach(params, key, v) {
        subpath(q, pp, key);
        if (load_param(c, node, key, v, q)) return c->status;
      }
    }
    json_t *lanes, *pts;
    if (get_objfield(c, ij, p, "lanes", &lanes)) return c->status;
    if (lanes) {
      char lp[PATH_MAX_LEN];
      subpath(lp, p, "lanes");
      json_object_foreach(lanes, key, pts) {
        subpath(q, lp, key);
        int id = mixstage_node_param_id(node, key);
        if (id < 0) return bad(c, MIXSTAGE_EFORMAT, q, "%s has no parameter \"%s\"", type, key);
        mixstage_param_info info;
        mixstage_node_param_info(node, id, &info);
        if (!info.automatable) return bad(c, MIXSTAGE_EFORMAT, q, "%s.%s cannot be automated", type, key);
        mixstage_lane *lane = mixstage_node_lane(node, id, &err);
        if (!lane) return engine(c, err, q);
        if (load_points(c, lane, pts, q, info.min, info.max)) return c->status;
      }
    }
  }
  return MIXSTAGE_OK;
}

static int load_sidechains(build *b, json_t *obj, const char *path, int unit, mixstage_strip *s, mixstage_bus *bus) {
  ctx *c = b->c;
  json_t *arr, *ij;
  size_t i;
  static const char *const keys[] = {"strip", "bus", "tap", NULL};
  if (!(arr = json_object_get(obj, "inserts"))) return MIXSTAGE_OK;
  json_array_foreach(arr, i, ij) {
    json_t *sc = json_object_get(ij, "sidechain");
    char p[PATH_MAX_LEN], q[PATH_MAX_LEN];
    const char *sname, *bname;
    int tap;
    if (!sc || json_is_null(sc)) continue;
    subindex(q, path, "inserts", i);
    subpath(p, q, "sidechain");
    if (check_object(c, sc, p) || check_keys(c, sc, p, keys) || get_str(c, sc, p, "strip", 0, &sname) ||
        get_str(c, sc, p, "bus", 0, &bname) || get_word(c, sc, p, "tap", TAPS, MIXSTAGE_TAP_PRE_FADER, &tap))
      return c->status;
    if (!sname == !bname) return bad(c, MIXSTAGE_EFORMAT, p, "give exactly one of \"strip\" or \"bus\"");
    mixstage_node *node = s ? mixstage_strip_node(s, (int)i) : mixstage_bus_node(bus, (int)i);
    int rc, key_unit, dummy;
    if (sname) {
      subpath(q, p, "strip");
      mixstage_strip *k = mixstage_graph_find_strip(c->g, sname);
      if (!k) return bad(c, MIXSTAGE_EFORMAT, q, "no strip named \"%s\"", sname);
      rc = mixstage_node_set_sidechain_strip(node, k, tap);
      key_unit = find_unit(b, sname, &dummy);
    } else {
      subpath(q, p, "bus");
      mixstage_bus *k = mixstage_graph_find_bus(c->g, bname);
      if (!k) return bad(c, MIXSTAGE_EFORMAT, q, "no bus named \"%s\"", bname);
      rc = mixstage_node_set_sidechain_bus(node, k, tap);
      key_unit = unit_of_bus(b, k);
    }
    if (rc == MIXSTAGE_EUNSUPPORTED)
      return bad(c, rc, p, "the %s node takes no sidechain key (only dynamics nodes do)", mixstage_node_type(node));
    if (engine(c, rc, p) || add_edge(b, key_unit, unit, p)) return c->status;
  }
  return MIXSTAGE_OK;
}

/* The engine reads the file and keeps the path as resolved here, which is
 * what saving writes back (relative to the file's directory again). */
static int load_source(ctx *c, mixstage_strip *s, const char *rel, const char *p) {
  char full[4096];
  if (rel[0] == '/' || !c->base_dir || !*c->base_dir) snprintf(full, sizeof full, "%s", rel);
  else snprintf(full, sizeof full, "%s/%s", c->base_dir, rel);
  int rc = mixstage_strip_set_source_file(s, full);
  if (rc == MIXSTAGE_ENOTFOUND) return bad(c, rc, p, "source file \"%s\" not found (looked for %s)", rel, full);
  return engine(c, rc, p);
}

static int parse_color(ctx *c, json_t *obj, const char *path, uint32_t *rgb) {
  const char *s;
  char p[PATH_MAX_LEN];
  *rgb = 0;
  if (get_str(c, obj, path, "color", 0, &s) || !s) return c->status;
  subpath(p, path, "color");
  if (strlen(s) != 7 || s[0] != '#' || strspn(s + 1, "0123456789abcdefABCDEF") != 6)
    return bad(c, MIXSTAGE_EFORMAT, p, "\"%s\" is not a colour of the form \"#rrggbb\"", s);
  *rgb = (uint32_t)strtoul(s + 1, NULL, 16);
  return MIXSTAGE_OK;
}

static int load_profiles(ctx *c, json_t *root, mixstage_graphfile *doc) {
  json_t *arr, *pj;
  size_t i;
  static const char *const keys[] = {"name", "base", "actions", "stems", "fx_stems", "mix", "reference", NULL};
  if (get_array(c, root, "", "profiles", &arr) || !arr) return c->status;
  json_array_foreach(arr, i, pj) {
    char p[PATH_MAX_LEN], q[PATH_MAX_LEN];
    const char *name, *base_s, *role;
    json_t *actions, *a;
    subindex(p, "", "profiles", i);
    if (check_object(c, pj, p) || check_keys(c, pj, p, keys) || get_str(c, pj, p, "name", 1, &name) ||
        get_str(c, pj, p, "base", 0, &base_s) || get_objfield(c, pj, p, "actions", &actions))
      return c->status;
    subpath(q, p, "name");
    if (strlen(name) > 63) return bad(c, MIXSTAGE_EFORMAT, q, "longer than 63 bytes");
    if (mixstage_profile_find(name)) return bad(c, MIXSTAGE_EFORMAT, q, "\"%s\" is a built-in profile", name);
    if (mixstage_graphfile_find_profile(doc, name)) return bad(c, MIXSTAGE_EFORMAT, q, "a profile named \"%s\" is already defined", name);
    const mixstage_profile *base = mixstage_profile_find(base_s ? base_s : "production");
    if (!base) base = mixstage_graphfile_find_profile(doc, base_s);
    if (!base) {
      subpath(q, p, "base");
      return bad(c, MIXSTAGE_EFORMAT, q, "no profile named \"%s\" (built-in or defined earlier)", base_s);
    }
    int err = 0;
    mixstage_profile *prof = mixstage_profile_create(name, base, &err);
    if (!prof) return bad(c, err, q, "%s", mixstage_strerror(err));
    int rc = mixstage_graphfile_add_profile(doc, prof, base_s ? base_s : "production");
    mixstage_profile_destroy(prof);
    if (rc) return bad(c, rc, q, "%s", mixstage_strerror(rc));
    prof = doc->profiles[doc->nprofiles - 1];
    char ap[PATH_MAX_LEN];
    subpath(ap, p, "actions");
    if (actions) json_object_foreach(actions, role, a) {
        int r = mixstage_role_from_name(role), act = 0;
        subpath(q, ap, role);
        if (r < 0) return bad(c, MIXSTAGE_EFORMAT, q, "\"%s\" is not a role", role);
        const char *w = json_string_value(a);
        for (act = 0; w && ACTIONS[act] && strcmp(w, ACTIONS[act]) != 0; act++) {
        }
        if (!w) return bad(c, MIXSTAGE_EFORMAT, q, "expected \"on\", \"bypass\" or \"mute\", got %s", type_word(a));
        if (!ACTIONS[act]) return bad(c, MIXSTAGE_EFORMAT, q, "\"%s\" is not one of \"on\", \"bypass\", \"mute\"", w);
        mixstage_profile_set_action(prof, r, act);
      }
    int stems, on;
    if (get_word(c, pj, p, "stems", STEMS, mixstage_profile_stems(base), &stems)) return c->status;
    mixstage_profile_set_stems(prof, stems);
    if (json_object_get(pj, "fx_stems")) {
      if (get_bool(c, pj, p, "fx_stems", &on)) return c->status;
      mixstage_profile_set_fx_stems(prof, on);
    }
    if (json_object_get(pj, "mix")) {
      if (get_bool(c, pj, p, "mix", &on)) return c->status;
      mixstage_profile_set_mix(prof, on);
    }
    if (json_object_get(pj, "reference")) {
      if (get_bool(c, pj, p, "reference", &on)) return c->status;
      mixstage_profile_set_reference(prof, on);
    }
  }
  return MIXSTAGE_OK;
}

static int bus_props(ctx *c, json_t *bj, const char *p, mixstage_bus *bus) {
  double fader, pan, width;
  int mute;
  if (get_num(c, bj, p, "fader", -144, 12, 0, &fader) || get_num(c, bj, p, "pan", -1, 1, 0, &pan) ||
      get_num(c, bj, p, "width", 0, 2, 1, &width) || get_bool(c, bj, p, "mute", &mute))
    return c->status;
  if (engine(c, mixstage_bus_set_fader_db(bus, fader), p) || engine(c, mixstage_bus_set_pan(bus, pan), p) ||
      engine(c, mixstage_bus_set_width(bus, width), p) || engine(c, mixstage_bus_set_mute(bus, mute), p))
    return c->status;
  return MIXSTAGE_OK;
}

static int load_doc(ctx *c, json_t *root, const mixstage_graph_config *override, mixstage_graphfile *doc) {
  static const char *const top_keys[] = {"format", "version", "sample_rate", "max_block", "tempo",
                                         "mix", "buses", "strips", "profiles", NULL};
  static const char *const mix_keys[] = {"channels", "fader", "pan", "width", "mute", "inserts", "sends", "lanes", NULL};
  static const char *const bus_keys[] = {"name", "kind", "channels", "fader", "pan", "width", "mute",
                                         "output", "inserts", "sends", "lanes", NULL};
  static const char *const strip_keys[] = {"name", "channels", "color", "source", "clip_gain", "fader", "pan",
                                           "width", "mute", "solo", "polarity", "output", "inserts", "sends",
                                           "lanes", NULL};
  const char *fmt;
  long long version, max_block, mix_ch = 2;
  double rate, tempo;
  json_t *mix, *buses, *strips, *j;
  size_t i;

  if (check_object(c, root, "(top level)")) return c->status;
  if (get_str(c, root, "", "format", 1, &fmt)) return c->status;
  if (strcmp(fmt, FORMAT_NAME) != 0)
    return bad(c, MIXSTAGE_EFORMAT, "format", "\"%s\" is not \"" FORMAT_NAME "\"", fmt);
  j = json_object_get(root, "version");
  if (!j) return bad(c, MIXSTAGE_EFORMAT, "version", "required key is missing");
  if (!json_is_integer(j)) return bad(c, MIXSTAGE_EFORMAT, "version", "expected an integer, got %s", type_word(j));
  version = json_integer_value(j);
  if (version > MIXSTAGE_GRAPHFILE_VERSION)
    return bad(c, MIXSTAGE_EFORMAT, "version", "%lld is newer than this library reads (versions 1 to %d): upgrade libmixstage",
               version, MIXSTAGE_GRAPHFILE_VERSION);
  if (version < 1) return bad(c, MIXSTAGE_EFORMAT, "version", "%lld is not a format version (the first is 1)", version);
  /* Keys are checked after the version, so a newer file reports its version
   * rather than the first key this library does not know. */
  if (check_keys(c, root, "", top_keys)) return c->status;

  if (get_num(c, root, "", "sample_rate", 8000, 384000, 48000, &rate) ||
      get_int(c, root, "", "max_block", 1, 65536, 1024, 0, &max_block) ||
      get_num(c, root, "", "tempo", 20, 999, 120, &tempo) || get_objfield(c, root, "", "mix", &mix) ||
      get_array(c, root, "", "buses", &buses) || get_array(c, root, "", "strips", &strips))
    return c->status;
  if (mix && (check_keys(c, mix, "mix", mix_keys) || get_int(c, mix, "mix", "channels", 1, MIXSTAGE_MAX_CHANNELS, 2, 0, &mix_ch)))
    return c->status;

  mixstage_graph_config cfg;
  mixstage_graph_config_init(&cfg);
  cfg.sample_rate = rate;
  cfg.max_block_frames = (int)max_block;
  cfg.tempo_bpm = tempo;
  cfg.mix_channels = (int)mix_ch;
  if (override) {
    cfg.sample_rate = override->sample_rate;
    cfg.max_block_frames = override->max_block_frames;
    cfg.alloc = override->alloc;
    cfg.free = override->free;
    cfg.alloc_user = override->alloc_user;
  }
  int err = 0;
  c->g = doc->graph = mixstage_graph_create(&cfg, &err);
  if (!c->g) return bad(c, err, override ? "(override config)" : "", "%s", mixstage_strerror(err));

  build b = {.c = c};
  size_t nb = buses ? json_array_size(buses) : 0, ns = strips ? json_array_size(strips) : 0;
  b.unit_json = calloc(nb + ns + 1, sizeof *b.unit_json);
  b.unit_path = calloc(nb + ns + 1, sizeof *b.unit_path);
  if (!b.unit_json || !b.unit_path) {
    bad(c, MIXSTAGE_ENOMEM, "", "out of memory");
    goto done;
  }

  /* Buses first: strips, sends and keys refer to them by name. */
  b.unit_json[0] = mix ? mix : NULL;
  snprintf(b.unit_path[0], PATH_MAX_LEN, "mix");
  b.nbus = 1;
  json_array_foreach(buses, i, j) {
    char p[PATH_MAX_LEN], q[PATH_MAX_LEN];
    const char *name;
    int kind;
    long long ch;
    subindex(p, "", "buses", i);
    if (check_object(c, j, p) || check_keys(c, j, p, bus_keys) || get_str(c, j, p, "name", 1, &name) ||
        get_word(c, j, p, "kind", KINDS, 0, &kind) ||
        get_int(c, j, p, "channels", 1, MIXSTAGE_MAX_CHANNELS, 2, 0, &ch))
      goto done;
    subpath(q, p, "name");
    if (mixstage_graph_find_bus(c->g, name)) {
      bad(c, MIXSTAGE_EEXIST, q, "a bus named \"%s\" already exists%s", name, strcmp(name, "Mix") == 0 ? " (the mix bus is \"Mix\")" : "");
      goto done;
    }
    if (!mixstage_graph_add_bus(c->g, name, kind, (int)ch, &err)) {
      engine(c, err, q);
      goto done;
    }
    b.unit_json[b.nbus] = j;
    snprintf(b.unit_path[b.nbus], PATH_MAX_LEN, "%s", p);
    b.nbus++;
  }
  json_array_foreach(strips, i, j) {
    char p[PATH_MAX_LEN], q[PATH_MAX_LEN];
    const char *name;
    long long ch;
    double clip, fader, pan, width;
    int mute, solo, pol;
    uint32_t rgb;
    subindex(p, "", "strips", i);
    if (check_object(c, j, p) || check_keys(c, j, p, strip_keys) || get_str(c, j, p, "name", 1, &name) ||
        get_int(c, j, p, "channels", 1, MIXSTAGE_MAX_CHANNELS, 0, 1, &ch) || parse_color(c, j, p, &rgb) ||
        get_num(c, j, p, "clip_gain", -60, 36, 0, &clip) || get_num(c, j, p, "fader", -144, 12, 0, &fader) ||
        get_num(c, j, p, "pan", -1, 1, 0, &pan) || get_num(c, j, p, "width", 0, 2, 1, &width) ||
        get_bool(c, j, p, "mute", &mute) || get_bool(c, j, p, "solo", &solo) || get_bool(c, j, p, "polarity", &pol))
      goto done;
    subpath(q, p, "name");
    if (mixstage_graph_find_bus(c->g, name) || mixstage_graph_find_strip(c->g, name)) {
      bad(c, MIXSTAGE_EEXIST, q, "the name \"%s\" is already used by a %s", name,
          mixstage_graph_find_bus(c->g, name) ? "bus" : "strip");
      goto done;
    }
    mixstage_strip *s = mixstage_graph_add_strip(c->g, name, (int)ch, &err);
    if (!s) {
      engine(c, err, q);
      goto done;
    }
    b.unit_json[b.nbus + b.nstrip] = j;
    snprintf(b.unit_path[b.nbus + b.nstrip], PATH_MAX_LEN, "%s", p);
    b.nstrip++;
    if (engine(c, mixstage_strip_set_clip_gain_db(s, clip), p) || engine(c, mixstage_strip_set_fader_db(s, fader), p) ||
        engine(c, mixstage_strip_set_pan(s, pan), p) || engine(c, mixstage_strip_set_width(s, width), p) ||
        engine(c, mixstage_strip_set_mute(s, mute), p) || engine(c, mixstage_strip_set_solo(s, solo), p) ||
        engine(c, mixstage_strip_set_polarity(s, pol), p) || engine(c, mixstage_strip_set_color(s, rgb), p))
      goto done;
    json_t *src = json_object_get(j, "source");
    subpath(q, p, "source");
    if (src && !json_is_null(src)) {
      if (!json_is_string(src)) {
        bad(c, MIXSTAGE_EFORMAT, q, "expected a file path or null, got %s", type_word(src));
        goto done;
      }
      if (load_source(c, s, json_string_value(src), q)) goto done;
    }
  }

  /* Routing, controls and chains of every unit. */
  for (int u = 0; u < b.nbus + b.nstrip; u++) {
    json_t *uj = b.unit_json[u];
    const char *p = b.unit_path[u];
    mixstage_strip *s = u >= b.nbus ? mixstage_graph_strip(c->g, u - b.nbus) : NULL;
    mixstage_bus *bus = s ? NULL : mixstage_graph_bus(c->g, u);
    if (!uj) continue;
    if (bus && bus_props(c, uj, p, bus)) goto done;
    const char *out;
    char q[PATH_MAX_LEN];
    if (u > 0) {
      if (get_str(c, uj, p, "output", 0, &out)) goto done;
      subpath(q, p, "output");
      if (out) {
        mixstage_bus *to = mixstage_graph_find_bus(c->g, out);
        if (!to) {
          bad(c, MIXSTAGE_EFORMAT, q, "no bus named \"%s\"", out);
          goto done;
        }
        if (mixstage_bus_kind_of(to) == MIXSTAGE_BUS_RETURN) {
          bad(c, MIXSTAGE_EFORMAT, q, "\"%s\" is an FX return; outputs go to a group bus or \"Mix\" (use a send)", out);
          goto done;
        }
        if (to == bus) {
          bad(c, MIXSTAGE_ECYCLE, q, "bus \"%s\" cannot feed itself", out);
          goto done;
        }
        if (engine(c, s ? mixstage_strip_set_output(s, to) : mixstage_bus_set_output(bus, to), q)) goto done;
        if (add_edge(&b, u, unit_of_bus(&b, to), q)) goto done;
      } else if (add_edge(&b, u, 0, q)) {
        goto done;
      }
    }
    if (load_inserts(&b, uj, p, s, bus) || load_sends(&b, uj, p, u, s, bus) || load_unit_lanes(&b, uj, p, s, bus))
      goto done;
  }
  for (int u = 0; u < b.nbus + b.nstrip; u++) {
    mixstage_strip *s = u >= b.nbus ? mixstage_graph_strip(c->g, u - b.nbus) : NULL;
    if (b.unit_json[u] &&
        load_sidechains(&b, b.unit_json[u], b.unit_path[u], u, s, s ? NULL : mixstage_graph_bus(c->g, u)))
      goto done;
  }
  if (load_profiles(c, root, doc)) goto done;

  /* Prepare finds loops, bad channel layouts and allocation failures before
   * anything renders; a loop is reported at an edge of the file on it. */
  int rc = mixstage_graph_prepare(c->g);
  if (rc == MIXSTAGE_ECYCLE) {
    const char *at = find_loop_edge(&b);
    bad(c, rc, at ? at : "routing", "%s", mixstage_graph_last_error(c->g));
  } else if (rc < 0) {
    engine(c, rc, "graph");
  }

done:
  free(b.unit_json);
  free(b.unit_path);
  free(b.edges);
  return c->status;
}

MIXSTAGE_EXPORT mixstage_graphfile *mixstage_graphfile_load_string(const char *text, const char *base_dir,
                                                                   const mixstage_graph_config *override,
                                                                   char *err, size_t errlen, int *error) {
  ctx c = {.err = err, .errlen = errlen, .base_dir = base_dir};
  int dummy;
  if (!error) error = &dummy;
  if (err && errlen) err[0] = 0;
  if (!text) {
    *error = bad(&c, MIXSTAGE_ENULL, "", "no JSON text given");
    return NULL;
  }
  json_error_t je;
  json_t *root = json_loads(text, JSON_REJECT_DUPLICATES, &je);
  if (!root) {
    char where[64];
    snprintf(where, sizeof where, "line %d, column %d", je.line, je.column);
    *error = bad(&c, MIXSTAGE_EFORMAT, where, "not valid JSON: %s", je.text);
    return NULL;
  }
  mixstage_graphfile *doc = calloc(1, sizeof *doc);
  if (!doc) {
    json_decref(root);
    *error = bad(&c, MIXSTAGE_ENOMEM, "", "out of memory");
    return NULL;
  }
  if (load_doc(&c, root, override, doc) == MIXSTAGE_OK && base_dir && *base_dir && !(doc->base_dir = strdup(base_dir)))
    bad(&c, MIXSTAGE_ENOMEM, "", "out of memory");
  json_decref(root);
  *error = c.status;
  if (c.status != MIXSTAGE_OK) {
    mixstage_graphfile_destroy(doc);
    return NULL;
  }
  return doc;
}

MIXSTAGE_EXPORT mixstage_graphfile *mixstage_graphfile_load(const char *path, const mixstage_graph_config *override,
                                                            char *err, size_t errlen, int *error) {
  int dummy;
  if (!error) error = &dummy;
  if (err && errlen) err[0] = 0;
  if (!path) {
    if (err && errlen) snprintf(err, errlen, "no path given");
    *error = MIXSTAGE_ENULL;
    return NULL;
  }
  /* O_NONBLOCK: opening a FIFO for reading would otherwise wait for a
   * writer forever; anything but a regular file is refused before a read. */
  int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) {
    *error = errno == ENOENT ? MIXSTAGE_ENOTFOUND : MIXSTAGE_EIO;
    if (err && errlen) snprintf(err, errlen, "%s: %s", path, strerror(errno));
    return NULL;
  }
  struct stat sb;
  if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
    close(fd);
    *error = MIXSTAGE_EIO;
    if (err && errlen) snprintf(err, errlen, "%s: not a regular file", path);
    return NULL;
  }
  (void)fcntl(fd, F_SETFL, 0);
  FILE *f = fdopen(fd, "rb");
  if (!f) {
    close(fd);
    *error = MIXSTAGE_ENOMEM;
    if (err && errlen) snprintf(err, errlen, "%s: out of memory", path);
    return NULL;
  }
  char *text = NULL;
  size_t len = 0, cap = 0, n;
  char chunk[65536];
  while ((n = fread(chunk, 1, sizeof chunk, f)) > 0) {
    if (len + n + 1 > cap) {
      cap = (len + n + 1) * 2;
      char *t = realloc(text, cap);
      if (!t) {
        free(text);
        fclose(f);
        *error = MIXSTAGE_ENOMEM;
        if (err && errlen) snprintf(err, errlen, "%s: out of memory", path);
        return NULL;
      }
      text = t;
    }
    memcpy(text + len, chunk, n);
    len += n;
  }
  int rerr = ferror(f);
  fclose(f);
  if (rerr || !text) {
    free(text);
    *error = rerr ? MIXSTAGE_EIO : MIXSTAGE_EFORMAT;
    if (err && errlen) snprintf(err, errlen, "%s: %s", path, rerr ? "read error" : "the file is empty");
    return NULL;
  }
  text[len] = 0;
  size_t nul = strlen(text);
  if (nul != len) {
    /* Bytes after a NUL would be silently ignored by the JSON parser. */
    free(text);
    *error = MIXSTAGE_EFORMAT;
    if (err && errlen) snprintf(err, errlen, "%s: a NUL byte at offset %zu: not a text file", path, nul);
    return NULL;
  }
  char dir[4096];
  snprintf(dir, sizeof dir, "%s", path);
  char *slash = strrchr(dir, '/');
  if (slash) *(slash == dir ? slash + 1 : slash) = 0;
  else snprintf(dir, sizeof dir, ".");
  /* Messages from the string loader get the file name in front. */
  char inner[1024] = "";
  mixstage_graphfile *doc = mixstage_graphfile_load_string(text, dir, override, inner, sizeof inner, error);
  free(text);
  if (!doc && err && errlen) snprintf(err, errlen, "%s: %s", path, inner);
  return doc;
}

MIXSTAGE_EXPORT mixstage_graphfile *mixstage_graphfile_wrap(mixstage_graph *graph, int *error) {
  int dummy;
  if (!error) error = &dummy;
  if (!graph) {
    *error = MIXSTAGE_ENULL;
    return NULL;
  }
  mixstage_graphfile *doc = calloc(1, sizeof *doc);
  if (!doc) { /* the caller keeps the graph: its other handles stay valid */
    *error = MIXSTAGE_ENOMEM;
    return NULL;
  }
  doc->graph = graph;
  *error = MIXSTAGE_OK;
  return doc;
}

MIXSTAGE_EXPORT void mixstage_graphfile_destroy(mixstage_graphfile *doc) {
  if (!doc) return;
  mixstage_graph_destroy(doc->graph);
  free(doc->base_dir);
  for (int i = 0; i < doc->npaths; i++) free(doc->paths[i]);
  free(doc->paths);
  free(doc->path_strips);
  for (int i = 0; i < doc->nprofiles; i++) {
    mixstage_profile_destroy(doc->profiles[i]);
    free(doc->bases[i]);
  }
  free(doc->profiles);
  free(doc->bases);
  free(doc);
}

MIXSTAGE_EXPORT mixstage_graph *mixstage_graphfile_graph(mixstage_graphfile *doc) { return doc ? doc->graph : NULL; }

MIXSTAGE_EXPORT mixstage_graph *mixstage_graphfile_release(mixstage_graphfile *doc) {
  if (!doc) return NULL;
  mixstage_graph *g = doc->graph;
  /* The graph may have been switched to one of the document's profiles,
   * which are about to be freed. */
  for (int i = 0; i < doc->nprofiles; i++)
    if (g && mixstage_graph_profile(g) == doc->profiles[i]) mixstage_graph_set_profile(g, NULL);
  doc->graph = NULL;
  mixstage_graphfile_destroy(doc);
  return g;
}

MIXSTAGE_EXPORT int mixstage_graphfile_profile_count(const mixstage_graphfile *doc) { return doc ? doc->nprofiles : 0; }

MIXSTAGE_EXPORT mixstage_profile *mixstage_graphfile_profile(mixstage_graphfile *doc, int index) {
  return doc && index >= 0 && index < doc->nprofiles ? doc->profiles[index] : NULL;
}

MIXSTAGE_EXPORT mixstage_profile *mixstage_graphfile_find_profile(mixstage_graphfile *doc, const char *name) {
  if (!doc || !name) return NULL;
  for (int i = 0; i < doc->nprofiles; i++)
    if (strcmp(mixstage_profile_name(doc->profiles[i]), name) == 0) return doc->profiles[i];
  return NULL;
}

MIXSTAGE_EXPORT int mixstage_graphfile_add_profile(mixstage_graphfile *doc, const mixstage_profile *profile,
                                                   const char *base_name) {
  if (!doc || !profile) return MIXSTAGE_ENULL;
  const char *name = mixstage_profile_name(profile);
  if (!name || mixstage_profile_find(name)) return MIXSTAGE_EINVAL;
  if (mixstage_graphfile_find_profile(doc, name)) return MIXSTAGE_EEXIST;
  if (!base_name) base_name = "production";
  if (!mixstage_profile_find(base_name) && !mixstage_graphfile_find_profile(doc, base_name)) return MIXSTAGE_EINVAL;
  mixstage_profile **p = realloc(doc->profiles, sizeof *p * (size_t)(doc->nprofiles + 1));
  if (!p) return MIXSTAGE_ENOMEM;
  doc->profiles = p;
  char **b = realloc(doc->bases, sizeof *b * (size_t)(doc->nprofiles + 1));
  if (!b) return MIXSTAGE_ENOMEM;
  doc->bases = b;
  int err = 0;
  mixstage_profile *copy = mixstage_profile_create(name, profile, &err);
  char *bn = strdup(base_name);
  if (!copy || !bn) {
    mixstage_profile_destroy(copy);
    free(bn);
    return err ? err : MIXSTAGE_ENOMEM;
  }
  doc->profiles[doc->nprofiles] = copy;
  doc->bases[doc->nprofiles] = bn;
  doc->nprofiles++;
  return MIXSTAGE_OK;
}

MIXSTAGE_EXPORT int mixstage_graphfile_set_source_path(mixstage_graphfile *doc, const char *strip_name,
                                                       const char *path) {
  if (!doc || !strip_name || !path) return MIXSTAGE_ENULL;
  mixstage_strip *s = mixstage_graph_find_strip(doc->graph, strip_name);
  if (!s) return MIXSTAGE_ENOTFOUND;
  char *copy = strdup(path);
  if (!copy) return MIXSTAGE_ENOMEM;
  for (int i = 0; i < doc->npaths; i++)
    if (doc->path_strips[i] == mixstage_strip_serial(s)) {
      free(doc->paths[i]);
      doc->paths[i] = copy;
      return MIXSTAGE_OK;
    }
  uint64_t *ns = realloc(doc->path_strips, sizeof *ns * (size_t)(doc->npaths + 1));
  if (ns) doc->path_strips = ns;
  char **np = ns ? realloc(doc->paths, sizeof *np * (size_t)(doc->npaths + 1)) : NULL;
  if (!np) {
    free(copy);
    return MIXSTAGE_ENOMEM;
  }
  doc->paths = np;
  doc->path_strips[doc->npaths] = mixstage_strip_serial(s);
  doc->paths[doc->npaths++] = copy;
  return MIXSTAGE_OK;
}

/* ---- saving -------------------------------------------------------------- */

/* Canonical text: keys sorted, two-space indent, containers holding only
 * plain values on one line, numbers in shortest round-trip form. */
typedef struct sbuf {
  char *p;
  size_t len, cap;
  int oom;
} sbuf;

static void put(sbuf *s, const char *t, size_t n) {
  if (s->oom) return;
  if (s->len + n + 1 > s->cap) {
    size_t cap = (s->len + n + 1) * 2;
    char *q = realloc(s->p, cap);
    if (!q) {
      s->oom = 1;
      return;
    }
    s->p = q;
    s->cap = cap;
  }
  memcpy(s->p + s->len, t, n);
  s->len += n;
  s->p[s->len] = 0;
}
static void puts_(sbuf *s, const char *t) { put(s, t, strlen(t)); }

static int is_flat(const json_t *j) {
  size_t i;
  const char *k;
  json_t *v;
  if (json_is_array(j)) {
    json_array_foreach((json_t *)j, i, v) if (json_is_object(v) || json_is_array(v)) return 0;
  } else {
    json_object_foreach((json_t *)j, k, v) if (json_is_object(v) || json_is_array(v)) return 0;
  }
  return 1;
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(const char *const *)a, *(const char *const *)b); }

static void emit(sbuf *s, const json_t *j, int depth) {
  char num[40];
  switch (json_typeof(j)) {
  case JSON_INTEGER:
    snprintf(num, sizeof num, "%" JSON_INTEGER_FORMAT, json_integer_value(j));
    puts_(s, num);
    return;
  case JSON_REAL:
    fmt_num(num, sizeof num, json_real_value(j));
    puts_(s, num);
    return;
  case JSON_TRUE: puts_(s, "true"); return;
  case JSON_FALSE: puts_(s, "false"); return;
  case JSON_NULL: puts_(s, "null"); return;
  case JSON_STRING: {
    char *q = json_dumps(j, JSON_ENCODE_ANY);
    if (!q) s->oom = 1;
    else puts_(s, q);
    free(q);
    return;
  }
  default: break;
  }
  int obj = json_is_object(j);
  size_t n = obj ? json_object_size(j) : json_array_size(j);
  if (n == 0) {
    puts_(s, obj ? "{}" : "[]");
    return;
  }
  int flat = is_flat(j);
  const char **keys = NULL;
  if (obj) {
    keys = malloc(n * sizeof *keys);
    if (!keys) {
      s->oom = 1;
      return;
    }
    size_t k = 0;
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)j, key, v) keys[k++] = key;
    qsort(keys, n, sizeof *keys, cmp_str);
  }
  puts_(s, obj ? "{" : "[");
  for (size_t i = 0; i < n; i++) {
    if (i) puts_(s, ",");
    if (flat) {
      if (i || obj) puts_(s, i || !obj ? " " : "");
    } else {
      puts_(s, "\n");
      for (int d = 0; d <= depth; d++) puts_(s, "  ");
    }
    if (obj) {
      json_t *ks = json_string(keys[i]);
      emit(s, ks, depth + 1);
      json_decref(ks);
      puts_(s, ": ");
      emit(s, json_object_get(j, keys[i]), depth + 1);
    } else {
      emit(s, json_array_get(j, i), depth + 1);
    }
  }
  if (!flat) {
    puts_(s, "\n");
    for (int d = 0; d < depth; d++) puts_(s, "  ");
  }
  puts_(s, obj ? "}" : "]");
  free(keys);
}

static const char *role_str(int r) {
  const char *s = mixstage_role_name(r);
  return s ? s : "strip";
}

/* ---- source paths relative to the graph file -------------------------------
 * A source is written relative to the directory of the file being written
 * when it lies under that directory, else as an absolute path, so that the
 * saved file finds its sources wherever it is loaded from. */

/* @p path made absolute (against the current directory) with ".", ".." and
 * repeated slashes folded, lexically (no symlinks resolved: the loader joins
 * paths the same way).  NULL when out of memory or without a cwd. */
static char *abs_path(const char *path) {
  char cwd[4096];
  size_t n = strlen(path);
  if (path[0] != '/' && !getcwd(cwd, sizeof cwd)) return NULL;
  size_t cn = path[0] == '/' ? 0 : strlen(cwd);
  char *in = malloc(cn + n + 2), *out = malloc(cn + n + 2);
  if (!in || !out) {
    free(in);
    free(out);
    return NULL;
  }
  snprintf(in, cn + n + 2, "%s/%s", path[0] == '/' ? "" : cwd, path);
  size_t len = 0;
  for (char *seg = in; *seg;) {
    char *end = strchr(seg, '/');
    size_t sl = end ? (size_t)(end - seg) : strlen(seg);
    if (sl == 2 && seg[0] == '.' && seg[1] == '.') {
      while (len > 0 && out[len - 1] != '/') len--;
      if (len > 0) len--; /* the slash before the dropped segment */
    } else if (sl && !(sl == 1 && seg[0] == '.')) {
      out[len++] = '/';
      memcpy(out + len, seg, sl);
      len += sl;
    }
    seg = end ? end + 1 : seg + sl;
  }
  if (len == 0) out[len++] = '/';
  out[len] = 0;
  free(in);
  return out;
}

/* The text to write for engine path @p path in a file in directory @p dir
 * (NULL: as given); malloc'd, NULL when out of memory. */
static char *source_text(const char *path, const char *dir) {
  if (!dir || !*dir) return strdup(path);
  /* A path that was made by joining this directory and a relative name (as
   * the loader does) gives that name back verbatim, "../" and all, so a
   * loaded file saves to the same bytes. */
  size_t dl = strlen(dir);
  if (strncmp(path, dir, dl) == 0) {
    const char *rest = path + dl;
    if (dir[dl - 1] == '/' || rest[0] == '/') {
      while (*rest == '/') rest++;
      if (*rest) return strdup(rest);
    }
  }
  char *a = abs_path(path), *d = abs_path(dir);
  if (!a || !d) {
    free(a);
    free(d);
    return strdup(path); /* no cwd (or no memory): write it as given */
  }
  size_t n = strlen(d);
  char *res;
  if (strcmp(d, "/") == 0 && a[1]) res = strdup(a + 1);
  else if (strncmp(a, d, n) == 0 && a[n] == '/' && a[n + 1]) res = strdup(a + n + 1);
  else res = strdup(a);
  free(a);
  free(d);
  return res;
}

/* The directory of file @p path, malloc'd ("." for a bare name). */
static char *dir_of(const char *path) {
  const char *slash = strrchr(path, '/');
  if (!slash) return strdup(".");
  size_t n = slash == path ? 1 : (size_t)(slash - path);
  char *d = malloc(n + 1);
  if (d) {
    memcpy(d, path, n);
    d[n] = 0;
  }
  return d;
}

/* ---- the document from the engine ------------------------------------------ */

typedef struct saver {
  const mixstage_graphfile *doc; /* NULL for a bare graph */
  const char *dir;               /* sources relative to this; NULL: as given */
  int oom;
} saver;

static json_t *checked(saver *sv, json_t *j) {
  if (!j) sv->oom = 1;
  return j;
}

static void set(saver *sv, json_t *obj, const char *key, json_t *v) {
  if (!v || json_object_set_new(obj, key, v)) sv->oom = 1;
}

static void append(saver *sv, json_t *arr, json_t *v) {
  if (!v || json_array_append_new(arr, v)) sv->oom = 1;
}

/* A lane's points, or NULL for no lane or an empty one: a lane without
 * points does nothing, and leaving it out keeps the canonical form unique. */
static json_t *save_lane(saver *sv, const mixstage_lane *lane) {
  int n = mixstage_lane_point_count(lane);
  if (n <= 0) return NULL;
  json_t *arr = checked(sv, json_array());
  for (int i = 0; arr && i < n; i++) {
    int64_t frame = 0;
    double value = 0;
    int curve = 0;
    mixstage_lane_point(lane, i, &frame, &value, &curve);
    append(sv, arr, json_pack("{sI sf ss}", "frame", (json_int_t)frame, "value", value, "curve",
                              CURVES[curve >= 0 && curve <= 2 ? curve : 0]));
  }
  return arr;
}

static void put_lane(saver *sv, json_t *lanes, const char *name, const mixstage_lane *lane) {
  json_t *pts = save_lane(sv, lane);
  if (pts) set(sv, lanes, name, pts);
}

static json_t *save_node(saver *sv, mixstage_node *node) {
  json_t *n = checked(sv, json_object()), *params = checked(sv, json_object()),
         *lanes = checked(sv, json_object());
  if (!n || !params || !lanes) {
    json_decref(n);
    json_decref(params);
    json_decref(lanes);
    return NULL;
  }
  int np = mixstage_node_param_count(node);
  for (int i = 0; i < np; i++) {
    mixstage_param_info info;
    double v = 0;
    if (mixstage_node_param_info(node, i, &info) != MIXSTAGE_OK) continue;
    if (mixstage_node_get_param(node, info.id, &v) == MIXSTAGE_OK) set(sv, params, info.name, json_real(v));
    put_lane(sv, lanes, info.name, mixstage_node_find_lane(node, info.id));
  }
  set(sv, n, "type", json_string(mixstage_node_type(node)));
  set(sv, n, "role", json_string(role_str(mixstage_node_role(node))));
  set(sv, n, "bypass", json_boolean(mixstage_node_bypass(node)));
  set(sv, n, "params", params);
  set(sv, n, "lanes", lanes);
  mixstage_strip *ks = mixstage_node_sidechain_strip(node);
  mixstage_bus *kb = mixstage_node_sidechain_bus(node);
  json_t *sc;
  if (ks || kb)
    sc = json_pack("{ss ss}", ks ? "strip" : "bus", ks ? mixstage_strip_name(ks) : mixstage_bus_name(kb), "tap",
                   TAPS[mixstage_node_sidechain_tap(node) == MIXSTAGE_TAP_POST_FADER]);
  else
    sc = json_null();
  set(sv, n, "sidechain", sc);
  return n;
}

static json_t *save_send(saver *sv, mixstage_send *snd) {
  json_t *lanes = checked(sv, json_object());
  if (lanes) put_lane(sv, lanes, "level", mixstage_send_find_lane(snd));
  return json_pack("{ss sf ss ss sb so}", "to", mixstage_bus_name(mixstage_send_target(snd)), "level",
                   mixstage_send_level_db(snd), "tap", TAPS[mixstage_send_tap(snd) ? 1 : 0], "role",
                   role_str(mixstage_send_role(snd)), "mute", mixstage_send_mute(snd), "lanes", lanes);
}

static json_t *save_source(saver *sv, mixstage_strip *s) {
  const char *p = mixstage_strip_source_path(s);
  if (p) {
    char *t = source_text(p, sv->dir);
    json_t *j = t ? json_string(t) : NULL;
    free(t);
    return j;
  }
  /* No file in the engine: a path recorded on the document, as given. */
  if (sv->doc)
    for (int i = 0; i < sv->doc->npaths; i++)
      if (sv->doc->path_strips[i] == mixstage_strip_serial(s)) return json_string(sv->doc->paths[i]);
  return json_null();
}

static json_t *save_unit(saver *sv, mixstage_strip *s, mixstage_bus *bus) {
  json_t *u = checked(sv, json_object()), *ins = checked(sv, json_array()), *sends = checked(sv, json_array()),
         *lanes = checked(sv, json_object());
  if (!u || !ins || !sends || !lanes) {
    json_decref(u);
    json_decref(ins);
    json_decref(sends);
    json_decref(lanes);
    return NULL;
  }
  int nn = s ? mixstage_strip_node_count(s) : mixstage_bus_node_count(bus);
  for (int i = 0; i < nn; i++) append(sv, ins, save_node(sv, s ? mixstage_strip_node(s, i) : mixstage_bus_node(bus, i)));
  int nsend = s ? mixstage_strip_send_count(s) : mixstage_bus_send_count(bus);
  for (int i = 0; i < nsend; i++) append(sv, sends, save_send(sv, s ? mixstage_strip_send(s, i) : mixstage_bus_send(bus, i)));
  set(sv, u, "inserts", ins);
  set(sv, u, "sends", sends);
  /* Lane names index STRIP_LANES by MIXSTAGE_STRIP_*; buses have no clip gain. */
  for (int w = s ? MIXSTAGE_STRIP_CLIP_GAIN : MIXSTAGE_STRIP_FADER; w <= MIXSTAGE_STRIP_WIDTH; w++)
    put_lane(sv, lanes, STRIP_LANES[w], s ? mixstage_strip_find_lane(s, w) : mixstage_bus_find_lane(bus, w));
  set(sv, u, "lanes", lanes);
  if (s) {
    char color[8];
    snprintf(color, sizeof color, "#%06x", (unsigned)(mixstage_strip_color(s) & 0xffffffu));
    set(sv, u, "name", json_string(mixstage_strip_name(s)));
    set(sv, u, "channels", json_integer(mixstage_strip_channels(s)));
    set(sv, u, "color", json_string(color));
    set(sv, u, "source", save_source(sv, s));
    set(sv, u, "clip_gain", json_real(mixstage_strip_clip_gain_db(s)));
    set(sv, u, "fader", json_real(mixstage_strip_fader_db(s)));
    set(sv, u, "pan", json_real(mixstage_strip_pan(s)));
    set(sv, u, "width", json_real(mixstage_strip_width(s)));
    set(sv, u, "mute", json_boolean(mixstage_strip_mute(s)));
    set(sv, u, "solo", json_boolean(mixstage_strip_solo(s)));
    set(sv, u, "polarity", json_boolean(mixstage_strip_polarity(s)));
    set(sv, u, "output", json_string(mixstage_bus_name(mixstage_strip_output(s))));
  } else {
    set(sv, u, "channels", json_integer(mixstage_bus_channels(bus)));
    set(sv, u, "fader", json_real(mixstage_bus_fader_db(bus)));
    set(sv, u, "pan", json_real(mixstage_bus_pan(bus)));
    set(sv, u, "width", json_real(mixstage_bus_width(bus)));
    set(sv, u, "mute", json_boolean(mixstage_bus_mute(bus)));
    if (mixstage_bus_kind_of(bus) != MIXSTAGE_BUS_MIX) {
      set(sv, u, "name", json_string(mixstage_bus_name(bus)));
      set(sv, u, "kind", json_string(KINDS[mixstage_bus_kind_of(bus) == MIXSTAGE_BUS_RETURN]));
      set(sv, u, "output", json_string(mixstage_bus_name(mixstage_bus_output(bus))));
    }
  }
  return u;
}

static char *doc_text(mixstage_graph *g, const mixstage_graphfile *doc, const char *dir) {
  saver sv = {doc, dir, 0};
  json_t *root = json_object(), *buses = json_array(), *strips = json_array(), *profs = json_array();
  if (!root || !buses || !strips || !profs) {
    json_decref(root);
    json_decref(buses);
    json_decref(strips);
    json_decref(profs);
    return NULL;
  }
  set(&sv, root, "format", json_string(FORMAT_NAME));
  set(&sv, root, "version", json_integer(MIXSTAGE_GRAPHFILE_VERSION));
  set(&sv, root, "sample_rate", json_real(mixstage_graph_sample_rate(g)));
  set(&sv, root, "max_block", json_integer(mixstage_graph_max_block(g)));
  set(&sv, root, "tempo", json_real(mixstage_graph_tempo(g)));
  set(&sv, root, "mix", save_unit(&sv, NULL, mixstage_graph_mix_bus(g)));
  for (int i = 1; i < mixstage_graph_bus_count(g); i++) append(&sv, buses, save_unit(&sv, NULL, mixstage_graph_bus(g, i)));
  for (int i = 0; i < mixstage_graph_strip_count(g); i++) append(&sv, strips, save_unit(&sv, mixstage_graph_strip(g, i), NULL));
  for (int i = 0; doc && i < doc->nprofiles; i++) {
    const mixstage_profile *p = doc->profiles[i];
    json_t *acts = checked(&sv, json_object());
    for (int r = 0; acts && mixstage_role_name(r); r++)
      set(&sv, acts, mixstage_role_name(r), json_string(ACTIONS[mixstage_profile_action(p, r)]));
    append(&sv, profs, json_pack("{ss ss so ss sb sb sb}", "name", mixstage_profile_name(p), "base",
                                 doc->bases[i], "actions", acts, "stems", STEMS[mixstage_profile_stems(p)],
                                 "fx_stems", mixstage_profile_fx_stems(p), "mix", mixstage_profile_mix(p),
                                 "reference", mixstage_profile_reference(p)));
  }
  set(&sv, root, "buses", buses);
  set(&sv, root, "strips", strips);
  set(&sv, root, "profiles", profs);
  sbuf s = {0};
  if (!sv.oom) {
    emit(&s, root, 0);
    puts_(&s, "\n");
  }
  json_decref(root);
  if (sv.oom || s.oom) {
    free(s.p);
    return NULL;
  }
  return s.p;
}

MIXSTAGE_EXPORT char *mixstage_graphfile_to_string(const mixstage_graphfile *doc) {
  if (!doc || !doc->graph) return NULL;
  return doc_text(doc->graph, doc, doc->base_dir);
}

MIXSTAGE_EXPORT char *mixstage_graph_to_string(mixstage_graph *graph) {
  if (!graph) return NULL;
  return doc_text(graph, NULL, NULL);
}

/* Temporary file in the same directory, fsync, rename: a reader sees the
 * old file or the new one, never half of one. */
static int write_atomic(const char *path, const char *text, char *err, size_t errlen) {
  if (!path || !text) return MIXSTAGE_ENULL;
  size_t n = strlen(path);
  char *tmp = malloc(n + 16);
  if (!tmp) return MIXSTAGE_ENOMEM;
  const char *slash = strrchr(path, '/');
  size_t dirlen = slash ? (size_t)(slash - path) + 1 : 0;
  snprintf(tmp, n + 16, "%.*s.%s.XXXXXX", (int)dirlen, path, path + dirlen);
  int fd = mkstemp(tmp);
  if (fd < 0) {
    if (err && errlen) snprintf(err, errlen, "%s: cannot create a temporary file: %s", path, strerror(errno));
    free(tmp);
    return MIXSTAGE_EIO;
  }
  struct stat st;
  mode_t mode = 0666;
  /* A replaced symbolic link gets the usual mode, never the link's 0777. */
  if (lstat(path, &st) == 0 && !S_ISLNK(st.st_mode)) {
    mode = st.st_mode & 07777;
  } else {
    mode_t um = umask(0);
    umask(um);
    mode &= ~um;
  }
  size_t len = strlen(text), done = 0;
  int ok = fchmod(fd, mode) == 0;
  while (ok && done < len) {
    ssize_t w = write(fd, text + done, len - done);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) ok = 0;
    else done += (size_t)w;
  }
  if (ok) ok = fsync(fd) == 0;
  if (close(fd) != 0) ok = 0;
  if (ok) ok = rename(tmp, path) == 0;
  if (!ok) {
    if (err && errlen) snprintf(err, errlen, "%s: %s", path, strerror(errno));
    unlink(tmp);
  }
  free(tmp);
  return ok ? MIXSTAGE_OK : MIXSTAGE_EIO;
}

MIXSTAGE_EXPORT int mixstage_graphfile_save(const mixstage_graphfile *doc, const char *path, char *err, size_t errlen) {
  if (!doc || !doc->graph || !path) return MIXSTAGE_ENULL;
  char *dir = dir_of(path);
  char *t = dir ? doc_text(doc->graph, doc, dir) : NULL;
  free(dir);
  if (!t) return MIXSTAGE_ENOMEM;
  int rc = write_atomic(path, t, err, errlen);
  free(t);
  return rc;
}

MIXSTAGE_EXPORT int mixstage_graph_save(mixstage_graph *graph, const char *path, char *err, size_t errlen) {
  if (!graph || !path) return MIXSTAGE_ENULL;
  char *dir = dir_of(path);
  char *t = dir ? doc_text(graph, NULL, dir) : NULL;
  free(dir);
  if (!t) return MIXSTAGE_ENOMEM;
  int rc = write_atomic(path, t, err, errlen);
  free(t);
  return rc;
}

MIXSTAGE_EXPORT mixstage_graph *mixstage_graph_load(const char *path, const mixstage_graph_config *override,
                                                    char *err, size_t errlen, int *error) {
  return mixstage_graphfile_release(mixstage_graphfile_load(path, override, err, errlen, error));
}

MIXSTAGE_EXPORT mixstage_graph *mixstage_graph_load_string(const char *json, const char *base_dir,
                                                           const mixstage_graph_config *override,
                                                           char *err, size_t errlen, int *error) {
  return mixstage_graphfile_release(mixstage_graphfile_load_string(json, base_dir, override, err, errlen, error));
}
