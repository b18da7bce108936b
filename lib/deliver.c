/* Delivery: a profile's bounce trimmed, written as files and described in a
 * manifest, committed to the directory as a whole (see deliver.h for the
 * guarantee this file keeps). */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include "internal.h"
#include "mixstage/deliver.h"

/* File names are kept well under NAME_MAX (255) so that the staging and the
 * io layer's temporary names built from them still fit. */
#define NAME_BYTES 160

MIXSTAGE_EXPORT void mixstage_deliver_config_init(mixstage_deliver_config *cfg) {
  if (!cfg) return;
  memset(cfg, 0, sizeof *cfg);
  mixstage_render_config_init(&cfg->render);
  mixstage_write_config_init(&cfg->write);
  cfg->tail_threshold_db = -90.0;
  cfg->write_manifest = 1;
  cfg->tail_window_seconds = 0.1;
  cfg->null_check = 1;
}

/* ---- file names ------------------------------------------------------------- */

static int ascii_lower(int c) { return c >= 'A' && c <= 'Z' ? c + 32 : c; }

/* ASCII-only case folding: file systems that ignore case fold at least ASCII,
 * and the locale must not matter. */
static int strncasecmp_ascii(const char *a, const char *b, size_t n) {
  for (size_t i = 0; i < n; i++) {
    int x = ascii_lower((unsigned char)a[i]), y = ascii_lower((unsigned char)b[i]);
    if (x != y) return x - y;
    if (!x) return 0;
  }
  return 0;
}

static int bad_char(unsigned char c) {
  return c < 0x20 || c == 0x7f || strchr("\\/:*?\"<>|", c) != NULL;
}

/* Device names Windows refuses as file names whatever the extension. */
static int reserved_name(const char *s) {
  static const char *const dev[] = {"con", "prn", "aux", "nul"};
  size_t n = strlen(s);
  for (int i = 0; i < 4; i++)
    if (n == 3 && strncasecmp_ascii(s, dev[i], 3) == 0) return 1;
  if (n == 4 && (strncasecmp_ascii(s, "com", 3) == 0 || strncasecmp_ascii(s, "lpt", 3) == 0) && s[3] >= '1' &&
      s[3] <= '9')
    return 1;
  return 0;
}

MIXSTAGE_EXPORT int mixstage_deliver_file_name(const char *name, const char *ext, char *out, size_t size) {
  if (!name || !ext || !out) return MIXSTAGE_ENULL;
  if (size == 0) return MIXSTAGE_ERANGE;
  char base[NAME_BYTES + 1];
  size_t n = 0;
  for (const unsigned char *p = (const unsigned char *)name; *p && n < NAME_BYTES; p++)
    base[n++] = bad_char(*p) ? '_' : (char)*p;
  /* Cut a UTF-8 sequence that the length limit split in two. */
  if (name[n] && n > 0) {
    size_t k = n;
    while (k > 0 && ((unsigned char)base[k - 1] & 0xC0) == 0x80) k--;
    if (k > 0 && ((unsigned char)base[k - 1] & 0xC0) == 0xC0) n = k - 1;
  }
  base[n] = 0;
  if (n == 0) {
    strcpy(base, "output");
    n = 6;
  }
  /* A leading dot hides the file (and "." / ".." are not files); a trailing
   * dot or space is dropped silently by Windows. */
  if (base[0] == '.') base[0] = '_';
  if (base[n - 1] == '.' || base[n - 1] == ' ') base[n - 1] = '_';
  int w = snprintf(out, size, "%s%s%s%s", reserved_name(base) ? "_" : "", base, *ext ? "." : "", ext);
  return w < 0 || (size_t)w >= size ? MIXSTAGE_ERANGE : MIXSTAGE_OK;
}


/* 64-bit FNV-1a (Fowler, Noll, Vo) of a string: a stable per-file dither seed. */
static uint64_t fnv1a(const char *s) {
  uint64_t h = 0xcbf29ce484222325ull;
  for (; *s; s++) h = (h ^ (unsigned char)*s) * 0x100000001b3ull;
  return h;
}

static const char *kind_name(int kind) {
  switch (kind) {
  case MIXSTAGE_OUTPUT_MIX: return "mix";
  case MIXSTAGE_OUTPUT_STEM: return "stem";
  case MIXSTAGE_OUTPUT_FX: return "fx-return";
  default: return "reference";
  }
}

static const char *ext_of(int format) {
  return format == MIXSTAGE_FORMAT_AIFF ? "aiff" : format == MIXSTAGE_FORMAT_FLAC ? "flac" : "wav";
}

/* ---- directory ------------------------------------------------------------ */

static char *join(const char *dir, const char *name) {
  size_t a = strlen(dir), b = strlen(name);
  char *p = malloc(a + b + 2);
  if (!p) return NULL;
  memcpy(p, dir, a);
  size_t k = a;
  if (a && dir[a - 1] != '/') p[k++] = '/';
  memcpy(p + k, name, b + 1);
  return p;
}

/* mkdir -p, then insist on a writable directory, naming the path at fault. */
static int make_dirs(mixstage_graph *g, const char *dir) {
  size_t n = strlen(dir);
  char *p = malloc(n + 1);
  if (!p) return mixstage__fail(g, MIXSTAGE_ENOMEM, "delivery: out of memory");
  memcpy(p, dir, n + 1);
  for (size_t i = 1; i <= n; i++) {
    if (p[i] != '/' && p[i] != 0) continue;
    char c = p[i];
    p[i] = 0;
    if (mkdir(p, 0777) != 0 && errno != EEXIST) {
      int e = errno;
      int rc = mixstage__fail(g, MIXSTAGE_EIO, "delivery: cannot create directory '%s': %s", p, strerror(e));
      free(p);
      return rc;
    }
    p[i] = c;
  }
  free(p);
  struct stat st;
  if (stat(dir, &st) != 0)
    return mixstage__fail(g, MIXSTAGE_EIO, "delivery: directory '%s': %s", dir, strerror(errno));
  if (!S_ISDIR(st.st_mode))
    return mixstage__fail(g, MIXSTAGE_EIO, "delivery: '%s' is not a directory", dir);
  if (access(dir, W_OK | X_OK) != 0)
    return mixstage__fail(g, MIXSTAGE_EIO, "delivery: directory '%s' is not writable: %s", dir, strerror(errno));
  return MIXSTAGE_OK;
}

/* One file of the delivery: its final path, its staged copy, and the
 * previous file kept aside during the commit. */
typedef struct item {
  char name[NAME_BYTES + 32];
  char *final_path, *stage_path, *old_path;
  int staged;  /* stage_path exists */
  int old;     /* 0 none, 1 hard link to the previous file, 2 the previous file renamed aside */
  int renamed; /* final_path now holds the new file */
  mixstage_file_stats stats;
} item;

static _Atomic unsigned stage_seq;

static int item_paths(item *it, const char *dir) {
  char buf[NAME_BYTES + 96];
  unsigned seq = atomic_fetch_add(&stage_seq, 1u);
  it->final_path = join(dir, it->name);
  snprintf(buf, sizeof buf, ".%s.mixstage-%ld-%u.part", it->name, (long)getpid(), seq);
  it->stage_path = join(dir, buf);
  snprintf(buf, sizeof buf, ".%s.mixstage-%ld-%u.old", it->name, (long)getpid(), seq);
  it->old_path = join(dir, buf);
  return it->final_path && it->stage_path && it->old_path ? MIXSTAGE_OK : MIXSTAGE_ENOMEM;
}

static void sync_dir(const char *dir) {
  int fd = open(dir, O_RDONLY);
  if (fd < 0) return;
  (void)fsync(fd); /* makes the renames durable; some file systems refuse, which is harmless */
  close(fd);
}

/* Renames every staged file over its final name, the manifest last.  On a
 * failure the files already renamed are put back as they were. */
static int commit(mixstage_graph *g, item *it, int n, const char *dir) {
  int rc = MIXSTAGE_OK, k;
  for (k = 0; k < n; k++) {
    item *x = &it[k];
    struct stat st;
    if (lstat(x->final_path, &st) == 0) {
      if (S_ISDIR(st.st_mode)) {
        rc = mixstage__fail(g, MIXSTAGE_EIO, "delivery: '%s' is a directory", x->final_path);
        break;
      }
      /* A replaced file keeps its mode, as with mixstage_audio_write(); a
       * replaced symbolic link is not a file: its 0777 is never copied. */
      if (!S_ISLNK(st.st_mode)) (void)chmod(x->stage_path, st.st_mode & 07777);
      if (link(x->final_path, x->old_path) == 0) {
        x->old = 1;
      } else if (rename(x->final_path, x->old_path) == 0) {
        x->old = 2; /* no hard links here: the name is briefly absent, never truncated */
      } else {
        rc = mixstage__fail(g, MIXSTAGE_EIO, "delivery: cannot keep the previous '%s' aside: %s", x->final_path,
                            strerror(errno));
        break;
      }
    }
    if (rename(x->stage_path, x->final_path) != 0) {
      rc = mixstage__fail(g, MIXSTAGE_EIO, "delivery: cannot rename '%s' to '%s': %s", x->stage_path,
                          x->final_path, strerror(errno));
      if (x->old == 2) (void)rename(x->old_path, x->final_path);
      else if (x->old == 1) (void)unlink(x->old_path);
      x->old = 0;
      break;
    }
    x->staged = 0;
    x->renamed = 1;
  }
  if (rc != MIXSTAGE_OK) {
    for (int j = k - 1; j >= 0; j--) {
      if (it[j].old) (void)rename(it[j].old_path, it[j].final_path);
      else (void)unlink(it[j].final_path);
      it[j].old = 0;
      it[j].renamed = 0;
    }
  } else {
    for (k = 0; k < n; k++)
      if (it[k].old) (void)unlink(it[k].old_path);
  }
  sync_dir(dir);
  return rc;
}

/* ---- progress over the whole delivery ------------------------------------- */

typedef struct progress {
  mixstage_progress_fn fn;
  void *user;
  int64_t offset, total;
} progress;

static int progress_forward(void *user, int64_t done, int64_t total) {
  (void)total;
  const progress *p = user;
  return p->fn(p->user, p->offset + done, p->total);
}

/* ---- manifest helpers -------------------------------------------------------- */

static const char *action_word(int a) {
  return a == MIXSTAGE_ACTION_MUTE ? "muted" : a == MIXSTAGE_ACTION_BYPASS ? "bypassed" : "on";
}

/* Which roles a file was rendered with.  The reference is the production
 * mix whatever the profile; an FX stem is the return as the production mix
 * hears it, so its mix-fx sends are on. */
static void roles_of(const mixstage_profile *p, int kind, const char *on[], const char *byp[],
                     const char *mut[]) {
  const mixstage_profile *src = kind == MIXSTAGE_OUTPUT_REFERENCE ? mixstage_profile_builtin(0) : p;
  int a = 0, b = 0, c = 0;
  for (int r = 0; r < MIXSTAGE_ROLE_COUNT; r++) {
    int act = mixstage_profile_action(src, r);
    if (kind == MIXSTAGE_OUTPUT_FX && r == MIXSTAGE_ROLE_MIX_FX) act = MIXSTAGE_ACTION_ON;
    const char *nm = mixstage_role_name(r);
    if (act == MIXSTAGE_ACTION_MUTE) mut[c++] = nm;
    else if (act == MIXSTAGE_ACTION_BYPASS) byp[b++] = nm;
    else on[a++] = nm;
  }
  on[a] = byp[b] = mut[c] = NULL;
}

static int manifest_top(mixstage_manifest *m, const mixstage_profile *p) {
  char json[512];
  size_t k = 0;
  k += (size_t)snprintf(json + k, sizeof json - k, "{");
  for (int r = 0; r < MIXSTAGE_ROLE_COUNT; r++)
    k += (size_t)snprintf(json + k, sizeof json - k, "%s\"%s\": \"%s\"", r ? ", " : "", mixstage_role_name(r),
                          action_word(mixstage_profile_action(p, r)));
  snprintf(json + k, sizeof json - k, "}");
  static const char *const stems[] = {"none", "per-strip", "per-group"};
  int rc = mixstage_manifest_set_string(m, "profile", mixstage_profile_name(p));
  if (rc == MIXSTAGE_OK) rc = mixstage_manifest_set_json(m, "profile_actions", json);
  if (rc == MIXSTAGE_OK) rc = mixstage_manifest_set_string(m, "stems", stems[mixstage_profile_stems(p)]);
  if (rc == MIXSTAGE_OK) rc = mixstage_manifest_set_json(m, "fx_stems", mixstage_profile_fx_stems(p) ? "true" : "false");
  return rc;
}

/* ---- the delivery -------------------------------------------------------------- */

static int check_config(mixstage_graph *g, const mixstage_deliver_config *c, int channels) {
  const mixstage_write_config *w = &c->write;
  if (!isfinite(c->tail_threshold_db) || c->tail_threshold_db < -200.0 || c->tail_threshold_db > 0.0)
    return mixstage__fail(g, MIXSTAGE_EINVAL, "delivery: tail threshold %g dBFS is outside -200 .. 0",
                          c->tail_threshold_db);
  if (!isfinite(c->tail_window_seconds) || c->tail_window_seconds < 0.0 || c->tail_window_seconds > 10.0)
    return mixstage__fail(g, MIXSTAGE_EINVAL, "delivery: tail window %g s is outside 0 .. 10 s",
                          c->tail_window_seconds);
  if (!mixstage_file_format_name(w->format) || !mixstage_sample_type_name(w->sample_type))
    return mixstage__fail(g, MIXSTAGE_EINVAL, "delivery: unknown file format %d or sample type %d", w->format,
                          w->sample_type);
  if (w->output_rate != 0.0 && !(w->output_rate >= 8000.0 && w->output_rate <= 768000.0))
    return mixstage__fail(g, MIXSTAGE_EINVAL, "delivery: output rate %g Hz is outside 8000 .. 768000",
                          w->output_rate);
  if (w->format == MIXSTAGE_FORMAT_FLAC && w->sample_type == MIXSTAGE_SAMPLE_FLOAT32)
    return mixstage__fail(g, MIXSTAGE_EFORMAT, "delivery: FLAC cannot hold float32 samples");
  if (w->format == MIXSTAGE_FORMAT_FLAC && channels > 8)
    return mixstage__fail(g, MIXSTAGE_EFORMAT, "delivery: FLAC cannot hold %d channels (8 at most)", channels);
  return MIXSTAGE_OK;
}

/* The common length: the program, then the tail until every output has
 * stayed below the threshold for the window (the window is kept), capped by
 * the bounce's length. */
static int64_t trimmed_length(const mixstage_bounce *b, int64_t program, double threshold_db, int64_t window,
                              int *truncated) {
  int64_t frames = mixstage_bounce_frames(b);
  int ch = mixstage_bounce_channels(b);
  float thr = (float)pow(10.0, threshold_db / 20.0);
  int64_t last = -1; /* last frame with a sample at or above the threshold */
  for (int i = 0; i < mixstage_bounce_count(b); i++) {
    const float *x = mixstage_bounce_data(b, i);
    for (int64_t f = frames - 1; f > last; f--) {
      const float *fr = x + (size_t)f * (size_t)ch;
      int loud = 0;
      for (int c = 0; c < ch; c++) loud |= fabsf(fr[c]) >= thr;
      if (loud) {
        last = f;
        break;
      }
    }
  }
  int64_t end = last + 1 + window;
  *truncated = end > frames;
  if (end < program) end = program;
  if (end > frames) end = frames;
  return end;
}

MIXSTAGE_EXPORT int mixstage_graph_deliver(mixstage_graph *g, const mixstage_profile *p, const char *dir,
                                           const mixstage_deliver_config *cfg_in) {
  if (!g) return MIXSTAGE_ENULL;
  if (!p || !dir)
    return mixstage__fail(g, MIXSTAGE_ENULL, "delivery: %s is NULL", p ? "the directory" : "the profile");
  if (!*dir) return mixstage__fail(g, MIXSTAGE_EINVAL, "delivery: the directory name is empty");
  mixstage_deliver_config cfg;
  if (cfg_in) cfg = *cfg_in;
  else mixstage_deliver_config_init(&cfg);
  int channels = mixstage_bus_channels(mixstage_graph_mix_bus(g));
  int rc = check_config(g, &cfg, channels);
  if (rc != MIXSTAGE_OK) return rc;
  int has_stems = mixstage_profile_stems(p) != MIXSTAGE_STEMS_NONE;
  if (!has_stems && !mixstage_profile_mix(p) && !mixstage_profile_fx_stems(p) && !mixstage_profile_reference(p))
    return mixstage__fail(g, MIXSTAGE_EINVAL, "delivery: profile '%s' delivers no output", mixstage_profile_name(p));
  if ((rc = make_dirs(g, dir)) != MIXSTAGE_OK) return rc;

  /* Sizes and latency from a fresh prepare: the bounce prepares the same way. */
  if ((rc = mixstage_graph_prepare(g)) != MIXSTAGE_OK) return rc;
  int latency = cfg.render.remove_latency ? mixstage_graph_latency(g) : 0;
  double rate = mixstage_graph_sample_rate(g);
  int64_t T = mixstage_graph_render_frames(g, &cfg.render);
  if (T < 0) return (int)T;
  mixstage_render_config no_tail = cfg.render;
  no_tail.max_tail_frames = 0;
  int64_t program = mixstage_graph_render_frames(g, &no_tail);
  if (program < 0) return (int)program;

  int want_null = cfg.null_check && has_stems;
  int passes = want_null ? 3 : 1;
  progress prog = {cfg.render.progress, cfg.render.progress_user, 0, (int64_t)(passes + 1) * T};
  mixstage_render_config rcfg = cfg.render;
  if (prog.fn) {
    rcfg.progress = progress_forward;
    rcfg.progress_user = &prog;
  }

  mixstage_bounce *b = NULL;
  mixstage_manifest *m = NULL;
  item *items = NULL;
  int nitems = 0, numeric = 0;
  double residual = 0.0;
  char err[1024];

  int brc;
  b = mixstage_graph_bounce(g, p, &rcfg, &brc);
  if (!b) return brc;
  numeric = brc == MIXSTAGE_ENUMERIC;
  if (want_null) {
    prog.offset = T;
    rc = mixstage_graph_null_check(g, p, &rcfg, &residual);
    if (rc == MIXSTAGE_ENUMERIC) numeric = 1;
    else if (rc != MIXSTAGE_OK) goto done;
  }
  prog.offset = (int64_t)passes * T;

  int truncated;
  int64_t window = llround(cfg.tail_window_seconds * rate);
  int64_t frames = trimmed_length(b, program, cfg.tail_threshold_db, window, &truncated);

  /* Names: unique without regard to ASCII case. */
  int count = mixstage_bounce_count(b);
  items = calloc((size_t)count + 1, sizeof *items);
  if (!items) {
    rc = mixstage__fail(g, MIXSTAGE_ENOMEM, "delivery: out of memory");
    goto done;
  }
  const char *ext = ext_of(cfg.write.format);
  /* The reserved outputs (the mix, the reference) are named first, so a
   * strip called "reference" gives way ("reference 2.wav") rather than
   * taking the name a mix engineer looks for. */
  for (int pass = 0; pass < 2; pass++)
    for (int i = 0; i < count; i++) {
      int kind = mixstage_bounce_kind(b, i);
      int reserved = kind == MIXSTAGE_OUTPUT_MIX || kind == MIXSTAGE_OUTPUT_REFERENCE;
      if (reserved != (pass == 0)) continue;
      item *x = &items[i];
      char base[NAME_BYTES + 8];
      mixstage_deliver_file_name(mixstage_bounce_name(b, i), "", base, sizeof base);
      snprintf(x->name, sizeof x->name, "%s.%s", base, ext);
      for (int k = 2;; k++) {
        int clash = strncasecmp_ascii(x->name, "manifest.json", sizeof x->name) == 0;
        for (int j = 0; j < count && !clash; j++)
          clash = j != i && items[j].name[0] && strncasecmp_ascii(x->name, items[j].name, sizeof x->name) == 0;
        if (!clash) break;
        snprintf(x->name, sizeof x->name, "%s %d.%s", base, k, ext);
      }
    }
  snprintf(items[count].name, sizeof items[count].name, "manifest.json");
  for (int i = 0; i <= count; i++) {
    nitems++;
    if (item_paths(&items[i], dir) != MIXSTAGE_OK) {
      rc = mixstage__fail(g, MIXSTAGE_ENOMEM, "delivery: out of memory");
      goto done;
    }
  }

  int merr;
  m = mixstage_manifest_create(&merr);
  if (!m) {
    rc = mixstage__fail(g, MIXSTAGE_ENOMEM, "delivery: out of memory");
    goto done;
  }
  rc = manifest_top(m, p);
  if (rc == MIXSTAGE_OK) rc = mixstage_manifest_set_number(m, "graph_sample_rate", rate);
  if (rc == MIXSTAGE_OK) rc = mixstage_manifest_set_integer(m, "graph_frames", frames);
  if (rc == MIXSTAGE_OK) rc = mixstage_manifest_set_integer(m, "program_frames", program);
  if (rc == MIXSTAGE_OK) rc = mixstage_manifest_set_integer(m, "tail_frames", frames - program);
  if (rc == MIXSTAGE_OK) rc = mixstage_manifest_set_number(m, "tail_threshold_dbfs", cfg.tail_threshold_db);
  if (rc == MIXSTAGE_OK) rc = mixstage_manifest_set_integer(m, "tail_window_frames", window);
  if (rc == MIXSTAGE_OK) rc = mixstage_manifest_set_json(m, "tail_truncated", truncated ? "true" : "false");
  if (rc == MIXSTAGE_OK) rc = mixstage_manifest_set_integer(m, "latency_removed_frames", latency);
  if (rc == MIXSTAGE_OK) rc = mixstage_manifest_set_json(m, "numeric_faults", numeric ? "true" : "false");
  if (rc == MIXSTAGE_OK) {
    if (want_null) rc = mixstage_manifest_set_number(m, "null_check_residual_dbfs", residual);
    else rc = mixstage_manifest_set_json(m, "null_check_residual_dbfs", "null");
  }
  if (rc == MIXSTAGE_OK && want_null)
    rc = mixstage_manifest_set_string(m, "null_check",
                                      "peak of (stems + FX stems, bus-color bypassed) - (production mix, mix-bus "
                                      "stages bypassed), dBFS; -400 means exactly zero");
  if (rc != MIXSTAGE_OK) {
    rc = mixstage__fail(g, rc, "delivery: manifest: %s", mixstage_strerror(rc));
    goto done;
  }

  /* Stage every file. */
  for (int i = 0; i < count; i++) {
    item *x = &items[i];
    mixstage_write_config w = cfg.write;
    w.dither_seed ^= fnv1a(x->name);
    mixstage_file_stats st;
    rc = mixstage_audio_write(x->stage_path, mixstage_bounce_data(b, i), frames, channels, rate, &w, &st, err,
                              sizeof err);
    if (rc != MIXSTAGE_OK) {
      rc = mixstage__fail(g, rc, "delivery: %s (staged for '%s')", err, x->final_path);
      goto done;
    }
    x->staged = 1;
    x->stats = st;
    int kind = mixstage_bounce_kind(b, i);
    const char *on[MIXSTAGE_ROLE_COUNT + 1], *byp[MIXSTAGE_ROLE_COUNT + 1], *mut[MIXSTAGE_ROLE_COUNT + 1];
    roles_of(p, kind, on, byp, mut);
    int e = mixstage_manifest_add_file(m, x->name, kind_name(kind), mixstage_profile_name(p), &st, on, byp, mut,
                                       latency);
    int r2 = e < 0 ? e : mixstage_manifest_file_set_string(m, e, "name", mixstage_bounce_name(b, i));
    if (r2 == MIXSTAGE_OK)
      r2 = mixstage_manifest_file_set_json(m, e, "adds_up", mixstage_bounce_nulls(b, i) ? "true" : "false");
    const char *note = mixstage_bounce_note(b, i);
    if (r2 == MIXSTAGE_OK && note && *note) r2 = mixstage_manifest_file_set_string(m, e, "adds_up_note", note);
    if (r2 == MIXSTAGE_OK)
      r2 = mixstage_manifest_file_set_string(
          m, e, "dither", w.sample_type != MIXSTAGE_SAMPLE_FLOAT32 && w.dither ? "tpdf" : "none");
    if (r2 != MIXSTAGE_OK) {
      rc = mixstage__fail(g, r2, "delivery: manifest: %s", mixstage_strerror(r2));
      goto done;
    }
    if (prog.fn && prog.fn(prog.user, prog.offset + T * (i + 1) / (count + 1), prog.total)) {
      rc = mixstage__fail(g, MIXSTAGE_ECANCELLED, "delivery: cancelled by the caller");
      goto done;
    }
  }
  if (cfg.write_manifest) {
    item *x = &items[count];
    rc = mixstage_manifest_write(m, x->stage_path, err, sizeof err);
    if (rc != MIXSTAGE_OK) {
      rc = mixstage__fail(g, rc, "delivery: %s (staged for '%s')", err, x->final_path);
      goto done;
    }
    x->staged = 1;
  }
  if (prog.fn && prog.fn(prog.user, prog.total, prog.total)) {
    rc = mixstage__fail(g, MIXSTAGE_ECANCELLED, "delivery: cancelled by the caller");
    goto done;
  }
  rc = commit(g, items, cfg.write_manifest ? count + 1 : count, dir);
  if (rc == MIXSTAGE_OK) {
    if (cfg.null_residual_out) *cfg.null_residual_out = want_null ? residual : NAN;
    if (cfg.file_done)
      for (int i = 0; i < count; i++)
        cfg.file_done(cfg.file_done_user, items[i].final_path, mixstage_bounce_name(b, i), mixstage_bounce_kind(b, i),
                      &items[i].stats);
  }
  if (rc == MIXSTAGE_OK && numeric)
    rc = mixstage__fail(g, MIXSTAGE_ENUMERIC, "delivery: a node produced NaN or infinity during the render");

done:
  for (int i = 0; i < nitems; i++) {
    if (items[i].staged) (void)unlink(items[i].stage_path);
    free(items[i].final_path);
    free(items[i].stage_path);
    free(items[i].old_path);
  }
  free(items);
  mixstage_manifest_destroy(m);
  mixstage_bounce_destroy(b);
  return rc;
}
