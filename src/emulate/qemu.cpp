// The choice of how to run a foreign binary is made here once, for `xbuild run`,
// `xbuild test` and the checks of `xbuild bench`, so they agree on sysroots and advice.

#include "emulate/qemu.hpp"

#include "emulate/binfmt.hpp"
#include "emulate/rootfs.hpp"
#include "exec/subprocess.hpp"
#include "platform/elf.hpp"
#include "util/error.hpp"
#include "util/fs.hpp"
#include "util/strings.hpp"

#include <fmt/format.h>

#include <cstdlib>
#include <unistd.h>

namespace fs = std::filesystem;

namespace xb::emulate {

std::optional<fs::path> which(const std::string& name) {
  const char* path = std::getenv("PATH");
  return find_program(name, path ? path : "");
}

std::optional<fs::path> find_qemu(const Platform& p) {
  std::string base = fmt::format("qemu-{}", p.traits().qemu);
  if (auto q = which(base + "-static")) return q;
  return which(base);
}

std::string qemu_version(const fs::path& qemu) {
  Captured out = capture(Command{{qemu.string(), "--version"}, {}, {}});
  if (!out.ok()) return {};
  // "qemu-aarch64 version 7.2.22 (Debian ...)"
  const std::string& s = out.output;
  auto pos = s.find("version ");
  if (pos == std::string::npos) return {};
  auto end = s.find_first_of(" \n", pos + 8);
  return s.substr(pos + 8, end == std::string::npos ? std::string::npos : end - pos - 8);
}

fs::path default_sysroot(const Platform& p) {
  fs::path cross = fs::path("/usr") / std::string(p.traits().gnu_triple);
  std::error_code ec;
  if (fs::is_directory(cross / "lib", ec)) return cross;
  if (auto r = find_cached_rootfs(p)) return *r;
  return {};
}

Command foreign_command(const Platform& p, Command cmd, const fs::path& sysroot, RunMode* mode) {
  auto set_mode = [&](RunMode m) { if (mode) *mode = m; };
  if (p == host_platform() || cmd.argv.empty()) {
    set_mode(RunMode::native);
    return cmd;
  }
  if (!sysroot.empty() && !cmd.env.count("QEMU_LD_PREFIX")) cmd.env["QEMU_LD_PREFIX"] = sysroot.string();
  BinfmtStatus st = check_binfmt(p);
  bool binfmt_ok = st.handler && st.handler->enabled && st.globally_enabled && st.interpreter_exists;
  if (binfmt_ok) {
    set_mode(RunMode::binfmt);
    return cmd;
  }
  // No binfmt: qemu must be called explicitly, which only works when argv[0] itself is
  // the foreign program (children it starts would need binfmt).
  auto prog = which(cmd.argv[0]);
  if (!cmd.cwd.empty() && !prog && cmd.argv[0].find('/') != std::string::npos)
    prog = which((cmd.cwd / cmd.argv[0]).string());
  auto elf = prog ? read_elf(*prog) : std::nullopt;
  if (!elf || !elf_matches(*elf, p)) {
    fail(Exit::environment,
         "'{}' for {} would start foreign programs, which needs binfmt_misc, and binfmt is not usable:{}",
         cmd.argv[0], p.str(), st.advice());
  }
  auto qemu = find_qemu(p);
  if (!qemu) {
    fail(Exit::environment,
         "cannot run {} binaries: binfmt_misc is not usable and qemu-{} is not on PATH\n  fix: apt-get install qemu-user-static{}",
         p.str(), p.traits().qemu, st.advice());
  }
  std::vector<std::string> argv = {qemu->string()};
  if (!sysroot.empty()) {
    argv.push_back("-L");
    argv.push_back(sysroot.string());
  }
  argv.push_back(prog->string());
  argv.insert(argv.end(), cmd.argv.begin() + 1, cmd.argv.end());
  cmd.argv = std::move(argv);
  set_mode(RunMode::explicit_qemu);
  return cmd;
}

}  // namespace xb::emulate
