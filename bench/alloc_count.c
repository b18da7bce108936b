/* alloc_count: counts the heap allocations of a whole process, for the
 * benchmark's "zero allocations in the real-time loop" figure.
 *
 * It replaces malloc, calloc, realloc and the aligned allocators by functions
 * that count the call and forward to glibc's own allocator (__libc_malloc and
 * friends, exported for exactly this use).  Defined in the executable, they
 * take precedence over libc's for every shared library of the process too
 * (libmixstage, libsndfile), which -Wl,--wrap=malloc would not do: --wrap
 * only redirects the calls of the objects being linked.  free() is forwarded
 * uncounted.
 *
 * Two builds:
 *   linked into bench_graph: alloc_count() returns the running total, and
 *     bench_graph takes deltas around the loop it times;
 *   with -DALLOC_COUNT_PRELOAD -shared -fPIC: an LD_PRELOAD object for
 *     programs we cannot change (the reference engines); it writes
 *     "ALLOC_COUNT n" and "PROCESS_CPU_NS n" (CLOCK_PROCESS_CPUTIME_ID, all
 *     threads) to stderr at exit, the latter because /usr/bin/time resolves
 *     only 10 ms.
 *
 * glibc only; elsewhere alloc_count() returns -1 ("not counted").
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stddef.h>
#include <stdint.h>

#include "alloc_count.h"

#if defined(__GLIBC__) && !defined(BENCH_NO_ALLOC_COUNT)
#include <stdatomic.h>
#include <time.h>
#include <unistd.h>

extern void *__libc_malloc(size_t n);
extern void *__libc_calloc(size_t k, size_t n);
extern void *__libc_realloc(void *p, size_t n);
extern void *__libc_memalign(size_t align, size_t n);
extern void __libc_free(void *p);

static atomic_llong n_allocs;

#define EXPORT __attribute__((visibility("default")))

long long alloc_count(void) { return atomic_load_explicit(&n_allocs, memory_order_relaxed); }

static void counted(void) { atomic_fetch_add_explicit(&n_allocs, 1, memory_order_relaxed); }

EXPORT void *malloc(size_t n) {
  counted();
  return __libc_malloc(n);
}

EXPORT void *calloc(size_t k, size_t n) {
  counted();
  return __libc_calloc(k, n);
}

EXPORT void *realloc(void *p, size_t n) {
  counted();
  return __libc_realloc(p, n);
}

EXPORT void free(void *p) { __libc_free(p); }

EXPORT void *memalign(size_t align, size_t n) {
  counted();
  return __libc_memalign(align, n);
}

EXPORT void *aligned_alloc(size_t align, size_t n) {
  counted();
  return __libc_memalign(align, n);
}

EXPORT int posix_memalign(void **out, size_t align, size_t n) {
  /* POSIX: a power of two multiple of sizeof(void *). */
  if (align < sizeof(void *) || (align & (align - 1)) != 0) return EINVAL;
  counted();
  void *p = __libc_memalign(align, n);
  if (!p) return ENOMEM;
  *out = p;
  return 0;
}

#ifdef ALLOC_COUNT_PRELOAD
/* "KEY n\n" to stderr, without stdio (which allocates). */
static void report(const char *key, unsigned long long v) {
  char buf[96], digits[24];
  int nd = 0, len = 0;
  while (*key && len < 64) buf[len++] = *key++;
  buf[len++] = ' ';
  do {
    digits[nd++] = (char)('0' + v % 10);
    v /= 10;
  } while (v);
  while (nd) buf[len++] = digits[--nd];
  buf[len++] = '\n';
  ssize_t w = write(2, buf, (size_t)len);
  (void)w;
}

__attribute__((destructor)) static void alloc_count_report(void) {
  struct timespec ts;
  report("ALLOC_COUNT", (unsigned long long)alloc_count());
  if (clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts) == 0)
    report("PROCESS_CPU_NS", (unsigned long long)ts.tv_sec * 1000000000ull + (unsigned long long)ts.tv_nsec);
}
#endif

#else
long long alloc_count(void) { return -1; }
#endif
