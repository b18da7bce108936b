/* Prepare: cycle detection, the schedule, latency compensation, and every
 * allocation the render path will need.  Edit-time only. */
#include <math.h>
#include <stdio.h>
#include <string.h>
#include "internal.h"

/* ---- graph walks ------------------------------------------------------------ */

static int unit_count(const mixstage_graph *g) { return g->strip_count + g->bus_count; }

static mixstage__unit *unit_at(mixstage_graph *g, int i) {
  return i < g->strip_count ? &g->strips[i]->u : &g->buses[i - g->strip_count]->u;
}

/* Calls fn(v) for every unit v that depends on u: its output bus, its send
 * targets, and the owners of nodes keyed by u.  Stops early if fn returns
 * non-zero, and returns that value. */
typedef int (*edge_fn)(mixstage_graph *g, mixstage__unit *to, void *ctx);

static int for_each_successor(mixstage_graph *g, mixstage__unit *u, edge_fn fn, void *ctx) {
  int r;
  if (u->output && (r = fn(g, &u->output->u, ctx))) return r;
  for (int i = 0; i < u->send_count; i++)
    if ((r = fn(g, &u->sends[i]->to->u, ctx))) return r;
  for (int i = 0, n = unit_count(g); i < n; i++) {
    mixstage__unit *v = unit_at(g, i);
    for (int k = 0; k < v->node_count; k++)
      if (v->nodes[k]->key_unit == u) {
        if ((r = fn(g, v, ctx))) return r;
        break;
      }
  }
  return 0;
}

/* Depth-first search: visited 0 = new, 1 = on the stack, 2 = done.  The stack
 * gives the loop's path when a back edge is found. */
typedef struct dfs_ctx {
  mixstage__unit **stack;
  int depth;
  mixstage__unit **order; /* reverse post-order collects here */
  int order_count;
  char *msg;
  size_t msg_len;
  mixstage__unit *from;
} dfs_ctx;

static int dfs(mixstage_graph *g, mixstage__unit *u, dfs_ctx *c);

static int dfs_edge(mixstage_graph *g, mixstage__unit *v, void *ctx) {
  dfs_ctx *c = ctx;
  if (v->visited == 1) {
    /* Loop: from v's place on the stack down to here, then back to v. */
    int start = 0;
    while (start < c->depth && c->stack[start] != v) start++;
    size_t off = 0;
    if (c->msg && c->msg_len) c->msg[0] = '\0';
    for (int i = start; i < c->depth && c->msg; i++) {
      int w = snprintf(c->msg + off, c->msg_len - off, "%s -> ", c->stack[i]->name);
      if (w < 0 || (size_t)w >= c->msg_len - off) break;
      off += (size_t)w;
    }
    if (c->msg && off < c->msg_len) snprintf(c->msg + off, c->msg_len - off, "%s", v->name);
    return 1;
  }
  if (v->visited == 0) return dfs(g, v, c);
  return 0;
}

static int dfs(mixstage_graph *g, mixstage__unit *u, dfs_ctx *c) {
  u->visited = 1;
  c->stack[c->depth++] = u;
  int r = for_each_successor(g, u, dfs_edge, c);
  c->depth--;
  if (r) return r;
  u->visited = 2;
  if (c->order) c->order[c->order_count++] = u;
  return 0;
}

/* Topological order into order[] (may be NULL); 1 and a message on a cycle. */
static int walk(mixstage_graph *g, mixstage__unit *start, mixstage__unit **stack, mixstage__unit **order,
                char *msg, size_t len) {
  int n = unit_count(g);
  for (int i = 0; i < n; i++) unit_at(g, i)->visited = 0;
  dfs_ctx c = {stack, 0, order, 0, msg, len, NULL};
  /* Starting from the unit just edited makes a loop read from it. */
  if (start && dfs(g, start, &c)) return 1;
  for (int i = 0; i < n; i++) {
    mixstage__unit *u = unit_at(g, i);
    if (u->visited == 0 && dfs(g, u, &c)) return 1;
  }
  if (order) /* post-order lists sinks first: reverse it */
    for (int i = 0; i < n / 2; i++) {
      mixstage__unit *t = order[i];
      order[i] = order[n - 1 - i];
      order[n - 1 - i] = t;
    }
  return 0;
}

int mixstage__find_cycle(mixstage_graph *g, mixstage__unit *start, char *msg, size_t msg_len) {
  int n = unit_count(g);
  mixstage__unit **stack = mixstage__galloc(g, (size_t)n + 1, sizeof *stack);
  if (!stack) {
    snprintf(msg, msg_len, "(out of memory while checking)");
    return -1;
  }
  int r = walk(g, start, stack, NULL, msg, msg_len);
  mixstage__gfree(g, stack);
  return r;
}

static int raise_level(mixstage_graph *g, mixstage__unit *v, void *ctx) {
  (void)g;
  mixstage__unit *u = ctx;
  if (v->level < u->level + 1) v->level = u->level + 1;
  return 0;
}

/* ---- delay lines ------------------------------------------------------------- */

int mixstage__delay_init(mixstage_graph *g, mixstage__delay *d, int channels, int delay) {
  memset(d, 0, sizeof *d);
  d->channels = channels;
  d->delay = delay;
  if (delay <= 0) return MIXSTAGE_OK;
  d->len = delay;
  d->buf = mixstage__galloc(g, (size_t)channels * (size_t)d->len, sizeof(float));
  return d->buf ? MIXSTAGE_OK : MIXSTAGE_ENOMEM;
}

void mixstage__delay_free(mixstage_graph *g, mixstage__delay *d) {
  mixstage__gfree(g, d->buf);
  memset(d, 0, sizeof *d);
}

void mixstage__delay_clear(mixstage__delay *d) {
  if (d->buf) memset(d->buf, 0, sizeof(float) * (size_t)d->channels * (size_t)d->len);
  d->pos = 0;
}

/* In place: out[i] = in[i - delay].  The ring holds exactly `delay` frames. */
void mixstage__delay_process(mixstage__delay *d, float *const *io, int channels, int n) {
  if (d->delay <= 0) return;
  int len = d->len;
  for (int c = 0; c < channels && c < d->channels; c++) {
    float *ring = d->buf + (size_t)c * (size_t)len;
    float *x = io[c];
    int p = d->pos;
    /* swap x with the ring in stretches that do not wrap */
    for (int i = 0; i < n;) {
      int run = len - p < n - i ? len - p : n - i;
      float *r = ring + p, *y = x + i;
      for (int k = 0; k < run; k++) {
        float t = r[k];
        r[k] = y[k];
        y[k] = t;
      }
      i += run;
      p += run;
      if (p == len) p = 0;
    }
  }
  d->pos = (d->pos + n) % len;
}

/* ---- runtime --------------------------------------------------------------------- */

static void free_unit_runtime(mixstage_graph *g, mixstage__unit *u, int all) {
  for (int c = 0; c < MIXSTAGE_MAX_CHANNELS; c++) {
    mixstage__gfree(g, u->buf[c]);
    mixstage__gfree(g, u->pre[c]);
    mixstage__gfree(g, u->post[c]);
    mixstage__gfree(g, u->out[c]);
    u->buf[c] = u->pre[c] = u->post[c] = u->out[c] = NULL;
  }
  for (int i = 0; i < u->node_count; i++) {
    mixstage_node *n = u->nodes[i];
    if (n->state) {
      if (n->inited && n->cls->fini) {
        mixstage__node_env env = {g->sample_rate, g->tempo, u->channels, &g->alloc};
        n->cls->fini(n->state, &env);
      }
      mixstage__gfree(g, n->state);
      n->state = NULL;
    }
    n->inited = 0;
    mixstage__delay_free(g, &n->key_delay);
    mixstage__delay_free(g, &n->pre_delay);
    mixstage__delay_free(g, &n->bypass_delay);
    for (int c = 0; c < MIXSTAGE_MAX_CHANNELS; c++) {
      mixstage__gfree(g, n->key_buf[c]);
      n->key_buf[c] = NULL;
    }
    if (all) {
      mixstage__gfree(g, n->grh);
      n->grh = NULL;
      n->grh_cap = n->grh_n = n->grh_head = 0;
    }
  }
  for (int i = 0; i < u->send_count; i++)
    for (int c = 0; c < MIXSTAGE_MAX_CHANNELS; c++) {
      mixstage__gfree(g, u->sends[i]->buf[c]);
      u->sends[i]->buf[c] = NULL;
    }
  if (u->kind == MIXSTAGE__UNIT_BUS) {
    mixstage_bus *b = (mixstage_bus *)u;
    for (int i = 0; i < b->input_count; i++) mixstage__delay_free(g, &b->inputs[i].comp);
    mixstage__gfree(g, b->inputs);
    b->inputs = NULL;
    b->input_count = 0;
  }
}

static void unprepare(mixstage_graph *g, int all) {
  for (int i = 0, n = unit_count(g); i < n; i++) free_unit_runtime(g, unit_at(g, i), all);
  mixstage__groups_free(g);
  mixstage__gfree(g, g->schedule);
  g->schedule = NULL;
  g->schedule_count = 0;
  g->prepared = 0;
}

/* Gain-reduction histories outlive a prepare (they are read after a render
 * or bounce, and a bounce unprepares when done); only the graph's
 * destruction, the caller of mixstage__unprepare, frees them. */
void mixstage__unprepare(mixstage_graph *g) { unprepare(g, 1); }
void mixstage__unprepare_runtime(mixstage_graph *g) { unprepare(g, 0); }

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
  for (int i = 0, n = unit_count(g); i < n; i++) {
    mixstage__unit *v = unit_at(g, i);
    for (int k = 0; k < v->node_count; k++)
      if (v->nodes[k]->key_unit == u && v->nodes[k]->key_tap == MIXSTAGE_TAP_PRE_FADER) u->need_pre = 1;
  }
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

/* Latency and tails along the schedule; delay lines for alignment. */
static int align_unit(mixstage_graph *g, mixstage__unit *u) {
  int lat = 0;
  int64_t tail = 0;
  if (u->kind == MIXSTAGE__UNIT_BUS) {
    mixstage_bus *b = (mixstage_bus *)u;
    int n = 0;
    for (int pass = 0; pass < 2; pass++) {
      n = 0;
      for (int i = 0, cnt = unit_count(g); i < cnt; i++) {
        mixstage__unit *v = unit_at(g, i);
        if (v->output == b) {
          if (pass) b->inputs[n].unit = v;
          n++;
        }
      }
      for (int i = 0, cnt = unit_count(g); i < cnt; i++) {
        mixstage__unit *v = unit_at(g, i);
        for (int k = 0; k < v->send_count; k++)
          if (v->sends[k]->to == b) {
            if (pass) b->inputs[n].send = v->sends[k];
            n++;
          }
      }
      if (!pass) {
        b->inputs = n ? mixstage__galloc(g, (size_t)n, sizeof *b->inputs) : NULL;
        if (n && !b->inputs) return mixstage__fail(g, MIXSTAGE_ENOMEM, "bus '%s': out of memory", u->name);
        b->input_count = n;
      }
    }
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
  int n = unit_count(g);
  mixstage__unit **stack = mixstage__galloc(g, (size_t)n + 1, sizeof *stack);
  g->schedule = mixstage__galloc(g, (size_t)n, sizeof *g->schedule);
  if (!stack || !g->schedule) {
    mixstage__gfree(g, stack);
    mixstage__unprepare_runtime(g);
    return mixstage__fail(g, MIXSTAGE_ENOMEM, "graph: out of memory preparing the schedule");
  }
  char msg[MIXSTAGE__ERR_MAX - 64];
  int cyc = walk(g, NULL, stack, g->schedule, msg, sizeof msg);
  mixstage__gfree(g, stack);
  if (cyc) {
    mixstage__unprepare_runtime(g);
    return mixstage__fail(g, MIXSTAGE_ECYCLE, "graph: routing has a cycle: %s", msg);
  }
  g->schedule_count = n;
  /* Levels: a unit runs after everything it depends on.  Ordering the
   * schedule by level (stable) keeps it topological and groups units that
   * may run in parallel. */
  for (int i = 0; i < n; i++) g->schedule[i]->level = 0;
  g->level_count = n ? 1 : 0;
  for (int i = 0; i < n; i++) {
    mixstage__unit *u = g->schedule[i];
    for_each_successor(g, u, raise_level, u);
    if (u->level + 1 > g->level_count) g->level_count = u->level + 1;
  }
  for (int i = 1; i < n; i++) { /* insertion sort: stable, n is small */
    mixstage__unit *u = g->schedule[i];
    int j = i - 1;
    while (j >= 0 && g->schedule[j]->level > u->level) {
      g->schedule[j + 1] = g->schedule[j];
      j--;
    }
    g->schedule[j + 1] = u;
  }
  for (int i = 0; i < n; i++) g->schedule[i]->order = i;
  int rc = MIXSTAGE_OK;
  for (int i = 0; i < n && rc == MIXSTAGE_OK; i++) rc = prepare_unit(g, g->schedule[i]);
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
