"""Issue 12: what went into each platform's image, for CI and in the standard formats.

- The metadata file (buildx's keys) and --iidfile against a real docker-registry on loopback:
  skopeo reads the pushed index back and its sha256 is what the files name; a failed build
  writes neither.
- SPDX 2.3 SBOMs (validated with the SPDX project's JSON schema, tests/integration/data) and
  CycloneDX 1.5 BOMs (validated by the CycloneDX project's own validator) per platform, as OCI
  1.1 referrers: beside the image in a layout, through the referrers tag on docker-registry
  2.8 and through the referrers API on a registry that has it; read back with xbuild sbom.
  Files are checked against umoci's unpack, Go modules against `go version -m`, Debian
  packages against dpkg-query, crates against Cargo.lock.
- SLSA provenance v1 per platform: mode=min's contents, mode=max without secrets.
- Reproducibility, and that the image index never changes because of them.

The Go example (with a local module) is built once for three platforms and pushed (module
scope); the other projects are built by the tests that need them."""
import hashlib
import json
import re
import shutil
from pathlib import Path

import pytest

from conftest import PROJECTS, need, run, xbuild_bin
from registry_fixtures import DockerRegistry, PLATFORMS, make_layout, sha, skopeo_raw


@pytest.fixture(scope="module")
def registry(tmp_path_factory):
    r = DockerRegistry(tmp_path_factory.mktemp("reg") / "reg", "open")
    yield r
    r.stop()


def add_go_module(proj: Path):
    """Gives the Go example a dependency (a local module through a replace directive, so the
    build stays offline), which the binary's build info then lists."""
    (proj / "greet").mkdir()
    (proj / "greet" / "go.mod").write_text("module example.com/greet\n\ngo 1.19\n")
    (proj / "greet" / "greet.go").write_text('package greet\n\nfunc Word() string { return "hello" }\n')
    (proj / "go.mod").write_text("module example.com/hello\n\ngo 1.19\n\nrequire example.com/greet v0.0.0\n\n"
                                 "replace example.com/greet => ./greet\n")
    main = (proj / "main.go").read_text()
    main = main.replace('\t"syscall"\n', '\t"syscall"\n\n\t"example.com/greet"\n')
    main = main.replace('fmt.Printf("hello from go:', '_ = greet.Word()\n\tfmt.Printf("hello from go:')
    (proj / "main.go").write_text(main)


@pytest.fixture(scope="module")
def go_pushed(tmp_path_factory, registry):
    """The Go example built for amd64, arm64, arm/v7 into a layout and pushed: a dict with the
    project, layout, reference, metadata file, iidfile and the --json summary."""
    work = tmp_path_factory.mktemp("go")
    proj = work / "go"
    shutil.copytree(PROJECTS / "go", proj, ignore=shutil.ignore_patterns(".xbuild"))
    add_go_module(proj)
    env = {**__import__("os").environ, "DOCKER_CONFIG": str(work / "docker"), "XDG_CACHE_HOME": str(work / "cache")}
    (work / "docker").mkdir()
    layout, meta, iid = work / "oci", work / "ci" / "metadata.json", work / "ci" / "iid"
    ref = f"{registry.host}/sbom/go:1"
    p = run([xbuild_bin(), "-C", proj, "build", "--json", "--platform", ",".join(PLATFORMS), "--output",
             f"type=oci,dest={layout}", "--push", "-t", ref, "--metadata-file", meta, "--iidfile", iid],
            env=env, timeout=1800)
    return {"proj": proj, "layout": layout, "ref": ref, "meta": meta, "iid": iid, "summary": json.loads(p.stdout),
            "env": env, "work": work}


def test_metadata_file_and_iidfile_name_the_pushed_digest(go_pushed):
    pushed = sha(skopeo_raw(go_pushed["ref"]))
    meta = json.loads(go_pushed["meta"].read_text())
    assert meta["containerimage.digest"] == pushed
    assert go_pushed["iid"].read_text() == pushed
    desc = meta["containerimage.descriptor"]
    assert desc == {"mediaType": "application/vnd.oci.image.index.v1+json", "digest": pushed,
                    "size": len(skopeo_raw(go_pushed["ref"]))}
    assert meta["image.name"] == go_pushed["ref"]
    index = json.loads(skopeo_raw(go_pushed["ref"]))
    by_platform = {"/".join(filter(None, [m["platform"]["os"], m["platform"]["architecture"],
                                          m["platform"].get("variant")])): m["digest"] for m in index["manifests"]}
    plats = meta["xbuild.platforms"]
    assert [p["platform"] for p in plats] == PLATFORMS
    for p in plats:
        assert p["manifest"] == by_platform[p["platform"]]
        assert p["strategy"] in ("native", "cross")
        assert p["toolchain"] == "go"
        assert p["wall_seconds"] >= 0 and p["cpu_seconds"] >= 0
    # No temp left beside them (written by rename).
    assert sorted(x.name for x in go_pushed["meta"].parent.iterdir()) == ["iid", "metadata.json"]


def test_failed_build_writes_neither_and_removes_old_ones(xbuild, project_copy, tmp_path):
    proj = project_copy("c-make")
    (proj / "main.c").write_text("this is not C\n")
    meta, iid = tmp_path / "meta.json", tmp_path / "iid"
    meta.write_text("{\"stale\": true}")
    iid.write_text("sha256:" + "0" * 64)
    p = run([xbuild, "-C", proj, "build", "--platform", "linux/amd64", "--output", f"type=oci,dest={tmp_path / 'oci'}",
             "--metadata-file", meta, "--iidfile", iid], check=False)
    assert p.returncode == 1, p.stderr
    assert not meta.exists() and not iid.exists()


def test_bad_result_file_arguments(xbuild, project_copy, tmp_path):
    proj = project_copy("c-make")
    p = run([xbuild, "-C", proj, "build", "--metadata-file", tmp_path], check=False)
    assert p.returncode == 2 and "--metadata-file" in p.stderr and "is a directory" in p.stderr, p.stderr
    p = run([xbuild, "-C", proj, "build", "--iidfile", "-"], check=False)
    assert p.returncode == 2 and "--iidfile -" in p.stderr, p.stderr
    p = run([xbuild, "-C", proj, "build", "--iidfile", tmp_path / "iid", "-o", f"type=local,dest={tmp_path / 'l'}"],
            check=False)
    assert p.returncode == 2 and "--iidfile" in p.stderr and "type=local" in p.stderr, p.stderr
    assert not (proj / ".xbuild" / "out").exists()  # refused before building


# --- SBOMs ------------------------------------------------------------------------------
SPDX = "application/spdx+json"
SCHEMA = Path(__file__).parent / "data" / "spdx-2.3-schema.json"


def validate_spdx(doc: dict):
    import jsonschema
    jsonschema.validate(doc, json.loads(SCHEMA.read_text()))


def layout_sboms(layout: Path, tag: str) -> dict:
    """{platform: (manifest digest, referrer entry, SBOM dict, SBOM bytes)} of the image tagged
    `tag`, checking the layout's shape on the way: the image index lists only platform
    manifests, each referrer is an index.json entry without platform whose subject is one."""
    blob = lambda d: (layout / "blobs" / "sha256" / d.split(":")[1]).read_bytes()
    entries = json.loads((layout / "index.json").read_text())["manifests"]
    images = [e for e in entries if "artifactType" not in e]
    top = [e for e in images if e.get("annotations", {}).get("org.opencontainers.image.ref.name") == tag]
    assert len(top) == 1, entries
    index = json.loads(blob(top[0]["digest"]))
    assert all("artifactType" not in m and "platform" in m for m in index["manifests"]), index
    plat = {m["digest"]: "/".join(filter(None, [m["platform"]["os"], m["platform"]["architecture"],
                                               m["platform"].get("variant")])) for m in index["manifests"]}
    out = {}
    for e in entries:
        if e.get("artifactType") != SPDX:
            continue
        assert "platform" not in e and "org.opencontainers.image.ref.name" not in e.get("annotations", {}), e
        ref = json.loads(blob(e["digest"]))
        if ref["subject"]["digest"] not in plat:
            continue
        assert ref["artifactType"] == SPDX and ref["config"]["mediaType"] == "application/vnd.oci.empty.v1+json"
        assert [l["mediaType"] for l in ref["layers"]] == [SPDX]
        raw = blob(ref["layers"][0]["digest"])
        p = plat[ref["subject"]["digest"]]
        assert p not in out, f"two SBOMs for {p}"
        out[p] = (ref["subject"]["digest"], e, json.loads(raw), raw)
    assert sorted(out) == sorted(plat.values()), (out.keys(), plat)
    return out


IN_TOTO = "application/vnd.in-toto+json"


def layout_referrers(layout: Path, kind: str) -> dict:
    """{subject manifest digest: index.json entry} of the referrers of one artifactType."""
    out = {}
    for e in json.loads((layout / "index.json").read_text())["manifests"]:
        if e.get("artifactType") == kind:
            ref = json.loads((layout / "blobs" / "sha256" / e["digest"].split(":")[1]).read_bytes())
            out[ref["subject"]["digest"]] = e
    return out


def statement(layout: Path, entry: dict) -> dict:
    blob = lambda d: (layout / "blobs" / "sha256" / d.split(":")[1]).read_bytes()
    ref = json.loads(blob(entry["digest"]))
    assert ref["annotations"]["in-toto.io/predicate-type"] == "https://slsa.dev/provenance/v1"
    assert [l["mediaType"] for l in ref["layers"]] == [IN_TOTO]
    return json.loads(blob(ref["layers"][0]["digest"]))


def unpacked_files(layout: Path, tag: str, platform: str, dest: Path) -> dict:
    """{"/path": sha256 hex} of every regular file of one platform's image, via skopeo + umoci."""
    os_, arch, *variant = platform.split("/")
    dest.mkdir(parents=True)
    one = dest / "one"
    args = ["skopeo", "copy", "--override-os", os_, "--override-arch", arch]
    if variant:
        args += ["--override-variant", variant[0]]
    run(args + [f"oci:{layout}:{tag}", f"oci:{one}:x"])
    run(["umoci", "raw", "unpack", "--rootless", "--image", f"{one}:x", dest / "rootfs"])
    files = {}
    for f in (dest / "rootfs").rglob("*"):
        if f.is_file() and not f.is_symlink():
            files["/" + str(f.relative_to(dest / "rootfs"))] = hashlib.sha256(f.read_bytes()).hexdigest()
    return files


def sbom_files(doc: dict) -> dict:
    out = {}
    for f in doc.get("files", []):
        assert f["fileName"].startswith("./"), f
        sums = {c["algorithm"]: c["checksumValue"] for c in f["checksums"]}
        out[f["fileName"][1:]] = sums["SHA256"]
    return out


def packages(doc: dict, purl_prefix: str) -> dict:
    out = {}
    for p in doc["packages"]:
        for r in p.get("externalRefs", []):
            if r["referenceType"] == "purl" and r["referenceLocator"].startswith(purl_prefix):
                out[p["name"]] = p["versionInfo"]
    return out


def build_tool(doc: dict) -> dict:
    tools = {r["spdxElementId"] for r in doc["relationships"] if r["relationshipType"] == "BUILD_TOOL_OF"}
    assert len(tools) == 1, doc["relationships"]
    return next(p for p in doc["packages"] if p["SPDXID"] in tools)


def test_go_sboms_in_the_layout(go_pushed, tmp_path):
    sboms = layout_sboms(go_pushed["layout"], "1")
    meta = json.loads(go_pushed["meta"].read_text())
    for p in meta["xbuild.platforms"]:
        manifest, entry, doc, raw = sboms[p["platform"]]
        assert p["manifest"] == manifest and p["sbom"] == entry["digest"]
        validate_spdx(doc)
        assert doc["spdxVersion"] == "SPDX-2.3" and doc["creationInfo"]["created"] == "1970-01-01T00:00:00Z"
        tool = build_tool(doc)
        assert tool["name"] == "go" and tool["versionInfo"].startswith("go version go1."), tool
        # Each file is tied to the image package by CONTAINS (filesAnalyzed false: no SHA-1 code).
        image = next(x for x in doc["packages"] if x["SPDXID"] == "SPDXRef-Image")
        assert image["filesAnalyzed"] is False and "packageVerificationCode" not in image
        contained = {r["relatedSpdxElement"] for r in doc["relationships"]
                     if r["spdxElementId"] == "SPDXRef-Image" and r["relationshipType"] == "CONTAINS"}
        assert {f["SPDXID"] for f in doc["files"]} <= contained
    # The files, sha256 for sha256, are those umoci unpacks from the image (scratch base: all ours).
    # The Go modules are what `go version -m` reads from the same binary.
    for platform in PLATFORMS:
        doc = sboms[platform][2]
        dest = tmp_path / platform.replace("/", "_")
        assert sbom_files(doc) == unpacked_files(go_pushed["layout"], "1", platform, dest)
        out = run(["go", "version", "-m", dest / "rootfs" / "usr" / "local" / "bin" / "hello"]).stdout
        mods = {f[1]: f[2] for f in (line.strip().split("\t") for line in out.splitlines()) if f[0] in ("mod", "dep")}
        assert mods == {"example.com/hello": "(devel)", "example.com/greet": "v0.0.0"}, out
        assert packages(doc, "pkg:golang/") == mods


def test_go_sboms_in_the_registry(xbuild, go_pushed):
    ref = go_pushed["ref"]
    index = json.loads(skopeo_raw(ref))
    # The pushed index is the layout's, one descriptor per platform: nothing new for skopeo or Kubernetes.
    assert [m["platform"]["architecture"] for m in index["manifests"]] == ["amd64", "arm64", "arm"]
    assert all("artifactType" not in m for m in index["manifests"])
    sboms = layout_sboms(go_pushed["layout"], "1")
    repo = ref.rsplit(":", 1)[0]
    for platform, (manifest, entry, doc, raw) in sboms.items():
        # docker-registry 2.8 has no referrers API: the tag schema lists the SBOM and the provenance.
        referrers = json.loads(skopeo_raw(f"{repo}:sha256-{manifest.split(':')[1]}"))
        prov = layout_referrers(go_pushed["layout"], IN_TOTO)[manifest]
        assert [(m["digest"], m["artifactType"]) for m in referrers["manifests"]] == [(entry["digest"], SPDX),
                                                                                    (prov["digest"], IN_TOTO)]
        p = run([xbuild, "sbom", ref, "--platform", platform, "--insecure-registry", ref.split("/")[0]], env=go_pushed["env"])
        assert p.stdout.rstrip("\n").encode() == raw
    listing = json.loads(run([xbuild, "sbom", ref, "--json"], env=go_pushed["env"]).stdout)
    assert [(x["platform"], x["sbom"]) for x in listing] == [(p, sboms[p][1]["digest"]) for p in PLATFORMS]
    # The layout reads back the same way.
    p = run([xbuild, "sbom", f"{go_pushed['layout']}:1", "--platform", "linux/arm64"])
    assert p.stdout.rstrip("\n").encode() == sboms["linux/arm64"][3]
    p = run([xbuild, "sbom", f"{go_pushed['layout']}:1", "--platform", "linux/riscv64"], check=False)
    assert p.returncode == 2 and "--platform linux/riscv64" in p.stderr and "linux/arm64" in p.stderr, p.stderr


def test_sboms_are_reproducible_and_leave_the_index_alone(xbuild, go_pushed):
    """A second build of the same sources gives byte-identical SBOMs and provenance;
    --sbom=false --provenance=false gives the same image index and no referrers."""
    proj, work = go_pushed["proj"], go_pushed["work"]
    again, bare = work / "again", work / "bare"
    run([xbuild, "-C", proj, "build", "--platform", ",".join(PLATFORMS), "-o", f"type=oci,dest={again}", "-t", "go:1"],
        timeout=1800)
    run([xbuild, "-C", proj, "build", "--platform", ",".join(PLATFORMS), "-o", f"type=oci,dest={bare}", "-t", "go:1",
         "--sbom=false", "--provenance=false"], timeout=1800)
    first = layout_sboms(go_pushed["layout"], "1")
    second = layout_sboms(again, "1")
    assert {p: (v[1]["digest"], v[3]) for p, v in first.items()} == {p: (v[1]["digest"], v[3]) for p, v in second.items()}
    entries = json.loads((bare / "index.json").read_text())["manifests"]
    assert [e.get("artifactType") for e in entries] == [None]
    assert entries[0]["digest"] == go_pushed["summary"]["image"]["digest"]
    # Rebuilding into the same layout keeps one SBOM and one provenance per platform (the old
    # ones are not piled up), and the provenance is reproducible too.
    provs = layout_referrers(again, IN_TOTO)
    run([xbuild, "-C", proj, "build", "--platform", ",".join(PLATFORMS), "-o", f"type=oci,dest={again}", "-t", "go:1"],
        timeout=1800)
    kinds = [e.get("artifactType") for e in json.loads((again / "index.json").read_text())["manifests"]]
    assert sorted(filter(None, kinds)) == [SPDX] * 3 + [IN_TOTO] * 3
    assert layout_referrers(again, IN_TOTO) == provs


def test_c_sbom_names_the_runtime_library_packages(xbuild, project_copy, tmp_path):
    """The dynamic C example, native for amd64 and cross for arm64 and arm/v7: the loader and
    libc xbuild copied from the sysroot are files of the image, and their Debian package is
    listed with the version dpkg has installed."""
    proj = project_copy("c-make-dynamic")
    layout = tmp_path / "oci"
    run([xbuild, "-C", proj, "build", "--platform", ",".join(PLATFORMS), "-o", f"type=oci,dest={layout}", "-t", "c:1"],
        timeout=1800)
    sboms = layout_sboms(layout, "1")
    expected = {"linux/amd64": ("libc6", "libc6:amd64", "gcc-native"), "linux/arm64": ("libc6-arm64-cross", "libc6-arm64-cross", "gcc-cross"),
                "linux/arm/v7": ("libc6-armhf-cross", "libc6-armhf-cross", "gcc-cross")}
    for platform, (pkg, query, toolchain) in expected.items():
        doc = sboms[platform][2]
        validate_spdx(doc)
        debs = packages(doc, "pkg:deb/debian/")
        version = run(["dpkg-query", "-W", "-f", "${Version}", query]).stdout
        assert debs == {pkg: version}, (platform, debs)
        files = sbom_files(doc)
        assert "/usr/local/bin/hello" in files and any(f.endswith("/libc.so.6") for f in files), files
        assert files == unpacked_files(layout, "1", platform, tmp_path / platform.replace("/", "_"))
        tool = build_tool(doc)
        assert tool["name"] == toolchain and "gcc" in tool["versionInfo"] and "12." in tool["versionInfo"], tool
    # The same image's CycloneDX BOMs: valid, with the same Debian packages and files.
    cdx = tmp_path / "cdx"
    run([xbuild, "-C", proj, "build", "--platform", ",".join(PLATFORMS), "-o", f"type=oci,dest={cdx}", "-t", "c:1",
         "--sbom-format", "cyclonedx"], timeout=1800)
    cdx_refs = layout_referrers(cdx, "application/vnd.cyclonedx+json")
    assert sorted(cdx_refs) == sorted(v[0] for v in sboms.values())  # the same manifests: the format is not in the image
    for manifest, entry in cdx_refs.items():
        platform = next(p for p, v in sboms.items() if v[0] == manifest)
        ref = json.loads((cdx / "blobs" / "sha256" / entry["digest"].split(":")[1]).read_bytes())
        doc_path = cdx / "blobs" / "sha256" / ref["layers"][0]["digest"].split(":")[1]
        validate_cyclonedx(doc_path)
        bom = json.loads(doc_path.read_bytes())
        debs = {c["name"]: c["version"] for c in bom["components"] if c.get("purl", "").startswith("pkg:deb/")}
        assert debs == packages(sboms[platform][2], "pkg:deb/debian/")
        assert {c["name"]: c["hashes"][0]["content"] for c in bom["components"] if c["type"] == "file"} == sbom_files(sboms[platform][2])


def test_rust_sbom_lists_the_cargo_lock_crates(xbuild, project_copy, tmp_path):
    """The Rust example with a local path dependency: every crate of Cargo.lock is a package,
    the path one without a download location. Three platforms: Debian's rustc has the standard
    library of amd64, arm64 and armhf (scripts/setup.sh installs the foreign ones)."""
    proj = project_copy("rust-cargo")
    (proj / "greet" / "src").mkdir(parents=True)
    (proj / "greet" / "Cargo.toml").write_text('[package]\nname = "greet"\nversion = "0.2.0"\nedition = "2021"\n')
    (proj / "greet" / "src" / "lib.rs").write_text('pub fn word() -> &\'static str { "hello" }\n')
    (proj / "Cargo.toml").write_text((proj / "Cargo.toml").read_text() + 'greet = { path = "greet" }\n')
    (proj / "Cargo.lock").write_text('version = 3\n\n[[package]]\nname = "greet"\nversion = "0.2.0"\n\n'
                                     '[[package]]\nname = "hello"\nversion = "0.1.0"\ndependencies = [\n "greet",\n]\n')
    (proj / "xbuild.toml").write_text((proj / "xbuild.toml").read_text() +
                                      '\n[image]\nfiles = { "hello" = "/hello" }\nentrypoint = ["/hello"]\n')
    layout = tmp_path / "oci"
    run([xbuild, "-C", proj, "build", "--platform", "linux/amd64,linux/arm64,linux/arm/v7", "-o",
         f"type=oci,dest={layout}", "-t", "rust:1"], timeout=1800)
    sboms = layout_sboms(layout, "1")
    assert set(sboms) == {"linux/amd64", "linux/arm64", "linux/arm/v7"}, sboms.keys()
    for platform, (manifest, entry, doc, raw) in sboms.items():
        validate_spdx(doc)
        assert packages(doc, "pkg:cargo/") == {"greet": "0.2.0", "hello": "0.1.0"}
        assert all(p["downloadLocation"] == "NOASSERTION" for p in doc["packages"] if p["name"] in ("greet", "hello"))
        assert build_tool(doc)["versionInfo"].startswith("rustc "), build_tool(doc)


def test_go_provenance_min(go_pushed):
    """mode=min (the default): an in-toto statement per platform whose subject is that platform's
    manifest, naming the builder, the build command as xbuild.toml gives it, strategy and
    toolchain, and the Go modules as materials; the metadata file names it."""
    layout = go_pushed["layout"]
    meta = json.loads(go_pushed["meta"].read_text())
    provs = layout_referrers(layout, IN_TOTO)
    for p in meta["xbuild.platforms"]:
        entry = provs[p["manifest"]]
        assert p["provenance"] == entry["digest"]
        st = statement(layout, entry)
        assert st["_type"] == "https://in-toto.io/Statement/v1" and st["predicateType"] == "https://slsa.dev/provenance/v1"
        assert st["subject"] == [{"name": "hello-go", "digest": {"sha256": p["manifest"].split(":")[1]}}]
        bd = st["predicate"]["buildDefinition"]
        assert bd["externalParameters"]["buildCommand"] == ["go", "build", "-o", "{out}/hello", "."]
        assert bd["externalParameters"]["platform"] == p["platform"]
        assert bd["externalParameters"]["strategy"] == p["strategy"] and bd["externalParameters"]["toolchain"] == "go"
        assert "environment" not in bd["internalParameters"]
        assert {d["uri"] for d in bd["resolvedDependencies"]} == {"pkg:golang/example.com/greet@v0.0.0",
                                                                 "pkg:golang/example.com/hello@(devel)"}
        assert st["predicate"]["runDetails"]["builder"]["version"]["xbuild"] == run([xbuild_bin(), "version"]).stdout.split()[1]


def test_provenance_max_drops_secrets(xbuild, project_copy, tmp_path):
    """mode=max adds the build's environment without secret-looking variables; the git remote's
    credentials never appear; a tracked change makes the source dirty."""
    proj = project_copy("go")
    git = lambda *a: run(["git", "-C", proj, "-c", "user.name=t", "-c", "user.email=t@example.com", *a])
    git("init", "-q")
    git("remote", "add", "origin", "https://bob:hunter2@example.com/team/hello.git")
    git("add", ".")
    git("commit", "-qm", "x")
    rev = git("rev-parse", "HEAD").stdout.strip()
    (proj / "main.go").write_text((proj / "main.go").read_text() + "// changed\n")
    layout = tmp_path / "oci"
    env = {**__import__("os").environ, "MY_API_TOKEN": "supersecret-1", "DB_PASSWORD": "supersecret-2",
           "XB_VISIBLE": "shown", "XB_URL": "https://eve:supersecret-3@example.com/x"}
    p = run([xbuild, "-C", proj, "build", "--platform", "linux/arm64", "-o", f"type=oci,dest={layout}", "-t", "go:1",
             "--provenance", "mode=max"], env=env, timeout=1800)
    (entry,) = layout_referrers(layout, IN_TOTO).values()
    st = statement(layout, entry)
    envs = st["predicate"]["buildDefinition"]["internalParameters"]["environment"]
    assert envs["XB_VISIBLE"] == "shown" and envs["GOARCH"] == "arm64"
    assert envs["XB_URL"] == "https://example.com/x"
    assert "MY_API_TOKEN" not in envs and "DB_PASSWORD" not in envs
    (src,) = [d for d in st["predicate"]["buildDefinition"]["resolvedDependencies"] if d["uri"].startswith("git+")]
    assert src == {"uri": "git+https://example.com/team/hello.git", "digest": {"gitCommit": rev}, "annotations": {"dirty": True}}
    for f in layout.rglob("*"):
        if f.is_file():
            data = f.read_bytes()
            for secret in (b"hunter2", b"supersecret"):
                assert secret not in data, (f, secret)
    assert "hunter2" not in p.stdout + p.stderr and "supersecret" not in p.stdout + p.stderr
    bad = run([xbuild, "-C", proj, "build", "--provenance", "mode=maxi"], check=False)
    assert bad.returncode == 2 and "--provenance mode=maxi" in bad.stderr, bad.stderr


def test_base_image_dpkg_packages_and_base_digest(xbuild, project_copy, tmp_path):
    """A base image whose dpkg status lists packages: the SBOM lists the installed ones (not
    one left with only config files), and the provenance names the base's manifest digest."""
    status = (b"Package: base-files\nStatus: install ok installed\nArchitecture: all\nVersion: 12.4+deb12u5\n"
              b"Description: x\n more\n\nPackage: gone\nStatus: deinstall ok config-files\nVersion: 1\n\n"
              b"Package: tzdata\nStatus: install ok installed\nArchitecture: all\nVersion: 2024a-0+deb12u1\n")
    base = tmp_path / "base"
    made = make_layout(base, ["linux/amd64", "linux/arm64"], tag="base", extra_files={"var/lib/dpkg/status": status})
    proj = project_copy("go")
    (proj / "xbuild.toml").write_text((proj / "xbuild.toml").read_text().replace(
        "[image]\n", f'[image]\nbase = "oci:{base}:base"\n'))
    layout = tmp_path / "oci"
    run([xbuild, "-C", proj, "build", "--platform", "linux/amd64,linux/arm64", "-o", f"type=oci,dest={layout}", "-t", "g:1"],
        timeout=1800)
    provs = layout_referrers(layout, IN_TOTO)
    for platform, (manifest, entry, doc, raw) in layout_sboms(layout, "1").items():
        validate_spdx(doc)
        assert packages(doc, "pkg:deb/debian/") == {"base-files": "12.4+deb12u5", "tzdata": "2024a-0+deb12u1"}
        # The files are xbuild's own (the base's are the base's), so the binary only.
        assert list(sbom_files(doc)) == ["/usr/local/bin/hello"]
        deps = statement(layout, provs[manifest])["predicate"]["buildDefinition"]["resolvedDependencies"]
        base_digest = made["manifests"][platform].split(":")[1]
        assert {"uri": "oci-layout", "digest": {"sha256": base_digest}} in deps, deps


CDX = "application/vnd.cyclonedx+json"
CDX_PREFIX = Path("/opt/xbuild-test-node")


def validate_cyclonedx(path: Path):
    lib = CDX_PREFIX / "node_modules" / "@cyclonedx" / "cyclonedx-library"
    assert lib.exists(), f"{lib} is missing: run scripts/setup.sh (it installs the CycloneDX validator with npm)"
    need("node")
    p = run(["node", Path(__file__).parent / "cyclonedx_validate.js", path], check=False,
            env={**__import__("os").environ, "NODE_PATH": str(CDX_PREFIX / "node_modules")})
    assert p.returncode == 0 and p.stdout.strip() == "valid", p.stdout + p.stderr


def test_cyclonedx_sbom(xbuild, project_copy, tmp_path):
    """--sbom-format cyclonedx: a CycloneDX 1.5 BOM per platform, valid by the CycloneDX
    project's own validator, with the same files, modules and toolchain as the SPDX one."""
    proj = project_copy("go")
    add_go_module(proj)
    layout = tmp_path / "oci"
    run([xbuild, "-C", proj, "build", "--platform", ",".join(PLATFORMS), "-o", f"type=oci,dest={layout}", "-t", "g:1",
         "--sbom-format", "cyclonedx"], timeout=1800)
    refs = layout_referrers(layout, CDX)
    assert len(refs) == 3 and not layout_referrers(layout, SPDX)
    for manifest, entry in refs.items():
        ref = json.loads((layout / "blobs" / "sha256" / entry["digest"].split(":")[1]).read_bytes())
        doc_path = layout / "blobs" / "sha256" / ref["layers"][0]["digest"].split(":")[1]
        assert ref["layers"][0]["mediaType"] == CDX
        validate_cyclonedx(doc_path)
        bom = json.loads(doc_path.read_bytes())
        assert bom["specVersion"] == "1.5" and bom["metadata"]["timestamp"] == "1970-01-01T00:00:00Z"
        libs = {c["name"]: c["version"] for c in bom["components"] if c["type"] == "library"}
        assert libs == {"example.com/hello": "(devel)", "example.com/greet": "v0.0.0"}
        files = [c for c in bom["components"] if c["type"] == "file"]
        assert [f["name"] for f in files] == ["/usr/local/bin/hello"] and files[0]["hashes"][0]["alg"] == "SHA-256"
        assert [t["name"] for t in bom["metadata"]["tools"]["components"]] == ["xbuild", "go"]
    (arm64,) = [p for p in json.loads(run([xbuild, "sbom", f"{layout}:1", "--json"]).stdout) if p["platform"] == "linux/arm64"]
    assert arm64["sbom"] in {e["digest"] for e in refs.values()}
    # A broken BOM fails the validator (so the check above can fail).
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({**bom, "version": "one"}))
    p = run(["node", Path(__file__).parent / "cyclonedx_validate.js", bad], check=False,
            env={**__import__("os").environ, "NODE_PATH": str(CDX_PREFIX / "node_modules")})
    assert p.returncode == 1, p.stdout + p.stderr
    bad_flag = run([xbuild, "-C", proj, "build", "--sbom-format", "swid"], check=False)
    assert bad_flag.returncode == 2 and "--sbom-format swid" in bad_flag.stderr, bad_flag.stderr


def test_image_sbom_false_in_xbuild_toml(xbuild, project_copy, tmp_path):
    """[image] sbom = false turns the SBOM off (the provenance stays); --sbom turns it back on;
    a value that is not a boolean is exit 2 naming the file and line."""
    proj = project_copy("c-make")
    toml = (proj / "xbuild.toml").read_text()
    (proj / "xbuild.toml").write_text(toml.replace("[image]\n", "[image]\nsbom = false\n"))
    off, on = tmp_path / "off", tmp_path / "on"
    run([xbuild, "-C", proj, "build", "--platform", "linux/amd64", "-o", f"type=oci,dest={off}"])
    assert not layout_referrers(off, SPDX) and len(layout_referrers(off, IN_TOTO)) == 1
    run([xbuild, "-C", proj, "build", "--platform", "linux/amd64", "-o", f"type=oci,dest={on}", "--sbom"])
    assert len(layout_referrers(on, SPDX)) == 1
    (proj / "xbuild.toml").write_text(toml.replace("[image]\n", "[image]\nsbom = \"no\"\n"))
    p = run([xbuild, "-C", proj, "build", "--platform", "linux/amd64", "-o", f"type=oci,dest={tmp_path / 'bad'}"], check=False)
    assert p.returncode == 2 and "xbuild.toml:" in p.stderr and "sbom" in p.stderr, p.stderr


def test_merge_keeps_each_platforms_sbom_and_provenance(xbuild, project_copy, tmp_path):
    """A CI fan-out: one job per platform, then `xbuild merge`: the merged layout lists each
    platform's SBOM and provenance beside the merged index, never inside it."""
    proj = project_copy("go")
    layouts = {}
    for p in ("linux/amd64", "linux/arm64"):
        layouts[p] = tmp_path / p.replace("/", "_")
        run([xbuild, "-C", proj, "build", "--platform", p, "-o", f"type=oci,dest={layouts[p]}", "-t", "app:ci"], timeout=1800)
    merged = tmp_path / "merged"
    run([xbuild, "merge", "-t", "app:2", "--output", f"type=oci,dest={merged}"] + [f"oci:{l}:ci" for l in layouts.values()])
    sboms = layout_sboms(merged, "2")
    assert sorted(sboms) == ["linux/amd64", "linux/arm64"]
    for p, l in layouts.items():
        assert sboms[p][3] == layout_sboms(l, "ci")[p][3]
        assert layout_referrers(merged, IN_TOTO)[sboms[p][0]] == layout_referrers(l, IN_TOTO)[sboms[p][0]]
    out = run([xbuild, "sbom", f"{merged}:2", "--platform", "linux/arm64"]).stdout
    assert out.rstrip("\n").encode() == sboms["linux/arm64"][3]
    run(["skopeo", "copy", "--all", f"oci:{merged}:2", f"oci:{tmp_path / 'copy'}:2"])  # still a valid layout


def test_push_uses_the_referrers_api_when_the_registry_has_one(xbuild, go_pushed):
    """A registry with the OCI 1.1 referrers API (it answers OCI-Subject): xbuild push PUTs the
    SBOM and provenance manifests and no referrers tag; xbuild sbom finds them through the API."""
    from fake_registry import FakeRegistry
    reg = FakeRegistry(referrers_api=True)
    try:
        ref = f"{reg.host}/api/go:1"
        run([xbuild, "push", f"{go_pushed['layout']}:1", ref], env=go_pushed["env"])
        assert not reg.requests("PUT", r"/manifests/sha256-"), "no referrers tag on a registry with the API"
        sboms = layout_sboms(go_pushed["layout"], "1")
        provs = layout_referrers(go_pushed["layout"], IN_TOTO)
        for platform, (manifest, entry, doc, raw) in sboms.items():
            listed = reg.state.referrers[("api/go", manifest)]
            assert [d["digest"] for d in listed] == [entry["digest"], provs[manifest]["digest"]]
            out = run([xbuild, "sbom", ref, "--platform", platform], env=go_pushed["env"]).stdout
            assert out.rstrip("\n").encode() == raw
        assert reg.requests("GET", r"/referrers/sha256:") and not reg.requests("GET", r"/manifests/sha256-")
    finally:
        reg.stop()


def test_emulated_build_lists_the_rootfs_packages(xbuild, project_copy, tmp_path):
    """An emulated build: the SBOM lists the emulation rootfs's packages (its dpkg status), and
    the runtime libraries xbuild copied from that rootfs name their package from the rootfs's
    own dpkg database, with the rootfs's version."""
    from emu_helpers import env_with, rootfs_for
    rootfs = rootfs_for(xbuild)
    proj = project_copy("c-make-dynamic")
    layout = tmp_path / "oci"
    run([xbuild, "-C", proj, "build", "--platform", "linux/arm64", "--strategy", "linux/arm64=emulate",
         "-o", f"type=oci,dest={layout}", "-t", "e:1"], env=env_with(), timeout=1800)
    ((manifest, entry, doc, raw),) = layout_sboms(layout, "1").values()
    validate_spdx(doc)
    status = (rootfs / "var/lib/dpkg/status").read_text()
    version = re.search(r"^Package: libc6\nStatus: install ok installed\n(?:.+\n)*?Version: (.+)$", status, re.M)[1]
    debs = {p["name"]: (p["versionInfo"], p["comment"]) for p in doc["packages"]
            if any(r["referenceLocator"].startswith("pkg:deb/") for r in p.get("externalRefs", []))}
    assert debs["libc6"][0] == version
    assert "gcc" in debs and "make" in debs  # the rootfs's packages
    assert debs["make"][1] == "from emulation rootfs"
    assert build_tool(doc)["name"] == "emulate"
    assert any(f.endswith("/libc.so.6") for f in sbom_files(doc))
