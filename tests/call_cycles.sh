#!/bin/sh
# Call-cycle check for the library's sources, run by make check.
#
# Calls flow one way (API -> engine -> nodes -> dsp kernels; see the house
# conventions): no source file of the library may reach itself through the
# functions and data the files use from each other.  The graph is read from
# the compiled objects of libmixstage_core, so it is what the compiler kept
# (a call inlined from a header is no edge; a call through a table is an
# edge to the table's file, where the table names the function):
#   file A -> file B  when A's object leaves undefined a global symbol that
#                     B's object defines (nm -P).
# Any strongly connected group of two or more files fails the test; one
# shortest cycle through each group is printed.  Symbols of the sanitizer
# runtimes, libc and the dependencies are defined by none of our objects and
# so make no edge: the check runs the same in the plain, sanitizer and
# distcheck builds.
#
# Exit 0 pass, 1 fail (cycles found), 77 skip (no objects: e.g. an LTO
# build, whose objects hold no symbol table), 99 hard error (no nm).
set -eu
LC_ALL=C
export LC_ALL

: "${top_builddir:=.}"
NM=${NM:-nm}
if ! command -v "$NM" >/dev/null 2>&1; then
  echo "ERROR: $NM not found (it comes with binutils)"
  exit 99
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/mixstage-cycles.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

# libtool's .lo files name the objects built (PIC and/or not: either holds
# the same symbols).  lib/dsp/libmixstage_core_la-svf.lo -> lib/dsp/svf.c.
find "$top_builddir/lib" -name 'libmixstage_core_la-*.lo' | sort > "$tmp/lo"
: > "$tmp/syms"
n=0
while IFS= read -r lo; do
  dir=$(dirname "$lo")
  obj=$(sed -n "s/^pic_object='\\(.*\\)'\$/\\1/p" "$lo")
  [ -n "$obj" ] && [ "$obj" != none ] || obj=$(sed -n "s/^non_pic_object='\\(.*\\)'\$/\\1/p" "$lo")
  if [ -z "$obj" ] || [ "$obj" = none ] || [ ! -f "$dir/$obj" ]; then
    echo "ERROR: no object for $lo"
    exit 99
  fi
  rel=${dir#"$top_builddir"/}
  src="$rel/$(basename "$lo" .lo | sed 's/^libmixstage_core_la-//').c"
  if ! "$NM" -P "$dir/$obj" > "$tmp/nm.out"; then
    echo "ERROR: $NM -P $dir/$obj failed"
    exit 99
  fi
  # "name type [value size]": U undefined; upper case other than U is a
  # global definition (T text, D/B/R/S data, C common, W/V weak).
  awk -v src="$src" '
    $2 == "U" { print src, "U", $1; next }
    $2 ~ /^[A-TV-Z]$/ { print src, "D", $1 }' "$tmp/nm.out" >> "$tmp/syms"
  n=$((n + 1))
done < "$tmp/lo"

if [ "$n" -eq 0 ]; then
  echo "SKIP: no libmixstage_core objects under $top_builddir/lib (not built yet?)"
  exit 77
fi
if ! grep -q ' D ' "$tmp/syms"; then
  echo "SKIP: the objects under $top_builddir/lib define no symbols (an LTO build?)"
  exit 77
fi

# Edges, then the strongly connected groups (reachability by a transitive
# closure: a hundred files at most) and a shortest cycle through each.
awk -v nobj="$n" '
  $2 == "D" { def[$3] = $1; next }
  { use[++nu] = $1 SUBSEP $3 }
  END {
    for (k = 1; k <= nu; k++) {
      split(use[k], p, SUBSEP)
      if (!(p[2] in def) || def[p[2]] == p[1]) continue
      e = p[1] SUBSEP def[p[2]]
      if (!(e in edge)) { edge[e] = p[2]; nedge++; nout[p[1]]++; out[p[1], nout[p[1]]] = def[p[2]] }
    }
    for (e in edge) { split(e, p, SUBSEP); node[p[1]] = 1; node[p[2]] = 1; reach[p[1], p[2]] = 1 }
    for (k in node) for (i in node) if ((i, k) in reach) for (j in node) if ((k, j) in reach) reach[i, j] = 1
    nodes = 0
    for (i in node) nodes++
    printf "%d objects; %d of them use or are used by another, by %d file-to-file dependencies\n", nobj, nodes, nedge
    bad = 0
    for (i in node) {
      if (!((i, i) in reach) || (i in done)) continue
      # the group: every file reachable from i and reaching back
      grp = ""
      for (j in node) if (((i, j) in reach) && ((j, i) in reach)) { done[j] = 1; grp = grp " " j }
      # a shortest cycle through i: breadth-first from i back to i
      delete prev; delete seen
      q[1] = i; qh = 1; qt = 1; found = 0
      while (qh <= qt && !found) {
        u = q[qh++]
        for (m = 1; m <= nout[u]; m++) {
          v = out[u, m]
          if (v == i) { last = u; found = 1; break }
          if (!(v in seen)) { seen[v] = 1; prev[v] = u; q[++qt] = v }
        }
      }
      path = i; v = last
      while (v != i) { path = v " -> " path; v = prev[v] }
      path = i " -> " path
      # the symbol behind each step
      n = split(path, f, / -> /); why = ""
      for (m = 1; m < n; m++) why = why sprintf("\n    %s uses %s (defined in %s)", f[m], edge[f[m], f[m + 1]], f[m + 1])
      printf "CYCLE among%s:\n  %s%s\n", grp, path, why
      bad++
    }
    exit bad ? 1 : 0
  }' "$tmp/syms" || {
  echo "FAIL: the files above call each other in a cycle; calls must flow one way"
  echo "(move the shared piece down into a file both can call, or pass a function pointer)"
  exit 1
}
echo "PASS: no call cycle among the library's source files"
