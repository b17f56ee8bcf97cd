#pragma once
// What oci needs to know about a project to make its image, and nothing more: the [image]
// section, the declared outputs and where the project is (for relative oci: bases, git
// provenance and messages). cli builds it from config's Project, so oci never includes the
// whole project and cannot come to depend on strategies, runners or emulation settings.

#include "config/image_section.hpp"

#include <filesystem>
#include <string>
#include <vector>

namespace xb::oci {

/// Everything export_images and check_export read about the project.
struct ImageSpec {
  std::string name;                  ///< the project's name: default tag "<name>:latest", history comment
  std::filesystem::path dir;         ///< the project directory: relative oci: bases, git provenance
  std::filesystem::path file;        ///< its xbuild.toml, named in messages
  std::vector<std::string> outputs;  ///< declared outputs, relative to each platform's output dir
  ImageSection image;                ///< the [image] section (compression already parsed)
};

}  // namespace xb::oci
