#!/bin/sh
# The kernel and audio suites again with the instruction set capped at the
# x86-64 baseline (MIXSTAGE_CPU=sse2, lib/dsp/cpu.h), run by make check.
#
# The build machine has AVX2/FMA, so the plain run tests the wide kernels;
# this run tests the SSE2 and per-sample paths a machine without AVX takes,
# against the same stated tolerances.  It first checks that
#   1. every kernel dispatch goes through lib/dsp/cpu.c (a direct
#      __builtin_cpu_supports elsewhere would ignore the cap), and
#   2. the cap takes effect (tests/cpu_isa prints "sse2" under it, and an
#      unknown value is reported, not silently ignored).
#
# Exit 0 pass, 1 fail, 77 skip (not x86: there is no wider set to cap).
set -eu
LC_ALL=C
export LC_ALL

: "${top_builddir:=.}"
: "${top_srcdir:=.}"
suites="tests/check_kernels tests/check_eq tests/check_saturation tests/check_dynamics
  tests/check_lanes tests/check_space tests/check_bus_stages"
# Under a sanitizer (scripts/test.sh sets MIXSTAGE_SANITIZER) the two long
# suites are left to the plain run: together 16 s of CPU there, several
# times that under ASan, over the test budget.  The lane kernels, the EQ
# and the bus stages still run their SSE2 paths under the sanitizer.
if [ -n "${MIXSTAGE_SANITIZER:-}" ]; then
  suites="tests/check_kernels tests/check_eq tests/check_lanes tests/check_space tests/check_bus_stages"
  echo "under $MIXSTAGE_SANITIZER: check_saturation and check_dynamics run at SSE2 in the plain make check only"
fi
status=0

direct=$(grep -rn -e '__builtin_cpu_supports' -e '__builtin_cpu_is' -e '__get_cpuid' -e 'cpuid\.h' \
  "$top_srcdir/lib" | grep -v "^$top_srcdir/lib/dsp/cpu\.[ch]:" || true)
if [ -n "$direct" ]; then
  echo "FAIL: kernel dispatch that bypasses lib/dsp/cpu.c (and so MIXSTAGE_CPU):"
  printf '%s\n' "$direct" | sed 's/^/  /'
  echo "(use mixstage__cpu_avx() / mixstage__cpu_avx2_fma() from lib/dsp/cpu.h)"
  status=1
fi

native=$("$top_builddir/tests/cpu_isa")
case $native in
  portable)
    echo "SKIP: not an x86 build ($native kernels only)"
    exit 77 ;;
esac
capped=$(MIXSTAGE_CPU=sse2 "$top_builddir/tests/cpu_isa")
echo "instruction set: $native here, $capped under MIXSTAGE_CPU=sse2"
if [ "$capped" != sse2 ]; then
  echo "FAIL: MIXSTAGE_CPU=sse2 gives '$capped', not sse2"
  status=1
fi
if ! MIXSTAGE_CPU=bogus "$top_builddir/tests/cpu_isa" 2>&1 >/dev/null | grep -q 'MIXSTAGE_CPU=bogus'; then
  echo "FAIL: MIXSTAGE_CPU=bogus is not reported on stderr"
  status=1
fi
[ "$status" = 0 ] || exit "$status"
if [ "$native" = sse2 ]; then
  echo "(this CPU has no AVX: the plain run already tested these paths)"
fi

for t in $suites; do
  echo "==== MIXSTAGE_CPU=sse2 $t"
  if MIXSTAGE_CPU=sse2 "$top_builddir/$t"; then :; else
    echo "FAIL: $t under MIXSTAGE_CPU=sse2 (exit status $?)"
    status=1
  fi
done
exit "$status"
