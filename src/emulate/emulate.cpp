// prepare_build is the one entry point the pipeline calls for an emulated platform. It
// checks everything that would otherwise fail minutes later inside qemu (binfmt, the
// interpreter, a compiler in the rootfs), then turns the plan's command into a call of
// xbuild's own hidden `__exec-in-rootfs` helper, leaving env, cwd, timeout and process
// group handling to the scheduler exactly as for a cross build.

#include "emulate/emulate.hpp"

#include "emulate/binfmt.hpp"
#include "emulate/rootfs.hpp"
#include "emulate/sandbox.hpp"
#include "util/error.hpp"
#include "util/strings.hpp"

#include <fmt/format.h>

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

void prepare_build(const Project& project, PlatformPlan& plan) {
  const Platform& p = plan.platform;
  bool foreign = p != host_platform();
  RootfsExec e;

  if (foreign) {
    BinfmtStatus st = check_binfmt(p);
    if (!st.usable())
      fail(Exit::environment, "cannot emulate {}: binfmt_misc cannot run its binaries:{}\n  (xbuild doctor shows the full picture)",
           p.str(), st.advice());
    // Without the F flag the kernel opens the interpreter by path at each exec, inside
    // the chroot: put the static qemu there.
    if (!st.handler->fix_binary()) e.files.emplace_back(st.interpreter_real, st.handler->interpreter);
  }

  e.rootfs = resolve_rootfs(project, p);

  // A rootfs without the build's tools fails here, not after qemu started.
  std::vector<std::string> needed;
  if (!plan.command.argv.empty()) needed.push_back(plan.command.argv.front());
  for (const char* var : {"CC", "CXX"}) {
    auto it = plan.env.find(var);
    if (it == plan.env.end()) continue;
    bool used = project.language == "c" ? std::string(var) == "CC" : project.language == "cxx";
    if (used) needed.push_back(tool_word(it->second));
  }
  if (project.language == "go") needed.push_back("go");
  if (project.language == "rust") needed.push_back("cargo");
  for (const auto& tool : needed) {
    if (!tool.empty() && !find_program_in_root(e.rootfs, tool))
      fail(Exit::environment,
           "the {} rootfs {} has no '{}': add it to [emulate] packages in {} (an mmdebstrap rootfs is recreated with them), "
           "or install it into that rootfs",
           p.str(), e.rootfs.string(), tool, project.file.string());
  }

  Command cmd = in_rootfs(project, plan, e.rootfs, plan.command, e.files);
  plan.command = std::move(cmd);
}

Command in_rootfs(const Project& project, const PlatformPlan& plan, const fs::path& rootfs, const Command& cmd,
                  const std::vector<std::pair<fs::path, fs::path>>& files) {
  RootfsExec e;
  e.rootfs = rootfs;
  e.files = files;
  e.binds.push_back(project.dir);
  for (const fs::path& d : {plan.paths.src, plan.paths.build, plan.paths.out, plan.paths.test_record}) {
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
