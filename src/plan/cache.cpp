// Deciding a platform's compiler caches. Native and cross builds run here, with the compilers
// the probes found. An emulated build runs in the target's rootfs, which sees the project (and
// so the cache dir) at the same path: its C/C++ compiles go through the host's ccache there,
// decided here and sealed with the rootfs's identity by emulate/. A runner build runs on
// another machine, where this ccache and these paths do not exist.

#include "plan/cache.hpp"

#include "exec/subprocess.hpp"
#include "plan/plan.hpp"
#include "plan/probe.hpp"
#include "util/sha256.hpp"
#include "util/strings.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cstdlib>

namespace xb {

namespace fs = std::filesystem;

namespace {

/// The variables that change what a compiler emits for the same source: a different value
/// must never reuse the other's objects, so each value set has its own cache.
const std::vector<std::string> k_codegen_vars = {
    "CC", "CXX", "CFLAGS", "CXXFLAGS", "CPPFLAGS", "LDFLAGS", "CGO_ENABLED", "CGO_CFLAGS", "CGO_CXXFLAGS",
    "CGO_LDFLAGS", "GOFLAGS", "GOAMD64", "GOARM", "GOARM64", "GO386", "GOMIPS64", "GOPPC64", "GORISCV64",
    "GOEXPERIMENT", "RUSTFLAGS"};

std::string get(const std::map<std::string, std::string>& env, const std::string& key) {
  auto it = env.find(key);
  return it == env.end() ? std::string() : it->second;
}

/// Set by the project itself ([env] or a build argument), so xbuild leaves it alone.
bool set_by_project(const Project& project, const PlatformPlan& plan, const std::string& key) {
  return project.env.count(key) || plan.args.count(key);
}

std::string build_path(const std::map<std::string, std::string>& env) {
  std::string path = get(env, "PATH");
  if (!path.empty()) return path;
  const char* ours = std::getenv("PATH");
  return ours ? ours : "/usr/bin:/bin";
}

}  // namespace

bool CachePlan::uses_ccache() const { return std::find(kinds.begin(), kinds.end(), "ccache") != kinds.end(); }
bool CachePlan::uses_gocache() const { return std::find(kinds.begin(), kinds.end(), "gocache") != kinds.end(); }
std::string CachePlan::kind() const { return kinds.empty() ? "none" : join(kinds, "+"); }

fs::path cache_root(const Project& project) { return state_dir(project) / "cache"; }

CachePlan plan_cache(const Project& project, const PlatformPlan& plan, const std::string& off_reason) {
  CachePlan cache;
  if (plan.strategy == Strategy::none) return cache;
  if (!off_reason.empty()) {
    cache.notes.push_back(fmt::format("off ({})", off_reason));
    return cache;
  }
  if (plan.strategy == Strategy::runner) {
    cache.notes.push_back("not used: the build runs on the runner, which keeps its own build dirs");
    return cache;
  }
  const auto& env = plan.env;
  std::string path = build_path(env);
  bool emulated = plan.strategy == Strategy::emulate;
  cache.in_rootfs = emulated;
  std::vector<std::string>& key = cache.key_parts;
  key = {"platform=" + plan.platform.str()};
  if (emulated) key.push_back("strategy=emulate");  // (native and cross keys stay as they were)
  if (plan.toolchain) key.push_back(fmt::format("toolchain={} {}", plan.toolchain->name, plan.toolchain->digest));

  // C and C++: the programs CC and CXX name, masqueraded by ccache.
  std::vector<std::string> compilers;
  std::string why_not;
  // In a rootfs, ccache costs an overlay and the host's libraries in the sandbox: only for the
  // languages whose build is the C/C++ compiles (a Go or Rust build there keeps its own caches).
  bool c_build = !emulated || project.language == "c" || project.language == "cxx" || project.language == "custom";
  for (const char* var : {"CC", "CXX"}) {
    if (!c_build) break;
    auto words = split(get(env, var), ' ');
    words.erase(std::remove(words.begin(), words.end(), std::string()), words.end());
    if (words.empty()) continue;
    const std::string& prog = words.front();
    if (fs::path(prog).filename() == "ccache") {
      why_not = fmt::format("{} already runs ccache ({})", var, get(env, var));
      break;
    }
    if (prog.find('/') != std::string::npos) {
      why_not = fmt::format("{} is a path ({}), and ccache's masquerade needs a name looked up on PATH", var, prog);
      break;
    }
    // In a rootfs the compiler is the rootfs's: its version is in the rootfs's identity, and
    // one it lacks is not masqueraded (emulate/ checks them there).
    if (!emulated) {
      if (!find_program(prog, path.c_str())) continue;  // the toolchain's probe says what is missing
      key.push_back(fmt::format("{}-version={}", var, tool_version({prog, "--version"}, path)));
    }
    if (std::find(compilers.begin(), compilers.end(), prog) == compilers.end()) compilers.push_back(prog);
  }
  if (why_not.empty() && !compilers.empty() && set_by_project(project, plan, "CCACHE_DIR"))
    why_not = "CCACHE_DIR is set by the project";
  if (!why_not.empty()) {
    cache.notes.push_back(fmt::format("ccache not used: {}", why_not));
  } else if (!compilers.empty()) {
    if (auto ccache = find_program("ccache")) {
      cache.kinds.push_back("ccache");
      cache.ccache = *ccache;
      cache.compilers = compilers;
    } else {
      cache.notes.push_back("ccache not used: it is not installed (apt-get install ccache)");
    }
  }

  // Go: GOCACHE per platform. GOMODCACHE holds module sources, the same for every
  // architecture, so it stays the user's own, shared by every platform and project.
  bool go = project.language == "go" || (plan.toolchain && std::find(plan.toolchain->languages.begin(),
                                                                      plan.toolchain->languages.end(), "go") !=
                                                                plan.toolchain->languages.end());
  if (go && emulated) {
    cache.notes.push_back("GOCACHE is not set for an emulated build: go keeps the rootfs's own");
  } else if (go) {
    if (set_by_project(project, plan, "GOCACHE")) {
      cache.notes.push_back(fmt::format("GOCACHE is set by the project ({}): xbuild adds none", get(env, "GOCACHE")));
    } else {
      cache.kinds.push_back("gocache");
      key.push_back("go-version=" + tool_version({"go", "version"}, path));
    }
  }
  if (project.language == "rust")
    cache.notes.push_back("cargo keeps its own target dir between builds (--target-dir, else target/ in {src}, split by "
                          "target triple): xbuild adds none");

  if (cache.kinds.empty()) return cache;
  for (const auto& var : k_codegen_vars) key.push_back(var + "=" + get(env, var));
  if (!emulated) seal_cache(project, cache, plan.platform.dir_name());
  return cache;
}

void seal_cache(const Project& project, CachePlan& cache, const std::string& platform_dir, const std::vector<std::string>& more) {
  std::vector<std::string> key = cache.key_parts;
  key.insert(key.end(), more.begin(), more.end());
  cache.key_parts = key;
  cache.key = sha256_hex(join(key, "\n")).substr(0, 16);
  cache.dir = cache_root(project) / (platform_dir + "-" + cache.key);
}

std::map<std::string, std::string> cache_env(const Project& project, const CachePlan& cache,
                                             const std::map<std::string, std::string>& env) {
  std::map<std::string, std::string> add;
  if (cache.unsealed()) return add;
  if (cache.uses_ccache()) {
    if (cache.in_rootfs) add["CCACHE_TEMPDIR"] = (cache.ccache_dir() / "tmp").string();
    else add["PATH"] = cache.bin().string() + ":" + build_path(env);
    if (!cache.compiler_check.empty()) add["CCACHE_COMPILERCHECK"] = cache.compiler_check;
    add["CCACHE_DIR"] = cache.ccache_dir().string();
    add["CCACHE_BASEDIR"] = project.dir.string();
    if (!project.cache.max_size.empty()) add["CCACHE_MAXSIZE"] = project.cache.max_size;
  }
  if (cache.uses_gocache()) add["GOCACHE"] = cache.go_cache().string();
  return add;
}

}  // namespace xb
