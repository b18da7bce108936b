/* libmixstage internal: opening audio files for reading (io.c), shared with
 * the streaming file source (source_file.c). */
#ifndef MIXSTAGE_IO_READ_H
#define MIXSTAGE_IO_READ_H

#include <stddef.h>
#include <sndfile.h>

/* Frames per libsndfile read and per libsamplerate call when a file is
 * converted.  The streaming source repeats the whole-file converter's calls
 * exactly (same input offered, same output room), which is what makes its
 * output bit-identical: both must use this value. */
#define MIXSTAGE__IO_CHUNK 8192

typedef struct mixstage__rfile {
  int fd; /* ours: closed by mixstage__close_read */
  SNDFILE *sf;
  SF_INFO info;
} mixstage__rfile;

/* Opens a regular file for reading with libsndfile (FIFOs, devices and
 * directories are refused without blocking).  On error, err holds
 * "file 'PATH': why" and a MIXSTAGE_E* status is returned. */
int mixstage__open_read(const char *path, mixstage__rfile *f, char *err, size_t errlen);
void mixstage__close_read(mixstage__rfile *f);

#endif
