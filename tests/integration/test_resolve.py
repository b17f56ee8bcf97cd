"""`xbuild resolve` against a real docker-registry on loopback: xbuild:// projects built once
and pushed, references replaced by the digests skopeo reads back, other tags pinned,
nodeAffinity for the platforms every image of a pod has, a fixed point on a second run, and
bad input (YAML, a failing build) that leaves no output behind. The output is read with
python3-yaml, not with xbuild."""
import json
import os
import re
import shutil

import pytest
import yaml

from conftest import PROJECTS, need, run
from registry_fixtures import *  # noqa: F401,F403 (fixtures)
from registry_fixtures import make_layout, sha, skopeo_raw
from kube_api import MIXED, KubeApi, node, node_list

OS, ARCH = "kubernetes.io/os", "kubernetes.io/arch"

MANIFEST = """\
# a Deployment whose container and initContainer are the same xbuild project
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replicas: 2
  template:
    metadata: {labels: {app: web}}
    spec:
      affinity:
        nodeAffinity:
          requiredDuringSchedulingIgnoredDuringExecution:
            nodeSelectorTerms:
            - matchExpressions:
              - {key: disk, operator: In, values: [ssd]}
      initContainers:
      - name: migrate
        image: xbuild://./app
      containers:
      - name: app
        image: xbuild://./app
        env:
        - {name: PORT, value: "8080"}
---
apiVersion: batch/v1
kind: CronJob
metadata: {name: nightly}
spec:
  schedule: "0 3 * * *"
  jobTemplate:
    spec:
      template:
        spec:
          restartPolicy: OnFailure
          containers:
          - name: tool
            image: xbuild://tool
---
apiVersion: v1
kind: List
items:
- apiVersion: v1
  kind: Pod
  metadata: {name: both}
  spec:
    containers:
    - {name: a, image: xbuild://./app}
    - {name: b, image: BASE}
---
apiVersion: v1
kind: Service
metadata: {name: web}
spec:
  selector: {app: web}
  ports: [{port: 80, targetPort: 8080}]
"""


def project(tmp_path, dirname, name, platforms):
    dst = tmp_path / dirname
    shutil.copytree(PROJECTS / "c-make", dst, ignore=shutil.ignore_patterns(".xbuild"))
    toml = (dst / "xbuild.toml").read_text()
    toml = re.sub(r'^name = .*$', f'name = "{name}"', toml, flags=re.M)
    toml = re.sub(r'^platforms = .*$', "platforms = [" + ", ".join(f'"{p}"' for p in platforms) + "]", toml, flags=re.M)
    (dst / "xbuild.toml").write_text(toml)
    return dst


@pytest.fixture
def setup(tmp_path, registry_open, clean_env):
    """Two projects (app: amd64+arm64, tool: amd64+arm/v7), a pushed multi-arch image to pin,
    and the manifest in tmp/deploy/ (the projects are beside it)."""
    need("skopeo")
    project(tmp_path / "deploy", "app", "web-app", ["linux/amd64", "linux/arm64"])
    project(tmp_path / "deploy", "tool", "tool", ["linux/amd64", "linux/arm/v7"])
    layout = tmp_path / "base-layout"
    base = make_layout(layout, platforms=["linux/amd64", "linux/arm64", "linux/arm/v7"], tag="1.0")
    base_ref = f"{registry_open.host}/lib/base:1.0"
    run([xbuild_bin(), "push", f"{layout}:1.0", base_ref], env=clean_env)
    env = dict(clean_env, KUBECONFIG=str(tmp_path / "no-kubeconfig"))  # no cluster: resolve works offline
    manifest = tmp_path / "deploy" / "all.yaml"
    manifest.write_text(MANIFEST.replace("BASE", base_ref))
    return {"manifest": manifest, "repo": f"{registry_open.host}/team", "base": base_ref, "base_digest": base["index"],
            "env": env, "dir": tmp_path}


def xbuild_bin():
    from conftest import xbuild_bin as b
    return b()


def resolve(xbuild, setup, *args, check=True, stdin=None, cwd=None):
    return run([xbuild, "resolve", *args], env=setup["env"], check=check, input=stdin, cwd=cwd or setup["dir"])


def images(doc):
    spec = pod_spec(doc)
    return [c["image"] for c in spec.get("containers", []) + spec.get("initContainers", [])]


def pod_spec(doc):
    if doc["kind"] == "CronJob":
        return doc["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    if doc["kind"] == "Pod":
        return doc["spec"]
    return doc["spec"]["template"]["spec"]


def terms(spec):
    got = []
    for t in spec["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"]:
        got.append({e["key"]: (e["operator"], tuple(e.get("values", []))) for e in t["matchExpressions"]})
    return got


def platform_term(os_, arch, **extra):
    return {**extra, OS: ("In", (os_,)), ARCH: ("In", (arch,))}


def test_resolve_builds_each_project_once_pushes_and_pins(xbuild, setup, tmp_path):
    out = tmp_path / "resolved.yaml"
    p = resolve(xbuild, setup, "-f", setup["manifest"], "-t", setup["repo"], "--push", "--pin", "--node-affinity", "-o", out)
    assert p.stdout == ""
    # app is referenced three times, tool once: each is built once.
    assert len(re.findall(r"^xbuild: building web-app ", p.stderr, re.M)) == 1, p.stderr
    assert len(re.findall(r"^xbuild: building tool ", p.stderr, re.M)) == 1, p.stderr

    docs = list(yaml.safe_load_all(out.read_text()))
    assert [d["kind"] for d in docs] == ["Deployment", "CronJob", "List", "Service"]
    app_digest = sha(skopeo_raw(f"{setup['repo']}/web-app:latest"))
    tool_digest = sha(skopeo_raw(f"{setup['repo']}/tool:latest"))
    app = f"{setup['repo']}/web-app@{app_digest}"
    assert images(docs[0]) == [app, app]
    assert images(docs[1]) == [f"{setup['repo']}/tool@{tool_digest}"]
    pod = docs[2]["items"][0]
    assert images(pod) == [app, f"{setup['base']}@{setup['base_digest']}"]
    assert sha(skopeo_raw(f"{setup['base']}")) == setup["base_digest"]
    # The index skopeo reads has exactly the platforms the project builds.
    index = json.loads(skopeo_raw(app))
    assert sorted(m["platform"]["architecture"] for m in index["manifests"]) == ["amd64", "arm64"]

    # nodeAffinity: the platforms every image of the pod has, one term each, merged with the
    # Deployment's own term (disk In [ssd]).
    web = pod_spec(docs[0])
    assert terms(web) == [platform_term("linux", "amd64", disk=("In", ("ssd",))),
                          platform_term("linux", "arm64", disk=("In", ("ssd",)))]
    assert terms(pod_spec(docs[1])) == [platform_term("linux", "amd64"), platform_term("linux", "arm")]
    assert terms(pod_spec(pod)) == [platform_term("linux", "amd64"), platform_term("linux", "arm64")]  # app ∩ base
    # Everything else is as it was.
    assert web["containers"][0]["env"] == [{"name": "PORT", "value": "8080"}]
    assert docs[0]["spec"]["replicas"] == 2
    assert docs[1]["spec"]["schedule"] == "0 3 * * *"
    assert docs[3] == {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"},
                       "spec": {"selector": {"app": "web"}, "ports": [{"port": 80, "targetPort": 8080}]}}

    # Real kubectl reads it as the same objects (client-side dry run; kinds mapped through the
    # test's API server, since no cluster runs here).
    need("kubectl")
    api = KubeApi(MIXED, tmp_path)
    try:
        kenv = dict(setup["env"], KUBECONFIG=str(api.kubeconfig(tmp_path / "kubeconfig")), HOME=str(tmp_path))
        k = run(["kubectl", "create", "--dry-run=client", "-o", "yaml", "--validate=false", "-f", "-"],
                input=out.read_text(), env=kenv)
    finally:
        api.stop()
    objs = []
    for o in yaml.safe_load_all(k.stdout):
        objs += o["items"] if o["kind"] == "List" else [o]
    kinds = [o["kind"] for o in objs]
    assert kinds == ["Deployment", "CronJob", "Pod", "Service"], kinds
    assert [c["image"] for c in objs[0]["spec"]["template"]["spec"]["containers"]] == [app]

    # A second run over the output changes nothing and builds nothing (stdin this time).
    again = resolve(xbuild, setup, "-f", "-", "--pin", "--node-affinity", stdin=out.read_text())
    assert again.stdout == out.read_text()
    assert "building" not in again.stderr


def test_without_push_the_digest_is_the_local_layouts_and_nothing_is_pushed(xbuild, setup):
    p = resolve(xbuild, setup, "-f", setup["manifest"], "-t", setup["repo"], "--no-node-affinity")
    docs = list(yaml.safe_load_all(p.stdout))
    layout = setup["manifest"].parent / "app" / ".xbuild" / "oci"
    index = json.loads((layout / "index.json").read_text())
    digests = {m["digest"] for m in index["manifests"]}
    ref = images(docs[0])[0]
    assert ref.split("@")[0] == f"{setup['repo']}/web-app"
    assert ref.split("@")[1] in digests
    assert "not pushed" in p.stderr
    assert "affinity" not in pod_spec(docs[1])  # --no-node-affinity
    assert images(docs[2]["items"][0])[1] == setup["base"]  # no --pin: left as it was
    tags = run(["skopeo", "list-tags", "--tls-verify=false", f"docker://{setup['repo']}/web-app"], check=False)
    assert tags.returncode != 0 or "latest" not in tags.stdout


def test_node_affinity_is_automatic_on_a_mixed_cluster_only(xbuild, setup, tmp_path):
    mixed = tmp_path / "mixed.json"
    mixed.write_text(json.dumps(node_list([node("cp", "amd64"), node("w1", "arm64")])))
    single = tmp_path / "single.json"
    single.write_text(json.dumps(node_list([node("cp", "amd64"), node("w1", "amd64")])))
    m = resolve(xbuild, setup, "-f", setup["manifest"], "-t", setup["repo"], "--push", "--nodes", mixed)
    docs = list(yaml.safe_load_all(m.stdout))
    assert terms(pod_spec(docs[1])) == [platform_term("linux", "amd64"), platform_term("linux", "arm")]
    assert "adding nodeAffinity" in m.stderr
    s = resolve(xbuild, setup, "-f", setup["manifest"], "-t", setup["repo"], "--push", "--nodes", single)
    for d in yaml.safe_load_all(s.stdout):
        if d["kind"] == "CronJob":
            assert "affinity" not in pod_spec(d)


def test_bad_yaml_names_file_and_line_and_writes_nothing(xbuild, setup, tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("apiVersion: v1\nkind: Pod\nspec: {containers: [\n  - name: a\n")
    out = tmp_path / "out.yaml"
    p = resolve(xbuild, setup, "-f", bad, "-t", setup["repo"], "-o", out, check=False)
    assert p.returncode == 2, p.stderr
    assert re.search(rf"{re.escape(str(bad))}:\d+: not valid YAML", p.stderr), p.stderr
    assert not out.exists()
    assert p.stdout == ""

    deep = tmp_path / "deep.yaml"
    deep.write_text("a: " + "[" * 200000 + "\n")
    p = resolve(xbuild, setup, "-f", deep, check=False)
    assert p.returncode == 2
    assert f"{deep}:1: nested more than 64 levels deep" in p.stderr

    laughs = tmp_path / "laughs.yaml"
    lines = ["a0: &a0 [" + ", ".join(["lol"] * 10) + "]"]
    lines += [f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]" for i in range(1, 10)]
    laughs.write_text("\n".join(lines) + "\n")
    p = resolve(xbuild, setup, "-f", laughs, check=False)
    assert p.returncode == 2
    assert "more than 1000000 nodes" in p.stderr


def test_unknown_project_and_missing_repo_are_usage_errors(xbuild, setup, tmp_path):
    m = tmp_path / "m.yaml"
    m.write_text("kind: Pod\nmetadata: {name: p}\nspec:\n  containers:\n  - name: c\n    image: xbuild://./nowhere\n")
    p = resolve(xbuild, setup, "-f", m, "-t", setup["repo"], check=False)
    assert p.returncode == 2
    assert f"{m}:5: xbuild://./nowhere: no xbuild.toml" in p.stderr
    env = dict(setup["env"])
    env.pop("XBUILD_REPO", None)
    p = run([xbuild, "resolve", "-f", setup["manifest"]], env=env, check=False)
    assert p.returncode == 2
    assert "need a repository: -t" in p.stderr


def test_a_failed_build_leaves_no_output(xbuild, setup, tmp_path):
    toml = setup["manifest"].parent / "tool" / "xbuild.toml"
    toml.write_text(re.sub(r"^build = .*$", 'build = ["sh", "-c", "exit 3"]', toml.read_text(), flags=re.M))
    out = tmp_path / "out.yaml"
    p = resolve(xbuild, setup, "-f", setup["manifest"], "-t", setup["repo"], "--push", "-o", out, check=False)
    assert p.returncode == 1, p.stderr
    assert "no YAML was written" in p.stderr
    assert "tool" in p.stderr
    assert not out.exists()
    p = resolve(xbuild, setup, "-f", setup["manifest"], "-t", setup["repo"], "--push", check=False)
    assert p.returncode == 1
    assert p.stdout == ""
