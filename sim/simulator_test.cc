// Tests of the timing model on a hand-built trace whose every number is
// known (hand_trace.h), so that each expectation can be checked with pencil
// and paper (the arithmetic is in the comments), plus properties on
// synthetic traces.
#include "sim/simulator.h"

#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "sim/cost_model.h"
#include "sim/hand_trace.h"
#include "sim/network.h"
#include "sim/schedule.h"
#include "sim/step_map.h"
#include "trace/synthetic_trace.h"
#include "trace/trace.pb.h"
#include "trace/trace_reader.h"

namespace freezing::sim {
namespace {

CostModel Model(const trace::TraceContents& t) {
  auto m = FitTrace(t);
  EXPECT_TRUE(m.ok()) << m.status();
  return *std::move(m);
}

std::unique_ptr<NetworkModel> Net(const std::string& spec, const CostModel& m) {
  auto n = MakeNetworkModel(spec, m.network_context());
  EXPECT_TRUE(n.ok()) << n.status();
  return *std::move(n);
}

TEST(SimulateTiming, StaticOneOnARing) {
  CostModel m = Model(HandTrace());
  auto schedule = ComputeSchedule(m.run(), "static:1", "");
  ASSERT_TRUE(schedule.ok()) << schedule.status();
  EXPECT_FALSE(schedule->extrapolated_from_step.has_value());
  ASSERT_EQ(schedule->events.size(), 1u);
  EXPECT_EQ(schedule->events[0].step, 0);
  auto net = Net("ring:alpha_us=0,gbps=8", m);  // 1 ns per byte
  auto r = SimulateTiming(m, *schedule, *net, {});
  ASSERT_TRUE(r.ok()) << r.status();
  // Per step: data 20; forward 5 + 88 (no-grad, profiled) + 11 = 104;
  // backward: fc without input gradient 22 (profiled); the 400-byte bucket
  // is ready at 22 and takes 2·1/2·400 = 400 ns: exposed 400; optimizer
  // 1.0 · 100 parameters = 100; accumulation 7/1100 · 100 -> 1; other 3.
  // Intervals: compute 4000 / 7700 per parameter-window (0.5195) · 100
  // (window 1) = 52 or · 200 = 104, plus 400 for the accumulators.
  const PhaseTotals& p = r->phases;
  EXPECT_EQ(p.data_ns, 160);
  EXPECT_EQ(p.forward_ns, 8 * 104);
  EXPECT_EQ(p.backward_ns, 8 * 21);
  EXPECT_EQ(p.comm_exposed_ns, 8 * 400);
  EXPECT_EQ(p.comm_total_ns, 8 * 400);
  EXPECT_EQ(p.optimizer_ns, 8 * 100);
  EXPECT_EQ(p.stats_ns, 8 * 1 + 452 + 3 * 504);
  EXPECT_EQ(p.other_ns, 24);
  EXPECT_EQ(p.total_ns, 8 * 649 + 452 + 3 * 504);
  EXPECT_EQ(r->bytes_allreduced, 8 * 400);
  EXPECT_EQ(r->cost_by_source[static_cast<int>(CostSource::kSameStep)], 8 * 11);
  EXPECT_EQ(r->cost_by_source[static_cast<int>(CostSource::kProfile)],
            8 * (88 + 22));
  // Risk: body's window-1 norms (1, 11, 21, 31) of body + fc (4 · 1).
  EXPECT_DOUBLE_EQ(schedule->accuracy_risk.value_or(-1), 64.0 / 68.0);
  EXPECT_FALSE(schedule->accuracy_risk_partial);
}

TEST(SimulateTiming, SameDataOnMoreRanksRunsFewerSteps) {
  CostModel m = Model(HandTrace());
  ScheduleOptions o;
  o.steps = *MakeStepMap(m.run(), Scaling::kSameData, IntervalUnit::kSteps, 4);
  auto schedule = ComputeSchedule(m.run(), "none", "", o);
  ASSERT_TRUE(schedule.ok()) << schedule.status();
  auto net = Net("ring:alpha_us=0,gbps=8", m);
  TimingOptions t;
  t.world_size = 4;
  t.keep_step_totals = true;
  auto r = SimulateTiming(m, *schedule, *net, t);
  ASSERT_TRUE(r.ok()) << r.status();
  // 4 steps, costed as recorded steps 0, 2, 4, 6: data 20, forward 5 + 110
  // + 11 each; base intervals end at steps 1 and 3.
  EXPECT_EQ(r->reported_steps, 4);
  EXPECT_EQ(r->step_total_ns.size(), 4u);
  EXPECT_EQ(r->phases.data_ns, 4 * 20);
  EXPECT_EQ(r->phases.forward_ns, 4 * 126);
  // The 4400-byte bucket on 4 ranks: 2 · 3/4 · 4400 = 6600 ns per step.
  EXPECT_EQ(r->phases.comm_total_ns, 4 * 6600);
  // The schedule's steps are 4 ranks': another world size is refused.
  t.world_size = 8;
  EXPECT_FALSE(SimulateTiming(m, *schedule, *net, t).ok());
}

TEST(SimulateTiming, OwnConfigurationOnTheRecordedNetwork) {
  CostModel m = Model(HandTrace());
  auto schedule = ComputeSchedule(m.run(), m.run().policy, m.run().vote_rule);
  ASSERT_TRUE(schedule.ok());
  EXPECT_TRUE(schedule->same_as_recorded);
  auto r = SimulateTiming(m, *schedule, *Net("recorded", m), {});
  ASSERT_TRUE(r.ok());
  // Everything measured but the exposed comm: one 4400-byte bucket ready
  // at the end of backward (253), 1000 ns on the recorded network, against
  // the measured 50: each step's recorded wait is -950, which brings the
  // own configuration back to what it measured. Interval work is the
  // measured 2000 (1000 compute + 1000 all-reduce).
  EXPECT_EQ(r->phases.total_ns, m.run().measured_total_ns);
  EXPECT_EQ(r->phases.comm_exposed_ns, 8 * 50);
  EXPECT_EQ(r->recorded_wait_ns, 8 * -950);
  EXPECT_EQ(r->phases.stats_ns, 8 * 7 + 4 * 2000);
  EXPECT_EQ(r->cost_by_source[static_cast<int>(CostSource::kSameStep)],
            8 * (110 + 11 + 220 + 33));
}

TEST(SimulateTiming, RecordedWaitsScaleWithTheGradientBytes) {
  CostModel m = Model(HandTrace());
  auto schedule = ComputeSchedule(m.run(), "static:1", "");
  ASSERT_TRUE(schedule.ok()) << schedule.status();
  auto r = SimulateTiming(m, *schedule, *Net("recorded", m), {});
  ASSERT_TRUE(r.ok()) << r.status();
  // The recorded steps waited -950 ns for 4400 bytes; with body frozen a
  // step all-reduces fc's 400 bytes: a wait of -950 · 400 / 4400 = -86.4
  // -> -86 against the recorded network's 200 ns for 400 bytes (ready at
  // the end of backward): 114 exposed a step, not 200 - 950 clamped to 0.
  EXPECT_EQ(r->recorded_wait_ns, 8 * -86);
  EXPECT_EQ(r->phases.comm_exposed_ns, 8 * 114);
  // A positive wait shortens nothing; a negative one stops at 0.
  EXPECT_EQ(WithRecordedWait(200, 50), 250);
  EXPECT_EQ(WithRecordedWait(200, -86), 114);
  EXPECT_EQ(WithRecordedWait(200, -950), 0);
}

TEST(SimulateTiming, OneRankHasNoCommunication) {
  CostModel m = Model(HandTrace());
  auto schedule = ComputeSchedule(m.run(), "none", "");
  TimingOptions o;
  o.world_size = 1;
  auto r = SimulateTiming(m, *schedule, *Net("1gbe", m), o);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->phases.comm_exposed_ns, 0);
  EXPECT_EQ(r->phases.comm_total_ns, 0);
  EXPECT_EQ(r->bytes_allreduced, 0);
  EXPECT_EQ(r->phases.stats_ns, 8 * 7 + 4 * 1000);
}

TEST(SimulateTiming, LargerWorldsCostMoreOnARing) {
  CostModel m = Model(HandTrace());
  auto schedule = ComputeSchedule(m.run(), "none", "");
  auto net = Net("1gbe", m);
  int64_t previous = 0;
  for (int w : {2, 4, 16, 64}) {
    TimingOptions o;
    o.world_size = w;
    auto r = SimulateTiming(m, *schedule, *net, o);
    ASSERT_TRUE(r.ok());
    EXPECT_GT(r->phases.total_ns, previous) << w;
    previous = r->phases.total_ns;
  }
}

TEST(SharedCoresFactor, RanksOverCores) {
  struct Case {
    int p, recorded, threads, cores;
    double factor;
  } cases[] = {
      {3, 2, 1, 2, 1.5},  // 3 ranks on 2 cores against 2 on 2
      {4, 2, 1, 2, 2.0},
      {2, 2, 1, 2, 1.0},  // the recorded world
      {4, 2, 2, 2, 2.0},  // 8 threads on 2 cores against 4
      {3, 2, 1, 4, 1.0},  // both fit on 4 cores
      {8, 2, 1, 4, 2.0},
      {2, 4, 1, 2, 0.5},  // fewer ranks than recorded: faster
      {4, 2, 1, 0, 1.0},  // off
  };
  for (const Case& c : cases) {
    EXPECT_DOUBLE_EQ(SharedCoresFactor(c.p, c.recorded, c.threads, c.cores),
                     c.factor)
        << c.p << " " << c.recorded << " " << c.threads << " " << c.cores;
  }
}

TEST(SimulateTiming, SharedCoresScaleComputeNotCommunication) {
  trace::TraceContents t = HandTrace();
  t.header->mutable_machine()->set_threads_per_rank(1);
  CostModel m = Model(t);
  EXPECT_EQ(ThreadsPerRank(m.run()), 1);
  auto schedule = ComputeSchedule(m.run(), "none", "");
  ASSERT_TRUE(schedule.ok()) << schedule.status();
  auto net = Net("ring:alpha_us=0,gbps=8", m);  // 1 ns per byte
  TimingOptions o;
  o.world_size = 4;
  o.shared_cores = 2;
  auto r = SimulateTiming(m, *schedule, *net, o);
  ASSERT_TRUE(r.ok()) << r.status();
  // 4 ranks of 1 thread on 2 cores against the recorded 2: compute x2.
  // Per step: data 2·20; forward 2·(5 + 110 + 11) = 252; backward fc 66,
  // body 440: wall 506, the one 4400-byte bucket ready at 506 and taking
  // 2·3/4·4400 = 6600 ns, all exposed (not scaled); accumulation 2·7;
  // optimizer 2·1100; other 2·3. Interval ends (steps 1, 3, 5, 7): compute
  // 2·1000, the accumulators' all-reduce 6600 (not scaled).
  const PhaseTotals& p = r->phases;
  EXPECT_EQ(p.data_ns, 8 * 40);
  EXPECT_EQ(p.forward_ns, 8 * 252);
  EXPECT_EQ(p.backward_ns, 8 * (506 - 14));
  EXPECT_EQ(p.comm_exposed_ns, 8 * 6600);
  EXPECT_EQ(p.comm_total_ns, 8 * 6600);
  EXPECT_EQ(p.optimizer_ns, 8 * 2200);
  EXPECT_EQ(p.stats_ns, 8 * 14 + 4 * (2000 + 6600));
  EXPECT_EQ(p.other_ns, 8 * 6);
  EXPECT_EQ(p.total_ns, 8 * 9604 + 4 * 8600);
  EXPECT_EQ(r->cost_by_source[static_cast<int>(CostSource::kSameStep)],
            8 * 2 * (110 + 11 + 220 + 33));
  ASSERT_FALSE(r->notes.empty());
  EXPECT_NE(r->notes.back().find("compute x2.0000"), std::string::npos)
      << r->notes.back();
  // Off, the same world computes as recorded: 8·8102 + 4·7600.
  o.shared_cores = 0;
  auto off = SimulateTiming(m, *schedule, *net, o);
  ASSERT_TRUE(off.ok());
  EXPECT_EQ(off->phases.total_ns, 8 * 8102 + 4 * 7600);
  EXPECT_TRUE(off->notes.empty());
  // At the recorded world size the factor is 1: the same simulation.
  o.world_size = 2;
  auto own = SimulateTiming(m, *schedule, *net, o);
  o.shared_cores = 2;
  auto own_shared = SimulateTiming(m, *schedule, *net, o);
  ASSERT_TRUE(own.ok() && own_shared.ok());
  EXPECT_EQ(own_shared->phases.total_ns, own->phases.total_ns);
  // 3 ranks: x1.5, rounded to the nanosecond once per cost (llround: 4.5
  // -> 5): data 30, other 5, optimizer 1650.
  o.world_size = 3;
  auto three = SimulateTiming(m, *schedule, *net, o);
  ASSERT_TRUE(three.ok());
  EXPECT_EQ(three->phases.data_ns, 8 * 30);
  EXPECT_EQ(three->phases.other_ns, 8 * 5);
  EXPECT_EQ(three->phases.optimizer_ns, 8 * 1650);
  o.shared_cores = -1;
  EXPECT_EQ(SimulateTiming(m, *schedule, *net, o).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(SimulateTiming, Deterministic) {
  trace::SyntheticTraceOptions o;
  o.freeze_every_intervals = 0;
  trace::TraceContents t = trace::ReadTraceFromBytes(
      trace::EncodeTrace(trace::MakeSyntheticTrace(o)));
  CostModel m = Model(t);
  for (const char* policy :
       {"none", "static:3", "gradnorm", "freezeout", "apf"}) {
    auto s1 = ComputeSchedule(m.run(), policy, "majority");
    auto s2 = ComputeSchedule(m.run(), policy, "majority");
    ASSERT_TRUE(s1.ok()) << s1.status();
    EXPECT_EQ(s1->step_set, s2->step_set);
    TimingOptions opt;
    opt.world_size = 8;
    opt.timeline_steps = 5;
    auto net =
        Net("hier:ranks_per_node=4,intra_alpha_us=1,intra_gbps=100,"
            "inter_alpha_us=20,inter_gbps=10",
            m);
    auto a = SimulateTiming(m, *s1, *net, opt);
    auto b = SimulateTiming(m, *s2, *net, opt);
    ASSERT_TRUE(a.ok() && b.ok());
    EXPECT_EQ(a->phases.total_ns, b->phases.total_ns) << policy;
    ASSERT_EQ(a->timeline.size(), 5u);
    EXPECT_EQ(a->timeline[4].start_ns, b->timeline[4].start_ns);
    EXPECT_EQ(a->timeline[4].buckets, b->timeline[4].buckets);
  }
}

TEST(Schedule, ExtrapolatedWhereTheRecordedRunHadFrozen) {
  CostModel m = Model(HandTrace(/*frozen_from=*/4));
  // The recorded policy reproduces the recorded schedule: exact.
  auto own = ComputeSchedule(m.run(), m.run().policy, "");
  ASSERT_TRUE(own.ok()) << own.status();
  EXPECT_TRUE(own->same_as_recorded);
  EXPECT_FALSE(own->extrapolated_from_step.has_value());
  auto events = ReplayRecordedPolicy(m.run());
  ASSERT_TRUE(events.ok());
  ASSERT_EQ(events->size(), 1u);
  EXPECT_EQ((*events)[0].step(), 4);
  // none keeps training body after step 4: no timings of it there. It
  // decides nothing, so its schedule is not extrapolated (a policy that
  // reads statistics would be: step_map_test).
  auto none = ComputeSchedule(m.run(), "none", "");
  ASSERT_TRUE(none.ok());
  EXPECT_FALSE(none->extrapolated_from_step.has_value());
  EXPECT_EQ(none->trains_recorded_frozen_from_step, std::optional<int64_t>(4));
  auto r = SimulateTiming(m, *none, *Net("recorded", m), {});
  ASSERT_TRUE(r.ok());
  // body's cost after step 4 comes from the steps that ran it.
  EXPECT_EQ(r->cost_by_source[static_cast<int>(CostSource::kOtherSteps)],
            4 * (110 + 220 + 33));
  // Freezing earlier is exact: static:1 froze body where the run trained it.
  auto early = ComputeSchedule(m.run(), "static:1", "");
  ASSERT_TRUE(early.ok());
  EXPECT_FALSE(early->extrapolated_from_step.has_value());
  // Its risk counts only what was measured, and says so.
  EXPECT_TRUE(early->accuracy_risk_partial);
  EXPECT_DOUBLE_EQ(early->accuracy_risk.value_or(-1), 12.0 / 16.0);
}

TEST(Schedule, RebuildsStatisticsOfTheReplayedSchedule) {
  CostModel m = Model(HandTrace());
  // body frozen in intervals 2 and 3 by the replayed schedule.
  std::vector<std::vector<bool>> trained = {
      {true, true}, {true, true}, {false, true}, {false, true}};
  bool incomplete = false;
  auto same = RebuildIntervalStats(m.run(), 1, trained, &incomplete);
  EXPECT_EQ(same, nullptr);  // intervals 0 and 1 match the recording
  auto at2 = RebuildIntervalStats(m.run(), 2, trained, &incomplete);
  ASSERT_NE(at2, nullptr);
  EXPECT_FALSE(incomplete);
  // Window 1 at interval 2: body frozen -> zeros; window 2 = interval 1's
  // window 1 (10·1 + 1 = 11).
  EXPECT_EQ(at2->global[0].l2[0], 0.0);
  EXPECT_EQ(at2->global[0].trained_steps[0], 0);
  EXPECT_EQ(at2->global[0].l2[1], 11.0);
  EXPECT_EQ(at2->global[0].l1[1], 101.0);
  EXPECT_EQ(at2->global[0].trained_steps[1], 2);
  // fc untouched.
  EXPECT_EQ(at2->global[1].l2[1], 1.0);
  auto at3 = RebuildIntervalStats(m.run(), 3, trained, &incomplete);
  ASSERT_NE(at3, nullptr);
  EXPECT_EQ(at3->global[0].l2[1], 0.0);
  EXPECT_EQ(at3->global[0].trained_steps[1], 0);
  EXPECT_FALSE(incomplete);
  // Training where the recorded run had not cannot be rebuilt.
  CostModel frozen = Model(HandTrace(/*frozen_from=*/4));
  std::vector<std::vector<bool>> all(4, {true, true});
  auto at3b = RebuildIntervalStats(frozen.run(), 3, all, &incomplete);
  ASSERT_NE(at3b, nullptr);
  EXPECT_TRUE(incomplete);
}

TEST(SimulateTiming, CacheFillsInTheFirstEpochAndHitsAfter) {
  CostModel m = Model(HandTrace());
  auto schedule = ComputeSchedule(m.run(), "static:1", "");
  TimingOptions o;
  o.cache = true;
  auto net = Net("ring:alpha_us=0,gbps=8", m);
  auto r = SimulateTiming(m, *schedule, *net, o);
  ASSERT_TRUE(r.ok());
  // A cached activation: 0.5 ns · 50 elements · 8 samples = 200 to read or
  // write. Epoch 0 misses (88 + 200 per step), epoch 1 hits (200).
  EXPECT_EQ(r->cache_ns, 4 * 288 + 4 * 200);
  EXPECT_DOUBLE_EQ(r->cache_hit_share, 0.5);
  EXPECT_EQ(r->phases.forward_ns, 4 * (5 + 288 + 11) + 4 * (5 + 200 + 11));
}

TEST(SimulateTiming, CacheSetInTheLastEpochNeverHits) {
  CostModel m = Model(HandTrace());
  // Frozen from step 4, the first step of the last epoch: every sample of
  // that epoch is a miss (forward + write); nothing is seen twice.
  auto late = ComputeSchedule(m.run(), "static:1,at=4", "");
  ASSERT_TRUE(late.ok()) << late.status();
  TimingOptions o;
  o.cache = true;
  auto net = Net("ring:alpha_us=0,gbps=8", m);
  auto r = SimulateTiming(m, *late, *net, o);
  ASSERT_TRUE(r.ok());
  EXPECT_DOUBLE_EQ(r->cache_hit_share, 0.0);
  EXPECT_EQ(r->cache_ns, 4 * 288);  // misses: 88 forward + 200 write
}

TEST(SimulateTiming, CacheNeedsDeterministicInputs) {
  trace::TraceContents t = HandTrace();
  t.header->mutable_config()->set_augment(true);
  t.header->mutable_config()->set_augment_variants(0);
  CostModel m = Model(t);
  auto schedule = ComputeSchedule(m.run(), "static:1", "");
  TimingOptions o;
  o.cache = true;
  auto net = Net("1gbe", m);
  auto r = SimulateTiming(m, *schedule, *net, o);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->cache_ns, 0);
  ASSERT_FALSE(r->notes.empty());
  EXPECT_NE(r->notes[0].find("augment_variants"), std::string::npos);
  // Assuming 2 variants: half the keys are new each epoch.
  o.augment_variants = 2;
  auto r2 = SimulateTiming(m, *schedule, *net, o);
  ASSERT_TRUE(r2.ok());
  EXPECT_DOUBLE_EQ(r2->cache_hit_share, 0.25);
}

// The trainer's --fold_frozen: the frozen prefix costs its folded forward.
// HandTrace's profile gets body's folded forward 50 (no-grad 80): calibrated
// x1.1 as the other forwards (measured 110 and 11 against profiled 100 and
// 10), 55 instead of 88 in each of the 8 steps of StaticOneOnARing.
TEST(SimulateTiming, FoldedPrefixCostsItsFoldedForward) {
  trace::TraceContents t = HandTrace();
  t.profile->mutable_units(0)->set_forward_folded_ns(50);
  CostModel m = Model(t);
  EXPECT_FALSE(m.run().fold_frozen);
  auto schedule = ComputeSchedule(m.run(), "static:1", "");
  ASSERT_TRUE(schedule.ok()) << schedule.status();
  auto net = Net("ring:alpha_us=0,gbps=8", m);
  TimingOptions plain;
  TimingOptions folded;
  folded.fold_frozen = true;
  auto a = SimulateTiming(m, *schedule, *net, plain);
  auto b = SimulateTiming(m, *schedule, *net, folded);
  ASSERT_TRUE(a.ok()) << a.status();
  ASSERT_TRUE(b.ok()) << b.status();
  EXPECT_EQ(a->phases.forward_ns, 8 * (5 + 88 + 11));
  EXPECT_EQ(b->phases.forward_ns, 8 * (5 + 55 + 11));
  EXPECT_EQ(a->phases.total_ns - b->phases.total_ns, 8 * 33);
  // `none` freezes nothing: folding changes nothing.
  auto none = ComputeSchedule(m.run(), "none", "");
  ASSERT_TRUE(none.ok());
  auto c = SimulateTiming(m, *none, *net, plain);
  auto d = SimulateTiming(m, *none, *net, folded);
  ASSERT_TRUE(c.ok() && d.ok());
  EXPECT_EQ(c->phases.total_ns, d->phases.total_ns);
}

// A trace recorded before folding existed has no folded forward: predicting
// a folded prefix from it is refused, never costed as free.
TEST(SimulateTiming, NoFoldedProfileNoGuess) {
  CostModel m = Model(HandTrace());
  auto schedule = ComputeSchedule(m.run(), "static:1", "");
  ASSERT_TRUE(schedule.ok());
  TimingOptions folded;
  folded.fold_frozen = true;
  auto r = SimulateTiming(m, *schedule, *Net("1gbe", m), folded);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(r.status().message().find("folded forward"), std::string::npos)
      << r.status();
}

// A run that folded (its prefix steps measured kFolded) predicts the plain
// prefix from the profile's no-grad forward, and its own form from the
// steps. The recorded run froze body from step 2 with the prefix folded:
// its folded forward measured 60 in steps 2..7.
TEST(SimulateTiming, FoldedRunPredictsThePlainPrefix) {
  trace::TraceContents t = HandTrace(/*frozen_from=*/2);
  t.header->mutable_config()->set_fold_frozen(true);
  for (trace::Step& st : t.steps) {
    if (st.step() >= 2) {
      st.set_prefix_folded(true);
      st.set_unit_forward_ns(0, 60);
      st.mutable_phases()->set_forward_ns(5 + 60 + 11);
      CloseStep(st);
    }
  }
  CostModel m = Model(t);
  EXPECT_TRUE(m.run().fold_frozen);
  auto schedule = ComputeSchedule(m.run(), "static:1", "");
  ASSERT_TRUE(schedule.ok()) << schedule.status();
  auto net = Net("ring:alpha_us=0,gbps=8", m);
  TimingOptions plain;
  plain.fold_frozen = false;
  auto recorded = SimulateTiming(m, *schedule, *net, {});
  auto unfolded = SimulateTiming(m, *schedule, *net, plain);
  ASSERT_TRUE(recorded.ok()) << recorded.status();
  ASSERT_TRUE(unfolded.ok()) << unfolded.status();
  // Steps 2..7 of the recorded form are measured (60); steps 0 and 1
  // froze nothing in the recorded run: the folded mean of the others.
  EXPECT_EQ(recorded->phases.forward_ns, 8 * (5 + 60 + 11));
  // Plain: no step ran it; the profile's 80 x the calibration. The
  // calibration now sees body's grad forward (110, profiled 100) in
  // steps 0-1 and fc's (11 vs 10) everywhere: x1.1, 88.
  EXPECT_EQ(unfolded->phases.forward_ns, 8 * (5 + 88 + 11));
}

TEST(SimulateTiming, NoProfileNoGuess) {
  CostModel m = Model(HandTrace(-1, /*profile=*/false));
  auto schedule = ComputeSchedule(m.run(), "static:1", "");
  ASSERT_TRUE(schedule.ok());
  auto r = SimulateTiming(m, *schedule, *Net("1gbe", m), {});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(r.status().message().find("no-grad forward"), std::string::npos)
      << r.status();
}

}  // namespace
}  // namespace freezing::sim
