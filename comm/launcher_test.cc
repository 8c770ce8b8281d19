#include "comm/launcher.h"

#include <stdlib.h>

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "comm/cluster_spec.h"
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
          "MPI_LOCALNRANKS", "FREEZING_MPIEXEC", kRelaunchedEnv,
          kMachineRanksEnv, "HYDRA_HOST_FILE", kClusterEnv}) {
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

// What the placement reads of a cluster: its name, bridge and hosts.
ClusterSpec TwoHosts() {
  ClusterSpec spec;
  spec.name = "h";
  spec.bridge = "br-h";
  for (const char* host : {"h1", "h2"}) spec.hosts.push_back({host});
  return spec;
}

TEST_F(LauncherTest, ClusterRanksGoToTheHostsInTurn) {
  // Three ranks on two hosts: Hydra gives rank r host r mod 2.
  const MpiexecPlacement p = ClusterPlacement(TwoHosts(), "/run/fc", 3, "");
  EXPECT_THAT(
      MpiexecCommand("/usr/bin/mpiexec", 3, "/x/bin",
                     {"--ranks=3", "--cluster"}, p),
      ElementsAre("/usr/bin/mpiexec", "-iface", "br-h", "-launcher", "ssh",
                  "-launcher-exec", "/run/fc/h/launch", "-hosts", "h1,h2",
                  "-genv", "UCX_TLS", "tcp,self", "-genv", kMachineRanksEnv,
                  "3", "-n", "3", "/x/bin", "--ranks=3", "--cluster"));
}

TEST_F(LauncherTest, FewerRanksThanHostsUseTheFirstHosts) {
  EXPECT_THAT(ClusterPlacement(TwoHosts(), "/r", 1, nullptr).hosts,
              ElementsAre("h1"));
  EXPECT_THAT(ClusterPlacement(TwoHosts(), "/r", 2, nullptr).hosts,
              ElementsAre("h1", "h2"));
}

TEST_F(LauncherTest, ClusterKeepsTheUsersUcxTls) {
  const MpiexecPlacement p = ClusterPlacement(TwoHosts(), "/r", 2, "tcp");
  ASSERT_EQ(p.env.size(), 1u);
  EXPECT_EQ(p.env[0].first, kMachineRanksEnv);
}

TEST_F(LauncherTest, NoPlacementIsThisHost) {
  EXPECT_THAT(MpiexecCommand("m", 2, "e", {}, MpiexecPlacement()),
              ElementsAre("m", "-n", "2", "e"));
}

TEST_F(LauncherTest, ClusterThatIsNotUpNamesTheUpCommand) {
  setenv(kClusterEnv, "nosuchz", 1);
  LaunchOptions options;
  options.ranks = 2;
  options.cluster = true;
  const absl::Status s = RelaunchUnderMpiexec(options, 2, argv_);
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition) << s;
  EXPECT_THAT(std::string(s.message()),
              HasSubstr("FREEZING_CLUSTER=nosuchz bazel run //comm:cluster -- "
                        "up --hosts=2 --rate=1gbit"));
  // Even for one rank: --cluster puts it on the first host.
  options.ranks = 1;
  EXPECT_EQ(RelaunchUnderMpiexec(options, 2, argv_).code(),
            absl::StatusCode::kFailedPrecondition);
}

TEST_F(LauncherTest, ClusterAndHostFileConflict) {
  setenv("HYDRA_HOST_FILE", "/tmp/hosts", 1);
  LaunchOptions options;
  options.ranks = 2;
  options.cluster = true;
  const absl::Status s = RelaunchUnderMpiexec(options, 2, argv_);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << s;
  EXPECT_THAT(std::string(s.message()), HasSubstr("HYDRA_HOST_FILE"));
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
  // On an emulated cluster all 8 share this machine's cores.
  setenv(kMachineRanksEnv, "8", 1);
  EXPECT_EQ(RanksOnThisHost(8), 2);
  EXPECT_EQ(DefaultThreadsPerRank(8), std::max(1, cores / 8));
}

}  // namespace
}  // namespace freezing::comm
