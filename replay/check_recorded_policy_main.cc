// check_recorded_policy --trace=FILE: online equals offline for one trace.
// Feeds the trace's recorded interval statistics to the trace's own policy
// and vote rule (freeze/ Freezer, every rank's instance) and compares the
// decisions with the freeze events the live run recorded, field by field
// (step, units, votes and weights, reason). Exit 0 and "OK: N freeze events
// reproduced" when they agree; exit 1 with the first difference otherwise.
#include <cstdio>
#include <string>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/str_cat.h"
#include "base/user_path.h"
#include "sim/cost_model.h"
#include "sim/schedule.h"
#include "trace/trace_reader.h"

ABSL_FLAG(std::string, trace, "", "a run's trace.pb");
ABSL_FLAG(int, min_events, 0,
          "fail unless the trace recorded at least this many freeze events");

namespace freezing::replay {
namespace {

int RealMain(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  const std::string path = base::ResolveUserPath(absl::GetFlag(FLAGS_trace));
  if (path.empty()) {
    std::fprintf(stderr, "error: --trace=FILE is required\n");
    return 2;
  }
  trace::TraceContents t = trace::ReadTrace(path);
  if (!t.complete()) {
    std::fprintf(stderr, "error: %s is not a complete trace: %s\n",
                 path.c_str(), t.status.ToString().c_str());
    return 1;
  }
  absl::StatusOr<sim::CostModel> model = sim::FitTrace(t);
  if (!model.ok()) {
    std::fprintf(stderr, "error: %s\n", model.status().ToString().c_str());
    return 1;
  }
  auto replayed = sim::ReplayRecordedPolicy(model->run());
  if (!replayed.ok()) {
    std::fprintf(stderr, "error: %s\n", replayed.status().ToString().c_str());
    return 1;
  }
  const int recorded = static_cast<int>(t.freeze_events.size());
  if (static_cast<int>(replayed->size()) != recorded) {
    std::printf(
        "FAIL: the run recorded %d freeze events, the policy "
        "replayed on its statistics makes %zu\n",
        recorded, replayed->size());
    return 1;
  }
  for (int i = 0; i < recorded; ++i) {
    if ((*replayed)[i].SerializeAsString() !=
        t.freeze_events[i].SerializeAsString()) {
      std::printf("FAIL: event %d differs\nrecorded:\n%sreplayed:\n%s", i,
                  t.freeze_events[i].DebugString().c_str(),
                  (*replayed)[i].DebugString().c_str());
      return 1;
    }
  }
  if (recorded < absl::GetFlag(FLAGS_min_events)) {
    std::printf(
        "FAIL: only %d freeze events recorded (need %d for the check "
        "to mean something)\n",
        recorded, absl::GetFlag(FLAGS_min_events));
    return 1;
  }
  std::printf(
      "OK: %d freeze events reproduced (policy %s, rule %s, %d ranks)\n",
      recorded, t.header->config().policy().c_str(),
      t.header->config().vote_rule().c_str(), t.header->config().ranks());
  return 0;
}

}  // namespace
}  // namespace freezing::replay

int main(int argc, char** argv) {
  return freezing::replay::RealMain(argc, argv);
}
