// Ranks that compute at different speeds (TimingOptions::skew): stragglers
// (`--straggler=RANK:FACTOR`: that rank's compute takes FACTOR times as
// long) and jitter (`--jitter=FRACTION`: every rank's compute in every step
// is multiplied by 1 + FRACTION·z, z a standard normal drawn from a hash of
// the seed, the rank and the step; at least 0.05). The simulator then waits
// for the slowest rank at each collective, as a real data-parallel run
// does:
//
//   Every rank keeps its own clock. Rank r starts a step `lag(r)` after rank
//   0 (what it still had to do of the previous step), runs data and forward,
//   then backward, scaled by its multiplier m(r). A gradient bucket's
//   all-reduce can start when every rank has its gradients (the latest
//   rank's ready time) and the channel is free; it progresses at the
//   network's overlap rate until the last rank's backward ends, at full
//   speed after. Each rank waits for the last all-reduce (and, on the
//   `recorded` network, the step's recorded wait), runs its optimizer and
//   its share of the statistics; a step that ends a base interval
//   all-reduces the accumulators, a collective again: every rank waits for
//   the slowest. Then "other", and the next step starts on each rank's own
//   clock.
//
// Reported, as the trainer reports it: rank 0's phases, with its waiting in
// comm_exposed (gradients) and stats (the interval's all-reduce). Without
// jitter, ranks without a factor are one group (cost O(stragglers) per
// step); with jitter every rank is simulated (O(world size · buckets)).
// Deterministic: the draws depend only on (seed, rank, step).
#ifndef FREEZING_SIM_RANK_SKEW_H_
#define FREEZING_SIM_RANK_SKEW_H_

#include <algorithm>
#include <array>
#include <cstdint>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace freezing::sim {

struct Straggler {
  int rank = 0;
  double factor = 1;
};

struct RankSkewOptions {
  std::vector<Straggler> stragglers;
  double jitter = 0;  // standard deviation of the relative noise
  uint64_t seed = 1;
  bool enabled() const { return !stragglers.empty() || jitter > 0; }
};

// ParseStragglers: "RANK:FACTOR[,RANK:FACTOR...]" (ranks distinct, from 0;
// factors finite and > 0); "" is none. InvalidArgument naming the form.
absl::StatusOr<std::vector<Straggler>> ParseStragglers(absl::string_view text);
// CheckRankSkew: every straggler rank inside `world_size` ranks, jitter
// finite and >= 0; InvalidArgument naming the valid values.
absl::Status CheckRankSkew(const RankSkewOptions& options, int world_size);

// AllReduceChannel: one channel, buckets in launch order; bucket b starts at
// max(ready[b], when the previous is done) and needs work[b] of idle time,
// progressing at `overlap` until `backward_end`, at full speed after.
// Returns when the last is done (0 without buckets); `out`, when given,
// gets {bytes[b], start, done} of each bucket with work.
int64_t AllReduceChannel(const std::vector<int64_t>& ready,
                         const std::vector<int64_t>& work,
                         const std::vector<int64_t>& bytes,
                         int64_t backward_end, double overlap,
                         std::vector<std::array<int64_t, 3>>* out);

// WithRecordedWait: the exposed communication `exposed_ns` the model left
// after backward, with the recorded step's wait (`recorded` network,
// simulator.h): a positive wait (ranks that arrived late, a loaded machine)
// is added; a negative one (the model's all-reduces slower than the
// recorded step's) shortens it, down to 0.
inline int64_t WithRecordedWait(int64_t exposed_ns, int64_t wait_ns) {
  return wait_ns >= 0 ? exposed_ns + wait_ns
                      : std::max<int64_t>(0, exposed_ns + wait_ns);
}

// One step's work on an unskewed rank (rank 0 as the cost model sees it).
struct StepWork {
  int64_t data_ns = 0;
  int64_t forward_ns = 0;   // with the cache's reads and writes
  int64_t backward_ns = 0;  // wall time, accumulation included
  int64_t optimizer_ns = 0;
  int64_t interval_compute_ns = 0;  // statistics at an interval's end
  int64_t interval_comm_ns = 0;     // the accumulators' all-reduce
  bool interval_end = false;
  int64_t other_ns = 0;
  int64_t wait_ns = 0;  // the recorded wait (`recorded` network)
  double overlap = 1;
  // Per bucket: ready time from the start of backward, all-reduce time,
  // bytes.
  std::vector<int64_t> bucket_ready_ns;
  std::vector<int64_t> bucket_ns;
  std::vector<int64_t> bucket_bytes;
};

// Rank 0's view of one skewed step.
struct SkewedStep {
  int64_t data_ns = 0;
  int64_t forward_ns = 0;
  int64_t backward_ns = 0;
  int64_t exposed_ns = 0;
  int64_t optimizer_ns = 0;
  int64_t interval_ns = 0;  // statistics compute, waiting and all-reduce
  int64_t other_ns = 0;
  int64_t total_ns = 0;
  double rank0_multiplier = 1;  // rank 0's compute multiplier this step
  // {bytes, start, done} from the start of rank 0's backward.
  std::vector<std::array<int64_t, 3>> buckets;
};

class RankSkew {
 public:
  // `options` checked with CheckRankSkew.
  RankSkew(const RankSkewOptions& options, int world_size);
  // Step: step `step`'s work, skewed; steps come in order (the lags carry
  // over).
  SkewedStep Step(int64_t step, const StepWork& work);

 private:
  double Multiplier(size_t group, int64_t step) const;

  RankSkewOptions options_;
  // Groups of ranks that run alike: a rank, or (without jitter) every rank
  // without a factor; their factor, and their lag behind rank 0's start.
  std::vector<int> rank_of_group_;
  std::vector<double> factor_;
  std::vector<int64_t> lag_;
  size_t rank0_group_ = 0;
};

}  // namespace freezing::sim

#endif  // FREEZING_SIM_RANK_SKEW_H_
