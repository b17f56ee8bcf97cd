#pragma once
// Fan-in for CI matrices: per-platform images built by separate jobs (each a layout or a
// registry reference, each a single manifest or an index) become one index, which is then
// pushed or written to a layout. This is what `docker buildx imagetools create` does. The
// children keep their exact bytes and digests; only the new index is serialised, once.

#include "registry/client.hpp"
#include "registry/image_set.hpp"

#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

namespace xb::registry {

/// Reads every source (registry/source.hpp's read_image_source: a layout, an oci-archive or
/// a registry reference) and
/// stitches their platform manifests into one OCI index. A platform that appears twice is
/// an error (Exit::usage) naming both sources.
ImageSet merge_images(const std::vector<std::string>& sources, ClientPool& pool);

/// Writes an image set to an OCI layout at `dest` (created if needed), tagged `tag` in its
/// index.json; remote blobs are downloaded (verified). Blobs first, index.json last.
void write_layout(const ImageSet& image, const std::filesystem::path& dest, const std::string& tag, ClientPool& pool);

}  // namespace xb::registry
