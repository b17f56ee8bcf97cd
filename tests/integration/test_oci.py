"""OCI output of `xbuild build`, checked with tools xbuild did not write: skopeo (inspect,
copy --all), oci-image-tool (validate per platform manifest), umoci (unpack per platform),
then the unpacked binary runs under qemu-user and says which machine it runs on."""
import json
import os
import shutil
import time
from pathlib import Path

import pytest

from conftest import need, run

PLATFORMS = ["linux/amd64", "linux/arm64", "linux/arm/v7"]
# uname -m as seen by the binary (qemu-user reports the target's machine), and the
# cross sysroot qemu needs for dynamically linked binaries.
MACHINE = {"linux/amd64": "x86_64", "linux/arm64": "aarch64", "linux/arm/v7": "armv7l"}
TRIPLE = {"linux/amd64": "x86_64-linux-gnu", "linux/arm64": "aarch64-linux-gnu", "linux/arm/v7": "arm-linux-gnueabihf"}


def dir_name(platform: str) -> str:
    return platform.replace("/", "_")


def platform_of(desc) -> str:
    p = desc["platform"]
    return "/".join([p["os"], p["architecture"]] + ([p["variant"]] if p.get("variant") else []))


def blob(layout: Path, digest: str) -> bytes:
    algo, hexd = digest.split(":")
    return (layout / "blobs" / algo / hexd).read_bytes()


def top_index(layout: Path, ref: str):
    """The image index that index.json names `ref`."""
    entries = json.loads((layout / "index.json").read_text())["manifests"]
    found = [e for e in entries if e.get("annotations", {}).get("org.opencontainers.image.ref.name") == ref]
    assert len(found) == 1, f"{ref} in {entries}"
    return found[0], json.loads(blob(layout, found[0]["digest"]))


def single_ref_layout(layout: Path, desc, ref: str, where: Path) -> Path:
    """A layout sharing `layout`'s blobs whose index.json names one platform manifest as
    `ref`: umoci and oci-image-tool take a manifest reference, not a nested index."""
    where.mkdir()
    (where / "oci-layout").write_text((layout / "oci-layout").read_text())
    shutil.copytree(layout / "blobs", where / "blobs")
    entry = dict(desc)
    entry["annotations"] = {"org.opencontainers.image.ref.name": ref}
    (where / "index.json").write_text(json.dumps({"schemaVersion": 2, "manifests": [entry]}))
    return where


def build(xbuild, project: Path, *args, check=True, env=None):
    e = dict(os.environ)
    e.update(env or {})
    return run([xbuild, "-C", project, "build", "--progress", "plain", *args], check=check, env=e)


def image_entries(layout: Path) -> list:
    """index.json's images, without the SBOM referrers listed beside them (artifactType)."""
    return [e for e in json.loads((layout / "index.json").read_text())["manifests"] if "artifactType" not in e]


def check_image(xbuild, layout: Path, tag: str, platforms, tmp: Path, expect: str):
    """Everything an independent tool can check about one built multi-platform image."""
    need("skopeo"), need("umoci"), need("oci-image-tool"), need("file")
    entry, index = top_index(layout, tag)
    assert entry["mediaType"] == "application/vnd.oci.image.index.v1+json"
    assert [platform_of(m) for m in index["manifests"]] == platforms
    for m in index["manifests"]:
        if m["platform"]["architecture"] == "arm":
            assert m["platform"]["variant"] == "v7"

    # skopeo reads the tag and agrees on the digest; copy --all keeps every digest.
    raw = run(["skopeo", "inspect", "--raw", f"oci:{layout}:{tag}"]).stdout
    assert json.loads(raw) == index
    info = json.loads(run(["skopeo", "inspect", f"oci:{layout}:{tag}"]).stdout)
    assert info["Digest"] == entry["digest"]
    copy = tmp / "copy"
    run(["skopeo", "copy", "--all", f"oci:{layout}:{tag}", f"oci:{copy}:{tag}"])
    centry, cindex = top_index(copy, tag)
    assert centry["digest"] == entry["digest"]
    assert cindex == index
    # Every blob but the SBOMs' and provenances' (OCI referrers listed beside the image in
    # index.json, which an image copy leaves behind): artifact manifests, empty config, documents.
    sbom_blobs = set()
    for e in json.loads((layout / "index.json").read_text())["manifests"]:
        if "artifactType" in e:
            ref = json.loads(blob(layout, e["digest"]))
            sbom_blobs |= {d["digest"].split(":")[1] for d in [e, ref["config"], *ref["layers"]]}
    assert sbom_blobs, "every xbuild image has an SBOM per platform"
    assert sorted(os.listdir(copy / "blobs" / "sha256")) == sorted(set(os.listdir(layout / "blobs" / "sha256")) - sbom_blobs)

    for m in index["manifests"]:
        plat = platform_of(m)
        ref = dir_name(plat)
        single = single_ref_layout(layout, m, ref, tmp / f"single-{ref}")
        out = run(["oci-image-tool", "validate", "--type", "image", "--ref", f"name={ref}", single])
        assert "Validation succeeded" in out.stdout + out.stderr
        manifest = json.loads(blob(layout, m["digest"]))
        config = json.loads(blob(layout, manifest["config"]["digest"]))
        assert (config["os"], config["architecture"]) == tuple(plat.split("/")[:2])
        assert config.get("variant", "") == (plat.split("/")[2] if plat.count("/") == 2 else "")
        assert len(config["rootfs"]["diff_ids"]) == len(manifest["layers"])

        bundle = tmp / f"bundle-{ref}"
        run(["umoci", "unpack", "--rootless", "--image", f"{single}:{ref}", bundle])
        binary = bundle / "rootfs" / "usr" / "local" / "bin" / "hello"
        assert binary.exists()
        assert "ELF" in run(["file", "-L", binary]).stdout
        e = dict(os.environ, QEMU_LD_PREFIX=f"/usr/{TRIPLE[plat]}")
        out = run([binary], env=e).stdout
        assert expect in out and f"running on {MACHINE[plat]}" in out, out


@pytest.fixture(scope="module")
def c_image(xbuild, tmp_path_factory):
    """c-make built once for three platforms into a layout tagged 1.0."""
    root = tmp_path_factory.mktemp("oci-c")
    project = root / "c-make"
    shutil.copytree(Path(__file__).resolve().parents[1] / "projects" / "c-make", project,
                    ignore=shutil.ignore_patterns(".xbuild"))
    layout = root / "layout"
    build(xbuild, project, "--platform", ",".join(PLATFORMS), "--output", f"type=oci,dest={layout}", "-t", "hello:1.0")
    return project, layout


def test_c_image_checks_out_with_skopeo_umoci_and_qemu(xbuild, c_image, tmp_path):
    _, layout = c_image
    check_image(xbuild, layout, "1.0", PLATFORMS, tmp_path, "hello from c")


@pytest.mark.parametrize("name,platforms,expect", [
    ("go", PLATFORMS, "hello from go"),
    ("rust", ["linux/amd64", "linux/arm64"], "hello from rust"),
])
def test_go_and_rust_images(xbuild, project_copy, tmp_path, name, platforms, expect):
    project = project_copy(name)
    layout = tmp_path / "layout"
    build(xbuild, project, "--platform", ",".join(platforms), "--output", f"type=oci,dest={layout}", "-t", f"hello-{name}:2")
    check_image(xbuild, layout, "2", platforms, tmp_path, expect)


def test_default_output_is_the_project_layout_and_inspect_reads_it(xbuild, project_copy):
    project = project_copy("c-make")
    build(xbuild, project, "--platform", "linux/arm64,linux/arm/v7")
    layout = project / ".xbuild" / "oci"
    entry, index = top_index(layout, "latest")
    assert (layout / "oci-layout").exists()
    text = run([xbuild, "-C", project, "inspect"]).stdout
    assert entry["digest"] in text and "linux/arm/v7" in text
    js = json.loads(run([xbuild, "inspect", "--json", f"{layout}:latest"]).stdout)
    (img,) = js["images"]
    assert img["ref"] == "latest" and img["digest"] == entry["digest"]
    assert [p["platform"] for p in img["platforms"]] == ["linux/arm64", "linux/arm/v7"]
    for p, m in zip(img["platforms"], index["manifests"]):
        manifest = json.loads(blob(layout, m["digest"]))
        assert p["manifest"] == m["digest"]
        assert p["layers"] == len(manifest["layers"]) == 1
        assert p["layer_bytes"] == sum(l["size"] for l in manifest["layers"])
    assert js["images"][0]["platforms"][1]["variant"] == "v7"
    bad = run([xbuild, "inspect", f"{layout}:nope"], check=False)
    assert bad.returncode == 2 and "nope" in bad.stderr and "latest" in bad.stderr
    bad = run([xbuild, "inspect", str(project)], check=False)
    assert bad.returncode == 2 and "oci-layout" in bad.stderr


def test_reproducible_from_two_copies_at_different_times(xbuild, tmp_path):
    src = Path(__file__).resolve().parents[1] / "projects" / "c-make"
    results = []
    for i in range(2):
        project = tmp_path / f"copy{i}" / "somewhere" / "c-make"
        shutil.copytree(src, project, ignore=shutil.ignore_patterns(".xbuild"))
        for f in project.iterdir():
            os.utime(f, (1_000_000 + i * 777, 1_000_000 + i * 777))
        if i == 1:
            time.sleep(1.1)
        layout = tmp_path / f"layout{i}"
        build(xbuild, project, "--platform", ",".join(PLATFORMS), "--output", f"type=oci,dest={layout}", "-t", "hello:1.0")
        results.append(layout)
    a, b = results
    assert (a / "index.json").read_bytes() == (b / "index.json").read_bytes()
    names = sorted(os.listdir(a / "blobs" / "sha256"))
    assert names == sorted(os.listdir(b / "blobs" / "sha256"))
    for n in names:
        assert (a / "blobs" / "sha256" / n).read_bytes() == (b / "blobs" / "sha256" / n).read_bytes()
    # SOURCE_DATE_EPOCH is honoured (and so changes the digests).
    layout = tmp_path / "layout-epoch"
    build(xbuild, tmp_path / "copy0" / "somewhere" / "c-make", "--platform", "linux/arm64", "--output",
          f"type=oci,dest={layout}", "-t", "hello:1.0", env={"SOURCE_DATE_EPOCH": "1700000000"})
    entry, index = top_index(layout, "1.0")
    assert index["annotations"]["org.opencontainers.image.created"] == "2023-11-14T22:13:20Z"


def test_oci_archive_and_zstd(xbuild, c_image, tmp_path):
    project, layout = c_image
    archive = tmp_path / "out" / "hello.tar"
    build(xbuild, project, "--platform", ",".join(PLATFORMS), "--output", f"type=oci-archive,dest={archive}", "-t", "hello:1.0")
    info = json.loads(run(["skopeo", "inspect", "--raw", f"oci-archive:{archive}:1.0"]).stdout)
    _, index = top_index(layout, "1.0")
    assert info == index
    assert sorted(os.listdir(archive.parent)) == ["hello.tar"]  # no temp files left
    # xbuild inspect reads the archive (and one skopeo wrote) without unpacking it.
    entry, _ = top_index(layout, "1.0")
    skopeo_tar = tmp_path / "skopeo.tar"
    run(["skopeo", "copy", "--all", f"oci:{layout}:1.0", f"oci-archive:{skopeo_tar}:1.0"])
    for a in (archive, skopeo_tar):
        js = json.loads(run([xbuild, "inspect", "--json", f"{a}:1.0"]).stdout)
        (img,) = js["images"]
        assert img["digest"] == entry["digest"]
        assert [p["platform"] for p in img["platforms"]] == PLATFORMS
        assert all(p["layers"] == 1 for p in img["platforms"])

    zl = tmp_path / "zstd"
    build(xbuild, project, "--platform", "linux/arm64", "--compression", "zstd", "--output", f"type=oci,dest={zl}", "-t", "z:1")
    _, zindex = top_index(zl, "1")
    manifest = json.loads(blob(zl, zindex["manifests"][0]["digest"]))
    assert manifest["layers"][0]["mediaType"] == "application/vnd.oci.image.layer.v1.tar+zstd"
    need("zstd")
    layer = tmp_path / "layer.tar.zst"
    layer.write_bytes(blob(zl, manifest["layers"][0]["digest"]))
    listing = run(["tar", "--zstd", "-tvf", layer]).stdout
    assert "usr/local/bin/hello" in listing and "root/root" not in listing
    copy = tmp_path / "zcopy"
    run(["skopeo", "copy", "--all", f"oci:{zl}:1", f"oci:{copy}:1"])
    assert top_index(copy, "1")[0]["digest"] == top_index(zl, "1")[0]["digest"]

    # Uncompressed on request: the layer is the plain tar, so its digest is its diff_id.
    nl = tmp_path / "none"
    build(xbuild, project, "--platform", "linux/arm64", "--compression", "none", "--output", f"type=oci,dest={nl}", "-t", "n:1")
    _, nindex = top_index(nl, "1")
    manifest = json.loads(blob(nl, nindex["manifests"][0]["digest"]))
    config = json.loads(blob(nl, manifest["config"]["digest"]))
    assert manifest["layers"][0]["mediaType"] == "application/vnd.oci.image.layer.v1.tar"
    assert manifest["layers"][0]["digest"] == config["rootfs"]["diff_ids"][0]
    plain = tmp_path / "layer.tar"
    plain.write_bytes(blob(nl, manifest["layers"][0]["digest"]))
    assert "usr/local/bin/hello" in run(["tar", "-tf", plain]).stdout
    run(["skopeo", "copy", "--all", f"oci:{nl}:1", f"oci:{tmp_path / 'ncopy'}:1"])


def test_new_tag_keeps_other_images_and_same_tag_replaces(xbuild, c_image, tmp_path):
    project, layout0 = c_image
    layout = tmp_path / "layout"
    shutil.copytree(layout0, layout)
    build(xbuild, project, "--platform", "linux/arm64", "--output", f"type=oci,dest={layout}", "-t", "hello:2.0")
    refs = [e["annotations"]["org.opencontainers.image.ref.name"] for e in image_entries(layout)]
    assert refs == ["1.0", "2.0"]
    for tag in ("1.0", "2.0"):
        run(["skopeo", "inspect", "--raw", f"oci:{layout}:{tag}"])
    build(xbuild, project, "--platform", "linux/arm/v7", "--output", f"type=oci,dest={layout}", "-t", "hello:2.0")
    entries = image_entries(layout)
    assert [e["annotations"]["org.opencontainers.image.ref.name"] for e in entries] == ["1.0", "2.0"]
    assert [platform_of(m) for m in top_index(layout, "2.0")[1]["manifests"]] == ["linux/arm/v7"]
    # One SBOM per platform manifest the two images have (the replaced 2.0's arm64 one is 1.0's too).
    for kind in ("application/spdx+json", "application/vnd.in-toto+json"):  # SBOM and provenance
        subjects = sorted(json.loads(blob(layout, e["digest"]))["subject"]["digest"]
                          for e in json.loads((layout / "index.json").read_text())["manifests"] if e.get("artifactType") == kind)
        assert subjects == sorted({m["digest"] for t in ("1.0", "2.0") for m in top_index(layout, t)[1]["manifests"]})


def test_corrupt_layout_is_reported_not_reused(xbuild, c_image, tmp_path):
    project, layout0 = c_image
    _, index = top_index(layout0, "1.0")
    manifest = json.loads(blob(layout0, index["manifests"][1]["digest"]))
    layer = manifest["layers"][0]["digest"].split(":")[1]

    # A layer with the wrong bytes: rebuilding the same image would reuse it.
    layout = tmp_path / "wrong"
    shutil.copytree(layout0, layout)
    path = layout / "blobs" / "sha256" / layer
    path.write_bytes(b"\0" * path.stat().st_size)
    before = (layout / "index.json").read_bytes()
    r = build(xbuild, project, "--platform", ",".join(PLATFORMS), "--output", f"type=oci,dest={layout}", "-t", "hello:1.0", check=False)
    assert r.returncode == 1, r.stderr
    assert str(path) in r.stderr and "corrupt" in r.stderr
    assert (layout / "index.json").read_bytes() == before

    # A missing blob of an image the layout keeps.
    layout = tmp_path / "missing"
    shutil.copytree(layout0, layout)
    config = manifest["config"]["digest"].split(":")[1]
    (layout / "blobs" / "sha256" / config).unlink()
    r = build(xbuild, project, "--platform", "linux/arm64", "--output", f"type=oci,dest={layout}", "-t", "hello:other", check=False)
    assert r.returncode == 1, r.stderr
    assert str(layout / "blobs" / "sha256" / config) in r.stderr and "missing" in r.stderr


def edit_toml(project: Path, old: str, new: str):
    p = project / "xbuild.toml"
    text = p.read_text()
    assert old in text
    p.write_text(text.replace(old, new))


def test_bad_input_fails_clearly_and_writes_nothing(xbuild, project_copy, c_image, tmp_path):
    _, good = c_image
    # Missing output file: the build "succeeds" but does not produce what [image] names.
    project = project_copy("c-make")
    edit_toml(project, 'files = { "hello" = "/usr/local/bin/hello" }', 'files = { "hello" = "/usr/local/bin/hello", "missing.so" = "/lib/missing.so" }')
    layout = tmp_path / "layout"
    shutil.copytree(good, layout)
    before = (layout / "index.json").read_bytes()
    r = build(xbuild, project, "--platform", "linux/arm64", "--output", f"type=oci,dest={layout}", "-t", "hello:1.0", check=False)
    assert r.returncode == 1 and "missing.so" in r.stderr and "does not exist" in r.stderr, r.stderr
    assert (layout / "index.json").read_bytes() == before
    run(["skopeo", "inspect", "--raw", f"oci:{layout}:1.0"])  # the previous layout is still valid
    assert not [n for n in os.listdir(layout / "blobs" / "sha256") if n.startswith(".")]

    # Image paths outside the rootfs or with '..' fail before building.
    for to in ("/usr/../../etc/hello", "relative/hello"):
        line = (project / "xbuild.toml").read_text().split("files = ")[1].split("\n")[0]
        edit_toml(project, line, f'{{ "hello" = "{to}" }}')
        r = build(xbuild, project, "--platform", "linux/arm64", "--output", f"type=oci,dest={tmp_path / 'never'}", check=False)
        assert r.returncode == 2 and to in r.stderr, r.stderr
        assert "[linux/arm64]" not in r.stdout + r.stderr  # nothing was built
        assert not (tmp_path / "never").exists()

    fresh = project_copy("go")
    # Unknown compression, unwritable destinations: usage/environment errors before any build.
    r = build(xbuild, fresh, "--platform", "linux/arm64", "--compression", "lz4", check=False)
    assert r.returncode == 2 and "lz4" in r.stderr
    afile = tmp_path / "a-file"
    afile.write_text("x")
    r = build(xbuild, fresh, "--platform", "linux/arm64", "--output", f"type=oci,dest={afile}/layout", check=False)
    assert r.returncode != 0 and str(afile) in r.stderr and "not a directory" in r.stderr
    r = build(xbuild, fresh, "--platform", "linux/arm64", "--output", "type=oci,dest=/proc/xbuild-test/layout", check=False)
    assert r.returncode == 3 and "/proc/xbuild-test/layout" in r.stderr and "cannot be written" in r.stderr
    r = build(xbuild, fresh, "--platform", "linux/arm64", "--output", f"type=oci,dest={afile}", check=False)
    assert r.returncode == 2 and "not a directory" in r.stderr
    r = build(xbuild, fresh, "--platform", "linux/arm64", "--output", "type=tarball,dest=x", check=False)
    assert r.returncode == 2 and "--output" in r.stderr
    r = build(xbuild, fresh, "--platform", "linux/arm64", "-t", "hello@sha256:" + "a" * 64, check=False)
    assert r.returncode == 2 and "-t" in r.stderr
    assert not (fresh / ".xbuild" / "out").exists()


def test_base_image_layers_and_missing_platform(xbuild, project_copy, tmp_path):
    # The base: the Go example for amd64 and arm64, tagged base:1, binary at /usr/local/bin/hello-go.
    base_project = project_copy("go")
    edit_toml(base_project, 'files = { "hello" = "/usr/local/bin/hello" }', 'files = { "hello" = "/usr/local/bin/hello-go" }\nenv = ["FROM_BASE=yes"]')
    edit_toml(base_project, 'entrypoint = ["/usr/local/bin/hello"]', 'entrypoint = ["/usr/local/bin/hello-go"]')  # or the lint refuses it
    base = tmp_path / "base-layout"
    build(xbuild, base_project, "--platform", "linux/amd64,linux/arm64", "--output", f"type=oci,dest={base}", "-t", "base:1")

    project = project_copy("c-make")
    edit_toml(project, "[image]\n", f'[image]\nbase = "oci:{base}:1"\n')
    layout = tmp_path / "layout"
    build(xbuild, project, "--platform", "linux/arm64", "--output", f"type=oci,dest={layout}", "-t", "app:1")
    _, index = top_index(layout, "1")
    desc = index["manifests"][0]
    manifest = json.loads(blob(layout, desc["digest"]))
    _, bindex = top_index(base, "1")
    bmanifest = json.loads(blob(base, [m for m in bindex["manifests"] if platform_of(m) == "linux/arm64"][0]["digest"]))
    assert len(manifest["layers"]) == 2 and manifest["layers"][0] == bmanifest["layers"][0]
    config = json.loads(blob(layout, manifest["config"]["digest"]))
    assert "FROM_BASE=yes" in config["config"]["Env"]
    assert config["config"]["Entrypoint"] == ["/usr/local/bin/hello"]
    single = single_ref_layout(layout, desc, "arm64", tmp_path / "single")
    run(["umoci", "unpack", "--rootless", "--image", f"{single}:arm64", tmp_path / "bundle"])
    rootfs = tmp_path / "bundle" / "rootfs" / "usr" / "local" / "bin"
    assert "running on aarch64" in run([rootfs / "hello-go"]).stdout
    assert "running on aarch64" in run([rootfs / "hello"]).stdout

    # linux/arm/v7 is not in the base: fail before building, naming base and platform.
    r = build(xbuild, project, "--platform", "linux/arm64,linux/arm/v7", "--output", f"type=oci,dest={tmp_path / 'l2'}", check=False)
    assert r.returncode == 2, r.stderr
    assert "linux/arm/v7" in r.stderr and str(base) in r.stderr and "linux/arm64" in r.stderr
    assert not (tmp_path / "l2").exists()


def test_git_checkout_sets_source_and_revision(xbuild, project_copy, tmp_path):
    need("git")
    project = project_copy("c-make")
    env = dict(os.environ, GIT_AUTHOR_NAME="t", GIT_AUTHOR_EMAIL="t@example.com", GIT_COMMITTER_NAME="t",
               GIT_COMMITTER_EMAIL="t@example.com")
    run(["git", "init", "-q", project], env=env)
    run(["git", "-C", project, "add", "."], env=env)
    run(["git", "-C", project, "commit", "-qm", "init"], env=env)
    run(["git", "-C", project, "remote", "add", "origin", "https://user:secret@example.com/team/hello.git"], env=env)
    head = run(["git", "-C", project, "rev-parse", "HEAD"]).stdout.strip()
    layout = tmp_path / "layout"
    build(xbuild, project, "--platform", "linux/arm64", "--output", f"type=oci,dest={layout}", "-t", "hello:1")
    _, index = top_index(layout, "1")
    ann = index["annotations"]
    assert ann["org.opencontainers.image.revision"] == head
    assert ann["org.opencontainers.image.source"] == "https://example.com/team/hello.git"
    manifest = json.loads(blob(layout, index["manifests"][0]["digest"]))
    assert manifest["annotations"]["org.opencontainers.image.revision"] == head
    for p in (layout / "blobs" / "sha256").iterdir():
        assert b"secret" not in p.read_bytes()


def test_interrupted_export_leaves_the_previous_layout_valid(xbuild, tmp_path):
    import signal
    import subprocess
    need("skopeo")
    project = tmp_path / "big"
    project.mkdir()
    # The output's size comes from the environment: small for the first image, large
    # (seconds of gzip) for the one that gets interrupted.
    (project / "xbuild.toml").write_text(
        'name = "big"\nlanguage = "custom"\nplatforms = ["linux/amd64"]\n'
        'build = "head -c ${BIG_SIZE:-1000} /dev/urandom > {out}/big"\noutputs = ["big"]\n')
    layout = tmp_path / "layout"
    build(xbuild, project, "--output", f"type=oci,dest={layout}", "-t", "big:1", env={"BIG_SIZE": "1000"})
    before = (layout / "index.json").read_bytes()
    blob_dir = layout / "blobs" / "sha256"

    p = subprocess.Popen([str(xbuild), "-C", str(project), "build", "--progress", "plain", "--output", f"type=oci,dest={layout}",
                          "-t", "big:2"], env=dict(os.environ, BIG_SIZE=str(400 * 1024 * 1024)),
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 300
    while time.time() < deadline and p.poll() is None:
        if any(n.startswith(".tmp-") for n in os.listdir(blob_dir)):
            break
        time.sleep(0.02)
    assert p.poll() is None, "the export finished before it could be interrupted"
    p.send_signal(signal.SIGINT)
    rc = p.wait(timeout=60)
    assert rc != 0
    assert (layout / "index.json").read_bytes() == before
    run(["skopeo", "inspect", "--raw", f"oci:{layout}:1"])
    assert run(["skopeo", "inspect", "--raw", f"oci:{layout}:2"], check=False).returncode != 0

    # The next export cleans what the killed one left and works.
    build(xbuild, project, "--output", f"type=oci,dest={layout}", "-t", "big:3", env={"BIG_SIZE": "2000"})
    assert not [n for n in os.listdir(blob_dir) if n.startswith(".")]
    run(["skopeo", "inspect", "--raw", f"oci:{layout}:3"])


def test_two_builds_into_one_layout_keep_both_tags(xbuild, tmp_path):
    """Concurrent exports take turns (flock), so neither index.json entry is lost."""
    import subprocess
    layout = tmp_path / "layout"
    procs = []
    for i, platform in enumerate(["linux/arm64", "linux/arm/v7"]):
        project = tmp_path / f"project{i}"
        shutil.copytree(Path(__file__).resolve().parents[1] / "projects" / "c-make", project,
                        ignore=shutil.ignore_patterns(".xbuild"))
        procs.append(subprocess.Popen([str(xbuild), "-C", str(project), "build", "--progress", "plain", "--platform", platform,
                                       "--output", f"type=oci,dest={layout}", "-t", f"hello:{i}"],
                                      stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True))
    for p in procs:
        out, _ = p.communicate(timeout=600)
        assert p.returncode == 0, out
    refs = sorted(e["annotations"]["org.opencontainers.image.ref.name"] for e in image_entries(layout))
    assert refs == ["0", "1"]
    for tag in ("0", "1"):
        run(["skopeo", "inspect", "--raw", f"oci:{layout}:{tag}"])
