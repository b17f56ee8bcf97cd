// `xbuild resolve`: ko resolve + skaffold render. Reads Kubernetes YAML, builds (and with
// --push pushes) every `xbuild://PATH` project once, all projects in parallel, through the
// same build_and_export as `xbuild build`, replaces each reference with REPO/NAME@<index
// digest>, optionally pins other tags to digests and adds a required nodeAffinity to each
// pod template for the platforms all of its images have, then writes every document back in
// order. All or nothing: the YAML is written only after everything succeeded.

#include "cli/build_flags.hpp"
#include "cli/build_run.hpp"
#include "cli/commands.hpp"
#include "cli/image_spec.hpp"
#include "cli/progress.hpp"
#include "cli/registry_flags.hpp"
#include "kube/affinity.hpp"
#include "kube/kubectl.hpp"
#include "kube/manifest.hpp"
#include "registry/remote.hpp"
#include "util/fs.hpp"
#include "util/interrupt.hpp"
#include "util/parallel.hpp"
#include "util/strings.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <set>

namespace xb::cli {

namespace fs = std::filesystem;
using kube::yaml::Node;

namespace {

constexpr std::string_view k_scheme = "xbuild://";

struct ResolveOptions {
  std::vector<std::string> files;
  std::string repo;
  bool push = false;
  bool pin = false;
  bool affinity = false;
  bool no_affinity = false;
  std::string output;
  std::string progress = "quiet";
  PlanFlags flags;  ///< with flags.cluster: --nodes, --kube-context (shared with --platform cluster)
  registry::PushOptions push_options;
};

/// One container's image field in the manifests.
struct ImageUse {
  Node* node;
  std::string source;  ///< "file:line" of the container
  std::size_t tmpl;    ///< index into the pod templates
};

/// An xbuild project the manifests reference, and what building it gave.
struct ProjectBuild {
  fs::path dir;
  std::string first_use;  ///< "file:line" of the first reference
  std::string ref;        ///< REPO/NAME@sha256:...
  std::set<kube::NodePlatform> platforms;
  std::string error;
  Exit code = Exit::ok;
};

/// The project directory an `xbuild://PATH` names: PATH relative to the manifest's
/// directory, else to the working directory (stdin: only the latter).
fs::path project_dir(const std::string& path, const std::string& manifest, const std::string& where) {
  if (path.empty()) fail(Exit::usage, "{}: `{}` names no directory; write xbuild://PATH, e.g. xbuild://./app", where, k_scheme);
  std::vector<fs::path> tried;
  if (manifest != "stdin") tried.push_back(fs::absolute(fs::path(manifest)).parent_path() / path);
  tried.push_back(fs::absolute(path));
  std::error_code ec;
  for (const fs::path& dir : tried)
    if (fs::is_regular_file(dir / "xbuild.toml", ec)) return fs::canonical(dir, ec);
  std::vector<std::string> shown;
  for (const fs::path& dir : tried) shown.push_back(dir.lexically_normal().string());
  fail(Exit::usage, "{}: xbuild://{}: no xbuild.toml in {}; PATH is an xbuild project directory, relative to the manifest or the "
       "working directory", where, path, join(shown, " or "));
}

std::string platform_list(const std::set<kube::NodePlatform>& ps) {
  std::vector<std::string> names;
  for (const auto& p : ps) names.push_back(p.os + "/" + p.arch);
  return names.empty() ? "none" : join(names, ", ");
}

/// Builds (and pushes) one project; failures are kept in `p`, so every project's is reported.
void build_project(ProjectBuild& p, const ResolveOptions& o, const PlanOptions& popts, const std::string& repo, std::FILE* log) {
  try {
    auto [project, toolchains] = load_project_and_toolchains(p.dir, {});
    std::string name = repo + "/" + image_name_of(project);
    std::string tagged = name + ":latest";
    BuildJob job;
    job.plan = popts;
    job.build.slots = popts.slots;
    job.exports.type = oci::OutputType::oci;
    job.exports.dest = state_dir(project) / "oci";
    job.exports.tags = {tagged};
    job.exports.sbom = project.image.sbom;  // as build does: an SBOM and min provenance per platform
    job.exports.provenance = oci::ProvenanceMode::min;
    job.shown_dest = job.exports.dest.string();
    job.push = o.push;
    job.refs = {tagged};
    job.push_options = o.push_options;
    std::vector<Platform> targets = popts.platforms.empty() ? project.platforms : popts.platforms;
    if (targets.empty()) targets = {host_platform()};
    std::vector<std::string> names;
    for (const auto& t : targets) names.push_back(t.str());
    fmt::print(log, "xbuild: building {} ({}) for {}\n", image_name_of(project), p.dir.string(), join(names, ", "));
    std::fflush(log);
    Terminal term = detect_terminal(log, globals().no_color);
    auto status = make_status(parse_progress(o.progress, term), term, log);
    BuildRun run = build_and_export(project, toolchains, job, *status);
    if (!run.failures.empty()) {
      p.code = run.code.value_or(Exit::build_failed);
      p.error = fmt::format("{} of {} platforms failed:\n    {}", run.failures.size(), run.results.size(), join(run.failures, "\n    "));
      return;
    }
    if (!run.push_error.empty()) {
      p.code = Exit::registry;
      p.error = run.push_error;
      return;
    }
    std::string digest = run.pushed.empty() ? run.image->index_digest : run.pushed.front().digest;
    p.ref = name + "@" + digest;
    for (const auto& [platform, manifest] : run.image->manifests) p.platforms.insert({platform.os, platform.arch});
    fmt::print(log, "xbuild: {} -> {}{}\n", p.first_use, p.ref, o.push ? "" : " (not pushed: add --push)");
  } catch (const Error& e) {
    p.code = e.code();
    p.error = e.what();
  }
}

/// Whether to add nodeAffinity: the flags, else whether the cluster runs more than one
/// architecture (as Skaffold decides). Without --nodes or --kube-context a cluster that
/// cannot be read is a note, not an error: resolve works offline.
bool want_affinity(const ResolveOptions& o) {
  if (o.affinity) return true;
  if (o.no_affinity) return false;
  const ClusterFlags& cluster = o.flags.cluster;
  bool named = !cluster.nodes.empty() || !cluster.context.empty();
  std::vector<kube::Node> nodes;
  try {
    nodes = kube::load_nodes(kube::NodeSource{cluster.nodes, cluster.context});
  } catch (const Error& e) {
    if (named) throw;
    if (globals().verbose) fmt::print(stderr, "xbuild: no cluster nodes read ({}); no nodeAffinity added\n", e.what());
    return false;
  }
  std::set<std::string> archs;
  for (const auto& n : nodes) archs.insert(n.os + "/" + n.arch);
  if (archs.size() < 2) return false;
  fmt::print(stderr, "xbuild: the cluster's nodes run {} platforms ({}): adding nodeAffinity (--no-node-affinity to leave it out)\n",
             archs.size(), join(std::vector<std::string>(archs.begin(), archs.end()), ", "));
  return true;
}

/// Another image's digest and platforms from its registry, once per image.
class RemoteImages {
public:
  explicit RemoteImages(registry::ClientOptions options) : m_pool(std::move(options)) {}

  const registry::RemoteImageInfo& get(const std::string& image, const std::string& where) {
    if (auto it = m_seen.find(image); it != m_seen.end()) return it->second;
    registry::Reference ref;
    try {
      ref = registry::Reference::parse(image);
    } catch (const Error& e) {
      fail(Exit::usage, "{}: image '{}': {}", where, image, e.what());
    }
    try {
      registry::Client& client = m_pool.get(ref.registry);
      auto session = client.new_session();
      return m_seen.emplace(image, registry::remote_image_info(client, *session, ref)).first->second;
    } catch (const Error& e) {
      fail(e.code() == Exit::usage ? Exit::registry : e.code(), "{}: image {}: {}", where, image, e.what());
    }
  }

private:
  registry::ClientPool m_pool;
  std::map<std::string, registry::RemoteImageInfo> m_seen;
};

void run_resolve(ResolveOptions& o) {
  PlanOptions popts = to_plan_options(o.flags);
  if (!o.output.empty()) {
    std::error_code ec;
    fs::path parent = fs::absolute(o.output).parent_path();
    if (!fs::is_directory(parent, ec)) fail(Exit::usage, "-o {}: the directory {} does not exist", o.output, parent.string());
    if (fs::is_directory(o.output, ec)) fail(Exit::usage, "-o {}: is a directory; give a file", o.output);
  }
  auto files = kube::load_manifests(o.files).take(Exit::usage);

  // Every pod template and container image, checked before anything is built.
  std::vector<kube::PodTemplate> templates;
  for (auto& f : files) {
    auto ts = kube::pod_templates(f).take(Exit::usage);
    templates.insert(templates.end(), ts.begin(), ts.end());
  }
  std::vector<ImageUse> uses;
  for (std::size_t i = 0; i < templates.size(); ++i) {
    kube::read_workload(templates[i]).take(Exit::usage);  // shapes: containers, nodeSelector, affinity
    for (const char* key : {"containers", "initContainers"})
      if (Node* list = templates[i].spec->find(key); list != nullptr && list->is_sequence())
        for (Node& c : list->items) uses.push_back({c.find("image"), fmt::format("{}:{}", templates[i].file, c.line), i});
  }

  std::vector<ProjectBuild> projects;
  std::map<fs::path, std::size_t> project_of_dir;
  std::map<const Node*, std::size_t> project_of_use;
  for (const ImageUse& u : uses) {
    if (!u.node->value.starts_with(k_scheme)) continue;
    const kube::PodTemplate& t = templates[u.tmpl];
    fs::path dir = project_dir(u.node->value.substr(k_scheme.size()), t.file, u.source);
    auto [it, added] = project_of_dir.emplace(dir, projects.size());
    if (added) projects.push_back(ProjectBuild{dir, u.source, {}, {}, {}, Exit::ok});
    project_of_use[u.node] = it->second;
  }
  std::string repo = o.repo;
  if (repo.empty())
    if (const char* env = std::getenv("XBUILD_REPO")) repo = std::string(trim(env));
  while (!repo.empty() && repo.back() == '/') repo.pop_back();
  if (!projects.empty()) {
    if (repo.empty())
      fail(Exit::usage, "{}: xbuild:// images need a repository: -t REGISTRY/REPOSITORY (or XBUILD_REPO), e.g. -t registry.example.com/team",
           projects.front().first_use);
    try {
      registry::Reference::parse(repo + "/x:latest");
    } catch (const Error& e) {
      fail(Exit::usage, "-t {}: {}", repo, e.what());
    }
  }
  bool affinity = want_affinity(o);

  {
    // One InterruptScope around the parallel builds: whatever order the builds' own
    // handlers end in, the actions from before are back when this ends.
    InterruptScope interrupts;
    parallel_for(projects.size(), static_cast<int>(projects.size()), [] { return 0; },
                 [&](int&, std::size_t i) { build_project(projects[i], o, popts, repo, stderr); });
  }
  std::vector<std::string> errors;
  std::optional<Exit> code;
  for (const auto& p : projects) {
    if (p.error.empty()) continue;
    errors.push_back(fmt::format("{} ({}, first used at {}): {}", p.dir.filename().string(), p.dir.string(), p.first_use, p.error));
    code = !code || *code == p.code ? p.code : Exit::build_failed;
  }
  if (!errors.empty())
    throw Error(fmt::format("{} of {} projects failed; no YAML was written:\n  {}", errors.size(), projects.size(), join(errors, "\n  ")),
                *code);

  // Other images: pinned and/or their platforms, from their registries.
  RemoteImages remote(o.push_options.client_options());
  std::vector<std::set<kube::NodePlatform>> platforms_of_use(uses.size());
  for (std::size_t i = 0; i < uses.size(); ++i) {
    Node& image = *uses[i].node;
    if (auto it = project_of_use.find(&image); it != project_of_use.end()) {
      platforms_of_use[i] = projects[it->second].platforms;
      image = Node::scalar(projects[it->second].ref);
      continue;
    }
    bool pin = o.pin && image.value.find('@') == std::string::npos;
    if (!pin && !affinity) continue;
    const registry::RemoteImageInfo& info = remote.get(image.value, uses[i].source);
    for (const auto& p : info.platforms) platforms_of_use[i].insert({p.os, p.architecture});
    if (pin) image = Node::scalar(image.value + "@" + info.digest);
  }

  if (affinity) {
    for (std::size_t t = 0; t < templates.size(); ++t) {
      std::optional<std::set<kube::NodePlatform>> common;
      std::vector<std::string> each;
      for (std::size_t i = 0; i < uses.size(); ++i) {
        if (uses[i].tmpl != t) continue;
        each.push_back(fmt::format("{}: {}", uses[i].node->value, platform_list(platforms_of_use[i])));
        if (!common) {
          common = platforms_of_use[i];
          continue;
        }
        std::set<kube::NodePlatform> both;
        std::set_intersection(common->begin(), common->end(), platforms_of_use[i].begin(), platforms_of_use[i].end(),
                              std::inserter(both, both.end()));
        common = std::move(both);
      }
      if (!common) continue;  // no containers
      if (common->empty())
        fail(Exit::build_failed, "{}: {} {}: its images have no platform in common, so no node can run all of them:\n  {}",
             templates[t].source, templates[t].kind, templates[t].name, join(each, "\n  "));
      kube::require_platforms(templates[t], std::vector<kube::NodePlatform>(common->begin(), common->end())).take(Exit::build_failed);
    }
  }

  std::vector<kube::yaml::Document> all;
  for (auto& f : files)
    for (auto& d : f.documents) all.push_back(std::move(d));
  std::string text = kube::yaml::emit(all);
  if (!o.output.empty()) {
    write_file_atomic(o.output, text);
    return;
  }
  if (std::fwrite(text.data(), 1, text.size(), stdout) != text.size() || std::fflush(stdout) != 0)
    fail(Exit::environment, "cannot write the YAML to stdout");
}

}  // namespace

void register_resolve(CLI::App& app) {
  auto o = std::make_shared<ResolveOptions>();
  auto* cmd = app.add_subcommand("resolve",
                                 "Build every xbuild://PATH image of Kubernetes YAML and print the YAML with digest-pinned images "
                                 "(ko resolve, skaffold render)");
  cmd->add_option("-f,--filename", o->files, "Manifest FILE, DIR (every *.yaml/*.yml below it) or - (stdin); repeatable")->required();
  cmd->add_option("-t,--tag", o->repo, "Repository for xbuild:// images, REGISTRY/REPOSITORY (default: $XBUILD_REPO); each is REPO/NAME");
  cmd->add_flag("--push", o->push, "Push the built images (else they stay in each project's .xbuild/oci)");
  cmd->add_flag("--pin", o->pin, "Resolve every other image's tag to its digest through its registry");
  auto* on = cmd->add_flag("--node-affinity", o->affinity,
                           "Add a required nodeAffinity for the os/arch all of a pod's images have (default: when the cluster "
                           "has nodes of more than one architecture)");
  auto* off = cmd->add_flag("--no-node-affinity", o->no_affinity, "Never add nodeAffinity");
  on->excludes(off);
  cmd->add_option("-o,--output", o->output, "Write the YAML to FILE (atomically) instead of stdout");
  cmd->add_option("--progress", o->progress, "How builds show progress on stderr: quiet or plain")
      ->check(CLI::IsMember({"quiet", "plain"}))
      ->capture_default_str();
  add_plan_flags(*cmd, o->flags);
  add_push_flags(*cmd, o->push_options);
  cmd->callback([o] { run_resolve(*o); });
}

}  // namespace xb::cli
