// Layout reading and writing. Reading verifies every blob it hands out (a layout is just
// files anyone may have edited); writing follows the order blobs -> index.json, each by
// rename, so a reader never sees an index that points at a missing blob.

#include "oci/layout.hpp"

#include "oci/media_types.hpp"
#include "util/error.hpp"
#include "util/fd.hpp"
#include "util/interrupt.hpp"
#include "util/fs.hpp"
#include "util/sha256.hpp"
#include "util/temp.hpp"

#include <boost/json.hpp>
#include <fcntl.h>
#include <signal.h>
#include <sys/file.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <set>

namespace xb::oci {

namespace fs = std::filesystem;
namespace json = boost::json;

namespace {

const std::string k_recover = "remove the layout directory (or that blob) and build again";

std::vector<Descriptor> read_index_entries(const fs::path& dir) {
  fs::path index = dir / "index.json";
  std::string where = index.string();
  // An index.json that is not one is bad input (exit 2, naming the file), as a bad xbuild.toml;
  // one that is there but cannot be read is a file-system problem (exit 3), not corruption:
  // removing the layout would be the wrong advice.
  std::error_code ec;
  if (fs::is_regular_file(index, ec)) {
    if (int fd = ::open(index.c_str(), O_RDONLY | O_CLOEXEC); fd < 0)
      fail(Exit::environment, "cannot read {}: {} (check the permissions of the layout {})", where,
           std::strerror(errno), dir.string());
    else
      ::close(fd);
  }
  try {
    auto o = parse_json_object(read_file(index), where);
    std::vector<Descriptor> out;
    const json::value* m = o.if_contains("manifests");
    if (!m) return out;
    if (!m->is_array()) fail(Exit::usage, "{}: \"manifests\" is not an array", where);
    std::size_t i = 0;
    for (const auto& v : m->get_array()) out.push_back(descriptor_from_json(v, fmt::format("{} manifests[{}]", where, i++)));
    return out;
  } catch (const Error& e) {
    if (e.code() != Exit::build_failed && e.code() != Exit::usage) throw;
    throw Error(fmt::format("corrupt OCI layout: {}; {}", e.what(), k_recover), Exit::usage);
  }
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
    fail(Exit::usage, "corrupt OCI layout '{}': index.json is missing; {}", m_dir.string(), k_recover);
}

std::pair<fs::path, std::string> split_layout_ref(std::string_view text) {
  std::string s(text);
  if (s.rfind("oci:", 0) == 0) s = s.substr(4);
  else if (s.rfind("oci-archive:", 0) == 0) s = s.substr(12);
  if (s.empty() || s[0] == ':')
    fail(Exit::usage, "'{}' names no OCI layout or oci-archive: expected DIR[:TAG] or FILE.tar[:TAG]", text);
  std::error_code ec;
  if (fs::exists(s, ec)) return {fs::path(s), ""};
  auto colon = s.rfind(':');
  if (colon != std::string::npos && s.find('/', colon) == std::string::npos)
    return {fs::path(s.substr(0, colon)), s.substr(colon + 1)};
  return {fs::path(s), ""};
}

std::vector<Descriptor> LayoutSource::entries() {
  std::vector<Descriptor> out;
  for (auto& d : read_index_entries(m_dir))
    if (!is_referrer(d)) out.push_back(std::move(d));
  return out;
}

std::vector<Descriptor> LayoutSource::referrers() {
  std::vector<Descriptor> out;
  for (auto& d : read_index_entries(m_dir))
    if (is_referrer(d)) out.push_back(std::move(d));
  return out;
}

void LayoutSource::verify_blob(const Descriptor& d, Verify what) const {
  fs::path p = blob_path(d.digest);
  std::error_code ec;
  auto size = fs::file_size(p, ec);
  if (ec) fail(Exit::build_failed, "corrupt OCI layout: blob {} is missing ({} {}); {}", p.string(), d.media_type, d.digest.str(), k_recover);
  if (static_cast<std::int64_t>(size) != d.size)
    fail(Exit::build_failed, "corrupt OCI layout: blob {} has {} bytes, its descriptor says {}; {}", p.string(), size, d.size, k_recover);
  if (what == Verify::digest && d.digest.algorithm() == "sha256") {
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
  // One pass: the bytes written to `dest` are the bytes hashed, not a second read. Plain
  // read/write, so a failure is reported with its errno (ENOSPC: "No space left on device").
  verify_blob(d, Verify::size);
  fs::path p = blob_path(d.digest);
  Fd in(::open(p.c_str(), O_RDONLY | O_CLOEXEC));
  if (!in) fail(Exit::build_failed, "cannot read blob {}: {}", p.string(), std::strerror(errno));
  Fd out(::open(dest.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
  if (!out) fail(Exit::environment, "cannot write {}: {}", dest.string(), std::strerror(errno));
  Sha256 h;
  std::vector<char> buf(1 << 20);
  for (;;) {
    throw_if_interrupted("copying blob " + d.digest.str());
    ssize_t n = ::read(in.get(), buf.data(), buf.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) fail(Exit::build_failed, "cannot read blob {}: {}", p.string(), std::strerror(errno));
    if (n == 0) break;
    h.update(buf.data(), static_cast<std::size_t>(n));
    for (ssize_t done = 0; done < n;) {
      ssize_t w = ::write(out.get(), buf.data() + done, static_cast<std::size_t>(n - done));
      if (w < 0 && errno == EINTR) continue;
      if (w < 0) fail(Exit::environment, "cannot write {}: {}", dest.string(), std::strerror(errno));
      done += w;
    }
  }
  if (::close(out.release()) != 0) fail(Exit::environment, "cannot write {}: {}", dest.string(), std::strerror(errno));
  if (d.digest.algorithm() == "sha256" && h.hex() != d.digest.hex())
    fail(Exit::build_failed, "corrupt OCI layout: blob {} does not hash to {}; {}", p.string(), d.digest.str(), k_recover);
}

void LayoutSource::verify_tree(const Descriptor& top) {
  for (const auto& d : reachable(*this, top)) verify_blob(d, is_json_blob(d) ? Verify::digest : Verify::size);
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
    m_lock = lock_file(parent, LockWait::no);
    if (!m_lock) {
      fmt::print(stderr, "xbuild: waiting for another xbuild writing into {}\n", parent.string());
      m_lock = lock_file(parent);
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
    for (const auto& d : read_index_entries(m_dest)) {  // the images and the referrers
      auto ref = d.annotations.find(std::string(annotation::k_ref_name));
      if (ref != d.annotations.end() && replaced.count(ref->second)) continue;
      src.verify_tree(d);
      m_existing.push_back(d);
    }
    m_root = m_dest;
    remove_stale_temps(m_root / "blobs" / "sha256", ".tmp-");
    if (::access(m_root.c_str(), W_OK) != 0)
      fail(Exit::environment, "cannot write to OCI layout '{}': {}", m_root.string(), std::strerror(errno));
    fs::create_directories(m_root / "blobs" / "sha256", ec);
  } else {
    fs::path parent = m_dest.parent_path().empty() ? fs::path(".") : m_dest.parent_path();
    fs::create_directories(parent, ec);
    if (ec) fail(Exit::environment, "cannot create output directory '{}': {}", parent.string(), ec.message());
    remove_stale_temps(parent, temp_prefix_beside(m_dest, "xbuild"));
    m_stage = TempDirectory::beside(m_dest, "xbuild");
    m_root = m_stage.path();
    fs::create_directories(m_root / "blobs" / "sha256", ec);
    if (ec) fail(Exit::environment, "cannot write output '{}': cannot create {}: {}", m_dest.string(), m_root.string(), ec.message());
  }
  write_file_if_changed(m_root / "oci-layout", std::string(media::k_layout_file));
}

LayoutWriter::~LayoutWriter() = default;  // an uncommitted stage and temps remove themselves

TempFile LayoutWriter::temp_blob() { return TempFile::in(m_root / "blobs" / "sha256", ".tmp-"); }

void LayoutWriter::commit_blob(TempFile temp, const Descriptor& d) {
  fs::path final = m_root / d.digest.blob_path();
  std::error_code ec;
  if (fs::exists(final)) {
    Digest got = digest_of_file(final);
    if (got != d.digest)
      fail(Exit::build_failed, "corrupt OCI layout: blob {} has digest {}, expected {}; {}", final.string(), got.str(), d.digest.str(), k_recover);
    return;  // `temp` removes itself
  }
  fs::create_directories(final.parent_path(), ec);
  temp.commit(final);  // fsynced first: the bytes are on disk before any index can name them
  m_added_blobs = true;
}

Descriptor LayoutWriter::put_bytes(std::string_view media_type, std::string_view bytes) {
  Descriptor d = Descriptor::of(media_type, bytes);
  fs::path final = m_root / d.digest.blob_path();
  if (fs::exists(final)) {
    commit_blob(TempFile(), d);  // verifies the existing blob
    return d;
  }
  TempFile t = temp_blob();
  t.write(bytes);
  commit_blob(std::move(t), d);
  return d;
}

void LayoutWriter::put_from(BlobSource& src, const Descriptor& d) {
  fs::path final = m_root / d.digest.blob_path();
  if (fs::exists(final)) {
    commit_blob(TempFile(), d);
    return;
  }
  TempFile t = temp_blob();
  src.copy_blob(d, t.path());
  commit_blob(std::move(t), d);
}

void LayoutWriter::commit(const std::vector<Descriptor>& entries) {
  std::set<std::string> refs;
  for (const auto& e : entries) {
    auto r = e.annotations.find(std::string(annotation::k_ref_name));
    if (r != e.annotations.end()) refs.insert(r->second);
  }
  std::vector<Descriptor> kept;
  for (const auto& d : m_existing) {
    auto r = d.annotations.find(std::string(annotation::k_ref_name));
    if (r != d.annotations.end() && refs.count(r->second)) continue;
    kept.push_back(d);
  }
  // A referrer (an SBOM) stays only while its subject is still an image here (a tagged
  // entry or one of its platform manifests), and once: the same build writes the same one.
  std::set<Digest> live, listed;
  auto add_live = [&](const Descriptor& d) {
    live.insert(d.digest);
    if (!media::is_index(d.media_type)) return;
    std::string bytes = read_file(m_root / d.digest.blob_path());
    for (const auto& c : children(d, bytes, m_root.string() + " " + d.digest.str())) live.insert(c.digest);
  };
  for (const auto& d : kept)
    if (!is_referrer(d)) add_live(d);
  for (const auto& d : entries)
    if (!is_referrer(d)) add_live(d);
  for (const auto& d : entries) listed.insert(d.digest);
  json::array manifests;
  for (const auto& d : kept) {
    if (is_referrer(d)) {
      if (listed.count(d.digest)) continue;
      json::object m = parse_json_object(read_file(m_root / d.digest.blob_path()), m_root.string() + " referrer " + d.digest.str());
      const json::value* subject = m.if_contains("subject");
      if (!subject || !live.count(descriptor_from_json(*subject, "subject of referrer " + d.digest.str()).digest)) continue;
    }
    manifests.push_back(to_json(d));
  }
  for (const auto& d : entries) manifests.push_back(to_json(d));
  json::object index;
  index["schemaVersion"] = 2;
  index["mediaType"] = media::k_index;
  index["manifests"] = std::move(manifests);
  std::string text = json::serialize(index);
  // A rewrite that adds no blob and leaves index.json as it is (a no-op rebuild) has nothing
  // to make durable: skip the fsyncs.
  if (m_stage.path().empty() && !m_added_blobs && read_file_if_readable(m_root / "index.json") == text) return;
  sync_path(m_root / "blobs" / "sha256");  // the renames too
  write_file_atomic(m_root / "index.json", text);
  if (!m_stage.path().empty()) {
    std::error_code ec;
    if (fs::is_directory(m_dest)) fs::remove(m_dest, ec);  // an empty directory
    m_stage.commit(m_dest);
    m_root = m_dest;
  }
}

}  // namespace xb::oci
