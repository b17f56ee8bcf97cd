"""Images that actually run (issue 8): dynamically linked examples built for four platforms
with the default [image] runtime = "auto", unpacked with skopeo + umoci (tools xbuild did
not write) and run with chroot in a rootfs holding only the image's files, through
qemu-user's binfmt handler (its F flag opens the interpreter outside the chroot) with
QEMU_LD_PREFIX unset, so nothing of the host's /usr/<triple> can be used. Then the lint:
each kind of broken image, made by hand or with umoci, caught by `xbuild inspect --lint`,
and the build-time checks that refuse to write such an image."""
import gzip
import hashlib
import io
import json
import os
import shutil
import subprocess
import tarfile
from pathlib import Path

import pytest

from conftest import need, run
from registry_fixtures import clean_env, registry_open  # noqa: F401 (fixtures)

PLATFORMS = ["linux/amd64", "linux/arm64", "linux/arm/v7", "linux/riscv64"]
MACHINE = {"linux/amd64": "x86_64", "linux/arm64": "aarch64", "linux/arm/v7": "armv7l", "linux/riscv64": "riscv64"}
OVERRIDE = {"linux/amd64": ["amd64"], "linux/arm64": ["arm64"], "linux/arm/v7": ["arm", "v7"], "linux/riscv64": ["riscv64"]}
CC = {"linux/amd64": "gcc", "linux/arm64": "aarch64-linux-gnu-gcc"}


def build(xbuild, project: Path, *args, check=True):
    env = dict(os.environ)
    env.pop("QEMU_LD_PREFIX", None)
    return run([xbuild, "-C", project, "build", "--progress", "plain", "-j2", *args], check=check, env=env)


def unpack(layout: Path, platform: str, where: Path) -> Path:
    """One platform of the image, copied out by skopeo and unpacked by umoci: its rootfs."""
    skopeo, umoci = need("skopeo"), need("umoci")
    where.mkdir(parents=True, exist_ok=True)
    single = where / "single"
    arch = OVERRIDE[platform]
    args = [skopeo, "copy", "-q", "--override-arch", arch[0]]
    if len(arch) > 1:
        args += ["--override-variant", arch[1]]
    run(args + [f"oci:{layout}:latest", f"oci:{single}:one"])
    run([umoci, "unpack", "--image", f"{single}:one", where / "bundle"])
    return where / "bundle" / "rootfs"


def run_in_chroot(rootfs: Path, argv):
    """Runs argv in a chroot of `rootfs` alone, with /proc mounted (as every container
    runtime does) in a private mount namespace, and QEMU_LD_PREFIX unset."""
    need("unshare")
    need("chroot")
    (rootfs / "proc").mkdir(exist_ok=True)
    env = {k: v for k, v in os.environ.items() if k != "QEMU_LD_PREFIX"}
    script = 'mount -t proc proc "$1/proc" && shift && exec chroot "$@"'
    return run(["unshare", "--mount", "--propagation", "private", "--fork", "sh", "-c", script, "sh", rootfs, rootfs, *argv],
               check=False, env=env, timeout=120)


def config_of(layout: Path, platform: str):
    index = json.loads((layout / "index.json").read_text())["manifests"][0]
    top = json.loads(blob(layout, index["digest"]))
    for m in top["manifests"]:
        p = m["platform"]
        if "/".join([p["os"], p["architecture"]] + ([p["variant"]] if p.get("variant") else [])) == platform:
            manifest = json.loads(blob(layout, m["digest"]))
            return manifest, json.loads(blob(layout, manifest["config"]["digest"]))
    raise AssertionError(f"{platform} not in {top}")


def blob(layout: Path, digest: str) -> bytes:
    algo, hexd = digest.split(":")
    return (layout / "blobs" / algo / hexd).read_bytes()


@pytest.mark.parametrize("name,expect", [
    ("c-make-dynamic", "hello from dynamic c: built for"),
    ("cxx-cmake-dynamic", "hello from c++: built for"),
    ("cmake-shared", "hello cmake-shared from libgreet"),
])
def test_dynamic_examples_run_from_their_images(xbuild, project_copy, tmp_path, name, expect):
    project = project_copy(name)
    layout = tmp_path / "oci"
    build(xbuild, project, "--output", f"type=oci,dest={layout}")
    for platform in PLATFORMS:
        rootfs = unpack(layout, platform, tmp_path / platform.replace("/", "_"))
        entry = config_of(layout, platform)[1]["config"]["Entrypoint"]
        r = run_in_chroot(rootfs, entry)
        assert r.returncode == 0, f"{platform}: {entry} in {rootfs} failed:\n{r.stdout}\n{r.stderr}"
        assert expect in r.stdout, r.stdout
        assert MACHINE[platform] in r.stdout, f"{platform}: {r.stdout}"
        manifest, config = config_of(layout, platform)
        comments = [h.get("comment", "") for h in config["history"]]
        runtime = [c for c in comments if c.startswith(f"runtime libraries for {platform}: ")]
        assert len(runtime) == 1, comments
        assert "libc.so.6" in runtime[0]
        if name == "cxx-cmake-dynamic":
            assert "libstdc++.so.6.0.30" in runtime[0] or "libstdc++.so.6" in runtime[0], runtime[0]
        if name == "cmake-shared":
            assert "libgreet" not in runtime[0], "the project's own library comes from the project, through $ORIGIN"
        assert len(manifest["layers"]) == 2  # runtime libraries, then the project's files
    # The image xbuild wrote passes its own lint when read back from disk.
    assert "lint ok" in run([xbuild, "inspect", "--lint", layout]).stdout


def test_emulated_build_takes_its_runtime_from_the_target_rootfs(xbuild, project_copy, tmp_path):
    """strategy emulate: the loader and libraries come from the arm64 rootfs the build ran in
    (merged /usr, the loader a relative link there), not from the host's cross sysroot."""
    from emu_helpers import rootfs_for
    rootfs_for(xbuild)  # the cached arm64 rootfs (created when missing)
    project = project_copy("c-make-dynamic")
    layout = tmp_path / "oci"
    build(xbuild, project, "--platform", "linux/arm64", "--strategy", "emulate", "--output", f"type=oci,dest={layout}")
    rootfs = unpack(layout, "linux/arm64", tmp_path / "arm64")
    assert os.readlink(rootfs / "lib" / "ld-linux-aarch64.so.1") == "aarch64-linux-gnu/ld-linux-aarch64.so.1"  # as in the rootfs
    r = run_in_chroot(rootfs, ["/usr/local/bin/hello", "16"])
    assert r.returncode == 0, r.stderr
    assert "running on aarch64, sqrt(16) = 4.0000" in r.stdout


def test_runtime_layer_is_reproducible(xbuild, project_copy, tmp_path):
    project = project_copy("c-make-dynamic")
    digests = []
    cache = project / ".xbuild" / "cache" / "runtime"
    for i in range(3):
        layout = tmp_path / f"oci{i}"
        build(xbuild, project, "--output", f"type=oci,dest={layout}", "--clean")
        digests.append(json.loads((layout / "index.json").read_text())["manifests"][0]["digest"])
        if i == 1:  # a damaged cache entry is noticed (re-hashed) and rewritten, never shipped
            blobs = sorted(cache.glob("*.blob"))
            assert len(blobs) == 4, blobs  # one runtime layer per platform, from the first build
            blobs[0].write_bytes(b"garbage")
    assert digests[0] == digests[1] == digests[2]
    run(["skopeo", "copy", "--all", f"oci:{tmp_path / 'oci2'}:latest", f"oci:{tmp_path / 'verified'}:x"])  # skopeo checks every blob


def test_runtime_none_fails_before_writing(xbuild, project_copy, tmp_path):
    project = project_copy("c-make-dynamic")
    toml = project / "xbuild.toml"
    toml.write_text(toml.read_text() + 'runtime = "none"\n')
    layout = tmp_path / "oci"
    r = build(xbuild, project, "--output", f"type=oci,dest={layout}", check=False)
    assert r.returncode != 0
    assert not layout.exists(), "nothing may be written"
    for platform in PLATFORMS:
        assert f"{platform}: /usr/local/bin/hello is dynamically linked" in r.stderr, r.stderr
    assert "ld-linux-aarch64.so.1" in r.stderr and "libm.so.6" in r.stderr
    assert 'runtime = "auto"' in r.stderr and "base image" in r.stderr and "-static" in r.stderr


def test_bad_runtime_value_names_the_key(xbuild, project_copy):
    project = project_copy("c-make-dynamic")
    toml = project / "xbuild.toml"
    toml.write_text(toml.read_text() + 'runtime = "sometimes"\n')
    r = run([xbuild, "-C", project, "plan"], check=False)
    assert r.returncode == 2
    assert "image.runtime" in r.stderr and "xbuild.toml" in r.stderr


def test_build_lint_refuses_a_missing_entrypoint(xbuild, project_copy, tmp_path):
    project = project_copy("c-make-dynamic")
    toml = project / "xbuild.toml"
    toml.write_text(toml.read_text().replace('entrypoint = ["/usr/local/bin/hello"]', 'entrypoint = ["/usr/local/bin/nope"]'))
    layout = tmp_path / "oci"
    r = build(xbuild, project, "--output", f"type=oci,dest={layout}", "--platform", "linux/arm64,linux/riscv64", check=False)
    assert r.returncode == 1
    assert not layout.exists()
    for platform in ["linux/arm64", "linux/riscv64"]:  # every platform's problem, together
        assert f"{platform}: the entrypoint /usr/local/bin/nope does not exist" in r.stderr, r.stderr


# --- the output check ---------------------------------------------------------------------

def custom_project(root: Path, build_script: str, outputs, platforms=("linux/arm64",)) -> Path:
    root.mkdir()
    (root / "xbuild.toml").write_text(
        'name = "custom"\nlanguage = "c"\n'
        f'platforms = {json.dumps(list(platforms))}\n'
        f'build = """\n{build_script}\n"""\n'
        f'outputs = {json.dumps(outputs)}\n')
    (root / "lib.c").write_text("int answer(void) { return 42; }\n")
    (root / "main.c").write_text('#include <stdio.h>\nint main(void) { puts("hi"); return 0; }\n')
    return root


def test_a_library_found_nowhere_is_an_error_even_with_auto(xbuild, tmp_path):
    script = ("$CC -shared -fPIC -o {build}/libfoo.so {src}/lib.c && "
              "$CC -o {out}/prog {src}/main.c -L{build} -Wl,--no-as-needed -lfoo")
    project = custom_project(tmp_path / "p", script, ["prog"])
    with open(project / "xbuild.toml", "a") as f:
        f.write('\n[image]\nfiles = { "prog" = "/prog" }\nentrypoint = ["/prog"]\n')
    layout = tmp_path / "oci"
    r = build(xbuild, project, "--output", f"type=oci,dest={layout}", check=False)
    assert r.returncode == 1
    assert not layout.exists()
    assert "linux/arm64: /prog needs libfoo.so (DT_NEEDED), which is neither in the image" in r.stderr, r.stderr
    assert "/usr/aarch64-linux-gnu" in r.stderr  # the sysroot it looked in


def test_output_check_finds_a_host_runpath(xbuild, tmp_path):
    project = custom_project(tmp_path / "p", '$CC -o {out}/prog {src}/main.c -Wl,-rpath,{build}/lib', ["prog"])
    r = build(xbuild, project, "--output", "type=local,dest=" + str(tmp_path / "out"), check=False)
    assert r.returncode == 1
    assert "prog has RUNPATH/RPATH" in r.stderr and "/.xbuild/" in r.stderr, r.stderr
    assert "$ORIGIN" in r.stderr and "CMAKE_BUILD_WITH_INSTALL_RPATH" in r.stderr


def test_output_check_finds_a_wrong_arch_member_in_a_static_library(xbuild, tmp_path):
    need("gcc")
    script = ("$CC -c -o {build}/good.o {src}/lib.c && gcc -c -o {build}/bad.o {src}/lib.c && "
              "$AR rcs {out}/libmixed.a {build}/good.o {build}/bad.o")
    project = custom_project(tmp_path / "p", script, ["libmixed.a"])
    r = build(xbuild, project, "--output", "type=local,dest=" + str(tmp_path / "out"), check=False)
    assert r.returncode == 1
    assert "libmixed.a(bad.o) is ELF 64-bit LSB x86_64, but linux/arm64 needs ELF 64-bit LSB aarch64" in r.stderr, r.stderr
    assert "good.o" not in r.stderr


# --- xbuild inspect --lint on images xbuild did not build -------------------------------

def compile_for(platform: str, where: Path, source: str, *flags) -> Path:
    cc = need(CC[platform])
    src = where / "prog.c"
    src.write_text(source)
    out = where / f"prog-{platform.replace('/', '_')}"
    run([cc, "-O1", "-o", out, src, *flags])
    return out


HELLO_M = '#include <math.h>\n#include <stdio.h>\n#include <stdlib.h>\nint main(int c, char **v) { printf("%f\\n", sqrt(atof(c > 1 ? v[1] : "2"))); return 0; }\n'


def hand_layout(where: Path, files: dict, entrypoint, arch="amd64") -> Path:
    """A one-platform OCI layout written here in Python (not by xbuild): files maps an image
    path to bytes, to ("link", target) or to (bytes, mode)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for path in sorted(files):
            value = files[path]
            info = tarfile.TarInfo(path.lstrip("/"))
            if isinstance(value, tuple) and value[0] == "link":
                info.type = tarfile.SYMTYPE
                info.linkname = value[1]
                tar.addfile(info)
                continue
            data, mode = value if isinstance(value, tuple) else (value, 0o755)
            info.size, info.mode = len(data), mode
            tar.addfile(info, io.BytesIO(data))
    tar_bytes = buf.getvalue()
    layer = gzip.compress(tar_bytes, mtime=0)
    (where / "blobs" / "sha256").mkdir(parents=True)

    def put(data: bytes) -> str:
        d = hashlib.sha256(data).hexdigest()
        (where / "blobs" / "sha256" / d).write_bytes(data)
        return "sha256:" + d

    config = json.dumps({"architecture": arch, "os": "linux", "config": {"Entrypoint": entrypoint},
                         "rootfs": {"type": "layers", "diff_ids": ["sha256:" + hashlib.sha256(tar_bytes).hexdigest()]}}).encode()
    manifest = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                           "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": put(config), "size": len(config)},
                           "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": put(layer), "size": len(layer)}]}).encode()
    (where / "oci-layout").write_text('{"imageLayoutVersion": "1.0.0"}')
    (where / "index.json").write_text(json.dumps({"schemaVersion": 2, "manifests": [
        {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": put(manifest), "size": len(manifest),
         "annotations": {"org.opencontainers.image.ref.name": "latest"}}]}))
    return where


def lint(xbuild, layout: Path, expect_ok=False):
    r = run([xbuild, "inspect", "--lint", layout], check=False)
    if expect_ok:
        assert r.returncode == 0, r.stderr
        return r.stdout
    assert r.returncode == 1, f"lint passed:\n{r.stdout}"
    return r.stderr


def amd64_runtime():
    """The host's loader and libc/libm, at the paths an amd64 image has them."""
    t = "/lib/x86_64-linux-gnu"
    return {"/lib64/ld-linux-x86-64.so.2": ("link", f"{t}/ld-linux-x86-64.so.2"),
            f"{t}/ld-linux-x86-64.so.2": Path(f"{t}/ld-linux-x86-64.so.2").read_bytes(),
            f"{t}/libc.so.6": Path(f"{t}/libc.so.6").read_bytes(),
            f"{t}/libm.so.6": Path(f"{t}/libm.so.6").read_bytes()}


def test_lint_accepts_a_complete_hand_made_image(xbuild, tmp_path):
    prog = compile_for("linux/amd64", tmp_path, HELLO_M, "-lm").read_bytes()
    layout = hand_layout(tmp_path / "oci", {"/bin/prog": prog, **amd64_runtime()}, ["/bin/prog"])
    assert "lint ok" in lint(xbuild, layout, expect_ok=True)


def test_lint_finds_a_missing_interpreter(xbuild, tmp_path):
    prog = compile_for("linux/amd64", tmp_path, HELLO_M, "-lm").read_bytes()
    files = {"/bin/prog": prog, **amd64_runtime()}
    del files["/lib64/ld-linux-x86-64.so.2"]
    err = lint(xbuild, hand_layout(tmp_path / "oci", files, ["/bin/prog"]))
    assert "linux/amd64: /bin/prog needs the loader /lib64/ld-linux-x86-64.so.2 (PT_INTERP), which is not in the image" in err, err


def test_lint_finds_a_missing_needed_library(xbuild, tmp_path):
    prog = compile_for("linux/amd64", tmp_path, HELLO_M, "-lm").read_bytes()
    files = {"/bin/prog": prog, **amd64_runtime()}
    del files["/lib/x86_64-linux-gnu/libm.so.6"]
    err = lint(xbuild, hand_layout(tmp_path / "oci", files, ["/bin/prog"]))
    assert "/bin/prog needs libm.so.6 (DT_NEEDED), which is not in the image" in err, err
    assert "libc.so.6" not in err


def test_lint_finds_a_wrong_arch_library(xbuild, tmp_path):
    prog = compile_for("linux/amd64", tmp_path, HELLO_M, "-lm").read_bytes()
    files = {"/bin/prog": prog, **amd64_runtime()}
    files["/lib/x86_64-linux-gnu/libm.so.6"] = Path("/usr/aarch64-linux-gnu/lib/libm.so.6").read_bytes()
    err = lint(xbuild, hand_layout(tmp_path / "oci", files, ["/bin/prog"]))
    assert "/lib/x86_64-linux-gnu/libm.so.6 is ELF 64-bit LSB aarch64, but linux/amd64 needs ELF 64-bit LSB x86_64" in err, err
    assert "wrong architecture" in err


def test_lint_finds_a_missing_entrypoint(xbuild, tmp_path):
    prog = compile_for("linux/amd64", tmp_path, HELLO_M, "-lm").read_bytes()
    err = lint(xbuild, hand_layout(tmp_path / "oci", {"/bin/prog": prog, **amd64_runtime()}, ["/bin/server"]))
    assert "linux/amd64: the entrypoint /bin/server does not exist in the image" in err, err


def test_lint_finds_a_script_entrypoint_without_its_interpreter(xbuild, tmp_path):
    files = {"/entry.sh": b"#!/bin/sh\necho hi\n", **amd64_runtime()}
    err = lint(xbuild, hand_layout(tmp_path / "oci", files, ["/entry.sh"]))
    assert "the entrypoint /entry.sh is a script for #!/bin/sh, which is not in the image" in err, err


def test_lint_finds_a_host_runpath(xbuild, tmp_path):
    prog = compile_for("linux/amd64", tmp_path, HELLO_M, "-lm", "-Wl,-rpath,/home/builder/proj/build/lib").read_bytes()
    err = lint(xbuild, hand_layout(tmp_path / "oci", {"/bin/prog": prog, **amd64_runtime()}, ["/bin/prog"]))
    assert "/bin/prog has RUNPATH/RPATH /home/builder/proj/build/lib, which is not in the image" in err, err
    assert "$ORIGIN" in err


def test_lint_finds_a_wrong_arch_member_in_a_static_library(xbuild, tmp_path):
    need("ar")
    (tmp_path / "lib.c").write_text("int answer(void) { return 42; }\n")
    run([need("gcc"), "-c", "-o", tmp_path / "good.o", tmp_path / "lib.c"])
    run([need("aarch64-linux-gnu-gcc"), "-c", "-o", tmp_path / "arm.o", tmp_path / "lib.c"])
    run(["ar", "rcs", tmp_path / "libanswer.a", tmp_path / "good.o", tmp_path / "arm.o"])
    prog = compile_for("linux/amd64", tmp_path, HELLO_M, "-lm").read_bytes()
    files = {"/bin/prog": prog, "/usr/lib/libanswer.a": ((tmp_path / "libanswer.a").read_bytes(), 0o644), **amd64_runtime()}
    err = lint(xbuild, hand_layout(tmp_path / "oci", files, ["/bin/prog"]))
    assert "/usr/lib/libanswer.a(arm.o) is ELF 64-bit LSB aarch64, but linux/amd64 needs ELF 64-bit LSB x86_64" in err, err
    assert "good.o" not in err


def test_lint_reads_an_image_made_with_umoci(xbuild, tmp_path):
    """umoci builds the image (layers, whiteouts and config as umoci writes them): a dynamic
    arm64 program whose loader was deleted in a second layer (a whiteout) is caught."""
    umoci = need("umoci")
    layout, bundle = tmp_path / "oci", tmp_path / "bundle"
    run([umoci, "init", "--layout", layout])
    run([umoci, "new", "--image", f"{layout}:latest"])
    run([umoci, "config", "--image", f"{layout}:latest", "--architecture", "arm64", "--os", "linux",
         "--config.entrypoint", "/bin/prog"])
    run([umoci, "unpack", "--image", f"{layout}:latest", bundle])
    rootfs = bundle / "rootfs"
    prog = compile_for("linux/arm64", tmp_path, HELLO_M, "-lm")
    (rootfs / "bin").mkdir()
    shutil.copy(prog, rootfs / "bin" / "prog")
    (rootfs / "lib" / "aarch64-linux-gnu").mkdir(parents=True)
    for lib in ["libc.so.6", "libm.so.6"]:
        shutil.copy(f"/usr/aarch64-linux-gnu/lib/{lib}", rootfs / "lib" / "aarch64-linux-gnu" / lib)
    shutil.copy("/usr/aarch64-linux-gnu/lib/ld-linux-aarch64.so.1", rootfs / "lib" / "ld-linux-aarch64.so.1")
    run([umoci, "repack", "--image", f"{layout}:latest", bundle])
    assert "lint ok" in lint(xbuild, layout, expect_ok=True)
    shutil.rmtree(bundle)
    run([umoci, "unpack", "--image", f"{layout}:latest", bundle])
    (bundle / "rootfs" / "lib" / "ld-linux-aarch64.so.1").unlink()
    run([umoci, "repack", "--image", f"{layout}:latest", bundle])
    err = lint(xbuild, layout)
    assert "linux/arm64: /bin/prog needs the loader /lib/ld-linux-aarch64.so.1 (PT_INTERP), which is not in the image" in err, err


def test_lint_reads_an_image_from_a_registry(xbuild, tmp_path, registry_open, clean_env):
    """The same lint through the registry's BlobSource: the hand-made image without its
    loader, pushed by skopeo to a real docker-registry, is caught by reference."""
    prog = compile_for("linux/amd64", tmp_path, HELLO_M, "-lm").read_bytes()
    files = {"/bin/prog": prog, **amd64_runtime()}
    del files["/lib64/ld-linux-x86-64.so.2"]
    layout = hand_layout(tmp_path / "oci", files, ["/bin/prog"])
    ref = f"{registry_open.host}/lint/broken:1"
    run([need("skopeo"), "copy", "--dest-tls-verify=false", f"oci:{layout}:latest", f"docker://{ref}"])
    r = run([xbuild, "inspect", "--lint", ref], check=False, env=clean_env)
    assert r.returncode == 1, r.stdout
    assert "linux/amd64: /bin/prog needs the loader /lib64/ld-linux-x86-64.so.2 (PT_INTERP), which is not in the image" in r.stderr, r.stderr


def test_lint_json_prints_only_json_on_stdout(xbuild, tmp_path):
    prog = compile_for("linux/amd64", tmp_path, HELLO_M, "-lm").read_bytes()
    files = {"/bin/prog": prog, **amd64_runtime()}
    del files["/lib64/ld-linux-x86-64.so.2"]
    layout = hand_layout(tmp_path / "oci", files, ["/bin/prog"])
    p = run([xbuild, "inspect", "--lint", "--json", layout], check=False)
    assert p.returncode == 1, p.stderr
    doc = json.loads(p.stdout)
    assert doc["ok"] is False and any("PT_INTERP" in x for x in doc["problems"]), doc
    assert "would not run" in p.stderr
