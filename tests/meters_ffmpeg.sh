#!/bin/sh
# Independent cross-check of mixstage_meter_analyse() against ffmpeg's
# ebur128 filter (its own BS.1770 implementation): integrated loudness of
# two stereo programmes (stereo, because ffmpeg weighs mono differently)
# must agree within 0.1 LU, the EBU Tech 3341 tolerance.  Skips (77)
# without ffmpeg.
command -v ffmpeg >/dev/null 2>&1 || { echo "ffmpeg not found: skipped"; exit 77; }
b=${top_builddir:-.}
tool="$b/tests/meters_tone"
[ -x "$tool" ] || { echo "missing $tool"; exit 1; }
dir=$(mktemp -d "${TMPDIR:-/tmp}/meters_ffmpeg.XXXXXX") || exit 1
trap 'rm -rf "$dir"' EXIT
fail=0
for case in "steps 48000" "music 44100" "music 96000"; do
  set -- $case
  ours=$("$tool" "$dir/$1.wav" "$1" "$2") || { echo "meters_tone $case failed"; exit 1; }
  # ebur128's metadata carries the running integrated loudness to 0.001 LU
  # (its summary rounds to 0.1); the last frame's value covers the whole file.
  theirs=$(ffmpeg -nostats -hide_banner -i "$dir/$1.wav" \
           -af ebur128=metadata=1,ametadata=mode=print:key=lavfi.r128.I:file=- -f null - 2>/dev/null |
           sed -n 's/^lavfi\.r128\.I=//p' | tail -n 1)
  [ -n "$theirs" ] || { echo "could not read ffmpeg's integrated loudness"; exit 1; }
  ok=$(awk -v a="$ours" -v b="$theirs" 'BEGIN { d = a - b; if (d < 0) d = -d; print (d <= 0.1) ? 1 : 0 }')
  echo "$case: libmixstage $ours LUFS, ffmpeg $theirs LUFS"
  [ "$ok" = 1 ] || { echo "  differ by more than 0.1 LU"; fail=1; }
done
exit $fail
