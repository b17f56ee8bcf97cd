// Platform parsing: what users type after --platform and in `platforms = [...]`. A parsed
// platform must print as a string that parses back to itself, and every parsed platform has
// a traits row. parse_platforms (a comma list, duplicates rejected) gets the same bytes.

#include "fuzz_support.hpp"
#include "platform/platform.hpp"

#include <fmt/format.h>

using namespace xb;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  auto text = fuzz::as_text(data, size);
  fuzz::accepts([&] {
    Platform p = Platform::parse(text);
    const ArchTraits& t = p.traits();
    fuzz::expect(t.arch == p.arch, "traits() is the row of the platform's arch", p.str());
    Platform again = Platform::parse(p.str());
    fuzz::expect(again == p, "Platform::parse(p.str()) == p",
                 fmt::format("input '{}' -> '{}' -> '{}'", text, p.str(), again.str()));
    fuzz::expect(!p.dir_name().empty() && p.dir_name().find('/') == std::string::npos,
                 "dir_name() is one path component", p.dir_name());
  });
  fuzz::accepts([&] {
    auto list = parse_platforms(text);
    for (std::size_t i = 0; i < list.size(); ++i)
      for (std::size_t j = i + 1; j < list.size(); ++j)
        fuzz::expect(!(list[i] == list[j]), "parse_platforms rejects duplicates", list[i].str());
  });
  return 0;
}
