/* libmixstage fuzzing: a private scratch directory for the harnesses.
 * Everything a fuzzed input may make the library read or write lives in
 * it, so no input reaches the rest of the file system. */
#ifndef MIXSTAGE_FUZZ_COMMON_H
#define MIXSTAGE_FUZZ_COMMON_H

#include <stddef.h>
#include <stdint.h>

/* The scratch directory (created on first use, removed at exit), or NULL
 * when it cannot be made. */
const char *fuzz_scratch_dir(void);

/* The harness entry point, as libFuzzer calls it. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#endif
