/* libmixstage internal: run-time choice of instruction set (cpu.h). */
#include "cpu.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#if (defined(__x86_64__) || defined(__i386__)) && (defined(__GNUC__) || defined(__clang__))
static mixstage__isa cpu_detect(void) {
  __builtin_cpu_init(); /* needed when this runs from a constructor */
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return MIXSTAGE__ISA_AVX2_FMA;
  if (__builtin_cpu_supports("avx")) return MIXSTAGE__ISA_AVX;
  return MIXSTAGE__ISA_SSE2;
}
#else
static mixstage__isa cpu_detect(void) { return MIXSTAGE__ISA_PORTABLE; }
#endif

static const char *const isa_names[] = {"portable", "sse2", "avx", "avx2"};

/* The CPU's set capped by MIXSTAGE_CPU.  A value that names no set is
 * reported once on stderr and ignored: silently rendering with other
 * kernels than asked would defeat the variable's purpose (reproducing a
 * render's bits). */
static mixstage__isa cpu_choose(void) {
  mixstage__isa isa = cpu_detect();
  const char *cap = getenv("MIXSTAGE_CPU");
  if (!cap || !*cap) return isa;
  for (int i = MIXSTAGE__ISA_SSE2; i <= MIXSTAGE__ISA_AVX2_FMA; i++)
    if (!strcmp(cap, isa_names[i])) return isa < (mixstage__isa)i ? isa : (mixstage__isa)i;
  if (!strcmp(cap, "portable") && isa == MIXSTAGE__ISA_PORTABLE) return isa;
  fprintf(stderr, "libmixstage: MIXSTAGE_CPU=%s is not one of sse2, avx, avx2; using %s\n", cap,
          isa_names[isa]);
  return isa;
}

/* -1 until chosen.  Chosen when the library is loaded, so no process call
 * ever reads the environment; the lazy path covers a caller that runs
 * before this constructor (another library's constructor).  Concurrent
 * first calls compute the same value. */
static int chosen_isa = -1;

__attribute__((constructor)) static void cpu_choose_at_load(void) {
  __atomic_store_n(&chosen_isa, (int)cpu_choose(), __ATOMIC_RELAXED);
}

mixstage__isa mixstage__cpu_isa(void) {
  int isa = __atomic_load_n(&chosen_isa, __ATOMIC_RELAXED);
  if (isa < 0) {
    isa = (int)cpu_choose();
    __atomic_store_n(&chosen_isa, isa, __ATOMIC_RELAXED);
  }
  return (mixstage__isa)isa;
}

const char *mixstage__cpu_isa_name(void) { return isa_names[mixstage__cpu_isa()]; }

int mixstage__cpu_avx(void) { return mixstage__cpu_isa() >= MIXSTAGE__ISA_AVX; }

int mixstage__cpu_avx2_fma(void) { return mixstage__cpu_isa() >= MIXSTAGE__ISA_AVX2_FMA; }
