#include "kube/affinity.hpp"

#include <fmt/format.h>

#include <algorithm>

namespace xb::kube {

using yaml::Node;

namespace {

std::vector<std::string> values_of(const Node& expr) {
  std::vector<std::string> out;
  if (const Node* v = expr.find("values"); v != nullptr && v->is_sequence())
    for (const Node& s : v->items)
      if (s.is_scalar()) out.push_back(s.value);
  return out;
}

Node in_expression(const char* key, const std::string& value) {
  Node e = Node::map();
  e.set("key", Node::scalar(key));
  e.set("operator", Node::scalar("In"));
  Node values = Node::sequence();
  values.items.push_back(Node::scalar(value));
  e.set("values", std::move(values));
  return e;
}

// `term` narrowed to `p`, or nothing when one of its os/arch expressions rules p out. Its
// os/arch `In` expressions that allow p are replaced by the single-value ones (the same
// nodes match), so narrowing an already narrowed term gives it back unchanged.
std::optional<Node> narrow(const Node& term, const NodePlatform& p) {
  std::vector<Node> kept;
  if (const Node* exprs = term.find("matchExpressions"); exprs != nullptr && exprs->is_sequence()) {
    for (const Node& e : exprs->items) {
      std::string key = e.text("key");
      if (key != k_os_label && key != k_arch_label) {
        kept.push_back(e);
        continue;
      }
      const std::string& mine = key == k_os_label ? p.os : p.arch;
      std::string op = e.text("operator");
      auto values = values_of(e);
      bool listed = std::find(values.begin(), values.end(), mine) != values.end();
      if ((op == "In" && !listed) || (op == "NotIn" && listed) || op == "DoesNotExist") return std::nullopt;
      if (op != "In") kept.push_back(e);
    }
  }
  kept.push_back(in_expression(k_os_label, p.os));
  kept.push_back(in_expression(k_arch_label, p.arch));
  Node out = term.is_map() ? term : Node::map();
  Node seq = Node::sequence();
  seq.items = std::move(kept);
  out.set("matchExpressions", std::move(seq));
  return out;
}

}  // namespace

Result<bool> require_platforms(PodTemplate& t, const std::vector<NodePlatform>& platforms) {
  using R = Result<bool>;
  auto shape = [&](const char* what) { return R::failure(fmt::format("{}: {} {}: {} is not a map", t.source, t.kind, t.name, what)); };
  Node* affinity = t.spec->map_at("affinity");
  if (affinity == nullptr) return shape("affinity");
  Node* node_affinity = affinity->map_at("nodeAffinity");
  if (node_affinity == nullptr) return shape("affinity.nodeAffinity");
  Node* required = node_affinity->map_at("requiredDuringSchedulingIgnoredDuringExecution");
  if (required == nullptr) return shape("requiredDuringSchedulingIgnoredDuringExecution");
  std::vector<Node> existing;
  if (const Node* terms = required->find("nodeSelectorTerms"); terms != nullptr && !terms->is_null()) {
    if (!terms->is_sequence()) return R::failure(fmt::format("{}: {} {}: nodeSelectorTerms is not a list", t.source, t.kind, t.name));
    existing = terms->items;
  }
  if (existing.empty()) existing.push_back(Node::map());
  const Node* selector = t.spec->find("nodeSelector");
  auto selected = [&](const NodePlatform& p) {
    if (selector == nullptr || !selector->is_map()) return true;
    const Node* os = selector->find(k_os_label);
    const Node* arch = selector->find(k_arch_label);
    return (os == nullptr || os->value == p.os) && (arch == nullptr || arch->value == p.arch);
  };
  Node terms = Node::sequence();
  for (const Node& term : existing)
    for (const NodePlatform& p : platforms) {
      if (!selected(p)) continue;
      std::optional<Node> n = narrow(term, p);
      if (n && std::find(terms.items.begin(), terms.items.end(), *n) == terms.items.end()) terms.items.push_back(std::move(*n));
    }
  if (terms.items.empty()) {
    std::vector<std::string> names;
    for (const NodePlatform& p : platforms) names.push_back(p.os + "/" + p.arch);
    return R::failure(fmt::format("{}: {} {}: its nodeSelector or nodeAffinity allows none of the platforms all its images have ({}); "
                                  "its pods would land where an image cannot run",
                                  t.source, t.kind, t.name, names.empty() ? std::string("none") : fmt::format("{}", fmt::join(names, ", "))));
  }
  required->set("nodeSelectorTerms", std::move(terms));
  return true;
}

}  // namespace xb::kube
