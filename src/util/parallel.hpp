#pragma once
// One bounded worker group, as errgroup with SetLimit: at most `jobs` threads (the calling
// thread is one of them) take indices from a shared counter. The first exception stops new
// items from starting, the running ones finish, and it is rethrown to the caller once every
// thread has joined, so no worker outlives the call and no failure is lost or reported twice.
// A worker may hold state for all its items (an HTTP session and its connection).

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <exception>
#include <mutex>
#include <thread>
#include <utility>
#include <vector>

namespace xb {

/// Runs fn(state, i) for each i in [0, n) on min(jobs, n) threads (at least one); each
/// thread first makes its own `state` with make_state(). After the first exception (from
/// make_state or fn) no further item starts; it is rethrown once all threads have joined.
template <typename MakeState, typename Fn>
void parallel_for(std::size_t n, int jobs, MakeState&& make_state, Fn&& fn) {
  if (n == 0) return;
  std::atomic<std::size_t> next{0};
  std::atomic<bool> stop{false};
  std::mutex mutex;
  std::exception_ptr first;
  auto work = [&] {
    try {
      auto state = make_state();
      while (!stop.load()) {
        std::size_t i = next++;
        if (i >= n) break;
        fn(state, i);
      }
    } catch (...) {
      std::lock_guard lock(mutex);
      if (!first) first = std::current_exception();
      stop = true;
    }
  };
  std::size_t workers = std::clamp<std::size_t>(jobs > 0 ? static_cast<std::size_t>(jobs) : 1, 1, n);
  std::vector<std::thread> threads;
  threads.reserve(workers - 1);
  try {
    for (std::size_t t = 1; t < workers; ++t) threads.emplace_back(work);
  } catch (...) {  // no thread to be had: the ones started finish, then the error is the caller's
    stop = true;
    for (auto& t : threads) t.join();
    throw;
  }
  work();
  for (auto& t : threads) t.join();
  if (first) std::rethrow_exception(first);
}

/// Runs fn(i) for each i in [0, n) on min(jobs, n) threads, as above, without state.
template <typename Fn>
void parallel_for(std::size_t n, int jobs, Fn&& fn) {
  parallel_for(n, jobs, [] { return 0; }, [&](int, std::size_t i) { fn(i); });
}

}  // namespace xb
