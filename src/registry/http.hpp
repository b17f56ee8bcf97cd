#pragma once
// The one HTTP client xbuild has, over libcurl; nothing outside http.cpp sees CURL types.
// A session owns one easy handle and is used by one thread, so its connections are reused
// request after request. Redirects are followed here, not by curl, so that Authorization
// is dropped whenever a redirect leaves the host it was meant for.

#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace xb::registry {

/// TLS and logging settings shared by every session of one run.
struct TransportOptions {
  std::filesystem::path ca_file;  ///< extra CA bundle (PEM), on top of the system's
  bool verify_tls = true;         ///< false only for registries named insecure by flag
  bool verbose = false;           ///< log each request line and status (never headers)
};

/// A request body: nothing, bytes in memory, or a byte range of a file (re-readable, so a
/// redirect or a retry can send it again).
struct Body {
  std::string bytes;
  std::filesystem::path file;  ///< when set, the body is file[offset, offset+length)
  std::uint64_t offset = 0;
  std::uint64_t length = 0;
  bool present = false;

  static Body none() { return {}; }
  static Body of(std::string b) { Body x; x.bytes = std::move(b); x.present = true; return x; }
  static Body file_range(std::filesystem::path f, std::uint64_t off, std::uint64_t len) {
    Body x; x.file = std::move(f); x.offset = off; x.length = len; x.present = true; return x;
  }
  /// Bytes this body sends.
  std::uint64_t size() const { return file.empty() ? bytes.size() : length; }
};

/// The most bytes of a non-2xx body (an error, a redirect) kept for its message.
inline constexpr std::uint64_t k_error_body_cap = 64 << 10;
/// The most bytes of a 2xx body a request keeps unless it sets its own BodyLimit.
inline constexpr std::uint64_t k_default_body_cap = 64 << 10;

/// How much of a 2xx response body a request takes (kept or streamed to its sink): one
/// byte more aborts the transfer (a TransportError of kind body_too_large naming `what`).
struct BodyLimit {
  std::uint64_t bytes = k_default_body_cap;  ///< the cap
  std::string what = "the answer";           ///< what the body is, for the error ("blob sha256:...")
  std::string why = "the cap for answers that carry no document";  ///< where the cap comes from
};

/// One HTTP request.
struct HttpRequest {
  std::string method = "GET";
  std::string url;                                            ///< absolute
  std::vector<std::pair<std::string, std::string>> headers;   ///< name, value
  Body body;
  /// When set, a 2xx response body is streamed here instead of kept in memory.
  std::function<void(std::string_view)> sink;
  /// The cap on a 2xx body, enforced while it arrives (non-2xx bodies: k_error_body_cap).
  BodyLimit limit;
  bool follow_redirects = true;

  /// Replaces or adds a header (case-insensitive name).
  void set_header(std::string_view name, std::string value);
  /// Removes a header (case-insensitive name).
  void remove_header(std::string_view name);
};

/// One HTTP response (the last one, after redirects).
struct HttpResponse {
  long status = 0;
  std::vector<std::pair<std::string, std::string>> headers;  ///< names lowercased
  std::string body;                                          ///< unless streamed to a sink
  std::string url;                                           ///< the URL that answered

  /// The first value of a header ("" when absent); `name` in lowercase.
  std::string header(std::string_view name) const;
  /// Every value of a header; `name` in lowercase.
  std::vector<std::string> headers_named(std::string_view name) const;
};

/// A request that got no (usable) HTTP answer: refused, reset, timed out, TLS failure, or
/// a body over its cap.
class TransportError : public std::runtime_error {
public:
  /// body_too_large: an answer came, but its body went past the request's cap. refused:
  /// nothing listens there (ECONNREFUSED); a final answer, so it is never retried.
  /// tls_ca_file: the --ca-file bundle could not be loaded.
  enum class Kind { retryable, refused, tls_handshake, tls_verify, tls_ca_file, body_too_large, fatal };
  TransportError(std::string message, Kind kind) : std::runtime_error(std::move(message)), m_kind(kind) {}
  /// What went wrong, as far as retrying is concerned.
  Kind kind() const { return m_kind; }
  /// True for failures worth another attempt (reset, timeout, partial; not refused).
  bool retryable() const { return m_kind == Kind::retryable; }

private:
  Kind m_kind;
};

/// One libcurl easy handle: reuse it for every request of one thread.
class HttpSession {
public:
  explicit HttpSession(TransportOptions options);
  ~HttpSession();
  HttpSession(const HttpSession&) = delete;
  HttpSession& operator=(const HttpSession&) = delete;

  /// Performs `request`, following up to 10 redirects (Authorization dropped when the host
  /// changes). Any HTTP status is returned; throws TransportError when there is none.
  HttpResponse perform(HttpRequest request);
  /// The options it was made with.
  const TransportOptions& options() const { return m_options; }

private:
  HttpResponse perform_once(const HttpRequest& request);
  TransportOptions m_options;
  void* m_curl = nullptr;
};

/// Resolves a Location (absolute, absolute-path or relative) against the request URL.
std::string resolve_url(std::string_view base, std::string_view location);
/// "scheme://host:port" of an absolute URL (lowercased), for same-origin checks.
std::string url_origin(std::string_view url);
/// The URL for messages and logs: no userinfo, and the query cut to its parameter names.
std::string redact_url(std::string_view url);
/// "4 MiB", "64 KiB" or "100 bytes": a cap for messages.
std::string format_cap(std::uint64_t bytes);
/// The scheme ("https"), host (no brackets, lowercased) and port of an absolute URL; empty
/// strings when it does not parse.
struct UrlParts {
  std::string scheme;  ///< "https", "http"
  std::string host;    ///< "registry.example.com", "::1"
  std::string port;    ///< "443" when the URL names none
};
/// Splits an absolute URL with curl's parser (the one the request will use).
UrlParts split_url(std::string_view url);
/// Percent-encodes a query parameter value.
std::string url_escape(std::string_view value);
/// Appends "name=value" to a URL, with '&' when it already has a query, else '?'.
std::string append_query(std::string_view url, std::string_view name, std::string_view value);

}  // namespace xb::registry
