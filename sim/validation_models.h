// Validation models: cost models of a recorded run that know less than the
// whole run, so that the simulator's prediction of the run's own
// configuration can be compared with measurements it never used.
//
// Replaying a trace's own configuration with every step's own measurements
// (and the `recorded` network's per-step waits) reproduces the measured
// total nearly by construction: it checks bookkeeping, not the model. Two
// honest alternatives:
//
//   HeldOutCostModel(run, S): the run as it would be known had only steps
//     [0, S) been recorded: CostModel::Fit on those steps but the first
//     (kWarmUpSteps) with S measured steps, so that every step from S on
//     carries that fit's prediction for its recorded frozen set instead of
//     its own measurement:
//       unit forward and backward: the mean over fitted steps that ran the
//         unit in that state, else the profile times the factor fitted on
//         them (rule 3 of cost_model.h);
//       optimizer, statistics accumulation, data and "other": the mean over
//         fitted steps with the same frozen set, else the profile's
//         optimizer line times its fitted factor, the fitted accumulation
//         rate per parameter, the mean of all fitted steps;
//       loss forward: the mean of fitted steps without the recorded cache;
//       interval-end work: the mean of fitted intervals with the same
//         window and the same units in it, else the fitted rate;
//       the `recorded` network: the overlap rate fitted on those steps and
//         their mean wait (simulator.h).
//     Simulated and summed from S on (TimingOptions::report_from_step),
//     this predicts the time of steps the model never saw.
//
//   ProfileOnlyCostModel(run): no step's timing at all, as for a
//     configuration the simulator has never seen run: CostModel::Fit on no
//     step with no measured step, so per-unit costs, the loss and the
//     optimizer line come from the start-up profile as measured (factors
//     1), with the all-reduce points of the profile; as its Priors, the
//     overlap the recorded comm mode implies (sync: 0, else 1) and the
//     statistics from the a-priori ratios stated below; no waits; data
//     loading and "other" 0 (not profiled).
//
// The freeze schedule is not a timing: it comes from the run's recorded
// statistics (ComputeSchedule takes the RecordedRun), so the recorded policy
// still reproduces the recorded schedule. A cost model reads a step's
// measurements only for steps [0, measured_steps) and fits only on its
// range, so no code path can use what it must not see.
#ifndef FREEZING_SIM_VALIDATION_MODELS_H_
#define FREEZING_SIM_VALIDATION_MODELS_H_

#include <cstdint>
#include <memory>

#include "absl/status/statusor.h"
#include "sim/cost_model.h"
#include "sim/recorded_run.h"

namespace freezing::sim {

// HeldOutSplit: the first held-out step for a held-in share `fraction` of
// the steps: floor(fraction · steps) rounded down to whole base intervals,
// so that both parts hold whole intervals and the same share of
// interval-end work. InvalidArgument for a fraction outside (0, 1);
// FailedPrecondition when that leaves either part empty (fewer than two
// base intervals of steps).
absl::StatusOr<int64_t> HeldOutSplit(const RecordedRun& run, double fraction);

// The held-out model is fitted on steps [kWarmUpSteps, S) (on [0, S) when
// that is all there is): the run's first step pays one-time costs (first
// allocations, lazy initialisation, cold caches; 1.06-4.6 times the median
// step on testdata's traces) that no held-out step pays again, as the start-up
// profile also drops a warm-up run before its medians.
inline constexpr int64_t kWarmUpSteps = 1;

// HeldOutCostModel: see above. InvalidArgument unless 0 < first_held_out <
// steps; FailedPrecondition when a held-out step runs a unit in a state the
// held-in steps never ran and the trace has no start-up profile.
absl::StatusOr<CostModel> HeldOutCostModel(
    std::shared_ptr<const RecordedRun> run, int64_t first_held_out);

// A-priori ratios for the statistics, which the start-up profile does not
// time, from the bytes each pass of train/grad_stats.cc moves per float32
// element, relative to the fused SGD step whose per-parameter cost the
// profile measures (it reads gradient, parameter and momentum, writes
// parameter and momentum and zeroes the gradient: 24 bytes). These are
// memory-bound passes over the same tensors; where the norms are
// compute-bound the estimate is a lower bound.
//   every step, accumulation acc += grad: 12 bytes per trainable element;
//   interval end (several ranks): the local sum copied into the all-reduce
//     buffer, 8 bytes per element of the units trained in the interval;
//   interval end: the next accumulator zeroed, 4 bytes per element of every
//     unit;
//   interval end, fused window norms over k slots: each slot's local and
//     global sums read once, 8·k bytes per element of the units trained in
//     the window (one rank: local only, 4·k).
inline constexpr double kSgdBytesPerElement = 24;
inline constexpr double kAccumulateBytesPerElement = 12;
inline constexpr double kIntervalCopyBytesPerElement = 8;
inline constexpr double kIntervalZeroBytesPerElement = 4;
inline constexpr double kNormBytesPerElementSlot = 8;
inline constexpr double kNormBytesPerElementSlotOneRank = 4;

// ProfileOnlyCostModel: see above. FailedPrecondition without a start-up
// profile, or when the profile lacks a unit.
absl::StatusOr<CostModel> ProfileOnlyCostModel(
    std::shared_ptr<const RecordedRun> run);

}  // namespace freezing::sim

#endif  // FREEZING_SIM_VALIDATION_MODELS_H_
