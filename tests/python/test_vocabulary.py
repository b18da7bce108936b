"""One vocabulary across C, Python, Lua, the manifest and the CLI; lanes and
renders in seconds; bounce arrays and sources as a numpy user expects."""
import json
import math
import os
import warnings

import numpy as np
import pytest

import mixstage as m

FS = 48000


def small_song():
    """A kick, a pad and a plate return: stems, an FX stem and a reference."""
    g = m.Graph(FS, 256)
    t = np.arange(FS // 2) / FS
    kick = g.add_strip("Kick", 1)
    kick.source = (np.sin(2 * np.pi * 55 * t) * (t < 0.1)).astype(np.float32)
    pad = g.add_strip("Pad", 2)
    pad.source = 0.1 * np.random.default_rng(3).standard_normal((len(t), 2))
    plate = g.add_return("Plate")
    plate.insert("reverb", role="mix-fx")
    pad.add_send(plate, level_db=-12)
    return g


def test_output_kinds_are_spelt_as_the_manifest_spells_them(tmp_path):
    g = small_song()
    b = g.bounce("mix-stems", tail=FS // 4)
    assert [b.kind(n) for n in b] == ["stem", "stem", "fx-return", "reference"]
    man = g.deliver("mix-stems", tmp_path / "out", tail=FS // 4)
    kinds = {os.path.splitext(f["path"])[0]: f["kind"] for f in man["files"]}
    assert kinds == {n: b.kind(n) for n in b}
    # input: "fx" is still accepted where a kind is given
    mf = m.Manifest()
    stats = m.measure(b["Plate"], FS)
    assert mf.add_file("Plate.wav", "fx", "mix-stems", stats) == 0
    assert mf.to_dict()["files"][0]["kind"] == "fx-return"


def test_adds_up_is_the_manifests_word_nulls_a_deprecated_alias(tmp_path):
    g = small_song()
    b = g.bounce("mix-stems", tail=FS // 4)
    man = g.deliver("mix-stems", tmp_path / "out", tail=FS // 4)
    by_name = {os.path.splitext(f["path"])[0]: f for f in man["files"]}
    for n in ("Kick", "Pad", "Plate"):
        assert b.adds_up(n) is True and by_name[n]["adds_up"] is True
    with pytest.warns(DeprecationWarning, match="adds_up"):
        assert b.nulls("Kick") is True


def test_actions_are_on_bypass_mute_with_aliases():
    p = m.Profile("mine", base="mix-stems")
    p["mix-fx"] = "bypassed"            # deprecated spelling, accepted
    assert p["mix-fx"] == "bypass"      # read back in the one spelling
    p["mix-fx"] = "muted"
    assert p["mix-fx"] == "mute"
    assert set(p.actions().values()) <= {"on", "bypass", "mute"}
    with pytest.raises(m.NotFoundError, match="on bypass mute"):
        p["mix-fx"] = "off"
    # the manifest records the roles by action: bypass= / mute= (bypassed=,
    # muted= still work), written under the actions' words (manifest_version 2)
    mf = m.Manifest()
    st = m.measure(np.zeros((10, 2), np.float32), FS)
    mf.add_file("a.wav", "stem", p, st, on=["strip"], bypass=["bus-color"], mute=["mix-fx"])
    mf.add_file("b.wav", "stem", p, st, bypassed=["bus-color"], muted=["mix-fx"])
    roles = [f["roles"] for f in mf.to_dict()["files"]]
    assert roles[0]["bypass"] == roles[1]["bypass"] == ["bus-color"]
    assert roles[0]["mute"] == roles[1]["mute"] == ["mix-fx"]
    assert mf.to_dict()["manifest_version"] == 2


def test_manifests_old_and_new_read_alike(tmp_path):
    """A delivery's manifest uses the actions' words (bypass, mute) in its
    roles and profile actions; read_manifest() returns a version 1 manifest
    (bypassed, muted) in that form too."""
    g = m.Graph(FS)
    s = g.add_strip("Vox", 1)
    s.source = np.full(FS // 10, 0.25, np.float32)
    new = g.deliver("mix-stems", tmp_path / "new", tail=0)
    assert new == m.read_manifest(tmp_path / "new") == m.read_manifest(tmp_path / "new" / "manifest.json")
    assert new["manifest_version"] == 2
    assert new["profile_actions"]["mix-fx"] == "mute"
    assert new["profile_actions"]["bus-dynamics"] == "bypass"
    stem = [f for f in new["files"] if f["kind"] == "stem"][0]
    assert set(stem["roles"]) == {"on", "bypass", "mute"} and "mix-fx" in stem["roles"]["mute"]
    # the same manifest as version 1 wrote it
    old = json.loads(json.dumps(new))
    old["manifest_version"] = 1
    old["profile_actions"] = {r: {"bypass": "bypassed", "mute": "muted"}.get(a, a)
                              for r, a in new["profile_actions"].items()}
    for f in old["files"]:
        f["roles"] = {{"bypass": "bypassed", "mute": "muted"}.get(k, k): v for k, v in f["roles"].items()}
    (tmp_path / "old").mkdir()
    with open(tmp_path / "old" / "manifest.json", "w") as f:
        json.dump(old, f)
    assert "bypassed" in open(tmp_path / "old" / "manifest.json").read()
    assert m.read_manifest(tmp_path / "old") == new
    # not a manifest, or none at all: errors that name the file
    with open(tmp_path / "other.json", "w") as f:
        json.dump({"manifest_version": 7, "files": []}, f)
    with pytest.raises(m.FormatError, match="other.json"):
        m.read_manifest(tmp_path / "other.json")
    with pytest.raises(m.InputOutputError, match="missing"):
        m.read_manifest(tmp_path / "missing")


def test_silence_is_minus_inf_in_python_and_null_in_json(tmp_path):
    silent = np.zeros((FS // 10, 2), np.float32)
    st = m.measure(silent, FS)
    assert st["peak_dbfs"] == -math.inf and st["rms_dbfs"] == -math.inf
    assert m.meter(silent, FS)["peak_dbfs"] == -math.inf
    # the null check of an exactly silent residual: -inf, not the C call's -400
    g = m.Graph(FS, 256)
    g.add_strip("Quiet", 2).source = silent
    assert g.null_check("mix-stems") == -math.inf
    # JSON has no -inf: a file of silence says null
    stats = m.write_audio(tmp_path / "s.wav", silent, FS, dither=False)
    mf = m.Manifest()
    mf.add_file("s.wav", "stem", "mix-stems", stats)
    f = json.loads(mf.to_string())["files"][0]
    assert f["peak_dbfs"] is None and f["integrated_lufs"] is None


def test_file_formats_are_names_in_and_out(tmp_path):
    x = 0.1 * np.ones((480, 2), np.float32)
    st = m.write_audio(tmp_path / "a.flac", x, FS, format="flac", sample_type="pcm16")
    assert st["format"] == "flac" and st["sample_type"] == "pcm16"
    assert m.measure_file(tmp_path / "a.flac")["format"] == "flac"
    # the calls that defaulted to integers take and default to names too
    x = np.repeat(0.1 * np.sin(2 * np.pi * 1000 * np.arange(FS) / FS)[:, None], 2, 1).astype(np.float32)
    r = m.ab_write_pair(x, 0.5 * x, FS, str(tmp_path))
    assert r["a_path"].endswith("A.wav")
    r = m.ab_write_pair(x, 0.5 * x, FS, str(tmp_path), format="flac", sample_type="pcm24")
    assert r["a_path"].endswith("A.flac") and os.path.exists(r["a_path"])
    assert m.measure_file(r["a_path"])["sample_type"] == "pcm24"


def test_lanes_take_frames_or_seconds_never_guessed():
    g = m.Graph(FS, 256)
    s = g.add_strip("S", 1)
    s.source = np.full(FS, 0.5, np.float32)
    lane = s.lane("fader")
    assert lane.sample_rate == FS
    lane.add_point(seconds=0.25, value=0.0)
    lane.add_point(seconds=0.5, value=-6.0, curve="step")
    assert lane.points == [(12000, 0.0, "linear"), (24000, -6.0, "step")]
    lane.add_point(36000, -12.0)
    assert lane.value_at(seconds=0.75) == lane.value_at(36000) == -12.0
    # a float frame count is refused (it is not taken as seconds, nor truncated)
    with pytest.raises(TypeError, match="seconds"):
        lane.add_point(1.5, -3.0)
    with pytest.raises(TypeError, match="not both"):
        lane.add_point(100, -3.0, seconds=0.1)
    assert lane.point_count == 3
    # numpy integers are frames
    lane.add_point(np.int64(40000), -12.0)
    # the step at 0.5 s lands on its frame: faders are sample-accurate
    y = g.render(seconds=0.6, tail=0)
    assert y.shape == (28800, 2)
    assert y[23999, 0] == pytest.approx(y[12000, 0], rel=1e-6)
    assert y[24000, 0] == pytest.approx(y[12000, 0] * 10 ** (-6 / 20), rel=1e-5)
    with pytest.raises(TypeError, match="seconds"):
        g.render(0.5)
    assert g.seconds_to_frames(0.5) == 24000 and g.frames_to_seconds(24000) == 0.5
    assert g.render(frames=480, tail_seconds=0.0).shape == (480, 2)
    assert g.bounce("mix-stems", seconds=0.01, tail=0).frames == 480
    with pytest.raises(TypeError, match="seconds"):
        g.bounce("mix-stems", 0.5)


def test_node_parameter_lanes_move_on_the_control_grid():
    """A threshold step at frame 1000 (not a multiple of 32) takes effect
    at the next control boundary, 1024, as the documentation says."""
    def render(at):
        g = m.Graph(FS, 256)
        s = g.add_strip("S", 1)
        s.source = np.full(4096, 0.5, np.float32)
        eq = s.insert("eq")
        eq.band1_type = "lowshelf"
        lane = eq.lane("band1_gain")
        lane.add_point(0, 0.0)
        lane.add_point(at, -12.0, "step")
        return g.render(frames=4096, tail=0)[:, 0]
    a, b = render(1000), render(1024)
    assert np.array_equal(a, b)


def test_bounce_arrays_are_writable_views_source_reads_back():
    g = small_song()
    b = g.bounce("mix-stems", tail=0)
    kick = b["Kick"]
    assert kick.flags.writeable and kick.dtype == np.float32
    before = float(kick[100, 0])
    kick *= 0.5                                    # a view: the bounce changes
    assert b["Kick"][100, 0] == pytest.approx(before * 0.5)
    c = b["Pad"].copy()
    c[:] = 0
    assert np.any(b["Pad"] != 0)                   # a copy does not
    del b
    assert kick[100, 0] == pytest.approx(before * 0.5)   # the view keeps the audio alive
    s = g.strip("Pad")
    src = s.source
    assert src.shape == (FS // 2, 2) and src.dtype == np.float32 and not src.flags.writeable
    x = np.ones((100, 1), np.int16) * 16384
    s2 = g.add_strip("Pcm", 1)
    s2.source = x
    assert s2.source[0, 0] == 0.5                  # what the strip plays, scaled
    x[:] = 0
    assert s2.source[0, 0] == 0.5                  # a copy: later edits do not reach it
    s2.set_source_file  # files read back None with source_path set


def test_help_shows_enum_defaults_by_name():
    """help() and inspect show an enum argument's default by name (tap='post',
    role='strip'), not the integer SWIG would show (tap=1, role=2), and an
    omitted argument still means what it did."""
    import inspect
    import pydoc
    import re
    for cls in (m.Strip, m.Bus):
        assert inspect.signature(cls.insert).parameters["role"].default == "strip"
        send = inspect.signature(cls.add_send).parameters
        assert send["tap"].default == "post" and send["role"].default == "mix-fx"
        assert inspect.signature(cls.attach_meter).parameters["tap"].default == "post"
        assert inspect.signature(cls.detach_meter).parameters["tap"].default == "post"
    assert inspect.signature(m.Graph.add_bus).parameters["kind"].default == "group"
    text = pydoc.render_doc(m.Strip, renderer=pydoc.plaintext)
    assert "tap='post'" in text and "role='mix-fx'" in text and "role='strip'" in text
    # nowhere in the module: an enum argument with an integer default, or a
    # docstring spelling SWIG's C signature ("int tap=TAP_POST_FADER")
    enums = ("role", "tap", "kind", "curve")
    funcs = [(n, f) for n, f in vars(m).items() if inspect.isfunction(f)]
    for cname, cls in vars(m).items():
        if isinstance(cls, type) and cls.__module__ == m.__name__:
            funcs += [(cname + "." + n, f) for n, f in vars(cls).items() if inspect.isfunction(f)]
    assert len(funcs) > 300
    bad = []
    for name, f in funcs:
        for p in inspect.signature(f).parameters.values():
            if p.name in enums and type(p.default) is int:
                bad.append("%s(%s=%r)" % (name, p.name, p.default))
        if re.search(r"\bint (role|tap|kind|curve)=", f.__doc__ or ""):
            bad.append(name + " docstring")
    assert not bad, bad
    # the defaults by name do what the integers did
    g = m.Graph(FS)
    s = g.add_strip("Vox", 2)
    ret = g.add_return("Verb")
    assert s.insert("eq").role == "strip"
    snd = s.add_send(ret)
    assert snd.tap == "post" and snd.role == "mix-fx"
    assert g.add_bus("Drums").kind == "group"
