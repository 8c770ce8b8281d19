// trace_tool: inspect and convert a trace file.
//
//   bazel run //trace:trace_tool -- info FILE
//   bazel run //trace:trace_tool -- dump FILE [--out=FILE.txt]
//   bazel run //trace:trace_tool -- to-csv FILE [--out_dir=DIR]
//   bazel run //trace:trace_tool -- to-chrome FILE [--out=FILE.json]
//
// A relative FILE, --out or --out_dir is taken from the folder bazel run was
// called in (BUILD_WORKING_DIRECTORY). Exit status: 0 success, 1 error
// (including a damaged or cut-short trace, unless --allow_partial), 2 usage.
#include <cstdlib>
#include <iostream>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/status/status.h"
#include "trace/trace_tool.h"

ABSL_FLAG(std::string, out, "",
          "dump, to-chrome: output file (default: standard output)");
ABSL_FLAG(std::string, out_dir, "",
          "to-csv: folder for FILE_STEM.steps.csv and FILE_STEM.intervals.csv "
          "(default: the trace's folder)");
ABSL_FLAG(bool, allow_partial, false,
          "succeed on a damaged or cut-short trace after using its valid "
          "prefix (a warning says where it stopped)");

namespace freezing::trace {
namespace {

absl::Status RealMain(const std::vector<std::string>& args) {
  const char* cwd = std::getenv("BUILD_WORKING_DIRECTORY");
  const std::string base = cwd != nullptr ? cwd : "";
  TraceToolOptions options;
  options.out = absl::GetFlag(FLAGS_out);
  if (options.out != "-") options.out = ResolvePath(options.out, base);
  options.out_dir = ResolvePath(absl::GetFlag(FLAGS_out_dir), base);
  options.allow_partial = absl::GetFlag(FLAGS_allow_partial);
  return RunTraceTool(args[0], ResolvePath(args[1], base), options, std::cout,
                      std::cerr);
}

}  // namespace
}  // namespace freezing::trace

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "COMMAND FILE\n"
      "commands: info | dump [--out=F] | to-csv [--out_dir=D] | "
      "to-chrome [--out=F] (see trace/README.md)");
  const std::vector<char*> positional = absl::ParseCommandLine(argc, argv);
  if (positional.size() != 3) {
    std::cerr << "usage: trace_tool " << absl::ProgramUsageMessage() << "\n";
    return 2;
  }
  const absl::Status status = freezing::trace::RealMain(
      {std::string(positional[1]), std::string(positional[2])});
  if (!status.ok()) {
    std::cerr << "trace_tool: " << status << "\n";
    return 1;
  }
  return 0;
}
