/* libmixstage internal: a pool of worker threads kept by a graph between
 * renders, and the event its workers sleep on.
 *
 * The pool calls nothing of ours but the allocator.  Edit-time: create,
 * destroy.  A run wakes the workers, so it is for offline renders only. */
#ifndef MIXSTAGE_POOL_H
#define MIXSTAGE_POOL_H

#include <stdatomic.h>
#include <stdint.h>
#include "node.h"

#if defined(__linux__)
#define MIXSTAGE__FUTEX 1
#else
#include <pthread.h>
#endif

/* A pause in a polling loop: it frees the core's shared resources for a
 * sibling hardware thread and keeps the loop from flooding the memory
 * system with reads. */
#if defined(__SSE2__) || defined(__x86_64__)
#include <emmintrin.h>
#define mixstage__cpu_relax() _mm_pause()
#elif defined(__aarch64__)
#define mixstage__cpu_relax() __asm__ volatile("yield")
#else
#define mixstage__cpu_relax() ((void)0)
#endif

/* A counter threads wait on to change.  A waiter spins briefly (the usual
 * wait inside a render is shorter than a sleep and a wake-up), then sleeps in
 * the kernel: a futex on Linux, a condition variable elsewhere.  A signal
 * makes a system call only when somebody sleeps. */
typedef struct mixstage__event {
  _Atomic uint32_t seq;
  _Atomic uint32_t sleepers;
#if !defined(MIXSTAGE__FUTEX)
  pthread_mutex_t lock;
  pthread_cond_t cond;
#endif
} mixstage__event;

int mixstage__event_init(mixstage__event *e); /* MIXSTAGE_OK or MIXSTAGE_ENOMEM */
void mixstage__event_fini(mixstage__event *e);
/* The counter now (acquire): read it before the test that may lead to a wait. */
uint32_t mixstage__event_seq(mixstage__event *e);
/* Returns once the counter differs from seen. */
void mixstage__event_wait(mixstage__event *e, uint32_t seen);
/* Bumps the counter (release) and wakes every waiter. */
void mixstage__event_signal(mixstage__event *e);

/* The other way to wait, for a waiter that checks a condition of its own
 * (the signaller then pays for the counter only when somebody sleeps):
 * announce the sleeper and read the counter, check the condition again,
 * then either cancel or sleep.  A condition made true before the check is
 * seen by the check; one made true after it comes with a notify that finds
 * the sleeper and wakes it. */
uint32_t mixstage__event_prepare(mixstage__event *e);
void mixstage__event_cancel(mixstage__event *e);
/* Sleeps until the counter differs from seen; ends the prepare. */
void mixstage__event_sleep(mixstage__event *e, uint32_t seen);
/* After making a condition true: wakes the prepared waiters, if any (a
 * fence and a load when there are none). */
void mixstage__event_notify(mixstage__event *e);

typedef struct mixstage__pool mixstage__pool;
/* One share of a job: worker is 0 (the caller) .. threads - 1. */
typedef void (*mixstage__pool_fn)(void *ctx, int worker);

/* A pool of threads - 1 workers; the caller of mixstage__pool_run is the
 * last member.  A worker that cannot be started shrinks the pool (the
 * caller learns it from mixstage__pool_threads); NULL when out of memory. */
mixstage__pool *mixstage__pool_create(const mixstage__allocator *a, int threads);
/* Stops and joins the workers (they must be idle) and frees the pool.
 * Accepts NULL.  In a child of fork() the workers do not exist: only the
 * memory is freed. */
void mixstage__pool_destroy(mixstage__pool *p);
int mixstage__pool_threads(const mixstage__pool *p);   /* as running */
int mixstage__pool_requested(const mixstage__pool *p); /* as asked at create */
/* 0 in a child of fork() (its copy of the pool has no workers). */
int mixstage__pool_usable(const mixstage__pool *p);
/* Runs fn(ctx, w) on every member at once; returns when all have returned. */
void mixstage__pool_run(mixstage__pool *p, mixstage__pool_fn fn, void *ctx);

#endif
