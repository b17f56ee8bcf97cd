#pragma once
// Layer reuse: what makes a no-op rebuild cheap. The project layer is the one costly part of
// an image (a tar of every output, compressed); the config and manifest are a few hundred
// bytes of JSON. So the store keeps, per platform, the last layer the exporter wrote and the
// key it was written for (oci/layer.hpp: layer_key, the content hash of the output tree and
// of the settings the tar depends on). When the key is the same, the exporter takes that
// layer instead of packing one, and computes the config and manifest from it exactly as
// after packing: they come out byte for byte the same, and no setting (a label, the base)
// can ever be served stale, because nothing but the layer is taken from the store.
//
// The key hashes every output file's bytes rather than trusting a (size, mtime, inode, ctime)
// record as git's index does: xbuild empties {out} before every build, so a no-op build's
// outputs are new files with new inodes and times and the same bytes, and a stat shortcut
// would never hit. SHA-256 runs at about 1.5 GB/s here (OpenSSL); packing (tar + gzip) at tens of MB/s.
//
// On disk (the project's .xbuild/reuse, apart from the compiler caches in .xbuild/cache) the
// store is an OCI layout holding those layers (blobs/sha256/<hex>, read back through
// LayoutSource, which verifies every byte it copies) plus records/<platform>.json. Anything
// missing, unreadable or not matching its digest is a miss, never an error; writing the
// store is best effort (a store that cannot be written costs the next build time, nothing
// else). The store holds one layer per platform: a blob no record names is removed.

#include "oci/layer.hpp"
#include "oci/layout.hpp"
#include "platform/platform.hpp"

#include <filesystem>
#include <optional>
#include <string>

namespace xb::oci {

/// What the store recorded for one platform.
struct LayerRecord {
  std::string key;       ///< layer_key of the files the layer holds
  LayerInfo layer;       ///< the layer written for that key
  std::string manifest;  ///< the manifest digest the last build made of it ("sha256:...")
};

/// The per-platform layers of the last build of a project.
class LayerStore {
public:
  /// A store in `dir` (created on the first record); an empty `dir` is a store that finds
  /// nothing and records nothing.
  explicit LayerStore(std::filesystem::path dir);

  /// The record for `p` if its key is `key` and its layer's blob is present; nullopt
  /// otherwise (absent, unreadable or malformed records are misses).
  std::optional<LayerRecord> find(const Platform& p, const std::string& key) const;

  /// Puts the recorded layer `d` into `writer`: a blob already there is verified (as a
  /// packed layer's would be), else the stored one is copied, hashed as it is copied.
  /// Returns false when the stored blob is missing or does not match `d` (a miss: pack
  /// it). Throws what the writer throws (a full disk, a corrupt destination, a signal).
  bool put_into(LayoutWriter& writer, const Descriptor& d) const;

  /// Records `rec` as p's, its layer copied from `blob` (the image's verified copy, replacing
  /// any stored one), and drops blobs no record names any more. Called only when something
  /// changed. Never throws: a failed write is skipped.
  void record(const Platform& p, const LayerRecord& rec, const std::filesystem::path& blob) const;

private:
  std::filesystem::path m_dir;
};

}  // namespace xb::oci
