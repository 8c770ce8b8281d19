// Chrome trace-event JSON of a trace, for Perfetto (ui.perfetto.dev, "Open
// trace file") and chrome://tracing: rank 0's steps on a time axis, so that a
// person can see where the time of a step goes and what freezing removed.
//
// Layout (one process, pid 0 = rank 0; ts and dur in microseconds):
//   tid 1 "steps"              one slice per step, with its phases (data,
//                              forward, backward, comm wait, optimizer,
//                              stats, other) nested inside, back to back;
//                              an "eval" slice after each recorded epoch;
//   tid 2 "compute: units"     per-unit forward slices across the forward
//                              phase, then backward slices in reverse unit
//                              order across the backward phase;
//   tid 3.. "comm: all-reduce" each bucket's all-reduce from its
//                              BucketTiming offsets (relative to the start of
//                              backward), so it overlaps the backward slices;
//                              overlapping all-reduces go to further comm
//                              tracks, since Perfetto draws one track's slices
//                              only as properly nested;
//   instant events (global)    freeze / unfreeze decisions at the first step
//                              they apply to;
//   counters                   loss and trainable units per step.
// Steps are laid out back to back from their recorded totals (a trace holds
// durations, not wall-clock timestamps). Every event has name, cat, ph, ts,
// pid and tid; cat is "step", "compute", "comm", "freeze", "counter" or
// "metadata". Corrupt values (negative or overflowing durations) are clamped
// so the output is always valid.
//
// The text (base::JsonWriter): an object {"displayTimeUnit": "ns",
// "otherData": {trace, complete, status, model, policy, ranks},
// "traceEvents": [...]}, one event per line; every name and string escaped
// by base::JsonQuote (a unit or policy name with quotes, backslashes or
// control characters stays valid JSON); ts and dur exact, from integer
// nanoseconds (Decimal(ns, 3)); loss, lr and accuracies as the shortest text
// that reads back exactly, null when not finite.
#ifndef FREEZING_TRACE_CHROME_TRACE_H_
#define FREEZING_TRACE_CHROME_TRACE_H_

#include <ostream>

#include "trace/trace_reader.h"

namespace freezing::trace {

// Tids of the tracks above.
inline constexpr int kStepsTid = 1;
inline constexpr int kComputeTid = 2;
inline constexpr int kFirstCommTid = 3;

// WriteChromeTrace writes `contents` (or its valid prefix) as one JSON object.
void WriteChromeTrace(const TraceContents& contents, std::ostream& out);

}  // namespace freezing::trace

#endif  // FREEZING_TRACE_CHROME_TRACE_H_
