"""Faults docker-registry cannot produce on demand, from the tests' own fake registry: 5xx
in the middle of an upload, a dropped connection, a wrong Docker-Content-Digest, 202 on
POST ?digest=, 416 on a chunk, MANIFEST_INVALID on an OCI index, an interrupted push. After
every failure the tag must not exist: the index goes up last, only when all else worked."""
import json

from conftest import run
from fake_registry import OCI_INDEX
from registry_fixtures import *  # noqa: F401,F403 (fixtures)
from registry_fixtures import Fault, make_layout


def push(xbuild, layout, ref, env, *extra, check=True):
    return run([xbuild, "push", "--json", *extra, f"{layout}:latest", ref], check=check, env=env)


def assert_no_tag(reg, repo, tag):
    assert reg.tag(repo, tag) is None
    assert not reg.requests("PUT", rf"/manifests/{tag}$") or \
        all(r.status != 201 for r in reg.requests("PUT", rf"/manifests/{tag}$"))


def test_5xx_mid_upload_is_retried(xbuild, tmp_path, fake_registry, clean_env):
    reg = fake_registry(post_digest_202=True, faults=[Fault("PUT", r"/blobs/uploads/", "status:500", after=1, times=2)])
    layout = tmp_path / "l"
    info = make_layout(layout)
    out = json.loads(push(xbuild, layout, f"{reg.host}/app:1", clean_env).stdout)[0]
    assert out["digest"] == info["index"]
    assert reg.tag("app", "1") == info["index"]
    assert len([r for r in reg.requests("PUT", "/blobs/uploads/") if r.status == 500]) == 2


def test_5xx_that_persists_fails_after_the_bound(xbuild, tmp_path, fake_registry, clean_env):
    reg = fake_registry(post_digest_202=True, faults=[Fault("PUT", r"/blobs/uploads/", "status:503", times=-1)])
    layout = tmp_path / "l"
    make_layout(layout, platforms=["linux/amd64"])
    p = push(xbuild, layout, f"{reg.host}/app:1", clean_env, "--retries", "3", "--push-jobs", "1", check=False)
    assert p.returncode == 4
    assert "gave up after 3 attempts" in p.stderr
    assert "503" in p.stderr and "UNKNOWN: injected fault 503" in p.stderr
    assert "PUT http://" in p.stderr  # the failing request is named
    # Every blob failed for that one cause: one error, with a count, not one per blob.
    assert len([l for l in p.stderr.splitlines() if "injected fault 503" in l]) == 1, p.stderr
    assert "more blobs for the same reason" in p.stderr
    # Each blob was tried exactly 3 times, then the push stopped: bounded, no loop.
    assert len(reg.requests("PUT", "/blobs/uploads/")) <= 3 * 3
    assert_no_tag(reg, "app", "1")


def test_dropped_connection_is_retried(xbuild, tmp_path, fake_registry, clean_env):
    reg = fake_registry(post_digest_202=True, faults=[Fault("PUT", r"/blobs/uploads/", "drop", times=1)])
    layout = tmp_path / "l"
    info = make_layout(layout)
    out = json.loads(push(xbuild, layout, f"{reg.host}/app:1", clean_env).stdout)[0]
    assert out["digest"] == info["index"]
    assert any(r.status == 0 for r in reg.requests("PUT"))
    assert reg.tag("app", "1") == info["index"]


def test_wrong_docker_content_digest_fails(xbuild, tmp_path, fake_registry, clean_env):
    reg = fake_registry(faults=[Fault("PUT", r"/manifests/sha256:", "wrong-digest", times=-1)])
    layout = tmp_path / "l"
    make_layout(layout)
    p = push(xbuild, layout, f"{reg.host}/app:1", clean_env, check=False)
    assert p.returncode == 4
    assert "Docker-Content-Digest sha256:" + "0" * 64 in p.stderr
    assert_no_tag(reg, "app", "1")


def test_202_on_post_with_digest_falls_back_to_put(xbuild, tmp_path, fake_registry, clean_env):
    reg = fake_registry(post_digest_202=True)
    layout = tmp_path / "l"
    info = make_layout(layout)
    out = json.loads(push(xbuild, layout, f"{reg.host}/app:1", clean_env, "--push-jobs", "1").stdout)[0]
    assert out["digest"] == info["index"]
    posts = reg.requests("POST", "/blobs/uploads/")
    # The first blob tried the single POST, got 202 and was PUT; later blobs go straight to POST + PUT.
    assert "digest" in posts[0].query and posts[0].status == 202
    assert all("digest" not in p.query for p in posts[1:])
    assert len(reg.blob_uploads()) == out["blobs_uploaded"]
    assert reg.tag("app", "1") == info["index"]


def test_single_post_upload_when_the_registry_supports_it(xbuild, tmp_path, fake_registry, clean_env):
    reg = fake_registry()
    layout = tmp_path / "l"
    info = make_layout(layout)
    out = json.loads(push(xbuild, layout, f"{reg.host}/app:1", clean_env, "--push-jobs", "1").stdout)[0]
    assert out["digest"] == info["index"]
    assert not reg.requests("PUT", "/blobs/uploads/")
    assert all(r.status == 201 for r in reg.requests("POST", "/blobs/uploads/"))


def test_416_on_a_chunk_asks_status_and_resumes(xbuild, tmp_path, fake_registry, clean_env):
    reg = fake_registry(absolute_locations=True,
                        faults=[Fault("PATCH", r"/blobs/uploads/", "status:416:BLOB_UPLOAD_INVALID", after=1, times=1),
                                Fault("PATCH", r"/blobs/uploads/", "drop", after=4, times=1)])
    layout = tmp_path / "l"
    info = make_layout(layout, platforms=["linux/arm64"], layer_bytes=400_000)
    out = json.loads(push(xbuild, layout, f"{reg.host}/app:1", clean_env, "--chunk-size", "65536",
                          "--push-jobs", "1").stdout)[0]
    assert out["digest"] == info["index"]
    patches = reg.requests("PATCH")
    assert any(p.status == 416 for p in patches) and any(p.status == 0 for p in patches)
    # Each failure was followed by a status GET on the upload, not a blind repeat.
    assert len([r for r in reg.requests("GET", "/blobs/uploads/") if r.status == 204]) == 2
    assert reg.tag("app", "1") == info["index"]


def test_manifest_invalid_on_oci_index_is_a_clear_error(xbuild, tmp_path, fake_registry, clean_env):
    reg = fake_registry(faults=[Fault("PUT", r"/manifests/", "status:400:MANIFEST_INVALID", times=-1,
                                      content_type=OCI_INDEX)])
    layout = tmp_path / "l"
    make_layout(layout)
    p = push(xbuild, layout, f"{reg.host}/app:1", clean_env, check=False)
    assert p.returncode == 4
    assert "MANIFEST_INVALID" in p.stderr and "does not accept OCI image indexes" in p.stderr
    assert "PUT http://" in p.stderr and "/manifests/1" in p.stderr
    assert_no_tag(reg, "app", "1")


def test_interrupted_push_then_rerun_uploads_only_missing_blobs(xbuild, tmp_path, fake_registry, clean_env):
    fault = Fault("PUT", r"/blobs/uploads/", "status:500", after=3, times=-1)
    reg = fake_registry(post_digest_202=True, faults=[fault])
    layout = tmp_path / "l"
    info = make_layout(layout)
    p = push(xbuild, layout, f"{reg.host}/app:1", clean_env, "--push-jobs", "1", "--retries", "1", check=False)
    assert p.returncode == 4
    assert_no_tag(reg, "app", "1")
    done = len(reg.blob_uploads())
    assert done == 3
    reg.faults.clear()
    out = json.loads(push(xbuild, layout, f"{reg.host}/app:1", clean_env).stdout)[0]
    assert out["blobs_existing"] == done
    assert out["blobs_uploaded"] == len(reg.blob_uploads()) - done > 0
    assert reg.tag("app", "1") == info["index"]


def test_authorization_is_not_forwarded_to_another_host_on_redirect(xbuild, tmp_path, fake_registry, clean_env):
    from fake_registry import BlobHost
    from registry_fixtures import PASSWORD, USER
    storage = BlobHost()
    try:
        reg = fake_registry(users={USER: PASSWORD}, blob_redirect=storage)
        layout = tmp_path / "l"
        make_layout(layout, platforms=["linux/arm64"], single=True)
        creds = ["--creds", f"{USER}:{PASSWORD}"]
        run([xbuild, "push", *creds, f"{layout}:latest", f"{reg.host}/app:1"], env=clean_env)
        # inspect reads the config blob: the registry redirects it to the storage host.
        doc = json.loads(run([xbuild, "inspect", "--json", *creds, f"{reg.host}/app:1"], env=clean_env).stdout)
        assert "arm64" in json.dumps(doc["images"][0]["platforms"])
        assert storage.authorization, "the blob was not fetched through the redirect"
        assert all(a is None for a in storage.authorization)
        # ...while every request to the registry itself carried the credentials.
        assert all(r.auth for r in reg.requests("GET", "/blobs/"))
        # A pull downloads layers through the same redirect, again without credentials.
        run([xbuild, "pull", *creds, f"{reg.host}/app:1"], env=clean_env)
        assert len(storage.authorization) >= 3 and all(a is None for a in storage.authorization)
    finally:
        storage.stop()


def test_uploads_are_parallel_but_bounded_over_reused_connections(xbuild, tmp_path, fake_registry, clean_env):
    reg = fake_registry(post_digest_202=True)
    layout = tmp_path / "l"
    make_layout(layout, platforms=["linux/amd64", "linux/arm64", "linux/arm/v7", "linux/riscv64"])
    run([xbuild, "push", "--push-jobs", "2", f"{layout}:latest", f"{reg.host}/app:1"], env=clean_env)
    requests = reg.requests()
    assert len(requests) >= 25
    # Two upload workers plus one connection for the manifests: every other request reused one.
    assert len({r.conn for r in requests}) <= 3
    blob_conns = {r.conn for r in requests if "/blobs/" in r.path}
    assert len(blob_conns) == 2


def test_opt_in_docker_manifest_list_fallback(xbuild, tmp_path, fake_registry, clean_env):
    from fake_registry import DOCKER_LIST, DOCKER_MANIFEST
    from registry_fixtures import sha, skopeo_raw
    reg = fake_registry(faults=[Fault("PUT", r"/manifests/", "status:400:MANIFEST_INVALID", times=-1,
                                      content_type=OCI_INDEX)])
    layout = tmp_path / "l"
    info = make_layout(layout)
    p = push(xbuild, layout, f"{reg.host}/app:1", clean_env, "--docker-manifest-list-fallback")
    out = json.loads(p.stdout)[0]
    assert "warning" in p.stderr and "Docker manifest list" in p.stderr
    assert out["digest"] != info["index"]
    ctype, body = reg.manifest("app", "1")
    assert ctype == DOCKER_LIST and sha(body) == out["digest"]
    # An independent reader sees a manifest list whose children keep the OCI image's blobs.
    raw = skopeo_raw(f"{reg.host}/app:1")
    assert sha(raw) == out["digest"]
    listing = json.loads(raw)
    assert len(listing["manifests"]) == 3
    for entry in listing["manifests"]:
        ctype, child = reg.manifest("app", entry["digest"])
        assert ctype == DOCKER_MANIFEST
        doc = json.loads(child)
        plat = entry["platform"]
        name = "/".join(filter(None, [plat["os"], plat["architecture"], plat.get("variant")]))
        original = json.loads((layout / "blobs" / "sha256" / info["manifests"][name].split(":")[1]).read_text())
        assert doc["config"]["digest"] == original["config"]["digest"]
        assert [l["digest"] for l in doc["layers"]] == [l["digest"] for l in original["layers"]]
    back = tmp_path / "back"
    run(["skopeo", "copy", "--all", "--src-tls-verify=false", f"docker://{reg.host}/app:1", f"dir:{back}"])


def test_push_killed_midway_then_rerun_uploads_only_missing_blobs(xbuild, tmp_path, fake_registry, clean_env):
    import signal
    import subprocess
    # The fourth blob upload is held open until xbuild has been interrupted (SIGINT).
    reg = fake_registry(post_digest_202=True, faults=[Fault("PUT", r"/blobs/uploads/", "hold", after=3, times=1)])
    layout = tmp_path / "l"
    info = make_layout(layout, layer_bytes=50_000)
    proc = subprocess.Popen([str(xbuild), "push", "--json", "--push-jobs", "1", f"{layout}:latest", f"{reg.host}/app:1"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=clean_env)
    try:
        assert reg.held.wait(120), "the push never reached the held upload"
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode != 0
    reg.release.set()
    assert reg.tag("app", "1") is None
    committed = len(reg.blob_uploads())
    assert committed == 3
    out = json.loads(push(xbuild, layout, f"{reg.host}/app:1", clean_env).stdout)[0]
    assert out["blobs_existing"] == committed
    assert out["blobs_uploaded"] == len(reg.blob_uploads()) - committed > 0
    assert reg.tag("app", "1") == info["index"]


def test_refused_connection_fails_at_once_with_one_line(xbuild, tmp_path, clean_env):
    # Issue 15: a closed port took 45 s (each of 4 workers re-pinged with retries) and printed
    # four identical lines. A refused connection is a final answer: one ping per scheme, no retry.
    from registry_fixtures import free_port
    port = free_port()  # bound and closed again: nothing listens there
    layout = tmp_path / "l"
    make_layout(layout)
    p = run([xbuild, "-v", "push", f"{layout}:latest", f"127.0.0.1:{port}/app:1"], check=False, env=clean_env)
    assert p.returncode == 4, p.stderr
    attempts = [l for l in p.stderr.splitlines() if l.startswith("xbuild: http: ")]
    # https first, then plain http (allowed for loopback), each tried once.
    assert attempts == [f"xbuild: http: GET https://127.0.0.1:{port}/v2/ -> Couldn't connect to server",
                        f"xbuild: http: GET http://127.0.0.1:{port}/v2/ -> Couldn't connect to server"], p.stderr
    assert "retrying" not in p.stderr
    errors = [l for l in p.stderr.splitlines() if "connection refused" in l]
    assert len(errors) == 1, p.stderr
    assert errors[0].startswith("xbuild: error: ") and f"nothing listens on 127.0.0.1:{port}" in errors[0]
