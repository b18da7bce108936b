/* The floating-point mode of the calling thread: denormals flushed to zero
 * (the render path: denormal arithmetic can cost 100x in decaying tails) or
 * kept (a conversion whose output must carry the bits it has outside a
 * render).  Each setter returns the caller's mode for the restore. */
#ifndef MIXSTAGE_DSP_FP_MODE_H
#define MIXSTAGE_DSP_FP_MODE_H

#include <stdint.h>

#if defined(__SSE__) || defined(__x86_64__)
#include <xmmintrin.h>
#define MIXSTAGE__HAVE_MXCSR 1
#endif

typedef struct mixstage__fp_mode {
#if defined(MIXSTAGE__HAVE_MXCSR)
  unsigned int csr;
#elif defined(__aarch64__)
  uint64_t fpcr;
#else
  int unused;
#endif
} mixstage__fp_mode;

/* flush: 1 sets flush-to-zero and denormals-are-zero, 0 clears both. */
static inline mixstage__fp_mode mixstage__fp_mode_set(int flush) {
  mixstage__fp_mode m;
#if defined(MIXSTAGE__HAVE_MXCSR)
  m.csr = _mm_getcsr();
  _mm_setcsr(flush ? m.csr | 0x8040u : m.csr & ~0x8040u); /* FTZ (bit 15), DAZ (bit 6) */
#elif defined(__aarch64__)
  __asm__ volatile("mrs %0, fpcr" : "=r"(m.fpcr));
  __asm__ volatile("msr fpcr, %0" ::"r"(flush ? m.fpcr | (1ull << 24) : m.fpcr & ~(1ull << 24))); /* FZ */
#else
  (void)flush;
  m.unused = 0;
#endif
  return m;
}

static inline void mixstage__fp_mode_restore(mixstage__fp_mode m) {
#if defined(MIXSTAGE__HAVE_MXCSR)
  _mm_setcsr(m.csr);
#elif defined(__aarch64__)
  __asm__ volatile("msr fpcr, %0" ::"r"(m.fpcr));
#else
  (void)m;
#endif
}

#endif
