/* Parameters: smoothing of control-thread changes, and automation lanes. */
#include <math.h>
#include <stdio.h>
#include <string.h>
#include "internal.h"

void mixstage__param_init(mixstage__param *p, const mixstage_param_info *info) {
  p->info = info;
  atomic_init(&p->target, info->def);
  p->value = p->value_prev = info->def;
  p->lane = NULL;
}

static int is_discrete(const mixstage_param_info *info) {
  return info->unit == MIXSTAGE_UNIT_BOOL || info->unit == MIXSTAGE_UNIT_ENUM;
}

/* One control step.  Without a lane, continuous values follow the target
 * through a one-pole smoother (no zipper noise) and snap when within a
 * millionth of the range; discrete values jump.  With a lane, the lane's
 * value at the boundary frame rules. */
int mixstage__param_step_moving(mixstage__param *p, int64_t f, double smooth_coef) {
  double v;
  p->value_prev = p->value;
  if (p->lane && p->lane->count > 0) {
    v = mixstage__lane_eval(p->lane, f);
  } else {
    double t = atomic_load_explicit(&p->target, memory_order_relaxed);
    if (t == p->value) return 0;
    if (is_discrete(p->info)) {
      v = t;
    } else {
      v = t + (p->value - t) * smooth_coef;
      if (fabs(v - t) <= 1e-6 * (p->info->max - p->info->min)) v = t;
    }
  }
  p->value = v;
  return v != p->value_prev;
}

void mixstage__param_snap(mixstage__param *p, int64_t f) {
  if (p->lane && p->lane->count > 0)
    p->value = mixstage__lane_eval(p->lane, f);
  else
    p->value = atomic_load_explicit(&p->target, memory_order_relaxed);
  p->value_prev = p->value;
}

/* ---- lanes ---------------------------------------------------------------- */

const char *mixstage__lane_label(char *buf, size_t n, int owner_kind, const void *owner, const char *param) {
  if (!owner) {
    snprintf(buf, n, "lane '%s'", param);
  } else if (owner_kind == MIXSTAGE__OWNER_NODE) {
    snprintf(buf, n, "%s lane '%s'", mixstage_node_label(owner), param);
  } else if (owner_kind == MIXSTAGE__OWNER_SEND) {
    const mixstage_send *s = owner;
    snprintf(buf, n, "send '%s -> %s' lane '%s'", s->from->name, s->to->u.name, param);
  } else {
    const mixstage__unit *u = owner;
    snprintf(buf, n, "%s '%s' lane '%s'", mixstage__unit_what(u), u->name, param);
  }
  return buf;
}

static const char *label(const mixstage_lane *lane, char *buf, size_t n) {
  return mixstage__lane_label(buf, n, lane->owner_kind, lane->owner, lane->info->name);
}

void mixstage__lane_free(mixstage_graph *g, mixstage_lane *lane) {
  if (!lane) return;
  mixstage__gfree(g, lane->points);
  mixstage__gfree(g, lane);
}

static double segment(const mixstage__point *a, const mixstage__point *b, int64_t f) {
  double t = (double)(f - a->frame) / (double)(b->frame - a->frame);
  switch (b->curve) {
  case MIXSTAGE_CURVE_STEP:
    return a->value;
  case MIXSTAGE_CURVE_EXPONENTIAL:
    if (a->value != 0.0 && b->value != 0.0 && (a->value > 0.0) == (b->value > 0.0))
      return a->value * pow(b->value / a->value, t);
    /* Across zero or from zero a geometric curve does not exist: use an
     * exponential ease-in of the same character, (e^(kt) - 1)/(e^k - 1). */
    return a->value + (b->value - a->value) * (exp(4.0 * t) - 1.0) / (exp(4.0) - 1.0);
  default:
    return a->value + (b->value - a->value) * t;
  }
}

double mixstage__lane_eval(const mixstage_lane *lane, int64_t f) {
  const mixstage__point *p = lane->points;
  int n = lane->count;
  if (n == 0) return lane->info->def;
  if (f <= p[0].frame) return p[0].value;
  if (f >= p[n - 1].frame) return p[n - 1].value;
  int lo = 0, hi = n - 1; /* p[lo].frame < f < p[hi].frame */
  while (hi - lo > 1) {
    int mid = (lo + hi) / 2;
    if (p[mid].frame <= f) lo = mid;
    else hi = mid;
  }
  return segment(&p[lo], &p[hi], f);
}

MIXSTAGE_EXPORT int mixstage_lane_add_point(mixstage_lane *lane, int64_t frame, double value, int curve) {
  if (!lane) return MIXSTAGE_ENULL;
  mixstage_graph *g = lane->graph;
  char what[MIXSTAGE__ERR_MAX / 2];
  if (MIXSTAGE__BUSY(g, label(lane, what, sizeof what))) return MIXSTAGE_ESTATE;
  if (frame < 0)
    return mixstage__fail(g, MIXSTAGE_ERANGE, "%s: frame %lld is negative", label(lane, what, sizeof what),
                          (long long)frame);
  if (!(value >= lane->info->min && value <= lane->info->max))
    return mixstage__fail(g, MIXSTAGE_ERANGE, "%s: value %g is outside %g .. %g", label(lane, what, sizeof what),
                          value, lane->info->min, lane->info->max);
  if (curve < MIXSTAGE_CURVE_LINEAR || curve > MIXSTAGE_CURVE_STEP)
    return mixstage__fail(g, MIXSTAGE_ERANGE, "%s: curve %d is not a curve", label(lane, what, sizeof what), curve);
  /* Points usually come in time order (files, recordings): appending is
   * checked first; otherwise a binary search for the first point not
   * before frame. */
  int i = lane->count;
  if (i > 0 && lane->points[i - 1].frame >= frame) {
    int lo = 0, hi = i - 1; /* points[hi].frame >= frame */
    while (lo < hi) {
      int mid = lo + (hi - lo) / 2;
      if (lane->points[mid].frame < frame) lo = mid + 1;
      else hi = mid;
    }
    i = lo;
  }
  if (i < lane->count && lane->points[i].frame == frame) {
    lane->points[i].value = value;
    lane->points[i].curve = curve;
    mixstage__controls_moved(g);
    return MIXSTAGE_OK;
  }
  if (lane->count == lane->capacity) {
    int cap = lane->capacity ? lane->capacity * 2 : 16;
    mixstage__point *np = mixstage__galloc(g, (size_t)cap, sizeof *np);
    if (!np) return mixstage__fail(g, MIXSTAGE_ENOMEM, "%s: out of memory", label(lane, what, sizeof what));
    if (lane->points) memcpy(np, lane->points, sizeof *np * (size_t)lane->count);
    mixstage__gfree(g, lane->points);
    lane->points = np;
    lane->capacity = cap;
  }
  memmove(&lane->points[i + 1], &lane->points[i], sizeof *lane->points * (size_t)(lane->count - i));
  lane->points[i].frame = frame;
  lane->points[i].value = value;
  lane->points[i].curve = curve;
  lane->count++;
  mixstage__controls_moved(g);
  return MIXSTAGE_OK;
}

MIXSTAGE_EXPORT int mixstage_lane_clear(mixstage_lane *lane) {
  if (!lane) return MIXSTAGE_ENULL;
  char what[MIXSTAGE__ERR_MAX / 2];
  if (MIXSTAGE__BUSY(lane->graph, label(lane, what, sizeof what))) return MIXSTAGE_ESTATE;
  lane->count = 0;
  mixstage__controls_moved(lane->graph);
  return MIXSTAGE_OK;
}

MIXSTAGE_EXPORT int mixstage_lane_point_count(const mixstage_lane *lane) { return lane ? lane->count : 0; }

MIXSTAGE_EXPORT int mixstage_lane_point(const mixstage_lane *lane, int index, int64_t *frame, double *value,
                                        int *curve) {
  if (!lane) return MIXSTAGE_ENULL;
  if (index < 0 || index >= lane->count) {
    char what[MIXSTAGE__ERR_MAX / 2];
    if (lane->count == 0)
      return mixstage__fail(lane->graph, MIXSTAGE_ERANGE, "%s: has no points (asked for point %d)",
                            label(lane, what, sizeof what), index);
    return mixstage__fail(lane->graph, MIXSTAGE_ERANGE, "%s: point %d is outside 0 .. %d",
                          label(lane, what, sizeof what), index, lane->count - 1);
  }
  const mixstage__point *p = &lane->points[index];
  if (frame) *frame = p->frame;
  if (value) *value = p->value;
  if (curve) *curve = p->curve;
  return MIXSTAGE_OK;
}

MIXSTAGE_EXPORT double mixstage_lane_value_at(const mixstage_lane *lane, int64_t frame) {
  return lane ? mixstage__lane_eval(lane, frame) : 0.0;
}
