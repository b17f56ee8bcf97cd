// close(2) is never retried on EINTR (Linux releases the descriptor regardless), and flock
// is retried on EINTR so a signal handler that returns does not turn into a lost lock.

#include "util/fd.hpp"

#include "util/error.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace xb {

Fd& Fd::operator=(Fd&& other) noexcept {
  if (this != &other) reset(other.release());
  return *this;
}

int Fd::release() {
  int fd = m_fd;
  m_fd = -1;
  return fd;
}

void Fd::reset(int fd) {
  if (m_fd >= 0) ::close(m_fd);
  m_fd = fd;
}

Fd lock_file(const std::filesystem::path& path, LockWait wait) {
  std::error_code ec;
  bool dir = std::filesystem::is_directory(path, ec);
  Fd fd(dir ? ::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC)
            : ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644));
  if (!fd) fail(Exit::environment, "cannot open lock file {}: {}", path.string(), std::strerror(errno));
  int op = LOCK_EX | (wait == LockWait::no ? LOCK_NB : 0);
  while (::flock(fd.get(), op) != 0) {
    if (errno == EINTR) continue;
    if (errno == EWOULDBLOCK && wait == LockWait::no) return Fd();
    fail(Exit::environment, "cannot lock {}: {}", path.string(), std::strerror(errno));
  }
  return fd;
}

}  // namespace xb
