// Synthetic traces with the shape of a real run, for tests, the benchmark and
// the fuzzer's seed corpus (testonly): a ResNet-18 header with its real
// parameter list, a start-up profile, steps with bucket timings, base
// intervals with window norms, freeze events with votes, epochs and a footer.
// The numbers are plausible, not measured; they are deterministic in the seed.
#ifndef FREEZING_TRACE_SYNTHETIC_TRACE_H_
#define FREEZING_TRACE_SYNTHETIC_TRACE_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "trace/trace.pb.h"

namespace freezing::trace {

struct SyntheticTraceOptions {
  // 10 = ResNet-18's children (conv1, bn1, relu, maxpool, layer1..4, avgpool,
  // fc) with its real parameters; any other count makes generic units.
  int units = 10;
  int ranks = 2;
  int stats_interval = 10;  // T, steps per base interval
  int stats_window = 4;     // W, window norms for 1..W base intervals
  int64_t steps_per_epoch = 40;
  int epochs = 2;
  // Freeze one more unit every this many base intervals (0: never).
  int freeze_every_intervals = 2;
  bool with_profile = true;
  // false: the trace of a run that died (no Footer).
  bool with_footer = true;
  uint64_t seed = 1;
};

// MakeSyntheticTrace returns the records of a trace in the order a run writes
// them; the first is the Header.
std::vector<TraceRecord> MakeSyntheticTrace(
    const SyntheticTraceOptions& options);

// EncodeTrace returns `records` framed as a trace file's bytes.
std::string EncodeTrace(const std::vector<TraceRecord>& records);

// WriteSyntheticTrace writes MakeSyntheticTrace(options) to `path` with a
// TraceWriter.
absl::Status WriteSyntheticTrace(const std::string& path,
                                 const SyntheticTraceOptions& options);

}  // namespace freezing::trace

#endif  // FREEZING_TRACE_SYNTHETIC_TRACE_H_
