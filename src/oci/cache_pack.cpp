// Chunking, packing and unpacking a compiler cache dir (cache_pack.hpp). Packing reuses the
// layer writer (its tar is already reproducible); unpacking reads with libarchive, which
// stays in oci/, and creates every file through util/in_root so no name in the tar, and no
// symlink already in the cache dir, can place a file outside it.

#include "oci/cache_pack.hpp"

#include "oci/layer.hpp"
#include "oci/media_types.hpp"
#include "util/error.hpp"
#include "util/in_root.hpp"
#include "util/interrupt.hpp"
#include "util/strings.hpp"
#include "util/temp.hpp"

#include <archive.h>
#include <archive_entry.h>
#include <boost/json.hpp>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <set>

namespace xb::oci {

namespace fs = std::filesystem;

namespace {

/// The cache subdirs that are exported, and how their chunk of a file is named.
constexpr std::string_view k_ccache = "ccache";
constexpr std::string_view k_gobuild = "go-build";

/// True for a file that changes without the cache's content changing (statistics, locks,
/// scratch) or that each tool recreates itself: never exported, so chunk digests stay stable.
bool volatile_name(const std::string& rel) {
  std::string_view name = rel;
  if (auto slash = name.rfind('/'); slash != std::string_view::npos) name = name.substr(slash + 1);
  if (name == "stats" || name == "stats.lock" || name == "trim.txt" || name == "testexpire.txt" || name == "README" ||
      name == "ccache.conf")
    return true;
  if (name.size() >= 5 && name.substr(name.size() - 5) == ".lock") return true;
  if (name.find(".tmp") != std::string_view::npos || name.rfind(".lock", 0) == 0) return true;
  for (const auto& part : split(rel, '/'))
    if (part == "tmp" || part == "lock") return true;
  return false;
}

/// A valid chunk name: ccache/X or go-build/X, X one lowercase hex digit or two (ccache's levels).
bool valid_chunk_name(std::string_view name) {
  auto slash = name.find('/');
  if (slash == std::string_view::npos) return false;
  std::string_view sub = name.substr(0, slash), part = name.substr(slash + 1);
  if (sub != k_ccache && sub != k_gobuild) return false;
  return !part.empty() && part.size() <= 2 &&
         std::all_of(part.begin(), part.end(), [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

/// The chunk a file under SUBDIR/ belongs to, "" when it belongs to none (files at the top
/// of ccache/ or go-build/, which are the tools' own bookkeeping).
std::string chunk_of(std::string_view subdir, const std::string& rel_in_subdir) {
  auto slash = rel_in_subdir.find('/');
  if (slash == std::string::npos || slash == 0) return {};
  std::string top = rel_in_subdir.substr(0, slash);
  std::string chunk = std::string(subdir) + "/" + (subdir == k_ccache ? top : top.substr(0, 1));  // go-build/00..ff by first digit
  return valid_chunk_name(chunk) ? chunk : std::string();
}

struct ReadArchive {
  struct archive* a = archive_read_new();
  ~ReadArchive() { archive_read_free(a); }
};

/// The parts of a tar entry name, or an empty vector when it is not a plain relative path
/// under ccache/ or go-build/ ("./" prefixes dropped; "", ".", ".." and absolute names refused).
std::vector<std::string> safe_parts(std::string name) {
  while (name.rfind("./", 0) == 0) name = name.substr(2);
  while (!name.empty() && name.back() == '/') name.pop_back();
  if (name.empty() || name.front() == '/') return {};
  std::vector<std::string> parts;
  std::size_t i = 0;
  while (i <= name.size()) {
    std::size_t j = name.find('/', i);
    if (j == std::string::npos) j = name.size();
    std::string part = name.substr(i, j - i);
    if (part.empty() || part == "." || part == "..") return {};
    parts.push_back(std::move(part));
    i = j + 1;
  }
  if (parts.front() != k_ccache && parts.front() != k_gobuild) return {};
  return parts;
}

}  // namespace

std::vector<CacheChunk> list_cache_chunks(const fs::path& cache_dir) {
  std::map<std::string, std::vector<std::string>> by_chunk;
  for (std::string_view sub : {k_ccache, k_gobuild}) {
    fs::path root = cache_dir / sub;
    std::error_code ec;
    if (!fs::is_directory(fs::symlink_status(root, ec))) continue;
    for (auto it = fs::recursive_directory_iterator(root, ec); !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
      std::error_code sec;
      if (!it->is_regular_file(sec) || it->is_symlink(sec)) continue;
      std::string rel = it->path().lexically_relative(root).generic_string();
      if (volatile_name(rel)) continue;
      std::string chunk = chunk_of(sub, rel);
      if (chunk.empty()) continue;
      by_chunk[chunk].push_back(std::string(sub) + "/" + rel);
    }
    if (ec) fail(Exit::environment, "cannot read the cache dir {}: {}", root.string(), ec.message());
  }
  std::vector<CacheChunk> out;
  for (auto& [name, files] : by_chunk) {
    std::sort(files.begin(), files.end());
    out.push_back({name, std::move(files)});
  }
  return out;
}

Descriptor pack_cache_chunk(const fs::path& cache_dir, const CacheChunk& chunk, const fs::path& out) {
  std::vector<LayerFile> files;
  files.reserve(chunk.files.size());
  for (const auto& f : chunk.files) files.push_back({cache_dir / f, "/" + f});
  // One compression thread per chunk: the caller packs chunks in parallel.
  LayerInfo info = write_layer(files, Compression::gzip, 0, out, 1);
  Descriptor d = info.descriptor;
  d.annotations[std::string(annotation::k_title)] = chunk.name;
  return d;
}

void unpack_cache_chunk(const fs::path& blob, const fs::path& cache_dir, const std::string& what) {
  std::error_code ec;
  fs::create_directories(cache_dir, ec);
  Fd root = open_root(cache_dir);
  ReadArchive r;
  archive_read_support_format_tar(r.a);
  archive_read_support_filter_gzip(r.a);
  archive_read_support_filter_none(r.a);
  if (archive_read_open_filename(r.a, blob.c_str(), 1 << 16) != ARCHIVE_OK)
    fail(Exit::registry, "{}: not a tar: {}", what, archive_error_string(r.a) ? archive_error_string(r.a) : "unknown error");
  struct archive_entry* e = nullptr;
  std::size_t entries = 0;
  std::int64_t total = 0;
  std::vector<char> buf(1 << 16);
  int rc;
  while ((rc = archive_read_next_header(r.a, &e)) == ARCHIVE_OK || rc == ARCHIVE_WARN) {
    throw_if_interrupted("unpacking " + what);
    std::string name = archive_entry_pathname(e) ? archive_entry_pathname(e) : "";
    if (++entries > k_max_chunk_entries)
      fail(Exit::registry, "{}: more than {} entries; refusing the rest (the artifact is corrupt or crafted)", what, k_max_chunk_entries);
    std::vector<std::string> parts = safe_parts(name);
    if (parts.empty())
      fail(Exit::registry, "{}: entry '{}' is not a relative path under ccache/ or go-build/; refused", what, name);
    fs::path rel;
    for (const auto& p : parts) rel /= p;
    mode_t type = archive_entry_filetype(e);
    if (type == AE_IFDIR) {
      make_dirs_in_root(root.get(), rel, what);
      continue;
    }
    if (type != AE_IFREG) fail(Exit::registry, "{}: entry '{}' is not a regular file or directory; refused", what, name);
    std::int64_t size = archive_entry_size_is_set(e) ? archive_entry_size(e) : -1;
    if (size < 0 || size > k_max_chunk_bytes - total)
      fail(Exit::registry, "{}: entry '{}' declares {} bytes, past the {} bytes a chunk may hold; refused", what, name, size,
           k_max_chunk_bytes);
    Fd dir = make_dirs_in_root(root.get(), rel.parent_path(), what);
    fs::path dir_path = fd_path(dir.get());
    TempFile tmp = TempFile::in(dir_path, ".xbuild-unpack-");
    std::int64_t got = 0;
    for (;;) {
      la_ssize_t n = archive_read_data(r.a, buf.data(), buf.size());
      if (n < 0) fail(Exit::registry, "{}: reading '{}': {}", what, name, archive_error_string(r.a) ? archive_error_string(r.a) : "error");
      if (n == 0) break;
      got += n;
      if (got > size) fail(Exit::registry, "{}: entry '{}' holds more than the {} bytes it declares; refused", what, name, size);
      tmp.write(std::string_view(buf.data(), static_cast<std::size_t>(n)));
    }
    total += got;
    tmp.commit(dir_path / parts.back(), (archive_entry_perm(e) & 0111) ? 0755 : 0644);
  }
  if (rc != ARCHIVE_EOF)
    fail(Exit::registry, "{}: the tar is damaged: {}", what, archive_error_string(r.a) ? archive_error_string(r.a) : "unknown error");
}

std::string cache_manifest(const std::vector<Descriptor>& chunks, const std::map<std::string, std::string>& annotations) {
  boost::json::object o;
  o["schemaVersion"] = 2;
  o["mediaType"] = media::k_manifest;
  o["artifactType"] = k_cache_artifact_type;
  o["config"] = to_json(Descriptor::of(media::k_empty, media::k_empty_bytes));
  boost::json::array layers;
  for (const auto& d : chunks) layers.push_back(to_json(d));
  o["layers"] = std::move(layers);
  boost::json::object a;
  for (const auto& [k, v] : annotations) a[k] = v;
  o["annotations"] = std::move(a);
  return boost::json::serialize(o);
}

CacheArtifact parse_cache_manifest(std::string_view bytes, std::string_view where) {
  boost::json::object o = parse_json_object(bytes, where);
  auto* type = o.if_contains("artifactType");
  if (!type || !type->is_string() || type->as_string() != k_cache_artifact_type)
    fail(Exit::registry, "{}: not an xbuild cache (artifactType is not {})", where, k_cache_artifact_type);
  CacheArtifact out;
  if (auto* a = o.if_contains("annotations"); a && a->is_object())
    for (const auto& [k, v] : a->as_object())
      if (v.is_string()) out.annotations[std::string(k)] = std::string(v.as_string());
  auto* layers = o.if_contains("layers");
  if (!layers || !layers->is_array()) fail(Exit::registry, "{}: no layers array", where);
  std::size_t i = 0;
  std::set<std::string> names;
  for (const auto& l : layers->as_array()) {
    Descriptor d = descriptor_from_json(l, fmt::format("{} layers[{}]", where, i++));
    auto title = d.annotations.find(std::string(annotation::k_title));
    if (title == d.annotations.end() || !valid_chunk_name(title->second))
      fail(Exit::registry, "{}: layer {} has no chunk name ({}) xbuild writes", where, d.digest.str(), annotation::k_title);
    if (!names.insert(title->second).second) fail(Exit::registry, "{}: chunk {} is listed twice", where, title->second);
    if (d.size > k_max_chunk_bytes)
      fail(Exit::registry, "{}: chunk {} declares {} bytes, more than the {} a chunk may have; not downloading it", where,
           title->second, d.size, k_max_chunk_bytes);
    out.chunks.push_back(std::move(d));
  }
  return out;
}

}  // namespace xb::oci
