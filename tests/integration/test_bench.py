"""`xbuild bench` on the C example for linux/arm64: a clean cross build, a clean emulated
build (in the machine's cached rootfs) and a clean accelerated emulated one, all binaries checked with the project's test and
with tools xbuild did not write; the report as a table, JSON, Markdown and an SVG that
rsvg-convert renders. No timing is asserted beyond the ratio being reported."""
import json

import pytest

from conftest import need, run
from emu_helpers import env_with, file_says, rootfs_for


@pytest.fixture(scope="module")
def bench_result(xbuild, project_copy_module):
    rootfs_for(xbuild)
    proj = project_copy_module("c-make")
    report = proj / "report"
    p = run([xbuild, "bench", "-C", proj, "--platform", "linux/arm64", "--report-dir", report,
             "--json", proj / "bench.json"], env=env_with(), timeout=1800)
    return proj, report, p


@pytest.fixture(scope="module")
def project_copy_module(tmp_path_factory):
    import shutil
    from conftest import PROJECTS

    def copy(name):
        dst = tmp_path_factory.mktemp("bench") / name
        shutil.copytree(PROJECTS / name, dst, ignore=shutil.ignore_patterns(".xbuild"))
        return dst
    return copy


def test_bench_reports_both_strategies_and_a_ratio(bench_result):
    proj, report, p = bench_result
    lines = [l for l in p.stdout.splitlines() if l.startswith("linux/arm64")]
    assert any(" cross " in l and "pass" in l for l in lines), p.stdout
    assert any(" emulate " in l and "pass" in l for l in lines), p.stdout
    assert any(" accelerated " in l and "pass" in l for l in lines), p.stdout
    assert "linux/arm64: accelerated emulation is " in p.stdout
    assert "linux/arm64: emulation is " in p.stdout and "x slower than cross-compiling (wall; " in p.stdout
    doc = json.loads((proj / "bench.json").read_text())
    rows = {r["strategy"]: r for r in doc["results"] if r["platform"] == "linux/arm64"}
    assert rows["cross"]["built"] and rows["emulate"]["built"] and rows["accelerated"]["built"]
    assert rows["cross"]["test"] is True and rows["emulate"]["test"] is True and rows["accelerated"]["test"] is True
    assert "note" not in rows["accelerated"], rows["accelerated"]  # it was accelerated, not a fallback
    assert doc["accelerated_over_cross"]["linux/arm64"] > 0
    assert rows["cross"]["wall_seconds"] > 0 and rows["emulate"]["wall_seconds"] > 0
    assert doc["emulate_over_cross"]["linux/arm64"] > 0
    assert doc["jobs"] >= 1 and "CPUs" in doc["machine"]


def test_bench_binaries_are_real_and_work(bench_result):
    proj, _, _ = bench_result
    qemu = need("qemu-aarch64-static")
    for strategy in ("cross", "emulate", "accelerated"):
        hello = proj / ".xbuild" / "bench" / strategy / "out" / "linux_arm64" / "hello"
        assert "ARM aarch64" in file_says(hello), strategy
        out = run([qemu, hello, "--check"]).stdout
        assert "built for aarch64" in out


def test_bench_writes_markdown_json_and_a_renderable_svg(bench_result, tmp_path):
    proj, report, _ = bench_result
    md = (report / "bench.md").read_text()
    assert "| Platform | Strategy | Wall (s) | CPU (s) | vs cross (wall) | vs cross (CPU) | Test |" in md
    assert "| linux/arm64 | cross |" in md and "| linux/arm64 | emulate |" in md
    assert json.loads((report / "bench.json").read_text())["project"] == "hello-c"
    png = tmp_path / "bench.png"
    run([need("rsvg-convert"), "-o", png, report / "bench.svg"])
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "PNG image data" in file_says(png)


def test_bench_bad_strategy_is_usage_error(xbuild, project_copy):
    proj = project_copy("c-make")
    p = run([xbuild, "bench", "-C", proj, "--platform", "linux/arm64", "--strategies", "cross,teleport"], check=False)
    assert p.returncode == 2
    assert "--strategies" in p.stderr
