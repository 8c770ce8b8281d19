// RoundNs: the one rounding of sim/'s cost, cache and timing models. They
// keep integer nanoseconds and use doubles only for rates and shares; a
// double product is rounded to the nearest nanosecond once, with llround, and
// what is negative, zero or not finite costs 0.
#ifndef FREEZING_SIM_NANOSECONDS_H_
#define FREEZING_SIM_NANOSECONDS_H_

#include <cmath>
#include <cstdint>

namespace freezing::sim {

inline int64_t RoundNs(double ns) {
  if (!std::isfinite(ns) || ns <= 0) return 0;
  return static_cast<int64_t>(std::llround(ns));
}

}  // namespace freezing::sim

#endif  // FREEZING_SIM_NANOSECONDS_H_
