// The bridge from a trace (trace/trace.proto) to what the freeze/ library
// sees: a recorded Interval back into the BaseIntervalStats the live run fed
// its Freezer, and the PolicyContext of the recorded run.
//
// The conversion is the exact inverse of train/'s ToTraceInterval: every
// double is copied, never recomputed, so a policy replayed on a trace sees
// the very numbers the live run saw and reproduces its decisions bit for bit.
#ifndef FREEZING_SIM_TRACE_STATS_H_
#define FREEZING_SIM_TRACE_STATS_H_

#include <cstdint>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "freeze/freezer.h"
#include "freeze/policy.h"
#include "freeze/stats.h"
#include "trace/trace.pb.h"
#include "trace/trace_reader.h"

namespace freezing::sim {

// ToBaseIntervalStats: trace::Interval -> freeze::BaseIntervalStats, field by
// field. Units are placed by their `unit` index (the writer emits them in
// order; an index out of range or repeated is InvalidArgument).
absl::StatusOr<freeze::BaseIntervalStats> ToBaseIntervalStats(
    const trace::Interval& interval, int num_units);

// TotalSteps: the number of steps the recorded run was planned for (what its
// policies saw as total_steps): inferred from the intervals' progress
// ((last_step + 1) / total) when there are intervals, else
// steps_per_epoch * epochs.
int64_t TotalSteps(const trace::TraceContents& trace);

// PolicyContextFromTrace: the context the recorded run made its policies
// with (units, total steps, steps per epoch, T, W, ranks).
absl::StatusOr<freeze::PolicyContext> PolicyContextFromTrace(
    const trace::TraceContents& trace);

// FreezeEventFromDecision: a Freezer decision as the trainer records it
// (trace::FreezeEvent), for comparisons with recorded events.
trace::FreezeEvent FreezeEventFromDecision(const freeze::FreezeDecision& d,
                                           const std::string& policy,
                                           const std::string& rule);

}  // namespace freezing::sim

#endif  // FREEZING_SIM_TRACE_STATS_H_
