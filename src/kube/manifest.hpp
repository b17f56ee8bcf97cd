#pragma once
// Kubernetes manifests: the files (FILE, DIR, "-"), their documents as yaml::Node trees, and
// the workloads in them, i.e. every object with a pod template. `xbuild resolve` rewrites the
// trees in place (images, affinity) and emits them; `xbuild cluster check` reads Workloads.

#include "kube/yaml.hpp"
#include "util/error.hpp"

#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace xb::kube {

/// One nodeSelectorTerm's match expression.
struct Requirement {
  std::string key, op;  ///< op: In NotIn Exists DoesNotExist Gt Lt
  std::vector<std::string> values;
};

/// A required nodeSelectorTerm: all of its expressions must match (terms are ORed).
struct NodeSelectorTerm {
  std::vector<Requirement> match_expressions;
};

/// A pod's toleration of node taints (op: Equal or Exists; an empty key with Exists
/// tolerates every taint, an empty effect every effect).
struct Toleration {
  std::string key, op, value, effect;
};

/// A container of a pod template.
struct Container {
  std::string name, image;
  bool init = false;   ///< an initContainer
  std::string source;  ///< "file:line" of the container
};

/// An object with a pod template and what decides where its pods may run.
struct Workload {
  std::string kind, name, namespace_;            ///< namespace_ empty = "default"
  std::string source;                            ///< "file:line" of the document (or List item)
  std::vector<Container> containers;             ///< containers, then initContainers
  std::map<std::string, std::string> node_selector;
  std::vector<NodeSelectorTerm> required_terms;  ///< requiredDuringScheduling...nodeSelectorTerms
  std::vector<Toleration> tolerations;           ///< spec.tolerations
};

/// A manifest file and its documents ("stdin" for "-").
struct ManifestFile {
  std::string source;
  std::vector<yaml::Document> documents;
};

/// A pod template inside a document: the object that holds it and its pod spec (a pointer
/// into the document tree, valid while the tree is not restructured).
struct PodTemplate {
  std::string kind, name, namespace_, source;  ///< source: "file:line" of the object
  std::string file;            ///< the file alone
  yaml::Node* spec = nullptr;  ///< the PodSpec map (containers, affinity, ...)
};

/// The most manifest files one run reads.
inline constexpr std::size_t max_manifest_files = 10'000;

/// The kinds whose pod template xbuild reads (CronJob's is spec.jobTemplate.spec.template).
const std::vector<std::string>& workload_kinds();

/// Reads FILE, DIR (every *.yaml/*.yml below it, sorted by path) or "-" (stdin), in the
/// order given. Errors (exit 2 for the caller) name the file and line.
Result<std::vector<ManifestFile>> load_manifests(const std::vector<std::string>& paths);

/// Every pod template in the file's documents, `kind: List` items included, in order.
Result<std::vector<PodTemplate>> pod_templates(ManifestFile& file);

/// The workload a pod template describes (containers, nodeSelector, required affinity).
Result<Workload> read_workload(const PodTemplate& tmpl);

/// FILE, DIR (every *.yaml/*.yml, sorted, recursive) or "-" (stdin)
Result<std::vector<Workload>> load_workloads(const std::vector<std::string>& paths);

}  // namespace xb::kube
