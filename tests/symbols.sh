#!/bin/sh
# Exported-symbol check for the shared library, run by make check.
#
# 1. libmixstage.so exports only the public API: names starting with
#    "mixstage_" but not "mixstage__" (internal), apart from the few symbols
#    the linker itself defines in every shared object.
# 2. Every function declared MIXSTAGE_EXPORT in the installed headers is
#    exported, so a program written against the headers links.
#
# Exit 0 pass, 1 fail, 77 skip (no shared library: static-only build),
# 99 hard error (no nm).
set -eu
LC_ALL=C
export LC_ALL

: "${top_builddir:=.}"
: "${top_srcdir:=.}"
so="$top_builddir/.libs/libmixstage.so"

if [ ! -e "$so" ]; then
  echo "SKIP: $so not found (built with --disable-shared?)"
  exit 77
fi
NM=${NM:-nm}
if ! command -v "$NM" >/dev/null 2>&1; then
  echo "ERROR: $NM not found (it comes with binutils)"
  exit 99
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/mixstage-symbols.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

# "0000000000012340 T mixstage_graph_create" (a version suffix "@@V" is cut).
if ! "$NM" -D --defined-only "$so" > "$tmp/nm.out"; then
  echo "ERROR: $NM -D --defined-only $so failed"
  exit 99
fi
awk 'NF >= 3 { sub(/@.*/, "", $3); print $3 }' "$tmp/nm.out" | sort -u > "$tmp/exported"

# Symbols ld defines in every shared object: not ours to avoid.
grep -v -x -e _init -e _fini -e _edata -e _end -e __bss_start "$tmp/exported" > "$tmp/ours" || true

status=0
grep -v '^mixstage_' "$tmp/ours" > "$tmp/bad" || true
grep '^mixstage__' "$tmp/ours" >> "$tmp/bad" || true
if [ -s "$tmp/bad" ]; then
  echo "FAIL: $so exports symbols outside the public mixstage_ API:"
  sed 's/^/  /' "$tmp/bad"
  echo "(give them internal linkage, or a mixstage__ name without MIXSTAGE_EXPORT)"
  status=1
fi

# Public functions declared in the headers: the name before "(" on each line
# that carries MIXSTAGE_EXPORT (every declaration starts on such a line).
for h in "$top_srcdir/include/mixstage.h" "$top_srcdir"/include/mixstage/*.h; do
  [ -f "$h" ] && cat "$h"
done | sed -n 's/.*MIXSTAGE_EXPORT[^(]*[^A-Za-z0-9_]\(mixstage_[A-Za-z0-9_]*\)[ 	]*(.*/\1/p' |
  sort -u > "$tmp/declared"
ndecl=$(wc -l < "$tmp/declared")
if [ "$ndecl" -eq 0 ]; then
  echo "FAIL: found no MIXSTAGE_EXPORT declarations under $top_srcdir/include"
  status=1
fi
comm -23 "$tmp/declared" "$tmp/ours" > "$tmp/missing"
if [ -s "$tmp/missing" ]; then
  echo "FAIL: declared in the public headers but not exported by $so:"
  sed 's/^/  /' "$tmp/missing"
  status=1
fi

nours=$(grep -c . "$tmp/ours" || true)
echo "$so: $nours exported symbols, $ndecl public functions declared"
[ "$status" -eq 0 ] && echo "PASS: only the public API is exported, and all of it"
exit "$status"
