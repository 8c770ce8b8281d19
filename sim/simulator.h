// SimulateTiming: the discrete-event model of one data-parallel step after
// another, for a freeze schedule on a recorded trace, a network model and a
// world size.
//
// Per step (rank 0's view, as the trainer reports it):
//   data      the recorded step's;
//   forward   the loss's recorded part plus each unit's forward in its state
//             (CostModel::Cost); with the cache, the frozen prefix's
//             forward is replaced by the cache's reads and writes
//             (cache_model.h);
//   backward  from the last unit down to the first trainable one, each in
//             its state; the first trainable unit computes no input
//             gradient; a unit's parameters' gradients are ready when its
//             backward ends; the local-gradient accumulation for the
//             statistics runs inside it and is reported under stats;
//   comm      DDP buckets planned from the trainable parameters with
//             comm::BucketPlan and the run's caps; a gradient is ready when
//             its unit's backward has progressed past it (gradients in
//             reverse registration order, spread over the unit's backward in
//             proportion to their elements); each bucket's all-reduce starts
//             when its last gradient is ready and the channel is free (one
//             channel, launch order) and progresses at the network's overlap
//             rate while backward runs, at full speed after; exposed = what
//             is left of it when backward ends; with the `recorded`
//             network, with what the recorded step waited beyond this
//             model of its own configuration (its measured exposed
//             communication minus the modelled one, signed: ranks that
//             arrive late, a loaded machine, or a model slower than the
//             run), per byte of gradient it all-reduced, times the replayed
//             step's gradient bytes (WithRecordedWait, rank_skew.h): such
//             waits carry over to the replayed configuration instead of
//             being lost, and shrink with what is left to all-reduce (a
//             step with everything frozen waits nothing; sim/README.md);
//             steps that carry predictions instead of measurements (from
//             CostModel::measured_steps() on) wait the measured steps'
//             rate (their waits over their bytes);
//   optimizer the recorded step's when its trainable set is the same, else
//             the mean over recorded steps with the same set, else the
//             start-up profile's fixed + per-parameter line, calibrated;
//   stats     accumulation (∝ trainable parameters) and, at the end of each
//             base interval, the interval work: the all-reduce of the
//             accumulators of the units trained in it (float32, one per
//             contiguous run of units, on the network model) plus the norms
//             (∝ parameters trained in the window × window length);
//   other     the recorded step's.
// Data, the loss, the optimizer, the accumulation and "other" of a step are
// CostModel::Step's: the recorded step's, or the fit's prediction for steps
// after the measured ones.
// World sizes other than the recorded one keep the per-rank batch and the
// per-rank compute (but with shared_cores, below); only communication
// changes. The steps simulated are
// the schedule's (FreezeSchedule::steps, step_map.h): the recorded ones, or
// at another world size with the same data, fewer or more, each costed as
// the recorded step at the same place in its epoch.
//
// Stragglers and jitter (TimingOptions::skew, rank_skew.h): every rank's
// compute scaled by its factor and noise; the collectives wait for the
// slowest rank.
//
// Cache (TimingOptions::cache): CacheModel (cache_model.h), with the
// profile's cache_read_ns_per_element. Only deterministic inputs can hit (no
// augmentation, or K fixed variants).
//
// Shared cores (TimingOptions::shared_cores, an emulation knob): every rank
// of the replayed world and of the recorded one ran on one machine with C
// cores (comm's emulated cluster), so a rank's compute slows as ranks are
// added. Everything but communication (data, forward, the cache, backward
// and with it when buckets are ready, accumulation, optimizer, interval
// compute, other) is scaled by SharedCoresFactor; all-reduce times and
// recorded waits are not. Off (0) on real hosts, which bring their own cores.
#ifndef FREEZING_SIM_SIMULATOR_H_
#define FREEZING_SIM_SIMULATOR_H_

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "sim/cost_model.h"
#include "sim/network.h"
#include "sim/rank_skew.h"
#include "sim/recorded_run.h"
#include "sim/schedule.h"

namespace freezing::sim {

struct TimingOptions {
  int world_size = 0;  // 0: the recorded world size
  bool cache = false;
  // Fixed augmentation variants per sample to assume for the cache; -1: the
  // recorded run's (0 with augmentation on means nothing can be cached).
  int augment_variants = -1;
  // Keep per-step timelines for the first this many steps (for Chrome).
  int64_t timeline_steps = 0;
  // Sum phases, bytes, cost sources, cache time and waits over the steps
  // from this one on only (every step is still simulated: the cache and
  // the clock evolve from step 0). A held-out validation reports the steps
  // the model never saw this way.
  int64_t report_from_step = 0;
  // Keep every simulated step's total (TimingResult::step_total_ns).
  bool keep_step_totals = false;
  // Ranks that compute at different speeds (rank_skew.h); off by default.
  RankSkewOptions skew;
  // Cores of the one machine every rank runs on (see above); 0: off, each
  // rank on a host of its own.
  int shared_cores = 0;
  // The frozen prefix runs in its inference form (the trainer's
  // --fold_frozen: its units cost their folded forward, ForwardState::kFolded)
  // or plainly under no-grad; unset: as the recorded run did
  // (RecordedRun::fold_frozen). Folded costs come from steps that ran them,
  // else from the start-up profile's forward_folded_ns (traces recorded
  // before folding have none: FailedPrecondition), and the other way round.
  std::optional<bool> fold_frozen;
};

// SharedCoresFactor: how much slower a rank computes in a world of
// `world_size` ranks of `threads_per_rank` threads each on `cores` cores
// than in the recorded world of `recorded_world_size` ranks on them:
// max(1, p·t/C) / max(1, p_rec·t/C). 1 when `cores` <= 0 (off).
double SharedCoresFactor(int world_size, int recorded_world_size,
                         int threads_per_rank, int cores);

// ThreadsPerRank: the recorded run's compute threads per rank (the trace
// header's machine, else its configuration; 1 when neither says).
int ThreadsPerRank(const RecordedRun& run);

// CheckSharedCores: `cores` >= 0; InvalidArgument otherwise.
absl::Status CheckSharedCores(int cores);

// Phase sums, nanoseconds.
struct PhaseTotals {
  int64_t data_ns = 0;
  int64_t forward_ns = 0;
  int64_t backward_ns = 0;
  int64_t comm_exposed_ns = 0;
  int64_t comm_total_ns = 0;  // sum of all-reduce durations (in flight)
  int64_t optimizer_ns = 0;
  int64_t stats_ns = 0;
  int64_t other_ns = 0;
  int64_t total_ns = 0;
};

// One simulated step, offsets in nanoseconds from the step's start.
struct StepTimeline {
  int64_t step = 0;
  int64_t start_ns = 0;  // from the start of training
  int64_t data_ns = 0;
  int64_t forward_ns = 0;
  int64_t backward_ns = 0;  // wall time of the backward pass
  int64_t comm_exposed_ns = 0;
  int64_t optimizer_ns = 0;
  int64_t stats_ns = 0;  // interval work only (accumulation is in backward)
  int64_t other_ns = 0;
  int64_t cache_ns = 0;  // cache reads and writes (inside forward)
  std::vector<int64_t> unit_forward_ns;   // 0: skipped or cached
  std::vector<int64_t> unit_backward_ns;  // 0: not run
  // {bytes, start, done}, start and done from the start of backward.
  std::vector<std::array<int64_t, 3>> buckets;
};

struct TimingResult {
  int world_size = 0;
  std::string network;
  PhaseTotals phases;
  int64_t bytes_allreduced = 0;  // per rank, gradients
  // Unit compute time by where its cost came from (CostSource order).
  std::array<int64_t, 3> cost_by_source = {0, 0, 0};
  // Cache: mean share of samples that hit, over steps with a frozen prefix.
  double cache_hit_share = 0;
  int64_t cache_ns = 0;
  // Recorded waits (signed) applied to the exposed communication
  // (`recorded` only).
  int64_t recorded_wait_ns = 0;
  // Optimizer time from the start-up profile's calibrated line (frozen
  // sets no fitted step had), besides cost_by_source's unit compute.
  int64_t optimizer_line_ns = 0;
  // Steps summed (from report_from_step on).
  int64_t reported_steps = 0;
  // Every simulated step's total, with TimingOptions::keep_step_totals.
  std::vector<int64_t> step_total_ns;
  std::vector<std::string> notes;
  std::vector<StepTimeline> timeline;
};

// SimulateTiming: every step of `schedule` on the run of `costs`, costed by
// it. InvalidArgument for a world size the network cannot describe;
// FailedPrecondition when a unit needs a cost the trace does not have (a
// state never executed and no start-up profile).
absl::StatusOr<TimingResult> SimulateTiming(const CostModel& costs,
                                            const FreezeSchedule& schedule,
                                            const NetworkModel& network,
                                            const TimingOptions& options);

}  // namespace freezing::sim

#endif  // FREEZING_SIM_SIMULATOR_H_
