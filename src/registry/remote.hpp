#pragma once
// Reading from a registry: manifests (for inspect, merge and pull) and blobs into a local
// cache. The cache is itself an OCI image layout, ${XDG_CACHE_HOME:-~/.cache}/xbuild, with
// blobs/sha256/<hex> stored by digest after verification, so any layout reader (xbuild's
// base-image code, umoci, skopeo) can use a pulled image directly.

#include "registry/client.hpp"
#include "registry/image_set.hpp"
#include "registry/reference.hpp"
#include "platform/platform.hpp"

#include <filesystem>
#include <string>
#include <vector>

namespace xb::registry {

/// The Accept header value naming every manifest and index type xbuild reads.
std::string manifest_accept();
/// Fetches a manifest or index by tag or digest with its exact bytes. The digest is the
/// sha256 of those bytes; when fetched by digest, or when Docker-Content-Digest is sent, it
/// must match. Throws RegistryError (404 says the tag is not there).
RawManifest fetch_manifest(Client& client, HttpSession& session, const std::string& repository,
                           const std::string& ref);
/// Downloads a blob into `layout_root`/blobs/sha256/<hex> (temp file, verified digest and
/// size, then renamed) unless it is already there; returns its path.
std::filesystem::path fetch_blob(Client& client, HttpSession& session, const std::string& repository,
                                 const oci::Descriptor& blob, const std::filesystem::path& layout_root);
/// ${XDG_CACHE_HOME:-~/.cache}/xbuild: an OCI layout holding pulled images.
std::filesystem::path cache_dir();
/// Reads an image's manifests from a registry; its blobs stay remote (location = ref's repo).
/// Single manifests get their platform from their config blob. With Depth::top an index's
/// children are not fetched (set.children and set.blobs stay empty): one GET for what
/// `digest` and `manifest` print, as crane, since registries count manifest GETs.
ImageSet read_remote_image(Client& client, HttpSession& session, const Reference& ref, Depth depth = Depth::image);
/// Fetches a config blob into memory: at most its descriptor's size (refused above
/// oci::k_max_config_bytes), then size and digest checked; the bytes returned are the
/// verified ones. Throws RegistryError / Error (Exit::registry).
std::string fetch_config(Client& client, HttpSession& session, const std::string& repository,
                         const oci::Descriptor& config);
/// The os/architecture/variant a registry's config names; throws Error (Exit::registry)
/// naming `where` when it is not JSON or names none.
oci::OciPlatform config_platform(const std::string& bytes, std::string_view where);
/// Fetches an index's child manifest by digest and checks its size against `desc`, which
/// it then carries (platform, annotations).
RawManifest fetch_child_manifest(Client& client, HttpSession& session, const std::string& repository,
                                 const oci::Descriptor& desc);
/// The platform of a single-platform manifest, read from its verified config.
oci::OciPlatform manifest_platform(Client& client, HttpSession& session, const std::string& repository,
                                   const RawManifest& manifest);

/// What a reference names, without its blobs: the digest of its index (or manifest) and
/// the platforms it serves.
struct RemoteImageInfo {
  std::string digest;                        ///< "sha256:..." of the top manifest's bytes
  std::vector<oci::OciPlatform> platforms;   ///< an index's entries (attestations left out), or the config's
};
/// Fetches only the top manifest of `ref` (and, for a single manifest, its config): for
/// `resolve --pin` and the platforms of an image. Throws RegistryError / Error(registry).
RemoteImageInfo remote_image_info(Client& client, HttpSession& session, const Reference& ref);

/// How to pull.
struct PullOptions {
  std::string creds;
  std::vector<std::string> insecure_registries;
  std::filesystem::path ca_file;
  bool verbose = false;
  int jobs = 4;
  std::filesystem::path cache;  ///< "" = cache_dir()
};

/// A pulled image in a local layout.
struct PulledImage {
  std::filesystem::path layout;  ///< the layout directory (the cache)
  std::string tag;               ///< its ref.name in the layout's index.json
  std::string digest;            ///< the digest index.json records under `tag` (a subset index when
                                 ///< only some platforms were pulled)
  std::string source_digest;     ///< the registry's digest of what the reference named
  /// "oci:LAYOUT@sha256:...", the form [image] base accepts (oci/base.hpp).
  std::string oci_ref() const { return "oci:" + layout.string() + "@" + digest; }
};

/// Pulls `ref` for `platforms` (all when empty) into the cache layout: the index (or
/// manifest), the matching platform manifests, configs and layers. A platform the image
/// does not have is an error naming the ones it has. Returns the layout path and the tag
/// under which a new index listing only the pulled platforms was recorded.
PulledImage pull_to_layout(const std::string& ref, const std::vector<Platform>& platforms, const PullOptions& options);

}  // namespace xb::registry
