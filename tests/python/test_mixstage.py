"""Tests of the Python binding: every public call, error classes, lifetimes,
and bit-exact agreement with the C library (tests/render_ref) and Lua."""
import gc
import os
import random
import shutil
import subprocess
import warnings

import numpy as np
import pytest

import mixstage as m

FS = 48000


# ---- the reference graph, built alike in C (tests/render_ref.c) and Lua ----
def ref_sources(frames=24000):
    kick = np.zeros(frames, dtype=np.float32)
    for i in range(frames):
        k = i % 12000
        if k < 2400:
            kick[i] = (0.75 if (k // 40) % 2 == 0 else -0.75) * float(2400 - k) / 2400.0
    pad = np.empty(2 * frames, dtype=np.float32)
    x = 12345
    for i in range(2 * frames):
        x = (x * 1103515245 + 12345) % 2147483648
        pad[i] = (x / 2147483648.0 - 0.5) * 0.25
    return kick, pad.reshape(frames, 2)


def ref_graph():
    kick, pad = ref_sources()
    g = m.Graph(max_block=256)
    k = g.add_strip("Kick", channels=1)
    k.source = kick
    k.fader_db = -2.0
    p = g.add_strip("Pad", channels=2)
    p.source = pad
    p.fader_db = -3.0
    p.pan = 0.3
    duck = p.insert("compressor", role="strip")
    duck["threshold"] = -30.0
    duck["ratio"] = 8.0
    duck.sidechain(k, "pre")
    verb = g.add_return("Verb")
    verb.insert("reverb", role=m.ROLE_MIX_FX)
    p.add_send(verb, -10.0, tap="post", role="mix-fx")
    g.mix_bus.insert("limiter", role="placeholder-limiter")
    return g


def fnv1a64(data):
    h = 1469598103934665603
    for b in data:
        h = ((h ^ b) * 1099511628211) & 0xFFFFFFFFFFFFFFFF
    return "%016x" % h


def tone(freq, seconds, amp=0.5, channels=1):
    t = np.arange(int(FS * seconds)) / FS
    x = (amp * np.sin(2 * np.pi * freq * t)).astype(np.float32)
    return np.repeat(x[:, None], channels, axis=1)


def rms(x):
    return float(np.sqrt(np.mean(np.square(x, dtype=np.float64))))


# ---- module-level calls -------------------------------------------------------
def test_module_functions():
    assert m.version_string() == m.__version__
    assert m.strerror(m.ECYCLE) == "the routing would create a cycle"
    assert m.err_name(m.ECYCLE) == "MIXSTAGE_ECYCLE"
    assert m.strerror(-999)  # never NULL
    assert m.role_name(m.ROLE_MIX_FX) == "mix-fx"
    assert m.role_name(99) is None
    assert m.role_from_name("design") == m.ROLE_DESIGN
    with pytest.raises(m.NotFoundError):
        m.role_from_name("nope")
    assert m.unit_name(m.UNIT_DB) == "dB"
    assert m.ROLES[0] == "strip" and len(m.ROLES) == m.ROLE_COUNT
    types = m.node_types()
    names = [t for t, _ in types]
    for needed in ("eq", "compressor", "reverb", "delay", "limiter", "console_color",
                   "bus_compressor"):
        assert needed in names
    assert m.node_type_name(len(types)) is None
    assert m.node_type_description(0)
    assert m.MAX_CHANNELS == 16 and m.CONTROL_FRAMES == 32


def test_docstrings_from_header_docs():
    # swig -doxygen turns the header's Doxygen into docstrings.
    assert "ECYCLE" in m.graph_prepare.__doc__ and "latency compensation" in m.graph_prepare.__doc__
    assert "sample_rate" in m.Graph.__init__.__doc__
    assert "role" in m.Strip.insert.__doc__


def test_flat_api_mirrors_objects():
    g = m.Graph()
    s = m.graph_add_strip(g, "A", 2)
    assert m.strip_name(s) == "A" and s == g.strip("A")
    m.strip_set_fader_db(s, -4.0)
    assert m.strip_fader_db(s) == -4.0
    n = m.strip_insert(s, "gain", m.ROLE_STRIP, -1)
    m.node_set_param_by_name(n, "gain", 3.0)
    assert m.node_get_param_by_name(n, "gain") == 3.0
    assert m.node_get_param(n, 0) == 3.0
    info = m.node_param_info(n, 0)
    assert info["name"] == "gain" and info["unit"] == "dB"
    cfg = m.GraphConfig()
    assert cfg.sample_rate == 48000 and cfg.max_block_frames == 1024
    g2 = m.graph_create(cfg)
    assert m.graph_sample_rate(g2) == 48000
    rc = m.RenderConfig()
    assert rc.threads == 1 and rc.remove_latency == 1
    with pytest.raises(m.NullHandleError):
        m.graph_prepare(None)


# ---- graph ---------------------------------------------------------------------
def test_graph_properties_and_errors():
    g = m.Graph(sample_rate=44100, max_block=512, tempo=90, mix_channels=2)
    assert g.sample_rate == 44100 and g.max_block == 512 and g.tempo == 90
    assert g.mix_channels == 2
    g.tempo = 128
    assert g.tempo == 128
    with pytest.raises(m.RangeError) as e:
        g.tempo = 5
    assert e.value.code == m.ERANGE and "tempo" in e.value.detail
    assert isinstance(e.value, ValueError)
    with pytest.raises(m.RangeError):
        m.Graph(sample_rate=10)
    mix = g.mix_bus
    assert mix.name == "Mix" and mix.kind == "mix" and g.buses[0] == mix
    assert "Graph" in repr(g) and g.last_error is not None
    assert not g.prepared
    g.prepare()
    assert g.prepared and g.latency >= 0 and g.position == 0


def test_strip_controls():
    g = m.Graph()
    s = g.add_strip("Kick", channels=1)
    for prop, value in (("clip_gain_db", 3.0), ("fader_db", -6.0), ("pan", -0.5),
                        ("width", 1.0)):
        setattr(s, prop, value)
        assert getattr(s, prop) == value
    for prop in ("mute", "solo", "polarity"):
        setattr(s, prop, True)
        assert getattr(s, prop) is True
        setattr(s, prop, False)
    s.color = 0xFF8800
    assert s.color == 0xFF8800
    for prop, bad in (("clip_gain_db", 99), ("fader_db", 13), ("pan", 2)):
        with pytest.raises(m.RangeError) as e:
            setattr(s, prop, bad)
        assert "Kick" in str(e.value)  # the last-error message names the strip
    assert s.name == "Kick" and s.channels == 1 and s.graph == g
    assert s.source_frames == 0
    s.source = np.zeros(1000, dtype=np.float64)  # 1-D, converted to float32
    assert s.source_frames == 1000
    src = s.source  # the copy the strip plays, read-only
    assert src.shape == (1000, 1) and src.dtype == np.float32 and not src.flags.writeable
    with pytest.raises(m.ChannelsError):
        s.source = np.zeros((10, 2), dtype=np.float32)  # 2 channels into a mono strip
    with pytest.raises(m.ExistsError):
        g.add_strip("Kick")
    with pytest.raises(m.RangeError):
        g.add_strip("Wide", channels=17)
    assert g.strips == [s] and g.strip(0) == s and g.find_strip("none") is None
    with pytest.raises(m.NotFoundError):
        g.strip("none")
    with pytest.raises(m.RangeError):
        g.strip_at(5)
    assert "Kick" in repr(s)


def test_buses_sends_routing():
    g = m.Graph()
    s = g.add_strip("Gtr")
    grp = g.add_bus("Guitars")  # group by default
    ret = g.add_return("Plate")
    assert grp.kind == "group" and ret.kind == "return" and g.bus_count() == 3
    s.output = grp
    assert s.output == grp and grp.output == g.mix_bus
    with pytest.raises(m.InvalidArgumentError):
        s.output = ret  # strips feed groups or the mix, not returns
    grp.fader_db = -2.0
    grp.pan = 0.1
    grp.width = 0.5
    grp.mute = True
    assert (grp.fader_db, grp.pan, grp.width, grp.mute) == (-2.0, 0.1, 0.5, True)
    snd = s.add_send(ret, -12.0, tap="pre", role="mix-fx")
    assert snd.level_db == -12.0 and snd.tap == "pre" and snd.role == "mix-fx"
    assert snd.target == ret and s.sends == [snd] and "Plate" in repr(snd)
    snd.level_db = -6.0
    snd.mute = True
    assert snd.level_db == -6.0 and snd.mute
    with pytest.raises(m.InvalidArgumentError):
        s.add_send(grp)  # sends go to returns only
    with pytest.raises(m.NotFoundError):
        s.add_send(ret, tap="sideways")
    bsnd = grp.add_send(ret, -20.0)
    assert grp.sends == [bsnd] and bsnd.tap == "post"
    assert g.bus("Plate") == ret and g.find_bus("x") is None


def test_nodes_parameters():
    g = m.Graph()
    s = g.add_strip("Vox", channels=2)
    for name, _ in m.node_types():
        n = s.insert(name)
        for p in n.params():
            assert p.min <= p.default <= p.max
            assert n[p.name] == p.default  # starts at its default
            assert isinstance(p.automatable, bool)
            if p.unit == "choice":
                assert p.choices is None or len(p.choices) == int(p.max) + 1
    assert len(s.nodes) == len(m.node_types())
    comp = s.insert("compressor", role="strip", position=0)
    assert s.nodes[0] == comp and comp.type == "compressor"
    comp["threshold"] = -24
    comp[1] = 6.0  # by id
    assert comp["threshold"] == -24 and comp["ratio"] == 6.0 and comp.get("ratio") == 6.0
    assert "threshold" in comp and comp.values()["ratio"] == 6.0
    with pytest.raises(m.RangeError):
        comp["threshold"] = 10  # above 0 dB
    with pytest.raises(m.RangeError):
        comp["threshold"] = float("nan")
    with pytest.raises(m.NotFoundError):
        comp["nope"]
    with pytest.raises(m.RangeError):
        comp[99]
    with pytest.raises(m.NotFoundError):
        s.insert("nope")
    with pytest.raises(m.RangeError):
        s.insert("eq", position=99)
    comp.role = "bus-dynamics"
    assert comp.role == "bus-dynamics"
    comp.role = m.ROLE_DESIGN
    assert comp.role == "design"
    with pytest.raises(m.NotFoundError):
        comp.role = "boss"
    comp.bypass = True
    assert comp.bypass and "bypassed" in repr(comp)
    assert comp.graph == g and "Vox" in comp.label
    eq = s.insert("eq")
    with pytest.raises(m.UnsupportedError):
        eq.sidechain(s)  # only dynamics take a key
    g.prepare()
    assert comp.latency >= 0 and comp.tail >= 0 and comp.numeric_faults == 0


def test_compressor_gain_reduction_and_sidechain_ducking():
    g = m.Graph()
    kick = g.add_strip("Kick", channels=1)
    k = np.zeros(FS, dtype=np.float32)
    k[FS // 2:] = tone(60, 0.5, amp=0.9)[:, 0]  # kick plays in the second half only
    kick.source = k
    kick.mute = True  # key only: we listen to the bass
    bass = g.add_strip("Bass", channels=1)
    bass.source = tone(110, 1.0, amp=0.5)
    duck = bass.insert("compressor")
    duck["threshold"] = -30
    duck["ratio"] = 10
    duck["attack"] = 1
    duck.sidechain(kick, tap="pre")
    out = g.render(tail=0)
    # The bass is steady: before the kick it passes at full level; under the
    # kick (-0.9 FS peak, ~27 dB over threshold at 10:1) it is ducked by well
    # over 10 dB.  Windows skip the attack/release transitions.
    before = rms(out[FS // 8: FS // 2 - 1000, 0])
    under = rms(out[FS // 2 + 4800: FS - 1000, 0])
    assert 20 * np.log10(before / under) > 10.0
    assert duck.gain_reduction_db > 10.0  # still ducking at the end
    duck.clear_sidechain()
    out2 = g.render(tail=0)
    # Keyed by itself the steady bass is compressed evenly: the two halves
    # match within 0.5 dB (the kick no longer matters).
    a = rms(out2[FS // 8: FS // 2 - 1000, 0])
    b = rms(out2[FS // 2 + 4800: FS - 1000, 0])
    assert abs(20 * np.log10(a / b)) < 0.5


def test_cycle_error_names_the_loop():
    g = m.Graph()
    grp = g.add_bus("Grp")
    bass = g.add_strip("Bass")
    bass.output = grp
    comp = bass.insert("compressor")
    with pytest.raises(m.CycleError) as e:
        comp.sidechain(grp, "post")  # Bass -> Grp -> key of Bass's own compressor
    assert e.value.code == m.ECYCLE and "Bass" in str(e.value) and "Grp" in str(e.value)
    assert e.value.name == "MIXSTAGE_ECYCLE"
    assert e.value.reason == m.strerror(m.ECYCLE)


def test_automation_lanes():
    g = m.Graph()
    s = g.add_strip("Pad")
    fader = s.lane("fader")
    fader.add_point(0, -20.0)
    fader.add_point(48000, 0.0, curve="linear")
    fader.add_point(96000, -6.0, curve=m.CURVE_STEP)
    assert len(fader) == 3 and fader.point_count == 3
    assert fader.value_at(24000) == pytest.approx(-10.0)
    with pytest.raises(m.RangeError):
        fader.add_point(10, 50.0)  # above +12 dB
    with pytest.raises(m.NotFoundError):
        fader.add_point(10, 0.0, curve="wiggly")
    fader.clear()
    assert len(fader) == 0
    snd = s.add_send(g.add_return("Verb"))
    snd.lane().add_point(0, -10.0)
    comp = s.insert("compressor")
    comp.lane("threshold").add_point(0, -20.0, "exponential")
    with pytest.raises(m.UnsupportedError):
        comp.lane("detector")  # an enum: not automatable
    g.mix_bus.lane("pan").add_point(0, 0.5)
    with pytest.raises(m.NotFoundError):
        s.lane("nope")


def test_render_and_process():
    g = m.Graph(max_block=256)
    s = g.add_strip("Tone", channels=1)
    src = tone(1000, 0.25, amp=0.5)
    s.source = src
    out = g.render(tail=0)
    assert out.dtype == np.float32 and out.shape == (len(src), 2)
    # -3 dB constant-power centre pan (library pan law): each side 0.5/sqrt(2);
    # 1e-3 relative allows the fader/pan smoothing ramp only.
    assert np.max(np.abs(out)) == pytest.approx(0.5 / np.sqrt(2), rel=1e-3)
    assert np.array_equal(out, g.render(tail=0, threads=4))  # bit-identical
    assert g.render_frames(tail=0) == len(src)
    assert g.render(frames=1000, tail=0).shape == (1000, 2)
    g.prepare()
    blocks = [g.process(64) for _ in range(4)]
    assert g.position == 256
    buf = np.zeros((64, 2), dtype=np.float32)
    g.locate(0)
    g.process_into(buf)
    assert np.array_equal(buf, blocks[0])  # locate restarts the same audio
    with pytest.raises(m.BlockSizeError):
        g.process(1000)  # over max_block
    with pytest.raises(m.ChannelsError):
        g.process_into(np.zeros((64, 3), dtype=np.float32))
    with pytest.raises(TypeError):
        g.process_into(np.zeros((64, 2), dtype=np.float64))  # in place needs float32
    g.add_strip("Late")  # an edit un-prepares the graph
    with pytest.raises(m.StateError):
        g.process(64)
    with pytest.raises(m.RangeError):
        g.render(threads=0)


def test_error_classes():
    kinds = {"InvalidArgumentError": m.EINVAL, "NullHandleError": m.ENULL,
             "OutOfMemoryError": m.ENOMEM, "RangeError": m.ERANGE,
             "NotFoundError": m.ENOTFOUND, "CycleError": m.ECYCLE, "StateError": m.ESTATE,
             "ChannelsError": m.ECHANNELS, "BlockSizeError": m.EBLOCKSIZE,
             "ExistsError": m.EEXIST, "NumericError": m.ENUMERIC,
             "InputOutputError": m.EIO, "FormatError": m.EFORMAT,
             "CancelledError": m.ECANCELLED, "UnsupportedError": m.EUNSUPPORTED}
    for name, code in kinds.items():
        cls = getattr(m, name)
        assert issubclass(cls, m.Error) and m.err_name(code) in cls.__doc__
    assert issubclass(m.RangeError, ValueError) and issubclass(m.NotFoundError, LookupError)
    assert issubclass(m.OutOfMemoryError, MemoryError)
    assert issubclass(m.NumericWarning, RuntimeWarning)
    # Those the API can raise today are raised in the tests above (ENOMEM,
    # ENUMERIC, EIO, EFORMAT, ECANCELLED have no trigger in this API yet).


def test_lifetimes_graph_dropped_first():
    g = m.Graph()
    s = g.add_strip("Kick", channels=1)
    n = s.insert("compressor")
    lane = n.lane("threshold")
    snd = s.add_send(g.add_return("Verb"))
    del g
    gc.collect()
    # The children keep the graph alive: everything still works.
    s.source = tone(100, 0.1)
    n["threshold"] = -10
    lane.add_point(0, -12.0)
    snd.level_db = -3
    assert s.graph.render(tail=0).shape == (4800, 2)
    assert s.graph.strips == [s]


def test_lifetimes_random_gc_order():
    rng = random.Random(1234)
    for _ in range(20):
        g = m.Graph()
        objs = [g]
        for i in range(3):
            st = g.add_strip("S%d" % i)
            objs += [st, st.insert("eq"), st.lane("pan"), st.output, g.mix_bus]
        ret = g.add_return("R")
        objs += [ret, objs[1].add_send(ret), ret.insert("reverb").lane("decay")]
        objs += g.strips + g.buses
        del g, st, ret
        rng.shuffle(objs)
        while objs:
            obj = objs.pop()
            if objs and rng.random() < 0.3:
                # use a survivor after others went away
                survivor = objs[0]
                repr(survivor)
            del obj  # CPython frees at once (refcounting): no gc.collect needed
        gc.collect()


def test_matches_c_reference(builddir, tmp_path):
    ref = os.path.join(builddir, "tests", "render_ref")
    if not os.path.exists(ref):
        pytest.skip("tests/render_ref not built")
    raw = tmp_path / "ref.f32"
    line = subprocess.run([ref, str(raw)], check=True, capture_output=True, text=True).stdout
    frames, channels, digest = line.split()
    c = np.fromfile(raw, dtype=np.float32).reshape(int(frames), int(channels))
    g = ref_graph()
    py = g.render(tail=4800, threads=2)
    assert py.shape == c.shape
    # bit for bit: compare the raw 32-bit patterns, not values
    assert np.array_equal(py.view(np.uint32), c.view(np.uint32))
    assert fnv1a64(py.tobytes()) == digest
    assert np.max(np.abs(py)) > 0.05  # not trivially silent


def test_matches_lua(builddir, srcdir):
    lua = os.environ.get("LUA") or shutil.which("lua5.4")
    mod = os.path.join(builddir, "bindings", "lua", ".libs", "mixstage.so")
    if not lua or lua == "no" or not os.path.exists(mod):
        pytest.skip("Lua binding not built")
    env = dict(os.environ, LUA_CPATH=os.path.dirname(mod) + "/?.so;;")
    script = os.path.join(srcdir, "tests", "lua", "test_mixstage.lua")
    out = subprocess.run([lua, script, "--ref-hash"], check=True, capture_output=True,
                         text=True, env=env).stdout.split()
    py = ref_graph().render(tail=4800, threads=2)
    assert out == [str(py.shape[0]), "2", fnv1a64(py.tobytes())]


def test_python_example_runs(srcdir, tmp_path):
    pytest.importorskip("matplotlib")
    ex = os.path.join(srcdir, "examples", "python", "demo_song.py")
    # 2 s of song, tails capped at 1 s: every step of the script runs (and its
    # 3 s loudness window fits once) at a fraction of the full length's cost
    subprocess.run([os.environ.get("MIXSTAGE_PYTHON", "/usr/bin/python3"), ex, "--out",
                    str(tmp_path), "--seconds", "2", "--tail", "1"], check=True,
                   env=dict(os.environ, MPLBACKEND="Agg"))
    assert (tmp_path / "demo_song.png").stat().st_size > 10000
    assert (tmp_path / "demo_song_stem_rules.png").stat().st_size > 10000
    assert sorted(os.listdir(tmp_path / "mix-stems"))[:2] == ["Bass.wav", "Echo.wav"]


def bs1770_integrated_lufs(x, fs):
    """Integrated loudness by ITU-R BS.1770-4, written here from the standard
    (K-weighting biquads as tabulated for 48 kHz, 400 ms blocks every 100 ms,
    absolute gate -70 LUFS, relative gate -10 LU): a measurement independent
    of the library's meter (libebur128)."""
    from scipy import signal
    assert fs == 48000, "the tabulated K-weighting coefficients are for 48 kHz"
    x = np.asarray(x, dtype=np.float64)
    y = signal.lfilter([1.53512485958697, -2.69169618940638, 1.19839281085285],
                       [1.0, -1.69065929318241, 0.73248077421585], x, axis=0)
    y = signal.lfilter([1.0, -2.0, 1.0], [1.0, -1.99004745483398, 0.99007225036621], y, axis=0)
    block, hop = int(0.4 * fs), int(0.1 * fs)
    starts = np.arange((len(y) - block) // hop + 1) * hop
    energy = np.concatenate([np.zeros((1, y.shape[1])), np.cumsum(y * y, axis=0)])
    z = ((energy[starts + block] - energy[starts]) / block).sum(axis=1)  # L and R weigh 1
    def lufs(e):
        return -0.691 + 10 * np.log10(e)
    z = z[(z > 0) & (lufs(np.maximum(z, 1e-300)) > -70.0)]
    z = z[lufs(z) > lufs(z.mean()) - 10.0]
    return float(lufs(z.mean()))


def test_notebook_executes(srcdir, tmp_path):
    """The notebook runs clean from another directory, and what its plots
    claim holds when the audio behind them is measured here, independently."""
    nbconvert = shutil.which("jupyter-nbconvert")
    if not nbconvert:
        pytest.skip("jupyter-nbconvert not installed (apt-get install jupyter-nbconvert python3-ipykernel)")
    pytest.importorskip("scipy")
    import json
    nbformat = pytest.importorskip("nbformat")
    nb = os.path.join(srcdir, "examples", "python", "stem_rules.ipynb")
    source = nbformat.read(nb, as_version=4)
    nbformat.validate(source)  # nbformat 4.5: every cell has an id
    assert (source.nbformat, source.nbformat_minor) >= (4, 5)
    assert all(c.get("id") for c in source.cells)
    run_dir, out = tmp_path / "elsewhere", tmp_path / "figures"
    run_dir.mkdir()
    # About 15 s of CPU with the kernel: a mix-stems bounce, the master (a capture and two
    # passes), one final render and a 2 s bounce, all at full length.
    r = subprocess.run([nbconvert, "--execute", "--to", "notebook", "--output-dir", str(tmp_path),
                        "--ExecutePreprocessor.timeout=300", os.path.abspath(nb)], cwd=str(run_dir),
                       env=dict(os.environ, MPLBACKEND="Agg", MIXSTAGE_NOTEBOOK_OUT=str(out)),
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-3000:]
    done = nbformat.read(str(tmp_path / "stem_rules.ipynb"), as_version=4)
    for cell in done.cells:
        if cell.cell_type != "code":
            continue
        assert not [o for o in cell.outputs if o.output_type == "error"], cell.id
        if "plt.subplots" in cell.source:
            # a plot: it was drawn, and its axes say what they show
            assert any("image/png" in o.get("data", {}) for o in cell.outputs), cell.id
            assert "set_xlabel" in cell.source and "set_ylabel" in cell.source, cell.id
            assert ".legend(" in cell.source or cell.id == "stems", cell.id
    plotted = {c.id for c in done.cells if "plt.subplots" in c.source}
    assert plotted == {"loudness", "limiters", "stems", "ducking", "tails"}

    with open(out / "stem_rules.json") as f:
        fig = json.load(f)
    audio = np.load(out / "stem_rules.npz")
    fs = fig["sample_rate"]
    song = int(fig["song_seconds"] * fs)

    # Claim 1: the final master is mastered to its target (the master's own
    # tolerance, 0.3 LU, is what the issue asks); the production mix is not
    # that master.  Our BS.1770 and libebur128 agree to 0.05 LU (both use
    # whole 400 ms blocks; they differ only in rounding).
    final, production = audio["final"], audio["production"]
    assert len(final) > song + fs  # the whole song and its tails
    final_lufs = bs1770_integrated_lufs(final, fs)
    assert abs(final_lufs - fig["final_integrated_lufs"]) < 0.05
    assert abs(final_lufs - fig["target_lufs"]) <= 0.3
    production_lufs = bs1770_integrated_lufs(production, fs)
    assert abs(production_lufs - fig["production_integrated_lufs"]) < 0.05
    assert abs(production_lufs - final_lufs) > 0.5
    # Claim 2: the mastering limiter holds the ceiling: 4x-oversampled peak
    # (scipy's polyphase interpolator; 0.1 dB for its difference from the
    # BS.1770 interpolator) at most the ceiling.
    from scipy import signal
    true_peak = 20 * np.log10(np.abs(signal.resample_poly(final.astype(np.float64), 4, 1, axis=0)).max())
    assert true_peak <= fig["ceiling_dbtp"] + 0.1, true_peak
    assert fig["placeholder_gr_max_db"]["production"] > 0.5 and fig["placeholder_gr_max_db"]["final"] == 0
    assert fig["mastering_gr_max_db"]["final"] > 0.3 and fig["mastering_gr_max_db"]["production"] == 0

    # Claim 4: the bass stem ducks under each kick (beats every 0.5 s): its
    # level 5-30 ms after each kick against the bass with the compressor
    # bypassed.  The notebook's figure is the deepest 5 ms dip per beat, so it
    # reads at most 0.6 dB deeper than this window's mean (the release
    # recovers about 0.3 dB over those 25 ms).
    ducked = audio["bass_ducked"].astype(np.float64)
    dry = audio["bass_unducked"].astype(np.float64)
    beat = fs // 2
    depths = []
    for start in range(0, len(ducked) - beat + 1, beat):
        w = slice(start + int(0.005 * fs), start + int(0.030 * fs))
        depths.append(-10 * np.log10(np.mean(ducked[w] ** 2) / np.mean(dry[w] ** 2)))
    depth = float(np.median(depths))
    assert len(depths) == 4 and min(depths) > 3.0, depths
    assert 0.0 <= fig["ducking_depth_db"] - depth < 0.6, (fig["ducking_depth_db"], depth)

    # Claim 5: tails 0.1-0.5 s after the song.  Present: above -70 dBFS (the
    # pad's 3.5 s reverb, the plate and the delay read about -58 there);
    # absent: the lead stem, whose strip has no effect that rings (only EQ,
    # compressor and saturation state), below -120 dBFS.
    tails = {}
    for name in ("reference", "Pad", "Lead", "Plate", "Delay"):
        x = audio["tail_" + name].astype(np.float64)
        assert len(x) == int(0.4 * fs)
        ms = np.mean(x * x)
        tails[name] = 10 * np.log10(ms) if ms > 0 else float("-inf")
        assert tails[name] == pytest.approx(fig["tails_dbfs"][name], abs=0.01) or \
            tails[name] < -200 and fig["tails_dbfs"][name] < -200
    for name in ("reference", "Pad", "Plate", "Delay"):
        assert tails[name] > -70.0, (name, tails[name])
    assert tails["Lead"] < -120.0, tails["Lead"]


def test_attributes_never_silently_ignored():
    """A misspelt attribute raises instead of creating a Python attribute the
    library never reads; node parameters read and write as attributes."""
    g = m.Graph(FS)
    s = g.add_strip("Vox", 2)
    eq = s.insert("eq")
    eq.band2_freq = 200
    assert eq.band2_freq == 200.0 and eq["band2_freq"] == 200.0
    with pytest.raises(AttributeError) as e:
        eq.band2_freqq = 200
    assert "band2_freq'" in str(e.value) and "did you mean" in str(e.value)
    with pytest.raises(AttributeError):
        eq.band2_freqq
    with pytest.raises(AttributeError) as e:
        s.fader = -3
    assert "fader_db" in str(e.value)
    assert s.fader_db == 0.0  # nothing changed
    with pytest.raises(AttributeError) as e:
        s.insert = 3  # a method cannot be replaced by accident
    assert "method" in str(e.value)
    assert callable(s.insert)
    with pytest.raises(AttributeError) as e:
        s.name = "Lead"  # read-only property
    assert "read-only" in str(e.value)
    s.fader_db = -3
    assert s.fader_db == -3.0
    for obj in (g, g.mix_bus if hasattr(g, "mix_bus") else g.bus(0), m.RenderConfig()):
        with pytest.raises(AttributeError):
            obj.no_such_setting = 1
    with pytest.raises(m.RangeError):
        eq.band2_freq = 1e9
    assert "band2_freq" in dir(eq)


def test_choice_parameters_by_name():
    g = m.Graph(FS)
    eq = g.add_strip("Vox", 2).insert("eq")
    eq["band1_type"] = "highpass"
    assert eq.choice("band1_type") == "highpass"
    choices = eq.params()[0].choices
    assert eq["band1_type"] == choices.index("highpass")
    eq.band1_type = "bell"
    assert eq.choice("band1_type") == "bell"
    eq.set("band1_type", "notch")
    assert eq.choice("band1_type") == "notch"
    with pytest.raises(m.NotFoundError) as e:
        eq["band1_type"] = "hipass"
    assert "did you mean 'highpass'" in str(e.value) and "lowshelf" in str(e.value)
    assert eq.choice("band1_type") == "notch"  # unchanged
    with pytest.raises(m.InvalidArgumentError):
        eq["band1_freq"] = "highpass"  # not a choice parameter
    with pytest.raises(m.NotFoundError) as e:
        eq.get("band1_frq")
    assert "did you mean 'band1_freq'" in str(e.value)
    with pytest.raises(TypeError):
        eq["band1_gain"] = [1.0]


def test_audio_arrays_by_dtype_and_layout():
    """int PCM is scaled by its full scale, float converted, other dtypes and
    transposed shapes refused with the expected shape in the message."""
    g = m.Graph(FS)
    s = g.add_strip("Vox", 2)
    n = 4800
    for dtype, full in ((np.int16, 32768), (np.int32, 2 ** 31), (np.int8, 128)):
        x = np.full((n, 2), full // 2, dtype)
        st = m.measure(x, FS)
        # half of full scale is -6.0206 dBFS; float32 rounding is far below 1e-6 dB
        assert abs(st["peak_dbfs"] - 20 * np.log10(0.5)) < 1e-6, (dtype, st["peak_dbfs"])
    u8 = np.full((n, 1), 192, np.uint8)  # 64 above the 128 offset: 0.5
    assert abs(m.measure(u8, FS)["peak_dbfs"] - 20 * np.log10(0.5)) < 1e-6
    s.source = np.full((n, 2), 16384, np.int16)
    out = g.render(frames=n)
    # an int16 16384 source renders at 0.5 (-6 dBFS) through a unity strip (pan law aside)
    assert np.max(np.abs(out)) < 0.75 and np.max(np.abs(out)) > 0.25
    for bad in (np.zeros(10, np.int64), np.zeros((10, 2), np.complex64), np.zeros(10, bool),
                np.array(["a", "b"])):
        with pytest.raises(TypeError):
            s.source = bad
    with pytest.raises(ValueError) as e:
        s.source = np.zeros((2, n), np.float32)
    assert "(%d, 2)" % n in str(e.value) and "transposed" in str(e.value)
    with pytest.raises(m.ChannelsError) as e:
        s.source = np.zeros((n, 3), np.float32)
    assert "(frames, 2)" in str(e.value)
    s.set_source(np.zeros((2, n), np.float32), channels_first=True)
    assert s.source_frames == n
    x = np.random.default_rng(1).standard_normal((n, 2)).astype(np.float32) * 0.1
    assert m.measure(x.T, FS, channels_first=True) == m.measure(x, FS)
    s.source = np.zeros(n, np.float64)  # float64 converted, 1-D is mono
    assert s.source_frames == n


def test_class_docstrings_are_documentation():
    for cls in (m.Graph, m.Strip, m.Bus, m.Send, m.Node, m.Lane):
        assert cls.__doc__ and "Proxy of C" not in cls.__doc__, cls


def test_messages_name_python_calls():
    g = m.Graph(FS)
    g.add_strip("Vox", 2).source = np.zeros(4800, np.float32)
    with pytest.raises(m.Error) as e:
        g.master(target_lufs=-14)
    assert "mixstage_" not in str(e.value) and "MIXSTAGE_" not in str(e.value), str(e.value)


def test_callbacks_cannot_edit_the_graph_they_render():
    """A source or progress callback that edits or re-prepares the graph being
    rendered gets StateError (raised by the render, which stays intact);
    rendering another graph from a callback works."""
    g = m.Graph(FS)
    s = g.add_strip("Vox", 1)
    calls = []

    def other(out, pos):
        out[:] = 0.1

    def replaces_itself(out, pos):
        out[:] = 0.5
        if not calls:
            calls.append(1)
            s.set_source_callback(other, 1, FS)

    s.set_source_callback(replaces_itself, 1, FS)
    with pytest.raises(m.StateError) as e:
        g.render(frames=4800)
    assert "strip 'Vox'" in str(e.value) and "rendering" in str(e.value)

    def edits(out, pos):
        s.insert("eq")
        g.prepare()

    s.set_source_callback(edits, 1, FS)
    with pytest.raises(m.StateError):
        g.render(frames=4800)
    assert s.node_count() == 0  # nothing was inserted
    g.prepare()  # editable again once the render returned
    s.insert("eq")

    h = m.Graph(FS)
    h.add_strip("x", 1).set_source_callback(lambda out, pos: None, 1, 480)
    seen = []

    def renders_other(out, pos):
        out[:] = 0.25
        seen.append(h.render(frames=480, threads=2).shape)

    s.set_source_callback(renders_other, 1, 4800)
    y = g.render(frames=4800, threads=2)
    assert seen and np.max(np.abs(y)) > 0

    def prog(done, total):
        g.add_strip("Late", 1)
        return False

    s.source = np.zeros(FS, np.float32)
    with pytest.raises(m.StateError):
        g.render(frames=FS, progress=prog)
    assert [x.name for x in g.strips] == ["Vox"]


def test_names_with_nul_are_refused():
    """C would cut a name at a NUL character: the binding refuses it."""
    g = m.Graph(FS)
    with pytest.raises(ValueError) as e:
        g.add_strip("Vox\0Lead", 2)
    assert "NUL" in str(e.value)
    assert g.strips == [] or [s.name for s in g.strips] == []
    s = g.add_strip("Vox", 2)
    with pytest.raises(ValueError):
        s.insert("eq\0x")
    with pytest.raises(ValueError):
        g.add_bus("Drums\0", m.BUS_GROUP) if hasattr(m, "BUS_GROUP") else g.add_return("Plate\0")
    assert s.node_count() == 0
