"""Issue 15, configuration and exit codes on the real binary: xbuild.toml mistakes are found
when it is loaded (file:line, exit 2), --build-arg and [args] reach the build, XBUILD_REPO
names images, and each failure keeps the README's exit code (never a bare 1 from a catch-all)."""
import json
import os
import re
import stat
from pathlib import Path

import pytest

from conftest import need, run
from registry_fixtures import *  # noqa: F401,F403 (fixtures)


def project(tmp_path: Path, text: str, name: str = "p") -> Path:
    proj = tmp_path / name
    proj.mkdir(parents=True, exist_ok=True)
    (proj / "xbuild.toml").write_text(text)
    return proj


def err(p) -> str:
    return "\n".join(l for l in p.stderr.splitlines() if l.startswith("xbuild: error: "))


# --- item 1: tags, unknown keys, placeholders ------------------------------------------------

def test_output_typo_is_an_unknown_key_with_a_suggestion(xbuild, tmp_path):
    proj = project(tmp_path, 'name = "p"\nbuild = "true"\noutput = ["hello"]\n')
    p = run([xbuild, "-C", proj, "plan"], check=False)
    assert p.returncode == 2, p.stderr
    assert f"{proj}/xbuild.toml:3:1: unknown key 'output'; did you mean 'outputs'?" in err(p)


def test_image_tags_are_checked_at_load_with_their_line(xbuild, tmp_path):
    proj = project(tmp_path, 'name = "p"\nbuild = "true"\noutputs = ["hello"]\n[image]\ntags = ["ok:1", "bad:-x"]\n')
    for cmd in (["plan"], ["build"]):
        p = run([xbuild, "-C", proj, *cmd], check=False)
        assert p.returncode == 2, p.stderr
        assert f"{proj}/xbuild.toml:5:17: 'image.tags': invalid image name \"bad:-x\"" in err(p)
    assert not (proj / ".xbuild" / "out").exists()  # nothing was built


def test_unknown_placeholder_is_named(xbuild, tmp_path):
    proj = project(tmp_path, 'name = "p"\nbuild = ["sh", "-c", "echo {nosuch}"]\noutputs = ["hello"]\n')
    p = run([xbuild, "-C", proj, "build"], check=False)
    assert p.returncode == 2, p.stderr
    assert f"{proj}/xbuild.toml:2:22: 'build': unknown placeholder '{{nosuch}}'" in err(p)


# --- item 3: --build-arg and [args] -----------------------------------------------------------

ARGS_PROJECT = ('name = "p"\nbuild = "printf \'%s %s %s\' {arg:VERSION} \\"$VERSION\\" \\"$MODE\\" > {out}/hello"\n'
                'outputs = ["hello"]\ntest = "true"\n[args]\nMODE = "debug"\nVERSION = "0.0"\n')


def test_build_arg_reaches_the_build_as_env_and_placeholder(xbuild, tmp_path):
    proj = project(tmp_path, ARGS_PROJECT)
    dest = tmp_path / "o"
    run([xbuild, "-C", proj, "build", "--build-arg", "VERSION=1.2", "-o", f"type=local,dest={dest}"])
    outs = list(dest.rglob("hello"))
    assert len(outs) == 1
    assert outs[0].read_text() == "1.2 1.2 debug"  # --build-arg over [args]; [args] a default


def test_build_arg_errors_are_usage_errors(xbuild, tmp_path):
    proj = project(tmp_path, ARGS_PROJECT)
    for bad, says in ((["--build-arg", "1X=2"], "--build-arg 1X=2: '1X' is not a variable name"),
                      (["--build-arg", "NOEQUALS"], "--build-arg NOEQUALS: expected KEY=VALUE")):
        for cmd in ("plan", "build", "matrix", "test", "run", "bench"):
            p = run([xbuild, "-C", proj, cmd, *bad], check=False)
            assert p.returncode == (125 if cmd == "run" else 2), (cmd, p.stderr)  # run: docker run's 125
            assert says in err(p), (cmd, p.stderr)
    missing = project(tmp_path, 'build = "echo {arg:NOPE}"\noutputs = ["hello"]\n', "m")
    p = run([xbuild, "-C", missing, "plan"], check=False)
    assert p.returncode == 2, p.stderr
    assert "{arg:NOPE} has no value: pass --build-arg NOPE=VALUE" in err(p)
    assert run([xbuild, "-C", missing, "plan", "--build-arg", "NOPE=1"]).returncode == 0


# --- item 2: exit codes -----------------------------------------------------------------------

@pytest.mark.parametrize("build", ['"nosuchtool"', '["nosuchtool", "x"]', '"true; nosuchtool --flag"'])
def test_a_build_command_that_is_not_installed_is_exit_3(xbuild, tmp_path, build):
    proj = project(tmp_path, f'name = "p"\nbuild = {build}\noutputs = ["hello"]\n')
    p = run([xbuild, "-C", proj, "build"], check=False)
    assert p.returncode == 3, p.stderr
    assert "'nosuchtool' is not installed" in err(p) + p.stderr, p.stderr


@pytest.mark.parametrize("build", ["nosuchtool 2>&1 | tee log", "echo start >&2; nosuchtool"])
def test_a_missing_program_behind_a_redirection_is_still_exit_3(xbuild, tmp_path, build):
    proj = project(tmp_path, f'name = "p"\nbuild = "{build}"\noutputs = ["hello"]\n')
    p = run([xbuild, "-C", proj, "build"], check=False)
    assert p.returncode == 3 and "'nosuchtool' is not installed" in p.stderr, p.stderr


def test_a_redirection_is_not_taken_for_the_build_program(xbuild, tmp_path):
    # `>&2` once made "2" the build's program: exit 3 "program '2' is not installed", nothing built.
    build = 'echo main.c:3: error: expected ; >&2; mkdir -p {out}; echo hi > {out}/hello 2>&1; exit 0'
    proj = project(tmp_path, f'name = "p"\nlanguage = "custom"\nbuild = "{build}"\noutputs = ["hello"]\n')
    p = run([xbuild, "-C", proj, "build", "-o", f"type=local,dest={tmp_path / 'out'}"], check=False)
    assert p.returncode == 0, p.stderr
    assert "is not installed" not in p.stderr
    assert [f.read_text() for f in (tmp_path / "out").rglob("hello")] == ["hi\n"]


def test_corrupt_index_json_is_exit_2_naming_the_file(xbuild, tmp_path):
    layout = tmp_path / "l"
    layout.mkdir()
    (layout / "oci-layout").write_text('{"imageLayoutVersion":"1.0.0"}')
    (layout / "index.json").write_text("not json{")
    for cmd in (["inspect", layout], ["push", layout, "127.0.0.1:1/x:1"]):
        p = run([xbuild, *cmd], check=False)
        assert p.returncode == 2, (cmd, p.stderr)
        assert f"corrupt OCI layout: {layout}/index.json: invalid JSON" in err(p), p.stderr


def test_a_raw_filesystem_error_is_exit_3_with_its_path(xbuild, tmp_path):
    # A blob cache under a file: pull's create_directories fails with a raw filesystem error,
    # which main maps to 3 with the path (a build's state dir is checked before building now).
    blocker = tmp_path / "afile"
    blocker.write_text("a file where the cache goes")
    env = dict(os.environ, XDG_CACHE_HOME=str(blocker))
    p = run([xbuild, "pull", "127.0.0.1:1/x:1"], check=False, env=env)
    assert p.returncode == 3, p.stderr
    assert "filesystem error" in err(p) and str(blocker / "xbuild") in err(p), p.stderr


def test_a_state_dir_that_is_a_file_is_found_before_building(xbuild, tmp_path):
    proj = project(tmp_path, 'name = "p"\nbuild = "true"\noutputs = ["hello"]\n')
    (proj / ".xbuild").write_text("a file where the state dir goes")
    p = run([xbuild, "-C", proj, "build", "-o", f"type=oci,dest={tmp_path / 'o'}"], check=False)
    assert p.returncode == 3, p.stderr
    assert f"{proj / '.xbuild'} cannot be written" in err(p), p.stderr


RUN_PROJECT = 'name = "r"\nbuild = "printf \'#!/bin/sh\\\\nexit 7\\\\n\' > {out}/prog && chmod +x {out}/prog"\noutputs = ["prog"]\n'


def test_run_keeps_the_program_code_and_reserves_125_to_127(xbuild, tmp_path):
    proj = project(tmp_path, RUN_PROJECT)
    p = run([xbuild, "-C", proj, "run"], check=False)
    assert p.returncode == 125 and "is not built" in err(p), p.stderr  # before running
    p = run([xbuild, "-C", proj, "run", "--no-such-flag"], check=False)
    assert p.returncode == 125, p.stderr
    run([xbuild, "-C", proj, "build"])
    p = run([xbuild, "-C", proj, "run"], check=False)
    assert p.returncode == 7, p.stderr  # the program's own code
    out = proj / ".xbuild" / "out"
    prog = next(out.rglob("prog"))
    prog.chmod(0o644)
    p = run([xbuild, "-C", proj, "run"], check=False)
    assert p.returncode == 126 and "cannot run" in err(p), p.stderr
    prog.write_text("#!/nonexistent/interpreter\n")
    prog.chmod(0o755)
    p = run([xbuild, "-C", proj, "run"], check=False)
    assert p.returncode == 127 and "cannot run" in err(p), p.stderr


# --- item 4: XBUILD_REPO ----------------------------------------------------------------------

def env_without_repo(**extra):
    env = {k: v for k, v in os.environ.items() if k != "XBUILD_REPO"}
    env.update(extra)
    return env


def test_tag_without_repository_needs_xbuild_repo(xbuild, tmp_path):
    proj = project(tmp_path, 'build = "touch {out}/hello"\noutputs = ["hello"]\n', "MyApp")
    p = run([xbuild, "-C", proj, "build", "-t", ":1.0"], check=False, env=env_without_repo())
    assert p.returncode == 2, p.stderr
    assert "-t :1.0: a tag without a repository needs XBUILD_REPO" in err(p)
    p = run([xbuild, "-C", proj, "build", "--push"], check=False, env=env_without_repo())
    assert p.returncode == 2 and "or XBUILD_REPO set" in err(p), p.stderr
    assert not (proj / ".xbuild" / "out").exists()


def test_xbuild_repo_names_the_pushed_image(xbuild, tmp_path, registry_open):
    skopeo = need("skopeo")
    # No `name`: the project is named after its directory, lowercased.
    proj = project(tmp_path, 'build = "touch {out}/hello"\noutputs = ["hello"]\n', "MyApp")
    env = env_without_repo(XBUILD_REPO=f"{registry_open.host}/team/")
    run([xbuild, "-C", proj, "build", "--push", "-t", ":1.0"], env=env)
    run([xbuild, "-C", proj, "build", "--push"], env=env)  # no tag at all: :latest
    tags = json.loads(run([skopeo, "list-tags", "--tls-verify=false", f"docker://{registry_open.host}/team/myapp"]).stdout)
    # docker-registry has no referrers API: the image's SBOM and provenance are listed under
    # the referrers tag schema's sha256-<hex> tags, beside the image's own tags.
    referrer_tags = [t for t in tags["Tags"] if re.fullmatch(r"sha256-[0-9a-f]{64}", t)]
    assert referrer_tags
    assert sorted(t for t in tags["Tags"] if t not in referrer_tags) == ["1.0", "latest"]
