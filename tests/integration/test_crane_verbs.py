"""crane's everyday verbs on OCI layouts, oci-archives and a real docker-registry alike:
xbuild manifest / config / digest / ls / copy. Images are put into the registry and the
archive with skopeo (not xbuild), and what xbuild prints or writes is checked with skopeo,
umoci and sha256 of the bytes."""
import json
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from conftest import need, run
from registry_fixtures import *  # noqa: F401,F403 (fixtures)
from registry_fixtures import DockerRegistry, Fault, make_layout, sha, skopeo_raw

PLATS = ["linux/amd64", "linux/arm64", "linux/arm/v7"]


def xb_bytes(xbuild, *args, env=None, check=True):
    """Runs xbuild and returns (returncode, raw stdout bytes, stderr text)."""
    p = subprocess.run([str(xbuild), *map(str, args)], capture_output=True, env=env, timeout=300)
    if check:
        assert p.returncode == 0, (args, p.returncode, p.stderr.decode())
    return p.returncode, p.stdout, p.stderr.decode()


def skopeo_copy(src, dst, *extra):
    need("skopeo")
    run(["skopeo", "copy", "--all", "--preserve-digests", "--src-tls-verify=false", "--dest-tls-verify=false", *extra,
         src, dst])


@pytest.fixture
def image(tmp_path):
    """A three-platform layout tagged v1 (plus a second tag), the same image in an
    oci-archive made by skopeo: (layout, archive, make_layout info)."""
    layout = tmp_path / "layout"
    info = make_layout(layout, platforms=PLATS, tag="v1", seed=b"crane")
    make_layout(layout, platforms=["linux/amd64"], tag="other", seed=b"other", single=True)
    archive = tmp_path / "image.tar"
    skopeo_copy(f"oci:{layout}:v1", f"oci-archive:{archive}:v1")
    return layout, archive, info


def child_manifest(layout, digest):
    return (layout / "blobs" / "sha256" / digest.split(":")[1]).read_bytes()


# --- manifest / digest / config on every kind of source -----------------------------------
def test_manifest_digest_config_layout_archive_registry(xbuild, image, registry_open, clean_env):
    layout, archive, info = image
    ref = f"{registry_open.host}/crane/app:v1"
    skopeo_copy(f"oci:{layout}:v1", f"docker://{ref}")
    raw_index = skopeo_raw(ref)
    assert sha(raw_index) == info["index"]  # skopeo kept the digest, so all three sources hold one image
    arm64 = info["manifests"]["linux/arm64"]
    arm64_manifest = json.loads(child_manifest(layout, arm64))
    config_digest = arm64_manifest["config"]["digest"]
    for src in [f"oci:{layout}:v1", f"{layout}:v1", f"oci-archive:{archive}:v1", f"{archive}:v1", ref]:
        # The raw bytes, as stored: their sha256 is the digest (xbuild manifest R | sha256sum).
        _, out, _ = xb_bytes(xbuild, "manifest", src, env=clean_env)
        assert out == raw_index, src
        assert sha(out) == info["index"]
        _, out, _ = xb_bytes(xbuild, "digest", src, env=clean_env)
        assert out.decode() == info["index"] + "\n", src
        _, out, _ = xb_bytes(xbuild, "manifest", src, "--platform", "linux/arm64", env=clean_env)
        assert sha(out) == arm64 and json.loads(out) == arm64_manifest, src
        _, out, _ = xb_bytes(xbuild, "digest", src, "--platform", "linux/arm64", env=clean_env)
        assert out.decode() == arm64 + "\n", src
        _, out, _ = xb_bytes(xbuild, "config", src, "--platform", "linux/arm64", env=clean_env)
        assert sha(out) == config_digest, src
        assert json.loads(out)["architecture"] == "arm64"
        # arm/v7 is told apart from other arm variants; "armhf" is what users type.
        _, out, _ = xb_bytes(xbuild, "digest", src, "--platform", "armhf", env=clean_env)
        assert out.decode() == info["manifests"]["linux/arm/v7"] + "\n", src
    # By digest, as crane: the platform manifest's own bytes, which skopeo reads the same.
    by_digest = f"{registry_open.host}/crane/app@{arm64}"
    _, out, _ = xb_bytes(xbuild, "manifest", by_digest, env=clean_env)
    assert out == skopeo_raw(by_digest) == child_manifest(layout, arm64)
    _, out, _ = xb_bytes(xbuild, "config", by_digest, env=clean_env)
    assert sha(out) == config_digest


def test_single_manifest_and_sha256sum(xbuild, image, clean_env):
    layout, _, _ = image
    _, out, _ = xb_bytes(xbuild, "manifest", f"{layout}:other", env=clean_env)
    # The exact pipe the issue names: xbuild manifest R | sha256sum equals xbuild digest R.
    p = subprocess.run(f"'{xbuild}' manifest '{layout}:other' | sha256sum", shell=True, capture_output=True, text=True,
                       env=clean_env)
    assert p.returncode == 0
    _, d, _ = xb_bytes(xbuild, "digest", f"{layout}:other", env=clean_env)
    assert "sha256:" + p.stdout.split()[0] == d.decode().strip() == sha(out)
    # A single-platform image: config needs no --platform, and --platform must match.
    _, cfg, _ = xb_bytes(xbuild, "config", f"{layout}:other", env=clean_env)
    assert sha(cfg) == json.loads(out)["config"]["digest"]
    _, same, _ = xb_bytes(xbuild, "digest", f"{layout}:other", "--platform", "linux/amd64", env=clean_env)
    assert same == d
    code, _, err = xb_bytes(xbuild, "digest", f"{layout}:other", "--platform", "linux/arm64", env=clean_env, check=False)
    assert code == 2 and "--platform linux/arm64" in err and "single-platform image for linux/amd64" in err, err


def test_verbs_bad_input(xbuild, image, tmp_path, registry_open, clean_env):
    layout, archive, _ = image
    cases = [
        # (argv, exit code, words the error must hold)
        (["config", f"{layout}:v1"], 2, ["choose one with --platform", "linux/arm64"]),
        (["manifest", f"{layout}:v1", "--platform", "linux/riscv64"], 2, ["--platform linux/riscv64", "has no image",
                                                                          "linux/amd64, linux/arm64, linux/arm/v7"]),
        (["manifest", f"{layout}:v1", "--platform", "linux/nosuch"], 2, ["--platform"]),
        (["digest", f"{layout}:v1", "--platform", ""], 2, ["names no platform"]),
        (["manifest", f"{layout}:nosuch"], 2, ["no image tagged 'nosuch'", "v1"]),
        (["manifest", f"{layout}"], 2, ["holds 2 images", "say which one"]),
        (["manifest", "Not A Ref"], 2, ["neither an OCI layout", "registry reference"]),
        # A Docker Hub short name (or a mistyped path) is never a network lookup without docker://.
        (["digest", "alpine:3.19"], 2, ["no such OCI layout or oci-archive", "docker://alpine:3.19"]),
        (["copy", "team/app:1", f"{registry_open.host}/x/y:1"], 2, ["copy source 'team/app:1'", "no registry host"]),
        (["manifest", f"{registry_open.host}/crane/none:v9"], 4, ["does not exist"]),
        (["digest", f"oci:{tmp_path / 'no-layout'}"], 2, ["not an OCI image layout", "no-layout"]),
    ]
    garbage = tmp_path / "garbage.tar"
    garbage.write_bytes(b"this is not a tar archive" * 100)
    cases.append((["manifest", f"oci-archive:{garbage}"], 2, [str(garbage)]))
    corrupt = tmp_path / "corrupt"
    make_layout(corrupt, platforms=["linux/amd64"], tag="x")
    (corrupt / "index.json").write_text("{not json")
    cases.append((["digest", f"{corrupt}:x"], 2, ["index.json"]))
    # merge and copy read through the same reader: a corrupt index.json was exit 1 there.
    cases.append((["merge", "-o", f"type=oci,dest={tmp_path / 'm'}", f"oci:{corrupt}:x"], 2, ["corrupt OCI layout",
                                                                                             "index.json"]))
    cases.append((["copy", f"oci:{corrupt}:x", f"oci:{tmp_path / 'c'}"], 2, ["corrupt OCI layout", "index.json"]))
    for argv, want, words in cases:
        code, out, err = xb_bytes(xbuild, *argv, env=clean_env, check=False)
        assert code == want, (argv, code, err)
        assert out == b"", (argv, out)
        assert err.startswith("xbuild: error:"), (argv, err)
        for w in words:
            assert w in err, (argv, w, err)


# --- ls ---------------------------------------------------------------------------------
def test_ls_registry_and_layout(xbuild, image, registry_open, clean_env):
    layout, archive, _ = image
    for tag in ["v1", "latest", "1.0-rc1"]:
        skopeo_copy(f"oci:{layout}:v1", f"docker://{registry_open.host}/crane/ls:{tag}")
    _, out, _ = xb_bytes(xbuild, "ls", f"{registry_open.host}/crane/ls", env=clean_env)
    assert sorted(out.decode().splitlines()) == ["1.0-rc1", "latest", "v1"]
    _, out, _ = xb_bytes(xbuild, "ls", layout, env=clean_env)
    assert out.decode().splitlines() == ["v1", "other"]
    _, out, _ = xb_bytes(xbuild, "ls", f"oci-archive:{archive}", env=clean_env)
    assert out.decode().splitlines() == ["v1"]
    code, out, err = xb_bytes(xbuild, "ls", f"{registry_open.host}/crane/ls:v1", env=clean_env, check=False)
    assert code == 2 and out == b"" and f"xbuild ls {registry_open.host}/crane/ls" in err, err
    code, out, err = xb_bytes(xbuild, "ls", f"{registry_open.host}/crane/nothing", env=clean_env, check=False)
    assert code == 4 and out == b"" and "does not exist" in err, err
    code, _, err = xb_bytes(xbuild, "ls", f"{layout}:v1", env=clean_env, check=False)
    assert code == 2 and "name the layout or archive alone" in err, err


def test_ls_pages_and_hostile_lists(xbuild, fake_registry, clean_env):
    pages = {"": ({"tags": ["a", "b"]}, '</v2/r/tags/list?last=b&n=2>; rel="next"'),
             "b": ({"tags": ["c"]}, None)}

    def paged(repo, query):
        body, link = pages[query.get("last", "")]
        return 200, dict({"Content-Type": "application/json"}, **({"Link": link} if link else {})), json.dumps(body).encode()
    f = fake_registry(tag_pages=paged)
    _, out, _ = xb_bytes(xbuild, "ls", f"{f.host}/r", env=clean_env)
    assert out.decode().splitlines() == ["a", "b", "c"]
    # A list whose next page is itself, a link to another host, a tag with a newline, not JSON.
    hostile = [
        (lambda r, q: (200, {"Link": '</v2/r/tags/list>; rel="next"'}, b'{"tags":["a"]}'), "already read"),
        (lambda r, q: (200, {"Link": '<http://169.254.169.254/v2/r/tags/list>; rel="next"'}, b'{"tags":["a"]}'),
         "is not a path of this repository's tag list"),
        (lambda r, q: (200, {}, json.dumps({"tags": ["ok", "evil\nline"]}).encode()), "not a valid tag"),
        (lambda r, q: (200, {}, b"<html>"), "is not"),
    ]
    # An endless page stops at the manifest cap (4 MiB), far below what the fake would send.
    fault = Fault("GET", r"/tags/list", "endless:200", times=-1)
    f = fake_registry(faults=[fault])
    code, out, err = xb_bytes(xbuild, "ls", f"{f.host}/r", env=clean_env, check=False)
    assert code == 4 and out == b"" and "more than 4 MiB" in err and "a page of the tag list" in err, err
    assert 4 << 20 <= fault.sent < 64 << 20 and fault.fired == 1
    for answer, words in hostile:
        f = fake_registry(tag_pages=answer)
        code, out, err = xb_bytes(xbuild, "ls", f"{f.host}/r", env=clean_env, check=False)
        assert code == 4 and out == b"" and words in err, (words, err)


# --- copy -------------------------------------------------------------------------------
def assert_same_image(ref, info, cert_dir=None):
    raw = skopeo_raw(ref)
    assert sha(raw) == info["index"]
    assert {m["digest"] for m in json.loads(raw)["manifests"]} == set(info["manifests"].values())


def test_copy_registry_to_registry_same_and_other(xbuild, image, registry_open, tmp_path, clean_env):
    layout, _, info = image
    src = f"{registry_open.host}/crane/src:v1"
    skopeo_copy(f"oci:{layout}:v1", f"docker://{src}")
    # Same registry, another repository: blobs are mounted, digests kept.
    _, out, _ = xb_bytes(xbuild, "copy", "--json", src, f"{registry_open.host}/crane/dst:v2", env=clean_env)
    res = json.loads(out)[0]
    assert res["digest"] == info["index"] and res["blobs_mounted"] > 0 and res["blobs_uploaded"] == 0
    assert_same_image(f"{registry_open.host}/crane/dst:v2", info)
    # Another registry: every blob is uploaded, digests kept.
    other = DockerRegistry(tmp_path / "reg-other", "open")
    try:
        _, out, err = xb_bytes(xbuild, "copy", src, f"{other.host}/mirror/app:v1", env=clean_env)
        assert out.decode() == f"{other.host}/mirror/app@{info['index']}\n", err
        assert_same_image(f"{other.host}/mirror/app:v1", info)
        # skopeo can pull every platform back (each blob there and matching its digest).
        run(["skopeo", "copy", "--all", "--src-tls-verify=false", f"docker://{other.host}/mirror/app:v1",
             f"oci:{tmp_path / 'pulled'}:x"])
    finally:
        other.stop()


def test_copy_layout_and_archive_to_registry(xbuild, image, registry_open, clean_env):
    layout, archive, info = image
    _, out, _ = xb_bytes(xbuild, "copy", f"oci:{layout}:v1", f"{registry_open.host}/crane/fromlayout:v1", env=clean_env)
    assert out.decode().strip() == f"{registry_open.host}/crane/fromlayout@{info['index']}"
    assert_same_image(f"{registry_open.host}/crane/fromlayout:v1", info)
    _, out, _ = xb_bytes(xbuild, "copy", f"{archive}:v1", f"{registry_open.host}/crane/fromarchive:v1", env=clean_env)
    assert out.decode().strip() == f"{registry_open.host}/crane/fromarchive@{info['index']}"
    assert_same_image(f"{registry_open.host}/crane/fromarchive:v1", info)


def test_copy_registry_to_layout(xbuild, image, registry_open, tmp_path, clean_env):
    layout, _, info = image
    src = f"{registry_open.host}/crane/src:v1"
    skopeo_copy(f"oci:{layout}:v1", f"docker://{src}")
    dest = tmp_path / "copied"
    _, out, _ = xb_bytes(xbuild, "copy", src, f"oci:{dest}", env=clean_env)
    assert out.decode() == f"{dest}@{info['index']}\n"
    # The tag comes from SRC; umoci lists it, skopeo reads the index with the same digest.
    need("umoci")
    assert run(["umoci", "ls", "--layout", dest]).stdout.split() == ["v1"]
    assert sha(run(["skopeo", "inspect", "--raw", f"oci:{dest}:v1"], text=False).stdout) == info["index"]
    # Every blob is there and verified: skopeo pushes the copy on to the registry unchanged.
    skopeo_copy(f"oci:{dest}:v1", f"docker://{registry_open.host}/crane/roundtrip:v1")
    assert_same_image(f"{registry_open.host}/crane/roundtrip:v1", info)
    # A second copy into the same layout under another tag keeps the first.
    xb_bytes(xbuild, "copy", src, f"oci:{dest}:again", env=clean_env)
    assert sorted(run(["umoci", "ls", "--layout", dest]).stdout.split()) == ["again", "v1"]


def test_copy_bad_destinations(xbuild, image, tmp_path, registry_open, clean_env):
    layout, archive, _ = image
    notlayout = tmp_path / "notlayout"
    notlayout.mkdir()
    (notlayout / "keep.txt").write_text("mine")
    cases = [
        (["copy", f"{layout}:v1", f"oci-archive:{tmp_path / 'x.tar'}"], 2, ["not to an archive"]),
        (["copy", f"{layout}:v1", f"{notlayout}"], 2, ["not an OCI layout", "choose another dest"]),
        (["copy", f"{layout}:v1", "UPPER CASE"], 2, ["copy destination", "neither an OCI layout"]),
        (["copy", f"{layout}:nosuch", f"{registry_open.host}/crane/x:1"], 2, ["no image tagged 'nosuch'"]),
        (["copy", f"{registry_open.host}/crane/absent:1", f"oci:{tmp_path / 'y'}"], 4, ["does not exist"]),
        (["copy", f"{layout}:v1", f"{registry_open.host}/crane/x@sha256:{'0' * 64}"], 2, ["names digest"]),
    ]
    for argv, want, words in cases:
        code, out, err = xb_bytes(xbuild, *argv, env=clean_env, check=False)
        assert code == want, (argv, code, err)
        assert out == b"", (argv, out)
        for w in words:
            assert w in err, (argv, w, err)
    assert sorted(p.name for p in notlayout.iterdir()) == ["keep.txt"]
    assert not (tmp_path / "y").exists()


def test_verbs_on_an_authenticated_registry(xbuild, image, registry_basic, clean_env):
    from registry_fixtures import PASSWORD, USER
    layout, _, info = image
    ref = f"{registry_basic.host}/secure/app:v1"
    creds = ["--creds", f"{USER}:{PASSWORD}"]
    # Without credentials: exit 4 saying so, for a write and for a read.
    code, out, err = xb_bytes(xbuild, "copy", f"oci:{layout}:v1", ref, env=clean_env, check=False)
    assert code == 4 and out == b"" and "requires authentication" in err, err
    code, _, err = xb_bytes(xbuild, "copy", f"oci:{layout}:v1", ref, "--creds", f"{USER}:wrong-{PASSWORD}", env=clean_env,
                            check=False)
    assert code == 4 and PASSWORD not in err, err
    _, out, _ = xb_bytes(xbuild, "copy", f"oci:{layout}:v1", ref, *creds, env=clean_env)
    assert out.decode().strip().endswith("@" + info["index"])
    assert sha(skopeo_raw(ref, creds=f"{USER}:{PASSWORD}")) == info["index"]
    for verb in (["digest", ref], ["ls", f"{registry_basic.host}/secure/app"], ["manifest", ref]):
        code, out, err = xb_bytes(xbuild, *verb, env=clean_env, check=False)
        assert code == 4 and out == b"" and "requires authentication" in err, (verb, err)
    _, out, _ = xb_bytes(xbuild, "digest", ref, *creds, env=clean_env)
    assert out.decode() == info["index"] + "\n"
    _, out, _ = xb_bytes(xbuild, "ls", f"{registry_basic.host}/secure/app", *creds, env=clean_env)
    assert out.decode() == "v1\n"


def test_an_unreadable_index_json_is_a_permission_problem_not_corruption(xbuild, image, tmp_path, clean_env):
    # It was "corrupt OCI layout ...; remove the layout directory", exit 2: the wrong advice.
    need("setpriv")
    top = Path(tempfile.mkdtemp(prefix="xb-unreadable-"))  # pytest's tmp is 0700: nobody could not reach it
    try:
        top.chmod(0o755)
        layout = top / "layout"
        shutil.copytree(image[0], layout)
        (layout / "index.json").chmod(0o600)  # root's; the command runs as nobody
        for verb in (["manifest", f"{layout}:v1"], ["ls", layout], ["inspect", layout],
                     ["copy", f"{layout}:v1", f"oci:{top / 'c'}"]):
            p = run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", xbuild, *verb], check=False,
                    env=clean_env)
            assert p.returncode == 3, (verb, p.stderr)
            assert f"cannot read {layout / 'index.json'}: Permission denied" in p.stderr, p.stderr
            assert "check the permissions" in p.stderr and "corrupt" not in p.stderr, p.stderr
    finally:
        shutil.rmtree(top)


def test_a_path_that_cannot_be_reached_is_named_as_a_path(xbuild, tmp_path, clean_env):
    # A path is never taken for a registry reference: it was "REF '/...': empty path component
    # in the repository name" for a layout nobody could reach or a missing ./dir.
    for text in [str(tmp_path / "nosuch"), "./nosuch-layout:v1"]:
        p = run([xbuild, "digest", text], check=False, env=clean_env, cwd=tmp_path)
        assert p.returncode == 2 and "repository name" not in p.stderr, p.stderr
        assert "nosuch" in p.stderr and "not an OCI image layout" in p.stderr, p.stderr


def test_read_verbs_fetch_only_what_they_print(xbuild, image, fake_registry, clean_env):
    # Registries count manifest GETs (Docker Hub's pull limit): as crane, `digest` and
    # `manifest` read the top manifest once, and --platform adds only that platform's manifest.
    layout, _, info = image
    f = fake_registry()
    ref = f"{f.host}/count/app:v1"
    run([xbuild, "push", f"{layout}:v1", ref], env=clean_env)
    arm64 = info["manifests"]["linux/arm64"]

    def manifest_gets(*argv):
        before = len(f.requests("GET", r"/manifests/"))
        _, out, _ = xb_bytes(xbuild, *argv, env=clean_env)
        return out, [r.path for r in f.requests("GET", r"/manifests/")[before:]]
    out, gets = manifest_gets("digest", ref)
    assert out.decode() == info["index"] + "\n" and gets == ["/v2/count/app/manifests/v1"]
    out, gets = manifest_gets("manifest", ref)
    assert sha(out) == info["index"] and len(gets) == 1
    out, gets = manifest_gets("digest", ref, "--platform", "linux/arm64")
    assert out.decode() == arm64 + "\n" and len(gets) == 1
    out, gets = manifest_gets("manifest", ref, "--platform", "linux/arm64")
    assert sha(out) == arm64 and gets == ["/v2/count/app/manifests/v1", f"/v2/count/app/manifests/{arm64}"]
    out, gets = manifest_gets("config", ref, "--platform", "linux/arm64")
    assert json.loads(out)["architecture"] == "arm64" and len(gets) == 2
