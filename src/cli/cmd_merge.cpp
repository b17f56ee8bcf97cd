// `xbuild merge -t REF SRC...`: the fan-in step of a CI matrix. Each job builds and pushes
// (or saves) one platform; this stitches them into one multi-platform index and pushes it
// to every -t, or writes it to a layout with --output type=oci,dest=DIR.

#include "cli/commands.hpp"
#include "cli/registry_flags.hpp"
#include "registry/merge.hpp"
#include "registry/push.hpp"
#include "util/strings.hpp"

#include <boost/json.hpp>
#include <fmt/format.h>

#include <memory>

namespace xb::cli {

namespace {

struct MergeCmd {
  std::vector<std::string> tags;
  std::vector<std::string> sources;
  std::string output;
  registry::PushOptions options;
};

// "type=oci,dest=DIR" -> DIR.
std::filesystem::path parse_output(const std::string& text) {
  std::string type, dest;
  for (const auto& kv : split(text, ',')) {
    auto eq = kv.find('=');
    if (eq == std::string::npos) fail(Exit::usage, "--output {}: expected type=oci,dest=DIR", text);
    std::string k = kv.substr(0, eq), v = kv.substr(eq + 1);
    if (k == "type") type = v;
    else if (k == "dest") dest = v;
    else fail(Exit::usage, "--output {}: unknown key '{}' (expected type=oci,dest=DIR)", text, k);
  }
  if (type != "oci") fail(Exit::usage, "--output {}: merge writes only type=oci (or pushes with -t alone)", text);
  if (dest.empty()) fail(Exit::usage, "--output {}: dest=DIR is missing", text);
  return dest;
}

}  // namespace

void register_merge(CLI::App& app) {
  auto o = std::make_shared<MergeCmd>();
  auto* cmd = app.add_subcommand("merge", "Stitch per-platform images (layouts, oci-archives or registry refs) into one multi-platform index");
  cmd->add_option("-t,--tag", o->tags, "REGISTRY/REPO:TAG to push the merged index to (repeatable)")
      ->allow_extra_args(false);
  cmd->add_option("sources", o->sources, "Images to merge: oci:DIR[:TAG], FILE.tar[:TAG] (oci-archive), or REGISTRY/REPO:TAG, each one platform or an index; in the build's platform order for the single build's digest")
      ->required();
  cmd->add_option("-o,--output", o->output, "type=oci,dest=DIR: write the merged image to a layout instead of pushing");
  cmd->add_flag("--json", o->options.json, "Print the result as JSON");
  add_push_flags(*cmd, o->options);
  cmd->callback([o] {
    o->options.verbose = globals().verbose;
    if (o->tags.empty() && o->output.empty())
      fail(Exit::usage, "merge needs -t REGISTRY/REPO:TAG to push to, or --output type=oci,dest=DIR");
    std::vector<registry::Reference> targets;
    for (const auto& t : o->tags) targets.push_back(registry::Reference::parse(t));
    registry::ClientPool pool(o->options.client_options());
    registry::ImageSet merged = registry::merge_images(o->sources, pool);
    if (!o->output.empty()) {
      std::filesystem::path dest = parse_output(o->output);
      std::string tag = targets.empty() || targets.front().tag.empty() ? "latest" : targets.front().tag;
      registry::write_layout(merged, dest, tag, pool);
      if (o->options.json) {
        boost::json::object j;
        j["layout"] = dest.string();
        j["tag"] = tag;
        j["digest"] = merged.top.desc.digest.str();
        j["platforms"] = merged.children.size();
        fmt::print("{}\n", boost::json::serialize(j));
      } else {
        fmt::print(stderr, "xbuild: merged {} platforms into {}:{}\n", merged.children.size(), dest.string(), tag);
        fmt::print("{}@{}\n", dest.string(), merged.top.desc.digest.str());
      }
      return;
    }
    std::vector<registry::PushResult> results;
    for (const auto& t : targets) results.push_back(registry::push_image(pool, merged, t, o->options));
    registry::print_push_results(results, o->options.json ? registry::ResultFormat::json : registry::ResultFormat::text);
  });
}

}  // namespace xb::cli
