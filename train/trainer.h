// Trainer: a data-parallel fine-tuning run, from data and model to summary.
//
// Every rank runs the same Trainer over its Communicator. Per step: the next
// batch of this rank's shard, forward unit by unit (the frozen prefix under
// no-grad), backward with the bucketed all-reduce overlapping it, the
// optimizer on the trainable parameters. Every `stats_interval` steps the
// gradient statistics of the interval are closed and the freezing policy
// (freeze/Freezer, with votes across ranks) decides; all ranks apply the
// same decision before the next step. After every epoch: evaluation on the
// test set (combined across ranks) and a checkpoint. Rank 0 streams the
// trace (OUT/trace.pb) and writes OUT/summary.json and OUT/config.json.
#ifndef FREEZING_TRAIN_TRAINER_H_
#define FREEZING_TRAIN_TRAINER_H_

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "comm/abort_watchdog.h"
#include "comm/communicator.h"
#include "train/output_folder.h"
#include "train/summary.h"
#include "train/train_config.h"

namespace freezing::train {

// Facts about the process the trainer cannot see for itself.
struct RunEnvironment {
  std::string hostname;
  std::string revision = "unknown";
  int cores = 0;       // 0: ask the system
  bool tty = false;    // progress line that rewrites itself
  bool quiet = false;  // no progress output at all (tests)
  // Told of every step, evaluation batch and checkpoint; ends the rank when
  // they stop coming (a peer cut off). Null: not watched (one rank, tests).
  comm::AbortWatchdog* watchdog = nullptr;
};

class Trainer {
 public:
  // Create: everything of the run is set up; nothing is written yet. A
  // finished run (--resume with the epochs it has) is FailedPrecondition.
  static absl::StatusOr<std::unique_ptr<Trainer>> Create(
      const TrainConfig& config, comm::Communicator& comm,
      const RunEnvironment& env);

  // Preflight: the errors Create would give, found without ranks or MPI and
  // without writing anything (the launcher calls it before mpiexec): the
  // configuration, the output folder's plan (returned), the data (loaded),
  // the model (built, --init loaded), the policy and the vote rule.
  static absl::StatusOr<OutputPlan> Preflight(const TrainConfig& config);
  ~Trainer();

  // The whole run; collective. Returns the summary (identical on all ranks
  // except for per-rank timings).
  absl::StatusOr<RunSummary> Run();

  // The model's parameters (registration order), for tests.
  std::vector<at::Tensor> parameters() const;
  std::vector<std::string> parameter_names() const;

 private:
  struct Impl;
  explicit Trainer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace freezing::train

#endif  // FREEZING_TRAIN_TRAINER_H_
