"""`build -o type=docker,dest=FILE.tar|-`: a `docker load`-able tarball of one platform,
checked with tools xbuild did not write (there is no docker engine here): tar lists it,
Python's json reads manifest.json, the layers' diff_ids are recomputed the way docker load
checks them (gunzip + sha256), skopeo reads it as docker-archive: and copies it to an OCI
layout, umoci unpacks that, and the unpacked program runs (chroot for the host, qemu-user
through binfmt for arm64). The platform is the host's by default, the one --platform
names otherwise; what cannot be one docker image is a usage error before anything builds."""
import gzip
import hashlib
import json
import os
import subprocess
import tarfile
from pathlib import Path

import pytest

from conftest import need, read_only, run

HOST = "linux/amd64"  # the machine the tests run on (x86_64)
TOML_PLATFORMS = "linux/amd64, linux/arm64, linux/arm/v7, linux/riscv64"  # c-make's xbuild.toml


def build(xbuild, proj, *args, check=True, **kw):
    return run([xbuild, "-C", proj, "build", "--progress", "plain", *args], check=check, **kw)


def built_platforms(proj: Path):
    out = proj / ".xbuild" / "out"
    return sorted(os.listdir(out)) if out.exists() else []


def members(archive: Path) -> dict:
    """{name: bytes} of every regular file in the tar (read by Python's tarfile)."""
    with tarfile.open(archive) as t:
        return {m.name: t.extractfile(m).read() for m in t.getmembers() if m.isfile()}


def check_docker_archive(archive: Path, tags, arch: str) -> dict:
    """What docker load relies on, checked from the tar's bytes; returns the config."""
    names = run(["tar", "-tf", archive]).stdout.split()
    assert "manifest.json" in names, names
    files = members(archive)
    (image,) = json.loads(files["manifest.json"])
    assert image["RepoTags"] == tags
    config = json.loads(files[image["Config"]])
    assert (config["os"], config["architecture"]) == ("linux", arch)
    # docker load checks each layer's uncompressed sha256 against the config's diff_ids.
    diff_ids = []
    for path in image["Layers"]:
        data = files[path]
        assert data[:2] == b"\x1f\x8b", f"{path} is not gzip"
        diff_ids.append("sha256:" + hashlib.sha256(gzip.decompress(data)).hexdigest())
    assert diff_ids == config["rootfs"]["diff_ids"]
    # The config is the blob manifest.json names: its digest is its file name.
    assert image["Config"] == "blobs/sha256/" + hashlib.sha256(files[image["Config"]]).hexdigest()
    return config


def unpack(archive: Path, tmp: Path, ref: str = "") -> Path:
    """skopeo copies the docker-archive to an OCI layout, umoci unpacks it: the rootfs."""
    need("skopeo"), need("umoci")
    layout = tmp / "from-docker"
    run(["skopeo", "copy", f"docker-archive:{archive}{ref}", f"oci:{layout}:t"])
    bundle = tmp / "bundle"
    run(["umoci", "unpack", "--rootless", "--image", f"{layout}:t", bundle])
    return bundle / "rootfs"


# --- the host's platform, by default ----------------------------------------------------------
def test_default_is_the_hosts_platform_and_it_loads_and_runs(xbuild, project_copy, tmp_path):
    proj = project_copy("c-make")  # xbuild.toml names four platforms
    archive = tmp_path / "img.tar"
    p = build(xbuild, proj, "-o", f"type=docker,dest={archive}", "-t", "hello:1.0", "-t", "registry.example.com/team/hello")
    assert f"building {HOST} (the host's) of {TOML_PLATFORMS}" in p.stderr, p.stderr
    assert built_platforms(proj) == ["linux_amd64"]  # the other three were not built for nothing
    check_docker_archive(archive, ["hello:1.0", "registry.example.com/team/hello:latest"], "amd64")
    assert sorted(os.listdir(tmp_path)) == ["c-make", "img.tar"]  # no temp left beside it

    info = json.loads(run([need("skopeo"), "inspect", f"docker-archive:{archive}:hello:1.0"]).stdout)
    assert (info["Os"], info["Architecture"]) == ("linux", "amd64")
    assert info["Labels"]["org.opencontainers.image.title"] == "hello-c"
    # It is an oci-archive too (buildx's docker tarballs are): the same config through both doors.
    oci_config = json.loads(run(["skopeo", "inspect", "--config", f"oci-archive:{archive}:1.0"]).stdout)
    docker_config = json.loads(run(["skopeo", "inspect", "--config", f"docker-archive:{archive}:hello:1.0"]).stdout)
    assert oci_config["rootfs"] == docker_config["rootfs"] and oci_config["architecture"] == "amd64"
    rootfs = unpack(archive, tmp_path, ":hello:1.0")
    out = run(["chroot", rootfs, "/usr/local/bin/hello"]).stdout
    assert "built for x86_64, running on x86_64" in out, out


def test_several_platforms_with_the_host_among_them_pick_the_host(xbuild, project_copy, tmp_path):
    proj = project_copy("c-make")
    archive = tmp_path / "img.tar"
    p = build(xbuild, proj, "--platform", "linux/arm64,linux/amd64", "-o", f"type=docker,dest={archive}")
    assert f"building {HOST} (the host's) of linux/arm64, linux/amd64" in p.stderr, p.stderr
    check_docker_archive(archive, ["hello-c:latest"], "amd64")
    assert built_platforms(proj) == ["linux_amd64"]


# --- another platform with --platform ----------------------------------------------------------
def test_platform_arm64_runs_under_qemu(xbuild, project_copy, tmp_path):
    proj = project_copy("c-make")
    archive = tmp_path / "arm.tar"
    p = build(xbuild, proj, "--platform", "linux/arm64", "-o", f"type=docker,dest={archive}", "-t", "hello:arm")
    assert "the host's" not in p.stderr
    assert built_platforms(proj) == ["linux_arm64"]
    config = check_docker_archive(archive, ["hello:arm"], "arm64")
    assert config["config"]["Entrypoint"] == ["/usr/local/bin/hello"]
    info = json.loads(run([need("skopeo"), "inspect", f"docker-archive:{archive}"]).stdout)
    assert info["Architecture"] == "arm64"
    rootfs = unpack(archive, tmp_path)
    binary = rootfs / "usr" / "local" / "bin" / "hello"
    assert "ARM aarch64" in run([need("file"), binary]).stdout
    out = run([binary], env=dict(os.environ, QEMU_LD_PREFIX="/usr/aarch64-linux-gnu")).stdout  # binfmt -> qemu-aarch64
    assert "built for aarch64, running on aarch64" in out, out


# --- dest=- -------------------------------------------------------------------------------------
def test_dest_dash_streams_the_archive_alone_on_stdout(xbuild, project_copy, tmp_path):
    proj = project_copy("c-make")
    archive = tmp_path / "from-stdout.tar"
    with open(archive, "wb") as out:
        p = subprocess.run([str(xbuild), "-C", str(proj), "build", "--progress", "plain", "--platform", "linux/arm64",
                            "-o", "type=docker,dest=-", "-t", "hello:1.0"],
                           stdout=out, stderr=subprocess.PIPE, cwd=tmp_path, timeout=900)
    err = p.stderr.decode()
    assert p.returncode == 0, err
    assert not (tmp_path / "-").exists() and not (proj / "-").exists()
    check_docker_archive(archive, ["hello:1.0"], "arm64")
    info = json.loads(run([need("skopeo"), "inspect", f"docker-archive:{archive}"]).stdout)
    assert info["Architecture"] == "arm64"
    assert "- (stdout)" in err and "linux/arm64" in err  # the build's own output went to stderr


# --- what cannot be one docker image: usage errors before building -------------------------------
@pytest.mark.parametrize("args,says", [
    (["--platform", "linux/arm64,linux/riscv64"], ["--platform names 2 (linux/arm64, linux/riscv64)",
                                                   f"none of them the host's ({HOST})", "pass --platform with one"]),
    (["-o", "type=docker,dest=X,compression=zstd"], ["docker load reads gzip or uncompressed layers, not zstd",
                                                     "compression=gzip", "type=oci-archive"]),
    (["--compression", "zstd"], ["not zstd", "compression=zstd was given"]),
    (["--push", "-t", "127.0.0.1:1/team/app:1"], ["--push pushes from an OCI layout"]),
    (["-o", "type=docker,dest=DIR"], ["dest is a directory; name a .tar file"]),
    (["-o", "type=docker"], ["missing dest=PATH"]),
])
def test_bad_combinations_are_usage_errors_before_building(xbuild, project_copy, tmp_path, args, says):
    proj = project_copy("c-make")
    (tmp_path / "DIR").mkdir()
    args = [a.replace("dest=X", f"dest={tmp_path / 'x.tar'}").replace("dest=DIR", f"dest={tmp_path / 'DIR'}") for a in args]
    if not any(a.startswith("type=docker") for a in args):
        args += ["-o", f"type=docker,dest={tmp_path / 'x.tar'}"]
    p = build(xbuild, proj, *args, check=False)
    assert p.returncode == 2, p.stderr
    for s in says:
        assert s in p.stderr, p.stderr
    assert built_platforms(proj) == [] and not (tmp_path / "x.tar").exists()


@pytest.mark.parametrize("edit,says", [
    (('"linux/amd64", ', ""), ["platforms in {toml} names 3", "pass --platform with one, e.g. --platform linux/arm64"]),
    (("[image]\n", '[image]\ncompression = "zstd"\n'), ['[image] compression = "zstd" in {toml}']),
])
def test_what_the_project_file_says_is_named(xbuild, project_copy, tmp_path, edit, says):
    proj = project_copy("c-make")
    toml = proj / "xbuild.toml"
    toml.write_text(toml.read_text().replace(*edit))
    p = build(xbuild, proj, "-o", f"type=docker,dest={tmp_path / 'x.tar'}", check=False)
    assert p.returncode == 2, p.stderr
    for s in says:
        assert s.format(toml=toml) in p.stderr, p.stderr
    assert built_platforms(proj) == []


def test_compression_gzip_on_the_command_line_overrides_zstd_in_the_project(xbuild, project_copy, tmp_path):
    proj = project_copy("c-make")
    toml = proj / "xbuild.toml"
    toml.write_text(toml.read_text().replace("[image]\n", '[image]\ncompression = "zstd"\n'))
    build(xbuild, proj, "-o", f"type=docker,dest={tmp_path / 'x.tar'},compression=gzip")
    check_docker_archive(tmp_path / "x.tar", ["hello-c:latest"], "amd64")


def test_uncompressed_layers_are_fine(xbuild, project_copy, tmp_path):
    proj = project_copy("c-make")
    archive = tmp_path / "x.tar"
    build(xbuild, proj, "-o", f"type=docker,dest={archive},compression=none")
    files = members(archive)
    (image,) = json.loads(files["manifest.json"])
    config = json.loads(files[image["Config"]])
    assert ["sha256:" + hashlib.sha256(files[l]).hexdigest() for l in image["Layers"]] == config["rootfs"]["diff_ids"]
    run([need("skopeo"), "inspect", f"docker-archive:{archive}"])


def test_a_read_only_dest_fails_before_building(xbuild, project_copy, tmp_path):
    proj = project_copy("c-make")
    with read_only(tmp_path / "ro") as ro:
        p = build(xbuild, proj, "-o", f"type=docker,dest={ro}/img.tar", check=False)
    assert p.returncode == 3, p.stderr
    assert "choose another dest" in p.stderr and str(ro) in p.stderr, p.stderr
    assert built_platforms(proj) == []


# --- atomic -------------------------------------------------------------------------------------
def test_a_failed_build_leaves_the_previous_archive_and_no_temp(xbuild, project_copy, tmp_path):
    proj = project_copy("c-make")
    archive = tmp_path / "out" / "img.tar"
    build(xbuild, proj, "-o", f"type=docker,dest={archive}")
    before = archive.read_bytes()
    (proj / "main.c").write_text("int main(void) { return syntax error; }\n")
    p = build(xbuild, proj, "-o", f"type=docker,dest={archive}", check=False)
    assert p.returncode == 1, p.stderr
    assert archive.read_bytes() == before
    assert os.listdir(archive.parent) == ["img.tar"]
