"""One environment per platform for build and test, tests that prove they ran the target,
and source isolation for in-tree builds (issue: one build environment for every strategy).
Everything runs for real: Go's and Debian's cross compilers, qemu-user through binfmt_misc."""
import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from conftest import need, run, wait_until_empty
from emu_helpers import env_with, file_says, processes_matching, rootfs_for

GO_PLATFORMS = ["linux/amd64", "linux/arm64", "linux/riscv64", "linux/s390x"]
C_PLATFORMS = ["linux/amd64", "linux/arm64", "linux/arm/v7", "linux/riscv64"]
UNAME = {"linux/amd64": "x86_64", "linux/arm64": "aarch64", "linux/arm/v7": "armv7l", "linux/riscv64": "riscv64"}


def test_go_test_runs_the_target_binary_on_every_platform(xbuild, project_copy):
    need("go")
    d = project_copy("go-test")
    p = run([xbuild, "-C", d, "test", "--build", "--platform", ",".join(GO_PLATFORMS)])
    for plat in GO_PLATFORMS:
        goarch = plat.split("/")[1]
        # `go env GOARCH` now answers for the target, and the test binary ran as it.
        assert f"[{plat}] {goarch}" in p.stdout, p.stdout
        assert f"test binary ran as GOARCH={goarch}" in p.stdout, p.stdout
        line = next(l for l in p.stdout.splitlines() if l.startswith("PASS") and plat in l.split()[1:2])
        if plat != "linux/amd64":
            assert "under qemu" in line and "test binaries: " in line, line
    assert "FAIL" not in p.stdout


def test_a_test_that_runs_only_host_programs_fails(xbuild, project_copy):
    """The reported bug: `go env GOARCH; go test` without GOARCH printed amd64 and PASSed."""
    d = project_copy("go-test")
    run([xbuild, "-C", d, "build", "--platform", "linux/arm64"])
    toml = (d / "xbuild.toml").read_text()
    # Only host programs: exits 0, but nothing ran as arm64.
    (d / "xbuild.toml").write_text(toml.replace('test = "go env GOARCH; go test -count=1 -v ./..."',
                                                'test = "unset GOARCH; go env GOARCH"'))
    p = run([xbuild, "-C", d, "test", "--platform", "linux/arm64"], check=False)
    assert p.returncode == 1, p.stdout + p.stderr
    assert "FAIL  linux/arm64" in p.stdout
    assert "ran no linux/arm64 program" in p.stdout, p.stdout
    # A test binary built for the host is named, even though Go's own check would fail too.
    (d / "xbuild.toml").write_text(toml.replace('test = "go env GOARCH; go test -count=1 -v ./..."',
                                                'test = "unset GOARCH; go test -count=1 ./..."'))
    p = run([xbuild, "-C", d, "test", "--platform", "linux/arm64"], check=False)
    assert p.returncode == 1
    assert "FAIL  linux/arm64" in p.stdout


def test_go_test_with_goarch_dropped_is_caught_by_xbuild_even_if_the_test_passes(xbuild, project_copy):
    d = project_copy("go-test")
    run([xbuild, "-C", d, "build", "--platform", "linux/arm64"])
    (d / "arch_test.go").write_text('package main\n\nimport "testing"\n\nfunc TestNothing(t *testing.T) {}\n')
    toml = (d / "xbuild.toml").read_text()
    (d / "xbuild.toml").write_text(toml.replace('test = "go env GOARCH; go test -count=1 -v ./..."',
                                                'test = "unset GOARCH; go test -count=1 ./..."'))
    p = run([xbuild, "-C", d, "test", "--platform", "linux/arm64", "--json"], check=False)
    assert p.returncode == 1
    res = json.loads(p.stdout)["platforms"][0]
    assert not res["ok"]
    assert "not for linux/arm64" in res["error"] and "x86-64" in res["error"].lower().replace("_", "-"), res


def test_plan_shows_the_test_environment(xbuild, project_copy):
    d = project_copy("go-test")
    p = run([xbuild, "-C", d, "plan", "--platform", "linux/riscv64", "--json"])
    plat = json.loads(p.stdout)["platforms"][0]
    assert plat["env"]["GOARCH"] == "riscv64"
    assert plat["test"]["env"]["GOARCH"] == "riscv64"
    assert "-exec=" in plat["test"]["env"]["GOFLAGS"]
    assert plat["test"]["env"]["QEMU_LOG_FILENAME"].endswith("qemu-%d.log")
    text = run([xbuild, "-C", d, "plan", "--platform", "linux/riscv64"]).stdout
    assert "test:      sh -ec" in text and "test env (the build's, plus):" in text


def test_in_tree_makefile_builds_four_platforms_at_once_with_copy(xbuild, project_copy):
    d = project_copy("c-intree")
    p = run([xbuild, "-C", d, "build", "--platform", ",".join(C_PLATFORMS), "-o", d / "dist"])
    assert "wrote into the shared source tree" not in p.stderr
    for plat in C_PLATFORMS:
        slug = plat.replace("/", "_")
        prog = d / "dist" / slug / "hello"
        out = run([prog]).stdout  # binfmt runs the foreign ones
        assert f"running on {UNAME[plat]}" in out, (plat, out)
        # Each platform's objects are in its own snapshot; the source tree has none.
        assert (d / ".xbuild" / "src" / slug / "libarch.a").exists()
    assert not list(d.glob("*.o")) and not (d / "libarch.a").exists()
    assert "ARM aarch64" in file_says(d / "dist" / "linux_arm64" / "hello")
    # A second build is incremental: make finds its objects in the snapshot.
    p = run([xbuild, "-C", d, "build", "--platform", "linux/arm64", "-v"])
    assert "-c -o main.o" not in p.stdout, p.stdout
    # An edit in the source reaches the snapshot.
    (d / "main.c").write_text((d / "main.c").read_text().replace("hello from c", "hi from c"))
    run([xbuild, "-C", d, "build", "--platform", "linux/arm64", "-o", d / "dist2"])
    assert "hi from c" in run([d / "dist2" / "linux_arm64" / "hello"]).stdout


def test_in_tree_build_with_shared_source_warns(xbuild, project_copy):
    d = project_copy("c-intree")
    toml = (d / "xbuild.toml").read_text()
    (d / "xbuild.toml").write_text('source = "shared"\n' + toml)
    p = run([xbuild, "-C", d, "build", "--platform", "linux/arm64"])
    assert "wrote into the shared source tree" in p.stderr, p.stderr
    assert 'source = "copy"' in p.stderr
    assert "main.o" in p.stderr


def test_emulated_makefile_with_ar_and_ranlib(xbuild, project_copy):
    """--strategy emulate gets AR=ar, RANLIB=ranlib...: the in-tree makefile links in the rootfs."""
    rootfs_for(xbuild)
    d = project_copy("c-intree")
    p = run([xbuild, "-C", d, "build", "--platform", "linux/arm64", "--strategy", "emulate", "-o", d / "dist"],
            env=env_with(), timeout=1800)
    assert "linux/arm64 ok (emulate" in p.stderr + p.stdout
    out = run([d / "dist" / "linux_arm64" / "hello"]).stdout
    assert "built for aarch64, running on aarch64" in out, out
    plan = json.loads(run([xbuild, "-C", d, "plan", "--platform", "linux/arm64", "--strategy", "emulate", "--json"]).stdout)
    env = plan["platforms"][0]["env"]
    assert (env["AR"], env["RANLIB"], env["STRIP"], env["PKG_CONFIG"]) == ("ar", "ranlib", "strip", "pkg-config")
    assert env["GOARCH"] == "arm64" and env["RUST_TARGET"] == "aarch64-unknown-linux-gnu"


def test_test_exec_wrapper_refuses_a_missing_program(xbuild):
    p = run([xbuild, "__test-exec", "linux/arm64", "/nonexistent"], check=False)
    assert p.returncode == 2 and "usage: xbuild __test-exec PLATFORM RECORD_DIR PROGRAM" in p.stderr


def test_file_flag_and_cc_placeholder(xbuild, tmp_path):
    need("aarch64-linux-gnu-gcc")
    d = tmp_path / "p"
    d.mkdir()
    (d / "main.c").write_text('#include <stdio.h>\nint main(void){puts("cc placeholder");return 0;}\n')
    (d / "other.toml").write_text(
        'name = "f"\nlanguage = "c"\nbuild = ["{cc}", "-static", "-o", "{out}/hello", "{src}/main.c"]\n'
        'outputs = ["hello"]\n')
    p = run([xbuild, "-C", d, "-f", d / "other.toml", "build", "--platform", "linux/arm64", "-o", d / "dist"])
    assert "ARM aarch64" in file_says(d / "dist" / "linux_arm64" / "hello")
    assert "cc placeholder" in run([d / "dist" / "linux_arm64" / "hello"]).stdout
    p = run([xbuild, "-C", d, "-f", d / "missing.toml", "plan"], check=False)
    assert p.returncode == 2 and "-f" in p.stderr and "missing.toml" in p.stderr


def _wait_for(pattern, timeout=60):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if processes_matching(pattern):
            return True
        time.sleep(0.1)
    return False


def _gone(pattern):
    return wait_until_empty(lambda: processes_matching(pattern))


def _built_arm64_project(xbuild, d: Path, main_c: str, test: str) -> Path:
    """A one-file C program cross-built for linux/arm64, with `test` as its test command."""
    need("aarch64-linux-gnu-gcc")
    d.mkdir()
    (d / "main.c").write_text(main_c)
    (d / "xbuild.toml").write_text(
        'name = "p"\nlanguage = "c"\nplatforms = ["linux/arm64"]\n'
        'build = ["sh", "-c", "$CC -static -o {out}/hello {src}/main.c"]\noutputs = ["hello"]\n'
        f'test = "{test}"\n')
    run([xbuild, "-C", d, "build"])
    return d


@pytest.mark.parametrize("how", ["sigint-group", "sigterm-xbuild"])
@pytest.mark.parametrize("command", ["test", "bench"])
def test_signals_stop_test_and_bench_and_leave_nothing(xbuild, tmp_path, how, command):
    marker = f"xbuild-sig-{command}-{how}-{os.getpid()}"
    d = _built_arm64_project(xbuild, tmp_path / "p", 'int main(void){return 0;}\n',
                             f"sh -c 'sleep 300; echo {marker}' & sleep 301 # {marker}")
    args = [xbuild, "-C", d, command] + (["--strategies", "cross"] if command == "bench" else [])
    proc = subprocess.Popen([str(a) for a in args], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            start_new_session=True, text=True)
    try:
        assert _wait_for(f"sleep 301 # {marker}"), "the test command never started"
        if how == "sigint-group":
            os.killpg(proc.pid, signal.SIGINT)
        else:
            proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=30)
        assert proc.returncode == 130, out
        assert _gone(marker) == [], "processes left behind"
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        for line in processes_matching(marker):
            os.kill(int(line.split(":")[0]), signal.SIGKILL)


def test_a_test_that_leaves_a_background_child_ends_with_its_command(xbuild, tmp_path):
    """The job ends when the test command exits; the leftover holding the pipe is killed."""
    marker = f"xbuild-bg-{os.getpid()}"
    d = _built_arm64_project(xbuild, tmp_path / "p", '#include <stdio.h>\nint main(void){puts("");puts("  indented");return 0;}\n',
                             f"{{out}}/hello; (sleep 120; echo {marker}) &")
    start = time.monotonic()
    p = run([xbuild, "-C", d, "test", "--timeout", "100"], check=False)
    assert p.returncode == 0, p.stdout + p.stderr
    assert time.monotonic() - start < 100, "the test waited for its background child"
    assert "[linux/arm64] \n" in p.stdout and "[linux/arm64]   indented\n" in p.stdout, p.stdout
    assert _gone(f"echo {marker}") == []


def test_cargo_test_runs_the_target_test_binary(xbuild, project_copy):
    """cargo build and cargo test for amd64 and arm64: Debian's cargo with Debian's rustc, the
    target's linker from the toolchain, and the test binary run through xbuild's Cargo runner."""
    need("/usr/bin/cargo")
    d = project_copy("rust-cargo")
    p = run([xbuild, "-C", d, "test", "--build", "--platform", "linux/amd64,linux/arm64"], timeout=1800)
    assert "test binary ran as x86_64" in p.stdout, p.stdout
    assert "test binary ran as aarch64" in p.stdout, p.stdout
    line = next(l for l in p.stdout.splitlines() if l.startswith("PASS") and "linux/arm64" in l)
    assert "test binaries: hello-" in line and "aarch64" in line.lower(), line
    assert "ARM aarch64" in file_says(d / ".xbuild" / "out" / "linux_arm64" / "hello")


def test_auto_emulated_cargo_build_gets_rust_in_its_rootfs(xbuild, project_copy):
    """With the language's default packages (rustc, cargo, gcc, libc6-dev) an emulated cargo
    build works: the rootfs is created with Rust in it (once per machine, then cached)."""
    need("mmdebstrap")
    d = project_copy("rust-cargo")
    plan = json.loads(run([xbuild, "-C", d, "plan", "--platform", "linux/arm64", "--strategy", "emulate", "--json"]).stdout)
    assert plan["platforms"][0]["strategy"] == "emulate"
    p = run([xbuild, "-C", d, "build", "--platform", "linux/arm64", "--strategy", "emulate"], env=env_with(), timeout=3000)
    assert "linux/arm64 ok (emulate" in p.stdout + p.stderr, p.stdout + p.stderr
    hello = d / ".xbuild" / "out" / "linux_arm64" / "hello"
    assert "ARM aarch64" in file_says(hello)
    assert "built for aarch64" in run([hello]).stdout
