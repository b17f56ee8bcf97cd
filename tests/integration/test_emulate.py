"""Emulated builds for real: the C example built for linux/arm64 inside the machine's cached
arm64 rootfs (mmdebstrap) under qemu-user, then run under QEMU; and the error paths: binfmt
missing or without the F flag (through the XBUILD_BINFMT_DIR override), a rootfs without a
compiler, a hung build hitting the timeout, and no qemu installed."""
import shutil
from pathlib import Path

import pytest

from conftest import need, run
from emu_helpers import (env_with, fake_binfmt, file_says, host_mounts_under, processes_matching, rootfs_for,
                         write_project)


@pytest.fixture(scope="session")
def arm64_rootfs(xbuild):
    return rootfs_for(xbuild)


def out_dir(project: Path, platform="linux_arm64") -> Path:
    return project / ".xbuild" / "out" / platform


def test_rootfs_create_is_cached_and_reused(xbuild, arm64_rootfs):
    # A second create answers with the same directory (no second mmdebstrap run).
    p = run([xbuild, "rootfs", "create", "--platform", "linux/arm64", "--packages", "make,gcc,libc6-dev"])
    assert Path(p.stdout.strip()) == arm64_rootfs
    assert "creating" not in p.stderr
    listed = run([xbuild, "rootfs", "list"]).stdout.split()
    assert str(arm64_rootfs) in listed
    # It really is an arm64 Debian with the compiler.
    assert "ARM aarch64" in file_says(arm64_rootfs / "usr/bin/make")
    assert (arm64_rootfs / "usr/lib/aarch64-linux-gnu/libc.a").exists()


def test_emulated_build_of_c_example_runs_under_qemu(xbuild, project_copy, arm64_rootfs):
    proj = project_copy("c-make")
    p = run([xbuild, "-C", proj, "build", "--platform", "linux/arm64", "--strategy", "linux/arm64=emulate",
             "-o", f"type=local,dest={proj / 'dist'}"], env=env_with())
    hello = out_dir(proj) / "hello"
    desc = file_says(hello)
    assert "ARM aarch64" in desc and "statically linked" in desc, desc
    # Run it under QEMU: through xbuild, and by calling qemu ourselves.
    r = run([xbuild, "run", "-C", proj, "--platform", "linux/arm64", "--", "--check"])
    assert "built for aarch64, running on aarch64" in r.stdout
    q = run([need("qemu-aarch64-static"), hello, "--check"])
    assert "built for aarch64" in q.stdout
    # The exported copy is the same binary.
    assert (proj / "dist" / "linux_arm64" / "hello").read_bytes() == hello.read_bytes()
    # Bind mounts lived in the build's private namespace only.
    assert host_mounts_under(arm64_rootfs) == []


def test_emulated_build_runs_natively_inside_the_rootfs(xbuild, tmp_path, arm64_rootfs):
    # The build sees an aarch64 machine, the rootfs' own gcc, and the project at its host path.
    proj = write_project(tmp_path / "where", """
name = "where"
language = "c"
platforms = ["linux/arm64"]
build = '''
uname -m > {out}/machine
pwd > {out}/cwd
gcc -dumpmachine > {out}/gcc
test -f /etc/debian_version && echo yes > {out}/in-rootfs
printf 'int main(void){return 0;}' > {build}/t.c && $CC -static -o {out}/t {build}/t.c
'''
outputs = ["machine", "t"]
[emulate]
packages = ["gcc", "make", "libc6-dev"]
""")
    run([xbuild, "-C", proj, "build", "--strategy", "emulate", "-o", f"type=local,dest={tmp_path / 'dist'}"], env=env_with())
    out = out_dir(proj)
    assert (out / "machine").read_text().strip() == "aarch64"
    # source = "copy" (the default): the build runs in the platform's snapshot of the project.
    assert (out / "cwd").read_text().strip() == str(proj / ".xbuild" / "src" / "linux_arm64")
    assert (out / "gcc").read_text().strip() == "aarch64-linux-gnu"
    assert (out / "in-rootfs").read_text().strip() == "yes"
    assert "ARM aarch64" in file_says(out / "t")


def test_binfmt_missing_fails_fast_with_the_fix(xbuild, project_copy, tmp_path):
    proj = project_copy("c-make")
    empty = tmp_path / "binfmt"
    empty.mkdir()
    p = run([xbuild, "-C", proj, "build", "--platform", "linux/arm64", "--strategy", "emulate"], check=False,
            env=env_with(XBUILD_BINFMT_DIR=empty), timeout=60)
    assert p.returncode != 0
    err = p.stdout + p.stderr
    assert f"binfmt_misc is not mounted at {empty}" in err
    assert f"fix: mount -t binfmt_misc binfmt_misc {empty}" in err
    assert "exec format error" not in err


def test_binfmt_handler_disabled_fails_fast(xbuild, project_copy, tmp_path):
    proj = project_copy("c-make")
    fake = fake_binfmt(tmp_path / "binfmt", enabled=False)
    p = run([xbuild, "-C", proj, "build", "--platform", "linux/arm64", "--strategy", "emulate"], check=False,
            env=env_with(XBUILD_BINFMT_DIR=fake), timeout=60)
    assert p.returncode != 0
    assert "update-binfmts --enable qemu-aarch64" in p.stdout + p.stderr


def test_without_f_flag_the_interpreter_is_bound_into_the_rootfs(xbuild, project_copy, tmp_path, arm64_rootfs):
    # A handler without F makes the kernel open the interpreter path inside the chroot;
    # xbuild binds the static qemu there and the build works. The real handler on this
    # machine has F, so the override describes one without it.
    proj = project_copy("c-make")
    fake = fake_binfmt(tmp_path / "binfmt", flags="P")
    env = env_with(XBUILD_BINFMT_DIR=fake)
    d = run([xbuild, "doctor", "--platform", "linux/arm64"], env=env)
    assert "warn  handler qemu-aarch64 has no F flag" in d.stdout
    assert f"fix: echo -1 > {fake}/qemu-aarch64 && printf '%s' ':qemu-aarch64:M:0:\\x7f\\x45\\x4c\\x46" in d.stdout
    assert ":/usr/libexec/qemu-binfmt/aarch64-binfmt-P:PF' > " + f"{fake}/register" in d.stdout
    run([xbuild, "-C", proj, "build", "--platform", "linux/arm64", "--strategy", "emulate"], env=env)
    assert "ARM aarch64" in file_says(out_dir(proj) / "hello")
    assert host_mounts_under(arm64_rootfs) == []


def test_rootfs_without_a_compiler_is_named(xbuild, project_copy, tmp_path):
    # A directory rootfs with a shell but no make or gcc: caught before anything runs.
    root = tmp_path / "bare-rootfs"
    (root / "bin").mkdir(parents=True)
    shutil.copy("/bin/sh", root / "bin" / "sh")
    proj = project_copy("c-make")
    p = run([xbuild, "-C", proj, "build", "--platform", "linux/arm64", "--strategy", "emulate"], check=False,
            env=env_with(XBUILD_ROOTFS=root), timeout=120)
    assert p.returncode != 0
    err = p.stdout + p.stderr
    assert f"the linux/arm64 rootfs {root} has no 'make'" in err
    assert "[emulate] packages" in err


def test_bad_rootfs_source_is_a_usage_error(xbuild, project_copy, tmp_path):
    proj = project_copy("c-make")
    with open(proj / "xbuild.toml", "a") as f:
        f.write('\n[emulate]\nrootfs = "nowhere/at-all"\n')
    p = run([xbuild, "-C", proj, "build", "--platform", "linux/arm64", "--strategy", "emulate"], check=False,
            env=env_with(), timeout=60)
    assert p.returncode != 0
    assert "[emulate] rootfs in" in p.stderr + p.stdout and "nowhere/at-all" in p.stderr + p.stdout


def test_tarball_rootfs_is_unpacked_once_and_used(xbuild, project_copy, tmp_path, arm64_rootfs):
    # The cached rootfs packed as a tarball, named in xbuild.toml: unpacked into a cache of
    # the test's own, then the build runs inside it.
    tar = tmp_path / "arm64-rootfs.tar"
    run(["tar", "--numeric-owner", "-cf", tar, "-C", arm64_rootfs, "."], timeout=600)
    proj = project_copy("c-make")
    with open(proj / "xbuild.toml", "a") as f:
        f.write(f'\n[emulate]\nrootfs = "{tar}"\n')
    cache = tmp_path / "cache"
    env = env_with(XBUILD_ROOTFS_CACHE=cache)
    run([xbuild, "-C", proj, "build", "--platform", "linux/arm64", "--strategy", "emulate"], env=env)
    unpacked = [d for d in cache.iterdir() if d.is_dir()]
    assert len(unpacked) == 1 and unpacked[0].name.startswith("linux_arm64-tar-"), unpacked
    assert "ARM aarch64" in file_says(out_dir(proj) / "hello")
    run([xbuild, "-C", proj, "build", "--platform", "linux/arm64", "--strategy", "emulate"], env=env)
    assert [d for d in cache.iterdir() if d.is_dir()] == unpacked


def test_hung_emulated_build_is_killed_with_its_group(xbuild, tmp_path, arm64_rootfs):
    proj = write_project(tmp_path / "hang", """
name = "hang"
language = "c"
platforms = ["linux/arm64"]
build = "sleep 3137 & sleep 3138; wait"
outputs = ["never"]
[emulate]
timeout = 5
""")
    p = run([xbuild, "-C", proj, "build", "--strategy", "emulate"], check=False, env=env_with(), timeout=120)
    assert p.returncode != 0
    assert "timed out" in (p.stdout + p.stderr).lower()
    assert processes_matching(r"sleep 313[78]") == []
    assert host_mounts_under(arm64_rootfs) == []
    # The --timeout flag does the same without the config entry.
    (proj / "xbuild.toml").write_text((proj / "xbuild.toml").read_text().replace("[emulate]\ntimeout = 5\n", ""))
    p = run([xbuild, "-C", proj, "build", "--strategy", "emulate", "--timeout", "3"], check=False, env=env_with(),
            timeout=120)
    assert p.returncode != 0
    assert "timed out" in (p.stdout + p.stderr).lower()
    assert processes_matching(r"sleep 313[78]") == []


def test_no_qemu_installed(xbuild, project_copy, tmp_path):
    # Cross-build, then run without binfmt and with a PATH that has no qemu.
    proj = project_copy("c-make")
    run([xbuild, "-C", proj, "build", "--platform", "linux/arm64", "--strategy", "cross"], env=env_with())
    nobinfmt = tmp_path / "binfmt"
    nobinfmt.mkdir()
    bare_path = tmp_path / "bin"
    bare_path.mkdir()
    p = run([xbuild, "run", "-C", proj, "--platform", "linux/arm64", "--", "--check"], check=False,
            env=env_with(XBUILD_BINFMT_DIR=nobinfmt, PATH=bare_path))
    assert p.returncode == 125, p.stderr  # run: xbuild failed before running (docker run's 125)
    assert "qemu-aarch64 is not on PATH" in p.stderr
    assert "fix: apt-get install qemu-user-static" in p.stderr
    # An emulated build with no usable binfmt says the same kind of thing, never exec format error.
    b = run([xbuild, "-C", proj, "build", "--platform", "linux/arm64", "--strategy", "emulate"], check=False,
            env=env_with(XBUILD_BINFMT_DIR=nobinfmt, PATH=f"{bare_path}:/usr/bin:/bin"), timeout=60)
    assert b.returncode != 0 and "mount -t binfmt_misc" in b.stdout + b.stderr


def test_unprivileged_user_gets_a_user_namespace(xbuild):
    # Without root the helper enters a user namespace instead of failing: a tiny amd64
    # rootfs (dash and its libraries) owned by nobody, a project dir under /tmp bound in.
    import os
    import tempfile
    need("setpriv")
    base = Path(tempfile.mkdtemp(prefix="xbuild-userns-", dir="/tmp"))
    try:
        root, proj = base / "root", base / "proj"
        (root / "bin").mkdir(parents=True)
        (root / "tmp").mkdir()
        proj.mkdir()
        shutil.copy("/bin/dash", root / "bin" / "sh")
        libs = run(["ldd", "/bin/dash"]).stdout.split()
        for lib in [l for l in libs if l.startswith("/")]:
            dst = root / lib.lstrip("/")
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(lib, dst)
        for dirpath, dirs, files in os.walk(base):
            for n in [dirpath] + [os.path.join(dirpath, f) for f in dirs + files]:
                os.chown(n, 65534, 65534)
        os.chmod(base, 0o755)
        p = run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", xbuild, "__exec-in-rootfs", root,
                 "--bind", proj, "--cwd", proj, "--", "sh", "-c", "echo inside > made-here; pwd"])
        assert p.stdout.strip() == str(proj)
        assert (proj / "made-here").read_text() == "inside\n"
        assert host_mounts_under(base) == []
    finally:
        shutil.rmtree(base, ignore_errors=True)


def test_exec_in_rootfs_missing_program_is_named(xbuild, arm64_rootfs, tmp_path):
    p = run([xbuild, "__exec-in-rootfs", arm64_rootfs, "--", "no-such-compiler"], check=False)
    assert p.returncode == 3
    assert "'no-such-compiler' is not installed in the rootfs" in p.stderr


def tiny_image(tmp_path: Path) -> Path:
    """A tiny amd64 OCI image layout (dash, its libraries and /marker) made with umoci."""
    umoci = need("umoci")
    layout, bundle = tmp_path / "layout", tmp_path / "bundle"
    run([umoci, "init", "--layout", layout])
    run([umoci, "new", "--image", f"{layout}:latest"])
    run([umoci, "unpack", "--image", f"{layout}:latest", bundle])
    root = bundle / "rootfs"
    (root / "bin").mkdir(parents=True, exist_ok=True)
    shutil.copy("/bin/dash", root / "bin" / "sh")
    for lib in [l for l in run(["ldd", "/bin/dash"]).stdout.split() if l.startswith("/")]:
        dst = root / lib.lstrip("/")
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(lib, dst)
    (root / "marker").write_text("inside the image\n")
    run([umoci, "repack", "--image", f"{layout}:latest", bundle])
    return layout


MARKER_PROJECT = """
name = "oci-rootfs"
language = "custom"
platforms = ["linux/amd64"]
build = "read line < /marker; echo \\"$line\\" > {{out}}/where"
outputs = ["where"]
[emulate]
rootfs = "{rootfs}"
"""


def test_oci_image_layout_as_rootfs(xbuild, tmp_path):
    # The project names the image as oci:LAYOUT:TAG and an emulate build for the host runs
    # inside it (chroot, no qemu needed for the host's architecture).
    need("skopeo")
    tiny_image(tmp_path)
    proj = write_project(tmp_path / "proj", MARKER_PROJECT.format(rootfs="oci:../layout:latest"))
    cache = tmp_path / "cache"
    run([xbuild, "-C", proj, "build", "--strategy", "emulate"], env=env_with(XBUILD_ROOTFS_CACHE=cache))
    assert (proj / ".xbuild/out/linux_amd64/where").read_text() == "inside the image\n"
    unpacked = [d.name for d in cache.iterdir() if d.is_dir()]
    assert len(unpacked) == 1 and unpacked[0].startswith("linux_amd64-image-")
    # A missing layout is named.
    bad = write_project(tmp_path / "bad", MARKER_PROJECT.format(rootfs="oci:../nolayout:latest"))
    p = run([xbuild, "-C", bad, "build", "--strategy", "emulate"], check=False, env=env_with(XBUILD_ROOTFS_CACHE=cache))
    assert p.returncode != 0
    assert "is not an OCI image layout (no index.json)" in p.stdout + p.stderr


def test_registry_image_as_rootfs(xbuild, tmp_path):
    # The same image pushed to a real docker-registry on loopback, named as docker://REF.
    from registry_fixtures import DockerRegistry
    skopeo = need("skopeo")
    layout = tiny_image(tmp_path)
    reg = DockerRegistry(tmp_path / "reg", "open")
    try:
        ref = f"docker://{reg.host}/tools/mini-rootfs:1"
        run([skopeo, "copy", "--dest-tls-verify=false", f"oci:{layout}:latest", ref])
        proj = write_project(tmp_path / "proj", MARKER_PROJECT.format(rootfs=ref))
        cache = tmp_path / "cache"
        run([xbuild, "-C", proj, "build", "--strategy", "emulate"], env=env_with(XBUILD_ROOTFS_CACHE=cache))
        assert (proj / ".xbuild/out/linux_amd64/where").read_text() == "inside the image\n"
    finally:
        reg.stop()


def test_multi_platform_image_gives_each_platform_its_own_rootfs(xbuild, project_copy, tmp_path):
    # xbuild's own two-platform image (an OCI layout with an index) as the rootfs source:
    # each platform unpacks its own manifest; a platform the index lacks is named.
    need("skopeo")
    proj = project_copy("c-make")
    layout = tmp_path / "img"
    run([xbuild, "-C", proj, "build", "--platform", "linux/amd64,linux/arm64", "-t", "hello:1",
         "-o", f"type=oci,dest={layout}"], env=env_with())
    with open(proj / "xbuild.toml", "a") as f:
        f.write(f'\n[emulate]\nrootfs = "oci:{layout}:1"\n')
    env = env_with(XBUILD_ROOTFS_CACHE=tmp_path / "cache")
    for platform, word in [("linux/arm64", "ARM aarch64"), ("linux/amd64", "x86-64")]:
        root = Path(run([xbuild, "rootfs", "resolve", "-C", proj, "--platform", platform], env=env).stdout.strip())
        assert root.name.startswith(platform.replace("/", "_") + "-image-")
        assert word in file_says(root / "usr/local/bin/hello"), platform
    p = run([xbuild, "rootfs", "resolve", "-C", proj, "--platform", "linux/riscv64"], check=False, env=env)
    assert p.returncode == 3
    assert "could not fetch the linux/riscv64 image" in p.stderr


def test_rootfs_flag_on_build(xbuild, project_copy, arm64_rootfs):
    proj = project_copy("c-make")
    # A bad --rootfs is named as the flag, not as xbuild.toml.
    p = run([xbuild, "-C", proj, "build", "--platform", "linux/arm64", "--strategy", "emulate",
             "--rootfs", "/nonexistent/root"], check=False)
    assert p.returncode == 2, p.stderr
    assert "--rootfs /nonexistent/root" in p.stderr
    # A directory given with --rootfs is used as it is.
    run([xbuild, "-C", proj, "build", "--platform", "linux/arm64", "--strategy", "emulate",
         "--rootfs", arm64_rootfs, "-o", f"type=local,dest={proj / 'dist'}"])
    assert "ARM aarch64" in file_says(proj / "dist" / "linux_arm64" / "hello")
