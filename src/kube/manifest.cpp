#include "kube/manifest.hpp"

#include "util/fs.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <set>
#include <system_error>

#include <unistd.h>

namespace xb::kube {

namespace fs = std::filesystem;
using yaml::Node;

namespace {

template <typename T>
Result<T> failure(std::string message) {
  return Result<T>::failure(std::move(message));
}

std::string where(std::string_view source, int line) { return fmt::format("{}:{}", source, line); }

Result<std::string> read_stdin() {
  std::string text;
  char buf[65536];
  for (;;) {
    ssize_t n = ::read(0, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return failure<std::string>(fmt::format("stdin: {}", std::strerror(errno)));
    if (n == 0) return text;
    if (text.size() + static_cast<std::size_t>(n) > yaml::max_bytes)
      return failure<std::string>(fmt::format("stdin: more than {} MiB of YAML", yaml::max_bytes >> 20));
    text.append(buf, static_cast<std::size_t>(n));
  }
}

Result<ManifestFile> read_manifest(const fs::path& path) {
  std::error_code ec;
  auto size = fs::file_size(path, ec);
  if (ec) return failure<ManifestFile>(fmt::format("{}: {}", path.string(), ec.message()));
  if (size > yaml::max_bytes)
    return failure<ManifestFile>(fmt::format("{}: {} bytes is more than a manifest may have ({} MiB)", path.string(), size, yaml::max_bytes >> 20));
  std::string text;
  try {
    text = read_file(path);
  } catch (const Error& e) {
    return failure<ManifestFile>(e.what());
  }
  auto docs = yaml::parse(text, path.string());
  if (!docs.ok()) return failure<ManifestFile>(docs.error());
  return ManifestFile{path.string(), docs.take()};
}

bool is_yaml_name(const fs::path& p) {
  std::string ext = p.extension().string();
  return ext == ".yaml" || ext == ".yml";
}

// The pod spec of one object of a workload kind, by the path its kind keeps it at.
Node* spec_of(Node& obj, const std::string& kind) {
  Node* spec = obj.find("spec");
  if (spec == nullptr || !spec->is_map()) return nullptr;
  if (kind == "Pod") return spec;
  if (kind == "CronJob") {
    Node* job = spec->find("jobTemplate");
    spec = job != nullptr ? job->find("spec") : nullptr;
    if (spec == nullptr || !spec->is_map()) return nullptr;
  }
  Node* tmpl = kind == "PodTemplate" ? obj.find("template") : spec->find("template");
  Node* pod = tmpl != nullptr ? tmpl->find("spec") : nullptr;
  return pod != nullptr && pod->is_map() ? pod : nullptr;
}

const char* spec_path(const std::string& kind) {
  if (kind == "Pod") return "spec";
  if (kind == "CronJob") return "spec.jobTemplate.spec.template.spec";
  if (kind == "PodTemplate") return "template.spec";
  return "spec.template.spec";
}

// One object (a document or a List item): its pod template, if its kind has one, or the
// templates of its items.
Result<bool> collect(Node& obj, std::string_view source, int line, std::vector<PodTemplate>& out, int list_depth) {
  using R = Result<bool>;
  if (!obj.is_map()) return R::failure(fmt::format("{}: not a Kubernetes object (a map with kind)", where(source, line)));
  std::string kind = obj.text("kind");
  if (kind.empty()) return R::failure(fmt::format("{}: an object without kind", where(source, line)));
  Node* items = obj.find("items");
  if (kind == "List" || (kind.size() > 4 && kind.ends_with("List") && items != nullptr)) {
    if (items == nullptr || items->is_null()) return true;
    if (!items->is_sequence()) return R::failure(fmt::format("{}: {} items is not a list", where(source, line), kind));
    if (list_depth > 4) return R::failure(fmt::format("{}: Lists nested in Lists more than 4 deep", where(source, line)));
    for (Node& item : items->items) {
      auto r = collect(item, source, item.line, out, list_depth + 1);
      if (!r.ok()) return r;
    }
    return true;
  }
  const auto& kinds = workload_kinds();
  if (std::find(kinds.begin(), kinds.end(), kind) == kinds.end()) return true;
  const Node* meta = obj.find("metadata");
  PodTemplate t;
  t.kind = kind;
  t.name = meta != nullptr ? meta->text("name") : std::string();
  t.namespace_ = meta != nullptr ? meta->text("namespace") : std::string();
  t.source = where(source, line);
  t.file = std::string(source);
  t.spec = spec_of(obj, kind);
  if (t.spec == nullptr)
    return R::failure(fmt::format("{}: {} {} has no pod template ({} is missing or not a map)", t.source, kind, t.name, spec_path(kind)));
  out.push_back(std::move(t));
  return true;
}

Result<bool> read_containers(const Node& spec, std::string_view key, bool init, std::string_view file, Workload& w) {
  using R = Result<bool>;
  const Node* list = spec.find(key);
  if (list == nullptr || list->is_null()) return true;
  if (!list->is_sequence()) return R::failure(fmt::format("{}: {} of {} {} is not a list", where(file, list->line), key, w.kind, w.name));
  for (const Node& c : list->items) {
    if (!c.is_map()) return R::failure(fmt::format("{}: a container of {} {} is not a map", where(file, c.line), w.kind, w.name));
    Container k{c.text("name"), c.text("image"), init, where(file, c.line)};
    if (k.image.empty())
      return R::failure(fmt::format("{}: container '{}' of {} {} has no image", k.source, k.name, w.kind, w.name));
    w.containers.push_back(std::move(k));
  }
  return true;
}

Result<std::vector<std::string>> scalars(const Node* n, std::string_view what, std::string_view file) {
  using R = Result<std::vector<std::string>>;
  std::vector<std::string> out;
  if (n == nullptr || n->is_null()) return out;
  if (!n->is_sequence()) return R::failure(fmt::format("{}: {} is not a list", where(file, n->line), what));
  for (const Node& v : n->items) {
    if (!v.is_scalar()) return R::failure(fmt::format("{}: {} holds a value that is not a string", where(file, v.line), what));
    out.push_back(v.value);
  }
  return out;
}

Result<bool> read_affinity(const Node& spec, std::string_view file, Workload& w) {
  using R = Result<bool>;
  static const std::set<std::string> ops = {"In", "NotIn", "Exists", "DoesNotExist", "Gt", "Lt"};
  const Node* aff = spec.find("affinity");
  const Node* na = aff != nullptr ? aff->find("nodeAffinity") : nullptr;
  const Node* req = na != nullptr ? na->find("requiredDuringSchedulingIgnoredDuringExecution") : nullptr;
  const Node* terms = req != nullptr ? req->find("nodeSelectorTerms") : nullptr;
  if (terms == nullptr || terms->is_null()) return true;
  if (!terms->is_sequence()) return R::failure(fmt::format("{}: nodeSelectorTerms is not a list", where(file, terms->line)));
  for (const Node& t : terms->items) {
    if (!t.is_map()) return R::failure(fmt::format("{}: a nodeSelectorTerm is not a map", where(file, t.line)));
    NodeSelectorTerm term;
    const Node* exprs = t.find("matchExpressions");
    if (exprs != nullptr && !exprs->is_null()) {
      if (!exprs->is_sequence()) return R::failure(fmt::format("{}: matchExpressions is not a list", where(file, exprs->line)));
      for (const Node& e : exprs->items) {
        if (!e.is_map()) return R::failure(fmt::format("{}: a matchExpression is not a map", where(file, e.line)));
        Requirement r{e.text("key"), e.text("operator"), {}};
        if (r.key.empty()) return R::failure(fmt::format("{}: a matchExpression without key", where(file, e.line)));
        if (ops.count(r.op) == 0)
          return R::failure(fmt::format("{}: operator '{}' is not one of In, NotIn, Exists, DoesNotExist, Gt, Lt", where(file, e.line), r.op));
        auto values = scalars(e.find("values"), "values", file);
        if (!values.ok()) return R::failure(values.error());
        r.values = values.take();
        term.match_expressions.push_back(std::move(r));
      }
    }
    w.required_terms.push_back(std::move(term));
  }
  return true;
}

Result<bool> read_tolerations(const Node& spec, std::string_view file, Workload& w) {
  const Node* list = spec.find("tolerations");
  if (list == nullptr || list->is_null()) return true;
  if (!list->is_sequence()) return Result<bool>::failure(fmt::format("{}: tolerations is not a list", where(file, list->line)));
  for (const Node& t : list->items) {
    if (!t.is_map()) return Result<bool>::failure(fmt::format("{}: a toleration is not a map", where(file, t.line)));
    Toleration tol{t.text("key"), t.text("operator"), t.text("value"), t.text("effect")};
    if (tol.op.empty()) tol.op = "Equal";
    if (tol.op != "Equal" && tol.op != "Exists")
      return Result<bool>::failure(fmt::format("{}: toleration operator '{}' is not Equal or Exists", where(file, t.line), tol.op));
    w.tolerations.push_back(std::move(tol));
  }
  return true;
}

}  // namespace

const std::vector<std::string>& workload_kinds() {
  static const std::vector<std::string> kinds = {"Pod",        "Deployment", "ReplicaSet", "StatefulSet",           "DaemonSet",
                                                 "Job",        "CronJob",    "PodTemplate", "ReplicationController"};
  return kinds;
}

Result<std::vector<ManifestFile>> load_manifests(const std::vector<std::string>& paths) {
  using R = Result<std::vector<ManifestFile>>;
  std::vector<ManifestFile> files;
  if (paths.empty()) return R::failure("no manifests given (-f FILE, DIR or -)");
  auto add = [&](const fs::path& p) -> Result<bool> {
    if (files.size() >= max_manifest_files)
      return Result<bool>::failure(fmt::format("more than {} manifest files", max_manifest_files));
    auto f = read_manifest(p);
    if (!f.ok()) return Result<bool>::failure(f.error());
    files.push_back(f.take());
    return true;
  };
  for (const std::string& arg : paths) {
    if (arg == "-") {
      auto text = read_stdin();
      if (!text.ok()) return R::failure(text.error());
      auto docs = yaml::parse(text.value(), "stdin");
      if (!docs.ok()) return R::failure(docs.error());
      files.push_back({"stdin", docs.take()});
      continue;
    }
    fs::path p(arg);
    std::error_code ec;
    auto st = fs::status(p, ec);
    if (ec || !fs::exists(st)) return R::failure(fmt::format("{}: no such file or directory", arg));
    if (!fs::is_directory(st)) {
      auto r = add(p);
      if (!r.ok()) return R::failure(r.error());
      continue;
    }
    std::vector<fs::path> found;
    for (fs::recursive_directory_iterator it(p, ec), end; !ec && it != end; it.increment(ec))
      if (is_yaml_name(it->path()) && it->is_regular_file(ec)) found.push_back(it->path());
    if (ec) return R::failure(fmt::format("{}: {}", arg, ec.message()));
    if (found.empty()) return R::failure(fmt::format("{}: no *.yaml or *.yml files in this directory", arg));
    std::sort(found.begin(), found.end());
    for (const fs::path& f : found) {
      auto r = add(f);
      if (!r.ok()) return R::failure(r.error());
    }
  }
  return files;
}

Result<std::vector<PodTemplate>> pod_templates(ManifestFile& file) {
  using R = Result<std::vector<PodTemplate>>;
  std::vector<PodTemplate> out;
  for (yaml::Document& d : file.documents) {
    auto r = collect(d.root, file.source, d.line, out, 0);
    if (!r.ok()) return R::failure(r.error());
  }
  return out;
}

Result<Workload> read_workload(const PodTemplate& t) {
  using R = Result<Workload>;
  Workload w;
  w.kind = t.kind;
  w.name = t.name;
  w.namespace_ = t.namespace_;
  w.source = t.source;
  const std::string& file = t.file;
  for (auto [key, init] : {std::pair{"containers", false}, std::pair{"initContainers", true}}) {
    auto r = read_containers(*t.spec, key, init, file, w);
    if (!r.ok()) return R::failure(r.error());
  }
  if (const Node* sel = t.spec->find("nodeSelector"); sel != nullptr && !sel->is_null()) {
    if (!sel->is_map()) return R::failure(fmt::format("{}: nodeSelector is not a map", where(file, sel->line)));
    for (const yaml::Entry& e : sel->entries) {
      if (!e.value.is_scalar()) return R::failure(fmt::format("{}: nodeSelector {} is not a string", where(file, e.value.line), e.key.value));
      w.node_selector[e.key.value] = e.value.value;
    }
  }
  auto a = read_affinity(*t.spec, file, w);
  if (!a.ok()) return R::failure(a.error());
  auto tol = read_tolerations(*t.spec, file, w);
  if (!tol.ok()) return R::failure(tol.error());
  return w;
}

Result<std::vector<Workload>> load_workloads(const std::vector<std::string>& paths) {
  using R = Result<std::vector<Workload>>;
  auto files = load_manifests(paths);
  if (!files.ok()) return R::failure(files.error());
  std::vector<Workload> out;
  for (ManifestFile& f : files.value()) {
    auto templates = pod_templates(f);
    if (!templates.ok()) return R::failure(templates.error());
    for (const PodTemplate& t : templates.value()) {
      auto w = read_workload(t);
      if (!w.ok()) return R::failure(w.error());
      out.push_back(w.take());
    }
  }
  return out;
}

}  // namespace xb::kube
