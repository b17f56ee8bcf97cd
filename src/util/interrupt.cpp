// One atomic, set by an async-signal-safe handler and read by the loops that check it.

#include "util/interrupt.hpp"

#include "util/error.hpp"

#include <atomic>
#include <cstring>
#include <iterator>

namespace xb {

namespace {

std::atomic<int> g_interrupt{0};

extern "C" void note_interrupt(int sig) { g_interrupt = sig; }

}  // namespace

void SignalHandlers::install(void (*handler)(int)) {
  restore();
  struct sigaction sa {};
  sa.sa_handler = handler;
  sa.sa_flags = SA_RESTART;
  sigemptyset(&sa.sa_mask);
  for (std::size_t i = 0; i < std::size(k_signals); ++i) {
    ::sigaction(k_signals[i], nullptr, &m_previous[i]);
    if (m_previous[i].sa_handler != SIG_IGN) ::sigaction(k_signals[i], &sa, nullptr);
  }
  m_installed = true;
}

void SignalHandlers::restore() {
  if (!m_installed) return;
  for (std::size_t i = 0; i < std::size(k_signals); ++i) ::sigaction(k_signals[i], &m_previous[i], nullptr);
  m_installed = false;
}

InterruptScope::InterruptScope() {
  g_interrupt = 0;
  m_handlers.install(note_interrupt);
}

InterruptScope::~InterruptScope() = default;

int pending_interrupt() { return g_interrupt.load(std::memory_order_relaxed); }

void throw_if_interrupted(std::string_view what) {
  int sig = pending_interrupt();
  if (sig == 0) return;
  const char* name = sigabbrev_np(sig);
  fail(Exit::interrupted, "interrupted by SIG{} while {}; its temporary files were removed", name ? name : "?", what);
}

}  // namespace xb
