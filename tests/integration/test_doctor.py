"""`xbuild doctor` on this machine (binfmt registered by setup.sh) and on simulated broken
ones through XBUILD_BINFMT_DIR: every problem printed with the exact command that fixes it."""
import json

from conftest import run
from emu_helpers import env_with, fake_binfmt


def test_doctor_on_this_machine(xbuild):
    p = run([xbuild, "doctor", "--platform", "linux/arm64,linux/riscv64"], env=env_with())
    out = p.stdout
    assert "linux/arm64" in out and "linux/riscv64" in out
    assert "ok    handler qemu-aarch64 registered, enabled" in out
    assert "ok    handler qemu-riscv64 registered, enabled" in out
    assert "-> /usr/bin/qemu-aarch64-static (static)" in out
    assert "ok    qemu 7." in out
    assert "FAIL" not in out


def test_doctor_json(xbuild):
    p = run([xbuild, "doctor", "--platform", "linux/arm64", "--json"], env=env_with())
    doc = json.loads(p.stdout)
    checks = doc["linux/arm64"]
    assert any(c["check"].startswith("handler qemu-aarch64 registered") and c["level"] == "ok" for c in checks)


def test_doctor_binfmt_not_mounted(xbuild, tmp_path):
    d = tmp_path / "binfmt"
    d.mkdir()
    p = run([xbuild, "doctor", "--platform", "linux/arm64"], check=False, env=env_with(XBUILD_BINFMT_DIR=d))
    assert p.returncode == 3
    assert f"FAIL  binfmt_misc is not mounted at {d}" in p.stdout
    assert f"fix: mount -t binfmt_misc binfmt_misc {d}" in p.stdout


def test_doctor_handler_missing_disabled_and_no_static_interpreter(xbuild, tmp_path):
    d = fake_binfmt(tmp_path / "a")
    (d / "qemu-aarch64").unlink()
    p = run([xbuild, "doctor", "--platform", "linux/arm64"], check=False, env=env_with(XBUILD_BINFMT_DIR=d))
    assert p.returncode == 3
    assert "no binfmt handler qemu-aarch64 is registered for linux/arm64" in p.stdout
    assert "fix: update-binfmts --import qemu-aarch64" in p.stdout

    d = fake_binfmt(tmp_path / "b", enabled=False)
    p = run([xbuild, "doctor", "--platform", "linux/arm64"], check=False, env=env_with(XBUILD_BINFMT_DIR=d))
    assert p.returncode == 3
    assert "FAIL  handler qemu-aarch64 registered, disabled" in p.stdout
    assert "fix: update-binfmts --enable qemu-aarch64" in p.stdout

    d = fake_binfmt(tmp_path / "c", interpreter="/bin/sh")
    p = run([xbuild, "doctor", "--platform", "linux/arm64"], check=False, env=env_with(XBUILD_BINFMT_DIR=d))
    assert p.returncode == 3
    assert "is dynamically linked, so it cannot run inside a foreign root filesystem" in p.stdout
    assert "fix: apt-get install qemu-user-static binfmt-support" in p.stdout


def test_doctor_no_f_flag_is_a_warning_with_the_register_command(xbuild, tmp_path):
    d = fake_binfmt(tmp_path / "binfmt", flags="P")
    p = run([xbuild, "doctor", "--platform", "linux/arm64"], env=env_with(XBUILD_BINFMT_DIR=d))
    assert "warn  handler qemu-aarch64 has no F flag (flags: P)" in p.stdout
    assert (f"fix: echo -1 > {d}/qemu-aarch64 && printf '%s' ':qemu-aarch64:M:0:"
            "\\x7f\\x45\\x4c\\x46\\x02\\x01\\x01\\x00") in p.stdout


def test_doctor_no_qemu_on_path(xbuild, tmp_path):
    d = tmp_path / "binfmt"
    d.mkdir()
    bare = tmp_path / "bin"
    bare.mkdir()
    p = run([xbuild, "doctor", "--platform", "linux/arm64"], check=False,
            env=env_with(XBUILD_BINFMT_DIR=d, PATH=bare))
    assert p.returncode == 3
    assert "FAIL  qemu-aarch64-static / qemu-aarch64 not on PATH" in p.stdout
    assert "fix: apt-get install qemu-user-static" in p.stdout


def test_doctor_bad_platform_is_usage_error(xbuild):
    p = run([xbuild, "doctor", "--platform", "linux/vax"], check=False)
    assert p.returncode == 2
    assert "linux/vax" in p.stderr
