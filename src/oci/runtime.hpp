#pragma once
// Runtime libraries: what a dynamically linked program needs at run time (its loader and
// the transitive closure of its DT_NEEDED libraries), looked up first in the image and
// then in the target's sysroot, as ld.so would look them up on the node. `[image] runtime =
// "auto"` turns what is missing into one extra layer, copied with the sysroot's symlinks
// (libstdc++.so.6 -> libstdc++.so.6.0.30) to where the target's loader looks
// (/lib/<triple>, the loader path). `"none"` adds nothing and reports what is missing.
// The layer is made of files from the sysroot and links, so the same sysroot gives the
// same layer digest.

#include "oci/image_view.hpp"
#include "oci/layer.hpp"
#include "platform/platform.hpp"

#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace xb::oci {

/// `[image] runtime`.
enum class RuntimeMode { automatic, none };

/// Parses "auto" | "none"; throws Error (Exit::usage) naming `what` otherwise.
RuntimeMode parse_runtime_mode(std::string_view text, std::string_view what);

/// Where ld.so would find a DT_NEEDED library inside an image.
struct LibraryLookup {
  std::optional<std::string> path;     ///< the file found (symlinks resolved), for the right machine
  std::vector<std::string> wrong_arch; ///< candidates skipped because they are for another machine
  std::vector<std::string> searched;   ///< the directories looked in, in order
};

/// Looks `name` up for the ELF at `elf_path` the way ld.so does: RUNPATH (else RPATH) with
/// $ORIGIN expanded, then the platform's default library dirs.
LibraryLookup find_library(const ImageView& view, const std::string& elf_path, const ElfInfo& elf,
                           const std::string& name, const Platform& p);

/// The extra layer `auto` computed.
struct RuntimeLayer {
  std::vector<LayerFile> files;         ///< sysroot files and staged symlinks, with their image paths
  std::vector<std::string> libraries;   ///< the loader's and libraries' names, for the config history
};

/// Resolves the loader and libraries of every dynamic ELF the project puts in `view`.
/// automatic: adds what is missing from `sysroot` (to the returned layer and to `view`),
/// creating the symlinks in `staging` (an existing private directory). none: adds nothing.
/// Every problem (a library found nowhere; with none, anything missing) is appended to
/// `problems`, naming the file, what is missing and the fixes.
RuntimeLayer resolve_runtime(ImageView& view, const Platform& p, RuntimeMode mode, const std::filesystem::path& sysroot,
                             const std::filesystem::path& staging, std::vector<std::string>& problems);

/// Writes `layer` as write_layer would, to `out`. The result is kept in `cache_dir` keyed by
/// the files (image path, source, size, mtime; link targets) and the settings, so the next
/// build with the same sysroot copies the layer instead of compressing the libraries again.
/// A cached blob is re-hashed before use; a cache that cannot be written is only skipped.
LayerInfo write_runtime_layer(const RuntimeLayer& layer, Compression c, long long mtime, const std::filesystem::path& out,
                              unsigned threads, const std::filesystem::path& cache_dir);

}  // namespace xb::oci
