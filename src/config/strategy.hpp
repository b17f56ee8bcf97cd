#pragma once
// How a platform is built. The enum lives in config/ because xbuild.toml's [strategy] table
// names it and config validates it at load time (with the file and line); plan/ and every
// stage above use the same values, so no stage re-parses a strategy string.

#include <optional>
#include <string_view>

namespace xb {

/// How one platform is built; `none` = no strategy can serve it (plan explains why).
enum class Strategy { native, cross, emulate, runner, none };

/// "native", "cross", "emulate", "runner", "none".
std::string_view to_string(Strategy s);
/// Parses a strategy name (auto -> nullopt). Throws Error(usage) when unknown.
std::optional<Strategy> parse_strategy(std::string_view s);

}  // namespace xb
