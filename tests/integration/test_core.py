"""Core build: real cross compilers build the examples for four platforms, every binary runs
under qemu-user and prints its architecture, and `file` agrees with xbuild's ELF check.
Then every error path of plan and build: bad TOML, unknown platform, missing toolchain,
failing build, wrong-architecture output, timeout, interrupt."""
import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from conftest import need, run

# platform -> (dir name, what uname -m says under qemu-user, what `file` says, qemu binary)
PLATFORMS = {
    "linux/amd64": ("linux_amd64", "x86_64", "x86-64", None),
    "linux/arm64": ("linux_arm64", "aarch64", "ARM aarch64", "qemu-aarch64-static"),
    "linux/arm/v7": ("linux_arm_v7", "armv7l", "ARM, EABI5", "qemu-arm-static"),
    "linux/riscv64": ("linux_riscv64", "riscv64", "RISC-V", "qemu-riscv64-static"),
}


def run_binary(path: Path, platform: str) -> str:
    qemu = PLATFORMS[platform][3]
    argv = [need(qemu), path] if qemu else [path]
    return run(argv).stdout


@pytest.mark.parametrize("example,platforms", [
    ("c-make", list(PLATFORMS)),
    ("cxx-cmake", list(PLATFORMS)),
    ("go", list(PLATFORMS)),
    ("rust", ["linux/amd64", "linux/arm64"]),
])
def test_examples_cross_build_and_run_under_qemu(xbuild, project_copy, tmp_path, example, platforms):
    need("file")
    proj = project_copy(example)
    out = tmp_path / "out"
    p = run([xbuild, "-C", proj, "build", "--platform", ",".join(platforms),
             "--output", f"type=local,dest={out}"])
    for plat in platforms:
        slug, machine, file_says, _ = PLATFORMS[plat]
        binary = out / slug / "hello"
        assert binary.exists(), f"{binary} missing; build said:\n{p.stderr}"
        verdict = run(["file", "-b", binary]).stdout
        assert file_says in verdict, f"{plat}: file says {verdict}"
        printed = run_binary(binary, plat)
        assert f"running on {machine}" in printed, f"{plat}: {printed}"
        # Each platform's full log is kept on disk.
        assert (proj / ".xbuild" / "logs" / f"{slug}.log").exists()
    # Output is streamed with a platform prefix (go and rust builds print nothing when they work),
    # and every platform reports its result.
    if example in ("c-make", "cxx-cmake"):
        assert "[linux/arm64]" in p.stdout, p.stdout
    for plat in platforms:
        assert f"{plat} ok (" in p.stdout + p.stderr, p.stdout + p.stderr


def test_plan_json_shows_strategy_toolchain_env_and_command(xbuild, project_copy):
    proj = project_copy("c-make")
    p = run([xbuild, "-C", proj, "plan", "--json", "--platform", "linux/amd64,linux/arm64,linux/arm/v7"])
    plan = json.loads(p.stdout)
    by = {x["platform"]: x for x in plan["platforms"]}
    assert by["linux/amd64"]["strategy"] == "native"
    assert by["linux/amd64"]["toolchain"] == "gcc-native"
    arm64 = by["linux/arm64"]
    assert arm64["strategy"] == "cross" and arm64["toolchain"] == "gcc-cross"
    assert arm64["env"]["CC"] == "aarch64-linux-gnu-gcc"
    assert arm64["env"]["TARGETPLATFORM"] == "linux/arm64"
    assert arm64["env"]["TARGETARCH"] == "arm64"
    assert arm64["env"]["BUILDPLATFORM"] == "linux/amd64"
    assert arm64["env"]["QEMU_LD_PREFIX"] == "/usr/aarch64-linux-gnu"
    assert arm64["command"][0] == "make"
    assert f"OUT={proj}/.xbuild/out/linux_arm64" in arm64["command"]
    armv7 = by["linux/arm/v7"]
    assert armv7["env"]["TARGETVARIANT"] == "v7"
    assert armv7["env"]["CC"] == "arm-linux-gnueabihf-gcc"
    # Planning runs nothing.
    assert not (proj / ".xbuild" / "out").exists()


def test_plan_go_and_rust_environment(xbuild, project_copy):
    go = json.loads(run([xbuild, "-C", project_copy("go"), "plan", "--json", "--platform", "linux/arm/v7"]).stdout)
    env = go["platforms"][0]["env"]
    assert (env["GOARCH"], env["GOARM"], env["CGO_ENABLED"]) == ("arm", "7", "0")
    rust = json.loads(run([xbuild, "-C", project_copy("rust"), "plan", "--json", "--platform", "linux/arm64"]).stdout)
    env = rust["platforms"][0]["env"]
    assert env["CARGO_BUILD_TARGET"] == "aarch64-unknown-linux-gnu"
    assert env["CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER"] == "aarch64-linux-gnu-gcc"


def test_missing_toolchain_says_what_to_install(xbuild, project_copy, tmp_path):
    proj = project_copy("c-make")
    env = dict(os.environ, XBUILD_BINFMT_DIR=str(tmp_path))  # no qemu handlers: no emulation fallback
    p = run([xbuild, "-C", proj, "plan", "--platform", "linux/s390x"], check=False, env=env)
    assert p.returncode == 3, p.stderr
    assert "no toolchain for linux/s390x" in p.stdout
    assert "apt-get install g++-s390x-linux-gnu" in p.stdout
    assert "configure emulation" in p.stdout
    b = run([xbuild, "-C", proj, "build", "--platform", "linux/amd64,linux/s390x"], check=False, env=env)
    assert b.returncode == 3
    assert "linux/s390x: no toolchain" in b.stderr
    assert not (proj / ".xbuild" / "out" / "linux_amd64" / "hello").exists(), "nothing runs when a platform cannot"


def test_toolchains_lists_usable_and_install_hints(xbuild):
    p = run([xbuild, "toolchains", "--json"])
    data = json.loads(p.stdout)
    tcs = {t["name"]: t for t in data["toolchains"]}
    for name in ("gcc-native", "gcc-cross", "clang-cross", "go", "go-cgo", "rust-debian", "rust-rustup"):
        assert name in tcs, name
    plats = {x["platform"]: x for x in tcs["gcc-cross"]["platforms"]}
    assert plats["linux/arm64"]["usable"] is True
    assert plats["linux/s390x"]["usable"] is False
    assert plats["linux/s390x"]["install"] == "apt-get install g++-s390x-linux-gnu"
    text = run([xbuild, "toolchains"]).stdout
    assert "gcc-cross" in text and "usable" in text
    assert "linux/s390x      missing: CC s390x-linux-gnu-gcc not found" in text and "install with: apt-get install" in text


def test_user_toolchain_dir_overrides_and_extends(xbuild, project_copy, tmp_path):
    mine = tmp_path / "tc"
    mine.mkdir()
    (mine / "my-arm.toml").write_text(
        'description = "mine"\nlanguages = ["c"]\nplatforms = ["linux/arm64"]\npriority = 50\n'
        'probe = ["aarch64-linux-gnu-gcc", "--version"]\n[env]\nCC = "aarch64-linux-gnu-gcc -DMINE"\n')
    env = dict(os.environ, XBUILD_TOOLCHAIN_PATH=str(mine))
    plan = json.loads(run([xbuild, "-C", project_copy("c-make"), "plan", "--json", "--platform", "arm64"], env=env).stdout)
    assert plan["platforms"][0]["toolchain"] == "my-arm"
    assert plan["platforms"][0]["env"]["CC"].endswith("-DMINE")


def write_project(dir: Path, text: str) -> Path:
    dir.mkdir(parents=True, exist_ok=True)
    (dir / "xbuild.toml").write_text(text)
    return dir


def test_bad_toml_names_file_line_column(xbuild, tmp_path):
    proj = write_project(tmp_path / "p", 'name = "x"\nbuild = ["make"\noutputs = ["a"]\n')
    p = run([xbuild, "-C", proj, "plan"], check=False)
    assert p.returncode == 2
    assert f"{proj}/xbuild.toml:3:" in p.stderr or f"{proj}/xbuild.toml:2:" in p.stderr, p.stderr
    typo = write_project(tmp_path / "q", 'name = "x"\nbuild = ["make"]\noutputs = ["a"]\nplatfroms = ["amd64"]\n')
    p = run([xbuild, "-C", typo, "plan"], check=False)
    assert p.returncode == 2
    assert "xbuild.toml:4:1: unknown key 'platfroms'" in p.stderr


def test_unknown_platform_lists_known_ones(xbuild, project_copy):
    p = run([xbuild, "-C", project_copy("c-make"), "build", "--platform", "linux/amd64,linux/sparc"], check=False)
    assert p.returncode == 2
    assert "--platform: unknown platform 'linux/sparc'" in p.stderr
    assert "linux/riscv64" in p.stderr and "linux/arm/v7" in p.stderr


def test_bad_flags_are_usage_errors(xbuild, project_copy):
    proj = project_copy("c-make")
    for args, needle in [(["--strategy", "linux/arm64=magic"], "unknown strategy"),
                         (["--output", "type=floppy,dest=x"], "unknown type"),
                         (["--output", "type=local"], "missing dest"),
                         (["--progress", "fancy"], "--progress")]:
        p = run([xbuild, "-C", proj, "build", "--platform", "amd64", *args], check=False)
        assert p.returncode == 2, (args, p.stderr)
        assert needle in p.stderr, (args, p.stderr)


FAILING = '''name = "failing"
language = "c"
build = """
case "$TARGETARCH" in
  riscv64) echo "riscv64 cannot build today" >&2; exit 7 ;;
  arm64) sleep 1; echo "arm64 broke too" >&2; exit 9 ;;
esac
sleep 2
$CC -static -o {out}/hello {src}/hello.c
"""
outputs = ["hello"]
'''


def test_failing_build_cancels_the_rest_or_keeps_going(xbuild, tmp_path):
    proj = write_project(tmp_path / "f", FAILING)
    (proj / "hello.c").write_text("int main(void){return 0;}\n")
    plats = "linux/amd64,linux/arm64,linux/riscv64"
    # -j 3: all three start; riscv64 fails at once and the other two are killed.
    p = run([xbuild, "-C", proj, "build", "-j", "3", "--platform", plats], check=False)
    assert p.returncode == 1
    assert "1 of 3 platforms failed" in p.stderr
    assert "linux/riscv64:" in p.stderr and "exit 7" in p.stderr
    assert "cancelled" in p.stderr
    assert "riscv64 cannot build today" in (proj / ".xbuild/logs/linux_riscv64.log").read_text()

    p = run([xbuild, "-C", proj, "build", "--keep-going", "--platform", plats], check=False)
    assert p.returncode == 1
    assert "2 of 3 platforms failed" in p.stderr
    assert "linux/riscv64:" in p.stderr and "linux/arm64:" in p.stderr
    assert "linux/amd64 ok" in p.stderr
    assert (proj / ".xbuild/out/linux_amd64/hello").exists()


def test_wrong_architecture_output_is_caught(xbuild, tmp_path):
    proj = write_project(tmp_path / "w", '''name = "wrong"
language = "c"
build = "gcc -o {out}/hello {src}/hello.c"
outputs = ["hello"]
''')
    (proj / "hello.c").write_text("int main(void){return 0;}\n")
    p = run([xbuild, "-C", proj, "build", "--platform", "linux/arm64"], check=False)
    assert p.returncode == 1
    assert "hello is ELF 64-bit LSB x86_64, but linux/arm64 needs ELF 64-bit LSB aarch64" in p.stderr, p.stderr


def test_missing_output_is_named(xbuild, tmp_path):
    proj = write_project(tmp_path / "m", 'name = "m"\nbuild = ["true"]\noutputs = ["bin/app"]\n')
    p = run([xbuild, "-C", proj, "build", "--platform", "linux/amd64"], check=False)
    assert p.returncode == 1
    assert "output 'bin/app' was not produced" in p.stderr


def test_timeout_kills_the_build(xbuild, tmp_path):
    proj = write_project(tmp_path / "t", 'name = "t"\nbuild = "sleep 300"\noutputs = ["x"]\n')
    start = time.monotonic()
    p = run([xbuild, "-C", proj, "build", "--platform", "linux/amd64", "--timeout", "1"], check=False)
    assert p.returncode == 1
    assert "timed out after 1s" in p.stderr
    assert time.monotonic() - start < 60


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_interrupt_kills_every_process_group(xbuild, tmp_path, sig):
    pids = tmp_path / "pids"
    pids.mkdir()
    proj = write_project(tmp_path / "i", f'''name = "i"
build = """
sleep 300 &
echo $! > {pids}/$TARGETARCH.grandchild
echo $$ > {pids}/$TARGETARCH.shell
echo started
wait
"""
outputs = ["x"]
''')
    proc = subprocess.Popen([str(xbuild), "-C", str(proj), "build", "--platform", "linux/amd64,linux/arm64"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    # A pid file exists as soon as the shell opened it, and is complete once its line ends.
    def written():
        return [f for f in pids.iterdir() if f.read_text().endswith("\n")]
    deadline = time.monotonic() + 30
    while len(written()) < 4 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert len(written()) == 4, "builds did not start"
    started = [int(f.read_text()) for f in pids.iterdir()]
    assert all(alive(p) for p in started)
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, err
    assert "interrupted" in err
    time.sleep(0.5)
    left = [p for p in started if alive(p)]
    assert not left, f"processes left behind: {left}"


def test_meson_cross_file_builds_a_meson_project(xbuild, tmp_path):
    need("meson")
    proj = write_project(tmp_path / "meson", '''name = "meson-hello"
language = "c"
build = """
meson setup --cross-file {meson_cross} {build}/m {src} >/dev/null
ninja -C {build}/m
cp {build}/m/hello {out}/hello
"""
outputs = ["hello"]
''')
    (proj / "meson.build").write_text("project('hello', 'c')\nexecutable('hello', 'hello.c', link_args : ['-static'])\n")
    (proj / "hello.c").write_text('#include <stdio.h>\nint main(void){puts("meson hello");return 0;}\n')
    run([xbuild, "-C", proj, "build", "--platform", "linux/riscv64"])
    binary = proj / ".xbuild/out/linux_riscv64/hello"
    assert "RISC-V" in run(["file", "-b", binary]).stdout
    assert run([need("qemu-riscv64-static"), binary]).stdout.strip() == "meson hello"
    cross = (proj / ".xbuild/toolchain/linux_riscv64.meson.ini").read_text()
    assert "c = ['riscv64-linux-gnu-gcc']" in cross and "cpu_family = 'riscv64'" in cross


def test_matrix_json(xbuild, project_copy):
    m = json.loads(run([xbuild, "-C", project_copy("go"), "matrix"]).stdout)
    assert [e["platform"] for e in m["include"]] == list(PLATFORMS)
    assert m["include"][2]["slug"] == "linux_arm_v7"


def test_progress_json_and_tty(xbuild, project_copy, tmp_path):
    proj = project_copy("c-make")
    p = run([xbuild, "-C", proj, "build", "--platform", "linux/arm64,linux/riscv64", "--progress", "json",
             "--output", f"type=local,dest={tmp_path / 'o'}"])
    events = [json.loads(line) for line in p.stdout.splitlines() if '"event":"line"' in line]
    assert {e["platform"] for e in events} == {"linux/arm64", "linux/riscv64"}
    assert any("aarch64-linux-gnu-gcc" in e["line"] for e in events)
    # The TTY view redraws one status line per platform and the count in place (cursor up, clear line).
    p = run(["script", "-qec", f"{xbuild} -C {proj} build --clean --platform linux/arm64,linux/riscv64 "
             f"--output type=local,dest={tmp_path / 't'}", "/dev/null"])
    assert "\x1b[3A" in p.stdout and "\x1b[2K" in p.stdout
    assert "2 of 2 done: 2 ok" in p.stdout
    assert "[linux/riscv64]" in p.stdout


def test_bad_input_is_caught_before_building(xbuild, project_copy, tmp_path):
    proj = project_copy("c-make")
    afile = tmp_path / "afile"
    afile.write_text("x")
    for args, needle in [(["-t", "Bad Ref"], "-t Bad Ref: invalid image reference"),
                         (["-t", "app:1", "."], "unexpected argument '.'"),
                         (["-j", "0"], "--jobs"),
                         (["--creds", "nocolon", "--push", "-t", "localhost:5000/a:1"], "--creds must be USER:PASSWORD"),
                         (["-o", f"type=local,dest={afile}"], "exists and is not a directory")]:
        p = run([xbuild, "-C", proj, "build", "--platform", "arm64", *args], check=False)
        assert p.returncode == 2, (args, p.stderr)
        assert needle in p.stderr, (args, p.stderr)
        assert not (proj / ".xbuild" / "out").exists(), f"{args}: built before rejecting the input"
    toml = proj / "xbuild.toml"
    toml.write_text('toolchain = "gcc-crosss"\n' + toml.read_text())
    p = run([xbuild, "-C", proj, "plan", "--platform", "arm64"], check=False)
    assert p.returncode == 2
    assert "unknown toolchain 'gcc-crosss'; known: " in p.stderr and "gcc-cross" in p.stderr


def test_inspect_of_a_missing_path_is_not_a_registry_lookup(xbuild, tmp_path):
    for target in ["nonexist", "nonexist.tar", str(tmp_path / "nope") + ":1.0"]:
        p = run([xbuild, "inspect", target], check=False)
        assert p.returncode == 2, (target, p.stderr)
        assert "no such OCI layout or oci-archive" in p.stderr, p.stderr


def test_timeout_still_fires_when_a_build_floods_its_output(xbuild, tmp_path):
    proj = write_project(tmp_path / "flood", 'name = "f"\nbuild = "yes"\noutputs = ["x"]\n')
    start = time.monotonic()
    p = run([xbuild, "-C", proj, "build", "--platform", "linux/amd64", "--timeout", "2", "--progress", "plain"],
            check=False, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, capture_output=False)
    assert p.returncode == 1
    assert "timed out after 2s" in p.stderr
    assert time.monotonic() - start < 60


def test_a_signal_ignored_at_start_stays_ignored_like_nohup(xbuild, tmp_path):
    proj = write_project(tmp_path / "nohup", 'name = "n"\nbuild = "sleep 3; echo done > {out}/x"\noutputs = ["x"]\n')
    proc = subprocess.Popen([str(xbuild), "-C", str(proj), "build", "--platform", "linux/amd64", "-o", f"type=local,dest={tmp_path / 'o'}"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGHUP, signal.SIG_IGN))
    time.sleep(1)
    proc.send_signal(signal.SIGHUP)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert (tmp_path / "o" / "linux_amd64" / "x").read_text().strip() == "done"
