// StepMap: the steps of a replayed run, and where each one's costs and the
// policy's statistics come from in the recorded run.
//
// A what-if at another world size N (the recorded run had R ranks, per-rank
// batch b) is one of two questions (`Scaling`):
//
//   same_data   (replay's default) the recorded data set and epochs on N
//               ranks: the global batch is N·b, so an epoch has fewer steps
//               as N grows: steps_per_epoch(N) = ⌊⌊train_samples / N⌋ / b⌋
//               for IID shards (the trainer's loader: every rank runs the
//               smallest shard's full batches), else
//               ⌊steps_per_epoch(R) · R / N⌋. Simulated step k of epoch e
//               costs what recorded step e·spe(R) + ⌊k·spe(R)/spe(N)⌋
//               measured (the step at the same place in the epoch: per-rank
//               batch and per-rank compute are the same).
//   same_steps  the recorded steps, one for one (weak scaling: N ranks run
//               as many steps as the recorded run, each on N·b samples).
//
// At N = R both are the identity. The policy's base intervals (the
// statistics a decision sees) follow `IntervalUnit`:
//
//   steps   (default) base interval k of the replayed run ends at its step
//           (k+1)·T − 1, as the trainer's --stats_interval=T would; it has
//           the recorded statistics of base interval k (the same number of
//           optimizer steps into training). Intervals past the recorded ones
//           (more steps than recorded) have none.
//   epochs  base interval k ends where recorded interval k ended in the data
//           (the same fraction of its epoch), so the policy decides at the
//           same places in the data as the recorded run; with N > R several
//           may end at one step.
//
// Whenever N ≠ R the global batch differs from the recorded one, and the
// statistics a policy sees are the recorded ones all the same: such
// schedules are marked as assumed (`statistics_assumed`).
#ifndef FREEZING_SIM_STEP_MAP_H_
#define FREEZING_SIM_STEP_MAP_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "sim/recorded_run.h"

namespace freezing::sim {

enum class Scaling : uint8_t { kSameData = 0, kSameSteps = 1 };
enum class IntervalUnit : uint8_t { kSteps = 0, kEpochs = 1 };

// ParseScaling: "same_data" or "same_steps"; InvalidArgument naming both.
absl::StatusOr<Scaling> ParseScaling(absl::string_view text);
// ParseIntervalUnit: "steps" or "epochs"; InvalidArgument naming both.
absl::StatusOr<IntervalUnit> ParseIntervalUnit(absl::string_view text);
std::string ScalingName(Scaling scaling);
std::string IntervalUnitName(IntervalUnit unit);

struct StepMap {
  Scaling scaling = Scaling::kSameData;
  IntervalUnit interval_in = IntervalUnit::kSteps;
  int world_size = 1;
  // Every simulated step is the recorded step of the same index and every
  // base interval the recorded one.
  bool identity = true;
  int64_t steps_per_epoch = 0;
  int64_t global_batch = 0;           // per-rank batch × world size
  int64_t recorded_global_batch = 0;  // per-rank batch × recorded ranks
  // The global batch differs from the recorded one (N ≠ R).
  bool statistics_assumed = false;
  // Per simulated step: the recorded step whose costs it takes, its epoch.
  std::vector<int64_t> recorded_step;
  std::vector<int> epoch;
  // The replayed run's base intervals, in order: the last step of each
  // (non-decreasing). Base interval k has the recorded statistics of
  // recorded interval k when k < recorded intervals, none otherwise.
  std::vector<int64_t> interval_last_step;

  int64_t num_steps() const {
    return static_cast<int64_t>(recorded_step.size());
  }
  int64_t num_intervals() const {
    return static_cast<int64_t>(interval_last_step.size());
  }
};

// IdentityStepMap: the recorded steps and intervals as they are (the
// recorded world size; base interval k ends at step (k+1)·T − 1).
StepMap IdentityStepMap(const RecordedRun& run);

// MakeStepMap: the replayed run at `world_size` (0: the recorded one).
// InvalidArgument when same_data leaves no full batch per rank at that world
// size (naming the largest world size that has one, and same_steps).
absl::StatusOr<StepMap> MakeStepMap(const RecordedRun& run, Scaling scaling,
                                    IntervalUnit interval_in, int world_size);

}  // namespace freezing::sim

#endif  // FREEZING_SIM_STEP_MAP_H_
