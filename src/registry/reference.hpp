#pragma once
// An image reference as users type it: [HOST[:PORT]/]REPO[/MORE...][:TAG][@sha256:HEX].
// Parsed and printed here only, with Docker's rules: the first path component is a
// registry host when it has a '.', ':' or '[', is "localhost" or has an uppercase letter
// (util/host.hpp holds that rule); otherwise the image lives on Docker Hub and a
// one-component name gets "library/". Repository names are lowercase. Hosts are printed
// lowercase, except one that is a host only because of its capitals ("calhOx/2"): printed
// lowercase it would name a Docker Hub repository, and str() must parse back to the same
// Reference.

#include "util/host.hpp"
#include "util/image_name.hpp"

#include <string>
#include <string_view>

namespace xb::registry {

// Docker Hub's name in references and the host its API answers on (util/image_name.hpp).
using ::xb::k_docker_hub;
using ::xb::k_docker_hub_api;

/// A parsed, normalised image reference.
struct Reference {
  std::string registry;    ///< "docker.io", "ghcr.io", "127.0.0.1:5000", "[::1]:5000"
  std::string repository;  ///< "library/alpine", "a/b/c"
  std::string tag;         ///< "" when only a digest was given
  std::string digest;      ///< "sha256:<64 hex>" or ""

  /// Parses a reference; a missing tag and digest means tag "latest". Throws Error
  /// (Exit::usage) saying what is wrong with `text` and what a valid one looks like.
  static Reference parse(std::string_view text);
  /// True when `text` parses as a reference (for telling refs from paths).
  static bool valid(std::string_view text);

  /// "host/repo:tag@digest" (the full form, host always present).
  std::string str() const;
  /// "host/repo" without tag or digest.
  std::string name() const;
  /// "host/repo@sha256:..." for a given digest.
  std::string with_digest(std::string_view digest) const;
  /// The tag or, failing that, the digest: what goes after /manifests/.
  std::string manifest_ref() const { return digest.empty() ? tag : digest; }
  /// The host:port the API is reached at (Docker Hub's API host for docker.io).
  std::string api_host() const;
  /// The host without port or brackets ("127.0.0.1", "::1", "localhost").
  std::string hostname() const;
  /// True for localhost, 127.0.0.0/8 and ::1: plain http is allowed there.
  bool is_loopback() const;

  bool operator==(const Reference&) const = default;
};

// "sha256:" + 64 lowercase hex digits (util/image_name.hpp).
using ::xb::valid_digest;
// Hostname part of "host:port" and the exact loopback test (util/host.hpp, shared with emulate/).
using ::xb::host_without_port;
using ::xb::is_loopback_host;
/// `text` as typed, for error messages: "user:password@" becomes "user:***@" (util/host.hpp).
inline std::string redact_reference(std::string_view text) { return redact_userinfo(text); }

}  // namespace xb::registry
