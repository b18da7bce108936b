/* demo_song: libmixstage's built-in demo.
 *
 * Synthesises a short song in code (8 bars of A minor at 120 BPM, 48 kHz:
 * kick, clap, hats, bass, pad and lead), builds a production mix of it with
 * the public API, and delivers it under the three render profiles with
 * mixstage_graph_deliver():
 *
 *   DIR/production/  the production mix (32-bit float) and manifest.json
 *   DIR/mix-stems/   one 24-bit stem per strip, the Plate and Delay returns
 *                    as FX stems, the production mix as reference.wav
 *   DIR/final/       the master: placeholder limiter out, mastering chain in
 *
 * It prints, per profile, what was kept, bypassed and muted, each file's
 * loudness and true peak, and the stems' null check; then runs the song
 * block by block as a real-time host would, reading the mix-bus gain
 * reduction, and checks that pass against the delivered production mix.
 *
 *   demo_song [--out DIR]        (default DIR: out)
 *
 * The synthesis (band-limited oscillators, a state-variable filter) lives in
 * this file so the demo links nothing but libmixstage.
 */
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

#define FS 48000
#define BPM 120.0
#define BARS 8
#define BEAT ((int64_t)(FS * 60.0 / BPM)) /* 24000 frames */
#define EIGHTH (BEAT / 2)
#define BAR (4 * BEAT)
#define SONG (BARS * BAR) /* 16 s */
#define PI 3.14159265358979323846

/* ---- failure handling: the library's own message, then exit 1 ------------ */

static mixstage_graph *G;

static void fail(int status, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fputs("demo_song: ", stderr);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  const char *msg = G ? mixstage_graph_last_error(G) : "";
  fprintf(stderr, ": %s%s%s\n", mixstage_strerror(status), *msg ? " — " : "", msg);
  mixstage_graph_destroy(G);
  exit(1);
}

static void ok(int status, const char *what) {
  if (status < 0) fail(status, "%s", what);
}

static void *xcalloc(size_t n, size_t size) {
  void *p = calloc(n, size);
  if (!p) {
    fprintf(stderr, "demo_song: out of memory\n");
    exit(1);
  }
  return p;
}

/* ---- synthesis building blocks ---------------------------------------------- */

static double midi_hz(double m) { return 440.0 * pow(2.0, (m - 69.0) / 12.0); }

/* Deterministic white noise in [-1, 1) (xorshift32, Marsaglia 2003). */
typedef struct rng { uint32_t s; } rng;
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
static svf_out svf_run(svf *f, double x, double fc, double q) {
  if (fc > 0.45 * FS) fc = 0.45 * FS;
  double g = tan(PI * fc / FS), k = 1.0 / q;
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

static void normalise_peak(float *x, int64_t n, double peak_db) {
  double pk = 0.0;
  for (int64_t i = 0; i < n; i++)
    if (fabs(x[i]) > pk) pk = fabs(x[i]);
  if (pk <= 0.0) return;
  double g = pow(10.0, peak_db / 20.0) / pk;
  for (int64_t i = 0; i < n; i++) x[i] = (float)(x[i] * g);
}

/* ---- the arrangement ----------------------------------------------------------- */

/* One chord per bar: Am7 Fmaj7 Cadd9 G6 | Am7 Fmaj7 G6 Am(add9), voiced
 * close around middle C so the voice leading moves by steps. */
static const int chord[BARS][4] = {
    {55, 57, 60, 64}, {53, 57, 60, 64}, {55, 60, 62, 64}, {55, 59, 62, 64},
    {55, 57, 60, 64}, {53, 57, 60, 64}, {55, 59, 62, 64}, {57, 60, 64, 71},
};
static const int bass_root[BARS] = {33, 29, 36, 31, 33, 29, 31, 33}; /* A1 F1 C2 G1 ... */

/* The lead: {bar, start in eighths, length in eighths, MIDI note}. */
static const int melody[][4] = {
    {0, 2, 2, 76}, {0, 4, 1, 74}, {0, 5, 1, 72}, {0, 6, 2, 69},                   /* E D C A */
    {1, 0, 3, 72}, {1, 3, 1, 69}, {1, 4, 2, 67}, {1, 6, 2, 69},                   /* C A G A */
    {2, 0, 2, 76}, {2, 2, 2, 79}, {2, 4, 1, 76}, {2, 5, 1, 74}, {2, 6, 2, 72},    /* E G E D C */
    {3, 0, 4, 74}, {3, 4, 2, 71},                                                 /* D B */
    {4, 0, 2, 76}, {4, 2, 2, 81}, {4, 4, 1, 79}, {4, 5, 1, 76}, {4, 6, 2, 74},    /* E A G E D */
    {5, 0, 2, 72}, {5, 2, 2, 76}, {5, 4, 1, 72}, {5, 5, 1, 69}, {5, 6, 2, 67},    /* C E C A G */
    {6, 0, 2, 71}, {6, 2, 2, 74}, {6, 4, 2, 79}, {6, 6, 1, 76}, {6, 7, 1, 74},    /* B D G E D */
    {7, 0, 1, 72}, {7, 1, 1, 71}, {7, 2, 5, 69},                                  /* C B A... */
};
#define MELODY_NOTES ((int)(sizeof melody / sizeof melody[0]))

/* The last bar thins out: drums stop after beat 3, the lead rings on. */
static int drums_play(int64_t beat) { return beat < (BARS - 1) * 4 + 3; }

/* Kick: a sine swept from ~170 Hz down to 48 Hz with a short noise click,
 * gently soft-clipped; four on the floor. */
static void synth_kick(float *out) {
  rng r = {0x1234567u};
  for (int64_t b = 0; b < BARS * 4; b++) {
    if (!drums_play(b)) continue;
    int64_t t0 = b * BEAT;
    int64_t len = (int64_t)(0.45 * FS);
    double ph = 0.0;
    svf click = {0, 0};
    for (int64_t n = 0; n < len && t0 + n < SONG; n++) {
      double t = (double)n / FS;
      double f = 48.0 + 120.0 * exp(-t / 0.035);
      ph += 2.0 * PI * f / FS;
      double fade = t < 0.38 ? 1.0 : 0.5 + 0.5 * cos(PI * (t - 0.38) / 0.07);
      double body = sin(ph) * exp(-t / 0.19) * fade;
      double c = svf_run(&click, noise(&r), 3500.0, 0.8).bp * exp(-t / 0.004);
      double x = body + 0.5 * c;
      out[t0 + n] += (float)(tanh(1.6 * x) / tanh(1.6));
    }
  }
}

/* Clap on beats 2 and 4 from bar 3: three quick band-passed noise bursts and
 * a short diffuse tail, the way hand claps smear. */
static void synth_clap(float *out) {
  rng r = {0x2badcafeu};
  for (int64_t b = 2 * 4; b < BARS * 4; b++) {
    if (b % 4 != 1 && b % 4 != 3) continue;
    if (!drums_play(b)) continue;
    int64_t t0 = b * BEAT;
    svf bp = {0, 0}, hp = {0, 0};
    for (int64_t n = 0; n < (int64_t)(0.3 * FS) && t0 + n < SONG; n++) {
      double t = (double)n / FS, e = 0.0;
      static const double burst[3] = {0.0, 0.011, 0.023};
      for (int k = 0; k < 3; k++)
        if (t >= burst[k]) e += (k == 2 ? 1.0 : 0.7) * exp(-(t - burst[k]) / 0.006);
      e += 0.35 * exp(-t / 0.11) * (t > 0.023);
      double x = svf_run(&bp, noise(&r), 1250.0, 1.1).bp;
      x = svf_run(&hp, x, 700.0, 0.7).hp;
      out[t0 + n] += (float)(x * e);
    }
  }
}

/* Hats: high-passed noise on every eighth, short on the beat and longer and
 * louder off the beat, with a sixteenth pick-up at the end of bar 4. */
static void synth_hats(float *out) {
  rng r = {0x9e3779b9u};
  for (int64_t k = 0; k < BARS * 8; k++) {
    if (!drums_play(k / 2)) continue;
    int off = (int)(k & 1);
    double vel = off ? 1.0 : 0.55, dec = off ? 0.075 : 0.028;
    vel *= 1.0 - 0.06 * (double)((k * 5) % 3); /* a little human accent */
    for (int pick = 0; pick < 2; pick++) {
      if (pick && k != 4 * 8 - 1) break;
      int64_t t0 = k * EIGHTH + (pick ? EIGHTH / 2 : 0);
      double v = pick ? 0.45 : vel;
      svf hp = {0, 0}, pk = {0, 0};
      for (int64_t n = 0; n < (int64_t)(8.0 * dec * FS) && t0 + n < SONG; n++) {
        double t = (double)n / FS;
        double e = (t < 0.0005 ? t / 0.0005 : 1.0) * exp(-t / dec);
        double w = noise(&r);
        double h = svf_run(&hp, w, 7500.0, 0.7).hp;
        double s = svf_run(&pk, w, 11000.0, 3.0).bp;
        out[t0 + n] += (float)(v * e * (h + 0.6 * s));
      }
    }
  }
}

/* Bass: saw plus sine through a resonant low-pass whose cutoff snaps down
 * after each pluck; eighths on the root, octave and fifth.  The kick ducks
 * it in the mix (sidechain), which gives the groove its pump. */
static void synth_bass(float *out) {
  static const int pat[8] = {0, 0, 12, 0, 0, 12, 0, 7};
  for (int bar = 0; bar < BARS; bar++) {
    int last = bar == BARS - 1;
    for (int k = 0; k < (last ? 1 : 8); k++) {
      int64_t t0 = bar * BAR + k * EIGHTH;
      double gate = last ? 1.45 : 0.205;
      double f = midi_hz(bass_root[bar] + pat[k]), dt = f / FS, ph = 0.0;
      svf lp = {0, 0};
      int64_t len = (int64_t)((gate + 0.03) * FS);
      for (int64_t n = 0; n < len && t0 + n < SONG; n++) {
        double t = (double)n / FS;
        double osc = 0.7 * saw(ph, dt) + 0.6 * sin(2.0 * PI * ph);
        double fc = 160.0 + 1300.0 * exp(-t / 0.07);
        double y = svf_run(&lp, osc, fc, 1.1).lp;
        out[t0 + n] += (float)(y * adsr(t, gate, 0.003, 0.25, 0.75, 0.03));
        ph += dt;
        ph -= floor(ph);
      }
    }
  }
}

/* Pad: each chord tone is two detuned saws per side (different detune and
 * phase left and right, which makes the stereo image), slow attack,
 * crossfading release into the next bar, and a low-pass that breathes. */
static void synth_pad(float *L, float *R) {
  rng r = {0x51ed270bu};
  for (int bar = 0; bar < BARS; bar++) {
    int64_t t0 = bar * BAR;
    double gate = bar == BARS - 1 ? 1.35 : 2.0, rel = 0.6;
    int64_t len = (int64_t)((gate + rel) * FS);
    for (int v = 0; v < 4; v++) {
      double f = midi_hz(chord[bar][v]);
      static const double cents[2][2] = {{-7.0, 5.0}, {-4.0, 8.0}};
      for (int side = 0; side < 2; side++) {
        float *out = side ? R : L;
        for (int o = 0; o < 2; o++) {
          double fo = f * pow(2.0, cents[side][o] / 1200.0), dt = fo / FS;
          double ph = 0.5 * (noise(&r) + 1.0);
          for (int64_t n = 0; n < len && t0 + n < SONG; n++) {
            double t = (double)n / FS;
            out[t0 + n] += (float)(0.12 * saw(ph, dt) * adsr(t, gate, 0.28, 1.0, 0.85, rel));
            ph += dt;
            ph -= floor(ph);
          }
        }
      }
    }
  }
  svf fl = {0, 0}, fr = {0, 0};
  for (int64_t n = 0; n < SONG; n++) {
    double t = (double)n / FS;
    double fc = 1900.0 * pow(2.0, 0.5 * sin(2.0 * PI * 0.125 * t)); /* one breath per bar pair */
    L[n] = (float)svf_run(&fl, L[n], fc, 0.6).lp;
    R[n] = (float)svf_run(&fr, R[n], fc * 1.03, 0.6).lp;
  }
}

/* Lead: saw and square through a low-pass with a pluck envelope; vibrato
 * fades in on the longer notes. */
static void synth_lead(float *out) {
  for (int i = 0; i < MELODY_NOTES; i++) {
    int64_t t0 = melody[i][0] * BAR + melody[i][1] * EIGHTH;
    double gate = melody[i][2] * (double)EIGHTH / FS - 0.02;
    double f = midi_hz(melody[i][3]), ph = 0.0, rel = 0.12;
    svf lp = {0, 0};
    int64_t len = (int64_t)((gate + rel) * FS);
    for (int64_t n = 0; n < len && t0 + n < SONG; n++) {
      double t = (double)n / FS;
      double vib_amt = t < 0.25 ? 0.0 : fmin(1.0, (t - 0.25) / 0.3);
      double fv = f * pow(2.0, 0.2 / 12.0 * vib_amt * sin(2.0 * PI * 5.2 * t));
      double dt = fv / FS;
      double osc = 0.6 * saw(ph, dt) + 0.4 * pulse(ph, dt, 0.5);
      double fc = 1300.0 + 3200.0 * exp(-t / 0.15);
      double y = svf_run(&lp, osc, fc, 0.9).lp;
      out[t0 + n] += (float)(y * adsr(t, gate, 0.006, 0.25, 0.7, rel));
      ph += dt;
      ph -= floor(ph);
    }
  }
}

/* ---- levels ------------------------------------------------------------------ */

/* Level of a source as an engineer reads it for gain staging: the RMS of the
 * 50 ms windows that are within 20 dB of the loudest one (so the gaps in a
 * hat pattern do not count as part of its level), in dBFS. */
static double active_rms_db(const float *x, int nch, int64_t frames) {
  const int64_t w = FS / 20;
  int64_t nw = frames / w;
  double *p = xcalloc((size_t)nw + 1, sizeof(double));
  double pmax = 0.0;
  for (int64_t k = 0; k < nw; k++) {
    double s = 0.0;
    for (int64_t i = k * w * nch; i < (k + 1) * w * nch; i++) s += (double)x[i] * x[i];
    p[k] = s / (double)(w * nch);
    if (p[k] > pmax) pmax = p[k];
  }
  double sum = 0.0;
  int64_t cnt = 0;
  for (int64_t k = 0; k < nw; k++)
    if (p[k] > pmax * 0.01) {
      sum += p[k];
      cnt++;
    }
  free(p);
  return cnt ? 10.0 * log10(sum / (double)cnt) : -120.0;
}

static double peak_db(const float *x, int64_t n) {
  double pk = 0.0;
  for (int64_t i = 0; i < n; i++)
    if (fabs(x[i]) > pk) pk = fabs(x[i]);
  return pk > 0.0 ? 20.0 * log10(pk) : -120.0;
}

/* ---- graph helpers ------------------------------------------------------------ */

static void set(mixstage_node *n, const char *name, double v) {
  int rc = mixstage_node_set_param_by_name(n, name, v);
  if (rc < 0) fail(rc, "%s: setting %s to %g", mixstage_node_label(n), name, v);
}

/* Enum parameters by the name of their choice, found through introspection. */
static void set_choice(mixstage_node *n, const char *name, const char *choice) {
  int id = mixstage_node_param_id(n, name);
  if (id < 0) fail(id, "%s: parameter %s", mixstage_node_label(n), name);
  mixstage_param_info info;
  ok(mixstage_node_param_info(n, id, &info), name);
  const char *c = info.choices ? info.choices : "";
  size_t len = strlen(choice);
  for (int k = 0; *c; k++) {
    const char *bar = strchr(c, '|');
    size_t l = bar ? (size_t)(bar - c) : strlen(c);
    if (l == len && strncmp(c, choice, len) == 0) {
      set(n, name, k);
      return;
    }
    if (!bar) break;
    c = bar + 1;
  }
  fail(MIXSTAGE_ENOTFOUND, "%s: %s has no choice \"%s\"", mixstage_node_label(n), name, choice);
}

static mixstage_node *strip_insert(mixstage_strip *s, const char *type, int role) {
  int err;
  mixstage_node *n = mixstage_strip_insert(s, type, role, -1, &err);
  if (!n) fail(err, "strip '%s': inserting %s", mixstage_strip_name(s), type);
  return n;
}

static mixstage_node *bus_insert(mixstage_bus *b, const char *type, int role) {
  int err;
  mixstage_node *n = mixstage_bus_insert(b, type, role, -1, &err);
  if (!n) fail(err, "bus '%s': inserting %s", mixstage_bus_name(b), type);
  return n;
}

/* EQ band helpers ("eq" bands are numbered from 1). */
static void eq_band(mixstage_node *eq, int band, const char *type, double hz, double gain_db, double q) {
  char name[32];
  snprintf(name, sizeof name, "band%d_type", band);
  set_choice(eq, name, type);
  snprintf(name, sizeof name, "band%d_freq", band);
  set(eq, name, hz);
  snprintf(name, sizeof name, "band%d_gain", band);
  set(eq, name, gain_db);
  snprintf(name, sizeof name, "band%d_q", band);
  set(eq, name, q);
}

static mixstage_node *compressor(mixstage_strip *s, const char *detector, double thr, double ratio,
                                 double att_ms, double rel_ms, double makeup) {
  mixstage_node *c = strip_insert(s, "compressor", MIXSTAGE_ROLE_STRIP);
  set_choice(c, "detector", detector);
  set(c, "threshold", thr);
  set(c, "ratio", ratio);
  set(c, "attack", att_ms);
  set(c, "release", rel_ms);
  set(c, "knee", 6.0);
  set(c, "makeup", makeup);
  return c;
}

/* ---- the delivery report ------------------------------------------------------ */

static void print_file(void *user, const char *path, const char *name, int kind,
                       const mixstage_file_stats *st) {
  (void)user;
  (void)name;
  static const char *const kinds[] = {"mix", "stem", "FX stem", "reference"};
  char lufs[32], tp[32];
  if (isfinite(st->integrated_lufs)) snprintf(lufs, sizeof lufs, "%6.1f LUFS", st->integrated_lufs);
  else snprintf(lufs, sizeof lufs, "%11s", "silent");
  if (isfinite(st->true_peak_dbtp)) snprintf(tp, sizeof tp, "%+6.1f dBTP", st->true_peak_dbtp);
  else snprintf(tp, sizeof tp, "%11s", "-inf");
  printf("   %-9s %-36s %s  %s  %.2f s\n", kinds[kind & 3], path, lufs, tp, st->seconds);
}

/* What a role covers in this graph, in words: its inserts by owner, and for
 * mix-fx the sends and returns it governs. */
static void role_words(int role, char *out, size_t size) {
  out[0] = 0;
  size_t l = 0;
  int any = 0;
  if (role == MIXSTAGE_ROLE_MIX_FX) {
    /* Returns fed by mix-fx sends. */
    for (int b = 1; b < mixstage_graph_bus_count(G); b++) {
      mixstage_bus *bus = mixstage_graph_bus(G, b);
      if (mixstage_bus_kind_of(bus) != MIXSTAGE_BUS_RETURN) continue;
      l += (size_t)snprintf(out + l, size - l, "%s%s", any ? " and " : "sends to the ", mixstage_bus_name(bus));
      any = 1;
    }
    if (any) snprintf(out + l, size - l, " returns");
    return;
  }
  for (int i = 0; i < mixstage_graph_strip_count(G); i++) {
    mixstage_strip *s = mixstage_graph_strip(G, i);
    for (int k = 0; k < mixstage_strip_node_count(s); k++) {
      mixstage_node *n = mixstage_strip_node(s, k);
      if (mixstage_node_role(n) != role) continue;
      if (role == MIXSTAGE_ROLE_STRIP) {
        if (!any) l += (size_t)snprintf(out + l, size - l, "channel-strip EQ, compression, saturation, faders, pan");
        any = 1;
        break;
      }
      l += (size_t)snprintf(out + l, size - l, "%s%s's %s", any ? ", " : "", mixstage_strip_name(s),
                            mixstage_node_type(n));
      any = 1;
    }
    if (l >= size) return;
  }
  for (int b = 0; b < mixstage_graph_bus_count(G); b++) {
    mixstage_bus *bus = mixstage_graph_bus(G, b);
    for (int k = 0; k < mixstage_bus_node_count(bus); k++) {
      mixstage_node *n = mixstage_bus_node(bus, k);
      if (mixstage_node_role(n) != role || (role == MIXSTAGE_ROLE_STRIP && any)) continue;
      const char *t = mixstage_node_type(n);
      if (role == MIXSTAGE_ROLE_PLACEHOLDER_LIMITER) t = "placeholder limiter";
      else if (!strcmp(t, "bus_compressor")) t = "bus compressor";
      else if (!strcmp(t, "console_color")) t = "console colour";
      l += (size_t)snprintf(out + l, size - l, "%s%s%s%s", any ? ", " : "", b == 0 ? "" : mixstage_bus_name(bus),
                            b == 0 ? "" : "'s ", t);
      any = 1;
      if (l >= size) return;
    }
  }
}

static void describe_profile(const mixstage_profile *p) {
  static const char *const verb[3] = {"kept", "bypassed", "muted"};
  for (int a = 0; a < 3; a++) {
    char line[1024] = "";
    size_t l = 0;
    for (int r = 0; r < MIXSTAGE_ROLE_COUNT; r++) {
      if (mixstage_profile_action(p, r) != a) continue;
      char w[512];
      role_words(r, w, sizeof w);
      if (!w[0]) continue;
      if (r == MIXSTAGE_ROLE_MASTERING && a == MIXSTAGE_ACTION_BYPASS) {
        /* "bypassed" mastering means: not part of this render */
        l += (size_t)snprintf(line + l, sizeof line - l, "%smastering chain (%s) off", l ? "; " : "", w);
        continue;
      }
      l += (size_t)snprintf(line + l, sizeof line - l, "%s%s", l ? "; " : "", w);
      if (l >= sizeof line) break;
    }
    if (line[0]) printf("   %-9s %s\n", verb[a], line);
  }
  if (mixstage_profile_stems(p) != MIXSTAGE_STEMS_NONE)
    printf("   delivers one stem per %s%s%s\n", mixstage_profile_stems(p) == MIXSTAGE_STEMS_PER_STRIP ? "strip" : "group",
           mixstage_profile_fx_stems(p) ? ", the FX returns as their own stems" : "",
           mixstage_profile_reference(p) ? ", and the production mix as reference.wav for A/B" : "");
}

/* ---- main ---------------------------------------------------------------------- */

enum { KICK, CLAP, HATS, BASS, PAD, LEAD, NSTRIPS };

int main(int argc, char **argv) {
  const char *outdir = "out";
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--out") == 0 && i + 1 < argc) outdir = argv[++i];
    else {
      fprintf(stderr, "usage: %s [--out DIR]\n", argv[0]);
      return 2;
    }
  }

  /* The sources, as a producer would bounce them: mono except the pad. */
  static const char *const names[NSTRIPS] = {"Kick", "Clap", "Hats", "Bass", "Pad", "Lead"};
  float *src[NSTRIPS];
  int src_ch[NSTRIPS];
  for (int i = 0; i < NSTRIPS; i++) {
    src_ch[i] = i == PAD ? 2 : 1;
    src[i] = xcalloc((size_t)SONG * (size_t)src_ch[i], sizeof(float));
  }
  synth_kick(src[KICK]);
  synth_clap(src[CLAP]);
  synth_hats(src[HATS]);
  synth_bass(src[BASS]);
  {
    float *l = xcalloc(SONG, sizeof(float)), *r = xcalloc(SONG, sizeof(float));
    synth_pad(l, r);
    for (int64_t n = 0; n < SONG; n++) {
      src[PAD][2 * n] = l[n];
      src[PAD][2 * n + 1] = r[n];
    }
    free(l);
    free(r);
  }
  synth_lead(src[LEAD]);
  for (int i = 0; i < NSTRIPS; i++) normalise_peak(src[i], SONG * src_ch[i], -3.0);

  mixstage_graph_config cfg;
  mixstage_graph_config_init(&cfg);
  cfg.sample_rate = FS;
  cfg.tempo_bpm = BPM;
  cfg.mix_channels = 2;
  int err;
  G = mixstage_graph_create(&cfg, &err);
  if (!G) fail(err, "creating the graph");

  /* Buses: a drum group, a plate reverb and a tempo-synced delay. */
  mixstage_bus *mix = mixstage_graph_mix_bus(G);
  mixstage_bus *drums = mixstage_graph_add_bus(G, "Drums", MIXSTAGE_BUS_GROUP, 2, &err);
  if (!drums) fail(err, "adding bus Drums");
  mixstage_bus *plate = mixstage_graph_add_bus(G, "Plate", MIXSTAGE_BUS_RETURN, 2, &err);
  if (!plate) fail(err, "adding bus Plate");
  mixstage_bus *delay = mixstage_graph_add_bus(G, "Delay", MIXSTAGE_BUS_RETURN, 2, &err);
  if (!delay) fail(err, "adding bus Delay");

  /* Strips: clip gain first, so every source sits near -18 dBFS before any
   * processing (peaks kept at or below -6 dBFS), then faders for balance. */
  static const double fader_db[NSTRIPS] = {-3.0, 0.0, -7.0, 0.0, -6.0, -5.0};
  static const double pan[NSTRIPS] = {0.0, 0.0, 0.3, 0.0, 0.0, 0.0};
  mixstage_strip *st[NSTRIPS];
  double level[NSTRIPS], clip[NSTRIPS];
  for (int i = 0; i < NSTRIPS; i++) {
    st[i] = mixstage_graph_add_strip(G, names[i], 2, &err);
    if (!st[i]) fail(err, "adding strip %s", names[i]);
    ok(mixstage_strip_set_source_buffer(st[i], src[i], src_ch[i], SONG, 0), names[i]);
    level[i] = active_rms_db(src[i], src_ch[i], SONG);
    clip[i] = -18.0 - level[i];
    double pk = peak_db(src[i], SONG * src_ch[i]);
    if (pk + clip[i] > -6.0) clip[i] = -6.0 - pk;
    ok(mixstage_strip_set_clip_gain_db(st[i], clip[i]), names[i]);
    ok(mixstage_strip_set_fader_db(st[i], fader_db[i]), names[i]);
    ok(mixstage_strip_set_pan(st[i], pan[i]), names[i]);
  }

  /* Kick: clear the sub rumble, a little weight and knock, less box. */
  mixstage_node *eq = strip_insert(st[KICK], "eq", MIXSTAGE_ROLE_STRIP);
  eq_band(eq, 1, "highpass", 28.0, 0.0, 0.7071);
  eq_band(eq, 2, "bell", 60.0, 2.0, 1.2);
  eq_band(eq, 3, "bell", 330.0, -3.0, 1.4);
  eq_band(eq, 4, "highshelf", 4000.0, 2.0, 0.7071);
  compressor(st[KICK], "peak", -14.0, 4.0, 10.0, 90.0, 2.0);
  mixstage_node *sat = strip_insert(st[KICK], "saturation", MIXSTAGE_ROLE_STRIP);
  set(sat, "drive", 4.0);

  /* Clap: out of the kick's way, a touch of snap; the saturation rounds off
   * the noise spikes of the bursts (crunch instead of a spiky peak). */
  eq = strip_insert(st[CLAP], "eq", MIXSTAGE_ROLE_STRIP);
  eq_band(eq, 1, "highpass", 200.0, 0.0, 0.7071);
  eq_band(eq, 2, "bell", 2500.0, 2.0, 1.0);
  compressor(st[CLAP], "peak", -20.0, 4.0, 1.0, 60.0, 6.0);
  sat = strip_insert(st[CLAP], "saturation", MIXSTAGE_ROLE_STRIP);
  set(sat, "drive", 12.0);

  /* Hats: only air; compress lightly so the off-beats stay even. */
  eq = strip_insert(st[HATS], "eq", MIXSTAGE_ROLE_STRIP);
  eq_band(eq, 1, "highpass", 400.0, 0.0, 0.7071);
  eq_band(eq, 2, "highshelf", 10000.0, 1.5, 0.7071);
  compressor(st[HATS], "peak", -20.0, 3.0, 2.0, 50.0, 1.0);

  /* Bass: tidy the mud, level it, then duck it under the kick (the
   * production's sidechain: it stays in every stem), then some grit. */
  eq = strip_insert(st[BASS], "eq", MIXSTAGE_ROLE_STRIP);
  eq_band(eq, 1, "highpass", 32.0, 0.0, 0.7071);
  eq_band(eq, 2, "bell", 240.0, -2.5, 1.0);
  eq_band(eq, 3, "bell", 900.0, 1.5, 1.2);
  compressor(st[BASS], "peak", -18.0, 3.0, 8.0, 120.0, 2.0);
  mixstage_node *duck = compressor(st[BASS], "peak", -16.0, 4.0, 1.0, 140.0, 0.0); /* ~6 dB on each kick */
  ok(mixstage_node_set_sidechain_strip(duck, st[KICK], MIXSTAGE_TAP_PRE_FADER), "Bass sidechain");
  sat = strip_insert(st[BASS], "saturation", MIXSTAGE_ROLE_STRIP);
  set(sat, "drive", 6.0);
  set(sat, "mix", 60.0);

  /* Pad: leave the low end to kick and bass, soften the top, and its own
   * reverb as part of the sound (role design: it stays in the pad's stem). */
  eq = strip_insert(st[PAD], "eq", MIXSTAGE_ROLE_STRIP);
  eq_band(eq, 1, "highpass", 180.0, 0.0, 0.7071);
  eq_band(eq, 2, "bell", 700.0, -2.0, 0.8);
  eq_band(eq, 3, "highshelf", 9000.0, -1.5, 0.7071);
  compressor(st[PAD], "rms", -24.0, 2.0, 30.0, 250.0, 1.0);
  mixstage_node *prev = strip_insert(st[PAD], "reverb", MIXSTAGE_ROLE_DESIGN);
  set(prev, "mix", 30.0);
  set(prev, "decay", 3.5);
  set(prev, "size", 80.0);
  set(prev, "predelay", 10.0);
  set(prev, "damping_high", 5000.0);

  /* Lead: presence, steady level, a little warmth; sends to the returns. */
  eq = strip_insert(st[LEAD], "eq", MIXSTAGE_ROLE_STRIP);
  eq_band(eq, 1, "highpass", 220.0, 0.0, 0.7071);
  eq_band(eq, 2, "bell", 2800.0, 2.0, 1.0);
  eq_band(eq, 3, "bell", 500.0, -1.5, 1.0);
  compressor(st[LEAD], "peak", -20.0, 3.0, 5.0, 80.0, 3.0);
  sat = strip_insert(st[LEAD], "saturation", MIXSTAGE_ROLE_STRIP);
  set(sat, "drive", 3.0);
  mixstage_send *s_plate =
      mixstage_strip_add_send(st[LEAD], plate, -8.0, MIXSTAGE_TAP_POST_FADER, MIXSTAGE_ROLE_MIX_FX, &err);
  if (!s_plate) fail(err, "Lead send to Plate");
  mixstage_send *s_delay =
      mixstage_strip_add_send(st[LEAD], delay, -12.0, MIXSTAGE_TAP_POST_FADER, MIXSTAGE_ROLE_MIX_FX, &err);
  if (!s_delay) fail(err, "Lead send to Delay");
  /* The clap gets a splash of the plate too. */
  if (!mixstage_strip_add_send(st[CLAP], plate, -14.0, MIXSTAGE_TAP_POST_FADER, MIXSTAGE_ROLE_MIX_FX, &err))
    fail(err, "Clap send to Plate");

  ok(mixstage_strip_set_output(st[KICK], drums), "Kick");
  ok(mixstage_strip_set_output(st[CLAP], drums), "Clap");
  ok(mixstage_strip_set_output(st[HATS], drums), "Hats");

  /* Drum glue: slow RMS compression of the group, 1-2 dB. */
  mixstage_node *glue = bus_insert(drums, "compressor", MIXSTAGE_ROLE_STRIP);
  set_choice(glue, "detector", "rms");
  set(glue, "threshold", -20.0);
  set(glue, "ratio", 2.0);
  set(glue, "attack", 20.0);
  set(glue, "release", 150.0);
  set(glue, "makeup", 1.0);

  /* Plate: bright, 1.8 s, pre-delay to keep the lead in front; the return's
   * low end cut so the reverb never muddies the bass. */
  mixstage_node *pl = bus_insert(plate, "reverb", MIXSTAGE_ROLE_MIX_FX);
  set(pl, "mix", 100.0);
  set(pl, "decay", 1.8);
  set(pl, "size", 55.0);
  set(pl, "predelay", 25.0);
  set(pl, "damping_high", 7000.0);
  set(pl, "diffusion", 85.0);
  mixstage_node *peq = bus_insert(plate, "eq", MIXSTAGE_ROLE_MIX_FX);
  eq_band(peq, 1, "highpass", 300.0, 0.0, 0.7071);
  ok(mixstage_bus_set_fader_db(plate, -3.0), "Plate");

  /* Delay: dotted eighths at the song's tempo, ping-pong, darkening repeats. */
  mixstage_node *dl = bus_insert(delay, "delay", MIXSTAGE_ROLE_MIX_FX);
  set_choice(dl, "mode", "pingpong");
  set(dl, "sync", 1.0);
  set_choice(dl, "note", "1/8d");
  set(dl, "feedback", 30.0);
  set(dl, "hpf", 300.0);
  set(dl, "lpf", 4500.0);
  set(dl, "mix", 100.0);
  ok(mixstage_bus_set_fader_db(delay, -6.0), "Delay");

  /* Mix bus: console colour, glue compressor, and the placeholder limiter
   * that lets the production be heard loud. */
  bus_insert(mix, "console_color", MIXSTAGE_ROLE_BUS_COLOR);
  mixstage_node *buscomp = bus_insert(mix, "bus_compressor", MIXSTAGE_ROLE_BUS_DYNAMICS);
  set(buscomp, "threshold", -16.0);
  set_choice(buscomp, "ratio", "2");
  set(buscomp, "attack", 10.0);
  set(buscomp, "release", 0.3);
  set(buscomp, "makeup", 1.5);
  mixstage_node *lim = bus_insert(mix, "limiter", MIXSTAGE_ROLE_PLACEHOLDER_LIMITER);
  set(lim, "ceiling", -1.0);
  set(lim, "lookahead", 5.0);
  set(lim, "release", 80.0);
  set(lim, "input_gain", 5.0); /* production loudness: a few dB of limiting */

  /* Mastering chain (role mastering: off in production and mix-stems, on
   * in final, where the placeholder limiter is bypassed): a gentle tilt
   * and a true-peak limiter with a -1 dBTP ceiling.  A loudness-targeted
   * master (gain set from a measured LUFS target) arrives with the
   * analysis work; this one sets its input gain by hand. */
  mixstage_node *tilt = bus_insert(mix, "tilt_eq", MIXSTAGE_ROLE_MASTERING);
  set(tilt, "tilt", 0.5);
  set(tilt, "tilt_freq", 1200.0);
  mixstage_node *mlim = bus_insert(mix, "limiter", MIXSTAGE_ROLE_MASTERING);
  set(mlim, "ceiling", -1.0);
  set(mlim, "true_peak", 1.0);
  set(mlim, "lookahead", 5.0);
  set(mlim, "release", 150.0);
  set(mlim, "input_gain", 6.0);

  printf("libmixstage %s — demo song: %d bars of A minor at %.0f BPM, %d Hz\n\n", mixstage_version_string(),
         BARS, BPM, FS);
  printf("%-6s %-7s %12s %10s %8s %6s  %s\n", "strip", "source", "level", "clip gain", "fader", "pan", "inserts");
  for (int i = 0; i < NSTRIPS; i++) {
    char ins[160] = "";
    for (int k = 0; k < mixstage_strip_node_count(st[i]); k++) {
      mixstage_node *n = mixstage_strip_node(st[i], k);
      size_t l = strlen(ins);
      snprintf(ins + l, sizeof ins - l, "%s%s%s", k ? ", " : "", mixstage_node_type(n),
               mixstage_node_role(n) == MIXSTAGE_ROLE_DESIGN ? " (design)" : "");
    }
    printf("%-6s %-7s %7.1f dBFS %+7.1f dB %+5.1f dB %+5.2f  %s\n", names[i], src_ch[i] == 2 ? "stereo" : "mono",
           level[i], clip[i], fader_db[i], pan[i], ins);
  }
  printf("\ngraph: %d strips; buses: Drums (group: Kick, Clap, Hats), Plate and Delay (mix-fx returns), Mix\n",
         mixstage_graph_strip_count(G));
  printf("sends: Lead -> Plate %.0f dB and Lead -> Delay %.0f dB (1/8 dotted = %.0f ms), Clap -> Plate -14 dB, "
         "all post-fader\n",
         mixstage_send_level_db(s_plate), mixstage_send_level_db(s_delay), 0.75 * 60000.0 / BPM);
  printf("sidechain: Bass ducking compressor keyed by Kick (pre-fader)\n");
  printf("mix bus: console_color (bus-color) -> bus_compressor (bus-dynamics) -> limiter (placeholder-limiter)\n"
         "         -> tilt_eq, limiter at -1 dBTP (mastering)\n");
  ok(mixstage_graph_prepare(G), "prepare");
  int latency = mixstage_graph_latency(G);
  printf("latency compensated: %d frames (%.2f ms)\n", latency, 1000.0 * latency / FS);

  /* ---- deliver the three profiles ---- */
  mixstage_deliver_config dc;
  mixstage_deliver_config_init(&dc); /* 24-bit WAV, TPDF dither, tails to -90 dBFS */
  dc.render.threads = 2;             /* bit-identical for any count */
  dc.file_done = print_file;
  double residual = NAN;
  dc.null_residual_out = &residual;
  static const char *const profiles[3] = {"production", "mix-stems", "final"};
  int numeric = 0;
  for (int k = 0; k < 3; k++) {
    const mixstage_profile *p = mixstage_profile_find(profiles[k]);
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/%s", outdir, profiles[k]);
    /* The production mix is delivered as 32-bit float: it is the
     * reference the block-by-block pass below is compared with. */
    dc.write.sample_type = k == 0 ? MIXSTAGE_SAMPLE_FLOAT32 : MIXSTAGE_SAMPLE_PCM24;
    printf("\n== %s -> %s/\n", profiles[k], dir);
    describe_profile(p);
    residual = NAN;
    int rc = mixstage_graph_deliver(G, p, dir, &dc);
    if (rc == MIXSTAGE_ENUMERIC) numeric = 1;
    else if (rc < 0) fail(rc, "delivering %s", profiles[k]);
    if (!isnan(residual))
      printf("   null check: stems + FX stems vs the production mix (mix-bus stages bypassed): %.1f dBFS%s\n",
             residual, residual < -100.0 ? " — the stems add up" : " — THE STEMS DO NOT ADD UP");
  }

  /* ---- a pass block by block, as a real-time host would run it, reading
   * the mix-bus gain reduction as it goes; compared with the delivered
   * production mix ---- */
  char path[4096];
  snprintf(path, sizeof path, "%s/production/mix.wav", outdir);
  float *out = NULL;
  int64_t total = 0;
  int nch = 0;
  char msg[512];
  int rs = mixstage_audio_read(path, 0, &out, &total, &nch, NULL, msg, sizeof msg);
  if (rs < 0) {
    fprintf(stderr, "demo_song: %s\n", msg);
    mixstage_graph_destroy(G);
    return 1;
  }
  ok(mixstage_graph_set_profile(G, NULL), "profile");
  ok(mixstage_graph_prepare(G), "prepare");
  enum { BLOCK = 256 };
  int64_t pass = total + latency;
  float *live = xcalloc((size_t)pass * 2, sizeof(float));
  double gr_bc_max = 0, gr_bc_sum = 0, gr_lim_max = 0, gr_lim_sum = 0;
  int64_t nblocks = 0, lim_active = 0;
  for (int64_t pos = 0; pos < pass; pos += BLOCK) {
    int n = pass - pos < BLOCK ? (int)(pass - pos) : BLOCK;
    int ps = mixstage_graph_process(G, live + 2 * pos, n);
    if (ps < 0 && ps != MIXSTAGE_ENUMERIC) fail(ps, "processing");
    if (pos >= latency + SONG) continue; /* gain reduction over the song itself */
    double a = mixstage_node_gain_reduction_db(buscomp), b = mixstage_node_gain_reduction_db(lim);
    gr_bc_max = fmax(gr_bc_max, a);
    gr_lim_max = fmax(gr_lim_max, b);
    gr_bc_sum += a;
    gr_lim_sum += b;
    lim_active += b > 0.1;
    nblocks++;
  }
  int64_t mismatch = 0;
  for (int64_t i = 0; i < total * 2; i++) mismatch += live[2 * (int64_t)latency + i] != out[i];

  printf("\nproduction mix: %lld frames = %.2f s (%.2f s of song + %.2f s of tails, trimmed at -90 dBFS)\n",
         (long long)total, (double)total / FS, (double)SONG / FS, (double)(total - SONG) / FS);
  printf("gain reduction (read every %d frames while processing): bus compressor max %.1f dB, mean %.1f dB; "
         "placeholder limiter max %.1f dB, mean %.1f dB, active %.0f%% of the time\n",
         BLOCK, gr_bc_max, gr_bc_sum / (double)nblocks, gr_lim_max, gr_lim_sum / (double)nblocks,
         100.0 * (double)lim_active / (double)nblocks);
  printf("block-by-block pass vs the delivered production mix: %s\n", mismatch ? "DIFFERENT" : "bit-identical");
  if (numeric) printf("warning: a node produced NaN/Inf during a render and was reset\n");
  printf("the final master is limited to -1 dBTP by hand-set gain; a loudness-targeted master (LUFS target)\n"
         "arrives with the analysis work.\n");

  /* The file earlier versions of the demo wrote (README, scripts). */
  mixstage_write_config wc;
  mixstage_write_config_init(&wc);
  wc.sample_type = MIXSTAGE_SAMPLE_FLOAT32;
  snprintf(path, sizeof path, "%s/demo_production.wav", outdir);
  if (mixstage_audio_write(path, out, total, 2, FS, &wc, NULL, msg, sizeof msg) < 0)
    printf("not written: %s\n", msg);
  else
    printf("wrote %s (a copy of production/mix.wav)\n", path);

  mixstage_graph_destroy(G);
  for (int i = 0; i < NSTRIPS; i++) free(src[i]);
  mixstage_free(out);
  free(live);
  return mismatch ? 1 : 0;
}
