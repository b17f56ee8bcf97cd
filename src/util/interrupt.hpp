#pragma once
// Work done in xbuild's own process (exporting an image, copying outputs) cannot be killed
// the way a child's process group is: a signal that ended xbuild there would leave its
// temps behind. While an InterruptScope lives, SIGINT, SIGTERM and SIGHUP only note the
// signal; the long loops call throw_if_interrupted at safe points, so the Error unwinds
// and every TempFile/TempDirectory removes itself. Signals ignored at start stay ignored
// (nohup), as in the scheduler; nested handlers (the scheduler's, run_interruptible's)
// restore this one when they end.

#include <csignal>
#include <iterator>
#include <string_view>

namespace xb {

/// One handler for SIGINT, SIGTERM and SIGHUP while installed, except for a signal that was
/// ignored at start (nohup), as make and ninja do; the previous actions come back on restore.
class SignalHandlers {
public:
  SignalHandlers() = default;
  ~SignalHandlers() { restore(); }
  SignalHandlers(const SignalHandlers&) = delete;
  SignalHandlers& operator=(const SignalHandlers&) = delete;
  /// Installs `handler` (SA_RESTART) and keeps the previous actions.
  void install(void (*handler)(int));
  /// Puts the previous actions back; a no-op when not installed.
  void restore();

private:
  static constexpr int k_signals[] = {SIGINT, SIGTERM, SIGHUP};
  struct sigaction m_previous[std::size(k_signals)] {};
  bool m_installed = false;
};

/// Catches SIGINT, SIGTERM and SIGHUP into a flag while alive; restores the previous actions.
class InterruptScope {
public:
  /// Installs the handlers and clears any signal noted before.
  InterruptScope();
  ~InterruptScope();
  InterruptScope(const InterruptScope&) = delete;
  InterruptScope& operator=(const InterruptScope&) = delete;

private:
  SignalHandlers m_handlers;
};

/// The signal an InterruptScope caught (0 when none).
int pending_interrupt();

/// Throws Error(Exit::interrupted) "interrupted by SIGxxx while WHAT" once a scope caught a signal.
void throw_if_interrupted(std::string_view what);

}  // namespace xb
