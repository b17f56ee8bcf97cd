// WWW-Authenticate values, as any registry (or a man in the middle on plain http) sends
// them: quoted strings with escapes, commas inside quotes, several challenges in one header.
// Schemes and parameter names come out lowercase, so lookups of "realm" and "bearer" work.

#include "fuzz_support.hpp"
#include "registry/auth.hpp"

#include <algorithm>
#include <cctype>

using namespace xb;

namespace {

bool lowercase(const std::string& s) {
  return std::none_of(s.begin(), s.end(), [](char c) { return std::isupper(static_cast<unsigned char>(c)); });
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  auto text = fuzz::as_text(data, size);
  fuzz::accepts([&] {
    auto challenges = registry::parse_www_authenticate(text);
    fuzz::expect(challenges.size() <= text.size(), "no more challenges than bytes");
    for (const auto& c : challenges) {
      fuzz::expect(lowercase(c.scheme), "the scheme is lowercase", c.scheme);
      for (const auto& [name, value] : c.params) {
        fuzz::expect(lowercase(name), "parameter names are lowercase", name);
        fuzz::expect(value.size() <= text.size(), "a value is no longer than the header", name);
      }
    }
  });
  return 0;
}
