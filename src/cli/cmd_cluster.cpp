// `xbuild cluster platforms`: the platforms a Kubernetes cluster's nodes run, each with its
// node count, read through kubectl (or a saved `kubectl get nodes -o json` with --nodes).

#include "cli/build_flags.hpp"
#include "cli/commands.hpp"
#include "kube/kubectl.hpp"

#include <boost/json.hpp>
#include <fmt/format.h>

#include <map>

namespace xb::cli {

namespace {

struct ClusterOptions {
  ClusterFlags cluster;
  bool json = false;
};

}  // namespace

void register_cluster(CLI::App& app) {
  auto o = std::make_shared<ClusterOptions>();
  auto* cmd = app.add_subcommand("cluster", "What a Kubernetes cluster's nodes run (through kubectl)");
  cmd->require_subcommand(1);
  auto* platforms = cmd->add_subcommand("platforms", "Print each platform the cluster's nodes run, with its node count");
  add_cluster_flags(*platforms, o->cluster);
  platforms->add_flag("--json", o->json, "Machine-readable output");
  platforms->callback([o] {
    auto nodes = kube::load_nodes(kube::NodeSource{o->cluster.nodes, o->cluster.context});
    auto by_platform = kube::platforms_of(nodes, o->cluster.arm_variant);
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
