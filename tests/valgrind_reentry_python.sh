#!/bin/sh
# The Python re-entry tests under valgrind memcheck (see valgrind_reentry.sh).
# PYTHONMALLOC=malloc makes CPython allocate every object with malloc, so
# valgrind sees each one (pymalloc's arenas would hide a use-after-free).
# Leaks are not checked: CPython does not free its own objects at exit.
# About 25 s of CPU: interpreter, numpy and pytest start-up dominate.
if [ "$MIXSTAGE_WITH_PYTHON" != yes ]; then
  echo "Python binding not built (see configure: Python bindings)"; exit 77
fi
. "$(dirname "$0")/valgrind_reentry.sh"
py=${MIXSTAGE_PYTHON:-/usr/bin/python3}
if ! "$py" -c 'import pytest' 2>/dev/null; then
  echo "pytest not found for $py (apt-get install python3-pytest)"; exit 77
fi
PYTHONPATH="$b/bindings/python:$b/bindings/python/.libs${PYTHONPATH:+:$PYTHONPATH}"
MIXSTAGE_BUILDDIR=$b
MIXSTAGE_SRCDIR=$s
PYTHONMALLOC=malloc
export PYTHONPATH MIXSTAGE_BUILDDIR MIXSTAGE_SRCDIR PYTHONMALLOC
# The re-entry tests, by pytest node id: a renamed test makes pytest exit 4
# (not found), which fails this script rather than selecting nothing.
$vg "$py" -m pytest -q -p no:cacheprovider \
  "$s/tests/python/test_mixstage.py::test_callbacks_cannot_edit_the_graph_they_render"
