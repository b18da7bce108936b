/* Peak memory of playing one long file, streamed or preloaded (the whole-
 * file path set_source_file took before streaming): prints the process's
 * maximum resident set size after the render.
 *
 *   source_memory --make FILE SECONDS RATE   writes a stereo 16-bit WAV
 *   source_memory FILE stream|preload render|process
 *
 * "render" is mixstage_graph_render() into a buffer (which itself holds the
 * whole output); "process" is a freewheeling block loop that keeps nothing. */
#define _GNU_SOURCE
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include "mixstage.h"

static int make(const char *path, double seconds, double rate) {
  int64_t n = (int64_t)(seconds * rate);
  float *x = malloc(sizeof(float) * 2 * (size_t)n);
  if (!x) return 1;
  for (int64_t i = 0; i < n; i++) {
    x[2 * i] = (float)(0.3 * sin(2 * M_PI * 440.0 * (double)i / rate));
    x[2 * i + 1] = (float)(0.3 * sin(2 * M_PI * 554.37 * (double)i / rate));
  }
  mixstage_write_config wc;
  mixstage_write_config_init(&wc);
  wc.sample_type = MIXSTAGE_SAMPLE_PCM16;
  char err[512];
  int rc = mixstage_audio_write(path, x, n, 2, rate, &wc, NULL, err, sizeof err);
  free(x);
  if (rc) fprintf(stderr, "%s\n", err);
  return rc != 0;
}

int main(int argc, char **argv) {
  if (argc == 5 && !strcmp(argv[1], "--make")) return make(argv[2], atof(argv[3]), atof(argv[4]));
  if (argc != 4) {
    fprintf(stderr, "usage: %s FILE stream|preload render|process\n", argv[0]);
    return 2;
  }
  int mode = !strcmp(argv[2], "preload") ? MIXSTAGE_SOURCE_PRELOAD : MIXSTAGE_SOURCE_STREAM;
  int err;
  mixstage_graph *g = mixstage_graph_create(NULL, &err);
  mixstage_strip *s = mixstage_graph_add_strip(g, "Long", 2, &err);
  if (mixstage_strip_set_source_file_mode(s, argv[1], mode)) {
    fprintf(stderr, "%s\n", mixstage_graph_last_error(g));
    return 1;
  }
  int64_t frames = mixstage_strip_source_frames(s);
  int rc;
  if (!strcmp(argv[3], "render")) {
    mixstage_render_config rcfg;
    mixstage_render_config_init(&rcfg);
    int64_t n = mixstage_graph_render_frames(g, &rcfg);
    float *out = malloc(sizeof(float) * 2 * (size_t)n);
    rc = out ? mixstage_graph_render(g, &rcfg, out, n) : MIXSTAGE_ENOMEM;
    free(out);
  } else {
    mixstage_graph_set_freewheel(g, 1);
    rc = mixstage_graph_prepare(g);
    static float out[1024 * 2];
    for (int64_t pos = 0; rc == MIXSTAGE_OK && pos < frames; pos += 1024)
      rc = mixstage_graph_process(g, out, frames - pos < 1024 ? (int)(frames - pos) : 1024);
  }
  if (rc) fprintf(stderr, "%s\n", mixstage_graph_last_error(g));
  mixstage_graph_destroy(g);
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  printf("%s %s %s: %lld frames, max RSS %.1f MiB\n", argv[1], argv[2], argv[3], (long long)frames,
         ru.ru_maxrss / 1024.0);
  return rc != 0;
}
