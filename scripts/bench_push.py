#!/usr/bin/env python3
"""Push benchmark: a 4-platform OCI layout with a layer of random (incompressible) data per
platform, pushed to a fresh local docker-registry by `xbuild push` and by
`skopeo copy --all oci:... docker://...` in the same run, plus the time of a repeat push
where every blob is already there. Each measurement uses its own fresh registry and is
repeated; the median is reported. Writes the "## Push" section of docs/benchmarks.md.

Usage: scripts/bench_push.py [--xbuild build/xbuild] [--mb 64] [--runs 3] [--no-write]
"""
import argparse
import gzip
import hashlib
import io
import json
import os
import re
import shutil
import socket
import statistics
import subprocess
import tarfile
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PLATFORMS = ["linux/amd64", "linux/arm64", "linux/arm/v7", "linux/riscv64"]


def blob(layout: Path, data: bytes) -> dict:
    d = hashlib.sha256(data).hexdigest()
    (layout / "blobs" / "sha256" / d).write_bytes(data)
    return {"digest": "sha256:" + d, "size": len(data)}


def make_layout(layout: Path, mb: int) -> str:
    (layout / "blobs" / "sha256").mkdir(parents=True)
    (layout / "oci-layout").write_text('{"imageLayoutVersion":"1.0.0"}')
    descs = []
    for p in PLATFORMS:
        os_, arch, *variant = p.split("/")
        raw = io.BytesIO()
        with tarfile.open(fileobj=raw, mode="w") as t:
            data = os.urandom(mb << 20)
            info = tarfile.TarInfo("data/random.bin")
            info.size = len(data)
            t.addfile(info, io.BytesIO(data))
        tar = raw.getvalue()
        gz = gzip.compress(tar, compresslevel=1, mtime=0)
        layer = dict(blob(layout, gz), mediaType="application/vnd.oci.image.layer.v1.tar+gzip")
        config = {"architecture": arch, "os": os_, "rootfs": {"type": "layers",
                  "diff_ids": ["sha256:" + hashlib.sha256(tar).hexdigest()]}}
        plat = {"architecture": arch, "os": os_}
        if variant:
            config["variant"] = plat["variant"] = variant[0]
        cfg = dict(blob(layout, json.dumps(config).encode()), mediaType="application/vnd.oci.image.config.v1+json")
        manifest = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                               "config": cfg, "layers": [layer]}).encode()
        descs.append(dict(blob(layout, manifest), mediaType="application/vnd.oci.image.manifest.v1+json",
                          platform=plat))
    index = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
                        "manifests": descs}).encode()
    top = dict(blob(layout, index), mediaType="application/vnd.oci.image.index.v1+json",
               annotations={"org.opencontainers.image.ref.name": "bench"})
    (layout / "index.json").write_text(json.dumps({"schemaVersion": 2, "manifests": [top]}))
    return top["digest"]


class Registry:
    def __init__(self, dir: Path):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.host = f"127.0.0.1:{self.port}"
        dir.mkdir(parents=True)
        (dir / "config.yml").write_text(
            f"version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\n"
            f"storage:\n  filesystem:\n    rootdirectory: {dir / 'data'}\n"
            f"http:\n  addr: 127.0.0.1:{self.port}\n")
        self.proc = subprocess.Popen(["docker-registry", "serve", str(dir / "config.yml")],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for _ in range(300):
            try:
                urllib.request.urlopen(f"http://{self.host}/v2/", timeout=1)
                return
            except (urllib.error.URLError, OSError):
                time.sleep(0.05)
        raise SystemExit("docker-registry did not start")

    def stop(self):
        self.proc.terminate()
        self.proc.wait()


def timed(argv) -> float:
    t = time.perf_counter()
    p = subprocess.run(argv, capture_output=True, text=True)
    elapsed = time.perf_counter() - t
    if p.returncode != 0:
        raise SystemExit(f"{argv} failed:\n{p.stdout}\n{p.stderr}")
    return elapsed


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--xbuild", default=str(REPO / "build" / "xbuild"))
    ap.add_argument("--mb", type=int, default=64, help="random MiB per platform layer (>= 50)")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--no-write", action="store_true", help="print only; leave docs/benchmarks.md alone")
    args = ap.parse_args()
    for tool in ("docker-registry", "skopeo"):
        if not shutil.which(tool):
            raise SystemExit(f"{tool} is missing: run scripts/setup.sh")
    work = Path(tempfile.mkdtemp(prefix="xbuild-bench-push-"))
    try:
        layout = work / "layout"
        digest = make_layout(layout, args.mb)
        total = sum(f.stat().st_size for f in (layout / "blobs" / "sha256").iterdir())
        results = {"xbuild": [], "skopeo": [], "xbuild_repeat": [], "skopeo_repeat": []}
        for run in range(args.runs):
            for tool in ("xbuild", "skopeo"):
                reg = Registry(work / f"reg-{tool}-{run}")
                try:
                    ref = f"{reg.host}/bench/app:bench"
                    if tool == "xbuild":
                        cmd = [args.xbuild, "push", f"{layout}:bench", ref]
                    else:
                        cmd = ["skopeo", "copy", "--all", "--quiet", "--dest-tls-verify=false", f"oci:{layout}:bench",
                               f"docker://{ref}"]
                    results[tool].append(timed(cmd))
                    results[tool + "_repeat"].append(timed(cmd))
                    raw = subprocess.run(["skopeo", "inspect", "--raw", "--tls-verify=false", f"docker://{ref}"],
                                         capture_output=True, check=True).stdout
                    assert "sha256:" + hashlib.sha256(raw).hexdigest() == digest, f"{tool}: pushed index differs"
                finally:
                    reg.stop()
        med = {k: statistics.median(v) for k, v in results.items()}
        ratio = med["skopeo"] / med["xbuild"]
        cpu = os.cpu_count()
        lines = [
            "## Push",
            "",
            f"`scripts/bench_push.py --mb {args.mb} --runs {args.runs}`: a {len(PLATFORMS)}-platform OCI layout "
            f"({', '.join(PLATFORMS)}), one layer of {args.mb} MiB of random (incompressible) data per platform, "
            f"{total / (1 << 20):.0f} MiB of blobs in all, pushed to a fresh docker-registry 2.8 on 127.0.0.1 "
            f"(filesystem storage) for every measurement; {cpu} cores. Median of {args.runs} runs. The pushed index "
            "is checked with `skopeo inspect --raw` to hash to the layout's digest after every push.",
            "",
            "| | first push (s) | repeat push, all blobs present (s) |",
            "|---|---:|---:|",
            f"| `xbuild push` (4 parallel uploads) | {med['xbuild']:.2f} | {med['xbuild_repeat']:.3f} |",
            f"| `skopeo copy --all oci:... docker://...` | {med['skopeo']:.2f} | {med['skopeo_repeat']:.3f} |",
            "",
            f"xbuild is {ratio:.2f}x the speed of skopeo on the first push "
            f"({total / (1 << 20) / med['xbuild']:.0f} MiB/s against {total / (1 << 20) / med['skopeo']:.0f} MiB/s); "
            f"a repeat push takes {med['xbuild_repeat'] * 1000:.0f} ms (a HEAD per blob and per manifest, nothing uploaded or PUT).",
            "",
            "Raw times (s): " + "; ".join(f"{k} " + ", ".join(f"{x:.3f}" for x in v) for k, v in results.items()),
            "",
        ]
        section = "\n".join(lines)
        print(section)
        if not args.no_write:
            doc = REPO / "docs" / "benchmarks.md"
            text = doc.read_text() if doc.exists() else "# Benchmarks\n\n"
            if re.search(r"^## Push\n", text, flags=re.M):
                text = re.sub(r"^## Push\n.*?(?=^## |\Z)", section + "\n", text, flags=re.M | re.S)
            else:
                text = text.rstrip("\n") + "\n\n" + section
            doc.write_text(text)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
