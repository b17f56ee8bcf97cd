// `xbuild cluster platforms`: the platforms a Kubernetes cluster's nodes run, each with its
// node count, read through kubectl (or a saved `kubectl get nodes -o json` with --nodes).
// `xbuild cluster check -f FILE|DIR`: before a deploy, every workload whose pods could be
// placed on a node whose platform one of its images lacks ("exec format error"). The
// images are read here (registry or layout), the nodes through kube/, and kube/schedule
// decides, from plain values, which nodes each workload may land on and what is missing.

#include "cli/build_flags.hpp"
#include "cli/commands.hpp"
#include "cli/registry_flags.hpp"
#include "kube/kubectl.hpp"
#include "kube/manifest.hpp"
#include "kube/schedule.hpp"
#include "registry/source.hpp"
#include "registry/reference.hpp"
#include "registry/remote.hpp"
#include "util/parallel.hpp"
#include "util/strings.hpp"

#include <boost/json.hpp>
#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <map>
#include <set>

namespace xb::cli {

namespace {

struct ClusterOptions {
  ClusterFlags cluster;
  bool json = false;
};

struct CheckOptions {
  std::vector<std::string> files;          ///< -f FILE|DIR, repeatable
  ClusterFlags cluster;                    ///< --nodes, --kube-context, --arm-variant
  std::vector<std::string> image_sources;  ///< --image REF=SOURCE
  registry::ClientOptions registry;        ///< --creds, --insecure-registry, --ca-file
  bool json = false;
};

/// The most nodes a table row names; the rest are counted (--json has them all).
constexpr std::size_t k_nodes_shown = 6;
/// Images read at once (as the registry code's default parallel uploads).
constexpr int k_image_jobs = 4;

/// The platforms xbuild knows among an image's: an index's manifests' (attestation entries,
/// "unknown/unknown", and foreign ones such as windows cannot serve a linux node and are
/// left out), or a single manifest's config os/arch/variant.
std::vector<Platform> platforms_in(const registry::ImageSet& set) {
  std::vector<const oci::Descriptor*> descs;
  if (set.is_index())
    for (const auto& c : set.children) descs.push_back(&c.desc);
  else
    descs.push_back(&set.top.desc);
  std::vector<Platform> out;
  for (const auto* d : descs) {
    if (!d->platform || d->platform->os != "linux") continue;
    try {
      Platform p = Platform::parse(d->platform->str());
      if (std::find(out.begin(), out.end(), p) == out.end()) out.push_back(p);
    } catch (const Error&) {
      // an architecture xbuild has no platform for: no node xbuild knows can use it
    }
  }
  return out;
}

/// Reads an image: "oci:DIR[:TAG]" / "oci-archive:FILE[:TAG]" locally, anything else as a
/// registry reference (never as a path, as a manifest's "nginx" is no directory here).
registry::ImageSet read_image(const std::string& source, registry::ClientPool& pool) {
  if (source.rfind("oci:", 0) == 0 || source.rfind("oci-archive:", 0) == 0)
    return registry::read_image_source(source, pool, "image");
  auto ref = registry::Reference::parse(source);
  auto& client = pool.get(ref.registry);
  auto session = client.new_session();
  return registry::read_remote_image(client, *session, ref);
}

std::string workload_name(const kube::Workload& w) {
  std::string s = w.kind + "/" + w.name;
  if (!w.namespace_.empty()) s += " -n " + w.namespace_;
  return s;
}

/// --image REF=SOURCE values by REF; Error(usage) naming the flag for one without '='.
std::map<std::string, std::string> parse_image_sources(const std::vector<std::string>& values) {
  std::map<std::string, std::string> out;
  for (const auto& v : values) {
    auto eq = v.find('=');
    if (eq == std::string::npos || eq == 0 || eq + 1 == v.size())
      fail(Exit::usage, "--image {}: expected REF=SOURCE, e.g. registry.example.com/app:1=oci:./out:1", v);
    out[v.substr(0, eq)] = v.substr(eq + 1);
  }
  return out;
}

/// The platforms of every image the workloads use, each read once, k_image_jobs at a time.
/// Every image that cannot be read is named, with a workload that uses it, in one Error
/// (Exit::registry).
kube::ImagePlatforms read_images(const std::vector<kube::Workload>& workloads, const std::map<std::string, std::string>& sources,
                                 const registry::ClientOptions& options) {
  std::map<std::string, const kube::Workload*> users;
  for (const auto& w : workloads)
    for (const auto& c : w.containers) users.emplace(c.image, &w);
  std::vector<std::pair<std::string, const kube::Workload*>> todo(users.begin(), users.end());
  std::vector<std::vector<Platform>> found(todo.size());
  std::vector<std::string> failed(todo.size());
  registry::ClientPool pool(options);
  parallel_for(todo.size(), k_image_jobs, [&](std::size_t i) {
    const auto& [image, user] = todo[i];
    auto it = sources.find(image);
    std::string source = it == sources.end() ? image : it->second;
    try {
      found[i] = platforms_in(read_image(source, pool));
    } catch (const Error& e) {
      failed[i] = fmt::format("{}{} (used by {} in {}): {}", registry::redact_reference(image),
                              source == image ? "" : " from " + registry::redact_reference(source), workload_name(*user),
                              user->source, e.what());
    }
  });
  kube::ImagePlatforms out;
  std::vector<std::string> problems;
  for (std::size_t i = 0; i < todo.size(); ++i) {
    if (failed[i].empty()) out[todo[i].first] = std::move(found[i]);
    else problems.push_back(std::move(failed[i]));
  }
  if (!problems.empty())
    fail(Exit::registry, "cannot read {} image{} the manifests use:\n  {}", problems.size(), problems.size() == 1 ? "" : "s",
         join(problems, "\n  "));
  return out;
}

boost::json::array strings(const std::vector<std::string>& v) {
  boost::json::array a;
  for (const auto& s : v) a.push_back(boost::json::value(s));
  return a;
}

boost::json::object workload_json(const kube::Workload& w) {
  return {{"kind", w.kind}, {"name", w.name}, {"namespace", w.namespace_}, {"source", w.source}};
}

void print_check_json(const std::vector<kube::Workload>& workloads, const std::vector<kube::Node>& nodes,
                      const kube::ImagePlatforms& images, const kube::CheckResult& result) {
  boost::json::array image_arr, gaps, unschedulable;
  for (const auto& [image, platforms] : images) {
    std::vector<std::string> names;
    for (const auto& p : platforms) names.push_back(p.str());
    image_arr.push_back(boost::json::object{{"image", image}, {"platforms", strings(names)}});
  }
  for (const auto& g : result.gaps)
    gaps.push_back(boost::json::object{{"workload", workload_json(workloads[g.workload])}, {"container", g.container},
                                       {"init", g.init}, {"image", g.image}, {"missing", strings(g.missing)},
                                       {"nodes", strings(g.nodes)}});
  for (auto i : result.unschedulable) unschedulable.push_back(workload_json(workloads[i]));
  boost::json::object root{{"ok", result.gaps.empty()}, {"workloads", workloads.size()}, {"nodes", nodes.size()},
                           {"images", image_arr}, {"gaps", gaps}, {"unschedulable", unschedulable}};
  fmt::print("{}\n", boost::json::serialize(root));
}

void print_check_table(const std::vector<kube::Workload>& workloads, const kube::CheckResult& result) {
  std::vector<std::array<std::string, 5>> rows{{"WORKLOAD", "CONTAINER", "IMAGE", "MISSING", "NODES"}};
  for (const auto& g : result.gaps) {
    std::vector<std::string> shown(g.nodes.begin(), g.nodes.begin() + std::min(g.nodes.size(), k_nodes_shown));
    std::string nodes = join(shown, ",");
    if (g.nodes.size() > shown.size()) nodes += fmt::format(" (+{} more)", g.nodes.size() - shown.size());
    rows.push_back({workload_name(workloads[g.workload]), g.init ? g.container + " (init)" : g.container, g.image,
                    join(g.missing, ","), nodes});
  }
  std::array<std::size_t, 5> width{};
  for (const auto& r : rows)
    for (std::size_t i = 0; i < r.size(); ++i) width[i] = std::max(width[i], r[i].size());
  for (const auto& r : rows)
    fmt::print("{:<{}}  {:<{}}  {:<{}}  {:<{}}  {}\n", r[0], width[0], r[1], width[1], r[2], width[2], r[3], width[3], r[4]);
}

void run_check(const CheckOptions& o) {
  auto workloads = kube::load_workloads(o.files).take(Exit::usage);
  auto nodes = kube::load_nodes(kube::NodeSource{o.cluster.nodes, o.cluster.context});
  if (nodes.empty()) fail(Exit::environment, "the cluster has no nodes: nothing to check against");
  registry::ClientOptions ropts = o.registry;
  ropts.verbose = globals().verbose;
  auto images = read_images(workloads, parse_image_sources(o.image_sources), ropts);
  auto result = kube::check_workloads(workloads, nodes, images, o.cluster.arm_variant).take(Exit::usage);

  for (auto i : result.unschedulable)
    fmt::print(stderr, "xbuild: warning: {} ({}): no node accepts its pods (nodeSelector, required node affinity, taints): they would stay Pending\n",
               workload_name(workloads[i]), workloads[i].source);
  if (o.json) print_check_json(workloads, nodes, images, result);
  else if (!result.gaps.empty()) print_check_table(workloads, result);
  if (result.gaps.empty()) {
    if (!o.json)
      fmt::print("ok: the images of {} workload{} cover every node their pods can be placed on ({} node{})\n", workloads.size(),
                 workloads.size() == 1 ? "" : "s", nodes.size(), nodes.size() == 1 ? "" : "s");
    return;
  }
  std::set<std::size_t> failing;
  for (const auto& g : result.gaps) failing.insert(g.workload);
  fail(Exit::build_failed, "{} workload{} would fail with \"exec format error\" on some nodes ({} container{} whose image lacks "
       "the node's platform); build the missing platforms (xbuild build --platform cluster) or keep the pods off those nodes "
       "(nodeSelector kubernetes.io/arch, or xbuild resolve --node-affinity)",
       failing.size(), failing.size() == 1 ? "" : "s", result.gaps.size(), result.gaps.size() == 1 ? "" : "s");
}

}  // namespace

void register_cluster(CLI::App& app) {
  auto o = std::make_shared<ClusterOptions>();
  auto* cmd = app.add_subcommand("cluster", "What a Kubernetes cluster's nodes run, and whether your images cover them (through kubectl)");
  cmd->require_subcommand(1);
  auto* platforms = cmd->add_subcommand("platforms", "Print each platform the cluster's nodes run, with its node count");
  add_cluster_flags(*platforms, o->cluster);
  platforms->add_flag("--json", o->json, "Machine-readable output");
  platforms->callback([o] {
    auto nodes = kube::load_nodes(kube::NodeSource{o->cluster.nodes, o->cluster.context});
    auto by_platform = kube::platforms_of(nodes, o->cluster.arm_variant);
    if (o->json) {
      boost::json::array arr;
      for (const auto& [p, names] : by_platform)
        arr.push_back(boost::json::object{{"platform", p.str()}, {"count", names.size()}, {"nodes", strings(names)}});
      fmt::print("{}\n", boost::json::serialize(boost::json::object{{"platforms", arr}}));
      return;
    }
    for (const auto& [p, names] : by_platform)
      fmt::print("{:<16} {} node{}\n", p.str(), names.size(), names.size() == 1 ? "" : "s");
  });

  auto c = std::make_shared<CheckOptions>();
  auto* check = cmd->add_subcommand("check",
                                    "Report every workload whose pods could be placed on a node whose platform one of its images "
                                    "lacks (exit 1: it would fail with \"exec format error\")");
  check->add_option("-f,--filename", c->files, "Kubernetes YAML: a file, a directory of *.yaml/*.yml, or - for stdin (repeatable)")
      ->required()
      ->allow_extra_args(false);
  add_cluster_flags(*check, c->cluster);
  check->add_option("--image", c->image_sources,
                    "REF=SOURCE: read the image the manifests call REF from SOURCE instead (oci:DIR[:TAG], "
                    "oci-archive:FILE[:TAG] or another registry reference), e.g. to check before pushing (repeatable)")
      ->allow_extra_args(false);
  add_registry_flags(*check, c->registry);
  check->add_flag("--json", c->json, "One JSON document on stdout");
  check->callback([c] { run_check(*c); });
}

}  // namespace xb::cli
