// The registry flags, defined once for every subcommand that talks to a registry. They live
// in cli/ because only cli/ sees CLI11; registry/ gets plain option structs.

#include "cli/registry_flags.hpp"

#include <CLI/CLI.hpp>

#include <cstdint>

namespace xb::cli {

namespace {

/// --creds, --insecure-registry and --ca-file, for any options type that has those fields.
template <typename Options>
void add_connection_flags(CLI::App& cmd, Options& options) {
  cmd.add_option("--creds", options.creds,
                 "USER:PASSWORD for the registry (default: docker's config.json and credential helpers)");
  cmd.add_option("--insecure-registry", options.insecure_registries,
                 "Allow plain http and unverified TLS for this registry host (repeatable)")
      ->allow_extra_args(false);
  cmd.add_option("--ca-file", options.ca_file, "Extra CA certificates (PEM) to trust for registries")
      ->check(CLI::Validator(
          [](std::string& path) {
            std::string problem = registry::ca_file_problem(path);
            return problem.empty() ? problem : path + ": " + problem;
          },
          "PEM"));
}

}  // namespace

void add_registry_flags(CLI::App& cmd, registry::ClientOptions& options) { add_connection_flags(cmd, options); }

void add_push_flags(CLI::App& cmd, registry::PushOptions& options) {
  add_connection_flags(cmd, options);
  cmd.add_option("--push-jobs", options.jobs, "Parallel blob uploads")->capture_default_str()->check(CLI::Range(1, 64));
  cmd.add_option("--chunk-size", options.chunk_size, "Upload blobs larger than this many bytes in chunks of this size")
      ->capture_default_str()
      ->check(CLI::Range(static_cast<std::uint64_t>(1024), static_cast<std::uint64_t>(1ull << 40)));
  cmd.add_flag("--docker-manifest-list-fallback", options.docker_fallback,
               "If the registry rejects the OCI index (MANIFEST_INVALID), push a Docker manifest list with "
               "converted platform manifests instead (new digests)");
  cmd.add_option("--retries", options.max_attempts, "Attempts per blob or manifest on 5xx and broken connections")
      ->capture_default_str()
      ->check(CLI::Range(1, 20));
}

}  // namespace xb::cli
