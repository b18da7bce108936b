"""The README's Python and Lua sections run as written (in a fresh folder)."""
import os
import re
import shutil
import subprocess
import sys

import pytest


def blocks(srcdir, lang):
    with open(os.path.join(srcdir, "README.md")) as f:
        text = f.read()
    section = text.split("## Python and Lua", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```%s\n(.*?)```" % lang, section, flags=re.S)


def test_readme_python_runs(srcdir, tmp_path):
    code = blocks(srcdir, "python")
    assert code, "no python block in the README's Python section"
    (tmp_path / "readme.py").write_text(code[0])
    r = subprocess.run([sys.executable, "readme.py"], cwd=tmp_path, capture_output=True, text=True,
                       timeout=300, env=dict(os.environ, MPLBACKEND="Agg"))
    assert r.returncode == 0, r.stderr
    # the snippet prints the mix loudness, then the delivered files
    lufs = float(r.stdout.split()[0])
    assert -40 < lufs < 0, r.stdout
    for name in ("Kick.wav", "Pad.wav", "Plate.wav", "reference.wav", "manifest.json"):
        assert (tmp_path / "out" / "stems" / name).exists(), name
    assert (tmp_path / "mix.png").stat().st_size > 1000


def test_readme_lua_runs(srcdir, tmp_path):
    if os.environ.get("MIXSTAGE_WITH_LUA", "yes") != "yes" or not shutil.which("lua5.4"):
        pytest.skip("Lua binding not built")
    code = blocks(srcdir, "lua")
    assert code, "no lua block in the README's Python and Lua section"
    (tmp_path / "readme.lua").write_text(code[0])
    r = subprocess.run(["lua5.4", "readme.lua"], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    lufs, tp = r.stdout.split()[0], r.stdout.split()[-1]
    assert -40 < float(lufs) < 0 and -40 < float(tp) < 3, r.stdout
    assert (tmp_path / "out" / "stems" / "Bass.wav").exists()
