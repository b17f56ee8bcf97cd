#include "platform/elf.hpp"

#include <fmt/format.h>

#include <array>
#include <fstream>

namespace xb {

std::optional<ElfInfo> read_elf(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::array<unsigned char, 20> h{};
  if (!in.read(reinterpret_cast<char*>(h.data()), h.size())) return std::nullopt;
  if (h[0] != 0x7f || h[1] != 'E' || h[2] != 'L' || h[3] != 'F') return std::nullopt;
  ElfInfo info;
  info.elf_class = h[4] == 2 ? 64 : 32;
  info.little_endian = h[5] != 2;
  info.machine = info.little_endian ? static_cast<std::uint16_t>(h[18] | (h[19] << 8))
                                    : static_cast<std::uint16_t>((h[18] << 8) | h[19]);
  return info;
}

std::string describe(const ElfInfo& info) {
  std::string name = fmt::format("machine {}", info.machine);
  for (const auto& t : arch_table()) {
    if (t.elf_machine == info.machine && t.elf_class == info.elf_class) {
      name = std::string(t.uname_machine == "armv7l" ? "arm" : t.uname_machine);
      break;
    }
  }
  return fmt::format("ELF {}-bit {} {}", info.elf_class, info.little_endian ? "LSB" : "MSB", name);
}

ElfInfo expected_elf(const Platform& p) {
  const auto& t = p.traits();
  return ElfInfo{t.elf_machine, t.elf_class, t.little_endian};
}

bool elf_matches(const ElfInfo& info, const Platform& p) {
  auto want = expected_elf(p);
  return info.machine == want.machine && info.elf_class == want.elf_class &&
         info.little_endian == want.little_endian;
}

}  // namespace xb
