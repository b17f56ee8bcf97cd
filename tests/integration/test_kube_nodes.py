"""`xbuild cluster platforms` through real kubectl (/usr/bin/kubectl) against a small API server
of the test's own (kube_api.py: HTTPS, a bearer token it checks, nodes shaped like a real
cluster's), and from a saved node list with --nodes."""
import json
import os

import pytest

from conftest import need, run
from kube_api import MIXED, KubeApi, node, node_list


@pytest.fixture
def api(tmp_path):
    need("kubectl")
    need("openssl")
    server = KubeApi(MIXED, tmp_path)
    yield server
    server.stop()


def kube_env(tmp_path, kubeconfig):
    # HOME apart, so kubectl's discovery cache of one test never answers for another.
    return dict(os.environ, KUBECONFIG=str(kubeconfig), HOME=str(tmp_path))


def test_platforms_come_from_the_nodes_with_their_counts(xbuild, api, tmp_path):
    env = kube_env(tmp_path, api.kubeconfig(tmp_path / "kubeconfig"))
    p = run([xbuild, "cluster", "platforms"], env=env)
    rows = [line.split() for line in p.stdout.splitlines()]
    assert rows == [["linux/amd64", "1", "node"], ["linux/arm/v7", "1", "node"], ["linux/arm64", "2", "nodes"]], p.stdout
    assert "/api/v1/nodes" in api.paths  # kubectl really asked the server
    j = json.loads(run([xbuild, "cluster", "platforms", "--json"], env=env).stdout)
    assert {e["platform"]: e["nodes"] for e in j["platforms"]} == {
        "linux/amd64": ["cp-1"], "linux/arm/v7": ["edge-1"], "linux/arm64": ["worker-a1", "worker-a2"]}


def test_arm_variant_flag_and_label(xbuild, api, tmp_path):
    env = kube_env(tmp_path, api.kubeconfig(tmp_path / "kubeconfig"))
    p = run([xbuild, "cluster", "platforms", "--arm-variant", "v6"], env=env)
    assert "linux/arm/v6" in p.stdout and "linux/arm/v7" not in p.stdout
    api.nodes = [node("pi-1", "arm", variant="v6"), node("pi-2", "arm")]
    p = run([xbuild, "cluster", "platforms"], env=env)
    assert [line.split()[0] for line in p.stdout.splitlines()] == ["linux/arm/v6", "linux/arm/v7"], p.stdout


def test_named_context_is_used(xbuild, api, tmp_path):
    kc = api.kubeconfig(tmp_path / "kubeconfig", context="edge")
    p = run([xbuild, "cluster", "platforms", "--kube-context", "edge"], env=kube_env(tmp_path, kc))
    assert "linux/arm64" in p.stdout
    p = run([xbuild, "cluster", "platforms", "--kube-context", "nosuch"], env=kube_env(tmp_path, kc), check=False)
    assert p.returncode == 4 and "'nosuch'" in p.stderr and p.stdout == "", p.stderr


def test_wrong_token_gets_kubectls_words_the_context_and_exit_4(xbuild, api, tmp_path):
    kc = api.kubeconfig(tmp_path / "kubeconfig", token="not-the-token")
    p = run([xbuild, "cluster", "platforms"], env=kube_env(tmp_path, kc), check=False)
    assert p.returncode == 4, p.stderr
    assert "context 'mixed-test'" in p.stderr
    assert "error: You must be logged in to the server" in p.stderr
    assert "not-the-token" not in p.stderr
    assert "memcache.go" not in p.stderr  # client-go's retry noise is left out
    assert p.stdout == ""


def test_closed_port_exits_4(xbuild, api, tmp_path):
    kc = api.kubeconfig(tmp_path / "kubeconfig", port=1)
    p = run([xbuild, "cluster", "platforms"], env=kube_env(tmp_path, kc), check=False)
    assert p.returncode == 4 and "refused" in p.stderr and "context 'mixed-test'" in p.stderr, p.stderr


def test_nodes_file_offline_and_unknown_architecture_named(xbuild, tmp_path):
    f = tmp_path / "nodes.json"
    f.write_text(json.dumps(node_list([node("a", "amd64"), node("b", "riscv64")])))
    p = run([xbuild, "cluster", "platforms", "--nodes", f], env=dict(os.environ, KUBECONFIG="/nonexistent"))
    assert [line.split()[0] for line in p.stdout.splitlines()] == ["linux/amd64", "linux/riscv64"]
    f.write_text(json.dumps(node_list([node("a", "amd64"), node("sparc-box", "sparc64"), node("win-1", "amd64", os_="windows")])))
    p = run([xbuild, "cluster", "platforms", "--nodes", f], check=False)
    assert p.returncode == 3 and "sparc-box (linux/sparc64)" in p.stderr and "win-1 (windows/amd64)" in p.stderr and p.stdout == "", p.stderr


@pytest.mark.parametrize("content,words", [
    ("{not json", "not JSON"),
    ('{"kind": "PodList", "items": []}', "kind is 'PodList'"),
    ('{"kind": "List", "items": [{"metadata": {}}]}', "no metadata.name"),
    ("[" * 100000, "not JSON"),
])
def test_bad_nodes_file_is_named_exit_2(xbuild, tmp_path, content, words):
    f = tmp_path / "nodes.json"
    f.write_text(content)
    p = run([xbuild, "cluster", "platforms", "--nodes", f], check=False)
    assert p.returncode == 2 and str(f) in p.stderr and words in p.stderr, p.stderr


def test_missing_nodes_file(xbuild, tmp_path):
    p = run([xbuild, "cluster", "platforms", "--nodes", tmp_path / "nope.json"], check=False)
    assert p.returncode == 2 and "nope.json" in p.stderr, p.stderr
