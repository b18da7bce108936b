"""Python binding tests of Graph.bounce_stream: a bounce handed over block
by block (bounded memory), equal to Graph.bounce() sample for sample."""
import numpy as np
import pytest

import mixstage as m
from test_mixstage import FS, ref_graph


def collect(g, profile, **kw):
    """Runs bounce_stream and returns (description, {name: concatenated
    audio}, list of block lengths), checking that blocks are consecutive."""
    parts, sizes = {}, []

    def fn(frame, blocks):
        assert frame == sum(sizes)  # consecutive, in order, from frame 0
        n = {len(a) for a in blocks.values()}
        assert len(n) == 1  # every output gets the same frames
        sizes.append(n.pop())
        for name, a in blocks.items():
            parts.setdefault(name, []).append(a.copy())

    desc = g.bounce_stream(profile, fn, **kw)
    return desc, {k: np.concatenate(v) for k, v in parts.items()}, sizes


@pytest.mark.parametrize("profile", ["mix-stems", "final", "production"])
def test_blocks_equal_bounce(profile):
    g = ref_graph()
    whole = g.bounce(profile, tail=FS // 2)
    desc, got, sizes = collect(g, profile, tail=FS // 2)
    assert list(got) == whole.names == desc.names
    assert desc.frames == whole.frames == sum(sizes)
    # bounded: blocks, not the whole render at once
    assert len(sizes) > 10 and max(sizes) <= 1024
    for n in whole.names:
        assert desc.kind(n) == whole.kind(n)
        assert desc.adds_up(n) == whole.adds_up(n)
        assert got[n].dtype == np.float32 and got[n].shape == whole[n].shape
        assert np.array_equal(got[n], whole[n]), n  # bit for bit
    # any thread count gives the same blocks
    _, got2, _ = collect(g, profile, tail=FS // 2, threads=2)
    for n in whole.names:
        assert np.array_equal(got2[n], whole[n]), n


def test_null_check_in_the_same_pass():
    g = ref_graph()
    desc, _, _ = collect(g, "mix-stems", tail=FS // 2, null_check=True)
    # the same forks and sums as null_check(): the same residual
    assert desc.null_residual == g.null_check("mix-stems", tail=FS // 2)
    assert desc.null_residual < -100
    desc, _, _ = collect(g, "mix-stems", tail=FS // 2)
    assert desc.null_residual is None
    with pytest.raises(m.InvalidArgumentError):
        g.bounce_stream("production", lambda f, b: None, null_check=True)


def test_blocks_are_read_only_and_the_description_holds_no_audio():
    g = ref_graph()
    seen = []

    def fn(frame, blocks):
        with pytest.raises(ValueError):
            blocks["mix"][0, 0] = 1.0
        seen.append(frame)

    desc = g.bounce_stream("final", fn, frames=FS // 10, tail=0)
    assert seen and desc.frames == FS // 10
    with pytest.raises(m.StateError) as e:
        desc["mix"]
    assert "streamed" in str(e.value)


class Stop(Exception):
    pass


def test_an_exception_stops_the_render_and_propagates():
    g = ref_graph()
    before = g.bounce("mix-stems", tail=FS // 2)
    calls = []

    def fn(frame, blocks):
        calls.append(frame)
        if len(calls) == 3:
            raise Stop("enough")

    with pytest.raises(Stop, match="enough"):
        g.bounce_stream("mix-stems", fn, tail=FS // 2)
    assert len(calls) == 3  # not called again after raising
    # the graph is usable after, and renders the same
    after = g.bounce("mix-stems", tail=FS // 2)
    for n in before.names:
        assert np.array_equal(after[n], before[n]), n
    _, got, _ = collect(g, "mix-stems", tail=FS // 2)
    assert np.array_equal(got["Pad"], before["Pad"])


def test_the_graph_is_busy_while_fn_runs():
    g = ref_graph()

    def fn(frame, blocks):
        g.add_strip("Late", channels=1)

    with pytest.raises(m.StateError) as e:
        g.bounce_stream("final", fn, tail=0)
    assert "rendering" in str(e.value)
    assert [s.name for s in g.strips] == ["Kick", "Pad"]
    # a render started from fn is refused as from a progress callback
    with pytest.raises(m.StateError):
        g.bounce_stream("final", lambda f, b: g.bounce("production", tail=0), tail=0)
    with pytest.raises(TypeError):
        g.bounce_stream("final", 42)


def test_blocks_iterator_equals_bounce():
    g = ref_graph()
    whole = g.bounce("mix-stems", tail=FS // 2)
    parts, at = {}, 0
    for frame, blocks in g.bounce_blocks("mix-stems", tail=FS // 2):
        assert frame == at
        at += len(blocks["Pad"])
        for n, a in blocks.items():
            parts.setdefault(n, []).append(a)
    assert at == whole.frames
    for n in whole.names:
        assert np.array_equal(np.concatenate(parts[n]), whole[n]), n


def test_blocks_iterator_closed_early_stops_the_render():
    import contextlib
    g = ref_graph()
    with contextlib.closing(g.bounce_blocks("mix-stems", tail=FS // 2)) as it:
        for i, _ in enumerate(it):
            if i == 2:
                break
    # the render stopped: the graph takes edits again, and renders the same
    g.add_strip("After", channels=1)
    b = g.bounce("production", tail=0)
    assert b.frames > 0
    with pytest.raises(m.NotFoundError):
        list(g.bounce_blocks("no-such-profile"))
