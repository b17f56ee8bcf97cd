// Each step of entering the rootfs is one system call with its own error message, because
// "Operation not permitted" alone says nothing about which mount or what to do about it.

#include "emulate/sandbox.hpp"

#include "exec/subprocess.hpp"
#include "util/error.hpp"
#include "util/in_root.hpp"

#include <fmt/format.h>

#include <fcntl.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

namespace fs = std::filesystem;

namespace xb::emulate {

namespace {

constexpr const char* k_path = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

[[noreturn]] void sys_fail(const std::string& what, const std::string& hint = {}) {
  fail(Exit::environment, "entering the rootfs: {}: {}{}", what, std::strerror(errno), hint.empty() ? "" : "\n  " + hint);
}

void write_proc(const char* file, const std::string& text) {
  int fd = ::open(file, O_WRONLY | O_CLOEXEC);
  if (fd < 0) sys_fail(fmt::format("open {}", file));
  if (::write(fd, text.data(), text.size()) != static_cast<ssize_t>(text.size())) {
    ::close(fd);
    sys_fail(fmt::format("write {}", file));
  }
  ::close(fd);
}

/// A mount point inside the rootfs: made there (directory or empty file) through
/// util/in_root, so a symlink in the rootfs (`mnt -> /host/dir`, `../../..`) resolves inside it
/// and nothing is ever created on the host. The mount then goes to /proc/self/fd/N, the very
/// inode that was resolved, not to a path that could be swapped in between.
enum class Kind { directory, file };

struct MountPoint {
  Fd fd;
  std::string shown;  ///< the path inside, for messages
  std::string target() const { return fd_path(fd.get()); }
};

MountPoint mount_point(int root_fd, const fs::path& root, const fs::path& inside, Kind kind) {
  std::string what = fmt::format("the rootfs {}", root.string());
  fs::path in = fs::path("/") / inside.relative_path();
  Fd fd = kind == Kind::directory ? make_dirs_in_root(root_fd, in, what) : make_file_in_root(root_fd, in, what);
  return MountPoint{std::move(fd), in.string()};
}

void bind(int root_fd, const fs::path& root, const fs::path& source, const fs::path& inside, Kind kind) {
  MountPoint mp = mount_point(root_fd, root, inside, kind);
  if (::mount(source.c_str(), mp.target().c_str(), nullptr, MS_BIND | MS_REC, nullptr) != 0)
    sys_fail(fmt::format("bind {} to {} in the rootfs {}", source.string(), mp.shown, root.string()));
}

}  // namespace

std::vector<std::string> exec_args(const RootfsExec& e) {
  std::vector<std::string> a = {e.rootfs.string()};
  for (const auto& b : e.binds) {
    a.push_back("--bind");
    a.push_back(b.string());
  }
  for (const auto& [host, inside] : e.files) {
    a.push_back("--file");
    a.push_back(host.string() + "=" + inside.string());
  }
  if (!e.cwd.empty()) {
    a.push_back("--cwd");
    a.push_back(e.cwd.string());
  }
  a.push_back("--");
  a.insert(a.end(), e.argv.begin(), e.argv.end());
  return a;
}

RootfsExec parse_exec_args(const std::vector<std::string>& args) {
  RootfsExec e;
  std::size_t i = 0;
  if (args.empty() || args[0] == "--") fail(Exit::usage, "__exec-in-rootfs: expected ROOTFS [--bind DIR] [--file HOST=INSIDE] [--cwd DIR] -- ARGV");
  e.rootfs = args[i++];
  for (; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a == "--") {
      e.argv.assign(args.begin() + static_cast<long>(i) + 1, args.end());
      break;
    }
    if (i + 1 >= args.size()) fail(Exit::usage, "__exec-in-rootfs: {} needs a value", a);
    const std::string& v = args[++i];
    if (a == "--bind") e.binds.emplace_back(v);
    else if (a == "--cwd") e.cwd = v;
    else if (a == "--file") {
      auto eq = v.find('=');
      if (eq == std::string::npos) fail(Exit::usage, "__exec-in-rootfs: --file needs HOST=INSIDE, got '{}'", v);
      e.files.emplace_back(v.substr(0, eq), v.substr(eq + 1));
    } else fail(Exit::usage, "__exec-in-rootfs: unknown option '{}'", a);
  }
  if (e.argv.empty()) fail(Exit::usage, "__exec-in-rootfs: no command after --");
  for (const auto& b : e.binds)
    if (!b.is_absolute()) fail(Exit::usage, "__exec-in-rootfs: --bind {} is not absolute", b.string());
  for (const auto& [host, inside] : e.files)
    if (!host.is_absolute() || !inside.is_absolute())
      fail(Exit::usage, "__exec-in-rootfs: --file {}={}: both paths must be absolute", host.string(), inside.string());
  return e;
}

void exec_in_rootfs(const RootfsExec& e) {
  std::error_code ec;
  if (!fs::is_directory(e.rootfs, ec)) fail(Exit::environment, "rootfs {} is not a directory", e.rootfs.string());
  fs::path root = fs::canonical(e.rootfs);
  bool privileged = ::geteuid() == 0;

  if (privileged) {
    if (::unshare(CLONE_NEWNS) != 0) sys_fail("unshare(CLONE_NEWNS)");
  } else {
    uid_t uid = ::geteuid();
    gid_t gid = ::getegid();
    if (::unshare(CLONE_NEWUSER | CLONE_NEWNS) != 0)
      sys_fail("unshare(CLONE_NEWUSER) as a user without root",
               "an emulated build needs root (chroot) or unprivileged user namespaces "
               "(sysctl -w kernel.unprivileged_userns_clone=1; on Ubuntu also kernel.apparmor_restrict_unprivileged_userns=0), "
               "or run it under proot -q: apt-get install proot");
    write_proc("/proc/self/setgroups", "deny");
    write_proc("/proc/self/uid_map", fmt::format("0 {} 1", uid));
    write_proc("/proc/self/gid_map", fmt::format("0 {} 1", gid));
  }
  // Nothing mounted from here on propagates back to the host.
  if (::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) sys_fail("make / private");

  Fd root_fd = open_root(root);
  MountPoint proc = mount_point(root_fd.get(), root, "/proc", Kind::directory);
  if (::mount("proc", proc.target().c_str(), "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, nullptr) != 0) {
    // In a user namespace without its own pid namespace a fresh proc is refused: bind it.
    if (::mount("/proc", proc.target().c_str(), nullptr, MS_BIND | MS_REC, nullptr) != 0) sys_fail("mount /proc in the rootfs");
  }
  bind(root_fd.get(), root, "/dev", "/dev", Kind::directory);
  MountPoint tmp = mount_point(root_fd.get(), root, "/tmp", Kind::directory);
  if (::mount("tmpfs", tmp.target().c_str(), "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777") != 0) sys_fail("mount a tmpfs on /tmp");

  // The project's dirs last: they may live under /tmp, which must not hide them.
  for (const auto& b : e.binds) {
    if (!fs::is_directory(b, ec)) fail(Exit::environment, "entering the rootfs: --bind {} is not a directory", b.string());
    bind(root_fd.get(), root, b, b, Kind::directory);
  }
  for (const auto& [host, inside] : e.files) bind(root_fd.get(), root, host, inside, Kind::file);

  // chroot to the descriptor resolved above, not to the name again.
  if (::fchdir(root_fd.get()) != 0) sys_fail(fmt::format("enter {}", root.string()));
  if (::chroot(".") != 0) sys_fail(fmt::format("chroot {}", root.string()));
  fs::path cwd = e.cwd.empty() ? fs::path("/") : e.cwd;
  if (::chdir(cwd.c_str()) != 0) sys_fail(fmt::format("chdir {} inside the rootfs", cwd.string()));
  ::setenv("PATH", k_path, 1);

  int err = exec_replace(Command{e.argv, {}, {}});
  if (err == ENOENT)
    fail(Exit::environment, "'{}' is not installed in the rootfs {} (add it to [emulate] packages in xbuild.toml)", e.argv[0], root.string());
  if (err == ENOEXEC)
    fail(Exit::environment, "'{}' in the rootfs {}: exec format error: no binfmt_misc handler runs it (see xbuild doctor)", e.argv[0], root.string());
  errno = err;
  sys_fail(fmt::format("exec {}", e.argv[0]));
}

}  // namespace xb::emulate
