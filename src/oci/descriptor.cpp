// JSON for descriptors and platform objects. Everything that reads OCI JSON goes through
// these functions, so a malformed foreign document always gets an error that says where.

#include "oci/descriptor.hpp"

#include "util/error.hpp"

#include <boost/json.hpp>

#include <limits>

namespace xb::oci {

namespace json = boost::json;

OciPlatform OciPlatform::from(const Platform& p) { return {p.os, p.arch, p.variant}; }

std::string OciPlatform::str() const {
  return variant.empty() ? os + "/" + architecture : os + "/" + architecture + "/" + variant;
}

bool OciPlatform::serves(const Platform& target) const {
  if (os != target.os || architecture != target.arch) return false;
  auto norm = [&](std::string v) {
    if (architecture == "arm64" && v == "v8") return std::string();
    if (architecture == "arm" && v.empty()) return std::string("v7");
    return v;
  };
  return norm(variant) == norm(target.variant);
}

json::object to_json(const OciPlatform& p) {
  json::object o;
  o["architecture"] = p.architecture;
  o["os"] = p.os;
  if (!p.variant.empty()) o["variant"] = p.variant;
  return o;
}

namespace {

enum class Field { required, optional };

std::string get_string(const json::object& o, std::string_view key, std::string_view where, Field field) {
  const json::value* v = o.if_contains(key);
  if (!v) {
    if (field == Field::required) fail(Exit::build_failed, "{}: missing \"{}\"", where, key);
    return {};
  }
  if (!v->is_string()) fail(Exit::build_failed, "{}: \"{}\" is not a string", where, key);
  return std::string(v->get_string());
}

}  // namespace

OciPlatform platform_from_json(const json::value& v, std::string_view where) {
  if (!v.is_object()) fail(Exit::build_failed, "{}: platform is not an object", where);
  const auto& o = v.get_object();
  return {get_string(o, "os", where, Field::required), get_string(o, "architecture", where, Field::required), get_string(o, "variant", where, Field::optional)};
}

Descriptor Descriptor::of(std::string_view media_type, std::string_view bytes) {
  Descriptor d;
  d.media_type = media_type;
  d.digest = Digest::of(bytes);
  d.size = static_cast<std::int64_t>(bytes.size());
  return d;
}

json::object to_json(const Descriptor& d) {
  json::object o;
  o["mediaType"] = d.media_type;
  if (!d.artifact_type.empty()) o["artifactType"] = d.artifact_type;
  o["digest"] = d.digest.str();
  o["size"] = d.size;
  if (d.platform) o["platform"] = to_json(*d.platform);
  if (!d.annotations.empty()) {
    json::object a;
    for (const auto& [k, v] : d.annotations) a[k] = v;
    o["annotations"] = std::move(a);
  }
  return o;
}

Descriptor descriptor_from_json(const json::value& v, std::string_view where) {
  if (!v.is_object()) fail(Exit::build_failed, "{}: descriptor is not an object", where);
  const auto& o = v.get_object();
  Descriptor d;
  d.media_type = get_string(o, "mediaType", where, Field::required);
  std::string digest = get_string(o, "digest", where, Field::required);
  if (!Digest::valid(digest)) fail(Exit::build_failed, "{}: bad digest '{}'", where, digest);
  d.digest = Digest::parse(digest);
  // Boost.JSON keeps an integer as int64 when it fits; a larger one is uint64 and beyond that
  // a double, as are 1e3 and 1.5. Only a non-negative int64 is a size: anything else would
  // wrap or round into a number nobody wrote.
  const json::value* size = o.if_contains("size");
  if (!size) fail(Exit::build_failed, "{}: missing \"size\"", where);
  if (!size->is_int64() || size->get_int64() < 0)
    fail(Exit::build_failed, "{}: bad \"size\" {}: a size is a whole number of bytes from 0 to {}", where,
         json::serialize(*size), std::numeric_limits<std::int64_t>::max());
  d.size = size->get_int64();
  d.artifact_type = get_string(o, "artifactType", where, Field::optional);
  if (const json::value* p = o.if_contains("platform")) d.platform = platform_from_json(*p, where);
  if (const json::value* a = o.if_contains("annotations"); a && a->is_object()) {
    for (const auto& [k, val] : a->get_object())
      if (val.is_string()) d.annotations[std::string(k)] = std::string(val.get_string());
  }
  return d;
}

json::object parse_json_object(std::string_view text, std::string_view where) {
  boost::system::error_code ec;
  json::value v = json::parse(text, ec);
  if (ec) fail(Exit::build_failed, "{}: invalid JSON ({})", where, ec.message());
  if (!v.is_object()) fail(Exit::build_failed, "{}: expected a JSON object", where);
  return std::move(v.get_object());
}

}  // namespace xb::oci
