#pragma once
// An oci-archive (an OCI layout packed in a tar, as `--output type=oci-archive` writes it)
// read as a BlobSource without unpacking it: one pass keeps index.json and the small JSON
// blobs in memory and notes every blob's size; a layer is streamed out of the tar only
// when someone asks for it.

#include "oci/layout.hpp"

#include <filesystem>
#include <cstddef>
#include <functional>
#include <map>
#include <string>

namespace xb::oci {

/// A read-only oci-archive tar.
class ArchiveSource final : public BlobSource {
public:
  /// Reads FILE's index.json and small blobs; throws Error naming FILE when it is not a tar
  /// holding an OCI layout.
  explicit ArchiveSource(std::filesystem::path file);
  std::vector<Descriptor> entries() override;
  std::string read_blob(const Descriptor& d) override;
  void copy_blob(const Descriptor& d, const std::filesystem::path& dest) override;
  std::string describe() const override { return "oci-archive " + m_file.string(); }

  /// True when `path` looks like an archive (a regular file), not a layout directory.
  static bool is_archive(const std::filesystem::path& path);

private:
  /// Feeds the blob's bytes to `sink` while hashing them; throws Error when the blob is
  /// missing or its bytes do not match the digest (after the last chunk).
  void stream_blob(const Descriptor& d, const std::function<void(const char*, std::size_t)>& sink);
  std::filesystem::path m_file;
  std::string m_index;                       ///< index.json bytes
  std::map<std::string, std::string> m_small;  ///< "sha256/<hex>" -> bytes (blobs up to 4 MiB)
};

}  // namespace xb::oci
