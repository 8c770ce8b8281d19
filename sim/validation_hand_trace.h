// ValidationHandTrace (testonly): a hand-built two-unit trace whose
// held-out and model-only predictions are known exactly (the arithmetic is
// in sim/validation_models_test.cc), for the tests of sim/ and replay/.
#ifndef FREEZING_SIM_VALIDATION_HAND_TRACE_H_
#define FREEZING_SIM_VALIDATION_HAND_TRACE_H_

#include "trace/trace_reader.h"

namespace freezing::sim {

// Two units, "body" (1000 parameters) and the classifier "fc" (100); 2
// ranks, batch 8, T = 2, W = 2, 4 steps per epoch, 2 epochs, one bucket of
// 4400 bytes, comm mode sync, no bucket timings (recorded overlap 1).
// Base numbers: body forward 110, fc forward 20, body backward (no input
// gradient) 220, fc backward 30, loss forward 10, accumulation 10 (inside
// backward), data 20, optimizer 1100, other 10, exposed 1200; interval
// work 2000 at odd steps. Step 0, the warm-up, measures 3 times the base;
// steps 1, 2, 3 measure 0.9, 1.1 and 1 times it (their mean is the base);
// steps 4-7, the held-out half, measure `late` times it (a machine that
// got slower), which a held-out prediction must not depend on.
trace::TraceContents ValidationHandTrace(double late = 1.5);

// The exact answers for ValidationHandTrace (any `late`): the held-out
// prediction of steps 4-7 (fitted on steps 1-3) and the model-only
// prediction of all 8 steps, in nanoseconds.
inline constexpr int64_t kHandHeldOutPredictedNs = 4 * 2720 + 2 * 2000;
inline constexpr int64_t kHandModelOnlyPredictedNs =
    8 * 1454 + 92 + 3 * 128 + 4 * 1000;

}  // namespace freezing::sim

#endif  // FREEZING_SIM_VALIDATION_HAND_TRACE_H_
