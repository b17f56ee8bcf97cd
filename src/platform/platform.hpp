#pragma once
// A target platform in the Docker/OCI syntax, os/arch[/variant], and the one table that
// maps each architecture to everything the rest of xbuild needs to know about it: GNU
// triple, ELF identity, qemu binary, Go and Rust names, Debian architecture. As in mold,
// each architecture is a row of traits, not a switch scattered through the code.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace xb {

/// What xbuild knows about one os/arch/variant target.
struct ArchTraits {
  std::string_view arch;          ///< OCI architecture: amd64, arm64, arm, riscv64, ...
  std::string_view variant;       ///< OCI variant ("" when none): v7, v6, v8 is dropped
  std::string_view gnu_triple;    ///< Debian cross triple: aarch64-linux-gnu
  std::uint16_t elf_machine;      ///< ELF e_machine (EM_AARCH64 = 183, ...)
  int elf_class;                  ///< 32 or 64
  bool little_endian;             ///< ELF data encoding
  std::string_view qemu;          ///< qemu-user suffix: qemu-<qemu>, /proc/sys/fs/binfmt_misc/qemu-<qemu>
  std::string_view goarch;        ///< GOARCH
  std::string_view goarm;         ///< GOARM ("" when not arm)
  std::string_view rust_target;   ///< Rust target triple
  std::string_view debian_arch;   ///< dpkg architecture
  std::string_view uname_machine; ///< what `uname -m` prints on it
  std::string_view cpu_family;    ///< Meson cpu_family / CMAKE_SYSTEM_PROCESSOR
  std::string_view loader;        ///< glibc's dynamic loader (PT_INTERP): /lib/ld-linux-aarch64.so.1

  /// The directories the loader searches when no RUNPATH names the library (Debian
  /// multiarch, as `ld.so --help` lists them): /lib/<triple>, /usr/lib/<triple>, /lib, /usr/lib.
  std::vector<std::string> library_dirs() const;
};

/// The table of every supported linux architecture, in display order.
const std::vector<ArchTraits>& arch_table();

/// A parsed, normalised platform: os "linux", arch "arm", variant "v7".
struct Platform {
  std::string os;
  std::string arch;
  std::string variant;

  /// Parses "linux/arm64", "arm64", "aarch64", "linux/armhf", "x86_64", ... and
  /// normalises it. Throws Error (Exit::usage) listing the known platforms when unknown.
  static Platform parse(std::string_view text);
  /// "linux/arm/v7".
  std::string str() const;
  /// "linux_arm_v7": the per-platform directory name buildx uses.
  std::string dir_name() const;
  /// The traits row; every parsed Platform has one.
  const ArchTraits& traits() const;

  bool operator==(const Platform&) const = default;
  auto operator<=>(const Platform&) const = default;
};

/// Parses a comma-separated list, rejecting duplicates.
std::vector<Platform> parse_platforms(std::string_view csv);
/// Parses each element of a list (from config or repeated flags), rejecting duplicates.
std::vector<Platform> parse_platforms(const std::vector<std::string>& items);
/// The platform of the machine running xbuild (from uname).
Platform host_platform();
/// "linux/amd64, linux/arm64, ..." for error messages.
std::string known_platforms();

}  // namespace xb
