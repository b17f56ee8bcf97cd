#pragma once
// A client for one registry host, shared by every worker thread of a run (each worker
// brings its own HttpSession). It owns what is per registry: the scheme (https, or http
// for loopback and --insecure-registry hosts), the auth challenge, credentials and the
// bearer tokens per scope. Failures become one structured RegistryError (Exit::registry).

#include "registry/auth.hpp"
#include "registry/http.hpp"
#include "util/error.hpp"
#include "util/retry.hpp"

#include <atomic>
#include <chrono>
#include <exception>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace xb::registry {

/// The most bytes of a token server's answer xbuild reads (tokens are a few KiB).
inline constexpr std::uint64_t k_token_body_cap = 1 << 20;

/// Settings every registry operation takes (push, pull, inspect, merge).
struct ClientOptions {
  std::string creds;                              ///< "user:pass" from --creds; "" = docker config
  std::vector<std::string> insecure_registries;   ///< hosts where http and unverified TLS are allowed
  std::filesystem::path ca_file;                  ///< extra CA bundle
  bool verbose = false;                           ///< log requests (never credentials)
  int max_attempts = 4;                           ///< tries per step on 5xx / broken connections
  int backoff_ms = 200;                           ///< first backoff, doubled per retry
};

/// What is wrong with a --ca-file ("" when it is a readable PEM file holding a certificate),
/// with what to give instead: checked when the flag is parsed, before any request.
std::string ca_file_problem(const std::filesystem::path& path);

/// One entry of a registry's JSON `errors` array.
struct RegistryErrorEntry {
  std::string code;
  std::string message;
};

/// Whether repeating the failed step may succeed (5xx, 429, a broken connection).
enum class Retryable { yes, no };

/// A registry answered with an error (or never answered): status, parsed errors, request.
class RegistryError : public Error {
public:
  RegistryError(std::string summary, long status, std::vector<RegistryErrorEntry> errors, std::string method,
                std::string url, Retryable retryable);
  /// HTTP status, 0 when there was no answer.
  long status() const { return m_status; }
  /// The parsed `errors` array (may be empty).
  const std::vector<RegistryErrorEntry>& errors() const { return m_errors; }
  /// The request that failed: method and URL without credentials.
  const std::string& method() const { return m_method; }
  const std::string& url() const { return m_url; }
  /// True for 5xx, 429 and broken connections.
  bool retryable() const { return m_retryable; }
  /// True when any entry has this code.
  bool has_code(std::string_view code) const;
  /// The failure without the request it happened to ("connection refused by HOST"), so
  /// parallel uploads that failed for one reason are reported once; what() by default.
  std::string cause() const { return m_cause.empty() ? std::string(what()) : m_cause; }
  /// Sets cause().
  void set_cause(std::string cause) { m_cause = std::move(cause); }

private:
  std::string m_cause;
  long m_status;
  std::vector<RegistryErrorEntry> m_errors;
  std::string m_method;
  std::string m_url;
  bool m_retryable;
};

/// Parses `{"errors":[{"code","message"}]}`; empty when the body is something else.
std::vector<RegistryErrorEntry> parse_errors(std::string_view body);
/// Builds the RegistryError for an unexpected response (`what` says what was being done).
RegistryError error_from_response(std::string_view what, const HttpRequest& req, const HttpResponse& resp);

/// Repository access scopes for one request: "repository:NAME:pull,push".
using Scopes = std::vector<std::string>;
/// What a request needs to do in a repository.
enum class Access { pull, push };
/// "repository:<repo>:pull" for Access::pull, "repository:<repo>:pull,push" for Access::push.
std::string repo_scope(std::string_view repository, Access access);

/// How a registry wants to be authenticated, learnt from its /v2/ ping or a 401 challenge.
enum class AuthScheme { unknown, none, basic, bearer };
/// "no challenge", "none", "basic", "bearer": for messages.
std::string_view auth_scheme_name(AuthScheme scheme);

/// Whether a request must get a fresh token even when a cached one has not expired.
enum class TokenRefresh { if_expired, force };

/// A registry host with its transport, auth state and tokens.
class Client {
public:
  /// `registry` is Reference::registry ("docker.io", "127.0.0.1:5000", ...).
  Client(std::string registry, ClientOptions options);

  /// Sends a request for an API path ("/v2/...") or an absolute URL, authenticating for
  /// `scopes`: on 401 it follows the challenge once (Basic or a Bearer token) and retries.
  /// A second 401/403 throws RegistryError without further tries. Returns any other status.
  HttpResponse send(HttpSession& session, HttpRequest req, const Scopes& scopes);
  /// send() with bounded retries and backoff on 5xx, 429 and broken connections: only for
  /// requests that are safe to repeat (GET, HEAD, manifest PUT).
  HttpResponse send_idempotent(HttpSession& session, const HttpRequest& req, const Scopes& scopes);
  /// Proves in one round trip that this registry can be reached and takes the credentials
  /// for `scopes` (the /v2/ ping, then GET /v2/ with Basic credentials or a bearer token
  /// request), so `build --push` fails before building. Throws RegistryError naming the fix.
  void check_access(HttpSession& session, const Scopes& scopes);
  /// A new session with this registry's transport settings.
  std::unique_ptr<HttpSession> new_session() const;
  /// "https://host:port" or "http://..." (probed once: https first; http only when allowed).
  std::string base_url(HttpSession& session);
  /// The registry as given.
  const std::string& registry() const { return m_registry; }
  /// The options it was made with.
  const ClientOptions& options() const { return m_options; }
  /// Whether a single POST ?digest= with the body completes an upload here: 1 yes, 0 not
  /// known yet, 2 being probed, -1 no (the registry answers 202 and wants a PUT).
  std::atomic<int> single_post{0};
  /// The retry policy of options(): max_attempts, first wait backoff_ms, doubled per retry.
  Backoff backoff() const;

private:
  struct Token {
    std::string value;
    std::chrono::steady_clock::time_point expires;
  };
  std::string auth_header(HttpSession& session, const Scopes& scopes, TokenRefresh refresh);
  std::string fetch_token(HttpSession& session, const Scopes& scopes);
  void absorb_challenge(const HttpResponse& resp);
  bool http_allowed() const;
  /// True when credentials may go to `url`: https, loopback, or an --insecure-registry host.
  bool may_send_credentials(std::string_view url) const;

  std::string m_registry;
  std::string m_api_host;
  ClientOptions m_options;
  TransportOptions m_transport;
  std::mutex m_mutex;
  std::mutex m_token_mutex;             ///< serialises token requests (taken before m_mutex)
  std::string m_base_url;               ///< "" until probed
  std::exception_ptr m_base_error;      ///< the ping's failure, rethrown to every later caller
  Credentials m_creds;
  bool m_creds_loaded = false;
  AuthScheme m_scheme = AuthScheme::unknown;
  std::string m_realm;
  std::string m_service;
  std::map<std::string, Token> m_tokens;  ///< by joined scopes
};

/// One Client per registry host for a run, created on first use (thread-safe).
class ClientPool {
public:
  explicit ClientPool(ClientOptions options) : m_options(std::move(options)) {}
  /// The client for `registry` (Reference::registry form).
  Client& get(const std::string& registry);

private:
  ClientOptions m_options;
  std::mutex m_mutex;
  std::map<std::string, std::unique_ptr<Client>> m_clients;
};

}  // namespace xb::registry
