/* alloc_count.h: heap allocations counted by bench/alloc_count.c. */
#ifndef BENCH_ALLOC_COUNT_H
#define BENCH_ALLOC_COUNT_H

/* malloc, calloc, realloc, memalign, aligned_alloc and posix_memalign calls
 * made so far by any thread of the process; -1 where they are not counted
 * (a C library other than glibc). */
long long alloc_count(void);

#endif
