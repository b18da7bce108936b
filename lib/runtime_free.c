/* Freeing the runtime that prepare.c attaches to the graph's objects (node
 * states, buffers, delay lines, bus inputs, the schedule).  Apart from
 * prepare.c because the graph's destruction (graph.c) and every edit
 * (edit.c, bounce.c) free it too, and they must not depend on the schedule.
 * Edit-time only. */
#include "internal.h"

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
    mixstage__gfree(g, b->sum_in);
    b->sum_in = NULL;
    b->input_count = 0;
  }
}

static void unprepare(mixstage_graph *g, int all) {
  for (int i = 0, n = mixstage__unit_count(g); i < n; i++) free_unit_runtime(g, mixstage__unit_at(g, i), all);
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
