#include "kube/schedule.hpp"

#include <doctest/doctest.h>

#include <string>

using namespace xb;
using kube::Requirement;

namespace {

kube::Node node(std::string name, std::string arch, kube::Labels extra = {}, std::string variant = "") {
  kube::Labels labels{{"kubernetes.io/os", "linux"}, {"kubernetes.io/arch", arch}, {"kubernetes.io/hostname", name}};
  labels.insert(extra.begin(), extra.end());
  return kube::Node{name, "linux", arch, variant, labels, {}};
}

kube::Workload workload(std::string image, std::map<std::string, std::string> selector = {},
                        std::vector<kube::NodeSelectorTerm> terms = {}) {
  kube::Workload w;
  w.kind = "Deployment";
  w.name = "web";
  w.namespace_ = "shop";
  w.source = "deploy.yaml";
  w.containers = {{"app", image, false, "deploy.yaml:9"}};
  w.node_selector = std::move(selector);
  w.required_terms = std::move(terms);
  return w;
}

const std::vector<kube::Node> k_mixed = {node("cp-1", "amd64", {{"tier", "control"}}),
                                         node("w-1", "arm64", {{"disk", "ssd"}, {"cores", "8"}}),
                                         node("w-2", "arm64", {{"cores", "64"}}),
                                         node("edge-1", "arm", {{"zone", "edge"}})};

std::vector<std::string> names(const std::vector<const kube::Node*>& nodes) {
  std::vector<std::string> out;
  for (const auto* n : nodes) out.push_back(n->name);
  return out;
}

std::vector<std::string> candidates(const kube::Workload& w) { return names(kube::candidate_nodes(w, k_mixed).take()); }

}  // namespace

TEST_CASE("kube::schedule: each operator as kube-scheduler evaluates it") {
  kube::Labels l{{"disk", "ssd"}, {"cores", "8"}, {"gen", "x"}};
  CHECK(kube::satisfies(l, {"disk", "In", {"hdd", "ssd"}}));
  CHECK_FALSE(kube::satisfies(l, {"disk", "In", {"hdd"}}));
  CHECK_FALSE(kube::satisfies(l, {"absent", "In", {"ssd"}}));
  CHECK(kube::satisfies(l, {"disk", "NotIn", {"hdd"}}));
  CHECK(kube::satisfies(l, {"absent", "NotIn", {"ssd"}}));  // a missing label is not in any list
  CHECK_FALSE(kube::satisfies(l, {"disk", "NotIn", {"ssd"}}));
  CHECK(kube::satisfies(l, {"disk", "Exists", {}}));
  CHECK_FALSE(kube::satisfies(l, {"absent", "Exists", {}}));
  CHECK(kube::satisfies(l, {"absent", "DoesNotExist", {}}));
  CHECK_FALSE(kube::satisfies(l, {"disk", "DoesNotExist", {}}));
  CHECK(kube::satisfies(l, {"cores", "Gt", {"4"}}));
  CHECK_FALSE(kube::satisfies(l, {"cores", "Gt", {"8"}}));  // strictly greater
  CHECK(kube::satisfies(l, {"cores", "Lt", {"16"}}));
  CHECK_FALSE(kube::satisfies(l, {"cores", "Lt", {"-1"}}));
  CHECK_FALSE(kube::satisfies(l, {"gen", "Gt", {"1"}}));     // a label that is no integer never compares
  CHECK_FALSE(kube::satisfies(l, {"absent", "Lt", {"1"}}));
}

TEST_CASE("kube::schedule: invalid requirements are named, as the API server refuses them") {
  CHECK(kube::requirement_problem({"a", "In", {"x"}}).empty());
  CHECK(kube::requirement_problem({"a", "Gt", {"+3"}}).empty());
  CHECK(kube::requirement_problem({"a", "In", {}}).find("at least one value") != std::string::npos);
  CHECK(kube::requirement_problem({"a", "Exists", {"x"}}).find("takes no values") != std::string::npos);
  CHECK(kube::requirement_problem({"a", "Gt", {"1", "2"}}).find("exactly one integer") != std::string::npos);
  CHECK(kube::requirement_problem({"a", "Lt", {"1.5"}}).find("exactly one integer") != std::string::npos);
  CHECK(kube::requirement_problem({"a", "in", {"x"}}).find("operator 'in'") != std::string::npos);
  CHECK_FALSE(kube::requirement_problem({"", "Exists", {}}).empty());
  auto w = workload("img", {}, {{{{"a", "Equals", {"x"}}}}});
  auto r = kube::candidate_nodes(w, k_mixed);
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().find("deploy.yaml: Deployment shop/web") != std::string::npos);
  CHECK(r.error().find("nodeSelectorTerms[0]") != std::string::npos);
}

TEST_CASE("kube::schedule: nodeSelector is label equality, every label") {
  CHECK(candidates(workload("img")) == std::vector<std::string>{"cp-1", "w-1", "w-2", "edge-1"});
  CHECK(candidates(workload("img", {{"kubernetes.io/arch", "arm64"}})) == std::vector<std::string>{"w-1", "w-2"});
  CHECK(candidates(workload("img", {{"kubernetes.io/arch", "arm64"}, {"disk", "ssd"}})) == std::vector<std::string>{"w-1"});
  CHECK(candidates(workload("img", {{"kubernetes.io/arch", "riscv64"}})).empty());
}

TEST_CASE("kube::schedule: required terms are ORed, a term's expressions ANDed") {
  Requirement arm64{"kubernetes.io/arch", "In", {"arm64"}}, ssd{"disk", "In", {"ssd"}}, edge{"zone", "Exists", {}};
  CHECK(candidates(workload("img", {}, {{{arm64, ssd}}})) == std::vector<std::string>{"w-1"});
  CHECK(candidates(workload("img", {}, {{{arm64, ssd}}, {{edge}}})) == std::vector<std::string>{"w-1", "edge-1"});
  CHECK(candidates(workload("img", {}, {{{{"kubernetes.io/arch", "NotIn", {"arm", "arm64"}}}}})) == std::vector<std::string>{"cp-1"});
  CHECK(candidates(workload("img", {}, {{{{"cores", "Gt", {"16"}}}}})) == std::vector<std::string>{"w-2"});
  // a term without expressions matches no node; with another term, only that one counts
  CHECK(candidates(workload("img", {}, {{}})).empty());
  CHECK(candidates(workload("img", {}, {{}, {{edge}}})) == std::vector<std::string>{"edge-1"});
  // nodeSelector and affinity must both hold
  CHECK(candidates(workload("img", {{"tier", "control"}}, {{{arm64}}})).empty());
}

TEST_CASE("kube::schedule: taints keep pods off unless tolerated, as the scheduler matches them") {
  kube::Taint cp{"node-role.kubernetes.io/control-plane", "", "NoSchedule"};
  kube::Taint gpu{"gpu", "nvidia", "NoExecute"};
  CHECK(kube::tolerates({{"node-role.kubernetes.io/control-plane", "Exists", "", "NoSchedule"}}, cp));
  CHECK(kube::tolerates({{"node-role.kubernetes.io/control-plane", "Exists", "", ""}}, cp));  // any effect
  CHECK(kube::tolerates({{"", "Exists", "", ""}}, gpu));                                      // everything
  CHECK(kube::tolerates({{"gpu", "Equal", "nvidia", ""}}, gpu));
  CHECK_FALSE(kube::tolerates({{"gpu", "Equal", "amd", ""}}, gpu));
  CHECK_FALSE(kube::tolerates({{"gpu", "Exists", "", "NoSchedule"}}, gpu));  // another effect
  CHECK_FALSE(kube::tolerates({}, cp));
  CHECK(kube::keeps_pods_off(cp));
  CHECK_FALSE(kube::keeps_pods_off({"dedicated", "x", "PreferNoSchedule"}));
  CHECK_FALSE(kube::keeps_pods_off({"node.kubernetes.io/not-ready", "", "NoExecute"}));  // comes and goes

  std::vector<kube::Node> nodes = k_mixed;
  nodes[0].taints = {cp};
  nodes[1].taints = {{"node.kubernetes.io/unreachable", "", "NoExecute"}, {"dedicated", "batch", "PreferNoSchedule"}};
  auto w = workload("img");
  CHECK(names(kube::candidate_nodes(w, nodes).take()) == std::vector<std::string>{"w-1", "w-2", "edge-1"});
  w.tolerations = {{"node-role.kubernetes.io/control-plane", "Exists", "", "NoSchedule"}};
  CHECK(names(kube::candidate_nodes(w, nodes).take()) == std::vector<std::string>{"cp-1", "w-1", "w-2", "edge-1"});
}

TEST_CASE("kube::schedule: an image runs on its own platform, and arm on newer arm variants only") {
  auto p = [](const char* s) { return Platform::parse(s); };
  CHECK(kube::runs_on(p("linux/arm64"), p("linux/arm64")));
  CHECK(kube::runs_on(p("linux/arm/v6"), p("linux/arm/v7")));
  CHECK_FALSE(kube::runs_on(p("linux/arm/v7"), p("linux/arm/v6")));
  CHECK_FALSE(kube::runs_on(p("linux/arm/v7"), p("linux/arm64")));  // not every arm64 CPU runs 32-bit code
  CHECK_FALSE(kube::runs_on(p("linux/amd64"), p("linux/arm64")));
}

TEST_CASE("kube::schedule: check_workloads reports each container with the platforms and nodes it misses") {
  kube::ImagePlatforms images{{"reg/amd64-only:1", {Platform::parse("linux/amd64")}},
                              {"reg/multi:1", {Platform::parse("linux/amd64"), Platform::parse("linux/arm64"), Platform::parse("linux/arm/v7")}},
                              {"reg/arm64:1", {Platform::parse("linux/arm64")}}};
  SUBCASE("an amd64-only image on the mixed cluster misses arm64 and arm/v7, naming the nodes") {
    auto w = workload("reg/amd64-only:1");
    w.containers.push_back({"init-db", "reg/multi:1", true, "deploy.yaml:12"});
    auto r = kube::check_workloads({w}, k_mixed, images).take();
    REQUIRE(r.gaps.size() == 1);
    CHECK(r.gaps[0].container == "app");
    CHECK(r.gaps[0].missing == std::vector<std::string>{"linux/arm/v7", "linux/arm64"});
    CHECK(r.gaps[0].nodes == std::vector<std::string>{"w-1", "w-2", "edge-1"});
  }
  SUBCASE("pinned to amd64 by nodeSelector or affinity it is covered") {
    auto a = workload("reg/amd64-only:1", {{"kubernetes.io/arch", "amd64"}});
    auto b = workload("reg/amd64-only:1", {}, {{{{"kubernetes.io/arch", "In", {"amd64"}}}}});
    auto r = kube::check_workloads({a, b}, k_mixed, images).take();
    CHECK(r.gaps.empty());
    CHECK(r.unschedulable.empty());
  }
  SUBCASE("an initContainer is checked like the others") {
    auto w = workload("reg/multi:1");
    w.containers.push_back({"migrate", "reg/arm64:1", true, "deploy.yaml:12"});
    auto r = kube::check_workloads({w}, k_mixed, images).take();
    REQUIRE(r.gaps.size() == 1);
    CHECK(r.gaps[0].init);
    CHECK(r.gaps[0].missing == std::vector<std::string>{"linux/amd64", "linux/arm/v7"});
  }
  SUBCASE("arm nodes take the --arm-variant default; a v6 cluster needs a v6 image") {
    auto w = workload("reg/multi:1", {{"zone", "edge"}});
    CHECK(kube::check_workloads({w}, k_mixed, images).take().gaps.empty());
    auto r = kube::check_workloads({w}, k_mixed, images, "v6").take();
    REQUIRE(r.gaps.size() == 1);
    CHECK(r.gaps[0].missing == std::vector<std::string>{"linux/arm/v6"});
  }
  SUBCASE("a workload no node accepts is reported apart, not as a gap") {
    auto r = kube::check_workloads({workload("reg/amd64-only:1", {{"kubernetes.io/arch", "riscv64"}})}, k_mixed, images).take();
    CHECK(r.gaps.empty());
    CHECK(r.unschedulable == std::vector<std::size_t>{0});
  }
  SUBCASE("a node of a platform xbuild does not know is one every image misses") {
    std::vector<kube::Node> nodes = k_mixed;
    nodes.push_back({"big-iron", "linux", "sparc64", "", {{"kubernetes.io/arch", "sparc64"}}, {}});
    auto r = kube::check_workloads({workload("reg/multi:1")}, nodes, images).take();
    REQUIRE(r.gaps.size() == 1);
    CHECK(r.gaps[0].missing == std::vector<std::string>{"linux/sparc64"});
    CHECK(r.gaps[0].nodes == std::vector<std::string>{"big-iron"});
  }
  SUBCASE("an image without known platforms is an error, not a pass") {
    auto r = kube::check_workloads({workload("reg/unknown:1")}, k_mixed, images);
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().find("reg/unknown:1") != std::string::npos);
  }
}
