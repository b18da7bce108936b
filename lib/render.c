/* Offline render to memory, on one thread or several. */
#define _POSIX_C_SOURCE 200809L /* clock_gettime */
#include <string.h>
#include <time.h>
#include "internal.h"
#include "pool.h"
#include "source_file.h"

MIXSTAGE_EXPORT void mixstage_render_config_init(mixstage_render_config *cfg) {
  if (!cfg) return;
  memset(cfg, 0, sizeof *cfg);
  cfg->frames = 0;
  cfg->max_tail_frames = -1; /* resolved to 30 s at the graph's rate */
  cfg->remove_latency = 1;
  cfg->threads = 1;
}

static int64_t program_frames(mixstage_graph *g, const mixstage_render_config *cfg) {
  if (cfg->frames > 0) return cfg->frames;
  int64_t longest = 0;
  for (int i = 0; i < g->strip_count; i++) {
    const mixstage__source *s = &g->strips[i]->src;
    if (s->kind == 2 && s->frames < 0)
      return mixstage__fail(g, MIXSTAGE_EINVAL,
                            "strip '%s': its source callback has no known length; give the render a length",
                            g->strips[i]->u.name);
    if (s->kind && s->frames > longest) longest = s->frames;
  }
  return longest;
}

int mixstage__render_resolve(mixstage_graph *g, const mixstage_render_config *in, mixstage_render_config *out) {
  if (in) *out = *in;
  else mixstage_render_config_init(out);
  if (out->max_tail_frames < 0) out->max_tail_frames = (int64_t)(30.0 * g->sample_rate);
  if (out->frames < 0)
    return mixstage__fail(g, MIXSTAGE_ERANGE, "render: length %lld frames is negative", (long long)out->frames);
  if (out->threads < 1 || out->threads > 64)
    return mixstage__fail(g, MIXSTAGE_ERANGE, "render: %d threads is outside 1 .. 64", out->threads);
  return MIXSTAGE_OK;
}

MIXSTAGE_EXPORT int64_t mixstage_graph_render_frames(mixstage_graph *g, const mixstage_render_config *cfg) {
  if (!g) return MIXSTAGE_ENULL;
  mixstage_render_config c;
  int rc = mixstage__render_resolve(g, cfg, &c);
  if (rc != MIXSTAGE_OK) return rc;
  if (!g->prepared) {
    rc = mixstage_graph_prepare(g);
    if (rc != MIXSTAGE_OK) return rc;
  }
  int64_t prog = program_frames(g, &c);
  if (prog < 0) return prog;
  int64_t tail = g->tail < c.max_tail_frames ? g->tail : c.max_tail_frames;
  return prog + tail;
}

/* ---- parallel render ---------------------------------------------------------
 * The graph keeps a pool of workers between renders (pool.c), so a render
 * creates no thread.  A render runs in steps; in a step every task (a unit,
 * or a lane group of strips, group.c) runs once, on whichever worker claims
 * it.  A worker claims only a task whose inputs of the same step (the units
 * it reads, its sidechain keys) are done, so no worker ever waits inside a
 * task, and among the ready tasks it takes the one with the longest path of
 * measured cost to the end of the step first (the classic list schedule: the
 * mix bus's chain and a key's listeners are not left for last).  A worker
 * that finds nothing ready sleeps until a task finishes; the only meeting of
 * all workers is at the end of a step (one block of 256 frames).  A unit
 * touches only its own state and buffers, and buses sum their inputs in a
 * fixed order, so the result does not depend on the thread count or on
 * which worker ran what.
 *
 * Pipelined (the usual shape: no strip reads a bus, no bus reads a strip's
 * key tap, no bounce): in step n the strips render block n while the buses
 * render block n - 1, so the bus stage, whose chain of group, return and mix
 * buses is mostly serial, overlaps the strips instead of idling the other
 * workers.  Strip outputs and strip sends are then held in two-block rings:
 * strips write one slot while buses read the other through stand-ins for
 * the strips (a copy of the unit whose out[] points at the slot of the block
 * before), which the buses' inputs point at for the length of the render.
 * Other graphs run unpipelined: step n is block n for every unit. */

typedef struct task {
  mixstage__unit *unit;
  int late;        /* pipelined: a bus, one block behind the strips */
  int dep0, ndeps; /* units it reads in the same step: deps[dep0 ..] */
  double cost;     /* ns per frame, smoothed over the steps it ran (its runner writes it) */
  double rank;     /* cost of the longest path from it to the end of a step (worker 0) */
  _Atomic int worker; /* the worker that ran it last: it claims it first next step */
} task;

/* One per cache line: workers publish them as they finish units. */
typedef struct padded {
  _Atomic uint32_t v;
  char pad[64 - sizeof(uint32_t)];
} padded;

/* A buffer set a strip writes and a bus reads one block later. */
typedef struct relay {
  float **live;  /* the strip's own pointers (u->out, send->buf): written */
  float **shown; /* the stand-in's: what the bus reads */
  float *home[MIXSTAGE_MAX_CHANNELS], *spare[MIXSTAGE_MAX_CHANNELS];
  int channels;
} relay;

typedef struct saved_input {
  mixstage__input *in;
  mixstage__unit *unit;
  mixstage_send *send;
} saved_input;

typedef struct span {
  int64_t pos; /* frames from the start of the render, latency included */
  int n;       /* 0: nothing to render */
} span;

typedef struct render_job {
  mixstage_graph *g;
  int threads, pipelined;
  task *tasks;
  int count;
  int *deps;
  padded *done;  /* per task: the stamp of the step it last finished in */
  padded *claim; /* per task: the stamp of the step it was last claimed in */
  int *prio;     /* task indices, highest rank first: the claim order */
  relay *relays;
  int relay_count;
  mixstage__unit *stand_units;
  mixstage_send *stand_sends;
  saved_input *saved;
  int saved_count;
  float *spare_mem;
  mixstage__event step_ev, unit_ev, arrive_ev;
  uint32_t step_seq0;
  padded arrived;
  padded first; /* claim order: every task before this index is claimed in this step */
  /* Step state: written by worker 0 between steps, read by all in one. */
  uint32_t stamp;
  span cur, prev; /* blocks of the strips (all units, unpipelined), of the buses */
  int64_t pos_next;
  int finished;
  int cancel;
  mixstage_progress_fn progress;
  void *progress_user;
  int64_t next_report, report_every;
  int64_t start, total, skip;
  float *out;
  int ch;
  int faults[64];
  float junk[MIXSTAGE__BLOCK * MIXSTAGE_MAX_CHANNELS];
} render_job;

static span next_block(render_job *j) {
  span s = {j->pos_next, 0};
  int64_t end = j->skip + j->total;
  if (j->cancel || s.pos >= end) return s;
  s.n = end - s.pos < MIXSTAGE__BLOCK ? (int)(end - s.pos) : MIXSTAGE__BLOCK;
  /* Keep the discarded latency from straddling a block with output. */
  if (s.pos < j->skip && s.pos + s.n > j->skip) s.n = (int)(j->skip - s.pos);
  j->pos_next += s.n;
  return s;
}

/* Ranks from the measured costs, and the claim order from the ranks.  The
 * tasks are in a topological order (plan_tasks), so walking them backwards
 * finishes every task's rank before its inputs need it.  An insertion sort:
 * no allocation, and linear when the order barely changed since last time. */
static void rank_tasks(render_job *j) {
  for (int i = 0; i < j->count; i++) j->tasks[i].rank = j->tasks[i].cost;
  for (int i = j->count - 1; i >= 0; i--) {
    const task *t = &j->tasks[i];
    for (int k = 0; k < t->ndeps; k++) {
      task *d = &j->tasks[j->deps[t->dep0 + k]];
      if (d->cost + t->rank > d->rank) d->rank = d->cost + t->rank;
    }
  }
  for (int i = 1; i < j->count; i++) {
    int x = j->prio[i], k = i;
    for (; k > 0 && j->tasks[j->prio[k - 1]].rank < j->tasks[x].rank; k--) j->prio[k] = j->prio[k - 1];
    j->prio[k] = x;
  }
}

/* Steps between two rankings: costs settle within a few steps, then barely move. */
#define RANK_EVERY 16

/* Worker 0, while every other worker waits: the mix of the block the step
 * finished goes out, the rings turn, the next step is set up. */
static void end_step(render_job *j) {
  mixstage_graph *g = j->g;
  span e = j->pipelined ? j->prev : j->cur;
  if (e.n) {
    if (e.pos >= j->skip && j->out)
      mixstage__emit(g, NULL, j->ch, 0, e.n, j->ch, j->out + (size_t)(e.pos - j->skip) * (size_t)j->ch);
    else
      mixstage__emit(g, NULL, j->ch, 0, e.n, j->ch, j->junk);
    if (g->bounce) g->bounce->collect(g, j->start + e.pos, e.n);
    if (j->progress && e.pos + e.n >= j->next_report) {
      int64_t done = e.pos + e.n > j->skip ? e.pos + e.n - j->skip : 0;
      if (j->progress(j->progress_user, done, j->total)) j->cancel = 1;
      j->next_report += j->report_every;
    }
  }
  if (j->pipelined && j->cur.n)
    for (int r = 0; r < j->relay_count; r++) {
      relay *y = &j->relays[r];
      for (int c = 0; c < y->channels; c++) {
        y->shown[c] = y->live[c];
        y->live[c] = y->live[c] == y->home[c] ? y->spare[c] : y->home[c];
      }
    }
  if (j->pipelined) j->prev = j->cur;
  if (mixstage__file_sources_failed(g)) j->cancel = 1;
  j->cur = next_block(j);
  if (j->cancel) j->cur.n = j->prev.n = 0;
  j->finished = !j->cur.n && !j->prev.n;
  if (j->stamp <= 2 || j->stamp % RANK_EVERY == 0) rank_tasks(j);
  j->stamp++;
  atomic_store_explicit(&j->arrived.v, 0, memory_order_relaxed);
  atomic_store_explicit(&j->first.v, 0, memory_order_relaxed);
  mixstage__event_signal(&j->step_ev);
}

static int task_ready(render_job *j, const task *t, uint32_t stamp) {
  for (int k = 0; k < t->ndeps; k++)
    if (atomic_load_explicit(&j->done[j->deps[t->dep0 + k]].v, memory_order_acquire) != stamp) return 0;
  return 1;
}

/* The first ready task of the claim order that nobody claimed in this step,
 * now claimed by the caller; or -1 once every task is claimed.  A worker
 * looks first among the tasks it ran in the step before, so that a unit's
 * state and buffers tend to stay in one core's cache, then takes over any
 * other.  When tasks remain but none is ready, sleeps until one finishes
 * and looks again. */
static int claim_task(render_job *j, uint32_t stamp, int id) {
  for (;;) {
    /* Read before the scan: a task finishing during it moves the counter. */
    uint32_t seen = mixstage__event_seq(&j->unit_ev);
    int pending = 0;
    /* Claims are never undone within a step: a claimed prefix of the order
     * is skipped for good (a hint; a stale value only skips less). */
    int k0 = (int)atomic_load_explicit(&j->first.v, memory_order_relaxed);
    while (k0 < j->count && atomic_load_explicit(&j->claim[j->prio[k0]].v, memory_order_relaxed) == stamp) k0++;
    atomic_store_explicit(&j->first.v, (uint32_t)k0, memory_order_relaxed);
    for (int own = 1; own >= 0; own--)
      for (int k = k0; k < j->count; k++) {
        int i = j->prio[k];
        uint32_t c = atomic_load_explicit(&j->claim[i].v, memory_order_relaxed);
        if (c == stamp || (own && atomic_load_explicit(&j->tasks[i].worker, memory_order_relaxed) != id)) continue;
        pending = 1;
        if (task_ready(j, &j->tasks[i], stamp) &&
            atomic_compare_exchange_strong_explicit(&j->claim[i].v, &c, stamp, memory_order_acq_rel,
                                                    memory_order_relaxed))
          return i;
      }
    if (!pending) return -1;
    mixstage__event_wait(&j->unit_ev, seen);
  }
}

static double now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return 1e9 * (double)ts.tv_sec + (double)ts.tv_nsec;
}

static void work(void *arg, int id) {
  render_job *j = arg;
  mixstage_graph *g = j->g;
  uint64_t mode = mixstage__fp_enter();
  uint32_t seen = j->step_seq0;
  int faults = 0;
  while (!j->finished) {
    uint32_t stamp = j->stamp;
    int i;
    while ((i = claim_task(j, stamp, id)) >= 0) {
      task *t = &j->tasks[i];
      atomic_store_explicit(&t->worker, id, memory_order_relaxed);
      span s = t->late ? j->prev : j->cur;
      if (s.n) {
        double t0 = now_ns();
        faults += mixstage__run_scheduled(g, t->unit, j->start + s.pos, s.n);
        /* Smoothed, with a preempted run (a busy machine) counted at most
         * twice the usual cost. */
        double per = (now_ns() - t0) / s.n;
        if (t->cost <= 0.0) t->cost = per;
        else t->cost += 0.125 * ((per < 2.0 * t->cost ? per : 2.0 * t->cost) - t->cost);
      }
      atomic_store_explicit(&j->done[i].v, stamp, memory_order_release);
      mixstage__event_signal(&j->unit_ev);
    }
    /* Worker 0 ends every step, so the progress callback and the bounce's
     * collection run on the caller's thread, as in a one-thread render. */
    if (id == 0) {
      while (atomic_load_explicit(&j->arrived.v, memory_order_acquire) != (uint32_t)j->threads - 1) {
        uint32_t s = mixstage__event_seq(&j->arrive_ev);
        if (atomic_load_explicit(&j->arrived.v, memory_order_acquire) == (uint32_t)j->threads - 1) break;
        mixstage__event_wait(&j->arrive_ev, s);
      }
      end_step(j);
    } else {
      if (atomic_fetch_add_explicit(&j->arrived.v, 1, memory_order_acq_rel) == (uint32_t)j->threads - 2)
        mixstage__event_signal(&j->arrive_ev);
      mixstage__event_wait(&j->step_ev, seen);
    }
    seen++;
  }
  j->faults[id] = faults;
  mixstage__fp_leave(mode);
}

/* Pipelining needs strips and buses apart: a key crossing between them
 * would make one stage read the other's current block; a bounce's forks
 * read strip buffers directly. */
static int can_pipeline(const mixstage_graph *g) {
  if (g->bounce) return 0;
  for (int i = 0; i < g->schedule_count; i++) {
    const mixstage__unit *u = g->schedule[i];
    if (u->need_in || u->shadows) return 0;
    for (int k = 0; k < u->node_count; k++)
      if (u->nodes[k]->key_unit && u->nodes[k]->key_unit->kind != u->kind) return 0;
  }
  return 1;
}

static void plan_free(mixstage_graph *g, render_job *j) {
  mixstage__gfree(g, j->tasks);
  mixstage__gfree(g, j->deps);
  mixstage__gfree(g, j->done);
  mixstage__gfree(g, j->claim);
  mixstage__gfree(g, j->prio);
  mixstage__gfree(g, j->relays);
  mixstage__gfree(g, j->stand_units);
  mixstage__gfree(g, j->stand_sends);
  mixstage__gfree(g, j->saved);
  mixstage__gfree(g, j->spare_mem);
}

static void add_dep(render_job *j, task *t, int *slot, int d) {
  for (int k = 0; k < t->ndeps; k++)
    if (j->deps[t->dep0 + k] == d) return;
  j->deps[(*slot)++] = d;
  t->ndeps++;
}

/* The tasks in a topological order (pipelined: the buses first), and what
 * each waits for; the first claim order is this order, until costs are
 * measured. */
static int plan_tasks(mixstage_graph *g, render_job *j) {
  int n = g->schedule_count, ndeps = 0;
  for (int i = 0; i < n; i++) {
    mixstage__unit *u = g->schedule[i];
    ndeps += u->node_count;
    if (u->kind == MIXSTAGE__UNIT_BUS) ndeps += ((mixstage_bus *)u)->input_count;
  }
  int *where = mixstage__galloc(g, (size_t)n, sizeof *where);
  j->tasks = mixstage__galloc(g, (size_t)n, sizeof *j->tasks);
  j->deps = mixstage__galloc(g, (size_t)ndeps + 1, sizeof *j->deps);
  j->done = mixstage__galloc(g, (size_t)n, sizeof *j->done);
  j->claim = mixstage__galloc(g, (size_t)n, sizeof *j->claim);
  j->prio = mixstage__galloc(g, (size_t)n, sizeof *j->prio);
  if (!where || !j->tasks || !j->deps || !j->done || !j->claim || !j->prio) {
    mixstage__gfree(g, where);
    return MIXSTAGE_ENOMEM;
  }
  /* A lane group is one task, in its leader's place (group.c). */
  j->count = 0;
  for (int pass = 0; pass < 2; pass++)
    for (int i = 0; i < n; i++) {
      mixstage__unit *u = g->schedule[i];
      int late = j->pipelined && u->kind == MIXSTAGE__UNIT_BUS;
      if (j->pipelined ? late != !pass : pass) continue;
      if (u->group && u->group->units[0] != u) continue;
      where[i] = j->count;
      j->tasks[j->count].unit = u;
      j->tasks[j->count].late = late;
      j->count++;
    }
  for (int i = 0; i < n; i++) {
    mixstage__unit *u = g->schedule[i];
    if (u->group) where[i] = where[u->group->units[0]->order];
  }
  int slot = 0;
  for (int i = 0; i < j->count; i++) {
    task *t = &j->tasks[i];
    t->dep0 = slot;
    t->ndeps = 0;
    int members = t->unit->group ? t->unit->group->count : 1;
    for (int m = 0; m < members; m++) {
      mixstage__unit *u = t->unit->group ? t->unit->group->units[m] : t->unit;
      if (u->kind == MIXSTAGE__UNIT_BUS) {
        mixstage_bus *b = (mixstage_bus *)u;
        for (int k = 0; k < b->input_count; k++) {
          mixstage__unit *src = b->inputs[k].unit ? b->inputs[k].unit : b->inputs[k].send->from;
          /* A strip feeding a late bus finished its block a step before. */
          if (j->pipelined && src->kind == MIXSTAGE__UNIT_STRIP) continue;
          add_dep(j, t, &slot, where[src->order]);
        }
      }
      for (int k = 0; k < u->node_count; k++)
        if (u->nodes[k]->key_unit) add_dep(j, t, &slot, where[u->nodes[k]->key_unit->order]);
    }
  }
  for (int i = 0; i < j->count; i++) {
    j->prio[i] = i;
    atomic_init(&j->tasks[i].worker, -1);
  }
  mixstage__gfree(g, where);
  return MIXSTAGE_OK;
}

/* Pipelined: second slots for strip outputs and strip sends, and stand-ins
 * the buses read instead of the strips. */
static int plan_relays(mixstage_graph *g, render_job *j) {
  int nrel = 0, nsend = 0, nin = 0;
  size_t floats = 0;
  for (int i = 0; i < g->strip_count; i++) {
    mixstage__unit *u = &g->strips[i]->u;
    nrel += 1 + u->send_count;
    nsend += u->send_count;
    floats += (size_t)u->out_channels;
    for (int k = 0; k < u->send_count; k++) floats += (size_t)u->sends[k]->to->u.channels;
  }
  for (int i = 0; i < g->bus_count; i++) nin += g->buses[i]->input_count;
  j->relays = mixstage__galloc(g, (size_t)nrel + 1, sizeof *j->relays);
  j->stand_units = mixstage__galloc(g, (size_t)g->strip_count + 1, sizeof *j->stand_units);
  j->stand_sends = mixstage__galloc(g, (size_t)nsend + 1, sizeof *j->stand_sends);
  j->saved = mixstage__galloc(g, (size_t)nin + 1, sizeof *j->saved);
  j->spare_mem = mixstage__galloc(g, floats * MIXSTAGE__BLOCK + 1, sizeof(float));
  if (!j->relays || !j->stand_units || !j->stand_sends || !j->saved || !j->spare_mem) return MIXSTAGE_ENOMEM;
  float *mem = j->spare_mem;
  int ns = 0;
  for (int i = 0; i < g->strip_count; i++) {
    mixstage__unit *u = &g->strips[i]->u;
    for (int k = -1; k < u->send_count; k++) {
      relay *y = &j->relays[j->relay_count++];
      if (k < 0) {
        y->live = u->out;
        y->shown = j->stand_units[i].out;
        y->channels = u->out_channels;
      } else {
        y->live = u->sends[k]->buf;
        y->shown = j->stand_sends[ns++].buf;
        y->channels = u->sends[k]->to->u.channels;
      }
      for (int c = 0; c < y->channels; c++) {
        y->home[c] = y->shown[c] = y->live[c];
        y->spare[c] = mem;
        mem += MIXSTAGE__BLOCK;
      }
    }
  }
  return MIXSTAGE_OK;
}

/* Points the buses' strip inputs at the stand-ins (the bus reads out[] or
 * buf[] of what its input names, and nothing else of it). */
static void relays_install(mixstage_graph *g, render_job *j) {
  int send_base = 0;
  for (int i = 0; i < g->strip_count; i++) {
    mixstage__unit *u = &g->strips[i]->u;
    for (int b = 0; b < g->bus_count; b++) {
      mixstage_bus *bus = g->buses[b];
      for (int k = 0; k < bus->input_count; k++) {
        mixstage__input *in = &bus->inputs[k];
        mixstage_send *stand = NULL;
        if (in->unit == u) {
          j->saved[j->saved_count++] = (saved_input){in, in->unit, in->send};
          in->unit = &j->stand_units[i];
          continue;
        }
        for (int s = 0; s < u->send_count && in->send; s++)
          if (in->send == u->sends[s]) stand = &j->stand_sends[send_base + s];
        if (stand) {
          j->saved[j->saved_count++] = (saved_input){in, in->unit, in->send};
          in->send = stand;
        }
      }
    }
    send_base += u->send_count;
  }
}

/* Back to the graph's own buffers, holding the last block written, so the
 * graph is left as a one-thread render leaves it. */
static void relays_remove(render_job *j) {
  for (int i = 0; i < j->saved_count; i++) {
    j->saved[i].in->unit = j->saved[i].unit;
    j->saved[i].in->send = j->saved[i].send;
  }
  for (int r = 0; r < j->relay_count; r++) {
    relay *y = &j->relays[r];
    for (int c = 0; c < y->channels; c++) {
      if (y->shown[c] != y->home[c]) memcpy(y->home[c], y->shown[c], sizeof(float) * MIXSTAGE__BLOCK);
      y->live[c] = y->home[c];
    }
  }
}

/* The graph's pool, made or remade for this many threads. */
static mixstage__pool *graph_pool(mixstage_graph *g, int threads) {
  if (g->pool && (!mixstage__pool_usable(g->pool) || mixstage__pool_requested(g->pool) != threads)) {
    mixstage__pool_destroy(g->pool);
    g->pool = NULL;
  }
  if (!g->pool) g->pool = mixstage__pool_create(&g->alloc, threads);
  return g->pool;
}

static int render_parallel(mixstage_graph *g, render_job *j, int threads) {
  mixstage__pool *pool = graph_pool(g, threads);
  if (!pool) return mixstage__fail(g, MIXSTAGE_ENOMEM, "render: out of memory starting %d threads", threads);
  j->threads = mixstage__pool_threads(pool);
  j->pipelined = can_pipeline(g);
  int rc = plan_tasks(g, j);
  if (rc == MIXSTAGE_OK && j->pipelined) rc = plan_relays(g, j);
  int events = 0;
  if (rc == MIXSTAGE_OK) {
    rc = mixstage__event_init(&j->step_ev);
    if (rc == MIXSTAGE_OK && (rc = mixstage__event_init(&j->unit_ev)) != MIXSTAGE_OK) mixstage__event_fini(&j->step_ev);
    if (rc == MIXSTAGE_OK && (rc = mixstage__event_init(&j->arrive_ev)) != MIXSTAGE_OK) {
      mixstage__event_fini(&j->step_ev);
      mixstage__event_fini(&j->unit_ev);
    }
    events = rc == MIXSTAGE_OK;
  }
  if (rc != MIXSTAGE_OK) {
    plan_free(g, j);
    return mixstage__fail(g, MIXSTAGE_ENOMEM, "render: out of memory");
  }
  if (j->pipelined) relays_install(g, j);
  j->stamp = 1;
  j->step_seq0 = mixstage__event_seq(&j->step_ev);
  j->cur = next_block(j);
  j->finished = !j->cur.n;
  mixstage__pool_run(pool, work, j);
  if (j->pipelined) relays_remove(j);
  if (events) {
    mixstage__event_fini(&j->step_ev);
    mixstage__event_fini(&j->unit_ev);
    mixstage__event_fini(&j->arrive_ev);
  }
  plan_free(g, j);
  int faults = 0;
  for (int t = 0; t < j->threads; t++) faults += j->faults[t];
  return faults;
}

MIXSTAGE_EXPORT int mixstage_graph_render(mixstage_graph *g, const mixstage_render_config *cfg, float *out,
                                          int64_t capacity) {
  if (!g) return MIXSTAGE_ENULL;
  if (!out) return mixstage__fail(g, MIXSTAGE_ENULL, "render: output buffer is NULL");
  mixstage_render_config c;
  int rc = mixstage__render_resolve(g, cfg, &c);
  if (rc != MIXSTAGE_OK) return rc;
  /* A render always starts from a fresh prepare, so that parameter values,
   * latencies and state are exactly as set: repeated renders are identical. */
  rc = mixstage_graph_prepare(g);
  if (rc != MIXSTAGE_OK) return rc;
  int64_t total = mixstage_graph_render_frames(g, &c);
  if (total < 0) return (int)total;
  if (capacity < total)
    return mixstage__fail(g, MIXSTAGE_ERANGE, "render: buffer holds %lld frames, the render needs %lld",
                          (long long)capacity, (long long)total);
  return mixstage__render_run(g, &c, out, total);
}

static int render_run(mixstage_graph *g, const mixstage_render_config *cfg, float *out, int64_t total);

/* The graph refuses edits while its callbacks run (mixstage__busy).  File
 * sources read synchronously for the length of the render; one that fails
 * (deleted, truncated, changed) fails the render, naming it. */
int mixstage__render_run(mixstage_graph *g, const mixstage_render_config *cfg, float *out, int64_t total) {
  atomic_fetch_add_explicit(&g->busy, 1, memory_order_acq_rel);
  int rc = mixstage__file_sources_offline(g, 1);
  if (rc == MIXSTAGE_OK) rc = render_run(g, cfg, out, total);
  int src = mixstage__file_sources_check(g);
  mixstage__file_sources_offline(g, 0);
  atomic_fetch_sub_explicit(&g->busy, 1, memory_order_acq_rel);
  return src != MIXSTAGE_OK ? src : rc;
}

static int render_run(mixstage_graph *g, const mixstage_render_config *cfg, float *out, int64_t total) {
  mixstage_render_config c = *cfg;
  int ch = g->buses[0]->u.channels;
  int64_t skip = c.remove_latency ? g->latency : 0;
  if (g->bounce) g->bounce->skip = skip;
  int faults = 0;
  int threads = c.threads < g->schedule_count ? c.threads : g->schedule_count;
  float junk[MIXSTAGE__BLOCK * MIXSTAGE_MAX_CHANNELS];
  if (threads > 1) {
    render_job *j = mixstage__galloc(g, 1, sizeof *j);
    if (!j) return mixstage__fail(g, MIXSTAGE_ENOMEM, "render: out of memory");
    j->g = g;
    j->start = g->pos;
    j->total = total;
    j->skip = skip;
    j->out = out;
    j->ch = ch;
    j->progress = c.progress;
    j->progress_user = c.progress_user;
    j->report_every = (int64_t)(0.1 * g->sample_rate);
    j->next_report = j->report_every;
    faults = render_parallel(g, j, threads);
    int cancelled = j->cancel;
    mixstage__gfree(g, j);
    if (faults < 0) return faults;
    g->pos += skip + total;
    if (cancelled) return mixstage__fail(g, MIXSTAGE_ECANCELLED, "render: cancelled by the caller");
    if (c.progress && c.progress(c.progress_user, total, total))
      return mixstage__fail(g, MIXSTAGE_ECANCELLED, "render: cancelled by the caller");
  } else {
    /* Discard the latency at the start by rendering it into a scratch block. */
    while (skip > 0) {
      int n = skip < MIXSTAGE__BLOCK ? (int)skip : MIXSTAGE__BLOCK;
      faults += mixstage__process_cells(g, NULL, ch, n, ch, junk);
      skip -= n;
    }
    int64_t done = 0, every = (int64_t)(0.1 * g->sample_rate), next = every;
    while (done < total) {
      int64_t left = total - done;
      int n = left < 4096 ? (int)left : 4096;
      if (!out && n > MIXSTAGE__BLOCK) n = MIXSTAGE__BLOCK;
      faults += mixstage__process_cells(g, NULL, ch, n, ch, out ? out + (size_t)done * (size_t)ch : junk);
      done += n;
      if (mixstage__file_sources_failed(g)) break;
      if (c.progress && (done >= next || done == total)) {
        if (c.progress(c.progress_user, done, total))
          return mixstage__fail(g, MIXSTAGE_ECANCELLED, "render: cancelled by the caller");
        while (next <= done) next += every;
      }
    }
  }
  if (faults) {
    mixstage_graph_last_error(g);
    return MIXSTAGE_ENUMERIC;
  }
  return MIXSTAGE_OK;
}
