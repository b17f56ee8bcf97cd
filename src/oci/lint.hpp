#pragma once
// Image lint: would this image start on a node of its platform? Checked on the merged
// rootfs (ImageView), so it works the same for the image `xbuild build` is about to write
// and for any image on disk or in a registry (`xbuild inspect --lint`), including images
// xbuild did not build. Each problem is one line naming the platform, the file and what to
// do; problems of every platform are gathered before anyone reports them.

#include "oci/image_view.hpp"
#include "oci/layout.hpp"
#include "oci/runtime.hpp"
#include "platform/platform.hpp"

#include <optional>
#include <string>
#include <vector>

namespace xb::oci {

/// What the lint needs to know besides the files.
struct LintTarget {
  Platform platform;
  std::optional<std::vector<std::string>> entrypoint;  ///< the config's Entrypoint
  std::optional<std::vector<std::string>> cmd;         ///< the config's Cmd
  std::vector<std::string> env;                        ///< the config's Env ("PATH=..." is used)
};

/// Checks `view`: every ELF (and every ELF member of a .a) is for the platform; every dynamic
/// ELF's interpreter and DT_NEEDED libraries resolve inside the image (RUNPATH/$ORIGIN, the
/// loader's default dirs); no absolute RUNPATH points outside the image; the entrypoint
/// exists, is executable, and a script's #! interpreter exists. Returns the problems.
std::vector<std::string> lint_view(const ImageView& view, const LintTarget& target);

/// Lints every platform image reachable from `top` in `src` (layers read through the
/// BlobSource, no extraction). Platforms xbuild does not know (attestations) are skipped.
std::vector<std::string> lint_image(BlobSource& src, const Descriptor& top);

}  // namespace xb::oci

namespace xb::oci {

/// One platform's image as the exporter is about to write it.
struct PlannedImage {
  LintTarget target;                          ///< platform and the final config's entrypoint/cmd/env
  BlobSource* base = nullptr;                 ///< where the base layers are read from (nullptr: scratch)
  std::vector<Descriptor> base_layers;        ///< the base's layers, bottom first
  std::vector<LayerFile> files;               ///< the project's files
  std::filesystem::path sysroot;              ///< where runtime libraries come from ("" = none known)
  std::string dpkg_status;                    ///< out: the base's /var/lib/dpkg/status (and status.d/*), for the SBOM
};

/// Resolves runtime libraries (per `mode`) and lints every planned image. Returns, per image,
/// the runtime layer to add (no files when none is needed). Throws Error (Exit::build_failed)
/// listing every platform's problems when there are any; nothing has been written then.
std::vector<RuntimeLayer> check_before_export(std::vector<PlannedImage>& images, RuntimeMode mode,
                                              const std::filesystem::path& staging);

}  // namespace xb::oci
