// Layout reading and writing. Reading verifies every blob it hands out (a layout is just
// files anyone may have edited); writing follows the order blobs -> index.json, each by
// rename, so a reader never sees an index that points at a missing blob.

#include "oci/layout.hpp"

#include "oci/media_types.hpp"
#include "util/error.hpp"
#include "util/fs.hpp"
#include "util/sha256.hpp"

#include <boost/json.hpp>
#include <fcntl.h>
#include <signal.h>
#include <sys/file.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <set>

namespace xb::oci {

namespace fs = std::filesystem;
namespace json = boost::json;

namespace {

const std::string k_recover = "remove the layout directory (or that blob) and build again";

std::vector<Descriptor> read_index_entries(const fs::path& dir) {
  fs::path index = dir / "index.json";
  std::string where = index.string();
  auto o = parse_json_object(read_file(index), where);
  std::vector<Descriptor> out;
  const json::value* m = o.if_contains("manifests");
  if (!m) return out;
  if (!m->is_array()) fail(Exit::build_failed, "{}: \"manifests\" is not an array", where);
  std::size_t i = 0;
  for (const auto& v : m->get_array()) out.push_back(descriptor_from_json(v, fmt::format("{} manifests[{}]", where, i++)));
  return out;
}

std::vector<Descriptor> children(const Descriptor& d, const std::string& bytes, const std::string& where) {
  std::vector<Descriptor> out;
  auto o = parse_json_object(bytes, where);
  if (media::is_index(d.media_type)) {
    if (const json::value* m = o.if_contains("manifests"); m && m->is_array()) {
      std::size_t i = 0;
      for (const auto& v : m->get_array()) out.push_back(descriptor_from_json(v, fmt::format("{} manifests[{}]", where, i++)));
    }
  } else if (media::is_manifest(d.media_type)) {
    if (const json::value* c = o.if_contains("config")) out.push_back(descriptor_from_json(*c, where + " config"));
    if (const json::value* l = o.if_contains("layers"); l && l->is_array()) {
      std::size_t i = 0;
      for (const auto& v : l->get_array()) out.push_back(descriptor_from_json(v, fmt::format("{} layers[{}]", where, i++)));
    }
  }
  return out;
}

/// fsync(2) of a file or directory; errors are ignored (some filesystems refuse it on dirs).
void sync_path(const fs::path& p) {
  int fd = ::open(p.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return;
  ::fsync(fd);
  ::close(fd);
}

bool pid_gone(long pid) { return pid > 0 && ::kill(static_cast<pid_t>(pid), 0) != 0 && errno == ESRCH; }

}  // namespace

void remove_stale(const fs::path& dir, const std::string& prefix) {
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    std::string name = e.path().filename().string();
    if (name.rfind(prefix, 0) != 0) continue;
    if (pid_gone(std::strtol(name.c_str() + prefix.size(), nullptr, 10))) fs::remove_all(e.path(), ec);
  }
}

namespace {

bool is_json_blob(const Descriptor& d) {
  return media::is_index(d.media_type) || media::is_manifest(d.media_type) || d.media_type.find("json") != std::string::npos;
}

}  // namespace

Digest digest_of_file(const fs::path& path) { return Digest::from_sha256_hex(sha256_file(path)); }

LayoutSource::LayoutSource(fs::path dir) : m_dir(std::move(dir)) {
  if (!fs::is_directory(m_dir)) fail(Exit::usage, "'{}' is not a directory holding an OCI image layout", m_dir.string());
  if (!fs::exists(m_dir / "oci-layout"))
    fail(Exit::usage, "'{}' is not an OCI image layout: it has no oci-layout file", m_dir.string());
  if (!fs::exists(m_dir / "index.json"))
    fail(Exit::build_failed, "corrupt OCI layout '{}': index.json is missing; {}", m_dir.string(), k_recover);
}

std::vector<Descriptor> LayoutSource::entries() { return read_index_entries(m_dir); }

void LayoutSource::verify_blob(const Descriptor& d, bool hash) const {
  fs::path p = blob_path(d.digest);
  std::error_code ec;
  auto size = fs::file_size(p, ec);
  if (ec) fail(Exit::build_failed, "corrupt OCI layout: blob {} is missing ({} {}); {}", p.string(), d.media_type, d.digest.str(), k_recover);
  if (static_cast<std::int64_t>(size) != d.size)
    fail(Exit::build_failed, "corrupt OCI layout: blob {} has {} bytes, its descriptor says {}; {}", p.string(), size, d.size, k_recover);
  if (hash && d.digest.algorithm() == "sha256") {
    Digest got = digest_of_file(p);
    if (got != d.digest)
      fail(Exit::build_failed, "corrupt OCI layout: blob {} has digest {}, expected {}; {}", p.string(), got.str(), d.digest.str(), k_recover);
  }
}

std::string LayoutSource::read_blob(const Descriptor& d) {
  fs::path p = blob_path(d.digest);
  if (!fs::exists(p)) fail(Exit::build_failed, "corrupt OCI layout: blob {} is missing ({} {}); {}", p.string(), d.media_type, d.digest.str(), k_recover);
  std::string bytes = read_file(p);
  if (d.digest.algorithm() == "sha256" && Digest::of(bytes) != d.digest)
    fail(Exit::build_failed, "corrupt OCI layout: blob {} has digest {}, expected {}; {}", p.string(), Digest::of(bytes).str(), d.digest.str(), k_recover);
  if (static_cast<std::int64_t>(bytes.size()) != d.size)
    fail(Exit::build_failed, "corrupt OCI layout: blob {} has {} bytes, its descriptor says {}; {}", p.string(), bytes.size(), d.size, k_recover);
  return bytes;
}

void LayoutSource::copy_blob(const Descriptor& d, const fs::path& dest) {
  verify_blob(d, true);
  fs::copy_file(blob_path(d.digest), dest, fs::copy_options::overwrite_existing);
}

void LayoutSource::verify_tree(const Descriptor& top) {
  for (const auto& d : reachable(*this, top)) verify_blob(d, is_json_blob(d));
}

std::vector<Descriptor> reachable(BlobSource& src, const Descriptor& top) {
  std::vector<Descriptor> out;
  std::set<Digest> seen;
  std::function<void(const Descriptor&)> walk = [&](const Descriptor& d) {
    if (!seen.insert(d.digest).second) return;
    if (media::is_index(d.media_type) || media::is_manifest(d.media_type)) {
      std::string bytes = src.read_blob(d);
      for (const auto& c : children(d, bytes, src.describe() + " " + d.digest.str())) walk(c);
    }
    out.push_back(d);
  };
  walk(top);
  return out;
}

// ---- writer ----

LayoutWriter::LayoutWriter(fs::path dest, std::vector<std::string> replaced_refs) : m_dest(std::move(dest)) {
  std::error_code ec;
  {
    fs::path parent = fs::absolute(m_dest).parent_path();
    fs::create_directories(parent, ec);
    m_lock.fd = ::open(parent.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (m_lock.fd >= 0 && ::flock(m_lock.fd, LOCK_EX | LOCK_NB) != 0) {
      fmt::print(stderr, "xbuild: waiting for another xbuild writing into {}\n", parent.string());
      ::flock(m_lock.fd, LOCK_EX);
    }
  }
  if (fs::exists(m_dest, ec) && !fs::is_directory(m_dest))
    fail(Exit::usage, "output '{}' exists and is not a directory; an OCI layout is a directory (use type=oci-archive for a file)", m_dest.string());
  bool existing = fs::exists(m_dest / "oci-layout");
  if (!existing && fs::is_directory(m_dest) && !fs::is_empty(m_dest))
    fail(Exit::usage, "output '{}' is a non-empty directory but not an OCI layout (no oci-layout file); choose another dest or empty it", m_dest.string());

  if (existing) {
    LayoutSource src(m_dest);
    std::set<std::string> replaced(replaced_refs.begin(), replaced_refs.end());
    for (const auto& d : src.entries()) {
      auto ref = d.annotations.find(std::string(annotation::k_ref_name));
      if (ref != d.annotations.end() && replaced.count(ref->second)) continue;
      src.verify_tree(d);
      m_existing.push_back(d);
    }
    m_root = m_dest;
    remove_stale(m_root / "blobs" / "sha256", ".tmp-");
    if (::access(m_root.c_str(), W_OK) != 0)
      fail(Exit::environment, "cannot write to OCI layout '{}': {}", m_root.string(), std::strerror(errno));
    fs::create_directories(m_root / "blobs" / "sha256", ec);
  } else {
    fs::path parent = m_dest.parent_path().empty() ? fs::path(".") : m_dest.parent_path();
    fs::create_directories(parent, ec);
    if (ec) fail(Exit::environment, "cannot create output directory '{}': {}", parent.string(), ec.message());
    remove_stale(parent, fmt::format(".{}.xbuild-", m_dest.filename().string()));
    m_root = parent / fmt::format(".{}.xbuild-{}", m_dest.filename().string(), ::getpid());
    fs::remove_all(m_root, ec);
    fs::create_directories(m_root / "blobs" / "sha256", ec);
    if (ec) fail(Exit::environment, "cannot write output '{}': cannot create {}: {}", m_dest.string(), m_root.string(), ec.message());
    m_staged = true;
  }
  write_file_atomic(m_root / "oci-layout", std::string(media::k_layout_file));
}

LayoutWriter::~LayoutWriter() {
  std::error_code ec;
  for (const auto& t : m_temps) fs::remove(t, ec);
  if (m_staged && !m_committed) fs::remove_all(m_root, ec);
}

LayoutWriter::DirLock::~DirLock() {
  if (fd >= 0) ::close(fd);  // releases the flock
}

fs::path LayoutWriter::temp_blob() {
  static std::atomic<unsigned> counter{0};
  fs::path p = m_root / "blobs" / "sha256" / fmt::format(".tmp-{}-{}", ::getpid(), counter++);
  m_temps.push_back(p);
  return p;
}

void LayoutWriter::commit_blob(const fs::path& temp, const Descriptor& d) {
  fs::path final = m_root / d.digest.blob_path();
  std::error_code ec;
  if (fs::exists(final)) {
    Digest got = digest_of_file(final);
    if (got != d.digest)
      fail(Exit::build_failed, "corrupt OCI layout: blob {} has digest {}, expected {}; {}", final.string(), got.str(), d.digest.str(), k_recover);
    fs::remove(temp, ec);
    return;
  }
  fs::create_directories(final.parent_path(), ec);
  sync_path(temp);  // the bytes are on disk before any index can name them
  if (::rename(temp.c_str(), final.c_str()) != 0)
    fail(Exit::environment, "cannot rename {} to {}: {}", temp.string(), final.string(), std::strerror(errno));
}

Descriptor LayoutWriter::put_bytes(std::string_view media_type, std::string_view bytes) {
  Descriptor d = Descriptor::of(media_type, bytes);
  fs::path final = m_root / d.digest.blob_path();
  if (fs::exists(final)) {
    commit_blob({}, d);  // verifies the existing blob
    return d;
  }
  fs::path t = temp_blob();
  {
    std::ofstream out(t, std::ios::binary);
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    if (!out.flush()) fail(Exit::environment, "cannot write {}: {}", t.string(), std::strerror(errno));
  }
  commit_blob(t, d);
  return d;
}

void LayoutWriter::put_from(BlobSource& src, const Descriptor& d) {
  fs::path final = m_root / d.digest.blob_path();
  if (fs::exists(final)) {
    commit_blob({}, d);
    return;
  }
  fs::path t = temp_blob();
  src.copy_blob(d, t);
  commit_blob(t, d);
}

void LayoutWriter::commit(const std::vector<Descriptor>& entries) {
  std::set<std::string> refs;
  for (const auto& e : entries) {
    auto r = e.annotations.find(std::string(annotation::k_ref_name));
    if (r != e.annotations.end()) refs.insert(r->second);
  }
  json::array manifests;
  for (const auto& d : m_existing) {
    auto r = d.annotations.find(std::string(annotation::k_ref_name));
    if (r != d.annotations.end() && refs.count(r->second)) continue;
    manifests.push_back(to_json(d));
  }
  for (const auto& d : entries) manifests.push_back(to_json(d));
  json::object index;
  index["schemaVersion"] = 2;
  index["mediaType"] = media::k_index;
  index["manifests"] = std::move(manifests);
  sync_path(m_root / "blobs" / "sha256");  // the renames too
  write_file_atomic(m_root / "index.json", json::serialize(index));
  if (m_staged) {
    std::error_code ec;
    if (fs::is_directory(m_dest)) fs::remove(m_dest, ec);  // an empty directory
    if (::rename(m_root.c_str(), m_dest.c_str()) != 0)
      fail(Exit::environment, "cannot rename {} to {}: {}", m_root.string(), m_dest.string(), std::strerror(errno));
    m_root = m_dest;
  }
  m_committed = true;
}

}  // namespace xb::oci
