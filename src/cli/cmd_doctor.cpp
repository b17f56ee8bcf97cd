// `xbuild doctor`: can this machine run and build for each foreign platform? It prints one
// line per check, and every problem with the exact command that fixes it (the same advice
// an emulated build fails with). Exit 3 when a platform cannot be emulated.

#include "cli/build_flags.hpp"
#include "cli/commands.hpp"
#include "config/project.hpp"
#include "emulate/binfmt.hpp"
#include "emulate/qemu.hpp"
#include "emulate/rootfs.hpp"
#include "plan/plan.hpp"
#include "runner/runner.hpp"
#include "util/error.hpp"
#include "util/strings.hpp"

#include <boost/json.hpp>
#include <fmt/format.h>

#include <unistd.h>

namespace xb::cli {

namespace fs = std::filesystem;

namespace {

struct DoctorCmd {
  std::vector<std::string> platforms;
  bool json = false;
};

struct Check {
  std::string level;  // ok | warn | FAIL
  std::string text;
  std::string fix;
};

std::vector<Platform> doctor_platforms(const DoctorCmd& o) {
  if (!o.platforms.empty()) {
    std::vector<std::string> items;
    for (const auto& s : o.platforms)
      for (const auto& part : split(s, ',')) items.push_back(part);
    return parse_platforms(items);
  }
  fs::path dir = globals().dir;
  std::error_code ec;
  if (!globals().file.empty() || fs::exists(dir / "xbuild.toml", ec)) return load_project(dir, globals().file).platforms;
  std::vector<Platform> all;
  for (const auto& t : arch_table())
    all.push_back(Platform::parse(t.variant.empty() ? fmt::format("linux/{}", t.arch) : fmt::format("linux/{}/{}", t.arch, t.variant)));
  return all;
}

std::vector<Check> check_platform(const Platform& p) {
  std::vector<Check> out;
  emulate::BinfmtStatus st = emulate::check_binfmt(p);
  if (st.mounted)
    out.push_back({"ok", fmt::format("binfmt_misc mounted at {}{}", st.dir.string(), st.globally_enabled ? "" : " (globally disabled)"), ""});
  if (st.handler) {
    const auto& h = *st.handler;
    out.push_back({h.enabled ? "ok" : "FAIL",
                   fmt::format("handler {} registered, {}, flags: {}", st.handler_name, h.enabled ? "enabled" : "disabled",
                               h.flags.empty() ? "none" : h.flags),
                   ""});
    if (st.interpreter_exists)
      out.push_back({st.interpreter_static ? "ok" : "FAIL",
                     fmt::format("interpreter {} -> {} ({})", h.interpreter, st.interpreter_real.string(),
                                 st.interpreter_static ? "static" : "dynamic"),
                     ""});
    if (h.fix_binary()) out.push_back({"ok", "F flag set: foreign binaries run inside chroots and containers as they are", ""});
  }
  for (const auto& prob : st.problems) out.push_back({prob.fatal ? "FAIL" : "warn", prob.what, prob.fix});

  auto qemu = emulate::find_qemu(p);
  if (qemu) {
    std::string v = emulate::qemu_version(*qemu);
    out.push_back({"ok", fmt::format("qemu {} ({})", v.empty() ? "of unknown version" : v, qemu->string()), ""});
  } else {
    std::string v = st.interpreter_exists ? emulate::qemu_version(st.interpreter_real) : "";
    out.push_back({st.usable() ? "warn" : "FAIL",
                   fmt::format("qemu-{0}-static / qemu-{0} not on PATH: `xbuild run` without binfmt cannot call it{1}",
                               p.traits().qemu, v.empty() ? "" : fmt::format(" (binfmt's interpreter is qemu {})", v)),
                   "apt-get install qemu-user-static"});
  }
  fs::path sysroot = emulate::default_sysroot(p);
  if (sysroot.empty())
    out.push_back({"warn", fmt::format("no sysroot for dynamically linked {} binaries (QEMU_LD_PREFIX)", p.str()),
                   fmt::format("apt-get install libc6-dev-{}-cross   (or: xbuild rootfs create --platform {})",
                               p.traits().debian_arch, p.str())});
  else
    out.push_back({"ok", fmt::format("sysroot for dynamic binaries: {}", sysroot.string()), ""});
  if (auto r = emulate::find_cached_rootfs(p))
    out.push_back({"ok", fmt::format("cached rootfs: {}", r->string()), ""});
  else
    out.push_back({"warn", "no cached rootfs yet: the first emulated build creates one (1-3 minutes)",
                   fmt::format("xbuild rootfs create --platform {} --packages gcc,make,libc6-dev", p.str())});
  return out;
}

std::vector<Check> check_tools() {
  std::vector<Check> out;
  for (const char* tool : {"mmdebstrap", "arch-test"}) {
    if (emulate::which(tool)) out.push_back({"ok", fmt::format("{} installed (creates rootfs for emulated builds)", tool), ""});
    else out.push_back({"warn", fmt::format("{} is missing: rootfs cannot be created automatically", tool),
                        fmt::format("apt-get install {}", tool)});
  }
  if (::geteuid() == 0) out.push_back({"ok", "running as root: emulated builds chroot into the rootfs", ""});
  else if (fs::exists("/proc/self/ns/user"))
    out.push_back({"warn", "not root: emulated builds use a user namespace; the rootfs must be owned by this user", "sudo xbuild build ..."});
  out.push_back({"ok", fmt::format("rootfs cache: {}", emulate::rootfs_cache_dir().string()), ""});
  return out;
}

/// One connection per [[runner]]: reachable, logged in, the right machine, rsync or not.
std::vector<Check> check_runner(const Project& project, const RunnerSection& r) {
  try {
    auto target = runner::target_for(project, r, state_dir(project));
    auto found = runner::probe(target, Platform::parse(r.platform));
    return {{"ok", fmt::format("reachable, logged in, machine {}, ships with {}", found.machine, found.has_rsync ? "rsync" : "tar"), ""}};
  } catch (const Error& e) {
    return {{"FAIL", e.what(), ""}};
  }
}

}  // namespace

void register_doctor(CLI::App& app) {
  auto o = std::make_shared<DoctorCmd>();
  auto* cmd = app.add_subcommand("doctor", "Check binfmt_misc, qemu and root filesystems for each foreign platform");
  cmd->add_option("--platform", o->platforms, "Platforms to check (default: the project's, else all known)")
      ->check(platform_list_check());
  cmd->add_flag("--json", o->json, "Print the checks as JSON");
  cmd->callback([o] {
    Platform host = host_platform();
    bool failed = false;
    boost::json::object doc;
    auto emit = [&](const std::string& title, const std::vector<Check>& checks) {
      boost::json::array arr;
      if (!o->json) fmt::print("{}\n", title);
      for (const auto& c : checks) {
        failed = failed || c.level == "FAIL";
        if (o->json) {
          arr.push_back(boost::json::object{{"level", c.level}, {"check", c.text}, {"fix", c.fix}});
          continue;
        }
        fmt::print("  {:<4}  {}\n", c.level, c.text);
        if (!c.fix.empty()) fmt::print("        fix: {}\n", c.fix);
      }
      doc[title] = std::move(arr);
    };
    emit(fmt::format("host {}", host.str()), check_tools());
    for (const Platform& p : doctor_platforms(*o)) {
      if (p == host) {
        emit(p.str(), {{"ok", "native: runs and builds without emulation", ""}});
        continue;
      }
      if (host.arch == "amd64" && p.arch == "386") {
        emit(p.str(), {{"ok", "runs natively on this x86_64 kernel", ""}});
        continue;
      }
      emit(p.str(), check_platform(p));
    }
    std::error_code ec;
    if (fs::exists(globals().dir / "xbuild.toml", ec)) {
      Project project = load_project(globals().dir, globals().file);
      for (const auto& r : project.runners)
        emit(fmt::format("runner {}:{} for {}", r.host, r.port, r.platform), check_runner(project, r));
    }
    if (o->json) fmt::print("{}\n", boost::json::serialize(doc));
    if (failed) throw Error("some platforms cannot be emulated or built; run the fix commands above", Exit::environment);
  });
}

}  // namespace xb::cli
