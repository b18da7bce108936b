/* libmixstage internal: dynamics.h's block conversions, four lanes wide
 * where the CPU has AVX2 (checked once per caller).
 *
 * mixstage__dynb_target_n and mixstage__dynb_gain_n compute, lane by lane,
 * the same IEEE operations in the same order as dynamics.h's scalar
 * functions and their SSE2 two-lane forms (no fused multiply-adds), so the
 * results are theirs bit for bit whichever width runs (tests/check_bus_stages.c
 * compares them on random and extreme inputs); the width only changes the
 * cost.  Render-time safe: no allocation, no libm. */
#ifndef MIXSTAGE_DSP_DYN_BLOCK_H
#define MIXSTAGE_DSP_DYN_BLOCK_H

/* 1 if the four-lane forms run on this machine (call once, at init). */
int mixstage__dynb_wide_available(void);

/* gr[i] = mixstage__dyn_compress_target_n's value for lvl[i] (the static
 * compressor curve of a power, 0 below p_floor and for NaN). */
void mixstage__dynb_target_n(int wide, const double *lvl, double *gr, int n, double p_floor,
                             double thr_db, double slope, double knee_db);

/* g[i] = mixstage__dyn_gr_to_gain(gr[i]) * k. */
void mixstage__dynb_gain_n(int wide, const double *gr, double *g, int n, double k);

/* gr[i] = mixstage__comp_ballistics_run(b, tg[i]) for i < n, in order (b's
 * state advanced as by n calls).  Returns 1 if every gr[i] < 600 (none NaN),
 * so a caller bounding the GR needs no pass of its own. */
struct mixstage__comp_ballistics;
int mixstage__dynb_ballistics_n(int wide, struct mixstage__comp_ballistics *b, const double *tg, double *gr, int n);

#endif
