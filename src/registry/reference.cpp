// The grammar is util/image_name's (config checks [image] tags by it too); this adds what a
// reference is for: the error users see, printing, and the hosts to contact.

#include "registry/reference.hpp"

#include "util/error.hpp"

#include <algorithm>
#include <cctype>

namespace xb::registry {
namespace {

constexpr std::string_view k_example = "e.g. registry.example.com:5000/team/app:1.0 or alpine:3.19";

}  // namespace

Reference Reference::parse(std::string_view text) {
  Result<ImageName> parsed = parse_image_name(text);
  if (!parsed) {
    std::string shown = redact_userinfo(text);
    fail(Exit::usage, "invalid image reference '{}': {} ({}{})", shown, parsed.error(), k_example,
         shown == text ? "" : "; credentials do not belong in a reference: pass --creds USER:PASSWORD");
  }
  ImageName& n = parsed.value();
  return Reference{std::move(n.registry), std::move(n.repository), std::move(n.tag), std::move(n.digest)};
}

bool Reference::valid(std::string_view text) {
  try {
    parse(text);
    return true;
  } catch (const Error&) {
    return false;
  }
}

std::string Reference::name() const { return registry + "/" + repository; }

std::string Reference::str() const {
  std::string s = name();
  if (!tag.empty()) s += ":" + tag;
  if (!digest.empty()) s += "@" + digest;
  return s;
}

std::string Reference::with_digest(std::string_view d) const { return name() + "@" + std::string(d); }

std::string Reference::api_host() const {
  return registry == k_docker_hub ? std::string(k_docker_hub_api) : registry;
}

std::string Reference::hostname() const { return host_without_port(registry); }

bool Reference::is_loopback() const { return is_loopback_host(hostname()); }

}  // namespace xb::registry
