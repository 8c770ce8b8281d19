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
// result is marked extrapolated (the policy is still consulted, and sees
// that unit as the recorded run left it: untrained, so gradient policies
// never freeze it on made-up numbers; schedule policies are unaffected).
#ifndef FREEZING_SIM_SCHEDULE_H_
#define FREEZING_SIM_SCHEDULE_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "freeze/stats.h"
#include "sim/recorded_run.h"
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
  // Distinct frozen sets, and each step's (index into sets).
  std::vector<std::vector<bool>> sets;
  std::vector<int> step_set;
  std::vector<ScheduleEvent> events;
  // The decisions as the trainer records them (trace::FreezeEvent), with
  // votes and reasons.
  std::vector<trace::FreezeEvent> decisions;
  // S: the first step from which the result is not exact (see above).
  std::optional<int64_t> extrapolated_from_step;
  // Share of the recorded accumulated gradient norm (sum over base
  // intervals and units of the window-1 L2 norm of the averaged gradient)
  // that falls in intervals where the schedule had the unit frozen.
  double accuracy_risk = 0;
  // True when the schedule froze units in intervals where the recorded run
  // had frozen them too: their norms were never measured, so the risk
  // counts only what was.
  bool accuracy_risk_partial = false;
  // The schedule equals the recorded one at every step.
  bool same_as_recorded = false;
};

// ComputeSchedule: runs `policy` (a freeze/ spec) with `vote_rule` ("" for
// the trace's) over the recorded run's statistics (never its timings: it
// takes the RecordedRun, not a cost model), owning every recorded rank.
// InvalidArgument for a bad spec or rule (with the valid names), or
// statistics the policy cannot use (e.g. an interval longer than the
// recorded window).
absl::StatusOr<FreezeSchedule> ComputeSchedule(const RecordedRun& run,
                                               const std::string& policy,
                                               const std::string& vote_rule);

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
