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

}  // namespace freezing::train

#endif  // FREEZING_TRAIN_CHECKPOINT_H_
