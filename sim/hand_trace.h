// Hand-built two-unit traces (testonly) whose every number is known, so that
// the tests of the cost model, the simulator and the validation models can
// check each expectation with pencil and paper (the arithmetic is in their
// comments). validation_hand_trace.h builds on the pieces here.
#ifndef FREEZING_SIM_HAND_TRACE_H_
#define FREEZING_SIM_HAND_TRACE_H_

#include "trace/trace.pb.h"
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

// What the hand traces share. TwoUnitTrace: the header of HandTrace (policy
// none) and a start-up profile of its units (body: forward 100, no-grad 80,
// backward 300, without the input gradient 200; fc: 10, 8, 30, 20) and
// all-reduce points (400 bytes: 200 ns, 4400: 1000), without steps.
trace::TraceContents TwoUnitTrace();
// AddStep: step `s` (epoch s / 4, both units trainable unless `frozen`
// says otherwise, no cache) with the units' forward and backward times.
trace::Step& AddStep(trace::TraceContents& t, int s, const bool frozen[2],
                     const int64_t forward_ns[2], const int64_t backward_ns[2]);
// CloseStep: the step's total, the sum of its phases.
void CloseStep(trace::Step& st);
// AddInterval: base interval s / 2, ending at step `s`, without norms.
trace::Interval& AddInterval(trace::TraceContents& t, int s);
// AddFooter: the footer of the steps so far (their total time).
trace::Footer& AddFooter(trace::TraceContents& t);

}  // namespace freezing::sim

#endif  // FREEZING_SIM_HAND_TRACE_H_
