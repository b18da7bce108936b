/* mixstage nodes: the node types and their parameters, read from the
 * library's registry so that the listing (and the man page generated from
 * it at build time with --man) cannot drift from the code.
 *
 * The public API describes parameters per node instance, so each type is
 * inserted once into a scratch graph (a stereo strip at 48 kHz) and read
 * back; parameter tables are static in the library, so nothing here depends
 * on the scratch graph's settings.
 */
#define _POSIX_C_SOURCE 200809L

#include <stdlib.h>
#include <string.h>

#include "cli.h"

int cli_node_type_count(void) {
  int n = 0;
  while (mixstage_node_type_name(n)) n++;
  return n;
}

static json_t *choices_json(const char *choices) {
  if (!choices) return json_null();
  json_t *a = json_array();
  for (const char *p = choices; p;) {
    size_t n = strcspn(p, "|");
    json_array_append_new(a, json_stringn(p, n));
    p = p[n] ? p + n + 1 : NULL;
  }
  return a;
}

/* A node of type @p index in a scratch graph; *g receives the graph. */
static mixstage_node *scratch_node(int index, mixstage_graph **g) {
  int err;
  *g = mixstage_graph_create(NULL, &err);
  if (!*g) return NULL;
  mixstage_strip *s = mixstage_graph_add_strip(*g, "scratch", 2, &err);
  mixstage_node *n = s ? mixstage_strip_insert(s, mixstage_node_type_name(index), MIXSTAGE_ROLE_STRIP, -1, &err)
                       : NULL;
  if (!n) {
    mixstage_graph_destroy(*g);
    *g = NULL;
  }
  return n;
}

/* Whether the type takes a sidechain key: only dynamics nodes accept one. */
static int takes_key(mixstage_graph *g, mixstage_node *n) {
  int err;
  mixstage_strip *key = mixstage_graph_add_strip(g, "key", 2, &err);
  return key && mixstage_node_set_sidechain_strip(n, key, MIXSTAGE_TAP_PRE_FADER) == MIXSTAGE_OK;
}

/* Machine names of the units of common.h, in enum order. */
static const char *unit_kind(int unit) {
  static const char *const kinds[] = {"none", "db", "hz", "ms", "ratio", "percent", "pan", "bool",
                                      "enum", "q", "seconds", "bpm"};
  return unit >= 0 && unit < (int)(sizeof kinds / sizeof *kinds) ? kinds[unit] : "none";
}

static json_t *type_json(int index) {
  mixstage_graph *g;
  mixstage_node *n = scratch_node(index, &g);
  if (!n) return NULL;
  json_t *t = json_object();
  json_object_set_new(t, "name", json_string(mixstage_node_type_name(index)));
  json_object_set_new(t, "description", json_string(mixstage_node_type_description(index)));
  json_t *params = json_array();
  for (int i = 0; i < mixstage_node_param_count(n); i++) {
    mixstage_param_info pi;
    if (mixstage_node_param_info(n, i, &pi) != MIXSTAGE_OK) continue;
    json_t *p = json_object();
    json_object_set_new(p, "id", json_integer(pi.id));
    json_object_set_new(p, "name", json_string(pi.name));
    json_object_set_new(p, "label", json_string(pi.label));
    json_object_set_new(p, "unit", json_string(mixstage_unit_name(pi.unit)));
    json_object_set_new(p, "unit_kind", json_string(unit_kind(pi.unit)));
    json_object_set_new(p, "min", json_real(pi.min));
    json_object_set_new(p, "max", json_real(pi.max));
    json_object_set_new(p, "default", json_real(pi.def));
    json_object_set_new(p, "automatable", json_boolean(pi.automatable));
    json_object_set_new(p, "choices", choices_json(pi.unit == MIXSTAGE_UNIT_ENUM ? pi.choices : NULL));
    json_array_append_new(params, p);
  }
  json_object_set_new(t, "sidechain", json_boolean(takes_key(g, n)));
  json_object_set_new(t, "params", params);
  mixstage_graph_destroy(g);
  return t;
}

/* "-60 .. 0 dB", "peak | rms", "off | on". */
static void range_words(json_t *p, char *buf, size_t size) {
  const char *unit = json_string_value(json_object_get(p, "unit"));
  const char *kind = json_string_value(json_object_get(p, "unit_kind"));
  json_t *ch = json_object_get(p, "choices");
  if (json_is_array(ch)) {
    size_t l = 0, i;
    json_t *c;
    buf[0] = 0;
    json_array_foreach(ch, i, c) l += (size_t)snprintf(buf + (l < size ? l : size), l < size ? size - l : 0,
                                                       "%s%s", i ? " | " : "", json_string_value(c));
    return;
  }
  if (!strcmp(kind, "bool")) {
    snprintf(buf, size, "off | on");
    return;
  }
  if (!strcmp(kind, "ratio")) unit = "(ratio N:1)";
  snprintf(buf, size, "%g .. %g%s%s", json_number_value(json_object_get(p, "min")),
           json_number_value(json_object_get(p, "max")), *unit ? " " : "", unit);
}

static void default_words(json_t *p, char *buf, size_t size) {
  double d = json_number_value(json_object_get(p, "default"));
  json_t *ch = json_object_get(p, "choices");
  const char *unit = json_string_value(json_object_get(p, "unit"));
  const char *kind = json_string_value(json_object_get(p, "unit_kind"));
  if (json_is_array(ch) && json_array_get(ch, (size_t)d))
    snprintf(buf, size, "%s", json_string_value(json_array_get(ch, (size_t)d)));
  else if (!strcmp(kind, "bool")) snprintf(buf, size, "%s", d != 0 ? "on" : "off");
  else if (!strcmp(kind, "ratio")) snprintf(buf, size, "%g:1", d);
  else snprintf(buf, size, "%g%s%s", d, *unit ? " " : "", unit);
}

static void print_type(json_t *t) {
  printf("%s%s\n  %s\n", json_string_value(json_object_get(t, "name")),
         json_is_true(json_object_get(t, "sidechain")) ? " (takes a sidechain key)" : "",
         json_string_value(json_object_get(t, "description")));
  size_t i;
  json_t *p;
  json_array_foreach(json_object_get(t, "params"), i, p) {
    char r[256], d[128];
    range_words(p, r, sizeof r);
    default_words(p, d, sizeof d);
    int automatable = json_is_true(json_object_get(p, "automatable"));
    printf("  %-18s %-26s %-28s default %-*s%s\n", json_string_value(json_object_get(p, "name")),
           json_string_value(json_object_get(p, "label")), r, automatable ? 12 : 0, d,
           automatable ? " automatable" : "");
  }
}

/* roff: hyphens and backslashes escaped, a leading dot or quote guarded. */
static void roff(const char *s) {
  if (*s == '.' || *s == '\'') fputs("\\&", stdout);
  for (; *s; s++) {
    if (*s == '-') fputs("\\-", stdout);
    else if (*s == '\\') fputs("\\e", stdout);
    else putchar(*s);
  }
}

static void print_man(json_t *types) {
  size_t i, k;
  json_t *t, *p;
  json_array_foreach(types, i, t) {
    fputs(".SS ", stdout);
    roff(json_string_value(json_object_get(t, "name")));
    fputs("\n", stdout);
    roff(json_string_value(json_object_get(t, "description")));
    if (json_is_true(json_object_get(t, "sidechain"))) fputs("\nTakes a sidechain key.", stdout);
    fputs("\n", stdout);
    json_array_foreach(json_object_get(t, "params"), k, p) {
      char r[256], d[128];
      range_words(p, r, sizeof r);
      default_words(p, d, sizeof d);
      fputs(".TP\n.B ", stdout);
      roff(json_string_value(json_object_get(p, "name")));
      fputs("\n", stdout);
      roff(json_string_value(json_object_get(p, "label")));
      fputs(": ", stdout);
      roff(r);
      fputs(", default ", stdout);
      roff(d);
      fputs(json_is_true(json_object_get(p, "automatable")) ? "; automatable.\n" : ".\n", stdout);
    }
  }
}

int cli_cmd_nodes(int argc, char **argv) {
  cli_common c = {0, 0};
  int man = 0, names = 0, dashdash = 0;
  const char *type = NULL;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (!dashdash && !strcmp(a, "--")) dashdash = 1;
    else if (!dashdash && !strcmp(a, "--json")) c.json = 1;
    else if (!dashdash && !strcmp(a, "--man")) man = 1;
    else if (!dashdash && !strcmp(a, "--names")) names = 1;
    else if (!dashdash && a[0] == '-' && a[1]) return cli_usage_error("nodes", "nodes: unknown option '%s'", a);
    else if (type) return cli_usage_error("nodes", "nodes takes at most one node type");
    else type = a;
  }
  if (man && (c.json || type)) return cli_usage_error("nodes", "nodes: --man lists every type, alone");
  int ntypes = cli_node_type_count();
  if (names) {
    if (man || c.json || type) return cli_usage_error("nodes", "nodes: --names lists every type, alone");
    for (int i = 0; i < ntypes; i++) puts(mixstage_node_type_name(i));
    return CLI_EXIT_OK;
  }
  int only = -1;
  if (type) {
    for (int i = 0; i < ntypes; i++)
      if (!strcmp(mixstage_node_type_name(i), type)) only = i;
    if (only < 0) {
      const char *names[ntypes > 0 ? ntypes : 1];
      for (int i = 0; i < ntypes; i++) names[i] = mixstage_node_type_name(i);
      char hint[128];
      cli_did_you_mean(type, names, ntypes, hint, sizeof hint);
      return cli_usage_error("nodes", "nodes: no node type '%s'%s (mixstage nodes lists them)", type, hint);
    }
  }
  json_t *types = json_array();
  for (int i = 0; i < ntypes; i++) {
    if (only >= 0 && i != only) continue;
    json_t *t = type_json(i);
    if (!t) {
      cli_error("node type %s: cannot create it: out of memory", mixstage_node_type_name(i));
      json_decref(types);
      return CLI_EXIT_FAILED;
    }
    json_array_append_new(types, t);
  }
  if (man) {
    print_man(types);
    json_decref(types);
    return fflush(stdout) == 0 ? CLI_EXIT_OK : CLI_EXIT_FAILED;
  }
  if (c.json) {
    json_t *o = json_object();
    json_object_set_new(o, "command", json_string("nodes"));
    json_object_set_new(o, "types", types);
    return cli_print_json(o) < 0 ? CLI_EXIT_FAILED : CLI_EXIT_OK;
  }
  size_t i;
  json_t *t;
  json_array_foreach(types, i, t) {
    if (i) putchar('\n');
    print_type(t);
  }
  json_decref(types);
  return CLI_EXIT_OK;
}
