// The validation models on a hand-built trace whose held-out and model-only
// answers are known exactly (the arithmetic is in the comments), and the
// property that makes them honest: what they predict does not move when the
// measurements they must not see do.
#include "sim/validation_models.h"

#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "sim/cost_model.h"
#include "sim/network.h"
#include "sim/recorded_run.h"
#include "sim/schedule.h"
#include "sim/simulator.h"
#include "sim/validation_hand_trace.h"
#include "trace/trace.pb.h"
#include "trace/trace_reader.h"

namespace freezing::sim {
namespace {

CostModel Model(const trace::TraceContents& t) {
  auto m = FitTrace(t);
  EXPECT_TRUE(m.ok()) << m.status();
  return *std::move(m);
}

// The recorded schedule on the recorded network, summed from `from`.
PhaseTotals Simulate(const CostModel& m, int64_t from) {
  auto schedule = ComputeSchedule(m.run(), m.run().policy, m.run().vote_rule);
  EXPECT_TRUE(schedule.ok()) << schedule.status();
  auto net = MakeNetworkModel("recorded", m.network_context());
  EXPECT_TRUE(net.ok()) << net.status();
  TimingOptions o;
  o.report_from_step = from;
  auto r = SimulateTiming(m, *schedule, **net, o);
  EXPECT_TRUE(r.ok()) << r.status();
  return r->phases;
}

TEST(HeldOutSplit, HalfOfTheStepsInWholeIntervals) {
  const CostModel model = Model(ValidationHandTrace());
  const RecordedRun& m = model.run();
  EXPECT_EQ(*HeldOutSplit(m, 0.5), 4);
  EXPECT_EQ(*HeldOutSplit(m, 0.3), 2);  // 2.4 steps -> one interval
  EXPECT_EQ(HeldOutSplit(m, 0.2).status().code(),
            absl::StatusCode::kFailedPrecondition);  // 1.6 steps: none
  EXPECT_EQ(HeldOutSplit(m, 1.0).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(HeldOutSplit(m, 0).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(HeldOutCostModel, PredictsTheHeldOutStepsFromTheHeldInMeans) {
  const CostModel full = Model(ValidationHandTrace());
  auto held = HeldOutCostModel(full.shared_run(), 4);
  ASSERT_TRUE(held.ok()) << held.status();
  // Fitted on steps 1-3: the warm-up step is left out.
  EXPECT_EQ(held->fit_first_step(), 1);
  EXPECT_EQ(held->fitted_steps(), 4);
  EXPECT_EQ(held->measured_steps(), 4);
  // Held-out steps carry the means of steps 1-3 (the base numbers; with
  // step 0, three times the base, they would be 1.5 times it), and nothing
  // of their own.
  const StepCosts r = held->Step(5);
  EXPECT_EQ(r.data_ns, 20);
  EXPECT_EQ(r.loss_forward_ns, 10);
  EXPECT_EQ(r.optimizer_ns, 1100);
  EXPECT_EQ(r.accumulate_ns, 10);
  EXPECT_EQ(r.other_ns, 10);
  EXPECT_FALSE(held->Measured(5));
  const UnitRecord& recorded0 = full.run().steps[5].units[0];
  const UnitRecord& recorded1 = full.run().steps[5].units[1];
  EXPECT_EQ(held->Cost(0, recorded0.forward_state, 5)->ns, 110);
  EXPECT_EQ(held->Cost(1, recorded1.backward_state, 5)->ns, 30);
  EXPECT_EQ(held->Cost(0, recorded0.forward_state, 5)->source,
            CostSource::kOtherSteps);
  // Interval compute: held-in interval 1 (window 2, both units) measured
  // 2000 - 1000 of modelled all-reduce; intervals 2 and 3 have its window.
  std::vector<bool> window;
  EXPECT_EQ(full.run().RecordedWindow(2, &window), 2);
  EXPECT_EQ(held->IntervalComputeNs(2, window, 2), 1000);
  EXPECT_EQ(full.run().RecordedWindow(3, &window), 2);
  EXPECT_EQ(held->IntervalComputeNs(3, window, 2), 1000);

  // Per held-out step: data 20 + forward (10 + 110 + 20) + backward (220 +
  // 30) + exposed (the 4400-byte bucket, 1000 on the recorded network,
  // after backward, plus the mean wait of steps 1-3: (1080 + 1320 + 1200)
  // / 3 - 1000 = 200) + optimizer 1100 + other 10 = 2720; steps 5 and 7
  // end an interval: 1000 compute + 1000 all-reduce of the accumulators.
  const PhaseTotals p = Simulate(*held, 4);
  EXPECT_EQ(p.data_ns, 4 * 20);
  EXPECT_EQ(p.forward_ns, 4 * 140);
  EXPECT_EQ(p.backward_ns, 4 * (250 - 10));
  EXPECT_EQ(p.comm_exposed_ns, 4 * 1200);
  EXPECT_EQ(p.optimizer_ns, 4 * 1100);
  EXPECT_EQ(p.stats_ns, 4 * 10 + 2 * 2000);
  EXPECT_EQ(p.other_ns, 4 * 10);
  EXPECT_EQ(p.total_ns, 4 * 2720 + 2 * 2000);
  EXPECT_EQ(p.total_ns, kHandHeldOutPredictedNs);
}

TEST(HeldOutCostModel, BlindToTheHeldOutMeasurements) {
  // Held-out steps 1.5 or 3 times slower than the held-in ones: the same
  // prediction, to the nanosecond.
  const CostModel a = Model(ValidationHandTrace(1.5));
  const CostModel b = Model(ValidationHandTrace(3.0));
  ASSERT_NE(a.run().measured_total_ns, b.run().measured_total_ns);
  const PhaseTotals pa = Simulate(*HeldOutCostModel(a.shared_run(), 4), 4);
  const PhaseTotals pb = Simulate(*HeldOutCostModel(b.shared_run(), 4), 4);
  EXPECT_EQ(pa.total_ns, pb.total_ns);
  EXPECT_EQ(pa.comm_exposed_ns, pb.comm_exposed_ns);
  EXPECT_EQ(pa.stats_ns, pb.stats_ns);
  // While the exact replay of the same steps follows the measurement.
  EXPECT_NE(Simulate(a, 4).total_ns, Simulate(b, 4).total_ns);
}

TEST(HeldOutCostModel, RejectsASplitWithAnEmptySide) {
  const CostModel m = Model(ValidationHandTrace());
  EXPECT_EQ(HeldOutCostModel(m.shared_run(), 0).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(HeldOutCostModel(m.shared_run(), 8).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(ProfileOnlyCostModel, TheProfileAloneAndNothingOfTheSteps) {
  const CostModel a = Model(ValidationHandTrace(1.5));
  auto m = ProfileOnlyCostModel(a.shared_run());
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_EQ(m->measured_steps(), 0);
  EXPECT_DOUBLE_EQ(m->recorded_overlap(), 0.0);  // comm mode sync
  // Per step: data 0; forward: loss 4 + 100 + 10; backward: fc full 30 +
  // body without input gradient 200 = 230, of which accumulation 0.1/24 ·
  // 12 · 1100 = 55; exposed: the bucket after backward, 1000, no waits;
  // optimizer 0.1 · 1100 = 110; other 0. Interval ends: zeroing 4 · 1100
  // bytes + copy 8 · 1100 + norms 8 · 1100 · window, at 0.1/24 ns per byte:
  // 22000 -> 92 (window 1), 30800 -> 128 (window 2); plus the 1000 ns
  // all-reduce of the accumulators.
  const PhaseTotals p = Simulate(*m, 0);
  EXPECT_EQ(p.data_ns, 0);
  EXPECT_EQ(p.forward_ns, 8 * 114);
  EXPECT_EQ(p.backward_ns, 8 * (230 - 55));
  EXPECT_EQ(p.comm_exposed_ns, 8 * 1000);
  EXPECT_EQ(p.optimizer_ns, 8 * 110);
  EXPECT_EQ(p.stats_ns, 8 * 55 + 92 + 3 * 128 + 4 * 1000);
  EXPECT_EQ(p.other_ns, 0);
  EXPECT_EQ(p.total_ns, 8 * 1454 + 92 + 3 * 128 + 4 * 1000);
  EXPECT_EQ(p.total_ns, kHandModelOnlyPredictedNs);
  // Nothing of the steps: another measurement, the same prediction.
  const PhaseTotals q = Simulate(
      *ProfileOnlyCostModel(Model(ValidationHandTrace(3.0)).shared_run()), 0);
  EXPECT_EQ(q.total_ns, p.total_ns);
}

TEST(ProfileOnlyCostModel, NeedsAProfile) {
  trace::TraceContents t = ValidationHandTrace();
  t.profile.reset();
  const CostModel m = Model(t);
  auto r = ProfileOnlyCostModel(m.shared_run());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(r.status().message().find("start-up profile"), std::string::npos);
}

}  // namespace
}  // namespace freezing::sim
