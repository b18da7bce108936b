/* Gain-trace test harness: see trace_util.h. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "testutil.h"
#include "trace_util.h"

#define FS 48000.0



/* Program material: alternating drum-like bursts every 100 ms (a kick, a
 * pitch-swept decaying sine, and a noise snare) over a steady tone.  Odd
 * channels are shifted by 1700 frames, their bursts are 8 dB quieter and
 * their tone higher, so an unlinked node gives each channel its own gain. */
void tr_program(float *const *x, int nch, int64_t n, uint32_t seed) {
  float *nz = calloc((size_t)n, sizeof(float));
  ck_assert_ptr_nonnull(nz);
  for (int c = 0; c < nch; c++) {
    tu_noise(nz, n, 1.0, seed + (uint32_t)c);
    for (int64_t i = 0; i < n; i++) {
      int64_t j = i + 1700 * c, ph = j % 4800;
      double t = (double)ph / FS, s = 0.12 * sin(2.0 * TU_PI * 220.0 * (1.0 + 0.5 * c) * i / FS);
      double lev = (c & 1) ? 0.4 : 1.0;
      if ((j / 4800) % 2 == 0)
        s += lev * 0.8 * sin(2.0 * TU_PI * (50.0 * t + 2.0 * (1.0 - exp(-30.0 * t)))) *
             exp(-12.0 * t);
      else
        s += lev * 0.7 * nz[i] * exp(-25.0 * t);
      x[c][i] = (float)s;
    }
  }
  free(nz);
}

/* Processes y[.][from .. to) in place in pseudo-random pieces of 1..45
 * frames (the trace must not depend on the split), collecting the trace into
 * g[.][from .. to).  Returns 1 if every piece was traced. */
int tr_run(mixstage__node_host *h, float *const *y, float *const *g, int nch, int64_t from,
                  int64_t to, const float *const *key, int key_nch) {
  uint32_t s = 777u + (uint32_t)from;
  int ok = 1;
  float *yv[MIXSTAGE_MAX_CHANNELS], *gv[MIXSTAGE_MAX_CHANNELS];
  const float *kv_[MIXSTAGE_MAX_CHANNELS];
  for (int64_t done = from; done < to;) {
    s ^= s << 13; s ^= s >> 17; s ^= s << 5;
    int64_t m = 1 + (int64_t)(s % 45u);
    if (m > to - done) m = to - done;
    for (int c = 0; c < nch; c++) {
      yv[c] = y[c] + done;
      gv[c] = g[c] + done;
    }
    for (int c = 0; key && c < key_nch; c++) kv_[c] = key[c] + done;
    ok &= mixstage__host_process_traced(h, yv, m, key ? kv_ : NULL, key ? key_nch : 0, gv);
    done += m;
  }
  return ok;
}

/* Asserts y[c][i] == g[c][i] x[c][i - lat] within the tolerance over
 * [from, to); returns the largest relative error seen (where |ref| > 1e-9)
 * and counts bit-exact samples (float product == output) in *exact. */
double tr_check(const char *what, float *const *y, float *const *g, float *const *x,
                       int nch, int64_t from, int64_t to, int lat, int64_t *exact) {
  double worst = 0.0;
  int64_t bad = 0, ex = 0, first_bad = -1;
  for (int c = 0; c < nch; c++)
    for (int64_t i = from; i < to; i++) {
      float xi = i >= lat ? x[c][i - lat] : 0.0f;
      double ref = (double)g[c][i] * (double)xi;
      double e = fabs((double)y[c][i] - ref);
      if (e > TR_TOL_REL * fabs(ref) + TR_TOL_ABS) {
        if (first_bad < 0) first_bad = i;
        bad++;
      }
      if (fabs(ref) > TR_TOL_ABS && e / fabs(ref) > worst) worst = e / fabs(ref);
      if (g[c][i] * xi == y[c][i]) ex++;
    }
  ck_assert_msg(bad == 0, "%s: %lld samples off the trace (first at frame %lld)", what,
                (long long)bad, (long long)first_bad);
  if (exact) *exact = ex;
  return worst;
}

/* The sum test: a and b processed together; the trace applied to each part
 * alone must add up to the output.  Returns the largest error relative to
 * |g a| + |g b|. */
double tr_check_sum(const char *what, float *const *y, float *const *g, float *const *a,
                           float *const *b, int nch, int64_t n, int lat) {
  double worst = 0.0;
  int64_t bad = 0;
  for (int c = 0; c < nch; c++)
    for (int64_t i = lat; i < n; i++) {
      float ya = g[c][i] * a[c][i - lat], yb = g[c][i] * b[c][i - lat]; /* a stem renderer's products */
      double scale = fabs((double)ya) + fabs((double)yb);
      double e = fabs(((double)ya + (double)yb) - (double)y[c][i]);
      if (e > TR_TOL_REL * scale + TR_TOL_ABS) bad++;
      if (scale > TR_TOL_ABS && e / scale > worst) worst = e / scale;
    }
  ck_assert_msg(bad == 0, "%s: stems do not add up at %lld samples", what, (long long)bad);
  return worst;
}

/* Range of the trace, dB: the test must actually exercise heavy gain change. */
void tr_range_db(float *const *g, int nch, int64_t from, int64_t to, double *lo,
                        double *hi) {
  double mn = 1e30, mx = 0.0;
  for (int c = 0; c < nch; c++)
    for (int64_t i = from; i < to; i++) {
      if (g[c][i] < mn) mn = g[c][i];
      if (g[c][i] > mx) mx = g[c][i];
    }
  *lo = tu_db(mn);
  *hi = tu_db(mx);
}

/* Largest difference between channel 0's and channel 1's trace, dB. */
double tr_chan_diff_db(float *const *g, int64_t from, int64_t to) {
  double m = 0.0;
  for (int64_t i = from; i < to; i++) {
    double d = fabs(tu_db(g[0][i]) - tu_db(g[1][i]));
    if (d > m) m = d;
  }
  return m;
}

float **tr_alloc(int nch, int64_t n) {
  float **x = calloc((size_t)nch, sizeof *x);
  ck_assert_ptr_nonnull(x);
  for (int c = 0; c < nch; c++) {
    x[c] = calloc((size_t)n, sizeof(float));
    ck_assert_ptr_nonnull(x[c]);
  }
  return x;
}

void tr_release(float **x, int nch) {
  for (int c = 0; c < nch; c++) free(x[c]);
  free(x);
}

/* One full trace test of a node: program material through a fresh host
 * (params as name/value pairs, NULL-terminated; at frame `at` the parameter
 * `auto_name` moves to `auto_value`, so a ramp is traced too), identity and
 * sum checks.  Fills lo/hi (trace range, dB) and returns the channel
 * difference of the trace in dB. */

void tr_set(mixstage__node_host *h, const char *name, double v) {
  int rc = mixstage__host_set(h, name, v);
  ck_assert_msg(rc == MIXSTAGE_OK, "set %s=%g failed: %d", name, v, rc);
}

float *tr_fbuf(int64_t n) {
  float *p = calloc((size_t)n, sizeof(float));
  ck_assert_ptr_nonnull(p);
  return p;
}

mixstage__node_host *tr_host(const char *type, int nch, const tr_param *p) {
  int err = -1;
  mixstage__node_host *h = mixstage__host_create(type, nch, FS, 120.0, &err);
  ck_assert_msg(h != NULL && err == MIXSTAGE_OK, "create %s: %d", type, err);
  for (; p && p->name; p++)
    ck_assert_msg(mixstage__host_set(h, p->name, p->value) == MIXSTAGE_OK, "set %s", p->name);
  return h;
}

double tr_node(const char *type, const tr_param *p, const char *auto_name,
                      double auto_value, double *lo, double *hi) {
  const int nch = 2;
  const int64_t n = 19200, at = 9600 + 7; /* 0.4 s; the move lands mid-cell */
  float **x = tr_alloc(nch, n), **y = tr_alloc(nch, n), **g = tr_alloc(nch, n);
  tr_program(x, nch, n, 101);
  for (int c = 0; c < nch; c++) memcpy(y[c], x[c], (size_t)n * sizeof(float));
  mixstage__node_host *h = tr_host(type, nch, p);
  int ok = tr_run(h, y, g, nch, 0, at, NULL, 0);
  if (auto_name) ck_assert(mixstage__host_set(h, auto_name, auto_value) == MIXSTAGE_OK);
  ok &= tr_run(h, y, g, nch, at, n, NULL, 0);
  int lat = mixstage__host_latency(h);
  mixstage__host_destroy(h);
  ck_assert_msg(ok == 1, "%s: gain_trace refused", type);
  int64_t exact;
  double e = tr_check(type, y, g, x, nch, 0, n, lat, &exact);
  tr_range_db(g, nch, lat, n, lo, hi);
  double cd = tr_chan_diff_db(g, lat, n);
  printf("%s trace: latency %d, gain %.1f .. %.1f dB, channels differ by up to %.1f dB; "
         "largest error relative to the exact product %.3g, bit-exact %lld of %lld samples\n",
         type, lat, *lo, *hi, cd, e, (long long)exact, (long long)(nch * n));

  /* sum: a (the program) and b (other bursts and a tone) through one node */
  float **a = x, **b = tr_alloc(nch, n), **t = tr_alloc(nch, n);
  tr_program(t, nch, n, 202);
  for (int c = 0; c < nch; c++)
    for (int64_t i = 0; i < n; i++) {
      /* time-reversed bursts (slow attacks, sharp ends) and a 1234.5 Hz tone */
      b[c][i] = 0.5f * t[c][n - 1 - i] + 0.1f * (float)sin(2.0 * TU_PI * 1234.5 * i / FS + c);
      y[c][i] = a[c][i] + b[c][i];
    }
  tr_release(t, nch);
  h = tr_host(type, nch, p);
  ok = tr_run(h, y, g, nch, 0, at, NULL, 0);
  if (auto_name) ck_assert(mixstage__host_set(h, auto_name, auto_value) == MIXSTAGE_OK);
  ok &= tr_run(h, y, g, nch, at, n, NULL, 0);
  mixstage__host_destroy(h);
  ck_assert(ok == 1);
  double es = tr_check_sum(type, y, g, a, b, nch, n, lat);
  printf("%s trace: stems a, b through the node processing a + b add up within %.3g "
         "(relative to |g a| + |g b|)\n", type, es);
  tr_release(b, nch);
  tr_release(x, nch);
  tr_release(y, nch);
  tr_release(g, nch);
  return cd;
}

