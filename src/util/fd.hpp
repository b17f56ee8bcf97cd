#pragma once
// One owner for a file descriptor (ccache's Fd): it closes exactly once, on destruction or
// reset, and moves but never copies, so no code path can leak a descriptor or close one
// twice. `lock_file` builds on it because an flock lives exactly as long as its descriptor.

#include <filesystem>

namespace xb {

/// An owned file descriptor (-1 = none), closed when destroyed or reset.
class Fd {
public:
  Fd() = default;
  /// Takes ownership of `fd` (-1 is allowed and means none).
  explicit Fd(int fd) : m_fd(fd) {}
  ~Fd() { reset(); }
  Fd(Fd&& other) noexcept : m_fd(other.release()) {}
  Fd& operator=(Fd&& other) noexcept;
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;

  /// The descriptor, still owned (-1 when none).
  int get() const { return m_fd; }
  /// True when a descriptor is held.
  explicit operator bool() const { return m_fd >= 0; }
  /// Gives up ownership and returns the descriptor; the Fd holds none afterwards.
  int release();
  /// Closes the held descriptor (if any) and takes `fd` instead.
  void reset(int fd = -1);

private:
  int m_fd = -1;
};

/// Whether lock_file may wait for another holder.
enum class LockWait { yes, no };

/// Opens `path` (creating it 0644 when absent; a directory is opened read-only) and takes
/// an exclusive flock, released when the returned Fd closes. With LockWait::no a lock held
/// elsewhere returns an empty Fd instead of waiting. Throws Error naming the path when the
/// file cannot be opened.
Fd lock_file(const std::filesystem::path& path, LockWait wait = LockWait::yes);

}  // namespace xb
