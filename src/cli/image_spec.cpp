// The [image] section goes over whole, so a key added to it reaches oci without a change
// here; the rest of the Project does not. The default repository ($XBUILD_REPO) is applied
// here too, the one place a project becomes image names.

#include "cli/image_spec.hpp"

#include "util/error.hpp"
#include "util/strings.hpp"

#include <cstdlib>

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

std::vector<std::string> resolve_tags(const std::vector<std::string>& tags, const Project& project, Pushing pushing) {
  const char* env = std::getenv("XBUILD_REPO");
  std::string repo = env ? std::string(trim(env)) : "";
  while (!repo.empty() && repo.back() == '/') repo.pop_back();
  std::string name = to_lower(project.name.empty() ? project.dir.filename().string() : project.name);
  std::vector<std::string> out;
  for (const auto& t : tags) {
    if (t.empty() || t.front() != ':') {
      out.push_back(t);
      continue;
    }
    if (repo.empty())
      fail(Exit::usage, "-t {}: a tag without a repository needs XBUILD_REPO (e.g. export XBUILD_REPO=registry.example.com/team "
                        "names {}/{}{}), or give the whole name: -t REGISTRY/REPOSITORY{}", t, "registry.example.com/team",
           name, t, t);
    out.push_back(repo + "/" + name + t);
  }
  if (out.empty() && pushing == Pushing::yes && project.image.tags.empty() && !repo.empty())
    out.push_back(repo + "/" + name + ":latest");
  return out;
}

}  // namespace xb::cli
