/* libmixstage internal: object layouts of the graph and the engine.
 * Nothing here is public; struct layouts may change at any time. */
#ifndef MIXSTAGE_INTERNAL_H
#define MIXSTAGE_INTERNAL_H

#include <stdatomic.h>
#include <stdint.h>
#include "mixstage/common.h"
#include "mixstage/graph.h"
#include "mixstage/profile.h"
#include "node.h"
#include "dsp/mixer.h"

#define MIXSTAGE__CELL MIXSTAGE_CONTROL_FRAMES
/* Frames a unit processes before the next unit runs (a multiple of CELL). */
#define MIXSTAGE__BLOCK 256
#define MIXSTAGE__NAME_MAX 128
#define MIXSTAGE__ERR_MAX 512

/* ---- profiles ------------------------------------------------------------ */

struct mixstage_profile {
  char name[64];
  signed char action[MIXSTAGE_ROLE_COUNT];
  signed char stems, fx_stems, mix, reference;
  signed char builtin;
};
const mixstage_profile *mixstage__production(void);
/* Moves on every mixstage_profile_set_action (a profile does not know the
 * graphs it governs): part of every graph's controls epoch. */
extern _Atomic uint32_t mixstage__profile_edits;

/* ---- parameters and automation ------------------------------------------ */

typedef struct mixstage__point {
  int64_t frame;
  double value;
  int curve; /* shape of the segment that ends at this point */
} mixstage__point;

struct mixstage_lane {
  mixstage_graph *graph;
  const mixstage_param_info *info;
  mixstage__point *points;
  int count, capacity;
  int owner_kind; const void *owner; /* MIXSTAGE__OWNER_*, for messages */
  uint64_t serial; /* identity (edit.h), in the graph's live table */
};

/* One controllable value.  The control thread writes `target` (atomic); the
 * audio thread moves `value` towards it at each control boundary, or reads
 * the lane when there is one. */
typedef struct mixstage__param {
  const mixstage_param_info *info;
  _Atomic double target;
  double value;      /* value at the current control boundary */
  double value_prev; /* value at the previous boundary */
  mixstage_lane *lane;
} mixstage__param;

void mixstage__param_init(mixstage__param *p, const mixstage_param_info *info);
/* Advances to the control boundary at frame f; returns 1 if the value moved.
 * Most parameters rest at their target without a lane: that case inline. */
int mixstage__param_step_moving(mixstage__param *p, int64_t f, double smooth_coef);
static inline int mixstage__param_step(mixstage__param *p, int64_t f, double smooth_coef) {
  if (!p->lane && atomic_load_explicit(&p->target, memory_order_relaxed) == p->value) {
    p->value_prev = p->value;
    return 0;
  }
  return mixstage__param_step_moving(p, f, smooth_coef);
}
void mixstage__param_snap(mixstage__param *p, int64_t f);
double mixstage__lane_eval(const mixstage_lane *lane, int64_t frame);
void mixstage__lane_free(mixstage_graph *g, mixstage_lane *lane);
enum { MIXSTAGE__OWNER_UNIT, MIXSTAGE__OWNER_NODE, MIXSTAGE__OWNER_SEND };
/* "strip 'Vox' lane 'fader'": names a lane (made or about to be) in messages. */
const char *mixstage__lane_label(char *buf, size_t n, int owner_kind, const void *owner, const char *param);

/* ---- objects --------------------------------------------------------------- */

typedef enum { MIXSTAGE__UNIT_STRIP = 0, MIXSTAGE__UNIT_BUS = 1 } mixstage__unit_kind;

typedef struct mixstage__unit mixstage__unit;

/* Planar ring-buffer delay for latency compensation: integer delay. */
typedef struct mixstage__delay {
  float *buf; /* channels * len */
  int channels, len, pos, delay;
} mixstage__delay;

struct mixstage_node {
  mixstage_graph *graph;
  mixstage__unit *owner;
  const mixstage__node_class *cls;
  int role;
  _Atomic int bypass_req;
  /* As applied by the audio thread: 0 on, 1 bypassed, 2 muted (an action).
   * A change crossfades from the previous mode over the graph's xfade. */
  int mode, mode_prev, xf_pos;
  mixstage__param *params;
  double *pv; /* current values passed to update(), by id */
  void *state;
  int inited;
  /* sidechain */
  mixstage__unit *key_unit;
  int key_tap;
  /* runtime (prepare) */
  int latency;
  int64_t tail;
  mixstage__delay key_delay; /* aligns the key with this node's input */
  mixstage__delay pre_delay; /* delays the main path when the key arrives later */
  mixstage__delay bypass_delay;
  float *key_buf[MIXSTAGE_MAX_CHANNELS]; /* the key, delayed, for one cell */
  /* bounces */
  float *trace[MIXSTAGE_MAX_CHANNELS]; /* gains of the last chunk, when wanted */
  int trace_wanted, trace_ok;
  unsigned update_serial; /* bumps at each update(): copies follow it */
  _Atomic int ctl_dirty; /* a control-thread setter ran since the last step */
  int ctl_active;         /* smoothing in progress or lanes present */
  _Atomic float gr_db;
  _Atomic int64_t faults;
  /* gain-reduction history (analysis.h): one point per control cell, a ring
   * of grh_cap; survives prepare, freed by mixstage__unprepare (destroy) */
  float *grh;
  int64_t grh_cap, grh_n, grh_head;
  int64_t grh_next; /* graph frame where the cell after the newest point starts */
  char label[MIXSTAGE__NAME_MAX + 64];
  uint64_t serial; /* identity (edit.h) */
  /* name of the sidechain key a removal (or a replace) cleared; "" if none */
  char key_lost[MIXSTAGE__NAME_MAX];
};

struct mixstage_send {
  mixstage_graph *graph;
  mixstage__unit *from;
  mixstage_bus *to;
  int tap, role;
  _Atomic int mute_req;
  mixstage__param level; /* dB */
  /* runtime */
  float *buf[MIXSTAGE_MAX_CHANNELS]; /* target channels, one cell */
  float g0, g1;                      /* linear gain at the previous/current boundary */
  float mute_g0, mute_g1;
  uint64_t serial; /* identity (edit.h) */
};

/* What strips and buses share: a chain, a fader stage, an output. */
struct mixstage__unit {
  mixstage_graph *graph;
  int kind; /* mixstage__unit_kind */
  int index; /* in the graph's strip or bus array */
  char name[MIXSTAGE__NAME_MAX];
  int channels;
  uint32_t color;
  mixstage_node **nodes;
  int node_count, node_cap;
  mixstage_send **sends;
  int send_count, send_cap;
  mixstage_bus *output; /* NULL only for the mix bus */
  /* Nodes whose sidechain key is this unit, ordered by their owners as the
   * graph lists units (strips, then buses): the key edges out of this unit,
   * kept by node_api.c so graph walks need not scan every unit. */
  mixstage_node **keyed;
  int keyed_count, keyed_cap;
  mixstage__param fader, pan, width;
  _Atomic int mute_req, solo_req;
  /* runtime */
  int out_channels;                  /* channels after pan (= output bus's) */
  float *buf[MIXSTAGE_MAX_CHANNELS]; /* working cell, max(channels, out_channels) */
  float *pre[MIXSTAGE_MAX_CHANNELS]; /* pre-fader tap copy (when needed) */
  float *post[MIXSTAGE_MAX_CHANNELS];/* post-fader, pre-mute tap (keys) */
  float *out[MIXSTAGE_MAX_CHANNELS]; /* post-mute output feeding the bus */
  int need_pre;
  int latency_in, latency_out;       /* frames at chain input and output */
  int64_t tail;
  /* gain stage values at the previous and the current control boundary */
  float fader_g0, fader_g1, mute_g0, mute_g1, mute_target;
  float pan0[3], pan1[3]; /* left gain, right gain, width */
  /* Found settled (process.c unit_settled) under these controls: while the
   * graph's controls_epoch and the profile stay so, it still is. */
  int at_rest;
  uint32_t rest_epoch;
  const mixstage_profile *rest_profile;
  /* What else process.c found when it came to rest, kept with at_rest: its
   * chain runs insert by insert over the block (span_ready), its tail is one
   * stereo mixer pass (rest_mix), a key reads its post-fader tap (rest_post);
   * and the bounce run it was found under. */
  int rest_span, rest_mix, rest_post;
  const struct mixstage__bounce_run *rest_bounce;
  /* rest_mix with only post-fader sends, up to MIXSTAGE__MIX_SENDS: the
   * pass as set up (its gains; outputs pointed again at each call, as
   * render.c's rings move them) and its variant; else rest_stereo NULL */
  mixstage__mix_stereo rest_tail;
  mixstage__stereo_fn *rest_stereo;
  int visited; /* scratch for graph walks */
  float *in[MIXSTAGE_MAX_CHANNELS]; /* post-clip-gain copy, when a bounce forks a strip */
  int need_in;
  struct mixstage_meter *meter[2]; /* attached at PRE/POST tap (analysis.h), borrowed */
  struct mixstage__shadow *shadows; /* bounce forks run after this unit's chunk */
  struct mixstage__shadow *dag;     /* this unit's fork for the bounced profile, or NULL */
  int differs;                      /* the bounced profile changes this unit */
  /* 0: non-finite samples are looked for once per chunk, at the end of the
   * chain; 1: after the source and after every node, as once a chain fault
   * could not be pinned on one node (process.c, numeric faults) */
  int scan_each;
  struct mixstage__group *group; /* lane group it runs in (prepare), or NULL */
  int order;   /* position in schedule */
  int level;   /* longest path from a source: units of one level are independent */
  uint64_t serial; /* identity (edit.h) */
};

/* Strips, or group/return buses, of one schedule level with the same chain
 * (node classes in order, channel count), run chunk by chunk together so that a node class with
 * process_lanes takes the same insert of every member in one call (group.c
 * forms them at prepare; process.c runs them).  At most MIXSTAGE__GROUP_MAX
 * members, and about MIXSTAGE__GROUP_LANES lanes, so a level's strips spread
 * over several render tasks of similar cost. */
#define MIXSTAGE__GROUP_MAX 8
/* Lanes (members x channels) a group aims at: two 4-lane or one 8-lane
 * vector, so four stereo strips. */
#define MIXSTAGE__GROUP_LANES 8
/* The calls of a group's chains over a block while every member rests
 * (process.c group_plan): built once, then each block one call per insert,
 * for chains of up to MIXSTAGE__PLAN_NODES inserts. */
#define MIXSTAGE__PLAN_NODES 8
typedef struct mixstage__plan_insert {
  int lanes;   /* members running this insert on, without latency: one lane kernel call */
  int delayed; /* some lane has a pre-delay to run first */
  int others;  /* members running it otherwise: on with latency alone, bypassed or muted cell by cell */
  mixstage_node *nodes[MIXSTAGE__GROUP_MAX];
  void *states[MIXSTAGE__GROUP_MAX];
  float *const *bufs[MIXSTAGE__GROUP_MAX];
  const float *const *keys[MIXSTAGE__GROUP_MAX];
  int key_nch[MIXSTAGE__GROUP_MAX];
} mixstage__plan_insert;
typedef struct mixstage__group_plan {
  int valid;
  int cap; /* the most frames one call of every insert takes from a cell start */
  mixstage_node *ran[MIXSTAGE__GROUP_MAX]; /* each member's chain_walk result */
  mixstage__plan_insert ins[MIXSTAGE__PLAN_NODES];
} mixstage__group_plan;
typedef struct mixstage__group {
  mixstage__unit *units[MIXSTAGE__GROUP_MAX]; /* in schedule order */
  int count;
  mixstage__group_plan plan; /* process.c's, zero until it builds it */
} mixstage__group;
int mixstage__groups_build(mixstage_graph *g);
void mixstage__groups_free(mixstage_graph *g);
int mixstage__run_group(mixstage_graph *g, mixstage__group *grp, int64_t f0, int n);

typedef struct mixstage__source {
  int kind; /* 0 none, 1 buffer, 2 callback, 3 streamed file (source_file.c) */
  const float *data;
  float *owned;
  int channels;
  int64_t frames;
  mixstage_pull_fn fn;
  void *user;
  struct mixstage__file_source *file; /* kind 3 */
} mixstage__source;

struct mixstage_strip {
  mixstage__unit u; /* first: a strip is a unit */
  mixstage__source src;
  mixstage__param clip_gain;
  _Atomic int polarity_req;
  float clip_g0, clip_g1; /* linear clip gain incl. polarity */
  float clip_lin;         /* linear clip gain of clip_gain.value, without polarity */
  char *source_path; /* as given to set_source_file(); NULL for other sources */
};

/* An input edge of a bus, in the fixed summing order. */
typedef struct mixstage__input {
  mixstage__unit *unit;  /* strip/bus output, or */
  mixstage_send *send;   /* a send's buffer */
  mixstage__delay comp;  /* latency compensation */
} mixstage__input;

struct mixstage_bus {
  mixstage__unit u; /* first */
  int bus_kind;
  mixstage__input *inputs;
  int input_count;
  /* sum_in[c * input_count + i]: input i's channel c from offset 0, what
   * the bus sum reads (process.c mixstage__bus_point_inputs, again whenever
   * an input's buffers move: render.c's rings) */
  const float **sum_in;
  /* no input has a compensation delay (process.c rest_plan, for the sum of
   * the bus at rest: one kernel call per channel and 32 inputs) */
  int sum_plain;
};

/* What the graph model needs of the file-source layer to let go of the file
 * sources it opened (source_file.c fills it in), so graph.c does not call
 * up into the file reader. */
typedef struct mixstage__file_ops {
  void (*close)(mixstage_graph *g, struct mixstage__file_source *fs);
  void (*reader_destroy)(mixstage_graph *g);
} mixstage__file_ops;

struct mixstage_graph {
  mixstage__allocator alloc;
  double sample_rate;
  int max_block;
  double tempo;
  mixstage_strip **strips;
  int strip_count, strip_cap;
  mixstage_bus **buses; /* [0] is the mix bus */
  int bus_count, bus_cap;
  mixstage__unit **names; /* strips and buses by name: open addressing, at most half full */
  int names_cap;          /* a power of two, or 0 */
  char error[MIXSTAGE__ERR_MAX];
  /* runtime */
  int prepared;
  mixstage__unit **schedule;
  int schedule_count;
  mixstage__group *groups; /* lane groups (group.c) */
  int group_count;
  int level_count;
  int latency;
  int64_t tail;
  int64_t pos;
  double smooth_coef; /* per control step */
  int xfade;          /* frames of a bypass/mute crossfade */
  _Atomic(mixstage_node *) fault_node;
  _Atomic(mixstage__unit *) fault_unit; /* a unit's fault, when fault_node is NULL: */
  _Atomic int fault_chain;              /* 0 its source, 1 its chain (node unknown) */
  _Atomic int fault_pending;
  int any_solo;
  _Atomic(const mixstage_profile *) profile; /* governs the main pass */
  /* Moves with every control a unit at rest would have to look at again
   * (mixstage__controls_moved); never moves while nothing is touched, so
   * the process path checks a unit at rest with one compare. */
  _Atomic uint32_t controls_epoch;
  struct mixstage__bounce_run *bounce; /* during a bounce */
  struct mixstage__pool *pool; /* render.c's worker threads, kept between renders; or NULL */
  /* Non-zero while a render or a process call runs: the callbacks it makes
   * (sources, progress) may call back into the library, and edits then
   * would pull the graph from under the render (mixstage__busy). */
  _Atomic int busy;
  struct mixstage__file_reader *reader; /* fills file sources' rings in real time (source_file.c); or NULL */
  const mixstage__file_ops *file_ops; /* set with the first file source opened; NULL before */
  int freewheel; /* process() reads file sources synchronously (mixstage_graph_set_freewheel) */
  /* Live objects by serial (identity.c): ascending, so a lookup is a binary
   * search that never touches a removed object.  Removals leave holes
   * (obj NULL) that mixstage__live_compact closes. */
  struct mixstage__live *live;
  int live_count, live_cap;
  uint64_t last_serial;
};

/* ---- identity (identity.c) -------------------------------------------------- */

enum { MIXSTAGE__LIVE_STRIP = 1, MIXSTAGE__LIVE_BUS, MIXSTAGE__LIVE_SEND, MIXSTAGE__LIVE_NODE,
       MIXSTAGE__LIVE_LANE };
typedef struct mixstage__live {
  uint64_t serial;
  int kind; /* MIXSTAGE__LIVE_* */
  void *obj;
} mixstage__live;
/* Room for one more entry, so that mixstage__live_add cannot fail: called
 * before an object is made.  MIXSTAGE_OK or MIXSTAGE_ENOMEM. */
int mixstage__live_reserve(mixstage_graph *g);
/* Gives obj the next serial and records it (after a successful reserve). */
uint64_t mixstage__live_add(mixstage_graph *g, int kind, void *obj);
void mixstage__live_free(mixstage_graph *g);
/* Leaves a hole where serial's entry was (removal, edit.c) ... */
void mixstage__live_drop(mixstage_graph *g, uint64_t serial);
/* ... closed once the whole edit is done. */
void mixstage__live_compact(mixstage_graph *g);

/* ---- bounces: outputs forked from the production pass ---------------------- */

enum { MIXSTAGE__SN_INSTANCE, MIXSTAGE__SN_TRACE, MIXSTAGE__SN_DELAY, MIXSTAGE__SN_MUTE };

typedef struct mixstage__snode {
  mixstage_node *node;
  int mode;
  void *state;    /* a copy of the node (INSTANCE; TRACE's fallback) */
  int inited;
  unsigned serial;
  mixstage__delay delay;     /* DELAY and TRACE: the node's latency */
  mixstage__delay pre_delay; /* as the node's own */
  struct mixstage__snode *provider; /* TRACE: the copy whose gains apply, or NULL: the node */
  float *trace[MIXSTAGE_MAX_CHANNELS];
  int trace_wanted, trace_ok;
} mixstage__snode;

typedef struct mixstage__sinput {
  float **src; /* channel base pointers of a block buffer */
  mixstage__delay comp;
} mixstage__sinput;

typedef struct mixstage__shadow {
  mixstage__unit *unit;
  int stem_mode;
  mixstage__snode *nodes;
  mixstage__sinput *inputs;
  int input_count;
  int from_in;
  float *buf[MIXSTAGE_MAX_CHANNELS], *pre[MIXSTAGE_MAX_CHANNELS];
  float *post[MIXSTAGE_MAX_CHANNELS], *out[MIXSTAGE_MAX_CHANNELS];
  float **sbuf;   /* [send * MIXSTAGE_MAX_CHANNELS + c], DAG forks only */
  int collect;    /* bounce output index fed by this fork's output, or -1 */
  const mixstage_profile *profile; /* the profile this fork renders (its send actions) */
  struct mixstage__shadow *next;      /* in the unit's list */
  struct mixstage__shadow *all_next;  /* in the bounce's list */
} mixstage__shadow;

typedef struct mixstage__bounce_run {
  /* After each block of the pass (process.c, render.c): bounce.c's
   * collector, reached through the run so that the engine does not call up
   * into bounce.c. */
  void (*collect)(mixstage_graph *g, int64_t pos, int n);
  mixstage_bounce *bounce;
  const mixstage_profile *profile; /* the layer being built (bounce.c) */
  mixstage_bounce_block_fn sink;   /* NULL: into the bounce's memory */
  void *sink_user;
  int sink_status;                 /* first negative status of the sink */
  float **blocks;                  /* per output: one interleaved block */
  /* the null check, accumulated block by block (bounce.c) */
  int null_count;
  float ***null_stems; /* out[] of each null-check stem fork, in output order */
  float **null_ref;    /* out[] of the production mix with mix-bus stages bypassed */
  double null_peak;
  double *null_acc;
  int64_t skip;  /* latency frames to drop */
  int64_t total; /* frames delivered */
  mixstage__shadow *all;
  int *main_outputs; /* bounce outputs copied from the production mix */
  int main_count;
  _Atomic long trace_fallbacks;
} mixstage__bounce_run;

void mixstage__shadow_chunk(mixstage_graph *g, mixstage__shadow *sh, int64_t f, int o, int off, int n);
/* A description (no audio) of a bounce of p holding only its mix (bounce.c). */
mixstage_bounce *mixstage__bounce_describe_mix(const mixstage_profile *p, int64_t frames, int channels);
/* One streamed pass for the n profiles ps (n >= 1): their outputs in order
 * in one bounce, first[j] the index of profile j's first output (first[n]
 * the count), plus the null check of null_base (NULL: none) (bounce.c). */
mixstage_bounce *mixstage__graph_bounce_profiles(mixstage_graph *g, const mixstage_profile *const *ps, int n,
                                                 int *first, const mixstage_render_config *cfg,
                                                 const mixstage_profile *null_base, mixstage_bounce_block_fn block,
                                                 void *user, int *error);

/* errors */
int mixstage__fail(mixstage_graph *g, int status, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;
/* alloc.c: through the graph's allocator */
void *mixstage__galloc(mixstage_graph *g, size_t n, size_t size);
void mixstage__gfree(mixstage_graph *g, void *p);
/* Grows *arr (elements of elem bytes) to hold need; MIXSTAGE_OK or ENOMEM. */
int mixstage__grow(mixstage_graph *g, void **arr, int *cap, int need, size_t elem);
const char *mixstage__unit_what(const mixstage__unit *u); /* "strip" or "bus" */
/* Non-zero, with the message set naming @p who, when @p g is rendering or
 * processing and so refuses edit-time calls (the caller returns
 * MIXSTAGE_ESTATE).  The flag is read first: @p who is only formatted on
 * refusal. */
#define MIXSTAGE__BUSY(g, who) \
  (atomic_load_explicit(&(g)->busy, memory_order_acquire) && mixstage__busy_fail((g), (who)))
#define MIXSTAGE__UNIT_BUSY(u) \
  (atomic_load_explicit(&(u)->graph->busy, memory_order_acquire) && mixstage__unit_busy_fail(u))
int mixstage__busy_fail(mixstage_graph *g, const char *who);
int mixstage__unit_busy_fail(mixstage__unit *u);

/* suggest.c: "did you mean" for names a user mistyped */
typedef struct mixstage__suggest {
  const char *word, *best;
  size_t best_len;
  int best_dist;
} mixstage__suggest;
int mixstage__edit_distance(const char *a, size_t la, const char *b, size_t lb);
void mixstage__suggest_init(mixstage__suggest *s, const char *word);
void mixstage__suggest_offer(mixstage__suggest *s, const char *cand, size_t len);
void mixstage__suggest_offer_list(mixstage__suggest *s, const char *bar_separated);
/* " (did you mean 'x'?)" or "" */
const char *mixstage__suggest_text(const mixstage__suggest *s, char *buf, size_t size);

/* After a control-safe setter's store (a target, a mute, solo, polarity,
 * bypass, role, a lane's points, the solo state): units at rest look at
 * their controls again from the next block (release: the store is seen by
 * whoever sees the new epoch). */
static inline void mixstage__controls_moved(mixstage_graph *g) {
  if (g) atomic_fetch_add_explicit(&g->controls_epoch, 1, memory_order_release);
}

/* node_api.c: the key unit's list of keyed nodes */
void mixstage__keyed_remove(mixstage_node *n, mixstage__unit *key);
/* graph.c: refills the name index from the strips and buses (after a removal) */
void mixstage__names_rebuild(mixstage_graph *g);
/* graph.c: frees the strip's current source (its copy, its file) and clears it */
void mixstage__strip_source_release(mixstage_strip *s);

/* graph_walk.c */
static inline int mixstage__unit_count(const mixstage_graph *g) { return g->strip_count + g->bus_count; }
/* strips first, then buses */
static inline mixstage__unit *mixstage__unit_at(mixstage_graph *g, int i) {
  return i < g->strip_count ? &g->strips[i]->u : &g->buses[i - g->strip_count]->u;
}
/* The units that depend on u, one per call (cursor starts at 0); NULL after the last. */
mixstage__unit *mixstage__unit_successor(const mixstage__unit *u, int *cursor);
/* 1 and the loop's path in msg if a loop is reachable from start; -1 out of memory. */
int mixstage__find_cycle(mixstage_graph *g, mixstage__unit *start, char *msg, size_t msg_len);
/* Topological order of every unit into order[]; 1 and a message on a loop, -1 out of memory. */
int mixstage__topo_order(mixstage_graph *g, mixstage__unit **order, char *msg, size_t len);

/* runtime_free.c: frees the runtime and the gain-reduction histories (destroy) */
void mixstage__unprepare(mixstage_graph *g);
void mixstage__reset_runtime(mixstage_graph *g); /* process.c */

/* delay_line.c */
int mixstage__delay_init(mixstage_graph *g, mixstage__delay *d, int channels, int delay);
void mixstage__delay_free(mixstage_graph *g, mixstage__delay *d);
void mixstage__delay_clear(mixstage__delay *d);
void mixstage__delay_process(mixstage__delay *d, float *const *io, int channels, int n);
/* As delay_process leaves the ring, without writing the delayed output. */
void mixstage__delay_push(mixstage__delay *d, const float *const *in, int channels, int n);

/* meters.c: meters inside the graph.  push_planar is render-time (no
 * allocation in histogram mode); the rest edit-time. */
struct mixstage_meter;
int mixstage__meter_push_planar(struct mixstage_meter *m, float *const *planar, int frames);
int mixstage__meter_check(mixstage_graph *g, const mixstage__unit *u, int tap, const struct mixstage_meter *m,
                          int out_channels);
int mixstage__meter_restart(struct mixstage_meter *m);
/* runtime_free.c: frees the runtime but keeps what outlives a prepare (GR histories) */
void mixstage__unprepare_runtime(mixstage_graph *g);

/* render.c: renders a prepared, located graph; out may be NULL (discard) */
int mixstage__render_run(mixstage_graph *g, const mixstage_render_config *cfg, float *out, int64_t total);
int mixstage__render_resolve(mixstage_graph *g, const mixstage_render_config *in, mixstage_render_config *out);

/* process.c */
uint64_t mixstage__fp_enter(void); /* flush denormals; returns the caller's mode */
void mixstage__fp_leave(uint64_t mode);
int mixstage__run_unit(mixstage_graph *g, mixstage__unit *u, int64_t f0, int n);
/* u alone, or its group when it leads one, or nothing (another member leads) */
int mixstage__run_scheduled(mixstage_graph *g, mixstage__unit *u, int64_t f0, int n);
/* Points b->sum_in at its inputs' buffers as they are now (prepare, and
 * render.c after moving them). */
void mixstage__bus_point_inputs(mixstage_bus *b);
void mixstage__emit(mixstage_graph *g, float *const *out, int out_channels, int done, int n, int stride,
                    float *interleaved);
int mixstage__process_cells(mixstage_graph *g, float *const *out, int out_channels, int frames,
                            int interleaved_stride, float *interleaved);

#endif
