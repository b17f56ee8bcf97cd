"""The command line's conventions, checked on the real binary with the exact commands a review
observed: parser errors carry "xbuild: error:", come in the order typed, exit 2, suggest the
command that was meant, and never contain a password given on the command line."""
from pathlib import Path

import pytest

from conftest import run

SECRET = "S3cretPW"


def project(tmp_path: Path) -> Path:
    proj = tmp_path / "p"
    proj.mkdir(parents=True, exist_ok=True)
    (proj / "xbuild.toml").write_text('name = "p"\nlanguage = "c"\nbuild = "true"\noutputs = []\n')
    return proj


def errors(p) -> list:
    return [line for line in p.stderr.splitlines() if line.startswith("xbuild: error: ")]


@pytest.mark.parametrize("args", [
    ["build", "alice:S3cretPW", "--creds"],                  # the value before its flag
    ["build", "--push", "alice:S3cretPW"],                   # a flag that takes no value
    ["--creds", "alice:S3cretPW", "build"],                  # before the command
    ["--creds=alice:S3cretPW", "build"],
    ["push", "--creds", "alice:S3cretPW", "alice:S3cretPW", "a", "b"],
    ["build", "--creds", "alice:S3cretPW", "-j", "0", "stray"],
])
def test_a_misplaced_password_is_never_echoed(xbuild, tmp_path, args):
    p = run([xbuild, "-C", project(tmp_path), *args], check=False)
    assert p.returncode == 2, p.stderr
    assert errors(p), p.stderr
    assert SECRET not in p.stderr and SECRET not in p.stdout, p.stderr


def test_the_password_of_a_misplaced_credential_is_replaced_not_the_user(xbuild, tmp_path):
    p = run([xbuild, "-C", project(tmp_path), "build", "--push", "alice:S3cretPW"], check=False)
    assert p.returncode == 2
    assert errors(p) == ["xbuild: error: unexpected argument 'alice:***'"], p.stderr


def test_unknown_command_suggests_the_one_meant(xbuild):
    p = run([xbuild, "bulid"], check=False)
    assert p.returncode == 2
    assert errors(p) == ["xbuild: error: unknown command 'bulid'; did you mean 'build'?"], p.stderr
    p = run([xbuild, "frobnicate"], check=False)
    assert p.returncode == 2 and errors(p) == ["xbuild: error: unknown command 'frobnicate' (see xbuild --help)"], p.stderr
    p = run([xbuild], check=False)
    assert p.returncode == 2 and "a command is required" in p.stderr, p.stderr


def test_version_command_and_flag(xbuild):
    a = run([xbuild, "version"])
    b = run([xbuild, "--version"])
    assert a.stdout == b.stdout and a.stdout.startswith("xbuild ") and a.stdout.strip() != "xbuild", a.stdout
    assert a.stderr == "" and b.stderr == ""


def test_parser_errors_are_prefixed_and_in_the_order_typed(xbuild, tmp_path):
    proj = project(tmp_path)
    p = run([xbuild, "-C", proj, "build", "--bogus", "-j", "0"], check=False)
    assert p.returncode == 2
    assert errors(p) == ["xbuild: error: unknown option '--bogus'",
                         "xbuild: error: --jobs: Value 0 not in range 1 to 1024"], p.stderr
    p = run([xbuild, "-C", proj, "build", "-j", "0", "--bogus"], check=False)
    assert errors(p) == ["xbuild: error: --jobs: Value 0 not in range 1 to 1024",
                         "xbuild: error: unknown option '--bogus'"], p.stderr
    p = run([xbuild, "-C", proj, "build", "one", "--platfrom", "two"], check=False)
    assert errors(p) == ["xbuild: error: unexpected argument 'one'",
                         "xbuild: error: unknown option '--platfrom'; did you mean '--platform'?",
                         "xbuild: error: unexpected argument 'two'"], p.stderr
    # Every line of a parse failure is xbuild's: no CLI11 wording is left.
    assert all(line.startswith("xbuild: ") for line in p.stderr.splitlines()), p.stderr
    assert p.stderr.splitlines()[-1] == "xbuild: see 'xbuild build --help'"


@pytest.mark.parametrize("command", [["build"], ["plan"], ["matrix"], ["bench"], ["test"], ["doctor"], ["run"],
                                     ["pull", "localhost:5000/x:1"], ["rootfs", "create"], ["rootfs", "resolve"]])
@pytest.mark.parametrize("value", ["", ",", " , "])
def test_a_platform_list_naming_no_platform_is_a_usage_error(xbuild, tmp_path, command, value):
    # `--platform "$PLATFORM"` with PLATFORM unset must not build (or check) every platform.
    proj = project(tmp_path)
    p = run([xbuild, "-C", proj, *command, "--platform", value], check=False)
    assert p.returncode == 2, (command, value, p.stdout, p.stderr)
    assert errors(p) == [f"xbuild: error: --platform: '{value}' names no platform (an unset variable?); "
                         "give one, e.g. linux/arm64"], p.stderr
    assert not (proj / ".xbuild").exists(), "it ran before rejecting the flag"
