#include "sim/schedule.h"

#include <algorithm>
#include <map>
#include <memory>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "base/status_macros.h"
#include "freeze/freezer.h"
#include "freeze/policy.h"
#include "freeze_trace/convert.h"

namespace freezing::sim {
namespace {

absl::StatusOr<std::unique_ptr<freeze::Freezer>> MakeFreezer(
    const RecordedRun& run, const freeze::PolicyContext& context,
    const std::string& policy, const std::string& rule_name,
    freeze::VoteRule* rule) {
  auto parsed = freeze::ParseVoteRule(rule_name);
  if (!parsed.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "vote rule '", rule_name, "': ", parsed.status().message()));
  }
  *rule = *parsed;
  std::vector<int> owned;
  for (int r = 0; r < run.context.ranks; ++r) owned.push_back(r);
  auto freezer = freeze::Freezer::Create(policy, *rule, context, owned);
  if (!freezer.ok()) {
    return absl::Status(
        freezer.status().code(),
        absl::StrCat("policy '", policy, "': ", freezer.status().message()));
  }
  return freezer;
}

// Copies window `from_k` (1-based) of `src` into window `to_k` of `dst`.
void CopyWindow(const freeze::WindowNorms& src, int from_k,
                freeze::WindowNorms& dst, int to_k) {
  auto copy = [&](const auto& s, auto& d) {
    if (static_cast<int>(s.size()) >= from_k &&
        static_cast<int>(d.size()) >= to_k) {
      d[to_k - 1] = s[from_k - 1];
    }
  };
  copy(src.l2, dst.l2);
  copy(src.l1, dst.l1);
  copy(src.dot_global, dst.dot_global);
  copy(src.trained_steps, dst.trained_steps);
}

void ZeroWindow(freeze::WindowNorms& n, int k) {
  auto zero = [&](auto& v) {
    if (static_cast<int>(v.size()) >= k) v[k - 1] = 0;
  };
  zero(n.l2);
  zero(n.l1);
  zero(n.dot_global);
  zero(n.trained_steps);
}

// A decision of the Freezer, as a schedule event and as the trainer would
// record it.
void AddEvent(const freeze::FreezeDecision& d, int64_t step,
              const std::string& rule_name, FreezeSchedule& out) {
  ScheduleEvent e;
  e.step = step;
  e.epoch = d.epoch;
  e.freeze = d.decision.freeze;
  e.unfreeze = d.decision.unfreeze;
  e.extrapolated = out.extrapolated_from_step.has_value() &&
                   step > *out.extrapolated_from_step;
  out.events.push_back(std::move(e));
  out.decisions.push_back(
      freeze_trace::ToTraceFreezeEvent(d, out.policy_spec, rule_name));
}

}  // namespace

std::unique_ptr<freeze::BaseIntervalStats> RebuildIntervalStats(
    const RecordedRun& run, int64_t i,
    const std::vector<std::vector<bool>>& sim_trained, bool* incomplete) {
  const freeze::BaseIntervalStats& rec = run.intervals[i].stats;
  const int n = run.num_units;
  int windows = 0;
  for (int u = 0; u < n; ++u) {
    windows = std::max(windows, static_cast<int>(rec.global[u].l2.size()));
  }
  windows = static_cast<int>(std::min<int64_t>(windows, i + 1));
  bool same = true;
  for (int64_t j = i - windows + 1; j <= i && same; ++j) {
    same = sim_trained[j] == run.intervals[j].trained;
  }
  if (same) return nullptr;
  auto out = std::make_unique<freeze::BaseIntervalStats>(rec);
  for (int u = 0; u < n; ++u) {
    for (int k = 1; k <= windows; ++k) {
      bool equal = true;
      std::vector<int64_t> mine;
      for (int64_t j = i - k + 1; j <= i; ++j) {
        equal = equal && sim_trained[j][u] == run.intervals[j].trained[u];
        if (sim_trained[j][u]) mine.push_back(j);
      }
      if (equal) continue;
      if (mine.empty()) {
        ZeroWindow(out->global[u], k);
        for (freeze::RankWindowStats& r : out->ranks) ZeroWindow(r.units[u], k);
        continue;
      }
      const int64_t a = mine.front(), b = mine.back();
      bool rebuildable = b - a + 1 == static_cast<int64_t>(mine.size());
      for (int64_t j = a; j <= b && rebuildable; ++j) {
        rebuildable = run.intervals[j].trained[u];
      }
      if (!rebuildable) {
        *incomplete = true;
        continue;
      }
      const int from_k = static_cast<int>(b - a + 1);
      const freeze::BaseIntervalStats& src = run.intervals[b].stats;
      CopyWindow(src.global[u], from_k, out->global[u], k);
      for (freeze::RankWindowStats& r : out->ranks) {
        const freeze::RankWindowStats* sr = freeze::FindRank(src, r.rank);
        if (sr != nullptr) CopyWindow(sr->units[u], from_k, r.units[u], k);
      }
    }
  }
  return out;
}

bool ReadsStatistics(const std::string& policy_spec) {
  const std::string name = policy_spec.substr(0, policy_spec.find(':'));
  return name != "none" && name != "static" && name != "freezeout" &&
         name != "pipetransformer";
}

namespace {

// Runs a Freezer over the replayed run's steps and base intervals (see
// ComputeSchedule), filling `out`.
class ScheduleBuilder {
 public:
  ScheduleBuilder(const RecordedRun& run, freeze::Freezer& freezer,
                  std::string rule_name, FreezeSchedule& out)
      : run_(run),
        map_(out.steps),
        freezer_(freezer),
        rule_name_(std::move(rule_name)),
        out_(out),
        frozen_(run.num_units, false),
        risk_(run) {}

  absl::Status Run(RiskProxy proxy) {
    freeze::FreezeDecision initial = freezer_.Initial(frozen_);
    if (!initial.decision.empty()) AddEvent(initial, 0, rule_name_, out_);
    out_.step_set.reserve(map_.num_steps());
    bool same = map_.identity;
    int64_t k = 0;  // next base interval
    for (int64_t s = 0; s < map_.num_steps(); ++s) {
      same = StartStep(s) && same;
      while (k < map_.num_intervals() && map_.interval_last_step[k] == s) {
        RETURN_IF_ERROR(EndInterval(k++, s));
      }
    }
    out_.same_as_recorded = same;
    for (int p = 0; p < kRiskProxies; ++p) {
      out_.accuracy_risks[p] = risk_.Estimate(static_cast<RiskProxy>(p));
    }
    const RiskEstimate& chosen = out_.accuracy_risks[static_cast<int>(proxy)];
    out_.accuracy_risk_proxy = RiskProxyName(proxy);
    out_.accuracy_risk = chosen.value;
    out_.accuracy_risk_partial = chosen.partial;
    return absl::OkStatus();
  }

 private:
  int SetId(const std::vector<bool>& set) {
    auto [it, inserted] = ids_.emplace(set, static_cast<int>(out_.sets.size()));
    if (inserted) out_.sets.push_back(set);
    return it->second;
  }

  // The recorded frozen set at recorded step `r`.
  const std::vector<bool>& RecordedSet(int64_t r) const {
    return run_.recorded_sets[run_.steps[r].frozen_set];
  }

  // Step `s` runs the current frozen set; returns whether it is the
  // recorded step's. Costs come from the recorded step it maps to; the
  // statistics (with intervals in steps) from the recorded step of the same
  // index: a unit trained where that step had it frozen has none.
  bool StartStep(int64_t s) {
    out_.step_set.push_back(SetId(frozen_));
    const int64_t costs_from = map_.recorded_step[s];
    const int64_t statistics_from = map_.interval_in == IntervalUnit::kEpochs
                                        ? costs_from
                                        : std::min(s, run_.num_steps() - 1);
    const std::vector<bool>& rec = RecordedSet(costs_from);
    const std::vector<bool>& rec_stats = RecordedSet(statistics_from);
    bool any_frozen = false;
    for (int u = 0; u < run_.num_units; ++u) {
      any_frozen = any_frozen || frozen_[u];
      if (!frozen_[u] && rec[u] &&
          !out_.trains_recorded_frozen_from_step.has_value()) {
        out_.trains_recorded_frozen_from_step = s;
      }
      if (!frozen_[u] && rec_stats[u]) MarkExtrapolated(s);
    }
    if (any_frozen) risk_.SawFrozenStep();
    return rec == frozen_;
  }

  void MarkExtrapolated(int64_t step) {
    if (!out_.reads_statistics) return;
    if (!out_.extrapolated_from_step.has_value() ||
        *out_.extrapolated_from_step > step) {
      out_.extrapolated_from_step = step;
    }
  }

  // Base interval `k` of the replayed run ends at step `s`: the policy
  // sees its statistics and may decide for the steps after it.
  absl::Status EndInterval(int64_t k, int64_t s) {
    const int64_t first = k == 0 ? 0 : map_.interval_last_step[k - 1] + 1;
    const bool recorded = k < static_cast<int64_t>(run_.intervals.size());
    if (recorded) {
      risk_.Count(k, frozen_,
                  1.0 - static_cast<double>(first) /
                            static_cast<double>(map_.num_steps()));
    } else {
      risk_.CountUnrecorded(frozen_);
    }
    if (stopped_) return absl::OkStatus();
    if (!recorded && (out_.reads_statistics || run_.intervals.empty())) {
      // No statistics to decide from: the schedule keeps its frozen set.
      stopped_ = true;
      if (s + 1 < map_.num_steps()) {
        out_.statistics_end_step = s + 1;
        MarkExtrapolated(s + 1);
      }
      return absl::OkStatus();
    }
    const freeze::BaseIntervalStats* stats = Statistics(k, s, first);
    auto decision = freezer_.OnBaseInterval(*stats, frozen_);
    if (!decision.ok()) {
      return absl::Status(
          decision.status().code(),
          absl::StrCat("policy '", out_.policy, "' at base interval ", k, ": ",
                       decision.status().message()));
    }
    if (decision->has_value()) AddEvent(**decision, s + 1, rule_name_, out_);
    return absl::OkStatus();
  }

  // The statistics the policy sees at the end of base interval `k` (steps
  // `first`..`s`): the recorded ones, rebuilt for this schedule, in the
  // replayed run's steps when its intervals are in steps. A statistics-free
  // policy past the recorded intervals sees the last recorded numbers
  // (which it does not read).
  const freeze::BaseIntervalStats* Statistics(int64_t k, int64_t s,
                                              int64_t first) {
    const int64_t i =
        std::min<int64_t>(k, static_cast<int64_t>(run_.intervals.size()) - 1);
    const freeze::BaseIntervalStats* stats = &run_.intervals[i].stats;
    if (i == k) {
      std::vector<bool> trained(run_.num_units);
      for (int u = 0; u < run_.num_units; ++u) trained[u] = !frozen_[u];
      sim_trained_.push_back(std::move(trained));
      bool incomplete = false;
      rebuilt_ = RebuildIntervalStats(run_, k, sim_trained_, &incomplete);
      if (incomplete) MarkExtrapolated(s + 1);
      if (rebuilt_ != nullptr) stats = rebuilt_.get();
    }
    if (map_.identity && i == k) return stats;
    if (rebuilt_ == nullptr || stats != rebuilt_.get()) {
      rebuilt_ = std::make_unique<freeze::BaseIntervalStats>(*stats);
    }
    rebuilt_->index = k;
    if (map_.interval_in == IntervalUnit::kSteps || i != k) {
      rebuilt_->first_step = first;
      rebuilt_->last_step = s;
      rebuilt_->epoch = map_.epoch[s];
      rebuilt_->progress =
          static_cast<double>(s + 1) / static_cast<double>(map_.num_steps());
    }
    return rebuilt_.get();
  }

  const RecordedRun& run_;
  const StepMap& map_;
  freeze::Freezer& freezer_;
  const std::string rule_name_;
  FreezeSchedule& out_;
  std::vector<bool> frozen_;
  RiskAccumulator risk_;
  std::map<std::vector<bool>, int> ids_;
  std::vector<std::vector<bool>> sim_trained_;
  std::unique_ptr<freeze::BaseIntervalStats> rebuilt_;
  bool stopped_ = false;
};

}  // namespace

absl::StatusOr<FreezeSchedule> ComputeSchedule(const RecordedRun& run,
                                               const std::string& policy,
                                               const std::string& vote_rule,
                                               const ScheduleOptions& options) {
  FreezeSchedule out;
  out.policy = policy;
  out.vote_rule = vote_rule.empty() ? run.vote_rule : vote_rule;
  out.steps = options.steps.has_value() ? *options.steps : IdentityStepMap(run);
  // A replayed run with other steps gives the policy those steps; with
  // intervals in epochs it decides in the recorded run's coordinates.
  freeze::PolicyContext context = run.context;
  if (!out.steps.identity && out.steps.interval_in == IntervalUnit::kSteps) {
    context.total_steps = out.steps.num_steps();
    context.steps_per_epoch = out.steps.steps_per_epoch;
  }
  freeze::VoteRule rule;
  auto made = MakeFreezer(run, context, policy, out.vote_rule, &rule);
  if (!made.ok()) return made.status();
  out.policy_spec = (*made)->policy().spec();
  out.reads_statistics = ReadsStatistics(out.policy_spec);
  out.statistics_assumed = out.reads_statistics && out.steps.statistics_assumed;
  ScheduleBuilder builder(run, **made, freeze::VoteRuleName(rule), out);
  RETURN_IF_ERROR(builder.Run(options.risk_proxy));
  return out;
}

absl::StatusOr<FreezeSchedule> ComputeSchedule(const RecordedRun& run,
                                               const std::string& policy,
                                               const std::string& vote_rule) {
  return ComputeSchedule(run, policy, vote_rule, ScheduleOptions());
}

absl::StatusOr<std::vector<trace::FreezeEvent>> ReplayRecordedPolicy(
    const RecordedRun& run) {
  freeze::VoteRule rule;
  auto made = MakeFreezer(run, run.context, run.policy, run.vote_rule, &rule);
  if (!made.ok()) return made.status();
  freeze::Freezer& freezer = **made;
  const std::string spec = freezer.policy().spec();
  const std::string rule_name = freeze::VoteRuleName(rule);
  std::vector<trace::FreezeEvent> events;
  std::vector<bool> frozen(run.num_units, false);
  freeze::FreezeDecision initial = freezer.Initial(frozen);
  if (!initial.decision.empty()) {
    events.push_back(
        freeze_trace::ToTraceFreezeEvent(initial, spec, rule_name));
  }
  for (size_t i = 0; i < run.intervals.size(); ++i) {
    auto decision = freezer.OnBaseInterval(run.intervals[i].stats, frozen);
    if (!decision.ok()) {
      return absl::Status(
          decision.status().code(),
          absl::StrCat("recorded policy '", run.policy, "' at base interval ",
                       i, ": ", decision.status().message()));
    }
    if (decision->has_value()) {
      events.push_back(
          freeze_trace::ToTraceFreezeEvent(**decision, spec, rule_name));
    }
  }
  return events;
}

}  // namespace freezing::sim
