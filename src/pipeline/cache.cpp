// Making the cache dirs and reading ccache's own statistics (every process through exec/).

#include "pipeline/cache.hpp"

#include "exec/subprocess.hpp"
#include "util/error.hpp"
#include "util/strings.hpp"

#include <fmt/format.h>

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

void prepare_cache(const PlatformPlan& plan) {
  const CachePlan& cache = plan.cache;
  if (cache.kinds.empty() || cache.unsealed()) return;
  std::error_code ec;
  auto make_dir = [&](const fs::path& d) {
    fs::create_directories(d, ec);
    if (ec) fail(Exit::environment, "cannot create the cache dir {}: {}", d.string(), ec.message());
  };
  if (cache.uses_gocache()) make_dir(cache.go_cache());
  if (!cache.uses_ccache()) return;
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
  Captured z = capture(ccache_command(plan, {"-z"}));
  if (!z.ok())
    fail(Exit::environment, "`{}` failed ({}): {}", ccache_command(plan, {"-z"}).display(), z.exit.describe(), trim(z.output));
}

std::optional<CacheStats> read_cache_stats(const PlatformPlan& plan) {
  const CachePlan& cache = plan.cache;
  if (cache.kinds.empty() || cache.unsealed()) return std::nullopt;
  CacheStats stats;
  stats.kind = cache.kind();
  stats.dir = cache.dir;
  if (!cache.uses_ccache()) return stats;
  Captured out = capture(ccache_command(plan, {"--print-stats"}));
  if (!out.ok()) return stats;
  for (const auto& line : split(out.output, '\n')) {
    auto tab = line.find('\t');
    if (tab == std::string::npos) continue;
    std::string name = line.substr(0, tab);
    long long value = std::atoll(line.c_str() + tab + 1);
    if (name == "direct_cache_hit" || name == "preprocessed_cache_hit") stats.hits += value;
    else if (name == "cache_miss") stats.misses += value;
  }
  stats.measured = true;
  return stats;
}

}  // namespace xb
