#pragma once
// What `xbuild inspect` shows, kept apart from where it comes from: summarize() reads
// through a BlobSource (a local layout today, a registry tomorrow) and the format functions
// only print the resulting values.

#include "oci/layout.hpp"

#include <boost/json/object.hpp>

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace xb::oci {

/// One platform image of an index (or a single-manifest image).
struct PlatformSummary {
  std::string platform;          ///< from the index descriptor, "" for a lone manifest
  Descriptor manifest;
  Descriptor config;
  std::size_t layer_count = 0;
  std::int64_t layer_bytes = 0;  ///< sum of the layers' stored sizes
  OciPlatform config_platform;   ///< os/architecture/variant read from the config
};

/// One named image (an index.json entry).
struct ImageSummary {
  std::string ref_name;          ///< org.opencontainers.image.ref.name, "" when none
  Descriptor top;                ///< the index.json entry
  std::map<std::string, std::string> annotations;  ///< the index's (or manifest's) annotations
  std::vector<PlatformSummary> platforms;
};

/// Reads `top` and what it points at (not the layers themselves) from `src`.
ImageSummary summarize(BlobSource& src, const Descriptor& top);
/// Human-readable text, one block per image.
std::string format_text(const std::string& location, const std::vector<ImageSummary>& images);
/// {"location", "images": [{"ref","digest","mediaType","size","annotations","platforms":[...]}]}.
boost::json::object format_json(const std::string& location, const std::vector<ImageSummary>& images);


}  // namespace xb::oci
