/* Identity (edit.h): the graph's live table, which maps serials to the
 * objects that still exist, and the serial calls.  Every object is entered
 * when it is made (graph.c, node_api.c) and dropped when it is
 * removed (edit.c); kept apart from the editing calls so that making an
 * object does not depend on them. */
#include "internal.h"
#include "mixstage/edit.h"

int mixstage__live_reserve(mixstage_graph *g) {
  return mixstage__grow(g, (void **)&g->live, &g->live_cap, g->live_count + 1, sizeof *g->live);
}

uint64_t mixstage__live_add(mixstage_graph *g, int kind, void *obj) {
  uint64_t serial = ++g->last_serial;
  g->live[g->live_count++] = (mixstage__live){serial, kind, obj};
  return serial;
}

void mixstage__live_free(mixstage_graph *g) {
  mixstage__gfree(g, g->live);
  g->live = NULL;
  g->live_count = g->live_cap = 0;
}

/* Serials are handed out in increasing order and entries only ever leave,
 * so the table stays sorted. */
static mixstage__live *live_at(const mixstage_graph *g, uint64_t serial) {
  int lo = 0, hi = g->live_count - 1;
  while (lo <= hi) {
    int mid = lo + (hi - lo) / 2;
    uint64_t s = g->live[mid].serial;
    if (s == serial) return &g->live[mid];
    if (s < serial) lo = mid + 1;
    else hi = mid - 1;
  }
  return NULL;
}

static void *live_find(const mixstage_graph *g, uint64_t serial, int kind) {
  if (!g || !serial) return NULL;
  const mixstage__live *e = live_at(g, serial);
  return e && e->obj && e->kind == kind ? e->obj : NULL;
}

/* A hole, closed by mixstage__live_compact once the whole edit is done (a strip may
 * take hundreds of entries with it: one pass instead of one move each). */
void mixstage__live_drop(mixstage_graph *g, uint64_t serial) {
  mixstage__live *e = live_at(g, serial);
  if (e) e->obj = NULL;
}

void mixstage__live_compact(mixstage_graph *g) {
  int k = 0;
  for (int i = 0; i < g->live_count; i++)
    if (g->live[i].obj) g->live[k++] = g->live[i];
  g->live_count = k;
}

MIXSTAGE_EXPORT uint64_t mixstage_strip_serial(const mixstage_strip *s) { return s ? s->u.serial : 0; }
MIXSTAGE_EXPORT uint64_t mixstage_bus_serial(const mixstage_bus *b) { return b ? b->u.serial : 0; }
MIXSTAGE_EXPORT uint64_t mixstage_send_serial(const mixstage_send *s) { return s ? s->serial : 0; }
MIXSTAGE_EXPORT uint64_t mixstage_node_serial(const mixstage_node *n) { return n ? n->serial : 0; }
MIXSTAGE_EXPORT uint64_t mixstage_lane_serial(const mixstage_lane *l) { return l ? l->serial : 0; }

MIXSTAGE_EXPORT mixstage_strip *mixstage_graph_strip_by_serial(mixstage_graph *g, uint64_t serial) {
  return live_find(g, serial, MIXSTAGE__LIVE_STRIP);
}
MIXSTAGE_EXPORT mixstage_bus *mixstage_graph_bus_by_serial(mixstage_graph *g, uint64_t serial) {
  return live_find(g, serial, MIXSTAGE__LIVE_BUS);
}
MIXSTAGE_EXPORT mixstage_send *mixstage_graph_send_by_serial(mixstage_graph *g, uint64_t serial) {
  return live_find(g, serial, MIXSTAGE__LIVE_SEND);
}
MIXSTAGE_EXPORT mixstage_node *mixstage_graph_node_by_serial(mixstage_graph *g, uint64_t serial) {
  return live_find(g, serial, MIXSTAGE__LIVE_NODE);
}
MIXSTAGE_EXPORT mixstage_lane *mixstage_graph_lane_by_serial(mixstage_graph *g, uint64_t serial) {
  return live_find(g, serial, MIXSTAGE__LIVE_LANE);
}
