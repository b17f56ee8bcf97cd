// One small table from tool to Debian package, so every message about a missing tool in a
// rootfs can say exactly what to add to [emulate] packages.

#include "emulate/tool_packages.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <map>

namespace xb::emulate {

std::vector<std::string> default_rootfs_packages(const std::string& language) {
  if (language == "cxx") return {"gcc", "g++", "make", "libc6-dev"};
  if (language == "go") return {"golang-go"};
  // rustc links through the C compiler (cc), and cargo build scripts often compile C.
  if (language == "rust") return {"rustc", "cargo", "gcc", "libc6-dev"};
  return {"gcc", "make", "libc6-dev"};
}

std::vector<std::string> rootfs_packages(const Project& project) {
  std::vector<std::string> out = default_rootfs_packages(project.language);
  for (const auto& p : project.emulate.packages) {
    if (std::find(out.begin(), out.end(), p) == out.end()) out.push_back(p);
  }
  return out;
}

std::string package_for_tool(const std::string& tool) {
  static const std::map<std::string, std::string> k_table = {
    {"make", "make"}, {"gmake", "make"}, {"cmake", "cmake"}, {"ctest", "cmake"}, {"meson", "meson"},
    {"ninja", "ninja-build"}, {"cargo", "cargo"}, {"rustc", "rustc"}, {"go", "golang-go"}, {"gofmt", "golang-go"},
    {"gcc", "gcc"}, {"cc", "gcc"}, {"g++", "g++"}, {"c++", "g++"}, {"clang", "clang"}, {"clang++", "clang"},
    {"ar", "binutils"}, {"ranlib", "binutils"}, {"strip", "binutils"}, {"ld", "binutils"}, {"as", "binutils"},
    {"pkg-config", "pkgconf"}, {"pkgconf", "pkgconf"}, {"autoreconf", "autoconf"}, {"autoconf", "autoconf"},
    {"automake", "automake"}, {"libtool", "libtool"}, {"python3", "python3"}, {"perl", "perl"}, {"bash", "bash"},
    {"git", "git"}, {"scons", "scons"}, {"bison", "bison"}, {"flex", "flex"}, {"m4", "m4"}, {"patch", "patch"},
    {"xz", "xz-utils"}, {"zstd", "zstd"}, {"curl", "curl"}, {"wget", "wget"}, {"file", "file"},
  };
  auto it = k_table.find(tool);
  return it == k_table.end() ? std::string() : it->second;
}

std::string failed_build_hint(const Project& project, int exit_code) {
  if (exit_code != 127) return "";
  return fmt::format("\n  exit 127 is \"command not found\" inside the rootfs: add the Debian package that provides the "
                     "command to [emulate] packages in {} (a created rootfs is recreated with them), not to PATH",
                     project.file.string());
}

}  // namespace xb::emulate
