// Checkpoints of a training run, written at the end of every epoch and of the
// run, atomically, under OUT/checkpoint/:
//   model-e<E>.pt          the model (rank 0; the project's weights format,
//                          so --init accepts it directly)
//   state-e<E>-rank<R>.pt  each rank's own state: optimizer momentum, frozen
//                          set, freezing policy state, gradient statistics
//                          accumulators, position, the summary so far
//   CHECKPOINT             written last by rank 0, after every rank's files
//                          are in place: the commit point. Names the epoch,
//                          the files and the run's resume fingerprint.
// A crash at any moment leaves the previous CHECKPOINT and its files intact.
//
// Resuming on another number of ranks (R -> R'; not bit-exact, see
// train/README.md): the model, the optimizer's momentum (identical on
// every rank in data parallelism: every rank applies the same averaged
// gradient to the same parameters), the frozen set and the step are every
// rank's alike. What is per rank is carried over as follows: rank r < R
// continues from its own state file, a new rank r >= R from rank r mod R's
// (its statistics windows and, under a vote rule, its policy instance:
// the closest history there is; its own gradients replace it within one
// statistics window). The global (averaged) statistics windows are kept
// (rescaled: the buffers hold sums over ranks). The base interval under way
// at the checkpoint (an epoch end that is not an interval boundary) starts
// again empty on every rank: its statistics cover the steps after the
// resume only. The data is re-sharded for R' ranks by the trainer.
#ifndef FREEZING_TRAIN_CHECKPOINT_H_
#define FREEZING_TRAIN_CHECKPOINT_H_

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "train/grad_stats.h"
#include "train/summary.h"

namespace freezing::train {

// One rank's state besides the model.
struct RankState {
  int epochs_done = 0;      // epochs completed
  int64_t global_step = 0;  // next step to run
  std::vector<bool> frozen;
  std::string freezer_state;
  std::vector<at::Tensor> momentum;  // per parameter; undefined if none yet
  StatsState stats;
  RunSummary summary;  // accumulated so far
};

struct CheckpointInfo {
  int epochs_done = 0;
  int64_t global_step = 0;
  int ranks = 1;
  std::string model_file;  // relative to the checkpoint folder
  std::string fingerprint;
};

// Writes this rank's state file (all ranks) for `epochs_done`. Atomic.
absl::Status WriteRankState(const std::string& folder, int rank,
                            const RankState& state);
absl::StatusOr<RankState> ReadRankState(const std::string& folder, int rank,
                                        int epochs_done);

// Rank 0, after every rank's files exist: commits the checkpoint and removes
// the files of older checkpoints.
absl::Status CommitCheckpoint(const std::string& folder,
                              const CheckpointInfo& info);
// NotFound when there is no committed checkpoint in `folder`.
absl::StatusOr<CheckpointInfo> ReadCheckpointInfo(const std::string& folder);

std::string ModelFileName(int epochs_done);

// SourceRank: the rank whose state file rank `rank` of a run resumed on
// another number of ranks continues (above): `rank` mod `checkpoint_ranks`.
int SourceRank(int rank, int checkpoint_ranks);

// StatsForOtherWorldSize: `state` (rank SourceRank's statistics) for a run
// of `ranks` ranks that resumes a checkpoint of `checkpoint_ranks` ranks
// (above): global windows rescaled to sums over `ranks` (made from the
// local ones when the checkpoint had one rank, dropped for one rank now),
// the interval under way emptied.
StatsState StatsForOtherWorldSize(StatsState state, int checkpoint_ranks,
                                  int ranks);

}  // namespace freezing::train

#endif  // FREEZING_TRAIN_CHECKPOINT_H_
