#include "sim/accuracy_risk.h"

#include <algorithm>

#include "absl/strings/str_cat.h"

namespace freezing::sim {
namespace {

constexpr const char* kNames[kRiskProxies] = {"norm_share", "unconverged",
                                              "remaining_steps", "lr"};

// The mean learning rate of recorded interval `i`'s steps; 1 when the
// trace has none (a constant weight: lr = norm_share).
double MeanLearningRate(const RecordedRun& run, int64_t i) {
  const freeze::BaseIntervalStats& s = run.intervals[i].stats;
  double sum = 0;
  int64_t n = 0;
  for (int64_t t = s.first_step; t <= s.last_step && t < run.num_steps(); ++t) {
    if (t < 0) continue;
    sum += run.steps[t].lr;
    ++n;
  }
  return n > 0 && sum > 0 ? sum / static_cast<double>(n) : 1.0;
}

}  // namespace

std::string RiskProxyName(RiskProxy proxy) {
  return kNames[static_cast<int>(proxy)];
}

absl::StatusOr<RiskProxy> ParseRiskProxy(absl::string_view name) {
  for (int p = 0; p < kRiskProxies; ++p) {
    if (name == kNames[p]) return static_cast<RiskProxy>(p);
  }
  return absl::InvalidArgumentError(absl::StrCat(
      "--risk_proxy=", name, ": valid values are norm_share (the default), ",
      "unconverged, remaining_steps, lr"));
}

RiskAccumulator::RiskAccumulator(const RecordedRun& run)
    : run_(run),
      first_norm_(run.num_units, 0),
      last_norm_(run.num_units, 0),
      was_frozen_(run.num_units, false),
      unconverged_(run.num_units, 1) {}

void RiskAccumulator::Track(int u, bool frozen, bool measured, double g) {
  if (frozen && !was_frozen_[u]) {
    // c_u: the last norm the policy saw against the first one.
    unconverged_[u] = counted_ > 0 && first_norm_[u] > 0 && last_norm_[u] > 0
                          ? std::min(1.0, last_norm_[u] / first_norm_[u])
                          : 1.0;
  }
  was_frozen_[u] = frozen;
  if (!measured) return;
  if (first_norm_[u] == 0) first_norm_[u] = g;
  if (!frozen) last_norm_[u] = g;
}

void RiskAccumulator::Count(int64_t i, const std::vector<bool>& frozen,
                            double remaining) {
  const RecordedInterval& iv = run_.intervals[i];
  const double lr = MeanLearningRate(run_, i);
  for (size_t u = 0; u < frozen.size(); ++u) {
    const freeze::WindowNorms& n = iv.stats.global[u];
    const bool measured = iv.trained[u] && !n.l2.empty();
    const double g = measured ? n.l2[0] : 0.0;
    Track(static_cast<int>(u), frozen[u], measured, g);
    if (!measured) {
      // Left out: never measured (norm_share's sums are the historical
      // ones, in the same order, so that its value is bit for bit the same).
      if (frozen[u] && !n.l2.empty()) partial_ = true;
      continue;
    }
    const double weight[kRiskProxies] = {1.0, 1.0, remaining, lr};
    for (int p = 0; p < kRiskProxies; ++p) total_[p] += weight[p] * g;
    if (!frozen[u]) continue;
    froze_measured_ = true;
    const double kept[kRiskProxies] = {1.0, unconverged_[u], remaining, lr};
    for (int p = 0; p < kRiskProxies; ++p) discarded_[p] += kept[p] * g;
  }
  ++counted_;
}

void RiskAccumulator::CountUnrecorded(const std::vector<bool>& frozen) {
  for (size_t u = 0; u < frozen.size(); ++u) {
    partial_ = partial_ || frozen[u];
  }
  ++counted_;
}

RiskEstimate RiskAccumulator::Estimate(RiskProxy proxy) const {
  const int p = static_cast<int>(proxy);
  if (!froze_any_) return {0.0, false};
  if (!froze_measured_ || !(total_[p] > 0)) return {std::nullopt, partial_};
  return {discarded_[p] / total_[p], partial_};
}

}  // namespace freezing::sim
