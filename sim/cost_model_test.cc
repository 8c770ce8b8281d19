// CostModel: the three rules of a unit's cost in their order, the fitted
// aggregates on the hand-built trace (hand_trace.h; arithmetic in the
// comments), and the property that makes a fit on a range honest: it equals
// the fit on a trace that ends where the range does.
#include "sim/cost_model.h"

#include <memory>
#include <optional>
#include <vector>

#include "gtest/gtest.h"
#include "sim/hand_trace.h"
#include "sim/recorded_run.h"
#include "trace/synthetic_trace.h"
#include "trace/trace.pb.h"
#include "trace/trace_reader.h"

namespace freezing::sim {
namespace {

CostModel FitAll(const trace::TraceContents& t) {
  auto m = FitTrace(t);
  EXPECT_TRUE(m.ok()) << m.status();
  return *std::move(m);
}

void ExpectCost(const std::optional<UnitCost>& c, int64_t ns,
                CostSource source) {
  ASSERT_TRUE(c.has_value());
  EXPECT_EQ(c->ns, ns);
  EXPECT_EQ(c->source, source);
}

TEST(CostModel, CostsAndCalibration) {
  const CostModel m = FitAll(HandTrace());
  EXPECT_EQ(m.fit_first_step(), 0);
  EXPECT_EQ(m.fitted_steps(), 8);
  EXPECT_EQ(m.measured_steps(), 8);
  // Measured over profiled: (110 + 11) / (100 + 10) and (220 + 33) / (200 +
  // 30).
  EXPECT_DOUBLE_EQ(m.forward_calibration(), 1.1);
  EXPECT_DOUBLE_EQ(m.backward_calibration(), 1.1);
  // body's no-grad forward was never run: 80 · 1.1.
  ExpectCost(m.Cost(0, ForwardState::kNoGrad, 3), 88, CostSource::kProfile);
  // Its forward with autograd: step 3's own; with no step measured, the
  // mean of the fitted steps.
  ExpectCost(m.Cost(0, ForwardState::kGrad, 3), 110, CostSource::kSameStep);
  const CostModel unmeasured = CostModel::Fit(m.shared_run(), 0, 8, 0);
  ExpectCost(unmeasured.Cost(0, ForwardState::kGrad, 3), 110,
             CostSource::kOtherSteps);
  // fc without input gradient: 20 · 1.1.
  ExpectCost(m.Cost(1, BackwardState::kNoInputGrad, 3), 22,
             CostSource::kProfile);
  // Interval compute: the measured 1000 for the recorded window (both
  // units, window 1 at interval 0); body alone at the fitted rate 4000 /
  // 7700 per parameter-window · 1000 = 519.48 -> 519.
  std::vector<bool> window;
  EXPECT_EQ(m.run().RecordedWindow(0, &window), 1);
  EXPECT_EQ(m.IntervalComputeNs(0, window, 1), 1000);
  EXPECT_EQ(m.IntervalComputeNs(0, {true, false}, 1), 519);
  // Optimizer: the recorded set's mean; another set, the profile's line
  // (1 ns per parameter) times 1100 / 1100.
  EXPECT_EQ(m.OptimizerNs(0, 1100), 1100);
  EXPECT_EQ(m.OptimizerNs(-1, 100), 100);
  // Accumulation: 7 per 1100 parameters.
  EXPECT_EQ(m.AccumulateNs(1100), 7);
}

// The rules in order on a run that froze body from step 4: body's forward
// was measured with autograd in steps 0-3 (110) and without in steps 4-7
// (90); its full backward never ran.
TEST(CostModel, CostSourceOrder) {
  const CostModel m = FitAll(HandTrace(/*frozen_from=*/4));
  // 1. The same step's measurement.
  ExpectCost(m.Cost(0, ForwardState::kNoGrad, 5), 90, CostSource::kSameStep);
  ExpectCost(m.Cost(0, ForwardState::kGrad, 1), 110, CostSource::kSameStep);
  // 2. Other steps' mean where the step ran the unit otherwise.
  ExpectCost(m.Cost(0, ForwardState::kNoGrad, 1), 90, CostSource::kOtherSteps);
  ExpectCost(m.Cost(0, ForwardState::kGrad, 5), 110, CostSource::kOtherSteps);
  ExpectCost(m.Cost(1, BackwardState::kNoInputGrad, 1), 24,
             CostSource::kOtherSteps);
  // 3. The profile, calibrated: measured means over profiled numbers of
  // the backward pairs the run executed, (220 + 33 + 24) / (200 + 30 + 20)
  // = 1.108: body full 300 · 1.108 = 332.4, input gradient only (300 -
  // 200) · 1.108 = 110.8.
  ExpectCost(m.Cost(0, BackwardState::kFull, 1), 332, CostSource::kProfile);
  ExpectCost(m.Cost(0, BackwardState::kPassThrough, 1), 111,
             CostSource::kProfile);
  // A step after the measured ones never uses rule 1.
  const CostModel predicted = CostModel::Fit(m.shared_run(), 0, 8, 4);
  ExpectCost(predicted.Cost(0, ForwardState::kNoGrad, 5), 90,
             CostSource::kOtherSteps);
  ExpectCost(predicted.Cost(0, ForwardState::kGrad, 3), 110,
             CostSource::kSameStep);
  // Cached forwards are the cache model's.
  EXPECT_FALSE(m.Cost(0, ForwardState::kCached, 5).has_value());
  // No profile: no rule 3, no guess.
  const CostModel bare = FitAll(HandTrace(4, /*profile=*/false));
  EXPECT_FALSE(bare.Cost(0, BackwardState::kFull, 1).has_value());
  ExpectCost(bare.Cost(0, ForwardState::kNoGrad, 1), 90,
             CostSource::kOtherSteps);
}

// Steps 6 and 7 ran with the recorded cache (its 300 ns of reads and writes
// inside their forward): their loss is the others' mean.
TEST(CostModel, CachedStepsTakeTheLossOfTheOthers) {
  trace::TraceContents t = HandTrace();
  for (int s = 6; s < 8; ++s) {
    trace::Step& st = t.steps[s];
    st.mutable_cache()->set_boundary_unit(0);
    st.mutable_cache()->set_misses(8);
    st.mutable_phases()->set_forward_ns(st.phases().forward_ns() + 300);
  }
  const CostModel m = FitAll(t);
  EXPECT_EQ(m.run().steps[6].loss_forward_ns, 305);
  EXPECT_EQ(m.Step(6).loss_forward_ns, 5);
  EXPECT_EQ(m.Step(5).loss_forward_ns, 5);
  // Fitted on the cached steps alone: no other step, their own.
  const CostModel cached = CostModel::Fit(m.shared_run(), 6, 8, 8);
  EXPECT_EQ(cached.Step(6).loss_forward_ns, 305);
  // Predicted from them: the profile's loss (not in this profile: 0).
  const CostModel predicted = CostModel::Fit(m.shared_run(), 6, 8, 6);
  EXPECT_EQ(predicted.Step(7).loss_forward_ns, 0);
}

TEST(CostModel, PriorsWhereTheStepsSayNothing) {
  const std::shared_ptr<const RecordedRun> run =
      FitAll(HandTrace()).shared_run();
  Priors priors;
  priors.accumulate_ns_per_param = 5;
  priors.interval_ns_per_param_window = 0.5;
  priors.interval_compute_ns = {11, 12, 13, 14};
  priors.recorded_overlap = 0.25;
  const CostModel none = CostModel::Fit(run, 0, 0, 0, priors);
  EXPECT_EQ(none.AccumulateNs(100), 500);
  EXPECT_EQ(none.IntervalComputeNs(2, {true, true}, 2), 13);
  EXPECT_EQ(none.IntervalComputeNs(2, {false, true}, 2), 100);
  EXPECT_DOUBLE_EQ(none.recorded_overlap(), 0.25);
  EXPECT_DOUBLE_EQ(none.network_context().recorded_overlap, 0.25);
  // Factors 1: the profile as measured.
  ExpectCost(none.Cost(0, ForwardState::kGrad, 0), 100, CostSource::kProfile);
  // Fitted on every step: the steps' numbers, except the overlap (the
  // trace has no bucket timings).
  const CostModel all = CostModel::Fit(run, 0, 8, 0, priors);
  EXPECT_EQ(all.AccumulateNs(1100), 7);
  EXPECT_EQ(all.IntervalComputeNs(2, {true, true}, 2), 1000);
  EXPECT_DOUBLE_EQ(all.recorded_overlap(), 0.25);
}

// Everything a fit on steps [first, end) learns equals what a fit on a trace
// cut at `end` learns: it sees nothing after its range.
TEST(CostModel, FitOnARangeEqualsFitOnTheTraceCutThere) {
  trace::SyntheticTraceOptions o;
  o.freeze_every_intervals = 1;  // several frozen sets
  const trace::TraceContents full_trace = trace::ReadTraceFromBytes(
      trace::EncodeTrace(trace::MakeSyntheticTrace(o)));
  const std::shared_ptr<const RecordedRun> full =
      FitAll(full_trace).shared_run();
  const int64_t end = 40;
  trace::TraceContents cut_trace = full_trace;
  cut_trace.steps.resize(end);
  cut_trace.footer.reset();
  const std::shared_ptr<const RecordedRun> cut = FitAll(cut_trace).shared_run();
  ASSERT_GT(full->recorded_sets.size(), cut->recorded_sets.size());
  ASSERT_GT(cut->recorded_sets.size(), 1u);
  for (int64_t first : {0, 3}) {
    SCOPED_TRACE(first);
    // No step measured: every cost below is a fitted one.
    const CostModel a = CostModel::Fit(full, first, end, 0);
    const CostModel b = CostModel::Fit(cut, first, end, 0);
    EXPECT_EQ(a.forward_calibration(), b.forward_calibration());
    EXPECT_EQ(a.backward_calibration(), b.backward_calibration());
    EXPECT_EQ(a.optimizer_calibration(), b.optimizer_calibration());
    EXPECT_EQ(a.recorded_overlap(), b.recorded_overlap());
    for (int u = 0; u < full->num_units; ++u) {
      for (ForwardState x : {ForwardState::kGrad, ForwardState::kNoGrad}) {
        const auto ca = a.Cost(u, x, 0), cb = b.Cost(u, x, 0);
        ASSERT_EQ(ca.has_value(), cb.has_value());
        if (ca.has_value()) {
          EXPECT_EQ(ca->ns, cb->ns);
          EXPECT_EQ(ca->source, cb->source);
        }
      }
      for (BackwardState x : {BackwardState::kNoInputGrad, BackwardState::kFull,
                              BackwardState::kPassThrough}) {
        const auto ca = a.Cost(u, x, 0), cb = b.Cost(u, x, 0);
        ASSERT_EQ(ca.has_value(), cb.has_value());
        if (ca.has_value()) {
          EXPECT_EQ(ca->ns, cb->ns);
          EXPECT_EQ(ca->source, cb->source);
        }
      }
    }
    for (int64_t params : {0, 1000, 11000000}) {
      for (int set = -1; set < static_cast<int>(cut->recorded_sets.size());
           ++set) {
        EXPECT_EQ(a.OptimizerNs(set, params), b.OptimizerNs(set, params));
      }
      EXPECT_EQ(a.AccumulateNs(params), b.AccumulateNs(params));
    }
    const std::vector<bool> all(full->num_units, true);
    EXPECT_EQ(a.IntervalComputeNs(1000, all, 2),
              b.IntervalComputeNs(1000, all, 2));
    for (int64_t s = 0; s < end; ++s) {
      const StepCosts sa = a.Step(s), sb = b.Step(s);
      EXPECT_EQ(sa.data_ns, sb.data_ns);
      EXPECT_EQ(sa.loss_forward_ns, sb.loss_forward_ns);
      EXPECT_EQ(sa.optimizer_ns, sb.optimizer_ns);
      EXPECT_EQ(sa.accumulate_ns, sb.accumulate_ns);
      EXPECT_EQ(sa.other_ns, sb.other_ns);
    }
  }
  // A fit sees its range: fitted on all 80 steps, the calibration moves.
  EXPECT_NE(CostModel::Fit(full, 0, full->num_steps(), 0).forward_calibration(),
            CostModel::Fit(cut, 0, end, 0).forward_calibration());
}

TEST(CostModel, MeasuredStepsAreTheRecordedOnes) {
  const CostModel m = FitAll(HandTrace(/*frozen_from=*/4));
  for (int64_t s = 0; s < 8; ++s) {
    const RecordedStep& r = m.run().steps[s];
    const StepCosts c = m.Step(s);
    EXPECT_EQ(c.data_ns, r.data_ns);
    EXPECT_EQ(c.loss_forward_ns, r.loss_forward_ns);
    EXPECT_EQ(c.optimizer_ns, r.optimizer_ns);
    EXPECT_EQ(c.accumulate_ns, r.accumulate_ns);
    EXPECT_EQ(c.other_ns, r.other_ns);
  }
}

}  // namespace
}  // namespace freezing::sim
