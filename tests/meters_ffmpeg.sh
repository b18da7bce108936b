#!/bin/sh
# Independent cross-check of mixstage_meter_analyse() and of the file
# statistics of mixstage_audio_write() against ffmpeg's ebur128 filter (its
# own BS.1770 and Tech 3342 implementation), on stereo programmes (stereo,
# because ffmpeg weighs mono differently): integrated loudness within 0.1 LU
# (the EBU Tech 3341 tolerance) and loudness range within 0.1 LU (both take
# short-term loudness at 10 Hz and 0.01 LU histograms; a meter stepping its
# short-term blocks by 1 s reads the five-step programme 0.45 LU low).
# Skips (77) without ffmpeg.
command -v ffmpeg >/dev/null 2>&1 || { echo "ffmpeg not found: skipped"; exit 77; }
b=${top_builddir:-.}
tool="$b/tests/meters_tone"
[ -x "$tool" ] || { echo "missing $tool"; exit 1; }
dir=$(mktemp -d "${TMPDIR:-/tmp}/meters_ffmpeg.XXXXXX") || exit 1
trap 'rm -rf "$dir"' EXIT
fail=0
for case in "steps 48000" "music 44100" "music 96000" "fivestep 48000"; do
  set -- $case
  ours=$("$tool" "$dir/$1.wav" "$1" "$2") || { echo "meters_tone $case failed"; exit 1; }
  set -- $ours
  our_i=$1 our_lra=$2 file_lra=$3
  # ebur128's metadata carries the running figures to 0.001 LU (its summary
  # rounds to 0.1); the last frame's values cover the whole file.
  set -- $case
  theirs=$(ffmpeg -nostats -hide_banner -i "$dir/$1.wav" \
           -af ebur128=metadata=1,ametadata=mode=print:file=- -f null - 2>/dev/null)
  their_i=$(printf '%s\n' "$theirs" | sed -n 's/^lavfi\.r128\.I=//p' | tail -n 1)
  their_lra=$(printf '%s\n' "$theirs" | sed -n 's/^lavfi\.r128\.LRA=//p' | tail -n 1)
  [ -n "$their_i" ] && [ -n "$their_lra" ] || { echo "could not read ffmpeg's figures"; exit 1; }
  echo "$case: libmixstage $our_i LUFS, LRA $our_lra LU (file statistics $file_lra LU); ffmpeg $their_i LUFS, LRA $their_lra LU"
  for pair in "$our_i $their_i integrated" "$our_lra $their_lra LRA" "$file_lra $their_lra file-LRA"; do
    set -- $pair
    ok=$(awk -v a="$1" -v b="$2" 'BEGIN { d = a - b; if (d < 0) d = -d; print (d <= 0.1) ? 1 : 0 }')
    [ "$ok" = 1 ] || { echo "  $3 differs by more than 0.1 LU"; fail=1; }
  done
done
exit $fail
