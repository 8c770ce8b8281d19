// CostModel: what every part of a step costs on a recorded run, for any
// frozen set: the run's own measurements where it has them, and aggregates
// fitted on a range of its steps (CostModel::Fit) for everything else.
//
// Cost of unit u in state X at step s (CostModel::Cost, forward and
// backward alike), in this order:
//   1. kSameStep:   the step's own measurement, if the recorded step had u in
//                   state X;
//   2. kOtherSteps: the mean of the measurements of the recorded steps that
//                   had u in state X;
//   3. kProfile:    the start-up profile's number for (u, X) times the run's
//                   calibration factor for that pass: the measured means of
//                   every (unit, state) the run did execute, divided by the
//                   profile's numbers for the same pairs (one factor for
//                   forward, one for backward), so that the profile, taken
//                   before training and under other load, is brought to the
//                   level of the run's own steps.
// Integer nanoseconds throughout; means are integer divisions of integer
// sums, factors are applied with one rounding. Rules 2 and 3, the optimizer
// line, the statistics rates and the recorded network's overlap rate are
// fitted on the steps [first_step, end_step) of Fit. Steps [0,
// measured_steps) carry their own measurements (rule 1, and the step's own
// data, loss, optimizer, accumulation and "other"); later steps carry the
// fit's predictions for their recorded frozen set instead, so that a model
// fitted on part of a run predicts the rest without seeing it
// (validation_models.h). See sim/README.md.
#ifndef FREEZING_SIM_COST_MODEL_H_
#define FREEZING_SIM_COST_MODEL_H_

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

#include "absl/status/statusor.h"
#include "sim/network.h"
#include "sim/recorded_run.h"
#include "trace/trace_reader.h"

namespace freezing::sim {

enum class CostSource : uint8_t {
  kSameStep = 0,
  kOtherSteps = 1,
  kProfile = 2
};

// UnitCost: a unit's cost in one state at one step, and the rule it came
// from.
struct UnitCost {
  int64_t ns = 0;
  CostSource source = CostSource::kSameStep;
};

// StepCosts: one step's costs besides its units', for its recorded frozen
// set: the recorded step's (measured steps) or the fit's prediction.
struct StepCosts {
  int64_t data_ns = 0;
  int64_t loss_forward_ns = 0;
  int64_t optimizer_ns = 0;
  int64_t accumulate_ns = 0;
  int64_t other_ns = 0;
};

// Priors: what a fit assumes where its steps say nothing (no step trained
// a parameter, no interval ended, no bucket was timed). The defaults are a
// fit's own; a model with no step to fit on (ProfileOnlyCostModel) gives
// estimates instead.
struct Priors {
  double accumulate_ns_per_param = 0;
  double interval_ns_per_param_window = 0;
  // Per base interval, the compute part of its interval-end work where no
  // fitted interval has its window; empty: the rate above.
  std::vector<int64_t> interval_compute_ns;
  double recorded_overlap = 1.0;
};

// CalibrationSpread: how well one factor per pass brings the start-up
// profile to the run's level, over the (unit, state) pairs the fitted steps
// ran and the profile has: the measured-mean-weighted RMS of
// log(measured / (profile × factor)). What a profiled cost (rule 3) may be
// off by (sim/prediction_interval.h).
struct CalibrationSpread {
  double sum_weighted_squares = 0;
  double sum_weights = 0;
  int pairs = 0;
  double ResidualSd() const;
};

class CostModel {
 public:
  // Fit: fits every aggregate on steps [first_step, end_step) of `run`
  // (clamped to the run; interval-end work of the intervals ending in that
  // range); steps [0, measured_steps) keep their own measurements. With no
  // step to fit on, the aggregates come from the start-up profile alone
  // (calibration factors 1) and `priors`, and are 0 where neither has a
  // number.
  static CostModel Fit(std::shared_ptr<const RecordedRun> run,
                       int64_t first_step, int64_t end_step,
                       int64_t measured_steps, const Priors& priors = {});

  const RecordedRun& run() const { return *run_; }
  // shared_run: the run, for fitting other models on it.
  const std::shared_ptr<const RecordedRun>& shared_run() const { return run_; }
  // The steps fitted on, [fit_first_step, fitted_steps), and the measured
  // ones, [0, measured_steps).
  int64_t fit_first_step() const { return fit_first_step_; }
  int64_t fitted_steps() const { return fitted_steps_; }
  int64_t measured_steps() const { return measured_steps_; }
  bool Measured(int64_t step) const { return step < measured_steps_; }

  // Cost: unit `unit` in `state` at `step` (rules 1-3 above); nullopt when
  // no rule has it (a state never executed and no start-up profile, or a
  // cached forward, which the cache model costs).
  std::optional<UnitCost> Cost(int unit, ForwardState state,
                               int64_t step) const;
  std::optional<UnitCost> Cost(int unit, BackwardState state,
                               int64_t step) const;

  // Step: step `step`'s other costs (see StepCosts). A measured step whose
  // forward held the recorded cache's work gets the fitted steps' mean loss
  // without the cache (its own when no fitted step ran without it). A
  // predicted step gets, for its set: the mean over fitted steps with the
  // same set for data, "other", optimizer and accumulation; else the mean of
  // all fitted steps (data, "other"; 0 without any), OptimizerNs and
  // AccumulateNs; the loss from the fitted steps without the cache, else the
  // profile's.
  StepCosts Step(int64_t step) const;

  // OptimizerNs: the optimizer's step for a frozen set other than a step's
  // own: the mean over fitted steps with the same set (`recorded_set`, -1
  // when the run never had it), else the profile's line calibrated
  // (OptimizerLineNs).
  int64_t OptimizerNs(int recorded_set, int64_t trainable_params) const;
  // OptimizerFromLine: OptimizerNs of `recorded_set` is the profile's line
  // (no fitted step had the set).
  bool OptimizerFromLine(int recorded_set) const;
  // OptimizerLineNs: the profile's line (fixed + per parameter) for
  // `params` trainable parameters times the fitted calibration factor.
  int64_t OptimizerLineNs(int64_t params) const;
  // AccumulateNs: the statistics accumulation of one step for `params`
  // trainable parameters at the fitted per-parameter rate.
  int64_t AccumulateNs(int64_t params) const;
  // IntervalComputeNs: the compute part of base interval `i`'s interval-end
  // work with the units `trained_in_window` over a window of `window`
  // intervals: the recorded interval's (measured; predicted after the
  // measured steps: the mean of the fitted intervals with the same window and
  // units, else the prior, else the rate below) when it had the same units in
  // its window, else the fitted rate per (parameter trained in the window x
  // window length) times that work.
  int64_t IntervalComputeNs(int64_t i,
                            const std::vector<bool>& trained_in_window,
                            int window) const;

  // The calibration factors (measured over profiled) and the recorded
  // network's overlap rate, as fitted.
  double forward_calibration() const { return forward_calibration_; }
  double backward_calibration() const { return backward_calibration_; }
  double optimizer_calibration() const { return optimizer_calibration_; }
  double recorded_overlap() const { return recorded_overlap_; }
  const CalibrationSpread& calibration_spread() const {
    return calibration_spread_;
  }
  // network_context: the run's all-reduce measurements and world size with
  // the fitted overlap rate, for MakeNetworkModel (`recorded`).
  NetworkContext network_context() const;

 private:
  // A unit's fitted cost in one state (rules 2 and 3).
  struct FittedCost {
    int64_t ns = 0;
    CostSource source = CostSource::kProfile;
    bool available = false;
  };
  // Sums of one recorded quantity over fitted steps.
  struct Mean {
    int64_t sum = 0;
    int64_t count = 0;
    std::optional<int64_t> Value() const {
      if (count == 0) return std::nullopt;
      return sum / count;
    }
  };
  // Means over fitted steps with one recorded frozen set.
  struct SetMeans {
    Mean data, optimizer, accumulate, other;
  };
  template <size_t N>
  using UnitMeans = std::vector<std::array<Mean, N>>;

  // The parts of Fit, each over steps [fit_first_step_, fitted_steps_).
  void FitUnitCosts();
  void FitStepMeans(const Priors& priors);
  void FitOverlap(const Priors& priors);
  void FitIntervals(const Priors& priors);

  std::optional<UnitCost> Lookup(bool same_state, int64_t measured_ns,
                                 const FittedCost& fitted) const;
  StepCosts Predict(const RecordedStep& r) const;

  std::shared_ptr<const RecordedRun> run_;
  int64_t fit_first_step_ = 0;
  int64_t fitted_steps_ = 0;
  int64_t measured_steps_ = 0;

  // Rules 2 and 3, [unit][state].
  std::vector<std::array<FittedCost, kForwardCosted>> forward_;
  std::vector<std::array<FittedCost, kBackwardStates>> backward_;
  double forward_calibration_ = 1;
  double backward_calibration_ = 1;
  CalibrationSpread calibration_spread_;

  // Optimizer: the profile's line (fixed + per_param · P) times
  // optimizer_calibration_, where no fitted step had the set.
  double optimizer_ns_per_param_ = 0;
  double optimizer_fixed_ns_ = 0;
  double optimizer_calibration_ = 1;

  // Per recorded set, and over all fitted steps.
  std::vector<SetMeans> by_set_;
  Mean data_, other_;
  Mean loss_forward_;  // fitted steps without the recorded cache

  // Statistics: accumulation per trainable parameter per step; interval
  // compute per (parameter trained in the window × window length); per
  // recorded interval, its compute part (measured or predicted).
  double accumulate_ns_per_param_ = 0;
  double interval_ns_per_param_window_ = 0;
  std::vector<int64_t> interval_compute_ns_;

  double recorded_overlap_ = 1.0;
};

// FitTrace: reads `trace` into a RecordedRun (RecordedRun::Create's errors)
// and fits a CostModel on all of its steps, every one measured: what a
// replay of the trace runs on.
absl::StatusOr<CostModel> FitTrace(const trace::TraceContents& trace,
                                   bool allow_partial = false);

}  // namespace freezing::sim

#endif  // FREEZING_SIM_COST_MODEL_H_
