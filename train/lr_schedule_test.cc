#include "train/lr_schedule.h"

#include <cmath>

#include "gtest/gtest.h"

namespace freezing::train {
namespace {

TEST(LrScheduleTest, Constant) {
  auto s = LrSchedule::Parse("constant", 0.1, 100, 10);
  ASSERT_TRUE(s.ok());
  EXPECT_DOUBLE_EQ(s->At(0), 0.1);
  EXPECT_DOUBLE_EQ(s->At(99), 0.1);
}

TEST(LrScheduleTest, StepDecaysEveryEEpochs) {
  auto s = LrSchedule::Parse("step:every=2,gamma=0.5", 0.1, 100, 10);
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_DOUBLE_EQ(s->At(19), 0.1);
  EXPECT_DOUBLE_EQ(s->At(20), 0.05);
  EXPECT_DOUBLE_EQ(s->At(45), 0.025);
  EXPECT_EQ(s->spec(), "step:every=2,gamma=0.5");
}

TEST(LrScheduleTest, CosineFromBaseToZero) {
  auto s = LrSchedule::Parse("cosine", 0.2, 100, 10);
  ASSERT_TRUE(s.ok());
  EXPECT_DOUBLE_EQ(s->At(0), 0.2);
  EXPECT_NEAR(s->At(50), 0.1, 1e-12);
  EXPECT_NEAR(s->At(100), 0.0, 1e-12);
}

TEST(LrScheduleTest, BadSpecsNameTheProblem) {
  auto a = LrSchedule::Parse("linear", 0.1, 10, 1);
  EXPECT_EQ(a.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(a.status().message().find("valid schedules"), std::string::npos);
  auto b = LrSchedule::Parse("step:every=0", 0.1, 10, 1);
  EXPECT_FALSE(b.ok());
  auto c = LrSchedule::Parse("cosine:gamma=2", 0.1, 10, 1);
  EXPECT_FALSE(c.ok());
}

}  // namespace
}  // namespace freezing::train
