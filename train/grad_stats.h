// GradientStatistics: per-unit gradient statistics for the freezing policies
// and the trace, accumulated from the gradients each step already has.
//
// Per step, every trainable parameter's LOCAL gradient (before all-reduce) is
// added into a flat accumulator (one add, called from the reducer's gradient
// observer; no extra pass over the data). The first gradient of an interval
// is written rather than added (0 + g, the same float), so accumulators are
// never zeroed in a separate pass; a parameter with no gradient in an
// interval has its segment zeroed when the interval ends. The accumulator is
// in logical (NCHW) order whatever the gradient's memory format. At the end of
// a base interval of T steps the accumulator Delta_i holds this rank's gradient
// summed over the interval; the global (averaged) sum is its all-reduce divided
// by the number of ranks, since the averaged gradient of a step is the mean of
// the local ones (the buffers keep the sum over ranks; norms are divided
// afterwards, which saves a pass). The last W interval sums are kept (local and
// global) so that for every window of k = 1..W base intervals the norms of
// Delta_{i-k+1} +
// ... + Delta_i are exact, in one fused pass per interval.
//
// Parameters of a unit must be contiguous in registration order (true for
// every model of train/models); units' flat segments are all-reduced and
// normed separately, so frozen units cost nothing.
#ifndef FREEZING_TRAIN_GRAD_STATS_H_
#define FREEZING_TRAIN_GRAD_STATS_H_

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <memory>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "comm/communicator.h"
#include "freeze/stats.h"

namespace freezing::train {

struct StatsLayout {
  std::vector<int64_t> param_numel;  // registration order
  std::vector<int> param_unit;       // unit of each parameter
  int num_units = 0;
};

// The part of the statistics state a checkpoint needs to continue exactly.
struct StatsState {
  int head = 0;
  int64_t intervals_done = 0;
  std::vector<at::Tensor> local;   // W flat buffers, ring order
  std::vector<at::Tensor> global;  // W flat buffers, ring order
  // Ring of per-interval scalars, [slot][unit] / [slot].
  std::vector<std::vector<int64_t>> trained_steps;
  std::vector<int64_t> samples;
  std::vector<double> loss_sum;
};

// AccumulateGradient: acc[0, numel) = 0 + grad when `first`, else
// acc += grad, with acc in the parameter's logical order whatever grad's
// memory format: what GradientStatistics::AccumulateLocal does with every
// local gradient (also for the start-up profile's measurement of each
// memory format's step, profiler.h).
void AccumulateGradient(float* acc, const at::Tensor& grad, bool first);

class GradientStatistics {
 public:
  // `comm` is used collectively by FinishInterval; it must outlive this.
  static absl::StatusOr<std::unique_ptr<GradientStatistics>> Create(
      const StatsLayout& layout, int window, comm::Communicator* comm);

  // Adds parameter `param`'s local gradient of this step. Called from the
  // backward pass (the reducer's observer), for trainable parameters only.
  void AccumulateLocal(int param, const at::Tensor& local_grad);

  // After each step: this rank's sample count and summed loss, and which
  // units were trained in the step.
  void EndStep(int64_t samples, double loss_sum,
               const std::vector<bool>& unit_trained);

  // Collective. Closes the current base interval and returns its statistics
  // (global and every rank's, identical on all ranks).
  absl::StatusOr<freeze::BaseIntervalStats> FinishInterval(int64_t index,
                                                           int64_t first_step,
                                                           int64_t last_step,
                                                           int epoch,
                                                           double progress);

  // Time spent in AccumulateLocal since the last call (then reset).
  int64_t TakeAccumulateNs();

  // IntervalCost: where the last FinishInterval spent its time.
  struct IntervalCost {
    int64_t zero_ns = 0;        // segments of parameters without a gradient
    int64_t all_reduce_ns = 0;  // copy of the local sums and all-reduce
    int64_t norms_ns = 0;       // the fused window-norm pass, bookkeeping
    int64_t gather_ns = 0;      // every rank's statistics (all-gather)
  };
  const IntervalCost& last_interval_cost() const { return interval_cost_; }

  int window() const { return window_; }
  int64_t total_numel() const { return total_numel_; }

  StatsState SaveState() const;
  absl::Status LoadState(const StatsState& state);

 private:
  GradientStatistics() = default;

  // FinishInterval's parts. SumOverRanks: the global sums of the units
  // trained in this interval (collective, more than one rank).
  absl::Status SumOverRanks();
  // WindowStats: this rank's statistics of the windows of up to `k` base
  // intervals ending now; fills `global` (per unit).
  freeze::RankWindowStats WindowStats(
      int k, std::vector<freeze::WindowNorms>& global) const;
  // GatherRanks: every rank's statistics (collective).
  absl::StatusOr<std::vector<freeze::RankWindowStats>> GatherRanks(
      const freeze::RankWindowStats& mine, int k) const;
  void StartNextInterval();
  // ZeroUntouched: see AccumulateLocal's first gradient.
  void ZeroUntouched();

  int window_ = 1;
  int num_units_ = 0;
  int64_t total_numel_ = 0;
  comm::Communicator* comm_ = nullptr;
  std::vector<int64_t> param_offset_;
  std::vector<int64_t> param_numel_;
  std::vector<int64_t> unit_begin_;
  std::vector<int64_t> unit_end_;
  int head_ = 0;
  int64_t intervals_done_ = 0;
  std::vector<at::Tensor> local_;
  std::vector<at::Tensor> global_;
  std::vector<std::vector<int64_t>> trained_steps_;
  std::vector<int64_t> samples_;
  std::vector<double> loss_sum_;
  int64_t accumulate_ns_ = 0;
  // Per parameter: accumulated in the current interval (its segment of the
  // head slot holds this interval's sum).
  std::vector<char> touched_;
  // Per slot and parameter: the segment may hold non-zero data.
  std::vector<std::vector<char>> dirty_;
  IntervalCost interval_cost_;
};

}  // namespace freezing::train

#endif  // FREEZING_TRAIN_GRAD_STATS_H_
