#include "train/step_runner.h"

#include <ATen/ATen.h>
#include <torch/autograd.h>

#include <chrono>
#include <utility>

#include "absl/strings/str_cat.h"
#include "base/clock.h"
#include "base/status_macros.h"

namespace freezing::train {
namespace {

using base::NowNs;

}  // namespace

absl::StatusOr<at::MemoryFormat> ChooseMemoryFormat(const std::string& flag) {
  if (flag == "contiguous") return at::MemoryFormat::Contiguous;
  if (flag == "channels_last") return at::MemoryFormat::ChannelsLast;
  if (flag == "auto") return at::MemoryFormat::Contiguous;
  return absl::InvalidArgumentError(
      absl::StrCat("--memory_format=", flag,
                   ": expected auto, channels_last or contiguous"));
}

std::string MemoryFormatName(at::MemoryFormat format) {
  return format == at::MemoryFormat::ChannelsLast ? "channels_last"
                                                  : "contiguous";
}

StepRunner::StepRunner(UnitModel* model, comm::GradientReducer* reducer,
                       Sgd* sgd, GradientStatistics* stats,
                       StepRunnerOptions options)
    : model_(model),
      reducer_(reducer),
      sgd_(sgd),
      stats_(stats),
      options_(options) {
  params_ = model_->parameters();
  param_unit_.assign(params_.size(), -1);
  for (int u = 0; u < model_->num_units(); ++u) {
    for (int p : model_->unit(u).params) param_unit_[p] = u;
  }
  frozen_.assign(model_->num_units(), false);
  param_trainable_.assign(params_.size(), true);
  if (stats_ != nullptr) {
    reducer_->SetLocalGradientObserver(
        [this](int param, const at::Tensor& grad) {
          stats_->AccumulateLocal(param, grad);
        });
  }
}

absl::Status StepRunner::SetFrozen(const std::vector<bool>& frozen) {
  const int units = model_->num_units();
  if (static_cast<int>(frozen.size()) != units) {
    return absl::InvalidArgumentError(absl::StrCat(
        "frozen set has ", frozen.size(), " units, the model ", units));
  }
  if (frozen[units - 1]) {
    return absl::InvalidArgumentError("the classifier is never frozen");
  }
  std::vector<bool> trainable(params_.size());
  for (size_t p = 0; p < params_.size(); ++p) {
    trainable[p] = !frozen[param_unit_[p]];
  }
  // The reducer sets requires_grad and resets frozen gradients; it fails on
  // every rank alike when the ranks' plans differ.
  RETURN_IF_ERROR(reducer_->SetTrainable(trainable));
  for (int u = 0; u < units; ++u) model_->SetUnitFrozen(u, frozen[u]);
  sgd_->SetTrainable(trainable);
  frozen_ = frozen;
  param_trainable_ = trainable;
  first_trainable_ = 0;
  while (first_trainable_ < units && frozen_[first_trainable_]) {
    ++first_trainable_;
  }
  try {
    for (int u = 0; u < units; ++u) {
      const bool fold = options_.fold_frozen && u < first_trainable_;
      if (model_->unit_folded(u) != fold) model_->SetUnitFolded(u, fold);
    }
  } catch (const c10::Error& e) {
    return absl::InternalError(
        absl::StrCat("libtorch error folding the frozen prefix: ",
                     e.what_without_backtrace()));
  }
  return absl::OkStatus();
}

int64_t StepRunner::trainable_bytes() const {
  int64_t bytes = 0;
  for (size_t p = 0; p < params_.size(); ++p) {
    if (param_trainable_[p])
      bytes += params_[p].numel() * params_[p].element_size();
  }
  return bytes;
}

absl::StatusOr<StepReport> StepRunner::Step(const at::Tensor& input,
                                            int start_unit,
                                            const at::Tensor& labels,
                                            double lr) {
  const int units = model_->num_units();
  if (start_unit < 0 || start_unit > first_trainable_) {
    return absl::InvalidArgumentError(
        absl::StrCat("a step may start at unit ", start_unit,
                     " only if the units before "
                     "it are frozen (first trainable unit: ",
                     first_trainable_, ")"));
  }
  StepReport report;
  report.prefix_folded = options_.fold_frozen && first_trainable_ > 0;
  report.unit_forward_ns.assign(units, 0);
  report.unit_backward_ns.assign(units, 0);
  // Time at which the gradient of unit u's output arrived (backward of unit
  // u + 1 is done).
  std::vector<int64_t> grad_arrived(units, 0);

  try {
    // Forward, unit by unit.
    const int64_t forward_start = NowNs();
    at::Tensor x = input;
    for (int u = start_unit; u < units; ++u) {
      const int64_t t0 = NowNs();
      if (u < first_trainable_) {
        at::NoGradGuard no_grad;
        x = model_->ForwardUnit(u, x);
      } else {
        x = model_->ForwardUnit(u, x);
      }
      report.unit_forward_ns[u] = NowNs() - t0;
      if (u == first_trainable_ - 1) report.prefix_output = x;
      if (u + 1 < units && x.requires_grad()) {
        int64_t* slot = &grad_arrived[u];
        x.register_hook([slot](const at::Tensor&) { *slot = NowNs(); });
      }
    }
    at::Tensor loss = at::cross_entropy_loss(x, labels);
    report.loss = loss.item<double>();
    report.forward_ns = NowNs() - forward_start;

    // Backward, with bucketed all-reduce overlapping it.
    if (stats_ != nullptr) stats_->TakeAccumulateNs();
    RETURN_IF_ERROR(reducer_->BeginStep());
    const int64_t backward_start = NowNs();
    loss.backward();
    const int64_t backward_end = NowNs();
    ASSIGN_OR_RETURN(report.comm, reducer_->FinishStep());
    report.stats_ns = stats_ != nullptr ? stats_->TakeAccumulateNs() : 0;
    report.backward_ns = backward_end - backward_start - report.stats_ns;
    report.comm_exposed_ns = report.comm.comm_exposed_ns;
    report.comm_total_ns = report.comm.comm_total_ns;
    // Unit u's backward ran from the arrival of its output's gradient (the
    // classifier's: from the start) to the arrival of its input's gradient
    // (the first trainable unit's: to the end, it needs none).
    for (int u = first_trainable_; u < units; ++u) {
      const int64_t begin = u == units - 1 ? backward_start : grad_arrived[u];
      const int64_t end =
          u == first_trainable_ ? backward_end : grad_arrived[u - 1];
      if (begin > 0 && end >= begin) report.unit_backward_ns[u] = end - begin;
    }

    // Optimizer: update the trainable parameters and clear their gradients
    // (views of the reducer's buckets, which accumulate) in one pass.
    const int64_t opt_start = NowNs();
    sgd_->Step(lr);
    report.optimizer_ns = NowNs() - opt_start;
  } catch (const c10::Error& e) {
    return absl::InternalError(absl::StrCat(
        "libtorch error in a training step: ", e.what_without_backtrace()));
  }
  return report;
}

at::Tensor StepRunner::ForwardPrefix(const at::Tensor& images, int end) {
  at::NoGradGuard no_grad;
  at::Tensor x = images;
  for (int u = 0; u < end; ++u) x = model_->ForwardUnit(u, x);
  return x;
}

}  // namespace freezing::train
