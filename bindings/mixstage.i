/* libmixstage: one SWIG interface for the Python and Lua bindings.
 *
 * Layout of this file
 *   1. Lifetimes: a reference-counted registry of graphs (C, shared by both
 *      languages).  Every handle given to the target language is owned by its
 *      proxy and holds one reference on its graph, so a strip, bus, send, node
 *      or lane keeps its graph alive: dropping the Graph object first and then
 *      using a strip keeps working, and the graph is destroyed when the last
 *      proxy goes (in any order).  There is deliberately no close(): with
 *      borrowed C handles a closed graph would leave dangling children whose
 *      addresses malloc may hand to a new graph.  Destroying twice is
 *      impossible: mixstage_graph_destroy() is not wrapped, the registry is
 *      its only caller.  (If the C API ever gains object removal, the removal
 *      wrapper must refuse while a proxy of that object lives.)  The
 *      registry also keeps what a graph borrows from the binding: streaming
 *      meters attached to strips and buses (a Meter proxy that goes while
 *      attached leaves its meter to the registry, freed on detach or with
 *      the graph) and the per-language contexts of strips' source callbacks
 *      (freed when replaced or with the graph).
 *   2. Errors: negative status codes become exceptions (Python: one class per
 *      code under mixstage.Error) or Lua errors (a table with code, name,
 *      kind, message, detail and a __tostring), carrying mixstage_strerror()
 *      and the graph's last-error message naming the object at fault.
 *   3. Enumerations given as strings or constants (roles, taps, bus kinds,
 *      curves, strip lanes).
 *   4. The flat C API: ONE %include per public header.  Adding a header
 *      (files, profiles, meters) is: %include it at the end of section 4, add
 *      its status-returning functions to MIXSTAGE_STATUS_FUNCTIONS, and any
 *      new handle type to MSB_HANDLE(); then write its sugar in section 5.
 *   5. Object sugar (%extend) shared by both languages, then per-language
 *      extras: numpy arrays for Python (bindings/python/sugar.i), the Buffer
 *      userdata for Lua (bindings/lua/sugar.i).
 *   6. The per-language sugar, which also defines a small result builder
 *      (msb_b_*: dict/list/numpy in Python, tables/Buffers in Lua) and the
 *      `const msb_audio *` input typemap (numpy array-like / Buffer).
 *   7. assess.h, analysis.h (meters), master.h, translate.h and graphfile.h,
 *      written ONCE against that builder: each wrapper fills a result the
 *      same way in both languages (indices 0-based in Python, 1-based in
 *      Lua).  A GraphFile document owns its graph: the registry entry of
 *      section 1 then destroys the document instead of the graph; that
 *      holds for a document loaded from a file and for one wrapped around a
 *      graph built in code (graphfile_wrap), whose proxies stay valid.
 *   Coverage: tests/python/test_coverage.py parses every MIXSTAGE_EXPORT of
 *   include/mixstage/*.h and fails until each is reachable from Python and
 *   Lua (flat name or listed sugar) or listed as deliberately not wrapped.
 */
#if defined(SWIGPYTHON)
%module(docstring="libmixstage: mixing graphs rendered the way producers and mix engineers deliver music.\n\nAudio is numpy float32 shaped (frames, channels).  Errors raise mixstage.Error subclasses.\n\nStart with README.md, section \"Python and Lua\" (the first lines a notebook user writes, frames and seconds, arrays, the one vocabulary); type stubs: mixstage.pyi beside this module.") mixstage
#else
%module mixstage
#endif

#if defined(SWIGPYTHON)
%feature("kwargs");
%feature("autodoc", "1");
%{
#define SWIG_FILE_WITH_INIT
%}
#endif

%{
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>
#include "mixstage.h"
%}

%include <stdint.i>

/* ======================================================================== */
/* 1. Lifetimes                                                             */
/* ======================================================================== */
%{
/* One entry per live graph known to the binding. */
typedef struct msb_gref {
  mixstage_graph *g;
  long refs;         /* proxies (the graph's own and its children's) alive */
  const void *profile; /* the active custom profile, retained (see section 5b) */
  void *doc;         /* a mixstage_graphfile owning the graph (section 7), or NULL */
  struct msb_gref *next;
} msb_gref;

/* One entry per handle held by at least one proxy: handle -> graph.  For
 * strips, buses, sends, nodes and lanes the entry is also what the proxies
 * hold (a "cell", section 1b): an edit that frees the object marks the entry
 * removed and unlinks it from the table, the proxies keep it until they go. */
typedef struct msb_hold {
  const void *h;
  msb_gref *gr;
  long count;
  int kind;          /* MSB_K_* (section 1b) */
  uint64_t serial;   /* the object's serial (edit.h), for the cells */
  int removed;       /* the object was freed by an edit: h dangles */
  char what[256];    /* "Strip 'Vox'", filled before an edit; once removed, the whole story */
  struct msb_hold *next;
} msb_hold;

#define MSB_BUCKETS 509
static msb_hold *msb_table[MSB_BUCKETS];
static msb_gref *msb_grefs;
/* Lua states in different threads may share this module: one lock around
 * the registry (edit-time only; the render path never touches it). */
static pthread_mutex_t msb_lock = PTHREAD_MUTEX_INITIALIZER;

static size_t msb_bucket(const void *h) {
  uintptr_t x = (uintptr_t)h;
  x ^= x >> 17;
  return (size_t)(x % MSB_BUCKETS);
}

static msb_hold *msb_find_locked(const void *h) {
  for (msb_hold *e = msb_table[msb_bucket(h)]; e; e = e->next)
    if (e->h == h) return e;
  return NULL;
}

/* Records one more proxy for handle @h of kind @kind that belongs to graph
 * @g (for a new graph, h == g and g is not yet known).  Returns the entry,
 * or NULL out of memory. */
static void msb_unlink_gref_locked(msb_gref *gr);
static uint64_t msb_serial_of(const void *h, int kind);
static void msb_describe_new(msb_hold *e);
static void msb_retire_locked(msb_hold *e, const char *how, const char *cause);
static msb_hold *msb_retain_cell(const void *h, mixstage_graph *g, int kind) {
  uint64_t serial = msb_serial_of(h, kind);
  pthread_mutex_lock(&msb_lock);
  msb_hold *e = msb_find_locked(h);
  if (e && e->serial != serial) {
    /* a removed object's cell that no edit retired (a new object now lives
     * at its address): it must not stand for the new one */
    msb_retire_locked(e, "removed from its graph", NULL);
    e = NULL;
  }
  if (e) {
    e->count++;
    e->gr->refs++;
    goto out;
  }
  msb_gref *gr = NULL;
  for (msb_gref *r = msb_grefs; r; r = r->next)
    if (r->g == g) { gr = r; break; }
  if (!gr) {
    gr = (msb_gref *)calloc(1, sizeof *gr);
    if (!gr) goto out;
    gr->g = g;
    gr->next = msb_grefs;
    msb_grefs = gr;
  }
  e = (msb_hold *)calloc(1, sizeof *e);
  if (!e) {
    if (gr->refs == 0) msb_unlink_gref_locked(gr);
    goto out;
  }
  e->h = h;
  e->gr = gr;
  e->count = 1;
  e->kind = kind;
  e->serial = serial;
  msb_describe_new(e);
  e->next = msb_table[msb_bucket(h)];
  msb_table[msb_bucket(h)] = e;
  gr->refs++;
out:
  pthread_mutex_unlock(&msb_lock);
  return e;
}
/* As msb_retain_cell for handles whose proxies hold the handle itself (a
 * graph, a graph-file document).  Returns 0, or -1 out of memory. */
static int msb_retain(const void *h, mixstage_graph *g) {
  return msb_retain_cell(h, g, 0 /* MSB_K_GRAPH */) ? 0 : -1;
}

static void msb_unlink_gref_locked(msb_gref *gr) {
  for (msb_gref **p = &msb_grefs; *p; p = &(*p)->next)
    if (*p == gr) { *p = gr->next; break; }
  free(gr);
}

/* A proxy of @h went away.  The last reference destroys the graph. */
static void msb_prof_release(const void *p);
static void msb_doc_destroy(void *doc);
struct msb_pull;
static struct msb_pull *msb_pulls_take(mixstage_graph *g, const void *strip);
static void msb_pulls_free_list(struct msb_pull *l);
static void msb_meters_graph_gone(mixstage_graph *g);
/* A proxy of entry @e (a live one: @h is its handle; a removed one: h is
 * NULL and e is the cell the proxy held) went away. */
static void msb_release_entry(const void *h, msb_hold *e) {
  mixstage_graph *doomed = NULL;
  void *doomed_doc = NULL;
  const void *doomed_profile = NULL;
  pthread_mutex_lock(&msb_lock);
  msb_hold **p = NULL;
  if (!e || !e->removed) {
    if (e) h = e->h;
    p = &msb_table[msb_bucket(h)];
    while (*p && (*p)->h != h) p = &(*p)->next;
    e = *p;
  }
  if (e) {
    msb_gref *gr = e->gr;
    if (--e->count == 0) {
      if (p) *p = e->next; /* a removed entry is already out of the table */
      free(e);
    }
    if (--gr->refs == 0) {
      doomed = gr->g;
      doomed_doc = gr->doc;
      doomed_profile = gr->profile;
      msb_unlink_gref_locked(gr);
    }
  }
  pthread_mutex_unlock(&msb_lock);
  if (doomed_doc) {
    msb_doc_destroy(doomed_doc); /* a graph file owns its graph */
  } else {
    mixstage_graph_destroy(doomed); /* accepts NULL */
  }
  msb_prof_release(doomed_profile); /* after the graph that used it */
  if (doomed) {
    /* after the graph: it no longer calls the callbacks nor pushes meters */
    msb_pulls_free_list(msb_pulls_take(doomed, NULL));
    msb_meters_graph_gone(doomed);
  }
}
static void msb_release(const void *h) { msb_release_entry(h, NULL); }

/* Custom profiles (mixstage_profile_create) held by the binding: each
 * Profile proxy holds one reference, and so does every graph whose active
 * profile it is (mixstage_graph_set_profile() borrows the profile for as
 * long as it is active).  The last reference destroys it, so dropping a
 * Profile that a graph still uses is safe.  Built-ins are static and never
 * counted. */
typedef struct msb_pref {
  const void *p;
  long refs;
  struct msb_pref *next;
} msb_pref;
static msb_pref *msb_prefs;

static int msb_prof_builtin(const void *p) {
  for (int i = 0; mixstage_profile_builtin(i); i++)
    if ((const void *)mixstage_profile_builtin(i) == p) return 1;
  return 0;
}
/* One more reference on custom profile @p (registered on first sight).
 * Returns 0, or -1 out of memory.  NULL and built-ins: nothing to do. */
static int msb_prof_retain(const void *p) {
  if (!p || msb_prof_builtin(p)) return 0;
  int rc = 0;
  pthread_mutex_lock(&msb_lock);
  msb_pref *e = msb_prefs;
  while (e && e->p != p) e = e->next;
  if (e) {
    e->refs++;
  } else if ((e = (msb_pref *)calloc(1, sizeof *e)) != NULL) {
    e->p = p;
    e->refs = 1;
    e->next = msb_prefs;
    msb_prefs = e;
  } else {
    rc = -1;
  }
  pthread_mutex_unlock(&msb_lock);
  return rc;
}
static void msb_prof_release(const void *p) {
  const void *doomed = NULL;
  if (!p) return;
  pthread_mutex_lock(&msb_lock);
  for (msb_pref **q = &msb_prefs; *q; q = &(*q)->next) {
    if ((*q)->p != p) continue;
    msb_pref *e = *q;
    if (--e->refs == 0) {
      *q = e->next;
      free(e);
      doomed = p;
    }
    break;
  }
  pthread_mutex_unlock(&msb_lock);
  mixstage_profile_destroy((mixstage_profile *)doomed); /* accepts NULL */
}

/* The graph a handle given out by the binding belongs to, or NULL. */
static mixstage_graph *msb_graph_of(const void *h) {
  mixstage_graph *g = NULL;
  if (!h) return NULL;
  pthread_mutex_lock(&msb_lock);
  msb_hold *e = msb_find_locked(h);
  if (e) g = e->gr->g;
  pthread_mutex_unlock(&msb_lock);
  return g;
}

/* Streaming meters (analysis.h) owned by Meter proxies.  A graph borrows an
 * attached meter, so the meter must outlive its attachment: a Meter proxy
 * that goes while its meter is attached only marks it orphaned, and the
 * meter is destroyed when it is detached (replaced at its tap, detached by
 * hand) or when its graph is destroyed.  Attached meters are linked in
 * msb_meters (under msb_lock). */
typedef struct msb_meter {
  mixstage_meter *m;
  int channels;
  mixstage_graph *graph; /* attached to this graph, or NULL */
  const void *unit;      /* ... at this strip or bus ... */
  int tap;               /* ... and tap */
  int orphaned;          /* the proxy is gone: destroy on detach */
  struct msb_meter *next;
} msb_meter;
static msb_meter *msb_meters;

static void msb_meter_free(msb_meter *mb) {
  mixstage_meter_destroy(mb->m);
  free(mb);
}
/* Unlinks every attachment matching (graph, unit, tap), or all of a graph
 * when unit is NULL; returns the orphans to free (linked by next). */
static msb_meter *msb_meters_detach_locked(mixstage_graph *g, const void *unit, int tap) {
  msb_meter *orphans = NULL;
  for (msb_meter **p = &msb_meters; *p;) {
    msb_meter *e = *p;
    if (e->graph == g && (!unit || (e->unit == unit && e->tap == tap))) {
      *p = e->next;
      e->graph = NULL;
      e->unit = NULL;
      e->next = NULL;
      if (e->orphaned) { e->next = orphans; orphans = e; }
    } else {
      p = &e->next;
    }
  }
  return orphans;
}
static void msb_meters_free_list(msb_meter *l) {
  while (l) { msb_meter *n = l->next; msb_meter_free(l); l = n; }
}
/* After graph @g was destroyed: nothing is attached to it any more. */
static void msb_meters_graph_gone(mixstage_graph *g) {
  if (!g) return;
  pthread_mutex_lock(&msb_lock);
  msb_meter *o = msb_meters_detach_locked(g, NULL, 0);
  pthread_mutex_unlock(&msb_lock);
  msb_meters_free_list(o);
}
/* The Meter proxy went: free the meter now unless a graph still uses it. */
static void msb_meter_proxy_gone(msb_meter *mb) {
  pthread_mutex_lock(&msb_lock);
  int attached = mb->graph != NULL;
  if (attached) mb->orphaned = 1;
  pthread_mutex_unlock(&msb_lock);
  if (!attached) msb_meter_free(mb);
}

/* Source callbacks of strips (section 6): a per-language context per strip,
 * kept until the source is replaced by another callback or the graph is
 * destroyed (the C library may call it until then). */
typedef struct msb_pull {
  mixstage_graph *graph;
  const void *strip;
  struct msb_pull *next;
  /* language part follows (see the sugar) */
} msb_pull;
static msb_pull *msb_pulls;
static void msb_pull_free(msb_pull *p); /* per language */
/* Unlinks the contexts of (@g, @strip), or all of @g when strip is NULL;
 * returns them linked by next. */
static msb_pull *msb_pulls_take(mixstage_graph *g, const void *strip) {
  msb_pull *out = NULL;
  pthread_mutex_lock(&msb_lock);
  for (msb_pull **p = &msb_pulls; *p;) {
    msb_pull *e = *p;
    if (e->graph == g && (!strip || e->strip == strip)) {
      *p = e->next;
      e->next = out;
      out = e;
    } else {
      p = &e->next;
    }
  }
  pthread_mutex_unlock(&msb_lock);
  return out;
}
static void msb_pulls_free_list(msb_pull *l) {
  while (l) { msb_pull *n = l->next; msb_pull_free(l); l = n; }
}
%}

/* ======================================================================== */
/* 1b. Removed objects (graph editing)                                      */
/* ======================================================================== */
/* Proxies of strips, buses, sends, nodes and lanes hold their registry entry
 * (msb_hold, a "cell"), not the C handle; each call reads the handle from the
 * cell (the in typemap of MSB_HANDLE, section 4).  An edit that frees objects
 * (a removal; a replacement) is bracketed by msb_edit_begin() and
 * msb_edit_end(): before it, every held object of the graph gets its
 * description; after it, the binding walks what the graph still reaches and
 * marks every other cell of that graph removed, unlinking it from the table.
 * So every proxy of a removed object -- also one obtained separately, by
 * iteration or by name, and those of everything removed with it (a strip's
 * nodes, sends and lanes) -- raises RemovedError naming it on any use,
 * instead of touching freed memory; and a new object that malloc places at
 * the same address gets a fresh cell, so an old proxy can never reach it.
 * Meters attached to a removed strip or bus and source callbacks of a removed
 * strip are released the same way.  Graph proxies hold the graph itself: a
 * graph is never removed, only destroyed with its last proxy. */
%{
enum { MSB_K_GRAPH = 0, MSB_K_STRIP, MSB_K_BUS, MSB_K_SEND, MSB_K_NODE, MSB_K_LANE };
static const char *const msb_k_names[] = {"Graph", "Strip", "Bus", "Send", "Node", "Lane"};

/* Calls @fn for every strip, bus, send, node and lane @g reaches, with a
 * description of it (only computed when @describe is set). */
typedef void (*msb_visit_fn)(mixstage_graph *g, const void *h, const char *what);
static void msb_visit_lanes_of_node(mixstage_graph *g, mixstage_node *n, const char *owner,
                                    msb_visit_fn fn, int describe) {
  int count = mixstage_node_param_count(n);
  for (int id = 0; id < count; id++) {
    mixstage_lane *l = mixstage_node_find_lane(n, id);
    if (!l) continue;
    char what[200] = "";
    if (describe) {
      mixstage_param_info info;
      memset(&info, 0, sizeof info);
      mixstage_node_param_info(n, id, &info);
      snprintf(what, sizeof what, "Lane '%s' of %s", info.name ? info.name : "?", owner);
    }
    fn(g, l, what);
  }
}
static void msb_visit_unit(mixstage_graph *g, mixstage_strip *s, mixstage_bus *b, msb_visit_fn fn,
                           int describe) {
  static const char *const lane_names[] = {"clip_gain", "fader", "pan", "width"};
  char self[200] = "", what[200] = "";
  if (describe)
    snprintf(self, sizeof self, s ? "Strip '%s'" : "Bus '%s'", s ? mixstage_strip_name(s) : mixstage_bus_name(b));
  fn(g, s ? (const void *)s : (const void *)b, self);
  for (int which = s ? 0 : 1; which < 4; which++) {
    mixstage_lane *l = s ? mixstage_strip_find_lane(s, which) : mixstage_bus_find_lane(b, which);
    if (!l) continue;
    if (describe) snprintf(what, sizeof what, "Lane '%s' of %s", lane_names[which], self);
    fn(g, l, what);
  }
  int nodes = s ? mixstage_strip_node_count(s) : mixstage_bus_node_count(b);
  for (int i = 0; i < nodes; i++) {
    mixstage_node *n = s ? mixstage_strip_node(s, i) : mixstage_bus_node(b, i);
    if (!n) continue;
    if (describe) snprintf(what, sizeof what, "Node '%s' (insert %d of %s)", mixstage_node_type(n), i, self);
    fn(g, n, what);
    msb_visit_lanes_of_node(g, n, what, fn, describe);
  }
  int sends = s ? mixstage_strip_send_count(s) : mixstage_bus_send_count(b);
  for (int i = 0; i < sends; i++) {
    mixstage_send *x = s ? mixstage_strip_send(s, i) : mixstage_bus_send(b, i);
    if (!x) continue;
    if (describe)
      snprintf(what, sizeof what, "Send from %s to '%s'", self, mixstage_bus_name(mixstage_send_target(x)));
    fn(g, x, what);
    mixstage_lane *l = mixstage_send_find_lane(x);
    if (l) {
      char lw[200] = "";
      if (describe) snprintf(lw, sizeof lw, "Lane of the %s", what);
      fn(g, l, lw);
    }
  }
}
static void msb_walk(mixstage_graph *g, msb_visit_fn fn, int describe) {
  int strips = mixstage_graph_strip_count(g);
  for (int i = 0; i < strips; i++) {
    mixstage_strip *s = mixstage_graph_strip(g, i);
    if (s) msb_visit_unit(g, s, NULL, fn, describe);
  }
  int buses = mixstage_graph_bus_count(g);
  for (int i = 0; i < buses; i++) {
    mixstage_bus *b = mixstage_graph_bus(g, i);
    if (b) msb_visit_unit(g, NULL, b, fn, describe);
  }
}

/* The serial of handle @h of kind @kind (0 for a graph or a document). */
static uint64_t msb_serial_of(const void *h, int kind) {
  switch (kind) {
  case MSB_K_STRIP: return mixstage_strip_serial((const mixstage_strip *)h);
  case MSB_K_BUS: return mixstage_bus_serial((const mixstage_bus *)h);
  case MSB_K_SEND: return mixstage_send_serial((const mixstage_send *)h);
  case MSB_K_NODE: return mixstage_node_serial((const mixstage_node *)h);
  case MSB_K_LANE: return mixstage_lane_serial((const mixstage_lane *)h);
  default: return 0;
  }
}
/* The live object of @g with @serial, or NULL once it was removed; never
 * reads a removed object. */
static const void *msb_by_serial(mixstage_graph *g, int kind, uint64_t serial) {
  switch (kind) {
  case MSB_K_STRIP: return mixstage_graph_strip_by_serial(g, serial);
  case MSB_K_BUS: return mixstage_graph_bus_by_serial(g, serial);
  case MSB_K_SEND: return mixstage_graph_send_by_serial(g, serial);
  case MSB_K_NODE: return mixstage_graph_node_by_serial(g, serial);
  case MSB_K_LANE: return mixstage_graph_lane_by_serial(g, serial);
  default: return NULL;
  }
}
/* A first description of a new cell's object (edits refine it, section
 * msb_edit_begin: lanes only learn their owner there). */
static void msb_describe_new(msb_hold *e) {
  const void *h = e->h;
  switch (e->kind) {
  case MSB_K_STRIP: snprintf(e->what, sizeof e->what, "Strip '%s'", mixstage_strip_name((const mixstage_strip *)h)); break;
  case MSB_K_BUS: snprintf(e->what, sizeof e->what, "Bus '%s'", mixstage_bus_name((const mixstage_bus *)h)); break;
  case MSB_K_NODE: snprintf(e->what, sizeof e->what, "Node '%s' (%s)", mixstage_node_type((const mixstage_node *)h),
                            mixstage_node_label((const mixstage_node *)h)); break;
  case MSB_K_SEND: {
    mixstage_send *x = (mixstage_send *)h;
    mixstage_strip *ss = mixstage_send_source_strip(x);
    snprintf(e->what, sizeof e->what, "Send from %s '%s' to '%s'", ss ? "Strip" : "Bus",
             ss ? mixstage_strip_name(ss) : mixstage_bus_name(mixstage_send_source_bus(x)),
             mixstage_bus_name(mixstage_send_target(x)));
    break;
  }
  case MSB_K_LANE: snprintf(e->what, sizeof e->what, "Lane"); break;
  default: e->what[0] = 0; break;
  }
}
/* Marks cell @e removed and takes it out of the table (its proxies keep it
 * until they go); its message tells the story.  msb_lock held. */
static void msb_retire_locked(msb_hold *e, const char *how, const char *cause) {
  for (msb_hold **p = &msb_table[msb_bucket(e->h)]; *p; p = &(*p)->next)
    if (*p == e) { *p = e->next; break; }
  e->next = NULL;
  e->removed = 1;
  e->h = NULL;
  char story[2 * sizeof e->what + 32];
  if (cause && *cause && strcmp(cause, e->what) != 0)
    snprintf(story, sizeof story, "%s was removed with %s", e->what, cause);
  else
    snprintf(story, sizeof story, "%s was %s", e->what[0] ? e->what : msb_k_names[e->kind], how);
  size_t n = strlen(story);
  if (n >= sizeof e->what) n = sizeof e->what - 1; /* a very long name: cut */
  memcpy(e->what, story, n);
  e->what[n] = 0;
}

/* msb_lock held by the walks' callers. */
static void msb_describe_one(mixstage_graph *g, const void *h, const char *what) {
  msb_hold *e = msb_find_locked(h);
  if (e && e->gr->g == g && e->kind != MSB_K_GRAPH) snprintf(e->what, sizeof e->what, "%s", what);
}

/* Before an edit of @g that may free objects: every held object gets its
 * current description (a node its insert index, a lane its owner). */
static void msb_edit_begin(mixstage_graph *g) {
  if (!g) return;
  pthread_mutex_lock(&msb_lock);
  msb_walk(g, msb_describe_one, 1);
  pthread_mutex_unlock(&msb_lock);
}
/* Whether @unit is one of @g's strips or buses (by address: called right
 * after an edit, before anything new can be allocated at a freed one). */
static int msb_unit_alive(mixstage_graph *g, const void *unit) {
  int n = mixstage_graph_strip_count(g);
  for (int i = 0; i < n; i++)
    if ((const void *)mixstage_graph_strip(g, i) == unit) return 1;
  n = mixstage_graph_bus_count(g);
  for (int i = 0; i < n; i++)
    if ((const void *)mixstage_graph_bus(g, i) == unit) return 1;
  return 0;
}
/* After it (whether it succeeded or not): the cells of @g whose serial finds
 * nothing any more are retired, so are the binding's records of meters
 * attached to removed strips and buses (the library detached them) and the
 * source-callback contexts of removed strips.  @how ends each removed
 * object's message ("removed from its graph"); @cause names the object
 * the user removed, for the others that went with it (NULL: none). */
static void msb_edit_end(mixstage_graph *g, const char *how, const char *cause) {
  if (!g) return;
  msb_meter *orphans = NULL;
  msb_pull *gone = NULL;
  pthread_mutex_lock(&msb_lock);
  for (int b = 0; b < MSB_BUCKETS; b++) {
    for (msb_hold *e = msb_table[b], *next; e; e = next) {
      next = e->next;
      if (e->gr->g == g && e->kind != MSB_K_GRAPH && msb_by_serial(g, e->kind, e->serial) != e->h)
        msb_retire_locked(e, how, cause);
    }
  }
  for (msb_meter **p = &msb_meters; *p;) {
    msb_meter *m = *p;
    if (m->graph == g && !msb_unit_alive(g, m->unit)) {
      *p = m->next;
      m->graph = NULL;
      m->unit = NULL;
      m->next = NULL;
      if (m->orphaned) { m->next = orphans; orphans = m; }
    } else {
      p = &m->next;
    }
  }
  for (msb_pull **p = &msb_pulls; *p;) {
    msb_pull *c = *p;
    if (c->graph == g && !msb_unit_alive(g, c->strip)) {
      *p = c->next;
      c->next = gone;
      gone = c;
    } else {
      p = &c->next;
    }
  }
  pthread_mutex_unlock(&msb_lock);
  msb_meters_free_list(orphans);
  msb_pulls_free_list(gone);
}

/* The description of the object behind @h right now ("Strip 'Vox'"), for
 * the cause of an edit; "" if the graph does not reach it. */
static _Thread_local char msb_cause[256];
static const char *msb_describe(const void *h) {
  msb_cause[0] = 0;
  pthread_mutex_lock(&msb_lock);
  msb_hold *e = msb_find_locked(h);
  if (e && e->kind != MSB_K_GRAPH) snprintf(msb_cause, sizeof msb_cause, "%s", e->what);
  pthread_mutex_unlock(&msb_lock);
  return msb_cause;
}

/* The handle a proxy's cell stands for, and its graph in @g; NULL (with
 * the cell's story in @why) if the object was removed. */
static void *msb_cell_handle(msb_hold *e, mixstage_graph **g, char *why, size_t size) {
  void *h = NULL;
  pthread_mutex_lock(&msb_lock);
  if (!e->removed && msb_by_serial(e->gr->g, e->kind, e->serial) != e->h)
    msb_retire_locked(e, "removed from its graph", NULL); /* freed by an edit no sweep saw */
  if (e->removed) {
    snprintf(why, size, "%s: this %s can no longer be used", e->what, msb_k_names[e->kind]);
  } else {
    h = (void *)e->h;
    *g = e->gr->g;
  }
  pthread_mutex_unlock(&msb_lock);
  return h;
}
/* The cell's story if its object was removed, else NULL. */
static const char *msb_cell_removed(msb_hold *e) {
  static _Thread_local char why[320];
  mixstage_graph *g = NULL;
  return msb_cell_handle(e, &g, why, sizeof why) ? NULL : why;
}
%}

/* ======================================================================== */
/* 2. Errors                                                                */
/* ======================================================================== */
%{
/* The graph whose last-error message explains a failure: set by the check
 * typemap of every handle argument (section 4) and by the sugar. */
static _Thread_local mixstage_graph *msb_ctx;
/* A failure recorded by sugar code (setters cannot return a status);
 * raised by the %exception wrapper right after the call. */
static _Thread_local int msb_pending;
/* A message of the binding's own for the pending failure (an unknown enum
 * name, a file error from io.h's err buffer): used instead of the graph's
 * last error when msb_has_msg is set. */
static _Thread_local char msb_msg[1024];
static _Thread_local int msb_has_msg;

static int msb_check(int status, mixstage_graph *g) {
  if (status < 0 && !msb_pending) {
    msb_pending = status;
    msb_ctx = g;
  }
  return status;
}
/* As msb_check, with @msg as the detail. */
static int msb_check_msg(int status, const char *msg) {
  if (status < 0 && !msb_pending) {
    msb_pending = status;
    msb_ctx = NULL;
    snprintf(msb_msg, sizeof msb_msg, "%s", msg ? msg : "");
    msb_has_msg = 1;
  }
  return status;
}
/* The detail for a failure: the binding's own message if one is pending,
 * else the graph's last error. */
static const char *msb_detail(mixstage_graph *g) {
  if (msb_has_msg) {
    msb_has_msg = 0;
    return msb_msg;
  }
  return g ? mixstage_graph_last_error(g) : "";
}

/* Exception (Python) / error kind (Lua) names, one per status code. */
static const struct msb_kind {
  int code;
  const char *kind;
} msb_kinds[] = {
    {MIXSTAGE_EINVAL, "InvalidArgumentError"}, {MIXSTAGE_ENULL, "NullHandleError"},
    {MIXSTAGE_ENOMEM, "OutOfMemoryError"},     {MIXSTAGE_ERANGE, "RangeError"},
    {MIXSTAGE_ENOTFOUND, "NotFoundError"},     {MIXSTAGE_ECYCLE, "CycleError"},
    {MIXSTAGE_ESTATE, "StateError"},           {MIXSTAGE_ECHANNELS, "ChannelsError"},
    {MIXSTAGE_EBLOCKSIZE, "BlockSizeError"},   {MIXSTAGE_EEXIST, "ExistsError"},
    {MIXSTAGE_ENUMERIC, "NumericError"},       {MIXSTAGE_EIO, "InputOutputError"},
    {MIXSTAGE_EFORMAT, "FormatError"},         {MIXSTAGE_ECANCELLED, "CancelledError"},
    {MIXSTAGE_EUNSUPPORTED, "UnsupportedError"},
};
#define MSB_NKINDS ((int)(sizeof msb_kinds / sizeof *msb_kinds))

static int msb_kind_index(int code) {
  for (int i = 0; i < MSB_NKINDS; i++)
    if (msb_kinds[i].code == code) return i;
  return -1;
}

/* "reason: detail", where detail is the graph's message naming the object. */
/* Where the library's messages advise a C call, the binding's users read
 * the call in their language's names. */
static const struct msb_c_name {
  const char *c, *py, *lua;
} msb_c_names[] = {
    {"mixstage_graph_prepare", "Graph.prepare()", "graph:prepare()"},
    {"mixstage_bus_insert(mix, \"limiter\", MIXSTAGE_ROLE_MASTERING, -1, &err)",
     "graph.mix_bus.insert(\"limiter\", role=\"mastering\")", "graph.mix_bus:insert(\"limiter\", \"mastering\")"},
    {"mixstage_master_config", "the master() arguments", "the master() options"},
};
static void msb_translate(char *out, size_t size, const char *in) {
  size_t k = 0;
  while (*in && k + 1 < size) {
    const char *to = NULL;
    size_t skip = 0;
    for (size_t i = 0; i < sizeof msb_c_names / sizeof msb_c_names[0]; i++) {
      size_t n = strlen(msb_c_names[i].c);
      if (strncmp(in, msb_c_names[i].c, n) == 0) {
#if defined(SWIGPYTHON)
        to = msb_c_names[i].py;
#else
        to = msb_c_names[i].lua;
#endif
        skip = n;
        break;
      }
    }
    if (to) {
      for (; *to && k + 1 < size; to++) out[k++] = *to;
      in += skip;
    } else {
      out[k++] = *in++;
    }
  }
  out[k] = 0;
}
static void msb_format(char *buf, size_t size, int status, const char *detail) {
  if (detail && *detail) {
    char said[768];
    msb_translate(said, sizeof said, detail);
    snprintf(buf, size, "%s: %s", mixstage_strerror(status), said);
  } else {
    snprintf(buf, size, "%s", mixstage_strerror(status));
  }
}
%}

#if defined(SWIGPYTHON)
%{
static PyObject *msb_exc_base;
static PyObject *msb_exc[MSB_NKINDS];
static PyObject *msb_numeric_warning;
/* A result that goes with the next exception as its `report` attribute
 * (a master that did not converge: the best attempt). */
static PyObject *msb_err_report;

/* Raises the exception class of @status with the message of @detail (a
 * graph's last error, or a message of the binding's own). */
static void msb_raise_msg(int status, const char *detail) {
  char msg[1024];
  msb_format(msg, sizeof msg, status, detail);
  int k = msb_kind_index(status);
  PyObject *cls = k >= 0 && msb_exc[k] ? msb_exc[k] : msb_exc_base;
  PyObject *exc = PyObject_CallFunction(cls, "s", msg);
  if (!exc) { Py_CLEAR(msb_err_report); return; }
  PyObject *v;
  v = PyLong_FromLong(status); PyObject_SetAttrString(exc, "code", v); Py_XDECREF(v);
  v = PyUnicode_FromString(mixstage_err_name(status)); PyObject_SetAttrString(exc, "name", v); Py_XDECREF(v);
  v = PyUnicode_FromString(mixstage_strerror(status)); PyObject_SetAttrString(exc, "reason", v); Py_XDECREF(v);
  v = PyUnicode_FromString(detail ? detail : ""); PyObject_SetAttrString(exc, "detail", v); Py_XDECREF(v);
  if (msb_err_report) {
    PyObject_SetAttrString(exc, "report", msb_err_report);
    Py_CLEAR(msb_err_report);
  } else {
    PyObject_SetAttrString(exc, "report", Py_None);
  }
  PyErr_SetObject(cls, exc);
  Py_DECREF(exc);
}
static void msb_raise(int status, mixstage_graph *g) {
  msb_raise_msg(status, msb_detail(g));
}
/* A proxy of a removed object was used (section 1b): RemovedError, whose
 * message is the object's story. */
static PyObject *msb_exc_removed;
static void msb_raise_removed(const char *why) {
  PyObject *exc = PyObject_CallFunction(msb_exc_removed, "s", why);
  if (!exc) return;
  PyObject *v;
  v = PyLong_FromLong(MIXSTAGE_ESTATE); PyObject_SetAttrString(exc, "code", v); Py_XDECREF(v);
  v = PyUnicode_FromString(mixstage_err_name(MIXSTAGE_ESTATE)); PyObject_SetAttrString(exc, "name", v); Py_XDECREF(v);
  v = PyUnicode_FromString(mixstage_strerror(MIXSTAGE_ESTATE)); PyObject_SetAttrString(exc, "reason", v); Py_XDECREF(v);
  v = PyUnicode_FromString(why); PyObject_SetAttrString(exc, "detail", v); Py_XDECREF(v);
  PyObject_SetAttrString(exc, "report", Py_None);
  PyErr_SetObject(msb_exc_removed, exc);
  Py_DECREF(exc);
}
#define MSB_FAIL(status, g) do { msb_raise((status), (g)); SWIG_fail; } while (0)
#define MSB_FAIL_MSG(status, m) do { msb_raise_msg((status), (m)); SWIG_fail; } while (0)
/* No foreign errors in Python: a progress callback's exception is restored
 * by the function that ran the render (section 6). */
#define MSB_RAISE_FOREIGN() do { } while (0)
/* A source callback's exception (section 6) for the graph of the call. */
static int msb_py_pull_raise(mixstage_graph *g);
#define MSB_PULL_ERRORS()                                                        \
  do {                                                                           \
    if (msb_pulls && !PyErr_Occurred() && msb_py_pull_raise(msb_ctx) < 0) SWIG_fail; \
  } while (0)

/* Builds mixstage.Error and its subclasses; each also derives from the
 * matching built-in so `except ValueError` keeps working. */
static int msb_init_exceptions(PyObject *module) {
  PyObject *d = PyModule_GetDict(module);
  msb_exc_base = PyErr_NewExceptionWithDoc("mixstage.Error",
      "Base of every libmixstage error.  Attributes: code (negative status), name "
      "(\"MIXSTAGE_ECYCLE\"), reason (mixstage_strerror), detail (the graph's "
      "last-error message naming the object at fault) and report (None, or the "
      "partial result of a call that failed late, e.g. the best attempt of a "
      "master that did not converge).", NULL, NULL);
  if (!msb_exc_base) return -1;
  PyDict_SetItemString(d, "Error", msb_exc_base);
  for (int i = 0; i < MSB_NKINDS; i++) {
    PyObject *builtin = NULL;
    switch (msb_kinds[i].code) {
    case MIXSTAGE_EINVAL: case MIXSTAGE_ERANGE: case MIXSTAGE_ECHANNELS:
    case MIXSTAGE_EBLOCKSIZE: case MIXSTAGE_ENULL: builtin = PyExc_ValueError; break;
    case MIXSTAGE_ENOTFOUND: builtin = PyExc_LookupError; break;
    case MIXSTAGE_ENOMEM: builtin = PyExc_MemoryError; break;
    case MIXSTAGE_EIO: builtin = PyExc_OSError; break;
    default: break;
    }
    PyObject *bases = builtin ? PyTuple_Pack(2, msb_exc_base, builtin) : PyTuple_Pack(1, msb_exc_base);
    char qual[96], doc[160];
    snprintf(qual, sizeof qual, "mixstage.%s", msb_kinds[i].kind);
    snprintf(doc, sizeof doc, "%s: %s", mixstage_err_name(msb_kinds[i].code),
             mixstage_strerror(msb_kinds[i].code));
    msb_exc[i] = PyErr_NewExceptionWithDoc(qual, doc, bases, NULL);
    Py_XDECREF(bases);
    if (!msb_exc[i]) return -1;
    PyDict_SetItemString(d, msb_kinds[i].kind, msb_exc[i]);
  }
  {
    int k = msb_kind_index(MIXSTAGE_ESTATE);
    PyObject *bases = PyTuple_Pack(2, msb_exc[k], PyExc_ReferenceError);
    msb_exc_removed = bases ? PyErr_NewExceptionWithDoc("mixstage.RemovedError",
        "The object was removed from its graph (graph.remove(), strip.remove(), "
        "node.replace()...), or went with an object that was: its proxy can no "
        "longer be used.  A StateError, and a ReferenceError as a dead weak "
        "proxy raises.", bases, NULL) : NULL;
    Py_XDECREF(bases);
    if (!msb_exc_removed) return -1;
    PyDict_SetItemString(d, "RemovedError", msb_exc_removed);
  }
  msb_numeric_warning = PyErr_NewExceptionWithDoc("mixstage.NumericWarning",
      "A node produced NaN or infinity during a render or process call; its output "
      "was silenced and its state reset, the audio returned is still valid.",
      PyExc_RuntimeWarning, NULL);
  if (!msb_numeric_warning) return -1;
  PyDict_SetItemString(d, "NumericWarning", msb_numeric_warning);
  return 0;
}
%}
%init %{
  if (msb_init_exceptions(m) < 0) return NULL;
%}
#elif defined(SWIGLUA)
%{
static int msb_error_tostring(lua_State *L) {
  lua_getfield(L, 1, "message");
  return 1;
}

/* A result that goes with the next error as its `report` field (a master
 * that did not converge: the best attempt), kept in the registry. */
static _Thread_local int msb_lua_reportref = LUA_NOREF;
/* Pushes an error object: a table {code, name, kind, reason, detail,
 * message[, report]} whose __tostring is the message, so an uncaught error
 * prints the sentence and pcall callers can test err.kind or err.code. */
static void msb_push_error_msg(lua_State *L, int status, const char *detail) {
  char msg[1024];
  msb_format(msg, sizeof msg, status, detail);
  int k = msb_kind_index(status);
  lua_createtable(L, 0, 6);
  lua_pushinteger(L, status); lua_setfield(L, -2, "code");
  lua_pushstring(L, mixstage_err_name(status)); lua_setfield(L, -2, "name");
  lua_pushstring(L, k >= 0 ? msb_kinds[k].kind : "Error"); lua_setfield(L, -2, "kind");
  lua_pushstring(L, mixstage_strerror(status)); lua_setfield(L, -2, "reason");
  lua_pushstring(L, detail ? detail : ""); lua_setfield(L, -2, "detail");
  lua_pushstring(L, msg); lua_setfield(L, -2, "message");
  if (msb_lua_reportref != LUA_NOREF) {
    lua_rawgeti(L, LUA_REGISTRYINDEX, msb_lua_reportref);
    luaL_unref(L, LUA_REGISTRYINDEX, msb_lua_reportref);
    msb_lua_reportref = LUA_NOREF;
    lua_setfield(L, -2, "report");
  }
  if (luaL_newmetatable(L, "mixstage.Error")) {
    lua_pushcfunction(L, msb_error_tostring);
    lua_setfield(L, -2, "__tostring");
  }
  lua_setmetatable(L, -2);
}
static void msb_push_error(lua_State *L, int status, mixstage_graph *g) {
  msb_push_error_msg(L, status, msb_detail(g));
}
/* A proxy of a removed object was used (section 1b): an error of kind
 * "RemovedError" (code MIXSTAGE_ESTATE) whose message is the object's story. */
static void msb_push_removed(lua_State *L, const char *why) {
  msb_push_error_msg(L, MIXSTAGE_ESTATE, why);
  lua_pushstring(L, "RemovedError"); lua_setfield(L, -2, "kind");
  lua_pushstring(L, why); lua_setfield(L, -2, "message");
}
#define MSB_FAIL(status, g) do { msb_push_error(L, (status), (g)); SWIG_fail; } while (0)
#define MSB_FAIL_MSG(status, m) do { msb_push_error_msg(L, (status), (m)); SWIG_fail; } while (0)
/* An error raised inside a Lua progress callback, caught by lua_pcall (a
 * longjmp through a render would leave its worker threads at a barrier) and
 * kept in the registry until the wrapper can re-raise it unchanged. */
static _Thread_local int msb_lua_errref = LUA_NOREF;
#define MSB_RAISE_FOREIGN()                                            \
  do {                                                                 \
    if (msb_lua_errref != LUA_NOREF) {                                 \
      lua_rawgeti(L, LUA_REGISTRYINDEX, msb_lua_errref);               \
      luaL_unref(L, LUA_REGISTRYINDEX, msb_lua_errref);                \
      msb_lua_errref = LUA_NOREF;                                      \
      SWIG_fail;                                                       \
    }                                                                  \
  } while (0)
/* Moves an error raised in a source callback of the call's graph (section
 * 6) to msb_lua_errref, for MSB_RAISE_FOREIGN. */
static void msb_lua_pull_collect(lua_State *L, mixstage_graph *g);
#define MSB_PULL_ERRORS() do { if (msb_pulls) msb_lua_pull_collect(L, msb_ctx); } while (0)
%}
#endif

/* Every wrapper: a failure recorded by sugar code is raised after the call;
 * before it, an error raised in a strip's source callback during the call
 * (section 6), which is what caused the failure if there is one. */
#if defined(SWIGPYTHON)
/* Strings in: a Python str may hold NUL characters, which C would silently
 * cut the name at ("Vox\0Lead" would name the strip "Vox"); refuse them. */
%typemap(in, noblock=1, fragment="SWIG_AsCharPtrAndSize") const char * (int res, char *buf = 0, size_t size = 0, int alloc = 0) {
  res = SWIG_AsCharPtrAndSize($input, &buf, &size, &alloc);
  if (!SWIG_IsOK(res)) {
    %argument_fail(res, "$type", $symname, $argnum);
  }
  if (buf && size > 0 && strlen(buf) != size - 1) {
    /* buf is freed by the freearg below, on the way out through fail */
    PyErr_Format(PyExc_ValueError, "argument %d ($1_name) contains a NUL character", $argnum);
    SWIG_fail;
  }
  $1 = %reinterpret_cast(buf, $1_ltype);
}
%typemap(freearg, noblock=1) const char * {
  if (alloc$argnum == SWIG_NEWOBJ) %delete_array(buf$argnum);
}
#endif

/* The pending status is consumed when raised: a call made from inside a
 * callback (a source or progress function calling back into the module)
 * must not leave its failure for the call that rendered to raise again. */
%exception {
  msb_pending = 0;
  msb_has_msg = 0;
  $action
  MSB_PULL_ERRORS();
  MSB_RAISE_FOREIGN();
  if (msb_pending) {
    int msb_st_ = msb_pending;
    msb_pending = 0;
    MSB_FAIL(msb_st_, msb_ctx);
  }
}
/* Calls that take no handle: no graph message applies. */
%define MSB_NO_CONTEXT(NAME)
%exception NAME {
  msb_pending = 0;
  msb_has_msg = 0;
  msb_ctx = NULL;
  $action
  if (msb_pending) {
    int msb_st_ = msb_pending;
    msb_pending = 0;
    MSB_FAIL(msb_st_, NULL);
  }
}
%enddef
MSB_NO_CONTEXT(mixstage_graph_create)
MSB_NO_CONTEXT(mixstage_role_from_name)
MSB_NO_CONTEXT(mixstage_graph::mixstage_graph)

/* Status returns: OK gives nothing (None / no value), < 0 raises. */
#if defined(SWIGPYTHON)
%typemap(out) int MSB_STATUS {
  if ($1 < 0) MSB_FAIL($1, msb_ctx);
  $result = SWIG_Py_Void();
}
/* Values that are >= 0 on success (counts, ids, flags, roles). */
%typemap(out) int {
  if ($1 < 0) MSB_FAIL($1, msb_ctx);
  $result = PyLong_FromLong($1);
}
%typemap(out) int64_t mixstage_graph_render_frames {
  if ($1 < 0) MSB_FAIL((int)$1, msb_ctx);
  $result = PyLong_FromLongLong($1);
}
#elif defined(SWIGLUA)
%typemap(out) int MSB_STATUS {
  if ($1 < 0) MSB_FAIL($1, msb_ctx);
}
%typemap(out) int {
  if ($1 < 0) MSB_FAIL($1, msb_ctx);
  lua_pushinteger(L, $1); SWIG_arg++;
}
%typemap(out) int64_t mixstage_graph_render_frames {
  if ($1 < 0) MSB_FAIL((int)$1, msb_ctx);
  lua_pushinteger(L, (lua_Integer)$1); SWIG_arg++;
}
/* Frame counts are integers in Lua 5.4, not floats. */
%typemap(out) int64_t, long long { lua_pushinteger(L, (lua_Integer)$1); SWIG_arg++; }
#endif

/* Status-returning functions, header by header. */
%apply int MSB_STATUS {
  /* graph.h */
  int mixstage_graph_set_tempo, int mixstage_strip_set_clip_gain_db,
  int mixstage_strip_set_fader_db, int mixstage_strip_set_pan, int mixstage_strip_set_width,
  int mixstage_strip_set_mute, int mixstage_strip_set_solo, int mixstage_strip_set_polarity,
  int mixstage_strip_set_color, int mixstage_strip_set_output, int mixstage_bus_set_fader_db,
  int mixstage_bus_set_pan, int mixstage_bus_set_width, int mixstage_bus_set_mute,
  int mixstage_bus_set_output, int mixstage_send_set_level_db, int mixstage_send_set_mute,
  int mixstage_node_set_role, int mixstage_node_set_bypass, int mixstage_node_param_info,
  int mixstage_node_set_param, int mixstage_node_get_param, int mixstage_node_set_param_by_name,
  int mixstage_node_get_param_by_name, int mixstage_node_set_param_choice,
  int mixstage_node_set_sidechain_strip,
  int mixstage_node_set_sidechain_bus, int mixstage_node_clear_sidechain,
  int mixstage_lane_add_point, int mixstage_lane_clear, int mixstage_lane_point,
  int mixstage_graph_prepare,
  int mixstage_graph_locate,
  /* profile.h */
  int mixstage_profile_set_action, int mixstage_profile_set_stems,
  int mixstage_profile_set_fx_stems, int mixstage_profile_set_mix,
  int mixstage_profile_set_reference, int mixstage_graph_null_check,
  /* io.h */
  int mixstage_manifest_set_string, int mixstage_manifest_set_number,
  int mixstage_manifest_set_integer, int mixstage_manifest_set_json,
  int mixstage_manifest_file_set_string, int mixstage_manifest_file_set_number,
  int mixstage_manifest_file_set_integer, int mixstage_manifest_file_set_json,
  /* deliver.h */
  int mixstage_graph_deliver
};

/* `int *error` out-parameters: NULL result plus error raises. */
%typemap(in, numinputs=0) int *error (int err_tmp = 0) { $1 = &err_tmp; }
#if defined(SWIGPYTHON)
%typemap(argout) int *error {
  if (*$1 < 0) { Py_XDECREF($result); $result = NULL; MSB_FAIL(*$1, msb_ctx); }
}
#else
%typemap(argout) int *error {
  if (*$1 < 0) MSB_FAIL(*$1, msb_ctx);
}
#endif

/* Parameter values read through a pointer. */
%include <typemaps.i>
%apply double *OUTPUT { double *value };
%apply int *OUTPUT { int *curve };
%typemap(in, numinputs=0) int64_t *frame (int64_t frame_tmp = 0) { $1 = &frame_tmp; }
#if defined(SWIGPYTHON)
%typemap(argout) int64_t *frame { $result = SWIG_Python_AppendOutput($result, PyLong_FromLongLong(*$1)); }
#else
%typemap(argout) int64_t *frame { lua_pushinteger(L, (lua_Integer)*$1); SWIG_arg++; }
#endif
%apply double *OUTPUT { double *residual_db };

/* Introspection comes back as a dict (Python) / table (Lua). */
%typemap(in, numinputs=0) mixstage_param_info *info (mixstage_param_info info_tmp) {
  memset(&info_tmp, 0, sizeof info_tmp);
  $1 = &info_tmp;
}
#if defined(SWIGPYTHON)
%{
static PyObject *msb_param_dict(const mixstage_param_info *p) {
  return Py_BuildValue("{s:i,s:s,s:s,s:s,s:d,s:d,s:d,s:O,s:z}", "id", p->id, "name", p->name,
                       "label", p->label, "unit", mixstage_unit_name(p->unit), "min", p->min,
                       "max", p->max, "default", p->def, "automatable",
                       p->automatable ? Py_True : Py_False, "choices", p->choices);
}
%}
%typemap(argout) mixstage_param_info *info {
  Py_XDECREF($result);
  $result = msb_param_dict($1);
}
#else
%{
static void msb_push_param(lua_State *L, const mixstage_param_info *p) {
  lua_createtable(L, 0, 10);
  lua_pushinteger(L, p->id); lua_setfield(L, -2, "id");
  lua_pushstring(L, p->name); lua_setfield(L, -2, "name");
  lua_pushstring(L, p->label); lua_setfield(L, -2, "label");
  lua_pushstring(L, mixstage_unit_name(p->unit)); lua_setfield(L, -2, "unit");
  lua_pushnumber(L, p->min); lua_setfield(L, -2, "min");
  lua_pushnumber(L, p->max); lua_setfield(L, -2, "max");
  lua_pushnumber(L, p->def); lua_setfield(L, -2, "default");
  lua_pushboolean(L, p->automatable); lua_setfield(L, -2, "automatable");
  if (p->choices) {
    /* "a|b|c" -> {"a","b","c"} */
    lua_newtable(L);
    int n = 0;
    const char *s = p->choices;
    while (*s) {
      const char *bar = strchr(s, '|');
      size_t len = bar ? (size_t)(bar - s) : strlen(s);
      lua_pushlstring(L, s, len);
      lua_rawseti(L, -2, ++n);
      s += len + (bar ? 1 : 0);
    }
    lua_setfield(L, -2, "choices");
  }
}
%}
%typemap(argout) mixstage_param_info *info {
  msb_push_param(L, $1); SWIG_arg++;
}
#endif

/* ======================================================================== */
/* 3. Enumerations as strings or constants                                  */
/* ======================================================================== */
%{
static const char *const msb_tap_names[] = {"pre", "post", "pre-fader", "post-fader", NULL};
static const int msb_tap_values[] = {0, 1, 0, 1};
static const char *const msb_kind_names[] = {"group", "return", "mix", NULL};
static const int msb_kind_values[] = {0, 1, 2};
static const char *const msb_curve_names[] = {"linear", "exponential", "step", NULL};
static const int msb_curve_values[] = {0, 1, 2};
static const char *const msb_which_names[] = {"clip_gain", "fader", "pan", "width", NULL};
static const int msb_which_values[] = {0, 1, 2, 3};
static const char *const msb_action_names[] = {"on", "bypass", "mute", "bypassed", "muted", NULL};
static const int msb_action_values[] = {0, 1, 2, 1, 2};
static const char *const msb_stems_names[] = {"none", "per-strip", "per-group", NULL};
static const int msb_stems_values[] = {0, 1, 2};
static const char *const msb_format_names[] = {"wav", "aiff", "flac", NULL};
static const int msb_format_values[] = {0, 1, 2};
static const char *const msb_stype_names[] = {"pcm16", "pcm24", "float32", NULL};
static const int msb_stype_values[] = {0, 1, 2};
/* Output kinds as the manifest spells them ("fx-return", not "fx"). */
static const char *const msb_okind_names[] = {"mix", "stem", "fx-return", "reference", NULL};

/* Name -> value in a NULL-terminated table; roles use the library's own
 * names.  Returns MIXSTAGE_ENOTFOUND and fills @msg with the choices. */
static int msb_enum(const char *what, const char *const *names, const int *values,
                    const char *s, char *msg, size_t size) {
  if (!names) {
    int r = mixstage_role_from_name(s);
    if (r >= 0) return r;
    snprintf(msg, size, "unknown %s '%s' (one of", what, s);
    for (int i = 0; mixstage_role_name(i); i++)
      snprintf(msg + strlen(msg), size - strlen(msg), " %s", mixstage_role_name(i));
  } else {
    for (int i = 0; names[i]; i++)
      if (strcmp(names[i], s) == 0) return values[i];
    snprintf(msg, size, "unknown %s '%s' (one of", what, s);
    for (int i = 0; names[i]; i++)
      snprintf(msg + strlen(msg), size - strlen(msg), " %s", names[i]);
  }
  snprintf(msg + strlen(msg), size - strlen(msg), ")");
  return MIXSTAGE_ENOTFOUND;
}
%}
%define MSB_ENUM_ARG(PARAM, WHAT, NAMES, VALUES)
#if defined(SWIGPYTHON)
%typemap(in) int PARAM {
  if (PyUnicode_Check($input)) {
    char emsg[256];
    $1 = msb_enum(WHAT, NAMES, VALUES, PyUnicode_AsUTF8($input), emsg, sizeof emsg);
    if ($1 < 0) MSB_FAIL_MSG(MIXSTAGE_ENOTFOUND, emsg);
  } else {
    long v = PyLong_AsLong($input);
    if (v == -1 && PyErr_Occurred()) SWIG_exception_fail(SWIG_TypeError, WHAT " must be a name or an integer constant");
    $1 = (int)v;
  }
}
%typemap(typecheck, precedence=SWIG_TYPECHECK_INTEGER) int PARAM {
  $1 = PyUnicode_Check($input) || PyLong_Check($input);
}
#else
%typemap(in, checkfn="lua_isstring") int PARAM {
  if (lua_type(L, $input) == LUA_TSTRING) {
    char emsg[256];
    $1 = msb_enum(WHAT, NAMES, VALUES, lua_tostring(L, $input), emsg, sizeof emsg);
    if ($1 < 0) MSB_FAIL_MSG(MIXSTAGE_ENOTFOUND, emsg);
  } else {
    $1 = (int)lua_tointeger(L, $input);
  }
}
%typemap(typecheck, precedence=SWIG_TYPECHECK_INTEGER) int PARAM {
  $1 = lua_isstring(L, $input);
}
#endif
%enddef
MSB_ENUM_ARG(role, "role", NULL, NULL)
MSB_ENUM_ARG(tap, "tap", msb_tap_names, msb_tap_values)
MSB_ENUM_ARG(kind, "bus kind", msb_kind_names, msb_kind_values)
MSB_ENUM_ARG(curve, "curve", msb_curve_names, msb_curve_values)
MSB_ENUM_ARG(which, "lane", msb_which_names, msb_which_values)
MSB_ENUM_ARG(action, "action", msb_action_names, msb_action_values)
MSB_ENUM_ARG(stems, "stems", msb_stems_names, msb_stems_values)
MSB_ENUM_ARG(format, "file format", msb_format_names, msb_format_values)
MSB_ENUM_ARG(sample_type, "sample type", msb_stype_names, msb_stype_values)

/* ======================================================================== */
/* 4. Handles and the flat C API                                            */
/* ======================================================================== */
%{
static mixstage_graph *msb_send_graph(mixstage_send *s) {
  return s ? mixstage_bus_graph(mixstage_send_target(s)) : NULL;
}
static mixstage_graph *msb_self_graph(mixstage_graph *g) { return g; }
/* Lanes have no graph accessor: the node/strip/bus/send argument of the call
 * that returned the lane set msb_ctx. */
static mixstage_graph *msb_ctx_graph(const mixstage_lane *l) { (void)l; return msb_ctx; }
%}

/* A handle type: the check typemap names the graph for error messages; the
 * out typemap gives the target language an owning proxy holding one graph
 * reference; the proxy's destructor drops it.  GRAPH_OF finds the graph of
 * a new handle (msb_ctx for types without an accessor: the call's own
 * handle argument set it). */
%define MSB_HANDLE(TYPE, CLASS, GRAPH_OF)
%rename(CLASS) TYPE;
%nodefaultctor TYPE;
%typemap(check) TYPE *, const TYPE *, struct TYPE *, const struct TYPE * {
  if ($1) msb_ctx = msb_graph_of($1);
}
#if defined(SWIGPYTHON)
%typemap(out) TYPE * {
  if (!$1) {
    $result = SWIG_Py_Void();
  } else {
    if (msb_retain($1, GRAPH_OF($1)) < 0) MSB_FAIL_MSG(MIXSTAGE_ENOMEM, "binding registry");
    $result = SWIG_NewPointerObj(SWIG_as_voidptr($1), $1_descriptor, SWIG_POINTER_OWN);
  }
}
#else
%typemap(out) TYPE * {
  if (!$1) {
    lua_pushnil(L);
  } else {
    if (msb_retain($1, GRAPH_OF($1)) < 0) MSB_FAIL_MSG(MIXSTAGE_ENOMEM, "binding registry");
    SWIG_NewPointerObj(L, $1, $1_descriptor, 1);
  }
  SWIG_arg++;
}
#endif
%enddef
/* The class itself is declared after all %extend blocks (end of file), so
 * that the extension bodies are emitted after every helper they use. */
%define MSB_CLASS(TYPE)
struct TYPE {};
%extend TYPE {
  ~TYPE() { msb_release($self); }
}
%enddef

/* Strips, buses, sends, nodes and lanes: the proxy holds its registry cell
 * (section 1b), so that a proxy of a removed object raises RemovedError
 * naming it instead of reaching freed memory.  The in typemap reads the
 * handle from the cell (and names the graph for error messages, as the
 * check typemap of MSB_HANDLE does); the destructor's wrapper takes the
 * cell itself, to release it. */
%{
static int msb_is_delete(const char *symname) { return strncmp(symname, "delete_", 7) == 0; }
%}
%define MSB_CELL_HANDLE(TYPE, CLASS, GRAPH_OF, KIND)
%rename(CLASS) TYPE;
%nodefaultctor TYPE;
#if defined(SWIGPYTHON)
%typemap(in, noblock=1) TYPE *, const TYPE *, struct TYPE *, const struct TYPE * {
  {
    void *argp_ = 0;
    /* never disown otherwise: SWIG disowns the value of a pointer
     * "member" setter (strip.output = bus), whose proxy would then never
     * release its cell, and the graph would never be destroyed */
    int res_ = SWIG_ConvertPtr($input, &argp_, $descriptor, msb_is_delete("$symname") ? $disown : 0);
    if (!SWIG_IsOK(res_)) {
      %argument_fail(res_, "$type", $symname, $argnum);
    }
    if (!argp_) {
      $1 = NULL;
    } else if (msb_is_delete("$symname")) {
      $1 = ($ltype)argp_; /* the cell, for the destructor */
    } else {
      char why_[320];
      mixstage_graph *g_ = NULL;
      $1 = ($ltype)msb_cell_handle((msb_hold *)argp_, &g_, why_, sizeof why_);
      if (!$1) {
        msb_raise_removed(why_);
        SWIG_fail;
      }
      msb_ctx = g_;
    }
  }
}
%typemap(out) TYPE * {
  if (!$1) {
    $result = SWIG_Py_Void();
  } else {
    msb_hold *cell_ = msb_retain_cell($1, GRAPH_OF($1), KIND);
    if (!cell_) MSB_FAIL_MSG(MIXSTAGE_ENOMEM, "binding registry");
    $result = SWIG_NewPointerObj(SWIG_as_voidptr(cell_), $1_descriptor, SWIG_POINTER_OWN);
  }
}
#else
%typemap(in, checkfn="SWIG_isptrtype") TYPE *, const TYPE *, struct TYPE *, const struct TYPE * {
  {
    void *argp_ = NULL;
    /* never disown: SWIG disowns the value of a pointer "member" setter
     * (strip.output = bus), whose proxy would then never release its cell */
    if (!SWIG_IsOK(SWIG_ConvertPtr(L, $input, &argp_, $descriptor, 0)))
      SWIG_fail_ptr("$symname", $argnum, $descriptor);
    if (!argp_) {
      $1 = NULL;
    } else {
      char why_[320];
      mixstage_graph *g_ = NULL;
      $1 = ($ltype)msb_cell_handle((msb_hold *)argp_, &g_, why_, sizeof why_);
      if (!$1) {
        msb_push_removed(L, why_);
        SWIG_fail;
      }
      msb_ctx = g_;
    }
  }
}
%typemap(out) TYPE * {
  if (!$1) {
    lua_pushnil(L);
  } else {
    msb_hold *cell_ = msb_retain_cell($1, GRAPH_OF($1), KIND);
    if (!cell_) MSB_FAIL_MSG(MIXSTAGE_ENOMEM, "binding registry");
    SWIG_NewPointerObj(L, cell_, $1_descriptor, 1);
  }
  SWIG_arg++;
}
#endif
%enddef
%define MSB_CELL_CLASS(TYPE)
struct TYPE {};
%extend TYPE {
  ~TYPE() { msb_release_entry(NULL, (msb_hold *)(void *)$self); }
}
%enddef

MSB_HANDLE(mixstage_graph, Graph, msb_self_graph)
MSB_CELL_HANDLE(mixstage_strip, Strip, mixstage_strip_graph, MSB_K_STRIP)
MSB_CELL_HANDLE(mixstage_bus, Bus, mixstage_bus_graph, MSB_K_BUS)
MSB_CELL_HANDLE(mixstage_send, Send, msb_send_graph, MSB_K_SEND)
MSB_CELL_HANDLE(mixstage_node, Node, mixstage_node_graph, MSB_K_NODE)
MSB_CELL_HANDLE(mixstage_lane, Lane, msb_ctx_graph, MSB_K_LANE)

/* Objects that belong to no graph.  A call whose first argument is one of
 * them has no graph message to report. */
%define MSB_FREE_HANDLE(TYPE, CLASS)
%rename(CLASS) TYPE;
%nodefaultctor TYPE;
%typemap(check) TYPE *, const TYPE * {
  if ($argnum == 1) msb_ctx = NULL;
}
%enddef
MSB_FREE_HANDLE(mixstage_profile, Profile)
MSB_FREE_HANDLE(mixstage_bounce, Bounce)
MSB_FREE_HANDLE(mixstage_manifest, Manifest)
/* Bounces and manifests returned by the flat API are owned by the proxy. */
%newobject mixstage_graph_bounce;
%newobject mixstage_manifest_create;

/* A profile given out holds a reference (custom profiles; built-ins are
 * static), dropped by the proxy's destructor. */
#if defined(SWIGPYTHON)
%typemap(out) mixstage_profile *, const mixstage_profile * {
  if (!$1) {
    $result = SWIG_Py_Void();
  } else {
    if (msb_prof_retain($1) < 0) MSB_FAIL_MSG(MIXSTAGE_ENOMEM, "binding registry");
    $result = SWIG_NewPointerObj(SWIG_as_voidptr($1), $descriptor(mixstage_profile *), SWIG_POINTER_OWN);
  }
}
/* Where a profile is read (bounce, null check, deliver, a graph's active
 * profile, the base of a new one) it may be given by name. */
%typemap(in) const mixstage_profile *profile, const mixstage_profile *base {
  if ($input == Py_None) {
    $1 = NULL;
  } else if (PyUnicode_Check($input)) {
    char emsg[512];
    $1 = ($1_ltype)msb_profile_named(PyUnicode_AsUTF8($input), emsg, sizeof emsg);
    if (!$1) MSB_FAIL_MSG(MIXSTAGE_ENOTFOUND, emsg);
  } else {
    void *vp = 0;
    int res = SWIG_ConvertPtr($input, &vp, $descriptor(mixstage_profile *), 0);
    if (!SWIG_IsOK(res)) SWIG_exception_fail(SWIG_ArgError(res), "expected a Profile, a profile name or None");
    $1 = ($1_ltype)vp;
  }
}
%typemap(typecheck, precedence=SWIG_TYPECHECK_POINTER) const mixstage_profile *profile, const mixstage_profile *base {
  void *vp = 0;
  $1 = $input == Py_None || PyUnicode_Check($input) ||
       SWIG_IsOK(SWIG_ConvertPtr($input, &vp, $descriptor(mixstage_profile *), 0));
}
#else
%typemap(out) mixstage_profile *, const mixstage_profile * {
  if (!$1) {
    lua_pushnil(L);
  } else {
    if (msb_prof_retain($1) < 0) MSB_FAIL_MSG(MIXSTAGE_ENOMEM, "binding registry");
    SWIG_NewPointerObj(L, (void *)$1, $descriptor(mixstage_profile *), 1);
  }
  SWIG_arg++;
}
%typemap(in, checkfn="msb_lua_profile_arg") const mixstage_profile *profile, const mixstage_profile *base {
  if (lua_isnil(L, $input)) {
    $1 = NULL;
  } else if (lua_type(L, $input) == LUA_TSTRING) {
    char emsg[512];
    $1 = ($1_ltype)msb_profile_named(lua_tostring(L, $input), emsg, sizeof emsg);
    if (!$1) MSB_FAIL_MSG(MIXSTAGE_ENOTFOUND, emsg);
  } else {
    void *vp = 0;
    if (!SWIG_IsOK(SWIG_ConvertPtr(L, $input, &vp, $descriptor(mixstage_profile *), 0)))
      SWIG_fail_ptr("$symname", $argnum, $descriptor(mixstage_profile *));
    $1 = ($1_ltype)vp;
  }
}
%typemap(typecheck, precedence=SWIG_TYPECHECK_POINTER) const mixstage_profile *profile, const mixstage_profile *base {
  $1 = msb_lua_profile_arg(L, $input);
}
%{
static int msb_lua_profile_arg(lua_State *L, int i) {
  return lua_isnil(L, i) || lua_type(L, i) == LUA_TSTRING || lua_isuserdata(L, i);
}
%}
#endif
%{
/* A built-in profile by name; else NULL with the choices in @msg. */
static const mixstage_profile *msb_profile_named(const char *name, char *msg, size_t size) {
  const mixstage_profile *p = name ? mixstage_profile_find(name) : NULL;
  if (p) return p;
  snprintf(msg, size, "no built-in profile named '%s' (one of", name ? name : "(null)");
  for (int i = 0; mixstage_profile_builtin(i); i++)
    snprintf(msg + strlen(msg), size - strlen(msg), " %s",
             mixstage_profile_name(mixstage_profile_builtin(i)));
  snprintf(msg + strlen(msg), size - strlen(msg), "; pass a Profile object for a custom one)");
  return NULL;
}
%}

/* Flat names drop the prefix: mixstage.strerror(), mixstage.ROLE_MIX_FX. */
%rename("%(strip:[mixstage_])s", %$isfunction) "";
%rename("%(strip:[MIXSTAGE_])s", %$isconstant) "";
%rename("%(strip:[MIXSTAGE_])s", %$isenumitem) "";
/* Extension methods are written m_name: their C functions would otherwise be
 * named like the library's own (mixstage_graph_prepare). */
%rename("%(regex:/^m_(.*)$/\\1/)s") "";
%rename(GraphConfig) mixstage_graph_config;
%rename(RenderConfig) mixstage_render_config;
%rename(ParamInfo) mixstage_param_info;
%rename(default_value) mixstage_param_info::def;
%immutable mixstage_param_info::name;
%immutable mixstage_param_info::label;
%immutable mixstage_param_info::choices;
%warnfilter(511) mixstage_node::m_sidechain;

/* Owned by the registry, never by the caller. */
%ignore mixstage_graph_destroy;
/* Raw float pointers and C callbacks: the sugar takes arrays / buffers. */
%ignore mixstage_strip_set_source_buffer;
%ignore mixstage_node_get_param_choice; /* Node.choice() / node:choice() */
%ignore mixstage_strip_set_source_callback;
%ignore mixstage_pull_fn;
%ignore mixstage_graph_process;
%ignore mixstage_graph_process_planar;
%ignore mixstage_graph_render;
/* profile.h: destruction belongs to the proxies; set_profile goes through
 * the binding so the graph holds its profile (section 5b). */
%ignore mixstage_profile_destroy;
%ignore mixstage_graph_set_profile;
%ignore mixstage_bounce_destroy;
%ignore mixstage_bounce_data;
/* Streamed bounces, bounces written as deliveries and recovery: not wired
 * into the bindings yet (they need a block callable and the graph kept by
 * the Bounce proxy); C callbacks of the delivery config likewise. */
%ignore mixstage_bounce_block_fn;
%ignore mixstage_graph_bounce_stream;
%ignore mixstage_bounce_null_residual;
%ignore mixstage_bounce_deliver; /* Graph.deliver_bounce (sugar) */
%ignore mixstage_deliver_config::stage_fn;
%ignore mixstage_deliver_config::stage_user;
%ignore mixstage_deliver_config::file_done;
%ignore mixstage_deliver_config::file_done_user;
%ignore mixstage_deliver_config::null_residual_out;
/* ---- s5-stream: several profiles in one pass, the mastered final (not
 * wired yet: Graph.deliver and Graph.master cover them one call each) ---- */
%ignore mixstage_graph_deliver_profiles;
%ignore mixstage_deliver_config::master;
%ignore mixstage_deliver_config::master_report;
/* Recovery of a folder a killed delivery left: a status, no graph. */
MSB_NO_CONTEXT(mixstage_deliver_recover)
%apply int MSB_STATUS { int mixstage_deliver_recover };
%feature("docstring", "deliver_recover(directory): settles what killed deliveries left in the folder: one killed before its commit point is rolled back (the previous files return), one killed after it is completed; hidden staging folders go.  A delivery still running is left alone.  Graph.deliver does this first; call it to inspect a folder without delivering into it.  Raises InputOutputError if the folder is not a directory.") mixstage_deliver_recover;
/* ---- end s5-stream ---- */
/* io.h: raw buffers, message buffers and string arrays are taken by the
 * sugar (read_audio, write_audio, measure, Manifest.add_file...). */
%ignore mixstage_free;
%ignore mixstage_audio_read;
%ignore mixstage_audio_write;
%ignore mixstage_measure;
%ignore mixstage_measure_file;
%ignore mixstage_manifest_destroy;
%ignore mixstage_manifest_add_file;
%ignore mixstage_manifest_to_string;
%ignore mixstage_manifest_write;
/* C callbacks: the sugar takes a callable / Lua function instead. */
%ignore mixstage_progress_fn;
%ignore mixstage_render_config::progress;
%ignore mixstage_render_config::progress_user;
%rename(WriteConfig) mixstage_write_config;
%rename(FileStats) mixstage_file_stats;
%rename(DeliverConfig) mixstage_deliver_config;
%extend mixstage_write_config {
  mixstage_write_config() {
    mixstage_write_config *c = (mixstage_write_config *)calloc(1, sizeof *c);
    if (c) mixstage_write_config_init(c);
    return c;
  }
  ~mixstage_write_config() { free($self); }
}
%extend mixstage_deliver_config {
  mixstage_deliver_config() {
    mixstage_deliver_config *c = (mixstage_deliver_config *)calloc(1, sizeof *c);
    if (c) mixstage_deliver_config_init(c);
    return c;
  }
  ~mixstage_deliver_config() { free($self); }
}
%ignore mixstage_graph_config::alloc;
%ignore mixstage_graph_config::free;
%ignore mixstage_graph_config::alloc_user;
%extend mixstage_graph_config {
  mixstage_graph_config() {
    mixstage_graph_config *c = (mixstage_graph_config *)calloc(1, sizeof *c);
    if (c) mixstage_graph_config_init(c);
    return c;
  }
  ~mixstage_graph_config() { free($self); }
}
%extend mixstage_render_config {
  mixstage_render_config() {
    mixstage_render_config *c = (mixstage_render_config *)calloc(1, sizeof *c);
    if (c) mixstage_render_config_init(c);
    return c;
  }
  ~mixstage_render_config() { free($self); }
}

/* One %include per public header. */
%include "mixstage/common.h"
%include "mixstage/graph.h"
%include "mixstage/profile.h"
%include "mixstage/io.h"
%include "mixstage/deliver.h"
/* The newer headers: structs, configs and raw buffers are taken by the
 * shared sugar of section 7 (results as dicts / tables). */
%ignore mixstage_band_levels;
%ignore mixstage_gain_stage_config;
%ignore mixstage_gain_stage_config_init;
%ignore mixstage_gain_stage_result;
%ignore mixstage_gain_stage_buffer;
%ignore mixstage_gain_stage_strip;
%ignore mixstage_gain_stage_report;
%ignore mixstage_graph_gain_stage;
%ignore mixstage_gain_stage_report_free;
%ignore mixstage_mono_compat;
%ignore mixstage_mono_compat_buffer;
%ignore mixstage_assess_config;
%ignore mixstage_assess_config_init;
%ignore mixstage_phase_result;
%ignore mixstage_phase_pair;
%ignore mixstage_masking_pair;
%ignore mixstage_masking_rank;
%ignore mixstage_phase_pair_entry;
%ignore mixstage_mix_assessment;
%ignore mixstage_graph_assess;
%ignore mixstage_mix_assessment_free;
%ignore mixstage_ab_result;
%ignore mixstage_ab_compare;
%ignore mixstage_ab_write_pair;
%include "mixstage/assess.h"
%ignore mixstage_graphfile_load;
%ignore mixstage_graphfile_load_string;
%ignore mixstage_graphfile_wrap;
%ignore mixstage_graphfile_destroy;
%ignore mixstage_graphfile_graph;
%ignore mixstage_graphfile_release;
%ignore mixstage_graphfile_profile_count;
%ignore mixstage_graphfile_profile;
%ignore mixstage_graphfile_find_profile;
%ignore mixstage_graphfile_add_profile;
%ignore mixstage_graphfile_set_source_path;
%ignore mixstage_graphfile_to_string;
%ignore mixstage_graphfile_save;
%ignore mixstage_graph_load;
%ignore mixstage_graph_load_string;
%ignore mixstage_graph_to_string;
%ignore mixstage_graph_save;
%include "mixstage/graphfile.h"
%ignore mixstage_master_config;
%ignore mixstage_master_config_init;
%ignore mixstage_master_config_preset;
%ignore mixstage_master_config_preset_index;
%ignore mixstage_streaming_gain;
%ignore mixstage_master_streaming_report;
%ignore mixstage_master_step;
%ignore mixstage_master_report;
%ignore mixstage_graph_master;
%ignore mixstage_album_report;
%ignore mixstage_album_master;
%include "mixstage/master.h"
%ignore mixstage_meter_config;
%ignore mixstage_meter_config_init;
%ignore mixstage_meter_report;
%ignore mixstage_meter_report_clear;
%ignore mixstage_meter_analyse;
%ignore mixstage_meter;
%ignore mixstage_meter_create;
%ignore mixstage_meter_destroy;
%ignore mixstage_meter_push;
%ignore mixstage_meter_loudness_now;
%ignore mixstage_meter_get_report;
/* Meters inside the graph: Strip/Bus.attach_meter() take a Meter proxy and
 * keep it alive while attached; Node.gr_history() returns an array. */
%ignore mixstage_strip_attach_meter;
%ignore mixstage_bus_attach_meter;
%ignore mixstage_node_gr_history;
%apply int MSB_STATUS { int mixstage_node_enable_gr_history, int mixstage_node_clear_gr_history };
%include "mixstage/analysis.h"
%ignore mixstage_translate;
%ignore mixstage_translate_write;
%ignore mixstage_translate_response_db;
%include "mixstage/translate.h"
/* demo.h: the writer's message buffer is taken by demo_song_write() below. */
MSB_NO_CONTEXT(mixstage_demo_song_create)
%ignore mixstage_demo_song_write;
%include "mixstage/demo.h"

/* ======================================================================== */
/* 5. Object sugar shared by both languages                                 */
/* ======================================================================== */
%{
static _Thread_local char msb_text[512];

/* "threshold" or "3" (Lua passes numbers as strings) -> parameter id. */
static int msb_param_key(const mixstage_node *n, const char *key) {
  int id = mixstage_node_param_id(n, key);
  if (id >= 0 || !key || !*key) return id;
  char *end;
  long v = strtol(key, &end, 10);
  if (*end == 0 && v >= 0 && v < mixstage_node_param_count(n)) return (int)v;
  return id;
}
static int msb_role_arg(const char *s) {
  char emsg[256];
  if (!s) return MIXSTAGE_ENULL;
  char *end;
  long v = strtol(s, &end, 10);
  if (*s && *end == 0) return (int)v;
  int r = msb_enum("role", NULL, NULL, s, emsg, sizeof emsg);
  return r;
}
static const char *msb_name_of(const char *const *names, int v) {
  return v >= 0 && v < 4 && names[v] ? names[v] : "?";
}

/* Strip/bus/send/node properties: getters read the library, setters record
 * a failed status for the %exception wrapper to raise. */
#define MSB_PROP_D(TYPE, FIELD)                                                   \
  static double TYPE##_##FIELD##_get(TYPE *x) { return TYPE##_##FIELD(x); }       \
  static void TYPE##_##FIELD##_set(TYPE *x, double v) {                            \
    msb_check(TYPE##_set_##FIELD(x, v), msb_ctx);                                  \
  }
#define MSB_PROP_B(TYPE, FIELD)                                                   \
  static bool TYPE##_##FIELD##_get(TYPE *x) { return TYPE##_##FIELD(x) != 0; }     \
  static void TYPE##_##FIELD##_set(TYPE *x, bool v) {                              \
    msb_check(TYPE##_set_##FIELD(x, v ? 1 : 0), msb_ctx);                          \
  }
MSB_PROP_D(mixstage_strip, clip_gain_db)
MSB_PROP_D(mixstage_strip, fader_db)
MSB_PROP_D(mixstage_strip, pan)
MSB_PROP_D(mixstage_strip, width)
MSB_PROP_B(mixstage_strip, mute)
MSB_PROP_B(mixstage_strip, solo)
MSB_PROP_B(mixstage_strip, polarity)
MSB_PROP_D(mixstage_bus, fader_db)
MSB_PROP_D(mixstage_bus, pan)
MSB_PROP_D(mixstage_bus, width)
MSB_PROP_B(mixstage_bus, mute)
MSB_PROP_D(mixstage_send, level_db)
MSB_PROP_B(mixstage_send, mute)
MSB_PROP_B(mixstage_node, bypass)

static uint32_t mixstage_strip_color_get(mixstage_strip *s) { return mixstage_strip_color(s); }
static void mixstage_strip_color_set(mixstage_strip *s, uint32_t c) {
  msb_check(mixstage_strip_set_color(s, c), msb_ctx);
}
static mixstage_bus *mixstage_strip_output_get(mixstage_strip *s) { return mixstage_strip_output(s); }
static void mixstage_strip_output_set(mixstage_strip *s, mixstage_bus *b) {
  msb_check(mixstage_strip_set_output(s, b), msb_ctx);
}
static mixstage_bus *mixstage_bus_output_get(mixstage_bus *s) { return mixstage_bus_output(s); }
static void mixstage_bus_output_set(mixstage_bus *s, mixstage_bus *b) {
  msb_check(mixstage_bus_set_output(s, b), msb_ctx);
}
static const char *mixstage_strip_name_get(mixstage_strip *s) { return mixstage_strip_name(s); }
static int mixstage_strip_channels_get(mixstage_strip *s) { return mixstage_strip_channels(s); }
static mixstage_graph *mixstage_strip_graph_get(mixstage_strip *s) { return mixstage_strip_graph(s); }
static int64_t mixstage_strip_source_frames_get(mixstage_strip *s) { return mixstage_strip_source_frames(s); }
static const char *mixstage_strip_source_path_get(mixstage_strip *s) { return mixstage_strip_source_path(s); }
static const char *mixstage_bus_name_get(mixstage_bus *b) { return mixstage_bus_name(b); }
static int mixstage_bus_channels_get(mixstage_bus *b) { return mixstage_bus_channels(b); }
static const char *mixstage_bus_kind_get(mixstage_bus *b) {
  return msb_name_of(msb_kind_names, mixstage_bus_kind_of(b));
}
static mixstage_graph *mixstage_bus_graph_get(mixstage_bus *b) { return mixstage_bus_graph(b); }
static const char *mixstage_send_tap_get(mixstage_send *s) {
  return msb_name_of(msb_tap_names, mixstage_send_tap(s));
}
static const char *mixstage_send_role_get(mixstage_send *s) {
  const char *r = mixstage_role_name(mixstage_send_role(s));
  return r ? r : "?";
}
static mixstage_bus *mixstage_send_target_get(mixstage_send *s) { return mixstage_send_target(s); }
static const char *mixstage_node_type_get(mixstage_node *n) { return mixstage_node_type(n); }
static const char *mixstage_node_label_get(mixstage_node *n) { return mixstage_node_label(n); }
static const char *mixstage_node_role_get(mixstage_node *n) {
  const char *r = mixstage_role_name(mixstage_node_role(n));
  return r ? r : "?";
}
static void mixstage_node_role_set(mixstage_node *n, const char *role) {
  int r = msb_role_arg(role);
  if (r == MIXSTAGE_ENOTFOUND) {
    char emsg[256];
    msb_enum("role", NULL, NULL, role, emsg, sizeof emsg);
    msb_check_msg(MIXSTAGE_ENOTFOUND, emsg);
    return;
  }
  msb_check(mixstage_node_set_role(n, r), msb_ctx);
}
static mixstage_graph *mixstage_node_graph_get(mixstage_node *n) { return mixstage_node_graph(n); }
static int mixstage_node_latency_get(mixstage_node *n) { return mixstage_node_latency(n); }
static int64_t mixstage_node_tail_get(mixstage_node *n) { return mixstage_node_tail(n); }
static double mixstage_node_gain_reduction_db_get(mixstage_node *n) { return mixstage_node_gain_reduction_db(n); }
static int64_t mixstage_node_numeric_faults_get(mixstage_node *n) { return mixstage_node_numeric_faults(n); }
static int mixstage_node_param_count_get(mixstage_node *n) { return mixstage_node_param_count(n); }
static int mixstage_lane_point_count_get(mixstage_lane *l) { return mixstage_lane_point_count(l); }
static double mixstage_graph_sample_rate_get(mixstage_graph *g) { return mixstage_graph_sample_rate(g); }
static int mixstage_graph_max_block_get(mixstage_graph *g) { return mixstage_graph_max_block(g); }
static double mixstage_graph_tempo_get(mixstage_graph *g) { return mixstage_graph_tempo(g); }
static void mixstage_graph_tempo_set(mixstage_graph *g, double bpm) {
  msb_check(mixstage_graph_set_tempo(g, bpm), g);
}
static mixstage_bus *mixstage_graph_mix_bus_get(mixstage_graph *g) { return mixstage_graph_mix_bus(g); }
static const char *mixstage_graph_last_error_get(mixstage_graph *g) { return mixstage_graph_last_error(g); }
static int mixstage_graph_latency_get(mixstage_graph *g) { return mixstage_graph_latency(g); }
static int64_t mixstage_graph_position_get(mixstage_graph *g) { return mixstage_graph_position(g); }
static bool mixstage_graph_prepared_get(mixstage_graph *g) { return mixstage_graph_is_prepared(g) != 0; }
static int mixstage_graph_mix_channels_get(mixstage_graph *g) {
  return mixstage_bus_channels(mixstage_graph_mix_bus(g));
}

static void msb_render_config(mixstage_render_config *rc, long long frames, long long tail,
                              bool remove_latency, int threads) {
  mixstage_render_config_init(rc);
  rc->frames = frames;
  if (tail >= 0) rc->max_tail_frames = tail;
  rc->remove_latency = remove_latency ? 1 : 0;
  rc->threads = threads;
}
%}

%define MSB_DOC(NAME, TEXT) %feature("docstring", TEXT) NAME; %enddef

%extend mixstage_graph {
  /** A new graph with its mix bus ("Mix").
   *  @param sample_rate  Hz, 8000 .. 384000
   *  @param max_block    largest block for process calls, 1 .. 65536 frames
   *  @param tempo        BPM for tempo-synced effects, 20 .. 999
   *  @param mix_channels channels of the mix bus, 1 .. 16 */
  mixstage_graph(double sample_rate = 48000.0, int max_block = 1024, double tempo = 120.0,
                 int mix_channels = 2) {
    mixstage_graph_config cfg;
    mixstage_graph_config_init(&cfg);
    cfg.sample_rate = sample_rate;
    cfg.max_block_frames = max_block;
    cfg.tempo_bpm = tempo;
    cfg.mix_channels = mix_channels;
    int err = 0;
    mixstage_graph *g = mixstage_graph_create(&cfg, &err);
    if (!g) {
      msb_check(err ? err : MIXSTAGE_ENOMEM, NULL);
    } else if (msb_retain(g, g) < 0) { /* constructors bypass the out typemap */
      mixstage_graph_destroy(g);
      g = NULL;
      msb_check(MIXSTAGE_ENOMEM, NULL);
    }
    return g;
  }
  %immutable;
  double sample_rate;
  int max_block;
  int mix_channels;
  mixstage_bus *mix_bus;
  const char *last_error;
  int latency;
  int64_t position;
  bool prepared;
  %mutable;
  double tempo;

  /** Adds a strip of @p channels channels routed to the mix bus. */
  mixstage_strip *m_add_strip(const char *name, int channels = 2) {
    int err = 0;
    mixstage_strip *s = mixstage_graph_add_strip($self, name, channels, &err);
    if (!s) msb_check(err, $self);
    return s;
  }
  /** Adds a group bus ("group") or FX return ("return") routed to the mix bus. */
  mixstage_bus *m_add_bus(const char *name, int kind = MIXSTAGE_BUS_GROUP, int channels = 2) {
    int err = 0;
    mixstage_bus *b = mixstage_graph_add_bus($self, name, kind, channels, &err);
    if (!b) msb_check(err, $self);
    return b;
  }
  int m_strip_count() { return mixstage_graph_strip_count($self); }
  int m_bus_count() { return mixstage_graph_bus_count($self); }
  /** The @p index-th strip (0-based); raises RangeError past the end. */
  mixstage_strip *m_strip_at(int index) {
    mixstage_strip *s = mixstage_graph_strip($self, index);
    if (!s) msb_check(MIXSTAGE_ERANGE, NULL);
    return s;
  }
  /** The strip named @p name, or None / nil. */
  mixstage_strip *m_find_strip(const char *name) { return mixstage_graph_find_strip($self, name); }
  /** The @p index-th bus (0 is the mix bus); raises RangeError past the end. */
  mixstage_bus *m_bus_at(int index) {
    mixstage_bus *b = mixstage_graph_bus($self, index);
    if (!b) msb_check(MIXSTAGE_ERANGE, NULL);
    return b;
  }
  /** The bus named @p name, or None / nil. */
  mixstage_bus *m_find_bus(const char *name) { return mixstage_graph_find_bus($self, name); }
  /** Validates routing (cycles raise CycleError naming the loop), orders the
   *  graph and computes latency compensation.  Renders call it themselves. */
  void m_prepare() { msb_check(mixstage_graph_prepare($self), $self); }
  /** Clears DSP state and moves the play position to @p frame. */
  void m_locate(int64_t frame) { msb_check(mixstage_graph_locate($self, frame), $self); }
  /** Frames render() would produce: program (0 = longest source) plus tail
   *  (capped at @p tail frames; -1 = the library default of 30 s). */
  int64_t m_render_frames(long long frames = 0, long long tail = -1, bool remove_latency = true,
                        int threads = 1) {
    mixstage_render_config rc;
    msb_render_config(&rc, frames, tail, remove_latency, threads);
    int64_t n = mixstage_graph_render_frames($self, &rc);
    if (n < 0) { msb_check((int)n, $self); return 0; }
    return n;
  }
}

%extend mixstage_strip {
  %immutable;
  const char *name;
  int channels;
  mixstage_graph *graph;
  int64_t source_frames;
  /** The audio file the strip plays, as given to set_source_file() (None /
   *  nil for a buffer, a callback or no source). */
  const char *source_path;
  %mutable;
  double clip_gain_db;
  double fader_db;
  double pan;
  double width;
  bool mute;
  bool solo;
  bool polarity;
  uint32_t color;
  mixstage_bus *output;

  /** Inserts a node of @p type ("eq", "compressor", ...) with @p role
   *  (a name such as "mix-fx" or a ROLE_* constant) at @p position
   *  (-1 appends). */
  mixstage_node *m_insert(const char *type, int role = MIXSTAGE_ROLE_STRIP, int position = -1) {
    int err = 0;
    mixstage_node *n = mixstage_strip_insert($self, type, role, position, &err);
    if (!n) msb_check(err, msb_ctx);
    return n;
  }
  int m_node_count() { return mixstage_strip_node_count($self); }
  mixstage_node *m_node_at(int index) {
    mixstage_node *n = mixstage_strip_node($self, index);
    if (!n) msb_check(MIXSTAGE_ERANGE, NULL);
    return n;
  }
  /** A send to the FX return @p to at @p level_db, tapped "pre" or "post"
   *  fader, carrying @p role. */
  mixstage_send *m_add_send(mixstage_bus *to, double level_db = 0.0,
                          int tap = MIXSTAGE_TAP_POST_FADER, int role = MIXSTAGE_ROLE_MIX_FX) {
    int err = 0;
    mixstage_send *s = mixstage_strip_add_send($self, to, level_db, tap, role, &err);
    if (!s) msb_check(err, msb_ctx);
    return s;
  }
  int m_send_count() { return mixstage_strip_send_count($self); }
  mixstage_send *m_send_at(int index) {
    mixstage_send *s = mixstage_strip_send($self, index);
    if (!s) msb_check(MIXSTAGE_ERANGE, NULL);
    return s;
  }
  /** The automation lane of "clip_gain", "fader", "pan" or "width". */
  mixstage_lane *m_lane(int which) {
    int err = 0;
    mixstage_lane *l = mixstage_strip_lane($self, which, &err);
    if (!l) msb_check(err, msb_ctx);
    return l;
  }
  /** The lane of @p which if one was made, else None / nil (never creates). */
  mixstage_lane *m_find_lane(int which) { return mixstage_strip_find_lane($self, which); }
  /** Plays an audio file (WAV, AIFF, FLAC...), converted to the graph's
   *  rate; source_path then reads @p path.  Raises NotFoundError,
   *  FormatError or ChannelsError naming the strip and the file. */
  void m_set_source_file(const char *path) {
    msb_check(mixstage_strip_set_source_file($self, path), msb_ctx);
  }
}

%extend mixstage_bus {
  %immutable;
  const char *name;
  const char *kind;
  int channels;
  mixstage_graph *graph;
  %mutable;
  double fader_db;
  double pan;
  double width;
  bool mute;
  mixstage_bus *output;

  /** Inserts a node of @p type with @p role at @p position (-1 appends). */
  mixstage_node *m_insert(const char *type, int role = MIXSTAGE_ROLE_STRIP, int position = -1) {
    int err = 0;
    mixstage_node *n = mixstage_bus_insert($self, type, role, position, &err);
    if (!n) msb_check(err, msb_ctx);
    return n;
  }
  int m_node_count() { return mixstage_bus_node_count($self); }
  mixstage_node *m_node_at(int index) {
    mixstage_node *n = mixstage_bus_node($self, index);
    if (!n) msb_check(MIXSTAGE_ERANGE, NULL);
    return n;
  }
  /** A send from this bus (a group) to the FX return @p to at @p level_db,
   *  tapped "pre" or "post" fader, carrying @p role. */
  mixstage_send *m_add_send(mixstage_bus *to, double level_db = 0.0,
                          int tap = MIXSTAGE_TAP_POST_FADER, int role = MIXSTAGE_ROLE_MIX_FX) {
    int err = 0;
    mixstage_send *s = mixstage_bus_add_send($self, to, level_db, tap, role, &err);
    if (!s) msb_check(err, msb_ctx);
    return s;
  }
  int m_send_count() { return mixstage_bus_send_count($self); }
  mixstage_send *m_send_at(int index) {
    mixstage_send *s = mixstage_bus_send($self, index);
    if (!s) msb_check(MIXSTAGE_ERANGE, NULL);
    return s;
  }
  /** The automation lane of "fader", "pan" or "width". */
  mixstage_lane *m_lane(int which) {
    int err = 0;
    mixstage_lane *l = mixstage_bus_lane($self, which, &err);
    if (!l) msb_check(err, msb_ctx);
    return l;
  }
  /** The lane of @p which if one was made, else None / nil (never creates). */
  mixstage_lane *m_find_lane(int which) { return mixstage_bus_find_lane($self, which); }
}

%extend mixstage_send {
  %immutable;
  const char *tap;
  const char *role;
  mixstage_bus *target;
  %mutable;
  double level_db;
  bool mute;
  /** The automation lane of the send level. */
  mixstage_lane *m_lane() {
    int err = 0;
    mixstage_lane *l = mixstage_send_lane($self, &err);
    if (!l) msb_check(err, msb_ctx);
    return l;
  }
  /** The send level's lane if one was made, else None / nil. */
  mixstage_lane *m_find_lane() { return mixstage_send_find_lane($self); }
}

%extend mixstage_node {
  %immutable;
  const char *type;
  const char *label;
  mixstage_graph *graph;
  int latency;
  int64_t tail;
  double gain_reduction_db;
  int64_t numeric_faults;
  int param_count;
  %mutable;
  const char *role;
  bool bypass;

  /** The value of the parameter named @p key (or its id as a string). */
  double m_get(const char *key) {
    double v = 0.0;
    int id = msb_param_key($self, key);
    if (id < 0) { msb_check(id, msb_ctx); return 0.0; }
    msb_check(mixstage_node_get_param($self, id, &v), msb_ctx);
    return v;
  }
  /** Sets the parameter named @p key (or its id as a string); out-of-range
   *  values raise RangeError.  Control-safe. */
  void m_set(const char *key, double value) {
    int id = msb_param_key($self, key);
    if (id < 0) { msb_check(id, msb_ctx); return; }
    msb_check(mixstage_node_set_param($self, id, value), msb_ctx);
  }
  /** Sets the choice parameter named @p key to the choice named @p choice
   *  ("highpass"); an unknown choice raises NotFoundError listing the valid
   *  ones and suggesting the closest.  Edit-time (it looks the names up). */
  void m_set_choice(const char *key, const char *choice) {
    msb_check(mixstage_node_set_param_choice($self, key, choice), msb_ctx);
  }
  /** The name of the current choice of the choice parameter named @p key. */
  const char *m_choice(const char *key) {
    static _Thread_local char buf[64]; /* copied into a Python/Lua string at once */
    msb_check(mixstage_node_get_param_choice($self, key, buf, sizeof buf), msb_ctx);
    return buf;
  }
  /** Introspection of parameter @p index (0 .. param_count-1). */
  void m_param_info(int index, mixstage_param_info *info) {
    msb_check(mixstage_node_param_info($self, index, info), msb_ctx);
  }
  /** Keys the node's detector from another strip's or bus's audio, tapped
   *  "pre" or "post" fader. */
  void m_sidechain(mixstage_strip *key, int tap = MIXSTAGE_TAP_PRE_FADER) {
    msb_check(mixstage_node_set_sidechain_strip($self, key, tap), msb_ctx);
  }
  void m_sidechain(mixstage_bus *key, int tap = MIXSTAGE_TAP_PRE_FADER) {
    msb_check(mixstage_node_set_sidechain_bus($self, key, tap), msb_ctx);
  }
  void m_clear_sidechain() { msb_check(mixstage_node_clear_sidechain($self), msb_ctx); }
  /** The automation lane of the parameter named @p key. */
  mixstage_lane *m_lane(const char *key) {
    int id = msb_param_key($self, key), err = 0;
    if (id < 0) { msb_check(id, msb_ctx); return NULL; }
    mixstage_lane *l = mixstage_node_lane($self, id, &err);
    if (!l) msb_check(err, msb_ctx);
    return l;
  }
  /** The lane of the parameter named @p key if one was made, else None /
   *  nil (never creates one); unknown names raise NotFoundError. */
  mixstage_lane *m_find_lane(const char *key) {
    int id = msb_param_key($self, key);
    if (id < 0) { msb_check(id, msb_ctx); return NULL; }
    return mixstage_node_find_lane($self, id);
  }
}

%{
/* The graph a lane belongs to, from the registry (lanes have no accessor). */
static mixstage_graph *msb_lane_graph(const mixstage_lane *l) {
  mixstage_graph *g = NULL;
  pthread_mutex_lock(&msb_lock);
  msb_hold *e = msb_find_locked(l);
  if (e) g = e->gr->g;
  pthread_mutex_unlock(&msb_lock);
  return g;
}
static double mixstage_lane_sample_rate_get(mixstage_lane *l) {
  mixstage_graph *g = msb_lane_graph(l);
  return g ? mixstage_graph_sample_rate(g) : 0.0;
}
%}
%extend mixstage_lane {
  %immutable;
  int point_count;
  /** The sample rate (Hz) of the lane's graph: seconds = frames / sample_rate. */
  double sample_rate;
  %mutable;
  /** At @p frame the parameter is @p value, reached along @p curve
   *  ("linear", "exponential", "step"). */
  void m_add_point(int64_t frame, double value, int curve = MIXSTAGE_CURVE_LINEAR) {
    msb_check(mixstage_lane_add_point($self, frame, value, curve), msb_ctx);
  }
  void m_clear() { msb_check(mixstage_lane_clear($self), msb_ctx); }
  /** The lane's value at @p frame, as the engine applies it. */
  double m_value_at(int64_t frame) { return mixstage_lane_value_at($self, frame); }
}

/* File measurements travel as a dict (Python) / table (Lua) keyed by the
 * field names of mixstage_file_stats; "format" and "sample_type" by name,
 * silence as -inf, the checksum as "fnv1a64:<16 hex digits>" (as in the
 * manifest).  A FileStats struct is accepted too. */
%{
static const char *msb_format_name(int f) { return f >= 0 && f < 3 ? msb_format_names[f] : NULL; }
static int msb_stats_checksum(const char *s, uint64_t *out) {
  if (!s) return -1;
  if (strncmp(s, "fnv1a64:", 8) == 0) s += 8;
  char *end;
  unsigned long long v = strtoull(s, &end, 16);
  if (*s == 0 || *end != 0) return -1;
  *out = (uint64_t)v;
  return 0;
}
%}
#if defined(SWIGPYTHON)
%{
static PyObject *msb_stats_dict(const mixstage_file_stats *st) {
  char sum[32];
  snprintf(sum, sizeof sum, "fnv1a64:%016llx", (unsigned long long)st->checksum);
  return Py_BuildValue("{s:L,s:d,s:d,s:i,s:z,s:z,s:d,s:d,s:d,s:d,s:d,s:d,s:d,s:L,s:s}",
                       "frames", (long long)st->frames, "seconds", st->seconds,
                       "sample_rate", st->sample_rate, "channels", st->channels,
                       "format", msb_format_name(st->format),
                       "sample_type", st->sample_type >= 0 && st->sample_type < 3 ? msb_stype_names[st->sample_type] : NULL,
                       "peak_dbfs", st->peak_dbfs, "true_peak_dbtp", st->true_peak_dbtp,
                       "integrated_lufs", st->integrated_lufs,
                       "loudness_range_lu", st->loudness_range_lu,
                       "momentary_max_lufs", st->momentary_max_lufs,
                       "short_term_max_lufs", st->short_term_max_lufs, "rms_dbfs", st->rms_dbfs,
                       "clipped_samples", (long long)st->clipped_samples, "checksum", sum);
}
/* dict -> struct; missing keys stay as set by the caller (zero). */
static int msb_stats_from_dict(PyObject *d, mixstage_file_stats *st) {
  PyObject *v;
  memset(st, 0, sizeof *st);
  st->format = -1;
#define MSB_GETD(K) if ((v = PyDict_GetItemString(d, #K)) && v != Py_None) { st->K = PyFloat_AsDouble(v); if (PyErr_Occurred()) return -1; }
#define MSB_GETI(K) if ((v = PyDict_GetItemString(d, #K)) && v != Py_None) { st->K = PyLong_AsLongLong(v); if (PyErr_Occurred()) return -1; }
  MSB_GETI(frames) MSB_GETD(seconds) MSB_GETD(sample_rate) MSB_GETI(channels)
  MSB_GETD(peak_dbfs) MSB_GETD(true_peak_dbtp) MSB_GETD(integrated_lufs)
  MSB_GETD(loudness_range_lu) MSB_GETD(momentary_max_lufs) MSB_GETD(short_term_max_lufs)
  MSB_GETD(rms_dbfs) MSB_GETI(clipped_samples)
#undef MSB_GETD
#undef MSB_GETI
  char emsg[128];
  if ((v = PyDict_GetItemString(d, "format")) && PyUnicode_Check(v)) {
    st->format = msb_enum("file format", msb_format_names, msb_format_values, PyUnicode_AsUTF8(v), emsg, sizeof emsg);
    if (st->format < 0) { msb_raise_msg(MIXSTAGE_ENOTFOUND, emsg); return -1; }
  }
  if ((v = PyDict_GetItemString(d, "sample_type")) && PyUnicode_Check(v)) {
    st->sample_type = msb_enum("sample type", msb_stype_names, msb_stype_values, PyUnicode_AsUTF8(v), emsg, sizeof emsg);
    if (st->sample_type < 0) { msb_raise_msg(MIXSTAGE_ENOTFOUND, emsg); return -1; }
  }
  if ((v = PyDict_GetItemString(d, "checksum")) && PyUnicode_Check(v) &&
      msb_stats_checksum(PyUnicode_AsUTF8(v), &st->checksum) < 0) {
    PyErr_SetString(PyExc_ValueError, "checksum must read fnv1a64:<16 hex digits>");
    return -1;
  }
  return 0;
}
%}
%typemap(in) const mixstage_file_stats *stats (mixstage_file_stats st_tmp) {
  if (PyDict_Check($input)) {
    if (msb_stats_from_dict($input, &st_tmp) < 0) SWIG_fail;
    $1 = &st_tmp;
  } else {
    void *vp = 0;
    int res = SWIG_ConvertPtr($input, &vp, $descriptor(mixstage_file_stats *), 0);
    if (!SWIG_IsOK(res)) SWIG_exception_fail(SWIG_ArgError(res), "stats must be a dict (as write_audio returns) or a FileStats");
    $1 = (mixstage_file_stats *)vp;
  }
}
#else
%{
static void msb_push_stats(lua_State *L, const mixstage_file_stats *st) {
  char sum[32];
  snprintf(sum, sizeof sum, "fnv1a64:%016llx", (unsigned long long)st->checksum);
  lua_createtable(L, 0, 16);
  lua_pushinteger(L, st->frames); lua_setfield(L, -2, "frames");
  lua_pushnumber(L, st->seconds); lua_setfield(L, -2, "seconds");
  lua_pushnumber(L, st->sample_rate); lua_setfield(L, -2, "sample_rate");
  lua_pushinteger(L, st->channels); lua_setfield(L, -2, "channels");
  if (msb_format_name(st->format)) { lua_pushstring(L, msb_format_name(st->format)); lua_setfield(L, -2, "format"); }
  if (st->sample_type >= 0 && st->sample_type < 3) { lua_pushstring(L, msb_stype_names[st->sample_type]); lua_setfield(L, -2, "sample_type"); }
  lua_pushnumber(L, st->peak_dbfs); lua_setfield(L, -2, "peak_dbfs");
  lua_pushnumber(L, st->true_peak_dbtp); lua_setfield(L, -2, "true_peak_dbtp");
  lua_pushnumber(L, st->integrated_lufs); lua_setfield(L, -2, "integrated_lufs");
  lua_pushnumber(L, st->loudness_range_lu); lua_setfield(L, -2, "loudness_range_lu");
  lua_pushnumber(L, st->momentary_max_lufs); lua_setfield(L, -2, "momentary_max_lufs");
  lua_pushnumber(L, st->short_term_max_lufs); lua_setfield(L, -2, "short_term_max_lufs");
  lua_pushnumber(L, st->rms_dbfs); lua_setfield(L, -2, "rms_dbfs");
  lua_pushinteger(L, st->clipped_samples); lua_setfield(L, -2, "clipped_samples");
  lua_pushstring(L, sum); lua_setfield(L, -2, "checksum");
}
static void msb_stats_from_table(lua_State *L, int t, mixstage_file_stats *st) {
  memset(st, 0, sizeof *st);
  st->format = -1;
#define MSB_GETD(K) lua_getfield(L, t, #K); if (lua_isnumber(L, -1)) st->K = lua_tonumber(L, -1); lua_pop(L, 1);
#define MSB_GETI(K) lua_getfield(L, t, #K); if (lua_isnumber(L, -1)) st->K = (int64_t)lua_tonumber(L, -1); lua_pop(L, 1);
  MSB_GETI(frames) MSB_GETD(seconds) MSB_GETD(sample_rate) MSB_GETI(channels)
  MSB_GETD(peak_dbfs) MSB_GETD(true_peak_dbtp) MSB_GETD(integrated_lufs)
  MSB_GETD(loudness_range_lu) MSB_GETD(momentary_max_lufs) MSB_GETD(short_term_max_lufs)
  MSB_GETD(rms_dbfs) MSB_GETI(clipped_samples)
#undef MSB_GETD
#undef MSB_GETI
  char emsg[128];
  lua_getfield(L, t, "format");
  if (lua_type(L, -1) == LUA_TSTRING)
    st->format = msb_enum("file format", msb_format_names, msb_format_values, lua_tostring(L, -1), emsg, sizeof emsg);
  lua_pop(L, 1);
  lua_getfield(L, t, "sample_type");
  if (lua_type(L, -1) == LUA_TSTRING)
    st->sample_type = msb_enum("sample type", msb_stype_names, msb_stype_values, lua_tostring(L, -1), emsg, sizeof emsg);
  lua_pop(L, 1);
  lua_getfield(L, t, "checksum");
  if (lua_type(L, -1) == LUA_TSTRING) msb_stats_checksum(lua_tostring(L, -1), &st->checksum);
  lua_pop(L, 1);
}
%}
%typemap(in, checkfn="lua_istable") const mixstage_file_stats *stats (mixstage_file_stats st_tmp) {
  msb_stats_from_table(L, $input, &st_tmp);
  $1 = &st_tmp;
}
#endif

/* ======================================================================== */
/* 5b. Profiles, bounces, files and manifests (shared sugar)                */
/* ======================================================================== */
%{
/* Makes @p govern @g's own mix; the graph's registry entry holds @p for as
 * long as it is active (the C call borrows it). */
static int msb_graph_set_profile(mixstage_graph *g, const mixstage_profile *p) {
  if (!g) return MIXSTAGE_ENULL;
  if (msb_prof_retain(p) < 0) return MIXSTAGE_ENOMEM;
  int st = mixstage_graph_set_profile(g, p);
  if (st < 0) {
    msb_prof_release(p);
    return st;
  }
  const void *old = NULL;
  pthread_mutex_lock(&msb_lock);
  for (msb_gref *r = msb_grefs; r; r = r->next)
    if (r->g == g) {
      old = r->profile;
      r->profile = p;
      p = NULL;
      break;
    }
  pthread_mutex_unlock(&msb_lock);
  msb_prof_release(old);
  msb_prof_release(p); /* a graph the binding does not hold: nothing keeps it */
  return MIXSTAGE_OK;
}
static const mixstage_profile *mixstage_graph_profile_get(mixstage_graph *g) {
  return mixstage_graph_profile(g);
}
static void mixstage_graph_profile_set(mixstage_graph *g, const mixstage_profile *p) {
  msb_check(msb_graph_set_profile(g, p), g);
}

/* A failed edit of a profile: built-ins are read-only, say how to copy. */
static void msb_prof_check(const mixstage_profile *p, int st) {
  if (st == MIXSTAGE_ESTATE) {
    char emsg[256];
    snprintf(emsg, sizeof emsg,
             "profile '%s' is built in and read-only: edit a copy, Profile(\"mine\", base=\"%s\")",
             mixstage_profile_name(p), mixstage_profile_name(p));
    msb_check_msg(st, emsg);
  } else {
    msb_check(st, NULL);
  }
}
static const char *mixstage_profile_name_get(mixstage_profile *p) { return mixstage_profile_name(p); }
static bool mixstage_profile_builtin_get(mixstage_profile *p) { return msb_prof_builtin(p) != 0; }
static const char *mixstage_profile_stems_get(mixstage_profile *p) {
  return msb_name_of(msb_stems_names, mixstage_profile_stems(p));
}
static void mixstage_profile_stems_set(mixstage_profile *p, const char *v) {
  char emsg[256];
  int k = msb_enum("stems", msb_stems_names, msb_stems_values, v ? v : "", emsg, sizeof emsg);
  if (k < 0) {
    msb_check_msg(k, emsg);
    return;
  }
  msb_prof_check(p, mixstage_profile_set_stems(p, k));
}
#define MSB_PROF_B(FIELD)                                                               \
  static bool mixstage_profile_##FIELD##_get(mixstage_profile *p) {                      \
    return mixstage_profile_##FIELD(p) > 0;                                              \
  }                                                                                      \
  static void mixstage_profile_##FIELD##_set(mixstage_profile *p, bool v) {              \
    msb_prof_check(p, mixstage_profile_set_##FIELD(p, v ? 1 : 0));                       \
  }
MSB_PROF_B(fx_stems)
MSB_PROF_B(mix)
MSB_PROF_B(reference)

static int mixstage_bounce_count_get(mixstage_bounce *b) { return mixstage_bounce_count(b); }
static int64_t mixstage_bounce_frames_get(mixstage_bounce *b) { return mixstage_bounce_frames(b); }
static int mixstage_bounce_channels_get(mixstage_bounce *b) { return mixstage_bounce_channels(b); }
static const char *mixstage_bounce_profile_get(mixstage_bounce *b) { return mixstage_bounce_profile(b); }
/* The index of output @key (a name, or an index as digits: Lua passes
 * numbers as strings); NotFoundError names the outputs there are. */
static int msb_bounce_index(const mixstage_bounce *b, const char *key) {
  int i = mixstage_bounce_find(b, key);
  if (i >= 0) return i;
  if (key && *key) {
    char *end;
    long v = strtol(key, &end, 10);
    if (*end == 0 && v >= 0 && v < mixstage_bounce_count(b)) return (int)v;
  }
  char emsg[1024];
  snprintf(emsg, sizeof emsg, "the '%s' bounce has no output '%s' (outputs:",
           mixstage_bounce_profile(b), key ? key : "(null)");
  for (int k = 0; k < mixstage_bounce_count(b); k++)
    snprintf(emsg + strlen(emsg), sizeof emsg - strlen(emsg), " %s", mixstage_bounce_name(b, k));
  snprintf(emsg + strlen(emsg), sizeof emsg - strlen(emsg), ")");
  msb_check_msg(MIXSTAGE_ENOTFOUND, emsg);
  return -1;
}

/* Writes the manifest's role lists, given as "a,b,c" (each language joins
 * its own list type), as NULL-terminated arrays in @store. */
static const char *const *msb_split_roles(const char *list, char *store, size_t size,
                                          const char **ptrs, int max) {
  int n = 0;
  if (!list || !*list) return NULL;
  snprintf(store, size, "%s", list);
  for (char *tok = strtok(store, ", "); tok && n < max - 1; tok = strtok(NULL, ", ")) ptrs[n++] = tok;
  ptrs[n] = NULL;
  return ptrs;
}

/* The render config of bounce / null check / deliver calls. */
static void msb_render_config2(mixstage_render_config *rc, long long frames, long long tail,
                               int threads) {
  mixstage_render_config_init(rc);
  rc->frames = frames;
  if (tail >= 0) rc->max_tail_frames = tail;
  rc->threads = threads;
}
static void msb_deliver_config(mixstage_deliver_config *dc, long long frames, long long tail,
                               int threads, int format, int sample_type, bool dither,
                               long long dither_seed, double output_rate,
                               double tail_threshold_db, bool manifest) {
  mixstage_deliver_config_init(dc);
  msb_render_config2(&dc->render, frames, tail, threads);
  dc->write.format = format;
  dc->write.sample_type = sample_type;
  dc->write.dither = dither ? 1 : 0;
  if (dither_seed >= 0) dc->write.dither_seed = (uint64_t)dither_seed;
  dc->write.output_rate = output_rate;
  dc->tail_threshold_db = tail_threshold_db;
  dc->write_manifest = manifest ? 1 : 0;
}
%}

%rename(graph_set_profile) msb_graph_set_profile;
%apply int MSB_STATUS { int msb_graph_set_profile };
%feature("docstring", "Makes a profile (a Profile, a built-in's name, or None for production) govern the graph's own mix; the graph holds it while active.") msb_graph_set_profile;
int msb_graph_set_profile(mixstage_graph *graph, const mixstage_profile *profile);

%extend mixstage_graph {
  /** The profile governing the graph's own mix (render(), process()):
   *  a Profile or a built-in's name; None restores production. */
  const mixstage_profile *profile;
}

%extend mixstage_profile {
  /** A custom profile named @p name, starting as a copy of @p base (a
   *  Profile or a built-in's name; None: production). */
  mixstage_profile(const char *name, const mixstage_profile *base = NULL) {
    int err = 0;
    mixstage_profile *p = mixstage_profile_create(name, base, &err);
    if (!p) {
      msb_check(err ? err : MIXSTAGE_ENOMEM, NULL);
    } else if (msb_prof_retain(p) < 0) {
      mixstage_profile_destroy(p);
      p = NULL;
      msb_check(MIXSTAGE_ENOMEM, NULL);
    }
    return p;
  }
  %immutable;
  const char *name;
  bool builtin;
  %mutable;
  /** "none", "per-strip" or "per-group". */
  const char *stems;
  /** The mix-fx returns are delivered as their own stems. */
  bool fx_stems;
  /** The profile delivers its own mix. */
  bool mix;
  /** The production mix is delivered as the reference. */
  bool reference;
  /** The action for @p role: "on", "bypass" or "mute". */
  const char *m_action(int role) {
    int a = mixstage_profile_action($self, role);
    if (a < 0) { msb_check(a, NULL); return NULL; }
    return msb_name_of(msb_action_names, a);
  }
  /** Sets the action ("on", "bypass", "mute") for @p role. */
  void m_set_action(int role, int action) {
    msb_prof_check($self, mixstage_profile_set_action($self, role, action));
  }
}

%extend mixstage_bounce {
  %immutable;
  int count;
  int64_t frames;
  int channels;
  const char *profile;
  %mutable;
  /** The name of output @p index (0-based). */
  const char *m_name(int index) {
    const char *n = mixstage_bounce_name($self, index);
    if (!n) msb_check(MIXSTAGE_ERANGE, NULL);
    return n;
  }
  /** The index of the output named @p key; NotFoundError lists the names. */
  int m_index(const char *key) { return msb_bounce_index($self, key); }
  /** "mix", "stem", "fx-return" or "reference" (as the manifest's "kind"). */
  const char *m_kind(const char *key) {
    int i = msb_bounce_index($self, key);
    return i < 0 ? NULL : msb_name_of(msb_okind_names, mixstage_bounce_kind($self, i));
  }
  /** Whether the stem adds up exactly with the others (the manifest's
   *  "adds_up"). */
  bool m_adds_up(const char *key) {
    int i = msb_bounce_index($self, key);
    return i >= 0 && mixstage_bounce_adds_up($self, i) > 0;
  }
  /** Deprecated alias of adds_up(). */
  bool m_nulls(const char *key) {
    int i = msb_bounce_index($self, key);
    return i >= 0 && mixstage_bounce_adds_up($self, i) > 0;
  }
  /** Why the stem does not add up ("" if it does). */
  const char *m_note(const char *key) {
    int i = msb_bounce_index($self, key);
    const char *n = i < 0 ? NULL : mixstage_bounce_note($self, i);
    return n ? n : "";
  }
}

%extend mixstage_manifest {
  /** An empty manifest. */
  mixstage_manifest() {
    int err = 0;
    mixstage_manifest *m = mixstage_manifest_create(&err);
    if (!m) msb_check(err ? err : MIXSTAGE_ENOMEM, NULL);
    return m;
  }
  %immutable;
  int file_count;
  %mutable;
  /** Adds a file entry from its stats; the role lists are comma-separated
   *  role names.  Returns the entry's index. */
  int m_add_file_(const char *path, const char *kind, const char *profile_name,
                  const mixstage_file_stats *stats, const char *on = NULL,
                  const char *bypassed = NULL, const char *muted = NULL,
                  long long latency_removed_frames = 0) {
    char s1[512], s2[512], s3[512];
    const char *p1[32], *p2[32], *p3[32];
    int i = mixstage_manifest_add_file($self, path, kind, profile_name, stats,
                                       msb_split_roles(on, s1, sizeof s1, p1, 32),
                                       msb_split_roles(bypassed, s2, sizeof s2, p2, 32),
                                       msb_split_roles(muted, s3, sizeof s3, p3, 32),
                                       latency_removed_frames);
    if (i < 0) {
      char emsg[256];
      snprintf(emsg, sizeof emsg, "manifest entry '%s' (kind '%s'; kinds: stem mix reference fx-return)",
               path ? path : "(null)", kind ? kind : "(null)");
      msb_check_msg(i, emsg);
      return 0;
    }
    return i;
  }
  /** Writes the manifest to @p path atomically. */
  void m_write(const char *path) {
    char err[512] = "";
    int st = mixstage_manifest_write($self, path, err, sizeof err);
    if (st < 0) msb_check_msg(st, err);
  }
}
%{
static int mixstage_manifest_file_count_get(mixstage_manifest *m) { return mixstage_manifest_file_count(m); }
%}

/* ======================================================================== */
/* 5c. Editing a graph (edit.h): remove, move, replace                      */
/* ======================================================================== */
/* Every call that may free objects runs between msb_edit_begin() and
 * msb_edit_end() (section 1b), so that the proxies of what it freed raise
 * RemovedError naming it.  The flat names (strip_remove, node_move...) are
 * these wrappers, not the raw C calls. */
%{
/* The graph a proxied handle belongs to (its cell's graph), or NULL. */
static int msb_edit_owned(mixstage_graph *g, const void *obj, const char *what) {
  if (!obj) return MIXSTAGE_ENULL;
  if (msb_graph_of(obj) == g) return MIXSTAGE_OK;
  char emsg[300];
  snprintf(emsg, sizeof emsg, "%s belongs to another graph", msb_describe(obj)[0] ? msb_cause : what);
  return msb_check_msg(MIXSTAGE_EINVAL, emsg);
}
/* Runs one removal of @obj on @g with the proxies' bookkeeping. */
#define MSB_EDIT_REMOVE(G, OBJ, CALL)                                    \
  do {                                                                   \
    mixstage_graph *g_ = (G);                                            \
    if (!(OBJ)) return MIXSTAGE_ENULL;                                   \
    msb_edit_begin(g_);                                                  \
    char cause_[256];                                                    \
    snprintf(cause_, sizeof cause_, "%s", msb_describe(OBJ));            \
    int st_ = (CALL);                                                    \
    msb_edit_end(g_, "removed from its graph", cause_);                  \
    return st_;                                                          \
  } while (0)
static int msb_strip_remove(mixstage_strip *strip) {
  MSB_EDIT_REMOVE(mixstage_strip_graph(strip), strip, mixstage_strip_remove(strip));
}
static int msb_bus_remove(mixstage_bus *bus) {
  MSB_EDIT_REMOVE(mixstage_bus_graph(bus), bus, mixstage_bus_remove(bus));
}
static int msb_send_remove(mixstage_send *send) {
  MSB_EDIT_REMOVE(msb_send_graph(send), send, mixstage_send_remove(send));
}
static int msb_node_remove(mixstage_node *node) {
  MSB_EDIT_REMOVE(mixstage_node_graph(node), node, mixstage_node_remove(node));
}
static int msb_lane_remove(mixstage_lane *lane) {
  MSB_EDIT_REMOVE(msb_graph_of(lane), lane, mixstage_lane_remove(lane));
}
static int msb_node_move(mixstage_node *node, int position) {
  return mixstage_node_move(node, position);
}
/* Replacing keeps the node (handle and serial) but frees the lanes the new
 * type cannot take. */
static int msb_node_replace(mixstage_node *node, const char *type) {
  if (!node) return MIXSTAGE_ENULL;
  mixstage_graph *g = mixstage_node_graph(node);
  char how[200];
  snprintf(how, sizeof how, "freed when its node was replaced by a '%s' (no parameter of that "
           "name takes its points)", type ? type : "(null)");
  msb_edit_begin(g);
  int st = mixstage_node_replace(node, type);
  msb_edit_end(g, how, NULL);
  return st;
}
%}
%ignore mixstage_strip_remove;
%ignore mixstage_bus_remove;
%ignore mixstage_send_remove;
%ignore mixstage_node_remove;
%ignore mixstage_lane_remove;
%ignore mixstage_node_move;
%ignore mixstage_node_replace;
%rename(strip_remove) msb_strip_remove;
%rename(bus_remove) msb_bus_remove;
%rename(send_remove) msb_send_remove;
%rename(node_remove) msb_node_remove;
%rename(lane_remove) msb_lane_remove;
%rename(node_move) msb_node_move;
%rename(node_replace) msb_node_replace;
%apply int MSB_STATUS { int msb_strip_remove, int msb_bus_remove, int msb_send_remove,
                        int msb_node_remove, int msb_lane_remove, int msb_node_move,
                        int msb_node_replace };
int msb_strip_remove(mixstage_strip *strip);
int msb_bus_remove(mixstage_bus *bus);
int msb_send_remove(mixstage_send *send);
int msb_node_remove(mixstage_node *node);
int msb_lane_remove(mixstage_lane *lane);
int msb_node_move(mixstage_node *node, int position);
int msb_node_replace(mixstage_node *node, const char *type);
/* Serials are integers in Lua too (not floats). */
#if defined(SWIGLUA)
%typemap(out) uint64_t mixstage_strip_serial, uint64_t mixstage_bus_serial,
              uint64_t mixstage_send_serial, uint64_t mixstage_node_serial,
              uint64_t mixstage_lane_serial {
  lua_pushinteger(L, (lua_Integer)$1); SWIG_arg++;
}
%typemap(in, checkfn="lua_isinteger") uint64_t serial { $1 = (uint64_t)lua_tointeger(L, $input); }
#endif
%include "mixstage/edit.h"

%{
static uint64_t mixstage_strip_serial_get(mixstage_strip *s) { return mixstage_strip_serial(s); }
static uint64_t mixstage_bus_serial_get(mixstage_bus *b) { return mixstage_bus_serial(b); }
static uint64_t mixstage_send_serial_get(mixstage_send *s) { return mixstage_send_serial(s); }
static uint64_t mixstage_node_serial_get(mixstage_node *n) { return mixstage_node_serial(n); }
static uint64_t mixstage_lane_serial_get(mixstage_lane *l) { return mixstage_lane_serial(l); }
static const char *mixstage_node_sidechain_lost_get(mixstage_node *n) { return mixstage_node_sidechain_lost(n); }
static mixstage_strip *mixstage_send_source_strip_get(mixstage_send *s) { return mixstage_send_source_strip(s); }
static mixstage_bus *mixstage_send_source_bus_get(mixstage_send *s) { return mixstage_send_source_bus(s); }
%}
#if defined(SWIGLUA)
%typemap(out) uint64_t serial { lua_pushinteger(L, (lua_Integer)$1); SWIG_arg++; }
#endif

%warnfilter(511) mixstage_graph::m_remove;
%extend mixstage_graph {
  /** Removes @p obj -- a Strip, Bus, Send, Node or Lane of this graph -- with
   *  everything it owns (see Strip.remove() and the others).  Its proxies,
   *  and those of everything that went with it, then raise RemovedError on
   *  any use.  The lists strips, buses, nodes and sends are snapshots, so
   *  removing while iterating over one is safe. */
  void m_remove(mixstage_strip *obj) {
    if (msb_edit_owned($self, obj, "the strip") == 0) msb_check(msb_strip_remove(obj), $self);
  }
  void m_remove(mixstage_bus *obj) {
    if (msb_edit_owned($self, obj, "the bus") == 0) msb_check(msb_bus_remove(obj), $self);
  }
  void m_remove(mixstage_send *obj) {
    if (msb_edit_owned($self, obj, "the send") == 0) msb_check(msb_send_remove(obj), $self);
  }
  void m_remove(mixstage_node *obj) {
    if (msb_edit_owned($self, obj, "the node") == 0) msb_check(msb_node_remove(obj), $self);
  }
  void m_remove(mixstage_lane *obj) {
    if (msb_edit_owned($self, obj, "the lane") == 0) msb_check(msb_lane_remove(obj), $self);
  }
}
%extend mixstage_strip {
  %immutable;
  /** A number naming the strip for as long as its graph lives (never reused). */
  uint64_t serial;
  %mutable;
  /** Removes the strip with its inserts, sends, lanes and source.  Meters
   *  attached to it are detached (they keep their figures); nodes keyed by
   *  it lose the key (Node.sidechain_lost names it).  This proxy and those
   *  of everything it took raise RemovedError afterwards. */
  void m_remove() { msb_check(msb_strip_remove($self), msb_ctx); }
  /** Moves @p node, one of this strip's inserts, to @p position (0-based;
   *  -1: last). */
  void m_move(mixstage_node *node, int position) {
    mixstage_graph *g = msb_ctx;
    for (int i = 0; i < mixstage_strip_node_count($self); i++)
      if (mixstage_strip_node($self, i) == node) { msb_check(mixstage_node_move(node, position), g); return; }
    char emsg[300];
    snprintf(emsg, sizeof emsg, "%s is not an insert of strip '%s'", node ? mixstage_node_label(node) : "(null)",
             mixstage_strip_name($self));
    msb_check_msg(node ? MIXSTAGE_EINVAL : MIXSTAGE_ENULL, emsg);
  }
}
%extend mixstage_bus {
  %immutable;
  /** A number naming the bus for as long as its graph lives (never reused). */
  uint64_t serial;
  %mutable;
  /** Removes the group bus or FX return with its inserts, sends and lanes;
   *  a return takes the sends into it with it.  Refused (StateError naming
   *  the first) while a strip or bus routes into it: route them elsewhere
   *  first.  The mix bus cannot be removed. */
  void m_remove() { msb_check(msb_bus_remove($self), msb_ctx); }
  /** Moves @p node, one of this bus's inserts, to @p position (0-based;
   *  -1: last). */
  void m_move(mixstage_node *node, int position) {
    mixstage_graph *g = msb_ctx;
    for (int i = 0; i < mixstage_bus_node_count($self); i++)
      if (mixstage_bus_node($self, i) == node) { msb_check(mixstage_node_move(node, position), g); return; }
    char emsg[300];
    snprintf(emsg, sizeof emsg, "%s is not an insert of bus '%s'", node ? mixstage_node_label(node) : "(null)",
             mixstage_bus_name($self));
    msb_check_msg(node ? MIXSTAGE_EINVAL : MIXSTAGE_ENULL, emsg);
  }
}
%extend mixstage_send {
  %immutable;
  uint64_t serial;
  /** The Strip the send belongs to (None / nil when a bus sends). */
  mixstage_strip *source_strip;
  /** The Bus the send belongs to (None / nil when a strip sends). */
  mixstage_bus *source_bus;
  %mutable;
  /** Removes the send and its level lane. */
  void m_remove() { msb_check(msb_send_remove($self), msb_ctx); }
}
%extend mixstage_node {
  %immutable;
  uint64_t serial;
  /** The name of the strip or bus that keyed the node until it was removed
   *  (or a replace() gave the node a type that takes no key), else None /
   *  nil.  Setting or clearing a key forgets it. */
  const char *sidechain_lost;
  %mutable;
  /** Removes the node from its insert chain, with its lanes and key; the
   *  nodes after it move up by one. */
  void m_remove() { msb_check(msb_node_remove($self), msb_ctx); }
  /** Moves the node to @p position in its own chain (0-based; -1: last);
   *  it keeps its parameters, lanes, role, bypass and key. */
  void m_move(int position) { msb_check(msb_node_move($self, position), msb_ctx); }
  /** Replaces the node in place by a node of @p type ("gate"): same
   *  position, role and bypass, and this same proxy.  Parameters of the same
   *  name keep their values (and lanes) where the new type accepts them;
   *  the others start at their defaults.  Lanes the new type cannot take are
   *  removed (their proxies raise RemovedError). */
  void m_replace(const char *type) { msb_check(msb_node_replace($self, type), msb_ctx); }
}
%extend mixstage_lane {
  %immutable;
  uint64_t serial;
  %mutable;
  /** Removes the lane and its points: the parameter goes back to the value
   *  last set on it.  (clear() keeps the lane, without points.) */
  void m_remove() { msb_check(msb_lane_remove($self), msb_ctx); }
}

/* ======================================================================== */
/* 6. Per-language extras                                                   */
/* ======================================================================== */
#if defined(SWIGPYTHON)
%include "python/sugar.i"
#elif defined(SWIGLUA)
%include "lua/sugar.i"
#endif

/* ======================================================================== */
/* 7. Analysis, assessment, mastering, translation and graph files          */
/* ======================================================================== */
/* Written once for both languages against the result builder of section 6
 * (msb_b_*: dicts and numpy arrays in Python, tables and Buffers in Lua).
 * Audio in is `const msb_audio *` (a numpy array-like / a Buffer); configs
 * are keyword (Python) or options-table (Lua) arguments, NAN or -1 meaning
 * "the library default". */
%{
#include <math.h>
static const char *msb_ext_of(int format) { return format == 1 ? "aiff" : format == 2 ? "flac" : "wav"; }
static void msb_write_config(mixstage_write_config *wc, int format, int sample_type, bool dither,
                             long long dither_seed, double output_rate) {
  mixstage_write_config_init(wc);
  wc->format = format;
  wc->sample_type = sample_type;
  wc->dither = dither ? 1 : 0;
  if (dither_seed >= 0) wc->dither_seed = (uint64_t)dither_seed;
  wc->output_rate = output_rate;
}
/* A playback system by name, or its index as digits (Lua numbers arrive as
 * strings); NotFoundError lists the systems. */
static int msb_system_arg(const char *s) {
  int k = s ? mixstage_playback_system_find(s) : MIXSTAGE_ENULL;
  if (k >= 0) return k;
  if (s && *s) {
    char *end;
    long v = strtol(s, &end, 10);
    if (*end == 0 && v >= 0 && v < mixstage_playback_system_count()) return (int)v;
  }
  char emsg[256];
  snprintf(emsg, sizeof emsg, "unknown playback system '%s' (one of", s ? s : "(null)");
  for (int i = 0; mixstage_playback_system_name(i); i++)
    snprintf(emsg + strlen(emsg), sizeof emsg - strlen(emsg), " %s", mixstage_playback_system_name(i));
  snprintf(emsg + strlen(emsg), sizeof emsg - strlen(emsg), ")");
  msb_check_msg(MIXSTAGE_ENOTFOUND, emsg);
  return -1;
}
static void msb_put_gain_stage(msb_b *b, const mixstage_gain_stage_result *r) {
  msb_b_num(b, "rms_before_dbfs", r->rms_before_dbfs);
  msb_b_num(b, "peak_before_dbfs", r->peak_before_dbfs);
  msb_b_num(b, "clip_gain_db", r->clip_gain_db);
  msb_b_num(b, "rms_after_dbfs", r->rms_after_dbfs);
  msb_b_num(b, "peak_after_dbfs", r->peak_after_dbfs);
  msb_b_bool(b, "peak_limited", r->peak_limited);
  msb_b_bool(b, "clips", r->clips);
  msb_b_bool(b, "too_quiet", r->too_quiet);
  msb_b_bool(b, "clamped", r->clamped);
}
static void msb_gs_config(mixstage_gain_stage_config *c, double target_rms_dbfs, double max_peak_dbfs,
                          double quiet_dbfs) {
  mixstage_gain_stage_config_init(c);
  if (!isnan(target_rms_dbfs)) c->target_rms_dbfs = target_rms_dbfs;
  if (!isnan(max_peak_dbfs)) c->max_peak_dbfs = max_peak_dbfs;
  if (!isnan(quiet_dbfs)) c->quiet_dbfs = quiet_dbfs;
}
static void msb_assess_config(mixstage_assess_config *c, double max_lag_ms, double phase_threshold,
                              double masking_floor_dbfs) {
  mixstage_assess_config_init(c);
  if (!isnan(max_lag_ms)) c->max_lag_ms = max_lag_ms;
  if (!isnan(phase_threshold)) c->phase_threshold = phase_threshold;
  if (!isnan(masking_floor_dbfs)) c->masking_floor_dbfs = masking_floor_dbfs;
}
static void msb_put_mono(msb_b *b, const mixstage_mono_compat *m) {
  msb_b_num(b, "correlation", m->correlation);
  msb_b_num(b, "mono_loss_db", m->mono_loss_db);
  msb_b_num(b, "side_to_mid_db", m->side_to_mid_db);
  msb_b_num(b, "balance_db", m->balance_db);
}
static void msb_put_phase(msb_b *b, const mixstage_phase_result *r) {
  msb_b_int(b, "offset_frames", (long long)r->offset_frames);
  msb_b_int(b, "sign", r->sign);
  msb_b_num(b, "correlation", r->correlation);
  msb_b_num(b, "zero_lag_correlation", r->zero_lag_correlation);
  msb_b_bool(b, "correlated", r->correlated);
  msb_b_bool(b, "polarity_flip", r->polarity_flip);
  msb_b_bool(b, "time_offset", r->time_offset);
}
/* Indices are 0-based in Python, 1-based in Lua (as lists are). */
#if defined(SWIGLUA)
#define MSB_BASE 1
#else
#define MSB_BASE 0
#endif
static void msb_put_masking(msb_b *b, const mixstage_masking_pair *p, char (*names)[64]) {
  msb_b_int(b, "a", p->a + MSB_BASE);
  msb_b_int(b, "b", p->b + MSB_BASE);
  if (names) {
    msb_b_str(b, "a_name", names[p->a]);
    msb_b_str(b, "b_name", names[p->b]);
  }
  msb_b_num(b, "score_db", p->score_db);
  if (p->band >= 0) msb_b_int(b, "band", p->band + MSB_BASE); else msb_b_str(b, "band", NULL);
  msb_b_num(b, "band_hz", p->band_hz);
  msb_b_nums(b, "overlap_db", p->overlap_db, MIXSTAGE_THIRD_OCTAVE_BANDS);
}
static void msb_put_streaming(msb_b *b, const mixstage_streaming_gain *s) {
  msb_b_list(b);
  for (int i = 0; i < MIXSTAGE_STREAMING_SERVICES; i++) {
    msb_b_dict(b);
    msb_b_str(b, "service", s[i].service);
    msb_b_num(b, "reference_lufs", s[i].reference_lufs);
    msb_b_bool(b, "turns_up", s[i].turns_up);
    msb_b_num(b, "gain_db", s[i].gain_db);
    msb_b_close(b, NULL);
  }
}
static void msb_put_master(msb_b *b, const mixstage_master_report *r) {
  msb_b_num(b, "target_lufs", r->target_lufs);
  msb_b_num(b, "ceiling_dbtp", r->ceiling_dbtp);
  msb_b_num(b, "tolerance_lu", r->tolerance_lu);
  msb_b_num(b, "integrated_lufs", r->integrated_lufs);
  msb_b_num(b, "true_peak_dbtp", r->true_peak_dbtp);
  msb_b_num(b, "loudness_range_lu", r->loudness_range_lu);
  msb_b_num(b, "input_gain_db", r->input_gain_db);
  msb_b_num(b, "bus_fader_db", r->bus_fader_db);
  msb_b_num(b, "limiter_ceiling_db", r->limiter_ceiling_db);
  msb_b_int(b, "frames", (long long)r->frames);
  msb_b_bool(b, "converged", r->converged);
  msb_b_int(b, "iteration_count", r->iteration_count);
  msb_b_list(b);
  for (int i = 0; i < r->iteration_count && i < MIXSTAGE_MASTER_MAX_ITERATIONS; i++) {
    msb_b_dict(b);
    msb_b_num(b, "input_gain_db", r->steps[i].input_gain_db);
    msb_b_num(b, "bus_fader_db", r->steps[i].bus_fader_db);
    msb_b_num(b, "ceiling_db", r->steps[i].ceiling_db);
    msb_b_num(b, "integrated_lufs", r->steps[i].integrated_lufs);
    msb_b_num(b, "true_peak_dbtp", r->steps[i].true_peak_dbtp);
    msb_b_close(b, NULL);
  }
  msb_b_close(b, "steps");
  msb_put_streaming(b, r->streaming);
  msb_b_close(b, "streaming");
}
/* The master config from keyword arguments: a preset's target and ceiling,
 * then any field given (NAN / 0: keep).  Returns 0 or a status. */
static int msb_master_config(mixstage_master_config *c, const char *preset, double target_lufs,
                             double ceiling_dbtp, double tolerance_lu, int max_iterations,
                             bool use_bus_fader) {
  mixstage_master_config_init(c);
  if (preset && *preset) {
    int st = mixstage_master_config_preset(c, preset);
    if (st < 0) {
      char emsg[256];
      snprintf(emsg, sizeof emsg, "unknown mastering preset '%s' (one of", preset);
      for (int i = 0; mixstage_master_preset_name(i); i++)
        snprintf(emsg + strlen(emsg), sizeof emsg - strlen(emsg), " %s", mixstage_master_preset_name(i));
      snprintf(emsg + strlen(emsg), sizeof emsg - strlen(emsg), ")");
      msb_check_msg(st, emsg);
      return st;
    }
  }
  if (!isnan(target_lufs)) c->target_lufs = target_lufs;
  if (!isnan(ceiling_dbtp)) c->ceiling_dbtp = ceiling_dbtp;
  if (!isnan(tolerance_lu)) c->tolerance_lu = tolerance_lu;
  if (max_iterations > 0) c->max_iterations = max_iterations;
  c->use_bus_fader = use_bus_fader ? 1 : 0;
  return 0;
}
/* Meter settings: layout "auto", "dual-mono" or "explicit" (implied by a
 * roles list "left,right,centre,lfe,..." of mixstage_channel_role_name()). */
static int msb_meter_config(mixstage_meter_config *c, const char *layout, const char *roles,
                            bool true_peak, bool series, double clip_level, int left_channel,
                            int right_channel, double series_max_seconds) {
  char emsg[512];
  mixstage_meter_config_init(c);
  if (layout && strcmp(layout, "auto") == 0) c->layout = MIXSTAGE_METER_LAYOUT_AUTO;
  else if (layout && strcmp(layout, "dual-mono") == 0) c->layout = MIXSTAGE_METER_LAYOUT_DUAL_MONO;
  else if (layout && strcmp(layout, "explicit") == 0) c->layout = MIXSTAGE_METER_LAYOUT_EXPLICIT;
  else if (layout) {
    snprintf(emsg, sizeof emsg, "unknown meter layout '%s' (one of auto dual-mono explicit)", layout);
    return msb_check_msg(MIXSTAGE_ENOTFOUND, emsg);
  }
  if (roles && *roles) {
    char store[512];
    int n = 0;
    c->layout = MIXSTAGE_METER_LAYOUT_EXPLICIT;
    snprintf(store, sizeof store, "%s", roles);
    for (char *tok = strtok(store, ", "); tok; tok = strtok(NULL, ", ")) {
      int r = -1;
      for (int i = 0; mixstage_channel_role_name(i); i++)
        if (strcmp(mixstage_channel_role_name(i), tok) == 0) r = i;
      if (r < 0 || n >= MIXSTAGE_METER_MAX_CHANNELS) {
        snprintf(emsg, sizeof emsg, "unknown channel role '%s' (one of", tok);
        for (int i = 0; mixstage_channel_role_name(i); i++)
          snprintf(emsg + strlen(emsg), sizeof emsg - strlen(emsg), " %s", mixstage_channel_role_name(i));
        snprintf(emsg + strlen(emsg), sizeof emsg - strlen(emsg), "; at most %d)", MIXSTAGE_METER_MAX_CHANNELS);
        return msb_check_msg(MIXSTAGE_ENOTFOUND, emsg);
      }
      c->channel_roles[n++] = r;
    }
  }
  c->true_peak = true_peak ? 1 : 0;
  c->series = series ? 1 : 0;
  if (!isnan(clip_level)) c->clip_level = clip_level;
  if (left_channel >= 0) c->left_channel = left_channel;
  if (right_channel >= 0) c->right_channel = right_channel;
  if (!isnan(series_max_seconds)) c->series_max_seconds = series_max_seconds;
  return 0;
}
static void msb_put_meter(msb_b *b, const mixstage_meter_report *r) {
  int ch = r->channels > 0 && r->channels <= MIXSTAGE_METER_MAX_CHANNELS ? r->channels : 0;
  msb_b_int(b, "channels", r->channels);
  msb_b_num(b, "sample_rate", r->sample_rate);
  msb_b_int(b, "frames", (long long)r->frames);
  msb_b_num(b, "seconds", r->seconds);
  msb_b_num(b, "integrated_lufs", r->integrated_lufs);
  msb_b_num(b, "loudness_range_lu", r->loudness_range_lu);
  msb_b_num(b, "momentary_max_lufs", r->momentary_max_lufs);
  msb_b_num(b, "short_term_max_lufs", r->short_term_max_lufs);
  msb_b_num(b, "momentary_lufs", r->momentary_lufs);
  msb_b_num(b, "short_term_lufs", r->short_term_lufs);
  /* One key, one figure: the whole-buffer figures under the names
   * measure(), the manifest and the CLI use; per-channel arrays end in
   * _per_channel.  The older keys stay as deprecated aliases (the
   * per-channel true_peak_dbtp, rms_dbfs, crest_db and clipped_samples of
   * earlier versions are whole-buffer figures now). */
  msb_b_num(b, "peak_dbfs", r->sample_peak_max_dbfs);
  msb_b_num(b, "true_peak_dbtp", r->true_peak_max_dbtp);
  msb_b_num(b, "rms_dbfs", r->rms_total_dbfs);
  msb_b_num(b, "crest_db", r->crest_total_db);
  msb_b_int(b, "clipped_samples", (long long)r->clipped_total);
  msb_b_nums(b, "peak_dbfs_per_channel", r->sample_peak_dbfs, ch);
  msb_b_nums(b, "true_peak_dbtp_per_channel", r->true_peak_dbtp, ch);
  msb_b_nums(b, "rms_dbfs_per_channel", r->rms_dbfs, ch);
  msb_b_nums(b, "crest_db_per_channel", r->crest_db, ch);
  msb_b_nums(b, "dc_offset_per_channel", r->dc_offset, ch);
  msb_b_ints(b, "clipped_samples_per_channel", r->clipped_samples, ch);
  /* deprecated aliases */
  msb_b_nums(b, "sample_peak_dbfs", r->sample_peak_dbfs, ch);
  msb_b_num(b, "sample_peak_max_dbfs", r->sample_peak_max_dbfs);
  msb_b_num(b, "true_peak_max_dbtp", r->true_peak_max_dbtp);
  msb_b_num(b, "rms_total_dbfs", r->rms_total_dbfs);
  msb_b_num(b, "crest_total_db", r->crest_total_db);
  msb_b_nums(b, "dc_offset", r->dc_offset, ch);
  msb_b_int(b, "clipped_total", (long long)r->clipped_total);
  msb_b_num(b, "correlation", r->correlation);
  msb_b_num(b, "balance_db", r->balance_db);
  msb_b_num(b, "mid_rms_dbfs", r->mid_rms_dbfs);
  msb_b_num(b, "side_rms_dbfs", r->side_rms_dbfs);
  msb_b_num(b, "mid_side_ratio_db", r->mid_side_ratio_db);
  msb_b_nums(b, "momentary_series", r->momentary_series, r->momentary_series ? r->series_count : 0);
  msb_b_nums(b, "short_term_series", r->short_term_series, r->short_term_series ? r->series_count : 0);
  msb_b_bool(b, "series_truncated", r->series_truncated);
}
%}

/* ---- assess.h ------------------------------------------------------------ */
%feature("docstring", "Mean-square level per band in dBFS (Welch spectrum, channels pooled): 28 third-octave bands 31.5 Hz..16 kHz, or 10 octave bands; see third_octave_hz() / octave_hz() for the centres.") band_levels;
%feature("docstring", "The clip gain that brings a buffer to the gain-staging targets (RMS target, peak ceiling): a dict of rms/peak before and after, clip_gain_db and flags peak_limited, clips, too_quiet, clamped.") gain_stage;
%feature("docstring", "Mono compatibility of a stereo buffer: correlation, mono_loss_db, side_to_mid_db, balance_db.") mono_compat;
%feature("docstring", "Time offset and polarity of b against a (equal length, channels summed): offset_frames (> 0: b late), sign, correlation, zero_lag_correlation, correlated, polarity_flip, time_offset.") phase_pair;
%feature("docstring", "Every pair of equally long buffers ranked by masking (highest first): a, b (indices), score_db, band, band_hz, overlap_db per third-octave band.") masking_rank;
%feature("docstring", "Loudness-matched comparison of b (the mix) against a (the reference): match_gain_db, loudness, LRA, crest, width, correlation and octave-band differences b - a (band_diff_db as given, band_diff_matched_db after matching).") ab_compare;
%feature("docstring", "Writes A.<ext> and B.<ext> into the existing directory, the louder turned down to the quieter's loudness; returns {gain_a_db, gain_b_db, a_path, b_path}.") ab_write_pair;
%{
static msb_ret band_levels(lua_State *L, const msb_audio *audio, double rate, bool third_octave) {
  double lv[MIXSTAGE_THIRD_OCTAVE_BANDS];
  int st = mixstage_band_levels(audio->data, audio->frames, audio->channels, rate, third_octave ? 1 : 0, lv);
  if (st < 0) { msb_check(st, NULL); return MSB_RET_FAIL; }
  msb_b b;
  msb_b_init(&b, L);
  msb_b_nums(&b, NULL, lv, third_octave ? MIXSTAGE_THIRD_OCTAVE_BANDS : MIXSTAGE_OCTAVE_BANDS);
  return msb_b_done(&b);
}
static msb_ret gain_stage(lua_State *L, const msb_audio *audio, double target_rms_dbfs,
                   double max_peak_dbfs, double quiet_dbfs) {
  mixstage_gain_stage_config c;
  mixstage_gain_stage_result r;
  msb_gs_config(&c, target_rms_dbfs, max_peak_dbfs, quiet_dbfs);
  int st = mixstage_gain_stage_buffer(audio->data, audio->frames, audio->channels, &c, &r);
  if (st < 0) { msb_check(st, NULL); return MSB_RET_FAIL; }
  msb_b b;
  msb_b_init(&b, L);
  msb_b_dict(&b);
  msb_put_gain_stage(&b, &r);
  return msb_b_done(&b);
}
static msb_ret mono_compat(lua_State *L, const msb_audio *audio) {
  mixstage_mono_compat m;
  int st = mixstage_mono_compat_buffer(audio->data, audio->frames, audio->channels, &m);
  if (st < 0) { msb_check(st, NULL); return MSB_RET_FAIL; }
  msb_b b;
  msb_b_init(&b, L);
  msb_b_dict(&b);
  msb_put_mono(&b, &m);
  return msb_b_done(&b);
}
static msb_ret phase_pair(lua_State *L, const msb_audio *a, const msb_audio *b_, double rate,
                   double max_lag_ms, double phase_threshold) {
  if (a->frames != b_->frames || a->channels != b_->channels) {
    msb_check_msg(MIXSTAGE_EINVAL, "phase_pair: the two buffers differ in length or channels");
    return MSB_RET_FAIL;
  }
  mixstage_assess_config c;
  mixstage_phase_result r;
  msb_assess_config(&c, max_lag_ms, phase_threshold, NAN);
  int st = mixstage_phase_pair(a->data, b_->data, a->frames, a->channels, rate, &c, &r);
  if (st < 0) { msb_check(st, NULL); return MSB_RET_FAIL; }
  msb_b b;
  msb_b_init(&b, L);
  msb_b_dict(&b);
  msb_put_phase(&b, &r);
  return msb_b_done(&b);
}
static msb_ret masking_rank(lua_State *L, const msb_audio_list *strips, double rate,
                     double masking_floor_dbfs) {
  int n = strips->count;
  if (n < 2) { msb_check_msg(MIXSTAGE_EINVAL, "masking_rank: at least two buffers"); return MSB_RET_FAIL; }
  for (int i = 1; i < n; i++)
    if (strips->items[i].frames != strips->items[0].frames || strips->items[i].channels != strips->items[0].channels) {
      msb_check_msg(MIXSTAGE_EINVAL, "masking_rank: the buffers differ in length or channels");
      return MSB_RET_FAIL;
    }
  mixstage_assess_config c;
  msb_assess_config(&c, NAN, NAN, masking_floor_dbfs);
  int cap = n * (n - 1) / 2, np = 0;
  const float **ptrs = (const float **)calloc((size_t)n, sizeof *ptrs);
  mixstage_masking_pair *pairs = (mixstage_masking_pair *)calloc((size_t)cap, sizeof *pairs);
  int st = ptrs && pairs ? 0 : MIXSTAGE_ENOMEM;
  for (int i = 0; !st && i < n; i++) ptrs[i] = strips->items[i].data;
  if (!st) {
    MSB_UNLOCK;
    st = mixstage_masking_rank(ptrs, n, strips->items[0].frames, strips->items[0].channels, rate, &c,
                               pairs, cap, &np);
    MSB_LOCK;
  }
  msb_b b;
  msb_b_init(&b, L);
  if (st >= 0) {
    msb_b_list(&b);
    for (int i = 0; i < np; i++) {
      msb_b_dict(&b);
      msb_put_masking(&b, &pairs[i], NULL);
      msb_b_close(&b, NULL);
    }
  }
  free(ptrs);
  free(pairs);
  if (st < 0) { msb_check(st, NULL); return MSB_RET_FAIL; }
  return msb_b_done(&b);
}
static msb_ret ab_compare(lua_State *L, const msb_audio *a, const msb_audio *b_, double rate) {
  mixstage_ab_result r;
  int st;
  MSB_UNLOCK;
  st = mixstage_ab_compare(a->data, a->frames, a->channels, b_->data, b_->frames, b_->channels, rate, &r);
  MSB_LOCK;
  if (st < 0) {
    msb_check_msg(st, st == MIXSTAGE_ERANGE ? "ab_compare: a silent buffer has no loudness to match" : "ab_compare");
    return MSB_RET_FAIL;
  }
  msb_b b;
  msb_b_init(&b, L);
  msb_b_dict(&b);
#define MSB_ABN(F) msb_b_num(&b, #F, r.F);
  MSB_ABN(match_gain_db) MSB_ABN(a_lufs) MSB_ABN(b_lufs) MSB_ABN(loudness_diff_lu)
  MSB_ABN(a_lra_lu) MSB_ABN(b_lra_lu) MSB_ABN(lra_diff_lu)
  MSB_ABN(a_crest_db) MSB_ABN(b_crest_db) MSB_ABN(crest_diff_db)
  MSB_ABN(a_width_db) MSB_ABN(b_width_db) MSB_ABN(width_diff_db)
  MSB_ABN(a_correlation) MSB_ABN(b_correlation) MSB_ABN(correlation_diff)
#undef MSB_ABN
  msb_b_nums(&b, "band_hz", r.band_hz, MIXSTAGE_OCTAVE_BANDS);
  msb_b_nums(&b, "a_band_dbfs", r.a_band_dbfs, MIXSTAGE_OCTAVE_BANDS);
  msb_b_nums(&b, "b_band_dbfs", r.b_band_dbfs, MIXSTAGE_OCTAVE_BANDS);
  msb_b_nums(&b, "band_diff_db", r.band_diff_db, MIXSTAGE_OCTAVE_BANDS);
  msb_b_nums(&b, "band_diff_matched_db", r.band_diff_matched_db, MIXSTAGE_OCTAVE_BANDS);
  return msb_b_done(&b);
}
static msb_ret ab_write_pair(lua_State *L, const msb_audio *a, const msb_audio *b_, double rate,
                      const char *directory, int format, int sample_type,
                      bool dither, long long dither_seed, double output_rate) {
  mixstage_write_config wc;
  double ga = 0, gb = 0;
  char err[512] = "", pa[4200], pb[4200];
  int st;
  msb_write_config(&wc, format, sample_type, dither, dither_seed, output_rate);
  MSB_UNLOCK;
  st = mixstage_ab_write_pair(a->data, a->frames, a->channels, b_->data, b_->frames, b_->channels, rate,
                              directory, &wc, &ga, &gb, err, sizeof err);
  MSB_LOCK;
  if (st < 0) { msb_check_msg(st, *err ? err : "ab_write_pair"); return MSB_RET_FAIL; }
  snprintf(pa, sizeof pa, "%s/A.%s", directory, msb_ext_of(format));
  snprintf(pb, sizeof pb, "%s/B.%s", directory, msb_ext_of(format));
  msb_b b;
  msb_b_init(&b, L);
  msb_b_dict(&b);
  msb_b_num(&b, "gain_a_db", ga);
  msb_b_num(&b, "gain_b_db", gb);
  msb_b_str(&b, "a_path", pa);
  msb_b_str(&b, "b_path", pb);
  return msb_b_done(&b);
}
%}
msb_ret band_levels(lua_State *L, const msb_audio *audio, double rate, bool third_octave = true);
msb_ret gain_stage(lua_State *L, const msb_audio *audio, double target_rms_dbfs = NAN,
                   double max_peak_dbfs = NAN, double quiet_dbfs = NAN);
msb_ret mono_compat(lua_State *L, const msb_audio *audio);
msb_ret phase_pair(lua_State *L, const msb_audio *a, const msb_audio *b_, double rate,
                   double max_lag_ms = NAN, double phase_threshold = NAN);
msb_ret masking_rank(lua_State *L, const msb_audio_list *strips, double rate,
                     double masking_floor_dbfs = NAN);
msb_ret ab_compare(lua_State *L, const msb_audio *a, const msb_audio *b_, double rate);
msb_ret ab_write_pair(lua_State *L, const msb_audio *a, const msb_audio *b_, double rate,
                      const char *directory, int format = 0, int sample_type = 1,
                      bool dither = true, long long dither_seed = -1, double output_rate = 0.0);

/* ---- analysis.h: meters -------------------------------------------------- */
%feature("docstring", "Meters a whole buffer (BS.1770-4 / EBU R128 via libebur128, plus RMS, crest, DC, clipping, correlation, balance, mid/side): a dict with per-channel arrays and the 100 ms momentary / short-term series.  layout: \"auto\", \"dual-mono\" or \"explicit\" with channel_roles (\"left,right,centre,lfe,...\").") meter;
%{
static msb_ret meter(lua_State *L, const msb_audio *audio, double rate, const char *layout,
              const char *channel_roles, bool true_peak, bool series,
              double clip_level, int left_channel, int right_channel) {
  mixstage_meter_config c;
  mixstage_meter_report r;
  if (msb_meter_config(&c, layout, channel_roles, true_peak, series, clip_level, left_channel,
                       right_channel, NAN) < 0)
    return MSB_RET_FAIL;
  int st;
  MSB_UNLOCK;
  st = mixstage_meter_analyse(audio->data, audio->frames, audio->channels, rate, &c, &r);
  MSB_LOCK;
  if (st < 0) {
    char emsg[160];
    snprintf(emsg, sizeof emsg, "meter: %lld frames x %d channels at %g Hz", (long long)audio->frames,
             audio->channels, rate);
    msb_check_msg(st, emsg);
    mixstage_meter_report_clear(&r);
    return MSB_RET_FAIL;
  }
  msb_b b;
  msb_b_init(&b, L);
  msb_b_dict(&b);
  msb_put_meter(&b, &r);
  mixstage_meter_report_clear(&r);
  return msb_b_done(&b);
}
%}
msb_ret meter(lua_State *L, const msb_audio *audio, double rate, const char *layout = "auto",
              const char *channel_roles = NULL, bool true_peak = true, bool series = true,
              double clip_level = NAN, int left_channel = -1, int right_channel = -1);
%{
/* A streaming meter (msb_meter, section 1) and its channel count (push()
 * checks the shape: the C call trusts its caller). */
static int msb_meter_channels_get(msb_meter *m) { return m->channels; }
static bool msb_meter_attached_get(msb_meter *m) {
  pthread_mutex_lock(&msb_lock);
  bool a = m->graph != NULL;
  pthread_mutex_unlock(&msb_lock);
  return a;
}
/* Attaches @mb (NULL: detaches) to strip @strip or bus @bus at @tap; the
 * registry keeps the meter alive while attached (section 1). */
static int msb_attach_meter(mixstage_strip *strip, mixstage_bus *bus, msb_meter *mb, int tap) {
  mixstage_graph *g = strip ? mixstage_strip_graph(strip) : mixstage_bus_graph(bus);
  const void *unit = strip ? (const void *)strip : (const void *)bus;
  const char *uname = strip ? mixstage_strip_name(strip) : mixstage_bus_name(bus);
  if (!g) return msb_check(MIXSTAGE_ENULL, NULL);
  if (mb) {
    pthread_mutex_lock(&msb_lock);
    int elsewhere = mb->graph && (mb->graph != g || mb->unit != unit || mb->tap != tap);
    pthread_mutex_unlock(&msb_lock);
    if (elsewhere) {
      char emsg[256];
      snprintf(emsg, sizeof emsg,
               "'%s': the meter is already attached elsewhere (detach it there first)", uname);
      return msb_check_msg(MIXSTAGE_EINVAL, emsg);
    }
  }
  int st = strip ? mixstage_strip_attach_meter(strip, mb ? mb->m : NULL, tap)
                 : mixstage_bus_attach_meter(bus, mb ? mb->m : NULL, tap);
  if (st < 0) return msb_check(st, g);
  pthread_mutex_lock(&msb_lock);
  /* the C call replaced whatever was at this tap */
  msb_meter *orphans = msb_meters_detach_locked(g, unit, tap);
  if (mb) {
    mb->graph = g;
    mb->unit = unit;
    mb->tap = tap;
    mb->next = msb_meters;
    msb_meters = mb;
  }
  pthread_mutex_unlock(&msb_lock);
  msb_meters_free_list(orphans);
  return MIXSTAGE_OK;
}
%}
%rename(Meter) msb_meter;
%nodefaultctor msb_meter;
typedef struct msb_meter {} msb_meter;
%extend msb_meter {
  /** A streaming meter of @p channels channels at @p rate Hz taking blocks
   *  of up to @p max_block frames (push() never allocates). */
  msb_meter(int channels, double rate, int max_block = 4096, const char *layout = "auto",
            const char *channel_roles = NULL, bool true_peak = true, bool series = true,
            double clip_level = NAN, int left_channel = -1, int right_channel = -1,
            double series_max_seconds = NAN) {
    mixstage_meter_config c;
    if (msb_meter_config(&c, layout, channel_roles, true_peak, series, clip_level, left_channel,
                         right_channel, series_max_seconds) < 0)
      return NULL;
    int err = 0;
    msb_meter *mb = (msb_meter *)calloc(1, sizeof *mb);
    if (!mb) { msb_check(MIXSTAGE_ENOMEM, NULL); return NULL; }
    mb->m = mixstage_meter_create(channels, rate, max_block, &c, &err);
    mb->channels = channels;
    if (!mb->m) {
      free(mb);
      msb_check(err ? err : MIXSTAGE_ENOMEM, NULL);
      return NULL;
    }
    return mb;
  }
  ~msb_meter() { msb_meter_proxy_gone($self); }
  %immutable;
  int channels;
  /** True while the meter is attached to a strip or bus of a graph. */
  bool attached;
  %mutable;
  /** Adds a block of audio (frames x channels); real-time safe. */
  void m_push(const msb_audio *audio) {
    if (audio->channels != $self->channels) {
      char emsg[128];
      snprintf(emsg, sizeof emsg, "Meter.push: a %d-channel block for a %d-channel meter",
               audio->channels, $self->channels);
      msb_check_msg(MIXSTAGE_ECHANNELS, emsg);
      return;
    }
    if (audio->frames > INT32_MAX) { msb_check(MIXSTAGE_EBLOCKSIZE, NULL); return; }
    msb_check(mixstage_meter_push($self->m, audio->data, (int)audio->frames), NULL);
  }
  /** {momentary_lufs, short_term_lufs} now, for a live display. */
  msb_ret m_loudness_now(lua_State *L) {
    double mo = 0, st = 0;
    int rc = mixstage_meter_loudness_now($self->m, &mo, &st);
    if (rc < 0) { msb_check(rc, NULL); return MSB_RET_FAIL; }
    msb_b b;
    msb_b_init(&b, L);
    msb_b_dict(&b);
    msb_b_num(&b, "momentary_lufs", mo);
    msb_b_num(&b, "short_term_lufs", st);
    return msb_b_done(&b);
  }
  /** The measurements of everything pushed so far (as meter() gives). */
  msb_ret m_report(lua_State *L) {
    mixstage_meter_report r;
    memset(&r, 0, sizeof r);
    int rc = mixstage_meter_get_report($self->m, &r);
    if (rc < 0) { mixstage_meter_report_clear(&r); msb_check(rc, NULL); return MSB_RET_FAIL; }
    msb_b b;
    msb_b_init(&b, L);
    msb_b_dict(&b);
    msb_put_meter(&b, &r);
    mixstage_meter_report_clear(&r);
    return msb_b_done(&b);
  }
}
/* ---- analysis.h: meters inside the graph --------------------------------- */
%extend mixstage_strip {
  /** Attaches @p meter (a Meter of the strip's channels at the graph's rate)
   *  at @p tap: "pre" (after the inserts) or "post" (after fader, pan and
   *  mute, in the output bus's channels); the graph then pushes what it
   *  processes into it (render and process alike).  The strip keeps the
   *  Meter alive while attached; None detaches.  Edit-time. */
  void m_attach_meter(msb_meter *meter, int tap = MIXSTAGE_TAP_POST_FADER) {
    msb_attach_meter($self, NULL, meter, tap);
  }
  /** Detaches the meter at @p tap (nothing attached: no-op). */
  void m_detach_meter(int tap = MIXSTAGE_TAP_POST_FADER) { msb_attach_meter($self, NULL, NULL, tap); }
}
%extend mixstage_bus {
  /** As Strip.attach_meter(); for the mix bus "post" is the graph's output. */
  void m_attach_meter(msb_meter *meter, int tap = MIXSTAGE_TAP_POST_FADER) {
    msb_attach_meter(NULL, $self, meter, tap);
  }
  /** Detaches the meter at @p tap (nothing attached: no-op). */
  void m_detach_meter(int tap = MIXSTAGE_TAP_POST_FADER) { msb_attach_meter(NULL, $self, NULL, tap); }
}
%extend mixstage_node {
  /** Keeps the gain reduction of this dynamics node, one point per 32-frame
   *  control cell, for the last @p seconds (0 turns it off).  Raises
   *  UnsupportedError for a node that reports no gain reduction. */
  void m_enable_gr_history(double seconds) {
    msb_check(mixstage_node_enable_gr_history($self, seconds), msb_ctx);
  }
  void m_clear_gr_history() { msb_check(mixstage_node_clear_gr_history($self), msb_ctx); }
  /* Front ends: Node.gr_history() (Python tuple, Lua three values). */
  msb_ret m__gr_history(lua_State *L) {
    int64_t first = 0;
    int hop = 0;
    int64_t n = mixstage_node_gr_history($self, NULL, 0, NULL, NULL);
    if (n < 0) { msb_check((int)n, msb_ctx); return MSB_RET_FAIL; }
    msb_b b;
    msb_b_init(&b, L);
    msb_b_list(&b);
    float *d = msb_b_audio(&b, NULL, n, 1);
    if (d && n > 0) {
      /* Edit-time read: nothing processes meanwhile, so n points are there. */
      int64_t got = mixstage_node_gr_history($self, d, n, &first, &hop);
      if (got < 0) { msb_check((int)got, msb_ctx); return msb_b_abort(&b); }
    } else {
      mixstage_node_gr_history($self, NULL, 0, &first, &hop);
    }
    msb_b_int(&b, NULL, (long long)first);
    msb_b_int(&b, NULL, hop > 0 ? hop : MIXSTAGE_CONTROL_FRAMES);
    return msb_b_done(&b);
  }
}

/* ---- master.h -------------------------------------------------------------- */
%feature("docstring", "What each streaming service's loudness normalisation would do to a master of this loudness and true peak: a list of {service, reference_lufs, turns_up, gain_db}.") streaming_report;
%{
static msb_ret streaming_report(lua_State *L, double integrated_lufs, double true_peak_dbtp) {
  mixstage_streaming_gain s[MIXSTAGE_STREAMING_SERVICES];
  int st = mixstage_master_streaming_report(integrated_lufs, true_peak_dbtp, s);
  if (st < 0) { msb_check(st, NULL); return MSB_RET_FAIL; }
  msb_b b;
  msb_b_init(&b, L);
  msb_put_streaming(&b, s);
  return msb_b_done(&b);
}
static msb_ret _album_master(lua_State *L, const msb_graph_list *graphs, const char *preset, double target_lufs,
                      double ceiling_dbtp, double tolerance_lu, int max_iterations,
                      bool use_bus_fader, long long frames, long long tail, int threads) {
  mixstage_master_config mc;
  mixstage_render_config rc;
  mixstage_album_report album;
  int n = graphs->count;
  if (msb_master_config(&mc, preset, target_lufs, ceiling_dbtp, tolerance_lu, max_iterations,
                        use_bus_fader) < 0)
    return MSB_RET_FAIL;
  msb_render_config2(&rc, frames, tail, threads);
  mixstage_master_report *reps = (mixstage_master_report *)calloc(n > 0 ? (size_t)n : 1, sizeof *reps);
  if (!reps) { msb_check(MIXSTAGE_ENOMEM, NULL); return MSB_RET_FAIL; }
  int st;
  MSB_UNLOCK;
  st = mixstage_album_master(graphs->items, n, &mc, &rc, &album, reps);
  MSB_LOCK;
  if (st < 0) {
    /* the message is on the graph at fault */
    mixstage_graph *g = NULL;
    for (int i = 0; i < n; i++)
      if (*mixstage_graph_last_error(graphs->items[i])) { g = graphs->items[i]; break; }
    free(reps);
    msb_check(st, g);
    return MSB_RET_FAIL;
  }
  msb_b b;
  msb_b_init(&b, L);
  msb_b_dict(&b);
  msb_b_num(&b, "album_gain_db", album.album_gain_db);
  msb_b_num(&b, "combined_before_lufs", album.combined_before_lufs);
  msb_b_num(&b, "combined_lufs", album.combined_lufs);
  msb_b_list(&b);
  for (int i = 0; i < n; i++) {
    msb_b_dict(&b);
    msb_put_master(&b, &reps[i]);
    msb_b_close(&b, NULL);
  }
  msb_b_close(&b, "songs");
  free(reps);
  return msb_b_done(&b);
}
%}
msb_ret streaming_report(lua_State *L, double integrated_lufs, double true_peak_dbtp);
msb_ret _album_master(lua_State *L, const msb_graph_list *graphs, const char *preset, double target_lufs,
                      double ceiling_dbtp, double tolerance_lu, int max_iterations,
                      bool use_bus_fader, long long frames, long long tail, int threads);

/* ---- translate.h --------------------------------------------------------- */
%feature("docstring", "The buffer as it sounds on a playback system (\"laptop\", \"phone\", \"earbuds\", \"car\", \"club\" or its index): a new array of the same shape.") translate;
%feature("docstring", "The designed response of a playback system (name or index) at freq Hz, in dB (centre image, compressor idle).") response_db;
%feature("docstring", "Writes one preview per playback system, DIRECTORY/PREFIX-NAME.EXT; returns the paths written.") translate_write;
%{
static msb_ret translate(lua_State *L, const msb_audio *audio, double rate, const char *system) {
  int k = msb_system_arg(system);
  if (k < 0) return MSB_RET_FAIL;
  msb_b b;
  msb_b_init(&b, L);
  float *out = msb_b_audio(&b, NULL, audio->frames, audio->channels);
  if (!out) return msb_b_done(&b);
  int st;
  MSB_UNLOCK;
  st = mixstage_translate(audio->data, audio->frames, audio->channels, rate, k, out);
  MSB_LOCK;
  if (st < 0) {
    char emsg[160];
    snprintf(emsg, sizeof emsg, "translate: %lld frames x %d channels at %g Hz", (long long)audio->frames,
             audio->channels, rate);
    msb_check_msg(st, emsg);
    return msb_b_abort(&b);
  }
  return msb_b_done(&b);
}
static double response_db(const char *system, double freq, double rate) {
  int k = msb_system_arg(system);
  if (k < 0) return NAN;
  double v = mixstage_translate_response_db(k, freq, rate);
  if (isnan(v)) {
    char emsg[160];
    snprintf(emsg, sizeof emsg, "response_db: %g Hz at %g Hz (0 .. rate/2, rate 8000 .. 768000)", freq, rate);
    msb_check_msg(MIXSTAGE_EINVAL, emsg);
  }
  return v;
}
static msb_ret translate_write(lua_State *L, const msb_audio *audio, double rate, const char *directory,
                        const char *prefix, int format, int sample_type,
                        bool dither, long long dither_seed, double output_rate) {
  mixstage_write_config wc;
  char err[512] = "", path[4300];
  int st;
  msb_write_config(&wc, format, sample_type, dither, dither_seed, output_rate);
  MSB_UNLOCK;
  st = mixstage_translate_write(audio->data, audio->frames, audio->channels, rate, directory, prefix,
                                &wc, err, sizeof err);
  MSB_LOCK;
  if (st < 0) { msb_check_msg(st, *err ? err : "translate_write"); return MSB_RET_FAIL; }
  msb_b b;
  msb_b_init(&b, L);
  msb_b_list(&b);
  for (int i = 0; mixstage_playback_system_name(i); i++) {
    snprintf(path, sizeof path, "%s/%s-%s.%s", directory, prefix && *prefix ? prefix : "preview",
             mixstage_playback_system_name(i), msb_ext_of(format));
    msb_b_str(&b, NULL, path);
  }
  return msb_b_done(&b);
}
%}
msb_ret translate(lua_State *L, const msb_audio *audio, double rate, const char *system);
double response_db(const char *system, double freq, double rate);
msb_ret translate_write(lua_State *L, const msb_audio *audio, double rate, const char *directory,
                        const char *prefix = NULL, int format = 0, int sample_type = 1,
                        bool dither = true, long long dither_seed = -1, double output_rate = 0.0);

/* ---- demo.h ---------------------------------------------------------------- */

%{
static void _demo_song_write(const char *directory, double sample_rate) {
  char err[1024] = "";
  int st = mixstage_demo_song_write(directory, sample_rate, err, sizeof err);
  if (st < 0) msb_check_msg(st, *err ? err : directory);
}
%}
/* Front ends: demo_song_write() (Python: os.PathLike accepted; Lua). */
MSB_NO_CONTEXT(_demo_song_write)
void _demo_song_write(const char *directory, double sample_rate);

/* ---- graphfile.h ------------------------------------------------------------- */
%{
static mixstage_graph *msb_graph_loaded(mixstage_graph *g, int err, const char *msg) {
  if (!g) msb_check_msg(err ? err : MIXSTAGE_ENOMEM, msg);
  return g;
}
static void msb_override(mixstage_graph_config *c, double sample_rate, int max_block) {
  mixstage_graph_config_init(c);
  if (sample_rate > 0) c->sample_rate = sample_rate;
  if (max_block > 0) c->max_block_frames = max_block;
}
%}
%feature("docstring", "Loads a graph file (JSON, docs/graph-format.md); sources are read relative to it.  sample_rate / max_block (> 0) override the file's (sources are converted).  FormatError names the place in the file.") load_graph;
%feature("docstring", "As load_graph() from JSON text; relative source paths resolve against base_dir.") load_graph_string;
%{
static mixstage_graph *load_graph(const char *path, double sample_rate, int max_block) {
  mixstage_graph_config c;
  char msg[1024] = "";
  int err = 0;
  msb_override(&c, sample_rate, max_block);
  mixstage_graph *g = mixstage_graph_load(path, sample_rate > 0 || max_block > 0 ? &c : NULL, msg,
                                          sizeof msg, &err);
  return msb_graph_loaded(g, err, msg);
}
static mixstage_graph *load_graph_string(const char *json, const char *base_dir,
                                  double sample_rate, int max_block) {
  mixstage_graph_config c;
  char msg[1024] = "";
  int err = 0;
  msb_override(&c, sample_rate, max_block);
  mixstage_graph *g = mixstage_graph_load_string(json, base_dir, sample_rate > 0 || max_block > 0 ? &c : NULL,
                                                 msg, sizeof msg, &err);
  return msb_graph_loaded(g, err, msg);
}
%}
mixstage_graph *load_graph(const char *path, double sample_rate = 0, int max_block = 0);
mixstage_graph *load_graph_string(const char *json, const char *base_dir = NULL,
                                  double sample_rate = 0, int max_block = 0);
/* A graph file kept as a document (mixstage_graphfile): it owns its graph
 * and remembers what the engine cannot report (source paths, sidechain
 * keys, automation points, the file's custom profiles), so saving writes
 * the same canonical bytes.  Lifetime: the document is the graph's owner in
 * the registry (section 1): the GraphFile proxy and every proxy of its
 * graph or the graph's children hold one reference, and the last one
 * destroys the document with its graph. */
%{
static void msb_doc_destroy(void *doc) { mixstage_graphfile_destroy((mixstage_graphfile *)doc); }
/* Registers a new document's graph with the document as its owner. */
static int msb_doc_retain(mixstage_graphfile *doc) {
  mixstage_graph *g = mixstage_graphfile_graph(doc);
  if (msb_retain(doc, g) < 0) return -1;
  pthread_mutex_lock(&msb_lock);
  for (msb_gref *r = msb_grefs; r; r = r->next)
    if (r->g == g) r->doc = doc;
  pthread_mutex_unlock(&msb_lock);
  return 0;
}
/* mixstage_graphfile_wrap() for a graph the binding holds: the document
 * becomes the graph's owner in the registry, so the Graph proxy and every
 * strip, bus, send, node and lane proxy stay valid, and the last proxy of
 * either destroys the document with its graph.  A graph already owned by a
 * document is refused (it has one owner). */
static mixstage_graphfile *graphfile_wrap(mixstage_graph *graph) {
  msb_gref *gr = NULL;
  if (!graph) { msb_check(MIXSTAGE_ENULL, NULL); return NULL; }
  pthread_mutex_lock(&msb_lock);
  for (msb_gref *r = msb_grefs; r; r = r->next)
    if (r->g == graph) { gr = r; break; }
  int owned = gr && gr->doc;
  pthread_mutex_unlock(&msb_lock);
  if (!gr) { msb_check_msg(MIXSTAGE_EINVAL, "graphfile_wrap: a graph the binding does not hold"); return NULL; }
  if (owned) {
    msb_check_msg(MIXSTAGE_ESTATE, "graphfile_wrap: the graph already belongs to a GraphFile (use its .graph)");
    return NULL;
  }
  /* Reserve the registry entry first: after the wrap nothing may fail. */
  if (msb_retain(graph, graph) < 0) { msb_check(MIXSTAGE_ENOMEM, NULL); return NULL; }
  int err = 0;
  mixstage_graphfile *d = mixstage_graphfile_wrap(graph, &err);
  if (!d) {
    /* ENOMEM: the graph stays with its proxies, untouched; give back the
     * reservation. */
    msb_release(graph);
    msb_check(err ? err : MIXSTAGE_ENOMEM, NULL);
    return NULL;
  }
  if (msb_retain(d, graph) < 0) {
    /* the document is the owner from now on either way */
    pthread_mutex_lock(&msb_lock);
    gr->doc = d;
    pthread_mutex_unlock(&msb_lock);
    msb_release(graph);
    msb_check(MIXSTAGE_ENOMEM, NULL);
    return NULL;
  }
  pthread_mutex_lock(&msb_lock);
  gr->doc = d;
  pthread_mutex_unlock(&msb_lock);
  msb_release(graph); /* the reservation: the document's proxy holds the graph now */
  return d;
}
static mixstage_graph *mixstage_graphfile_graph_get(mixstage_graphfile *d) { return mixstage_graphfile_graph(d); }
static int mixstage_graphfile_profile_count_get(mixstage_graphfile *d) { return mixstage_graphfile_profile_count(d); }
%}
%rename(GraphFile) mixstage_graphfile;
%nodefaultctor mixstage_graphfile;
%typemap(check) mixstage_graphfile *, const mixstage_graphfile * {
  if ($1) msb_ctx = mixstage_graphfile_graph((mixstage_graphfile *)$1);
}
%extend mixstage_graphfile {
  /** Loads a graph file from @p path, or from JSON text @p json (relative
   *  sources resolved against @p base_dir); @p sample_rate / @p max_block
   *  (> 0) override the file's. */
  mixstage_graphfile(const char *path = NULL, const char *json = NULL, const char *base_dir = NULL,
                     double sample_rate = 0, int max_block = 0) {
    mixstage_graph_config c;
    char msg[1024] = "";
    int err = 0;
    mixstage_graphfile *d;
    msb_override(&c, sample_rate, max_block);
    const mixstage_graph_config *ov = sample_rate > 0 || max_block > 0 ? &c : NULL;
    if ((path == NULL) == (json == NULL)) {
      msb_check_msg(MIXSTAGE_EINVAL, "GraphFile: give a path or json text (one of them)");
      return NULL;
    }
    d = path ? mixstage_graphfile_load(path, ov, msg, sizeof msg, &err)
             : mixstage_graphfile_load_string(json, base_dir, ov, msg, sizeof msg, &err);
    if (!d) {
      msb_check_msg(err ? err : MIXSTAGE_ENOMEM, msg);
      return NULL;
    }
    if (msb_doc_retain(d) < 0) {
      mixstage_graphfile_destroy(d);
      msb_check(MIXSTAGE_ENOMEM, NULL);
      return NULL;
    }
    return d;
  }
  ~mixstage_graphfile() { msb_release($self); }
  %immutable;
  /** The document's graph (kept alive by the document, and keeping it alive). */
  mixstage_graph *graph;
  int profile_count;
  %mutable;
  /** The names of the file's custom profiles. */
  msb_ret m_profile_names(lua_State *L) {
    msb_b b;
    msb_b_init(&b, L);
    msb_b_list(&b);
    for (int i = 0; i < mixstage_graphfile_profile_count($self); i++)
      msb_b_str(&b, NULL, mixstage_profile_name(mixstage_graphfile_profile($self, i)));
    return msb_b_done(&b);
  }
  /** A copy (a new Profile of the same name and settings) of the file's
   *  custom profile @p name: edits to it do not change the document. */
  mixstage_profile *m_profile(const char *name) {
    mixstage_profile *p = mixstage_graphfile_find_profile($self, name);
    if (!p) {
      char emsg[256];
      snprintf(emsg, sizeof emsg, "the graph file has no profile named '%s'", name ? name : "(null)");
      msb_check_msg(MIXSTAGE_ENOTFOUND, emsg);
      return NULL;
    }
    int err = 0;
    mixstage_profile *c = mixstage_profile_create(mixstage_profile_name(p), p, &err);
    if (!c) msb_check(err ? err : MIXSTAGE_ENOMEM, NULL);
    return c;
  }
  /** Adds a copy of @p profile, saved with "base": @p base_name. */
  void m_add_profile(const mixstage_profile *profile, const char *base_name = NULL) {
    msb_check(mixstage_graphfile_add_profile($self, profile, base_name), mixstage_graphfile_graph($self));
  }
  /** Records strip @p strip's source file as @p path (as written: relative
   *  paths are relative to the graph file); the audio is not loaded. */
  void m_set_source_path(const char *strip, const char *path) {
    int st = mixstage_graphfile_set_source_path($self, strip, path);
    if (st == MIXSTAGE_ENOTFOUND) {
      char emsg[256];
      snprintf(emsg, sizeof emsg, "the graph has no strip named '%s'", strip ? strip : "(null)");
      msb_check_msg(st, emsg);
    } else {
      msb_check(st, mixstage_graphfile_graph($self));
    }
  }
  /** The document as canonical JSON. */
  msb_ret m_to_json(lua_State *L) {
    char *t = mixstage_graphfile_to_string($self);
    if (!t) { msb_check(MIXSTAGE_ENOMEM, NULL); return MSB_RET_FAIL; }
    msb_b b;
    msb_b_init(&b, L);
    msb_b_str(&b, NULL, t);
    mixstage_free(t);
    return msb_b_done(&b);
  }
  /** Writes the canonical JSON atomically. */
  void m_save(const char *path) {
    char err[512] = "";
    int st = mixstage_graphfile_save($self, path, err, sizeof err);
    if (st < 0) msb_check_msg(st, *err ? err : path);
  }
}

%newobject graphfile_wrap;
%feature("docstring", "Wraps a graph built in code in a GraphFile document, so source paths and profiles can be attached and saved.  The document takes ownership of the graph; the Graph object and its strips stay valid (they keep the document alive, and it them).  StateError if the graph already belongs to a GraphFile.") graphfile_wrap;
mixstage_graphfile *graphfile_wrap(mixstage_graph *graph);

%extend mixstage_graph {
  /** The graph as canonical JSON (sources written as null: the engine
   *  keeps no source paths). */
  msb_ret m_to_json(lua_State *L) {
    char *t = mixstage_graph_to_string($self);
    if (!t) { msb_check(MIXSTAGE_ENOMEM, $self); return MSB_RET_FAIL; }
    msb_b b;
    msb_b_init(&b, L);
    msb_b_str(&b, NULL, t);
    mixstage_free(t);
    return msb_b_done(&b);
  }
  /** Saves the graph's canonical JSON atomically. */
  void m_save(const char *path) {
    char err[512] = "";
    int st = mixstage_graph_save($self, path, err, sizeof err);
    if (st < 0) msb_check_msg(st, *err ? err : path);
  }
  /** Gain staging of every strip with a source (see gain_stage()); with
   *  apply the clip gains are set.  {strips: [...], clipping, too_quiet}. */
  msb_ret m_gain_stage(lua_State *L, double target_rms_dbfs = NAN, double max_peak_dbfs = NAN,
                       double quiet_dbfs = NAN, bool apply = false) {
    mixstage_gain_stage_config c;
    mixstage_gain_stage_report *rep = NULL;
    int st;
    msb_gs_config(&c, target_rms_dbfs, max_peak_dbfs, quiet_dbfs);
    MSB_UNLOCK;
    st = mixstage_graph_gain_stage($self, &c, apply ? 1 : 0, &rep);
    MSB_LOCK;
    if (st < 0) { mixstage_gain_stage_report_free(rep); msb_check(st, $self); return MSB_RET_FAIL; }
    msb_b b;
    msb_b_init(&b, L);
    msb_b_dict(&b);
    msb_b_list(&b);
    for (int i = 0; i < rep->count; i++) {
      msb_b_dict(&b);
      msb_b_int(&b, "index", rep->strips[i].index + MSB_BASE);
      msb_b_str(&b, "name", rep->strips[i].name);
      msb_b_int(&b, "measured_channels", rep->strips[i].measured_channels);
      msb_put_gain_stage(&b, &rep->strips[i].result);
      msb_b_close(&b, NULL);
    }
    msb_b_close(&b, "strips");
    msb_b_int(&b, "clipping", rep->clipping);
    msb_b_int(&b, "too_quiet", rep->too_quiet);
    mixstage_gain_stage_report_free(rep);
    return msb_b_done(&b);
  }
  /** Assesses the mix: mono compatibility, strongly correlated strip pairs
   *  (phase), and every strip pair ranked by masking. */
  msb_ret m_assess(lua_State *L, double max_lag_ms = NAN, double phase_threshold = NAN,
                   double masking_floor_dbfs = NAN) {
    mixstage_assess_config c;
    mixstage_mix_assessment *a = NULL;
    int st;
    msb_assess_config(&c, max_lag_ms, phase_threshold, masking_floor_dbfs);
    MSB_UNLOCK;
    st = mixstage_graph_assess($self, &c, &a);
    MSB_LOCK;
    if (st < 0) { mixstage_mix_assessment_free(a); msb_check(st, $self); return MSB_RET_FAIL; }
    msb_b b;
    msb_b_init(&b, L);
    msb_b_dict(&b);
    msb_b_dict(&b);
    msb_put_mono(&b, &a->mono);
    msb_b_close(&b, "mono");
    msb_b_list(&b);
    for (int i = 0; i < a->strip_count; i++) msb_b_str(&b, NULL, a->strip_names[i]);
    msb_b_close(&b, "strips");
    msb_b_list(&b);
    for (int i = 0; i < a->phase_count; i++) {
      msb_b_dict(&b);
      msb_b_int(&b, "a", a->phase[i].a + MSB_BASE);
      msb_b_int(&b, "b", a->phase[i].b + MSB_BASE);
      msb_b_str(&b, "a_name", a->strip_names[a->phase[i].a]);
      msb_b_str(&b, "b_name", a->strip_names[a->phase[i].b]);
      msb_put_phase(&b, &a->phase[i].result);
      msb_b_close(&b, NULL);
    }
    msb_b_close(&b, "phase");
    msb_b_list(&b);
    for (int i = 0; i < a->masking_count; i++) {
      msb_b_dict(&b);
      msb_put_masking(&b, &a->masking[i], a->strip_names);
      msb_b_close(&b, NULL);
    }
    msb_b_close(&b, "masking");
    mixstage_mix_assessment_free(a);
    return msb_b_done(&b);
  }
  /* Front ends: Graph.master() (Python) / Graph:master{...} (Lua). */
  msb_ret m__master(lua_State *L, const char *preset, double target_lufs, double ceiling_dbtp,
                    double tolerance_lu, int max_iterations, bool use_bus_fader, long long frames,
                    long long tail, int threads, bool want_audio) {
    mixstage_master_config mc;
    mixstage_render_config rc;
    mixstage_master_report rep;
    float *audio = NULL;
    int st;
    if (msb_master_config(&mc, preset, target_lufs, ceiling_dbtp, tolerance_lu, max_iterations,
                          use_bus_fader) < 0)
      return MSB_RET_FAIL;
    msb_render_config2(&rc, frames, tail, threads);
    memset(&rep, 0, sizeof rep);
    MSB_UNLOCK;
    st = mixstage_graph_master($self, &mc, &rc, &rep, want_audio ? &audio : NULL);
    MSB_LOCK;
    /* ESTATE: not converged; the report (and audio) hold the best attempt,
     * which goes with the exception as its report. */
    if (st < 0 && st != MIXSTAGE_ESTATE) { mixstage_free(audio); msb_check(st, $self); return MSB_RET_FAIL; }
    msb_b b;
    msb_b_init(&b, L);
    msb_b_dict(&b);
    msb_put_master(&b, &rep);
    if (audio) {
      int ch = mixstage_bus_channels(mixstage_graph_mix_bus($self));
      float *d = msb_b_audio(&b, "audio", rep.frames, ch);
      if (d) memcpy(d, audio, (size_t)rep.frames * (size_t)ch * sizeof(float));
      mixstage_free(audio);
    }
    if (st == MIXSTAGE_ESTATE) {
      msb_b_stash(&b);
      msb_check(st, $self);
      return MSB_RET_FAIL;
    }
    return msb_b_done(&b);
  }
}

#if defined(SWIGPYTHON)
%extend mixstage_graph {
  %pythoncode %{
    def master(self, preset=None, target_lufs=None, ceiling_dbtp=None, tolerance_lu=None,
               max_iterations=None, use_bus_fader=True, audio=False, frames=0, tail=None,
               threads=1):
        """Masters the graph to a loudness target through the mastering
        limiter on its mix bus (role "mastering"): preset "streaming" (-14
        LUFS, -1 dBTP; the default), "apple-music", "ebu-r128" or "club",
        and/or target_lufs, ceiling_dbtp, tolerance_lu.  The graph is left
        mastered.  Returns the report as a dict (integrated_lufs,
        true_peak_dbtp, input_gain_db, converged, steps, streaming...); with
        audio=True, report["audio"] is the master as a float32 array.
        Raises InvalidArgumentError without a mastering limiter, RangeError
        for an unreachable target, StateError if it did not converge within
        max_iterations: the graph is then left at the best attempt, and the
        exception's .report is that attempt's report (converged False, with
        "audio" if asked), so nothing is lost."""
        nan = float("nan")
        return self._master(preset, nan if target_lufs is None else float(target_lufs),
                            nan if ceiling_dbtp is None else float(ceiling_dbtp),
                            nan if tolerance_lu is None else float(tolerance_lu),
                            0 if max_iterations is None else int(max_iterations),
                            bool(use_bus_fader), _frames_arg(self, "master", "frames", frames, None, 0),
                            -1 if tail is None else _frames_arg(self, "master", "tail", tail, None, -1),
                            int(threads), bool(audio))

    def save(self, path):
        """Saves the graph as canonical JSON, atomically (sources as null)."""
        _mixstage.Graph_save(self, _os.fspath(path))

    @staticmethod
    def load(path, sample_rate=0, max_block=0):
        """Loads a graph file (see load_graph())."""
        return load_graph(_os.fspath(path), sample_rate, max_block)

    @staticmethod
    def from_json(text, base_dir=None, sample_rate=0, max_block=0):
        """A graph from JSON text (see load_graph_string())."""
        return load_graph_string(text, base_dir, sample_rate, max_block)
  %}
}
%extend mixstage_graphfile {
  %pythoncode %{
    @staticmethod
    def wrap(graph):
        """A GraphFile document around a Graph built in code (see
        graphfile_wrap()): the document owns the graph from then on, and the
        Graph object, its strips and the document keep each other alive."""
        return graphfile_wrap(graph)

    def save(self, path):
        """Writes the canonical JSON atomically."""
        _mixstage.GraphFile_save(self, _os.fspath(path))

    def __repr__(self):
        return "<mixstage.GraphFile %d strips, profiles %s>" % (
            self.graph.strip_count(), self.profile_names())
  %}
}
%extend msb_meter {
  %pythoncode %{
    def __repr__(self):
        return "<mixstage.Meter %d ch>" % self.channels
  %}
}
%pythoncode %{
def album_master(graphs, preset=None, target_lufs=None, ceiling_dbtp=None, tolerance_lu=None,
                 max_iterations=None, use_bus_fader=True, frames=0, tail=None, threads=1):
    """Masters several graphs as one album: one loudness shift for all, so
    their relative loudness is kept, each true-peak safe.  Returns
    {album_gain_db, combined_before_lufs, combined_lufs, songs: [report]}."""
    nan = float("nan")
    return _album_master(list(graphs), preset, nan if target_lufs is None else float(target_lufs),
                         nan if ceiling_dbtp is None else float(ceiling_dbtp),
                         nan if tolerance_lu is None else float(tolerance_lu),
                         0 if max_iterations is None else int(max_iterations),
                         bool(use_bus_fader), _frames_arg(None, "album_master", "frames", frames, None, 0),
                         -1 if tail is None else _frames_arg(None, "album_master", "tail", tail, None, -1),
                         int(threads))


def master_presets():
    """The mastering presets' names: streaming, apple-music, ebu-r128, club."""
    out, i = [], 0
    while master_preset_name(i) is not None:
        out.append(master_preset_name(i))
        i += 1
    return out


def playback_systems():
    """[(name, description)] of the translation previews' playback systems."""
    return [(playback_system_name(i), playback_system_description(i))
            for i in range(playback_system_count())]


def third_octave_bands():
    """Nominal centres (Hz) of the 28 third-octave bands of band_levels()."""
    return [third_octave_hz(i) for i in range(THIRD_OCTAVE_BANDS)]


def octave_bands():
    """Nominal centres (Hz) of the 10 octave bands."""
    return [octave_hz(i) for i in range(OCTAVE_BANDS)]


_translate_c, _response_db_c, _meter_c = translate, response_db, meter


def translate(audio, rate, system):
    """The audio as it sounds on a playback system ("laptop", "phone",
    "earbuds", "car", "club", or its index): a new float32 array of the same
    shape (a 1-D input gives (frames, 1))."""
    return _translate_c(audio, float(rate), str(system))


def response_db(system, freq, rate=48000.0):
    """The designed response of a playback system at freq Hz, in dB."""
    return _response_db_c(str(system), float(freq), float(rate))


def meter(audio, rate, layout="auto", channel_roles=None, true_peak=True, series=True,
          clip_level=None, left_channel=None, right_channel=None):
    """Meters a buffer: loudness (BS.1770-4 / EBU R128), LRA, sample and
    true peak, RMS, crest, DC offset, clipped samples per channel (numpy
    arrays), correlation, balance, mid/side, and the 100 ms momentary and
    short-term series.  channel_roles: a list (or "a,b,...") of
    channel_role_name() names, implying layout "explicit"."""
    if channel_roles is not None and not isinstance(channel_roles, str):
        channel_roles = ",".join(channel_roles)
    return _meter_c(audio, float(rate), layout, channel_roles, bool(true_peak), bool(series),
                    float("nan") if clip_level is None else float(clip_level),
                    -1 if left_channel is None else int(left_channel),
                    -1 if right_channel is None else int(right_channel))
%}
#elif defined(SWIGLUA)
%luacode {
  local M = mixstage
  local classes = debug.getregistry()["SW" .. "IG"]
  local function method(class, name, fn) classes[class][".fn"][name] = fn end
  local raw_master = classes["Graph"][".fn"]["_master"]
  local nan = 0 / 0
  -- g:master{preset=, target_lufs=, ceiling_dbtp=, tolerance_lu=, max_iterations=,
  --          use_bus_fader=, audio=true, frames=, tail=, threads=}
  method("Graph", "master", function(self, o)
    o = o or {}
    return raw_master(self, o.preset, o.target_lufs or nan, o.ceiling_dbtp or nan,
                      o.tolerance_lu or nan, o.max_iterations or 0, o.use_bus_fader ~= false,
                      o.frames or 0, o.tail or -1, o.threads or 1, o.audio == true)
  end)
  local raw_album = M._album_master
  function M.album_master(graphs, o)
    o = o or {}
    return raw_album(graphs, o.preset, o.target_lufs or nan, o.ceiling_dbtp or nan,
                     o.tolerance_lu or nan, o.max_iterations or 0, o.use_bus_fader ~= false,
                     o.frames or 0, o.tail or -1, o.threads or 1)
  end
  function M.master_presets()
    local t, i = {}, 0
    while M.master_preset_name(i) do t[#t + 1] = M.master_preset_name(i); i = i + 1 end
    return t
  end
  function M.playback_systems()
    local t = {}
    for i = 0, M.playback_system_count() - 1 do
      t[#t + 1] = { name = M.playback_system_name(i), description = M.playback_system_description(i) }
    end
    return t
  end
  -- Options tables for the meters: m.meter(buf, rate, {layout=, channel_roles={...}, true_peak=, ...})
  local raw_meter, raw_Meter = M.meter, M.Meter
  local function roles(o) return o.channel_roles and table.concat(o.channel_roles, ",") or nil end
  function M.meter(buf, rate, o)
    o = o or {}
    return raw_meter(buf, rate, o.layout or "auto", roles(o), o.true_peak ~= false, o.series ~= false,
                     o.clip_level or nan, o.left_channel or -1, o.right_channel or -1)
  end
  M.Meter = function(channels, rate, o)
    o = o or {}
    return raw_Meter(channels, rate, o.max_block or 4096, o.layout or "auto", roles(o),
                     o.true_peak ~= false, o.series ~= false, o.clip_level or nan,
                     o.left_channel or -1, o.right_channel or -1, o.series_max_seconds or nan)
  end
  local raw_gs, raw_ggs = M.gain_stage, classes["Graph"][".fn"]["gain_stage"]
  function M.gain_stage(buf, o)
    o = o or {}
    return raw_gs(buf, o.target_rms_dbfs or nan, o.max_peak_dbfs or nan, o.quiet_dbfs or nan)
  end
  method("Graph", "gain_stage", function(self, o)
    o = o or {}
    return raw_ggs(self, o.target_rms_dbfs or nan, o.max_peak_dbfs or nan, o.quiet_dbfs or nan,
                   o.apply == true)
  end)
  local raw_assess = classes["Graph"][".fn"]["assess"]
  method("Graph", "assess", function(self, o)
    o = o or {}
    return raw_assess(self, o.max_lag_ms or nan, o.phase_threshold or nan, o.masking_floor_dbfs or nan)
  end)
  -- node:sidechain(key, tap) sets the key; node:sidechain() returns key, "pre"|"post" (or nil)
  local raw_sidechain = classes["Node"][".fn"]["sidechain"]
  local tap_names = { [0] = "pre", [1] = "post" }
  method("Node", "sidechain", function(self, key, tap)
    if key == nil then
      local k = M.node_sidechain_strip(self) or M.node_sidechain_bus(self)
      if k == nil then return nil end
      return k, tap_names[M.node_sidechain_tap(self)]
    end
    if tap == nil then return raw_sidechain(self, key) end
    return raw_sidechain(self, key, tap)
  end)
  -- buf, first_frame, hop_frames = node:gr_history()  (buf: points x 1 Buffer of dB)
  local raw_grh = classes["Node"][".fn"]["_gr_history"]
  method("Node", "gr_history", function(self)
    return table.unpack(raw_grh(self))
  end)
  -- Lane points, 1-based: frame, value, curve = lane:point(i); lane:points() -> { {frame=, value=, curve=} }
  local curve_names = { [0] = "linear", [1] = "exponential", [2] = "step" }
  method("Lane", "point", function(self, i)
    local f, v, c = M.lane_point(self, i - 1)
    return f, v, curve_names[c]
  end)
  method("Lane", "points", function(self)
    local t = {}
    for i = 0, self.point_count - 1 do
      local f, v, c = M.lane_point(self, i)
      t[#t + 1] = { frame = f, value = v, curve = curve_names[c] }
    end
    return t
  end)
  -- The demo song; GraphFile around a code-built graph
  function M.demo_song(rate) return M.demo_song_create(rate or 0) end
  function M.demo_song_write(dir, rate) return M._demo_song_write(dir, rate or 0) end
}
#endif

/* Class documentation (help(mixstage.Graph)), instead of SWIG's "Proxy of
 * C ... struct". */
%feature("docstring") mixstage_graph
"A mixing graph: channel strips, group buses, FX returns and the mix bus
(console colour, glue compressor, placeholder limiter, mastering), with
sends, sidechain keys and automation.  Render it offline (render, bounce,
deliver, master), or block by block in a real-time host (prepare, process).
Graph(sample_rate=48000, max_block=1024, tempo=120, mix_channels=2).";
%feature("docstring") mixstage_strip
"A channel strip: a source (array, file or callback), clip gain, polarity,
an insert chain, fader (dB), pan and width, sends, routed to a bus.  Made by
Graph.add_strip(name, channels).";
%feature("docstring") mixstage_bus
"A bus: a group, an FX return fed by sends, or the mix bus.  Like a strip
without a source: an insert chain, fader, pan, width, sends and an output.";
%feature("docstring") mixstage_send
"A send from a strip or bus to an FX return: level (dB), pre- or post-fader
tap, mute, and a role that render profiles act on.";
%feature("docstring") mixstage_node
"An insert (eq, compressor, reverb...): parameters by name as attributes
(node.threshold = -18) or items (node[\"threshold\"]), choice parameters by
name (eq.band1_type = \"highpass\"), a role, bypass, a sidechain key,
automation lanes and gain-reduction metering.  Made by Strip.insert and
Bus.insert.";
%feature("docstring") mixstage_lane
"An automation lane of one parameter: points (frame, value, curve); between
points the value follows the curve of the segment.  add_point(frame, value)
takes integer frames, add_point(seconds=1.5, value=v) a time in seconds.
Clip gain, fader and send-level lanes are followed sample by sample; pan,
width and node-parameter lanes are read at each boundary of the 32-frame
control grid (anchored at frame 0), so a point between two boundaries takes
effect at the next one.";

/* The classes (see MSB_CLASS). */
MSB_CLASS(mixstage_graph)
MSB_CELL_CLASS(mixstage_strip)
MSB_CELL_CLASS(mixstage_bus)
MSB_CELL_CLASS(mixstage_send)
MSB_CELL_CLASS(mixstage_node)
MSB_CELL_CLASS(mixstage_lane)
struct mixstage_graphfile {};
struct mixstage_profile {};
%extend mixstage_profile {
  ~mixstage_profile() { msb_prof_release($self); }
}
struct mixstage_bounce {};
%extend mixstage_bounce {
  ~mixstage_bounce() { mixstage_bounce_destroy($self); }
}
struct mixstage_manifest {};
%extend mixstage_manifest {
  ~mixstage_manifest() { mixstage_manifest_destroy($self); }
}
#if defined(SWIGPYTHON)
%pythoncode %{
_abc.Mapping.register(Bounce)

# A misspelt or unknown attribute must raise, not create a new attribute that
# the library never reads (strip.fadr_db = -3) or hide a method (strip.fader
# = -3).  Node additionally takes its parameters as attributes.
for _cls in (Graph, Strip, Bus, Send, Lane, GraphFile, Profile, Bounce, Manifest, Meter,
             GraphConfig, RenderConfig, WriteConfig, DeliverConfig, FileStats, ParamInfo):
    if "__setattr__" not in _cls.__dict__:
        _cls.__setattr__ = _strict_setattr
del _cls
%}
#endif

/* ======================================================================== */
/* 8. Editing a graph: the language side of section 5c                      */
/* ======================================================================== */
/* _removed(obj): the story of a removed object's proxy, else None / nil
 * (never raises: repr() and tostring() of a removed proxy say what it was);
 * _check_alive(obj) raises RemovedError for one. */
#if defined(SWIGPYTHON)
%{
static msb_hold *msb_py_cell(PyObject *obj) {
  swig_type_info *types[] = {SWIGTYPE_p_mixstage_strip, SWIGTYPE_p_mixstage_bus, SWIGTYPE_p_mixstage_send,
                             SWIGTYPE_p_mixstage_node, SWIGTYPE_p_mixstage_lane};
  for (size_t i = 0; i < sizeof types / sizeof *types; i++) {
    void *vp = NULL;
    if (SWIG_IsOK(SWIG_ConvertPtr(obj, &vp, types[i], 0)) && vp) return (msb_hold *)vp;
  }
  PyErr_Clear();
  return NULL;
}
static PyObject *msb_py_removed(PyObject *obj) {
  msb_hold *e = msb_py_cell(obj);
  const char *why = e ? msb_cell_removed(e) : NULL;
  if (why) return PyUnicode_FromString(why);
  Py_RETURN_NONE;
}
static PyObject *msb_py_check_alive(PyObject *obj) {
  msb_hold *e = msb_py_cell(obj);
  const char *why = e ? msb_cell_removed(e) : NULL;
  if (why) {
    msb_raise_removed(why);
    return NULL;
  }
  Py_RETURN_NONE;
}
%}
%rename(_removed) msb_py_removed;
%rename(_check_alive) msb_py_check_alive;
PyObject *msb_py_removed(PyObject *obj);
PyObject *msb_py_check_alive(PyObject *obj);
%pythoncode %{
def _edit_sugar():
    # repr() of a removed proxy says what it was instead of raising.
    for cls in (Strip, Bus, Send, Node, Lane):
        def wrap_repr(inner, name=cls.__name__):
            def __repr__(self):
                story = _removed(self)
                if story is not None:
                    return "<mixstage.%s, removed: %s>" % (name, story)
                return inner(self)
            return __repr__
        cls.__repr__ = wrap_repr(cls.__repr__)

    # Any other use of a removed proxy raises RemovedError, also a misspelt
    # attribute (which would otherwise raise AttributeError).
    for cls in (Strip, Bus, Send, Lane):
        def wrap_getattr(cls=cls):
            def __getattr__(self, name):
                if not name.startswith("_") and name not in ("this", "thisown"):
                    _check_alive(self)
                raise AttributeError("%r object has no attribute %r" % (cls.__name__, name))
            return __getattr__
        cls.__getattr__ = wrap_getattr()
    for cls in (Strip, Bus, Send, Node, Lane):
        def wrap_setattr(inner):
            def __setattr__(self, name, value):
                if name not in ("this", "thisown"):
                    _check_alive(self)
                inner(self, name, value)
            return __setattr__
        cls.__setattr__ = wrap_setattr(cls.__setattr__)

    replace_c = Node.replace

    def replace(self, type):
        """Replaces the node in place by a node of `type` ("gate") and returns
        it (this same proxy): same position, role and bypass.  Parameters of
        the same name keep their values (and lanes) where the new type
        accepts them; the others start at their defaults.  Lanes the new type
        cannot take are removed (their proxies raise RemovedError)."""
        replace_c(self, type)
        return self
    Node.replace = replace

    def remove(self, obj):
        """Removes `obj` -- a Strip, Bus, Send, Node or Lane of this graph --
        with everything it owns: graph.remove(strip) is strip.remove().
        Afterwards every proxy of the removed objects (also those obtained
        separately, by iteration or by name) raises RemovedError on any use,
        and strips, buses, nodes and sends no longer list them.

        Removing while iterating: strips, buses, Strip.nodes, Strip.sends...
        are lists made when read (snapshots), so

            for s in graph.strips:
                if s.name.startswith("tmp"):
                    graph.remove(s)

        visits every strip once and removes the chosen ones.  Do not iterate
        by index (strip_at(i)) while removing: the indexes move down."""
        if not isinstance(obj, (Strip, Bus, Send, Node, Lane)):
            raise TypeError("Graph.remove takes a Strip, Bus, Send, Node or Lane, not %s"
                            % type(obj).__name__)
        _mixstage.Graph_remove(self, obj)
    Graph.remove = remove


_edit_sugar()
del _edit_sugar
%}
#elif defined(SWIGLUA)
%{
static msb_hold *msb_lua_cell(lua_State *L, int i) {
  swig_type_info *types[] = {SWIGTYPE_p_mixstage_strip, SWIGTYPE_p_mixstage_bus, SWIGTYPE_p_mixstage_send,
                             SWIGTYPE_p_mixstage_node, SWIGTYPE_p_mixstage_lane};
  for (size_t k = 0; k < sizeof types / sizeof *types; k++) {
    void *vp = NULL;
    if (SWIG_IsOK(SWIG_ConvertPtr(L, i, &vp, types[k], 0)) && vp) return (msb_hold *)vp;
  }
  return NULL;
}
static int msb_lua_removed(lua_State *L) {
  msb_hold *e = msb_lua_cell(L, 1);
  const char *why = e ? msb_cell_removed(e) : NULL;
  if (why) lua_pushstring(L, why); else lua_pushnil(L);
  return 1;
}
static int msb_lua_check_alive(lua_State *L) {
  msb_hold *e = msb_lua_cell(L, 1);
  const char *why = e ? msb_cell_removed(e) : NULL;
  if (why) {
    msb_push_removed(L, why);
    return lua_error(L);
  }
  return 0;
}
%}
%native(_removed) int msb_lua_removed(lua_State *L);
%native(_check_alive) int msb_lua_check_alive(lua_State *L);
%luacode {
  local M = mixstage
  local classes = debug.getregistry()["SW" .. "IG"]
  for _, class in ipairs({ "Strip", "Bus", "Send", "Node", "Lane" }) do
    local mt = classes[class]
    -- tostring() of a removed proxy says what it was instead of raising
    local raw_tostring = mt["__tostring"]
    if raw_tostring then
      mt["__tostring"] = function(self)
        local why = M._removed(self)
        if why then return "mixstage." .. class .. "(removed: " .. why .. ")" end
        return raw_tostring(self)
      end
    end
    -- any other use raises RemovedError, a misspelt field too
    local raw_get, raw_set = mt["__getitem"], mt["__setitem"]
    if raw_get then
      mt["__getitem"] = M._cwrap(function(self, k) M._check_alive(self); return raw_get(self, k) end)
    end
    if raw_set then
      mt["__setitem"] = M._cwrap(function(self, k, v) M._check_alive(self); return raw_set(self, k, v) end)
    end
  end
  -- graph:remove(obj): obj is a Strip, Bus, Send, Node or Lane (say so in
  -- Lua's words rather than SWIG's overload list)
  local graph_fn = classes["Graph"][".fn"]
  local raw_remove = graph_fn["remove"]
  local editable = { Strip = true, Bus = true, Send = true, Node = true, Lane = true }
  graph_fn["remove"] = function(self, obj)
    local mt = getmetatable(obj)
    local class = type(obj) == "userdata" and mt and mt[".type"]
    if not editable[class] then
      error("Graph:remove takes a Strip, Bus, Send, Node or Lane, not " ..
            (class and tostring(class) or ("a " .. type(obj))), 2)
    end
    return raw_remove(self, obj)
  end
}
#endif
/* ---- One calling style, seconds where users think in seconds (Lua) --------
 * Every call with optional settings takes them positionally (in the order
 * of the Python signature) or as one options table: g:render(0, 4800) and
 * g:render{frames = 0, tail = 4800} are the same call, likewise bounce,
 * null_check, deliver, master, gain_stage, assess, meter, write_audio and
 * lane:add_point.  Frame counts are
 * integers; a time in seconds is given by name (seconds=, tail_seconds=):
 * a fractional frame count raises instead of being truncated. */
#if defined(SWIGLUA)
%luacode {
  local M = mixstage
  local classes = debug.getregistry()["SW" .. "IG"]
  local function fn(class, name) return classes[class][".fn"][name] end
  local function method(class, name, f) classes[class][".fn"][name] = f end
  local function round_frames(s, rate, call)
    if type(s) ~= "number" or s ~= s or s == math.huge or s == -math.huge then
      error(call .. ": seconds must be a finite number", 4)
    end
    return math.floor(s * rate + 0.5)
  end
  -- A frame count from o[key] (integer frames) or o[skey] (seconds).
  local function frames_of(o, key, skey, rate, default, call)
    local f, s = o[key], skey and o[skey]
    if s ~= nil then
      if f ~= nil and f ~= 0 then error(call .. ": give " .. key .. " or " .. skey .. ", not both", 4) end
      return round_frames(s, rate, call)
    end
    if f == nil then return default end
    if math.type(f) == "float" and f == math.floor(f) then f = math.tointeger(f) end
    if math.type(f) ~= "integer" then
      error(call .. ": " .. key .. " is an integer number of frames, got " .. tostring(f) ..
            (skey and ("; for a time in seconds give the " .. skey .. " option") or ""), 4)
    end
    return f
  end
  -- Positional arguments after the fixed ones, or one options table.
  local function options(names, ...)
    local first = ...
    if select("#", ...) == 1 and type(first) == "table" and getmetatable(first) == nil then return first end
    local o = {}
    for i = 1, select("#", ...) do o[names[i]] = (select(i, ...)) end
    return o
  end

  local raw_render = fn("Graph", "render")
  -- g:render([frames [, tail [, remove_latency [, threads [, progress]]]]]) or
  -- g:render{frames=|seconds=, tail=|tail_seconds=, remove_latency=, threads=, progress=}
  method("Graph", "render", function(self, ...)
    local o = options({ "frames", "tail", "remove_latency", "threads", "progress" }, ...)
    local rate = self.sample_rate
    return raw_render(self, frames_of(o, "frames", "seconds", rate, 0, "render"),
                      frames_of(o, "tail", "tail_seconds", rate, -1, "render"),
                      o.remove_latency ~= false, o.threads or 1, o.progress)
  end)
  for _, name in ipairs({ "bounce", "null_check" }) do
    local lua_fn = fn("Graph", name)
    method("Graph", name, function(self, profile, ...)
      local o = options({ "frames", "tail", "threads", "progress" }, ...)
      o.frames = frames_of(o, "frames", "seconds", self.sample_rate, 0, name)
      o.tail = frames_of(o, "tail", "tail_seconds", self.sample_rate, nil, name)
      return lua_fn(self, profile, o)
    end)
  end
  -- g:bounce_stream(profile, fn [, frames [, tail [, threads [, progress [, null_check]]]]])
  -- or with one options table (seconds=, tail_seconds= as bounce): fn(frame, blocks)
  -- gets every block, blocks a table output name -> Buffer reused from block to block.
  local raw_stream = fn("Graph", "_bounce_stream")
  method("Graph", "bounce_stream", function(self, profile, f, ...)
    local o = options({ "frames", "tail", "threads", "progress", "null_check" }, ...)
    if type(f) ~= "function" then error("bounce_stream: fn must be a function fn(frame, blocks)", 2) end
    return raw_stream(self, profile, f, frames_of(o, "frames", "seconds", self.sample_rate, 0, "bounce_stream"),
                      frames_of(o, "tail", "tail_seconds", self.sample_rate, -1, "bounce_stream"),
                      o.threads or 1, o.null_check == true, o.progress)
  end)
  -- The residual of the null check: -math.huge for an exactly silent residual
  -- (-400 from the C call), as every other level of silence.
  local nc = fn("Graph", "null_check")
  method("Graph", "null_check", function(self, ...)
    local db = nc(self, ...)
    if db <= -400 then return -math.huge end
    return db
  end)
  local raw_deliver = fn("Graph", "deliver")
  method("Graph", "deliver", function(self, profile, dir, ...)
    local o = options({ "format", "sample_type", "dither", "dither_seed", "output_rate",
                        "tail_threshold_db", "manifest", "frames", "tail", "threads", "progress" }, ...)
    o.frames = frames_of(o, "frames", "seconds", self.sample_rate, 0, "deliver")
    o.tail = frames_of(o, "tail", "tail_seconds", self.sample_rate, nil, "deliver")
    return raw_deliver(self, profile, dir, o)
  end)
  local raw_master = fn("Graph", "master")
  method("Graph", "master", function(self, ...)
    return raw_master(self, options({ "preset", "target_lufs", "ceiling_dbtp", "tolerance_lu",
                                      "max_iterations", "use_bus_fader", "audio", "frames",
                                      "tail", "threads" }, ...))
  end)
  method("Graph", "seconds_to_frames", function(self, s)
    return round_frames(s, self.sample_rate, "seconds_to_frames")
  end)
  method("Graph", "frames_to_seconds", function(self, f) return f / self.sample_rate end)

  -- lane:add_point(frame, value [, curve]) or lane:add_point{frame=|seconds=, value=, curve=}
  local raw_add, raw_value_at = fn("Lane", "add_point"), fn("Lane", "value_at")
  method("Lane", "add_point", function(self, ...)
    local o = options({ "frame", "value", "curve" }, ...)
    local frame = frames_of(o, "frame", "seconds", self.sample_rate, nil, "Lane:add_point")
    if frame == nil or o.value == nil then
      error("Lane:add_point: give frame (or seconds) and value", 2)
    end
    return raw_add(self, frame, o.value, o.curve or "linear")
  end)
  method("Lane", "value_at", function(self, ...)
    local o = options({ "frame" }, ...)
    local frame = frames_of(o, "frame", "seconds", self.sample_rate, nil, "Lane:value_at")
    if frame == nil then error("Lane:value_at: give frame or seconds", 2) end
    return raw_value_at(self, frame)
  end)

  -- The other calls with settings: positional (the Python order) or a table.
  local tbl_meter, tbl_write, tbl_gs = M.meter, M.write_audio, M.gain_stage
  function M.meter(buf, rate, ...)
    return tbl_meter(buf, rate, options({ "layout", "channel_roles", "true_peak", "series",
                                          "clip_level", "left_channel", "right_channel" }, ...))
  end
  function M.write_audio(path, buf, rate, ...)
    return tbl_write(path, buf, rate, options({ "format", "sample_type", "dither", "dither_seed",
                                                "output_rate" }, ...))
  end
  function M.gain_stage(buf, ...)
    return tbl_gs(buf, options({ "target_rms_dbfs", "max_peak_dbfs", "quiet_dbfs" }, ...))
  end
  local tbl_ggs, tbl_assess = fn("Graph", "gain_stage"), fn("Graph", "assess")
  method("Graph", "gain_stage", function(self, ...)
    return tbl_ggs(self, options({ "target_rms_dbfs", "max_peak_dbfs", "quiet_dbfs", "apply" }, ...))
  end)
  method("Graph", "assess", function(self, ...)
    return tbl_assess(self, options({ "max_lag_ms", "phase_threshold", "masking_floor_dbfs" }, ...))
  end)

  -- Bounce:adds_up() (the word of the manifest); nulls() is a deprecated alias.
  local raw_adds_up = fn("Bounce", "adds_up")
  local raw_name = fn("Bounce", "name")
  method("Bounce", "adds_up", function(self, k)
    if math.type(k) == "integer" then k = self:names()[k] or tostring(k) end
    return raw_adds_up(self, k)
  end)
  method("Bounce", "nulls", function(self, k) return self:adds_up(k) end)
  -- Manifest:add_file(path, kind, profile, stats, {on=, bypass=, mute=, latency=});
  -- bypassed= / muted= are deprecated aliases, kind "fx" means "fx-return".
  local raw_add_file = fn("Manifest", "add_file")
  method("Manifest", "add_file", function(self, path, kind, profile, stats, roles)
    roles = roles or {}
    local r = { on = roles.on, latency = roles.latency,
                bypassed = roles.bypass or roles.bypassed, muted = roles.mute or roles.muted }
    if kind == "fx" then kind = "fx-return" end
    return raw_add_file(self, path, kind, profile, stats, r)
  end)
}
#endif

/* ---- File formats by name everywhere (Python) -----------------------------
 * The C calls take integers (mixstage_file_format); every Python call takes
 * and returns names ("wav", "pcm24"), integers accepted on input. */
#if defined(SWIGPYTHON)
%pythoncode %{
_ab_write_pair_c, _translate_write_c = ab_write_pair, translate_write


def ab_write_pair(a, b_, rate, directory, format="wav", sample_type="pcm24", dither=True,
                  dither_seed=None, output_rate=0.0):
    """Writes A.<ext> and B.<ext> into the existing `directory`, the louder
    turned down to the quieter's loudness; format "wav", "aiff", "flac",
    sample_type "pcm16", "pcm24", "float32".  Returns {gain_a_db,
    gain_b_db, a_path, b_path}."""
    return _ab_write_pair_c(a, b_, float(rate), _os.fspath(directory), format, sample_type,
                            bool(dither), -1 if dither_seed is None else int(dither_seed),
                            float(output_rate))


def translate_write(audio, rate, directory, prefix=None, format="wav", sample_type="pcm24",
                    dither=True, dither_seed=None, output_rate=0.0):
    """Writes one preview per playback system, DIRECTORY/PREFIX-NAME.EXT
    (format and sample_type by name, as write_audio()); returns the paths."""
    return _translate_write_c(audio, float(rate), _os.fspath(directory), prefix, format,
                              sample_type, bool(dither),
                              -1 if dither_seed is None else int(dither_seed), float(output_rate))
%}
#endif

#if defined(SWIGPYTHON)
%pythoncode %{
# Last, once every method is defined: enum defaults by name (sugar.i).
_enum_defaults_by_name(globals())
%}
#endif
