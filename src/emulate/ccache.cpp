// Sealing an emulated build's compiler cache with its rootfs, and the sandbox's part of it.

#include "emulate/ccache.hpp"

#include "emulate/rootfs.hpp"
#include "plan/probe.hpp"
#include "util/sha256.hpp"
#include "util/strings.hpp"

#include <fmt/format.h>

#include <unistd.h>

#include <algorithm>

namespace fs = std::filesystem;

namespace xb::emulate {

namespace {

/// What identifies the rootfs's compilers: its dpkg database (every package's version), else
/// each compiler file's size and mtime.
std::vector<std::string> rootfs_identity(const fs::path& rootfs, const std::vector<std::string>& compilers) {
  std::vector<std::string> out = {"rootfs=" + fs::weakly_canonical(rootfs).string()};
  if (auto status = path_in_root(rootfs, "/var/lib/dpkg/status")) {
    out.push_back("rootfs-dpkg=" + sha256_file(*status));
    return out;
  }
  std::error_code ec;
  for (const auto& name : compilers) {
    auto found = find_program_in_root(rootfs, name);
    if (!found) continue;
    auto size = fs::file_size(*found, ec);
    auto mtime = fs::last_write_time(*found, ec).time_since_epoch().count();
    out.push_back(fmt::format("rootfs-compiler={} {} {} {}", name, found->string(), ec ? 0 : size, ec ? 0 : mtime));
  }
  return out;
}

}  // namespace

CachePlan rootfs_cache(const Project& project, const PlatformPlan& plan, const fs::path& rootfs, const Acceleration& acc) {
  CachePlan c = plan.cache;
  if (!c.in_rootfs || !c.unsealed() || !c.uses_ccache()) return c;
  auto drop = [&](const std::string& why) {
    c.kinds.erase(std::remove(c.kinds.begin(), c.kinds.end(), "ccache"), c.kinds.end());
    c.compilers.clear();
    c.notes.push_back("ccache not used: " + why);
    return c;
  };
  if (::geteuid() != 0)
    return drop(fmt::format("the host's ccache runs in the rootfs over an overlay, which needs root (xbuild runs as uid {})",
                            ::geteuid()));
  if (rootfs.string().find_first_of(",:\\") != std::string::npos)
    return drop(fmt::format("the rootfs path {} has ',', ':' or '\\', which an overlay mount cannot name", rootfs.string()));
  if (project.dir.string().find(':') != std::string::npos)
    return drop(fmt::format("the project path {} has ':', which cannot stand in the rootfs's PATH", project.dir.string()));
  std::vector<std::string> present, absent;
  for (const auto& name : c.compilers) (find_program_in_root(rootfs, name) ? present : absent).push_back(name);
  if (present.empty()) return drop(fmt::format("the rootfs {} has none of {}", rootfs.string(), join(c.compilers, ", ")));
  c.compilers = present;

  std::vector<std::string> more = rootfs_identity(rootfs, present);
  for (const auto& name : absent) more.push_back("rootfs-lacks=" + name);
  if (acc.active())
    more.push_back(fmt::format("accelerate={} ({}) for {}", acc.compiler, tool_version({acc.compiler_path.string(), "--version"}, "/usr/bin:/bin"),
                               join(acc.tools, ",")));
  else
    more.push_back("accelerate=off");
  seal_cache(project, c, plan.platform.dir_name(), more);
  c.link_target = k_ccache_inside;
  c.compiler_check = "string:" + c.key;
  return c;
}

void add_cache_mounts(RootfsExec& e, const CachePlan& cache) {
  if (!cache.in_rootfs || !cache.uses_ccache() || cache.dir.empty()) return;
  e.overlay = true;
  std::error_code ec;
  fs::path ccache = fs::canonical(cache.ccache, ec);
  std::vector<std::pair<fs::path, fs::path>> wanted = {{ec ? cache.ccache : ccache, k_ccache_inside}};
  auto runtime = host_runtime_binds();
  wanted.insert(wanted.end(), runtime.begin(), runtime.end());
  for (const auto& b : wanted)
    if (std::find(e.ro_binds.begin(), e.ro_binds.end(), b) == e.ro_binds.end()) e.ro_binds.push_back(b);
  e.path_prefix = cache.bin();
}

}  // namespace xb::emulate
