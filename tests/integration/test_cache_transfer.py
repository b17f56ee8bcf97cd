"""Sharing the per-platform compiler caches (issue 11, second part): --cache-to exports each
platform's cache as its own OCI artifact (tag TAG-<platform>) to a registry or an OCI layout,
--cache-from imports it before building. A CI round trip on a real docker-registry on loopback
must give a fresh checkout at another path every compile from the cache, the same bytes and the
same image digest; parallel exports of different platforms keep both; a warm re-export uploads
nothing; an unreachable registry or a corrupt blob is a warning and a cold, correct build.
Real compilers, ccache, qemu-user and docker-registry; fake_registry only for the corrupt blob."""
import json
import shutil
import subprocess
from pathlib import Path

import pytest

from conftest import PROJECTS, need, run
from registry_fixtures import *  # noqa: F401,F403 (fixtures)
from registry_fixtures import free_port, skopeo_raw
from generated_projects import N_SOURCES, make_multi_file_project

PLATFORMS = ["linux/amd64", "linux/arm64", "linux/arm/v7", "linux/riscv64"]
QEMU = {"linux/arm64": ("qemu-aarch64-static", "/usr/aarch64-linux-gnu"),
        "linux/arm/v7": ("qemu-arm-static", "/usr/arm-linux-gnueabihf"),
        "linux/riscv64": ("qemu-riscv64-static", "/usr/riscv64-linux-gnu")}
ARTIFACT_TYPE = "application/vnd.xbuild.cache.v1"


def slug(platform: str) -> str:
    return platform.replace("/", "_")


def make_project(kind: str, dest: Path) -> tuple[Path, str, int]:
    """A fresh copy of the project at `dest`: (dir, output binary, compiles per platform)."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    if kind == "multi-file":
        return make_multi_file_project(dest), "many", N_SOURCES + 1
    shutil.copytree(PROJECTS / "cxx-cmake", dest, ignore=shutil.ignore_patterns(".xbuild"))
    return dest, "hello", 2


def build(xbuild, project: Path, platforms, *extra, check=True):
    """`xbuild build --json`: (per-platform results, the process)."""
    p = run([xbuild, "-C", project, "build", "--platform", ",".join(platforms), "--json", *extra], check=check)
    result = json.loads(p.stdout) if p.stdout.strip() else {"platforms": []}
    if check:
        assert result["ok"], p.stdout
    return {r["platform"]: r for r in result["platforms"]}, p


def outputs(project: Path, platforms, binary: str) -> dict:
    return {p: (project / ".xbuild/out" / slug(p) / binary).read_bytes() for p in platforms}


def run_binary(platform: str, binary: Path) -> str:
    if platform == "linux/amd64":
        return run([binary]).stdout
    qemu, prefix = QEMU[platform]
    return run([need(qemu), "-L", prefix, binary]).stdout


def assert_all_hits(results: dict, compiles: int):
    for p, r in results.items():
        c = r["cache"]
        assert c["imported"], (p, c)
        assert c["bytes_imported"] > 0, (p, c)
        assert (c["hits"], c["misses"]) == (compiles, 0), (p, c)


@pytest.mark.parametrize("kind", ["cxx-cmake", "multi-file"])
def test_ci_round_trip_through_a_registry_hits_on_every_platform_with_identical_bytes(xbuild, tmp_path, registry_open, kind):
    need("ccache")
    ref = f"{registry_open.host}/cache/{kind}:ci"
    first, binary, compiles = make_project(kind, tmp_path / "job1" / "proj")
    cold, _ = build(xbuild, first, PLATFORMS, "--cache-to", f"type=registry,ref={ref}", "--iidfile", tmp_path / "cold.iid")
    cold_bytes = outputs(first, PLATFORMS, binary)
    for p, r in cold.items():
        c = r["cache"]
        assert (c["hits"], c["misses"]) == (0, compiles), (p, c)
        assert c["exported"] and c["bytes_exported"] > 0 and c["chunks_moved"] > 0, (p, c)
    # Each platform is its own artifact under its own tag.
    for p in PLATFORMS:
        manifest = json.loads(skopeo_raw(f"{registry_open.host}/cache/{kind}:ci-{slug(p)}"))
        assert manifest["artifactType"] == ARTIFACT_TYPE, manifest
        assert manifest["annotations"]["dev.xbuild.cache.platform"] == p, manifest
        titles = [l["annotations"]["org.opencontainers.image.title"] for l in manifest["layers"]]
        assert titles and all(t.startswith("ccache/") for t in titles), titles
    shutil.rmtree(tmp_path / "job1")  # the checkout and its local caches are gone

    # A fresh checkout at another path, with no local cache.
    second, _, _ = make_project(kind, tmp_path / "elsewhere" / "job2")
    warm, _ = build(xbuild, second, PLATFORMS, "--cache-from", ref, "--iidfile", tmp_path / "warm.iid")
    assert_all_hits(warm, compiles)
    assert outputs(second, PLATFORMS, binary) == cold_bytes
    assert (tmp_path / "warm.iid").read_text() == (tmp_path / "cold.iid").read_text()
    for p in PLATFORMS:
        assert run_binary(p, second / ".xbuild/out" / slug(p) / binary).strip(), p

    # A warm re-export of the unchanged caches uploads nothing: every chunk is already there.
    blobs = registry_open.blob_count()
    again, _ = build(xbuild, second, PLATFORMS, "--cache-to", ref)
    for p, r in again.items():
        c = r["cache"]
        assert c["exported"] and c["bytes_exported"] == 0 and c["chunks_moved"] == 0 and c["chunks_reused"] > 0, (p, c)
    assert registry_open.blob_count() == blobs


def test_parallel_exports_of_different_platforms_to_one_ref_keep_both(xbuild, tmp_path, registry_open):
    ref = f"{registry_open.host}/cache/par:ci"
    jobs = {}
    for p in ("linux/arm64", "linux/riscv64"):
        project, _, _ = make_project("multi-file", tmp_path / slug(p) / "proj")
        jobs[p] = subprocess.Popen([str(xbuild), "-C", str(project), "build", "--platform", p, "--cache-to", ref],
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    for p, proc in jobs.items():
        out, err = proc.communicate(timeout=900)
        assert proc.returncode == 0, (p, out, err)
        assert "warning" not in err, (p, err)
    for p in jobs:
        manifest = json.loads(skopeo_raw(f"{registry_open.host}/cache/par:ci-{slug(p)}"))
        assert manifest["annotations"]["dev.xbuild.cache.platform"] == p, manifest
    fresh, _, compiles = make_project("multi-file", tmp_path / "fresh" / "proj")
    warm, _ = build(xbuild, fresh, list(jobs), "--cache-from", ref)
    assert_all_hits(warm, compiles)


def test_an_unreachable_cache_registry_warns_and_builds_cold(xbuild, tmp_path):
    ref = f"127.0.0.1:{free_port()}/cache/app:ci"  # nothing listens there
    project, binary, compiles = make_project("cxx-cmake", tmp_path / "proj")
    results, p = build(xbuild, project, ["linux/amd64", "linux/arm64"], "--cache-from", ref, "--cache-to", ref)
    assert p.returncode == 0
    for plat, r in results.items():
        assert (r["cache"]["hits"], r["cache"]["misses"]) == (0, compiles), r
        assert not r["cache"]["imported"] and not r["cache"]["exported"], r
        assert f"warning: {plat}: no cache imported" in p.stderr and "building cold" in p.stderr, p.stderr
        assert f"warning: {plat}: cache not exported" in p.stderr, p.stderr
    assert "connection refused" in p.stderr, p.stderr
    assert run_binary("linux/arm64", project / ".xbuild/out/linux_arm64" / binary).strip()


def test_a_corrupt_blob_from_the_registry_is_rejected_and_the_build_is_cold_and_correct(xbuild, tmp_path, fake_registry):
    reg = fake_registry()
    ref = f"127.0.0.1:{reg.port}/cache/app:ci"
    first, binary, compiles = make_project("multi-file", tmp_path / "a" / "proj")
    build(xbuild, first, ["linux/arm64"], "--cache-to", ref)
    good = outputs(first, ["linux/arm64"], binary)
    with reg.state.lock:  # every layer's bytes changed, sizes kept: the digests no longer match
        manifest = json.loads(reg.state.manifests[("cache/app", reg.state.tags[("cache/app", "ci-linux_arm64")])][1])
        for layer in manifest["layers"]:
            data = bytearray(reg.state.blobs[layer["digest"]])
            data[len(data) // 2] ^= 0xFF
            reg.state.blobs[layer["digest"]] = bytes(data)
    second, _, _ = make_project("multi-file", tmp_path / "b" / "proj")
    results, p = build(xbuild, second, ["linux/arm64"], "--cache-from", ref)
    c = results["linux/arm64"]["cache"]
    assert not c["imported"] and (c["hits"], c["misses"]) == (0, compiles), c
    assert "warning: linux/arm64: no cache imported" in p.stderr and "digest" in p.stderr, p.stderr
    assert outputs(second, ["linux/arm64"], binary) == good
    cache_root = Path(c["dir"]).parent
    assert not list(cache_root.glob(".*import*")), "the rejected download left temps behind"


def test_local_layout_round_trip_and_a_corrupt_chunk_is_rejected_then_rebuilt(xbuild, tmp_path):
    store = tmp_path / "ci-cache"
    plats = ["linux/amd64", "linux/arm/v7"]
    first, binary, compiles = make_project("multi-file", tmp_path / "a" / "proj")
    build(xbuild, first, plats, "--cache-to", f"type=local,dest={store}")
    index = json.loads((store / "index.json").read_text())
    tags = sorted(m["annotations"]["org.opencontainers.image.ref.name"] for m in index["manifests"])
    assert tags == ["cache-linux_amd64", "cache-linux_arm_v7"], index

    second, _, _ = make_project("multi-file", tmp_path / "b" / "proj")
    warm, _ = build(xbuild, second, plats, "--cache-from", f"type=local,src={store}")
    assert_all_hits(warm, compiles)
    assert outputs(second, plats, binary) == outputs(first, plats, binary)

    # Corrupt one chunk of arm/v7 (same size, other bytes): that artifact is refused, amd64 still hits.
    entry = next(m for m in index["manifests"] if m["annotations"]["org.opencontainers.image.ref.name"] == "cache-linux_arm_v7")
    manifest = json.loads((store / "blobs/sha256" / entry["digest"].split(":")[1]).read_text())
    blob = store / "blobs/sha256" / manifest["layers"][0]["digest"].split(":")[1]
    data = bytearray(blob.read_bytes())
    data[len(data) // 2] ^= 0xFF
    blob.write_bytes(bytes(data))
    third, _, _ = make_project("multi-file", tmp_path / "c" / "proj")
    results, p = build(xbuild, third, plats, "--cache-from", f"type=local,src={store}", "--cache-to", f"type=local,dest={store}")
    assert "warning: linux/arm/v7: no cache imported" in p.stderr and "digest" in p.stderr, p.stderr
    assert (results["linux/arm/v7"]["cache"]["hits"], results["linux/arm/v7"]["cache"]["misses"]) == (0, compiles)
    assert results["linux/amd64"]["cache"]["hits"] == compiles
    assert outputs(third, plats, binary) == outputs(first, plats, binary)
    # The cold build's export replaced the corrupt chunk: the next checkout hits again.
    fourth, _, _ = make_project("multi-file", tmp_path / "d" / "proj")
    again, p = build(xbuild, fourth, plats, "--cache-from", f"type=local,src={store}")
    assert "warning" not in p.stderr, p.stderr
    assert_all_hits(again, compiles)


def test_a_cache_from_another_toolchain_configuration_is_not_used(xbuild, tmp_path):
    store = tmp_path / "ci-cache"
    first, _, compiles = make_project("multi-file", tmp_path / "a" / "proj")
    build(xbuild, first, ["linux/amd64"], "--cache-to", f"type=local,dest={store}")
    second, _, _ = make_project("multi-file", tmp_path / "b" / "proj")
    toml = second / "xbuild.toml"
    toml.write_text(toml.read_text() + '\n[env]\nCFLAGS = "-O1"\n')  # a codegen variable: another cache key
    results, p = build(xbuild, second, ["linux/amd64"], "--cache-from", f"type=local,src={store}")
    assert "made by another toolchain or configuration" in p.stderr, p.stderr
    c = results["linux/amd64"]["cache"]
    assert not c["imported"] and (c["hits"], c["misses"]) == (0, compiles), c


@pytest.mark.parametrize("flag,value,says", [
    ("--cache-to", "type=s3,ref=r/x:1", "unknown type 's3'"),
    ("--cache-to", "type=registry,rfe=r/x:1", "did you mean 'ref'"),
    ("--cache-to", "type=registry", "needs ref="),
    ("--cache-to", "type=local", "needs dest=DIR"),
    ("--cache-to", "type=local,src=/tmp/x", "src= belongs to --cache-from"),
    ("--cache-from", "type=local,dest=/tmp/x", "dest= belongs to --cache-to"),
    ("--cache-from", "type=local", "needs src=DIR"),
    ("--cache-from", "Bad Ref!", "--cache-from Bad Ref!"),
    ("--cache-from", "r/x@sha256:" + "0" * 64, "names a tag, not a digest"),
])
def test_bad_cache_flag_forms_are_usage_errors_naming_the_flag(xbuild, tmp_path, flag, value, says):
    project, _, _ = make_project("cxx-cmake", tmp_path / "proj")
    p = run([xbuild, "-C", project, "build", flag, value], check=False)
    assert p.returncode == 2, (p.stdout, p.stderr)
    assert flag in p.stderr and says in p.stderr, p.stderr
    assert not (project / ".xbuild" / "out").exists(), "a usage error must fail before building"


def test_matrix_forwards_the_cache_flags_to_each_build_job(xbuild, tmp_path):
    project, _, _ = make_project("cxx-cmake", tmp_path / "proj")
    p = run([xbuild, "-C", project, "matrix", "--format", "gitlab", "--platform", "linux/amd64,linux/arm64", "-t",
             "reg.example.com/app:1", "--cache-to", "reg.example.com/cache:ci", "--cache-from", "reg.example.com/cache:ci"])
    pipeline = json.loads(p.stdout)
    for job in ("build-linux_amd64", "build-linux_arm64"):
        script = pipeline[job]["script"][0]
        assert "--cache-to reg.example.com/cache:ci" in script and "--cache-from reg.example.com/cache:ci" in script, script
    bad = run([xbuild, "-C", project, "matrix", "--cache-to", "type=nope,ref=x/y:z"], check=False)
    assert bad.returncode == 2 and "--cache-to" in bad.stderr, bad.stderr


def write_cache_layout(store: Path, tag: str, key: str, platform: str, tar_bytes: bytes):
    """An OCI layout holding one hand-made cache artifact whose only chunk is `tar_bytes` (gzip'd)."""
    import gzip
    import hashlib

    blobs = store / "blobs" / "sha256"
    blobs.mkdir(parents=True)

    def put(data: bytes) -> dict:
        digest = hashlib.sha256(data).hexdigest()
        (blobs / digest).write_bytes(data)
        return {"digest": f"sha256:{digest}", "size": len(data)}

    layer = put(gzip.compress(tar_bytes, mtime=0))
    config = put(b"{}")
    manifest = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json", "artifactType": ARTIFACT_TYPE,
                "config": {"mediaType": "application/vnd.oci.empty.v1+json", **config},
                "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", **layer,
                            "annotations": {"org.opencontainers.image.title": "ccache/0"}}],
                "annotations": {"dev.xbuild.cache.key": key, "dev.xbuild.cache.platform": platform}}
    top = put(json.dumps(manifest).encode())
    (store / "oci-layout").write_text('{"imageLayoutVersion":"1.0.0"}')
    (store / "index.json").write_text(json.dumps({"schemaVersion": 2, "manifests": [
        {"mediaType": "application/vnd.oci.image.manifest.v1+json", **top,
         "annotations": {"org.opencontainers.image.ref.name": tag}}]}))


@pytest.mark.parametrize("entry", ["dotdot", "absolute", "symlink", "outside-tree"])
def test_a_hostile_chunk_is_refused_and_writes_nothing_outside_the_cache(xbuild, tmp_path, entry):
    import io
    import tarfile

    project, _, compiles = make_project("multi-file", tmp_path / "proj")
    plan = json.loads(run([xbuild, "-C", project, "plan", "--platform", "linux/amd64", "--json"]).stdout)
    key = plan["platforms"][0]["cache"]["key"]
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        info = tarfile.TarInfo({"dotdot": "ccache/0/../../../../evil", "absolute": f"{tmp_path}/evil",
                                "symlink": "ccache/0/link", "outside-tree": "bin/evil"}[entry])
        if entry == "symlink":
            info.type, info.linkname = tarfile.SYMTYPE, str(tmp_path / "evil")
            tar.addfile(info)
        else:
            info.size = 5
            tar.addfile(info, io.BytesIO(b"evil\n"))
    store = tmp_path / "store"
    write_cache_layout(store, "cache-linux_amd64", key, "linux/amd64", buf.getvalue())
    results, p = build(xbuild, project, ["linux/amd64"], "--cache-from", f"type=local,src={store}")
    assert "warning: linux/amd64: no cache imported" in p.stderr and "refused" in p.stderr, p.stderr
    c = results["linux/amd64"]["cache"]
    assert not c["imported"] and (c["hits"], c["misses"]) == (0, compiles), c
    assert not (tmp_path / "evil").exists() and not (project / "evil").exists()
    assert not (Path(c["dir"]) / "bin" / "evil").exists() and not (Path(c["dir"]) / "ccache" / "0" / "link").exists()


def test_go_build_cache_round_trip_through_a_layout_compiles_nothing(xbuild, tmp_path):
    need("go")

    def checkout(dest: Path) -> Path:
        shutil.copytree(PROJECTS / "go", dest, ignore=shutil.ignore_patterns(".xbuild"))
        toml = dest / "xbuild.toml"  # without the example's own GOCACHE, and `go build -x` shows each compile
        text = toml.read_text().replace('[env]\nGOCACHE = "{build}/gocache"\n', "")
        toml.write_text(text.replace('build = ["go", "build",', 'build = ["go", "build", "-x",'))
        return dest

    def compiles(project: Path) -> int:
        log = (project / ".xbuild/logs/linux_arm64.log").read_text()
        return sum(1 for line in log.splitlines() if "/compile " in line)

    store = tmp_path / "store"
    first = checkout(tmp_path / "a" / "proj")
    cold, _ = build(xbuild, first, ["linux/arm64"], "--cache-to", f"type=local,dest={store}")
    assert cold["linux/arm64"]["cache"]["kind"] == "gocache" and compiles(first) > 0
    index = json.loads((store / "index.json").read_text())
    manifest = json.loads((store / "blobs/sha256" / index["manifests"][0]["digest"].split(":")[1]).read_text())
    titles = [l["annotations"]["org.opencontainers.image.title"] for l in manifest["layers"]]
    assert titles and all(t.startswith("go-build/") for t in titles), titles
    assert manifest["annotations"]["dev.xbuild.cache.kinds"] == "gocache", manifest

    second = checkout(tmp_path / "elsewhere" / "proj")
    warm, _ = build(xbuild, second, ["linux/arm64"], "--cache-from", f"type=local,src={store}")
    assert warm["linux/arm64"]["cache"]["imported"], warm
    assert compiles(second) == 0, "the imported GOCACHE did not serve the build"
    go = warm["linux/arm64"]["cache"]["go"]  # Go's own account agrees: reused, nothing compiled
    assert go["hits"] > 0 and go["hits"] > 10 * go["misses"], go
    assert outputs(second, ["linux/arm64"], "hello") == outputs(first, ["linux/arm64"], "hello")


def test_parallel_local_exports_of_different_platforms_keep_both_entries(xbuild, tmp_path):
    store = tmp_path / "store"
    jobs = {}
    for p in ("linux/amd64", "linux/arm64"):
        project, _, _ = make_project("multi-file", tmp_path / slug(p) / "proj")
        jobs[p] = subprocess.Popen([str(xbuild), "-C", str(project), "build", "--platform", p, "--cache-to", f"type=local,dest={store}"],
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    for p, proc in jobs.items():
        out, err = proc.communicate(timeout=900)
        assert proc.returncode == 0 and "warning" not in err, (p, out, err)
    index = json.loads((store / "index.json").read_text())
    tags = sorted(m["annotations"]["org.opencontainers.image.ref.name"] for m in index["manifests"])
    assert tags == ["cache-linux_amd64", "cache-linux_arm64"], index
    fresh, _, compiles = make_project("multi-file", tmp_path / "fresh" / "proj")
    warm, _ = build(xbuild, fresh, list(jobs), "--cache-from", f"type=local,src={store}")
    assert_all_hits(warm, compiles)


def test_the_registry_flags_apply_to_cache_refs(xbuild, tmp_path, registry_basic):
    from registry_fixtures import PASSWORD, USER

    ref = f"{registry_basic.host}/cache/auth:ci"
    creds = f"{USER}:{PASSWORD}"
    first, _, compiles = make_project("multi-file", tmp_path / "a" / "proj")
    cold, p = build(xbuild, first, ["linux/arm64"], "--cache-to", ref, "--creds", creds)
    assert cold["linux/arm64"]["cache"]["exported"], (cold, p.stderr)
    assert PASSWORD not in p.stderr + p.stdout
    # Without credentials the registry refuses: a warning and a cold build, exit 0.
    anon, p = build(xbuild, make_project("multi-file", tmp_path / "b" / "proj")[0], ["linux/arm64"], "--cache-from", ref)
    assert not anon["linux/arm64"]["cache"]["imported"] and "warning: linux/arm64: no cache imported" in p.stderr, p.stderr
    warm, p = build(xbuild, make_project("multi-file", tmp_path / "c" / "proj")[0], ["linux/arm64"], "--cache-from", ref,
                    "--creds", creds)
    assert_all_hits(warm, compiles)
    assert PASSWORD not in p.stderr + p.stdout


def test_the_plain_summary_shows_hits_and_what_moved(xbuild, tmp_path):
    store = tmp_path / "store"
    first, _, compiles = make_project("multi-file", tmp_path / "a" / "proj")
    p = run([xbuild, "-C", first, "build", "--platform", "linux/arm64", "--progress", "plain", "--cache-to", f"type=local,dest={store}"])
    assert f"ccache 0/{compiles} hits, cache exported " in p.stderr, p.stderr
    second, _, _ = make_project("multi-file", tmp_path / "b" / "proj")
    p = run([xbuild, "-C", second, "build", "--platform", "linux/arm64", "--progress", "plain", "--cache-from", f"type=local,src={store}",
             "--cache-from", f"type=local,src={tmp_path / 'nothing-here'}"])
    assert f"ccache {compiles}/{compiles} hits, cache imported " in p.stderr, p.stderr
    assert "warning" not in p.stderr, "the first --cache-from had the cache: the second is not tried"
