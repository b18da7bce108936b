#!/usr/bin/env python3
"""Every analysis figure libmixstage gives, on one programme, from Python.

The same guided tour as examples/analysis_tour.c, through the bindings:
figures come back as dicts, per-channel and per-band figures as numpy
arrays, audio as float32 arrays shaped (frames, channels).

  1. meters inside the graph while it plays, and the gain-reduction history
     of every dynamics node;
  2. the meters of the rendered mix and of a strip (its stem);
  3. gain staging;
  4. mix assessment (mono compatibility, phase trouble, masking) on the
     stems, with a planted second kick microphone;
  5. the final master at each preset and a custom target, with the
     streaming-normalisation report;
  6. album mode;
  7. reference A/B of the master against the production mix;
  8. translation previews.

    python3 analysis_tour.py [--out DIR] [--seconds S]

The song is rendered over an excerpt (its first S seconds, default 4, plus
up to 1 s of tail; 0 renders it all): one render costs about a quarter of a
second of CPU per second of audio and the master search renders several
times per target.  Masters are searched in a mastering session made of the
premaster and the song's own mastering chain, as a mastering engineer works.
Files are written under DIR (default analysis-out).
"""
import argparse
import math
import os

import numpy as np

import mixstage as m


def num(v, decimals=1):
    """A figure as text: -inf for silence, n/a where it does not apply."""
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "n/a"
    if math.isinf(v):
        return "+inf" if v > 0 else "-inf"
    return f"{v:.{decimals}f}"


def snum(v, decimals=1):
    return num(v, decimals) if not math.isfinite(v) else f"{v:+.{decimals}f}"


def lufs(v):
    # Below the BS.1770 absolute gate a loudness meter reads silence.
    return "<-70" if v < -70 else num(v, 1)


def heading(title):
    print(f"\n== {title} ==")


def per_channel(values, decimals):
    return " ".join(num(float(v), decimals) for v in values)


def print_meter(r, indent="  "):
    print(f"{indent}loudness     integrated {lufs(r['integrated_lufs'])} LUFS, "
          f"range (LRA) {num(r['loudness_range_lu'])} LU")
    print(f"{indent}             momentary max {lufs(r['momentary_max_lufs'])} LUFS, "
          f"short-term max {lufs(r['short_term_max_lufs'])} LUFS; at the end "
          f"{lufs(r['momentary_lufs'])} / {lufs(r['short_term_lufs'])} LUFS")
    print(f"{indent}peaks        sample peak {per_channel(r['peak_dbfs_per_channel'], 2)} dBFS, "
          f"true peak {per_channel(r['true_peak_dbtp_per_channel'], 2)} dBTP")
    print(f"{indent}level        RMS {per_channel(r['rms_dbfs_per_channel'], 2)} dBFS "
          f"(all channels {num(r['rms_dbfs'], 2)}), crest factor "
          f"{per_channel(r['crest_db_per_channel'], 1)} dB")
    if r["channels"] >= 2:
        print(f"{indent}stereo       correlation {num(r['correlation'], 3)} (+1 mono, 0 wide, "
              f"-1 out of phase), balance {snum(r['balance_db'], 2)} dB (+ leans left)")
        print(f"{indent}             mid {num(r['mid_rms_dbfs'])} dBFS, side "
              f"{num(r['side_rms_dbfs'])} dBFS: mid/side {num(r['mid_side_ratio_db'])} dB")
    dc = " ".join(f"{v:.1e}" for v in r["dc_offset_per_channel"])
    print(f"{indent}health       DC offset {dc}, clipped samples {r['clipped_total']}")


def premaster_profile():
    """The production mix with its placeholder limiter bypassed: the mix as
    it goes to mastering (the final profile does the same)."""
    p = m.Profile("premaster", "production")
    p.set_action("placeholder-limiter", "bypass")
    return p


def session(rate, tracks):
    """A session of stereo strips playing the given {name: audio}, at 0 dB."""
    g = m.Graph(rate)
    for name, audio in tracks.items():
        g.add_strip(name, 2).source = audio
    return g


def mastering_session(song, premaster):
    """The premaster on one strip, into copies of the song's mix-bus stages
    of role mastering (type, bypass and every parameter)."""
    s = session(song.sample_rate, {"Premaster": premaster})
    for node in song.mix_bus.nodes:
        if node.role != "mastering":
            continue
        copy = s.mix_bus.insert(node.type, "mastering")
        for name, value in node.values().items():
            copy[name] = value
        copy.bypass = node.bypass
    return s


def chart(gr, rate, hop):
    """The first 2 s of a gain-reduction history, one column per 100 ms."""
    per = int(0.1 * rate / hop)
    out = ""
    for c in range(20):
        seg = gr[c * per:(c + 1) * per]
        v = float(seg.max()) if len(seg) else 0.0
        out += " " if v < 0.05 else "." if v < 1 else "#" if v >= 10 else str(int(v))
    return out


# ---- 1 ---------------------------------------------------------------------
def tour_in_graph(g, frames, tail):
    heading("1. Meters inside the graph, while it plays")
    print("The premaster (production, placeholder limiter bypassed) is rendered with\n"
          "meters on the mix bus and on the Hats strip, fed by the engine as it\n"
          "processes, and a gain-reduction history on every dynamics node.")
    rate = g.sample_rate
    block = max(g.max_block, 256)
    hats = g.strip("Hats")
    meters = {"mix": m.Meter(g.mix_bus.channels, rate, max_block=block),
              "pre": m.Meter(hats.channels, rate, max_block=block),
              "post": m.Meter(hats.output.channels, rate, max_block=block)}
    g.mix_bus.attach_meter(meters["mix"], "post")
    hats.attach_meter(meters["pre"], "pre")
    hats.attach_meter(meters["post"], "post")
    seconds = g.render_frames(frames=frames, tail=tail) / rate + 1.0
    tracked = []
    units = [(s.name, s) for s in g.strips] + [(f"bus {b.name}", b) for b in g.buses]
    for unit, obj in units:
        for i, node in enumerate(obj.nodes):
            try:
                node.enable_gr_history(seconds)
            except m.UnsupportedError:
                continue  # not a dynamics node
            tracked.append((f"{unit} insert {i + 1}: {node.type}", node))

    g.profile = premaster_profile()
    pre = g.render(frames=frames, tail=tail)
    g.profile = None  # back to production

    r = meters["mix"].report()
    print("\nMix bus, after its fader:")
    print_meter(r)
    print(f"in-graph mix meter: {r['integrated_lufs']:.2f} LUFS, "
          f"true peak {r['true_peak_max_dbtp']:.2f} dBTP")
    print(f"\nHats strip, fader {snum(hats.fader_db)} dB, pan {snum(hats.pan, 2)}:")
    for tap in ("pre", "post"):
        t = meters[tap].report()
        print(f"  {tap + '-fader':11s} {lufs(t['integrated_lufs'])} LUFS, true peak "
              f"{num(t['true_peak_max_dbtp'], 2)} dBTP, RMS {num(t['rms_total_dbfs'], 2)} dBFS, "
              f"balance {snum(t['balance_db'], 2)} dB")
    print("\nGain reduction (first 2 s, one column per 100 ms; digits dB, '#' 10 dB+):")
    for where, node in tracked:
        gr, first, hop = node.gr_history()
        if len(gr) == 0:
            print(f"  {where:40s} no history")
            continue
        print(f"  {where:40s} [{chart(gr, rate, hop)}] max {gr.max():4.1f} dB, "
              f"mean {gr.mean():4.1f} dB, >= 0.5 dB {100 * np.mean(gr >= 0.5):3.0f}% of the time")
        node.enable_gr_history(0)
    # The strips and bus keep their meters alive while attached: detach.
    g.mix_bus.detach_meter("post")
    hats.detach_meter("pre")
    hats.detach_meter("post")
    return pre


# ---- 2 ---------------------------------------------------------------------
def tour_meters(g, pre, frames, tail):
    heading("2. Meters of the rendered mix and of a strip")
    rate = g.sample_rate
    r = m.meter(pre, rate)
    print(f"offline premaster meter: {r['integrated_lufs']:.2f} LUFS, "
          f"true peak {r['true_peak_max_dbtp']:.2f} dBTP")
    stems = g.bounce("mix-stems", frames=frames, tail=tail)
    r = m.meter(stems["reference"], rate)
    print(f"\nThe production mix (placeholder limiter on), {r['seconds']:.2f} s:")
    print_meter(r)
    st = r["short_term_series"][9::10]
    print("  short-term loudness (LUFS) every second: " + " ".join(lufs(v) for v in st))
    print("\nThe Bass stem (its inserts, fader and ducking):")
    print_meter(m.meter(stems["Bass"], rate))
    print("\nEvery output of the mix-stems bounce:")
    print(f"  {'output':10s} {'kind':9s} {'LUFS':>7s} {'dBTP':>7s} {'RMS':>7s} {'crest':>6s} "
          f"{'corr':>6s} {'clips':>6s}")
    for name, audio in stems.items():
        x = m.meter(audio, rate, series=False)
        print(f"  {name:10s} {stems.kind(name):9s} {lufs(x['integrated_lufs']):>7s} "
              f"{num(x['true_peak_max_dbtp'], 2):>7s} {num(x['rms_total_dbfs']):>7s} "
              f"{num(x['crest_total_db']):>6s} {num(x['correlation'], 2):>6s} "
              f"{x['clipped_total']:6d}")
    return stems


# ---- 3 ---------------------------------------------------------------------
def tour_gain_staging(g):
    heading("3. Gain staging")
    print("Each source measured on its own, given the clip gain that puts it at\n"
          "-18 dBFS RMS with peaks at or below -6 dBFS (applied here).")
    rep = g.gain_stage(apply=True)
    print(f"  {'strip':6s} {'RMS before':>10s} {'peak':>6s} {'clip gain':>10s} "
          f"{'RMS after':>10s} {'peak after':>10s}  notes")
    for s in rep["strips"]:
        notes = [label for key, label in (("peak_limited", "the peak sets the gain"),
                                          ("clips", "CLIPS"), ("too_quiet", "far too quiet"),
                                          ("clamped", "gain clamped")) if s[key]]
        print(f"  {s['name']:6s} {num(s['rms_before_dbfs']):>10s} {num(s['peak_before_dbfs']):>6s} "
              f"{snum(s['clip_gain_db']):>10s} {num(s['rms_after_dbfs']):>10s} "
              f"{num(s['peak_after_dbfs']):>10s}  {', '.join(notes)}")
    print(f"  {rep['clipping']} strip(s) clip, {rep['too_quiet']} far too quiet")
    print("  applied: " + ", ".join(f"{s.name} {snum(s.clip_gain_db)} dB" for s in g.strips))
    rate = 48000
    take = (10 ** (-3 / 20) * np.sin(2 * np.pi * 220 * np.arange(rate) / rate)).astype(np.float32)
    one = m.gain_stage(take)
    print(f"  a 220 Hz take peaking at -3 dBFS: clip gain {snum(one['clip_gain_db'])} dB -> "
          f"RMS {num(one['rms_after_dbfs'])} dBFS, peak {num(one['peak_after_dbfs'])} dBFS")


# ---- 4 ---------------------------------------------------------------------
def tour_assessment(g, stems):
    heading("4. Mix assessment")
    mono = m.mono_compat(stems["reference"])
    print(f"Mono compatibility of the production mix: correlation {num(mono['correlation'], 3)}, "
          f"lost in mono {num(mono['mono_loss_db'], 2)} dB, width {num(mono['side_to_mid_db'])} dB")
    # The stems as a mix engineer opens them, plus a second kick microphone:
    # the kick 37 samples late (about 26 cm further away), inverted, -6 dB.
    tracks = {name: stems[name] for name in stems.keys() if stems.kind(name) == "stem"}
    kick = stems["Kick"]
    room = np.zeros_like(kick)
    room[37:] = -0.5 * kick[:-37]
    tracks["Kick room"] = room
    s = session(g.sample_rate, tracks)
    a = s.assess()
    print(f"The stems with the planted kick room mic: the sum loses "
          f"{num(a['mono']['mono_loss_db'], 2)} dB in mono")
    print("Phase trouble between strips:")
    for p in a["phase"]:
        print(f"  phase: {p['a_name']} / {p['b_name']}: offset {p['offset_frames']} samples, "
              f"polarity {'flipped' if p['polarity_flip'] else 'same'}, correlation "
              f"{num(p['correlation'], 3)} (as they are {num(p['zero_lag_correlation'], 3)})")
    if not a["phase"]:
        print("  none")
    print("Masking, the pairs that compete most (1/3-octave band of the overlap):")
    shown = 0
    for p in a["masking"]:
        if "Kick room" in (p["a_name"], p["b_name"]) or p["band"] < 0:
            continue  # the planted mic masks the kick by construction
        shown += 1
        print(f"  masking {shown}. {p['a_name']} / {p['b_name']} {num(p['score_db'])} dB "
              f"around {p['band_hz']:.0f} Hz")
        if shown == 5:
            break


# ---- 5 ---------------------------------------------------------------------
def streaming_line(services):
    return ", ".join(f"{s['service']} {snum(s['gain_db'])} dB" for s in services)


def tour_masters(g, prod, pre, outdir):
    heading("5. The final master")
    rate = g.sample_rate
    st = m.measure(prod, rate)
    print(f"The production mix reads {lufs(st['integrated_lufs'])} LUFS, "
          f"{num(st['true_peak_dbtp'], 2)} dBTP; playback gain: "
          f"{streaming_line(m.streaming_report(st['integrated_lufs'], st['true_peak_dbtp']))}")
    print("Masters searched in a mastering session (premaster into the song's\n"
          "mastering chain) until within +-0.3 LU of the target, true-peak safe:")
    s = mastering_session(g, pre)
    d = os.path.join(outdir, "masters")
    os.makedirs(d, exist_ok=True)
    targets = [(p, {"preset": p}) for p in m.master_presets()]
    targets.append(("custom", {"target_lufs": -11.0, "ceiling_dbtp": -0.5}))
    keep = None
    for name, kw in targets:
        try:
            r = s.master(audio=True, **kw)
        except m.StateError as e:  # not converged: .report is the best attempt
            r = e.report
            print(f"  (not converged) {e}")
        print(f"  master {name}: target {r['target_lufs']:.1f} LUFS {r['ceiling_dbtp']:.1f} dBTP"
              f" -> {r['integrated_lufs']:.2f} LUFS {r['true_peak_dbtp']:.2f} dBTP, "
              f"LRA {num(r['loudness_range_lu'])} LU, {r['iteration_count']} renders, "
              f"limiter gain {snum(r['input_gain_db'], 2)} dB")
        print(f"      playback gain: {streaming_line(r['streaming'])}")
        m.write_audio(os.path.join(d, name + ".wav"), r["audio"], rate)
        if name == "streaming":
            keep = r["audio"]
    print(f"  files: {d}/<preset>.wav")
    return keep


# ---- 6 ---------------------------------------------------------------------
def tour_album(g, pre, stems, outdir):
    heading("6. Album mode")
    drums = {s.name for s in g.strips if s.output.name == "Drums"}
    breakdown = sum(stems[n] for n in stems.keys()
                    if stems.kind(n) in ("stem", "fx-return") and n not in drums)
    songs = [mastering_session(g, pre), mastering_session(g, breakdown.astype(np.float32))]
    before = []
    for s in songs:
        s.profile = "final"
        before.append(m.measure(s.render(), g.sample_rate)["integrated_lufs"])
    r = m.album_master(songs, preset="streaming")
    print(f"  album gain {snum(r['album_gain_db'], 2)} dB; together "
          f"{num(r['combined_before_lufs'], 2)} -> {num(r['combined_lufs'], 2)} LUFS")
    for name, b, song in zip(("full song", "breakdown"), before, r["songs"]):
        print(f"  album {name}: {b:.2f} LUFS -> {song['integrated_lufs']:.2f} LUFS, "
              f"true peak {song['true_peak_dbtp']:.2f} dBTP")
    after = [x["integrated_lufs"] for x in r["songs"]]
    print(f"  album difference: {before[0] - before[1]:.2f} LU before, "
          f"{after[0] - after[1]:.2f} LU after")
    d = os.path.join(outdir, "album")
    os.makedirs(d, exist_ok=True)
    for i, s in enumerate(songs):
        m.write_audio(os.path.join(d, f"{i + 1}.wav"), s.render(), g.sample_rate)


# ---- 7 ---------------------------------------------------------------------
def tour_ab(rate, prod, master, outdir):
    heading("7. Reference A/B: the streaming master (B) against the production mix (A)")
    n = min(len(prod), len(master))
    a, b = prod[:n], master[:n]
    r = m.ab_compare(a, b, rate)
    print(f"  ab match gain {r['match_gain_db']:+.2f} dB (B needs it to sound as loud as A)")
    rows = (("integrated (LUFS)", "a_lufs", "b_lufs", "loudness_diff_lu"),
            ("loudness range (LU)", "a_lra_lu", "b_lra_lu", "lra_diff_lu"),
            ("crest factor (dB)", "a_crest_db", "b_crest_db", "crest_diff_db"),
            ("width, side/mid (dB)", "a_width_db", "b_width_db", "width_diff_db"),
            ("correlation", "a_correlation", "b_correlation", "correlation_diff"))
    for label, ka, kb, kd in rows:
        print(f"  {label:22s} A {num(r[ka], 2):>8s}  B {num(r[kb], 2):>8s}  "
              f"B-A {snum(r[kd], 2):>7s}")
    print("  per octave band: Hz, A dBFS, B dBFS, B - A, B - A loudness-matched")
    for hz, x, y, dd, mm in zip(r["band_hz"], r["a_band_dbfs"], r["b_band_dbfs"],
                                r["band_diff_db"], r["band_diff_matched_db"]):
        print(f"  {hz:8.1f} {num(x):>7s} {num(y):>7s} {snum(dd, 2):>7s} {snum(mm, 2):>7s}")
    d = os.path.join(outdir, "ab")
    os.makedirs(d, exist_ok=True)
    w = m.ab_write_pair(a, b, rate, d)
    print(f"  wrote {w['a_path']} ({snum(w['gain_a_db'], 2)} dB) and {w['b_path']} "
          f"({snum(w['gain_b_db'], 2)} dB)")


# ---- 8 ---------------------------------------------------------------------
def tour_translation(rate, master, outdir):
    heading("8. Translation: the streaming master through other playback systems")
    ref = m.measure(master, rate)["integrated_lufs"]
    ref_bands = m.band_levels(master, rate, third_octave=False)
    for name, description in m.playback_systems():
        p = m.translate(master, rate, name)
        bands = m.band_levels(p, rate, third_octave=False) - ref_bands
        resp = [m.response_db(name, f, rate) for f in (60.0, 1000.0, 10000.0)]
        print(f"  translate {name}: response {' '.join(snum(v) for v in resp)} dB at "
              f"60 Hz/1 kHz/10 kHz; {snum(m.measure(p, rate)['integrated_lufs'] - ref)} LU, "
              f"63 Hz {snum(bands[1])} dB, 8 kHz {snum(bands[8])} dB, "
              f"corr {num(m.mono_compat(p)['correlation'], 2)}")
        print(f"      {description}")
    d = os.path.join(outdir, "translation")
    os.makedirs(d, exist_ok=True)
    paths = m.translate_write(master, rate, d, "master")
    print(f"  files: {', '.join(os.path.basename(p) for p in paths)}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default="analysis-out", help="output directory")
    ap.add_argument("--seconds", type=float, default=4.0,
                    help="excerpt length in seconds (0: the whole song)")
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    g = m.demo_song()
    rate = g.sample_rate
    frames = int(args.seconds * rate)
    tail = int(rate) if args.seconds > 0 else None
    print(f"libmixstage analysis tour (Python): the demo song, "
          f"{m.demo_song_seconds():.1f} s at {rate:.0f} Hz, {g.strip_count} strips")
    if args.seconds > 0:
        print(f"Rendered over its first {args.seconds:.1f} s plus up to 1 s of tail.")
    pre = tour_in_graph(g, frames, tail)
    stems = tour_meters(g, pre, frames, tail)
    prod = stems["reference"]
    tour_gain_staging(g)
    tour_assessment(g, stems)
    master = tour_masters(g, prod, pre, args.out)
    tour_album(g, pre, stems, args.out)
    tour_ab(rate, prod, master, args.out)
    tour_translation(rate, master, args.out)
    print(f"\nDone: files under {args.out}/")


if __name__ == "__main__":
    main()
