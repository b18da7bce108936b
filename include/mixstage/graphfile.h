/* libmixstage — graph files: a whole graph as a JSON document.
 *
 * Tutorial
 * --------
 * A graph file describes a graph completely: rate, block size and tempo, the
 * mix bus, group buses and FX returns, channel strips with their source files
 * (paths relative to the graph file), insert chains with roles, bypass and
 * parameters by name, sends, sidechain keys, automation lanes and custom
 * render profiles.  docs/graph-format.md is the reference and
 * docs/graph.schema.json the JSON Schema.
 *
 *     char msg[512];
 *     int err;
 *     mixstage_graph *g = mixstage_graph_load("song.mixstage.json", NULL,
 *                                             msg, sizeof msg, &err);
 *     if (!g) fprintf(stderr, "%s\n", msg);   // "strips[3].inserts[1].params.ratio: ..."
 *
 * The whole file is checked before a graph is returned: on any error nothing
 * is left behind (a partly built graph is destroyed) and the message names
 * the place in the file and the rule broken.
 *
 * Saving reads the whole graph back from the engine (sources through
 * mixstage_strip_source_path(), sidechain keys, automation points), so a
 * graph built in code saves completely with mixstage_graph_save(), and
 * saving a loaded file writes the same canonical bytes.  A source file is
 * written relative to the directory of the file being written when it lies
 * under it, else as an absolute path; buffer and callback sources are
 * written as null.  mixstage_graph_load() gives just the graph; a
 * mixstage_graphfile adds what the engine cannot know: the file's custom
 * profiles, its directory, and paths recorded for strips that play buffers.
 * Saved files are canonical: keys sorted, two-space indentation, containers
 * of plain values on one line, numbers in the shortest form that reads back
 * to the same double, lanes without points left out.
 *
 * Everything here is edit-time: it allocates, reads and writes files.
 */
#ifndef MIXSTAGE_GRAPHFILE_H
#define MIXSTAGE_GRAPHFILE_H

#include <stddef.h>

#include "common.h"
#include "graph.h"
#include "profile.h"

#ifdef __cplusplus
extern "C" {
#endif

/** The format version this library writes; it reads 1 .. this. */
#define MIXSTAGE_GRAPHFILE_VERSION 1

/** A loaded (or wrapped) graph plus what the file says beyond the engine's
 *  getters.  Owns its graph and custom profiles. */
typedef struct mixstage_graphfile mixstage_graphfile;

/** Loads a graph file.
 *  @param path      the file; sources are found relative to its directory
 *  @param override  NULL, or a config whose sample_rate, max_block_frames
 *                   and allocator replace the file's (sources are converted
 *                   to that rate); the file's tempo and mix channels are kept
 *  @param err,errlen  optional message buffer: "JSON.PATH: rule broken"
 *  @param error     receives MIXSTAGE_OK; MIXSTAGE_ENULL (path);
 *                   MIXSTAGE_EIO (cannot read the file);
 *                   MIXSTAGE_EFORMAT (not JSON, or breaks a rule of the
 *                   format: unknown key, wrong type, bad or out-of-range
 *                   value, unknown name, unsupported version);
 *                   MIXSTAGE_ENOTFOUND (a source file is missing);
 *                   MIXSTAGE_ECYCLE (routing or sidechain loop);
 *                   MIXSTAGE_ENOMEM; or an error of mixstage_audio_read()
 *                   for an unreadable source.  May be NULL.
 *  @return the document, or NULL on error.  Edit-time. */
MIXSTAGE_EXPORT mixstage_graphfile *mixstage_graphfile_load(const char *path,
                                                            const mixstage_graph_config *override,
                                                            char *err, size_t errlen, int *error);
/** As mixstage_graphfile_load() from a string; relative source paths are
 *  resolved against @p base_dir (NULL: the current directory). */
MIXSTAGE_EXPORT mixstage_graphfile *mixstage_graphfile_load_string(const char *json,
                                                                   const char *base_dir,
                                                                   const mixstage_graph_config *override,
                                                                   char *err, size_t errlen,
                                                                   int *error);
/** Wraps a graph built in code (ownership passes to the document) so that
 *  source paths and profiles can be attached for saving.
 *  Errors: MIXSTAGE_ENULL, MIXSTAGE_ENOMEM (the graph then stays with the
 *  caller, untouched). */
MIXSTAGE_EXPORT mixstage_graphfile *mixstage_graphfile_wrap(mixstage_graph *graph, int *error);
/** Destroys the document, its graph and its profiles.  Accepts NULL. */
MIXSTAGE_EXPORT void mixstage_graphfile_destroy(mixstage_graphfile *doc);
/** The document's graph (borrowed). */
MIXSTAGE_EXPORT mixstage_graph *mixstage_graphfile_graph(mixstage_graphfile *doc);
/** Takes the graph out of the document, which is destroyed; the caller then
 *  owns the graph (and the file's custom profiles are freed). */
MIXSTAGE_EXPORT mixstage_graph *mixstage_graphfile_release(mixstage_graphfile *doc);

/** The file's custom profiles: count, and the @p index-th (borrowed; NULL
 *  past the end), or by name (NULL if none). */
MIXSTAGE_EXPORT int mixstage_graphfile_profile_count(const mixstage_graphfile *doc);
MIXSTAGE_EXPORT mixstage_profile *mixstage_graphfile_profile(mixstage_graphfile *doc, int index);
MIXSTAGE_EXPORT mixstage_profile *mixstage_graphfile_find_profile(mixstage_graphfile *doc,
                                                                  const char *name);
/** Adds a copy of @p profile (saved with "base": @p base_name, NULL for
 *  "production").  Errors: MIXSTAGE_ENULL, MIXSTAGE_EEXIST, MIXSTAGE_EINVAL
 *  (a built-in name or unknown base), MIXSTAGE_ENOMEM. */
MIXSTAGE_EXPORT int mixstage_graphfile_add_profile(mixstage_graphfile *doc,
                                                   const mixstage_profile *profile,
                                                   const char *base_name);
/** Records the source file of strip @p strip_name as @p path (written as
 *  given; relative paths are relative to the graph file) for a strip that
 *  plays a buffer made from that file.  It does not load the audio.  A file
 *  source the engine knows (mixstage_strip_source_path()) is written instead
 *  when there is one.  Errors: MIXSTAGE_ENULL, MIXSTAGE_ENOTFOUND,
 *  MIXSTAGE_ENOMEM. */
MIXSTAGE_EXPORT int mixstage_graphfile_set_source_path(mixstage_graphfile *doc,
                                                       const char *strip_name, const char *path);

/** The document as canonical JSON (free with mixstage_free()), or NULL on
 *  MIXSTAGE_ENOMEM / MIXSTAGE_ENULL.  Source paths are written relative to
 *  the directory the document was loaded from (as given for a wrapped
 *  graph or a string loaded without a base directory). */
MIXSTAGE_EXPORT char *mixstage_graphfile_to_string(const mixstage_graphfile *doc);
/** Writes the canonical JSON atomically (temporary file, fsync, rename),
 *  source paths relative to the directory of @p path when under it.
 *  Errors: MIXSTAGE_ENULL, MIXSTAGE_EIO, MIXSTAGE_ENOMEM. */
MIXSTAGE_EXPORT int mixstage_graphfile_save(const mixstage_graphfile *doc, const char *path,
                                            char *err, size_t errlen);

/* ---- the graph alone ------------------------------------------------------ */

/** Loads a graph file and returns its graph only (see
 *  mixstage_graphfile_load() for arguments and errors).  The file's custom
 *  profiles are validated, then dropped. */
MIXSTAGE_EXPORT mixstage_graph *mixstage_graph_load(const char *path,
                                                    const mixstage_graph_config *override,
                                                    char *err, size_t errlen, int *error);
MIXSTAGE_EXPORT mixstage_graph *mixstage_graph_load_string(const char *json, const char *base_dir,
                                                           const mixstage_graph_config *override,
                                                           char *err, size_t errlen, int *error);
/** The graph as canonical JSON (free with mixstage_free()): everything,
 *  including sidechain keys and automation lanes.  There is no file to be
 *  relative to, so source paths are written as given to
 *  mixstage_strip_set_source_file() (a relative path is relative to the
 *  current directory, which is what mixstage_graph_load_string() with a
 *  NULL base directory resolves against); buffer and callback sources are
 *  null.  NULL on ENULL/ENOMEM. */
MIXSTAGE_EXPORT char *mixstage_graph_to_string(mixstage_graph *graph);
/** Saves the graph atomically as mixstage_graph_to_string() does, except
 *  that source paths are written relative to the directory of @p path when
 *  the file lies under it, else absolute, so the saved file loads from
 *  anywhere.  Errors: MIXSTAGE_ENULL, MIXSTAGE_EIO, MIXSTAGE_ENOMEM. */
MIXSTAGE_EXPORT int mixstage_graph_save(mixstage_graph *graph, const char *path, char *err,
                                        size_t errlen);

#ifdef __cplusplus
}
#endif
#endif
