/* The mixstage command: declarations shared by its source files.
 *
 * The command uses the public API only (include/mixstage.h), as any other
 * program linking libmixstage would; jansson writes the --json documents and
 * reads the canonical form of graph files for what the engine has no getter
 * for (source paths, sidechain keys, automation lanes).
 */
#ifndef MIXSTAGE_CLI_H
#define MIXSTAGE_CLI_H

#include <jansson.h>
#include <stdio.h>
#include <sys/types.h>

#include "mixstage.h"

/* Exit codes, documented in `mixstage --help` and mixstage(1). */
enum {
  CLI_EXIT_OK = 0,      /* everything asked for was done */
  CLI_EXIT_FAILED = 1,  /* some file failed to render, analyse or compare */
  CLI_EXIT_USAGE = 2,   /* bad command line */
  CLI_EXIT_INVALID = 3, /* some graph file is invalid (rejected by the loader) */
  CLI_EXIT_NON_NULL = 4  /* everything rendered, but some stems do not add up */
};

/* A null-check residual above this (peak of stems + FX stems - production
 * mix, in float before any file is written) means the stems do not add up:
 * float rounding of a sum of stems stays below -130 dBFS, while a nonlinear
 * stage on a group bus leaves -60 dBFS or more. */
#define CLI_NULL_LIMIT_DBFS (-100.0)

/* Options shared by every command. */
typedef struct cli_common {
  int json;   /* --json: one JSON document on stdout */
  int quiet;  /* --quiet: nothing on stdout, errors still on stderr */
} cli_common;

/* mixstage.c */
void cli_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
int cli_usage_error(const char *command, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int cli_help_requested(int argc, char **argv);
int cli_print_help(const char *command);
int cli_take_value(int argc, char **argv, int *i, const char *lng, const char *shrt,
                   const char **value);
int cli_parse_int(const char *s, int lo, int hi, int *out);
int cli_parse_dither(const char *s, int *out); /* "tpdf" 1, "none" 0; -1 if neither */
json_t *cli_num(double v);
int cli_print_json(json_t *doc);
/* {"command", "file", "status": "invalid"|"failed", "code", "error",
 * "exit_status"} on stdout, for --json runs that fail before any result. */
int cli_print_json_error(const char *command, const char *file, int exit_status, int err, const char *msg);
const char *cli_db(char *buf, size_t size, double v, const char *unit);
double cli_now(void);
int cli_mkdirs(const char *path);
int cli_cpu_count(void);
/* " (did you mean 'NAME'?)" for the name of @p names closest to @p word when
 * it is near enough to be a typo, else "".  Returns buf. */
const char *cli_did_you_mean(const char *word, const char *const *names, int n, char *buf, size_t size);

/* Appends "did you mean" to a graph-file loader message about an unknown
 * node type, role or base profile, when the word is a near miss. */
void cli_hint_load_error(char *msg, size_t size);

/* Loads a graph file; on failure prints the message (and with --json the
 * error document) and sets *exit_code (3 invalid, 1 out of memory). */
mixstage_graphfile *cli_load_graphfile(const char *command, const char *path, const cli_common *c,
                                       int *exit_code);
/* --format, --sample-type, --rate, --dither into @p w: 1 taken, 0 not one of
 * them, 10 + exit code on a usage error. */
int cli_write_option(const char *cmd, int argc, char **argv, int *i, mixstage_write_config *w);
const char *cli_extension(int format); /* "wav", "aiff", "flac" */
/* A written file's measurements, as render --json reports them. */
json_t *cli_stats_json(const char *path, const mixstage_file_stats *s);

/* assess.c, master.c, translate.c */
int cli_cmd_assess(int argc, char **argv);
int cli_cmd_gain_stage(int argc, char **argv);
int cli_cmd_master(int argc, char **argv);
int cli_cmd_translate(int argc, char **argv);

/* nodes.c */
int cli_node_type_count(void);
int cli_cmd_nodes(int argc, char **argv);

/* profiles.c */
int cli_cmd_profiles(int argc, char **argv);
int cli_cmd_info(int argc, char **argv);

/* render.c */
typedef struct cli_render_opts {
  const char **profiles; /* names; NULL-terminated; empty: the three built-ins */
  int nprofiles;
  const char *out;       /* output directory */
  int jobs;              /* worker processes */
  int threads;           /* render threads per worker */
  int format, sample_type;
  int dither;            /* TPDF dither before rounding to integers */
  double rate;           /* output sample rate, Hz; 0: the graph's */
  int allow_non_null;    /* --allow-non-null: stems that do not add up are not a failure */
  pid_t parent;          /* pid of the command: workers end when it is gone */
  int master;                /* --master: master the final profile to mc first */
  mixstage_master_config mc;
  cli_common common;
} cli_render_opts;
int cli_render_files(const char *const *files, int nfiles, const cli_render_opts *o, json_t *extra);
int cli_cmd_render(int argc, char **argv);
int cli_cmd_demo(int argc, char **argv);

/* meters.c */
int cli_cmd_analyze(int argc, char **argv);
int cli_cmd_compare(int argc, char **argv);

#endif
