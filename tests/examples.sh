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
exit $status
