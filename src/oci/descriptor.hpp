#pragma once
// The OCI descriptor and platform object as small value types, each read from and written
// to JSON in exactly one place (descriptor.cpp). JSON objects keep insertion order, so a
// descriptor always serialises the same way: mediaType, digest, size, platform, annotations.

#include "oci/digest.hpp"
#include "platform/platform.hpp"

#include <boost/json/fwd.hpp>

#include <cstdint>
#include <map>
#include <optional>
#include <string>

namespace xb::oci {

/// The most bytes of a manifest or index xbuild reads (what the distribution spec suggests
/// registries accept): bodies and archive entries parsed as JSON stop here.
inline constexpr std::int64_t k_max_manifest_bytes = 4 << 20;
/// The most bytes of an image config xbuild parses.
inline constexpr std::int64_t k_max_config_bytes = 4 << 20;

/// The platform object of an index entry or image config. Plain strings, because a
/// foreign index may name platforms xbuild does not build for (or "unknown/unknown").
struct OciPlatform {
  std::string os;            ///< "linux"
  std::string architecture;  ///< GOARCH-style: amd64, arm64, arm, ...
  std::string variant;       ///< "" when none

  /// From xbuild's normalised platform.
  static OciPlatform from(const Platform& p);
  /// "linux/arm/v7".
  std::string str() const;
  /// Whether an image for this platform serves `target`: os and architecture equal, and
  /// variants equal after normalising (arm64 "v8" = none; arm with none = v7, as containerd does).
  bool serves(const Platform& target) const;

  bool operator==(const OciPlatform&) const = default;
};

/// A content descriptor.
struct Descriptor {
  std::string media_type;                          ///< what the blob is (media_types.hpp)
  std::string artifact_type;                       ///< OCI 1.1: set on a referrer's entry (an SBOM's media type); "" for images
  Digest digest;                                   ///< sha256 of the exact stored bytes
  std::int64_t size = 0;                           ///< byte count of the blob (never negative when parsed)
  std::optional<OciPlatform> platform;             ///< set on an index's manifest entries
  std::map<std::string, std::string> annotations;  ///< sorted, so serialisation is stable

  /// A descriptor for `bytes` (digest computed here).
  static Descriptor of(std::string_view media_type, std::string_view bytes);
};

/// True for an index.json entry that is an OCI 1.1 referrer (an SBOM attached to a manifest),
/// not an image: it has an artifactType. Readers that pick an image by tag skip these.
inline bool is_referrer(const Descriptor& d) { return !d.artifact_type.empty(); }

/// {"os","architecture","variant"?}.
boost::json::object to_json(const OciPlatform& p);
/// Reads a platform object; throws Error naming `where` when a field is missing.
OciPlatform platform_from_json(const boost::json::value& v, std::string_view where);
/// The descriptor's JSON object.
boost::json::object to_json(const Descriptor& d);
/// Reads a descriptor; throws Error naming `where` (e.g. "index.json manifests[2]") on bad input.
Descriptor descriptor_from_json(const boost::json::value& v, std::string_view where);
/// Parses JSON text; throws Error naming `where` on a syntax error or when not an object.
boost::json::object parse_json_object(std::string_view text, std::string_view where);

}  // namespace xb::oci
