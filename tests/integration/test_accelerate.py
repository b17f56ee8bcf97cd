"""Accelerated emulation for real (issue 16): builds in the machine's cached arm64 and arm/v7
rootfs (scripts/ci-rootfs.sh, or created here on first use), with the host's cross gcc serving
the rootfs's compiler names. Each build's wrappers log their calls (XBUILD_ACCEL_LOG), which
proves the host compiler ran; the outputs pass the project's own test in the rootfs under
qemu, the ELF check (`file`) and the image lint. The fallbacks (a host cross gcc of another
major, none at all; simulated through XBUILD_ACCEL_HOST_USR, which stands for the host's /usr
in the decision) keep the build fully emulated with the planned message. After an
accelerated build the cached rootfs is byte-for-byte what it was and nothing under the host's
/usr changed; accelerate = "off" gives a program that behaves the same."""
import hashlib
import json
import os
import re
import shutil
from pathlib import Path

import pytest

from conftest import PROJECTS, need, run
from emu_helpers import env_with, file_says, host_mounts_under, rootfs_for, write_project

TRIPLE = {"linux/arm64": "aarch64-linux-gnu", "linux/arm/v7": "arm-linux-gnueabihf"}
FILE_SAYS = {"linux/arm64": "ARM aarch64", "linux/arm/v7": "ARM, EABI5"}
QEMU = {"linux/arm64": "qemu-aarch64-static", "linux/arm/v7": "qemu-arm-static"}
MACHINE = {"linux/arm64": "aarch64", "linux/arm/v7": "armv7l"}


@pytest.fixture(scope="module")
def rootfs(xbuild):
    """platform -> the cached rootfs (created now when missing: a few minutes each)."""
    return {p: rootfs_for(xbuild, p) for p in TRIPLE}


@pytest.fixture
def copy_project(tmp_path):
    def copy(name: str) -> Path:
        dst = tmp_path / name
        shutil.copytree(PROJECTS / name, dst, ignore=shutil.ignore_patterns(".xbuild"))
        return dst
    return copy


def host_gcc_major(triple: str) -> str:
    out = run([need(f"{triple}-gcc"), "-dumpversion"]).stdout.strip()
    return out.split(".")[0]


def build(xbuild, proj: Path, platform: str, *args, log: Path = None, env_extra=None, check=True):
    env = env_with(**(env_extra or {}))
    if log is not None:
        env["XBUILD_ACCEL_LOG"] = str(log)
    return run([xbuild, "-C", proj, "build", "--platform", platform, "--strategy", "emulate", *args], env=env,
               check=check, timeout=1800)


def log_lines(log: Path) -> list:
    return log.read_text().splitlines() if log.exists() else []


def out_of(proj: Path, platform: str) -> Path:
    return proj / ".xbuild" / "out" / platform.replace("/", "_")


def assert_lint_ok(xbuild, layout: Path):
    r = run([xbuild, "inspect", "--lint", layout])
    assert "lint ok" in r.stdout, r.stdout + r.stderr


@pytest.mark.parametrize("platform", ["linux/arm64", "linux/arm/v7"])
@pytest.mark.parametrize("name", ["c-make", "c-make-dynamic"])
def test_c_examples_build_accelerated_and_pass_their_tests(xbuild, rootfs, copy_project, tmp_path, name, platform):
    proj = copy_project(name)
    log = proj / "accel.log"  # the wrappers write it from inside the rootfs: under the project
    layout = tmp_path / "oci"
    p = build(xbuild, proj, platform, "-o", f"type=oci,dest={layout}", log=log)
    assert f"{platform} ok (emulate (accelerated), " in p.stderr, p.stderr
    # The host's cross compiler compiled and linked every file: the wrappers logged it.
    calls = log_lines(log)
    triple, major = TRIPLE[platform], host_gcc_major(TRIPLE[platform])
    assert any(l.startswith(f"gcc -> {triple}-gcc-{major} ") and "main.c" in l for l in calls), calls
    assert any(l.startswith(f"gcc -> {triple}-gcc-{major} ") and " -o " in l and "/hello" in l for l in calls), calls
    hello = out_of(proj, platform) / "hello"
    desc = file_says(hello)
    assert FILE_SAYS[platform] in desc, desc
    assert ("dynamically linked" if name == "c-make-dynamic" else "statically linked") in desc, desc
    # It runs in the rootfs under qemu, and by calling qemu ourselves with the rootfs as sysroot.
    r = run([need(QEMU[platform]), "-L", rootfs[platform], hello]).stdout
    built_for = {"linux/arm64": "aarch64", "linux/arm/v7": "arm"}[platform]
    assert f"built for {built_for}, running on {MACHINE[platform]}" in r, r
    if name == "c-make":
        t = run([xbuild, "-C", proj, "test", "--platform", platform, "--strategy", "emulate"], env=env_with())
        assert "PASS" in t.stdout + t.stderr, t.stdout + t.stderr
    assert_lint_ok(xbuild, layout)
    assert host_mounts_under(rootfs[platform]) == []


@pytest.fixture(scope="module")
def configure_builds(xbuild, rootfs, tmp_path_factory):
    """The autotools-style project built for both platforms, accelerated and with accelerate = "off"."""
    base = tmp_path_factory.mktemp("configure")
    out = {}
    for mode in ("auto", "off"):
        proj = base / mode
        shutil.copytree(PROJECTS / "c-configure", proj)
        if mode == "off":
            with open(proj / "xbuild.toml", "a") as f:
                f.write('\n[emulate]\naccelerate = "off"\n')
        log = proj / "accel.log"
        layout = base / f"{mode}-oci"
        env = env_with(XBUILD_ACCEL_LOG=log)
        p = run([xbuild, "-C", proj, "build", "-o", f"type=oci,dest={layout}"], env=env, timeout=1800)
        out[mode] = (proj, log, layout, p)
    return out


def test_configure_project_is_accelerated_and_its_configure_ran_the_target(xbuild, rootfs, configure_builds):
    proj, log, layout, p = configure_builds["auto"]
    for platform in TRIPLE:
        assert f"{platform} ok (emulate (accelerated), " in p.stderr, p.stderr
        # configure ran on the target: its test programs said so.
        assert f"[{platform}] checking the build machine... {MACHINE[platform]}" in p.stdout + p.stderr
    calls = log_lines(log)
    # configure's test programs were compiled by the host's cross compilers, for both platforms;
    # the library went through the host's ar and ranlib.
    for triple in TRIPLE.values():
        conftests = [l for l in calls if l.startswith(f"gcc -> {triple}-gcc-") and "conftest.c" in l]
        assert len(conftests) >= 8, calls
    assert any(l.startswith("ar -> ") for l in calls) and any(l.startswith("ranlib -> ") for l in calls), calls
    sizes = {"linux/arm64": "long 8, pointer 8", "linux/arm/v7": "long 4, pointer 4"}
    for platform in TRIPLE:
        binary = out_of(proj, platform) / "confcalc"
        assert FILE_SAYS[platform] in file_says(binary)
        r = run([need(QEMU[platform]), "-L", rootfs[platform], binary, "--check"]).stdout
        assert f"running on {MACHINE[platform]}: {sizes[platform]}, little endian" in r and "check ok" in r, r
    # The project's own test, in each rootfs under qemu.
    t = run([xbuild, "-C", proj, "test"], env=env_with())
    assert t.stdout.count("PASS") + t.stderr.count("PASS") >= 2, t.stdout + t.stderr
    assert_lint_ok(xbuild, layout)


def test_accelerate_off_builds_a_program_that_behaves_the_same(xbuild, rootfs, configure_builds):
    on_proj, _, _, _ = configure_builds["auto"]
    off_proj, off_log, off_layout, p = configure_builds["off"]
    assert log_lines(off_log) == [], "accelerate = off ran a wrapper"
    for platform in TRIPLE:
        assert f"{platform} ok (emulate, " in p.stderr, p.stderr
        outs = []
        for proj in (on_proj, off_proj):
            binary = out_of(proj, platform) / "confcalc"
            outs.append(run([need(QEMU[platform]), "-L", rootfs[platform], binary, "--check"]).stdout)
        assert outs[0] == outs[1], outs
        assert "check ok" in outs[1]
    assert_lint_ok(xbuild, off_layout)


def test_no_accelerate_flag_runs_the_rootfs_compiler(xbuild, rootfs, copy_project, tmp_path):
    proj = copy_project("c-make")
    log = proj / "accel.log"  # the wrappers write it from inside the rootfs: under the project
    p = build(xbuild, proj, "linux/arm64", "--no-accelerate", log=log)
    assert "linux/arm64 ok (emulate, " in p.stderr, p.stderr
    assert log_lines(log) == []
    assert "ARM aarch64" in file_says(out_of(proj, "linux/arm64") / "hello")
    # --accelerate over [emulate] accelerate = "off" turns it back on.
    with open(proj / "xbuild.toml", "a") as f:
        f.write('\n[emulate]\naccelerate = "off"\n')
    p = build(xbuild, proj, "linux/arm64", "--accelerate", log=log)
    assert "linux/arm64 ok (emulate (accelerated), " in p.stderr, p.stderr
    assert log_lines(log), "no wrapper ran"


def fake_host_usr(dir: Path, triple: str, major: str = None) -> Path:
    """A stand-in for the host's /usr in the acceleration decision: with `major`, a
    <triple>-gcc-<major> (a program that would fail if it were ever run), else no cross gcc."""
    (dir / "bin").mkdir(parents=True)
    (dir / "bin" / "sh").symlink_to("/bin/sh")
    if major:
        gcc = dir / "bin" / f"{triple}-gcc-{major}"
        gcc.write_text("#!/bin/sh\necho 'the mismatching compiler ran' >&2\nexit 99\n")
        gcc.chmod(0o755)
    return dir


@pytest.mark.parametrize("case", ["mismatch", "missing"])
def test_fallbacks_build_fully_emulated_with_the_planned_message(xbuild, rootfs, copy_project, tmp_path, case):
    triple = TRIPLE["linux/arm64"]
    rootfs_major = host_gcc_major(triple)  # the bookworm rootfs's gcc is the host's major
    other = str(int(rootfs_major) + 4)
    usr = fake_host_usr(tmp_path / "usr", triple, other if case == "mismatch" else None)
    expect = (f"the host's {triple} cross gcc is version {other}, the rootfs's gcc is {rootfs_major} "
              f"(the major versions must match); building fully emulated") if case == "mismatch" else (
              f"the host has no cross compiler for {triple} ({usr}/bin/{triple}-gcc-{rootfs_major} missing; "
              f"apt-get install gcc-{triple}); building fully emulated")
    proj = copy_project("c-make")
    env = {"XBUILD_ACCEL_HOST_USR": usr}
    plan = run([xbuild, "-C", proj, "plan", "--platform", "linux/arm64", "--strategy", "emulate"], env=env_with(**env))
    assert f"  accelerate: no: {expect}" in plan.stdout, plan.stdout
    doc = json.loads(run([xbuild, "-C", proj, "plan", "--json", "--platform", "linux/arm64", "--strategy", "emulate"],
                         env=env_with(**env)).stdout)
    acc = doc["platforms"][0]["accelerate"]
    assert acc["decided"] is True and acc["tools"] == [] and acc["compiler"] is None and expect in acc["summary"]
    log = proj / "accel.log"  # the wrappers write it from inside the rootfs: under the project
    p = build(xbuild, proj, "linux/arm64", log=log, env_extra=env)
    assert f"warning: linux/arm64: {expect}" in p.stderr, p.stderr
    assert "linux/arm64 ok (emulate, " in p.stderr, p.stderr
    assert log_lines(log) == []
    r = run([need("qemu-aarch64-static"), out_of(proj, "linux/arm64") / "hello", "--check"]).stdout
    assert "built for aarch64" in r


def test_a_rootfs_with_another_gcc_major_is_not_accelerated(xbuild, tmp_path):
    # The rootfs side of the check: a directory rootfs whose gcc is 16 (a forky-like rootfs),
    # read by `xbuild plan`, which runs nothing in it.
    triple = TRIPLE["linux/arm64"]
    host_major = host_gcc_major(triple)
    root = tmp_path / "forky"
    (root / "usr/bin").mkdir(parents=True)
    (root / "bin").symlink_to("usr/bin")
    (root / f"usr/lib/gcc/{triple}/16").mkdir(parents=True)
    (root / f"usr/lib/{triple}").mkdir(parents=True)
    for name in ("sh", f"{triple}-gcc-16", "make"):
        (root / "usr/bin" / name).write_text("")
        (root / "usr/bin" / name).chmod(0o755)
    (root / "usr/bin/gcc-16").symlink_to(f"{triple}-gcc-16")
    (root / "usr/bin/gcc").symlink_to("gcc-16")
    proj = write_project(tmp_path / "p", 'name = "p"\nlanguage = "c"\nbuild = ["make"]\noutputs = ["x"]\n')
    p = run([xbuild, "-C", proj, "plan", "--platform", "linux/arm64", "--strategy", "emulate"],
            env=env_with(XBUILD_ROOTFS=root))
    assert (f"  accelerate: no: the host's {triple} cross gcc is version {host_major}, the rootfs's gcc is 16 "
            "(the major versions must match); building fully emulated") in p.stdout, p.stdout


def tree_digest(root: Path) -> str:
    """Every entry below `root`: path, type, mode, owner, size, mtime, link target and contents."""
    h = hashlib.sha256()
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for name in sorted(dirnames + filenames):
            path = Path(dirpath) / name
            st = path.lstat()
            h.update(f"{path.relative_to(root)}\0{st.st_mode}\0{st.st_uid}\0{st.st_gid}\0{st.st_size}\0{st.st_mtime_ns}\0".encode())
            if path.is_symlink():
                h.update(os.readlink(path).encode())
            elif path.is_file():
                with open(path, "rb") as f:
                    for chunk in iter(lambda: f.read(1 << 20), b""):
                        h.update(chunk)
    return h.hexdigest()


def usr_state() -> str:
    """The host's /usr: every entry's metadata (a write changes its ctime), and the contents of
    the cross toolchains the builds use."""
    h = hashlib.sha256()
    for dirpath, dirnames, filenames in os.walk("/usr"):
        dirnames.sort()
        for name in sorted(dirnames + filenames):
            st = os.lstat(os.path.join(dirpath, name))
            h.update(f"{dirpath}/{name}\0{st.st_mode}\0{st.st_size}\0{st.st_mtime_ns}\0{st.st_ctime_ns}\0".encode())
    for triple in TRIPLE.values():
        h.update(tree_digest(Path("/usr") / triple).encode())
        h.update(tree_digest(Path("/usr/lib/gcc-cross") / triple).encode())
    return h.hexdigest()


def test_rootfs_cache_and_host_usr_are_unchanged_and_read_only(xbuild, rootfs, tmp_path):
    arm64 = rootfs["linux/arm64"]
    before_rootfs, before_usr = tree_digest(arm64), usr_state()
    # A build that tries to write where the host shows through: every attempt must fail.
    proj = write_project(tmp_path / "writes", """
name = "writes"
language = "c"
platforms = ["linux/arm64"]
build = '''
touch {out}/wrote
touch /.xbuild-host/usr/xbuild-was-here 2>/dev/null && echo wrote host usr >> {out}/wrote || true
touch /usr/lib/x86_64-linux-gnu/xbuild-was-here 2>/dev/null && echo wrote host libs >> {out}/wrote || true
touch -c /lib64/ld-linux-x86-64.so.2 2>/dev/null && echo touched the host loader >> {out}/wrote || true
touch -c /.xbuild-host/usr/bin/sh 2>/dev/null && echo touched the host sh >> {out}/wrote || true
printf 'int main(void){return 0;}' > {build}/t.c && gcc -o {out}/t {build}/t.c
echo made > /usr/local/xbuild-was-here
'''
outputs = ["t"]
""")
    log = proj / "accel.log"  # the wrappers write it from inside the rootfs: under the project
    p = build(xbuild, proj, "linux/arm64", log=log)
    assert "linux/arm64 ok (emulate (accelerated), " in p.stderr, p.stderr
    assert (out_of(proj, "linux/arm64") / "wrote").read_text() == "", "the host was writable from the rootfs"
    assert log_lines(log), "no wrapper ran"
    # The write into the rootfs's own /usr/local went to the build's overlay, not the cache.
    assert not (arm64 / "usr/local/xbuild-was-here").exists()
    assert tree_digest(arm64) == before_rootfs
    assert usr_state() == before_usr
    assert host_mounts_under(arm64) == []


PHASE_TWO_TOML = r"""
name = "p2"
language = "c"
platforms = ["linux/arm64"]
build = '''
readlink /proc/$$/exe > {out}/sh-exe
printf 'all:\n\t@readlink /proc/$$PPID/exe\n' > {build}/Makefile
make -s -f {build}/Makefile > {out}/make-exe
uname -m > {out}/uname
printf 'int main(void){return 0;}' > {build}/t.c && gcc -o {out}/t {build}/t.c
'''
outputs = ["t"]
"""


def test_phase_two_sh_and_make_come_from_the_host(xbuild, rootfs, tmp_path):
    # The rootfs's dash and make are the host's where their Debian versions are equal (both
    # bookworm here). /proc/PID/exe of an emulated process is qemu; of a native one, itself.
    proj = write_project(tmp_path / "p2", PHASE_TWO_TOML)
    out = out_of(proj, "linux/arm64")
    p = build(xbuild, proj, "linux/arm64")
    assert "linux/arm64 ok (emulate (accelerated), " in p.stderr, p.stderr
    assert (out / "sh-exe").read_text().strip() == "/usr/bin/dash"
    assert (out / "make-exe").read_text().strip() == "/usr/bin/make"
    assert (out / "uname").read_text().strip() == "aarch64"  # what they run is still the target's
    plan = run([xbuild, "-C", proj, "plan", "--strategy", "emulate"], env=env_with()).stdout
    assert "and the host's dash, make (the same Debian version as the rootfs's)" in plan, plan
    build(xbuild, proj, "linux/arm64", "--no-accelerate")
    qemu = os.path.realpath(need("qemu-aarch64-static"))
    for f in ("sh-exe", "make-exe"):
        assert os.path.realpath((out / f).read_text().strip()) == qemu, f


def test_plan_shows_the_accelerated_tools(xbuild, rootfs, copy_project):
    proj = copy_project("c-make")
    major = host_gcc_major("aarch64-linux-gnu")
    p = run([xbuild, "-C", proj, "plan", "--platform", "linux/arm64,linux/arm/v7", "--strategy", "emulate"], env=env_with())
    lines = [l for l in p.stdout.splitlines() if l.startswith("  accelerate: ")]
    assert len(lines) == 2, p.stdout
    assert lines[0].startswith("  accelerate: gcc, cc, cpp, as, ld") and f"by the host's aarch64-linux-gnu-gcc-{major}" in lines[0]
    assert f"by the host's arm-linux-gnueabihf-gcc-{host_gcc_major('arm-linux-gnueabihf')}" in lines[1]
    doc = json.loads(run([xbuild, "-C", proj, "plan", "--json", "--platform", "linux/arm64", "--strategy", "emulate"],
                         env=env_with()).stdout)
    acc = doc["platforms"][0]["accelerate"]
    assert acc["mode"] == "auto" and acc["decided"] is True and acc["compiler"] == f"aarch64-linux-gnu-gcc-{major}"
    assert {"gcc", "cc", "as", "ld", f"aarch64-linux-gnu-gcc-{major}"} <= set(acc["tools"])
    off = run([xbuild, "-C", proj, "plan", "--platform", "linux/arm64", "--strategy", "emulate", "--no-accelerate"],
              env=env_with()).stdout
    assert "  accelerate: off: every tool runs under qemu" in off


def test_bad_accelerate_value_is_a_file_line_error(xbuild, tmp_path):
    proj = write_project(tmp_path / "bad", 'name = "bad"\nlanguage = "c"\nbuild = ["make"]\noutputs = ["x"]\n\n[emulate]\naccelerate = "maybe"\n')
    p = run([xbuild, "-C", proj, "plan"], check=False)
    assert p.returncode == 2, p.stderr
    assert re.search(r"xbuild\.toml:7:\d+: emulate\.accelerate must be \"auto\" or \"off\" \(got \"maybe\"\)", p.stderr), p.stderr
    proj2 = write_project(tmp_path / "bad2", 'name = "bad"\nlanguage = "c"\nbuild = ["make"]\noutputs = ["x"]\n\n[emulate]\naccelerate = true\n')
    p = run([xbuild, "-C", proj2, "plan"], check=False)
    assert p.returncode == 2 and "xbuild.toml:7:" in p.stderr, p.stderr
    # Both flags at once is a usage error too.
    p = run([xbuild, "-C", proj, "plan", "--accelerate", "--no-accelerate"], check=False)
    assert p.returncode == 2, p.stderr


def test_bench_reports_cross_emulate_and_accelerated_side_by_side(xbuild, rootfs, copy_project):
    proj = copy_project("c-make")
    p = run([xbuild, "bench", "-C", proj, "--platform", "linux/arm64", "--strategies", "cross,emulate,accelerated",
             "--json", "-"], env=env_with(), timeout=1800)
    doc = json.loads(p.stdout)
    rows = {r["strategy"]: r for r in doc["results"]}
    assert set(rows) == {"cross", "emulate", "accelerated"}
    for s, r in rows.items():
        assert r["built"] and r["test"] is True and r["wall_seconds"] > 0, (s, r)
    assert "note" not in rows["accelerated"], rows["accelerated"]
    assert doc["emulate_over_cross"]["linux/arm64"] > 0 and doc["accelerated_over_cross"]["linux/arm64"] > 0
    assert "linux/arm64: accelerated emulation is " in p.stderr
    assert re.search(r"linux/arm64\s+accelerated\s+[\d.]+\s+[\d.]+\s+[\d.]+x\s+pass", p.stderr), p.stderr


def test_matrix_jobs_keep_the_acceleration_flag(xbuild, copy_project):
    # A CI job generated by matrix builds as matrix was asked to: --no-accelerate is not dropped.
    proj = copy_project("c-make")
    for flag in ("--no-accelerate", "--accelerate"):
        g = run([xbuild, "-C", proj, "matrix", "--format", "gitlab", "--platform", "linux/arm64", flag,
                 "-t", "registry.example.com/team/app:1.0"])
        script = json.loads(g.stdout)["build-linux_arm64"]["script"][0]
        assert script.endswith(f" {flag}"), script
    g = run([xbuild, "-C", proj, "matrix", "--format", "gitlab", "--platform", "linux/arm64", "-t", "registry.example.com/team/app:1.0"])
    assert "accelerate" not in json.loads(g.stdout)["build-linux_arm64"]["script"][0]


def test_without_root_the_build_runs_fully_emulated_and_says_why(xbuild, rootfs):
    # In a user namespace the rootfs's directories belong to an unmapped owner: no overlay mount
    # points, so no acceleration; the build still works, emulated, with the planned message.
    import tempfile
    top = Path(tempfile.mkdtemp(prefix="xbuild-accel-"))  # in /tmp, which the user can reach
    try:
        proj = top / "c-make"
        shutil.copytree(PROJECTS / "c-make", proj, ignore=shutil.ignore_patterns(".xbuild"))
        run(["chown", "-R", "65534:65534", top])
        unprivileged_build(xbuild, rootfs, proj)
    finally:
        shutil.rmtree(top)


def unprivileged_build(xbuild, rootfs, proj):
    env = env_with(HOME=proj, XBUILD_ROOTFS=rootfs["linux/arm64"], XBUILD_NO_CGROUPS=1, XBUILD_ACCEL_LOG=proj / "accel.log")
    p = run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", xbuild, "-C", proj, "build",
             "--platform", "linux/arm64", "--strategy", "emulate"], env=env)
    assert ("warning: linux/arm64: accelerated emulation needs root (xbuild runs as uid 65534); "
            "building fully emulated") in p.stderr, p.stderr
    assert "linux/arm64 ok (emulate, " in p.stderr
    assert not (proj / "accel.log").exists()
    assert "ARM aarch64" in file_says(out_of(proj, "linux/arm64") / "hello")
