#!/bin/sh
# Runs the Python binding tests (pytest) against the build tree.
# Exit 77 (skipped) when the Python binding is not built.
if [ "$MIXSTAGE_WITH_PYTHON" != yes ]; then
  echo "Python binding not built (see configure: Python bindings)"; exit 77
fi
py=${MIXSTAGE_PYTHON:-/usr/bin/python3}
if ! "$py" -c 'import pytest' 2>/dev/null; then
  echo "pytest not found for $py (apt-get install python3-pytest)"; exit 77
fi
b=$(cd "${top_builddir:-.}" && pwd)
s=$(cd "${top_srcdir:-..}" && pwd)
PYTHONPATH="$b/bindings/python:$b/bindings/python/.libs${PYTHONPATH:+:$PYTHONPATH}"
LUA_CPATH="$b/bindings/lua/.libs/?.so;;"
MIXSTAGE_BUILDDIR=$b
MIXSTAGE_SRCDIR=$s
MPLBACKEND=Agg
export PYTHONPATH LUA_CPATH MIXSTAGE_BUILDDIR MIXSTAGE_SRCDIR MPLBACKEND
"$py" -m pytest -q -p no:cacheprovider "$s/tests/python"
rc=$?
# pytest exits 5 when it collected no tests: report that as skipped.
[ "$rc" = 5 ] && exit 77
exit "$rc"
