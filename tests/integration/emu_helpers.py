"""Helpers shared by the emulation, doctor, run and bench tests: the cached arm64 rootfs
(created with mmdebstrap once per machine, reused after), fake binfmt_misc directories for
the XBUILD_BINFMT_DIR override, and small custom projects."""
import os
import re
from pathlib import Path

from conftest import live_argvs, need, run

ROOTFS_PACKAGES = "gcc,make,libc6-dev"
ARM64_MAGIC = "7f454c460201010000000000000000000200b700"
ARM64_MASK = "ffffffffffffff00fffffffffffffffffeffffff"


def rootfs_for(xbuild, platform="linux/arm64") -> Path:
    """The machine's cached rootfs for `platform` (created now when missing: 1-3 minutes)."""
    need("mmdebstrap")
    need("arch-test")
    p = run([xbuild, "rootfs", "create", "--platform", platform, "--packages", ROOTFS_PACKAGES], timeout=1800)
    path = Path(p.stdout.strip())
    assert (path / "usr/bin/gcc").exists() or (path / "usr/bin/gcc").is_symlink(), f"{path} has no gcc"
    return path


def fake_binfmt(dir: Path, flags="PF", interpreter="/usr/libexec/qemu-binfmt/aarch64-binfmt-P", enabled=True,
                mounted=True) -> Path:
    """A binfmt_misc look-alike for XBUILD_BINFMT_DIR."""
    dir.mkdir(parents=True, exist_ok=True)
    if mounted:
        (dir / "status").write_text("enabled\n")
        (dir / "qemu-aarch64").write_text(
            f"{'enabled' if enabled else 'disabled'}\ninterpreter {interpreter}\nflags: {flags}\noffset 0\n"
            f"magic {ARM64_MAGIC}\nmask {ARM64_MASK}\n")
    return dir


def env_with(**extra) -> dict:
    e = dict(os.environ)
    e.pop("XBUILD_BINFMT_DIR", None)
    e.pop("XBUILD_ROOTFS", None)
    e.update({k: str(v) for k, v in extra.items()})
    return e


def write_project(dir: Path, toml: str, files: dict = None) -> Path:
    dir.mkdir(parents=True, exist_ok=True)
    (dir / "xbuild.toml").write_text(toml)
    for name, text in (files or {}).items():
        (dir / name).write_text(text)
    return dir


def host_mounts_under(path: Path) -> list:
    """Mount points of this (the host's) mount namespace at or below `path`."""
    prefix = str(path)
    out = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        mp = line.split()[4]
        if mp == prefix or mp.startswith(prefix + "/"):
            out.append(mp)
    return out


def file_says(path: Path) -> str:
    need("file")
    return run(["file", "-b", path]).stdout


def processes_matching(pattern: str) -> list:
    """Command lines of live processes matching the regex (not counting this test's own)."""
    rx = re.compile(pattern)
    found = []
    for pid, argv in live_argvs():
        cmd = b" ".join(argv).decode(errors="replace")
        if rx.search(cmd):
            found.append(f"{pid}: {cmd}")
    return found
