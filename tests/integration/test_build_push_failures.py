"""Issue 15, "Failures people must see", for `build --push`, against real docker-registry
instances on 127.0.0.1 (and a closed port): a push that fails after the build still shows
the build's results and the command that retries only the push; credentials that are wrong
and registries that are down are found before anything is built; a wrong --ca-file gets
advice about that file. Every case checks its exit code (README: 4 for a registry failure)."""
import json
import shlex
import shutil

from conftest import PROJECTS, run
from registry_fixtures import *  # noqa: F401,F403 (fixtures)
from registry_fixtures import PASSWORD, USER, make_layout, make_pki, sha, skopeo_raw


def c_project(tmp_path):
    proj = tmp_path / "c-make"
    shutil.copytree(PROJECTS / "c-make", proj, ignore=shutil.ignore_patterns(".xbuild"))
    return proj


def build(xbuild, proj, env, *extra):
    return run([xbuild, "-C", proj, "build", "--progress", "plain", "--platform", "linux/amd64,linux/arm64", *extra],
               check=False, env=env, timeout=1800)


def test_failed_push_after_the_build_shows_results_then_the_retry_command(xbuild, tmp_path, token_registry, clean_env):
    # The token server grants nothing on team/forbidden: the pre-flight gets a token, the
    # push is refused once it starts, after the build.
    reg, _ = token_registry
    proj = c_project(tmp_path)
    ref = f"{reg.host}/team/forbidden:1"
    p = build(xbuild, proj, clean_env, "--push", "-t", ref, "--creds", f"{USER}:{PASSWORD}")
    assert p.returncode == 4, p.stderr
    err = p.stderr.splitlines()
    ok_lines = [i for i, l in enumerate(err) if l.startswith("xbuild: linux/") and " ok (" in l]
    image_line = [i for i, l in enumerate(err) if l.startswith("xbuild: image sha256:")]
    error_line = [i for i, l in enumerate(err) if l.startswith("xbuild: error: ")]
    assert len(ok_lines) == 2 and len(image_line) == 1 and len(error_line) == 1, p.stderr
    # The build's results come first, then the push error.
    assert max(ok_lines) < image_line[0] < error_line[0], p.stderr
    assert "team/forbidden" in err[error_line[0]]
    layout = proj / ".xbuild" / "oci"
    assert f"the image is in {layout} (tag 1)" in p.stderr
    assert PASSWORD not in p.stdout + p.stderr
    retry = [l.strip() for l in err[error_line[0]:] if l.strip().startswith("xbuild push ")]
    assert retry == [f"xbuild push {layout}:1 {ref}  (with the same --creds)"], p.stderr
    # The command works as printed (with the credentials) once the repository is one the
    # user may push to, and pushes the image that was built: nothing is rebuilt.
    argv = shlex.split(retry[0].split("  (")[0])
    allowed = f"{reg.host}/team/app:1"
    argv[-1] = allowed
    run([xbuild, *argv[1:2], "--creds", f"{USER}:{PASSWORD}", *argv[2:]], env=clean_env)
    digest = json.loads((layout / "index.json").read_text())["manifests"][0]["digest"]
    assert sha(skopeo_raw(allowed, creds=f"{USER}:{PASSWORD}")) == digest


def test_failed_push_with_json_keeps_the_build_result(xbuild, tmp_path, token_registry, clean_env):
    reg, _ = token_registry
    proj = c_project(tmp_path)
    p = build(xbuild, proj, clean_env, "--json", "--push", "-t", f"{reg.host}/team/forbidden:1",
              "--creds", f"{USER}:{PASSWORD}")
    assert p.returncode == 4, p.stderr
    doc = json.loads(p.stdout)
    assert doc["ok"] is True and doc["image"]["digest"].startswith("sha256:")
    assert "team/forbidden" in doc["push_error"] and "xbuild push " in doc["push_error"]
    assert "pushed" not in doc
