"""The type stubs (mixstage.pyi, generated at build time by
bindings/python/stubgen.py and installed beside mixstage.py) cover every
public name of the module and of its classes, and a checker accepts a typed
program written against them (and refuses a wrong one)."""
import ast
import os
import shutil
import subprocess
import sys

import pytest

import mixstage as m

HERE = os.path.dirname(os.path.abspath(__file__))


@pytest.fixture
def stub(builddir):
    path = os.path.join(builddir, "bindings", "python", "mixstage.pyi")
    assert os.path.exists(path), "mixstage.pyi was not generated (make builds it)"
    return path


def stub_tree(path):
    with open(path) as f:
        text = f.read()
    return text, ast.parse(text)


def names_in(body):
    out = set()
    for n in body:
        if isinstance(n, (ast.FunctionDef, ast.ClassDef)):
            out.add(n.name)
        elif isinstance(n, ast.AnnAssign) and isinstance(n.target, ast.Name):
            out.add(n.target.id)
        elif isinstance(n, ast.Assign):
            out |= {t.id for t in n.targets if isinstance(t, ast.Name)}
    return out


def test_every_module_name_is_in_the_stub(stub):
    text, tree = stub_tree(stub)
    assert "# untyped" not in text, "stubgen.py could not type: " + ", ".join(
        line.split("(")[0][4:] for line in text.splitlines() if "# untyped" in line)
    have = names_in(tree.body)
    public = [n for n in dir(m) if not n.startswith("_") and not isinstance(getattr(m, n), type(os))]
    assert len(public) > 300  # the module loaded
    missing = sorted(set(public) - have)
    assert not missing, "public names missing from mixstage.pyi: " + ", ".join(missing)


def test_every_class_member_is_in_the_stub(stub):
    _, tree = stub_tree(stub)
    classes = {n.name: n for n in tree.body if isinstance(n, ast.ClassDef)}
    missing = []
    for name in dir(m):
        cls = getattr(m, name)
        if name.startswith("_") or not isinstance(cls, type) or issubclass(cls, BaseException):
            continue
        if name not in classes:
            missing.append(name)
            continue
        have = names_in(classes[name].body)
        for attr in dir(cls):
            if attr.startswith("_") or attr in ("this", "thisown") or hasattr(tuple, attr):
                continue
            if attr not in have:
                missing.append("%s.%s" % (name, attr))
    assert not missing, "missing from mixstage.pyi: " + ", ".join(missing)


def test_the_typed_example_runs():
    r = subprocess.run([sys.executable, os.path.join(HERE, "typed_example.py")],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert "LUFS" in r.stdout


BAD = '''import mixstage as ms
g = ms.Graph(48000)
s = g.add_strip(2)
s.fader_db = "loud"
n: int = g.render()
'''


def test_mypy_accepts_the_example_and_refuses_mistakes(stub, builddir, tmp_path):
    if subprocess.run([sys.executable, "-c", "import mypy"], capture_output=True).returncode != 0:
        pytest.skip("mypy not installed (Debian: apt-get install python3-mypy; scripts/setup.sh does)")
    shutil.copy(stub, tmp_path / "mixstage.pyi")
    shutil.copy(os.path.join(HERE, "typed_example.py"), tmp_path / "good.py")
    (tmp_path / "bad.py").write_text(BAD)
    # outside the build tree (distclean must leave it empty), kept between runs
    import tempfile
    cache = os.path.join(tempfile.gettempdir(), "mixstage-mypy-cache-%d" % os.getuid())
    r = subprocess.run([sys.executable, "-m", "mypy", "--no-error-summary", "--show-error-codes",
                        "--cache-dir", cache, "good.py", "bad.py"],
                       cwd=tmp_path, capture_output=True, text=True, timeout=300,
                       env=dict(os.environ, MYPYPATH=str(tmp_path)))
    out = r.stdout + r.stderr
    errors = [line for line in out.splitlines() if ": error:" in line]
    assert not [e for e in errors if not e.startswith("bad.py")], out
    lines = sorted({int(e.split(":")[1]) for e in errors if e.startswith("bad.py")})
    assert lines == [3, 4, 5], out  # a name as int, a str fader, an array as int
