#pragma once
// Probing toolchains: is each program a descriptor names on the build's PATH, does its probe
// command exit 0, and can its cargo drive its rustc? config/ only describes a descriptor;
// asking the machine is planning's job, because it is the plan that must be right about what
// `xbuild build` will find. Every process a probe starts is cached per argv for the life of
// xbuild (thread-safe), so `make_plan` can warm the cache in parallel and `xbuild toolchains`
// can probe every descriptor at once.

#include "config/toolchain.hpp"
#include "platform/platform.hpp"

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace xb {

/// What probing one tool found.
struct ToolCheck {
  ToolSpec spec;
  std::optional<std::filesystem::path> found;  ///< where it is on the build's PATH; nullopt when missing
  std::string problem;                         ///< "" when fine, else what is wrong with it and the fix
};

/// Whether a toolchain serves a platform on this machine, and what is missing.
struct ToolchainStatus {
  std::string problem;                ///< "" = usable; else every missing tool with its install command
  std::vector<std::string> warnings;  ///< usable, but an optional tool is missing: which, why it matters, the fix
  std::vector<ToolCheck> tools;       ///< every tool the descriptor names, as found
  /// True when the toolchain can serve the platform.
  bool usable() const { return problem.empty(); }
};

/// Probes `tc` for `p`: every tool it names (looked up on the PATH its env gives the build),
/// cargo against rustc when it names both, then its probe argv. `language` ("" = unknown, as in
/// `xbuild toolchains`) decides whether a missing CXX matters; an optional tool the build
/// command runs first (`first_program`, e.g. "cargo") is required.
ToolchainStatus probe_toolchain(const Toolchain& tc, const Platform& p, const std::string& language = "",
                                const std::string& first_program = "");

/// The first line of what `argv` prints (e.g. {"gcc", "--version"}, {"go", "version"}), run with
/// `path_env` as PATH; "" when it fails. Cached per argv and PATH like every probe, so the
/// compiler versions in the cache key cost one process per compiler per xbuild.
std::string tool_version(const std::vector<std::string>& argv, const std::string& path_env);

/// The program a command runs first: argv[0], or for `sh -c SCRIPT` (also -ec, bash) the first
/// command of the script that is not a shell builtin, keyword, assignment or everyday file
/// utility (cd, set, mkdir, rm ...). "" when it cannot be told without running it (a `$VAR`,
/// a path such as ./configure).
std::string first_program(const std::vector<std::string>& argv);

}  // namespace xb
