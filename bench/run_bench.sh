#!/bin/sh
# The libmixstage benchmark (`make bench`): the graph defined in the bench
# README (gen_bench.py + sox_pipeline.sh), rendered by libmixstage and by the
# SoX pipeline in the same run, side by side.
#
# usage: run_bench.sh PATH/TO/bench_graph
# environment:
#   BENCH_SECONDS  program length in seconds (default 60, the README's graph;
#                  use e.g. 10 for a quick run and quote figures from 60)
#   BENCH_DIR      where sources are generated once and reused
#                  (default ${TMPDIR:-/tmp}/mixstage-bench-<seconds>)
#   BENCH_RUNS     timed runs per figure, the median is reported (default 3);
#                  a figure stops early once its runs have taken BENCH_BUDGET
#                  seconds (default 300), so every figure gets at least one
#                  run and the table says how many each got
#   BENCH_SHARE    directory holding gen_bench.py and sox_pipeline.sh
#                  (default: beside this script, else /work/shared/bench)
#   BENCH_WORK     scratch for the SoX stems (default a tmpfs dir under
#                  /dev/shm, as in the README; else under BENCH_DIR)
#   BENCH_SKIP_SOX set to 1 to skip the SoX timing
#
# Every figure is given as wall time and as CPU time (user + system of the
# command and its children).  On an idle machine they agree for one core;
# when other processes compete for the cores, wall time is inflated and the
# CPU time is the figure to compare.  The load average is printed with the
# table.
set -eu

BIN=${1:?usage: run_bench.sh PATH/TO/bench_graph}
[ -x "$BIN" ] || { echo "run_bench: $BIN is not an executable" >&2; exit 1; }
SECS=${BENCH_SECONDS:-60}
DIR=${BENCH_DIR:-${TMPDIR:-/tmp}/mixstage-bench-$SECS}
RUNS=${BENCH_RUNS:-3}
BUDGET=${BENCH_BUDGET:-300}
PY=/usr/bin/python3
TIME_BIN=/usr/bin/time
[ -x "$TIME_BIN" ] || TIME_BIN=

here=$(cd "$(dirname "$0")" && pwd)
SHARE=${BENCH_SHARE:-}
if [ -z "$SHARE" ]; then
  if [ -f "$here/gen_bench.py" ]; then SHARE=$here; else SHARE=/work/shared/bench; fi
fi
[ -f "$SHARE/gen_bench.py" ] || { echo "run_bench: no gen_bench.py in $SHARE (set BENCH_SHARE)" >&2; exit 1; }

now_ns() { date +%s%N; }
secs_since() { awk -v a="$1" -v b="$(now_ns)" 'BEGIN { printf "%.3f", (b - a) / 1e9 }'; }
median() { tr ' ' '\n' | grep . | sort -g | awk '{ a[NR] = $1 } END { if (NR == 0) print "nan"; else if (NR % 2) print a[(NR + 1) / 2]; else printf "%.3f\n", (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }
add() { awk -v a="$1" -v b="$2" 'BEGIN { print a + b }'; }
result() { grep "^RESULT $1 " "$2" | head -n 1 | awk '{ print $3 }'; }
xrt() { awk -v p="$SECS" -v t="$1" 'BEGIN { if (t > 0) printf "%.2fx", p / t; else print "-" }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "-" }'; }
loadavg() { cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo unknown; }
# another_run RUNS_DONE SECONDS_SPENT: true while a figure may take one more run
another_run() { [ "$1" -lt "$RUNS" ] && awk -v s="$2" -v b="$BUDGET" 'BEGIN { exit !(s < b) }'; }

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

# ---- sources: generated once per length, reused while complete ----
mkdir -p "$DIR"
if [ "$(cat "$DIR/.complete" 2>/dev/null || true)" != "$SECS" ]; then
  "$PY" -c 'import numpy, scipy' 2>/dev/null || {
    echo "run_bench: $PY needs numpy and scipy (apt-get install python3-numpy python3-scipy)" >&2; exit 1; }
  echo "generating the ${SECS} s benchmark sources in $DIR ..."
  rm -f "$DIR/.complete"
  t0=$(now_ns)
  "$PY" "$SHARE/gen_bench.py" "$DIR" "$SECS"
  echo "$SECS" > "$DIR/.complete"
  echo "generated in $(secs_since "$t0") s"
else
  echo "reusing the ${SECS} s sources in $DIR"
fi
# Every implementation is timed with the sources in the page cache.
cat "$DIR"/src*.wav > /dev/null

LOG=$DIR/logs
mkdir -p "$LOG"
rm -f "$LOG"/*.txt "$LOG"/*.time
load_start=$(loadavg)

# ---- (a) libmixstage offline, one graph on one thread ----
echo "libmixstage offline render, 256-frame blocks ..."
walls=""; cpus=""; renders=""; rcpus=""; r=0; spent=0
while another_run "$r" "$spent"; do
  r=$((r + 1))
  timed "$LOG/offline$r.txt" "$BIN" --mode offline --block 256 --out "$DIR/mix_libmixstage.wav" "$DIR" ||
    { cat "$LOG/offline$r.txt"; echo "run_bench: bench_graph failed" >&2; exit 1; }
  spent=$(add "$spent" "$W")
  walls="$walls $W"; cpus="$cpus $C"
  renders="$renders $(result render_s "$LOG/offline$r.txt")"
  rcpus="$rcpus $(result render_cpu_s "$LOG/offline$r.txt")"
  echo "  run $r: $W s wall, $C s CPU"
done
n_lm=$r
grep -v '^RESULT' "$LOG/offline1.txt" || true
lm_wall=$(echo "$walls" | median); lm_cpu=$(echo "$cpus" | median)
lm_render=$(echo "$renders" | median | awk '{ printf "%.3f", $1 }')
lm_rcpu=$(echo "$rcpus" | median | awk '{ printf "%.3f", $1 }')
nsfs() { awk -v t="$1" -v p="$SECS" 'BEGIN { printf "%.0f", 1e9 * t / (p * 48000 * 32) }'; }
lm_rss=$(result maxrss_mib "$LOG/offline1.txt")
lm_src=$(result source_mib "$LOG/offline1.txt")
lm_peak=$(result mix_peak_dbfs "$LOG/offline1.txt")

# The offline API must give the same samples as the 256-frame process loop
# (checked on the first 5 s: the point is the block split, not the length).
echo "checking mixstage_graph_render() against the process loop ..."
vsec=$(awk -v s="$SECS" 'BEGIN { print (s < 5 ? s : 5) }')
if "$BIN" --mode verify --block 256 --seconds 5 "$DIR" > "$LOG/verify.txt"; then verify="bit-identical (first $vsec s)"
else verify="DIFFERENT (see $LOG/verify.txt)"; fi
grep '^verify' "$LOG/verify.txt" || true

# ---- two cores: one render of the graph on two threads (units of one
# schedule level run in parallel; the result is bit-identical) ----
echo "libmixstage offline render on 2 threads ..."
walls2=""; cpus2=""; r=0; spent=0
while another_run "$r" "$spent"; do
  r=$((r + 1))
  timed "$LOG/threads$r.txt" "$BIN" --mode offline --threads 2 "$DIR" ||
    { cat "$LOG/threads$r.txt"; echo "run_bench: bench_graph failed" >&2; exit 1; }
  spent=$(add "$spent" "$W")
  walls2="$walls2 $(result render_s "$LOG/threads$r.txt")"; cpus2="$cpus2 $C"
  echo "  run $r: $(result render_s "$LOG/threads$r.txt") s render wall"
done
n_lm2=$r
lm_wall2=$(echo "$walls2" | median)
lm_cpu2=$(echo "$cpus2" | median)

# ---- (b) real time: 64-frame blocks, every call timed ----
echo "libmixstage real-time mode, 64-frame blocks ..."
"$BIN" --mode realtime --block 64 "$DIR" > "$LOG/realtime.txt" ||
  { cat "$LOG/realtime.txt"; echo "run_bench: bench_graph failed" >&2; exit 1; }
grep '^real time\|^  median\|^  thread' "$LOG/realtime.txt" || true

# ---- (d) I/O floor: read the 32 sources, write their sum ----
echo "I/O floor ..."
io_walls=""; io_cpus=""; r=0; spent=0
while another_run "$r" "$spent"; do
  r=$((r + 1))
  timed "$LOG/iofloor$r.txt" "$BIN" --mode iofloor --out "$DIR/mix_iofloor.wav" "$DIR" ||
    { cat "$LOG/iofloor$r.txt"; exit 1; }
  spent=$(add "$spent" "$W")
  io_walls="$io_walls $W"; io_cpus="$io_cpus $C"
done
n_io=$r
io_wall=$(echo "$io_walls" | median); io_cpu=$(echo "$io_cpus" | median)

# ---- (c) SoX pipeline, 1 and 2 jobs ----
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
    while another_run "$r" "$spent"; do
      r=$((r + 1))
      rm -rf "$WORK"
      timed "$LOG/sox$jobs-$r.txt" bash "$SHARE/sox_pipeline.sh" "$DIR" "$WORK" "$jobs" ||
        { cat "$LOG/sox$jobs-$r.txt"; echo "run_bench: sox_pipeline.sh failed" >&2; exit 1; }
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
row() { printf '%-44s %-38s %s\n' "$1" "$2" "$3"; }
echo
echo "==== libmixstage benchmark graph: 32 stereo strips, ${SECS} s at 48 kHz (BENCH_SECONDS=$SECS) ===="
echo "machine: $cpu, $(nproc) cores; load average $load_start at the start, $load_end at the end"
echo "whole commands, sources in the page cache; median of the runs in [n] (BENCH_RUNS=$RUNS, BENCH_BUDGET=${BUDGET} s)"
echo "each cell: wall time (x real time) / CPU time (x real time)"
row "implementation" "1 core" "2 cores"
row "libmixstage, whole process [$n_lm]" "$lm_wall s ($(xrt "$lm_wall")) / $lm_cpu s ($(xrt "$lm_cpu"))" ""
row "  of which render [$n_lm]/[$n_lm2]" "$lm_render s ($(xrt "$lm_render")) / $lm_rcpu s ($(xrt "$lm_rcpu"))" \
  "$lm_wall2 s ($(xrt "$lm_wall2")), 2 threads, one graph"
row "  speed-up of 2 threads over 1 (render wall)" "" "$(ratio "$lm_render" "$lm_wall2")x"
row "  render per frame per strip" "$(nsfs "$lm_render") ns / $(nsfs "$lm_rcpu") ns" ""
if [ -n "$sox_note" ]; then
  row "SoX pipeline (sox_pipeline.sh)" "$sox_note" ""
else
  row "SoX pipeline [$n_sox1]/[$n_sox2]" "$sox1 s ($(xrt "$sox1")) / $sox1c s ($(xrt "$sox1c"))" \
    "$sox2 s ($(xrt "$sox2")) / $sox2c s CPU"
  row "libmixstage speed-up over SoX (SoX/ours)" "$(ratio "$sox1" "$lm_wall")x wall / $(ratio "$sox1c" "$lm_cpu")x CPU" \
    "$(ratio "$sox2" "$lm_wall2")x (SoX 2 jobs vs our render on 2 threads)"
fi
row "I/O floor: read 32 sources, write sum [$n_io]" "$io_wall s ($(xrt "$io_wall")) / $io_cpu s ($(xrt "$io_cpu"))" \
  "n/a: one reader"
row "README yardstick (its machine, 60 s graph)" "vectorised C engine 0.56 s (108x)" "0.40 s (150x)"
echo
echo "real time, 64-frame blocks, every mixstage_graph_process() call timed ($(result rt_blocks "$LOG/realtime.txt") blocks, budget $(result rt_budget_us "$LOG/realtime.txt") us, normal scheduler):"
echo "  wall:       median $(result rt_median_us "$LOG/realtime.txt") us, 99.9th percentile $(result rt_p999_us "$LOG/realtime.txt") us, max $(result rt_max_us "$LOG/realtime.txt") us; $(result rt_over_budget "$LOG/realtime.txt") blocks over budget"
echo "  thread CPU: median $(result rt_cpu_median_us "$LOG/realtime.txt") us, 99.9th percentile $(result rt_cpu_p999_us "$LOG/realtime.txt") us, max $(result rt_cpu_max_us "$LOG/realtime.txt") us; $(result rt_cpu_over_budget "$LOG/realtime.txt") blocks over budget"
echo "peak memory of one render (ru_maxrss): $lm_rss MiB, of which $lm_src MiB are the 32 source buffers"
echo "mix: peak $lm_peak dBFS, written to $DIR/mix_libmixstage.wav; offline API vs process loop: $verify"
if [ -f "$DIR/mix_sox.wav" ]; then echo "SoX master for comparison: $DIR/mix_sox.wav"; fi
if grep -q '^NOTE' "$LOG/offline1.txt"; then
  echo "where this graph departs from the README:"
  grep '^NOTE' "$LOG/offline1.txt" | sed 's/^NOTE /  - /'
fi
