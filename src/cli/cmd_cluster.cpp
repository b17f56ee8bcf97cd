// `xbuild cluster platforms`: the platforms a Kubernetes cluster's nodes run, each with its
// node count, read through kubectl (or a saved `kubectl get nodes -o json` with --nodes).

#include "cli/commands.hpp"
#include "kube/kubectl.hpp"

#include <boost/json.hpp>
#include <fmt/format.h>

#include <map>

namespace xb::cli {

namespace {

struct ClusterOptions {
  std::string context;
  std::filesystem::path nodes;
  std::string arm_variant = "v7";
  bool json = false;
};

/// Each platform the nodes run -> the nodes' names; a node xbuild has no platform for is an
/// error that names it (a build for "the cluster" that silently left it out would ship an
/// image that fails there with "exec format error").
std::map<Platform, std::vector<std::string>> platforms_of(const std::vector<kube::Node>& nodes, std::string_view arm_variant) {
  std::map<Platform, std::vector<std::string>> by_platform;
  std::vector<std::string> unknown;
  for (const auto& n : nodes) {
    if (auto p = kube::node_platform(n, arm_variant)) {
      by_platform[*p].push_back(n.name);
    } else {
      unknown.push_back(fmt::format("{} ({}/{}{}{})", n.name, n.os, n.arch, n.variant.empty() ? "" : "/", n.variant));
    }
  }
  if (!unknown.empty())
    fail(Exit::environment, "xbuild has no platform for node{} {}; build for the others with an explicit --platform list",
         unknown.size() == 1 ? "" : "s", fmt::join(unknown, ", "));
  if (by_platform.empty()) fail(Exit::environment, "the cluster has no nodes");
  return by_platform;
}

}  // namespace

void register_cluster(CLI::App& app) {
  auto o = std::make_shared<ClusterOptions>();
  auto* cmd = app.add_subcommand("cluster", "What a Kubernetes cluster's nodes run (through kubectl)");
  cmd->require_subcommand(1);
  auto* platforms = cmd->add_subcommand("platforms", "Print each platform the cluster's nodes run, with its node count");
  platforms->add_option("--kube-context", o->context, "kubeconfig context (default: the current one; KUBECONFIG is honoured)");
  platforms->add_option("--nodes", o->nodes, "Read the nodes from FILE (`kubectl get nodes -o json` output) instead of the cluster");
  platforms->add_option("--arm-variant", o->arm_variant, "Variant of arm nodes without a variant label")
      ->check(CLI::IsMember({"v6", "v7"}));
  platforms->add_flag("--json", o->json, "Machine-readable output");
  platforms->callback([o] {
    auto nodes = kube::load_nodes(kube::NodeSource{o->nodes, o->context});
    auto by_platform = platforms_of(nodes, o->arm_variant);
    if (o->json) {
      boost::json::array arr;
      for (const auto& [p, names] : by_platform) {
        boost::json::array ns;
        for (const auto& n : names) ns.push_back(boost::json::value(n));
        arr.push_back(boost::json::object{{"platform", p.str()}, {"count", names.size()}, {"nodes", ns}});
      }
      fmt::print("{}\n", boost::json::serialize(boost::json::object{{"platforms", arr}}));
      return;
    }
    for (const auto& [p, names] : by_platform)
      fmt::print("{:<16} {} node{}\n", p.str(), names.size(), names.size() == 1 ? "" : "s");
  });
}

}  // namespace xb::cli
