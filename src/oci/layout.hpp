#pragma once
// OCI image layouts on disk: reading one (BlobSource, also what base images and `xbuild
// inspect` read from) and writing one (LayoutWriter). The writer's rules make a layout
// that is never half-written: a new layout is assembled in a hidden sibling directory and
// renamed into place; in an existing layout each blob goes to a temp file and is renamed
// to blobs/sha256/<hex> (fsync first), and index.json is replaced last, by rename. A blob that already
// exists is verified before it is reused, and the images an existing layout keeps are
// checked for missing or wrong blobs, so corruption is reported instead of spread. Two
// xbuilds writing into the same place take turns (flock on the destination's parent), so
// neither loses the other's index.json entry.

#include "oci/descriptor.hpp"

#include <boost/json/object.hpp>

#include "util/fd.hpp"
#include "util/temp.hpp"

#include <filesystem>
#include <functional>
#include <string>
#include <vector>

namespace xb::oci {

/// Read access to an image store by digest. Implemented for local layouts here; the
/// registry client can implement it for a cached pull.
class BlobSource {
public:
  virtual ~BlobSource() = default;
  /// The top-level entries (a layout's index.json "manifests").
  virtual std::vector<Descriptor> entries() = 0;
  /// A blob's bytes, verified against the digest; throws Error naming the blob otherwise.
  virtual std::string read_blob(const Descriptor& d) = 0;
  /// Copies a blob into `dest` (a new file), verified; for large layers.
  virtual void copy_blob(const Descriptor& d, const std::filesystem::path& dest) = 0;
  /// Where the blobs come from, for messages ("OCI layout /x/y").
  virtual std::string describe() const = 0;
};

/// An existing OCI image layout directory, read-only.
class LayoutSource final : public BlobSource {
public:
  /// Opens DIR; throws Error naming it when it has no oci-layout file or index.json.
  explicit LayoutSource(std::filesystem::path dir);
  /// The images of index.json (its referrers left out: see referrers()).
  std::vector<Descriptor> entries() override;
  /// The OCI 1.1 referrers index.json lists (SBOMs; each names its subject manifest).
  std::vector<Descriptor> referrers();
  std::string read_blob(const Descriptor& d) override;
  void copy_blob(const Descriptor& d, const std::filesystem::path& dest) override;
  std::string describe() const override { return "OCI layout " + m_dir.string(); }
  /// DIR/blobs/<alg>/<hex>.
  std::filesystem::path blob_path(const Digest& d) const { return m_dir / d.blob_path(); }
  /// How much of a blob verify_blob checks.
  enum class Verify { size, digest };
  /// Checks that the blob exists with the descriptor's size (and, with Verify::digest, that
  /// its bytes hash to the digest); throws Error naming the blob's path and how to recover.
  void verify_blob(const Descriptor& d, Verify what) const;
  /// Checks everything reachable from `top` (indexes and manifests hashed, layers by size).
  void verify_tree(const Descriptor& top);

private:
  std::filesystem::path m_dir;
};

/// "LAYOUT[:TAG]" or "ARCHIVE.tar[:TAG]" (an optional "oci:" or "oci-archive:" prefix is
/// accepted) split into the path and the tag ("" = none given). A path that exists is never
/// split; otherwise the tag is after the last ':' when no '/' follows it. The one splitter
/// of local image arguments (inspect, push, merge, copy and the crane verbs). Throws
/// Error (Exit::usage) when no path is left.
std::pair<std::filesystem::path, std::string> split_layout_ref(std::string_view text);

/// The sha256 of a file's bytes as a Digest.
Digest digest_of_file(const std::filesystem::path& path);
/// Collects `top` and every descriptor reachable from it (children first, then `top`).
std::vector<Descriptor> reachable(BlobSource& src, const Descriptor& top);

/// Writes blobs and finally index.json into a layout directory.
class LayoutWriter {
public:
  /// Prepares DEST: an existing layout is written in place (after checking the images it
  /// keeps); an absent or empty DEST is staged in a hidden sibling and renamed on commit.
  /// `replaced_refs` are the ref names this write replaces (their old trees are not checked).
  /// Throws Error when DEST is a file, a non-layout directory, or cannot be written.
  LayoutWriter(std::filesystem::path dest, std::vector<std::string> replaced_refs);
  ~LayoutWriter();
  LayoutWriter(const LayoutWriter&) = delete;
  LayoutWriter& operator=(const LayoutWriter&) = delete;

  /// A fresh private temp file in the blob directory, removed unless committed.
  TempFile temp_blob();
  /// Moves a finished temp file to its blob path (or verifies the existing blob and drops
  /// `temp`, which may be empty, when the blob is already there).
  void commit_blob(TempFile temp, const Descriptor& d);
  /// Stores `bytes` as a blob and returns its descriptor.
  Descriptor put_bytes(std::string_view media_type, std::string_view bytes);
  /// Copies a blob from `src` unless an identical one is already here.
  void put_from(BlobSource& src, const Descriptor& d);
  /// Writes index.json: the existing entries whose ref name is not in `entries`, then
  /// `entries`; then renames a staged layout into place. Nothing is visible before this.
  void commit(const std::vector<Descriptor>& entries);
  /// The directory blobs are written into (the staging dir until commit).
  const std::filesystem::path& root() const { return m_root; }

private:
  Fd m_lock;  ///< flock on the destination's parent: one writer at a time
  std::filesystem::path m_dest;
  std::filesystem::path m_root;
  TempDirectory m_stage;  ///< the hidden sibling a new layout is staged in ("" when writing in place)
  std::vector<Descriptor> m_existing;
  bool m_added_blobs = false;  ///< a blob was renamed into place (commit fsyncs the directory then)
};

}  // namespace xb::oci
