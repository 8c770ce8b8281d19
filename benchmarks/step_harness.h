// What stats_cost_benchmark and step_overhead_benchmark share: the clock, the
// median of a sample of step times, and one training step's harness (model,
// GradientReducer, Sgd, optional GradientStatistics, StepRunner).
#ifndef FREEZING_BENCHMARKS_STEP_HARNESS_H_
#define FREEZING_BENCHMARKS_STEP_HARNESS_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "base/clock.h"
#include "comm/communicator.h"
#include "comm/reducer.h"
#include "train/grad_stats.h"
#include "train/models/unit_model.h"
#include "train/sgd.h"
#include "train/step_runner.h"

namespace freezing::benchmarks {

using base::NowNs;  // the project's clock (base/clock.h)

// The median of `ns` (nanoseconds) in milliseconds; 0 when empty.
double MedianMs(std::vector<int64_t> ns);

// One model with its reducer, optimizer, optional statistics and runner.
struct StepHarness {
  std::shared_ptr<train::UnitModel> model;
  std::unique_ptr<comm::GradientReducer> reducer;
  std::unique_ptr<train::Sgd> sgd;
  std::unique_ptr<train::GradientStatistics> stats;  // null without
  std::unique_ptr<train::StepRunner> runner;
};

// Builds `model` (train/models names, seed 1, every unit trainable) with
// `num_classes` outputs, a GradientReducer over `comm` (default options),
// Sgd (momentum 0.9, weight decay 1e-4) and, if `with_stats`,
// GradientStatistics with window `stats_window`; aborts on any error.
StepHarness MakeStepHarnessOrDie(comm::Communicator& comm,
                                 const std::string& model, int num_classes,
                                 bool with_stats, int stats_window);

}  // namespace freezing::benchmarks

#endif  // FREEZING_BENCHMARKS_STEP_HARNESS_H_
