// libcurl stays in this file. Each request resets the handle's options (curl_easy_reset
// keeps live connections and the TLS session cache), so one handle serves any sequence of
// HEAD/GET/POST/PATCH/PUT without options leaking from one request to the next.

#include "registry/http.hpp"

#include "util/fd.hpp"
#include "util/strings.hpp"

#include <curl/curl.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdio>
#include <exception>
#include <mutex>

namespace xb::registry {
namespace {

std::mutex g_log_mutex;

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
         });
}

struct Transfer {
  const HttpRequest* request = nullptr;
  HttpResponse* response = nullptr;
  CURL* curl = nullptr;
  int fd = -1;
  std::uint64_t sent = 0;
  std::uint64_t received = 0;      ///< body bytes of the current response
  long over_cap_status = 0;        ///< the status whose body went over its cap (0: none)
  std::uint64_t header_bytes = 0;  ///< header bytes of the current response
  bool headers_over_cap = false;   ///< the headers went over k_header_cap
  std::exception_ptr sink_error;   ///< what the sink threw, rethrown after curl returns
};

// The headers of one response may weigh this much; a server that sends endless header
// lines is cut off like an endless body (libcurl bounds one line, not their number).
constexpr std::uint64_t k_header_cap = 256 * 1024;

std::size_t on_header(char* data, std::size_t size, std::size_t n, void* user) {
  auto* t = static_cast<Transfer*>(user);
  std::string_view line(data, size * n);
  // Nothing may throw across libcurl's C frames: what would is kept and rethrown after.
  try {
    if (line.rfind("HTTP/", 0) == 0) {  // a new response (after 100 Continue or a redirect)
      t->response->headers.clear();
      t->response->body.clear();
      t->received = 0;
      t->header_bytes = 0;
    }
    t->header_bytes += line.size();
    if (t->header_bytes > k_header_cap) {
      t->headers_over_cap = true;
      return 0;
    }
    auto colon = line.find(':');
    if (colon == std::string_view::npos || line.rfind("HTTP/", 0) == 0) return size * n;
    std::string name = to_lower(trim(line.substr(0, colon)));
    std::string value(trim(line.substr(colon + 1)));
    t->response->headers.emplace_back(std::move(name), std::move(value));
  } catch (...) {
    t->sink_error = std::current_exception();
    return 0;
  }
  return size * n;
}

std::size_t on_write(char* data, std::size_t size, std::size_t n, void* user) {
  auto* t = static_cast<Transfer*>(user);
  long code = 0;
  curl_easy_getinfo(t->curl, CURLINFO_RESPONSE_CODE, &code);
  std::string_view chunk(data, size * n);
  bool ok = code >= 200 && code < 300;
  // The cap is checked before a byte of the chunk is kept, so nothing past it reaches the
  // sink (a blob's temp file) or memory; returning 0 makes curl abort the transfer.
  std::uint64_t cap = ok ? t->request->limit.bytes : k_error_body_cap;
  if (chunk.size() > cap - std::min(cap, t->received)) {
    t->over_cap_status = code;
    return 0;
  }
  t->received += chunk.size();
  try {
    if (t->request->sink && ok) t->request->sink(chunk);
    else t->response->body.append(chunk);
  } catch (...) {
    t->sink_error = std::current_exception();
    return 0;  // aborts the transfer; perform_once rethrows what the sink threw
  }
  return size * n;
}

std::size_t on_read(char* buffer, std::size_t size, std::size_t n, void* user) {
  auto* t = static_cast<Transfer*>(user);
  const Body& b = t->request->body;
  std::uint64_t left = b.size() - t->sent;
  std::size_t want = static_cast<std::size_t>(std::min<std::uint64_t>(left, size * n));
  if (want == 0) return 0;
  if (b.file.empty()) {
    std::copy_n(b.bytes.data() + t->sent, want, buffer);
  } else {
    ssize_t got = ::pread(t->fd, buffer, want, static_cast<off_t>(b.offset + t->sent));
    if (got <= 0) return CURL_READFUNC_ABORT;
    want = static_cast<std::size_t>(got);
  }
  t->sent += want;
  return want;
}

int on_seek(void* user, curl_off_t offset, int origin) {
  auto* t = static_cast<Transfer*>(user);
  if (origin != SEEK_SET || offset < 0 || static_cast<std::uint64_t>(offset) > t->request->body.size())
    return CURL_SEEKFUNC_CANTSEEK;
  t->sent = static_cast<std::uint64_t>(offset);
  return CURL_SEEKFUNC_OK;
}

// A refused connection is a final answer (nothing listens on that port): retrying it only
// makes the user wait. Other connect failures (a timeout, no route yet) may pass.
TransportError::Kind classify(CURLcode rc, long os_errno) {
  switch (rc) {
    case CURLE_COULDNT_CONNECT:
      return os_errno == ECONNREFUSED ? TransportError::Kind::refused : TransportError::Kind::retryable;
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_OPERATION_TIMEDOUT:
    case CURLE_PARTIAL_FILE:
    case CURLE_SEND_FAIL_REWIND:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
      return TransportError::Kind::retryable;
    case CURLE_SSL_CONNECT_ERROR:
      return TransportError::Kind::tls_handshake;
    case CURLE_PEER_FAILED_VERIFICATION:
      return TransportError::Kind::tls_verify;
    case CURLE_SSL_CACERT_BADFILE:
      return TransportError::Kind::tls_ca_file;
    default:
      return TransportError::Kind::fatal;
  }
}

bool is_redirect(long status) {
  return status == 301 || status == 302 || status == 303 || status == 307 || status == 308;
}

}  // namespace

void HttpRequest::set_header(std::string_view name, std::string value) {
  remove_header(name);
  headers.emplace_back(std::string(name), std::move(value));
}

void HttpRequest::remove_header(std::string_view name) {
  headers.erase(std::remove_if(headers.begin(), headers.end(), [&](const auto& h) { return iequals(h.first, name); }),
                headers.end());
}

std::string HttpResponse::header(std::string_view name) const {
  for (const auto& [k, v] : headers)
    if (k == name) return v;
  return {};
}

std::vector<std::string> HttpResponse::headers_named(std::string_view name) const {
  std::vector<std::string> out;
  for (const auto& [k, v] : headers)
    if (k == name) out.push_back(v);
  return out;
}

HttpSession::HttpSession(TransportOptions options) : m_options(std::move(options)) {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
  m_curl = curl_easy_init();
  if (!m_curl) throw TransportError("cannot initialise libcurl", TransportError::Kind::fatal);
}

HttpSession::~HttpSession() { curl_easy_cleanup(static_cast<CURL*>(m_curl)); }

HttpResponse HttpSession::perform(HttpRequest request) {
  for (int hop = 0;; ++hop) {
    HttpResponse resp = perform_once(request);
    if (!request.follow_redirects || !is_redirect(resp.status)) return resp;
    std::string location = resp.header("location");
    if (location.empty() || hop >= 10) return resp;
    std::string next = resolve_url(request.url, location);
    if (url_origin(next) != url_origin(request.url)) request.remove_header("Authorization");
    if (resp.status == 303) {
      request.method = request.method == "HEAD" ? "HEAD" : "GET";
      request.body = Body::none();
    }
    request.url = std::move(next);
  }
}

HttpResponse HttpSession::perform_once(const HttpRequest& request) {
  CURL* c = static_cast<CURL*>(m_curl);
  curl_easy_reset(c);
  HttpResponse resp;
  Fd body_file;
  if (request.body.present && !request.body.file.empty()) {
    body_file.reset(::open(request.body.file.c_str(), O_RDONLY | O_CLOEXEC));
    if (!body_file)
      throw TransportError(fmt::format("cannot read {}", request.body.file.string()), TransportError::Kind::fatal);
  }
  Transfer t;
  t.request = &request;
  t.response = &resp;
  t.curl = c;
  t.fd = body_file.get();

  curl_easy_setopt(c, CURLOPT_URL, request.url.c_str());
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
  curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 30L);
  curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1L);   // a stalled transfer is a broken one
  curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, 60L);
  curl_easy_setopt(c, CURLOPT_USERAGENT, "xbuild/" XBUILD_VERSION);
  curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
  curl_easy_setopt(c, CURLOPT_HEADERDATA, &t);
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_write);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &t);
  curl_easy_setopt(c, CURLOPT_TCP_KEEPALIVE, 1L);
  if (!m_options.ca_file.empty()) {
    curl_easy_setopt(c, CURLOPT_CAINFO, m_options.ca_file.c_str());
    curl_easy_setopt(c, CURLOPT_CAPATH, "/etc/ssl/certs");
  }
  if (!m_options.verify_tls) {
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 0L);
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 0L);
  }

  const std::string& m = request.method;
  if (m == "HEAD") {
    curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
  } else if (request.body.present) {
    curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, m.c_str());
    curl_easy_setopt(c, CURLOPT_INFILESIZE_LARGE, static_cast<curl_off_t>(request.body.size()));
    curl_easy_setopt(c, CURLOPT_READFUNCTION, on_read);
    curl_easy_setopt(c, CURLOPT_READDATA, &t);
    // Only a PUT may be re-sent by libcurl itself (when a reused connection turns out dead).
    // A PATCH or POST must not be: without a seek function curl cannot rewind and reports
    // the failure, and the caller asks the upload's status instead of repeating it blindly.
    if (m == "PUT") {
      curl_easy_setopt(c, CURLOPT_SEEKFUNCTION, on_seek);
      curl_easy_setopt(c, CURLOPT_SEEKDATA, &t);
    }
  } else if (m == "POST") {
    curl_easy_setopt(c, CURLOPT_POST, 1L);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, "");
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, 0L);
  } else if (m == "PUT" || m == "PATCH") {
    curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, m.c_str());
    curl_easy_setopt(c, CURLOPT_INFILESIZE_LARGE, static_cast<curl_off_t>(0));
    curl_easy_setopt(c, CURLOPT_READFUNCTION, on_read);
    curl_easy_setopt(c, CURLOPT_READDATA, &t);
  } else if (m != "GET") {
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, m.c_str());
  }

  curl_slist* list = nullptr;
  for (const auto& [k, v] : request.headers) list = curl_slist_append(list, (k + ": " + v).c_str());
  list = curl_slist_append(list, "Expect:");  // no 100-continue round trip
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, list);

  char errbuf[CURL_ERROR_SIZE] = {0};
  curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
  CURLcode rc = curl_easy_perform(c);
  curl_slist_free_all(list);
  if (m_options.verbose) {
    std::lock_guard lock(g_log_mutex);
    long code = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
    if (rc == CURLE_OK)
      fmt::print(stderr, "xbuild: http: {} {} -> {}\n", m, redact_url(request.url), code);
    else
      fmt::print(stderr, "xbuild: http: {} {} -> {}\n", m, redact_url(request.url), curl_easy_strerror(rc));
  }
  if (t.sink_error) std::rethrow_exception(t.sink_error);
  if (t.headers_over_cap)
    throw TransportError(fmt::format("{} {} answered with more than {} of headers; stopped reading there", m,
                                     redact_url(request.url), format_cap(k_header_cap)),
                         TransportError::Kind::body_too_large);
  if (t.over_cap_status != 0) {
    bool ok = t.over_cap_status >= 200 && t.over_cap_status < 300;
    throw TransportError(
        ok ? fmt::format("{} {} answered {} with more than {} ({} bytes) for {}, {}; stopped reading there", m,
                         redact_url(request.url), t.over_cap_status, format_cap(request.limit.bytes),
                         request.limit.bytes, request.limit.what, request.limit.why)
           : fmt::format("{} {} answered {} with an error body over {}, the cap for error bodies; stopped reading "
                         "there", m, redact_url(request.url), t.over_cap_status, format_cap(k_error_body_cap)),
        TransportError::Kind::body_too_large);
  }
  if (rc != CURLE_OK) {
    long os_errno = 0;
    curl_easy_getinfo(c, CURLINFO_OS_ERRNO, &os_errno);
    TransportError::Kind kind = classify(rc, os_errno);
    // curl's text for a refused connect carries its timing ("after 0 ms"), which differs
    // from one worker to the next; a fixed text lets identical causes be reported once.
    std::string detail = kind == TransportError::Kind::refused ? std::string("connection refused")
                         : errbuf[0]                            ? std::string(errbuf)
                                                                : std::string(curl_easy_strerror(rc));
    throw TransportError(fmt::format("{} {}: {}", m, redact_url(request.url), detail), kind);
  }
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &resp.status);
  resp.url = request.url;
  return resp;
}

std::string resolve_url(std::string_view base, std::string_view location) {
  CURLU* u = curl_url();
  std::string out;
  if (curl_url_set(u, CURLUPART_URL, std::string(base).c_str(), 0) == CURLUE_OK &&
      curl_url_set(u, CURLUPART_URL, std::string(location).c_str(), 0) == CURLUE_OK) {
    char* s = nullptr;
    if (curl_url_get(u, CURLUPART_URL, &s, 0) == CURLUE_OK) {
      out = s;
      curl_free(s);
    }
  }
  curl_url_cleanup(u);
  if (out.empty()) out = std::string(location);
  return out;
}

std::string url_origin(std::string_view url) {
  UrlParts u = split_url(url);
  if (u.scheme.empty()) return {};
  std::string host = u.host.find(':') == std::string::npos ? u.host : "[" + u.host + "]";
  return fmt::format("{}://{}:{}", u.scheme, host, u.port);
}

std::string redact_url(std::string_view url) {
  std::string s(url);
  // Drop userinfo: scheme://user:pass@host -> scheme://host
  if (auto scheme = s.find("://"); scheme != std::string::npos) {
    auto host_start = scheme + 3;
    auto path = s.find('/', host_start);
    auto at = s.find('@', host_start);
    if (at != std::string::npos && (path == std::string::npos || at < path)) s.erase(host_start, at + 1 - host_start);
  }
  auto q = s.find('?');
  if (q == std::string::npos) return s;
  // Keep parameter names and the values that identify content (digest, mount, from,
  // scope, service); hide the rest (upload state, signatures).
  std::string out = s.substr(0, q + 1);
  bool first = true;
  for (const auto& kv : split(std::string_view(s).substr(q + 1), '&')) {
    auto eq = kv.find('=');
    std::string name = kv.substr(0, eq);
    bool keep = name == "digest" || name == "mount" || name == "from" || name == "scope" || name == "service";
    if (!first) out += '&';
    out += name;
    if (eq != std::string::npos) {
      out += '=';
      out += keep ? kv.substr(eq + 1) : std::string("...");
    }
    first = false;
  }
  return out;
}

std::string format_cap(std::uint64_t bytes) {
  if (bytes >= (1u << 20) && bytes % (1u << 20) == 0) return fmt::format("{} MiB", bytes >> 20);
  if (bytes >= (1u << 10) && bytes % (1u << 10) == 0) return fmt::format("{} KiB", bytes >> 10);
  return fmt::format("{} byte{}", bytes, bytes == 1 ? "" : "s");
}

UrlParts split_url(std::string_view url) {
  CURLU* u = curl_url();
  UrlParts out;
  if (curl_url_set(u, CURLUPART_URL, std::string(url).c_str(), 0) == CURLUE_OK) {
    char *scheme = nullptr, *host = nullptr, *port = nullptr;
    curl_url_get(u, CURLUPART_SCHEME, &scheme, 0);
    curl_url_get(u, CURLUPART_HOST, &host, 0);
    curl_url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT);
    out.scheme = to_lower(scheme ? scheme : "");
    out.host = to_lower(host ? host : "");
    if (out.host.size() >= 2 && out.host.front() == '[' && out.host.back() == ']')
      out.host = out.host.substr(1, out.host.size() - 2);
    out.port = port ? port : "";
    curl_free(scheme);
    curl_free(host);
    curl_free(port);
  }
  curl_url_cleanup(u);
  return out;
}

std::string url_escape(std::string_view value) {
  // curl_easy_escape keeps only RFC 3986 unreserved characters (A-Z a-z 0-9 - . _ ~).
  char* escaped = curl_easy_escape(nullptr, value.data(), static_cast<int>(value.size()));
  if (!escaped) throw TransportError("cannot escape a URL value (out of memory)", TransportError::Kind::fatal);
  std::string out(escaped);
  curl_free(escaped);
  return out;
}

std::string append_query(std::string_view url, std::string_view name, std::string_view value) {
  std::string out(url);
  out += out.find('?') == std::string::npos ? '?' : '&';
  out += name;
  out += '=';
  out += url_escape(value);
  return out;
}

}  // namespace xb::registry
