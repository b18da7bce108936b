#!/bin/sh
# Every seed of the fuzz corpora (tests/fuzz/corpus/<harness>/), crashes
# found earlier among them, run through its harness without libFuzzer.
set -e
: "${top_srcdir:=.}" "${top_builddir:=.}"
for h in graphfile audio_read; do
  "$top_builddir/tests/fuzz/replay_$h" "$top_srcdir/tests/fuzz/corpus/$h" >"$top_builddir/tests/fuzz/replay_$h.out" || {
    tail -n 5 "$top_builddir/tests/fuzz/replay_$h.out"
    echo "fuzz corpus: harness $h failed (the last input named above)"
    exit 1
  }
  tail -n 1 "$top_builddir/tests/fuzz/replay_$h.out"
done
