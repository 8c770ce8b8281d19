// The bridge between freeze/ (what policies see and decide) and trace/ (what
// a run records): the one copy of the conversions that "online equals
// offline" rests on. The trainer turns its statistics and decisions into
// trace records here; the simulator turns recorded intervals back into the
// statistics a policy sees here; ranks exchange their votes as trace.proto
// messages encoded here.
//
// Every double is copied, never recomputed, so a policy replayed on a trace
// sees the very numbers the live run saw and reproduces its decisions bit for
// bit; ToBaseIntervalStats(ToTraceInterval(s)) == s and the other way round
// (convert_test).
#ifndef FREEZING_FREEZE_TRACE_CONVERT_H_
#define FREEZING_FREEZE_TRACE_CONVERT_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "freeze/freezer.h"
#include "freeze/policy.h"
#include "freeze/stats.h"
#include "trace/trace.pb.h"
#include "trace/trace_reader.h"

namespace freezing::freeze_trace {

// ToTraceInterval: freeze::BaseIntervalStats -> trace::Interval, field by
// field (units in index order, each naming its index).
trace::Interval ToTraceInterval(const freeze::BaseIntervalStats& stats);

// ToBaseIntervalStats: trace::Interval -> freeze::BaseIntervalStats, field by
// field. Units are placed by their `unit` index (the writer emits them in
// order; an index out of range or repeated is InvalidArgument).
absl::StatusOr<freeze::BaseIntervalStats> ToBaseIntervalStats(
    const trace::Interval& interval, int num_units);

// ToTraceVote / FromTraceVote: one rank's vote.
trace::Vote ToTraceVote(const freeze::Vote& vote);
freeze::Vote FromTraceVote(const trace::Vote& vote);

// ToTraceFreezeEvent: a Freezer decision with its votes, as the trainer
// records it and as a replay compares it with the recorded one.
trace::FreezeEvent ToTraceFreezeEvent(const freeze::FreezeDecision& decision,
                                      const std::string& policy,
                                      const std::string& rule);

// EncodeVotes / DecodeVotes: one rank's votes as the bytes it sends to the
// others (a serialized trace::Votes). DecodeVotes appends to `out`;
// DataLoss when the bytes are not a Votes message.
std::string EncodeVotes(const std::vector<freeze::Vote>& votes);
absl::Status DecodeVotes(const std::string& bytes,
                         std::vector<freeze::Vote>& out);

// TotalSteps: the number of steps the recorded run was planned for (what its
// policies saw as total_steps): inferred from the intervals' progress
// ((last_step + 1) / total) when there are intervals, else
// steps_per_epoch * epochs.
int64_t TotalSteps(const trace::TraceContents& trace);

// PolicyContextFromTrace: the context the recorded run made its policies
// with (units, total steps, steps per epoch, T, W, ranks).
absl::StatusOr<freeze::PolicyContext> PolicyContextFromTrace(
    const trace::TraceContents& trace);

}  // namespace freezing::freeze_trace

#endif  // FREEZING_FREEZE_TRACE_CONVERT_H_
