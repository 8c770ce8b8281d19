#include "train/trainer_test_util.h"

#include <ATen/ATen.h>

#include <cstdlib>

#include "comm/fake_communicator.h"
#include "gtest/gtest.h"
#include "train/trainer.h"

namespace freezing::train::testing {

std::string TempDir(const std::string& name) {
  return std::string(std::getenv("TEST_TMPDIR")) + "/" + name;
}

RunResult TrainOnFakeRanks(const TrainConfig& config) {
  RunResult result;
  RunEnvironment env;
  env.quiet = true;
  env.hostname = "test";
  std::vector<absl::Status> st = comm::RunOnFakeRanks(
      config.ranks, [&](comm::Communicator& comm) -> absl::Status {
        auto trainer = Trainer::Create(config, comm, env);
        if (!trainer.ok()) return trainer.status();
        auto summary = (*trainer)->Run();
        if (!summary.ok()) return summary.status();
        if (comm.rank() == 0) {
          for (const at::Tensor& p : (*trainer)->parameters()) {
            result.params.push_back(p.detach().clone());
          }
          result.summary = *summary;
        }
        return absl::OkStatus();
      });
  for (const absl::Status& s : st) EXPECT_TRUE(s.ok()) << s;
  return result;
}

}  // namespace freezing::train::testing
