#include "sim/validation_models.h"

#include <algorithm>
#include <cmath>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "sim/nanoseconds.h"

namespace freezing::sim {
namespace {

absl::Status MissingState(const RecordedRun& run, int u, int64_t s,
                          const char* what, const char* why) {
  return absl::FailedPreconditionError(
      absl::StrCat("step ", s, " runs unit ", u, " (", run.units[u].name,
                   ") with its ", what, ", which ", why));
}

// OK when `costs` has a cost for every unit of every step from `from` on in
// its recorded states (cached forwards aside: the cache model costs them).
absl::Status CheckPredictable(const CostModel& costs, int64_t from,
                              const char* why) {
  const RecordedRun& run = costs.run();
  for (int64_t s = from; s < run.num_steps(); ++s) {
    for (int u = 0; u < run.num_units; ++u) {
      const UnitRecord& r = run.steps[s].units[u];
      const ForwardState fs = r.forward_state;
      if (static_cast<int>(fs) < kForwardCosted &&
          !costs.Cost(u, fs, s).has_value()) {
        return MissingState(run, u, s, ForwardCostName(fs), why);
      }
      if (!costs.Cost(u, r.backward_state, s).has_value()) {
        return MissingState(run, u, s, "backward", why);
      }
    }
  }
  return absl::OkStatus();
}

// The statistics the profile does not time, estimated from the bytes each
// pass moves (validation_models.h), at the optimizer's measured rate per
// byte.
Priors StatisticsFromBytes(const RecordedRun& run) {
  const double per_byte =
      run.profile.optimizer_ns_per_param / kSgdBytesPerElement;
  const bool several = run.world_size > 1;
  const double norm_bytes =
      several ? kNormBytesPerElementSlot : kNormBytesPerElementSlotOneRank;
  Priors p;
  p.accumulate_ns_per_param = per_byte * kAccumulateBytesPerElement;
  p.interval_ns_per_param_window = per_byte * norm_bytes;
  int64_t all_params = 0;
  for (int u = 0; u < run.num_units; ++u) all_params += run.units[u].params;
  std::vector<bool> in_window;
  for (size_t i = 0; i < run.intervals.size(); ++i) {
    const int window = run.RecordedWindow(static_cast<int64_t>(i), &in_window);
    int64_t trained_params = 0;
    for (int u = 0; u < run.num_units; ++u) {
      if (run.intervals[i].trained[u]) trained_params += run.units[u].params;
    }
    const double bytes =
        kIntervalZeroBytesPerElement * static_cast<double>(all_params) +
        (several ? kIntervalCopyBytesPerElement *
                       static_cast<double>(trained_params)
                 : 0.0) +
        norm_bytes * static_cast<double>(run.IntervalWork(in_window, window));
    p.interval_compute_ns.push_back(RoundNs(per_byte * bytes));
  }
  return p;
}

}  // namespace

absl::StatusOr<int64_t> HeldOutSplit(const RecordedRun& run, double fraction) {
  if (!(fraction > 0 && fraction < 1)) {
    return absl::InvalidArgumentError(
        absl::StrCat("held-in fraction ", fraction, " is not in (0, 1)"));
  }
  const int64_t steps = run.num_steps();
  const int64_t t = std::max(1, run.stats_interval);
  const int64_t split =
      static_cast<int64_t>(std::floor(fraction * static_cast<double>(steps))) /
      t * t;
  if (split < 1 || split >= steps) {
    return absl::FailedPreconditionError(absl::StrCat(
        "no held-out validation: ", steps, " steps of base intervals of ", t,
        " leave no whole interval on one side of a ", fraction,
        " split (it needs at least two intervals' steps)"));
  }
  return split;
}

absl::StatusOr<CostModel> HeldOutCostModel(
    std::shared_ptr<const RecordedRun> run, int64_t first_held_out) {
  const int64_t steps = run->num_steps();
  const int64_t split = first_held_out;
  if (split < 1 || split >= steps) {
    return absl::InvalidArgumentError(
        absl::StrCat("held-out split at step ", split,
                     ": it must leave steps on both sides of 1..", steps - 1));
  }
  const int64_t first = split > kWarmUpSteps ? kWarmUpSteps : 0;
  CostModel m =
      CostModel::Fit(std::move(run), first, split, /*measured_steps=*/split);
  if (absl::Status s = CheckPredictable(
          m, split,
          "the held-in steps never ran and the trace has no start-up "
          "profile for");
      !s.ok()) {
    return s;
  }
  return m;
}

absl::StatusOr<CostModel> ProfileOnlyCostModel(
    std::shared_ptr<const RecordedRun> run) {
  if (!run->profile.present) {
    return absl::FailedPreconditionError(
        "no model-only prediction: the trace has no start-up profile");
  }
  for (int u = 0; u < run->num_units; ++u) {
    if (!run->profile.units[u].present) {
      return absl::FailedPreconditionError(absl::StrCat(
          "no model-only prediction: the start-up profile lacks unit ", u, " (",
          run->units[u].name, ")"));
    }
  }
  Priors priors = StatisticsFromBytes(*run);
  // The comm mode is configuration, not measurement: sync starts every
  // all-reduce after backward; the others progress beside it.
  priors.recorded_overlap =
      run->header.config().comm_mode() == "sync" ? 0.0 : 1.0;
  CostModel m = CostModel::Fit(std::move(run), 0, 0, /*measured_steps=*/0,
                               priors);  // the profile as measured, factors 1
  if (absl::Status s =
          CheckPredictable(m, 0, "the start-up profile does not have");
      !s.ok()) {
    return s;
  }
  return m;
}

}  // namespace freezing::sim
