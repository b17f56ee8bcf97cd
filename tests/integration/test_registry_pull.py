"""Pulling from a registry: the cache layout (verified blobs by digest), per-platform
selection, and a registry reference as [image] base in xbuild.toml, built on for real."""
import json
import shutil

import pytest

from conftest import PROJECTS, run
from registry_fixtures import *  # noqa: F401,F403 (fixtures)
from registry_fixtures import make_layout


def test_pull_selects_platforms_into_a_verified_cache_layout(xbuild, tmp_path, registry_open, clean_env):
    layout = tmp_path / "base"
    info = make_layout(layout, tag="1")
    ref = f"{registry_open.host}/base/img:1"
    run([xbuild, "push", f"{layout}:1", ref], env=clean_env)

    one = json.loads(run([xbuild, "pull", "--json", "--platform", "linux/arm64", ref], env=clean_env).stdout)
    cache = tmp_path / "cache" / "xbuild"
    assert one["layout"] == str(cache)
    assert one["source_digest"] == info["index"]
    sub = json.loads((cache / "blobs" / "sha256" / one["digest"].split(":")[1]).read_text())
    assert [m["digest"] for m in sub["manifests"]] == [info["manifests"]["linux/arm64"]]
    # skopeo reads the cache as a layout and verifies every blob of the tagged image.
    run(["skopeo", "copy", "--all", f"oci:{cache}:{one['tag']}", f"oci:{tmp_path / 'copy'}:x"])
    # Only arm64's blobs were fetched: amd64's manifest is not in the cache.
    assert not (cache / "blobs" / "sha256" / info["manifests"]["linux/amd64"].split(":")[1]).exists()

    every = json.loads(run([xbuild, "pull", "--json", ref], env=clean_env).stdout)
    assert every["digest"] == every["source_digest"] == info["index"]
    tags = [m["annotations"]["org.opencontainers.image.ref.name"]
            for m in json.loads((cache / "index.json").read_text())["manifests"]]
    assert one["tag"] in tags and every["tag"] in tags

    p = run([xbuild, "pull", "--platform", "linux/riscv64", ref], env=clean_env, check=False)
    assert p.returncode == 2 and "no image for linux/riscv64" in p.stderr and "linux/arm/v7" in p.stderr


@pytest.mark.parametrize("prefix", ["", "docker://"])  # docker://REF is skopeo's spelling of the same reference
def test_registry_base_image_in_xbuild_toml(xbuild, tmp_path, registry_open, clean_env, prefix):
    layout = tmp_path / "base"
    info = make_layout(layout, tag="1")
    ref = f"{registry_open.host}/base/img:1"
    run([xbuild, "push", f"{layout}:1", ref], env=clean_env)
    base_manifest = json.loads((layout / "blobs" / "sha256" / info["manifests"]["linux/arm64"].split(":")[1]).read_text())

    proj = tmp_path / "c-make"
    shutil.copytree(PROJECTS / "c-make", proj, ignore=shutil.ignore_patterns(".xbuild"))
    toml = proj / "xbuild.toml"
    toml.write_text(toml.read_text().replace("[image]\n", f'[image]\nbase = "{prefix}{ref}"\n'))
    out = tmp_path / "out"
    run([xbuild, "-C", proj, "build", "--platform", "linux/arm64,linux/amd64", "--output", f"type=oci,dest={out}",
         "-t", "app:1"], env=clean_env, timeout=1800)
    top = json.loads((out / "index.json").read_text())["manifests"][0]
    index = json.loads((out / "blobs" / "sha256" / top["digest"].split(":")[1]).read_text())
    arm = next(m for m in index["manifests"] if m["platform"]["architecture"] == "arm64")
    manifest = json.loads((out / "blobs" / "sha256" / arm["digest"].split(":")[1]).read_text())
    base_layers = [l["digest"] for l in base_manifest["layers"]]
    # The base's arm64 layers come first, then the project's own layer.
    assert [l["digest"] for l in manifest["layers"]][:len(base_layers)] == base_layers
    assert len(manifest["layers"]) == len(base_layers) + 1
    # base.name is the reference as written (without skopeo's docker:// transport), never the cache path.
    assert manifest["annotations"]["org.opencontainers.image.base.name"] == ref
    assert manifest["annotations"]["org.opencontainers.image.base.digest"] == info["manifests"]["linux/arm64"]
    assert str(tmp_path / "cache") not in json.dumps(manifest)
