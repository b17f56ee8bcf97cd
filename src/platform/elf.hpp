#pragma once
// Reads the ELF identity of a file (machine, class, endianness) so that every collected
// output can be checked against its target before it ships: the "exec format error"
// caught at build time instead of on the node.

#include "platform/platform.hpp"

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>

namespace xb {

/// The identity fields of an ELF header.
struct ElfInfo {
  std::uint16_t machine = 0;  ///< e_machine
  int elf_class = 0;          ///< 32 or 64
  bool little_endian = true;  ///< EI_DATA
  int arm_float_abi = 0;      ///< 32-bit ARM only: 2 hard-float (armhf), 1 soft-float (armel), 0 unknown
};

/// The ELF identity of `path`, or nullopt when it is not an ELF file.
std::optional<ElfInfo> read_elf(const std::filesystem::path& path);
/// "ELF 64-bit LSB aarch64" style description.
std::string describe(const ElfInfo& info);
/// The identity binaries for `p` must have.
ElfInfo expected_elf(const Platform& p);
/// True when `info` is a binary for `p`.
bool elf_matches(const ElfInfo& info, const Platform& p);

}  // namespace xb
