// WindowNormSums: the fused pass that turns the last k base-interval gradient
// sums of one unit into the sums behind the norms of every window 1..k
// (local L2 and L1, global L2 and L1, <local, global>), over raw float32
// buffers, without libtorch.
//
// The one home of this arithmetic: the trainer (train/grad_stats) and the
// PyTorch recorder (pytorch/'s extension, freezing_torch/grad_stats.py) both
// call it, so on the same float inputs they record the same bits. How:
// window sums in float, newest interval first; per 512-element block float
// partial sums (`omp simd` reductions, built with -fopenmp-simd); per
// 64Ki-element chunk double accumulators; chunks added in chunk order. Chunks
// may run in parallel (ChunkRunner): the result does not depend on how they
// are spread over threads.
#ifndef FREEZING_FREEZE_WINDOW_NORMS_H_
#define FREEZING_FREEZE_WINDOW_NORMS_H_

#include <cstdint>
#include <functional>
#include <vector>

namespace freezing::freeze {

// The longest window (in base intervals) the pass handles.
inline constexpr int kMaxWindowSums = 16;

// Sums over one unit's segment for windows of 1..k intervals (index w:
// window of the newest w + 1 intervals). Squared L2 sums, not norms.
struct WindowSums {
  std::vector<double> local_l2, local_l1, global_l2, global_l1, dot;
};

// ChunkRunner: calls fn(first, last) on ranges that cover chunks [0, chunks)
// exactly once, in any order and on any threads (e.g. at::parallel_for).
using ChunkRunner = std::function<void(
    int64_t chunks, const std::function<void(int64_t first, int64_t last)>&)>;

// WindowNormSums: `local[w]` / `global[w]` point at the interval sums, w = 0
// the newest (at most kMaxWindowSums are used); elements [begin, end) are
// the unit. With `same` (one rank: global = local) `global` is ignored and
// the global sums and dot are the local ones (dot = the squared local L2
// norm). Without `run` the chunks run in order on this thread.
WindowSums WindowNormSums(const std::vector<const float*>& local,
                          const std::vector<const float*>& global,
                          int64_t begin, int64_t end, bool same,
                          const ChunkRunner& run = nullptr);

}  // namespace freezing::freeze

#endif  // FREEZING_FREEZE_WINDOW_NORMS_H_
