/* libmixstage internal: momentary and short-term loudness from 100 ms hops.
 *
 * BS.1770 momentary loudness is the mean K-weighted energy of the last 400 ms,
 * short-term of the last 3 s.  Keeping the energy of the last thirty 100 ms
 * hops, each reading sums 30 numbers instead of re-summing every sample of
 * both windows (34 times per sample, as libebur128's window calls do).  Used
 * by the stream meters (meters.c) and the delivered files' meters (io.c). */
#ifndef MIXSTAGE_LOUDNESS_HOPS_H
#define MIXSTAGE_LOUDNESS_HOPS_H

#include <ebur128.h>
#include <math.h>
#include <string.h>

typedef struct {
  double energy[30]; /* weighted mean square of each hop, a ring */
  int pos;           /* where the next hop goes */
} mixstage__loudness_hops;

static inline void mixstage__hops_reset(mixstage__loudness_hops *h) { memset(h, 0, sizeof *h); }

/* Takes the hop that libebur128 just completed (its 100 ms window) and gives
 * the loudness of the last 4 hops (momentary) and 30 (short-term) in LUFS,
 * -HUGE_VAL for silence.  Hops not yet heard count as silence. */
static inline void mixstage__hops_push(mixstage__loudness_hops *h, ebur128_state *st, double *momentary,
                                       double *short_term) {
  double v, e = 0.0;
  /* BS.1770-4: loudness = -0.691 + 10 log10(weighted mean square). */
  if (ebur128_loudness_window(st, 100, &v) == EBUR128_SUCCESS && v > -HUGE_VAL) e = pow(10.0, (v + 0.691) / 10.0);
  h->energy[h->pos] = e;
  h->pos = (h->pos + 1) % 30;
  double e4 = 0.0, e30 = 0.0;
  for (int k = 0; k < 30; k++) {
    const double b = h->energy[(h->pos + 29 - k) % 30];
    if (k < 4) e4 += b;
    e30 += b;
  }
  *momentary = e4 > 0.0 ? 10.0 * log10(e4 / 4.0) - 0.691 : -HUGE_VAL;
  *short_term = e30 > 0.0 ? 10.0 * log10(e30 / 30.0) - 0.691 : -HUGE_VAL;
}

/* The mean energy of the last 4 hops: the 400 ms gating block of BS.1770
 * that ends at the hop just pushed (integrated loudness, loudness_gate.h). */
static inline double mixstage__hops_block_energy(const mixstage__loudness_hops *h) {
  double e4 = 0.0;
  for (int k = 0; k < 4; k++) e4 += h->energy[(h->pos + 29 - k) % 30];
  return e4 / 4.0;
}

#endif
