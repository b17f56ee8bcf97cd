#include "kube/nodes.hpp"

#include <doctest/doctest.h>

#include <string>

using namespace xb;

TEST_CASE("kube: a node list takes os/arch from the labels, else from status.nodeInfo") {
  const char* text = R"({"kind":"List","apiVersion":"v1","items":[
    {"kind":"Node","metadata":{"name":"cp-1","labels":{"kubernetes.io/os":"linux","kubernetes.io/arch":"amd64"}},
     "status":{"nodeInfo":{"operatingSystem":"linux","architecture":"arm64"}}},
    {"kind":"Node","metadata":{"name":"edge-1"},"status":{"nodeInfo":{"operatingSystem":"linux","architecture":"arm"}}},
    {"kind":"Node","metadata":{"name":"pi","labels":{"kubernetes.io/os":"linux","kubernetes.io/arch":"arm","xbuild.io/arch-variant":"v6"}}}]})";
  auto r = kube::parse_node_list(text, "nodes.json");
  REQUIRE(r.ok());
  const auto& nodes = r.value();
  REQUIRE(nodes.size() == 3);
  CHECK(nodes[0].arch == "amd64");  // the label wins over nodeInfo
  CHECK(kube::node_platform(nodes[0])->str() == "linux/amd64");
  CHECK(kube::node_platform(nodes[1])->str() == "linux/arm/v7");
  CHECK(kube::node_platform(nodes[1], "v6")->str() == "linux/arm/v6");
  CHECK(kube::node_platform(nodes[2])->str() == "linux/arm/v6");  // the label wins over the default
}

TEST_CASE("kube: a node xbuild has no platform for gives nullopt, not a guess") {
  kube::Node n{"w", "windows", "amd64", "", {}, {}};
  CHECK_FALSE(kube::node_platform(n).has_value());
  kube::Node s{"s", "linux", "sparc64", "", {}, {}};
  CHECK_FALSE(kube::node_platform(s).has_value());
}

TEST_CASE("kube: hostile or wrong node lists are errors that name the source") {
  for (std::string bad : {std::string("{"), std::string(100000, '['), std::string(R"({"kind":"PodList","items":[]})"),
                          std::string(R"({"kind":"List","items":[1]})"), std::string(R"({"kind":"List","items":[{"metadata":{"name":"x"}}]})"),
                          std::string("[]")}) {
    auto r = kube::parse_node_list(bad, "saved.json");
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().find("saved.json") != std::string::npos);
  }
  CHECK_FALSE(kube::parse_node_list(std::string(kube::max_node_list_bytes + 1, ' '), "big.json").ok());
}

TEST_CASE("kube: platforms_of groups the nodes by platform and names every node it has no platform for") {
  std::vector<kube::Node> nodes{{"a1", "linux", "arm64", "", {}, {}}, {"x", "linux", "amd64", "", {}, {}}, {"a2", "linux", "arm64", "", {}, {}}};
  auto by = kube::platforms_of(nodes);
  REQUIRE(by.size() == 2);
  CHECK(by.at(Platform::parse("linux/arm64")) == std::vector<std::string>{"a1", "a2"});
  nodes.push_back({"sparc-box", "linux", "sparc64", "", {}, {}});
  nodes.push_back({"win", "windows", "amd64", "", {}, {}});
  try {
    kube::platforms_of(nodes);
    FAIL("no error");
  } catch (const Error& e) {
    CHECK(e.code() == Exit::environment);
    CHECK(std::string(e.what()).find("sparc-box (linux/sparc64), win (windows/amd64)") != std::string::npos);
  }
  CHECK_THROWS_AS(kube::platforms_of({}), Error);
}
