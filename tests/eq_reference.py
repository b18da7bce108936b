#!/usr/bin/env python3
"""Independent reference for the "eq" node: compares the magnitude response
that tests/eq_dump measures from the node's impulse response with scipy.

  * Butterworth high/low-pass (6/12/18/24 dB/oct = orders 1..4):
    scipy.signal.butter(order, fc, btype, fs=fs, output='sos') and
    scipy.signal.sosfreqz -- scipy's own pole placement and pre-warped
    bilinear transform, sharing no code or formula text with lib/dsp/biquad.c.
  * Shelves, bells, notches and resonant 12 dB/oct passes: coefficients
    computed here from the RBJ Audio EQ Cookbook as printed (a0 not
    normalised), evaluated with scipy.signal.freqz.

Tolerance 0.05 dB wherever the reference is above -90 dB.  Justification:
the node computes in double, so its own error is ~1e-12 dB; what the
measurement adds is the float rounding of each impulse-response sample
(relative 2^-24), whose DFT is a noise floor near 2^-24 * ||h||_2 ~ -140 dB:
50 dB below the -90 dB limit, i.e. < 0.03 dB there and ~1e-4 dB at ordinary
levels.  The impulse response is 32768 frames (65536 at 96 kHz), long after
every case has decayed below -140 dB, so truncation adds nothing visible.
Below -90 dB (notch floors, far stopbands) the measurement must read at
most -80 dB.

Run by `make check` with top_builddir set; exit 0 pass, 1 fail, 77 skip
(numpy/scipy missing).
"""
import math
import os
import subprocess
import sys

try:
    import numpy as np
    from scipy import signal
except ImportError as e:  # pragma: no cover
    print("SKIP: numpy/scipy not available (%s)" % e)
    sys.exit(77)

TOL_DB = 0.05
FLOOR_DB = -90.0
DEEP_MAX_DB = -80.0
SQRT1_2 = 1.0 / math.sqrt(2.0)


def cookbook(kind, f0, gain_db, q, fs):
    """RBJ Audio EQ Cookbook coefficients (b, a), a0 not normalised."""
    f0 = min(f0, 0.49 * fs)  # the node's documented design clamp
    w0 = 2.0 * math.pi * f0 / fs
    cw, sw = math.cos(w0), math.sin(w0)
    alpha = sw / (2.0 * q)
    A = 10.0 ** (gain_db / 40.0)
    sa = 2.0 * math.sqrt(A) * alpha
    if kind == "lowpass":
        b = [(1 - cw) / 2, 1 - cw, (1 - cw) / 2]
        a = [1 + alpha, -2 * cw, 1 - alpha]
    elif kind == "highpass":
        b = [(1 + cw) / 2, -(1 + cw), (1 + cw) / 2]
        a = [1 + alpha, -2 * cw, 1 - alpha]
    elif kind == "bell":
        b = [1 + alpha * A, -2 * cw, 1 - alpha * A]
        a = [1 + alpha / A, -2 * cw, 1 - alpha / A]
    elif kind == "notch":
        b = [1, -2 * cw, 1]
        a = [1 + alpha, -2 * cw, 1 - alpha]
    elif kind == "lowshelf":
        b = [A * ((A + 1) - (A - 1) * cw + sa), 2 * A * ((A - 1) - (A + 1) * cw),
             A * ((A + 1) - (A - 1) * cw - sa)]
        a = [(A + 1) + (A - 1) * cw + sa, -2 * ((A - 1) + (A + 1) * cw),
             (A + 1) + (A - 1) * cw - sa]
    elif kind == "highshelf":
        b = [A * ((A + 1) + (A - 1) * cw + sa), -2 * A * ((A - 1) + (A + 1) * cw),
             A * ((A + 1) + (A - 1) * cw - sa)]
        a = [(A + 1) - (A - 1) * cw + sa, 2 * ((A - 1) - (A + 1) * cw),
             (A + 1) - (A - 1) * cw - sa]
    else:
        raise ValueError(kind)
    return np.array(b), np.array(a)


def reference_db(fs, kind, f0, gain_db, q, slope, freqs):
    if kind in ("highpass", "lowpass") and not (slope == 12 and abs(q - SQRT1_2) > 1e-9):
        order = slope // 6
        sos = signal.butter(order, min(f0, 0.49 * fs), btype="highpass" if kind == "highpass"
                            else "lowpass", fs=fs, output="sos")
        _, h = signal.sosfreqz(sos, worN=freqs, fs=fs)
        how = "scipy butter(%d)" % order
    else:
        b, a = cookbook(kind, f0, gain_db, q, fs)
        _, h = signal.freqz(b, a, worN=freqs, fs=fs)
        how = "cookbook+freqz"
    return 20.0 * np.log10(np.maximum(np.abs(h), 1e-30)), how


def parse(text):
    cases, cur = [], None
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        tok = line.split()
        if tok[0] == "case":
            cur = {"fs": float(tok[1]), "type": tok[2], "freq": float(tok[3]),
                   "gain": float(tok[4]), "q": float(tok[5]), "slope": int(tok[6]), "pts": []}
        elif tok[0] == "end":
            cases.append(cur)
            cur = None
        else:
            cur["pts"].append((float(tok[0]), float(tok[1])))
    return cases


def main():
    builddir = os.environ.get("top_builddir", ".")
    exe = os.path.join(builddir, "tests", "eq_dump")
    try:
        out = subprocess.run([exe], check=True, stdout=subprocess.PIPE,
                             universal_newlines=True).stdout
    except (OSError, subprocess.CalledProcessError) as e:
        print("FAIL: cannot run %s: %s" % (exe, e))
        return 1
    cases = parse(out)
    if not cases:
        print("FAIL: eq_dump printed no cases")
        return 1
    failed = 0
    overall = 0.0
    for c in cases:
        freqs = np.array([p[0] for p in c["pts"]])
        got = np.array([p[1] for p in c["pts"]])
        ref, how = reference_db(c["fs"], c["type"], c["freq"], c["gain"], c["q"], c["slope"], freqs)
        live = ref > FLOOR_DB
        err = np.abs(got - ref)[live]
        worst = float(err.max()) if err.size else 0.0
        deep_bad = np.any(got[~live] > DEEP_MAX_DB)
        ok = worst < TOL_DB and not deep_bad and np.all(np.isfinite(got))
        overall = max(overall, worst)
        desc = "%-9s f=%-7g g=%-5g q=%-6.4g %2d dB/oct fs=%-7g" % (
            c["type"], c["freq"], c["gain"], c["q"], c["slope"], c["fs"])
        if ok:
            print("PASS %s vs %-16s max |err| %.5f dB over %d points" % (desc, how, worst,
                                                                         int(live.sum())))
        else:
            failed += 1
            i = int(np.argmax(np.where(live, np.abs(got - ref), -1)))
            print("FAIL %s vs %-16s max |err| %.5f dB (at %.1f Hz: node %.4f, ref %.4f)%s" % (
                desc, how, worst, freqs[i], got[i], ref[i],
                "; stopband above %g dB" % DEEP_MAX_DB if deep_bad else ""))
    print("SUMMARY: %d of %d cases pass (tolerance %.2f dB above %g dB); worst error %.5f dB" % (
        len(cases) - failed, len(cases), TOL_DB, FLOOR_DB, overall))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
