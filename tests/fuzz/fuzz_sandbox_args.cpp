// The arguments of the hidden `xbuild __exec-in-rootfs` (emulate/sandbox): xbuild writes
// them, but the helper runs as root, so it parses them as untrusted. The input is split at
// NUL bytes into an argv. A parsed RootfsExec printed by exec_args must parse back to itself,
// and --bind paths must be absolute. Only the pure parser is fuzzed: exec_in_rootfs mounts.

#include "emulate/sandbox.hpp"
#include "fuzz_support.hpp"

using namespace xb;
using xb::emulate::RootfsExec;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  auto args = fuzz::split_nul(fuzz::as_text(data, size));
  fuzz::accepts([&] {
    RootfsExec e = emulate::parse_exec_args(args);
    fuzz::expect(!e.argv.empty(), "a parsed command has an argv");
    for (const auto& b : e.binds) fuzz::expect(b.is_absolute(), "--bind paths are absolute", b.string());
    RootfsExec again = emulate::parse_exec_args(emulate::exec_args(e));
    fuzz::expect(again.rootfs == e.rootfs && again.binds == e.binds && again.files == e.files && again.cwd == e.cwd &&
                     again.argv == e.argv,
                 "parse_exec_args(exec_args(e)) == e");
  });
  return 0;
}
