"""No-op rebuilds (issue 11): a platform whose outputs did not change gets its layer from the
store in .xbuild/reuse instead of being packed again, and the image is the same,
byte for byte, as a cold build's: every reuse is checked against a build with the store
deleted, written to a fresh layout. What changed (one platform's output file, a label, the
entrypoint, SOURCE_DATE_EPOCH) is a miss with a new digest, and the changed file or setting
is read back from the image with skopeo and umoci. A damaged store is a miss, never an error."""
import json
import os
import shutil
from pathlib import Path

from conftest import need, run

PLATFORMS = ["linux/amd64", "linux/arm64", "linux/arm/v7", "linux/riscv64"]
TWO = "linux/amd64,linux/arm64"
OVERRIDE = {"linux/amd64": ["amd64"], "linux/arm64": ["arm64"], "linux/arm/v7": ["arm", "v7"], "linux/riscv64": ["riscv64"]}


def make_project(project_copy) -> Path:
    """c-make plus one data file per architecture (msg-<arch>.txt), so one platform's outputs
    can change alone."""
    proj = project_copy("c-make")
    for arch in ("amd64", "arm64", "arm", "riscv64"):
        (proj / f"msg-{arch}.txt").write_text(f"hello from {arch}\n")
    toml = (proj / "xbuild.toml").read_text()
    toml = toml.replace('build = ["make", "-C", "{src}", "-j{jobs}", "OUT={out}", "BUILD={build}"]',
                        'build = "make -C {src} -j{jobs} OUT={out} BUILD={build} && cp {src}/msg-{arch}.txt {out}/msg.txt"')
    toml = toml.replace('outputs = ["hello"]', 'outputs = ["hello", "msg.txt"]')
    toml = toml.replace('files = { "hello" = "/usr/local/bin/hello" }',
                        'files = { "hello" = "/usr/local/bin/hello", "msg.txt" = "/etc/msg.txt" }')
    assert "msg.txt" in toml and "/etc/msg.txt" in toml, toml
    (proj / "xbuild.toml").write_text(toml)
    return proj


def build(xbuild, project: Path, *args, env=None):
    e = dict(os.environ)
    e.pop("SOURCE_DATE_EPOCH", None)
    e.update(env or {})
    return json.loads(run([xbuild, "-C", project, "build", "--json", "-j2", *args], env=e).stdout)


def reuse(doc) -> dict:
    return {p["platform"]: (p["layer_reused"], p["image_reused"]) for p in doc["platforms"]}


def both(layer: bool, image: bool) -> dict:
    """reuse() of a build of TWO whose platforms both reused (or not) their layer and image."""
    return {p: (layer, image) for p in TWO.split(",")}


def cold(xbuild, project: Path, dest: Path, *args, env=None) -> dict:
    """The same build with no store, into a fresh layout: what packing every layer gives."""
    shutil.rmtree(project / ".xbuild/reuse", ignore_errors=True)
    doc = build(xbuild, project, "-o", f"type=oci,dest={dest}", *args, env=env)
    assert not any(layer for layer, _ in reuse(doc).values()), doc
    return doc


def unpack(layout: Path, platform: str, where: Path) -> Path:
    """One platform of the image, copied out by skopeo and unpacked by umoci: its rootfs."""
    skopeo, umoci = need("skopeo"), need("umoci")
    where.mkdir(parents=True, exist_ok=True)
    arch = OVERRIDE[platform]
    args = [skopeo, "copy", "-q", "--override-arch", arch[0]]
    if len(arch) > 1:
        args += ["--override-variant", arch[1]]
    run(args + [f"oci:{layout}:latest", f"oci:{where / 'single'}:one"])
    run([umoci, "unpack", "--rootless", "--image", f"{where / 'single'}:one", where / "bundle"])
    return where / "bundle" / "rootfs"


def config_of(layout: Path, platform: str) -> dict:
    """The image config skopeo reads for `platform`."""
    arch = OVERRIDE[platform]
    args = [need("skopeo"), "inspect", "--config", "--override-arch", arch[0]]
    if len(arch) > 1:
        args += ["--override-variant", arch[1]]
    return json.loads(run(args + [f"oci:{layout}:latest"]).stdout)


def test_noop_rebuild_reuses_every_platform_and_is_the_cold_image(xbuild, project_copy, tmp_path):
    proj = make_project(project_copy)
    first = build(xbuild, proj, "--metadata-file", tmp_path / "first.json")
    assert reuse(first) == {p: (False, False) for p in PLATFORMS}
    again = build(xbuild, proj, "--metadata-file", tmp_path / "again.json")
    assert reuse(again) == {p: (True, True) for p in PLATFORMS}
    assert again["image"]["digest"] == first["image"]["digest"]
    assert again["image"]["manifests"] == first["image"]["manifests"]
    # The referrers (outside the image index) are the same documents too: the provenance
    # records no build time, so a no-op changes no digest at all.
    def referrers(name):
        meta = json.loads((tmp_path / name).read_text())["xbuild.platforms"]
        return {m["platform"]: (m["manifest"], m["sbom"], m["provenance"]) for m in meta}
    assert referrers("again.json") == referrers("first.json")
    assert len(referrers("first.json")) == 4

    # The summary line says so too.
    plain = run([xbuild, "-C", proj, "build", "-j2", "--progress", "plain"]).stderr
    for p in PLATFORMS:
        assert f"xbuild: {p} ok (" in plain and "image unchanged: reused" in plain, plain
    assert plain.count("image unchanged: reused") == 4, plain

    # The store holds one layer per platform, byte for byte the layout's.
    store = proj / ".xbuild/reuse/blobs/sha256"
    layout = proj / ".xbuild/oci"
    assert len(list(store.iterdir())) == 4
    for blob in store.iterdir():
        assert (layout / "blobs/sha256" / blob.name).read_bytes() == blob.read_bytes()

    reference = cold(xbuild, proj, tmp_path / "cold")
    assert reference["image"]["digest"] == first["image"]["digest"]
    assert reference["image"]["manifests"] == first["image"]["manifests"]
    # skopeo copies every blob of the reused layout, checking each digest; umoci unpacks it.
    rootfs = unpack(layout, "linux/arm/v7", tmp_path / "armv7")
    assert (rootfs / "etc/msg.txt").read_text() == "hello from arm\n"
    assert os.access(rootfs / "usr/local/bin/hello", os.X_OK)


def test_a_changed_output_file_is_a_miss_for_its_platform_only(xbuild, project_copy, tmp_path):
    proj = make_project(project_copy)
    first = build(xbuild, proj, "--platform", TWO)
    (proj / "msg-arm64.txt").write_text("changed on arm64\n")
    second = build(xbuild, proj, "--platform", TWO)
    assert reuse(second) == {"linux/amd64": (True, True), "linux/arm64": (False, False)}
    manifests = {m["platform"]: m["digest"] for m in second["image"]["manifests"]}
    before = {m["platform"]: m["digest"] for m in first["image"]["manifests"]}
    assert manifests["linux/amd64"] == before["linux/amd64"]
    assert manifests["linux/arm64"] != before["linux/arm64"]
    assert second["image"]["digest"] != first["image"]["digest"]

    rootfs = unpack(proj / ".xbuild/oci", "linux/arm64", tmp_path / "arm64")
    assert (rootfs / "etc/msg.txt").read_text() == "changed on arm64\n"
    assert cold(xbuild, proj, tmp_path / "cold", "--platform", TWO)["image"]["digest"] == second["image"]["digest"]

    # The new layer is recorded: the next build reuses both again.
    third = build(xbuild, proj, "--platform", TWO)
    assert reuse(third) == both(True, True)
    assert third["image"]["digest"] == second["image"]["digest"]


def test_a_changed_label_or_entrypoint_keeps_the_layer_but_makes_a_new_correct_config(xbuild, project_copy, tmp_path):
    proj = make_project(project_copy)
    first = build(xbuild, proj, "--platform", TWO)
    toml = proj / "xbuild.toml"
    toml.write_text(toml.read_text().replace('"org.opencontainers.image.title" = "hello-c"',
                                             '"org.opencontainers.image.title" = "hello-c", "tier" = "edge"'))
    labelled = build(xbuild, proj, "--platform", TWO)
    # The layer (the outputs) is the same; the config and so the manifest are new.
    assert reuse(labelled) == both(True, False)
    assert labelled["image"]["digest"] != first["image"]["digest"]
    assert config_of(proj / ".xbuild/oci", "linux/arm64")["config"]["Labels"]["tier"] == "edge"
    assert cold(xbuild, proj, tmp_path / "cold1", "--platform", TWO)["image"]["digest"] == labelled["image"]["digest"]

    toml.write_text(toml.read_text().replace('entrypoint = ["/usr/local/bin/hello"]',
                                             'entrypoint = ["/usr/local/bin/hello", "--check"]'))
    entry = build(xbuild, proj, "--platform", TWO)
    assert reuse(entry) == both(True, False)
    assert entry["image"]["digest"] not in (first["image"]["digest"], labelled["image"]["digest"])
    assert config_of(proj / ".xbuild/oci", "linux/amd64")["config"]["Entrypoint"] == ["/usr/local/bin/hello", "--check"]
    assert cold(xbuild, proj, tmp_path / "cold2", "--platform", TWO)["image"]["digest"] == entry["image"]["digest"]
    # And the record now names that manifest: unchanged again is a full reuse.
    assert reuse(build(xbuild, proj, "--platform", TWO)) == both(True, True)


def test_a_new_source_date_epoch_is_a_miss_with_the_new_mtimes(xbuild, project_copy, tmp_path):
    proj = make_project(project_copy)
    first = build(xbuild, proj, "--platform", TWO)
    epoch = {"SOURCE_DATE_EPOCH": "1700000000"}
    dated = build(xbuild, proj, "--platform", TWO, env=epoch)
    assert reuse(dated) == both(False, False)
    assert dated["image"]["digest"] != first["image"]["digest"]
    rootfs = unpack(proj / ".xbuild/oci", "linux/amd64", tmp_path / "amd64")
    assert int((rootfs / "etc/msg.txt").stat().st_mtime) == 1700000000
    assert cold(xbuild, proj, tmp_path / "cold", "--platform", TWO, env=epoch)["image"]["digest"] == dated["image"]["digest"]
    # Back to the default epoch: the store now holds the 1700000000 layers, so a miss again, and the first image.
    back = build(xbuild, proj, "--platform", TWO)
    assert reuse(back) == both(False, False)
    assert back["image"]["digest"] == first["image"]["digest"]


def test_a_damaged_store_is_a_miss_and_still_the_cold_image(xbuild, project_copy, tmp_path):
    proj = make_project(project_copy)
    first = build(xbuild, proj, "--platform", TWO)
    store = proj / ".xbuild/reuse"
    records = {p: json.loads((store / "records" / f"{p.replace('/', '_')}.json").read_text()) for p in TWO.split(",")}
    amd64_blob = store / "blobs/sha256" / records["linux/amd64"]["layer"]["digest"].split(":")[1]
    arm64_record = store / "records/linux_arm64.json"

    # Same size, other bytes: only hashing tells. Into a fresh layout, so the store's copy is what would be used.
    data = bytearray(amd64_blob.read_bytes())
    data[len(data) // 2] ^= 0xFF
    amd64_blob.write_bytes(bytes(data))
    arm64_record.write_text("{not json")
    fresh = build(xbuild, proj, "--platform", TWO, "-o", f"type=oci,dest={tmp_path / 'fresh'}")
    assert reuse(fresh) == both(False, False)
    assert fresh["image"]["digest"] == first["image"]["digest"]
    # skopeo verifies every blob it copies: the damaged bytes did not reach the image.
    run([need("skopeo"), "copy", "-q", "--all", f"oci:{tmp_path / 'fresh'}:latest", f"oci:{tmp_path / 'verified'}:x"])
    # The miss re-recorded good layers.
    assert amd64_blob.read_bytes() == (tmp_path / "fresh/blobs/sha256" / amd64_blob.name).read_bytes()

    # A missing blob is a miss too.
    amd64_blob.unlink()
    again = build(xbuild, proj, "--platform", TWO, "-o", f"type=oci,dest={tmp_path / 'again'}")
    assert reuse(again) == {"linux/amd64": (False, False), "linux/arm64": (True, True)}
    assert again["image"]["digest"] == first["image"]["digest"]


def test_an_oci_archive_reuses_the_layers_too(xbuild, project_copy, tmp_path):
    proj = make_project(project_copy)
    first = build(xbuild, proj, "--platform", TWO, "-o", f"type=oci-archive,dest={tmp_path / 'a.tar'}")
    second = build(xbuild, proj, "--platform", TWO, "-o", f"type=oci-archive,dest={tmp_path / 'b.tar'}")
    assert reuse(second) == both(True, True)
    assert second["image"]["digest"] == first["image"]["digest"]
    assert (tmp_path / "a.tar").read_bytes() == (tmp_path / "b.tar").read_bytes()
