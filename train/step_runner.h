// StepRunner: one data-parallel training step with freezing that really saves
// work, and the mechanics of freezing itself.
//
// A frozen unit: requires_grad off, BatchNorm in eval mode (UnitModel), out of
// the optimizer (Sgd) and out of the all-reduce buckets (GradientReducer,
// whose plan every rank rebuilds at the same step). The frozen prefix runs
// under no-grad, so backward stops at the first trainable unit: it computes
// no input gradient there. Frozen units after a trainable one (possible only
// with policies that unfreeze) still pass gradients through.
//
// The frozen prefix runs in its inference form (UnitModel::SetUnitFolded:
// BatchNorm folded into the convolutions, ReLU fused, weights prepacked)
// unless StepRunnerOptions::fold_frozen is off; SetFrozen builds the forms of
// units entering the prefix and drops those of units leaving it.
//
// Per step it measures what the trace needs without extra passes: phase
// times, per-unit forward times (clocks around each unit) and per-unit
// backward times (hooks on the activations at unit boundaries fire when the
// gradient reaches them), and, through the reducer's observer, feeds each
// local gradient to GradientStatistics.
#ifndef FREEZING_TRAIN_STEP_RUNNER_H_
#define FREEZING_TRAIN_STEP_RUNNER_H_

#include <ATen/core/Tensor.h>
#include <c10/core/MemoryFormat.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "comm/reducer.h"
#include "train/grad_stats.h"
#include "train/models/unit_model.h"
#include "train/sgd.h"

namespace freezing::train {

struct StepReport {
  double loss = 0;          // this rank's mean loss over its batch
  int64_t forward_ns = 0;   // units and loss
  int64_t backward_ns = 0;  // without statistics accumulation
  int64_t comm_exposed_ns = 0;
  int64_t comm_total_ns = 0;
  int64_t optimizer_ns = 0;               // update and gradient reset
  int64_t stats_ns = 0;                   // accumulation of local gradients
  std::vector<int64_t> unit_forward_ns;   // per unit, 0 when not run
  std::vector<int64_t> unit_backward_ns;  // per unit, 0 when not run
  comm::ReducerStepStats comm;
  // Output of the last unit of the frozen prefix, when this step computed it
  // (for the activation cache); undefined otherwise.
  at::Tensor prefix_output;
  // The frozen prefix (non-empty) runs in its inference form: its units'
  // forward times, here or in the activation cache, are folded ones.
  bool prefix_folded = false;
};

struct StepRunnerOptions {
  // Run the frozen prefix in its inference form.
  bool fold_frozen = true;
};

// ChooseMemoryFormat: the memory format for `flag` (--memory_format):
// "contiguous", "channels_last", or "auto": contiguous for every model. A
// fixed rule, so that the same command trains the same numbers; chosen by
// measurement (docs/PERFORMANCE.md, 2026-12-03): on this project's ResNets
// channels-last runs forward and backward no faster than contiguous
// (33.7/75.9 against 33.3/74.9 ms, ResNet-18 at 32x32, batch 64) while the
// statistics' accumulation of channels-last gradients into logical order
// costs 3.6 points of the step more; the start-up profile measures both
// formats, accumulation included, on every run with 4-d activations, and
// the trainer says when channels-last would have been faster.
// InvalidArgument for another flag.
absl::StatusOr<at::MemoryFormat> ChooseMemoryFormat(const std::string& flag);
// MemoryFormatName: "contiguous" or "channels_last".
std::string MemoryFormatName(at::MemoryFormat format);

class StepRunner {
 public:
  // All pointers must outlive the runner; `stats` may be null. The model's
  // memory format must be set before the reducer and `sgd` were built.
  StepRunner(UnitModel* model, comm::GradientReducer* reducer, Sgd* sgd,
             GradientStatistics* stats, StepRunnerOptions options = {});

  // Collective: freezes exactly the units with frozen[u] (and unfreezes the
  // others) on every rank, and folds the frozen prefix. The classifier must
  // stay trainable.
  absl::Status SetFrozen(const std::vector<bool>& frozen);
  const std::vector<bool>& frozen() const { return frozen_; }
  // First unit that is not part of the frozen prefix.
  int first_trainable() const { return first_trainable_; }
  // Per parameter: trainable now.
  const std::vector<bool>& param_trainable() const { return param_trainable_; }
  int64_t trainable_bytes() const;

  // One training step. `input` is the image batch when start_unit == 0, or
  // the output of unit start_unit - 1 (a cached activation of the frozen
  // prefix); start_unit <= first_trainable(). Labels are int64 [B].
  absl::StatusOr<StepReport> Step(const at::Tensor& input, int start_unit,
                                  const at::Tensor& labels, double lr);

  // Runs units [0, end) under no-grad (the frozen prefix's function, for
  // caching; folded units in their inference form). Does not change the
  // model's mode.
  at::Tensor ForwardPrefix(const at::Tensor& images, int end);

 private:
  UnitModel* model_;
  comm::GradientReducer* reducer_;
  Sgd* sgd_;
  GradientStatistics* stats_;
  StepRunnerOptions options_;
  std::vector<bool> frozen_;
  std::vector<bool> param_trainable_;
  std::vector<int> param_unit_;
  std::vector<at::Tensor> params_;
  int first_trainable_ = 0;
};

}  // namespace freezing::train

#endif  // FREEZING_TRAIN_STEP_RUNNER_H_
