#pragma once
// `xbuild test`: each platform's test command runs as a scheduler job, so timeouts, Ctrl-C,
// SIGTERM and the no-orphan guarantee are the build's. The command gets the platform's own
// environment (plan.test), and for a foreign platform the run is checked: a test that ran
// only host programs is a failed test, whatever its exit code, because it tested nothing of
// the target. Emulated platforms run their tests inside the target rootfs, like their build.

#include "config/project.hpp"
#include "plan/plan.hpp"

#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace xb {

/// What ran for the target during one test (from qemu's per-process markers and the
/// test-exec wrapper's records).
struct TargetEvidence {
  int emulated_processes = 0;              ///< processes qemu-user ran (one marker each)
  std::vector<std::string> checked;        ///< test binaries the wrapper ran, with their ELF identity
  std::vector<std::string> wrong;          ///< test binaries that were not for the platform
};

/// One platform's test result.
struct TestOutcome {
  Platform platform;
  bool ok = false;
  bool interrupted = false;                ///< stopped by SIGINT/SIGTERM
  std::string how;                         ///< "native", "binfmt; 3 processes under qemu", ...
  std::string output;                      ///< the test's output, line by line as printed
  std::string error;                       ///< why it failed
  double wall_seconds = 0;
};

/// Options of run_tests.
struct TestOptions {
  int slots = 0;                                       ///< platforms tested at once (0 = cores)
  std::optional<std::chrono::seconds> timeout;         ///< per-platform; the group is killed after it
  std::function<void(const Platform&, std::string_view line)> on_line;  ///< live output (may be empty)
};

/// Runs plan.test of every plan (plans without a test command or a strategy fail with the
/// reason). One outcome per plan, same order. Throws Error(interrupted) after every test's
/// processes were killed on SIGINT/SIGTERM.
std::vector<TestOutcome> run_tests(const Project& project, const std::vector<PlatformPlan>& plans,
                                   const TestOptions& options);

/// Reads what `record_dir` holds after a test run.
TargetEvidence read_evidence(const std::filesystem::path& record_dir);

/// The hidden `xbuild __test-exec PLATFORM RECORD_DIR PROG ARGS...` (Go's -exec and Cargo's
/// runner): records PROG's ELF identity in RECORD_DIR, then replaces itself with PROG, run for
/// PLATFORM (through binfmt or qemu-user). Returns only by throwing.
[[noreturn]] void test_exec(const std::string& platform, const std::filesystem::path& record_dir,
                            const std::vector<std::string>& argv);

}  // namespace xb
