/* A streaming sample-rate converter (resample.c): libsamplerate's
 * SRC_SINC_BEST_QUALITY at a constant ratio, fed in pieces, its state kept
 * between them.  The whole-buffer conversion of mixstage_audio_write() and
 * mixstage_audio_read() is built on it, so a file converted in pieces is the
 * file converted whole: for a constant ratio the sinc output does not depend
 * on how the input is split. */
#ifndef MIXSTAGE_RESAMPLE_H
#define MIXSTAGE_RESAMPLE_H

#include <stdint.h>

typedef struct mixstage__resampler mixstage__resampler;

/* Receives converted interleaved frames in order; a negative return (a
 * MIXSTAGE_E* code) stops the conversion and is passed on. */
typedef int (*mixstage__resampler_emit)(void *user, const float *frames, int64_t n);

/* A converter of @p channels interleaved channels at output rate / input
 * rate @p ratio.  On failure *why names the cause (static text) when known.
 * Memory: two chunks of frames and libsamplerate's state, whatever the
 * length. */
int mixstage__resampler_new(mixstage__resampler **out, int channels, double ratio, const char **why);
/* Converts @p frames more input frames.  Output is emitted as soon as it is
 * sure to be kept: at most round(input so far * ratio) frames, the length
 * the end trims to, so the few frames beyond wait until the end. */
int mixstage__resampler_push(mixstage__resampler *r, const float *in, int64_t frames,
                             mixstage__resampler_emit emit, void *user, const char **why);
/* Ends the input: drains the converter and emits exactly round(input frames
 * * ratio) frames in all (cut, or zero-padded should the converter give
 * fewer), the converted signal time-aligned with its input. */
int mixstage__resampler_finish(mixstage__resampler *r, mixstage__resampler_emit emit, void *user, const char **why);
/* Frees @p r; accepts NULL. */
void mixstage__resampler_free(mixstage__resampler *r);
/* round(@p frames * @p ratio): the converted length of @p frames frames. */
int64_t mixstage__resampled_frames(int64_t frames, double ratio);

#endif
