#pragma once
// The one place a config Project becomes the oci stage's ImageSpec: oci sees the [image]
// values and outputs it needs, never the whole project (see docs/ARCHITECTURE.md).

#include "config/project.hpp"
#include "oci/image_spec.hpp"

#include <string>
#include <vector>

namespace xb::cli {

/// The [image] section, outputs, name and location of `project`.
oci::ImageSpec image_spec_of(const Project& project);

/// Whether the image is pushed, which makes a name necessary.
enum class Pushing { yes, no };

/// The -t values with the default repository of $XBUILD_REPO (as ko's KO_DOCKER_REPO): a
/// `:TAG` becomes XBUILD_REPO/<name>:TAG, where <name> is the project's `name` (default: its
/// directory's name), lowercased; with Pushing::yes and neither -t nor [image] tags,
/// XBUILD_REPO/<name>:latest. Error(usage) for a `:TAG` without XBUILD_REPO.
std::vector<std::string> resolve_tags(const std::vector<std::string>& tags, const Project& project, Pushing pushing);

}  // namespace xb::cli
