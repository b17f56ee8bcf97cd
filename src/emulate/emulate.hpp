#pragma once
// Emulation: building for a foreign architecture inside a target root filesystem under
// qemu-user (binfmt_misc), and running foreign binaries. Implemented in src/emulate/.

#include "config/project.hpp"
#include "emulate/accelerate.hpp"
#include "plan/plan.hpp"

#include <filesystem>
#include <string_view>
#include <utility>
#include <vector>

namespace xb::emulate {

/// Readies the root filesystem for plan.platform (creating and caching it when needed) and
/// rewrites plan.command so the project's own build runs inside it under qemu-user, with
/// the project and plan.paths visible at the same absolute paths. With plan.accelerate auto,
/// the host's cross tools serve the rootfs's compiler names when plan_acceleration allows
/// (plan.accelerated lists them; plan.not_accelerated says why not). Seals plan.cache with the
/// rootfs's identity and adds its variables to plan.env and plan.command.env. Throws Error
/// (Exit::environment) with the exact fix when binfmt_misc or qemu is not usable.
void prepare_build(const Project& project, PlatformPlan& plan);

/// What a chroot for foreign `p` needs bound in so binfmt_misc can run its binaries there
/// (host file, path inside): the static qemu when the handler lacks the F flag, else nothing.
/// Throws Error(environment) "cannot DOING P: ..." with the fix when binfmt is not usable.
std::vector<std::pair<std::filesystem::path, std::filesystem::path>> interpreter_files(const Platform& p,
                                                                                       std::string_view doing);

/// `cmd` rewritten to run inside `rootfs` under qemu-user (xbuild's `__exec-in-rootfs`), with
/// the project and plan.paths bind-mounted at the same absolute paths and `files` (host path,
/// path in the rootfs) bound in, and `acceleration`'s overlay, binds and wrappers when it is
/// active, and the host's ccache with plan.cache's masquerade dir first on PATH when that cache
/// is sealed for the rootfs (emulate/ccache.hpp). Used for emulated builds and for their tests.
Command in_rootfs(const Project& project, const PlatformPlan& plan, const std::filesystem::path& rootfs, const Command& cmd,
                  const std::vector<std::pair<std::filesystem::path, std::filesystem::path>>& files = {},
                  const Acceleration& acceleration = {});

}  // namespace xb::emulate
