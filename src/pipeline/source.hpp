#pragma once
// Source isolation. Builds that write next to their sources (plain makefiles, autotools, a
// CMake project that edits a header in place) corrupt each other when several platforms build
// in one tree at once. With `source = "copy"` each platform builds in its own snapshot of the
// tree; with `source = "shared"` xbuild at least notices when a build wrote into the tree.

#include "config/project.hpp"

#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

namespace xb {

/// What a refresh did.
struct SnapshotStats {
  std::size_t copied = 0;     ///< files copied (new or changed since the last refresh)
  std::size_t removed = 0;    ///< files deleted from the snapshot because the source lost them
  std::size_t unchanged = 0;  ///< files already up to date
};

/// Brings the snapshot `dest` up to date with the project tree `src`, leaving out `.git/`,
/// `.xbuild/` and `exclude` (the state dir, when it lies inside `src`). A file is copied when
/// it is new or its size or mtime differ from the snapshot's copy (so a build that edited its
/// copy gets the original back); copies keep the source's mode and mtime and are reflinks
/// where the filesystem can, never hard links (a build writing into a hard link would write
/// into the source). Files the build created in the snapshot stay, so builds are incremental.
/// Symlinks are copied as symlinks. Throws Error naming the file when a copy fails.
SnapshotStats refresh_snapshot(const std::filesystem::path& src, const std::filesystem::path& dest,
                               const std::filesystem::path& exclude);

/// Size and mtime of every regular file and symlink under a tree (relative paths).
using TreeState = std::map<std::string, std::pair<std::uintmax_t, std::int64_t>>;

/// Scans `root` the way refresh_snapshot does (same exclusions).
TreeState scan_tree(const std::filesystem::path& root, const std::filesystem::path& exclude);

/// The relative paths created or changed between two scans, sorted.
std::vector<std::string> changed_files(const TreeState& before, const TreeState& after);

/// The warning for a build that wrote `changed` into a shared source tree (names a few files
/// and the setting that fixes it).
std::string shared_source_warning(const Project& project, const std::vector<std::string>& changed);

}  // namespace xb
