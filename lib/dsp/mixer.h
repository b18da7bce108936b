/* libmixstage internal: the mixer's own sample loops, outside the inserts:
 * constant gains, de-interleaving a source with its clip gain, a stereo
 * unit's gain stage (width, balance, fader, mute, post-fader sends) and the
 * sums of a bus's inputs.
 *
 * Every form of a kernel does, per sample, the same IEEE single-precision
 * operations in the same order as its plain scalar form (the build forbids
 * fused multiply-adds), so their bits agree: a render does not depend on
 * the instruction set chosen (lib/dsp/cpu.h), nor on how the frames fall
 * into vectors.  A multiply by a gain is never left out when the gain is 1,
 * nor are two gains folded into one (that would move the rounding).
 *
 * Forms: 0 plain scalar, 1 four-lane vectors (SSE2 on x86-64, the compiler's
 * generic vectors elsewhere), 2 eight-lane AVX.  mixstage__mixer_best() gives
 * the best one the CPU (and MIXSTAGE_CPU) allows; tests ask for each form.
 * All are render-time safe: no allocation, no state.
 */
#ifndef MIXSTAGE_DSP_MIXER_H
#define MIXSTAGE_DSP_MIXER_H

/* Post-fader sends a stereo gain stage writes in its one pass. */
#define MIXSTAGE__MIX_SENDS 2

/* A stereo unit's gain stage with constant gains, over n frames:
 *     mid = 0.5 (a + b),  side = (0.5 (a - b)) width
 *     l = ((mid + side) gl) fader,  r = ((mid - side) gr) fader
 *     post = (l, r),  out = (l mute, r mute)  (out = post when mute is 1)
 *     send k = (l sg[k], r sg[k])
 * for a, b the chain's output.  pre (the pre-fader copy of a, b) and post
 * are written only when not NULL; buffers do not overlap. */
typedef struct mixstage__mix_stereo {
  const float *xl, *xr;
  float *pre_l, *pre_r;   /* or NULL */
  float *post_l, *post_r; /* or NULL when nothing reads the post-fader tap */
  float *out_l, *out_r;
  float fader, gl, gr, width, mute;
  int sends; /* 0 .. MIXSTAGE__MIX_SENDS */
  float *send_l[MIXSTAGE__MIX_SENDS], *send_r[MIXSTAGE__MIX_SENDS];
  float send_g[MIXSTAGE__MIX_SENDS];
} mixstage__mix_stereo;


/* One variant of the stereo pass (stereo_for). */
typedef int mixstage__stereo_fn(const mixstage__mix_stereo *s, int n);

typedef struct mixstage__mixer {
  int form;
  /* y[i] = x[i] g (y may be x) */
  void (*scale)(float *y, const float *x, float g, int n);
  /* acc[i] += x[i] */
  void (*add)(float *acc, const float *x, int n);
  /* Interleaved stereo d to planar l, r: times g when scaled, else copied. */
  void (*deinterleave2)(const float *d, float *l, float *r, int n, float g, int scaled);
  /* acc[i] = (((acc[i] or +0 when from_zero) + x[0][i]) + x[1][i]) + ...
   * + x[count-1][i]: one pass per input would give the same bits. */
  void (*sum)(float *acc, const float *const *x, int count, int n, int from_zero);
  /* Returns 0 when every a, b it read is finite, 1 when a sum of them is
   * not (then some may be NaN or infinite, or finite ones summed past the
   * float range: the caller looks at the bits): the engine's fault check
   * riding on the pass, which computes a + b anyway. */
  int (*stereo)(const mixstage__mix_stereo *s, int n);
  /* The variant stereo() runs for s's pre, post, mute (1 or not) and send
   * count: the same bits, without choosing again (a caller whose stereo
   * unit rests keeps it). */
  mixstage__stereo_fn *(*stereo_for)(const mixstage__mix_stereo *s);
} mixstage__mixer;

/* The best form here (cheap: one relaxed load). */
const mixstage__mixer *mixstage__mixer_best(void);

/* Form 0, 1 or 2, or NULL when this CPU (or build) lacks it. */
const mixstage__mixer *mixstage__mixer_form(int form);

#endif
