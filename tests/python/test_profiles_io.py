"""Python binding tests of profiles, bounces, null checks, deliveries,
audio files, measurement and manifests; the stem rules measured on the demo
song; bit-equality of a bounce with C (tests/render_ref) and Lua."""
import gc
import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

import mixstage as m
from test_mixstage import FS, fnv1a64, ref_graph, rms, tone

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "examples", "python"))
import demo_song  # noqa: E402  (the song the example and the notebook mix)

SONG_SECONDS = 2.0
SONG_END = int(FS * SONG_SECONDS)


def db(x):
    return 20 * np.log10(max(float(x), 1e-30))


@pytest.fixture(scope="module")
def song():
    g, nodes = demo_song.build_song(seconds=SONG_SECONDS)
    # tails capped at 1 s: the checks look 0.5 s past the end at most
    return g, nodes, g.bounce("mix-stems", threads=2, tail=FS)


# ---- profiles ------------------------------------------------------------------
def test_builtin_profiles():
    ps = m.profiles()
    assert [p.name for p in ps] == ["production", "mix-stems", "final"]
    prod, stems, final = ps
    assert all(p.builtin for p in ps)
    assert prod.stems == "none" and prod.mix and not prod.reference and not prod.fx_stems
    assert stems.stems == "per-strip" and stems.fx_stems and stems.reference and not stems.mix
    # the stem rules, role by role (stem-rules.md)
    assert stems["mix-fx"] == "mute" and stems["bus-dynamics"] == "bypass"
    assert stems["placeholder-limiter"] == "bypass" and stems["design"] == "on"
    assert stems["bus-color"] == "on" and stems.action(m.ROLE_STRIP) == "on"
    assert final["placeholder-limiter"] == "bypass" and final["mastering"] == "on"
    assert prod["mastering"] == "bypass"
    assert set(stems.actions()) == set(m.ROLES)
    assert m.profile_find("final") == final and m.profile_builtin(3) is None
    assert m.profile_name(stems) == "mix-stems" and m.profile_stems(stems) == m.STEMS_PER_STRIP
    assert "mix-stems" in repr(stems) and "built-in" in repr(stems)
    with pytest.raises(m.StateError) as e:
        stems["mix-fx"] = "on"  # built-ins are read-only; the message says how to copy
    assert "Profile(" in str(e.value)
    with pytest.raises(m.StateError):
        final.stems = "per-strip"


def test_custom_profile():
    p = m.Profile("dry-stems", base="mix-stems")
    assert p.name == "dry-stems" and not p.builtin and p["mix-fx"] == "mute"
    p["bus-color"] = "bypass"
    p.stems = "per-group"
    p.fx_stems = False
    p.mix = True
    p.reference = False
    p.set_action("design", m.ACTION_MUTE)
    assert (p["bus-color"], p.stems, p.fx_stems, p.mix, p.reference, p["design"]) == (
        "bypass", "per-group", False, True, False, "mute")
    q = m.Profile("copy", base=p)  # a Profile as base copies it
    assert q["design"] == "mute" and q.stems == "per-group"
    assert m.Profile("plain")["mix-fx"] == "on"  # default base: production
    with pytest.raises(m.NotFoundError):
        p["nope"] = "mute"
    with pytest.raises(m.NotFoundError):
        p["mix-fx"] = "loud"
    with pytest.raises(m.NotFoundError):
        p.stems = "per-bar"
    with pytest.raises(m.NotFoundError) as e:
        m.Profile("x", base="nope")
    assert "mix-stems" in str(e.value)  # lists the built-ins
    with pytest.raises(m.InvalidArgumentError):
        m.Profile("")
    with pytest.raises(TypeError):
        m.Profile("x", base=3.5)


def test_graph_profile_governs_render_and_outlives_proxy():
    g = m.Graph()
    s = g.add_strip("Tone", channels=1)
    s.source = tone(1000, 0.2, amp=0.5)
    r = g.add_return("Verb")
    r.insert("reverb", role="mix-fx")
    s.add_send(r, 0.0)
    assert g.profile.name == "production"
    wet = g.render(tail=4800)
    p = m.Profile("no-fx")
    p["mix-fx"] = "mute"
    g.profile = p
    del p
    gc.collect()  # the graph holds its active profile
    assert g.profile.name == "no-fx" and g.profile["mix-fx"] == "mute"
    dry = g.render(tail=4800)
    # The muted send leaves the dry tone alone: the reverb's tail after the
    # source (at 0.2 s) is gone (-inf or below -120 dBFS), while production
    # has it (the plate rings well above -60 dBFS for 0.1 s).
    tail = slice(int(0.21 * FS), int(0.3 * FS))
    assert db(np.max(np.abs(dry[tail]))) < -120 and db(np.max(np.abs(wet[tail]))) > -60
    g.profile = "final"
    assert g.profile == m.profile_find("final")
    m.graph_set_profile(g, None)  # flat API; None restores production
    assert g.profile.name == "production" and m.graph_profile(g).name == "production"
    with pytest.raises(m.NotFoundError):
        g.profile = "nope"


# ---- bounces -------------------------------------------------------------------
def test_bounce_mapping_and_lifetimes():
    g = ref_graph()
    b = g.bounce("mix-stems", tail=4800, threads=2)
    assert isinstance(b, m.Bounce) and b.profile == "mix-stems"
    assert list(b) == ["Kick", "Pad", "Verb", "reference"] and len(b) == 4
    assert [b.kind(n) for n in b] == ["stem", "stem", "fx-return", "reference"]
    assert b.kind(2) == "fx-return" and "Pad" in b and "Nope" not in b
    assert b.adds_up("Kick") and b.note("Kick") == ""
    frames = g.render_frames(tail=4800)
    assert b.frames == frames and b.channels == 2
    kick = b["Kick"]
    assert kick.shape == (frames, 2) and kick.dtype == np.float32
    assert kick.flags.writeable  # a view of the bounce's memory, as a dict of arrays
    kick[0, 0] = 1.0
    assert b["Kick"][0, 0] == 1.0
    assert set(dict(b.items())) == set(b.keys()) and len(b.values()) == 4
    assert b.get("Nope") is None
    with pytest.raises(m.NotFoundError) as e:
        b["Nope"]
    assert "Kick" in str(e.value)  # names the outputs there are
    with pytest.raises(m.RangeError):
        b[9]
    assert "mix-stems" in repr(b)
    # The reference is the production render, bit for bit.
    mix = g.render(tail=4800, threads=1)
    assert np.array_equal(b["reference"].view(np.uint32), mix.view(np.uint32))
    # Lifetimes: drop the graph and keep using the bounce; drop the bounce and
    # keep the arrays (their base holds it).
    copy = np.array(kick)
    del g
    gc.collect()
    assert np.array_equal(b["Kick"], copy)
    pad = b["Pad"]
    del b, kick
    gc.collect()
    junk = [np.full((frames, 2), 7.0, dtype=np.float32) for _ in range(4)]  # reuse freed memory
    assert np.max(np.abs(pad)) > 0.01 and not np.any(pad == 7.0)
    del junk


def test_bounce_errors_and_flat_api():
    g = ref_graph()
    with pytest.raises(m.NotFoundError) as e:
        g.bounce("stems")
    assert "mix-stems" in str(e.value)
    with pytest.raises(m.RangeError):
        g.bounce("mix-stems", threads=0)
    with pytest.raises(TypeError):
        g.bounce("mix-stems", progress=42)
    rc = m.RenderConfig()
    rc.max_tail_frames = 0
    b = m.graph_bounce(g, m.profile_find("production"), rc)
    assert m.bounce_count(b) == 1 and m.bounce_name(b, 0) == "mix"
    assert m.bounce_kind(b, 0) == m.OUTPUT_MIX and m.bounce_find(b, "mix") == 0
    with pytest.raises(m.NotFoundError):
        m.bounce_find(b, "x")
    assert m.bounce_frames(b) == g.render_frames(tail=0) and m.bounce_channels(b) == 2
    assert m.graph_null_check(g, None, rc) < -100


def test_matches_c_and_lua_bounce(builddir, srcdir):
    """The same bounce from C, Python and Lua is bit-identical, output by output."""
    ref = os.path.join(builddir, "tests", "render_ref")
    if not os.path.exists(ref):
        pytest.skip("tests/render_ref not built")
    c_lines = subprocess.run([ref, "--bounce", "mix-stems"], check=True, capture_output=True,
                             text=True).stdout.split("\n")
    b = ref_graph().bounce("mix-stems", tail=4800, threads=2)
    py_lines = ["%s %d %d %s" % (n, b.frames, b.channels, fnv1a64(b[n].tobytes())) for n in b]
    assert [ln for ln in c_lines if ln] == py_lines
    assert np.max(np.abs(b["Pad"])) > 0.01 and np.max(np.abs(b["Verb"])) > 1e-4
    lua = os.environ.get("LUA") or shutil.which("lua5.4")
    mod = os.path.join(builddir, "bindings", "lua", ".libs", "mixstage.so")
    if not lua or lua == "no" or not os.path.exists(mod):
        pytest.skip("Lua binding not built")
    env = dict(os.environ, LUA_CPATH=os.path.dirname(mod) + "/?.so;;")
    script = os.path.join(srcdir, "tests", "lua", "test_mixstage.lua")
    lua_lines = subprocess.run([lua, script, "--bounce-hash", "mix-stems"], check=True,
                               capture_output=True, text=True, env=env).stdout.split("\n")
    assert [ln for ln in lua_lines if ln] == py_lines


# ---- the stem rules on the demo song ---------------------------------------------
def beat_depth_db(x, beats):
    """Ducking depth: level at the kick (first 80 ms of each beat) below the
    level later in the beat (250..450 ms, after the 90 ms release), in dB,
    median over beats."""
    b = demo_song.BEAT
    d = []
    for k in range(beats):
        under = rms(x[k * b: k * b + int(0.08 * FS)])
        free = rms(x[k * b + int(0.25 * FS): k * b + int(0.45 * FS)])
        d.append(db(free) - db(under))
    return float(np.median(d))


def test_bass_stem_ducks_as_in_production(song):
    g, nodes, b = song
    beats = SONG_END // demo_song.BEAT
    stem = b["Bass"][:SONG_END, 0].astype(np.float64)
    # The production bass as it reaches the mix bus: solo, mix-bus stages out.
    prod = m.Profile("bass-check")
    for role in ("bus-color", "bus-dynamics", "placeholder-limiter"):
        prod[role] = "bypass"
    g.profile = prod
    nodes["bass"].solo = True
    try:
        produced = g.render(tail=0)[:SONG_END, 0].astype(np.float64)
        nodes["duck"].bypass = True
        undocked = g.render(tail=0)[:SONG_END, 0].astype(np.float64)
    finally:
        nodes["duck"].bypass = False
        nodes["bass"].solo = False
        g.profile = None
    depth_stem, depth_prod = beat_depth_db(stem, beats), beat_depth_db(produced, beats)
    # The kick (pre-fader key, production signal) ducks the bass by well over
    # 6 dB at 8:1; without the compressor the bass is steady (< 1 dB).
    assert depth_prod > 6.0 and beat_depth_db(undocked, beats) < 1.0
    # The stem carries the same ducking: within 0.25 dB (the stem also gets the
    # mix bus's console colour, a mild nonlinearity at -4 dB fader).
    assert abs(depth_stem - depth_prod) < 0.25
    # With bus colour bypassed too, the stem IS the production bass: equal to
    # float rounding (1e-6 absolute, ~-120 dBFS).
    dry = m.Profile("dry-stems", base="mix-stems")
    dry["bus-color"] = "bypass"
    b2 = g.bounce(dry, threads=2, tail=0)
    assert np.max(np.abs(b2["Bass"][:SONG_END, 0] - produced)) < 1e-6


def test_design_tail_stays_mix_fx_tail_goes(song):
    g, nodes, b = song
    after = slice(SONG_END + int(0.1 * FS), SONG_END + int(0.5 * FS))
    # The pad's reverb has role "design": its tail (3.5 s decay) is part of the
    # pad stem, well above -60 dBFS 0.1..0.5 s after the source ends.
    assert db(rms(b["Pad"][after])) > -60
    # The lead's plate and echo are mix-fx, muted in stems: after the source
    # ends (plus 10 ms for console colour state) the lead stem is silent
    # (below -120 dBFS), while its tail lives in the FX stems.
    last = SONG_END + int(0.01 * FS)
    assert db(np.max(np.abs(b["Lead"][last:]))) < -120
    assert db(rms(b["Plate"][after])) > -80 and db(rms(b["Echo"][after])) > -80
    assert b.kind("Plate") == "fx-return" and b.kind("reference") == "reference"
    # ...and the lead is not silent while it plays
    assert db(rms(b["Lead"][:SONG_END])) > -40


def test_null_check(song):
    g, nodes, b = song
    # The stems plus FX stems add up to the production mix (mix-bus stages
    # bypassed) to float rounding: the stem rules' -100 dBFS bar.
    assert g.null_check(threads=2, tail=FS // 2) < -100
    assert all(b.adds_up(n) for n in b if b.kind(n) == "stem")
    with pytest.raises(m.InvalidArgumentError):
        g.null_check("production")  # no stems to add up


# ---- progress and cancellation ---------------------------------------------------
def test_progress_called_and_cancels(tmp_path):
    g = ref_graph()
    calls = []
    out = g.render(tail=4800, progress=lambda d, t: calls.append((d, t)))
    total = len(out)
    # about every 100 ms of audio (4800 frames), monotone, ending at the total
    assert len(calls) >= total // 4800 and calls[-1] == (total, total)
    assert all(a[0] <= b[0] for a, b in zip(calls, calls[1:]))
    bcalls = []
    g.bounce("mix-stems", threads=2, progress=lambda d, t: bcalls.append(d))
    assert bcalls and bcalls[-1] > 0
    with pytest.raises(m.CancelledError) as e:
        g.render(progress=lambda d, t: d > 4800)  # truthy return cancels
    assert e.value.code == m.ECANCELLED

    class Stop(Exception):
        pass

    def boom(d, t):
        raise Stop("user abort at %d" % d)

    with pytest.raises(Stop):
        g.bounce("mix-stems", threads=2, progress=boom)  # the exception itself propagates
    with pytest.raises(Stop):
        g.null_check(progress=boom)
    with pytest.raises(m.CancelledError):
        g.deliver("mix-stems", tmp_path / "cancelled", progress=lambda d, t: True)
    # a cancelled delivery leaves no audio file behind
    left = os.listdir(tmp_path / "cancelled") if (tmp_path / "cancelled").exists() else []
    assert not [f for f in left if f.endswith(".wav")]
    assert g.render(tail=0).shape[0] > 0  # the graph still renders after a cancel


# ---- delivery --------------------------------------------------------------------
def test_deliver(tmp_path):
    g = ref_graph()
    seen = []
    # tails capped at 0.5 s (the library default lets the reverb ring for
    # seconds): what is tested is the files, not the tail length
    man = g.deliver("mix-stems", tmp_path / "stems", format="flac", sample_type="pcm24",
                    threads=2, tail=FS // 2, progress=lambda d, t: seen.append(d))
    names = sorted(f["path"] for f in man["files"])
    assert names == ["Kick.flac", "Pad.flac", "Verb.flac", "reference.flac"] and seen
    on_disk = json.load(open(tmp_path / "stems" / "manifest.json"))
    assert on_disk == man
    pad = [f for f in man["files"] if f["path"] == "Pad.flac"][0]
    assert pad["kind"] == "stem" and "mix-fx" in pad["roles"]["mute"]
    # The file holds the bounce at 24 bits: within 1 LSB of TPDF dither plus
    # rounding (2^-22 ~ 2.4e-7 peak) of the float stem over the bounce's length.
    audio, rate = m.read_audio(tmp_path / "stems" / "Pad.flac")
    assert rate == FS
    stem = g.bounce("mix-stems", threads=2, tail=FS // 2)["Pad"]
    n = min(len(stem), len(audio))
    assert np.max(np.abs(audio[:n] - stem[:n])) < 2.5e-7
    assert m.measure_file(tmp_path / "stems" / "Pad.flac")["checksum"] == pad["checksum"]
    assert g.deliver("final", tmp_path / "final", manifest=False, tail=FS // 2) is None
    assert os.listdir(tmp_path / "final") == ["mix.wav"]
    with pytest.raises(m.InputOutputError) as e:
        g.deliver("final", "/proc/no/such/dir")
    assert "/proc/no" in str(e.value) and isinstance(e.value, OSError)  # names the directory
    with pytest.raises(m.FormatError):
        g.deliver("final", tmp_path / "bad", format="flac", sample_type="float32")


# ---- audio files and measurement --------------------------------------------------
def test_write_read_measure(tmp_path):
    x = tone(1000, 1.0, amp=0.1, channels=2)
    st = m.write_audio(tmp_path / "t.wav", x, FS, sample_type="float32")
    assert st["format"] == "wav" and st["sample_type"] == "float32" and st["frames"] == FS
    y, rate = m.read_audio(tmp_path / "t.wav")
    assert rate == FS and y.dtype == np.float32 and np.array_equal(y, x)  # float32 is exact
    # BS.1770: a 0 dBFS 1 kHz sine in one channel reads -3.01 LUFS, in both
    # channels 0 LUFS, so at -20 dBFS peak in both it reads -20.0; 0.1 LU
    # covers the K-filter's small gain at 1 kHz.  Peak -20 dBFS and RMS
    # -23.01 dBFS (no AES17 offset) within 0.01 dB.
    ms = m.measure(x, FS)
    assert abs(ms["integrated_lufs"] + 20.0) < 0.1
    assert abs(ms["peak_dbfs"] + 20.0) < 0.01 and abs(ms["rms_dbfs"] + 23.01) < 0.01
    assert ms["format"] is None and ms["clipped_samples"] == 0
    assert m.measure(np.zeros(4800, dtype=np.float32), FS)["peak_dbfs"] == -np.inf
    # 1-D mono, 16-bit: within 1 LSB of dither plus 0.5 LSB rounding
    st16 = m.write_audio(tmp_path / "m.aiff", x[:, 0], FS, format="aiff", sample_type="pcm16",
                         dither_seed=1)
    y16, _ = m.read_audio(tmp_path / "m.aiff")
    assert y16.shape == (FS, 1) and np.max(np.abs(y16[:, 0] - x[:, 0])) <= 1.5 / 32768
    assert m.measure_file(tmp_path / "m.aiff")["checksum"] == st16["checksum"]
    # resampling on read: round(frames * 44100 / 48000) frames
    z, r = m.read_audio(tmp_path / "t.wav", rate=44100)
    assert r == 44100 and z.shape == (round(FS * 44100 / FS), 2)
    with pytest.raises(m.NotFoundError) as e:
        m.read_audio(tmp_path / "none.wav")
    assert "none.wav" in str(e.value)
    with pytest.raises(m.InputOutputError) as e:
        m.write_audio(tmp_path / "no" / "dir.wav", x, FS)
    assert "dir.wav" in str(e.value)
    with pytest.raises(m.FormatError):
        m.write_audio(tmp_path / "f.flac", x, FS, format="flac", sample_type="float32")
    with pytest.raises(m.NotFoundError):
        m.write_audio(tmp_path / "f.ogg", x, FS, format="ogg")
    with pytest.raises(m.InvalidArgumentError):
        m.measure(x, 10)
    with pytest.raises(ValueError):
        m.measure(np.zeros((2, 2, 2)), FS)
    assert m.file_format_name(m.FORMAT_FLAC) == "flac" and m.sample_type_name(9) is None
    wc = m.WriteConfig()
    assert wc.format == m.FORMAT_WAV and wc.sample_type == m.SAMPLE_PCM24 and wc.dither == 1


# ---- manifests -------------------------------------------------------------------
def test_manifest(tmp_path):
    st = m.write_audio(tmp_path / "Bass.wav", tone(55, 0.5), FS)
    man = m.Manifest()
    man["graph"] = "Song"
    man["bars"] = 16
    man["tempo"] = 120.5
    man["profile"] = {"name": "mix-stems", "stems": "per-strip"}
    i = man.add_file("Bass.wav", "stem", m.profile_find("mix-stems"), st,
                     on=["strip", "design", "bus-color"], bypassed=["bus-dynamics"],
                     muted=["mix-fx"])
    man.set_file(i, "null_residual_dbfs", -140.5)
    man.set_file(i, "adds_up", True)
    assert i == 0 and len(man) == 1 and man.file_count == 1
    d = man.to_dict()
    assert d["manifest_version"] == 2 and d["graph"] == "Song" and d["bars"] == 16
    assert d["profile"]["stems"] == "per-strip" and d["tempo"] == 120.5
    f = d["files"][0]
    assert f["path"] == "Bass.wav" and f["profile"] == "mix-stems" and f["checksum"] == st["checksum"]
    assert f["roles"]["mute"] == ["mix-fx"] and f["null_residual_dbfs"] == -140.5 and f["adds_up"]
    assert f["frames"] == st["frames"] and str(man) == man.to_string()
    man.write(tmp_path / "manifest.json")
    assert json.load(open(tmp_path / "manifest.json")) == d
    with pytest.raises(m.InvalidArgumentError):
        man["files"] = "x"  # reserved
    with pytest.raises(m.NotFoundError):
        man.add_file("x.wav", "stem", "mix-stems", st, on=["nope"])
    with pytest.raises(m.InvalidArgumentError):
        man.add_file("x.wav", "drums", "mix-stems", st)
    with pytest.raises(m.RangeError):
        man.set_file(5, "k", 1)
    with pytest.raises(m.InputOutputError) as e:
        man.write(tmp_path / "no" / "m.json")
    assert "m.json" in str(e.value)
