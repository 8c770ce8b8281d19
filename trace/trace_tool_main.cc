// trace_tool: inspect and convert a trace file.
//
//   bazel run //trace:trace_tool -- info TRACE
//   bazel run //trace:trace_tool -- dump TRACE [--out=FILE.txt]
//   bazel run //trace:trace_tool -- to-csv TRACE [--out=DIR]
//   bazel run //trace:trace_tool -- to-chrome TRACE [--out=FILE.json]
//
// TRACE may also be given as --trace=TRACE. A relative TRACE or --out is
// taken from the folder bazel run was called in (base/user_path.h); --out's
// folder is created. Exit status: 0 success, 1 error (including a damaged or
// cut-short trace, unless --allow_partial), 2 usage.
#include <iostream>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "base/cli.h"
#include "base/user_path.h"
#include "trace/trace_tool.h"

ABSL_FLAG(std::string, trace, "",
          "the trace file (instead of the argument after the command)");
ABSL_FLAG(std::string, out, "",
          "dump, to-chrome: the output file (default: standard output); "
          "to-csv: the folder of TRACE_STEM.steps.csv and "
          "TRACE_STEM.intervals.csv (default: the trace's folder); created "
          "if missing");
ABSL_FLAG(bool, allow_partial, false,
          "succeed on a damaged or cut-short trace after using its valid "
          "prefix (a warning says where it stopped)");

namespace freezing::trace {
namespace {

const base::CliSpec& Cli() {
  static const auto* cli = new base::CliSpec{
      "trace_tool",
      "inspect and convert a run's trace (trace.pb)",
      {"bazel run //trace:trace_tool -- COMMAND TRACE [flags]",
       "commands: info (a readable summary), dump (every record as text), "
       "to-csv (steps and intervals tables), to-chrome (Perfetto / "
       "chrome://tracing JSON)"},
      {{"input", {"trace", "allow_partial"}}, {"outputs", {"out"}}},
      {"bazel run //trace:trace_tool -- info /tmp/run/trace.pb",
       "bazel run //trace:trace_tool -- to-csv /tmp/run/trace.pb "
       "--out=/tmp/run/csv"},
      "Columns of the tables: trace/trace_csv.h; tracks of the Chrome "
      "trace: trace/chrome_trace.h; more in trace/README.md.",
      /*max_positional=*/2};
  return *cli;
}

// The command and the trace's path from the arguments and --trace.
absl::Status CommandAndTrace(const std::vector<std::string>& args,
                             std::string& command, std::string& path) {
  const std::string flag = absl::GetFlag(FLAGS_trace);
  if (args.empty()) {
    return absl::InvalidArgumentError(
        "no command: trace_tool COMMAND TRACE (commands: info, dump, to-csv, "
        "to-chrome)");
  }
  command = args[0];
  if (command != "info" && command != "dump" && command != "to-csv" &&
      command != "to-chrome") {
    return absl::InvalidArgumentError(
        absl::StrCat("unknown command \"", command,
                     "\"; commands: info, dump, to-csv, to-chrome"));
  }
  if (args.size() == 2 && !flag.empty()) {
    return absl::InvalidArgumentError(
        "give the trace once: after the command or as --trace, not both");
  }
  path = args.size() == 2 ? args[1] : flag;
  if (path.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "no trace: trace_tool ", command, " TRACE (or --trace=TRACE)"));
  }
  path = base::ResolveUserPath(path);
  return absl::OkStatus();
}

int RealMain(int argc, char** argv) {
  const std::vector<std::string> args =
      base::ParseCommandLineOrExit(Cli(), argc, argv);
  std::string command, path;
  if (absl::Status s = CommandAndTrace(args, command, path); !s.ok()) {
    return base::ReportError(Cli().tool, s, base::kUsageExit);
  }
  TraceToolOptions options;
  options.out = absl::GetFlag(FLAGS_out);
  if (options.out != "-") options.out = base::ResolveUserPath(options.out);
  options.allow_partial = absl::GetFlag(FLAGS_allow_partial);
  const absl::Status status =
      RunTraceTool(command, path, options, std::cout, std::cerr);
  if (!status.ok()) return base::ReportError(Cli().tool, status, 1);
  return 0;
}

}  // namespace
}  // namespace freezing::trace

int main(int argc, char** argv) {
  return freezing::trace::RealMain(argc, argv);
}
