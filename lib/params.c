/* Parameters: smoothing of control-thread changes, and automation lanes. */
#include <math.h>
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
int mixstage__param_step(mixstage__param *p, int64_t f, double smooth_coef) {
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
  if (frame < 0)
    return mixstage__fail(g, MIXSTAGE_ERANGE, "lane '%s': frame %lld is negative", lane->info->name,
                          (long long)frame);
  if (!(value >= lane->info->min && value <= lane->info->max))
    return mixstage__fail(g, MIXSTAGE_ERANGE, "lane '%s': value %g is outside %g .. %g",
                          lane->info->name, value, lane->info->min, lane->info->max);
  if (curve < MIXSTAGE_CURVE_LINEAR || curve > MIXSTAGE_CURVE_STEP)
    return mixstage__fail(g, MIXSTAGE_ERANGE, "lane '%s': curve %d is not a curve", lane->info->name, curve);
  int i = 0;
  while (i < lane->count && lane->points[i].frame < frame) i++;
  if (i < lane->count && lane->points[i].frame == frame) {
    lane->points[i].value = value;
    lane->points[i].curve = curve;
    return MIXSTAGE_OK;
  }
  if (lane->count == lane->capacity) {
    int cap = lane->capacity ? lane->capacity * 2 : 16;
    mixstage__point *np = mixstage__galloc(g, (size_t)cap, sizeof *np);
    if (!np) return mixstage__fail(g, MIXSTAGE_ENOMEM, "lane '%s': out of memory", lane->info->name);
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
  return MIXSTAGE_OK;
}

MIXSTAGE_EXPORT int mixstage_lane_clear(mixstage_lane *lane) {
  if (!lane) return MIXSTAGE_ENULL;
  lane->count = 0;
  return MIXSTAGE_OK;
}

MIXSTAGE_EXPORT int mixstage_lane_point_count(const mixstage_lane *lane) { return lane ? lane->count : 0; }

MIXSTAGE_EXPORT double mixstage_lane_value_at(const mixstage_lane *lane, int64_t frame) {
  return lane ? mixstage__lane_eval(lane, frame) : 0.0;
}
