#!/usr/bin/env python3
"""Render a catalogue of graph files across a Dask cluster.

For a label or a studio whose catalogue outgrows one machine: each graph
file (docs/graph-format.md) becomes one Dask task that loads it with the
libmixstage Python binding, delivers the requested profiles with
Graph.deliver() (the files and manifest.json of each profile) and returns a
small result per profile: file, profile, loudness and true peak of its main
output, the paths written, or the error text.  The driver prints a summary
and exits non-zero if anything failed; one bad file never stops the others.

    # on one machine, 4 worker processes:
    python3 dask_catalogue.py --local 4 --out renders songs/*.mixstage.json
    # on a cluster (dask-scheduler / dask-worker started elsewhere):
    python3 dask_catalogue.py --scheduler tcp://10.0.0.5:8786 --out /shared/renders \\
        --profile mix-stems --profile final songs/*.mixstage.json

Every worker needs the mixstage module importable (installed, or on
PYTHONPATH), and the graph files, their sources and --out on a path every
worker sees the same way (a shared file system): tasks receive absolute
paths.  Each file is delivered into OUT/<name>/<profile>/, <name> being the
file name without ".json" and ".mixstage" (made unique when two files share
a name).  Renders are deterministic, so a file rendered on any worker gives
the same bytes as rendered here.

Profiles: the built-in "production", "mix-stems" and "final" (all three when
--profile is not given), or a custom profile defined in a graph file (a file
that lacks a requested custom profile reports that as its error).

Exit status: 0 when every file and profile rendered, 1 if any failed, 2 for
bad arguments.
"""
import argparse
import os
import sys
import time

BUILTIN_PROFILES = ("production", "mix-stems", "final")


def main_output(manifest):
    """The file that stands for a delivery: its mix, else the production
    reference (a stem delivery), else the first file."""
    files = manifest.get("files", [])
    for kind in ("mix", "reference"):
        for f in files:
            if f.get("kind") == kind:
                return f
    return files[0] if files else None


def render_file(path, outdir, profiles, threads=1):
    """Dask task: delivers @p profiles of the graph file @p path into
    @p outdir/<profile>/.  Never raises: a failure is returned as the error
    text of each profile it stopped, so one bad file cannot stop the
    catalogue.  Returns a list of plain dicts (cheap to send back)."""
    results = []
    try:
        import mixstage as m
        doc = m.GraphFile(path)
        graph = doc.graph
    except Exception as e:  # unreadable, invalid, missing sources...
        return [{"file": path, "profile": p, "ok": False, "error": f"{type(e).__name__}: {e}",
                 "lufs": None, "true_peak_dbtp": None, "outputs": []} for p in profiles]
    for p in profiles:
        r = {"file": path, "profile": p, "ok": False, "error": None, "lufs": None,
             "true_peak_dbtp": None, "outputs": []}
        try:
            profile = p if p in BUILTIN_PROFILES else doc.profile(p)
            target = os.path.join(outdir, p)
            manifest = graph.deliver(profile, target, threads=threads)
            main = main_output(manifest)
            r["outputs"] = [os.path.join(target, f["path"]) for f in manifest["files"]]
            r["outputs"].append(os.path.join(target, "manifest.json"))
            if main is not None:
                r["lufs"] = main["integrated_lufs"]
                r["true_peak_dbtp"] = main["true_peak_dbtp"]
            r["ok"] = True
        except Exception as e:
            r["error"] = f"{type(e).__name__}: {e}"
        results.append(r)
    return results


def output_names(paths):
    """OUT sub-directory per file: its name without .json/.mixstage, with
    " 2", " 3"... for names already taken (in catalogue order, so the same
    catalogue always maps the same way)."""
    names, taken = [], set()
    for p in paths:
        base = os.path.basename(p)
        for ext in (".json", ".mixstage"):
            if base.endswith(ext):
                base = base[: -len(ext)]
        name, k = base or "graph", 2
        while name in taken:
            name, k = f"{base} {k}", k + 1
        taken.add(name)
        names.append(name)
    return names


def run(client, files, out, profiles, threads=1, report=print):
    """Submits one task per file to @p client and gathers the results,
    reporting each file as it completes.  Returns the flat list of results
    in catalogue order."""
    from distributed import as_completed

    files = [os.path.abspath(f) for f in files]
    out = os.path.abspath(out)
    futures = {}
    for f, name in zip(files, output_names(files)):
        # pure=False: a re-run renders again rather than reusing a result.
        fut = client.submit(render_file, f, os.path.join(out, name), list(profiles), threads,
                            pure=False)
        futures[fut] = f
    by_file = {}
    for fut in as_completed(futures):
        f = futures[fut]
        try:
            res = fut.result()
        except Exception as e:  # the worker itself died (a crash, OOM, lost node)
            res = [{"file": f, "profile": p, "ok": False, "lufs": None, "true_peak_dbtp": None,
                    "outputs": [], "error": f"task failed: {type(e).__name__}: {e}"}
                   for p in profiles]
        by_file[f] = res
        bad = [r for r in res if not r["ok"]]
        report(f"{'FAILED' if bad else 'done  '} {f}" + (f": {bad[0]['error']}" if bad else ""))
    return [r for f in files for r in by_file[f]]


def summary(results):
    lines = [f"{'file':40s} {'profile':10s} {'LUFS':>7s} {'dBTP':>7s}  result"]
    for r in results:
        name = os.path.basename(r["file"])
        if r["ok"]:
            lines.append(f"{name:40s} {r['profile']:10s} {r['lufs']:7.1f} "
                         f"{r['true_peak_dbtp']:7.1f}  {len(r['outputs'])} files")
        else:
            lines.append(f"{name:40s} {r['profile']:10s} {'':7s} {'':7s}  {r['error']}")
    failed = sum(not r["ok"] for r in results)
    files_failed = len({r["file"] for r in results if not r["ok"]})
    lines.append(f"{len(results) - failed} of {len(results)} renders succeeded; "
                 f"{files_failed} file(s) failed")
    return "\n".join(lines)


def main(argv=None):
    ap = argparse.ArgumentParser(
        description="Deliver the profiles of many graph files across a Dask cluster.")
    where = ap.add_mutually_exclusive_group()
    where.add_argument("--scheduler", metavar="ADDRESS",
                       help="address of a running Dask scheduler (tcp://host:8786)")
    where.add_argument("--local", metavar="N", type=int,
                       help="start a LocalCluster of N worker processes (default: 2)")
    ap.add_argument("--out", default="catalogue-out", help="output directory")
    ap.add_argument("--profile", action="append", dest="profiles", metavar="NAME",
                    help="profile to deliver (repeatable; default: all three built-ins)")
    ap.add_argument("--threads", type=int, default=1,
                    help="render threads per task (keep at 1 with one worker per core)")
    ap.add_argument("files", nargs="+", metavar="FILE.json")
    args = ap.parse_args(argv)
    if args.local is not None and args.local < 1:
        ap.error("--local needs at least 1 worker")
    if args.threads < 1:
        ap.error("--threads needs at least 1")
    profiles = args.profiles or list(BUILTIN_PROFILES)

    from distributed import Client, LocalCluster

    cluster = None
    if args.scheduler:
        client = Client(args.scheduler)
    else:
        # One single-threaded worker process per core: libmixstage renders
        # do not share the GIL, but processes keep one crash to one task.
        cluster = LocalCluster(n_workers=args.local or 2, processes=True, threads_per_worker=1,
                               dashboard_address=None)
        client = Client(cluster)
    t0 = time.monotonic()
    try:
        results = run(client, args.files, args.out, profiles, args.threads)
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
    print(summary(results))
    print(f"{len(args.files)} file(s) in {time.monotonic() - t0:.1f} s; output in "
          f"{os.path.abspath(args.out)}")
    return 0 if all(r["ok"] for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
