#include "sim/schedule.h"

#include <algorithm>
#include <map>
#include <memory>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "freeze/freezer.h"
#include "freeze/policy.h"
#include "freeze_trace/convert.h"

namespace freezing::sim {
namespace {

absl::StatusOr<std::unique_ptr<freeze::Freezer>> MakeFreezer(
    const RecordedRun& run, const std::string& policy,
    const std::string& rule_name, freeze::VoteRule* rule) {
  auto parsed = freeze::ParseVoteRule(rule_name);
  if (!parsed.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "vote rule '", rule_name, "': ", parsed.status().message()));
  }
  *rule = *parsed;
  std::vector<int> owned;
  for (int r = 0; r < run.context.ranks; ++r) owned.push_back(r);
  auto freezer = freeze::Freezer::Create(policy, *rule, run.context, owned);
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
void AddEvent(const freeze::FreezeDecision& d, const std::string& rule_name,
              FreezeSchedule& out) {
  ScheduleEvent e;
  e.step = d.apply_step;
  e.epoch = d.epoch;
  e.freeze = d.decision.freeze;
  e.unfreeze = d.decision.unfreeze;
  e.extrapolated = out.extrapolated_from_step.has_value() &&
                   d.apply_step > *out.extrapolated_from_step;
  out.events.push_back(std::move(e));
  out.decisions.push_back(
      freeze_trace::ToTraceFreezeEvent(d, out.policy_spec, rule_name));
}

// The accuracy risk: the recorded window-1 norms a schedule discards.
struct Risk {
  double total = 0;
  double discarded = 0;

  // Count: interval `iv` with the units `frozen`; a unit frozen where the
  // recorded run had not measured it makes the risk partial.
  void Count(const RecordedInterval& iv, const std::vector<bool>& frozen,
             FreezeSchedule& out) {
    for (size_t u = 0; u < frozen.size(); ++u) {
      const freeze::WindowNorms& g = iv.stats.global[u];
      if (g.l2.empty()) continue;
      if (iv.trained[u]) {
        total += g.l2[0];
        if (frozen[u]) discarded += g.l2[0];
      } else if (frozen[u]) {
        out.accuracy_risk_partial = true;
      }
    }
  }
  double Share() const { return total > 0 ? discarded / total : 0; }
};

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

absl::StatusOr<FreezeSchedule> ComputeSchedule(const RecordedRun& run,
                                               const std::string& policy,
                                               const std::string& vote_rule) {
  FreezeSchedule out;
  out.policy = policy;
  out.vote_rule = vote_rule.empty() ? run.vote_rule : vote_rule;
  freeze::VoteRule rule;
  auto made = MakeFreezer(run, policy, out.vote_rule, &rule);
  if (!made.ok()) return made.status();
  freeze::Freezer& freezer = **made;
  out.policy_spec = freezer.policy().spec();
  const std::string rule_name = freeze::VoteRuleName(rule);
  const int n = run.num_units;
  const int64_t num_steps = run.num_steps();

  std::vector<bool> frozen(n, false);
  std::map<std::vector<bool>, int> ids;
  auto id_of = [&](const std::vector<bool>& set) {
    auto [it, inserted] = ids.emplace(set, static_cast<int>(out.sets.size()));
    if (inserted) out.sets.push_back(set);
    return it->second;
  };
  freeze::FreezeDecision initial = freezer.Initial(frozen);
  if (!initial.decision.empty()) AddEvent(initial, rule_name, out);

  std::vector<std::vector<bool>> sim_trained;
  out.step_set.reserve(num_steps);
  Risk risk;
  size_t next_interval = 0;
  bool same = true;
  for (int64_t s = 0; s < num_steps; ++s) {
    out.step_set.push_back(id_of(frozen));
    const std::vector<bool>& rec = run.recorded_sets[run.steps[s].frozen_set];
    same = same && rec == frozen;
    for (int u = 0; u < n && !out.extrapolated_from_step.has_value(); ++u) {
      if (!frozen[u] && rec[u]) out.extrapolated_from_step = s;
    }
    if (next_interval >= run.intervals.size() ||
        run.intervals[next_interval].stats.last_step != s) {
      continue;
    }
    const int64_t i = static_cast<int64_t>(next_interval++);
    std::vector<bool> trained(n);
    for (int u = 0; u < n; ++u) trained[u] = !frozen[u];
    sim_trained.push_back(trained);
    risk.Count(run.intervals[i], frozen, out);
    bool incomplete = false;
    std::unique_ptr<freeze::BaseIntervalStats> rebuilt =
        RebuildIntervalStats(run, i, sim_trained, &incomplete);
    if (incomplete) {
      const int64_t apply = run.intervals[i].stats.last_step + 1;
      if (!out.extrapolated_from_step.has_value() ||
          *out.extrapolated_from_step > apply) {
        out.extrapolated_from_step = apply;
      }
    }
    const freeze::BaseIntervalStats& stats =
        rebuilt != nullptr ? *rebuilt : run.intervals[i].stats;
    auto decision = freezer.OnBaseInterval(stats, frozen);
    if (!decision.ok()) {
      return absl::Status(
          decision.status().code(),
          absl::StrCat("policy '", policy, "' at base interval ", i, ": ",
                       decision.status().message()));
    }
    if (decision->has_value()) AddEvent(**decision, rule_name, out);
  }
  out.same_as_recorded = same;
  out.accuracy_risk = risk.Share();
  return out;
}

absl::StatusOr<std::vector<trace::FreezeEvent>> ReplayRecordedPolicy(
    const RecordedRun& run) {
  freeze::VoteRule rule;
  auto made = MakeFreezer(run, run.policy, run.vote_rule, &rule);
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
