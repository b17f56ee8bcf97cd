// The store is read defensively (every field checked, any failure a miss) and written
// best effort, blob before record: a record only ever names a blob that was fully written,
// and a blob that is later damaged is caught by LayoutSource's hashing copy or by the
// writer's check of an existing blob.

#include "oci/reuse.hpp"

#include "oci/media_types.hpp"
#include "util/error.hpp"
#include "util/fs.hpp"
#include "util/temp.hpp"

#include <boost/json.hpp>

#include <set>
#include <system_error>

namespace xb::oci {

namespace fs = std::filesystem;
namespace json = boost::json;

namespace {

fs::path record_path(const fs::path& dir, const Platform& p) { return dir / "records" / (p.dir_name() + ".json"); }

/// The record at `path`, or nullopt when it is absent or not one.
std::optional<LayerRecord> read_record(const fs::path& path) {
  std::optional<std::string> text = read_file_if_readable(path);
  if (!text) return std::nullopt;
  try {
    json::object o = parse_json_object(*text, path.string());
    LayerRecord r;
    r.key = std::string(o.at("key").as_string());
    r.layer.descriptor = descriptor_from_json(o.at("layer"), path.string());
    r.layer.diff_id = Digest::parse(o.at("diff_id").as_string());
    r.layer.tar_size = o.at("tar_size").as_int64();
    r.layer.entries = static_cast<std::size_t>(o.at("entries").as_int64());
    r.manifest = std::string(o.at("manifest").as_string());
    if (r.layer.descriptor.digest.algorithm() != "sha256" || r.layer.descriptor.size < 0) return std::nullopt;
    return r;
  } catch (const std::exception&) {  // Error from the parsers, or boost's for a missing or mistyped field
    return std::nullopt;
  }
}

}  // namespace

LayerStore::LayerStore(fs::path dir) : m_dir(std::move(dir)) {}

std::optional<LayerRecord> LayerStore::find(const Platform& p, const std::string& key) const {
  if (m_dir.empty()) return std::nullopt;
  std::optional<LayerRecord> r = read_record(record_path(m_dir, p));
  if (!r || r->key != key) return std::nullopt;
  std::error_code ec;
  auto size = fs::file_size(m_dir / r->layer.descriptor.digest.blob_path(), ec);
  if (ec || static_cast<std::int64_t>(size) != r->layer.descriptor.size) return std::nullopt;
  return r;
}

bool LayerStore::put_into(LayoutWriter& writer, const Descriptor& d) const {
  std::error_code ec;
  if (fs::exists(writer.root() / d.digest.blob_path(), ec)) {
    writer.commit_blob(TempFile(), d);  // hashed there, exactly as a freshly packed layer would be
    return true;
  }
  TempFile tmp = writer.temp_blob();
  try {
    LayoutSource(m_dir).copy_blob(d, tmp.path());
  } catch (const Error& e) {
    // The store's blob is missing, short or not these bytes: pack instead. Anything else (the
    // destination cannot be written, a signal) is the export's own failure.
    if (e.code() != Exit::build_failed && e.code() != Exit::usage) throw;
    return false;
  }
  writer.commit_blob(std::move(tmp), d);
  return true;
}

void LayerStore::record(const Platform& p, const LayerRecord& rec, const fs::path& blob) const {
  if (m_dir.empty()) return;
  try {
    fs::path blobs = m_dir / "blobs" / "sha256";
    fs::create_directories(blobs);
    fs::create_directories(m_dir / "records");
    if (!fs::exists(m_dir / "oci-layout")) write_file_atomic(m_dir / "oci-layout", std::string(media::k_layout_file));
    if (!fs::exists(m_dir / "index.json"))
      write_file_atomic(m_dir / "index.json", json::serialize(json::object{{"schemaVersion", 2}, {"manifests", json::array{}}}));
    remove_stale_temps(blobs, ".tmp-");
    // Always from the image just written (whose blob the writer verified): a stored copy of
    // the same name may be the damaged one that made this a miss.
    TempFile t = TempFile::in(blobs, ".tmp-");
    t.close();
    fs::copy_file(blob, t.path(), fs::copy_options::overwrite_existing);
    t.commit(m_dir / rec.layer.descriptor.digest.blob_path());
    std::error_code ec;
    json::object o{{"key", rec.key},
                   {"layer", to_json(rec.layer.descriptor)},
                   {"diff_id", rec.layer.diff_id.str()},
                   {"tar_size", rec.layer.tar_size},
                   {"entries", static_cast<std::int64_t>(rec.layer.entries)},
                   {"manifest", rec.manifest}};
    write_file_atomic(record_path(m_dir, p), json::serialize(o));

    // One layer per platform: drop the blobs no record names (an older build's).
    std::set<std::string> named;
    for (const auto& e : fs::directory_iterator(m_dir / "records"))
      if (auto r = read_record(e.path())) named.insert(r->layer.descriptor.digest.hex());
    for (const auto& e : fs::directory_iterator(blobs)) {
      std::string name = e.path().filename().string();
      if (name.rfind(".tmp-", 0) != 0 && !named.count(name)) fs::remove(e.path(), ec);
    }
  } catch (const std::exception&) {
    // Best effort: the image is already written; the next build just packs again.
  }
}

}  // namespace xb::oci
