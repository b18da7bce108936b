/* The graph's objects: creation, routing and controls (edit-time), and the
 * control-safe setters (atomic stores the audio thread picks up at the next
 * control boundary). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "internal.h"
#include "pool.h"

/* Built-in parameter descriptions of strips, buses and sends. */
static const mixstage_param_info clip_gain_info = {0, "clip_gain", "Clip gain", MIXSTAGE_UNIT_DB,
                                                   -60.0, 36.0, 0.0, 1, NULL};
static const mixstage_param_info fader_info = {1, "fader", "Fader", MIXSTAGE_UNIT_DB, -144.0, 12.0,
                                               0.0, 1, NULL};
static const mixstage_param_info pan_info = {2, "pan", "Pan", MIXSTAGE_UNIT_PAN, -1.0, 1.0, 0.0, 1,
                                             NULL};
static const mixstage_param_info width_info = {3, "width", "Width", MIXSTAGE_UNIT_NONE, 0.0, 2.0,
                                               1.0, 1, NULL};
static const mixstage_param_info send_level_info = {0, "level", "Send level", MIXSTAGE_UNIT_DB,
                                                    -144.0, 12.0, 0.0, 1, NULL};

static void set_err(int *error, int v) {
  if (error) *error = v;
}

/* ---- graph --------------------------------------------------------------- */

MIXSTAGE_EXPORT void mixstage_graph_config_init(mixstage_graph_config *cfg) {
  if (!cfg) return;
  memset(cfg, 0, sizeof *cfg);
  cfg->sample_rate = 48000.0;
  cfg->max_block_frames = 1024;
  cfg->tempo_bpm = 120.0;
  cfg->mix_channels = 2;
}

/* ---- names: one index for strips and buses (they share a name space), so
 * that adding or finding a unit by name costs the same in a graph of ten
 * thousand units as in one of ten -------------------------------------------- */

static uint32_t name_hash(const char *s) { /* FNV-1a */
  uint32_t h = 2166136261u;
  while (*s) h = (h ^ (unsigned char)*s++) * 16777619u;
  return h;
}

static mixstage__unit *name_find(const mixstage_graph *g, const char *name) {
  uint32_t mask = (uint32_t)g->names_cap - 1;
  for (uint32_t i = name_hash(name) & mask; g->names_cap; i = (i + 1) & mask)
    if (!g->names[i] || strcmp(g->names[i]->name, name) == 0) return g->names[i];
  return NULL;
}

static void name_put(mixstage__unit **table, int cap, mixstage__unit *u) {
  uint32_t mask = (uint32_t)cap - 1, i = name_hash(u->name) & mask;
  while (table[i]) i = (i + 1) & mask;
  table[i] = u;
}

void mixstage__names_rebuild(mixstage_graph *g) {
  memset(g->names, 0, sizeof *g->names * (size_t)g->names_cap);
  for (int i = 0; i < g->strip_count; i++) name_put(g->names, g->names_cap, &g->strips[i]->u);
  for (int i = 0; i < g->bus_count; i++) name_put(g->names, g->names_cap, &g->buses[i]->u);
}

/* Room for one more name; afterwards name_put cannot fail. */
static int name_reserve(mixstage_graph *g) {
  int need = 2 * (g->strip_count + g->bus_count + 1), cap = g->names_cap ? g->names_cap : 32;
  if (need <= g->names_cap) return MIXSTAGE_OK;
  while (cap < need) cap *= 2;
  mixstage__unit **table = mixstage__galloc(g, (size_t)cap, sizeof *table);
  if (!table) return MIXSTAGE_ENOMEM;
  for (int i = 0; i < g->names_cap; i++)
    if (g->names[i]) name_put(table, cap, g->names[i]);
  mixstage__gfree(g, g->names);
  g->names = table;
  g->names_cap = cap;
  return MIXSTAGE_OK;
}

static void unit_init(mixstage_graph *g, mixstage__unit *u, int kind, const char *name, int channels) {
  u->graph = g;
  u->kind = kind;
  snprintf(u->name, sizeof u->name, "%s", name);
  u->channels = channels;
  mixstage__param_init(&u->fader, &fader_info);
  mixstage__param_init(&u->pan, &pan_info);
  mixstage__param_init(&u->width, &width_info);
}

MIXSTAGE_EXPORT mixstage_graph *mixstage_graph_create(const mixstage_graph_config *cfg, int *error) {
  mixstage_graph_config def;
  if (!cfg) {
    mixstage_graph_config_init(&def);
    cfg = &def;
  }
  if (!(cfg->sample_rate >= 8000.0 && cfg->sample_rate <= 384000.0) || cfg->max_block_frames < 1 ||
      cfg->max_block_frames > 65536 || !(cfg->tempo_bpm >= 20.0 && cfg->tempo_bpm <= 999.0) ||
      cfg->mix_channels < 1 || cfg->mix_channels > MIXSTAGE_MAX_CHANNELS ||
      (!cfg->alloc) != (!cfg->free)) {
    set_err(error, MIXSTAGE_ERANGE);
    return NULL;
  }
  mixstage__allocator a = {cfg->alloc, cfg->free, cfg->alloc_user};
  mixstage_graph *g = mixstage__calloc(&a, 1, sizeof *g);
  if (!g) {
    set_err(error, MIXSTAGE_ENOMEM);
    return NULL;
  }
  g->alloc = a;
  g->sample_rate = cfg->sample_rate;
  g->max_block = cfg->max_block_frames;
  g->tempo = cfg->tempo_bpm;
  atomic_init(&g->profile, mixstage__production());
  mixstage_bus *mix = mixstage__galloc(g, 1, sizeof *mix);
  if (!mix || mixstage__grow(g, (void **)&g->buses, &g->bus_cap, 1, sizeof *g->buses) != MIXSTAGE_OK ||
      name_reserve(g) != MIXSTAGE_OK || mixstage__live_reserve(g) != MIXSTAGE_OK) {
    mixstage__gfree(g, mix);
    mixstage__gfree(g, g->buses);
    mixstage__gfree(g, g->names);
    mixstage__live_free(g);
    mixstage__free(&a, g);
    set_err(error, MIXSTAGE_ENOMEM);
    return NULL;
  }
  unit_init(g, &mix->u, MIXSTAGE__UNIT_BUS, "Mix", cfg->mix_channels);
  name_put(g->names, g->names_cap, &mix->u);
  mix->bus_kind = MIXSTAGE_BUS_MIX;
  g->buses[g->bus_count++] = mix;
  mix->u.serial = mixstage__live_add(g, MIXSTAGE__LIVE_BUS, mix);
  set_err(error, MIXSTAGE_OK);
  return g;
}

static void node_free(mixstage_graph *g, mixstage_node *n) {
  for (int i = 0; i < n->cls->num_params; i++) mixstage__lane_free(g, n->params[i].lane);
  mixstage__gfree(g, n->params);
  mixstage__gfree(g, n->pv);
  mixstage__gfree(g, n);
}

static void unit_free(mixstage_graph *g, mixstage__unit *u) {
  for (int i = 0; i < u->node_count; i++) node_free(g, u->nodes[i]);
  mixstage__gfree(g, u->nodes);
  mixstage__gfree(g, u->keyed);
  for (int i = 0; i < u->send_count; i++) {
    mixstage__lane_free(g, u->sends[i]->level.lane);
    mixstage__gfree(g, u->sends[i]);
  }
  mixstage__gfree(g, u->sends);
  mixstage__lane_free(g, u->fader.lane);
  mixstage__lane_free(g, u->pan.lane);
  mixstage__lane_free(g, u->width.lane);
}

/* A file source exists only once source_file.c has set g->file_ops. */
static void file_source_close(mixstage_graph *g, struct mixstage__file_source *fs) {
  if (fs) g->file_ops->close(g, fs);
}

MIXSTAGE_EXPORT void mixstage_graph_destroy(mixstage_graph *g) {
  if (!g) return;
  mixstage__pool_destroy(g->pool);
  if (g->file_ops) g->file_ops->reader_destroy(g);
  mixstage__unprepare(g);
  for (int i = 0; i < g->strip_count; i++) {
    mixstage_strip *s = g->strips[i];
    unit_free(g, &s->u);
    mixstage__lane_free(g, s->clip_gain.lane);
    mixstage__gfree(g, s->src.owned);
    file_source_close(g, s->src.file);
    mixstage__gfree(g, s->source_path);
    mixstage__gfree(g, s);
  }
  for (int i = 0; i < g->bus_count; i++) {
    unit_free(g, &g->buses[i]->u);
    mixstage__gfree(g, g->buses[i]);
  }
  mixstage__gfree(g, g->strips);
  mixstage__gfree(g, g->buses);
  mixstage__gfree(g, g->names);
  mixstage__live_free(g);
  mixstage__allocator a = g->alloc;
  mixstage__free(&a, g);
}

MIXSTAGE_EXPORT double mixstage_graph_sample_rate(const mixstage_graph *g) { return g ? g->sample_rate : 0.0; }
MIXSTAGE_EXPORT int mixstage_graph_max_block(const mixstage_graph *g) { return g ? g->max_block : 0; }
MIXSTAGE_EXPORT double mixstage_graph_tempo(const mixstage_graph *g) { return g ? g->tempo : 0.0; }

MIXSTAGE_EXPORT int mixstage_graph_set_tempo(mixstage_graph *g, double bpm) {
  if (!g) return MIXSTAGE_ENULL;
  if (MIXSTAGE__BUSY(g, "graph: tempo")) return MIXSTAGE_ESTATE;
  if (!(bpm >= 20.0 && bpm <= 999.0))
    return mixstage__fail(g, MIXSTAGE_ERANGE, "graph: tempo %g BPM is outside 20 .. 999", bpm);
  g->tempo = bpm;
  g->prepared = 0;
  return MIXSTAGE_OK;
}

MIXSTAGE_EXPORT mixstage_bus *mixstage_graph_mix_bus(mixstage_graph *g) { return g ? g->buses[0] : NULL; }

static int name_taken(mixstage_graph *g, const char *name) { return name_find(g, name) != NULL; }

/* Length of the well-formed UTF-8 sequence at s (RFC 3629: no overlong
 * forms, no surrogates, nothing above U+10FFFF), or 0. */
static int utf8_seq(const unsigned char *s) {
  unsigned c = s[0];
  if (c < 0x80) return 1;
  int n = c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : c >= 0xc2 ? 2 : 0;
  if (!n || c > 0xf4) return 0;
  for (int i = 1; i < n; i++)
    if ((s[i] & 0xc0) != 0x80) return 0;
  if (c == 0xe0 && s[1] < 0xa0) return 0; /* overlong */
  if (c == 0xed && s[1] >= 0xa0) return 0; /* surrogates */
  if (c == 0xf0 && s[1] < 0x90) return 0; /* overlong */
  if (c == 0xf4 && s[1] >= 0x90) return 0; /* above U+10FFFF */
  return n;
}

/* Byte offset of the first invalid UTF-8 sequence, or -1 when all is valid. */
static long utf8_invalid_at(const char *name) {
  const unsigned char *s = (const unsigned char *)name;
  for (long i = 0; s[i];) {
    int n = utf8_seq(s + i);
    if (!n) return i;
    i += n;
  }
  return -1;
}

static int check_new_name(mixstage_graph *g, const char *what, const char *name, int channels) {
  if (!name || !name[0])
    return mixstage__fail(g, MIXSTAGE_EINVAL, "new %s: a name is required", what);
  /* Names become file names and manifest (JSON) strings: they must be text. */
  long bad = utf8_invalid_at(name);
  if (bad >= 0)
    return mixstage__fail(g, MIXSTAGE_EINVAL, "new %s: the name is not valid UTF-8 (byte %ld)", what, bad);
  if (strlen(name) >= MIXSTAGE__NAME_MAX)
    return mixstage__fail(g, MIXSTAGE_ERANGE, "new %s: name is longer than %d bytes", what,
                          MIXSTAGE__NAME_MAX - 1);
  if (channels < 1 || channels > MIXSTAGE_MAX_CHANNELS)
    return mixstage__fail(g, MIXSTAGE_ERANGE, "%s '%s': %d channels is outside 1 .. %d", what, name,
                          channels, MIXSTAGE_MAX_CHANNELS);
  if (name_taken(g, name))
    return mixstage__fail(g, MIXSTAGE_EEXIST, "%s '%s': a strip or bus by that name exists", what,
                          name);
  return MIXSTAGE_OK;
}

/* ---- strips -------------------------------------------------------------- */

MIXSTAGE_EXPORT mixstage_strip *mixstage_graph_add_strip(mixstage_graph *g, const char *name,
                                                         int channels, int *error) {
  if (!g) {
    set_err(error, MIXSTAGE_ENULL);
    return NULL;
  }
  int rc = MIXSTAGE__BUSY(g, "graph: add_strip") ? MIXSTAGE_ESTATE : check_new_name(g, "strip", name, channels);
  if (rc == MIXSTAGE_OK) rc = name_reserve(g);
  if (rc == MIXSTAGE_OK) rc = mixstage__live_reserve(g);
  if (rc == MIXSTAGE_OK) rc = mixstage__grow(g, (void **)&g->strips, &g->strip_cap, g->strip_count + 1, sizeof *g->strips);
  mixstage_strip *s = rc == MIXSTAGE_OK ? mixstage__galloc(g, 1, sizeof *s) : NULL;
  if (!s) {
    if (rc == MIXSTAGE_OK || rc == MIXSTAGE_ENOMEM) rc = mixstage__fail(g, MIXSTAGE_ENOMEM, "strip '%s': out of memory", name);
    set_err(error, rc);
    return NULL;
  }
  unit_init(g, &s->u, MIXSTAGE__UNIT_STRIP, name, channels);
  mixstage__param_init(&s->clip_gain, &clip_gain_info);
  s->u.output = g->buses[0];
  s->u.index = g->strip_count;
  g->strips[g->strip_count++] = s;
  name_put(g->names, g->names_cap, &s->u);
  s->u.serial = mixstage__live_add(g, MIXSTAGE__LIVE_STRIP, s);
  g->prepared = 0;
  set_err(error, MIXSTAGE_OK);
  return s;
}

MIXSTAGE_EXPORT int mixstage_graph_strip_count(const mixstage_graph *g) { return g ? g->strip_count : 0; }

MIXSTAGE_EXPORT mixstage_strip *mixstage_graph_strip(mixstage_graph *g, int index) {
  return g && index >= 0 && index < g->strip_count ? g->strips[index] : NULL;
}

MIXSTAGE_EXPORT mixstage_strip *mixstage_graph_find_strip(mixstage_graph *g, const char *name) {
  mixstage__unit *u = g && name ? name_find(g, name) : NULL;
  return u && u->kind == MIXSTAGE__UNIT_STRIP ? (mixstage_strip *)u : NULL;
}

MIXSTAGE_EXPORT const char *mixstage_strip_name(const mixstage_strip *s) { return s ? s->u.name : NULL; }
MIXSTAGE_EXPORT int mixstage_strip_channels(const mixstage_strip *s) { return s ? s->u.channels : 0; }
MIXSTAGE_EXPORT mixstage_graph *mixstage_strip_graph(mixstage_strip *s) { return s ? s->u.graph : NULL; }

/* Lets go of the strip's source (its copy, its file) before another. */
void mixstage__strip_source_release(mixstage_strip *s) {
  mixstage_graph *g = s->u.graph;
  mixstage__gfree(g, s->src.owned);
  file_source_close(g, s->src.file);
  mixstage__gfree(g, s->source_path);
  s->source_path = NULL;
  memset(&s->src, 0, sizeof s->src);
}

MIXSTAGE_EXPORT int mixstage_strip_set_source_buffer(mixstage_strip *s, const float *data, int channels,
                                                     int64_t frames, int copy) {
  if (!s) return MIXSTAGE_ENULL;
  mixstage_graph *g = s->u.graph;
  if (MIXSTAGE__UNIT_BUSY(&s->u)) return MIXSTAGE_ESTATE;
  if (!data && frames > 0)
    return mixstage__fail(g, MIXSTAGE_ENULL, "strip '%s': source buffer is NULL", s->u.name);
  if (channels < 1 || channels > s->u.channels)
    return mixstage__fail(g, MIXSTAGE_ECHANNELS,
                          "strip '%s': a %d-channel source does not fit a %d-channel strip",
                          s->u.name, channels, s->u.channels);
  if (frames < 0 || frames > (INT64_MAX / 4) / channels)
    return mixstage__fail(g, MIXSTAGE_ERANGE, "strip '%s': source length %lld frames is invalid",
                          s->u.name, (long long)frames);
  float *owned = NULL;
  if (copy && frames > 0) {
    if ((uint64_t)frames * (uint64_t)channels > SIZE_MAX / sizeof(float))
      return mixstage__fail(g, MIXSTAGE_ENOMEM, "strip '%s': source too large", s->u.name);
    owned = mixstage__galloc(g, (size_t)frames * (size_t)channels, sizeof(float));
    if (!owned)
      return mixstage__fail(g, MIXSTAGE_ENOMEM, "strip '%s': out of memory copying the source",
                            s->u.name);
    memcpy(owned, data, (size_t)frames * (size_t)channels * sizeof(float));
  }
  mixstage__strip_source_release(s);
  s->src.kind = 1;
  s->src.owned = owned;
  s->src.data = owned ? owned : data;
  s->src.channels = channels;
  s->src.frames = frames;
  return MIXSTAGE_OK;
}

MIXSTAGE_EXPORT const char *mixstage_strip_source_path(const mixstage_strip *s) {
  return s ? s->source_path : NULL;
}

MIXSTAGE_EXPORT int mixstage_strip_set_source_callback(mixstage_strip *s, mixstage_pull_fn fn,
                                                       void *user, int channels, int64_t length) {
  if (!s) return MIXSTAGE_ENULL;
  mixstage_graph *g = s->u.graph;
  if (MIXSTAGE__UNIT_BUSY(&s->u)) return MIXSTAGE_ESTATE;
  if (!fn) return mixstage__fail(g, MIXSTAGE_ENULL, "strip '%s': source callback is NULL", s->u.name);
  if (channels < 1 || channels > s->u.channels)
    return mixstage__fail(g, MIXSTAGE_ECHANNELS,
                          "strip '%s': a %d-channel source does not fit a %d-channel strip",
                          s->u.name, channels, s->u.channels);
  if (length < -1)
    return mixstage__fail(g, MIXSTAGE_ERANGE, "strip '%s': source length %lld is invalid", s->u.name,
                          (long long)length);
  mixstage__strip_source_release(s);
  s->src.kind = 2;
  s->src.fn = fn;
  s->src.user = user;
  s->src.channels = channels;
  s->src.frames = length;
  return MIXSTAGE_OK;
}

MIXSTAGE_EXPORT int64_t mixstage_strip_source_frames(const mixstage_strip *s) {
  return s && s->src.kind ? s->src.frames : 0;
}

/* Control-safe setters: validate, then one atomic store. */
static int set_param(mixstage_graph *g, const char *what, const char *name, mixstage__param *p, double v) {
  if (!(v >= p->info->min && v <= p->info->max))
    return mixstage__fail(g, MIXSTAGE_ERANGE, "%s '%s': %s %g is outside %g .. %g", what, name,
                          p->info->name, v, p->info->min, p->info->max);
  atomic_store_explicit(&p->target, v, memory_order_relaxed);
  mixstage__controls_moved(g);
  return MIXSTAGE_OK;
}

#define UNIT_SETTER(fn, type, field)                                                   \
  MIXSTAGE_EXPORT int fn(type *x, double v) {                                          \
    if (!x) return MIXSTAGE_ENULL;                                                     \
    return set_param(x->u.graph, mixstage__unit_what(&x->u), x->u.name, &x->u.field, v); \
  }
UNIT_SETTER(mixstage_strip_set_fader_db, mixstage_strip, fader)
UNIT_SETTER(mixstage_strip_set_pan, mixstage_strip, pan)
UNIT_SETTER(mixstage_strip_set_width, mixstage_strip, width)
UNIT_SETTER(mixstage_bus_set_fader_db, mixstage_bus, fader)
UNIT_SETTER(mixstage_bus_set_pan, mixstage_bus, pan)
UNIT_SETTER(mixstage_bus_set_width, mixstage_bus, width)
#undef UNIT_SETTER

MIXSTAGE_EXPORT int mixstage_strip_set_clip_gain_db(mixstage_strip *s, double db) {
  if (!s) return MIXSTAGE_ENULL;
  return set_param(s->u.graph, "strip", s->u.name, &s->clip_gain, db);
}

static double param_get(const mixstage__param *p) {
  return atomic_load_explicit(&((mixstage__param *)p)->target, memory_order_relaxed);
}

MIXSTAGE_EXPORT double mixstage_strip_clip_gain_db(const mixstage_strip *s) { return s ? param_get(&s->clip_gain) : 0.0; }
MIXSTAGE_EXPORT double mixstage_strip_fader_db(const mixstage_strip *s) { return s ? param_get(&s->u.fader) : 0.0; }
MIXSTAGE_EXPORT double mixstage_strip_pan(const mixstage_strip *s) { return s ? param_get(&s->u.pan) : 0.0; }
MIXSTAGE_EXPORT double mixstage_strip_width(const mixstage_strip *s) { return s ? param_get(&s->u.width) : 0.0; }
MIXSTAGE_EXPORT double mixstage_bus_fader_db(const mixstage_bus *b) { return b ? param_get(&b->u.fader) : 0.0; }
MIXSTAGE_EXPORT double mixstage_bus_pan(const mixstage_bus *b) { return b ? param_get(&b->u.pan) : 0.0; }
MIXSTAGE_EXPORT double mixstage_bus_width(const mixstage_bus *b) { return b ? param_get(&b->u.width) : 0.0; }

MIXSTAGE_EXPORT int mixstage_strip_set_mute(mixstage_strip *s, int on) {
  if (!s) return MIXSTAGE_ENULL;
  atomic_store(&s->u.mute_req, on ? 1 : 0);
  mixstage__controls_moved(s->u.graph);
  return MIXSTAGE_OK;
}
MIXSTAGE_EXPORT int mixstage_strip_set_solo(mixstage_strip *s, int on) {
  if (!s) return MIXSTAGE_ENULL;
  atomic_store(&s->u.solo_req, on ? 1 : 0);
  mixstage__controls_moved(s->u.graph);
  return MIXSTAGE_OK;
}
MIXSTAGE_EXPORT int mixstage_strip_set_polarity(mixstage_strip *s, int invert) {
  if (!s) return MIXSTAGE_ENULL;
  atomic_store(&s->polarity_req, invert ? 1 : 0);
  mixstage__controls_moved(s->u.graph);
  return MIXSTAGE_OK;
}
MIXSTAGE_EXPORT int mixstage_strip_set_color(mixstage_strip *s, uint32_t rgb) {
  if (!s) return MIXSTAGE_ENULL;
  if (rgb > 0xFFFFFFu) return mixstage__fail(s->u.graph, MIXSTAGE_ERANGE, "strip '%s': color 0x%x is not 0xRRGGBB", s->u.name, rgb);
  s->u.color = rgb;
  return MIXSTAGE_OK;
}
MIXSTAGE_EXPORT int mixstage_strip_mute(const mixstage_strip *s) { return s ? atomic_load(&((mixstage_strip *)s)->u.mute_req) : 0; }
MIXSTAGE_EXPORT int mixstage_strip_solo(const mixstage_strip *s) { return s ? atomic_load(&((mixstage_strip *)s)->u.solo_req) : 0; }
MIXSTAGE_EXPORT int mixstage_strip_polarity(const mixstage_strip *s) { return s ? atomic_load(&((mixstage_strip *)s)->polarity_req) : 0; }
MIXSTAGE_EXPORT uint32_t mixstage_strip_color(const mixstage_strip *s) { return s ? s->u.color : 0; }

/* Changes a routing edge, keeping it only if the graph stays acyclic. */
static int reroute(mixstage_graph *g, mixstage__unit *u, mixstage_bus *to) {
  mixstage_bus *old = u->output;
  u->output = to;
  char msg[MIXSTAGE__ERR_MAX - 100];
  int cyc = mixstage__find_cycle(g, u, msg, sizeof msg);
  if (cyc) {
    u->output = old;
    return mixstage__fail(g, cyc < 0 ? MIXSTAGE_ENOMEM : MIXSTAGE_ECYCLE,
                          "%s '%s': output to '%s' would create a cycle: %s",
                          mixstage__unit_what(u), u->name, to->u.name, msg);
  }
  g->prepared = 0;
  return MIXSTAGE_OK;
}

MIXSTAGE_EXPORT int mixstage_strip_set_output(mixstage_strip *s, mixstage_bus *bus) {
  if (!s || !bus) return s ? mixstage__fail(s->u.graph, MIXSTAGE_ENULL, "strip '%s': output bus is NULL", s->u.name) : MIXSTAGE_ENULL;
  if (MIXSTAGE__UNIT_BUSY(&s->u)) return MIXSTAGE_ESTATE;
  if (bus->u.graph != s->u.graph)
    return mixstage__fail(s->u.graph, MIXSTAGE_EINVAL, "strip '%s': bus '%s' belongs to another graph",
                          s->u.name, bus->u.name);
  if (bus->bus_kind == MIXSTAGE_BUS_RETURN)
    return mixstage__fail(s->u.graph, MIXSTAGE_EINVAL,
                          "strip '%s': '%s' is an FX return; feed it with a send", s->u.name, bus->u.name);
  return reroute(s->u.graph, &s->u, bus);
}

MIXSTAGE_EXPORT mixstage_bus *mixstage_strip_output(mixstage_strip *s) { return s ? s->u.output : NULL; }

/* ---- buses ------------------------------------------------------------------- */

MIXSTAGE_EXPORT mixstage_bus *mixstage_graph_add_bus(mixstage_graph *g, const char *name, int kind,
                                                     int channels, int *error) {
  if (!g) {
    set_err(error, MIXSTAGE_ENULL);
    return NULL;
  }
  int rc = MIXSTAGE__BUSY(g, "graph: add_bus") ? MIXSTAGE_ESTATE : MIXSTAGE_OK;
  if (rc != MIXSTAGE_OK)
    ;
  else if (kind != MIXSTAGE_BUS_GROUP && kind != MIXSTAGE_BUS_RETURN)
    rc = mixstage__fail(g, MIXSTAGE_EINVAL, "bus '%s': kind %d is not a group or a return (the mix bus exists already)",
                        name ? name : "?", kind);
  if (rc == MIXSTAGE_OK) rc = check_new_name(g, "bus", name, channels);
  if (rc == MIXSTAGE_OK) rc = name_reserve(g);
  if (rc == MIXSTAGE_OK) rc = mixstage__live_reserve(g);
  if (rc == MIXSTAGE_OK) rc = mixstage__grow(g, (void **)&g->buses, &g->bus_cap, g->bus_count + 1, sizeof *g->buses);
  mixstage_bus *b = rc == MIXSTAGE_OK ? mixstage__galloc(g, 1, sizeof *b) : NULL;
  if (!b) {
    if (rc == MIXSTAGE_OK || rc == MIXSTAGE_ENOMEM) rc = mixstage__fail(g, MIXSTAGE_ENOMEM, "bus '%s': out of memory", name);
    set_err(error, rc);
    return NULL;
  }
  unit_init(g, &b->u, MIXSTAGE__UNIT_BUS, name, channels);
  b->bus_kind = kind;
  b->u.output = g->buses[0];
  b->u.index = g->bus_count;
  g->buses[g->bus_count++] = b;
  name_put(g->names, g->names_cap, &b->u);
  b->u.serial = mixstage__live_add(g, MIXSTAGE__LIVE_BUS, b);
  g->prepared = 0;
  set_err(error, MIXSTAGE_OK);
  return b;
}

MIXSTAGE_EXPORT int mixstage_graph_bus_count(const mixstage_graph *g) { return g ? g->bus_count : 0; }
MIXSTAGE_EXPORT mixstage_bus *mixstage_graph_bus(mixstage_graph *g, int i) {
  return g && i >= 0 && i < g->bus_count ? g->buses[i] : NULL;
}
MIXSTAGE_EXPORT mixstage_bus *mixstage_graph_find_bus(mixstage_graph *g, const char *name) {
  mixstage__unit *u = g && name ? name_find(g, name) : NULL;
  return u && u->kind == MIXSTAGE__UNIT_BUS ? (mixstage_bus *)u : NULL;
}
MIXSTAGE_EXPORT const char *mixstage_bus_name(const mixstage_bus *b) { return b ? b->u.name : NULL; }
MIXSTAGE_EXPORT int mixstage_bus_kind_of(const mixstage_bus *b) { return b ? b->bus_kind : MIXSTAGE_ENULL; }
MIXSTAGE_EXPORT int mixstage_bus_channels(const mixstage_bus *b) { return b ? b->u.channels : 0; }
MIXSTAGE_EXPORT mixstage_graph *mixstage_bus_graph(mixstage_bus *b) { return b ? b->u.graph : NULL; }
MIXSTAGE_EXPORT int mixstage_bus_set_mute(mixstage_bus *b, int on) {
  if (!b) return MIXSTAGE_ENULL;
  atomic_store(&b->u.mute_req, on ? 1 : 0);
  mixstage__controls_moved(b->u.graph);
  return MIXSTAGE_OK;
}
MIXSTAGE_EXPORT int mixstage_bus_mute(const mixstage_bus *b) { return b ? atomic_load(&((mixstage_bus *)b)->u.mute_req) : 0; }

MIXSTAGE_EXPORT int mixstage_bus_set_output(mixstage_bus *b, mixstage_bus *to) {
  if (!b || !to) return b ? mixstage__fail(b->u.graph, MIXSTAGE_ENULL, "bus '%s': output bus is NULL", b->u.name) : MIXSTAGE_ENULL;
  mixstage_graph *g = b->u.graph;
  if (MIXSTAGE__UNIT_BUSY(&b->u)) return MIXSTAGE_ESTATE;
  if (b->bus_kind == MIXSTAGE_BUS_MIX)
    return mixstage__fail(g, MIXSTAGE_EINVAL, "mix bus '%s' has no output to route", b->u.name);
  if (to->u.graph != g)
    return mixstage__fail(g, MIXSTAGE_EINVAL, "bus '%s': bus '%s' belongs to another graph", b->u.name, to->u.name);
  if (to->bus_kind == MIXSTAGE_BUS_RETURN)
    return mixstage__fail(g, MIXSTAGE_EINVAL, "bus '%s': '%s' is an FX return; feed it with a send",
                          b->u.name, to->u.name);
  if (to == b)
    return mixstage__fail(g, MIXSTAGE_ECYCLE, "bus '%s': output to itself would create a cycle: %s -> %s",
                          b->u.name, b->u.name, b->u.name);
  return reroute(g, &b->u, to);
}

MIXSTAGE_EXPORT mixstage_bus *mixstage_bus_output(mixstage_bus *b) { return b ? b->u.output : NULL; }

/* ---- sends --------------------------------------------------------------------- */

static mixstage_send *add_send(mixstage__unit *u, mixstage_bus *to, double level_db, int tap, int role,
                               int *error) {
  mixstage_graph *g = u->graph;
  const char *what = mixstage__unit_what(u);
  int rc = MIXSTAGE_OK;
  if (MIXSTAGE__UNIT_BUSY(u))
    rc = MIXSTAGE_ESTATE;
  else if (!to)
    rc = mixstage__fail(g, MIXSTAGE_ENULL, "%s '%s': send target is NULL", what, u->name);
  else if (to->u.graph != g)
    rc = mixstage__fail(g, MIXSTAGE_EINVAL, "%s '%s': bus '%s' belongs to another graph", what, u->name, to->u.name);
  else if (to->bus_kind != MIXSTAGE_BUS_RETURN)
    rc = mixstage__fail(g, MIXSTAGE_EINVAL, "%s '%s': sends go to FX returns; '%s' is not one", what,
                        u->name, to->u.name);
  else if (tap != MIXSTAGE_TAP_PRE_FADER && tap != MIXSTAGE_TAP_POST_FADER)
    rc = mixstage__fail(g, MIXSTAGE_EINVAL, "%s '%s': send tap %d is not pre- or post-fader", what, u->name, tap);
  else if (role < 0 || role >= MIXSTAGE_ROLE_COUNT)
    rc = mixstage__fail(g, MIXSTAGE_ERANGE, "%s '%s': send role %d is not a role", what, u->name, role);
  else if (!(level_db >= send_level_info.min && level_db <= send_level_info.max))
    rc = mixstage__fail(g, MIXSTAGE_ERANGE, "%s '%s': send level %g dB is outside -144 .. +12", what,
                        u->name, level_db);
  else if (&to->u == u)
    rc = mixstage__fail(g, MIXSTAGE_ECYCLE, "%s '%s': a send to itself would create a cycle: %s -> %s",
                        what, u->name, u->name, u->name);
  if (rc == MIXSTAGE_OK) rc = mixstage__live_reserve(g);
  if (rc == MIXSTAGE_OK) rc = mixstage__grow(g, (void **)&u->sends, &u->send_cap, u->send_count + 1, sizeof *u->sends);
  mixstage_send *s = rc == MIXSTAGE_OK ? mixstage__galloc(g, 1, sizeof *s) : NULL;
  if (!s) {
    if (rc == MIXSTAGE_OK || rc == MIXSTAGE_ENOMEM) rc = mixstage__fail(g, MIXSTAGE_ENOMEM, "%s '%s': out of memory", what, u->name);
    set_err(error, rc);
    return NULL;
  }
  s->graph = g;
  s->from = u;
  s->to = to;
  s->tap = tap;
  s->role = role;
  mixstage__param_init(&s->level, &send_level_info);
  atomic_store(&s->level.target, level_db);
  u->sends[u->send_count++] = s;
  char msg[MIXSTAGE__ERR_MAX - 100];
  int cyc = mixstage__find_cycle(g, u, msg, sizeof msg);
  if (cyc) {
    u->send_count--;
    mixstage__gfree(g, s);
    set_err(error, mixstage__fail(g, cyc < 0 ? MIXSTAGE_ENOMEM : MIXSTAGE_ECYCLE, "%s '%s': a send to '%s' would create a cycle: %s",
                                  what, u->name, to->u.name, msg));
    return NULL;
  }
  s->serial = mixstage__live_add(g, MIXSTAGE__LIVE_SEND, s);
  g->prepared = 0;
  set_err(error, MIXSTAGE_OK);
  return s;
}

MIXSTAGE_EXPORT mixstage_send *mixstage_strip_add_send(mixstage_strip *s, mixstage_bus *to, double level_db,
                                                       int tap, int role, int *error) {
  if (!s) {
    set_err(error, MIXSTAGE_ENULL);
    return NULL;
  }
  return add_send(&s->u, to, level_db, tap, role, error);
}

MIXSTAGE_EXPORT mixstage_send *mixstage_bus_add_send(mixstage_bus *b, mixstage_bus *to, double level_db,
                                                     int tap, int role, int *error) {
  if (!b) {
    set_err(error, MIXSTAGE_ENULL);
    return NULL;
  }
  if (b->bus_kind == MIXSTAGE_BUS_MIX) {
    set_err(error, mixstage__fail(b->u.graph, MIXSTAGE_EINVAL, "mix bus '%s' cannot send: it is the last stage", b->u.name));
    return NULL;
  }
  return add_send(&b->u, to, level_db, tap, role, error);
}

MIXSTAGE_EXPORT int mixstage_strip_send_count(const mixstage_strip *s) { return s ? s->u.send_count : 0; }
MIXSTAGE_EXPORT mixstage_send *mixstage_strip_send(mixstage_strip *s, int i) {
  return s && i >= 0 && i < s->u.send_count ? s->u.sends[i] : NULL;
}
MIXSTAGE_EXPORT int mixstage_bus_send_count(const mixstage_bus *b) { return b ? b->u.send_count : 0; }
MIXSTAGE_EXPORT mixstage_send *mixstage_bus_send(mixstage_bus *b, int i) {
  return b && i >= 0 && i < b->u.send_count ? b->u.sends[i] : NULL;
}
MIXSTAGE_EXPORT int mixstage_send_set_level_db(mixstage_send *s, double db) {
  if (!s) return MIXSTAGE_ENULL;
  char name[MIXSTAGE__NAME_MAX * 2 + 8];
  if (!(db >= send_level_info.min && db <= send_level_info.max)) {
    snprintf(name, sizeof name, "%s -> %s", s->from->name, s->to->u.name);
    return set_param(s->graph, "send", name, &s->level, db);
  }
  atomic_store_explicit(&s->level.target, db, memory_order_relaxed);
  mixstage__controls_moved(s->graph);
  return MIXSTAGE_OK;
}
MIXSTAGE_EXPORT double mixstage_send_level_db(const mixstage_send *s) { return s ? param_get(&s->level) : 0.0; }
MIXSTAGE_EXPORT int mixstage_send_set_mute(mixstage_send *s, int on) {
  if (!s) return MIXSTAGE_ENULL;
  atomic_store(&s->mute_req, on ? 1 : 0);
  mixstage__controls_moved(s->graph);
  return MIXSTAGE_OK;
}
MIXSTAGE_EXPORT int mixstage_send_mute(const mixstage_send *s) { return s ? atomic_load(&((mixstage_send *)s)->mute_req) : 0; }
MIXSTAGE_EXPORT int mixstage_send_tap(const mixstage_send *s) { return s ? s->tap : MIXSTAGE_ENULL; }
MIXSTAGE_EXPORT int mixstage_send_role(const mixstage_send *s) { return s ? s->role : MIXSTAGE_ENULL; }
MIXSTAGE_EXPORT mixstage_bus *mixstage_send_target(mixstage_send *s) { return s ? s->to : NULL; }

/* ---- lanes of strips, buses and sends --------------------------------------------- */

static mixstage_lane *param_lane(mixstage_graph *g, mixstage__param *p, int owner_kind, const void *owner,
                                 int *error) {
  if (!p->lane) {
    char who[MIXSTAGE__ERR_MAX / 2];
    if (MIXSTAGE__BUSY(g, mixstage__lane_label(who, sizeof who, owner_kind, owner, p->info->name))) {
      set_err(error, MIXSTAGE_ESTATE);
      return NULL;
    }
    p->lane = mixstage__live_reserve(g) == MIXSTAGE_OK ? mixstage__galloc(g, 1, sizeof *p->lane) : NULL;
    if (!p->lane) {
      char what[MIXSTAGE__ERR_MAX / 2];
      set_err(error, mixstage__fail(g, MIXSTAGE_ENOMEM, "%s: out of memory",
                                    mixstage__lane_label(what, sizeof what, owner_kind, owner, p->info->name)));
      return NULL;
    }
    p->lane->graph = g;
    p->lane->info = p->info;
    p->lane->owner_kind = owner_kind;
    p->lane->owner = owner;
    p->lane->serial = mixstage__live_add(g, MIXSTAGE__LIVE_LANE, p->lane);
  }
  set_err(error, MIXSTAGE_OK);
  return p->lane;
}

mixstage_lane *mixstage__param_lane(mixstage_graph *g, mixstage__param *p, int owner_kind, const void *owner,
                                    int *error);
mixstage_lane *mixstage__param_lane(mixstage_graph *g, mixstage__param *p, int owner_kind, const void *owner,
                                    int *error) {
  return param_lane(g, p, owner_kind, owner, error);
}

static mixstage_lane *unit_lane(mixstage__unit *u, int which, int *error) {
  switch (which) {
  case MIXSTAGE_STRIP_FADER: return param_lane(u->graph, &u->fader, MIXSTAGE__OWNER_UNIT, u, error);
  case MIXSTAGE_STRIP_PAN: return param_lane(u->graph, &u->pan, MIXSTAGE__OWNER_UNIT, u, error);
  case MIXSTAGE_STRIP_WIDTH: return param_lane(u->graph, &u->width, MIXSTAGE__OWNER_UNIT, u, error);
  default:
    set_err(error, mixstage__fail(u->graph, MIXSTAGE_ENOTFOUND, "%s '%s': no automatable parameter %d",
                                  mixstage__unit_what(u), u->name, which));
    return NULL;
  }
}

MIXSTAGE_EXPORT mixstage_lane *mixstage_strip_lane(mixstage_strip *s, int which, int *error) {
  if (!s) {
    set_err(error, MIXSTAGE_ENULL);
    return NULL;
  }
  if (which == MIXSTAGE_STRIP_CLIP_GAIN)
    return param_lane(s->u.graph, &s->clip_gain, MIXSTAGE__OWNER_UNIT, &s->u, error);
  return unit_lane(&s->u, which, error);
}

MIXSTAGE_EXPORT mixstage_lane *mixstage_bus_lane(mixstage_bus *b, int which, int *error) {
  if (!b) {
    set_err(error, MIXSTAGE_ENULL);
    return NULL;
  }
  return unit_lane(&b->u, which, error);
}

MIXSTAGE_EXPORT mixstage_lane *mixstage_send_lane(mixstage_send *s, int *error) {
  if (!s) {
    set_err(error, MIXSTAGE_ENULL);
    return NULL;
  }
  return param_lane(s->graph, &s->level, MIXSTAGE__OWNER_SEND, s, error);
}

/* Lookups that never create a lane: saving and inspection must not change
 * the graph they look at. */
static mixstage_lane *unit_find_lane(mixstage__unit *u, int which) {
  switch (which) {
  case MIXSTAGE_STRIP_FADER: return u->fader.lane;
  case MIXSTAGE_STRIP_PAN: return u->pan.lane;
  case MIXSTAGE_STRIP_WIDTH: return u->width.lane;
  default: return NULL;
  }
}

MIXSTAGE_EXPORT mixstage_lane *mixstage_strip_find_lane(mixstage_strip *s, int which) {
  if (!s) return NULL;
  return which == MIXSTAGE_STRIP_CLIP_GAIN ? s->clip_gain.lane : unit_find_lane(&s->u, which);
}

MIXSTAGE_EXPORT mixstage_lane *mixstage_bus_find_lane(mixstage_bus *b, int which) {
  return b ? unit_find_lane(&b->u, which) : NULL;
}

MIXSTAGE_EXPORT mixstage_lane *mixstage_send_find_lane(mixstage_send *s) { return s ? s->level.lane : NULL; }
