// Reading an OCI image layout exactly as the image-layout spec defines it (oci-layout,
// index.json, blobs/<alg>/<hex>), so any conforming writer's output can be pushed: xbuild's
// own, umoci's, skopeo's. Manifest bytes are hashed as read; big layers are only
// size-checked here because the registry verifies their digest on upload anyway. An
// oci-archive is unpacked (verified by ArchiveSource) into a private temp layout and then
// read the same way, so both inputs go through one reader.

#include "registry/image_set.hpp"

#include "oci/archive_source.hpp"
#include "oci/layout.hpp"
#include "oci/media_types.hpp"
#include "util/error.hpp"
#include "util/fs.hpp"
#include "util/sha256.hpp"
#include "util/strings.hpp"

#include <boost/json.hpp>

#include <set>

namespace xb::registry {
namespace {

namespace fs = std::filesystem;
namespace json = boost::json;

std::string read_blob_checked(const fs::path& layout, const oci::Descriptor& d, std::string_view where) {
  fs::path p = layout / d.digest.blob_path();
  std::error_code ec;
  if (!fs::is_regular_file(p, ec))
    fail(Exit::usage, "{}: {} names blob {} but {} does not exist", layout.string(), where, d.digest.str(), p.string());
  std::string bytes = read_file(p);
  if (static_cast<std::int64_t>(bytes.size()) != d.size)
    fail(Exit::usage, "{}: {} has size {} but its descriptor says {}", layout.string(), p.string(), bytes.size(), d.size);
  if (oci::Digest::from_sha256_hex(sha256_hex(bytes)) != d.digest)
    fail(Exit::usage, "{}: {} does not hash to its digest (the layout is corrupt)", layout.string(), p.string());
  return bytes;
}

void check_blob_file(const fs::path& layout, const oci::Descriptor& d, std::string_view where) {
  fs::path p = layout / d.digest.blob_path();
  std::error_code ec;
  auto size = fs::file_size(p, ec);
  if (ec) fail(Exit::usage, "{}: {} names blob {} but {} does not exist", layout.string(), where, d.digest.str(), p.string());
  if (static_cast<std::int64_t>(size) != d.size)
    fail(Exit::usage, "{}: {} has size {} but {} says {}", layout.string(), p.string(), size, where, d.size);
}

/// index.json's entries: the images, and the referrers (SBOMs, provenance) attached to them.
struct LayoutEntries {
  std::vector<oci::Descriptor> images;
  std::vector<oci::Descriptor> referrers;
};

// index.json's entries, read by oci::LayoutSource (the one reader of index.json: a corrupt
// one is exit 2 naming the file), after a clearer word for a directory that is no layout.
LayoutEntries index_entries(const fs::path& layout) {
  std::error_code ec;
  if (!fs::is_regular_file(layout / "oci-layout", ec))
    fail(Exit::usage, "{} is not an OCI image layout (no oci-layout file); build one with xbuild build "
                      "--output type=oci,dest={}", layout.string(), layout.string());
  oci::LayoutSource src(layout);
  return {src.entries(), src.referrers()};
}

std::string ref_name(const oci::Descriptor& d) {
  auto it = d.annotations.find(std::string(oci::annotation::k_ref_name));
  return it == d.annotations.end() ? std::string() : it->second;
}

}  // namespace

bool ImageSet::is_index() const { return oci::media::is_index(top.desc.media_type); }

void ImageSet::add_blob(const oci::Descriptor& d, BlobLocation where) {
  std::string key = d.digest.str();
  if (locations.count(key)) return;
  locations.emplace(key, std::move(where));
  blobs.push_back(d);
}

std::vector<oci::Descriptor> index_manifests(const std::string& bytes, std::string_view where) {
  auto index = oci::parse_json_object(bytes, where);
  const json::value* children = index.if_contains("manifests");
  if (!children || !children->is_array()) fail(Exit::usage, "{}: the image index has no manifests", where);
  std::vector<oci::Descriptor> out;
  int i = 0;
  for (const auto& c : children->get_array()) out.push_back(oci::descriptor_from_json(c, fmt::format("{} manifests[{}]", where, i++)));
  return out;
}

std::vector<oci::Descriptor> manifest_blobs(const std::string& bytes, std::string_view where) {
  auto m = oci::parse_json_object(bytes, where);
  std::vector<oci::Descriptor> out;
  const json::value* config = m.if_contains("config");
  if (!config) fail(Exit::usage, "{}: the manifest has no config", where);
  out.push_back(oci::descriptor_from_json(*config, fmt::format("{} config", where)));
  if (const json::value* layers = m.if_contains("layers"); layers && layers->is_array()) {
    int i = 0;
    for (const auto& l : layers->get_array()) out.push_back(oci::descriptor_from_json(l, fmt::format("{} layers[{}]", where, i++)));
  }
  return out;
}

std::vector<std::string> layout_tags(const fs::path& layout) {
  std::vector<std::string> tags;
  for (const auto& d : index_entries(layout).images) tags.push_back(ref_name(d));
  return tags;
}

ImageSet read_layout_image(const fs::path& layout, const std::string& tag) {
  auto [entries, referrers] = index_entries(layout);  // the images; the SBOMs attached to their manifests
  std::vector<std::string> names;
  for (const auto& e : entries) names.push_back(ref_name(e).empty() ? "(untagged)" : ref_name(e));

  const oci::Descriptor* chosen = nullptr;
  if (tag.empty()) {
    if (entries.size() != 1)
      fail(Exit::usage, "{} holds {} images ({}); say which one: {}:TAG", layout.string(), entries.size(),
           join(names, ", "), layout.string());
    chosen = &entries.front();
  } else {
    for (const auto& e : entries) {
      std::string n = ref_name(e);
      if (n == tag || (n.size() > tag.size() && n.compare(n.size() - tag.size() - 1, std::string::npos, ":" + tag) == 0)) {
        chosen = &e;
        break;
      }
    }
    if (!chosen)
      fail(Exit::usage, "{} has no image tagged '{}' (it has: {})", layout.string(), tag, join(names, ", "));
  }

  ImageSet set;
  set.top.desc = *chosen;
  set.top.desc.annotations.clear();
  set.top.bytes = read_blob_checked(layout, *chosen, "index.json");
  auto add_manifest_blobs = [&](const RawManifest& m, std::string_view where) {
    for (const auto& b : manifest_blobs(m.bytes, where)) {
      check_blob_file(layout, b, where);
      set.add_blob(b, BlobLocation{layout / b.digest.blob_path(), "", ""});
    }
  };
  if (oci::media::is_index(chosen->media_type)) {
    auto index = oci::parse_json_object(set.top.bytes, "the image index");
    const json::value* children = index.if_contains("manifests");
    if (!children || !children->is_array()) fail(Exit::usage, "{}: the image index has no manifests", layout.string());
    int n = 0;
    for (const auto& c : children->get_array()) {
      std::string where = fmt::format("{} index {} manifests[{}]", layout.string(), chosen->digest.short_hex(), n++);
      RawManifest child;
      child.desc = oci::descriptor_from_json(c, where);
      if (oci::media::is_index(child.desc.media_type))
        fail(Exit::usage, "{}: a nested index is not supported", where);
      child.bytes = read_blob_checked(layout, child.desc, where);
      add_manifest_blobs(child, where);
      set.children.push_back(std::move(child));
    }
  } else if (oci::media::is_manifest(chosen->media_type)) {
    add_manifest_blobs(set.top, fmt::format("{} manifest {}", layout.string(), chosen->digest.short_hex()));
  } else {
    fail(Exit::usage, "{}: the entry tagged '{}' has media type {}, not an image index or manifest", layout.string(),
         tag, chosen->media_type);
  }
  // The referrers whose subject is one of this image's manifests go with it.
  std::set<oci::Digest> subjects{set.top.desc.digest};
  for (const auto& c : set.children) subjects.insert(c.desc.digest);
  for (const auto& r : referrers) {
    std::string where = fmt::format("{} referrer {}", layout.string(), r.digest.short_hex());
    Referrer ref;
    ref.manifest.desc = r;
    ref.manifest.desc.annotations.clear();
    ref.manifest.bytes = read_blob_checked(layout, r, where);
    auto m = oci::parse_json_object(ref.manifest.bytes, where);
    const json::value* subject = m.if_contains("subject");
    if (!subject) continue;
    ref.subject = oci::descriptor_from_json(*subject, where + " subject");
    if (!subjects.count(ref.subject.digest)) continue;
    add_manifest_blobs(ref.manifest, where);
    set.referrers.push_back(std::move(ref));
  }
  return set;
}

ImageSet read_archive_image(const fs::path& file, const std::string& tag) {
  oci::ArchiveSource src(file);
  auto dir = std::make_shared<TempDirectory>(TempDirectory::scratch("xbuild-archive-"));
  const fs::path& root = dir->path();
  write_file_atomic(root / "oci-layout", oci::media::k_layout_file);
  json::array entries;
  std::set<std::string> copied;
  for (const auto& e : src.entries()) {
    entries.push_back(oci::to_json(e));
    for (const auto& d : oci::reachable(src, e)) {
      if (!copied.insert(d.digest.str()).second) continue;
      fs::create_directories((root / d.digest.blob_path()).parent_path());
      src.copy_blob(d, root / d.digest.blob_path());
    }
  }
  json::object index;
  index["schemaVersion"] = 2;
  index["mediaType"] = oci::media::k_index;
  index["manifests"] = std::move(entries);
  write_file_atomic(root / "index.json", json::serialize(index));
  try {
    ImageSet set = read_layout_image(root, tag);
    set.unpacked.push_back(dir);
    return set;
  } catch (const Error& e) {
    std::string why = e.what();
    for (auto at = why.find(root.string()); at != std::string::npos; at = why.find(root.string(), at + file.string().size()))
      why.replace(at, root.string().size(), file.string());
    throw Error(why, e.code());
  }
}

}  // namespace xb::registry
