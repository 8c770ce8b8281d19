#include "trace/trace_summary.h"

#include "gtest/gtest.h"
#include "trace/synthetic_trace.h"
#include "trace/trace_reader.h"

namespace freezing::trace {
namespace {

TraceContents Read(const SyntheticTraceOptions& options) {
  return ReadTraceFromBytes(EncodeTrace(MakeSyntheticTrace(options)));
}

TEST(TraceSummaryTest, CountsDurationsAndAccuracyOfACompleteRun) {
  const TraceContents contents = Read(SyntheticTraceOptions());
  ASSERT_TRUE(contents.complete()) << contents.status;
  const TraceSummary s = Summarize(contents);
  EXPECT_EQ(s.steps, 80);
  EXPECT_EQ(s.first_step, 0);
  EXPECT_EQ(s.last_step, 79);
  EXPECT_EQ(s.intervals, 8);
  EXPECT_EQ(s.epochs, 2);
  EXPECT_EQ(s.freeze_events, 3);
  EXPECT_TRUE(s.has_profile);
  EXPECT_TRUE(s.has_footer);
  EXPECT_EQ(s.records, 1 + 1 + 80 + 8 + 3 + 2 + 1);
  // The synthetic footer's totals are the sums over its steps.
  EXPECT_EQ(s.train_ns, contents.footer->total_time_ns());
  EXPECT_EQ(s.bytes_allreduced, contents.footer->bytes_allreduced());
  EXPECT_EQ(s.phases.total_ns(), s.train_ns);
  EXPECT_GE(s.slowest_rank_train_ns, s.train_ns);
  EXPECT_DOUBLE_EQ(s.mean_step_ns, s.train_ns / 80.0);
  int64_t eval = 0;
  for (const Epoch& e : contents.epochs) eval += e.eval_ns();
  EXPECT_EQ(s.eval_ns, eval);
  ASSERT_TRUE(s.final_test_accuracy.has_value());
  EXPECT_DOUBLE_EQ(*s.final_test_accuracy,
                   contents.footer->final_test_accuracy());
  EXPECT_EQ(s.final_accuracy_epoch, 1);
  // Units 0, 1, 2 froze at the events' steps; the rest stayed trainable.
  ASSERT_EQ(s.frozen_from_step.size(), 10u);
  for (int u = 0; u < 3; ++u) {
    EXPECT_EQ(s.frozen_from_step[u], contents.freeze_events[u].step());
  }
  for (int u = 3; u < 10; ++u) EXPECT_EQ(s.frozen_from_step[u], -1);
  EXPECT_EQ(s.frozen_units_at_end, 3);
}

TEST(TraceSummaryTest, UnfreezeMakesAUnitTrainableAgain) {
  TraceContents contents = Read(SyntheticTraceOptions());
  FreezeEvent unfreeze;
  unfreeze.set_step(75);
  unfreeze.add_unfreeze(1);
  contents.freeze_events.push_back(unfreeze);
  const TraceSummary s = Summarize(contents);
  EXPECT_EQ(s.frozen_from_step[1], -1);
  EXPECT_EQ(s.frozen_units_at_end, 2);
}

TEST(TraceSummaryTest, PrefixOfARunThatDiedUsesTheLastEpoch) {
  SyntheticTraceOptions o;
  o.with_footer = false;
  const TraceContents contents = Read(o);
  const TraceSummary s = Summarize(contents);
  EXPECT_FALSE(s.has_footer);
  ASSERT_TRUE(s.final_test_accuracy.has_value());
  EXPECT_DOUBLE_EQ(*s.final_test_accuracy,
                   contents.epochs.back().test_accuracy());
}

TEST(TraceSummaryTest, EmptyContentsHaveNoAccuracyAndNoSteps) {
  const TraceSummary s = Summarize(TraceContents());
  EXPECT_EQ(s.steps, 0);
  EXPECT_EQ(s.first_step, -1);
  EXPECT_EQ(s.mean_step_ns, 0.0);
  EXPECT_FALSE(s.final_test_accuracy.has_value());
  EXPECT_TRUE(s.frozen_from_step.empty());
}

TEST(TraceSummaryTest, HugeValuesSaturateInsteadOfOverflowing) {
  TraceContents contents;
  for (int i = 0; i < 3; ++i) {
    Step step;
    step.mutable_phases()->set_total_ns(INT64_MAX / 2);
    contents.steps.push_back(step);
  }
  EXPECT_EQ(Summarize(contents).train_ns, INT64_MAX);
}

}  // namespace
}  // namespace freezing::trace
