#!/bin/sh
# Runs the libFuzzer harnesses of a fuzzer build, each for a bounded time.
#
# usage: tests/fuzz/run.sh BUILDDIR [HARNESS...]
#   BUILDDIR  a build configured with CC=clang-22 (--enable-fuzzers), in
#             which `make fuzzers` has been run
#   HARNESS   graphfile, audio_read (default: both)
# environment:
#   MIXSTAGE_FUZZ_SECONDS  time per harness (default 60)
#   MIXSTAGE_FUZZ_WORK     where new corpus entries and crash files go
#                          (default BUILDDIR/fuzz-work); the seed corpora in
#                          tests/fuzz/corpus/ are read, never written
#   MIXSTAGE_FUZZ_ARGS     more libFuzzer options, e.g. "-jobs=4 -workers=4"
#
# Exit status: the number of harnesses that failed (a crash, a leak, a
# sanitizer report, a broken invariant of the harness, a timeout).  A crash
# leaves its input as WORK/<harness>/crash-*; replay it with
#   BUILDDIR/tests/fuzz/fuzz_<harness> WORK/<harness>/crash-*
# and, once fixed, add it to tests/fuzz/corpus/<harness>/ as a seed.
set -u
build=${1:?usage: run.sh BUILDDIR [HARNESS...]}
shift
here=$(cd "$(dirname "$0")" && pwd)
secs=${MIXSTAGE_FUZZ_SECONDS:-60}
work=${MIXSTAGE_FUZZ_WORK:-$build/fuzz-work}
[ $# -gt 0 ] || set -- graphfile audio_read
failed=0
for h in "$@"; do
  bin=$build/tests/fuzz/fuzz_$h
  if [ ! -x "$bin" ]; then
    echo "fuzz $h: $bin is missing (configure with CC=clang-22, then make fuzzers)" >&2
    failed=$((failed + 1))
    continue
  fi
  mkdir -p "$work/$h/corpus" || exit 1
  case $h in
    audio_read) maxlen=16384 ;;
    *) maxlen=65536 ;;
  esac
  echo "fuzz $h: $secs s (log: $work/$h/log)"
  # The first corpus directory receives new inputs; the seeds are read only.
  # shellcheck disable=SC2086 # MIXSTAGE_FUZZ_ARGS is a list of options
  if ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1} \
     UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1} \
     "$bin" -max_total_time="$secs" -timeout=60 -rss_limit_mb=2560 -max_len=$maxlen \
       -print_final_stats=1 -artifact_prefix="$work/$h/" ${MIXSTAGE_FUZZ_ARGS:-} \
       "$work/$h/corpus" "$here/corpus/$h" >"$work/$h/log" 2>&1; then
    grep -E '^stat::number_of_executed_units|^Done [0-9]+ runs' "$work/$h/log" | tail -n 1 | sed "s/^/fuzz $h: /"
  else
    failed=$((failed + 1))
    grep -E 'ERROR|SUMMARY|^ *#[0-9]+ |Test unit written' "$work/$h/log" | head -n 30
    echo "fuzz $h: FAILED (log: $work/$h/log)"
  fi
done
exit $failed
