"""Python binding tests of graph editing (edit.h): removing strips, buses,
sends, nodes and lanes, moving and replacing nodes; proxies of removed
objects raise RemovedError naming them on any use; iteration no longer shows
them; a render after edits equals, bit for bit, a render of the same graph
built from scratch.  Renders are short (0.125 s) to keep the suite fast,
also under valgrind."""
import gc

import numpy as np
import pytest

import mixstage as m

FS = 48000
N = 6000


def noise(frames, channels, seed, amp=0.2):
    return (amp * np.random.default_rng(seed).standard_normal((frames, channels))).astype(np.float32)


def render(g):
    return g.render(frames=N, tail=FS // 8)


def assert_removed(fn, *names):
    """fn() raises RemovedError whose message names every one of `names`."""
    with pytest.raises(m.RemovedError) as e:
        fn()
    msg = str(e.value)
    for n in names:
        assert n in msg, (n, msg)
    assert "mixstage_" not in msg
    return e.value


# ---- the graph the edit scenarios start from -----------------------------------
def build(tmp=True, delay=True, kick=True, kick_gate=True, snare_send=True, pad_fader_lane=True,
          pad_order=("eq", "compressor", "saturation"), pad_dyn="compressor", dyn_values=None):
    """Kick (1 ch) and Snare route into the group 'Drums'; Pad sends to the
    return 'Verb', ducked by Kick; Tmp sends to the return 'Delay'; the mix
    bus has a limiter.  The flags leave parts out, to build from scratch
    the graph an edit scenario should leave."""
    g = m.Graph(sample_rate=FS, max_block=256)
    drums = g.add_bus("Drums", "group")
    verb = g.add_return("Verb")
    verb.insert("reverb", "mix-fx")["mix"] = 100.0
    if delay:
        g.add_return("Delay").insert("delay", "mix-fx")
    k = None
    if kick:
        k = g.add_strip("Kick", 1)
        k.source = noise(N, 1, 1, 0.5)
        k.output = drums
        if kick_gate:
            k.insert("gate")["threshold"] = -40.0
    sn = g.add_strip("Snare", 2)
    sn.source = noise(N, 2, 2)
    sn.output = drums
    if snare_send:
        sn.add_send(verb, -12.0)
    pad = g.add_strip("Pad", 2)
    pad.source = noise(N, 2, 3, 0.3)
    pad.fader_db = -3.0
    if pad_fader_lane:
        lane = pad.lane("fader")
        lane.add_point(0, -3.0)
        lane.add_point(N // 2, -12.0)
    for t in pad_order:
        if t == "eq":
            pad.insert("eq")["band1_gain"] = 4.0
        elif t == "compressor":
            c = pad.insert(pad_dyn)
            c["threshold"] = -30.0
            c["ratio"] = 8.0
            for name, value in (dyn_values or {}).items():
                c[name] = value
            c.lane("threshold").add_point(N // 3, -20.0)
            if k is not None:
                c.sidechain(k, "pre")
        elif t == "saturation":
            pad.insert("saturation")["drive"] = 12.0
    pad.add_send(verb, -8.0)
    if tmp:
        t = g.add_strip("Tmp", 2)
        t.source = noise(N, 2, 4)
        t.insert("compressor")
        if delay:
            t.add_send(g.find_bus("Delay"), -6.0)
    g.mix_bus.insert("limiter")
    return g


def pad_node(g, type_):
    return next(n for n in g.find_strip("Pad").nodes if n.type == type_)


# ---- removal invalidates every proxy, however obtained -------------------------
def test_removed_strip_proxies_raise_on_any_use():
    g = build()
    tmp = g.find_strip("Tmp")
    by_iter = [s for s in g.strips if s.name == "Tmp"][0]
    by_index = g.strip_at(3)
    comp = tmp.nodes[0]
    send = tmp.sends[0]
    fader = tmp.lane("fader")
    thr = comp.lane("threshold")
    assert by_iter == tmp and by_index == tmp

    g.remove(tmp)

    assert [s.name for s in g.strips] == ["Kick", "Snare", "Pad"]
    assert g.find_strip("Tmp") is None
    assert g.strip_count() == 3
    for proxy in (tmp, by_iter, by_index):
        err = assert_removed(lambda: proxy.name, "Strip 'Tmp'", "removed")
        assert isinstance(err, m.StateError) and isinstance(err, ReferenceError)
        assert_removed(lambda: setattr(proxy, "fader_db", -3.0), "Strip 'Tmp'")
        assert_removed(lambda: proxy.insert("eq"), "Strip 'Tmp'")
        assert_removed(lambda: proxy.nodes, "Strip 'Tmp'")
        assert_removed(lambda: proxy.fadr_db, "Strip 'Tmp'")          # misspelt: still RemovedError
        assert_removed(lambda: setattr(proxy, "fadr_db", 1), "Strip 'Tmp'")
        assert_removed(proxy.remove, "Strip 'Tmp'")                  # twice
        assert_removed(lambda: g.remove(proxy), "Strip 'Tmp'")
        assert "removed" in repr(proxy) and "Tmp" in repr(proxy)    # repr never raises
    # what went with it names both
    assert_removed(lambda: comp["threshold"], "Node 'compressor'", "Strip 'Tmp'")
    assert_removed(lambda: comp.threshold, "Node 'compressor'")
    assert_removed(lambda: setattr(comp, "threshold", -3.0), "Node 'compressor'")
    assert_removed(lambda: comp.move(0), "Node 'compressor'")
    assert_removed(lambda: send.level_db, "Send from Strip 'Tmp' to 'Delay'", "Strip 'Tmp'")
    assert_removed(lambda: fader.add_point(0, 0.0), "Lane 'fader' of Strip 'Tmp'")
    assert_removed(lambda: thr.point_count, "Lane 'threshold'", "Strip 'Tmp'")
    assert "removed" in repr(comp) and "removed" in repr(send) and "removed" in repr(fader)
    # a removed object given as an argument raises too, naming it
    pad = g.find_strip("Pad")
    assert_removed(lambda: pad_node(g, "compressor").sidechain(tmp), "Strip 'Tmp'")
    assert_removed(lambda: pad.move(comp, 0), "Node 'compressor'")
    assert render(g).shape == (N + FS // 8, 2)


def test_new_object_at_a_freed_address_is_not_reached_by_old_proxies():
    g = m.Graph(max_block=256)
    olds = []
    for i in range(20):
        s = g.add_strip("S%d" % i, 2)
        olds.append((s, s.insert("eq")))
        s.remove()
    news = [g.add_strip("N%d" % i, 2) for i in range(20)]
    for s, n in olds:
        assert_removed(lambda: s.name, "Strip 'S")
        assert_removed(lambda: n.type, "Node 'eq'")
        assert all(s != x for x in news)
    assert [s.name for s in g.strips] == ["N%d" % i for i in range(20)]
    assert len({s.serial for s in news}) == 20


def test_proxies_outlive_graph_and_removal_in_any_order():
    g = build()
    nodes = g.find_strip("Pad").nodes
    g.remove(g.find_strip("Pad"))
    del g
    gc.collect()
    for n in nodes:
        assert_removed(lambda: n.type, "Strip 'Pad'")
    del nodes
    gc.collect()


# ---- each removal ----------------------------------------------------------
def test_remove_bus_refused_while_routed_then_takes_sends_and_keys():
    g = build()
    drums = g.find_bus("Drums")
    with pytest.raises(m.StateError) as e:
        drums.remove()
    assert "Drums" in str(e.value) and "Kick" in str(e.value)
    assert "mixstage_" not in str(e.value)
    assert g.find_bus("Drums") == drums  # refused: nothing changed
    with pytest.raises(m.InvalidArgumentError):
        g.mix_bus.remove()
    for s in g.strips:
        if s.output == drums:
            s.output = g.mix_bus
    comp = pad_node(g, "compressor")
    comp.sidechain(drums, "post")
    g.remove(drums)
    assert [b.name for b in g.buses] == ["Mix", "Verb", "Delay"]
    assert comp.sidechain() is None and comp.sidechain_lost == "Drums"
    assert_removed(lambda: drums.fader_db, "Bus 'Drums'")

    # an FX return takes the sends into it, from any strip
    verb = g.find_bus("Verb")
    sends = [x for s in g.strips for x in s.sends if x.target == verb]
    assert len(sends) == 2
    lane = sends[0].lane()
    verb.remove()
    for x in sends:
        assert_removed(lambda: x.mute, "Send from", "Bus 'Verb'")
    assert_removed(lambda: lane.point_count, "Lane of the Send", "Bus 'Verb'")
    assert all(x.target.name != "Verb" for s in g.strips for x in s.sends)
    assert render(g).shape[1] == 2


def test_remove_send_node_and_lane():
    g = build()
    pad = g.find_strip("Pad")
    send = pad.sends[0]
    send.remove()
    assert pad.send_count() == 0
    assert_removed(lambda: send.level_db, "Send from Strip 'Pad' to 'Verb'", "removed from its graph")

    eq, comp, sat = pad.nodes
    thr = comp.lane("threshold")
    g.remove(comp)
    assert pad.nodes == [eq, sat]
    assert [n.type for n in pad.nodes] == ["eq", "saturation"]
    assert eq["band1_gain"] == 4.0 and sat["drive"] == 12.0  # the others are untouched
    assert_removed(lambda: comp.type, "Node 'compressor' (insert 1 of Strip 'Pad')")
    assert_removed(lambda: thr.points, "Lane 'threshold'", "Node 'compressor'")

    fader = pad.find_lane("fader")
    fader.remove()
    assert pad.find_lane("fader") is None
    assert_removed(lambda: fader.points, "Lane 'fader' of Strip 'Pad'")
    fresh = pad.lane("fader")
    assert fresh != fader and len(fresh) == 0 and fresh.serial != 0


def test_remove_strip_that_keys_a_sidechain():
    g = build()
    comp = pad_node(g, "compressor")
    assert comp.sidechain()[0].name == "Kick"
    assert comp.sidechain_lost is None
    g.find_strip("Kick").remove()
    assert comp.sidechain() is None
    assert comp.sidechain_lost == "Kick"
    comp.clear_sidechain()
    assert comp.sidechain_lost is None
    # the graph renders as one built without the kick
    assert np.array_equal(render(g), render(build(kick=False)))


def test_remove_strip_with_attached_meters_and_callback():
    g = build()
    tmp = g.find_strip("Tmp")
    kept = m.Meter(2, FS, max_block=256, series=False)
    tmp.attach_meter(kept, "post")
    tmp.attach_meter(m.Meter(2, FS, max_block=256, series=False), "pre")  # proxy dropped: orphaned
    render(g)
    before = kept.report()["integrated_lufs"]
    assert kept.attached
    calls = []

    def fn(out, position):
        calls.append(position)
        out[:] = 0.1

    tmp.set_source_callback(fn, length=N)
    tmp.remove()
    assert not kept.attached
    assert kept.report()["integrated_lufs"] == before  # detached, figures kept
    n = len(calls)
    render(g)
    assert len(calls) == n  # the removed strip's callback is not called again
    g.find_strip("Snare").attach_meter(kept, "post")  # reusable elsewhere
    render(g)


def test_remove_everything_and_render_an_empty_graph():
    g = build()
    for s in g.strips:
        s.output = g.mix_bus
    for s in g.strips:
        g.remove(s)
    for b in g.buses[1:]:
        g.remove(b)
    for n in g.mix_bus.nodes:
        g.remove(n)
    assert g.strips == [] and [b.name for b in g.buses] == ["Mix"] and g.mix_bus.nodes == []
    out = g.render(frames=1000, tail=0)
    assert out.shape == (1000, 2) and not out.any()


def test_remove_during_iteration_over_a_snapshot():
    g = build()
    seen = []
    for s in g.strips:          # a list made when read: removing does not disturb it
        seen.append(s.name)
        if s.name in ("Snare", "Tmp"):
            g.remove(s)
    assert seen == ["Kick", "Snare", "Pad", "Tmp"]
    assert [s.name for s in g.strips] == ["Kick", "Pad"]
    pad = g.find_strip("Pad")
    for n in pad.nodes:
        if n.type != "eq":
            n.remove()
    assert [n.type for n in pad.nodes] == ["eq"]


def test_remove_refuses_foreign_and_wrong_objects():
    g, h = build(), build()
    with pytest.raises(m.InvalidArgumentError) as e:
        g.remove(h.find_strip("Pad"))
    assert "another graph" in str(e.value)
    assert h.find_strip("Pad") is not None
    with pytest.raises(TypeError):
        g.remove("Pad")
    with pytest.raises(m.InvalidArgumentError):
        g.find_strip("Pad").move(h.find_strip("Pad").nodes[0], 0)


def test_remove_from_a_source_callback_is_refused():
    g = build()
    pad = g.find_strip("Pad")

    def fn(out, position):
        pad.remove()

    g.find_strip("Snare").set_source_callback(fn, length=N)
    with pytest.raises(m.StateError):
        render(g)
    assert pad.name == "Pad"  # refused: still there


# ---- moving and replacing ------------------------------------------------------
def test_move_node():
    g = build()
    pad = g.find_strip("Pad")
    eq, comp, sat = pad.nodes
    sat.move(0)
    assert pad.nodes == [sat, eq, comp]
    pad.move(sat, -1)
    assert pad.nodes == [eq, comp, sat]
    comp.move(1)  # already there
    assert pad.nodes == [eq, comp, sat]
    with pytest.raises(m.RangeError):
        eq.move(3)
    with pytest.raises(m.RangeError):
        eq.move(-2)
    limiter = g.mix_bus.nodes[0]
    g.mix_bus.insert("gain", "mastering", 0)
    g.mix_bus.move(limiter, 0)
    assert [n.type for n in g.mix_bus.nodes] == ["limiter", "gain"]
    with pytest.raises(m.InvalidArgumentError) as e:
        pad.move(limiter, 0)
    assert "not an insert of strip 'Pad'" in str(e.value)


def test_replace_node_keeps_place_role_and_same_named_parameters():
    g = build()
    pad = g.find_strip("Pad")
    comp = pad.nodes[1]
    comp.role = "mix-fx"
    same = comp.replace("gate")
    assert same is comp and pad.nodes[1] == comp
    assert comp.type == "gate" and comp.role == "mix-fx"
    assert comp["threshold"] == -30.0 and comp["ratio"] == 8.0
    assert comp.find_lane("threshold").points == [(N // 3, -20.0, "linear")]
    assert comp.sidechain()[0].name == "Kick"
    with pytest.raises(m.NotFoundError) as e:
        comp.replace("compresor")
    assert "compressor" in str(e.value)
    assert comp.type == "gate"

    # a lane the new type cannot take is removed with its proxy
    eq = pad.nodes[0]
    band = eq.lane("band1_gain")
    band.add_point(0, 3.0)
    eq.replace("saturation")
    assert_removed(lambda: band.points, "Lane 'band1_gain'", "replaced by a 'saturation'")
    assert eq.type == "saturation"


# ---- a render after edits equals the same graph built from scratch -----------
def test_render_after_edits_equals_graph_built_from_scratch():
    g = build()
    ref_full = render(build())
    assert np.array_equal(render(g), ref_full)  # deterministic baseline
    g.remove(g.find_strip("Tmp"))
    g.find_bus("Delay").remove()
    pad = g.find_strip("Pad")
    pad.move(pad_node(g, "saturation"), 0)
    comp = pad_node(g, "compressor")
    old = comp.values()
    comp.replace("gate")
    # a parameter of the same name keeps its value where the gate accepts it
    # (the compressor's attack, 10 ms, not the gate's 0.5 ms)
    carried = {p.name: old[p.name] if p.name in old and p.min <= old[p.name] <= p.max else p.default
               for p in comp.params()}
    assert comp.values() == carried and carried["attack"] == 10.0
    g.find_strip("Snare").sends[0].remove()
    pad.find_lane("fader").remove()
    g.find_strip("Kick").nodes[0].remove()
    got = render(g)
    want = render(build(tmp=False, delay=False, kick_gate=False, snare_send=False,
                        pad_fader_lane=False, pad_order=("saturation", "eq", "compressor"),
                        pad_dyn="gate", dyn_values=carried))
    assert got.shape == want.shape
    assert np.array_equal(got, want)
    assert not np.array_equal(got, ref_full)  # the edits did change the mix
    assert np.array_equal(render(g), got)     # and rendering again is stable


def test_serials_and_lookup():
    g = build()
    pad = g.find_strip("Pad")
    assert m.graph_strip_by_serial(g, pad.serial) == pad
    node = pad.nodes[0]
    assert m.graph_node_by_serial(g, node.serial) == node
    s = pad.sends[0]
    assert s.source_strip == pad and s.source_bus is None
    serial = node.serial
    node.remove()
    assert m.graph_node_by_serial(g, serial) is None
    assert g.mix_bus.serial == 1
