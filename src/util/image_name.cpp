// distribution/reference's grammar, with every rejection saying why.

#include "util/image_name.hpp"

#include "util/host.hpp"
#include "util/strings.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>

namespace xb {
namespace {

bool is_lower_alnum(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); }
bool is_hex(char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); }

// One path component: alnum+ ((. | _ | __ | -+) alnum+)*
bool valid_component(std::string_view c) {
  if (c.empty() || !is_lower_alnum(c.front()) || !is_lower_alnum(c.back())) return false;
  for (std::size_t i = 0; i < c.size();) {
    if (is_lower_alnum(c[i])) { ++i; continue; }
    std::size_t j = i;
    if (c[i] == '.') {
      j = i + 1;
    } else if (c[i] == '_') {
      j = i + 1;
      if (j < c.size() && c[j] == '_') ++j;
    } else if (c[i] == '-') {
      while (j < c.size() && c[j] == '-') ++j;
    } else {
      return false;
    }
    if (j >= c.size() || !is_lower_alnum(c[j])) return false;
    i = j;
  }
  return true;
}

bool valid_tag(std::string_view t) {
  if (t.empty() || t.size() > 128) return false;
  auto word = [](char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; };
  if (!word(t[0])) return false;
  return std::all_of(t.begin(), t.end(), [&](char c) { return word(c) || c == '.' || c == '-'; });
}

bool valid_host(std::string_view h) {
  if (h.empty()) return false;
  std::string_view host = h, port;
  if (h.front() == '[') {
    auto close = h.find(']');
    if (close == std::string_view::npos) return false;
    auto inner = h.substr(1, close - 1);
    if (inner.empty() || !std::all_of(inner.begin(), inner.end(), [](char c) {
          return std::isxdigit(static_cast<unsigned char>(c)) || c == ':' || c == '.';
        }))
      return false;
    auto rest = h.substr(close + 1);
    if (rest.empty()) return true;
    if (rest.front() != ':' || rest.size() == 1) return false;
    port = rest.substr(1);
    host = {};
  } else if (auto colon = h.find(':'); colon != std::string_view::npos) {
    host = h.substr(0, colon);
    port = h.substr(colon + 1);
    if (port.empty()) return false;
  }
  if (!port.empty() && (port.size() > 5 || !std::all_of(port.begin(), port.end(), [](char c) {
                          return std::isdigit(static_cast<unsigned char>(c));
                        })))
    return false;
  if (h.front() == '[') return true;
  if (host.empty() || host.find("..") != std::string_view::npos) return false;
  for (char c : host)
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '.' && c != '-') return false;
  return host.front() != '.' && host.front() != '-' && host.back() != '.' && host.back() != '-';
}

}  // namespace

bool valid_digest(std::string_view d) {
  if (d.size() != 71 || d.substr(0, 7) != "sha256:") return false;
  return std::all_of(d.begin() + 7, d.end(), is_hex);
}

Result<ImageName> parse_image_name(std::string_view text) {
  auto bad = [](std::string why) { return Result<ImageName>::failure(std::move(why)); };
  if (text.empty()) return bad("it is empty");
  if (text.size() > 512) return bad("it is too long");
  for (char c : text)
    if (std::isspace(static_cast<unsigned char>(c)) || std::iscntrl(static_cast<unsigned char>(c)))
      return bad("it contains whitespace");

  ImageName ref;
  std::string_view name = text;
  if (auto at = text.find('@'); at != std::string_view::npos) {
    name = text.substr(0, at);
    std::string_view digest = text.substr(at + 1);
    if (digest.find(':') == std::string_view::npos) return bad("the digest after '@' must be sha256:<64 hex digits>");
    if (digest.substr(0, digest.find(':')) != "sha256")
      return bad(fmt::format("unsupported digest algorithm '{}', only sha256 is supported",
                      digest.substr(0, digest.find(':'))));
    if (!valid_digest(digest)) return bad("the digest after '@' must be sha256: followed by 64 lowercase hex digits");
    ref.digest = std::string(digest);
  }
  if (name.empty()) return bad("the repository name is missing");

  // The tag is a ':' after the last '/', so "host:5000/repo" keeps its port.
  auto last_slash = name.rfind('/');
  auto colon = name.find(':', last_slash == std::string_view::npos ? 0 : last_slash + 1);
  if (colon != std::string_view::npos) {
    std::string_view tag = name.substr(colon + 1);
    if (!valid_tag(tag)) return bad(fmt::format("bad tag '{}': tags are letters, digits, '_', '.' and '-', up to 128, not starting with '.' or '-'", tag));
    ref.tag = std::string(tag);
    name = name.substr(0, colon);
  }

  std::string_view repo = name;
  auto first_slash = name.find('/');
  if (first_slash != std::string_view::npos) {
    std::string_view first = name.substr(0, first_slash);
    if (names_registry_host(first)) {
      if (!valid_host(first)) return bad(fmt::format("bad registry host '{}'", first));
      ref.registry = std::string(first);
      repo = name.substr(first_slash + 1);
    }
  }
  if (ref.registry.empty()) ref.registry = std::string(k_docker_hub);
  // Hosts are case-insensitive; print them lowercase so equal refs compare equal, unless
  // the capitals are what make the first component a host (lowercase, "calhox/2" would be
  // a Docker Hub repository).
  std::string lower = to_lower(ref.registry);
  if (names_registry_host(lower)) ref.registry = std::move(lower);
  if (ref.registry == "index.docker.io" || ref.registry == "registry-1.docker.io")
    ref.registry = std::string(k_docker_hub);

  if (repo.empty()) return bad("the repository name is missing");
  if (std::any_of(repo.begin(), repo.end(), [](char c) { return std::isupper(static_cast<unsigned char>(c)); }))
    return bad(fmt::format("repository name '{}' must be lowercase", repo));
  std::string repository(repo);
  if (ref.registry == k_docker_hub && repository.find('/') == std::string::npos)
    repository = "library/" + repository;
  std::size_t start = 0;
  while (true) {
    auto slash = repository.find('/', start);
    std::string_view comp = std::string_view(repository).substr(start, slash == std::string::npos ? std::string::npos : slash - start);
    if (!valid_component(comp))
      return bad(comp.empty() ? std::string("empty path component in the repository name")
                       : fmt::format("bad path component '{}': use lowercase letters and digits separated by '.', '_', '__' or '-'", comp));
    if (slash == std::string::npos) break;
    start = slash + 1;
  }
  if (ref.registry.size() + 1 + repository.size() > 255) return bad("the name is longer than 255 characters");
  ref.repository = std::move(repository);
  if (ref.tag.empty() && ref.digest.empty()) ref.tag = "latest";
  return ref;
}


}  // namespace xb
