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

/// A tmpfs over the rootfs's own path (in this namespace only) holding an overlay's upper and
/// work dirs and the merged tree, with the rootfs as the lower layer; returns the merged tree.
/// overlayfs writes nothing into a lower layer, so the cached rootfs stays as it was.
fs::path overlay_root(const fs::path& root, bool privileged) {
  if (root.string().find_first_of(",:\\") != std::string::npos)
    fail(Exit::environment, "entering the rootfs: {} has ',', ':' or '\\' in its path, which an overlay mount cannot name; "
         "move it or use --no-accelerate", root.string());
  Fd lower = open_root(root);
  if (::mount("tmpfs", root.c_str(), "tmpfs", MS_NOSUID, "mode=0755") != 0) sys_fail(fmt::format("mount a tmpfs over {}", root.string()));
  for (const char* d : {"upper", "work", "merged"})
    if (::mkdir((root / d).c_str(), 0755) != 0) sys_fail(fmt::format("mkdir {}/{}", root.string(), d));
  std::string opts = fmt::format("lowerdir={},upperdir={}/upper,workdir={}/work{}", fd_path(lower.get()), root.string(),
                                 root.string(), privileged ? "" : ",userxattr");
  fs::path merged = root / "merged";
  if (::mount("overlay", merged.c_str(), "overlay", 0, opts.c_str()) != 0)
    sys_fail(fmt::format("mount an overlay over the rootfs {}", root.string()),
             "accelerated emulation needs overlayfs (modprobe overlay), or build with --no-accelerate");
  return merged;
}

/// Makes the mount at `inside` and everything below it read-only.
void make_read_only(int root_fd, const fs::path& inside) {
  // The mount point's descriptor names the covered inode; a fresh lookup lands on the new mount.
  Fd top = open_in_root(root_fd, inside, O_PATH | O_CLOEXEC);
  if (!top) sys_fail(fmt::format("open {} in the rootfs after binding it", inside.string()));
  struct mount_attr attr {};
  attr.attr_set = MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV;
  if (::mount_setattr(top.get(), "", AT_EMPTY_PATH | AT_RECURSIVE, &attr, sizeof attr) != 0)
    sys_fail(fmt::format("make {} read-only in the rootfs", inside.string()));
}

/// Binds host `source` at `inside`, read-only.
void bind_read_only(int root_fd, const fs::path& root, const fs::path& source, const fs::path& inside) {
  std::error_code ec;
  Kind kind = fs::is_directory(source, ec) ? Kind::directory : Kind::file;
  bind(root_fd, root, source, inside, kind);
  make_read_only(root_fd, inside);
}

/// Binds the directory `from` of the tree at `to` in it, read-only (both resolved inside it).
void bind_inner_read_only(int root_fd, const fs::path& root, const fs::path& from, const fs::path& to) {
  Fd src = open_in_root(root_fd, from, O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (!src) sys_fail(fmt::format("open {} in the rootfs", from.string()));
  MountPoint mp = mount_point(root_fd, root, to, Kind::directory);
  if (::mount(fd_path(src.get()).c_str(), mp.target().c_str(), nullptr, MS_BIND | MS_REC, nullptr) != 0)
    sys_fail(fmt::format("bind {} to {} in the rootfs {}", from.string(), to.string(), root.string()));
  make_read_only(root_fd, to);
}

/// An empty read-only tmpfs over the directory `inside`.
void hide(int root_fd, const fs::path& root, const fs::path& inside) {
  MountPoint mp = mount_point(root_fd, root, inside, Kind::directory);
  if (::mount("tmpfs", mp.target().c_str(), "tmpfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, "size=4k,mode=0755") != 0)
    sys_fail(fmt::format("hide {} in the rootfs", inside.string()));
}

/// Writes `text` as an executable file at `inside` (in the overlay's upper layer), replacing
/// the file or symlink that was there: no name is followed out of the tree or into a link.
void put_script(int root_fd, const fs::path& root, const fs::path& inside, const std::string& text) {
  fs::path in = fs::path("/") / inside.relative_path();
  std::string name = in.filename().string();
  if (name.empty() || name == "." || name == "..") fail(Exit::usage, "__exec-in-rootfs: --script {}: not a file name", inside.string());
  Fd dir = make_dirs_in_root(root_fd, in.parent_path(), fmt::format("the rootfs {}", root.string()));
  Fd dirfd = open_in_root(dir.get(), ".", O_DIRECTORY | O_RDONLY | O_CLOEXEC);
  if (!dirfd) sys_fail(fmt::format("open {} in the rootfs", in.parent_path().string()));
  if (::unlinkat(dirfd.get(), name.c_str(), 0) != 0 && errno != ENOENT) sys_fail(fmt::format("replace {} in the rootfs", in.string()));
  int fd = ::openat(dirfd.get(), name.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0755);
  if (fd < 0) sys_fail(fmt::format("create {} in the rootfs", in.string()));
  Fd file(fd);
  if (::write(fd, text.data(), text.size()) != static_cast<ssize_t>(text.size())) sys_fail(fmt::format("write {}", in.string()));
  if (::fchmod(fd, 0755) != 0) sys_fail(fmt::format("chmod {}", in.string()));
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
  if (e.overlay) {
    a.push_back("--overlay");
    a.push_back("tmpfs");
  }
  for (const auto& [host, inside] : e.ro_binds) {
    a.push_back("--ro-bind");
    a.push_back(host.string() + "=" + inside.string());
  }
  for (const auto& [from, to] : e.inner_binds) {
    a.push_back("--inner-ro-bind");
    a.push_back(from.string() + "=" + to.string());
  }
  for (const auto& p : e.empties) {
    a.push_back("--hide");
    a.push_back(p.string());
  }
  for (const auto& [inside, text] : e.scripts) {
    a.push_back("--script");
    a.push_back(inside.string() + "=" + text);
  }
  if (!e.path_prefix.empty()) {
    a.push_back("--path-prefix");
    a.push_back(e.path_prefix.string());
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
  if (args.empty() || args[0] == "--") fail(Exit::usage, "__exec-in-rootfs: expected ROOTFS [--bind DIR] [--file HOST=INSIDE] [--path-prefix DIR] [--cwd DIR] -- ARGV");
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
    else if (a == "--path-prefix") e.path_prefix = v;
    else if (a == "--overlay") {
      if (v != "tmpfs") fail(Exit::usage, "__exec-in-rootfs: --overlay takes 'tmpfs', got '{}'", v);
      e.overlay = true;
    } else if (a == "--hide") {
      e.empties.emplace_back(v);
    } else if (a == "--ro-bind" || a == "--inner-ro-bind" || a == "--script") {
      auto eq = v.find('=');
      if (eq == std::string::npos) fail(Exit::usage, "__exec-in-rootfs: {} needs PATH=VALUE, got '{}'", a, v);
      if (a == "--ro-bind") e.ro_binds.emplace_back(v.substr(0, eq), v.substr(eq + 1));
      else if (a == "--inner-ro-bind") e.inner_binds.emplace_back(v.substr(0, eq), v.substr(eq + 1));
      else e.scripts.emplace_back(v.substr(0, eq), v.substr(eq + 1));
    } else if (a == "--file") {
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
  for (const auto& [host, inside] : e.ro_binds)
    if (!host.is_absolute() || !inside.is_absolute())
      fail(Exit::usage, "__exec-in-rootfs: --ro-bind {}={}: both paths must be absolute", host.string(), inside.string());
  for (const auto& [from, to] : e.inner_binds)
    if (!from.is_absolute() || !to.is_absolute())
      fail(Exit::usage, "__exec-in-rootfs: --inner-ro-bind {}={}: both paths must be absolute", from.string(), to.string());
  if (!e.path_prefix.empty() && (!e.path_prefix.is_absolute() || e.path_prefix.string().find(':') != std::string::npos))
    fail(Exit::usage, "__exec-in-rootfs: --path-prefix {}: an absolute path without ':'", e.path_prefix.string());
  for (const auto& p : e.empties)
    if (!p.is_absolute()) fail(Exit::usage, "__exec-in-rootfs: --hide {}: the path must be absolute", p.string());
  for (const auto& s : e.scripts)
    if (!s.first.is_absolute()) fail(Exit::usage, "__exec-in-rootfs: --script {}: the path must be absolute", s.first.string());
  if (!e.overlay && (!e.ro_binds.empty() || !e.inner_binds.empty() || !e.empties.empty() || !e.scripts.empty()))
    fail(Exit::usage, "__exec-in-rootfs: --ro-bind, --inner-ro-bind, --hide and --script need --overlay tmpfs (the rootfs itself is never written)");
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
  if (e.overlay) root = overlay_root(root, privileged);

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
  for (const auto& [host, inside] : e.ro_binds) {
    if (!fs::exists(host, ec)) fail(Exit::environment, "entering the rootfs: --ro-bind {}: no such file or directory", host.string());
    bind_read_only(root_fd.get(), root, host, inside);
  }
  for (const auto& p : e.empties) hide(root_fd.get(), root, p);
  for (const auto& [from, to] : e.inner_binds) bind_inner_read_only(root_fd.get(), root, from, to);
  for (const auto& [inside, text] : e.scripts) put_script(root_fd.get(), root, inside, text);

  // chroot to the descriptor resolved above, not to the name again.
  if (::fchdir(root_fd.get()) != 0) sys_fail(fmt::format("enter {}", root.string()));
  if (::chroot(".") != 0) sys_fail(fmt::format("chroot {}", root.string()));
  fs::path cwd = e.cwd.empty() ? fs::path("/") : e.cwd;
  if (::chdir(cwd.c_str()) != 0) sys_fail(fmt::format("chdir {} inside the rootfs", cwd.string()));
  ::setenv("PATH", e.path_prefix.empty() ? k_path : (e.path_prefix.string() + ":" + k_path).c_str(), 1);

  int err = exec_replace(Command{e.argv, {}, {}});
  if (err == ENOENT)
    fail(Exit::environment, "'{}' is not installed in the rootfs {} (add it to [emulate] packages in xbuild.toml)", e.argv[0], root.string());
  if (err == ENOEXEC)
    fail(Exit::environment, "'{}' in the rootfs {}: exec format error: no binfmt_misc handler runs it (see xbuild doctor)", e.argv[0], root.string());
  errno = err;
  sys_fail(fmt::format("exec {}", e.argv[0]));
}

}  // namespace xb::emulate
