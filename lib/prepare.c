/* Prepare: the schedule, latency compensation, and every
 * allocation the render path will need.  Edit-time only. */
#include <math.h>
#include <stdio.h>
#include <string.h>
#include "internal.h"

/* Levels: a unit's level is one more than the highest of the units it
 * depends on, so units of one level are independent.  The schedule is then
 * ordered by level, stably (a counting sort), which keeps it topological. */
static int level_schedule(mixstage_graph *g) {
  int n = g->schedule_count;
  mixstage__unit **s = g->schedule;
  for (int i = 0; i < n; i++) s[i]->level = 0;
  g->level_count = n ? 1 : 0;
  for (int i = 0; i < n; i++) {
    mixstage__unit *u = s[i], *v;
    int cursor = 0;
    while ((v = mixstage__unit_successor(u, &cursor)))
      if (v->level < u->level + 1) v->level = u->level + 1;
    if (u->level + 1 > g->level_count) g->level_count = u->level + 1;
  }
  int *first = mixstage__galloc(g, (size_t)g->level_count + 1, sizeof *first);
  mixstage__unit **sorted = mixstage__galloc(g, (size_t)n + 1, sizeof *sorted);
  if (!first || !sorted) {
    mixstage__gfree(g, first);
    mixstage__gfree(g, sorted);
    return MIXSTAGE_ENOMEM;
  }
  for (int i = 0; i < n; i++) first[s[i]->level + 1]++;
  for (int l = 1; l <= g->level_count; l++) first[l] += first[l - 1];
  for (int i = 0; i < n; i++) sorted[first[s[i]->level]++] = s[i];
  memcpy(s, sorted, sizeof *s * (size_t)n);
  mixstage__gfree(g, first);
  mixstage__gfree(g, sorted);
  return MIXSTAGE_OK;
}

static int alloc_cells(mixstage_graph *g, float **dst, int channels) {
  for (int c = 0; c < channels; c++)
    if (!(dst[c] = mixstage__galloc(g, MIXSTAGE__BLOCK, sizeof(float)))) return MIXSTAGE_ENOMEM;
  return MIXSTAGE_OK;
}

/* Which channel maps the pan stage and sends support. */
static int route_ok(int from, int to) { return from == to || from == 1 || (from == 2 && to == 1); }

static int tap_channels(const mixstage__unit *u, int tap) {
  return tap == MIXSTAGE_TAP_PRE_FADER ? u->channels : u->out_channels;
}

static int prepare_unit(mixstage_graph *g, mixstage__unit *u) {
  const char *what = mixstage__unit_what(u);
  u->out_channels = u->output ? u->output->u.channels : u->channels;
  if (!route_ok(u->channels, u->out_channels))
    return mixstage__fail(g, MIXSTAGE_ECHANNELS, "%s '%s': cannot route %d channels into %d-channel bus '%s'",
                          what, u->name, u->channels, u->out_channels, u->output->u.name);
  int wide = u->channels > u->out_channels ? u->channels : u->out_channels;
  if (alloc_cells(g, u->buf, wide) || alloc_cells(g, u->post, u->out_channels) ||
      alloc_cells(g, u->out, u->out_channels))
    goto oom;
  u->need_pre = 0;
  for (int i = 0; i < u->send_count; i++) {
    mixstage_send *s = u->sends[i];
    int from = tap_channels(u, s->tap);
    if (!route_ok(from, s->to->u.channels))
      return mixstage__fail(g, MIXSTAGE_ECHANNELS, "%s '%s': cannot send %d channels to %d-channel return '%s'",
                            what, u->name, from, s->to->u.channels, s->to->u.name);
    if (s->tap == MIXSTAGE_TAP_PRE_FADER) u->need_pre = 1;
    if (alloc_cells(g, s->buf, s->to->u.channels)) goto oom;
  }
  for (int i = 0; i < u->keyed_count; i++)
    if (u->keyed[i]->key_tap == MIXSTAGE_TAP_PRE_FADER) u->need_pre = 1;
  if (u->need_pre && alloc_cells(g, u->pre, u->channels)) goto oom;
  /* nodes */
  for (int i = 0; i < u->node_count; i++) {
    mixstage_node *n = u->nodes[i];
    n->state = mixstage__galloc(g, 1, n->cls->state_size ? n->cls->state_size : 1);
    if (!n->state) goto oom;
    mixstage__node_env env = {g->sample_rate, g->tempo, u->channels, &g->alloc};
    int rc = n->cls->init ? n->cls->init(n->state, &env) : MIXSTAGE_OK;
    if (rc != MIXSTAGE_OK)
      return mixstage__fail(g, rc, "%s: could not initialise: %s", mixstage_node_label(n), mixstage_strerror(rc));
    n->inited = 1;
    for (int p = 0; p < n->cls->num_params; p++) {
      mixstage__param_snap(&n->params[p], 0);
      n->pv[p] = n->params[p].value;
    }
    if (n->cls->update) n->cls->update(n->state, n->pv);
    if (n->cls->reset) n->cls->reset(n->state);
    n->latency = n->cls->latency ? n->cls->latency(n->state) : 0;
    n->tail = n->cls->tail ? n->cls->tail(n->state) : 0;
    if (n->latency < 0) n->latency = 0;
    if (mixstage__delay_init(g, &n->bypass_delay, u->channels, n->latency)) goto oom;
  }
  return MIXSTAGE_OK;
oom:
  return mixstage__fail(g, MIXSTAGE_ENOMEM, "%s '%s': out of memory preparing buffers", what, u->name);
}

/* Every bus's inputs in the fixed summing order: the units that output to
 * it, then the sends to it, each in unit order.  One pass over the graph
 * counts, a second fills. */
static int gather_inputs(mixstage_graph *g) {
  int n = mixstage__unit_count(g);
  for (int pass = 0; pass < 2; pass++) {
    for (int i = 0; i < g->bus_count; i++) g->buses[i]->input_count = 0;
    for (int i = 0; i < n; i++) {
      mixstage__unit *v = mixstage__unit_at(g, i);
      if (v->output) {
        if (pass) v->output->inputs[v->output->input_count].unit = v;
        v->output->input_count++;
      }
    }
    for (int i = 0; i < n; i++) {
      mixstage__unit *v = mixstage__unit_at(g, i);
      for (int k = 0; k < v->send_count; k++) {
        mixstage_bus *b = v->sends[k]->to;
        if (pass) b->inputs[b->input_count].send = v->sends[k];
        b->input_count++;
      }
    }
    for (int i = 0; !pass && i < g->bus_count; i++) {
      mixstage_bus *b = g->buses[i];
      if (b->input_count && (!(b->inputs = mixstage__galloc(g, (size_t)b->input_count, sizeof *b->inputs)) ||
                             !(b->sum_in = mixstage__galloc(g, (size_t)b->input_count * (size_t)b->u.channels,
                                                            sizeof *b->sum_in)))) {
        for (int k = 0; k < g->bus_count; k++) g->buses[k]->input_count = 0; /* none filled */
        return mixstage__fail(g, MIXSTAGE_ENOMEM, "bus '%s': out of memory", b->u.name);
      }
    }
  }
  for (int i = 0; i < g->bus_count; i++) mixstage__bus_point_inputs(g->buses[i]);
  return MIXSTAGE_OK;
}

/* Latency and tails along the schedule; delay lines for alignment. */
static int align_unit(mixstage_graph *g, mixstage__unit *u) {
  int lat = 0;
  int64_t tail = 0;
  if (u->kind == MIXSTAGE__UNIT_BUS) {
    mixstage_bus *b = (mixstage_bus *)u;
    int n = b->input_count; /* gathered by gather_inputs */
    for (int i = 0; i < n; i++) {
      mixstage__unit *src = b->inputs[i].unit ? b->inputs[i].unit : b->inputs[i].send->from;
      if (src->latency_out > lat) lat = src->latency_out;
      if (src->tail > tail) tail = src->tail;
    }
    for (int i = 0; i < n; i++) {
      mixstage__unit *src = b->inputs[i].unit ? b->inputs[i].unit : b->inputs[i].send->from;
      int ch = b->inputs[i].unit ? src->out_channels : u->channels;
      if (mixstage__delay_init(g, &b->inputs[i].comp, ch, lat - src->latency_out))
        return mixstage__fail(g, MIXSTAGE_ENOMEM, "bus '%s': out of memory", u->name);
    }
  }
  u->latency_in = lat;
  for (int i = 0; i < u->node_count; i++) {
    mixstage_node *n = u->nodes[i];
    if (n->key_unit) {
      int k = n->key_unit->latency_out;
      int kch = tap_channels(n->key_unit, n->key_tap);
      int rc;
      if (k > lat) {
        rc = mixstage__delay_init(g, &n->pre_delay, u->channels, k - lat);
        if (!rc) rc = mixstage__delay_init(g, &n->key_delay, kch, 0);
        lat = k;
      } else {
        rc = mixstage__delay_init(g, &n->key_delay, kch, lat - k);
        if (!rc) rc = mixstage__delay_init(g, &n->pre_delay, u->channels, 0);
      }
      for (int c = 0; c < kch && !rc; c++)
        if (!(n->key_buf[c] = mixstage__galloc(g, MIXSTAGE__CELL, sizeof(float)))) rc = MIXSTAGE_ENOMEM;
      if (rc) return mixstage__fail(g, MIXSTAGE_ENOMEM, "%s: out of memory", mixstage_node_label(n));
    }
    lat += n->latency;
    tail += n->tail;
  }
  u->latency_out = lat;
  u->tail = tail;
  return MIXSTAGE_OK;
}

MIXSTAGE_EXPORT int mixstage_graph_prepare(mixstage_graph *g) {
  if (!g) return MIXSTAGE_ENULL;
  if (MIXSTAGE__BUSY(g, "graph: prepare")) return MIXSTAGE_ESTATE;
  mixstage__unprepare_runtime(g);
  int n = mixstage__unit_count(g);
  g->schedule = mixstage__galloc(g, (size_t)n, sizeof *g->schedule);
  char msg[MIXSTAGE__ERR_MAX - 64];
  int cyc = g->schedule ? mixstage__topo_order(g, g->schedule, msg, sizeof msg) : -1;
  if (cyc > 0) {
    mixstage__unprepare_runtime(g);
    return mixstage__fail(g, MIXSTAGE_ECYCLE, "graph: routing has a cycle: %s", msg);
  }
  g->schedule_count = n;
  if (cyc < 0 || level_schedule(g) != MIXSTAGE_OK) {
    mixstage__unprepare_runtime(g);
    return mixstage__fail(g, MIXSTAGE_ENOMEM, "graph: out of memory preparing the schedule");
  }
  for (int i = 0; i < n; i++) g->schedule[i]->order = i;
  int rc = MIXSTAGE_OK;
  for (int i = 0; i < n && rc == MIXSTAGE_OK; i++) rc = prepare_unit(g, g->schedule[i]);
  if (rc == MIXSTAGE_OK) rc = gather_inputs(g);
  for (int i = 0; i < n && rc == MIXSTAGE_OK; i++) rc = align_unit(g, g->schedule[i]);
  if (rc == MIXSTAGE_OK) rc = mixstage__groups_build(g);
  if (rc != MIXSTAGE_OK) {
    mixstage__unprepare_runtime(g);
    return rc;
  }
  /* Attached meters: routing may have changed since the attach.  Then every
   * measurement starts afresh, so that after a render the meters and
   * histories hold that render alone. */
  for (int i = 0; i < n && rc == MIXSTAGE_OK; i++) {
    mixstage__unit *u = g->schedule[i];
    for (int t = 0; t < 2 && rc == MIXSTAGE_OK; t++)
      if (u->meter[t]) rc = mixstage__meter_check(g, u, t, u->meter[t], tap_channels(u, t));
    for (int t = 0; t < 2 && rc == MIXSTAGE_OK; t++)
      if (u->meter[t] && mixstage__meter_restart(u->meter[t]) != MIXSTAGE_OK)
        rc = mixstage__fail(g, MIXSTAGE_ENOMEM, "%s '%s': out of memory restarting its %s meter",
                            mixstage__unit_what(u), u->name, t ? "post-fader" : "pre-fader");
    for (int k = 0; k < u->node_count; k++) u->nodes[k]->grh_n = 0;
  }
  if (rc != MIXSTAGE_OK) {
    mixstage__unprepare_runtime(g);
    return rc;
  }
  g->latency = g->buses[0]->u.latency_out;
  g->tail = g->buses[0]->u.tail;
  /* Parameters smooth with a 10 ms time constant, stepped per control cell. */
  g->smooth_coef = exp(-(double)MIXSTAGE__CELL / (0.010 * g->sample_rate));
  /* Bypass, mute and profile switches crossfade over 10 ms. */
  g->xfade = (int)(0.010 * g->sample_rate + 0.5);
  g->prepared = 1;
  g->pos = 0;
  mixstage__reset_runtime(g);
  return MIXSTAGE_OK;
}

MIXSTAGE_EXPORT int mixstage_graph_is_prepared(const mixstage_graph *g) { return g ? g->prepared : 0; }
MIXSTAGE_EXPORT int mixstage_graph_latency(const mixstage_graph *g) { return g ? g->latency : 0; }
