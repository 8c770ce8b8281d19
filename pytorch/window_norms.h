// WindowNorms: the fused pass that turns the last k base-interval gradient
// sums of one unit into the norms of every window 1..k (local L2, L1, global
// L2, L1, <local, global>), over raw float32 buffers, without libtorch.
//
// The arithmetic of train/grad_stats.cc's WindowNormsSerial and
// FusedWindowNorms, operation for operation: window sums in float, newest
// interval first; per 512-element block float partial sums (the same
// `omp simd` reductions, built with -fopenmp-simd); per 64Ki-element chunk
// double accumulators; chunks added in order. So, on the same float inputs
// and with the same compiler and flags, the numbers are the trainer's bit for
// bit; the PyTorch recorder (freezing_torch/grad_stats.py) calls it through
// the extension. The trainer keeps its own copy (it parallelises the chunks
// with at::parallel_for); moving it here for both would leave one.
#ifndef FREEZING_PYTORCH_WINDOW_NORMS_H_
#define FREEZING_PYTORCH_WINDOW_NORMS_H_

#include <cstdint>
#include <vector>

namespace freezing::pytorch {

// Sums over one unit's segment for windows of 1..k intervals (index w:
// window of the newest w + 1 intervals). Squared L2 sums, not norms.
struct WindowSums {
  std::vector<double> local_l2, local_l1, global_l2, global_l1, dot;
};

// WindowNormSums: `local[w]` / `global[w]` point at the interval sums, w = 0
// the newest; elements [begin, end) are the unit. With `same` (one rank:
// global = local) `global` is ignored and the global sums and dot are the
// local ones (dot = the squared local L2 norm).
WindowSums WindowNormSums(const std::vector<const float*>& local,
                          const std::vector<const float*>& global,
                          int64_t begin, int64_t end, bool same);

}  // namespace freezing::pytorch

#endif  // FREEZING_PYTORCH_WINDOW_NORMS_H_
