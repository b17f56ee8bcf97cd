#pragma once
// The layer writer: files from a platform's output dir become one deterministic tar,
// compressed and hashed in a single pass. The tar never depends on the machine or on
// when it was built: entries sorted by path, every parent directory present, mtime =
// SOURCE_DATE_EPOCH, uid/gid 0 with empty names, modes 0755 (dirs, executables) or 0644,
// symlinks kept as links, no xattrs, ACLs or device numbers. libarchive writes the tar
// (pax, which only adds extended headers for long names); compress.hpp compresses it.

#include "oci/compress.hpp"
#include "oci/descriptor.hpp"

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace xb::oci {

/// One file or directory tree to place in the image.
struct LayerFile {
  std::filesystem::path source;  ///< on disk: a file, a symlink or a directory (copied recursively)
  std::string dest;              ///< absolute path in the image rootfs, e.g. "/usr/local/bin/hello"
};

/// What write_layer produced.
struct LayerInfo {
  Descriptor descriptor;       ///< media type, digest (of the stored bytes) and size
  Digest diff_id;              ///< sha256 of the uncompressed tar
  std::int64_t tar_size = 0;   ///< uncompressed size
  std::size_t entries = 0;     ///< number of tar entries
};

/// Normalises an in-image path: must be absolute, with no "." or ".." component; repeated
/// and trailing slashes are dropped. Throws Error (Exit::usage) naming `what` otherwise.
std::string normalize_image_path(std::string_view path, std::string_view what);

/// Writes the layer for `files` to `out` (created or truncated), compressed with `c`.
/// Throws Error naming the source when a file is missing or unreadable, or two files
/// claim the same destination.
LayerInfo write_layer(const std::vector<LayerFile>& files, Compression c, long long mtime,
                      const std::filesystem::path& out, unsigned threads = 0);

/// The hex sha256 of everything write_layer's bytes depend on: the tar format's version
/// (k_layer_format), libarchive's, zlib's and libzstd's versions, `c`, `mtime`, and every
/// entry write_layer would write (path, type, mode, link target, size and the content's
/// sha256). The same key means write_layer would write the same bytes. Reads every file;
/// throws the Errors write_layer would for a missing or unreadable output.
std::string layer_key(const std::vector<LayerFile>& files, Compression c, long long mtime);

/// Bumped whenever write_layer writes different bytes for the same files (layer_key uses it).
inline constexpr int k_layer_format = 1;

}  // namespace xb::oci
