// One function per kind of file, each appending problems: a build with three wrong files
// hears about all three. ELF parsing is platform/elf.hpp's; this file only decides what is
// wrong and says how to fix it.

#include "pipeline/verify.hpp"

#include "emulate/qemu.hpp"
#include "platform/elf.hpp"
#include "util/strings.hpp"

#include <fmt/format.h>

#include <algorithm>

namespace xb {

namespace fs = std::filesystem;

namespace {

/// Why `dir` (an absolute RUNPATH entry) is a path of the build machine, or "".
std::string build_machine_path(const std::string& dir, const Project& project, const Platform& platform) {
  auto under = [&](const fs::path& root) {
    std::string r = root.lexically_normal().string();
    while (r.size() > 1 && r.back() == '/') r.pop_back();
    return dir == r || dir.rfind(r + "/", 0) == 0;
  };
  if (dir.find("/.xbuild/") != std::string::npos || dir.ends_with("/.xbuild")) return "xbuild's state dir";
  if (under(project.dir)) return "the project dir";
  if (under("/tmp")) return "/tmp";
  if (under(fs::path("/usr") / std::string(platform.traits().gnu_triple))) return "the cross sysroot";
  return {};
}

void check_file(const fs::path& file, const fs::path& out, const Project& project, const Platform& platform,
                std::vector<std::string>& problems) {
  std::string rel = fs::relative(file, out).string();
  std::string want = describe(expected_elf(platform));
  for (const auto& m : read_ar(file)) {
    if (m.elf && !elf_matches(*m.elf, platform))
      problems.push_back(fmt::format("{}({}) is {}, but {} needs {}: an object in the static library was built with the wrong "
                                     "compiler (check CC/AR and the objects' build rules in `xbuild plan`)",
                                     rel, m.name, describe(*m.elf), platform.str(), want));
  }
  auto info = read_elf(file);
  if (!info) return;
  if (!elf_matches(*info, platform)) {
    problems.push_back(fmt::format("{} is {}, but {} needs {}: the build used the wrong compiler (check CC/GOARCH/--target in `xbuild plan`)",
                                   rel, describe(*info), platform.str(), want));
    return;
  }
  for (const auto& dir : library_search_path(*info)) {
    std::string why = build_machine_path(dir, project, platform);
    if (why.empty()) continue;
    problems.push_back(fmt::format("{} has RUNPATH/RPATH {}, which is {} on the build machine: the image's loader will not find "
                                   "libraries there. Use an $ORIGIN-relative RPATH (CMake: -DCMAKE_BUILD_WITH_INSTALL_RPATH=ON "
                                   "-DCMAKE_INSTALL_RPATH='$ORIGIN/../lib'; ld: -Wl,-rpath,'$ORIGIN/../lib') or none",
                                   rel, dir, why));
  }
}

}  // namespace

std::vector<std::string> verify_outputs(const Project& project, const Platform& platform, const fs::path& out) {
  std::vector<std::string> problems;
  for (const auto& o : project.outputs) {
    fs::path path = out / o;
    std::error_code ec;
    auto st = fs::symlink_status(path, ec);
    if (ec || !fs::exists(st)) {
      problems.push_back(fmt::format("output '{}' was not produced: the build must write it to {} (outputs in {})",
                                     o, path.string(), project.file.string()));
      continue;
    }
    if (fs::is_directory(st)) {
      std::vector<fs::path> files;
      for (const auto& e : fs::recursive_directory_iterator(path)) {
        if (e.is_regular_file()) files.push_back(e.path());
      }
      std::sort(files.begin(), files.end());
      for (const auto& f : files) check_file(f, out, project, platform, problems);
    } else if (fs::is_regular_file(st)) {
      check_file(path, out, project, platform, problems);
    }
  }
  return problems;
}

fs::path runtime_sysroot(const PlatformPlan& plan) {
  switch (plan.strategy) {
    case Strategy::native: return "/";
    case Strategy::cross:
      if (plan.toolchain) {
        std::string s = plan.toolchain->expand(plan.toolchain->sysroot, plan.platform);
        if (!s.empty()) return s;
      }
      break;
    case Strategy::emulate:
      if (auto it = plan.command.env.find("XBUILD_ROOTFS_DIR"); it != plan.command.env.end()) return it->second;
      break;
    default: break;
  }
  return emulate::default_sysroot(plan.platform);
}

}  // namespace xb
