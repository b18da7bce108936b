/* Check suite for the fast paths of the DSP kernels: each one must either
 * give exactly the bits of the plain computation it replaces, or stay
 * within its stated error.
 *
 *  - inline log2 / exp2 (lib/dsp/dynamics.h) against libm over their domain;
 *  - compressor: the float kernel's level and gain against libm, its forms
 *    (scalar, baseline vectors, AVX2) against each other bit for bit, the
 *    skip below the curve against the curve; why the ballistics stay
 *    double; lane groups of 1..9 against a plain double compressor;
 *  - eq: flat bands (0 dB bells and shelves) left out of the processing list,
 *    and the stereo path: node output == a plain per-channel biquad cascade
 *    (all designed sections ticked every sample), bit for bit, including a
 *    band set flat mid-stream while it still rings;
 *  - oversampler: its memory is MIXSTAGE_OS_MEMORY_FRAMES frames (what the
 *    bus compressor relies on to pause it while tape is off);
 *  - limiter: with true peak off the 4x detector does not run; switched on
 *    mid-stream it is rebuilt from the delay line, so the output equals that
 *    of a limiter which ran true-peak detection all along; its at-rest
 *    shortcut equals the per-frame path.
 */
#include <check.h>
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "node.h"
#include "dsp/biquad.h"
#include "dsp/dynamics.h"
#include "dsp/svf.h"
#include "internal.h"
#include "dsp/colour_curve.h"
#include "dsp/oversample.h"
#include "dsp/truepeak.h"
#include "testutil.h"
#include "trace_util.h"

#define FS 48000.0

/* The node-host helpers of trace_util (48 kHz, 120 BPM). */
#define mk(type, nch) tr_host((type), (nch), NULL)
#define setp tr_set
#define fbuf tr_fbuf

/* ---- fast log2 / exp2 --------------------------------------------------- */

/* The header states |log2 error| < 4e-11 and exp2 relative error < 2e-11;
 * the sweeps step by 1e-5 in log2 (log2) and by ~7e-5 (exp2) across the
 * whole domain the callers use, so a defect in any part of the mantissa or
 * exponent handling shows. */
START_TEST(test_fast_log2_exp2) {
  double worst_l = 0.0, worst_e = 0.0;
  for (double x = 1e-60; x < 1e12; x *= 1.0000069314) {
    double e = fabs(mixstage__log2_fast(x) - log2(x));
    if (e > worst_l) worst_l = e;
  }
  for (double x = -1021.9; x <= 0.0; x += 7.31e-5) {
    double r = exp2(x);
    double e = fabs(mixstage__exp2_fast(x) - r) / r;
    if (e > worst_e) worst_e = e;
  }
  ck_assert_msg(worst_l < 4e-11, "log2 error %.3g", worst_l);
  ck_assert_msg(worst_e < 2e-11, "exp2 relative error %.3g", worst_e);
  /* exact anchors the callers rely on */
  ck_assert(mixstage__dyn_gr_to_gain(0.0) == 1.0);
  ck_assert(mixstage__exp2_fast(-2000.0) == 0.0);
  ck_assert(mixstage__dyn_power_to_db(0.0) == -600.0);
  /* dB conversions against libm: 1.2e-10 dB and 2.4e-10 dB as stated */
  for (double db = -120.0; db <= 24.0; db += 0.37) {
    double p = pow(10.0, db / 10.0);
    ck_assert_msg(fabs(mixstage__dyn_power_to_db(p) - db) < 1.2e-10, "power %g dB", db);
    double a = pow(10.0, db / 20.0);
    ck_assert_msg(fabs(mixstage__dyn_amp_to_db(a) - db) < 2.4e-10, "amp %g dB", db);
    if (db <= 0.0) {
      double g = mixstage__dyn_gr_to_gain(-db);
      ck_assert_msg(fabs(20.0 * log10(g) - db) < 2e-10, "gain %g dB", db);
    }
  }
}
END_TEST

/* ---- compressor: the float kernel's conversions ------------------------- */

static uint32_t xs32(uint32_t *s); /* with the dynamics kernel tests below */

/* The float level in dB and the float gain against libm in double, the
 * kernel's three forms (scalar, baseline vectors, AVX2) against each other
 * bit for bit, and the skip below p_zero against the full curve.
 *
 * Bounds (dynamics.h): level |error| < 1e-5 dB from -80 to +40 dB, where a
 * compressor's curve acts (float rounding of the exponent sum: half an ulp
 * of 32 in log2 is 9.5e-7 x 3.01 dB; of the dB scale: half an ulp of 128
 * dB, 3.8e-6; the series 1.3e-7 dB), < 4e-5 dB from -300 to +300 dB (the
 * same roundings at 128 in log2 and 512 dB).  Gain relative error < 1e-6
 * up to 100 dB of GR, < 4e-6 up to 400 dB: the rounding of x = -GR
 * log2(10)/20 (half an ulp of 16.6 is 9.5e-7, times ln 2) dominates the
 * series (5e-9) and the rounding of its eight multiply-adds (~2e-7). */
START_TEST(test_comp_float_conversions) {
  double worst_db = 0.0, worst_db_op = 0.0, worst_g = 0.0, worst_g100 = 0.0;
  for (double db = -300.0; db <= 300.0; db += 0.0123) {
    const float p = (float)pow(10.0, db / 10.0);
    const double e = fabs((double)mixstage__comp_power_db_f(p) - 10.0 * log10((double)p));
    if (e > worst_db) worst_db = e;
    if (db >= -80.0 && db <= 40.0 && e > worst_db_op) worst_db_op = e;
  }
  ck_assert(mixstage__comp_power_db_f(0.0f) == -600.0f && mixstage__comp_power_db_f(NAN) == -600.0f);
  float gr[MIXSTAGE__COMP_PAD(33)], row[MIXSTAGE__COMP_PAD(33)];
  for (double d = 0.0; d <= 400.0; d += 0.0371) {
    for (int i = 0; i < 8; i++) gr[i] = (float)(d + 0.001 * i);
    mixstage__comp_gain_f(gr, row, 8, 0.0f, 1.0f);
    for (int i = 0; i < 8; i++) {
      const double r = pow(10.0, -(double)gr[i] / 20.0), e = fabs((double)row[i] / r - 1.0);
      if (e > worst_g) worst_g = e;
      if (gr[i] <= 100.0f && e > worst_g100) worst_g100 = e;
    }
  }
  if (getenv("CHECK_KERNELS_VERBOSE"))
    fprintf(stderr, "comp float: level %.3g dB (%.3g dB in -80..40), gain %.3g relative (%.3g to 100 dB)\n",
            worst_db, worst_db_op, worst_g, worst_g100);
  ck_assert_msg(worst_db_op < 1e-5 && worst_db < 4e-5, "float level error %.3g dB (%.3g in -80..40)", worst_db,
                worst_db_op);
  ck_assert_msg(worst_g100 < 1e-6 && worst_g < 4e-6, "float gain relative error %.3g (%.3g to 100 dB)", worst_g,
                worst_g100);
  gr[0] = 0.0f;
  mixstage__comp_gain_f(gr, row, 1, 0.25f, 0.6f);
  ck_assert_msg(row[0] == 0.25f + 0.6f, "no reduction must give dry + wet exactly");

  /* every form gives the scalar form's bits, on powers of every kind the
   * detector gives (0, subnormal, +inf, FLT_MAX, around the knee) */
  uint32_t s = 99u;
  int diff = 0, forms = 0, skipped = 0, full = 0;
  for (int trial = 0; trial < 600; trial++) {
    mixstage__comp_curve_f cv;
    const double thr = -60.0 + 60.0 * (xs32(&s) % 10001u) / 10000.0;
    const double ratio = 1.0 + 49.0 * (xs32(&s) % 10001u) / 10000.0;
    const double knee = trial % 5 == 0 ? 0.0 : 24.0 * (xs32(&s) % 10001u) / 10000.0;
    mixstage__comp_curve_f_set(&cv, thr, ratio, knee);
    const int n = 1 + trial % 33;
    float pw[MIXSTAGE__COMP_PAD(33)], tg[3][MIXSTAGE__COMP_PAD(33)], g[3][MIXSTAGE__COMP_PAD(33)];
    for (int i = 0; i < MIXSTAGE__COMP_PAD(33); i++) {
      const uint32_t r = xs32(&s);
      const double db = thr - knee + (2.0 * knee + 40.0) * (r % 100001u) / 100000.0 - 10.0;
      pw[i] = (float)pow(10.0, db / 10.0);
      if (trial % 3 == 0) pw[i] = cv.p_zero * (float)(0.9 + 0.1 * (r % 1000u) / 1000.0); /* just below */
      if (trial % 3 != 0) switch (r % 41u) {
        case 0: pw[i] = FLT_MAX; break;
        case 1: pw[i] = INFINITY; break;
        case 2: pw[i] = 0.0f; break;
        case 3: pw[i] = 3e-39f; break;
        case 4: pw[i] = 1e-41f; break;
        case 5: pw[i] = (float)pow(10.0, (thr + 0.5 * knee) / 10.0); break; /* the upper knee edge */
        default: break;
      }
      gr[i] = (float)(60.0 * (r % 997u) / 997.0) * (r % 3u == 0 ? 0.0f : 1.0f);
    }
    /* the skip must equal the curve: a cell just below p_zero with one loud
     * frame added runs the curve on every frame, which must give its zeros */
    if (trial % 6 == 3 && n > 1) pw[n - 1] = 1.0f;
    int ret[3];
    for (int f = 0; f < 3; f++) {
      mixstage__comp_kernel_form(f);
      ret[f] = mixstage__comp_target_f(&cv, pw, tg[f], n);
      mixstage__comp_gain_f(gr, g[f], n, 0.3f, 0.85f);
      mixstage__comp_kernel_form(-1);
      for (int i = 0; i < n; i++) {
        diff += memcmp(&tg[f][i], &tg[0][i], sizeof(float)) != 0;
        diff += memcmp(&g[f][i], &g[0][i], sizeof(float)) != 0;
      }
      diff += ret[f] != ret[0];
      forms++;
    }
    if (trial % 6 == 3 && n > 1)
      for (int i = 0; i < n - 1; i++)
        if (pw[i] == pw[i] && pw[i] < cv.p_zero) diff += tg[0][i] != 0.0f;
    if (ret[0]) full++;
    else skipped++;
    /* a cell that the skip takes gives the zeros */
    for (int i = 0; !ret[0] && i < n; i++) diff += tg[0][i] != 0.0f;
  }
  ck_assert_msg(diff == 0, "%d values differ between the kernel forms or from the curve below p_zero", diff);
  ck_assert_msg(skipped > 50 && full > 50, "skip %d, full %d: both paths must run", skipped, full);
  (void)forms;
}
END_TEST

/* Why the ballistics state is double: the slowest release (5 s at 48 kHz,
 * b = 4.2e-6) recovering from 30 to 20 dB of GR.  A float state stalls where
 * b |t - y| drops below half an ulp of y (0.23 dB short at 20 dB); the
 * kernel's double state gets within 0.01 dB in 45 s (9 time constants). */
START_TEST(test_comp_ballistics_need_double) {
  mixstage__comp_ballistics b;
  memset(&b, 0, sizeof b);
  mixstage__comp_ballistics_set(&b, 0.05, 5000.0, 0, FS);
  b.fast.y = 30.0;
  float yf = 30.0f;
  const float bf = (float)b.fast.b_down;
  float tg[32], gr[32];
  for (int i = 0; i < 32; i++) tg[i] = 20.0f;
  mixstage__comp_ballistics *bp = &b;
  const float *tp = tg;
  float *gp = gr;
  for (int cell = 0; cell < 45 * 48000 / 32; cell++) {
    mixstage__comp_ballistics_lanes(&bp, 1, &tp, &gp, 32, 1u);
    for (int i = 0; i < 32; i++) yf = yf + bf * (20.0f - yf);
  }
  ck_assert_msg(fabs(b.fast.y - 20.0) < 0.01, "double state at %.4f dB", b.fast.y);
  ck_assert_msg(fabsf(gr[31] - 20.0f) < 0.01f, "GR row at %.4f dB", (double)gr[31]);
  ck_assert_msg(yf - 20.0f > 0.1f, "a float state would reach %.4f dB (no stall?)", (double)yf);
  /* the same through five compressors side by side (four in one AVX2
   * vector of doubles, one alone), 90-frame calls, in every form: every
   * lane gets there, and every form gives the one-lane path's bits */
  for (int form = 0; form < 3; form++) {
    mixstage__comp_kernel_form(form);
    mixstage__comp_ballistics q[5], *qp[5];
    float qt[5][96], qg[5][96];
    const float *qtp[5];
    float *qgp[5];
    for (int l = 0; l < 5; l++) {
      memset(&q[l], 0, sizeof q[l]);
      mixstage__comp_ballistics_set(&q[l], 0.05, 5000.0, 0, FS);
      q[l].fast.y = 30.0;
      qp[l] = &q[l];
      qtp[l] = qt[l];
      qgp[l] = qg[l];
      for (int i = 0; i < 96; i++) qt[l][i] = 20.0f;
    }
    for (int call = 0; call < 45 * 48000 / 90; call++) mixstage__comp_ballistics_lanes(qp, 5, qtp, qgp, 90, 31u);
    for (int l = 0; l < 5; l++) {
      ck_assert_msg(fabs(q[l].fast.y - 20.0) < 0.01, "form %d lane %d: state at %.4f dB", form, l, q[l].fast.y);
      ck_assert_msg(memcmp(&q[l].fast.y, &b.fast.y, sizeof b.fast.y) == 0 && memcmp(&qg[l][89], &gr[31], sizeof(float)) == 0,
                    "form %d lane %d: not the one-lane bits", form, l);
    }
  }
  mixstage__comp_kernel_form(-1);
}
END_TEST


/* ---- compressor: lane groups against a plain double compressor ------------ */

/* count (1 .. 9, the loop index + 1) compressors through process_lanes on
 * mono, stereo and 6-channel buffers against a per-frame double reference
 * built from the double building blocks of dynamics.h (the per-frame
 * per-channel detector, mixstage__dyn_compress_gr, the ballistics, libm
 * pow for the gain, the node's makeup/mix ramp), in the kernel's scalar,
 * baseline-vector and AVX2 forms by turns.  Random settings (peak and
 * RMS, key high-pass, auto release, mix and makeup), random keys, random
 * parameter changes of random instances at cell boundaries (the ramps then
 * run across split chunks), chunks split at random inside cells.
 *
 * Tolerance on every gain, relative: 2e-6, as test_compressor_reference in
 * check_dynamics: float level (< 1e-5 dB where a curve can act: -80 dB and
 * up) and float static curve (slope <= 1, rounding a few 1e-6 dB): GR
 * within ~1.2e-5 dB = 1.4e-6 relative gain; float exp2 (< 5e-7 measured
 * 2e-7); the float gain row dry + wet g (1.2e-7).  A crossed lane, a lost
 * update, a ramp one frame off or a ballistics step skipped is 1e-4 or
 * more.  The output must also be exactly gain_trace x input. */
typedef struct refcomp {
  mixstage__dyn_detector det;
  mixstage__comp_ballistics bal;
  double thr, ratio, knee, mk_prev, mk_t, mx_prev, mx_t;
  int pos, keyed, kch;
} refcomp;

static int comp_param_index(const mixstage__node_class *cls, const char *name) {
  for (int p = 0; p < cls->num_params; p++)
    if (!strcmp(cls->params[p].name, name)) return p;
  ck_abort_msg("no compressor parameter %s", name);
  return -1;
}

static double ramp_at(double prev, double t, int k) { return k >= 32 ? t : prev + (t - prev) * (double)k / 32.0; }

static void refcomp_apply(refcomp *r, const mixstage__node_class *cls, const double *pv, int first) {
  r->thr = pv[comp_param_index(cls, "threshold")];
  r->ratio = pv[comp_param_index(cls, "ratio")];
  r->knee = pv[comp_param_index(cls, "knee")];
  mixstage__comp_ballistics_set(&r->bal, pv[comp_param_index(cls, "attack")], pv[comp_param_index(cls, "release")],
                                pv[comp_param_index(cls, "auto_release")] >= 0.5, FS);
  mixstage__dyn_detector_set(&r->det, pv[comp_param_index(cls, "detector")] >= 0.5, pv[comp_param_index(cls, "rms_window")],
                             pv[comp_param_index(cls, "key_hpf")], FS);
  const double mk = pow(10.0, pv[comp_param_index(cls, "makeup")] / 20.0), mx = pv[comp_param_index(cls, "mix")] * 0.01;
  if (first) {
    r->mk_prev = mk;
    r->mx_prev = mx;
    r->pos = 32;
  } else {
    r->mk_prev = ramp_at(r->mk_prev, r->mk_t, r->pos);
    r->mx_prev = ramp_at(r->mx_prev, r->mx_t, r->pos);
    r->pos = 0;
  }
  r->mk_t = mk;
  r->mx_t = mx;
}

static void comp_random_params(const mixstage__node_class *cls, double *pv, uint32_t *s, int init) {
  for (int p = 0; p < cls->num_params; p++) {
    const mixstage_param_info *pi = &cls->params[p];
    if (!pi->automatable && !init) continue;
    const double u = (double)(xs32(s) >> 8) / 16777216.0;
    if (pi->unit == MIXSTAGE_UNIT_ENUM || pi->unit == MIXSTAGE_UNIT_BOOL) pv[p] = floor(u * (pi->max + 1.0 - 1e-9));
    else if (pi->unit == MIXSTAGE_UNIT_HZ || pi->unit == MIXSTAGE_UNIT_MS) pv[p] = pi->min * pow(pi->max / pi->min, u);
    else pv[p] = pi->min + (pi->max - pi->min) * u;
  }
  pv[comp_param_index(cls, "link")] = 100.0;
  if (xs32(s) % 5u < 3u) pv[comp_param_index(cls, "key_hpf")] = 0.0;
  if (xs32(s) % 2u) pv[comp_param_index(cls, "mix")] = 100.0;
  if (xs32(s) % 3u == 0) pv[comp_param_index(cls, "threshold")] = -45.0; /* most runs compress hard */
}

static float comp_sig(int inst, int c, int64_t k, uint32_t *s) {
  const int64_t period = 1100 + 230 * inst + 41 * c;
  const double env = (k % period) < period / 2 ? exp(-(double)(k % period) / (300.0 + 50.0 * inst)) : 0.01;
  const double tone = sin(2 * TU_PI * (70.0 + 97.0 * inst + 11.0 * c) * (double)k / FS);
  const double noise = ((double)(xs32(s) >> 8) / 8388608.0 - 1.0) * 0.4;
  return (float)(env * (1.1 * tone + noise));
}

/* Under a sanitizer (MIXSTAGE_SANITIZER, set by scripts/test.sh) the
 * lanes run 2000 frames instead of 7000: the build uses -ffp-contract=off,
 * so the plain run has already checked these very sums over the long
 * signal, and the sanitizer needs the memory paths, which every lane count,
 * channel count, form and call length still takes (two bursts of the test
 * signal, tens of parameter moves). */
START_TEST(test_comp_lanes_vs_double) {
  const int count = _i + 1, n = getenv("MIXSTAGE_SANITIZER") ? 2000 : 7000;
  static const int chans[3] = {1, 2, 6};
  const mixstage__node_class *cls = mixstage__find_node_class("compressor");
  ck_assert_ptr_nonnull(cls);
  uint32_t s = 4242u + 77u * (uint32_t)count;
  double worst = 0.0, gr_hi = 0.0;
  /* the kernel's forms in turn (scalar, baseline vectors, AVX2 where the
   * CPU has it): each against the reference */
  mixstage__comp_kernel_form(_i % 3);
  int changes = 0;
  for (int ci = 0; ci < 3; ci++) {
    const int nch = chans[ci];
    mixstage__node_env env = {FS, 120.0, nch, NULL};
    void *st[9];
    refcomp ref[9];
    double pv[9][32];
    float xb[9][6][32], kb[9][2][32];
    float *bp[9][6], *kp[9][2];
    const float *const *keys[9];
    int key_nch[9];
    for (int m = 0; m < count; m++) {
      st[m] = calloc(1, cls->state_size);
      ck_assert_ptr_nonnull(st[m]);
      ck_assert_int_eq(cls->init(st[m], &env), MIXSTAGE_OK);
      for (int p = 0; p < cls->num_params; p++) pv[m][p] = cls->params[p].def;
      comp_random_params(cls, pv[m], &s, 1);
      cls->update(st[m], pv[m]);
      cls->reset(st[m]);
      memset(&ref[m], 0, sizeof ref[m]);
      refcomp_apply(&ref[m], cls, pv[m], 1);
      mixstage__dyn_detector_reset(&ref[m].det);
      mixstage__comp_ballistics_reset(&ref[m].bal);
      ref[m].keyed = xs32(&s) % 3u == 0;
      ref[m].kch = 1 + (int)(xs32(&s) % 2u);
      key_nch[m] = ref[m].kch;
      for (int c = 0; c < 6; c++) bp[m][c] = xb[m][c];
      for (int c = 0; c < 2; c++) kp[m][c] = kb[m][c];
      keys[m] = ref[m].keyed ? (const float *const *)kp[m] : NULL;
    }
    int64_t pos = 0;
    while (pos < n) {
      const int o = (int)(pos % 32);
      int len = 32 - o;
      if (xs32(&s) % 10u < 3u) len = 1 + (int)(xs32(&s) % (uint32_t)len);
      if (o == 0 && pos > 0 && xs32(&s) % 6u == 0) { /* a parameter move at a boundary */
        const int m = (int)(xs32(&s) % (uint32_t)count);
        comp_random_params(cls, pv[m], &s, 0);
        cls->update(st[m], pv[m]);
        refcomp_apply(&ref[m], cls, pv[m], 0);
        changes++;
      }
      float *const *bufs[9];
      float in[9][6][32];
      for (int m = 0; m < count; m++) {
        for (int c = 0; c < nch; c++)
          for (int i = 0; i < len; i++) in[m][c][i] = xb[m][c][i] = comp_sig(m, c, pos + i, &s);
        for (int c = 0; c < ref[m].kch; c++)
          for (int i = 0; i < len; i++) kb[m][c][i] = comp_sig(m + 20, c, pos + i, &s);
        bufs[m] = bp[m];
      }
      ck_assert_msg(cls->process_lanes(st, bufs, keys, key_nch, count, nch, len), "the lane kernel declined");
      for (int m = 0; m < count; m++) {
        float gt[6][32], *gp[6];
        for (int c = 0; c < nch; c++) gp[c] = gt[c];
        ck_assert(cls->gain_trace(st[m], gp, nch, len));
        refcomp *r = &ref[m];
        const float *src[6];
        int sn = r->keyed ? r->kch : nch;
        for (int c = 0; c < sn; c++) src[c] = r->keyed ? kb[m][c] : in[m][c];
        for (int i = 0; i < len; i++) {
          const double p = mixstage__dyn_detector_run(&r->det, src, sn, i, NULL);
          const double t = mixstage__dyn_compress_gr(mixstage__dyn_power_to_db(p), r->thr, r->ratio, r->knee);
          const double gr = mixstage__comp_ballistics_run(&r->bal, t);
          const int k = r->pos + 1;
          const double mk = ramp_at(r->mk_prev, r->mk_t, k), mx = ramp_at(r->mx_prev, r->mx_t, k);
          const double g = (1.0 - mx) + mx * mk * pow(10.0, -gr / 20.0);
          if (r->pos < 32) r->pos++;
          if (gr > gr_hi) gr_hi = gr;
          for (int c = 0; c < nch; c++) {
            const double e = fabs((double)gt[c][i] / g - 1.0);
            if (!(e <= worst)) worst = e;
            ck_assert_msg(xb[m][c][i] == gt[c][i] * in[m][c][i], "output is not trace x input");
          }
        }
        ck_assert_msg(worst <= 2e-6, "%d lanes, %d ch: instance %d gain error %.3g at frame %lld", count, nch, m,
                      worst, (long long)pos);
      }
      pos += len;
    }
    for (int m = 0; m < count; m++) free(st[m]);
  }
  mixstage__comp_kernel_form(-1);
  ck_assert_msg(changes > 10, "only %d parameter changes", changes);
  ck_assert_msg(gr_hi > 10.0, "the reference reached only %.1f dB of GR", gr_hi);
  if (getenv("CHECK_KERNELS_VERBOSE"))
    fprintf(stderr, "comp lanes %d: worst gain error %.3g relative, GR up to %.1f dB\n", count, worst, gr_hi);
}
END_TEST

/* process_lanes in each form against process() per instance in the plain
 * scalar form, bit for bit: 1 .. 8 instances, 1 to 3 channels, peak (the
 * whole-vector hold window) and RMS detection, keys, makeup and mix, auto
 * release, at sample rates that put the hold window's segment ends
 * everywhere in a vector (seg_len 30, 28, 10, 5 and 3 frames), quiet
 * stretches (the skips) and loud ones; the lane calls take 1 .. 256 frames
 * (several cells in one call, max_frames), the reference cells of the
 * 32-frame grid; a parameter change between calls now and then (ramps). */
START_TEST(test_comp_lanes_exact) {
  static const double rates[5] = {48000.0, 44100.0, 16000.0, 8000.0, 4000.0};
  const mixstage__node_class *cls = mixstage__find_node_class("compressor");
  ck_assert_ptr_nonnull(cls);
  ck_assert_int_ge(cls->max_frames, 256);
  uint32_t s = 2024u + (uint32_t)_i;
  const double fs = rates[_i % 5];
  const int nch = 1 + _i % 3, count = 1 + (int)(xs32(&s) % 8u), n = 6000;
  const int form = _i % 3;
  mixstage__node_env env = {fs, 120.0, nch, NULL};
  void *st[2][8];
  double pv[8][32];
  float *x[8][3], *y[2][8][3], *key[8][2];
  int keyed[8], kch[8], diff = 0, moved = 0;
  for (int m = 0; m < count; m++) {
    for (int p = 0; p < cls->num_params; p++) pv[m][p] = cls->params[p].def;
    comp_random_params(cls, pv[m], &s, 1);
    if (xs32(&s) % 4u) pv[m][comp_param_index(cls, "detector")] = 0.0; /* mostly peak */
    for (int k = 0; k < 2; k++) {
      st[k][m] = calloc(1, cls->state_size);
      ck_assert_int_eq(cls->init(st[k][m], &env), MIXSTAGE_OK);
      cls->update(st[k][m], pv[m]);
      cls->reset(st[k][m]);
    }
    keyed[m] = xs32(&s) % 3u == 0;
    kch[m] = 1 + (int)(xs32(&s) % 2u);
    for (int c = 0; c < 3; c++) {
      x[m][c] = fbuf(n);
      for (int i = 0; i < n; i++) x[m][c][i] = comp_sig(m, c, i, &s) * ((i / 1500) % 3 == 1 ? 0.001f : 1.0f);
      for (int k = 0; k < 2; k++) {
        y[k][m][c] = fbuf(n);
        memcpy(y[k][m][c], x[m][c], sizeof(float) * (size_t)n);
      }
    }
    for (int c = 0; c < 2; c++) {
      key[m][c] = fbuf(n);
      for (int i = 0; i < n; i++) key[m][c][i] = comp_sig(m + 20, c, i, &s);
    }
  }
  int pos = 0;
  while (pos < n) {
    int len = 1 + (int)(xs32(&s) % 256u);
    if (len > n - pos) len = n - pos;
    if (pos % 32 == 0 && pos > 0 && xs32(&s) % 8u == 0) { /* a move between calls: ramps */
      const int m = (int)(xs32(&s) % (uint32_t)count);
      comp_random_params(cls, pv[m], &s, 0);
      cls->update(st[0][m], pv[m]);
      cls->update(st[1][m], pv[m]);
      len = 1 + (int)(xs32(&s) % 64u); /* the ramp across a call of several cells too */
      if (len > n - pos) len = n - pos;
    }
    /* the lanes, in the form under test */
    float *bp[8][3];
    const float *kp[8][2];
    float *const *bufs[8];
    const float *const *keys[8];
    for (int m = 0; m < count; m++) {
      for (int c = 0; c < nch; c++) bp[m][c] = y[0][m][c] + pos;
      for (int c = 0; c < 2; c++) kp[m][c] = key[m][c] + pos;
      bufs[m] = bp[m];
      keys[m] = keyed[m] ? kp[m] : NULL;
    }
    mixstage__comp_kernel_form(form);
    ck_assert_msg(cls->process_lanes(st[0], bufs, keys, kch, count, nch, len), "the lane kernel declined");
    /* the reference: each instance alone, the scalar form, cell by cell */
    mixstage__comp_kernel_form(0);
    for (int m = 0; m < count; m++)
      for (int done = 0; done < len;) {
        int cell = 32 - (pos + done) % 32;
        if (cell > len - done) cell = len - done;
        float *b[3];
        const float *k[2];
        for (int c = 0; c < nch; c++) b[c] = y[1][m][c] + pos + done;
        for (int c = 0; c < 2; c++) k[c] = key[m][c] + pos + done;
        cls->process(st[1][m], b, nch, cell, keyed[m] ? k : NULL, keyed[m] ? kch[m] : 0);
        done += cell;
      }
    pos += len;
  }
  mixstage__comp_kernel_form(-1);
  for (int m = 0; m < count; m++)
    for (int c = 0; c < nch; c++)
      for (int i = 0; i < n; i++) {
        diff += memcmp(&y[0][m][c][i], &y[1][m][c][i], sizeof(float)) != 0;
        moved += y[1][m][c][i] != x[m][c][i];
      }
  ck_assert_msg(diff == 0, "fs %g, %d ch, %d lanes, form %d: %d samples differ", fs, nch, count, form, diff);
  ck_assert_msg(moved > n / 4, "the compressors did little (%d samples changed)", moved);
  for (int m = 0; m < count; m++) {
    for (int k = 0; k < 2; k++) free(st[k][m]);
    for (int c = 0; c < 3; c++) {
      free(x[m][c]);
      free(y[0][m][c]);
      free(y[1][m][c]);
    }
    for (int c = 0; c < 2; c++) free(key[m][c]);
  }
}
END_TEST

/* ---- eq: flat-band skip and the stereo path are exact -------------------- */

static void eq_set_bands(mixstage__node_host *h, const double *gains) {
  /* band 1: 24 dB/oct high-pass at 40 Hz; bands 2-5: low shelf, two bells,
   * high shelf with the given gains (0 = flat); band 6: notch */
  setp(h, "band1_type", 1);
  setp(h, "band1_freq", 40.0);
  setp(h, "band1_slope", 3);
  setp(h, "band2_type", 3);
  setp(h, "band2_freq", 200.0);
  setp(h, "band2_gain", gains[0]);
  setp(h, "band3_type", 5);
  setp(h, "band3_freq", 900.0);
  setp(h, "band3_q", 2.0);
  setp(h, "band3_gain", gains[1]);
  setp(h, "band4_type", 5);
  setp(h, "band4_freq", 3000.0);
  setp(h, "band4_gain", gains[2]);
  setp(h, "band5_type", 4);
  setp(h, "band5_freq", 8000.0);
  setp(h, "band5_gain", gains[3]);
  setp(h, "band6_type", 6);
  setp(h, "band6_freq", 60.0);
  setp(h, "band6_q", 4.0);
}

static void ref_design(mixstage__biquad *sec, const double *gains) {
  mixstage__butterworth_highpass(sec, 4, 40.0, FS); /* 2 sections */
  mixstage__biquad_lowshelf(&sec[2], 200.0, MIXSTAGE__Q_BUTTERWORTH, gains[0], FS);
  mixstage__biquad_peaking(&sec[3], 900.0, 2.0, gains[1], FS);
  mixstage__biquad_peaking(&sec[4], 3000.0, MIXSTAGE__Q_BUTTERWORTH, gains[2], FS);
  mixstage__biquad_highshelf(&sec[5], 8000.0, MIXSTAGE__Q_BUTTERWORTH, gains[3], FS);
  mixstage__biquad_notch(&sec[6], 60.0, 4.0, FS);
}

/* A plain scalar float SVF section (svf.h's operations in its order) and
 * the node's rule for flat sections: out of the cascade, memory cleared. */
typedef struct flt_svf {
  float c[MIXSTAGE__SVF_COEFS], s1, s2;
  int flat;
} flt_svf;

static float flt_svf_tick(flt_svf *f, float x, int fused) {
  if (f->flat) return x;
  const float *c = f->c;
  float v3 = x - f->s2, y, u1, u2;
  if (fused) { /* svf.h: one rounding per multiply-add where the kernels fuse */
    y = fmaf(c[MIXSTAGE__SVF_D1], f->s1, fmaf(c[MIXSTAGE__SVF_D3], v3, c[MIXSTAGE__SVF_D0] * x));
    u1 = fmaf(c[MIXSTAGE__SVF_C1], f->s1, c[MIXSTAGE__SVF_C2] * v3);
    u2 = fmaf(c[MIXSTAGE__SVF_C2], f->s1, c[MIXSTAGE__SVF_C3] * v3);
  } else {
    y = c[MIXSTAGE__SVF_D1] * f->s1 + (c[MIXSTAGE__SVF_D3] * v3 + c[MIXSTAGE__SVF_D0] * x);
    u1 = c[MIXSTAGE__SVF_C1] * f->s1 + c[MIXSTAGE__SVF_C2] * v3;
    u2 = c[MIXSTAGE__SVF_C2] * f->s1 + c[MIXSTAGE__SVF_C3] * v3;
  }
  f->s1 = u1 - f->s1;
  f->s2 = f->s2 + u2;
  return y;
}

static void flt_svf_design(flt_svf *f, const mixstage__biquad *sec, int n) {
  for (int k = 0; k < n; k++) {
    f[k].flat = mixstage__svf_is_identity(&sec[k]);
    if (f[k].flat) f[k].s1 = f[k].s2 = 0.0f;
    mixstage__svf_from_biquad(&sec[k], f[k].c);
  }
}

/* 1, 2 and 3 channels; the gains switch from boosts/cuts to flat half-way
 * through, and back to one boost near the end: the node must follow a
 * plain scalar float SVF cascade bit for bit (flat sections left out). */
START_TEST(test_eq_flat_skip_exact) {
  const int n = 24000, half = 9600, late = 19200;
  const double g_a[4] = {4.0, -6.0, 3.0, 2.5}, g_b[4] = {0.0, 0.0, 0.0, 0.0},
               g_c[4] = {0.0, 5.0, 0.0, 0.0};
  for (int nch = 1; nch <= 3; nch++) {
    mixstage__node_host *h = mk("eq", nch);
    float *x[3], *y[3];
    for (int c = 0; c < nch; c++) {
      x[c] = fbuf(n);
      y[c] = fbuf(n);
      tu_noise(x[c], n, 0.3, 11u + (uint32_t)c);
      memcpy(y[c], x[c], sizeof(float) * (size_t)n);
    }
    eq_set_bands(h, g_a);
    mixstage__host_process(h, y, half, NULL, 0);
    eq_set_bands(h, g_b);
    float *y2[3], *y3[3];
    for (int c = 0; c < nch; c++) y2[c] = y[c] + half;
    mixstage__host_process(h, y2, late - half, NULL, 0);
    eq_set_bands(h, g_c);
    for (int c = 0; c < nch; c++) y3[c] = y[c] + late;
    mixstage__host_process(h, y3, n - late, NULL, 0);

    mixstage__biquad sec[7];
    const int fused = mixstage__svf_fused();
    flt_svf st[3][7];
    memset(st, 0, sizeof st);
    int diff = 0, changed = 0;
    for (int i = 0; i < n; i++) {
      if (i == 0 || i == half || i == late) {
        ref_design(sec, i == 0 ? g_a : i == half ? g_b : g_c);
        for (int c = 0; c < nch; c++) flt_svf_design(st[c], sec, 7);
      }
      for (int c = 0; c < nch; c++) {
        float v = x[c][i];
        for (int k = 0; k < 7; k++) v = flt_svf_tick(&st[c][k], v, fused);
        if (v != y[c][i]) diff++;
        if (i >= half && i < late && v != x[c][i]) changed++;
      }
    }
    ck_assert_msg(diff == 0, "%d ch: %d samples differ from the plain cascade", nch, diff);
    /* the high-pass and notch stay, so the flat stretch is not the input */
    ck_assert_msg(changed > 0, "%d ch: flat stretch equals the input", nch);
    for (int c = 0; c < nch; c++) {
      free(x[c]);
      free(y[c]);
    }
    mixstage__host_destroy(h);
  }
}
END_TEST

/* ---- SVF lane kernels against a plain double-precision SVF ------------------ */

static uint32_t xs32(uint32_t *s); /* with the dynamics kernel tests below */

/* The same trapezoidal SVF in double, in Simper's form (v1, v2 and the mix
 * m0 x + m1 v1 + m2 v2), from the biquad by matching the transfer
 * function (see lib/dsp/svf.c for the algebra this re-derives). */
typedef struct dbl_svf {
  double a1, a2, a3, m0, m1, m2, ic1, ic2;
} dbl_svf;

static void dbl_svf_set(dbl_svf *r, const mixstage__biquad *c) {
  double p = 1.0 + c->a1 + c->a2, q = 1.0 - c->a1 + c->a2;
  double g = sqrt(p / q), k = 2.0 * (1.0 - c->a2) / (q * g);
  r->a1 = 1.0 / (1.0 + g * (g + k));
  r->a2 = g * r->a1;
  r->a3 = g * r->a2;
  r->m0 = (c->b0 - c->b1 + c->b2) / q;
  r->m2 = (c->b0 + c->b1 + c->b2) / p - r->m0;
  r->m1 = (2.0 * (c->b0 - c->b2) / q - r->m0 * g * k) / g;
}

static double dbl_svf_tick(dbl_svf *r, double x) {
  double v3 = x - r->ic2;
  double v1 = r->a1 * r->ic1 + r->a2 * v3, v2 = r->ic2 + r->a2 * r->ic1 + r->a3 * v3;
  r->ic1 = 2.0 * v1 - r->ic1;
  r->ic2 = 2.0 * v2 - r->ic2;
  return r->m0 * x + r->m1 * v1 + r->m2 * v2;
}

/* A random non-flat RBJ section: 20 Hz .. 0.45 fs (log), Q 0.3 .. 12,
 * gain -24 .. +24 dB (never exactly 0). */
static void svf_random_design(mixstage__biquad *c, uint32_t *rs, double fs) {
  double f = 20.0 * pow(0.45 * fs / 20.0, (double)(xs32(rs) >> 8) / 16777216.0);
  double q = 0.3 * pow(40.0, (double)(xs32(rs) >> 8) / 16777216.0);
  double g = 1.0 + 23.0 * (double)(xs32(rs) >> 8) / 16777216.0;
  if (xs32(rs) & 1) g = -g;
  switch (xs32(rs) % 9) {
  case 0: mixstage__biquad_highpass(c, f, q, fs); break;
  case 1: mixstage__biquad_lowpass(c, f, q, fs); break;
  case 2: mixstage__biquad_lowshelf(c, f, q, g, fs); break;
  case 3: mixstage__biquad_highshelf(c, f, q, g, fs); break;
  case 4: mixstage__biquad_peaking(c, f, q, g, fs); break;
  case 5: mixstage__biquad_notch(c, f, q, fs); break;
  case 6: mixstage__biquad_allpass(c, f, q, fs); break;
  case 7: mixstage__biquad_highpass1(c, f, fs); break;
  default: mixstage__biquad_lowshelf1(c, f, g, fs); break;
  }
}

/* 1 .. 9 lanes (loop index + 1), each lane its own random cascade of 1 .. 9
 * sections of every cookbook type; random call lengths 1 .. 150 frames;
 * random output gains on some calls; coefficients of random lanes and
 * sections redesigned between calls (memory carries over, as in the eq
 * node); flushes on some calls.  Run through the portable kernel
 * (mixstage__svf_lanes_process) and, where the CPU has AVX, the eight-lane
 * kernel (lanes in batches of eight, the rest padding):
 *  - the two kernels agree bit for bit (the same float operations per lane:
 *    the eq node relies on it, its lane groups and its single instances
 *    run different kernels);
 *  - both stay within 1e-4 (-80 dB) of the double SVF, relative to the
 *    lane's signal scale (the largest magnitude so far of its input or of
 *    any section's output: boosts of up to 24 dB per section make the
 *    levels inside the cascade, where float rounds, far larger than its
 *    input).  Float coefficients move a response by < 1e-5 dB; float
 *    memory adds rounding of 2^-24 of each section's signal, amplified by
 *    the section's recursion and by the sections after it (Q up to 12,
 *    up to nine sections: far beyond an EQ's usual cascade).  A fault
 *    (crossed lanes, a coefficient change lost, memory dropped) is 1e-2 or
 *    more.  Worst seen 2.6e-5 (nine lanes). */
START_TEST(test_svf_kernels_vs_double) {
  const int nlanes = _i + 1, stride = MIXSTAGE__SVF_PAD(nlanes), n = 6000;
  const int nbatch = (nlanes + 7) / 8, wide = mixstage__svf_lanes8_available();
  const double fs = 48000.0;
  uint32_t rs = 0x5EED1u + 131u * (uint32_t)_i;
  double worst = 0.0;
  for (int trial = 0; trial < 3; trial++) {
    const int nsec = 1 + (int)(xs32(&rs) % 9);
    float *bank = calloc((size_t)nsec * MIXSTAGE__SVF_ROWS * (size_t)stride, sizeof(float));
    float *bank8 = calloc((size_t)nbatch * (size_t)nsec * MIXSTAGE__SVF_ROWS * 8, sizeof(float));
    ck_assert(bank && bank8);
    float *sec[9], *sec8[2][9];
    dbl_svf ref[9][9];
    memset(ref, 0, sizeof ref);
    for (int k = 0; k < nsec; k++) {
      sec[k] = bank + (size_t)k * MIXSTAGE__SVF_ROWS * (size_t)stride;
      for (int b = 0; b < nbatch; b++) sec8[b][k] = bank8 + ((size_t)b * (size_t)nsec + (size_t)k) * MIXSTAGE__SVF_ROWS * 8;
    }
    for (int l = 0; l < nlanes; l++)
      for (int k = 0; k < nsec; k++) {
        mixstage__biquad c;
        float coef[MIXSTAGE__SVF_COEFS];
        svf_random_design(&c, &rs, fs);
        mixstage__svf_from_biquad(&c, coef);
        mixstage__svf_lanes_set(sec[k], stride, l, coef);
        mixstage__svf_lanes_set(sec8[l / 8][k], 8, l % 8, coef);
        dbl_svf_set(&ref[l][k], &c);
      }
    float *x[9], *y[9], *y8[16];
    float *pad = calloc(150, sizeof(float));
    for (int l = 0; l < nlanes; l++) {
      x[l] = fbuf(n);
      y[l] = fbuf(n);
      y8[l] = fbuf(n);
      tu_noise(x[l], n, 0.2 + 0.05 * l, 300u + (uint32_t)(l + 9 * trial));
      memcpy(y[l], x[l], sizeof(float) * (size_t)n);
      memcpy(y8[l], x[l], sizeof(float) * (size_t)n);
    }
    float gain[150], gain8[150 * 8];
    double scale[9]; /* per lane: the largest signal so far, input or between sections */
    for (int l = 0; l < nlanes; l++) scale[l] = 0.2 + 0.05 * l;
    int mismatch = 0, bad = 0, changes = 0;
    for (int done = 0; done < n;) {
      int m = 1 + (int)(xs32(&rs) % 150);
      if (m > n - done) m = n - done;
      const int with_gain = xs32(&rs) % 3 == 0, flush = xs32(&rs) % 2;
      for (int i = 0; i < m; i++) {
        gain[i] = (float)(0.25 + 1.5 * (double)(xs32(&rs) >> 8) / 16777216.0);
        for (int j = 0; j < 8; j++) gain8[8 * i + j] = gain[i];
      }
      float *io[9];
      for (int l = 0; l < nlanes; l++) io[l] = y[l] + done;
      mixstage__svf_lanes_process(sec, nsec, stride, nlanes, io, with_gain ? gain : NULL, m, flush);
      if (wide)
        for (int b = 0; b < nbatch; b++) {
          float *io8[8];
          for (int j = 0; j < 8; j++) io8[j] = b * 8 + j < nlanes ? y8[b * 8 + j] + done : pad;
          memset(pad, 0, 150 * sizeof(float));
          mixstage__svf_lanes8_process(sec8[b], nsec, io8, with_gain ? gain8 : NULL, m, flush);
        }
      for (int l = 0; l < nlanes; l++)
        for (int i = 0; i < m; i++) {
          double v = (double)x[l][done + i];
          for (int k = 0; k < nsec; k++) {
            v = dbl_svf_tick(&ref[l][k], v);
            if (fabs(v) > scale[l]) scale[l] = fabs(v);
          }
          if (with_gain) v *= (double)gain[i];
          double e = fabs((double)y[l][done + i] - v) / scale[l];
          if (e > worst) worst = e;
          bad += !(e <= 1e-4);
          if (wide) mismatch += memcmp(&y[l][done + i], &y8[l][done + i], sizeof(float)) != 0;
        }
      done += m;
      /* a redesign between calls: random lanes and sections, memory kept */
      if (xs32(&rs) % 4 == 0) {
        int l = (int)(xs32(&rs) % (uint32_t)nlanes), k = (int)(xs32(&rs) % (uint32_t)nsec);
        mixstage__biquad c;
        float coef[MIXSTAGE__SVF_COEFS];
        svf_random_design(&c, &rs, fs);
        mixstage__svf_from_biquad(&c, coef);
        mixstage__svf_lanes_set(sec[k], stride, l, coef);
        mixstage__svf_lanes_set(sec8[l / 8][k], 8, l % 8, coef);
        double i1 = ref[l][k].ic1, i2 = ref[l][k].ic2;
        dbl_svf_set(&ref[l][k], &c);
        ref[l][k].ic1 = i1;
        ref[l][k].ic2 = i2;
        changes++;
      }
    }
    ck_assert_msg(changes > 0, "no coefficient change exercised");
    ck_assert_msg(mismatch == 0, "%d lanes: %d samples differ between the kernels", nlanes, mismatch);
    ck_assert_msg(bad == 0, "%d lanes: %d samples beyond 1e-4 of the signal's scale from the double SVF (worst %g)", nlanes, bad, worst);
    for (int l = 0; l < nlanes; l++) {
      free(x[l]);
      free(y[l]);
      free(y8[l]);
    }
    free(pad);
    free(bank);
    free(bank8);
  }
  if (getenv("CHECK_KERNELS_VERBOSE")) fprintf(stderr, "svf %d lanes: worst %.3g of the signal scale\n", nlanes, worst);
}
END_TEST

/* Every band flat or off and 0 dB output: the input comes back bit for bit. */
START_TEST(test_eq_all_flat_is_identity) {
  const int n = 4096;
  mixstage__node_host *h = mk("eq", 2);
  setp(h, "band2_type", 3);
  setp(h, "band2_gain", 0.0);
  setp(h, "band3_type", 5);
  setp(h, "band3_gain", 0.0);
  setp(h, "band5_type", 4);
  setp(h, "band5_gain", 0.0);
  float *x[2] = {fbuf(n), fbuf(n)}, *y[2] = {fbuf(n), fbuf(n)};
  for (int c = 0; c < 2; c++) {
    tu_noise(x[c], n, 0.9, 3u + (uint32_t)c);
    memcpy(y[c], x[c], sizeof(float) * (size_t)n);
  }
  mixstage__host_process(h, y, n, NULL, 0);
  for (int c = 0; c < 2; c++) {
    ck_assert(memcmp(x[c], y[c], sizeof(float) * (size_t)n) == 0);
    free(x[c]);
    free(y[c]);
  }
  mixstage__host_destroy(h);
}
END_TEST

/* ---- limiter: the at-rest shortcut ---------------------------------------- */

/* In sample-peak mode a linked limiter at rest, whose next frames' peaks
 * are provably under the ceiling, skips the detector and the gain chain.
 * Against the same limiter with the shortcut off, bit for bit: noise whose
 * level alternates between quiet and well over the ceiling (so the chain
 * leaves rest and comes back to it), input-gain automation (the gain ring
 * is not steady for a while), a partial link and back (the chains split and
 * join), a NaN and an infinity, calls of uneven lengths, mono and stereo. */
static void limiter_rest_run(int nch, int shortcut, float *const *x, int n, int *rest_calls, int *gr_calls) {
  const int was = mixstage__limiter_rest_shortcut(shortcut);
  mixstage__node_host *h = mk("limiter", nch);
  setp(h, "ceiling", -1.0);
  setp(h, "true_peak", 0.0);
  setp(h, "release", 2.0); /* a release lands on exact unity after ~18 time constants */
  *rest_calls = *gr_calls = 0;
  for (int i = 0, k = 0; i < n; k++) {
    const int m = n - i < 37 + 61 * (k % 5) ? n - i : 37 + 61 * (k % 5);
    if (k == 90) setp(h, "input_gain", 4.0);
    if (k == 150) setp(h, "link", 50.0);
    if (k == 170) setp(h, "link", 100.0);
    if (k == 260) setp(h, "input_gain", -3.0);
    float *p[2] = {x[0] + i, nch > 1 ? x[1] + i : NULL};
    mixstage__host_process(h, p, m, NULL, 0);
    const float gr = mixstage__host_gain_reduction(h);
    *rest_calls += gr == 0.0f;
    *gr_calls += gr > 1.0f;
    i += m;
  }
  mixstage__host_destroy(h);
  mixstage__limiter_rest_shortcut(was);
}

START_TEST(test_limiter_rest_shortcut) {
  const int n = 48000;
  for (int nch = 1; nch <= 2; nch++) {
    float *a[2] = {fbuf(n), fbuf(n)}, *b[2] = {fbuf(n), fbuf(n)};
    for (int c = 0; c < 2; c++) {
      tu_noise(a[c], n, 1.0, 77u + (uint32_t)c);
      for (int i = 0; i < n; i++) a[c][i] *= (i / 6000) % 2 ? 1.6f : 0.2f; /* 1.6: +4 dBFS peaks */
    }
    a[0][5000] = NAN;
    a[nch - 1][21000] = INFINITY;
    for (int c = 0; c < 2; c++) memcpy(b[c], a[c], sizeof(float) * (size_t)n);
    int rest_a, gr_a, rest_b, gr_b;
    limiter_rest_run(nch, 1, a, n, &rest_a, &gr_a);
    limiter_rest_run(nch, 0, b, n, &rest_b, &gr_b);
    int diff = 0;
    for (int c = 0; c < nch; c++)
      diff += memcmp(a[c], b[c], sizeof(float) * (size_t)n) != 0;
    ck_assert_msg(diff == 0, "%d ch: the shortcut changes the output", nch);
    ck_assert_int_eq(rest_a, rest_b);
    /* both states were visited many times */
    printf("limiter at-rest shortcut, %d ch: %d calls ended at rest, %d limiting by > 1 dB: same bits\n", nch,
           rest_a, gr_a);
    ck_assert_msg(rest_a > 50 && gr_a > 50, "%d ch: %d calls at rest, %d limiting", nch, rest_a, gr_a);
    for (int c = 0; c < 2; c++) {
      free(a[c]);
      free(b[c]);
    }
  }
}
END_TEST

/* ---- limiter: true peak switched on mid-stream --------------------------- */

/* A quiet opening (no limiting in either mode, so the gain paths agree),
 * then a loud passage with content near Nyquist.  Limiter A detects true
 * peaks throughout; limiter B starts in sample-peak mode, so its detector
 * is idle, and switches to true peak before the loud passage.  From the
 * switch on, B must equal A bit for bit; had the rebuilt detector missed
 * any history, B would under-read the first loud peaks. */
START_TEST(test_limiter_true_peak_switch) {
  const int n = 24000, sw = 9600 + 13; /* off the control grid */
  mixstage__node_host *a = mk("limiter", 2), *b = mk("limiter", 2);
  setp(a, "ceiling", -1.0);
  setp(b, "ceiling", -1.0);
  setp(a, "true_peak", 1.0);
  setp(b, "true_peak", 0.0);
  float *xa[2] = {fbuf(n), fbuf(n)}, *xb[2] = {fbuf(n), fbuf(n)};
  for (int c = 0; c < 2; c++) {
    tu_noise(xa[c], n, 1.0, 21u + (uint32_t)c);
    for (int i = 0; i < n; i++) {
      double hf = sin(2.0 * 3.14159265358979 * 19500.0 * i / FS + c);
      double amp = i < 12000 ? 0.05 : 0.9;
      xa[c][i] = (float)(amp * (0.6 * xa[c][i] + 0.5 * hf));
    }
    memcpy(xb[c], xa[c], sizeof(float) * (size_t)n);
  }
  mixstage__host_process(a, xa, n, NULL, 0);
  mixstage__host_process(b, xb, sw, NULL, 0);
  setp(b, "true_peak", 1.0);
  float *rest[2] = {xb[0] + sw, xb[1] + sw};
  mixstage__host_process(b, rest, n - sw, NULL, 0);
  int diff = 0;
  for (int c = 0; c < 2; c++)
    for (int i = 0; i < n; i++)
      if (xa[c][i] != xb[c][i]) diff++;
  ck_assert_msg(diff == 0, "%d samples differ from the limiter that ran true peak all along", diff);
  /* and the loud passage was limited (the test exercises the detector) */
  ck_assert(mixstage__host_gain_reduction(a) > 1.0f);
  for (int c = 0; c < 2; c++) {
    free(xa[c]);
    free(xb[c]);
  }
  mixstage__host_destroy(a);
  mixstage__host_destroy(b);
}
END_TEST

/* ---- oversampler memory ------------------------------------------------- */

/* Runs x[0 .. n-1] through up() and down() in 32-frame calls; out may be NULL. */
static void os_run(mixstage__oversampler *os, float *const *x, int nch, int n, float *const *out) {
  float blk[2][MIXSTAGE_OS_MAX_FRAMES];
  for (int d = 0; d < n; d += MIXSTAGE_OS_MAX_FRAMES) {
    int m = n - d < MIXSTAGE_OS_MAX_FRAMES ? n - d : MIXSTAGE_OS_MAX_FRAMES;
    const float *ip[2];
    float *op[2];
    for (int c = 0; c < nch; c++) {
      memcpy(blk[c], x[c] + d, sizeof(float) * (size_t)m);
      ip[c] = blk[c];
      op[c] = blk[c];
    }
    mixstage__os_up(os, ip, m);
    mixstage__os_down(os, op, m);
    if (out)
      for (int c = 0; c < nch; c++) memcpy(out[c] + d, blk[c], sizeof(float) * (size_t)m);
  }
}

/* One oversampler runs a long history then new input; a second is reset,
 * fed only the last MIXSTAGE_OS_MEMORY_FRAMES frames of that history, then
 * the same new input: their outputs must agree bit for bit.  A third is
 * fed only 100 frames, less than the shortest real memory (127 frames at
 * 2x), and must differ: the test can tell a memory that is too short. */
START_TEST(test_os_memory) {
  const int hist = 5000, fresh = 3000, M = MIXSTAGE_OS_MEMORY_FRAMES;
  for (int f = 2; f <= 8; f *= 2) {
    mixstage__oversampler a, b, h;
    ck_assert_int_eq(mixstage__os_init(&a, NULL, 2, f), MIXSTAGE_OK);
    ck_assert_int_eq(mixstage__os_init(&b, NULL, 2, f), MIXSTAGE_OK);
    ck_assert_int_eq(mixstage__os_init(&h, NULL, 2, f), MIXSTAGE_OK);
    float *x[2] = {fbuf(hist), fbuf(hist)}, *y[2] = {fbuf(fresh), fbuf(fresh)};
    float *oa[2] = {fbuf(fresh), fbuf(fresh)}, *ob[2] = {fbuf(fresh), fbuf(fresh)};
    float *oh[2] = {fbuf(fresh), fbuf(fresh)};
    for (int c = 0; c < 2; c++) {
      tu_noise(x[c], hist, 0.8, 31u + (uint32_t)c);
      tu_noise(y[c], fresh, 0.8, 41u + (uint32_t)c);
    }
    float *tail[2] = {x[0] + hist - M, x[1] + hist - M};
    float *half[2] = {x[0] + hist - 100, x[1] + hist - 100};
    os_run(&a, x, 2, hist, NULL);
    os_run(&b, tail, 2, M, NULL);
    os_run(&h, half, 2, 100, NULL);
    os_run(&a, y, 2, fresh, oa);
    os_run(&b, y, 2, fresh, ob);
    os_run(&h, y, 2, fresh, oh);
    int diff = 0, diff_h = 0;
    for (int c = 0; c < 2; c++)
      for (int i = 0; i < fresh; i++) {
        if (oa[c][i] != ob[c][i]) diff++;
        if (oa[c][i] != oh[c][i]) diff_h++;
      }
    ck_assert_msg(diff == 0, "%dx: %d samples depend on input older than the memory", f, diff);
    ck_assert_msg(diff_h > 0, "%dx: 100 frames of memory already suffice: test is blind", f);
    for (int c = 0; c < 2; c++) {
      free(x[c]);
      free(y[c]);
      free(oa[c]);
      free(ob[c]);
      free(oh[c]);
    }
    mixstage__os_fini(&a, NULL);
    mixstage__os_fini(&b, NULL);
    mixstage__os_fini(&h, NULL);
  }
}
END_TEST

/* The phase-split 2x path (mixstage__os2_up/down) against up(), the same
 * memoryless process on the interleaved top rate, down(): bit for bit, for
 * both designs, 1..3 channels (the AVX2 form takes channel pairs, the rest
 * one at a time) and calls of 1..32 frames in a seeded mix.  The process is
 * the console colour's curve at +12 dB drive (residuals far from zero, so a
 * swapped phase or sample shows).  Also the input window: the block and its
 * mixstage__os2_input_history() frames before it are the input itself. */
START_TEST(test_os2_phase_split_exact) {
  const int n = 3000;
  for (int design = 0; design < MIXSTAGE_OS_DESIGNS; design++)
    for (int nch = 1; nch <= 3; nch++) {
      mixstage__oversampler a, b;
      ck_assert_int_eq(mixstage__os_init_design(&a, NULL, nch, 2, 0, design), MIXSTAGE_OK);
      ck_assert_int_eq(mixstage__os_init_design(&b, NULL, nch, 2, 0, design), MIXSTAGE_OK);
      ck_assert(mixstage__os2_available(&b));
      const int H = mixstage__os2_input_history(&b);
      ck_assert_int_ge(H, mixstage__os_latency(&b));
      float *x[3], *ya[3], *yb[3];
      for (int c = 0; c < nch; c++) {
        x[c] = fbuf(n);
        ya[c] = fbuf(n);
        yb[c] = fbuf(n);
        tu_noise(x[c], n, 0.9, 61u + (uint32_t)c);
      }
      const int k = mixstage__cc_residual_best();
      const float ra = 3.98f / 3.0f, rcd = 3.0f / 3.98f, rb = 0.0225f;
      uint32_t s = 99u + (uint32_t)(design * 7 + nch);
      int mismatch = 0, window_bad = 0;
      for (int d = 0; d < n;) {
        s ^= s << 13; s ^= s >> 17; s ^= s << 5;
        int m = 1 + (int)(s % MIXSTAGE_OS_MAX_FRAMES);
        if (m > n - d) m = n - d;
        const float *ip[3];
        float *pa[3], *pb[3];
        for (int c = 0; c < nch; c++) {
          ip[c] = x[c] + d;
          pa[c] = ya[c] + d;
          pb[c] = yb[c] + d;
        }
        mixstage__os_up(&a, ip, m);
        for (int c = 0; c < nch; c++) mixstage__cc_residual(k, a.hi[c], 2 * m, ra, rcd, rb);
        mixstage__os_down(&a, pa, m);
        mixstage__os2_up(&b, ip, m);
        for (int c = 0; c < nch; c++) {
          const float *w = mixstage__os2_input(&b, c);
          for (int i = -H; i < m; i++)
            if (d + i >= 0 && w[i] != x[c][d + i]) window_bad++;
          mixstage__cc_residual(k, mixstage__os2_even(&b, c), m, ra, rcd, rb);
          mixstage__cc_residual(k, mixstage__os2_odd(&b, c), m, ra, rcd, rb);
        }
        mixstage__os2_down(&b, pb, m);
        d += m;
      }
      for (int c = 0; c < nch; c++) {
        if (memcmp(ya[c], yb[c], sizeof(float) * (size_t)n) != 0) mismatch++;
        free(x[c]);
        free(ya[c]);
        free(yb[c]);
      }
      ck_assert_msg(mismatch == 0, "design %d, %d ch: phase-split output differs", design, nch);
      ck_assert_msg(window_bad == 0, "design %d, %d ch: input window wrong (%d)", design, nch, window_bad);
      mixstage__os_fini(&a, NULL);
      mixstage__os_fini(&b, NULL);
    }
}
END_TEST

/* Delay lines (lib/delay_line.c): out[i] = in[i - delay] exactly, for
 * delays of 1 .. 2000 frames (shorter and longer than a call, than the
 * 256-frame passes and than the sliding buffer's 1024 frames of slack, on
 * both sides of its 1024-frame limit, and rings beyond it) and calls of
 * 1 .. 2500 frames in a seeded mix, so writes and reads wrap at every ring
 * position and the sliding buffers move back often, by short and long
 * calls; then again after a clear.  A third of the calls only push (a dry
 * path kept warm): their frames are not read back, and the frames after
 * them must still come out delayed exactly. */
START_TEST(test_delay_line_exact) {
  mixstage_graph_config cfg;
  mixstage_graph_config_init(&cfg);
  int err = 0;
  mixstage_graph *g = mixstage_graph_create(&cfg, &err);
  ck_assert_ptr_nonnull(g);
  static const int delays[] = {1, 7, 8, 9, 31, 32, 33, 74, 255, 256, 257, 300, 1023, 1024, 1025, 2000};
  const int total = 6000, nch = 3;
  float *in = malloc(sizeof(float) * (size_t)total * nch), *out = malloc(sizeof(float) * (size_t)total * nch);
  unsigned char *pushed = malloc((size_t)total);
  for (int k = 0; k < total * nch; k++) in[k] = (float)(k + 1);
  for (size_t di = 0; di < sizeof delays / sizeof delays[0]; di++) {
    const int dl = delays[di];
    mixstage__delay d;
    ck_assert_int_eq(mixstage__delay_init(g, &d, nch, dl), MIXSTAGE_OK);
    for (int pass = 0; pass < 2; pass++) {
      if (pass) { /* the history left by the first pass must go */
        float *io[3];
        for (int c = 0; c < nch; c++) io[c] = out + (size_t)c * total;
        mixstage__delay_process(&d, io, nch, 777);
        mixstage__delay_clear(&d);
      }
      memcpy(out, in, sizeof(float) * (size_t)total * nch);
      uint32_t s = 99u + (uint32_t)dl + 1000u * (uint32_t)pass;
      for (int done = 0; done < total;) {
        s ^= s << 13;
        s ^= s >> 17;
        s ^= s << 5;
        const uint32_t kind = (s >> 8) % 8;
        int m = kind == 0 ? 1 + (int)(s % 2500u) : kind < 3 ? 1 + (int)(s % 700u) : 1 + (int)(s % 64u);
        if (m > total - done) m = total - done;
        float *io[3];
        for (int c = 0; c < nch; c++) io[c] = out + (size_t)c * total + done;
        const int push = kind != 0 && (s >> 3) % 3 == 0; /* the long calls are read back */
        if (push) mixstage__delay_push(&d, (const float *const *)io, nch, m);
        else mixstage__delay_process(&d, io, nch, m);
        memset(pushed + done, push, (size_t)m);
        done += m;
      }
      int checked = 0;
      for (int c = 0; c < nch; c++)
        for (int i = 0; i < total; i++) {
          if (pushed[i]) { /* left as it was */
            ck_assert(out[(size_t)c * total + i] == in[(size_t)c * total + i]);
            continue;
          }
          checked++;
          const float want = i < dl ? 0.0f : in[(size_t)c * total + (size_t)(i - dl)];
          ck_assert_msg(out[(size_t)c * total + i] == want, "delay %d, pass %d, channel %d, frame %d: %g, want %g",
                        dl, pass, c, i, out[(size_t)c * total + i], want);
        }
      ck_assert_int_gt(checked, total); /* most frames are read back */
    }
    mixstage__delay_free(g, &d);
  }
  free(in);
  free(out);
  free(pushed);
  mixstage_graph_destroy(g);
}
END_TEST

/* The true-peak meter passes over blocks that cannot raise its reading
 * (truepeak.c, block_below).  Its reading must be the one the interpolator
 * gives over every block: here that reading is computed plainly (every
 * interpolated sample as the kernels sum it, every one refined in time
 * order) for signals with a loud start, then quiet passages, decays and
 * silence (skipped blocks), then a louder bright burst (computed blocks
 * after skipped ones), fed in pieces of 1 .. 700 frames, stereo.  Equality
 * is exact: the reading, the two interpolated samples carried to the next
 * block and the input history. */
static double tp_refine(double a, double b, double c) {
  double ab = fabs(b);
  if (!((b >= a && b >= c) || (b <= a && b <= c))) return ab;
  double den = a - 2.0 * b + c;
  if (den == 0.0) return ab;
  double d = a - c;
  double v = fabs(b - d * d / (8.0 * den));
  return v > ab ? v : ab;
}

START_TEST(test_true_peak_skips_exact) {
  enum { N = 48000 * 3, CH = 2 };
  static mixstage__truepeak tp;
  float *x = malloc(sizeof(float) * N * CH);
  float *plan = malloc(sizeof(float) * N);
  float *y = malloc(sizeof(float) * (4 * (size_t)N + 2));
  ck_assert_ptr_nonnull(x);
  ck_assert_ptr_nonnull(plan);
  ck_assert_ptr_nonnull(y);
  uint32_t r = 12345u + 977u * (uint32_t)_i;
  for (int i = 0; i < N; i++) {
    double t = i / 48000.0, v;
    r = r * 1664525u + 1013904223u;
    double noise = ((double)(r >> 8) / 16777216.0 - 0.5);
    if (t < 0.25) v = 0.5 * sin(6.283185307179586 * 997.0 * t) + 0.1 * noise;             /* loud start */
    else if (t < 1.0) v = 0.02 * sin(6.283185307179586 * 220.0 * t) * exp(-(t - 0.25) * 6); /* quiet decay */
    else if (t < 1.5) v = 0.0;                                                      /* silence */
    else if (t < 2.0) v = 0.3 * noise;                                              /* below the peak */
    else if (t < 2.1) v = (_i % 2 ? 0.95 : 0.7) * sin(6.283185307179586 * 11025.0 * t + 0.3); /* bright, louder */
    else v = 0.001 * noise;                                                          /* quiet again */
    x[(size_t)i * CH] = (float)v;
    x[(size_t)i * CH + 1] = (float)(_i % 3 == 0 ? -v : 0.5 * v);
  }
  mixstage__truepeak_init(&tp, CH);
  for (int i = 0; i < N;) {
    r = r * 1664525u + 1013904223u;
    int n = 1 + (int)((r >> 8) % 700u);
    if (n > N - i) n = N - i;
    mixstage__truepeak_add(&tp, x + (size_t)i * CH, n);
    i += n;
  }
  for (int c = 0; c < CH; c++) {
    for (int i = 0; i < N; i++) plan[i] = x[(size_t)i * CH + c];
    double peak = 0.0;
    y[0] = y[1] = 0.0f; /* the two interpolated samples before the start */
    for (int n = 0; n < N; n++) {
      for (int p = 0; p < 4; p++) {
        float acc = 0.0f;
        for (int k = 0; k < MIXSTAGE__TP_TAPS; k++) acc += tp.coef[k][p] * (n - k >= 0 ? plan[n - k] : 0.0f);
        y[2 + 4 * (size_t)n + p] = acc;
      }
      double a = fabs((double)plan[n]);
      if (a > peak) peak = a;
    }
    for (size_t j = 2; j < 4 * (size_t)N + 2; j++) {
      double v = tp_refine(y[j - 2], y[j - 1], y[j]);
      if (v > peak) peak = v;
    }
    double got = mixstage__truepeak_value(&tp, c);
    ck_assert_msg(got == peak, "case %d channel %d: %.17g, every block read %.17g", _i, c, got, peak);
    ck_assert(tp.ch[c].prev1 == y[4 * (size_t)N + 1]);
    ck_assert(tp.ch[c].prev2 == y[4 * (size_t)N]);
    for (int k = 0; k < MIXSTAGE__TP_TAPS - 1; k++)
      ck_assert(tp.ch[c].hist[k] == plan[N - (MIXSTAGE__TP_TAPS - 1) + k]);
  }
  free(x);
  free(plan);
  free(y);
}
END_TEST

static void add_dynamics_kernel_tests(TCase *tc); /* section at the end of the file */
static void add_max_frames_tests(TCase *tc);      /* section at the end of the file */
static void add_mixer_kernel_tests(TCase *tc);   /* the last section */

int main(void) {
  Suite *s = suite_create("kernels");
  TCase *tc = tcase_create("fast paths");
  tcase_set_timeout(tc, 60);
  tcase_add_test(tc, test_fast_log2_exp2);
  tcase_add_test(tc, test_comp_float_conversions);
  tcase_add_test(tc, test_comp_ballistics_need_double);
  tcase_add_loop_test(tc, test_comp_lanes_vs_double, 0, 9);
  tcase_add_loop_test(tc, test_comp_lanes_exact, 0, 30);
  tcase_add_test(tc, test_eq_flat_skip_exact);
  tcase_add_test(tc, test_eq_all_flat_is_identity);
  tcase_add_loop_test(tc, test_svf_kernels_vs_double, 0, 9);
  tcase_add_test(tc, test_limiter_true_peak_switch);
  tcase_add_test(tc, test_limiter_rest_shortcut);
  tcase_add_test(tc, test_os_memory);
  tcase_add_test(tc, test_os2_phase_split_exact);
  tcase_add_test(tc, test_delay_line_exact);
  tcase_add_loop_test(tc, test_true_peak_skips_exact, 0, 4);
  add_dynamics_kernel_tests(tc);
  add_max_frames_tests(tc);
  add_mixer_kernel_tests(tc);
  suite_add_tcase(s, tc);
  SRunner *sr = srunner_create(s);
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

/* ==== dynamics kernels (lib/dsp/dynamics.*) ================================ */

/* The linked block detector (SSE2 max of |x| over the channels, the hold
 * window a segment run at a time, RMS per channel, two channels' RMS side
 * by side in four-frame blocks), and its float powers, against the per-frame
 * per-channel detector it replaces: the same levels bit for bit, for 1..9
 * channels, peak and RMS, key high-pass off and on, blocks of 1..97 frames
 * (across the 64-frame inner pass and the segment boundaries), on rising
 * ramps (so a frame's own value is often the held maximum) with NaN,
 * infinities, float denormals, signed zeros and +-1e6 mixed in. */
START_TEST(test_dyn_linked_detector_exact) {
  const int n = 3000;
  uint32_t s = 12345u;
  for (int nch = 1; nch <= 9; nch++)
    for (int mode = 0; mode < 2; mode++)
      for (int hpf = 0; hpf < 2; hpf++) {
        float *x[9];
        for (int c = 0; c < nch; c++) {
          x[c] = fbuf(n);
          tu_noise(x[c], n, 1.0, 100u + (uint32_t)(nch * 10 + c));
          for (int i = 0; i < n; i++) {
            s ^= s << 13; s ^= s >> 17; s ^= s << 5;
            switch (s % 61u) {
              case 0: x[c][i] = NAN; break;
              case 1: x[c][i] = (s & 64u) ? 1e-41f : -3e-42f; break;
              case 2: x[c][i] = (s & 64u) ? -0.0f : 0.0f; break;
              case 3: x[c][i] = (s & 64u) ? 1e6f : -1e6f; break;
              case 4: if (mode == 0 && !hpf) x[c][i] = (s & 64u) ? INFINITY : -INFINITY; break;
              /* rising ramps: the newest frame is often the window's maximum */
              default: x[c][i] = (float)(fabs(x[c][i]) * 0.01 + (double)(i % 500) / 500.0); break;
            }
          }
        }
        /* a: the block detector, b: per frame, f: the float powers */
        mixstage__dyn_detector a, b, f;
        memset(&a, 0, sizeof a);
        memset(&b, 0, sizeof b);
        memset(&f, 0, sizeof f);
        mixstage__dyn_detector_set(&a, mode, 7.0, hpf ? 90.0 : 0.0, FS);
        mixstage__dyn_detector_set(&b, mode, 7.0, hpf ? 90.0 : 0.0, FS);
        mixstage__dyn_detector_set(&f, mode, 7.0, hpf ? 90.0 : 0.0, FS);
        mixstage__dyn_detector_reset(&a);
        mixstage__dyn_detector_reset(&b);
        mixstage__dyn_detector_reset(&f);
        const float *src[9];
        for (int c = 0; c < nch; c++) src[c] = x[c];
        double lvl[97], pw[9];
        float pwf[97];
        int diff = 0, diff_f = 0;
        for (int done = 0; done < n;) {
          s ^= s << 13; s ^= s >> 17; s ^= s << 5;
          int len = 1 + (int)(s % 97u);
          if (len > n - done) len = n - done;
          mixstage__dyn_detector_run_linked(&a, src, nch, done, len, lvl);
          mixstage__dyn_detector_run_linked_f(&f, src, nch, done, len, pwf);
          for (int i = 0; i < len; i++) {
            double m = mixstage__dyn_detector_run(&b, src, nch, done + i, pw);
            if (memcmp(&m, &lvl[i], sizeof m) != 0) diff++;
            const float mf = (float)m, want = mf > 0.0f ? mf : 0.0f; /* NaN as silence */
            if (memcmp(&want, &pwf[i], sizeof want) != 0) diff_f++;
          }
          done += len;
        }
        ck_assert_msg(diff == 0, "%d ch mode %d hpf %d: %d levels differ", nch, mode, hpf, diff);
        ck_assert_msg(diff_f == 0, "%d ch mode %d hpf %d: %d float powers differ", nch, mode, hpf, diff_f);
        for (int c = 0; c < nch; c++) free(x[c]);
      }
}
END_TEST

/* mixstage__dyn_apply_gain (SSE2 lanes + scalar tail) equals the scalar
 * float product for every length 0..37 and misaligned starts. */
START_TEST(test_dyn_apply_gain_exact) {
  float x[48], y[48], g[48];
  uint32_t s = 7u;
  for (int off = 0; off < 4; off++)
    for (int n = 0; n <= 37; n++) {
      for (int i = 0; i < 48; i++) {
        s ^= s << 13; s ^= s >> 17; s ^= s << 5;
        x[i] = y[i] = (float)((double)(s % 20001u) / 10000.0 - 1.0);
        g[i] = (float)((double)(s % 997u) / 300.0);
      }
      mixstage__dyn_apply_gain(x + off, g + off, n);
      for (int i = 0; i < 48; i++) {
        float e = (i >= off && i < off + n) ? y[i] * g[i] : y[i];
        ck_assert_msg(memcmp(&e, &x[i], sizeof e) == 0, "n %d off %d: frame %d", n, off, i);
      }
    }
}
END_TEST

static void add_dyn_cell_tests(TCase *tc); /* next section */

static void add_dynamics_kernel_tests(TCase *tc) {
  tcase_add_test(tc, test_dyn_linked_detector_exact);
  tcase_add_test(tc, test_dyn_apply_gain_exact);
  add_dyn_cell_tests(tc);
}

/* ==== whole-cell dynamics conversions (two lanes) ======================== */

/* The compressor converts a control cell at a time with the two-lane
 * functions of dynamics.h.  They promise the scalar functions' bits (same
 * IEEE operations per lane), so every check here is exact: any lane, tail
 * or masking defect shows as a differing bit.  The scalar functions' own
 * error bounds against libm are checked by test_fast_log2_exp2. */

static int same_bits(double a, double b) { return memcmp(&a, &b, sizeof a) == 0; }

static uint32_t xs32(uint32_t *s) {
  *s ^= *s << 13;
  *s ^= *s >> 17;
  *s ^= *s << 5;
  return *s;
}

/* Under a sanitizer the two sweeps take steps ten times as long (still
 * about 500 points a binade, every binade; the edge and special values
 * all): there is no memory here to watch, and the plain run compares every
 * point of the fine sweeps. */
START_TEST(test_dyn_v2_conversions_exact) {
#ifdef __SSE2__
  int diff = 0;
  const int coarse = getenv("MIXSTAGE_SANITIZER") != NULL;
  const double log_step = coarse ? 1.00013 : 1.000013, exp_step = coarse ? 3.1e-3 : 3.1e-4;
  /* log2: every binade the callers reach (1e-60 .. 1e12) and the mantissa
   * split at sqrt(2) */
  for (double x = 1e-60; x < 1e12; x *= log_step) {
    double a[2];
    _mm_storeu_pd(a, mixstage__log2_fast_v2(_mm_set_pd(x * 1.0000003, x)));
    diff += !same_bits(a[0], mixstage__log2_fast(x));
    diff += !same_bits(a[1], mixstage__log2_fast(x * 1.0000003));
  }
  const double near_split[] = {1.4142135623730949, 1.4142135623730951, 1.4142135623730954,
                               0.70710678118654746, 0.70710678118654757, 1.0, 2.0, 0.5};
  for (int i = 0; i < 8; i++) {
    double a[2];
    _mm_storeu_pd(a, mixstage__log2_fast_v2(_mm_set1_pd(near_split[i])));
    diff += !same_bits(a[0], mixstage__log2_fast(near_split[i]));
  }
  ck_assert_msg(diff == 0, "log2: %d lanes differ from the scalar", diff);
  /* exp2: the whole domain, its edges and the special inputs */
  for (double x = -1023.0; x <= 1.0; x += exp_step) {
    double a[2];
    _mm_storeu_pd(a, mixstage__exp2_fast_v2(_mm_set_pd(x - 1.3e-4, x)));
    diff += !same_bits(a[0], mixstage__exp2_fast(x));
    diff += !same_bits(a[1], mixstage__exp2_fast(x - 1.3e-4));
  }
  const double edge[] = {-1022.0, -1021.9999999, -1021.5, -1021.0, -1020.9999, -1e-300,
                         -0.0,    0.0,           1e-300,  5.0,     -2000.0,    NAN,
                         -INFINITY, INFINITY};
  for (int i = 0; i < 14; i++) {
    double a[2];
    _mm_storeu_pd(a, mixstage__exp2_fast_v2(_mm_set_pd(-0.25, edge[i])));
    diff += !same_bits(a[0], mixstage__exp2_fast(edge[i]));
  }
  ck_assert_msg(diff == 0, "exp2: %d lanes differ from the scalar", diff);
#endif
}
END_TEST

/* Cell functions against their scalar definitions: random curves (thresholds,
 * ratios and knees over the compressor's parameter ranges, knee 0 included),
 * every length 0..33 (lanes plus a tail), levels below the floor, at the
 * knee edges, silent, NaN and infinite. */
START_TEST(test_dyn_cell_target_gain_exact) {
  uint32_t s = 12345u;
  int diff = 0, in_knee = 0, above = 0, below = 0;
  for (int trial = 0; trial < 400; trial++) {
    double thr = -60.0 + 60.0 * (xs32(&s) % 10001u) / 10000.0;
    double ratio = 1.0 + 49.0 * (xs32(&s) % 10001u) / 10000.0;
    double knee = trial % 5 == 0 ? 0.0 : 24.0 * (xs32(&s) % 10001u) / 10000.0;
    double slope = 1.0 - 1.0 / ratio, pf = mixstage__dyn_compress_floor_power(thr, knee);
    int n = trial % 34;
    double lvl[40], tg[40], gr[40], g[40];
    for (int i = 0; i < n; i++) {
      uint32_t r = xs32(&s);
      double db = thr - knee + (2.0 * knee + 30.0) * (r % 100001u) / 100000.0 - 10.0;
      lvl[i] = pow(10.0, db / 10.0);
      if (r % 17u == 0) lvl[i] = 0.0;
      if (r % 19u == 0) lvl[i] = NAN;
      if (r % 23u == 0) lvl[i] = INFINITY;
      if (r % 29u == 0) lvl[i] = pf; /* exactly at the floor */
      if (r % 31u == 0) lvl[i] = pow(10.0, (thr + 0.5 * knee) / 10.0); /* the upper knee edge */
    }
    mixstage__dyn_compress_target_n(lvl, tg, n, pf, thr, slope, knee);
    for (int i = 0; i < n; i++) {
      double ref = lvl[i] >= pf ? mixstage__dyn_compress_gr(mixstage__dyn_power_to_db(lvl[i]), thr,
                                                            ratio, knee)
                                : 0.0;
      diff += !same_bits(tg[i], ref);
      double over2 = 2.0 * (mixstage__dyn_power_to_db(lvl[i]) - thr);
      if (ref == 0.0) below++;
      else if (over2 < knee) in_knee++;
      else above++;
      gr[i] = (i % 3 == 0) ? 0.0 : ref * (0.1 + (xs32(&s) % 1000u) / 100.0);
      if (i % 7 == 6) gr[i] = 2000.0; /* past the exp2 floor: gain 0 */
    }
    mixstage__dyn_gr_to_gain_n(gr, g, n);
    for (int i = 0; i < n; i++) diff += !same_bits(g[i], mixstage__dyn_gr_to_gain(gr[i]));
  }
  ck_assert_msg(diff == 0, "%d cell values differ from the scalar", diff);
  /* all three regions of the curve were exercised */
  ck_assert_msg(below > 100 && in_knee > 100 && above > 100, "regions %d %d %d", below, in_knee,
                above);
}
END_TEST

/* The node with its staged cell against itself rendered in one call: random
 * settings (auto release on and off, makeup and mix ramping after a change
 * mid-stream), mono, stereo and 6 channels, random block lengths 1..32 with
 * the changes landing mid-cell.  Sample-sequential state and the control
 * grid make every split give the same bits; gain_trace stays exact. */
START_TEST(test_dyn_cell_node_split_exact) {
  static const int chans[3] = {1, 2, 6};
  uint32_t s = 777u;
  for (int ci = 0; ci < 3; ci++)
    for (int ar = 0; ar < 2; ar++) {
      const int n = 9600, nch = chans[ci];
      float *x[6], *y1[6], *y2[6];
      for (int c = 0; c < nch; c++) {
        x[c] = fbuf(n);
        y1[c] = fbuf(n);
        y2[c] = fbuf(n);
        tu_noise(x[c], n, 1.0, 40u + (unsigned)c);
        for (int i = 0; i < n; i++)
          x[c][i] = (float)(x[c][i] * ((i / 1200) % 2 ? 0.6 : 0.004));
        memcpy(y1[c], x[c], sizeof(float) * (size_t)n);
        memcpy(y2[c], x[c], sizeof(float) * (size_t)n);
      }
      double thr = -40.0 + 30.0 * (xs32(&s) % 1001u) / 1000.0;
      double ratio = 1.5 + 10.0 * (xs32(&s) % 1001u) / 1000.0;
      double knee = 12.0 * (xs32(&s) % 1001u) / 1000.0;
      int change_at = 3000 + (int)(xs32(&s) % 2000u); /* not on the grid in general */
      mixstage__node_host *h[2];
      for (int k = 0; k < 2; k++) {
        h[k] = mk("compressor", nch);
        setp(h[k], "threshold", thr);
        setp(h[k], "ratio", ratio);
        setp(h[k], "knee", knee);
        setp(h[k], "attack", 1.0);
        setp(h[k], "release", 80.0);
        setp(h[k], "auto_release", (double)ar);
        setp(h[k], "makeup", 3.0);
        setp(h[k], "mix", 70.0);
      }
      /* h[0]: two calls split at the change (the host cuts them into cells on
       * the grid); h[1]: random blocks of 1..32 frames, traced */
      int done = 0, trace_diff = 0;
      while (done < n) {
        int len = 1 + (int)(xs32(&s) % 32u);
        if (done < change_at && done + len > change_at) len = change_at - done;
        if (len > n - done) len = n - done;
        if (done == change_at) {
          setp(h[1], "makeup", -2.0);
          setp(h[1], "mix", 100.0);
          setp(h[1], "threshold", thr - 6.0);
        }
        float *p[6], in[6][32], *tr[6], gt[6][32];
        for (int c = 0; c < nch; c++) {
          p[c] = y2[c] + done;
          memcpy(in[c], p[c], sizeof(float) * (size_t)len);
          tr[c] = gt[c];
        }
        ck_assert(mixstage__host_process_traced(h[1], p, len, NULL, 0, tr));
        for (int c = 0; c < nch; c++)
          for (int i = 0; i < len; i++) trace_diff += gt[c][i] * in[c][i] != p[c][i];
        done += len;
      }
      for (int part = 0; part < 2; part++) {
        int a = part ? change_at : 0, b = part ? n : change_at;
        if (part) {
          setp(h[0], "makeup", -2.0);
          setp(h[0], "mix", 100.0);
          setp(h[0], "threshold", thr - 6.0);
        }
        float *p[6];
        for (int c = 0; c < nch; c++) p[c] = y1[c] + a;
        mixstage__host_process(h[0], p, b - a, NULL, 0);
      }
      int diff = 0, changed = 0;
      for (int c = 0; c < nch; c++)
        for (int i = 0; i < n; i++) {
          diff += memcmp(&y1[c][i], &y2[c][i], sizeof(float)) != 0;
          changed += y1[c][i] != x[c][i];
        }
      ck_assert_msg(diff == 0, "%d ch auto %d: %d samples depend on the split", nch, ar, diff);
      ck_assert_msg(trace_diff == 0, "%d ch: %d samples are not trace * in", nch, trace_diff);
      ck_assert_msg(changed > n / 2, "%d ch: the compressor did nothing", nch);
      for (int k = 0; k < 2; k++) mixstage__host_destroy(h[k]);
      for (int c = 0; c < nch; c++) {
        free(x[c]);
        free(y1[c]);
        free(y2[c]);
      }
    }
}
END_TEST

static void add_dyn_cell_tests(TCase *tc) {
  tcase_add_test(tc, test_dyn_v2_conversions_exact);
  tcase_add_test(tc, test_dyn_cell_target_gain_exact);
  tcase_add_test(tc, test_dyn_cell_node_split_exact);
}

/* ==== max_frames: one call of several cells (node.h) ========================== */

/* A class instance outside a graph, as the engine holds one. */
typedef struct mf_inst {
  void *state;
  double p[64];
} mf_inst;

static void *mf_alloc(void *u, size_t n) { (void)u; return calloc(1, n); }
static void mf_free(void *u, void *p) { (void)u; free(p); }
static const mixstage__allocator mf_allocator = {mf_alloc, mf_free, NULL};

static uint32_t mf_rand(uint32_t *r) {
  *r = *r * 1664525u + 1013904223u;
  return *r >> 8;
}

/* New values for every parameter the engine moves at a boundary
 * (automatable ones): uniform in the range, whole choices for enums;
 * with defaults, the defaults (a bias back to 0 sends the saturation's DC
 * blocker into its release, say). */
static void mf_params(const mixstage__node_class *cls, double *p, uint32_t *r, int defaults, int structural) {
  for (int i = 0; i < cls->num_params; i++) {
    const mixstage_param_info *pi = &cls->params[i];
    if (!pi->automatable && !structural) continue;
    if (defaults) {
      p[i] = pi->def;
      continue;
    }
    double u = (double)(mf_rand(r) & 0xffff) / 65535.0;
    p[i] = pi->min + (pi->max - pi->min) * u;
    if (pi->unit == MIXSTAGE_UNIT_ENUM || pi->choices) p[i] = floor(p[i] + 0.5);
  }
}

static void mf_signal(float *x, int n, uint32_t *r, float level) {
  for (int i = 0; i < n; i++) {
    /* noise from near the filters' flush threshold of 1e-30 (from reset,
     * where their flush points matter), loud, near-silent (dynamics move) */
    float v = ((float)(mf_rand(r) & 0xffff) / 32768.0f - 1.0f) * level;
    int part = (i / 300) % 4;
    x[i] = part == 0 ? v * 1e-31f : part == 3 ? v * 1e-4f : v;
  }
}

/* Every class that sets max_frames: instance A processes on the 32-frame
 * grid (a call per cell, as the engine called every node before), B in
 * calls of random length up to max_frames that cross the grid, starting
 * mid-cell too; both get the same update() calls at cell boundaries (random
 * parameters, defaults, random again).  Output and gain reduction must be
 * the same bits: max_frames promises exactly that, and the engine relies
 * on it to give renders the same bits whatever it passes.  For a class with
 * process_lanes, B's three instances go through it in one call. */
START_TEST(test_max_frames_split_exact) {
  static const char *const names[] = {"eq", "saturation", "gain", "width", "tilt_eq", "gate"};
  const char *name = names[_i % 6];
  const int round = _i / 6;
  const mixstage__node_class *cls = mixstage__find_node_class(name);
  ck_assert_ptr_nonnull(cls);
  ck_assert_int_gt(cls->max_frames, MIXSTAGE_CONTROL_FRAMES);
  ck_assert_int_le(cls->num_params, 64);
  static const int chans[] = {2, 1, 6, 2};
  const int nch = chans[round % 4];
  enum { M = 3, N = 2400 };
  uint32_t r = 0x9e3779b9u * (uint32_t)(_i + 1);
  mixstage__node_env env = {48000.0, 120.0, nch, &mf_allocator};
  mf_inst a[M], b[M];
  double p0[64];
  mf_params(cls, p0, &r, 0, 1); /* structural ones too (oversampling), fixed from here */
  for (int m = 0; m < M; m++) {
    mf_inst *in[2] = {&a[m], &b[m]};
    for (int k = 0; k < 2; k++) {
      in[k]->state = calloc(1, cls->state_size);
      ck_assert_ptr_nonnull(in[k]->state);
      memcpy(in[k]->p, p0, sizeof p0);
      if (cls->init) ck_assert_int_eq(cls->init(in[k]->state, &env), MIXSTAGE_OK);
      cls->update(in[k]->state, in[k]->p);
      if (cls->reset) cls->reset(in[k]->state);
    }
  }
  float *xa[M][6], *xb[M][6], *key[2];
  for (int m = 0; m < M; m++)
    for (int c = 0; c < nch; c++) {
      xa[m][c] = malloc(sizeof(float) * N);
      xb[m][c] = malloc(sizeof(float) * N);
      mf_signal(xa[m][c], N, &r, round & 1 ? 4.0f : 0.5f);
      memcpy(xb[m][c], xa[m][c], sizeof(float) * N);
    }
  for (int c = 0; c < 2; c++) {
    key[c] = malloc(sizeof(float) * N);
    mf_signal(key[c], N, &r, 1.0f);
  }
  const int with_key = cls->accepts_key && (round & 2);
  /* update() at these cell boundaries: random, defaults, random */
  const int upd[] = {512, 1024, 1536, N};
  int next_upd = 0;
  int pos = 0;
  while (pos < N) {
    if (pos == upd[next_upd]) {
      double pn[64];
      memcpy(pn, a[0].p, sizeof pn);
      mf_params(cls, pn, &r, next_upd == 1, 0);
      for (int m = 0; m < M; m++) {
        cls->update(a[m].state, pn);
        cls->update(b[m].state, pn);
      }
      next_upd++;
    }
    /* B's call: 1 .. max_frames frames, not past the next update */
    int len = pos == 0 ? 5 : 1 + (int)(mf_rand(&r) % (uint32_t)cls->max_frames);
    if (pos + len > upd[next_upd]) len = upd[next_upd] - pos;
    float *bb[M][6];
    float *const *bufs[M];
    void *states[M];
    const float *kb[2] = {key[0] + pos, key[1] + pos};
    const float *const *keys[M];
    int knch[M];
    for (int m = 0; m < M; m++) {
      for (int c = 0; c < nch; c++) bb[m][c] = xb[m][c] + pos;
      bufs[m] = bb[m];
      states[m] = b[m].state;
      keys[m] = with_key ? kb : NULL;
      knch[m] = with_key ? 2 : 0;
    }
    if (!(cls->process_lanes && cls->process_lanes(states, bufs, keys, knch, M, nch, len)))
      for (int m = 0; m < M; m++) cls->process(b[m].state, bb[m], nch, len, keys[m], knch[m]);
    /* A: the same frames a cell at a time */
    for (int f = pos; f < pos + len;) {
      int n = MIXSTAGE_CONTROL_FRAMES - f % MIXSTAGE_CONTROL_FRAMES;
      if (n > pos + len - f) n = pos + len - f;
      const float *ka[2] = {key[0] + f, key[1] + f};
      for (int m = 0; m < M; m++) {
        float *ab[6];
        for (int c = 0; c < nch; c++) ab[c] = xa[m][c] + f;
        cls->process(a[m].state, ab, nch, n, with_key ? ka : NULL, with_key ? 2 : 0);
      }
      f += n;
    }
    pos += len;
    if (cls->gain_reduction)
      for (int m = 0; m < M; m++) {
        float ga = cls->gain_reduction(a[m].state), gb = cls->gain_reduction(b[m].state);
        ck_assert_msg(memcmp(&ga, &gb, sizeof ga) == 0, "%s: gain reduction %g vs %g at %d", name, ga, gb, pos);
      }
  }
  for (int m = 0; m < M; m++)
    for (int c = 0; c < nch; c++)
      for (int i = 0; i < N; i++)
        ck_assert_msg(memcmp(&xa[m][c][i], &xb[m][c][i], sizeof(float)) == 0,
                      "%s (%d ch, round %d): instance %d channel %d frame %d: %.9g per cell, %.9g in long calls",
                      name, nch, round, m, c, i, xa[m][c][i], xb[m][c][i]);
  for (int m = 0; m < M; m++) {
    for (int c = 0; c < nch; c++) {
      free(xa[m][c]);
      free(xb[m][c]);
    }
    if (cls->fini) {
      cls->fini(a[m].state, &env);
      cls->fini(b[m].state, &env);
    }
    free(a[m].state);
    free(b[m].state);
  }
  free(key[0]);
  free(key[1]);
}
END_TEST

/* Eight rounds per class; under a sanitizer the first four, which already
 * take every channel count (2, 1, 6), with and without a key, quiet and
 * loud: rounds 4..7 repeat those shapes with other random parameters, new
 * arithmetic for the plain run, no new memory paths for the sanitizer. */
static void add_max_frames_tests(TCase *tc) {
  tcase_add_loop_test(tc, test_max_frames_split_exact, 0, 6 * (getenv("MIXSTAGE_SANITIZER") ? 4 : 8));
}
/* ==== mixer kernels (lib/dsp/mixer.*) ====================================== */

/* Every form of the mixer's kernels (plain scalar, four lanes, AVX where
 * the CPU has it) against the formulas of mixer.h written out here sample
 * by sample: the same bits, for lengths 0..70 and around whole blocks (so
 * every vector loop and every remainder runs), starts misaligned by 0..3
 * floats, inputs with signed zeros, float denormals, values whose half is
 * denormal and +-1e30 mixed in, and no write outside the frames asked for.
 * Bus sums take 0..9 inputs, for the channels of mono, stereo and 6-channel
 * buses (a bus sums each channel on its own). */

#include "dsp/mixer.h"

#define MIXK_LEN 600 /* longest run tested (517) plus offsets and a guard */
#define MIXK_GUARD 1234.5f

static float mixk_value(uint32_t *s) {
  uint32_t r = xs32(s);
  switch (r % 29u) {
    case 0: return (r & 64u) ? -0.0f : 0.0f;
    case 1: return (r & 64u) ? 1e-41f : -3e-42f;
    case 2: return (r & 64u) ? 1.5e-38f : -1.2e-38f; /* half of it is denormal */
    case 3: return (r & 64u) ? 1e30f : -1e30f;
    default: return (float)((double)(xs32(s) % 200001u) / 50000.0 - 2.0);
  }
}

static void mixk_fill(float *x, int len, uint32_t *s) {
  for (int i = 0; i < len; i++) x[i] = mixk_value(s);
}

static void mixk_guard(float *x) {
  for (int i = 0; i < MIXK_LEN; i++) x[i] = MIXK_GUARD;
}

/* y[off .. off+n-1] holds e[0 .. n-1] bit for bit, the rest the guard
 * (one assertion per buffer: each one costs a write to check's log). */
static void mixk_expect(const float *y, const float *e, int off, int n, const char *what, int form, int len) {
  int bad = -1;
  for (int i = 0; i < MIXK_LEN && bad < 0; i++) {
    float want = i >= off && i < off + n ? e[i - off] : MIXK_GUARD;
    if (memcmp(&want, &y[i], sizeof want) != 0) bad = i;
  }
  if (bad >= 0) {
    float want = bad >= off && bad < off + n ? e[bad - off] : MIXK_GUARD;
    ck_abort_msg("%s form %d, %d frames at offset %d: sample %d is %a, not %a", what, form, len, off, bad - off,
                 (double)y[bad], (double)want);
  }
}

static const int mixk_lengths[] = {0,  1,  2,  3,  4,  5,  6,  7,  8,  9,  11, 13, 15, 16,  17,  23,  31,
                                   32, 33, 39, 47, 63, 64, 65, 67, 70, 127, 129, 255, 256, 257, 511, 517};
#define MIXK_NLEN ((int)(sizeof mixk_lengths / sizeof mixk_lengths[0]))

/* The forms this build and CPU have: 0 and 1 always with GCC or clang. */
static int mixk_forms(const mixstage__mixer **k) {
  int n = 0;
  for (int f = 0; f < 3; f++)
    if ((k[n] = mixstage__mixer_form(f)) != NULL) {
      ck_assert_int_eq(k[n]->form, f);
      n++;
    }
  ck_assert_msg(n >= 1 && k[0]->form == 0, "no scalar form");
#if defined(__GNUC__) || defined(__clang__)
  ck_assert_msg(n >= 2, "no four-lane form");
#endif
  ck_assert_msg(mixstage__mixer_best() == k[n - 1], "the best form is not the widest available");
  return n;
}

START_TEST(test_mixer_gain_kernels_exact) {
  const mixstage__mixer *k[3];
  int forms = mixk_forms(k);
  static float x[MIXK_LEN], d[2 * MIXK_LEN], y[MIXK_LEN], y2[MIXK_LEN], e[MIXK_LEN], e2[MIXK_LEN];
  uint32_t s = 99u;
  for (int f = 0; f < forms; f++)
    for (int li = 0; li < MIXK_NLEN; li++)
      for (int off = 0; off < 4; off++) {
        int n = mixk_lengths[li], xo = (off * 3 + li) % 4;
        float g = (li % 5 == 0) ? -0.70710677f : mixk_value(&s);
        mixk_fill(x, n + 4, &s);
        mixk_fill(d, 2 * n + 8, &s);
        /* scale, into another buffer and in place */
        mixk_guard(y);
        k[f]->scale(y + off, x + xo, g, n);
        for (int i = 0; i < n; i++) e[i] = x[xo + i] * g;
        mixk_expect(y, e, off, n, "scale", f, n);
        for (int i = 0; i < MIXK_LEN; i++) y2[i] = x[i];
        k[f]->scale(y2 + off, y2 + off, g, n);
        for (int i = 0; i < MIXK_LEN; i++) e2[i] = i >= off && i < off + n ? x[i] * g : x[i];
        ck_assert_msg(memcmp(e2, y2, sizeof y2) == 0, "scale in place, form %d, %d frames", f, n);
        /* add */
        mixk_guard(y);
        for (int i = 0; i < n; i++) y[off + i] = e[i] = mixk_value(&s);
        for (int i = 0; i < n; i++) e[i] += x[xo + i];
        k[f]->add(y + off, x + xo, n);
        mixk_expect(y, e, off, n, "add", f, n);
        /* de-interleave, with and without the gain */
        for (int scaled = 0; scaled < 2; scaled++) {
          mixk_guard(y);
          mixk_guard(y2);
          k[f]->deinterleave2(d + 2 * xo + (off & 1), y + off, y2 + xo, n, g, scaled);
          const float *src = d + 2 * xo + (off & 1);
          for (int i = 0; i < n; i++) {
            e[i] = scaled ? src[2 * i] * g : src[2 * i];
            e2[i] = scaled ? src[2 * i + 1] * g : src[2 * i + 1];
          }
          mixk_expect(y, e, off, n, scaled ? "deinterleave2 scaled (left)" : "deinterleave2 (left)", f, n);
          mixk_expect(y2, e2, xo, n, scaled ? "deinterleave2 scaled (right)" : "deinterleave2 (right)", f, n);
        }
      }
}
END_TEST

START_TEST(test_mixer_sum_exact) {
  const mixstage__mixer *k[3];
  int forms = mixk_forms(k);
  static float in[9][MIXK_LEN], acc[MIXK_LEN], e[MIXK_LEN];
  static const int layouts[] = {1, 2, 6};
  uint32_t s = 4242u;
  for (int f = 0; f < forms; f++)
    for (int li = 0; li < MIXK_NLEN; li++)
      for (int lay = 0; lay < 3; lay++)
        for (int c = 0; c < layouts[lay]; c++)
          for (int count = 0; count <= 9; count++)
            for (int zero = 0; zero < 2; zero++) {
              int n = mixk_lengths[li], off = (li + c + count) % 4;
              const float *x[9];
              for (int q = 0; q < count; q++) {
                mixk_fill(in[q], n + 4, &s);
                x[q] = in[q] + (q + c + zero) % 4;
              }
              mixk_guard(acc);
              for (int i = 0; i < n; i++) acc[off + i] = mixk_value(&s);
              for (int i = 0; i < n; i++) {
                float a = zero ? 0.0f : acc[off + i];
                for (int q = 0; q < count; q++) a += x[q][i];
                e[i] = a;
              }
              k[f]->sum(acc + off, x, count, n, zero);
              mixk_expect(acc, e, off, n, zero ? "sum from +0" : "sum", f, n);
            }
}
END_TEST

/* The stereo gain stage in all its variants: pre-fader copy or not, the
 * post-fader tap stored or not, mute gain 1 (out is post), 0.5 or 0, and
 * 0..2 sends; width, balance and fader gains random, 1 and -0 among them. */
START_TEST(test_mixer_stereo_exact) {
  const mixstage__mixer *k[3];
  int forms = mixk_forms(k);
  static float xl[MIXK_LEN], xr[MIXK_LEN], buf[10][MIXK_LEN], ex[10][MIXK_LEN];
  uint32_t s = 777u;
  for (int f = 0; f < forms; f++)
    for (int li = 0; li < MIXK_NLEN; li++)
      for (int variant = 0; variant < 36; variant++) {
        int n = mixk_lengths[li], pre = variant & 1, post = (variant >> 1) & 1, mute = (variant >> 2) % 3;
        int ns = variant / 12;
        int o[10];
        for (int b = 0; b < 10; b++) {
          o[b] = (b + li + variant) % 4;
          mixk_guard(buf[b]);
        }
        mixk_fill(xl, n + 4, &s);
        mixk_fill(xr, n + 4, &s);
        int xo = (li + variant) % 3;
        float gains[5];
        for (int j = 0; j < 5; j++) {
          uint32_t r = xs32(&s) % 8u;
          gains[j] = r == 0 ? 1.0f : r == 1 ? -0.0f : (float)((double)(xs32(&s) % 30001u) / 10000.0);
        }
        mixstage__mix_stereo t = {xl + xo, xr + xo,
                                  pre ? buf[0] + o[0] : NULL, pre ? buf[1] + o[1] : NULL,
                                  post ? buf[2] + o[2] : NULL, post ? buf[3] + o[3] : NULL,
                                  buf[4] + o[4], buf[5] + o[5],
                                  gains[0], gains[1], gains[2], gains[3], mute == 0 ? 1.0f : mute == 1 ? 0.5f : 0.0f,
                                  ns, {buf[6] + o[6], buf[8] + o[8]}, {buf[7] + o[7], buf[9] + o[9]},
                                  {gains[4], (float)((double)(xs32(&s) % 1001u) / 1000.0)}};
        int wrote[10] = {pre, pre, post, post, 1, 1, ns > 0, ns > 0, ns > 1, ns > 1};
        for (int i = 0; i < n; i++) {
          float a = xl[xo + i], b = xr[xo + i];
          float mid = 0.5f * (a + b), side = 0.5f * (a - b) * t.width;
          float l = (mid + side) * t.gl * t.fader, r = (mid - side) * t.gr * t.fader;
          ex[0][i] = a;
          ex[1][i] = b;
          ex[2][i] = l;
          ex[3][i] = r;
          ex[4][i] = t.mute == 1.0f ? l : l * t.mute;
          ex[5][i] = t.mute == 1.0f ? r : r * t.mute;
          ex[6][i] = l * t.send_g[0];
          ex[7][i] = r * t.send_g[0];
          ex[8][i] = l * t.send_g[1];
          ex[9][i] = r * t.send_g[1];
        }
        /* finite inputs (at most 517 sums of 2e30: no overflow) pass the check */
        ck_assert_msg(k[f]->stereo(&t, n) == 0, "stereo form %d, %d frames: finite input flagged", f, n);
        static const char *names[10] = {"pre L", "pre R", "post L", "post R", "out L",
                                        "out R", "send 1 L", "send 1 R", "send 2 L", "send 2 R"};
        for (int b = 0; b < 10; b++) mixk_expect(buf[b], ex[b], o[b], wrote[b] ? n : 0, names[b], f, n);
        if (n > 0) {
          /* one NaN or infinity anywhere, in either channel, is flagged */
          float *x = variant & 1 ? xr : xl;
          int at = xo + (int)(xs32(&s) % (uint32_t)n);
          float keep = x[at];
          x[at] = variant % 3 == 0 ? NAN : variant % 3 == 1 ? INFINITY : -INFINITY;
          ck_assert_msg(k[f]->stereo(&t, n) == 1, "stereo form %d, %d frames: %g at %d not flagged", f, n,
                        (double)x[at], at - xo);
          x[at] = keep;
        }
      }
}
END_TEST

static void add_mixer_kernel_tests(TCase *tc) {
  tcase_add_test(tc, test_mixer_gain_kernels_exact);
  tcase_add_test(tc, test_mixer_sum_exact);
  tcase_add_test(tc, test_mixer_stereo_exact);
}
