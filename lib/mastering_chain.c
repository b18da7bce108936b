/* The end of the mix bus's chain run on its own over a captured input: the
 * master search's measuring passes (see mastering_chain.h). */
#define _DEFAULT_SOURCE         /* madvise */
#define _POSIX_C_SOURCE 200809L /* mkstemp, fdopen */
#include "mastering_chain.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "internal.h"
#include "source_file.h"

/* ---- spool ------------------------------------------------------------------ */

static void set_why(char *why, size_t whylen, const char *msg) {
  if (why && whylen) snprintf(why, whylen, "%s", msg);
}

/* A spool this large (a programme of some seconds) has its memory mapped on
 * its own, in huge pages where the system gives them, and its pages made
 * present at once: written page by page, fresh memory costs a fault every
 * 4 KiB, which on a virtual machine took longer than the master's copies
 * themselves (26 ms per 7 MB measured, 2.5 ms this way). */
#define SPOOL_MAP_BYTES ((size_t)1 << 20)

static float *spool_alloc(size_t bytes, size_t *mapped) {
  *mapped = 0;
#if defined(MAP_ANONYMOUS) && defined(MADV_HUGEPAGE)
  if (bytes >= SPOOL_MAP_BYTES) {
    void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p != MAP_FAILED) {
      (void)madvise(p, bytes, MADV_HUGEPAGE); /* advice: refused or ignored, the pages are ordinary */
#ifdef MADV_POPULATE_WRITE
      (void)madvise(p, bytes, MADV_POPULATE_WRITE); /* Linux 5.14 on; else the pages fault in as used */
#endif
      *mapped = bytes;
      return p;
    }
  }
#endif
  return malloc(bytes ? bytes : 1);
}

static void spool_free(float *p, size_t mapped) {
  if (mapped) munmap(p, mapped);
  else free(p);
}

int mixstage__spool_open(mixstage__spool *s, int channels, int64_t frames, int in_memory, char *why,
                         size_t whylen) {
  memset(s, 0, sizeof *s);
  s->channels = channels;
  if (in_memory) {
    size_t n = (size_t)(frames > 0 ? frames : 1) * (size_t)channels;
    s->mem = spool_alloc(n * sizeof(float), &s->mapped);
    if (!s->mem) return MIXSTAGE_ENOMEM;
    s->cap = frames > 0 ? frames : 1;
    return MIXSTAGE_OK;
  }
  const char *dir = getenv("TMPDIR");
  if (!dir || !*dir) dir = "/tmp";
  size_t len = strlen(dir) + 32;
  char *path = malloc(len);
  if (!path) return MIXSTAGE_ENOMEM;
  snprintf(path, len, "%s/mixstage-master-XXXXXX", dir);
  int fd = mkstemp(path);
  if (fd < 0) {
    if (why && whylen) snprintf(why, whylen, "cannot create a temporary file in '%s' (set TMPDIR)", dir);
    free(path);
    return MIXSTAGE_EIO;
  }
  /* Unlinked at once: the data lives while the descriptor is open, and
   * nothing is left behind however the process ends. */
  unlink(path);
  free(path);
  s->file = fdopen(fd, "w+b");
  if (!s->file) {
    close(fd);
    set_why(why, whylen, "cannot open a temporary file");
    return MIXSTAGE_EIO;
  }
  return MIXSTAGE_OK;
}

int mixstage__spool_write(mixstage__spool *s, const float *x, int64_t frames) {
  if (frames <= 0) return MIXSTAGE_OK;
  size_t n = (size_t)frames * (size_t)s->channels;
  if (s->mem) {
    if (s->frames + frames > s->cap) {
      int64_t cap = s->cap * 2 > s->frames + frames ? s->cap * 2 : s->frames + frames;
      size_t mapped;
      float *m = spool_alloc((size_t)cap * (size_t)s->channels * sizeof(float), &mapped);
      if (!m) return MIXSTAGE_ENOMEM;
      memcpy(m, s->mem, (size_t)s->frames * (size_t)s->channels * sizeof(float));
      spool_free(s->mem, s->mapped);
      s->mem = m;
      s->mapped = mapped;
      s->cap = cap;
    }
    memcpy(s->mem + (size_t)s->frames * (size_t)s->channels, x, n * sizeof(float));
  } else if (fwrite(x, sizeof(float), n, s->file) != n) {
    return MIXSTAGE_EIO;
  }
  s->frames += frames;
  return MIXSTAGE_OK;
}

int mixstage__spool_rewind(mixstage__spool *s) {
  s->read_pos = 0;
  if (s->file && (fflush(s->file) != 0 || fseek(s->file, 0, SEEK_SET) != 0)) return MIXSTAGE_EIO;
  return MIXSTAGE_OK;
}

int64_t mixstage__spool_read(mixstage__spool *s, float *x, int64_t frames) {
  int64_t n = s->frames - s->read_pos;
  if (n > frames) n = frames;
  if (n <= 0) return 0;
  size_t k = (size_t)n * (size_t)s->channels;
  if (s->mem) memcpy(x, s->mem + (size_t)s->read_pos * (size_t)s->channels, k * sizeof(float));
  else if (fread(x, sizeof(float), k, s->file) != k) return MIXSTAGE_EIO;
  s->read_pos += n;
  return n;
}

int mixstage__spool_clear(mixstage__spool *s) {
  s->frames = s->read_pos = 0;
  if (s->file && (fflush(s->file) != 0 || fseek(s->file, 0, SEEK_SET) != 0)) return MIXSTAGE_EIO;
  return MIXSTAGE_OK;
}

float *mixstage__spool_take(mixstage__spool *s) {
  float *m = s->mem;
  if (!m) return NULL;
  if (s->mapped) { /* the caller frees with free() */
    size_t bytes = (size_t)s->frames * (size_t)s->channels * sizeof(float);
    m = malloc(bytes ? bytes : 1);
    if (!m) return NULL;
    memcpy(m, s->mem, bytes);
    spool_free(s->mem, s->mapped);
    s->mapped = 0;
  }
  s->mem = NULL;
  s->cap = s->frames = s->read_pos = 0;
  return m;
}

void mixstage__spool_close(mixstage__spool *s) {
  if (s->mem) spool_free(s->mem, s->mapped);
  if (s->file) fclose(s->file);
  memset(s, 0, sizeof *s);
}

/* ---- the chain ---------------------------------------------------------------- */

enum { RUN_ON, RUN_DELAY, RUN_MUTE };

typedef struct chain_node {
  mixstage_node *node;
  int mode;     /* RUN_*, as a bounce's fork of the mix bus runs it */
  int latency;  /* as prepared: a bypassed or muted insert delays by it */
  double *pv;   /* parameter values by id */
} chain_node;

struct mixstage__mchain {
  mixstage_graph *g;
  int first, count, channels;
  int64_t skip;  /* frames of latency a render drops */
  int64_t total; /* frames a render delivers */
  chain_node *nodes;
  double fader_db, pan, width;
  int muted;
  mixstage__spool input; /* the insert's input, frames 0 .. skip + total - 1 */
};

int64_t mixstage__mchain_frames(const mixstage__mchain *m) { return m->total; }
int mixstage__mchain_channels(const mixstage__mchain *m) { return m->channels; }
int mixstage__mchain_in_memory(const mixstage__mchain *m) { return m->input.mem != NULL; }

void mixstage__mchain_destroy(mixstage__mchain *m) {
  if (!m) return;
  for (int k = 0; k < m->count; k++) free(m->nodes[k].pv);
  free(m->nodes);
  mixstage__spool_close(&m->input);
  free(m);
}

int mixstage__mchain_set_param(mixstage__mchain *m, int index, int id, double value) {
  int k = index - m->first;
  if (k < 0 || k >= m->count || id < 0 || id >= m->nodes[k].node->cls->num_params) return MIXSTAGE_ERANGE;
  m->nodes[k].pv[id] = value;
  return MIXSTAGE_OK;
}

void mixstage__mchain_set_fader_db(mixstage__mchain *m, double db) { m->fader_db = db; }

static int has_lane(const mixstage__param *p) { return p->lane && p->lane->count > 0; }

/* Why the chain from `first` on cannot be run on its own, or NULL. */
static const char *unsupported(mixstage_graph *g, int first) {
  mixstage__unit *mix = &g->buses[0]->u;
  const mixstage_profile *fin = mixstage_profile_find("final"), *prod = mixstage__production();
  for (int k = first; k < mix->node_count; k++) {
    mixstage_node *nd = mix->nodes[k];
    if (nd->key_unit) return "an insert of the mastering chain has a sidechain key";
    for (int p = 0; p < nd->cls->num_params; p++)
      if (has_lane(&nd->params[p])) return "an insert of the mastering chain has automation";
  }
  if (has_lane(&mix->fader) || has_lane(&mix->pan) || has_lane(&mix->width))
    return "the mix bus's fader, pan or width has automation";
  if (mix->send_count) return "the mix bus has sends";
  /* Only the mix bus may change between production and final: a bounce
   * forks other such units with production keys, which the main pass used
   * for the capture would not reproduce. */
  for (int i = 0; i < g->strip_count + g->bus_count; i++) {
    mixstage__unit *u = i < g->strip_count ? &g->strips[i]->u : &g->buses[i - g->strip_count]->u;
    if (u == mix) continue;
    for (int k = 0; k < u->node_count; k++)
      if (fin->action[u->nodes[k]->role] != prod->action[u->nodes[k]->role])
        return "a placeholder or mastering stage sits outside the mix bus";
  }
  return NULL;
}

/* Settings the capture changes, and how to put them back. */
typedef struct saved_state {
  const mixstage_profile *profile;
  int *bypass;
  struct mixstage_meter **meters; /* [unit * 2 + tap] */
} saved_state;

static void restore(mixstage_graph *g, int first, saved_state *sv) {
  mixstage__unit *mix = &g->buses[0]->u;
  if (sv->bypass)
    for (int k = first; k < mix->node_count; k++) atomic_store(&mix->nodes[k]->bypass_req, sv->bypass[k - first]);
  if (sv->meters)
    for (int i = 0; i < g->strip_count + g->bus_count; i++) {
      mixstage__unit *u = i < g->strip_count ? &g->strips[i]->u : &g->buses[i - g->strip_count]->u;
      u->meter[0] = sv->meters[2 * i];
      u->meter[1] = sv->meters[2 * i + 1];
    }
  atomic_store(&g->profile, sv->profile);
  mixstage__controls_moved(g);
  free(sv->bypass);
  free(sv->meters);
}

int mixstage__mchain_capture(mixstage_graph *g, int first, const mixstage_render_config *cfg, int64_t memory_bytes,
                             mixstage__mchain **out, char *why, size_t whylen) {
  *out = NULL;
  mixstage__unit *mix = &g->buses[0]->u;
  if (first < 0 || first >= mix->node_count) return MIXSTAGE_ERANGE;
  const char *no = unsupported(g, first);
  if (no) {
    set_why(why, whylen, no);
    return MIXSTAGE_EUNSUPPORTED;
  }
  mixstage_render_config c;
  int rc = mixstage__render_resolve(g, cfg, &c);
  if (rc != MIXSTAGE_OK) return rc;
  mixstage__mchain *m = calloc(1, sizeof *m);
  if (!m) return MIXSTAGE_ENOMEM;
  m->g = g;
  m->first = first;
  m->count = mix->node_count - first;
  m->channels = mix->channels;
  m->fader_db = atomic_load(&mix->fader.target);
  m->pan = atomic_load(&mix->pan.target);
  m->width = atomic_load(&mix->width.target);
  m->muted = atomic_load(&mix->mute_req) != 0;
  m->nodes = calloc((size_t)m->count, sizeof *m->nodes);
  if (!m->nodes) {
    free(m);
    return MIXSTAGE_ENOMEM;
  }
  const mixstage_profile *fin = mixstage_profile_find("final");
  for (int k = 0; k < m->count; k++) {
    chain_node *cn = &m->nodes[k];
    mixstage_node *nd = mix->nodes[first + k];
    cn->node = nd;
    /* As a bounce's fork decides (bounce.c): the user's bypass, else the
     * final profile's action for the role. */
    int act = atomic_load(&nd->bypass_req) ? MIXSTAGE_ACTION_BYPASS : fin->action[nd->role];
    cn->mode = act == MIXSTAGE_ACTION_MUTE ? RUN_MUTE : act == MIXSTAGE_ACTION_BYPASS ? RUN_DELAY : RUN_ON;
    cn->pv = calloc((size_t)nd->cls->num_params + 1, sizeof(double));
    if (!cn->pv) {
      mixstage__mchain_destroy(m);
      return MIXSTAGE_ENOMEM;
    }
    /* A render prepares afresh and starts every parameter at its target. */
    for (int p = 0; p < nd->cls->num_params; p++) cn->pv[p] = atomic_load(&nd->params[p].target);
  }

  /* The main pass under the final profile, the chain bypassed: the mix bus's
   * pre-fader signal is then the chain's input delayed by the inserts'
   * latencies (a bypassed insert is an exact delay).  Attached meters are
   * detached meanwhile: this signal is no profile's mix. */
  saved_state sv = {atomic_load(&g->profile), malloc(sizeof(int) * (size_t)m->count),
                    calloc((size_t)(g->strip_count + g->bus_count) * 2 + 1, sizeof(struct mixstage_meter *))};
  if (!sv.bypass || !sv.meters) {
    restore(g, first, &sv);
    mixstage__mchain_destroy(m);
    return MIXSTAGE_ENOMEM;
  }
  for (int k = first; k < mix->node_count; k++) {
    sv.bypass[k - first] = atomic_load(&mix->nodes[k]->bypass_req);
    atomic_store(&mix->nodes[k]->bypass_req, 1);
  }
  for (int i = 0; i < g->strip_count + g->bus_count; i++) {
    mixstage__unit *u = i < g->strip_count ? &g->strips[i]->u : &g->buses[i - g->strip_count]->u;
    sv.meters[2 * i] = u->meter[0];
    sv.meters[2 * i + 1] = u->meter[1];
    u->meter[0] = u->meter[1] = NULL;
  }
  atomic_store(&g->profile, fin);
  float *scratch = NULL, *block = NULL;
  int offline = 0;
  rc = mixstage_graph_prepare(g);
  int64_t total = rc == MIXSTAGE_OK ? mixstage_graph_render_frames(g, &c) : rc;
  if (total < 0) {
    rc = (int)total;
    goto done;
  }
  int64_t delay = 0;
  for (int k = 0; k < m->count; k++) {
    m->nodes[k].latency = m->nodes[k].node->latency;
    delay += m->nodes[k].latency;
  }
  m->skip = c.remove_latency ? g->latency : 0;
  m->total = total;
  int C = m->channels;
  int64_t want = m->skip + total;
  int in_memory = (double)want * C * sizeof(float) <= (double)memory_bytes;
  rc = mixstage__spool_open(&m->input, C, want, in_memory, why, whylen);
  if (rc != MIXSTAGE_OK) goto done;
  int blk = g->max_block < MIXSTAGE__BLOCK ? g->max_block : MIXSTAGE__BLOCK;
  scratch = malloc(sizeof(float) * (size_t)blk * (size_t)C);
  block = malloc(sizeof(float) * (size_t)blk * (size_t)C);
  if (!scratch || !block) {
    rc = MIXSTAGE_ENOMEM;
    goto done;
  }
  /* File sources are read synchronously, as in an offline render: through
   * the real-time ring a loaded machine could underrun, and the capture
   * would then differ from a render of the same graph. */
  if ((rc = mixstage__file_sources_offline(g, 1)) != MIXSTAGE_OK) goto done;
  offline = 1;
  int64_t end = delay + want, every = (int64_t)(0.1 * g->sample_rate), next = every;
  for (int64_t pos = 0; pos < end;) {
    int n = end - pos < blk ? (int)(end - pos) : blk;
    /* One engine block per call: afterwards the mix bus's buf holds its
     * post-insert, pre-fader signal for the block (process.c keeps it so
     * for the pre-fader tap). */
    rc = mixstage_graph_process(g, scratch, n);
    if (rc != MIXSTAGE_OK) {
      if (rc == MIXSTAGE_ENUMERIC) set_why(why, whylen, "a non-finite sample while capturing the mix");
      goto done;
    }
    int i0 = pos < delay ? (int)(delay - pos < n ? delay - pos : n) : 0;
    for (int c2 = 0; c2 < C; c2++) {
      const float *x = mix->buf[c2];
      for (int i = i0; i < n; i++) block[(size_t)(i - i0) * (size_t)C + (size_t)c2] = x[i];
    }
    rc = mixstage__spool_write(&m->input, block, n - i0);
    if (rc != MIXSTAGE_OK) {
      if (rc == MIXSTAGE_EIO) set_why(why, whylen, "writing the captured mix to a temporary file failed");
      goto done;
    }
    pos += n;
    if (c.progress && (pos >= next || pos == end)) {
      /* On the scale of a render: frames delivered of the total. */
      int64_t delivered = pos - delay - m->skip;
      if (c.progress(c.progress_user, delivered < 0 ? 0 : delivered, total)) {
        rc = MIXSTAGE_ECANCELLED;
        goto done;
      }
      while (next <= pos) next += every;
    }
  }
done:
  if (offline) {
    int src = mixstage__file_sources_check(g);
    mixstage__file_sources_offline(g, 0);
    if (rc == MIXSTAGE_OK) rc = src;
  }
  free(scratch);
  free(block);
  restore(g, first, &sv);
  /* The capture ran the graph's nodes with the chain bypassed: the next use
   * prepares afresh, as after a bounce. */
  mixstage__unprepare_runtime(g);
  if (rc != MIXSTAGE_OK) {
    mixstage__mchain_destroy(m);
    return rc;
  }
  *out = m;
  return MIXSTAGE_OK;
}

/* ---- running it ------------------------------------------------------------------ */

/* NaN and infinity have all exponent bits set. */
static int non_finite(float *const *buf, int nch, int n) {
  uint32_t acc = 0;
  for (int c = 0; c < nch; c++)
    for (int i = 0; i < n; i++) {
      uint32_t b;
      memcpy(&b, &buf[c][i], sizeof b);
      acc |= (b & 0x7f800000u) + 0x00800000u;
    }
  return (acc & 0x80000000u) != 0;
}

/* A bypassed or muted insert's delay line (planar ring). */
typedef struct ring {
  float *buf;
  int len, pos;
} ring;

static void ring_run(ring *r, float *const *io, int C, int n) {
  if (r->len <= 0) return;
  int pos = 0;
  for (int c = 0; c < C; c++) {
    float *line = r->buf + (size_t)c * (size_t)r->len;
    pos = r->pos;
    for (int i = 0; i < n; i++) {
      float y = line[pos];
      line[pos] = io[c][i];
      io[c][i] = y;
      if (++pos == r->len) pos = 0;
    }
  }
  r->pos = pos;
}

typedef struct copy {
  void *state;
  int inited;
  ring delay;
} copy;

static void free_copies(mixstage__mchain *m, copy *cp) {
  if (!cp) return;
  mixstage_graph *g = m->g;
  for (int k = 0; k < m->count; k++) {
    const mixstage__node_class *cls = m->nodes[k].node->cls;
    if (cp[k].state) {
      if (cp[k].inited && cls->fini) {
        mixstage__node_env env = {g->sample_rate, g->tempo, m->channels, &g->alloc};
        cls->fini(cp[k].state, &env);
      }
      mixstage__gfree(g, cp[k].state);
    }
    free(cp[k].delay.buf);
  }
  free(cp);
}

/* Fresh copies of the inserts with the chain's settings, as a bounce's fork
 * makes them: init, update, reset. */
static int make_copies(mixstage__mchain *m, copy **out) {
  mixstage_graph *g = m->g;
  copy *cp = calloc((size_t)m->count, sizeof *cp);
  if (!cp) return MIXSTAGE_ENOMEM;
  *out = cp;
  for (int k = 0; k < m->count; k++) {
    chain_node *cn = &m->nodes[k];
    const mixstage__node_class *cls = cn->node->cls;
    if (cn->mode != RUN_ON) {
      if (cn->latency > 0) {
        cp[k].delay.len = cn->latency;
        cp[k].delay.buf = calloc((size_t)cn->latency * (size_t)m->channels, sizeof(float));
        if (!cp[k].delay.buf) return MIXSTAGE_ENOMEM;
      }
      continue;
    }
    cp[k].state = mixstage__galloc(g, 1, cls->state_size ? cls->state_size : 1);
    if (!cp[k].state) return MIXSTAGE_ENOMEM;
    mixstage__node_env env = {g->sample_rate, g->tempo, m->channels, &g->alloc};
    int rc = cls->init ? cls->init(cp[k].state, &env) : MIXSTAGE_OK;
    if (rc != MIXSTAGE_OK) return rc;
    cp[k].inited = 1;
    if (cls->update) cls->update(cp[k].state, cn->pv);
    if (cls->reset) cls->reset(cp[k].state);
    /* A render prepared with these settings would align everything to this
     * latency; the capture was aligned to the prepared one. */
    int lat = cls->latency ? cls->latency(cp[k].state) : 0;
    if (lat < 0) lat = 0;
    if (lat != cn->latency) return MIXSTAGE_EUNSUPPORTED;
  }
  return MIXSTAGE_OK;
}

/* The mix bus's gain stage with constant settings: the same float operations
 * in the same order as process.c's gain_pass() (fader, pan and width as
 * pan_coefs() computes them, then the mute), so the output is bit-identical
 * to a render's.  The mix bus has as many channels out as in. */
typedef struct gain_stage {
  float gg, gl, gr, w, mu;
  int unity;
} gain_stage;

static gain_stage gain_stage_make(const mixstage__mchain *m) {
  gain_stage s;
  s.gg = m->fader_db <= -144.0 ? 0.0f : (float)mixstage__db_to_gain(m->fader_db);
  s.w = (float)m->width;
  if (m->channels == 2) {
    s.gl = m->pan > 0.0 ? (float)cos(m->pan * 1.5707963267948966) : 1.0f;
    s.gr = m->pan < 0.0 ? (float)cos(-m->pan * 1.5707963267948966) : 1.0f;
  } else {
    s.gl = s.gr = 1.0f;
  }
  s.mu = m->muted ? 0.0f : 1.0f;
  s.unity = s.mu == 1.0f;
  return s;
}

static void gain_stage_run(const gain_stage *s, float *const *buf, int C, int n, float *out) {
  if (C == 2) {
    const float *xl = buf[0], *xr = buf[1];
    for (int i = 0; i < n; i++) {
      float md = 0.5f * (xl[i] + xr[i]), sd = 0.5f * (xl[i] - xr[i]) * s->w;
      float l = (md + sd) * s->gl * s->gg, r = (md - sd) * s->gr * s->gg;
      out[2 * i] = s->unity ? l : l * s->mu;
      out[2 * i + 1] = s->unity ? r : r * s->mu;
    }
    return;
  }
  for (int c = 0; c < C; c++)
    for (int i = 0; i < n; i++) {
      float p = buf[c][i] * s->gg;
      out[(size_t)i * (size_t)C + (size_t)c] = s->unity ? p : p * s->mu;
    }
}

#define RUN_BLOCK 4096 /* frames read, processed and handed on at a time */

int mixstage__mchain_run(mixstage__mchain *m, mixstage__mchain_sink sink, void *user) {
  const int C = m->channels;
  copy *cp = NULL;
  float *in = malloc(sizeof(float) * RUN_BLOCK * (size_t)C);
  float *outb = malloc(sizeof(float) * RUN_BLOCK * (size_t)C);
  float *planar = malloc(sizeof(float) * RUN_BLOCK * (size_t)C);
  int rc = in && outb && planar ? make_copies(m, &cp) : MIXSTAGE_ENOMEM;
  if (rc == MIXSTAGE_OK) rc = mixstage__spool_rewind(&m->input);
  if (rc != MIXSTAGE_OK) goto done;
  gain_stage gs = gain_stage_make(m);
  int faults = 0;
  uint64_t fp = mixstage__fp_enter(); /* denormals flushed, as in a render */
  int64_t pos = 0, end = m->skip + m->total;
  while (pos < end) {
    int64_t got = mixstage__spool_read(&m->input, in, RUN_BLOCK);
    if (got <= 0) {
      rc = MIXSTAGE_EIO;
      break;
    }
    int n = (int)got;
    float *buf[MIXSTAGE_MAX_CHANNELS];
    for (int c = 0; c < C; c++) {
      buf[c] = planar + (size_t)c * RUN_BLOCK;
      for (int i = 0; i < n; i++) buf[c][i] = in[(size_t)i * (size_t)C + (size_t)c];
    }
    /* Cells of the engine's control grid, anchored at frame 0 (RUN_BLOCK is
     * a multiple of the cell): inserts are sample-sequential, so one insert
     * over the block and then the next equals the engine's order. */
    for (int k = 0; k < m->count; k++) {
      chain_node *cn = &m->nodes[k];
      const mixstage__node_class *cls = cn->node->cls;
      for (int o = 0; o < n; o += MIXSTAGE__CELL) {
        int len = n - o < MIXSTAGE__CELL ? n - o : MIXSTAGE__CELL;
        float *cb[MIXSTAGE_MAX_CHANNELS];
        for (int c = 0; c < C; c++) cb[c] = buf[c] + o;
        if (cn->mode != RUN_ON) {
          ring_run(&cp[k].delay, cb, C, len);
          if (cn->mode == RUN_MUTE)
            for (int c = 0; c < C; c++) memset(cb[c], 0, sizeof(float) * (size_t)len);
          continue;
        }
        cls->process(cp[k].state, cb, C, len, NULL, 0);
        if (non_finite(cb, C, len)) {
          /* As a bounce's fork contains it: the chunk silenced, the insert
           * started afresh. */
          for (int c = 0; c < C; c++) memset(cb[c], 0, sizeof(float) * (size_t)len);
          if (cls->reset) cls->reset(cp[k].state);
          atomic_fetch_add(&cn->node->faults, 1);
          faults++;
        }
      }
    }
    gain_stage_run(&gs, buf, C, n, outb);
    int i0 = pos < m->skip ? (int)(m->skip - pos < n ? m->skip - pos : n) : 0;
    if (n > i0) {
      rc = sink(user, outb + (size_t)i0 * (size_t)C, n - i0);
      if (rc < 0) break;
      rc = MIXSTAGE_OK;
    }
    pos += n;
  }
  mixstage__fp_leave(fp);
  if (rc == MIXSTAGE_OK) rc = faults;
done:
  free_copies(m, cp);
  free(in);
  free(outb);
  free(planar);
  return rc;
}
