#pragma once
// The output check: what a platform's build produced, before it goes anywhere. Every ELF
// file (programs, shared objects) and every ELF member of a static archive must be for the
// target, and no RUNPATH/RPATH may point into the build machine (the project, its .xbuild
// state, /tmp, the cross sysroot): such a binary works on the build host and fails on the
// node. Kept apart from build.cpp, which runs the builds and shows their progress.

#include "config/project.hpp"
#include "plan/plan.hpp"
#include "platform/platform.hpp"

#include <filesystem>
#include <string>
#include <vector>

namespace xb {

/// Checks that each of project.outputs exists under `out`, that every ELF file among them
/// (and every ELF member of a .a) is for `platform`, and that no RUNPATH/RPATH points into
/// the build machine. Returns the problems (empty = fine), each naming the file and the fix.
std::vector<std::string> verify_outputs(const Project& project, const Platform& platform,
                                        const std::filesystem::path& out);

/// Where the target's runtime libraries are for a plan: the toolchain's sysroot (cross),
/// the rootfs (emulate), "/" (native); for others /usr/<triple> or a cached rootfs when
/// present; "" when none is known.
std::filesystem::path runtime_sysroot(const PlatformPlan& plan);

}  // namespace xb
