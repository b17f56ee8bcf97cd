#include "kube/affinity.hpp"
#include "kube/manifest.hpp"
#include "kube/yaml.hpp"

#include "temp_dir.hpp"

#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <string>

using namespace xb;
using kube::yaml::Node;

namespace {

std::vector<kube::yaml::Document> parse_ok(const std::string& text) {
  auto r = kube::yaml::parse(text, "m.yaml");
  if (!r.ok()) FAIL(r.error());
  return r.take();
}

std::string parse_error(const std::string& text) {
  auto r = kube::yaml::parse(text, "m.yaml");
  REQUIRE_FALSE(r.ok());
  return r.error();
}

void write(const std::filesystem::path& p, const std::string& text) {
  std::filesystem::create_directories(p.parent_path());
  std::ofstream(p) << text;
}

const char* k_manifest = R"(# a comment
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: shop
spec:
  template:
    spec:
      nodeSelector:
        disk: ssd
      affinity:
        nodeAffinity:
          requiredDuringSchedulingIgnoredDuringExecution:
            nodeSelectorTerms:
            - matchExpressions:
              - {key: kubernetes.io/arch, operator: In, values: [amd64, arm64]}
      initContainers:
      - name: migrate
        image: xbuild://./app
      containers:
      - name: app
        image: xbuild://./app
        ports: [{containerPort: 8080}]
---
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
          containers:
          - name: job
            image: busybox:1.36
---
apiVersion: v1
kind: List
items:
- apiVersion: v1
  kind: Pod
  metadata: {name: solo}
  spec:
    containers: [{name: c, image: 'alpine:3'}]
- apiVersion: v1
  kind: Service
  metadata: {name: web}
  spec: {ports: [{port: 80}]}
)";

}  // namespace

TEST_CASE("kube yaml: documents, key order and scalar styles survive a round trip") {
  auto docs = parse_ok(k_manifest);
  REQUIRE(docs.size() == 3);  // the empty document between the two `---` is dropped
  CHECK(docs[0].line == 2);
  CHECK(docs[1].line == 27);
  const Node& d = docs[0].root;
  REQUIRE(d.entries.size() == 4);
  CHECK(d.entries[0].key.value == "apiVersion");
  CHECK(d.entries[3].key.value == "spec");
  CHECK(docs[1].root.find("spec")->find("schedule")->plain == false);
  std::string text = kube::yaml::emit(docs);
  auto again = parse_ok(text);
  REQUIRE(again.size() == docs.size());
  for (std::size_t i = 0; i < docs.size(); ++i) CHECK(again[i].root == docs[i].root);
  CHECK(kube::yaml::emit(again) == text);  // emit is a fixed point
  CHECK(text.find("\"0 3 * * *\"") != std::string::npos);
}

TEST_CASE("kube yaml: quoted numbers stay strings, multi-line text stays exact") {
  auto docs = parse_ok("a: \"8080\"\nb: 8080\nc: |\n  line one\n  line two\nd: \"no newline\\nat end\"\ne: \"two\\n\\n\"\nf: ~\ng: []\nh: {}\n");
  std::string text = kube::yaml::emit(docs);
  auto again = parse_ok(text);
  CHECK(again[0].root == docs[0].root);
  CHECK(again[0].root.find("a")->plain == false);
  CHECK(again[0].root.find("b")->plain == true);
  CHECK(again[0].root.text("c") == "line one\nline two\n");
  CHECK(again[0].root.text("d") == "no newline\nat end");
  CHECK(again[0].root.text("e") == "two\n\n");
  CHECK(again[0].root.find("f")->is_null());
  CHECK(again[0].root.find("g")->is_sequence());
  CHECK(again[0].root.find("h")->is_map());
}

TEST_CASE("kube yaml: aliases become copies; set and map_at edit in place") {
  auto docs = parse_ok("base: &b {x: 1}\nuse: *b\n");
  Node& root = docs[0].root;
  CHECK(*root.find("use") == *root.find("base"));
  root.map_at("use")->set("x", Node::scalar("2"));
  CHECK(root.find("base")->text("x") == "1");  // a copy, not a shared node
  CHECK(root.map_at("base")->text("x") == "1");
  CHECK(root.map_at("new")->is_map());
  CHECK(root.entries.back().key.value == "new");
  root.set("s", Node::scalar("text"));
  CHECK(root.map_at("s") == nullptr);  // not a map: the caller must say so, not overwrite
}

TEST_CASE("kube yaml: hostile input is refused with file:line, never a crash") {
  SUBCASE("bad syntax names the line") {
    std::string e = parse_error("a: 1\nb: [1, 2\nc: 3\n");
    CHECK(e.rfind("m.yaml:", 0) == 0);
    CHECK(e.find("not valid YAML") != std::string::npos);
  }
  SUBCASE("tab indentation") { CHECK(parse_error("a:\n\tb: 1\n").rfind("m.yaml:", 0) == 0); }
  SUBCASE("deep flow nesting stops at the bound, before yaml-cpp recurses far") {
    std::string deep(100000, '[');
    std::string e = parse_error(deep);
    CHECK(e == "m.yaml:1: nested more than 64 levels deep");
  }
  SUBCASE("deep block nesting") {
    std::string text;
    for (int i = 0; i < 80; ++i) text += std::string(static_cast<std::size_t>(i) * 2, ' ') + "k:\n";
    CHECK(parse_error(text).find("nested more than 64 levels deep") != std::string::npos);
  }
  SUBCASE("exactly the bound is fine") {
    std::string text(kube::yaml::max_depth, '[');
    text += std::string(kube::yaml::max_depth, ']');
    CHECK(parse_ok(text).size() == 1);
  }
  SUBCASE("billion laughs") {
    std::string text = "a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n";
    for (int i = 1; i < 10; ++i)
      text += fmt::format("a{0}: &a{0} [*a{1}, *a{1}, *a{1}, *a{1}, *a{1}, *a{1}, *a{1}, *a{1}, *a{1}, *a{1}]\n", i, i - 1);
    std::string e = parse_error(text);
    CHECK(e.find("more than 1000000 nodes") != std::string::npos);
    CHECK(e.rfind("m.yaml:", 0) == 0);
  }
  SUBCASE("aliases cannot nest past the depth bound either") {
    std::string text = "a: &a [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]\nb: [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[*a]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]\n";
    CHECK(parse_error(text).find("nested more than 64 levels deep (through an alias)") != std::string::npos);
  }
  SUBCASE("an alias to its own anchor") { CHECK(parse_error("a: &x [*x]\n").find("m.yaml:1:") == 0); }
  SUBCASE("an unknown alias") { CHECK(parse_error("a: *nope\n").rfind("m.yaml:1:", 0) == 0); }
  SUBCASE("duplicate keys") { CHECK(parse_error("a: 1\nb: 2\na: 3\n") == "m.yaml:3: duplicate key 'a'"); }
  SUBCASE("non-scalar keys") { CHECK(parse_error("? [a, b]\n: 1\n").find("not a scalar") != std::string::npos); }
  SUBCASE("too many documents") {
    std::string text;
    for (std::size_t i = 0; i <= kube::yaml::max_documents; ++i) text += "---\na: 1\n";
    CHECK(parse_error(text).find("more than 10000 documents") != std::string::npos);
  }
  SUBCASE("too large") {
    std::string big(kube::yaml::max_bytes + 1, ' ');
    CHECK(parse_error(big).find("more than a YAML input may have") != std::string::npos);
  }
  SUBCASE("binary garbage") {
    std::string junk;
    for (int i = 0; i < 4096; ++i) junk += static_cast<char>((i * 7919) % 256);
    auto r = kube::yaml::parse(junk, "m.yaml");
    if (!r.ok()) CHECK(r.error().rfind("m.yaml:", 0) == 0);
  }
}

TEST_CASE("kube manifest: every workload kind, List items and multi-document files") {
  test::TempDir dir;
  write(dir.path / "b" / "all.yaml", k_manifest);
  write(dir.path / "a.yml", R"(
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: db}
spec: {template: {spec: {containers: [{name: pg, image: postgres:16}]}}}
---
apiVersion: apps/v1
kind: DaemonSet
metadata: {name: agent}
spec: {template: {spec: {containers: [{name: a, image: agent}]}}}
---
kind: ReplicaSet
metadata: {name: rs}
spec: {template: {spec: {containers: [{name: a, image: rs}]}}}
---
kind: ReplicationController
metadata: {name: rc}
spec: {template: {spec: {containers: [{name: a, image: rc}]}}}
---
kind: Job
metadata: {name: j}
spec: {template: {spec: {containers: [{name: a, image: j}]}}}
---
kind: ConfigMap
metadata: {name: cm}
data: {image: not-a-container}
)");
  write(dir.path / "notes.txt", "kind: Pod\n");  // not YAML by name: not read
  auto r = kube::load_workloads({dir.path.string()});
  REQUIRE_MESSAGE(r.ok(), (r.ok() ? "" : r.error()));
  const auto& w = r.value();
  REQUIRE(w.size() == 8);
  // a.yml sorts before b/all.yaml
  CHECK(w[0].kind == "StatefulSet");
  CHECK(w[0].source == (dir.path / "a.yml").string() + ":2");
  CHECK(w[1].kind == "DaemonSet");
  CHECK(w[2].kind == "ReplicaSet");
  CHECK(w[3].kind == "ReplicationController");
  CHECK(w[4].kind == "Job");
  const auto& web = w[5];
  CHECK(web.kind == "Deployment");
  CHECK(web.name == "web");
  CHECK(web.namespace_ == "shop");
  REQUIRE(web.containers.size() == 2);
  CHECK(web.containers[0].name == "app");  // containers first, then initContainers
  CHECK_FALSE(web.containers[0].init);
  CHECK(web.containers[1].name == "migrate");
  CHECK(web.containers[1].init);
  CHECK(web.containers[1].image == "xbuild://./app");
  CHECK(web.node_selector.at("disk") == "ssd");
  REQUIRE(web.required_terms.size() == 1);
  REQUIRE(web.required_terms[0].match_expressions.size() == 1);
  const auto& req = web.required_terms[0].match_expressions[0];
  CHECK(req.key == "kubernetes.io/arch");
  CHECK(req.op == "In");
  CHECK(req.values == std::vector<std::string>{"amd64", "arm64"});
  CHECK(w[6].kind == "CronJob");
  CHECK(w[6].containers.at(0).image == "busybox:1.36");
  CHECK(w[7].kind == "Pod");
  CHECK(w[7].name == "solo");
  CHECK(w[7].namespace_.empty());
  CHECK(w[7].source == (dir.path / "b" / "all.yaml").string() + ":43");
}

TEST_CASE("kube manifest: bad manifests are named with file:line") {
  test::TempDir dir;
  auto err = [&](const std::string& text) {
    write(dir.path / "m.yaml", text);
    auto r = kube::load_workloads({(dir.path / "m.yaml").string()});
    REQUIRE_FALSE(r.ok());
    std::string e = r.error();
    CHECK(e.rfind((dir.path / "m.yaml").string() + ":", 0) == 0);
    return e;
  };
  CHECK(err("kind: Deployment\nmetadata: {name: x}\nspec: {}\n").find("spec.template.spec") != std::string::npos);
  CHECK(err("kind: CronJob\nmetadata: {name: x}\nspec: {}\n").find("spec.jobTemplate.spec.template.spec") != std::string::npos);
  CHECK(err("- a\n- b\n").find("not a Kubernetes object") != std::string::npos);
  CHECK(err("metadata: {name: x}\n").find("without kind") != std::string::npos);
  CHECK(err("kind: Pod\nspec:\n  containers:\n  - name: c\n").find("has no image") != std::string::npos);
  CHECK(err("kind: Pod\nspec:\n  containers: {a: b}\n") == (dir.path / "m.yaml").string() + ":3: containers of Pod  is not a list");
  CHECK(err("kind: Pod\nspec:\n  containers: [{name: c, image: i}]\n  affinity: {nodeAffinity: {requiredDuringSchedulingIgnoredDuringExecution: {nodeSelectorTerms: [{matchExpressions: [{key: k, operator: Near}]}]}}}\n")
            .find("operator 'Near'") != std::string::npos);
  CHECK(err("kind: List\nitems: [{kind: Pod, spec: {containers: 3}}]\n").find(":2:") != std::string::npos);
  CHECK(err("kind: Pod\nspec: [\n").find("not valid YAML") != std::string::npos);

  auto missing = kube::load_workloads({(dir.path / "nope.yaml").string()});
  REQUIRE_FALSE(missing.ok());
  CHECK(missing.error().find("no such file") != std::string::npos);
  std::filesystem::create_directories(dir.path / "empty");
  auto empty = kube::load_workloads({(dir.path / "empty").string()});
  REQUIRE_FALSE(empty.ok());
  CHECK(empty.error().find("no *.yaml or *.yml") != std::string::npos);
}

TEST_CASE("kube manifest: pod templates point into the tree, so edits reach emit") {
  test::TempDir dir;
  write(dir.path / "m.yaml", k_manifest);
  auto files = kube::load_manifests({(dir.path / "m.yaml").string()});
  REQUIRE(files.ok());
  auto& file = files.value()[0];
  auto t = kube::pod_templates(file);
  REQUIRE(t.ok());
  REQUIRE(t.value().size() == 3);
  for (auto& tmpl : t.value())
    for (Node& c : tmpl.spec->find("containers")->items) c.set("image", Node::scalar("reg/x@sha256:00"));
  std::string out = kube::yaml::emit(file.documents);
  CHECK(out.find("busybox") == std::string::npos);
  CHECK(out.find("xbuild://./app") != std::string::npos);  // the initContainer was not edited
  CHECK(out.find("kind: Service") != std::string::npos);   // other objects are kept
}

namespace {

kube::ManifestFile one_file(const std::string& text) {
  auto docs = kube::yaml::parse(text, "a.yaml");
  REQUIRE(docs.ok());
  return kube::ManifestFile{"a.yaml", docs.take()};
}

std::vector<kube::NodeSelectorTerm> terms_after(kube::ManifestFile& f, const std::vector<kube::NodePlatform>& ps) {
  auto t = kube::pod_templates(f);
  REQUIRE(t.ok());
  auto r = kube::require_platforms(t.value().at(0), ps);
  REQUIRE_MESSAGE(r.ok(), (r.ok() ? "" : r.error()));
  auto w = kube::read_workload(t.value().at(0));
  REQUIRE(w.ok());
  return w.value().required_terms;
}

}  // namespace

TEST_CASE("kube affinity: one term per platform, merged with the pod's own, a fixed point") {
  auto f = one_file(R"(kind: Deployment
metadata: {name: web}
spec:
  template:
    spec:
      containers: [{name: a, image: i}]
      affinity:
        nodeAffinity:
          requiredDuringSchedulingIgnoredDuringExecution:
            nodeSelectorTerms:
            - matchExpressions: [{key: disk, operator: In, values: [ssd]}]
            - matchExpressions: [{key: kubernetes.io/arch, operator: In, values: [amd64, riscv64]}]
)");
  std::vector<kube::NodePlatform> ps = {{"linux", "amd64"}, {"linux", "arm64"}};
  auto t = terms_after(f, ps);
  // ssd x {amd64, arm64}, and the arch term narrowed to amd64 (arm64 is ruled out by it).
  REQUIRE(t.size() == 3);
  CHECK(t[0].match_expressions.size() == 3);
  CHECK(t[0].match_expressions[0].key == "disk");
  CHECK(t[0].match_expressions[2].values == std::vector<std::string>{"amd64"});
  CHECK(t[1].match_expressions[2].values == std::vector<std::string>{"arm64"});
  CHECK(t[2].match_expressions.size() == 2);
  CHECK(t[2].match_expressions[0].key == "kubernetes.io/os");
  CHECK(t[2].match_expressions[1].values == std::vector<std::string>{"amd64"});
  std::string once = kube::yaml::emit(f.documents);
  terms_after(f, ps);
  CHECK(kube::yaml::emit(f.documents) == once);
}

TEST_CASE("kube affinity: the nodeSelector rules platforms out; none left is an error naming the workload") {
  auto f = one_file("kind: Pod\nmetadata: {name: p}\nspec:\n  nodeSelector: {kubernetes.io/arch: arm64}\n  containers: [{name: a, image: i}]\n");
  auto t = terms_after(f, {{"linux", "amd64"}, {"linux", "arm64"}});
  REQUIRE(t.size() == 1);
  CHECK(t[0].match_expressions[1].values == std::vector<std::string>{"arm64"});

  auto g = one_file("kind: Pod\nmetadata: {name: p}\nspec:\n  nodeSelector: {kubernetes.io/arch: arm64}\n  containers: [{name: a, image: i}]\n");
  auto tmpl = kube::pod_templates(g);
  REQUIRE(tmpl.ok());
  auto r = kube::require_platforms(tmpl.value()[0], {{"linux", "amd64"}});
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().rfind("a.yaml:1: Pod p:", 0) == 0);
  CHECK(r.error().find("linux/amd64") != std::string::npos);

  auto h = one_file("kind: Pod\nmetadata: {name: p}\nspec:\n  affinity: 3\n  containers: [{name: a, image: i}]\n");
  auto ht = kube::pod_templates(h);
  REQUIRE(ht.ok());
  CHECK(kube::require_platforms(ht.value()[0], {{"linux", "amd64"}}).error().find("affinity is not a map") != std::string::npos);
}
