"""Shared fixtures for the integration tests: the xbuild binary, the example projects, and
a helper that runs a command and returns its result. Every test runs real tools; a tool
that is missing is a failure (run scripts/setup.sh), never a quiet skip."""
import os
import shutil
import subprocess
import time
from contextlib import contextmanager
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PROJECTS = REPO / "tests" / "projects"


def xbuild_bin() -> Path:
    return Path(os.environ.get("XBUILD_BIN", REPO / "build" / "xbuild")).resolve()


@pytest.fixture(scope="session")
def xbuild():
    b = xbuild_bin()
    assert b.exists(), f"{b} not built: run meson setup build && ninja -C build"
    return b


def need(tool: str) -> str:
    path = shutil.which(tool)
    assert path, f"required tool '{tool}' is not installed: run scripts/setup.sh"
    return path


def run(args, check=True, **kw):
    """Runs argv (no shell), captures text output, and on unexpected failure shows it."""
    kw.setdefault("capture_output", True)
    kw.setdefault("text", True)
    kw.setdefault("timeout", 900)
    p = subprocess.run([str(a) for a in args], **kw)
    if check and p.returncode != 0:
        raise AssertionError(f"{args} exited {p.returncode}\nstdout:\n{p.stdout}\nstderr:\n{p.stderr}")
    return p


@contextmanager
def read_only(dir: Path):
    """`dir` as a read-only bind mount of itself (root ignores modes, so chmod would not do)."""
    dir.mkdir(parents=True, exist_ok=True)
    run(["mount", "--bind", "-o", "ro", dir, dir])
    try:
        yield dir
    finally:
        run(["umount", dir])


@pytest.fixture
def project_copy(tmp_path):
    """Copies an example project into a fresh temp dir (so builds never touch the tree)."""
    def copy(name: str) -> Path:
        dst = tmp_path / name
        shutil.copytree(PROJECTS / name, dst, ignore=shutil.ignore_patterns(".xbuild"))
        return dst
    return copy


def live_argvs():
    """(pid, argv as a list of bytes) of every process that can be read, this one excluded."""
    for d in Path("/proc").iterdir():
        if not d.name.isdigit() or int(d.name) == os.getpid():
            continue
        try:
            argv = (d / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        yield int(d.name), argv


def wait_until_empty(probe, tries=300):
    """Polls `probe()` every 0.1 s until it returns nothing (30 s at most); returns what it last saw."""
    for _ in range(tries):
        left = probe()
        if not left:
            return left
        time.sleep(0.1)
    return probe()
