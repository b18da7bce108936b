#!/usr/bin/env python3
"""Writes mixstage.pyi, the type stubs of the Python module.

    stubgen.py SRCDIR MIXSTAGE_PY > mixstage.pyi

The hand-written part (bindings/python/mixstage.pyi.in: classes and the
Python-level calls) is copied first.  Then every other public name of the
SWIG-generated MIXSTAGE_PY (read as text, not imported) is typed here: the
flat C calls from their prototypes in include/mixstage/*.h (the doxygen
comment before each becomes the docstring), the rest as int constants.  So
the stub follows the headers and the interface at every build; a name this
script cannot type is written with "# untyped", which the stub test refuses.
"""
import ast
import glob
import os
import re
import sys

# C parameter names the interface takes as enumeration names (section 3 of
# mixstage.i) or profiles by name.
ENUM_PARAMS = {"role", "tap", "kind", "curve", "which", "action", "stems", "format", "sample_type"}
HANDLES = {
    "mixstage_graph": "Graph", "mixstage_strip": "Strip", "mixstage_bus": "Bus",
    "mixstage_send": "Send", "mixstage_node": "Node", "mixstage_lane": "Lane",
    "mixstage_profile": "Profile", "mixstage_bounce": "Bounce", "mixstage_manifest": "Manifest",
    "mixstage_graph_config": "GraphConfig", "mixstage_render_config": "RenderConfig",
    "mixstage_write_config": "WriteConfig", "mixstage_deliver_config": "DeliverConfig",
    "mixstage_file_stats": "FileStats", "mixstage_param_info": "ParamInfo",
}
INTS = {"int", "int64_t", "int32_t", "uint64_t", "uint32_t", "long", "long long", "size_t",
        "unsigned", "unsigned int", "bool"}
FLOATS = {"double", "float"}
# Out-parameters the interface turns into results (typemaps of section 2).
OUTPUTS = {("double", "value"): "float", ("int", "curve"): "int", ("int64_t", "frame"): "int",
           ("double", "residual_db"): "float", ("mixstage_param_info", "info"): "Dict[str, Any]"}


def status_functions(interface):
    """Functions whose int result is a status (MSB_STATUS): None in Python."""
    names = set()
    for block in re.findall(r"%apply int MSB_STATUS \{(.*?)\}", interface, flags=re.S):
        names |= set(re.findall(r"\bint\s+(\w+)", re.sub(r"/\*.*?\*/", "", block, flags=re.S)))
    return names


def prototypes(srcdir):
    """{c_name: (return type, [(type, name)], doc)} of every MIXSTAGE_EXPORT."""
    out = {}
    pat = re.compile(r"(/\*\*(?:(?!\*/).)*\*/)?\s*MIXSTAGE_EXPORT\s+([^;{]*?)\b(mixstage_\w+)\s*"
                     r"\(([^)]*)\)\s*;", re.S)
    for h in sorted(glob.glob(os.path.join(srcdir, "include", "mixstage", "*.h"))):
        with open(h) as f:
            text = f.read()
        for doc, ret, name, params in pat.findall(text):
            plist = []
            for p in params.split(","):
                p = " ".join(p.split())
                if not p or p == "void":
                    continue
                m = re.match(r"(.*?)(\w+)$", p)
                plist.append((m.group(1).strip(), m.group(2)) if m else (p, "arg"))
            out[name] = (" ".join(ret.split()), plist, doc)
    return out


def base_type(ctype):
    t = ctype.replace("const", "").replace("struct", "").replace("*", " ").strip()
    return " ".join(t.split()), ctype.count("*")


def py_type(ctype, pname=None, result=False, maybe_null=False):
    t, ptrs = base_type(ctype)
    if pname in ENUM_PARAMS and t == "int" and not ptrs:
        return "Union[str, int]"
    if t == "mixstage_profile" and ptrs == 1 and not result:
        return "ProfileLike"
    if t == "char" and ptrs == 1:
        return "Optional[str]" if maybe_null else "str"
    if t in HANDLES and ptrs == 1:
        return "Optional[%s]" % HANDLES[t] if maybe_null else HANDLES[t]
    if ptrs:
        return None
    if t in INTS:
        return "int"
    if t in FLOATS:
        return "float"
    if t == "void":
        return "None"
    return None


def docstring(doc, cname):
    text = re.sub(r"^/\*\*|\*/$", "", doc.strip()).strip()
    lines = [re.sub(r"^\s*\*?[ \t]*", "", line) for line in text.splitlines()]
    text = "\n    ".join(lines).strip()
    text = re.sub(r"@p (\w+)", r"`\1`", text)
    text = re.sub(r"[ \t]+\n", "\n", text).replace('"""', "'''").replace("\\", "\\\\")
    return (text + "\n\n    " if text else "") + "C: %s()." % cname


def flat_def(name, proto, status):
    ret, params, doc = proto
    cname = "mixstage_" + name
    maybe_null = "NULL" in doc
    args, results = [], []
    for ctype, pname in params:
        t, ptrs = base_type(ctype)
        if pname == "error" and t == "int" and ptrs == 1:
            continue  # raised as an exception
        if (t, pname) in OUTPUTS and ptrs == 1 and "const" not in ctype:
            results.append(OUTPUTS[(t, pname)])
            continue
        pt = py_type(ctype, pname)
        if pt is None:
            return None
        args.append("%s: %s" % (pname if pname not in ("from", "in", "lambda") else pname + "_", pt))
    if name in status or cname in status:
        rt = "None"
    else:
        rt = py_type(ret, result=True, maybe_null=maybe_null)
        if rt is None:
            return None
    if results:
        rt = results[0] if rt == "None" and len(results) == 1 else \
            "Tuple[%s]" % ", ".join(([] if rt == "None" else [rt]) + results)
    body = docstring(doc, cname) if doc else "C: %s()." % cname
    return 'def %s(%s) -> %s:\n    """%s"""\n' % (name, ", ".join(args), rt, body)


def main():
    srcdir, module_py = sys.argv[1], sys.argv[2]
    with open(os.path.join(srcdir, "bindings", "python", "mixstage.pyi.in")) as f:
        head = f.read()
    with open(os.path.join(srcdir, "bindings", "mixstage.i")) as f:
        status = status_functions(f.read())
    with open(module_py) as f:
        tree = ast.parse(f.read())
    written = set()
    for node in ast.parse(head).body:
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            written.add(node.name)
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            written.add(node.target.id)
        elif isinstance(node, ast.Assign):
            written |= {t.id for t in node.targets if isinstance(t, ast.Name)}
    protos = prototypes(srcdir)
    funcs, consts = [], []
    for node in tree.body:
        names = []
        if isinstance(node, ast.FunctionDef):
            names = [(node.name, "def")]
        elif isinstance(node, ast.Assign):
            names = [(t.id, "value") for t in node.targets if isinstance(t, ast.Name)]
        for name, what in names:
            if name.startswith("_") or name in written:
                continue
            written.add(name)
            if what == "def":
                proto = protos.get("mixstage_" + name)
                d = flat_def(name, proto, status) if proto else None
                funcs.append(d or "def %s(*args: Any, **kwargs: Any) -> Any: ...  # untyped\n" % name)
            else:
                consts.append("%s: int\n" % name)
    sys.stdout.write(head)
    sys.stdout.write("".join(funcs))
    sys.stdout.write("\n# ---- Constants -------------------------------------------------------------\n")
    sys.stdout.write("".join(consts))


if __name__ == "__main__":
    main()
