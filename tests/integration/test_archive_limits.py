"""Hostile oci-archives read by `xbuild inspect` (the same ArchiveSource a base image
`oci-archive:FILE` goes through): 10 KB tars whose entries declare or expand to gigabytes.
Each is crafted with Python's tarfile (GNU sparse 1.0 entries written by hand: a pax header
and a sparse map), and xbuild runs under a 1 GiB address-space limit, so reading one of them
into memory would fail with an allocation error instead of the message asserted here: the
error names the archive and the entry, and the exit code is 2 (bad input)."""
import hashlib
import io
import json
import resource
import tarfile
from pathlib import Path

import pytest

from conftest import run

GIB = 1 << 30
MANIFEST = "application/vnd.oci.image.manifest.v1+json"
CONFIG = "application/vnd.oci.image.config.v1+json"


def limited():
    resource.setrlimit(resource.RLIMIT_AS, (GIB, GIB))


def add(t, name, data=b"", pax=None):
    ti = tarfile.TarInfo(name)
    ti.size = len(data)
    if pax:
        ti.pax_headers = pax
    t.addfile(ti, io.BytesIO(data))


def add_sparse(t, name, realsize, blocks):
    """A GNU sparse 1.0 entry: `realsize` is what its header declares, `blocks` (offset, bytes)
    what reading it yields; an offset beyond realsize makes a header that lies."""
    m = f"{len(blocks)}\n" + "".join(f"{o}\n{len(d)}\n" for o, d in blocks)
    m = m.encode().ljust((len(m) + 511) // 512 * 512, b"\0")
    add(t, f"GNUSparseFile.0/{name}", m + b"".join(d for _, d in blocks),
        {"GNU.sparse.major": "1", "GNU.sparse.minor": "0", "GNU.sparse.name": name,
         "GNU.sparse.realsize": str(realsize)})


def descriptor(media_type, data=None, size=None, digest=None):
    return {"mediaType": media_type, "digest": digest or "sha256:" + hashlib.sha256(data).hexdigest(),
            "size": len(data) if size is None else size}


def archive(path: Path, entries, max_size=64 * 1024) -> Path:
    with tarfile.open(path, "w", format=tarfile.PAX_FORMAT) as t:
        add(t, "oci-layout", b'{"imageLayoutVersion":"1.0.0"}')
        entries(t)
    assert path.stat().st_size < max_size
    return path


def index(manifests) -> bytes:
    return json.dumps({"schemaVersion": 2, "manifests": manifests}).encode()


def inspect(xbuild, path):
    p = run([xbuild, "inspect", path], check=False, preexec_fn=limited)
    assert "bad_alloc" not in p.stderr and "terminate called" not in p.stderr, p.stderr
    return p


def test_sparse_index_json_of_3_gib_is_refused_before_reading(xbuild, tmp_path):
    a = archive(tmp_path / "a.tar", lambda t: add_sparse(t, "index.json", 3 * GIB, [(3 * GIB - 1, b"}")]))
    p = inspect(xbuild, a)
    assert p.returncode == 2, p.stderr
    assert f"oci-archive '{a}': entry index.json declares 3221225472 bytes, more than the 4 MiB" in p.stderr


def test_index_json_whose_header_lies_stops_at_the_declared_size(xbuild, tmp_path):
    # The header says 100 bytes; the sparse map puts data 3 GiB in.
    a = archive(tmp_path / "a.tar", lambda t: add_sparse(t, "index.json", 100, [(3 * GIB - 1, b"}")]))
    p = inspect(xbuild, a)
    assert p.returncode == 2, p.stderr
    assert f"oci-archive '{a}': entry index.json holds more than the 100 bytes" in p.stderr


def test_index_json_twice_is_refused(xbuild, tmp_path):
    def entries(t):
        add(t, "index.json", index([]))
        add(t, "index.json", index([]))
    p = inspect(xbuild, archive(tmp_path / "a.tar", entries))
    assert p.returncode == 2 and "holds index.json twice" in p.stderr, p.stderr


def test_manifest_declared_huge_is_refused_before_reading(xbuild, tmp_path):
    digest = "sha256:" + "ab" * 32

    def entries(t):
        add(t, "index.json", index([descriptor(MANIFEST, size=3 * GIB, digest=digest)]))
        add_sparse(t, "blobs/sha256/" + "ab" * 32, 3 * GIB, [(3 * GIB - 1, b"}")])
    a = archive(tmp_path / "a.tar", entries)
    p = inspect(xbuild, a)
    assert p.returncode == 2, p.stderr
    assert f"oci-archive '{a}': entry blobs/sha256/{'ab' * 32} ({MANIFEST}) is 3221225472 bytes by its descriptor, " \
           "more than the 4 MiB" in p.stderr


def test_config_declared_huge_is_refused_before_reading(xbuild, tmp_path):
    cfg_hex = "cd" * 32
    manifest = json.dumps({"schemaVersion": 2, "mediaType": MANIFEST,
                           "config": descriptor(CONFIG, size=3 * GIB, digest="sha256:" + cfg_hex),
                           "layers": []}).encode()

    def entries(t):
        add(t, "index.json", index([descriptor(MANIFEST, manifest)]))
        add(t, "blobs/sha256/" + hashlib.sha256(manifest).hexdigest(), manifest)
        add_sparse(t, "blobs/sha256/" + cfg_hex, 3 * GIB, [(3 * GIB - 1, b"}")])
    a = archive(tmp_path / "a.tar", entries)
    p = inspect(xbuild, a)
    assert p.returncode == 2, p.stderr
    assert f"entry blobs/sha256/{cfg_hex} ({CONFIG}) is 3221225472 bytes by its descriptor, more than the 16 MiB" \
           in p.stderr and str(a) in p.stderr


def test_blob_whose_header_lies_stops_at_the_declared_size(xbuild, tmp_path):
    # Header and descriptor agree on 100 bytes; reading the entry yields 3 GiB.
    hexd = "ef" * 32

    def entries(t):
        add(t, "index.json", index([descriptor(MANIFEST, size=100, digest="sha256:" + hexd)]))
        add_sparse(t, "blobs/sha256/" + hexd, 100, [(3 * GIB - 1, b"}")])
    a = archive(tmp_path / "a.tar", entries)
    p = inspect(xbuild, a)
    assert p.returncode == 2, p.stderr
    assert f"oci-archive '{a}': entry blobs/sha256/{hexd} holds more than the 100 bytes" in p.stderr


def test_blob_size_other_than_its_descriptor_is_corrupt(xbuild, tmp_path):
    manifest = json.dumps({"schemaVersion": 2, "mediaType": MANIFEST, "config": {}, "layers": []}).encode()
    d = descriptor(MANIFEST, manifest)
    d["size"] += 1

    def entries(t):
        add(t, "index.json", index([d]))
        add(t, "blobs/sha256/" + hashlib.sha256(manifest).hexdigest(), manifest)
    a = archive(tmp_path / "a.tar", entries)
    p = inspect(xbuild, a)
    assert p.returncode == 1, p.stderr
    assert f"corrupt oci-archive {a}: entry blobs/sha256/" in p.stderr
    assert f"has {len(manifest)} bytes, its descriptor says {len(manifest) + 1}" in p.stderr


def test_many_sparse_small_blobs_do_not_fill_memory(xbuild, tmp_path):
    # 400 entries of 4 MiB each (1.6 GiB expanded, over the 1 GiB limit): the first pass keeps
    # only a budget of them, so this is read like any archive (one with no image in it).
    def entries(t):
        add(t, "index.json", index([]))
        for i in range(400):
            add_sparse(t, f"blobs/sha256/{i:064x}", 4 << 20, [((4 << 20) - 1, b"x")])
    a = archive(tmp_path / "a.tar", entries, max_size=1 << 20)
    p = inspect(xbuild, a)
    assert p.returncode == 0, p.stderr
