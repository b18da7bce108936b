/* Walks of the graph model: the units that depend on a unit, loop
 * detection and topological order.  Part of the graph model (graph.c and
 * the node API refuse edits that would close a loop; prepare.c orders the
 * schedule), so it lives below the schedule rather than in prepare.c.
 * Edit-time only. */
#include <stdio.h>
#include "internal.h"

/* The units that depend on u, each once: its output bus, its send targets,
 * then the owners of the nodes keyed by u (in unit order, internal.h).  A
 * walk keeps a cursor per unit; NULL when they are exhausted. */
mixstage__unit *mixstage__unit_successor(const mixstage__unit *u, int *cursor) {
  for (;;) {
    int i = (*cursor)++;
    if (i == 0) {
      if (u->output) return &u->output->u;
      continue;
    }
    if (--i < u->send_count) return &u->sends[i]->to->u;
    if ((i -= u->send_count) >= u->keyed_count) return NULL;
    mixstage__unit *v = u->keyed[i]->owner;
    if (i == 0 || u->keyed[i - 1]->owner != v) return v;
  }
}

/* Depth-first search without recursion (a chain of thousands of buses must
 * not exhaust the stack).  visited: 0 new, 1 on the stack, 2 done; every
 * unit is 0 outside a walk.  The stack gives the loop's path when a back
 * edge is found. */
typedef struct walk_frame {
  mixstage__unit *u;
  int cursor;
} walk_frame;

typedef struct walk_ctx {
  walk_frame *stack; /* unit_count frames: a unit is pushed at most once */
  int depth;
  mixstage__unit **order; /* post-order of the finished units */
  int order_count;
  char *msg;
  size_t msg_len;
} walk_ctx;

static void loop_message(walk_ctx *c, const mixstage__unit *v) {
  /* From v's place on the stack down to the top, then back to v. */
  int start = 0;
  while (start < c->depth && c->stack[start].u != v) start++;
  size_t off = 0;
  if (!c->msg || !c->msg_len) return;
  c->msg[0] = '\0';
  for (int i = start; i < c->depth; i++) {
    int w = snprintf(c->msg + off, c->msg_len - off, "%s -> ", c->stack[i].u->name);
    if (w < 0 || (size_t)w >= c->msg_len - off) break;
    off += (size_t)w;
  }
  if (off < c->msg_len) snprintf(c->msg + off, c->msg_len - off, "%s", v->name);
}

/* 1 and a message if a loop is reachable from `from`; the stack is left as
 * it was when the loop was found. */
static int dfs(walk_ctx *c, mixstage__unit *from) {
  from->visited = 1;
  c->stack[c->depth++] = (walk_frame){from, 0};
  while (c->depth > 0) {
    walk_frame *f = &c->stack[c->depth - 1];
    mixstage__unit *v = mixstage__unit_successor(f->u, &f->cursor);
    if (!v) {
      f->u->visited = 2;
      c->order[c->order_count++] = f->u;
      c->depth--;
    } else if (v->visited == 1) {
      loop_message(c, v);
      return 1;
    } else if (v->visited == 0) {
      v->visited = 1;
      c->stack[c->depth++] = (walk_frame){v, 0};
    }
  }
  return 0;
}

static int walk_alloc(mixstage_graph *g, walk_ctx *c, char *msg, size_t msg_len) {
  int n = mixstage__unit_count(g);
  *c = (walk_ctx){mixstage__galloc(g, (size_t)n + 1, sizeof *c->stack), 0,
                  mixstage__galloc(g, (size_t)n + 1, sizeof *c->order), 0, msg, msg_len};
  if (c->stack && c->order) return MIXSTAGE_OK;
  mixstage__gfree(g, c->stack);
  mixstage__gfree(g, c->order);
  return MIXSTAGE_ENOMEM;
}

static void walk_free(mixstage_graph *g, walk_ctx *c) {
  mixstage__gfree(g, c->stack);
  mixstage__gfree(g, c->order);
}

/* The graph is kept acyclic edit by edit, so a loop made by an edit runs
 * through the edited unit: a search from it alone finds the loop, names it
 * starting there, and costs only what is reachable from it. */
int mixstage__find_cycle(mixstage_graph *g, mixstage__unit *start, char *msg, size_t msg_len) {
  walk_ctx c;
  if (walk_alloc(g, &c, msg, msg_len)) {
    snprintf(msg, msg_len, "(out of memory while checking)");
    return -1;
  }
  int r = dfs(&c, start);
  for (int i = 0; i < c.order_count; i++) c.order[i]->visited = 0;
  for (int i = 0; i < c.depth; i++) c.stack[i].u->visited = 0;
  walk_free(g, &c);
  return r;
}

/* Topological order into order[] (unit_count entries); 1 and a message on a
 * cycle.  Units are started in unit order, so the order is the same for the
 * same graph. */
int mixstage__topo_order(mixstage_graph *g, mixstage__unit **order, char *msg, size_t len) {
  int n = mixstage__unit_count(g), r = 0;
  walk_ctx c;
  if (walk_alloc(g, &c, msg, len)) return -1;
  for (int i = 0; i < n && !r; i++)
    if (mixstage__unit_at(g, i)->visited == 0) r = dfs(&c, mixstage__unit_at(g, i));
  for (int i = 0; i < n; i++) mixstage__unit_at(g, i)->visited = 0;
  /* post-order lists sinks first: reversed, it is a topological order */
  for (int i = 0; !r && i < n; i++) order[i] = c.order[n - 1 - i];
  walk_free(g, &c);
  return r;
}
