"""Toolchain probes for real: every tool a descriptor sets is looked up (and named with its
install command when missing), a preferred toolchain that cannot serve a platform gives way
to the next cross toolchain with a note in the plan, Debian's cargo + rustc build a cargo
project for arm64 that runs under qemu, and an emulated build whose rootfs lacks the build's
tool stops before anything runs, naming the package."""
import json
import os
import shutil
import subprocess
import time
from pathlib import Path

from conftest import need, run
from emu_helpers import env_with, file_says, rootfs_for, write_project

CARGO_PROJECT = """
name = "hello-cargo"
language = "rust"
platforms = ["linux/arm64"]
build = "cargo build --offline --release --target-dir {build} && cp {build}/$CARGO_BUILD_TARGET/release/hello-cargo {out}/hello"
outputs = ["hello"]
"""
CARGO_TOML = '[package]\nname = "hello-cargo"\nversion = "0.1.0"\nedition = "2021"\n'
MAIN_RS = 'fn main() { println!("hello from cargo on {}", std::env::consts::ARCH); }\n'


def cargo_project(dir: Path, toml: str = CARGO_PROJECT) -> Path:
    write_project(dir, toml, {"Cargo.toml": CARGO_TOML})
    (dir / "src").mkdir(exist_ok=True)
    (dir / "src" / "main.rs").write_text(MAIN_RS)
    return dir


def plan_of(xbuild, proj, platform, env=None) -> dict:
    p = run([xbuild, "-C", proj, "plan", "--json", "--platform", platform], env=env)
    return json.loads(p.stdout)["platforms"][0]


def test_toolchains_names_the_missing_tool_and_its_install_command(xbuild, tmp_path):
    tcs = tmp_path / "tc"
    tcs.mkdir()
    (tcs / "half.toml").write_text(
        'description = "a C toolchain whose pkg-config is not installed"\nlanguages = ["c"]\n'
        'platforms = ["linux/arm64"]\ninstall = "apt-get install g++-{triple}"\n'
        '[install_tool]\nPKG_CONFIG = "apt-get install xb-pkgconf-{debian_arch}"\n'
        'AR = "apt-get install xb-binutils-{triple}"\n'
        '[env]\nCC = "aarch64-linux-gnu-gcc"\nPKG_CONFIG = "xb-no-such-pkg-config-{triple}"\n')
    (tcs / "broken.toml").write_text(
        'description = "a C toolchain whose ar is not installed"\nlanguages = ["c"]\n'
        'platforms = ["linux/arm64"]\ninstall = "apt-get install g++-{triple}"\n'
        '[install_tool]\nAR = "apt-get install xb-binutils-{triple}"\n'
        '[env]\nCC = "aarch64-linux-gnu-gcc"\nAR = "xb-no-such-ar-{triple}"\n')
    env = dict(os.environ, XBUILD_TOOLCHAIN_PATH=str(tcs))
    text = run([xbuild, "toolchains"], env=env).stdout
    half = text[text.index("\nhalf "):]
    half = half[:half.index("\n\n")] if "\n\n" in half else half
    assert ("linux/arm64      usable; warning: PKG_CONFIG xb-no-such-pkg-config-aarch64-linux-gnu not found: "
            "builds that run pkg-config fail") in half, half
    assert "install with: apt-get install xb-pkgconf-arm64" in half
    broken = text[text.index("\nbroken "):]
    assert ("linux/arm64      missing: AR xb-no-such-ar-aarch64-linux-gnu not found; "
            "install with: apt-get install xb-binutils-aarch64-linux-gnu") in broken, broken

    data = {t["name"]: t for t in json.loads(run([xbuild, "toolchains", "--json"], env=env).stdout)["toolchains"]}
    h = data["half"]["platforms"][0]
    assert h["usable"] is True and len(h["warnings"]) == 1
    tools = {t["name"]: t for t in h["tools"]}
    assert tools["CC"]["found"] == shutil.which("aarch64-linux-gnu-gcc")
    assert tools["PKG_CONFIG"]["found"] is None and tools["PKG_CONFIG"]["need"] == "optional"
    assert tools["PKG_CONFIG"]["install"] == "apt-get install xb-pkgconf-arm64"
    b = data["broken"]["platforms"][0]
    assert b["usable"] is False and "AR xb-no-such-ar-aarch64-linux-gnu not found" in b["problem"]


def test_shipped_gcc_cross_reports_the_real_pkg_config(xbuild):
    # Whatever this machine has: the report must agree with a PATH lookup xbuild did not do.
    need("aarch64-linux-gnu-gcc")
    data = {t["name"]: t for t in json.loads(run([xbuild, "toolchains", "--json"]).stdout)["toolchains"]}
    arm64 = {p["platform"]: p for p in data["gcc-cross"]["platforms"]}["linux/arm64"]
    tools = {t["name"]: t for t in arm64["tools"]}
    assert arm64["usable"] is True
    assert tools["PKG_CONFIG"]["found"] == shutil.which("aarch64-linux-gnu-pkg-config")
    if shutil.which("aarch64-linux-gnu-pkg-config") is None:
        assert any("aarch64-linux-gnu-pkg-config not found" in w and "apt-get install pkgconf:arm64" in w
                   for w in arm64["warnings"]), arm64
    else:
        assert arm64["warnings"] == []


def test_a_meson_project_plan_notes_the_missing_pkg_config(xbuild, tmp_path):
    tcs = tmp_path / "tc"
    tcs.mkdir()
    (tcs / "nopc.toml").write_text(
        'languages = ["c"]\nplatforms = ["linux/arm64"]\npriority = 90\ninstall = "apt-get install g++-{triple}"\n'
        '[env]\nCC = "aarch64-linux-gnu-gcc"\nPKG_CONFIG = "xb-no-such-pkg-config"\n')
    proj = write_project(tmp_path / "p", 'name = "m"\nlanguage = "c"\nbuild = ["meson", "setup", "{build}"]\noutputs = ["a"]\n')
    plan = plan_of(xbuild, proj, "linux/arm64", env=dict(os.environ, XBUILD_TOOLCHAIN_PATH=str(tcs)))
    assert plan["strategy"] == "cross" and plan["toolchain"] == "nopc"
    assert any(n.startswith("nopc: PKG_CONFIG xb-no-such-pkg-config not found") for n in plan["notes"]), plan["notes"]


def test_preferred_toolchain_that_cannot_serve_gives_way_to_the_next_cross_toolchain(xbuild, tmp_path):
    proj = write_project(tmp_path / "p", 'name = "p"\nlanguage = "c"\ntoolchain = "pref"\n'
                                         'build = ["make"]\noutputs = ["a"]\n')
    (proj / "toolchains").mkdir()
    (proj / "toolchains" / "pref.toml").write_text(
        'languages = ["c"]\nplatforms = ["linux/arm64"]\nprobe = ["false"]\n'
        'probe_problem = "no {arch} sysroot installed"\ninstall = "install-a-sysroot {arch}"\n[env]\nCC = "sh"\n')
    plan = plan_of(xbuild, proj, "linux/arm64")
    assert plan["strategy"] == "cross" and plan["toolchain"] == "gcc-cross"
    assert "pref: no arm64 sysroot installed; install with: install-a-sysroot arm64; using gcc-cross" in plan["notes"]
    text = run([xbuild, "-C", proj, "plan", "--platform", "linux/arm64"]).stdout
    assert "note:      pref: no arm64 sysroot installed" in text
    assert "toolchain: gcc-cross" in text


def test_rust_rustup_without_the_target_gives_way_to_rust_debian(xbuild, tmp_path):
    need("rustup")
    installed = run(["rustup", "target", "list", "--installed"]).stdout.split()
    proj = cargo_project(tmp_path / "p", CARGO_PROJECT + 'toolchain = "rust-rustup"\n')
    plan = plan_of(xbuild, proj, "linux/arm64")
    if "aarch64-unknown-linux-gnu" in installed:
        assert plan["toolchain"] == "rust-rustup" and plan["notes"] == []
    else:
        assert plan["strategy"] == "cross" and plan["toolchain"] == "rust-debian"
        assert ("rust-rustup: no aarch64-unknown-linux-gnu target installed; install with: "
                "rustup target add aarch64-unknown-linux-gnu; using rust-debian") in plan["notes"]


def test_cargo_project_cross_built_by_debian_cargo_runs_on_arm64(xbuild, tmp_path):
    # The rustup cargo that may be first on PATH cannot drive Debian's rustc; the descriptor
    # puts /usr/bin first so Debian's cargo and rustc build together.
    assert Path("/usr/bin/cargo").exists(), "Debian's cargo is not installed: apt-get install cargo (scripts/setup.sh)"
    qemu = need("qemu-aarch64-static")
    proj = cargo_project(tmp_path / "p")
    plan = plan_of(xbuild, proj, "linux/arm64")
    assert plan["toolchain"] == "rust-debian"
    # Only the compiler cache's directory of ccache links (issue 11) may come before /usr/bin.
    path = [d for d in plan["env"]["PATH"].split(":") if not d.startswith(str(proj / ".xbuild" / "cache") + "/")]
    assert path[0] == "/usr/bin", plan["env"]["PATH"]
    assert plan["env"]["RUSTC"] == "/usr/bin/rustc" and plan["env"]["CARGO"] == "/usr/bin/cargo"
    assert plan["env"]["CARGO_BUILD_TARGET"] == "aarch64-unknown-linux-gnu"
    assert plan["env"]["CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER"] == "aarch64-linux-gnu-gcc"
    dist = tmp_path / "dist"
    run([xbuild, "-C", proj, "build", "--platform", "linux/arm64", "-o", f"type=local,dest={dist}"])
    hello = dist / "linux_arm64" / "hello"
    if not hello.exists():
        hello = dist / "hello"
    assert "ARM aarch64" in file_says(hello)
    out = run([qemu, "-L", "/usr/aarch64-linux-gnu", hello]).stdout
    assert out.strip() == "hello from cargo on aarch64"


def tiny_rootfs(dir: Path) -> Path:
    """A directory with a shell and nothing else: what a rootfs without Rust looks like."""
    (dir / "bin").mkdir(parents=True)
    shutil.copy("/bin/sh", dir / "bin" / "sh")
    return dir


def test_auto_emulate_of_a_rust_project_whose_rootfs_lacks_cargo_fails_at_once(xbuild, tmp_path):
    assert Path("/proc/sys/fs/binfmt_misc/qemu-riscv64").exists(), "no qemu-riscv64 binfmt handler: run scripts/setup.sh"
    proj = cargo_project(tmp_path / "p", CARGO_PROJECT.replace('["linux/arm64"]', '["linux/riscv64"]'))
    root = tiny_rootfs(tmp_path / "root")
    plan = plan_of(xbuild, proj, "linux/riscv64", env=env_with())
    assert plan["strategy"] == "emulate", "needs a machine where no Rust cross toolchain serves riscv64: " + str(plan)
    start = time.monotonic()
    p = run([xbuild, "-C", proj, "build", "--platform", "linux/riscv64", "--rootfs", root], check=False, env=env_with(),
            timeout=120)
    took = time.monotonic() - start
    assert p.returncode == 3, p.stdout + p.stderr
    err = p.stdout + p.stderr
    assert f"the linux/riscv64 rootfs {root} has no 'cargo', 'rustc': add \"cargo\", \"rustc\" to [emulate] packages in {proj}/xbuild.toml" in err, err
    print(f"failed after {took:.2f}s")  # reported, not asserted: timings belong to no test
    assert not (proj / ".xbuild" / "logs" / "linux_riscv64.log").exists() or \
        "cargo" not in (proj / ".xbuild" / "logs" / "linux_riscv64.log").read_text()


def test_a_created_rootfs_without_the_builds_tool_is_refused_before_creating_it(xbuild, tmp_path):
    cache = tmp_path / "cache"
    proj = write_project(tmp_path / "p", 'name = "c"\nlanguage = "c"\nplatforms = ["linux/arm64"]\n'
                                         'build = "cmake -S {src} -B {build} && cmake --build {build}"\noutputs = ["a"]\n'
                                         '[emulate]\npackages = ["file"]\n')
    p = run([xbuild, "-C", proj, "build", "--strategy", "emulate"], check=False,
            env=env_with(XBUILD_ROOTFS_CACHE=cache), timeout=120)
    assert p.returncode == 3, p.stdout + p.stderr
    err = p.stdout + p.stderr
    assert ("the linux/arm64 rootfs xbuild would create (packages: gcc,make,libc6-dev,file) has no 'cmake': "
            f"add \"cmake\" to [emulate] packages in {proj}/xbuild.toml; nothing was created") in err, err
    assert not cache.exists() or list(cache.iterdir()) == []


AR_MAKEFILE = """\
all: $(OUT)/hello
$(BUILD)/lib.o: lib.c
\t$(CC) -O2 -c -o $@ lib.c
$(BUILD)/libarch.a: $(BUILD)/lib.o
\t$(AR) rc $@ $^
\t$(RANLIB) $@
$(OUT)/hello: main.c $(BUILD)/libarch.a
\t$(CC) -O2 -static -o $@ main.c $(BUILD)/libarch.a
"""


def test_emulated_makefile_using_ar_and_ranlib_builds_for_arm64(xbuild, tmp_path):
    rootfs = rootfs_for(xbuild)
    proj = write_project(tmp_path / "ar", 'name = "ar"\nlanguage = "c"\nplatforms = ["linux/arm64"]\n'
                                          'build = ["make", "-C", "{src}", "OUT={out}", "BUILD={build}"]\n'
                                          'outputs = ["hello"]\n[strategy]\nall = "emulate"\n',
                         {"Makefile": AR_MAKEFILE,
                          "lib.c": "#include <sys/utsname.h>\nconst char *machine(void) { static struct utsname u; uname(&u); return u.machine; }\n",
                          "main.c": "#include <stdio.h>\nconst char *machine(void);\nint main(void) { printf(\"%s\\n\", machine()); return 0; }\n"})
    p = run([xbuild, "-C", proj, "build", "--rootfs", rootfs], check=False, env=env_with())
    assert p.returncode == 0, p.stdout + p.stderr
    hello = proj / ".xbuild" / "out" / "linux_arm64" / "hello"
    assert "ARM aarch64" in file_says(hello)
    assert run([need("qemu-aarch64-static"), hello]).stdout.strip() == "aarch64"


def test_a_rustup_cargo_with_debians_rustc_is_reported_not_usable(xbuild, tmp_path):
    # The real mismatch of this machine: rustup's cargo driving Debian's rustc 1.63.
    need("rustup")
    cargo = run(["rustup", "which", "cargo"]).stdout.strip()
    version = run([cargo, "--version"]).stdout.split()[1]
    assert tuple(int(x) for x in version.split(".")[:2]) >= (1, 70), f"needs a rustup cargo newer than rustc 1.63, got {version}"
    tcs = tmp_path / "tc"
    tcs.mkdir()
    (tcs / "mixed.toml").write_text(
        'languages = ["rust"]\nplatforms = ["linux/arm64"]\ninstall = "apt-get install cargo"\n'
        f'[env]\nCARGO = "{cargo}"\nRUSTC = "/usr/bin/rustc"\n')
    data = {t["name"]: t for t in json.loads(run([xbuild, "toolchains", "--json"],
                                                 env=dict(os.environ, XBUILD_TOOLCHAIN_PATH=str(tcs))).stdout)["toolchains"]}
    arm64 = data["mixed"]["platforms"][0]
    assert arm64["usable"] is False
    assert f"{cargo} (cargo {version}" in arm64["problem"] and "cannot drive /usr/bin/rustc (rustc 1.63" in arm64["problem"]
    assert "unknown print request" in arm64["problem"], arm64["problem"]
