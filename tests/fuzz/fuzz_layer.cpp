// A base image's layer (a tar, gzip or zstd compressed or not), read into ImageView without
// extracting it: whiteouts, opaque directories, link targets, ELF headers, #! lines and
// ld.so.conf texts of entries nobody vouches for. It must end in an xb::Error or a view,
// never a crash; the view's lookups must then answer for any path.

#include "fuzz_support.hpp"
#include "oci/image_view.hpp"

using namespace xb;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  oci::ImageView view;
  fuzz::accepts([&] { view.add_layer(fuzz::as_text(data, size), oci::NodeOrigin::base, "fuzz layer"); });
  for (const auto& [path, node] : view.nodes()) {
    fuzz::expect(!path.empty() && path.front() == '/', "view paths are absolute", path);
    (void)view.resolve(path);
    (void)view.placement(path);
    if (node.kind == oci::NodeKind::symlink) (void)view.stat(path);
  }
  (void)view.ld_so_conf_dirs();
  return 0;
}
