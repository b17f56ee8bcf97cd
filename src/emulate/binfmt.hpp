#pragma once
// binfmt_misc, read from its proc directory: is it mounted, is a qemu handler registered
// and enabled for an architecture, with which interpreter and flags. Emulated builds and
// `xbuild doctor` share this one reading, and every problem carries the exact command that
// fixes it, so a user never meets a bare "exec format error". The proc directory can be
// overridden (XBUILD_BINFMT_DIR) so tests can simulate a machine without binfmt or F flag.

#include "platform/platform.hpp"

#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace xb::emulate {

/// One registered handler, as /proc/sys/fs/binfmt_misc/<name> shows it.
struct BinfmtHandler {
  bool enabled = false;
  std::string interpreter;   ///< path the kernel runs, resolved in the caller's root
  std::string flags;         ///< e.g. "PF", "POCF"
  std::string offset;        ///< offset of the magic
  std::string magic;         ///< hex
  std::string mask;          ///< hex
  /// True when the kernel opened the interpreter at registration time (F flag): then it
  /// works inside chroots and containers without the interpreter being there.
  bool fix_binary() const { return flags.find('F') != std::string::npos; }
};

/// Parses the text of a handler file. Unknown lines are ignored.
BinfmtHandler parse_binfmt_handler(std::string_view text);

/// A problem found, with its fix. `fatal` ones stop an emulated build.
struct BinfmtProblem {
  std::string what;          ///< what is wrong, in one sentence
  std::string fix;           ///< the exact shell command that fixes it
  bool fatal = true;
};

/// What binfmt_misc offers one platform.
struct BinfmtStatus {
  std::filesystem::path dir;                 ///< the binfmt_misc directory read
  std::string handler_name;                  ///< "qemu-aarch64"
  bool mounted = false;                      ///< dir/status exists
  bool globally_enabled = false;             ///< dir/status says enabled
  std::optional<BinfmtHandler> handler;      ///< when registered
  bool interpreter_exists = false;
  bool interpreter_static = false;           ///< no PT_INTERP: runs inside any rootfs
  std::filesystem::path interpreter_real;    ///< the interpreter with symlinks resolved
  std::vector<BinfmtProblem> problems;       ///< empty = usable, F flag and all

  /// True when the kernel will run binaries for the platform transparently.
  bool usable() const;
  /// Every fatal problem and its fix, one per line, for an error message.
  std::string advice() const;
};

/// The binfmt_misc directory: $XBUILD_BINFMT_DIR or /proc/sys/fs/binfmt_misc.
std::filesystem::path binfmt_dir();
/// Reads binfmt_misc for `p` from `dir` (default binfmt_dir()).
BinfmtStatus check_binfmt(const Platform& p, const std::filesystem::path& dir = binfmt_dir());
/// The command that re-registers a handler with the F flag (printf into dir/register).
std::string register_with_f_command(const std::string& name, const BinfmtHandler& h,
                                    const std::filesystem::path& interpreter,
                                    const std::filesystem::path& dir);
/// True when `path` is an ELF file without a PT_INTERP header (statically linked).
bool elf_is_static(const std::filesystem::path& path);

}  // namespace xb::emulate
