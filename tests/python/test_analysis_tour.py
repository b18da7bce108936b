"""Runs examples/python/analysis_tour.py as a user would (a fresh process, a
temporary directory) and checks its figures for plausibility.  The tour runs
on a 1 s excerpt of the demo song (plus 1 s of tail) to keep the test quick;
every tolerance below is the library's stated contract for the figure, not a
fit to today's output."""
import os
import re
import subprocess
import sys

import pytest


@pytest.fixture(scope="module")
def tour(tmp_path_factory):
    src = os.environ.get("MIXSTAGE_SRCDIR",
                         os.path.join(os.path.dirname(__file__), "..", ".."))
    out = tmp_path_factory.mktemp("tour")
    proc = subprocess.run(
        [sys.executable, os.path.join(src, "examples", "python", "analysis_tour.py"),
         "--out", str(out / "files"), "--seconds", "1"],
        cwd=out, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
    return proc.stdout, out / "files"


def floats(pattern, text):
    return [tuple(float(x) for x in mt) if isinstance(mt, tuple) else float(mt)
            for mt in re.findall(pattern, text)]


NUM = r"(-?\d+\.\d+)"


def test_masters_land_on_target(tour):
    text, _ = tour
    masters = re.findall(r"master (\S+): target " + NUM + " LUFS " + NUM + " dBTP -> " + NUM +
                         " LUFS " + NUM + " dBTP", text)
    assert [x[0] for x in masters] == ["streaming", "apple-music", "ebu-r128", "club", "custom"]
    for name, target, ceiling, lufs, tp in masters:
        # the search's contract: within its 0.3 LU tolerance, at or under the
        # ceiling (printed to 0.01 dB, so 0.005 of rounding)
        assert abs(float(lufs) - float(target)) <= 0.3 + 0.005, name
        assert float(tp) <= float(ceiling) + 0.005, name
    streaming = [x for x in masters if x[0] == "streaming"][0]
    assert float(streaming[1]) == -14.0 and abs(float(streaming[3]) + 14.0) <= 0.305


def test_in_graph_meter_agrees_with_offline(tour):
    text, _ = tour
    (live_lufs, live_tp), = floats(r"in-graph mix meter: " + NUM + " LUFS, true peak " + NUM, text)
    (off_lufs, off_tp), = floats(r"offline premaster meter: " + NUM + " LUFS, true peak " + NUM,
                                 text)
    # the streaming meter gates in 0.1 LU histogram bins: within 0.05 LU of
    # exact gating (analysis.h); true peak uses the same interpolator
    assert abs(live_lufs - off_lufs) <= 0.05
    assert abs(live_tp - off_tp) <= 0.01
    # every dynamics node reported a history (a chart line per node)
    assert len(re.findall(r"insert \d+: \S+\s+\[.{20}\] max", text)) >= 5


def test_assessment_finds_the_planted_mic(tour):
    text, _ = tour
    assert re.search(r"phase: Kick / Kick room: offset 37 samples, polarity flipped", text)
    # a 50 % copy of the kick, inverted and 37 samples late, is the same
    # signal: |correlation| at the peak is 1 to the printed 3 decimals
    assert re.search(r"Kick room: offset 37 samples, polarity flipped, correlation -1\.000", text)
    assert re.search(r"masking 1\. \S+ / \S+ -?\d+\.\d dB around \d+ Hz", text)


def test_album_keeps_relative_loudness(tour):
    text, _ = tour
    (before, after), = floats(r"album difference: " + NUM + " LU before, " + NUM + " LU after",
                              text)
    # each song is mastered to half the 0.3 LU tolerance around its own
    # target, so the difference moves by at most 0.3 LU
    assert abs(before - after) <= 0.3
    (combined,), = [(x,) for x in floats(r"together -?\d+\.\d+ -> " + NUM + " LUFS", text)]
    assert abs(combined + 14.0) <= 0.3


def test_ab_and_translation(tour):
    text, files = tour
    (gain,), = [(x,) for x in floats(r"ab match gain \+?" + NUM + " dB", text)]
    (a, b, diff), = floats(r"integrated \(LUFS\)\s+A\s+" + NUM + r"\s+B\s+" + NUM +
                           r"\s+B-A\s+\+?" + NUM, text)
    # B is the streaming master: on its target; matching is A - B
    assert abs(b + 14.0) <= 0.305 and abs(gain - (a - b)) <= 0.011 and abs(diff + gain) <= 0.011
    # the phone model is one speaker (a mono fold) behind a 500 Hz 4th-order
    # high-pass: correlation 1 and the 63 Hz octave more than 40 dB down
    phone = re.search(r"translate phone: .* 63 Hz " + NUM + r" dB, .* corr " + NUM, text)
    assert phone and float(phone.group(1)) < -40 and float(phone.group(2)) == 1.0
    for f in ("masters/streaming.wav", "masters/custom.wav", "album/2.wav", "ab/A.wav",
              "ab/B.wav", "translation/master-phone.wav"):
        assert (files / f).stat().st_size > 1000, f
