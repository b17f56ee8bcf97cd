// Image references (docker://REF, push destinations, base images). The property of issue 13:
// printing a parsed Reference and parsing the print gives the same Reference (`calhOx/2`
// once printed as `calhox/2:latest`, which is a Docker Hub image). valid() must agree with
// parse(), and the derived names (api_host, hostname, is_loopback) must not throw.

#include "fuzz_support.hpp"
#include "registry/reference.hpp"

#include <fmt/format.h>

using namespace xb;
using xb::registry::Reference;

namespace {

std::string show(const Reference& r) {
  return fmt::format("{{registry '{}', repository '{}', tag '{}', digest '{}'}}", r.registry, r.repository, r.tag,
                     r.digest);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  auto text = fuzz::as_text(data, size);
  Reference ref;
  bool parsed = fuzz::accepts([&] { ref = Reference::parse(text); });
  fuzz::expect(parsed == Reference::valid(text), "Reference::valid(text) agrees with parse", std::string(text));
  if (!parsed) return 0;
  std::string printed = ref.str();
  Reference again;
  bool reparsed = fuzz::accepts([&] { again = Reference::parse(printed); });
  fuzz::expect(reparsed, "Reference::parse(ref.str()) succeeds",
               fmt::format("input '{}' parsed as {}, printed '{}', which does not parse", text, show(ref), printed));
  fuzz::expect(again == ref, "Reference::parse(ref.str()) == ref",
               fmt::format("input '{}' parsed as {}, printed '{}', re-parsed as {}", text, show(ref), printed,
                           show(again)));
  fuzz::expect(again.str() == printed, "printing is stable", printed);
  fuzz::expect(!ref.registry.empty() && !ref.repository.empty(), "registry and repository are set", show(ref));
  fuzz::expect(!ref.tag.empty() || !ref.digest.empty(), "a tag or a digest is set", show(ref));
  (void)ref.api_host();
  (void)ref.name();
  (void)ref.manifest_ref();
  bool loopback = ref.is_loopback();
  fuzz::expect(loopback == registry::is_loopback_host(ref.hostname()), "is_loopback() is is_loopback_host(hostname())",
               show(ref));
  return 0;
}
