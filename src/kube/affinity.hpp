#pragma once
// Where a pod template may be scheduled, as far as platforms go: the required nodeAffinity
// `xbuild resolve` writes so a pod lands only on nodes whose os/arch all of its images have
// (Skaffold does the same for the platforms it built).

#include "kube/manifest.hpp"

#include <compare>
#include <string>
#include <vector>

namespace xb::kube {

/// The node labels kubernetes.io/os and kubernetes.io/arch.
inline constexpr const char* k_os_label = "kubernetes.io/os";
inline constexpr const char* k_arch_label = "kubernetes.io/arch";

/// A platform as the scheduler sees it: the two labels (there is no variant label).
struct NodePlatform {
  std::string os, arch;
  auto operator<=>(const NodePlatform&) const = default;
};

/// Restricts the pod template's required nodeAffinity to `platforms`: every existing
/// nodeSelectorTerm (or, with none, an empty one) is combined with each platform as
/// `kubernetes.io/os In [os]` and `kubernetes.io/arch In [arch]` (one term per platform and
/// existing term), combinations an existing os/arch expression or the nodeSelector rules out
/// are dropped, and equal terms are kept once. Applying it twice with the same platforms
/// changes nothing (a fixed point). Fails (naming the template) when no term is left: the
/// pod could then only be scheduled where one of its images cannot run.
Result<bool> require_platforms(PodTemplate& tmpl, const std::vector<NodePlatform>& platforms);

}  // namespace xb::kube
