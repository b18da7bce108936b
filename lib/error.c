/* Status codes, role and unit names, node labels, the graph's last-error message. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include "internal.h"
#include "config.h"

MIXSTAGE_EXPORT const char *mixstage_strerror(int status) {
  switch (status) {
#define MIXSTAGE__MSG(name, value, msg) \
  case value:                           \
    return msg;
    MIXSTAGE_STATUS_MAP(MIXSTAGE__MSG)
#undef MIXSTAGE__MSG
  default:
    return "unknown libmixstage status code";
  }
}

MIXSTAGE_EXPORT const char *mixstage_err_name(int status) {
  switch (status) {
#define MIXSTAGE__NAME(name, value, msg) \
  case value:                            \
    return "MIXSTAGE_" #name;
    MIXSTAGE_STATUS_MAP(MIXSTAGE__NAME)
#undef MIXSTAGE__NAME
  default:
    return "MIXSTAGE_UNKNOWN";
  }
}

MIXSTAGE_EXPORT const char *mixstage_version_string(void) { return PACKAGE_VERSION; }

static const char *const role_names[MIXSTAGE_ROLE_COUNT] = {
#define MIXSTAGE__RNAME(name, value, str) [value] = str,
    MIXSTAGE_ROLE_MAP(MIXSTAGE__RNAME)
#undef MIXSTAGE__RNAME
};

MIXSTAGE_EXPORT const char *mixstage_role_name(int role) {
  return role >= 0 && role < MIXSTAGE_ROLE_COUNT ? role_names[role] : NULL;
}

MIXSTAGE_EXPORT int mixstage_role_from_name(const char *name) {
  if (!name) return MIXSTAGE_ENOTFOUND;
  for (int i = 0; i < MIXSTAGE_ROLE_COUNT; i++)
    if (strcmp(role_names[i], name) == 0) return i;
  return MIXSTAGE_ENOTFOUND;
}

MIXSTAGE_EXPORT const char *mixstage_unit_name(int unit) {
  static const char *const names[] = {"", "dB", "Hz", "ms", ":1", "%", "pan", "on/off",
                                      "choice", "Q", "s", "BPM"};
  return unit >= 0 && unit < (int)(sizeof names / sizeof *names) ? names[unit] : "";
}

int mixstage__fail(mixstage_graph *g, int status, const char *fmt, ...) {
  if (g && fmt) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(g->error, sizeof g->error, fmt, ap);
    va_end(ap);
  }
  return status;
}

const char *mixstage__unit_what(const mixstage__unit *u) {
  if (u->kind == MIXSTAGE__UNIT_STRIP) return "strip";
  const mixstage_bus *b = (const mixstage_bus *)u;
  return b->bus_kind == MIXSTAGE_BUS_RETURN ? "return" : b->bus_kind == MIXSTAGE_BUS_MIX ? "mix bus" : "bus";
}

/* Here rather than with the node calls: every layer that reports a node's
 * error names it, and error reporting must not depend on the node API. */
MIXSTAGE_EXPORT const char *mixstage_node_label(const mixstage_node *node) {
  if (!node) return "(NULL node)";
  mixstage_node *n = (mixstage_node *)node; /* label is a cache */
  int pos = 0;
  for (int i = 0; i < n->owner->node_count; i++)
    if (n->owner->nodes[i] == n) pos = i;
  snprintf(n->label, sizeof n->label, "%s '%s' insert %d (%s)", mixstage__unit_what(n->owner),
           n->owner->name, pos + 1, n->cls->name);
  return n->label;
}

MIXSTAGE_EXPORT const char *mixstage_graph_last_error(const mixstage_graph *graph) {
  if (!graph) return "no graph (NULL handle)";
  mixstage_graph *g = (mixstage_graph *)graph; /* the message buffer is scratch */
  if (atomic_exchange(&g->fault_pending, 0)) {
    mixstage_node *n = atomic_load(&g->fault_node);
    mixstage__unit *u = atomic_load(&g->fault_unit);
    if (!n && u && atomic_load(&g->fault_chain))
      snprintf(g->error, sizeof g->error, "%s '%s': NaN or infinity in its chain; the block was "
               "silenced and its inserts reset", mixstage__unit_what(u), u->name);
    else if (!n && u)
      snprintf(g->error, sizeof g->error, "%s '%s': its source produced NaN or infinity; "
               "the block was silenced", mixstage__unit_what(u), u->name);
    else if (n)
      snprintf(g->error, sizeof g->error, "%s: produced NaN or infinity; its output was silenced "
               "and its state reset (%lld faults so far)",
               mixstage_node_label(n), (long long)atomic_load(&n->faults));
  }
  return g->error;
}

int mixstage__busy_fail(mixstage_graph *g, const char *who) {
  mixstage__fail(g, MIXSTAGE_ESTATE,
                 "%s: the graph is rendering, so it cannot be edited now (a source or progress callback "
                 "may only use control-safe setters; edit after the render returns)",
                 who);
  return 1;
}

int mixstage__unit_busy_fail(mixstage__unit *u) {
  char who[MIXSTAGE__NAME_MAX + 16];
  snprintf(who, sizeof who, "%s '%s'", mixstage__unit_what(u), u->name);
  return mixstage__busy_fail(u->graph, who);
}
