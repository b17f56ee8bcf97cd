// The [image] section goes over whole, so a key added to it reaches oci without a change
// here; the rest of the Project does not. The default repository ($XBUILD_REPO) is applied
// here too, the one place a project becomes image names. The -o grammar follows buildx's
// exporters (type=registry, type=image,push=true, dest=- for stdout) so its users' habits
// carry over; an attribute xbuild does not implement is an error naming it, never dropped.

#include "cli/image_spec.hpp"

#include "util/error.hpp"
#include "util/strings.hpp"

#include <cstdlib>
#include <string>

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

std::string image_name_of(const Project& project) {
  return to_lower(project.name.empty() ? project.dir.filename().string() : project.name);
}

std::vector<std::string> resolve_tags(const std::vector<std::string>& tags, const Project& project, Pushing pushing) {
  const char* env = std::getenv("XBUILD_REPO");
  std::string repo = env ? std::string(trim(env)) : "";
  while (!repo.empty() && repo.back() == '/') repo.pop_back();
  std::string name = image_name_of(project);
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

BuildOutput parse_build_output(std::string_view text) {
  BuildOutput out;
  if (text.find('=') == std::string_view::npos) {  // a bare path, as buildx's `-o DIR`
    if (text == "-")
      fail(Exit::usage, "--output -: stdout takes an archive only; use --output type=oci-archive,dest=- (or type=docker,dest=-)");
    out.spec.type = oci::OutputType::local;
    out.spec.dest = std::string(text);
    if (out.spec.dest.empty()) fail(Exit::usage, "--output is empty; expected type=oci|oci-archive|local,dest=PATH");
    return out;
  }
  std::string type, dest, push, compression;
  bool has_dest = false;
  for (const auto& part : split(text, ',')) {
    auto eq = part.find('=');
    if (eq == std::string::npos) fail(Exit::usage, "--output {}: '{}' is not key=value", text, part);
    std::string k = part.substr(0, eq), v = part.substr(eq + 1);
    if (k == "type") type = v;
    else if (k == "dest") dest = v, has_dest = true;
    else if (k == "push") push = v;
    else if (k == "compression") compression = v;
    else
      fail(Exit::usage, "--output {}: unknown attribute '{}'; expected type=, dest=, compression= (or push= with type=image)",
           text, k);
  }
  if (type.empty()) fail(Exit::usage, "--output {}: missing type=oci|oci-archive|docker|local|registry|image", text);
  if (type == "oci") out.spec.type = oci::OutputType::oci;
  else if (type == "oci-archive") out.spec.type = oci::OutputType::oci_archive;
  else if (type == "docker") out.spec.type = oci::OutputType::docker;
  else if (type == "local") out.spec.type = oci::OutputType::local;
  else if (type == "registry" || type == "image") out.spec.type = oci::OutputType::oci;  // the default layout, pushed from
  else fail(Exit::usage, "--output {}: unknown type '{}'; expected oci, oci-archive, docker, local, registry or image", text, type);

  bool image_store = type == "registry" || type == "image";
  if (image_store) {
    if (has_dest)
      fail(Exit::usage, "--output {}: type={} takes no dest (it pushes to the -t references); use type=oci,dest=DIR with --push",
           text, type);
    if (type == "registry") {
      if (!push.empty() && push != "true") fail(Exit::usage, "--output {}: type=registry always pushes; drop push={}", text, push);
      out.push = Pushing::yes;
    } else if (push == "true") {
      out.push = Pushing::yes;
    } else if (!push.empty() && push != "false") {
      fail(Exit::usage, "--output {}: push={}: expected true or false", text, push);
    }
    if (!compression.empty()) out.compression = oci::parse_compression(compression, "--output compression");
    return out;
  }
  if (!push.empty()) fail(Exit::usage, "--output {}: push= belongs to type=image; with type={} use --push", text, type);
  if (!has_dest || dest.empty()) fail(Exit::usage, "--output {}: missing dest=PATH", text);
  if (dest == "-") {
    if (out.spec.type != oci::OutputType::oci_archive && out.spec.type != oci::OutputType::docker)
      fail(Exit::usage, "--output {}: dest=- (stdout) takes an archive only; a type={} dest is a directory: use type=oci-archive,dest=- "
                        "(or type=docker,dest=-)", text, type);
    out.sink = OutputSink::stdout_stream;
  }
  out.spec.dest = dest;
  if (!compression.empty()) {
    if (out.spec.type == oci::OutputType::local)
      fail(Exit::usage, "--output {}: compression= is for images; type=local copies plain files", text);
    out.compression = oci::parse_compression(compression, "--output compression");
  }
  return out;
}

}  // namespace xb::cli
