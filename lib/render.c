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
 * creates no thread.  A render runs in steps; in step s every task (a unit,
 * or a lane group of strips or buses, group.c) runs once, on whichever worker claims
 * it.  There is no meeting of all workers: a task runs its step s as soon as
 * what it reads and what it overwrites allow, so a worker that finds nothing
 * left of step s starts on step s + 1 (and a worker the system has
 * preempted holds up only the tasks that need its task):
 *
 *  - its own step s - 1 is done (a unit's state and buffers are its own);
 *  - the units it reads in the same step (bus inputs, sidechain keys) have
 *    done step s;
 *  - the units that read it in the same step have done step s - 1, so its
 *    buffers are free to overwrite.
 *
 * Every task has a home worker (assign_homes): a bus and the strips that
 * feed it share one, so the strips' blocks go from cache to cache within a
 * core, and the homes are balanced by measured cost.  Among the tasks that
 * can run, a worker takes its home tasks first (stealing another's only
 * when it has none), the earliest step first, then the one with the
 * longest path of measured cost to the end of a step (the classic list
 * schedule: the mix bus's chain and a key's listeners are not left for
 * last).  A worker that finds nothing to run looks again for a while, then
 * sleeps until a task finishes.  A unit touches only its own state and buffers, and buses sum
 * their inputs in a fixed order, so the result does not depend on the thread
 * count or on which worker ran what.  The mix bus's task hands each block
 * out as it finishes it.
 *
 * Pipelined (the usual shape: no strip reads a bus, no bus reads a strip's
 * key tap, no bounce): in step s the strips render block s - 1 while the
 * buses render block s - 2, so the bus stage, whose chain of group, return
 * and mix buses is mostly serial, overlaps the strips instead of idling the
 * other workers.  Strip outputs and strip sends are then held in rings of
 * RING blocks: a strip writes slot s % RING in step s, a bus in step s reads
 * slot (s - 1) % RING through stand-ins for the strips (copies of the unit
 * or send whose out[] or buf[] points at that slot), and a strip waits for
 * the buses that read its slot RING - 1 steps before.  Three slots let the
 * strips run a step ahead of the buses.
 *
 * A bounce's collection, the progress callback and the file sources' health
 * are seen to by worker 0 (the caller's thread, as in a one-thread render);
 * with a bounce no task starts step s + 1 before the collection of step s.
 * Other graphs run unpipelined: step s is block s - 1 for every unit. */

#define RING 3

typedef struct task {
  mixstage__unit *unit;
  int late;               /* pipelined: a bus, one block behind the strips */
  int emits;              /* the mix bus: hands its block out */
  int dep0, ndeps;        /* what it reads in the same step: deps[dep0 ..] */
  int rd0, nrd;           /* what reads it in the same step: deps[rd0 ..] */
  int prev0, nprev;       /* late: strips whose block it reads a step later */
  int lrd0, nlrd;         /* a strip: the late tasks reading its ring */
  int rly0, nrly;         /* a strip: its rings, rly[rly0 ..] */
  int rin0, nrin;         /* late: its inputs that read a ring, rins[rin0 ..] */
} task;

/* What changes of a task while a render runs, in cache lines of its own:
 * a worker claiming or finishing the task writes one line, and the task
 * list the workers scan stays read-only (shared by every core's cache). */
typedef struct task_state {
  _Atomic uint32_t claim; /* the last step it was claimed for */
  _Atomic uint32_t done;  /* the last step it finished */
  char pad0[64 - 2 * sizeof(uint32_t)];
  /* A line of its own: written by every run, but read only when the
   * workers rank the tasks (every RANK_EVERY steps), so that a worker
   * scanning the claims does not take it from the runner's cache. */
  _Atomic double cost; /* ns per frame, smoothed over the steps it ran (its runner writes it) */
  char pad1[64 - sizeof(double)];
} task_state;
_Static_assert(sizeof(task_state) == 128, "a task's state fills two cache lines");

/* The ring of one strip output or strip send. */
typedef struct relay {
  float **live; /* the strip's own pointers (u->out, send->buf) */
  float *slot[RING][MIXSTAGE_MAX_CHANNELS]; /* slot 0: the graph's own buffers */
  int channels;
} relay;

/* A bus input that reads a strip's ring; the stand-in for slot k is
 * stand_units[k * strip_count + strip] or stand_sends[k * send_count + send]. */
typedef struct ring_input {
  mixstage__input *in;
  int strip, send; /* send: -1 for the strip's output */
  mixstage__unit *unit;
  mixstage_send *orig_send;
} ring_input;

typedef struct span {
  int64_t pos; /* frames from the start of the render, latency included */
  int n;       /* 0: nothing to render */
} span;

/* What one worker keeps to itself, in a cache line of its own (a worker
 * writes it between tasks; it shares no line with another worker's). */
typedef struct worker_order {
  int *prio;
  double *rank;
  uint32_t ranked_at;
  uint32_t homes_seen; /* the homes' epoch its floor was taken under */
  uint32_t floor; /* none of its own tasks can be claimed for an earlier step (claims only grow) */
  int faults;
  _Atomic uint64_t finished; /* task-steps it finished (only it writes them) */
  char pad[64 - 2 * sizeof(void *) - 4 * sizeof(uint32_t) - sizeof(uint64_t)];
} worker_order;
_Static_assert(sizeof(worker_order) == 64, "a worker's own state fills one cache line");

typedef struct render_job {
  mixstage_graph *g;
  /* Each task's home worker, and the epoch of that assignment (worker 0
   * assigns them, assign_homes; the others read them). */
  _Atomic int *home;
  _Atomic uint32_t homes_epoch;
  int *cluster;    /* per task, the unit (schedule index) whose home it shares: its own,
                      or its strips' bus; -1 for a lane group of buses (assign_homes) */
  double *cl_cost; /* per unit, scratch for assign_homes */
  int *cl_order;   /* per unit, scratch for assign_homes */
  int *cl_home;    /* per unit, scratch for assign_homes */
  int *cand;       /* per task, scratch for assign_homes */
  int threads, pipelined;
  task *tasks;
  int count;
  int *deps;
  task_state *st; /* per task, on cache-line boundaries */
  worker_order *order; /* per worker, after the tasks' lines */
  void *st_mem;
  int *order_mem_i;
  double *order_mem_d;
  relay *relays;
  int relay_count;
  int *rly;
  ring_input *rins;
  int rin_count;
  mixstage__unit *stand_units;
  mixstage_send *stand_sends;
  int send_total;
  float *spare_mem;
  uint32_t final;   /* steps in the render */
  int64_t nblocks;
  int64_t start, total, skip;
  float *out;
  int ch;
  mixstage_progress_fn progress;
  void *progress_user;
  /* What the workers write while the render runs, on lines apart from the
   * fields above that every claim reads. */
  char apart0[64];
  mixstage__event unit_ev; /* read as every task finishes */
  _Atomic int cancel;      /* read as every task starts */
  char apart1[64];
  /* Written once a step (the mix bus's task, worker 0): not on the line
   * every task reads. */
  _Atomic uint32_t collected; /* bounce: the last step collected */
  _Atomic int64_t emitted;    /* frames handed out, latency included */
  int64_t next_report, report_every;
  char apart2[64];
  float junk[MIXSTAGE__BLOCK * MIXSTAGE_MAX_CHANNELS];
} render_job;

/* Block b of the render (0 ..): the render's frames cut on the graph's
 * block grid (absolute positions, multiples of MIXSTAGE__BLOCK), as
 * mixstage__process_cells cuts them, so that a settled lane group runs its
 * inserts as whole blocks of cells (process.c group_plan_run) rather than
 * in pieces that straddle the grid.  The discarded latency may end inside
 * a block (emit_block). */
static span block_span(const render_job *j, int64_t b) {
  span s = {0, 0};
  if (b < 0 || b >= j->nblocks) return s;
  int64_t lead = j->start % MIXSTAGE__BLOCK; /* frames of the first grid block before the start */
  int64_t from = b * MIXSTAGE__BLOCK - lead, to = from + MIXSTAGE__BLOCK;
  if (from < 0) from = 0;
  if (to > j->skip + j->total) to = j->skip + j->total;
  s.pos = from;
  s.n = (int)(to - from);
  return s;
}

static void count_blocks(render_job *j) {
  int64_t lead = j->start % MIXSTAGE__BLOCK;
  j->nblocks = (lead + j->skip + j->total + MIXSTAGE__BLOCK - 1) / MIXSTAGE__BLOCK;
  j->final = (uint32_t)(j->nblocks + j->pipelined);
}

/* Ranks from the measured costs, and the caller's claim order from them.
 * The tasks are in a topological order (plan_tasks), so walking them
 * backwards finishes every task's rank before its inputs need it.  An
 * insertion sort: no allocation, and linear when the order barely changed
 * since last time. */
static void rank_tasks(render_job *j, worker_order *o) {
  for (int i = 0; i < j->count; i++) o->rank[i] = atomic_load_explicit(&j->st[i].cost, memory_order_relaxed);
  for (int i = j->count - 1; i >= 0; i--) {
    const task *t = &j->tasks[i];
    for (int k = 0; k < t->ndeps; k++) {
      int d = j->deps[t->dep0 + k];
      double c = atomic_load_explicit(&j->st[d].cost, memory_order_relaxed) + o->rank[i];
      if (c > o->rank[d]) o->rank[d] = c;
    }
  }
  for (int i = 1; i < j->count; i++) {
    int x = o->prio[i], k = i;
    for (; k > 0 && o->rank[o->prio[k - 1]] < o->rank[x]; k--) o->prio[k] = o->prio[k - 1];
    o->prio[k] = x;
  }
}

/* Steps between two rankings: costs settle within a few steps, then barely move. */
#define RANK_EVERY 16
/* The step after which the homes are assigned the last time. */
#define HOMES_SETTLED 256

/* Every task listed has finished step `need` (any step when need < 1). */
static int all_done(const render_job *j, int from, int n, int64_t need) {
  if (need < 1) return 1;
  for (int k = 0; k < n; k++)
    if (atomic_load_explicit(&j->st[j->deps[from + k]].done, memory_order_acquire) < (uint32_t)need) return 0;
  return 1;
}

static int task_ready(const render_job *j, const task *t, uint32_t s) {
  if (j->g->bounce && atomic_load_explicit(&j->collected, memory_order_acquire) + 1 < s) return 0;
  return all_done(j, t->dep0, t->ndeps, s) && all_done(j, t->rd0, t->nrd, (int64_t)s - 1) &&
         all_done(j, t->prev0, t->nprev, (int64_t)s - 1) && all_done(j, t->lrd0, t->nlrd, (int64_t)s - (RING - 1));
}

/* What a task costs before any cost is measured: ns per frame per unit (a
 * stereo strip of the benchmark graph runs in 10 to 15). */
#define UNIT_NS 12.0

static double task_cost(const render_job *j, int i, int by_cost) {
  const mixstage__group *grp = j->tasks[i].unit->group;
  return by_cost ? atomic_load_explicit(&j->st[i].cost, memory_order_relaxed) : UNIT_NS * (grp ? grp->count : 1);
}

/* Homes: each cluster (a bus unit and the strips feeding it, or a unit
 * alone) goes whole to one worker, the costliest first, each to the worker
 * with the least cost so far (the longest-processing-time rule), so a bus
 * reads its strips' blocks from its own core's cache and the shares come
 * out about even.  Clusters are of units, not tasks: a lane group of buses
 * (group.c) is one task, but binding all its members' strips to one worker
 * left that worker most of the benchmark graph (three of its four group
 * buses run as one task) and the other stealing from it; its cost is
 * shared among its members' clusters, and it goes where most of that went.
 * Costs are the measured ones (by_cost), or before any are, UNIT_NS per
 * unit.  Called before the workers start and by worker 0 twice; a change
 * moves the epoch. */
static void assign_homes(render_job *j, int by_cost) {
  int n = j->count, units = j->g->schedule_count, roots = 0, T = j->threads;
  double load[64] = {0};
  for (int c = 0; c < units; c++) j->cl_cost[c] = -1.0; /* no task in it */
  for (int i = 0; i < n; i++) {
    const mixstage__group *grp = j->tasks[i].unit->group;
    double c = task_cost(j, i, by_cost);
    int members = j->cluster[i] < 0 ? grp->count : 1;
    for (int m = 0; m < members; m++) {
      int k = j->cluster[i] < 0 ? grp->units[m]->order : j->cluster[i];
      j->cl_cost[k] = (j->cl_cost[k] < 0.0 ? 0.0 : j->cl_cost[k]) + c / members;
    }
  }
  for (int c = 0; c < units; c++) {
    if (j->cl_cost[c] < 0.0) continue;
    int k = roots++;
    for (; k > 0 && j->cl_cost[j->cl_order[k - 1]] < j->cl_cost[c]; k--) j->cl_order[k] = j->cl_order[k - 1];
    j->cl_order[k] = c;
  }
  for (int k = 0; k < roots; k++) {
    int c = j->cl_order[k], w = 0;
    for (int v = 1; v < T; v++)
      if (load[v] < load[w]) w = v;
    load[w] += j->cl_cost[c];
    j->cl_home[c] = w;
  }
  for (int i = 0; i < n; i++) {
    int w = 0;
    if (j->cluster[i] >= 0) {
      w = j->cl_home[j->cluster[i]];
    } else { /* a lane group of buses: where most of its members' clusters went */
      const mixstage__group *grp = j->tasks[i].unit->group;
      double best = -1.0;
      for (int v = 0; v < T; v++) {
        double on = 0.0;
        for (int m = 0; m < grp->count; m++) {
          int c = grp->units[m]->order;
          if (j->cl_home[c] == v) on += j->cl_cost[c];
        }
        if (on > best) best = on, w = v;
      }
    }
    j->cand[i] = w;
  }
  int changed = 0;
  for (int i = 0; i < n; i++)
    if (atomic_load_explicit(&j->home[i], memory_order_relaxed) != j->cand[i]) {
      atomic_store_explicit(&j->home[i], j->cand[i], memory_order_relaxed);
      changed = 1;
    }
  if (changed || atomic_load_explicit(&j->homes_epoch, memory_order_relaxed) == 0)
    atomic_fetch_add_explicit(&j->homes_epoch, 1, memory_order_release);
}

/* A task that can run now, claimed by the caller for the step it returns
 * in *step; -1 when none can.  A worker keeps to its home tasks (their
 * state and buffers stay in its core's cache, and nobody else writes their
 * lines), the earliest step first, then the claim order; only when none of
 * those can run does it help with another worker's task.  The first look
 * stops at a ready home task at the lowest step its home tasks can still be
 * claimed for: nothing after it in the claim order beats it. */
static int claim_task(render_job *j, int id, uint32_t *step) {
  worker_order *o = &j->order[id];
  uint32_t epoch = atomic_load_explicit(&j->homes_epoch, memory_order_acquire);
  if (epoch != o->homes_seen) {
    o->homes_seen = epoch;
    o->floor = 0; /* unknown under the new homes until a whole first look */
  }
  for (;;) {
    int best = -1;
    uint32_t best_s = 0, best_c = 0;
    for (int pass = 0; pass < 2 && best < 0; pass++) {
      int whole = 1;
      uint32_t low = j->final;
      for (int k = 0; k < j->count; k++) {
        int i = o->prio[k];
        if ((atomic_load_explicit(&j->home[i], memory_order_relaxed) != id) != pass) continue;
        uint32_t c = atomic_load_explicit(&j->st[i].claim, memory_order_acquire);
        if (c >= j->final) continue;
        if (c + 1 < low) low = c + 1;
        if (atomic_load_explicit(&j->st[i].done, memory_order_acquire) != c) continue;
        uint32_t s = c + 1;
        if (best >= 0 && s >= best_s) continue;
        if (!task_ready(j, &j->tasks[i], s)) continue;
        best = i, best_s = s, best_c = c;
        if (!pass && s <= o->floor) {
          whole = 0;
          break;
        }
      }
      if (!pass && whole) o->floor = low;
    }
    if (best < 0) return -1;
    if (atomic_compare_exchange_strong_explicit(&j->st[best].claim, &best_c, best_s, memory_order_acq_rel,
                                                memory_order_relaxed)) {
      *step = best_s;
      return best;
    }
  }
}

/* Task-steps finished by all workers.  The counts only grow, so a sum that
 * reaches a total proves that every one of those task-steps finished. */
static uint64_t finished_all(render_job *j) {
  uint64_t n = 0;
  for (int w = 0; w < j->threads; w++) n += atomic_load_explicit(&j->order[w].finished, memory_order_acquire);
  return n;
}

static void count_finished(render_job *j, int id, uint64_t n) {
  _Atomic uint64_t *f = &j->order[id].finished;
  atomic_store_explicit(f, atomic_load_explicit(f, memory_order_relaxed) + n, memory_order_release);
}

static double now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return 1e9 * (double)ts.tv_sec + (double)ts.tv_nsec;
}

/* Pipelined: a strip writes slot s % RING of its rings in step s; a bus in
 * step s reads slot (s - 1) % RING. */
static void point_rings(render_job *j, const task *t, uint32_t s) {
  if (!t->late) {
    int k = (int)(s % RING);
    for (int r = 0; r < t->nrly; r++) {
      relay *y = &j->relays[j->rly[t->rly0 + r]];
      for (int c = 0; c < y->channels; c++) y->live[c] = y->slot[k][c];
    }
  } else {
    int k = (int)((s - 1) % RING);
    for (int r = 0; r < t->nrin; r++) {
      ring_input *ri = &j->rins[t->rin0 + r];
      if (ri->send < 0) ri->in->unit = &j->stand_units[k * j->g->strip_count + ri->strip];
      else ri->in->send = &j->stand_sends[k * j->send_total + ri->send];
    }
    if (t->nrin) { /* a lane group of buses: every member read rings */
      mixstage__unit *u = t->unit;
      int members = u->group ? u->group->count : 1;
      for (int m = 0; m < members; m++)
        mixstage__bus_point_inputs((mixstage_bus *)(u->group ? u->group->units[m] : u));
    }
  }
}

static void emit_block(render_job *j, span e) {
  mixstage_graph *g = j->g;
  if (e.pos >= j->skip && j->out) {
    mixstage__emit(g, NULL, j->ch, 0, e.n, j->ch, j->out + (size_t)(e.pos - j->skip) * (size_t)j->ch);
  } else {
    mixstage__emit(g, NULL, j->ch, 0, e.n, j->ch, j->junk);
    int64_t k = j->skip - e.pos; /* the block where the latency ends: its output part */
    if (j->out && k < e.n)
      memcpy(j->out, j->junk + (size_t)k * (size_t)j->ch, sizeof(float) * (size_t)(e.n - k) * (size_t)j->ch);
  }
  atomic_store_explicit(&j->emitted, e.pos + e.n, memory_order_release);
}

static void run_task(render_job *j, int i, uint32_t s, int id) {
  task *t = &j->tasks[i];
  if (atomic_load_explicit(&j->cancel, memory_order_relaxed)) {
    /* Cancelled: nothing more runs; the task is done with every step. */
    atomic_store_explicit(&j->st[i].claim, j->final, memory_order_relaxed);
    atomic_store_explicit(&j->st[i].done, j->final, memory_order_release);
    count_finished(j, id, j->final - s + 1);
    mixstage__event_notify(&j->unit_ev);
    return;
  }
  task_state *ts = &j->st[i];
  span e = block_span(j, (int64_t)s - 1 - t->late);
  if (e.n) {
    if (j->pipelined) point_rings(j, t, s);
    double t0 = now_ns();
    j->order[id].faults += mixstage__run_scheduled(j->g, t->unit, j->start + e.pos, e.n);
    /* Smoothed, with a preempted run (a busy machine) counted at most
     * twice the usual cost. */
    double per = (now_ns() - t0) / e.n;
    double cost = atomic_load_explicit(&ts->cost, memory_order_relaxed);
    if (cost <= 0.0) cost = per;
    else cost += 0.125 * ((per < 2.0 * cost ? per : 2.0 * cost) - cost);
    atomic_store_explicit(&ts->cost, cost, memory_order_relaxed);
    if (t->emits) emit_block(j, e);
  }
  atomic_store_explicit(&j->st[i].done, s, memory_order_release);
  count_finished(j, id, 1);
  mixstage__event_notify(&j->unit_ev);
}

/* Worker 0 between tasks: the bounce's collection of every step all tasks
 * have finished, the progress callback, a failed file source.  Returns 1
 * when it did something others may wait for. */
static int caller_duties(render_job *j) {
  mixstage_graph *g = j->g;
  int woke = 0;
  if (g->bounce && atomic_load_explicit(&j->cancel, memory_order_relaxed)) {
    /* Nothing more to collect (and the count of finished steps jumps). */
    if (atomic_exchange_explicit(&j->collected, j->final, memory_order_acq_rel) != j->final) woke = 1;
  } else if (g->bounce) {
    uint32_t c = atomic_load_explicit(&j->collected, memory_order_relaxed);
    uint64_t fin = finished_all(j);
    /* With a bounce, step c + 1 is the furthest any task can be. */
    if (c < j->final && fin == (uint64_t)(c + 1) * (uint64_t)j->count) {
      span e = block_span(j, c);
      if (e.n && !atomic_load_explicit(&j->cancel, memory_order_relaxed)) g->bounce->collect(g, j->start + e.pos, e.n);
      atomic_store_explicit(&j->collected, c + 1, memory_order_release);
      woke = 1;
    }
  }
  int64_t e = atomic_load_explicit(&j->emitted, memory_order_acquire);
  if (e >= j->next_report && mixstage__file_sources_failed(g)) atomic_store_explicit(&j->cancel, 1, memory_order_relaxed);
  /* A call for every report interval the output passed, as a one-thread
   * render makes, though the blocks may have come out faster than this
   * thread looked. */
  for (; e >= j->next_report; j->next_report += j->report_every) {
    if (!j->progress || atomic_load_explicit(&j->cancel, memory_order_relaxed)) continue;
    int64_t at = j->next_report + j->report_every > e ? e : j->next_report;
    if (j->progress(j->progress_user, at > j->skip ? at - j->skip : 0, j->total))
      atomic_store_explicit(&j->cancel, 1, memory_order_relaxed);
  }
  return woke;
}

/* How long a worker with nothing to run keeps looking before it sleeps:
 * about the cost of one strip task of the benchmark graph (10 to 15 us).  Most waits end when a task running
 * on the other core finishes; a futex sleep and wake-up costs both threads
 * system calls and the sleeper a wake-up delay several times that. */
#define SPIN_NS 20000.0

static void work(void *arg, int id) {
  render_job *j = arg;
  uint64_t mode = mixstage__fp_enter();
  worker_order *o = &j->order[id];
  uint64_t all = (uint64_t)j->final * (uint64_t)j->count;
  double idle_since = -1.0;
  for (;;) {
    if (id == 0 && caller_duties(j)) mixstage__event_notify(&j->unit_ev);
    uint32_t s;
    int i = claim_task(j, id, &s);
    if (i < 0) {
      /* Only a worker with nothing to claim reads the others' counts (each
       * moves with every task its worker finishes). */
      if (finished_all(j) == all &&
          (id != 0 || !j->g->bounce || atomic_load_explicit(&j->collected, memory_order_acquire) == j->final))
        break;
      double t = now_ns();
      if (idle_since < 0.0) idle_since = t;
      if (t - idle_since < SPIN_NS) {
        /* Nothing becomes ready but by a task finishing: watch the
         * finished counts (a line per worker) rather than scan every
         * task's line again and again, which would take each of them from
         * the cache of the worker about to write it.  The second look
         * catches a task that finished before the counts were read. */
        uint64_t seen = finished_all(j);
        i = claim_task(j, id, &s);
        if (i < 0) {
          while (finished_all(j) == seen && now_ns() - idle_since < SPIN_NS) mixstage__cpu_relax();
          continue;
        }
      } else {
        /* Announce the sleep, then look once more: whatever a task finishing
         * after this look makes ready comes with a wake-up. */
        uint32_t seen = mixstage__event_prepare(&j->unit_ev);
        if (id == 0 && caller_duties(j)) mixstage__event_notify(&j->unit_ev);
        i = claim_task(j, id, &s);
        if (i < 0 && finished_all(j) != all) {
          mixstage__event_sleep(&j->unit_ev, seen);
          idle_since = -1.0;
          continue;
        }
        mixstage__event_cancel(&j->unit_ev);
        if (i < 0) continue;
      }
    }
    idle_since = -1.0;
    if (s >= o->ranked_at + (s <= 3 ? 1 : RANK_EVERY)) {
      rank_tasks(j, o);
      /* From costs measured over the first steps, and again once they have
       * settled (the first blocks run with cold caches); homes that moved
       * with every ranking would move tasks' state between cores. */
      int first = o->ranked_at < RANK_EVERY && s >= RANK_EVERY;
      int settled = o->ranked_at < HOMES_SETTLED && s >= HOMES_SETTLED;
      if (id == 0 && (first || settled)) assign_homes(j, 1);
      o->ranked_at = s;
    }
    run_task(j, i, s, id);
  }
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
  mixstage__gfree(g, j->st_mem);
  mixstage__gfree(g, j->order_mem_i);
  mixstage__gfree(g, j->order_mem_d);
  mixstage__gfree(g, (void *)j->home);
  mixstage__gfree(g, j->cluster);
  mixstage__gfree(g, j->cl_cost);
  mixstage__gfree(g, j->cl_order);
  mixstage__gfree(g, j->cl_home);
  mixstage__gfree(g, j->cand);
  mixstage__gfree(g, j->relays);
  mixstage__gfree(g, j->rly);
  mixstage__gfree(g, j->rins);
  mixstage__gfree(g, j->stand_units);
  mixstage__gfree(g, j->stand_sends);
  mixstage__gfree(g, j->spare_mem);
}

/* Appends d to the list that started at from0, once. */
static void add_edge(render_job *j, int from0, int *n, int *slot, int d) {
  for (int k = 0; k < *n; k++)
    if (j->deps[from0 + k] == d) return;
  j->deps[(*slot)++] = d;
  (*n)++;
}

/* Calls fn for every unit task t reads: same-step (prev 0) or, pipelined,
 * a strip a late bus reads a step later (prev 1). */
typedef void (*edge_fn)(render_job *j, int t, int src, int prev, void *ctx);
static void task_edges(render_job *j, const int *where, int t, edge_fn fn, void *ctx) {
  mixstage__unit *lead = j->tasks[t].unit;
  int members = lead->group ? lead->group->count : 1;
  for (int m = 0; m < members; m++) {
    mixstage__unit *u = lead->group ? lead->group->units[m] : lead;
    if (u->kind == MIXSTAGE__UNIT_BUS) {
      mixstage_bus *b = (mixstage_bus *)u;
      for (int k = 0; k < b->input_count; k++) {
        mixstage__unit *src = b->inputs[k].unit ? b->inputs[k].unit : b->inputs[k].send->from;
        fn(j, t, where[src->order], j->pipelined && src->kind == MIXSTAGE__UNIT_STRIP, ctx);
      }
    }
    for (int k = 0; k < u->node_count; k++)
      if (u->nodes[k]->key_unit) fn(j, t, where[u->nodes[k]->key_unit->order], 0, ctx);
  }
}

/* Edge lists are built in passes over task_edges, one list kind at a time. */
typedef struct edge_pass {
  int kind; /* 0 deps, 1 readers, 2 prev, 3 late readers */
  int *slot;
  int target; /* kinds 1, 3: the task whose readers are being listed */
} edge_pass;

static void edge_add(render_job *j, int t, int src, int prev, void *ctx) {
  edge_pass *p = ctx;
  task *x;
  switch (p->kind) {
  case 0:
    if (!prev && src != t) add_edge(j, j->tasks[t].dep0, &j->tasks[t].ndeps, p->slot, src);
    break;
  case 2:
    if (prev) add_edge(j, j->tasks[t].prev0, &j->tasks[t].nprev, p->slot, src);
    break;
  case 1:
    x = &j->tasks[p->target];
    if (!prev && src == p->target && t != src) add_edge(j, x->rd0, &x->nrd, p->slot, t);
    break;
  case 3:
    x = &j->tasks[p->target];
    if (prev && src == p->target) add_edge(j, x->lrd0, &x->nlrd, p->slot, t);
    break;
  }
}

/* The tasks in a topological order (pipelined: the buses first), and what
 * each waits for; the first claim order is this order, until costs are
 * measured. */
static int plan_tasks(mixstage_graph *g, render_job *j) {
  int n = g->schedule_count, edges = 0;
  for (int i = 0; i < n; i++) {
    mixstage__unit *u = g->schedule[i];
    edges += u->node_count;
    if (u->kind == MIXSTAGE__UNIT_BUS) edges += ((mixstage_bus *)u)->input_count;
  }
  int *where = mixstage__galloc(g, (size_t)n, sizeof *where);
  j->tasks = mixstage__galloc(g, (size_t)n, sizeof *j->tasks);
  /* Every edge is listed once at its reader and once at its source. */
  j->deps = mixstage__galloc(g, 2 * (size_t)edges + 1, sizeof *j->deps);
  /* One line more, to start on a line's boundary (the allocator's
   * alignment is that of malloc). */
  j->st_mem = mixstage__galloc(g, (size_t)n + (size_t)j->threads + 1, sizeof *j->st);
  j->st = j->st_mem ? (task_state *)(((uintptr_t)j->st_mem + 63) & ~(uintptr_t)63) : NULL;
  j->order = j->st ? (worker_order *)(void *)(j->st + n) : NULL;
  /* Each worker's prio a whole number of lines apart from the next one's. */
  size_t stride = ((size_t)n + 15) & ~(size_t)15;
  j->order_mem_i = mixstage__galloc(g, stride * (size_t)j->threads, sizeof *j->order_mem_i);
  j->order_mem_d = mixstage__galloc(g, (size_t)n * (size_t)j->threads, sizeof *j->order_mem_d);
  j->home = mixstage__galloc(g, (size_t)n, sizeof *j->home);
  j->cluster = mixstage__galloc(g, (size_t)n, sizeof *j->cluster);
  j->cl_cost = mixstage__galloc(g, (size_t)n, sizeof *j->cl_cost);
  j->cl_order = mixstage__galloc(g, (size_t)n, sizeof *j->cl_order);
  j->cl_home = mixstage__galloc(g, (size_t)n, sizeof *j->cl_home);
  j->cand = mixstage__galloc(g, (size_t)n, sizeof *j->cand);
  if (!where || !j->tasks || !j->deps || !j->st || !j->order_mem_i || !j->order_mem_d || !j->home || !j->cluster ||
      !j->cl_cost || !j->cl_order || !j->cl_home || !j->cand) {
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
      task *t = &j->tasks[j->count++];
      t->unit = u;
      t->late = late;
      t->emits = u == &g->buses[0]->u;
    }
  for (int i = 0; i < n; i++) {
    mixstage__unit *u = g->schedule[i];
    if (u->group) where[i] = where[u->group->units[0]->order];
  }
  int slot = 0;
  for (int kind = 0; kind < 4; kind++)
    for (int i = 0; i < j->count; i++) {
      task *t = &j->tasks[i];
      edge_pass p = {kind, &slot, i};
      if (kind == 0) t->dep0 = slot, t->ndeps = 0;
      if (kind == 1) t->rd0 = slot, t->nrd = 0;
      if (kind == 2) t->prev0 = slot, t->nprev = 0;
      if (kind == 3) t->lrd0 = slot, t->nlrd = 0;
      if (kind == 0 || kind == 2) task_edges(j, where, i, edge_add, &p);
      else
        for (int r = 0; r < j->count; r++) task_edges(j, where, r, edge_add, &p);
    }
  /* A strip's output is the biggest thing it hands on: it shares its
   * home with the bus it feeds (the mix bus, read by everything, is left
   * to stand alone). */
  for (int i = 0; i < j->count; i++) {
    mixstage__unit *u = j->tasks[i].unit;
    j->cluster[i] = u->order;
    if (u->kind == MIXSTAGE__UNIT_STRIP && u->output && u->output != g->buses[0])
      j->cluster[i] = u->output->u.order;
    else if (u->kind == MIXSTAGE__UNIT_BUS && u->group)
      j->cluster[i] = -1;
  }
  for (int w = 0; w < j->threads; w++) {
    worker_order *o = &j->order[w];
    o->prio = j->order_mem_i + (size_t)w * stride;
    o->rank = j->order_mem_d + (size_t)w * (size_t)n;
    o->ranked_at = 0;
    o->floor = 1;
    o->homes_seen = 0;
    for (int i = 0; i < j->count; i++) o->prio[i] = i;
  }
  for (int w = 0; w < j->threads; w++) {
    atomic_init(&j->order[w].finished, 0);
    j->order[w].faults = 0;
  }
  atomic_init(&j->homes_epoch, 0);
  for (int i = 0; i < j->count; i++) {
    atomic_init(&j->home[i], 0);
    atomic_init(&j->st[i].cost, 0.0);
    atomic_init(&j->st[i].done, 0);
    atomic_init(&j->st[i].claim, 0);
  }
  mixstage__gfree(g, where);
  return MIXSTAGE_OK;
}

/* Pipelined: the rings of strip outputs and strip sends, the stand-ins the
 * buses read, and which task points what at which slot. */
static int plan_relays(mixstage_graph *g, render_job *j) {
  int nrel = 0, nin = 0;
  size_t floats = 0;
  j->send_total = 0;
  for (int i = 0; i < g->strip_count; i++) {
    mixstage__unit *u = &g->strips[i]->u;
    nrel += 1 + u->send_count;
    j->send_total += u->send_count;
    floats += (size_t)u->out_channels;
    for (int k = 0; k < u->send_count; k++) floats += (size_t)u->sends[k]->to->u.channels;
  }
  for (int i = 0; i < g->bus_count; i++) nin += g->buses[i]->input_count;
  j->relays = mixstage__galloc(g, (size_t)nrel + 1, sizeof *j->relays);
  j->rly = mixstage__galloc(g, (size_t)nrel + 1, sizeof *j->rly);
  j->rins = mixstage__galloc(g, (size_t)nin + 1, sizeof *j->rins);
  j->stand_units = mixstage__galloc(g, (size_t)RING * (size_t)g->strip_count + 1, sizeof *j->stand_units);
  j->stand_sends = mixstage__galloc(g, (size_t)RING * (size_t)j->send_total + 1, sizeof *j->stand_sends);
  /* On a cache line's boundary (16 floats more for that), as the graph's
   * own buffers are: the strips' mixers write these blocks and the buses
   * read them with whole-vector moves, and a block off the line boundary
   * splits every other one across two lines. */
  j->spare_mem = mixstage__galloc(g, (RING - 1) * floats * MIXSTAGE__BLOCK + 16, sizeof(float));
  if (!j->relays || !j->rly || !j->rins || !j->stand_units || !j->stand_sends || !j->spare_mem)
    return MIXSTAGE_ENOMEM;
  float *mem = (float *)(((uintptr_t)j->spare_mem + 63) & ~(uintptr_t)63);
  int *send_base = j->rly; /* borrowed until the rings are listed below */
  for (int i = 0, ns = 0; i < g->strip_count; i++) {
    mixstage__unit *u = &g->strips[i]->u;
    send_base[i] = ns;
    for (int k = -1; k < u->send_count; k++) {
      relay *y = &j->relays[j->relay_count++];
      y->live = k < 0 ? u->out : u->sends[k]->buf;
      y->channels = k < 0 ? u->out_channels : u->sends[k]->to->u.channels;
      for (int r = 0; r < RING; r++) {
        float **shown = k < 0 ? j->stand_units[r * g->strip_count + i].out : j->stand_sends[r * j->send_total + ns].buf;
        for (int c = 0; c < y->channels; c++) {
          if (r == 0) {
            y->slot[r][c] = y->live[c];
          } else {
            y->slot[r][c] = mem;
            mem += MIXSTAGE__BLOCK;
          }
          shown[c] = y->slot[r][c];
        }
      }
      if (k >= 0) ns++;
    }
  }
  /* The buses' inputs that read a strip. */
  for (int t = 0; t < j->count; t++) {
    task *x = &j->tasks[t];
    x->rin0 = j->rin_count;
    x->nrin = 0;
    if (!x->late) continue;
    int members = x->unit->group ? x->unit->group->count : 1; /* a lane group of buses: every member's */
    for (int m = 0; m < members; m++) {
      mixstage_bus *b = (mixstage_bus *)(x->unit->group ? x->unit->group->units[m] : x->unit);
      for (int k = 0; k < b->input_count; k++) {
        mixstage__input *in = &b->inputs[k];
        mixstage__unit *src = in->unit ? in->unit : in->send->from;
        if (src->kind != MIXSTAGE__UNIT_STRIP) continue;
        int send = -1;
        for (int s = 0; !in->unit && s < src->send_count; s++)
          if (src->sends[s] == in->send) send = send_base[src->index] + s;
        j->rins[j->rin_count++] = (ring_input){in, src->index, send, in->unit, in->send};
        x->nrin++;
      }
    }
  }
  /* Each strip task's rings (every member's output and sends). */
  int *relay_base = send_base; /* the same walk: strip i's rings start at its sends + i */
  int at = 0;
  int *list = mixstage__galloc(g, (size_t)nrel + 1, sizeof *list);
  if (!list) return MIXSTAGE_ENOMEM;
  for (int t = 0; t < j->count; t++) {
    task *x = &j->tasks[t];
    x->rly0 = at;
    x->nrly = 0;
    if (x->late) continue;
    int members = x->unit->group ? x->unit->group->count : 1;
    for (int m = 0; m < members; m++) {
      mixstage__unit *u = x->unit->group ? x->unit->group->units[m] : x->unit;
      int first = relay_base[u->index] + u->index;
      for (int r = 0; r <= u->send_count; r++) list[at++] = first + r;
      x->nrly += 1 + u->send_count;
    }
  }
  mixstage__gfree(g, j->rly);
  j->rly = list;
  return MIXSTAGE_OK;
}

/* Back to the graph's own buffers, holding the last block written, so the
 * graph is left as a one-thread render leaves it. */
static void relays_remove(render_job *j) {
  for (int i = 0; i < j->rin_count; i++) {
    j->rins[i].in->unit = j->rins[i].unit;
    j->rins[i].in->send = j->rins[i].orig_send;
  }
  for (int r = 0; r < j->relay_count; r++) {
    relay *y = &j->relays[r];
    for (int c = 0; c < y->channels; c++) {
      if (y->live[c] != y->slot[0][c]) memcpy(y->slot[0][c], y->live[c], sizeof(float) * MIXSTAGE__BLOCK);
      y->live[c] = y->slot[0][c];
    }
  }
  for (int i = 0; i < j->g->bus_count; i++) mixstage__bus_point_inputs(j->g->buses[i]);
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
  count_blocks(j);
  int rc = plan_tasks(g, j);
  if (rc == MIXSTAGE_OK && j->pipelined) rc = plan_relays(g, j);
  int events = 0;
  if (rc == MIXSTAGE_OK) {
    rc = mixstage__event_init(&j->unit_ev);
    events = rc == MIXSTAGE_OK;
  }
  if (rc != MIXSTAGE_OK) {
    if (j->pipelined) relays_remove(j);
    plan_free(g, j);
    return mixstage__fail(g, MIXSTAGE_ENOMEM, "render: out of memory");
  }
  assign_homes(j, 0);
  atomic_init(&j->collected, 0);
  atomic_init(&j->emitted, 0);
  atomic_init(&j->cancel, 0);
  mixstage__pool_run(pool, work, j);
  if (j->pipelined) relays_remove(j);
  if (events) mixstage__event_fini(&j->unit_ev);
  int faults = 0;
  for (int t = 0; t < j->threads; t++) faults += j->order[t].faults;
  plan_free(g, j);
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
    int cancelled = atomic_load(&j->cancel);
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
