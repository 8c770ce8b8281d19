// The project's one clock: nanoseconds as int64, for phase timings (steady)
// and for timestamps a person reads (Unix time).
#ifndef FREEZING_BASE_CLOCK_H_
#define FREEZING_BASE_CLOCK_H_

#include <chrono>
#include <cstdint>

namespace freezing::base {

// NowNs: monotonic nanoseconds (std::chrono::steady_clock), for durations.
inline int64_t NowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// UnixNowNs: nanoseconds since 1970-01-01 UTC, for timestamps.
inline int64_t UnixNowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace freezing::base

#endif  // FREEZING_BASE_CLOCK_H_
