#pragma once
// The three JSON documents xbuild writes per image: the image config, the manifest and the
// index. Each is serialised once, from values, with a fixed key order, and the caller
// stores exactly those bytes (the digest is over them; nothing is re-serialised later).

#include "oci/descriptor.hpp"
#include "platform/platform.hpp"

#include <boost/json/array.hpp>
#include <boost/json/object.hpp>

#include <map>
#include <optional>
#include <string>
#include <vector>

namespace xb::oci {

/// The runtime part of an image config ("config" object), after merging base and project.
struct RuntimeConfig {
  std::vector<std::string> env;            ///< "K=V", base first, project values replace same keys
  std::optional<std::vector<std::string>> entrypoint;
  std::optional<std::vector<std::string>> cmd;
  std::string workdir;
  std::string user;
  std::map<std::string, std::string> labels;
  std::vector<std::string> exposed_ports;  ///< "8080/tcp"

  /// Reads a base config's "config" object (Env, Entrypoint, Cmd, WorkingDir, User, Labels, ExposedPorts).
  static RuntimeConfig from_json(const boost::json::object& o);
  /// Applies the project's settings on top: env by key, labels by key, the rest replaced when
  /// given. Setting an entrypoint without a cmd clears the base's cmd (Docker's rule).
  void override_with(const std::vector<std::string>& env_, const std::vector<std::string>& entrypoint_,
                     const std::vector<std::string>& cmd_, const std::string& workdir_, const std::string& user_,
                     const std::map<std::string, std::string>& labels_, const std::vector<std::string>& ports_);
};

/// "1970-01-01T00:00:00Z" for an epoch in seconds.
std::string rfc3339(long long epoch);

/// Serialises an image config.
std::string make_config(const Platform& p, const std::string& created, const RuntimeConfig& rc,
                        const std::vector<std::string>& diff_ids, const boost::json::array& history);
/// Serialises an image manifest.
std::string make_manifest(const Descriptor& config, const std::vector<Descriptor>& layers,
                          const std::map<std::string, std::string>& annotations);
/// Serialises an image index.
std::string make_index(const std::vector<Descriptor>& manifests, const std::map<std::string, std::string>& annotations);

}  // namespace xb::oci
