// The delay doubles per attempt and stops growing at 64x the first, so a long run of
// failures waits seconds, not hours, between tries.

#include "util/retry.hpp"

#include <algorithm>
#include <thread>

namespace xb {

std::chrono::milliseconds Backoff::delay(int attempt) const {
  return first * (1 << std::clamp(attempt - 1, 0, 6));
}

void Backoff::wait(int attempt) const {
  auto d = delay(attempt);
  if (d.count() > 0) std::this_thread::sleep_for(d);
}

}  // namespace xb
