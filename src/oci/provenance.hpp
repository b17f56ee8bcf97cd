#pragma once
// Where an image came from, for the org.opencontainers.image.source/revision annotations:
// read from git when the project directory is inside a checkout. Deterministic by
// construction: the revision is HEAD's commit id and the source is origin's URL with any
// credentials removed; nothing time- or machine-dependent is recorded.

#include <filesystem>
#include <string>

namespace xb::oci {

/// Source URL and commit of a git checkout; both "" when not a checkout or git is absent.
struct Provenance {
  std::string source;    ///< remote.origin.url without user:password@, "" when no origin
  std::string revision;  ///< 40-hex commit id of HEAD
};

/// Reads the provenance of `project_dir` with git (run through exec/, never a shell).
Provenance read_provenance(const std::filesystem::path& project_dir);
/// Removes "user[:password]@" from a URL's authority.
std::string strip_credentials(const std::string& url);

}  // namespace xb::oci
