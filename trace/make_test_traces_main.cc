// make_test_traces: writes synthetic traces (synthetic_trace.h) into a folder,
// for the trace_tool test and as the fuzzer's seed corpus.
//
//   make_test_traces --out_dir=DIR [--small_only]
//
// Files: tiny.trace, small.trace, died.trace (no Footer), cut.trace (cut in
// the middle of a record) and, unless --small_only, resnet18.trace (ResNet-18
// children, 2 ranks, T=10, W=4, 2 epochs of 40 steps).
#include <fstream>
#include <iostream>
#include <string>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "base/status_macros.h"
#include "trace/synthetic_trace.h"

ABSL_FLAG(std::string, out_dir, "", "folder to write the traces into");
ABSL_FLAG(bool, small_only, false, "only the traces under 10 KB");

namespace freezing::trace {
namespace {

absl::Status RealMain(const std::string& dir, bool small_only) {
  if (dir.empty()) return absl::InvalidArgumentError("--out_dir is required");
  SyntheticTraceOptions tiny;
  tiny.units = 2;
  tiny.ranks = 1;
  tiny.stats_interval = 2;
  tiny.stats_window = 2;
  tiny.steps_per_epoch = 4;
  tiny.epochs = 1;
  tiny.freeze_every_intervals = 1;
  RETURN_IF_ERROR(WriteSyntheticTrace(dir + "/tiny.trace", tiny));

  SyntheticTraceOptions small;
  small.units = 3;
  small.stats_interval = 2;
  small.stats_window = 2;
  small.steps_per_epoch = 4;
  small.epochs = 2;
  RETURN_IF_ERROR(WriteSyntheticTrace(dir + "/small.trace", small));

  SyntheticTraceOptions died = small;
  died.with_footer = false;
  died.seed = 2;
  RETURN_IF_ERROR(WriteSyntheticTrace(dir + "/died.trace", died));

  const std::string bytes = EncodeTrace(MakeSyntheticTrace(small));
  std::ofstream cut(dir + "/cut.trace", std::ios::binary);
  cut << bytes.substr(0, bytes.size() * 2 / 3);
  cut.close();
  if (!cut) return absl::DataLossError(absl::StrCat("writing ", dir));

  if (!small_only) {
    RETURN_IF_ERROR(
        WriteSyntheticTrace(dir + "/resnet18.trace", SyntheticTraceOptions()));
  }
  return absl::OkStatus();
}

}  // namespace
}  // namespace freezing::trace

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  const absl::Status status = freezing::trace::RealMain(
      absl::GetFlag(FLAGS_out_dir), absl::GetFlag(FLAGS_small_only));
  if (!status.ok()) {
    std::cerr << "make_test_traces: " << status << "\n";
    return 1;
  }
  return 0;
}
