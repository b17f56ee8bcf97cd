#!/usr/bin/env python3
"""Build cache benchmark: a cold build of a fresh checkout (empty local cache, nothing imported)
against a warm build of another fresh checkout at another path that imports every platform's
compiler cache from a registry (--cache-from), side by side in one run, for the same platforms.
A docker-registry is started on loopback for the run; a third checkout's cold build with
--cache-to fills it (timed too: the export's cost). Projects: a C project of --sources files
(make; --funcs functions per file set how much each compile costs) and the C++ example
(tests/projects/cxx-cmake). Each figure is the median of --runs; CPU is the children's user+sys.

Usage: scripts/bench_cache.py [--xbuild build/xbuild] [--platform P,...] [--strategy S] [--runs 3]
                              [--sources 30] [--funcs 40] [--project c|cxx ...]
"""
import argparse
import json
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "integration"))
from bench_push import Registry  # noqa: E402 (the loopback docker-registry both benches start)
from generated_projects import make_multi_file_project  # noqa: E402 (the tests' 30-file C project, with heavier files)
PLATFORMS = "linux/amd64,linux/arm64,linux/arm/v7,linux/riscv64"


def checkout(kind: str, dest: Path, args) -> Path:
    dest.parent.mkdir(parents=True, exist_ok=True)
    if kind == "c":
        return make_multi_file_project(dest, args.sources, args.funcs)
    shutil.copytree(REPO / "tests" / "projects" / "cxx-cmake", dest, ignore=shutil.ignore_patterns(".xbuild"))
    return dest


def timed_build(xbuild: str, project: Path, args, *extra) -> tuple[float, float, dict]:
    """(wall, cpu of the children, per-platform results) of one `xbuild build`."""
    argv = [xbuild, "-C", str(project), "build", "--platform", args.platform, "--json", *extra]
    for s in args.strategy:
        argv += ["--strategy", s]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.monotonic()
    p = subprocess.run(argv, capture_output=True, text=True)
    wall = time.monotonic() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if p.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed ({p.returncode}):\n{p.stderr[-3000:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, {r["platform"]: r for r in json.loads(p.stdout)["platforms"]}


def hits(results: dict) -> str:
    parts = []
    for p, r in results.items():
        c = r.get("cache", {})
        parts.append(f"{p} {c.get('hits', 0)}/{c.get('hits', 0) + c.get('misses', 0)}")
    return ", ".join(parts)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--xbuild", default=str(REPO / "build" / "xbuild"))
    ap.add_argument("--platform", default=PLATFORMS, help="comma list (default: the 4 of the issue)")
    ap.add_argument("--strategy", action="append", default=[], help="passed to xbuild build (repeatable)")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--sources", type=int, default=30)
    ap.add_argument("--funcs", type=int, default=40, help="functions per C file (the cost of one compile)")
    ap.add_argument("--project", action="append", choices=["c", "cxx"], help="default: both")
    args = ap.parse_args()
    projects = args.project or ["c", "cxx"]
    xbuild = str(Path(args.xbuild).resolve())
    print(f"platforms {args.platform}; strategy {args.strategy or 'auto'}; {args.runs} runs, medians; "
          f"C project: {args.sources}+1 files x {args.funcs} functions, make -j per platform")
    print(f"{'project':8} {'cold wall':>10} {'cold CPU':>9} {'export wall':>12} {'warm wall':>10} {'warm CPU':>9} "
          f"{'wall ratio':>11} {'CPU ratio':>10}  imported / warm hits")
    with tempfile.TemporaryDirectory(prefix="xbuild-bench-cache-") as tmp:
        tmp = Path(tmp)
        reg = Registry(tmp / "registry")
        try:
            for kind in projects:
                cold, export, warm = [], [], []
                imported, warm_hits = 0, ""
                for run in range(args.runs):
                    ref = f"{reg.host}/bench/{kind}:run{run}"
                    base = tmp / f"{kind}-{run}"
                    cold.append(timed_build(xbuild, checkout(kind, base / "cold" / "proj", args), args)[:2])
                    export.append(timed_build(xbuild, checkout(kind, base / "ci1" / "proj", args), args, "--cache-to", ref)[:2])
                    w = timed_build(xbuild, checkout(kind, base / "elsewhere" / "ci2", args), args, "--cache-from", ref)
                    warm.append(w[:2])
                    imported = sum(r["cache"].get("bytes_imported", 0) for r in w[2].values() if "cache" in r)
                    warm_hits = hits(w[2])
                    shutil.rmtree(base)
                med = lambda xs, i: statistics.median(x[i] for x in xs)  # noqa: E731
                cw, cc, ew, ww, wc = med(cold, 0), med(cold, 1), med(export, 0), med(warm, 0), med(warm, 1)
                print(f"{kind:8} {cw:9.2f}s {cc:8.2f}s {ew:11.2f}s {ww:9.2f}s {wc:8.2f}s {ww / cw:10.2f}x {wc / cc:9.2f}x  "
                      f"{imported / 1024:.0f} KiB / {warm_hits}")
                sys.stdout.flush()
        finally:
            reg.stop()


if __name__ == "__main__":
    main()
