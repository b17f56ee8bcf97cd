#pragma once
// The grammar of image names (distribution/reference's, closely enough that names which
// work with docker and skopeo work here): two stages that may not see each other check
// names by it, registry/ (every reference it parses) and config/ (the [image] tags of
// xbuild.toml, reported with their line when the file is loaded). One grammar, so a tag
// that loads is a tag that pushes. What a reference is for (hosts to contact, printing)
// stays in registry/reference.hpp.

#include "util/error.hpp"

#include <string>
#include <string_view>

namespace xb {

/// Docker Hub's name in references and the host its API answers on.
inline constexpr std::string_view k_docker_hub = "docker.io";
inline constexpr std::string_view k_docker_hub_api = "registry-1.docker.io";

/// The parts of a parsed, normalised image name.
struct ImageName {
  std::string registry;    ///< "docker.io", "ghcr.io", "127.0.0.1:5000", "[::1]:5000"
  std::string repository;  ///< "library/alpine", "a/b/c"
  std::string tag;         ///< "" when only a digest was given
  std::string digest;      ///< "sha256:<64 hex>" or ""
};

/// Parses [HOST[:PORT]/]REPO[/MORE...][:TAG][@sha256:HEX] with Docker's rules (a missing tag
/// and digest means "latest"; Docker Hub names get "library/"); else says what is wrong.
Result<ImageName> parse_image_name(std::string_view text);

/// True for "sha256:" + 64 lowercase hex digits (the only algorithm xbuild writes).
bool valid_digest(std::string_view digest);

}  // namespace xb
