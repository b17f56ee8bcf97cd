#!/usr/bin/env python3
"""The figures of docs/benchmarks.md "Build cache: emulated rebuild": one project built for
linux/arm64 fully emulated (the rootfs's gcc under qemu, --no-accelerate) three times, side by
side in one run:

- no cache: `--no-cache`, a clean build (what an emulated build cost before issue 11);
- cold: a clean build with an empty cache (every compile a miss, stored);
- warm: the build state (.xbuild/out, build, src) wiped as in a fresh checkout, the cache kept:
  every compile a hit.

The project is scripts/bench_accelerate.py's generated C project: 30 files plus a main, with
--functions small functions per file (40 makes it Lua-sized, ~18k lines; the default 4 keeps
the run to about four minutes on two busy cores). Wall and CPU time come from `xbuild build --json`; the warm
binary must be byte-identical to the cold one and pass the project's test. Run by hand, as root,
with the cached arm64 rootfs (scripts/ci-rootfs.sh); not part of the tests.

Usage: scripts/bench_cache_emulated.py [--functions N] [--work DIR] [--accelerated]
Env:   XBUILD_BIN (default build/xbuild)"""
import argparse
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_accelerate import generate  # noqa: E402

PLATFORM = "linux/arm64"


def build(xbuild: str, proj: Path, *flags) -> dict:
    p = subprocess.run([xbuild, "-C", str(proj), "build", "--platform", PLATFORM, "--strategy", "emulate", "--json", *flags],
                       check=False, capture_output=True, text=True)
    doc = json.loads(p.stdout) if p.stdout.strip() else {}
    if p.returncode != 0 or not doc.get("ok"):
        sys.exit(f"build {' '.join(flags)} failed ({p.returncode}):\n{p.stdout}\n{p.stderr}")
    return doc["platforms"][0]


def wipe_state(proj: Path, keep_cache: bool):
    if not keep_cache:
        shutil.rmtree(proj / ".xbuild", ignore_errors=True)
        return
    for d in ("out", "build", "src", "oci"):
        shutil.rmtree(proj / ".xbuild" / d, ignore_errors=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--functions", type=int, default=4, help="functions per file (40 = Lua-sized)")
    ap.add_argument("--work", default="/var/tmp/xbuild-bench-cache-emulated")
    ap.add_argument("--accelerated", action="store_true", help="accelerated emulation instead of plain")
    a = ap.parse_args()
    xbuild = os.path.realpath(os.environ.get("XBUILD_BIN", REPO / "build" / "xbuild"))
    proj = generate(Path(a.work) / "gen-c", files=30, functions=a.functions)
    mode = [] if a.accelerated else ["--no-accelerate"]
    binary = proj / ".xbuild" / "out" / PLATFORM.replace("/", "_") / "gen"

    rows = []
    wipe_state(proj, keep_cache=False)
    rows.append(("no cache", build(xbuild, str(proj), "--no-cache", *mode)))
    wipe_state(proj, keep_cache=False)
    rows.append(("cold cache", build(xbuild, str(proj), *mode)))
    cold_bytes = binary.read_bytes()
    wipe_state(proj, keep_cache=True)
    rows.append(("warm cache", build(xbuild, str(proj), *mode)))
    if binary.read_bytes() != cold_bytes:
        sys.exit("the warm build's binary differs from the cold one's")
    subprocess.run([xbuild, "-C", str(proj), "test", "--platform", PLATFORM, "--strategy", "emulate", *mode], check=True,
                   capture_output=True)

    base = rows[0][1]
    kind = "accelerated" if a.accelerated else "plain"
    print(f"{PLATFORM}, {kind} emulation, 31 files x {a.functions} functions")
    print(f"{'build':<11} {'wall (s)':>9} {'CPU (s)':>9} {'ccache':>10} {'wall vs no cache':>17} {'CPU vs no cache':>16}")
    for name, r in rows:
        c = r.get("cache")
        hits = f"{c['hits']}/{c['hits'] + c['misses']}" if c else "-"
        print(f"{name:<11} {r['wall_seconds']:>9.2f} {r['cpu_seconds']:>9.2f} {hits:>10} "
              f"{r['wall_seconds'] / base['wall_seconds']:>16.2f}x {r['cpu_seconds'] / base['cpu_seconds']:>15.2f}x")
    cold, warm = rows[1][1], rows[2][1]
    print(f"warm rebuild vs cold: {cold['wall_seconds'] / warm['wall_seconds']:.1f}x less wall, "
          f"{cold['cpu_seconds'] / warm['cpu_seconds']:.1f}x less CPU")


if __name__ == "__main__":
    main()
