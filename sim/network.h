// Network models for the simulator: how long one all-reduce of n bytes (per
// rank) takes over p ranks. Every model is a pure function of (n, p), in
// integer nanoseconds, so a replay is deterministic.
//
// Models (α = latency, β = seconds per byte, p = world size, n = bytes):
//   ring          T = 2(p-1)·α + 2(p-1)/p·n·β  (reduce-scatter + all-gather;
//                 NCCL/MPI's bandwidth-optimal all-reduce)
//   tree          T = 2·⌈log2 p⌉·(α + n·β)  (binary-tree reduce, then
//                 broadcast; whole message per hop, no pipelining)
//   ps            parameter server, p workers and m server shards: push and
//                 pull of n bytes, each shard's link carries p·n/m:
//                 T = 2·α + 2·max(n, p·n/m)·β
//   hier          nodes × G ranks per node: ring reduce-scatter and
//                 all-gather inside the node (intra link), ring all-reduce of
//                 n/G across the N = p/G nodes (inter link):
//                 T = 2(G-1)·α_i + 2(G-1)/G·n·β_i
//                     + 2(N-1)·α_e + 2(N-1)/N·(n/G)·β_e
//   mpich         what MPICH 4.0 runs between hosts (comm/calibration.h,
//                 AllReduceTermsOf): reduce-scatter + all-gather over the
//                 largest power of two p' <= p, two whole-vector steps more
//                 when p > p', recursive doubling for small messages:
//                 T = (2·log2 p' + 2[p>p'])·α + (2(p'-1)/p' + 2[p>p'])·n·β
//                 (at p = 3: 4α + 3nβ, 2.25x the ring's bytes)
//   hosts         hosts whose links differ (a straggler's slow link), one
//                 rate per host in the order ranks are placed on them (in
//                 turn, as comm's --cluster): every step of the algorithm
//                 (mpich, or ring) involves every rank, so β is the slowest
//                 link's among the hosts the p ranks use:
//                 `hosts:gbps=0.94/0.94/0.235,alpha_us=50[,algorithm=ring]`
//   recorded      the recorded run's own all-reduce measurements (the
//                 start-up profile's medians per bucket size), interpolated
//                 in n; other world sizes scale it by the formula of the
//                 algorithm the recorded run's MPI ran (mpich, or ring when
//                 the run pinned one; `recorded:algorithm=ring|mpich`
//                 overrides) with its fitted α, β; plus each recorded step's
//                 waiting beyond the model (ReplaysRecordedWaits)
//   calibration   a `comm:calibrate` file: its algorithm (ring or mpich)
//                 with its α and β; a file with several world sizes uses the
//                 one measured at p, else the nearest (the smaller on a tie)
//                 with its formula at p; of the operations it holds, the
//                 one the recorded run's gradient buckets used (iallreduce
//                 unless comm mode sync)
// T = 0 for p = 1. Every model also has an overlap rate: how fast an
// all-reduce progresses while the backward pass computes, relative to its
// speed on an idle machine (1: the network and its progress engine run
// beside the computation, as with RDMA or a progress thread; less when they
// compete for the cores). Models take it as an optional key `overlap=R`
// (default 1); `recorded` measures it from the run's bucket timings (see
// CostModel). T = 0 for p = 1. Specs: `ring:alpha_us=30,gbps=10`, `tree:...`,
// `ps:servers=2,alpha_us=..,gbps=..`, `hier:ranks_per_node=4,intra_alpha_us=..,
// intra_gbps=..,inter_alpha_us=..,inter_gbps=..`, `recorded`,
// `calibration:FILE`, or a preset name (`NetworkPresets()`); gbps is the
// effective bandwidth in 10^9 bits per second. sim/README.md documents the
// presets' numbers and where they come from.
#ifndef FREEZING_SIM_NETWORK_H_
#define FREEZING_SIM_NETWORK_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace freezing::sim {

class NetworkModel {
 public:
  virtual ~NetworkModel() = default;
  // The canonical spec (every parameter spelled out), e.g.
  // "ring:alpha_us=50,gbps=0.94"; for a preset, "1gbe".
  virtual std::string spec() const = 0;
  // CheckWorldSize: OK when the model can describe `world_size` ranks;
  // InvalidArgument naming what would be valid otherwise.
  virtual absl::Status CheckWorldSize(int world_size) const;
  // AllReduceNs: time of one all-reduce of `bytes` per rank over
  // `world_size` ranks (world_size already checked); 0 for one rank or no
  // bytes.
  virtual int64_t AllReduceNs(int64_t bytes, int world_size) const = 0;
  // Overlap: the rate, in [0, 1], at which an all-reduce progresses while
  // the backward pass runs (1 after it).
  virtual double Overlap() const { return 1.0; }
  // ReplaysRecordedWaits: true for `recorded`, whose exposed communication
  // also holds, per step, what the recorded run waited beyond the model
  // (signed: other ranks arriving late, a loaded machine, or a model slower
  // than the run); see simulator.h.
  virtual bool ReplaysRecordedWaits() const { return false; }
};

// One measured all-reduce (bytes per rank, median nanoseconds).
struct AllReduceSample {
  int64_t bytes = 0;
  int64_t ns = 0;
};

// What a spec may refer to besides its own text.
struct NetworkContext {
  // The recorded run's all-reduce measurements and world size (for
  // `recorded`); empty / 1 when the trace has none.
  std::vector<AllReduceSample> recorded;
  int recorded_world_size = 1;
  // The overlap rate measured from the recorded run's bucket timings.
  double recorded_overlap = 1.0;
  // The recorded run's all-reduce algorithm ("mpich": the library's own
  // choice; "ring": pinned) and whether its gradient buckets were
  // non-blocking all-reduces (every comm mode but sync).
  std::string recorded_algorithm = "mpich";
  bool nonblocking_buckets = true;
};

// A preset: a name and the spec it stands for, with where its numbers come
// from.
struct NetworkPreset {
  std::string name;
  std::string spec;
  std::string description;
};
const std::vector<NetworkPreset>& NetworkPresets();

// The model names and presets, for help texts and errors.
std::string NetworkSpecHelp();

// MakeNetworkModel: parses `spec`. InvalidArgument names the bad part and
// lists the valid models, keys or presets; `recorded` on a trace without
// measurements, or a calibration file that cannot be read, say so.
absl::StatusOr<std::unique_ptr<NetworkModel>> MakeNetworkModel(
    absl::string_view spec, const NetworkContext& context);

// RingNs: 2(p-1)·alpha + 2(p-1)/p·n·beta, rounded to nanoseconds.
int64_t RingNs(double alpha_s, double beta_s_per_byte, int64_t bytes,
               int world_size);

// SetRecordedAlgorithm: fills the context's recorded_algorithm and
// nonblocking_buckets from the recorded run's RunConfig fields
// allreduce_algorithm ("ring" pinned; "auto" or "" MPICH's choice) and
// comm_mode.
void SetRecordedAlgorithm(const std::string& allreduce_algorithm,
                          const std::string& comm_mode,
                          NetworkContext& context);

}  // namespace freezing::sim

#endif  // FREEZING_SIM_NETWORK_H_
