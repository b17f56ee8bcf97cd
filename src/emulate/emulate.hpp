#pragma once
// Emulation: building for a foreign architecture inside a target root filesystem under
// qemu-user (binfmt_misc), and running foreign binaries. Implemented in src/emulate/.

#include "config/project.hpp"
#include "plan/plan.hpp"

namespace xb::emulate {

/// Readies the root filesystem for plan.platform (creating and caching it when needed) and
/// rewrites plan.command so the project's own build runs inside it under qemu-user, with
/// the project and plan.paths visible at the same absolute paths. Throws Error
/// (Exit::environment) with the exact fix when binfmt_misc or qemu is not usable.
void prepare_build(const Project& project, PlatformPlan& plan);

}  // namespace xb::emulate
