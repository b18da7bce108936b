/* libmixstage internal: loudness range (LRA) after EBU Tech 3342.
 *
 * Short-term loudness (3 s window, BS.1770 K-weighting) is sampled at
 * 10 Hz (Tech 3342-2016 asks for at least 10 Hz, i.e. an overlap of at least
 * 2.9 s); blocks at or below -70 LUFS are dropped (absolute gate), then blocks
 * more than 20 LU below the power mean of the rest (relative gate); LRA is
 * the 95th minus the 10th percentile of what remains, percentiles taken as
 * in the document's MATLAB reference: element round((n - 1) p) of the sorted
 * values.  libebur128 1.2.6 steps its short-term blocks by 1 s, which reads
 * short programmes wrongly, so the meters keep their own.
 *
 * The values are kept in a histogram of 0.01 LU bins (32 KiB), so adding a
 * block is O(1) and allocation-free (the in-graph meters add on the audio
 * thread); the percentiles are then exact to 0.005 LU, far inside the
 * document's +-1 LU tolerance. */
#ifndef MIXSTAGE_LOUDNESS_RANGE_H
#define MIXSTAGE_LOUDNESS_RANGE_H
#include <stdint.h>

typedef struct mixstage__lra {
  uint32_t *bins;    /* MIXSTAGE__LRA_BINS counts */
  double energy_sum; /* sum of 10^(L/10) over the absolute-gated blocks */
  int64_t count;     /* absolute-gated blocks */
} mixstage__lra;

/* Allocates the histogram (edit time); MIXSTAGE_OK or MIXSTAGE_ENOMEM. */
int mixstage__lra_init(mixstage__lra *l);
void mixstage__lra_free(mixstage__lra *l);
void mixstage__lra_reset(mixstage__lra *l);
/* One short-term loudness reading in LUFS (render-time safe). */
void mixstage__lra_add(mixstage__lra *l, double short_term_lufs);
/* The loudness range in LU; 0 when no block passes the gates. */
double mixstage__lra_value(const mixstage__lra *l);

#endif
