#pragma once
// The OCI exporter: what `xbuild build` calls once every platform has built. It turns
// each platform's collected outputs into a layer, an image config and a manifest, ties
// them together in one index, and writes an OCI image layout directory, an oci-archive
// tar, or a docker-archive tar (`docker load`, one platform). The default layout, when no
// --output is given, is <project>/.xbuild/oci (the caller passes it). See layer.hpp for
// the determinism rules and layout.hpp for atomicity.

#include "oci/compress.hpp"
#include "oci/image_spec.hpp"
#include "oci/provenance.hpp"
#include "oci/sbom.hpp"
#include "platform/platform.hpp"

#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace xb::oci {

/// One platform's build result.
struct PlatformImageInput {
  Platform platform;
  std::filesystem::path out_dir;  ///< holds that platform's outputs (ImageSpec::outputs are relative to it)
};

/// Where a build's outputs go: an OCI layout directory, an oci-archive tar, a docker-archive
/// tar (`docker load`; one platform), or plain files in a directory (`local`, which
/// export_images does not write). The docker tar is the oci-archive of that one platform
/// plus manifest.json (Config, RepoTags, Layers naming the blobs), as buildx's docker
/// exporter writes it, so docker, skopeo's docker-archive: and oci-archive: all read it.
enum class OutputType { oci, oci_archive, docker, local };

/// Whether export resolves runtime libraries and lints the image (skip: for measuring them).
enum class ImageChecks { run, skip };

/// How to export.
struct ExportOptions {
  OutputType type = OutputType::oci;
  std::filesystem::path dest;                  ///< layout dir, or archive file for oci_archive and docker
  std::vector<std::string> tags;               ///< -t values; empty: spec.image.tags, then "<name>:latest"
  std::optional<Compression> compression;      ///< --compression; nullopt = spec.image.compression
  std::optional<long long> source_date_epoch;  ///< nullopt = $SOURCE_DATE_EPOCH, else 0
  unsigned threads = 0;                        ///< gzip threads (0 = CPUs); output never depends on it
  std::map<Platform, std::filesystem::path> sysroots;  ///< per platform, where runtime libraries come from
  ImageChecks checks = ImageChecks::run;               ///< [image] runtime and the lint (oci/lint.hpp)
  bool sbom = true;                                    ///< attach an SBOM to each platform's manifest (oci/sbom.hpp)
  SbomFormat sbom_format = SbomFormat::spdx;           ///< SPDX 2.3 JSON, or CycloneDX 1.5 JSON
  std::map<Platform, BuildTool> tools;                 ///< per platform, the toolchain the SBOM names
  std::map<Platform, std::filesystem::path> rootfs;    ///< per emulated platform, the rootfs whose dpkg status the SBOM lists
  ProvenanceMode provenance = ProvenanceMode::none;    ///< attach SLSA provenance per platform (the cli's default: min)
  std::map<Platform, BuildRecord> builds;              ///< per platform, how it was built (for the provenance)
  std::filesystem::path reuse_dir;                     ///< where each platform's last layer is kept (oci/reuse.hpp); "" = pack every layer
};

/// What a platform's image took from the last build (oci/reuse.hpp).
struct PlatformReuse {
  bool layer = false;  ///< its outputs' layer came from the store: nothing was packed
  bool image = false;  ///< and its config and manifest are the last build's too (the same manifest digest)
};

/// What was written.
struct ExportResult {
  std::string index_digest;  ///< "sha256:..." of the image index
  std::int64_t index_size = 0;
  std::vector<std::pair<Platform, std::string>> manifests;  ///< per platform, the manifest digest
  std::vector<std::string> ref_names;                        ///< the index.json ref names written
  std::vector<std::pair<Platform, std::string>> sboms;       ///< per platform, the SBOM referrer manifest's digest
  std::vector<std::pair<Platform, std::string>> provenances; ///< per platform, the provenance referrer manifest's digest
  std::vector<std::pair<Platform, PlatformReuse>> reused;    ///< per platform, what was reused (all false without reuse_dir)
};

/// Writes the image for `inputs` (in that order in the index). Throws Error naming the file,
/// flag or base on bad input, Error(environment) naming the destination when a write fails
/// (a full disk), Error(interrupted) when an InterruptScope caught a signal; nothing is left
/// half-written and no temp stays (the previous layout stays valid). OutputType::docker takes
/// exactly one input, and refuses zstd layers (Error(usage)): docker load reads gzip or
/// uncompressed ones.
ExportResult export_images(const ImageSpec& spec, const std::vector<PlatformImageInput>& inputs, const ExportOptions& options);

/// Checks everything that can be checked before building: compression, tags, the base
/// (and that it has every platform), the image paths, and that dest can be written.
/// Throws the same Errors export_images would, so bad flags fail in a second.
void check_export(const ImageSpec& spec, const std::vector<Platform>& platforms, const ExportOptions& options);

/// "oci", "oci-archive", "docker" or "local", as --output spells it.
std::string_view to_string(OutputType type);

/// Where an image or a local copy goes (cli/image_spec parses `build -o` into it).
struct OutputSpec {
  OutputType type = OutputType::oci;
  std::filesystem::path dest;
};

/// The ref name (tag) for an image name: "hello:1.0" -> "1.0", "host:5000/a/b" -> "latest".
/// Throws Error (Exit::usage) naming -t for a digest reference or an invalid tag.
std::string ref_name_of(std::string_view image_name);

/// SOURCE_DATE_EPOCH: `given`, else the environment variable, else 0. Throws Error
/// (Exit::usage) when the variable is not a non-negative integer.
long long source_date_epoch(std::optional<long long> given);

}  // namespace xb::oci
