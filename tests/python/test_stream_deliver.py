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
