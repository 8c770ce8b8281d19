// One failing rank must end the whole job promptly with a non-zero exit, in
// every way a rank can fail, rather than leave the others in a collective.
// Each case starts a real 2-rank job (abort_helper relaunches itself under
// mpiexec) and bounds it: if the job is still running after the deadline
// the test kills it (SIGTERM, then SIGKILL: Hydra takes its ranks down with
// it) and fails, so a regression fails instead of hanging. The deadline only
// guards against a hang (a job that ends never does so in a few seconds on
// an idle machine, but this one is shared): no assertion on how fast.
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace {

using ::testing::HasSubstr;
using Clock = std::chrono::steady_clock;

constexpr auto kDeadline = std::chrono::seconds(40);

struct JobResult {
  bool timed_out = false;
  int exit_code = -1;  // or 128 + signal
  double seconds = 0;
  std::string output;  // stdout and stderr
};

JobResult RunJob(const std::string& mode,
                 const std::vector<std::string>& env = {}) {
  const char* tmp = std::getenv("TEST_TMPDIR");
  const std::string log =
      std::string(tmp != nullptr ? tmp : "/tmp") + "/abort_" + mode + ".log";
  const auto start = Clock::now();
  const pid_t pid = fork();
  if (pid == 0) {
    const int fd = open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    dup2(fd, 1);
    dup2(fd, 2);
    for (const std::string& e : env) putenv(strdup(e.c_str()));
    const std::string mode_arg = "--mode=" + mode;
    execl("comm/abort_helper", "comm/abort_helper", "--ranks=2",
          mode_arg.c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  JobResult result;
  int status = 0;
  while (true) {
    const pid_t done = waitpid(pid, &status, WNOHANG);
    if (done == pid) break;
    if (Clock::now() - start > kDeadline) {
      result.timed_out = true;
      kill(pid, SIGTERM);  // mpiexec cleans up its ranks
      const auto term = Clock::now();
      while (waitpid(pid, &status, WNOHANG) != pid) {
        if (Clock::now() - term > std::chrono::seconds(5)) {
          kill(pid, SIGKILL);
          waitpid(pid, &status, 0);
          break;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
      }
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  result.seconds = std::chrono::duration<double>(Clock::now() - start).count();
  result.exit_code =
      WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  std::ifstream in(log);
  std::stringstream ss;
  ss << in.rdbuf();
  result.output = ss.str();
  return result;
}

TEST(AbortTest, HealthyJobExitsZero) {
  const JobResult r = RunJob("ok");
  ASSERT_FALSE(r.timed_out) << r.output;
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_THAT(r.output, HasSubstr("rank 0: barrier passed"));
  EXPECT_THAT(r.output, HasSubstr("rank 1: barrier passed"));
}

// A rank whose MPI_Finalize never returns (simulated on rank 1) leaves
// after the bound with its message and status 0; the job ends. Rank 0's
// MPI_Finalize waits for rank 1 in MPICH's exit barrier, so rank 0 hangs
// too and its bound fires at about the same moment: whichever rank's
// message Hydra forwards before it tears the other rank down is printed
// (seen: only rank 0's, in a CI run), so the test names neither.
TEST(AbortTest, FinalizeThatHangsIsBounded) {
  const JobResult r = RunJob(
      "ok", {"FREEZING_TEST_FINALIZE_HANG=1", "FREEZING_FINALIZE_TIMEOUT_S=3"});
  ASSERT_FALSE(r.timed_out) << r.output;
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_THAT(r.output, HasSubstr("rank 1: barrier passed"));
  EXPECT_THAT(r.output,
              ::testing::ContainsRegex(
                  "\\[rank [01]/2 on [^]]+\\] warning: MPI_Finalize has not "
                  "returned 3 s"));
}

struct FailCase {
  std::string mode;
  std::string message;  // expected in the output
};

class RankFailureTest : public ::testing::TestWithParam<FailCase> {};

TEST_P(RankFailureTest, EndsWholeJobPromptlyNonZero) {
  const JobResult r = RunJob(GetParam().mode);
  ASSERT_FALSE(r.timed_out)
      << "job still running after " << r.seconds << " s, killed:\n"
      << r.output;
  EXPECT_NE(r.exit_code, 0) << r.output;
  EXPECT_THAT(r.output, HasSubstr(GetParam().message))
      << "exit code " << r.exit_code << " after " << r.seconds << " s";
  EXPECT_THAT(r.output, ::testing::Not(HasSubstr("barrier passed")));
}

INSTANTIATE_TEST_SUITE_P(
    Modes, RankFailureTest,
    ::testing::Values(
        // A library error propagated to main, which calls AbortJob.
        FailCase{"status", "[rank 1/2 on "},
        // An uncaught exception: the terminate handler calls AbortJob.
        FailCase{"exception", "injected exception on rank 1"},
        // An early return from main: the session's destructor aborts
        // (MPI_Finalize there would wait for rank 0 forever).
        FailCase{"exit", "MpiSession destroyed without Finalize()"},
        // Death by a signal: mpiexec (Hydra) takes the job down.
        FailCase{"signal", "Killed"}),
    [](const ::testing::TestParamInfo<FailCase>& info) {
      return info.param.mode;
    });

}  // namespace
