"""xbuild push against real docker-registry instances (open, htpasswd, token, TLS), checked
with tools xbuild did not write: skopeo reads the pushed bytes back, copies the image to a
layout, and the arm64 binary it pulls runs under qemu-user."""
import base64
import json
import os
import subprocess
from pathlib import Path

from conftest import need, run
from registry_fixtures import *  # noqa: F401,F403 (fixtures)
from registry_fixtures import (DockerRegistry, PASSWORD, PLATFORMS, USER, index_digest, make_layout, sha,
                               skopeo_raw)


def push(xbuild, layout, tag, *refs, env=None, check=True, extra=()):
    return run([xbuild, "push", "--json", *extra, f"{layout}:{tag}", *refs], check=check, env=env)


def test_push_multiarch_image_reads_back_with_skopeo(xbuild, built_image, registry_open, tmp_path, clean_env):
    layout, tag = built_image
    ref = f"{registry_open.host}/team/hello-c:1.0"
    p = run([xbuild, "push", f"{layout}:{tag}", ref], env=clean_env)
    want = index_digest(layout, tag)
    assert p.stdout.strip() == f"{registry_open.host}/team/hello-c@{want}"

    # The bytes the registry serves are the layout's index, byte for byte.
    raw = skopeo_raw(ref)
    assert sha(raw) == want
    index = json.loads(raw)
    assert sorted(m["platform"]["architecture"] + m["platform"].get("variant", "") for m in index["manifests"]) == \
        ["amd64", "arm64", "armv7"]

    # skopeo copies every platform back with the same digests.
    back = tmp_path / "back"
    run(["skopeo", "copy", "--all", "--src-tls-verify=false", f"docker://{ref}", f"oci:{back}:copy"])
    back_index = json.loads((back / "index.json").read_text())["manifests"][0]
    assert back_index["digest"] == want
    for m in index["manifests"]:
        blob = (back / "blobs" / "sha256" / m["digest"].split(":")[1]).read_bytes()
        assert sha(blob) == m["digest"]


def test_pulled_arm64_binary_runs_under_qemu(xbuild, built_image, registry_open, tmp_path, clean_env):
    layout, tag = built_image
    ref = f"{registry_open.host}/hello:arm"
    run([xbuild, "push", f"{layout}:{tag}", ref], env=clean_env)
    need("umoci")
    need("qemu-aarch64-static")
    one = tmp_path / "one"
    run(["skopeo", "copy", "--override-arch", "arm64", "--src-tls-verify=false", f"docker://{ref}", f"oci:{one}:arm64"])
    run(["umoci", "raw", "unpack", "--rootless", "--image", f"{one}:arm64", str(tmp_path / "rootfs")])
    binary = tmp_path / "rootfs" / "usr" / "local" / "bin" / "hello"
    assert "ARM aarch64" in run(["file", binary]).stdout
    out = run(["qemu-aarch64-static", "-L", "/usr/aarch64-linux-gnu", binary], timeout=120).stdout
    assert "aarch64" in out or "arm64" in out, out


def test_second_push_uploads_nothing_and_second_repo_mounts(xbuild, built_image, registry_open, clean_env):
    layout, tag = built_image
    first = json.loads(push(xbuild, layout, tag, f"{registry_open.host}/a/app:1", env=clean_env).stdout)[0]
    assert first["blobs_uploaded"] > 0 and first["blobs_existing"] == 0
    blobs = first["blobs_uploaded"]
    again = json.loads(push(xbuild, layout, tag, f"{registry_open.host}/a/app:1", f"{registry_open.host}/b/app:2",
                            env=clean_env).stdout)
    assert again[0]["blobs_uploaded"] == 0 and again[0]["blobs_existing"] == blobs
    # The second repository gets every blob by cross-repository mount, none uploaded.
    assert again[1]["blobs_uploaded"] == 0 and again[1]["blobs_mounted"] == blobs
    assert again[0]["digest"] == again[1]["digest"] == first["digest"]
    assert sha(skopeo_raw(f"{registry_open.host}/b/app:2")) == first["digest"]


def test_absolute_locations_and_chunked_uploads(xbuild, tmp_path, clean_env):
    reg = DockerRegistry(tmp_path / "reg-abs", "open", relative_urls=False)
    try:
        layout = tmp_path / "layout"
        info = make_layout(layout, layer_bytes=300_000, tag="big")
        out = json.loads(push(xbuild, layout, "big", f"{reg.host}/chunks:big", env=clean_env,
                              extra=["--chunk-size", "65536", "--push-jobs", "2"]).stdout)[0]
        assert out["digest"] == info["index"]
        assert sha(skopeo_raw(f"{reg.host}/chunks:big")) == info["index"]
        back = tmp_path / "back"
        run(["skopeo", "copy", "--all", "--src-tls-verify=false", f"docker://{reg.host}/chunks:big", f"oci:{back}:x"])
        assert json.loads((back / "index.json").read_text())["manifests"][0]["digest"] == info["index"]
    finally:
        reg.stop()


def test_basic_auth_with_creds_and_docker_config(xbuild, registry_basic, tmp_path, clean_env):
    layout = tmp_path / "layout"
    info = make_layout(layout)
    ref = f"{registry_basic.host}/secure/app:1"
    # No credentials: a clear error, exit 4.
    p = push(xbuild, layout, "latest", ref, env=clean_env, check=False)
    assert p.returncode == 4
    assert "requires authentication" in p.stderr and "--creds" in p.stderr
    # --creds.
    out = json.loads(push(xbuild, layout, "latest", ref, env=clean_env, extra=["--creds", f"{USER}:{PASSWORD}"]).stdout)
    assert out[0]["digest"] == info["index"]
    # docker's config.json with a base64 auth entry.
    cfg = {"auths": {registry_basic.host: {"auth": base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()}}}
    Path(clean_env["DOCKER_CONFIG"], "config.json").write_text(json.dumps(cfg))
    out = json.loads(push(xbuild, layout, "latest", f"{registry_basic.host}/secure/app:2", env=clean_env).stdout)
    assert out[0]["blobs_uploaded"] == 0
    assert sha(skopeo_raw(f"{registry_basic.host}/secure/app:2", creds=f"{USER}:{PASSWORD}")) == info["index"]


def test_credential_helper_is_used(xbuild, registry_basic, tmp_path, clean_env):
    layout = tmp_path / "layout"
    make_layout(layout)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    helper = bin_dir / "docker-credential-xbtest"
    helper.write_text(f"#!/bin/sh\nread server\necho '{{\"ServerURL\":\"'$server'\",\"Username\":\"{USER}\","
                      f"\"Secret\":\"{PASSWORD}\"}}'\n")
    helper.chmod(0o755)
    Path(clean_env["DOCKER_CONFIG"], "config.json").write_text(json.dumps({"credHelpers": {registry_basic.host: "xbtest"}}))
    env = dict(clean_env, PATH=f"{bin_dir}:{clean_env['PATH']}")
    out = json.loads(push(xbuild, layout, "latest", f"{registry_basic.host}/helper/app:1", env=env).stdout)
    assert out[0]["blobs_uploaded"] > 0


def test_credentials_never_appear_in_output(xbuild, registry_basic, tmp_path, clean_env):
    layout = tmp_path / "layout"
    make_layout(layout)
    b64 = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
    for creds, rc in ((f"{USER}:{PASSWORD}", 0), (f"{USER}:wrong-{PASSWORD}", 4)):
        p = run([xbuild, "-v", "push", "--json", "--creds", creds, f"{layout}:latest",
                 f"{registry_basic.host}/leak/app:1"], check=False, env=clean_env)
        text = p.stdout + p.stderr
        assert p.returncode == rc, text
        assert "xbuild: http: " in text  # -v really logged the requests it made
        if rc == 0:
            assert "xbuild: http: PUT" in text
        assert PASSWORD not in text
        assert b64 not in text
        assert base64.b64encode(creds.encode()).decode() not in text


def test_wrong_password_fails_clearly_without_a_retry_loop(xbuild, tmp_path, fake_registry, clean_env):
    reg = fake_registry(users={USER: PASSWORD})
    layout = tmp_path / "layout"
    make_layout(layout)
    p = push(xbuild, layout, "latest", f"{reg.host}/app:1", env=clean_env, check=False,
             extra=["--creds", f"{USER}:nope"])
    assert p.returncode == 4
    assert "wrong username or password" in p.stderr
    assert "401" in p.stderr
    # One ping and, per worker, one anonymous try and one with credentials: no loop.
    assert len(reg.requests()) <= 1 + 2 * 4
    assert reg.tag("app", "1") is None


def test_token_auth_push_and_a_repository_the_token_does_not_cover(xbuild, token_registry, tmp_path, clean_env):
    reg, tokens = token_registry
    layout = tmp_path / "layout"
    info = make_layout(layout)
    creds = ["--creds", f"{USER}:{PASSWORD}"]
    out = json.loads(push(xbuild, layout, "latest", f"{reg.host}/team/app:1", env=clean_env, extra=creds).stdout)
    assert out[0]["digest"] == info["index"]
    assert any("repository:team/app:pull,push" in s for r in tokens.requests for s in r["scopes"])
    # Four upload workers started together, yet one token request served them all.
    assert len(tokens.requests) == 1
    # Mount into another allowed repo asks for pull on the source too.
    out = json.loads(push(xbuild, layout, "latest", f"{reg.host}/team/app:1", f"{reg.host}/team/other-allowed:1",
                          env=clean_env, extra=creds).stdout)
    assert out[1]["blobs_mounted"] == out[0]["blobs_existing"]
    assert any("repository:team/app:pull" in r["scopes"] and "repository:team/other-allowed:pull,push" in r["scopes"]
               for r in tokens.requests)
    # The token server grants nothing on team/forbidden: a clear error, exit 4, no tag.
    p = push(xbuild, layout, "latest", f"{reg.host}/team/forbidden:1", env=clean_env, extra=creds, check=False)
    assert p.returncode == 4
    assert "team/forbidden" in p.stderr and "no access" in p.stderr
    # Wrong password at the token server.
    p = push(xbuild, layout, "latest", f"{reg.host}/team/app:2", env=clean_env, check=False,
             extra=["--creds", f"{USER}:bad"])
    assert p.returncode == 4 and "wrong username or password" in p.stderr


def test_tls_registry_needs_the_ca(xbuild, registry_tls, pki, tmp_path, clean_env):
    layout = tmp_path / "layout"
    info = make_layout(layout)
    ref = f"{registry_tls.host}/tls/app:1"
    p = push(xbuild, layout, "latest", ref, env=clean_env, check=False)
    assert p.returncode == 4
    assert "--ca-file" in p.stderr
    out = json.loads(push(xbuild, layout, "latest", ref, env=clean_env, extra=["--ca-file", str(pki["ca"])]).stdout)
    assert out[0]["digest"] == info["index"]
    certs = tmp_path / "certs"
    certs.mkdir()
    (certs / "ca.crt").write_bytes(pki["ca"].read_bytes())
    assert sha(skopeo_raw(ref, cert_dir=certs)) == info["index"]
    # --insecure-registry skips verification instead.
    out = json.loads(push(xbuild, layout, "latest", ref, env=clean_env, extra=["--insecure-registry", registry_tls.host]).stdout)
    assert out[0]["blobs_uploaded"] == 0


def test_plain_http_only_for_loopback_or_insecure(xbuild, tmp_path, clean_env):
    layout = tmp_path / "layout"
    make_layout(layout)
    # A non-loopback name: https is required; there is nothing listening, so it fails (exit 4)
    # and never falls back to http.
    p = push(xbuild, layout, "latest", "registry.invalid:5000/app:1", env=clean_env, check=False)
    assert p.returncode == 4
    assert "https://registry.invalid:5000" in p.stderr


def test_inspect_registry_reference(xbuild, built_image, registry_open, clean_env):
    layout, tag = built_image
    ref = f"{registry_open.host}/inspect/app:1.0"
    run([xbuild, "push", f"{layout}:{tag}", ref], env=clean_env)
    doc = json.loads(run([xbuild, "inspect", "--json", ref], env=clean_env).stdout)
    image = doc["images"][0]
    assert image["digest"] == index_digest(layout, tag)
    plats = sorted(p["platform"] for p in image["platforms"])
    assert plats == sorted(PLATFORMS)
    text = run([xbuild, "inspect", ref], env=clean_env).stdout
    assert "linux/arm/v7" in text
    p = run([xbuild, "inspect", f"{registry_open.host}/inspect/app:missing"], check=False, env=clean_env)
    assert p.returncode == 4 and "does not exist" in p.stderr


def test_bad_inputs_name_what_is_wrong(xbuild, tmp_path, clean_env):
    layout = tmp_path / "layout"
    make_layout(layout)
    p = run([xbuild, "push", f"{layout}:latest", "127.0.0.1:5000/Upper/x:1"], check=False, env=clean_env)
    assert p.returncode == 2 and "lowercase" in p.stderr
    p = run([xbuild, "push", f"{layout}:nope", "127.0.0.1:5000/x:1"], check=False, env=clean_env)
    assert p.returncode == 2 and "no image tagged 'nope'" in p.stderr and "latest" in p.stderr
    p = run([xbuild, "push", str(tmp_path / "missing"), "127.0.0.1:5000/x:1"], check=False, env=clean_env)
    assert p.returncode == 2 and "neither an OCI layout directory nor an oci-archive" in p.stderr
    (tmp_path / "junk.tar").write_text("not a tar")
    p = run([xbuild, "push", str(tmp_path / "junk.tar"), "127.0.0.1:5000/x:1"], check=False, env=clean_env)
    assert p.returncode == 2 and "junk.tar" in p.stderr
    (tmp_path / "empty").mkdir()
    p = run([xbuild, "push", str(tmp_path / "empty"), "127.0.0.1:5000/x:1"], check=False, env=clean_env)
    assert p.returncode == 2 and "oci-layout" in p.stderr
    p = run([xbuild, "push", "--creds", "nocolon", f"{layout}:latest", "127.0.0.1:5000/x:1"], check=False, env=clean_env)
    assert p.returncode == 2 and "USER:PASSWORD" in p.stderr


def test_build_push_to_two_tags(xbuild, tmp_path, registry_open, clean_env):
    import shutil
    from conftest import PROJECTS
    proj = tmp_path / "go"
    shutil.copytree(PROJECTS / "go", proj, ignore=shutil.ignore_patterns(".xbuild"))
    out = tmp_path / "oci"
    a, b = f"{registry_open.host}/go/hello:1", f"{registry_open.host}/go/mirror:1"
    p = run([xbuild, "-C", proj, "build", "--json", "--platform", "linux/amd64,linux/arm64,linux/arm/v7",
             "--output", f"type=oci,dest={out}", "--push", "-t", a, "-t", b], env=clean_env, timeout=1800)
    doc = json.loads(p.stdout)
    digest = doc["image"]["digest"]
    assert [x["reference"] for x in doc["pushed"]] == [f"{registry_open.host}/go/hello@{digest}",
                                                      f"{registry_open.host}/go/mirror@{digest}"]
    assert sha(skopeo_raw(a)) == sha(skopeo_raw(b)) == digest
    # The arm/v7 binary, pulled back with skopeo, is an ARM executable that runs under qemu.
    need("qemu-arm-static")
    one = tmp_path / "armv7"
    run(["skopeo", "copy", "--override-arch", "arm", "--override-variant", "v7", "--src-tls-verify=false",
         f"docker://{a}", f"oci:{one}:v7"])
    run(["umoci", "raw", "unpack", "--rootless", "--image", f"{one}:v7", str(tmp_path / "rootfs")])
    binary = tmp_path / "rootfs" / "usr" / "local" / "bin" / "hello"
    assert "ARM," in run(["file", binary]).stdout
    out = run(["qemu-arm-static", binary], timeout=120).stdout
    assert "arm" in out, out


def test_identity_token_from_docker_config(xbuild, token_registry, tmp_path, clean_env):
    from registry_fixtures import IDENTITY_TOKEN
    reg, tokens = token_registry
    layout = tmp_path / "layout"
    info = make_layout(layout)
    cfg = {"auths": {f"http://{reg.host}": {"auth": "", "identitytoken": IDENTITY_TOKEN}}}
    Path(clean_env["DOCKER_CONFIG"], "config.json").write_text(json.dumps(cfg))
    p = run([xbuild, "-v", "push", "--json", f"{layout}:latest", f"{reg.host}/team/app:id"], env=clean_env)
    assert json.loads(p.stdout)[0]["digest"] == info["index"]
    # The refresh-token grant was used (POST), and the token never shows in the log.
    assert any(r.get("grant") == "refresh_token" for r in tokens.requests)
    assert IDENTITY_TOKEN not in p.stdout + p.stderr
