"""A hostile or broken registry, from the tests' fake one (issue 13): bodies that never end
(manifest, config, error), a blob longer or shorter than its descriptor, a descriptor size
beyond int64, a chunked upload answered Range: 0-0 forever, a config that does not match
its digest, and a token realm over plain http on another host. Each must end as a clear
registry failure (exit 4, README's table) naming what and the cap, with memory bounded:
the fake counts the bytes it could send before xbuild stopped reading, and that stays
far below what an uncapped reader takes (the fake gives up at 512 MiB). Also: a password
pasted into a reference is never echoed, and a docker:// rootfs gets unverified TLS only
when its host is exactly loopback."""
import json
import os
import re
import subprocess
from pathlib import Path

from conftest import run
from fake_registry import OCI_MANIFEST, Fault, TokenHost
from registry_fixtures import *  # noqa: F401,F403 (fixtures)
from registry_fixtures import PASSWORD, USER, make_layout

BOUND = 64 << 20  # what the fake may have written before xbuild stopped: caps + socket buffers
CONFIG_TYPE = "application/vnd.oci.image.config.v1+json"
LAYER_TYPE = "application/vnd.oci.image.layer.v1.tar+gzip"


def serve_image(reg, repo="app", tag="1", layer=b"L" * 100, layer_size=None, config_size=None):
    """A single-platform arm64 image served as is (sizes as given): (config digest, layer digest)."""
    cfg = json.dumps({"architecture": "arm64", "os": "linux", "rootfs": {"type": "layers", "diff_ids": []}}).encode()
    cd = reg.put_blob(repo, cfg)
    ld = reg.put_blob(repo, layer)
    reg.put_manifest(repo, tag, {
        "schemaVersion": 2, "mediaType": OCI_MANIFEST,
        "config": {"mediaType": CONFIG_TYPE, "digest": cd, "size": len(cfg) if config_size is None else config_size},
        "layers": [{"mediaType": LAYER_TYPE, "digest": ld, "size": len(layer) if layer_size is None else layer_size}]})
    return cd, ld


def pull(xbuild, ref, env, *extra):
    return run([xbuild, "pull", *extra, ref], check=False, env=env, timeout=300)


def cached_blobs(env):
    d = Path(env["XDG_CACHE_HOME"]) / "xbuild" / "blobs" / "sha256"
    return sorted(p.name for p in d.iterdir()) if d.exists() else []


def test_endless_manifest_body_stops_at_4_mib(xbuild, fake_registry, clean_env):
    fault = Fault("GET", r"/manifests/", "endless:200", times=-1)
    reg = fake_registry(faults=[fault])
    p = pull(xbuild, f"{reg.host}/app:1", clean_env)
    assert p.returncode == 4, p.stderr
    assert "more than 4 MiB" in p.stderr and "a manifest or index" in p.stderr, p.stderr
    assert f"GET http://{reg.host}/v2/app/manifests/1" in p.stderr
    assert 4 << 20 <= fault.sent < BOUND
    assert fault.fired == 1  # an answer over its cap is not asked again


def test_endless_error_body_stops_at_64_kib(xbuild, fake_registry, clean_env):
    fault = Fault("GET", r"/manifests/", "endless:500", times=-1)
    reg = fake_registry(faults=[fault])
    p = pull(xbuild, f"{reg.host}/app:1", clean_env)
    assert p.returncode == 4, p.stderr
    assert "answered 500 with an error body over 64 KiB" in p.stderr, p.stderr
    assert fault.sent < BOUND and fault.fired == 1


def test_endless_config_body_stops_at_its_size(xbuild, fake_registry, clean_env):
    reg = fake_registry()
    cd, _ = serve_image(reg)
    fault = Fault("GET", cd, "endless:200", times=-1)
    reg.faults.append(fault)
    p = pull(xbuild, f"{reg.host}/app:1", clean_env)
    assert p.returncode == 4, p.stderr
    assert f"config {cd}" in p.stderr and "the size its descriptor gives" in p.stderr, p.stderr
    assert fault.sent < BOUND
    assert cd.split(":")[1] not in cached_blobs(clean_env)


def test_config_descriptor_over_the_cap_is_refused_before_reading(xbuild, fake_registry, clean_env):
    reg = fake_registry()
    cd, _ = serve_image(reg, config_size=5 << 20)
    p = pull(xbuild, f"{reg.host}/app:1", clean_env)
    assert p.returncode == 4, p.stderr
    assert "says 5242880 bytes, over 4 MiB, the cap for image configs" in p.stderr, p.stderr
    assert not reg.requests("GET", cd)


def test_blob_longer_than_its_descriptor_never_reaches_the_cache(xbuild, fake_registry, clean_env):
    reg = fake_registry()
    cd, ld = serve_image(reg, layer=b"L" * 100)
    fault = Fault("GET", ld, "endless:200", times=-1)
    reg.faults.append(fault)
    p = pull(xbuild, f"{reg.host}/app:1", clean_env)
    assert p.returncode == 4, p.stderr
    assert f"more than 100 bytes (100 bytes) for blob {ld}, the size its descriptor gives" in p.stderr, p.stderr
    assert fault.sent < BOUND and fault.fired == 1
    # Only verified blobs by digest are in the cache: not the layer, and no temp file left.
    left = cached_blobs(clean_env)
    assert ld.split(":")[1] not in left
    assert all(re.fullmatch(r"[0-9a-f]{64}", n) for n in left), left


def test_blob_shorter_than_its_descriptor_fails(xbuild, fake_registry, clean_env):
    reg = fake_registry()
    _, ld = serve_image(reg, layer=b"L" * 100)
    reg.faults.append(Fault("GET", ld, "short", times=-1))
    p = pull(xbuild, f"{reg.host}/app:1", clean_env)
    assert p.returncode == 4, p.stderr
    assert f"blob {ld}" in p.stderr and "arrived with 99 bytes" in p.stderr, p.stderr
    assert ld.split(":")[1] not in cached_blobs(clean_env)


def test_descriptor_size_beyond_int64_is_rejected(xbuild, fake_registry, clean_env):
    reg = fake_registry()
    _, ld = serve_image(reg, layer_size=2**63)
    p = pull(xbuild, f"{reg.host}/app:1", clean_env)
    assert p.returncode == 4, p.stderr
    assert 'bad "size" 9223372036854775808' in p.stderr, p.stderr
    assert not reg.requests("GET", ld)


def test_upload_that_does_not_advance_is_a_bounded_failure(xbuild, tmp_path, fake_registry, clean_env):
    reg = fake_registry(faults=[Fault("PATCH", r"/blobs/uploads/", "range-zero", times=-1)])
    layout = tmp_path / "l"
    make_layout(layout, platforms=["linux/arm64"], layer_bytes=400_000)
    p = run([xbuild, "push", "--chunk-size", "65536", "--push-jobs", "1", "--retries", "3", f"{layout}:latest",
             f"{reg.host}/app:1"], check=False, env=clean_env, timeout=300)
    assert p.returncode == 4, p.stderr
    assert "the upload does not advance" in p.stderr and "Range: 0-0" in p.stderr, p.stderr
    assert 1 <= len(reg.requests("PATCH")) <= 3  # the --retries bound, not 14,000 PATCHes
    assert reg.tag("app", "1") is None


def test_config_that_does_not_match_its_digest_is_not_used(xbuild, tmp_path, fake_registry, clean_env):
    reg = fake_registry()
    layout = tmp_path / "l"
    info = make_layout(layout, platforms=["linux/arm64"], single=True)
    run([xbuild, "push", f"{layout}:latest", f"{reg.host}/app:1"], env=clean_env)
    manifest = json.loads((layout / "blobs" / "sha256" / info["index"].split(":")[1]).read_text())
    cd = manifest["config"]["digest"]
    # The registry now answers the config's digest with another platform's config.
    reg.state.blobs[cd] = json.dumps({"architecture": "amd64", "os": "linux"}).encode()
    # merge places a lone manifest by its config's platform: an unverified config would put
    # this arm64 image into the index as amd64 (its blobs are mounted, never re-read).
    m = run([xbuild, "merge", "-t", f"{reg.host}/merged:1", f"{reg.host}/app:1"], check=False, env=clean_env)
    assert m.returncode == 4 and f"config {cd}" in m.stderr, m.stderr
    assert reg.tag("merged", "1") is None
    # pull reads the platform from the config it stores: the verified one, or none.
    p = pull(xbuild, f"{reg.host}/app:1", clean_env)
    assert p.returncode == 4, p.stderr
    assert f"config {cd}" in p.stderr and "with digest sha256:" in p.stderr, p.stderr
    assert cd.split(":")[1] not in cached_blobs(clean_env)
    i = run([xbuild, "inspect", "--json", f"{reg.host}/app:1"], check=False, env=clean_env)
    assert i.returncode == 4 and "amd64" not in i.stdout, i.stdout + i.stderr


def non_loopback_address() -> str:
    out = subprocess.run(["ip", "-4", "-o", "addr", "show"], capture_output=True, text=True, check=True).stdout
    addrs = [a for a in re.findall(r"inet (\d+\.\d+\.\d+\.\d+)/", out) if not a.startswith("127.")]
    assert addrs, f"this test needs a non-loopback IPv4 address to stand for another host:\n{out}"
    return addrs[0]


def test_credentials_never_go_to_an_http_token_realm_on_another_host(xbuild, tmp_path, fake_registry, clean_env):
    addr = non_loopback_address()
    tokens = TokenHost(addr)
    try:
        reg = fake_registry(bearer_realm=tokens.realm)
        layout = tmp_path / "l"
        make_layout(layout, platforms=["linux/arm64"])
        push = [xbuild, "push", f"{layout}:latest", f"{reg.host}/app:1"]
        p = run(push + ["--creds", f"{USER}:{PASSWORD}"], check=False, env=clean_env)
        assert p.returncode == 4, p.stderr
        assert "over plain http on another host" in p.stderr and f"--insecure-registry {addr}" in p.stderr, p.stderr
        assert PASSWORD not in p.stdout + p.stderr
        assert not any(a and a.startswith("Basic ") for a in tokens.authorization)
        # Anonymous: nothing to leak, so the http realm is asked without credentials.
        run(push, env=clean_env)
        assert tokens.authorization and all(a is None for a in tokens.authorization)
        # Named by --insecure-registry, the realm host is trusted with them.
        run(push + ["--creds", f"{USER}:{PASSWORD}", "--insecure-registry", addr], env=clean_env)
        assert any(a and a.startswith("Basic ") for a in tokens.authorization)
    finally:
        tokens.stop()


def test_a_password_in_a_reference_is_never_echoed(xbuild, tmp_path, clean_env):
    layout = tmp_path / "l"
    make_layout(layout, platforms=["linux/arm64"])
    secret = "S3cretPW"
    for args in (["push", f"{layout}:latest", f"alice:{secret}@127.0.0.1:5000/app:1"],
                 ["pull", f"alice:{secret}@127.0.0.1:5000/app:1"],
                 ["merge", "-t", f"alice:{secret}@127.0.0.1:5000/app:1", f"oci:{layout}:latest"]):
        p = run([xbuild, *args], check=False, env=clean_env)
        assert p.returncode == 2, (args, p.stderr)
        assert "invalid image reference 'alice:***@127.0.0.1:5000/app:1'" in p.stderr, p.stderr
        assert secret not in p.stdout + p.stderr
    # Where such a text is taken for a path or a base image, the message redacts it too.
    proj = tmp_path / "proj"
    proj.mkdir()
    (proj / "xbuild.toml").write_text('name = "p"\nbuild = ["true"]\noutputs = ["x"]\n\n[image]\n'
                                      f'base = "alice:{secret}@127.0.0.1:5000/app:1"\n')
    for args in (["inspect", f"alice:{secret}@127.0.0.1:5000/app:1"], ["-C", proj, "build"]):
        p = run([xbuild, *args], check=False, env=clean_env)
        assert p.returncode == 2, (args, p.stderr)
        assert "alice:***@127.0.0.1:5000/app" in p.stderr and secret not in p.stdout + p.stderr, p.stderr


def test_docker_rootfs_skips_tls_verification_only_for_an_exact_loopback_host(xbuild, tmp_path):
    # skopeo and umoci stand-ins that record their arguments: only the decision is tested.
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    log = tmp_path / "argv.log"
    for tool in ("skopeo", "umoci"):
        (bin_dir / tool).write_text(f'#!/bin/sh\necho "{tool} $*" >> {log}\nexit 1\n')
        (bin_dir / tool).chmod(0o755)
    env = dict(os.environ, PATH=f"{bin_dir}:{os.environ['PATH']}", XBUILD_ROOTFS_CACHE=str(tmp_path / "cache"))
    cases = {"docker://localhost.attacker.example/x:1": False, "docker://127.0.0.1.nip.io/x:1": False,
             "docker://127.0.0.1:5000/x:1": True, "docker://localhost/x:1": True, "docker://[::1]:5000/x:1": True,
             "docker://ghcr.io/x:1": False}
    for n, (source, unverified) in enumerate(cases.items()):
        proj = tmp_path / f"p{n}"
        proj.mkdir()
        (proj / "xbuild.toml").write_text(f'name = "p"\nbuild = ["true"]\noutputs = ["x"]\n\n[emulate]\nrootfs = "{source}"\n')
        log.write_text("")
        p = run([xbuild, "rootfs", "resolve", "-C", proj, "--platform", "linux/arm64"], check=False, env=env)
        assert p.returncode == 3 and "skopeo could not fetch" in p.stderr, p.stderr
        calls = [line for line in log.read_text().splitlines() if line.startswith("skopeo copy")]
        assert len(calls) == 1 and source in calls[0], calls
        assert ("--src-tls-verify=false" in calls[0]) == unverified, (source, calls[0])
