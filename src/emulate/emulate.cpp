// prepare_build is the one entry point the pipeline calls for an emulated platform. It
// checks everything that would otherwise fail minutes later inside qemu (binfmt, the
// interpreter, the build's first tool and compiler in the rootfs, or in the package list of a
// rootfs it would create), then turns the plan's command into a call of
// xbuild's own hidden `__exec-in-rootfs` helper, leaving env, cwd, timeout and process
// group handling to the scheduler exactly as for a cross build.

#include "emulate/emulate.hpp"

#include "emulate/binfmt.hpp"
#include "emulate/ccache.hpp"
#include "emulate/rootfs.hpp"
#include "emulate/sandbox.hpp"
#include "emulate/tool_packages.hpp"
#include "plan/probe.hpp"
#include "util/error.hpp"
#include "util/strings.hpp"

#include <fmt/format.h>

#include <algorithm>

namespace fs = std::filesystem;

namespace xb::emulate {

namespace {

bool is_under(const fs::path& p, const fs::path& dir) {
  auto rel = p.lexically_normal().lexically_relative(dir.lexically_normal());
  return !rel.empty() && *rel.begin() != "..";
}

/// The first word of a tool setting such as CC="gcc -m64".
std::string tool_word(const std::string& s) {
  auto words = split(s, ' ');
  return words.empty() ? std::string() : words.front();
}

}  // namespace

std::vector<std::pair<fs::path, fs::path>> interpreter_files(const Platform& p, std::string_view doing) {
  if (p == host_platform()) return {};
  BinfmtStatus st = check_binfmt(p);
  if (!st.usable())
    fail(Exit::environment, "cannot {} {}: binfmt_misc cannot run its binaries:{}\n  (xbuild doctor shows the full picture)",
         doing, p.str(), st.advice());
  // Without the F flag the kernel opens the interpreter by path at each exec, inside the
  // chroot: put the static qemu there.
  if (st.handler->fix_binary()) return {};
  return {{st.interpreter_real, st.handler->interpreter}};
}

void prepare_build(const Project& project, PlatformPlan& plan) {
  const Platform& p = plan.platform;
  bool foreign = p != host_platform();
  RootfsExec e;

  if (foreign) e.files = interpreter_files(p, "emulate");

  // The tools the build needs: the program its command runs first and the language's
  // compiler. Checked against a created rootfs's package list before it is created (minutes
  // saved), and inside the rootfs before the build starts.
  std::vector<std::string> needed;
  std::string first = first_program(plan.command.argv);
  if (!first.empty() && !(first.front() == '/' && is_under(first, project.dir))) needed.push_back(first);
  if (project.language == "c" || project.language == "cxx") {
    auto it = plan.env.find(project.language == "c" ? "CC" : "CXX");
    if (it != plan.env.end()) needed.push_back(tool_word(it->second));
  }
  if (project.language == "go") needed.push_back("go");
  if (project.language == "rust") needed.push_back("rustc");
  std::vector<std::string> unique;
  for (const auto& t : needed)
    if (!t.empty() && std::find(unique.begin(), unique.end(), t) == unique.end()) unique.push_back(t);
  needed = unique;

  // "no 'cargo', 'rustc': add "cargo", "rustc" to [emulate] packages in FILE"
  auto missing_message = [&](const std::vector<std::string>& tools) {
    std::vector<std::string> names, pkgs;
    for (const auto& tool : tools) {
      names.push_back("'" + tool + "'");
      std::string pkg = package_for_tool(fs::path(tool).filename().string());
      pkgs.push_back(pkg.empty() ? fmt::format("the package that provides {}", tool) : "\"" + pkg + "\"");
    }
    return fmt::format("no {}: add {} to [emulate] packages in {}", join(names, ", "), join(pkgs, ", "), project.file.string());
  };
  if (rootfs_is_created(project)) {
    auto packages = rootfs_packages(project);
    std::vector<std::string> lacking;
    for (const auto& tool : needed) {
      std::string pkg = package_for_tool(fs::path(tool).filename().string());
      if (!pkg.empty() && std::find(packages.begin(), packages.end(), pkg) == packages.end()) lacking.push_back(tool);
    }
    if (!lacking.empty())
      fail(Exit::environment, "the {} rootfs xbuild would create (packages: {}) has {}; nothing was created",
           p.str(), join(packages, ","), missing_message(lacking));
  }

  e.rootfs = resolve_rootfs(project, p);

  // A rootfs without the build's tools fails here, not after qemu started.
  std::vector<std::string> missing;
  for (const auto& tool : needed) {
    if (!find_program_in_root(e.rootfs, tool)) missing.push_back(tool);
  }
  if (!missing.empty())
    fail(Exit::environment, "the {} rootfs {} has {} (a created rootfs is recreated with them), or install {} into that rootfs",
         p.str(), e.rootfs.string(), missing_message(missing), missing.size() == 1 ? "it" : "them");

  Acceleration acc = plan_acceleration(p, e.rootfs, plan.accelerate);
  plan.accelerated = acc.tools;
  plan.not_accelerated = acc.active() ? std::string() : acc.why_not;
  // The compiler cache's key needs the rootfs and the acceleration: sealed now, its variables
  // (CCACHE_DIR, ...) added to the build's environment.
  plan.cache = rootfs_cache(project, plan, e.rootfs, acc);
  for (auto& [k, v] : cache_env(project, plan.cache, plan.env)) {
    plan.env[k] = v;
    plan.command.env[k] = v;
  }
  Command cmd = in_rootfs(project, plan, e.rootfs, plan.command, e.files, acc);
  plan.command = std::move(cmd);
}

Command in_rootfs(const Project& project, const PlatformPlan& plan, const fs::path& rootfs, const Command& cmd,
                  const std::vector<std::pair<fs::path, fs::path>>& files, const Acceleration& acceleration) {
  RootfsExec e;
  e.rootfs = rootfs;
  e.files = files;
  if (acceleration.active()) {
    e.overlay = true;
    e.ro_binds = acceleration.ro_binds;
    e.inner_binds = acceleration.inner_binds;
    e.empties = acceleration.hidden;
    e.scripts = acceleration.scripts;
  }
  add_cache_mounts(e, plan.cache);
  bool cached = !e.path_prefix.empty();
  e.binds.push_back(project.dir);
  for (const fs::path& d : {plan.paths.src, plan.paths.build, plan.paths.out, plan.paths.test_record,
                            cached ? plan.cache.dir : fs::path()}) {
    if (d.empty()) continue;
    bool covered = false;
    for (const auto& b : e.binds) covered = covered || is_under(d, b) || d == b;
    if (!covered) {
      fs::create_directories(d);
      e.binds.push_back(d);
    }
  }
  e.cwd = cmd.cwd.empty() ? project.dir : cmd.cwd;
  e.argv = cmd.argv;

  // The scheduler forks xbuild and execs this, so /proc/self/exe names this very binary
  // even when it was replaced on disk since it started (a rebuild during a long bench).
  Command out = cmd;
  out.argv = {"/proc/self/exe", "__exec-in-rootfs"};
  auto rest = exec_args(e);
  out.argv.insert(out.argv.end(), rest.begin(), rest.end());
  out.env["XBUILD_ROOTFS_DIR"] = e.rootfs.string();
  // QEMU_LD_PREFIX would make qemu look for libraries outside the rootfs' own.
  out.env.erase("QEMU_LD_PREFIX");
  out.cwd.clear();
  return out;
}

}  // namespace xb::emulate
