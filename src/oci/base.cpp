// Base resolution: find the top descriptor (by tag, digest, or the only entry), pick the
// platform manifest, and read its layers, diff_ids, config and history. Every failure says
// which base and which platform, and lists what the base does have.

#include "oci/base.hpp"

#include "oci/archive_source.hpp"
#include "oci/media_types.hpp"
#include "util/error.hpp"
#include "util/fs.hpp"
#include "util/host.hpp"
#include "util/strings.hpp"

#include <boost/json.hpp>

namespace xb::oci {

namespace fs = std::filesystem;
namespace json = boost::json;

BaseSpec BaseSpec::parse(std::string_view text, const fs::path& project_dir) {
  BaseSpec s;
  s.text = text;
  if (text.empty() || text == "scratch") return s;
  s.archive = text.substr(0, 12) == "oci-archive:";
  if (text.substr(0, 4) != "oci:" && !s.archive)
    fail(Exit::usage,
         "[image] base = \"{}\" is not a base image: use \"scratch\", a local OCI layout (\"oci:DIR\", \"oci:DIR:TAG\", "
         "\"oci:DIR@sha256:...\"), \"oci-archive:FILE.tar[:TAG]\", or a registry image with its host (\"docker.io/library/debian:bookworm\", "
         "\"docker://localhost:5000/base:1\"); a registry base is pulled by `xbuild build --output type=oci|oci-archive`",
         redact_userinfo(text));
  s.scratch = false;
  std::string rest(text.substr(s.archive ? 12 : 4));
  if (auto at = rest.rfind("@sha256:"); at != std::string::npos && rest.size() > at + 72 && rest[at + 72] == '#') {
    s.reference = rest.substr(at + 73);  // pulled_base_text's "#REF"
    s.text = s.reference;
    rest.resize(at + 72);
  }
  if (auto at = rest.rfind("@sha256:"); at != std::string::npos) {
    s.digest = Digest::parse(rest.substr(at + 1));
    rest.resize(at);
  } else if (!fs::exists(project_dir / rest)) {
    if (auto colon = rest.rfind(':'); colon != std::string::npos && rest.find('/', colon) == std::string::npos) {
      s.tag = rest.substr(colon + 1);
      rest.resize(colon);
    }
  }
  if (rest.empty()) fail(Exit::usage, "[image] base = \"{}\": missing the layout directory after oci:", text);
  s.dir = fs::absolute(project_dir / rest).lexically_normal();
  return s;
}

namespace {

std::string ref_of(const Descriptor& d) {
  auto r = d.annotations.find(std::string(annotation::k_ref_name));
  return r == d.annotations.end() ? "" : r->second;
}

Descriptor find_top(const BaseSpec& spec, BlobSource& src) {
  auto entries = src.entries();
  if (spec.digest) {
    for (const auto& e : entries)
      if (e.digest == *spec.digest) return e;
    for (const auto& e : entries)
      for (const auto& r : reachable(src, e))
        if (r.digest == *spec.digest) return r;
    fail(Exit::usage, "base {}: {} has no index or manifest {}", spec.text, src.describe(), spec.digest->str());
  }
  std::vector<std::string> tags;
  for (const auto& e : entries) tags.push_back(ref_of(e).empty() ? e.digest.str() : ref_of(e));
  if (!spec.tag.empty()) {
    for (const auto& e : entries)
      if (ref_of(e) == spec.tag) return e;
    fail(Exit::usage, "base {}: no image tagged '{}' in {} (it has: {})", spec.text, spec.tag, src.describe(),
         tags.empty() ? "nothing" : join(tags, ", "));
  }
  if (entries.size() == 1) return entries.front();
  if (entries.empty()) fail(Exit::usage, "base {}: {} holds no image", spec.text, src.describe());
  fail(Exit::usage, "base {}: the layout holds {} images; name one as oci:DIR:TAG (it has: {})", spec.text, entries.size(), join(tags, ", "));
}

}  // namespace

std::string pulled_base_text(const fs::path& layout, const std::string& digest, const std::string& reference) {
  return "oci:" + layout.string() + "@" + digest + "#" + reference;
}

BaseResolver::BaseResolver(const BaseSpec& spec) : m_name(spec.text), m_reference(spec.reference) {
  std::unique_ptr<BlobSource> src;
  if (spec.archive) src = std::make_unique<ArchiveSource>(spec.dir);
  else src = std::make_unique<LayoutSource>(spec.dir);
  m_top = find_top(spec, *src);
  m_source = std::move(src);
}

BaseResolver::BaseResolver(std::string name, std::unique_ptr<BlobSource> source, Descriptor top)
  : m_name(std::move(name)), m_source(std::move(source)), m_top(std::move(top)) {}

BaseImage BaseResolver::for_platform(const Platform& target) {
  BaseImage b;
  std::string where = "base " + m_name;
  if (media::is_index(m_top.media_type)) {
    auto index = parse_json_object(m_source->read_blob(m_top), where + " index " + m_top.digest.str());
    std::vector<std::string> has;
    std::optional<Descriptor> chosen;
    if (const json::value* m = index.if_contains("manifests"); m && m->is_array()) {
      for (const auto& v : m->get_array()) {
        Descriptor d = descriptor_from_json(v, where + " index");
        if (!d.platform || !media::is_manifest(d.media_type)) continue;
        has.push_back(d.platform->str());
        if (!chosen && d.platform->serves(target)) chosen = d;
      }
    }
    if (!chosen)
      fail(Exit::usage, "base {} has no image for {} (it has: {}); pick a base that does or drop {} from --platform", m_name,
           target.str(), has.empty() ? "no platforms" : join(has, ", "), target.str());
    b.manifest = *chosen;
  } else if (media::is_manifest(m_top.media_type)) {
    b.manifest = m_top;
  } else {
    fail(Exit::usage, "{}: {} is a {}, not an image index or manifest", where, m_top.digest.str(), m_top.media_type);
  }

  auto manifest = parse_json_object(m_source->read_blob(b.manifest), where + " manifest " + b.manifest.digest.str());
  const json::value* cfg = manifest.if_contains("config");
  if (!cfg) fail(Exit::build_failed, "{}: manifest {} has no config", where, b.manifest.digest.str());
  Descriptor cfg_desc = descriptor_from_json(*cfg, where + " manifest config");
  if (const json::value* l = manifest.if_contains("layers"); l && l->is_array())
    for (const auto& v : l->get_array()) b.layers.push_back(descriptor_from_json(v, where + " manifest layers"));

  auto config = parse_json_object(m_source->read_blob(cfg_desc), where + " config " + cfg_desc.digest.str());
  OciPlatform cp{config.contains("os") && config["os"].is_string() ? std::string(config["os"].get_string()) : "",
                 config.contains("architecture") && config["architecture"].is_string() ? std::string(config["architecture"].get_string()) : "",
                 config.contains("variant") && config["variant"].is_string() ? std::string(config["variant"].get_string()) : ""};
  if (!media::is_index(m_top.media_type) && !cp.serves(target))
    fail(Exit::usage, "base {} is a single {} image; it cannot serve {}", m_name, cp.str(), target.str());
  if (const json::value* r = config.if_contains("rootfs"); r && r->is_object())
    if (const json::value* ids = r->get_object().if_contains("diff_ids"); ids && ids->is_array())
      for (const auto& v : ids->get_array())
        if (v.is_string()) b.diff_ids.emplace_back(v.get_string());
  if (b.diff_ids.size() != b.layers.size())
    fail(Exit::build_failed, "{}: config {} lists {} diff_ids for {} layers", where, cfg_desc.digest.str(), b.diff_ids.size(), b.layers.size());
  if (const json::value* c = config.if_contains("config"); c && c->is_object()) b.config = c->get_object();
  if (const json::value* h = config.if_contains("history"); h && h->is_array()) b.history = h->get_array();
  return b;
}

}  // namespace xb::oci
