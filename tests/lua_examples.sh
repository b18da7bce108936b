#!/bin/sh
# Runs the Lua example tours against the build tree, with the environment
# tests/lua_tests.sh sets up, and checks their figures for plausibility.
# Exit 77 (skipped) when the Lua binding is not built.
. "$(dirname "$0")/lua_env.sh"
out=$(mktemp -d "${TMPDIR:-/tmp}/mixstage-lua-examples.XXXXXX") || exit 99
trap 'rm -rf "$out"' EXIT

# The analysis tour on a 1 s excerpt of the demo song (as the Python test).
if ! "$lua" "$s/examples/lua/analysis_tour.lua" --out "$out/tour" --seconds 1 > "$out/tour.txt"; then
  echo "examples/lua/analysis_tour.lua failed"; tail -20 "$out/tour.txt"; exit 1
fi
status=0
# Every master: "master NAME: target T LUFS C dBTP -> L LUFS P dBTP": within
# the search's 0.3 LU tolerance (plus 0.005 of printing) and at or under the
# ceiling; all five (four presets and the custom target) present.
awk '$1 == "master" { n++
       if ($9 - $4 > 0.305 || $4 - $9 > 0.305 || $11 > $6 + 0.005) { bad = 1; print "off target:", $0 } }
     END { exit !(n == 5 && !bad) }' "$out/tour.txt" ||
  { echo "FAIL: analysis_tour.lua masters"; grep '^  master' "$out/tour.txt"; status=1; }
# The in-graph meter and the offline meter of the same render agree within
# the streaming meter's histogram gating (0.05 LU, analysis.h).
awk '/^in-graph mix meter:/ { live = $4 } /^offline premaster meter:/ { off = $4 }
     END { d = live - off; if (d < 0) d = -d; exit !(live != "" && off != "" && d <= 0.05) }' \
  "$out/tour.txt" || { echo "FAIL: analysis_tour.lua in-graph meter"; status=1; }
grep -q 'phase: Kick / Kick room: offset 37 samples, polarity flipped' "$out/tour.txt" ||
  { echo "FAIL: analysis_tour.lua did not find the planted kick mic"; status=1; }
for f in masters/streaming.wav masters/custom.wav album/2.wav ab/A.wav ab/B.wav \
         translation/master-phone.wav; do
  [ -s "$out/tour/$f" ] || { echo "FAIL: analysis_tour.lua wrote no $f"; status=1; }
done
exit $status
