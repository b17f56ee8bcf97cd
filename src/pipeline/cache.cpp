// Making the cache dirs and reading ccache's own statistics (every process through exec/).

#include "pipeline/cache.hpp"

#include "exec/subprocess.hpp"
#include "plan/cache.hpp"
#include "util/error.hpp"
#include "util/strings.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <system_error>

namespace xb {

namespace fs = std::filesystem;

namespace {

/// ccache run on this platform's cache dir.
Command ccache_command(const PlatformPlan& plan, std::vector<std::string> args) {
  args.insert(args.begin(), plan.cache.ccache.string());
  return Command{std::move(args), {{"CCACHE_DIR", plan.cache.ccache_dir().string()}}, {}};
}

}  // namespace

namespace {

/// Go's cache: <GOCACHE>/<2 hex>/<64 hex>-a is one action's entry (-d files are outputs).
template <typename Fn>
void for_each_go_action(const fs::path& gocache, Fn fn) {
  std::error_code ec;
  for (fs::directory_iterator dir(gocache, ec), end; !ec && dir != end; dir.increment(ec)) {
    if (dir->path().filename().string().size() != 2 || !dir->is_directory(ec)) continue;
    for (fs::directory_iterator f(dir->path(), ec), fend; !ec && f != fend; f.increment(ec)) {
      const std::string name = f->path().filename().string();
      if (name.size() > 2 && name.compare(name.size() - 2, 2, "-a") == 0) fn(f->path());
    }
    ec.clear();
  }
}

/// Go touches an entry it reuses only when its mtime is at least this old (cmd/go's
/// internal/cache mtimeInterval, one hour), so entries younger than that are set back past it.
constexpr auto k_go_touch_interval = std::chrono::hours(1);
constexpr auto k_go_age_margin = std::chrono::minutes(10);

/// ccache's hit and miss counters (`ccache --print-stats`: one "name<TAB>value" per line).
Result<CcacheCounters> read_ccache_counters(const PlatformPlan& plan) {
  Captured out = capture(ccache_command(plan, {"--print-stats"}));
  if (!out.ok()) return Result<CcacheCounters>::failure(fmt::format("{}: {}", out.exit.describe(), trim(out.output)));
  CcacheCounters c;
  for (const auto& line : split(out.output, '\n')) {
    auto tab = line.find('\t');
    if (tab == std::string::npos) continue;
    std::string name = line.substr(0, tab);
    long long value = std::atoll(line.c_str() + tab + 1);
    if (name == "direct_cache_hit" || name == "preprocessed_cache_hit") c.hits += value;
    else if (name == "cache_miss") c.misses += value;
  }
  return c;
}

/// Takes the cache out of the build: each variable cache_env added goes from its environment
/// (PATH loses only the masquerade dir in front), so the build runs as with --no-cache.
void drop_cache(const Project& project, PlatformPlan& plan, const std::string& why) {
  auto& env = plan.command.env;
  for (const auto& [var, ours] : cache_env(project, plan.cache, env)) {
    auto it = env.find(var);
    if (it == env.end()) continue;
    if (var != "PATH") {
      if (it->second == ours) env.erase(it);
      continue;
    }
    const std::string prefix = plan.cache.bin().string() + ":";
    if (it->second.rfind(prefix, 0) == 0) it->second.erase(0, prefix.size());
  }
  CachePlan none;
  none.notes.push_back("not used: " + why);
  plan.cache = std::move(none);
}

}  // namespace

CacheBaseline prepare_cache(const Project& project, PlatformPlan& plan) {
  CacheBaseline base;
  const CachePlan& cache = plan.cache;
  if (cache.kinds.empty() || cache.unsealed()) return base;
  try {
    std::error_code ec;
    auto make_dir = [&](const fs::path& d) {
      fs::create_directories(d, ec);
      if (ec) fail(Exit::environment, "cannot create the cache dir {}: {}", d.string(), ec.message());
    };
    if (cache.uses_gocache()) make_dir(cache.go_cache());
    if (cache.uses_ccache()) {
      make_dir(cache.bin());
      make_dir(cache.ccache_dir());
      // In a rootfs the links name the host's ccache where the sandbox binds it, so they dangle here.
      const fs::path& target = cache.link_target.empty() ? cache.ccache : cache.link_target;
      if (cache.in_rootfs) make_dir(cache.ccache_dir() / "tmp");
      for (const auto& name : cache.compilers) {
        fs::path link = cache.bin() / name;
        if (fs::is_symlink(link, ec) && fs::read_symlink(link, ec) == target) continue;
        fs::remove(link, ec);
        fs::create_symlink(target, link, ec);
        if (ec) fail(Exit::environment, "cannot create the ccache link {} -> {}: {}", link.string(), target.string(), ec.message());
      }
      // The counters as they stand: read_cache_stats reports the difference. Reading them
      // writes nothing (`ccache -z` rewrites a stats file in each of 272 dirs, ~0.1 s each build).
      auto before = read_ccache_counters(plan);
      if (!before)
        fail(Exit::environment, "`{}` failed: {}", ccache_command(plan, {"--print-stats"}).display(), before.error());
      base.ccache = *before;
    }
  } catch (const Error& e) {
    base.warnings.push_back(fmt::format("{}: building without the compiler cache: {}", plan.platform.str(), e.what()));
    drop_cache(project, plan, e.what());
    return base;
  }
  base.ready = true;
  if (cache.uses_gocache()) {
    auto now = fs::file_time_type::clock::now();
    auto aged = now - k_go_touch_interval - k_go_age_margin;
    long long entries = 0;
    bool aged_all = true;
    for_each_go_action(cache.go_cache(), [&](const fs::path& entry) {
      ++entries;
      std::error_code ec;
      auto mtime = fs::last_write_time(entry, ec);
      if (ec || mtime <= aged) return;
      fs::last_write_time(entry, aged, ec);
      if (ec) aged_all = false;
    });
    if (aged_all) {
      base.go_entries = entries;
      base.go_start = now;
    }
  }
  return base;
}

std::optional<CacheStats> read_cache_stats(const PlatformPlan& plan, const CacheBaseline& baseline) {
  const CachePlan& cache = plan.cache;
  if (cache.kinds.empty() || !baseline.ready) return std::nullopt;
  CacheStats stats;
  stats.kind = cache.kind();
  stats.dir = cache.dir;
  if (cache.uses_gocache() && baseline.go_entries >= 0) {
    long long entries = 0, used = 0;
    for_each_go_action(cache.go_cache(), [&](const fs::path& entry) {
      ++entries;
      std::error_code ec;
      auto mtime = fs::last_write_time(entry, ec);
      if (!ec && mtime >= baseline.go_start) ++used;
    });
    // Go trims entries unused for days at most once a day, so `entries` can shrink; new ones
    // are never fewer than zero and never more than those used.
    stats.go_misses = std::clamp(entries - baseline.go_entries, 0LL, used);
    stats.go_hits = used - stats.go_misses;
    stats.go_measured = true;
  }
  if (!cache.uses_ccache()) return stats;
  auto after = read_ccache_counters(plan);
  if (!after) return stats;
  // A counter below its start means the statistics were zeroed meanwhile (by hand): count from zero.
  auto since = [](long long now, long long start) { return now >= start ? now - start : now; };
  stats.hits = since(after->hits, baseline.ccache.hits);
  stats.misses = since(after->misses, baseline.ccache.misses);
  stats.measured = true;
  return stats;
}

}  // namespace xb
