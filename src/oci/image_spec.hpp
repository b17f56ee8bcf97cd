#pragma once
// What oci needs to know about a project to make its image, and nothing more: the [image]
// values, the declared outputs and where the project is (for relative oci: bases, git
// provenance and messages). cli builds it from config's Project, so oci never includes
// the whole project and cannot come to depend on plans, strategies or runners.

#include "oci/compress.hpp"

#include <filesystem>
#include <map>
#include <string>
#include <vector>

namespace xb::oci {

/// One output placed in the image: `from` relative to a platform's output dir, `to` an
/// absolute path inside the image rootfs.
struct ImageFile {
  std::string from;
  std::string to;
};

/// The [image] values, with compression already parsed.
struct ImageConfig {
  std::string base = "scratch";                 ///< "scratch", "oci:DIR[:TAG]" or (after resolve_base) "oci:CACHE@sha256:..."
  std::vector<ImageFile> files;                 ///< where outputs go; empty: each output at /<output>
  std::vector<std::string> entrypoint;
  std::vector<std::string> cmd;
  std::vector<std::string> env;                 ///< "K=V"
  std::string workdir;
  std::string user;
  std::map<std::string, std::string> labels;
  std::vector<std::string> exposed_ports;       ///< "8080/tcp"
  Compression compression = Compression::gzip;  ///< unless ExportOptions::compression says otherwise
  std::vector<std::string> tags;                ///< default tags when -t is not given
};

/// Everything export_images and check_export read about the project.
struct ImageSpec {
  std::string name;                  ///< the project's name: default tag "<name>:latest", history comment
  std::filesystem::path dir;         ///< the project directory: relative oci: bases, git provenance
  std::filesystem::path file;        ///< its xbuild.toml, named in messages
  std::vector<std::string> outputs;  ///< declared outputs, relative to each platform's output dir
  ImageConfig image;                 ///< the [image] section
};

}  // namespace xb::oci
