// Real multi-rank tests of MpiCommunicator (run under mpiexec by
// :mpi_test_main; every rank runs every test).
#include "comm/mpi_communicator.h"

#include <cstdint>
#include <memory>
#include <numeric>
#include <string>
#include <vector>

#include "comm/communicator.h"
#include "comm/mpi_test_main.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace freezing::comm {
namespace {

using ::freezing::comm::testing::Session;
using ::freezing::comm::testing::World;

TEST(MpiSessionTest, RecordsThreadLevelAndWorld) {
  EXPECT_EQ(Session().requested_thread_level(), ThreadLevel::kMultiple);
  // MPICH 4 (ch4:ucx) provides MPI_THREAD_MULTIPLE.
  EXPECT_EQ(Session().provided_thread_level(), ThreadLevel::kMultiple);
  EXPECT_GE(World().size(), 2);
  EXPECT_EQ(World().rank(), Session().rank());
  EXPECT_EQ(World().thread_level(), Session().provided_thread_level());
  EXPECT_FALSE(Session().processor_name().empty());
}

class AllReduceSizeTest : public ::testing::TestWithParam<int64_t> {};

TEST_P(AllReduceSizeTest, SumsFloatsOfOddSizes) {
  Communicator& c = World();
  const int64_t n = GetParam();
  const int p = c.size();
  std::vector<float> x(n);
  for (int64_t i = 0; i < n; ++i) x[i] = (c.rank() + 1) * 0.5f + (i % 7);
  c.ResetStats();
  ASSERT_TRUE(c.AllReduceSum(x.data(), n, DType::kFloat32).ok());
  const float rank_sum = 0.5f * p * (p + 1) / 2;
  for (int64_t i = 0; i < n; ++i) {
    ASSERT_FLOAT_EQ(x[i], rank_sum + p * (i % 7)) << "element " << i;
  }
  EXPECT_EQ(c.stats().allreduce_calls, 1);
  EXPECT_EQ(c.stats().allreduce_bytes, n * 4);
}

TEST_P(AllReduceSizeTest, NonBlockingSumsInt64AndDouble) {
  Communicator& c = World();
  const int64_t n = GetParam();
  const int p = c.size();
  std::vector<int64_t> a(n, c.rank() + 1);
  std::vector<double> b(n);
  for (int64_t i = 0; i < n; ++i) b[i] = i * 0.25 + c.rank();
  c.ResetStats();
  // Two in flight at once, completed out of start order.
  auto op_a = c.StartAllReduceSum(a.data(), n, DType::kInt64);
  auto op_b = c.StartAllReduceSum(b.data(), n, DType::kFloat64);
  ASSERT_TRUE(op_a.ok()) << op_a.status();
  ASSERT_TRUE(op_b.ok()) << op_b.status();
  ASSERT_TRUE((*op_b)->Wait().ok());
  bool done = false;
  while (!done) {
    absl::StatusOr<bool> t = (*op_a)->Test();
    ASSERT_TRUE(t.ok()) << t.status();
    done = *t;
  }
  for (int64_t i = 0; i < n; ++i) {
    ASSERT_EQ(a[i], int64_t{p} * (p + 1) / 2);
    ASSERT_DOUBLE_EQ(b[i], p * i * 0.25 + p * (p - 1) / 2.0);
  }
  EXPECT_EQ(c.stats().allreduce_calls, 2);
  EXPECT_EQ(c.stats().allreduce_bytes, n * 16);
  EXPECT_GT(c.stats().allreduce_ns, 0);
}

INSTANTIATE_TEST_SUITE_P(Sizes, AllReduceSizeTest,
                         ::testing::Values(1, 3, 1023, 65537,
                                           (int64_t{1} << 20) + 7));

TEST(MpiCommunicatorTest, ZeroCountIsANoOp) {
  Communicator& c = World();
  EXPECT_TRUE(c.AllReduceSum(nullptr, 0, DType::kFloat32).ok());
  EXPECT_TRUE(c.Broadcast(nullptr, 0, DType::kFloat32, 0).ok());
}

TEST(MpiCommunicatorTest, BroadcastFromEveryRoot) {
  Communicator& c = World();
  for (int root = 0; root < c.size(); ++root) {
    std::vector<uint8_t> x(1001, static_cast<uint8_t>(c.rank()));
    if (c.rank() == root) std::iota(x.begin(), x.end(), uint8_t{7});
    ASSERT_TRUE(c.Broadcast(x.data(), x.size(), DType::kUInt8, root).ok());
    for (size_t i = 0; i < x.size(); ++i) {
      ASSERT_EQ(x[i], static_cast<uint8_t>(7 + i)) << "root " << root;
    }
  }
}

TEST(MpiCommunicatorTest, BroadcastRejectsBadRoot) {
  float x = 0;
  absl::Status s = World().Broadcast(&x, 1, DType::kFloat32, World().size());
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << s;
}

TEST(MpiCommunicatorTest, AllGatherPlacesRankR) {
  Communicator& c = World();
  const int64_t n = 3;
  std::vector<double> mine = {c.rank() * 1.0, c.rank() * 2.0, -1.0};
  std::vector<double> all(n * c.size(), 0.0);
  c.ResetStats();
  ASSERT_TRUE(c.AllGather(mine.data(), n, DType::kFloat64, all.data()).ok());
  for (int r = 0; r < c.size(); ++r) {
    EXPECT_EQ(all[r * n + 0], r * 1.0);
    EXPECT_EQ(all[r * n + 1], r * 2.0);
    EXPECT_EQ(all[r * n + 2], -1.0);
  }
  EXPECT_EQ(c.stats().allgather_calls, 1);
  EXPECT_EQ(c.stats().allgather_bytes, n * 8);
}

TEST(MpiCommunicatorTest, AllGatherBytesOfDifferentLengths) {
  Communicator& c = World();
  // Rank 0 sends nothing: empty messages must work too.
  const std::string mine(c.rank() * 3, static_cast<char>('a' + c.rank()));
  absl::StatusOr<std::vector<std::string>> all = c.AllGatherBytes(mine);
  ASSERT_TRUE(all.ok()) << all.status();
  ASSERT_EQ(all->size(), static_cast<size_t>(c.size()));
  for (int r = 0; r < c.size(); ++r) {
    EXPECT_EQ((*all)[r], std::string(r * 3, static_cast<char>('a' + r)));
  }
}

TEST(MpiCommunicatorTest, BarrierIsCounted) {
  Communicator& c = World();
  c.ResetStats();
  ASSERT_TRUE(c.Barrier().ok());
  EXPECT_EQ(c.stats().barrier_calls, 1);
}

TEST(MpiCommunicatorTest, MpiErrorsBecomeStatusesWithContext) {
  // An invalid communicator in a raw call: MPI_ERRORS_RETURN on the world
  // makes it a return code, which MpiError turns into a status.
  const int rc = MPI_Barrier(MPI_COMM_NULL);
  absl::Status s = MpiError(rc, "MPI_Barrier(MPI_COMM_NULL)");
  EXPECT_EQ(s.code(), absl::StatusCode::kInternal);
  EXPECT_THAT(
      std::string(s.message()),
      ::testing::HasSubstr("MPI_Barrier(MPI_COMM_NULL) failed on rank " +
                           std::to_string(World().rank())));
}

}  // namespace
}  // namespace freezing::comm
