// A field-by-field copy on purpose: a new [image] key must be added here to reach oci,
// which keeps what the image stage reads visible in one function.

#include "cli/image_spec.hpp"

namespace xb::cli {

oci::ImageSpec image_spec_of(const Project& project) {
  oci::ImageSpec spec;
  spec.name = project.name;
  spec.dir = project.dir;
  spec.file = project.file;
  spec.outputs = project.outputs;
  const ImageSection& in = project.image;
  oci::ImageConfig& out = spec.image;
  out.base = in.base;
  for (const auto& f : in.files) out.files.push_back({f.from, f.to});
  out.entrypoint = in.entrypoint;
  out.cmd = in.cmd;
  out.env = in.env;
  out.workdir = in.workdir;
  out.user = in.user;
  out.labels = in.labels;
  out.exposed_ports = in.exposed_ports;
  out.compression = oci::parse_compression(in.compression, "[image] compression in " + project.file.string());
  out.tags = in.tags;
  return spec;
}

}  // namespace xb::cli
