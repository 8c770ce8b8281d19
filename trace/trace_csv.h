// CSV tables of a trace, for spreadsheets, pandas and plotting scripts.
//
// Steps table: one row per Step, columns
//   step, epoch, data_ns, forward_ns, backward_ns, comm_total_ns,
//   comm_exposed_ns, optimizer_ns, stats_ns, other_ns, total_ns,
//   max_rank_total_ns, bytes_allreduced, buckets, trainable_units, loss, lr,
//   cache_hits, cache_misses, cache_bytes_read, cache_bytes_written,
//   cache_forward_saved_ns, cache_boundary_unit,
// then for each unit U of the Header, in order: forward_ns:U, backward_ns:U,
// trainable:U (1/0; empty when the step has no value for U).
//
// Intervals table: long format, one row per (interval, scope, unit, window):
//   interval, first_step, last_step, epoch, progress, scope, rank, unit,
//   unit_name, window, l2, l1, dot_global, trained_steps, samples, mean_loss
// scope is "global" (the averaged gradient; rank, dot_global, samples and
// mean_loss empty) or "rank"; window k covers base intervals index-k+1..index.
//
// Numbers are printed with a fixed format (%.9g for reals); fields are quoted
// only when they hold a comma, a quote or a line break (RFC 4180).
#ifndef FREEZING_TRACE_TRACE_CSV_H_
#define FREEZING_TRACE_TRACE_CSV_H_

#include <ostream>

#include "trace/trace_reader.h"

namespace freezing::trace {

// WriteStepsCsv writes the steps table of `contents`.
void WriteStepsCsv(const TraceContents& contents, std::ostream& out);

// WriteIntervalsCsv writes the intervals table of `contents`.
void WriteIntervalsCsv(const TraceContents& contents, std::ostream& out);

}  // namespace freezing::trace

#endif  // FREEZING_TRACE_TRACE_CSV_H_
