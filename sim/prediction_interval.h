// Prediction intervals: a central 90% interval around a predicted total
// (SimulateTiming's phases.total_ns), built from what the trace measured.
// Closed form, no sampling: the same inputs give the same interval.
//
// The total T is taken as log-normal around the prediction with log-scale
// standard deviation σ, σ² = σ_level² + σ_model² + σ_profile² +
// σ_schedule², and the interval is [T·e^(−zσ), T·e^(zσ)] with z = 1.645 (5%
// outside on each side):
//
//   σ_level     how much the step times of the cost model's fitted steps
//               vary (StepVariability): for each fitted step r but the
//               run's first (one-time costs) and phase p
//               (data, forward, backward, comm_exposed, optimizer, stats,
//               other) the relative residual e(r, p) = x(r, p) / m(g, p) − 1
//               against the mean m over the fitted steps of its group g
//               (same frozen set, same "ends a base interval", same use of
//               the recorded cache), times sqrt(k/(k−1)) for a group of k
//               steps (its own mean absorbed the rest; groups of one step
//               are left out); weighted by the prediction's phase mix
//               w(p) = P(p) / T, e(r) = Σ w(p)·e(r, p). The variance of the
//               means of L consecutive residuals, v(L), at L = 1, 2, 4, ...
//               (while at least kMinBlocks blocks remain), is fitted by least
//               squares as v(L) = a/L + c with a, c ≥ 0: a is noise that
//               averages out over steps, c a level that does not (a machine
//               whose load changes for tens of steps: replay/README.md).
//               For a prediction of n steps, σ_level² = a/n + c. With one
//               level only, σ_level² = v(1) (all of it persistent); with
//               fewer than kMinBlocks fitted steps, kLevelPriorSd.
//   σ_model     what the model gets wrong on a steady machine when it
//               predicts a step from other steps: kModelErrorSd (the spread
//               of the held-out errors on quiet runs, replay/README.md:
//               −1.2%..+3.5% with |drift| ≤ 3.2%) times the share of T that
//               is not unit compute measured in the very step (rule 1 of
//               cost_model.h).
//   σ_profile   the costs that come from the start-up profile (rule 3 of
//               cost_model.h, and the optimizer's calibrated line), share f
//               of T: f·s, with s the calibration residual
//               (CostModel::calibration_spread) when at least
//               kMinCalibrationPairs (unit, state) pairs calibrated it, else
//               kProfileResidualPriorSd; a model fitted on no step at all
//               (factors 1, not fitted: ProfileOnlyCostModel) takes
//               kProfileLevelPriorSd for the profile's level against the
//               run's.
//   σ_schedule  a schedule extrapolated from step S (schedule.h) decided
//               after S on statistics the trace does not have: what it saves
//               after S against `none`, Δ, is uncertain; σ = |Δ| / (z·T), so
//               that the interval spans ± that saving.
//
// Not covered, by design: the network model, the world size, stragglers
// and jitter are what-ifs the user states; the interval is about the trace
// and the model's sources of cost. The priors are stated assumptions until
// the coverage measurement (benchmarks/experiments/interval_coverage.py)
// says otherwise: measured in docs/RESULTS.md.
#ifndef FREEZING_SIM_PREDICTION_INTERVAL_H_
#define FREEZING_SIM_PREDICTION_INTERVAL_H_

#include <array>
#include <cstdint>
#include <vector>

#include "sim/cost_model.h"
#include "sim/simulator.h"

namespace freezing::sim {

inline constexpr double kZ90 = 1.6448536269514722;  // Φ^-1(0.95)
inline constexpr int kMinBlocks = 4;
inline constexpr double kLevelPriorSd = 0.10;
inline constexpr double kModelErrorSd = 0.02;
inline constexpr int kMinCalibrationPairs = 3;
inline constexpr double kProfileResidualPriorSd = 0.25;
inline constexpr double kProfileLevelPriorSd = 0.25;

// The log-scale standard deviations an interval is built from.
struct IntervalSpread {
  double level = 0;
  double model = 0;
  double profile = 0;
  double schedule = 0;
  double total = 0;
};

struct PredictionInterval {
  int64_t low_ns = 0;
  int64_t high_ns = 0;
  IntervalSpread spread;
  bool Contains(int64_t ns) const { return ns >= low_ns && ns <= high_ns; }
};

inline constexpr int kIntervalPhases = 7;

// StepVariability: the fitted steps' relative residuals per phase (see
// above), summarised per block length as the covariance of block means, so
// that any phase mix is weighed in O(levels · phases²).
class StepVariability {
 public:
  // Of: over the fitted steps [fit_first_step, fitted_steps) of `costs`.
  static StepVariability Of(const CostModel& costs);

  // LevelSd: σ_level of a prediction of `steps` steps with these phases.
  double LevelSd(const PhaseTotals& phases, int64_t steps) const;
  int64_t steps() const { return steps_; }

 private:
  using Covariance = std::array<double, kIntervalPhases * kIntervalPhases>;
  int64_t steps_ = 0;
  std::vector<int64_t> block_lengths_;
  std::vector<Covariance> covariance_;
};

// MakePredictionInterval: the interval around `timing`'s total, predicted
// by `costs` (whose fitted steps `variability` summarises); `saving_after_s`
// is what the schedule saves against `none` from its extrapolated_from_step
// on (0 when it is exact).
PredictionInterval MakePredictionInterval(const CostModel& costs,
                                          const StepVariability& variability,
                                          const TimingResult& timing,
                                          int64_t saving_after_s);

// SavingAfter: Σ over steps from `step` on of baseline − case step totals
// (both with TimingOptions::keep_step_totals; 0 when either has none).
int64_t SavingAfter(const TimingResult& baseline, const TimingResult& timing,
                    int64_t step);

}  // namespace freezing::sim

#endif  // FREEZING_SIM_PREDICTION_INTERVAL_H_
