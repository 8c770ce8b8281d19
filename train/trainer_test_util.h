// Runs of the trainer on ranks that are threads (FakeCommunicator), shared by
// trainer_test and trainer_cache_test.
#ifndef FREEZING_TRAIN_TRAINER_TEST_UTIL_H_
#define FREEZING_TRAIN_TRAINER_TEST_UTIL_H_

#include <ATen/core/Tensor.h>

#include <string>
#include <vector>

#include "train/summary.h"
#include "train/train_config.h"

namespace freezing::train::testing {

// TempDir: `name` under the test's TEST_TMPDIR.
std::string TempDir(const std::string& name);

// Rank 0's parameters (copies) and summary at the end of a run.
struct RunResult {
  std::vector<at::Tensor> params;
  RunSummary summary;
};

// TrainOnFakeRanks: creates and runs a Trainer for `config` on config.ranks
// fake ranks (quiet, hostname "test"); every rank's status is EXPECTed OK.
RunResult TrainOnFakeRanks(const TrainConfig& config);

}  // namespace freezing::train::testing

#endif  // FREEZING_TRAIN_TRAINER_TEST_UTIL_H_
