#include "platform/elf.hpp"

#include <fmt/format.h>

#include <array>
#include <fstream>

namespace xb {

std::optional<ElfInfo> read_elf(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::array<unsigned char, 40> h{};
  if (!in.read(reinterpret_cast<char*>(h.data()), h.size())) return std::nullopt;
  if (h[0] != 0x7f || h[1] != 'E' || h[2] != 'L' || h[3] != 'F') return std::nullopt;
  ElfInfo info;
  info.elf_class = h[4] == 2 ? 64 : 32;
  info.little_endian = h[5] != 2;
  info.machine = info.little_endian ? static_cast<std::uint16_t>(h[18] | (h[19] << 8))
                                    : static_cast<std::uint16_t>((h[18] << 8) | h[19]);
  // armhf and armel are both EM_ARM/32/LSB; e_flags (offset 36 in ELF32) tells their float
  // ABI apart: EF_ARM_ABI_FLOAT_HARD 0x400, EF_ARM_ABI_FLOAT_SOFT 0x200. Go sets neither.
  if (info.machine == 40 && info.elf_class == 32 && info.little_endian) {
    std::uint32_t flags = static_cast<std::uint32_t>(h[36] | (h[37] << 8) | (h[38] << 16)) | (static_cast<std::uint32_t>(h[39]) << 24);
    info.arm_float_abi = (flags & 0x400) ? 2 : (flags & 0x200) ? 1 : 0;
  }
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
  std::string abi = info.arm_float_abi == 2 ? " hard-float (armhf)" : info.arm_float_abi == 1 ? " soft-float (armel)" : "";
  return fmt::format("ELF {}-bit {} {}{}", info.elf_class, info.little_endian ? "LSB" : "MSB", name, abi);
}

ElfInfo expected_elf(const Platform& p) {
  const auto& t = p.traits();
  int abi = p.arch == "arm" ? (p.variant == "v6" ? 1 : 2) : 0;
  return ElfInfo{t.elf_machine, t.elf_class, t.little_endian, abi};
}

bool elf_matches(const ElfInfo& info, const Platform& p) {
  auto want = expected_elf(p);
  bool abi_ok = info.arm_float_abi == 0 || want.arm_float_abi == 0 || info.arm_float_abi == want.arm_float_abi;
  return info.machine == want.machine && info.elf_class == want.elf_class &&
         info.little_endian == want.little_endian && abi_ok;
}

}  // namespace xb
