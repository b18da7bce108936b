/* Render profiles: policies over roles (the stem rules table). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "internal.h"

#define ON MIXSTAGE_ACTION_ON
#define BYPASS MIXSTAGE_ACTION_BYPASS
#define MUTE MIXSTAGE_ACTION_MUTE

/* Role order: strip, design, mix-fx, bus-color, bus-dynamics,
 * placeholder-limiter, mastering (see MIXSTAGE_ROLE_MAP). */
static const mixstage_profile builtins[] = {
    {"production", {ON, ON, ON, ON, ON, ON, BYPASS}, MIXSTAGE_STEMS_NONE, 0, 1, 0, 1},
    /* Stems are for someone who will mix them: everything that is part of
     * the sound stays; shared space, bus glue and loudness are left to the
     * mix.  Console color is applied to each stem on its own. */
    {"mix-stems", {ON, ON, MUTE, ON, BYPASS, BYPASS, BYPASS}, MIXSTAGE_STEMS_PER_STRIP, 1, 0, 1, 1},
    /* The mastering limiter takes the placeholder's place. */
    {"final", {ON, ON, ON, ON, ON, BYPASS, ON}, MIXSTAGE_STEMS_NONE, 0, 1, 0, 1},
};
#define NBUILTIN ((int)(sizeof builtins / sizeof *builtins))

const mixstage_profile *mixstage__production(void) { return &builtins[0]; }

MIXSTAGE_EXPORT const mixstage_profile *mixstage_profile_builtin(int i) {
  return i >= 0 && i < NBUILTIN ? &builtins[i] : NULL;
}

MIXSTAGE_EXPORT const mixstage_profile *mixstage_profile_find(const char *name) {
  if (!name) return NULL;
  for (int i = 0; i < NBUILTIN; i++)
    if (strcmp(builtins[i].name, name) == 0) return &builtins[i];
  return NULL;
}

static int is_builtin(const mixstage_profile *p) { return p >= builtins && p < builtins + NBUILTIN; }

MIXSTAGE_EXPORT mixstage_profile *mixstage_profile_create(const char *name, const mixstage_profile *base,
                                                          int *error) {
  int dummy;
  if (!error) error = &dummy;
  if (!name || !name[0] || strlen(name) >= sizeof(((mixstage_profile *)0)->name)) {
    *error = MIXSTAGE_EINVAL;
    return NULL;
  }
  mixstage_profile *p = malloc(sizeof *p);
  if (!p) {
    *error = MIXSTAGE_ENOMEM;
    return NULL;
  }
  *p = base ? *base : builtins[0];
  snprintf(p->name, sizeof p->name, "%s", name);
  p->builtin = 0;
  *error = MIXSTAGE_OK;
  return p;
}

MIXSTAGE_EXPORT void mixstage_profile_destroy(mixstage_profile *p) {
  if (p && !is_builtin(p)) free(p);
}

MIXSTAGE_EXPORT const char *mixstage_profile_name(const mixstage_profile *p) { return p ? p->name : NULL; }

MIXSTAGE_EXPORT int mixstage_profile_action(const mixstage_profile *p, int role) {
  if (!p) return MIXSTAGE_ENULL;
  if (role < 0 || role >= MIXSTAGE_ROLE_COUNT) return MIXSTAGE_ERANGE;
  return p->action[role];
}

_Atomic uint32_t mixstage__profile_edits;

MIXSTAGE_EXPORT int mixstage_profile_set_action(mixstage_profile *p, int role, int action) {
  if (!p) return MIXSTAGE_ENULL;
  if (p->builtin) return MIXSTAGE_ESTATE;
  if (role < 0 || role >= MIXSTAGE_ROLE_COUNT || action < ON || action > MUTE) return MIXSTAGE_ERANGE;
  p->action[role] = (signed char)action;
  atomic_fetch_add_explicit(&mixstage__profile_edits, 1, memory_order_release);
  return MIXSTAGE_OK;
}

#define FLAG_ACCESSORS(field, get, set, lo, hi)                          \
  MIXSTAGE_EXPORT int get(const mixstage_profile *p) {                   \
    return p ? p->field : MIXSTAGE_ENULL;                                \
  }                                                                      \
  MIXSTAGE_EXPORT int set(mixstage_profile *p, int v) {                  \
    if (!p) return MIXSTAGE_ENULL;                                       \
    if (p->builtin) return MIXSTAGE_ESTATE;                              \
    if (v < (lo) || v > (hi)) return MIXSTAGE_ERANGE;                    \
    p->field = (signed char)v;                                           \
    return MIXSTAGE_OK;                                                  \
  }
FLAG_ACCESSORS(stems, mixstage_profile_stems, mixstage_profile_set_stems, 0, 2)
FLAG_ACCESSORS(fx_stems, mixstage_profile_fx_stems, mixstage_profile_set_fx_stems, 0, 1)
FLAG_ACCESSORS(mix, mixstage_profile_mix, mixstage_profile_set_mix, 0, 1)
FLAG_ACCESSORS(reference, mixstage_profile_reference, mixstage_profile_set_reference, 0, 1)

MIXSTAGE_EXPORT int mixstage_graph_set_profile(mixstage_graph *g, const mixstage_profile *p) {
  if (!g) return MIXSTAGE_ENULL;
  atomic_store_explicit(&g->profile, p ? p : mixstage__production(), memory_order_release);
  mixstage__controls_moved(g);
  return MIXSTAGE_OK;
}

MIXSTAGE_EXPORT const mixstage_profile *mixstage_graph_profile(const mixstage_graph *g) {
  return g ? atomic_load_explicit(&((mixstage_graph *)g)->profile, memory_order_acquire) : NULL;
}
