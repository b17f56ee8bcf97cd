#pragma once
// The merged root filesystem of an image, as a map from path to what is there, built
// without extracting anything: base layers are read through libarchive from their blob
// bytes (whiteouts and opaque directories applied, as a container runtime would), then the
// runtime and project files are laid on top from disk. Only what the checks need is kept
// per file: its kind, mode, link target, and for ELF files, ar archives and #! scripts the
// parsed header. Paths are absolute, normalised ("/usr/lib/x"), the root is "/".

#include "oci/layout.hpp"
#include "oci/layer.hpp"
#include "platform/elf.hpp"

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace xb::oci {

/// What kind of entry a path is.
enum class NodeKind { file, dir, symlink, other };
/// Which part of the image a path came from (for messages and for what the resolver scans).
enum class NodeOrigin { base, runtime, project };

/// One path of the merged rootfs.
struct ViewNode {
  NodeKind kind = NodeKind::file;
  NodeOrigin origin = NodeOrigin::base;
  std::uint32_t mode = 0644;                ///< permission bits
  std::string link;                         ///< symlink target
  std::optional<ElfInfo> elf;               ///< set for ELF files
  std::vector<ArchiveMember> members;       ///< set for ar archives
  std::string shebang;                      ///< a script's #! interpreter ("" when not a script)
  std::string text;                         ///< the contents of /etc/ld.so.conf and /etc/ld.so.conf.d/* files
};

/// The merged rootfs.
class ImageView {
public:
  /// Applies one layer (tar, compressed or not) on top: its whiteouts remove lower paths.
  /// Throws Error naming `what` when the tar cannot be read.
  void add_layer(std::string_view tar_bytes, NodeOrigin origin, std::string_view what);
  /// Lays files from disk on top (directories recursively), as the layer writer would place them.
  void add_files(const std::vector<LayerFile>& files, NodeOrigin origin);
  /// Puts one node at `path` (replacing what is there).
  void put(const std::string& path, ViewNode node);
  /// The node at `path` itself (no symlink followed), or nullptr.
  const ViewNode* lstat(const std::string& path) const;
  /// `path` with every symlink followed (in every component) the way the kernel would,
  /// inside this rootfs; nullopt when something along the way is missing or loops.
  std::optional<std::string> resolve(const std::string& path) const;
  /// The node `path` leads to after symlinks, or nullptr.
  const ViewNode* stat(const std::string& path) const;
  /// Where a new file at `path` would land: its parent directory resolved through
  /// symlinks (so /lib/x lands in /usr/lib/x when /lib -> usr/lib), the name kept.
  std::string placement(const std::string& path) const;
  /// The extra library dirs ld.so's cache holds: those /etc/ld.so.conf (and the files it
  /// includes) lists, when the image has an /etc/ld.so.cache; else none.
  std::vector<std::string> ld_so_conf_dirs() const;
  /// Every path, sorted.
  const std::map<std::string, ViewNode>& nodes() const { return m_nodes; }

private:
  void erase_tree(const std::string& path);
  std::map<std::string, ViewNode> m_nodes;
};

/// Fills the ELF/ar/#! fields of `node` from a file's leading bytes (`bytes` holds the whole
/// file when it starts like an ELF or ar file).
void classify(std::string_view bytes, ViewNode& node);
/// True when a file starting with `head` needs to be read whole for classify().
bool needs_whole_file(std::string_view head);
/// True for the paths whose text the view keeps (ld.so's configuration; dpkg's status, for the SBOM).
bool keeps_text(std::string_view path);
/// "/a/b" of "a/b", "./a/b/", "/a//b": a tar entry name made an absolute view path.
std::string view_path(std::string_view name);

}  // namespace xb::oci
