#include "sim/prediction_interval.h"

#include <algorithm>
#include <cmath>
#include <map>

#include "sim/nanoseconds.h"

namespace freezing::sim {
namespace {

using PhaseVector = std::array<double, kIntervalPhases>;

PhaseVector PhasesOf(const trace::PhaseTimes& p) {
  return {static_cast<double>(p.data_ns()),
          static_cast<double>(p.forward_ns()),
          static_cast<double>(p.backward_ns()),
          static_cast<double>(p.comm_exposed_ns()),
          static_cast<double>(p.optimizer_ns()),
          static_cast<double>(p.stats_ns()),
          static_cast<double>(p.other_ns())};
}

PhaseVector PhasesOf(const PhaseTotals& p) {
  return {static_cast<double>(p.data_ns),
          static_cast<double>(p.forward_ns),
          static_cast<double>(p.backward_ns),
          static_cast<double>(p.comm_exposed_ns),
          static_cast<double>(p.optimizer_ns),
          static_cast<double>(p.stats_ns),
          static_cast<double>(p.other_ns)};
}

// The run's first step pays one-time costs (as validation_models.h's
// kWarmUpSteps): it is left out of the residuals.
constexpr int64_t kFirstResidualStep = 1;

// The fitted steps' relative residuals against their group's means, in step
// order.
std::vector<PhaseVector> Residuals(const CostModel& costs) {
  const RecordedRun& run = costs.run();
  const int t = std::max(1, run.stats_interval);
  auto group = [&](int64_t s) {
    const RecordedStep& r = run.steps[s];
    return r.frozen_set * 4 + ((s + 1) % t == 0 ? 2 : 0) +
           (r.cache_active ? 1 : 0);
  };
  const int64_t first = std::max(costs.fit_first_step(), kFirstResidualStep);
  std::map<int, std::pair<PhaseVector, int64_t>> sums;
  for (int64_t s = first; s < costs.fitted_steps(); ++s) {
    auto& [sum, count] = sums[group(s)];
    const PhaseVector x = PhasesOf(run.steps[s].phases);
    for (int p = 0; p < kIntervalPhases; ++p) sum[p] += x[p];
    ++count;
  }
  std::vector<PhaseVector> out;
  for (int64_t s = first; s < costs.fitted_steps(); ++s) {
    const auto& [sum, count] = sums[group(s)];
    // A group's own mean absorbs part of its steps' spread: a group of k
    // steps keeps (k-1)/k of the variance, so its residuals are scaled by
    // sqrt(k/(k-1)); a group of one step says nothing and is left out.
    if (count < 2) continue;
    const double unbias =
        std::sqrt(static_cast<double>(count) / static_cast<double>(count - 1));
    const PhaseVector x = PhasesOf(run.steps[s].phases);
    PhaseVector e = {};
    for (int p = 0; p < kIntervalPhases; ++p) {
      const double mean = sum[p] / static_cast<double>(count);
      e[p] = mean > 0 ? (x[p] / mean - 1.0) * unbias : 0.0;
    }
    out.push_back(e);
  }
  return out;
}

// Least squares v = a·x + c over (x, v) with a, c >= 0; returns {a, c}.
std::pair<double, double> FitNonNegative(const std::vector<double>& x,
                                         const std::vector<double>& v) {
  const double n = static_cast<double>(x.size());
  double sx = 0, sv = 0, sxx = 0, sxv = 0;
  for (size_t i = 0; i < x.size(); ++i) {
    sx += x[i];
    sv += v[i];
    sxx += x[i] * x[i];
    sxv += x[i] * v[i];
  }
  const double det = n * sxx - sx * sx;
  double a = det > 0 ? (n * sxv - sx * sv) / det : 0;
  double c = (sv - a * sx) / n;
  if (c < 0) {  // through the origin
    c = 0;
    a = sxx > 0 ? sxv / sxx : 0;
  }
  if (a < 0) {  // a constant
    a = 0;
    c = sv / n;
  }
  return {std::max(0.0, a), std::max(0.0, c)};
}

}  // namespace

StepVariability StepVariability::Of(const CostModel& costs) {
  StepVariability v;
  const std::vector<PhaseVector> e = Residuals(costs);
  v.steps_ = static_cast<int64_t>(e.size());
  for (int64_t len = 1; v.steps_ / len >= kMinBlocks; len *= 2) {
    const int64_t blocks = v.steps_ / len;
    std::vector<PhaseVector> means(blocks, PhaseVector{});
    PhaseVector grand = {};
    for (int64_t b = 0; b < blocks; ++b) {
      for (int64_t i = b * len; i < (b + 1) * len; ++i) {
        for (int p = 0; p < kIntervalPhases; ++p) means[b][p] += e[i][p];
      }
      for (int p = 0; p < kIntervalPhases; ++p) {
        means[b][p] /= static_cast<double>(len);
        grand[p] += means[b][p] / static_cast<double>(blocks);
      }
    }
    Covariance c = {};
    for (const PhaseVector& m : means) {
      for (int p = 0; p < kIntervalPhases; ++p) {
        for (int q = 0; q < kIntervalPhases; ++q) {
          c[p * kIntervalPhases + q] += (m[p] - grand[p]) * (m[q] - grand[q]) /
                                        static_cast<double>(blocks - 1);
        }
      }
    }
    v.block_lengths_.push_back(len);
    v.covariance_.push_back(c);
  }
  return v;
}

double StepVariability::LevelSd(const PhaseTotals& phases,
                                int64_t steps) const {
  if (covariance_.empty()) return kLevelPriorSd;
  const PhaseVector p = PhasesOf(phases);
  double total = 0;
  for (double x : p) total += x;
  if (!(total > 0)) return 0;
  std::vector<double> x, v;
  for (size_t l = 0; l < covariance_.size(); ++l) {
    double var = 0;
    for (int i = 0; i < kIntervalPhases; ++i) {
      for (int j = 0; j < kIntervalPhases; ++j) {
        var += p[i] / total * covariance_[l][i * kIntervalPhases + j] * p[j] /
               total;
      }
    }
    x.push_back(1.0 / static_cast<double>(block_lengths_[l]));
    v.push_back(std::max(0.0, var));
  }
  if (x.size() < 2) return std::sqrt(v[0]);
  const auto [a, c] = FitNonNegative(x, v);
  return std::sqrt(a / static_cast<double>(std::max<int64_t>(1, steps)) + c);
}

PredictionInterval MakePredictionInterval(const CostModel& costs,
                                          const StepVariability& variability,
                                          const TimingResult& timing,
                                          int64_t saving_after_s) {
  PredictionInterval out;
  const int64_t total_ns = timing.phases.total_ns;
  const double total = static_cast<double>(total_ns);
  IntervalSpread& s = out.spread;
  s.level = variability.LevelSd(timing.phases, timing.reported_steps);
  const double profiled =
      static_cast<double>(
          timing.cost_by_source[static_cast<int>(CostSource::kProfile)] +
          timing.optimizer_line_ns) /
      std::max(1.0, total);
  const CalibrationSpread& cal = costs.calibration_spread();
  const double residual =
      costs.fitted_steps() <= costs.fit_first_step() ? kProfileLevelPriorSd
      : cal.pairs >= kMinCalibrationPairs            ? cal.ResidualSd()
                                                     : kProfileResidualPriorSd;
  s.profile = std::min(1.0, profiled) * residual;
  s.schedule = total > 0 ? std::fabs(static_cast<double>(saving_after_s)) /
                               (kZ90 * total)
                         : 0;
  const double same_step =
      static_cast<double>(
          timing.cost_by_source[static_cast<int>(CostSource::kSameStep)]) /
      std::max(1.0, total);
  s.model = kModelErrorSd * std::max(0.0, 1.0 - same_step);
  s.total = std::sqrt(s.level * s.level + s.profile * s.profile +
                      s.schedule * s.schedule + s.model * s.model);
  out.low_ns = RoundNs(total * std::exp(-kZ90 * s.total));
  out.high_ns = RoundNs(total * std::exp(kZ90 * s.total));
  return out;
}

int64_t SavingAfter(const TimingResult& baseline, const TimingResult& timing,
                    int64_t step) {
  const int64_t n = static_cast<int64_t>(
      std::min(baseline.step_total_ns.size(), timing.step_total_ns.size()));
  int64_t saved = 0;
  for (int64_t s = std::max<int64_t>(0, step); s < n; ++s) {
    saved += baseline.step_total_ns[s] - timing.step_total_ns[s];
  }
  return saved;
}

}  // namespace freezing::sim
