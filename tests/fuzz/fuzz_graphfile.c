/* libFuzzer harness for the graph-file loader.  An input that loads must
 * save to canonical JSON, reload, and save again to the very same text (a
 * fixed point); the reloaded graph must prepare and render a short stretch.
 *
 * Strips' source files resolve relative to the scratch directory, which
 * holds a few tiny WAV files under the names the seed corpus uses.  Inputs
 * whose sources could reach elsewhere (absolute paths, "..", empty path
 * components) are not run at all, so no input reads the real file system. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <mixstage.h>

#include "fuzz_common.h"

/* Frames rendered per input: enough to cross several blocks and control
 * cells, short enough to keep the fuzzer fast. */
#define RENDER_FRAMES 1500

static const char *const SOURCE_NAMES[] = {"kick.wav", "bass.wav", "keys.wav", "vox.wav",
                                           "sources/Kick.wav", "sources/Clap.wav", "sources/Hats.wav",
                                           "sources/Bass.wav", "sources/Pad.wav", "sources/Lead.wav",
                                           "stereo.wav", NULL};

static int scratch_ready(const char *dir) {
  static int done;
  if (done) return 1;
  char path[4200];
  snprintf(path, sizeof path, "%s/sources", dir);
  if (mkdir(path, 0700) != 0) return 0;
  /* 0.1 s of a decaying tone at 44.1 kHz, so that loading also converts
   * the rate of a source. */
  enum { N = 4410 };
  static float pcm[2 * N];
  for (int i = 0; i < N; i++) pcm[2 * i] = pcm[2 * i + 1] = (float)((i % 100) - 50) / 64.0f * (float)(N - i) / N;
  mixstage_write_config cfg;
  mixstage_write_config_init(&cfg);
  cfg.sample_type = MIXSTAGE_SAMPLE_PCM16;
  for (int k = 0; SOURCE_NAMES[k]; k++) {
    int stereo = strcmp(SOURCE_NAMES[k], "stereo.wav") == 0;
    snprintf(path, sizeof path, "%s/%s", dir, SOURCE_NAMES[k]);
    static float mono[N];
    for (int i = 0; i < N; i++) mono[i] = pcm[2 * i];
    if (mixstage_audio_write(path, stereo ? pcm : mono, N, stereo ? 2 : 1, 44100.0, &cfg, NULL, NULL, 0) !=
        MIXSTAGE_OK)
      return 0;
  }
  done = 1;
  return 1;
}

/* A relative path of plain names stays inside the scratch directory. */
static int path_confined(const char *p) {
  if (!*p || p[0] == '/') return 0;
  for (const char *s = p; *s;) {
    const char *e = strchr(s, '/');
    size_t n = e ? (size_t)(e - s) : strlen(s);
    if (n == 0 || (n == 1 && s[0] == '.') || (n == 2 && s[0] == '.' && s[1] == '.')) return 0;
    s += n;
    if (*s == '/') s++;
    if (e && !*s) return 0; /* trailing slash */
  }
  return 1;
}

/* 1 if every strip source in the document is null or a confined path (or
 * the text is not a document the loader would get as far as sources in). */
static int sources_confined(const char *text) {
  json_t *root = json_loads(text, JSON_REJECT_DUPLICATES, NULL);
  if (!root) return 1;
  int ok = 1;
  json_t *strips = json_object_get(root, "strips"), *s;
  size_t i;
  if (json_is_array(strips)) json_array_foreach(strips, i, s) {
      json_t *src = json_object_get(s, "source");
      if (json_is_string(src) && (strlen(json_string_value(src)) != json_string_length(src) ||
                                  !path_confined(json_string_value(src))))
        ok = 0;
    }
  json_decref(root);
  return ok;
}

static void render_short(mixstage_graph *g) {
  if (mixstage_graph_prepare(g) != MIXSTAGE_OK) abort(); /* it loaded, so it prepared once */
  mixstage_render_config rc;
  mixstage_render_config_init(&rc);
  rc.frames = RENDER_FRAMES;
  rc.max_tail_frames = 0;
  int64_t n = mixstage_graph_render_frames(g, &rc);
  if (n < 0) abort();
  if (n > 4 * RENDER_FRAMES) return; /* only latency can add frames here */
  int ch = mixstage_bus_channels(mixstage_graph_bus(g, 0));
  float *out = malloc(sizeof(float) * (size_t)(n > 0 ? n : 1) * (size_t)ch);
  if (!out) abort();
  int r = mixstage_graph_render(g, &rc, out, n);
  if (r != MIXSTAGE_OK && r != MIXSTAGE_ENUMERIC) abort();
  free(out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  const char *dir = fuzz_scratch_dir();
  if (!dir || !scratch_ready(dir)) abort();
  char *text = malloc(size + 1);
  if (!text) return 0;
  memcpy(text, data, size);
  text[size] = 0;
  if (!sources_confined(text)) {
    free(text);
    return -1; /* not added to the corpus */
  }

  char err[1024];
  int status = 0;
  mixstage_graphfile *doc = mixstage_graphfile_load_string(text, dir, NULL, err, sizeof err, &status);
  free(text);
  if (!doc) {
    if (status >= 0 || !err[0]) abort(); /* a refusal carries a status and a message */
    return 0;
  }
  char *saved = mixstage_graphfile_to_string(doc);
  if (!saved) abort();
  mixstage_graphfile *again = mixstage_graphfile_load_string(saved, dir, NULL, err, sizeof err, &status);
  if (!again) {
    fprintf(stderr, "the saved document does not reload: %s\n---\n%s\n", err, saved);
    abort();
  }
  char *resaved = mixstage_graphfile_to_string(again);
  if (!resaved) abort();
  if (strcmp(saved, resaved) != 0) {
    fprintf(stderr, "save -> load -> save is not a fixed point\n--- first\n%s\n--- second\n%s\n", saved, resaved);
    abort();
  }
  mixstage_free(saved);
  mixstage_free(resaved);
  render_short(mixstage_graphfile_graph(again));
  mixstage_graphfile_destroy(again);
  mixstage_graphfile_destroy(doc);
  return 0;
}
