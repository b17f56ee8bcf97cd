// xbuild.toml as a project (or a pulled repository) ships it: load_project reads it from a
// directory, so each input is written to DIR/xbuild.toml in a private scratch directory.
// Every rejection must be an xb::Error (file:line:column), never toml++'s own exception or
// a crash.

#include "config/project.hpp"
#include "fuzz_support.hpp"

using namespace xb;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  auto dir = fuzz::scratch_dir() / "project";
  fuzz::write_scratch("project/xbuild.toml", fuzz::as_text(data, size));
  fuzz::accepts([&] {
    Project p = load_project(dir);
    fuzz::expect(!p.build.empty() && !p.outputs.empty(), "a loaded project has a build and outputs");
    for (const auto& pl : p.platforms) fuzz::expect(Platform::parse(pl.str()) == pl, "its platforms are normalised", pl.str());
  });
  return 0;
}
