/* Delivery: a profile's bounce trimmed, written as files and described in a
 * manifest, committed to the directory as a whole (see deliver.h for the
 * guarantee this file keeps). */
#define _DEFAULT_SOURCE /* flock() */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <sys/types.h>
#include <unistd.h>

#include "internal.h"
#include "mixstage/deliver.h"
#include "io_writer.h"
#include "resample.h"
#include "mastering_chain.h"

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

/* FNV-1a continued over a string and a separator. */
static uint64_t fnv_mix(uint64_t h, const char *s) {
  for (; *s; s++) h = (h ^ (unsigned char)*s) * 0x100000001b3ull;
  return (h ^ 0xffu) * 0x100000001b3ull;
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

/* ---- adding up ------------------------------------------------------------ */

/* The stem rules' bound on the null check's residual: float sums of the same
 * terms in another order stay some 40 dB below it (check_profiles). */
#define MIXSTAGE__NULL_LIMIT_DB (-100.0)

static int is_stem_kind(int kind) { return kind == MIXSTAGE_OUTPUT_STEM || kind == MIXSTAGE_OUTPUT_FX; }

static int adds_up_of(const mixstage_bounce *b, int i, int null_failed) {
  if (null_failed && is_stem_kind(mixstage_bounce_kind(b, i))) return 0;
  return mixstage_bounce_nulls(b, i);
}

/* The note of output i: its own (a nonlinear stage on its path), or, when
 * the null check failed, why the set does not add up, naming the stage that
 * another stem's note names (the one responsible), or saying that none was
 * found. */
static const char *adds_up_note(const mixstage_bounce *b, int first, int count, int i, int null_failed,
                                double residual, char *buf, size_t size) {
  const char *own = mixstage_bounce_note(b, i);
  if (!null_failed || !is_stem_kind(mixstage_bounce_kind(b, i)) || (own && *own)) return own;
  const char *cause = NULL;
  for (int k = first; k < first + count && !cause; k++) {
    const char *n = mixstage_bounce_note(b, k);
    if (n && *n) cause = n;
  }
  if (cause)
    snprintf(buf, size, "the stems do not add up as a set (null check %.1f dBFS, above %.0f dBFS): %s",
             residual, MIXSTAGE__NULL_LIMIT_DB, cause);
  else
    snprintf(buf, size,
             "the stems do not add up as a set (null check %.1f dBFS, above %.0f dBFS) and no stage on "
             "their paths is known to be nonlinear: a stage did not apply its production gain",
             residual, MIXSTAGE__NULL_LIMIT_DB);
  return buf;
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

/* ---- staging and the commit --------------------------------------------------
 *
 * A delivery stages every file in a hidden directory of its own inside the
 * target, ".mixstage-ID.stage", owned through an flock()ed lock file
 * ".mixstage-ID.lock" (made before the staging directory, removed after
 * it).  The commit:
 *   1. every file and the manifest are complete and fsynced in the stage;
 *   2. the stage's "names" journal lists the files (fsynced);
 *   3. each final name that exists is hard-linked into the stage's "old";
 *   4. each audio file is renamed over its final name;
 *   5. manifest.json is renamed into place: the commit point;
 *   6. the stage (with the old versions) and the lock are removed.
 * A delivery that dies before 5 is rolled back by the next one into the
 * folder (or mixstage_deliver_recover()): the old versions go back, new
 * files without an old version go.  One that dies after 5 is complete: only
 * its stage is removed.  The manifest names the delivery (delivery_id), so
 * whether 5 happened is read from it. */

static _Atomic unsigned stage_seq;

static void sync_path(const char *path) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return;
  (void)fsync(fd); /* some file systems refuse, which is harmless */
  close(fd);
}


static uint64_t mix64(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

typedef struct stage {
  char id[40];
  char *lock_path, *dir_path, *old_path;
  int lock_fd;
} stage;

static char *join3(const char *dir, const char *a, const char *b) {
  char *x = join(dir, a);
  if (!x || !b) return x;
  char *y = join(x, b);
  free(x);
  return y;
}

/* Removes a directory and the files in it (the stage holds files and "old"). */
static void remove_tree(const char *path) {
  DIR *d = opendir(path);
  if (!d) {
    (void)unlink(path);
    return;
  }
  struct dirent *e;
  while ((e = readdir(d))) {
    if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
    char *p = join(path, e->d_name);
    if (!p) continue;
    struct stat st;
    if (lstat(p, &st) == 0 && S_ISDIR(st.st_mode)) remove_tree(p);
    else (void)unlink(p);
    free(p);
  }
  closedir(d);
  (void)rmdir(path);
}

/* The journal: "manifest 0|1" then one final name per line. */
static int read_names(const char *stage_dir, char ***names_out, int *count, int *with_manifest, char *delivery_id,
                      size_t idsize) {
  char *p = join(stage_dir, "names");
  FILE *f = p ? fopen(p, "r") : NULL;
  free(p);
  *names_out = NULL;
  *count = 0;
  if (!f) return -1;
  char line[NAME_BYTES + 64];
  char idbuf[64] = "";
  int ok = fgets(line, sizeof line, f) && sscanf(line, "manifest %d %63s", with_manifest, idbuf) >= 1;
  snprintf(delivery_id, idsize, "%s", idbuf);
  char **names = NULL;
  int n = 0;
  while (ok && fgets(line, sizeof line, f)) {
    size_t l = strlen(line);
    if (l && line[l - 1] == '\n') line[--l] = 0;
    if (!l || strchr(line, '/')) continue;
    char **nn = realloc(names, sizeof *nn * (size_t)(n + 1));
    if (!nn) break;
    names = nn;
    if (!(names[n] = strdup(line))) break;
    n++;
  }
  fclose(f);
  *names_out = names;
  *count = n;
  return ok ? 0 : -1;
}

static void free_names(char **names, int n) {
  for (int i = 0; i < n; i++) free(names[i]);
  free(names);
}

/* 1 if dir/manifest.json names delivery id. */
static int manifest_is(const char *dir, const char *id) {
  char *p = join(dir, "manifest.json");
  FILE *f = p ? fopen(p, "rb") : NULL;
  free(p);
  if (!f) return 0;
  size_t cap = 1 << 16, n = 0;
  char *buf = malloc(cap + 1);
  int found = 0;
  if (buf) {
    size_t got;
    while ((got = fread(buf + n, 1, cap - n, f)) > 0) {
      n += got;
      if (n == cap) {
        char *nb = realloc(buf, 2 * cap + 1);
        if (!nb) break;
        buf = nb;
        cap *= 2;
      }
    }
    buf[n] = 0;
    char key[80];
    snprintf(key, sizeof key, "\"%s\"", id);
    found = strstr(buf, key) != NULL;
    free(buf);
  }
  fclose(f);
  return found;
}

/* Settles the stage of a delivery that is no longer running: forward if its
 * manifest (or, without one, its last file) went in, else back. */
static void settle_stage(const char *dir, const char *stage_dir) {
  char **names, id[64];
  int n, with_manifest = 0;
  if (read_names(stage_dir, &names, &n, &with_manifest, id, sizeof id) == 0) {
    int committed;
    if (with_manifest) {
      committed = id[0] && manifest_is(dir, id);
    } else {
      committed = 1;
      for (int i = 0; i < n && committed; i++) {
        char *s = join(stage_dir, names[i]);
        committed = s && access(s, F_OK) != 0;
        free(s);
      }
    }
    if (!committed)
      for (int i = 0; i < n; i++) {
        char *old = join3(stage_dir, "old", names[i]);
        char *staged = join(stage_dir, names[i]);
        char *fin = join(dir, names[i]);
        if (old && staged && fin) {
          if (access(old, F_OK) == 0) (void)rename(old, fin);       /* the previous file back */
          else if (access(staged, F_OK) != 0) (void)unlink(fin);    /* a new file with no previous */
        }
        free(old);
        free(staged);
        free(fin);
      }
  }
  free_names(names, n);
  remove_tree(stage_dir);
  sync_path(dir);
}

/* Whether a process that left "NAME.mixstage-PID-N.part" behind is gone. */
static int pid_dead(long pid) { return pid > 0 && kill((pid_t)pid, 0) != 0 && errno == ESRCH; }

/* Leftovers of dead deliveries: their stages (settled), their locks, and the
 * ".part"/".old" files of earlier versions.  A live delivery holds its lock
 * and is left alone. */
static void clean_leftovers(const char *dir) {
  DIR *d = opendir(dir);
  if (!d) return;
  struct dirent *e;
  while ((e = readdir(d))) {
    const char *nm = e->d_name;
    char id[64];
    size_t l = strlen(nm);
    if (!strncmp(nm, ".mixstage-", 10) && l > 16 && l - 10 < sizeof id &&
        (!strcmp(nm + l - 6, ".stage") || !strcmp(nm + l - 5, ".lock"))) {
      int is_stage = !strcmp(nm + l - 6, ".stage");
      size_t idl = l - 10 - (is_stage ? 6 : 5);
      memcpy(id, nm + 10, idl);
      id[idl] = 0;
      char lockname[96], stagename[96];
      snprintf(lockname, sizeof lockname, ".mixstage-%s.lock", id);
      snprintf(stagename, sizeof stagename, ".mixstage-%s.stage", id);
      char *lp = join(dir, lockname), *sp = join(dir, stagename);
      int fd = lp ? open(lp, O_RDWR | O_CLOEXEC) : -1;
      int live = fd >= 0 && flock(fd, LOCK_EX | LOCK_NB) != 0;
      if (!live && sp) {
        if (access(sp, F_OK) == 0) settle_stage(dir, sp);
        if (fd >= 0) (void)unlink(lp); /* while holding its lock */
      }
      if (fd >= 0) close(fd);
      free(lp);
      free(sp);
      continue;
    }
    /* ".NAME.mixstage-PID-N.part" / ".old" of the earlier staging scheme */
    const char *m = strstr(nm, ".mixstage-");
    if (nm[0] == '.' && m && m != nm && l > 5 && (!strcmp(nm + l - 5, ".part") || !strcmp(nm + l - 4, ".old"))) {
      long pid = strtol(m + 10, NULL, 10);
      if (pid_dead(pid)) {
        char *p = join(dir, nm);
        if (p) (void)unlink(p);
        free(p);
      }
    }
  }
  closedir(d);
}

static void stage_free(stage *s) {
  free(s->lock_path);
  free(s->dir_path);
  free(s->old_path);
  if (s->lock_fd >= 0) close(s->lock_fd);
  s->lock_fd = -1;
  s->lock_path = s->dir_path = s->old_path = NULL;
}

/* Removes the stage and its lock (after a commit, or to abandon it). */
static void stage_remove(stage *s) {
  if (s->dir_path) remove_tree(s->dir_path);
  if (s->lock_path && s->lock_fd >= 0) (void)unlink(s->lock_path);
  stage_free(s);
}

/* Takes a fresh id and its lock, then makes the stage. */
static int stage_open(mixstage_graph *g, stage *s, const char *dir) {
  memset(s, 0, sizeof *s);
  s->lock_fd = -1;
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  for (int tries = 0; tries < 8; tries++) {
    uint64_t h = mix64((uint64_t)ts.tv_sec * 1000000007ull ^ (uint64_t)ts.tv_nsec ^ ((uint64_t)getpid() << 32) ^
                       (uint64_t)atomic_fetch_add(&stage_seq, 1u) * 0x9e3779b97f4a7c15ull ^ (uint64_t)(uintptr_t)s);
    snprintf(s->id, sizeof s->id, "%ld-%016llx", (long)getpid(), (unsigned long long)h);
    char nm[96];
    snprintf(nm, sizeof nm, ".mixstage-%s.lock", s->id);
    free(s->lock_path);
    s->lock_path = join(dir, nm);
    if (!s->lock_path) break;
    int fd = open(s->lock_path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
    if (fd < 0) {
      if (errno == EEXIST) continue;
      int e = errno;
      stage_free(s);
      return mixstage__fail(g, MIXSTAGE_EIO, "delivery: cannot create '%s': %s", nm, strerror(e));
    }
    struct stat a, b;
    /* A cleaner may have taken the new lock file for a dead one and removed
     * it before the flock: then take another id. */
    if (flock(fd, LOCK_EX) != 0 || fstat(fd, &a) != 0 || stat(s->lock_path, &b) != 0 || a.st_ino != b.st_ino) {
      close(fd);
      continue;
    }
    s->lock_fd = fd;
    snprintf(nm, sizeof nm, ".mixstage-%s.stage", s->id);
    s->dir_path = join(dir, nm);
    s->old_path = s->dir_path ? join(s->dir_path, "old") : NULL;
    if (!s->old_path) break;
    if (mkdir(s->dir_path, 0777) != 0 || mkdir(s->old_path, 0777) != 0) {
      int e = errno;
      int rc = mixstage__fail(g, MIXSTAGE_EIO, "delivery: cannot create '%s': %s", s->dir_path, strerror(e));
      stage_remove(s);
      return rc;
    }
    return MIXSTAGE_OK;
  }
  stage_free(s);
  return mixstage__fail(g, MIXSTAGE_ENOMEM, "delivery: cannot take a staging name in '%s'", dir);
}

/* One file of the delivery: its final path and its staged copy. */
typedef struct item {
  char name[NAME_BYTES + 32];
  char *final_path, *stage_path;
  mixstage_file_stats stats;
} item;

/* Steps 2 to 6 above.  On a failure the folder is put back as it was. */
static int commit(mixstage_graph *g, stage *s, item *it, int n, int with_manifest, const char *delivery_id,
                  const char *dir) {
  char *jp = join(s->dir_path, "names");
  FILE *f = jp ? fopen(jp, "w") : NULL;
  int ok = f != NULL && fprintf(f, "manifest %d %s\n", with_manifest, delivery_id) > 0;
  for (int k = 0; k < n && ok; k++) ok = fprintf(f, "%s\n", it[k].name) > 0;
  if (f) {
    ok = ok && fflush(f) == 0 && fsync(fileno(f)) == 0;
    ok = fclose(f) == 0 && ok;
  }
  free(jp);
  if (!ok) return mixstage__fail(g, MIXSTAGE_EIO, "delivery: cannot write the journal in '%s'", s->dir_path);
  int rc = MIXSTAGE_OK;
  for (int k = 0; k < n && rc == MIXSTAGE_OK; k++) {
    struct stat st;
    if (lstat(it[k].final_path, &st) != 0) continue;
    if (S_ISDIR(st.st_mode)) {
      rc = mixstage__fail(g, MIXSTAGE_EIO, "delivery: '%s' is a directory", it[k].final_path);
      break;
    }
    /* A replaced file keeps its mode, as with mixstage_audio_write(); a
     * replaced symbolic link is not a file: its 0777 is never copied. */
    if (!S_ISLNK(st.st_mode)) (void)chmod(it[k].stage_path, st.st_mode & 07777);
    char *old = join(s->old_path, it[k].name);
    if (!old || (link(it[k].final_path, old) != 0 && rename(it[k].final_path, old) != 0))
      rc = mixstage__fail(g, MIXSTAGE_EIO, "delivery: cannot keep the previous '%s' aside: %s", it[k].final_path,
                          strerror(errno));
    free(old);
  }
  sync_path(s->old_path);
  sync_path(s->dir_path);
  for (int k = 0; k < n && rc == MIXSTAGE_OK; k++) /* the manifest, last, is the commit point */
    if (rename(it[k].stage_path, it[k].final_path) != 0)
      rc = mixstage__fail(g, MIXSTAGE_EIO, "delivery: cannot rename '%s' to '%s': %s", it[k].stage_path,
                          it[k].final_path, strerror(errno));
  sync_path(dir);
  if (rc != MIXSTAGE_OK) {
    if (with_manifest) { /* the manifest never went in: settling rolls back */
      settle_stage(dir, s->dir_path);
    } else {
      /* without a manifest, settling would roll forward once all renamed;
       * here something failed, so put back explicitly */
      for (int k = 0; k < n; k++) {
        char *old = join(s->old_path, it[k].name);
        if (old && access(old, F_OK) == 0) (void)rename(old, it[k].final_path);
        else if (old && access(it[k].stage_path, F_OK) != 0) (void)unlink(it[k].final_path);
        free(old);
      }
      sync_path(dir);
    }
  }
  stage_remove(s);
  return rc;
}

MIXSTAGE_EXPORT int mixstage_deliver_recover(const char *dir) {
  if (!dir) return MIXSTAGE_ENULL;
  struct stat st;
  if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) return MIXSTAGE_EIO;
  clean_leftovers(dir);
  return MIXSTAGE_OK;
}

/* ---- progress over the whole delivery ------------------------------------- */

typedef struct progress {
  mixstage_progress_fn fn;
  void *user;
  int64_t total;
} progress;

static int progress_forward(void *user, int64_t done, int64_t total) {
  (void)total;
  const progress *p = user;
  return p->fn(p->user, done < p->total ? done : p->total, p->total);
}

/* A mastered final: the length is known once the master has prepared the
 * graph, so the scale is the capture render's own; the search's passes (full
 * renders where no capture can be made) restart at 0 and are held at the
 * highest point reached, so the caller never sees progress go back. */
typedef struct master_progress {
  mixstage_progress_fn fn;
  void *user;
  int64_t total, high;
} master_progress;

static int master_progress_forward(void *user, int64_t done, int64_t total) {
  master_progress *p = user;
  if (p->total <= 0) p->total = total;
  if (done > p->total) done = p->total;
  if (done > p->high) p->high = done;
  return p->fn(p->user, p->high, p->total);
}
/* ---- manifest helpers -------------------------------------------------------- */

static const char *action_word(int a) {
  return a == MIXSTAGE_ACTION_MUTE ? "mute" : a == MIXSTAGE_ACTION_BYPASS ? "bypass" : "on"; /* as profiles spell them */
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

/* ---- the delivery: one pass, every output written as it is produced ------ */

/* The bounce's blocks go straight to the staged files.  The length is known
 * only at the end: frames before max(program, last loud frame + 1 + window)
 * are sure to be kept and are written at once; later ones (quiet in every
 * output, within the tail) wait until a loud frame confirms them or the
 * render ends.  So the files are exactly today's trimmed ones.  The first
 * HOLD_MEMORY frames that wait stay in memory; a longer quiet tail (up to
 * the tail cap, 30 s by default, for every output) waits in a spill file in
 * the stage, unlinked at once, so the memory held is the same whatever the
 * length and whatever the tail.  With a rate conversion
 * (write.output_rate) the frames written go through a streaming converter
 * per file on their way to its writer; it holds back only the few converted
 * frames the end may cut (resample.h), so that too is bounded, and the
 * files are those mixstage_audio_write() gives for the whole outputs. */
#define HOLD_MEMORY 16384
static _Atomic int64_t hold_memory = HOLD_MEMORY;

void mixstage__deliver_hold_memory(int64_t frames) { atomic_store(&hold_memory, frames < 0 ? HOLD_MEMORY : frames); }
/* Frames moved through the spill file at a time. */
#define SPILL_CHUNK 1024

typedef struct sink {
  mixstage_graph *g;
  item *items;
  int count, ch;
  mixstage__writer **w;
  const mixstage_write_config *wcfg; /* per-file seeds in seeds[] */
  uint64_t *seeds;
  double rate;
  int64_t program, total, window;
  float thr;
  mixstage__resampler **conv; /* per output with a rate conversion, else NULL */
  int64_t last_loud;  /* last frame with a sample at or above the threshold */
  int64_t written;    /* frames written to every file */
  float **pend;       /* per output: frames [written, written + pend_frames) from pend_head */
  int64_t pend_head, pend_frames, pend_cap;
  /* the frames after those, in order: records of one frame of every output */
  int spill_on, spill_fd; /* the file is open (made when first needed) */
  int64_t spill_read, spill_frames; /* first record not yet written out, records after it */
  float *spill_buf;   /* SPILL_CHUNK records */
  float *spill_one;   /* SPILL_CHUNK frames of one output */
  const char *stage_dir;
  float **gather;     /* per output: frames written but not yet handed to the file (SINK_GATHER) */
  int64_t *gathered;
  char err[1024];
} sink;

static int64_t sink_frontier(const sink *k) {
  int64_t end = k->last_loud + 1 + k->window;
  if (end < k->program) end = k->program;
  if (end > k->total) end = k->total;
  return end;
}

/* Frames gathered per file before they go to the writer: a render block is
 * 256 frames, and each writer call is a system call and a pass through
 * libsndfile; with a delivery's dozens of files, these small writes cost
 * more than the quantising.  The writer gives the same bytes and readings
 * however the frames are split (io_writer.h). */
#define SINK_GATHER 8192

/* One output's converted frames, on their way to its writer. */
typedef struct sink_out {
  sink *k;
  int i;
} sink_out;

static int sink_converted(void *user, const float *x, int64_t frames) {
  sink_out *o = user;
  return mixstage__writer_write(o->k->w[o->i], x, frames, o->k->err, sizeof o->k->err);
}

/* A converter's failure, or its writer's (in k->err). */
static int sink_conv_fail(sink *k, int i, int rc, const char *why) {
  if (why)
    return mixstage__fail(k->g, rc, "delivery: sample-rate conversion failed: %s (staged for '%s')", why,
                          k->items[i].final_path);
  return mixstage__fail(k->g, rc, "delivery: %s", k->err);
}

static int sink_put(sink *k, int i, const float *x, int64_t frames) {
  int rc;
  if (k->conv[i]) {
    const char *why = NULL;
    sink_out o = {k, i};
    rc = mixstage__resampler_push(k->conv[i], x, frames, sink_converted, &o, &why);
    return rc == MIXSTAGE_OK ? rc : sink_conv_fail(k, i, rc, why);
  }
  rc = mixstage__writer_write(k->w[i], x, frames, k->err, sizeof k->err);
  return rc == MIXSTAGE_OK ? rc : mixstage__fail(k->g, rc, "delivery: %s", k->err);
}

static int sink_write(sink *k, int i, const float *x, int64_t frames) {
  float *buf = k->gather[i];
  int64_t have = k->gathered[i];
  int rc = MIXSTAGE_OK;
  while (frames > 0 && rc == MIXSTAGE_OK) {
    if (have == 0 && frames >= SINK_GATHER) {
      rc = sink_put(k, i, x, frames);
      break;
    }
    int64_t take = SINK_GATHER - have < frames ? SINK_GATHER - have : frames;
    memcpy(buf + (size_t)have * (size_t)k->ch, x, sizeof(float) * (size_t)take * (size_t)k->ch);
    have += take;
    x += (size_t)take * (size_t)k->ch;
    frames -= take;
    if (have == SINK_GATHER) {
      rc = sink_put(k, i, buf, have);
      have = 0;
    }
  }
  k->gathered[i] = have;
  return rc;
}

/* Everything gathered, to the files (before they are closed). */
static int sink_drain(sink *k) {
  for (int i = 0; i < k->count; i++) {
    if (!k->gathered || !k->gathered[i]) continue;
    int64_t have = k->gathered[i];
    k->gathered[i] = 0;
    int rc = sink_put(k, i, k->gather[i], have);
    if (rc < 0) return rc;
  }
  return MIXSTAGE_OK;
}

static size_t spill_record(const sink *k) { return sizeof(float) * (size_t)k->count * (size_t)k->ch; }

static int spill_fail(sink *k, const char *what) {
  return mixstage__fail(k->g, MIXSTAGE_EIO, "delivery: %s the held tail in '%s': %s", what, k->stage_dir,
                        strerror(errno));
}

/* Appends n frames of every output (from frame `from` of outputs) to the
 * spill file, as records. */
static int spill_append(sink *k, const float *const *outputs, int64_t from, int64_t n) {
  if (!k->spill_on) {
    /* In the stage: on the delivery's file system, and a name no output
     * takes (theirs have an extension). */
    char *p = join(k->stage_dir, "held-tail");
    if (!p) return mixstage__fail(k->g, MIXSTAGE_ENOMEM, "delivery: out of memory");
    k->spill_fd = open(p, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (k->spill_fd >= 0) (void)unlink(p); /* lives while open: nothing left behind */
    free(p);
    if (k->spill_fd < 0) return spill_fail(k, "cannot hold");
    k->spill_on = 1;
    k->spill_buf = malloc(spill_record(k) * SPILL_CHUNK);
    k->spill_one = malloc(sizeof(float) * (size_t)k->ch * SPILL_CHUNK);
    if (!k->spill_buf || !k->spill_one) return mixstage__fail(k->g, MIXSTAGE_ENOMEM, "delivery: out of memory");
  }
  const size_t rec = spill_record(k), fch = (size_t)k->ch;
  while (n > 0) {
    int m = n < SPILL_CHUNK ? (int)n : SPILL_CHUNK;
    for (int j = 0; j < m; j++)
      for (int i = 0; i < k->count; i++)
        memcpy(k->spill_buf + ((size_t)j * (size_t)k->count + (size_t)i) * fch,
               outputs[i] + (size_t)(from + j) * fch, sizeof(float) * fch);
    off_t at = (off_t)((k->spill_read + k->spill_frames) * (int64_t)rec);
    size_t len = rec * (size_t)m, done = 0;
    while (done < len) {
      ssize_t w = pwrite(k->spill_fd, (const char *)k->spill_buf + done, len - done, at + (off_t)done);
      if (w < 0 && errno == EINTR) continue;
      if (w <= 0) return spill_fail(k, "cannot hold");
      done += (size_t)w;
    }
    k->spill_frames += m;
    from += m;
    n -= m;
  }
  return MIXSTAGE_OK;
}

/* Writes the first n spilled frames to the files. */
static int spill_flush(sink *k, int64_t n) {
  const size_t rec = spill_record(k), fch = (size_t)k->ch;
  while (n > 0) {
    int m = n < SPILL_CHUNK ? (int)n : SPILL_CHUNK;
    size_t len = rec * (size_t)m, done = 0;
    off_t at = (off_t)(k->spill_read * (int64_t)rec);
    while (done < len) {
      ssize_t r = pread(k->spill_fd, (char *)k->spill_buf + done, len - done, at + (off_t)done);
      if (r < 0 && errno == EINTR) continue;
      if (r <= 0) return spill_fail(k, "cannot read back");
      done += (size_t)r;
    }
    for (int i = 0; i < k->count; i++) {
      for (int j = 0; j < m; j++)
        memcpy(k->spill_one + (size_t)j * fch, k->spill_buf + ((size_t)j * (size_t)k->count + (size_t)i) * fch,
               sizeof(float) * fch);
      int rc = sink_write(k, i, k->spill_one, m);
      if (rc < 0) return rc;
    }
    k->spill_read += m;
    k->spill_frames -= m;
    k->written += m;
    n -= m;
  }
  if (k->spill_frames == 0) k->spill_read = 0; /* empty: the file is reused from its start */
  return MIXSTAGE_OK;
}

/* Writes the held frames up to frame `upto` (memory first, then the spill
 * file) and keeps the rest. */
static int sink_flush(sink *k, int64_t upto) {
  int64_t n = upto - k->written;
  if (n <= 0) return MIXSTAGE_OK;
  if (k->pend_frames) {
    int64_t m = n < k->pend_frames ? n : k->pend_frames;
    for (int i = 0; i < k->count; i++) {
      int rc = sink_write(k, i, k->pend[i] + (size_t)k->pend_head * (size_t)k->ch, m);
      if (rc < 0) return rc;
    }
    k->written += m;
    k->pend_frames -= m;
    k->pend_head = k->pend_frames ? k->pend_head + m : 0;
    n -= m;
  }
  if (n > 0 && k->spill_frames) return spill_flush(k, n < k->spill_frames ? n : k->spill_frames);
  return MIXSTAGE_OK;
}

/* Keeps n frames of every output (from frame `from`) after those held. */
static int sink_hold(sink *k, const float *const *outputs, int64_t from, int64_t n) {
  int64_t mem = n;
  /* in order: once frames wait on disk, the next ones follow them there */
  int64_t room = k->spill_frames ? 0 : atomic_load(&hold_memory) - k->pend_frames;
  if (room < 0) room = 0;
  if (mem > room) mem = room;
  if (mem > 0) {
    if (k->pend_head + k->pend_frames + mem > k->pend_cap && k->pend_head) {
      /* Move the held frames to the front once the space behind them is
       * used up: each frame moves at most once per buffer length. */
      for (int i = 0; i < k->count; i++)
        memmove(k->pend[i], k->pend[i] + (size_t)k->pend_head * (size_t)k->ch,
                sizeof(float) * (size_t)k->pend_frames * (size_t)k->ch);
      k->pend_head = 0;
    }
    if (k->pend_frames + mem > k->pend_cap) {
      int64_t cap = k->pend_cap ? 2 * k->pend_cap : HOLD_MEMORY;
      while (cap < k->pend_frames + mem) cap *= 2;
      for (int i = 0; i < k->count; i++) {
        float *p = realloc(k->pend[i], sizeof(float) * (size_t)cap * (size_t)k->ch);
        if (!p) return mixstage__fail(k->g, MIXSTAGE_ENOMEM, "delivery: out of memory holding the tail");
        k->pend[i] = p;
      }
      k->pend_cap = cap;
    }
    size_t at = (size_t)(k->pend_head + k->pend_frames) * (size_t)k->ch;
    for (int i = 0; i < k->count; i++)
      memcpy(k->pend[i] + at, outputs[i] + (size_t)from * (size_t)k->ch,
             sizeof(float) * (size_t)mem * (size_t)k->ch);
    k->pend_frames += mem;
  }
  return mem < n ? spill_append(k, outputs, from + mem, n - mem) : MIXSTAGE_OK;
}

static int sink_block(void *user, const mixstage_bounce *b, int64_t frame, int n, const float *const *outputs) {
  (void)b;
  sink *k = user;
  size_t len = (size_t)n * (size_t)k->ch;
  for (int i = 0; i < k->count; i++) {
    const float *x = outputs[i];
    for (size_t s = len; s-- > 0;)
      if (fabsf(x[s]) >= k->thr) {
        int64_t f = frame + (int64_t)(s / (size_t)k->ch);
        if (f > k->last_loud) k->last_loud = f;
        break;
      }
  }
  int64_t front = sink_frontier(k);
  int rc = sink_flush(k, front);
  if (rc < 0) return rc;
  /* Held frames come first; the block is written directly only when nothing waits. */
  int64_t direct = 0;
  if (k->pend_frames == 0 && k->spill_frames == 0 && k->written == frame) {
    direct = front - frame;
    if (direct > n) direct = n;
    if (direct < 0) direct = 0;
    for (int i = 0; i < k->count && direct; i++)
      if ((rc = sink_write(k, i, outputs[i], direct)) < 0) return rc;
    k->written += direct;
  }
  return direct < n ? sink_hold(k, outputs, direct, n - direct) : MIXSTAGE_OK;
}


/* What the block callback needs to set the delivery up at its first call,
 * when the bounce's description (names, kinds) exists. */
typedef struct deliver_run {
  mixstage_graph *g;
  int latency;
  int first, n_out; /* this delivery's outputs in the bounce: n_out from first (-1: all) */
  const mixstage_profile *p;
  const char *dir;
  const mixstage_deliver_config *cfg;
  stage *st;
  const char *ext;
  sink *k;
  item **items;
  int *count;
  double rate;
  int64_t program, total;
  int channels;
  int opened;
} deliver_run;

/* Names unique without regard to ASCII case, staged writers open. */
static int open_outputs(deliver_run *r, const mixstage_bounce *b) {
  mixstage_graph *g = r->g;
  r->opened = 1;
  int count = r->n_out >= 0 ? r->n_out : mixstage_bounce_count(b);
  const int first = r->first;
  item *items = calloc((size_t)count + 1, sizeof *items);
  if (!items) return mixstage__fail(g, MIXSTAGE_ENOMEM, "delivery: out of memory");
  *r->items = items;
  *r->count = count;
  /* The reserved outputs (the mix, the reference) are named first, so a
   * strip called "reference" gives way ("reference 2.wav") rather than
   * taking the name a mix engineer looks for. */
  for (int pass = 0; pass < 2; pass++)
    for (int i = 0; i < count; i++) {
      int kind = mixstage_bounce_kind(b, first + i);
      int reserved = kind == MIXSTAGE_OUTPUT_MIX || kind == MIXSTAGE_OUTPUT_REFERENCE;
      if (reserved != (pass == 0)) continue;
      item *x = &items[i];
      char base[NAME_BYTES + 8];
      mixstage_deliver_file_name(mixstage_bounce_name(b, first + i), "", base, sizeof base);
      snprintf(x->name, sizeof x->name, "%s.%s", base, r->ext);
      for (int n = 2;; n++) {
        int clash = strncasecmp_ascii(x->name, "manifest.json", sizeof x->name) == 0;
        for (int j = 0; j < count && !clash; j++)
          clash = j != i && items[j].name[0] && strncasecmp_ascii(x->name, items[j].name, sizeof x->name) == 0;
        if (!clash) break;
        snprintf(x->name, sizeof x->name, "%s %d.%s", base, n, r->ext);
      }
    }
  snprintf(items[count].name, sizeof items[count].name, "manifest.json");
  for (int i = 0; i <= count; i++) {
    items[i].final_path = join(r->dir, items[i].name);
    items[i].stage_path = join(r->st->dir_path, items[i].name);
    if (!items[i].final_path || !items[i].stage_path) return mixstage__fail(g, MIXSTAGE_ENOMEM, "delivery: out of memory");
  }
  sink *k = r->k;
  const mixstage_deliver_config *cfg = r->cfg;
  k->g = g;
  k->items = items;
  k->count = count;
  k->ch = r->channels;
  k->rate = r->rate;
  k->program = r->program;
  k->total = r->total;
  k->window = llround(cfg->tail_window_seconds * r->rate);
  k->thr = (float)pow(10.0, cfg->tail_threshold_db / 20.0);
  k->last_loud = -1;
  const int converting = cfg->write.output_rate != 0.0 && cfg->write.output_rate != r->rate;
  const double file_rate = converting ? cfg->write.output_rate : r->rate;
  k->stage_dir = r->st->dir_path;
  if (file_rate != floor(file_rate))
    return mixstage__fail(g, MIXSTAGE_EINVAL, "delivery: files need a whole-number rate, not %g Hz%s", file_rate,
                          converting ? "" : " (set write.output_rate)");
  k->w = calloc((size_t)count + 1, sizeof *k->w);
  k->pend = calloc((size_t)count + 1, sizeof *k->pend);
  k->seeds = calloc((size_t)count + 1, sizeof *k->seeds);
  k->gather = calloc((size_t)count + 1, sizeof *k->gather);
  k->gathered = calloc((size_t)count + 1, sizeof *k->gathered);
  k->conv = calloc((size_t)count + 1, sizeof *k->conv);
  if (!k->w || !k->pend || !k->seeds || !k->gather || !k->gathered || !k->conv)
    return mixstage__fail(g, MIXSTAGE_ENOMEM, "delivery: out of memory");
  const double ratio = file_rate / r->rate;
  for (int i = 0; i < count; i++) {
    k->seeds[i] = cfg->write.dither_seed ^ fnv1a(items[i].name);
    if (!(k->gather[i] = malloc(sizeof(float) * SINK_GATHER * (size_t)k->ch)))
      return mixstage__fail(g, MIXSTAGE_ENOMEM, "delivery: out of memory");
    if (converting) {
      const char *why = NULL;
      int rc = mixstage__resampler_new(&k->conv[i], k->ch, ratio, &why);
      if (rc != MIXSTAGE_OK) return sink_conv_fail(k, i, rc, why ? why : mixstage_strerror(rc));
    }
    mixstage_write_config w = cfg->write;
    w.dither_seed = k->seeds[i];
    w.output_rate = 0.0; /* the writer takes the converted frames */
    int64_t hint = converting ? mixstage__resampled_frames(r->total, ratio) : r->total;
    int rc = mixstage__writer_open(&k->w[i], items[i].stage_path, k->ch, file_rate, hint, &w, k->err, sizeof k->err);
    if (rc != MIXSTAGE_OK) return mixstage__fail(g, rc, "delivery: %s (staged for '%s')", k->err, items[i].final_path);
  }
  return MIXSTAGE_OK;
}

static int run_block(void *user, const mixstage_bounce *b, int64_t frame, int n, const float *const *outputs) {
  deliver_run *r = user;
  if (!r->opened) {
    int rc = open_outputs(r, b);
    if (rc < 0) return rc;
  }
  return sink_block(r->k, b, frame, n, outputs);
}

/* The delivery's length from a fresh prepare (the bounce prepares the same
 * way): latency removed, frames with the tail cap, and the program alone. */
static int delivery_length(deliver_run *r) {
  int rc = mixstage_graph_prepare(r->g);
  if (rc != MIXSTAGE_OK) return rc;
  r->latency = r->cfg->render.remove_latency ? mixstage_graph_latency(r->g) : 0;
  r->total = mixstage_graph_render_frames(r->g, &r->cfg->render);
  if (r->total < 0) return (int)r->total;
  mixstage_render_config no_tail = r->cfg->render;
  no_tail.max_tail_frames = 0;
  r->program = mixstage_graph_render_frames(r->g, &no_tail);
  return r->program < 0 ? (int)r->program : MIXSTAGE_OK;
}

/* The final master's best pass, handed over by the master search after it
 * has left the graph at the settings found: the length is taken then (the
 * search may change the limiter's latency), and the blocks go to the staged
 * file as a render's would. */
typedef struct master_feed {
  deliver_run *run;
  mixstage_bounce *desc; /* the mix alone, made at the first block */
  int64_t frame;
} master_feed;

static int master_describe(master_feed *f) {
  deliver_run *r = f->run;
  int rc = delivery_length(r);
  if (rc < 0) return rc;
  f->desc = mixstage__bounce_describe_mix(r->p, r->total, r->channels);
  return f->desc ? MIXSTAGE_OK : mixstage__fail(r->g, MIXSTAGE_ENOMEM, "delivery: out of memory");
}

static int master_block(void *user, const float *x, int frames) {
  master_feed *f = user;
  int rc;
  if (!f->desc && (rc = master_describe(f)) < 0) return rc;
  if (f->frame + frames > f->run->total)
    return mixstage__fail(f->run->g, MIXSTAGE_ESTATE, "delivery: the master runs past the final render's %lld frames",
                          (long long)f->run->total);
  const float *outputs[1] = {x};
  rc = run_block(f->run, f->desc, f->frame, frames, outputs);
  f->frame += frames;
  return rc;
}

/* One delivery's state, from its checks to its commit.  A delivery is
 * opened (checks, folder, stage), fed blocks by a render (or a bounce, or
 * the master's best pass), finished (files closed, manifest, commit) and
 * closed; several deliveries fed by one shared pass each have their own. */
typedef struct delivery {
  mixstage_graph *g;
  const mixstage_profile *p;
  const char *dir;
  mixstage_deliver_config cfg;
  int channels, has_stems, want_null, mastering, numeric, staged;
  double rate, residual;
  const char *ext;
  stage st;
  sink k;
  item *items;
  int count;
  deliver_run run;
  progress prog;
  master_progress mprog;
  mixstage_render_config rcfg; /* cfg.render with the progress on the delivery's scale */
  mixstage_bounce *owned;      /* a description this delivery made, or NULL */
  const mixstage_bounce *desc; /* names, kinds, notes of the outputs; the run's range of it */
  mixstage_manifest *m;
} delivery;

/* Checks, the folder, the length (unless mastering: master_block()) and the
 * stage.  On failure nothing is staged. */
static int delivery_open(delivery *d, mixstage_graph *g, const mixstage_profile *p, const char *dir,
                         const mixstage_deliver_config *cfg_in, const mixstage_bounce *from) {
  memset(d, 0, sizeof *d);
  d->residual = NAN;
  if (!g) return MIXSTAGE_ENULL;
  d->g = g;
  if (!p || !dir)
    return mixstage__fail(g, MIXSTAGE_ENULL, "delivery: %s is NULL", p ? "the directory" : "the profile");
  if (!*dir) return mixstage__fail(g, MIXSTAGE_EINVAL, "delivery: the directory name is empty");
  d->p = p;
  d->dir = dir;
  if (cfg_in) d->cfg = *cfg_in;
  else mixstage_deliver_config_init(&d->cfg);
  d->channels = mixstage_bus_channels(mixstage_graph_mix_bus(g));
  int rc = check_config(g, &d->cfg, d->channels);
  if (rc != MIXSTAGE_OK) return rc;
  d->has_stems = mixstage_profile_stems(p) != MIXSTAGE_STEMS_NONE;
  if (!d->has_stems && !mixstage_profile_mix(p) && !mixstage_profile_fx_stems(p) && !mixstage_profile_reference(p))
    return mixstage__fail(g, MIXSTAGE_EINVAL, "delivery: profile '%s' delivers no output", mixstage_profile_name(p));
  d->mastering = d->cfg.master != NULL;
  if (d->mastering && p != mixstage_profile_find("final"))
    return mixstage__fail(g, MIXSTAGE_EINVAL, "delivery: a master is made of the built-in final profile, not '%s'",
                          mixstage_profile_name(p));
  if (d->mastering && from)
    return mixstage__fail(g, MIXSTAGE_EINVAL, "delivery: a bounce is delivered as it is, it cannot be mastered");
  if ((rc = make_dirs(g, dir)) != MIXSTAGE_OK) return rc;
  clean_leftovers(dir);

  d->rate = mixstage_graph_sample_rate(g);
  deliver_run *r = &d->run;
  r->g = g;
  r->p = p;
  r->dir = dir;
  r->cfg = &d->cfg;
  r->rate = d->rate;
  r->channels = d->channels;
  r->n_out = -1;
  /* A master takes its length after the search (master_block()). */
  if (!d->mastering && (rc = delivery_length(r)) != MIXSTAGE_OK) return rc;
  d->want_null = d->cfg.null_check && d->has_stems && !from;
  if (from && (mixstage_bounce_frames(from) != r->total || mixstage_bounce_channels(from) != d->channels ||
               strcmp(mixstage_bounce_profile(from), mixstage_profile_name(p)) != 0))
    return mixstage__fail(g, MIXSTAGE_EINVAL,
                          "delivery: the bounce (profile '%s', %lld frames) is not this graph's '%s' under this "
                          "configuration (%lld frames)",
                          mixstage_bounce_profile(from), (long long)mixstage_bounce_frames(from),
                          mixstage_profile_name(p), (long long)r->total);
  d->ext = ext_of(d->cfg.write.format);
  if ((rc = stage_open(g, &d->st, dir)) != MIXSTAGE_OK) return rc;
  d->staged = 1;

  d->prog = (progress){d->cfg.render.progress, d->cfg.render.progress_user, r->total};
  d->mprog = (master_progress){d->cfg.render.progress, d->cfg.render.progress_user, 0, 0};
  d->rcfg = d->cfg.render;
  if (d->prog.fn) {
    d->rcfg.progress = d->mastering ? master_progress_forward : progress_forward;
    d->rcfg.progress_user = d->mastering ? (void *)&d->mprog : (void *)&d->prog;
  }
  /* The outputs and their staged writers are set up at the first block,
   * when the bounce's description exists; see open_outputs(). */
  r->st = &d->st;
  r->ext = d->ext;
  r->k = &d->k;
  r->items = &d->items;
  r->count = &d->count;
  return MIXSTAGE_OK;
}

/* The master search, its best pass written to the staged file. */
static int delivery_master(delivery *d) {
  mixstage_graph *g = d->g;
  if (d->cfg.stage_fn) d->cfg.stage_fn(d->cfg.stage_user, mixstage_profile_name(d->p), "master", "mix");
  master_feed feed = {&d->run, NULL, 0};
  mixstage_master_report local;
  mixstage_master_report *rep = d->cfg.master_report ? d->cfg.master_report : &local;
  int rc = mixstage__graph_master_to(g, d->cfg.master, &d->rcfg, rep, master_block, &feed);
  if (rc == MIXSTAGE_OK && !feed.desc) rc = master_describe(&feed); /* a zero-length master */
  d->owned = feed.desc;
  d->desc = feed.desc;
  if (rc == MIXSTAGE_OK && feed.frame != d->run.total)
    rc = mixstage__fail(g, MIXSTAGE_ESTATE, "delivery: the master has %lld frames, the final render %lld",
                        (long long)feed.frame, (long long)d->run.total);
  d->prog.total = d->run.total;
  return rc;
}

/* Files closed, the manifest written, the commit. */
static int delivery_finish(delivery *d) {
  mixstage_graph *g = d->g;
  const mixstage_profile *p = d->p;
  const mixstage_deliver_config *cfg = &d->cfg;
  deliver_run *r = &d->run;
  sink *k = &d->k;
  const mixstage_bounce *desc = d->desc;
  int rc;
  char err[1024];
  /* The manifest never contradicts its own null check: above the stem
   * rules' bound no stem claims to add up. */
  int null_failed = d->want_null && d->residual > MIXSTAGE__NULL_LIMIT_DB;
  char why[MIXSTAGE__ERR_MAX];
  if (!r->opened && (rc = open_outputs(r, desc)) < 0) return rc; /* a zero-length render */
  const int first = r->first, count = d->count;
  item *items = d->items;
  int64_t T = r->total, program = r->program;
  /* The length, as the tail rule gives it now that the render is over. */
  int64_t frames = k->last_loud + 1 + k->window;
  int truncated = frames > T;
  if (frames < program) frames = program;
  if (frames > T) frames = T;
  if ((rc = sink_flush(k, frames)) < 0 || (rc = sink_drain(k)) < 0) return rc;

  int merr;
  mixstage_manifest *m = d->m = mixstage_manifest_create(&merr);
  if (!m) return mixstage__fail(g, MIXSTAGE_ENOMEM, "delivery: out of memory");
  rc = manifest_top(m, p);
  if (rc == MIXSTAGE_OK) rc = mixstage_manifest_set_number(m, "graph_sample_rate", d->rate);
  if (rc == MIXSTAGE_OK) rc = mixstage_manifest_set_integer(m, "graph_frames", frames);
  if (rc == MIXSTAGE_OK) rc = mixstage_manifest_set_integer(m, "program_frames", program);
  if (rc == MIXSTAGE_OK) rc = mixstage_manifest_set_integer(m, "tail_frames", frames - program);
  if (rc == MIXSTAGE_OK) rc = mixstage_manifest_set_number(m, "tail_threshold_dbfs", cfg->tail_threshold_db);
  if (rc == MIXSTAGE_OK) rc = mixstage_manifest_set_integer(m, "tail_window_frames", k->window);
  if (rc == MIXSTAGE_OK) rc = mixstage_manifest_set_json(m, "tail_truncated", truncated ? "true" : "false");
  if (rc == MIXSTAGE_OK) rc = mixstage_manifest_set_integer(m, "latency_removed_frames", r->latency);
  if (rc == MIXSTAGE_OK) rc = mixstage_manifest_set_json(m, "numeric_faults", d->numeric ? "true" : "false");
  if (rc == MIXSTAGE_OK) {
    if (d->want_null) rc = mixstage_manifest_set_number(m, "null_check_residual_dbfs", d->residual);
    else rc = mixstage_manifest_set_json(m, "null_check_residual_dbfs", "null");
  }
  if (rc == MIXSTAGE_OK && d->want_null)
    rc = mixstage_manifest_set_string(m, "null_check",
                                      "peak of (stems + FX stems, bus-color bypassed) - (production mix, mix-bus "
                                      "stages bypassed), dBFS; -400 means exactly zero");
  if (rc != MIXSTAGE_OK) return mixstage__fail(g, rc, "delivery: manifest: %s", mixstage_strerror(rc));

  /* End every conversion, close every file, then describe it. */
  uint64_t did = fnv_mix(fnv1a(mixstage_profile_name(p)), "|");
  for (int i = 0; i < count; i++) {
    item *x = &items[i];
    const int o = first + i; /* the output in the description */
    mixstage_write_config w = cfg->write;
    w.dither_seed = k->seeds[i];
    if (k->conv[i]) {
      const char *cwhy = NULL;
      sink_out out = {k, i};
      rc = mixstage__resampler_finish(k->conv[i], sink_converted, &out, &cwhy);
      if (rc != MIXSTAGE_OK) return sink_conv_fail(k, i, rc, cwhy);
    }
    rc = mixstage__writer_finish(k->w[i], &x->stats, err, sizeof err);
    k->w[i] = NULL;
    if (rc != MIXSTAGE_OK) return mixstage__fail(g, rc, "delivery: %s (staged for '%s')", err, x->final_path);
    if (cfg->stage_fn) cfg->stage_fn(cfg->stage_user, mixstage_profile_name(p), "file", mixstage_bounce_name(desc, o));
    int kind = mixstage_bounce_kind(desc, o);
    const char *on[MIXSTAGE_ROLE_COUNT + 1], *byp[MIXSTAGE_ROLE_COUNT + 1], *mut[MIXSTAGE_ROLE_COUNT + 1];
    roles_of(p, kind, on, byp, mut);
    int e = mixstage_manifest_add_file(m, x->name, kind_name(kind), mixstage_profile_name(p), &x->stats, on, byp,
                                       mut, r->latency);
    int r2 = e < 0 ? e : mixstage_manifest_file_set_string(m, e, "name", mixstage_bounce_name(desc, o));
    if (r2 == MIXSTAGE_OK)
      r2 = mixstage_manifest_file_set_json(m, e, "adds_up", adds_up_of(desc, o, null_failed) ? "true" : "false");
    const char *note = adds_up_note(desc, first, count, o, null_failed, d->residual, why, sizeof why);
    if (r2 == MIXSTAGE_OK && note && *note) r2 = mixstage_manifest_file_set_string(m, e, "adds_up_note", note);
    if (r2 == MIXSTAGE_OK)
      r2 = mixstage_manifest_file_set_string(
          m, e, "dither", w.sample_type != MIXSTAGE_SAMPLE_FLOAT32 && w.dither ? "tpdf" : "none");
    /* the delivery's id: a hash of what it holds, so the same delivery
     * gives the same manifest (renders are reproducible byte for byte) */
    did = fnv_mix(did, x->name);
    did = fnv_mix(did, mixstage_bounce_name(desc, o));
    for (int q = 0; q < 8; q++) did = (did ^ ((x->stats.checksum >> (8 * q)) & 0xff)) * 0x100000001b3ull;
    if (r2 != MIXSTAGE_OK) return mixstage__fail(g, r2, "delivery: manifest: %s", mixstage_strerror(r2));
  }
  char delivery_id[40];
  snprintf(delivery_id, sizeof delivery_id, "fnv1a64:%016llx", (unsigned long long)did);
  rc = mixstage_manifest_set_string(m, "delivery_id", delivery_id);
  for (int i = 0; i < count && rc == MIXSTAGE_OK; i++)
    rc = mixstage_manifest_file_set_string(m, i, "delivery_id", delivery_id);
  if (rc != MIXSTAGE_OK) return mixstage__fail(g, rc, "delivery: manifest: %s", mixstage_strerror(rc));
  if (cfg->write_manifest) {
    item *x = &items[count];
    rc = mixstage_manifest_write(m, x->stage_path, err, sizeof err);
    if (rc != MIXSTAGE_OK) return mixstage__fail(g, rc, "delivery: %s (staged for '%s')", err, x->final_path);
  }
  if (d->prog.fn && d->prog.fn(d->prog.user, d->prog.total, d->prog.total))
    return mixstage__fail(g, MIXSTAGE_ECANCELLED, "delivery: cancelled by the caller");
  if (cfg->stage_fn) cfg->stage_fn(cfg->stage_user, mixstage_profile_name(p), "commit", NULL);
  rc = commit(g, &d->st, items, cfg->write_manifest ? count + 1 : count, cfg->write_manifest, delivery_id, d->dir);
  if (rc == MIXSTAGE_OK) {
    if (cfg->stage_fn) cfg->stage_fn(cfg->stage_user, mixstage_profile_name(p), "done", NULL);
    if (cfg->null_residual_out) *cfg->null_residual_out = d->want_null ? d->residual : NAN;
    if (cfg->file_done)
      for (int i = 0; i < count; i++)
        cfg->file_done(cfg->file_done_user, items[i].final_path, mixstage_bounce_name(desc, first + i),
                       mixstage_bounce_kind(desc, first + i), &items[i].stats);
  }
  if (rc == MIXSTAGE_OK && d->numeric)
    rc = mixstage__fail(g, MIXSTAGE_ENUMERIC, "delivery: a node produced NaN or infinity during the render");
  return rc;
}

/* Removes what is staged (nothing after a commit) and frees the rest. */
static void delivery_close(delivery *d) {
  sink *k = &d->k;
  for (int i = 0; i < d->count; i++) {
    if (k->w) mixstage__writer_abort(k->w[i]);
    if (k->pend) free(k->pend[i]);
    if (k->gather) free(k->gather[i]);
    if (k->conv) mixstage__resampler_free(k->conv[i]);
  }
  free(k->conv);
  free(k->w);
  free(k->pend);
  free(k->gather);
  free(k->gathered);
  free(k->seeds);
  if (k->spill_on) close(k->spill_fd);
  free(k->spill_buf);
  free(k->spill_one);
  if (d->items)
    for (int i = 0; i <= d->count; i++) {
      free(d->items[i].final_path);
      free(d->items[i].stage_path);
    }
  free(d->items);
  if (d->staged) stage_remove(&d->st); /* after a commit: already gone */
  mixstage_manifest_destroy(d->m);
  mixstage_bounce_destroy(d->owned);
  memset(d, 0, sizeof *d);
}

/* A delivery rendered now (from NULL) or from a bounce already in memory. */
static int deliver(mixstage_graph *g, const mixstage_profile *p, const char *dir,
                   const mixstage_deliver_config *cfg_in, const mixstage_bounce *from) {
  delivery *d = malloc(sizeof *d);
  if (!d) return g ? mixstage__fail(g, MIXSTAGE_ENOMEM, "delivery: out of memory") : MIXSTAGE_ENOMEM;
  int rc = delivery_open(d, g, p, dir, cfg_in, from);
  if (rc == MIXSTAGE_OK && d->mastering) {
    /* One render (the capture), the search on the mastering chain alone,
     * then the best pass straight to the staged file. */
    rc = delivery_master(d);
  } else if (rc == MIXSTAGE_OK && from) {
    /* The bounce's blocks as the render would have handed them over. */
    int64_t total = d->run.total;
    int n = mixstage_bounce_count(from);
    const float **blk = calloc((size_t)n + 1, sizeof *blk);
    if (!blk) rc = mixstage__fail(g, MIXSTAGE_ENOMEM, "delivery: out of memory");
    for (int64_t f = 0; rc == MIXSTAGE_OK && f < total; f += 4096) {
      int len = total - f < 4096 ? (int)(total - f) : 4096;
      for (int i = 0; i < n; i++) blk[i] = mixstage_bounce_data(from, i) + (size_t)f * (size_t)d->channels;
      rc = run_block(&d->run, from, f, len, blk);
      if (rc == MIXSTAGE_OK && d->prog.fn && d->prog.fn(d->prog.user, f + len, total))
        rc = mixstage__fail(g, MIXSTAGE_ECANCELLED, "delivery: cancelled by the caller");
    }
    free(blk);
    d->desc = from;
  } else if (rc == MIXSTAGE_OK) {
    if (d->cfg.stage_fn) d->cfg.stage_fn(d->cfg.stage_user, mixstage_profile_name(p), "render", NULL);
    int brc = MIXSTAGE_OK;
    d->owned = mixstage_graph_bounce_stream(g, p, &d->rcfg, d->want_null ? MIXSTAGE_BOUNCE_NULL_CHECK : 0, run_block,
                                            &d->run, &brc);
    if (!d->owned) rc = brc;
    d->desc = d->owned;
    d->numeric = brc == MIXSTAGE_ENUMERIC;
    if (d->want_null && d->owned) d->residual = mixstage_bounce_null_residual(d->owned);
  }
  if (rc == MIXSTAGE_OK) rc = delivery_finish(d);
  delivery_close(d);
  free(d);
  return rc;
}

/* ---- several profiles, one pass ------------------------------------------- */

typedef struct shared_pass {
  delivery **d;
  int n;
  const int *first; /* the bounce's output index of each delivery's first output */
} shared_pass;

static int shared_block(void *user, const mixstage_bounce *b, int64_t frame, int n, const float *const *outputs) {
  shared_pass *s = user;
  for (int j = 0; j < s->n; j++) {
    deliver_run *r = &s->d[j]->run;
    r->first = s->first[j];
    r->n_out = s->first[j + 1] - s->first[j];
    int rc = run_block(r, b, frame, n, outputs + s->first[j]);
    if (rc < 0) return rc;
  }
  return MIXSTAGE_OK;
}

MIXSTAGE_EXPORT int mixstage_graph_deliver_profiles(mixstage_graph *g, const mixstage_profile *const *profiles,
                                                    const char *const *dirs, int n,
                                                    const mixstage_deliver_config *cfg) {
  if (!g) return MIXSTAGE_ENULL;
  if (!profiles || !dirs) return mixstage__fail(g, MIXSTAGE_ENULL, "delivery: the profiles or folders are NULL");
  if (n < 1) return mixstage__fail(g, MIXSTAGE_EINVAL, "delivery: no profile to deliver");
  for (int j = 0; j < n; j++) {
    if (!profiles[j] || !dirs[j])
      return mixstage__fail(g, MIXSTAGE_ENULL, "delivery: profile %d or its folder is NULL", j);
    for (int q = 0; q < j; q++)
      if (!strcmp(dirs[q], dirs[j]))
        return mixstage__fail(g, MIXSTAGE_EINVAL, "delivery: profiles '%s' and '%s' both go to '%s'",
                              mixstage_profile_name(profiles[q]), mixstage_profile_name(profiles[j]), dirs[j]);
  }
  mixstage_deliver_config base;
  if (cfg) base = *cfg;
  else mixstage_deliver_config_init(&base);
  const mixstage_profile *final = mixstage_profile_find("final");
  /* Which profiles share the pass: all but a mastered final (its pass is
   * the capture of the mastering chain's input) and any profile with stems
   * after the first (the pass measures one null check). */
  int *shared = calloc((size_t)n, sizeof *shared);
  int *first = calloc((size_t)n + 1, sizeof *first);
  delivery **ds = calloc((size_t)n, sizeof *ds);
  const mixstage_profile **ps = calloc((size_t)n, sizeof *ps);
  int rc = shared && first && ds && ps ? MIXSTAGE_OK : mixstage__fail(g, MIXSTAGE_ENOMEM, "delivery: out of memory");
  int ns = 0, stems_taken = 0, numeric = 0;
  for (int j = 0; j < n && rc == MIXSTAGE_OK; j++) {
    int stems = mixstage_profile_stems(profiles[j]) != MIXSTAGE_STEMS_NONE;
    if ((base.master && profiles[j] == final) || (stems && stems_taken)) continue;
    stems_taken |= stems;
    shared[j] = 1;
  }
  /* The shared pass: every delivery opened (checked, staged) first. */
  mixstage_deliver_config plain = base;
  plain.master = NULL;
  plain.master_report = NULL;
  const mixstage_profile *null_base = NULL;
  for (int j = 0; j < n && rc == MIXSTAGE_OK; j++) {
    if (!shared[j]) continue;
    if (!(ds[ns] = malloc(sizeof **ds))) {
      rc = mixstage__fail(g, MIXSTAGE_ENOMEM, "delivery: out of memory");
      break;
    }
    ps[ns] = profiles[j];
    rc = delivery_open(ds[ns], g, profiles[j], dirs[j], &plain, NULL);
    if (ds[ns]->want_null) null_base = profiles[j];
    else ds[ns]->cfg.null_residual_out = NULL; /* the residual is the stems profile's */
    ns++;
  }
  mixstage_bounce *b = NULL;
  if (rc == MIXSTAGE_OK && ns > 0) {
    for (int j = 0; j < ns && plain.stage_fn; j++)
      plain.stage_fn(plain.stage_user, mixstage_profile_name(ps[j]), "render", NULL);
    shared_pass sp = {ds, ns, first};
    int brc = MIXSTAGE_OK;
    b = mixstage__graph_bounce_profiles(g, ps, ns, first, &ds[0]->rcfg, null_base, shared_block, &sp, &brc);
    if (!b) rc = brc;
    for (int j = 0; j < ns && b; j++) {
      delivery *d = ds[j];
      d->desc = b;
      d->run.first = first[j];
      d->run.n_out = first[j + 1] - first[j];
      d->numeric = brc == MIXSTAGE_ENUMERIC;
      if (d->want_null) d->residual = mixstage_bounce_null_residual(b);
    }
    /* Each folder commits as a delivery of its own, in order. */
    for (int j = 0; j < ns && rc == MIXSTAGE_OK; j++) {
      int r = delivery_finish(ds[j]);
      if (r == MIXSTAGE_ENUMERIC) numeric = 1;
      else rc = r;
    }
  }
  for (int j = 0; j < ns; j++) {
    if (ds[j]) delivery_close(ds[j]);
    free(ds[j]);
  }
  mixstage_bounce_destroy(b);
  /* The rest, one pass each, in the order given. */
  for (int j = 0; j < n && rc == MIXSTAGE_OK; j++) {
    if (shared[j]) continue;
    mixstage_deliver_config one = profiles[j] == final ? base : plain;
    if (mixstage_profile_stems(profiles[j]) == MIXSTAGE_STEMS_NONE) one.null_residual_out = NULL;
    rc = deliver(g, profiles[j], dirs[j], &one, NULL);
    if (rc == MIXSTAGE_ENUMERIC) {
      numeric = 1;
      rc = MIXSTAGE_OK;
    }
  }
  if (rc == MIXSTAGE_OK && numeric)
    rc = mixstage__fail(g, MIXSTAGE_ENUMERIC, "delivery: a node produced NaN or infinity during the render");
  free(shared);
  free(first);
  free(ds);
  free(ps);
  return rc;
}

MIXSTAGE_EXPORT int mixstage_graph_deliver(mixstage_graph *g, const mixstage_profile *p, const char *dir,
                                           const mixstage_deliver_config *cfg) {
  return deliver(g, p, dir, cfg, NULL);
}

MIXSTAGE_EXPORT int mixstage_bounce_deliver(mixstage_graph *g, const mixstage_bounce *bounce,
                                            const mixstage_profile *p, const char *dir,
                                            const mixstage_deliver_config *cfg) {
  if (!g) return MIXSTAGE_ENULL;
  if (!bounce) return mixstage__fail(g, MIXSTAGE_ENULL, "delivery: the bounce is NULL");
  if (mixstage_bounce_count(bounce) && !mixstage_bounce_data(bounce, 0))
    return mixstage__fail(g, MIXSTAGE_EINVAL, "delivery: a streamed bounce holds no audio to write");
  return deliver(g, p, dir, cfg, bounce);
}
