# Sourced by tests/valgrind_reentry_python.sh and valgrind_reentry_lua.sh:
# the binding re-entry tests (issue 13 section 3) under valgrind memcheck.
# A callback that replaces its own callback, edits or re-prepares the graph
# being rendered, or renders another graph reaches freed or half-rebuilt
# memory if a guard is missing; in a plain run that can pass unnoticed.
#
# Sets $vg (the valgrind command), $b and $s; exits 77 (skipped) when
# valgrind is missing, or 99 (hard error) if MIXSTAGE_VALGRIND_REQUIRED=yes
# (scripts/test.sh installs valgrind, so there a missing one is an error).
#
# No suppressions: with Debian 12's python3.11 (PYTHONMALLOC=malloc) and
# lua5.4 both runs are clean.  Add a suppression only for interpreter-internal
# noise, in a file next to this one, with the reason.
if ! command -v valgrind >/dev/null 2>&1; then
  if [ "${MIXSTAGE_VALGRIND_REQUIRED:-}" = yes ]; then
    echo "valgrind not found (apt-get install valgrind)"; exit 99
  fi
  echo "valgrind not found (apt-get install valgrind)"; exit 77
fi
b=$(cd "${top_builddir:-.}" && pwd)
s=$(cd "${top_srcdir:-..}" && pwd)
# Invalid reads/writes, uses of freed memory and uninitialised values fail
# the test with status 99 (a hard error for automake), distinct from a
# failing assertion.
vg="valgrind -q --error-exitcode=99"
