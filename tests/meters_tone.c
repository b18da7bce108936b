/* Writes a synthesised stereo programme to a float WAV and prints the
 * integrated loudness and the loudness range that mixstage_meter_analyse()
 * measures on it, and the loudness range of the file's own statistics
 * (mixstage_audio_write), for the independent cross-check against ffmpeg's
 * ebur128 filter (tests/meters_ffmpeg.sh).
 *   usage: meters_tone OUT.wav steps|music|fivestep RATE
 *   prints: INTEGRATED_LUFS LRA_LU FILE_LRA_LU */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mixstage.h"

#define PI 3.14159265358979323846

static uint32_t rng = 0x2545F491u;
static double noise(void) { /* xorshift32, uniform in [-1, 1) */
  rng ^= rng << 13;
  rng ^= rng >> 17;
  rng ^= rng << 5;
  return (double)rng / 2147483648.0 - 1.0;
}

int main(int argc, char **argv) {
  if (argc != 4) {
    fprintf(stderr, "usage: %s OUT.wav steps|music|fivestep RATE\n", argv[0]);
    return 2;
  }
  const double fs = atof(argv[3]);
  const int steps = strcmp(argv[2], "steps") == 0;
  const int five = strcmp(argv[2], "fivestep") == 0;
  if (!steps && !five && strcmp(argv[2], "music") != 0) return 2;
  /* steps: EBU Tech 3341 case 5 (-26/-20/-26 dBFS 1 kHz, 20/20.1/20 s),
   * exercising the relative gate.  music: 16 s of a dynamic programme -
   * a 55 Hz bass, decaying noise hits every 0.5 s, a left/right-differing
   * 440/660 Hz pad fading in and out, and a quiet break (gated out). */
  /* fivestep: a short programme of five 1 kHz steps, -72/-36/-23/-36/-72
   * dBFS for 4 s each, where the short-term blocks that straddle the steps
   * weigh in the percentiles: a meter stepping its blocks by 1 s instead of
   * 100 ms (Tech 3342-2016; libebur128 1.2.6) reads 17.77 LU, ffmpeg and
   * the Tech 3342 method 18.22. */
  const double secs = steps ? 60.1 : five ? 20.0 : 16.0;
  const int64_t n = (int64_t)llround(secs * fs);
  float *x = malloc((size_t)n * 2 * sizeof *x);
  if (!x) return 1;
  for (int64_t i = 0; i < n; i++) {
    double t = (double)i / fs, l, r;
    if (steps) {
      double db = (t >= 20.0 && t < 40.1) ? -20.0 : -26.0;
      l = r = pow(10.0, db / 20.0) * sin(2.0 * PI * 1000.0 * t);
    } else if (five) {
      static const double lv[5] = {-72.0, -36.0, -23.0, -36.0, -72.0};
      int k = (int)(t / 4.0);
      double db = lv[k < 5 ? k : 4];
      l = r = pow(10.0, db / 20.0) * sin(2.0 * PI * 1000.0 * t);
    } else {
      double beat = fmod(t, 0.5), env = exp(-beat * 18.0);
      double pad = 0.5 - 0.5 * cos(2.0 * PI * t / 8.0);
      double hit = 0.3 * env * noise();
      double bass = 0.25 * sin(2.0 * PI * 55.0 * t);
      l = bass + hit + 0.12 * pad * sin(2.0 * PI * 440.0 * t);
      r = bass + 0.8 * hit + 0.12 * pad * sin(2.0 * PI * 660.0 * t);
      if (t >= 10.0 && t < 12.0) l *= 0.01, r *= 0.01; /* a near-silent break */
    }
    x[2 * i] = (float)l;
    x[2 * i + 1] = (float)r;
  }
  mixstage_write_config wc;
  mixstage_write_config_init(&wc);
  wc.sample_type = MIXSTAGE_SAMPLE_FLOAT32;
  char err[256];
  mixstage_file_stats fst;
  int st = mixstage_audio_write(argv[1], x, n, 2, fs, &wc, &fst, err, sizeof err);
  if (st < 0) {
    fprintf(stderr, "%s\n", err);
    return 1;
  }
  mixstage_meter_config mc;
  mixstage_meter_config_init(&mc);
  mc.true_peak = 0;
  mixstage_meter_report rep;
  st = mixstage_meter_analyse(x, n, 2, fs, &mc, &rep);
  if (st < 0) {
    fprintf(stderr, "%s\n", mixstage_strerror(st));
    return 1;
  }
  printf("%.3f %.3f %.3f\n", rep.integrated_lufs, rep.loudness_range_lu, fst.loudness_range_lu);
  mixstage_meter_report_clear(&rep);
  free(x);
  return 0;
}
