#pragma once
// One retry loop for the whole program, after go-containerregistry's retry.Retry(f,
// predicate, backoff): the caller says what one attempt is and which failures are safe to
// repeat; the loop owns counting, the exponential backoff and giving up. A failure the
// predicate does not name propagates at once, so nothing non-idempotent is ever repeated
// because a loop was written a little differently in one place.

#include <chrono>
#include <utility>

namespace xb {

/// How many attempts, and how long to wait between them.
struct Backoff {
  int max_attempts = 4;                    ///< tries in all (1 = no retry)
  std::chrono::milliseconds first{200};    ///< wait after the first failure; doubled per retry, at most 64x
  /// The wait after attempt number `attempt` (1-based) failed.
  std::chrono::milliseconds delay(int attempt) const;
  /// Sleeps delay(attempt).
  void wait(int attempt) const;
};

/// Calls fn() up to b.max_attempts times and returns its first accepted value. An exception
/// of type E for which retry_error(e, attempt) is true is retried after b.wait(attempt); any
/// other exception, and the last attempt's, propagates unchanged. A value for which
/// retry_value(v, attempt) is true is retried likewise, and returned on the last attempt.
/// The predicates are asked only when another attempt is allowed (so they may log "retrying").
template <typename E, typename Fn, typename RetryError, typename RetryValue>
auto retry(const Backoff& b, Fn&& fn, RetryError&& retry_error, RetryValue&& retry_value) -> decltype(fn()) {
  for (int attempt = 1;; ++attempt) {
    const bool last = attempt >= b.max_attempts;
    try {
      auto value = fn();
      if (last || !retry_value(std::as_const(value), attempt)) return value;
    } catch (const E& e) {
      if (last || !retry_error(e, attempt)) throw;
    }
    b.wait(attempt);
  }
}

/// retry() where every value is accepted: only exceptions of type E are retried.
template <typename E, typename Fn, typename RetryError>
auto retry(const Backoff& b, Fn&& fn, RetryError&& retry_error) -> decltype(fn()) {
  return retry<E>(b, std::forward<Fn>(fn), std::forward<RetryError>(retry_error),
                  [](const auto&, int) { return false; });
}

}  // namespace xb
