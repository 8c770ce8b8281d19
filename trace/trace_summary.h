// TraceSummary: the numbers a person or a tool first wants from a trace
// (counts, durations, bytes, the freeze schedule, final accuracy), computed
// once here so that `trace_tool info`, replay's reports and the simulator's
// comparisons against the recorded run agree on their definitions.
#ifndef FREEZING_TRACE_TRACE_SUMMARY_H_
#define FREEZING_TRACE_TRACE_SUMMARY_H_

#include <cstdint>
#include <optional>
#include <vector>

#include "trace/trace.pb.h"
#include "trace/trace_reader.h"

namespace freezing::trace {

struct TraceSummary {
  // Records of each kind in the (valid prefix of the) trace.
  int64_t records = 0;
  int64_t steps = 0;
  int64_t intervals = 0;
  int64_t freeze_events = 0;
  int64_t epochs = 0;
  int64_t unknown_records = 0;
  bool has_profile = false;
  bool has_footer = false;

  // Steps recorded: [first_step, last_step], both -1 without steps.
  int64_t first_step = -1;
  int64_t last_step = -1;

  // Sums over the recorded steps. train_ns adds rank 0's step totals (what
  // the phases below split up); slowest_rank_train_ns adds the per-step
  // maximum over ranks, the time the synchronous run actually took.
  int64_t train_ns = 0;
  int64_t slowest_rank_train_ns = 0;
  PhaseTimes phases;             // each phase summed over steps
  int64_t bytes_allreduced = 0;  // per rank
  // Sum of the epochs' evaluation time.
  int64_t eval_ns = 0;
  // Mean of train_ns over steps (0 without steps).
  double mean_step_ns = 0.0;

  // Per unit (Header.units order): the step from which it stayed frozen to
  // the end of the trace, or -1 when it was trainable at the end.
  std::vector<int64_t> frozen_from_step;
  int frozen_units_at_end = 0;

  // The Footer's final accuracy, else the last Epoch's test accuracy.
  std::optional<double> final_test_accuracy;
  // The epoch final_test_accuracy belongs to (-1 when from the Footer alone).
  int32_t final_accuracy_epoch = -1;
};

// Summarize computes a TraceSummary from whatever ReadTrace read; a trace
// cut short yields the summary of its valid prefix.
TraceSummary Summarize(const TraceContents& contents);

}  // namespace freezing::trace

#endif  // FREEZING_TRACE_TRACE_SUMMARY_H_
