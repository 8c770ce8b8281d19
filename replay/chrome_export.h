// ChromeTraceJson: the simulated steps of one replay case as Chrome
// trace-event JSON (chrome://tracing, Perfetto): phases, per-unit compute
// and the all-reduce buckets on separate tracks (Perfetto does not nest
// overlapping events on one track), times in microseconds (exact, from
// integer nanoseconds). Written by base::JsonWriter: one event per line,
// names (units, policy, network) escaped.
#ifndef FREEZING_REPLAY_CHROME_EXPORT_H_
#define FREEZING_REPLAY_CHROME_EXPORT_H_

#include <string>

#include "replay/replay.h"
#include "sim/cost_model.h"

namespace freezing::replay {

std::string ChromeTraceJson(const CaseResult& result,
                            const sim::CostModel& model);

}  // namespace freezing::replay

#endif  // FREEZING_REPLAY_CHROME_EXPORT_H_
