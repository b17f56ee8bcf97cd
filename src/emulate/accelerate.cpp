// The decision and the mounts of accelerated emulation. Only file lookups: the rootfs is read
// through path_in_root (its symlinks resolve inside it), the host's /usr directly. Arch facts
// (the triple, the host's loader and library dirs) come from the platform table.

#include "emulate/accelerate.hpp"

#include "emulate/rootfs.hpp"
#include "util/strings.hpp"

#include <fmt/format.h>

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <optional>

namespace fs = std::filesystem;

namespace xb::emulate {

namespace {

fs::path host_usr() {
  if (const char* env = std::getenv("XBUILD_ACCEL_HOST_USR"); env && *env) return env;
  return "/usr";
}

/// N of a name ending in "-N" (gcc-12, aarch64-linux-gnu-gcc-12), or nullopt.
std::optional<int> major_suffix(const std::string& name) {
  auto dash = name.rfind('-');
  if (dash == std::string::npos || dash + 1 >= name.size()) return std::nullopt;
  std::string digits = name.substr(dash + 1);
  if (!std::all_of(digits.begin(), digits.end(), [](char c) { return c >= '0' && c <= '9'; }) || digits.size() > 3)
    return std::nullopt;
  return std::stoi(digits);
}

/// The majors of the host's <triple>-gcc-N in `bin`, ascending.
std::vector<int> host_majors(const fs::path& bin, const std::string& triple) {
  std::vector<int> out;
  std::error_code ec;
  std::string prefix = triple + "-gcc-";
  for (const auto& e : fs::directory_iterator(bin, ec)) {
    std::string name = e.path().filename().string();
    if (name.rfind(prefix, 0) != 0) continue;
    auto n = major_suffix(name);
    if (n && name == prefix + std::to_string(*n) && ::access(e.path().c_str(), X_OK) == 0) out.push_back(*n);
  }
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

bool is_executable(const fs::path& p) { return ::access(p.c_str(), X_OK) == 0 && !fs::is_directory(p); }

/// The rootfs has /usr/bin/NAME (a file or a link, even one into /etc/alternatives).
bool rootfs_has(const fs::path& rootfs_bin, const std::string& name) {
  struct stat st {};
  return ::lstat((rootfs_bin / name).c_str(), &st) == 0 && !S_ISDIR(st.st_mode);
}

std::string wrapper(const std::string& name, const std::string& target, bool sysroot) {
  std::string host = k_host_usr_inside;
  return fmt::format(
      "#!{0}/bin/sh\n"
      "# xbuild accelerated emulation: '{1}' is the host's {2}, running natively{3}.\n"
      "[ -z \"${{XBUILD_ACCEL_LOG:-}}\" ] || printf '%s\\n' \"{1} -> {2} $*\" >>\"$XBUILD_ACCEL_LOG\"\n"
      "exec {0}/bin/{2}{4} \"$@\"\n",
      host, name, target, sysroot ? " with the rootfs as sysroot" : "", sysroot ? " --sysroot=/" : "");
}

/// The Version of `package` in a dpkg status file, or "" when it is not there.
std::string dpkg_version(const fs::path& status, const std::string& package) {
  std::ifstream in(status);
  std::string line;
  bool in_stanza = false;
  while (std::getline(in, line)) {
    if (line.empty()) in_stanza = false;
    else if (line == "Package: " + package) in_stanza = true;
    else if (in_stanza && line.rfind("Version: ", 0) == 0) return line.substr(9);
  }
  return "";
}

}  // namespace

std::string Acceleration::describe(Accelerate mode) const {
  if (mode == Accelerate::off) return "off: every tool runs under qemu ([emulate] accelerate = \"off\" or --no-accelerate)";
  if (!active()) return "no: " + why_not;
  // The plain names; the triple-prefixed and versioned ones follow them.
  std::vector<std::string> plain;
  for (const auto& t : tools)
    if (t.find('-') == std::string::npos) plain.push_back(t);
  std::string s = fmt::format("{} (and their triple/version names) by the host's {} and binutils, natively", join(plain, ", "), compiler);
  if (!emulated.empty()) s += fmt::format("; still under qemu: {} (the host has no matching cross tool)", join(emulated, ", "));
  if (!host_programs.empty())
    s += fmt::format("; and the host's {} (the same Debian version as the rootfs's)", join(host_programs, ", "));
  return s;
}

std::vector<std::string> host_cross_compilers(const Platform& p) {
  std::string triple(p.traits().gnu_triple);
  std::vector<std::string> out;
  for (int n : host_majors(host_usr() / "bin", triple)) out.push_back(fmt::format("{}-gcc-{}", triple, n));
  return out;
}

Acceleration plan_acceleration(const Platform& p, const fs::path& rootfs, Accelerate mode) {
  Acceleration a;
  if (mode == Accelerate::off || p == host_platform()) return a;
  std::string triple(p.traits().gnu_triple);
  const std::string fallback = "building fully emulated";
  // Without root the rootfs's directories belong to an unmapped owner in the build's user
  // namespace, so even its overlay cannot get the mount points the host's tools need.
  if (::geteuid() != 0) {
    a.why_not = fmt::format("accelerated emulation needs root (xbuild runs as uid {}); {}", ::geteuid(), fallback);
    return a;
  }

  // The rootfs's own compiler: /usr/bin/gcc -> gcc-N -> <triple>-gcc-N on Debian.
  auto gcc = path_in_root(rootfs, "/usr/bin/gcc");
  if (!gcc) {
    a.why_not = fmt::format("the rootfs {} has no /usr/bin/gcc to serve; {}", rootfs.string(), fallback);
    return a;
  }
  std::optional<int> major = major_suffix(gcc->filename().string());
  if (!major) {  // a plain gcc binary: its version dir under /usr/lib/gcc/<triple> names it
    std::vector<int> dirs;
    std::error_code ec;
    if (auto libgcc = path_in_root(rootfs, "/usr/lib/gcc/" + triple))
      for (const auto& e : fs::directory_iterator(*libgcc, ec))
        if (auto n = major_suffix("-" + e.path().filename().string())) dirs.push_back(*n);
    if (dirs.size() == 1) major = dirs.front();
  }
  if (!major || !path_in_root(rootfs, fmt::format("/usr/lib/gcc/{}/{}", triple, *major))) {
    a.why_not = fmt::format("the rootfs's gcc ({}) is not a gcc for {} whose version xbuild can read; {}",
                            gcc->filename().string(), triple, fallback);
    return a;
  }

  fs::path usr = host_usr();
  std::vector<int> majors = host_majors(usr / "bin", triple);
  if (majors.empty()) {
    a.why_not = fmt::format("the host has no cross compiler for {} ({}/bin/{}-gcc-{} missing; apt-get install gcc-{}); {}", triple,
                            usr.string(), triple, *major, triple, fallback);
    return a;
  }
  if (std::find(majors.begin(), majors.end(), *major) == majors.end()) {
    std::vector<std::string> have;
    for (int n : majors) have.push_back(std::to_string(n));
    a.why_not = fmt::format("the host's {} cross gcc is version {}, the rootfs's gcc is {} (the major versions must match); {}",
                            triple, join(have, ", "), *major, fallback);
    return a;
  }
  if (!is_executable(usr / "bin/sh")) {
    a.why_not = fmt::format("the host has no {}/bin/sh for the wrappers; {}", usr.string(), fallback);
    return a;
  }

  // The host's tools for each group of rootfs names.
  std::string n = std::to_string(*major);
  std::string t = triple;
  struct Group {
    std::vector<std::string> names;
    std::string host_tool;
    bool sysroot;
  };
  std::vector<Group> groups = {
    {{"gcc", "cc", "gcc-" + n, t + "-gcc", t + "-gcc-" + n}, t + "-gcc-" + n, true},
    {{"g++", "c++", "g++-" + n, t + "-g++", t + "-g++-" + n}, t + "-g++-" + n, true},
    {{"cpp", "cpp-" + n, t + "-cpp", t + "-cpp-" + n}, t + "-cpp-" + n, true},
    {{"as", t + "-as"}, t + "-as", false},
    {{"ld", "ld.bfd", t + "-ld", t + "-ld.bfd"}, t + "-ld.bfd", true},
    {{"ar", t + "-ar"}, t + "-ar", false},
    {{"ranlib", t + "-ranlib"}, t + "-ranlib", false},
    {{"nm", t + "-nm"}, t + "-nm", false},
    {{"strip", t + "-strip"}, t + "-strip", false},
  };
  auto bin = path_in_root(rootfs, "/usr/bin");
  if (!bin || !path_in_root(rootfs, "/usr/lib/" + triple)) {
    a.why_not = fmt::format("the rootfs has no /usr/bin or /usr/lib/{}; {}", triple, fallback);
    return a;
  }
  for (const auto& g : groups) {
    bool host_has = is_executable(usr / "bin" / g.host_tool);
    for (const auto& name : g.names) {
      if (!rootfs_has(*bin, name)) continue;
      if (!host_has) {
        if (name.find('-') == std::string::npos) a.emulated.push_back(name);
        continue;
      }
      a.tools.push_back(name);
      a.scripts.emplace_back(fs::path("/usr/bin") / name, wrapper(name, g.host_tool, g.sysroot));
    }
  }
  if (std::find(a.tools.begin(), a.tools.end(), "gcc") == a.tools.end()) {
    a = Acceleration{};
    a.why_not = fmt::format("the host's {}-gcc-{} is not executable; {}", triple, n, fallback);
    return a;
  }
  a.compiler = t + "-gcc-" + n;
  a.compiler_path = usr / "bin" / a.compiler;

  // The host's toolchain read-only at a private path, its cross files where its linker scripts
  // name them, and the host's loader and libraries at their multiarch paths.
  std::error_code ec;
  a.ro_binds.emplace_back(usr, k_host_usr_inside);
  // The cross compiler's own target directory (<prefix>/<triple>: include, lib, bin) holds the
  // host's cross libc, which it searches before the sysroot. Its headers are hidden and its lib
  // is the rootfs's, so a program is compiled and linked against the rootfs's libc and
  // libraries (crt1.o, libc.so, libstdc++.so.6 ...), as with the rootfs's own gcc; bin (as, ld)
  // stays the host's.
  fs::path tooldir = fs::path(k_host_usr_inside) / triple;
  if (fs::is_directory(usr / triple / "include", ec)) a.hidden.push_back(tooldir / "include");
  if (fs::is_directory(usr / triple / "lib", ec)) a.inner_binds.emplace_back(fs::path("/usr/lib") / triple, tooldir / "lib");
  auto runtime = host_runtime_binds();
  a.ro_binds.insert(a.ro_binds.end(), runtime.begin(), runtime.end());
  // Phase two: sh and make from the host, where the rootfs has the very same Debian version of
  // them (same sources, same behaviour; only make's MAKE_HOST names the build machine). The
  // programs they run (uname, the build's test programs) are still the rootfs's.
  fs::path host_status = usr.parent_path() / "var/lib/dpkg/status";
  auto rootfs_status = path_in_root(rootfs, "/var/lib/dpkg/status");
  for (const char* program : {"dash", "make"}) {
    if (!rootfs_status) break;
    std::string version = dpkg_version(*rootfs_status, program);
    auto inside = path_in_root(rootfs, fs::path("/usr/bin") / program);
    if (version.empty() || !inside || !fs::is_regular_file(*inside, ec) || !is_executable(usr / "bin" / program) ||
        dpkg_version(host_status, program) != version)
      continue;
    a.host_programs.push_back(program);
    a.ro_binds.emplace_back(usr / "bin" / program, fs::path("/") / inside->lexically_relative(rootfs));
  }
  return a;
}

std::vector<std::pair<fs::path, fs::path>> host_runtime_binds() {
  std::vector<std::pair<fs::path, fs::path>> out;
  std::error_code ec;
  const ArchTraits& host = host_platform().traits();
  std::vector<fs::path> seen;
  for (const auto& dir : host.library_dirs()) {
    if (dir.find(host.gnu_triple) == std::string::npos) continue;  // only the multiarch dirs: /lib and /usr/lib are the rootfs's
    fs::path real = fs::canonical(dir, ec);
    if (ec || std::find(seen.begin(), seen.end(), real) != seen.end()) continue;
    seen.push_back(real);
    out.emplace_back(real, real);
  }
  fs::path loader(host.loader);
  fs::path loader_real = fs::canonical(loader, ec);
  if (!ec && std::none_of(seen.begin(), seen.end(), [&](const fs::path& d) { return d == loader.parent_path(); }))
    out.emplace_back(loader_real, loader);
  return out;
}

}  // namespace xb::emulate
