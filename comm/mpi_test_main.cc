#include "comm/mpi_test_main.h"

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>

#include "absl/strings/numbers.h"
#include "comm/launcher.h"
#include "comm/mpi_session.h"
#include "gtest/gtest.h"

namespace freezing::comm::testing {
namespace {

MpiSession* g_session = nullptr;

// Prints only failures, each line prefixed with the rank, for ranks > 0.
class RankFailurePrinter : public ::testing::EmptyTestEventListener {
 public:
  explicit RankFailurePrinter(int rank) : rank_(rank) {}
  // (UnitTest::current_test_info() would deadlock inside OnTestPartResult:
  // gtest holds its own mutex there.)
  void OnTestStart(const ::testing::TestInfo& info) override {
    test_ = std::string(info.test_suite_name()) + "." + info.name();
  }
  void OnTestPartResult(const ::testing::TestPartResult& result) override {
    if (!result.failed()) return;
    std::fprintf(stderr, "[rank %d] %s: %s:%d: Failure\n%s\n", rank_,
                 test_.c_str(),
                 result.file_name() != nullptr ? result.file_name() : "?",
                 result.line_number(), result.message());
    std::fflush(stderr);
  }

 private:
  int rank_;
  std::string test_;
};

int RanksFromEnv() {
  int ranks = 2;
  const char* v = std::getenv("FREEZING_TEST_RANKS");
  if (v != nullptr && *v != '\0' && !absl::SimpleAtoi(v, &ranks)) ranks = 2;
  return ranks;
}

}  // namespace

MpiSession& Session() { return *g_session; }

}  // namespace freezing::comm::testing

int main(int argc, char** argv) {
  using freezing::comm::MpiSession;
  namespace t = freezing::comm::testing;
  if (!freezing::comm::UnderMpiexec()) {
    // Bound the whole job below Bazel's own timeout: mpiexec kills every
    // rank, so a hang fails the test and leaves nothing behind.
    int timeout = 0;
    const char* bazel_timeout = std::getenv("TEST_TIMEOUT");
    if (std::getenv("MPIEXEC_TIMEOUT") == nullptr && bazel_timeout &&
        absl::SimpleAtoi(bazel_timeout, &timeout) && timeout > 20) {
      setenv("MPIEXEC_TIMEOUT", std::to_string(timeout - 10).c_str(), 1);
    }
    const absl::Status relaunch =
        freezing::comm::RelaunchUnderMpiexec(t::RanksFromEnv(), argc, argv);
    if (!relaunch.ok()) {
      std::fprintf(stderr, "FAILED: cannot start the MPI test job: %s\n",
                   relaunch.ToString().c_str());
      return 1;
    }
  }
  absl::StatusOr<std::unique_ptr<MpiSession>> session =
      MpiSession::Init(freezing::comm::ThreadLevel::kMultiple);
  if (!session.ok()) MpiSession::AbortJob(session.status());
  t::g_session = session->get();
  const int rank = (*session)->rank();
  if (rank != 0) {
    // One XML report and one premature-exit marker per test, from rank 0.
    unsetenv("XML_OUTPUT_FILE");
    unsetenv("TEST_PREMATURE_EXIT_FILE");
  }
  ::testing::InitGoogleTest(&argc, argv);
  if (rank != 0) {
    ::testing::TestEventListeners& listeners =
        ::testing::UnitTest::GetInstance()->listeners();
    delete listeners.Release(listeners.default_result_printer());
    listeners.Append(new t::RankFailurePrinter(rank));
  }
  int64_t failed = RUN_ALL_TESTS() != 0 ? 1 : 0;
  int64_t failed_ranks = failed;
  const absl::Status sum = (*session)->world().AllReduceSum(
      &failed_ranks, 1, freezing::comm::DType::kInt64);
  if (!sum.ok()) MpiSession::AbortJob(sum);
  if (rank == 0 && failed_ranks > 0) {
    std::fprintf(stderr, "%lld of %d ranks had failures\n",
                 static_cast<long long>(failed_ranks), (*session)->size());
  }
  t::g_session = nullptr;
  if (!(*session)->Finalize().ok()) return 1;
  return failed_ranks > 0 ? 1 : 0;
}
