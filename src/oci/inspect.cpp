// Summaries read only JSON blobs (index, manifests, configs); layer sizes come from the
// descriptors, so inspecting a multi-gigabyte image reads a few kilobytes.

#include "oci/inspect.hpp"

#include "oci/media_types.hpp"
#include "util/error.hpp"

#include <boost/json.hpp>
#include <fmt/format.h>

namespace xb::oci {

namespace fs = std::filesystem;
namespace json = boost::json;

namespace {

PlatformSummary summarize_manifest(BlobSource& src, const Descriptor& d) {
  PlatformSummary p;
  p.manifest = d;
  if (d.platform) p.platform = d.platform->str();
  std::string where = src.describe() + " manifest " + d.digest.str();
  auto m = parse_json_object(src.read_blob(d), where);
  if (const json::value* c = m.if_contains("config")) p.config = descriptor_from_json(*c, where + " config");
  if (const json::value* l = m.if_contains("layers"); l && l->is_array())
    for (const auto& v : l->get_array()) {
      Descriptor ld = descriptor_from_json(v, where + " layers");
      ++p.layer_count;
      p.layer_bytes += ld.size;
    }
  if (!p.config.digest.empty()) {
    auto c = parse_json_object(src.read_blob(p.config), where + " config");
    auto str = [&](const char* k) { return c.contains(k) && c[k].is_string() ? std::string(c[k].get_string()) : std::string(); };
    p.config_platform = {str("os"), str("architecture"), str("variant")};
  }
  if (p.platform.empty()) p.platform = p.config_platform.str();
  return p;
}

std::string human(std::int64_t bytes) {
  if (bytes < 1024) return fmt::format("{} B", bytes);
  if (bytes < 1024 * 1024) return fmt::format("{:.1f} KiB", bytes / 1024.0);
  if (bytes < 1024LL * 1024 * 1024) return fmt::format("{:.1f} MiB", bytes / (1024.0 * 1024));
  return fmt::format("{:.2f} GiB", bytes / (1024.0 * 1024 * 1024));
}

}  // namespace

ImageSummary summarize(BlobSource& src, const Descriptor& top) {
  ImageSummary s;
  s.top = top;
  if (auto r = top.annotations.find(std::string(annotation::k_ref_name)); r != top.annotations.end()) s.ref_name = r->second;
  if (media::is_index(top.media_type)) {
    std::string where = src.describe() + " index " + top.digest.str();
    auto index = parse_json_object(src.read_blob(top), where);
    if (const json::value* a = index.if_contains("annotations"); a && a->is_object())
      for (const auto& [k, v] : a->get_object())
        if (v.is_string()) s.annotations[std::string(k)] = std::string(v.get_string());
    if (const json::value* m = index.if_contains("manifests"); m && m->is_array())
      for (const auto& v : m->get_array()) {
        Descriptor d = descriptor_from_json(v, where);
        if (media::is_manifest(d.media_type)) s.platforms.push_back(summarize_manifest(src, d));
      }
  } else if (media::is_manifest(top.media_type)) {
    s.platforms.push_back(summarize_manifest(src, top));
  } else {
    fail(Exit::usage, "{}: {} is a {}, not an image index or manifest", src.describe(), top.digest.str(), top.media_type);
  }
  return s;
}

std::string format_text(const std::string& location, const std::vector<ImageSummary>& images) {
  std::string out = fmt::format("{}: {} image{}\n", location, images.size(), images.size() == 1 ? "" : "s");
  for (const auto& img : images) {
    out += fmt::format("\n{}  {}\n", img.ref_name.empty() ? "(no ref name)" : img.ref_name, img.top.digest.str());
    out += fmt::format("  mediaType {}  size {}\n", img.top.media_type, img.top.size);
    for (const auto& [k, v] : img.annotations) out += fmt::format("  {} = {}\n", k, v);
    out += fmt::format("  {:<16} {:<73} {:>6} {:>12}  {}\n", "PLATFORM", "MANIFEST", "LAYERS", "SIZE", "CONFIG os/arch/variant");
    for (const auto& p : img.platforms)
      out += fmt::format("  {:<16} {:<73} {:>6} {:>12}  {}\n", p.platform, p.manifest.digest.str(), p.layer_count,
                         human(p.layer_bytes), p.config_platform.str());
  }
  return out;
}

json::object format_json(const std::string& location, const std::vector<ImageSummary>& images) {
  json::array arr;
  for (const auto& img : images) {
    json::object o;
    o["ref"] = img.ref_name;
    o["digest"] = img.top.digest.str();
    o["mediaType"] = img.top.media_type;
    o["size"] = img.top.size;
    json::object ann;
    for (const auto& [k, v] : img.annotations) ann[k] = v;
    o["annotations"] = std::move(ann);
    json::array plats;
    for (const auto& p : img.platforms) {
      json::object po;
      po["platform"] = p.platform;
      po["manifest"] = p.manifest.digest.str();
      po["manifest_size"] = p.manifest.size;
      po["config"] = p.config.digest.str();
      po["layers"] = p.layer_count;
      po["layer_bytes"] = p.layer_bytes;
      po["os"] = p.config_platform.os;
      po["architecture"] = p.config_platform.architecture;
      po["variant"] = p.config_platform.variant;
      plats.push_back(std::move(po));
    }
    o["platforms"] = std::move(plats);
    arr.push_back(std::move(o));
  }
  json::object top;
  top["location"] = location;
  top["images"] = std::move(arr);
  return top;
}

}  // namespace xb::oci
