#pragma once
// The pipeline reports a build's progress through this interface and never draws anything
// itself, as ninja's Builder talks to its Status: the plain, tty and json views live in cli/
// (cli/progress.hpp), and tests record the calls. Platforms are named by their index in the
// plans given to run_builds, so a view can keep one row per platform.

#include "platform/platform.hpp"

#include <cstddef>
#include <string_view>
#include <vector>

namespace xb {

struct PlatformResult;

/// A step of `xbuild build` outside the platforms' own builds.
enum class Phase {
  cache,  ///< fetching the base image into the cache (before the builds)
  pack,   ///< writing the image: layers, manifests, index (after the builds)
  push,   ///< uploading it to a registry (after pack)
};
/// How a phase ended.
enum class PhaseEnd { ok, failed };

/// Receives the events of one run_builds call, on the calling thread, in this order:
/// build_started; then per platform platform_started (only if its build runs), any number of
/// output_line, and exactly one platform_finished; then build_finished. The command around
/// run_builds may add phase_started/phase_finished pairs before build_started and after
/// build_finished.
class Status {
public:
  virtual ~Status() = default;
  /// The build of `platforms` (in plan order) begins; indices below refer to this list.
  virtual void build_started(const std::vector<Platform>& platforms) = 0;
  /// The build of platform `index` was started (its process is running).
  virtual void platform_started(std::size_t index) = 0;
  /// One line of platform `index`'s output, without the newline (its log has it too).
  virtual void output_line(std::size_t index, std::string_view line) = 0;
  /// Platform `index` is done: built and verified, failed, or cancelled (see `result`).
  virtual void platform_finished(std::size_t index, const PlatformResult& result) = 0;
  /// Something the user should fix that did not fail the build (e.g. it wrote into a shared
  /// source tree); may come at any point between build_started and build_finished.
  virtual void warning(std::string_view message) = 0;
  /// Every platform is done; `results` are in plan order.
  virtual void build_finished(const std::vector<PlatformResult>& results) = 0;
  /// `phase` begins (views that do not show phases ignore it).
  virtual void phase_started(Phase /*phase*/) {}
  /// `phase` ended after `seconds`, as `end` says.
  virtual void phase_finished(Phase /*phase*/, PhaseEnd /*end*/, double /*seconds*/) {}
};

}  // namespace xb
