#pragma once
// Toolchain descriptors: TOML files that say which platforms a compiler family serves, which
// tools and environment it sets, how to probe that it is installed, and how to install it.
// Shipped ones live in toolchains/; users add their own in the project's toolchains/ folder
// or in directories on XBUILD_TOOLCHAIN_PATH (later directories override earlier ones by name).
// This file only describes: which programs a descriptor needs and how to install each. Running
// the probes is planning's job (plan/probe.hpp), so config/ never starts a process.

#include "platform/platform.hpp"

#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace xb {

/// How much a toolchain needs one of its tools.
enum class ToolNeed {
  required,  ///< missing = the toolchain is not usable
  optional,  ///< missing = usable with a warning (e.g. PKG_CONFIG: only builds that run pkg-config need it)
  cxx,       ///< required for C++ projects only (CXX of a C/C++ descriptor)
};

/// One program a descriptor sets or needs, placeholders expanded for a platform.
struct ToolSpec {
  std::string name;     ///< the env var that names it (CC, PKG_CONFIG, CARGO) or the program (go, cargo)
  std::string program;  ///< what is looked up on the build's PATH: "aarch64-linux-gnu-gcc", "/usr/bin/cargo"
  std::string install;  ///< how to install it: [install_tool] entry, else the descriptor's install
  ToolNeed need = ToolNeed::required;
};

/// One loaded descriptor. Strings may hold placeholders: {triple}, {arch}, {variant},
/// {goarch}, {goarm}, {rust_target}, {rust_target_env} (upper-case, '_' for '-'),
/// {debian_arch}, {qemu}, resolved per platform.
struct Toolchain {
  std::string name;                              ///< file stem, e.g. "gcc-cross"
  std::filesystem::path file;                    ///< where it was loaded from
  std::string digest;                            ///< sha256 hex of the file's content (part of the cache key)
  std::string description;
  std::vector<std::string> languages;            ///< c, cxx, go, rust
  std::vector<Platform> platforms;               ///< platforms it serves
  bool native_only = false;                      ///< serves the host platform only
  int priority = 0;                              ///< higher wins among usable ones
  std::map<std::string, std::string> env;        ///< CC, CXX, AR, GOARCH, CARGO_..., ...
  std::vector<std::string> probe;                ///< argv that must exit 0 when installed
  std::string probe_says;                        ///< what a failing probe means ("no {rust_target} target installed")
  std::vector<std::string> tools;                ///< programs needed besides the env's tools (go, cargo)
  std::vector<std::string> optional;             ///< tool names (env vars or programs) that may be missing
  std::map<std::string, std::string> install_tool;  ///< per-tool install command, by tool name
  std::vector<std::string> path;                 ///< dirs put first on the build's PATH (its cargo wins)
  std::string install_hint;                      ///< e.g. "apt-get install g++-{triple}"
  std::string sysroot;                           ///< for QEMU_LD_PREFIX and CMake/Meson files
  std::vector<std::string> c_flags;              ///< extra CFLAGS/CXXFLAGS
  std::vector<std::string> ld_flags;             ///< extra LDFLAGS

  /// True when it serves `p` for `language` ("custom" matches any language).
  bool serves(const Platform& p, const std::string& language) const;
  /// Expands the per-platform placeholders in `s`.
  std::string expand(const std::string& s, const Platform& p) const;
  /// The environment this toolchain sets for `p`, placeholders expanded; PATH (the `path`
  /// dirs before this process's PATH) only when `path` is set.
  std::map<std::string, std::string> env_for(const Platform& p) const;
  /// The probe argv for `p`, placeholders expanded (empty: no probe).
  std::vector<std::string> probe_for(const Platform& p) const;
  /// Every program the toolchain needs for `p`: the first word of each tool variable it sets
  /// (CC CXX AR RANLIB STRIP LD NM OBJCOPY PKG_CONFIG RUSTC CARGO GO), then `tools`.
  std::vector<ToolSpec> tool_specs(const Platform& p) const;
};

/// The environment variables whose value names a program (the first word of the value).
const std::vector<std::string>& tool_variables();

/// The directories searched for descriptors, in load order.
std::vector<std::filesystem::path> toolchain_dirs(const std::filesystem::path& project_dir);
/// Loads every descriptor from `dirs`; later files override earlier ones of the same name.
/// Throws Error with file:line:column on a malformed descriptor.
std::vector<Toolchain> load_toolchains(const std::vector<std::filesystem::path>& dirs);
/// Parses one descriptor file.
Toolchain load_toolchain(const std::filesystem::path& file);

}  // namespace xb
