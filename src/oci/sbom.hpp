#pragma once
// The SBOM of one platform's image, as an SPDX 2.3 JSON document: every file xbuild put in
// the image (its own outputs and the runtime libraries it copied) with its sha256; the
// packages: the Rust crates of the project's Cargo.lock, the Debian packages of the base
// image's dpkg status, and for each runtime library the Debian package it came from (from
// the dpkg database of the sysroot it was copied from: an emulation rootfs's own, else the
// build machine's, as `dpkg -S` would answer); and the toolchain, as a build tool. The
// document is a function of its inputs only: lists sorted, the one time stamp is
// SOURCE_DATE_EPOCH, the namespace is derived from the content, so two builds of the same
// sources give the same bytes (and the same referrer digest).
//
// Each SBOM is attached to its platform's manifest as an OCI 1.1 referrer (make_referrer):
// an artifact manifest with artifactType = the SBOM's media type, the empty config, the
// document as its one layer and `subject` = the platform manifest. The image index never
// lists it.

#include "oci/descriptor.hpp"
#include "oci/layer.hpp"
#include "oci/media_types.hpp"
#include "platform/platform.hpp"

#include <filesystem>
#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace xb::oci {

namespace media {
inline constexpr std::string_view k_spdx_json = "application/spdx+json";
inline constexpr std::string_view k_cyclonedx_json = "application/vnd.cyclonedx+json";
}  // namespace media

/// The tool that built a platform (a descriptor's name, or "emulate"/"runner HOST") and what
/// its compiler says of its version ("" when unknown).
struct BuildTool {
  std::string name;
  std::string version;
};

/// A software package the SBOM lists.
struct SbomPackage {
  std::string kind;      ///< "cargo", "deb", "golang"
  std::string name;
  std::string version;
  std::string arch;      ///< deb only: the dpkg architecture ("" = none given)
  std::string source;    ///< where it came from: "Cargo.lock", "base image", "runtime library", "Go build info"
  std::string download;  ///< the download location ("" = NOASSERTION)

  auto operator<=>(const SbomPackage&) const = default;
};

/// Everything one platform's SBOM says.
struct SbomInput {
  std::string project;                 ///< the project's name
  Platform platform;
  long long epoch = 0;                 ///< SOURCE_DATE_EPOCH
  std::vector<LayerFile> files;        ///< what xbuild put in the image (project files, runtime libraries)
  std::vector<SbomPackage> packages;   ///< crates, debs, modules (any order, duplicates allowed)
  BuildTool tool;
};

/// The Go modules (the main module and every dependency) of each Go binary among `files`,
/// from its embedded build info (platform/elf.hpp: read_go_buildinfo), as `go version -m`
/// lists them.
std::vector<SbomPackage> go_module_packages(const std::vector<LayerFile>& files);
/// The packages of a Cargo.lock (`[[package]]` name/version/source); a missing file gives none.
/// Path dependencies (no source) are listed too, with no download location.
std::vector<SbomPackage> cargo_lock_packages(const std::filesystem::path& cargo_lock);
/// The installed packages of a dpkg status file's text (Status: install ok installed).
std::vector<SbomPackage> dpkg_status_packages(std::string_view status, std::string_view source);
/// For each file (an absolute path on this machine), the Debian package that installed it,
/// from the dpkg database under `root` (its var/lib/dpkg; "/" for the build machine's). The
/// path looked up is the file's path relative to `root`. Files no package owns are left out.
std::vector<SbomPackage> dpkg_owners(const std::filesystem::path& root, const std::vector<std::filesystem::path>& files);

/// The SPDX 2.3 JSON document.
std::string make_spdx(const SbomInput& in);
/// The same as a CycloneDX 1.5 JSON BOM (--sbom-format cyclonedx): packages as library
/// components with purls, files as file components with SHA-256, xbuild and the toolchain in
/// metadata.tools, the serial number derived from the content.
std::string make_cyclonedx(const SbomInput& in);

/// Which SBOM format export writes.
enum class SbomFormat { spdx, cyclonedx };
/// Parses "spdx" | "cyclonedx"; throws Error (Exit::usage) naming `flag` otherwise.
SbomFormat parse_sbom_format(std::string_view text, std::string_view flag);
/// The OCI 1.1 referrer manifest for `artifact` (of `artifact_type`) about `subject`.
std::string make_referrer(std::string_view artifact_type, const Descriptor& artifact, const Descriptor& subject,
                          const std::map<std::string, std::string>& annotations);

}  // namespace xb::oci
