#pragma once
// Reads what an ELF file says about itself: its identity (machine, class, endianness, float
// ABI) so every output can be checked against its target, and its dynamic section (PT_INTERP,
// DT_NEEDED, DT_RUNPATH/DT_RPATH, DT_SONAME) so an image can be checked to contain what the
// loader will look for. This is the one place ELF and ar bytes are parsed: the output check,
// the runtime-library resolver and the image lint all read through it. Parsing works on
// bytes in memory (a file on disk or a tar entry) and never trusts an offset it has not
// bounds-checked: a truncated or hostile file yields nullopt or an empty field, not a crash.

#include "platform/platform.hpp"

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace xb {

/// How an ELF file is linked, from e_type, PT_INTERP and the dynamic section.
enum class ElfLinking {
  object,      ///< ET_REL: an object file (an archive member)
  static_exe,  ///< ET_EXEC without PT_INTERP
  static_pie,  ///< ET_DYN without PT_INTERP, marked DF_1_PIE: runs with no loader
  dynamic,     ///< has PT_INTERP: needs that loader (executables; glibc's libc.so.6 too)
  shared,      ///< ET_DYN without PT_INTERP: a shared library
  other,       ///< core files and the like
};

/// The identity fields of an ELF header, plus its dynamic section.
struct ElfInfo {
  std::uint16_t machine = 0;  ///< e_machine
  int elf_class = 0;          ///< 32 or 64
  bool little_endian = true;  ///< EI_DATA
  int arm_float_abi = 0;      ///< 32-bit ARM only: 2 hard-float (armhf), 1 soft-float (armel), 0 unknown
  ElfLinking linking = ElfLinking::other;  ///< static, dynamic, shared, ...
  std::string interpreter;                 ///< PT_INTERP ("" when none)
  std::vector<std::string> needed;         ///< DT_NEEDED, in order
  std::vector<std::string> runpath;        ///< DT_RUNPATH split at ':' (empty when none)
  std::vector<std::string> rpath;          ///< DT_RPATH split at ':' (ignored by ld.so when runpath is set)
  std::string soname;                      ///< DT_SONAME ("" when none)
};

/// One member of an ar archive (a static library).
struct ArchiveMember {
  std::string name;             ///< member name (GNU long names resolved)
  std::optional<ElfInfo> elf;   ///< nullopt when the member is not ELF
};

/// One module of a Go binary's build info (`go version -m`: a "mod" or "dep" line, with the
/// "=>" replacement that follows it, if any).
struct GoModule {
  std::string path;     ///< "golang.org/x/sys"
  std::string version;  ///< "v0.1.0", "(devel)"
  std::string sum;      ///< "h1:..." ("" when none)
  std::string replaced_by;          ///< the replacement's path ("" when none)
  std::string replacement_version;  ///< its version ("" for a local directory)
};

/// What the Go linker embeds in .go.buildinfo (Go 1.18+ layout, strings inline).
struct GoBuildInfo {
  std::string go_version;  ///< "go1.19.8"
  std::string path;        ///< the main package's import path
  std::optional<GoModule> main;  ///< the "mod" line
  std::vector<GoModule> deps;    ///< the "dep" lines, in order
};

/// Reads the Go build info of ELF `bytes`: the .go.buildinfo section (by its section header,
/// else by its magic at a 16-byte boundary, as Go's debug/buildinfo does), its version and
/// modinfo strings bounds-checked. nullopt when not a Go binary or an older layout.
std::optional<GoBuildInfo> parse_go_buildinfo(std::string_view bytes);
/// The same for the file at `path` (nullopt when not ELF or unreadable).
std::optional<GoBuildInfo> read_go_buildinfo(const std::filesystem::path& path);

/// Parses ELF bytes; nullopt when `bytes` is not an ELF file. The dynamic section is
/// read when present and well-formed.
std::optional<ElfInfo> parse_elf(std::string_view bytes);
/// The ELF information of `path`, or nullopt when it is not an ELF file (or unreadable).
std::optional<ElfInfo> read_elf(const std::filesystem::path& path);
/// True when `bytes` start like an ar archive ("!<arch>\n").
bool is_ar_archive(std::string_view bytes);
/// The members of an ar archive (symbol and name tables skipped); empty when not one.
std::vector<ArchiveMember> parse_ar(std::string_view bytes);
/// The members of the ar archive at `path`; empty when it is not one.
std::vector<ArchiveMember> read_ar(const std::filesystem::path& path);
/// The search path ld.so uses for `info`'s DT_NEEDED: RUNPATH, else RPATH (as written).
const std::vector<std::string>& library_search_path(const ElfInfo& info);
/// "ELF 64-bit LSB aarch64" style description.
std::string describe(const ElfInfo& info);
/// "dynamic", "static", "static-pie", "shared", "object", "other".
std::string_view to_string(ElfLinking l);
/// The identity binaries for `p` must have.
ElfInfo expected_elf(const Platform& p);
/// True when `info` is a binary for `p`.
bool elf_matches(const ElfInfo& info, const Platform& p);

}  // namespace xb
