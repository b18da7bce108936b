"""A small typed program over the mixstage stubs: mypy (tests/python/test_stubs.py)
must accept it without error; it also runs."""
from typing import Dict, List

import numpy as np
import numpy.typing as npt

import mixstage as ms


def build(sr: int) -> ms.Graph:
    t = np.arange(2 * sr) / sr
    g = ms.Graph(sr)
    kick: ms.Strip = g.add_strip("Kick", 1)
    kick.source = np.sin(2 * np.pi * 55 * t) * (t % 0.5 < 0.12)
    pad = g.add_strip("Pad", 2)
    pad.set_source(0.1 * np.random.default_rng(1).standard_normal((2, len(t))), channels_first=True)
    eq: ms.Node = pad.insert("eq")
    eq.band1_type = "highpass"
    eq["band1_freq"] = 200.0
    duck = pad.insert("compressor", role="strip")
    duck.sidechain(kick, tap="pre")
    duck.threshold = -30
    plate = g.add_return("Plate")
    plate.insert("reverb", role="mix-fx")
    pad.add_send(plate, level_db=-10.0)
    fade: ms.Lane = pad.lane("fader")
    fade.add_point(seconds=0.0, value=0.0)
    fade.add_point(seconds=1.5, value=-12.0, curve="exponential")
    return g


def loudness(g: ms.Graph) -> float:
    mix: npt.NDArray[np.float32] = g.render(seconds=2.0, tail_seconds=0.5)
    stats: Dict[str, object] = ms.measure(mix, g.sample_rate)
    lufs = stats["integrated_lufs"]
    assert isinstance(lufs, float)
    return lufs


def stems(g: ms.Graph) -> List[str]:
    b: ms.Bounce = g.bounce("mix-stems", frames=g.seconds_to_frames(1.0))
    return [n for n in b if b.kind(n) == "stem" and b.adds_up(n)]


if __name__ == "__main__":
    graph = build(48000)
    print("%.1f LUFS" % loudness(graph), stems(graph), ms.role_name(0), ms.strip_fader_db(graph.strip("Kick")))
