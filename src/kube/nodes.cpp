#include "kube/nodes.hpp"

#include "util/strings.hpp"

#include <boost/json.hpp>
#include <fmt/format.h>

namespace xb::kube {

namespace json = boost::json;

namespace {

std::string str_at(const json::object& o, std::string_view key) {
  const json::value* v = o.if_contains(key);
  return v != nullptr && v->is_string() ? std::string(v->get_string()) : std::string();
}

const json::object* obj_at(const json::object& o, std::string_view key) {
  const json::value* v = o.if_contains(key);
  return v != nullptr && v->is_object() ? &v->get_object() : nullptr;
}

}  // namespace

Result<std::vector<Node>> parse_node_list(std::string_view text, std::string_view source) {
  using R = Result<std::vector<Node>>;
  if (text.size() > max_node_list_bytes)
    return R::failure(fmt::format("{}: node list is larger than {} MiB", source, max_node_list_bytes >> 20));
  json::parse_options opts;
  opts.max_depth = 64;
  std::error_code ec;
  json::value doc = json::parse(text, ec, {}, opts);
  if (ec) return R::failure(fmt::format("{}: not JSON ({}); expected `kubectl get nodes -o json` output", source, ec.message()));
  if (!doc.is_object()) return R::failure(fmt::format("{}: expected a v1 List of Node, got no object", source));
  const json::object& root = doc.get_object();
  std::vector<const json::object*> items;
  std::string kind = str_at(root, "kind");
  if (kind == "Node") {
    items.push_back(&root);
  } else {
    const json::value* list = root.if_contains("items");
    if (kind != "List" && kind != "NodeList")
      return R::failure(fmt::format("{}: kind is '{}', expected List (kubectl get nodes -o json)", source, kind));
    if (list == nullptr || !list->is_array()) return R::failure(fmt::format("{}: no 'items' array", source));
    for (const json::value& it : list->get_array()) {
      if (!it.is_object()) return R::failure(fmt::format("{}: an item is not an object", source));
      items.push_back(&it.get_object());
    }
  }
  std::vector<Node> nodes;
  for (std::size_t i = 0; i < items.size(); ++i) {
    const json::object& item = *items[i];
    Node n;
    const json::object* meta = obj_at(item, "metadata");
    if (meta != nullptr) {
      n.name = str_at(*meta, "name");
      if (const json::object* labels = obj_at(*meta, "labels"))
        for (const auto& kv : *labels)
          if (kv.value().is_string()) n.labels[std::string(kv.key())] = std::string(kv.value().get_string());
    }
    if (n.name.empty()) return R::failure(fmt::format("{}: item {} has no metadata.name", source, i));
    std::string os, arch;
    if (auto it = n.labels.find("kubernetes.io/os"); it != n.labels.end()) os = it->second;
    if (auto it = n.labels.find("kubernetes.io/arch"); it != n.labels.end()) arch = it->second;
    if (const json::object* spec = obj_at(item, "spec"))
      if (const json::value* taints = spec->if_contains("taints"); taints != nullptr && taints->is_array())
        for (const json::value& t : taints->get_array())
          if (t.is_object()) n.taints.push_back({str_at(t.get_object(), "key"), str_at(t.get_object(), "value"), str_at(t.get_object(), "effect")});
    const json::object* status = obj_at(item, "status");
    const json::object* info = status != nullptr ? obj_at(*status, "nodeInfo") : nullptr;
    if (info != nullptr) {
      if (os.empty()) os = str_at(*info, "operatingSystem");
      if (arch.empty()) arch = str_at(*info, "architecture");
    }
    if (os.empty() || arch.empty())
      return R::failure(fmt::format("{}: node {} has neither kubernetes.io/os/arch labels nor status.nodeInfo", source, n.name));
    n.os = os;
    n.arch = arch;
    for (const char* key : {"kubernetes.io/arch-variant", "xbuild.io/arch-variant"})
      if (auto it = n.labels.find(key); it != n.labels.end()) n.variant = it->second;
    nodes.push_back(std::move(n));
  }
  return nodes;
}

std::optional<Platform> node_platform(const Node& node, std::string_view arm_variant) {
  std::string text = node.os + "/" + node.arch;
  std::string variant = node.variant;
  if (variant.empty() && node.arch == "arm") variant = std::string(arm_variant);
  if (!variant.empty()) text += "/" + variant;
  try {
    Platform p = Platform::parse(text);
    if (p.os != node.os) return std::nullopt;
    return p;
  } catch (const Error&) {
    return std::nullopt;
  }
}

std::map<Platform, std::vector<std::string>> platforms_of(const std::vector<Node>& nodes, std::string_view arm_variant) {
  std::map<Platform, std::vector<std::string>> by_platform;
  std::vector<std::string> unknown;
  for (const auto& n : nodes) {
    if (auto p = node_platform(n, arm_variant)) {
      by_platform[*p].push_back(n.name);
    } else {
      unknown.push_back(fmt::format("{} ({}/{}{}{})", n.name, n.os, n.arch, n.variant.empty() ? "" : "/", n.variant));
    }
  }
  if (!unknown.empty())
    fail(Exit::environment, "xbuild has no platform for node{} {}; build for the others with an explicit --platform list",
         unknown.size() == 1 ? "" : "s", join(unknown, ", "));
  if (by_platform.empty()) fail(Exit::environment, "the cluster has no nodes");
  return by_platform;
}

}  // namespace xb::kube
