/* Lane groups: strips, or buses, that can run their inserts side by side.
 *
 * A group is a set of strips, or of group and return buses, of one schedule
 * level (so none reads another's output in the same block) whose chains have
 * the same shape: the same channel count and the same node classes in the
 * same order.  (Four group buses with a compressor each are the common bus
 * case: their compressors run as four lanes.)  The mix bus stays alone: it
 * is the level's only unit, and the render hands its block out.  process.c runs
 * a group chunk by chunk, member after member for everything that is per
 * unit (source and clip gain or bus sum, fader, pan, sends), and through a class's
 * process_lanes hook for an insert that every member runs plainly in that
 * chunk, so one vector holds the same channel of several strips.  Node state
 * stays in each node (the hook gathers and scatters it per call), so a
 * member can leave the group for a chunk (a crossfade, a key, a trace) and
 * rejoin it without any hand-over.
 *
 * Groups are formed only when some insert of the shape has process_lanes.
 * A set of matching strips is split into groups of near-equal size holding
 * about MIXSTAGE__GROUP_LANES lanes each: enough to fill the kernels' vectors,
 * and small enough that a level makes several tasks of similar cost, which
 * two or more render workers share evenly (a group is one task, render.c). */
#include "internal.h"

static int same_shape(const mixstage__unit *a, const mixstage__unit *b) {
  if (a->kind != b->kind) return 0;
  if (a->level != b->level || a->channels != b->channels || a->node_count != b->node_count) return 0;
  for (int i = 0; i < a->node_count; i++)
    if (a->nodes[i]->cls != b->nodes[i]->cls) return 0;
  return 1;
}

static int is_mix_bus(const mixstage_graph *g, const mixstage__unit *u) {
  return u->kind == MIXSTAGE__UNIT_BUS && g->bus_count > 0 && (const mixstage_bus *)u == g->buses[0];
}

static int has_lane_kernel(const mixstage__unit *u) {
  for (int i = 0; i < u->node_count; i++)
    if (u->nodes[i]->cls->process_lanes) return 1;
  return 0;
}

void mixstage__groups_free(mixstage_graph *g) {
  /* every unit, not the schedule: a prepare that ran out of memory may
   * leave a schedule that was never filled */
  for (int i = 0; i < g->strip_count; i++) g->strips[i]->u.group = NULL;
  for (int i = 0; i < g->bus_count; i++) g->buses[i]->u.group = NULL;
  mixstage__gfree(g, g->groups);
  g->groups = NULL;
  g->group_count = 0;
}

int mixstage__groups_build(mixstage_graph *g) {
  mixstage__groups_free(g);
  int n = g->schedule_count;
  if (n < 2) return MIXSTAGE_OK;
  /* At most one group per two units. */
  g->groups = mixstage__galloc(g, (size_t)n / 2 + 1, sizeof *g->groups);
  mixstage__unit **set = mixstage__galloc(g, (size_t)n, sizeof *set);
  if (!g->groups || !set) {
    mixstage__gfree(g, set);
    mixstage__groups_free(g);
    return mixstage__fail(g, MIXSTAGE_ENOMEM, "graph: out of memory grouping strips");
  }
  for (int i = 0; i < n; i++) g->schedule[i]->visited = 0;
  for (int i = 0; i < n; i++) {
    mixstage__unit *u = g->schedule[i];
    if (u->visited || is_mix_bus(g, u) || !has_lane_kernel(u)) continue;
    int k = 0;
    /* The schedule is sorted by level: matches follow within the level. */
    for (int j = i; j < n && g->schedule[j]->level == u->level; j++)
      if (!g->schedule[j]->visited && !is_mix_bus(g, g->schedule[j]) && same_shape(u, g->schedule[j])) {
        set[k++] = g->schedule[j];
        g->schedule[j]->visited = 1;
      }
    if (k < 2) continue;
    int per = (MIXSTAGE__GROUP_LANES + u->channels - 1) / u->channels; /* members for the lane target */
    if (per < 2) per = 2;
    if (per > MIXSTAGE__GROUP_MAX) per = MIXSTAGE__GROUP_MAX;
    int parts = (k + per - 1) / per;
    for (int p = 0, at = 0; p < parts; p++) {
      int size = k / parts + (p < k % parts);
      if (size >= 2) {
        mixstage__group *grp = &g->groups[g->group_count++];
        grp->count = size;
        for (int m = 0; m < size; m++) {
          grp->units[m] = set[at + m];
          set[at + m]->group = grp;
        }
      }
      at += size;
    }
  }
  for (int i = 0; i < n; i++) g->schedule[i]->visited = 0;
  mixstage__gfree(g, set);
  return MIXSTAGE_OK;
}
