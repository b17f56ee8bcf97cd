#!/usr/bin/env python3
"""Writes the seed corpora of tests/fuzz (corpus/<harness>/) and the reproducers of known,
not yet fixed bugs (known/<harness>/). The files are committed; this script says how each
was made, so a seed can be re-made or a new one added the same way. Run from anywhere:

    python3 tests/fuzz/make_seeds.py

Seeds are small on purpose (libFuzzer's -max_len defaults to the largest seed). The ELF
seeds are built with the Debian cross compilers scripts/setup.sh installs; the sparse tar
with GNU tar. Everything else is written here byte by byte.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import shutil
import subprocess
import tarfile
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
CORPUS = HERE / "corpus"
KNOWN = HERE / "known"


def put(base: Path, harness: str, name: str, data: bytes | str) -> None:
    d = base / harness
    d.mkdir(parents=True, exist_ok=True)
    (d / name).write_bytes(data.encode() if isinstance(data, str) else data)


def seed(harness: str, name: str, data: bytes | str) -> None:
    put(CORPUS, harness, name, data)


def known(harness: str, name: str, data: bytes | str) -> None:
    put(KNOWN, harness, name, data)


def sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def desc(media: str, data: bytes, **extra) -> dict:
    return {"mediaType": media, "digest": sha(data), "size": len(data), **extra}


# ---- platform -------------------------------------------------------------------------
def platforms() -> None:
    for i, text in enumerate(["linux/amd64", "arm64", "aarch64", "linux/arm/v7", "armhf", "x86_64", "i386",
                              "linux/riscv64", "linux/arm64/v8", "linux/arm/v6", "armel", "ppc64le",
                              "linux/arm64,linux/amd64,linux/arm/v7", "windows/amd64", "linux/", "LINUX/ARM64"]):
        seed("platform", f"{i:02d}", text)


# ---- reference ------------------------------------------------------------------------
HEX = "4f" * 32


def references() -> None:
    texts = ["alpine", "alpine:3.19", "docker.io/library/alpine:latest", "ghcr.io/team/app/sub:1.0",
             f"127.0.0.1:5000/x/y@sha256:{HEX}", "[::1]:5000/repo:tag", "localhost/a_b__c-d.e",
             "registry.example.com:5000/team/app:1.0", f"alpine:3.19@sha256:{HEX}", "index.docker.io/x",
             # issue 13: credentials in a reference must never be echoed, and a loopback
             # check must compare the host, not a prefix.
             "alice:S3cretPW@registry.example.com/app", "localhost.attacker.example/x", "127.0.0.1.nip.io/x",
             "sha512:abc", "a" * 130 + ":t"]
    for i, text in enumerate(texts):
        seed("reference", f"{i:02d}", text)
    # issue 13 (fixed): parsed with host "calhOx", printed "calhox/2:latest", which is Docker Hub's.
    seed("reference", "calhOx-2", "calhOx/2")
    seed("reference", "Upper-case", "Upper/case")


# ---- WWW-Authenticate -----------------------------------------------------------------
def www_authenticate() -> None:
    texts = ['Bearer realm="https://auth.docker.io/token",service="registry.docker.io",'
             'scope="repository:library/alpine:pull"',
             'Basic realm="Registry Realm"',
             'Basic realm="a, b", Bearer realm="http://127.0.0.1:5001/token",service=reg',
             'Bearer realm="esc\\"aped\\\\",error="insufficient_scope"',
             'Bearer realm="unterminated', 'Bearer realm="ends in backslash\\', "Negotiate", "=x,=", 'BEARER REALM=x']
    for i, text in enumerate(texts):
        seed("www_authenticate", f"{i:02d}", text)


# ---- OCI JSON -------------------------------------------------------------------------
CONFIG = json.dumps({"architecture": "arm64", "os": "linux", "config": {
    "Env": ["PATH=/usr/bin"], "Entrypoint": ["/hello"], "Cmd": ["--x"], "WorkingDir": "/", "User": "1000",
    "Labels": {"a": "b"}, "ExposedPorts": {"8080/tcp": {}}},
    "rootfs": {"type": "layers", "diff_ids": [sha(b"x")]}}).encode()
LAYER_MT = "application/vnd.oci.image.layer.v1.tar+gzip"
MANIFEST_MT = "application/vnd.oci.image.manifest.v1+json"


def manifest_for(layer: bytes) -> bytes:
    return json.dumps({"schemaVersion": 2, "mediaType": MANIFEST_MT,
                       "config": desc("application/vnd.oci.image.config.v1+json", CONFIG),
                       "layers": [desc(LAYER_MT, layer)]}).encode()


def oci_json() -> None:
    manifest = manifest_for(b"layer")
    index = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
                        "manifests": [desc(MANIFEST_MT, manifest, platform={"os": "linux", "architecture": "arm",
                                                                            "variant": "v7"},
                                           annotations={"org.opencontainers.image.ref.name": "v1"})]}).encode()
    seed("oci_json", "index", index)
    seed("oci_json", "manifest", manifest)
    seed("oci_json", "config", CONFIG)
    seed("oci_json", "descriptor", json.dumps(desc(MANIFEST_MT, manifest)))
    seed("oci_json", "platform", '{"os":"linux","architecture":"arm64","variant":"v8"}')
    seed("oci_json", "errors", '{"errors":[{"code":"UNAUTHORIZED","message":"authentication required",'
                               '"detail":[{"Type":"repository","Name":"x","Action":"pull"}]}]}')
    seed("oci_json", "size-large", json.dumps({"mediaType": MANIFEST_MT, "digest": sha(b""), "size": 2**40}))
    seed("oci_json", "size-negative", json.dumps({"mediaType": MANIFEST_MT, "digest": sha(b""), "size": -1}))
    seed("oci_json", "size-float", '{"mediaType":"m","digest":"%s","size":1e3}' % sha(b""))
    seed("oci_json", "not-object", "[1,2,3]")
    # issue 13 (fixed): a size of 2^64 - 1 was accepted and wrapped into a negative int64.
    seed("oci_json", "size-int64-max", json.dumps({"mediaType": MANIFEST_MT, "digest": sha(b""),
                                                   "size": 2**63 - 1}))
    seed("oci_json", "size-2p64", json.dumps({"mediaType": MANIFEST_MT, "digest": sha(b""), "size": 2**64 - 1}))


# ---- xbuild.toml and toolchain descriptors --------------------------------------------
def config_files() -> None:
    for f in sorted((ROOT / "tests" / "projects").glob("*/xbuild.toml")):
        seed("project", f.parent.name, f.read_bytes())
    seed("project", "minimal", 'build = ["true"]\noutputs = ["x"]\n')
    seed("project", "bad-strategy", 'build = "make"\noutputs = ["x"]\n[strategy]\nall = "teleport"\n')
    seed("project", "runner", 'build = "make"\noutputs = ["x"]\n[[runner]]\nplatform = "linux/arm64"\n'
                              'host = "ci@arm"\nport = 99999\n[emulate]\ntimeout = -1\n')
    for f in sorted((ROOT / "toolchains").glob("*.toml")):
        seed("toolchain", f.stem, f.read_bytes())
    seed("toolchain", "placeholders", 'languages = ["c"]\nplatforms = ["linux/arm64"]\ninstall = "{nope} {triple"\n'
                                      '[env]\nCC = "{triple}-gcc {rust_target_env} {goarm}"\n')


# ---- ELF and ar -----------------------------------------------------------------------
# Small pages and no separate code segment keep linked seeds a few KB.
SMALL = ["-Wl,-z,max-page-size=0x1000", "-Wl,-z,common-page-size=0x1000", "-Wl,-z,noseparate-code",
         "-Wl,--build-id=none"]


def elf() -> None:
    with tempfile.TemporaryDirectory(prefix="xbuild-seeds-") as tmp:
        t = Path(tmp)
        (t / "a.c").write_text("int f(int x) { return x + 1; }\n")
        (t / "lib.c").write_text("extern int g(int); int f(int x) { return g(x) + 1; }\n")
        (t / "exe.c").write_text("void _start(void) { for (;;) ; }\n")
        objs = []
        for cc in ["gcc", "aarch64-linux-gnu-gcc", "arm-linux-gnueabihf-gcc", "riscv64-linux-gnu-gcc"]:
            if not shutil.which(cc):
                raise SystemExit(f"make_seeds: {cc} is missing: run scripts/setup.sh")
            tag = cc.split("-")[0]
            obj = t / f"{tag}.o"
            subprocess.run([cc, "-Os", "-c", "-o", obj, t / "a.c"], check=True)
            subprocess.run(["strip", "--strip-unneeded", obj] if cc == "gcc" else
                           [cc.replace("gcc", "strip"), "--strip-unneeded", obj], check=True)
            seed("elf", f"{tag}-object", obj.read_bytes())
            objs.append(obj)
            if cc in ("gcc", "aarch64-linux-gnu-gcc"):
                so = t / f"{tag}.so"
                subprocess.run([cc, "-Os", "-shared", "-nostdlib", "-fPIC", "-Wl,-soname,libfuzz.so.1",
                                "-Wl,-rpath,/opt/lib:$ORIGIN", "-Wl,--no-as-needed", *SMALL, "-o", so, t / "lib.c", "-lc"],
                               check=True)
                subprocess.run([cc.replace("gcc", "strip"), "-s", so], check=True)
                seed("elf", f"{tag}-shared", so.read_bytes())
                exe = t / f"{tag}.exe"
                subprocess.run([cc, "-Os", "-nostdlib", "-static", *SMALL, "-o", exe, t / "exe.c"], check=True)
                subprocess.run([cc.replace("gcc", "strip"), "-s", exe], check=True)
                seed("elf", f"{tag}-static", exe.read_bytes())
        ar = t / "libx.a"
        subprocess.run(["ar", "rcs", ar, *objs], check=True)
        seed("elf", "archive", ar.read_bytes())
        # GNU long member names ("//" table).
        long = t / ("a_member_name_longer_than_sixteen_chars.o")
        shutil.copy(objs[0], long)
        ar2 = t / "liblong.a"
        subprocess.run(["ar", "rc", ar2, long], check=True)
        seed("elf", "archive-long-names", ar2.read_bytes())
    seed("elf", "truncated-header", b"\x7fELF\x02\x01\x01" + b"\0" * 9)


# ---- tars: layers and oci-archives ----------------------------------------------------
def tar_bytes(entries: list[tuple[tarfile.TarInfo, bytes | None]], fmt: int = tarfile.GNU_FORMAT) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=fmt) as tf:
        for info, data in entries:
            info.mtime = 0
            if data is not None:
                info.size = len(data)
                tf.addfile(info, io.BytesIO(data))
            else:
                tf.addfile(info)
    raw = buf.getvalue()
    # Drop tarfile's padding to a 10 KiB record: two zero blocks end an archive.
    end = len(raw.rstrip(b"\0"))
    end = (end + 511) // 512 * 512
    return raw[:end] + b"\0" * 1024


def file_entry(name: str, data: bytes, mode: int = 0o644) -> tuple[tarfile.TarInfo, bytes]:
    info = tarfile.TarInfo(name)
    info.mode = mode
    return info, data


def special(name: str, kind: bytes, link: str = "") -> tuple[tarfile.TarInfo, None]:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = link
    info.mode = 0o755
    return info, None


def layers() -> None:
    elf_bytes = (CORPUS / "elf" / "aarch64-object").read_bytes()
    entries = [special("usr/", tarfile.DIRTYPE), special("lib", tarfile.SYMTYPE, "usr/lib"),
               special("usr/lib/", tarfile.DIRTYPE),
               file_entry("usr/lib/libfuzz.so.1", elf_bytes),
               special("usr/lib/libfuzz.so", tarfile.SYMTYPE, "libfuzz.so.1"),
               special("usr/lib/hard", tarfile.LNKTYPE, "usr/lib/libfuzz.so.1"),
               file_entry("etc/ld.so.conf", b"include /etc/ld.so.conf.d/*.conf\n/opt/lib\n"),
               file_entry("etc/ld.so.conf.d/x.conf", b"/usr/local/lib\n"), file_entry("etc/ld.so.cache", b""),
               file_entry("usr/bin/script", b"#!/bin/sh -e\necho hi\n", 0o755),
               special("loop", tarfile.SYMTYPE, "loop"), special("up", tarfile.SYMTYPE, "../../.."),
               file_entry("./usr/.wh.gone", b""), file_entry("opt/.wh..wh..opq", b"")]
    raw = tar_bytes(entries)
    seed("layer", "layer.tar", raw)
    seed("layer", "layer.tar.gz", gzip.compress(raw, mtime=0))
    if shutil.which("zstd"):
        seed("layer", "layer.tar.zst", subprocess.run(["zstd", "-q", "-c"], input=raw, capture_output=True,
                                                      check=True).stdout)
    seed("layer", "pax.tar", tar_bytes([file_entry("a" * 120, b"long name"),
                                        special("b", tarfile.SYMTYPE, "c" * 200)], tarfile.PAX_FORMAT))


def oci_archive() -> None:
    layer = gzip.compress(tar_bytes([file_entry("hello", b"hi\n", 0o755)]), mtime=0)
    manifest = manifest_for(layer)
    index = json.dumps({"schemaVersion": 2, "manifests": [
        desc(MANIFEST_MT, manifest, platform={"os": "linux", "architecture": "arm64"},
             annotations={"org.opencontainers.image.ref.name": "latest"})]}).encode()

    def blob(data: bytes) -> tuple[tarfile.TarInfo, bytes]:
        return file_entry("blobs/sha256/" + hashlib.sha256(data).hexdigest(), data)

    layout = [file_entry("oci-layout", b'{"imageLayoutVersion":"1.0.0"}'), file_entry("index.json", index),
              special("blobs/", tarfile.DIRTYPE), special("blobs/sha256/", tarfile.DIRTYPE),
              blob(manifest), blob(CONFIG), blob(layer)]
    raw = tar_bytes(layout)
    seed("oci_archive", "layout.tar", raw)
    seed("oci_archive", "layout.tar.gz", gzip.compress(raw, mtime=0))
    # "./"-prefixed names, as skopeo and umoci write them.
    dot = [(tarfile.TarInfo("./" + i.name), d) for i, d in layout]
    for (new, _), (old, _) in zip(dot, layout):
        new.type, new.linkname, new.mode = old.type, old.linkname, old.mode
    seed("oci_archive", "dot-slash.tar", tar_bytes(dot))
    # A blob whose bytes do not match its digest, and an index naming a missing blob.
    bad = layout[:4] + [(tarfile.TarInfo("blobs/sha256/" + hashlib.sha256(manifest).hexdigest()), b"tampered")]
    bad[-1][0].mode = 0o644
    seed("oci_archive", "tampered.tar", tar_bytes(bad))
    seed("oci_archive", "truncated.tar", raw[:1300])
    seed("oci_archive", "no-layout.tar", tar_bytes([file_entry("index.json", index)]))
    # issue 13 (fixed): an index.json entry whose size does not fit int64.
    huge = json.dumps({"schemaVersion": 2, "manifests": [{"mediaType": MANIFEST_MT, "digest": sha(manifest),
                                                          "size": 2**64 - 1}]}).encode()
    seed("oci_archive", "index-size-2p64.tar", tar_bytes([layout[0], file_entry("index.json", huge)]))
    # Found by fuzz_oci_archive (fixed): a tar that libarchive cannot open (here a header cut
    # short) leaked the archive handle, because Reader's constructor threw before anything owned it.
    seed("oci_archive", "leak-on-failed-open", b"oci-layout".ljust(34, b"\0") + b"0\0" + b"007714\0 0\0")
    # issue 13 (fixed): a sparse 3 GB index.json in a ~10 KB archive (xbuild allocated 4.4 GB).
    if not shutil.which("tar"):
        raise SystemExit("make_seeds: GNU tar is missing")
    with tempfile.TemporaryDirectory(prefix="xbuild-seeds-") as tmp:
        t = Path(tmp)
        (t / "oci-layout").write_bytes(b'{"imageLayoutVersion":"1.0.0"}')
        with open(t / "index.json", "wb") as f:
            f.write(b'{"manifests":[')
            f.truncate(3 * 1024**3)
        out = t / "sparse.tar"
        subprocess.run(["tar", "--sparse", "--format=gnu", "--mtime=@0", "--owner=0", "--group=0", "-C", t,
                        "-cf", out, "oci-layout", "index.json"], check=True)
        seed("oci_archive", "sparse-index-3g.tar", out.read_bytes())


# ---- sandbox arguments ----------------------------------------------------------------
def sandbox_args() -> None:
    argvs = [["/var/cache/xbuild/rootfs/arm64", "--bind", "/work/p", "--file",
              "/usr/bin/qemu-aarch64-static=/usr/bin/qemu-aarch64-static", "--cwd", "/work/p", "--",
              "sh", "-c", "make -j2"],
             ["/r", "--", "true"], ["/r", "--bind", "relative", "--", "x"], ["/r", "--file", "noequals", "--", "x"],
             ["/r", "--cwd"], ["--", "x"], ["/r", "--unknown", "v", "--", "x"], ["/r", "--"], [""]]
    for i, argv in enumerate(argvs):
        seed("sandbox_args", f"{i:02d}", "\0".join(argv))


def cache_chunks() -> None:
    """--cache-from chunks: one as xbuild packs them, hostile ones it must refuse, a manifest."""
    good = [special("ccache/", tarfile.DIRTYPE), special("ccache/3/", tarfile.DIRTYPE),
            file_entry("ccache/3/a/3abcR", b"object bytes"), file_entry("go-build/a/ab-d", b"go output", 0o755)]
    seed("cache_chunk", "chunk.tar.gz", gzip.compress(tar_bytes(good), mtime=0))
    seed("cache_chunk", "chunk.tar", tar_bytes(good))
    seed("cache_chunk", "escape.tar", tar_bytes([file_entry("../evil", b"x"), file_entry("/abs", b"x"),
                                                 file_entry("ccache/../../up", b"x")]))
    seed("cache_chunk", "links.tar", tar_bytes([special("ccache/0/link", tarfile.SYMTYPE, "/etc/passwd"),
                                                special("ccache/0/hard", tarfile.LNKTYPE, "ccache/3/a/3abcR"),
                                                special("ccache/0/fifo", tarfile.FIFOTYPE)]))
    seed("cache_chunk", "clash.tar", tar_bytes([file_entry("ccache/1", b"a file"), file_entry("ccache/1/x", b"under it")]))
    chunk = gzip.compress(tar_bytes(good), mtime=0)
    seed("cache_chunk", "manifest.json", json.dumps({
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "artifactType": "application/vnd.xbuild.cache.v1",
        "config": desc("application/vnd.oci.empty.v1+json", b"{}"),
        "layers": [desc("application/vnd.oci.image.layer.v1.tar+gzip", chunk,
                        annotations={"org.opencontainers.image.title": "ccache/3"})],
        "annotations": {"dev.xbuild.cache.key": "0123456789abcdef"}}).encode())


def main() -> None:
    for d in (CORPUS, KNOWN):  # the harness folders only: known/README.md stays
        for h in d.glob("*/"):
            shutil.rmtree(h)
    platforms()
    references()
    www_authenticate()
    oci_json()
    config_files()
    elf()
    layers()
    oci_archive()
    sandbox_args()
    cache_chunks()
    for d in (CORPUS, KNOWN):
        for h in sorted(p for p in d.iterdir() if p.is_dir()):
            n = len(list(h.iterdir()))
            size = max(f.stat().st_size for f in h.iterdir())
            print(f"{d.name}/{h.name}: {n} files, largest {size} bytes")


if __name__ == "__main__":
    main()
