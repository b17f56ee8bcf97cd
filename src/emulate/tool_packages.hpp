#pragma once
// What a rootfs must hold for an emulated build, decided before any rootfs is created or
// used: a default Debian package list per language, the package that provides each tool a
// build names first, and the hint a "command not found" inside the rootfs gets. Five
// minutes spent creating a rootfs that lacks the build's tool is the failure this prevents.

#include "config/project.hpp"

#include <string>
#include <vector>

namespace xb::emulate {

/// The Debian packages an emulated build of `language` needs: c/custom: gcc make libc6-dev;
/// cxx: those and g++; go: golang-go; rust: rustc cargo gcc libc6-dev.
std::vector<std::string> default_rootfs_packages(const std::string& language);
/// The packages of a created rootfs for `project`: the language's defaults, then
/// [emulate] packages, each once, in that order.
std::vector<std::string> rootfs_packages(const Project& project);
/// The Debian package that provides `tool` (make -> make, ninja -> ninja-build, go ->
/// golang-go, cc -> gcc, ...); "" when not in the table.
std::string package_for_tool(const std::string& tool);
/// For an emulated build that failed with `exit_code`: a hint when it means "command not
/// found" (127) inside the rootfs, pointing at [emulate] packages in `project`'s file; else "".
std::string failed_build_hint(const Project& project, int exit_code);

}  // namespace xb::emulate
