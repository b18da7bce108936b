/* Streaming sample-rate conversion (resample.h). */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <samplerate.h>
#include "config.h"
#include "mixstage/common.h"
#include "resample.h"
#include "dsp/fp_mode.h"

/* Frames of output taken from libsamplerate per call; the input is given
 * in pieces of the same size. */
#define RESAMPLE_CHUNK 8192

struct mixstage__resampler {
  SRC_STATE *src;
  int ch;
  double ratio;
  int64_t fed;     /* input frames taken by the converter */
  int64_t emitted; /* output frames handed on */
  int64_t have;    /* output frames in out[] not yet handed on */
  int64_t cap;     /* out[]'s frames */
  float *out;
};

int64_t mixstage__resampled_frames(int64_t frames, double ratio) {
  return (int64_t)floor((double)frames * ratio + 0.5);
}

void mixstage__resampler_free(mixstage__resampler *r) {
  if (!r) return;
  if (r->src) src_delete(r->src);
  free(r->out);
  free(r);
}

int mixstage__resampler_new(mixstage__resampler **out, int channels, double ratio, const char **why) {
  *out = NULL;
  *why = NULL;
  if (!src_is_valid_ratio(ratio)) {
    *why = "sample-rate ratio outside 1/256 .. 256";
    return MIXSTAGE_EINVAL;
  }
  mixstage__resampler *r = calloc(1, sizeof *r);
  if (!r) return MIXSTAGE_ENOMEM;
  r->ch = channels;
  r->ratio = ratio;
  /* Output that waits for the end (beyond round(input * ratio)) lies within
   * the filter's reach of the input's last frame: a few frames, well inside
   * the second chunk. */
  r->cap = 2 * RESAMPLE_CHUNK;
  r->out = malloc(sizeof(float) * (size_t)r->cap * (size_t)channels);
  int e = 0;
  r->src = r->out ? src_new(SRC_SINC_BEST_QUALITY, channels, &e) : NULL;
  if (!r->src) {
    int st = !r->out || e == 1 /* libsamplerate SRC_ERR_MALLOC_FAILED */ ? MIXSTAGE_ENOMEM : MIXSTAGE_EINVAL;
    if (r->out) *why = src_strerror(e);
    mixstage__resampler_free(r);
    return st;
  }
  *out = r;
  return MIXSTAGE_OK;
}

/* Hands on the buffered output up to frame `upto` of the converted signal. */
static int emit_upto(mixstage__resampler *r, int64_t upto, mixstage__resampler_emit emit, void *user) {
  int64_t n = upto - r->emitted;
  if (n > r->have) n = r->have;
  if (n <= 0) return MIXSTAGE_OK;
  int rc = emit(user, r->out, n);
  if (rc < 0) return rc;
  r->emitted += n;
  r->have -= n;
  if (r->have)
    memmove(r->out, r->out + (size_t)n * (size_t)r->ch, sizeof(float) * (size_t)r->have * (size_t)r->ch);
  return MIXSTAGE_OK;
}

/* One src_process call; *used and *gen say what it did. */
static int convert(mixstage__resampler *r, const float *in, int64_t n, int end, long *used, long *gen,
                   const char **why) {
  int64_t room = r->cap - r->have;
  if (room > RESAMPLE_CHUNK) room = RESAMPLE_CHUNK;
  SRC_DATA d;
  memset(&d, 0, sizeof d);
  /* libsamplerate ignores a null input, even at the end, and refuses one
   * that overlaps the output */
  static const float nothing[1];
  d.data_in = in ? in : nothing;
  d.input_frames = (long)n;
  d.data_out = r->out + (size_t)r->have * (size_t)r->ch;
  d.output_frames = (long)room;
  d.end_of_input = end;
  d.src_ratio = r->ratio;
  /* Denormals kept: a delivery converts inside the render's block callback,
   * where the engine flushes them, and its float files must carry the bits
   * a conversion outside a render gives (a tail's quiet end is denormal). */
  mixstage__fp_mode fp = mixstage__fp_mode_set(0);
  int e = src_process(r->src, &d);
  mixstage__fp_mode_restore(fp);
  if (e != 0) {
    *why = src_strerror(e);
    return MIXSTAGE_EINVAL;
  }
  *used = d.input_frames_used;
  *gen = d.output_frames_gen;
  r->fed += d.input_frames_used;
  r->have += d.output_frames_gen;
  return MIXSTAGE_OK;
}

int mixstage__resampler_push(mixstage__resampler *r, const float *in, int64_t frames,
                             mixstage__resampler_emit emit, void *user, const char **why) {
  *why = NULL;
  int64_t pos = 0;
  while (pos < frames) {
    int64_t n = frames - pos < RESAMPLE_CHUNK ? frames - pos : RESAMPLE_CHUNK;
    long used, gen;
    int rc = convert(r, in + (size_t)pos * (size_t)r->ch, n, 0, &used, &gen, why);
    if (rc < 0) return rc;
    pos += used;
    /* Frames before round(input so far * ratio) are kept whatever follows. */
    if ((rc = emit_upto(r, mixstage__resampled_frames(r->fed, r->ratio), emit, user)) < 0) return rc;
    if (used == 0 && gen == 0) {
      /* No room for output: the converter ran further ahead of its input
       * than its filter reaches, which libsamplerate never does. */
      *why = "the converter's output ran ahead of its input";
      return MIXSTAGE_EINVAL;
    }
  }
  return MIXSTAGE_OK;
}

int mixstage__resampler_finish(mixstage__resampler *r, mixstage__resampler_emit emit, void *user, const char **why) {
  *why = NULL;
  const int64_t want = mixstage__resampled_frames(r->fed, r->ratio);
  int rc = emit_upto(r, want, emit, user);
  while (rc == MIXSTAGE_OK && r->emitted < want) {
    long used, gen;
    if ((rc = convert(r, NULL, 0, 1, &used, &gen, why)) < 0) break;
    rc = emit_upto(r, want, emit, user);
    if (gen == 0) break; /* drained */
  }
  /* Fewer than round(frames * ratio): the rest is silence. */
  if (rc == MIXSTAGE_OK && r->emitted < want) {
    r->have = 0;
    while (rc == MIXSTAGE_OK && r->emitted < want) {
      int64_t n = want - r->emitted < RESAMPLE_CHUNK ? want - r->emitted : RESAMPLE_CHUNK;
      memset(r->out, 0, sizeof(float) * (size_t)n * (size_t)r->ch);
      r->have = n;
      rc = emit_upto(r, want, emit, user);
    }
  }
  r->have = 0;
  return rc;
}
