/* Bounces: a profile rendered to memory in one pass.  The production mix
 * runs as the main pass; every output the profile delivers forks from it
 * where the profile's rules differ (see include/mixstage/profile.h). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "internal.h"

typedef struct bounce_output {
  char name[MIXSTAGE__NAME_MAX + 8];
  int kind;
  float *data;
  int nulls;
  char note[MIXSTAGE__ERR_MAX];
} bounce_output;

struct mixstage_bounce {
  char profile[64];
  int count, cap;
  int64_t frames;
  int channels;
  int in_memory; /* 0: a streamed bounce's description (no data) */
  double null_residual_db; /* NAN unless measured */
  bounce_output *out;
};

/* ---- bounce objects ------------------------------------------------------------- */

MIXSTAGE_EXPORT void mixstage_bounce_destroy(mixstage_bounce *b) {
  if (!b) return;
  for (int i = 0; i < b->count; i++) free(b->out[i].data);
  free(b->out);
  free(b);
}

MIXSTAGE_EXPORT int mixstage_bounce_count(const mixstage_bounce *b) { return b ? b->count : 0; }
MIXSTAGE_EXPORT int64_t mixstage_bounce_frames(const mixstage_bounce *b) { return b ? b->frames : 0; }
MIXSTAGE_EXPORT int mixstage_bounce_channels(const mixstage_bounce *b) { return b ? b->channels : 0; }
MIXSTAGE_EXPORT const char *mixstage_bounce_profile(const mixstage_bounce *b) { return b ? b->profile : NULL; }

static const bounce_output *output_at(const mixstage_bounce *b, int i) {
  return b && i >= 0 && i < b->count ? &b->out[i] : NULL;
}

MIXSTAGE_EXPORT const char *mixstage_bounce_name(const mixstage_bounce *b, int i) {
  const bounce_output *o = output_at(b, i);
  return o ? o->name : NULL;
}
MIXSTAGE_EXPORT int mixstage_bounce_kind(const mixstage_bounce *b, int i) {
  const bounce_output *o = output_at(b, i);
  return o ? o->kind : MIXSTAGE_ERANGE;
}
MIXSTAGE_EXPORT const float *mixstage_bounce_data(const mixstage_bounce *b, int i) {
  const bounce_output *o = output_at(b, i);
  return o ? o->data : NULL;
}
MIXSTAGE_EXPORT int mixstage_bounce_adds_up(const mixstage_bounce *b, int i) {
  const bounce_output *o = output_at(b, i);
  return o ? o->nulls : MIXSTAGE_ERANGE;
}
/* The former name, deprecated (profile.h). */
MIXSTAGE_EXPORT int mixstage_bounce_nulls(const mixstage_bounce *b, int i) { return mixstage_bounce_adds_up(b, i); }
MIXSTAGE_EXPORT const char *mixstage_bounce_note(const mixstage_bounce *b, int i) {
  const bounce_output *o = output_at(b, i);
  return o ? o->note : NULL;
}
MIXSTAGE_EXPORT int mixstage_bounce_find(const mixstage_bounce *b, const char *name) {
  if (!b || !name) return MIXSTAGE_ENULL;
  for (int i = 0; i < b->count; i++)
    if (strcmp(b->out[i].name, name) == 0) return i;
  return MIXSTAGE_ENOTFOUND;
}

static int add_output(mixstage_bounce *b, const char *name, int kind) {
  if (b->count == b->cap) {
    int cap = b->cap ? 2 * b->cap : 16;
    bounce_output *n = realloc(b->out, sizeof *n * (size_t)cap);
    if (!n) return MIXSTAGE_ENOMEM;
    b->out = n;
    b->cap = cap;
  }
  bounce_output *o = &b->out[b->count];
  memset(o, 0, sizeof *o);
  snprintf(o->name, sizeof o->name, "%s", name);
  o->kind = kind;
  o->nulls = 1;
  if (b->in_memory) {
    size_t n = (size_t)b->frames * (size_t)b->channels;
    o->data = calloc(n ? n : 1, sizeof(float));
    if (!o->data) return MIXSTAGE_ENOMEM;
  }
  return b->count++;
}

/* A streamed bounce's description of profile p's mix alone, for output
 * that comes from elsewhere than a render of the graph (the final master's
 * best pass, lib/deliver.c): no audio, the mix adding up as a bounce's. */
mixstage_bounce *mixstage__bounce_describe_mix(const mixstage_profile *p, int64_t frames, int channels) {
  mixstage_bounce *b = calloc(1, sizeof *b);
  if (!b) return NULL;
  snprintf(b->profile, sizeof b->profile, "%s", p->name);
  b->frames = frames;
  b->channels = channels;
  b->null_residual_db = NAN;
  if (add_output(b, "mix", MIXSTAGE_OUTPUT_MIX) < 0) {
    mixstage_bounce_destroy(b);
    return NULL;
  }
  return b;
}

/* ---- forks ---------------------------------------------------------------------- */

/* Stages per unit whose fork delays are merged (see new_shadow); a longer
 * chain keeps one line per stage. */
#define MIXSTAGE__SHADOW_MERGE_MAX 64

static int act_of(const mixstage_profile *p, const mixstage_node *n) {
  if (atomic_load(&((mixstage_node *)n)->bypass_req)) return MIXSTAGE_ACTION_BYPASS;
  return p->action[n->role];
}

static void free_shadow(mixstage_graph *g, mixstage__shadow *sh) {
  mixstage__unit *u = sh->unit;
  if (sh->nodes)
    for (int i = 0; i < u->node_count; i++) {
      mixstage__snode *sn = &sh->nodes[i];
      if (sn->state) {
        if (sn->inited && sn->node->cls->fini) {
          mixstage__node_env env = {g->sample_rate, g->tempo, u->channels, &g->alloc};
          sn->node->cls->fini(sn->state, &env);
        }
        mixstage__gfree(g, sn->state);
      }
      mixstage__delay_free(g, &sn->delay);
      mixstage__delay_free(g, &sn->pre_delay);
      for (int c = 0; c < MIXSTAGE_MAX_CHANNELS; c++) mixstage__gfree(g, sn->trace[c]);
    }
  mixstage__gfree(g, sh->nodes);
  for (int i = 0; i < sh->input_count; i++) mixstage__delay_free(g, &sh->inputs[i].comp);
  mixstage__gfree(g, sh->inputs);
  for (int c = 0; c < MIXSTAGE_MAX_CHANNELS; c++) {
    mixstage__gfree(g, sh->buf[c]);
    mixstage__gfree(g, sh->pre[c]);
    mixstage__gfree(g, sh->post[c]);
    mixstage__gfree(g, sh->out[c]);
  }
  if (sh->sbuf) {
    for (int i = 0; i < u->send_count * MIXSTAGE_MAX_CHANNELS; i++) mixstage__gfree(g, sh->sbuf[i]);
    mixstage__gfree(g, sh->sbuf);
  }
  mixstage__gfree(g, sh);
}

static void teardown(mixstage_graph *g) {
  mixstage__bounce_run *run = g->bounce;
  if (!run) return;
  for (mixstage__shadow *sh = run->all, *next; sh; sh = next) {
    next = sh->all_next;
    free_shadow(g, sh);
  }
  int n = g->strip_count + g->bus_count;
  for (int i = 0; i < n; i++) {
    mixstage__unit *u = i < g->strip_count ? &g->strips[i]->u : &g->buses[i - g->strip_count]->u;
    u->shadows = u->dag = NULL;
    u->differs = 0;
    u->need_in = 0;
    for (int c = 0; c < MIXSTAGE_MAX_CHANNELS; c++) {
      mixstage__gfree(g, u->in[c]);
      u->in[c] = NULL;
    }
    for (int k = 0; k < u->node_count; k++) {
      mixstage_node *nd = u->nodes[k];
      nd->trace_wanted = nd->trace_ok = 0;
      for (int c = 0; c < MIXSTAGE_MAX_CHANNELS; c++) {
        mixstage__gfree(g, nd->trace[c]);
        nd->trace[c] = NULL;
      }
    }
  }
  free(run->main_outputs);
  if (run->blocks)
    for (int i = 0; run->bounce && i < run->bounce->count; i++) free(run->blocks[i]);
  free(run->blocks);
  free(run->null_stems);
  free(run->null_acc);
  free(run);
  g->bounce = NULL;
}

static int alloc_block(mixstage_graph *g, float **dst, int channels) {
  for (int c = 0; c < channels; c++)
    if (!(dst[c] = mixstage__galloc(g, MIXSTAGE__BLOCK, sizeof(float)))) return MIXSTAGE_ENOMEM;
  return MIXSTAGE_OK;
}

static int want_trace(mixstage_graph *g, float **trace, int *wanted, int channels) {
  if (*wanted) return MIXSTAGE_OK;
  *wanted = 1;
  for (int c = 0; c < channels; c++)
    if (!(trace[c] = mixstage__galloc(g, MIXSTAGE__CELL, sizeof(float)))) return MIXSTAGE_ENOMEM;
  return MIXSTAGE_OK;
}

/* Whether the production mix runs node n (its role on, not bypassed): then
 * its gain is the one every stem through it applies (the stem rules). */
static int in_production(const mixstage_node *n) {
  return act_of(mixstage__production(), n) == MIXSTAGE_ACTION_ON;
}

/* A layer whose profile delivers stems: its forks serve stems, so the
 * dynamics in them apply the production gain (see new_shadow). */
static int stems_layer(const mixstage_profile *p) {
  return p->stems != MIXSTAGE_STEMS_NONE || p->fx_stems;
}

/* A fork of unit u.  stem_mode: dynamics apply the production (or the DAG
 * fork's) gain.  Otherwise (a DAG fork: the unit as the profile changes
 * it) stages that are on run on the fork's input, except, in a layer that
 * delivers stems, the dynamics the production runs: they apply its gain. */
static mixstage__shadow *new_shadow(mixstage_graph *g, mixstage__unit *u, int stem_mode, int *rc) {
  mixstage__bounce_run *run = g->bounce;
  const mixstage_profile *p = run->profile;
  mixstage__shadow *sh = mixstage__galloc(g, 1, sizeof *sh);
  if (!sh) goto oom;
  sh->unit = u;
  sh->stem_mode = stem_mode;
  sh->collect = -1;
  sh->profile = p;
  sh->all_next = run->all;
  run->all = sh;
  int C = u->channels, B = u->out_channels;
  int wide = C > B ? C : B;
  if (alloc_block(g, sh->buf, wide) || alloc_block(g, sh->post, B) || alloc_block(g, sh->out, B)) goto oom;
  if (u->node_count && !(sh->nodes = mixstage__galloc(g, (size_t)u->node_count, sizeof *sh->nodes))) goto oom;
  for (int i = 0; i < u->node_count; i++) {
    mixstage_node *nd = u->nodes[i];
    mixstage__snode *sn = &sh->nodes[i];
    sn->node = nd;
    int act = act_of(p, nd);
    if (act == MIXSTAGE_ACTION_MUTE) sn->mode = MIXSTAGE__SN_MUTE;
    else if (act == MIXSTAGE_ACTION_BYPASS) sn->mode = MIXSTAGE__SN_DELAY;
    else if (nd->cls->gain_trace && (stem_mode || (stems_layer(p) && in_production(nd))))
      sn->mode = MIXSTAGE__SN_TRACE;
    else sn->mode = MIXSTAGE__SN_INSTANCE;
  }
  /* The delays of the fork's stages: a stage's pre-delay, then its latency
   * unless it runs.  A run of bypassed stages is nothing but delays, so the
   * run's sum goes to its last stage's line and the others get none (one
   * copy through a ring instead of several; the same samples). */
  int pre_d[MIXSTAGE__SHADOW_MERGE_MAX], lat_d[MIXSTAGE__SHADOW_MERGE_MAX];
  int merge = u->node_count <= MIXSTAGE__SHADOW_MERGE_MAX;
  for (int i = 0; merge && i < u->node_count; i++) {
    pre_d[i] = u->nodes[i]->pre_delay.delay;
    lat_d[i] = sh->nodes[i].mode == MIXSTAGE__SN_INSTANCE ? 0 : u->nodes[i]->latency;
  }
  for (int i = 0; merge && i < u->node_count; i++) {
    if (sh->nodes[i].mode != MIXSTAGE__SN_DELAY) continue;
    int j = i;
    while (j + 1 < u->node_count && sh->nodes[j + 1].mode == MIXSTAGE__SN_DELAY) j++;
    int total = 0;
    for (int k = i; k <= j; k++) {
      total += pre_d[k] + lat_d[k];
      pre_d[k] = lat_d[k] = 0;
    }
    lat_d[j] = total;
    i = j;
  }
  for (int i = 0; i < u->node_count; i++) {
    mixstage_node *nd = u->nodes[i];
    mixstage__snode *sn = &sh->nodes[i];
    /* A fork of a unit that a stem passes through (a group fed by a muted
     * send, say) applies the production gain of each dynamics stage the
     * production runs: what feeds it in the fork does not matter. */
    if (sn->mode == MIXSTAGE__SN_TRACE && !stem_mode && want_trace(g, nd->trace, &nd->trace_wanted, C)) goto oom;
    if (mixstage__delay_init(g, &sn->pre_delay, C, merge ? pre_d[i] : nd->pre_delay.delay) ||
        mixstage__delay_init(g, &sn->delay, C,
                             merge ? lat_d[i] : sn->mode == MIXSTAGE__SN_INSTANCE ? 0 : nd->latency))
      goto oom;
    if (sn->mode == MIXSTAGE__SN_INSTANCE || sn->mode == MIXSTAGE__SN_TRACE) {
      /* TRACE keeps a copy too: it takes over if the gain cannot be traced. */
      if (!(sn->state = mixstage__galloc(g, 1, nd->cls->state_size ? nd->cls->state_size : 1))) goto oom;
      mixstage__node_env env = {g->sample_rate, g->tempo, C, &g->alloc};
      int r = nd->cls->init ? nd->cls->init(sn->state, &env) : MIXSTAGE_OK;
      if (r != MIXSTAGE_OK) {
        *rc = mixstage__fail(g, r, "%s: could not fork for the bounce", mixstage_node_label(nd));
        return NULL;
      }
      sn->inited = 1;
      if (nd->cls->update) nd->cls->update(sn->state, nd->pv);
      if (nd->cls->reset) nd->cls->reset(sn->state);
      sn->serial = nd->update_serial;
    }
  }
  return sh;
oom:
  *rc = mixstage__fail(g, MIXSTAGE_ENOMEM, "%s '%s': out of memory forking for the bounce",
                       mixstage__unit_what(u), u->name);
  return NULL;
}

static void attach(mixstage__unit *u, mixstage__shadow *sh) {
  mixstage__shadow **tail = &u->shadows;
  while (*tail) tail = &(*tail)->next;
  *tail = sh;
}

static int add_input(mixstage_graph *g, mixstage__shadow *sh, float **src, int delay) {
  int n = sh->input_count + 1;
  mixstage__sinput *in = mixstage__galloc(g, (size_t)n, sizeof *in);
  if (!in) return MIXSTAGE_ENOMEM;
  if (sh->inputs) memcpy(in, sh->inputs, sizeof *in * (size_t)sh->input_count);
  mixstage__gfree(g, sh->inputs);
  sh->inputs = in;
  in[n - 1].src = src;
  sh->input_count = n;
  return mixstage__delay_init(g, &in[n - 1].comp, sh->unit->channels, delay);
}

/* The profile's fork of u and of every differing unit it depends on. */
static int need_dag(mixstage_graph *g, mixstage__unit *u, int *rc) {
  if (!u->differs || u->dag) return MIXSTAGE_OK;
  const mixstage_profile *p = g->bounce->profile;
  mixstage__shadow *sh = new_shadow(g, u, 0, rc);
  if (!sh) return *rc;
  u->dag = sh;
  if (u->kind == MIXSTAGE__UNIT_STRIP) {
    sh->from_in = 1;
    u->need_in = 1;
    if (!u->in[0] && alloc_block(g, u->in, u->channels)) return *rc = MIXSTAGE_ENOMEM;
  } else {
    mixstage_bus *b = (mixstage_bus *)u;
    for (int i = 0; i < b->input_count; i++) {
      mixstage__input *in = &b->inputs[i];
      mixstage__unit *src = in->unit ? in->unit : in->send->from;
      if (in->send && p->action[in->send->role] == MIXSTAGE_ACTION_MUTE) continue;
      if (src->differs && need_dag(g, src, rc)) return *rc;
      float **ptr;
      if (in->unit) {
        ptr = src->differs ? src->dag->out : src->out;
      } else {
        int si = 0;
        while (src->sends[si] != in->send) si++;
        ptr = src->differs ? &src->dag->sbuf[si * MIXSTAGE_MAX_CHANNELS] : in->send->buf;
      }
      if (add_input(g, sh, ptr, in->comp.delay)) return *rc = MIXSTAGE_ENOMEM;
    }
  }
  if (u->send_count) {
    sh->sbuf = mixstage__galloc(g, (size_t)u->send_count * MIXSTAGE_MAX_CHANNELS, sizeof *sh->sbuf);
    if (!sh->sbuf) return *rc = MIXSTAGE_ENOMEM;
    for (int si = 0; si < u->send_count; si++)
      if (alloc_block(g, &sh->sbuf[si * MIXSTAGE_MAX_CHANNELS], u->sends[si]->to->u.channels))
        return *rc = MIXSTAGE_ENOMEM;
    if (alloc_block(g, sh->pre, u->channels)) return *rc = MIXSTAGE_ENOMEM;
  }
  attach(u, sh);
  return MIXSTAGE_OK;
}

/* Which units the profile changes: a stage whose action differs from the
 * production's, or an input that changed (a differing unit, a muted send). */
static void mark_differs(mixstage_graph *g, const mixstage_profile *p) {
  const mixstage_profile *prod = mixstage__production();
  for (int i = 0; i < g->schedule_count; i++) {
    mixstage__unit *u = g->schedule[i];
    int d = 0;
    for (int k = 0; k < u->node_count && !d; k++)
      d = p->action[u->nodes[k]->role] != prod->action[u->nodes[k]->role];
    if (u->kind == MIXSTAGE__UNIT_BUS) {
      mixstage_bus *b = (mixstage_bus *)u;
      for (int k = 0; k < b->input_count && !d; k++) {
        mixstage__input *in = &b->inputs[k];
        if (in->unit) d = in->unit->differs;
        else d = in->send->from->differs || p->action[in->send->role] != prod->action[in->send->role];
      }
    }
    u->differs = d;
  }
}

/* Whether two stem forks of one unit give the same samples: the same
 * inputs with the same alignment, every stage in the same mode with the
 * same delays and the same gains applied.  Copies of a node start from the
 * same settings and state, so the same input gives the same output. */
static int same_fork(const mixstage__shadow *a, const mixstage__shadow *b) {
  const mixstage__unit *u = a->unit;
  if (b->unit != u || a->stem_mode != b->stem_mode || a->from_in != b->from_in || a->sbuf || b->sbuf ||
      a->input_count != b->input_count)
    return 0;
  for (int i = 0; i < a->input_count; i++)
    if (a->inputs[i].src != b->inputs[i].src || a->inputs[i].comp.delay != b->inputs[i].comp.delay) return 0;
  for (int i = 0; i < u->node_count; i++) {
    const mixstage__snode *x = &a->nodes[i], *y = &b->nodes[i];
    if (x->mode != y->mode || x->provider != y->provider || x->pre_delay.delay != y->pre_delay.delay ||
        x->delay.delay != y->delay.delay)
      return 0;
  }
  return 1;
}

/* A fork already attached to sh's unit that gives the same samples (the
 * null check's stems share the delivered stems' forks up to the mix bus),
 * or NULL.  A fork that feeds an output is shared only where the sharer
 * does not feed one too (collects: it will). */
static mixstage__shadow *twin_of(const mixstage__shadow *sh, int collects) {
  for (mixstage__shadow *t = sh->unit->shadows; t; t = t->next)
    if ((!collects || t->collect < 0) && same_fork(t, sh)) return t;
  return NULL;
}

/* A stem: src (a unit's output, or its DAG fork's) through every bus on the
 * way to the mix bus, in stem mode.  Returns the last fork (at the mix bus);
 * collects: the caller makes that fork feed an output.  A fork the same as
 * one built before is that one (see twin_of). */
static mixstage__shadow *stem_path(mixstage_graph *g, mixstage__unit *src, bounce_output *o, int collects,
                                   int *rc) {
  float **ptr = src->differs ? src->dag->out : src->out;
  int lat = src->latency_out;
  mixstage__shadow *last = NULL;
  for (mixstage_bus *b = src->output; b; b = b->u.output) {
    mixstage__shadow *sh = new_shadow(g, &b->u, 1, rc);
    if (!sh) return NULL;
    if (add_input(g, sh, ptr, b->u.latency_in - lat)) {
      *rc = MIXSTAGE_ENOMEM;
      return NULL;
    }
    for (int i = 0; i < b->u.node_count; i++) {
      mixstage__snode *sn = &sh->nodes[i];
      mixstage_node *nd = sn->node;
      if (sn->mode == MIXSTAGE__SN_TRACE) {
        /* The gain is the production's whenever the production runs the
         * stage, whatever feeds the bus in this profile (a return the
         * profile mutes, a forked group); only a stage the production does
         * not run takes it from the unit's fork. */
        if (b->u.differs && !in_production(nd)) {
          if (need_dag(g, &b->u, rc)) return NULL;
          sn->provider = &b->u.dag->nodes[i];
          if (want_trace(g, sn->provider->trace, &sn->provider->trace_wanted, b->u.channels)) goto oom;
        } else if (want_trace(g, nd->trace, &nd->trace_wanted, b->u.channels)) {
          goto oom;
        }
      } else if (sn->mode == MIXSTAGE__SN_INSTANCE && !nd->cls->linear && o->nulls &&
                 nd->role != MIXSTAGE_ROLE_BUS_COLOR) {
        /* Bus color is the one nonlinear stage the rules apply to each stem
         * on its own; the null check bypasses it. */
        o->nulls = 0;
        snprintf(o->note, sizeof o->note,
                 "%s is nonlinear: this stem carries it, but stems through it do not add up exactly; "
                 "bounce this group as one stem to keep the sum exact",
                 mixstage_node_label(nd));
      }
    }
    mixstage__shadow *twin = twin_of(sh, collects && !b->u.output);
    if (twin) {
      /* the new fork is the newest in the bounce's list: unlink, free */
      g->bounce->all = sh->all_next;
      free_shadow(g, sh);
      sh = twin;
    } else {
      attach(&b->u, sh);
    }
    ptr = sh->out;
    lat = b->u.latency_out;
    last = sh;
  }
  return last;
oom:
  *rc = MIXSTAGE_ENOMEM;
  return NULL;
}

static void interleave(float *d, float *const *src, int i0, int m, int ch) {
  for (int c = 0; c < ch; c++)
    for (int i = 0; i < m; i++) d[(size_t)i * (size_t)ch + (size_t)c] = src[c][i0 + i];
}

/* The null check of one block: the stems summed in double in output order,
 * less the reference, as mixstage_graph_null_check() always summed them. */
static void null_accumulate(mixstage__bounce_run *run, int i0, int m, int ch) {
  double *acc = run->null_acc, peak = run->null_peak;
  for (int c = 0; c < ch; c++) {
    double *a = acc + (size_t)c * MIXSTAGE__BLOCK;
    for (int i = 0; i < m; i++) a[i] = 0.0;
    for (int k = 0; k < run->null_count; k++) {
      const float *x = run->null_stems[k][c] + i0;
      for (int i = 0; i < m; i++) a[i] += x[i];
    }
    const float *r = run->null_ref[c] + i0;
    for (int i = 0; i < m; i++) {
      double d = fabs(a[i] - (double)r[i]);
      if (d > peak) peak = d;
    }
  }
  run->null_peak = peak;
}

static void bounce_collect(mixstage_graph *g, int64_t pos, int n) {
  mixstage__bounce_run *run = g->bounce;
  mixstage_bounce *b = run->bounce;
  int64_t first = pos - run->skip; /* output frame of this block's first frame */
  int i0 = first < 0 ? (int)(-first) : 0;
  if (i0 >= n) return;
  int64_t dst = first + i0;
  int m = n - i0;
  if (dst + m > b->frames) m = (int)(b->frames - dst);
  if (m <= 0) return;
  int ch = b->channels;
  if (run->null_ref) null_accumulate(run, i0, m, ch);
  if (!b->count || run->sink_status < 0) return;
  mixstage__unit *mix = &g->buses[0]->u;
  for (int k = 0; k < run->main_count; k++) interleave(run->blocks[run->main_outputs[k]], mix->out, i0, m, ch);
  for (mixstage__shadow *sh = run->all; sh; sh = sh->all_next)
    if (sh->collect >= 0) interleave(run->blocks[sh->collect], sh->out, i0, m, ch);
  if (run->sink) {
    int rc = run->sink(run->sink_user, b, dst, m, (const float *const *)run->blocks);
    if (rc < 0) run->sink_status = rc;
  } else {
    for (int k = 0; k < b->count; k++)
      memcpy(b->out[k].data + (size_t)dst * (size_t)ch, run->blocks[k], sizeof(float) * (size_t)m * (size_t)ch);
  }
}

static int add_main_output(mixstage__bounce_run *run, int index) {
  int *n = realloc(run->main_outputs, sizeof *n * (size_t)(run->main_count + 1));
  if (!n) return MIXSTAGE_ENOMEM;
  run->main_outputs = n;
  n[run->main_count++] = index;
  return MIXSTAGE_OK;
}

static int add_null_stem(mixstage__bounce_run *run, mixstage__shadow *last) {
  float ***n = realloc(run->null_stems, sizeof *n * (size_t)(run->null_count + 1));
  if (!n) return MIXSTAGE_ENOMEM;
  run->null_stems = n;
  n[run->null_count++] = last->out;
  return MIXSTAGE_OK;
}

/* Starts building the forks of profile p: which units it changes, and no
 * fork of a unit yet (the forks of an earlier layer stay attached and run). */
static void begin_layer(mixstage_graph *g, const mixstage_profile *p) {
  g->bounce->profile = p;
  int n = g->strip_count + g->bus_count;
  for (int i = 0; i < n; i++) {
    mixstage__unit *u = i < g->strip_count ? &g->strips[i]->u : &g->buses[i - g->strip_count]->u;
    u->dag = NULL;
  }
  mark_differs(g, p);
}

/* A stem fork ends here: it feeds output idx of the bounce, or (null) the
 * null check's sum. */
static int stem_end(mixstage__bounce_run *run, mixstage__shadow *last, int idx, int null) {
  if (null) return add_null_stem(run, last) ? MIXSTAGE_ENOMEM : MIXSTAGE_OK;
  last->collect = idx;
  return MIXSTAGE_OK;
}

/* The stems and FX stems of profile p, in output order: as outputs of the
 * bounce, or (null) as the null check's sum. */
static int add_stems(mixstage_graph *g, const mixstage_profile *p, mixstage_bounce *b, int null) {
  int rc = MIXSTAGE_OK, idx = -1;
  mixstage__bounce_run *run = g->bounce;
  bounce_output scratch;
  if (p->stems != MIXSTAGE_STEMS_NONE) {
    for (int i = 0; i < g->strip_count; i++) {
      mixstage__unit *s = &g->strips[i]->u;
      if (p->stems == MIXSTAGE_STEMS_PER_GROUP && s->output != g->buses[0]) continue;
      if (!null && (idx = add_output(b, s->name, MIXSTAGE_OUTPUT_STEM)) < 0) return idx;
      if (s->differs && need_dag(g, s, &rc)) return rc;
      memset(&scratch, 0, sizeof scratch);
      mixstage__shadow *last = stem_path(g, s, null ? &scratch : &b->out[idx], !null, &rc);
      if (!last) return rc;
      if ((rc = stem_end(run, last, idx, null)) < 0) return rc;
    }
    if (p->stems == MIXSTAGE_STEMS_PER_GROUP)
      for (int i = 1; i < g->bus_count; i++) {
        mixstage__unit *grp = &g->buses[i]->u;
        if (g->buses[i]->bus_kind != MIXSTAGE_BUS_GROUP || grp->output != g->buses[0]) continue;
        if (!null && (idx = add_output(b, grp->name, MIXSTAGE_OUTPUT_STEM)) < 0) return idx;
        if (grp->differs && need_dag(g, grp, &rc)) return rc;
        memset(&scratch, 0, sizeof scratch);
        mixstage__shadow *last = stem_path(g, grp, null ? &scratch : &b->out[idx], !null, &rc);
        if (!last) return rc;
        if ((rc = stem_end(run, last, idx, null)) < 0) return rc;
      }
  }
  if (p->fx_stems)
    for (int i = 1; i < g->bus_count; i++) {
      mixstage__unit *ret = &g->buses[i]->u;
      if (g->buses[i]->bus_kind != MIXSTAGE_BUS_RETURN) continue;
      if (!null && (idx = add_output(b, ret->name, MIXSTAGE_OUTPUT_FX)) < 0) return idx;
      /* An FX stem is the return as the production mix hears it. */
      int d = ret->differs;
      ret->differs = 0;
      memset(&scratch, 0, sizeof scratch);
      mixstage__shadow *last = stem_path(g, ret, null ? &scratch : &b->out[idx], !null, &rc);
      ret->differs = d;
      if (!last) return rc;
      if ((rc = stem_end(run, last, idx, null)) < 0) return rc;
    }
  return MIXSTAGE_OK;
}

/* The two profiles of the null check of base: its stems with bus-color
 * bypassed plus the FX stems, and the production mix with the mix-bus stages
 * bypassed. */
static void null_profiles(const mixstage_profile *base, mixstage_profile *stems, mixstage_profile *mix) {
  *stems = *base;
  snprintf(stems->name, sizeof stems->name, "null-check-stems");
  stems->action[MIXSTAGE_ROLE_BUS_COLOR] = MIXSTAGE_ACTION_BYPASS;
  stems->fx_stems = 1;
  stems->mix = 0;
  stems->reference = 0;
  *mix = *mixstage__production();
  snprintf(mix->name, sizeof mix->name, "null-check-mix");
  mix->stems = MIXSTAGE_STEMS_NONE;
  mix->mix = 1;
  mix->reference = 0;
  for (int r = MIXSTAGE_ROLE_BUS_COLOR; r <= MIXSTAGE_ROLE_MASTERING; r++) mix->action[r] = MIXSTAGE_ACTION_BYPASS;
}

/* The forks of the bounce: the outputs of each of the n profiles (first[j]:
 * the index of profile j's first output, first[n] the count), then the null
 * check's (null_stems, null_mix non-NULL), each profile a layer of forks
 * over the one production pass. */
static int setup(mixstage_graph *g, const mixstage_profile *const *ps, int n, int *first, mixstage_bounce *b,
                 const mixstage_profile *null_stems, const mixstage_profile *null_mix) {
  int rc = MIXSTAGE_OK;
  mixstage__bounce_run *run = g->bounce;
  mixstage__unit *mix = &g->buses[0]->u;
  int idx;
  for (int j = 0; j < n; j++) {
    const mixstage_profile *p = ps[j];
    if (first) first[j] = b->count;
    begin_layer(g, p);
    if (p->mix) {
      if ((idx = add_output(b, "mix", MIXSTAGE_OUTPUT_MIX)) < 0) return idx;
      if (mix->differs) {
        if (need_dag(g, mix, &rc)) return rc;
        mix->dag->collect = idx;
      } else if (add_main_output(run, idx)) {
        return MIXSTAGE_ENOMEM;
      }
    }
    if ((rc = add_stems(g, p, b, 0)) < 0) return rc;
    if (p->reference) {
      if ((idx = add_output(b, "reference", MIXSTAGE_OUTPUT_REFERENCE)) < 0) return idx;
      if (add_main_output(run, idx)) return MIXSTAGE_ENOMEM;
    }
  }
  if (first) first[n] = b->count;
  if (null_stems) {
    begin_layer(g, null_stems);
    if ((rc = add_stems(g, null_stems, b, 1)) < 0) return rc;
    begin_layer(g, null_mix);
    if (mix->differs) {
      if (need_dag(g, mix, &rc)) return rc;
      run->null_ref = mix->dag->out;
    } else {
      run->null_ref = mix->out;
    }
    run->null_acc = calloc((size_t)MIXSTAGE__BLOCK * (size_t)mix->channels, sizeof(double));
    if (!run->null_acc) return MIXSTAGE_ENOMEM;
  }
  if (b->count) {
    run->blocks = calloc((size_t)b->count, sizeof *run->blocks);
    if (!run->blocks) return MIXSTAGE_ENOMEM;
    for (int k = 0; k < b->count; k++)
      if (!(run->blocks[k] = malloc(sizeof(float) * MIXSTAGE__BLOCK * (size_t)b->channels))) return MIXSTAGE_ENOMEM;
  }
  return MIXSTAGE_OK;
}

/* The render's progress, through which a failed sink stops the render. */
typedef struct progress_relay {
  mixstage_progress_fn fn;
  void *user;
  mixstage__bounce_run *run;
} progress_relay;

static int relay_progress(void *user, int64_t done, int64_t total) {
  progress_relay *r = user;
  if (r->run->sink_status < 0) return 1;
  return r->fn ? r->fn(r->user, done, total) : 0;
}

/* One pass over the graph for the n profiles ps (n 0: none, the null check
 * alone): their outputs, in order, into memory or to sink (first: see
 * setup()), and the null check of profile null_base (NULL: none).  Returns
 * the bounce, named after ps[0] (or null_base), or NULL with *error set. */
static mixstage_bounce *bounce_run(mixstage_graph *g, const mixstage_profile *const *ps, int np, int *first,
                                   const mixstage_render_config *cfg, const mixstage_profile *null_base,
                                   mixstage_bounce_block_fn sink, void *sink_user, int *error) {
  const mixstage_profile *p = np ? ps[0] : null_base;
  int outputs = np > 0, null = null_base != NULL;
  mixstage_render_config c;
  int rc = mixstage__render_resolve(g, cfg, &c);
  if (rc == MIXSTAGE_OK) rc = mixstage_graph_prepare(g);
  int64_t total = rc == MIXSTAGE_OK ? mixstage_graph_render_frames(g, &c) : rc;
  if (total < 0) {
    *error = (int)total;
    return NULL;
  }
  mixstage_bounce *b = calloc(1, sizeof *b);
  mixstage__bounce_run *run = calloc(1, sizeof *run);
  if (!b || !run) {
    free(b);
    free(run);
    *error = mixstage__fail(g, MIXSTAGE_ENOMEM, "bounce: out of memory");
    return NULL;
  }
  snprintf(b->profile, sizeof b->profile, "%s", p->name);
  b->frames = total;
  b->channels = g->buses[0]->u.channels;
  b->in_memory = outputs && !sink;
  b->null_residual_db = NAN;
  run->bounce = b;
  run->profile = p;
  run->total = total;
  run->sink = sink;
  run->sink_user = sink_user;
  run->collect = bounce_collect;
  g->bounce = run;
  mixstage_profile null_stems, null_mix;
  if (null) null_profiles(null_base, &null_stems, &null_mix);
  progress_relay relay = {c.progress, c.progress_user, run};
  c.progress = relay_progress;
  c.progress_user = &relay;
  const mixstage_profile *saved = atomic_load(&g->profile);
  atomic_store(&g->profile, mixstage__production()); /* the main pass is the production mix */
  rc = setup(g, ps, np, first, b, null ? &null_stems : NULL, null ? &null_mix : NULL);
  if (rc < 0) {
    if (rc == MIXSTAGE_ENOMEM && !g->error[0]) mixstage__fail(g, rc, "bounce: out of memory");
  } else {
    mixstage__reset_runtime(g);
    rc = mixstage__render_run(g, &c, NULL, total);
    if (run->sink_status < 0) rc = run->sink_status; /* the sink's error, not the cancel it caused */
  }
  long fallbacks = atomic_load(&run->trace_fallbacks);
  if (fallbacks)
    for (int i = 0; i < b->count; i++)
      if (b->out[i].kind == MIXSTAGE_OUTPUT_STEM && b->out[i].nulls) {
        b->out[i].nulls = 0;
        snprintf(b->out[i].note, sizeof b->out[i].note,
                 "a dynamics stage could not report its gain for %ld blocks; its copy ran instead",
                 fallbacks);
      }
  if (null && (rc == MIXSTAGE_OK || rc == MIXSTAGE_ENUMERIC))
    b->null_residual_db = run->null_peak > 0.0 ? 20.0 * log10(run->null_peak) : -400.0;
  teardown(g);
  atomic_store(&g->profile, saved);
  mixstage__unprepare_runtime(g); /* the forks changed node state: next use prepares afresh */
  if (rc < 0 && rc != MIXSTAGE_ENUMERIC) {
    mixstage_bounce_destroy(b);
    *error = rc;
    return NULL;
  }
  *error = rc;
  return b;
}

MIXSTAGE_EXPORT mixstage_bounce *mixstage_graph_bounce(mixstage_graph *g, const mixstage_profile *p,
                                                       const mixstage_render_config *cfg, int *error) {
  int dummy;
  if (!error) error = &dummy;
  if (!g || !p) {
    *error = g ? mixstage__fail(g, MIXSTAGE_ENULL, "bounce: profile is NULL") : MIXSTAGE_ENULL;
    return NULL;
  }
  return bounce_run(g, &p, 1, NULL, cfg, NULL, NULL, NULL, error);
}

MIXSTAGE_EXPORT mixstage_bounce *mixstage_graph_bounce_stream(mixstage_graph *g, const mixstage_profile *p,
                                                              const mixstage_render_config *cfg, int flags,
                                                              mixstage_bounce_block_fn block, void *user,
                                                              int *error) {
  int dummy;
  if (!error) error = &dummy;
  if (!g || !p || !block) {
    *error = g ? mixstage__fail(g, MIXSTAGE_ENULL, "bounce: %s is NULL", p ? "the block callback" : "profile")
               : MIXSTAGE_ENULL;
    return NULL;
  }
  if (flags & ~MIXSTAGE_BOUNCE_NULL_CHECK) {
    *error = mixstage__fail(g, MIXSTAGE_EINVAL, "bounce: unknown flags 0x%x", (unsigned)flags);
    return NULL;
  }
  int null = (flags & MIXSTAGE_BOUNCE_NULL_CHECK) != 0;
  if (null && p->stems == MIXSTAGE_STEMS_NONE) {
    *error = mixstage__fail(g, MIXSTAGE_EINVAL, "null check: profile '%s' delivers no stems", p->name);
    return NULL;
  }
  return bounce_run(g, &p, 1, NULL, cfg, null ? p : NULL, block, user, error);
}

MIXSTAGE_EXPORT double mixstage_bounce_null_residual(const mixstage_bounce *b) {
  return b ? b->null_residual_db : NAN;
}

MIXSTAGE_EXPORT int mixstage_graph_null_check(mixstage_graph *g, const mixstage_profile *profile,
                                              const mixstage_render_config *cfg, double *residual_db) {
  if (!g || !residual_db) return MIXSTAGE_ENULL;
  const mixstage_profile *base = profile ? profile : mixstage_profile_find("mix-stems");
  if (base->stems == MIXSTAGE_STEMS_NONE)
    return mixstage__fail(g, MIXSTAGE_EINVAL, "null check: profile '%s' delivers no stems", base->name);
  int err;
  mixstage_bounce *b = bounce_run(g, NULL, 0, NULL, cfg, base, NULL, NULL, &err);
  if (!b) return err;
  *residual_db = b->null_residual_db;
  mixstage_bounce_destroy(b);
  return MIXSTAGE_OK;
}

mixstage_bounce *mixstage__graph_bounce_profiles(mixstage_graph *g, const mixstage_profile *const *ps, int n,
                                                 int *first, const mixstage_render_config *cfg,
                                                 const mixstage_profile *null_base, mixstage_bounce_block_fn block,
                                                 void *user, int *error) {
  if (null_base && null_base->stems == MIXSTAGE_STEMS_NONE) {
    *error = mixstage__fail(g, MIXSTAGE_EINVAL, "null check: profile '%s' delivers no stems", null_base->name);
    return NULL;
  }
  return bounce_run(g, ps, n, first, cfg, null_base, block, user, error);
}
