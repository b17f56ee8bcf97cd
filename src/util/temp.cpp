// mkstemp/mkdtemp do the exclusive creation; this file adds the naming rule, the RAII
// removal and the commit-by-rename. A commit fsyncs the file first, so the name never
// appears before the bytes are on disk.

#include "util/temp.hpp"

#include "util/error.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>

namespace xb {

namespace fs = std::filesystem;

namespace {

std::string pattern(const fs::path& dir, std::string_view prefix) {
  return (dir / fmt::format("{}{}.XXXXXX", prefix, ::getpid())).string();
}

fs::path dir_of(const fs::path& target) {
  fs::path parent = target.parent_path();
  return parent.empty() ? fs::path(".") : parent;
}

}  // namespace

std::string temp_prefix_beside(const fs::path& target, std::string_view tag) {
  return fmt::format(".{}.{}-", target.filename().string(), tag);
}

TempFile TempFile::in(const fs::path& dir, std::string_view prefix) {
  std::string name = pattern(dir, prefix);
  int fd = ::mkostemp(name.data(), O_CLOEXEC);
  if (fd < 0) fail(Exit::environment, "cannot create a temporary file in {}: {}", dir.string(), std::strerror(errno));
  return TempFile(fs::path(name), fd);
}

TempFile TempFile::beside(const fs::path& target, std::string_view tag) {
  return in(dir_of(target), temp_prefix_beside(target, tag));
}

TempFile::TempFile(TempFile&& other) noexcept : m_path(std::move(other.m_path)), m_fd(std::move(other.m_fd)) {
  other.m_path.clear();
}

TempFile& TempFile::operator=(TempFile&& other) noexcept {
  if (this != &other) {
    if (!m_path.empty()) ::unlink(m_path.c_str());
    m_path = std::move(other.m_path);
    other.m_path.clear();
    m_fd = std::move(other.m_fd);
  }
  return *this;
}

TempFile::~TempFile() {
  m_fd.reset();
  if (!m_path.empty()) ::unlink(m_path.c_str());
}

void TempFile::write(std::string_view data) {
  const char* p = data.data();
  std::size_t left = data.size();
  while (left > 0) {
    ssize_t n = ::write(m_fd.get(), p, left);
    if (n < 0) {
      if (errno == EINTR) continue;
      fail(Exit::environment, "cannot write {}: {}", m_path.string(), std::strerror(errno));
    }
    p += n;
    left -= static_cast<std::size_t>(n);
  }
}

void TempFile::commit(const fs::path& target, mode_t mode) {
  // Reopened by name: whoever filled the file may have replaced it (rename over the path).
  m_fd.reset();
  Fd f(::open(m_path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!f || ::fsync(f.get()) != 0 || ::fchmod(f.get(), mode) != 0)
    fail(Exit::environment, "cannot write {}: {}", m_path.string(), std::strerror(errno));
  if (::rename(m_path.c_str(), target.c_str()) != 0)
    fail(Exit::environment, "cannot rename {} to {}: {}", m_path.string(), target.string(), std::strerror(errno));
  m_path.clear();
}

fs::path TempFile::release() {
  m_fd.reset();
  fs::path p = std::move(m_path);
  m_path.clear();
  return p;
}

TempDirectory TempDirectory::in(const fs::path& dir, std::string_view prefix) {
  std::string name = pattern(dir, prefix);
  if (!::mkdtemp(name.data()))
    fail(Exit::environment, "cannot create a temporary directory in {}: {}", dir.string(), std::strerror(errno));
  return TempDirectory(fs::path(name));
}

TempDirectory TempDirectory::beside(const fs::path& target, std::string_view tag) {
  return in(dir_of(target), temp_prefix_beside(target, tag));
}

TempDirectory TempDirectory::scratch(std::string_view prefix) {
  const char* t = std::getenv("TMPDIR");
  return in(t && *t ? fs::path(t) : fs::path("/tmp"), prefix);
}

TempDirectory::TempDirectory(TempDirectory&& other) noexcept : m_path(std::move(other.m_path)) { other.m_path.clear(); }

TempDirectory& TempDirectory::operator=(TempDirectory&& other) noexcept {
  if (this != &other) {
    remove();
    m_path = std::move(other.m_path);
    other.m_path.clear();
  }
  return *this;
}

TempDirectory::~TempDirectory() { remove(); }

void TempDirectory::remove() {
  if (m_path.empty()) return;
  if (std::string why = remove_tree(m_path); !why.empty())
    fmt::print(stderr, "xbuild: warning: left {} in place: {}\n", m_path.string(), why);
  m_path.clear();
}

void TempDirectory::commit(const fs::path& target, mode_t mode) {
  if (::chmod(m_path.c_str(), mode) != 0 || ::rename(m_path.c_str(), target.c_str()) != 0)
    fail(Exit::environment, "cannot rename {} to {}: {}", m_path.string(), target.string(), std::strerror(errno));
  m_path.clear();
}

fs::path TempDirectory::release() {
  fs::path p = std::move(m_path);
  m_path.clear();
  return p;
}

namespace {

/// The pid in NAME when NAME is `prefix` + <pid> + "." + 6 random characters, else 0.
long pid_after(std::string_view name, std::size_t at) {
  std::size_t i = at;
  while (i < name.size() && name[i] >= '0' && name[i] <= '9') ++i;
  if (i == at || i - at > 9 || name.size() != i + 7 || name[i] != '.') return 0;
  for (char c : name.substr(i + 1))
    if (!std::isalnum(static_cast<unsigned char>(c))) return 0;
  return std::strtol(std::string(name.substr(at, i - at)).c_str(), nullptr, 10);
}

/// A live process whose root or working directory is inside `dir` (a tool chrooted into a
/// rootfs its dead parent made, still finishing), or 0.
long process_inside(const fs::path& dir) {
  std::error_code ec;
  std::string base = fs::weakly_canonical(dir, ec).string();
  for (const auto& e : fs::directory_iterator("/proc", ec)) {
    std::string name = e.path().filename().string();
    if (name.empty() || name.find_first_not_of("0123456789") != std::string::npos) continue;
    for (const char* link : {"root", "cwd"}) {
      std::string to = fs::read_symlink(e.path() / link, ec).string();
      if (!ec && to.compare(0, base.size(), base) == 0 && (to.size() == base.size() || to[base.size()] == '/'))
        return std::strtol(name.c_str(), nullptr, 10);
    }
  }
  return 0;
}

/// Removes `entry` when this user owns it and process `pid` is gone.
void remove_if_stale(const fs::path& entry, long pid) {
  struct stat st {};
  if (pid <= 0 || ::lstat(entry.c_str(), &st) != 0 || st.st_uid != ::geteuid()) return;
  if (::kill(static_cast<pid_t>(pid), 0) == 0 || errno != ESRCH) return;
  if (!S_ISDIR(st.st_mode)) {
    ::unlink(entry.c_str());
    return;
  }
  if (!mounts_under(entry).empty()) {
    if (long user = process_inside(entry); user != 0) {
      fmt::print(stderr, "xbuild: note: left {} in place for now: process {} still runs inside it\n", entry.string(), user);
      return;
    }
  }
  if (std::string why = remove_tree(entry); !why.empty())
    fmt::print(stderr, "xbuild: warning: left {} (left by process {}, which is gone) in place: {}\n", entry.string(), pid, why);
}

/// Undoes mountinfo's octal escapes ("\040" is a space).
std::string unescape_mount_path(std::string_view s) {
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\\' && i + 3 < s.size() && std::isdigit(static_cast<unsigned char>(s[i + 1]))) {
      out += static_cast<char>(std::strtol(std::string(s.substr(i + 1, 3)).c_str(), nullptr, 8));
      i += 3;
    } else {
      out += s[i];
    }
  }
  return out;
}

}  // namespace

void remove_stale_temps(const fs::path& dir, std::string_view prefix) {
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    std::string name = e.path().filename().string();
    if (name.size() <= prefix.size() || name.compare(0, prefix.size(), prefix) != 0) continue;
    remove_if_stale(e.path(), pid_after(name, prefix.size()));
  }
}

void remove_stale_temps_beside(const fs::path& dir, std::string_view tag) {
  std::error_code ec;
  std::string marker = fmt::format(".{}-", tag);
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    std::string name = e.path().filename().string();
    if (name.size() < 2 || name.front() != '.') continue;
    std::size_t at = name.rfind(marker);
    if (at == std::string::npos || at == 0) continue;
    remove_if_stale(e.path(), pid_after(name, at + marker.size()));
  }
}

std::vector<fs::path> mounts_under(const fs::path& dir) {
  std::error_code ec;
  fs::path root = fs::weakly_canonical(fs::absolute(dir), ec);
  if (ec) root = fs::absolute(dir);
  std::string base = root.string();
  std::ifstream in("/proc/self/mountinfo");
  std::vector<fs::path> out;
  std::string line;
  while (std::getline(in, line)) {
    // "ID PARENT MAJ:MIN ROOT MOUNTPOINT ...": the fifth field.
    std::size_t pos = 0;
    for (int field = 0; field < 4 && pos != std::string::npos; ++field) pos = line.find(' ', pos + (field ? 1 : 0));
    if (pos == std::string::npos) continue;
    std::size_t end = line.find(' ', pos + 1);
    std::string mp = unescape_mount_path(std::string_view(line).substr(pos + 1, end - pos - 1));
    if (mp == base || (mp.size() > base.size() && mp.compare(0, base.size(), base) == 0 && mp[base.size()] == '/'))
      out.emplace_back(mp);
  }
  std::sort(out.begin(), out.end(), [](const fs::path& a, const fs::path& b) { return a.string().size() > b.string().size(); });
  return out;
}

std::string remove_tree(const fs::path& path) {
  int error = 0;
  std::vector<fs::path> mounted = mounts_under(path);
  for (const auto& m : mounted)
    if (::umount2(m.c_str(), MNT_DETACH) != 0 && error == 0) error = errno;
  if (auto left = mounted.empty() ? mounted : mounts_under(path); !left.empty())
    return fmt::format("{} is still mounted there and cannot be unmounted ({}); unmount it (as root), then remove the directory",
                       left.front().string(), std::strerror(error ? error : EBUSY));
  std::error_code ec;
  fs::remove_all(path, ec);
  if (ec) return ec.message();
  return "";
}

}  // namespace xb
