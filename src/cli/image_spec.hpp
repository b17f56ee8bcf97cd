#pragma once
// The one place a config Project becomes the oci stage's ImageSpec: oci sees the [image]
// values and outputs it needs, never the whole project (see docs/ARCHITECTURE.md).

#include "config/project.hpp"
#include "oci/image_spec.hpp"

namespace xb::cli {

/// The [image] section, outputs, name and location of `project`.
oci::ImageSpec image_spec_of(const Project& project);

}  // namespace xb::cli
