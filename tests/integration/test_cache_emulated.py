"""The compiler cache of emulated builds (issue 11): linux/arm64 built in the machine's cached
arm64 rootfs, fully emulated and accelerated, with the host's ccache running inside the rootfs
in front of the rootfs's gcc (under qemu) or of the accelerated wrappers (the host's cross gcc).
A rebuild after the build state is gone gets every compile from the cache, gives the same
bytes, and the program still runs on aarch64; plain and accelerated builds never share a cache
dir; the cached rootfs is not changed; --no-cache uses none. Real rootfs, qemu and ccache.
Plain compiles under qemu are slow, so the plain path builds the two-file c-make example and
the accelerated path the 31-file project of test_cache."""
import json
import os
from pathlib import Path

import pytest

from conftest import need, run
from emu_helpers import env_with, rootfs_for
from test_accelerate import tree_digest
from test_cache import N_SOURCES, make_multi_file_project, wipe_build_state

PLATFORM = "linux/arm64"
CCACHE_INSIDE = "/.xbuild-ccache/ccache"


@pytest.fixture(scope="module")
def arm64_rootfs(xbuild):
    return rootfs_for(xbuild, PLATFORM)


def build(xbuild, project: Path, *extra, env_extra=None) -> dict:
    p = run([xbuild, "-C", project, "build", "--platform", PLATFORM, "--strategy", "emulate", "--json", *extra],
            env=env_with(**(env_extra or {})), timeout=1800)
    result = json.loads(p.stdout)
    assert result["ok"], p.stdout + p.stderr
    return result["platforms"][0]


def plan(xbuild, project: Path, *extra) -> dict:
    p = run([xbuild, "-C", project, "plan", "--platform", PLATFORM, "--strategy", "emulate", "--json", *extra],
            env=env_with())
    return json.loads(p.stdout)["platforms"][0]


def output(project: Path, name: str) -> Path:
    return project / ".xbuild" / "out" / PLATFORM.replace("/", "_") / name


def assert_runs_on_aarch64(binary: Path):
    printed = run([need("qemu-aarch64-static"), binary]).stdout
    assert "aarch64" in printed, printed


def assert_cold_then_warm(xbuild, project: Path, binary: str, compiles: int, *flags, env_extra=None):
    """Builds, wipes the build state, rebuilds; returns (cold, warm) results after checking that
    the cold build compiled every file through ccache and the warm one got every one from it."""
    planned = plan(xbuild, project, *flags)
    cold = build(xbuild, project, *flags, env_extra=env_extra)
    c = cold["cache"]
    assert c["kind"] == "ccache", cold
    assert (c["hits"], c["misses"]) == (0, compiles), c
    assert Path(c["dir"]).parent == project / ".xbuild" / "cache", c
    # `xbuild plan` names the very dir the build used, and the variables it set.
    assert planned["cache"]["dir"] == c["dir"], (planned["cache"], c)
    assert planned["env"]["CCACHE_DIR"] == c["dir"] + "/ccache", planned["env"]
    # Masquerade links to the host's ccache as the rootfs sees it (they dangle on the host).
    assert os.readlink(Path(c["dir"]) / "bin" / "gcc") == CCACHE_INSIDE
    cold_bytes = output(project, binary).read_bytes()

    wipe_build_state(project)
    warm = build(xbuild, project, *flags, env_extra=env_extra)
    w = warm["cache"]
    assert w["dir"] == c["dir"], (w, c)
    assert (w["hits"], w["misses"]) == (compiles, 0), w
    assert w["hit_rate"] == 1.0, w
    assert output(project, binary).read_bytes() == cold_bytes, f"the warm build's {binary} differs from the cold one's"
    assert_runs_on_aarch64(output(project, binary))
    return cold, warm


def test_plain_emulated_rebuild_hits_ccache_in_the_rootfs_which_stays_unchanged(xbuild, project_copy, arm64_rootfs):
    project = project_copy("c-make")
    before = tree_digest(arm64_rootfs)
    # An accelerated build first: its cache is another one than the plain build's below.
    accelerated = build(xbuild, project)
    assert accelerated["strategy"] == "emulate" and accelerated["cache"]["misses"] == 2, accelerated
    wipe_build_state(project)

    cold, warm = assert_cold_then_warm(xbuild, project, "hello", 2, "--no-accelerate")
    assert not cold["accelerated"] and not warm["accelerated"], cold
    assert cold["cache"]["dir"] != accelerated["cache"]["dir"], "plain and accelerated builds share a cache"
    assert sorted(p.name for p in (project / ".xbuild" / "cache").iterdir()) == sorted(
        Path(r["cache"]["dir"]).name for r in (accelerated, cold))
    # The summary line says it too.
    wipe_build_state(project)
    p = run([xbuild, "-C", project, "build", "--platform", PLATFORM, "--strategy", "emulate", "--no-accelerate",
             "--progress", "plain"], env=env_with(), timeout=1800)
    assert f"{PLATFORM} ok (emulate," in p.stderr and "ccache 2/2 hits)" in p.stderr, p.stderr
    assert tree_digest(arm64_rootfs) == before, "an emulated build with ccache changed the cached rootfs"


def test_accelerated_emulated_rebuild_hits_ccache_in_front_of_the_host_cross_gcc(xbuild, tmp_path, arm64_rootfs):
    project = make_multi_file_project(tmp_path / "many")
    log = project / "accel.log"  # written by the accelerated wrappers from inside the rootfs
    cold, warm = assert_cold_then_warm(xbuild, project, "many", N_SOURCES + 1, env_extra={"XBUILD_ACCEL_LOG": log})
    assert cold["strategy"] == "emulate" and cold["accelerated"] and warm["accelerated"], cold
    calls = log.read_text().splitlines()
    compiles = [line for line in calls if " -c " in line]
    links = [line for line in calls if " -c " not in line and " -E " not in line and " -o " in line]
    # ccache ran the host's cross gcc (through the rootfs's gcc wrapper) once per file, cold only:
    # the warm build linked, and compiled nothing.
    assert len(compiles) == N_SOURCES + 1 and all(line.startswith("gcc -> aarch64-linux-gnu-gcc-") for line in compiles), calls
    assert len(links) == 2, calls


def test_no_cache_uses_none_for_an_emulated_build(xbuild, project_copy, arm64_rootfs):
    project = project_copy("c-make")
    planned = plan(xbuild, project, "--no-cache")
    assert planned["cache"]["kind"] == "none" and planned["cache"]["dir"] is None, planned["cache"]
    assert "CCACHE_DIR" not in planned["env"], planned["env"]
    built = build(xbuild, project, "--no-cache")
    assert "cache" not in built, built
    assert not (project / ".xbuild" / "cache").exists(), "an uncached emulated build created a cache dir"
    assert_runs_on_aarch64(output(project, "hello"))
