#!/usr/bin/env python3
"""cut_sources.py SRC_DIR OUT_DIR SECONDS: the first SECONDS of the benchmark
sources (src00.wav ... src31.wav) and their strips.tsv, for the short runs of
`make bench` (the instruction counts under callgrind, and a zero-length run
whose cost is the setup to subtract).

The reference engines take no length option: they render whatever the
sources hold, so a short run needs short sources.  Every chunk before "data"
is copied byte for byte (the sources are padded so the samples are 64-byte
aligned, and the references check the alignment); the data, RIFF and fact
sizes are rewritten; nothing after the data chunk is kept.
"""
import os
import shutil
import struct
import sys

FRAME_BYTES = 8  # float32 stereo
RATE = 48000


def cut(src, dst, frames):
    with open(src, "rb") as f:
        head = f.read(12)
        if head[:4] != b"RIFF" or head[8:12] != b"WAVE":
            sys.exit("%s: not a RIFF/WAVE file" % src)
        chunks = bytearray(head)
        fact_at = None
        while True:
            hdr = f.read(8)
            if len(hdr) < 8:
                sys.exit("%s: no data chunk" % src)
            cid, size = hdr[:4], struct.unpack("<I", hdr[4:])[0]
            if cid == b"data":
                keep = min(size // FRAME_BYTES, frames)
                chunks += b"data" + struct.pack("<I", keep * FRAME_BYTES)
                data = f.read(keep * FRAME_BYTES)
                break
            body = f.read(size + (size & 1))
            if cid == b"fact":
                fact_at = len(chunks) + 8
            chunks += hdr + body
    struct.pack_into("<I", chunks, 4, len(chunks) - 8 + len(data))
    if fact_at is not None:
        struct.pack_into("<I", chunks, fact_at, keep)
    with open(dst, "wb") as f:
        f.write(chunks)
        f.write(data)


def main():
    if len(sys.argv) != 4:
        sys.exit("usage: cut_sources.py SRC_DIR OUT_DIR SECONDS")
    src_dir, out_dir, seconds = sys.argv[1], sys.argv[2], float(sys.argv[3])
    frames = int(round(seconds * RATE))
    os.makedirs(out_dir, exist_ok=True)
    shutil.copyfile(os.path.join(src_dir, "strips.tsv"), os.path.join(out_dir, "strips.tsv"))
    for i in range(32):
        name = "src%02d.wav" % i
        cut(os.path.join(src_dir, name), os.path.join(out_dir, name), frames)


if __name__ == "__main__":
    main()
