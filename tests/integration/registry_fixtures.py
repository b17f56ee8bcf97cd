"""Fixtures for the registry tests: real docker-registry instances on 127.0.0.1 (open,
htpasswd Basic auth, token auth with the tests' token server, TLS with a self-signed CA),
each with its config and storage in a temp dir and killed at the end; the fake registry for
faults; and the multi-arch images to push (built by xbuild from tests/projects, plus a
quick generated layout for cases where the content does not matter).

Import with `from registry_fixtures import *` so pytest sees the fixtures."""
import datetime
import gzip
import hashlib
import io
import ipaddress
import json
import os
import shutil
import socket
import subprocess
import tarfile
import time
import urllib.request
from pathlib import Path

import pytest

from conftest import REPO, need, run
from fake_registry import FakeRegistry, Fault, TokenServer  # noqa: F401 (re-exported)

PLATFORMS = ["linux/amd64", "linux/arm64", "linux/arm/v7"]
USER, PASSWORD = "xbuild-user", "S3cret-pa55word"
IDENTITY_TOKEN = "refresh-0f1e2d3c4b5a"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --- PKI ------------------------------------------------------------------------------
def _key():
    from cryptography.hazmat.primitives.asymmetric import rsa
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _pem_key(key) -> bytes:
    from cryptography.hazmat.primitives import serialization
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
                             serialization.NoEncryption())


def make_pki(dir: Path) -> dict:
    """A CA, a server cert for 127.0.0.1/localhost signed by it, and a token-signing cert."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.x509.oid import NameOID
    dir.mkdir(parents=True, exist_ok=True)
    now = datetime.datetime.utcnow()

    def name(cn):
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])

    ca_key = _key()
    ca = (x509.CertificateBuilder().subject_name(name("xbuild test CA")).issuer_name(name("xbuild test CA"))
          .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
          .not_valid_before(now - datetime.timedelta(days=1)).not_valid_after(now + datetime.timedelta(days=30))
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .sign(ca_key, hashes.SHA256()))
    srv_key = _key()
    srv = (x509.CertificateBuilder().subject_name(name("127.0.0.1")).issuer_name(ca.subject)
           .public_key(srv_key.public_key()).serial_number(x509.random_serial_number())
           .not_valid_before(now - datetime.timedelta(days=1)).not_valid_after(now + datetime.timedelta(days=30))
           .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
                                                       x509.DNSName("localhost")]), critical=False)
           .sign(ca_key, hashes.SHA256()))
    tok_key = _key()
    tok = (x509.CertificateBuilder().subject_name(name("xbuild token signer")).issuer_name(name("xbuild token signer"))
           .public_key(tok_key.public_key()).serial_number(x509.random_serial_number())
           .not_valid_before(now - datetime.timedelta(days=1)).not_valid_after(now + datetime.timedelta(days=30))
           .sign(tok_key, hashes.SHA256()))
    files = {"ca": dir / "ca.pem", "cert": dir / "server.pem", "key": dir / "server.key",
             "token_cert": dir / "token.pem", "token_key": dir / "token.key"}
    files["ca"].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    files["cert"].write_bytes(srv.public_bytes(serialization.Encoding.PEM))
    files["key"].write_bytes(_pem_key(srv_key))
    files["token_cert"].write_bytes(tok.public_bytes(serialization.Encoding.PEM))
    files["token_key"].write_bytes(_pem_key(tok_key))
    files["token_cert_der"] = tok.public_bytes(serialization.Encoding.DER)
    return files


# --- docker-registry --------------------------------------------------------------------
class DockerRegistry:
    """`docker-registry serve CONFIG` on 127.0.0.1:<free port>; mode is open, basic, token or tls."""

    def __init__(self, dir: Path, mode="open", relative_urls=True, pki=None, token_realm=None):
        need("docker-registry")
        self.dir = dir
        self.mode = mode
        self.port = free_port()
        self.host = f"127.0.0.1:{self.port}"
        self.scheme = "https" if mode == "tls" else "http"
        dir.mkdir(parents=True, exist_ok=True)
        auth = ""
        tls = ""
        if mode == "basic":
            need("htpasswd")
            line = run(["htpasswd", "-Bbn", USER, PASSWORD]).stdout.strip()
            (dir / "htpasswd").write_text(line + "\n")
            auth = f"auth:\n  htpasswd:\n    realm: xbuild-basic\n    path: {dir / 'htpasswd'}\n"
        elif mode == "token":
            auth = (f"auth:\n  token:\n    realm: {token_realm}\n    service: xbuild-test\n"
                    f"    issuer: xbuild-test-issuer\n    rootcertbundle: {pki['token_cert']}\n")
        if mode == "tls":
            tls = f"  tls:\n    certificate: {pki['cert']}\n    key: {pki['key']}\n"
        config = (f"version: 0.1\nlog:\n  level: warn\n  accesslog:\n    disabled: true\n"
                  f"storage:\n  filesystem:\n    rootdirectory: {dir / 'data'}\n  delete:\n    enabled: true\n"
                  f"http:\n  addr: 127.0.0.1:{self.port}\n  relativeurls: {'true' if relative_urls else 'false'}\n"
                  f"{tls}{auth}")
        (dir / "config.yml").write_text(config)
        self.log = open(dir / "registry.log", "w")
        self.proc = subprocess.Popen(["docker-registry", "serve", str(dir / "config.yml")], stdout=self.log,
                                     stderr=subprocess.STDOUT)
        self._wait(pki)

    def _wait(self, pki):
        import ssl
        ctx = ssl.create_default_context(cafile=str(pki["ca"])) if self.mode == "tls" else None
        deadline = time.time() + 30
        while time.time() < deadline:
            assert self.proc.poll() is None, f"docker-registry exited: {(self.dir / 'registry.log').read_text()}"
            try:
                urllib.request.urlopen(f"{self.scheme}://{self.host}/v2/", timeout=2, context=ctx)
                return
            except urllib.error.HTTPError:
                return  # 401: up and asking for auth
            except OSError:
                time.sleep(0.1)
        raise AssertionError(f"docker-registry on {self.host} did not start: {(self.dir / 'registry.log').read_text()}")

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()

    def blob_count(self) -> int:
        d = self.dir / "data" / "docker" / "registry" / "v2" / "blobs"
        return sum(1 for p in d.rglob("data")) if d.exists() else 0


@pytest.fixture(scope="session")
def pki(tmp_path_factory):
    return make_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture
def registry_open(tmp_path):
    r = DockerRegistry(tmp_path / "reg-open", "open")
    yield r
    r.stop()


@pytest.fixture
def registry_basic(tmp_path):
    r = DockerRegistry(tmp_path / "reg-basic", "basic")
    yield r
    r.stop()


@pytest.fixture
def registry_tls(tmp_path, pki):
    r = DockerRegistry(tmp_path / "reg-tls", "tls", pki=pki)
    yield r
    r.stop()


@pytest.fixture
def token_registry(tmp_path, pki):
    """(registry, token server): USER may push and pull team/app and team/other-allowed only."""
    ts = TokenServer(pki["token_key"].read_bytes(), pki["token_cert_der"],
                     {USER: (PASSWORD, ["team/app", "team/other-allowed"])},
                     refresh_tokens={IDENTITY_TOKEN: USER})
    r = DockerRegistry(tmp_path / "reg-token", "token", pki=pki, token_realm=ts.realm)
    yield r, ts
    r.stop()
    ts.stop()


@pytest.fixture
def fake_registry():
    """A factory: fake_registry(faults=[...], post_digest_202=..., users=...)."""
    started = []

    def start(**kw):
        f = FakeRegistry(**kw)
        started.append(f)
        return f
    yield start
    for f in started:
        f.stop()


@pytest.fixture
def clean_env(tmp_path):
    """An environment with its own empty DOCKER_CONFIG and cache, so no login leaks in."""
    env = dict(os.environ)
    (tmp_path / "docker").mkdir(exist_ok=True)
    env["DOCKER_CONFIG"] = str(tmp_path / "docker")
    env["XDG_CACHE_HOME"] = str(tmp_path / "cache")
    return env


# --- images -----------------------------------------------------------------------------
@pytest.fixture(scope="session")
def built_image(tmp_path_factory):
    """The c-make example built by xbuild for amd64, arm64 and arm/v7 into an OCI layout:
    (layout dir, tag)."""
    from conftest import xbuild_bin, PROJECTS
    xb = xbuild_bin()
    work = tmp_path_factory.mktemp("built")
    proj = work / "c-make"
    shutil.copytree(PROJECTS / "c-make", proj, ignore=shutil.ignore_patterns(".xbuild"))
    layout = work / "layout"
    run([xb, "-C", proj, "build", "--platform", ",".join(PLATFORMS), "--output", f"type=oci,dest={layout}",
         "-t", "hello-c:1.0"], timeout=1800)
    return layout, "1.0"


def _tar_gz(files: dict) -> tuple:
    """A deterministic tar.gz of {path: bytes}: (compressed, diff_id)."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as t:
        for path, data in sorted(files.items()):
            info = tarfile.TarInfo(path)
            info.size = len(data)
            info.mode = 0o755
            t.addfile(info, io.BytesIO(data))
    tar = raw.getvalue()
    gz = gzip.compress(tar, compresslevel=1, mtime=0)
    return gz, "sha256:" + hashlib.sha256(tar).hexdigest()


def _blob(layout: Path, data: bytes) -> str:
    d = hashlib.sha256(data).hexdigest()
    p = layout / "blobs" / "sha256" / d
    if not p.exists():
        p.write_bytes(data)
    return "sha256:" + d


def make_layout(layout: Path, platforms=PLATFORMS, tag="latest", layer_bytes=0, seed=b"", shared_layer=True,
                single=False, extra_files=None) -> dict:
    """Writes a valid multi-platform OCI layout without compiling anything: per platform a
    layer with a text file (plus `layer_bytes` random bytes, incompressible), a config, a
    manifest; a layer shared by all platforms; an index tagged `tag` (or, with single=True,
    the one platform's manifest); `extra_files` ({path: bytes}) go into every platform's layer.
    Returns {"index": digest, "manifests": {platform: digest}}."""
    layout.mkdir(parents=True, exist_ok=True)
    (layout / "blobs" / "sha256").mkdir(parents=True, exist_ok=True)
    (layout / "oci-layout").write_text('{"imageLayoutVersion":"1.0.0"}')
    shared = _tar_gz({"etc/shared.txt": b"shared by every platform " + seed}) if shared_layer else None
    descs = []
    manifests = {}
    for p in platforms:
        os_, arch, *variant = p.split("/")
        files = {"etc/platform.txt": f"{p} {seed.decode(errors='replace')}\n".encode()}
        if layer_bytes:
            files["data/random.bin"] = os.urandom(layer_bytes)
        files.update(extra_files or {})
        layer, diff_id = _tar_gz(files)
        layers = []
        diff_ids = []
        if shared:
            layers.append({"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": _blob(layout, shared[0]),
                           "size": len(shared[0])})
            diff_ids.append(shared[1])
        layers.append({"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": _blob(layout, layer),
                       "size": len(layer)})
        diff_ids.append(diff_id)
        config = {"architecture": arch, "os": os_, "rootfs": {"type": "layers", "diff_ids": diff_ids},
                  "config": {"Cmd": ["/bin/sh"]}}
        if variant:
            config["variant"] = variant[0]
        cbytes = json.dumps(config, sort_keys=True).encode()
        manifest = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                    "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                               "digest": _blob(layout, cbytes), "size": len(cbytes)},
                    "layers": layers}
        mbytes = json.dumps(manifest).encode()
        plat = {"architecture": arch, "os": os_}
        if variant:
            plat["variant"] = variant[0]
        desc = {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": _blob(layout, mbytes),
                "size": len(mbytes), "platform": plat}
        descs.append(desc)
        manifests[p] = desc["digest"]
    if single:
        assert len(descs) == 1
        top = dict(descs[0])
        top.pop("platform")
        top_digest = top["digest"]
    else:
        index = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": descs}
        ibytes = json.dumps(index).encode()
        top = {"mediaType": "application/vnd.oci.image.index.v1+json", "digest": _blob(layout, ibytes),
               "size": len(ibytes)}
        top_digest = top["digest"]
    top["annotations"] = {"org.opencontainers.image.ref.name": tag}
    idx_path = layout / "index.json"
    existing = json.loads(idx_path.read_text())["manifests"] if idx_path.exists() else []
    existing = [m for m in existing if m.get("annotations", {}).get("org.opencontainers.image.ref.name") != tag]
    idx_path.write_text(json.dumps({"schemaVersion": 2, "manifests": existing + [top]}))
    return {"index": top_digest, "manifests": manifests}


def index_digest(layout: Path, tag: str) -> str:
    for m in json.loads((layout / "index.json").read_text())["manifests"]:
        if m.get("annotations", {}).get("org.opencontainers.image.ref.name") == tag:
            return m["digest"]
    raise AssertionError(f"{layout} has no tag {tag}")


def skopeo_raw(ref: str, tls_verify=False, cert_dir=None, creds=None) -> bytes:
    need("skopeo")
    args = ["skopeo", "inspect", "--raw"]
    args += [f"--cert-dir={cert_dir}"] if cert_dir else [f"--tls-verify={'true' if tls_verify else 'false'}"]
    if creds:
        args += ["--creds", creds]
    p = subprocess.run(args + [f"docker://{ref}"], capture_output=True, timeout=120)
    assert p.returncode == 0, p.stderr.decode()
    return p.stdout


def sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()
