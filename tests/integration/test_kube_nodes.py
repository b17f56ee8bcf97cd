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


# --- --platform cluster on build, plan, matrix, test, bench ------------------------------
def nodes_file(tmp_path, nodes, name="nodes.json"):
    f = tmp_path / name
    f.write_text(json.dumps(node_list(nodes)))
    return f


ARM64_ONLY = [node("a1", "arm64"), node("a2", "arm64"), node("a3", "arm64")]


def test_build_platform_cluster_builds_exactly_the_nodes_platforms(xbuild, api, tmp_path, project_copy):
    proj = project_copy("c-make")
    env = kube_env(tmp_path, api.kubeconfig(tmp_path / "kubeconfig"))
    out = tmp_path / "oci"
    p = run([xbuild, "-C", proj, "build", "--platform", "cluster", "-o", f"type=oci,dest={out}", "--json"], env=env)
    built = sorted(r["platform"] for r in json.loads(p.stdout)["platforms"])
    assert built == ["linux/amd64", "linux/arm/v7", "linux/arm64"], p.stdout
    assert "/api/v1/nodes" in api.paths
    assert "cluster runs linux/amd64 (1 node), linux/arm/v7 (1 node), linux/arm64 (2 nodes): building 3 platforms" in p.stderr
    index = json.loads((out / "index.json").read_text())
    top = json.loads((out / "blobs" / "sha256" / index["manifests"][0]["digest"].split(":")[1]).read_text())
    assert sorted("/".join(filter(None, [m["platform"]["os"], m["platform"]["architecture"], m["platform"].get("variant")]))
                  for m in top["manifests"]) == built


def test_single_architecture_cluster_builds_one_platform_and_says_so(xbuild, tmp_path, project_copy):
    proj = project_copy("c-make")
    f = nodes_file(tmp_path, ARM64_ONLY)
    p = run([xbuild, "-C", proj, "build", "--platform", "cluster", "--nodes", f, "--json"])
    assert [r["platform"] for r in json.loads(p.stdout)["platforms"]] == ["linux/arm64"]
    assert "cluster runs only linux/arm64 (3 nodes): building one platform" in p.stderr, p.stderr
    out = run(["file", proj / ".xbuild" / "out" / "linux_arm64" / "hello"]).stdout
    assert "ARM aarch64" in out, out


def test_plan_platform_cluster_mixed_with_others_is_the_union(xbuild, tmp_path, project_copy):
    proj = project_copy("c-make")
    f = nodes_file(tmp_path, ARM64_ONLY)

    def planned(value, *extra):
        p = run([xbuild, "-C", proj, "plan", "--json", "--platform", value, "--nodes", f, *extra])
        return [e["platform"] for e in json.loads(p.stdout)["platforms"]], p.stderr

    got, err = planned("Cluster,linux/riscv64")
    assert got == ["linux/arm64", "linux/riscv64"]
    assert "cluster runs only linux/arm64 (3 nodes): building 2 platforms" in err, err
    assert planned("linux/arm64,cluster")[0] == ["linux/arm64"]  # named twice, built once
    mixed = nodes_file(tmp_path, MIXED, "mixed.json")
    p = run([xbuild, "-C", proj, "plan", "--json", "--platform", "linux/riscv64", "--platform", "cluster",
             "--nodes", mixed, "--arm-variant", "v6"])
    assert [e["platform"] for e in json.loads(p.stdout)["platforms"]] == [
        "linux/riscv64", "linux/amd64", "linux/arm/v6", "linux/arm64"]
    p = run([xbuild, "-C", proj, "plan", "--platform", "cluster,linux/arm64,linux/arm64", "--nodes", f], check=False)
    assert p.returncode == 2 and "--platform" in p.stderr and "twice" in p.stderr, p.stderr


def test_matrix_test_and_bench_take_platform_cluster(xbuild, tmp_path, project_copy):
    need("qemu-aarch64-static")
    proj = project_copy("c-make")
    f = nodes_file(tmp_path, ARM64_ONLY)
    m = json.loads(run([xbuild, "-C", proj, "matrix", "--platform", "cluster", "--nodes", f]).stdout)
    assert [e["platform"] for e in m["include"]] == ["linux/arm64"], m
    t = run([xbuild, "-C", proj, "test", "--build", "--json", "--platform", "cluster", "--nodes", f])
    assert [(r["platform"], r["ok"]) for r in json.loads(t.stdout)["platforms"]] == [("linux/arm64", True)], t.stdout
    b = run([xbuild, "-C", proj, "bench", "--platform", "cluster", "--nodes", f, "--strategies", "cross",
             "--json", tmp_path / "bench.json"])
    rows = json.loads((tmp_path / "bench.json").read_text())
    assert {r["platform"] for r in rows["results"]} == {"linux/arm64"}, rows
    assert "building one platform" in b.stderr


def test_platform_cluster_errors_are_those_of_cluster_platforms(xbuild, api, tmp_path, project_copy):
    proj = project_copy("c-make")
    kc = api.kubeconfig(tmp_path / "kubeconfig", port=1)
    p = run([xbuild, "-C", proj, "build", "--platform", "cluster"], env=kube_env(tmp_path, kc), check=False)
    assert p.returncode == 4 and "context 'mixed-test'" in p.stderr and "refused" in p.stderr, p.stderr
    assert not (proj / ".xbuild" / "out").exists()  # nothing was built for a guess
    f = nodes_file(tmp_path, [node("a", "amd64"), node("sparc-box", "sparc64")])
    p = run([xbuild, "-C", proj, "plan", "--platform", "cluster", "--nodes", f], check=False)
    assert p.returncode == 3 and "sparc-box (linux/sparc64)" in p.stderr and p.stdout == "", p.stderr
    p = run([xbuild, "-C", proj, "plan", "--platform", "cluster", "--nodes", tmp_path / "nope.json"], check=False)
    assert p.returncode == 2 and "nope.json" in p.stderr, p.stderr
