"""The emulation sandbox (`xbuild __exec-in-rootfs`, what every emulated build and test runs
through) given hostile rootfs trees: symlinks that point at the host, absolutely, through
`../../..`, or in an intermediate component, where the sandbox makes its mount points (/proc,
/dev, /tmp, the project's bind targets, the interpreter file). Nothing may be created on the
host, no mount may land outside the rootfs, and the error names the symlink; a symlink whose
target exists inside the rootfs is followed there. The rootfs is a tiny amd64 tree (dash and
its libraries), so no qemu is involved; the host dirs live under /var/tmp, because the
sandbox's fresh tmpfs on /tmp would hide any trick played below /tmp."""
import os
import shutil
import tempfile
from pathlib import Path

import pytest

from conftest import run
from emu_helpers import host_mounts_under


@pytest.fixture
def base():
    d = Path(tempfile.mkdtemp(prefix="xbuild-escape-", dir="/var/tmp"))
    yield d
    assert host_mounts_under(d) == [], "a mount leaked into the host's namespace"
    shutil.rmtree(d)


def tiny_rootfs(root: Path) -> Path:
    (root / "bin").mkdir(parents=True)
    shutil.copy("/bin/dash", root / "bin" / "sh")
    for lib in [l for l in run(["ldd", "/bin/dash"]).stdout.split() if l.startswith("/")]:
        dst = root / lib.lstrip("/")
        dst.parent.mkdir(parents=True, exist_ok=True)
        if not dst.exists():
            shutil.copy(lib, dst)
    return root


def layout(base: Path):
    """The rootfs, a project dir to bind, and a host dir that must stay empty."""
    root = tiny_rootfs(base / "root")
    proj = base / "proj"
    proj.mkdir()
    (proj / "marker").write_text("from the project\n")
    victim = base / "victim"
    victim.mkdir()
    return root, proj, victim


def exec_in(xbuild, root, *args, check=False):
    return run([xbuild, "__exec-in-rootfs", root, *args], check=check)


def listing(d: Path) -> list:
    return sorted(str(p.relative_to(d)) for p in d.rglob("*"))


def assert_refused(p, link: str, victim: Path):
    assert p.returncode == 3, (p.returncode, p.stdout, p.stderr)
    assert "is a symlink to" in p.stderr and link in p.stderr, p.stderr
    assert "does not exist inside it" in p.stderr or "loops inside it" in p.stderr, p.stderr
    assert "terminate called" not in p.stderr
    assert listing(victim) == [], f"created on the host: {listing(victim)}"


# The first component of the project's path (/var) points at the host.
@pytest.mark.parametrize("how", ["absolute", "relative"])
def test_bind_target_behind_a_symlink_to_the_host_is_refused(xbuild, base, how):
    root, proj, victim = layout(base)
    target = str(victim) if how == "absolute" else "../../../../../../../.." + str(victim)
    (root / "var").symlink_to(target)
    p = exec_in(xbuild, root, "--bind", proj, "--", "sh", "-c", "echo ran")
    assert "ran" not in p.stdout
    assert_refused(p, target, victim)
    assert "/var" in p.stderr and str(proj) in p.stderr


def test_symlink_in_an_intermediate_component_is_refused(xbuild, base):
    root, proj, victim = layout(base)
    (root / "var").mkdir()
    (root / "var" / "tmp").symlink_to(victim)  # /var/tmp/<base>/proj: the second component
    p = exec_in(xbuild, root, "--bind", proj, "--", "sh", "-c", "echo ran")
    assert_refused(p, str(victim), victim)
    assert "/var/tmp is a symlink" in p.stderr


@pytest.mark.parametrize("name", ["proc", "dev", "tmp"])
def test_system_mount_point_symlinked_to_the_host_is_refused(xbuild, base, name):
    root, proj, victim = layout(base)
    (root / name).symlink_to(victim / "sub")
    p = exec_in(xbuild, root, "--", "sh", "-c", "echo ran")
    assert_refused(p, str(victim / "sub"), victim)
    assert f"/{name} is a symlink" in p.stderr


def test_interpreter_file_behind_a_symlink_is_refused(xbuild, base):
    root, proj, victim = layout(base)
    (root / "usr").mkdir()
    (root / "usr" / "libexec").symlink_to("../../../../" + str(victim))
    p = exec_in(xbuild, root, "--file", "/bin/true=/usr/libexec/qemu-binfmt/aarch64-binfmt-P", "--",
                "sh", "-c", "echo ran")
    assert_refused(p, str(victim), victim)


def test_a_symlink_to_a_dir_inside_the_rootfs_is_followed_there(xbuild, base):
    # Debian's own layout has such links (/var/run -> /run, /lib -> usr/lib): the mount
    # lands where the link points inside the rootfs, and the command sees the project.
    root, proj, victim = layout(base)
    (root / "data" / "tmp").mkdir(parents=True)
    (root / "data" / "scratch").mkdir()
    (root / "var").symlink_to("/data")                      # absolute: /data of the rootfs
    (root / "tmp").symlink_to("../../../../../data/scratch")  # clamped at the rootfs' /
    p = exec_in(xbuild, root, "--bind", proj, "--cwd", proj, "--", "sh", "-c", "read l < marker; echo \"$l\"; echo x > /tmp/t; echo ok")
    assert p.returncode == 0, p.stderr
    assert p.stdout.splitlines() == ["from the project", "ok"]
    # The bind's mount point was made inside the rootfs, under the link's target...
    assert (root / "data" / str(proj).removeprefix("/var/")).is_dir()
    # ...the tmpfs went on /data/scratch (what /tmp wrote is gone with it)...
    assert not (root / "data" / "scratch" / "t").exists()
    # ...and nothing happened where the links would point on the host.
    assert listing(victim) == []
    assert not Path("/data/tmp").joinpath(str(proj).removeprefix("/var/tmp/")).exists()


def test_unprivileged_sandbox_refuses_the_same(xbuild, base):
    # In a user namespace (no root) the mount points go through the same code.
    root, proj, victim = layout(base)
    (root / "var").symlink_to(victim)
    for dirpath, dirs, files in os.walk(base):
        for n in [dirpath] + [os.path.join(dirpath, f) for f in dirs + files]:
            os.lchown(n, 65534, 65534)
    os.chmod(base, 0o755)
    p = run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", xbuild, "__exec-in-rootfs", root,
             "--bind", proj, "--", "sh", "-c", "echo ran"], check=False)
    assert_refused(p, str(victim), victim)
