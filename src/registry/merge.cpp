// The merged index carries the annotations a single multi-platform build writes on its
// index (created, source, revision), taken from the sources where they all agree, and is
// serialised by oci::make_index like a build's: so merging the per-platform results of a
// fan-out (same sources, same SOURCE_DATE_EPOCH, sources in the platform order of the
// build) gives the single build's index digest, byte for byte.
//
// A source's platform comes from its index descriptor, or for a lone manifest from its
// config (os/architecture/variant), read locally or fetched. Blob locations are carried
// over so a push can mount blobs that already live in the target registry.

#include "registry/merge.hpp"

#include "oci/archive_source.hpp"
#include "oci/image.hpp"
#include "oci/media_types.hpp"
#include "registry/reference.hpp"
#include "registry/remote.hpp"
#include "registry/source.hpp"
#include "util/fs.hpp"
#include "util/strings.hpp"
#include "util/temp.hpp"

#include <boost/json.hpp>
#include <fmt/format.h>

#include <algorithm>

#include <map>

namespace xb::registry {
namespace {

namespace fs = std::filesystem;
namespace json = boost::json;

/// The annotations a source carries for the whole image: an index's own, or for a lone
/// manifest those of its annotations that a build also writes on the index.
std::map<std::string, std::string> image_annotations(const ImageSet& set, const std::string& source) {
  std::map<std::string, std::string> out;
  auto top = oci::parse_json_object(set.top.bytes, fmt::format("{} {}", source, set.is_index() ? "index" : "manifest"));
  if (auto* a = top.if_contains("annotations"); a && a->is_object())
    for (const auto& [k, v] : a->get_object())
      if (v.is_string()) out[std::string(k)] = std::string(v.get_string());
  if (!set.is_index()) {
    std::map<std::string, std::string> kept;
    for (auto k : {oci::annotation::k_created, oci::annotation::k_source, oci::annotation::k_revision})
      if (auto it = out.find(std::string(k)); it != out.end()) kept.insert(*it);
    out = std::move(kept);
  }
  return out;
}

}  // namespace

ImageSet merge_images(const std::vector<std::string>& sources, ClientPool& pool) {
  if (sources.empty()) fail(Exit::usage, "merge needs at least one source image");
  ImageSet out;
  std::map<std::string, std::string> platform_source;  // platform -> source text
  std::vector<oci::Descriptor> manifests;
  std::map<std::string, std::string> annotations;  // those every source agrees on
  std::map<std::string, std::string> dropped;      // key -> why
  bool first = true;
  for (const auto& text : sources) {
    ImageSet set = read_image_source(text, pool, "merge source");
    auto mine = image_annotations(set, text);
    if (first) {
      annotations = mine;
    } else {
      for (auto it = annotations.begin(); it != annotations.end();) {
        auto m = mine.find(it->first);
        if (m == mine.end() || m->second != it->second) {
          dropped[it->first] = m == mine.end() ? fmt::format("{} has none", redact_reference(text))
                                               : fmt::format("{} vs {} in {}", it->second, m->second, redact_reference(text));
          it = annotations.erase(it);
        } else {
          ++it;
        }
      }
    }
    first = false;
    std::vector<RawManifest> parts = set.is_index() ? set.children : std::vector<RawManifest>{set.top};
    for (auto& m : parts) {
      if (!m.desc.platform)
        fail(Exit::usage, "{}: manifest {} has no platform in its index; cannot place it in a multi-platform index",
             text, m.desc.digest.str());
      std::string p = m.desc.platform->str();
      // buildx's attestation manifests ("unknown/unknown", vnd.docker.reference.type) ride
      // along with the image they describe; only real platforms must be unique.
      bool attestation = m.desc.annotations.count("vnd.docker.reference.type") > 0;
      if (!attestation) {
        auto [it, fresh] = platform_source.emplace(p, text);
        if (!fresh)
          fail(Exit::usage, "platform {} appears twice: in {} and in {}; give each platform once", p, it->second, text);
      }
      manifests.push_back(m.desc);  // annotations of the source index are kept
      out.children.push_back(m);
    }
    // Each platform's SBOM and provenance (a layout's referrers) go with its manifest.
    for (const auto& r : set.referrers)
      if (std::none_of(out.referrers.begin(), out.referrers.end(),
                       [&](const Referrer& o) { return o.manifest.desc.digest == r.manifest.desc.digest; }))
        out.referrers.push_back(r);
    for (const auto& b : set.blobs) out.add_blob(b, set.locations.at(b.digest.str()));
    out.unpacked.insert(out.unpacked.end(), set.unpacked.begin(), set.unpacked.end());
  }
  for (const auto& [k, why] : dropped)
    fmt::print(stderr, "xbuild: merge: the sources disagree on annotation {} ({}); the merged index leaves it out\n", k, why);
  out.top.bytes = oci::make_index(manifests, annotations);
  out.top.desc = oci::Descriptor::of(oci::media::k_index, out.top.bytes);
  return out;
}

void write_layout(const ImageSet& image, const fs::path& dest, const std::string& tag, ClientPool& pool) {
  std::error_code probe;
  if (fs::exists(dest, probe) && !fs::is_directory(dest, probe))
    fail(Exit::usage, "{} is a file, not an OCI layout directory: choose another dest", dest.string());
  if (fs::is_directory(dest, probe) && !fs::is_empty(dest, probe) && !fs::exists(dest / "oci-layout", probe))
    fail(Exit::usage, "{} is a directory that is not an OCI layout (no oci-layout file) and not empty: choose another "
                      "dest", dest.string());
  fs::create_directories(dest / "blobs" / "sha256");
  if (!fs::exists(dest / "oci-layout")) write_file_atomic(dest / "oci-layout", oci::media::k_layout_file);
  for (const auto& b : image.blobs) {
    fs::path target = dest / b.digest.blob_path();
    std::error_code ec;
    if (fs::exists(target, ec) && static_cast<std::int64_t>(fs::file_size(target, ec)) == b.size) continue;
    const auto& loc = image.locations.at(b.digest.str());
    if (!loc.file.empty()) {
      // A hard link needs a name that does not exist yet: one inside a private temp dir.
      TempDirectory scratch = TempDirectory::beside(target);
      fs::path tmp = scratch.path() / "blob";
      fs::create_hard_link(loc.file, tmp, ec);
      if (ec) fs::copy_file(loc.file, tmp);
      fs::rename(tmp, target);
    } else {
      Client& client = pool.get(loc.registry);
      auto session = client.new_session();
      fetch_blob(client, *session, loc.repository, b, dest);
    }
  }
  for (const auto& m : image.children) write_file_atomic(dest / m.desc.digest.blob_path(), m.bytes);
  for (const auto& r : image.referrers) write_file_atomic(dest / r.manifest.desc.digest.blob_path(), r.manifest.bytes);
  write_file_atomic(dest / image.top.desc.digest.blob_path(), image.top.bytes);
  // index.json last: replace an entry with the same tag, keep the others.
  json::array kept;
  if (fs::exists(dest / "index.json")) {
    auto idx = oci::parse_json_object(read_file(dest / "index.json"), (dest / "index.json").string());
    if (auto* m = idx.if_contains("manifests"); m && m->is_array())
      for (const auto& e : m->as_array()) {
        const json::value* name = nullptr;
        if (e.is_object())
          if (auto* a = e.as_object().if_contains("annotations"); a && a->is_object())
            name = a->as_object().if_contains(oci::annotation::k_ref_name);
        if (!(name && name->is_string() && name->as_string() == tag)) kept.push_back(e);
      }
  }
  oci::Descriptor top = image.top.desc;
  top.platform.reset();
  top.annotations = {{std::string(oci::annotation::k_ref_name), tag}};
  kept.push_back(oci::to_json(top));
  for (const auto& r : image.referrers) {  // listed beside the image, once (never in its index)
    std::string digest = r.manifest.desc.digest.str();
    bool listed = std::any_of(kept.begin(), kept.end(), [&](const json::value& e) {
      const auto* o = e.if_object();
      const json::value* d = o ? o->if_contains("digest") : nullptr;
      return d && d->is_string() && d->get_string() == digest;
    });
    if (!listed) kept.push_back(oci::to_json(r.manifest.desc));
  }
  json::object idx;
  idx["schemaVersion"] = 2;
  idx["mediaType"] = oci::media::k_index;
  idx["manifests"] = std::move(kept);
  write_file_atomic(dest / "index.json", json::serialize(idx));
}

}  // namespace xb::registry
