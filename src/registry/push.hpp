#pragma once
// Pushing an image to a registry over the OCI distribution API. The order is the one a
// registry needs and a reader can trust: every blob (in parallel, bounded by jobs), then
// each platform manifest by digest, then the index by tag, last, only after everything
// else succeeded, so a failed push never leaves a tag pointing at an incomplete index.

#include "registry/client.hpp"
#include "registry/image_set.hpp"
#include "registry/reference.hpp"
#include "platform/platform.hpp"

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace xb::registry {

/// Blobs above this size go up in PATCH chunks of this size (--chunk-size).
inline constexpr std::uint64_t k_default_chunk_size = 64ull << 20;

/// How to push.
struct PushOptions {
  int jobs = 4;                                   ///< parallel blob uploads (--push-jobs)
  std::string creds;                              ///< "user:pass" from --creds, "" = docker config
  std::vector<std::string> insecure_registries;   ///< --insecure-registry HOST (repeatable)
  std::filesystem::path ca_file;                  ///< --ca-file PEM
  bool json = false;                              ///< --json: machine-readable result
  bool verbose = false;                           ///< -v: log requests (never credentials)
  std::uint64_t chunk_size = k_default_chunk_size;  ///< --chunk-size BYTES
  int max_attempts = 4;                           ///< tries per blob / manifest on 5xx and broken connections
  int backoff_ms = 200;                           ///< first retry delay, doubled each time
  bool docker_fallback = false;                   ///< --docker-manifest-list-fallback
  bool quiet = false;                             ///< no "pushing REF (...)" line on stderr (cache exports)

  /// The client settings these imply.
  ClientOptions client_options() const;
};

/// What one pushed reference got.
struct PushResult {
  std::string reference;   ///< repo@sha256:...  (registry/repository@digest)
  std::string digest;      ///< the digest of the pushed index (or manifest)
  int blobs_uploaded = 0;  ///< blobs whose bytes were sent
  int blobs_existing = 0;  ///< blobs the registry already had (HEAD 200)
  int blobs_mounted = 0;   ///< blobs mounted from another repository
  std::uint64_t bytes_uploaded = 0;
  int manifests = 0;       ///< manifests and index PUT (ones the registry already served are skipped)
};

/// The opt-in fallback for registries that reject OCI indexes: each platform manifest
/// converted to a Docker v2 schema 2 manifest (same config and layer blobs) and a Docker
/// manifest list over them. New documents, so new digests. Throws Error for zstd layers.
std::pair<std::vector<RawManifest>, RawManifest> to_docker_manifest_list(const ImageSet& image);

/// Pushes the image tagged `layout_tag` (its org.opencontainers.image.ref.name in
/// index.json; "" = the only one) from an OCI layout to each ref in `refs`.
std::vector<PushResult> push_layout(const std::filesystem::path& layout, const std::string& layout_tag,
                                    const std::vector<std::string>& refs, const PushOptions& options);

/// Before a build that will push: pings each registry of `refs` once and proves the
/// credentials for their repositories (Client::check_access). Throws RegistryError (exit 4).
void check_push_access(const std::vector<std::string>& refs, const PushOptions& options);

/// Pushes an image set to one reference (the tag, or the digest when the ref has only one).
PushResult push_image(const ImageSet& image, const Reference& target, const PushOptions& options);

/// The same, reusing a run's clients (so tokens and the scheme probe are shared).
PushResult push_image(ClientPool& pool, const ImageSet& image, const Reference& target, const PushOptions& options);

/// [image] base: when it is a registry reference, pulls it for `platforms` into the cache
/// (${XDG_CACHE_HOME:-~/.cache}/xbuild) and returns "oci:CACHE@sha256:..." for the OCI
/// code; "scratch", "oci:..." and anything else come back unchanged. (In remote.cpp.)
std::string resolve_base(const std::string& base, const std::vector<Platform>& platforms, const ClientOptions& options);

/// How print_push_results writes.
enum class ResultFormat { text, json };
/// Prints results as `name@sha256:...` lines (ResultFormat::text, with a summary on
/// stderr), or as one JSON array (--json); both on stdout.
void print_push_results(const std::vector<PushResult>& results, ResultFormat format);

}  // namespace xb::registry
