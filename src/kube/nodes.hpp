#pragma once
// Kubernetes nodes as `kubectl get nodes -o json` prints them (a v1 List of Node), and the
// platform each node runs.

#include "platform/platform.hpp"
#include "util/error.hpp"

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace xb::kube {

/// A node's taint (spec.taints): pods that do not tolerate it are kept off (NoSchedule,
/// NoExecute) or placed elsewhere when they can be (PreferNoSchedule).
struct Taint {
  std::string key, value, effect;
};

/// One node: its name, os/arch/variant (labels first, else status.nodeInfo), all labels,
/// its taints.
struct Node {
  std::string name;
  std::string os, arch, variant;
  std::map<std::string, std::string> labels;
  std::vector<Taint> taints;
};

/// The most JSON a node list may hold; more is an error, not an allocation.
inline constexpr std::size_t max_node_list_bytes = 64u << 20;

/// Parses `kubectl get nodes -o json` output (also what --nodes FILE holds). source names
/// the file or "kubectl" in errors.
Result<std::vector<Node>> parse_node_list(std::string_view json, std::string_view source);

/// The node's platform; arm is arm/<arm_variant> unless a label says otherwise. nullopt
/// when xbuild has no platform for its os/arch.
std::optional<Platform> node_platform(const Node& node, std::string_view arm_variant = "v7");

/// Each platform the nodes run -> the names of the nodes running it (in node-list order).
/// Throws Error (Exit::environment) naming every node xbuild has no platform for (a build
/// for "the cluster" that silently left one out would ship an image that fails there with
/// "exec format error"), and for an empty node list.
std::map<Platform, std::vector<std::string>> platforms_of(const std::vector<Node>& nodes, std::string_view arm_variant = "v7");

}  // namespace xb::kube
