/* mixstage: render, inspect and measure graph files from the command line.
 *
 * This file holds the entry point, the help texts and small helpers; each
 * command lives in its own file (render.c, profiles.c, meters.c).
 */
#define _POSIX_C_SOURCE 200809L /* clock_gettime, strsignal, fileno */

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"

/* ---- help ----------------------------------------------------------------- */

static const char EXIT_CODES[] =
    "Exit status:\n"
    "  0  success\n"
    "  1  some file failed to render, analyse or compare (the others were done)\n"
    "  2  usage error (unknown command or option, missing argument)\n"
    "  3  some graph file is invalid: unreadable, not JSON, breaking a rule of the\n"
    "     format, naming a missing source or making a routing loop (takes\n"
    "     precedence over 1)\n"
    "  4  everything was rendered, but the stems of some profile do not add up\n"
    "     to the mix (null check above -100 dBFS; the stage and stems at fault\n"
    "     are named); render --allow-non-null makes that 0\n";

typedef struct cli_command {
  const char *name;
  int (*run)(int argc, char **argv);
  const char *summary;
  const char *help;
} cli_command;

static const cli_command COMMANDS[] = {
    {"render", cli_cmd_render, "render graph files under render profiles (files + manifest)",
     "Usage: mixstage render FILE.json... [options]\n"
     "\n"
     "Renders each graph file under the named profiles and writes, per profile,\n"
     "the profile's files (mix, stems, FX stems, reference) and manifest.json.\n"
     "With one file the profiles go to DIR/<profile>/; with several files to\n"
     "DIR/<file>/<profile>/, <file> being the file name without .json and\n"
     ".mixstage.  Each file is loaded and fully validated before any of it\n"
     "renders; files render in parallel, each in its own worker process, so a\n"
     "bad or crashing file never stops the others.  Results are byte-identical\n"
     "whatever -j and --threads are.  A summary of what rendered and what failed\n"
     "(with the place in the file at fault) ends the output.\n"
     "\n"
     "Options:\n"
     "  -p, --profile NAME  render this profile: production, mix-stems, final or\n"
     "                      a custom profile of the file; repeatable.  Default:\n"
     "                      the three built-in profiles\n"
     "  -o, --out DIR       output directory (default: mixstage-out)\n"
     "  -j, --jobs N        files rendered at once, 1 .. 256 (default: the number\n"
     "                      of CPUs)\n"
     "  -t, --threads N     render threads inside each file, 1 .. 64 (default 1)\n"
     "  -f, --format F      wav (default), aiff or flac\n"
     "  -s, --sample-type T pcm24 (default), pcm16 or float32\n"
     "  -r, --rate HZ       write the files at this sample rate, 8000 .. 768000\n"
     "                      (converted with libsamplerate's best sinc after the\n"
     "                      render; default: the graph's rate)\n"
     "      --dither D      tpdf (default: +-1 LSB triangular dither before\n"
     "                      rounding to pcm16 or pcm24, a seed of its own per\n"
     "                      file, the same bytes every run) or none\n"
     "      --allow-non-null  stems that do not add up to the mix are reported,\n"
     "                      but the exit status stays 0 (else it is 4)\n"
     "  -m, --master T      master the final profile to a loudness target first\n"
     "                      (measure and correct until within 0.3 LU, true peak\n"
     "                      at or below the ceiling; delivered last): streaming\n"
     "                      (-14 LUFS, -1 dBTP), apple-music (-16, -1), ebu-r128\n"
     "                      (-23, -1), club (-8, -0.3), or LUFS[,DBTP] as -11,-0.5\n"
     "      --json          print one JSON document describing every file written\n"
     "  -q, --quiet         print nothing on stdout (errors still go to stderr)\n"
     "  -h, --help          this help\n"
     "\n"
     "A progress bar with the time remaining is drawn on stderr when stderr is\n"
     "a terminal (never otherwise, and never with --quiet).\n"
     "\n"
     "Example:\n"
     "  mixstage render song.mixstage.json --profile mix-stems --out stems\n"},
    {"info", cli_cmd_info, "describe a graph file: strips, routing, roles, latency, profiles",
     "Usage: mixstage info FILE.json [--json]\n"
     "\n"
     "Loads (and so validates) a graph file and describes it: rate, tempo,\n"
     "length (program and rendered with tails), every strip (channels, source,\n"
     "inserts with role and type, sends, sidechain keys, automation, output),\n"
     "the buses and their routing, the latency the graph compensates, and what\n"
     "each profile (the built-ins and the file's own) would keep, bypass and\n"
     "mute, in the words of the stem rules.\n"
     "\n"
     "Options:\n"
     "      --json      print one JSON document instead; a file that does not\n"
     "                  load gives {\"status\": \"invalid\", \"error\": ...}\n"
     "  -h, --help      this help\n"},
    {"analyze", cli_cmd_analyze, "measure audio files: loudness, peaks, RMS, stereo image",
     "Usage: mixstage analyze FILE... [--json]\n"
     "\n"
     "Measures each audio file (anything libsndfile reads) at its own rate:\n"
     "integrated loudness, short-term and momentary maximum, loudness range\n"
     "(ITU-R BS.1770-4 / EBU R128 via libebur128), sample and true peak, RMS,\n"
     "crest factor, DC offset and clipped samples per channel, and for two or\n"
     "more channels the correlation, balance and mid/side levels of channels 1\n"
     "and 2.  Silence reads -inf (null in JSON); a figure that does not apply\n"
     "reads n/a (null).\n"
     "\n"
     "Options:\n"
     "      --json      print one JSON document instead\n"
     "  -h, --help      this help\n"
     "\n"
     "Analyze also accepts the spelling `analyse`.\n"},
    {"compare", cli_cmd_compare, "loudness-matched A/B of a reference A and a mix B",
     "Usage: mixstage compare A B [--pair DIR] [--json]\n"
     "\n"
     "Compares the mix B against the reference A the way a loudness-matched\n"
     "A/B hears them: the gain that matches B to A's integrated loudness, the\n"
     "differences (B - A) in loudness, loudness range, crest factor, stereo\n"
     "width and correlation, and the tonal balance per octave (31.5 Hz .. 16\n"
     "kHz) as the files are and after matching.  B is read at A's rate.\n"
     "\n"
     "Options:\n"
     "      --pair DIR  also write DIR/A.wav and DIR/B.wav, the louder one turned\n"
     "                  down to the quieter one's loudness (never up, so the pair\n"
     "                  cannot clip), for listening\n"
     "      --json      print one JSON document instead\n"
     "  -h, --help      this help\n"},
    {"profiles", cli_cmd_profiles, "list the render profiles and what each does per role",
     "Usage: mixstage profiles [FILE.json] [--json | --names]\n"
     "\n"
     "Lists the built-in render profiles (production, mix-stems, final) and,\n"
     "given a graph file, its custom profiles: for every role what the profile\n"
     "keeps, bypasses and mutes, and what it delivers.  With a file the roles\n"
     "are named by the stages of that file that carry them.\n"
     "\n"
     "Options:\n"
     "      --json      print one JSON document instead\n"
     "      --names     print only the profile names, one a line (for scripts\n"
     "                  and shell completion)\n"
     "  -h, --help      this help\n"},
    {"assess", cli_cmd_assess, "assess a mix: mono compatibility, phase between strips, masking",
     "Usage: mixstage assess FILE.json [--max-lag MS] [--top N] [--json]\n"
     "\n"
     "Bounces every strip as it sounds in the mix (the mix-stems profile) and\n"
     "the production mix, then reports: the mix's mono compatibility\n"
     "(correlation, the level lost when folded to mono, side/mid, balance);\n"
     "every pair of strips that is strongly correlated (|r| >= 0.5) with its\n"
     "time offset and polarity (two microphones on one drum, a flipped cable);\n"
     "and the pairs of strips ranked by masking, with the 1/3-octave band where\n"
     "they compete most.\n"
     "\n"
     "Options:\n"
     "      --max-lag MS    largest time offset searched, 0.1 .. 1000 ms (default 20)\n"
     "      --top N         masking pairs listed in text (default 5; --json has all)\n"
     "      --json          print one JSON document instead\n"
     "  -q, --quiet         print nothing on stdout\n"
     "  -h, --help          this help\n"},
    {"gain-stage", cli_cmd_gain_stage, "suggest (or apply) clip gains that bring every source to working level",
     "Usage: mixstage gain-stage FILE.json [--target-rms DBFS] [--max-peak DBFS]\n"
     "                          [--write OUT.json] [--json]\n"
     "\n"
     "Measures every strip's source as it enters the strip (inserts bypassed,\n"
     "faders at 0 dB) and gives the clip gain that brings it to the target RMS\n"
     "with its peaks at or below the peak limit, flagging sources that clip or\n"
     "are too quiet (below -50 dBFS RMS).\n"
     "\n"
     "Options:\n"
     "      --target-rms DBFS  RMS target, -60 .. 0 (default -18)\n"
     "      --max-peak DBFS    sample peaks at or below this, -60 .. 0 (default -6)\n"
     "  -w, --write OUT.json   apply the clip gains and save the graph file there\n"
     "      --json             print one JSON document instead\n"
     "  -q, --quiet            print nothing on stdout\n"
     "  -h, --help             this help\n"},
    {"master", cli_cmd_master, "master songs (or an album) to a loudness target, with the streaming report",
     "Usage: mixstage master SONG... [--album] [--target T] [--out DIR] [options]\n"
     "\n"
     "Masters each SONG to a loudness target and true-peak ceiling and writes\n"
     "it to DIR/<song>.wav.  A SONG is a graph file whose mix bus holds a\n"
     "limiter of role mastering, or an audio file (it is played through a\n"
     "mastering limiter at its own rate).  The limiter's input gain is searched\n"
     "until the integrated loudness is within 0.3 LU of the target with the\n"
     "true peak at or below the ceiling (BS.1770-4).  With --album the songs\n"
     "are mastered as one record: every song moves by the same gain, so their\n"
     "relative loudness is kept, and the album as a whole meets the target.\n"
     "Each result says what the streaming services would do with it.\n"
     "\n"
     "Options:\n"
     "      --album         master the songs together (two or more)\n"
     "  -T, --target T      streaming (default: -14 LUFS, -1 dBTP), apple-music\n"
     "                      (-16, -1), ebu-r128 (-23, -1), club (-8, -0.3), or\n"
     "                      LUFS[,DBTP] such as -11,-0.5\n"
     "  -o, --out DIR       output directory (default: mixstage-master)\n"
     "  -f, --format F      wav (default), aiff or flac\n"
     "  -s, --sample-type T pcm24 (default), pcm16 or float32\n"
     "  -r, --rate HZ       write at this sample rate (default: the song's)\n"
     "      --dither D      tpdf (default) or none\n"
     "  -t, --threads N     render threads, 1 .. 64 (default 1)\n"
     "      --json          print one JSON document instead\n"
     "  -q, --quiet         print nothing on stdout\n"
     "  -h, --help          this help\n"
     "\n"
     "Example:\n"
     "  mixstage master --album 01.wav 02.wav 03.wav --target streaming --out album\n"},
    {"translate", cli_cmd_translate, "previews of a mix on a laptop, phone, earbuds, in a car, in a club",
     "Usage: mixstage translate MIX [--to SYSTEMS] [--out DIR] [options]\n"
     "\n"
     "Renders the mix (an audio file, or a graph file's production mix)\n"
     "through models of playback systems and writes one preview per system,\n"
     "DIR/<mix>-<system>.wav, measured: laptop (no lows below ~180 Hz, narrow),\n"
     "phone (one tiny speaker: mono, 500 Hz .. 12 kHz, loudness compressor),\n"
     "earbuds (bass lifted, ear-canal peak), car (cabin gain, off-centre\n"
     "seat), club (subs in mono below 100 Hz, air absorption).  See\n"
     "include/mixstage/translate.h for each model.\n"
     "\n"
     "Options:\n"
     "      --to SYSTEMS    comma-separated: laptop, phone, earbuds, car, club,\n"
     "                      or all (default all)\n"
     "  -o, --out DIR       output directory (default: mixstage-translate)\n"
     "  -f, --format F      wav (default), aiff or flac\n"
     "  -s, --sample-type T pcm24 (default), pcm16 or float32 (the models may\n"
     "                      boost peaks above full scale: float32 keeps them)\n"
     "  -r, --rate HZ       write at this sample rate (default: the mix's)\n"
     "      --dither D      tpdf (default) or none\n"
     "      --json          print one JSON document instead\n"
     "  -q, --quiet         print nothing on stdout\n"
     "  -h, --help          this help\n"
     "\n"
     "Example:\n"
     "  mixstage translate final/mix.wav --to phone,car --out previews\n"},
    {"demo", cli_cmd_demo, "write the demo song as a graph file and render it",
     "Usage: mixstage demo [--out DIR] [--no-render] [--compact S] [options]\n"
     "\n"
     "Writes the built-in demo song (8 bars at 120 BPM with every role in use)\n"
     "as DIR/demo-song.mixstage.json plus its synthesised sources in\n"
     "DIR/sources/, then renders the three built-in profiles from that file\n"
     "exactly as `mixstage render DIR/demo-song.mixstage.json --master streaming\n"
     "--out DIR` does: DIR/production/, DIR/mix-stems/ and DIR/final/, the\n"
     "final master at -14 LUFS, -1 dBTP.\n"
     "\n"
     "Options:\n"
     "  -o, --out DIR       output directory (default: mixstage-demo)\n"
     "  -m, --master T      the final master's target (default streaming; see\n"
     "                      mixstage help render)\n"
     "      --no-master     deliver final as the graph is set, without a target\n"
     "      --no-render     only write the graph file and its sources\n"
     "      --compact S     write the sources as 16-bit FLAC holding the first S\n"
     "                      seconds (1 .. 16), as examples/demo-song/ ships them\n"
     "  -t, --threads N     render threads, 1 .. 64 (default 1)\n"
     "      --json          print one JSON document instead\n"
     "  -q, --quiet         print nothing on stdout\n"
     "  -h, --help          this help\n"},
    {"nodes", cli_cmd_nodes, "list the node types and their parameters (from the library)",
     "Usage: mixstage nodes [TYPE] [--json | --man | --names]\n"
     "\n"
     "Lists every node type an insert can use (or only TYPE) with its\n"
     "description, whether it takes a sidechain key, and each parameter: name\n"
     "(as a graph file spells it), label, range with unit (or the choices),\n"
     "default, and whether it can be automated.  The listing is read from the\n"
     "library itself, so it always matches what graph files accept.\n"
     "\n"
     "Options:\n"
     "      --json      print one JSON document instead\n"
     "      --man       print the listing as man-page source (roff); the build\n"
     "                  puts it in mixstage(1)\n"
     "      --names     print only the type names, one a line (for scripts and\n"
     "                  shell completion)\n"
     "  -h, --help      this help\n"
     "\n"
     "Example:\n"
     "  mixstage nodes compressor\n"},
    {"help", NULL, "show the help of a command", "Usage: mixstage help [COMMAND]\n"},
};
enum { NCOMMANDS = (int)(sizeof COMMANDS / sizeof COMMANDS[0]) };

static const cli_command *find_command(const char *name) {
  if (!strcmp(name, "analyse")) name = "analyze";
  for (int i = 0; i < NCOMMANDS; i++)
    if (!strcmp(COMMANDS[i].name, name)) return &COMMANDS[i];
  return NULL;
}

static void print_main_help(void) {
  printf("Usage: mixstage COMMAND [ARGS...]\n"
         "       mixstage help COMMAND | mixstage COMMAND --help\n"
         "       mixstage --version\n"
         "\n"
         "Renders, inspects and measures libmixstage graph files: the mix, the\n"
         "mix stems and the master of a song, by the stem rules.\n"
         "\n"
         "Commands:\n");
  for (int i = 0; i < NCOMMANDS; i++) printf("  %-11s %s\n", COMMANDS[i].name, COMMANDS[i].summary);
  printf("\nEvery command takes --json (one JSON document on stdout) and --help.\n"
         "Errors go to stderr, prefixed \"mixstage: \".\n\n%s\n"
         "Example:\n"
         "  mixstage demo --out demo && mixstage info demo/demo-song.mixstage.json\n"
         "\nSee mixstage(1) for more.\n",
         EXIT_CODES);
}

int cli_print_help(const char *command) {
  if (!command) {
    print_main_help();
    return CLI_EXIT_OK;
  }
  const cli_command *c = find_command(command);
  if (!c) return cli_usage_error(NULL, "no command '%s'", command);
  printf("%s\n%s", c->help, EXIT_CODES);
  return CLI_EXIT_OK;
}

int cli_help_requested(int argc, char **argv) {
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--")) break;
    if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) return 1;
  }
  return 0;
}

/* ---- messages ------------------------------------------------------------------ */

/* "mixstage: <message>" on stderr, after anything pending on stdout. */
static void vmessage(const char *fmt, va_list ap) {
  fflush(stdout);
  fputs("mixstage: ", stderr);
  vfprintf(stderr, fmt, ap);
}

void cli_error(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vmessage(fmt, ap);
  va_end(ap);
  fputc('\n', stderr);
}

int cli_usage_error(const char *command, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vmessage(fmt, ap);
  va_end(ap);
  fprintf(stderr, "\nTry 'mixstage help%s%s'.\n", command ? " " : "", command ? command : "");
  return CLI_EXIT_USAGE;
}

/* ---- options ------------------------------------------------------------------ */

/* Matches argv[*i] against "--lng VALUE", "--lng=VALUE", "-s VALUE" or
 * "-sVALUE".  Returns 1 (value set, *i advanced past it), 0 (no match) or
 * -1 (the option is there but its value is missing). */
int cli_take_value(int argc, char **argv, int *i, const char *lng, const char *shrt,
                   const char **value) {
  const char *a = argv[*i];
  size_t n = strlen(lng);
  if (!strncmp(a, lng, n) && a[n] == '=') {
    *value = a + n + 1;
    return 1;
  }
  int match = !strcmp(a, lng);
  if (shrt && !match) {
    size_t m = strlen(shrt);
    if (!strncmp(a, shrt, m) && a[m]) {
      *value = a + m;
      return 1;
    }
    match = !strcmp(a, shrt);
  }
  if (!match) return 0;
  if (*i + 1 >= argc) return -1;
  *value = argv[++*i];
  return 1;
}

int cli_parse_dither(const char *s, int *out) {
  if (!strcmp(s, "tpdf")) return *out = 1, 0;
  if (!strcmp(s, "none")) return *out = 0, 0;
  return -1;
}

int cli_parse_int(const char *s, int lo, int hi, int *out) {
  char *end;
  errno = 0;
  long v = strtol(s, &end, 10);
  if (errno || end == s || *end || v < lo || v > hi) return -1;
  *out = (int)v;
  return 0;
}

/* ---- output helpers ------------------------------------------------------------- */

/* JSON has no infinities or NaN: silence (-inf) and "does not apply" (NaN)
 * are both written as null, as the manifests do. */
json_t *cli_num(double v) { return isfinite(v) ? json_real(v) : json_null(); }

int cli_print_json(json_t *doc) {
  int rc = json_dumpf(doc, stdout, JSON_INDENT(2) | JSON_REAL_PRECISION(10));
  fputc('\n', stdout);
  json_decref(doc);
  if (rc != 0 || fflush(stdout) != 0) {
    cli_error("cannot write to stdout: %s", strerror(errno));
    return -1;
  }
  return 0;
}

int cli_print_json_error(const char *command, const char *file, int exit_status, int err, const char *msg) {
  json_t *o = json_object();
  json_object_set_new(o, "command", json_string(command));
  if (file) json_object_set_new(o, "file", json_string(file));
  json_object_set_new(o, "status", json_string(exit_status == CLI_EXIT_INVALID ? "invalid" : "failed"));
  if (err < 0) json_object_set_new(o, "code", json_string(mixstage_err_name(err)));
  json_object_set_new(o, "error", json_string(msg));
  json_object_set_new(o, "exit_status", json_integer(exit_status));
  return cli_print_json(o);
}

mixstage_graphfile *cli_load_graphfile(const char *command, const char *path, const cli_common *c,
                                       int *exit_code) {
  char msg[1024];
  int err;
  mixstage_graphfile *doc = mixstage_graphfile_load(path, NULL, msg, sizeof msg, &err);
  if (doc) return doc;
  if (!msg[0]) snprintf(msg, sizeof msg, "%s: %s", path, mixstage_strerror(err));
  cli_hint_load_error(msg, sizeof msg);
  cli_error("%s", msg);
  *exit_code = err == MIXSTAGE_ENOMEM ? CLI_EXIT_FAILED : CLI_EXIT_INVALID;
  if (c->json) cli_print_json_error(command, path, *exit_code, err, msg);
  return NULL;
}

int cli_write_option(const char *cmd, int argc, char **argv, int *i, mixstage_write_config *w) {
  const char *v;
  int t;
  if ((t = cli_take_value(argc, argv, i, "--format", "-f", &v))) {
    int ok = 0;
    for (int f = 0; t > 0 && mixstage_file_format_name(f); f++)
      if (!strcmp(v, mixstage_file_format_name(f))) w->format = f, ok = 1;
    return ok ? 1 : 10 + cli_usage_error(cmd, "%s: --format is wav, aiff or flac", cmd);
  }
  if ((t = cli_take_value(argc, argv, i, "--sample-type", "-s", &v))) {
    int ok = 0;
    for (int s = 0; t > 0 && mixstage_sample_type_name(s); s++)
      if (!strcmp(v, mixstage_sample_type_name(s))) w->sample_type = s, ok = 1;
    return ok ? 1 : 10 + cli_usage_error(cmd, "%s: --sample-type is pcm16, pcm24 or float32", cmd);
  }
  if ((t = cli_take_value(argc, argv, i, "--rate", "-r", &v))) {
    int hz;
    if (t < 0 || cli_parse_int(v, 8000, 768000, &hz) < 0)
      return 10 + cli_usage_error(cmd, "%s: --rate takes a sample rate in Hz, 8000 .. 768000", cmd);
    w->output_rate = hz;
    return 1;
  }
  if ((t = cli_take_value(argc, argv, i, "--dither", NULL, &v))) {
    if (t < 0 || cli_parse_dither(v, &w->dither) < 0)
      return 10 + cli_usage_error(cmd, "%s: --dither is tpdf or none", cmd);
    return 1;
  }
  return 0;
}

const char *cli_extension(int format) {
  return format == MIXSTAGE_FORMAT_AIFF ? "aiff" : format == MIXSTAGE_FORMAT_FLAC ? "flac" : "wav";
}

json_t *cli_stats_json(const char *path, const mixstage_file_stats *s) {
  json_t *o = json_object();
  json_object_set_new(o, "path", json_string(path));
  json_object_set_new(o, "frames", json_integer(s->frames));
  json_object_set_new(o, "seconds", json_real(s->seconds));
  json_object_set_new(o, "sample_rate", json_real(s->sample_rate));
  json_object_set_new(o, "channels", json_integer(s->channels));
  json_object_set_new(o, "peak_dbfs", cli_num(s->peak_dbfs));
  json_object_set_new(o, "true_peak_dbtp", cli_num(s->true_peak_dbtp));
  json_object_set_new(o, "integrated_lufs", cli_num(s->integrated_lufs));
  json_object_set_new(o, "loudness_range_lu", cli_num(s->loudness_range_lu));
  json_object_set_new(o, "clipped_samples", json_integer(s->clipped_samples));
  char sum[32];
  snprintf(sum, sizeof sum, "fnv1a64:%016llx", (unsigned long long)s->checksum);
  json_object_set_new(o, "checksum", json_string(sum));
  return o;
}

/* "-14.2 LUFS", "-inf dBFS", "n/a". */
const char *cli_db(char *buf, size_t size, double v, const char *unit) {
  if (isnan(v)) snprintf(buf, size, "n/a");
  else if (isinf(v)) snprintf(buf, size, "%sinf %s", v < 0 ? "-" : "+", unit);
  else snprintf(buf, size, "%.1f %s", v, unit);
  return buf;
}

double cli_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* mkdir -p. */
int cli_mkdirs(const char *path) {
  char buf[4096];
  size_t n = strlen(path);
  if (n == 0 || n >= sizeof buf) {
    errno = ENAMETOOLONG;
    return -1;
  }
  memcpy(buf, path, n + 1);
  for (char *p = buf + 1; *p; p++) {
    if (*p != '/') continue;
    *p = 0;
    if (mkdir(buf, 0777) != 0 && errno != EEXIST) return -1;
    *p = '/';
  }
  if (mkdir(buf, 0777) != 0 && errno != EEXIST) return -1;
  struct stat st;
  if (stat(buf, &st) != 0) return -1;
  if (!S_ISDIR(st.st_mode)) {
    errno = ENOTDIR;
    return -1;
  }
  return 0;
}

/* Edit distance (insertions, deletions, substitutions, swaps of two
 * neighbours), case-insensitive, capped at 32 characters. */
static int edit_distance(const char *a, const char *b) {
  enum { MAX = 33 };
  size_t n = strlen(a), m = strlen(b);
  if (n >= MAX || m >= MAX) return MAX;
  int d[MAX][MAX];
  for (size_t i = 0; i <= n; i++) d[i][0] = (int)i;
  for (size_t j = 0; j <= m; j++) d[0][j] = (int)j;
  for (size_t i = 1; i <= n; i++)
    for (size_t j = 1; j <= m; j++) {
      int cost = tolower((unsigned char)a[i - 1]) != tolower((unsigned char)b[j - 1]);
      int v = d[i - 1][j - 1] + cost;
      if (d[i - 1][j] + 1 < v) v = d[i - 1][j] + 1;
      if (d[i][j - 1] + 1 < v) v = d[i][j - 1] + 1;
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] && d[i - 2][j - 2] + 1 < v)
        v = d[i - 2][j - 2] + 1;
      d[i][j] = v;
    }
  return d[n][m];
}

const char *cli_did_you_mean(const char *word, const char *const *names, int n, char *buf, size_t size) {
  int best = -1, bestd = 0;
  for (int i = 0; i < n; i++) {
    int d = edit_distance(word, names[i]);
    if (best < 0 || d < bestd) best = i, bestd = d;
  }
  /* A third of the word wrong (at least one letter) is still a typo. */
  size_t len = strlen(word);
  int limit = len < 6 ? 1 : (int)(len / 3);
  if (best >= 0 && bestd <= limit) snprintf(buf, size, " (did you mean '%s'?)", names[best]);
  else if (size) buf[0] = 0;
  return buf;
}

/* The quoted word after @p prefix in @p msg ("no node type \"" -> the type),
 * or 0 if the message has no such part. */
static int quoted_after(const char *msg, const char *prefix, char *word, size_t size) {
  const char *p = strstr(msg, prefix);
  if (!p) return 0;
  p += strlen(prefix);
  const char *q = strchr(p, '"');
  if (!q || (size_t)(q - p) >= size) return 0;
  memcpy(word, p, (size_t)(q - p));
  word[q - p] = 0;
  return 1;
}

void cli_hint_load_error(char *msg, size_t size) {
  char word[128], hint[160] = "";
  const char *names[64];
  int n = 0;
  if (quoted_after(msg, "no node type \"", word, sizeof word)) {
    while (n < 64 && mixstage_node_type_name(n)) names[n] = mixstage_node_type_name(n), n++;
  } else if (quoted_after(msg, "no profile named \"", word, sizeof word)) {
    while (n < 64 && mixstage_profile_builtin(n)) names[n] = mixstage_profile_name(mixstage_profile_builtin(n)), n++;
  } else {
    /* '"X" is not a role': the word is the last quoted one before it. */
    const char *end = strstr(msg, "\" is not a role");
    if (!end) return;
    const char *start = end;
    while (start > msg && start[-1] != '"') start--;
    if (start == msg || (size_t)(end - start) >= sizeof word) return;
    memcpy(word, start, (size_t)(end - start));
    word[end - start] = 0;
    while (n < MIXSTAGE_ROLE_COUNT) names[n] = mixstage_role_name(n), n++;
    if (!cli_did_you_mean(word, names, n, hint, sizeof hint)[0]) {
      /* No near miss: list the roles. */
      size_t l = (size_t)snprintf(hint, sizeof hint, " (roles:");
      for (int i = 0; i < n && l < sizeof hint; i++)
        l += (size_t)snprintf(hint + l, sizeof hint - l, " %s", names[i]);
      if (l < sizeof hint) snprintf(hint + l, sizeof hint - l, ")");
    }
    n = 0;
  }
  if (n) cli_did_you_mean(word, names, n, hint, sizeof hint);
  size_t len = strlen(msg);
  if (hint[0] && len + strlen(hint) < size) memcpy(msg + len, hint, strlen(hint) + 1);
}

int cli_cpu_count(void) {
  long n = sysconf(_SC_NPROCESSORS_ONLN);
  return n < 1 ? 1 : n > 256 ? 256 : (int)n;
}

/* ---- main ------------------------------------------------------------------------- */

int main(int argc, char **argv) {
  if (argc < 2) {
    print_main_help();
    return CLI_EXIT_USAGE;
  }
  const char *cmd = argv[1];
  if (!strcmp(cmd, "--help") || !strcmp(cmd, "-h")) return cli_print_help(NULL);
  if (!strcmp(cmd, "--version") || !strcmp(cmd, "-V")) {
    printf("mixstage (libmixstage) %s\n", mixstage_version_string());
    return CLI_EXIT_OK;
  }
  if (!strcmp(cmd, "help")) {
    if (argc > 3) return cli_usage_error(NULL, "help takes at most one command");
    return cli_print_help(argc == 3 ? argv[2] : NULL);
  }
  const cli_command *c = find_command(cmd);
  if (!c || !c->run) {
    if (cmd[0] == '-') return cli_usage_error(NULL, "unknown option '%s' (a command comes first)", cmd);
    return cli_usage_error(NULL, "unknown command '%s'", cmd);
  }
  if (cli_help_requested(argc - 1, argv + 1)) return cli_print_help(c->name);
  return c->run(argc - 1, argv + 1);
}
