// The freeze schedule a policy produces on a recorded trace: the freeze/
// library's Freezer, fed the trace's base-interval statistics, decides when
// each unit freezes (or unfreezes), exactly as it would have live.
//
// The statistics a live run would have recorded under the replayed schedule
// are rebuilt from the recorded ones: a unit the replayed schedule froze for
// part of a window has the norms of the window ending at its last trained
// interval (recorded exactly, see trace.proto), a unit frozen throughout has
// zeros, as in a live run; with the recorded schedule nothing changes, so a
// policy replayed on its own trace sees the very numbers the live run saw.
// What cannot be rebuilt is a unit the replayed schedule keeps training
// where the recorded run had frozen it: from the first such step S the
// result of a policy that reads statistics is marked extrapolated (the
// policy is still consulted, and sees that unit as the recorded run left
// it: untrained, so gradient policies never freeze it on made-up numbers).
// Policies that read no statistics (none, static, freezeout,
// pipetransformer) decide the same on any trace and are never marked.
#ifndef FREEZING_SIM_SCHEDULE_H_
#define FREEZING_SIM_SCHEDULE_H_

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "freeze/stats.h"
#include "sim/accuracy_risk.h"
#include "sim/recorded_run.h"
#include "sim/step_map.h"
#include "trace/trace.pb.h"

namespace freezing::sim {

struct ScheduleEvent {
  int64_t step = 0;  // first step with the new frozen set
  int epoch = 0;
  std::vector<int> freeze;
  std::vector<int> unfreeze;
  // Decided from statistics that could not be rebuilt (step > S).
  bool extrapolated = false;
};

struct FreezeSchedule {
  std::string policy;       // as given
  std::string policy_spec;  // canonical (the Freezer's)
  std::string vote_rule;
  // The replayed run's steps (step_map.h); `step_set` and the events are in
  // its steps.
  StepMap steps;
  // Distinct frozen sets, and each simulated step's (index into sets).
  std::vector<std::vector<bool>> sets;
  std::vector<int> step_set;
  std::vector<ScheduleEvent> events;
  // The decisions as the trainer records them (trace::FreezeEvent), with
  // votes and reasons.
  std::vector<trace::FreezeEvent> decisions;
  // The policy decides from gradient statistics: every policy but the
  // schedules none, static, freezeout and pipetransformer (freeze/
  // schedule_policies.cc), whose decisions are exact on any trace.
  bool reads_statistics = true;
  // The first step at which the schedule trains a unit the recorded run
  // had frozen (any policy): from there on that unit's costs come from
  // other steps or the start-up profile.
  std::optional<int64_t> trains_recorded_frozen_from_step;
  // The first step whose decision would have needed base intervals the
  // recorded run has no statistics for (a replayed run with more steps
  // than recorded); a policy that reads statistics is not consulted after.
  std::optional<int64_t> statistics_end_step;
  // S: the first step from which the result is not exact (see above), for
  // policies that read statistics only: the first of
  // trains_recorded_frozen_from_step, a window that cannot be rebuilt and
  // statistics_end_step.
  std::optional<int64_t> extrapolated_from_step;
  // The policy reads statistics and the replayed global batch differs from
  // the recorded one: the schedule assumes the recorded statistics hold.
  bool statistics_assumed = false;
  // The accuracy risk by the proxy asked for (accuracy_risk.h): absent
  // when not measured (n/a); partial: a lower bound.
  std::string accuracy_risk_proxy = "norm_share";
  std::optional<double> accuracy_risk;
  bool accuracy_risk_partial = false;
  // Every proxy's estimate, in RiskProxy order.
  std::array<RiskEstimate, kRiskProxies> accuracy_risks;
  // The schedule equals the recorded one at every step.
  bool same_as_recorded = false;
};

struct ScheduleOptions {
  // The replayed run's steps (MakeStepMap); absent: the recorded ones.
  std::optional<StepMap> steps;
  RiskProxy risk_proxy = RiskProxy::kNormShare;
};

// ComputeSchedule: runs `policy` (a freeze/ spec) with `vote_rule` ("" for
// the trace's) over the recorded run's statistics (never its timings: it
// takes the RecordedRun, not a cost model), owning every recorded rank,
// over the replayed run's steps. In a replayed run other than the recorded
// one (step_map.h) the policy's context has its steps, and with intervals
// in steps each base interval's statistics are rewritten to its steps.
// InvalidArgument for a bad spec or rule (with the valid names), or
// statistics the policy cannot use (e.g. an interval longer than the
// recorded window).
absl::StatusOr<FreezeSchedule> ComputeSchedule(const RecordedRun& run,
                                               const std::string& policy,
                                               const std::string& vote_rule,
                                               const ScheduleOptions& options);
// The same on the recorded steps, with the default risk proxy.
absl::StatusOr<FreezeSchedule> ComputeSchedule(const RecordedRun& run,
                                               const std::string& policy,
                                               const std::string& vote_rule);

// ReadsStatistics: whether the canonical spec's policy decides from
// gradient statistics (see FreezeSchedule::reads_statistics).
bool ReadsStatistics(const std::string& policy_spec);

// RebuildIntervalStats: the statistics a live run with a replayed schedule
// would have recorded at base interval `i`, from the recorded ones.
// `sim_trained[j][u]` (j = 0..i): the schedule trained unit u in base
// interval j. nullptr when the recorded record is right as it is; sets
// `*incomplete` when some window cannot be rebuilt (the schedule trained a
// unit where the recorded run had not, or trained it in windows that are not
// contiguous); those windows keep the recorded numbers.
std::unique_ptr<freeze::BaseIntervalStats> RebuildIntervalStats(
    const RecordedRun& run, int64_t i,
    const std::vector<std::vector<bool>>& sim_trained, bool* incomplete);

// ReplayRecordedPolicy: the recorded policy and vote rule, fed the recorded
// statistics as they are (no rebuilding): the freeze events the run should
// have recorded (online equals offline).
absl::StatusOr<std::vector<trace::FreezeEvent>> ReplayRecordedPolicy(
    const RecordedRun& run);

}  // namespace freezing::sim

#endif  // FREEZING_SIM_SCHEDULE_H_
