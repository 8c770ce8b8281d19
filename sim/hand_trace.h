// HandTrace (testonly): a hand-built two-unit trace whose every number is
// known, so that the tests of the cost model and the simulator can check
// each expectation with pencil and paper (the arithmetic is in their
// comments).
#ifndef FREEZING_SIM_HAND_TRACE_H_
#define FREEZING_SIM_HAND_TRACE_H_

#include "trace/trace_reader.h"

namespace freezing::sim {

// Two units: "body" (1000 parameters, output 50 elements per sample) and the
// classifier "fc" (100). 2 ranks, batch 8, T = 2, W = 2, 4 steps per epoch,
// 2 epochs, one bucket. Every step trains both: unit forward 110 / 11,
// backward 220 (body, no input gradient) / 33 (fc), loss forward 5,
// accumulation 7 (inside backward), exposed 50, optimizer 1100, data 20,
// other 3, and 2000 of interval work at interval ends.
// `frozen_from`: the step from which the recorded run froze "body" (-1:
// never), as `static:1,at=frozen_from` would.
trace::TraceContents HandTrace(int frozen_from = -1, bool profile = true);

}  // namespace freezing::sim

#endif  // FREEZING_SIM_HAND_TRACE_H_
