#pragma once
// The cluster's nodes, read through kubectl (which already speaks every kubeconfig auth
// plugin: cloud exec plugins, OIDC, client certificates) or from a saved node list.

#include "kube/nodes.hpp"

#include <filesystem>
#include <string>

namespace xb::kube {

/// Where the nodes come from: a file (`--nodes FILE`, offline), else kubectl with the
/// kubeconfig context `context` ("" = the current one; KUBECONFIG is honoured).
struct NodeSource {
  std::filesystem::path nodes_file;
  std::string context;
};

/// The nodes. Throws Error: exit 4 with kubectl's own words and the context name when the
/// cluster cannot be reached or refuses us, 3 when kubectl is not installed, 2 for a node
/// file that cannot be read or parsed (named).
std::vector<Node> load_nodes(const NodeSource& source);

}  // namespace xb::kube
