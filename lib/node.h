/* libmixstage internal: the node-class interface every processor implements.
 *
 * A node class is a table of functions over an opaque state struct.  The
 * engine owns the state (state_size bytes, zeroed) and calls:
 *
 *   init     edit-time, once per prepare: sample rate, channels, tempo known;
 *            may allocate through env->alloc (free the same way in fini).
 *   fini     edit-time: free what init allocated (state itself is engine's).
 *   reset    render-time: clear all DSP memory (delay lines, envelopes, filter
 *            state) so the node is as after init.  Called on locate, and on a
 *            NaN/Inf fault.
 *   update   render-time: parameters changed; recompute coefficients from
 *            p[0 .. num_params-1] (indexed by parameter id).  Called once after
 *            init, then at a 32-frame control boundary whenever any value moved.
 *   process  render-time: process nframes (1 .. max_frames, see the class) in
 *            place on planar buffers buf[0 .. nch-1].  key is the sidechain
 *            key (key_nch planar channels) or NULL: use the node's own input.
 *   latency  frames of delay the node adds (constant after init/update).
 *   tail     frames the node keeps sounding after its input falls silent.
 *   gain_reduction  current gain reduction in dB (>= 0); NULL if not dynamics.
 *
 * Render-time functions must not allocate, lock, do I/O, or run unbounded
 * loops.  All DSP is sample-sequential, so results do not depend on how a
 * block is split: process(a); process(b) equals process(a+b).
 *
 * Parameter ids equal the index into params[]; new parameters are appended,
 * never inserted, so ids are never reused.
 */
#ifndef MIXSTAGE_NODE_H
#define MIXSTAGE_NODE_H

#include <stddef.h>
#include <stdint.h>
#include "mixstage/common.h"
#include "mixstage/graph.h"

typedef struct mixstage__allocator {
  void *(*alloc)(void *user, size_t bytes);
  void (*free)(void *user, void *ptr);
  void *user;
} mixstage__allocator;

/* Allocation through the graph's hook; returns zeroed memory or NULL. */
void *mixstage__calloc(const mixstage__allocator *a, size_t n, size_t size);
void mixstage__free(const mixstage__allocator *a, void *p);

typedef struct mixstage__node_env {
  double sample_rate;
  double tempo_bpm;
  int channels; /* channels of the buffers process() receives */
  const mixstage__allocator *alloc;
} mixstage__node_env;

typedef struct mixstage__node_class {
  const char *name;        /* type name used by mixstage_strip_insert(): "eq" */
  const char *description; /* one line */
  const mixstage_param_info *params;
  int num_params;
  int accepts_key; /* 1 for dynamics nodes that take a sidechain key */
  size_t state_size;
  int (*init)(void *state, const mixstage__node_env *env);
  void (*fini)(void *state, const mixstage__node_env *env);
  void (*reset)(void *state);
  void (*update)(void *state, const double *p);
  void (*process)(void *state, float *const *buf, int nch, int nframes, const float *const *key,
                  int key_nch);
  int (*latency)(const void *state);
  int64_t (*tail)(const void *state);
  float (*gain_reduction)(const void *state);
  /* Optional, dynamics nodes: after a process() call of n frames, write for
   * each channel c the linear gain g[c][i] the node applied, such that
   * out[c][i] == g[c][i] * in_delayed[c][i] (in_delayed = the input delayed by
   * latency()), and return 1.  Return 0 when the current settings make the
   * output not of that form (a saturation stage on, say).  The stem renderer
   * applies these production gains to each stem, so stems through a bus
   * compressor sound as in the mix and still add up. */
  int (*gain_trace)(const void *state, float *const *g, int nch, int n);
  /* 1 if the node is linear for its current parameters (EQ, delay, reverb,
   * width, gain): any time variation (modulation) does not depend on the
   * signal, so a copy processing a part of the signal from the same start
   * gives that part's share of the output. */
  int linear;
  /* Optional: the same chunk through `count` instances of this class at once
   * (a lane group of strips or buses with the same chain, lib/group.c): instance m is
   * states[m] on planar buffers bufs[m][0 .. nch-1], nframes as process(),
   * with the sidechain key keys[m] (key_nch[m] channels) or, when keys is
   * NULL or keys[m] is, none.  The engine calls it only for instances that
   * run plainly this chunk (on, not crossfading, no gain trace wanted, no
   * latency; a key only to a class with accepts_key).  Returns 1
   * when done, with every instance's output and state bit-identical to a
   * process() call per instance (same operations per lane, in the same
   * order), so an instance may leave or rejoin a group at any chunk; or 0,
   * having changed nothing, when it cannot take these instances together
   * (then the engine calls process() per instance). */
  int (*process_lanes)(void *const *states, float *const *const *bufs, const float *const *const *keys,
                       const int *key_nch, int count, int nch, int nframes);
  /* The most frames process() and process_lanes() accept in one call; 0 means
   * MIXSTAGE_CONTROL_FRAMES (32).  A class that sets more (MIXSTAGE__BLOCK,
   * say) promises that one call of n frames equals the same frames split on
   * the 32-frame grid, when no parameter changes inside the call (the engine
   * only passes several cells when the node's parameters rest and nothing
   * needs per-cell results). */
  int max_frames;
} mixstage__node_class;

/* The registry (node_registry.c): NULL-terminated, in listing order. */
extern const mixstage__node_class *const mixstage__node_classes[];
const mixstage__node_class *mixstage__find_node_class(const char *name);
/* Test hooks of the dynamics nodes' shortcuts (tests/check_kernels.c): 0
 * sends every frame through the general path the shortcut must equal bit
 * for bit, 1 (the default) allows it; each returns the previous setting.
 * Not for render time. */
int mixstage__limiter_rest_shortcut(int on);

/* A node class run outside any graph, for unit tests of DSP: it splits each
 * call into control cells on the same 32-frame grid as the engine and calls
 * update whenever a parameter was set.  Values jump (no smoothing). */
typedef struct mixstage__node_host mixstage__node_host;
mixstage__node_host *mixstage__host_create(const char *type, int channels, double sample_rate,
                                           double tempo_bpm, int *error);
void mixstage__host_destroy(mixstage__node_host *h);
int mixstage__host_set(mixstage__node_host *h, const char *param, double value);
double mixstage__host_get(const mixstage__node_host *h, const char *param);
/* Processes nframes (any count) in place; key may be NULL. */
void mixstage__host_process(mixstage__node_host *h, float *const *buf, int64_t nframes,
                            const float *const *key, int key_nch);
/* As mixstage__host_process, and collects the node's gain_trace cell by cell
 * into g[c][0 .. nframes-1] (c < channels).  Returns 1 if every cell was
 * traced; 0 if the class has no gain_trace or any cell returned 0 (from the
 * first such cell on, g is zero). */
int mixstage__host_process_traced(mixstage__node_host *h, float *const *buf, int64_t nframes,
                                  const float *const *key, int key_nch, float *const *g);
void mixstage__host_reset(mixstage__node_host *h);
int mixstage__host_latency(const mixstage__node_host *h);
int64_t mixstage__host_tail(const mixstage__node_host *h);
float mixstage__host_gain_reduction(const mixstage__node_host *h);
void *mixstage__host_state(mixstage__node_host *h);

/* Small numeric helpers shared by the DSP. */
static inline double mixstage__db_to_gain(double db) { return __builtin_exp(db * 0.11512925464970229); }
static inline double mixstage__gain_to_db(double g) {
  return g > 1e-30 ? 8.685889638065036 * __builtin_log(g) : -600.0;
}
/* One-pole smoothing coefficient for time constant tau seconds: a = e^(-1/(tau fs)). */
static inline double mixstage__onepole_coef(double tau_s, double fs) {
  return tau_s > 0.0 ? __builtin_exp(-1.0 / (tau_s * fs)) : 0.0;
}

#endif
