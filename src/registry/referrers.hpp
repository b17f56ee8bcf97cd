#pragma once
// Reading the SBOMs attached to an image's platform manifests (OCI 1.1 referrers), from an
// OCI layout or oci-archive (index.json entries with an artifactType whose subject is one of
// the image's manifests) or from a registry (its referrers API, GET /v2/<repo>/referrers/<digest>,
// and where it has none, the referrers tag schema sha256-<hex>). Every registry body is
// capped: indexes and manifests at oci::k_max_manifest_bytes, the SBOM at k_max_sbom_bytes.

#include "oci/descriptor.hpp"
#include "registry/client.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace xb::registry {

/// The most bytes of an SBOM document xbuild reads from a registry or layout.
inline constexpr std::int64_t k_max_sbom_bytes = 64 << 20;

/// One platform of an image and its SBOM.
struct PlatformSbom {
  oci::Descriptor manifest;                ///< the platform manifest (with its platform)
  std::optional<oci::Descriptor> referrer; ///< the SBOM's artifact manifest, when there is one
};

/// The image at `target` (LAYOUT[:TAG], ARCHIVE.tar[:TAG] or REGISTRY/REPO[:TAG]): per
/// platform manifest, its SBOM referrer (artifactType application/spdx+json or
/// application/vnd.cyclonedx+json).
std::vector<PlatformSbom> find_sboms(const std::string& target, const ClientOptions& options);
/// The SBOM document `s.referrer` carries, read from `target` and verified.
std::string read_sbom(const std::string& target, const PlatformSbom& s, const ClientOptions& options);

}  // namespace xb::registry
