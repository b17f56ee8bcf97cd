#pragma once
// CLI11 flag registration for the registry options: the only bridge between CLI11 and the
// option structs of registry/, which itself knows nothing of the command line.

#include "registry/client.hpp"
#include "registry/push.hpp"

namespace CLI {
class App;
}

namespace xb::cli {

/// Adds --creds, --insecure-registry and --ca-file (for commands that only read).
void add_registry_flags(CLI::App& cmd, registry::ClientOptions& options);
/// Adds those and --push-jobs, --chunk-size, --retries and --docker-manifest-list-fallback.
void add_push_flags(CLI::App& cmd, registry::PushOptions& options);

}  // namespace xb::cli
