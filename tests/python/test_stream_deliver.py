"""Python binding tests of the streamed-delivery calls: a bounce written as
a delivery without rendering again (Graph.deliver_bounce) and the recovery
of a delivery folder (deliver_recover)."""
import os

import pytest

import mixstage as m
from test_mixstage import FS, ref_graph


def test_deliver_bounce_equals_deliver(tmp_path):
    g = ref_graph()
    b = g.bounce("mix-stems", tail=FS // 2)
    from_bounce = g.deliver_bounce(b, "mix-stems", tmp_path / "from-bounce", tail=FS // 2)
    direct = g.deliver("mix-stems", tmp_path / "direct", tail=FS // 2)
    # The same files, byte for byte (the checksum covers every byte of the
    # file; the dither is seeded by the file name): a render is reproducible.
    assert [f["path"] for f in from_bounce["files"]] == [f["path"] for f in direct["files"]]
    for a, d in zip(from_bounce["files"], direct["files"]):
        assert a["checksum"] == d["checksum"], a["path"]
        with open(tmp_path / "from-bounce" / a["path"], "rb") as fa, \
                open(tmp_path / "direct" / d["path"], "rb") as fd:
            assert fa.read() == fd.read(), a["path"]
    # a bounce carries no null check of its own
    assert from_bounce["null_check_residual_dbfs"] is None
    assert direct["null_check_residual_dbfs"] < -100
    assert from_bounce["delivery_id"] == direct["delivery_id"]
    assert sorted(os.listdir(tmp_path / "from-bounce")) == sorted(
        [f["path"] for f in direct["files"]] + ["manifest.json"])


def test_deliver_bounce_refuses_a_mismatch(tmp_path):
    g = ref_graph()
    b = g.bounce("mix-stems", tail=FS // 2)
    # another length than the bounce's: refused, nothing written
    with pytest.raises(m.InvalidArgumentError) as e:
        g.deliver_bounce(b, "mix-stems", tmp_path / "x", tail=FS // 4)
    assert "bounce" in str(e.value)
    with pytest.raises(m.InvalidArgumentError):
        g.deliver_bounce(b, "final", tmp_path / "y", tail=FS // 2)
    for d in ("x", "y"):
        assert not os.path.exists(tmp_path / d) or os.listdir(tmp_path / d) == []


def test_deliver_recover(tmp_path):
    g = ref_graph()
    man = g.deliver("final", tmp_path / "f", tail=FS // 2)
    before = sorted(os.listdir(tmp_path / "f"))
    assert m.deliver_recover(str(tmp_path / "f")) is None
    # a settled folder stays as it is: the files and the manifest
    assert sorted(os.listdir(tmp_path / "f")) == before
    assert m.measure_file(str(tmp_path / "f" / "mix.wav"))["checksum"] == man["files"][0]["checksum"]
    with pytest.raises(m.InputOutputError):
        m.deliver_recover(str(tmp_path / "no-such-folder"))


def test_deliver_profiles_one_pass_byte_identical(tmp_path):
    g = ref_graph()
    seen = []
    mans = g.deliver_profiles({"production": tmp_path / "p", "mix-stems": tmp_path / "s",
                               "final": tmp_path / "f"}, tail=FS // 2,
                              progress=lambda done, total: seen.append((done, total)))
    # one shared render: the progress runs once from the start to the end
    # (a second render would start again from 0) on one total
    assert seen and all(b[0] >= a[0] for a, b in zip(seen, seen[1:])), seen
    assert len({t for _, t in seen}) == 1 and seen[-1][0] == seen[-1][1]
    assert [mm["profile"] for mm in mans] == ["production", "mix-stems", "final"]
    # each folder byte-identical to a delivery of its profile alone
    for name, d in (("production", "p"), ("mix-stems", "s"), ("final", "f")):
        alone = g.deliver(name, tmp_path / ("alone-" + d), tail=FS // 2)
        assert sorted(os.listdir(tmp_path / d)) == sorted(os.listdir(tmp_path / ("alone-" + d)))
        for f in os.listdir(tmp_path / d):
            with open(tmp_path / d / f, "rb") as fa, open(tmp_path / ("alone-" + d) / f, "rb") as fb:
                assert fa.read() == fb.read(), (name, f)
        assert mans[["p", "s", "f"].index(d)]["delivery_id"] == alone["delivery_id"]


def test_deliver_profiles_bad_input(tmp_path):
    g = ref_graph()
    with pytest.raises(m.NotFoundError):
        g.deliver_profiles([("no-such-profile", tmp_path / "a")])
    with pytest.raises(m.InvalidArgumentError):
        g.deliver_profiles([("production", tmp_path / "b"), ("final", tmp_path / "b")])
    assert not os.path.exists(tmp_path / "a")
    assert not os.path.exists(tmp_path / "b") or os.listdir(tmp_path / "b") == []
