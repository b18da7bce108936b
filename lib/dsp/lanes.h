/* libmixstage internal: vector lanes of doubles for kernels that advance
 * several independent recursions (channels, later strips) side by side.
 *
 * A lane is one channel of one processor.  Kernels keep their state as
 * structure of arrays, one row per quantity with one double per lane, the
 * rows padded to a whole number of vectors (MIXSTAGE__LANE_PAD), so one
 * vector operation advances the same step of MIXSTAGE__LANE_W lanes.
 *
 * With GCC or clang the vector is a compiler vector extension: two doubles,
 * which is one SSE2 register on x86-64 (the baseline, so always there) and
 * one NEON register on arm64; other compilers get MIXSTAGE__LANES_VECTOR 0
 * and kernels use their scalar path.  Every lane performs the same
 * operations in the same order as the scalar path, so results do not depend
 * on which path or how many lanes run together.
 */
#ifndef MIXSTAGE_DSP_LANES_H
#define MIXSTAGE_DSP_LANES_H

#include <string.h>

/* Doubles per vector, and a lane count rounded up to whole vectors. */
#define MIXSTAGE__LANE_W 2
#define MIXSTAGE__LANE_PAD(n) (((n) + MIXSTAGE__LANE_W - 1) / MIXSTAGE__LANE_W * MIXSTAGE__LANE_W)

#if defined(__GNUC__) || defined(__clang__)
#define MIXSTAGE__LANES_VECTOR 1
typedef double mixstage__v2d __attribute__((vector_size(16)));

/* Loads and stores through memcpy: rows need only double alignment. */
static inline mixstage__v2d mixstage__v2d_load(const double *p) {
  mixstage__v2d v;
  memcpy(&v, p, sizeof v);
  return v;
}

static inline void mixstage__v2d_store(double *p, mixstage__v2d v) { memcpy(p, &v, sizeof v); }

static inline mixstage__v2d mixstage__v2d_set1(double x) { return (mixstage__v2d){x, x}; }
#else
#define MIXSTAGE__LANES_VECTOR 0
#endif

#endif
