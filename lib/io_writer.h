/* A file written as it is produced (io.c): the streaming form of
 * mixstage_audio_write(), which is built on it, so both give the same bytes
 * and the same measurements for the same frames however they are split. */
#ifndef MIXSTAGE_IO_WRITER_H
#define MIXSTAGE_IO_WRITER_H

#include <stddef.h>
#include <stdint.h>
#include "mixstage/io.h"

typedef struct mixstage__writer mixstage__writer;

/* Opens @p path for writing at @p rate (an integer rate: no conversion),
 * through a hidden temporary file next to it.  @p frames_hint is an upper
 * bound of the frames to come: it only chooses RF64 over WAV for huge
 * files.  Memory: one conversion chunk, whatever the length. */
int mixstage__writer_open(mixstage__writer **out, const char *path, int channels, double rate,
                          int64_t frames_hint, const mixstage_write_config *cfg, char *err, size_t errlen);
/* Quantises (dither as configured), measures and writes interleaved frames. */
int mixstage__writer_write(mixstage__writer *w, const float *data, int64_t frames, char *err, size_t errlen);
/* Flushes, fsyncs and renames the file into place; fills @p stats (may be
 * NULL); frees @p w whatever the outcome (on failure nothing is left). */
int mixstage__writer_finish(mixstage__writer *w, mixstage_file_stats *stats, char *err, size_t errlen);
/* Removes the temporary file and frees @p w; accepts NULL. */
void mixstage__writer_abort(mixstage__writer *w);

/* Frames of a delivery's held quiet tail that wait in memory before the
 * rest waits in a spill file beside the staged writers' files (deliver.c;
 * negative: the default, 16384).  For tests; not thread-safe against a
 * running delivery. */
void mixstage__deliver_hold_memory(int64_t frames);

#endif
