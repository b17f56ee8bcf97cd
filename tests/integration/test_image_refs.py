"""`build --image-refs FILE` (ko's flag): after a successful build and push, FILE lists the
pushed references with the index digest, `REPO@sha256:...` once per repository as ko writes
them, checked against a real docker-registry on loopback (skopeo inspect --raw, and the
sha256 of those bytes). Without --push an OCI layout output gives `oci:LAYOUT@sha256:...`.
A failed build or push leaves no FILE (an earlier one is removed, so a script never takes
old references for new ones); a FILE that cannot be written fails before building."""
import json
import os
from pathlib import Path

import pytest

from conftest import read_only, run
from registry_fixtures import *  # noqa: F401,F403 (fixtures)
from registry_fixtures import Fault, index_digest, sha, skopeo_raw

HOST = "linux/amd64"


def build(xbuild, proj, *args, check=True, **kw):
    return run([xbuild, "-C", proj, "build", "--platform", f"{HOST},linux/arm64", "--progress", "plain", *args],
               check=check, **kw)


def nothing_built(proj: Path):
    assert not (proj / ".xbuild" / "out").exists(), "the build ran before --image-refs was checked"


def test_pushed_refs_carry_the_registrys_digest(xbuild, project_copy, registry_open, clean_env, tmp_path):
    proj = project_copy("c-make")
    refs = tmp_path / "out" / "refs.txt"  # its directory does not exist yet
    app1, app2, other = (f"{registry_open.host}/team/app:1.0", f"{registry_open.host}/team/app:latest",
                         f"{registry_open.host}/team/other:2")
    p = build(xbuild, proj, "--push", "-t", app1, "-t", app2, "-t", other, "--image-refs", refs, env=clean_env)
    lines = refs.read_text().splitlines()
    raw = skopeo_raw(app1)
    digest = sha(raw)
    assert json.loads(raw)["mediaType"] == "application/vnd.oci.image.index.v1+json"
    assert [m["platform"]["architecture"] for m in json.loads(raw)["manifests"]] == ["amd64", "arm64"]
    # One line per repository, as ko writes them: REPO@sha256:<index digest>.
    assert lines == [f"{registry_open.host}/team/app@{digest}", f"{registry_open.host}/team/other@{digest}"], lines
    assert sha(skopeo_raw(app2)) == sha(skopeo_raw(other)) == digest
    # Each line is a reference skopeo pulls by digest, to the same bytes.
    for line in lines:
        assert skopeo_raw(line) == raw
    assert digest == index_digest(proj / ".xbuild" / "oci", "1.0")
    assert sorted(os.listdir(refs.parent)) == ["refs.txt"]  # written by rename: no temp left
    assert f"{registry_open.host}/team/app@{digest}" in p.stdout  # what stdout said too


def test_a_layout_output_without_push_lists_the_layout(xbuild, project_copy, tmp_path):
    proj = project_copy("c-make")
    layout = tmp_path / "layout"
    refs = tmp_path / "refs.txt"
    build(xbuild, proj, "-o", f"type=oci,dest={layout}", "-t", "hello:1.0", "--image-refs", refs)
    assert refs.read_text() == f"oci:{layout}@{index_digest(layout, '1.0')}\n"
    # The default layout too.
    build(xbuild, proj, "--image-refs", refs)
    assert refs.read_text() == f"oci:{proj / '.xbuild' / 'oci'}@{index_digest(proj / '.xbuild' / 'oci', 'latest')}\n"


def test_a_failed_push_leaves_no_file(xbuild, project_copy, fake_registry, clean_env, tmp_path):
    reg = fake_registry(faults=[Fault("PUT", r"/manifests/", "status:400:MANIFEST_INVALID", times=-1)])
    proj = project_copy("c-make")
    refs = tmp_path / "refs.txt"
    refs.write_text("127.0.0.1:1/stale@sha256:" + "0" * 64 + "\n")  # from an earlier run
    p = build(xbuild, proj, "--push", "-t", f"{reg.host}/app:1", "--image-refs", refs, check=False, env=clean_env)
    assert p.returncode == 4, p.stderr
    assert "MANIFEST_INVALID" in p.stderr
    assert not refs.exists()
    assert not [n for n in os.listdir(tmp_path) if "refs.txt" in n]  # nor a temp of it


def test_a_failed_build_leaves_no_file(xbuild, project_copy, registry_open, clean_env, tmp_path):
    proj = project_copy("c-make")
    (proj / "main.c").write_text("int main(void) { return syntax error; }\n")
    refs = tmp_path / "refs.txt"
    refs.write_text("stale\n")
    p = build(xbuild, proj, "--push", "-t", f"{registry_open.host}/team/app:1", "--image-refs", refs, check=False,
              env=clean_env)
    assert p.returncode == 1, p.stderr
    assert not refs.exists()


def test_any_failed_run_removes_an_earlier_file(xbuild, project_copy, tmp_path):
    proj = project_copy("c-make")
    (proj / "xbuild.toml").write_text((proj / "xbuild.toml").read_text() + "\nbogus = 1\n")
    refs = tmp_path / "refs.txt"
    refs.write_text("stale\n")
    p = build(xbuild, proj, "--image-refs", refs, check=False)
    assert p.returncode == 2 and "bogus" in p.stderr, p.stderr
    assert not refs.exists()


def test_an_unwritable_file_fails_before_building(xbuild, project_copy, tmp_path):
    proj = project_copy("c-make")
    with read_only(tmp_path / "ro") as ro:
        p = build(xbuild, proj, "--image-refs", ro / "refs.txt", check=False)
    assert p.returncode == 3, p.stderr
    assert f"--image-refs '{ro / 'refs.txt'}' cannot be written" in p.stderr and "choose another path" in p.stderr
    assert "filesystem error" not in p.stderr
    nothing_built(proj)


@pytest.mark.parametrize("args,says", [
    (["--image-refs", "DIR"], "is a directory; name a file"),
    (["--image-refs", "-"], "--image-refs -: name a file"),
    (["--image-refs", "FILE/under"], "is not a directory; choose another path"),
    (["--image-refs", "refs.txt", "-o", "type=oci-archive,dest=x.tar"], "it needs --push, or an OCI layout output"),
    (["--image-refs", "refs.txt", "-o", "type=docker,dest=x.tar"], "an -o type=docker has none"),
    (["--image-refs", "refs.txt", "-o", "type=local,dest=d"], "an -o type=local has none"),
])
def test_bad_image_refs_are_usage_errors_before_building(xbuild, project_copy, tmp_path, args, says):
    proj = project_copy("c-make")
    (tmp_path / "DIR").mkdir()
    (tmp_path / "FILE").write_text("a file\n")
    p = build(xbuild, proj, *args, check=False, cwd=tmp_path)
    assert p.returncode == 2, p.stderr
    assert says in p.stderr, p.stderr
    nothing_built(proj)
    assert not (tmp_path / "refs.txt").exists() and not (tmp_path / "-").exists()
