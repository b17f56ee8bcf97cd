// Digest parsing: strict lowercase hex of the algorithm's length, as the OCI spec requires.

#include "oci/digest.hpp"

#include "util/error.hpp"
#include "util/sha256.hpp"

namespace xb::oci {

namespace {

bool parse_into(std::string_view text, std::string& algo, std::string& hex) {
  auto colon = text.find(':');
  if (colon == std::string_view::npos) return false;
  std::string_view a = text.substr(0, colon), h = text.substr(colon + 1);
  std::size_t want = a == "sha256" ? 64 : a == "sha512" ? 128 : 0;
  if (want == 0 || h.size() != want) return false;
  for (char c : h)
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  algo = a;
  hex = h;
  return true;
}

}  // namespace

Digest Digest::parse(std::string_view text) {
  Digest d;
  if (!parse_into(text, d.m_algorithm, d.m_hex))
    fail(Exit::usage, "'{}' is not a digest: expected sha256:<64 lowercase hex digits>", text);
  return d;
}

bool Digest::valid(std::string_view text) {
  std::string a, h;
  return parse_into(text, a, h);
}

Digest Digest::of(std::string_view bytes) { return from_sha256_hex(sha256_hex(bytes)); }

Digest Digest::from_sha256_hex(std::string hex) {
  Digest d;
  d.m_algorithm = "sha256";
  d.m_hex = std::move(hex);
  return d;
}

}  // namespace xb::oci
