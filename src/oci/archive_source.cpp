// libarchive reading, behind this file only. Entry names are taken with or without a
// leading "./" so archives from other tools (skopeo, umoci) read the same.

#include "oci/archive_source.hpp"

#include "util/error.hpp"
#include "util/sha256.hpp"

#include <archive.h>
#include <archive_entry.h>
#include <boost/json.hpp>

#include <cstdio>
#include <functional>
#include <memory>

namespace xb::oci {

namespace fs = std::filesystem;

namespace {

constexpr std::int64_t k_small = 4 * 1024 * 1024;

struct Reader {
  struct archive* a;
  explicit Reader(const fs::path& file) : a(archive_read_new()) {
    archive_read_support_format_tar(a);
    archive_read_support_filter_all(a);
    if (archive_read_open_filename(a, file.c_str(), 1 << 16) != ARCHIVE_OK)
      fail(Exit::usage, "cannot read archive '{}': {}", file.string(), archive_error_string(a) ? archive_error_string(a) : "unknown error");
  }
  ~Reader() { archive_read_free(a); }
};

std::string entry_name(struct archive_entry* e) {
  std::string n = archive_entry_pathname(e);
  while (n.rfind("./", 0) == 0) n = n.substr(2);
  return n;
}

std::string read_data(struct archive* a, const fs::path& file) {
  std::string out;
  char buf[65536];
  for (;;) {
    la_ssize_t n = archive_read_data(a, buf, sizeof buf);
    if (n < 0) fail(Exit::build_failed, "reading archive '{}': {}", file.string(), archive_error_string(a));
    if (n == 0) break;
    out.append(buf, static_cast<std::size_t>(n));
  }
  return out;
}

}  // namespace

bool ArchiveSource::is_archive(const fs::path& path) { return fs::is_regular_file(path); }

ArchiveSource::ArchiveSource(fs::path file) : m_file(std::move(file)) {
  Reader r(m_file);
  struct archive_entry* e;
  bool layout = false;
  int rc;
  while ((rc = archive_read_next_header(r.a, &e)) == ARCHIVE_OK) {
    std::string name = entry_name(e);
    if (name == "index.json") m_index = read_data(r.a, m_file);
    else if (name == "oci-layout") layout = true;
    else if (name.rfind("blobs/", 0) == 0 && archive_entry_filetype(e) == AE_IFREG && archive_entry_size(e) <= k_small)
      m_small[name.substr(6)] = read_data(r.a, m_file);
  }
  if (rc != ARCHIVE_EOF) fail(Exit::usage, "'{}' is not a readable tar: {}", m_file.string(), archive_error_string(r.a));
  if (!layout || m_index.empty())
    fail(Exit::usage, "'{}' is not an oci-archive: it holds no oci-layout and index.json", m_file.string());
}

std::vector<Descriptor> ArchiveSource::entries() {
  auto o = parse_json_object(m_index, describe() + " index.json");
  std::vector<Descriptor> out;
  if (const auto* m = o.if_contains("manifests"); m && m->is_array()) {
    std::size_t i = 0;
    for (const auto& v : m->get_array()) out.push_back(descriptor_from_json(v, fmt::format("{} index.json manifests[{}]", describe(), i++)));
  }
  return out;
}

std::string ArchiveSource::read_blob(const Descriptor& d) {
  std::string key = d.digest.algorithm() + "/" + d.digest.hex();
  if (auto it = m_small.find(key); it != m_small.end()) {
    if (d.digest.algorithm() == "sha256" && Digest::of(it->second) != d.digest)
      fail(Exit::build_failed, "corrupt oci-archive {}: blob {} does not match its digest", m_file.string(), d.digest.str());
    return it->second;
  }
  // A large blob streams straight into memory, hashed on the way: the bytes returned are
  // the bytes verified, with no file in between.
  std::string bytes;
  stream_blob(d, [&](const char* data, std::size_t n) { bytes.append(data, n); });
  return bytes;
}

void ArchiveSource::copy_blob(const Descriptor& d, const fs::path& dest) {
  std::unique_ptr<std::FILE, int (*)(std::FILE*)> out(std::fopen(dest.c_str(), "wbe"), &std::fclose);
  if (!out) fail(Exit::environment, "cannot write {}", dest.string());
  stream_blob(d, [&](const char* data, std::size_t n) {
    if (std::fwrite(data, 1, n, out.get()) != n) fail(Exit::environment, "cannot write {}", dest.string());
  });
  if (std::fflush(out.get()) != 0) fail(Exit::environment, "cannot write {}", dest.string());
}

void ArchiveSource::stream_blob(const Descriptor& d, const std::function<void(const char*, std::size_t)>& sink) {
  std::string want = "blobs/" + d.digest.algorithm() + "/" + d.digest.hex();
  Reader r(m_file);
  struct archive_entry* e;
  while (archive_read_next_header(r.a, &e) == ARCHIVE_OK) {
    if (entry_name(e) != want) continue;
    Sha256 h;
    char buf[1 << 16];
    for (;;) {
      la_ssize_t n = archive_read_data(r.a, buf, sizeof buf);
      if (n < 0) fail(Exit::build_failed, "reading archive '{}': {}", m_file.string(), archive_error_string(r.a));
      if (n == 0) break;
      h.update(buf, static_cast<std::size_t>(n));
      sink(buf, static_cast<std::size_t>(n));
    }
    if (d.digest.algorithm() == "sha256" && h.hex() != d.digest.hex())
      fail(Exit::build_failed, "corrupt oci-archive {}: blob {} does not match its digest", m_file.string(), d.digest.str());
    return;
  }
  fail(Exit::build_failed, "corrupt oci-archive {}: blob {} is missing", m_file.string(), d.digest.str());
}

}  // namespace xb::oci
