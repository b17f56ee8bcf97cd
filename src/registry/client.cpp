// Auth follows the distribution spec's token flow: a request without credentials, a 401
// with WWW-Authenticate, then Basic credentials or a bearer token for the request's scopes,
// then exactly one retry. A second 401 is a final answer, so a wrong password costs two
// requests, never a loop. Tokens are cached per scope set until shortly before expiry.

#include "registry/client.hpp"

#include "registry/reference.hpp"
#include "util/base64.hpp"
#include "util/strings.hpp"

#include <boost/json.hpp>

#include <algorithm>
#include <fstream>

namespace xb::registry {
namespace {

namespace json = boost::json;

/// 5xx and 429 Too Many Requests: the registry may answer differently next time.
bool retryable_status(long status) { return status >= 500 || status == 429; }

std::string status_reason(long status) {
  switch (status) {
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 409: return "Conflict";
    case 413: return "Payload Too Large";
    case 416: return "Range Not Satisfiable";
    case 429: return "Too Many Requests";
    case 500: return "Internal Server Error";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    default: return "";
  }
}

std::string describe_errors(const std::vector<RegistryErrorEntry>& errors) {
  std::vector<std::string> parts;
  for (const auto& e : errors) parts.push_back(e.message.empty() ? e.code : e.code + ": " + e.message);
  return join(parts, "; ");
}

// What to do about a request that got no answer; the advice names the flag that would help,
// and when that flag was given (--ca-file), what is wrong with the file it names.
std::string transport_hint(const TransportError& e, std::string_view registry, const std::filesystem::path& ca_file) {
  switch (e.kind()) {
    case TransportError::Kind::refused:
      return fmt::format(" (nothing listens on {}: is the registry running, and is the port right?)", registry);
    case TransportError::Kind::tls_verify:
      if (!ca_file.empty())
        return fmt::format(" (the certificate of {} is not signed by a CA in --ca-file {} nor by a system CA: that "
                           "file must hold the CA certificate that signed the registry's certificate; "
                           "`openssl s_client -connect {} -showcerts` shows who signed it)",
                           registry, ca_file.string(), registry);
      return fmt::format(" (the certificate of {} is not trusted: pass --ca-file CA.pem, or --insecure-registry {} "
                         "to skip verification)", registry, registry);
    case TransportError::Kind::tls_ca_file:
      return fmt::format(" (--ca-file {} could not be loaded as CA certificates: it must be a PEM file with "
                         "-----BEGIN CERTIFICATE----- blocks)", ca_file.string());
    case TransportError::Kind::tls_handshake:
      // A CA with the signer's name but another key (a regenerated CA) fails here, in the
      // signature check, rather than as "not trusted".
      if (!ca_file.empty())
        return fmt::format(" (TLS handshake with {} failed; check that --ca-file {} holds the CA certificate that "
                           "signed the registry's certificate, not an older or another CA of the same name; if the "
                           "registry serves plain http, pass --insecure-registry {})",
                           registry, ca_file.string(), registry);
      return fmt::format(" (TLS handshake with {} failed; if it serves plain http, pass --insecure-registry {})",
                         registry, registry);
    default:
      return {};
  }
}

RegistryError from_transport(const TransportError& e, const HttpRequest& req, std::string_view registry,
                             const std::filesystem::path& ca_file) {
  if (e.kind() == TransportError::Kind::body_too_large)  // an answer, but one xbuild will not read
    return RegistryError(fmt::format("{}: {}", registry, e.what()), 0, {}, req.method, redact_url(req.url),
                         Retryable::no);
  RegistryError err(fmt::format("no answer from {}: {}{}", registry, e.what(), transport_hint(e, registry, ca_file)),
                    0, {}, req.method, redact_url(req.url), e.retryable() ? Retryable::yes : Retryable::no);
  // Every request to a registry that refuses connections fails for that one reason.
  if (e.kind() == TransportError::Kind::refused)
    err.set_cause(fmt::format("no answer from {}: connection refused{}", registry, transport_hint(e, registry, ca_file)));
  return err;
}

}  // namespace

std::string ca_file_problem(const std::filesystem::path& path) {
  constexpr std::string_view advice = "give the PEM file of the CA certificate that signed the registry's certificate";
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) return fmt::format("no such file; {}", advice);
  if (!std::filesystem::is_regular_file(path, ec)) return fmt::format("not a regular file; {}", advice);
  std::ifstream in(path, std::ios::binary);
  std::string head(1 << 20, '\0');  // a bundle's first certificate is near its start
  in.read(head.data(), static_cast<std::streamsize>(head.size()));
  if (in.bad() || (!in && in.gcount() == 0 && !in.eof())) return fmt::format("cannot be read; {}", advice);
  head.resize(static_cast<std::size_t>(in.gcount()));
  if (head.find("-----BEGIN CERTIFICATE-----") == std::string::npos)
    return fmt::format("holds no PEM certificate (no -----BEGIN CERTIFICATE----- line; a DER file converts with "
                       "`openssl x509 -inform der -in FILE -out ca.pem`); {}", advice);
  return {};
}

RegistryError::RegistryError(std::string summary, long status, std::vector<RegistryErrorEntry> errors,
                             std::string method, std::string url, Retryable retryable)
  : Error(std::move(summary), Exit::registry), m_status(status), m_errors(std::move(errors)),
    m_method(std::move(method)), m_url(std::move(url)), m_retryable(retryable == Retryable::yes) {}

bool RegistryError::has_code(std::string_view code) const {
  return std::any_of(m_errors.begin(), m_errors.end(), [&](const auto& e) { return e.code == code; });
}

std::vector<RegistryErrorEntry> parse_errors(std::string_view body) {
  std::vector<RegistryErrorEntry> out;
  boost::system::error_code ec;
  auto v = json::parse(body, ec);
  if (ec || !v.is_object()) return out;
  auto it = v.as_object().find("errors");
  if (it == v.as_object().end() || !it->value().is_array()) return out;
  for (const auto& e : it->value().as_array()) {
    if (!e.is_object()) continue;
    RegistryErrorEntry entry;
    const auto& o = e.as_object();
    if (auto c = o.find("code"); c != o.end() && c->value().is_string()) entry.code = std::string(c->value().as_string());
    if (auto m = o.find("message"); m != o.end() && m->value().is_string())
      entry.message = std::string(m->value().as_string());
    out.push_back(std::move(entry));
  }
  return out;
}

RegistryError error_from_response(std::string_view what, const HttpRequest& req, const HttpResponse& resp) {
  auto errors = parse_errors(resp.body);
  std::string detail = describe_errors(errors);
  if (detail.empty() && !resp.body.empty() && resp.body.size() < 300 &&
      std::all_of(resp.body.begin(), resp.body.end(), [](char c) { return c >= 0x20 || c == '\n'; }))
    detail = std::string(trim(resp.body));
  std::string reason = status_reason(resp.status);
  std::string url = redact_url(resp.url.empty() ? req.url : resp.url);  // absolute, after redirects
  std::string msg = fmt::format("{}: {} {} answered {}{}{}", what, req.method, url, resp.status,
                                reason.empty() ? "" : " " + reason, detail.empty() ? "" : ": " + detail);
  RegistryError err(std::move(msg), resp.status, std::move(errors), req.method, url,
                    retryable_status(resp.status) ? Retryable::yes : Retryable::no);
  // The same status and errors from the same host are one cause, whichever blob asked.
  err.set_cause(fmt::format("{} answered {}{}{}", url_origin(url), resp.status, reason.empty() ? "" : " " + reason,
                            detail.empty() ? "" : ": " + detail));
  return err;
}

std::string repo_scope(std::string_view repository, Access access) {
  return fmt::format("repository:{}:{}", repository, access == Access::push ? "pull,push" : "pull");
}

std::string_view auth_scheme_name(AuthScheme scheme) {
  switch (scheme) {
    case AuthScheme::none: return "none";
    case AuthScheme::basic: return "basic";
    case AuthScheme::bearer: return "bearer";
    case AuthScheme::unknown: break;
  }
  return "no challenge";
}

Client::Client(std::string registry, ClientOptions options)
  : m_registry(std::move(registry)), m_options(std::move(options)) {
  Reference probe;
  probe.registry = m_registry;
  m_api_host = probe.api_host();
  m_transport.ca_file = m_options.ca_file;
  m_transport.verbose = m_options.verbose;
  bool insecure = std::find(m_options.insecure_registries.begin(), m_options.insecure_registries.end(),
                            m_registry) != m_options.insecure_registries.end() ||
                  std::find(m_options.insecure_registries.begin(), m_options.insecure_registries.end(),
                            host_without_port(m_registry)) != m_options.insecure_registries.end();
  m_transport.verify_tls = !insecure;
  if (!m_options.creds.empty()) parse_creds_flag(m_options.creds);  // a malformed flag fails before any request
  if (!m_options.ca_file.empty())
    if (std::string problem = ca_file_problem(m_options.ca_file); !problem.empty())
      fail(Exit::usage, "--ca-file {}: {}", m_options.ca_file.string(), problem);
}

std::unique_ptr<HttpSession> Client::new_session() const { return std::make_unique<HttpSession>(m_transport); }

bool Client::may_send_credentials(std::string_view url) const {
  UrlParts u = split_url(url);
  if (u.scheme == "https") return true;
  if (u.scheme != "http" || u.host.empty()) return false;
  if (is_loopback_host(u.host)) return true;
  return std::any_of(m_options.insecure_registries.begin(), m_options.insecure_registries.end(),
                     [&](const std::string& h) { return to_lower(host_without_port(h)) == u.host; });
}

bool Client::http_allowed() const { return !m_transport.verify_tls || is_loopback_host(host_without_port(m_registry)); }

Backoff Client::backoff() const {
  return Backoff{std::max(1, m_options.max_attempts), std::chrono::milliseconds(std::max(0, m_options.backoff_ms))};
}

std::string Client::base_url(HttpSession& session) {
  std::lock_guard lock(m_mutex);
  if (!m_base_url.empty()) return m_base_url;
  // Ping /v2/ once: it picks the scheme and tells us the auth challenge up front.
  auto ping = [&](const std::string& base) {
    HttpRequest req;
    req.url = base + "/v2/";
    return retry<TransportError>(backoff(), [&] { return session.perform(req); },
                                 [](const TransportError& e, int) { return e.retryable(); });
  };
  // A failed ping is the answer for the whole run: every worker that asks again gets the same
  // error at once (the ping had its retries), so one cause is one wait and one message.
  if (m_base_error) std::rethrow_exception(m_base_error);
  auto ping_failed = [&](const TransportError& e, const std::string& url) {
    HttpRequest req;
    req.url = url;
    RegistryError first = from_transport(e, req, m_registry, m_options.ca_file);
    std::string tries = e.retryable() ? fmt::format(" (gave up after {} attempts)", backoff().max_attempts) : "";
    RegistryError final_error(std::string(first.what()) + tries, 0, {}, req.method, first.url(), Retryable::no);
    final_error.set_cause(first.cause() + tries);
    m_base_error = std::make_exception_ptr(final_error);
    std::rethrow_exception(m_base_error);
  };
  std::string https = "https://" + m_api_host;
  HttpResponse resp;
  try {
    resp = ping(https);
    m_base_url = https;
  } catch (const TransportError& e) {
    bool fallback = http_allowed() && (e.kind() == TransportError::Kind::tls_handshake ||
                                       e.kind() == TransportError::Kind::retryable ||
                                       e.kind() == TransportError::Kind::refused);
    if (!fallback) ping_failed(e, https + "/v2/");
    std::string http = "http://" + m_api_host;
    try {
      resp = ping(http);
    } catch (const TransportError& e2) {
      ping_failed(e2, http + "/v2/");
    }
    // Only a registry's answer (200, or 401 with a challenge) makes http the scheme; an
    // https server answers a plain request with 400, and its TLS failure is the real cause.
    if (resp.status != 200 && resp.status != 401 && e.kind() != TransportError::Kind::refused)
      ping_failed(e, https + "/v2/");
    m_base_url = http;
  }
  if (resp.status == 401) {
    for (const auto& c : parse_www_authenticate(resp.header("www-authenticate"))) {
      if (c.scheme == "bearer" && c.params.count("realm")) {
        m_scheme = AuthScheme::bearer;
        m_realm = c.params.at("realm");
        m_service = c.params.count("service") ? c.params.at("service") : "";
        break;
      }
      if (c.scheme == "basic") m_scheme = AuthScheme::basic;
    }
  } else if (resp.status == 200) {
    m_scheme = AuthScheme::none;
  }
  return m_base_url;
}

void Client::absorb_challenge(const HttpResponse& resp) {
  auto challenges = parse_www_authenticate(resp.header("www-authenticate"));
  std::lock_guard lock(m_mutex);
  for (const auto& c : challenges) {
    if (c.scheme == "bearer" && c.params.count("realm")) {
      m_scheme = AuthScheme::bearer;
      m_realm = c.params.at("realm");
      m_service = c.params.count("service") ? c.params.at("service") : "";
      return;
    }
  }
  for (const auto& c : challenges)
    if (c.scheme == "basic") m_scheme = AuthScheme::basic;
}

std::string Client::auth_header(HttpSession& session, const Scopes& scopes, TokenRefresh refresh) {
  std::unique_lock lock(m_mutex);
  if (!m_creds_loaded) {
    m_creds = find_credentials(m_registry, m_options.creds);
    m_creds_loaded = true;
  }
  if (m_scheme == AuthScheme::basic) {
    if (m_creds.username.empty() && m_creds.secret.empty()) return {};
    return "Basic " + base64_encode(m_creds.username + ":" + m_creds.secret);
  }
  if (m_scheme != AuthScheme::bearer) return {};
  std::string key = join(scopes, " ");
  lock.unlock();
  // One token request per scope set at a time: workers starting together wait for the
  // first one's token instead of each asking the token server.
  std::lock_guard fetching(m_token_mutex);
  if (refresh == TokenRefresh::if_expired) {
    std::lock_guard again(m_mutex);
    auto it = m_tokens.find(key);
    if (it != m_tokens.end() && it->second.expires > std::chrono::steady_clock::now()) return "Bearer " + it->second.value;
  }
  return "Bearer " + fetch_token(session, scopes);
}

std::string Client::fetch_token(HttpSession& session, const Scopes& scopes) {
  std::string realm, service;
  Credentials creds;
  {
    std::lock_guard lock(m_mutex);
    realm = m_realm;
    service = m_service;
    creds = m_creds;
  }
  // Credentials travel only where they cannot be read on the way: https, loopback, or a host
  // the user named with --insecure-registry. A token realm elsewhere over plain http is
  // refused with an error rather than asked anonymously: an anonymous token would fail
  // later as "no access" (or pull as someone else), hiding why.
  if (!creds.empty() && !may_send_credentials(realm))
    fail(Exit::registry,
         "{} sends clients to the token server {} over plain http on another host; xbuild sends credentials (from "
         "{}) only over https, to loopback or to a host named by --insecure-registry, so it did not ask for a token. "
         "Pass --insecure-registry {} if that network is trusted",
         m_registry, redact_url(realm), creds.source, split_url(realm).host);
  HttpRequest req;
  std::string who = creds.empty() ? std::string("anonymously")
                                  : fmt::format("as {} (credentials from {})",
                                                creds.username.empty() ? "<identity token>" : creds.username,
                                                creds.source);
  if (!creds.identity_token.empty()) {
    // OAuth2 refresh-token grant, as docker does with an identitytoken.
    std::string form = "grant_type=refresh_token&client_id=xbuild&refresh_token=" + url_escape(creds.identity_token);
    if (!service.empty()) form += "&service=" + url_escape(service);
    if (!scopes.empty()) form += "&scope=" + url_escape(join(scopes, " "));
    req.method = "POST";
    req.url = realm;
    req.set_header("Content-Type", "application/x-www-form-urlencoded");
    req.body = Body::of(form);
    req.follow_redirects = false;  // a redirect would carry the refresh token in the body to wherever it points
    req.limit = BodyLimit{k_token_body_cap, "a token response", "the cap for token responses"};
  } else {
    req.url = realm;
    req.limit = BodyLimit{k_token_body_cap, "a token response", "the cap for token responses"};
    if (!service.empty()) req.url = append_query(req.url, "service", service);
    for (const auto& s : scopes) req.url = append_query(req.url, "scope", s);
    if (!creds.username.empty() || !creds.secret.empty())
      req.set_header("Authorization", "Basic " + base64_encode(creds.username + ":" + creds.secret));
  }
  HttpResponse resp;
  try {
    resp = retry<TransportError>(
        backoff(), [&] { return session.perform(req); }, [](const TransportError& e, int) { return e.retryable(); },
        [](const HttpResponse& r, int) { return retryable_status(r.status); });
  } catch (const TransportError& e) {
    throw from_transport(e, req, m_registry, m_options.ca_file);
  }
  if (resp.status == 401 || resp.status == 403) {
    auto err = error_from_response(
        creds.empty() ? fmt::format("the token server of {} refused to authenticate {}: pass --creds USER:PASSWORD "
                                    "or log in with docker login {}", m_registry, who, m_registry)
                      : fmt::format("the token server of {} refused to authenticate {} (wrong username or "
                                    "password?); fix them with --creds USER:PASSWORD or docker login {}",
                                    m_registry, who, m_registry),
        req, resp);
    throw err;
  }
  if (resp.status != 200) throw error_from_response(fmt::format("getting a token for {} failed", m_registry), req, resp);
  std::string token;
  long expires_in = 60;
  try {
    auto v = json::parse(resp.body).as_object();
    if (auto t = v.find("token"); t != v.end() && t->value().is_string()) token = std::string(t->value().as_string());
    if (token.empty())
      if (auto t = v.find("access_token"); t != v.end() && t->value().is_string())
        token = std::string(t->value().as_string());
    if (auto e = v.find("expires_in"); e != v.end() && e->value().is_int64()) expires_in = e->value().as_int64();
  } catch (const std::exception&) {
  }
  if (token.empty())
    throw RegistryError(fmt::format("the token server of {} answered without a token or access_token", m_registry),
                        resp.status, {}, req.method, redact_url(req.url), Retryable::no);
  if (expires_in < 60) expires_in = 60;  // the spec's minimum
  std::lock_guard lock(m_mutex);
  // Refresh 10% early so a long upload never starts with a token about to lapse.
  m_tokens[join(scopes, " ")] = Token{token, std::chrono::steady_clock::now() + std::chrono::seconds(expires_in * 9 / 10)};
  return token;
}

HttpResponse Client::send(HttpSession& session, HttpRequest req, const Scopes& scopes) {
  std::string base = base_url(session);
  if (!req.url.empty() && req.url.front() == '/') req.url = base + req.url;
  bool same_origin = url_origin(req.url) == url_origin(base);
  try {
    if (same_origin) {
      std::string auth = auth_header(session, scopes, TokenRefresh::if_expired);
      if (!auth.empty()) req.set_header("Authorization", auth);
    }
    HttpResponse resp = session.perform(req);
    if (resp.status != 401 || !same_origin) return resp;
    absorb_challenge(resp);
    std::string auth = auth_header(session, scopes, TokenRefresh::force);
    AuthScheme scheme;
    {
      std::lock_guard lock(m_mutex);
      scheme = m_scheme;
    }
    if (auth.empty())
      throw RegistryError(fmt::format("{} requires authentication ({}): pass --creds USER:PASSWORD or log in with "
                                      "docker login / skopeo login",
                                      m_registry, auth_scheme_name(scheme)),
                          401, parse_errors(resp.body), req.method, redact_url(req.url), Retryable::no);
    req.set_header("Authorization", auth);
    resp = session.perform(req);
    if (resp.status == 401) {
      Credentials creds;
      {
        std::lock_guard lock(m_mutex);
        creds = m_creds;
      }
      std::string who = creds.empty() ? "anonymous access" : fmt::format("the credentials from {}", creds.source);
      std::string what = scheme == AuthScheme::basic
                             ? fmt::format("{} rejected {} (wrong username or password?)", m_registry, who)
                             : fmt::format("{} rejected the token it issued for {} with {} (no access to this "
                                           "repository?{})", m_registry, join(scopes, " "), who,
                                           creds.empty() ? " pass --creds USER:PASSWORD or log in" : "");
      throw error_from_response(what, req, resp);
    }
    return resp;
  } catch (const TransportError& e) {
    throw from_transport(e, req, m_registry, m_options.ca_file);
  }
}

void Client::check_access(HttpSession& session, const Scopes& scopes) {
  std::string base = base_url(session);  // unreachable, refused, untrusted TLS: thrown here
  AuthScheme scheme;
  {
    std::lock_guard lock(m_mutex);
    scheme = m_scheme;
  }
  if (scheme == AuthScheme::bearer) {  // the token server checks the credentials (fetch_token says which)
    auth_header(session, scopes, TokenRefresh::force);
    return;
  }
  if (scheme != AuthScheme::basic) return;  // open, or an answer the push itself will explain
  std::string auth = auth_header(session, scopes, TokenRefresh::if_expired);
  HttpRequest req;
  req.url = base + "/v2/";
  if (auth.empty())
    throw RegistryError(fmt::format("{} requires authentication (basic): pass --creds USER:PASSWORD or log in with "
                                    "docker login {}", m_registry, m_registry),
                        401, {}, req.method, redact_url(req.url), Retryable::no);
  req.set_header("Authorization", auth);
  HttpResponse resp;
  try {
    resp = session.perform(req);
  } catch (const TransportError& e) {
    throw from_transport(e, req, m_registry, m_options.ca_file);
  }
  if (resp.status == 401 || resp.status == 403) {
    Credentials creds;
    {
      std::lock_guard lock(m_mutex);
      creds = m_creds;
    }
    throw error_from_response(fmt::format("{} rejected the credentials from {} (wrong username or password?); fix "
                                          "them with --creds USER:PASSWORD or docker login {}",
                                          m_registry, creds.source, m_registry),
                              req, resp);
  }
}

HttpResponse Client::send_idempotent(HttpSession& session, const HttpRequest& req, const Scopes& scopes) {
  return retry<RegistryError>(
      backoff(), [&] { return send(session, req, scopes); },
      [&](const RegistryError& e, int) {
        if (e.retryable() && m_options.verbose) fmt::print(stderr, "xbuild: registry: {}, retrying\n", e.what());
        return e.retryable();
      },
      [&](const HttpResponse& resp, int attempt) {
        bool again = retryable_status(resp.status);
        if (again && m_options.verbose)
          fmt::print(stderr, "xbuild: registry: {} {} answered {}, retrying ({}/{})\n", req.method,
                     redact_url(req.url), resp.status, attempt, m_options.max_attempts);
        return again;
      });
}

Client& ClientPool::get(const std::string& registry) {
  std::lock_guard lock(m_mutex);
  auto& c = m_clients[registry];
  if (!c) c = std::make_unique<Client>(registry, m_options);
  return *c;
}

}  // namespace xb::registry
