// Replay: a recorded trace against freezing policies × networks × world
// sizes, with the reports: a table for people, replay.json, replay.csv (the
// golden format of the regression test), and a validation of the model
// against what the trace measured (replay/validation.h).
//
// Every case is compared with the `none` policy under the same network and
// world size (speed-up, time saved). Outputs are deterministic: the same
// trace and options give byte-identical text.
#ifndef FREEZING_REPLAY_REPLAY_H_
#define FREEZING_REPLAY_REPLAY_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "replay/case_list.h"
#include "replay/validation.h"
#include "sim/accuracy_risk.h"
#include "sim/cost_model.h"
#include "sim/prediction_interval.h"
#include "sim/rank_skew.h"
#include "sim/schedule.h"
#include "sim/simulator.h"
#include "sim/step_map.h"

namespace freezing::replay {

// The default cap on the accuracy risk of the policy a replay recommends: a
// stated placeholder until the risk's validation against measured accuracy
// drops sets it (docs/RESULTS.md).
inline constexpr double kDefaultMaxRisk = 0.25;

struct ReplayOptions {
  std::vector<PolicyCase> policies;
  std::vector<std::string> networks;  // specs as given
  std::vector<int> world_sizes;       // 0: the recorded world size
  // At other world sizes: the recorded data set (fewer steps as ranks are
  // added) or the recorded steps; the policy's intervals in steps or epochs
  // (sim/step_map.h).
  sim::Scaling scaling = sim::Scaling::kSameData;
  sim::IntervalUnit interval_in = sim::IntervalUnit::kSteps;
  sim::RiskProxy risk_proxy = sim::RiskProxy::kNormShare;
  // Stragglers and jitter (sim/rank_skew.h); checked against every world
  // size.
  sim::RankSkewOptions skew;
  // Every rank on one machine of this many cores, as on comm's emulated
  // cluster (sim::TimingOptions::shared_cores); 0: hosts of their own.
  int shared_cores = 0;
  // The frozen prefix in its inference form (the trainer's --fold_frozen)
  // or not; unset: as the recorded run (sim::TimingOptions::fold_frozen).
  std::optional<bool> fold_frozen;
  // The Pareto front of (time saved, risk) and the recommendation in the
  // reports; the summary after the table is always there.
  bool recommend = false;
  double max_risk = kDefaultMaxRisk;
  bool cache = false;
  int augment_variants = -1;  // -1: the trace's
  bool validate = false;
  // Share of the steps the held-out validation fits on (replay/validation.h).
  double held_in_fraction = 0.5;
  // Keep the step timelines of case `timeline_case` (its first
  // `timeline_steps` steps), for --chrome.
  int timeline_case = -1;
  int64_t timeline_steps = 0;
};

struct CaseResult {
  PolicyCase policy;
  std::string policy_spec;  // canonical
  std::string vote_rule;
  std::string network;  // canonical
  int world_size = 0;
  std::shared_ptr<const sim::FreezeSchedule> schedule;
  sim::TimingResult timing;
  int64_t baseline_total_ns = 0;  // `none`, same network and world size
  double speedup = 1;             // baseline / predicted
  double saved_fraction = 0;      // 1 - predicted / baseline
  // The central 90% interval of the predicted total
  // (sim/prediction_interval.h).
  sim::PredictionInterval interval;
  // The recorded run's accuracy, when this case is the recorded schedule at
  // the recorded world size.
  std::optional<double> recorded_accuracy;
  std::vector<std::string> notes;
};

// Per network × world size: the policy that saves most (any risk), the
// one that saves most with a measured risk at most the cap, and the Pareto
// front of (saved fraction, risk) over the cases with a measured, complete
// risk, by ascending risk. Indices into ReplayReport::results.
struct GroupSummary {
  std::string network;
  int world_size = 0;
  std::optional<size_t> most_saved;
  std::optional<size_t> under_cap;
  std::vector<size_t> pareto;
};

struct ReplayReport {
  std::string trace_path;
  std::string model;
  std::string recorded_policy;
  std::string recorded_vote_rule;
  int recorded_world_size = 1;
  int64_t steps = 0;
  int64_t measured_total_ns = 0;
  std::optional<double> final_accuracy;
  std::vector<std::string> notes;
  std::vector<CaseResult> results;
  // The options the cases were replayed with.
  sim::Scaling scaling = sim::Scaling::kSameData;
  sim::IntervalUnit interval_in = sim::IntervalUnit::kSteps;
  std::string risk_proxy;
  sim::RankSkewOptions skew;
  int shared_cores = 0;
  std::optional<bool> fold_frozen;
  bool recorded_fold_frozen = false;
  bool recommend = false;
  double max_risk = kDefaultMaxRisk;
  std::vector<GroupSummary> summaries;
  std::optional<Validation> validation;
};

// RunReplay: every policy × network × world size, in that nesting order.
// Errors name the bad policy, network or world size.
absl::StatusOr<ReplayReport> RunReplay(const sim::CostModel& model,
                                       const ReplayOptions& options);

// The default network list for a trace: `recorded` when it has all-reduce
// measurements, else `1gbe`.
std::string DefaultNetworks(const sim::CostModel& model);

// Reports.
std::string FormatTable(const ReplayReport& report,
                        const sim::CostModel& model);
std::string ToJson(const ReplayReport& report, const sim::CostModel& model);
std::string ToCsv(const ReplayReport& report, const sim::CostModel& model);
// CsvHeader: the columns of ToCsv, in order.
std::vector<std::string> CsvHeader();

// Summarize: the GroupSummary of every network × world size, in the order
// of the cases (see GroupSummary).
std::vector<GroupSummary> Summarize(const std::vector<CaseResult>& results,
                                    double max_risk);

// ScheduleText: "conv1@40 bn1@80 -layer1@120" (units frozen at a step; '-'
// marks an unfreeze, '*' an extrapolated decision), or "none".
std::string ScheduleText(const sim::FreezeSchedule& schedule,
                         const sim::CostModel& model);

}  // namespace freezing::replay

#endif  // FREEZING_REPLAY_REPLAY_H_
