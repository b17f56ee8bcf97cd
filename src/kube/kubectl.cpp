#include "kube/kubectl.hpp"

#include "exec/subprocess.hpp"
#include "util/fs.hpp"
#include "util/strings.hpp"
#include "util/temp.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <system_error>

namespace xb::kube {

namespace {

// kubectl's own bound on a request; a cluster that does not answer fails instead of hanging.
constexpr const char* k_request_timeout = "--request-timeout=20s";

std::string current_context() {
  CaptureOptions opts;
  opts.err = OutputTo::discard;
  opts.limit = 4096;
  Command cmd;
  cmd.argv = {"kubectl", "config", "current-context"};
  Captured c = capture(cmd, opts);
  return c.ok() ? std::string(trim(c.output)) : std::string();
}

}  // namespace

std::vector<Node> load_nodes(const NodeSource& source) {
  if (!source.nodes_file.empty()) {
    std::error_code ec;
    auto size = std::filesystem::file_size(source.nodes_file, ec);
    if (ec) fail(Exit::usage, "--nodes {}: {}; pass the output of `kubectl get nodes -o json`", source.nodes_file.string(), ec.message());
    if (size > max_node_list_bytes)
      fail(Exit::usage, "--nodes {}: {} bytes is more than a node list may hold ({} MiB)", source.nodes_file.string(), size, max_node_list_bytes >> 20);
    return parse_node_list(read_file(source.nodes_file), source.nodes_file.string()).take(Exit::usage);
  }
  Command cmd;
  cmd.argv = {"kubectl"};
  if (!source.context.empty()) cmd.argv.insert(cmd.argv.end(), {"--context", source.context});
  cmd.argv.insert(cmd.argv.end(), {k_request_timeout, "get", "nodes", "-o", "json"});
  // stderr apart from the JSON: kubectl's warnings must not corrupt it, and its words are
  // what a failure reports. A private temp file (0600), not a guessable name.
  TempFile errors = TempFile::in(std::filesystem::temp_directory_path(), "xbuild-kubectl-");
  CaptureOptions opts;
  opts.err = OutputTo::fd;
  opts.err_fd = errors.fd();
  opts.limit = max_node_list_bytes + 1;
  Captured c = capture(cmd, opts);
  if (c.exit.exit_code == 127)
    fail(Exit::environment, "kubectl is not installed; install it (apt-get install kubernetes-client) or pass --nodes FILE");
  if (!c.ok()) {
    std::string context = source.context.empty() ? current_context() : source.context;
    errors.close();
    std::string text = read_file(errors.path());
    if (text.size() > 4096) text.resize(4096);
    // kubectl's verdict, without client-go's klog retry noise ("E1202 12:03:03.69 ...").
    auto klog = [](std::string_view l) {
      return l.size() > 5 && std::string_view("EWIF").find(l[0]) != std::string_view::npos &&
             std::all_of(l.begin() + 1, l.begin() + 5, [](char ch) { return ch >= '0' && ch <= '9'; }) && l[5] == ' ';
    };
    std::string words;
    for (const auto& line : split(text, '\n'))
      if (!klog(line)) words += (words.empty() ? "" : "; ") + std::string(trim(line));
    if (words.empty()) words = std::string(trim(text));
    fail(Exit::registry, "cannot read the nodes of kubeconfig context '{}' ({}): {}",
         context.empty() ? "(none)" : context, c.exit.describe(), words.empty() ? "kubectl printed nothing" : words);
  }
  if (c.truncated) fail(Exit::registry, "kubectl get nodes: more than {} MiB of JSON", max_node_list_bytes >> 20);
  return parse_node_list(c.output, "kubectl get nodes -o json").take(Exit::registry);
}

}  // namespace xb::kube
