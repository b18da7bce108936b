/* libmixstage — the built-in demo song.
 *
 * Tutorial
 * --------
 * An 8-bar song at 120 BPM in A minor, synthesised in memory and mixed the
 * way a producer would leave it: kick, clap and hats in a "Drums" group, a
 * bass ducked by the kick (a production sidechain), a pad with its own
 * reverb (role design), a lead sent to a plate reverb and a tempo delay
 * (mix-fx returns), the three mix-bus stages (console colour, glue
 * compressor, placeholder limiter) and a mastering chain.  It exercises
 * every role, so rendering it under the three profiles shows what each keeps,
 * bypasses and mutes:
 *
 *     int err;
 *     mixstage_graph *g = mixstage_demo_song_create(0, &err);   // 48 kHz
 *     if (!g) fprintf(stderr, "%s\n", mixstage_strerror(err));
 *     mixstage_graph_deliver(g, mixstage_profile_find("mix-stems"), "stems", NULL);
 *     mixstage_graph_destroy(g);
 *
 * or as files, for the `mixstage` command or another machine:
 *
 *     char msg[512];
 *     if (mixstage_demo_song_write("demo", 0, msg, sizeof msg) < 0)
 *       fprintf(stderr, "%s\n", msg);   // names the file at fault
 *     // demo/demo-song.mixstage.json and demo/sources/<strip>.wav
 *
 * The synthesis is deterministic (fixed-seed noise, nothing taken from the
 * clock), so one build of the library gives the same samples at a rate
 * every time; another C library's sin() or exp() may differ in the last
 * bit.  The repository ships examples/demo-song/demo-song.mixstage.json as
 * written at 48 kHz, with its first 6 s of sources as 16-bit FLAC
 * (examples/demo-song/sources, made by `mixstage demo --compact 6`) so that
 * it renders as shipped; the whole song's sources come from
 * mixstage_demo_song_write() or `mixstage demo`.
 *
 * mixstage_demo_song_create() and mixstage_demo_song_write() are edit-time:
 * they allocate, and the writer does I/O.
 */
#ifndef MIXSTAGE_DEMO_H
#define MIXSTAGE_DEMO_H

#include <stddef.h>

#include "common.h"
#include "graph.h"

#ifdef __cplusplus
extern "C" {
#endif

/** The built-in demo song as a graph whose strip sources are synthesised in
 *  memory (buffer sources).
 *  @param sample_rate  0 for 48000, else 44100 .. 192000 Hz, whole Hz; the
 *                      sources are synthesised at that rate, not resampled
 *  @param error        receives MIXSTAGE_OK; MIXSTAGE_ERANGE for a rate out
 *                      of range (or NaN); MIXSTAGE_EINVAL for a rate that is
 *                      not a whole number of Hz (a WAV file could not hold
 *                      it); MIXSTAGE_ENOMEM.  May be NULL.
 *  @return the graph (destroy with mixstage_graph_destroy()), or NULL on
 *          error.  Edit-time. */
MIXSTAGE_EXPORT mixstage_graph *mixstage_demo_song_create(double sample_rate, int *error);

/** Writes the demo song as a graph file and its sources:
 *  DIR/demo-song.mixstage.json and DIR/sources/<strip>.wav (32-bit float
 *  WAV, so that rendering the file is bit-identical to rendering
 *  mixstage_demo_song_create() at the same rate).  Creates DIR and
 *  DIR/sources if missing (not their parents).  The sources are written
 *  first and the graph file last, atomically (temporary file, fsync,
 *  rename), so a failure never leaves a graph file that names sources it
 *  failed to write; an existing graph file is replaced only on success.
 *  @param dir          the output directory
 *  @param sample_rate  as mixstage_demo_song_create()
 *  @param err,errlen   optional message buffer naming the file at fault
 *  @return MIXSTAGE_OK; MIXSTAGE_ENULL if dir is NULL; MIXSTAGE_ERANGE and
 *          MIXSTAGE_EINVAL for a rate, as mixstage_demo_song_create();
 *          MIXSTAGE_EIO if a directory or file cannot be created or
 *          written; MIXSTAGE_EINVAL if a path would be longer than 4095
 *          bytes; MIXSTAGE_ENOMEM.  Edit-time (I/O). */
MIXSTAGE_EXPORT int mixstage_demo_song_write(const char *dir, double sample_rate, char *err,
                                             size_t errlen);

/** Seconds of the demo song (its length at any rate): 16.0, eight bars of
 *  4/4 at 120 BPM, the length of every source.  A render runs longer by the
 *  effects' tails.  Thread-safe; real-time safe. */
MIXSTAGE_EXPORT double mixstage_demo_song_seconds(void);

#ifdef __cplusplus
}
#endif
#endif
