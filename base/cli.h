// The command line of every tool of the project: one parser over the
// binary's abseil flags, one --help layout, one error format.
//
//   const base::CliSpec kCli = {...};  // the tool's name, groups, examples
//   int main(int argc, char** argv) {
//     const std::vector<std::string> args =
//         base::ParseCommandLineOrExit(kCli, argc, argv);
//     ...
//     if (!status.ok()) return base::ReportError(kCli.tool, status, 1);
//   }
//
// Arguments: "--name=value", "--name value" (not for booleans), "--name" and
// "--noname" for booleans; "-name" as "--name"; "-" inside names may stand
// for "_"; everything after "--" is positional. A tool takes at most
// `CliSpec::max_positional` positional arguments (its commands and files).
// Usage errors (InvalidArgument), printed as "TOOL: error: MESSAGE" with
// exit status 2, before the tool does anything:
//   - an unknown flag, with the closest of the binary's flags by edit
//     distance: "unknown flag --polcy; did you mean --policy?";
//   - torchrun's flags (--nproc_per_node, --nnodes, --master_addr, ...),
//     with what this project says instead (--ranks, --cluster);
//   - an argument that is not a flag where the tool takes none, with the
//     flag it most likely meant: "--augment false" gives "did you mean
//     --augment=false?", "policy=static:2" gives "--policy=static:2";
//   - a value the flag's type does not accept, or a missing value.
// --help (also -h, --helpfull): the flags in the tool's groups with their
// defaults, then the examples, on standard output; exit status 0. Abseil's
// own flags (--flagfile, --fromenv, ...) are neither shown nor accepted.
#ifndef FREEZING_BASE_CLI_H_
#define FREEZING_BASE_CLI_H_

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace freezing::base {

// kUsageExit: the exit status of a usage or configuration error.
inline constexpr int kUsageExit = 2;

// CliFlagGroup: a heading of --help and the flags under it, in order.
struct CliFlagGroup {
  std::string title;
  std::vector<std::string> flags;
};

// CliSpec: what --help says about a tool and what its command line may hold.
struct CliSpec {
  std::string tool;     // the name in messages: "train", "trace_tool"
  std::string summary;  // one line: what the tool does
  // Usage lines, e.g. "bazel run //trace:trace_tool -- COMMAND TRACE
  // [flags]".
  std::vector<std::string> usage;
  std::vector<CliFlagGroup> groups;   // flags in no group: "other"
  std::vector<std::string> examples;  // commands, at least two
  std::string notes;                  // a paragraph after the examples
  int max_positional = 0;             // commands and files the tool takes
};

// ParsedCommandLine: what ParseCommandLine found besides the flag values.
struct ParsedCommandLine {
  std::vector<std::string> positional;
  bool help = false;  // --help was given (nothing else was checked)
};

// ParseCommandLine: sets the binary's flags from `args` (argv without
// argv[0]) as described above; InvalidArgument on a usage error. Flags set
// before the error keep their new values.
absl::StatusOr<ParsedCommandLine> ParseCommandLine(
    const CliSpec& spec, const std::vector<std::string>& args);

// ParseCommandLineOrExit: ParseCommandLine on argv; prints HelpText and
// exits 0 on --help, prints the error and exits kUsageExit on a usage error;
// otherwise returns the positional arguments.
std::vector<std::string> ParseCommandLineOrExit(const CliSpec& spec, int argc,
                                                char** argv);

// HelpText: what --help prints.
std::string HelpText(const CliSpec& spec);

// ClosestName: the candidate closest to `name` by edit distance (ignoring
// case, '-' as '_'), if it is close enough to be a likely typo; "" if none.
std::string ClosestName(absl::string_view name,
                        const std::vector<std::string>& candidates);

// BinaryFlagNames: the names of the binary's flags (abseil's own excluded),
// sorted.
std::vector<std::string> BinaryFlagNames();

// ReportError: prints "TOOL: error: MESSAGE" (the status message, without
// its code) on standard error and returns `exit_status`.
int ReportError(absl::string_view tool, const absl::Status& status,
                int exit_status = kUsageExit);

// ReportWarning: prints "TOOL: warning: MESSAGE" on standard error.
void ReportWarning(absl::string_view tool, absl::string_view message);

}  // namespace freezing::base

#endif  // FREEZING_BASE_CLI_H_
