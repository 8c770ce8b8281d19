// RunReplay, Summarize and ScheduleText; the reports (table, replay.json,
// replay.csv) are in reports.cc.
#include "replay/replay.h"

#include <algorithm>
#include <map>
#include <optional>
#include <tuple>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "base/status_macros.h"
#include "sim/network.h"

namespace freezing::replay {
namespace {

double SafeRatio(int64_t a, int64_t b) {
  return b != 0 ? static_cast<double>(a) / static_cast<double>(b) : 0.0;
}

// What a case's notes say about its steps and schedule.
std::vector<std::string> CaseNotes(const sim::FreezeSchedule& s,
                                   const sim::RecordedRun& run) {
  std::vector<std::string> notes;
  const sim::StepMap& m = s.steps;
  if (m.world_size != run.world_size) {
    notes.push_back(
        m.scaling == sim::Scaling::kSameData
            ? absl::StrCat(
                  "same_data on ", m.world_size, " ranks: the recorded data ",
                  "set and epochs, ", m.num_steps(), " steps of a global ",
                  "batch of ", m.global_batch, " (recorded: ", run.num_steps(),
                  " of ", m.recorded_global_batch,
                  "); each step costs what the recorded step at the same ",
                  "place in its epoch measured (per-rank batch and compute ",
                  "are the same)")
            : absl::StrCat(
                  "same_steps on ", m.world_size, " ranks: the recorded ",
                  m.num_steps(), " steps, each on a global batch of ",
                  m.global_batch, " (recorded: ", m.recorded_global_batch,
                  "), so ", m.world_size, "/", run.world_size,
                  " times the recorded data; per-step costs as recorded"));
  }
  if (s.statistics_assumed) {
    notes.push_back(absl::StrCat(
        "statistics assumed: the policy decides from the recorded gradient ",
        "statistics (global batch ", m.recorded_global_batch, ") as if a ",
        "global batch of ", m.global_batch, " had produced them, intervals ",
        "in ", sim::IntervalUnitName(m.interval_in)));
  }
  if (s.extrapolated_from_step.has_value()) {
    notes.push_back(absl::StrCat(
        "extrapolated from step ", *s.extrapolated_from_step,
        ": the schedule decides after it on statistics the trace does not ",
        "have (it trains a unit the recorded run had frozen, or runs past the ",
        "recorded intervals); the interval spans what it saves after that"));
  } else if (s.trains_recorded_frozen_from_step.has_value()) {
    notes.push_back(absl::StrCat(
        "trains units the recorded run had frozen from step ",
        *s.trains_recorded_frozen_from_step,
        ": their costs there come from other steps or the start-up profile ",
        "(unit_compute_sources); the schedule itself is exact"));
  }
  return notes;
}

// The runs of RunReplay: schedules per (policy, rule, step map), the
// `none` baseline per network and world size, and each case.
class CaseRunner {
 public:
  CaseRunner(const sim::CostModel& model, const ReplayOptions& options)
      : model_(model),
        run_(model.run()),
        options_(options),
        variability_(sim::StepVariability::Of(model)) {}

  // Checks every network, world size, step map and skew before any work.
  absl::Status Prepare() {
    for (const std::string& spec : options_.networks) {
      ASSIGN_OR_RETURN(auto net,
                       sim::MakeNetworkModel(spec, model_.network_context()));
      networks_.push_back(std::move(net));
    }
    for (int w : options_.world_sizes) {
      world_sizes_.push_back(w > 0 ? w : run_.world_size);
    }
    for (int w : world_sizes_) {
      for (const auto& net : networks_) {
        RETURN_IF_ERROR(net->CheckWorldSize(w));
      }
      RETURN_IF_ERROR(sim::CheckRankSkew(options_.skew, w));
      RETURN_IF_ERROR(sim::CheckSharedCores(options_.shared_cores));
      if (maps_.count(w) == 0) {
        ASSIGN_OR_RETURN(
            sim::StepMap map,
            sim::MakeStepMap(run_, options_.scaling, options_.interval_in, w));
        maps_.emplace(w, std::move(map));
      }
    }
    for (const PolicyCase& p : options_.policies) {
      for (int w : world_sizes_) {
        RETURN_IF_ERROR(Schedule(p.spec, p.vote_rule, w).status());
      }
    }
    return absl::OkStatus();
  }

  absl::Status Run(std::vector<CaseResult>& results) {
    for (const PolicyCase& p : options_.policies) {
      for (size_t ni = 0; ni < networks_.size(); ++ni) {
        for (int w : world_sizes_) {
          const bool timeline =
              static_cast<int>(results.size()) == options_.timeline_case;
          ASSIGN_OR_RETURN(CaseResult c, Case(p, ni, w, timeline));
          results.push_back(std::move(c));
        }
      }
    }
    return absl::OkStatus();
  }

 private:
  absl::StatusOr<std::shared_ptr<const sim::FreezeSchedule>> Schedule(
      const std::string& spec, const std::string& rule, int w) {
    const sim::StepMap& map = maps_.at(w);
    const auto key = std::make_tuple(spec, rule, map.identity ? 0 : w);
    auto it = schedules_.find(key);
    if (it != schedules_.end()) return it->second;
    sim::ScheduleOptions o;
    o.steps = map;
    o.risk_proxy = options_.risk_proxy;
    ASSIGN_OR_RETURN(sim::FreezeSchedule s,
                     sim::ComputeSchedule(run_, spec, rule, o));
    auto shared = std::make_shared<const sim::FreezeSchedule>(std::move(s));
    schedules_.emplace(key, shared);
    return shared;
  }

  sim::TimingOptions Timing(int w) const {
    sim::TimingOptions t;
    t.world_size = w;
    t.cache = options_.cache;
    t.augment_variants = options_.augment_variants;
    t.skew = options_.skew;
    t.shared_cores = options_.shared_cores;
    t.fold_frozen = options_.fold_frozen;
    t.keep_step_totals = true;
    return t;
  }

  // The `none` baseline of network `ni` at world size `w`.
  absl::StatusOr<const sim::TimingResult*> Baseline(size_t ni, int w) {
    const auto key = std::make_pair(ni, w);
    auto it = baselines_.find(key);
    if (it != baselines_.end()) return &it->second;
    ASSIGN_OR_RETURN(auto none, Schedule("none", "", w));
    ASSIGN_OR_RETURN(
        sim::TimingResult b,
        sim::SimulateTiming(model_, *none, *networks_[ni], Timing(w)));
    return &baselines_.emplace(key, std::move(b)).first->second;
  }

  absl::StatusOr<CaseResult> Case(const PolicyCase& p, size_t ni, int w,
                                  bool timeline) {
    ASSIGN_OR_RETURN(auto schedule, Schedule(p.spec, p.vote_rule, w));
    ASSIGN_OR_RETURN(const sim::TimingResult* baseline, Baseline(ni, w));
    sim::TimingOptions o = Timing(w);
    if (timeline) o.timeline_steps = options_.timeline_steps;
    auto t = sim::SimulateTiming(model_, *schedule, *networks_[ni], o);
    if (!t.ok()) {
      return absl::Status(t.status().code(),
                          absl::StrCat("policy '", p.given, "', network '",
                                       networks_[ni]->spec(), "', world size ",
                                       w, ": ", t.status().message()));
    }
    CaseResult c;
    c.policy = p;
    c.policy_spec = schedule->policy_spec;
    c.vote_rule = schedule->vote_rule;
    c.network = networks_[ni]->spec();
    c.world_size = w;
    c.schedule = schedule;
    c.timing = *std::move(t);
    c.baseline_total_ns = baseline->phases.total_ns;
    c.speedup = SafeRatio(c.baseline_total_ns, c.timing.phases.total_ns);
    c.saved_fraction =
        c.baseline_total_ns > 0
            ? 1.0 - SafeRatio(c.timing.phases.total_ns, c.baseline_total_ns)
            : 0.0;
    const int64_t saving_after_s =
        schedule->extrapolated_from_step.has_value()
            ? sim::SavingAfter(*baseline, c.timing,
                               *schedule->extrapolated_from_step)
            : 0;
    c.interval = sim::MakePredictionInterval(model_, variability_, c.timing,
                                             saving_after_s);
    c.timing.step_total_ns.clear();
    c.timing.step_total_ns.shrink_to_fit();
    if (schedule->same_as_recorded && w == run_.world_size) {
      c.recorded_accuracy = run_.final_accuracy;
    }
    c.notes = c.timing.notes;
    for (std::string& n : CaseNotes(*schedule, run_)) {
      c.notes.push_back(std::move(n));
    }
    return c;
  }

  const sim::CostModel& model_;
  const sim::RecordedRun& run_;
  const ReplayOptions& options_;
  const sim::StepVariability variability_;
  std::vector<std::unique_ptr<sim::NetworkModel>> networks_;
  std::vector<int> world_sizes_;
  std::map<int, sim::StepMap> maps_;
  std::map<std::tuple<std::string, std::string, int>,
           std::shared_ptr<const sim::FreezeSchedule>>
      schedules_;
  std::map<std::pair<size_t, int>, sim::TimingResult> baselines_;
};

// Whether case `a` dominates case `b`: saves at least as much with at most
// the risk, and is better in one of them.
bool Dominates(const CaseResult& a, const CaseResult& b) {
  const double ra = *a.schedule->accuracy_risk;
  const double rb = *b.schedule->accuracy_risk;
  return a.saved_fraction >= b.saved_fraction && ra <= rb &&
         (a.saved_fraction > b.saved_fraction || ra < rb);
}

// A risk a recommendation can rely on: measured, not a lower bound.
bool Comparable(const CaseResult& c) {
  return c.schedule->accuracy_risk.has_value() &&
         !c.schedule->accuracy_risk_partial;
}

GroupSummary SummarizeGroup(const std::vector<CaseResult>& results,
                            const std::vector<size_t>& cases, double max_risk) {
  GroupSummary g;
  g.network = results[cases[0]].network;
  g.world_size = results[cases[0]].world_size;
  for (size_t i : cases) {
    const CaseResult& c = results[i];
    if (!g.most_saved.has_value() ||
        c.saved_fraction > results[*g.most_saved].saved_fraction) {
      g.most_saved = i;
    }
    if (!Comparable(c)) continue;
    if (*c.schedule->accuracy_risk <= max_risk &&
        (!g.under_cap.has_value() ||
         c.saved_fraction > results[*g.under_cap].saved_fraction)) {
      g.under_cap = i;
    }
    bool dominated = false;
    for (size_t j : cases) {
      dominated = dominated || (j != i && Comparable(results[j]) &&
                                Dominates(results[j], c));
    }
    // Of equal points, the first.
    for (size_t j : g.pareto) {
      dominated = dominated || (results[j].saved_fraction == c.saved_fraction &&
                                *results[j].schedule->accuracy_risk ==
                                    *c.schedule->accuracy_risk);
    }
    if (!dominated) g.pareto.push_back(i);
  }
  std::stable_sort(g.pareto.begin(), g.pareto.end(), [&](size_t a, size_t b) {
    return *results[a].schedule->accuracy_risk <
           *results[b].schedule->accuracy_risk;
  });
  return g;
}

}  // namespace

std::string DefaultNetworks(const sim::CostModel& model) {
  return model.run().world_size > 1 && !model.network_context().recorded.empty()
             ? "recorded"
             : "1gbe";
}

std::string ScheduleText(const sim::FreezeSchedule& schedule,
                         const sim::CostModel& model) {
  std::vector<std::string> parts;
  for (const sim::ScheduleEvent& e : schedule.events) {
    const std::string mark = e.extrapolated ? "*" : "";
    for (int u : e.freeze) {
      parts.push_back(
          absl::StrCat(model.run().units[u].name, "@", e.step, mark));
    }
    for (int u : e.unfreeze) {
      parts.push_back(
          absl::StrCat("-", model.run().units[u].name, "@", e.step, mark));
    }
  }
  return parts.empty() ? "none" : absl::StrJoin(parts, " ");
}

std::vector<GroupSummary> Summarize(const std::vector<CaseResult>& results,
                                    double max_risk) {
  std::vector<std::pair<std::string, int>> order;
  std::map<std::pair<std::string, int>, std::vector<size_t>> groups;
  for (size_t i = 0; i < results.size(); ++i) {
    const auto key = std::make_pair(results[i].network, results[i].world_size);
    if (groups[key].empty()) order.push_back(key);
    groups[key].push_back(i);
  }
  std::vector<GroupSummary> out;
  for (const auto& key : order) {
    out.push_back(SummarizeGroup(results, groups[key], max_risk));
  }
  return out;
}

absl::StatusOr<ReplayReport> RunReplay(const sim::CostModel& model,
                                       const ReplayOptions& options) {
  if (!(options.max_risk >= 0 && options.max_risk <= 1)) {
    return absl::InvalidArgumentError(
        absl::StrCat("--max_risk=", options.max_risk,
                     ": valid values are in [0, 1] (a share of the recorded "
                     "gradient norm)"));
  }
  ReplayReport report;
  report.trace_path = model.run().path;
  report.model = model.run().header.config().model();
  report.recorded_policy = model.run().policy;
  report.recorded_vote_rule = model.run().vote_rule;
  report.recorded_world_size = model.run().world_size;
  report.steps = model.run().num_steps();
  report.measured_total_ns = model.run().measured_total_ns;
  report.final_accuracy = model.run().final_accuracy;
  report.notes = model.run().notes;
  report.scaling = options.scaling;
  report.interval_in = options.interval_in;
  report.risk_proxy = sim::RiskProxyName(options.risk_proxy);
  report.skew = options.skew;
  report.shared_cores = options.shared_cores;
  report.fold_frozen = options.fold_frozen;
  report.recorded_fold_frozen = model.run().fold_frozen;
  report.recommend = options.recommend;
  report.max_risk = options.max_risk;
  CaseRunner runner(model, options);
  RETURN_IF_ERROR(runner.Prepare());
  RETURN_IF_ERROR(runner.Run(report.results));
  report.summaries = Summarize(report.results, options.max_risk);
  if (options.validate) {
    ASSIGN_OR_RETURN(report.validation,
                     Validate(model, options.held_in_fraction));
  }
  return report;
}

}  // namespace freezing::replay
