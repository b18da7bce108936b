/* Editing a built graph (edit.h): removing strips, buses, sends, nodes and
 * lanes, moving and replacing nodes, and the serials that let a caller find
 * out whether an object it once had is still there.
 *
 * Every removal first drops the graph's runtime (mixstage__unprepare_runtime):
 * node states, buffers, the schedule and the bus input lists all point at
 * objects, and the next prepare rebuilds them from what remains.  Then the
 * object is unlinked from everything that refers to it (arrays of its owner,
 * the key lists, the name index, the live table) before it is freed, so no
 * pointer to it survives the call.  Validation happens before any change,
 * so a refused call changes nothing. */
#include <math.h>
#include <stdio.h>
#include <string.h>
#include "internal.h"
#include "mixstage/edit.h"
#include "source_file.h"

MIXSTAGE_EXPORT mixstage_strip *mixstage_send_source_strip(mixstage_send *s) {
  return s && s->from->kind == MIXSTAGE__UNIT_STRIP ? (mixstage_strip *)s->from : NULL;
}
MIXSTAGE_EXPORT mixstage_bus *mixstage_send_source_bus(mixstage_send *s) {
  return s && s->from->kind == MIXSTAGE__UNIT_BUS ? (mixstage_bus *)s->from : NULL;
}

MIXSTAGE_EXPORT const char *mixstage_node_sidechain_lost(const mixstage_node *n) {
  return n && n->key_lost[0] ? n->key_lost : NULL;
}

/* ---- taking objects apart ------------------------------------------------------ */

/* Before an edit frees objects.  A numeric fault not yet reported names a
 * node or unit by pointer: its message is written now, while they exist.
 * The runtime exists exactly when a schedule does (prepare makes the
 * schedule first and undoes everything on failure): a graph that holds none
 * is not walked, which keeps removals from a large unprepared graph cheap. */
static void begin_removal(mixstage_graph *g) {
  if (atomic_load(&g->fault_pending)) (void)mixstage_graph_last_error(g);
  atomic_store(&g->fault_node, NULL);
  atomic_store(&g->fault_unit, NULL);
  if (g->schedule) mixstage__unprepare_runtime(g);
}

static void end_edit(mixstage_graph *g) {
  mixstage__live_compact(g);
  g->prepared = 0;
}

static void lane_drop(mixstage_graph *g, mixstage_lane *lane) {
  if (!lane) return;
  mixstage__live_drop(g, lane->serial);
  mixstage__lane_free(g, lane);
}

/* Frees a node already out of its chain (its runtime is gone: begin_removal). */
static void node_drop(mixstage_graph *g, mixstage_node *n) {
  if (n->key_unit) mixstage__keyed_remove(n, n->key_unit);
  for (int i = 0; i < n->cls->num_params; i++) lane_drop(g, n->params[i].lane);
  mixstage__live_drop(g, n->serial);
  mixstage__gfree(g, n->params);
  mixstage__gfree(g, n->pv);
  mixstage__gfree(g, n->grh);
  mixstage__gfree(g, n);
}

static void send_drop(mixstage_graph *g, mixstage_send *s) {
  lane_drop(g, s->level.lane);
  mixstage__live_drop(g, s->serial);
  mixstage__gfree(g, s);
}

static void send_unlink(mixstage__unit *u, int i) {
  memmove(&u->sends[i], &u->sends[i + 1], sizeof *u->sends * (size_t)(u->send_count - i - 1));
  u->send_count--;
}

static int send_index(const mixstage_send *s) {
  for (int i = 0; i < s->from->send_count; i++)
    if (s->from->sends[i] == s) return i;
  return -1;
}

static int node_index(const mixstage_node *n) {
  for (int i = 0; i < n->owner->node_count; i++)
    if (n->owner->nodes[i] == n) return i;
  return -1;
}

/* Nodes elsewhere keyed by u go back to their own input, and remember it. */
static void keys_lose(mixstage__unit *u) {
  for (int i = 0; i < u->keyed_count; i++) {
    mixstage_node *n = u->keyed[i];
    snprintf(n->key_lost, sizeof n->key_lost, "%s", u->name);
    n->key_unit = NULL;
  }
  u->keyed_count = 0;
}

/* What strips and buses share: chain, sends, keys, lanes, meters. */
static void unit_drop(mixstage_graph *g, mixstage__unit *u) {
  keys_lose(u);
  for (int i = 0; i < u->node_count; i++) node_drop(g, u->nodes[i]);
  mixstage__gfree(g, u->nodes);
  mixstage__gfree(g, u->keyed);
  for (int i = 0; i < u->send_count; i++) send_drop(g, u->sends[i]);
  mixstage__gfree(g, u->sends);
  lane_drop(g, u->fader.lane);
  lane_drop(g, u->pan.lane);
  lane_drop(g, u->width.lane);
  u->meter[0] = u->meter[1] = NULL; /* borrowed: the caller destroys them */
  mixstage__live_drop(g, u->serial);
}

/* ---- removal ------------------------------------------------------------------- */

MIXSTAGE_EXPORT int mixstage_strip_remove(mixstage_strip *s) {
  if (!s) return MIXSTAGE_ENULL;
  mixstage_graph *g = s->u.graph;
  if (MIXSTAGE__UNIT_BUSY(&s->u)) return MIXSTAGE_ESTATE;
  begin_removal(g);
  unit_drop(g, &s->u);
  lane_drop(g, s->clip_gain.lane);
  mixstage__gfree(g, s->src.owned);
  mixstage__file_source_close(g, s->src.file);
  mixstage__gfree(g, s->source_path);
  int at = s->u.index;
  memmove(&g->strips[at], &g->strips[at + 1], sizeof *g->strips * (size_t)(g->strip_count - at - 1));
  g->strip_count--;
  for (int i = at; i < g->strip_count; i++) g->strips[i]->u.index = i;
  mixstage__gfree(g, s);
  mixstage__names_rebuild(g);
  end_edit(g);
  return MIXSTAGE_OK;
}

MIXSTAGE_EXPORT int mixstage_bus_remove(mixstage_bus *b) {
  if (!b) return MIXSTAGE_ENULL;
  mixstage_graph *g = b->u.graph;
  if (MIXSTAGE__UNIT_BUSY(&b->u)) return MIXSTAGE_ESTATE;
  if (b->bus_kind == MIXSTAGE_BUS_MIX)
    return mixstage__fail(g, MIXSTAGE_EINVAL, "mix bus '%s' cannot be removed: every graph has one", b->u.name);
  /* Routers are refused rather than re-routed: a strip that silently moved
   * to the mix bus would change the mix without a word. */
  const mixstage__unit *first = NULL;
  int routers = 0;
  for (int i = 0; i < g->strip_count + g->bus_count; i++) {
    const mixstage__unit *v = i < g->strip_count ? &g->strips[i]->u : &g->buses[i - g->strip_count]->u;
    if (v->output == b && !routers++) first = v;
  }
  if (routers)
    return mixstage__fail(g, MIXSTAGE_ESTATE,
                          "%s '%s': %d strip%s or bus%s route%s into it (the first is %s '%s'); route %s "
                          "elsewhere before removing it",
                          mixstage__unit_what(&b->u), b->u.name, routers, routers == 1 ? "" : "s",
                          routers == 1 ? "" : "es", routers == 1 ? "s" : "", mixstage__unit_what(first),
                          first->name, routers == 1 ? "it" : "them");
  begin_removal(g);
  /* sends into the return go with it */
  for (int i = 0; i < g->strip_count + g->bus_count; i++) {
    mixstage__unit *v = i < g->strip_count ? &g->strips[i]->u : &g->buses[i - g->strip_count]->u;
    for (int k = v->send_count - 1; k >= 0; k--)
      if (v->sends[k]->to == b) {
        mixstage_send *s = v->sends[k];
        send_unlink(v, k);
        send_drop(g, s);
      }
  }
  unit_drop(g, &b->u);
  int at = b->u.index;
  memmove(&g->buses[at], &g->buses[at + 1], sizeof *g->buses * (size_t)(g->bus_count - at - 1));
  g->bus_count--;
  for (int i = at; i < g->bus_count; i++) g->buses[i]->u.index = i;
  mixstage__gfree(g, b);
  mixstage__names_rebuild(g);
  end_edit(g);
  return MIXSTAGE_OK;
}

static const char *send_label(char *buf, size_t n, const mixstage_send *s) {
  snprintf(buf, n, "send '%s -> %s'", s->from->name, s->to->u.name);
  return buf;
}

MIXSTAGE_EXPORT int mixstage_send_remove(mixstage_send *s) {
  if (!s) return MIXSTAGE_ENULL;
  mixstage_graph *g = s->graph;
  char who[2 * MIXSTAGE__NAME_MAX + 16];
  if (MIXSTAGE__BUSY(g, send_label(who, sizeof who, s))) return MIXSTAGE_ESTATE;
  int at = send_index(s);
  if (at < 0) /* cannot happen for a live send; never free what we cannot unlink */
    return mixstage__fail(g, MIXSTAGE_EINVAL, "%s: not in its owner's sends", send_label(who, sizeof who, s));
  begin_removal(g);
  send_unlink(s->from, at);
  send_drop(g, s);
  end_edit(g);
  return MIXSTAGE_OK;
}

MIXSTAGE_EXPORT int mixstage_node_remove(mixstage_node *n) {
  if (!n) return MIXSTAGE_ENULL;
  mixstage_graph *g = n->graph;
  if (MIXSTAGE__BUSY(g, mixstage_node_label(n))) return MIXSTAGE_ESTATE;
  int at = node_index(n);
  if (at < 0)
    return mixstage__fail(g, MIXSTAGE_EINVAL, "%s: not in its owner's chain", mixstage_node_label(n));
  begin_removal(g);
  mixstage__unit *u = n->owner;
  memmove(&u->nodes[at], &u->nodes[at + 1], sizeof *u->nodes * (size_t)(u->node_count - at - 1));
  u->node_count--;
  node_drop(g, n);
  end_edit(g);
  return MIXSTAGE_OK;
}

/* The parameter a lane automates, found through its owner. */
static mixstage__param *lane_param(mixstage_lane *lane) {
  switch (lane->owner_kind) {
  case MIXSTAGE__OWNER_NODE: {
    mixstage_node *n = (mixstage_node *)lane->owner;
    for (int i = 0; i < n->cls->num_params; i++)
      if (n->params[i].lane == lane) return &n->params[i];
    return NULL;
  }
  case MIXSTAGE__OWNER_SEND: {
    mixstage_send *s = (mixstage_send *)lane->owner;
    return s->level.lane == lane ? &s->level : NULL;
  }
  default: {
    mixstage__unit *u = (mixstage__unit *)lane->owner;
    if (u->fader.lane == lane) return &u->fader;
    if (u->pan.lane == lane) return &u->pan;
    if (u->width.lane == lane) return &u->width;
    if (u->kind == MIXSTAGE__UNIT_STRIP && ((mixstage_strip *)u)->clip_gain.lane == lane)
      return &((mixstage_strip *)u)->clip_gain;
    return NULL;
  }
  }
}

MIXSTAGE_EXPORT int mixstage_lane_remove(mixstage_lane *lane) {
  if (!lane) return MIXSTAGE_ENULL;
  mixstage_graph *g = lane->graph;
  char who[MIXSTAGE__ERR_MAX / 2];
  mixstage__lane_label(who, sizeof who, lane->owner_kind, lane->owner, lane->info->name);
  if (MIXSTAGE__BUSY(g, who)) return MIXSTAGE_ESTATE;
  mixstage__param *p = lane_param(lane);
  if (!p) return mixstage__fail(g, MIXSTAGE_EINVAL, "%s: not attached to its parameter", who);
  p->lane = NULL;
  lane_drop(g, lane);
  end_edit(g);
  return MIXSTAGE_OK;
}

/* ---- moving and replacing nodes ------------------------------------------------ */

MIXSTAGE_EXPORT int mixstage_node_move(mixstage_node *n, int position) {
  if (!n) return MIXSTAGE_ENULL;
  mixstage_graph *g = n->graph;
  mixstage__unit *u = n->owner;
  if (MIXSTAGE__BUSY(g, mixstage_node_label(n))) return MIXSTAGE_ESTATE;
  if (position < -1 || position >= u->node_count)
    return mixstage__fail(g, MIXSTAGE_ERANGE, "%s: position %d is outside -1 .. %d", mixstage_node_label(n),
                          position, u->node_count - 1);
  if (position < 0) position = u->node_count - 1;
  int at = node_index(n);
  if (at < 0) return mixstage__fail(g, MIXSTAGE_EINVAL, "%s: not in its owner's chain", mixstage_node_label(n));
  if (at == position) return MIXSTAGE_OK;
  if (at < position)
    memmove(&u->nodes[at], &u->nodes[at + 1], sizeof *u->nodes * (size_t)(position - at));
  else
    memmove(&u->nodes[position + 1], &u->nodes[position], sizeof *u->nodes * (size_t)(at - position));
  u->nodes[position] = n;
  g->prepared = 0;
  return MIXSTAGE_OK;
}

/* The k-th choice of "a|b|c" as a pointer and a length; NULL past the end. */
static const char *choice_at(const char *choices, int k, size_t *len) {
  const char *q = choices;
  for (int i = 0; q && i < k; i++) {
    q = strchr(q, '|');
    if (q) q++;
  }
  if (!q) return NULL;
  const char *bar = strchr(q, '|');
  *len = bar ? (size_t)(bar - q) : strlen(q);
  return q;
}

static int choice_find(const char *choices, const char *name, size_t len) {
  size_t k;
  const char *c;
  for (int i = 0; (c = choice_at(choices, i, &k)); i++)
    if (k == len && strncmp(c, name, len) == 0) return i;
  return -1;
}

static int is_choice(const mixstage_param_info *p) { return p->unit == MIXSTAGE_UNIT_ENUM && p->choices; }

/* The value a parameter of the new type takes from the old one of the same
 * name, when it means the same there; 0 when it does not carry. */
static int carry_value(const mixstage_param_info *from, const mixstage_param_info *to, double v, double *out) {
  if (from->unit != to->unit || is_choice(from) != is_choice(to)) return 0;
  if (is_choice(to)) {
    size_t len;
    const char *name = choice_at(from->choices, (int)floor(v + 0.5), &len);
    int idx = name ? choice_find(to->choices, name, len) : -1;
    if (idx < 0) return 0;
    v = idx;
  }
  if (!(v >= to->min && v <= to->max)) return 0;
  if (to->unit == MIXSTAGE_UNIT_ENUM || to->unit == MIXSTAGE_UNIT_BOOL) v = floor(v + 0.5);
  *out = v;
  return 1;
}

/* A lane carries over only when every point means the same for the new
 * parameter (choices are lane values by index: they must match exactly). */
static int lane_fits(const mixstage_lane *lane, const mixstage_param_info *from, const mixstage_param_info *to) {
  if (!to->automatable || from->unit != to->unit || is_choice(from) != is_choice(to)) return 0;
  if (is_choice(to) && strcmp(from->choices, to->choices) != 0) return 0;
  for (int i = 0; i < lane->count; i++)
    if (!(lane->points[i].value >= to->min && lane->points[i].value <= to->max)) return 0;
  return 1;
}

MIXSTAGE_EXPORT int mixstage_node_replace(mixstage_node *n, const char *type) {
  if (!n) return MIXSTAGE_ENULL;
  mixstage_graph *g = n->graph;
  if (MIXSTAGE__BUSY(g, mixstage_node_label(n))) return MIXSTAGE_ESTATE;
  if (!type) return mixstage__fail(g, MIXSTAGE_ENULL, "%s: node type is NULL", mixstage_node_label(n));
  const mixstage__node_class *cls = mixstage__find_node_class(type);
  if (!cls) {
    mixstage__suggest sg;
    char hint[96];
    mixstage__suggest_init(&sg, type);
    for (int i = 0; mixstage__node_classes[i]; i++)
      mixstage__suggest_offer(&sg, mixstage__node_classes[i]->name, strlen(mixstage__node_classes[i]->name));
    return mixstage__fail(g, MIXSTAGE_ENOTFOUND, "%s: there is no node type '%s'%s", mixstage_node_label(n), type,
                          mixstage__suggest_text(&sg, hint, sizeof hint));
  }
  const mixstage__node_class *old = n->cls;
  mixstage__param *params = mixstage__galloc(g, (size_t)cls->num_params, sizeof *params);
  double *pv = mixstage__galloc(g, (size_t)cls->num_params, sizeof *pv);
  if ((!params || !pv) && cls->num_params > 0) {
    mixstage__gfree(g, params);
    mixstage__gfree(g, pv);
    return mixstage__fail(g, MIXSTAGE_ENOMEM, "%s: out of memory replacing it by '%s'", mixstage_node_label(n),
                          cls->name);
  }
  /* the old state is finished by the old class */
  begin_removal(g);
  for (int i = 0; i < cls->num_params; i++) {
    const mixstage_param_info *to = &cls->params[i];
    mixstage__param_init(&params[i], to);
    for (int j = 0; j < old->num_params; j++) {
      const mixstage_param_info *from = &old->params[j];
      if (strcmp(from->name, to->name) != 0) continue;
      double v;
      if (carry_value(from, to, atomic_load_explicit(&n->params[j].target, memory_order_relaxed), &v))
        atomic_store_explicit(&params[i].target, v, memory_order_relaxed);
      mixstage_lane *lane = n->params[j].lane;
      if (lane && lane_fits(lane, from, to)) {
        lane->info = to;
        params[i].lane = lane;
        n->params[j].lane = NULL;
      }
      break;
    }
  }
  for (int j = 0; j < old->num_params; j++) lane_drop(g, n->params[j].lane);
  if (n->key_unit && !cls->accepts_key) {
    snprintf(n->key_lost, sizeof n->key_lost, "%s", n->key_unit->name);
    mixstage__keyed_remove(n, n->key_unit);
    n->key_unit = NULL;
  }
  if (!cls->gain_reduction) {
    mixstage__gfree(g, n->grh);
    n->grh = NULL;
    n->grh_cap = n->grh_head = 0;
  }
  n->grh_n = 0;
  mixstage__gfree(g, n->params);
  mixstage__gfree(g, n->pv);
  n->params = params;
  n->pv = pv;
  n->cls = cls;
  n->latency = 0;
  n->tail = 0;
  atomic_store(&n->gr_db, 0.0f);
  end_edit(g);
  return MIXSTAGE_OK;
}
