#!/usr/bin/env bash
# libmixstage: build and run every test.
#   ./scripts/test.sh [--no-distcheck] [--no-sanitizers] [--no-fuzz] [--valgrind]
#
# Stages, each timed (wall clock, and the CPU time, user+sys, of what the
# stage ran: on a shared machine the CPU time is the figure to compare):
#   deps       install missing Debian packages (scripts/deps.sh)
#   build      autoreconf if needed, configure and build in ./build
#   check      make check in ./build: Check suites, script tests, the
#              binding tests and examples that are wired into make check,
#              and the binding re-entry tests under valgrind memcheck
#              (tests/valgrind_reentry_*.sh)
#   asan       ASan+UBSan build in ./build-asan, make check with CK_FORK=no
#   rtsan      clang-22 RealtimeSanitizer build in ./build-rtsan, make check of
#              the suites that drive the real-time path
#   fuzz       clang-22 libFuzzer build under ASan+UBSan in ./build-fuzz;
#              each harness of tests/fuzz/ runs for MIXSTAGE_FUZZ_SECONDS
#              (default 30) from its seed corpus, and counts one pass or
#              one failure (see tests/fuzz/README.md to run them longer);
#              with two or more CPUs the harnesses run side by side
#   valgrind   (only with --valgrind) the Check suites of ./build under
#              valgrind memcheck, CK_FORK=no
#   distcheck  make distcheck in ./build (a quick subset of the tests
#              inside it: see the stage)
#   pkgconfig  examples/pkgconfig_app.c built with cc $(pkg-config ...
#              mixstage) against an installed tree, and run: distcheck's
#              make installcheck does it (Makefile.am: installcheck-local);
#              without distcheck, this stage installs into a temporary
#              prefix and builds it; also checks README.md shows the app
#
# Time: the sanitizer, fuzzer and install builds configure with
# --disable-static (so distcheck): libtool then compiles every library source
# once (PIC) instead of twice (PIC and non-PIC).  The tests link the
# convenience library, built either way from the same sources, so nothing
# they test is lost; the plain build in ./build still builds the static
# library.
#
# Counting: every test that a make check run reports (from automake's .trs
# files) counts once per run; a test that should have run but did not
# (build failure) counts as failed; SKIP counts neither way.  distcheck and
# the pkg-config app count one each; a failed configure or build counts one
# failure.  The last line of output is always "N passed, N failed", and the
# exit status is non-zero if anything failed.
#
# Environment: MIXSTAGE_BUILD_DIR (default "build"; the sanitizer builds use
# "<it>-asan", "<it>-rtsan", "<it>-install"), JOBS (default: CPUs),
# MIXSTAGE_DISTCHECK=0, MIXSTAGE_SANITIZERS=0, MIXSTAGE_FUZZ=0,
# MIXSTAGE_VALGRIND=1 (same as the flags), MIXSTAGE_FUZZ_SECONDS (default 30).
set -euo pipefail

top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=scripts/deps.sh
. "$top/scripts/deps.sh"

bname=${MIXSTAGE_BUILD_DIR:-build}
builddir="$top/$bname"
jobs=${JOBS:-$(nproc 2>/dev/null || echo 2)}
do_distcheck=${MIXSTAGE_DISTCHECK:-1}
do_sanitizers=${MIXSTAGE_SANITIZERS:-1}
do_valgrind=${MIXSTAGE_VALGRIND:-0}
do_fuzz=${MIXSTAGE_FUZZ:-1}
fuzz_secs=${MIXSTAGE_FUZZ_SECONDS:-30}
for arg in "$@"; do
  case $arg in
    --no-distcheck) do_distcheck=0 ;;
    --no-sanitizers) do_sanitizers=0 ;;
    --valgrind) do_valgrind=1 ;;
    --no-fuzz) do_fuzz=0 ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "test.sh: unknown option '$arg' (try --help)" >&2; exit 2 ;;
  esac
done
# Sanitizer runtimes and Check read these; a stray value from the caller's
# environment must not change what this script measures.
unset CK_FORK CK_RUN_SUITE CK_RUN_CASE ASAN_OPTIONS UBSAN_OPTIONS LSAN_OPTIONS RTSAN_OPTIONS \
  MIXSTAGE_SANITIZER 2>/dev/null || true

n_pass=0
n_fail=0
n_skip=0
failures=()
stage_lines=()
t_start=$(date +%s)
finished=0

log() { printf '%s\n' "[test] $*"; }

summary() {
  local rc=$?
  if [ "$finished" != 1 ]; then
    n_fail=$((n_fail + 1))
    failures+=("test.sh stopped early (exit status $rc)")
  fi
  echo
  echo "================ libmixstage test summary ================"
  local l
  for l in "${stage_lines[@]+"${stage_lines[@]}"}"; do echo "$l"; done
  children_cpu
  rm -f "${cpu_file:-}"
  printf '%-12s %5ds  cpu %5ds\n' "total" "$(($(date +%s) - t_start))" "$cpu_now"
  if [ ${#failures[@]} -gt 0 ]; then
    echo "failed:"
    for l in "${failures[@]}"; do echo "  $l"; done
  fi
  echo "skipped: $n_skip (neither passed nor failed)"
  echo "$n_pass passed, $n_fail failed"
  if [ "$n_fail" -gt 0 ]; then exit 1; fi
  exit 0
}
trap summary EXIT

# ---- stage bookkeeping ---------------------------------------------------
stage=""
stage_t0=0
stage_p0=0
stage_f0=0
stage_s0=0
stage_c0=0
# children_cpu sets cpu_now to the CPU seconds (user+sys) used so far by the
# finished children of this shell (every make, build and test it waited
# for).  `times` must run in this shell, not in a $(...) subshell, whose
# children are its own.
cpu_file=$(mktemp "${TMPDIR:-/tmp}/mixstage-test-cpu.XXXXXX")
cpu_now=0
children_cpu() {
  cpu_now=0
  [ -n "${cpu_file:-}" ] || return 0
  times >"$cpu_file"
  cpu_now=$(awk 'NR == 2 {
    t = 0
    for (i = 1; i <= 2; i++) { split($i, a, "m"); t += a[1] * 60 + a[2] }
    printf "%d\n", t + 0.5 }' "$cpu_file")
}
stage_begin() {
  stage=$1
  stage_t0=$(date +%s)
  children_cpu
  stage_c0=$cpu_now
  stage_p0=$n_pass stage_f0=$n_fail stage_s0=$n_skip
  echo
  log "==== $stage: $2"
}
stage_end() {
  children_cpu
  local dt=$(($(date +%s) - stage_t0)) cpu=$((cpu_now - stage_c0))
  local p=$((n_pass - stage_p0)) f=$((n_fail - stage_f0)) s=$((n_skip - stage_s0))
  local note=${1:-}
  stage_lines+=("$(printf '%-12s %5ds  cpu %5ds   %3d passed, %3d failed, %3d skipped%s' \
    "$stage" "$dt" "$cpu" "$p" "$f" "$s" "${note:+   ($note)}")")
  log "---- $stage done in ${dt}s (cpu ${cpu}s): $p passed, $f failed, $s skipped${note:+ ($note)}"
}
pass_item() { n_pass=$((n_pass + 1)); }
fail_item() { n_fail=$((n_fail + 1)); failures+=("$1"); log "FAILED: $1"; }
stage_skipped() { stage_lines+=("$(printf '%-12s %5s   %s' "$stage" "-" "not run: $1")"); log "---- $stage not run: $1"; }

# The test logs (tests/foo.log) make check would write in build dir $1, one
# per line.  Asks make itself, so tests added to Makefile.am by anyone are
# found without editing this script.
test_logs() {
  local dir=$1
  shift
  make -s --no-print-directory -C "$dir" -f Makefile -f - mixstage-print-test-logs "$@" <<'EOF' 2>/dev/null |
mixstage-print-test-logs:
	@for f in $(TEST_LOGS); do echo "$$f"; done
EOF
    grep -v '^$' || true
}

# The tests of build dir $1 (make's $(TESTS)), the longest first: make -j
# starts tests in this order, so a long one does not start last and run
# alone while the other CPU idles.  The list is of the longest in CPU time
# (plain and ASan runs); a test not in it keeps its place after them.  The
# middle-sized suites at its end (10-20 s each under ASan) start before the
# one-second ones, which then fill the last gaps.
long_tests="tests/cli.sh tests/check_master tests/python_tests.sh tests/examples.sh
  tests/valgrind_reentry_python.sh tests/isa_sse2.sh tests/check_profiles tests/check_source_file
  tests/check_deliver tests/check_saturation tests/check_kernels tests/check_graph tests/check_render
  tests/check_dynamics tests/call_cycles.sh"
tests_longest_first() {
  local dir=$1 all t
  shift
  all=$(make -s --no-print-directory -C "$dir" -f Makefile -f - mixstage-print-tests "$@" <<'EOF' 2>/dev/null
mixstage-print-tests:
	@for t in $(TESTS); do echo "$$t"; done
EOF
  ) || return 0
  for t in $long_tests; do
    if grep -qxF "$t" <<<"$all"; then echo "$t"; fi
  done
  for t in $all; do
    if ! tr -s ' \n' '\n\n' <<<"$long_tests" | grep -qxF "$t"; then echo "$t"; fi
  done
}

# make_check LABEL BUILDDIR [make args...]: runs make check, then counts the
# results from the .trs files of that run.
make_check() {
  local label=$1 dir=$2
  shift 2
  local logs trs lg rc=0 ordered
  ordered=$(tests_longest_first "$dir" "$@" | tr '\n' ' ')
  [ -z "${ordered// /}" ] || set -- "$@" TESTS="${ordered% }"
  logs=$(test_logs "$dir" "$@")
  if [ -z "$logs" ]; then
    fail_item "$label: cannot list the tests of $dir (is it configured?)"
    return 0
  fi
  # Stale results from an earlier run must not be counted.
  while IFS= read -r lg; do rm -f "$dir/${lg%.log}.trs"; done <<<"$logs"
  make -C "$dir" --no-print-directory -j"$jobs" check "$@" </dev/null || rc=$?
  local counted_fail=0 res name r
  while IFS= read -r lg; do
    name=${lg%.log}
    trs="$dir/$name.trs"
    if [ ! -f "$trs" ]; then
      fail_item "$label: $name did not run (make check stopped before it; see the errors above)"
      counted_fail=1
      continue
    fi
    res=$(sed -n 's/^:test-result: *\([A-Z]*\).*/\1/p' "$trs")
    if [ -z "$res" ]; then
      fail_item "$label: $name has no result"
      counted_fail=1
      continue
    fi
    for r in $res; do
      case $r in
        PASS|XFAIL) pass_item ;;
        SKIP) n_skip=$((n_skip + 1)) ;;
        *)
          fail_item "$label: $name ($r; log: ${dir#"$top"/}/$lg)"
          counted_fail=1
          if [ -f "$dir/$lg" ]; then
            echo "---- last lines of ${dir#"$top"/}/$lg"
            tail -n 40 "$dir/$lg"
            echo "----"
          fi
          ;;
      esac
    done
  done <<<"$logs"
  if [ "$rc" -ne 0 ] && [ "$counted_fail" = 0 ]; then
    fail_item "$label: make check exited with status $rc"
  fi
}

# configure_and_build LABEL DIR [configure args...]
configure_and_build() {
  local label=$1 dir=$2
  shift 2
  if ! mixstage_configure "$top" "$dir" "$@"; then
    fail_item "$label: configure failed (see ${dir#"$top"/}/config.log)"
    return 1
  fi
  if ! make -s --no-print-directory -C "$dir" -j"$jobs" >/dev/null; then
    fail_item "$label: build failed (make -C ${dir#"$top"/})"
    return 1
  fi
}

# The binding tests would load sanitizer-instrumented modules into an
# uninstrumented python or lua, which the ASan runtime refuses: sanitizer
# builds turn off the --with-python / --with-lua style options configure
# offers (not the ones taking a value, such as --with-python-dir=DIR).  The
# bindings are still tested by the plain make check and by distcheck.
no_binding_args() {
  "$top/configure" --help 2>/dev/null |
    sed -n 's/^ *--\(with\|without\|enable\|disable\)-\(\(python\|lua\)[0-9.]*\(-bindings\{0,1\}\)\{0,1\}\)\([ 	].*\)\{0,1\}$/\1 \2/p' |
    while read -r kind opt; do
      case $kind in
        with*) echo "--without-$opt" ;;
        *) echo "--disable-$opt" ;;
      esac
    done | sort -u
}

# A passing RTSan run proves nothing if the process entry points lost their
# nonblocking attribute.  The probe processes a graph whose pull source
# calls malloc: RTSan must abort that run, and must let the same graph with
# a clean source through.
rtsan_probe() {
  local dir=$1 out
  mkdir -p "$dir/rtsan-probe" || return 1
  cat > "$dir/rtsan-probe/probe.c" <<'PROBE'
#include <stdlib.h>
#include <mixstage.h>
static int source(void *user, float *const *planar, int channels, int frames, int64_t pos) {
  (void)pos;
  float *scratch = user ? malloc(sizeof(float) * (size_t)frames) : NULL; /* not RT-safe */
  for (int c = 0; c < channels; c++)
    for (int i = 0; i < frames; i++) planar[c][i] = 0.25f;
  free(scratch);
  return 0;
}
int main(int argc, char **argv) {
  (void)argv;
  int err;
  float out[2 * 64];
  mixstage_graph *g = mixstage_graph_create(NULL, &err);
  mixstage_strip *s = mixstage_graph_add_strip(g, "Probe", 1, &err);
  if (mixstage_strip_set_source_callback(s, source, argc > 1 ? (void *)s : NULL, 1, -1) ||
      mixstage_graph_prepare(g) || mixstage_graph_process(g, out, 64))
    return 3;
  mixstage_graph_destroy(g);
  return 0;
}
PROBE
  (cd "$dir/rtsan-probe" &&
     clang-22 -std=c11 -fsanitize=realtime -I"$top/include" probe.c \
       -L"$dir/.libs" -Wl,-rpath,"$dir/.libs" -lmixstage -o probe) || return 1
  if ! out=$("$dir/rtsan-probe/probe" 2>&1); then
    printf '%s\n' "$out" | tail -n 20
    log "rtsan probe: the graph with a real-time-safe source failed"
    return 1
  fi
  if out=$("$dir/rtsan-probe/probe" malloc 2>&1) || ! grep -q 'RealtimeSanitizer' <<<"$out"; then
    printf '%s\n' "$out" | tail -n 20
    log "rtsan probe: a malloc inside mixstage_graph_process went unreported"
    return 1
  fi
  log "rtsan probe: a malloc reached from mixstage_graph_process is caught, as it must be"
}

# ---- deps and bootstrap ---------------------------------------------------
stage_begin deps "Debian packages"
if ! mixstage_install_deps; then
  fail_item "deps: could not install the Debian packages"
  stage_end
  finished=1
  exit 1
fi
if ! mixstage_bootstrap "$top"; then
  fail_item "deps: autoreconf -fi failed"
  stage_end
  finished=1
  exit 1
fi
stage_end

# ---- plain build and make check ----------------------------------------------
stage_begin build "configure and make in $bname"
built=0
configure_and_build build "$builddir" && built=1
stage_end

stage_begin check "make check in $bname"
if [ "$built" = 1 ]; then
  # deps installed valgrind: the re-entry tests under it fail, not skip,
  # if it is missing.
  MIXSTAGE_VALGRIND_REQUIRED=yes make_check check "$builddir"
  stage_end
else
  stage_skipped "the build failed"
fi

# ---- sanitizers -----------------------------------------------------------
if [ "$do_sanitizers" = 1 ]; then
  mapfile -t nobind < <(no_binding_args)
  stage_begin asan "ASan+UBSan build in $bname-asan, make check with CK_FORK=no"
  san="-fsanitize=address,undefined"
  if configure_and_build asan "$top/$bname-asan" \
       "CFLAGS=-O1 -g $san -fno-omit-frame-pointer" "LDFLAGS=$san" --disable-static \
       "${nobind[@]+"${nobind[@]}"}"; then
    # UBSan only reports by default; halt so undefined behaviour fails the test.
    CK_FORK=no MIXSTAGE_SANITIZER=address \
    ASAN_OPTIONS=detect_leaks=1:strict_string_checks=1:detect_stack_use_after_return=1:check_initialization_order=1 \
    UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
      make_check asan "$top/$bname-asan"
  fi
  stage_end "${nobind[*]+${nobind[*]}}"

  stage_begin rtsan "clang-22 RealtimeSanitizer build in $bname-rtsan, make check"
  if configure_and_build rtsan "$top/$bname-rtsan" CC=clang-22 --enable-rtsan --disable-static \
       "${nobind[@]+"${nobind[@]}"}"; then
    # RealtimeSanitizer watches the calls marked nonblocking (the process
    # path): the suites that drive it run here, built with clang.  Only
    # their programs are built (check_PROGRAMS): the other suites would be
    # compiled for nothing.
    rt_suites="tests/check_render tests/check_taps tests/check_source_file tests/check_lanes tests/check_graph tests/check_api tests/check_demo tests/check_meters"
    MIXSTAGE_SANITIZER=realtime RTSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
      make_check rtsan "$top/$bname-rtsan" TESTS="$rt_suites" check_PROGRAMS="$rt_suites"
    if rtsan_probe "$top/$bname-rtsan"; then
      pass_item
    else
      fail_item "rtsan: probe: RealtimeSanitizer is not watching mixstage_graph_process"
    fi
  fi
  stage_end
fi

# ---- fuzzing ------------------------------------------------------------------
if [ "$do_fuzz" = 1 ]; then
  stage_begin fuzz "clang-22 libFuzzer harnesses, ASan+UBSan, in $bname-fuzz, ${fuzz_secs}s each"
  mapfile -t nobind < <(no_binding_args)
  fsan="-fsanitize=address,undefined"
  fuzzdir="$top/$bname-fuzz"
  if ! mixstage_configure "$top" "$fuzzdir" CC=clang-22 --enable-fuzzers --disable-tests --disable-static \
       "CFLAGS=-O1 -g $fsan -fno-sanitize-recover=undefined -fno-omit-frame-pointer" "LDFLAGS=$fsan" \
       "${nobind[@]+"${nobind[@]}"}"; then
    fail_item "fuzz: configure failed (see $bname-fuzz/config.log)"
  elif ! make -s --no-print-directory -C "$fuzzdir" -j"$jobs" fuzzers >/dev/null; then
    fail_item "fuzz: make fuzzers failed (make -C $bname-fuzz fuzzers)"
  else
    # Each harness is one process on one CPU with its own work directory:
    # with two CPUs both run at once, each for its full time, so they fuzz
    # as much as one after the other did, in half the wall time.
    harnesses=(graphfile audio_read)
    declare -A fuzz_pid=() fuzz_rc=()
    for harness in "${harnesses[@]}"; do
      MIXSTAGE_FUZZ_SECONDS=$fuzz_secs "$top/tests/fuzz/run.sh" "$fuzzdir" "$harness" </dev/null &
      fuzz_pid[$harness]=$!
      if [ "$jobs" -lt 2 ]; then
        fuzz_rc[$harness]=0
        wait "${fuzz_pid[$harness]}" || fuzz_rc[$harness]=$?
      fi
    done
    for harness in "${harnesses[@]}"; do
      if [ -z "${fuzz_rc[$harness]+set}" ]; then
        fuzz_rc[$harness]=0
        wait "${fuzz_pid[$harness]}" || fuzz_rc[$harness]=$?
      fi
      if [ "${fuzz_rc[$harness]}" = 0 ]; then
        pass_item
      else
        fail_item "fuzz: $harness (log: $bname-fuzz/fuzz-work/$harness/log)"
      fi
    done
  fi
  stage_end
fi

# ---- valgrind ---------------------------------------------------------------
if [ "$do_valgrind" = 1 ]; then
  stage_begin valgrind "Check suites of $bname under valgrind memcheck"
  if [ "$built" = 1 ]; then
    # LOG_COMPILER wraps the tests without an extension (the Check suites);
    # scripts keep their own interpreters.  A separate suite log keeps the
    # plain run's test-suite.log.
    CK_FORK=no MIXSTAGE_SANITIZER=valgrind make_check valgrind "$builddir" \
      TEST_SUITE_LOG=test-suite-valgrind.log \
      LOG_COMPILER="$builddir/libtool --mode=execute valgrind -q --error-exitcode=1 --leak-check=full --errors-for-leak-kinds=definite,indirect --track-origins=yes"
    stage_end
  else
    stage_skipped "the build failed"
  fi
fi

# ---- distcheck ----------------------------------------------------------------
distcheck_app=0
if [ "$do_distcheck" = 1 ]; then
  stage_begin distcheck "make distcheck in $bname"
  if [ "$built" = 1 ]; then
    # Its output (a whole configure, build and check) goes to a log, shown
    # only on failure.  distcheck proves the tarball is complete and builds
    # out of tree (every program, binding and test is compiled); the audio
    # suites already ran above, so inside it only a quick subset runs (a
    # command-line TESTS reaches the sub-makes).  --disable-static: every
    # source is still compiled from the tarball, once (see the top).
    if make -s --no-print-directory -C "$builddir" -j"$jobs" distcheck \
         DISTCHECK_CONFIGURE_FLAGS=--disable-static \
         TESTS="tests/check_api tests/check_graph tests/symbols.sh tests/call_cycles.sh tests/lua_tests.sh" \
         </dev/null >"$builddir/distcheck.log" 2>&1; then
      pass_item
      grep -A1 'archives ready' "$builddir/distcheck.log" | tr -s ' \n' ' ' || true
      echo
      # its installcheck built and ran examples/pkgconfig_app.c against the
      # installed tree (Makefile.am: installcheck-local)
      grep '^installcheck: ' "$builddir/distcheck.log" | sed 's/^/[test] distcheck /' || true
      grep -q '^installcheck: .* built with pkg-config and run: ok$' "$builddir/distcheck.log" &&
        distcheck_app=1
    else
      tail -n 60 "$builddir/distcheck.log"
      fail_item "distcheck: make distcheck failed (log: $bname/distcheck.log)"
    fi
    stage_end
  else
    stage_skipped "the build failed"
  fi
fi

# ---- install into a temporary prefix, build an app with pkg-config ------------
stage_begin pkgconfig "install to a temporary prefix; cc examples/pkgconfig_app.c \$(pkg-config --cflags --libs mixstage)"
# A fixed prefix inside the build dir keeps the build incremental; it is
# emptied before the install and removed afterwards.
instdir="$top/$bname-install"
prefix="$instdir/prefix"
build_app() {
  local appdir="$instdir/app" flags
  rm -rf "$appdir" && mkdir -p "$appdir" || return 1
  cp "$top/examples/pkgconfig_app.c" "$appdir/app.c" || return 1
  export PKG_CONFIG_PATH="$prefix/lib/pkgconfig" LD_LIBRARY_PATH="$prefix/lib"
  flags=$(pkg-config --cflags --libs mixstage) || { log "pkg-config does not find mixstage"; return 1; }
  log "cc -std=c11 -Wall -Wextra -Werror app.c $flags -lm -o app"
  # shellcheck disable=SC2086 # pkg-config output is a list of words
  (cd "$appdir" && cc -std=c11 -Wall -Wextra -Werror app.c $flags -lm -o app) || return 1
  (cd "$appdir" && ./app </dev/null) || { log "app exited with status $?"; return 1; }
}
# The README shows render_mix() from the app; the two must not drift apart.
readme_block() {
  awk '/^<!-- example: examples\/pkgconfig_app.c/ { f = 1; next }
       f == 1 && /^```c$/ { f = 2; next }
       f == 2 && /^```$/ { exit }
       f == 2 { print }' "$top/README.md"
}
app_block() {
  awk '/^\/\* example: end \*\/$/ { exit } f { print } /^\/\* example: begin \*\/$/ { f = 1 }' \
    "$top/examples/pkgconfig_app.c"
}
if [ -n "$(app_block)" ] && [ "$(readme_block)" = "$(app_block)" ]; then
  pass_item
  log "README.md example is identical to examples/pkgconfig_app.c"
else
  fail_item "pkgconfig: the example in README.md differs from examples/pkgconfig_app.c"
  diff <(readme_block) <(app_block) || true
fi
rm -rf "$prefix"
# distcheck's installcheck has built and run the app against the tarball's
# installed tree (the same commands as build_app): no second build for it.
# Without distcheck, the library is built and installed here.
# The bindings are not needed here (distcheck installs them); the C library is.
mapfile -t nobind < <(no_binding_args)
if [ "$distcheck_app" = 1 ]; then
  pass_item
  log "examples/pkgconfig_app.c: built with pkg-config and run inside distcheck (make installcheck)"
elif configure_and_build pkgconfig "$instdir" --prefix="$prefix" --disable-tests --disable-static \
     "${nobind[@]+"${nobind[@]}"}"; then
  if ! make -s --no-print-directory -C "$instdir" install >/dev/null; then
    fail_item "pkgconfig: make install into $prefix failed"
  elif (build_app); then
    pass_item
  else
    fail_item "pkgconfig: building or running examples/pkgconfig_app.c against $prefix failed"
  fi
fi
rm -rf "$prefix" "$instdir/app"
stage_end

finished=1
