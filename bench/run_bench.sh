#!/bin/sh
# The libmixstage benchmark (`make bench`): the graph defined in the bench
# README (gen_bench.py), rendered by libmixstage, by the two reference engines
# of ../shared/bench/reference (ref_simd: vectorised across strips; ref_scalar:
# plain scalar C) and by the SoX pipeline, in the same run, on the same
# sources, with the ratios and the targets of issue 11.
#
# usage: run_bench.sh PATH/TO/bench_graph
# environment:
#   BENCH_SECONDS   program length in seconds (default 60, the README's graph;
#                   use e.g. 10 for a quick run and quote figures from 60)
#   BENCH_DIR       where sources are generated once and reused
#                   (default ${TMPDIR:-/tmp}/mixstage-bench-<seconds>)
#   BENCH_RUNS      interleaved rounds of the offline renders, the median is
#                   reported (default 3); the rounds stop early once they have
#                   taken BENCH_BUDGET seconds (default 300), so every figure
#                   gets at least one run, and the table says how many
#   BENCH_SHARE     directory holding gen_bench.py, sox_pipeline.sh and
#                   reference/ (default: $(top_srcdir)/../shared/bench, else
#                   beside this script, else /work/shared/bench)
#   BENCH_REF       set to 0 to skip the reference engines
#   BENCH_CALLGRIND set to 0 to skip the instruction counts (valgrind); they
#                   are skipped, and said so, when valgrind is missing
#   BENCH_CG_SECONDS  length of the callgrind renders (default 2; the
#                   strip-count section renders 32, 64 and 96 strips)
#   BENCH_CG_SAT_SECONDS  length of the callgrind renders of the saturation
#                   (default 0.5, at most BENCH_CG_SECONDS)
#   BENCH_SAT_SECONDS length of the saturation renders (default 10)
#   BENCH_WORK      scratch for the SoX stems (default a tmpfs dir under
#                   /dev/shm, as in the README; else under BENCH_DIR)
#   BENCH_SKIP_SOX  set to 1 to skip the SoX timing
#   BENCH_LIBTOOL   the build's libtool command, to run bench_graph (a libtool
#                   wrapper) under valgrind; `make bench` sets it
#   CC              compiler for the reference engines (their build.sh) and
#                   the allocation counter preloaded into ref_simd
#
# Every time is given as wall time and as CPU time.  On an idle machine they
# agree for one core; when other processes compete for the cores, wall time
# is inflated and CPU time is the figure to compare.  The load average is
# printed with the table.  "Render" is the render loop alone: libmixstage
# measures it itself (CLOCK_PROCESS_CPUTIME_ID around the process loop); the
# references print the wall time of their loop, and their render CPU is their
# whole-process CPU minus that of a run on zero-length sources (the setup).
set -eu

BIN=${1:?usage: run_bench.sh PATH/TO/bench_graph}
[ -x "$BIN" ] || { echo "run_bench: $BIN is not an executable" >&2; exit 1; }
SECS=${BENCH_SECONDS:-60}
DIR=${BENCH_DIR:-${TMPDIR:-/tmp}/mixstage-bench-$SECS}
RUNS=${BENCH_RUNS:-3}
BUDGET=${BENCH_BUDGET:-300}
CG=${BENCH_CALLGRIND:-1}
CGS=${BENCH_CG_SECONDS:-2}
CGSAT=${BENCH_CG_SAT_SECONDS:-0.5}
SATS=${BENCH_SAT_SECONDS:-10}
PY=/usr/bin/python3
TIME_BIN=/usr/bin/time
[ -x "$TIME_BIN" ] || TIME_BIN=
CC=${CC:-cc}

here=$(cd "$(dirname "$0")" && pwd)
SHARE=${BENCH_SHARE:-}
if [ -z "$SHARE" ]; then
  for d in "$here/../../shared/bench" "$here" /work/shared/bench; do
    if [ -f "$d/gen_bench.py" ]; then SHARE=$(cd "$d" && pwd); break; fi
  done
fi
[ -n "$SHARE" ] && [ -f "$SHARE/gen_bench.py" ] ||
  { echo "run_bench: no gen_bench.py in ${SHARE:-../shared/bench} (set BENCH_SHARE)" >&2; exit 1; }

now_ns() { date +%s%N; }
secs_since() { awk -v a="$1" -v b="$(now_ns)" 'BEGIN { printf "%.3f", (b - a) / 1e9 }'; }
median() { tr ' ' '\n' | grep . | sort -g | awk '{ a[NR] = $1 } END { if (NR == 0) print "nan"; else if (NR % 2) print a[(NR + 1) / 2]; else printf "%.3f\n", (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }
add() { awk -v a="$1" -v b="$2" 'BEGIN { print a + b }'; }
sub0() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "nan" || b == "nan") print "nan"; else { d = a - b; printf "%.3f", (d > 0 ? d : 0) } }'; }
result() { grep "^RESULT $1 " "$2" | head -n 1 | awk '{ print $3 }'; }
num() { case "$1" in ''|nan|-) return 1 ;; esac; }
xrt() { awk -v p="$2" -v t="$1" 'BEGIN { if (t + 0 > 0) printf "%.1fx", p / t; else print "-" }'; }
ratio() { if num "$1" && num "$2"; then awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "-" }'; else echo "-"; fi; }
rx() { _r=$(ratio "$1" "$2"); if [ "$_r" = - ]; then echo -; else echo "${_r}x"; fi; }
dash() { if num "$1"; then echo "$1"; else echo -; fi; }
loadavg() { cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo unknown; }
# another_round ROUNDS_DONE SECONDS_SPENT: true while one more round may run
another_round() { [ "$1" -lt "$RUNS" ] && awk -v s="$2" -v b="$BUDGET" 'BEGIN { exit !(s < b) }'; }
# judge VALUE LOW HIGH: met when LOW <= VALUE <= HIGH ("" = unbounded)
judge() {
  num "$1" || { echo "not measured"; return; }
  awk -v v="$1" -v lo="$2" -v hi="$3" 'BEGIN { ok = (lo == "" || v >= lo) && (hi == "" || v <= hi); print ok ? "met" : "NOT met" }'
}

# Single-thread figures run pinned to one CPU (BENCH_CPU, default 0), so that
# every implementation is timed on the same core: on shared machines the
# cores can differ in speed by 1.5x (measured here), which would otherwise
# decide the ratios.  BENCH_PIN=0 lets the scheduler choose.
PIN=
if [ "${BENCH_PIN:-1}" != 0 ] && command -v taskset > /dev/null 2>&1 &&
   taskset -c "${BENCH_CPU:-0}" true 2> /dev/null; then
  PIN="taskset -c ${BENCH_CPU:-0}"
fi

# timed LOG CMD...: runs CMD (stdout and stderr to LOG); sets W (wall s) and
# C (CPU s of the command and all its children, from /usr/bin/time).
timed() {
  _log=$1; shift
  _t0=$(now_ns)
  if [ -n "$TIME_BIN" ]; then
    "$TIME_BIN" -f '%U %S' -o "$_log.time" "$@" > "$_log" 2>&1 || return 1
    W=$(secs_since "$_t0")
    C=$(tail -n 1 "$_log.time" | awk '{ printf "%.2f", $1 + $2 }')
  else
    "$@" > "$_log" 2>&1 || return 1
    W=$(secs_since "$_t0"); C=nan
  fi
}
fail() { cat "$1" >&2; echo "run_bench: $2 failed (log: $1)" >&2; exit 1; }

# ---- sources: generated once per length, reused while complete ----
mkdir -p "$DIR"
if [ "$(cat "$DIR/.complete" 2>/dev/null || true)" != "$SECS" ]; then
  "$PY" -c 'import numpy, scipy' 2>/dev/null || {
    echo "run_bench: $PY needs numpy and scipy (apt-get install python3-numpy python3-scipy)" >&2; exit 1; }
  echo "generating the ${SECS} s benchmark sources in $DIR ..."
  rm -f "$DIR/.complete"
  rm -rf "$DIR"/cut-*
  t0=$(now_ns)
  "$PY" "$SHARE/gen_bench.py" "$DIR" "$SECS"
  echo "$SECS" > "$DIR/.complete"
  echo "generated in $(secs_since "$t0") s"
else
  echo "reusing the ${SECS} s sources in $DIR"
fi
# Short copies of the sources: the references take no length option.  The
# zero-length one gives the setup cost to subtract.
CGS=$(awk -v a="$CGS" -v b="$SECS" 'BEGIN { print (a < b ? a : b) }')
cut_dir() { # cut_dir SECONDS: prints the directory of the first SECONDS
  _d=$DIR/cut-$1
  if [ "$(cat "$_d/.complete" 2>/dev/null || true)" != "$1" ]; then
    rm -rf "$_d"
    "$PY" "$here/cut_sources.py" "$DIR" "$_d" "$1" >&2 || exit 1
    echo "$1" > "$_d/.complete"
  fi
  echo "$_d"
}
CUT0=$(cut_dir 0)
CUTS=$(cut_dir "$CGS")
CGSAT=$(awk -v a="$CGSAT" -v b="$CGS" 'BEGIN { print (a < b ? a : b) }')
# Every implementation is timed with the sources in the page cache.
cat "$DIR"/src*.wav > /dev/null

LOG=$DIR/logs
mkdir -p "$LOG"
rm -f "$LOG"/*.txt "$LOG"/*.time
load_start=$(loadavg)
bench_t0=$(now_ns)

# ---- the reference engines, built from the share, and the allocation
# counter preloaded into ref_simd (bench/alloc_count.c) ----
REFBIN=$DIR/reference-bin
have_scalar=0; have_simd=0; simd_note=""; ref_note=""
if [ "${BENCH_REF:-1}" = 0 ]; then
  ref_note="skipped (BENCH_REF=0)"
elif [ ! -f "$SHARE/reference/build.sh" ]; then
  ref_note="skipped: no $SHARE/reference/build.sh"
else
  echo "building the reference engines from $SHARE/reference ..."
  rm -rf "$REFBIN"
  CC=$CC sh "$SHARE/reference/build.sh" "$REFBIN" > "$LOG/refbuild.txt" 2>&1 ||
    echo "  build.sh failed (see $LOG/refbuild.txt); running what was built"
  [ -x "$REFBIN/ref_scalar" ] && have_scalar=1
  if ! grep -qw avx2 /proc/cpuinfo 2>/dev/null || ! grep -qw fma /proc/cpuinfo 2>/dev/null; then
    simd_note="skipped: this CPU lacks AVX2 and FMA, which ref_simd needs"
  elif [ ! -x "$REFBIN/ref_simd" ]; then
    simd_note="skipped: ref_simd did not build (see $LOG/refbuild.txt)"
  else
    have_simd=1
  fi
  [ "$have_scalar" = 1 ] || ref_note="ref_scalar did not build (see $LOG/refbuild.txt)"
fi
[ -n "$simd_note" ] && echo "ref_simd $simd_note"
# The counter also reports the process's CPU time at exit with ns resolution
# (/usr/bin/time gives 10 ms), the references' CPU figure when it builds.
SHIM=$REFBIN/alloc_count.so
if [ "$have_simd$have_scalar" = 00 ] || ! $CC -O2 -shared -fPIC -DALLOC_COUNT_PRELOAD -I"$here" -o "$SHIM" \
    "$here/alloc_count.c" > "$LOG/shimbuild.txt" 2>&1; then
  SHIM=""
fi
[ -f "${SHIM:-/nonexistent}" ] || SHIM=""
PRE=""; [ -n "$SHIM" ] && PRE="LD_PRELOAD=$SHIM"
ref_secs() { sed -n 's/.* \([0-9.][0-9.]*\) s render loop.*/\1/p' "$1" | head -n 1; }
# proc_cpu LOG: the process CPU a program reported at exit (bench_graph, or
# the preloaded counter), else /usr/bin/time's figure ($C)
proc_cpu() {
  _c=$(result process_cpu_s "$1")
  [ -n "$_c" ] || _c=$(sed -n 's/^PROCESS_CPU_NS \([0-9]*\)$/\1/p' "$1" | awk '{ printf "%.4f", $1 / 1e9 }')
  echo "${_c:-$C}"
}

# ---- the offline renders, interleaved: each round runs libmixstage,
# ref_simd, ref_scalar, libmixstage on 2 threads, ref_simd on 2 threads and
# libmixstage with 64 strips, one after the other, so that a change in the
# machine's load touches every figure alike ----
lw=""; lc=""; lr=""; lrc=""; sw=""; sc=""; sr=""; kw=""; kc=""; kr=""
tw=""; trc=""; tsp=""; s2r=""; qr=""; qrc=""; rounds=0; spent=0
while another_round "$rounds" "$spent"; do
  rounds=$((rounds + 1)); r=$rounds
  echo "round $r of the offline renders (one core unless said) ..."
  timed "$LOG/offline$r.txt" $PIN "$BIN" --mode offline --block 256 --out "$DIR/mix_libmixstage.wav" "$DIR" ||
    fail "$LOG/offline$r.txt" "bench_graph"
  spent=$(add "$spent" "$W")
  C=$(proc_cpu "$LOG/offline$r.txt"); lw="$lw $W"; lc="$lc $C"
  lr="$lr $(result render_s "$LOG/offline$r.txt")"; lrc="$lrc $(result render_cpu_s "$LOG/offline$r.txt")"
  echo "  libmixstage:      $W s wall, $C s CPU; render $(result render_s "$LOG/offline$r.txt") s wall, $(result render_cpu_s "$LOG/offline$r.txt") s CPU"
  if [ "$have_simd" = 1 ]; then
    timed "$LOG/ref_simd$r.txt" $PIN env $PRE "$REFBIN/ref_simd" "$DIR" "$DIR/mix_ref_simd.wav" 1 256 ||
      fail "$LOG/ref_simd$r.txt" "ref_simd"
    spent=$(add "$spent" "$W")
    C=$(proc_cpu "$LOG/ref_simd$r.txt"); sw="$sw $W"; sc="$sc $C"; sr="$sr $(ref_secs "$LOG/ref_simd$r.txt")"
    echo "  ref_simd:         $W s wall, $C s CPU; render $(ref_secs "$LOG/ref_simd$r.txt") s wall"
  fi
  if [ "$have_scalar" = 1 ]; then
    timed "$LOG/ref_scalar$r.txt" $PIN env $PRE "$REFBIN/ref_scalar" "$DIR" "$DIR/mix_ref_scalar.wav" 1 256 ||
      fail "$LOG/ref_scalar$r.txt" "ref_scalar"
    spent=$(add "$spent" "$W")
    C=$(proc_cpu "$LOG/ref_scalar$r.txt"); kw="$kw $W"; kc="$kc $C"; kr="$kr $(ref_secs "$LOG/ref_scalar$r.txt")"
    echo "  ref_scalar:       $W s wall, $C s CPU; render $(ref_secs "$LOG/ref_scalar$r.txt") s wall"
  fi
  timed "$LOG/threads$r.txt" "$BIN" --mode offline --threads 2 --rounds 2 "$DIR" || fail "$LOG/threads$r.txt" "bench_graph"
  spent=$(add "$spent" "$W")
  tw="$tw $(result render_s "$LOG/threads$r.txt")"; trc="$trc $(result render_cpu_s "$LOG/threads$r.txt")"
  tsp="$tsp $(result rounds_speedup "$LOG/threads$r.txt")"
  echo "  libmixstage 2 threads: render $(result render_s "$LOG/threads$r.txt") s wall, $(result render_cpu_s "$LOG/threads$r.txt") s CPU"
  if [ "$have_simd" = 1 ]; then
    timed "$LOG/ref_simd2t$r.txt" "$REFBIN/ref_simd" "$DIR" "$DIR/mix_ref_simd2t.wav" 2 256 ||
      fail "$LOG/ref_simd2t$r.txt" "ref_simd"
    spent=$(add "$spent" "$W")
    s2r="$s2r $(ref_secs "$LOG/ref_simd2t$r.txt")"
    echo "  ref_simd 2 threads: render $(ref_secs "$LOG/ref_simd2t$r.txt") s wall"
  fi
  timed "$LOG/strips64_$r.txt" $PIN "$BIN" --mode offline --strips 64 "$DIR" || fail "$LOG/strips64_$r.txt" "bench_graph"
  spent=$(add "$spent" "$W")
  qr="$qr $(result render_s "$LOG/strips64_$r.txt")"; qrc="$qrc $(result render_cpu_s "$LOG/strips64_$r.txt")"
  echo "  libmixstage 64 strips: render $(result render_s "$LOG/strips64_$r.txt") s wall, $(result render_cpu_s "$LOG/strips64_$r.txt") s CPU"
done
grep -v '^RESULT' "$LOG/offline1.txt" | grep -v '^NOTE' || true
fmt3() { awk -v v="$1" 'BEGIN { if (v == "nan" || v == "") print "nan"; else printf "%.3f", v }'; }
lm_wall=$(echo "$lw" | median); lm_cpu=$(fmt3 "$(echo "$lc" | median)")
lm_render=$(fmt3 "$(echo "$lr" | median)"); lm_rcpu=$(fmt3 "$(echo "$lrc" | median)")
lm_wall2=$(fmt3 "$(echo "$tw" | median)"); lm_rcpu2=$(fmt3 "$(echo "$trc" | median)")
lm64_render=$(fmt3 "$(echo "$qr" | median)"); lm64_rcpu=$(fmt3 "$(echo "$qrc" | median)")
lm_rss=$(result maxrss_mib "$LOG/offline1.txt")
lm_src=$(result source_mib "$LOG/offline1.txt")
lm_peak=$(result mix_peak_dbfs "$LOG/offline1.txt")
lm_allocs=$(result render_allocs "$LOG/offline1.txt")

# The references' setup: a run on zero-length sources (mmap, init, output).
simd_wall=nan; simd_cpu=nan; simd_render=nan; simd_rcpu=nan; simd_render2=nan
scal_wall=nan; scal_cpu=nan; scal_render=nan; scal_rcpu=nan
if [ "$have_simd" = 1 ]; then
  simd_wall=$(echo "$sw" | median); simd_cpu=$(fmt3 "$(echo "$sc" | median)")
  simd_render=$(fmt3 "$(echo "$sr" | median)"); simd_render2=$(fmt3 "$(echo "$s2r" | median)")
  timed "$LOG/ref_simd_setup.txt" $PIN env $PRE "$REFBIN/ref_simd" "$CUT0" "$LOG/ref_setup.wav" 1 256 ||
    fail "$LOG/ref_simd_setup.txt" "ref_simd"
  simd_rcpu=$(sub0 "$simd_cpu" "$(proc_cpu "$LOG/ref_simd_setup.txt")")
fi
if [ "$have_scalar" = 1 ]; then
  scal_wall=$(echo "$kw" | median); scal_cpu=$(fmt3 "$(echo "$kc" | median)")
  scal_render=$(fmt3 "$(echo "$kr" | median)")
  timed "$LOG/ref_scalar_setup.txt" $PIN env $PRE "$REFBIN/ref_scalar" "$CUT0" "$LOG/ref_setup.wav" 1 256 ||
    fail "$LOG/ref_scalar_setup.txt" "ref_scalar"
  scal_rcpu=$(sub0 "$scal_cpu" "$(proc_cpu "$LOG/ref_scalar_setup.txt")")
fi

# The offline API must give the same samples as the 256-frame process loop
# (checked on the first 5 s: the point is the block split, not the length).
echo "checking mixstage_graph_render() against the process loop ..."
vsec=$(awk -v s="$SECS" 'BEGIN { print (s < 5 ? s : 5) }')
if "$BIN" --mode verify --block 256 --seconds 5 "$DIR" > "$LOG/verify.txt"; then verify="bit-identical (first $vsec s)"
else verify="DIFFERENT (see $LOG/verify.txt)"; fi
grep '^verify' "$LOG/verify.txt" || true

# ---- real time: 64-frame blocks, every call timed ----
echo "libmixstage real-time mode, 64-frame blocks ..."
$PIN "$BIN" --mode realtime --block 64 "$DIR" > "$LOG/realtime.txt" || fail "$LOG/realtime.txt" "bench_graph"
grep '^real time\|^  median\|^  thread\|^  heap' "$LOG/realtime.txt" || true
rt_budget=$(result rt_budget_us "$LOG/realtime.txt")
pct() { if num "$1"; then awk -v u="$1" -v b="$rt_budget" 'BEGIN { printf "%.2f", 100 * u / b }'; else echo "-"; fi; }
rt_cmed=$(pct "$(result rt_cpu_median_us "$LOG/realtime.txt")")
rt_cp999=$(pct "$(result rt_cpu_p999_us "$LOG/realtime.txt")")
rt_cmax=$(pct "$(result rt_cpu_max_us "$LOG/realtime.txt")")
rt_wmed=$(pct "$(result rt_median_us "$LOG/realtime.txt")")
rt_wp999=$(pct "$(result rt_p999_us "$LOG/realtime.txt")")
rt_allocs=$(result rt_allocs "$LOG/realtime.txt")
[ "$rt_allocs" = -1 ] && rt_allocs="not counted (needs glibc)"
ref_rt_med=-; ref_rt_p999=-; ref_rt_allocs="not measured"
if [ "$have_simd" = 1 ]; then
  # ref_simd --rt times each block itself (wall clock).  Its allocations are
  # counted by the preloaded counter for the whole process, at full length
  # and on the short sources: what grows with the number of blocks is what
  # its real-time loop allocates.
  echo "ref_simd real-time mode, 64-frame blocks ..."
  $PIN env $PRE "$REFBIN/ref_simd" "$DIR" --rt 64 > "$LOG/ref_simd_rt.txt" 2>&1 || fail "$LOG/ref_simd_rt.txt" "ref_simd --rt"
  grep 'per block' "$LOG/ref_simd_rt.txt" || true
  set -- $(sed -n 's/.*-> median \([0-9.]*\)% \/ p99.9 \([0-9.]*\)% .*/\1 \2/p' "$LOG/ref_simd_rt.txt") - -
  ref_rt_med=$1; ref_rt_p999=$2
  if [ -n "$SHIM" ] && awk -v a="$CGS" -v b="$SECS" 'BEGIN { exit !(a < b) }'; then
    env LD_PRELOAD="$SHIM" "$REFBIN/ref_simd" "$CUTS" --rt 64 > "$LOG/ref_simd_rt_short.txt" 2>&1 ||
      fail "$LOG/ref_simd_rt_short.txt" "ref_simd --rt"
    a_long=$(sed -n 's/^ALLOC_COUNT //p' "$LOG/ref_simd_rt.txt")
    a_short=$(sed -n 's/^ALLOC_COUNT //p' "$LOG/ref_simd_rt_short.txt")
    if num "$a_long" && num "$a_short"; then
      ref_rt_allocs=$((a_long - a_short))
      ref_rt_allocs="$ref_rt_allocs (whole process: $a_long at ${SECS} s, $a_short at ${CGS} s)"
    fi
  elif [ -z "$SHIM" ]; then
    ref_rt_allocs="not measured (the counter did not build: $LOG/shimbuild.txt)"
  fi
fi

# ---- instructions per frame per strip, under callgrind ----
cg_note=""; cg_lm=nan; cg_simd=nan; cg_scal=nan; cg_lin=nan; cg_sat_1x=nan; cg_sat_def=nan
cg_marg_ratio=nan; cg_strip_32_64=nan; cg_strip_64_96=nan; cg_fixed=nan
if [ "$CG" = 0 ]; then
  cg_note="skipped (BENCH_CALLGRIND=0)"
elif ! command -v valgrind > /dev/null 2>&1; then
  cg_note="skipped: valgrind is not installed (apt-get install valgrind; BENCH_CALLGRIND=0 silences this)"
else
  LT=${BENCH_LIBTOOL:-}
  if [ -z "$LT" ] && [ -f "$(dirname "$BIN")/../libtool" ]; then LT="${SHELL:-/bin/sh} $(dirname "$BIN")/../libtool"; fi
  cg_frames=$(awk -v s="$CGS" 'BEGIN { printf "%d", s * 48000 + 0.5 }')
  # cg_ir NAME CMD...: total instructions of CMD under callgrind
  cg_ir() {
    _n=$1; shift
    rm -f "$LOG/cg-$_n.out"
    valgrind --tool=callgrind --callgrind-out-file="$LOG/cg-$_n.out" "$@" > "$LOG/cg-$_n.txt" 2>&1 ||
      fail "$LOG/cg-$_n.txt" "callgrind ($_n)"
    sed -n 's/^summary: *\([0-9]*\).*/\1/p' "$LOG/cg-$_n.out" | head -n 1
  }
  # per_fs IR IR_ZERO [FRAMES]: instructions per frame per strip (32 strips)
  per_fs() { awk -v a="$1" -v b="$2" -v f="${3:-$cg_frames}" 'BEGIN { if (f > 0 && a != "" && b != "") printf "%.1f", (a - b) / (f * 32); else print "nan" }'; }
  echo "callgrind: libmixstage on the first ${CGS} s ..."
  # cg_lm_run NAME ARGS...: the same for bench_graph, through its libtool
  # wrapper when there is one
  cg_lm_run() {
    _n=$1; shift
    rm -f "$LOG/cg-$_n.out"
    if [ -n "$LT" ]; then
      $LT --mode=execute valgrind --tool=callgrind --callgrind-out-file="$LOG/cg-$_n.out" "$BIN" "$@" > "$LOG/cg-$_n.txt" 2>&1
    else
      valgrind --tool=callgrind --callgrind-out-file="$LOG/cg-$_n.out" "$BIN" "$@" > "$LOG/cg-$_n.txt" 2>&1
    fi || fail "$LOG/cg-$_n.txt" "callgrind ($_n)"
    sed -n 's/^summary: *\([0-9]*\).*/\1/p' "$LOG/cg-$_n.out" | head -n 1
  }
  a=$(cg_lm_run lib --mode offline --seconds "$CGS" "$CUTS")
  b=$(cg_lm_run lib0 --mode offline --seconds 0 "$CUTS")
  cg_lm=$(per_fs "$a" "$b")
  # The strip-count ratio without the noise of a busy machine.
  echo "callgrind: libmixstage with 64 strips ..."
  a64=$(cg_lm_run lib64 --mode offline --strips 64 --seconds "$CGS" "$CUTS")
  b64=$(cg_lm_run lib64_0 --mode offline --strips 64 --seconds 0 "$CUTS")
  cg_lin=$(ratio "$(per_fs "$a64" "$b64")" "$cg_lm")
  # Linearity apart from the fixed bus stage: the 64/32 ratio of totals
  # above is issue 11's figure, but with a fixed part F and a cost s per
  # strip it is (F + 64 s) / (F + 32 s), below 2 for any F > 0 (1.70 for
  # F = 860, s = 63; the vectorised reference scores about the same).  A
  # third point, 96 strips, gives the marginal cost per strip over 32..64
  # and over 64..96: their ratio is 1.00 when the cost is linear in strips.
  # The fixed part is the 32-strip cost less 32 marginal strips.
  echo "callgrind: libmixstage with 96 strips ..."
  a96=$(cg_lm_run lib96 --mode offline --strips 96 --seconds "$CGS" "$CUTS")
  b96=$(cg_lm_run lib96_0 --mode offline --strips 96 --seconds 0 "$CUTS")
  # I32, I64, I96: render instructions (setup removed) of each graph
  cg_marg=$(awk -v a="$a" -v b="$b" -v c="$a64" -v d="$b64" -v e="$a96" -v g="$b96" -v f="$cg_frames" 'BEGIN {
    if (a == "" || b == "" || c == "" || d == "" || e == "" || g == "" || f <= 0) { print "nan nan nan nan"; exit }
    i32 = a - b; i64 = c - d; i96 = e - g
    m1 = (i64 - i32) / (32 * f); m2 = (i96 - i64) / (32 * f)
    printf "%.3f %.1f %.1f %.0f\n", (m1 > 0 ? m2 / m1 : 0), m1, m2, i32 / f - 32 * m1 }')
  cg_marg_ratio=${cg_marg%% *}; _r=${cg_marg#* }
  cg_strip_32_64=${_r%% *}; _r=${_r#* }
  cg_strip_64_96=${_r%% *}
  cg_fixed=${_r#* }
  # The saturation's own instructions at 1x and at the node's default, on a
  # shorter render (the default oversamples): the graph minus the graph
  # without saturation.
  echo "callgrind: saturation at 1x, at its default and left out, on the first ${CGSAT} s ..."
  f_sat=$(awk -v s="$CGSAT" 'BEGIN { printf "%d", s * 48000 + 0.5 }')
  a=$(cg_lm_run sat1x --mode offline --seconds "$CGSAT" "$CUTS")
  c1=$(per_fs "$a" "$b" "$f_sat")
  a=$(cg_lm_run satdef --mode offline --sat-default --seconds "$CGSAT" "$CUTS")
  z=$(cg_lm_run satdef0 --mode offline --sat-default --seconds 0 "$CUTS")
  cd_=$(per_fs "$a" "$z" "$f_sat")
  a=$(cg_lm_run satnone --mode offline --omit saturation --seconds "$CGSAT" "$CUTS")
  z=$(cg_lm_run satnone0 --mode offline --omit saturation --seconds 0 "$CUTS")
  cn=$(per_fs "$a" "$z" "$f_sat")
  cg_sat_1x=$(awk -v a="$c1" -v b="$cn" 'BEGIN { printf "%.1f", a - b }')
  cg_sat_def=$(awk -v a="$cd_" -v b="$cn" 'BEGIN { printf "%.1f", a - b }')
  if [ "$have_simd" = 1 ]; then
    echo "callgrind: ref_simd ..."
    a=$(cg_ir simd "$REFBIN/ref_simd" "$CUTS" "$LOG/cg.wav" 1 256)
    b=$(cg_ir simd0 "$REFBIN/ref_simd" "$CUT0" "$LOG/cg.wav" 1 256)
    cg_simd=$(per_fs "$a" "$b")
  fi
  if [ "$have_scalar" = 1 ]; then
    echo "callgrind: ref_scalar ..."
    a=$(cg_ir scalar "$REFBIN/ref_scalar" "$CUTS" "$LOG/cg.wav" 1 256)
    b=$(cg_ir scalar0 "$REFBIN/ref_scalar" "$CUT0" "$LOG/cg.wav" 1 256)
    cg_scal=$(per_fs "$a" "$b")
  fi
fi

# ---- saturation at its default oversampling, beside 1x: the whole graph,
# and the saturation's own share (the graph minus the graph without it) ----
SATS=$(awk -v a="$SATS" -v b="$SECS" 'BEGIN { print (a < b ? a : b) }')
echo "saturation: the first ${SATS} s at 1x, at the node's default, and without saturation ..."
$PIN "$BIN" --mode offline --seconds "$SATS" "$DIR" > "$LOG/sat1x.txt" || fail "$LOG/sat1x.txt" "bench_graph"
$PIN "$BIN" --mode offline --seconds "$SATS" --sat-default "$DIR" > "$LOG/satdef.txt" || fail "$LOG/satdef.txt" "bench_graph"
$PIN "$BIN" --mode offline --seconds "$SATS" --omit saturation "$DIR" > "$LOG/satnone.txt" || fail "$LOG/satnone.txt" "bench_graph"
sat_1x=$(result ns_per_frame_strip_cpu "$LOG/sat1x.txt")
sat_def=$(result ns_per_frame_strip_cpu "$LOG/satdef.txt")
sat_none=$(result ns_per_frame_strip_cpu "$LOG/satnone.txt")
sat_def_name=$(sed -n 's/^NOTE saturation: oversampling left at the node.s default, \([^ ]*\) .*/\1/p' "$LOG/satdef.txt")
fmt1() { awk -v v="$1" 'BEGIN { if (v == "nan" || v == "") print "nan"; else printf "%.1f", v }'; }
sat_own_1x=$(fmt1 "$(sub0 "$sat_1x" "$sat_none")"); sat_own_def=$(fmt1 "$(sub0 "$sat_def" "$sat_none")")
sat_1x=$(fmt1 "$sat_1x"); sat_def=$(fmt1 "$sat_def")

# ---- I/O floor: read the 32 sources, write their sum ----
echo "I/O floor ..."
io_walls=""; io_cpus=""; r=0; spent=0
while another_round "$r" "$spent"; do
  r=$((r + 1))
  timed "$LOG/iofloor$r.txt" "$BIN" --mode iofloor --out "$DIR/mix_iofloor.wav" "$DIR" ||
    fail "$LOG/iofloor$r.txt" "bench_graph --mode iofloor"
  spent=$(add "$spent" "$W")
  io_walls="$io_walls $W"; io_cpus="$io_cpus $C"
done
n_io=$r
io_wall=$(echo "$io_walls" | median); io_cpu=$(echo "$io_cpus" | median)

# ---- SoX pipeline, 1 and 2 jobs ----
sox_note=""; n_sox1=0; n_sox2=0
if [ "${BENCH_SKIP_SOX:-0}" = 1 ]; then
  sox_note="skipped (BENCH_SKIP_SOX=1)"
elif ! command -v sox > /dev/null 2>&1; then
  sox_note="skipped: sox is not installed (apt-get install sox)"
else
  if [ -n "${BENCH_WORK:-}" ]; then WORK=$BENCH_WORK
  elif [ -d /dev/shm ] && [ -w /dev/shm ]; then WORK=/dev/shm/mixstage-bench-sox-$$
  else WORK=$DIR/soxwork; fi
  for jobs in 1 2; do
    echo "SoX pipeline, $jobs job(s) (stems in $WORK) ..."
    ws=""; cs=""; r=0; spent=0
    while another_round "$r" "$spent"; do
      r=$((r + 1))
      rm -rf "$WORK"
      timed "$LOG/sox$jobs-$r.txt" bash "$SHARE/sox_pipeline.sh" "$DIR" "$WORK" "$jobs" ||
        fail "$LOG/sox$jobs-$r.txt" "sox_pipeline.sh"
      spent=$(add "$spent" "$W")
      ws="$ws $W"; cs="$cs $C"
      echo "  run $r: $W s wall, $C s CPU"
    done
    if [ "$jobs" = 1 ]; then sox1=$(echo "$ws" | median); sox1c=$(echo "$cs" | median); n_sox1=$r
    else sox2=$(echo "$ws" | median); sox2c=$(echo "$cs" | median); n_sox2=$r; fi
  done
  cp "$WORK/master.wav" "$DIR/mix_sox.wav"
  rm -rf "$WORK"
fi
load_end=$(loadavg)

# ---- the table ----
cpu=$(grep -m1 'model name' /proc/cpuinfo 2>/dev/null | sed 's/.*: //' || echo unknown)
P=$SECS
cell() { if num "$1"; then printf '%s s (%s)' "$1" "$(xrt "$1" "$P")"; else printf -- '-'; fi; }
row5() { printf '%-30s %-17s %-17s %-17s %-17s %s\n' "$1" "$2" "$3" "$4" "$5" "$6"; }
simd_lbl="ref_simd [$rounds]"; [ "$have_simd" = 1 ] || simd_lbl="ref_simd"
scal_lbl="ref_scalar [$rounds]"; [ "$have_scalar" = 1 ] || scal_lbl="ref_scalar"
echo
echo "==== libmixstage benchmark graph: 32 stereo strips, ${SECS} s at 48 kHz (BENCH_SECONDS=$SECS) ===="
[ "$SECS" = 60 ] || echo "(a quick run: the README's graph and issue 11's targets are for BENCH_SECONDS=60)"
echo "machine: $cpu, $(nproc) cores; load average $load_start at the start, $load_end at the end"
echo "offline, one core, 256-frame blocks, sources in the page cache; median of [n] interleaved rounds"
if [ -n "$PIN" ]; then echo "single-thread runs pinned to CPU ${BENCH_CPU:-0} ($PIN; BENCH_PIN=0 to let the scheduler choose)"; fi
echo "(BENCH_RUNS=$RUNS, BENCH_BUDGET=${BUDGET} s); each time with its speed in x real time"
row5 "" "render wall" "render CPU" "process wall" "process CPU" "instructions/frame/strip"
row5 "libmixstage [$rounds]" "$(cell "$lm_render")" "$(cell "$lm_rcpu")" "$(cell "$lm_wall")" "$(cell "$lm_cpu")" "$(dash "$cg_lm")"
row5 "$simd_lbl" "$(cell "$simd_render")" "$(cell "$simd_rcpu")" "$(cell "$simd_wall")" "$(cell "$simd_cpu")" "$(dash "$cg_simd")"
row5 "$scal_lbl" "$(cell "$scal_render")" "$(cell "$scal_rcpu")" "$(cell "$scal_wall")" "$(cell "$scal_cpu")" "$(dash "$cg_scal")"
row5 "libmixstage / ref_simd" "$(rx "$lm_render" "$simd_render")" "$(rx "$lm_rcpu" "$simd_rcpu")" \
  "$(rx "$lm_wall" "$simd_wall")" "$(rx "$lm_cpu" "$simd_cpu")" "$(rx "$cg_lm" "$cg_simd")"
row5 "libmixstage / ref_scalar" "$(rx "$lm_render" "$scal_render")" "$(rx "$lm_rcpu" "$scal_rcpu")" \
  "$(rx "$lm_wall" "$scal_wall")" "$(rx "$lm_cpu" "$scal_cpu")" "$(rx "$cg_lm" "$cg_scal")"
[ -n "$ref_note" ] && echo "  references: $ref_note"
[ -n "$simd_note" ] && echo "  ref_simd: $simd_note"
echo "  render: libmixstage times its process loop itself (no file output); the references print the wall time"
echo "  of theirs (which writes the output WAV); their render CPU is process CPU minus a zero-length run's."
echo "  process: the whole command (libmixstage reads its sources with libsndfile, the references mmap them);"
echo "  process CPU as each process reports it at exit (CLOCK_PROCESS_CPUTIME_ID; the references through the"
echo "  preloaded bench/alloc_count.c), else /usr/bin/time's."
if [ -n "$cg_note" ]; then echo "  instructions: $cg_note"
else echo "  instructions: callgrind Ir of a ${CGS} s render minus a zero-length run (setup removed), / (frames x 32)"; fi
echo "  libmixstage render per frame per strip: $(awk -v t="$lm_rcpu" -v p="$P" 'BEGIN { printf "%.1f", 1e9 * t / (p * 48000 * 32) }') ns CPU;" \
  "heap allocations in its process loop: ${lm_allocs:-not counted}"
echo
echo "two threads, one graph [$rounds]: libmixstage render $(cell "$lm_wall2") wall, $lm_rcpu2 s CPU;" \
  "speed-up over one thread $(rx "$lm_render" "$lm_wall2") (wall), CPU 2 threads / 1 thread $(rx "$lm_rcpu2" "$lm_rcpu") (1.00x: no extra work)"
echo "  the same, one thread and two alternately inside one process (mixstage_graph_render both, bench_graph --rounds 2):" \
  "speed-up $(fmt3 "$(echo "$tsp" | median)")x (median of the rounds' medians)"
[ "$have_simd" = 1 ] && echo "  ref_simd on 2 threads: render $(cell "$simd_render2") wall, speed-up $(rx "$simd_render" "$simd_render2")"
echo "strips [$rounds]: 64 strips render $lm64_render s wall, $lm64_rcpu s CPU; 64 / 32 strips: $(ratio "$lm64_rcpu" "$lm_rcpu") (CPU)," \
  "$(ratio "$lm64_render" "$lm_render") (wall), $(dash "$cg_lin") (callgrind instructions)"
echo "  linearity (callgrind, ${CGS} s renders of 32, 64 and 96 strips): a strip costs $(dash "$cg_strip_32_64")" \
  "instructions per frame from 32 to 64 strips, $(dash "$cg_strip_64_96") from 64 to 96: (I96 - I64) / (I64 - I32) =" \
  "$(dash "$cg_marg_ratio") (1.00 +- 0.05 is linear); fixed part (0 strips, by the 32..64 slope) $(dash "$cg_fixed")" \
  "instructions per frame"
echo "saturation, first ${SATS} s, render CPU per frame per strip: whole graph $sat_1x ns at 1x, $sat_def ns at the default (${sat_def_name:-?});"
echo "  the saturation's own share (graph minus graph without it): $sat_own_1x ns at 1x, $sat_own_def ns at ${sat_def_name:-the default};"
echo "  its own instructions per frame per strip (callgrind, first ${CGSAT} s): $(dash "$cg_sat_1x") at 1x, $(dash "$cg_sat_def") at ${sat_def_name:-the default}"
echo
echo "real time, 64-frame blocks ($(result rt_blocks "$LOG/realtime.txt") blocks, period $rt_budget us, one thread, normal scheduler):"
echo "  libmixstage thread CPU: median $rt_cmed %, p99.9 $rt_cp999 %, max $rt_cmax % of the period;" \
  "$(result rt_cpu_over_budget "$LOG/realtime.txt") blocks over"
echo "  libmixstage wall:       median $rt_wmed %, p99.9 $rt_wp999 %; $(result rt_over_budget "$LOG/realtime.txt") blocks over"
echo "  libmixstage heap allocations in the loop: $rt_allocs (malloc/calloc/realloc/aligned, counted by bench/alloc_count.c)"
if [ "$have_simd" = 1 ]; then
  echo "  ref_simd --rt (its own timing, wall): median $ref_rt_med %, p99.9 $ref_rt_p999 %"
  echo "  ref_simd allocations growing with the run length: $ref_rt_allocs"
fi
echo
if [ -n "$sox_note" ]; then
  echo "SoX pipeline (sox_pipeline.sh): $sox_note"
else
  echo "SoX pipeline [$n_sox1]/[$n_sox2]: 1 job $(cell "$sox1") wall / $sox1c s CPU; 2 jobs $(cell "$sox2") wall / $sox2c s CPU;" \
    "libmixstage is $(rx "$sox1c" "$lm_cpu") faster (process CPU, one core)"
fi
echo "I/O floor (read 32 sources, write the sum) [$n_io]: $(cell "$io_wall") wall / $io_cpu s CPU"
echo "README yardstick (its machine, 60 s graph): ref_simd 0.56 s (108x), 0.40 s on 2 cores; ref_scalar 5.8 s"
echo "peak memory of one render (ru_maxrss): $lm_rss MiB, of which $lm_src MiB are the 32 source buffers"
echo "mix: peak $lm_peak dBFS, written to $DIR/mix_libmixstage.wav; offline API vs process loop: $verify"
if grep -q '^NOTE' "$LOG/offline1.txt"; then
  echo "where this graph departs from the README:"
  grep '^NOTE' "$LOG/offline1.txt" | sed 's/^NOTE /  - /'
fi

speedup=$(ratio "$lm_render" "$lm_wall2")
cpu_ratio=$(ratio "$lm_rcpu" "$simd_rcpu")
lin=$(ratio "$lm64_rcpu" "$lm_rcpu")
allocs_n=$rt_allocs; num "$allocs_n" && [ "$allocs_n" -ge 0 ] 2>/dev/null || allocs_n=nan
trow() { printf '%-52s %-14s %s\n' "$1" "$2" "$3"; }
echo
echo "==== issue 11 targets (BENCH_SECONDS=$SECS; load average $load_end) ===="
trow "target" "measured" "verdict"
trow "render CPU, one core <= 2.0x ref_simd" "$(rx "$lm_rcpu" "$simd_rcpu")" "$(judge "$cpu_ratio" "" 2.0)"
trow "instructions per frame per strip <= 90 (callgrind)" "$(dash "$cg_lm")" "$(judge "$cg_lm" "" 90)"
trow "2 threads >= 1.6x 1 thread (render wall)" "$(rx "$lm_render" "$lm_wall2")" "$(judge "$speedup" 1.6 "")"
trow "real time: median <= 2 % of the period (thread CPU)" "$rt_cmed %" "$(judge "$rt_cmed" "" 2)"
trow "real time: p99.9 <= 10 % of the period (thread CPU)" "$rt_cp999 %" "$(judge "$rt_cp999" "" 10)"
trow "64 / 32 strips in 1.9-2.1 (render CPU)" "$lin" "$(judge "$lin" 1.9 2.1)"
trow "64 / 32 strips in 1.9-2.1 (callgrind instructions)" "$(dash "$cg_lin")" "$(judge "$cg_lin" 1.9 2.1)"
trow "  per strip, 64..96 / 32..64 strips (callgrind)" "$(dash "$cg_marg_ratio")" \
  "(figure; linear: 1.00 +- 0.05; fixed part $(dash "$cg_fixed") instr/frame)"
trow "zero allocations in the real-time loop" "$rt_allocs" "$(judge "$allocs_n" 0 0)"
trow "saturation at its default (${sat_def_name:-?}), own cost, CPU" "$sat_own_def ns" "(figure; 1x: $sat_own_1x ns)"
trow "saturation at its default, own instructions" "$(dash "$cg_sat_def")" "(figure; 1x: $(dash "$cg_sat_1x"))"
echo "(the benchmark took $(secs_since "$bench_t0") s, source generation aside)"
if awk -v l="${load_start%% *}" -v n="$(nproc 2>/dev/null || echo 1)" 'BEGIN { exit !(l > 0.5 * n) }'; then
  echo "(the machine was busy (load average ${load_start%% *} on $(nproc) cores): wall times, the 2-thread speed-up and"
  echo " the real-time percentiles are inflated; the CPU times and instruction counts are the figures to trust)"
fi

# ---- deliveries (issue 12): one pass for a delivery and its null check -----
# The demo song (`mixstage demo`, 8 bars) delivered by the command line, one
# thread, CPU time (user + sys) and peak RSS from /usr/bin/time: production
# alone; mix-stems (stems, FX stems, reference, null check, manifest); the
# final profile mastered to the streaming target (--master streaming: the
# capture, the search on the mastering chain, the file); and the three
# profiles in one call.  Each figure over production is a target of issue 12
# (mix-stems <= 2.5x, mastered final <= 1.5x, all three <= 4x), and
# `mixstage demo` as a whole (synthesis, three profiles, master search,
# files) is given in CPU seconds per second of music.
# BENCH_DELIVER=0 skips it; BENCH_MIXSTAGE names the command (default: the
# build's, beside bench_graph's folder).
# The memory figure of issue 12 (peak RSS of a 30-minute mix-stems delivery
# of the benchmark graph from file sources, 32 stems, within +64 MiB of a
# 1-minute one: bench_graph --mode deliver) runs only with
# BENCH_DELIVER_MEMORY=1: some 10 CPU minutes per 30 minutes of music.  The
# sources are made as long as the long delivery (BENCH_DELIVER_LONG=S,
# default 1800 s), so every strip streams its file to the end: each of the
# 32 is its benchmark source repeated end to end by SoX, stored as 16-bit
# PCM (11 GB for 30 minutes; float would be 22 GB, and the reader's memory
# does not depend on the sample format).  Both deliveries, 60 s and the long
# one, play these same files; the deliveries themselves write 35 files of
# 24-bit stereo (18 GB at 30 minutes).  Sources and deliveries are removed
# afterwards (BENCH_KEEP_LONG=1 keeps the sources for the next run); the
# figure is skipped, and says so, without SoX or without the disk space.
if [ "${BENCH_DELIVER:-1}" != 0 ]; then
  ms=${BENCH_MIXSTAGE:-$(dirname "$BIN")/../mixstage}
  dd=${BENCH_DIR:-${TMPDIR:-/tmp}/mixstage-bench}/deliver
  echo
  echo "==== deliveries: demo song, production vs mix-stems, mastered final, all three (issue 12) ===="
  if [ ! -x "$ms" ] || [ ! -x /usr/bin/time ]; then
    echo "(skipped: needs $ms and /usr/bin/time)"
  else
    mkdir -p "$dd"
    rm -rf "$dd/demo"
    /usr/bin/time -f "%U %S %M" -o "$dd/time-demo" "$ms" demo --out "$dd/demo" -q >/dev/null 2>&1 || echo "(demo failed)"
    song="$dd/demo/demo-song.mixstage.json"
    deliver() { # name, then the render options
      n=$1
      shift
      rm -rf "$dd/out-$n"
      /usr/bin/time -f "%U %S %M" -o "$dd/time-$n" "$ms" render "$song" "$@" -o "$dd/out-$n" -j 1 -q >/dev/null 2>&1 ||
        echo "(render $n failed)"
    }
    deliver production -p production
    deliver mix-stems -p mix-stems
    deliver final-mastered -p final --master streaming
    deliver all-three -p production -p mix-stems -p final
    # seconds of music: the demo's delivered production mix (frames / rate)
    music=$(sed -n 's/^ *"graph_frames": *\([0-9]*\).*/\1/p' "$dd/demo/production/manifest.json" 2>/dev/null | head -n 1)
    rate=$(sed -n 's/^ *"graph_sample_rate": *\([0-9.]*\).*/\1/p' "$dd/demo/production/manifest.json" 2>/dev/null | head -n 1)
    awk -v music="${music:-0}" -v rate="${rate:-0}" '
         FNR == 1 { n = FILENAME; sub(/.*time-/, "", n); c[n] = $1 + $2; r[n] = $3 }
         function row(n, label) { printf "%-34s %8.2f %8d KiB\n", label, c[n], r[n] }
         function target(n, label, t) {
           if (c["production"] > 0 && (n in c))
             printf "%-34s %6.2fx  (target <= %.1fx: %s)\n", label, c[n] / c["production"], t,
                    c[n] / c["production"] <= t ? "met" : "NOT met"
         }
         END {
           printf "%-34s %8s %12s\n", "delivery (one thread)", "CPU s", "peak RSS"
           row("production", "production")
           row("mix-stems", "mix-stems")
           row("final-mastered", "final, mastered (streaming)")
           row("all-three", "production + mix-stems + final")
           target("mix-stems", "mix-stems / production", 2.5)
           target("final-mastered", "mastered final / production", 1.5)
           target("all-three", "all three / production", 4.0)
           if (music > 0 && rate > 0)
             printf "mixstage demo: %.2f CPU s for %.2f s of music = %.2f CPU s per second of music (was 1.6-1.9)\n",
                    c["demo"], music / rate, c["demo"] / (music / rate)
         }' "$dd/time-production" "$dd/time-mix-stems" "$dd/time-final-mastered" "$dd/time-all-three" "$dd/time-demo"
  fi
  echo
  long=${BENCH_DELIVER_LONG:-1800}
  if [ "${BENCH_DELIVER_MEMORY:-0}" = 1 ]; then
    lsrc="$dd/long-$long"
    mkdir -p "$dd"
    # MiB: 16-bit sources, then the long delivery's 24-bit files
    need=$(awk -v l="$long" 'BEGIN { printf "%d", (32 * l * 48000 * 4 + 35 * l * 48000 * 6) / 1048576 + 1024 }')
    have=$(df -Pm "$dd" | awk 'NR == 2 { print $4 }')
    if ! command -v sox >/dev/null 2>&1; then
      echo "memory of a long delivery (issue 12, +64 MiB): skipped, SoX is needed to make the long sources"
    elif [ ! -f "$lsrc/src31.wav" ] && [ "${have:-0}" -lt "$need" ]; then
      echo "memory of a long delivery (issue 12, +64 MiB): skipped, $need MiB of disk needed in $dd, $have free"
    else
      mkdir -p "$lsrc"
      cp "$DIR/strips.tsv" "$lsrc/"
      srclen=$(soxi -D "$DIR/src00.wav")
      reps=$(awk -v l="$long" -v s="$srclen" 'BEGIN { n = int(l / s); if (n * s < l) n++; print n - 1 }')
      i=0
      while [ $i -lt 32 ]; do
        f=$(printf 'src%02d.wav' $i)
        # trimmed to the long length: every source exactly as long as the delivery
        [ -f "$lsrc/$f" ] || sox -D -V1 "$DIR/$f" -b 16 "$lsrc/$f" repeat "$reps" trim 0 "$long" ||
          echo "(making $lsrc/$f failed)"
        i=$((i + 1))
      done
      for secs in 60 "$long"; do
        rm -rf "$dd/stems-$secs"
        "$BIN" --mode deliver --seconds "$secs" --out "$dd/stems-$secs" "$lsrc" > "$dd/stems-$secs.txt" 2>&1 ||
          echo "(delivery of $secs s failed: $dd/stems-$secs.txt)"
        rm -rf "$dd/stems-$secs"
      done
      [ "${BENCH_KEEP_LONG:-0}" = 1 ] || rm -rf "$lsrc"
      r1=$(sed -n 's/^RESULT maxrss_mib //p' "$dd/stems-60.txt")
      rl=$(sed -n 's/^RESULT maxrss_mib //p' "$dd/stems-$long.txt")
      awk -v a="${r1:-nan}" -v b="${rl:-nan}" -v l="$long" 'BEGIN {
        printf "mix-stems delivery of the benchmark graph from file sources: peak RSS %s MiB at 60 s, %s MiB at %s s:" \
               " %+.1f MiB (issue 12 target <= +64 MiB: %s)\n", a, b, l, b - a, (b - a <= 64) ? "met" : "NOT met" }'
      echo "  (sources: the benchmark's, repeated to $long s as 16-bit files, so every strip streams to the end)"
    fi
  else
    echo "memory of a long delivery (issue 12, +64 MiB): not measured; BENCH_DELIVER_MEMORY=1 make bench runs it"
    echo "  (or: $BIN --mode deliver --seconds 1800 --out DIR SRC, and --seconds 60, comparing RESULT maxrss_mib,"
    echo "   SRC holding 30-minute sources: see BENCH_DELIVER_MEMORY in run_bench.sh)"
  fi
fi
