// The commands of `trace_tool` (trace_tool_main.cc holds only flags and
// main): `info`, `dump`, `to-csv` and `to-chrome` over one trace file.
//
// Every command works on the valid prefix of a damaged or cut-short trace and
// then returns the error that stopped the reader (so the exit status is
// non-zero), unless allow_partial says a prefix is fine.
#ifndef FREEZING_TRACE_TRACE_TOOL_H_
#define FREEZING_TRACE_TRACE_TOOL_H_

#include <ostream>
#include <string>

#include "absl/status/status.h"
#include "trace/trace_reader.h"
#include "trace/trace_summary.h"

namespace freezing::trace {

struct TraceToolOptions {
  // to-chrome, dump: write here instead of `out`; "" or "-" is `out`.
  // to-csv: the folder of the two tables; "" is the trace's own folder.
  // Missing folders are created.
  std::string out;
  // Report a damaged or cut-short trace on `err` but succeed.
  bool allow_partial = false;
};

// RunTraceTool runs `command` on the trace at `path` (already resolved),
// writing results to `out` and notes (files written, where a damaged trace
// stopped) to `err`. Unknown commands are InvalidArgument.
absl::Status RunTraceTool(const std::string& command, const std::string& path,
                          const TraceToolOptions& options, std::ostream& out,
                          std::ostream& err);

// WriteInfo writes what `info` prints: the run's configuration, record
// counts, durations, units with their parameters, freeze events (by unit
// name) and final accuracy. Epochs are counted from 1, as the trainer's log
// counts them (the records count from 0).
void WriteInfo(const TraceContents& contents, const TraceSummary& summary,
               std::ostream& out);

// CsvPaths: where to-csv writes the tables of the trace at `trace_path`:
// <dir>/<stem>.steps.csv and <dir>/<stem>.intervals.csv, with <stem> the
// trace's file name without its last extension and <dir> `out_dir`, or the
// trace's folder when `out_dir` is empty.
struct CsvPaths {
  std::string steps;
  std::string intervals;
};
CsvPaths CsvPathsFor(const std::string& trace_path, const std::string& out_dir);

// ResolvePath returns `path` unchanged when it is absolute or `base` is
// empty, else base/path. (`bazel run` starts binaries in their runfiles
// folder and gives the caller's folder in BUILD_WORKING_DIRECTORY.)
std::string ResolvePath(const std::string& path, const std::string& base);

}  // namespace freezing::trace

#endif  // FREEZING_TRACE_TRACE_TOOL_H_
