/* Worker threads kept between renders, and the event they sleep on. */
#define _GNU_SOURCE /* syscall() */
#include "pool.h"
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>
#include "mixstage/common.h"

#if defined(MIXSTAGE__FUTEX)
#include <linux/futex.h>
#include <sys/syscall.h>
#endif
#define cpu_relax() mixstage__cpu_relax()

/* A few microseconds of polling (a pause costs tens of cycles on current
 * x86): long enough for the hand-over of a task that is about to finish,
 * short against the cost of a task, so a worker with nothing to do sleeps
 * rather than burns a core another process (or worker) could use. */
#define SPINS 200

/* ---- event ------------------------------------------------------------------- */

int mixstage__event_init(mixstage__event *e) {
  atomic_init(&e->seq, 0);
  atomic_init(&e->sleepers, 0);
#if !defined(MIXSTAGE__FUTEX)
  if (pthread_mutex_init(&e->lock, NULL)) return MIXSTAGE_ENOMEM;
  if (pthread_cond_init(&e->cond, NULL)) {
    pthread_mutex_destroy(&e->lock);
    return MIXSTAGE_ENOMEM;
  }
#endif
  return MIXSTAGE_OK;
}

void mixstage__event_fini(mixstage__event *e) {
#if !defined(MIXSTAGE__FUTEX)
  pthread_cond_destroy(&e->cond);
  pthread_mutex_destroy(&e->lock);
#else
  (void)e;
#endif
}

uint32_t mixstage__event_seq(mixstage__event *e) { return atomic_load_explicit(&e->seq, memory_order_acquire); }

void mixstage__event_wait(mixstage__event *e, uint32_t seen) {
  for (int i = 0; i < SPINS; i++) {
    if (atomic_load_explicit(&e->seq, memory_order_acquire) != seen) return;
    cpu_relax();
  }
  /* Sequentially consistent: either the signaller sees the sleeper count,
   * or this thread sees the new counter (the futex rechecks it too). */
  atomic_fetch_add(&e->sleepers, 1);
  mixstage__event_sleep(e, seen);
}

void mixstage__event_signal(mixstage__event *e) {
#if defined(MIXSTAGE__FUTEX)
  atomic_fetch_add(&e->seq, 1);
  if (atomic_load(&e->sleepers)) syscall(SYS_futex, (uint32_t *)&e->seq, FUTEX_WAKE_PRIVATE, 0x7fffffff, NULL, NULL, 0);
#else
  /* Taking the lock to broadcast closes the gap between a sleeper's test
   * and its wait. */
  atomic_fetch_add(&e->seq, 1);
  if (atomic_load(&e->sleepers)) {
    pthread_mutex_lock(&e->lock);
    pthread_cond_broadcast(&e->cond);
    pthread_mutex_unlock(&e->lock);
  }
#endif
}

uint32_t mixstage__event_prepare(mixstage__event *e) {
  atomic_fetch_add(&e->sleepers, 1);
  /* The waiter's check that follows must not be seen before the count. */
  atomic_thread_fence(memory_order_seq_cst);
  return atomic_load(&e->seq);
}

void mixstage__event_cancel(mixstage__event *e) { atomic_fetch_sub_explicit(&e->sleepers, 1, memory_order_relaxed); }

void mixstage__event_sleep(mixstage__event *e, uint32_t seen) {
#if defined(MIXSTAGE__FUTEX)
  while (atomic_load(&e->seq) == seen)
    syscall(SYS_futex, (uint32_t *)&e->seq, FUTEX_WAIT_PRIVATE, seen, NULL, NULL, 0);
#else
  pthread_mutex_lock(&e->lock);
  while (atomic_load(&e->seq) == seen) pthread_cond_wait(&e->cond, &e->lock);
  pthread_mutex_unlock(&e->lock);
#endif
  atomic_fetch_sub(&e->sleepers, 1);
}

void mixstage__event_notify(mixstage__event *e) {
  /* Pairs with the sleeper count's increment: either this load sees it, or
   * the waiter's check after it sees the condition this thread made true. */
  atomic_thread_fence(memory_order_seq_cst);
  if (atomic_load_explicit(&e->sleepers, memory_order_relaxed)) mixstage__event_signal(e);
}

/* ---- pool ---------------------------------------------------------------------- */

typedef struct member {
  mixstage__pool *pool;
  int id;
  pthread_t tid;
} member;

struct mixstage__pool {
  mixstage__allocator alloc;
  int threads, requested;
  pid_t pid;
  member *members; /* [1 .. threads - 1] are workers */
  mixstage__event start, done;
  _Atomic int remaining;
  _Atomic int quit;
  mixstage__pool_fn fn;
  void *ctx;
};

static void *worker_main(void *arg) {
  member *m = arg;
  mixstage__pool *p = m->pool;
  uint32_t seen = 0; /* jobs run one at a time: start moves by one per job */
  for (;;) {
    mixstage__event_wait(&p->start, seen);
    seen++;
    if (atomic_load(&p->quit)) break;
    p->fn(p->ctx, m->id);
    if (atomic_fetch_sub(&p->remaining, 1) == 1) mixstage__event_signal(&p->done);
  }
  return NULL;
}

mixstage__pool *mixstage__pool_create(const mixstage__allocator *a, int threads) {
  if (threads < 1) threads = 1;
  mixstage__pool *p = mixstage__calloc(a, 1, sizeof *p);
  if (!p) return NULL;
  p->alloc = *a;
  p->requested = threads;
  p->threads = 1;
  p->pid = getpid();
  p->members = mixstage__calloc(a, (size_t)threads, sizeof *p->members);
  if (!p->members || mixstage__event_init(&p->start) != MIXSTAGE_OK) {
    mixstage__free(a, p->members);
    mixstage__free(a, p);
    return NULL;
  }
  if (mixstage__event_init(&p->done) != MIXSTAGE_OK) {
    mixstage__event_fini(&p->start);
    mixstage__free(a, p->members);
    mixstage__free(a, p);
    return NULL;
  }
  /* Workers block every signal, so the host's handlers run on its threads. */
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  for (int t = 1; t < threads; t++) {
    member *m = &p->members[t];
    m->pool = p;
    m->id = t;
    if (pthread_create(&m->tid, NULL, worker_main, m) != 0) break;
    p->threads++;
  }
  pthread_sigmask(SIG_SETMASK, &old, NULL);
  return p;
}

void mixstage__pool_destroy(mixstage__pool *p) {
  if (!p) return;
  if (mixstage__pool_usable(p)) {
    atomic_store(&p->quit, 1);
    mixstage__event_signal(&p->start);
    for (int t = 1; t < p->threads; t++) pthread_join(p->members[t].tid, NULL);
    mixstage__event_fini(&p->start);
    mixstage__event_fini(&p->done);
  }
  mixstage__allocator a = p->alloc;
  mixstage__free(&a, p->members);
  mixstage__free(&a, p);
}

int mixstage__pool_threads(const mixstage__pool *p) { return p ? p->threads : 1; }
int mixstage__pool_requested(const mixstage__pool *p) { return p ? p->requested : 1; }
int mixstage__pool_usable(const mixstage__pool *p) { return p && p->pid == getpid(); }

void mixstage__pool_run(mixstage__pool *p, mixstage__pool_fn fn, void *ctx) {
  if (p->threads < 2) {
    fn(ctx, 0);
    return;
  }
  p->fn = fn;
  p->ctx = ctx;
  atomic_store(&p->remaining, p->threads - 1);
  uint32_t d = mixstage__event_seq(&p->done);
  mixstage__event_signal(&p->start);
  fn(ctx, 0);
  while (mixstage__event_seq(&p->done) == d) mixstage__event_wait(&p->done, d);
}
