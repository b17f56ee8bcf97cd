#pragma once
// A platform's compiler cache directory as an OCI artifact: the cache is cut into chunks
// (ccache's 16 top-level hex dirs, go-build's 256 dirs grouped by their first hex digit), each
// a reproducible tar+gzip layer (names sorted, mtime 0, uid/gid 0, through the layer writer),
// so an unchanged chunk always has the same digest and a warm re-export finds it already in
// the registry. Volatile files (ccache's stats and locks, tmp dirs, Go's trim.txt) are left
// out for that reason. The reverse, unpack_cache_chunk, treats the tar as hostile: only
// regular files and directories, relative names of plain components, bounded sizes and
// counts, created inside the destination only. This file knows paths and strings, not plans.

#include "oci/descriptor.hpp"

#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

namespace xb::oci {

/// The artifactType of a cache manifest, and the manifest annotations it carries (each layer is
/// titled with its chunk name, annotation::k_title).
inline constexpr std::string_view k_cache_artifact_type = "application/vnd.xbuild.cache.v1";
inline constexpr std::string_view k_cache_platform_annotation = "dev.xbuild.cache.platform";
inline constexpr std::string_view k_cache_key_annotation = "dev.xbuild.cache.key";
inline constexpr std::string_view k_cache_kinds_annotation = "dev.xbuild.cache.kinds";

/// The most entries and bytes one chunk may unpack to (a crafted tar stops there).
inline constexpr std::size_t k_max_chunk_entries = 1 << 20;
inline constexpr std::int64_t k_max_chunk_bytes = 16LL << 30;

/// One chunk of a cache dir: its name ("ccache/3", "go-build/a") and its files, relative to
/// the cache dir, sorted.
struct CacheChunk {
  std::string name;
  std::vector<std::string> files;
};

/// The chunks of `cache_dir` (its ccache/ and go-build/ subdirs, whichever exist), without
/// volatile files; chunks with no file are left out. Sorted by name.
std::vector<CacheChunk> list_cache_chunks(const std::filesystem::path& cache_dir);

/// Writes `chunk` of `cache_dir` as a tar+gzip layer to `out`; the descriptor carries the
/// chunk's name as its title annotation.
Descriptor pack_cache_chunk(const std::filesystem::path& cache_dir, const CacheChunk& chunk, const std::filesystem::path& out);

/// Unpacks a chunk layer (tar, gzip'd or not) at `blob` into `cache_dir`, replacing files of
/// the same name. Throws Error naming `what` for anything but regular files and directories
/// with plain relative names, or past k_max_chunk_entries / k_max_chunk_bytes; what was
/// unpacked before stays (files are renamed into place whole).
void unpack_cache_chunk(const std::filesystem::path& blob, const std::filesystem::path& cache_dir, const std::string& what);

/// A cache artifact: what its manifest says.
struct CacheArtifact {
  std::map<std::string, std::string> annotations;  ///< platform, key, kinds
  std::vector<Descriptor> chunks;                  ///< the layers, each titled with its chunk name
};

/// The manifest bytes of a cache artifact: artifactType k_cache_artifact_type, the empty
/// config, `chunks` as layers, `annotations` on the manifest.
std::string cache_manifest(const std::vector<Descriptor>& chunks, const std::map<std::string, std::string>& annotations);
/// Reads a cache manifest; throws Error naming `where` when it is not one (wrong
/// artifactType, a layer without a title, a title that is no chunk name).
CacheArtifact parse_cache_manifest(std::string_view bytes, std::string_view where);

}  // namespace xb::oci
