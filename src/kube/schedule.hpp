#pragma once
// Where a workload's pods could run, and which of those nodes its images cannot run on.
// The scheduler's rules are applied as kube-scheduler applies them to a fresh pod: the
// nodeSelector (every label equal), the required node affinity (the terms ORed, each term's
// expressions ANDed; In, NotIn, Exists, DoesNotExist, Gt, Lt) and the NoSchedule/NoExecute
// taints the pod does not tolerate. Taints the node controller sets and lifts with a node's
// state (node.kubernetes.io/not-ready, unreachable, ...) are ignored, and so are preferred
// affinity, pod (anti-)affinity and capacity: they can only narrow the nodes, so the check
// may report a node a pod would in fact never reach, never the reverse.
// Image platforms come in as plain values, so this is tested without a registry or cluster.

#include "kube/manifest.hpp"
#include "kube/nodes.hpp"
#include "platform/platform.hpp"
#include "util/error.hpp"

#include <cstddef>
#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace xb::kube {

/// Labels by key.
using Labels = std::map<std::string, std::string>;

/// What is wrong with a requirement ("" when nothing): an unknown operator, In/NotIn without
/// values, Exists/DoesNotExist with values, Gt/Lt without exactly one integer value. The
/// API server refuses such a manifest; here it is an error naming the workload.
std::string requirement_problem(const Requirement& requirement);
/// Whether `labels` satisfy a valid requirement (a Gt/Lt label that is no integer does not).
bool satisfies(const Labels& labels, const Requirement& requirement);
/// Whether the nodeSelector and required node affinity of `workload` accept a node with
/// `labels` (no terms: any node; a term without expressions: no node).
bool selects(const Workload& workload, const Labels& labels);
/// Whether `tolerations` tolerate `taint`, as the scheduler matches them (an empty effect
/// matches every effect, an empty key with Exists every taint).
bool tolerates(const std::vector<Toleration>& tolerations, const Taint& taint);
/// Whether a taint keeps pods that do not tolerate it off its node for good: NoSchedule or
/// NoExecute, and not a condition taint (node.kubernetes.io/..., set and lifted as the
/// node's state changes).
bool keeps_pods_off(const Taint& taint);
/// Whether a pod of `workload` may be placed on `node`: selects() its labels, and it
/// tolerates every taint that keeps_pods_off().
bool may_land_on(const Workload& workload, const Node& node);
/// The nodes the workload's pods may be placed on, in node-list order. Error naming the
/// workload (source, kind/name) and the bad requirement when one is invalid.
Result<std::vector<const Node*>> candidate_nodes(const Workload& workload, const std::vector<Node>& nodes);

/// Whether an image for platform `image` runs on a node of platform `node`: the same
/// platform, or for arm an older variant (an ARMv7 CPU runs ARMv6 code, and containerd
/// picks it). Never across architectures: containerd would give an arm64 node an arm/v7
/// image, but many arm64 CPUs (AWS Graviton, Ampere) cannot run 32-bit code.
bool runs_on(const Platform& image, const Platform& node);

/// The platforms each image provides, by the image reference as the manifests write it.
/// An index gives its manifests' platforms; a single manifest its config's os/arch/variant.
using ImagePlatforms = std::map<std::string, std::vector<Platform>>;

/// One container that would fail with "exec format error" on some nodes.
struct Gap {
  std::size_t workload = 0;          ///< index into the workloads checked
  std::string container;             ///< the container's name
  bool init = false;                 ///< an initContainer
  std::string image;                 ///< as the manifest writes it
  std::vector<std::string> missing;  ///< the node platforms the image lacks ("linux/arm64"), sorted
  std::vector<std::string> nodes;    ///< the nodes of those platforms the pods may be placed on
};

/// The outcome of checking workloads against a cluster.
struct CheckResult {
  std::vector<Gap> gaps;                  ///< in workload, then container order
  std::vector<std::size_t> unschedulable; ///< workloads no node accepts (their pods stay Pending)
};

/// Every container whose image lacks the platform of a node its pods may be placed on. Each
/// image must be in `images`. A node's platform is node_platform(node, arm_variant); a node
/// xbuild has no platform for counts as one no image has ("linux/sparc64"). Error for an
/// invalid requirement (see candidate_nodes).
Result<CheckResult> check_workloads(const std::vector<Workload>& workloads, const std::vector<Node>& nodes,
                                    const ImagePlatforms& images, std::string_view arm_variant = "v7");

}  // namespace xb::kube
