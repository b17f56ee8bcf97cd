"""The command line's conventions, checked on the real binary with the exact commands a review
observed: parser errors carry "xbuild: error:", come in the order typed, exit 2, suggest the
command that was meant, and never contain a password given on the command line."""
import json
import os
import shlex
from pathlib import Path

import pytest
import yaml

from conftest import need, run

SECRET = "S3cretPW"


def project(tmp_path: Path) -> Path:
    proj = tmp_path / "p"
    proj.mkdir(parents=True, exist_ok=True)
    (proj / "xbuild.toml").write_text('name = "p"\nlanguage = "c"\nbuild = "true"\noutputs = ["hello"]\n')
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
    # run keeps 0-124 for the program: its own usage errors are 125, as docker run's.
    assert p.returncode == (125 if command == ["run"] else 2), (command, value, p.stdout, p.stderr)
    assert errors(p) == [f"xbuild: error: --platform: '{value}' names no platform (an unset variable?); "
                         "give one, e.g. linux/arm64"], p.stderr
    assert not (proj / ".xbuild").exists(), "it ran before rejecting the flag"


def test_matrix_exits_3_where_plan_does_and_prints_no_matrix(xbuild, tmp_path):
    proj = project(tmp_path)
    env = dict(os.environ, XBUILD_BINFMT_DIR=str(tmp_path))  # no qemu handlers: no emulation fallback
    plan = run([xbuild, "-C", proj, "plan", "--platform", "linux/amd64,linux/s390x"], check=False, env=env)
    m = run([xbuild, "-C", proj, "matrix", "--platform", "linux/amd64,linux/s390x"], check=False, env=env)
    assert plan.returncode == 3 and m.returncode == 3, (plan.stderr, m.stderr)
    assert m.stdout == "", m.stdout  # no "strategy":"none" jobs for CI to fan out
    assert "no toolchain for linux/s390x" in m.stderr and "--runner-labels" in m.stderr, m.stderr


def test_matrix_runner_labels_add_runs_on_and_send_a_platform_elsewhere(xbuild, tmp_path):
    proj = project(tmp_path)
    env = dict(os.environ, XBUILD_BINFMT_DIR=str(tmp_path))
    args = [xbuild, "-C", proj, "matrix", "--platform", "linux/amd64,linux/s390x"]
    m = run([*args, "--runner-labels", "linux/s390x=s390x-box,linux/amd64=ubuntu-latest"], env=env)
    assert json.loads(m.stdout) == {"include": [
        {"platform": "linux/amd64", "slug": "linux_amd64", "runs-on": "ubuntu-latest"},
        {"platform": "linux/s390x", "slug": "linux_s390x", "runs-on": "s390x-box"}]}
    # Only the platform and what the flag says: nothing that describes the machine that ran matrix.
    m = run([xbuild, "-C", proj, "matrix", "--platform", "linux/amd64,linux/arm64"])
    assert json.loads(m.stdout) == {"include": [{"platform": "linux/amd64", "slug": "linux_amd64"},
                                                {"platform": "linux/arm64", "slug": "linux_arm64"}]}
    g = run([xbuild, "-C", proj, "matrix", "--format", "gitlab", "--platform", "linux/amd64,linux/arm64",
             "--runner-labels", "linux/arm64=arm", "-t", "registry.example.com/team/app:1.0"])
    child = yaml.safe_load(g.stdout)  # a whole child pipeline, as GitLab reads it (JSON is YAML)
    assert child["build-linux_amd64"]["variables"] == {"PLATFORM": "linux/amd64", "SLUG": "linux_amd64"}
    assert "tags" not in child["build-linux_amd64"] and child["build-linux_arm64"]["tags"] == ["arm"]
    assert child["merge"]["needs"] == ["build-linux_amd64", "build-linux_arm64"]
    for bad, needle in [("linux/arm64", "expected PLATFORM=LABEL"), ("linux/arm64=", "expected PLATFORM=LABEL"),
                        ("linux/sparc=x", "unknown platform 'linux/sparc'"),
                        ("linux/riscv64=x", "linux/riscv64 is not one of the matrix's platforms")]:
        p = run([xbuild, "-C", proj, "matrix", "--platform", "linux/amd64,linux/arm64", "--runner-labels", bad], check=False)
        assert p.returncode == 2 and needle in p.stderr and p.stdout == "", (bad, p.stderr)


def test_matrix_gitlab_flags_need_gitlab_and_a_name(xbuild, tmp_path):
    proj = project(tmp_path)
    env = {k: v for k, v in os.environ.items() if k != "XBUILD_REPO"}
    cases = [(["-t", "registry.example.com/team/app:1.0"], "are for --format gitlab"),
             (["--gitlab-image", "debian:12"], "are for --format gitlab"),
             (["--format", "gitlab"], "--format gitlab needs the merged image's name"),
             (["--format", "gitlab", "-t", ":1.0"], "needs XBUILD_REPO"),
             (["--format", "gitlab", "-t", "Bad Ref"], "Bad Ref")]
    for args, needle in cases:
        p = run([xbuild, "-C", proj, "matrix", "--platform", "linux/amd64", *args], check=False, env=env)
        assert p.returncode == 2 and needle in p.stderr and p.stdout == "", (args, p.stderr)


def test_matrix_gitlab_names_the_image_as_build_does_and_sets_the_jobs_defaults(xbuild, tmp_path):
    proj = project(tmp_path)
    base = {k: v for k, v in os.environ.items() if k not in ("XBUILD_REPO", "SOURCE_DATE_EPOCH")}
    args = [xbuild, "-C", proj, "matrix", "--format", "gitlab", "--platform", "linux/amd64,linux/arm64"]

    def merge_line(child):
        (line,) = child["merge"]["script"]
        return line

    # -t :TAG and no -t at all name XBUILD_REPO/<project>, as build --push does.
    env = dict(base, XBUILD_REPO="registry.example.com/team")
    child = yaml.safe_load(run([*args, "-t", ":1.0"], env=env).stdout)
    assert merge_line(child) == ("xbuild merge -t registry.example.com/team/p:1.0 registry.example.com/team/p:build-linux_amd64 "
                                 "registry.example.com/team/p:build-linux_arm64")
    assert child["build-linux_arm64"]["script"] == [  # -C as matrix was given it
        f'xbuild -C {proj} build --platform "$PLATFORM" --push -t registry.example.com/team/p:build-linux_arm64']
    assert merge_line(yaml.safe_load(run(args, env=env).stdout)).startswith("xbuild merge -t registry.example.com/team/p:latest ")
    assert "variables" not in child and "default" not in child  # nothing pinned or set that was not asked for

    # [image] tags, when no -t: the first names the repository of the per-platform images.
    (proj / "xbuild.toml").write_text((proj / "xbuild.toml").read_text() +
                                      '[image]\ntags = ["reg.example.com/a/b:2", "reg.example.com/a/b:stable"]\n')
    child = yaml.safe_load(run([*args, "--gitlab-image", "debian:12", "--gitlab-before-script", "bash ci/setup.sh",
                                "--gitlab-before-script", "xbuild version"], env=dict(base, SOURCE_DATE_EPOCH="1700000000")).stdout)
    assert merge_line(child) == ("xbuild merge -t reg.example.com/a/b:2 -t reg.example.com/a/b:stable "
                                 "reg.example.com/a/b:build-linux_amd64 reg.example.com/a/b:build-linux_arm64")
    assert child["default"] == {"image": "debian:12", "before_script": ["bash ci/setup.sh", "xbuild version"]}
    assert child["variables"] == {"SOURCE_DATE_EPOCH": "1700000000"}  # every job gets the generating job's
    # The jobs build as matrix planned: the same project file, strategies and build args.
    (proj / "other.toml").write_text((proj / "xbuild.toml").read_text())
    child = yaml.safe_load(run([xbuild, "-C", proj, "-f", proj / "other.toml", "matrix", "--format", "gitlab", "--platform",
                                "linux/amd64", "--strategy", "linux/amd64=native", "--build-arg", "V=it's 1"],
                               env=base).stdout)
    assert child["build-linux_amd64"]["script"] == [
        f'xbuild -C {proj} -f {proj}/other.toml build --platform "$PLATFORM" --push -t reg.example.com/a/b:build-linux_amd64 '
        "--strategy linux/amd64=native --build-arg 'V=it'\\''s 1'"]
    p = run(args, check=False, env=dict(base, SOURCE_DATE_EPOCH="yesterday"))
    assert p.returncode == 2 and "SOURCE_DATE_EPOCH='yesterday'" in p.stderr and p.stdout == "", p.stderr


def bash_complete(xbuild, line: str) -> list:
    """What bash's completion of `line` (its last word being completed) offers, from the real script."""
    words = line.split(" ")
    script = (f"source <({shlex.quote(str(xbuild))} completion bash)\n"
              f"COMP_WORDS=({' '.join(shlex.quote(w) for w in words)}); COMP_CWORD={len(words) - 1}\n"
              "_xbuild; printf '%s\\n' \"${COMPREPLY[@]}\"\n")
    return run([need("bash"), "-c", script]).stdout.split()


def test_bash_completion_offers_commands_options_and_platforms(xbuild):
    assert bash_complete(xbuild, "xbuild bu") == ["build"]
    assert bash_complete(xbuild, "xbuild bulid") == []
    assert set(bash_complete(xbuild, "xbuild build --pl")) == {"--platform", "--platforms"}
    assert bash_complete(xbuild, "xbuild -C some/dir build --keep") == ["--keep-going"]
    assert bash_complete(xbuild, "xbuild build --platform linux/arm") == ["linux/arm64", "linux/arm/v7", "linux/arm/v6"]
    assert bash_complete(xbuild, "xbuild build --progress j") == ["json"]
    assert bash_complete(xbuild, "xbuild build --platform clu") == ["cluster"]
    assert bash_complete(xbuild, "xbuild cluster ch") == ["check"]
    assert bash_complete(xbuild, "xbuild matrix --runner") == ["--runner-labels"]
    assert "create" in bash_complete(xbuild, "xbuild rootfs c")
    assert "--creds" not in bash_complete(xbuild, "xbuild plan --")  # only the command's own options


def test_fish_completion_offers_commands_options_and_platforms(xbuild, tmp_path):
    fish = need("fish")
    def complete(line):
        script = f"{shlex.quote(str(xbuild))} completion fish | source; complete -C {shlex.quote(line)}"
        return [c.split("\t")[0] for c in run([fish, "--no-config", "-c", script]).stdout.splitlines()]
    assert "build" in complete("xbuild bu")
    assert "--keep-going" in complete("xbuild build --keep")
    assert "linux/arm64" in complete("xbuild build --platform linux/ar")
    assert "--keep-going" not in complete("xbuild plan --k")


def test_zsh_completion_loads_and_registers(xbuild):
    zsh = need("zsh")
    script = (f"autoload -U compinit && compinit -u -D && source <({shlex.quote(str(xbuild))} completion zsh) && "
              "print -r -- $_comps[xbuild] && whence -w _xbuild")
    p = run([zsh, "-f", "-c", script])
    assert p.stdout.split("\n")[0] == "_xbuild" and "_xbuild: function" in p.stdout, p.stdout + p.stderr
    assert p.stderr == "", p.stderr


def test_completion_of_an_unknown_shell_is_a_usage_error(xbuild):
    p = run([xbuild, "completion", "tcsh"], check=False)
    assert p.returncode == 2 and p.stdout == "" and errors(p), p.stderr


def test_errors_after_parsing_never_contain_the_password_either(xbuild, tmp_path):
    proj = project(tmp_path)
    # A --creds value quoted back by a later check, and a reference with USER:PASS@ in it.
    for args in (["--creds", "alice:S3cretPW", "-t", "S3cretPW Bad Ref"], ["-t", "alice:S3cretPW@registry.example/app:1"]):
        p = run([xbuild, "-C", proj, "build", "--platform", "linux/amd64", *args], check=False)
        assert p.returncode == 2, p.stderr
        assert errors(p) and SECRET not in p.stderr, p.stderr
    assert "alice:***@registry.example/app:1" in p.stderr, p.stderr
    # A tag is no password: it stays readable in an error that quotes it.
    p = run([xbuild, "-C", proj, "build", "--platform", "linux/amd64", "-t", "app:1.0", "-t", "Bad Ref app:1.0"], check=False)
    assert p.returncode == 2 and "app:1.0" in p.stderr, p.stderr
