/* A node class run outside a graph: the harness the DSP unit tests use.
 * It keeps the engine's 32-frame control grid so results match a graph. */
#include <stdlib.h>
#include <string.h>
#include "node.h"

struct mixstage__node_host {
  const mixstage__node_class *cls;
  mixstage__node_env env;
  mixstage__allocator alloc;
  void *state;
  double *p;
  int dirty;
  int64_t pos; /* frames processed, for the control grid */
};

static void *host_alloc(void *u, size_t n) { (void)u; return malloc(n); }
static void host_free(void *u, void *p) { (void)u; free(p); }

mixstage__node_host *mixstage__host_create(const char *type, int channels, double sample_rate,
                                           double tempo_bpm, int *error) {
  int dummy;
  if (!error) error = &dummy;
  const mixstage__node_class *cls = mixstage__find_node_class(type);
  if (!cls) { *error = MIXSTAGE_ENOTFOUND; return NULL; }
  if (channels < 1 || channels > MIXSTAGE_MAX_CHANNELS) { *error = MIXSTAGE_ERANGE; return NULL; }
  mixstage__node_host *h = calloc(1, sizeof *h);
  if (!h) { *error = MIXSTAGE_ENOMEM; return NULL; }
  h->cls = cls;
  h->alloc.alloc = host_alloc;
  h->alloc.free = host_free;
  h->env.sample_rate = sample_rate;
  h->env.tempo_bpm = tempo_bpm;
  h->env.channels = channels;
  h->env.alloc = &h->alloc;
  h->state = calloc(1, cls->state_size ? cls->state_size : 1);
  h->p = calloc((size_t)cls->num_params + 1, sizeof(double));
  if (!h->state || !h->p) { free(h->state); free(h->p); free(h); *error = MIXSTAGE_ENOMEM; return NULL; }
  for (int i = 0; i < cls->num_params; i++) h->p[i] = cls->params[i].def;
  int rc = cls->init ? cls->init(h->state, &h->env) : MIXSTAGE_OK;
  if (rc != MIXSTAGE_OK) { free(h->state); free(h->p); free(h); *error = rc; return NULL; }
  if (cls->update) cls->update(h->state, h->p);
  if (cls->reset) cls->reset(h->state);
  *error = MIXSTAGE_OK;
  return h;
}

void mixstage__host_destroy(mixstage__node_host *h) {
  if (!h) return;
  if (h->cls->fini) h->cls->fini(h->state, &h->env);
  free(h->state);
  free(h->p);
  free(h);
}

static int host_param_index(const mixstage__node_host *h, const char *name) {
  for (int i = 0; i < h->cls->num_params; i++)
    if (strcmp(h->cls->params[i].name, name) == 0) return i;
  return -1;
}

int mixstage__host_set(mixstage__node_host *h, const char *param, double value) {
  int i = host_param_index(h, param);
  if (i < 0) return MIXSTAGE_ENOTFOUND;
  if (!(value >= h->cls->params[i].min && value <= h->cls->params[i].max)) return MIXSTAGE_ERANGE;
  h->p[i] = value;
  h->dirty = 1;
  return MIXSTAGE_OK;
}

double mixstage__host_get(const mixstage__node_host *h, const char *param) {
  int i = host_param_index(h, param);
  return i < 0 ? 0.0 / 0.0 : h->p[i];
}

/* The cell loop; g (may be NULL) collects the gain trace of every cell. */
static int host_run(mixstage__node_host *h, float *const *buf, int64_t nframes,
                    const float *const *key, int key_nch, float *const *g) {
  float *cb[MIXSTAGE_MAX_CHANNELS];
  float *gb[MIXSTAGE_MAX_CHANNELS];
  int traced = g && h->cls->gain_trace;
  const float *kb[MIXSTAGE_MAX_CHANNELS];
  int nch = h->env.channels;
  int64_t done = 0;
  while (done < nframes) {
    int cell_left = MIXSTAGE_CONTROL_FRAMES - (int)(h->pos % MIXSTAGE_CONTROL_FRAMES);
    int n = (int)(nframes - done < cell_left ? nframes - done : cell_left);
    if (h->pos % MIXSTAGE_CONTROL_FRAMES == 0 && h->dirty) {
      if (h->cls->update) h->cls->update(h->state, h->p);
      h->dirty = 0;
    }
    for (int c = 0; c < nch; c++) cb[c] = buf[c] + done;
    if (key)
      for (int c = 0; c < key_nch; c++) kb[c] = key[c] + done;
    h->cls->process(h->state, cb, nch, n, key ? kb : NULL, key ? key_nch : 0);
    if (g) {
      for (int c = 0; c < nch; c++) gb[c] = g[c] + done;
      if (!(traced && h->cls->gain_trace(h->state, gb, nch, n))) {
        traced = 0;
        for (int c = 0; c < nch; c++)
          for (int i = 0; i < n; i++) gb[c][i] = 0.0f;
      }
    }
    done += n;
    h->pos += n;
  }
  return traced;
}

void mixstage__host_process(mixstage__node_host *h, float *const *buf, int64_t nframes,
                            const float *const *key, int key_nch) {
  host_run(h, buf, nframes, key, key_nch, NULL);
}

int mixstage__host_process_traced(mixstage__node_host *h, float *const *buf, int64_t nframes,
                                  const float *const *key, int key_nch, float *const *g) {
  return host_run(h, buf, nframes, key, key_nch, g);
}

void mixstage__host_reset(mixstage__node_host *h) {
  if (h->cls->reset) h->cls->reset(h->state);
  h->pos = 0;
}

int mixstage__host_latency(const mixstage__node_host *h) {
  return h->cls->latency ? h->cls->latency(h->state) : 0;
}

int64_t mixstage__host_tail(const mixstage__node_host *h) {
  return h->cls->tail ? h->cls->tail(h->state) : 0;
}

float mixstage__host_gain_reduction(const mixstage__node_host *h) {
  return h->cls->gain_reduction ? h->cls->gain_reduction(h->state) : 0.0f;
}

void *mixstage__host_state(mixstage__node_host *h) { return h->state; }
