// mkstemp/mkdtemp do the exclusive creation; this file adds the naming rule, the RAII
// removal and the commit-by-rename. A commit fsyncs the file first, so the name never
// appears before the bytes are on disk.

#include "util/temp.hpp"

#include "util/error.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

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
  std::error_code ec;
  if (!m_path.empty()) fs::remove_all(m_path, ec);
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

void remove_stale_temps(const fs::path& dir, std::string_view prefix) {
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    std::string name = e.path().filename().string();
    if (name.size() <= prefix.size() || name.compare(0, prefix.size(), prefix) != 0) continue;
    char* end = nullptr;
    long pid = std::strtol(name.c_str() + prefix.size(), &end, 10);
    if (pid <= 0 || end == name.c_str() + prefix.size() || *end != '.') continue;
    // Another user's entry (planted in a shared /tmp, or theirs) is never ours to remove.
    struct stat st {};
    if (::lstat(e.path().c_str(), &st) != 0 || st.st_uid != ::geteuid()) continue;
    if (::kill(static_cast<pid_t>(pid), 0) != 0 && errno == ESRCH) fs::remove_all(e.path(), ec);
  }
}

}  // namespace xb
