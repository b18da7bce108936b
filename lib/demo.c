/* The built-in demo song: an 8-bar arrangement synthesised in memory
 * (band-limited oscillators, a state-variable filter, envelopes) and the
 * production mix a producer would leave on it, built with the public API.
 * It covers every role, so each profile has something to keep, bypass or
 * mute.  Everything here is edit-time: it allocates and, when writing, does
 * I/O. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "mixstage.h"

#define BPM 120.0
#define BARS 8
#define SONG_SECONDS (BARS * 4 * 60.0 / BPM) /* 16 s */
#define DEFAULT_RATE 48000.0
#define MIN_RATE 44100.0
#define MAX_RATE 192000.0
#define PI 3.14159265358979323846

MIXSTAGE_EXPORT double mixstage_demo_song_seconds(void) { return SONG_SECONDS; }

/* ---- synthesis building blocks -------------------------------------------- */

/* Time base: the rate and the song's length in frames at that rate.  Event
 * times are rounded to whole frames from eighth notes, so the grid does not
 * drift at rates where a beat is not a whole number of frames. */
typedef struct timebase {
  double fs;
  int64_t song;
} timebase;

static int64_t at_eighth(const timebase *tb, double eighths) {
  return (int64_t)llround(eighths * tb->fs * 30.0 / BPM);
}

static double midi_hz(double m) { return 440.0 * pow(2.0, (m - 69.0) / 12.0); }

/* Deterministic white noise in [-1, 1) (xorshift32, Marsaglia 2003): the
 * same seed gives the same song on every platform. */
typedef struct rng {
  uint32_t s;
} rng;
static double noise(rng *r) {
  r->s ^= r->s << 13;
  r->s ^= r->s >> 17;
  r->s ^= r->s << 5;
  return (double)r->s / 2147483648.0 - 1.0;
}

/* PolyBLEP: the two-sample polynomial band-limited step residual
 * (Välimäki & Huovilainen, "Antialiasing oscillators in subtractive
 * synthesis", IEEE SPM 2007); t = phase in [0, 1), dt = phase increment. */
static double polyblep(double t, double dt) {
  if (t < dt) {
    t /= dt;
    return t + t - t * t - 1.0;
  }
  if (t > 1.0 - dt) {
    t = (t - 1.0) / dt;
    return t * t + t + t + 1.0;
  }
  return 0.0;
}
static double saw(double t, double dt) { return 2.0 * t - 1.0 - polyblep(t, dt); }
static double pulse(double t, double dt, double pw) {
  double v = t < pw ? 1.0 : -1.0;
  double t2 = t + 1.0 - pw;
  return v + polyblep(t, dt) - polyblep(t2 - floor(t2), dt);
}

/* State-variable filter, trapezoidal integration (A. Simper, "Linear
 * trapezoidal integrated SVF", Cytomic 2013): stable under per-sample cutoff
 * modulation, which the filter envelopes below rely on. */
typedef struct svf {
  double ic1, ic2;
} svf;
typedef struct svf_out {
  double lp, bp, hp;
} svf_out;
static svf_out svf_run(svf *f, double x, double fc, double q, double fs) {
  if (fc > 0.45 * fs) fc = 0.45 * fs;
  double g = tan(PI * fc / fs), k = 1.0 / q;
  double a1 = 1.0 / (1.0 + g * (g + k)), a2 = g * a1, a3 = g * a2;
  double v3 = x - f->ic2;
  double v1 = a1 * f->ic1 + a2 * v3;
  double v2 = f->ic2 + a2 * f->ic1 + a3 * v3;
  f->ic1 = 2.0 * v1 - f->ic1;
  f->ic2 = 2.0 * v2 - f->ic2;
  svf_out o = {v2, v1, x - k * v1 - v2};
  return o;
}

/* Attack / exponential decay to sustain / release to zero, for a note held
 * `gate` seconds; t in seconds since note-on.  The release is a squared
 * ramp so it lands on zero with zero slope (no click). */
static double adsr(double t, double gate, double a, double d, double s, double r) {
  double held = t < gate ? t : gate;
  double lv = held < a ? held / a : s + (1.0 - s) * exp(-(held - a) / d);
  if (t < gate) return lv;
  double x = (t - gate) / r;
  return x >= 1.0 ? 0.0 : lv * (1.0 - x) * (1.0 - x);
}

static double peak_of(const float *x, int64_t n) {
  double pk = 0.0;
  for (int64_t i = 0; i < n; i++)
    if (fabs(x[i]) > pk) pk = fabs(x[i]);
  return pk;
}

static void normalise_peak(float *x, int64_t n, double peak_db) {
  double pk = peak_of(x, n);
  if (pk <= 0.0) return;
  double g = pow(10.0, peak_db / 20.0) / pk;
  for (int64_t i = 0; i < n; i++) x[i] = (float)(x[i] * g);
}

/* ---- the arrangement --------------------------------------------------------- */

/* One chord per bar: Am7 Fmaj7 Cadd9 G6 | Am7 Fmaj7 G6 Am(add9), voiced
 * close around middle C so the voice leading moves by steps. */
static const int chord[BARS][4] = {
    {55, 57, 60, 64}, {53, 57, 60, 64}, {55, 60, 62, 64}, {55, 59, 62, 64},
    {55, 57, 60, 64}, {53, 57, 60, 64}, {55, 59, 62, 64}, {57, 60, 64, 71},
};
static const int bass_root[BARS] = {33, 29, 36, 31, 33, 29, 31, 33}; /* A1 F1 C2 G1 ... */

/* The lead: {bar, start in eighths, length in eighths, MIDI note}. */
static const int melody[][4] = {
    {0, 2, 2, 76}, {0, 4, 1, 74}, {0, 5, 1, 72}, {0, 6, 2, 69},                /* E D C A */
    {1, 0, 3, 72}, {1, 3, 1, 69}, {1, 4, 2, 67}, {1, 6, 2, 69},                /* C A G A */
    {2, 0, 2, 76}, {2, 2, 2, 79}, {2, 4, 1, 76}, {2, 5, 1, 74}, {2, 6, 2, 72}, /* E G E D C */
    {3, 0, 4, 74}, {3, 4, 2, 71},                                              /* D B */
    {4, 0, 2, 76}, {4, 2, 2, 81}, {4, 4, 1, 79}, {4, 5, 1, 76}, {4, 6, 2, 74}, /* E A G E D */
    {5, 0, 2, 72}, {5, 2, 2, 76}, {5, 4, 1, 72}, {5, 5, 1, 69}, {5, 6, 2, 67}, /* C E C A G */
    {6, 0, 2, 71}, {6, 2, 2, 74}, {6, 4, 2, 79}, {6, 6, 1, 76}, {6, 7, 1, 74}, /* B D G E D */
    {7, 0, 1, 72}, {7, 1, 1, 71}, {7, 2, 5, 69},                               /* C B A... */
};
#define MELODY_NOTES ((int)(sizeof melody / sizeof melody[0]))

/* The last bar thins out: drums stop after beat 3, the lead rings on. */
static int drums_play(int64_t beat) { return beat < (BARS - 1) * 4 + 3; }

/* Kick: a sine swept from ~170 Hz down to 48 Hz with a short noise click,
 * gently soft-clipped; four on the floor. */
static void synth_kick(const timebase *tb, float *out) {
  const double fs = tb->fs;
  rng r = {0x1234567u};
  for (int64_t b = 0; b < BARS * 4; b++) {
    if (!drums_play(b)) continue;
    int64_t t0 = at_eighth(tb, 2.0 * (double)b);
    int64_t len = (int64_t)(0.45 * fs);
    double ph = 0.0;
    svf click = {0, 0};
    for (int64_t n = 0; n < len && t0 + n < tb->song; n++) {
      double t = (double)n / fs;
      double f = 48.0 + 120.0 * exp(-t / 0.035);
      ph += 2.0 * PI * f / fs;
      double fade = t < 0.38 ? 1.0 : 0.5 + 0.5 * cos(PI * (t - 0.38) / 0.07);
      double body = sin(ph) * exp(-t / 0.19) * fade;
      double c = svf_run(&click, noise(&r), 3500.0, 0.8, fs).bp * exp(-t / 0.004);
      double x = body + 0.5 * c;
      out[t0 + n] += (float)(tanh(1.6 * x) / tanh(1.6));
    }
  }
}

/* Clap on beats 2 and 4 from bar 3: three quick band-passed noise bursts and
 * a short diffuse tail, the way hand claps smear. */
static void synth_clap(const timebase *tb, float *out) {
  static const double burst[3] = {0.0, 0.011, 0.023};
  const double fs = tb->fs;
  rng r = {0x2badcafeu};
  for (int64_t b = 2 * 4; b < BARS * 4; b++) {
    if (b % 4 != 1 && b % 4 != 3) continue;
    if (!drums_play(b)) continue;
    int64_t t0 = at_eighth(tb, 2.0 * (double)b);
    svf bp = {0, 0}, hp = {0, 0};
    for (int64_t n = 0; n < (int64_t)(0.3 * fs) && t0 + n < tb->song; n++) {
      double t = (double)n / fs, e = 0.0;
      for (int k = 0; k < 3; k++)
        if (t >= burst[k]) e += (k == 2 ? 1.0 : 0.7) * exp(-(t - burst[k]) / 0.006);
      e += 0.35 * exp(-t / 0.11) * (t > 0.023);
      double x = svf_run(&bp, noise(&r), 1250.0, 1.1, fs).bp;
      x = svf_run(&hp, x, 700.0, 0.7, fs).hp;
      out[t0 + n] += (float)(x * e);
    }
  }
}

/* Hats: high-passed noise on every eighth, short on the beat and longer and
 * louder off the beat, with a sixteenth pick-up at the end of bar 4. */
static void synth_hats(const timebase *tb, float *out) {
  const double fs = tb->fs;
  rng r = {0x9e3779b9u};
  for (int64_t k = 0; k < BARS * 8; k++) {
    if (!drums_play(k / 2)) continue;
    int off = (int)(k & 1);
    double vel = off ? 1.0 : 0.55, dec = off ? 0.075 : 0.028;
    vel *= 1.0 - 0.06 * (double)((k * 5) % 3); /* a little human accent */
    for (int pick = 0; pick < 2; pick++) {
      if (pick && k != 4 * 8 - 1) break;
      int64_t t0 = at_eighth(tb, (double)k + (pick ? 0.5 : 0.0));
      double v = pick ? 0.45 : vel;
      svf hp = {0, 0}, pk = {0, 0};
      for (int64_t n = 0; n < (int64_t)(8.0 * dec * fs) && t0 + n < tb->song; n++) {
        double t = (double)n / fs;
        double e = (t < 0.0005 ? t / 0.0005 : 1.0) * exp(-t / dec);
        double w = noise(&r);
        double h = svf_run(&hp, w, 7500.0, 0.7, fs).hp;
        double s = svf_run(&pk, w, 11000.0, 3.0, fs).bp;
        out[t0 + n] += (float)(v * e * (h + 0.6 * s));
      }
    }
  }
}

/* Bass: saw plus sine through a resonant low-pass whose cutoff snaps down
 * after each pluck; eighths on the root, octave and fifth.  The kick ducks
 * it in the mix (sidechain), which gives the groove its pump. */
static void synth_bass(const timebase *tb, float *out) {
  static const int pat[8] = {0, 0, 12, 0, 0, 12, 0, 7};
  const double fs = tb->fs;
  for (int bar = 0; bar < BARS; bar++) {
    int last = bar == BARS - 1;
    for (int k = 0; k < (last ? 1 : 8); k++) {
      int64_t t0 = at_eighth(tb, 8.0 * bar + k);
      double gate = last ? 1.45 : 0.205;
      double f = midi_hz(bass_root[bar] + pat[k]), dt = f / fs, ph = 0.0;
      svf lp = {0, 0};
      int64_t len = (int64_t)((gate + 0.03) * fs);
      for (int64_t n = 0; n < len && t0 + n < tb->song; n++) {
        double t = (double)n / fs;
        double osc = 0.7 * saw(ph, dt) + 0.6 * sin(2.0 * PI * ph);
        double fc = 160.0 + 1300.0 * exp(-t / 0.07);
        double y = svf_run(&lp, osc, fc, 1.1, fs).lp;
        out[t0 + n] += (float)(y * adsr(t, gate, 0.003, 0.25, 0.75, 0.03));
        ph += dt;
        ph -= floor(ph);
      }
    }
  }
}

/* Pad: each chord tone is two detuned saws per side (different detune and
 * phase left and right, which makes the stereo image), slow attack,
 * crossfading release into the next bar, and a low-pass that breathes.
 * Writes the stereo pad interleaved into lr. */
static void synth_pad(const timebase *tb, float *lr) {
  static const double cents[2][2] = {{-7.0, 5.0}, {-4.0, 8.0}};
  const double fs = tb->fs;
  rng r = {0x51ed270bu};
  for (int bar = 0; bar < BARS; bar++) {
    int64_t t0 = at_eighth(tb, 8.0 * bar);
    double gate = bar == BARS - 1 ? 1.35 : 2.0, rel = 0.6;
    int64_t len = (int64_t)((gate + rel) * fs);
    for (int v = 0; v < 4; v++) {
      double f = midi_hz(chord[bar][v]);
      for (int side = 0; side < 2; side++) {
        for (int o = 0; o < 2; o++) {
          double fo = f * pow(2.0, cents[side][o] / 1200.0), dt = fo / fs;
          double ph = 0.5 * (noise(&r) + 1.0);
          for (int64_t n = 0; n < len && t0 + n < tb->song; n++) {
            double t = (double)n / fs;
            lr[2 * (t0 + n) + side] += (float)(0.12 * saw(ph, dt) * adsr(t, gate, 0.28, 1.0, 0.85, rel));
            ph += dt;
            ph -= floor(ph);
          }
        }
      }
    }
  }
  svf fl = {0, 0}, fr = {0, 0};
  for (int64_t n = 0; n < tb->song; n++) {
    double t = (double)n / fs;
    double fc = 1900.0 * pow(2.0, 0.5 * sin(2.0 * PI * 0.125 * t)); /* one breath per bar pair */
    lr[2 * n] = (float)svf_run(&fl, lr[2 * n], fc, 0.6, fs).lp;
    lr[2 * n + 1] = (float)svf_run(&fr, lr[2 * n + 1], fc * 1.03, 0.6, fs).lp;
  }
}

/* Lead: saw and square through a low-pass with a pluck envelope; vibrato
 * fades in on the longer notes. */
static void synth_lead(const timebase *tb, float *out) {
  const double fs = tb->fs;
  for (int i = 0; i < MELODY_NOTES; i++) {
    int64_t t0 = at_eighth(tb, 8.0 * melody[i][0] + melody[i][1]);
    double gate = melody[i][2] * (30.0 / BPM) - 0.02;
    double f = midi_hz(melody[i][3]), ph = 0.0, rel = 0.12;
    svf lp = {0, 0};
    int64_t len = (int64_t)((gate + rel) * fs);
    for (int64_t n = 0; n < len && t0 + n < tb->song; n++) {
      double t = (double)n / fs;
      double vib_amt = t < 0.25 ? 0.0 : fmin(1.0, (t - 0.25) / 0.3);
      double fv = f * pow(2.0, 0.2 / 12.0 * vib_amt * sin(2.0 * PI * 5.2 * t));
      double dt = fv / fs;
      double osc = 0.6 * saw(ph, dt) + 0.4 * pulse(ph, dt, 0.5);
      double fc = 1300.0 + 3200.0 * exp(-t / 0.15);
      double y = svf_run(&lp, osc, fc, 0.9, fs).lp;
      out[t0 + n] += (float)(y * adsr(t, gate, 0.006, 0.25, 0.7, rel));
      ph += dt;
      ph -= floor(ph);
    }
  }
}

/* ---- the sources --------------------------------------------------------------- */

enum { KICK, CLAP, HATS, BASS, PAD, LEAD, NSTRIPS };
static const char *const strip_names[NSTRIPS] = {"Kick", "Clap", "Hats", "Bass", "Pad", "Lead"};

/* The sources as a producer would bounce them: mono except the pad, each
 * peak-normalised to -3 dBFS. */
typedef struct sources {
  timebase tb;
  float *pcm[NSTRIPS];
  int channels[NSTRIPS];
} sources;

static void sources_free(sources *s) {
  for (int i = 0; i < NSTRIPS; i++) free(s->pcm[i]);
}

static int sources_make(sources *s, double rate) {
  memset(s, 0, sizeof *s);
  s->tb.fs = rate;
  s->tb.song = (int64_t)llround(SONG_SECONDS * rate);
  for (int i = 0; i < NSTRIPS; i++) {
    s->channels[i] = i == PAD ? 2 : 1;
    s->pcm[i] = calloc((size_t)s->tb.song * (size_t)s->channels[i], sizeof(float));
    if (!s->pcm[i]) {
      sources_free(s);
      return MIXSTAGE_ENOMEM;
    }
  }
  synth_kick(&s->tb, s->pcm[KICK]);
  synth_clap(&s->tb, s->pcm[CLAP]);
  synth_hats(&s->tb, s->pcm[HATS]);
  synth_bass(&s->tb, s->pcm[BASS]);
  synth_pad(&s->tb, s->pcm[PAD]);
  synth_lead(&s->tb, s->pcm[LEAD]);
  for (int i = 0; i < NSTRIPS; i++) normalise_peak(s->pcm[i], s->tb.song * s->channels[i], -3.0);
  return MIXSTAGE_OK;
}

/* Level of a source as an engineer reads it for gain staging: the RMS of the
 * 50 ms windows that are within 20 dB of the loudest one (so the gaps in a
 * hat pattern do not count as part of its level), in dBFS.  Two passes over
 * the windows instead of a table of their powers: nothing to allocate. */
static double active_rms_db(const float *x, int nch, int64_t frames, double fs) {
  const int64_t w = (int64_t)(fs / 20.0);
  const int64_t nw = frames / w;
  double pmax = 0.0;
  for (int pass = 0; pass < 2; pass++) {
    double sum = 0.0;
    int64_t cnt = 0;
    for (int64_t k = 0; k < nw; k++) {
      double s = 0.0;
      for (int64_t i = k * w * nch; i < (k + 1) * w * nch; i++) s += (double)x[i] * x[i];
      double p = s / (double)(w * nch);
      if (pass == 0) {
        if (p > pmax) pmax = p;
      } else if (p > pmax * 0.01) {
        sum += p;
        cnt++;
      }
    }
    if (pass == 1) return cnt ? 10.0 * log10(sum / (double)cnt) : -120.0;
  }
  return -120.0;
}

/* ---- building the mix ------------------------------------------------------------ */

/* The builder keeps the first error and skips every later step, so the mix
 * reads as a list of decisions rather than a ladder of error checks. */
typedef struct builder {
  mixstage_graph *g;
  int rc;
} builder;

static void check(builder *b, int rc) {
  if (b->rc == MIXSTAGE_OK && rc < 0) b->rc = rc;
}

static void set(builder *b, mixstage_node *n, const char *name, double v) {
  if (b->rc == MIXSTAGE_OK) check(b, mixstage_node_set_param_by_name(n, name, v));
}

/* Enum parameters by the name of their choice, found through introspection
 * (the choice's index is its value). */
static void set_choice(builder *b, mixstage_node *n, const char *name, const char *choice) {
  if (b->rc != MIXSTAGE_OK) return;
  int id = mixstage_node_param_id(n, name);
  mixstage_param_info info;
  if (id < 0 || mixstage_node_param_info(n, id, &info) < 0 || !info.choices) {
    check(b, id < 0 ? id : MIXSTAGE_ENOTFOUND);
    return;
  }
  const char *c = info.choices;
  size_t len = strlen(choice);
  for (int k = 0;; k++) {
    const char *bar = strchr(c, '|');
    size_t l = bar ? (size_t)(bar - c) : strlen(c);
    if (l == len && strncmp(c, choice, len) == 0) {
      set(b, n, name, k);
      return;
    }
    if (!bar) break;
    c = bar + 1;
  }
  check(b, MIXSTAGE_ENOTFOUND);
}

static mixstage_node *strip_insert(builder *b, mixstage_strip *s, const char *type, int role) {
  if (b->rc != MIXSTAGE_OK) return NULL;
  int err = MIXSTAGE_OK;
  mixstage_node *n = mixstage_strip_insert(s, type, role, -1, &err);
  check(b, n ? MIXSTAGE_OK : err);
  return n;
}

static mixstage_node *bus_insert(builder *b, mixstage_bus *bus, const char *type, int role) {
  if (b->rc != MIXSTAGE_OK) return NULL;
  int err = MIXSTAGE_OK;
  mixstage_node *n = mixstage_bus_insert(bus, type, role, -1, &err);
  check(b, n ? MIXSTAGE_OK : err);
  return n;
}

static mixstage_bus *add_bus(builder *b, const char *name, int kind) {
  if (b->rc != MIXSTAGE_OK) return NULL;
  int err = MIXSTAGE_OK;
  mixstage_bus *bus = mixstage_graph_add_bus(b->g, name, kind, 2, &err);
  check(b, bus ? MIXSTAGE_OK : err);
  return bus;
}

static void add_send(builder *b, mixstage_strip *s, mixstage_bus *to, double db) {
  if (b->rc != MIXSTAGE_OK) return;
  int err = MIXSTAGE_OK;
  mixstage_send *snd = mixstage_strip_add_send(s, to, db, MIXSTAGE_TAP_POST_FADER, MIXSTAGE_ROLE_MIX_FX, &err);
  check(b, snd ? MIXSTAGE_OK : err);
}

/* EQ band helper ("eq" bands are numbered from 1). */
static void eq_band(builder *b, mixstage_node *eq, int band, const char *type, double hz, double gain_db,
                    double q) {
  char name[32];
  snprintf(name, sizeof name, "band%d_type", band);
  set_choice(b, eq, name, type);
  snprintf(name, sizeof name, "band%d_freq", band);
  set(b, eq, name, hz);
  snprintf(name, sizeof name, "band%d_gain", band);
  set(b, eq, name, gain_db);
  snprintf(name, sizeof name, "band%d_q", band);
  set(b, eq, name, q);
}

static mixstage_node *compressor(builder *b, mixstage_strip *s, const char *detector, double thr,
                                 double ratio, double att_ms, double rel_ms, double makeup) {
  mixstage_node *c = strip_insert(b, s, "compressor", MIXSTAGE_ROLE_STRIP);
  set_choice(b, c, "detector", detector);
  set(b, c, "threshold", thr);
  set(b, c, "ratio", ratio);
  set(b, c, "attack", att_ms);
  set(b, c, "release", rel_ms);
  set(b, c, "knee", 6.0);
  set(b, c, "makeup", makeup);
  return c;
}

/* Builds the production mix over the sources (copied into the graph).  On
 * failure the graph's last-error message, which names the object at fault,
 * is copied to @p msg (if not NULL) before the graph goes. */
static mixstage_graph *build_mix(const sources *src, int *error, char *msg, size_t msglen) {
  mixstage_graph_config cfg;
  mixstage_graph_config_init(&cfg);
  cfg.sample_rate = src->tb.fs;
  cfg.tempo_bpm = BPM;
  cfg.mix_channels = 2;
  int err = MIXSTAGE_OK;
  builder B = {mixstage_graph_create(&cfg, &err), MIXSTAGE_OK};
  builder *b = &B;
  if (!b->g) {
    *error = err;
    return NULL;
  }

  /* Buses: a drum group, a plate reverb and a tempo-synced delay. */
  mixstage_bus *mix = mixstage_graph_mix_bus(b->g);
  mixstage_bus *drums = add_bus(b, "Drums", MIXSTAGE_BUS_GROUP);
  mixstage_bus *plate = add_bus(b, "Plate", MIXSTAGE_BUS_RETURN);
  mixstage_bus *delay = add_bus(b, "Delay", MIXSTAGE_BUS_RETURN);

  /* Strips: clip gain first, so every source sits near -18 dBFS before any
   * processing (peaks kept at or below -6 dBFS), then faders for balance. */
  static const double fader_db[NSTRIPS] = {-3.0, 0.0, -7.0, 0.0, -6.0, -5.0};
  static const double pan[NSTRIPS] = {0.0, 0.0, 0.3, 0.0, 0.0, 0.0};
  mixstage_strip *st[NSTRIPS] = {0};
  for (int i = 0; i < NSTRIPS && b->rc == MIXSTAGE_OK; i++) {
    st[i] = mixstage_graph_add_strip(b->g, strip_names[i], 2, &err);
    if (!st[i]) {
      check(b, err);
      break;
    }
    const int64_t n = src->tb.song * src->channels[i];
    check(b, mixstage_strip_set_source_buffer(st[i], src->pcm[i], src->channels[i], src->tb.song, 1));
    double clip = -18.0 - active_rms_db(src->pcm[i], src->channels[i], src->tb.song, src->tb.fs);
    double pk = peak_of(src->pcm[i], n);
    double pk_db = pk > 0.0 ? 20.0 * log10(pk) : -120.0;
    if (pk_db + clip > -6.0) clip = -6.0 - pk_db;
    check(b, mixstage_strip_set_clip_gain_db(st[i], clip));
    check(b, mixstage_strip_set_fader_db(st[i], fader_db[i]));
    check(b, mixstage_strip_set_pan(st[i], pan[i]));
  }
  if (b->rc != MIXSTAGE_OK) goto done;

  /* Kick: clear the sub rumble, a little weight and knock, less box. */
  mixstage_node *eq = strip_insert(b, st[KICK], "eq", MIXSTAGE_ROLE_STRIP);
  eq_band(b, eq, 1, "highpass", 28.0, 0.0, 0.7071);
  eq_band(b, eq, 2, "bell", 60.0, 2.0, 1.2);
  eq_band(b, eq, 3, "bell", 330.0, -3.0, 1.4);
  eq_band(b, eq, 4, "highshelf", 4000.0, 2.0, 0.7071);
  compressor(b, st[KICK], "peak", -14.0, 4.0, 10.0, 90.0, 2.0);
  mixstage_node *sat = strip_insert(b, st[KICK], "saturation", MIXSTAGE_ROLE_STRIP);
  set(b, sat, "drive", 4.0);

  /* Clap: out of the kick's way, a touch of snap; the saturation rounds off
   * the noise spikes of the bursts (crunch instead of a spiky peak). */
  eq = strip_insert(b, st[CLAP], "eq", MIXSTAGE_ROLE_STRIP);
  eq_band(b, eq, 1, "highpass", 200.0, 0.0, 0.7071);
  eq_band(b, eq, 2, "bell", 2500.0, 2.0, 1.0);
  compressor(b, st[CLAP], "peak", -20.0, 4.0, 1.0, 60.0, 6.0);
  sat = strip_insert(b, st[CLAP], "saturation", MIXSTAGE_ROLE_STRIP);
  set(b, sat, "drive", 12.0);

  /* Hats: only air; compress lightly so the off-beats stay even. */
  eq = strip_insert(b, st[HATS], "eq", MIXSTAGE_ROLE_STRIP);
  eq_band(b, eq, 1, "highpass", 400.0, 0.0, 0.7071);
  eq_band(b, eq, 2, "highshelf", 10000.0, 1.5, 0.7071);
  compressor(b, st[HATS], "peak", -20.0, 3.0, 2.0, 50.0, 1.0);

  /* Bass: tidy the mud, level it, then duck it under the kick (the
   * production's sidechain: it stays in every stem), then some grit. */
  eq = strip_insert(b, st[BASS], "eq", MIXSTAGE_ROLE_STRIP);
  eq_band(b, eq, 1, "highpass", 32.0, 0.0, 0.7071);
  eq_band(b, eq, 2, "bell", 240.0, -2.5, 1.0);
  eq_band(b, eq, 3, "bell", 900.0, 1.5, 1.2);
  compressor(b, st[BASS], "peak", -18.0, 3.0, 8.0, 120.0, 2.0);
  mixstage_node *duck = compressor(b, st[BASS], "peak", -16.0, 4.0, 1.0, 140.0, 0.0); /* ~6 dB per kick */
  if (b->rc == MIXSTAGE_OK) check(b, mixstage_node_set_sidechain_strip(duck, st[KICK], MIXSTAGE_TAP_PRE_FADER));
  sat = strip_insert(b, st[BASS], "saturation", MIXSTAGE_ROLE_STRIP);
  set(b, sat, "drive", 6.0);
  set(b, sat, "mix", 60.0);

  /* Pad: leave the low end to kick and bass, soften the top, and its own
   * reverb as part of the sound (role design: it stays in the pad's stem). */
  eq = strip_insert(b, st[PAD], "eq", MIXSTAGE_ROLE_STRIP);
  eq_band(b, eq, 1, "highpass", 180.0, 0.0, 0.7071);
  eq_band(b, eq, 2, "bell", 700.0, -2.0, 0.8);
  eq_band(b, eq, 3, "highshelf", 9000.0, -1.5, 0.7071);
  compressor(b, st[PAD], "rms", -24.0, 2.0, 30.0, 250.0, 1.0);
  mixstage_node *prev = strip_insert(b, st[PAD], "reverb", MIXSTAGE_ROLE_DESIGN);
  set(b, prev, "mix", 30.0);
  set(b, prev, "decay", 3.5);
  set(b, prev, "size", 80.0);
  set(b, prev, "predelay", 10.0);
  set(b, prev, "damping_high", 5000.0);

  /* Lead: presence, steady level, a little warmth; sends to the returns,
   * and a splash of the plate on the clap. */
  eq = strip_insert(b, st[LEAD], "eq", MIXSTAGE_ROLE_STRIP);
  eq_band(b, eq, 1, "highpass", 220.0, 0.0, 0.7071);
  eq_band(b, eq, 2, "bell", 2800.0, 2.0, 1.0);
  eq_band(b, eq, 3, "bell", 500.0, -1.5, 1.0);
  compressor(b, st[LEAD], "peak", -20.0, 3.0, 5.0, 80.0, 3.0);
  sat = strip_insert(b, st[LEAD], "saturation", MIXSTAGE_ROLE_STRIP);
  set(b, sat, "drive", 3.0);
  add_send(b, st[LEAD], plate, -8.0);
  add_send(b, st[LEAD], delay, -12.0);
  add_send(b, st[CLAP], plate, -14.0);

  for (int i = KICK; i <= HATS && b->rc == MIXSTAGE_OK; i++) check(b, mixstage_strip_set_output(st[i], drums));

  /* Drum glue: slow RMS compression of the group, 1-2 dB. */
  mixstage_node *glue = bus_insert(b, drums, "compressor", MIXSTAGE_ROLE_STRIP);
  set_choice(b, glue, "detector", "rms");
  set(b, glue, "threshold", -20.0);
  set(b, glue, "ratio", 2.0);
  set(b, glue, "attack", 20.0);
  set(b, glue, "release", 150.0);
  set(b, glue, "makeup", 1.0);

  /* Plate: bright, 1.8 s, pre-delay to keep the lead in front; the return's
   * low end cut so the reverb never muddies the bass. */
  mixstage_node *pl = bus_insert(b, plate, "reverb", MIXSTAGE_ROLE_MIX_FX);
  set(b, pl, "mix", 100.0);
  set(b, pl, "decay", 1.8);
  set(b, pl, "size", 55.0);
  set(b, pl, "predelay", 25.0);
  set(b, pl, "damping_high", 7000.0);
  set(b, pl, "diffusion", 85.0);
  mixstage_node *peq = bus_insert(b, plate, "eq", MIXSTAGE_ROLE_MIX_FX);
  eq_band(b, peq, 1, "highpass", 300.0, 0.0, 0.7071);
  if (b->rc == MIXSTAGE_OK) check(b, mixstage_bus_set_fader_db(plate, -3.0));

  /* Delay: dotted eighths at the song's tempo, ping-pong, darkening repeats. */
  mixstage_node *dl = bus_insert(b, delay, "delay", MIXSTAGE_ROLE_MIX_FX);
  set_choice(b, dl, "mode", "pingpong");
  set(b, dl, "sync", 1.0);
  set_choice(b, dl, "note", "1/8d");
  set(b, dl, "feedback", 30.0);
  set(b, dl, "hpf", 300.0);
  set(b, dl, "lpf", 4500.0);
  set(b, dl, "mix", 100.0);
  if (b->rc == MIXSTAGE_OK) check(b, mixstage_bus_set_fader_db(delay, -6.0));

  /* Mix bus: console colour, glue compressor, and the placeholder limiter
   * that lets the production be heard loud. */
  bus_insert(b, mix, "console_color", MIXSTAGE_ROLE_BUS_COLOR);
  mixstage_node *buscomp = bus_insert(b, mix, "bus_compressor", MIXSTAGE_ROLE_BUS_DYNAMICS);
  set(b, buscomp, "threshold", -16.0);
  set_choice(b, buscomp, "ratio", "2");
  set(b, buscomp, "attack", 10.0);
  set(b, buscomp, "release", 0.3);
  set(b, buscomp, "makeup", 1.5);
  mixstage_node *lim = bus_insert(b, mix, "limiter", MIXSTAGE_ROLE_PLACEHOLDER_LIMITER);
  set(b, lim, "ceiling", -1.0);
  set(b, lim, "lookahead", 5.0);
  set(b, lim, "release", 80.0);
  set(b, lim, "input_gain", 5.0); /* production loudness: a few dB of limiting */

  /* Mastering chain (off in production and mix-stems, on in final, where
   * the placeholder limiter is bypassed): a gentle tilt and a true-peak
   * limiter with a -1 dBTP ceiling, its input gain set by hand. */
  mixstage_node *tilt = bus_insert(b, mix, "tilt_eq", MIXSTAGE_ROLE_MASTERING);
  set(b, tilt, "tilt", 0.5);
  set(b, tilt, "tilt_freq", 1200.0);
  mixstage_node *mlim = bus_insert(b, mix, "limiter", MIXSTAGE_ROLE_MASTERING);
  set(b, mlim, "ceiling", -1.0);
  set(b, mlim, "true_peak", 1.0);
  set(b, mlim, "lookahead", 5.0);
  set(b, mlim, "release", 150.0);
  set(b, mlim, "input_gain", 6.0);

done:
  if (b->rc != MIXSTAGE_OK) {
    if (msg && msglen) snprintf(msg, msglen, "%s", mixstage_graph_last_error(b->g));
    mixstage_graph_destroy(b->g);
    *error = b->rc;
    return NULL;
  }
  *error = MIXSTAGE_OK;
  return b->g;
}

/* 0 means the default; otherwise whole Hz in range (WAV stores whole Hz,
 * and the file must reproduce the graph exactly). */
static int check_rate(double *rate) {
  if (*rate == 0.0) *rate = DEFAULT_RATE;
  if (!(*rate >= MIN_RATE && *rate <= MAX_RATE)) return MIXSTAGE_ERANGE;
  if (*rate != floor(*rate)) return MIXSTAGE_EINVAL;
  return MIXSTAGE_OK;
}

MIXSTAGE_EXPORT mixstage_graph *mixstage_demo_song_create(double sample_rate, int *error) {
  int dummy;
  if (!error) error = &dummy;
  *error = check_rate(&sample_rate);
  if (*error != MIXSTAGE_OK) return NULL;
  sources src;
  *error = sources_make(&src, sample_rate);
  if (*error != MIXSTAGE_OK) return NULL;
  mixstage_graph *g = build_mix(&src, error, NULL, 0);
  sources_free(&src);
  return g;
}

/* ---- writing the song as files ----------------------------------------------------- */

static int say(char *err, size_t errlen, int status, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int say(char *err, size_t errlen, int status, const char *fmt, ...) {
  if (err && errlen) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
  }
  return status;
}

/* Makes @p path a directory if it is not one yet (not its parents). */
static int ensure_dir(const char *path, char *err, size_t errlen) {
  struct stat sb;
  if (mkdir(path, 0777) == 0) return MIXSTAGE_OK;
  int e = errno;
  if (e == EEXIST && stat(path, &sb) == 0 && S_ISDIR(sb.st_mode)) return MIXSTAGE_OK;
  if (e == EEXIST) return say(err, errlen, MIXSTAGE_EIO, "%s: exists and is not a directory", path);
  return say(err, errlen, MIXSTAGE_EIO, "%s: cannot create the directory: %s", path, strerror(e));
}

MIXSTAGE_EXPORT int mixstage_demo_song_write(const char *dir, double sample_rate, char *err, size_t errlen) {
  if (err && errlen) err[0] = 0;
  if (!dir) return say(err, errlen, MIXSTAGE_ENULL, "demo song: no directory (NULL)");
  int rc = check_rate(&sample_rate);
  if (rc == MIXSTAGE_ERANGE)
    return say(err, errlen, rc, "demo song: sample rate %g Hz: must be 0 (48000) or 44100 .. 192000 Hz", sample_rate);
  if (rc != MIXSTAGE_OK)
    return say(err, errlen, rc, "demo song: sample rate %g Hz: must be a whole number of Hz", sample_rate);

  char sdir[4096], path[4096 + 64]; /* sdir is checked to leave room for a file name */
  if ((size_t)snprintf(sdir, sizeof sdir, "%s/sources", dir) >= sizeof sdir - 32)
    return say(err, errlen, MIXSTAGE_EINVAL, "%s: %s", dir, "the path is too long");
  if ((rc = ensure_dir(dir, err, errlen)) < 0 || (rc = ensure_dir(sdir, err, errlen)) < 0) return rc;

  sources src;
  if ((rc = sources_make(&src, sample_rate)) < 0)
    return say(err, errlen, rc, "demo song: out of memory synthesising the sources");

  /* The sources first: the graph file only appears once all of them are
   * on disk.  32-bit float keeps every synthesised sample exactly. */
  mixstage_write_config wc;
  mixstage_write_config_init(&wc);
  wc.sample_type = MIXSTAGE_SAMPLE_FLOAT32;
  for (int i = 0; i < NSTRIPS; i++) {
    char msg[512] = "";
    snprintf(path, sizeof path, "%s/%s.wav", sdir, strip_names[i]);
    rc = mixstage_audio_write(path, src.pcm[i], src.tb.song, src.channels[i], sample_rate, &wc, NULL, msg,
                              sizeof msg);
    if (rc < 0) {
      sources_free(&src);
      /* The writer's message names the file already when it has one. */
      if (strstr(msg, path)) return say(err, errlen, rc, "%s", msg);
      return say(err, errlen, rc, "%s: %s", path, *msg ? msg : mixstage_strerror(rc));
    }
  }

  char why[256] = "";
  mixstage_graph *g = build_mix(&src, &rc, why, sizeof why);
  sources_free(&src);
  if (!g) return say(err, errlen, rc, "demo song: building the mix: %s", *why ? why : mixstage_strerror(rc));
  mixstage_graphfile *doc = mixstage_graphfile_wrap(g, &rc);
  if (!doc) return say(err, errlen, rc, "demo song: %s", mixstage_strerror(rc));
  for (int i = 0; i < NSTRIPS && rc == MIXSTAGE_OK; i++) {
    char rel[64];
    snprintf(rel, sizeof rel, "sources/%s.wav", strip_names[i]);
    rc = mixstage_graphfile_set_source_path(doc, strip_names[i], rel);
  }
  if (rc < 0) {
    mixstage_graphfile_destroy(doc);
    return say(err, errlen, rc, "demo song: recording the source paths: %s", mixstage_strerror(rc));
  }
  snprintf(path, sizeof path, "%s/demo-song.mixstage.json", dir);
  char msg[512] = "";
  rc = mixstage_graphfile_save(doc, path, msg, sizeof msg);
  mixstage_graphfile_destroy(doc);
  if (rc < 0) {
    if (strstr(msg, path)) return say(err, errlen, rc, "%s", msg);
    return say(err, errlen, rc, "%s: %s", path, *msg ? msg : mixstage_strerror(rc));
  }
  return MIXSTAGE_OK;
}
