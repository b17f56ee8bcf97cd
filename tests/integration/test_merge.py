"""xbuild merge: the fan-in step of a CI matrix. Per-platform images (layouts or registry
references, single manifests or indexes) become one index, pushed to docker-registry or
written to a layout; read back with skopeo."""
import json
import shutil

from conftest import PROJECTS, run
from registry_fixtures import *  # noqa: F401,F403 (fixtures)
from registry_fixtures import make_layout, sha, skopeo_raw


def single_layouts(tmp_path):
    out = {}
    for i, p in enumerate(["linux/amd64", "linux/arm64", "linux/arm/v7"]):
        layout = tmp_path / f"job-{i}"
        info = make_layout(layout, platforms=[p], tag="ci", seed=f"job{i}".encode(), single=True)
        out[p] = (layout, info["manifests"][p])
    return out


def platforms_of(index: dict) -> dict:
    return {"/".join(filter(None, [m["platform"]["os"], m["platform"]["architecture"], m["platform"].get("variant")])):
            m["digest"] for m in index["manifests"]}


def test_merge_layouts_and_push(xbuild, tmp_path, registry_open, clean_env):
    jobs = single_layouts(tmp_path)
    ref = f"{registry_open.host}/ci/app:multi"
    out = json.loads(run([xbuild, "merge", "--json", "-t", ref] + [f"oci:{l}:ci" for l, _ in jobs.values()],
                         env=clean_env).stdout)[0]
    raw = skopeo_raw(ref)
    assert sha(raw) == out["digest"]
    index = json.loads(raw)
    assert index["mediaType"] == "application/vnd.oci.image.index.v1+json"
    # Every child keeps the digest its CI job produced.
    assert platforms_of(index) == {p: d for p, (_, d) in jobs.items()}
    back = tmp_path / "back"
    run(["skopeo", "copy", "--all", "--src-tls-verify=false", f"docker://{ref}", f"oci:{back}:x"])


def push_jobs(xbuild, jobs, registry, env):
    """Pushes each per-platform layout as a CI job would; returns the pushed references."""
    sources = []
    for p, (layout, _) in jobs.items():
        ref = f"{registry.host}/ci/jobs:{p.replace('/', '-')}"
        run([xbuild, "push", f"{layout}:ci", ref], env=env)
        sources.append(ref)
    return sources


def test_merge_registry_refs_mounts_blobs(xbuild, tmp_path, registry_open, clean_env):
    jobs = single_layouts(tmp_path)
    sources = push_jobs(xbuild, jobs, registry_open, clean_env)
    # Into the same repository: every blob is already there; into another: mounted.
    out = json.loads(run([xbuild, "merge", "--json", "-t", f"{registry_open.host}/ci/jobs:all",
                          "-t", f"{registry_open.host}/release/app:1"] + sources, env=clean_env).stdout)
    assert out[0]["blobs_uploaded"] == 0 and out[0]["blobs_mounted"] == 0
    assert out[1]["blobs_uploaded"] == 0 and out[1]["blobs_mounted"] > 0
    index = json.loads(skopeo_raw(f"{registry_open.host}/release/app:1"))
    assert platforms_of(index) == {p: d for p, (_, d) in jobs.items()}


def test_merge_index_with_a_built_platform(xbuild, built_image, tmp_path, registry_open, clean_env):
    layout, tag = built_image
    proj = tmp_path / "c-make"
    shutil.copytree(PROJECTS / "c-make", proj, ignore=shutil.ignore_patterns(".xbuild"))
    riscv = tmp_path / "riscv"
    run([xbuild, "-C", proj, "build", "--platform", "linux/riscv64", "--output", f"type=oci,dest={riscv}",
         "-t", "hello-c:rv"], timeout=1800)
    ref = f"{registry_open.host}/hello:all"
    run([xbuild, "merge", "-t", ref, f"oci:{layout}:{tag}", f"oci:{riscv}:rv"], env=clean_env)
    index = json.loads(skopeo_raw(ref))
    assert sorted(platforms_of(index)) == ["linux/amd64", "linux/arm/v7", "linux/arm64", "linux/riscv64"]


def test_merge_to_a_layout(xbuild, tmp_path, clean_env):
    jobs = single_layouts(tmp_path)
    dest = tmp_path / "merged"
    out = json.loads(run([xbuild, "merge", "--json", "-t", "app:2", "--output", f"type=oci,dest={dest}"]
                         + [f"oci:{l}:ci" for l, _ in jobs.values()], env=clean_env).stdout)
    assert out["tag"] == "2"
    top = json.loads((dest / "index.json").read_text())["manifests"][0]
    assert top["digest"] == out["digest"]
    assert top["annotations"]["org.opencontainers.image.ref.name"] == "2"
    # skopeo reads the layout and verifies every blob while copying it.
    run(["skopeo", "copy", "--all", f"oci:{dest}:2", f"oci:{tmp_path / 'copy'}:2"])
    index = json.loads((dest / "blobs" / "sha256" / out["digest"].split(":")[1]).read_text())
    assert platforms_of(index) == {p: d for p, (_, d) in jobs.items()}


def test_a_platform_given_twice_is_an_error(xbuild, tmp_path, clean_env):
    jobs = single_layouts(tmp_path)
    again = tmp_path / "again"
    make_layout(again, platforms=["linux/arm64"], tag="ci", seed=b"other", single=True)
    arm = jobs["linux/arm64"][0]
    p = run([xbuild, "merge", "--output", f"type=oci,dest={tmp_path / 'x'}", f"oci:{arm}:ci", f"oci:{again}:ci"],
            check=False, env=clean_env)
    assert p.returncode == 2
    assert "linux/arm64 appears twice" in p.stderr and str(arm) in p.stderr and str(again) in p.stderr
    assert not (tmp_path / "x" / "index.json").exists()
    p = run([xbuild, "merge", f"oci:{arm}:ci"], check=False, env=clean_env)
    assert p.returncode == 2 and "-t" in p.stderr
    p = run([xbuild, "merge", "-t", "x:1", "not-a-layout:or:ref"], check=False, env=clean_env)
    assert p.returncode == 2 and "neither an OCI layout" in p.stderr


def test_merge_across_registries_copies_blobs(xbuild, tmp_path, registry_open, clean_env):
    from registry_fixtures import DockerRegistry
    jobs = single_layouts(tmp_path)
    sources = push_jobs(xbuild, jobs, registry_open, clean_env)
    other = DockerRegistry(tmp_path / "other", "open")
    try:
        ref = f"{other.host}/release/app:1"
        out = json.loads(run([xbuild, "merge", "--json", "-t", ref] + sources, env=clean_env).stdout)[0]
        # Another registry cannot mount: every blob is fetched (verified) and uploaded.
        assert out["blobs_mounted"] == 0 and out["blobs_uploaded"] > 0
        back = tmp_path / "back"
        run(["skopeo", "copy", "--all", "--src-tls-verify=false", f"docker://{ref}", f"oci:{back}:x"])
        assert platforms_of(json.loads(skopeo_raw(ref))) == {p: d for p, (_, d) in jobs.items()}
    finally:
        other.stop()
