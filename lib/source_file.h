/* libmixstage internal: file sources that stream (source_file.c).
 *
 * A strip's file source reads the file block by block and converts its rate
 * in streaming mode, in memory that does not grow with the file's length.
 * Offline renders read synchronously on the thread that runs the strip; the
 * real-time path (mixstage_graph_process) reads only a lock-free ring that
 * the graph's reader thread fills ahead of it.  Which of the two applies is
 * switched by mixstage__file_sources_offline() around every offline render. */
#ifndef MIXSTAGE_SOURCE_FILE_H
#define MIXSTAGE_SOURCE_FILE_H

#include <stddef.h>
#include <stdint.h>

typedef struct mixstage__file_source mixstage__file_source;
typedef struct mixstage__file_reader mixstage__file_reader;
struct mixstage_graph;
struct mixstage__allocator;

/* Edit-time.  Opens @p path (refusing FIFOs and devices), reads its header
 * and prepares a converter to @p rate.  *length receives the source's length
 * at that rate, exactly as the whole-file reader computes it.  Errors as
 * mixstage_audio_read(); err holds "file 'PATH': why". */
int mixstage__file_source_open(struct mixstage_graph *g, const char *path, double rate,
                               mixstage__file_source **out, int *channels, int64_t *length, char *err,
                               size_t errlen);
/* Edit-time: unregisters from the reader (waiting for it to let go) and frees. */
void mixstage__file_source_close(struct mixstage_graph *g, mixstage__file_source *fs);
/* Edit-time: the graph's reader thread serves this source in real time.
 * Starts the thread with the first source.  MIXSTAGE_OK or an error. */
int mixstage__file_source_attach(struct mixstage_graph *g, mixstage__file_source *fs);
/* Stops the reader thread and frees it (graph destruction).  Accepts NULL. */
void mixstage__file_reader_destroy(struct mixstage_graph *g);

/* Frames f .. f+n-1 of the source into planar[0 .. channels-1], silence
 * past the end and wherever the data is missing (an error, or in real time
 * an underrun, which is counted).  Render-time in real time (atomics and
 * copies only); synchronous file reads offline.  Returns 1 when the file stores floats,
 * which may hold NaN or infinity (the caller then checks the chunk). */
int mixstage__file_source_read(mixstage__file_source *fs, float *const *planar, int64_t f, int n);

/* Edit-time, around an offline render: on = 1 moves every file source of
 * the graph to synchronous reads (the reader thread lets go of them) and
 * checks that no file changed since it was opened; on = 0 hands them back.
 * Returns MIXSTAGE_OK or the first source's error (then g's last error
 * names the strip and the file). */
int mixstage__file_sources_offline(struct mixstage_graph *g, int on);
/* Cheap, during a render: 1 when some file source has failed. */
int mixstage__file_sources_failed(struct mixstage_graph *g);
/* The first file source error as a status, with g's last error naming the
 * strip and the file; MIXSTAGE_OK if none. */
int mixstage__file_sources_check(struct mixstage_graph *g);

#endif
