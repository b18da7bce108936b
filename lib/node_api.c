/* Nodes in insert chains: creation, roles, bypass, parameters, sidechains. */
#include <math.h>
#include <stdio.h>
#include <string.h>
#include "internal.h"

mixstage_lane *mixstage__param_lane(mixstage_graph *g, mixstage__param *p, int owner_kind, const void *owner,
                                    int *error);

static void set_err(int *error, int v) {
  if (error) *error = v;
}

MIXSTAGE_EXPORT const char *mixstage_node_type_name(int index) {
  if (index < 0) return NULL;
  for (int i = 0; mixstage__node_classes[i]; i++)
    if (i == index) return mixstage__node_classes[i]->name;
  return NULL;
}

MIXSTAGE_EXPORT const char *mixstage_node_type_description(int index) {
  if (index < 0) return NULL;
  for (int i = 0; mixstage__node_classes[i]; i++)
    if (i == index) return mixstage__node_classes[i]->description;
  return NULL;
}

static mixstage_node *insert(mixstage__unit *u, const char *type, int role, int position, int *error) {
  mixstage_graph *g = u->graph;
  const char *what = mixstage__unit_what(u);
  const mixstage__node_class *cls = mixstage__find_node_class(type);
  int rc = MIXSTAGE_OK;
  if (MIXSTAGE__UNIT_BUSY(u))
    rc = MIXSTAGE_ESTATE;
  else if (!type)
    rc = mixstage__fail(g, MIXSTAGE_ENULL, "%s '%s': node type is NULL", what, u->name);
  else if (!cls)
    rc = mixstage__fail(g, MIXSTAGE_ENOTFOUND, "%s '%s': there is no node type '%s'", what, u->name, type);
  else if (role < 0 || role >= MIXSTAGE_ROLE_COUNT)
    rc = mixstage__fail(g, MIXSTAGE_ERANGE, "%s '%s': role %d is not a role", what, u->name, role);
  else if (position < -1 || position > u->node_count)
    rc = mixstage__fail(g, MIXSTAGE_ERANGE, "%s '%s': insert position %d is outside -1 .. %d", what,
                        u->name, position, u->node_count);
  if (rc != MIXSTAGE_OK) {
    set_err(error, rc);
    return NULL;
  }
  if (mixstage__grow(g, (void **)&u->nodes, &u->node_cap, u->node_count + 1, sizeof *u->nodes)) goto oom;
  if (mixstage__live_reserve(g)) goto oom;
  mixstage_node *n = mixstage__galloc(g, 1, sizeof *n);
  if (!n) goto oom;
  n->params = mixstage__galloc(g, (size_t)cls->num_params, sizeof *n->params);
  n->pv = mixstage__galloc(g, (size_t)cls->num_params, sizeof *n->pv);
  if (!n->params || !n->pv) {
    mixstage__gfree(g, n->params);
    mixstage__gfree(g, n->pv);
    mixstage__gfree(g, n);
    goto oom;
  }
  n->graph = g;
  n->owner = u;
  n->cls = cls;
  n->role = role;
  for (int i = 0; i < cls->num_params; i++) mixstage__param_init(&n->params[i], &cls->params[i]);
  if (position < 0) position = u->node_count;
  memmove(&u->nodes[position + 1], &u->nodes[position], sizeof *u->nodes * (size_t)(u->node_count - position));
  u->nodes[position] = n;
  u->node_count++;
  n->serial = mixstage__live_add(g, MIXSTAGE__LIVE_NODE, n);
  g->prepared = 0;
  set_err(error, MIXSTAGE_OK);
  return n;
oom:
  set_err(error, mixstage__fail(g, MIXSTAGE_ENOMEM, "%s '%s': out of memory inserting '%s'", what, u->name, type));
  return NULL;
}

MIXSTAGE_EXPORT mixstage_node *mixstage_strip_insert(mixstage_strip *s, const char *type, int role,
                                                     int position, int *error) {
  if (!s) {
    set_err(error, MIXSTAGE_ENULL);
    return NULL;
  }
  return insert(&s->u, type, role, position, error);
}

MIXSTAGE_EXPORT mixstage_node *mixstage_bus_insert(mixstage_bus *b, const char *type, int role,
                                                   int position, int *error) {
  if (!b) {
    set_err(error, MIXSTAGE_ENULL);
    return NULL;
  }
  return insert(&b->u, type, role, position, error);
}

MIXSTAGE_EXPORT int mixstage_strip_node_count(const mixstage_strip *s) { return s ? s->u.node_count : 0; }
MIXSTAGE_EXPORT mixstage_node *mixstage_strip_node(mixstage_strip *s, int i) {
  return s && i >= 0 && i < s->u.node_count ? s->u.nodes[i] : NULL;
}
MIXSTAGE_EXPORT int mixstage_bus_node_count(const mixstage_bus *b) { return b ? b->u.node_count : 0; }
MIXSTAGE_EXPORT mixstage_node *mixstage_bus_node(mixstage_bus *b, int i) {
  return b && i >= 0 && i < b->u.node_count ? b->u.nodes[i] : NULL;
}

MIXSTAGE_EXPORT const char *mixstage_node_type(const mixstage_node *n) { return n ? n->cls->name : NULL; }

MIXSTAGE_EXPORT int mixstage_node_role(const mixstage_node *n) { return n ? n->role : MIXSTAGE_ENULL; }
MIXSTAGE_EXPORT int mixstage_node_set_role(mixstage_node *n, int role) {
  if (!n) return MIXSTAGE_ENULL;
  if (role < 0 || role >= MIXSTAGE_ROLE_COUNT)
    return mixstage__fail(n->graph, MIXSTAGE_ERANGE, "%s: role %d is not a role", mixstage_node_label(n), role);
  n->role = role;
  mixstage__controls_moved(n->graph);
  return MIXSTAGE_OK;
}
MIXSTAGE_EXPORT int mixstage_node_set_bypass(mixstage_node *n, int on) {
  if (!n) return MIXSTAGE_ENULL;
  atomic_store(&n->bypass_req, on ? 1 : 0);
  mixstage__controls_moved(n->graph);
  return MIXSTAGE_OK;
}
MIXSTAGE_EXPORT int mixstage_node_bypass(const mixstage_node *n) {
  return n ? atomic_load(&((mixstage_node *)n)->bypass_req) : 0;
}
MIXSTAGE_EXPORT mixstage_graph *mixstage_node_graph(mixstage_node *n) { return n ? n->graph : NULL; }

MIXSTAGE_EXPORT int mixstage_node_param_count(const mixstage_node *n) { return n ? n->cls->num_params : 0; }

MIXSTAGE_EXPORT int mixstage_node_param_info(const mixstage_node *n, int index, mixstage_param_info *info) {
  if (!n) return MIXSTAGE_ENULL;
  if (!info) return mixstage__fail(n->graph, MIXSTAGE_ENULL, "%s: parameter info pointer is NULL", mixstage_node_label(n));
  if (index < 0 || index >= n->cls->num_params)
    return mixstage__fail(n->graph, MIXSTAGE_ERANGE, "%s: parameter index %d is outside 0 .. %d",
                          mixstage_node_label(n), index, n->cls->num_params - 1);
  *info = n->cls->params[index];
  return MIXSTAGE_OK;
}

MIXSTAGE_EXPORT int mixstage_node_param_id(const mixstage_node *n, const char *name) {
  if (!n) return MIXSTAGE_ENULL;
  if (!name) return mixstage__fail(n->graph, MIXSTAGE_ENULL, "%s: parameter name is NULL", mixstage_node_label(n));
  for (int i = 0; i < n->cls->num_params; i++)
    if (strcmp(n->cls->params[i].name, name) == 0) return n->cls->params[i].id;
  mixstage__suggest sg;
  mixstage__suggest_init(&sg, name);
  char list[280], hint[96];
  size_t k = 0;
  list[0] = 0;
  for (int i = 0; i < n->cls->num_params; i++) {
    const char *pn = n->cls->params[i].name;
    mixstage__suggest_offer(&sg, pn, strlen(pn));
    /* room is kept for ", ..." so that a list that does not fit ends
     * visibly after a whole name */
    int w = snprintf(list + k, sizeof list - 6 - k, "%s%s", i ? ", " : "", pn);
    if (w < 0 || (size_t)w >= sizeof list - 6 - k) {
      memcpy(list + k, ", ...", 6);
      break;
    }
    k += (size_t)w;
  }
  return mixstage__fail(n->graph, MIXSTAGE_ENOTFOUND, "%s: no parameter named '%s'%s; parameters: %s",
                        mixstage_node_label(n), name, mixstage__suggest_text(&sg, hint, sizeof hint), list);
}

/* The index of the choice named @p s in "a|b|c", or -1. */
static int choice_index(const char *choices, const char *s) {
  size_t len = strlen(s);
  int idx = 0;
  for (const char *q = choices; q;) {
    const char *bar = strchr(q, '|');
    size_t k = bar ? (size_t)(bar - q) : strlen(q);
    if (k == len && strncmp(q, s, k) == 0) return idx;
    idx++;
    q = bar ? bar + 1 : NULL;
  }
  return -1;
}

MIXSTAGE_EXPORT int mixstage_node_set_param_choice(mixstage_node *n, const char *name, const char *choice) {
  if (!n) return MIXSTAGE_ENULL;
  int id = mixstage_node_param_id(n, name);
  if (id < 0) return id;
  const mixstage_param_info *info = &n->cls->params[id];
  if (!choice)
    return mixstage__fail(n->graph, MIXSTAGE_ENULL, "%s: %s: choice name is NULL", mixstage_node_label(n), info->name);
  if (info->unit != MIXSTAGE_UNIT_ENUM || !info->choices)
    return mixstage__fail(n->graph, MIXSTAGE_EINVAL, "%s: %s is not a choice parameter (set it by value)",
                          mixstage_node_label(n), info->name);
  int idx = choice_index(info->choices, choice);
  if (idx < 0) {
    mixstage__suggest sg;
    char hint[96];
    mixstage__suggest_init(&sg, choice);
    mixstage__suggest_offer_list(&sg, info->choices);
    return mixstage__fail(n->graph, MIXSTAGE_ENOTFOUND, "%s: %s has no choice '%s'%s; choices: %s",
                          mixstage_node_label(n), info->name, choice, mixstage__suggest_text(&sg, hint, sizeof hint),
                          info->choices);
  }
  return mixstage_node_set_param(n, id, (double)idx);
}

MIXSTAGE_EXPORT int mixstage_node_get_param_choice(const mixstage_node *n, const char *name, char *out,
                                                   size_t size) {
  if (!n) return MIXSTAGE_ENULL;
  if (!out || !size)
    return mixstage__fail(n->graph, MIXSTAGE_ENULL, "%s: no buffer for the choice name", mixstage_node_label(n));
  out[0] = 0;
  int id = mixstage_node_param_id(n, name);
  if (id < 0) return id;
  const mixstage_param_info *info = &n->cls->params[id];
  if (info->unit != MIXSTAGE_UNIT_ENUM || !info->choices)
    return mixstage__fail(n->graph, MIXSTAGE_EINVAL, "%s: %s is not a choice parameter", mixstage_node_label(n),
                          info->name);
  int want = (int)atomic_load_explicit(&n->params[id].target, memory_order_relaxed);
  const char *q = info->choices;
  for (int i = 0; q && i < want; i++) {
    q = strchr(q, '|');
    if (q) q++;
  }
  if (!q) return mixstage__fail(n->graph, MIXSTAGE_ERANGE, "%s: %s holds %d, past its choices", mixstage_node_label(n),
                                info->name, want);
  const char *bar = strchr(q, '|');
  size_t k = bar ? (size_t)(bar - q) : strlen(q);
  if (k >= size) return MIXSTAGE_ERANGE;
  memcpy(out, q, k);
  out[k] = 0;
  return MIXSTAGE_OK;
}

MIXSTAGE_EXPORT int mixstage_node_set_param(mixstage_node *n, int id, double v) {
  if (!n) return MIXSTAGE_ENULL;
  if (id < 0 || id >= n->cls->num_params)
    return mixstage__fail(n->graph, MIXSTAGE_ENOTFOUND, "%s: no parameter with id %d", mixstage_node_label(n), id);
  const mixstage_param_info *info = &n->cls->params[id];
  if (!(v >= info->min && v <= info->max))
    return mixstage__fail(n->graph, MIXSTAGE_ERANGE, "%s: %s %g is outside %g .. %g",
                          mixstage_node_label(n), info->name, v, info->min, info->max);
  if (info->unit == MIXSTAGE_UNIT_ENUM || info->unit == MIXSTAGE_UNIT_BOOL) v = floor(v + 0.5);
  atomic_store_explicit(&n->params[id].target, v, memory_order_relaxed);
  atomic_store_explicit(&n->ctl_dirty, 1, memory_order_release);
  mixstage__controls_moved(n->graph);
  return MIXSTAGE_OK;
}

MIXSTAGE_EXPORT int mixstage_node_get_param(const mixstage_node *n, int id, double *v) {
  if (!n) return MIXSTAGE_ENULL;
  if (!v) return mixstage__fail(n->graph, MIXSTAGE_ENULL, "%s: value pointer is NULL", mixstage_node_label(n));
  if (id < 0 || id >= n->cls->num_params)
    return mixstage__fail(n->graph, MIXSTAGE_ENOTFOUND, "%s: no parameter with id %d", mixstage_node_label(n), id);
  *v = atomic_load_explicit(&n->params[id].target, memory_order_relaxed);
  return MIXSTAGE_OK;
}

MIXSTAGE_EXPORT int mixstage_node_set_param_by_name(mixstage_node *n, const char *name, double v) {
  int id = mixstage_node_param_id(n, name);
  return id < 0 ? id : mixstage_node_set_param(n, id, v);
}

MIXSTAGE_EXPORT int mixstage_node_get_param_by_name(const mixstage_node *n, const char *name, double *v) {
  int id = mixstage_node_param_id(n, name);
  return id < 0 ? id : mixstage_node_get_param(n, id, v);
}

/* The key unit's list of keyed nodes (internal.h): sorted by the owner's
 * place in the graph's unit order, so walks meet them in that order. */
static int owner_before(const mixstage__unit *a, const mixstage__unit *b) {
  return a->kind != b->kind ? a->kind < b->kind : a->index < b->index;
}

static int keyed_add(mixstage_node *n, mixstage__unit *key) {
  if (mixstage__grow(n->graph, (void **)&key->keyed, &key->keyed_cap, key->keyed_count + 1, sizeof *key->keyed))
    return MIXSTAGE_ENOMEM;
  int i = key->keyed_count;
  while (i > 0 && owner_before(n->owner, key->keyed[i - 1]->owner)) i--;
  memmove(&key->keyed[i + 1], &key->keyed[i], sizeof *key->keyed * (size_t)(key->keyed_count - i));
  key->keyed[i] = n;
  key->keyed_count++;
  return MIXSTAGE_OK;
}

static void keyed_remove(mixstage_node *n, mixstage__unit *key) {
  for (int i = 0; i < key->keyed_count; i++)
    if (key->keyed[i] == n) {
      memmove(&key->keyed[i], &key->keyed[i + 1], sizeof *key->keyed * (size_t)(key->keyed_count - i - 1));
      key->keyed_count--;
      return;
    }
}

void mixstage__keyed_remove(mixstage_node *n, mixstage__unit *key) { keyed_remove(n, key); }

static int set_key(mixstage_node *n, mixstage__unit *key, int tap) {
  mixstage_graph *g = n->graph;
  if (MIXSTAGE__BUSY(g, mixstage_node_label(n))) return MIXSTAGE_ESTATE;
  if (!n->cls->accepts_key)
    return mixstage__fail(g, MIXSTAGE_EUNSUPPORTED, "%s: this node type takes no sidechain key", mixstage_node_label(n));
  if (key->graph != g)
    return mixstage__fail(g, MIXSTAGE_EINVAL, "%s: key '%s' belongs to another graph", mixstage_node_label(n), key->name);
  if (tap != MIXSTAGE_TAP_PRE_FADER && tap != MIXSTAGE_TAP_POST_FADER)
    return mixstage__fail(g, MIXSTAGE_EINVAL, "%s: key tap %d is not pre- or post-fader", mixstage_node_label(n), tap);
  mixstage__unit *old = n->key_unit;
  int old_tap = n->key_tap;
  if (key != old && keyed_add(n, key))
    return mixstage__fail(g, MIXSTAGE_ENOMEM, "%s: out of memory setting the key", mixstage_node_label(n));
  if (key != old && old) keyed_remove(n, old);
  n->key_unit = key;
  n->key_tap = tap;
  char msg[MIXSTAGE__ERR_MAX - 160];
  int cyc = key == n->owner ? 1 : mixstage__find_cycle(g, n->owner, msg, sizeof msg);
  if (cyc) {
    if (key == n->owner) snprintf(msg, sizeof msg, "%s -> %s", key->name, key->name);
    /* keyed_add cannot fail here: old had n in its list a moment ago */
    if (key != old && old) keyed_add(n, old);
    if (key != old) keyed_remove(n, key);
    n->key_unit = old;
    n->key_tap = old_tap;
    return mixstage__fail(g, cyc < 0 ? MIXSTAGE_ENOMEM : MIXSTAGE_ECYCLE, "%s '%s': sidechain key '%s' would create a cycle: %s",
                          mixstage__unit_what(n->owner), n->owner->name, key->name, msg);
  }
  n->key_lost[0] = '\0';
  g->prepared = 0;
  return MIXSTAGE_OK;
}

MIXSTAGE_EXPORT int mixstage_node_set_sidechain_strip(mixstage_node *n, mixstage_strip *key, int tap) {
  if (!n) return MIXSTAGE_ENULL;
  if (!key) return mixstage__fail(n->graph, MIXSTAGE_ENULL, "%s: key strip is NULL", mixstage_node_label(n));
  return set_key(n, &key->u, tap);
}

MIXSTAGE_EXPORT int mixstage_node_set_sidechain_bus(mixstage_node *n, mixstage_bus *key, int tap) {
  if (!n) return MIXSTAGE_ENULL;
  if (!key) return mixstage__fail(n->graph, MIXSTAGE_ENULL, "%s: key bus is NULL", mixstage_node_label(n));
  return set_key(n, &key->u, tap);
}

MIXSTAGE_EXPORT int mixstage_node_clear_sidechain(mixstage_node *n) {
  if (!n) return MIXSTAGE_ENULL;
  if (MIXSTAGE__BUSY(n->graph, mixstage_node_label(n))) return MIXSTAGE_ESTATE;
  if (n->key_unit) keyed_remove(n, n->key_unit);
  n->key_unit = NULL;
  n->key_lost[0] = '\0';
  n->graph->prepared = 0;
  return MIXSTAGE_OK;
}

MIXSTAGE_EXPORT mixstage_strip *mixstage_node_sidechain_strip(mixstage_node *n) {
  return n && n->key_unit && n->key_unit->kind == MIXSTAGE__UNIT_STRIP ? (mixstage_strip *)n->key_unit : NULL;
}

MIXSTAGE_EXPORT mixstage_bus *mixstage_node_sidechain_bus(mixstage_node *n) {
  return n && n->key_unit && n->key_unit->kind == MIXSTAGE__UNIT_BUS ? (mixstage_bus *)n->key_unit : NULL;
}

MIXSTAGE_EXPORT int mixstage_node_sidechain_tap(const mixstage_node *n) {
  if (!n) return MIXSTAGE_ENULL;
  if (!n->key_unit)
    return mixstage__fail(n->graph, MIXSTAGE_ENOTFOUND, "%s: has no sidechain key",
                          mixstage_node_label(n));
  return n->key_tap;
}

MIXSTAGE_EXPORT int mixstage_node_latency(const mixstage_node *n) { return n ? n->latency : 0; }
MIXSTAGE_EXPORT int64_t mixstage_node_tail(const mixstage_node *n) { return n ? n->tail : 0; }
MIXSTAGE_EXPORT double mixstage_node_gain_reduction_db(const mixstage_node *n) {
  return n ? (double)atomic_load_explicit(&((mixstage_node *)n)->gr_db, memory_order_relaxed) : 0.0;
}
MIXSTAGE_EXPORT int64_t mixstage_node_numeric_faults(const mixstage_node *n) {
  return n ? atomic_load(&((mixstage_node *)n)->faults) : 0;
}

MIXSTAGE_EXPORT mixstage_lane *mixstage_node_lane(mixstage_node *n, int id, int *error) {
  if (!n) {
    set_err(error, MIXSTAGE_ENULL);
    return NULL;
  }
  if (id < 0 || id >= n->cls->num_params) {
    set_err(error, mixstage__fail(n->graph, MIXSTAGE_ENOTFOUND, "%s: no parameter with id %d", mixstage_node_label(n), id));
    return NULL;
  }
  if (!n->cls->params[id].automatable) {
    set_err(error, mixstage__fail(n->graph, MIXSTAGE_EUNSUPPORTED, "%s: parameter '%s' is not automatable",
                                  mixstage_node_label(n), n->cls->params[id].name));
    return NULL;
  }
  return mixstage__param_lane(n->graph, &n->params[id], MIXSTAGE__OWNER_NODE, n, error);
}

MIXSTAGE_EXPORT mixstage_lane *mixstage_node_find_lane(mixstage_node *n, int id) {
  return n && id >= 0 && id < n->cls->num_params ? n->params[id].lane : NULL;
}
