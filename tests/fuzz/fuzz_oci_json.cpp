// OCI JSON from registries, archives and base-image layouts: the same bytes go to every
// reader of a foreign document (an index's manifests[], a descriptor, a platform object, a
// manifest's config and layers, an image config's "config", a registry error body). Each
// descriptor read must be usable: a valid digest, a size that is not negative (issue 13: a
// size of 2^64 was wrapped into a negative int64), and its JSON must read back the same.

#include "fuzz_support.hpp"
#include "oci/descriptor.hpp"
#include "oci/image.hpp"
#include "registry/client.hpp"
#include "registry/image_set.hpp"

#include <boost/json.hpp>
#include <fmt/format.h>

using namespace xb;
namespace json = boost::json;

namespace {

void check_descriptor(const oci::Descriptor& d) {
  fuzz::expect(d.size >= 0, "a parsed descriptor's size is not negative", fmt::format("size {}", d.size));
  fuzz::expect(oci::Digest::valid(d.digest.str()), "a parsed descriptor's digest is valid", d.digest.str());
  oci::Descriptor again = oci::descriptor_from_json(json::value(oci::to_json(d)), "round trip");
  fuzz::expect(again.media_type == d.media_type && again.digest == d.digest && again.size == d.size &&
                   again.platform == d.platform && again.annotations == d.annotations,
               "descriptor_from_json(to_json(d)) == d", json::serialize(oci::to_json(d)));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  auto text = fuzz::as_text(data, size);
  fuzz::accepts([&] { (void)registry::parse_errors(text); });
  fuzz::accepts([&] {
    for (const auto& d : registry::manifest_blobs(std::string(text), "manifest")) check_descriptor(d);
  });
  json::object o;
  if (!fuzz::accepts([&] { o = oci::parse_json_object(text, "document"); })) return 0;
  json::value doc(o);
  fuzz::accepts([&] { check_descriptor(oci::descriptor_from_json(doc, "descriptor")); });
  fuzz::accepts([&] { (void)oci::platform_from_json(doc, "platform"); });
  if (const json::value* m = o.if_contains("manifests"); m && m->is_array()) {
    for (const auto& v : m->get_array())
      fuzz::accepts([&] { check_descriptor(oci::descriptor_from_json(v, "index manifests[]")); });
  }
  fuzz::accepts([&] {
    const json::value* c = o.if_contains("config");
    (void)oci::RuntimeConfig::from_json(c && c->is_object() ? c->get_object() : o);
  });
  return 0;
}
