// StepMap on the hand-built trace (2 ranks, batch 8, 4 steps per epoch, 2
// epochs, T = 2; hand_trace.h): which recorded step each simulated step
// costs and where the base intervals end, at other world sizes, and what a
// schedule over such a map marks.
#include "sim/step_map.h"

#include <memory>
#include <vector>

#include "gtest/gtest.h"
#include "sim/hand_trace.h"
#include "sim/recorded_run.h"
#include "sim/schedule.h"
#include "trace/trace_reader.h"

namespace freezing::sim {
namespace {

std::shared_ptr<const RecordedRun> HandRun(int frozen_from = -1) {
  auto run = RecordedRun::Create(HandTrace(frozen_from));
  EXPECT_TRUE(run.ok()) << run.status();
  return *run;
}

using Steps = std::vector<int64_t>;

TEST(StepMap, RecordedWorldSizeIsTheIdentityInBothModes) {
  const auto run = HandRun();
  for (Scaling scaling : {Scaling::kSameData, Scaling::kSameSteps}) {
    auto m = MakeStepMap(*run, scaling, IntervalUnit::kSteps, 0);
    ASSERT_TRUE(m.ok()) << m.status();
    EXPECT_TRUE(m->identity);
    EXPECT_FALSE(m->statistics_assumed);
    EXPECT_EQ(m->world_size, 2);
    EXPECT_EQ(m->recorded_step, (Steps{0, 1, 2, 3, 4, 5, 6, 7}));
    EXPECT_EQ(m->epoch, (std::vector<int>{0, 0, 0, 0, 1, 1, 1, 1}));
    EXPECT_EQ(m->interval_last_step, (Steps{1, 3, 5, 7}));
    EXPECT_EQ(m->global_batch, 16);
  }
}

TEST(StepMap, SameStepsKeepsTheStepsAndAssumesTheStatistics) {
  const auto run = HandRun();
  auto m = MakeStepMap(*run, Scaling::kSameSteps, IntervalUnit::kSteps, 8);
  ASSERT_TRUE(m.ok());
  EXPECT_TRUE(m->identity);
  EXPECT_TRUE(m->statistics_assumed);  // a global batch of 64, not 16
  EXPECT_EQ(m->global_batch, 64);
  EXPECT_EQ(m->recorded_global_batch, 16);
  EXPECT_EQ(m->num_steps(), 8);
}

TEST(StepMap, SameDataOnMoreRanksTakesFewerSteps) {
  const auto run = HandRun();
  // 4 ranks: 4 · 2 / 4 = 2 steps per epoch, at recorded steps 0 and 2 of
  // each epoch.
  auto m = MakeStepMap(*run, Scaling::kSameData, IntervalUnit::kSteps, 4);
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_FALSE(m->identity);
  EXPECT_TRUE(m->statistics_assumed);
  EXPECT_EQ(m->steps_per_epoch, 2);
  EXPECT_EQ(m->recorded_step, (Steps{0, 2, 4, 6}));
  EXPECT_EQ(m->epoch, (std::vector<int>{0, 0, 1, 1}));
  // Intervals in steps: every T = 2 steps of the replayed run.
  EXPECT_EQ(m->interval_last_step, (Steps{1, 3}));
  // In epochs: where the recorded intervals ended in the data (after 2, 4,
  // 6, 8 recorded steps: 1, 2, 3, 4 replayed steps).
  auto e = MakeStepMap(*run, Scaling::kSameData, IntervalUnit::kEpochs, 4);
  ASSERT_TRUE(e.ok());
  EXPECT_EQ(e->interval_last_step, (Steps{0, 1, 2, 3}));
  // 8 ranks: one step per epoch; both epochs-mode intervals of an epoch end
  // at its one step.
  auto one = MakeStepMap(*run, Scaling::kSameData, IntervalUnit::kEpochs, 8);
  ASSERT_TRUE(one.ok());
  EXPECT_EQ(one->recorded_step, (Steps{0, 4}));
  EXPECT_EQ(one->interval_last_step, (Steps{0, 0, 1, 1}));
}

TEST(StepMap, SameDataOnFewerRanksTakesMoreSteps) {
  const auto run = HandRun();
  auto m = MakeStepMap(*run, Scaling::kSameData, IntervalUnit::kSteps, 1);
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(m->steps_per_epoch, 8);
  EXPECT_EQ(m->recorded_step,
            (Steps{0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7}));
  EXPECT_EQ(m->interval_last_step, (Steps{1, 3, 5, 7, 9, 11, 13, 15}));
  auto e = MakeStepMap(*run, Scaling::kSameData, IntervalUnit::kEpochs, 1);
  ASSERT_TRUE(e.ok());
  EXPECT_EQ(e->interval_last_step, (Steps{3, 7, 11, 15}));
}

TEST(StepMap, BadInputNamesTheValidValues) {
  const auto run = HandRun();
  auto too_many =
      MakeStepMap(*run, Scaling::kSameData, IntervalUnit::kSteps, 16);
  ASSERT_FALSE(too_many.ok());
  EXPECT_NE(too_many.status().message().find("world sizes up to 8"),
            std::string::npos)
      << too_many.status();
  EXPECT_NE(too_many.status().message().find("same_steps"), std::string::npos);
  EXPECT_FALSE(ParseScaling("weak").ok());
  EXPECT_NE(ParseScaling("weak").status().message().find("same_data"),
            std::string::npos);
  EXPECT_FALSE(ParseIntervalUnit("hours").ok());
  EXPECT_EQ(*ParseScaling("same_steps"), Scaling::kSameSteps);
  EXPECT_EQ(*ParseIntervalUnit("epochs"), IntervalUnit::kEpochs);
}

ScheduleOptions On(const RecordedRun& run, int world, IntervalUnit unit) {
  ScheduleOptions o;
  o.steps = *MakeStepMap(run, Scaling::kSameData, unit, world);
  return o;
}

TEST(ScheduleOnAStepMap, StatisticsFreePoliciesAreExactEverywhere) {
  const auto run = HandRun();
  // static:1 on one rank: 16 steps, more intervals than recorded; it reads
  // no statistics, so nothing is extrapolated or assumed.
  auto s =
      ComputeSchedule(*run, "static:1", "", On(*run, 1, IntervalUnit::kSteps));
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(s->step_set.size(), 16u);
  EXPECT_FALSE(s->reads_statistics);
  EXPECT_FALSE(s->statistics_assumed);
  EXPECT_FALSE(s->extrapolated_from_step.has_value());
  EXPECT_FALSE(s->same_as_recorded);
  // Intervals 4-7 have no recorded statistics: the risk is a lower bound.
  EXPECT_TRUE(s->accuracy_risk_partial);
}

TEST(ScheduleOnAStepMap, GradientPoliciesStopWhereTheStatisticsEnd) {
  const auto run = HandRun();
  auto s = ComputeSchedule(*run, "gradnorm:interval=2", "",
                           On(*run, 1, IntervalUnit::kSteps));
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_TRUE(s->reads_statistics);
  EXPECT_TRUE(s->statistics_assumed);
  // Base interval 4 (steps 8-9) has no statistics: decisions from step 10.
  ASSERT_TRUE(s->statistics_end_step.has_value());
  EXPECT_EQ(*s->statistics_end_step, 10);
  EXPECT_EQ(s->extrapolated_from_step, std::optional<int64_t>(10));
  // In epochs the recorded intervals cover the run: nothing extrapolated.
  auto e = ComputeSchedule(*run, "gradnorm:interval=2", "",
                           On(*run, 1, IntervalUnit::kEpochs));
  ASSERT_TRUE(e.ok()) << e.status();
  EXPECT_FALSE(e->extrapolated_from_step.has_value());
  EXPECT_TRUE(e->statistics_assumed);
}

TEST(ScheduleOnAStepMap, EventsAreInTheReplayedSteps) {
  const auto run = HandRun();
  // static:1 from step 4 of the recorded run's statistics, i.e. after the
  // interval ending at step 3. On 4 ranks (2 steps per epoch), in steps:
  // the policy's step 4 is after its second interval (steps 2-3): from 4,
  // past the run's end; in epochs: after the recorded interval ending at
  // recorded step 3 (replayed step 1), so from replayed step 2.
  const std::string policy = "static:interval=2,k=1,at=4";
  auto steps =
      ComputeSchedule(*run, policy, "", On(*run, 4, IntervalUnit::kSteps));
  ASSERT_TRUE(steps.ok()) << steps.status();
  ASSERT_EQ(steps->events.size(), 1u);
  EXPECT_EQ(steps->events[0].step, 4);
  auto epochs =
      ComputeSchedule(*run, policy, "", On(*run, 4, IntervalUnit::kEpochs));
  ASSERT_TRUE(epochs.ok()) << epochs.status();
  ASSERT_EQ(epochs->events.size(), 1u);
  EXPECT_EQ(epochs->events[0].step, 2);
  EXPECT_EQ(epochs->step_set, (std::vector<int>{0, 0, 1, 1}));
}

TEST(Schedule, NoneIsNeverExtrapolatedByTheRecordedRunsFreezing) {
  // The recorded run froze "body" from step 4: `none` trains it there, but
  // decides nothing; a gradient policy that keeps training it decides on
  // statistics the trace does not have.
  const auto run = HandRun(/*frozen_from=*/4);
  auto none = ComputeSchedule(*run, "none", "");
  ASSERT_TRUE(none.ok());
  EXPECT_EQ(none->trains_recorded_frozen_from_step, std::optional<int64_t>(4));
  EXPECT_FALSE(none->extrapolated_from_step.has_value());
  EXPECT_EQ(none->accuracy_risk, std::optional<double>(0.0));
  // (A threshold this low never freezes body, whose norm keeps changing.)
  auto gradnorm = ComputeSchedule(*run, "threshold:tau=0.001", "");
  ASSERT_TRUE(gradnorm.ok());
  EXPECT_EQ(gradnorm->extrapolated_from_step, std::optional<int64_t>(4));
}

}  // namespace
}  // namespace freezing::sim
