// A layout is read through read_layout_image/read_archive_image, which already pair each
// referrer with its subject; a registry is asked per platform manifest, referrers API first.

#include "registry/referrers.hpp"

#include "oci/archive_source.hpp"
#include "oci/media_types.hpp"
#include "oci/sbom.hpp"
#include "registry/image_set.hpp"
#include "registry/remote.hpp"
#include "registry/source.hpp"
#include "util/error.hpp"
#include "util/fs.hpp"

#include <boost/json.hpp>
#include <fmt/format.h>

namespace xb::registry {

namespace {

namespace fs = std::filesystem;
namespace json = boost::json;

/// The first descriptor of an index's manifests with the SBOM artifact type.
std::optional<oci::Descriptor> sbom_in_index(const std::string& bytes, const std::string& where) {
  auto index = oci::parse_json_object(bytes, where);
  const json::value* m = index.if_contains("manifests");
  if (!m || !m->is_array()) return std::nullopt;
  std::size_t i = 0;
  for (const auto& v : m->get_array()) {
    oci::Descriptor d = oci::descriptor_from_json(v, fmt::format("{} manifests[{}]", where, i++));
    if (d.artifact_type == oci::media::k_spdx_json || d.artifact_type == oci::media::k_cyclonedx_json) return d;
  }
  return std::nullopt;
}

/// The layer of a referrer manifest that holds the document.
oci::Descriptor document_of(const std::string& manifest_bytes, const std::string& where) {
  auto m = oci::parse_json_object(manifest_bytes, where);
  const json::value* layers = m.if_contains("layers");
  if (!layers || !layers->is_array() || layers->get_array().empty())
    fail(Exit::usage, "{}: the SBOM manifest has no layers", where);
  oci::Descriptor d = oci::descriptor_from_json(layers->get_array().front(), where + " layers[0]");
  if (d.size > k_max_sbom_bytes)
    fail(Exit::usage, "{}: the SBOM is {} bytes by its descriptor, more than the {} bytes xbuild reads", where, d.size,
         k_max_sbom_bytes);
  return d;
}

/// GET url, capped; the response (any status) for the caller to judge.
HttpResponse get_capped(Client& client, HttpSession& session, const std::string& repository, const std::string& url,
                        std::int64_t cap, const std::string& what) {
  HttpRequest req;
  req.url = url;
  req.set_header("Accept", std::string(oci::media::k_index));
  req.limit = BodyLimit{static_cast<std::uint64_t>(cap), what, "the cap xbuild reads it to"};
  return client.send_idempotent(session, req, {repo_scope(repository, Access::pull)});
}

}  // namespace

std::vector<PlatformSbom> find_sboms(const std::string& target, const ClientOptions& options) {
  std::vector<PlatformSbom> out;
  ImageArg arg = parse_image_arg(target, "sbom target");
  if (arg.kind != SourceKind::registry) {
    ImageSet set = arg.kind == SourceKind::archive ? read_archive_image(arg.path, arg.tag) : read_layout_image(arg.path, arg.tag);
    std::vector<oci::Descriptor> manifests;
    if (set.is_index())
      for (const auto& c : set.children) manifests.push_back(c.desc);
    else
      manifests.push_back(set.top.desc);
    for (const auto& m : manifests) {
      PlatformSbom s{m, std::nullopt};
      for (const auto& r : set.referrers)
        if (r.subject.digest == m.digest && (r.manifest.desc.artifact_type == oci::media::k_spdx_json ||
                                             r.manifest.desc.artifact_type == oci::media::k_cyclonedx_json))
          s.referrer = r.manifest.desc;
      out.push_back(std::move(s));
    }
    return out;
  }
  const Reference& ref = arg.ref;
  ClientPool pool(options);
  Client& client = pool.get(ref.registry);
  auto session = client.new_session();
  RawManifest top = fetch_manifest(client, *session, ref.repository, ref.manifest_ref());
  std::vector<oci::Descriptor> manifests;
  if (oci::media::is_index(top.desc.media_type)) {
    auto index = oci::parse_json_object(top.bytes, ref.str());
    if (const json::value* m = index.if_contains("manifests"); m && m->is_array()) {
      std::size_t i = 0;
      for (const auto& v : m->get_array()) manifests.push_back(oci::descriptor_from_json(v, fmt::format("{} manifests[{}]", ref.str(), i++)));
    }
  } else {
    manifests.push_back(top.desc);
  }
  for (const auto& m : manifests) {
    PlatformSbom s{m, std::nullopt};
    std::string where = fmt::format("the referrers of {}", ref.with_digest(m.digest.str()));
    // The referrers API (OCI 1.1), then the tag schema for registries without it.
    HttpResponse r = get_capped(client, *session, ref.repository,
                                fmt::format("/v2/{}/referrers/{}", ref.repository, m.digest.str()), oci::k_max_manifest_bytes, where);
    if (r.status == 200) {
      s.referrer = sbom_in_index(r.body, where);
    } else {
      HttpResponse t = get_capped(client, *session, ref.repository,
                                  fmt::format("/v2/{}/manifests/{}-{}", ref.repository, m.digest.algorithm(), m.digest.hex()),
                                  oci::k_max_manifest_bytes, where + " (referrers tag)");
      if (t.status == 200) s.referrer = sbom_in_index(t.body, where + " (referrers tag)");
      else if (t.status != 404) throw error_from_response("reading " + where, HttpRequest{}, t);
    }
    out.push_back(std::move(s));
  }
  return out;
}

std::string read_sbom(const std::string& target, const PlatformSbom& s, const ClientOptions& options) {
  if (!s.referrer) fail(Exit::usage, "{}: the {} image has no SBOM", target, s.manifest.platform ? s.manifest.platform->str() : "");
  ImageArg arg = parse_image_arg(target, "sbom target");
  if (arg.kind != SourceKind::registry) {
    ImageSet set = arg.kind == SourceKind::archive ? read_archive_image(arg.path, arg.tag) : read_layout_image(arg.path, arg.tag);
    for (const auto& r : set.referrers) {
      if (r.manifest.desc.digest != s.referrer->digest) continue;
      oci::Descriptor doc = document_of(r.manifest.bytes, target + " SBOM " + r.manifest.desc.digest.str());
      const auto& loc = set.locations.at(doc.digest.str());
      std::string bytes = read_file(loc.file);
      if (oci::Digest::of(bytes) != doc.digest)
        fail(Exit::usage, "{}: the SBOM blob {} does not hash to its digest", target, loc.file.string());
      return bytes;
    }
    fail(Exit::usage, "{}: the SBOM {} is not in the layout", target, s.referrer->digest.str());
  }
  const Reference& ref = arg.ref;
  ClientPool pool(options);
  Client& client = pool.get(ref.registry);
  auto session = client.new_session();
  RawManifest m = fetch_manifest(client, *session, ref.repository, s.referrer->digest.str());
  oci::Descriptor doc = document_of(m.bytes, ref.with_digest(s.referrer->digest.str()));
  std::string what = fmt::format("the SBOM {} of {}", doc.digest.str(), ref.name());
  HttpResponse r = get_capped(client, *session, ref.repository, fmt::format("/v2/{}/blobs/{}", ref.repository, doc.digest.str()),
                              doc.size, what);
  if (r.status != 200) throw error_from_response("reading " + what, HttpRequest{}, r);
  if (static_cast<std::int64_t>(r.body.size()) != doc.size || oci::Digest::of(r.body) != doc.digest)
    fail(Exit::registry, "{}: the registry sent {} bytes with digest {} (expected {} bytes)", what, r.body.size(),
         oci::Digest::of(r.body).str(), doc.size);
  return std::move(r.body);
}

}  // namespace xb::registry
