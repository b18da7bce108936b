/* libmixstage internal: linear-phase oversampling and a BS.1770 true-peak
 * detector.
 *
 * OVERSAMPLER.  2x, 4x or 8x by cascaded polyphase half-band FIR stages
 * (Kaiser-windowed sinc, designed at init), computed in float (taps, state
 * and sums: the rounding floor, ~-140 dB, is far below every figure here).
 * Two designs.  MIXSTAGE_OS_FLAT (mixstage__os_init), measured per stage,
 * each stage's pass band = 0.45 fs of the base rate:
 *   stage 1 (1x<->2x)  135 taps, beta 10.5: stop band >= 104 dB from 0.55 fs,
 *                      pass-band ripple +-0.00005 dB to 0.45 fs
 *   stage 2 (2x<->4x)   27 taps, beta 11.0: >= 105 dB (from 1.55 fs)
 *   stage 3 (4x<->8x)   19 taps, beta 10.9: >= 104 dB (from 3.55 fs)
 * Measured through the whole cascade (tests/check_saturation): round trip
 * flat within 0.0002 dB from 50 Hz to 20 kHz at 48 kHz; images of up() above
 * 0.55 fs >= 100.4 dB down (2x 111, 4x 107, 8x 100.4 dB); a top-rate tone at
 * 0.6 fs folds into the base band 114 dB down.  Being half-band, each stage
 * is -6 dB at the base Nyquist: content between 0.5 and 0.55 fs folds into
 * 0.45..0.5 fs only partly attenuated (above the pass band, not in it).
 *
 * Round trip up() then down() is a pure delay of mixstage__os_latency() base
 * frames (an integer: a pad of whole top-rate samples in the down path makes
 * it so).  Latencies: 1x 0, 2x 67, 4x 74, 8x 76 base frames.
 *
 * MIXSTAGE_OS_LIGHT (mixstage__os_init_design), for a waveshaper whose
 * aliases need only stay out of 20 Hz..20 kHz: pass band to 0.4167 fs (20 kHz
 * at 48 kHz), stop band from 0.5833 fs (anything folding from there lands
 * above 0.4167 fs), designed response per stage:
 *   stage 1  63 taps, beta 8.0:  stop band >= 80.2 dB, ripple +-0.0009 dB
 *   stage 2  19 taps, beta 8.25: >= 81.2 dB from 1.5833 fs
 *   stage 3  15 taps, beta 7.25: >= 81.1 dB from 3.5833 fs
 * so every image and every alias of down() that would land in the pass band
 * is >= 80 dB down.  Latencies (no extra_hi): 2x 31, 4x 36, 8x 38 frames
 * (rounded up to whole frames).
 *
 * Usage (render time, no allocation, blocks of 1..MIXSTAGE_OS_MAX_FRAMES
 * base frames, sample-sequential so any block split gives identical output):
 *
 *   mixstage__os_up(&os, in, nframes);          fills os.hi[c][0 .. n*factor-1]
 *   ... process os.hi[c] in place at fs * factor ...
 *   mixstage__os_down(&os, out, nframes);       consumes os.hi, writes out
 *
 * up() and down() have independent state; either may be used alone (e.g. a
 * detector using only up()).  With factor 1 both are copies.
 *
 * The half-band sums run eight outputs per vector with fused multiply-adds
 * on CPUs with AVX2/FMA (chosen at init), else four per vector (SSE2, the
 * x86-64 baseline) or portable C; the forms differ in the last bits only
 * (the figures above hold for both), and one machine always runs the same
 * form.  In the benchmark graph with the saturation at its default 2x
 * (bench_graph --sat-default, callgrind) the half-band sums of all
 * oversamplers fell from 142 to 84 instructions per frame per strip.  The
 * AVX2 form then took thirty-two outputs per pass (one broadcast tap for
 * four vectors, the loop's bookkeeping shared) and the phase interleaving
 * went to SSE2: the mix bus's console colour (2x LIGHT, stereo) spent 80
 * instructions per frame in the sums and 56 around them, now 38 and 28;
 * with the phase-split path below (two channels per pass of the taps, no
 * interleaving, windows kept between calls) 34 and 13.
 *
 * TRUE-PEAK DETECTOR (ITU-R BS.1770-4 Annex 2): 4x oversampling interpolation
 * then max |x|.  Our interpolator is a 4-phase, 127-tap Kaiser-windowed sinc
 * (Nyquist filter: one phase reproduces the input samples exactly, so the
 * true peak is never below the sample peak), Kaiser beta 8: flat within
 * 0.002 dB to 20 kHz at 48 kHz, images of that band >= 80 dB down.  It works
 * per channel; the value reported for base frame n covers the signal between
 * frames n - L - 1 and n - L, where L = mixstage__tp_latency() = 15 frames.
 * Call from one thread per object; no allocation after init.
 */
#ifndef MIXSTAGE_DSP_OVERSAMPLE_H
#define MIXSTAGE_DSP_OVERSAMPLE_H

#include "../node.h"

#define MIXSTAGE_OS_MAX_FRAMES 32 /* base frames per up()/down() call */
#define MIXSTAGE_OS_MAX_STAGES 3
#define MIXSTAGE_OS_MAX_CHANNELS 16
enum { MIXSTAGE_OS_FLAT = 0, MIXSTAGE_OS_LIGHT = 1, MIXSTAGE_OS_DESIGNS = 2 };

/* One half-band stage: g[] are the K distinct non-zero outer taps of the
 * symmetric kernel (the centre tap is 1/2, the other even taps are zero).
 * Histories are linear (oldest first), per channel, so a block is filtered
 * as one contiguous window (see oversample.c). */
typedef struct mixstage__hb_stage {
  int half;       /* K: the kernel has 2K non-zero outer taps, length 4K-1 */
  int hlen;       /* history length per channel (2K) */
  const float *g; /* K taps, g[m] = h[c - (2m+1)] = h[c + 2m+1] */
  float *up_hist; /* nch * hlen: the last 2K inputs of up() */
  float *dn_even; /* nch * hlen: the last 2K even-phase inputs of down() */
  float *dn_odd;  /* nch * K: odd-phase samples awaiting the centre tap */
  int wide;       /* 1: the AVX2/FMA tap sum runs (chosen at init on CPUs that have it) */
} mixstage__hb_stage;

typedef struct mixstage__oversampler {
  int factor;  /* 1, 2, 4 or 8 */
  int nstages; /* log2(factor) */
  int nch;
  int design;  /* MIXSTAGE_OS_FLAT or MIXSTAGE_OS_LIGHT */
  int pad;     /* top-rate samples of extra delay in down() */
  int extra_hi; /* top-rate delay the caller adds between up() and down() */
  float *hi[MIXSTAGE_OS_MAX_CHANNELS]; /* top-rate work buffers, 32*factor each */
  float *mid[MIXSTAGE_OS_MAX_CHANNELS]; /* intermediate-rate scratch, 32*factor/2 each */
  float *mid2[MIXSTAGE_OS_MAX_CHANNELS];
  float *pad_hist; /* nch * factor: the last pad top-rate inputs of down(), oldest first */
  mixstage__hb_stage st[MIXSTAGE_OS_MAX_STAGES];
  /* The phase-split 2x path (mixstage__os2_up/down; factor 2 with no pad):
   * linear windows per channel, kept between calls. */
  float *in_win[MIXSTAGE_OS_MAX_CHANNELS];   /* [2K previous inputs | block | spare] */
  float *even_win[MIXSTAGE_OS_MAX_CHANNELS]; /* [2K previous even samples | block | spare] */
  float *odd_win[MIXSTAGE_OS_MAX_CHANNELS];  /* [K previous odd samples | block] */
  int in_last; /* frames of the block in in_win (slid out by the next up) */
  float *taps; /* storage for all stage kernels */
  float *block; /* one allocation behind the buffers above */
} mixstage__oversampler;

/* Edit time.  factor 1, 2, 4 or 8; nch 1..16.  Returns MIXSTAGE_OK,
 * MIXSTAGE_EINVAL or MIXSTAGE_ENOMEM (then nothing is left allocated). */
int mixstage__os_init(mixstage__oversampler *os, const mixstage__allocator *a, int nch,
                      int factor);
/* As mixstage__os_init(), for a caller whose processing between up() and
 * down() adds extra_hi top-rate samples of (linear-phase) delay: the pad is
 * shortened so that the whole round trip, mixstage__os_latency(), is still a
 * whole number of base frames.  extra_hi must be 0 for factor 1. */
int mixstage__os_init_ex(mixstage__oversampler *os, const mixstage__allocator *a, int nch,
                         int factor, int extra_hi);
/* As mixstage__os_init_ex() with the design chosen (MIXSTAGE_OS_FLAT or
 * MIXSTAGE_OS_LIGHT). */
int mixstage__os_init_design(mixstage__oversampler *os, const mixstage__allocator *a, int nch,
                             int factor, int extra_hi, int design);
/* Edit time; accepts a zeroed or finished object. */
void mixstage__os_fini(mixstage__oversampler *os, const mixstage__allocator *a);
/* Render time: clear all filter history. */
void mixstage__os_reset(mixstage__oversampler *os);
/* Render time: in[c][0..nframes-1] (1..32 base frames) -> os->hi[c][0..nframes*factor-1]. */
void mixstage__os_up(mixstage__oversampler *os, const float *const *in, int nframes);
/* Render time: os->hi[c][0..nframes*factor-1] -> out[c][0..nframes-1]; out may alias in. */
void mixstage__os_down(mixstage__oversampler *os, float *const *out, int nframes);
/* ---- phase-split 2x path ----
 * For a memoryless process (each top-rate sample a function of itself
 * alone) the order of the top-rate samples does not matter, so the 2x stage
 * can hand over its two phases apart and skip the interleaving after up()
 * and the de-interleaving in down():
 *
 *   mixstage__os2_up(&os, in, nframes);
 *   ... process mixstage__os2_even(&os, c)[0 .. n-1] (top-rate samples 2j)
 *       and mixstage__os2_odd(&os, c)[0 .. n-1] (samples 2j + 1) in place ...
 *   mixstage__os2_down(&os, out, nframes);
 *
 * The same sums in the same order as up()/down(): bit for bit the output of
 * up(), the process, down().  Only for an oversampler with
 * mixstage__os2_available() (factor 2, extra_hi 0); one object runs either
 * this pair or up()/down(), not both.  Between up and the next up,
 * mixstage__os2_input(&os, c) points at the block's input, with the
 * mixstage__os2_input_history(&os) frames before it readable too: the
 * caller's clean path delayed by the latency (2K - 1 <= 2K frames) reads
 * there instead of keeping its own delay line. */
int mixstage__os2_available(const mixstage__oversampler *os);
void mixstage__os2_up(mixstage__oversampler *os, const float *const *in, int nframes);
void mixstage__os2_down(mixstage__oversampler *os, float *const *out, int nframes);
static inline float *mixstage__os2_even(const mixstage__oversampler *os, int c) {
  return os->even_win[c] + os->st[0].hlen;
}
static inline float *mixstage__os2_odd(const mixstage__oversampler *os, int c) {
  return os->odd_win[c] + os->st[0].half;
}
static inline const float *mixstage__os2_input(const mixstage__oversampler *os, int c) {
  return os->in_win[c] + os->st[0].hlen;
}
static inline int mixstage__os2_input_history(const mixstage__oversampler *os) {
  return os->st[0].hlen;
}

/* Base frames of delay of up() followed by down() (an integer by design),
 * including the caller's extra_hi. */
int mixstage__os_latency(const mixstage__oversampler *os);
/* Delay of up() alone, in top-rate samples (the linear-phase group delay). */
int mixstage__os_up_delay_hi(const mixstage__oversampler *os);
/* The round-trip latency a factor (and extra_hi) would have, without building
 * one (0 if invalid). */
int mixstage__os_latency_for(int factor, int extra_hi);
/* The same for a given design. */
int mixstage__os_latency_for_design(int factor, int extra_hi, int design);
/* Memory of up() followed by down(), in base frames: all stages are FIR (and
 * the pad a plain delay), so after this many frames the state, and so all
 * later output, no longer depends on anything fed before them.  Measured
 * 127, 133 and 137 frames for 2x, 4x and 8x; 160 leaves a margin (checked
 * by tests/check_kernels.c).  A
 * caller that pauses the oversampler while its output is unused can reset it
 * and re-feed the last MIXSTAGE_OS_MEMORY_FRAMES frames of input to resume
 * exactly as if it had run all along. */
#define MIXSTAGE_OS_MEMORY_FRAMES 160

/* ---- true-peak detector ---- */
#define MIXSTAGE_TP_TAPS_PER_PHASE 32
typedef struct mixstage__true_peak {
  int nch;
  double taps[4][MIXSTAGE_TP_TAPS_PER_PHASE]; /* phase j, tap q applies to x[n - q] */
  float *hist; /* nch * 2 * TAPS_PER_PHASE (doubled ring) */
  int pos[MIXSTAGE_OS_MAX_CHANNELS];
} mixstage__true_peak;

int mixstage__tp_init(mixstage__true_peak *tp, const mixstage__allocator *a, int nch);
void mixstage__tp_fini(mixstage__true_peak *tp, const mixstage__allocator *a);
void mixstage__tp_reset(mixstage__true_peak *tp);
/* Render time.  For each base frame i of in[c][0..nframes-1] (any nframes),
 * writes the true peak (linear, >= 0, max over channels) of the signal
 * delayed by mixstage__tp_latency() frames into peak[i] if peak is not NULL.
 * Returns the maximum over the block.  For per-channel values use
 * mixstage__tp_process_channel() on each channel instead (not both). */
float mixstage__tp_process(mixstage__true_peak *tp, const float *const *in, int nframes,
                           float *peak);
/* Same for one channel c of the detector (peak[i] is that channel's value). */
float mixstage__tp_process_channel(mixstage__true_peak *tp, int c, const float *in, int nframes,
                                   float *peak);
/* Frames by which the detector's output lags its input. */
int mixstage__tp_latency(void);
/* Convenience: the true peak of a whole buffer (nframes frames, one channel),
 * stateless: the signal is taken as zero before and after the buffer, and the
 * interpolator's tail is flushed, so every inter-sample peak is counted.
 * Render-safe (uses a stack window, no allocation). */
float mixstage__tp_block(const float *x, int64_t nframes);

#endif
