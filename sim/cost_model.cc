#include "sim/cost_model.h"

#include <algorithm>
#include <cmath>
#include <utility>

#include "sim/nanoseconds.h"

namespace freezing::sim {
namespace {

// Σ measured means / Σ profile numbers over one pass's (unit, state) pairs,
// states from `first_state` on, that the fitted steps ran and the profile
// has; 1 when there are none.
template <typename Means, size_t N>
double Calibration(const Means& means, int first_state,
                   const StartupProfile& profile,
                   std::array<int64_t, N> ProfiledUnit::*profiled) {
  double measured = 0, profiled_sum = 0;
  for (size_t u = 0; u < means.size(); ++u) {
    const ProfiledUnit& p = profile.units[u];
    if (!p.present) continue;
    for (size_t x = first_state; x < N; ++x) {
      if (means[u][x].count > 0 && (p.*profiled)[x] > 0) {
        measured += static_cast<double>(*means[u][x].Value());
        profiled_sum += static_cast<double>((p.*profiled)[x]);
      }
    }
  }
  return profiled_sum > 0 ? measured / profiled_sum : 1;
}

// Adds to `spread` the logs of measured / (profile × factor) of one pass's
// (unit, state) pairs (those Calibration used), weighted by the measured
// mean.
template <typename Means, size_t N>
void AddResiduals(const Means& means, int first_state,
                  const StartupProfile& profile,
                  std::array<int64_t, N> ProfiledUnit::*profiled, double factor,
                  CalibrationSpread& spread) {
  for (size_t u = 0; u < means.size(); ++u) {
    const ProfiledUnit& p = profile.units[u];
    if (!p.present) continue;
    for (size_t x = first_state; x < N; ++x) {
      if (means[u][x].count == 0 || (p.*profiled)[x] <= 0) continue;
      const double measured = static_cast<double>(*means[u][x].Value());
      const double predicted = static_cast<double>((p.*profiled)[x]) * factor;
      if (!(measured > 0) || !(predicted > 0)) continue;
      const double r = std::log(measured / predicted);
      spread.sum_weighted_squares += measured * r * r;
      spread.sum_weights += measured;
      ++spread.pairs;
    }
  }
}

}  // namespace

double CalibrationSpread::ResidualSd() const {
  return sum_weights > 0 ? std::sqrt(sum_weighted_squares / sum_weights) : 0;
}

CostModel CostModel::Fit(std::shared_ptr<const RecordedRun> run,
                         int64_t first_step, int64_t end_step,
                         int64_t measured_steps, const Priors& priors) {
  CostModel m;
  m.run_ = std::move(run);
  const int64_t steps = m.run_->num_steps();
  m.fitted_steps_ = std::min<int64_t>(std::max<int64_t>(0, end_step), steps);
  m.fit_first_step_ =
      std::min(std::max<int64_t>(0, first_step), m.fitted_steps_);
  m.measured_steps_ =
      std::min<int64_t>(std::max<int64_t>(0, measured_steps), steps);
  m.FitUnitCosts();
  m.FitStepMeans(priors);
  m.FitOverlap(priors);
  m.FitIntervals(priors);
  return m;
}

// Rules 2 and 3: the mean of the fitted steps that ran each (unit, state),
// else the profile times the pass's calibration factor.
void CostModel::FitUnitCosts() {
  const RecordedRun& run = *run_;
  const int n = run.num_units;
  UnitMeans<kForwardCosted> fwd(n);
  UnitMeans<kBackwardStates> bwd(n);
  for (int64_t s = fit_first_step_; s < fitted_steps_; ++s) {
    for (int u = 0; u < n; ++u) {
      const UnitRecord& r = run.steps[s].units[u];
      const int fs = static_cast<int>(r.forward_state);
      if (fs < kForwardCosted) {
        fwd[u][fs].sum += r.forward_ns;
        ++fwd[u][fs].count;
      }
      if (r.backward_state != BackwardState::kNone) {
        Mean& b = bwd[u][static_cast<int>(r.backward_state)];
        b.sum += r.backward_ns;
        ++b.count;
      }
    }
  }
  const StartupProfile& profile = run.profile;
  forward_calibration_ =
      Calibration(fwd, 0, profile, &ProfiledUnit::forward_ns);
  backward_calibration_ =
      Calibration(bwd, 1, profile, &ProfiledUnit::backward_ns);
  calibration_spread_ = {};
  AddResiduals(fwd, 0, profile, &ProfiledUnit::forward_ns, forward_calibration_,
               calibration_spread_);
  AddResiduals(bwd, 1, profile, &ProfiledUnit::backward_ns,
               backward_calibration_, calibration_spread_);
  // A profiled forward of 0 is "no number" (kFolded in profiles recorded
  // before folding existed): unavailable, never free.
  auto fitted = [](const Mean& mean, bool profiled, int64_t profile_ns,
                   double calibration) {
    FittedCost c;
    if (mean.count > 0) {
      c = {*mean.Value(), CostSource::kOtherSteps, true};
    } else if (profiled) {
      c = {RoundNs(static_cast<double>(profile_ns) * calibration),
           CostSource::kProfile, true};
    }
    return c;
  };
  forward_.assign(n, {});
  backward_.assign(n, {});
  for (int u = 0; u < n; ++u) {
    const ProfiledUnit& p = profile.units[u];
    for (int x = 0; x < kForwardCosted; ++x) {
      forward_[u][x] = fitted(fwd[u][x], p.present && p.forward_ns[x] > 0,
                              p.forward_ns[x], forward_calibration_);
    }
    // kNone costs nothing and is always available.
    backward_[u][0].available = true;
    for (int x = 1; x < kBackwardStates; ++x) {
      backward_[u][x] =
          fitted(bwd[u][x], p.present, p.backward_ns[x], backward_calibration_);
    }
  }
}

// The optimizer's line and calibration, the accumulation rate, and the
// means a predicted step takes (per recorded set and over all steps).
void CostModel::FitStepMeans(const Priors& priors) {
  const RecordedRun& run = *run_;
  by_set_.assign(run.recorded_sets.size(), {});
  double accumulate_sum = 0, accumulate_params = 0;
  double opt_measured = 0, opt_profiled = 0;
  optimizer_ns_per_param_ = run.profile.optimizer_ns_per_param;
  optimizer_fixed_ns_ = run.profile.optimizer_fixed_ns;
  for (int64_t s = fit_first_step_; s < fitted_steps_; ++s) {
    const RecordedStep& r = run.steps[s];
    SetMeans& set = by_set_[r.frozen_set];
    auto add = [](Mean& mean, int64_t ns) {
      mean.sum += ns;
      ++mean.count;
    };
    add(set.data, r.data_ns);
    add(set.optimizer, r.optimizer_ns);
    add(set.accumulate, r.accumulate_ns);
    add(set.other, r.other_ns);
    add(data_, r.data_ns);
    add(other_, r.other_ns);
    // The loss's share of forward: a step with the recorded cache also
    // held its reads and writes there.
    if (!r.cache_active) add(loss_forward_, r.loss_forward_ns);
    accumulate_sum += static_cast<double>(r.accumulate_ns);
    accumulate_params += static_cast<double>(r.trainable_params);
    opt_measured += static_cast<double>(r.optimizer_ns);
    opt_profiled +=
        optimizer_fixed_ns_ +
        optimizer_ns_per_param_ * static_cast<double>(r.trainable_params);
  }
  optimizer_calibration_ = opt_profiled > 0 ? opt_measured / opt_profiled : 1;
  if (!(opt_profiled > 0) && accumulate_params > 0) {
    // No usable profile line: proportional to the parameters.
    optimizer_fixed_ns_ = 0;
    optimizer_ns_per_param_ = opt_measured / accumulate_params;
    optimizer_calibration_ = 1;
  }
  accumulate_ns_per_param_ = accumulate_params > 0
                                 ? accumulate_sum / accumulate_params
                                 : priors.accumulate_ns_per_param;
}

// The overlap rate of the recorded network: the fitted steps' all-reduce
// work during backward over the time the channel was busy then.
void CostModel::FitOverlap(const Priors& priors) {
  recorded_overlap_ = priors.recorded_overlap;
  if (!run_->overlap_measurable) return;
  double work_during = 0, busy = 0;
  int64_t timed_steps = 0;
  for (int64_t s = fit_first_step_; s < fitted_steps_; ++s) {
    const RecordedStep& r = run_->steps[s];
    if (!r.bucket_timed) continue;
    ++timed_steps;
    work_during += static_cast<double>(r.overlap_work_ns);
    busy += static_cast<double>(r.overlap_busy_ns);
  }
  if (busy > 0) {
    recorded_overlap_ = std::min(1.0, std::max(0.0, work_during / busy));
  } else if (timed_steps > 0) {
    // Every all-reduce started after backward (e.g. comm mode sync).
    recorded_overlap_ = 0;
  }
}

// Interval-end work: the rate per (parameter trained in the window ×
// window length) over the intervals that end inside the fitted steps, and
// each interval's compute part (its own when measured; else the mean of the
// fitted intervals with the same window and units, else the prior, else the
// rate).
void CostModel::FitIntervals(const Priors& priors) {
  const RecordedRun& run = *run_;
  auto fitted = [&](const RecordedInterval& iv) {
    return iv.stats.last_step >= fit_first_step_ &&
           iv.stats.last_step < fitted_steps_;
  };
  double work_ns = 0, work_units = 0;
  std::vector<bool> in_window, other;
  for (size_t i = 0; i < run.intervals.size(); ++i) {
    if (!fitted(run.intervals[i])) continue;
    const int window = run.RecordedWindow(static_cast<int64_t>(i), &in_window);
    work_ns += static_cast<double>(run.intervals[i].compute_ns);
    work_units += static_cast<double>(run.IntervalWork(in_window, window));
  }
  interval_ns_per_param_window_ = work_units > 0
                                      ? work_ns / work_units
                                      : priors.interval_ns_per_param_window;
  interval_compute_ns_.assign(run.intervals.size(), 0);
  for (size_t i = 0; i < run.intervals.size(); ++i) {
    if (Measured(run.intervals[i].stats.last_step)) {
      interval_compute_ns_[i] = run.intervals[i].compute_ns;
      continue;
    }
    const int window = run.RecordedWindow(static_cast<int64_t>(i), &in_window);
    Mean same;
    for (size_t j = 0; j < run.intervals.size(); ++j) {
      if (!fitted(run.intervals[j]) ||
          run.RecordedWindow(static_cast<int64_t>(j), &other) != window ||
          other != in_window) {
        continue;
      }
      same.sum += run.intervals[j].compute_ns;
      ++same.count;
    }
    if (same.count > 0) {
      interval_compute_ns_[i] = *same.Value();
    } else if (i < priors.interval_compute_ns.size()) {
      interval_compute_ns_[i] = priors.interval_compute_ns[i];
    } else {
      interval_compute_ns_[i] =
          RoundNs(interval_ns_per_param_window_ *
                  static_cast<double>(run.IntervalWork(in_window, window)));
    }
  }
}

std::optional<UnitCost> CostModel::Lookup(bool same_state, int64_t measured_ns,
                                          const FittedCost& fitted) const {
  if (same_state) return UnitCost{measured_ns, CostSource::kSameStep};
  if (!fitted.available) return std::nullopt;
  return UnitCost{fitted.ns, fitted.source};
}

std::optional<UnitCost> CostModel::Cost(int unit, ForwardState state,
                                        int64_t step) const {
  const int x = static_cast<int>(state);
  if (x >= kForwardCosted) return std::nullopt;
  const UnitRecord& r = run_->steps[step].units[unit];
  return Lookup(Measured(step) && r.forward_state == state, r.forward_ns,
                forward_[unit][x]);
}

std::optional<UnitCost> CostModel::Cost(int unit, BackwardState state,
                                        int64_t step) const {
  const UnitRecord& r = run_->steps[step].units[unit];
  return Lookup(Measured(step) && r.backward_state == state, r.backward_ns,
                backward_[unit][static_cast<int>(state)]);
}

StepCosts CostModel::Step(int64_t step) const {
  const RecordedStep& r = run_->steps[step];
  if (!Measured(step)) return Predict(r);
  StepCosts c;
  c.data_ns = r.data_ns;
  c.loss_forward_ns = r.loss_forward_ns;
  // The rest was the cache's reads, writes and misses, which the simulator
  // models itself (TimingOptions::cache).
  if (r.cache_active && loss_forward_.count > 0) {
    c.loss_forward_ns = *loss_forward_.Value();
  }
  c.optimizer_ns = r.optimizer_ns;
  c.accumulate_ns = r.accumulate_ns;
  c.other_ns = r.other_ns;
  return c;
}

StepCosts CostModel::Predict(const RecordedStep& r) const {
  const SetMeans& set = by_set_[r.frozen_set];
  StepCosts c;
  c.data_ns = set.data.Value().value_or(data_.Value().value_or(0));
  c.other_ns = set.other.Value().value_or(other_.Value().value_or(0));
  c.loss_forward_ns = loss_forward_.Value().value_or(run_->profile.loss_ns);
  c.optimizer_ns = OptimizerNs(r.frozen_set, r.trainable_params);
  c.accumulate_ns = set.accumulate.count > 0 ? *set.accumulate.Value()
                                             : AccumulateNs(r.trainable_params);
  return c;
}

int64_t CostModel::OptimizerNs(int recorded_set,
                               int64_t trainable_params) const {
  if (recorded_set >= 0) {
    const std::optional<int64_t> mean = by_set_[recorded_set].optimizer.Value();
    if (mean.has_value() && *mean >= 0) return *mean;
  }
  return OptimizerLineNs(trainable_params);
}

bool CostModel::OptimizerFromLine(int recorded_set) const {
  if (recorded_set < 0) return true;
  const std::optional<int64_t> mean = by_set_[recorded_set].optimizer.Value();
  return !(mean.has_value() && *mean >= 0);
}

int64_t CostModel::OptimizerLineNs(int64_t params) const {
  return RoundNs(optimizer_calibration_ *
                 (optimizer_fixed_ns_ +
                  optimizer_ns_per_param_ * static_cast<double>(params)));
}

int64_t CostModel::AccumulateNs(int64_t params) const {
  return RoundNs(accumulate_ns_per_param_ * static_cast<double>(params));
}

int64_t CostModel::IntervalComputeNs(int64_t i,
                                     const std::vector<bool>& trained_in_window,
                                     int window) const {
  if (i < static_cast<int64_t>(interval_compute_ns_.size())) {
    std::vector<bool> recorded;
    run_->RecordedWindow(i, &recorded);  // the same window length
    if (recorded == trained_in_window) return interval_compute_ns_[i];
  }
  return RoundNs(
      interval_ns_per_param_window_ *
      static_cast<double>(run_->IntervalWork(trained_in_window, window)));
}

NetworkContext CostModel::network_context() const {
  NetworkContext c;
  c.recorded = run_->allreduce;
  c.recorded_world_size = run_->world_size;
  c.recorded_overlap = recorded_overlap_;
  SetRecordedAlgorithm(run_->header.config().allreduce_algorithm(),
                       run_->header.config().comm_mode(), c);
  return c;
}

absl::StatusOr<CostModel> FitTrace(const trace::TraceContents& trace,
                                   bool allow_partial) {
  auto run = RecordedRun::Create(trace, allow_partial);
  if (!run.ok()) return run.status();
  const int64_t steps = (*run)->num_steps();
  return CostModel::Fit(*std::move(run), 0, steps, steps);
}

}  // namespace freezing::sim
