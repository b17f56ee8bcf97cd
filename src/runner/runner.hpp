#pragma once
// Runner builds: a platform built on a native machine of its architecture, reached over
// SSH. prepare_build checks the runner once (reachable, authenticated, right architecture,
// rsync there or not) and turns plan.command into ONE local command, xbuild's own hidden
// `__runner-exec SPEC.json`, so the scheduler's process-group kill, timeout and Ctrl-C
// handling cover the ssh, rsync and tar processes it starts. run_exec then ships the source,
// runs the build there with its output streamed back, and fetches {out}.

#include "config/project.hpp"
#include "plan/plan.hpp"
#include "runner/ssh.hpp"

#include <filesystem>
#include <map>
#include <string>
#include <utility>
#include <vector>

namespace xb::runner {

/// How the source tree and outputs travel.
enum class Sync { rsync, tar };

/// Everything `xbuild __runner-exec` needs: written as JSON next to the plan's log.
struct ExecSpec {
  SshTarget ssh;
  Sync sync = Sync::tar;
  std::string platform;                                 ///< for messages
  std::filesystem::path local_src;                      ///< the project dir
  std::filesystem::path remote_src;                     ///< where it goes on the runner
  std::vector<std::string> excludes;                    ///< top-level names not shipped (.xbuild, .git)
  std::filesystem::path local_out;                      ///< plan.paths.out
  std::filesystem::path remote_out;                     ///< {out} on the runner, emptied before the build
  std::filesystem::path remote_build;                   ///< {build} on the runner, created if missing
  bool clean_build = false;                             ///< remove remote_build first (build --clean)
  std::filesystem::path remote_cwd;                     ///< where the build runs
  std::vector<std::string> argv;                        ///< the project's build command
  std::map<std::string, std::string> env;               ///< exported on the runner
  std::vector<std::pair<std::string, std::string>> files;  ///< remote path -> content, written first
};

/// What one connection to a runner found.
struct ProbeResult {
  std::string machine;                                  ///< `uname -m` there
  bool has_rsync = false;                               ///< rsync on the runner's PATH
};

/// The ssh target for a [[runner]] entry: checks host, port and workdir (Error usage) and the
/// identity file (relative to the project dir, ~ = $HOME; Error environment when missing), and
/// keeps host keys in STATE_ROOT/runner/known_hosts. Errors name the entry's xbuild.toml.
SshTarget target_for(const Project& project, const RunnerSection& runner, const std::filesystem::path& state_root);
/// Connects once and checks the login, util-linux (setsid, flock) and that the machine can
/// build `platform` natively, and, when `workdir` is given, that it is the runner user's own
/// (made 0700 when missing; it and every directory above it owned by that user or root and
/// not writable by others, a sticky /tmp excepted). Throws Error(environment) naming the
/// runner, its xbuild.toml, what failed and what to check. For `xbuild doctor` too.
ProbeResult probe(const SshTarget& target, const Platform& platform, const std::string& workdir = {});

/// The remote shell script (run in a subshell of probe's) that makes a missing `workdir`
/// 0700 and checks it and the directories above it the way probe documents; it prints
/// "workdir-uid UID", then "workdir-ok" or "workdir-bad REASON VALUE PATH".
std::string workdir_check_script(const std::string& workdir);
/// Reads that script's output lines: "" when the workdir is usable, else the error message
/// (naming the runner, its xbuild.toml, what is wrong and what to do).
std::string workdir_problem(const SshTarget& t, const std::string& workdir, const std::vector<std::string>& lines);

/// Checks the runner and rewrites plan.command (argv, env, cwd) into the local
/// `/proc/self/exe __runner-exec SPEC` call; writes SPEC under the state dir. When the runner
/// cannot be used (no connection, no authentication, wrong architecture, missing key file)
/// it throws Error(environment) naming the runner, its xbuild.toml, what failed and what to
/// check; run_builds reports it as that platform's failure with exit code 3.
enum class CleanBuild { yes, no };
void prepare_build(const Project& project, PlatformPlan& plan, CleanBuild clean = CleanBuild::no);

/// The remote shell script that runs spec's build: creates {build}, empties {out}, writes
/// spec.files, exports spec.env, enters remote_cwd, runs argv in its own session and kills
/// that session when the ssh connection drops. Exits with the build's status.
std::string remote_build_script(const ExecSpec& spec);

/// Writes / reads an ExecSpec as JSON. read_spec throws Error(usage) naming the file.
void write_spec(const std::filesystem::path& file, const ExecSpec& spec);
ExecSpec read_spec(const std::filesystem::path& file);

/// Performs a runner build: ship, build (streamed to stdout/stderr), fetch. Returns the exit
/// code for the process: the build's own when it ran and failed, 255 when ssh failed. Meant
/// to own its process: it installs kill_children_on_exit_signals().
int run_exec(const ExecSpec& spec);

}  // namespace xb::runner
