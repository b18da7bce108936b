/* Offline render to memory, on one thread or several. */
#include <pthread.h>
#include <sched.h>
#include <string.h>
#include "internal.h"

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
 * Each block, the schedule's levels run one after another; inside a level the
 * units are dealt round-robin to the threads.  A unit touches only its own
 * state and buffers and reads finished units of earlier levels, and buses sum
 * their inputs in a fixed order, so the result does not depend on the thread
 * count.  Threads meet at a sense-reversing spin barrier after each level
 * (a futex barrier costs more than a level's work at small blocks). */

typedef struct spin_barrier {
  _Atomic int count;
  _Atomic int sense;
  int n;
} spin_barrier;

static void barrier_wait(spin_barrier *b, int *local_sense) {
  *local_sense = !*local_sense;
  if (atomic_fetch_add(&b->count, 1) == b->n - 1) {
    atomic_store(&b->count, 0);
    atomic_store(&b->sense, *local_sense);
  } else {
    int spins = 0;
    while (atomic_load(&b->sense) != *local_sense)
      if (++spins > 2000) {
        sched_yield();
        spins = 0;
      }
  }
}

typedef struct render_job {
  mixstage_graph *g;
  _Atomic int cancel;
  mixstage_progress_fn progress;
  void *progress_user;
  int64_t next_report, report_every;
  _Atomic int go; /* 1: team complete, start; -1: abandon */
  spin_barrier bar;
  int threads;
  int *level_start; /* schedule index where each level starts; [level_count] = end */
  int64_t start, total, skip;
  float *out;
  int ch;
} render_job;

typedef struct worker {
  render_job *job;
  int id;
  int faults;
} worker;

static void *work(void *arg) {
  worker *w = arg;
  render_job *j = w->job;
  mixstage_graph *g = j->g;
  int sense = 0;
  while (atomic_load(&j->go) == 0) sched_yield();
  if (w->id >= j->threads) return NULL; /* the team was cut short */
  uint64_t mode = mixstage__fp_enter();
  float junk[MIXSTAGE__BLOCK * MIXSTAGE_MAX_CHANNELS];
  int64_t end = j->skip + j->total;
  for (int64_t pos = 0; pos < end;) {
    if (atomic_load_explicit(&j->cancel, memory_order_relaxed)) break;
    int n = end - pos < MIXSTAGE__BLOCK ? (int)(end - pos) : MIXSTAGE__BLOCK;
    /* Keep the discarded latency from straddling a block with output. */
    if (pos < j->skip && pos + n > j->skip) n = (int)(j->skip - pos);
    for (int L = 0; L < g->level_count; L++) {
      int first = j->level_start[L], last = j->level_start[L + 1];
      for (int k = first + w->id; k < last; k += j->threads)
        w->faults += mixstage__run_unit(g, g->schedule[k], j->start + pos, n);
      barrier_wait(&j->bar, &sense);
    }
    if (w->id == 0) {
      if (pos >= j->skip && j->out) mixstage__emit(g, NULL, j->ch, (int)(pos - j->skip), n, j->ch, j->out);
      else mixstage__emit(g, NULL, j->ch, 0, n, j->ch, junk);
      if (g->bounce) mixstage__bounce_collect(g, j->start + pos, n);
      if (j->progress && pos + n >= j->next_report) {
        int64_t done = pos + n > j->skip ? pos + n - j->skip : 0;
        if (j->progress(j->progress_user, done, j->total)) atomic_store(&j->cancel, 1);
        j->next_report += j->report_every;
      }
    }
    /* Everyone sees a cancel from the same block on: the barrier orders it. */
    barrier_wait(&j->bar, &sense);
    pos += n;
  }
  mixstage__fp_leave(mode);
  return NULL;
}

static int render_parallel(mixstage_graph *g, render_job *j) {
  int level_start[64];
  int *ls = level_start;
  int *heap = NULL;
  if (g->level_count + 1 > (int)(sizeof level_start / sizeof *level_start)) {
    heap = mixstage__galloc(g, (size_t)g->level_count + 1, sizeof *heap);
    if (!heap) return mixstage__fail(g, MIXSTAGE_ENOMEM, "render: out of memory");
    ls = heap;
  }
  for (int L = 0, k = 0; L <= g->level_count; L++) {
    while (k < g->schedule_count && g->schedule[k]->level < L) k++;
    ls[L] = k;
  }
  j->level_start = ls;
  worker w[64];
  pthread_t tid[64];
  int started = 1;
  memset(w, 0, sizeof w);
  for (int t = 0; t < j->threads; t++) {
    w[t].job = j;
    w[t].id = t;
  }
  /* Workers wait for the go flag, so a thread that fails to start only
   * shrinks the team (the result is the same with fewer threads). */
  for (int t = 1; t < j->threads; t++) {
    if (pthread_create(&tid[t], NULL, work, &w[t]) != 0) break;
    started++;
  }
  j->threads = started;
  j->bar.n = started;
  atomic_store(&j->go, 1);
  work(&w[0]);
  int faults = 0;
  for (int t = 1; t < started; t++) pthread_join(tid[t], NULL);
  for (int t = 0; t < started; t++) faults += w[t].faults;
  mixstage__gfree(g, heap);
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

int mixstage__render_run(mixstage_graph *g, const mixstage_render_config *cfg, float *out, int64_t total) {
  mixstage_render_config c = *cfg;
  int ch = g->buses[0]->u.channels;
  int64_t skip = c.remove_latency ? g->latency : 0;
  if (g->bounce) g->bounce->skip = skip;
  int faults = 0;
  int threads = c.threads < g->schedule_count ? c.threads : g->schedule_count;
  float junk[MIXSTAGE__BLOCK * MIXSTAGE_MAX_CHANNELS];
  if (threads > 1) {
    render_job j;
    memset(&j, 0, sizeof j);
    j.g = g;
    j.threads = threads;
    j.bar.n = threads;
    j.start = g->pos;
    j.total = total;
    j.skip = skip;
    j.out = out;
    j.ch = ch;
    j.progress = c.progress;
    j.progress_user = c.progress_user;
    j.report_every = (int64_t)(0.1 * g->sample_rate);
    j.next_report = j.report_every;
    faults = render_parallel(g, &j);
    if (faults < 0) return faults;
    g->pos += skip + total;
    if (atomic_load(&j.cancel)) return mixstage__fail(g, MIXSTAGE_ECANCELLED, "render: cancelled by the caller");
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
