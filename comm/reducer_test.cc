// GradientReducer over FakeCommunicator: 1 to 3 ranks as threads, each with
// its own model and backward pass.
#include "comm/reducer.h"

#include <ATen/ATen.h>

#include <cstdlib>
#include <string>
#include <tuple>
#include <vector>

#include "comm/fake_communicator.h"
#include "comm/progress_mode.h"
#include "comm/reducer_test_util.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace freezing::comm {
namespace {

using ::testing::HasSubstr;

// Runs `check` on every rank of a fake world of `size`.
void OnRanks(int size, const std::function<void(Communicator&)>& check) {
  const std::vector<absl::Status> statuses =
      RunOnFakeRanks(size, [&](Communicator& c) {
        check(c);
        return absl::OkStatus();
      });
  for (const absl::Status& s : statuses) EXPECT_TRUE(s.ok()) << s;
}

class ReducerTest
    : public ::testing::TestWithParam<std::tuple<int, ProgressMode>> {};

TEST_P(ReducerTest, Averages) {
  const auto [size, mode] = GetParam();
  OnRanks(size,
          [mode = mode](Communicator& c) { testing::CheckAveraging(c, mode); });
}

TEST_P(ReducerTest, FrozenBytesNeverTravel) {
  const auto [size, mode] = GetParam();
  OnRanks(size, [mode = mode](Communicator& c) {
    testing::CheckFrozenBytesNeverTravel(c, mode);
  });
}

TEST_P(ReducerTest, MissingAndKeptGradients) {
  const auto [size, mode] = GetParam();
  OnRanks(size, [mode = mode](Communicator& c) {
    testing::CheckMissingAndKeptGradients(c, mode);
  });
}

INSTANTIATE_TEST_SUITE_P(
    SizesAndModes, ReducerTest,
    ::testing::Combine(::testing::Values(1, 2, 3),
                       ::testing::Values(ProgressMode::kHooks,
                                         ProgressMode::kThread,
                                         ProgressMode::kSync,
                                         ProgressMode::kAuto)),
    [](const auto& info) {
      return std::to_string(std::get<0>(info.param)) + "ranks_" +
             ProgressModeName(std::get<1>(info.param));
    });

TEST(ReducerPlanTest, MismatchAcrossRanksFailsClearly) {
  OnRanks(2, [](Communicator& c) { testing::CheckPlanMismatchFails(c); });
  OnRanks(3, [](Communicator& c) { testing::CheckPlanMismatchFails(c); });
}

TEST(ReducerBroadcastTest, CopiesRootsTensors) {
  OnRanks(1, [](Communicator& c) { testing::CheckBroadcastTensors(c); });
  OnRanks(3, [](Communicator& c) { testing::CheckBroadcastTensors(c); });
}

TEST(ReducerCreateTest, RejectsBadParameters) {
  auto comms = FakeCommunicator::CreateWorld(1);
  at::Tensor w = at::ones({2}).requires_grad_();
  at::Tensor not_leaf = w * 2;
  auto r =
      GradientReducer::Create(comms[0].get(), {w, not_leaf}, {"w", "w2"}, {});
  EXPECT_EQ(r.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(r.status().message()), HasSubstr("not a leaf"));
  r = GradientReducer::Create(comms[0].get(), {w}, {}, {});
  EXPECT_THAT(std::string(r.status().message()), HasSubstr("names"));
  r = GradientReducer::Create(comms[0].get(), {at::ones({2}, at::kLong)}, {"i"},
                              {});
  EXPECT_THAT(std::string(r.status().message()),
              HasSubstr("float32 or float64"));
}

TEST(ReducerStepTest, StepCallsMustPair) {
  auto comms = FakeCommunicator::CreateWorld(1);
  at::Tensor w = at::ones({2}).requires_grad_();
  auto r = GradientReducer::Create(comms[0].get(), {w}, {"w"}, {});
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ((*r)->FinishStep().status().code(),
            absl::StatusCode::kFailedPrecondition);
  ASSERT_TRUE((*r)->BeginStep().ok());
  EXPECT_EQ((*r)->BeginStep().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ((*r)->SetTrainable({false}).code(),
            absl::StatusCode::kFailedPrecondition);
  // Two backward passes in one step would reduce a bucket twice.
  (w * 3).sum().backward();
  (w * 3).sum().backward();
  const auto stats = (*r)->FinishStep();
  EXPECT_EQ(stats.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(stats.status().message()),
              HasSubstr("second gradient"));
}

TEST(ReducerStepTest, HooksAreRemovedWithTheReducer) {
  auto comms = FakeCommunicator::CreateWorld(1);
  at::Tensor w = at::ones({2}).requires_grad_();
  {
    auto r = GradientReducer::Create(comms[0].get(), {w}, {"w"}, {});
    ASSERT_TRUE(r.ok()) << r.status();
  }
  // Would call into the destroyed reducer if its hook were still there.
  (w * 3).sum().backward();
  EXPECT_TRUE(at::allclose(w.grad(), at::full({2}, 3.0)));
}

TEST(ProgressModeTest, ParsesFlagValues) {
  EXPECT_EQ(*ParseProgressMode("hooks"), ProgressMode::kHooks);
  EXPECT_EQ(*ParseProgressMode("thread"), ProgressMode::kThread);
  EXPECT_EQ(*ParseProgressMode("sync"), ProgressMode::kSync);
  EXPECT_EQ(*ParseProgressMode("auto"), ProgressMode::kAuto);
  const auto bad = ParseProgressMode("async");
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(bad.status().message()),
              HasSubstr("hooks, thread, sync, auto"));
  EXPECT_EQ(RequiredThreadLevel(ProgressMode::kAuto), ThreadLevel::kFunneled);
  EXPECT_EQ(RequiredThreadLevel(ProgressMode::kThread),
            ThreadLevel::kSerialized);
  EXPECT_EQ(RequiredThreadLevel(ProgressMode::kHooks), ThreadLevel::kFunneled);
}

struct AutoCase {
  bool one_host;
  std::string ucx_tls;
  ProgressMode want;
};

class AutoModeTest : public ::testing::TestWithParam<AutoCase> {};

TEST_P(AutoModeTest, PicksSyncOnlyForSharedMemoryOnOneHost) {
  EXPECT_EQ(ResolveAutoProgressMode(GetParam().one_host, GetParam().ucx_tls),
            GetParam().want)
      << "UCX_TLS=" << GetParam().ucx_tls;
}

INSTANTIATE_TEST_SUITE_P(
    Cases, AutoModeTest,
    ::testing::Values(AutoCase{true, "", ProgressMode::kSync},
                      AutoCase{true, "sm,self", ProgressMode::kSync},
                      AutoCase{true, "posix,tcp", ProgressMode::kSync},
                      AutoCase{true, "all", ProgressMode::kSync},
                      AutoCase{true, "^tcp", ProgressMode::kSync},
                      AutoCase{true, "tcp,self", ProgressMode::kHooks},
                      AutoCase{true, "^sm", ProgressMode::kHooks},
                      AutoCase{true, "rc,ud", ProgressMode::kHooks},
                      AutoCase{false, "", ProgressMode::kHooks},
                      AutoCase{false, "sm,self", ProgressMode::kHooks}));

TEST(ReducerAutoTest, DefaultResolvesOnCreate) {
  // All fake ranks are threads of this process: one host.
  OnRanks(2, [](Communicator& c) {
    at::Tensor w = at::ones({3}).requires_grad_();
    auto r = GradientReducer::Create(&c, {w}, {"w"}, ReducerOptions());
    ASSERT_TRUE(r.ok()) << r.status();
    const char* tls = std::getenv("UCX_TLS");
    EXPECT_EQ((*r)->mode(),
              ResolveAutoProgressMode(true, tls != nullptr ? tls : ""));
    EXPECT_NE((*r)->mode(), ProgressMode::kAuto);
  });
}

}  // namespace
}  // namespace freezing::comm
