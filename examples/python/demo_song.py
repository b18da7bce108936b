#!/usr/bin/env python3
"""demo_song.py: a small song mixed with libmixstage from Python.

Kick; bass ducked by the kick (sidechain compressor); pad through a reverb
insert with role "design" (part of the sound); lead with sends to a plate
reverb and a tempo-synced delay return (role "mix-fx"); a mix bus with
console colour, bus compressor and limiter.  Bounces the three render
profiles (production, mix-stems, final) and plots what the stem rules did:
the production mix against the stems, the bass ducking under the kick in
the mix and in the bass stem, the pad's design reverb tail kept in its stem
while the lead stem stops with its last note (its mix-fx tails live in the
FX stems), the gain reduction of the dynamics read block by block, and the
short-term loudness (3 s windows) of the final master.

    PYTHONPATH=build/bindings/python:build/bindings/python/.libs \\
        /usr/bin/python3 examples/python/demo_song.py [--out DIR] [--seconds S] [--tail S]
"""
import argparse
import os

import numpy as np

import mixstage

FS = 48000
BPM = 120.0
BEAT = int(FS * 60 / BPM)


def synth(seconds):
    """The parts, as float32 arrays (frames,) or (frames, 2)."""
    n = int(FS * seconds)
    t = np.arange(n) / FS
    rng = np.random.default_rng(7)
    beat_pos = (np.arange(n) % BEAT) / FS
    kick = 0.9 * np.exp(-beat_pos * 28) * np.sin(
        2 * np.pi * (45 * beat_pos + 2.5 * (1 - np.exp(-beat_pos * 40))))
    # A-minor bass line, one note per beat (A1 A1 C2 G1)
    notes = np.array([55.0, 55.0, 65.41, 49.0])
    f = notes[(np.arange(n) // BEAT) % 4]
    phase = 2 * np.pi * np.cumsum(f) / FS
    bass = 0.45 * np.tanh(1.5 * np.sin(phase))
    chord = [220.0, 261.63, 329.63]
    pad = sum(np.sin(2 * np.pi * fr * t + k) for k, fr in enumerate(chord)) * 0.08
    pad = np.stack([pad, np.roll(pad, 240)], axis=1) + 0.01 * rng.standard_normal((n, 2))
    lead_f = np.array([440.0, 523.25, 659.26, 587.33])[(np.arange(n) // (BEAT // 2)) % 4]
    gate = ((np.arange(n) % (BEAT // 2)) < BEAT // 3).astype(float)
    lead = 0.25 * np.sign(np.sin(2 * np.pi * np.cumsum(lead_f) / FS)) * gate
    return {k: v.astype(np.float32) for k, v in
            dict(kick=kick, bass=bass, pad=pad, lead=lead).items()}


def choice(node, param, name):
    """Index of `name` among an enum parameter's choices."""
    for p in node.params():
        if p.name == param:
            return p.choices.index(name)
    raise KeyError(param)


def build_song(seconds=8.0):
    """The graph and the nodes worth watching."""
    parts = synth(seconds)
    g = mixstage.Graph(sample_rate=FS, max_block=1024, tempo=BPM)
    kick = g.add_strip("Kick", channels=1)
    kick.source = parts["kick"]
    kick.fader_db = -3
    bass = g.add_strip("Bass", channels=1)
    bass.source = parts["bass"]
    bass.fader_db = -4
    duck = bass.insert("compressor", role="strip")
    duck["threshold"] = -32
    duck["ratio"] = 8
    duck["attack"] = 1
    duck["release"] = 90
    duck.sidechain(kick, tap="pre")

    pad = g.add_strip("Pad", channels=2)
    pad.source = parts["pad"]
    pad.fader_db = -6
    space = pad.insert("reverb", role="design")  # the reverb is part of the pad's sound
    space["decay"] = 3.5
    space["mix"] = 40

    lead = g.add_strip("Lead", channels=1)
    lead.source = parts["lead"]
    lead.fader_db = -9
    lead.pan = 0.2
    plate = g.add_return("Plate")
    verb = plate.insert("reverb", role="mix-fx")
    verb["decay"] = 1.6
    echo = g.add_return("Echo")
    delay = echo.insert("delay", role="mix-fx")
    delay["sync"] = 1  # tempo-synced: follows g.tempo
    delay["feedback"] = 30
    lead.add_send(plate, -8, tap="post", role="mix-fx")
    lead.add_send(echo, -12, tap="post", role="mix-fx")

    mix = g.mix_bus
    mix.insert("console_color", role="bus-color")["drive"] = 3
    buscomp = mix.insert("bus_compressor", role="bus-dynamics")
    buscomp["threshold"] = -18
    limiter = mix.insert("limiter", role="placeholder-limiter")
    limiter["ceiling"] = -1
    return g, dict(duck=duck, buscomp=buscomp, limiter=limiter, kick=kick, bass=bass)


def gain_reduction_trace(g, nodes, frames, block=256):
    """Processes the graph block by block and reads each node's gain
    reduction after every block (what a meter would show)."""
    g.prepare()
    out = np.zeros((block, g.mix_channels), dtype=np.float32)
    trace = {k: [] for k in nodes}
    for _ in range(frames // block):
        g.process_into(out)
        for k, n in nodes.items():
            trace[k].append(n.gain_reduction_db)
    return {k: np.array(v) for k, v in trace.items()}, block


def render_profiles(g, threads=2, tail=None):
    """{profile name: Bounce} for the three built-in profiles."""
    return {p.name: g.bounce(p, threads=threads, tail=tail) for p in mixstage.profiles()}


def short_term_loudness(x, hop=0.5, window=3.0):
    """(times, LUFS): EBU R128 short-term loudness (3 s windows) every `hop`
    seconds: mixstage.measure() of a buffer exactly one window long reads
    the short-term loudness once, over that full window."""
    n, step = int(window * FS), int(hop * FS)
    times, lufs = [], []
    for start in range(0, max(len(x) - n, 0) + 1, step):
        st = mixstage.measure(x[start:start + n], FS)
        times.append((start + n) / FS)
        lufs.append(st["short_term_max_lufs"])
    return np.array(times), np.array(lufs)


def plot_stem_rules(bounces, trace, block, seconds, png=None):
    """The figure of the stem rules; returns the matplotlib figure."""
    import matplotlib.pyplot as plt
    prod = bounces["production"]["mix"]
    stems = bounces["mix-stems"]
    final = bounces["final"]["mix"]
    end = int(FS * seconds)
    fig, ax = plt.subplots(5, 1, figsize=(10, 14))
    t = np.arange(len(prod)) / FS
    ax[0].plot(t, prod[:, 0], lw=0.4, color="k", label="production mix (L)")
    for name in stems:
        if stems.kind(name) in ("stem", "fx-return"):
            ax[0].plot(t, stems[name][:, 0], lw=0.4, alpha=0.7,
                       label="%s %s" % (stems.kind(name), name))
    ax[0].set_title("Production mix and the mix-stems outputs (left channel)")
    ax[0].legend(loc="upper right", fontsize=7, ncol=3)
    w = slice(0, 2 * BEAT)
    tw = np.arange(2 * BEAT) / FS
    ax[1].plot(tw, stems["reference"][w, 0], lw=0.5, label="production mix")
    ax[1].plot(tw, stems["Bass"][w, 0], lw=0.6, label="bass stem")
    ax[1].plot(tw, stems["Kick"][w, 0], lw=0.4, alpha=0.5, label="kick stem (the key)")
    ax[1].set_title("The bass ducks under the kick in the mix and in its own stem")
    ax[1].legend(loc="upper right", fontsize=7)

    def env_db(x, win=480):
        e = np.sqrt(np.convolve(np.square(x[:, 0].astype(np.float64)), np.ones(win) / win, "same"))
        return 20 * np.log10(np.maximum(e, 1e-7))
    for name, style in (("Pad", "-"), ("Lead", "-"), ("Plate", "--"), ("Echo", "--")):
        ax[2].plot(t, env_db(stems[name]), style, lw=0.8, label=name)
    ax[2].axvline(end / FS, color="k", lw=0.5)
    ax[2].set_ylim(-140, 0)
    ax[2].set_title("After the last note (line): the pad stem keeps its design reverb tail;\n"
                    "the lead stem stops, its mix-fx tails are in the FX stems", fontsize=10)
    ax[2].set_ylabel("dBFS (10 ms RMS)")
    ax[2].legend(loc="upper right", fontsize=7)
    tg = (np.arange(len(trace["duck"])) + 1) * block / FS
    for k, v in trace.items():
        ax[3].plot(tg, v, label=k)
    ax[3].set_title("Gain reduction (dB) in production, read after each %d-frame block" % block)
    ax[3].legend(loc="upper right", fontsize=7)
    ts, lufs = short_term_loudness(final)
    ax[4].plot(ts, lufs, marker=".", label="final master")
    ts2, lufs2 = short_term_loudness(prod)
    ax[4].plot(ts2, lufs2, marker=".", alpha=0.6, label="production mix")
    ax[4].set_title("Short-term loudness (3 s windows, every 0.5 s)")
    ax[4].set_ylabel("LUFS")
    ax[4].set_xlabel("seconds")
    ax[4].legend(loc="lower right", fontsize=7)
    fig.tight_layout()
    if png:
        fig.savefig(png, dpi=80)
    return fig


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default="out")
    ap.add_argument("--seconds", type=float, default=8.0)
    ap.add_argument("--tail", type=float, default=None,
                    help="cap on the effects' tails in seconds (default: until they decay)")
    args = ap.parse_args()
    tail = None if args.tail is None else int(args.tail * FS)
    os.makedirs(args.out, exist_ok=True)

    g, nodes = build_song(args.seconds)
    mixdown = g.render(threads=2, tail=tail)
    print(g)
    for s in g.strips:
        print("  ", s, [n.role for n in s.nodes])
    print("rendered %d frames (%.2f s with tail), latency %d, peak %.2f dBFS" % (
        len(mixdown), len(mixdown) / FS, g.latency, 20 * np.log10(np.max(np.abs(mixdown)))))

    # The bass alone, with and without its sidechain, shows the ducking.
    # Solo silences the other strips' outputs, not the kick's key feed.
    nodes["bass"].solo = True
    ducked = g.render(tail=0)[:, 0]
    nodes["duck"].bypass = True
    dry = g.render(tail=0)[:, 0]
    nodes["duck"].bypass = False
    nodes["bass"].solo = False
    trace, block = gain_reduction_trace(
        g, {k: nodes[k] for k in ("duck", "buscomp", "limiter")}, int(FS * args.seconds))

    bounces = render_profiles(g, threads=2, tail=tail)
    for name, b in bounces.items():
        print(b)
    print("null check (stems + FX stems vs production): %.1f dBFS"
          % g.null_check(threads=2, tail=tail))
    for name in ("production", "final"):
        st = mixstage.measure(bounces[name]["mix"], FS)
        print("%-10s %.1f LUFS integrated, %.1f dBTP true peak" % (
            name, st["integrated_lufs"], st["true_peak_dbtp"]))

    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(3, 1, figsize=(10, 8), sharex=False)
    t = np.arange(len(mixdown)) / FS
    ax[0].plot(t, mixdown[:, 0], lw=0.4, label="L")
    ax[0].plot(t, mixdown[:, 1], lw=0.4, alpha=0.7, label="R")
    ax[0].set_title("Production mix")
    ax[0].legend(loc="upper right")
    w = slice(0, 2 * BEAT)
    tw = np.arange(2 * BEAT) / FS
    ax[1].plot(tw, dry[w], lw=0.6, label="bass, compressor bypassed")
    ax[1].plot(tw, ducked[w], lw=0.6, label="bass ducked by the kick")
    ax[1].set_title("Sidechain ducking (two beats, bass solo)")
    ax[1].legend(loc="upper right")
    tg = (np.arange(len(trace["duck"])) + 1) * block / FS
    for k, v in trace.items():
        ax[2].plot(tg, v, label=k)
    ax[2].set_title("Gain reduction (dB), read after each %d-frame block" % block)
    ax[2].set_xlabel("seconds")
    ax[2].legend(loc="upper right")
    fig.tight_layout()
    png = os.path.join(args.out, "demo_song.png")
    fig.savefig(png, dpi=80)
    print("wrote", png)
    png = os.path.join(args.out, "demo_song_stem_rules.png")
    plot_stem_rules(bounces, trace, block, args.seconds, png)
    print("wrote", png)
    # The deliveries themselves: files, atomically written, with manifests.
    for name in ("mix-stems", "final"):
        man = g.deliver(name, os.path.join(args.out, name), threads=2, tail=tail)
        print("delivered %s: %s" % (name, ", ".join(f["path"] for f in man["files"])))


if __name__ == "__main__":
    main()
