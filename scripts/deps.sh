# shellcheck shell=bash
# libmixstage: the Debian packages the build, the tests and the examples
# need, in ONE place.  Sourced by scripts/setup.sh and scripts/test.sh (not
# run on its own).  Target: Debian 12 (bookworm), as root or with sudo.
#
# To add a dependency, append it to MIXSTAGE_DEBIAN_PACKAGES below.

# Build toolchain and library dependencies.
MIXSTAGE_DEBIAN_PACKAGES="
  autoconf automake libtool pkg-config make gcc
  libsamplerate0-dev libsndfile1-dev libebur128-dev libjansson-dev check
  swig python3-dev python3-numpy python3-scipy python3-pytest
  lua5.4 liblua5.4-dev
  sox ffmpeg
  valgrind clang-22 libclang-rt-22-dev
  jupyter-nbconvert python3-ipykernel python3-matplotlib python3-distributed
  python3-mypy
"

# The Python that has numpy: Debian's.  The python3 first on PATH may be
# another build (pyenv) without the Debian modules, so never rely on PATH.
MIXSTAGE_PYTHON3=/usr/bin/python3

mixstage_log() { printf '%s\n' "[mixstage] $*"; }

# The python3 first on PATH, when it is not Debian's (pyenv, say), cannot
# import the installed module: it lacks numpy, which exists only as a Debian
# package here (no PyPI).  When it is the same Python minor version as
# Debian's (the same C ABI, so Debian's numpy and our extension load), give it
# Debian's module directories through a .pth file; they are appended after
# its own site-packages, as a venv's --system-site-packages does, so its own
# packages still win.  Otherwise say which Python to use.  Prints what it did.
mixstage_link_path_python() {
  local py deb_ver path_ver site pth
  py=$(command -v python3 2>/dev/null) || return 0
  [ "$(readlink -f "$py")" = "$(readlink -f "$MIXSTAGE_PYTHON3")" ] && return 0
  python3 -c 'import mixstage' >/dev/null 2>&1 && return 0
  deb_ver=$("$MIXSTAGE_PYTHON3" -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null) || return 0
  path_ver=$(python3 -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null) || return 0
  if [ "$deb_ver" != "$path_ver" ]; then
    mixstage_log "note: 'python3' on PATH ($py) is Python $path_ver; the module is built for Debian's Python $deb_ver: use $MIXSTAGE_PYTHON3"
    return 0
  fi
  site=$(python3 -c 'import site; print(site.getsitepackages()[0])' 2>/dev/null) || return 0
  if [ ! -d "$site" ] || [ ! -w "$site" ]; then
    mixstage_log "note: 'python3' on PATH ($py) lacks numpy and its site-packages is not writable: use $MIXSTAGE_PYTHON3"
    return 0
  fi
  pth="$site/mixstage-debian-packages.pth"
  "$MIXSTAGE_PYTHON3" -c 'import sys; print("\n".join(p for p in sys.path if p.endswith("dist-packages")))' > "$pth.tmp" &&
    mv "$pth.tmp" "$pth" || { rm -f "$pth.tmp"; return 0; }
  if python3 -c 'import mixstage' >/dev/null 2>&1; then
    mixstage_log "installed: $pth lets 'python3' on PATH ($py) see Debian's numpy and mixstage"
  else
    rm -f "$pth"
    mixstage_log "note: 'python3' on PATH ($py) cannot import mixstage: use $MIXSTAGE_PYTHON3"
  fi
}

# Prints the packages of MIXSTAGE_DEBIAN_PACKAGES that are not installed.
mixstage_missing_packages() {
  local p status
  for p in $MIXSTAGE_DEBIAN_PACKAGES; do
    status=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)
    [ "$status" = installed ] || printf '%s\n' "$p"
  done
}

# Installs whatever is missing, non-interactively and quietly.  When every
# package is present it does not touch apt at all, so it works offline.
mixstage_install_deps() {
  if ! command -v dpkg-query >/dev/null 2>&1; then
    mixstage_log "error: dpkg-query not found; this script expects Debian 12 (bookworm)."
    return 1
  fi
  local missing
  missing=$(mixstage_missing_packages | tr '\n' ' ')
  missing=${missing% }
  if [ -z "$missing" ]; then
    mixstage_log "dependencies: all $(echo "$MIXSTAGE_DEBIAN_PACKAGES" | wc -w) Debian packages present"
  else
    local sudo=
    if [ "$(id -u)" -ne 0 ]; then
      if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
        sudo="sudo -n"
      else
        mixstage_log "error: these Debian packages are missing and installing them needs root:"
        mixstage_log "  $missing"
        mixstage_log "run this script as root, or: sudo apt-get install $missing"
        return 1
      fi
    fi
    mixstage_log "dependencies: installing missing Debian packages: $missing"
    local aptlog
    aptlog=$(mktemp "${TMPDIR:-/tmp}/mixstage-apt.XXXXXX")
    if ! $sudo env DEBIAN_FRONTEND=noninteractive apt-get update -qq </dev/null; then
      mixstage_log "error: 'apt-get update' failed (no network or broken sources?)"
      return 1
    fi
    # shellcheck disable=SC2086 # word splitting of the package list is intended
    if ! $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
        -o Dpkg::Use-Pty=0 -o Dpkg::Options::=--force-confdef \
        -o Dpkg::Options::=--force-confold $missing </dev/null >"$aptlog" 2>&1; then
      tail -n 30 "$aptlog"
      mixstage_log "error: 'apt-get install' failed; full log in $aptlog"
      return 1
    fi
    rm -f "$aptlog"
    missing=$(mixstage_missing_packages | tr '\n' ' ')
    if [ -n "$missing" ]; then
      mixstage_log "error: still missing after apt-get install: $missing"
      return 1
    fi
    mixstage_log "dependencies: installed"
  fi
  if ! "$MIXSTAGE_PYTHON3" -c 'import numpy, scipy' 2>/dev/null; then
    mixstage_log "error: $MIXSTAGE_PYTHON3 cannot import numpy and scipy"
    return 1
  fi
  # configure's AC_PATH_PROG([PYTHON3]) keeps a preset value.
  export PYTHON3="$MIXSTAGE_PYTHON3"
}

# Runs autoreconf -fi when the generated build system is missing or older
# than its sources (a fresh clone has no configure script).
mixstage_bootstrap() {
  local top=$1 f
  local need=0
  [ -x "$top/configure" ] && [ -f "$top/Makefile.in" ] || need=1
  if [ "$need" = 0 ]; then
    for f in "$top/configure.ac" "$top/Makefile.am"; do
      if [ "$f" -nt "$top/configure" ] || [ "$f" -nt "$top/Makefile.in" ]; then need=1; fi
    done
  fi
  if [ "$need" = 1 ]; then
    mixstage_log "bootstrap: autoreconf -fi"
    local out
    if ! out=$(cd "$top" && autoreconf -fi 2>&1); then
      printf '%s\n' "$out"
      mixstage_log "error: autoreconf -fi failed"
      return 1
    fi
    # Keep warnings visible, drop the chatter about copied helper files.
    printf '%s\n' "$out" | grep -v -e ": installing '" -e '^libtoolize: ' -e '^$' || true
  fi
}

# mixstage_configure TOP BUILDDIR [configure args...]: configures BUILDDIR
# out of tree unless it is already configured with the same arguments.
mixstage_configure() {
  local top=$1 dir=$2
  shift 2
  local want="$*"
  mkdir -p "$dir"
  if [ -f "$dir/Makefile" ] && [ -f "$dir/.mixstage-configure-args" ] &&
     [ "$(cat "$dir/.mixstage-configure-args")" = "$want" ] &&
     [ "$dir/config.status" -nt "$top/configure" ]; then
    return 0
  fi
  if [ -f "$top/config.status" ]; then
    mixstage_log "error: the source tree itself is configured (./configure was run in it);"
    mixstage_log "out-of-tree builds need it clean: run 'make distclean' in $top first"
    return 1
  fi
  rm -f "$dir/.mixstage-configure-args"
  (cd "$dir" && "$top/configure" -q "$@") || return 1
  printf '%s' "$want" > "$dir/.mixstage-configure-args"
}
