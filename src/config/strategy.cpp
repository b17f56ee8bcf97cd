// Strategy names: printed and parsed here only (xbuild.toml, --strategy, `xbuild plan`).

#include "config/strategy.hpp"

#include "util/error.hpp"

namespace xb {

std::string_view to_string(Strategy s) {
  switch (s) {
    case Strategy::native: return "native";
    case Strategy::cross: return "cross";
    case Strategy::emulate: return "emulate";
    case Strategy::runner: return "runner";
    case Strategy::none: return "none";
  }
  return "none";
}

std::optional<Strategy> parse_strategy(std::string_view s) {
  if (s == "auto") return std::nullopt;
  for (Strategy st : {Strategy::native, Strategy::cross, Strategy::emulate, Strategy::runner}) {
    if (to_string(st) == s) return st;
  }
  fail(Exit::usage, "unknown strategy '{}': expected auto, native, cross, emulate or runner", s);
}

}  // namespace xb
