/* libmixstage internal: integrated loudness (ITU-R BS.1770-4 gating) in
 * memory that does not grow with the programme.
 *
 * libebur128's exact mode keeps every 400 ms gating block in a list (one
 * allocation per 100 ms, some 20 MiB for the 35 files of a 30-minute
 * delivery); its histogram mode rounds every block to 0.1 LU.  Here each
 * block's energy goes into a bin of 0.01 LU that keeps both the count and
 * the energy sum of its blocks, and the absolute-gated blocks' energy is
 * summed in arrival order as libebur128 does.  The relative gate is then
 * exact for every bin but the one it falls in, whose blocks are counted
 * (all, by their mean energy) or not as a whole: the result equals
 * libebur128's exact mode up to rounding unless a block lies within 0.01 LU
 * of the relative gate.  Adding a block is O(1) and never allocates. */
#ifndef MIXSTAGE_LOUDNESS_GATE_H
#define MIXSTAGE_LOUDNESS_GATE_H
#include <stdint.h>

typedef struct mixstage__gate {
  double *energy;  /* per bin: summed block energy (MIXSTAGE__GATE_BINS) */
  uint32_t *count; /* per bin: blocks */
  double sum;      /* every absolute-gated block's energy, in arrival order */
  int64_t n;       /* absolute-gated blocks */
} mixstage__gate;

/* Allocates the bins (edit time, some 117 KiB, touched only where blocks
 * fall); MIXSTAGE_OK or MIXSTAGE_ENOMEM. */
int mixstage__gate_init(mixstage__gate *g);
void mixstage__gate_free(mixstage__gate *g);
/* One 400 ms gating block: its channel-weighted mean square (the energy
 * whose loudness is -0.691 + 10 log10(energy)).  Render-time safe. */
void mixstage__gate_add(mixstage__gate *g, double block_energy);
/* Integrated loudness in LUFS; -HUGE_VAL when no block passes the gates. */
double mixstage__gate_value(const mixstage__gate *g);

#endif
