"""Runner strategy against a real OpenSSH server: a private sshd on a free loopback port
(own host key, own authorized key, own config), and builds dispatched to it with
`--strategy PLATFORM=runner`. The binary that comes back is checked with `file` and run;
the runner's workdir is inspected directly; connection and key errors, a failing remote
build and Ctrl-C are exercised for real. The test key lives in a directory whose name has
a space and a quote, so ssh -i and rsync -e see an awkward path every time."""
import json
import os
import shutil
import platform as py_platform
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest

from conftest import live_argvs, need, run, wait_until_empty

HOST_MACHINE = py_platform.machine()  # what uname -m says here
HOST_PLATFORM = {"x86_64": "linux/amd64", "aarch64": "linux/arm64", "riscv64": "linux/riscv64"}[HOST_MACHINE]
HOST_SLUG = HOST_PLATFORM.replace("/", "_")
FILE_SAYS = {"x86_64": "x86-64", "aarch64": "ARM aarch64", "riscv64": "RISC-V"}[HOST_MACHINE]
OTHER_PLATFORM = "linux/arm64" if HOST_PLATFORM != "linux/arm64" else "linux/amd64"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def keygen(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    run([need("ssh-keygen"), "-q", "-t", "ed25519", "-N", "", "-C", "xbuild-test", "-f", path])
    return path


class Sshd:
    def __init__(self, root: Path):
        self.root = root
        self.port = free_port()
        self.key = keygen(root / "it's a key" / "id_test")
        self.other_key = keygen(root / "keys" / "not_authorized")
        self.workdir = root / "runner-work"
        host_key = keygen(root / "sshd" / "host_ed25519")
        authorized = root / "sshd" / "authorized_keys"
        authorized.write_text(Path(str(self.key) + ".pub").read_text())
        self.config = root / "sshd" / "sshd_config"
        self.config.write_text("\n".join([
            f"Port {self.port}",
            "ListenAddress 127.0.0.1",
            f"HostKey {host_key}",
            f"AuthorizedKeysFile {authorized}",
            f"PidFile {root / 'sshd' / 'sshd.pid'}",
            "UsePAM no",
            "PermitRootLogin prohibit-password",
            "PasswordAuthentication no",
            "KbdInteractiveAuthentication no",
            "StrictModes no",
            "",
        ]))
        Path("/run/sshd").mkdir(exist_ok=True)  # sshd's privilege separation directory
        self.log = open(root / "sshd" / "sshd.log", "w")
        self.proc = subprocess.Popen([need("/usr/sbin/sshd"), "-D", "-e", "-f", self.config],
                                     stdout=self.log, stderr=subprocess.STDOUT)
        for _ in range(100):
            assert self.proc.poll() is None, f"sshd exited: {(root / 'sshd' / 'sshd.log').read_text()}"
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.1)
        else:
            raise AssertionError(f"sshd never listened on {self.port}")

    def stop(self):
        self.proc.terminate()
        self.proc.wait(timeout=10)
        self.log.close()


@pytest.fixture(scope="module")
def sshd(tmp_path_factory):
    need("ssh")
    need("rsync")
    d = Sshd(tmp_path_factory.mktemp("sshd"))
    yield d
    d.stop()


def add_runner(proj: Path, sshd: Sshd, platform=HOST_PLATFORM, port=None, identity=None, workdir=None):
    with open(proj / "xbuild.toml", "a") as f:
        f.write(f"""
[[runner]]
platform = "{platform}"
host = "root@127.0.0.1"
port = {port or sshd.port}
identity = {json.dumps(str(identity or sshd.key))}
workdir = {json.dumps(str(workdir or sshd.workdir))}
""")


def write_project(proj: Path, build: str, outputs='["x"]'):
    proj.mkdir(parents=True)
    (proj / "xbuild.toml").write_text(f'name = "t"\nlanguage = "c"\nbuild = {json.dumps(build)}\noutputs = {outputs}\n')


def on_runner(sshd: Sshd, local: Path) -> Path:
    return sshd.workdir / str(local).lstrip("/")


def build(xbuild, proj, platform=HOST_PLATFORM, check=True, env=None, **kw):
    e = dict(os.environ)
    e.update(env or {})
    return run([xbuild, "-C", proj, "build", "--platform", platform, "--strategy", f"{platform}=runner"],
               check=check, env=e, **kw)


@pytest.mark.parametrize("sync", ["rsync", "tar"])
def test_c_make_builds_on_the_runner_and_the_binary_comes_back(xbuild, sshd, project_copy, sync):
    need("file")
    proj = project_copy("c-make")
    add_runner(proj, sshd)
    # Things that must never be shipped.
    (proj / ".xbuild").mkdir(exist_ok=True)
    (proj / ".xbuild" / "local-only-marker").write_text("state\n")
    (proj / ".git").mkdir()
    (proj / ".git" / "HEAD").write_text("ref: refs/heads/main\n")
    (proj / "doomed.txt").write_text("deleted before the second build\n")
    odd = "odd name \\ 'q' $x.txt"  # kept by both ship methods, whatever its characters
    (proj / "sub dir").mkdir()
    (proj / "sub dir" / odd).write_text("odd\n")

    p = build(xbuild, proj, env={"XBUILD_RUNNER_SYNC": sync})
    assert f"({sync})" in p.stdout, p.stdout
    assert f"[{HOST_PLATFORM}]" in p.stdout and "make" in p.stdout  # the remote build's output streamed back

    binary = proj / ".xbuild" / "out" / HOST_SLUG / "hello"
    assert binary.exists(), p.stdout + p.stderr
    assert FILE_SAYS in run(["file", "-b", binary]).stdout
    assert f"built for {HOST_MACHINE}" in run([binary]).stdout

    remote_src = on_runner(sshd, proj)
    for name in ["Makefile", "main.c", "arch.c", "arch.h", "xbuild.toml", "doomed.txt"]:
        assert (remote_src / name).read_bytes() == (proj / name).read_bytes(), name
    assert not (remote_src / ".git").exists()
    assert not (remote_src / ".xbuild" / "local-only-marker").exists()
    # The remote build really compiled there.
    assert (on_runner(sshd, proj / ".xbuild" / "build" / HOST_SLUG) / "main.o").exists()

    # A repeat build mirrors the tree: a deleted file disappears on the runner too.
    (proj / "doomed.txt").unlink()
    (proj / "added.txt").write_text("new\n")
    build(xbuild, proj, env={"XBUILD_RUNNER_SYNC": sync})
    assert not (remote_src / "doomed.txt").exists()
    assert (remote_src / "added.txt").read_text() == "new\n"
    assert (remote_src / "sub dir" / odd).read_text() == "odd\n"
    assert f"built for {HOST_MACHINE}" in run([binary]).stdout


def test_outputs_are_replaced_not_merged(xbuild, sshd, tmp_path):
    proj = tmp_path / "outs"
    write_project(proj, 'echo "$TARGETPLATFORM $CC" > {out}/x; [ -f first ] && touch {out}/second-only || touch {out}/first-only')
    add_runner(proj, sshd)
    (proj / "first").write_text("")
    build(xbuild, proj)
    out = proj / ".xbuild" / "out" / HOST_SLUG
    assert (out / "x").read_text() == f"{HOST_PLATFORM} gcc\n"  # plan.env is exported on the runner
    assert sorted(os.listdir(out)) == ["second-only", "x"]
    (proj / "first").unlink()
    build(xbuild, proj)
    assert sorted(os.listdir(out)) == ["first-only", "x"]


def test_cmake_toolchain_file_reaches_the_runner(xbuild, sshd, project_copy):
    need("cmake")
    proj = project_copy("cxx-cmake")
    add_runner(proj, sshd)
    p = build(xbuild, proj)
    binary = proj / ".xbuild" / "out" / HOST_SLUG / "hello"
    assert f"built for {HOST_MACHINE}" in run([binary]).stdout, p.stdout
    remote_toolchain = on_runner(sshd, proj / ".xbuild" / "toolchain" / f"{HOST_SLUG}.cmake")
    assert remote_toolchain.read_text() == (proj / ".xbuild" / "toolchain" / f"{HOST_SLUG}.cmake").read_text()


def test_failing_remote_build_gives_its_exit_code_and_log(xbuild, sshd, tmp_path):
    proj = tmp_path / "fails"
    write_project(proj, "echo remote-says-it-broke >&2; exit 7")
    add_runner(proj, sshd)
    p = build(xbuild, proj, check=False)
    assert p.returncode == 1, p.stderr
    assert "exit 7" in p.stderr + p.stdout
    assert "remote-says-it-broke" in p.stdout
    log = proj / ".xbuild" / "logs" / f"{HOST_SLUG}.log"
    text = log.read_text()
    assert "remote-says-it-broke" in text and "exit 7" in text


def test_wrong_port_is_a_clear_environment_error(xbuild, sshd, tmp_path):
    proj = tmp_path / "port"
    write_project(proj, "true")
    dead = free_port()
    add_runner(proj, sshd, port=dead)
    p = build(xbuild, proj, check=False)
    assert p.returncode == 3, p.stderr
    assert f"127.0.0.1:{dead}" in p.stderr
    assert str(proj / "xbuild.toml") in p.stderr
    assert "Connection refused" in p.stderr and "'port'" in p.stderr


def test_wrong_key_is_a_clear_environment_error(xbuild, sshd, tmp_path):
    proj = tmp_path / "key"
    write_project(proj, "true")
    add_runner(proj, sshd, identity=sshd.other_key)
    p = build(xbuild, proj, check=False)
    assert p.returncode == 3, p.stderr
    assert f"127.0.0.1:{sshd.port}" in p.stderr and str(proj / "xbuild.toml") in p.stderr
    assert "Permission denied" in p.stderr
    assert f"{sshd.other_key}.pub" in p.stderr and "authorized_keys" in p.stderr


def test_missing_key_file_is_named(xbuild, sshd, tmp_path):
    proj = tmp_path / "nokey"
    write_project(proj, "true")
    add_runner(proj, sshd, identity=tmp_path / "no-such-key")
    p = build(xbuild, proj, check=False)
    assert p.returncode == 3, p.stderr
    assert str(tmp_path / "no-such-key") in p.stderr and "ssh-keygen" in p.stderr


def test_changed_host_key_is_refused_with_the_fix(xbuild, sshd, tmp_path):
    proj = tmp_path / "hostkey"
    write_project(proj, "true")
    add_runner(proj, sshd)
    known = proj / ".xbuild" / "runner" / "known_hosts"
    known.parent.mkdir(parents=True)
    impostor = Path(str(sshd.other_key) + ".pub").read_text().split()[:2]
    known.write_text(f"[127.0.0.1]:{sshd.port} {' '.join(impostor)}\n")
    p = build(xbuild, proj, check=False)
    assert p.returncode == 3, p.stderr
    assert str(known) in p.stderr and "ssh-keygen -R" in p.stderr


def test_runner_of_another_architecture_is_refused(xbuild, sshd, tmp_path):
    proj = tmp_path / "arch"
    write_project(proj, "true")
    add_runner(proj, sshd, platform=OTHER_PLATFORM)  # this sshd runs on the host's architecture
    p = build(xbuild, proj, platform=OTHER_PLATFORM, check=False)
    assert p.returncode == 3, p.stderr
    assert f"cannot build {OTHER_PLATFORM} natively" in p.stderr and HOST_MACHINE in p.stderr


def test_plan_shows_the_runner_and_remote_paths(xbuild, sshd, project_copy):
    proj = project_copy("c-make")
    add_runner(proj, sshd)
    p = run([xbuild, "-C", proj, "plan", "--platform", HOST_PLATFORM, "--strategy", f"{HOST_PLATFORM}=runner"])
    assert "strategy:  runner" in p.stdout
    assert f"runner:    root@127.0.0.1:{sshd.port}" in p.stdout
    p = run([xbuild, "-C", proj, "plan", "--json", "--platform", HOST_PLATFORM, "--strategy", f"{HOST_PLATFORM}=runner"])
    plat = json.loads(p.stdout)["platforms"][0]
    assert plat["strategy"] == "runner" and plat["runner"] == "root@127.0.0.1"
    assert plat["cwd"] == str(on_runner(sshd, proj))
    assert f"OUT={on_runner(sshd, proj / '.xbuild' / 'out' / HOST_SLUG)}" in plat["command"]


def local_ssh_processes(port: int):
    return [pid for pid, argv in live_argvs()
            if argv and argv[0].endswith((b"ssh", b"rsync")) and str(port).encode() in argv]


def remote_processes_with(marker: str):
    return [pid for pid, argv in live_argvs() if argv and argv[0] != b"" and marker.encode() in argv]


@pytest.mark.parametrize("sig,rc_expected", [(signal.SIGINT, 130), (signal.SIGKILL, -signal.SIGKILL)])
def test_interrupt_leaves_no_ssh_behind_and_stops_the_remote_build(xbuild, sshd, tmp_path, sig, rc_expected):
    """Ctrl-C goes through the scheduler; SIGKILL of xbuild itself reaches __runner-exec as
    its parent-death signal. Either way no local ssh survives and the runner stops the build."""
    proj = tmp_path / "slow"
    marker = "31337"  # `sleep 31337` runs on the runner (this very machine)
    write_project(proj, f"echo remote-build-started; sleep {marker}")
    add_runner(proj, sshd)
    proc = subprocess.Popen([xbuild, "-C", proj, "build", "--platform", HOST_PLATFORM, "--strategy",
                             f"{HOST_PLATFORM}=runner"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    seen = []
    for line in proc.stdout:
        seen.append(line)
        if "remote-build-started" in line:
            break
    assert any("remote-build-started" in l for l in seen), "".join(seen) + proc.stderr.read()
    for _ in range(300):  # the echo comes just before the sleep starts
        if remote_processes_with(marker):
            break
        time.sleep(0.1)
    assert remote_processes_with(marker), "the remote sleep should be running now"
    proc.send_signal(sig)
    rc = proc.wait(timeout=60)
    assert rc == rc_expected, proc.stderr.read()
    # After SIGKILL the helper cleans up on its own, just after xbuild died.
    assert wait_until_empty(lambda: local_ssh_processes(sshd.port)) == []
    # The runner ends the build when the connection drops (poll, no timing assertion).
    assert wait_until_empty(lambda: remote_processes_with(marker)) == []


def test_timeout_kills_the_local_helper_and_the_remote_build(xbuild, sshd, tmp_path):
    proj = tmp_path / "timeout"
    marker = "31338"
    write_project(proj, f"echo remote-build-started; sleep {marker}")
    add_runner(proj, sshd)
    p = run([xbuild, "-C", proj, "build", "--platform", HOST_PLATFORM, "--strategy", f"{HOST_PLATFORM}=runner",
             "--timeout", "5"], check=False)
    assert p.returncode == 1, p.stderr
    assert "timed out after 5s" in p.stderr
    assert local_ssh_processes(sshd.port) == []
    assert wait_until_empty(lambda: remote_processes_with(marker)) == []


def test_doctor_checks_each_runner(xbuild, sshd, tmp_path):
    proj = tmp_path / "d"
    write_project(proj, "true")
    add_runner(proj, sshd)
    p = run([xbuild, "-C", proj, "doctor", "--platform", HOST_PLATFORM])
    assert f"runner root@127.0.0.1:{sshd.port} for {HOST_PLATFORM}" in p.stdout
    assert "reachable, logged in, machine" in p.stdout
    bad = tmp_path / "e"
    write_project(bad, "true")
    add_runner(bad, sshd, port=free_port())
    p = run([xbuild, "-C", bad, "doctor", "--platform", HOST_PLATFORM], check=False)
    assert p.returncode == 3, p.stderr
    assert "FAIL" in p.stdout and "127.0.0.1" in p.stdout


def test_clean_removes_the_remote_build_dir(xbuild, sshd, tmp_path):
    proj = tmp_path / "c"
    write_project(proj, "if [ -e {build}/marker ]; then echo reused > {out}/x; else echo fresh > {out}/x; fi; "
                        "touch {build}/marker")
    add_runner(proj, sshd)
    out = proj / ".xbuild" / "out" / HOST_SLUG / "x"
    build(xbuild, proj)
    assert out.read_text().strip() == "fresh"
    build(xbuild, proj)
    assert out.read_text().strip() == "reused"  # the runner keeps {build} for incremental builds
    run([xbuild, "-C", proj, "build", "--clean", "--platform", HOST_PLATFORM, "--strategy", f"{HOST_PLATFORM}=runner"])
    assert out.read_text().strip() == "fresh"


# --- Shared machines: another local user must not get at the build --------------------------

@pytest.fixture
def other_user():
    """A throwaway local user (removed afterwards): the other user of a shared build host."""
    name = "xbt" + os.urandom(4).hex()
    run([need("useradd"), "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", name])
    try:
        import pwd
        yield pwd.getpwnam(name).pw_uid
    finally:
        run([need("userdel"), name])


@pytest.mark.parametrize("case", ["owned-by-other", "world-writable", "parent-world-writable"])
def test_unsafe_remote_workdir_is_refused(xbuild, sshd, tmp_path, other_user, case):
    proj = tmp_path / "p"
    write_project(proj, "echo built > {out}/x")
    parent = tmp_path / "shared"
    parent.mkdir()
    workdir = parent / "work"
    workdir.mkdir()
    if case == "owned-by-other":
        os.chown(workdir, other_user, other_user)
        os.chmod(workdir, 0o755)
        said = f"it is owned by uid {other_user}, not by the runner user (uid 0)"
    elif case == "world-writable":
        os.chmod(workdir, 0o777)
        said = "it is writable by other users (mode 777)"
    else:
        os.chmod(parent, 0o777)
        os.chmod(workdir, 0o700)
        said = f"{parent} above it is writable by other users and not sticky (mode 777)"
    add_runner(proj, sshd, workdir=workdir)
    p = build(xbuild, proj, check=False)
    assert p.returncode == 3, p.stdout + p.stderr
    assert f"workdir {workdir} is not safe to build in: {said}" in p.stderr, p.stderr
    assert str(proj / "xbuild.toml") in p.stderr and f"127.0.0.1:{sshd.port}" in p.stderr
    assert os.listdir(workdir) == [], "nothing may be shipped into it"


def test_missing_workdir_in_a_sticky_dir_is_made_private(xbuild, sshd, tmp_path, other_user):
    # Like the default /tmp/xbuild-runner: a sticky, world-writable parent is fine, and the
    # workdir is made 0700 by the runner user; one made first by another user is refused.
    sticky = tmp_path / "sticky"
    sticky.mkdir()
    os.chmod(sticky, 0o1777)
    proj = tmp_path / "p"
    write_project(proj, "echo built > {out}/x")
    add_runner(proj, sshd, workdir=sticky / "mine")
    build(xbuild, proj)
    st = (sticky / "mine").stat()
    assert st.st_uid == 0 and (st.st_mode & 0o777) == 0o700
    assert (proj / ".xbuild" / "out" / HOST_SLUG / "x").read_text() == "built\n"

    planted = sticky / "theirs"
    planted.mkdir()
    os.chown(planted, other_user, other_user)
    os.chmod(planted, 0o700)
    proj2 = tmp_path / "p2"
    write_project(proj2, "echo built > {out}/x")
    add_runner(proj2, sshd, workdir=planted)
    p = build(xbuild, proj2, check=False)
    assert p.returncode == 3 and f"owned by uid {other_user}" in p.stderr, p.stderr


SSH_WRAPPER = r"""#!/usr/bin/python3
# Logs every ssh call (and the control socket's directory for the master); with
# XB_FAKE_MASTER set, the master call does not connect: it binds a plain unix socket at the
# ControlPath (owned by another user, or by us) that speaks no ssh, the way a planted one would.
import json, os, socket, stat, sys
args = sys.argv[1:]
cp = next((a.split("=", 1)[1].strip('"') for a in args if a.startswith("ControlPath=")), None)
master = "ControlMaster=yes" in args
rec = {"argv": args, "control_path": cp, "master": master}
if master and cp:
    st = os.stat(os.path.dirname(cp))
    rec.update(dir_uid=st.st_uid, dir_mode=stat.S_IMODE(st.st_mode))
with open(os.environ["XB_SSH_LOG"], "a") as f:
    f.write(json.dumps(rec) + "\n")
fake = os.environ.get("XB_FAKE_MASTER")
if master and fake:
    s = socket.socket(socket.AF_UNIX)
    s.bind(cp)
    s.listen(4)
    if fake == "other-user":
        os.chown(cp, int(os.environ["XB_OTHER_UID"]), -1)
    while True:
        s.accept()[0].close()
os.execv("/usr/bin/ssh", ["ssh"] + args)
"""


def ssh_logged(tmp_path, other_uid=None, fake=None):
    bindir = tmp_path / "bin"
    bindir.mkdir()
    (bindir / "ssh").write_text(SSH_WRAPPER)
    os.chmod(bindir / "ssh", 0o755)
    log = tmp_path / "ssh.log"
    env = {"PATH": f"{bindir}:{os.environ['PATH']}", "XB_SSH_LOG": str(log)}
    if fake:
        env.update(XB_FAKE_MASTER=fake, XB_OTHER_UID=str(other_uid))
    return env, lambda: [json.loads(l) for l in log.read_text().splitlines()]


def test_control_socket_is_in_a_private_dir_and_checked_with_ssh_O_check(xbuild, sshd, tmp_path, other_user):
    # Another user's leftovers that look like a dead xbuild's socket dirs are neither used nor removed.
    planted = [Path(f"/tmp/xbuild-ssh-{pid}.planted{os.urandom(3).hex()}") for pid in (999999, 999998)]
    for d in planted:
        d.mkdir(mode=0o777)
        os.chown(d, other_user, other_user)
    try:
        proj = tmp_path / "p"
        write_project(proj, "echo built > {out}/x")
        add_runner(proj, sshd)
        env, calls = ssh_logged(tmp_path)
        build(xbuild, proj, env=env)
        assert (proj / ".xbuild" / "out" / HOST_SLUG / "x").read_text() == "built\n"
        masters = [c for c in calls() if c["master"]]
        assert len(masters) == 1, calls()
        m = masters[0]
        assert m["dir_uid"] == 0 and m["dir_mode"] == 0o700
        assert Path(m["control_path"]).parent.name.startswith(f"xbuild-ssh-")
        assert not any(str(d) in m["control_path"] for d in planted)
        checks = [c for c in calls() if "-O" in c["argv"] and "check" in c["argv"]]
        assert checks and all(c["control_path"] == m["control_path"] for c in checks)
        # ship, build and fetch went through the master.
        assert len([c for c in calls() if "ControlMaster=no" in c["argv"]]) >= 3
        for d in planted:
            assert d.is_dir() and d.stat().st_uid == other_user
    finally:
        for d in planted:
            shutil.rmtree(d, ignore_errors=True)


@pytest.mark.parametrize("fake", ["other-user", "not-a-master"])
def test_a_socket_that_is_not_our_master_is_not_used(xbuild, sshd, tmp_path, other_user, fake):
    # The master's socket appears but is someone else's (or answers no `ssh -O check`): xbuild
    # must not hand it the ship, build and fetch sessions; they connect on their own instead.
    proj = tmp_path / "p"
    write_project(proj, "echo built > {out}/x")
    add_runner(proj, sshd)
    env, calls = ssh_logged(tmp_path, other_user, fake)
    build(xbuild, proj, env=env)
    assert (proj / ".xbuild" / "out" / HOST_SLUG / "x").read_text() == "built\n"
    log = calls()
    assert len([c for c in log if c["master"]]) == 1
    assert [c for c in log if "ControlMaster=no" in c["argv"] and "-O" not in c["argv"]] == [], log
    checks = [c for c in log if "-O" in c["argv"]]
    if fake == "other-user":
        assert checks == []  # refused on its owner, before asking it anything
    else:
        assert checks  # asked, and it did not answer as a master
    # The fake master was stopped.
    assert wait_until_empty(lambda: [pid for pid, argv in live_argvs()
                                     if len(argv) > 1 and argv[1].endswith(b"/bin/ssh") and b"ControlMaster=yes" in argv]) == []
