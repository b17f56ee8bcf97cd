#pragma once
// Where an image came from, for the org.opencontainers.image.source/revision annotations:
// read from git when the project directory is inside a checkout. Deterministic by
// construction: the revision is HEAD's commit id and the source is origin's URL with any
// credentials removed; nothing time- or machine-dependent is recorded.

#include "oci/descriptor.hpp"
#include "oci/sbom.hpp"

#include <filesystem>
#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace xb::oci {

/// Source URL and commit of a git checkout; both "" when not a checkout or git is absent.
struct Provenance {
  std::string source;    ///< remote.origin.url without user:password@, "" when no origin
  std::string revision;  ///< 40-hex commit id of HEAD
  bool dirty = false;    ///< tracked files differ from HEAD (git status --porcelain --untracked-files=no)
};

/// --provenance: none, mode=min (the default) or mode=max (adds the environment).
enum class ProvenanceMode { none, min, max };
/// Parses --provenance's value: "false"/"0" (none), "true"/"1"/"mode=min" (min), "mode=max";
/// throws Error (Exit::usage) naming `flag` otherwise.
ProvenanceMode parse_provenance_mode(std::string_view text, std::string_view flag);

/// How one platform was built, as the cli knows it (oci never sees plans).
struct BuildRecord {
  std::string strategy;                       ///< "cross", "emulate", ...
  BuildTool tool;                             ///< toolchain and compiler version
  std::vector<std::string> command;           ///< the build command as xbuild.toml gives it (unexpanded)
  std::map<std::string, std::string> args;    ///< build arguments ([args] + --build-arg)
  std::map<std::string, std::string> env;     ///< mode=max: the build's environment
};

/// What a platform's provenance says.
struct ProvenanceInput {
  std::string image_name;           ///< the statement's subject name: the project's (a tag would make one manifest's
                                    ///< statements differ per tag)
  Platform platform;
  Descriptor manifest;              ///< the subject
  ProvenanceMode mode = ProvenanceMode::min;
  Provenance source;                ///< git
  BuildRecord build;
  std::string base_name;            ///< the base image's reference ("" for scratch or a local layout)
  std::string base_digest;          ///< its manifest digest ("" for scratch)
  std::vector<SbomPackage> packages;  ///< materials: sysroot packages (runtime libraries), crates, modules
};

/// True for an environment variable name that may hold a secret (TOKEN, SECRET, PASSWORD,
/// KEY, CREDENTIAL, AUTH, COOKIE, SESSION, PRIVATE, ..., any case): mode=max leaves these out.
bool secret_looking(std::string_view name);

/// The SLSA provenance v1 in-toto statement (JSON), deterministic for the same inputs.
std::string make_provenance(const ProvenanceInput& in);
/// The media type of an in-toto statement, the artifactType of its referrer.
inline constexpr std::string_view k_in_toto_json = "application/vnd.in-toto+json";

/// Reads the provenance of `project_dir` with git (run through exec/, never a shell).
Provenance read_provenance(const std::filesystem::path& project_dir);
/// Removes "user[:password]@" from a URL's authority.
std::string strip_credentials(const std::string& url);

}  // namespace xb::oci
