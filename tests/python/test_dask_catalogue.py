"""examples/python/dask_catalogue.py on a real local Dask cluster (two worker
processes): a catalogue of small graph files, one of them malformed, is
rendered across the cluster and must give byte-identical files to rendering
the same graph files one at a time in this process; the malformed file is
reported with the loader's message and does not stop the others."""
import importlib.util
import json
import os

import numpy as np
import pytest

import mixstage as m

distributed = pytest.importorskip(
    "distributed", reason="Dask's distributed is not importable (Debian: python3-distributed, "
    "which scripts/deps.sh installs)")

FS = 48000
SRC = os.environ.get("MIXSTAGE_SRCDIR", os.path.join(os.path.dirname(__file__), "..", ".."))
EXAMPLES = os.path.abspath(os.path.join(SRC, "examples", "python"))


def load_example():
    spec = importlib.util.spec_from_file_location(
        "dask_catalogue", os.path.join(EXAMPLES, "dask_catalogue.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def song(tmp, i):
    """A small graph file with two strips playing WAV sources, an EQ and a
    compressor, a group bus, and a send to a delay return: enough that every
    built-in profile delivers something different."""
    rng = np.random.default_rng(100 + i)
    t = np.arange(FS // 2) / FS
    kick = (0.5 * np.sin(2 * np.pi * (50 + 10 * i) * t) * np.exp(-8 * t)).astype(np.float32)
    pad = (0.05 * rng.standard_normal((FS // 2, 2))).astype(np.float32)
    m.write_audio(tmp / f"kick{i}.wav", kick, FS, sample_type="float32")
    m.write_audio(tmp / f"pad{i}.wav", pad, FS, sample_type="float32")
    g = m.Graph(FS)
    drums = g.add_bus("Drums")
    echo = g.add_return("Echo")
    # short repeats dying fast: the delivered tails stay a fraction of a second
    d = echo.insert("delay", "mix-fx")
    d["feedback"] = 20.0  # percent
    d["time_ms"] = 120.0
    k = g.add_strip("Kick", 1)
    k.output = drums
    k.insert("eq")
    k.insert("compressor")["threshold"] = -20.0 - i
    p = g.add_strip("Pad", 2)
    p.fader_db = -3.0 * i
    p.add_send(echo, -10.0)
    doc = json.loads(g.to_json())
    for s in doc["strips"]:
        s["source"] = {"Kick": f"kick{i}.wav", "Pad": f"pad{i}.wav"}[s["name"]]
    path = tmp / f"song{i}.mixstage.json"
    path.write_text(json.dumps(doc))
    return str(path)


def tree(root):
    """{relative path: bytes} of every file under root."""
    out = {}
    for d, _, files in os.walk(root):
        for f in files:
            full = os.path.join(d, f)
            with open(full, "rb") as fh:
                out[os.path.relpath(full, root)] = fh.read()
    return out


def test_catalogue_on_local_cluster(tmp_path, monkeypatch, capsys):
    cat = load_example()
    files = [song(tmp_path, i) for i in range(4)]
    bad = tmp_path / "broken.mixstage.json"
    bad.write_text('{"format": "mixstage-graph", "version": 1, "bogus": 1}')
    files.insert(2, str(bad))
    profiles = ["production", "mix-stems"]

    # Serial reference, in this process, one file at a time.
    serial = tmp_path / "serial"
    for f, name in zip(files, cat.output_names(files)):
        cat.render_file(os.path.abspath(f), str(serial / name), profiles)

    # The driver, as a user runs it, on LocalCluster(n_workers=2,
    # processes=True, threads_per_worker=1).  The worker processes import
    # the task function by module name: put the example on their path.
    monkeypatch.setenv("PYTHONPATH", EXAMPLES + os.pathsep + os.environ.get("PYTHONPATH", ""))
    out = tmp_path / "dask"
    args = ["--local", "2", "--out", str(out)] + sum((["--profile", p] for p in profiles), []) + files
    rc = cat.main(args)
    text = capsys.readouterr().out
    assert rc == 1, text  # the malformed file fails the run

    # the malformed file is reported, with the loader's message naming the key
    lines = [ln for ln in text.splitlines() if ln.startswith("broken.mixstage.json")]
    assert len(lines) == len(profiles) and all("FormatError" in ln and "bogus" in ln
                                               for ln in lines), text
    assert "8 of 10 renders succeeded; 1 file(s) failed" in text

    # the good files: every delivered file and manifest is byte-identical to
    # the serial render (renders are deterministic; dither seeds depend on
    # the file name only)
    got, want = tree(out), tree(serial)
    assert sorted(got) == sorted(want)
    assert len(want) >= 4 * (2 + 4)  # per song: mix + manifest, 2 stems + fx + reference + manifest
    for rel in want:
        assert got[rel] == want[rel], rel
    assert not any(rel.startswith("broken") for rel in got)


def test_render_file_reports_errors_without_raising(tmp_path):
    cat = load_example()
    res = cat.render_file(str(tmp_path / "missing.json"), str(tmp_path / "o"), ["final"])
    assert len(res) == 1 and not res[0]["ok"] and "missing.json" in res[0]["error"]
    f = song(tmp_path, 0)
    res = cat.render_file(f, str(tmp_path / "o"), ["final", "no-such-profile"])
    assert res[0]["ok"] and res[0]["lufs"] is not None and res[0]["true_peak_dbtp"] <= 0.0
    assert all(os.path.exists(p) for p in res[0]["outputs"])
    assert not res[1]["ok"] and "no-such-profile" in res[1]["error"]
    assert cat.output_names(["a/x.mixstage.json", "b/x.mixstage.json", "y.json"]) == \
        ["x", "x 2", "y"]
