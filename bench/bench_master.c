/* CPU of the loudness-targeted master against a production render, on the
 * demo song (lib/demo.c).
 *
 * Measured per run, in process CPU seconds (CLOCK_PROCESS_CPUTIME_ID; one
 * render thread, so CPU equals the work done):
 *   bounce       mixstage_graph_bounce(production): the render alone;
 *   production   mixstage_graph_deliver(production) into a scratch folder:
 *                one render and one file (mix.wav) with its manifest;
 *   master       mixstage_graph_master() to the streaming target
 *                (-14 LUFS, -1 dBTP), the graph reset to its hand-set
 *                mastering limiter before every run so each run searches
 *                from the same start;
 *   final        a final delivery mastered to the target: the master, then
 *                its audio written as mix.wav (mixstage_audio_write, 24-bit
 *                WAV with dither, what a delivery writes), i.e. what a
 *                delivery that takes the master's output writes;
 *   final+render the delivery as `mixstage render --master` does it today:
 *                the master, then mixstage_graph_deliver(final), which
 *                renders the graph once more.
 * Each figure is the median of RUNS runs (first run discarded as warm-up).
 *
 * usage: bench_master [runs] [scratch-dir]   (default 5, $TMPDIR or /tmp) */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "mixstage.h"

static double cpu_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int cmp(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

static double median(double *v, int n) {
  qsort(v, (size_t)n, sizeof *v, cmp);
  return n ? v[n / 2] : 0.0;
}

static void check(int rc, mixstage_graph *g, const char *what) {
  if (rc < 0) {
    fprintf(stderr, "bench_master: %s: %s: %s\n", what, mixstage_strerror(rc), mixstage_graph_last_error(g));
    exit(1);
  }
}

/* The demo's mastering limiter as lib/demo.c sets it, fader at 0 dB. */
static void reset_master(mixstage_graph *g) {
  mixstage_bus *mix = mixstage_graph_mix_bus(g);
  mixstage_node *lim = mixstage_bus_node(mix, mixstage_bus_node_count(mix) - 1);
  check(mixstage_node_set_param_by_name(lim, "input_gain", 6.0), g, "input_gain");
  check(mixstage_node_set_param_by_name(lim, "ceiling", -1.0), g, "ceiling");
  check(mixstage_bus_set_fader_db(mix, 0.0), g, "fader");
}

int main(int argc, char **argv) {
  int runs = argc > 1 ? atoi(argv[1]) : 5;
  const char *tmp = argc > 2 ? argv[2] : getenv("TMPDIR");
  if (!tmp || !*tmp) tmp = "/tmp";
  if (runs < 1) runs = 1;
  char dir[4096], path[4200];
  snprintf(dir, sizeof dir, "%s/bench_master.%ld", tmp, (long)time(NULL));
  int err = 0;
  mixstage_graph *g = mixstage_demo_song_create(0, &err);
  if (!g) {
    fprintf(stderr, "bench_master: demo song: %s\n", mixstage_strerror(err));
    return 1;
  }
  mixstage_deliver_config dc;
  mixstage_deliver_config_init(&dc);
  mixstage_master_config mc;
  mixstage_master_config_init(&mc);
  double *tp = calloc((size_t)runs, sizeof *tp), *tm = calloc((size_t)runs, sizeof *tm);
  double *tf = calloc((size_t)runs, sizeof *tf), *tr = calloc((size_t)runs, sizeof *tr);
  double *tb = calloc((size_t)runs, sizeof *tb);
  int iterations = 0;
  double lufs = 0.0, dbtp = 0.0;
  for (int r = -1; r < runs; r++) {
    double tb0 = cpu_s();
    mixstage_bounce *b = mixstage_graph_bounce(g, mixstage_profile_find("production"), &dc.render, &err);
    if (!b) check(err, g, "bounce");
    mixstage_bounce_destroy(b);
    if (r >= 0) tb[r] = cpu_s() - tb0;
    double t0 = cpu_s();
    check(mixstage_graph_deliver(g, mixstage_profile_find("production"), dir, &dc), g, "production");
    double t1 = cpu_s();
    reset_master(g);
    mixstage_master_report rep;
    check(mixstage_graph_master(g, &mc, &dc.render, &rep, NULL), g, "master");
    double t2 = cpu_s();
    reset_master(g);
    float *audio = NULL;
    check(mixstage_graph_master(g, &mc, &dc.render, &rep, &audio), g, "master");
    mixstage_file_stats st;
    char msg[512];
    snprintf(path, sizeof path, "%s/mix.wav", dir);
    check(mixstage_audio_write(path, audio, rep.frames, 2, mixstage_graph_sample_rate(g), &dc.write, &st, msg,
                               sizeof msg),
          g, msg);
    mixstage_free(audio);
    double t3 = cpu_s();
    reset_master(g);
    check(mixstage_graph_master(g, &mc, &dc.render, &rep, NULL), g, "master");
    check(mixstage_graph_deliver(g, mixstage_profile_find("final"), dir, &dc), g, "final");
    double t4 = cpu_s();
    if (r >= 0) {
      tp[r] = t1 - t0;
      tm[r] = t2 - t1;
      tf[r] = t3 - t2;
      tr[r] = t4 - t3;
    }
    iterations = rep.iteration_count;
    lufs = rep.integrated_lufs;
    dbtp = rep.true_peak_dbtp;
  }
  double song = mixstage_demo_song_seconds();
  double pb = median(tb, runs);
  double p = median(tp, runs), m = median(tm, runs), f = median(tf, runs), fr = median(tr, runs);
  printf("demo song (%.0f s of music), median of %d runs, CPU seconds:\n", song, runs);
  printf("  production delivery        %6.3f s  (%.3f s per second of music)\n", p, p / song);
  printf("  production render (bounce) %6.3f s\n", pb);
  printf("  master (%d passes)          %6.3f s  %.2fx production  (%.2f LUFS, %.2f dBTP)\n", iterations, m,
         m / p, lufs, dbtp);
  printf("  final: master + write      %6.3f s  %.2fx production\n", f, f / p);
  printf("  final: master + deliver    %6.3f s  %.2fx production\n", fr, fr / p);
  /* Leave nothing behind in the scratch folder. */
  snprintf(path, sizeof path, "%s/mix.wav", dir);
  remove(path);
  snprintf(path, sizeof path, "%s/manifest.json", dir);
  remove(path);
  remove(dir);
  mixstage_graph_destroy(g);
  free(tp);
  free(tm);
  free(tf);
  free(tr);
  free(tb);
  return 0;
}
