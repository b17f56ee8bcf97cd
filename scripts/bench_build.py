#!/usr/bin/env python3
"""Build orchestration overhead: xbuild building the C example for four platforms, against a
plain shell script that runs the same make commands with the same compilers in parallel.
Both start from clean build and output directories every round; rounds alternate so that
machine noise hits both alike. Prints a Markdown table and the ratio (xbuild / shell).

usage: scripts/bench_build.py [--rounds N] [--xbuild build/xbuild] [--baseline OTHER_XBUILD] [--markdown FILE]"""
import argparse
import os
import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PLATFORMS = {
    "linux/amd64": ("linux_amd64", "gcc"),
    "linux/arm64": ("linux_arm64", "aarch64-linux-gnu-gcc"),
    "linux/arm/v7": ("linux_arm_v7", "arm-linux-gnueabihf-gcc"),
    "linux/riscv64": ("linux_riscv64", "riscv64-linux-gnu-gcc"),
}


def timed(argv, env=None):
    start = time.perf_counter()
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    return time.perf_counter() - start


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=10)
    ap.add_argument("--xbuild", default=str(REPO / "build" / "xbuild"))
    ap.add_argument("--markdown", help="append the result table to this file")
    ap.add_argument("--baseline", help="another xbuild binary (e.g. an older commit's) timed in the same rounds")
    args = ap.parse_args()

    work = Path(tempfile.mkdtemp(prefix="xb-bench-build-"))
    proj = work / "c-make"
    shutil.copytree(REPO / "tests/projects/c-make", proj, ignore=shutil.ignore_patterns(".xbuild"))
    state = proj / ".xbuild"
    jobs = max(1, os.cpu_count() // len(PLATFORMS))  # what xbuild gives each build

    # The same commands xbuild runs (see `xbuild plan`), as a plain parallel shell script.
    lines = ["set -e"]
    for slug, cc in PLATFORMS.values():
        out, build = state / "out" / slug, state / "build" / slug
        lines.append(f"mkdir -p {out} {build}; make -s -C {proj} -j{jobs} CC={cc} OUT={out} BUILD={build} &")
    lines.append("wait")
    script = work / "parallel.sh"
    script.write_text("\n".join(lines) + "\n")

    # Same parallelism as the script: all four platforms at once, make -j{jobs} each.
    xb_cmd = [args.xbuild, "-C", str(proj), "build", "-j", str(len(PLATFORMS)), "--progress", "quiet",
              "--platform", ",".join(PLATFORMS)]
    sh_cmd = ["sh", str(script)]
    base_cmd = [args.baseline] + xb_cmd[1:] if args.baseline else None
    timed(xb_cmd)  # warm the page cache and compilers once
    xb, sh, base = [], [], []
    for _ in range(args.rounds):
        shutil.rmtree(state, ignore_errors=True)
        sh.append(timed(sh_cmd))
        shutil.rmtree(state, ignore_errors=True)
        xb.append(timed(xb_cmd))
        if base_cmd:
            shutil.rmtree(state, ignore_errors=True)
            base.append(timed(base_cmd))
    shutil.rmtree(work, ignore_errors=True)

    m_xb, m_sh = statistics.median(xb), statistics.median(sh)
    table = (
        "| what (C example, 4 platforms, clean) | median wall s | min s |\n"
        "|---|---|---|\n"
        f"| plain `sh` running the 4 `make` commands in parallel | {m_sh:.3f} | {min(sh):.3f} |\n"
        f"| `xbuild build --platform {','.join(PLATFORMS)}` | {m_xb:.3f} | {min(xb):.3f} |\n"
        f"| **ratio xbuild / shell** | **{m_xb / m_sh:.3f}** | {min(xb) / min(sh):.3f} |\n"
    )
    if base:
        m_base = statistics.median(base)
        table += (f"| baseline `{args.baseline}` | {m_base:.3f} | {min(base):.3f} |\n"
                  f"| **ratio baseline / shell** | **{m_base / m_sh:.3f}** | {min(base) / min(sh):.3f} |\n")
    print(table)
    if args.markdown:
        with open(args.markdown, "a") as f:
            f.write(table)


if __name__ == "__main__":
    main()
