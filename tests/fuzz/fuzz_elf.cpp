// The ELF, ar and Go build info reader (platform/elf.cpp) sees every build output, every file of a base
// image's layers and every member of a static library: bytes nobody vouches for. It must
// bounds-check every offset (ASan catches a read outside the input) and return nullopt or
// empty fields for what it cannot read.

#include "fuzz_support.hpp"
#include "platform/elf.hpp"

using namespace xb;

namespace {

void check(const ElfInfo& info) {
  fuzz::expect(info.elf_class == 32 || info.elf_class == 64, "elf_class is 32 or 64");
  (void)describe(info);
  (void)to_string(info.linking);
  (void)library_search_path(info);
  for (const auto& row : arch_table()) (void)elf_matches(info, Platform{"linux", std::string(row.arch), std::string(row.variant)});
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  auto bytes = fuzz::as_text(data, size);
  fuzz::accepts([&] {
    if (auto info = parse_elf(bytes)) check(*info);
  });
  fuzz::accepts([&] {
    if (auto go = parse_go_buildinfo(bytes))
      for (const auto& d : go->deps) fuzz::expect(d.path.size() <= bytes.size(), "a module path comes from the input");
  });
  fuzz::accepts([&] {
    bool ar = is_ar_archive(bytes);
    auto members = parse_ar(bytes);
    fuzz::expect(ar || members.empty(), "only an ar archive has members");
    for (const auto& m : members)
      if (m.elf) check(*m.elf);
  });
  return 0;
}
