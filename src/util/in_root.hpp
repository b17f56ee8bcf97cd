#pragma once
// Paths inside a directory tree that is not ours to trust (a rootfs): every lookup goes
// through openat2 with RESOLVE_IN_ROOT, so a symlink in the tree, absolute or made of
// "../..", resolves as if the tree were "/" and never reaches the host. What is created is
// created with mkdirat/openat relative to a descriptor that was itself resolved that way,
// so there is no window between checking a path and using it. The results are descriptors:
// a caller that needs a path (mount(2)) uses fd_path(), which names that very inode.

#include "util/fd.hpp"

#include <sys/types.h>

#include <filesystem>
#include <string>

namespace xb {

/// Opens `root` itself (O_PATH | O_DIRECTORY, following symlinks: the caller chose it).
/// Throws Error(environment) naming it.
Fd open_root(const std::filesystem::path& root);
/// openat2(root_fd, inside, flags, RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS): `inside` (absolute
/// or not) is looked up as if root_fd were "/". Returns an empty Fd with errno set on failure
/// (ENOSYS on a kernel older than 5.6).
Fd open_in_root(int root_fd, const std::filesystem::path& inside, int flags, mode_t mode = 0);
/// Makes the directories of `inside` that are missing (mode 0755), each in the directory its
/// parent resolved to inside the tree, and returns an O_PATH descriptor of the last one.
/// Throws Error(environment) naming `what` (e.g. "the rootfs /r"), `inside` and the component
/// that failed: a dangling symlink (its target does not exist inside the tree) or a file.
Fd make_dirs_in_root(int root_fd, const std::filesystem::path& inside, const std::string& what);
/// The same for a regular file: its parents are made, an existing file (symlinks followed
/// inside the tree) is returned as is, a missing one is created empty (0755, O_EXCL), and a
/// dangling symlink in its place is replaced by an empty file. Returns an O_PATH descriptor.
Fd make_file_in_root(int root_fd, const std::filesystem::path& inside, const std::string& what);
/// "/proc/self/fd/N": a path that names the descriptor's inode, for calls that take a path.
std::string fd_path(int fd);

}  // namespace xb
