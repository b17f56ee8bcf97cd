// Reading binfmt_misc is plain text parsing of a few proc files; the value is in the
// problems list, each with the one command that fixes it, shared by doctor and by the
// fail-fast check of an emulated build.

#include "emulate/binfmt.hpp"

#include "util/fs.hpp"
#include "util/strings.hpp"

#include <fmt/format.h>

#include <cstdlib>
#include <cstring>
#include <fstream>

namespace fs = std::filesystem;

namespace xb::emulate {

namespace {

/// "7f454c46" -> "\x7f\x45\x4c\x46" (the register syntax; also escapes ':').
std::string hex_to_escapes(const std::string& hex) {
  std::string out;
  for (std::size_t i = 0; i + 1 < hex.size(); i += 2) out += "\\x" + hex.substr(i, 2);
  return out;
}

}  // namespace

BinfmtHandler parse_binfmt_handler(std::string_view text) {
  BinfmtHandler h;
  for (const auto& raw : split(text, '\n')) {
    std::string_view line = trim(raw);
    auto value_after = [&](std::string_view key) -> std::optional<std::string> {
      if (line.substr(0, key.size()) != key) return std::nullopt;
      return std::string(trim(line.substr(key.size())));
    };
    if (line == "enabled") h.enabled = true;
    else if (line == "disabled") h.enabled = false;
    else if (auto v = value_after("interpreter ")) h.interpreter = *v;
    else if (auto v = value_after("flags:")) h.flags = *v;
    else if (auto v = value_after("offset ")) h.offset = *v;
    else if (auto v = value_after("magic ")) h.magic = *v;
    else if (auto v = value_after("mask ")) h.mask = *v;
  }
  return h;
}

bool elf_is_static(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return false;
  unsigned char id[64] = {};
  in.read(reinterpret_cast<char*>(id), sizeof id);
  if (in.gcount() < 52 || std::memcmp(id, "\x7f" "ELF", 4) != 0) return false;
  bool is64 = id[4] == 2;
  bool le = id[5] == 1;
  auto rd = [&](const unsigned char* p, int n) {
    std::uint64_t v = 0;
    for (int i = 0; i < n; ++i) v |= std::uint64_t(p[le ? i : n - 1 - i]) << (8 * i);
    return v;
  };
  std::uint64_t phoff = is64 ? rd(id + 32, 8) : rd(id + 28, 4);
  std::uint64_t phentsize = is64 ? rd(id + 54, 2) : rd(id + 42, 2);
  std::uint64_t phnum = is64 ? rd(id + 56, 2) : rd(id + 44, 2);
  if (phentsize < 4 || phnum > 4096) return false;
  std::vector<unsigned char> ph(phentsize);
  for (std::uint64_t i = 0; i < phnum; ++i) {
    in.seekg(static_cast<std::streamoff>(phoff + i * phentsize));
    in.read(reinterpret_cast<char*>(ph.data()), static_cast<std::streamsize>(phentsize));
    if (!in) return false;
    if (rd(ph.data(), 4) == 3) return false;  // PT_INTERP: dynamically linked
  }
  return true;
}

fs::path binfmt_dir() {
  const char* env = std::getenv("XBUILD_BINFMT_DIR");
  return env && *env ? fs::path(env) : fs::path("/proc/sys/fs/binfmt_misc");
}

bool BinfmtStatus::usable() const {
  for (const auto& p : problems)
    if (p.fatal) return false;
  return true;
}

std::string BinfmtStatus::advice() const {
  std::string s;
  for (const auto& p : problems) {
    if (!p.fatal) continue;
    s += fmt::format("\n  {}\n    fix: {}", p.what, p.fix);
  }
  return s;
}

std::string register_with_f_command(const std::string& name, const BinfmtHandler& h,
                                    const fs::path& interpreter, const fs::path& dir) {
  std::string flags = h.flags;
  if (flags.find('F') == std::string::npos) flags += 'F';
  std::string offset = h.offset.empty() ? "0" : h.offset;
  return fmt::format("echo -1 > {dir}/{name} && printf '%s' ':{name}:M:{off}:{magic}:{mask}:{interp}:{flags}' > {dir}/register",
                     fmt::arg("dir", dir.string()), fmt::arg("name", name), fmt::arg("off", offset),
                     fmt::arg("magic", hex_to_escapes(h.magic)), fmt::arg("mask", hex_to_escapes(h.mask)),
                     fmt::arg("interp", interpreter.string()), fmt::arg("flags", flags));
}

BinfmtStatus check_binfmt(const Platform& p, const fs::path& dir) {
  BinfmtStatus st;
  st.dir = dir;
  st.handler_name = fmt::format("qemu-{}", p.traits().qemu);
  std::error_code ec;
  const std::string install = "apt-get install qemu-user-static binfmt-support";

  st.mounted = fs::exists(dir / "status", ec);
  if (!st.mounted) {
    st.problems.push_back({fmt::format("binfmt_misc is not mounted at {}", dir.string()),
                           fmt::format("mount -t binfmt_misc binfmt_misc {}", dir.string())});
    return st;
  }
  st.globally_enabled = trim(read_file_if_readable(dir / "status").value_or("")) == "enabled";
  if (!st.globally_enabled)
    st.problems.push_back({"binfmt_misc is mounted but globally disabled", fmt::format("echo 1 > {}/status", dir.string())});

  fs::path entry = dir / st.handler_name;
  if (!fs::exists(entry, ec)) {
    bool shipped = fs::exists(fs::path("/usr/share/binfmts") / st.handler_name, ec);
    st.problems.push_back({fmt::format("no binfmt handler {} is registered for {} (so its binaries fail with 'exec format error')",
                                       st.handler_name, p.str()),
                           shipped ? fmt::format("update-binfmts --import {}", st.handler_name) : install});
    return st;
  }
  st.handler = parse_binfmt_handler(read_file_if_readable(entry).value_or(""));
  const BinfmtHandler& h = *st.handler;
  if (!h.enabled)
    st.problems.push_back({fmt::format("binfmt handler {} is registered but disabled", st.handler_name),
                           fmt::format("update-binfmts --enable {}   (or: echo 1 > {})", st.handler_name, entry.string())});

  fs::path interp = h.interpreter;
  st.interpreter_exists = !interp.empty() && fs::exists(interp, ec);
  if (!st.interpreter_exists) {
    st.problems.push_back({fmt::format("the interpreter of {}, '{}', does not exist", st.handler_name, h.interpreter),
                           "apt-get install --reinstall qemu-user-static"});
    return st;
  }
  st.interpreter_real = fs::canonical(interp, ec);
  if (ec) st.interpreter_real = interp;
  st.interpreter_static = elf_is_static(st.interpreter_real);
  if (!st.interpreter_static)
    st.problems.push_back({fmt::format("the interpreter {} is dynamically linked, so it cannot run inside a foreign root filesystem",
                                       h.interpreter),
                           install});
  if (!h.fix_binary())
    st.problems.push_back(
        {fmt::format("handler {} has no F flag (flags: {}): the kernel opens {} at every exec, so inside a chroot or "
                     "container that path must exist; xbuild binds the static qemu there for its own builds, other "
                     "chroots fail with 'No such file or directory'",
                     st.handler_name, h.flags.empty() ? "none" : h.flags, h.interpreter),
         register_with_f_command(st.handler_name, h, interp, dir), false});
  return st;
}

}  // namespace xb::emulate
