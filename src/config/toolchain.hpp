#pragma once
// Toolchain descriptors: TOML files that say which platforms a compiler family serves, which
// tools and environment it sets, how to probe that it is installed, and how to install it.
// Shipped ones live in toolchains/; users add their own in the project's toolchains/ folder
// or in directories on XBUILD_TOOLCHAIN_PATH (later directories override earlier ones by name).

#include "platform/platform.hpp"

#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace xb {

/// One loaded descriptor. Strings may hold placeholders: {triple}, {arch}, {variant},
/// {goarch}, {goarm}, {rust_target}, {rust_target_env} (upper-case, '_' for '-'),
/// {debian_arch}, {qemu}, resolved per platform.
struct Toolchain {
  std::string name;                              ///< file stem, e.g. "gcc-cross"
  std::filesystem::path file;                    ///< where it was loaded from
  std::string description;
  std::vector<std::string> languages;            ///< c, cxx, go, rust
  std::vector<Platform> platforms;               ///< platforms it serves
  bool native_only = false;                      ///< serves the host platform only
  int priority = 0;                              ///< higher wins among usable ones
  std::map<std::string, std::string> env;        ///< CC, CXX, AR, GOARCH, CARGO_..., ...
  std::vector<std::string> probe;                ///< argv that must exit 0 when installed
  std::string install_hint;                      ///< e.g. "apt-get install g++-{triple}"
  std::string sysroot;                           ///< for QEMU_LD_PREFIX and CMake/Meson files
  std::vector<std::string> c_flags;              ///< extra CFLAGS/CXXFLAGS
  std::vector<std::string> ld_flags;             ///< extra LDFLAGS

  /// True when it serves `p` for `language` ("custom" matches any language).
  bool serves(const Platform& p, const std::string& language) const;
  /// Expands the per-platform placeholders in `s`.
  std::string expand(const std::string& s, const Platform& p) const;
  /// The environment this toolchain sets for `p`, placeholders expanded.
  std::map<std::string, std::string> env_for(const Platform& p) const;
  /// Runs the probe for `p`. Empty string when usable, else why not.
  std::string probe_problem(const Platform& p) const;
};

/// The directories searched for descriptors, in load order.
std::vector<std::filesystem::path> toolchain_dirs(const std::filesystem::path& project_dir);
/// Loads every descriptor from `dirs`; later files override earlier ones of the same name.
/// Throws Error with file:line:column on a malformed descriptor.
std::vector<Toolchain> load_toolchains(const std::vector<std::filesystem::path>& dirs);
/// Parses one descriptor file.
Toolchain load_toolchain(const std::filesystem::path& file);

}  // namespace xb
