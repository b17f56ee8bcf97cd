// xbuild's entry point: global flags, subcommand registration, and the one place where an
// Error becomes "xbuild: error: ..." and an exit code (see README.md, "Exit codes").

#include "cli/commands.hpp"
#include "cli/parse_errors.hpp"
#include "cli/progress.hpp"
#include "util/error.hpp"

#include <fmt/format.h>

#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <new>
#include <system_error>
#include <iostream>
#include <string>
#include <vector>

int main(int argc, char** argv) {
  using namespace xb;
  // A reader that goes away (xbuild build | head) must not kill xbuild before it kills its
  // children: writes fail instead, the error unwinds, and the runner's destructor cleans up.
  std::signal(SIGPIPE, SIG_IGN);
  // A parent that left SIGCHLD ignored would make the kernel reap our children before we
  // can read their exit status.
  std::signal(SIGCHLD, SIG_DFL);
  CLI::App app{"xbuild: build one project for many platforms and ship one multi-arch OCI image"};
  app.set_version_flag("--version", std::string("xbuild ") + XBUILD_VERSION);
  app.add_subcommand("version", "Print xbuild's version (as --version)")->callback([] { fmt::print("xbuild {}\n", XBUILD_VERSION); });
  app.require_subcommand(1);
  // Global flags may also follow the subcommand (xbuild build -C DIR ...); subcommands made
  // after this inherit it.
  app.fallthrough();
  auto& g = cli::globals();
  g.no_color = cli::no_color_env();
  app.add_option("-C,--directory", g.dir, "Project directory (holds xbuild.toml)")->capture_default_str();
  app.add_option("-f,--file", g.file, "Project file (default: DIR/xbuild.toml), as docker build -f");
  app.add_flag("--no-color", g.no_color, "No colours or cursor movement (also when NO_COLOR is set or TERM=dumb)");
  app.add_flag("-v,--verbose", g.verbose, "Say more");

  cli::register_build(app);
  cli::register_plan(app);
  cli::register_toolchains(app);
  cli::register_cluster(app);
  cli::register_resolve(app);
  cli::register_matrix(app);
  // Further subcommands register here (one line each).
  cli::register_doctor(app);
  cli::register_run(app);
  cli::register_test(app);
  cli::register_test_exec(app);
  cli::register_bench(app);
  cli::register_rootfs(app);
  cli::register_runner_exec(app);
  cli::register_push(app);
  cli::register_merge(app);
  cli::register_inspect(app);
  cli::register_manifest(app);
  cli::register_ls(app);
  cli::register_copy(app);
  cli::register_sbom(app);
  cli::register_completion(app);

  // Every error message passes through redact: a password given with --creds is never printed,
  // whichever code echoes it (parse errors also mask any USER:PASS-shaped argument).
  std::vector<std::string> args(argv + 1, argv + argc);
  std::vector<std::string> secrets = cli::secrets_in(args, cli::SecretGuess::creds_only);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == 0) return app.exit(e);  // --help, --version
    for (const auto& m : cli::describe_parse_error(app, e, args)) fmt::print(stderr, "xbuild: error: {}\n", m);
    fmt::print(stderr, "xbuild: see '{} --help'\n", cli::command_path(app));
    // `run` leaves 0-124 to the program: its own failures are 125 (as docker run's).
    return app.got_subcommand("run") ? 125 : static_cast<int>(Exit::usage);
  } catch (const Error& e) {
    fmt::print(stderr, "xbuild: error: {}\n", cli::redact(e.what(), secrets));
    return static_cast<int>(e.code());
  } catch (const std::filesystem::filesystem_error& e) {
    // A file operation no code above turned into an Error: the machine's (permissions, a full
    // disk, a missing directory), so 3; its message names the paths involved.
    fmt::print(stderr, "xbuild: error: {} (check that path's permissions and free space)\n", cli::redact(e.what(), secrets));
    return static_cast<int>(Exit::environment);
  } catch (const std::system_error& e) {
    fmt::print(stderr, "xbuild: error: {}\n", cli::redact(e.what(), secrets));
    return static_cast<int>(Exit::environment);
  } catch (const std::bad_alloc&) {
    fmt::print(stderr, "xbuild: error: out of memory\n");
    return static_cast<int>(Exit::environment);
  } catch (const std::exception& e) {
    fmt::print(stderr, "xbuild: error: internal error (please report it): {}\n", cli::redact(e.what(), secrets));
    return static_cast<int>(Exit::build_failed);
  }
  return 0;
}
