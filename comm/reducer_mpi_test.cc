// GradientReducer over real MPI ranks (run under mpiexec by :mpi_test_main).
#include <string>

#include "comm/mpi_test_main.h"
#include "comm/progress_mode.h"
#include "comm/reducer_test_util.h"
#include "gtest/gtest.h"

namespace freezing::comm {
namespace {

using ::freezing::comm::testing::World;

class ReducerMpiTest : public ::testing::TestWithParam<ProgressMode> {};

TEST_P(ReducerMpiTest, AveragesOverSeveralBuckets) {
  testing::CheckAveraging(World(), GetParam());
}

TEST_P(ReducerMpiTest, FrozenBytesNeverTravel) {
  testing::CheckFrozenBytesNeverTravel(World(), GetParam());
}

TEST_P(ReducerMpiTest, MissingAndKeptGradients) {
  testing::CheckMissingAndKeptGradients(World(), GetParam());
}

INSTANTIATE_TEST_SUITE_P(
    Modes, ReducerMpiTest,
    ::testing::Values(ProgressMode::kHooks, ProgressMode::kThread,
                      ProgressMode::kSync, ProgressMode::kAuto),
    [](const auto& info) { return std::string(ProgressModeName(info.param)); });

TEST(ReducerMpiPlanTest, MismatchAcrossRanksFailsInsteadOfHanging) {
  testing::CheckPlanMismatchFails(World());
}

TEST(ReducerMpiBroadcastTest, CopiesRootsTensors) {
  testing::CheckBroadcastTensors(World());
}

}  // namespace
}  // namespace freezing::comm
