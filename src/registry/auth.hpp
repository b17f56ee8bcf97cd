#pragma once
// Where credentials come from and how a registry asks for them. Lookup order, as docker's:
// --creds, then $DOCKER_CONFIG/config.json (or ~/.docker/config.json): credHelpers for the
// host, then credsStore, then auths (auth = base64 user:pass, or identitytoken). Secrets
// are only ever put into request headers; nothing here formats them into a message.

#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace xb::registry {

/// A username and secret (password or token), or an identity (refresh) token.
struct Credentials {
  std::string username;
  std::string secret;
  std::string identity_token;  ///< OAuth2 refresh token from `docker login` (identitytoken)
  std::string source;          ///< where they came from, for messages ("--creds", a file, a helper)
  /// True when there is nothing to authenticate with.
  bool empty() const { return username.empty() && secret.empty() && identity_token.empty(); }
};

/// Parses "user:password" from --creds; throws Error (Exit::usage) when malformed.
Credentials parse_creds_flag(std::string_view creds);
/// Credentials for a registry host (Reference::registry form) from the docker config and
/// credential helpers; empty when none are configured. Throws Error (Exit::registry) when
/// a configured helper fails.
Credentials docker_config_credentials(std::string_view registry);
/// --creds when given, else the docker config.
Credentials find_credentials(std::string_view registry, std::string_view creds_flag);

/// One challenge from a WWW-Authenticate header: scheme and parameters.
struct Challenge {
  std::string scheme;                          ///< lowercased: "basic", "bearer"
  std::map<std::string, std::string> params;   ///< lowercased names: realm, service, scope, error
};
/// Parses a WWW-Authenticate value (quoted strings, commas inside quotes, several challenges).
std::vector<Challenge> parse_www_authenticate(std::string_view header);

}  // namespace xb::registry
