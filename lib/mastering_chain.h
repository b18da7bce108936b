/* libmixstage internal: the end of the mix bus's chain run on its own, for
 * the master search (lib/master.c).
 *
 * The search varies only the mastering limiter's settings and the mix-bus
 * fader, so everything before the limiter is the same in every measuring
 * pass.  mixstage__mchain_capture() renders the graph once under the final
 * profile with the limiter and every insert after it bypassed (pure delays)
 * and keeps what reaches the limiter; mixstage__mchain_run() then runs fresh
 * copies of those inserts and the mix bus's fader, pan and mute stage over
 * the captured signal, on the engine's 32-frame control grid and with
 * denormals flushed as the engine does.  Each run equals, bit for bit, the
 * "mix" output of mixstage_graph_bounce(final) with the same settings
 * (tests/check_master.c), at the cost of those few inserts instead of the
 * whole graph.
 *
 * Graphs where a copy of the chain could not reproduce the render are
 * refused with MIXSTAGE_EUNSUPPORTED (and a reason): a sidechain key or an
 * automation lane on an insert of the chain, a lane on the mix bus's fader,
 * pan or width, a placeholder or mastering stage outside the mix bus, a
 * non-finite sample while capturing.  The master falls back to full renders
 * for those.
 *
 * Storage (mixstage__spool): frames of interleaved float, in memory, or in
 * a temporary file in $TMPDIR (else /tmp) that is unlinked as soon as it is
 * created, so nothing is left behind on any exit, a crash or kill included.
 *
 * Everything here is edit-time: it allocates and may do file I/O. */
#ifndef MIXSTAGE_MASTERING_CHAIN_H
#define MIXSTAGE_MASTERING_CHAIN_H

#include <stdint.h>
#include <stdio.h>
#include "mixstage/graph.h"
#include "mixstage/master.h"

/* ---- spool: a sequence of interleaved frames, in memory or on disk -------- */

typedef struct mixstage__spool {
  int channels;
  int64_t frames; /* written so far */
  int64_t cap;    /* memory: frames allocated */
  float *mem;     /* in memory, or NULL */
  size_t mapped;  /* bytes of mem mapped on its own (large spools), 0: malloc'd */
  FILE *file;     /* spilled, or NULL */
  int64_t read_pos;
} mixstage__spool;

/* An empty spool of `channels`; in memory with room for `frames` when
 * in_memory, else in an unlinked temporary file.  Errors: MIXSTAGE_ENOMEM,
 * MIXSTAGE_EIO (why names the folder). */
int mixstage__spool_open(mixstage__spool *s, int channels, int64_t frames, int in_memory, char *why,
                         size_t whylen);
int mixstage__spool_write(mixstage__spool *s, const float *x, int64_t frames);
/* Reading starts again at frame 0. */
int mixstage__spool_rewind(mixstage__spool *s);
/* Reads up to `frames` frames; returns the count (0 at the end) or MIXSTAGE_EIO. */
int64_t mixstage__spool_read(mixstage__spool *s, float *x, int64_t frames);
/* Empties the spool for rewriting (a memory spool keeps its buffer). */
int mixstage__spool_clear(mixstage__spool *s);
/* Hands a memory spool's buffer over (malloc'd, frames x channels) and
 * leaves the spool empty; NULL for a spilled spool. */
float *mixstage__spool_take(mixstage__spool *s);
void mixstage__spool_close(mixstage__spool *s);

/* ---- the chain -------------------------------------------------------------- */

typedef struct mixstage__mchain mixstage__mchain;

/* Captures the input of the mix bus's insert `first` (and the inserts from
 * there on with their current settings) for the render cfg describes.
 * Kept in memory when it takes at most memory_bytes, else spilled.
 * Leaves the graph's settings (profile, bypasses) as they were and the graph
 * unprepared, as a bounce does.
 * Errors: MIXSTAGE_EUNSUPPORTED (why says what stops it; nothing set on the
 * graph), MIXSTAGE_ENUMERIC (a non-finite sample while capturing),
 * MIXSTAGE_ECANCELLED (the progress callback), MIXSTAGE_ENOMEM, MIXSTAGE_EIO,
 * and any prepare error (set on the graph). */
int mixstage__mchain_capture(mixstage_graph *g, int first, const mixstage_render_config *cfg, int64_t memory_bytes,
                             mixstage__mchain **out, char *why, size_t whylen);
void mixstage__mchain_destroy(mixstage__mchain *m);

int64_t mixstage__mchain_frames(const mixstage__mchain *m); /* frames a run delivers */
int mixstage__mchain_channels(const mixstage__mchain *m);
int mixstage__mchain_in_memory(const mixstage__mchain *m);

/* Parameter `id` of the mix bus's insert `index` (>= first) for the next
 * runs, as mixstage_node_set_param() would leave it (validated there). */
int mixstage__mchain_set_param(mixstage__mchain *m, int index, int id, double value);
/* The mix-bus fader for the next runs, dB. */
void mixstage__mchain_set_fader_db(mixstage__mchain *m, double db);

/* Receives the output of a run in order, `frames` (<= 4096) interleaved
 * frames at a time; a negative return stops the run with that status. */
typedef int (*mixstage__mchain_sink)(void *user, const float *x, int frames);

/* Runs fresh copies of the chain over the capture.  Returns MIXSTAGE_OK, the
 * number of chunks a non-finite sample silenced (> 0, as a render's
 * MIXSTAGE_ENUMERIC: the output is still complete), or a negative error. */
int mixstage__mchain_run(mixstage__mchain *m, mixstage__mchain_sink sink, void *user);

/* ---- master.c's internal entry points ---------------------------------------- */

/* mixstage_graph_master() that hands the final master to sink, in order, in
 * blocks of at most 4096 frames, instead of returning it whole: from memory
 * or from the temporary file the passes spilled to, without rendering
 * again.  For a final delivery mastered to a target: write the file from
 * the sink.  On MIXSTAGE_ESTATE (not converged) the best attempt is handed
 * over as mixstage_graph_master() returns it.  Errors as that, plus the
 * sink's negative status and MIXSTAGE_ENULL for a NULL sink. */
int mixstage__graph_master_to(mixstage_graph *graph, const mixstage_master_config *cfg,
                              const mixstage_render_config *render, mixstage_master_report *out,
                              mixstage__mchain_sink sink, void *user);


/* memory_bytes: the capture size up to which a master keeps it in memory
 * (negative: the default, 128 MiB); full_renders: 1 makes every pass a full
 * bounce, as before captures existed.  Not thread-safe against a running
 * master. */
void mixstage__master_tuning(int64_t memory_bytes, int full_renders);
/* Captures made so far (each master or album song that ran on the chain). */
long mixstage__master_capture_count(void);

#endif
