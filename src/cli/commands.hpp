#pragma once
// Each subcommand lives in its own cmd_<name>.cpp and registers itself on the app here.
// main.cpp owns the global flags and the single place where errors become exit codes.

#include "util/error.hpp"

#include <CLI/CLI.hpp>

#include <filesystem>
#include <string>

namespace xb::cli {

/// Flags every subcommand shares.
struct GlobalOptions {
  std::filesystem::path dir = ".";   ///< -C DIR: the project directory
  std::filesystem::path file;        ///< -f FILE: the project file ("" = DIR/xbuild.toml)
  bool no_color = false;             ///< NO_COLOR or --no-color
  bool verbose = false;              ///< -v
};

/// The global options, filled by main before a subcommand's callback runs.
GlobalOptions& globals();

void register_build(CLI::App& app);
void register_plan(CLI::App& app);
void register_toolchains(CLI::App& app);
void register_inspect(CLI::App& app);
void register_push(CLI::App& app);
void register_merge(CLI::App& app);
/// crane's verbs: `manifest`, `config` and `digest` (cmd_manifest.cpp), `ls`, `copy`.
void register_manifest(CLI::App& app);
void register_ls(CLI::App& app);
void register_copy(CLI::App& app);
/// `xbuild sbom`: a platform's SBOM from a layout, an archive or a registry.
void register_sbom(CLI::App& app);
void register_doctor(CLI::App& app);
void register_run(CLI::App& app);
void register_test(CLI::App& app);
void register_test_exec(CLI::App& app);
void register_bench(CLI::App& app);
void register_rootfs(CLI::App& app);
void register_matrix(CLI::App& app);
void register_runner_exec(CLI::App& app);
void register_cluster(CLI::App& app);
void register_resolve(CLI::App& app);
/// `completion bash|zsh|fish`, written from `app`'s commands: register it last.
void register_completion(CLI::App& app);

}  // namespace xb::cli
