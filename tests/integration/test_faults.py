"""Filesystem faults, made real: a full disk is a small tmpfs mounted for the test (as root),
used as the --output destination and as an existing layout written in place; a signal
during the export phase is a real SIGINT/SIGTERM once xbuild's stage dir has appeared; an
interrupted `xbuild rootfs create` is a real mmdebstrap run, signalled once it has mounted
/proc under the cache.

Every check looks at what is on disk, at /proc/self/mountinfo and at /proc (processes),
and at the tools xbuild did not write (skopeo), never at what xbuild says about itself
beyond its exit code and message. Waits poll with a generous bound; nothing is timed."""
import os
import re
import signal
import subprocess
import time
from pathlib import Path

import pytest

from conftest import need, run, wait_until_empty
from test_lifecycle import HOST, env_with, processes_touching, wait_for

# What xbuild's temps are called: TempFile/TempDirectory names end in <tag>-<pid>.XXXXXX.
TEMP_NAME = re.compile(r"\.(tmp|xbuild|layout)-\d+\.[A-Za-z0-9]{6}$")


def write_project(dir: Path, size: int, name: str = "faults") -> Path:
    """A host project whose one output is `size` random bytes (incompressible, so gzip too
    needs the space)."""
    dir.mkdir(parents=True, exist_ok=True)
    (dir / "xbuild.toml").write_text(
        f'name = "{name}"\nplatforms = ["{HOST}"]\n'
        f'build = """\nhead -c {size} /dev/urandom > {{out}}/big\n"""\noutputs = ["big"]\n')
    return dir


def temps_in(root: Path) -> list:
    """Every entry under `root` named like an xbuild temp."""
    found = []
    for dirpath, dirnames, filenames in os.walk(root):
        found += [os.path.join(dirpath, n) for n in dirnames + filenames if TEMP_NAME.search(n)]
    return found


def bytes_in(root: Path) -> int:
    return sum(os.lstat(os.path.join(d, f)).st_size for d, _, fs in os.walk(root) for f in fs)


def mount_points_under(path: Path) -> list:
    """Mount points at or below `path`, from /proc/self/mountinfo (field 5)."""
    base = str(path)
    points = [l.split()[4] for l in Path("/proc/self/mountinfo").read_text().splitlines()]
    return [p for p in points if p == base or p.startswith(base + "/")]


class SmallDisk:
    """A tmpfs of `size` mounted at `dir` for the test; unmounted in close()."""

    def __init__(self, dir: Path, size: str):
        assert os.geteuid() == 0, "the full-disk tests mount a tmpfs and must run as root"
        self.dir = dir
        dir.mkdir(parents=True, exist_ok=True)
        run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", dir])

    def close(self):
        run(["umount", self.dir])


@pytest.fixture
def small_disk(tmp_path):
    disk = SmallDisk(tmp_path / "disk", "4m")
    try:
        yield disk.dir
    finally:
        disk.close()


def assert_clean_enospc(p, dest: Path):
    assert p.returncode == 3, p.stderr
    assert "terminate called" not in p.stderr
    assert "xbuild: error:" in p.stderr
    assert "no space left" in p.stderr.lower(), p.stderr
    assert str(dest) in p.stderr, p.stderr


@pytest.mark.parametrize("kind,compression", [("oci", "gzip"), ("oci", "none"), ("oci-archive", "gzip"),
                                              ("oci-archive", "none"), ("local", "gzip")])
def test_full_disk_during_export_is_a_clean_error_and_leaves_nothing(xbuild, tmp_path, small_disk, kind, compression):
    proj = write_project(tmp_path / "p", 8_000_000)
    dest = small_disk / {"oci": "img", "oci-archive": "img.tar", "local": "files"}[kind]
    p = run([xbuild, "-C", proj, "build", "--progress", "plain", "--compression", compression,
             "-o", f"type={kind},dest={dest}"], check=False)
    assert_clean_enospc(p, dest)
    assert temps_in(small_disk) == []
    # Nothing half-written: no layout, no archive, no platform directory, and the space is free again.
    assert not (small_disk / "img").exists()
    assert not (small_disk / "img.tar").exists()
    assert not (small_disk / "files" / HOST.replace("/", "_")).exists()
    assert bytes_in(small_disk) == 0


def test_full_disk_writing_into_an_existing_layout_keeps_it_valid(xbuild, tmp_path, small_disk):
    need("skopeo")
    dest = small_disk / "layout"
    small = write_project(tmp_path / "small", 1000, name="small")
    run([xbuild, "-C", small, "build", "--progress", "plain", "-t", "small:1", "-o", f"type=oci,dest={dest}"])
    before = (dest / "index.json").read_bytes()
    big = write_project(tmp_path / "big", 8_000_000, name="big")
    p = run([xbuild, "-C", big, "build", "--progress", "plain", "-t", "big:1", "-o", f"type=oci,dest={dest}"], check=False)
    assert_clean_enospc(p, dest)
    assert temps_in(small_disk) == []
    assert (dest / "index.json").read_bytes() == before
    inspected = run(["skopeo", "inspect", "--raw", f"oci:{dest}:1"])
    assert '"manifests"' in inspected.stdout or '"layers"' in inspected.stdout


def start_build_and_wait_for_export(xbuild, proj: Path, out_dir: Path, output: str):
    """Starts a build and returns once xbuild's stage (a hidden temp beside the destination)
    exists, i.e. the builds are over and the export is writing."""
    proc = subprocess.Popen([str(xbuild), "-C", str(proj), "build", "--progress", "plain", "-o", output],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    wait_for(lambda: temps_in(out_dir) or proc.poll() is not None, "the export to start", tries=6000)
    assert proc.poll() is None, proc.communicate()
    return proc


@pytest.mark.parametrize("sig,kind", [(signal.SIGINT, "oci"), (signal.SIGTERM, "oci"), (signal.SIGTERM, "oci-archive")])
def test_signal_during_export_exits_130_and_removes_the_stage(xbuild, tmp_path, sig, kind):
    # 200 MB of random bytes: gzip needs a while for them, so the signal lands mid-export.
    proj = write_project(tmp_path / "p", 200_000_000)
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    dest = out_dir / ("img" if kind == "oci" else "img.tar")
    proc = start_build_and_wait_for_export(xbuild, proj, out_dir, f"type={kind},dest={dest}")
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=600)
    assert proc.returncode == 130, err
    assert f"interrupted by {sig.name}" in err, err
    assert "terminate called" not in err
    assert sorted(p.name for p in out_dir.iterdir()) == []
    # The runtime-library scratch in $TMPDIR went too.
    assert [p for p in Path(os.environ.get("TMPDIR", "/tmp")).glob(f"xbuild-runtime-{proc.pid}.*")] == []


def test_signal_during_rootfs_create_stops_mmdebstrap_and_a_killed_runs_leftover_goes_next_time(xbuild, tmp_path):
    """SIGTERM to xbuild alone (a CI cancel) once mmdebstrap has mounted /proc under the cache:
    mmdebstrap is stopped, nothing stays mounted, nothing is left. Then kill -9 of xbuild in
    the same state: its mmdebstrap still unmounts, and the next run removes the leftover temp."""
    need("mmdebstrap")
    cache = tmp_path / "cache"
    argv = [xbuild, "rootfs", "create", "--platform", HOST, "--packages", "make", "--suite", "bookworm"]

    def start():
        proc = subprocess.Popen([str(a) for a in argv], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                env=env_with(XBUILD_ROOTFS_CACHE=cache))
        wait_for(lambda: any(m.endswith("/rootfs/proc") for m in mount_points_under(cache)) or proc.poll() is not None,
                 "mmdebstrap to mount /proc under the cache", tries=12000)
        assert proc.poll() is None, proc.communicate()
        return proc

    proc = start()
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=600)
    assert proc.returncode == 130, err
    assert "interrupted by SIGTERM" in err
    assert wait_until_empty(lambda: processes_touching(cache)) == []
    assert mount_points_under(cache) == []
    assert sorted(p.name for p in cache.iterdir() if not p.name.endswith(".lock")) == []

    proc = start()
    proc.kill()
    proc.communicate()
    # mmdebstrap gets SIGTERM when xbuild dies (its death signal) and unmounts on its own.
    assert wait_until_empty(lambda: processes_touching(cache), tries=3000) == []
    assert mount_points_under(cache) == []
    leftover = [p for p in cache.iterdir() if TEMP_NAME.search(p.name)]
    assert len(leftover) == 1 and f".tmp-{proc.pid}." in leftover[0].name, leftover
    # The next run (here one that fails fast: its mirror refuses connections) removes it.
    p = run(argv + ["--mirror", "deb http://127.0.0.1:1/debian bookworm main"], check=False,
            env=env_with(XBUILD_ROOTFS_CACHE=cache))
    assert p.returncode == 3, p.stderr
    assert sorted(p.name for p in cache.iterdir() if not p.name.endswith(".lock")) == []


def dead_pid() -> int:
    child = subprocess.Popen(["true"])
    child.wait()
    return child.pid


def test_next_run_detaches_what_a_dead_run_left_mounted_and_keeps_the_host_files(xbuild, tmp_path):
    """A leftover temp of a dead xbuild with a host directory still bound inside it (what a
    killed mmdebstrap leaves at dev/shm): the next run detaches the mount and removes the
    temp, and the host directory's files are untouched. A live run's temp and other
    entries stay."""
    assert os.geteuid() == 0, "this test bind-mounts a directory and must run as root"
    need("mmdebstrap")
    cache = tmp_path / "cache"
    cache.mkdir()
    host = tmp_path / "host-shm"
    host.mkdir()
    (host / "precious").write_text("keep")
    stale = cache / f".linux_amd64-bookworm-000000000000.tmp-{dead_pid()}.Ab12Cd"
    (stale / "rootfs" / "dev" / "shm").mkdir(parents=True)
    (stale / "rootfs" / "etc").mkdir()
    (stale / "rootfs" / "etc" / "half").write_text("x" * 1000)
    live = cache / f".linux_amd64-bookworm-111111111111.tmp-{os.getpid()}.Zz9Yy8"
    live.mkdir()
    other = cache / "not-ours.tmp-1.abcdef"
    other.mkdir()
    mounted = stale / "rootfs" / "dev" / "shm"
    run(["mount", "--bind", host, mounted])
    try:
        assert mount_points_under(stale) == [str(mounted)]
        p = run([xbuild, "rootfs", "create", "--platform", HOST, "--packages", "make", "--suite", "bookworm",
                 "--mirror", "deb http://127.0.0.1:1/debian bookworm main"], check=False,
                env=env_with(XBUILD_ROOTFS_CACHE=cache))
        assert p.returncode == 3, p.stderr
        assert mount_points_under(cache) == []
        assert not stale.exists()
        assert live.is_dir() and other.is_dir()
        assert (host / "precious").read_text() == "keep"
    finally:
        if mount_points_under(stale):
            run(["umount", "-l", mounted])
