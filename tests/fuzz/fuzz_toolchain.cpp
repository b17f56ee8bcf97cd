// Toolchain descriptors (toolchains/*.toml, $XBUILD_TOOLCHAIN_PATH, a project's own
// toolchains/): each input is written as one descriptor file and loaded; a loaded one is then
// expanded for every platform of the table the way planning does (env, probe, tool specs),
// so a placeholder in any field is exercised.

#include "config/toolchain.hpp"
#include "fuzz_support.hpp"

using namespace xb;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  auto file = fuzz::write_scratch("toolchains/fuzz.toml", fuzz::as_text(data, size));
  fuzz::accepts([&] {
    Toolchain tc = load_toolchain(file);
    fuzz::expect(!tc.languages.empty(), "a loaded toolchain names its languages");
    for (const auto& row : arch_table()) {
      Platform p{"linux", std::string(row.arch), std::string(row.variant)};
      (void)tc.serves(p, "c");
      (void)tc.env_for(p);
      (void)tc.probe_for(p);
      (void)tc.tool_specs(p);
      (void)tc.expand(tc.install_hint, p);
    }
  });
  return 0;
}
