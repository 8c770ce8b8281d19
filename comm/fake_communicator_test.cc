#include "comm/fake_communicator.h"

#include <chrono>
#include <cstdint>
#include <memory>
#include <numeric>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace freezing::comm {
namespace {

using ::testing::HasSubstr;

void ExpectAllOk(const std::vector<absl::Status>& statuses) {
  for (size_t r = 0; r < statuses.size(); ++r) {
    EXPECT_TRUE(statuses[r].ok()) << "rank " << r << ": " << statuses[r];
  }
}

absl::Status Expect(bool ok, const std::string& what) {
  return ok ? absl::OkStatus() : absl::InternalError(what);
}

class FakeSizeTest : public ::testing::TestWithParam<int> {};

TEST_P(FakeSizeTest, AllReduceSumsOddSizes) {
  const int p = GetParam();
  ExpectAllOk(RunOnFakeRanks(p, [p](Communicator& c) -> absl::Status {
    for (int64_t n : {int64_t{1}, int64_t{3}, int64_t{1023}, int64_t{65537}}) {
      std::vector<float> x(n);
      for (int64_t i = 0; i < n; ++i) x[i] = c.rank() + 1 + (i % 5);
      if (absl::Status s = c.AllReduceSum(x.data(), n, DType::kFloat32);
          !s.ok()) {
        return s;
      }
      for (int64_t i = 0; i < n; ++i) {
        const float want = p * (p + 1) / 2.0f + p * (i % 5);
        if (x[i] != want) {
          return absl::InternalError("wrong sum at " + std::to_string(i));
        }
      }
    }
    return absl::OkStatus();
  }));
}

TEST_P(FakeSizeTest, BroadcastAllGatherAndBytes) {
  const int p = GetParam();
  ExpectAllOk(RunOnFakeRanks(p, [p](Communicator& c) -> absl::Status {
    std::vector<int64_t> b(5, c.rank());
    const int root = p - 1;
    if (c.rank() == root) std::iota(b.begin(), b.end(), 100);
    if (absl::Status s = c.Broadcast(b.data(), 5, DType::kInt64, root);
        !s.ok()) {
      return s;
    }
    for (int i = 0; i < 5; ++i) {
      if (b[i] != 100 + i) return absl::InternalError("broadcast");
    }
    const double mine[2] = {c.rank() * 1.0, -c.rank() * 1.0};
    std::vector<double> all(2 * p);
    if (absl::Status s = c.AllGather(mine, 2, DType::kFloat64, all.data());
        !s.ok()) {
      return s;
    }
    for (int r = 0; r < p; ++r) {
      if (all[2 * r] != r || all[2 * r + 1] != -r) {
        return absl::InternalError("allgather");
      }
    }
    auto bytes = c.AllGatherBytes(std::string(c.rank(), 'x'));
    if (!bytes.ok()) return bytes.status();
    for (int r = 0; r < p; ++r) {
      if ((*bytes)[r] != std::string(r, 'x')) {
        return absl::InternalError("allgather bytes");
      }
    }
    return c.Barrier();
  }));
}

INSTANTIATE_TEST_SUITE_P(Sizes, FakeSizeTest, ::testing::Values(1, 2, 3, 4));

TEST(FakeCommunicatorTest, NonBlockingOpsCompleteInAnyOrderAndAreCounted) {
  ExpectAllOk(RunOnFakeRanks(2, [](Communicator& c) -> absl::Status {
    std::vector<float> a(10, 1.0f);
    std::vector<float> b(7, 2.0f);
    c.ResetStats();
    auto op_a = c.StartAllReduceSum(a.data(), a.size(), DType::kFloat32);
    auto op_b = c.StartAllReduceSum(b.data(), b.size(), DType::kFloat32);
    if (!op_a.ok()) return op_a.status();
    if (!op_b.ok()) return op_b.status();
    if (absl::Status s = (*op_b)->Wait(); !s.ok()) return s;
    while (true) {
      auto done = (*op_a)->Test();
      if (!done.ok()) return done.status();
      if (*done) break;
    }
    if (a[0] != 2.0f || b[6] != 4.0f) return absl::InternalError("sum");
    return Expect(c.stats().allreduce_calls == 2 &&
                      c.stats().allreduce_bytes == (10 + 7) * 4,
                  "stats");
  }));
}

TEST(FakeCommunicatorTest, MismatchedCallsFailOnEveryRank) {
  const std::vector<absl::Status> statuses =
      RunOnFakeRanks(2, [](Communicator& c) -> absl::Status {
        std::vector<float> x(c.rank() == 0 ? 4 : 5);
        return c.AllReduceSum(x.data(), x.size(), DType::kFloat32);
      });
  for (const absl::Status& s : statuses) {
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << s;
    EXPECT_THAT(std::string(s.message()),
                HasSubstr("rank 0 called AllReduceSum(count=4, float32), "
                          "rank 1 called AllReduceSum(count=5, float32)"));
  }
}

TEST(FakeCommunicatorTest, MissingRankTimesOutInsteadOfHanging) {
  FakeWorldOptions options;
  options.timeout = std::chrono::milliseconds(200);
  auto comms = FakeCommunicator::CreateWorld(2, options);
  // Rank 1 never calls.
  const absl::Status s = comms[0]->Barrier();
  EXPECT_EQ(s.code(), absl::StatusCode::kDeadlineExceeded) << s;
  EXPECT_THAT(std::string(s.message()), HasSubstr("for rank(s) 1"));
}

TEST(FakeCommunicatorTest, FailingRankAbortsTheOthers) {
  const std::vector<absl::Status> statuses =
      RunOnFakeRanks(3, [](Communicator& c) -> absl::Status {
        if (c.rank() == 2) return absl::DataLossError("rank 2 broke");
        return c.Barrier();  // would wait for rank 2 forever
      });
  EXPECT_EQ(statuses[2].code(), absl::StatusCode::kDataLoss);
  for (int r : {0, 1}) {
    EXPECT_EQ(statuses[r].code(), absl::StatusCode::kAborted) << statuses[r];
    EXPECT_THAT(std::string(statuses[r].message()), HasSubstr("rank 2 broke"));
  }
}

TEST(FakeCommunicatorTest, ReportsRankSizeAndThreadLevel) {
  auto comms = FakeCommunicator::CreateWorld(3);
  for (int r = 0; r < 3; ++r) {
    EXPECT_EQ(comms[r]->rank(), r);
    EXPECT_EQ(comms[r]->size(), 3);
    EXPECT_EQ(comms[r]->thread_level(), ThreadLevel::kMultiple);
  }
}

}  // namespace
}  // namespace freezing::comm
