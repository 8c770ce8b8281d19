#include "comm/launcher.h"

#include <stdlib.h>

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace freezing::comm {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

class LauncherTest : public ::testing::Test {
 protected:
  void SetUp() override {
    // A plain test process is no MPI rank.
    for (const char* v :
         {"PMI_RANK", "PMI_FD", "PMI_SIZE", "PMIX_RANK", "OMPI_COMM_WORLD_SIZE",
          "MPI_LOCALNRANKS", "FREEZING_MPIEXEC", kRelaunchedEnv}) {
      unsetenv(v);
    }
  }
  char arg0_[8] = "prog";
  char arg1_[16] = "--ranks=2";
  char* argv_[3] = {arg0_, arg1_, nullptr};
};

TEST_F(LauncherTest, MpiexecCommandKeepsArguments) {
  EXPECT_THAT(MpiexecCommand("/usr/bin/mpiexec", 3, "/x/bin",
                             {"--ranks=3", "--out=a b"}),
              ElementsAre("/usr/bin/mpiexec", "-n", "3", "/x/bin", "--ranks=3",
                          "--out=a b"));
}

TEST_F(LauncherTest, FindsMpiexecOnPath) {
  absl::StatusOr<std::string> m = FindMpiexec("/nonexistent:/usr/bin");
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_EQ(*m, "/usr/bin/mpiexec");
}

TEST_F(LauncherTest, MissingMpiexecNamesThePackage) {
  absl::StatusOr<std::string> m = FindMpiexec("/nonexistent");
  EXPECT_EQ(m.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(m.status().message()),
              HasSubstr("apt-get install mpich"));
}

TEST_F(LauncherTest, RelaunchWithoutMpiexecFailsInsteadOfRunningAlone) {
  const std::string path = getenv("PATH") != nullptr ? getenv("PATH") : "";
  setenv("PATH", "/nonexistent", 1);
  const absl::Status s = RelaunchUnderMpiexec(2, 2, argv_);
  setenv("PATH", path.c_str(), 1);
  EXPECT_EQ(s.code(), absl::StatusCode::kNotFound) << s;
  EXPECT_THAT(std::string(s.message()), HasSubstr("mpich"));
}

TEST_F(LauncherTest, ForcedMpiexecMustExist) {
  setenv("FREEZING_MPIEXEC", "/nonexistent/mpiexec", 1);
  EXPECT_EQ(FindMpiexec("/usr/bin").status().code(),
            absl::StatusCode::kNotFound);
}

TEST_F(LauncherTest, OneRankRunsAsIs) {
  EXPECT_TRUE(RelaunchUnderMpiexec(1, 2, argv_).ok());
  EXPECT_FALSE(UnderMpiexec());
}

TEST_F(LauncherTest, RejectsZeroRanks) {
  EXPECT_EQ(RelaunchUnderMpiexec(0, 2, argv_).code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_F(LauncherTest, GuardsAgainstRelaunchLoop) {
  setenv(kRelaunchedEnv, "1", 1);
  const absl::Status s = RelaunchUnderMpiexec(2, 2, argv_);
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition) << s;
  EXPECT_THAT(std::string(s.message()), HasSubstr("not an MPI rank"));
}

TEST_F(LauncherTest, UnderMpiexecGoesOnAndChecksRankCount) {
  setenv("PMI_RANK", "0", 1);
  setenv("PMI_SIZE", "2", 1);
  EXPECT_TRUE(UnderMpiexec());
  EXPECT_TRUE(RelaunchUnderMpiexec(2, 2, argv_).ok());
  // The default --ranks=1 under a user's own mpiexec is fine.
  EXPECT_TRUE(RelaunchUnderMpiexec(1, 2, argv_).ok());
  const absl::Status s = RelaunchUnderMpiexec(4, 2, argv_);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << s;
  EXPECT_THAT(std::string(s.message()), HasSubstr("mpiexec started 2"));
}

TEST_F(LauncherTest, ThreadsPerRankSplitsCoresAmongLocalRanks) {
  const int cores = CoresAvailable();
  EXPECT_GE(cores, 1);
  EXPECT_EQ(DefaultThreadsPerRank(1), cores);
  EXPECT_EQ(DefaultThreadsPerRank(cores), 1);
  EXPECT_EQ(DefaultThreadsPerRank(4 * cores), 1);
  // Hydra tells each rank how many share its host: that wins over --ranks
  // (8 ranks on 4 hosts, 2 per host).
  setenv("MPI_LOCALNRANKS", "2", 1);
  EXPECT_EQ(RanksOnThisHost(8), 2);
  EXPECT_EQ(DefaultThreadsPerRank(8), std::max(1, cores / 2));
}

}  // namespace
}  // namespace freezing::comm
