// openat2 has no glibc wrapper in Debian 12 (glibc 2.36), hence the raw syscall. Errors name
// the component of the path that failed, not just the path: "mnt is a symlink to
// /some/host/dir" says why a mount point cannot be made where "No such file" does not.

#include "util/in_root.hpp"

#include "util/error.hpp"

#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <vector>

namespace fs = std::filesystem;

namespace xb {

namespace {

constexpr mode_t k_dir_mode = 0755;

/// The components of `inside` relative to the root, ".." rejected (a caller's path, not the
/// tree's: the tree's own ".." in symlinks is handled by the kernel).
std::vector<std::string> components(const fs::path& inside, const std::string& what) {
  std::vector<std::string> out;
  for (const auto& c : inside.lexically_normal().relative_path()) {
    std::string s = c.string();
    if (s.empty() || s == ".") continue;
    if (s == "..") fail(Exit::environment, "{}: path {} has a '..' component", what, inside.string());
    out.push_back(s);
  }
  return out;
}

/// What is at `name` in `dir_fd`, said for an error: "a symlink to X" or "".
std::string symlink_note(int dir_fd, const std::string& name) {
  char buf[4096];
  ssize_t n = ::readlinkat(dir_fd, name.c_str(), buf, sizeof buf - 1);
  if (n < 0) return {};
  return std::string(buf, static_cast<std::size_t>(n));
}

[[noreturn]] void fail_component(const std::string& what, const fs::path& inside, const fs::path& prefix, int parent_fd,
                                 const std::string& name, int err) {
  std::string link = symlink_note(parent_fd, name);
  if (!link.empty() && (err == ENOENT || err == ENOTDIR || err == EEXIST || err == ELOOP))
    fail(Exit::environment, "{}: cannot create {}: /{} is a symlink to '{}', which {} inside it (symlinks in it "
         "resolve inside it, never on the host); make that directory in it or remove the symlink",
         what, inside.string(), prefix.string(), link, err == ELOOP ? "loops" : "does not exist");
  if (err == ENOTDIR)
    fail(Exit::environment, "{}: cannot create {}: /{} is not a directory", what, inside.string(), prefix.string());
  if (err == ENOSYS)
    fail(Exit::environment, "{}: openat2 is not available (Linux 5.6 or later is needed)", what);
  fail(Exit::environment, "{}: cannot create {}: /{}: {}{}", what, inside.string(), prefix.string(), std::strerror(err),
       err == EACCES || err == EPERM || err == EROFS ? " (it must be writable by this user: run as root or use a tree you own)" : "");
}

}  // namespace

Fd open_root(const fs::path& root) {
  Fd fd(::open(root.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
  if (!fd) fail(Exit::environment, "cannot open {}: {}", root.string(), std::strerror(errno));
  return fd;
}

Fd open_in_root(int root_fd, const fs::path& inside, int flags, mode_t mode) {
  struct open_how how {};
  how.flags = static_cast<__u64>(flags | O_CLOEXEC);
  how.mode = (flags & (O_CREAT | O_TMPFILE)) ? mode : 0;
  how.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS;
  std::string rel = inside.relative_path().string();
  const char* name = rel.empty() ? "." : rel.c_str();
  long fd;
  do fd = ::syscall(SYS_openat2, root_fd, name, &how, sizeof how);
  while (fd < 0 && (errno == EINTR || errno == EAGAIN));
  return Fd(static_cast<int>(fd));
}

Fd make_dirs_in_root(int root_fd, const fs::path& inside, const std::string& what) {
  Fd cur(::fcntl(root_fd, F_DUPFD_CLOEXEC, 0));
  if (!cur) fail(Exit::environment, "{}: dup: {}", what, std::strerror(errno));
  fs::path prefix;
  for (const std::string& c : components(inside, what)) {
    prefix /= c;
    Fd next = open_in_root(root_fd, prefix, O_PATH | O_DIRECTORY);
    if (!next && errno == ENOENT) {
      // Made relative to the parent's descriptor: mkdirat never follows a symlink at `c`.
      if (::mkdirat(cur.get(), c.c_str(), k_dir_mode) != 0 && errno != EEXIST)
        fail_component(what, inside, prefix, cur.get(), c, errno);
      next = open_in_root(root_fd, prefix, O_PATH | O_DIRECTORY);
    }
    if (!next) fail_component(what, inside, prefix, cur.get(), c, errno);
    cur = std::move(next);
  }
  return cur;
}

Fd make_file_in_root(int root_fd, const fs::path& inside, const std::string& what) {
  auto parts = components(inside, what);
  if (parts.empty()) fail(Exit::environment, "{}: {} names the root, not a file", what, inside.string());
  fs::path parent_path;
  for (std::size_t i = 0; i + 1 < parts.size(); ++i) parent_path /= parts[i];
  Fd parent = make_dirs_in_root(root_fd, parent_path, what);
  const std::string& name = parts.back();
  fs::path full = parent_path / name;
  Fd f = open_in_root(root_fd, full, O_PATH);
  if (f) {
    struct stat st {};
    if (::fstat(f.get(), &st) != 0 || S_ISDIR(st.st_mode))
      fail(Exit::environment, "{}: cannot put a file at {}: it is a directory", what, inside.string());
    return f;
  }
  if (errno != ENOENT) fail_component(what, inside, full, parent.get(), name, errno);
  // Missing, or a symlink whose target is missing inside the tree: replace the link (it is
  // in the tree, found through the parent's descriptor) with an empty file.
  struct stat st {};
  if (::fstatat(parent.get(), name.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK(st.st_mode))
    ::unlinkat(parent.get(), name.c_str(), 0);
  Fd made(::openat(parent.get(), name.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0755));
  if (!made) fail_component(what, inside, full, parent.get(), name, errno);
  return made;
}

std::string fd_path(int fd) { return "/proc/self/fd/" + std::to_string(fd); }

}  // namespace xb
