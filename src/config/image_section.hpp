#pragma once
// The [image] section of xbuild.toml as a value of its own, so that the oci stage can take
// exactly this (plus the outputs, in oci::ImageSpec) without including the whole Project.
// Compression is parsed here, where the file and line are known, into the enum the layer
// writer uses.

#include <map>
#include <string>
#include <vector>

namespace xb {

/// How image layers are compressed ([image] compression, --compression).
enum class Compression { none, gzip, zstd };

/// One collected output placed in the image: `from` is relative to the platform's output
/// dir, `to` is an absolute path inside the image rootfs.
struct ImageFile {
  std::string from;
  std::string to;
};

/// The [image] section.
struct ImageSection {
  std::string base = "scratch";                 ///< "scratch", "oci:DIR[:TAG]" or a registry ref
  std::vector<ImageFile> files;                  ///< where outputs go; default: /<output>
  std::vector<std::string> entrypoint;
  std::vector<std::string> cmd;
  std::vector<std::string> env;                  ///< "K=V"
  std::string workdir;
  std::string user;
  std::map<std::string, std::string> labels;
  std::vector<std::string> exposed_ports;        ///< "8080/tcp"
  Compression compression = Compression::gzip;   ///< layer compression
  std::vector<std::string> tags;                 ///< default tags when -t is not given
  std::string runtime = "auto";                  ///< "auto": add missing runtime libraries; "none": report them
  bool sbom = true;                              ///< attach an SPDX SBOM to each platform's manifest (--sbom=false)
};

}  // namespace xb
