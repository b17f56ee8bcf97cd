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
    assert p.returncode == 2 and "neither an OCI layout" in p.stderr and "oci-archive" in p.stderr


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


def raw_layout(layout, tag) -> bytes:
    return run(["skopeo", "inspect", "--raw", f"oci:{layout}:{tag}"], text=False).stdout


def test_fan_out_and_merge_equals_the_single_build(xbuild, tmp_path, registry_open, clean_env):
    """README's promise: the per-platform jobs of a fan-out, merged, are the single
    multi-platform build, digest for digest (index and every manifest), in layouts and
    through a registry, as skopeo reads them."""
    proj = tmp_path / "c-make"
    shutil.copytree(PROJECTS / "c-make", proj, ignore=shutil.ignore_patterns(".xbuild"))
    env = dict(clean_env, SOURCE_DATE_EPOCH="1700000000")
    plats = ["linux/amd64", "linux/arm64"]
    single = tmp_path / "single"
    run([xbuild, "-C", proj, "build", "--platform", ",".join(plats), "--output", f"type=oci,dest={single}",
         "-t", "app:1.0"], env=env, timeout=1800)
    jobs = []
    for p in plats:
        job = tmp_path / f"job-{p.replace('/', '_')}"
        run([xbuild, "-C", proj, "build", "--platform", p, "--output", f"type=oci,dest={job}", "-t", "app:1.0"],
            env=env, timeout=1800)
        jobs.append(job)
    merged = tmp_path / "merged"
    run([xbuild, "merge", "-t", "app:1.0", "--output", f"type=oci,dest={merged}"] + [f"oci:{j}:1.0" for j in jobs],
        env=env)
    want = raw_layout(single, "1.0")
    index = json.loads(want)
    assert sorted(platforms_of(index)) == plats
    assert "org.opencontainers.image.created" in index["annotations"]
    assert raw_layout(merged, "1.0") == want
    for p, digest in platforms_of(index).items():  # every manifest: same bytes, hashing to its digest
        blob = ("blobs", "sha256", digest.split(":")[1])
        assert sha(single.joinpath(*blob).read_bytes()) == sha(merged.joinpath(*blob).read_bytes()) == digest
        assert sha(jobs[plats.index(p)].joinpath(*blob).read_bytes()) == digest

    # Through the registry, as the README's CI section does it: each job pushes, merge stitches.
    host = registry_open.host
    run([xbuild, "push", f"{single}:1.0", f"{host}/team/app:single"], env=env)
    sources = []
    for p, job in zip(plats, jobs):
        ref = f"{host}/team/app:build-{p.replace('/', '_')}"
        run([xbuild, "push", f"{job}:1.0", ref], env=env)
        sources.append(ref)
    run([xbuild, "merge", "-t", f"{host}/team/app:1.0"] + sources, env=env)
    assert skopeo_raw(f"{host}/team/app:1.0") == skopeo_raw(f"{host}/team/app:single") == want


def test_merge_leaves_out_annotations_the_sources_disagree_on(xbuild, tmp_path, clean_env):
    proj = tmp_path / "c-make"
    shutil.copytree(PROJECTS / "c-make", proj, ignore=shutil.ignore_patterns(".xbuild"))
    jobs = []
    for epoch, p in [("1700000000", "linux/amd64"), ("1700000001", "linux/arm64")]:
        job = tmp_path / f"job-{epoch}"
        run([xbuild, "-C", proj, "build", "--platform", p, "--output", f"type=oci,dest={job}", "-t", "app:1"],
            env=dict(clean_env, SOURCE_DATE_EPOCH=epoch), timeout=1800)
        jobs.append(job)
    merged = tmp_path / "merged"
    p = run([xbuild, "merge", "-t", "app:1", "--output", f"type=oci,dest={merged}"] + [f"oci:{j}:1" for j in jobs],
            env=clean_env)
    assert "disagree on annotation org.opencontainers.image.created" in p.stderr
    index = json.loads(raw_layout(merged, "1"))
    assert "org.opencontainers.image.created" not in index.get("annotations", {})


def pack_archive(layout, dest):
    """An oci-archive of a layout, packed by Python's tarfile (not by xbuild)."""
    import tarfile
    with tarfile.open(dest, "w") as t:
        for f in sorted(layout.rglob("*")):
            t.add(f, arcname=str(f.relative_to(layout)), recursive=False)
    return dest


def test_push_and_merge_read_oci_archives(xbuild, tmp_path, registry_open, clean_env):
    jobs = single_layouts(tmp_path)
    archives = {p: pack_archive(layout, tmp_path / f"{layout.name}.tar") for p, (layout, _) in jobs.items()}
    host = registry_open.host
    amd = archives["linux/amd64"]
    # push ARCHIVE REF and ARCHIVE:TAG REF: skopeo reads the archive and the registry alike.
    run([xbuild, "push", amd, f"{host}/arch/app:plain"], env=clean_env)
    run([xbuild, "push", f"{amd}:ci", f"{host}/arch/app:tagged"], env=clean_env)
    want = run(["skopeo", "inspect", "--raw", f"oci-archive:{amd}:ci"], text=False).stdout
    assert skopeo_raw(f"{host}/arch/app:plain") == skopeo_raw(f"{host}/arch/app:tagged") == want
    run(["skopeo", "copy", "--src-tls-verify=false", f"docker://{host}/arch/app:plain", f"oci:{tmp_path / 'back'}:x"])
    p = run([xbuild, "push", f"{amd}:nope", f"{host}/arch/app:x"], check=False, env=clean_env)
    assert p.returncode == 2 and str(amd) in p.stderr and "nope" in p.stderr and "xbuild-archive-" not in p.stderr

    # merge with archive inputs (bare and oci-archive:) next to a layout: the same index as from layouts only.
    ref = f"{host}/arch/app:all"
    sources = [str(archives["linux/amd64"]) + ":ci", f"oci-archive:{archives['linux/arm64']}:ci",
               f"oci:{jobs['linux/arm/v7'][0]}:ci"]
    out = json.loads(run([xbuild, "merge", "--json", "-t", ref] + sources, env=clean_env).stdout)[0]
    raw = skopeo_raw(ref)
    assert sha(raw) == out["digest"]
    assert platforms_of(json.loads(raw)) == {p: d for p, (_, d) in jobs.items()}
    from_layouts = tmp_path / "from-layouts"
    run([xbuild, "merge", "--output", f"type=oci,dest={from_layouts}"] + [f"oci:{l}:ci" for l, _ in jobs.values()],
        env=clean_env)
    assert raw_layout(from_layouts, "latest") == raw
