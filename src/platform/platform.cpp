#include "platform/platform.hpp"

#include "util/error.hpp"
#include "util/strings.hpp"

#include <sys/utsname.h>

#include <algorithm>
#include <set>

namespace xb {

const std::vector<ArchTraits>& arch_table() {
  // e_machine values from elf.h: EM_X86_64 62, EM_AARCH64 183, EM_ARM 40, EM_RISCV 243,
  // EM_PPC64 21, EM_S390 22, EM_386 3, EM_MIPS 8, EM_LOONGARCH 258.
  static const std::vector<ArchTraits> table = {
    {"amd64",    "",   "x86_64-linux-gnu",        62, 64, true,  "x86_64",   "amd64",    "",  "x86_64-unknown-linux-gnu",       "amd64",    "x86_64",  "x86_64", "/lib64/ld-linux-x86-64.so.2"},
    {"arm64",    "",   "aarch64-linux-gnu",      183, 64, true,  "aarch64",  "arm64",    "",  "aarch64-unknown-linux-gnu",      "arm64",    "aarch64", "aarch64", "/lib/ld-linux-aarch64.so.1"},
    {"arm",      "v7", "arm-linux-gnueabihf",     40, 32, true,  "arm",      "arm",      "7", "armv7-unknown-linux-gnueabihf",  "armhf",    "armv7l",  "arm", "/lib/ld-linux-armhf.so.3"},
    {"arm",      "v6", "arm-linux-gnueabi",       40, 32, true,  "arm",      "arm",      "6", "arm-unknown-linux-gnueabi",      "armel",    "armv6l",  "arm", "/lib/ld-linux.so.3"},
    {"riscv64",  "",   "riscv64-linux-gnu",      243, 64, true,  "riscv64",  "riscv64",  "",  "riscv64gc-unknown-linux-gnu",    "riscv64",  "riscv64", "riscv64", "/lib/ld-linux-riscv64-lp64d.so.1"},
    {"ppc64le",  "",   "powerpc64le-linux-gnu",   21, 64, true,  "ppc64le",  "ppc64le",  "",  "powerpc64le-unknown-linux-gnu",  "ppc64el",  "ppc64le", "ppc64", "/lib64/ld64.so.2"},
    {"s390x",    "",   "s390x-linux-gnu",         22, 64, false, "s390x",    "s390x",    "",  "s390x-unknown-linux-gnu",        "s390x",    "s390x",   "s390x", "/lib/ld64.so.1"},
    {"386",      "",   "i686-linux-gnu",           3, 32, true,  "i386",     "386",      "",  "i686-unknown-linux-gnu",         "i386",     "i686",    "x86", "/lib/ld-linux.so.2"},
    {"mips64le", "",   "mips64el-linux-gnuabi64",  8, 64, true,  "mips64el", "mips64le", "",  "mips64el-unknown-linux-gnuabi64","mips64el", "mips64",  "mips64", "/lib64/ld.so.1"},
    {"loong64",  "",   "loongarch64-linux-gnu",  258, 64, true,  "loongarch64","loong64", "",  "loongarch64-unknown-linux-gnu",  "loong64",  "loongarch64", "loongarch64", "/lib64/ld-linux-loongarch-lp64d.so.1"},
  };
  return table;
}

std::vector<std::string> ArchTraits::library_dirs() const {
  std::vector<std::string> dirs(2);
  dirs[0].append("/lib/").append(gnu_triple);
  dirs[1].append("/usr/lib/").append(gnu_triple);
  dirs.emplace_back("/lib");
  dirs.emplace_back("/usr/lib");
  return dirs;
}

namespace {

struct Alias {
  std::string_view name;
  std::string_view arch;
  std::string_view variant;
};

// Names users type for an architecture, mapped to OCI arch/variant.
constexpr Alias k_aliases[] = {
  {"amd64", "amd64", ""},     {"x86_64", "amd64", ""},   {"x86-64", "amd64", ""},
  {"x64", "amd64", ""},       {"arm64", "arm64", ""},    {"aarch64", "arm64", ""},
  {"arm64/v8", "arm64", ""},  {"aarch64/v8", "arm64", ""},
  {"arm", "arm", "v7"},       {"arm/v7", "arm", "v7"},   {"armv7", "arm", "v7"},
  {"armv7l", "arm", "v7"},    {"armhf", "arm", "v7"},    {"arm/v6", "arm", "v6"},
  {"armv6", "arm", "v6"},     {"armv6l", "arm", "v6"},   {"armel", "arm", "v6"},
  {"riscv64", "riscv64", ""}, {"ppc64le", "ppc64le", ""}, {"ppc64el", "ppc64le", ""},
  {"s390x", "s390x", ""},     {"386", "386", ""},        {"i386", "386", ""},
  {"i686", "386", ""},        {"x86", "386", ""},        {"mips64le", "mips64le", ""},
  {"mips64el", "mips64le", ""}, {"loong64", "loong64", ""}, {"loongarch64", "loong64", ""},
};

}  // namespace

std::string known_platforms() {
  std::vector<std::string> names;
  for (const auto& t : arch_table()) {
    names.push_back(t.variant.empty() ? fmt::format("linux/{}", t.arch) : fmt::format("linux/{}/{}", t.arch, t.variant));
  }
  return join(names, ", ");
}

Platform Platform::parse(std::string_view text) {
  std::string s = to_lower(trim(text));
  std::string os = "linux";
  std::string rest = s;
  if (auto slash = s.find('/'); slash != std::string::npos) {
    std::string first = s.substr(0, slash);
    bool is_arch = std::any_of(std::begin(k_aliases), std::end(k_aliases),
                               [&](const Alias& a) { return a.name == first; });
    if (!is_arch) {
      os = first;
      rest = s.substr(slash + 1);
    }
  }
  if (os != "linux") {
    fail(Exit::usage, "unknown platform '{}': xbuild builds linux images only (os '{}' is not supported); known: {}",
         text, os, known_platforms());
  }
  for (const auto& a : k_aliases) {
    if (a.name == rest) return Platform{os, std::string(a.arch), std::string(a.variant)};
  }
  fail(Exit::usage, "unknown platform '{}'; known: {} (aliases such as x86_64, aarch64, armhf, i386 work too)",
       text, known_platforms());
}

std::string Platform::str() const {
  std::string s = os + "/" + arch;
  if (!variant.empty()) s += "/" + variant;
  return s;
}

std::string Platform::dir_name() const {
  std::string s = os + "_" + arch;
  if (!variant.empty()) s += "_" + variant;
  return s;
}

const ArchTraits& Platform::traits() const {
  for (const auto& t : arch_table()) {
    if (t.arch == arch && t.variant == variant) return t;
  }
  fail(Exit::usage, "unknown platform '{}'; known: {}", str(), known_platforms());
}

std::vector<Platform> parse_platforms(const std::vector<std::string>& items) {
  std::vector<Platform> out;
  for (const auto& item : items) {
    for (const auto& piece : split(item, ',')) {
      Platform p = Platform::parse(piece);
      if (std::find(out.begin(), out.end(), p) != out.end())
        fail(Exit::usage, "platform {} is listed twice (as '{}')", p.str(), piece);
      out.push_back(std::move(p));
    }
  }
  return out;
}

std::vector<Platform> parse_platforms(std::string_view csv) {
  return parse_platforms(std::vector<std::string>{std::string(csv)});
}

Platform host_platform() {
  struct utsname u {};
  ::uname(&u);
  std::string m = u.machine;
  if (m == "armv8l") m = "armv7l";
  for (const auto& t : arch_table()) {
    if (t.uname_machine == m) return Platform{"linux", std::string(t.arch), std::string(t.variant)};
  }
  return Platform::parse(m);
}

}  // namespace xb
