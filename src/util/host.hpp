#pragma once
// Host names as image references and URLs carry them. Header-only and below every stage,
// because two stages that may not see each other need the same answers: registry/ (which
// parses references and decides where plain http and credentials may go) and emulate/
// (which hands skopeo a docker:// source and decides whether TLS may be unverified). The
// rule that tells a registry host from a Docker Hub namespace lives here once, so both
// read a reference's host the same way, exactly, never by a string prefix. And the one
// redaction of a credential pasted into a reference, for every stage that echoes one.

#include <algorithm>
#include <cctype>
#include <string>
#include <string_view>

namespace xb {

/// Hostname part of "host:port", "[v6]:port" or "host" (brackets removed).
inline std::string host_without_port(std::string_view host) {
  if (!host.empty() && host.front() == '[') {
    auto close = host.find(']');
    return std::string(host.substr(1, close == std::string_view::npos ? host.npos : close - 1));
  }
  return std::string(host.substr(0, host.find(':')));
}

/// True for localhost, 127.0.0.0/8 in dotted-quad form (each part 0-255) and ::1, compared
/// exactly (case-insensitive): "localhost.example.com" and "127.0.0.1.nip.io" are not.
inline bool is_loopback_host(std::string_view hostname) {
  std::string h;
  for (char c : hostname) h += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (h == "localhost" || h == "::1" || h == "0:0:0:0:0:0:0:1") return true;
  if (h.rfind("127.", 0) != 0) return false;
  int parts = 0;
  std::size_t start = 0;
  while (true) {
    auto dot = h.find('.', start);
    std::string_view part = std::string_view(h).substr(start, dot == std::string::npos ? std::string::npos : dot - start);
    if (part.empty() || part.size() > 3 ||
        !std::all_of(part.begin(), part.end(), [](char c) { return c >= '0' && c <= '9'; }) ||
        std::stoi(std::string(part)) > 255)
      return false;
    ++parts;
    if (dot == std::string::npos) break;
    start = dot + 1;
  }
  return parts == 4;
}

/// Docker's rule for the first path component of an image reference: it names a registry
/// host when it holds '.', ':' or '[', is "localhost", or has an uppercase letter
/// (repository names are lowercase); otherwise the image is on Docker Hub.
inline bool names_registry_host(std::string_view first_component) {
  return first_component.find_first_of(".:[") != std::string_view::npos || first_component == "localhost" ||
         std::any_of(first_component.begin(), first_component.end(),
                     [](char c) { return std::isupper(static_cast<unsigned char>(c)) != 0; });
}

/// The registry host[:port] an image reference ("HOST/REPO:TAG", "alpine", ...) names, as
/// written; "" when it is a Docker Hub name. Only the host is read; the rest is not checked.
inline std::string reference_host(std::string_view reference) {
  auto slash = reference.find('/');
  if (slash == std::string_view::npos) return {};
  std::string_view first = reference.substr(0, slash);
  return names_registry_host(first) ? std::string(first) : std::string();
}

/// `text` (a reference or URL as typed) for messages: a "user:password@" in front of the
/// host (a credential pasted into a reference) becomes "user:***@". Nothing else changes.
inline std::string redact_userinfo(std::string_view text) {
  // A digest ends a reference; any other '@' means the part before it was userinfo
  // ("user:pass@host/repo", also behind a scheme). The last such '@' ends it, since a
  // password may hold '@' or '/'. Only a part with a ':' (a secret needs one) is hidden, so
  // "app@md5:..." still shows what was typed.
  auto scheme = text.find("://");
  std::size_t start = scheme == std::string_view::npos ? 0 : scheme + 3;
  auto digest_tail = [](std::string_view tail) {
    return tail.find('/') == std::string_view::npos &&
           (tail.rfind("sha256:", 0) == 0 || tail.rfind("sha384:", 0) == 0 || tail.rfind("sha512:", 0) == 0);
  };
  auto at = text.rfind('@');
  if (at != std::string_view::npos && digest_tail(text.substr(at + 1)))
    at = at == 0 ? std::string_view::npos : text.rfind('@', at - 1);
  if (at == std::string_view::npos || at < start) return std::string(text);
  std::string_view userinfo = text.substr(start, at - start);
  auto colon = userinfo.find(':');
  if (colon == std::string_view::npos) return std::string(text);
  return std::string(text.substr(0, start)) + std::string(userinfo.substr(0, colon)) + ":***" + std::string(text.substr(at));
}

}  // namespace xb
