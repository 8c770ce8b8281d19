// RecordedRun on the hand-built trace (hand_trace.h): the records a replay
// starts from, and the traces it refuses.
#include "sim/recorded_run.h"

#include <memory>
#include <string>

#include "gtest/gtest.h"
#include "sim/hand_trace.h"
#include "trace/trace.pb.h"
#include "trace/trace_reader.h"

namespace freezing::sim {
namespace {

std::shared_ptr<const RecordedRun> ReadRun(const trace::TraceContents& t) {
  auto run = RecordedRun::Create(t);
  EXPECT_TRUE(run.ok()) << run.status();
  return *std::move(run);
}

TEST(RecordedRun, StepRecords) {
  const std::shared_ptr<const RecordedRun> run = ReadRun(HandTrace());
  EXPECT_EQ(run->num_steps(), 8);
  EXPECT_EQ(run->world_size, 2);
  EXPECT_EQ(run->recorded_sets.size(), 1u);
  EXPECT_EQ(run->steps[0].loss_forward_ns, 5);
  EXPECT_EQ(run->steps[0].accumulate_ns, 7);
  EXPECT_EQ(run->steps[1].interval_ns, 2000);
  EXPECT_EQ(run->steps[0].other_ns, 3);
  EXPECT_EQ(run->steps[0].units[0].forward_ns, 110);
  EXPECT_EQ(run->steps[0].units[0].backward_state, BackwardState::kNoInputGrad);
  EXPECT_EQ(run->steps[0].units[1].backward_state, BackwardState::kFull);
  // Interval compute = 2000 - the recorded all-reduce of 4400 bytes (1000).
  ASSERT_EQ(run->intervals.size(), 4u);
  EXPECT_EQ(run->intervals[0].compute_ns, 1000);
  EXPECT_EQ(run->measured_total_ns, 4 * 1552 + 4 * 3552);
  // No bucket timings: said once.
  ASSERT_EQ(run->notes.size(), 1u);
  EXPECT_NE(run->notes[0].find("no bucket timings"), std::string::npos);
}

TEST(RecordedRun, FrozenUnitsAndCachedSteps) {
  trace::TraceContents t = HandTrace(/*frozen_from=*/4);
  for (int s = 6; s < 8; ++s) {
    trace::CacheStep& c = *t.steps[s].mutable_cache();
    c.set_boundary_unit(0);
    c.set_hits(8);
  }
  const std::shared_ptr<const RecordedRun> run = ReadRun(t);
  EXPECT_EQ(run->recorded_sets.size(), 2u);
  EXPECT_EQ(run->steps[5].frozen_set, 1);
  EXPECT_EQ(run->steps[5].units[0].forward_state, ForwardState::kNoGrad);
  EXPECT_EQ(run->steps[5].units[0].backward_state, BackwardState::kNone);
  EXPECT_EQ(run->steps[5].units[1].backward_state, BackwardState::kNoInputGrad);
  EXPECT_FALSE(run->steps[5].cache_active);
  EXPECT_TRUE(run->steps[6].cache_active);
  EXPECT_EQ(run->steps[6].units[0].forward_state, ForwardState::kCached);
  EXPECT_EQ(run->steps[6].units[1].forward_state, ForwardState::kGrad);
  EXPECT_EQ(run->steps[5].trainable_params, 100);
  // body was trained in intervals 0 and 1 only.
  EXPECT_TRUE(run->intervals[1].trained[0]);
  EXPECT_FALSE(run->intervals[2].trained[0]);
}

TEST(RecordedRun, RejectsTracesThatCannotBeReplayed) {
  trace::TraceContents gap = HandTrace();
  gap.steps[3].set_step(7);
  EXPECT_EQ(RecordedRun::Create(gap).status().code(),
            absl::StatusCode::kInvalidArgument);
  trace::TraceContents shape = HandTrace();
  shape.steps[2].add_trainable(true);
  auto s = RecordedRun::Create(shape);
  EXPECT_EQ(s.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(s.status().message().find("step 2"), std::string::npos);
  trace::TraceContents cut = HandTrace();
  cut.status = absl::DataLossError("bad checksum at byte 99");
  auto c = RecordedRun::Create(cut);
  EXPECT_EQ(c.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_NE(c.status().message().find("--allow_partial"), std::string::npos);
  EXPECT_TRUE(RecordedRun::Create(cut, /*allow_partial=*/true).ok());
  trace::TraceContents none;
  EXPECT_FALSE(RecordedRun::Create(none).ok());
}

}  // namespace
}  // namespace freezing::sim
