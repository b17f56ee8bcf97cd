#pragma once
// An oci-archive (an OCI layout packed in a tar, as `--output type=oci-archive` writes it)
// read as a BlobSource without unpacking it: one pass keeps index.json and the small
// blobs in memory (within a budget) and notes every blob's size; a layer is streamed out of
// the tar only when someone asks for it. The archive is untrusted input: what is parsed as
// JSON is capped before it is read (index.json and manifests 4 MiB, configs 16 MiB), every
// read stops at the size its header or descriptor declares, and the bytes handed on are
// the bytes that were hashed (never a second read of what was verified).

#include "oci/layout.hpp"

#include <filesystem>
#include <cstddef>
#include <cstdint>
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
  /// Throws Error before any read when `d` declares more than `cap` (-1 = no cap), a negative
  /// size, or a size other than its tar entry's, or when the archive has no such entry.
  void check_size(const Descriptor& d, std::int64_t cap) const;
  std::filesystem::path m_file;
  std::string m_index;                       ///< index.json bytes
  std::map<std::string, std::string> m_small;  ///< "sha256/<hex>" -> bytes (small blobs, within a budget)
  std::map<std::string, std::int64_t> m_sizes;  ///< "sha256/<hex>" -> the tar header's size (-1 = not set)
};

}  // namespace xb::oci
