/* Gain-trace test harness shared by the dynamics suites (check_dynamics,
 * check_bus_stages): program material, split processing through the node
 * host collecting the trace, and the identity and sum checks. */
#ifndef MIXSTAGE_TRACE_UTIL_H
#define MIXSTAGE_TRACE_UTIL_H
#include <stdint.h>
#include "node.h"

/* gain_trace contract (lib/node.h): after each process() call the node
 * reports, per channel, the gain g with out[c][i] == g[c][i] * in[c][i - L]
 * (L = latency()).  The stem renderer multiplies each stem by g, so a stem
 * through this node sounds as in the mix and the stems still add up.
 *
 * Tolerances: the identity is required to float rounding, 1e-6 relative
 * (about 8 float ulps) plus 1e-9 absolute (-180 dBFS, for samples at or
 * near zero).  The nodes apply their gain as one float product, so the
 * identity is in fact exact; the figures printed give the measured error.
 * The sum test compares g a + g b with the node's output for a + b: the
 * float sum a + b itself rounds relative to the larger operand, not to the
 * (possibly cancelling) result, so the bound is 1e-6 (|g a| + |g b|) + 1e-9. */

#define TR_TOL_REL 1e-6
#define TR_TOL_ABS 1e-9

typedef struct tr_param {
  const char *name;
  double value;
} tr_param;

void tr_program(float *const *x, int nch, int64_t n, uint32_t seed);
int tr_run(mixstage__node_host *h, float *const *y, float *const *g, int nch, int64_t from, int64_t to,
           const float *const *key, int key_nch);
double tr_check(const char *what, float *const *y, float *const *g, float *const *x, int nch, int64_t from,
                int64_t to, int lat, int64_t *exact);
double tr_check_sum(const char *what, float *const *y, float *const *g, float *const *a, float *const *b,
                    int nch, int64_t n, int lat);
void tr_range_db(float *const *g, int nch, int64_t from, int64_t to, double *lo, double *hi);
double tr_chan_diff_db(float *const *g, int64_t from, int64_t to);
float **tr_alloc(int nch, int64_t n);
void tr_release(float **x, int nch);
mixstage__node_host *tr_host(const char *type, int nch, const tr_param *p);
/* Sets a parameter by name, failing the test if it is refused. */
void tr_set(mixstage__node_host *h, const char *name, double v);
/* n zeroed floats, failing the test if out of memory (free()). */
float *tr_fbuf(int64_t n);
/* One full trace test of a node (see trace_util.c). */
double tr_node(const char *type, const tr_param *p, const char *auto_name, double auto_value, double *lo,
               double *hi);
#endif
