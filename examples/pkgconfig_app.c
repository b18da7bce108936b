/* A program built against the INSTALLED libmixstage, the way a user builds
 * one:
 *
 *     cc app.c $(pkg-config --cflags --libs mixstage) -lm -o app
 *
 * (-lm for the measurements in main(); the library itself needs nothing
 * beyond what pkg-config prints.)
 *
 * render_mix() is the example shown in README.md, verbatim: two strips, an
 * EQ, and a compressor on the bass keyed by the kick, rendered to memory.
 * main() makes the sources and checks the result: the render is finite and
 * not silent, and the bass really ducks under each kick.  Exit status 0 on
 * success.  scripts/test.sh builds and runs it.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include <mixstage.h>

/* example: begin */
/* Every call returns MIXSTAGE_OK (0) or a negative status.  A failed create
 * returns NULL, and calls on a NULL handle fail too, so checking the calls
 * that return a status catches everything; the graph's last error names the
 * object at fault. */
#define TRY(call)                                                            \
  do {                                                                       \
    int rc_ = (call);                                                        \
    if (rc_ < 0) {                                                           \
      fprintf(stderr, "%s: %s\n  %s\n", #call, mixstage_strerror(rc_),       \
              mixstage_graph_last_error(g));                                 \
      goto fail;                                                             \
    }                                                                        \
  } while (0)

/* Mixes a mono kick and a mono bass (48 kHz, len frames each) and returns
 * the stereo mix, interleaved, *frames long (free() it); NULL on error. */
static float *render_mix(const float *kick_pcm, const float *bass_pcm, int64_t len,
                         int64_t *frames) {
  mixstage_graph_config cfg;
  mixstage_graph_config_init(&cfg); /* 48 kHz, stereo mix bus */
  int err;
  float *mix = NULL;
  mixstage_graph *g = mixstage_graph_create(&cfg, &err);
  if (!g) return NULL;

  mixstage_strip *kick = mixstage_graph_add_strip(g, "Kick", 1, &err);
  mixstage_strip *bass = mixstage_graph_add_strip(g, "Bass", 1, &err);
  TRY(mixstage_strip_set_source_buffer(kick, kick_pcm, 1, len, 1)); /* 1: copy */
  TRY(mixstage_strip_set_source_buffer(bass, bass_pcm, 1, len, 1));
  /* Panned apart only so that main() can measure the bass on its own. */
  TRY(mixstage_strip_set_pan(kick, -1.0));
  TRY(mixstage_strip_set_pan(bass, +1.0));

  /* EQ on the bass: high-pass the rumble, take some mud out at 250 Hz. */
  mixstage_node *eq = mixstage_strip_insert(bass, "eq", MIXSTAGE_ROLE_STRIP, -1, &err);
  TRY(mixstage_node_set_param_by_name(eq, "band1_type", 1)); /* highpass */
  TRY(mixstage_node_set_param_by_name(eq, "band1_freq", 30.0));
  TRY(mixstage_node_set_param_by_name(eq, "band3_type", 5)); /* bell */
  TRY(mixstage_node_set_param_by_name(eq, "band3_freq", 250.0));
  TRY(mixstage_node_set_param_by_name(eq, "band3_gain", -3.0));

  /* A compressor on the bass that listens to the kick: the bass ducks
   * under every hit, so the two stop fighting for the low end. */
  mixstage_node *duck = mixstage_strip_insert(bass, "compressor", MIXSTAGE_ROLE_STRIP, -1, &err);
  TRY(mixstage_node_set_param_by_name(duck, "threshold", -30.0)); /* dB */
  TRY(mixstage_node_set_param_by_name(duck, "ratio", 8.0));
  TRY(mixstage_node_set_param_by_name(duck, "attack", 1.0));   /* ms */
  TRY(mixstage_node_set_param_by_name(duck, "release", 60.0)); /* ms */
  TRY(mixstage_node_set_sidechain_strip(duck, kick, MIXSTAGE_TAP_PRE_FADER));

  /* Length of the sources plus the effects' tails; then render it all. */
  int64_t n = mixstage_graph_render_frames(g, NULL);
  TRY(n < 0 ? (int)n : MIXSTAGE_OK);
  mix = malloc(sizeof(float) * 2 * (size_t)n);
  TRY(mix ? MIXSTAGE_OK : MIXSTAGE_ENOMEM);
  TRY(mixstage_graph_render(g, NULL, mix, n));
  *frames = n;
  mixstage_graph_destroy(g); /* frees the strips and nodes too */
  return mix;
fail:
  free(mix);
  mixstage_graph_destroy(g);
  return NULL;
}
/* example: end */

#define RATE 48000
#define BEAT (RATE / 2) /* 120 BPM */
#define BEATS 4
static const double two_pi = 6.283185307179586;

/* RMS in dBFS of channel ch of an interleaved stereo buffer, frames [a, b). */
static double rms_db(const float *x, int ch, int64_t a, int64_t b) {
  double s = 0.0;
  for (int64_t i = a; i < b; i++) s += (double)x[2 * i + ch] * x[2 * i + ch];
  return 10.0 * log10(s / (double)(b - a) + 1e-30);
}

int main(void) {
  const int64_t len = (int64_t)BEATS * BEAT;
  float *kick = malloc(sizeof(float) * (size_t)len);
  float *bass = malloc(sizeof(float) * (size_t)len);
  if (!kick || !bass) return 1;
  /* Kick: a pitch drop from 150 to 50 Hz decaying at 217 dB/s (tau 40 ms),
   * peak -1 dBFS, on every beat.  Bass: a steady 110 Hz note with its
   * octave, peaks near -12 dBFS (gain-staged as the stem rules advise). */
  double phase = 0.0;
  for (int64_t i = 0; i < len; i++) {
    double t = (double)(i % BEAT) / RATE;
    if (i % BEAT == 0) phase = 0.0;
    phase += two_pi * (50.0 + 100.0 * exp(-t / 0.03)) / RATE;
    kick[i] = (float)(0.89 * exp(-t / 0.04) * sin(phase));
    double tb = (double)i / RATE;
    bass[i] = (float)(0.19 * sin(two_pi * 110.0 * tb) + 0.06 * sin(two_pi * 220.0 * tb));
  }

  int64_t frames = 0;
  float *mix = render_mix(kick, bass, len, &frames);
  free(kick);
  free(bass);
  if (!mix) return 1;

  int ok = 1;
  double peak = 0.0;
  for (int64_t i = 0; i < 2 * frames; i++) {
    if (!isfinite(mix[i])) ok = 0;
    if (fabs(mix[i]) > peak) peak = fabs(mix[i]);
  }
  /* The bass (right channel) 10..50 ms after each kick, against the same
   * bass 400..480 ms after it, when a 60 ms release has long recovered.
   * The kick stays over the -30 dB threshold by 20 dB and more in the first
   * window, so an 8:1 ratio must take well over 6 dB off there; 6 dB is a
   * floor any working sidechain clears, and a dead one (0 dB) cannot. */
  double ducked = 0.0, open = 0.0;
  for (int b = 0; b < BEATS; b++) {
    int64_t on = (int64_t)b * BEAT;
    ducked += rms_db(mix, 1, on + RATE / 100, on + RATE / 20) / BEATS;
    open += rms_db(mix, 1, on + RATE * 400 / 1000, on + RATE * 480 / 1000) / BEATS;
  }
  double depth = open - ducked;
  printf("libmixstage %s: rendered %lld frames (%.2f s) of stereo, peak %.1f dBFS\n",
         mixstage_version_string(), (long long)frames, (double)frames / RATE,
         20.0 * log10(peak + 1e-30));
  printf("bass: %.1f dBFS RMS between kicks, %.1f dBFS under them: ducked by %.1f dB\n", open,
         ducked, depth);
  if (!ok) fprintf(stderr, "FAIL: the mix contains NaN or infinity\n");
  if (frames < len) fprintf(stderr, "FAIL: the render is shorter than the sources\n"), ok = 0;
  if (peak < 0.1) fprintf(stderr, "FAIL: the mix is (nearly) silent\n"), ok = 0;
  if (!(depth >= 6.0)) fprintf(stderr, "FAIL: the sidechain should duck the bass by >= 6 dB\n"), ok = 0;
  free(mix);
  return ok ? 0 : 1;
}
