#pragma once
// Temporary files and directories, the only way xbuild makes a scratch name. Each is
// created by mkstemp/mkdtemp (O_EXCL, mode 0600 / 0700) with a random suffix, so no other
// user or process can guess, pre-create or swap it. A temp lives either beside its target
// (same directory, so the final rename is atomic) or in a directory of its own choosing,
// and is removed when its owner goes out of scope unless it was committed or released.
// Names are PREFIX<pid>.XXXXXX: the pid lets remove_stale_temps clear what a killed
// xbuild left behind, and the random part keeps the name unguessable. Directories are
// removed by remove_tree, which detaches what a child mounted inside them first, so a
// removal never deletes the contents of a /proc, /sys or host directory bound there.

#include "util/fd.hpp"

#include <sys/types.h>

#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

namespace xb {

/// The prefix of temps made beside `target`: ".<filename>.<tag>-".
std::string temp_prefix_beside(const std::filesystem::path& target, std::string_view tag = "tmp");

/// A new, empty, private (0600) file, open for reading and writing; removed on destruction
/// unless committed or released.
class TempFile {
public:
  /// Holds nothing (path() is "", fd() is -1).
  TempFile() = default;
  /// Creates DIR/PREFIX<pid>.XXXXXX. Throws Error naming DIR when it cannot.
  static TempFile in(const std::filesystem::path& dir, std::string_view prefix);
  /// Creates a temp beside `target` (temp_prefix_beside(target, tag)), for an atomic rename.
  static TempFile beside(const std::filesystem::path& target, std::string_view tag = "tmp");

  TempFile(TempFile&& other) noexcept;
  TempFile& operator=(TempFile&& other) noexcept;
  TempFile(const TempFile&) = delete;
  TempFile& operator=(const TempFile&) = delete;
  ~TempFile();

  /// Where the file is ("" once committed or released).
  const std::filesystem::path& path() const { return m_path; }
  /// The open descriptor (-1 after close()).
  int fd() const { return m_fd.get(); }
  /// Writes all of `data` at the current offset; throws Error naming the file on failure.
  void write(std::string_view data);
  /// Closes the descriptor; the file stays (and is still removed on destruction).
  void close() { m_fd.reset(); }
  /// Closes fd(), then fsyncs what is at path() now (a writer may have renamed another file
  /// over it), sets `mode` and renames it over `target` (atomic on one filesystem);
  /// afterwards nothing is removed. Throws Error naming the paths.
  void commit(const std::filesystem::path& target, mode_t mode = 0644);
  /// Keeps the file: the destructor no longer removes it. Returns its path.
  std::filesystem::path release();

private:
  TempFile(std::filesystem::path path, int fd) : m_path(std::move(path)), m_fd(fd) {}
  std::filesystem::path m_path;
  Fd m_fd;
};

/// A new, empty, private (0700) directory; removed with its contents on destruction unless
/// committed or released.
class TempDirectory {
public:
  /// Holds nothing (path() is "").
  TempDirectory() = default;
  /// Creates DIR/PREFIX<pid>.XXXXXX. Throws Error naming DIR when it cannot.
  static TempDirectory in(const std::filesystem::path& dir, std::string_view prefix);
  /// Creates a directory beside `target` (temp_prefix_beside(target, tag)).
  static TempDirectory beside(const std::filesystem::path& target, std::string_view tag = "tmp");
  /// Creates one in $TMPDIR (else /tmp), for scratch that has no target.
  static TempDirectory scratch(std::string_view prefix);

  TempDirectory(TempDirectory&& other) noexcept;
  TempDirectory& operator=(TempDirectory&& other) noexcept;
  TempDirectory(const TempDirectory&) = delete;
  TempDirectory& operator=(const TempDirectory&) = delete;
  ~TempDirectory();

  /// Where the directory is ("" once committed or released).
  const std::filesystem::path& path() const { return m_path; }
  /// Sets `mode` and renames the directory to `target` (which must not exist or be an
  /// empty directory); afterwards nothing is removed. Throws Error naming both paths.
  void commit(const std::filesystem::path& target, mode_t mode = 0755);
  /// Keeps the directory: the destructor no longer removes it. Returns its path.
  std::filesystem::path release();

private:
  explicit TempDirectory(std::filesystem::path path) : m_path(std::move(path)) {}
  void remove();
  std::filesystem::path m_path;
};

/// Removes the entries of `dir` named PREFIX<pid>.XXXXXX that this user owns and whose process
/// no longer exists: what an xbuild killed mid-write (SIGKILL, power loss) left behind.
/// Others' live temps stay, and so does a tree with mounts that a live process is chrooted or
/// cd'd into (a tool still cleaning up); a tree is removed as remove_tree does.
void remove_stale_temps(const std::filesystem::path& dir, std::string_view prefix);

/// remove_stale_temps for the temps made beside any target in `dir` with `tag`: entries
/// named ".<anything>.<tag>-<pid>.XXXXXX" (a cache whose entries each get their own temp).
void remove_stale_temps_beside(const std::filesystem::path& dir, std::string_view tag = "tmp");

/// The mount points at or below `dir` in this mount namespace (/proc/self/mountinfo),
/// deepest first.
std::vector<std::filesystem::path> mounts_under(const std::filesystem::path& dir);

/// Removes the tree at `path` without ever descending into a mounted filesystem (a chroot
/// tool's /proc, /sys or a bind mount of a host directory): mounts under it are detached
/// (umount2 MNT_DETACH) first. Returns "" when removed, else why it was left in place (a
/// mount that cannot be detached, e.g. without the privilege to).
std::string remove_tree(const std::filesystem::path& path);

}  // namespace xb
