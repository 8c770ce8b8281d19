// Prediction intervals: their three parts on hand-built traces whose
// residuals are known (hand_trace.h; arithmetic in the comments), and the
// property that matters most: a level that drifts for tens of steps widens
// an interval far more than step-to-step noise of the same size.
#include "sim/prediction_interval.h"

#include <cmath>
#include <memory>
#include <string>

#include "gtest/gtest.h"
#include "sim/cost_model.h"
#include "sim/hand_trace.h"
#include "sim/network.h"
#include "sim/schedule.h"
#include "sim/simulator.h"
#include "sim/validation_models.h"
#include "trace/trace.pb.h"
#include "trace/trace_reader.h"

namespace freezing::sim {
namespace {

CostModel Model(const trace::TraceContents& t) {
  auto m = FitTrace(t);
  EXPECT_TRUE(m.ok()) << m.status();
  return *std::move(m);
}

TimingResult Simulate(const CostModel& m, const std::string& policy) {
  auto schedule = ComputeSchedule(m.run(), policy, "");
  EXPECT_TRUE(schedule.ok()) << schedule.status();
  auto net = MakeNetworkModel("ring:alpha_us=0,gbps=8", m.network_context());
  EXPECT_TRUE(net.ok());
  auto t = SimulateTiming(m, *schedule, **net, {});
  EXPECT_TRUE(t.ok()) << t.status();
  return *std::move(t);
}

// The model's part: kModelErrorSd times the share of the total that is not
// unit compute measured in the step itself.
double ModelSd(const TimingResult& t) {
  return kModelErrorSd *
         (1.0 - static_cast<double>(
                    t.cost_by_source[static_cast<int>(CostSource::kSameStep)]) /
                    static_cast<double>(t.phases.total_ns));
}

TEST(PredictionInterval, ASteadyRunMeasuredThroughoutHasOnlyTheModelsPart) {
  // Every step of the hand trace measures the same within its group (steps
  // that end a base interval, and the others): no residual, no profile;
  // what is left is the model's share (the modelled communication, the
  // steps' other phases).
  const CostModel m = Model(HandTrace());
  const TimingResult t = Simulate(m, "none");
  const PredictionInterval i =
      MakePredictionInterval(m, StepVariability::Of(m), t, 0);
  EXPECT_EQ(i.spread.level, 0);
  EXPECT_EQ(i.spread.profile, 0);
  EXPECT_DOUBLE_EQ(i.spread.model, ModelSd(t));
  EXPECT_DOUBLE_EQ(i.spread.total, i.spread.model);
  EXPECT_TRUE(i.Contains(t.phases.total_ns));
  EXPECT_LT(i.low_ns, t.phases.total_ns);
}

TEST(PredictionInterval, LevelFromTheResidualsOfOnePhase) {
  // "other" of steps 2, 4, 6 (one group of 3, mean 3; step 0 is left out)
  // becomes 1, 5, 3: residuals -2/3, +2/3, 0, times sqrt(3/2) for the
  // group's size; every other residual of steps 1-7 is 0. Seven steps make
  // one block length (L = 2 leaves 3 blocks < kMinBlocks), so σ² = v(1) =
  // (2 · 3/2 · (2/3 · w)²) / 6 = 2/9 · w², with w the prediction's share of
  // "other".
  trace::TraceContents tr = HandTrace();
  const int64_t other[] = {1, 5, 3};
  for (int k = 0; k < 3; ++k) {
    trace::Step& st = tr.steps[2 + 2 * k];
    st.mutable_phases()->set_other_ns(other[k]);
    CloseStep(st);
  }
  AddFooter(tr).set_final_test_accuracy(0.5);
  const CostModel m = Model(tr);
  const StepVariability v = StepVariability::Of(m);
  EXPECT_EQ(v.steps(), 7);
  const TimingResult t = Simulate(m, "none");
  const double w = static_cast<double>(t.phases.other_ns) /
                   static_cast<double>(t.phases.total_ns);
  const double level = std::sqrt(2.0 / 9.0) * w;
  EXPECT_NEAR(v.LevelSd(t.phases, 8), level, 1e-12);
  const PredictionInterval i = MakePredictionInterval(m, v, t, 0);
  EXPECT_NEAR(i.spread.total,
              std::sqrt(level * level + ModelSd(t) * ModelSd(t)), 1e-12);
  const double total = static_cast<double>(t.phases.total_ns);
  EXPECT_EQ(i.low_ns, std::llround(total * std::exp(-kZ90 * i.spread.total)));
  EXPECT_EQ(i.high_ns, std::llround(total * std::exp(kZ90 * i.spread.total)));
}

// 64 steps of one frozen set (T = 64: one base interval, at the end); step
// s's phases are `factor(s)` times the base.
template <typename Factor>
trace::TraceContents SixtyFourSteps(Factor factor) {
  trace::TraceContents t = TwoUnitTrace();
  trace::RunConfig& c = *t.header->mutable_config();
  c.set_stats_interval(64);
  c.set_stats_window(1);
  c.set_steps_per_epoch(64);
  c.set_epochs(1);
  c.set_policy("none:interval=64,warmup=0,max_frozen=1");
  const bool frozen[] = {false, false};
  for (int s = 0; s < 64; ++s) {
    const double f = factor(s);
    const int64_t fwd[] = {std::llround(1000 * f), std::llround(100 * f)};
    const int64_t bwd[] = {std::llround(2000 * f), std::llround(300 * f)};
    trace::Step& st = AddStep(t, s, frozen, fwd, bwd);
    st.set_epoch(0);
    trace::PhaseTimes& ph = *st.mutable_phases();
    ph.set_data_ns(std::llround(200 * f));
    ph.set_forward_ns(fwd[0] + fwd[1] + 50);
    ph.set_backward_ns(bwd[0] + bwd[1]);
    ph.set_optimizer_ns(std::llround(1000 * f));
    CloseStep(st);
  }
  AddFooter(t);
  return t;
}

TEST(PredictionInterval, ADriftingLevelWidensFarMoreThanNoise) {
  // The same per-step spread (±15%), alternating step by step or as one
  // jump half-way through the run.
  const CostModel noisy =
      Model(SixtyFourSteps([](int s) { return s % 2 == 0 ? 0.85 : 1.15; }));
  const CostModel drifting =
      Model(SixtyFourSteps([](int s) { return s < 32 ? 0.85 : 1.15; }));
  const TimingResult tn = Simulate(noisy, "none");
  const TimingResult td = Simulate(drifting, "none");
  const double sn = StepVariability::Of(noisy).LevelSd(tn.phases, 64);
  const double sd = StepVariability::Of(drifting).LevelSd(td.phases, 64);
  // Noise averages out over 64 steps (about 0.15 / 8 of the measured
  // share of the prediction; the modelled communication, about half of it,
  // has no residual); the jump does not.
  EXPECT_LT(sn, 0.02);
  EXPECT_GT(sd, 0.05);
  EXPECT_GT(sd, 5 * sn);
}

TEST(PredictionInterval, ProfiledCostsWidenByTheCalibrationResidual) {
  // The profile says body's forward is 50 (instead of 100): the forward
  // factor becomes (110 + 11) / (50 + 10) and the pairs scatter around it.
  trace::TraceContents tr = HandTrace();
  tr.profile->mutable_units(0)->set_forward_ns(50);
  const CostModel m = Model(tr);
  const double f = 121.0 / 60.0;
  const double r_body = std::log(110 / (50 * f));
  const double r_fc = std::log(11 / (10 * f));
  // Backward pairs (body 220 vs 200, fc 33 vs 30 at factor 1.1) fit exactly.
  const double expected = std::sqrt((110 * r_body * r_body + 11 * r_fc * r_fc) /
                                    (110 + 11 + 220 + 33));
  EXPECT_EQ(m.calibration_spread().pairs, 4);
  EXPECT_NEAR(m.calibration_spread().ResidualSd(), expected, 1e-12);
  // static:1: body's no-grad forward and fc's backward without the input
  // gradient come from the profile.
  const TimingResult t = Simulate(m, "static:1");
  const PredictionInterval i =
      MakePredictionInterval(m, StepVariability::Of(m), t, 0);
  const double share =
      static_cast<double>(
          t.cost_by_source[static_cast<int>(CostSource::kProfile)] +
          t.optimizer_line_ns) /
      static_cast<double>(t.phases.total_ns);
  EXPECT_GT(share, 0);
  EXPECT_NEAR(i.spread.profile, share * expected, 1e-12);
}

TEST(PredictionInterval, ModelOnlyTakesThePriors) {
  const CostModel full = Model(HandTrace());
  auto blind = ProfileOnlyCostModel(full.shared_run());
  ASSERT_TRUE(blind.ok()) << blind.status();
  const TimingResult t = Simulate(*blind, "none");
  const PredictionInterval i =
      MakePredictionInterval(*blind, StepVariability::Of(*blind), t, 0);
  EXPECT_EQ(i.spread.level, kLevelPriorSd);
  // Every unit cost is the profile's.
  const double share =
      static_cast<double>(
          t.cost_by_source[static_cast<int>(CostSource::kProfile)] +
          t.optimizer_line_ns) /
      static_cast<double>(t.phases.total_ns);
  EXPECT_NEAR(i.spread.profile, share * kProfileLevelPriorSd, 1e-12);
  EXPECT_LT(i.low_ns, t.phases.total_ns);
  EXPECT_GT(i.high_ns, t.phases.total_ns);
}

TEST(PredictionInterval, AnExtrapolatedScheduleSpansItsLaterSaving) {
  const CostModel m = Model(HandTrace());
  TimingResult t = Simulate(m, "none");
  t.step_total_ns = {10, 10, 10, 10};
  TimingResult base = t;
  base.step_total_ns = {10, 10, 40, 110};
  EXPECT_EQ(SavingAfter(base, t, 2), 30 + 100);
  EXPECT_EQ(SavingAfter(base, t, 0), 130);
  const PredictionInterval i =
      MakePredictionInterval(m, StepVariability::Of(m), t, 130);
  EXPECT_NEAR(i.spread.schedule,
              130.0 / (kZ90 * static_cast<double>(t.phases.total_ns)), 1e-15);
}

}  // namespace
}  // namespace freezing::sim
