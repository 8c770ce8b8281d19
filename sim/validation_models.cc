#include "sim/validation_models.h"

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"

namespace freezing::sim {
namespace {

int64_t Round(double v) {
  if (!std::isfinite(v) || v <= 0) return 0;
  return static_cast<int64_t>(std::llround(v));
}

absl::Status MissingState(const TraceModel& m, int u, int64_t s,
                          const char* what, const char* why) {
  return absl::FailedPreconditionError(
      absl::StrCat("step ", s, " runs unit ", u, " (", m.units[u].name,
                   ") with its ", what, ", which ", why));
}

// Hides the measurements of step `r` (a prediction must not read them).
void HideMeasurements(RecordedStep& r) {
  r.phases = trace::PhaseTimes();
  r.interval_ns = 0;
  r.overlap_work_ns = 0;
  r.overlap_busy_ns = 0;
  r.bucket_timed = false;
}

// Unit costs of step `s` from the fitted fallback tables, in its recorded
// states. Cached forwards are costed by the simulator's cache model, never
// from here: 0.
absl::Status PredictUnitCosts(TraceModel& m, int64_t s, const char* why) {
  const int n = m.num_units;
  for (int u = 0; u < n; ++u) {
    const size_t k = static_cast<size_t>(s) * n + u;
    const ForwardState fs = m.forward_state[k];
    if (fs == ForwardState::kGrad || fs == ForwardState::kNoGrad) {
      const int f = u * kForwardCosted + static_cast<int>(fs);
      if (!m.fallback_forward_available[f]) {
        return MissingState(
            m, u, s, fs == ForwardState::kGrad ? "forward" : "no-grad forward",
            why);
      }
      m.forward_ns[k] = m.fallback_forward_ns[f];
    } else {
      m.forward_ns[k] = 0;
    }
    const BackwardState bs = m.backward_state[k];
    const int b = u * kBackwardStates + static_cast<int>(bs);
    if (!m.fallback_backward_available[b]) {
      return MissingState(m, u, s, "backward", why);
    }
    m.backward_ns[k] =
        bs == BackwardState::kNone ? 0 : m.fallback_backward_ns[b];
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<int64_t> HeldOutSplit(const TraceModel& model, double fraction) {
  if (!(fraction > 0 && fraction < 1)) {
    return absl::InvalidArgumentError(
        absl::StrCat("held-in fraction ", fraction, " is not in (0, 1)"));
  }
  const int64_t steps = model.num_steps();
  const int64_t t = std::max(1, model.stats_interval);
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

absl::StatusOr<TraceModel> HeldOutTraceModel(const TraceModel& model,
                                             int64_t first_held_out) {
  const int64_t steps = model.num_steps();
  const int64_t split = first_held_out;
  if (split < 1 || split >= steps) {
    return absl::InvalidArgumentError(
        absl::StrCat("held-out split at step ", split,
                     ": it must leave steps on both sides of 1..", steps - 1));
  }
  TraceModel m = model;
  const int64_t first = split > kWarmUpSteps ? kWarmUpSteps : 0;
  m.FitCosts(first, split);
  m.measured_steps = split;
  const int64_t fitted = split - first;

  // Per-step means over the held-in steps. The loss's share of forward
  // comes from steps without the recorded cache (its reads and writes are
  // in the others' forward); Create filled cache steps with the mean over
  // the whole run, so they are refilled from the held-in steps here.
  int64_t data_sum = 0, other_sum = 0, loss_sum = 0, loss_count = 0;
  std::vector<int64_t> acc_sum(m.recorded_sets.size(), 0);
  std::vector<int64_t> acc_count(m.recorded_sets.size(), 0);
  std::vector<int64_t> data_by_set(m.recorded_sets.size(), 0);
  std::vector<int64_t> other_by_set(m.recorded_sets.size(), 0);
  for (int64_t s = first; s < split; ++s) {
    const RecordedStep& r = m.steps[s];
    data_sum += r.data_ns;
    other_sum += r.other_ns;
    if (!r.cache_active) {
      loss_sum += r.loss_forward_ns;
      ++loss_count;
    }
    acc_sum[r.frozen_set] += r.accumulate_ns;
    data_by_set[r.frozen_set] += r.data_ns;
    other_by_set[r.frozen_set] += r.other_ns;
    ++acc_count[r.frozen_set];
  }
  const int64_t loss_mean =
      loss_count > 0 ? loss_sum / loss_count : m.profile_loss_ns;
  for (int64_t s = 0; s < split; ++s) {
    if (m.steps[s].cache_active) m.steps[s].loss_forward_ns = loss_mean;
  }

  const char* why =
      "the held-in steps never ran and the trace has no start-up profile for";
  for (int64_t s = split; s < steps; ++s) {
    RecordedStep& r = m.steps[s];
    HideMeasurements(r);
    const int set = r.frozen_set;
    const int64_t n_set = acc_count[set];
    r.data_ns = n_set > 0 ? data_by_set[set] / n_set : data_sum / fitted;
    r.other_ns = n_set > 0 ? other_by_set[set] / n_set : other_sum / fitted;
    r.loss_forward_ns = loss_mean;
    r.optimizer_ns = m.optimizer_mean_by_set[set] >= 0
                         ? m.optimizer_mean_by_set[set]
                         : m.OptimizerLineNs(r.trainable_params);
    r.accumulate_ns = acc_count[set] > 0 ? acc_sum[set] / acc_count[set]
                                         : m.AccumulateNs(r.trainable_params);
    if (absl::Status st = PredictUnitCosts(m, s, why); !st.ok()) return st;
  }

  // Interval-end work of held-out intervals: the mean of the held-in
  // intervals with the same window and the same units in it (the same
  // work), else the fitted rate per parameter-window.
  std::vector<bool> in_window, other;
  for (size_t i = 0; i < m.intervals.size(); ++i) {
    if (m.intervals[i].last_step < split) continue;
    const int window = m.RecordedWindow(static_cast<int64_t>(i), &in_window);
    int64_t sum = 0, count = 0;
    for (size_t j = 0; j < i && m.intervals[j].last_step < split; ++j) {
      if (m.intervals[j].last_step < first) continue;
      if (m.RecordedWindow(static_cast<int64_t>(j), &other) != window ||
          other != in_window) {
        continue;
      }
      sum += m.interval_compute_ns[j];
      ++count;
    }
    m.interval_compute_ns[i] =
        count > 0
            ? sum / count
            : Round(m.interval_ns_per_param_window *
                    static_cast<double>(m.IntervalWork(in_window, window)));
  }

  m.measured_total_ns = 0;
  for (int64_t s = 0; s < split; ++s) {
    m.measured_total_ns += m.steps[s].phases.total_ns();
  }
  m.notes.push_back(absl::StrCat("held-out model: steps ", split, "..",
                                 steps - 1, " predicted from steps ", first,
                                 "..", split - 1));
  return m;
}

absl::StatusOr<TraceModel> ProfileOnlyTraceModel(const TraceModel& model) {
  if (!model.has_profile) {
    return absl::FailedPreconditionError(
        "no model-only prediction: the trace has no start-up profile");
  }
  TraceModel m = model;
  m.FitCosts(0, 0);  // the profile as measured, factors 1
  m.measured_steps = 0;
  const int n = m.num_units;

  // The comm mode is configuration, not measurement: sync starts every
  // all-reduce after backward; the others progress beside it.
  const bool sync = m.header.config().comm_mode() == "sync";
  m.recorded_overlap = sync ? 0.0 : 1.0;
  m.network_context.recorded_overlap = m.recorded_overlap;

  // Statistics from the optimizer's measured per-parameter rate and the
  // bytes each pass moves (validation_models.h).
  const double per_byte =
      m.profile_optimizer_ns_per_param / kSgdBytesPerElement;
  m.accumulate_ns_per_param = per_byte * kAccumulateBytesPerElement;
  const bool several = m.world_size > 1;
  const double norm_bytes =
      several ? kNormBytesPerElementSlot : kNormBytesPerElementSlotOneRank;
  m.interval_ns_per_param_window = per_byte * norm_bytes;
  int64_t all_params = 0;
  for (int u = 0; u < n; ++u) all_params += m.units[u].params;
  std::vector<bool> in_window;
  for (size_t i = 0; i < m.intervals.size(); ++i) {
    const int window = m.RecordedWindow(static_cast<int64_t>(i), &in_window);
    int64_t trained_params = 0;
    for (int u = 0; u < n; ++u) {
      if (m.interval_trained[i][u]) trained_params += m.units[u].params;
    }
    const double bytes =
        kIntervalZeroBytesPerElement * static_cast<double>(all_params) +
        (several ? kIntervalCopyBytesPerElement *
                       static_cast<double>(trained_params)
                 : 0.0) +
        norm_bytes * static_cast<double>(m.IntervalWork(in_window, window));
    m.interval_compute_ns[i] = Round(per_byte * bytes);
  }

  const char* why = "the start-up profile does not have";
  for (int u = 0; u < n; ++u) {
    if (!m.profile_has_unit[u]) {
      return absl::FailedPreconditionError(absl::StrCat(
          "no model-only prediction: the start-up profile lacks unit ", u, " (",
          m.units[u].name, ")"));
    }
  }
  for (int64_t s = 0; s < m.num_steps(); ++s) {
    RecordedStep& r = m.steps[s];
    HideMeasurements(r);
    r.data_ns = 0;   // not profiled
    r.other_ns = 0;  // not profiled
    r.loss_forward_ns = m.profile_loss_ns;
    r.optimizer_ns = m.OptimizerLineNs(r.trainable_params);
    r.accumulate_ns = m.AccumulateNs(r.trainable_params);
    if (absl::Status st = PredictUnitCosts(m, s, why); !st.ok()) return st;
  }
  m.measured_total_ns = 0;
  m.notes.push_back(
      "model-only: start-up profile, network model and configuration; no "
      "step's timing");
  return m;
}

}  // namespace freezing::sim
