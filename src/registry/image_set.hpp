#pragma once
// What a push sends, whatever it came from (a local OCI layout, a registry, or a merge of
// several): the top manifest or index and each child manifest as the exact bytes that were
// hashed, plus every config and layer blob with where its bytes can be had. Nothing here
// re-serialises a manifest; a new index (merge) is serialised once and hashed as written.

#include "oci/descriptor.hpp"
#include "util/temp.hpp"

#include <filesystem>
#include <memory>
#include <map>
#include <string>
#include <vector>

namespace xb::registry {

/// A manifest or index with its exact bytes.
struct RawManifest {
  oci::Descriptor desc;  ///< media type, digest and size of `bytes` (platform for children)
  std::string bytes;
};

/// Where a blob's bytes are: a local file, a registry repository, or both.
struct BlobLocation {
  std::filesystem::path file;   ///< "" when only remote
  std::string registry;         ///< Reference::registry form; "" when only local
  std::string repository;
};

/// An OCI 1.1 referrer (an SBOM) attached to one of the image's manifests.
struct Referrer {
  RawManifest manifest;    ///< the artifact manifest (desc.artifact_type says what it carries)
  oci::Descriptor subject; ///< the manifest it is about
};

/// One image (single manifest or index) ready to push or write.
struct ImageSet {
  RawManifest top;                                ///< an index, or a single manifest
  std::vector<RawManifest> children;              ///< the index's manifests (empty for a single manifest)
  std::vector<Referrer> referrers;                ///< SBOMs about `top` or a child (their blobs are in `blobs`)
  std::vector<oci::Descriptor> blobs;             ///< configs and layers, unique by digest
  std::map<std::string, BlobLocation> locations;  ///< by digest string, one per blob
  std::vector<std::shared_ptr<TempDirectory>> unpacked;  ///< unpacked oci-archives the locations point into

  /// True when `top` is an index or manifest list.
  bool is_index() const;
  /// Adds a blob once (the first location wins).
  void add_blob(const oci::Descriptor& d, BlobLocation where);
};

/// How much of an image to read: all of it, or only its top manifest or index (a
/// registry's index children are then not fetched; local sources are always read whole).
enum class Depth { image, top };

/// Reads the image tagged `tag` (its org.opencontainers.image.ref.name; "" = the only one)
/// from an OCI image layout. Manifests are read verbatim and their digests checked; blobs
/// are checked to exist with the right size. Throws Error (Exit::usage) naming the file.
ImageSet read_layout_image(const std::filesystem::path& layout, const std::string& tag);
/// Reads the image tagged `tag` from an oci-archive FILE.tar: the archive is unpacked
/// (every blob verified) into a private temp layout that lives as long as the set; messages
/// name FILE. Throws Error (Exit::usage) like read_layout_image.
ImageSet read_archive_image(const std::filesystem::path& file, const std::string& tag);
/// The manifest descriptors (with their platforms) an index lists; throws Error naming `where`.
std::vector<oci::Descriptor> index_manifests(const std::string& bytes, std::string_view where);
/// The config and layer descriptors a manifest lists; throws Error naming `where`.
std::vector<oci::Descriptor> manifest_blobs(const std::string& bytes, std::string_view where);
/// The tags (ref.name annotations) of a layout's index.json.
std::vector<std::string> layout_tags(const std::filesystem::path& layout);

}  // namespace xb::registry
