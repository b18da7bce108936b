/* libmixstage internal: which instruction sets the kernels may use.
 *
 * One binary runs everywhere: the x86-64 baseline (SSE2) is compiled in,
 * wider kernels (AVX, AVX2/FMA) are compiled with target attributes and
 * chosen at run time by these predicates, and every kernel dispatch asks
 * them, never the CPU directly (tests/isa_sse2.sh fails on a direct
 * __builtin_cpu_supports outside lib/dsp/cpu.c).
 *
 * The environment variable MIXSTAGE_CPU caps the choice, read once when the
 * library is loaded (include/mixstage.h documents it for users):
 *   sse2   the baseline kernels only (what a machine without AVX runs)
 *   avx    AVX kernels, no AVX2/FMA
 *   avx2   everything this CPU has (the default; no cap)
 * A cap never enables what the CPU lacks.  Kernels chosen under a cap give
 * exactly the bits that a CPU with only that instruction set gives, so a
 * render can be reproduced across machines.  The portable (non-x86) forms
 * are chosen at compile time (another architecture).
 *
 * All are cheap (one relaxed load) and real-time safe. */
#ifndef MIXSTAGE_DSP_CPU_H
#define MIXSTAGE_DSP_CPU_H

typedef enum {
  MIXSTAGE__ISA_PORTABLE = 0, /* not x86: the compiler's generic forms */
  MIXSTAGE__ISA_SSE2 = 1,     /* the x86-64 baseline */
  MIXSTAGE__ISA_AVX = 2,
  MIXSTAGE__ISA_AVX2_FMA = 3
} mixstage__isa;

/* The widest instruction set the kernels use: the CPU's, capped by MIXSTAGE_CPU. */
mixstage__isa mixstage__cpu_isa(void);

/* Its name: "portable", "sse2", "avx" or "avx2". */
const char *mixstage__cpu_isa_name(void);

/* 1 when the kernels may use AVX (256-bit float and double vectors). */
int mixstage__cpu_avx(void);

/* 1 when the kernels may use AVX2 and FMA (the two always together). */
int mixstage__cpu_avx2_fma(void);

#endif
