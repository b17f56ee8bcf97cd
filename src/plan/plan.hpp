#pragma once
// Resolution: for each target platform, pick a strategy (native > cross > runner > emulate,
// unless forced) and a toolchain, and compute the exact environment and command. Planning
// runs nothing but toolchain probes; `xbuild plan` prints this, `xbuild build` executes it.

#include "config/project.hpp"
#include "config/strategy.hpp"
#include "config/toolchain.hpp"
#include "exec/command.hpp"
#include "plan/cache.hpp"
#include "plan/probe.hpp"
#include "platform/platform.hpp"

#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace xb {

/// Where a platform's files go, all under <project>/.xbuild/ by default.
struct PlatformPaths {
  std::filesystem::path src;       ///< the tree the build sees ({src}): a snapshot, or the project dir
  std::filesystem::path build;     ///< scratch build dir ({build})
  std::filesystem::path out;       ///< the build writes outputs here ({out})
  std::filesystem::path log;       ///< full log of the platform's build
  std::filesystem::path cmake_toolchain;  ///< generated CMake toolchain file
  std::filesystem::path meson_cross;      ///< generated Meson cross file
  std::filesystem::path test_record;      ///< what `xbuild test` records of the processes a test ran
  std::filesystem::path test_log;         ///< full log of the platform's last test run
};

/// The state directory: <project>/.xbuild (or `override` when not empty).
std::filesystem::path state_dir(const Project& project);
/// The paths for `p` under `root` (default: state_dir(project)); `src` is the platform's
/// snapshot under `root` for SourceMode::copy, else the project dir.
PlatformPaths platform_paths(const Project& project, const std::filesystem::path& root, const Platform& p);

/// The resolved plan for one platform.
struct PlatformPlan {
  Platform platform;
  Strategy strategy = Strategy::none;
  std::optional<Toolchain> toolchain;            ///< for native/cross
  const RunnerSection* runner = nullptr;         ///< for runner
  std::string problem;                           ///< why strategy is none: what to install/configure
  std::vector<std::string> notes;                ///< what planning chose around (a preferred toolchain that
                                                 ///< cannot serve, a missing optional tool); printed by plan
  std::map<std::string, std::string> args;       ///< build arguments: [args] defaults, then --build-arg
  std::map<std::string, std::string> env;        ///< TARGET*, BUILD*, toolchain, project env, build args
  Command command;                               ///< the build command, placeholders expanded
  Command test;                                  ///< the test command as run here (empty argv: none)
  PlatformPaths paths;
  CachePlan cache;                               ///< its compiler caches (plan/cache.hpp), already in `env`
  int jobs = 1;                                  ///< parallel jobs the build may use
  Accelerate accelerate = Accelerate::automatic; ///< for emulate: may the host's cross compiler serve
                                                 ///< the rootfs's (--[no-]accelerate, else [emulate])
  std::vector<std::string> accelerated;          ///< for emulate: the rootfs tools the host's cross tools
                                                 ///< serve (set by emulate::prepare_build; empty = none)
  std::string not_accelerated;                   ///< for emulate with accelerate auto: why it runs fully
                                                 ///< emulated (set by emulate::prepare_build)
};

/// "emulate (accelerated)" for an emulated plan whose compilers the host serves, else the
/// strategy's name: what the build summary, bench and plan call it.
std::string strategy_label(Strategy s, bool accelerated);

/// Options that shape a plan.
struct PlanOptions {
  std::vector<Platform> platforms;                      ///< empty = project defaults, else host
  std::map<std::string, Strategy> forced;               ///< platform str (or "all") -> strategy
  std::filesystem::path state_root;                     ///< "" = state_dir(project)
  int slots = 0;                                        ///< -j (0 = cores)
  std::map<std::string, std::string> build_args;        ///< --build-arg KEY=VALUE (over [args])
  bool no_cache = false;                                ///< --no-cache: no compiler cache, whatever [cache] says
  std::optional<Accelerate> accelerate;                 ///< --accelerate / --no-accelerate (over [emulate])
};

/// Resolves every platform. Never throws for a platform it cannot serve: that plan gets
/// Strategy::none and a problem; the caller decides whether that is fatal. Throws
/// Error(usage) for an {arg:KEY} that neither [args] nor --build-arg gives a value.
std::vector<PlatformPlan> make_plan(const Project& project, const std::vector<Toolchain>& toolchains,
                                    const PlanOptions& options);

/// The placeholder values of a plan: {src} {out} {build} {jobs} {platform} {os} {arch}
/// {variant} {triple} {rust_target} {cmake_toolchain} {meson_cross} {cc} {cxx}, and {arg:KEY}
/// for each build argument. A runner build sees the paths it has on the runner.
std::map<std::string, std::string> placeholder_values(const Project& project, const PlatformPlan& plan);
/// Replaces each `{name}` of `values` in `s`, in one left-to-right pass (a value is never
/// expanded again); unknown `{...}` stay as they are.
std::string expand_placeholders(std::string_view s, const std::map<std::string, std::string>& values);
/// The argv of `spec` with placeholders expanded; an argv element that is exactly `{cc}` or
/// `{cxx}` becomes the words of that tool ("clang --target=x" -> two arguments). A script runs
/// as `sh -ec SCRIPT`.
std::vector<std::string> expand_command(const CommandSpec& spec, const std::map<std::string, std::string>& values);
/// The one environment of a platform's build, test, run and bench, whatever the strategy:
/// TARGET*/BUILD*, the toolchain's variables (or, for emulate and runner, the target-native
/// tool names), GOOS/GOARCH/RUST_TARGET, XBUILD_*, then the project's [env].
std::map<std::string, std::string> platform_env(const Project& project, const PlatformPlan& plan);
/// True when `xbuild test` must see evidence that the test ran the target: a foreign platform
/// tested here (cross or native toolchain). The host tests itself; emulate tests in its rootfs.
bool test_is_watched(const PlatformPlan& plan);
/// What a test run adds for a foreign platform built here (cross or native): markers for every
/// process qemu runs (QEMU_LOG_FILENAME under `test_record`), and the test-exec wrapper as
/// Go's `-exec` and Cargo's target runner, so `go test` and `cargo test` run the target's binary.
std::map<std::string, std::string> test_env_additions(const PlatformPlan& plan);
/// The path of the wrapper script that test_env_additions names (written by `xbuild test`).
std::filesystem::path test_exec_wrapper(const PlatformPlan& plan);

/// Where a local absolute path lives on a runner: its workdir + the local path, so that
/// several projects and platforms never collide there (even when the runner is this host).
std::filesystem::path runner_path(const RunnerSection& runner, const std::filesystem::path& local);

/// Writes the generated CMake toolchain file and Meson cross file for a plan.
void write_toolchain_files(const PlatformPlan& plan);

}  // namespace xb
