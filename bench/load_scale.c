/* Load and prepare time of large graphs (issue 13, section 4).
 *
 * 1. A graph file of N strips and buses: N/2 group buses in one chain (each
 *    bus outputs to the bus defined before it, so every routing edit checks
 *    a longer path), N/2 strips spread over the buses, every strip sending
 *    to one FX return and every tenth strip's compressor keyed by the strip
 *    before it.  Loaded from memory (the loader prepares), then prepared
 *    again; the same graph is also built through the C API.
 * 2. A graph file whose strips carry P automation points in all, loaded and
 *    prepared; then the same points added through the API in file order,
 *    and, fewer of them, in shuffled order.
 *
 * Target: each file loads and prepares in under 2 s (N = 10,000,
 * P = 1,000,000).
 *
 * usage: load_scale [N] [P]   (defaults 10000 and 1000000) */
#define _POSIX_C_SOURCE 200809L
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <jansson.h>
#include "mixstage.h"

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* CPU time of the process: on a busy machine, wall time counts the waits
 * for a core too. */
static double cpu_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* A growing string. */
typedef struct text {
  char *s;
  size_t n, cap;
} text;

static void add(text *t, const char *fmt, ...) {
  va_list ap;
  for (;;) {
    va_start(ap, fmt);
    int w = vsnprintf(t->s ? t->s + t->n : NULL, t->s ? t->cap - t->n : 0, fmt, ap);
    va_end(ap);
    if (w < 0) abort();
    if (t->s && t->n + (size_t)w < t->cap) {
      t->n += (size_t)w;
      return;
    }
    t->cap = (t->cap + (size_t)w + 1) * 2;
    if (!(t->s = realloc(t->s, t->cap))) abort();
  }
}

static void die(mixstage_graph *g, const char *what) {
  fprintf(stderr, "load_scale: %s: %s\n", what, g ? mixstage_graph_last_error(g) : "");
  exit(1);
}

static mixstage_graph *load(const char *json, const char *what, double *secs, double *cpu) {
  char err[1024];
  int status;
  double t0 = now_s(), c0 = cpu_s();
  mixstage_graph *g = mixstage_graph_load_string(json, NULL, NULL, err, sizeof err, &status);
  *secs = now_s() - t0;
  *cpu = cpu_s() - c0;
  if (!g) {
    fprintf(stderr, "load_scale: %s: %s\n", what, err);
    exit(1);
  }
  return g;
}

static double prepare(mixstage_graph *g) {
  double t0 = now_s();
  if (mixstage_graph_prepare(g) != MIXSTAGE_OK) die(g, "prepare");
  return now_s() - t0;
}

static void routing(int n) {
  int nbus = n / 2, nstrip = n - nbus - 1; /* the FX return is a bus too */
  text t = {0};
  add(&t, "{\"format\": \"mixstage-graph\", \"version\": 1,\n \"buses\": [\n");
  add(&t, "  {\"name\": \"Verb\", \"kind\": \"return\", \"inserts\": [{\"type\": \"gain\"}]}");
  for (int b = 0; b < nbus; b++) {
    char out[32] = "Mix";
    if (b) snprintf(out, sizeof out, "Bus %d", b - 1);
    add(&t, ",\n  {\"name\": \"Bus %d\", \"kind\": \"group\", \"output\": \"%s\"}", b, out);
  }
  add(&t, "],\n \"strips\": [\n");
  for (int s = 0; s < nstrip; s++) {
    add(&t, "%s  {\"name\": \"Strip %d\", \"channels\": 1, \"output\": \"Bus %d\", "
            "\"sends\": [{\"to\": \"Verb\", \"level\": -20}]",
        s ? ",\n" : "", s, (int)((long long)s * nbus / nstrip));
    if (s % 10 == 1)
      add(&t, ", \"inserts\": [{\"type\": \"compressor\", \"sidechain\": {\"strip\": \"Strip %d\"}}]", s - 1);
    add(&t, "}");
  }
  add(&t, "]}\n");

  double t_load, t_prep, c_load;
  mixstage_graph *g = load(t.s, "routing graph", &t_load, &c_load);
  t_prep = prepare(g);
  printf("routing: %d strips and %d buses (a chain of %d groups), file of %.1f MB\n", nstrip, nbus + 2, nbus,
         (double)t.n / 1e6);
  printf("  file:  load (includes a prepare) %.3f s (CPU %.3f s), prepare again %.3f s%s\n", t_load, c_load,
         t_prep, c_load < 2.0 ? "" : "   ABOVE THE 2 s TARGET");
  mixstage_graph_destroy(g);
  free(t.s);

  /* The same graph through the API: every edit checks for a cycle. */
  double t0 = now_s();
  int err;
  g = mixstage_graph_create(NULL, &err);
  if (!g) die(NULL, "create");
  mixstage_bus *verb = mixstage_graph_add_bus(g, "Verb", MIXSTAGE_BUS_RETURN, 2, &err);
  mixstage_bus **bus = malloc(sizeof *bus * (size_t)nbus);
  mixstage_strip *prev = NULL;
  if (!verb || !bus) die(g, "add bus");
  for (int b = 0; b < nbus; b++) {
    char name[32];
    snprintf(name, sizeof name, "Bus %d", b);
    if (!(bus[b] = mixstage_graph_add_bus(g, name, MIXSTAGE_BUS_GROUP, 2, &err))) die(g, "add bus");
    if (b && mixstage_bus_set_output(bus[b], bus[b - 1])) die(g, "bus output");
  }
  for (int s = 0; s < nstrip; s++) {
    char name[32];
    snprintf(name, sizeof name, "Strip %d", s);
    mixstage_strip *st = mixstage_graph_add_strip(g, name, 1, &err);
    if (!st || mixstage_strip_set_output(st, bus[(long long)s * nbus / nstrip]) ||
        !mixstage_strip_add_send(st, verb, -20, MIXSTAGE_TAP_POST_FADER, MIXSTAGE_ROLE_MIX_FX, &err))
      die(g, "strip");
    if (s % 10 == 1) {
      mixstage_node *c = mixstage_strip_insert(st, "compressor", MIXSTAGE_ROLE_STRIP, -1, &err);
      if (!c || mixstage_node_set_sidechain_strip(c, prev, MIXSTAGE_TAP_POST_FADER)) die(g, "key");
    }
    prev = st;
  }
  double t_build = now_s() - t0;
  t_prep = prepare(g);
  printf("  API:   build %.3f s, prepare %.3f s\n", t_build, t_prep);
  mixstage_graph_destroy(g);
  free(bus);
}

static void lanes(int points) {
  /* Four strips, a fader and a pan lane each: eight lanes. */
  const int lanes_n = 8, per = points / lanes_n;
  text t = {0};
  add(&t, "{\"format\": \"mixstage-graph\", \"version\": 1, \"strips\": [\n");
  for (int s = 0; s < lanes_n / 2; s++) {
    add(&t, "%s  {\"name\": \"S%d\", \"channels\": 1, \"lanes\": {", s ? ",\n" : "", s);
    for (int l = 0; l < 2; l++) {
      add(&t, "%s\"%s\": [", l ? ", " : "", l ? "pan" : "fader");
      for (int i = 0; i < per; i++)
        add(&t, "%s{\"frame\": %d, \"value\": %s}", i ? ", " : "", i * 3, i % 2 ? "-0.5" : "0.25");
      add(&t, "]");
    }
    add(&t, "}}");
  }
  add(&t, "]}\n");

  double t_load, t_prep, c_load;
  mixstage_graph *g = load(t.s, "lane graph", &t_load, &c_load);
  t_prep = prepare(g);
  printf("lanes: %d points in %d lanes, file of %.1f MB\n", per * lanes_n, lanes_n, (double)t.n / 1e6);
  printf("  file:  load (includes a prepare) %.3f s (CPU %.3f s), prepare again %.3f s%s\n", t_load, c_load,
         t_prep, c_load < 2.0 ? "" : "   ABOVE THE 2 s TARGET");
  /* The loader's floor: the JSON parser alone, as the loader calls it. */
  double c0 = cpu_s();
  json_t *doc = json_loads(t.s, JSON_REJECT_DUPLICATES, NULL);
  double c_json = cpu_s() - c0;
  json_decref(doc);
  printf("         of which parsing the JSON (jansson) CPU %.3f s\n", c_json);
  mixstage_graph_destroy(g);
  free(t.s);

  int err;
  g = mixstage_graph_create(NULL, &err);
  mixstage_strip *s = g ? mixstage_graph_add_strip(g, "S", 1, &err) : NULL;
  mixstage_lane *lane = s ? mixstage_strip_lane(s, MIXSTAGE_STRIP_FADER, &err) : NULL;
  if (!lane) die(g, "lane");
  double t0 = now_s();
  for (int i = 0; i < points; i++)
    if (mixstage_lane_add_point(lane, (int64_t)i * 3, i % 2 ? -0.5 : 0.25, MIXSTAGE_CURVE_LINEAR)) die(g, "point");
  printf("  API:   %d points in order %.3f s\n", points, now_s() - t0);
  /* Shuffled: each insertion moves the points after it, so fewer. */
  int shuffled = points / 10;
  mixstage_lane_clear(lane);
  unsigned x = 12345;
  t0 = now_s();
  for (int i = 0; i < shuffled; i++) {
    x = x * 1103515245u + 12345u;
    if (mixstage_lane_add_point(lane, (int64_t)(x >> 4), 0.0, MIXSTAGE_CURVE_LINEAR)) die(g, "point");
  }
  printf("  API:   %d points in random order %.3f s\n", shuffled, now_s() - t0);
  mixstage_graph_destroy(g);
}

int main(int argc, char **argv) {
  int n = argc > 1 ? atoi(argv[1]) : 10000;
  int p = argc > 2 ? atoi(argv[2]) : 1000000;
  if (n < 4 || p < 8) {
    fprintf(stderr, "usage: load_scale [units >= 4] [points >= 8]\n");
    return 2;
  }
  routing(n);
  lanes(p);
  return 0;
}
