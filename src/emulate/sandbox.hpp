#pragma once
// Running a command inside a root filesystem, the way `xbuild __exec-in-rootfs` does it:
// a private mount namespace (so nothing leaks to the host and nothing needs unmounting:
// the mounts die with the last process), the project and state dirs bind-mounted at the
// same absolute paths, /proc, /dev and a fresh /tmp, the static qemu bound where a
// binfmt handler without the F flag looks for it, then chroot and exec. There is no
// fork: the command replaces the helper, so it stays in the process group the scheduler
// kills on timeout or Ctrl-C. Without root it first enters a user namespace.
// The rootfs is not trusted: every mount point is made and opened through util/in_root
// (openat2 RESOLVE_IN_ROOT), so its symlinks, absolute or "../..", resolve inside it; a
// mount point behind a link whose target is missing there is an error naming the link,
// and nothing is ever created or mounted on the host side.
// With `overlay` (accelerated emulation) the rootfs is the lower layer of an overlayfs whose
// upper layer is a tmpfs of the namespace: mount points, the read-only binds of the host's
// toolchain and the wrapper scripts live there, so the cached rootfs is never written.

#include <filesystem>
#include <string>
#include <utility>
#include <vector>

namespace xb::emulate {

/// What to run inside which rootfs.
struct RootfsExec {
  std::filesystem::path rootfs;                   ///< the root filesystem directory
  std::vector<std::filesystem::path> binds;       ///< host dirs visible at the same path
  std::vector<std::pair<std::filesystem::path, std::filesystem::path>> files;  ///< host file -> path inside
  bool overlay = false;                           ///< the rootfs under a tmpfs overlay (nothing written to it)
  std::vector<std::pair<std::filesystem::path, std::filesystem::path>> ro_binds;  ///< host dir or file -> path
                                                  ///< inside, read-only, recursively (needs overlay)
  std::vector<std::pair<std::filesystem::path, std::filesystem::path>> inner_binds;  ///< path inside -> path
                                                  ///< inside, read-only, after ro_binds (needs overlay)
  std::vector<std::filesystem::path> empties;     ///< paths inside hidden under an empty read-only tmpfs,
                                                  ///< after ro_binds (needs overlay)
  std::vector<std::pair<std::filesystem::path, std::string>> scripts;  ///< path inside -> text of an
                                                  ///< executable file put there, in place of what was
                                                  ///< (needs overlay)
  std::filesystem::path path_prefix;              ///< a directory put first on the rootfs PATH ("" = none):
                                                  ///< the compiler cache's masquerade links
  std::filesystem::path cwd;                      ///< working directory inside ("" = /)
  std::vector<std::string> argv;                  ///< the command, looked up on the rootfs PATH
};

/// The arguments of the hidden subcommand that performs `e` (after the program name).
std::vector<std::string> exec_args(const RootfsExec& e);
/// Parses what exec_args produced (a plain function of its input, no system access: the
/// fuzz harness calls it). Throws Error(usage) on malformed arguments.
RootfsExec parse_exec_args(const std::vector<std::string>& args);
/// Enters the namespace, mounts, chroots and execs `e.argv`. Returns only by throwing
/// Error(environment) that names the step that failed and what to do.
[[noreturn]] void exec_in_rootfs(const RootfsExec& e);

}  // namespace xb::emulate
