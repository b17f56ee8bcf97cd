"""`xbuild run` and `xbuild test` for real: the C and Go examples cross-built for amd64,
arm64 and riscv64 and run on this machine: natively, through binfmt_misc, and with
qemu-<arch> -L <sysroot> called explicitly when binfmt is absent (XBUILD_BINFMT_DIR)."""
import json
from pathlib import Path

import pytest

from conftest import need, run
from emu_helpers import env_with, file_says, processes_matching, write_project

PLATFORMS = "linux/amd64,linux/arm64,linux/riscv64"


@pytest.mark.parametrize("example", ["c-make", "go"])
def test_xbuild_test_passes_on_three_platforms(xbuild, project_copy, example):
    proj = project_copy(example)
    p = run([xbuild, "test", "-C", proj, "--build", "--platform", PLATFORMS], env=env_with())
    lang = "c" if example == "c-make" else "go"
    for plat, machine in [("linux/amd64", "x86_64"), ("linux/arm64", "aarch64"), ("linux/riscv64", "riscv64")]:
        assert f"PASS  {plat}" in p.stdout, p.stdout
        # The program itself says where it ran: under qemu it sees the target's machine.
        assert f"[{plat}] hello from {lang}: built for" in p.stdout
        assert f"running on {machine}" in p.stdout
    assert "FAIL" not in p.stdout
    for d, word in [("linux_arm64", "ARM aarch64"), ("linux_riscv64", "RISC-V")]:
        assert word in file_says(proj / ".xbuild" / "out" / d / "hello")


def test_xbuild_test_json_and_explicit_qemu_without_binfmt(xbuild, project_copy, tmp_path):
    proj = project_copy("c-make")
    run([xbuild, "-C", proj, "build", "--platform", "linux/arm64,linux/riscv64"], env=env_with())
    nobinfmt = tmp_path / "binfmt"
    nobinfmt.mkdir()
    p = run([xbuild, "test", "-C", proj, "--platform", "linux/arm64,linux/riscv64", "--json"],
            env=env_with(XBUILD_BINFMT_DIR=nobinfmt))
    doc = json.loads(p.stdout)
    assert doc["ok"] is True
    hows = {r["platform"]: r["how"] for r in doc["platforms"]}
    assert "qemu-aarch64" in hows["linux/arm64"] and " -L " in hows["linux/arm64"]
    assert "qemu-riscv64" in hows["linux/riscv64"]
    assert all("running on" in r["output"] for r in doc["platforms"])


def test_xbuild_test_reports_each_failure(xbuild, tmp_path):
    src = Path(__file__).resolve().parents[1] / "projects" / "c-make"
    proj = tmp_path / "fails-on-riscv"
    import shutil
    shutil.copytree(src, proj, ignore=shutil.ignore_patterns(".xbuild"))
    toml = (proj / "xbuild.toml").read_text().replace(
        'test = ["{out}/hello", "--check"]', 'test = "{out}/hello --check && test {arch} != riscv64"')
    (proj / "xbuild.toml").write_text(toml)
    run([xbuild, "-C", proj, "build", "--platform", "linux/arm64,linux/riscv64"], env=env_with())
    p = run([xbuild, "test", "-C", proj, "--platform", "linux/arm64,linux/riscv64,linux/arm/v7"], check=False,
            env=env_with())
    assert p.returncode == 1
    assert "PASS  linux/arm64" in p.stdout
    assert "FAIL  linux/riscv64" in p.stdout and "exit 1" in p.stdout
    assert "FAIL  linux/arm/v7" in p.stdout and "not built" in p.stdout


def test_xbuild_test_timeout_kills_the_group(xbuild, tmp_path):
    proj = write_project(tmp_path / "slow", """
name = "slow"
language = "c"
platforms = ["linux/amd64"]
build = "true"
outputs = ["marker"]
test = "sleep 4242 & sleep 4243; wait"
""")
    (proj / ".xbuild/out/linux_amd64").mkdir(parents=True)
    (proj / ".xbuild/out/linux_amd64/marker").write_text("x")
    p = run([xbuild, "test", "-C", proj, "--timeout", "2"], check=False, env=env_with(), timeout=60)
    assert p.returncode == 1
    assert "timed out after 2s" in p.stdout
    assert processes_matching(r"sleep 424[23]") == []


def test_xbuild_test_without_test_command_is_usage_error(xbuild, tmp_path):
    proj = write_project(tmp_path / "notest", 'name = "n"\nlanguage = "c"\nbuild = "true"\noutputs = ["x"]\n')
    p = run([xbuild, "test", "-C", proj], check=False)
    assert p.returncode == 2
    assert "has no test command" in p.stderr


def test_run_riscv64_through_binfmt_and_explicit_qemu(xbuild, project_copy, tmp_path):
    proj = project_copy("c-make")
    run([xbuild, "-C", proj, "build", "--platform", "linux/riscv64"], env=env_with())
    p = run([xbuild, "run", "-C", proj, "--platform", "linux/riscv64", "--", "--check"], env=env_with())
    assert "built for riscv64, running on riscv64" in p.stdout
    nobinfmt = tmp_path / "binfmt"
    nobinfmt.mkdir()
    q = run([xbuild, "-v", "run", "-C", proj, "--platform", "linux/riscv64", "--", "--check"],
            env=env_with(XBUILD_BINFMT_DIR=nobinfmt))
    assert "built for riscv64, running on riscv64" in q.stdout
    assert "qemu-riscv64" in q.stderr and "-L" in q.stderr


def test_run_passes_exit_code_and_args(xbuild, tmp_path):
    need("aarch64-linux-gnu-gcc")
    proj = write_project(tmp_path / "args", """
name = "args"
language = "c"
platforms = ["linux/arm64"]
build = "$CC -static -o {out}/args {src}/args.c"
outputs = ["args"]
""", {"args.c": '#include <stdio.h>\n#include <stdlib.h>\n'
                'int main(int c, char **v) { for (int i = 1; i < c; i++) printf("[%s]\\n", v[i]);'
                ' return c > 1 ? atoi(v[1]) : 0; }\n'})
    run([xbuild, "-C", proj, "build"], env=env_with())
    # The arguments reach the program unchanged (spaces, quotes, an empty one), and its exit
    # code is xbuild's.
    p = run([xbuild, "run", "-C", proj, "--platform", "linux/arm64", "--", "7", "two words", "it's", "", "--check"],
            check=False, env=env_with())
    assert p.returncode == 7, p.stderr
    assert p.stdout == "[7]\n[two words]\n[it's]\n[]\n[--check]\n"


def test_run_dynamic_cross_binary_needs_and_gets_a_sysroot(xbuild, tmp_path):
    need("aarch64-linux-gnu-gcc")
    proj = write_project(tmp_path / "dyn", """
name = "dyn"
language = "c"
platforms = ["linux/arm64"]
build = "$CC -o {out}/dyn {src}/dyn.c"
outputs = ["dyn"]
test = ["{out}/dyn"]
""", {"dyn.c": '#include <stdio.h>\nint main(int c, char **v) { printf("dynamic %d\\n", c); return 3; }\n'})
    run([xbuild, "-C", proj, "build"], env=env_with())
    assert "dynamically linked" in file_says(proj / ".xbuild/out/linux_arm64/dyn")
    p = run([xbuild, "run", "-C", proj, "--", "a", "b"], check=False, env=env_with())
    assert p.stdout.strip() == "dynamic 3"
    assert p.returncode == 3
    nobinfmt = tmp_path / "binfmt"
    nobinfmt.mkdir()
    q = run([xbuild, "run", "-C", proj, "--", "a"], check=False, env=env_with(XBUILD_BINFMT_DIR=nobinfmt))
    assert q.stdout.strip() == "dynamic 2" and q.returncode == 3


def test_run_not_built_says_how(xbuild, project_copy):
    proj = project_copy("c-make")
    p = run([xbuild, "run", "-C", proj, "--platform", "linux/riscv64"], check=False)
    assert p.returncode == 125  # xbuild's own failure before running, as docker run's
    assert "run `xbuild build --platform linux/riscv64` first" in p.stderr
    p = run([xbuild, "run", "-C", proj, "--platform", "linux/riscv64", "--program", "nope"], check=False)
    assert p.returncode == 125 and "nope is not built" in p.stderr
