"""Children die with xbuild: kill -9 of xbuild during a build leaves nothing of the build
running or writing; a daemon a build starts with setsid is ended with its job (cgroups); a
job is over when its command exits, whatever still holds its output; and SIGINT to the
process group or SIGTERM to xbuild alone during `xbuild rootfs create` leave nothing
running, nothing mounted and no half-made rootfs.

Every check looks at /proc (processes, their argv, environment, cwd and open files) and
/proc/mounts, never at what xbuild says about itself. Waits poll with a generous bound; no
test measures how long anything took."""
import os
import signal
import socket
import subprocess
import threading
import time
from pathlib import Path

import pytest

from conftest import live_argvs, need, run, wait_until_empty

HOST = "linux/amd64" if os.uname().machine == "x86_64" else "linux/arm64"


def cgroups_expected() -> bool:
    """cgroup v2 mounted and we are root: then xbuild must use it (else the fallback is a bug)."""
    mounted = any(" - cgroup2 " in l for l in Path("/proc/self/mountinfo").read_text().splitlines())
    return mounted and os.geteuid() == 0


def processes_touching(path: Path) -> list:
    """Live processes whose argv, environment, cwd, root or an open file mentions `path`."""
    needle = str(path).encode()
    found = []
    for pid, argv in live_argvs():
        proc = Path(f"/proc/{pid}")
        hit = any(needle in a for a in argv)
        try:
            hit = hit or needle in (proc / "environ").read_bytes()
        except OSError:
            pass
        for link in ("cwd", "root"):
            try:
                hit = hit or os.readlink(proc / link).encode().startswith(needle)
            except OSError:
                pass
        try:
            for fd in (proc / "fd").iterdir():
                try:
                    hit = hit or os.readlink(fd).encode().startswith(needle)
                except OSError:
                    pass
        except OSError:
            pass
        if hit:
            try:
                state = (proc / "stat").read_text().rsplit(")", 1)[1].split()[0]
            except (OSError, IndexError):
                continue
            if state != "Z":  # a zombie runs nothing and holds nothing
                found.append(f"{pid}: {b' '.join(argv).decode(errors='replace')[:200]}")
    return found


def wait_for(cond, what: str, tries=1200):
    for _ in range(tries):
        if cond():
            return
        time.sleep(0.1)
    raise AssertionError(f"gave up waiting for {what}")


def write_project(dir: Path, build: str) -> Path:
    dir.mkdir(parents=True, exist_ok=True)
    (dir / "xbuild.toml").write_text(
        f'name = "lifecycle"\nplatforms = ["{HOST}"]\nbuild = """\n{build}\n"""\noutputs = ["done"]\n')
    return dir


def env_with(**extra) -> dict:
    e = dict(os.environ)
    e.pop("XBUILD_NO_CGROUPS", None)
    e.update({k: str(v) for k, v in extra.items()})
    return e


def xbuild_cgroups(pid: int):
    """The run cgroups of the xbuild with this pid that exist now, wherever cgroup2 is mounted."""
    found = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        if " - cgroup2 " in line:
            found += [str(p) for p in Path(line.split()[4]).rglob(f"xbuild-{pid}-*") if p.is_dir()]
    return found


@pytest.mark.parametrize("cgroups", ["on", "off"])
def test_kill_9_of_xbuild_leaves_nothing_running_or_writing(xbuild, tmp_path, cgroups):
    """With cgroups the build's setsid daemon goes too; without them (XBUILD_NO_CGROUPS=1, the
    fallback) the watchdog still ends every process group of the build."""
    proj = tmp_path / "p"
    out = proj / ".xbuild" / "out" / HOST.replace("/", "_")
    daemon = ""
    if cgroups == "on":
        daemon = "setsid sh -c 'while :; do echo d >> {out}/daemon; sleep 0.1; done' </dev/null >/dev/null 2>&1 &"
    # The first tick is written before `tail -f` starts: tail exits at once on a missing file,
    # which ended the build (and the test's wait) whenever the loop lost that race.
    write_project(proj, f"""
echo tick >> {{out}}/tick
( while :; do echo tick >> {{out}}/tick; sleep 0.1; done ) &
{daemon}
echo build-started
tail -f {{out}}/tick > /dev/null
""")
    env = env_with() if cgroups == "on" else env_with(XBUILD_NO_CGROUPS=1)
    if cgroups == "on" and not cgroups_expected():
        pytest.fail("this machine has no usable cgroup v2 (mounted and root): the cgroup variant cannot run here")
    proc = subprocess.Popen([xbuild, "-C", proj, "-v", "build"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=env)
    for line in proc.stdout:
        if "build-started" in line:
            break
    wait_for(lambda: (out / "tick").exists() and (cgroups == "off" or (out / "daemon").exists()), "the build to write")
    assert processes_touching(out), "the build should be running now"
    proc.kill()
    assert proc.wait(timeout=60) == -signal.SIGKILL
    assert wait_until_empty(lambda: processes_touching(proj)) == []
    # Nothing has the out dir open or as its cwd, so nothing writes there any more.
    sizes = {p.name: p.stat().st_size for p in out.iterdir()}
    assert processes_touching(out) == []
    assert {p.name: p.stat().st_size for p in out.iterdir()} == sizes
    assert wait_until_empty(lambda: xbuild_cgroups(proc.pid)) == []


def test_setsid_daemon_is_killed_when_its_job_ends(xbuild, tmp_path):
    proj = write_project(tmp_path / "p", """
setsid sh -c 'while :; do sleep 1; done; : {out}' </dev/null >/dev/null 2>&1 &
touch {out}/done
""")
    proc = subprocess.Popen([xbuild, "-C", proj, "-v", "build"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=env_with())
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err
    out = proj / ".xbuild" / "out" / HOST.replace("/", "_")
    if cgroups_expected():
        assert "own cgroup" in err, err
        # xbuild returned: the daemon must already be gone (no waiting for it here).
        assert processes_touching(out) == []
        assert xbuild_cgroups(proc.pid) == []
    else:
        assert "process group only" in err, err
        left = processes_touching(out)
        assert left, "without cgroups a setsid daemon survives its job (the documented limit)"
        for entry in left:
            os.kill(int(entry.split(":")[0]), signal.SIGKILL)


def test_fallback_without_cgroups_is_said_under_v(xbuild, tmp_path):
    proj = write_project(tmp_path / "p", "touch {out}/done")
    p = run([xbuild, "-C", proj, "-v", "build"], env=env_with(XBUILD_NO_CGROUPS=1))
    assert "jobs are isolated by process group only" in p.stderr
    assert "XBUILD_NO_CGROUPS" in p.stderr


def test_job_ends_when_its_command_exits_though_a_child_holds_the_pipe(xbuild, tmp_path):
    # The tail holds the pipe but prints nothing (-q, stderr away): its header or complaint
    # would land between the lines checked below whenever it ran late.
    proj = write_project(tmp_path / "p", """
tail -q -f /dev/null {out}/done 2>/dev/null &
echo '  indented'
echo
echo last
exit 7
""")
    # Were the job waiting for EOF on its output, the tail would hold it until this timeout.
    p = run([xbuild, "-C", proj, "build"], check=False, timeout=300)
    assert p.returncode == 1, p.stderr
    assert "exit 7" in p.stderr
    prefix = f"[{HOST}] "
    assert f"{prefix}  indented\n{prefix}\n{prefix}last\n" in p.stdout, p.stdout
    out = proj / ".xbuild" / "out" / HOST.replace("/", "_")
    assert wait_until_empty(lambda: processes_touching(out)) == []


class StallingMirror:
    """A TCP server on loopback that accepts apt's requests and never answers: mmdebstrap
    then waits in `apt-get update` for as long as the test needs, without any network."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.asked = threading.Event()
        self.conns = []
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            self.conns.append(c)
            self.asked.set()

    def close(self):
        for c in self.conns:
            c.close()
        self.sock.close()


@pytest.mark.parametrize("how", ["SIGINT to the process group", "SIGTERM to xbuild alone"])
def test_signal_during_rootfs_create_leaves_nothing_running_or_mounted(xbuild, tmp_path, how):
    need("mmdebstrap")
    mirror = StallingMirror()
    cache = tmp_path / "cache"
    try:
        proc = subprocess.Popen(
            [xbuild, "rootfs", "create", "--platform", HOST, "--packages", "make", "--suite", "bookworm",
             "--mirror", f"deb http://127.0.0.1:{mirror.port}/debian bookworm main"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
            env=env_with(XBUILD_ROOTFS_CACHE=cache))
        # mmdebstrap has made its target and apt is waiting on the mirror.
        wait_for(lambda: mirror.asked.is_set() or proc.poll() is not None, "apt to ask the mirror")
        assert proc.poll() is None, proc.communicate()
        assert processes_touching(cache), "mmdebstrap should be running now"
        if how.startswith("SIGINT"):
            os.killpg(proc.pid, signal.SIGINT)
        else:
            proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=300)
        assert proc.returncode == 130, err
        assert "interrupted by SIG" in err
        assert wait_until_empty(lambda: processes_touching(cache)) == []
        mounts = [l for l in Path("/proc/mounts").read_text().splitlines() if str(cache) in l]
        assert mounts == []
        # No half-made rootfs: only the lock file is left.
        assert sorted(p.name for p in cache.iterdir() if not p.name.endswith(".lock")) == []
    finally:
        mirror.close()
