// `xbuild run --platform P -- ARGS`: runs the program last built for P from the state
// dir, natively, through binfmt, or under qemu-<arch> -L <sysroot>. xbuild execs it
// (replacing itself), so stdin, the terminal, signals and the exit code are the program's.
// Its own failures take the codes `docker run` reserves (125 before running, 126 cannot
// execute, 127 not found), so a script can tell them from the program's exit code.

#include "cli/build_flags.hpp"
#include "cli/commands.hpp"
#include "config/project.hpp"
#include "emulate/qemu.hpp"
#include "exec/subprocess.hpp"
#include "plan/plan.hpp"
#include "platform/elf.hpp"
#include "util/error.hpp"

#include <fmt/format.h>

#include <cerrno>
#include <cstring>

namespace xb::cli {

namespace fs = std::filesystem;

namespace {

struct RunCmd {
  std::string platform;
  std::string program;
  std::string sysroot;
  std::vector<std::string> args;
  std::vector<std::string> build_args;
};

constexpr Exit k_run_failed = static_cast<Exit>(125);      ///< xbuild failed before running the program
constexpr Exit k_run_cannot_exec = static_cast<Exit>(126);  ///< the program cannot be executed
constexpr Exit k_run_not_found = static_cast<Exit>(127);    ///< the program (or its loader) was not found

Platform pick_platform(const Project& project, const std::string& flag) {
  if (!flag.empty()) return Platform::parse(flag);
  if (project.platforms.size() == 1) return project.platforms.front();
  Platform host = host_platform();
  for (const auto& p : project.platforms)
    if (p == host) return p;
  if (project.platforms.empty()) return host;
  fail(Exit::usage, "xbuild run: --platform is required ({} builds for several platforms)", project.file.string());
}

/// Finds and execs the program; returns only by throwing.
[[noreturn]] void run_program(const RunCmd& o) {
  auto [project, toolchains] = load_project_and_toolchains();
  Platform p = pick_platform(project, o.platform);
  PlanOptions popts;
  popts.platforms = {p};
  popts.build_args = parse_build_args(o.build_args);
  PlatformPlan plan = make_plan(project, toolchains, popts).front();
  std::string name = o.program;
  if (name.empty()) {
    if (project.outputs.empty())
      fail(Exit::usage, "{} lists no outputs; name the program with --program", project.file.string());
    name = project.outputs.front();
  }
  fs::path out = plan.paths.out;
  fs::path prog = out / name;
  std::error_code ec;
  if (!fs::is_regular_file(prog, ec))
    fail(Exit::usage, "{} is not built for {} ({} does not exist): run `xbuild build --platform {}` first", name, p.str(),
         prog.string(), p.str());
  if (auto elf = read_elf(prog); elf && !elf_matches(*elf, p))
    fail(Exit::build_failed, "{} is {}, not a {} binary", prog.string(), describe(*elf), p.str());

  // The platform's own environment (the one its build and test get), and its sysroot.
  auto ld = plan.env.find("QEMU_LD_PREFIX");
  fs::path sysroot = !o.sysroot.empty() ? fs::path(o.sysroot)
                     : ld != plan.env.end() ? fs::path(ld->second) : emulate::default_sysroot(p);
  Command c;
  c.env = plan.env;
  c.env.erase("QEMU_LD_PREFIX");
  c.argv = {prog.string()};
  c.argv.insert(c.argv.end(), o.args.begin(), o.args.end());
  emulate::RunMode mode;
  c = emulate::foreign_command(p, std::move(c), sysroot, &mode);
  if (globals().verbose) fmt::print(stderr, "xbuild: running {}\n", c.display());
  int err = exec_replace(c);
  fail(err == ENOENT ? k_run_not_found : k_run_cannot_exec, "cannot run {}: {}", c.argv[0], std::strerror(err));
}

}  // namespace

void register_run(CLI::App& app) {
  auto o = std::make_shared<RunCmd>();
  auto* cmd = app.add_subcommand("run", "Run the built program for a platform (under qemu-user when foreign)");
  cmd->add_option("--platform", o->platform, "Which platform's build to run (default: the host's, or the only one)")
      ->check(platform_list_check());
  cmd->add_option("--program", o->program, "Output to run, relative to the output dir (default: the first output)");
  cmd->add_option("--sysroot", o->sysroot, "Loader and libraries for dynamic foreign binaries (default: /usr/<triple>)");
  add_build_arg_flag(*cmd, o->build_args);
  cmd->add_option("args", o->args, "Arguments for the program (after --)");
  cmd->callback([o] {
    try {
      run_program(*o);
    } catch (const Error& e) {
      if (e.code() == Exit::interrupted || e.code() == k_run_not_found || e.code() == k_run_cannot_exec) throw;
      throw Error(e.what(), k_run_failed);
    }
  });
}

}  // namespace xb::cli
