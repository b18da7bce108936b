/* libmixstage internal: true-peak measurement (ITU-R BS.1770-4 Annex 2).
 *
 * The signal is interpolated 4x by a polyphase windowed-sinc FIR (64 taps
 * per phase, 256 in all, Kaiser beta 8: the pass band is flat within
 * 0.001 dB to 0.4535 fs -- 20 kHz at 44.1 kHz -- and -0.1 dB at 0.47 fs; the
 * images lie 90 dB down from 0.5465 fs), and the largest magnitude is taken
 * over the interpolated samples, each local extremum refined by the vertex
 * of the parabola through it and its two neighbours.  The refinement closes
 * the gap the 4x grid leaves for bright material: a 20 kHz tone at 48 kHz
 * can peak half-way between two interpolated samples, 0.47 dB above both;
 * the vertex recovers nearly all of that.  libebur128's own interpolator is
 * shorter and reads 0.2-0.5 dB low on noise and bright material (1.3 dB on a
 * 23 kHz tone), which is why the meters use this one.
 *
 * The FIR runs in float (64-term dot products, relative error ~1e-6, far
 * below the 0.01 dB reading resolution).  Input is taken in blocks of up to
 * MIXSTAGE__TP_BLOCK frames per channel; each interpolated sample is the
 * same sequence of float multiplies and adds (tap 0, the newest sample,
 * first) whatever the vector width, and the refinement runs in double on
 * every interpolated sample, so the reading is bit-identical on every x86-64
 * (SSE2 lanes or the scalar form) and for any split of the input.  Vectorised across
 * consecutive output samples: a load feeds all four phases.
 * Render-time safe: no allocation after init. */
#ifndef MIXSTAGE_DSP_TRUEPEAK_H
#define MIXSTAGE_DSP_TRUEPEAK_H

#define MIXSTAGE__TP_TAPS 64 /* per phase */
#define MIXSTAGE__TP_MAX_CHANNELS 64

#define MIXSTAGE__TP_BLOCK 256 /* frames per channel processed at once */

typedef struct mixstage__tp_channel {
  /* the last TAPS - 1 input samples, oldest first */
  float hist[MIXSTAGE__TP_TAPS - 1];
  float prev2, prev1; /* the last two interpolated samples */
  double peak;        /* largest |y| so far, linear */
} mixstage__tp_channel;

typedef float mixstage__tp_v4 __attribute__((vector_size(16)));

typedef struct mixstage__truepeak {
  int channels;
  /* coef[k][p]: tap k of phase p; bcast[k][p][0..3]: the same, repeated
   * across a vector, so the kernel multiplies straight from memory */
  mixstage__tp_v4 coef[MIXSTAGE__TP_TAPS];
  mixstage__tp_v4 bcast[MIXSTAGE__TP_TAPS][4];
  /* bound of a block's reading from its largest input: see truepeak.c */
  double reach;
  mixstage__tp_channel ch[MIXSTAGE__TP_MAX_CHANNELS];
} mixstage__truepeak;

/* channels 1 .. MIXSTAGE__TP_MAX_CHANNELS; clears the state. */
void mixstage__truepeak_init(mixstage__truepeak *tp, int channels);
void mixstage__truepeak_reset(mixstage__truepeak *tp);
/* Feeds n frames of interleaved audio (stride = channels). */
void mixstage__truepeak_add(mixstage__truepeak *tp, const float *x, long n);
/* Feeds n frames of channel c from a planar buffer. */
void mixstage__truepeak_add_channel(mixstage__truepeak *tp, int c, const float *x, long n);
/* The true peak of channel c so far (linear; never below its sample peak). */
double mixstage__truepeak_value(const mixstage__truepeak *tp, int c);

#endif
