"""`xbuild cluster check`: images built by xbuild from tests/projects/c-make and pushed to a
real docker-registry on loopback (amd64 only, amd64+arm64), a single-manifest arm64 image, a
local layout with all three platforms, a mixed node list (amd64, arm64, arm/v7 nodes with
labels), and manifests whose nodeSelector and required node affinity avoid or hit the
platforms an image lacks. The node list comes from --nodes and, once, from real kubectl
talking to the test's API server (kube_api.py)."""
import json
import os
import re
import shutil

import pytest

from conftest import PROJECTS, need, run, xbuild_bin
from kube_api import KubeApi, node, node_list
from registry_fixtures import DockerRegistry, make_layout

NODES = [node("cp-1", "amd64"), node("w-1", "arm64"), node("w-2", "arm64"), node("edge-1", "arm")]
NODES[0]["metadata"]["labels"]["tier"] = "control"
NODES[1]["metadata"]["labels"]["disk"] = "ssd"
NODES[3]["metadata"]["labels"]["zone"] = "edge"


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    """The registry and the images: {name: reference}, plus the layout image's oci: form."""
    need("docker-registry")
    work = tmp_path_factory.mktemp("check")
    env = dict(os.environ, DOCKER_CONFIG=str(work / "docker"), XDG_CACHE_HOME=str(work / "cache"))
    (work / "docker").mkdir()
    reg = DockerRegistry(work / "registry", "open")
    proj = work / "c-make"
    shutil.copytree(PROJECTS / "c-make", proj, ignore=shutil.ignore_patterns(".xbuild"))
    xb = xbuild_bin()
    refs = {"amd64": f"{reg.host}/team/hello:amd64", "multi": f"{reg.host}/team/hello:multi",
            "single": f"{reg.host}/team/single:arm64"}
    run([xb, "-C", proj, "build", "--platform", "linux/amd64", "--push", "-t", refs["amd64"]], env=env)
    run([xb, "-C", proj, "build", "--platform", "linux/amd64,linux/arm64", "--push", "-t", refs["multi"]], env=env)
    layout = work / "layout"
    run([xb, "-C", proj, "build", "--platform", "linux/amd64,linux/arm64,linux/arm/v7", "-o", f"type=oci,dest={layout}",
         "-t", "hello:all"], env=env)
    refs["layout"] = f"oci:{layout}:all"
    make_layout(work / "single", platforms=["linux/arm64"], tag="1", single=True)
    run([xb, "push", f"{work / 'single'}:1", refs["single"]], env=env)
    # What the registry really holds (skopeo, not xbuild, says so).
    raw = json.loads(run(["skopeo", "inspect", "--raw", "--tls-verify=false", f"docker://{refs['multi']}"]).stdout)
    assert sorted(m["platform"]["architecture"] for m in raw["manifests"]) == ["amd64", "arm64"]
    raw = json.loads(run(["skopeo", "inspect", "--raw", "--tls-verify=false", f"docker://{refs['single']}"]).stdout)
    assert "manifests" not in raw  # a single manifest: its platform is its config's
    yield refs, env, work
    reg.stop()


def deployment(name, image, selector=None, terms=None, kind="Deployment", init_image=None, tolerations=None):
    spec = {"containers": [{"name": "app", "image": image}]}
    if tolerations:
        spec["tolerations"] = tolerations
    if init_image:
        spec["initContainers"] = [{"name": "setup", "image": init_image}]
    if selector:
        spec["nodeSelector"] = selector
    if terms:
        spec["affinity"] = {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
            "nodeSelectorTerms": [{"matchExpressions": t} for t in terms]}}}
    doc = {"apiVersion": "apps/v1", "kind": kind, "metadata": {"name": name, "namespace": "shop"},
           "spec": {"selector": {"matchLabels": {"app": name}},
                    "template": {"metadata": {"labels": {"app": name}}, "spec": spec}}}
    if kind == "Pod":
        doc = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name}, "spec": spec}
    return doc


def write_yaml(path, docs):
    # JSON is YAML; one document per '---', as kubectl writes multi-document files.
    path.write_text("".join("---\n" + json.dumps(d, indent=2) + "\n" for d in docs))
    return path


def check(xbuild, manifests, nodes_file, env, *extra, json_out=False):
    args = [xbuild, "cluster", "check", "-f", manifests, "--nodes", nodes_file, *extra]
    if json_out:
        args.append("--json")
    return run(args, env=env, check=False)


def table(stdout):
    rows = [re.split(r"\s{2,}", line.strip()) for line in stdout.splitlines() if line.strip()]
    assert rows and rows[0] == ["WORKLOAD", "CONTAINER", "IMAGE", "MISSING", "NODES"], stdout
    return rows[1:]


@pytest.fixture
def nodes_file(tmp_path):
    f = tmp_path / "nodes.json"
    f.write_text(json.dumps(node_list(NODES)))
    return f


ARCH = "kubernetes.io/arch"


def test_amd64_only_image_on_a_mixed_cluster_is_flagged_with_the_nodes(xbuild, images, tmp_path, nodes_file):
    refs, env, _ = images
    m = write_yaml(tmp_path / "app.yaml", [deployment("api", refs["amd64"])])
    p = check(xbuild, m, nodes_file, env)
    assert p.returncode == 1, p.stderr
    assert table(p.stdout) == [["Deployment/api -n shop", "app", refs["amd64"], "linux/arm/v7,linux/arm64", "w-1,w-2,edge-1"]]
    assert 'would fail with "exec format error"' in p.stderr
    j = json.loads(check(xbuild, m, nodes_file, env, json_out=True).stdout)
    assert j["ok"] is False
    assert j["gaps"] == [{"workload": {"kind": "Deployment", "name": "api", "namespace": "shop", "source": j["gaps"][0]["workload"]["source"]},
                          "container": "app", "init": False, "image": refs["amd64"],
                          "missing": ["linux/arm/v7", "linux/arm64"], "nodes": ["w-1", "w-2", "edge-1"]}]
    assert j["gaps"][0]["workload"]["source"].startswith(str(m))
    assert {i["image"]: i["platforms"] for i in j["images"]} == {refs["amd64"]: ["linux/amd64"]}


def test_pinned_to_amd64_or_multi_arch_everywhere_passes(xbuild, images, tmp_path, nodes_file):
    refs, env, _ = images
    d = tmp_path / "manifests"
    d.mkdir()
    write_yaml(d / "a.yaml", [deployment("api", refs["amd64"], selector={ARCH: "amd64"}),
                              deployment("api2", refs["amd64"], terms=[[{"key": ARCH, "operator": "In", "values": ["amd64"]}]])])
    write_yaml(d / "b.yml", [deployment("web", refs["multi"], terms=[[{"key": ARCH, "operator": "NotIn", "values": ["arm"]}]]),
                             deployment("everywhere", refs["layout"], kind="DaemonSet"),
                             deployment("batch", refs["single"], selector={ARCH: "arm64"}, kind="Pod",
                                        init_image=refs["multi"])])
    p = check(xbuild, d, nodes_file, env)
    assert p.returncode == 0, p.stdout + p.stderr
    assert p.stdout.startswith("ok: the images of 5 workloads cover every node"), p.stdout
    j = json.loads(check(xbuild, d, nodes_file, env, json_out=True).stdout)
    assert j["ok"] is True and j["gaps"] == [] and j["workloads"] == 5 and j["nodes"] == 4
    platforms = {i["image"]: sorted(i["platforms"]) for i in j["images"]}
    assert platforms == {refs["amd64"]: ["linux/amd64"], refs["multi"]: ["linux/amd64", "linux/arm64"],
                         refs["single"]: ["linux/arm64"], refs["layout"]: ["linux/amd64", "linux/arm/v7", "linux/arm64"]}


def test_affinity_terms_or_and_init_containers_hit_the_gaps(xbuild, images, tmp_path, nodes_file):
    refs, env, _ = images
    terms = [[{"key": ARCH, "operator": "In", "values": ["arm64"]}, {"key": "disk", "operator": "Exists"}],
             [{"key": "zone", "operator": "In", "values": ["edge"]}]]
    m = write_yaml(tmp_path / "db.yaml", [
        deployment("db", refs["multi"], terms=terms, kind="StatefulSet"),        # w-1 ok, edge-1 lacks arm/v7
        deployment("job", refs["layout"], selector={ARCH: "arm64"}, kind="Job", init_image=refs["amd64"]),
        deployment("control", refs["single"], selector={"tier": "control"}, kind="Pod")])
    p = check(xbuild, m, nodes_file, env)
    assert p.returncode == 1, p.stderr
    assert table(p.stdout) == [
        ["StatefulSet/db -n shop", "app", refs["multi"], "linux/arm/v7", "edge-1"],
        ["Job/job -n shop", "setup (init)", refs["amd64"], "linux/arm64", "w-1,w-2"],
        ["Pod/control", "app", refs["single"], "linux/amd64", "cp-1"]]
    j = json.loads(check(xbuild, m, nodes_file, env, json_out=True).stdout)
    assert [(g["workload"]["name"], g["init"]) for g in j["gaps"]] == [("db", False), ("job", True), ("control", False)]


def test_arm_variant_flag_changes_what_arm_nodes_need(xbuild, images, tmp_path, nodes_file):
    refs, env, _ = images
    m = write_yaml(tmp_path / "edge.yaml", [deployment("edge", refs["layout"], selector={"zone": "edge"})])
    assert check(xbuild, m, nodes_file, env).returncode == 0
    p = check(xbuild, m, nodes_file, env, "--arm-variant", "v6")
    assert p.returncode == 1 and table(p.stdout) == [["Deployment/edge -n shop", "app", refs["layout"], "linux/arm/v6", "edge-1"]]


def test_image_flag_reads_an_unpushed_image_from_a_layout(xbuild, images, tmp_path, nodes_file):
    refs, env, _ = images
    future = refs["amd64"].rsplit("/", 2)[0] + "/team/not-pushed-yet:2"
    m = write_yaml(tmp_path / "app.yaml", [deployment("api", future)])
    assert check(xbuild, m, nodes_file, env, "--image", f"{future}={refs['layout']}").returncode == 0
    p = check(xbuild, m, nodes_file, env, "--image", "no-equals-sign")
    assert p.returncode == 2 and "--image no-equals-sign" in p.stderr, p.stderr


def test_unreadable_images_exit_4_naming_each(xbuild, images, tmp_path, nodes_file):
    refs, env, work = images
    missing = refs["amd64"].rsplit(":", 1)[0] + ":no-such-tag"
    m = write_yaml(tmp_path / "app.yaml", [deployment("api", missing), deployment("ok", refs["multi"]),
                                           deployment("local", f"oci:{work / 'nope'}:1")])
    for json_out in (False, True):
        p = check(xbuild, m, nodes_file, env, json_out=json_out)
        assert p.returncode == 4, p.stderr
        assert p.stdout == ""
        assert "cannot read 2 images" in p.stderr
        assert f"{missing} (used by Deployment/api -n shop in {m}" in p.stderr, p.stderr
        assert str(work / "nope") in p.stderr


def test_nodes_through_real_kubectl(xbuild, images, tmp_path):
    need("kubectl")
    need("openssl")
    refs, env, _ = images
    api = KubeApi(NODES, tmp_path)
    try:
        kenv = dict(env, KUBECONFIG=str(api.kubeconfig(tmp_path / "kubeconfig")), HOME=str(tmp_path))
        m = write_yaml(tmp_path / "app.yaml", [deployment("api", refs["amd64"])])
        p = run([xbuild, "cluster", "check", "-f", m], env=kenv, check=False)
        assert p.returncode == 1 and "/api/v1/nodes" in api.paths, p.stderr
        assert table(p.stdout)[0][3:] == ["linux/arm/v7,linux/arm64", "w-1,w-2,edge-1"]
        kc = api.kubeconfig(tmp_path / "kubeconfig", port=1)
        p = run([xbuild, "cluster", "check", "-f", m], env=dict(kenv, KUBECONFIG=str(kc)), check=False)
        assert p.returncode == 4 and "context 'mixed-test'" in p.stderr and p.stdout == "", p.stderr
    finally:
        api.stop()


@pytest.mark.parametrize("terms,words", [
    ([[{"key": ARCH, "operator": "Equals", "values": ["amd64"]}]], "operator 'Equals'"),
    ([[{"key": "cores", "operator": "Gt", "values": ["many"]}]], "exactly one integer"),
])
def test_invalid_affinity_is_named_exit_2(xbuild, images, tmp_path, nodes_file, terms, words):
    refs, env, _ = images
    m = write_yaml(tmp_path / "bad.yaml", [deployment("api", refs["multi"], terms=terms)])
    p = check(xbuild, m, nodes_file, env)
    assert p.returncode == 2 and words in p.stderr and str(m) in p.stderr and p.stdout == "", p.stderr


def test_bad_manifest_and_no_workloads(xbuild, images, tmp_path, nodes_file):
    _, env, _ = images
    bad = tmp_path / "bad.yaml"
    bad.write_text("kind: Deployment\nspec: [unclosed\n")
    p = check(xbuild, bad, nodes_file, env)
    assert p.returncode == 2 and str(bad) in p.stderr and p.stdout == "", p.stderr
    p = check(xbuild, tmp_path / "absent.yaml", nodes_file, env)
    assert p.returncode == 2 and "absent.yaml" in p.stderr, p.stderr


def test_a_workload_no_node_accepts_is_a_warning_not_a_gap(xbuild, images, tmp_path, nodes_file):
    refs, env, _ = images
    m = write_yaml(tmp_path / "app.yaml", [deployment("riscv", refs["amd64"], selector={ARCH: "riscv64"})])
    p = check(xbuild, m, nodes_file, env)
    assert p.returncode == 0 and "Deployment/riscv -n shop" in p.stderr and "would stay Pending" in p.stderr, p.stderr
    j = json.loads(check(xbuild, m, nodes_file, env, json_out=True).stdout)
    assert j["ok"] is True and [w["name"] for w in j["unschedulable"]] == ["riscv"]


def test_manifests_from_stdin(xbuild, images, tmp_path, nodes_file):
    refs, env, _ = images
    docs = [deployment("api", refs["amd64"], selector={ARCH: "amd64"}), deployment("web", refs["amd64"])]
    text = "".join("---\n" + json.dumps(d) + "\n" for d in docs)
    p = run([xbuild, "cluster", "check", "-f", "-", "--nodes", nodes_file, "--json"], input=text, env=env, check=False)
    assert p.returncode == 1, p.stderr
    assert [g["workload"]["name"] for g in json.loads(p.stdout)["gaps"]] == ["web"]


def test_tainted_control_plane_counts_only_for_pods_that_tolerate_it(xbuild, images, tmp_path):
    refs, env, _ = images
    cp = node("cp-1", "amd64")
    cp["spec"]["taints"] = [{"key": "node-role.kubernetes.io/control-plane", "effect": "NoSchedule"}]
    busy = node("w-2", "arm64")
    busy["spec"]["taints"] = [{"key": "node.kubernetes.io/not-ready", "effect": "NoExecute"}]  # comes and goes
    f = tmp_path / "nodes.json"
    f.write_text(json.dumps(node_list([cp, node("w-1", "arm64"), busy])))
    tol = [{"key": "node-role.kubernetes.io/control-plane", "operator": "Exists", "effect": "NoSchedule"}]
    m = write_yaml(tmp_path / "app.yaml", [deployment("arm-only", refs["single"]),
                                           deployment("agent", refs["single"], kind="DaemonSet", tolerations=tol)])
    p = check(xbuild, m, f, env)
    assert p.returncode == 1, p.stderr
    assert table(p.stdout) == [["DaemonSet/agent -n shop", "app", refs["single"], "linux/amd64", "cp-1"]]
    bad = write_yaml(tmp_path / "bad.yaml", [deployment("x", refs["single"], tolerations=[{"key": "a", "operator": "In"}])])
    p = check(xbuild, bad, f, env)
    assert p.returncode == 2 and "toleration operator 'In'" in p.stderr and str(bad) in p.stderr, p.stderr
