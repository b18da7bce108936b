/* libmixstage — translation previews through simulated playback systems.
 * The curves and their reasoning are documented in include/mixstage/translate.h.
 *
 * Per frame: channel stage (mono fold / width / mono sub) -> biquad cascade
 * (RBJ cookbook and Butterworth sections from lib/dsp/biquad.h, in double)
 * -> optional linked soft-knee compressor -> one rounding to float.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mixstage/translate.h"
#include "dsp/biquad.h"

#define TR_MAX_CHANNELS 64
#define TR_MAX_SPECS 6
#define TR_MAX_SECTIONS 8
#define TR_SIDE_SECTIONS 4 /* LR8 = two 4th-order Butterworths = 4 biquads */

typedef enum { SEC_NONE = 0, SEC_HP_BW, SEC_LP_BW, SEC_PEAK, SEC_LSHELF, SEC_HSHELF } sec_kind;

typedef struct {
  sec_kind kind;
  double f;
  double q_or_order; /* Q for bells/shelves, Butterworth order for HP/LP */
  double gain_db;
} sec_spec;

typedef enum { CH_STEREO = 0, CH_MONO, CH_WIDTH, CH_MONO_SUB } ch_mode;

typedef struct {
  int on;
  double threshold_db, ratio, knee_db, attack_ms, release_ms;
} comp_spec;

typedef struct {
  const char *name;
  const char *description;
  sec_spec sec[TR_MAX_SPECS];
  ch_mode mode;
  double width;     /* CH_WIDTH: side gain */
  double mono_hz;   /* CH_MONO_SUB: side high-pass (LR8) corner */
  comp_spec comp;
} system_spec;

static const system_spec systems[] = {
    {"laptop",
     "laptop speakers: HP 180 Hz 24 dB/oct, +3 dB 900 Hz, +2 dB 4 kHz, LP 15 kHz, width 0.35, "
     "protection compressor",
     {{SEC_HP_BW, 180.0, 4, 0.0},
      {SEC_PEAK, 900.0, 0.9, 3.0},
      {SEC_PEAK, 4000.0, 1.5, 2.0},
      {SEC_LP_BW, 15000.0, 2, 0.0}},
     CH_WIDTH, 0.35, 0.0, {1, -14.0, 4.0, 6.0, 2.0, 100.0}},
    {"phone",
     "phone speaker: HP 500 Hz 24 dB/oct, +5 dB 3 kHz, LP 12 kHz 24 dB/oct, mono, "
     "loudness compressor",
     {{SEC_HP_BW, 500.0, 4, 0.0}, {SEC_PEAK, 3000.0, 1.0, 5.0}, {SEC_LP_BW, 12000.0, 4, 0.0}},
     CH_MONO, 0.0, 0.0, {1, -20.0, 3.0, 10.0, 3.0, 120.0}},
    {"earbuds",
     "earbuds: HP 22 Hz, +4 dB low shelf 90 Hz, +4 dB 4.5 kHz, LP 17 kHz, full separation",
     {{SEC_HP_BW, 22.0, 2, 0.0},
      {SEC_LSHELF, 90.0, MIXSTAGE__Q_BUTTERWORTH, 4.0},
      {SEC_PEAK, 4500.0, 1.4, 4.0},
      {SEC_LP_BW, 17000.0, 2, 0.0}},
     CH_STEREO, 0.0, 0.0, {0, 0, 0, 0, 0, 0}},
    {"car",
     "car: cabin gain +6 dB below 70 Hz (HP 18 Hz), +3 dB 180 Hz, -2 dB 2.5 kHz, -3 dB above "
     "8 kHz, width 0.7",
     {{SEC_HP_BW, 18.0, 2, 0.0},
      {SEC_LSHELF, 70.0, MIXSTAGE__Q_BUTTERWORTH, 6.0},
      {SEC_PEAK, 180.0, 1.2, 3.0},
      {SEC_PEAK, 2500.0, 0.8, -2.0},
      {SEC_HSHELF, 8000.0, MIXSTAGE__Q_BUTTERWORTH, -3.0}},
     CH_WIDTH, 0.7, 0.0, {0, 0, 0, 0, 0, 0}},
    {"club",
     "club PA: HP 30 Hz 24 dB/oct, +5 dB 55 Hz, -4 dB above 9 kHz, mono below 100 Hz",
     {{SEC_HP_BW, 30.0, 4, 0.0},
      {SEC_PEAK, 55.0, 0.8, 5.0},
      {SEC_HSHELF, 9000.0, MIXSTAGE__Q_BUTTERWORTH, -4.0}},
     CH_MONO_SUB, 0.0, 100.0, {0, 0, 0, 0, 0, 0}},
};

#define NSYSTEMS ((int)(sizeof systems / sizeof systems[0]))

int mixstage_playback_system_count(void) { return NSYSTEMS; }

const char *mixstage_playback_system_name(int index) {
  return (index >= 0 && index < NSYSTEMS) ? systems[index].name : NULL;
}

const char *mixstage_playback_system_description(int index) {
  return (index >= 0 && index < NSYSTEMS) ? systems[index].description : NULL;
}

int mixstage_playback_system_find(const char *name) {
  if (!name) return MIXSTAGE_ENULL;
  for (int i = 0; i < NSYSTEMS; i++)
    if (strcmp(name, systems[i].name) == 0) return i;
  return MIXSTAGE_ENOTFOUND;
}

static int rate_ok(double rate) { return isfinite(rate) && rate >= 8000.0 && rate <= 768000.0; }

/* Designs the tonal cascade of @p s at @p fs; returns the section count.
 * Top-end sections (low-pass, high shelf, bells) at or above 0.45 fs are
 * dropped: the band they shape is not there, and clamping them to the
 * biquad's 0.49 fs limit would put a spurious feature at the top. */
static int design_cascade(const system_spec *s, double fs, mixstage__biquad *out) {
  int n = 0;
  for (int i = 0; i < TR_MAX_SPECS; i++) {
    const sec_spec *p = &s->sec[i];
    if (p->kind == SEC_NONE) break;
    if (p->kind != SEC_HP_BW && p->kind != SEC_LSHELF && p->f >= 0.45 * fs) continue;
    int k;
    switch (p->kind) {
    case SEC_HP_BW:
      k = mixstage__butterworth_highpass(out + n, (int)p->q_or_order, p->f, fs);
      n += k > 0 ? k : 0;
      break;
    case SEC_LP_BW:
      k = mixstage__butterworth_lowpass(out + n, (int)p->q_or_order, p->f, fs);
      n += k > 0 ? k : 0;
      break;
    case SEC_PEAK:
      mixstage__biquad_peaking(out + n++, p->f, p->q_or_order, p->gain_db, fs);
      break;
    case SEC_LSHELF:
      mixstage__biquad_lowshelf(out + n++, p->f, p->q_or_order, p->gain_db, fs);
      break;
    case SEC_HSHELF:
      mixstage__biquad_highshelf(out + n++, p->f, p->q_or_order, p->gain_db, fs);
      break;
    default:
      break;
    }
  }
  return n;
}

double mixstage_translate_response_db(int system, double freq, double rate) {
  if (system < 0 || system >= NSYSTEMS || !rate_ok(rate) || !isfinite(freq) || freq < 0.0 ||
      freq > 0.5 * rate)
    return NAN;
  mixstage__biquad c[TR_MAX_SECTIONS];
  int n = design_cascade(&systems[system], rate, c);
  return mixstage__biquad_cascade_db(c, n, freq, rate);
}

/* Feed-forward compressor after Giannoulis, Massberg & Reiss, "Digital
 * Dynamic Range Compressor Design - A Tutorial and Analysis" (JAES 60(6),
 * 2012): log-domain soft-knee gain computer, then a smooth branching peak
 * detector on the gain reduction (their eq. 4 and 17).  The detector is the
 * peak over all channels, so the image does not shift.  Below the knee the
 * reduction is exactly 0 and the gain exactly 1: quiet material passes
 * bit-transparently, which makes the designed curve measurable. */
typedef struct {
  double t, r, w, aa, ar, y;
} comp_state;

static void comp_init(comp_state *c, const comp_spec *s, double fs) {
  c->t = s->threshold_db;
  c->r = s->ratio;
  c->w = s->knee_db;
  c->aa = exp(-1.0 / (0.001 * s->attack_ms * fs));
  c->ar = exp(-1.0 / (0.001 * s->release_ms * fs));
  c->y = 0.0;
}

static double comp_gain(comp_state *c, double peak) {
  double xl = 0.0;
  if (peak > 1e-10) {
    double xg = 20.0 * log10(peak), d = xg - c->t, yg;
    if (2.0 * d < -c->w)
      yg = xg;
    else if (2.0 * fabs(d) <= c->w)
      yg = xg + (1.0 / c->r - 1.0) * (d + 0.5 * c->w) * (d + 0.5 * c->w) / (2.0 * c->w);
    else
      yg = c->t + d / c->r;
    xl = xg - yg;
  }
  double a = xl > c->y ? c->aa : c->ar;
  c->y = a * c->y + (1.0 - a) * xl;
  /* Back to exact unity once the reduction is inaudible (and no denormals). */
  if (c->y < 1e-9) c->y = 0.0;
  return c->y == 0.0 ? 1.0 : pow(10.0, -c->y / 20.0);
}

int mixstage_translate(const float *in, int64_t frames, int channels, double rate, int system,
                       float *out) {
  if (frames < 0 || channels < 1 || channels > TR_MAX_CHANNELS || !rate_ok(rate))
    return MIXSTAGE_EINVAL;
  if (system < 0 || system >= NSYSTEMS) return MIXSTAGE_ERANGE;
  if (frames > 0 && (!in || !out)) return MIXSTAGE_ENULL;

  const system_spec *s = &systems[system];
  mixstage__biquad eq[TR_MAX_SECTIONS], side[TR_SIDE_SECTIONS];
  mixstage__biquad_state st[TR_MAX_CHANNELS][TR_MAX_SECTIONS];
  mixstage__biquad_state sst[TR_MAX_CHANNELS][TR_SIDE_SECTIONS];
  memset(st, 0, sizeof st);
  memset(sst, 0, sizeof sst);
  int neq = design_cascade(s, rate, eq);
  int nside = 0;
  if (s->mode == CH_MONO_SUB) nside = mixstage__linkwitz_riley(side, 8, 1, s->mono_hz, rate);
  if (nside < 0) nside = 0;
  comp_state comp = {0};
  if (s->comp.on) comp_init(&comp, &s->comp, rate);

  double x[TR_MAX_CHANNELS];
  const double inv_n = 1.0 / channels;
  for (int64_t i = 0; i < frames; i++) {
    const float *fi = in + i * channels;
    float *fo = out + i * channels;
    double mid = 0.0;
    for (int c = 0; c < channels; c++) {
      x[c] = (double)fi[c];
      mid += x[c];
    }
    mid *= inv_n;
    /* Channel stage: each channel is mid + its own side (x - mid), so any
     * channel count works and a mono-compatible image is left untouched. */
    switch (s->mode) {
    case CH_MONO:
      for (int c = 0; c < channels; c++) x[c] = mid;
      break;
    case CH_WIDTH:
      for (int c = 0; c < channels; c++) x[c] = mid + s->width * (x[c] - mid);
      break;
    case CH_MONO_SUB:
      for (int c = 0; c < channels; c++) {
        double sd = x[c] - mid;
        for (int k = 0; k < nside; k++) sd = mixstage__biquad_tick(&side[k], &sst[c][k], sd);
        x[c] = mid + sd;
      }
      break;
    default:
      break;
    }
    double peak = 0.0;
    if (s->mode == CH_MONO) {
      /* Identical channels: filter once, so L == R bit for bit. */
      double v = x[0];
      for (int k = 0; k < neq; k++) v = mixstage__biquad_tick(&eq[k], &st[0][k], v);
      for (int c = 0; c < channels; c++) x[c] = v;
      peak = fabs(v);
    } else {
      for (int c = 0; c < channels; c++) {
        double v = x[c];
        for (int k = 0; k < neq; k++) v = mixstage__biquad_tick(&eq[k], &st[c][k], v);
        x[c] = v;
        if (fabs(v) > peak) peak = fabs(v);
      }
    }
    double g = s->comp.on ? comp_gain(&comp, peak) : 1.0;
    for (int c = 0; c < channels; c++) fo[c] = (float)(x[c] * g);
  }
  return MIXSTAGE_OK;
}

static void set_err(char *err, size_t errlen, const char *fmt, const char *a, const char *b) {
  if (err && errlen) snprintf(err, errlen, fmt, a, b);
}

int mixstage_translate_write(const float *in, int64_t frames, int channels, double rate,
                             const char *dir, const char *prefix, const mixstage_write_config *cfg,
                             char *err, size_t errlen) {
  if (err && errlen) err[0] = '\0';
  if (!dir) return MIXSTAGE_ENULL;
  if (frames < 0 || channels < 1 || channels > TR_MAX_CHANNELS || !rate_ok(rate))
    return MIXSTAGE_EINVAL;
  if (frames > 0 && !in) return MIXSTAGE_ENULL;
  if (!prefix || !prefix[0]) prefix = "preview";
  mixstage_write_config def;
  if (!cfg) {
    mixstage_write_config_init(&def);
    cfg = &def;
  }
  const char *ext = mixstage_file_format_name(cfg->format);
  if (!ext) {
    set_err(err, errlen, "translate preview in '%s': %s", dir, "unknown file format");
    return MIXSTAGE_EINVAL;
  }
  size_t count = frames > 0 ? (size_t)frames * (size_t)channels : 1;
  if (frames > 0 && count / (size_t)channels != (size_t)frames) return MIXSTAGE_ENOMEM;
  float *buf = malloc(count * sizeof *buf);
  if (!buf) return MIXSTAGE_ENOMEM;
  int st = MIXSTAGE_OK;
  char path[4096];
  for (int i = 0; i < NSYSTEMS && st == MIXSTAGE_OK; i++) {
    int len = snprintf(path, sizeof path, "%s/%s-%s.%s", dir, prefix, systems[i].name, ext);
    if (len < 0 || (size_t)len >= sizeof path) {
      set_err(err, errlen, "translate preview in '%s': %s", dir, "path too long");
      st = MIXSTAGE_EINVAL;
      break;
    }
    st = mixstage_translate(in, frames, channels, rate, i, buf);
    if (st == MIXSTAGE_OK)
      st = mixstage_audio_write(path, buf, frames, channels, rate, cfg, NULL, err, errlen);
  }
  free(buf);
  return st;
}
