// `xbuild rootfs create|resolve|list`: target root filesystems for emulated builds, made once with
// mmdebstrap and cached (CI runs `rootfs create` as its first step). Also the hidden
// `__exec-in-rootfs` helper that emulated build commands are rewritten to call: it lives
// in the xbuild binary so the build needs no other setuid or helper program.

#include "cli/build_flags.hpp"
#include "cli/commands.hpp"
#include "config/project.hpp"
#include "emulate/rootfs.hpp"
#include "emulate/sandbox.hpp"
#include "util/error.hpp"
#include "util/strings.hpp"

#include <fmt/format.h>

namespace xb::cli {

namespace fs = std::filesystem;

namespace {

struct RootfsCmd {
  std::string platform;
  std::string packages = "gcc,make,libc6-dev";
  std::string suite;
  std::vector<std::string> mirrors;
  std::vector<std::string> apt_options;
  bool force = false;
};

}  // namespace

void register_rootfs(CLI::App& app) {
  auto o = std::make_shared<RootfsCmd>();
  auto* cmd = app.add_subcommand("rootfs", "Create and list cached target root filesystems for emulated builds");
  cmd->require_subcommand(1);

  auto* create = cmd->add_subcommand("create", "Create (or reuse) a cached rootfs with mmdebstrap; prints its path");
  create->add_option("--platform", o->platform, "Target platform, e.g. linux/arm64")->required()->check(platform_list_check());
  create->add_option("--packages", o->packages, "Comma-separated Debian packages to include")->capture_default_str();
  create->add_option("--suite", o->suite, "Debian suite (default: this machine's, e.g. bookworm)");
  create->add_option("--mirror", o->mirrors, "A mirror or sources.list line for mmdebstrap (repeatable; default: this machine's apt sources)");
  create->add_option("--aptopt", o->apt_options, "An apt option for mmdebstrap, e.g. 'Acquire::Check-Valid-Until \"false\"' (repeatable)");
  create->add_flag("--force", o->force, "Recreate even when cached");
  create->callback([o] {
    Platform p = Platform::parse(o->platform);
    emulate::CreateOptions opts;
    opts.suite = o->suite;
    opts.mirrors = o->mirrors;
    opts.apt_options = o->apt_options;
    opts.force = o->force;
    fs::path dir = emulate::ensure_rootfs(p, split(o->packages, ','), opts);
    fmt::print("{}\n", dir.string());
  });

  auto* resolve = cmd->add_subcommand("resolve", "Print the rootfs the project's emulated build for a platform uses (unpacking or creating it)");
  resolve->add_option("--platform", o->platform, "Target platform, e.g. linux/arm64")->required()->check(platform_list_check());
  resolve->callback([o] {
    Project project = load_project(globals().dir, globals().file);
    fmt::print("{}\n", emulate::resolve_rootfs(project, Platform::parse(o->platform)).string());
  });

  auto* list = cmd->add_subcommand("list", "List the cached root filesystems");
  list->callback([] {
    fs::path cache = emulate::rootfs_cache_dir();
    std::error_code ec;
    if (!fs::is_directory(cache, ec)) {
      fmt::print(stderr, "no rootfs cache at {} yet\n", cache.string());
      return;
    }
    std::vector<std::string> names;
    for (const auto& e : fs::directory_iterator(cache, ec)) {
      std::string n = e.path().filename().string();
      if (e.is_directory() && n.find(".tmp-") == std::string::npos && n.find(".layout") == std::string::npos)
        names.push_back(e.path().string());
    }
    std::sort(names.begin(), names.end());
    for (const auto& n : names) fmt::print("{}\n", n);
  });

  auto* exec = app.add_subcommand("__exec-in-rootfs", "");
  exec->group("");  // hidden: called by emulated build commands
  exec->prefix_command();
  exec->fallthrough(false);  // everything after it belongs to the helper, -C of make included
  exec->allow_extras();
  exec->callback([exec] {
    emulate::exec_in_rootfs(emulate::parse_exec_args(exec->remaining()));
  });
}

}  // namespace xb::cli
