/* The render path.  Everything here is render-time: no allocation, locks,
 * I/O or string look-ups.  Work is done in cells of MIXSTAGE__CELL frames on
 * a grid anchored at frame 0; a host block is split at grid lines, so the
 * result never depends on the host's block size.  A unit whose values do not
 * move in a block (unit_settled) reads its source and runs its gain stage
 * and sends in one pass over the block, and its chain insert by insert over
 * the block (span_chains), in calls of up to a class's max_frames, with the
 * fault check after it once per block (riding on the stereo mixer pass);
 * all with the bits of cell-by-cell processing.  What a unit or a lane
 * group at rest needs each block is worked out once, when it comes to rest
 * (rest_plan, group_plan_build), so that a short host block costs little
 * beyond the kernels' own work. */
#include <math.h>
#include <string.h>
#include "internal.h"
#include "source_file.h"
#include "dsp/fp_mode.h"
#include "dsp/mixer.h"

/* Denormals are flushed for the duration of a process call (dsp/fp_mode.h),
 * the caller's mode restored after. */
static inline mixstage__fp_mode fp_enter(void) { return mixstage__fp_mode_set(1); }
static inline void fp_leave(mixstage__fp_mode m) { mixstage__fp_mode_restore(m); }

uint64_t mixstage__fp_enter(void) {
  mixstage__fp_mode m = fp_enter();
  uint64_t v = 0;
  memcpy(&v, &m, sizeof m < sizeof v ? sizeof m : sizeof v);
  return v;
}

void mixstage__fp_leave(uint64_t v) {
  mixstage__fp_mode m;
  memset(&m, 0, sizeof m);
  memcpy(&m, &v, sizeof m < sizeof v ? sizeof m : sizeof v);
  fp_leave(m);
}

/* ---- four-lane loops ---------------------------------------------------------
 * The engine's per-sample loops run over 1 .. CELL frames, a count GCC's -O2
 * cost model will not vectorise.  These spell the lanes out.  Each lane does
 * the same IEEE single-precision operations, in the same order, as the scalar
 * loop it replaces (and -ffp-contract=off forbids fused multiply-adds in
 * both), so the results are bit-identical; the tails run the scalar loop. */
#if defined(__GNUC__) || defined(__clang__)
#define MIXSTAGE__V4 1
typedef float v4f __attribute__((vector_size(16)));
typedef uint32_t v4u __attribute__((vector_size(16)));
static inline v4f v4_load(const float *p) {
  v4f v;
  memcpy(&v, p, sizeof v);
  return v;
}
static inline void v4_store(float *p, v4f v) { memcpy(p, &v, sizeof v); }
static inline v4f v4_set(float x) {
  v4f v = {x, x, x, x};
  return v;
}
#else
#define MIXSTAGE__V4 0
#endif

/* For loops specialised by constant arguments at each call site. */
#if defined(__GNUC__) || defined(__clang__)
#define MIXSTAGE__INLINE inline __attribute__((always_inline))
#else
#define MIXSTAGE__INLINE inline
#endif

/* y[i] = x[i] * g (y may be x) */
static inline void mul_const(float *y, const float *x, float g, int n) { mixstage__mixer_best()->scale(y, x, g, n); }

/* acc[i] += x[i] */
static inline void add_into(float *acc, const float *x, int n) { mixstage__mixer_best()->add(acc, x, n); }

/* NaN and infinity are the floats whose exponent bits are all ones: adding
 * one to the exponent field then carries into the sign bit.  Integer OR is
 * order-free, so lanes can be merged at the end. */
static uint32_t non_finite_bits(const float *x, size_t n) {
  uint32_t m = 0;
  size_t i = 0;
#if MIXSTAGE__V4
  v4u vm = {0, 0, 0, 0};
  for (; i + 8 <= n; i += 8) {
    v4u a, b;
    memcpy(&a, x + i, sizeof a);
    memcpy(&b, x + i + 4, sizeof b);
    vm |= ((a & 0x7f800000u) + 0x00800000u) | ((b & 0x7f800000u) + 0x00800000u);
  }
  m = vm[0] | vm[1] | vm[2] | vm[3];
#endif
  for (; i < n; i++) {
    uint32_t b;
    memcpy(&b, &x[i], sizeof b);
    m |= (b & 0x7f800000u) + 0x00800000u;
  }
  return m;
}

/* Whether any of buf[0 .. nch-1][0 .. n-1] is NaN or infinite.  First the
 * cheap test: NaN and infinities propagate through addition (a sum once
 * non-finite stays so), so a finite sum of all the samples proves every
 * one finite; only a sum that is not (a fault, or finite samples whose sum
 * overflows) has the bits looked at. */
static int non_finite(float *const *buf, int nch, int n) {
  float sum = 0.0f;
  int c = 0;
#if MIXSTAGE__V4
  v4f s0 = v4_set(0.0f), s1 = v4_set(0.0f);
  for (; c + 2 <= nch; c += 2) {
    const float *x = buf[c], *y = buf[c + 1];
    int i = 0;
    v4f s2 = v4_set(0.0f), s3 = v4_set(0.0f);
    for (; i + 8 <= n; i += 8) {
      s0 += v4_load(x + i);
      s1 += v4_load(y + i);
      s2 += v4_load(x + i + 4);
      s3 += v4_load(y + i + 4);
    }
    s0 += s2;
    s1 += s3;
    for (; i + 4 <= n; i += 4) {
      s0 += v4_load(x + i);
      s1 += v4_load(y + i);
    }
    for (; i < n; i++) sum += x[i] + y[i];
  }
  s0 += s1;
  sum += (s0[0] + s0[1]) + (s0[2] + s0[3]);
#endif
  for (; c < nch; c++)
    for (int i = 0; i < n; i++) sum += buf[c][i];
  if (isfinite(sum)) return 0;
  uint32_t m = 0;
  for (c = 0; c < nch; c++) m |= non_finite_bits(buf[c], (size_t)n);
  return (m & 0x80000000u) != 0;
}

/* Most delay lines of a chain are empty (no latency to align): skip the call. */
static inline void delay_run(mixstage__delay *d, float *const *io, int channels, int n) {
  if (d->delay > 0) mixstage__delay_process(d, io, channels, n);
}

static inline float db_gain(double db) { return db <= -144.0 ? 0.0f : (float)mixstage__db_to_gain(db); }

/* Position k (1 .. CELL) along the cell: the value reached at the cell's end
 * is the one computed at its start boundary, so a split block sees the same
 * ramp as a whole one. */
static inline float ramp(float a, float b, int k) {
  return k >= MIXSTAGE__CELL ? b : a + (b - a) * ((float)k * (1.0f / (float)MIXSTAGE__CELL));
}

/* Per-sample gains of a dB parameter for frames f .. f+n-1 at cell offset o.
 * A lane is followed sample by sample (sample-accurate automation); without
 * one the smoothed control values are interpolated.  Returns 1 if constant
 * (g[0] holds it). */
static int gain_curve(const mixstage__param *p, float g0, float g1, int64_t f, int o, int n, float *g) {
  if (p->lane && p->lane->count > 0) {
    for (int i = 0; i < n; i++) g[i] = db_gain(mixstage__lane_eval(p->lane, f + i));
    return 0;
  }
  if (g0 == g1 || o >= MIXSTAGE__CELL) {
    g[0] = g1;
    return 1;
  }
  for (int i = 0; i < n; i++) g[i] = ramp(g0, g1, o + i + 1);
  return 0;
}

static void pan_coefs(int from, int to, double pan, double width, float *c) {
  c[2] = (float)width;
  if (from == 1 && to >= 2) {
    /* Constant-power law, -3 dB at centre: theta = (p + 1) pi / 4. */
    double th = (pan + 1.0) * 0.7853981633974483;
    c[0] = (float)cos(th);
    c[1] = (float)sin(th);
  } else if (from == 2 && to == 2) {
    /* Balance: the far side is attenuated along a quarter cosine, unity at centre. */
    c[0] = pan > 0.0 ? (float)cos(pan * 1.5707963267948966) : 1.0f;
    c[1] = pan < 0.0 ? (float)cos(-pan * 1.5707963267948966) : 1.0f;
  } else {
    c[0] = c[1] = 1.0f;
  }
}

static int node_mode(const mixstage_profile *prof, mixstage_node *n) {
  if (atomic_load_explicit(&n->bypass_req, memory_order_relaxed)) return 1;
  int act = prof->action[n->role];
  return act == MIXSTAGE_ACTION_BYPASS ? 1 : act == MIXSTAGE_ACTION_MUTE ? 2 : 0;
}

/* ---- control boundary ------------------------------------------------------ */

/* The mute gain a unit heads for: its own mute, or another strip's solo. */
static inline float unit_mute_target(const mixstage_graph *g, const mixstage__unit *u) {
  int muted = atomic_load_explicit(&u->mute_req, memory_order_relaxed);
  if (u->kind == MIXSTAGE__UNIT_STRIP && g->any_solo && !atomic_load_explicit(&u->solo_req, memory_order_relaxed))
    muted = 1;
  return muted ? 0.0f : 1.0f;
}

/* A send's mute gain: its own mute or the profile's action on its role. */
static inline float send_mute_gain(const mixstage_profile *prof, const mixstage_send *s) {
  return atomic_load_explicit(&s->mute_req, memory_order_relaxed) || prof->action[s->role] == MIXSTAGE_ACTION_MUTE
             ? 0.0f
             : 1.0f;
}

/* A strip's clip gain with its polarity (the sign of a zero gain counts). */
static inline float clip_signed(const mixstage_strip *s) {
  return atomic_load_explicit(&s->polarity_req, memory_order_relaxed) ? -s->clip_lin : s->clip_lin;
}

/* The linear gains and pan coefficients are pure functions of their
 * parameter values, so they are recomputed (pow, cos, sin) only when a value
 * moved; the previous-boundary copies shift at every boundary regardless. */
static void step_unit(mixstage_graph *g, mixstage__unit *u, int64_t f) {
  double k = g->smooth_coef;
  const mixstage_profile *prof = atomic_load_explicit(&g->profile, memory_order_acquire);
  int fader_moved = mixstage__param_step(&u->fader, f, k);
  int pan_moved = mixstage__param_step(&u->pan, f, k);
  pan_moved |= mixstage__param_step(&u->width, f, k);
  u->fader_g0 = u->fader_g1;
  if (fader_moved) u->fader_g1 = db_gain(u->fader.value);
  u->mute_target = unit_mute_target(g, u);
  u->mute_g0 = u->mute_g1;
  if (u->mute_g1 != u->mute_target) {
    float m = u->mute_target + (u->mute_g1 - u->mute_target) * (float)k;
    if (fabsf(m - u->mute_target) < 1e-6f) m = u->mute_target;
    u->mute_g1 = m;
  }
  memcpy(u->pan0, u->pan1, sizeof u->pan0);
  if (pan_moved) pan_coefs(u->channels, u->out_channels, u->pan.value, u->width.value, u->pan1);
  if (u->kind == MIXSTAGE__UNIT_STRIP) {
    mixstage_strip *s = (mixstage_strip *)u;
    if (mixstage__param_step(&s->clip_gain, f, k)) s->clip_lin = db_gain(s->clip_gain.value);
    s->clip_g0 = s->clip_g1;
    s->clip_g1 = clip_signed(s);
  }
  for (int i = 0; i < u->send_count; i++) {
    mixstage_send *s = u->sends[i];
    s->g0 = s->g1;
    if (mixstage__param_step(&s->level, f, k)) s->g1 = db_gain(s->level.value);
    s->mute_g0 = s->mute_g1;
    s->mute_g1 = send_mute_gain(prof, s);
  }
  for (int i = 0; i < u->node_count; i++) {
    mixstage_node *n = u->nodes[i];
    int mode = node_mode(prof, n);
    if (mode != n->mode) {
      /* Crossfade into the new mode; a node coming back on starts afresh
       * rather than from the state it had when it was switched off. */
      n->mode_prev = n->xf_pos < g->xfade ? n->mode_prev : n->mode;
      n->mode = mode;
      n->xf_pos = 0;
      if (mode == 0 && n->mode_prev != 0 && n->cls->reset) n->cls->reset(n->state);
    }
    /* A plain load first: the locked exchange only when a setter ran. */
    int dirty = atomic_load_explicit(&n->ctl_dirty, memory_order_relaxed) &&
                atomic_exchange_explicit(&n->ctl_dirty, 0, memory_order_acquire);
    if (!dirty && !n->ctl_active) continue;
    int moved = 0, active = 0;
    for (int p = 0; p < n->cls->num_params; p++) {
      mixstage__param *pp = &n->params[p];
      /* Structural parameters (oversampling, lookahead, band count) change
       * latency or memory: they wait for the next prepare. */
      if (!pp->info->automatable) continue;
      moved |= mixstage__param_step(pp, f, k);
      n->pv[p] = pp->value;
      if (pp->lane ? pp->lane->count > 0 : pp->value != atomic_load_explicit(&pp->target, memory_order_relaxed))
        active = 1;
    }
    n->ctl_active = active;
    if (moved && n->cls->update) {
      n->cls->update(n->state, n->pv);
      n->update_serial++;
    }
  }
}

/* A parameter the next boundary leaves where it is: no lane points, and at
 * its target (mixstage__param_step then returns at once). */
static inline int param_rests(const mixstage__param *p) {
  return !(p->lane && p->lane->count > 0) && atomic_load_explicit(&p->target, memory_order_relaxed) == p->value;
}

static inline int same_bits(float a, float b) { return memcmp(&a, &b, sizeof a) == 0; }

/* Whether u is settled: every control boundary in the block ahead would
 * leave all of its values as they are (no lane, nothing smoothing, no
 * setter or node mode change pending), and each gain of its gain stage is
 * one constant (the previous boundary's value equals the current one).
 * Then step_unit is a no-op at every boundary, and the source read, clip
 * gain, taps, fader, pan, mute and sends run over the whole block in one
 * pass each, with the bits of cell-by-cell processing: the same float
 * operations on every sample with the same constants.  The chain runs
 * insert by insert over the block where it can (span_ready), else cell by
 * cell; either way a fault is silenced in the cell where it appears.
 * A setter running on another thread during the block is taken at the
 * next block instead of the next boundary, as if it had come a little
 * later.  A unit with bounce forks runs cell by cell. */
static int unit_settled(const mixstage_graph *g, const mixstage__unit *u, const mixstage_profile *prof) {
  if (u->shadows) return 0;
  if (!param_rests(&u->fader) || !param_rests(&u->pan) || !param_rests(&u->width)) return 0;
  if (!same_bits(u->fader_g0, u->fader_g1) || memcmp(u->pan0, u->pan1, sizeof u->pan0)) return 0;
  float mute = unit_mute_target(g, u);
  if (u->mute_g0 != mute || u->mute_g1 != mute) return 0;
  if (u->kind == MIXSTAGE__UNIT_STRIP) {
    const mixstage_strip *s = (const mixstage_strip *)u;
    if (!param_rests(&s->clip_gain)) return 0;
    if (!same_bits(s->clip_g0, s->clip_g1) || !same_bits(s->clip_g1, clip_signed(s))) return 0;
  }
  for (int i = 0; i < u->send_count; i++) {
    const mixstage_send *s = u->sends[i];
    if (!param_rests(&s->level) || !same_bits(s->g0, s->g1)) return 0;
    float sm = send_mute_gain(prof, s);
    if (s->mute_g0 != sm || s->mute_g1 != sm) return 0;
  }
  for (int i = 0; i < u->node_count; i++) {
    mixstage_node *n = u->nodes[i];
    if (n->ctl_active || atomic_load_explicit(&n->ctl_dirty, memory_order_relaxed)) return 0;
    if (node_mode(prof, n) != n->mode) return 0;
  }
  return 1;
}

/* ---- unit processing ------------------------------------------------------- */

/* A unit's buffers seen from one chunk (at most one cell) of its block. */
typedef struct view {
  float *buf[MIXSTAGE_MAX_CHANNELS], *pre[MIXSTAGE_MAX_CHANNELS];
  float *post[MIXSTAGE_MAX_CHANNELS], *out[MIXSTAGE_MAX_CHANNELS];
} view;

static void fill(float *x, float v, int n) {
  for (int i = 0; i < n; i++) x[i] = v;
}

/* Frames f .. f+n-1 of a strip's source into v->buf, times the constant
 * clip gain g when scaled (one multiply per sample, as a separate pass
 * would do: the silence past the end and of missing channels is 0 * g,
 * -0 under inverted polarity).  Returns 1 if the source delivered NaN or
 * infinity and scan asked to check it (then the chunk is silent).  A
 * callback is always checked, as it cannot be asked again; a buffer source
 * otherwise only when the chain's output is not finite.  Scaling needs a
 * buffer source and no scan. */
static int read_source(mixstage_strip *s, const view *v, int64_t f, int n, int scan, float g, int scaled) {
  mixstage__unit *u = &s->u;
  int sc = s->src.channels, bad = 0;
  float z = scaled ? 0.0f * g : 0.0f;
  if (s->src.kind == 1) {
    int64_t avail = s->src.frames - f;
    int m = avail <= 0 ? 0 : avail < n ? (int)avail : n;
    const float *d = s->src.data + (size_t)(m ? f : 0) * (size_t)sc;
    if (sc == 1) {
      if (scaled) mul_const(v->buf[0], d, g, m);
      else memcpy(v->buf[0], d, sizeof(float) * (size_t)m);
    } else if (sc == 2) {
      mixstage__mixer_best()->deinterleave2(d, v->buf[0], v->buf[1], m, g, scaled);
    } else {
      for (int c = 0; c < sc; c++) {
        float *x = v->buf[c];
        for (int i = 0; i < m; i++) x[i] = scaled ? d[(size_t)i * (size_t)sc + (size_t)c] * g : d[(size_t)i * (size_t)sc + (size_t)c];
      }
    }
    if (m < n)
      for (int c = 0; c < sc; c++) fill(v->buf[c] + m, z, n - m);
  } else if (s->src.kind == 2) {
    s->src.fn(s->src.user, v->buf, sc, n, f);
    scan = 1;
  } else if (s->src.kind == 3) {
    /* A file that stores floats may hold NaN: checked as a callback is. */
    if (mixstage__file_source_read(s->src.file, v->buf, f, n)) scan = 1;
  } else {
    sc = 0;
  }
  if (scan && sc > 0 && non_finite(v->buf, sc, n)) {
    for (int c = 0; c < sc; c++) memset(v->buf[c], 0, sizeof(float) * (size_t)n);
    bad = 1;
  }
  /* A mono source feeds every channel; missing channels are silent. */
  for (int c = sc; c < u->channels; c++) {
    if (sc == 1) memcpy(v->buf[c], v->buf[0], sizeof(float) * (size_t)n);
    else fill(v->buf[c], z, n);
  }
  return bad;
}

/* Whether a buffer source holds NaN or infinity in frames f .. f+n-1. */
static int source_non_finite(const mixstage_strip *s, int64_t f, int n) {
  if (s->src.kind != 1) return 0;
  int64_t avail = s->src.frames - f;
  int m = avail <= 0 ? 0 : avail < n ? (int)avail : n;
  if (!m) return 0;
  const float *d = s->src.data + (size_t)f * (size_t)s->src.channels;
  return (non_finite_bits(d, (size_t)m * (size_t)s->src.channels) & 0x80000000u) != 0;
}

/* One gain-reduction history point (analysis.h), the cell starting at frame
 * cell.  A cell that does not follow the newest point (a locate, a new
 * render) starts the history afresh, so first_frame stays exact. */
static void gr_point(mixstage_node *nd, int64_t cell, float db) {
  if (nd->grh_n > 0 && cell != nd->grh_next) nd->grh_n = 0;
  nd->grh[nd->grh_head] = db > 0.0f ? db : 0.0f; /* a limiter's -0 dB, say */
  if (++nd->grh_head == nd->grh_cap) nd->grh_head = 0;
  if (nd->grh_n < nd->grh_cap) nd->grh_n++;
  nd->grh_next = cell + MIXSTAGE__CELL;
}

/* A chain's walk through one chunk.  cell: the start frame of the control
 * cell this chunk completes, or -1 when the chunk ends inside its cell
 * (history points are taken at cell ends, so they do not depend on how
 * host blocks split the cells).  ran: the node that processed, if exactly
 * one did, else NULL.  Without u->scan_each nothing is checked per node
 * (the chunk's end is).  dry: scratch for one node's dry path (its content
 * does not outlive the node's step, so a group's members share it). */
typedef struct chain_walk {
  int64_t cell;
  int ran_count, faults;
  mixstage_node *ran;
  float (*drybuf)[MIXSTAGE__CELL];
} chain_walk;

static inline void node_ran(chain_walk *w, mixstage_node *nd) { w->ran = w->ran_count++ ? NULL : nd; }

/* After a node processed: the meter's reduction and its history point. */
static inline void node_gr(const chain_walk *w, mixstage_node *nd) {
  if (nd->cls->gain_reduction) {
    float gr = nd->cls->gain_reduction(nd->state);
    atomic_store_explicit(&nd->gr_db, gr, memory_order_relaxed);
    /* Fading out to bypass or mute counts as off, as the node is heading there. */
    if (nd->grh && w->cell >= 0) gr_point(nd, w->cell, nd->mode == 0 ? gr : 0.0f);
  }
}

/* A node's sidechain key for the chunk (its delay line aligns it), or NULL.
 * Without a delay the key is read where the key unit left it (through
 * direct, the caller's scratch), unless the unit's bounce forks read the
 * key after the chunk from key_buf. */
static const float *const *node_key(mixstage_node *nd, int off, int n, int *kch, const float **direct) {
  *kch = 0;
  if (!nd->key_unit) return NULL;
  mixstage__unit *k = nd->key_unit;
  float *const *src = nd->key_tap == MIXSTAGE_TAP_PRE_FADER ? k->pre : k->post;
  *kch = nd->key_tap == MIXSTAGE_TAP_PRE_FADER ? k->channels : k->out_channels;
  if (nd->key_delay.delay <= 0 && !nd->owner->shadows) {
    for (int c = 0; c < *kch; c++) direct[c] = src[c] + off;
    return direct;
  }
  for (int c = 0; c < *kch; c++) memcpy(nd->key_buf[c], src[c] + off, sizeof(float) * (size_t)n);
  delay_run(&nd->key_delay, nd->key_buf, *kch, n);
  return (const float *const *)nd->key_buf;
}

/* Insert i of unit u over the chunk, on its own. */
static void run_node(mixstage_graph *g, mixstage__unit *u, const view *v, int off, int n, int i, chain_walk *w) {
  int C = u->channels;
  float *const *buf = v->buf;
  float *dry[MIXSTAGE_MAX_CHANNELS];
  mixstage_node *nd = u->nodes[i];
  int64_t cell = w->cell;
  delay_run(&nd->pre_delay, buf, C, n);
  int fading = nd->xf_pos < g->xfade;
  int prev = fading ? nd->mode_prev : nd->mode;
  /* The dry path (input delayed by the node's latency) is kept warm while
   * the node runs, so that a switch to bypass is aligned and seamless. */
  int need_dry = nd->latency > 0 || nd->mode == 1 || prev == 1;
  if (need_dry) {
    for (int c = 0; c < C; c++) dry[c] = w->drybuf[c];
    for (int c = 0; c < C; c++) memcpy(dry[c], buf[c], sizeof(float) * (size_t)n);
    delay_run(&nd->bypass_delay, dry, C, n);
  }
  if (nd->mode != 0 && prev != 0) { /* bypassed or muted, no fade from "on" */
    float gd = nd->mode == 1 ? 1.0f : 0.0f, gp = prev == 1 ? 1.0f : 0.0f;
    for (int c = 0; c < C; c++)
      for (int k = 0; k < n; k++) {
        float t = fading && nd->xf_pos + k < g->xfade ? (float)(nd->xf_pos + k + 1) / (float)g->xfade : 1.0f;
        buf[c][k] = need_dry ? dry[c][k] * (gp + (gd - gp) * t) : 0.0f; /* muted throughout */
      }
    if (fading) nd->xf_pos += n;
    if (nd->grh && cell >= 0) gr_point(nd, cell, 0.0f); /* not running: no reduction */
    return;
  }
  int kch = 0;
  const float *direct[MIXSTAGE_MAX_CHANNELS];
  const float *const *key = node_key(nd, off, n, &kch, direct);
  nd->cls->process(nd->state, buf, C, n, key, kch);
  node_ran(w, nd);
  if (nd->trace_wanted)
    nd->trace_ok = nd->cls->gain_trace ? nd->cls->gain_trace(nd->state, nd->trace, C, n) : 0;
  if (u->scan_each && non_finite(buf, C, n)) {
    /* Contain it: silence this chunk, start the node afresh, tell the host. */
    for (int c = 0; c < C; c++) memset(buf[c], 0, sizeof(float) * (size_t)n);
    if (nd->cls->reset) nd->cls->reset(nd->state);
    atomic_fetch_add(&nd->faults, 1);
    atomic_store(&g->fault_chain, 0);
    atomic_store(&g->fault_node, nd);
    atomic_store(&g->fault_pending, 1);
    w->faults++;
  }
  if (fading || nd->mode != 0) {
    /* wet <-> dry or silence: equal-gain linear crossfade (the two are
     * correlated, so equal gain keeps the level) */
    float gw0 = prev == 0 ? 1.0f : 0.0f, gw1 = nd->mode == 0 ? 1.0f : 0.0f;
    float gd0 = prev == 1 ? 1.0f : 0.0f, gd1 = nd->mode == 1 ? 1.0f : 0.0f;
    for (int c = 0; c < C; c++)
      for (int k = 0; k < n; k++) {
        float t = fading && nd->xf_pos + k < g->xfade ? (float)(nd->xf_pos + k + 1) / (float)g->xfade : 1.0f;
        float gw = gw0 + (gw1 - gw0) * t, gd = gd0 + (gd1 - gd0) * t;
        buf[c][k] = buf[c][k] * gw + (need_dry ? dry[c][k] * gd : 0.0f);
      }
    if (fading) nd->xf_pos += n;
  }
  node_gr(w, nd);
}

static int run_nodes(mixstage_graph *g, mixstage__unit *u, const view *v, int off, int n, int64_t cell,
                     mixstage_node **ran) {
  float drybuf[MIXSTAGE_MAX_CHANNELS][MIXSTAGE__CELL];
  chain_walk w = {cell, 0, 0, NULL, drybuf};
  for (int i = 0; i < u->node_count; i++) run_node(g, u, v, off, n, i, &w);
  *ran = w.ran;
  return w.faults;
}

/* Post (the post-fader tap) and out (post through the unit's mute) at i. */
#if MIXSTAGE__V4
static inline void put4(float *post, float *out, int i, v4f p, int unity, v4f mu) {
  v4_store(post + i, p);
  v4_store(out + i, unity ? p : p * mu);
}
#endif
static inline void put1(float *post, float *out, int i, float p, int unity, float mu) {
  post[i] = p;
  out[i] = unity ? p : p * mu;
}

/* Fader, pan and mute in one pass when none of them moves in this chunk
 * (no lane, the same value at both boundaries): per sample the same float
 * operations, in the same order, as fader_pan followed by mute_out with
 * their constant branches.  Returns 0 (nothing done) otherwise. */

/* unity (mute gain 1: out is post) is a constant at each call site. */
static MIXSTAGE__INLINE void gain_pass(const mixstage__unit *u, const view *v, int n, int unity) {
  int C = u->channels, B = u->out_channels;
  float gg = u->fader_g1, gl = u->pan1[0], gr = u->pan1[1], w = u->pan1[2], mu = u->mute_g1;
  int i = 0;
#if MIXSTAGE__V4
  v4f vgg = v4_set(gg), vgl = v4_set(gl), vgr = v4_set(gr), vw = v4_set(w), vmu = v4_set(mu);
  v4f half = v4_set(0.5f);
#endif
  if (C == 1 && B >= 2) {
    const float *x = v->buf[0];
#if MIXSTAGE__V4
    for (; i + 4 <= n; i += 4) {
      v4f a = v4_load(x + i) * vgg;
      put4(v->post[0], v->out[0], i, a * vgl, unity, vmu);
      put4(v->post[1], v->out[1], i, a * vgr, unity, vmu);
    }
#endif
    for (; i < n; i++) {
      float a = x[i] * gg;
      put1(v->post[0], v->out[0], i, a * gl, unity, mu);
      put1(v->post[1], v->out[1], i, a * gr, unity, mu);
    }
    for (int c = 2; c < B; c++) {
      memset(v->post[c], 0, sizeof(float) * (size_t)n);
      memset(v->out[c], 0, sizeof(float) * (size_t)n); /* 0 * mu, mu >= 0 */
    }
  } else if (C == 2 && B == 2) {
    const float *xl = v->buf[0], *xr = v->buf[1];
#if MIXSTAGE__V4
    for (; i + 4 <= n; i += 4) {
      v4f a = v4_load(xl + i), b = v4_load(xr + i);
      v4f m = half * (a + b), s = half * (a - b) * vw;
      put4(v->post[0], v->out[0], i, (m + s) * vgl * vgg, unity, vmu);
      put4(v->post[1], v->out[1], i, (m - s) * vgr * vgg, unity, vmu);
    }
#endif
    for (; i < n; i++) {
      float m = 0.5f * (xl[i] + xr[i]), s = 0.5f * (xl[i] - xr[i]) * w;
      put1(v->post[0], v->out[0], i, (m + s) * gl * gg, unity, mu);
      put1(v->post[1], v->out[1], i, (m - s) * gr * gg, unity, mu);
    }
  } else if (C == 2 && B == 1) {
    const float *xl = v->buf[0], *xr = v->buf[1];
#if MIXSTAGE__V4
    for (; i + 4 <= n; i += 4)
      put4(v->post[0], v->out[0], i, half * (v4_load(xl + i) + v4_load(xr + i)) * vgg, unity, vmu);
#endif
    for (; i < n; i++) put1(v->post[0], v->out[0], i, 0.5f * (xl[i] + xr[i]) * gg, unity, mu);
  } else {
    for (int c = 0; c < C; c++) {
      const float *x = v->buf[c];
      i = 0;
#if MIXSTAGE__V4
      for (; i + 4 <= n; i += 4) put4(v->post[c], v->out[c], i, v4_load(x + i) * vgg, unity, vmu);
#endif
      for (; i < n; i++) put1(v->post[c], v->out[c], i, x[i] * gg, unity, mu);
    }
  }
}

static int gain_stage_const(mixstage__unit *u, const view *v, int o, int n) {
  int late = o >= MIXSTAGE__CELL;
  if (u->fader.lane && u->fader.lane->count > 0) return 0;
  if (!(u->fader_g0 == u->fader_g1 || late) || !(u->mute_g0 == u->mute_g1 || late)) return 0;
  if (!(memcmp(u->pan0, u->pan1, sizeof u->pan0) == 0 || late)) return 0;
  if (u->mute_g1 == 1.0f) gain_pass(u, v, n, 1);
  else gain_pass(u, v, n, 0);
  return 1;
}

/* Fader and pan: buf (C channels) -> post (B channels). */
static void fader_pan(mixstage__unit *u, const view *v, int64_t f, int o, int n) {
  int C = u->channels, B = u->out_channels;
  float gf[MIXSTAGE__CELL];
  int cf = gain_curve(&u->fader, u->fader_g0, u->fader_g1, f, o, n, gf);
  int pan_const = memcmp(u->pan0, u->pan1, sizeof u->pan0) == 0 || o >= MIXSTAGE__CELL;
  if (C == 1 && B >= 2) {
    float *x = v->buf[0], *l = v->post[0], *r = v->post[1];
    for (int i = 0; i < n; i++) {
      int k = o + i + 1;
      float gl = pan_const ? u->pan1[0] : ramp(u->pan0[0], u->pan1[0], k);
      float gr = pan_const ? u->pan1[1] : ramp(u->pan0[1], u->pan1[1], k);
      float a = x[i] * (cf ? gf[0] : gf[i]);
      l[i] = a * gl;
      r[i] = a * gr;
    }
    for (int c = 2; c < B; c++) memset(v->post[c], 0, sizeof(float) * (size_t)n);
  } else if (C == 2 && B == 2) {
    float *xl = v->buf[0], *xr = v->buf[1], *l = v->post[0], *r = v->post[1];
    for (int i = 0; i < n; i++) {
      int k = o + i + 1;
      float gl = pan_const ? u->pan1[0] : ramp(u->pan0[0], u->pan1[0], k);
      float gr = pan_const ? u->pan1[1] : ramp(u->pan0[1], u->pan1[1], k);
      float w = pan_const ? u->pan1[2] : ramp(u->pan0[2], u->pan1[2], k);
      float gg = cf ? gf[0] : gf[i];
      /* Width on mid/side, then balance. */
      float m = 0.5f * (xl[i] + xr[i]), s = 0.5f * (xl[i] - xr[i]) * w;
      l[i] = (m + s) * gl * gg;
      r[i] = (m - s) * gr * gg;
    }
  } else if (C == 2 && B == 1) {
    float *xl = v->buf[0], *xr = v->buf[1], *y = v->post[0];
    for (int i = 0; i < n; i++) y[i] = 0.5f * (xl[i] + xr[i]) * (cf ? gf[0] : gf[i]);
  } else { /* same layout: gain only (surround panning is a later addition) */
    for (int c = 0; c < C; c++) {
      float *x = v->buf[c], *y = v->post[c];
      if (cf)
        for (int i = 0; i < n; i++) y[i] = x[i] * gf[0];
      else
        for (int i = 0; i < n; i++) y[i] = x[i] * gf[i];
    }
  }
}

static void mute_out(mixstage__unit *u, const view *v, int o, int n) {
  int B = u->out_channels;
  if (u->mute_g0 == u->mute_g1 || o >= MIXSTAGE__CELL) {
    float m = u->mute_g1;
    for (int c = 0; c < B; c++) {
      if (m == 1.0f) memcpy(v->out[c], v->post[c], sizeof(float) * (size_t)n);
      else
        for (int i = 0; i < n; i++) v->out[c][i] = v->post[c][i] * m;
    }
    return;
  }
  for (int c = 0; c < B; c++)
    for (int i = 0; i < n; i++) v->out[c][i] = v->post[c][i] * ramp(u->mute_g0, u->mute_g1, o + i + 1);
}

/* One send of unit u into dst (the target's channels, block buffers, at
 * offset off): the tap through the send's level, its mute and u's mute. */
static void run_send(mixstage__unit *u, mixstage_send *s, float *const *dst, const view *v, int64_t f, int o,
                     int off, int n) {
  float *const *src = s->tap == MIXSTAGE_TAP_PRE_FADER ? v->pre : v->post;
  int from = s->tap == MIXSTAGE_TAP_PRE_FADER ? u->channels : u->out_channels;
  int to = s->to->u.channels;
  float gs[MIXSTAGE__CELL];
  int cs = gain_curve(&s->level, s->g0, s->g1, f, o, n, gs);
  int late = o >= MIXSTAGE__CELL;
  if (cs && (s->mute_g0 == s->mute_g1 || late) && (u->mute_g0 == u->mute_g1 || late)) {
    /* Nothing moves: ramp(m, m, k) is m (mutes are never -0), so the
     * per-sample gain below is this one constant. */
    float g = gs[0];
    g *= s->mute_g1 * u->mute_g1;
    if (from == to) {
      for (int c = 0; c < to; c++) mul_const(dst[c] + off, src[c], g, n);
    } else if (from == 1) {
      for (int c = 0; c < to; c++) mul_const(dst[c] + off, src[0], g, n);
    } else { /* 2 -> 1 */
      float *y = dst[0] + off;
      const float *a = src[0], *b = src[1];
      int i = 0;
#if MIXSTAGE__V4
      v4f vg = v4_set(g), half = v4_set(0.5f);
      for (; i + 4 <= n; i += 4) v4_store(y + i, half * (v4_load(a + i) + v4_load(b + i)) * vg);
#endif
      for (; i < n; i++) y[i] = 0.5f * (a[i] + b[i]) * g;
    }
    return;
  }
  /* gs[0] is overwritten at i = 0: a constant level is read before. */
  float level = gs[0];
  for (int i = 0; i < n; i++) {
    int k = o + i + 1;
    float g = cs ? level : gs[i];
    g *= ramp(s->mute_g0, s->mute_g1, k) * ramp(u->mute_g0, u->mute_g1, k);
    gs[i] = g;
  }
  if (from == to) {
    for (int c = 0; c < to; c++)
      for (int i = 0; i < n; i++) dst[c][off + i] = src[c][i] * gs[i];
  } else if (from == 1) {
    for (int c = 0; c < to; c++)
      for (int i = 0; i < n; i++) dst[c][off + i] = src[0][i] * gs[i];
  } else { /* 2 -> 1 */
    for (int i = 0; i < n; i++) dst[0][off + i] = 0.5f * (src[0][i] + src[1][i]) * gs[i];
  }
}

static void run_sends(mixstage__unit *u, const view *v, int64_t f, int o, int off, int n) {
  for (int si = 0; si < u->send_count; si++) run_send(u, u->sends[si], u->sends[si]->buf, v, f, o, off, n);
}

/* Adds an input into a bus.  The source buffer is read, never written: a
 * unit's output may feed its bus and, in a bounce, forks with their own
 * alignment delays. */
static void sum_input(float *const *acc, float *const *base, int off, mixstage__delay *comp, int C, int n) {
  if (comp->delay <= 0) {
    for (int c = 0; c < C; c++) add_into(acc[c], base[c] + off, n);
    return;
  }
  /* A settled bus sums a whole block: the delay runs a cell at a time
   * (it is sample-sequential, so the pieces give the same bits). */
  float tmpbuf[MIXSTAGE_MAX_CHANNELS][MIXSTAGE__CELL];
  float *tmp[MIXSTAGE_MAX_CHANNELS];
  for (int c = 0; c < MIXSTAGE_MAX_CHANNELS; c++) tmp[c] = tmpbuf[c];
  for (int k = 0; k < n; k += MIXSTAGE__CELL) {
    int m = n - k < MIXSTAGE__CELL ? n - k : MIXSTAGE__CELL;
    for (int c = 0; c < C; c++) memcpy(tmp[c], base[c] + off + k, sizeof(float) * (size_t)m);
    delay_run(comp, tmp, C, m);
    for (int c = 0; c < C; c++) add_into(acc[c] + k, tmp[c], m);
  }
}

/* A unit's buffers at offset off.  Only the channels a buffer has are set. */
static inline void make_view(view *v, float *const *buf, float *const *pre, float *const *post, float *const *out,
                      int C, int B, int off) {
  if (C == 2 && B == 2) { /* the common case, without the loops */
    v->buf[0] = buf[0] + off;
    v->buf[1] = buf[1] + off;
    v->pre[0] = pre[0] ? pre[0] + off : NULL;
    v->pre[1] = pre[1] ? pre[1] + off : NULL;
    v->post[0] = post[0] + off;
    v->post[1] = post[1] + off;
    v->out[0] = out[0] + off;
    v->out[1] = out[1] + off;
    return;
  }
  int wide = C > B ? C : B;
  for (int c = 0; c < wide; c++) v->buf[c] = buf[c] + off;
  for (int c = 0; c < C; c++) v->pre[c] = pre[c] ? pre[c] + off : NULL;
  for (int c = 0; c < B; c++) {
    v->post[c] = post[c] + off;
    v->out[c] = out[c] + off;
  }
}

static void gain_stage(mixstage__unit *u, const view *v, int64_t f, int o, int n) {
  if (gain_stage_const(u, v, o, n)) return;
  fader_pan(u, v, f, o, n);
  mute_out(u, v, o, n);
}

/* The chain's output holds NaN or infinity (checked once per chunk, not
 * after every node).  Contain it as the per-node check did: silence the
 * chunk (and the copy a bounce fork reads); but the faulty samples went
 * through every later node, so all of the unit's nodes and their delay lines
 * start afresh.  Attribution, as precise as the data left allows: a buffer
 * source is read again, and if it is at fault the source is named as
 * before; else the node, when only one node processed; else the unit's
 * chain, and from then on (until the next locate) the unit checks after
 * the source and after every node, so a repeating fault is pinned on its
 * node. */
static void chain_fault(mixstage_graph *g, mixstage__unit *u, const view *v, int64_t f, int off, int n,
                        mixstage_node *ran) {
  int C = u->channels;
  for (int c = 0; c < C; c++) memset(v->buf[c], 0, sizeof(float) * (size_t)n);
  if (u->need_in)
    for (int c = 0; c < C; c++) memset(u->in[c] + off, 0, sizeof(float) * (size_t)n);
  for (int i = 0; i < u->node_count; i++) {
    mixstage_node *nd = u->nodes[i];
    if (nd->cls->reset) nd->cls->reset(nd->state);
    mixstage__delay_clear(&nd->pre_delay);
    mixstage__delay_clear(&nd->bypass_delay);
    /* the meter read this chunk's (possibly NaN) reduction: show the reset one */
    if (nd->cls->gain_reduction)
      atomic_store_explicit(&nd->gr_db, nd->cls->gain_reduction(nd->state), memory_order_relaxed);
  }
  int source = u->kind == MIXSTAGE__UNIT_STRIP && source_non_finite((mixstage_strip *)u, f, n);
  mixstage_node *nd = source ? NULL : ran;
  if (nd) atomic_fetch_add(&nd->faults, 1);
  else if (!source) u->scan_each = 1;
  u->at_rest = 0; /* its rest plan (span_ready) may no longer hold */
  atomic_store(&g->fault_chain, !source && !nd);
  atomic_store(&g->fault_node, nd);
  atomic_store(&g->fault_unit, u);
  atomic_store(&g->fault_pending, 1);
}

/* A bus's inputs summed into acc in their fixed order.  A run of inputs
 * without latency compensation is added in one pass: each sample sums
 * ((acc + x0) + x1) + ..., the order of one pass per input, while acc stays
 * in registers. */
#define MIXSTAGE__SUM_BATCH 32
static void bus_sum(const mixstage__mixer *mx, const mixstage_bus *b, float *const *acc, int off, int C, int n) {
  int i = 0, count = b->input_count;
  int zero = 1; /* acc not written yet: the first run starts from +0 */
  while (i < count) {
    const mixstage__input *in = &b->inputs[i];
    if (in->comp.delay > 0) {
      if (zero)
        for (int c = 0; c < C; c++) memset(acc[c], 0, sizeof(float) * (size_t)n);
      zero = 0;
      sum_input(acc, in->unit ? in->unit->out : in->send->buf, off, (mixstage__delay *)&in->comp, C, n);
      i++;
      continue;
    }
    int j = i;
    while (j < count && j - i < MIXSTAGE__SUM_BATCH && b->inputs[j].comp.delay <= 0) j++;
    for (int c = 0; c < C; c++) {
      const float *const *in_c = b->sum_in + (size_t)c * (size_t)count + (size_t)i;
      const float *x[MIXSTAGE__SUM_BATCH];
      if (off) {
        for (int q = 0; q < j - i; q++) x[q] = in_c[q] + off;
        in_c = x;
      }
      mx->sum(acc[c], in_c, j - i, n, zero);
    }
    zero = 0;
    i = j;
  }
  if (zero)
    for (int c = 0; c < C; c++) memset(acc[c], 0, sizeof(float) * (size_t)n);
}

/* bus_sum of a bus without compensation delays (sum_plain) from offset 0,
 * without looking at the inputs: the same calls. */
static void bus_sum_plain(const mixstage__mixer *mx, const mixstage_bus *b, float *const *acc, int C, int n) {
  const int count = b->input_count;
  if (!count)
    for (int c = 0; c < C; c++) memset(acc[c], 0, sizeof(float) * (size_t)n);
  for (int i = 0; i < count; i += MIXSTAGE__SUM_BATCH) {
    const int m = count - i < MIXSTAGE__SUM_BATCH ? count - i : MIXSTAGE__SUM_BATCH;
    for (int c = 0; c < C; c++) mx->sum(acc[c], b->sum_in + (size_t)c * (size_t)count + (size_t)i, m, n, i == 0);
  }
}

void mixstage__bus_point_inputs(mixstage_bus *b) {
  const int count = b->input_count, C = b->u.channels;
  for (int i = 0; i < count; i++) {
    const mixstage__input *e = &b->inputs[i];
    float *const *base = e->unit ? e->unit->out : e->send->buf;
    for (int c = 0; c < C; c++) b->sum_in[(size_t)c * (size_t)count + (size_t)i] = base[c];
  }
}

/* A chunk is frames f .. f+n-1, all inside one control cell, at offset off
 * in the unit's block buffers: its head (source and clip gain, or the bus
 * sum), the chain, and its tail (the fault check, taps, fader, pan, sends). */
static int chunk_head(mixstage_graph *g, mixstage__unit *u, view *v, int64_t f, int o, int off, int n) {
  int C = u->channels;
  int faults = 0;
  make_view(v, u->buf, u->pre, u->post, u->out, C, u->out_channels, off);
  if (u->kind == MIXSTAGE__UNIT_STRIP) {
    mixstage_strip *s = (mixstage_strip *)u;
    int lane = s->clip_gain.lane && s->clip_gain.lane->count;
    int clip = !(s->clip_g0 == 1.0f && s->clip_g1 == 1.0f) || lane, cc = 0;
    float gc[MIXSTAGE__CELL];
    if (clip) {
      cc = gain_curve(&s->clip_gain, s->clip_g0, s->clip_g1, f, o, n, gc);
      /* A lane knows only the dB value; polarity rides on the sign. */
      if (lane && s->clip_g1 < 0.0f)
        for (int i = 0; i < n; i++) gc[i] = -gc[i];
    }
    /* A constant clip gain rides on the copy out of a buffer source. */
    int fused = clip && cc && s->src.kind == 1 && !u->scan_each;
    if (read_source(s, v, f, n, u->scan_each, fused ? gc[0] : 1.0f, fused)) {
      atomic_store(&g->fault_chain, 0);
      atomic_store(&g->fault_node, NULL);
      atomic_store(&g->fault_unit, u);
      atomic_store(&g->fault_pending, 1);
      faults++;
    }
    if (clip && !fused) {
      if (cc)
        for (int c = 0; c < C; c++) mul_const(v->buf[c], v->buf[c], gc[0], n);
      else
        for (int c = 0; c < C; c++)
          for (int i = 0; i < n; i++) v->buf[c][i] *= gc[i];
    }
    if (u->need_in)
      for (int c = 0; c < C; c++) memcpy(u->in[c] + off, v->buf[c], sizeof(float) * (size_t)n);
  } else {
    bus_sum(mixstage__mixer_best(), (mixstage_bus *)u, v->buf, off, C, n);
  }
  return faults;
}

/* Sends a stereo unit's constant tail takes on (more run on their own). */
#define MIXSTAGE__FUSED_SENDS 4

/* Whether anything reads u's post-fader tap buffer: a sidechain keyed from
 * it (node_key).  The unit's own sends and meters read the signal as the
 * tail writes it, and the chunk path (fader_pan) writes post before it
 * reads it, so otherwise the tail need not store it.  Keys change only at
 * edit time (the graph is prepared again). */
static int post_read(const mixstage__unit *u) {
  for (int i = 0; i < u->keyed_count; i++)
    if (u->keyed[i]->key_tap == MIXSTAGE_TAP_POST_FADER) return 1;
  return 0;
}

/* Whether u's tail can be one stereo mixer pass by its shape: stereo in and
 * out, up to MIXSTAGE__FUSED_SENDS sends, all to stereo buses (prepare
 * fixes all of it). */
static int stereo_tail_shape(const mixstage__unit *u) {
  if (u->channels != 2 || u->out_channels != 2 || u->send_count > MIXSTAGE__FUSED_SENDS) return 0;
  for (int k = 0; k < u->send_count; k++)
    if (u->sends[k]->to->u.channels != 2) return 0;
  return 1;
}

/* The pre-fader copy, fader, pan, mute and up to MIXSTAGE__MIX_SENDS
 * post-fader sends of a stereo unit in one pass (lib/dsp/mixer.h), each
 * value computed with the same float operations, in the same order, as the
 * separate passes (gain_pass, run_send); other sends after it from the
 * taps.  The buffers are v's (the chunk at offset off), or with v NULL the
 * unit's own from offset 0.  post: something reads the post-fader tap
 * buffer.  Returns the mixer's check of the chain's output (1: it may hold
 * NaN or infinity; the caller looks, and on a fault runs the pass again
 * over the silenced chunk, which rewrites everything it wrote). */
static int stereo_tail_pass(const mixstage__mixer *mx, mixstage__unit *u, const view *v, int off, int n, int post) {
  float *const *buf = v ? v->buf : u->buf, *const *pre = v ? v->pre : u->pre;
  float *const *pst = v ? v->post : u->post, *const *out = v ? v->out : u->out;
  mixstage__mix_stereo t = {buf[0], buf[1], NULL, NULL, NULL, NULL, out[0], out[1],
                            u->fader_g1, u->pan1[0], u->pan1[1], u->pan1[2], u->mute_g1, 0,
                            {NULL, NULL}, {NULL, NULL}, {0.0f, 0.0f}};
  if (u->need_pre) {
    t.pre_l = pre[0];
    t.pre_r = pre[1];
  }
  float og[MIXSTAGE__FUSED_SENDS];
  float *dl[MIXSTAGE__FUSED_SENDS], *dr[MIXSTAGE__FUSED_SENDS];
  int opre[MIXSTAGE__FUSED_SENDS];
  int no = 0; /* other sends */
  for (int k = 0; k < u->send_count; k++) {
    const mixstage_send *snd = u->sends[k];
    float g = snd->g1 * (snd->mute_g1 * u->mute_g1); /* as run_send */
    int pre_tap = snd->tap == MIXSTAGE_TAP_PRE_FADER;
    if (!pre_tap && t.sends < MIXSTAGE__MIX_SENDS) {
      t.send_g[t.sends] = g;
      t.send_l[t.sends] = snd->buf[0] + off;
      t.send_r[t.sends++] = snd->buf[1] + off;
    } else {
      post |= !pre_tap;
      og[no] = g;
      opre[no] = pre_tap;
      dl[no] = snd->buf[0] + off;
      dr[no++] = snd->buf[1] + off;
    }
  }
  if (post) {
    t.post_l = pst[0];
    t.post_r = pst[1];
  }
  int flagged = mx->stereo(&t, n);
  /* (pre ? a : l) * g, as a fused pass would: the taps hold a and l. */
  for (int k = 0; k < no; k++) {
    mx->scale(dl[k], opre[k] ? buf[0] : pst[0], og[k], n);
    mx->scale(dr[k], opre[k] ? buf[1] : pst[1], og[k], n);
  }
  return flagged;
}

/* The tail of a stereo unit feeding stereo buses when nothing moves in this
 * chunk (no lane, the same fader, pan, mute and send values at both
 * boundaries): stereo_tail_pass.  Returns 0 when the chunk does not
 * qualify (nothing written), else 1, with *bad set when the chain's output
 * held NaN or infinity (checked unless the unit checks per node, or bad is
 * NULL: a settled unit's block tail, checked cell by cell already); then
 * the caller silences the chunk and runs the pass again. */
static int tail_stereo_const(const mixstage__mixer *mx, mixstage__unit *u, const view *v, int off, int n, int *bad) {
  if (!stereo_tail_shape(u)) return 0;
  if (u->fader.lane && u->fader.lane->count > 0) return 0;
  if (u->fader_g0 != u->fader_g1 || u->mute_g0 != u->mute_g1 || memcmp(u->pan0, u->pan1, sizeof u->pan0)) return 0;
  for (int k = 0; k < u->send_count; k++) {
    const mixstage_send *snd = u->sends[k];
    if (snd->level.lane && snd->level.lane->count > 0) return 0;
    if (snd->g0 != snd->g1 || snd->mute_g0 != snd->mute_g1) return 0;
  }
  int flagged = stereo_tail_pass(mx, u, v, off, n, post_read(u));
  if (bad) *bad = flagged && !u->scan_each && non_finite(v->buf, 2, n);
  return 1;
}

static int chunk_tail(mixstage_graph *g, mixstage__unit *u, const view *v, int64_t f, int o, int off, int n,
                      mixstage_node *ran) {
  int C = u->channels;
  int faults = 0;
  int bad = 0;
  const mixstage__mixer *mx = mixstage__mixer_best();
  if (tail_stereo_const(mx, u, v, off, n, &bad)) {
    if (!bad) return 0;
    /* Rare: silence the chunk as below, then the same pass over the silence. */
    chain_fault(g, u, v, f, off, n, ran);
    tail_stereo_const(mx, u, v, off, n, NULL);
    return 1;
  }
  if (!u->scan_each && non_finite(v->buf, C, n)) {
    chain_fault(g, u, v, f, off, n, ran);
    faults++;
  }
  if (u->need_pre)
    for (int c = 0; c < C; c++) memcpy(v->pre[c], v->buf[c], sizeof(float) * (size_t)n);
  gain_stage(u, v, f, o, n);
  run_sends(u, v, f, o, off, n);
  return faults;
}

/* ---- settled units, a block at a time (see unit_settled) ---------------------- */

/* Whether a settled unit's head can run over the whole block: a bus sum, or
 * a buffer source (or none) read without the fault scan.  A callback or a
 * streamed file is read, and checked, cell by cell as before. */
static inline int head_blockwise(const mixstage__unit *u) {
  if (u->scan_each) return 0;
  if (u->kind != MIXSTAGE__UNIT_STRIP) return 1;
  int kind = ((const mixstage_strip *)u)->src.kind;
  return kind == 0 || kind == 1;
}

/* The head of a settled unit's cell: the whole block's head ran already,
 * unless the unit was not read that way, or a chain fault in this block
 * set scan_each since, so that from here on the source is read and
 * checked per cell again (as cell-by-cell processing would). */
static inline int settled_cell_head(mixstage_graph *g, mixstage__unit *u, view *v, int block_head, int64_t f,
                                    int o, int off, int n) {
  if (block_head && !u->scan_each) {
    make_view(v, u->buf, u->pre, u->post, u->out, u->channels, u->out_channels, off);
    return 0;
  }
  return chunk_head(g, u, v, f, o, off, n);
}

/* non_finite's first test for a stereo cell, inline (it runs once per
 * unit per cell): 0 when every sample is finite, 1 when the bits must be
 * looked at. */
static inline int maybe_non_finite2(const float *x, const float *y, int n) {
  int i = 0;
  float sum = 0.0f;
#if MIXSTAGE__V4
  v4f s0 = v4_set(0.0f), s1 = v4_set(0.0f), s2 = v4_set(0.0f), s3 = v4_set(0.0f);
  /* a block (span_check) 16 frames a turn: half the loop overhead */
  for (; i + 16 <= n; i += 16) {
    s0 += v4_load(x + i) + v4_load(x + i + 8);
    s1 += v4_load(y + i) + v4_load(y + i + 8);
    s2 += v4_load(x + i + 4) + v4_load(x + i + 12);
    s3 += v4_load(y + i + 4) + v4_load(y + i + 12);
  }
  for (; i + 8 <= n; i += 8) {
    s0 += v4_load(x + i);
    s1 += v4_load(y + i);
    s2 += v4_load(x + i + 4);
    s3 += v4_load(y + i + 4);
  }
  s0 = (s0 + s1) + (s2 + s3);
  sum = (s0[0] + s0[1]) + (s0[2] + s0[3]);
#endif
  for (; i < n; i++) sum += x[i] + y[i];
  return !isfinite(sum);
}

/* The end of a settled unit's cell: the chain's output checked (unless
 * checked per node), a fault contained to this cell. */
static inline int settled_cell_check(mixstage_graph *g, mixstage__unit *u, const view *v, int64_t f, int off,
                                     int n, mixstage_node *ran) {
  if (u->scan_each) return 0;
  if (u->channels == 2 && !maybe_non_finite2(v->buf[0], v->buf[1], n)) return 0;
  if (!non_finite(v->buf, u->channels, n)) return 0;
  chain_fault(g, u, v, f, off, n, ran);
  return 1;
}

/* A settled unit's tail over the whole block: taps, fader, pan, mute and
 * sends with their constant gains (no fault check: done per cell). */
static void settled_tail(mixstage__unit *u, int64_t f0, int n) {
  view v;
  make_view(&v, u->buf, u->pre, u->post, u->out, u->channels, u->out_channels, 0);
  if (tail_stereo_const(mixstage__mixer_best(), u, &v, 0, n, NULL)) return;
  int o = (int)(f0 % MIXSTAGE__CELL);
  if (u->need_pre)
    for (int c = 0; c < u->channels; c++) memcpy(v.pre[c], v.buf[c], sizeof(float) * (size_t)n);
  gain_stage(u, &v, f0, o, n);
  run_sends(u, &v, f0, o, 0, n);
}

/* The control cell a chunk completes (see chain_walk), or -1. */
static inline int64_t chunk_cell(int64_t f, int o, int n) {
  return o + n == MIXSTAGE__CELL ? f + n - MIXSTAGE__CELL : -1;
}

static int run_chunk(mixstage_graph *g, mixstage__unit *u, int64_t f, int o, int off, int n) {
  view v;
  int faults = chunk_head(g, u, &v, f, o, off, n);
  mixstage_node *ran;
  faults += run_nodes(g, u, &v, off, n, chunk_cell(f, o, n), &ran);
  return faults + chunk_tail(g, u, &v, f, o, off, n, ran);
}

/* What a unit at rest is found under: the controls epoch, read before the
 * checks (a setter storing during them moves it after), and the profile.
 * Read once per schedule entry (a unit, or a whole group). */
typedef struct rest_key {
  uint32_t epoch;
  const mixstage_profile *prof;
} rest_key;

static inline rest_key rest_key_now(mixstage_graph *g) {
  rest_key k;
  k.epoch = atomic_load_explicit(&g->controls_epoch, memory_order_acquire) +
            atomic_load_explicit(&mixstage__profile_edits, memory_order_acquire);
  k.prof = atomic_load_explicit(&g->profile, memory_order_acquire);
  return k;
}

static int span_ready(const mixstage_graph *g, const mixstage__unit *u);

/* A unit found settled: what else holds while it stays so (the unit's
 * rest_* fields), all fixed by prepare, a bounce or the controls but for
 * the crossfades of inserts, which end with no control moving: while one
 * runs, returns 0 so that the unit is looked at again next block. */
static int rest_plan(const mixstage_graph *g, mixstage__unit *u) {
  if (u->kind == MIXSTAGE__UNIT_BUS) {
    mixstage_bus *b = (mixstage_bus *)u;
    b->sum_plain = 1;
    for (int i = 0; i < b->input_count; i++) b->sum_plain &= b->inputs[i].comp.delay <= 0;
  }
  u->rest_span = span_ready(g, u);
  u->rest_mix = stereo_tail_shape(u);
  u->rest_post = post_read(u);
  u->rest_stereo = NULL;
  if (u->rest_mix && u->send_count <= MIXSTAGE__MIX_SENDS) {
    /* as stereo_tail_pass sets the pass up, when no send is left for after it */
    mixstage__mix_stereo *t = &u->rest_tail;
    *t = (mixstage__mix_stereo){u->buf[0], u->buf[1], NULL, NULL, NULL, NULL, u->out[0], u->out[1],
                                u->fader_g1, u->pan1[0], u->pan1[1], u->pan1[2], u->mute_g1, 0,
                                {NULL, NULL}, {NULL, NULL}, {0.0f, 0.0f}};
    if (u->need_pre) {
      t->pre_l = u->pre[0];
      t->pre_r = u->pre[1];
    }
    if (u->rest_post) {
      t->post_l = u->post[0];
      t->post_r = u->post[1];
    }
    int fused = 1;
    for (int k = 0; k < u->send_count; k++) {
      const mixstage_send *snd = u->sends[k];
      fused &= snd->tap != MIXSTAGE_TAP_PRE_FADER;
      t->send_g[t->sends++] = snd->g1 * (snd->mute_g1 * u->mute_g1); /* as run_send */
    }
    if (fused) u->rest_stereo = mixstage__mixer_best()->stereo_for(t);
  }
  for (int i = 0; i < u->node_count; i++)
    if (u->nodes[i]->xf_pos < g->xfade) return 0;
  return 1;
}

/* The block's first boundary, when it starts on one; then whether the unit
 * is settled for the rest of the block.  A unit settled before the boundary
 * skips the step: settled, step_unit would leave every value as it is (only
 * the parameters' value_prev, which nothing reads, would be rewritten), and
 * with short host blocks (64 frames) most blocks start on a boundary.
 * Nothing unit_settled reads changes but through a setter, which moves the
 * controls epoch, or a new profile: a unit found settled under the epoch
 * and profile of now (and the same bounce run) skips the checks too, and
 * keeps its rest plan (rest_plan; a chain fault drops it). */
static int block_start_afresh(mixstage_graph *g, mixstage__unit *u, int64_t f0, rest_key key) {
  const mixstage_profile *prof = key.prof;
  int settled = unit_settled(g, u, prof);
  if (!settled && f0 % MIXSTAGE__CELL == 0) {
    step_unit(g, u, f0);
    prof = atomic_load_explicit(&g->profile, memory_order_acquire);
    settled = unit_settled(g, u, prof);
  }
  u->at_rest = settled && rest_plan(g, u);
  u->rest_epoch = key.epoch;
  u->rest_profile = prof;
  u->rest_bounce = g->bounce;
  return settled;
}

static MIXSTAGE__INLINE int block_start(mixstage_graph *g, mixstage__unit *u, int64_t f0, rest_key key, int *fresh) {
  if (u->at_rest && u->rest_epoch == key.epoch && u->rest_profile == key.prof && u->rest_bounce == g->bounce &&
      !u->shadows)
    return 1;
  *fresh = 1; /* looked at afresh: a group's plan is made again */
  return block_start_afresh(g, u, f0, key);
}

/* ---- settled chains, insert by insert over the block ------------------------
 * In a settled unit (unit_settled) no boundary of the block calls update()
 * or changes a node's mode, so its inserts can run one after the other over
 * the whole block instead of all of them cell by cell: each node sees the
 * same frames in the same order, so its output and state are the same.  A
 * class that takes more than one cell per call (max_frames) gets the block
 * in calls of up to max_frames, cut on the cell grid; the others a cell
 * per call.  The chain's output is checked once over the block; a fault
 * found there is located to its cell and contained as cell-by-cell
 * processing contains it (span_check), so renders keep their bits, faults
 * included.
 *
 * Whether settled unit u runs that way: its head over the block can be read
 * again (span_check reads the cells after a fault again), no node is
 * crossfading (its dry path and the nodes that run would change inside the
 * block), traced, keeps a gain-reduction history (a point per cell, which a
 * fault's re-run would repeat), reads its key through a delay line (sized
 * for one cell) or from its own unit. */
static int span_ready(const mixstage_graph *g, const mixstage__unit *u) {
  if (!head_blockwise(u)) return 0;
  for (int i = 0; i < u->node_count; i++) {
    const mixstage_node *nd = u->nodes[i];
    if (nd->xf_pos < g->xfade || nd->trace_wanted || nd->grh || nd->key_delay.delay > 0 || nd->key_unit == u)
      return 0;
  }
  return 1;
}

/* Frames a call of a class may take in a span: max_frames (at most a block)
 * rounded down to whole cells, at least one cell. */
static inline int span_cap(const mixstage__node_class *cls) {
  int mf = cls->max_frames < MIXSTAGE__BLOCK ? cls->max_frames : MIXSTAGE__BLOCK;
  return mf > MIXSTAGE__CELL ? mf - mf % MIXSTAGE__CELL : MIXSTAGE__CELL;
}

/* The call from frame f with left frames to go: up to cap, ending on the
 * cell grid or at the span's end. */
static inline int span_piece(int cap, int64_t f, int left) {
  int m = cap - (int)(f % MIXSTAGE__CELL);
  return m < left ? m : left;
}

/* A unit's working buffers from offset off (the chain reads only buf). */
static inline void buf_view(view *v, const mixstage__unit *u, int off) {
  for (int c = 0; c < u->channels; c++) v->buf[c] = u->buf[c] + off;
}

/* Insert i of unit u, on with latency, over a span's frames f0 .. f0+n-1
 * (offsets 0 .. n-1), as run_node takes it cell by cell, in calls of up to
 * the class's span_cap.  Its dry path (the bypass delay line) is kept warm
 * as there, but nothing reads it while the node runs on: the ring takes the
 * input, block-wise, and gives nothing back. */
static void span_node_latent(mixstage__unit *u, int i, int64_t f0, int n) {
  mixstage_node *nd = u->nodes[i];
  const int C = u->channels, cap = span_cap(nd->cls);
  const float *direct[MIXSTAGE_MAX_CHANNELS];
  view v;
  for (int off = 0, m; off < n; off += m) {
    m = span_piece(cap, f0 + off, n - off);
    buf_view(&v, u, off);
    delay_run(&nd->pre_delay, v.buf, C, m);
    mixstage__delay_push(&nd->bypass_delay, (const float *const *)v.buf, C, m);
    int kch;
    const float *const *key = node_key(nd, off, m, &kch, direct);
    nd->cls->process(nd->state, v.buf, C, m, key, kch);
  }
}

/* Insert i of unit u, bypassed or muted, over a span's frames f0 .. f0+n-1
 * through run_node cell by cell, as a chunk would; returns whether it ran
 * in the last cell (a muted node fades out). */
static int span_node_cells(mixstage_graph *g, mixstage__unit *u, int i, int64_t f0, int n,
                           float (*drybuf)[MIXSTAGE__CELL]) {
  view v;
  int ran = 0;
  for (int off = 0, m; off < n; off += m) {
    int64_t f = f0 + off;
    m = span_piece(MIXSTAGE__CELL, f, n - off);
    chain_walk cw = {chunk_cell(f, (int)(f % MIXSTAGE__CELL), m), 0, 0, NULL, drybuf};
    buf_view(&v, u, off);
    run_node(g, u, &v, off, m, i, &cw);
    ran = cw.ran_count != 0;
  }
  return ran;
}

/* The chains of units[0 .. count-1] (one settled, span_ready unit, or such
 * members of a lane group, whose chains have one shape) over frames
 * f0 .. f0+n-1, which are offsets 0 .. n-1 of their block buffers.  An
 * insert running on without latency (no dry path) is called directly, and
 * through its class's lane kernel for two or more members; one running on
 * with latency on its own (span_node_latent: lane kernels take no latency);
 * one bypassed or muted through run_node cell by cell.  w[k] gathers
 * member k's walk (which nodes ran).  A call from offset 0 takes the units'
 * own channel arrays (a short host block is one call per insert). */
static void span_chains(mixstage_graph *g, mixstage__unit *const *units, int count, int64_t f0, int n,
                        chain_walk *w) {
  float drybuf[MIXSTAGE_MAX_CHANNELS][MIXSTAGE__CELL];
  void *states[MIXSTAGE__GROUP_MAX];
  float *pb[MIXSTAGE__GROUP_MAX][MIXSTAGE_MAX_CHANNELS];
  float *const *bufs[MIXSTAGE__GROUP_MAX];
  const float *const *keys[MIXSTAGE__GROUP_MAX];
  int key_nch[MIXSTAGE__GROUP_MAX];
  const float *key_direct[MIXSTAGE__GROUP_MAX][MIXSTAGE_MAX_CHANNELS];
  mixstage_node *lane_nd[MIXSTAGE__GROUP_MAX];
  int lane_k[MIXSTAGE__GROUP_MAX];
  const mixstage__unit *u0 = units[0];
  const int C = u0->channels;
  for (int k = 0; k < count; k++) w[k] = (chain_walk){-1, 0, 0, NULL, drybuf};
  for (int i = 0; i < u0->node_count; i++) {
    const mixstage__node_class *cls = u0->nodes[i]->cls;
    int lanes = 0, aligned = 0;
    for (int k = 0; k < count; k++) {
      mixstage_node *nd = units[k]->nodes[i];
      if (nd->mode == 0 && nd->latency == 0) {
        lane_nd[lanes] = nd;
        lane_k[lanes] = k;
        states[lanes] = nd->state;
        bufs[lanes] = units[k]->buf;
        keys[lanes] = NULL;
        key_nch[lanes] = 0;
        /* a pre-delay or a key to follow the calls; else nothing to do per call */
        aligned |= nd->pre_delay.delay > 0 || nd->key_unit;
        lanes++;
        continue;
      }
      if (nd->mode == 0) {
        span_node_latent(units[k], i, f0, n);
        node_ran(&w[k], nd);
        node_gr(&w[k], nd);
        continue;
      }
      /* bypassed or muted: as cell by cell */
      if (span_node_cells(g, units[k], i, f0, n, drybuf)) node_ran(&w[k], nd);
    }
    if (!lanes) continue;
    const int cap = span_cap(cls);
    for (int off = 0, m; off < n; off += m) {
      m = span_piece(cap, f0 + off, n - off);
      if (off) {
        for (int q = 0; q < lanes; q++) {
          float **b = pb[q];
          float *const *base = units[lane_k[q]]->buf;
          for (int c = 0; c < C; c++) b[c] = base[c] + off;
          bufs[q] = b;
        }
      }
      if (aligned) {
        for (int q = 0; q < lanes; q++) {
          mixstage_node *nd = lane_nd[q];
          if (nd->pre_delay.delay <= 0 && !nd->key_unit) continue;
          /* as run_node: the pre-delay, then the key (aligned) */
          delay_run(&nd->pre_delay, bufs[q], C, m);
          keys[q] = node_key(nd, off, m, &key_nch[q], key_direct[q]);
        }
      }
      if (lanes >= 2 && cls->process_lanes && cls->process_lanes(states, bufs, keys, key_nch, lanes, C, m))
        continue;
      for (int q = 0; q < lanes; q++) cls->process(states[q], bufs[q], C, m, keys[q], key_nch[q]);
    }
    for (int q = 0; q < lanes; q++) {
      node_ran(&w[lane_k[q]], lane_nd[q]);
      node_gr(&w[lane_k[q]], lane_nd[q]);
    }
  }
}

/* After span_chains: unit u's chain output over the block, checked once.
 * A fault is found in its cell and contained there as settled_cell_check
 * does, with the node that ran (ran); the chain then started afresh, so
 * the cells after it run again from the head (the source or bus sum read
 * again gives the same samples), cell by cell as run_unit_settled would
 * have run them from that cell on.  flagged: the caller's first test found
 * the output may not be finite (skips it here). */
static int span_check(mixstage_graph *g, mixstage__unit *u, int64_t f0, int n, mixstage_node *ran, int flagged) {
  const int C = u->channels;
  if (!flagged && (C == 2 ? !maybe_non_finite2(u->buf[0], u->buf[1], n) : !non_finite(u->buf, C, n))) return 0;
  int faults = 0, off = 0, m;
  view v;
  for (; off < n; off += m) {
    int64_t f = f0 + off;
    m = span_piece(MIXSTAGE__CELL, f, n - off);
    make_view(&v, u->buf, u->pre, u->post, u->out, C, u->out_channels, off);
    if (non_finite(v.buf, C, m)) {
      chain_fault(g, u, &v, f, off, m, ran);
      faults++;
      off += m;
      break;
    }
  }
  for (; off < n; off += m) {
    int64_t f = f0 + off;
    int o = (int)(f % MIXSTAGE__CELL);
    m = span_piece(MIXSTAGE__CELL, f, n - off);
    faults += chunk_head(g, u, &v, f, o, off, m);
    mixstage_node *r;
    faults += run_nodes(g, u, &v, off, m, chunk_cell(f, o, m), &r);
    faults += settled_cell_check(g, u, &v, f, off, m, r);
  }
  return faults;
}

/* The head of a settled unit over the whole block (head_blockwise): the bus
 * sum, or the source read with its constant clip gain.  A strip at rest
 * reading a stereo buffer source is read here directly: settled, its clip
 * gain is one value at both boundaries and has no lane, so chunk_head would
 * take the fused copy (read_source) with that gain, as this does. */
static int settled_head(mixstage_graph *g, mixstage__unit *u, const mixstage__mixer *mx, int64_t f0, int n) {
  if (u->kind == MIXSTAGE__UNIT_BUS) {
    mixstage_bus *b = (mixstage_bus *)u;
    if (u->at_rest && b->sum_plain) bus_sum_plain(mx, b, u->buf, u->channels, n);
    else bus_sum(mx, b, u->buf, 0, u->channels, n);
    return 0;
  }
  mixstage_strip *s = (mixstage_strip *)u;
  if (s->src.kind == 1 && s->src.channels == 2 && u->channels == 2 && !u->scan_each) {
    float g1 = s->clip_g1;
    int clip = !(g1 == 1.0f);
    int64_t avail = s->src.frames - f0;
    int m = avail <= 0 ? 0 : avail < n ? (int)avail : n;
    mx->deinterleave2(s->src.data + (size_t)(m ? f0 : 0) * 2u, u->buf[0], u->buf[1], m, clip ? g1 : 1.0f, clip);
    if (m < n) {
      float z = clip ? 0.0f * g1 : 0.0f;
      fill(u->buf[0] + m, z, n - m);
      fill(u->buf[1] + m, z, n - m);
    }
    if (u->need_in)
      for (int c = 0; c < 2; c++) memcpy(u->in[c], u->buf[c], sizeof(float) * (size_t)n);
    return 0;
  }
  view v;
  return chunk_head(g, u, &v, f0, (int)(f0 % MIXSTAGE__CELL), 0, n);
}

/* A spanned unit's check and tail over the block.  When the tail is one
 * mixer pass (rest_mix), the check rides on it: only a pass that flags its
 * input runs span_check (and the pass again, over what span_check left). */
static int span_finish(mixstage_graph *g, mixstage__unit *u, const mixstage__mixer *mx, int64_t f0, int n,
                       mixstage_node *ran) {
  if (u->rest_stereo) {
    mixstage__mix_stereo *t = &u->rest_tail;
    t->out_l = u->out[0];
    t->out_r = u->out[1];
    for (int k = 0; k < t->sends; k++) {
      t->send_l[k] = u->sends[k]->buf[0];
      t->send_r[k] = u->sends[k]->buf[1];
    }
    if (!u->rest_stereo(t, n)) return 0;
    int faults = span_check(g, u, f0, n, ran, 1);
    u->rest_stereo(t, n);
    return faults;
  }
  if (u->rest_mix) {
    if (!stereo_tail_pass(mx, u, NULL, 0, n, u->rest_post)) return 0;
    int faults = span_check(g, u, f0, n, ran, 1);
    stereo_tail_pass(mx, u, NULL, 0, n, u->rest_post);
    return faults;
  }
  int faults = span_check(g, u, f0, n, ran, 0);
  settled_tail(u, f0, n);
  return faults;
}

/* A settled unit alone: the head over the block, the chain insert by insert
 * over the block (span_chains) or, when it cannot, the chain and its check
 * cell by cell; the tail over the block. */
static int run_unit_settled(mixstage_graph *g, mixstage__unit *u, int64_t f0, int n) {
  int faults = 0;
  view v;
  const mixstage__mixer *mx = mixstage__mixer_best();
  int block_head = head_blockwise(u);
  if (block_head) faults += settled_head(g, u, mx, f0, n);
  if (u->rest_span) {
    chain_walk w;
    span_chains(g, &u, 1, f0, n, &w);
    return faults + span_finish(g, u, mx, f0, n, w.ran);
  }
  for (int done = 0; done < n;) {
    int64_t f = f0 + done;
    int o = (int)(f % MIXSTAGE__CELL);
    int m = MIXSTAGE__CELL - o;
    if (m > n - done) m = n - done;
    faults += settled_cell_head(g, u, &v, block_head, f, o, done, m);
    mixstage_node *ran;
    faults += run_nodes(g, u, &v, done, m, chunk_cell(f, o, m), &ran);
    faults += settled_cell_check(g, u, &v, f, done, m, ran);
    done += m;
  }
  settled_tail(u, f0, n);
  return faults;
}

/* ---- lane groups (group.c) ------------------------------------------------------
 * A group runs chunk by chunk: each member's head, then insert by insert the
 * chain (one process_lanes call for the members that run that insert
 * plainly, the others on their own), then each member's tail and forks.
 * Members are independent (one schedule level), so interleaving their
 * chunks changes no result: every member sees exactly the sequence of
 * operations it would see running alone, and the lane kernels give the
 * bits of process(). */

/* Whether insert nd can go through its class's lane kernel this chunk:
 * running on, not crossfading, without latency (no dry path to keep), gain
 * trace or per-node fault scan. */
static inline int lane_ready(const mixstage_graph *g, const mixstage__unit *u, const mixstage_node *nd) {
  return nd->mode == 0 && nd->xf_pos >= g->xfade && nd->latency == 0 && !nd->trace_wanted && !u->scan_each;
}

/* A group whose members all rest and run their chains by span: the calls
 * span_chains makes over a block that is one call per insert (it starts at
 * most plan.cap frames before a cell's end), gathered once.  While every
 * member stays at rest (no member is looked at afresh, block_start) all of
 * it holds: which members run an insert on (the node modes), the node
 * states, the units' channel arrays (render.c's rings swap only outputs and
 * sends), each key's tap arrays (span_ready: no key delay line; at rest: no
 * bounce forks), and so which node of a chain is the one that ran.
 * Returns 0 for a chain longer than the plan holds. */
static int group_plan_build(const mixstage_graph *g, mixstage__group *grp) {
  mixstage__group_plan *p = &grp->plan;
  const mixstage__unit *u0 = grp->units[0];
  if (u0->node_count > MIXSTAGE__PLAN_NODES) return 0;
  int ran_count[MIXSTAGE__GROUP_MAX];
  p->cap = MIXSTAGE__BLOCK;
  for (int k = 0; k < grp->count; k++) {
    ran_count[k] = 0;
    p->ran[k] = NULL;
  }
  for (int i = 0; i < u0->node_count; i++) {
    mixstage__plan_insert *ins = &p->ins[i];
    int cap = span_cap(u0->nodes[i]->cls);
    if (cap < p->cap) p->cap = cap;
    ins->lanes = ins->delayed = ins->others = 0;
    for (int k = 0; k < grp->count; k++) {
      mixstage__unit *u = grp->units[k];
      mixstage_node *nd = u->nodes[i];
      /* as run_node, a node runs when on (not fading, at rest) */
      if (nd->mode == 0) {
        ran_count[k]++;
        p->ran[k] = nd;
      }
      if (nd->mode != 0 || nd->latency != 0) {
        ins->others = 1;
        continue;
      }
      int q = ins->lanes++;
      ins->nodes[q] = nd;
      ins->states[q] = nd->state;
      ins->bufs[q] = u->buf;
      ins->keys[q] = NULL;
      ins->key_nch[q] = 0;
      if (nd->key_unit) { /* node_key's direct read, from offset 0 */
        const mixstage__unit *ku = nd->key_unit;
        int pre = nd->key_tap == MIXSTAGE_TAP_PRE_FADER;
        ins->keys[q] = (const float *const *)(pre ? ku->pre : ku->post);
        ins->key_nch[q] = pre ? ku->channels : ku->out_channels;
      }
      ins->delayed |= nd->pre_delay.delay > 0;
    }
  }
  for (int k = 0; k < grp->count; k++)
    if (ran_count[k] != 1) p->ran[k] = NULL;
  p->valid = 1;
  (void)g;
  return 1;
}

/* The group's chains over frames f0 .. f0+n-1 by its plan: what
 * span_chains does, in the same order, without gathering it again. */
static void group_plan_run(mixstage_graph *g, mixstage__group *grp, int64_t f0, int n) {
  const mixstage__group_plan *p = &grp->plan;
  const mixstage__unit *u0 = grp->units[0];
  const int C = u0->channels;
  for (int i = 0; i < u0->node_count; i++) {
    const mixstage__plan_insert *ins = &p->ins[i];
    const mixstage__node_class *cls = u0->nodes[i]->cls;
    if (ins->others) {
      float drybuf[MIXSTAGE_MAX_CHANNELS][MIXSTAGE__CELL];
      for (int k = 0; k < grp->count; k++) {
        mixstage__unit *u = grp->units[k];
        mixstage_node *nd = u->nodes[i];
        if (nd->mode == 0 && nd->latency == 0) continue;
        if (nd->mode == 0) {
          span_node_latent(u, i, f0, n);
          if (cls->gain_reduction) /* node_gr: no history in a span */
            atomic_store_explicit(&nd->gr_db, cls->gain_reduction(nd->state), memory_order_relaxed);
          continue;
        }
        span_node_cells(g, u, i, f0, n, drybuf);
      }
    }
    const int lanes = ins->lanes;
    if (!lanes) continue;
    if (ins->delayed)
      for (int q = 0; q < lanes; q++) delay_run(&ins->nodes[q]->pre_delay, ins->bufs[q], C, n);
    if (!(lanes >= 2 && cls->process_lanes &&
          cls->process_lanes(ins->states, ins->bufs, ins->keys, ins->key_nch, lanes, C, n)))
      for (int q = 0; q < lanes; q++) cls->process(ins->states[q], ins->bufs[q], C, n, ins->keys[q], ins->key_nch[q]);
    if (cls->gain_reduction) /* node_gr: no history in a span */
      for (int q = 0; q < lanes; q++)
        atomic_store_explicit(&ins->nodes[q]->gr_db, cls->gain_reduction(ins->states[q]), memory_order_relaxed);
  }
}

/* Attached meters (analysis.h) read the main pass only, never a bounce's
 * forks.  buf keeps the post-insert signal through the block (fader_pan
 * writes post), so it serves as the pre-fader tap even without a pre copy. */
static inline void push_meters(mixstage__unit *u, int n) {
  if (u->meter[MIXSTAGE_TAP_PRE_FADER]) mixstage__meter_push_planar(u->meter[MIXSTAGE_TAP_PRE_FADER], u->buf, n);
  if (u->meter[MIXSTAGE_TAP_POST_FADER]) mixstage__meter_push_planar(u->meter[MIXSTAGE_TAP_POST_FADER], u->out, n);
}

int mixstage__run_group(mixstage_graph *g, mixstage__group *grp, int64_t f0, int n) {
  int faults = 0, count = grp->count;
  view v[MIXSTAGE__GROUP_MAX];
  chain_walk w[MIXSTAGE__GROUP_MAX];
  float drybuf[MIXSTAGE_MAX_CHANNELS][MIXSTAGE__CELL];
  void *states[MIXSTAGE__GROUP_MAX];
  float *const *bufs[MIXSTAGE__GROUP_MAX];
  const float *const *keys[MIXSTAGE__GROUP_MAX];
  int key_nch[MIXSTAGE__GROUP_MAX];
  const float *key_direct[MIXSTAGE__GROUP_MAX][MIXSTAGE_MAX_CHANNELS];
  int plain[MIXSTAGE__GROUP_MAX];
  int settled[MIXSTAGE__GROUP_MAX], block_head[MIXSTAGE__GROUP_MAX], span[MIXSTAGE__GROUP_MAX];
  mixstage__unit *spanned[MIXSTAGE__GROUP_MAX];
  int nspan = 0;
  mixstage__unit *u0 = grp->units[0];
  int C = u0->channels;
  const mixstage__mixer *mx = mixstage__mixer_best();
  rest_key key = rest_key_now(g);
  /* Settled members (unit_settled) read their heads over the block here and
   * run their tails after the last cell; those that can run their chains
   * insert by insert over the block together (span_chains) and then their
   * tails, the others go cell by cell. */
  int fresh = 0;
  for (int k = 0; k < count; k++) {
    mixstage__unit *u = grp->units[k];
    settled[k] = block_start(g, u, f0, key, &fresh);
    block_head[k] = settled[k] && head_blockwise(u);
    if (block_head[k]) faults += settled_head(g, u, mx, f0, n);
    span[k] = settled[k] && u->rest_span;
    if (span[k]) spanned[nspan++] = u;
  }
  mixstage__group_plan *plan = &grp->plan;
  if (fresh || nspan < count) plan->valid = 0;
  if (nspan == count && (plan->valid || group_plan_build(g, grp)) && (int)(f0 % MIXSTAGE__CELL) + n <= plan->cap) {
    group_plan_run(g, grp, f0, n);
    for (int k = 0; k < count; k++) faults += span_finish(g, grp->units[k], mx, f0, n, plan->ran[k]);
  } else if (nspan) {
    span_chains(g, spanned, nspan, f0, n, w);
    for (int j = 0; j < nspan; j++) faults += span_finish(g, spanned[j], mx, f0, n, w[j].ran);
  }
  for (int done = 0; done < n && nspan < count;) {
    int64_t f = f0 + done;
    int o = (int)(f % MIXSTAGE__CELL);
    int m = MIXSTAGE__CELL - o;
    if (m > n - done) m = n - done;
    for (int k = 0; k < count; k++) {
      mixstage__unit *u = grp->units[k];
      if (span[k]) continue;
      if (settled[k]) {
        faults += settled_cell_head(g, u, &v[k], block_head[k], f, o, done, m);
      } else {
        if (o == 0 && done > 0) step_unit(g, u, f);
        faults += chunk_head(g, u, &v[k], f, o, done, m);
      }
      w[k] = (chain_walk){chunk_cell(f, o, m), 0, 0, NULL, drybuf};
    }
    for (int i = 0; i < u0->node_count; i++) {
      const mixstage__node_class *cls = u0->nodes[i]->cls;
      int lanes = 0;
      for (int k = 0; k < count; k++) {
        mixstage__unit *u = grp->units[k];
        plain[k] = !span[k] && cls->process_lanes && lane_ready(g, u, u->nodes[i]);
        if (plain[k]) {
          /* as run_node: the pre-delay, then the key (aligned) */
          delay_run(&u->nodes[i]->pre_delay, v[k].buf, C, m);
          keys[lanes] = node_key(u->nodes[i], done, m, &key_nch[lanes], key_direct[lanes]);
          states[lanes] = u->nodes[i]->state;
          bufs[lanes++] = v[k].buf;
        }
      }
      /* The others one by one (the pre-delay and key of those gathered
       * above were done). */
      int together = lanes >= 2 && cls->process_lanes(states, bufs, keys, key_nch, lanes, C, m);
      int q = 0; /* index among the gathered */
      for (int k = 0; k < count; k++) {
        mixstage__unit *u = grp->units[k];
        mixstage_node *nd = u->nodes[i];
        if (span[k]) continue;
        if (!plain[k]) {
          run_node(g, u, &v[k], done, m, i, &w[k]);
          continue;
        }
        if (!together) nd->cls->process(nd->state, v[k].buf, C, m, keys[q], key_nch[q]);
        q++;
        node_ran(&w[k], nd);
        node_gr(&w[k], nd);
      }
    }
    for (int k = 0; k < count; k++) {
      mixstage__unit *u = grp->units[k];
      if (span[k]) continue;
      faults += w[k].faults;
      if (settled[k]) {
        faults += settled_cell_check(g, u, &v[k], f, done, m, w[k].ran);
        continue;
      }
      faults += chunk_tail(g, u, &v[k], f, o, done, m, w[k].ran);
      for (mixstage__shadow *sh = u->shadows; sh; sh = sh->next) mixstage__shadow_chunk(g, sh, f, o, done, m);
    }
    done += m;
  }
  for (int k = 0; k < count; k++) {
    mixstage__unit *u = grp->units[k];
    if (settled[k] && !span[k]) settled_tail(u, f0, n);
    push_meters(u, n);
  }
  return faults;
}

/* A unit processes a whole block (up to MIXSTAGE__BLOCK frames) before the
 * next unit runs: its state stays in cache, and units of one schedule level
 * can run on different threads.  Inside, work still follows the control grid,
 * so the result is the same as cell-by-cell interleaving. */
int mixstage__run_unit(mixstage_graph *g, mixstage__unit *u, int64_t f0, int n) {
  int faults = 0, fresh = 0;
  if (block_start(g, u, f0, rest_key_now(g), &fresh)) {
    faults = run_unit_settled(g, u, f0, n);
  } else {
    for (int done = 0; done < n;) {
      int64_t f = f0 + done;
      int o = (int)(f % MIXSTAGE__CELL);
      int m = MIXSTAGE__CELL - o;
      if (m > n - done) m = n - done;
      if (o == 0 && done > 0) step_unit(g, u, f);
      faults += run_chunk(g, u, f, o, done, m);
      for (mixstage__shadow *sh = u->shadows; sh; sh = sh->next) mixstage__shadow_chunk(g, sh, f, o, done, m);
      done += m;
    }
  }
  push_meters(u, n);
  return faults;
}

/* Schedule entry u: its group, when u leads one (the schedule is sorted by
 * level and a group is one level, so every member's inputs are done);
 * nothing for the other members; else u alone. */
int mixstage__run_scheduled(mixstage_graph *g, mixstage__unit *u, int64_t f0, int n) {
  if (!u->group) return mixstage__run_unit(g, u, f0, n);
  return u->group->units[0] == u ? mixstage__run_group(g, u->group, f0, n) : 0;
}

/* A change moves the controls epoch: a unit that checked itself against
 * the old state after a solo setter moved the epoch must check again. */
static void update_solo(mixstage_graph *g) {
  int solo = 0;
  for (int i = 0; i < g->strip_count; i++)
    solo |= atomic_load_explicit(&g->strips[i]->u.solo_req, memory_order_relaxed);
  if (solo != g->any_solo) mixstage__controls_moved(g);
  g->any_solo = solo;
}

void mixstage__emit(mixstage_graph *g, float *const *out, int out_channels, int done, int n, int stride,
                    float *interleaved) {
  mixstage__unit *mix = &g->buses[0]->u;
#if defined(__SSE__)
  if (interleaved && out_channels == 2 && stride == 2) { /* the common case: a copy, in pairs of vectors */
    const float *l = mix->out[0], *r = mix->out[1];
    float *y = interleaved + (size_t)done * 2u;
    int i = 0;
    for (; i + 4 <= n; i += 4) {
      __m128 a = _mm_loadu_ps(l + i), b = _mm_loadu_ps(r + i);
      _mm_storeu_ps(y + 2 * i, _mm_unpacklo_ps(a, b));
      _mm_storeu_ps(y + 2 * i + 4, _mm_unpackhi_ps(a, b));
    }
    for (; i < n; i++) {
      y[2 * i] = l[i];
      y[2 * i + 1] = r[i];
    }
    return;
  }
#endif
  if (interleaved) {
    for (int c = 0; c < out_channels; c++) {
      const float *x = mix->out[c];
      float *y = interleaved + (size_t)done * (size_t)stride + (size_t)c;
      for (int i = 0; i < n; i++) y[(size_t)i * (size_t)stride] = x[i];
    }
  } else {
    for (int c = 0; c < out_channels; c++) memcpy(out[c] + done, mix->out[c], sizeof(float) * (size_t)n);
  }
}

/* Processes `frames` frames from g->pos on the calling thread; writes the mix
 * bus output either planar (out) or interleaved.  Returns the NaN faults. */
int mixstage__process_cells(mixstage_graph *g, float *const *out, int out_channels, int frames,
                            int stride, float *interleaved) {
  int faults = 0;
  int done = 0;
  mixstage__fp_mode mode = fp_enter();
  while (done < frames) {
    /* Blocks on the grid of MIXSTAGE__BLOCK frames from position 0, whatever
     * the caller's: a settled lane group then runs its inserts over whole
     * runs of cells (group_plan_run) instead of pieces cut at a cell inside. */
    int room = MIXSTAGE__BLOCK - (int)(g->pos % MIXSTAGE__BLOCK);
    int n = frames - done < room ? frames - done : room;
    update_solo(g);
    for (int i = 0; i < g->schedule_count; i++) faults += mixstage__run_scheduled(g, g->schedule[i], g->pos, n);
    mixstage__emit(g, out, out_channels, done, n, stride, interleaved);
    if (g->bounce) g->bounce->collect(g, g->pos, n);
    done += n;
    g->pos += n;
  }
  fp_leave(mode);
  return faults;
}

static int check_process(mixstage_graph *g, int frames) {
  if (!g) return MIXSTAGE_ENULL;
  /* Error paths only: the message is formatted into the graph's fixed buffer
   * (no allocation), so a host sees why its block was refused. */
  if (MIXSTAGE__BUSY(g, "graph: process (called from one of its own callbacks)")) return MIXSTAGE_ESTATE;
  if (!g->prepared)
    return mixstage__fail(g, MIXSTAGE_ESTATE, "graph: process needs a prepared graph "
                          "(call mixstage_graph_prepare first)");
  if (frames < 1 || frames > g->max_block)
    return mixstage__fail(g, MIXSTAGE_EBLOCKSIZE, "graph: a block of %d frames; this graph "
                          "processes 1 .. %d (its max_block_frames)", frames, g->max_block);
  return MIXSTAGE_OK;
}

MIXSTAGE_EXPORT int mixstage_graph_process(mixstage_graph *g, float *out, int frames) {
  int rc = check_process(g, frames);
  if (rc != MIXSTAGE_OK) return rc;
  if (!out) return MIXSTAGE_ENULL;
  int ch = g->buses[0]->u.channels;
  atomic_fetch_add_explicit(&g->busy, 1, memory_order_acq_rel);
  int faults = mixstage__process_cells(g, NULL, ch, frames, ch, out);
  atomic_fetch_sub_explicit(&g->busy, 1, memory_order_acq_rel);
  return faults ? MIXSTAGE_ENUMERIC : MIXSTAGE_OK;
}

MIXSTAGE_EXPORT int mixstage_graph_process_planar(mixstage_graph *g, float *const *out, int channels,
                                                  int frames) {
  int rc = check_process(g, frames);
  if (rc != MIXSTAGE_OK) return rc;
  if (!out) return MIXSTAGE_ENULL;
  if (channels != g->buses[0]->u.channels)
    return mixstage__fail(g, MIXSTAGE_ECHANNELS, "graph: process_planar got %d channels; the "
                          "mix bus has %d", channels, g->buses[0]->u.channels);
  for (int c = 0; c < channels; c++)
    if (!out[c]) return MIXSTAGE_ENULL;
  atomic_fetch_add_explicit(&g->busy, 1, memory_order_acq_rel);
  int faults = mixstage__process_cells(g, out, channels, frames, 0, NULL);
  atomic_fetch_sub_explicit(&g->busy, 1, memory_order_acq_rel);
  return faults ? MIXSTAGE_ENUMERIC : MIXSTAGE_OK;
}

/* ---- reset and locate ---------------------------------------------------------- */

static void reset_unit(mixstage__unit *u, int64_t f) {
  for (int c = 0; c < MIXSTAGE_MAX_CHANNELS; c++) {
    if (u->buf[c]) memset(u->buf[c], 0, sizeof(float) * MIXSTAGE__BLOCK);
    if (u->pre[c]) memset(u->pre[c], 0, sizeof(float) * MIXSTAGE__BLOCK);
    if (u->post[c]) memset(u->post[c], 0, sizeof(float) * MIXSTAGE__BLOCK);
    if (u->out[c]) memset(u->out[c], 0, sizeof(float) * MIXSTAGE__BLOCK);
  }
  u->scan_each = 0;
  mixstage__param_snap(&u->fader, f);
  mixstage__param_snap(&u->pan, f);
  mixstage__param_snap(&u->width, f);
  u->fader_g0 = u->fader_g1 = db_gain(u->fader.value);
  int muted = atomic_load(&u->mute_req);
  if (u->kind == MIXSTAGE__UNIT_STRIP && u->graph->any_solo && !atomic_load(&u->solo_req)) muted = 1;
  u->mute_target = u->mute_g0 = u->mute_g1 = muted ? 0.0f : 1.0f;
  pan_coefs(u->channels, u->out_channels, u->pan.value, u->width.value, u->pan1);
  memcpy(u->pan0, u->pan1, sizeof u->pan0);
  if (u->kind == MIXSTAGE__UNIT_STRIP) {
    mixstage_strip *s = (mixstage_strip *)u;
    mixstage__param_snap(&s->clip_gain, f);
    float cg = s->clip_lin = db_gain(s->clip_gain.value);
    s->clip_g0 = s->clip_g1 = atomic_load(&s->polarity_req) ? -cg : cg;
  }
  for (int i = 0; i < u->send_count; i++) {
    mixstage_send *s = u->sends[i];
    mixstage__param_snap(&s->level, f);
    s->g0 = s->g1 = db_gain(s->level.value);
    s->mute_g0 = s->mute_g1 = atomic_load(&s->mute_req) ? 0.0f : 1.0f;
    for (int c = 0; c < MIXSTAGE_MAX_CHANNELS; c++)
      if (s->buf[c]) memset(s->buf[c], 0, sizeof(float) * MIXSTAGE__BLOCK);
  }
  for (int i = 0; i < u->node_count; i++) {
    mixstage_node *n = u->nodes[i];
    atomic_store(&n->ctl_dirty, 0);
    n->mode = n->mode_prev = node_mode(atomic_load(&u->graph->profile), n);
    n->xf_pos = u->graph->xfade;
    int lanes = 0;
    for (int p = 0; p < n->cls->num_params; p++) {
      mixstage__param_snap(&n->params[p], f);
      n->pv[p] = n->params[p].value;
      if (n->params[p].lane && n->params[p].lane->count) lanes = 1;
    }
    n->ctl_active = lanes;
    if (n->cls->update) n->cls->update(n->state, n->pv);
    if (n->cls->reset) n->cls->reset(n->state);
    atomic_store(&n->gr_db, 0.0f);
    mixstage__delay_clear(&n->key_delay);
    mixstage__delay_clear(&n->pre_delay);
    mixstage__delay_clear(&n->bypass_delay);
  }
  if (u->kind == MIXSTAGE__UNIT_BUS) {
    mixstage_bus *b = (mixstage_bus *)u;
    for (int i = 0; i < b->input_count; i++) mixstage__delay_clear(&b->inputs[i].comp);
  }
}

void mixstage__reset_runtime(mixstage_graph *g) {
  int solo = 0;
  for (int i = 0; i < g->strip_count; i++) solo |= atomic_load(&g->strips[i]->u.solo_req);
  g->any_solo = solo;
  for (int i = 0; i < g->schedule_count; i++) reset_unit(g->schedule[i], g->pos);
  mixstage__controls_moved(g);
}

MIXSTAGE_EXPORT int mixstage_graph_locate(mixstage_graph *g, int64_t frame) {
  if (!g) return MIXSTAGE_ENULL;
  if (MIXSTAGE__BUSY(g, "graph: locate")) return MIXSTAGE_ESTATE;
  if (!g->prepared) return mixstage__fail(g, MIXSTAGE_ESTATE, "graph: locate needs a prepared graph");
  if (frame < 0) return mixstage__fail(g, MIXSTAGE_ERANGE, "graph: locate to negative frame %lld", (long long)frame);
  /* Frame positions are signed 64-bit: keep a year's worth of headroom at
   * 768 kHz so that no later block (nor a lane's frame arithmetic) can
   * overflow. */
  if (frame > INT64_MAX / 2)
    return mixstage__fail(g, MIXSTAGE_ERANGE, "graph: locate to frame %lld is beyond %lld", (long long)frame,
                          (long long)(INT64_MAX / 2));
  g->pos = frame;
  mixstage__reset_runtime(g);
  return MIXSTAGE_OK;
}

MIXSTAGE_EXPORT int64_t mixstage_graph_position(const mixstage_graph *g) { return g ? g->pos : 0; }

/* ---- forks of a bounce (bounce.c builds them) --------------------------------- */

static void run_snodes(mixstage_graph *g, mixstage__shadow *sh, float *const *buf, int n) {
  mixstage__unit *u = sh->unit;
  int C = u->channels;
  for (int i = 0; i < u->node_count; i++) {
    mixstage__snode *sn = &sh->nodes[i];
    mixstage_node *nd = sn->node;
    delay_run(&sn->pre_delay, buf, C, n);
    int mode = sn->mode;
    if (mode == MIXSTAGE__SN_TRACE) {
      int ok = sn->provider ? sn->provider->trace_ok : nd->trace_ok;
      float *const *tr = sn->provider ? sn->provider->trace : nd->trace;
      if (ok) {
        delay_run(&sn->delay, buf, C, n);
        for (int c = 0; c < C; c++)
          for (int k = 0; k < n; k++) buf[c][k] *= tr[c][k];
        continue;
      }
      mode = MIXSTAGE__SN_INSTANCE; /* the gain cannot be traced now: run a copy */
      if (g->bounce) g->bounce->trace_fallbacks++;
    }
    if (mode == MIXSTAGE__SN_DELAY) {
      delay_run(&sn->delay, buf, C, n);
    } else if (mode == MIXSTAGE__SN_MUTE) {
      delay_run(&sn->delay, buf, C, n);
      for (int c = 0; c < C; c++) memset(buf[c], 0, sizeof(float) * (size_t)n);
    } else {
      if (sn->serial != nd->update_serial) {
        if (nd->cls->update) nd->cls->update(sn->state, nd->pv);
        sn->serial = nd->update_serial;
      }
      const float *const *key = nd->key_unit ? (const float *const *)nd->key_buf : NULL;
      int kch = nd->key_unit ? (nd->key_tap == MIXSTAGE_TAP_PRE_FADER ? nd->key_unit->channels
                                                                    : nd->key_unit->out_channels)
                             : 0;
      nd->cls->process(sn->state, buf, C, n, key, kch);
      if (sn->trace_wanted)
        sn->trace_ok = nd->cls->gain_trace ? nd->cls->gain_trace(sn->state, sn->trace, C, n) : 0;
      if (non_finite(buf, C, n)) {
        for (int c = 0; c < C; c++) memset(buf[c], 0, sizeof(float) * (size_t)n);
        if (nd->cls->reset) nd->cls->reset(sn->state);
        atomic_fetch_add(&nd->faults, 1);
        atomic_store(&g->fault_chain, 0);
        atomic_store(&g->fault_node, nd);
        atomic_store(&g->fault_pending, 1);
      }
    }
  }
}

void mixstage__shadow_chunk(mixstage_graph *g, mixstage__shadow *sh, int64_t f, int o, int off, int n) {
  mixstage__unit *u = sh->unit;
  int C = u->channels;
  view v;
  make_view(&v, sh->buf, sh->pre, sh->post, sh->out, C, u->out_channels, off);
  if (sh->from_in) {
    for (int c = 0; c < C; c++) memcpy(v.buf[c], u->in[c] + off, sizeof(float) * (size_t)n);
  } else {
    for (int c = 0; c < C; c++) memset(v.buf[c], 0, sizeof(float) * (size_t)n);
    for (int i = 0; i < sh->input_count; i++) sum_input(v.buf, sh->inputs[i].src, off, &sh->inputs[i].comp, C, n);
  }
  run_snodes(g, sh, v.buf, n);
  if (sh->pre[0])
    for (int c = 0; c < C; c++) memcpy(v.pre[c], v.buf[c], sizeof(float) * (size_t)n);
  gain_stage(u, &v, f, o, n);
  if (sh->sbuf) {
    /* A fork's sends feed the forks of the returns, with the profile's
     * actions on the send roles. */
    for (int si = 0; si < u->send_count; si++) {
      mixstage_send *s = u->sends[si];
      float *const *dst = &sh->sbuf[si * MIXSTAGE_MAX_CHANNELS];
      run_send(u, s, dst, &v, f, o, off, n);
      if (sh->profile->action[s->role] == MIXSTAGE_ACTION_MUTE)
        for (int c = 0; c < s->to->u.channels; c++) memset(dst[c] + off, 0, sizeof(float) * (size_t)n);
    }
  }
}
