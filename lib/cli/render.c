/* mixstage render / mixstage demo: graph files delivered under render
 * profiles, many files at once.
 *
 * Every graph file renders in its own worker process.  A worker loads (and
 * so validates) its file, checks that every requested profile exists, and
 * only then delivers the profiles one after the other with
 * mixstage_graph_deliver().  It reports over a pipe, one line per message:
 *
 *     P <fraction 0..1>        progress of this file (only when drawn)
 *     R <compact JSON>         the result, last
 *
 * so a file that fails, or a worker that crashes, never stops the others:
 * a worker that dies before its R line is reported with its signal.  The
 * library renders the same bytes whatever the block schedule or thread
 * count, and each file's output depends only on that file, so -j N writes
 * exactly what -j 1 writes.
 */
#define _POSIX_C_SOURCE 200809L /* clock_gettime, strsignal, fileno */

#include <errno.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#ifdef __linux__
#include <sys/prctl.h>
#endif
#include <unistd.h>

#include "cli.h"

#define PATH_BYTES 4096

/* ---- the worker ------------------------------------------------------------------ */

typedef struct progress_ctx {
  int fd;
  int enabled;
  pid_t parent; /* the mixstage process; the worker stops when it is gone */
  int index, count; /* this profile among the file's profiles */
  double last;
} progress_ctx;

static int write_all(int fd, const char *p, size_t n) {
  while (n) {
    ssize_t w = write(fd, p, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      return -1;
    }
    p += w;
    n -= (size_t)w;
  }
  return 0;
}

static int on_progress(void *user, int64_t done, int64_t total) {
  progress_ctx *p = user;
  /* Orphaned (the command was killed): cancel, so the delivery is rolled
   * back and the worker exits.  Where PR_SET_PDEATHSIG exists the kernel
   * has already ended it; this covers the other systems. */
  if (getppid() != p->parent) return 1;
  if (!p->enabled || total <= 0) return 0;
  /* At most ten reports a second: the parent redraws at that rate anyway. */
  double now = cli_now();
  if (now - p->last < 0.1 && done < total) return 0;
  p->last = now;
  double f = ((double)p->index + (double)done / (double)total) / (double)p->count;
  char line[64];
  int n = snprintf(line, sizeof line, "P %.5f\n", f);
  write_all(p->fd, line, (size_t)n); /* a closed pipe only loses progress */
  return 0;
}

static const char *kind_name(int kind) {
  switch (kind) {
  case MIXSTAGE_OUTPUT_MIX: return "mix";
  case MIXSTAGE_OUTPUT_STEM: return "stem";
  case MIXSTAGE_OUTPUT_FX: return "fx-return"; /* as the manifest spells it */
  case MIXSTAGE_OUTPUT_REFERENCE: return "reference";
  default: return "?";
  }
}

static void on_file_done(void *user, const char *path, const char *name, int kind,
                         const mixstage_file_stats *s) {
  json_t *o = json_object();
  json_object_set_new(o, "path", json_string(path));
  json_object_set_new(o, "name", json_string(name));
  json_object_set_new(o, "kind", json_string(kind_name(kind)));
  json_object_set_new(o, "frames", json_integer(s->frames));
  json_object_set_new(o, "seconds", json_real(s->seconds));
  json_object_set_new(o, "sample_rate", json_real(s->sample_rate));
  json_object_set_new(o, "channels", json_integer(s->channels));
  json_object_set_new(o, "peak_dbfs", cli_num(s->peak_dbfs));
  json_object_set_new(o, "true_peak_dbtp", cli_num(s->true_peak_dbtp));
  json_object_set_new(o, "integrated_lufs", cli_num(s->integrated_lufs));
  json_object_set_new(o, "loudness_range_lu", cli_num(s->loudness_range_lu));
  json_object_set_new(o, "clipped_samples", json_integer(s->clipped_samples));
  char sum[32];
  /* Spelt as the manifest spells it, algorithm first. */
  snprintf(sum, sizeof sum, "fnv1a64:%016llx", (unsigned long long)s->checksum);
  json_object_set_new(o, "checksum", json_string(sum));
  json_array_append_new(user, o);
}

static void set_error(json_t *o, const char *status, int code, const char *msg) {
  json_object_set_new(o, "status", json_string(status));
  if (code) json_object_set_new(o, "code", json_string(mixstage_err_name(code)));
  json_object_set_new(o, "error", json_string(msg));
}

/* The master's report: target, result and what streaming services would do. */
static json_t *master_json(const mixstage_master_report *r) {
  json_t *m = json_object();
  json_object_set_new(m, "target_lufs", json_real(r->target_lufs));
  json_object_set_new(m, "ceiling_dbtp", json_real(r->ceiling_dbtp));
  json_object_set_new(m, "integrated_lufs", cli_num(r->integrated_lufs));
  json_object_set_new(m, "true_peak_dbtp", cli_num(r->true_peak_dbtp));
  json_object_set_new(m, "loudness_range_lu", cli_num(r->loudness_range_lu));
  json_object_set_new(m, "input_gain_db", json_real(r->input_gain_db));
  json_object_set_new(m, "converged", json_boolean(r->converged));
  json_object_set_new(m, "renders", json_integer(r->iteration_count));
  json_t *st = json_array();
  for (int k = 0; k < MIXSTAGE_STREAMING_SERVICES; k++) {
    json_t *e = json_object();
    json_object_set_new(e, "service", json_string(r->streaming[k].service));
    json_object_set_new(e, "gain_db", json_real(r->streaming[k].gain_db));
    json_array_append_new(st, e);
  }
  json_object_set_new(m, "streaming", st);
  return m;
}

/* The stems of a delivery that do not add up, with the reason the bounce
 * gave for each (the stage at fault), from DIR/manifest.json:
 * [{"file": "Lead.wav", "stage": "..."}]. */
static json_t *non_null_reasons(const char *dir) {
  char path[PATH_BYTES + 16];
  json_t *out = json_array();
  snprintf(path, sizeof path, "%s/manifest.json", dir);
  json_t *m = json_load_file(path, 0, NULL);
  size_t i;
  json_t *f;
  json_array_foreach(json_object_get(m, "files"), i, f) {
    if (!json_is_false(json_object_get(f, "adds_up"))) continue;
    const char *note = json_string_value(json_object_get(f, "adds_up_note"));
    /* a stem whose own path is exact, flagged only because the set failed
     * (deliver.h): the stage at fault is named by the stems through it */
    if (note && strncmp(note, "the stems do not add up as a set", 32) == 0 && strstr(note, "): ")) continue;
    json_t *e = json_object();
    char words[1024];
    snprintf(words, sizeof words, "%s: %s", json_string_value(json_object_get(f, "path")),
             note ? note : "flagged without a reason");
    json_object_set_new(e, "file", json_string(words));
    json_object_set(e, "path", json_object_get(f, "path"));
    json_object_set_new(e, "stage", note ? json_string(note) : json_null());
    json_array_append_new(out, e);
  }
  json_decref(m);
  return out;
}

/* The profiles of one graph file that share a pass: their folders, the
 * files each got (routed by folder), the stems profile's residual. */
typedef struct shared_run {
  int n;
  int *shared;
  char (*dirs)[PATH_BYTES];
  json_t **files;
  double residual, seconds;
  int rc;
} shared_run;

static void on_shared_file_done(void *user, const char *path, const char *name, int kind,
                                const mixstage_file_stats *s) {
  shared_run *sh = user;
  for (int i = 0; i < sh->n; i++) {
    size_t l = strlen(sh->dirs[i]);
    if (!sh->shared[i] || strncmp(path, sh->dirs[i], l) != 0 || path[l] != '/') continue;
    on_file_done(sh->files[i], path, name, kind, s);
    return;
  }
}

/* Delivers the shared profiles in one pass with dc's settings. */
static int deliver_shared(mixstage_graph *g, const mixstage_profile *const *plist, shared_run *sh,
                          const mixstage_deliver_config *dc, double *seconds) {
  const mixstage_profile *ps[sh->n];
  const char *dirs[sh->n];
  int n = 0;
  for (int i = 0; i < sh->n; i++) {
    sh->files[i] = json_array();
    if (!sh->shared[i]) continue;
    ps[n] = plist[i];
    dirs[n++] = sh->dirs[i];
  }
  mixstage_deliver_config c = *dc;
  c.master = NULL;
  c.master_report = NULL;
  c.file_done = on_shared_file_done;
  c.file_done_user = sh;
  c.null_residual_out = &sh->residual;
  double t0 = cli_now();
  int rc = mixstage_graph_deliver_profiles(g, ps, dirs, n, &c);
  *seconds = cli_now() - t0;
  return rc;
}

/* Loads, checks and delivers one file; returns its result. */
static json_t *render_one(const char *file, const char *outdir, const cli_render_opts *o, int fd,
                          int progress) {
  json_t *res = json_object();
  json_object_set_new(res, "file", json_string(file));
  json_object_set_new(res, "out", json_string(outdir));
  json_object_set_new(res, "status", json_string("ok"));
  json_t *profs = json_array();
  json_object_set_new(res, "profiles", profs);

  const char *crash = getenv("MIXSTAGE_CLI_CRASH_TEST");
  /* For tests/cli.sh: a worker dying mid-way must not take the batch with
   * it.  SIGKILL, unlike abort(), leaves no core file behind. */
  if (crash && *crash && strstr(file, crash)) raise(SIGKILL);

  char msg[1024];
  int err;
  mixstage_graphfile *doc = mixstage_graphfile_load(file, NULL, msg, sizeof msg, &err);
  if (!doc) cli_hint_load_error(msg, sizeof msg);
  if (!doc) {
    set_error(res, err == MIXSTAGE_ENOMEM ? "failed" : "invalid", err, msg[0] ? msg : mixstage_strerror(err));
    return res;
  }
  mixstage_graph *g = mixstage_graphfile_graph(doc);

  /* Every profile is found before anything renders. */
  int np = o->nprofiles ? o->nprofiles : 3;
  const mixstage_profile *plist[np];
  for (int i = 0; i < np; i++) {
    const char *name = o->nprofiles ? o->profiles[i] : NULL;
    plist[i] = name ? mixstage_profile_find(name) : mixstage_profile_builtin(i);
    if (!plist[i] && name) plist[i] = mixstage_graphfile_find_profile(doc, name);
    if (!plist[i]) {
      int nnames = 3 + mixstage_graphfile_profile_count(doc);
      const char *names[nnames];
      for (int k = 0; k < nnames; k++)
        names[k] = mixstage_profile_name(k < 3 ? mixstage_profile_builtin(k) : mixstage_graphfile_profile(doc, k - 3));
      char hint[160];
      cli_did_you_mean(name, names, nnames, hint, sizeof hint);
      snprintf(msg, sizeof msg, "%s: no profile named '%s'%s (the built-ins are production, mix-stems and final%s)",
               file, name, hint, mixstage_graphfile_profile_count(doc) ? ", plus the file's own" : "");
      set_error(res, "failed", MIXSTAGE_ENOTFOUND, msg);
      mixstage_graphfile_destroy(doc);
      return res;
    }
  }

  /* The master may move the mix-bus fader: deliver final after the others. */
  for (int i = 0; o->master && i < np - 1; i++)
    if (plist[i] == mixstage_profile_find("final")) {
      const mixstage_profile *f = plist[i];
      memmove(&plist[i], &plist[i + 1], sizeof *plist * (size_t)(np - 1 - i));
      plist[np - 1] = f;
      break;
    }

  /* Profiles whose passes coincide share one render (as
   * mixstage_graph_deliver_profiles() decides: all but a mastered final and
   * any stems profile after the first); the others render on their own. */
  shared_run sh;
  memset(&sh, 0, sizeof sh);
  sh.n = np;
  sh.shared = calloc((size_t)np, sizeof *sh.shared);
  sh.dirs = calloc((size_t)np, PATH_BYTES);
  sh.files = calloc((size_t)np, sizeof *sh.files);
  sh.residual = NAN;
  int nshared = 0, stems_taken = 0;
  for (int i = 0; sh.shared && i < np; i++) {
    int stems = mixstage_profile_stems(plist[i]) != MIXSTAGE_STEMS_NONE;
    if ((o->master && plist[i] == mixstage_profile_find("final")) || (stems && stems_taken)) continue;
    stems_taken |= stems;
    sh.shared[i] = 1;
    nshared++;
  }
  if (!sh.shared || !sh.dirs || !sh.files) {
    set_error(res, "failed", MIXSTAGE_ENOMEM, "out of memory");
    np = 0;
  }
  if (nshared < 2)
    for (int i = 0; i < np; i++) sh.shared[i] = 0;
  /* The shared pass counts as one step of the progress bar. */
  progress_ctx pc = {fd, progress, o->parent, 0, nshared < 2 ? np : np - nshared + 1, -1.0};
  int step = 0, shared_done = 0;
  for (int i = 0; i < np; i++) {
    const char *pname = mixstage_profile_name(plist[i]);
    char leaf[256];
    mixstage_deliver_file_name(pname, "", leaf, sizeof leaf);
    if (snprintf(sh.dirs[i], PATH_BYTES, "%s/%s", outdir, leaf) >= PATH_BYTES) {
      snprintf(msg, sizeof msg, "%s: the output path for profile %s is too long", file, pname);
      set_error(res, "failed", MIXSTAGE_EINVAL, msg);
      np = i; /* nothing renders */
      for (int k = 0; k < i; k++) sh.shared[k] = 0;
    }
  }
  for (int i = 0; i < np; i++) {
    const char *pname = mixstage_profile_name(plist[i]);
    const char *dir = sh.dirs[i];
    json_t *files = json_array();
    double residual = NAN;
    mixstage_deliver_config dc;
    mixstage_deliver_config_init(&dc);
    dc.render.threads = o->threads;
    dc.render.progress = on_progress;
    dc.render.progress_user = &pc;
    dc.write.format = o->format;
    dc.write.sample_type = o->sample_type;
    dc.write.dither = o->dither;
    dc.write.output_rate = o->rate;
    dc.file_done = on_file_done;
    dc.file_done_user = files;
    dc.null_residual_out = &residual;
    pc.index = step;
    double t0 = cli_now();
    json_t *mj = NULL;
    int rc = MIXSTAGE_OK;
    /* The loudness-targeted master of the built-in final profile is found
     * and written by the delivery itself: one render (the capture of the
     * mastering chain's input), the search on the chain alone, the file
     * from the best pass; the graph is left at the master's settings. */
    mixstage_master_report rep;
    memset(&rep, 0, sizeof rep);
    int mastered = o->master && plist[i] == mixstage_profile_find("final");
    if (mastered) {
      dc.master = &o->mc;
      dc.master_report = &rep;
    }
    if (sh.shared[i]) {
      /* Delivered with the others in one pass, at the first of them. */
      if (!shared_done) {
        shared_done = 1;
        step++;
        sh.rc = deliver_shared(g, plist, &sh, &dc, &sh.seconds);
      }
      json_array_extend(files, sh.files[i]);
      residual = mixstage_profile_stems(plist[i]) != MIXSTAGE_STEMS_NONE ? sh.residual : NAN;
      rc = sh.rc;
      t0 = cli_now() - sh.seconds / nshared; /* the pass's time, shared out */
    } else {
      step++;
      rc = mixstage_graph_deliver(g, plist[i], dir, &dc);
    }
    if (mastered && (rc == MIXSTAGE_OK || rc == MIXSTAGE_ESTATE) && rep.iteration_count > 0) mj = master_json(&rep);
    json_t *p = json_object();
    if (mj) json_object_set_new(p, "master", mj);
    json_object_set_new(p, "profile", json_string(pname));
    json_object_set_new(p, "dir", json_string(dir));
    json_object_set_new(p, "seconds", json_real(cli_now() - t0));
    /* The manifest's name; "null_residual_db" is the former name, kept for
     * scripts written against it (deprecated). */
    json_object_set_new(p, "null_check_residual_dbfs", cli_num(residual));
    json_object_set_new(p, "null_residual_db", cli_num(residual));
    json_object_set_new(p, "files", files);
    if (rc == MIXSTAGE_OK && isfinite(residual) && residual > CLI_NULL_LIMIT_DBFS) {
      /* The stems do not add up: name the stages (from the manifest's
       * per-file notes) and the stems they concern. */
      json_t *why = non_null_reasons(dir);
      /* One clause per stage at fault, naming its stems:
       * "<stage note> (Kick.wav, Snare.wav)". */
      char list[768];
      size_t l = 0, k, q;
      json_t *e, *e2;
      list[0] = 0;
      json_array_foreach(why, k, e) {
        json_t *st = json_object_get(e, "stage");
        int seen = 0;
        for (q = 0; q < k && !seen; q++) seen = json_equal(json_object_get(json_array_get(why, q), "stage"), st);
        if (seen || l >= sizeof list) continue;
        l += (size_t)snprintf(list + l, sizeof list - l, "%s%s (", l ? "; " : "",
                              json_is_string(st) ? json_string_value(st) : "flagged without a reason");
        int first = 1;
        json_array_foreach(why, q, e2) {
          if (!json_equal(json_object_get(e2, "stage"), st) || l >= sizeof list) continue;
          l += (size_t)snprintf(list + l, sizeof list - l, "%s%s", first ? "" : ", ",
                                json_string_value(json_object_get(e2, "path")));
          first = 0;
        }
        if (l < sizeof list) l += (size_t)snprintf(list + l, sizeof list - l, ")");
      }
      snprintf(msg, sizeof msg, "%s: profile %s: the stems do not add up (null check %.1f dBFS, limit %.0f): %s%s",
               file, pname, residual, CLI_NULL_LIMIT_DBFS,
               json_array_size(why) ? "" : "no stage is flagged in the manifest",
               json_array_size(why) ? list : "");
      json_object_set_new(p, "non_null", why);
      json_object_set_new(p, "status", json_string("non-null"));
      json_object_set_new(p, "error", json_string(msg));
      if (!o->allow_non_null && !strcmp(json_string_value(json_object_get(res, "status")), "ok"))
        set_error(res, "non-null", 0, msg);
    } else if (rc == MIXSTAGE_OK) {
      json_object_set_new(p, "status", json_string("ok"));
    } else {
      snprintf(msg, sizeof msg, "%s: profile %s: %s%s", file, pname, mixstage_graph_last_error(g),
               rc == MIXSTAGE_ENUMERIC ? " (files written; the manifest says numeric_faults)" : "");
      set_error(p, "failed", rc, msg);
      /* The first failure names the file's; later profiles still render. */
      const char *rs = json_string_value(json_object_get(res, "status"));
      if (!strcmp(rs, "ok") || !strcmp(rs, "non-null")) set_error(res, "failed", rc, msg);
    }
    json_array_append_new(profs, p);
  }
  for (int i = 0; sh.files && i < sh.n; i++) json_decref(sh.files[i]);
  free(sh.files);
  free(sh.dirs);
  free(sh.shared);
  mixstage_graphfile_destroy(doc);
  return res;
}

static void __attribute__((noreturn)) worker_main(const char *file, const char *outdir,
                                                  const cli_render_opts *o, int fd, int progress) {
  json_t *res = render_one(file, outdir, o, fd, progress);
  char *text = json_dumps(res, JSON_COMPACT);
  int ok = text && write_all(fd, "R ", 2) == 0 && write_all(fd, text, strlen(text)) == 0 &&
           write_all(fd, "\n", 1) == 0;
  free(text);
  json_decref(res);
  close(fd);
  _exit(ok ? 0 : 1);
}

/* ---- the parent -------------------------------------------------------------------- */

typedef struct job {
  const char *file;
  char outdir[PATH_BYTES];
  pid_t pid;
  int fd;
  char *buf;
  size_t len, cap;
  json_t *result;
  double fraction;
  int state; /* 0 waiting, 1 running, 2 done */
} job;

typedef struct batch {
  job *jobs;
  int n;
  const cli_render_opts *o;
  int draw;        /* a progress bar on stderr */
  int bar_shown;
  double t0, last_draw;
  int done;
} batch;

static void clear_bar(batch *b) {
  if (b->bar_shown) {
    fputs("\r\033[K", stderr);
    fflush(stderr);
    b->bar_shown = 0;
  }
}

static void draw_bar(batch *b, int force) {
  if (!b->draw) return;
  double now = cli_now();
  if (!force && now - b->last_draw < 0.1) return;
  b->last_draw = now;
  double f = 0;
  for (int i = 0; i < b->n; i++) f += b->jobs[i].state == 2 ? 1.0 : b->jobs[i].fraction;
  f /= b->n;
  enum { WIDTH = 30 };
  char bar[WIDTH + 1];
  int fill = (int)(f * WIDTH + 0.5);
  for (int i = 0; i < WIDTH; i++) bar[i] = i < fill ? '#' : '.';
  bar[WIDTH] = 0;
  double el = now - b->t0;
  char eta[32] = "--:--";
  /* A linear estimate; early values are unstable, so wait for 2 %. */
  if (f >= 0.02 && f < 1.0) {
    int s = (int)ceil(el * (1.0 - f) / f);
    snprintf(eta, sizeof eta, "%d:%02d", s / 60, s % 60);
  } else if (f >= 1.0) {
    snprintf(eta, sizeof eta, "0:00");
  }
  fprintf(stderr, "\r[%s] %3d%%  %d/%d file%s  %s left\033[K", bar, (int)(f * 100.0), b->done, b->n,
          b->n == 1 ? "" : "s", eta);
  fflush(stderr);
  b->bar_shown = 1;
}

static int spawn(batch *b, job *j) {
  int p[2];
  if (pipe(p) != 0) return -1;
  fflush(NULL); /* buffered output must not be written twice */
  pid_t pid = fork();
  if (pid < 0) {
    close(p[0]);
    close(p[1]);
    return -1;
  }
  if (pid == 0) {
#ifdef __linux__
    /* The worker dies with the command, even by SIGKILL; if the command is
     * already gone (it died before this line), stop now. */
    prctl(PR_SET_PDEATHSIG, SIGKILL);
#endif
    if (getppid() != b->o->parent) _exit(1);
    close(p[0]);
    for (int i = 0; i < b->n; i++)
      if (b->jobs[i].state == 1) close(b->jobs[i].fd);
    signal(SIGPIPE, SIG_IGN);
    worker_main(j->file, j->outdir, b->o, p[1], b->draw);
  }
  close(p[1]);
  j->pid = pid;
  j->fd = p[0];
  j->state = 1;
  return 0;
}

static void handle_lines(job *j) {
  char *start = j->buf, *end = j->buf + j->len, *nl;
  while ((nl = memchr(start, '\n', (size_t)(end - start)))) {
    *nl = 0;
    if (start[0] == 'P' && start[1] == ' ') {
      double f = strtod(start + 2, NULL);
      if (f >= 0 && f <= 1) j->fraction = f;
    } else if (start[0] == 'R' && start[1] == ' ') {
      json_decref(j->result);
      j->result = json_loads(start + 2, 0, NULL);
    }
    start = nl + 1;
  }
  j->len = (size_t)(end - start);
  memmove(j->buf, start, j->len);
}

static void print_file_result(const job *j, int nfiles) {
  json_t *r = j->result;
  const char *status = json_string_value(json_object_get(r, "status"));
  if (strcmp(status, "ok") != 0 && !json_array_size(json_object_get(r, "profiles"))) return;
  printf("%s%s\n", j->file, !strcmp(status, "ok") ? "" : " (with errors)");
  size_t i;
  json_t *p;
  json_array_foreach(json_object_get(r, "profiles"), i, p) {
    const char *ps = json_string_value(json_object_get(p, "status"));
    json_t *files = json_object_get(p, "files");
    printf("  %-11s %s: ", json_string_value(json_object_get(p, "profile")),
           json_string_value(json_object_get(p, "dir")));
    int non_null = !strcmp(ps, "non-null");
    if (strcmp(ps, "ok") != 0 && !non_null) {
      printf("FAILED\n");
      continue;
    }
    printf("%zu file%s + manifest.json", json_array_size(files), json_array_size(files) == 1 ? "" : "s");
    json_t *nr = json_object_get(p, "null_check_residual_dbfs");
    if (json_is_number(nr))
      printf(", null check %.1f dBFS%s", json_number_value(nr),
             non_null ? " (THE STEMS DO NOT ADD UP)" : " (the stems add up)");
    putchar('\n');
    size_t k;
    json_t *e;
    json_array_foreach(json_object_get(p, "non_null"), k, e)
      printf("      does not add up: %s\n", json_string_value(json_object_get(e, "file")));
    json_t *m = json_object_get(p, "master");
    if (m) {
      printf("      mastered to %.1f LUFS / %.1f dBTP: %.2f LUFS, %.2f dBTP in %d renders (limiter input %+.2f dB)\n",
             json_number_value(json_object_get(m, "target_lufs")),
             json_number_value(json_object_get(m, "ceiling_dbtp")),
             json_number_value(json_object_get(m, "integrated_lufs")),
             json_number_value(json_object_get(m, "true_peak_dbtp")),
             (int)json_integer_value(json_object_get(m, "renders")),
             json_number_value(json_object_get(m, "input_gain_db")));
      printf("      streaming playback gain:");
      json_array_foreach(json_object_get(m, "streaming"), k, e)
        printf("%s %s %+.1f dB", k ? "," : "", json_string_value(json_object_get(e, "service")),
               json_number_value(json_object_get(e, "gain_db")));
      putchar('\n');
    }
    /* File by file only for one graph file: a catalogue would scroll away. */
    if (nfiles > 1) continue;
    json_t *f;
    json_array_foreach(files, k, f) {
      char a[32], b2[32];
      const char *path = json_string_value(json_object_get(f, "path"));
      const char *slash = strrchr(path, '/');
      printf("      %-24s %-9s %8.3f s  %12s  %12s\n", slash ? slash + 1 : path,
             json_string_value(json_object_get(f, "kind")), json_number_value(json_object_get(f, "seconds")),
             cli_db(a, sizeof a, json_is_number(json_object_get(f, "integrated_lufs"))
                                     ? json_number_value(json_object_get(f, "integrated_lufs"))
                                     : -INFINITY,
                    "LUFS"),
             cli_db(b2, sizeof b2, json_is_number(json_object_get(f, "true_peak_dbtp"))
                                       ? json_number_value(json_object_get(f, "true_peak_dbtp"))
                                       : -INFINITY,
                    "dBTP"));
    }
  }
}

static void finish(batch *b, job *j) {
  close(j->fd);
  int status = 0;
  while (waitpid(j->pid, &status, 0) < 0 && errno == EINTR) {
  }
  j->state = 2;
  b->done++;
  if (!j->result) {
    char msg[512];
    if (WIFSIGNALED(status))
      snprintf(msg, sizeof msg, "%s: the worker rendering it died (signal %d, %s); profiles it had not finished were not delivered",
               j->file, WTERMSIG(status), strsignal(WTERMSIG(status)));
    else
      snprintf(msg, sizeof msg, "%s: the worker rendering it exited with status %d without a result", j->file,
               WIFEXITED(status) ? WEXITSTATUS(status) : -1);
    j->result = json_object();
    json_object_set_new(j->result, "file", json_string(j->file));
    json_object_set_new(j->result, "out", json_string(j->outdir));
    json_object_set_new(j->result, "profiles", json_array());
    set_error(j->result, "crashed", 0, msg);
  }
  const char *st = json_string_value(json_object_get(j->result, "status"));
  clear_bar(b);
  if (strcmp(st, "ok") != 0) cli_error("%s", json_string_value(json_object_get(j->result, "error")));
  if (!b->o->common.json && !b->o->common.quiet) print_file_result(j, b->n);
  fflush(stdout);
  draw_bar(b, 1);
}

/* File stem for the per-file directory: "a/song.mixstage.json" -> "song". */
static void file_stem(const char *path, char *out, size_t size) {
  const char *base = strrchr(path, '/');
  base = base ? base + 1 : path;
  char tmp[256];
  snprintf(tmp, sizeof tmp, "%s", base);
  size_t n = strlen(tmp);
  if (n > 5 && !strcmp(tmp + n - 5, ".json")) tmp[n -= 5] = 0;
  if (n > 9 && !strcmp(tmp + n - 9, ".mixstage")) tmp[n -= 9] = 0;
  mixstage_deliver_file_name(tmp, "", out, size);
}

static int too_long(batch *b, const char *out, json_t *extra) {
  free(b->jobs);
  json_decref(extra);
  return cli_usage_error("render", "render: --out '%.40s...' is too long (%zu bytes) for the files under it",
                         out, strlen(out));
}

int cli_render_files(const char *const *files, int nfiles, const cli_render_opts *o, json_t *extra) {
  batch b = {0};
  b.jobs = calloc((size_t)nfiles, sizeof *b.jobs);
  if (!b.jobs) {
    cli_error("out of memory");
    json_decref(extra);
    return CLI_EXIT_FAILED;
  }
  b.n = nfiles;
  b.o = o;
  b.draw = !o->common.quiet && isatty(STDERR_FILENO);
  b.t0 = cli_now();
  for (int i = 0; i < nfiles; i++) {
    job *j = &b.jobs[i];
    j->file = files[i];
    j->fd = -1;
    /* Leave room for "/<profile>/<file name>" below the directory. */
    size_t room = sizeof j->outdir - 512;
    if (nfiles == 1) {
      if (strlen(o->out) >= room) return too_long(&b, o->out, extra);
      snprintf(j->outdir, sizeof j->outdir, "%s", o->out);
      continue;
    }
    /* Two files with the same stem get "song", "song-2", ... in order.  A
     * truncated name would collide with itself forever: refuse it. */
    char stem[256];
    file_stem(files[i], stem, sizeof stem);
    int k = 1;
    for (int same = 1; same;) {
      int n = k > 1 ? snprintf(j->outdir, sizeof j->outdir, "%s/%s-%d", o->out, stem, k)
                    : snprintf(j->outdir, sizeof j->outdir, "%s/%s", o->out, stem);
      if (n < 0 || (size_t)n >= room) return too_long(&b, o->out, extra);
      same = 0;
      for (int q = 0; q < i && !same; q++) same = !strcmp(b.jobs[q].outdir, j->outdir);
      k++;
    }
  }

  int running = 0, next = 0, rc = CLI_EXIT_OK;
  int workers = o->jobs < nfiles ? o->jobs : nfiles;
  struct pollfd *pfd = calloc((size_t)workers, sizeof *pfd);
  job **pj = calloc((size_t)workers, sizeof *pj);
  if (!pfd || !pj) {
    cli_error("out of memory");
    free(pfd);
    free(pj);
    free(b.jobs);
    json_decref(extra);
    return CLI_EXIT_FAILED;
  }
  draw_bar(&b, 1);
  while (next < nfiles || running > 0) {
    while (running < workers && next < nfiles) {
      job *j = &b.jobs[next++];
      if (spawn(&b, j) != 0) {
        /* No process for it: report it like a crash, go on with the rest. */
        char msg[512];
        snprintf(msg, sizeof msg, "%s: cannot start a worker: %s", j->file, strerror(errno));
        j->result = json_object();
        json_object_set_new(j->result, "file", json_string(j->file));
        json_object_set_new(j->result, "out", json_string(j->outdir));
        json_object_set_new(j->result, "profiles", json_array());
        set_error(j->result, "failed", 0, msg);
        j->state = 2;
        b.done++;
        clear_bar(&b);
        cli_error("%s", msg);
        continue;
      }
      running++;
    }
    int np = 0;
    for (int i = 0; i < nfiles; i++)
      if (b.jobs[i].state == 1) {
        pfd[np].fd = b.jobs[i].fd;
        pfd[np].events = POLLIN;
        pj[np++] = &b.jobs[i];
      }
    if (np == 0) continue;
    int pr = poll(pfd, (nfds_t)np, 200);
    if (pr < 0 && errno != EINTR) {
      cli_error("poll: %s", strerror(errno));
      break;
    }
    for (int i = 0; i < np && pr > 0; i++) {
      if (!(pfd[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
      job *j = pj[i];
      if (j->cap - j->len < 4096) {
        size_t cap = j->cap ? j->cap * 2 : 8192;
        char *nb = realloc(j->buf, cap);
        if (!nb) {
          cli_error("out of memory");
          continue;
        }
        j->buf = nb;
        j->cap = cap;
      }
      ssize_t got = read(j->fd, j->buf + j->len, j->cap - j->len);
      if (got > 0) {
        j->len += (size_t)got;
        handle_lines(j);
      } else if (got == 0 || errno != EINTR) {
        finish(&b, j);
        running--;
      }
    }
    draw_bar(&b, 0);
  }
  clear_bar(&b);
  free(pfd);
  free(pj);

  /* Summary, in the order the files were given. */
  int nok = 0, nfail = 0, ninvalid = 0, nnull = 0;
  json_t *arr = json_array();
  for (int i = 0; i < nfiles; i++) {
    job *j = &b.jobs[i];
    const char *st = json_string_value(json_object_get(j->result, "status"));
    if (!strcmp(st, "ok")) nok++;
    else if (!strcmp(st, "invalid")) ninvalid++;
    else if (!strcmp(st, "non-null")) nnull++;
    else nfail++;
    json_array_append(arr, j->result);
  }
  double secs = cli_now() - b.t0;
  if (ninvalid) rc = CLI_EXIT_INVALID;
  else if (nfail) rc = CLI_EXIT_FAILED;
  else if (nnull) rc = CLI_EXIT_NON_NULL;
  if (o->common.json) {
    json_t *doc = extra ? extra : json_object();
    json_object_set_new(doc, "command", json_string("render"));
    json_object_set_new(doc, "out", json_string(o->out));
    json_object_set_new(doc, "jobs", json_integer(workers));
    json_object_set_new(doc, "threads", json_integer(o->threads));
    json_object_set_new(doc, "files", arr);
    json_object_set_new(doc, "rendered", json_integer(nok));
    json_object_set_new(doc, "failed", json_integer(nfail));
    json_object_set_new(doc, "invalid", json_integer(ninvalid));
    json_object_set_new(doc, "non_null", json_integer(nnull));
    json_object_set_new(doc, "seconds", json_real(secs));
    json_object_set_new(doc, "exit_status", json_integer(rc));
    if (cli_print_json(doc) < 0 && rc == CLI_EXIT_OK) rc = CLI_EXIT_FAILED;
  } else {
    json_decref(arr);
    json_decref(extra);
    if (!o->common.quiet) {
      printf("\nsummary: %d of %d file%s rendered", nok + nnull, nfiles, nfiles == 1 ? "" : "s");
      if (nfail) printf(", %d failed", nfail);
      if (ninvalid) printf(", %d invalid", ninvalid);
      if (nnull) printf(", %d with stems that do not add up", nnull);
      printf(" (%.1f s, %d worker%s)\n", secs, workers, workers == 1 ? "" : "s");
      for (int i = 0; i < nfiles; i++) {
        json_t *r = b.jobs[i].result;
        const char *st = json_string_value(json_object_get(r, "status"));
        if (!strcmp(st, "ok")) continue;
        printf("  %-8s %s\n",
               !strcmp(st, "invalid")    ? "INVALID"
               : !strcmp(st, "crashed")  ? "CRASHED"
               : !strcmp(st, "non-null") ? "NON-NULL"
                                         : "FAILED",
               json_string_value(json_object_get(r, "error")));
      }
    }
  }
  for (int i = 0; i < nfiles; i++) {
    json_decref(b.jobs[i].result);
    free(b.jobs[i].buf);
  }
  free(b.jobs);
  return rc;
}

/* ---- option parsing -------------------------------------------------------------------- */

static int parse_format(const char *s, int *out) {
  for (int f = 0; mixstage_file_format_name(f); f++)
    if (!strcmp(s, mixstage_file_format_name(f))) return *out = f, 0;
  return -1;
}

static int parse_sample_type(const char *s, int *out) {
  for (int t = 0; mixstage_sample_type_name(t); t++)
    if (!strcmp(s, mixstage_sample_type_name(t))) return *out = t, 0;
  return -1;
}

static void opts_init(cli_render_opts *o, const char *out) {
  memset(o, 0, sizeof *o);
  mixstage_write_config wc;
  mixstage_write_config_init(&wc);
  o->out = out;
  o->jobs = cli_cpu_count();
  o->threads = 1;
  o->format = wc.format;
  o->sample_type = wc.sample_type;
  o->dither = wc.dither;
  o->rate = wc.output_rate;
  o->parent = getpid();
}

/* --master: a preset name, or "LUFS" / "LUFS,DBTP" (ceiling default -1). */
static int parse_master(const char *v, mixstage_master_config *mc) {
  mixstage_master_config_init(mc);
  if (mixstage_master_config_preset(mc, v) == MIXSTAGE_OK) return 0;
  char *end;
  errno = 0;
  double lufs = strtod(v, &end), tp = -1.0;
  if (end == v || errno) return -1;
  if (*end == ',') {
    const char *q = end + 1;
    tp = strtod(q, &end);
    if (end == q || errno) return -1;
  }
  if (*end || !(lufs >= -40.0 && lufs <= -3.0) || !(tp >= -12.0 && tp <= 0.0)) return -1;
  mc->target_lufs = lufs;
  mc->ceiling_dbtp = tp;
  return 0;
}

/* Options common to render and demo.  Returns 1 if argv[*i] was one, 0 if
 * not, or an exit code + 10 on a usage error. */
static int render_option(const char *cmd, int argc, char **argv, int *i, cli_render_opts *o) {
  const char *v;
  int t;
  const char *a = argv[*i];
  if (!strcmp(a, "--json")) return o->common.json = 1, 1;
  if (!strcmp(a, "--quiet") || !strcmp(a, "-q")) return o->common.quiet = 1, 1;
  if ((t = cli_take_value(argc, argv, i, "--out", "-o", &v))) {
    if (t < 0 || !*v) return 10 + cli_usage_error(cmd, "%s: --out needs a directory", cmd);
    o->out = v;
    return 1;
  }
  if ((t = cli_take_value(argc, argv, i, "--threads", "-t", &v))) {
    if (t < 0 || cli_parse_int(v, 1, 64, &o->threads) < 0)
      return 10 + cli_usage_error(cmd, "%s: --threads takes a number from 1 to 64", cmd);
    return 1;
  }
  if ((t = cli_take_value(argc, argv, i, "--master", "-m", &v))) {
    if (t < 0 || parse_master(v, &o->mc) < 0)
      return 10 + cli_usage_error(cmd, "%s: --master takes a preset (streaming, apple-music, ebu-r128, "
                                  "club) or LUFS[,DBTP] such as -11,-0.5 (LUFS -40 .. -3, dBTP -12 .. 0)", cmd);
    o->master = 1;
    return 1;
  }
  if (!strcmp(a, "--no-master")) return o->master = 0, 1;
  return 0;
}

int cli_cmd_render(int argc, char **argv) {
  cli_render_opts o;
  opts_init(&o, "mixstage-out");
  const char **files = calloc((size_t)argc + 1, sizeof *files);
  const char **profiles = calloc((size_t)argc + 1, sizeof *profiles);
  int nfiles = 0, dashdash = 0, rc = -1;
  if (!files || !profiles) {
    cli_error("out of memory");
    rc = CLI_EXIT_FAILED;
  }
  for (int i = 1; i < argc && rc < 0; i++) {
    const char *a = argv[i], *v;
    int t;
    if (dashdash || a[0] != '-' || !a[1]) {
      files[nfiles++] = a;
      continue;
    }
    if (!strcmp(a, "--")) {
      dashdash = 1;
      continue;
    }
    if ((t = render_option("render", argc, argv, &i, &o))) {
      if (t >= 10) rc = t - 10;
      continue;
    }
    if ((t = cli_take_value(argc, argv, &i, "--profile", "-p", &v))) {
      if (t < 0 || !*v) rc = cli_usage_error("render", "render: --profile needs a name");
      else profiles[o.nprofiles++] = v;
    } else if ((t = cli_take_value(argc, argv, &i, "--jobs", "-j", &v))) {
      if (t < 0 || cli_parse_int(v, 1, 256, &o.jobs) < 0)
        rc = cli_usage_error("render", "render: --jobs takes a number from 1 to 256");
    } else if ((t = cli_take_value(argc, argv, &i, "--format", "-f", &v))) {
      if (t < 0 || parse_format(v, &o.format) < 0)
        rc = cli_usage_error("render", "render: --format is wav, aiff or flac");
    } else if ((t = cli_take_value(argc, argv, &i, "--sample-type", "-s", &v))) {
      if (t < 0 || parse_sample_type(v, &o.sample_type) < 0)
        rc = cli_usage_error("render", "render: --sample-type is pcm16, pcm24 or float32");
    } else if ((t = cli_take_value(argc, argv, &i, "--rate", "-r", &v))) {
      int hz;
      if (t < 0 || cli_parse_int(v, 8000, 768000, &hz) < 0)
        rc = cli_usage_error("render", "render: --rate takes a sample rate in Hz, 8000 .. 768000");
      else o.rate = hz;
    } else if ((t = cli_take_value(argc, argv, &i, "--dither", NULL, &v))) {
      if (t < 0 || cli_parse_dither(v, &o.dither) < 0)
        rc = cli_usage_error("render", "render: --dither is tpdf or none");
    } else if (!strcmp(a, "--allow-non-null")) {
      o.allow_non_null = 1;
    } else {
      rc = cli_usage_error("render", "render: unknown option '%s'", a);
    }
  }
  if (rc < 0 && nfiles == 0) rc = cli_usage_error("render", "render: no graph file given");
  if (rc < 0 && o.format == MIXSTAGE_FORMAT_FLAC && o.sample_type == MIXSTAGE_SAMPLE_FLOAT32)
    rc = cli_usage_error("render", "render: FLAC cannot hold float32 samples");
  /* A profile named twice would deliver into the same directory twice. */
  for (int i = 0; i < o.nprofiles && rc < 0; i++)
    for (int k = 0; k < i; k++)
      if (!strcmp(profiles[i], profiles[k])) {
        rc = cli_usage_error("render", "render: profile '%s' named twice", profiles[i]);
        break;
      }
  if (rc < 0) {
    o.profiles = profiles;
    rc = cli_render_files(files, nfiles, &o, NULL);
  }
  free(files);
  free(profiles);
  return rc;
}

/* Rewrites the demo written in @p dir with compact sources: each source cut
 * to @p seconds and stored as 16-bit FLAC (TPDF dither) as
 * sources/<strip>.flac, the graph file naming those, the float WAVs removed.
 * This is the form shipped in examples/demo-song/. */
static int compact_demo(const char *dir, const char *path, double seconds, char *msg, size_t size) {
  int err;
  mixstage_graphfile *doc = mixstage_graphfile_load(path, NULL, msg, size, &err);
  if (!doc) return err;
  char *text = mixstage_graphfile_to_string(doc);
  json_t *canon = text ? json_loads(text, 0, NULL) : NULL;
  mixstage_free(text);
  mixstage_graph *g = mixstage_graphfile_graph(doc);
  int rc = canon ? MIXSTAGE_OK : MIXSTAGE_ENOMEM;
  size_t i;
  json_t *sj;
  mixstage_write_config w;
  mixstage_write_config_init(&w);
  w.format = MIXSTAGE_FORMAT_FLAC;
  w.sample_type = MIXSTAGE_SAMPLE_PCM16;
  json_array_foreach(json_object_get(canon, "strips"), i, sj) {
    const char *src = json_string_value(json_object_get(sj, "source"));
    const char *name = json_string_value(json_object_get(sj, "name"));
    if (rc != MIXSTAGE_OK || !src || !name) continue;
    char wav[PATH_BYTES], flac[PATH_BYTES], leaf[256];
    mixstage_deliver_file_name(name, "flac", leaf, sizeof leaf);
    snprintf(wav, sizeof wav, "%s/%s", dir, src);
    snprintf(flac, sizeof flac, "%s/sources/%s", dir, leaf);
    float *buf = NULL;
    int64_t frames = 0;
    int ch = 0;
    double rate = 0;
    rc = mixstage_audio_read(wav, 0, &buf, &frames, &ch, &rate, msg, size);
    if (rc == MIXSTAGE_OK) {
      int64_t keep = (int64_t)(seconds * rate + 0.5);
      rc = mixstage_audio_write(flac, buf, frames < keep ? frames : keep, ch, rate, &w, NULL, msg, size);
    }
    mixstage_free(buf);
    mixstage_strip *st = mixstage_graph_find_strip(g, name);
    if (rc == MIXSTAGE_OK && (rc = mixstage_strip_set_source_file(st, flac)) != MIXSTAGE_OK)
      snprintf(msg, size, "%s", mixstage_graph_last_error(g));
    if (rc == MIXSTAGE_OK) remove(wav);
  }
  if (rc == MIXSTAGE_OK) rc = mixstage_graphfile_save(doc, path, msg, size);
  json_decref(canon);
  mixstage_graphfile_destroy(doc);
  return rc;
}

int cli_cmd_demo(int argc, char **argv) {
  cli_render_opts o;
  opts_init(&o, "mixstage-demo");
  o.jobs = 1;
  /* The demo shows the whole delivery: its final master is loudness-targeted. */
  parse_master("streaming", &o.mc);
  o.master = 1;
  int render = 1;
  double compact = 0;
  for (int i = 1; i < argc; i++) {
    const char *v;
    int t = render_option("demo", argc, argv, &i, &o);
    if (t >= 10) return t - 10;
    if (t) continue;
    if (!strcmp(argv[i], "--no-render")) {
      render = 0;
    } else if ((t = cli_take_value(argc, argv, &i, "--compact", NULL, &v))) {
      int s;
      if (t < 0 || cli_parse_int(v, 1, 16, &s) < 0)
        return cli_usage_error("demo", "demo: --compact takes the seconds to keep, 1 .. 16");
      compact = s;
    } else {
      return cli_usage_error("demo", "demo: unknown argument '%s'", argv[i]);
    }
  }
  if (cli_mkdirs(o.out) != 0) {
    cli_error("%s: cannot make the directory: %s", o.out, strerror(errno));
    return CLI_EXIT_FAILED;
  }
  char msg[1024] = "";
  int rc = mixstage_demo_song_write(o.out, 0, msg, sizeof msg);
  char path[PATH_BYTES];
  snprintf(path, sizeof path, "%s/demo-song.mixstage.json", o.out);
  if (rc == MIXSTAGE_OK && compact > 0) rc = compact_demo(o.out, path, compact, msg, sizeof msg);
  if (rc < 0) {
    cli_error("%s", msg[0] ? msg : mixstage_strerror(rc));
    if (o.common.json) cli_print_json_error("demo", path, CLI_EXIT_FAILED, rc, msg[0] ? msg : mixstage_strerror(rc));
    return CLI_EXIT_FAILED;
  }
  double seconds = compact > 0 ? compact : mixstage_demo_song_seconds();
  json_t *extra = NULL;
  if (o.common.json) {
    extra = json_object();
    json_object_set_new(extra, "demo", json_string(path));
    json_object_set_new(extra, "demo_seconds", json_real(seconds));
  } else if (!o.common.quiet) {
    printf("wrote %s (%.1f s of music) and its %s sources in %s/sources\n", path, seconds,
           compact > 0 ? "16-bit FLAC" : "float WAV", o.out);
    fflush(stdout);
  }
  if (!render) {
    if (extra) {
      json_object_set_new(extra, "command", json_string("demo"));
      json_object_set_new(extra, "exit_status", json_integer(CLI_EXIT_OK));
      return cli_print_json(extra) < 0 ? CLI_EXIT_FAILED : CLI_EXIT_OK;
    }
    return CLI_EXIT_OK;
  }
  const char *files[1] = {path};
  return cli_render_files(files, 1, &o, extra);
}
