#pragma once
// The project: a directory with xbuild.toml. This is the only place that reads it; toml++
// stays behind this header. Every error names file:line:column and what was expected.

#include "config/strategy.hpp"
#include "config/image_section.hpp"
#include "platform/platform.hpp"

#include <chrono>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace xb {

/// How a build or test command is given: an argv (placeholders expanded per element) or a
/// script run by `sh -c` (placeholders expanded, values exported as XBUILD_* variables too).
struct CommandSpec {
  std::vector<std::string> argv;  ///< set when given as an array
  std::string script;             ///< set when given as a string
  bool empty() const { return argv.empty() && script.empty(); }
};

/// Whether an emulated build may run the host's cross compiler in place of the rootfs's own
/// ([emulate] accelerate, --accelerate / --no-accelerate).
enum class Accelerate {
  automatic,  ///< "auto": when the host has a cross toolchain of the rootfs's gcc major and triple
  off,        ///< "off": everything runs under qemu
};

/// The [emulate] section: how to build when no cross toolchain serves a platform.
struct EmulateSection {
  std::string rootfs;                            ///< dir, tarball, oci:..., or "" for auto (mmdebstrap)
  std::string rootfs_origin;                     ///< where rootfs came from when not xbuild.toml (e.g. "--rootfs")
  std::vector<std::string> packages;             ///< added to the language's default packages of a created rootfs
  std::optional<std::chrono::seconds> timeout;   ///< per-platform build timeout
  Accelerate accelerate = Accelerate::automatic; ///< [emulate] accelerate
};

/// One [[runner]] entry: a native machine for some platforms, reached over SSH.
struct RunnerSection {
  std::string platform;                          ///< e.g. linux/arm64
  std::string host;                              ///< user@host
  int port = 22;
  std::string identity;                          ///< private key file ("" = ssh default)
  std::string workdir = "/tmp/xbuild-runner";
};

/// The [cache] section: the per-platform compiler caches (ccache, GOCACHE) under .xbuild/cache/.
struct CacheSection {
  bool enabled = true;                           ///< `enabled = false` turns every cache off
  std::string max_size;                          ///< ccache's size cap as written ("2G", "500M"); "" = ccache's default
};

/// Where each platform's build sees the source tree ({src}).
enum class SourceMode {
  copy,    ///< each platform builds in its own snapshot under .xbuild/src/ (safe for in-tree builds)
  shared,  ///< every platform builds in the project directory itself (out-of-tree builds only)
};

/// "copy" or "shared".
std::string_view to_string(SourceMode m);

/// A parsed xbuild.toml.
struct Project {
  std::filesystem::path dir;                     ///< absolute project directory
  std::filesystem::path file;                    ///< its xbuild.toml
  std::string name;
  std::string language;                          ///< c | cxx | go | rust | custom
  std::vector<Platform> platforms;               ///< default platforms
  CommandSpec build;
  CommandSpec test;                              ///< run per platform by `xbuild test`
  std::vector<std::string> outputs;              ///< paths relative to the output dir
  std::map<std::string, std::string> env;        ///< extra build environment
  std::map<std::string, std::string> args;       ///< [args]: build argument defaults (--build-arg overrides)
  /// platform str (or "all") -> forced strategy; nullopt = "auto", which overrides "all"
  std::map<std::string, std::optional<Strategy>> strategy;
  std::string toolchain;                         ///< preferred toolchain name ("" = best usable)
  SourceMode source = SourceMode::copy;          ///< `source = "copy" | "shared"`
  ImageSection image;
  EmulateSection emulate;
  CacheSection cache;
  std::vector<RunnerSection> runners;
};

/// The placeholder names (without braces) a command, test or [env] value may use; plan's
/// placeholder_values gives each a value, plus {arg:KEY} for every build argument.
const std::vector<std::string>& known_placeholders();
/// True for a build argument name: [A-Za-z_][A-Za-z0-9_]* (it becomes an environment variable).
bool valid_arg_name(std::string_view name);

/// Loads the project in `dir` from `file` (default: DIR/xbuild.toml; a relative `file` is
/// relative to the current directory, as with `docker build -f`). Throws Error (Exit::usage)
/// with file:line:column on bad input.
Project load_project(const std::filesystem::path& dir, const std::filesystem::path& file = {});

}  // namespace xb
