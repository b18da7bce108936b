/* libFuzzer harness for the audio-file reader: the input is written to a
 * file in the scratch directory, then read with mixstage_audio_read() (at
 * the file's rate and converted to 48 kHz) and measured with
 * mixstage_measure_file().  Whatever the bytes, the reader must return a
 * status and, on success, a buffer of exactly the frames it reports. */
#define _POSIX_C_SOURCE 200809L
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <mixstage.h>

#include "fuzz_common.h"

/* Past this many output samples, conversions are skipped: their cost grows
 * with the claimed length, not with the fuzzed bytes. */
#define CONVERT_MAX_SAMPLES (1 << 16)

static int write_all(const char *path, const uint8_t *data, size_t size) {
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return -1;
  while (size > 0) {
    ssize_t w = write(fd, data, size);
    if (w <= 0) {
      close(fd);
      return -1;
    }
    data += w;
    size -= (size_t)w;
  }
  return close(fd);
}

/* Touches every sample, so that a buffer shorter than reported is caught
 * by the address sanitizer. */
static void check_buffer(const float *buf, int64_t frames, int channels) {
  if (!buf || frames < 0 || channels < 1) abort();
  volatile float sink = 0.0f;
  int64_t n = frames * channels;
  for (int64_t i = 0; i < n; i++) sink += buf[i];
  (void)sink;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  const char *dir = fuzz_scratch_dir();
  if (!dir) abort();
  char path[4200];
  snprintf(path, sizeof path, "%s/input.audio", dir);
  if (write_all(path, data, size) != 0) abort();

  float *buf = NULL;
  int64_t frames = -1;
  int channels = 0;
  double rate = 0.0;
  char err[256];
  int rc = mixstage_audio_read(path, 0.0, &buf, &frames, &channels, &rate, err, sizeof err);
  if (rc == MIXSTAGE_OK) {
    check_buffer(buf, frames, channels);
    mixstage_free(buf);
    buf = NULL;
    if (rate != 48000.0 && (double)frames * channels * (48000.0 / rate) < CONVERT_MAX_SAMPLES) {
      int64_t cframes = -1;
      int cch = 0;
      rc = mixstage_audio_read(path, 48000.0, &buf, &cframes, &cch, NULL, err, sizeof err);
      if (rc == MIXSTAGE_OK) {
        check_buffer(buf, cframes, cch);
        /* The documented length: round(frames * target / file rate). */
        if (cch != channels || cframes != (int64_t)llround((double)frames * 48000.0 / rate)) abort();
      }
      mixstage_free(buf);
    }
  } else if (buf) {
    abort(); /* a failed read hands back no buffer */
  } else if (!err[0]) {
    abort(); /* and says why */
  }

  mixstage_file_stats st;
  memset(&st, 0, sizeof st);
  rc = mixstage_measure_file(path, &st, err, sizeof err);
  if (rc == MIXSTAGE_OK && (st.frames < 0 || st.channels < 1)) abort();
  unlink(path);
  return 0;
}
