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
 *      wrapper must refuse while a proxy of that object lives.)
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
 */
#if defined(SWIGPYTHON)
%module(docstring="libmixstage: mixing graphs rendered the way producers and mix engineers deliver music.\n\nAudio is numpy float32 shaped (frames, channels).  Errors raise mixstage.Error subclasses.") mixstage
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
  struct msb_gref *next;
} msb_gref;

/* One entry per handle held by at least one proxy: handle -> graph. */
typedef struct msb_hold {
  const void *h;
  msb_gref *gr;
  long count;
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

/* Records one more proxy for handle @h that belongs to graph @g (for a new
 * graph, h == g and g is not yet known).  Returns 0, or -1 out of memory. */
static int msb_retain(const void *h, mixstage_graph *g) {
  int rc = 0;
  pthread_mutex_lock(&msb_lock);
  msb_hold *e = msb_find_locked(h);
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
    if (!gr) { rc = -1; goto out; }
    gr->g = g;
    gr->next = msb_grefs;
    msb_grefs = gr;
  }
  e = (msb_hold *)calloc(1, sizeof *e);
  if (!e) { rc = -1; goto out; }
  e->h = h;
  e->gr = gr;
  e->count = 1;
  e->next = msb_table[msb_bucket(h)];
  msb_table[msb_bucket(h)] = e;
  gr->refs++;
out:
  pthread_mutex_unlock(&msb_lock);
  return rc;
}

static void msb_unlink_gref_locked(msb_gref *gr) {
  for (msb_gref **p = &msb_grefs; *p; p = &(*p)->next)
    if (*p == gr) { *p = gr->next; break; }
  free(gr);
}

/* A proxy of @h went away.  The last reference destroys the graph. */
static void msb_prof_release(const void *p);
static void msb_release(const void *h) {
  mixstage_graph *doomed = NULL;
  const void *doomed_profile = NULL;
  pthread_mutex_lock(&msb_lock);
  msb_hold **p = &msb_table[msb_bucket(h)];
  while (*p && (*p)->h != h) p = &(*p)->next;
  msb_hold *e = *p;
  if (e) {
    msb_gref *gr = e->gr;
    if (--e->count == 0) { *p = e->next; free(e); }
    if (--gr->refs == 0) {
      doomed = gr->g;
      doomed_profile = gr->profile;
      msb_unlink_gref_locked(gr);
    }
  }
  pthread_mutex_unlock(&msb_lock);
  mixstage_graph_destroy(doomed); /* accepts NULL */
  msb_prof_release(doomed_profile); /* after the graph that used it */
}

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
static void msb_format(char *buf, size_t size, int status, const char *detail) {
  if (detail && *detail)
    snprintf(buf, size, "%s: %s", mixstage_strerror(status), detail);
  else
    snprintf(buf, size, "%s", mixstage_strerror(status));
}
%}

#if defined(SWIGPYTHON)
%{
static PyObject *msb_exc_base;
static PyObject *msb_exc[MSB_NKINDS];
static PyObject *msb_numeric_warning;

/* Raises the exception class of @status with the message of @detail (a
 * graph's last error, or a message of the binding's own). */
static void msb_raise_msg(int status, const char *detail) {
  char msg[1024];
  msb_format(msg, sizeof msg, status, detail);
  int k = msb_kind_index(status);
  PyObject *cls = k >= 0 && msb_exc[k] ? msb_exc[k] : msb_exc_base;
  PyObject *exc = PyObject_CallFunction(cls, "s", msg);
  if (!exc) return;
  PyObject *v;
  v = PyLong_FromLong(status); PyObject_SetAttrString(exc, "code", v); Py_XDECREF(v);
  v = PyUnicode_FromString(mixstage_err_name(status)); PyObject_SetAttrString(exc, "name", v); Py_XDECREF(v);
  v = PyUnicode_FromString(mixstage_strerror(status)); PyObject_SetAttrString(exc, "reason", v); Py_XDECREF(v);
  v = PyUnicode_FromString(detail ? detail : ""); PyObject_SetAttrString(exc, "detail", v); Py_XDECREF(v);
  PyErr_SetObject(cls, exc);
  Py_DECREF(exc);
}
static void msb_raise(int status, mixstage_graph *g) {
  msb_raise_msg(status, msb_detail(g));
}
#define MSB_FAIL(status, g) do { msb_raise((status), (g)); SWIG_fail; } while (0)
#define MSB_FAIL_MSG(status, m) do { msb_raise_msg((status), (m)); SWIG_fail; } while (0)
/* No foreign errors in Python: a progress callback's exception is restored
 * by the function that ran the render (section 6). */
#define MSB_RAISE_FOREIGN() do { } while (0)

/* Builds mixstage.Error and its subclasses; each also derives from the
 * matching built-in so `except ValueError` keeps working. */
static int msb_init_exceptions(PyObject *module) {
  PyObject *d = PyModule_GetDict(module);
  msb_exc_base = PyErr_NewExceptionWithDoc("mixstage.Error",
      "Base of every libmixstage error.  Attributes: code (negative status), name "
      "(\"MIXSTAGE_ECYCLE\"), reason (mixstage_strerror) and detail (the graph's "
      "last-error message naming the object at fault).", NULL, NULL);
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

/* Pushes an error object: a table {code, name, kind, reason, detail,
 * message} whose __tostring is the message, so an uncaught error prints the
 * sentence and pcall callers can test err.kind or err.code. */
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
  if (luaL_newmetatable(L, "mixstage.Error")) {
    lua_pushcfunction(L, msb_error_tostring);
    lua_setfield(L, -2, "__tostring");
  }
  lua_setmetatable(L, -2);
}
static void msb_push_error(lua_State *L, int status, mixstage_graph *g) {
  msb_push_error_msg(L, status, msb_detail(g));
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
%}
#endif

/* Every wrapper: a failure recorded by sugar code is raised after the call. */
%exception {
  msb_pending = 0;
  msb_has_msg = 0;
  $action
  MSB_RAISE_FOREIGN();
  if (msb_pending) MSB_FAIL(msb_pending, msb_ctx);
}
/* Calls that take no handle: no graph message applies. */
%define MSB_NO_CONTEXT(NAME)
%exception NAME {
  msb_pending = 0;
  msb_has_msg = 0;
  msb_ctx = NULL;
  $action
  if (msb_pending) MSB_FAIL(msb_pending, NULL);
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
  int mixstage_node_get_param_by_name, int mixstage_node_set_sidechain_strip,
  int mixstage_node_set_sidechain_bus, int mixstage_node_clear_sidechain,
  int mixstage_lane_add_point, int mixstage_lane_clear, int mixstage_graph_prepare,
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
static const char *const msb_okind_names[] = {"mix", "stem", "fx", "reference", NULL};

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

MSB_HANDLE(mixstage_graph, Graph, msb_self_graph)
MSB_HANDLE(mixstage_strip, Strip, mixstage_strip_graph)
MSB_HANDLE(mixstage_bus, Bus, mixstage_bus_graph)
MSB_HANDLE(mixstage_send, Send, msb_send_graph)
MSB_HANDLE(mixstage_node, Node, mixstage_node_graph)
MSB_HANDLE(mixstage_lane, Lane, msb_ctx_graph)

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
}

%extend mixstage_lane {
  %immutable;
  int point_count;
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
  /** "mix", "stem", "fx" or "reference". */
  const char *m_kind(const char *key) {
    int i = msb_bounce_index($self, key);
    return i < 0 ? NULL : msb_name_of(msb_okind_names, mixstage_bounce_kind($self, i));
  }
  /** Whether the stem adds up exactly with the others. */
  bool m_nulls(const char *key) {
    int i = msb_bounce_index($self, key);
    return i >= 0 && mixstage_bounce_nulls($self, i) > 0;
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
/* 6. Per-language extras                                                   */
/* ======================================================================== */
#if defined(SWIGPYTHON)
%include "python/sugar.i"
#elif defined(SWIGLUA)
%include "lua/sugar.i"
#endif

/* The classes (see MSB_CLASS). */
MSB_CLASS(mixstage_graph)
MSB_CLASS(mixstage_strip)
MSB_CLASS(mixstage_bus)
MSB_CLASS(mixstage_send)
MSB_CLASS(mixstage_node)
MSB_CLASS(mixstage_lane)
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
%}
#endif
