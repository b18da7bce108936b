/* bench_graph: the libmixstage benchmark graph, built from the sources and the
 * per-strip parameter table that gen_bench.py writes (the graph is defined in
 * /work/shared/bench/README.md; run_bench.sh drives this program).
 *
 *   bench_graph [--mode offline|realtime|verify|iofloor|deliver] [--block N]
 *               [--seconds S] [--threads T [--rounds R]] [--strips N]
 *               [--sat-default] [--omit TYPE] [--out FILE.wav] SRC_DIR
 *
 *   offline   renders the whole program with mixstage_graph_process() in
 *             N-frame blocks (default 256), writes the mix as a float WAV.
 *   realtime  processes N-frame blocks (default 64), timing every call with
 *             CLOCK_MONOTONIC and CLOCK_THREAD_CPUTIME_ID; reports median /
 *             99.9th percentile / max against the block's real-time budget,
 *             and the page faults of the loop; --out FILE writes each
 *             block's times and faults (tab-separated) to see where the slow
 *             ones fall.
 *   verify    renders twice, with the process loop and with
 *             mixstage_graph_render(), and checks that they are bit-identical.
 *   iofloor   no libmixstage: reads the 32 sources and writes their sum (the
 *             I/O floor every implementation pays).
 *   deliver   plays the sources as streamed file sources (nothing loaded)
 *             and delivers the mix-stems profile (32 stems, FX stems,
 *             reference, null check, manifest) into the folder --out, one
 *             thread; the program is --seconds long (beyond the sources'
 *             end they play silence), so the peak memory of a long
 *             delivery can be compared with a short one.
 *
 * --seconds S renders only the first S seconds of the program (the sources
 * are still loaded whole); --seconds 0 renders nothing but the latency, a run
 * whose cost is the setup to subtract.  --omit TYPE (repeatable) leaves every
 * node of that type out, to attribute the cost per stage; the output says so.
 * --strips N (a multiple of 32) builds N strips: strip i plays source i mod 32
 * with row i mod 32 of the parameter table and goes to group (i mod 32)/8, and
 * each copy of the 32 keys its ducked strips from its own kick, so the graph
 * is the benchmark graph N/32 times over into the same buses (cost linear in
 * strips).  --sat-default leaves the saturation's oversampling at the node's
 * default instead of 1x.  --threads T (> 1) renders with mixstage_graph_render()
 * on T threads; with --rounds R it first renders R times on one thread and
 * on T alternately (one process, the sources loaded once, so both see the
 * same machine over the same minutes) and reports the medians' speed-up.
 *
 * Heap allocations (malloc, calloc, realloc, aligned) are counted by
 * alloc_count.c, which replaces glibc's allocator entry points for the whole
 * process, libmixstage included; the real-time mode and the offline process
 * loop report how many calls their loop made.
 *
 * Only the public API (mixstage.h) is used.  Lines starting "RESULT key value"
 * are for run_bench.sh; lines starting "NOTE" say where this graph departs
 * from the README (a missing node type, a parameter the node does not have, a
 * value outside its range); nothing is faked.
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <time.h>

#include <sndfile.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "alloc_count.h"
#include "mixstage.h"

#define NSTRIPS 32     /* sources and rows of the parameter table */
#define MAX_STRIPS 1024 /* --strips */
#define SR 48000.0
#ifndef M_PI
#define M_PI 3.14159265358979323846
#endif

/* ---- small utilities ------------------------------------------------------ */

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* CPU time of this process: unlike wall time, not inflated when other
 * processes compete for the cores. */
static double cpu_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static double maxrss_mib(void) {
  struct rusage ru;
  if (getrusage(RUSAGE_SELF, &ru) != 0) return -1.0;
  return (double)ru.ru_maxrss / 1024.0; /* Linux reports KiB */
}

static void die(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fputs("bench_graph: ", stderr);
  vfprintf(stderr, fmt, ap);
  fputc('\n', stderr);
  va_end(ap);
  exit(1);
}

static void *xmalloc(size_t n) {
  void *p = malloc(n ? n : 1);
  if (!p) die("out of memory (%zu bytes)", n);
  return p;
}

static double db(double g) { return g > 1e-30 ? 20.0 * log10(g) : -600.0; }

/* ---- strips.tsv ------------------------------------------------------------- */

typedef struct strip_row {
  double idx, group, clip_db, hpf_hz, ls_hz, ls_db, pk_hz, pk_q, pk_db, hs_hz, hs_db;
  double comp_thr, comp_ratio, comp_att, comp_rel, comp_knee, comp_makeup, comp_sc;
  double sat_drive, pan, fader_db, send_rev_db, send_dly_db;
} strip_row;

/* gen_bench.py COLS; found by header name, so column order is not assumed. */
static const struct {
  const char *name;
  size_t off;
} tsv_cols[] = {
#define C(x) {#x, offsetof(strip_row, x)}
    C(idx),        C(group),      C(clip_db),   C(hpf_hz),      C(ls_hz),       C(ls_db),
    C(pk_hz),      C(pk_q),       C(pk_db),     C(hs_hz),       C(hs_db),       C(comp_thr),
    C(comp_ratio), C(comp_att),   C(comp_rel),  C(comp_knee),   C(comp_makeup), C(comp_sc),
    C(sat_drive),  C(pan),        C(fader_db),  C(send_rev_db), C(send_dly_db),
#undef C
};
#define NCOLS ((int)(sizeof tsv_cols / sizeof tsv_cols[0]))

static int split_tabs(char *line, char **f, int max) {
  int n = 0;
  line[strcspn(line, "\r\n")] = 0;
  for (char *p = line; n < max;) {
    f[n++] = p;
    char *t = strchr(p, '\t');
    if (!t) break;
    *t = 0;
    p = t + 1;
  }
  return n;
}

static void read_table(const char *dir, strip_row rows[NSTRIPS]) {
  char path[4096], line[4096];
  char *f[64];
  int map[64];
  snprintf(path, sizeof path, "%s/strips.tsv", dir);
  FILE *fp = fopen(path, "r");
  if (!fp) die("%s: %s", path, strerror(errno));
  if (!fgets(line, sizeof line, fp)) die("%s: empty", path);
  int nf = split_tabs(line, f, 64);
  for (int c = 0; c < NCOLS; c++) {
    map[c] = -1;
    for (int k = 0; k < nf; k++)
      if (strcmp(f[k], tsv_cols[c].name) == 0) map[c] = k;
    if (map[c] < 0) die("%s: no column '%s'", path, tsv_cols[c].name);
  }
  int seen[NSTRIPS] = {0};
  while (fgets(line, sizeof line, fp)) {
    if (line[0] == '\n' || line[0] == 0) continue;
    nf = split_tabs(line, f, 64);
    strip_row r;
    for (int c = 0; c < NCOLS; c++) {
      if (map[c] >= nf) die("%s: short row", path);
      char *end;
      double v = strtod(f[map[c]], &end);
      if (end == f[map[c]]) die("%s: bad number '%s' in column %s", path, f[map[c]], tsv_cols[c].name);
      *(double *)((char *)&r + tsv_cols[c].off) = v;
    }
    int i = (int)r.idx;
    if (i < 0 || i >= NSTRIPS || r.idx != (double)i) die("%s: bad strip index %g", path, r.idx);
    rows[i] = r;
    seen[i] = 1;
  }
  fclose(fp);
  for (int i = 0; i < NSTRIPS; i++)
    if (!seen[i]) die("%s: no row for strip %d", path, i);
}

/* ---- sources ---------------------------------------------------------------- */

static float *src[NSTRIPS];
static int64_t src_frames;
static const char *src_dir;   /* the sources' folder */
static int file_sources;      /* --mode deliver: streamed file sources */

/* Reads one word of every page, as a real-time host prefaults the buffers
 * its callback will read.  libsndfile fills the buffer through read(), so
 * only the kernel has touched it: under shadow paging (a PVM guest, such as
 * the benchmark machine) the callback's first access to each page then
 * costs several microseconds of its CPU time (no page fault the guest
 * counts), every 512 frames of each strip.  ref_simd copies its sources in
 * user space before it times anything, which has the same effect. */
static void touch_pages(const float *p, size_t bytes) {
  volatile const float *v = p;
  float sink = 0.0f;
  for (size_t i = 0; i < bytes / sizeof(float); i += 1024) sink += v[i];
  if (sink != sink) fputs("", stderr); /* keeps the reads */
}

static void load_sources(const char *dir) {
  char path[4096];
  for (int i = 0; i < NSTRIPS; i++) {
    SF_INFO info;
    memset(&info, 0, sizeof info);
    snprintf(path, sizeof path, "%s/src%02d.wav", dir, i);
    SNDFILE *sf = sf_open(path, SFM_READ, &info);
    if (!sf) die("%s: %s", path, sf_strerror(NULL));
    if (info.channels != 2 || info.samplerate != (int)SR)
      die("%s: expected stereo at 48 kHz, got %d ch at %d Hz", path, info.channels, info.samplerate);
    if (i == 0) src_frames = info.frames;
    else if (info.frames != src_frames) die("%s: %lld frames, src00 has %lld", path, (long long)info.frames, (long long)src_frames);
    if (file_sources) {
      sf_close(sf);
      continue;
    }
    src[i] = xmalloc(sizeof(float) * 2 * (size_t)info.frames);
    if (sf_readf_float(sf, src[i], info.frames) != info.frames) die("%s: short read", path);
    sf_close(sf);
    touch_pages(src[i], sizeof(float) * 2 * (size_t)info.frames);
  }
}

/* ---- graph building, with every departure from the README reported --------- */

static mixstage_graph *G;
static int n_notes;
static int nstrips = NSTRIPS; /* --strips */
static int sat_default;       /* --sat-default */

static void note(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fputs("NOTE ", stdout);
  vprintf(fmt, ap);
  fputc('\n', stdout);
  va_end(ap);
  n_notes++;
}

/* Each distinct note is printed once (32 strips would otherwise repeat it). */
static char seen_notes[64][160];
static int n_seen;
static void note_once(const char *fmt, ...) {
  char buf[160];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  for (int k = 0; k < n_seen; k++)
    if (strcmp(seen_notes[k], buf) == 0) return;
  if (n_seen < 64) strcpy(seen_notes[n_seen++], buf);
  note("%s", buf);
}

static void check(int rc, const char *what) {
  if (rc < 0) die("%s: %s (%s)", what, mixstage_strerror(rc), mixstage_graph_last_error(G));
}

static const char *omit[16];
static int n_omit;

/* Inserts a node; a type that is not built yet is left out and said so. */
static mixstage_node *insert(mixstage_strip *s, mixstage_bus *b, const char *type, int role,
                             const char *where) {
  int err = 0;
  for (int k = 0; k < n_omit; k++)
    if (strcmp(omit[k], type) == 0) {
      note_once("stage left out on request (--omit %s): %s", type, where);
      return NULL;
    }
  mixstage_node *n = s ? mixstage_strip_insert(s, type, role, -1, &err)
                       : mixstage_bus_insert(b, type, role, -1, &err);
  if (!n) {
    if (err == MIXSTAGE_ENOTFOUND) {
      note_once("stage left out: node type \"%s\" is not available (%s)", type, where);
      return NULL;
    }
    check(err, type);
  }
  return n;
}

static int find_param(mixstage_node *n, const char *name, mixstage_param_info *info) {
  int cnt = mixstage_node_param_count(n);
  for (int k = 0; k < cnt; k++)
    if (mixstage_node_param_info(n, k, info) == MIXSTAGE_OK && strcmp(info->name, name) == 0) return 1;
  return 0;
}

/* The first of a '|'-separated list of candidate names that the node has. */
static int find_param_alt(mixstage_node *n, const char *names, mixstage_param_info *info) {
  char buf[256];
  snprintf(buf, sizeof buf, "%s", names);
  for (char *save = NULL, *t = strtok_r(buf, "|", &save); t; t = strtok_r(NULL, "|", &save))
    if (find_param(n, t, info)) return 1;
  return 0;
}

static void set_id(mixstage_node *n, const mixstage_param_info *info, double v, const char *shown) {
  if (v < info->min || v > info->max) {
    double c = v < info->min ? info->min : info->max;
    note_once("%s.%s: %s is outside %g..%g, clamped to %g", mixstage_node_type(n), info->name,
              shown, info->min, info->max, c);
    v = c;
  }
  check(mixstage_node_set_param(n, info->id, v), mixstage_node_label(n));
}

/* Sets a plain-number parameter (value in the parameter's own unit). */
static void set_num(mixstage_node *n, const char *names, double v) {
  mixstage_param_info info;
  if (!n) return;
  if (!find_param_alt(n, names, &info)) {
    note_once("%s has no parameter %s: left at its default", mixstage_node_type(n), names);
    return;
  }
  char shown[64];
  snprintf(shown, sizeof shown, "%g", v);
  if (info.unit == MIXSTAGE_UNIT_ENUM && info.choices) {
    /* Stepped values, e.g. ratios "2|4|10": the choice reading v. */
    char buf[512];
    snprintf(buf, sizeof buf, "%s", info.choices);
    int k = 0;
    for (char *save = NULL, *t = strtok_r(buf, "|", &save); t; t = strtok_r(NULL, "|", &save), k++)
      if (strtod(t, NULL) == v) {
        check(mixstage_node_set_param(n, info.id, k), mixstage_node_label(n));
        return;
      }
    note_once("%s.%s has no choice %s (\"%s\"): left at its default", mixstage_node_type(n), info.name, shown,
              info.choices);
    return;
  }
  set_id(n, &info, v, shown);
}

/* Sets a time given in ms, whatever the node's unit (ms, s, or a list of
 * times as an enum, where the nearest choice is taken and said so). */
static void set_ms(mixstage_node *n, const char *names, double ms) {
  mixstage_param_info info;
  if (!n) return;
  if (!find_param_alt(n, names, &info)) {
    note_once("%s has no parameter %s: left at its default", mixstage_node_type(n), names);
    return;
  }
  char shown[64];
  snprintf(shown, sizeof shown, "%g ms", ms);
  if (info.unit == MIXSTAGE_UNIT_SECONDS) {
    set_id(n, &info, ms / 1000.0, shown);
  } else if (info.unit == MIXSTAGE_UNIT_ENUM && info.choices) {
    /* Choices such as "0.1|0.3|auto" (seconds) or "100 ms|300 ms". */
    char buf[512];
    snprintf(buf, sizeof buf, "%s", info.choices);
    int k = 0, best = -1;
    double bestd = INFINITY;
    for (char *save = NULL, *t = strtok_r(buf, "|", &save); t; t = strtok_r(NULL, "|", &save), k++) {
      char *end;
      double v = strtod(t, &end);
      if (end == t) continue;
      while (*end == ' ') end++;
      double cms = strncasecmp(end, "ms", 2) == 0 ? v : v * 1000.0;
      double d = fabs(log(cms / ms));
      if (cms > 0 && d < bestd) { bestd = d; best = k; }
    }
    if (best < 0) {
      note_once("%s.%s: no choice near %s: left at its default", mixstage_node_type(n), info.name, shown);
      return;
    }
    if (bestd > 1e-6) note_once("%s.%s: %s taken as the nearest choice (index %d of \"%s\")",
                               mixstage_node_type(n), info.name, shown, best, info.choices);
    check(mixstage_node_set_param(n, info.id, best), mixstage_node_label(n));
  } else {
    set_id(n, &info, ms, shown);
  }
}

/* Sets an enum parameter by the name of its choice. */
static void set_choice(mixstage_node *n, const char *names, const char *choice) {
  mixstage_param_info info;
  if (!n) return;
  if (!find_param_alt(n, names, &info)) {
    note_once("%s has no parameter %s: left at its default", mixstage_node_type(n), names);
    return;
  }
  if (info.unit == MIXSTAGE_UNIT_BOOL) { /* e.g. "sync" off */
    check(mixstage_node_set_param(n, info.id, strcmp(choice, "on") == 0), mixstage_node_label(n));
    return;
  }
  char buf[512];
  snprintf(buf, sizeof buf, "%s", info.choices ? info.choices : "");
  int k = 0;
  for (char *save = NULL, *t = strtok_r(buf, "|", &save); t; t = strtok_r(NULL, "|", &save), k++)
    if (strcasecmp(t, choice) == 0) {
      check(mixstage_node_set_param(n, info.id, k), mixstage_node_label(n));
      return;
    }
  note_once("%s.%s has no choice \"%s\" (choices \"%s\"): left at its default", mixstage_node_type(n),
            info.name, choice, info.choices ? info.choices : "");
}

static int has_param(mixstage_node *n, const char *name) {
  mixstage_param_info info;
  return n && find_param(n, name, &info);
}

/* An RBJ band of the "eq" node.  band_no counts from the node's first band
 * (band0_ or band1_, whichever exists). */
static void eq_band(mixstage_node *eq, int band_no, const char *type, double hz, double gain_db, double q) {
  char name[64];
  if (!eq) return;
  int base = has_param(eq, "band0_type") ? 0 : 1;
  int b = base + band_no;
  snprintf(name, sizeof name, "band%d_type", b);
  set_choice(eq, name, type);
  snprintf(name, sizeof name, "band%d_freq", b);
  set_num(eq, name, hz);
  if (strcmp(type, "highpass") != 0 && strcmp(type, "lowpass") != 0) {
    snprintf(name, sizeof name, "band%d_gain", b);
    set_num(eq, name, gain_db);
  }
  snprintf(name, sizeof name, "band%d_q", b);
  set_num(eq, name, q);
  snprintf(name, sizeof name, "band%d_enabled|band%d_on|band%d_enable", b, b, b);
  mixstage_param_info info;
  if (find_param_alt(eq, name, &info)) set_id(eq, &info, 1.0, "1");
}

static void eq_highpass_12db(mixstage_node *eq, int band_no, double hz) {
  char name[64];
  if (!eq) return;
  int b = (has_param(eq, "band0_type") ? 0 : 1) + band_no;
  eq_band(eq, band_no, "highpass", hz, 0.0, 0.7071);
  snprintf(name, sizeof name, "band%d_slope", b);
  mixstage_param_info info;
  if (!find_param(eq, name, &info)) {
    note_once("eq has no %s: high-pass slope left at its default", name);
  } else if (info.unit == MIXSTAGE_UNIT_ENUM) {
    /* Choices like "6|12|18|24" or "12 dB/oct": take the one reading 12. */
    char buf[512];
    snprintf(buf, sizeof buf, "%s", info.choices ? info.choices : "");
    int k = 0, hit = -1;
    for (char *save = NULL, *t = strtok_r(buf, "|", &save); t; t = strtok_r(NULL, "|", &save), k++)
      if (strtod(t, NULL) == 12.0) hit = k;
    if (hit < 0) note_once("eq.%s has no 12 dB/oct choice (\"%s\")", name, info.choices ? info.choices : "");
    else check(mixstage_node_set_param(eq, info.id, hit), "eq slope");
  } else {
    set_id(eq, &info, 12.0, "12 dB/oct");
  }
}

/* The README's compressor: feed-forward, log-domain soft knee, attack and
 * release on the gain reduction in dB. */
static void comp_setup(mixstage_node *c, const char *detector, double thr, double ratio, double att_ms,
                       double rel_ms, double knee, double makeup) {
  if (!c) return;
  set_choice(c, "detector", detector);
  set_num(c, "threshold", thr);
  set_num(c, "ratio", ratio);
  set_ms(c, "attack", att_ms);
  set_ms(c, "release", rel_ms);
  set_num(c, "knee", knee);
  set_num(c, "makeup", makeup);
  set_num(c, "link", 100.0); /* stereo-linked: max(|L|,|R|) / mean of squares */
  set_num(c, "mix", 100.0);
  /* The README's detector has no key filter: the lowest setting (off). */
  mixstage_param_info info;
  if (find_param(c, "key_hpf", &info)) set_id(c, &info, info.min, "off");
}

typedef struct built {
  mixstage_strip *strip[MAX_STRIPS];
  mixstage_bus *group[4], *rev, *dly, *mix;
  int nsends, nkeys;
} built;

static void build_graph(const strip_row *rows, built *bt, int block) {
  mixstage_graph_config cfg;
  int err;
  mixstage_graph_config_init(&cfg);
  cfg.sample_rate = SR;
  cfg.max_block_frames = block;
  cfg.mix_channels = 2;
  G = mixstage_graph_create(&cfg, &err);
  if (!G) die("mixstage_graph_create: %s", mixstage_strerror(err));
  bt->mix = mixstage_graph_mix_bus(G);

  static const char *const gname[4] = {"Group A", "Group B", "Group C", "Group D"};
  for (int g = 0; g < 4; g++) {
    bt->group[g] = mixstage_graph_add_bus(G, gname[g], MIXSTAGE_BUS_GROUP, 2, &err);
    check(bt->group[g] ? 0 : err, gname[g]);
    /* RMS over 10 ms on (L^2 + R^2)/2, -14 dB, 2:1, 10/150 ms, knee 6, +1 dB. */
    mixstage_node *c = insert(NULL, bt->group[g], "compressor", MIXSTAGE_ROLE_STRIP, "group buses");
    comp_setup(c, "rms", -14.0, 2.0, 10.0, 150.0, 6.0, 1.0);
    set_ms(c, "rms_window", 10.0);
    check(mixstage_bus_set_fader_db(bt->group[g], -2.0), gname[g]);
  }

  /* Reverb return: Freeverb, room 0.8 -> comb feedback 0.28*0.8 + 0.7 = 0.924,
   * damping 0.5, wet only, 20 ms pre-delay. */
  bt->rev = mixstage_graph_add_bus(G, "Reverb", MIXSTAGE_BUS_RETURN, 2, &err);
  check(bt->rev ? 0 : err, "Reverb");
  {
    mixstage_node *r = insert(NULL, bt->rev, "reverb", MIXSTAGE_ROLE_MIX_FX, "reverb return");
    if (r) {
      mixstage_param_info info;
      if (find_param_alt(r, "decay|rt60|decay_time", &info)) {
        /* Freeverb's room 0.8 is a comb feedback g = 0.924.  A comb of loop
         * length L decays 60 dB in RT60 = -3 L / log10 g; Jezar's combs
         * average 1356 samples at 44.1 kHz (30.7 ms), so RT60 = 2.7 s. */
        double rt60 = 3.0 * (1356.0 / 44100.0) / -log10(0.924);
        set_id(r, &info, info.unit == MIXSTAGE_UNIT_MS ? rt60 * 1000.0 : rt60, "decay 2.7 s");
        note("reverb: the node's own algorithm with the RT60 of Freeverb room 0.8 (%.2f s), not Freeverb itself", rt60);
      } else if (find_param_alt(r, "room|room_size|size", &info)) {
        set_id(r, &info, info.unit == MIXSTAGE_UNIT_PERCENT ? 80.0 : info.min + 0.8 * (info.max - info.min),
               "room 0.8");
      } else {
        note_once("reverb has neither a decay nor a room size parameter: left at its default");
      }
      if (find_param_alt(r, "damping_high|damping|damp", &info)) {
        if (info.unit == MIXSTAGE_UNIT_HZ) {
          /* Freeverb damping 0.5 is a one-pole y = 0.8 x + 0.2 y[-1] in each
           * comb loop: 0 dB loss per pass at DC, 20 log10(0.8/1.2) = -3.5 dB at
           * Nyquist.  The frequency where the loss is half that (the
           * midpoint, as the node defines its damping frequency) solves
           * 0.64 / (1.04 - 0.4 cos w) = 10^(-1.76/10): about 10.5 kHz. */
          double half = pow(10.0, 0.5 * 20.0 * log10(0.8 / 1.2) / 10.0);
          double w = acos((1.04 - 0.64 / half) / 0.4);
          set_id(r, &info, w / (2.0 * M_PI) * SR, "damping 0.5");
        } else {
          set_id(r, &info, info.unit == MIXSTAGE_UNIT_PERCENT ? 50.0 : info.min + 0.5 * (info.max - info.min),
                 "damping 0.5");
        }
      }
      set_ms(r, "predelay|pre_delay", 20.0);
      set_num(r, "width", 100.0);
      set_num(r, "mix", 100.0);
    }
    check(mixstage_bus_set_fader_db(bt->rev, -6.0), "Reverb");
  }

  /* Delay return: L 375 ms, R 500 ms, feedback 0.35 through a 4 kHz low-pass. */
  bt->dly = mixstage_graph_add_bus(G, "Delay", MIXSTAGE_BUS_RETURN, 2, &err);
  check(bt->dly ? 0 : err, "Delay");
  {
    mixstage_node *d = insert(NULL, bt->dly, "delay", MIXSTAGE_ROLE_MIX_FX, "delay return");
    if (d) {
      if (has_param(d, "mode")) set_choice(d, "mode", "stereo");
      if (has_param(d, "sync")) set_choice(d, "sync", "off");
      set_ms(d, "time_ms|time_l|left_time|time", 375.0);
      set_ms(d, "time_right_ms|time_r|right_time", 500.0);
      set_num(d, "feedback", 35.0);
      set_num(d, "lpf|lowpass|high_cut", 4000.0);
      /* The README's loop has only the low-pass: the high-pass at its
       * lowest setting (the node switches it off there). */
      mixstage_param_info info;
      if (find_param(d, "hpf", &info)) set_id(d, &info, info.min, "off");
      set_num(d, "mix", 100.0);
    }
    check(mixstage_bus_set_fader_db(bt->dly, -8.0), "Delay");
  }

  /* Mix bus: console colour, bus compressor, lookahead limiter. */
  {
    mixstage_node *cc = insert(NULL, bt->mix, "console_color", MIXSTAGE_ROLE_BUS_COLOR, "mix bus");
    (void)cc;
    mixstage_node *bc = insert(NULL, bt->mix, "bus_compressor", MIXSTAGE_ROLE_BUS_DYNAMICS, "mix bus");
    if (bc) {
      set_num(bc, "threshold", -16.0);
      set_num(bc, "ratio", 2.0);
      set_ms(bc, "attack", 10.0);
      set_ms(bc, "release", 100.0);
      set_num(bc, "knee", 6.0);
      set_num(bc, "makeup", 2.0);
    }
    mixstage_node *lim = insert(NULL, bt->mix, "limiter", MIXSTAGE_ROLE_PLACEHOLDER_LIMITER, "mix bus");
    if (lim) {
      set_num(lim, "ceiling", -1.0);
      set_ms(lim, "lookahead", 5.0);
      set_ms(lim, "release", 50.0);
      /* The README's limiter guarantees sample peaks; ours can also detect
       * inter-sample peaks (4x oversampled), which is more work: off here. */
      if (has_param(lim, "true_peak")) set_num(lim, "true_peak", 0.0);
    }
  }

  for (int i = 0; i < nstrips; i++) {
    const strip_row *r = &rows[i % NSTRIPS];
    char name[32];
    snprintf(name, sizeof name, i == 0 ? "Kick" : i % NSTRIPS == 0 ? "Kick %d" : "Strip %02d", i);
    mixstage_strip *s = bt->strip[i] = mixstage_graph_add_strip(G, name, 2, &err);
    check(s ? 0 : err, name);
    if (file_sources) {
      char path[4096];
      snprintf(path, sizeof path, "%s/src%02d.wav", src_dir, i % NSTRIPS);
      check(mixstage_strip_set_source_file(s, path), name);
    } else {
      check(mixstage_strip_set_source_buffer(s, src[i % NSTRIPS], 2, src_frames, 0), name);
    }
    check(mixstage_strip_set_clip_gain_db(s, r->clip_db), name);

    mixstage_node *eq = insert(s, NULL, "eq", MIXSTAGE_ROLE_STRIP, "strip EQ");
    eq_highpass_12db(eq, 0, r->hpf_hz);
    eq_band(eq, 1, "lowshelf", r->ls_hz, r->ls_db, 0.7071);
    eq_band(eq, 2, "bell", r->pk_hz, r->pk_db, r->pk_q);
    eq_band(eq, 3, "highshelf", r->hs_hz, r->hs_db, 0.7071);

    mixstage_node *c = insert(s, NULL, "compressor", MIXSTAGE_ROLE_STRIP, "strip compressor");
    comp_setup(c, "peak", r->comp_thr, r->comp_ratio, r->comp_att, r->comp_rel, r->comp_knee, r->comp_makeup);

    mixstage_node *sat = insert(s, NULL, "saturation", MIXSTAGE_ROLE_STRIP, "strip saturation");
    if (sat) {
      /* tanh(d x)/d: drive d in front of the tanh, 1/d after it, so the
       * small-signal gain is unity. */
      set_num(sat, "drive", db(r->sat_drive));
      set_num(sat, "mix", 100.0);
      /* The README's stage is the plain curve at the base rate; the node's
       * default oversampling is more work than the spec (--sat-default
       * measures it). */
      mixstage_param_info info;
      if (find_param(sat, "oversampling", &info)) {
        /* The name of the default choice, e.g. "8x", for the note. */
        char buf[256];
        int k = 0;
        snprintf(buf, sizeof buf, "%s", info.choices ? info.choices : "?");
        const char *def_name = buf;
        for (char *save = NULL, *t = strtok_r(buf, "|", &save); t; t = strtok_r(NULL, "|", &save), k++)
          if (k == (int)info.def) def_name = t;
        if (sat_default) {
          note_once("saturation: oversampling left at the node's default, %s (--sat-default), where the README's "
                    "tanh(d x)/d runs at the base rate",
                    def_name);
        } else {
          set_choice(sat, "oversampling", "1x");
          note_once("saturation: oversampling set to 1x (the README's tanh(d x)/d at the base rate); "
                    "the node's default is %s (--sat-default)",
                    def_name);
        }
      }
    }
    check(mixstage_strip_set_pan(s, r->pan), name);
    check(mixstage_strip_set_fader_db(s, r->fader_db), name);
    check(mixstage_strip_set_output(s, bt->group[(int)r->group]), name);
    if (r->send_rev_db > -144.0) {
      check(mixstage_strip_add_send(s, bt->rev, r->send_rev_db, MIXSTAGE_TAP_POST_FADER,
                                    MIXSTAGE_ROLE_MIX_FX, &err) ? 0 : err, name);
      bt->nsends++;
    }
    if (r->send_dly_db > -144.0) {
      check(mixstage_strip_add_send(s, bt->dly, r->send_dly_db, MIXSTAGE_TAP_POST_FADER,
                                    MIXSTAGE_ROLE_MIX_FX, &err) ? 0 : err, name);
      bt->nsends++;
    }
  }
  /* Ducking: the README keys strips 8-15 from the kick source after clip gain.
   * libmixstage keys from a strip at a tap, and its earliest strip tap is
   * pre-fader, i.e. after the kick's own EQ, compressor and saturation. */
  int keyed = 0;
  for (int i = 0; i < nstrips; i++) {
    if (rows[i % NSTRIPS].comp_sc == 0) continue;
    mixstage_node *c = NULL;
    for (int k = 0; k < mixstage_strip_node_count(bt->strip[i]); k++)
      if (strcmp(mixstage_node_type(mixstage_strip_node(bt->strip[i], k)), "compressor") == 0)
        c = mixstage_strip_node(bt->strip[i], k);
    if (!c) continue;
    check(mixstage_node_set_sidechain_strip(c, bt->strip[i - i % NSTRIPS], MIXSTAGE_TAP_PRE_FADER), "sidechain");
    keyed++;
  }
  bt->nkeys = keyed;
  if (keyed)
    note("ducking key: kick strip pre-fader tap (after the kick's inserts), where the README keys from "
         "the kick source after clip gain");
  note("pan: libmixstage's own pan law (the README's is constant-power, centre unity)");
  check(mixstage_graph_prepare(G), "prepare");
}

static int64_t numeric_faults(void) {
  int64_t f = 0;
  for (int i = 0; i < mixstage_graph_strip_count(G); i++) {
    mixstage_strip *s = mixstage_graph_strip(G, i);
    for (int k = 0; k < mixstage_strip_node_count(s); k++) f += mixstage_node_numeric_faults(mixstage_strip_node(s, k));
  }
  for (int i = 0; i < mixstage_graph_bus_count(G); i++) {
    mixstage_bus *b = mixstage_graph_bus(G, i);
    for (int k = 0; k < mixstage_bus_node_count(b); k++) f += mixstage_node_numeric_faults(mixstage_bus_node(b, k));
  }
  return f;
}

/* ---- modes ---------------------------------------------------------------- */

/* Renders src_frames frames with block-sized process calls into a buffer of
 * (src_frames + latency) frames; returns a pointer to the latency-compensated
 * mix (frame 0 = input frame 0). */
static float *render_process_loop(float **base_out, int block, double *secs, double *cpu) {
  int lat = mixstage_graph_latency(G);
  int64_t total = src_frames + lat;
  float *out = xmalloc(sizeof(float) * 2 * (size_t)total);
  int nfault = 0;
  long long a0 = alloc_count();
  double t0 = now_s(), c0 = cpu_s();
  for (int64_t pos = 0; pos < total;) {
    int n = total - pos < block ? (int)(total - pos) : block;
    int rc = mixstage_graph_process(G, out + 2 * pos, n);
    if (rc == MIXSTAGE_ENUMERIC) nfault++;
    else check(rc, "mixstage_graph_process");
    pos += n;
  }
  *secs = now_s() - t0;
  *cpu = cpu_s() - c0;
  long long a1 = alloc_count();
  if (a0 >= 0) {
    printf("heap allocations during the process loop: %lld\n", a1 - a0);
    printf("RESULT render_allocs %lld\n", a1 - a0);
  }
  if (nfault) note("%d blocks reported MIXSTAGE_ENUMERIC (a node produced NaN/Inf)", nfault);
  *base_out = out;
  return out + 2 * (size_t)lat;
}

/* One render on several threads (mixstage_graph_render with threads > 1):
 * what two cores buy for one graph.  The program length only, no tail, so
 * the figure compares with the process loop. */
static float *render_threads(int threads, double *secs, double *cpu) {
  mixstage_render_config rc;
  mixstage_render_config_init(&rc);
  rc.frames = src_frames;
  rc.max_tail_frames = 0;
  rc.threads = threads;
  float *out = xmalloc(sizeof(float) * 2 * (size_t)src_frames);
  double t0 = now_s(), c0 = cpu_s();
  int rcode = mixstage_graph_render(G, &rc, out, src_frames);
  *secs = now_s() - t0;
  *cpu = cpu_s() - c0;
  if (rcode != MIXSTAGE_ENUMERIC) check(rcode, "mixstage_graph_render");
  return out;
}

static int cmp_double(const void *a, const void *b);

/* The thread speed-up measured inside one process, one thread and `threads`
 * alternately, so both see the same machine over the same minutes (loading
 * the sources once); medians of the rounds. */
static void scaling_rounds(int threads, int rounds) {
  double w[2][64], c[2][64];
  if (rounds > 64) rounds = 64;
  for (int r = 0; r < rounds; r++)
    for (int k = 0; k < 2; k++) {
      free(render_threads(k ? threads : 1, &w[k][r], &c[k][r]));
      printf("round %d, %d thread%s: %.3f s wall, %.3f s CPU\n", r + 1, k ? threads : 1, k ? "s" : "", w[k][r],
             c[k][r]);
    }
  for (int k = 0; k < 2; k++) {
    qsort(w[k], (size_t)rounds, sizeof(double), cmp_double);
    qsort(c[k], (size_t)rounds, sizeof(double), cmp_double);
  }
  double w1 = w[0][rounds / 2], w2 = w[1][rounds / 2], c1 = c[0][rounds / 2], c2 = c[1][rounds / 2];
  printf("rounds: median 1 thread %.3f s wall %.3f s CPU; %d threads %.3f s wall %.3f s CPU; "
         "speed-up %.2fx, CPU %.2fx\n",
         w1, c1, threads, w2, c2, w1 / w2, c2 / c1);
  printf("RESULT rounds_speedup %.3f\nRESULT rounds_cpu_ratio %.3f\n", w1 / w2, c2 / c1);
}

static void write_wav(const char *path, const float *x, int64_t frames) {
  SF_INFO info;
  memset(&info, 0, sizeof info);
  info.samplerate = (int)SR;
  info.channels = 2;
  info.format = SF_FORMAT_WAV | SF_FORMAT_FLOAT;
  SNDFILE *sf = sf_open(path, SFM_WRITE, &info);
  if (!sf) die("%s: %s", path, sf_strerror(NULL));
  if (sf_writef_float(sf, x, frames) != frames) die("%s: short write", path);
  sf_close(sf);
}

/* The mix's peak and sum of squares over samples x[0 .. n-1].  The sum runs
 * in double in sample order, as a plain loop does, so the figures do not
 * depend on this loop's form; with SSE2 (x86-64 has it) two samples are
 * converted and squared per instruction, and the peak is kept in floats
 * (|x| and the maximum are exact, so it is the double loop's peak).  NaN
 * is passed over, as by the comparison of the plain loop.  A short render
 * (2 s) would otherwise spend a sizable part of its time here. */
static void mix_levels(const float *x, size_t n, double *peak, double *sum_sq) {
  size_t k = 0;
  float pk = 0.0f;
  double ss = 0.0;
#if defined(__SSE2__)
  const __m128 abs_mask = _mm_castsi128_ps(_mm_set1_epi32(0x7fffffff));
  __m128 vpk = _mm_setzero_ps();
  __m128d acc = _mm_setzero_pd(); /* the running sum in the low lane */
  for (; k + 4 <= n; k += 4) {
    __m128 v = _mm_loadu_ps(x + k);
    vpk = _mm_max_ps(_mm_and_ps(v, abs_mask), vpk); /* the second operand when the first is NaN */
    __m128d lo = _mm_cvtps_pd(v), hi = _mm_cvtps_pd(_mm_movehl_ps(v, v));
    lo = _mm_mul_pd(lo, lo);
    hi = _mm_mul_pd(hi, hi);
    acc = _mm_add_sd(acc, lo);
    acc = _mm_add_sd(acc, _mm_unpackhi_pd(lo, lo));
    acc = _mm_add_sd(acc, hi);
    acc = _mm_add_sd(acc, _mm_unpackhi_pd(hi, hi));
  }
  float lanes[4];
  _mm_storeu_ps(lanes, vpk);
  for (int q = 0; q < 4; q++)
    if (lanes[q] > pk) pk = lanes[q];
  ss = _mm_cvtsd_f64(acc);
#endif
  for (; k < n; k++) {
    float v = fabsf(x[k]);
    if (v > pk) pk = v;
    ss += (double)x[k] * x[k];
  }
  *peak = pk;
  *sum_sq = ss;
}

static void print_levels(const float *x, int64_t frames) {
  double pk, ss;
  mix_levels(x, 2 * (size_t)frames, &pk, &ss);
  double rms = sqrt(ss / (double)(2 * frames));
  printf("mix: peak %.2f dBFS, RMS %.2f dBFS over %lld frames\n", db(pk), db(rms), (long long)frames);
  printf("RESULT mix_peak_dbfs %.3f\n", db(pk));
  printf("RESULT mix_rms_dbfs %.3f\n", db(rms));
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

/* RUSAGE_THREAD: the faults of this thread alone (Linux); elsewhere the process's. */
static long minor_faults(void) {
  struct rusage ru;
#if defined(RUSAGE_THREAD)
  if (getrusage(RUSAGE_THREAD, &ru) != 0) return -1;
#else
  if (getrusage(RUSAGE_SELF, &ru) != 0) return -1;
#endif
  return ru.ru_minflt + ru.ru_majflt;
}

static void mode_realtime(int block, const char *times_path) {
  int64_t nblocks = (src_frames + block - 1) / block;
  if (nblocks == 0) die("realtime mode needs at least one block (--seconds > 0)");
  double *t = xmalloc(sizeof(double) * (size_t)nblocks);
  double *tc = xmalloc(sizeof(double) * (size_t)nblocks);
  long *pf = xmalloc(sizeof(long) * (size_t)nblocks);
  float *out = xmalloc(sizeof(float) * 2 * (size_t)block);
  /* Written before the loop, so the faults it counts are the engine's. */
  memset(t, 0, sizeof(double) * (size_t)nblocks);
  memset(tc, 0, sizeof(double) * (size_t)nblocks);
  memset(pf, 0, sizeof(long) * (size_t)nblocks);
  memset(out, 0, sizeof(float) * 2 * (size_t)block);
  double budget_us = 1e6 * block / SR;
  int64_t over = 0;
  long long a0 = alloc_count();
  long f0 = minor_faults(), fk = f0;
  for (int64_t k = 0; k < nblocks; k++) {
    /* Wall time is what a deadline sees; the thread's CPU time is what the
     * block cost, without the time other processes took from it. */
    struct timespec a, b, ca, cb;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ca);
    clock_gettime(CLOCK_MONOTONIC, &a);
    int rc = mixstage_graph_process(G, out, block);
    clock_gettime(CLOCK_MONOTONIC, &b);
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &cb);
    if (rc != MIXSTAGE_ENUMERIC) check(rc, "mixstage_graph_process");
    t[k] = 1e6 * (double)(b.tv_sec - a.tv_sec) + 1e-3 * (double)(b.tv_nsec - a.tv_nsec);
    tc[k] = 1e6 * (double)(cb.tv_sec - ca.tv_sec) + 1e-3 * (double)(cb.tv_nsec - ca.tv_nsec);
    if (t[k] > budget_us) over++;
    /* Page faults of the block, counted outside the timed span. */
    long fn = minor_faults();
    pf[k] = fn - fk;
    fk = fn;
  }
  long faults = f0 >= 0 && fk >= 0 ? fk - f0 : -1;
  long long allocs = a0 >= 0 ? alloc_count() - a0 : -1;
  if (times_path) {
    FILE *tf = fopen(times_path, "w");
    if (!tf) die("%s: %s", times_path, strerror(errno));
    fprintf(tf, "block\twall_us\tcpu_us\tpage_faults\n");
    for (int64_t k = 0; k < nblocks; k++) fprintf(tf, "%lld\t%.2f\t%.2f\t%ld\n", (long long)k, t[k], tc[k], pf[k]);
    if (fclose(tf) != 0) die("%s: %s", times_path, strerror(errno));
  }
  /* Where the slowest blocks (thread CPU) fall: at a regular spacing they
   * are the engine's (a periodic update, a buffer wrap); scattered, they
   * are the machine's (interrupts, another process's cache traffic). */
  {
    int64_t top[8];
    int ntop = 0;
    for (int64_t k = 0; k < nblocks; k++) {
      if (ntop == 8 && tc[k] <= tc[top[7]]) continue;
      int q = ntop < 8 ? ntop++ : 7;
      top[q] = k;
      for (; q > 0 && tc[top[q]] > tc[top[q - 1]]; q--) {
        int64_t x = top[q];
        top[q] = top[q - 1];
        top[q - 1] = x;
      }
    }
    printf("  slowest blocks (thread CPU us at block index):");
    for (int q = 0; q < ntop; q++) printf(" %.0f@%lld", tc[top[q]], (long long)top[q]);
    printf("\n");
  }
  double sum = 0;
  for (int64_t k = 0; k < nblocks; k++) sum += t[k];
  qsort(t, (size_t)nblocks, sizeof(double), cmp_double);
  double med = nblocks % 2 ? t[nblocks / 2] : 0.5 * (t[nblocks / 2 - 1] + t[nblocks / 2]);
  int64_t i999 = (int64_t)ceil(0.999 * (double)nblocks) - 1;
  if (i999 < 0) i999 = 0;
  printf("real time: %lld blocks of %d frames, budget %.1f us each\n", (long long)nblocks, block, budget_us);
  printf("  median %.1f us, mean %.1f us, 99.9th percentile %.1f us, max %.1f us; %lld blocks over budget\n",
         med, sum / (double)nblocks, t[i999], t[nblocks - 1], (long long)over);
  printf("RESULT rt_blocks %lld\nRESULT rt_budget_us %.1f\nRESULT rt_median_us %.2f\nRESULT rt_mean_us %.2f\n"
         "RESULT rt_p999_us %.2f\nRESULT rt_max_us %.2f\nRESULT rt_over_budget %lld\n",
         (long long)nblocks, budget_us, med, sum / (double)nblocks, t[i999], t[nblocks - 1], (long long)over);
  qsort(tc, (size_t)nblocks, sizeof(double), cmp_double);
  double cmed = nblocks % 2 ? tc[nblocks / 2] : 0.5 * (tc[nblocks / 2 - 1] + tc[nblocks / 2]);
  int64_t cover = 0;
  for (int64_t k = 0; k < nblocks; k++) cover += tc[k] > budget_us;
  printf("  thread CPU time per block: median %.1f us, 99.9th percentile %.1f us, max %.1f us; %lld over budget\n",
         cmed, tc[i999], tc[nblocks - 1], (long long)cover);
  printf("RESULT rt_cpu_median_us %.2f\nRESULT rt_cpu_p999_us %.2f\nRESULT rt_cpu_max_us %.2f\n"
         "RESULT rt_cpu_over_budget %lld\n",
         cmed, tc[i999], tc[nblocks - 1], (long long)cover);
  if (allocs >= 0) printf("  heap allocations in the loop (malloc/calloc/realloc/aligned): %lld\n", allocs);
  else printf("  heap allocations in the loop: not counted (needs glibc)\n");
  printf("RESULT rt_allocs %lld\n", allocs);
  printf("  page faults in the loop: %ld\nRESULT rt_page_faults %ld\n", faults, faults);
  free(t);
  free(tc);
  free(pf);
  free(out);
}

static void mode_iofloor(const char *dir, const char *outpath) {
  enum { CH = 4096 };
  SNDFILE *in[NSTRIPS];
  static float sum[2 * CH], tmp[2 * CH];
  char path[4096];
  double t0 = now_s();
  SF_INFO info;
  int64_t frames = -1;
  for (int i = 0; i < NSTRIPS; i++) {
    memset(&info, 0, sizeof info);
    snprintf(path, sizeof path, "%s/src%02d.wav", dir, i);
    in[i] = sf_open(path, SFM_READ, &info);
    if (!in[i]) die("%s: %s", path, sf_strerror(NULL));
    if (info.channels != 2) die("%s: not stereo", path);
    if (frames < 0 || info.frames < frames) frames = info.frames;
  }
  memset(&info, 0, sizeof info);
  info.samplerate = (int)SR;
  info.channels = 2;
  info.format = SF_FORMAT_WAV | SF_FORMAT_FLOAT;
  SNDFILE *o = sf_open(outpath, SFM_WRITE, &info);
  if (!o) die("%s: %s", outpath, sf_strerror(NULL));
  for (int64_t pos = 0; pos < frames;) {
    int n = frames - pos < CH ? (int)(frames - pos) : CH;
    memset(sum, 0, sizeof(float) * 2 * (size_t)n);
    for (int i = 0; i < NSTRIPS; i++) {
      if (sf_readf_float(in[i], tmp, n) != n) die("short read");
      for (int k = 0; k < 2 * n; k++) sum[k] += tmp[k];
    }
    if (sf_writef_float(o, sum, n) != n) die("%s: short write", outpath);
    pos += n;
  }
  for (int i = 0; i < NSTRIPS; i++) sf_close(in[i]);
  sf_close(o);
  double t = now_s() - t0;
  printf("I/O floor: read 32 sources and wrote their sum, %lld frames, in %.3f s\n", (long long)frames, t);
  printf("RESULT iofloor_s %.4f\nRESULT maxrss_mib %.1f\n", t, maxrss_mib());
}

int main(int argc, char **argv) {
  int threads = 1, rounds = 0;
  const char *mode = "offline", *outpath = NULL, *dir = NULL;
  int block = 0;
  double limit_s = -1.0; /* whole program */
  for (int k = 1; k < argc; k++) {
    if (strcmp(argv[k], "--mode") == 0 && k + 1 < argc) mode = argv[++k];
    else if (strcmp(argv[k], "--block") == 0 && k + 1 < argc) block = atoi(argv[++k]);
    else if (strcmp(argv[k], "--out") == 0 && k + 1 < argc) outpath = argv[++k];
    else if (strcmp(argv[k], "--seconds") == 0 && k + 1 < argc) limit_s = atof(argv[++k]);
    else if (strcmp(argv[k], "--omit") == 0 && k + 1 < argc && n_omit < 16) omit[n_omit++] = argv[++k];
    else if (strcmp(argv[k], "--threads") == 0 && k + 1 < argc) threads = atoi(argv[++k]);
    else if (strcmp(argv[k], "--rounds") == 0 && k + 1 < argc) rounds = atoi(argv[++k]);
    else if (strcmp(argv[k], "--strips") == 0 && k + 1 < argc) nstrips = atoi(argv[++k]);
    else if (strcmp(argv[k], "--sat-default") == 0) sat_default = 1;
    else if (argv[k][0] == '-') {
      fprintf(stderr,
              "usage: %s [--mode offline|realtime|verify|iofloor|deliver] [--block N] [--seconds S] "
              "[--threads T] [--rounds R] "
              "[--strips N] [--sat-default] [--omit TYPE] [--out FILE.wav] SRC_DIR\n",
              argv[0]);
      return 2;
    } else dir = argv[k];
  }
  if (!dir) die("no source directory given (usage: bench_graph [--mode M] [--block N] [--out F] SRC_DIR)");
  if (nstrips < NSTRIPS || nstrips > MAX_STRIPS || nstrips % NSTRIPS != 0)
    die("--strips %d: a multiple of %d up to %d", nstrips, NSTRIPS, MAX_STRIPS);
  if (strcmp(mode, "iofloor") == 0) {
    if (!outpath) die("iofloor needs --out");
    mode_iofloor(dir, outpath);
    return 0;
  }
  int realtime = strcmp(mode, "realtime") == 0;
  int delivering = strcmp(mode, "deliver") == 0;
  if (delivering && !outpath) die("deliver needs --out FOLDER");
  file_sources = delivering;
  src_dir = dir;
  if (!realtime && !delivering && strcmp(mode, "offline") != 0 && strcmp(mode, "verify") != 0)
    die("unknown mode '%s'", mode);
  if (block <= 0) block = realtime ? 64 : 256;

  printf("libmixstage %s, benchmark graph from %s, mode %s, %d-frame blocks\n", mixstage_version_string(), dir,
         mode, block);
  strip_row rows[NSTRIPS];
  double t0 = now_s();
  read_table(dir, rows);
  load_sources(dir);
  double t_load = now_s() - t0;
  int64_t loaded_frames = src_frames;
  if (limit_s >= 0.0 && (delivering || (int64_t)(limit_s * SR) < src_frames)) src_frames = (int64_t)(limit_s * SR);
  t0 = now_s();
  built bt;
  memset(&bt, 0, sizeof bt);
  build_graph(rows, &bt, block);
  double t_build = now_s() - t0;
  double secs = (double)src_frames / SR;
  printf("RESULT strips %d\n", mixstage_graph_strip_count(G));
  printf("graph: %d strips, %d group buses, 2 returns, %d sends, %d sidechain keys; latency %d frames\n",
         mixstage_graph_strip_count(G), 4, bt.nsends, bt.nkeys, mixstage_graph_latency(G));
  printf("program: %lld frames (%.3f s); sources loaded in %.3f s (%.0f MiB), graph built and prepared in %.3f s\n",
         (long long)src_frames, secs, t_load,
         file_sources ? 0.0 : NSTRIPS * 2.0 * 4.0 * (double)loaded_frames / 1048576.0, t_build);
  printf("RESULT load_s %.4f\nRESULT build_s %.4f\nRESULT program_s %.3f\nRESULT latency_frames %d\n", t_load,
         t_build, secs, mixstage_graph_latency(G));
  printf("RESULT source_mib %.1f\nRESULT notes %d\n",
         file_sources ? 0.0 : NSTRIPS * 2.0 * 4.0 * (double)loaded_frames / 1048576.0, n_notes);

  if (delivering) {
    mixstage_deliver_config dc;
    mixstage_deliver_config_init(&dc);
    dc.render.frames = src_frames;
    double t0d = now_s(), c0d = cpu_s();
    int rcd = mixstage_graph_deliver(G, mixstage_profile_find("mix-stems"), outpath, &dc);
    if (rcd != MIXSTAGE_OK) die("deliver: %s", mixstage_graph_last_error(G));
    printf("delivered mix-stems (%d outputs) to %s: %.3f s wall, %.3f s CPU\n", nstrips + 3, outpath,
           now_s() - t0d, cpu_s() - c0d);
    printf("RESULT deliver_s %.4f\nRESULT deliver_cpu_s %.4f\n", now_s() - t0d, cpu_s() - c0d);
  } else if (realtime) {
    mode_realtime(block, outpath);
  } else {
    float *base, *mix;
    double t_render, c_render;
    if (threads > 1 && rounds > 0) scaling_rounds(threads, rounds);
    if (threads > 1) {
      printf("offline render with mixstage_graph_render() on %d threads\n", threads);
      base = mix = render_threads(threads, &t_render, &c_render);
    } else {
      mix = render_process_loop(&base, block, &t_render, &c_render);
    }
    double fs = (double)src_frames * nstrips;
    double nspfs = fs > 0 ? 1e9 * t_render / fs : 0.0;
    double nspfs_cpu = fs > 0 ? 1e9 * c_render / fs : 0.0;
    printf("render: %.3f s wall (%.2fx real time, %.1f ns per frame per strip); %.3f s CPU (%.2fx, %.1f ns)\n",
           t_render, secs / t_render, nspfs, c_render, secs / c_render, nspfs_cpu);
    printf("RESULT render_s %.4f\nRESULT render_xrt %.2f\nRESULT ns_per_frame_strip %.2f\n", t_render,
           secs / t_render, nspfs);
    printf("RESULT render_cpu_s %.4f\nRESULT ns_per_frame_strip_cpu %.2f\n", c_render, nspfs_cpu);
    print_levels(mix, src_frames);
    int64_t nf = numeric_faults();
    if (nf) printf("numeric faults (NaN/Inf resets) across all nodes: %lld\n", (long long)nf);
    if (strcmp(mode, "verify") == 0) {
      /* The offline API with its own block size must give the same samples. */
      mixstage_render_config rc;
      mixstage_render_config_init(&rc);
      rc.frames = src_frames;
      rc.max_tail_frames = 0;
      rc.remove_latency = 1;
      int64_t n = mixstage_graph_render_frames(G, &rc);
      check((int)(n < 0 ? n : 0), "mixstage_graph_render_frames");
      if (n != src_frames) printf("verify: render_frames gives %lld, expected %lld\n", (long long)n, (long long)src_frames);
      float *r = xmalloc(sizeof(float) * 2 * (size_t)(n > src_frames ? n : src_frames));
      int rcode = mixstage_graph_render(G, &rc, r, n);
      if (rcode != MIXSTAGE_ENUMERIC) check(rcode, "mixstage_graph_render");
      int64_t m = n < src_frames ? n : src_frames, diff = 0, first = -1;
      double maxd = 0;
      for (int64_t k = 0; k < 2 * m; k++)
        if (r[k] != mix[k]) {
          if (first < 0) first = k / 2;
          diff++;
          double d = fabs((double)r[k] - mix[k]);
          if (d > maxd) maxd = d;
        }
      printf("verify: process loop (%d-frame blocks) vs mixstage_graph_render: %s (%lld samples differ, "
             "first at frame %lld, max difference %.3g)\n",
             block, diff ? "DIFFERENT" : "bit-identical", (long long)diff, (long long)first, maxd);
      printf("RESULT verify_identical %d\n", diff == 0 && n == src_frames);
      free(r);
      if (diff || n != src_frames) return 1;
    }
    if (outpath) {
      t0 = now_s();
      write_wav(outpath, mix, src_frames);
      printf("wrote %s in %.3f s\n", outpath, now_s() - t0);
    }
    free(base);
  }
  if (file_sources)
    printf("peak memory (ru_maxrss): %.1f MiB, the sources streamed from their files\n", maxrss_mib());
  else
    printf("peak memory (ru_maxrss): %.1f MiB, of which %.1f MiB are the source buffers\n", maxrss_mib(),
           NSTRIPS * 2.0 * 4.0 * (double)loaded_frames / 1048576.0);
  printf("RESULT maxrss_mib %.1f\n", maxrss_mib());
  printf("RESULT process_cpu_s %.4f\n", cpu_s());
  /* Shows the counter is live: loading and building do allocate. */
  printf("RESULT process_allocs %lld\n", alloc_count());
  mixstage_graph_destroy(G);
  for (int i = 0; i < NSTRIPS; i++) free(src[i]);
  return 0;
}
