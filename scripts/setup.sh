#!/usr/bin/env bash
# libmixstage: first command for a new user on Debian 12.
#   ./scripts/setup.sh
# Installs missing Debian packages, bootstraps and configures the build in
# ./build, builds the library, then renders the demo song and prints its
# report.  Safe to re-run; it only redoes what is out of date.
#
# Environment: MIXSTAGE_BUILD_DIR (default "build", relative to the source
# tree), MAKEFLAGS / JOBS (default: one job per CPU).
set -euo pipefail

top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=scripts/deps.sh
. "$top/scripts/deps.sh"

builddir="$top/${MIXSTAGE_BUILD_DIR:-build}"
jobs=${JOBS:-$(nproc 2>/dev/null || echo 2)}

fail() { mixstage_log "error: $*"; exit 1; }

mixstage_install_deps || fail "could not install the dependencies"
mixstage_bootstrap "$top" || fail "could not bootstrap the build system"
mixstage_log "configure: $builddir"
mixstage_configure "$top" "$builddir" || fail "configure failed (see $builddir/config.log)"
mixstage_log "build: make -j$jobs"
make -s -C "$builddir" -j"$jobs" >/dev/null || fail "build failed; re-run 'make -C $builddir' to see why"
# Install (default prefix /usr/local), so that C programs build with
# pkg-config, Debian's python3 imports mixstage and lua5.4 requires it.
# MIXSTAGE_NO_INSTALL=1 skips this step.
if [ "${MIXSTAGE_NO_INSTALL:-0}" != 1 ]; then
  mixstage_log "install: make -C ${builddir#"$top"/} install"
  make -s -C "$builddir" install >/dev/null || fail "make install failed (run as root, or set MIXSTAGE_NO_INSTALL=1)"
  command -v ldconfig >/dev/null 2>&1 && ldconfig 2>/dev/null || true
  if /usr/bin/python3 -c 'import mixstage' >/dev/null 2>&1; then
    mixstage_log "installed: /usr/bin/python3 -c 'import mixstage' works"
    mixstage_link_path_python
  fi
  if command -v lua5.4 >/dev/null 2>&1 && lua5.4 -e 'require "mixstage"' >/dev/null 2>&1; then
    mixstage_log "installed: lua5.4 -e 'require \"mixstage\"' works"
  fi
fi
mixstage_log "demo: make -C ${builddir#"$top"/} demo"
make -s -C "$builddir" demo || fail "the demo failed"
mixstage_log "done.  Next: ./scripts/test.sh runs every test."
