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
static void msb_release(const void *h) {
  mixstage_graph *doomed = NULL;
  pthread_mutex_lock(&msb_lock);
  msb_hold **p = &msb_table[msb_bucket(h)];
  while (*p && (*p)->h != h) p = &(*p)->next;
  msb_hold *e = *p;
  if (e) {
    msb_gref *gr = e->gr;
    if (--e->count == 0) { *p = e->next; free(e); }
    if (--gr->refs == 0) {
      doomed = gr->g;
      msb_unlink_gref_locked(gr);
    }
  }
  pthread_mutex_unlock(&msb_lock);
  mixstage_graph_destroy(doomed); /* accepts NULL */
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

static int msb_check(int status, mixstage_graph *g) {
  if (status < 0 && !msb_pending) {
    msb_pending = status;
    msb_ctx = g;
  }
  return status;
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
  msb_raise_msg(status, g ? mixstage_graph_last_error(g) : "");
}
#define MSB_FAIL(status, g) do { msb_raise((status), (g)); SWIG_fail; } while (0)
#define MSB_FAIL_MSG(status, m) do { msb_raise_msg((status), (m)); SWIG_fail; } while (0)

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
  msb_push_error_msg(L, status, g ? mixstage_graph_last_error(g) : "");
}
#define MSB_FAIL(status, g) do { msb_push_error(L, (status), (g)); SWIG_fail; } while (0)
#define MSB_FAIL_MSG(status, m) do { msb_push_error_msg(L, (status), (m)); SWIG_fail; } while (0)
%}
#endif

/* Every wrapper: a failure recorded by sugar code is raised after the call. */
%exception {
  msb_pending = 0;
  $action
  if (msb_pending) MSB_FAIL(msb_pending, msb_ctx);
}
/* Calls that take no handle: no graph message applies. */
%define MSB_NO_CONTEXT(NAME)
%exception NAME {
  msb_pending = 0;
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
  int mixstage_graph_locate
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
    snprintf(msb_text, sizeof msb_text, "%s", emsg);
    msb_check(MIXSTAGE_ENOTFOUND, NULL);
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
