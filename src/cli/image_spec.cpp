// The [image] section goes over whole, so a key added to it reaches oci without a change
// here; the rest of the Project does not.

#include "cli/image_spec.hpp"

namespace xb::cli {

oci::ImageSpec image_spec_of(const Project& project) {
  oci::ImageSpec spec;
  spec.name = project.name;
  spec.dir = project.dir;
  spec.file = project.file;
  spec.outputs = project.outputs;
  spec.image = project.image;
  return spec;
}

}  // namespace xb::cli
