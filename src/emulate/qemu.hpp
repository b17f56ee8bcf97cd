#pragma once
// Running a program built for another architecture on this machine: directly when it is
// native, through binfmt_misc when a handler is registered, else by calling qemu-user
// explicitly with -L <sysroot>. Dynamically linked foreign binaries need their loader and
// libc from a sysroot (QEMU_LD_PREFIX): Debian's cross libc in /usr/<triple>, or a rootfs.

#include "exec/command.hpp"
#include "platform/platform.hpp"

#include <filesystem>
#include <optional>
#include <string>

namespace xb::emulate {

/// qemu-<arch>-static or qemu-<arch> found on PATH, or nullopt.
std::optional<std::filesystem::path> find_qemu(const Platform& p);
/// "7.2.22" from `qemu --version`, or "" when it cannot be run.
std::string qemu_version(const std::filesystem::path& qemu);
/// A command on PATH, or nullopt.
std::optional<std::filesystem::path> which(const std::string& name);

/// Where the loader and libc for `p` live: /usr/<triple> when Debian's cross libc is
/// installed, else a cached rootfs for `p`, else "" (fine for static binaries).
std::filesystem::path default_sysroot(const Platform& p);

/// How a foreign command will be run (for messages and tests).
enum class RunMode { native, binfmt, explicit_qemu };

/// Rewrites `cmd` so it runs on this machine for `p`: unchanged when native; with
/// QEMU_LD_PREFIX=<sysroot> when binfmt serves `p`; else prefixed by qemu-<arch> -L
/// <sysroot> when argv[0] is a foreign ELF. Throws Error(environment) with the fix when
/// neither binfmt nor qemu is available. `mode` (optional) receives the choice.
Command foreign_command(const Platform& p, Command cmd, const std::filesystem::path& sysroot,
                        RunMode* mode = nullptr);

}  // namespace xb::emulate
