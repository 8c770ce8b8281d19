// Accuracy risk: how much of what the recorded run learned a replayed freeze
// schedule would have discarded, as a number in [0, 1], from the recorded
// gradient statistics alone. A proxy for the accuracy a schedule costs, to
// be validated against measured accuracy drops
// (benchmarks/experiments/risk_validation.py; docs/RESULTS.md).
//
// Every proxy is a share of the recorded window-1 L2 norms of the averaged
// gradient, g(i, u) for base interval i and unit u, over the pairs the
// recorded run measured (it trained u in i):
//
//   norm_share       (the default) Σ_{frozen} g / Σ g: the share of the
//                    accumulated gradient norm the schedule discarded.
//   unconverged      Σ_{frozen} c_u · g / Σ g, where c_u = min(1, g(f−1, u)
//                    / g(first, u)) is how far unit u was from converged
//                    when the schedule froze it at base interval f: its last
//                    norm before the freeze (what the policy saw) against its
//                    first measured one; 1 when frozen from the start or
//                    never measured before: discarding a unit whose gradient
//                    had already died down costs less.
//   remaining_steps  Σ_{frozen} r_i · g / Σ r_i · g, r_i = 1 − (first step
//                    of interval i) / (steps of the run): the share of
//                    training still ahead, so that early discards weigh more
//                    (there is less time to make up for them).
//   lr               Σ_{frozen} η_i · g / Σ η_i · g, η_i = the mean learning
//                    rate of interval i's recorded steps: the share of the
//                    update norm (learning rate × gradient) discarded; equal
//                    to norm_share under a constant learning rate.
//
// Pairs the schedule froze where the recorded run had not trained the unit
// (or, in a replay with more intervals than recorded, had no statistics at
// all) were never measured: they are left out and the estimate is partial
// (a lower bound). An estimate is absent (n/a) when nothing was measured:
// no recorded norm at all, or a schedule that froze only unmeasured pairs.
// A schedule that never freezes has risk 0.
#ifndef FREEZING_SIM_ACCURACY_RISK_H_
#define FREEZING_SIM_ACCURACY_RISK_H_

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "sim/recorded_run.h"

namespace freezing::sim {

enum class RiskProxy : uint8_t {
  kNormShare = 0,
  kUnconverged = 1,
  kRemainingSteps = 2,
  kLearningRate = 3
};
inline constexpr int kRiskProxies = 4;

// RiskProxyName: "norm_share", "unconverged", "remaining_steps", "lr".
std::string RiskProxyName(RiskProxy proxy);
// ParseRiskProxy: a name above; InvalidArgument listing them.
absl::StatusOr<RiskProxy> ParseRiskProxy(absl::string_view name);

// One proxy's estimate.
struct RiskEstimate {
  std::optional<double> value;  // absent: not measured (n/a)
  bool partial = false;         // a lower bound (see above)
};

// RiskAccumulator: the sums of every proxy over a schedule's base
// intervals, fed in order.
class RiskAccumulator {
 public:
  explicit RiskAccumulator(const RecordedRun& run);

  // Count: the replayed run's next base interval, with the recorded
  // statistics of interval `i`, during which the schedule had `frozen`
  // frozen; `remaining` is the share of the replayed run's steps from the
  // interval's first step on (remaining_steps' weight).
  void Count(int64_t i, const std::vector<bool>& frozen, double remaining);
  // CountUnrecorded: the next base interval, without recorded statistics.
  void CountUnrecorded(const std::vector<bool>& frozen);
  // SawFrozenStep: the schedule had some unit frozen at some step (a
  // schedule that never does has risk 0, measured or not).
  void SawFrozenStep() { froze_any_ = true; }

  RiskEstimate Estimate(RiskProxy proxy) const;

 private:
  // The frozen set changed for unit u: its unconverged weight when frozen.
  void Track(int u, bool frozen, bool measured, double g);

  const RecordedRun& run_;
  int64_t counted_ = 0;             // base intervals counted
  std::vector<double> first_norm_;  // g(first measured interval, u); 0: none
  std::vector<double> last_norm_;   // g(last measured trained interval, u)
  std::vector<bool> was_frozen_;
  std::vector<double> unconverged_;  // c_u of the current freeze
  std::array<double, kRiskProxies> total_ = {};
  std::array<double, kRiskProxies> discarded_ = {};
  bool froze_any_ = false;
  bool froze_measured_ = false;
  bool partial_ = false;
};

}  // namespace freezing::sim

#endif  // FREEZING_SIM_ACCURACY_RISK_H_
