// libarchive reading, behind this file only. Entry names are taken with or without a
// leading "./" so archives from other tools (skopeo, umoci) read the same.

#include "oci/archive_source.hpp"
#include "oci/descriptor.hpp"
#include "oci/media_types.hpp"
#include "util/error.hpp"
#include "util/fd.hpp"
#include "util/sha256.hpp"

#include <archive.h>
#include <archive_entry.h>
#include <boost/json.hpp>

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <functional>

namespace xb::oci {

namespace fs = std::filesystem;

namespace {

// What an entry that is parsed as JSON may weigh, checked against the tar header before a
// byte is read and again while reading (a header can lie: a sparse entry expands, a pax size
// overrides the ustar one). The caps are the registry client's (oci/descriptor.hpp), so an
// image that can be pulled can be read from an archive and the other way round.
constexpr std::int64_t k_max_manifest = k_max_manifest_bytes;
constexpr std::int64_t k_max_config = k_max_config_bytes;
constexpr std::int64_t k_max_layout_file = 64 * 1024;  ///< oci-layout: {"imageLayoutVersion":"1.0.0"}
// Small blobs are kept from the first pass (no second scan of the tar for each manifest),
// within a budget, so an archive of many sparse 4 MiB entries cannot fill memory either.
constexpr std::int64_t k_cache_budget = 64 * 1024 * 1024;

struct Reader {
  struct archive* a;
  explicit Reader(const fs::path& file) : a(archive_read_new()) {
    archive_read_support_format_tar(a);
    archive_read_support_filter_all(a);
    if (archive_read_open_filename(a, file.c_str(), 1 << 16) != ARCHIVE_OK) {
      // The destructor does not run for a constructor that throws: free the handle here.
      std::string why = archive_error_string(a) ? archive_error_string(a) : "unknown error";
      archive_read_free(a);
      fail(Exit::usage, "cannot read archive '{}': {}", file.string(), why);
    }
  }
  ~Reader() { archive_read_free(a); }
};

std::string entry_name(struct archive_entry* e) {
  const char* p = archive_entry_pathname(e);
  std::string n = p ? p : "";
  while (n.rfind("./", 0) == 0) n = n.substr(2);
  return n;
}

std::string mib(std::int64_t n) { return fmt::format("{} MiB", n / (1024 * 1024)); }

/// The cap for a blob of this media type that is parsed as JSON, or -1 (a layer: its
/// descriptor's size is the only bound).
std::int64_t json_cap(std::string_view media_type) {
  if (media::is_index(media_type) || media::is_manifest(media_type)) return k_max_manifest;
  if (media_type.size() >= 4 && media_type.substr(media_type.size() - 4) == "json") return k_max_config;
  return -1;
}

/// Feeds the current entry's data to `sink` in chunks, and fails as soon as more than
/// `limit` bytes came (before they are handed on).
void read_entry(struct archive* a, const fs::path& file, const std::string& name, std::int64_t limit,
                const std::function<void(const char*, std::size_t)>& sink) {
  char buf[1 << 16];
  std::int64_t total = 0;
  for (;;) {
    la_ssize_t n = archive_read_data(a, buf, sizeof buf);
    if (n < 0) fail(Exit::build_failed, "reading archive '{}' entry {}: {}", file.string(), name, archive_error_string(a));
    if (n == 0) return;
    total += n;
    if (total > limit)
      fail(Exit::usage, "oci-archive '{}': entry {} holds more than the {} bytes its header or descriptor declares; "
           "stopped reading (the archive is corrupt or crafted)", file.string(), name, limit);
    sink(buf, static_cast<std::size_t>(n));
  }
}

/// The whole entry, at most `limit` bytes (checked against its header first).
std::string read_small(struct archive* a, struct archive_entry* e, const fs::path& file, const std::string& name,
                       std::int64_t cap, std::string_view what) {
  std::int64_t declared = archive_entry_size_is_set(e) ? archive_entry_size(e) : -1;
  if (declared > cap)
    fail(Exit::usage, "oci-archive '{}': entry {} declares {} bytes, more than the {} {} may have; not reading it",
         file.string(), name, declared, cap >= 1024 * 1024 ? mib(cap) : fmt::format("{} bytes", cap), what);
  std::string out;
  read_entry(a, file, name, declared >= 0 ? declared : cap, [&](const char* p, std::size_t n) { out.append(p, n); });
  return out;
}

}  // namespace

bool ArchiveSource::is_archive(const fs::path& path) { return fs::is_regular_file(path); }

ArchiveSource::ArchiveSource(fs::path file) : m_file(std::move(file)) {
  Reader r(m_file);
  struct archive_entry* e;
  bool layout = false, have_index = false;
  std::int64_t cached = 0;
  int rc;
  while ((rc = archive_read_next_header(r.a, &e)) == ARCHIVE_OK) {
    std::string name = entry_name(e);
    bool regular = archive_entry_filetype(e) == AE_IFREG;
    if (name == "index.json" || name == "oci-layout") {
      if (!regular) fail(Exit::usage, "oci-archive '{}': {} is not a regular file", m_file.string(), name);
      bool index = name == "index.json";
      if (index ? have_index : layout) fail(Exit::usage, "oci-archive '{}' holds {} twice", m_file.string(), name);
      std::string bytes = read_small(r.a, e, m_file, name, index ? k_max_manifest : k_max_layout_file,
                                     index ? "an index" : "an oci-layout file");
      if (index) {
        m_index = std::move(bytes);
        have_index = true;
      } else {
        auto o = parse_json_object(bytes, describe() + " oci-layout");
        if (!o.contains("imageLayoutVersion"))
          fail(Exit::usage, "oci-archive '{}': oci-layout has no imageLayoutVersion", m_file.string());
        layout = true;
      }
    } else if (name.rfind("blobs/", 0) == 0 && regular) {
      std::string key = name.substr(6);
      if (m_sizes.count(key)) fail(Exit::usage, "oci-archive '{}' holds {} twice", m_file.string(), name);
      std::int64_t size = archive_entry_size_is_set(e) ? archive_entry_size(e) : -1;
      m_sizes[key] = size;
      if (size >= 0 && size <= k_max_manifest && cached + size <= k_cache_budget) {
        m_small[key] = read_small(r.a, e, m_file, name, k_max_manifest, "a cached blob");
        cached += size;
      }
    }
  }
  if (rc != ARCHIVE_EOF) fail(Exit::usage, "'{}' is not a readable tar: {}", m_file.string(), archive_error_string(r.a));
  if (!layout || !have_index)
    fail(Exit::usage, "'{}' is not an oci-archive: it holds no oci-layout and index.json", m_file.string());
}

std::vector<Descriptor> ArchiveSource::entries() {
  auto o = parse_json_object(m_index, describe() + " index.json");
  std::vector<Descriptor> out;
  if (const auto* m = o.if_contains("manifests"); m && m->is_array()) {
    std::size_t i = 0;
    for (const auto& v : m->get_array()) {
      Descriptor d = descriptor_from_json(v, fmt::format("{} index.json manifests[{}]", describe(), i++));
      if (!is_referrer(d)) out.push_back(std::move(d));  // an SBOM is not an image
    }
  }
  return out;
}

void ArchiveSource::check_size(const Descriptor& d, std::int64_t cap) const {
  std::string name = "blobs/" + d.digest.algorithm() + "/" + d.digest.hex();
  if (d.size < 0) fail(Exit::usage, "oci-archive '{}': the descriptor of {} has a negative size", m_file.string(), name);
  if (cap >= 0 && d.size > cap)
    fail(Exit::usage, "oci-archive '{}': entry {} ({}) is {} bytes by its descriptor, more than the {} xbuild reads for "
         "it; not reading it", m_file.string(), name, d.media_type, d.size, mib(cap));
  auto it = m_sizes.find(d.digest.algorithm() + "/" + d.digest.hex());
  if (it == m_sizes.end())
    fail(Exit::build_failed, "corrupt oci-archive {}: blob {} is missing", m_file.string(), d.digest.str());
  if (it->second >= 0 && it->second != d.size)
    fail(Exit::build_failed, "corrupt oci-archive {}: entry {} has {} bytes, its descriptor says {}", m_file.string(), name,
         it->second, d.size);
}

std::string ArchiveSource::read_blob(const Descriptor& d) {
  check_size(d, json_cap(d.media_type));
  std::string key = d.digest.algorithm() + "/" + d.digest.hex();
  if (auto it = m_small.find(key); it != m_small.end()) {
    if (d.digest.algorithm() == "sha256" && Digest::of(it->second) != d.digest)
      fail(Exit::build_failed, "corrupt oci-archive {}: blob {} does not match its digest", m_file.string(), d.digest.str());
    return it->second;
  }
  // A blob not kept from the first pass streams into memory, hashed and counted on the way:
  // the bytes returned are the bytes verified, with no file in between.
  std::string bytes;
  stream_blob(d, [&](const char* data, std::size_t n) { bytes.append(data, n); });
  return bytes;
}

void ArchiveSource::copy_blob(const Descriptor& d, const fs::path& dest) {
  check_size(d, -1);
  // O_NOFOLLOW: a symlink put in dest's place is refused, not written through.
  Fd out(::open(dest.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600));
  if (!out) fail(Exit::environment, "cannot write {}: {}", dest.string(), std::strerror(errno));
  stream_blob(d, [&](const char* data, std::size_t n) {
    while (n > 0) {
      ssize_t w = ::write(out.get(), data, n);
      if (w < 0 && errno == EINTR) continue;
      if (w <= 0) fail(Exit::environment, "cannot write {}: {}", dest.string(), std::strerror(w < 0 ? errno : ENOSPC));
      data += w;
      n -= static_cast<std::size_t>(w);
    }
  });
}

void ArchiveSource::stream_blob(const Descriptor& d, const std::function<void(const char*, std::size_t)>& sink) {
  std::string want = "blobs/" + d.digest.algorithm() + "/" + d.digest.hex();
  Reader r(m_file);
  struct archive_entry* e;
  while (archive_read_next_header(r.a, &e) == ARCHIVE_OK) {
    if (entry_name(e) != want || archive_entry_filetype(e) != AE_IFREG) continue;
    Sha256 h;
    std::int64_t got = 0;
    read_entry(r.a, m_file, want, d.size, [&](const char* data, std::size_t n) {
      h.update(data, n);
      got += static_cast<std::int64_t>(n);
      sink(data, n);
    });
    if (got != d.size)
      fail(Exit::build_failed, "corrupt oci-archive {}: entry {} has {} bytes, its descriptor says {}", m_file.string(),
           want, got, d.size);
    if (d.digest.algorithm() == "sha256" && h.hex() != d.digest.hex())
      fail(Exit::build_failed, "corrupt oci-archive {}: blob {} does not match its digest", m_file.string(), d.digest.str());
    return;
  }
  fail(Exit::build_failed, "corrupt oci-archive {}: blob {} is missing", m_file.string(), d.digest.str());
}

}  // namespace xb::oci
