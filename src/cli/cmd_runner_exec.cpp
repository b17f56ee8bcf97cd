// `xbuild __runner-exec SPEC.json`: the hidden helper a runner build's command is rewritten
// to (see src/runner/runner.hpp). It runs as the scheduler's job, in the job's process
// group, and exits with the remote build's own exit code so the log and the failure
// message show what the runner said.

#include "cli/commands.hpp"
#include "runner/runner.hpp"

#include <cstdio>
#include <cstdlib>

namespace xb::cli {

void register_runner_exec(CLI::App& app) {
  auto spec = std::make_shared<std::string>();
  auto* cmd = app.add_subcommand("__runner-exec", "");
  cmd->group("");  // hidden: called by runner build commands
  cmd->add_option("spec", *spec, "The runner spec xbuild wrote")->required();
  cmd->callback([spec] {
    int rc = runner::run_exec(runner::read_spec(*spec));
    std::fflush(stdout);
    std::fflush(stderr);
    if (rc != 0) std::exit(rc);
  });
}

}  // namespace xb::cli
