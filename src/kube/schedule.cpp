#include "kube/schedule.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <optional>
#include <set>

namespace xb::kube {

namespace {

/// A Gt/Lt operand: a whole decimal int64, as the API server parses it (strconv.ParseInt).
std::optional<long long> integer(std::string_view text) {
  long long v = 0;
  if (!text.empty() && text.front() == '+') text.remove_prefix(1);
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (text.empty() || ec != std::errc() || end != text.data() + text.size()) return std::nullopt;
  return v;
}

/// An arm variant's number ("v7" -> 7), nullopt when it is no "vN".
std::optional<int> arm_level(std::string_view variant) {
  if (variant.size() < 2 || variant.front() != 'v') return std::nullopt;
  auto n = integer(variant.substr(1));
  return n ? std::optional<int>(static_cast<int>(*n)) : std::nullopt;
}

std::string describe(const Workload& w) {
  std::string where = w.source.empty() ? "" : w.source + ": ";
  return fmt::format("{}{} {}{}", where, w.kind, w.namespace_.empty() ? "" : w.namespace_ + "/", w.name);
}

std::string node_platform_name(const Node& n, std::string_view arm_variant) {
  if (auto p = node_platform(n, arm_variant)) return p->str();
  return n.os + "/" + n.arch + (n.variant.empty() ? "" : "/" + n.variant);
}

}  // namespace

std::string requirement_problem(const Requirement& r) {
  if (r.key.empty()) return "a matchExpressions entry has no key";
  const std::string& op = r.op;
  if (op == "In" || op == "NotIn") {
    if (r.values.empty()) return fmt::format("'{}' {} needs at least one value", r.key, op);
  } else if (op == "Exists" || op == "DoesNotExist") {
    if (!r.values.empty()) return fmt::format("'{}' {} takes no values", r.key, op);
  } else if (op == "Gt" || op == "Lt") {
    if (r.values.size() != 1 || !integer(r.values.front()))
      return fmt::format("'{}' {} needs exactly one integer value", r.key, op);
  } else {
    return fmt::format("'{}' has operator '{}'; expected In, NotIn, Exists, DoesNotExist, Gt or Lt", r.key, op);
  }
  return {};
}

bool satisfies(const Labels& labels, const Requirement& r) {
  auto it = labels.find(r.key);
  bool has = it != labels.end();
  auto listed = [&] { return has && std::find(r.values.begin(), r.values.end(), it->second) != r.values.end(); };
  if (r.op == "In") return listed();
  if (r.op == "NotIn") return !listed();
  if (r.op == "Exists") return has;
  if (r.op == "DoesNotExist") return !has;
  if (r.op == "Gt" || r.op == "Lt") {
    if (!has || r.values.size() != 1) return false;
    auto label = integer(it->second), bound = integer(r.values.front());
    if (!label || !bound) return false;
    return r.op == "Gt" ? *label > *bound : *label < *bound;
  }
  return false;
}

bool selects(const Workload& w, const Labels& labels) {
  for (const auto& [key, value] : w.node_selector) {
    auto it = labels.find(key);
    if (it == labels.end() || it->second != value) return false;
  }
  if (w.required_terms.empty()) return true;
  return std::any_of(w.required_terms.begin(), w.required_terms.end(), [&](const NodeSelectorTerm& t) {
    return !t.match_expressions.empty() &&
           std::all_of(t.match_expressions.begin(), t.match_expressions.end(),
                       [&](const Requirement& r) { return satisfies(labels, r); });
  });
}

bool tolerates(const std::vector<Toleration>& tolerations, const Taint& taint) {
  return std::any_of(tolerations.begin(), tolerations.end(), [&](const Toleration& t) {
    if (!t.effect.empty() && t.effect != taint.effect) return false;
    if (!t.key.empty() && t.key != taint.key) return false;
    return t.op == "Exists" || t.value == taint.value;
  });
}

bool keeps_pods_off(const Taint& taint) {
  constexpr std::string_view k_conditions[] = {"node.kubernetes.io/", "node.cloudprovider.kubernetes.io/"};
  if (taint.effect != "NoSchedule" && taint.effect != "NoExecute") return false;
  return std::none_of(std::begin(k_conditions), std::end(k_conditions),
                      [&](std::string_view prefix) { return taint.key.rfind(prefix, 0) == 0; });
}

bool may_land_on(const Workload& w, const Node& node) {
  if (!selects(w, node.labels)) return false;
  return std::all_of(node.taints.begin(), node.taints.end(),
                     [&](const Taint& t) { return !keeps_pods_off(t) || tolerates(w.tolerations, t); });
}

Result<std::vector<const Node*>> candidate_nodes(const Workload& w, const std::vector<Node>& nodes) {
  using R = Result<std::vector<const Node*>>;
  for (std::size_t t = 0; t < w.required_terms.size(); ++t)
    for (const auto& r : w.required_terms[t].match_expressions)
      if (auto problem = requirement_problem(r); !problem.empty())
        return R::failure(fmt::format("{}: required node affinity, nodeSelectorTerms[{}]: {}", describe(w), t, problem));
  std::vector<const Node*> out;
  for (const auto& n : nodes)
    if (may_land_on(w, n)) out.push_back(&n);
  return out;
}

bool runs_on(const Platform& image, const Platform& node) {
  if (image == node) return true;
  if (image.os != node.os || image.arch != node.arch || image.arch != "arm") return false;
  auto have = arm_level(image.variant), need = arm_level(node.variant);
  return have && need && *have <= *need;
}

Result<CheckResult> check_workloads(const std::vector<Workload>& workloads, const std::vector<Node>& nodes,
                                    const ImagePlatforms& images, std::string_view arm_variant) {
  CheckResult out;
  for (std::size_t wi = 0; wi < workloads.size(); ++wi) {
    const Workload& w = workloads[wi];
    auto candidates = candidate_nodes(w, nodes);
    if (!candidates.ok()) return Result<CheckResult>::failure(candidates.error());
    if (candidates.value().empty()) {
      out.unschedulable.push_back(wi);
      continue;
    }
    for (const auto& c : w.containers) {
      auto have = images.find(c.image);
      if (have == images.end())
        return Result<CheckResult>::failure(fmt::format("{}: no platforms known for image {}", describe(w), c.image));
      Gap gap{wi, c.name, c.init, c.image, {}, {}};
      std::set<std::string> missing;
      for (const Node* n : candidates.value()) {
        auto p = node_platform(*n, arm_variant);
        bool covered = p && std::any_of(have->second.begin(), have->second.end(), [&](const Platform& i) { return runs_on(i, *p); });
        if (covered) continue;
        missing.insert(node_platform_name(*n, arm_variant));
        gap.nodes.push_back(n->name);
      }
      if (gap.nodes.empty()) continue;
      gap.missing.assign(missing.begin(), missing.end());
      out.gaps.push_back(std::move(gap));
    }
  }
  return out;
}

}  // namespace xb::kube
