"""Issue 15, "Failures people must see", for `build --push`, against real docker-registry
instances on 127.0.0.1 (and a closed port): a push that fails after the build still shows
the build's results and the command that retries only the push; credentials that are wrong
and registries that are down are found before anything is built; a wrong --ca-file gets
advice about that file. Every case checks its exit code (README: 4 for a registry failure)."""
import json
import shlex
import shutil

from conftest import PROJECTS, run
from registry_fixtures import *  # noqa: F401,F403 (fixtures)
from registry_fixtures import PASSWORD, USER, make_layout, make_pki, sha, skopeo_raw


def c_project(tmp_path):
    proj = tmp_path / "c-make"
    shutil.copytree(PROJECTS / "c-make", proj, ignore=shutil.ignore_patterns(".xbuild"))
    return proj


def build(xbuild, proj, env, *extra):
    return run([xbuild, "-C", proj, "build", "--progress", "plain", "--platform", "linux/amd64,linux/arm64", *extra],
               check=False, env=env, timeout=1800)


def test_failed_push_after_the_build_shows_results_then_the_retry_command(xbuild, tmp_path, token_registry, clean_env):
    # The token server grants nothing on team/forbidden: the pre-flight gets a token, the
    # push is refused once it starts, after the build.
    reg, _ = token_registry
    proj = c_project(tmp_path)
    ref = f"{reg.host}/team/forbidden:1"
    p = build(xbuild, proj, clean_env, "--push", "-t", ref, "--creds", f"{USER}:{PASSWORD}")
    assert p.returncode == 4, p.stderr
    err = p.stderr.splitlines()
    ok_lines = [i for i, l in enumerate(err) if l.startswith("xbuild: linux/") and " ok (" in l]
    image_line = [i for i, l in enumerate(err) if l.startswith("xbuild: image sha256:")]
    error_line = [i for i, l in enumerate(err) if l.startswith("xbuild: error: ")]
    assert len(ok_lines) == 2 and len(image_line) == 1 and len(error_line) == 1, p.stderr
    # The build's results come first, then the push error.
    assert max(ok_lines) < image_line[0] < error_line[0], p.stderr
    assert "team/forbidden" in err[error_line[0]]
    layout = proj / ".xbuild" / "oci"
    assert f"the image is in {layout} (tag 1)" in p.stderr
    assert PASSWORD not in p.stdout + p.stderr
    retry = [l.strip() for l in err[error_line[0]:] if l.strip().startswith("xbuild push ")]
    assert retry == [f"xbuild push {layout}:1 {ref}  (with the same --creds)"], p.stderr
    # The command works as printed (with the credentials) once the repository is one the
    # user may push to, and pushes the image that was built: nothing is rebuilt.
    argv = shlex.split(retry[0].split("  (")[0])
    allowed = f"{reg.host}/team/app:1"
    argv[-1] = allowed
    run([xbuild, *argv[1:2], "--creds", f"{USER}:{PASSWORD}", *argv[2:]], env=clean_env)
    digest = json.loads((layout / "index.json").read_text())["manifests"][0]["digest"]
    assert sha(skopeo_raw(allowed, creds=f"{USER}:{PASSWORD}")) == digest


def test_failed_push_with_json_keeps_the_build_result(xbuild, tmp_path, token_registry, clean_env):
    reg, _ = token_registry
    proj = c_project(tmp_path)
    p = build(xbuild, proj, clean_env, "--json", "--push", "-t", f"{reg.host}/team/forbidden:1",
              "--creds", f"{USER}:{PASSWORD}")
    assert p.returncode == 4, p.stderr
    doc = json.loads(p.stdout)
    assert doc["ok"] is True and doc["image"]["digest"].startswith("sha256:")
    assert "team/forbidden" in doc["push_error"] and "xbuild push " in doc["push_error"]
    assert "pushed" not in doc


def unrelated_ca(path):
    """A self-signed CA certificate with another name than the tests' CA."""
    import datetime
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import NameOID
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "an unrelated CA")])
    now = datetime.datetime.utcnow()
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=30))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True).sign(key, hashes.SHA256()))
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return path


def assert_nothing_built(proj, p):
    assert "(checked before building: nothing was built)" in p.stderr, p.stderr
    assert not (proj / ".xbuild" / "oci").exists()
    assert not (proj / ".xbuild" / "out").exists()
    assert not any(l.startswith("[linux/") or " ok (" in l for l in p.stderr.splitlines()), p.stderr


def test_wrong_basic_credentials_are_found_before_building(xbuild, tmp_path, registry_basic, clean_env):
    proj = c_project(tmp_path)
    ref = f"{registry_basic.host}/team/app:1"
    p = build(xbuild, proj, clean_env, "--push", "-t", ref, "--creds", f"{USER}:wrong-{PASSWORD}")
    assert p.returncode == 4, p.stderr
    assert_nothing_built(proj, p)
    assert f"{registry_basic.host} rejected the credentials from --creds" in p.stderr
    assert "--creds USER:PASSWORD or docker login" in p.stderr and "401" in p.stderr
    assert PASSWORD not in p.stdout + p.stderr
    # No credentials at all: the same, before building.
    p = build(xbuild, proj, clean_env, "--push", "-t", ref)
    assert p.returncode == 4, p.stderr
    assert_nothing_built(proj, p)
    assert f"{registry_basic.host} requires authentication" in p.stderr
    # The right ones: built and pushed, read back by skopeo.
    p = build(xbuild, proj, clean_env, "--json", "--push", "-t", ref, "--creds", f"{USER}:{PASSWORD}")
    assert p.returncode == 0, p.stderr
    assert sha(skopeo_raw(ref, creds=f"{USER}:{PASSWORD}")) == json.loads(p.stdout)["image"]["digest"]


def test_wrong_token_credentials_are_found_before_building(xbuild, tmp_path, token_registry, clean_env):
    reg, tokens = token_registry
    proj = c_project(tmp_path)
    p = build(xbuild, proj, clean_env, "--push", "-t", f"{reg.host}/team/app:1", "--creds", f"{USER}:bad")
    assert p.returncode == 4, p.stderr
    assert_nothing_built(proj, p)
    assert f"the token server of {reg.host} refused to authenticate as {USER}" in p.stderr
    assert "--creds USER:PASSWORD or docker login" in p.stderr
    assert len(tokens.requests) == 1  # one token round trip, no retry


def test_unreachable_registry_is_found_before_building(xbuild, tmp_path, clean_env):
    from registry_fixtures import free_port
    port = free_port()
    proj = c_project(tmp_path)
    p = build(xbuild, proj, clean_env, "--push", "-t", f"127.0.0.1:{port}/app:1")
    assert p.returncode == 4, p.stderr
    assert_nothing_built(proj, p)
    assert f"no answer from 127.0.0.1:{port}: GET http://127.0.0.1:{port}/v2/: connection refused" in p.stderr
    assert len([l for l in p.stderr.splitlines() if "connection refused" in l]) == 1


def test_a_ca_file_that_is_not_the_signer_gets_advice_about_that_file(xbuild, tmp_path, registry_tls, pki, clean_env):
    # Two wrong files: a regenerated CA (same name, another key: the signature check fails in
    # the handshake) and an unrelated CA ("not trusted").
    other = make_pki(tmp_path / "other-pki")
    unrelated = unrelated_ca(tmp_path / "unrelated.pem")
    wrong = {other["ca"]: "not an older or another CA of the same name", unrelated: "not signed by a CA in --ca-file"}
    layout = tmp_path / "l"
    make_layout(layout)
    ref = f"{registry_tls.host}/tls/app:1"
    for ca, why in wrong.items():
        p = run([xbuild, "push", "--ca-file", ca, f"{layout}:latest", ref], check=False, env=clean_env)
        assert p.returncode == 4, p.stderr
        assert why in p.stderr and f"--ca-file {ca}" in p.stderr, p.stderr
        assert "the CA certificate that signed the registry's certificate" in p.stderr
        assert "pass --ca-file" not in p.stderr
        # One line about the cause, not one per blob (and no fallback to plain http).
        assert len([l for l in p.stderr.splitlines() if "--ca-file" in l]) == 1, p.stderr
        assert "http://" not in p.stderr
    # The same before a build with --push.
    proj = c_project(tmp_path)
    p = build(xbuild, proj, clean_env, "--push", "-t", ref, "--ca-file", str(unrelated))
    assert p.returncode == 4, p.stderr
    assert_nothing_built(proj, p)
    assert f"not signed by a CA in --ca-file {unrelated}" in p.stderr


def test_a_ca_file_that_is_not_pem_or_missing_is_named(xbuild, tmp_path, registry_tls, pki, clean_env):
    layout = tmp_path / "l"
    make_layout(layout)
    ref = f"{registry_tls.host}/tls/app:1"
    der = tmp_path / "ca.der"  # the right CA, in the wrong encoding
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization
    der.write_bytes(x509.load_pem_x509_certificate(pki["ca"].read_bytes()).public_bytes(serialization.Encoding.DER))
    for path, why in ((der, "holds no PEM certificate"), (tmp_path / "missing.pem", "no such file")):
        for argv in (["push", "--ca-file", path, f"{layout}:latest", ref],
                     ["-C", c_project(tmp_path / why.replace(" ", "-")), "build", "--push", "-t", ref,
                      "--ca-file", path]):
            p = run([xbuild, *argv], check=False, env=clean_env)
            assert p.returncode == 2, p.stderr
            assert f"--ca-file: {path}: {why}" in p.stderr
            assert "give the PEM file of the CA certificate that signed the registry's certificate" in p.stderr
            assert "pass --ca-file" not in p.stderr
