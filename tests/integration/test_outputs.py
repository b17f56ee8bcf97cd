"""`build -o` as buildx users spell it, checked with tools xbuild did not write: dest=- streams
an oci-archive to stdout (skopeo and tar read it, the status goes to stderr), type=registry
and type=image,push=true push to a real docker-registry on loopback, compression= changes
the layers (read by their magic bytes), unwritable destinations (real read-only bind mounts)
fail before anything builds, and a failed pre-flight check leaves the last good outputs."""
import json
import os
import subprocess
import tarfile
from pathlib import Path

import pytest

from conftest import need, read_only, run
from emu_helpers import env_with
from registry_fixtures import *  # noqa: F401,F403 (fixtures)
from registry_fixtures import skopeo_raw

HOST = "linux/amd64"


def build(xbuild, proj, *args, check=True, **kw):
    return run([xbuild, "-C", proj, "build", "--platform", HOST, *args], check=check, **kw)


def nothing_built(proj: Path):
    assert not (proj / ".xbuild" / "out").exists(), "the build ran before the destination was checked"


# --- dest=- ---------------------------------------------------------------------------------
@pytest.mark.parametrize("progress", ["plain", "json"])
def test_oci_archive_to_stdout_holds_the_archive_alone(xbuild, project_copy, tmp_path, progress):
    proj = project_copy("c-make")
    archive = tmp_path / "from-stdout.tar"
    with open(archive, "wb") as out:
        p = subprocess.run([str(xbuild), "-C", str(proj), "build", "--platform", "linux/amd64,linux/arm64",
                            "--progress", progress, "-o", "type=oci-archive,dest=-", "-t", "hello:1.0"],
                           stdout=out, stderr=subprocess.PIPE, cwd=tmp_path, timeout=900)
    err = p.stderr.decode()
    assert p.returncode == 0, err
    assert not (tmp_path / "-").exists() and not (proj / "-").exists()
    # stdout is one tar and nothing else: tar lists it, skopeo reads the image from it.
    names = run(["tar", "tf", archive]).stdout.split()
    assert "index.json" in names and "oci-layout" in names, names
    index = json.loads(run([need("skopeo"), "inspect", "--raw", f"oci-archive:{archive}:1.0"]).stdout)
    archs = sorted(m["platform"]["architecture"] for m in index["manifests"])
    assert archs == ["amd64", "arm64"]
    arm = json.loads(run(["skopeo", "inspect", "--override-arch", "arm64", f"oci-archive:{archive}:1.0"]).stdout)
    assert arm["Architecture"] == "arm64"
    # The build's own output went to stderr.
    assert "linux/arm64" in err and "- (stdout)" in err
    if progress == "json":
        events = [json.loads(line) for line in err.splitlines() if line.startswith("{")]
        assert events, err


@pytest.mark.parametrize("spec", ["type=oci,dest=-", "type=local,dest=-", "-"])
def test_dest_dash_for_a_directory_is_a_usage_error(xbuild, project_copy, tmp_path, spec):
    proj = project_copy("c-make")
    p = build(xbuild, proj, "-o", spec, check=False, cwd=tmp_path)
    assert p.returncode == 2, p.stderr
    assert f"--output {spec}" in p.stderr and "type=oci-archive,dest=-" in p.stderr
    assert not (tmp_path / "-").exists()
    nothing_built(proj)


def test_dest_dash_with_json_is_a_usage_error(xbuild, project_copy):
    proj = project_copy("c-make")
    p = build(xbuild, proj, "--json", "-o", "type=oci-archive,dest=-", check=False)
    assert p.returncode == 2 and "--json" in p.stderr, p.stderr
    nothing_built(proj)


# --- attributes -----------------------------------------------------------------------------
LAYER_MAGIC = {"gzip": b"\x1f\x8b", "zstd": b"\x28\xb5\x2f\xfd"}


def layer_blobs(layout: Path, tag: str):
    """(media type, first bytes) of every layer, read from the layout's files."""
    index = json.loads((layout / "index.json").read_text())
    top = next(m for m in index["manifests"] if m.get("annotations", {}).get("org.opencontainers.image.ref.name") == tag)
    blob = lambda d: layout / "blobs" / "sha256" / d.split(":", 1)[1]  # noqa: E731
    image_index = json.loads(blob(top["digest"]).read_text())
    for m in image_index["manifests"]:
        for layer in json.loads(blob(m["digest"]).read_text())["layers"]:
            yield layer["mediaType"], blob(layer["digest"]).read_bytes()[:4]


@pytest.mark.parametrize("compression", ["zstd", "gzip", "none"])
def test_compression_attribute_sets_the_layer_compression(xbuild, project_copy, tmp_path, compression):
    proj = project_copy("c-make")
    layout = tmp_path / "layout"
    build(xbuild, proj, "-o", f"type=oci,dest={layout},compression={compression}", "-t", "hello:1.0")
    # skopeo accepts the layout; the layers are what was asked for.
    run([need("skopeo"), "inspect", f"oci:{layout}:1.0"])
    layers = list(layer_blobs(layout, "1.0"))
    assert layers
    for media, head in layers:
        if compression == "none":
            assert media == "application/vnd.oci.image.layer.v1.tar", media
            assert head not in LAYER_MAGIC.values()
        else:
            assert media == f"application/vnd.oci.image.layer.v1.tar+{compression}", media
            assert head.startswith(LAYER_MAGIC[compression]), head


@pytest.mark.parametrize("spec,named", [
    ("type=oci,dest=L,colour=blue", "'colour'"),
    ("type=oci,dest=L,compression=lz4", "lz4"),
    ("type=local,dest=L,compression=zstd", "compression="),
    ("type=oci,dest=L,push=true", "push="),
    ("type=registry,dest=L", "dest"),
    ("type=image,push=maybe", "push=maybe"),
    ("type=docker-ish,dest=L", "docker-ish"),
])
def test_bad_attributes_are_usage_errors_naming_them(xbuild, project_copy, spec, named):
    proj = project_copy("c-make")
    p = build(xbuild, proj, "-o", spec, "-t", "hello:1.0", check=False)
    assert p.returncode == 2, p.stderr
    assert "--output" in p.stderr and named in p.stderr, p.stderr
    nothing_built(proj)


def test_compression_attribute_and_flag_must_agree(xbuild, project_copy, tmp_path):
    proj = project_copy("c-make")
    p = build(xbuild, proj, "-o", f"type=oci,dest={tmp_path / 'l'},compression=zstd", "--compression", "gzip",
              check=False)
    assert p.returncode == 2 and "disagree" in p.stderr, p.stderr
    nothing_built(proj)


@pytest.mark.parametrize("spec", ["type=registry", "type=image,push=true", "type=registry,compression=zstd"])
def test_registry_outputs_push_like_the_push_flag(xbuild, project_copy, registry_open, clean_env, spec):
    proj = project_copy("c-make")
    ref = f"{registry_open.host}/team/app:1.0"
    build(xbuild, proj, "-o", spec, "-t", ref, env=clean_env)
    manifest = json.loads(skopeo_raw(ref))
    assert [m["platform"]["architecture"] for m in manifest["manifests"]] == ["amd64"]
    # It was built into the default layout first, as --push does.
    assert (proj / ".xbuild" / "oci" / "index.json").exists()
    if "zstd" in spec:
        layers = list(layer_blobs(proj / ".xbuild" / "oci", "1.0"))
        assert layers and all(media.endswith("+zstd") for media, _ in layers), layers


def test_image_output_without_push_only_writes_the_layout(xbuild, project_copy, clean_env):
    proj = project_copy("c-make")
    build(xbuild, proj, "-o", "type=image", "-t", "hello:1.0", env=clean_env)
    run([need("skopeo"), "inspect", f"oci:{proj / '.xbuild' / 'oci'}:1.0"])


def test_registry_output_without_a_tag_is_a_usage_error(xbuild, project_copy):
    proj = project_copy("c-make")
    p = build(xbuild, proj, "-o", "type=registry", check=False)
    assert p.returncode == 2 and "-t" in p.stderr, p.stderr
    nothing_built(proj)


# --- unwritable destinations ----------------------------------------------------------------
@pytest.mark.parametrize("spec", ["type=local,dest={ro}/dist", "{ro}/dist", "type=oci,dest={ro}/layout",
                                  "type=oci-archive,dest={ro}/img.tar", "type=local,dest={ro}"])
def test_a_dest_in_a_read_only_dir_fails_before_building(xbuild, project_copy, tmp_path, spec):
    proj = project_copy("c-make")
    with read_only(tmp_path / "ro") as ro:
        p = build(xbuild, proj, "-o", spec.format(ro=ro), check=False)
    assert p.returncode == 3, p.stderr
    assert "choose another dest" in p.stderr and str(ro) in p.stderr, p.stderr
    assert "filesystem error" not in p.stderr
    nothing_built(proj)
    assert list((tmp_path / "ro").iterdir()) == []


def test_a_read_only_project_fails_before_building_even_with_dest_elsewhere(xbuild, project_copy, tmp_path):
    proj = project_copy("c-make")
    dist = tmp_path / "dist"
    with read_only(proj):
        p = build(xbuild, proj, "-o", f"type=local,dest={dist}", check=False)
    assert p.returncode == 3, p.stderr
    assert str(proj / ".xbuild") in p.stderr and "writable copy" in p.stderr, p.stderr
    assert "filesystem error" not in p.stderr
    assert not dist.exists()
    nothing_built(proj)


def test_a_writable_dest_in_a_read_only_tree_is_fine(xbuild, project_copy, tmp_path):
    # A writable mount inside a read-only dir: only the dest's own dir matters.
    proj = project_copy("c-make")
    outer = tmp_path / "outer"
    inner = outer / "inner"
    inner.mkdir(parents=True)
    with read_only(outer):
        run(["mount", "-t", "tmpfs", "tmpfs", inner])
        try:
            build(xbuild, proj, "-o", f"type=local,dest={inner}/dist")
            assert "x86-64" in run([need("file"), inner / "dist" / "linux_amd64" / "hello"]).stdout
        finally:
            run(["umount", inner])


# --- pre-flight failures keep the last good outputs -----------------------------------------
def test_failed_preflight_leaves_the_last_good_outputs(xbuild, project_copy, tmp_path):
    proj = project_copy("c-make")
    run([xbuild, "-C", proj, "build", "--platform", "linux/amd64,linux/arm64"], env=env_with())
    outs = {p: (proj / ".xbuild" / "out" / p / "hello") for p in ("linux_amd64", "linux_arm64")}
    before = {p: f.read_bytes() for p, f in outs.items()}
    assert "ARM aarch64" in run([need("file"), outs["linux_arm64"]]).stdout
    empty = tmp_path / "binfmt"  # binfmt_misc "not mounted"
    empty.mkdir()
    for extra in ([], ["--keep-going"]):
        p = run([xbuild, "-C", proj, "build", "--platform", "linux/amd64,linux/arm64", "--strategy",
                 "linux/arm64=emulate", *extra], check=False, env=env_with(XBUILD_BINFMT_DIR=empty), timeout=120)
        assert p.returncode == 3, p.stderr
        assert "binfmt_misc is not mounted" in p.stderr
        # arm64 never started: its old outputs stay, byte for byte (and amd64's too when it did not run).
        assert outs["linux_arm64"].read_bytes() == before["linux_arm64"]
        assert outs["linux_amd64"].read_bytes() == before["linux_amd64"]
