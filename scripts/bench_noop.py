#!/usr/bin/env python3
"""What a no-op rebuild costs beyond the build commands themselves (issue 11): a 4-platform
make project (linux/amd64, linux/arm64, linux/arm/v7, linux/riscv64; all cross but amd64)
that was built already, so every build command has nothing to compile, measured two ways,
alternated in the same run so both see the same machine load:

  direct  the very commands xbuild runs (argv, cwd and environment from `xbuild plan
          --json`), each with its {out} emptied first as xbuild does, run `slots` at a time
          (xbuild's default: one per core)
  xbuild  `xbuild build` of the same project: plan, builds, output checks, image (the
          layers reused from .xbuild/reuse: the script checks every platform says
          image_reused), SBOMs, provenance, layout

The median wall time of REPEAT runs per way counts; the difference is xbuild's own time.
Both ways run twice over: as configured (C compiles go through ccache, whose statistics
xbuild zeroes before and reads after each platform's build) and with --no-cache (plan and
build), which shows what xbuild costs without that ccache bookkeeping, and once more with
--no-cache and the layer store deleted before each run: what the reuse saves.
Projects: c-make (tests/projects/c-make, 2 sources) or many (31 sources, as
tests/integration/test_cache.py makes it). With --write-docs the table goes to the
"## No-op rebuild" section of docs/benchmarks.md.

Usage: scripts/bench_noop.py [--xbuild build/xbuild] [--project c-make|many] [--repeat 7] [--write-docs]
"""
import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from benchdoc import write_section

REPO = Path(__file__).resolve().parents[1]
SECTION = "## No-op rebuild"
PLATFORMS = "linux/amd64,linux/arm64,linux/arm/v7,linux/riscv64"
N_SOURCES = 30


def make_many(root: Path):
    """The multi-file project of tests/integration/test_cache.py, for four platforms."""
    root.mkdir()
    for i in range(N_SOURCES):
        (root / f"part{i:02d}.c").write_text(f'#include "parts.h"\nint part{i:02d}(int x) {{ return x * {i + 3} + {i}; }}\n')
    (root / "parts.h").write_text("".join(f"int part{i:02d}(int x);\n" for i in range(N_SOURCES)))
    calls = " + ".join(f"part{i:02d}(1)" for i in range(N_SOURCES))
    (root / "main.c").write_text(f'#include <stdio.h>\n#include "parts.h"\nint main(void) {{ printf("%d\\n", {calls}); return 0; }}\n')
    objs = " ".join(f"$(BUILD)/part{i:02d}.o" for i in range(N_SOURCES))
    (root / "Makefile").write_text("CC ?= cc\nCFLAGS ?= -O2\n"
                                   f"OBJS = $(BUILD)/main.o {objs}\n"
                                   "$(OUT)/many: $(OBJS)\n\t$(CC) $(CFLAGS) -static -o $@ $(OBJS)\n"
                                   "$(BUILD)/%.o: %.c parts.h\n\t$(CC) $(CFLAGS) -c -o $@ $<\n")
    (root / "xbuild.toml").write_text(
        f'name = "many"\nlanguage = "c"\nplatforms = {json.dumps(PLATFORMS.split(","))}\n'
        'build = ["make", "-C", "{src}", "-j{jobs}", "OUT={out}", "BUILD={build}"]\noutputs = ["many"]\n')


def run(argv, **kw):
    p = subprocess.run([str(a) for a in argv], capture_output=True, text=True, **kw)
    if p.returncode != 0:
        sys.exit(f"{argv} failed ({p.returncode}):\n{p.stdout}\n{p.stderr}")
    return p


def direct(plans, slots: int) -> float:
    """The plan's build commands, as xbuild runs them, `slots` at a time; wall seconds."""
    def one(plan):
        shutil.rmtree(plan["out"], ignore_errors=True)
        os.makedirs(plan["out"])
        env = dict(os.environ)
        env.update(plan["env"])
        with open(os.devnull, "w") as null:
            rc = subprocess.run(plan["command"], cwd=plan["cwd"], env=env, stdout=null, stderr=null).returncode
        if rc != 0:
            sys.exit(f"{plan['command']} failed ({rc})")
    t = time.monotonic()
    with ThreadPoolExecutor(max_workers=slots) as pool:
        list(pool.map(one, plans))
    return time.monotonic() - t


def via_xbuild(xbuild: Path, project: Path, flags, pack: bool) -> float:
    if pack:  # no layer to reuse: every platform's layer is packed again (tar + gzip)
        shutil.rmtree(project / ".xbuild" / "reuse", ignore_errors=True)
    t = time.monotonic()
    p = run([xbuild, "-C", project, "build", "--json", *flags])
    wall = time.monotonic() - t
    doc = json.loads(p.stdout)
    not_reused = [q["platform"] for q in doc["platforms"] if not q.get("image_reused")]
    if not_reused and not pack:
        sys.exit(f"not a no-op: {', '.join(not_reused)} packed a layer")
    return wall


def write_docs(section: str):
    write_section(SECTION, section)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--xbuild", default=str(REPO / "build" / "xbuild"))
    ap.add_argument("--project", choices=["c-make", "many"], default="c-make")
    ap.add_argument("--repeat", type=int, default=7)
    ap.add_argument("--write-docs", action="store_true")
    a = ap.parse_args()
    xbuild = Path(a.xbuild).resolve()

    with tempfile.TemporaryDirectory(prefix="xbuild-bench-noop-") as tmp:
        project = Path(tmp) / a.project
        if a.project == "c-make":
            shutil.copytree(REPO / "tests/projects/c-make", project, ignore=shutil.ignore_patterns(".xbuild"))
        else:
            make_many(project)
        run([xbuild, "-C", project, "build"])  # cold: compiles, fills ccache and the layer store
        slots = os.cpu_count() or 1
        rows = []
        for mode, flags, pack in (("as configured (ccache)", [], False), ("--no-cache", ["--no-cache"], False),
                                  ("--no-cache, .xbuild/reuse deleted before each run", ["--no-cache"], True)):
            run([xbuild, "-C", project, "build", *flags])  # the first no-op (the page cache warm)
            plans = json.loads(run([xbuild, "-C", project, "plan", "--json", *flags]).stdout)["platforms"]
            d, x = [], []
            for _ in range(a.repeat):
                d.append(direct(plans, slots))
                x.append(via_xbuild(xbuild, project, flags, pack))
            md, mx = statistics.median(d), statistics.median(x)
            rows.append((mode, md, mx))
            print(f"{mode}: all runs (ms): direct", [round(v * 1000) for v in d], "xbuild", [round(v * 1000) for v in x])

    table = ("| build | build commands run directly (ms) | xbuild build, no-op (ms) | xbuild's own time (ms) |\n|---|---:|---:|---:|\n"
             + "".join(f"| {m} | {d * 1000:.0f} | {x * 1000:.0f} | {(x - d) * 1000:.0f} |\n" for m, d, x in rows))
    print(f"{a.project}, {len(plans)} platforms, {a.repeat} runs each, {slots} slots")
    print(table)
    if a.write_docs:
        section = (f"{SECTION}\n\n"
                   f"`scripts/bench_noop.py --project {a.project} --repeat {a.repeat}`: {len(plans)} platforms "
                   f"({PLATFORMS}), built once, then alternately the build commands of `xbuild plan --json` run "
                   f"directly ({slots} at a time, {{out}} emptied first, as xbuild runs them) and `xbuild build` "
                   f"(every platform's image reused). Median of {a.repeat} runs each, on {os.cpu_count()} cores.\n\n"
                   + table + "\n")
        write_docs(section)


if __name__ == "__main__":
    main()
