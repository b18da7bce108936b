#!/bin/sh
# The examples, run as tests: each must exit 0.  custom_profile delivers
# "dry stems plus FX stems" (and fails if they do not add up); stem_roundtrip
# re-mixes that delivery; demo_song delivers the three built-in profiles.
# Run from the build directory by make check.
set -u
out=$(mktemp -d "${TMPDIR:-/tmp}/mixstage-examples.XXXXXX") || exit 99
trap 'rm -rf "$out"' EXIT
b=${top_builddir:-.}/examples
status=0
"$b/custom_profile" --out "$out" || { echo "FAIL: custom_profile"; status=1; }
if [ $status -eq 0 ]; then
  "$b/stem_roundtrip" "$out/dry-plus-fx" --out "$out/remix.wav" || { echo "FAIL: stem_roundtrip"; status=1; }
  [ -s "$out/remix.wav" ] || { echo "FAIL: no remix.wav"; status=1; }
fi
# The demo song renders five passes of a 19 s song: under ASan or valgrind
# that is minutes, and custom_profile already drives the same bounce and
# delivery code there; the plain and the RealtimeSanitizer runs keep it.
case "${MIXSTAGE_SANITIZER:-}" in
  address|valgrind) echo "demo_song: skipped under ${MIXSTAGE_SANITIZER}" ;;
  *)
    "$b/demo_song" --out "$out/demo" || { echo "FAIL: demo_song"; status=1; }
    for d in production mix-stems final; do
      [ -s "$out/demo/$d/manifest.json" ] || { echo "FAIL: demo_song wrote no $d/manifest.json"; status=1; }
    done ;;
esac
# The analysis tour: every analysis figure on the demo song, rendered over a
# 2 s excerpt (1 s under ASan): the master search renders it a dozen times.
# Under valgrind it is skipped like demo_song.
case "${MIXSTAGE_SANITIZER:-}" in
  valgrind) echo "analysis_tour: skipped under valgrind" ;;
  *)
    secs=2; [ "${MIXSTAGE_SANITIZER:-}" = address ] && secs=1
    if "$b/analysis_tour" --out "$out/tour" --seconds $secs > "$out/tour.txt"; then
      for f in masters/streaming.wav masters/custom.wav album/2-breakdown.wav ab/A.wav ab/B.wav \
               translation/master-phone.wav; do
        [ -s "$out/tour/$f" ] || { echo "FAIL: analysis_tour wrote no $f"; status=1; }
      done
      # The streaming master's line: "streaming target -14.0 LUFS, -1.0 dBTP
      # -> L LUFS, T dBTP": on target within the search's 0.3 LU tolerance
      # and at or under the ceiling.
      awk '$1 == "streaming" && $2 == "target" { found = 1
             if ($8 < -14.3 || $8 > -13.7 || $10 > -1.0) bad = 1 }
           END { exit !(found && !bad) }' "$out/tour.txt" ||
        { echo "FAIL: analysis_tour's streaming master is off target:";
          grep -A1 '^  streaming' "$out/tour.txt"; status=1; }
    else
      echo "FAIL: analysis_tour"; status=1
    fi ;;
esac
exit $status
