// Tests of the timing model on a hand-built trace whose every number is
// known, so that each expectation can be checked with pencil and paper (the
// arithmetic is in the comments), plus properties on synthetic traces.
#include "sim/simulator.h"

#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "sim/network.h"
#include "sim/schedule.h"
#include "sim/trace_model.h"
#include "trace/synthetic_trace.h"
#include "trace/trace.pb.h"
#include "trace/trace_reader.h"

namespace freezing::sim {
namespace {

// Two units: "body" (1000 parameters, output 50 elements per sample) and the
// classifier "fc" (100). 2 ranks, batch 8, T = 2, W = 2, 4 steps per epoch,
// 2 epochs, one bucket. Every step trains both: unit forward 110 / 11,
// backward 220 (body, no input gradient) / 33 (fc), loss forward 5,
// accumulation 7 (inside backward), exposed 50, optimizer 1100, data 20,
// other 3, and 2000 of interval work at interval ends.
// `frozen_from`: the step from which the recorded run froze "body" (-1:
// never), as `static:1,at=frozen_from` would.
trace::TraceContents HandTrace(int frozen_from = -1, bool profile = true) {
  trace::TraceContents t;
  t.path = "hand.pb";
  trace::Header& h = t.header.emplace();
  h.set_schema_version(1);
  trace::RunConfig& c = *h.mutable_config();
  c.set_model("hand");
  c.set_batch_size(8);
  c.set_epochs(2);
  c.set_steps_per_epoch(4);
  c.set_policy(frozen_from >= 0
                   ? "static:interval=2,k=1,at=" + std::to_string(frozen_from) +
                         ",warmup=0,max_frozen=1"
                   : "none:interval=2,warmup=0,max_frozen=1");
  c.set_vote_rule("global");
  c.set_stats_interval(2);
  c.set_stats_window(2);
  c.set_ranks(2);
  c.set_first_bucket_bytes(1 << 30);
  c.set_bucket_cap_bytes(1 << 30);
  c.set_augment(false);
  trace::Unit* body = h.add_units();
  body->set_name("body");
  body->set_params(1000);
  body->set_bytes(4000);
  body->set_output_elements_per_sample(50);
  trace::Unit* fc = h.add_units();
  fc->set_name("fc");
  fc->set_params(100);
  fc->set_bytes(400);
  fc->set_is_classifier(true);
  fc->set_output_elements_per_sample(5);
  trace::Param* p0 = h.add_params();
  p0->set_name("body.w");
  p0->set_numel(1000);
  p0->set_element_bytes(4);
  p0->set_unit(0);
  trace::Param* p1 = h.add_params();
  p1->set_name("fc.w");
  p1->set_numel(100);
  p1->set_element_bytes(4);
  p1->set_unit(1);
  if (profile) {
    trace::StartupProfile& p = t.profile.emplace();
    auto unit = [&](int u, int64_t f, int64_t fn, int64_t b, int64_t bn) {
      trace::UnitProfile* up = p.add_units();
      up->set_unit(u);
      up->set_forward_ns(f);
      up->set_forward_nograd_ns(fn);
      up->set_backward_ns(b);
      up->set_backward_no_input_grad_ns(bn);
    };
    unit(0, 100, 80, 300, 200);
    unit(1, 10, 8, 30, 20);
    p.set_optimizer_ns_per_param(1.0);
    p.set_optimizer_fixed_ns(0);
    p.set_cache_read_ns_per_element(0.5);
    trace::AllReducePoint* a = p.add_allreduce();
    a->set_bytes(400);
    a->set_ns(200);
    a = p.add_allreduce();
    a->set_bytes(4400);
    a->set_ns(1000);
  }
  for (int s = 0; s < 8; ++s) {
    const bool body_trained = frozen_from < 0 || s < frozen_from;
    trace::Step& st = t.steps.emplace_back();
    st.set_step(s);
    st.set_epoch(s / 4);
    st.add_trainable(body_trained);
    st.add_trainable(true);
    st.add_unit_forward_ns(body_trained ? 110 : 90);
    st.add_unit_forward_ns(11);
    st.add_unit_backward_ns(body_trained ? 220 : 0);
    st.add_unit_backward_ns(body_trained ? 33 : 24);
    trace::PhaseTimes& ph = *st.mutable_phases();
    const bool interval_end = s % 2 == 1;
    ph.set_data_ns(20);
    ph.set_forward_ns(5 + st.unit_forward_ns(0) + 11);
    ph.set_backward_ns(st.unit_backward_ns(0) + st.unit_backward_ns(1) - 7);
    ph.set_comm_exposed_ns(50);
    ph.set_optimizer_ns(body_trained ? 1100 : 100);
    ph.set_stats_ns(7 + (interval_end ? 2000 : 0));
    ph.set_other_ns(3);
    ph.set_total_ns(ph.data_ns() + ph.forward_ns() + ph.backward_ns() +
                    ph.comm_exposed_ns() + ph.optimizer_ns() + ph.stats_ns() +
                    ph.other_ns());
    st.mutable_cache()->set_boundary_unit(-1);
    if (!interval_end) continue;
    trace::Interval& iv = t.intervals.emplace_back();
    const int i = s / 2;
    iv.set_index(i);
    iv.set_first_step(s - 1);
    iv.set_last_step(s);
    iv.set_epoch(s / 4);
    iv.set_progress((s + 1) / 8.0);
    const int windows = i == 0 ? 1 : 2;
    for (int u = 0; u < 2; ++u) {
      trace::UnitWindowNorms* n = iv.add_global();
      n->set_unit(u);
      for (int k = 1; k <= windows; ++k) {
        // Window k of interval i: 10·i + k for body, 1 for fc; body's
        // trained steps count only its trained intervals.
        int trained = 0;
        for (int j = i - k + 1; j <= i; ++j) {
          if (u == 1 || frozen_from < 0 || 2 * j + 1 < frozen_from)
            trained += 2;
        }
        n->add_l2(u == 0 ? (trained > 0 ? 10.0 * i + k : 0.0) : 1.0);
        n->add_l1(u == 0 ? (trained > 0 ? 100.0 * i + k : 0.0) : 2.0);
        n->add_trained_steps(trained);
      }
    }
  }
  int64_t total = 0;
  for (const trace::Step& st : t.steps) total += st.phases().total_ns();
  trace::Footer& f = t.footer.emplace();
  f.set_steps(8);
  f.set_total_time_ns(total);
  f.set_final_test_accuracy(0.5);
  if (frozen_from >= 0) {
    trace::FreezeEvent& e = t.freeze_events.emplace_back();
    e.set_step(frozen_from);
    e.add_freeze(0);
  }
  return t;
}

TraceModel Model(const trace::TraceContents& t) {
  auto m = TraceModel::Create(t);
  EXPECT_TRUE(m.ok()) << m.status();
  return *std::move(m);
}

std::unique_ptr<NetworkModel> Net(const std::string& spec,
                                  const TraceModel& m) {
  auto n = MakeNetworkModel(spec, m.network_context);
  EXPECT_TRUE(n.ok()) << n.status();
  return *std::move(n);
}

TEST(TraceModel, CostsAndCalibration) {
  TraceModel m = Model(HandTrace());
  EXPECT_EQ(m.num_steps(), 8);
  EXPECT_EQ(m.world_size, 2);
  EXPECT_EQ(m.recorded_sets.size(), 1u);
  EXPECT_EQ(m.steps[0].loss_forward_ns, 5);
  EXPECT_EQ(m.steps[0].accumulate_ns, 7);
  EXPECT_EQ(m.steps[1].interval_ns, 2000);
  EXPECT_EQ(m.steps[0].other_ns, 3);
  // Measured over profiled: (110 + 11) / (100 + 10) and (220 + 33) / (200 +
  // 30).
  EXPECT_DOUBLE_EQ(m.forward_calibration, 1.1);
  EXPECT_DOUBLE_EQ(m.backward_calibration, 1.1);
  // body's no-grad forward was never run: 80 · 1.1.
  EXPECT_EQ(m.fallback_forward_ns[0 * kForwardCosted + 1], 88);
  EXPECT_EQ(m.fallback_forward_source[0 * kForwardCosted + 1],
            CostSource::kProfile);
  EXPECT_EQ(m.fallback_forward_ns[0 * kForwardCosted + 0], 110);
  EXPECT_EQ(m.fallback_forward_source[0 * kForwardCosted + 0],
            CostSource::kOtherSteps);
  // fc without input gradient: 20 · 1.1.
  EXPECT_EQ(m.fallback_backward_ns[1 * kBackwardStates + 1], 22);
  // Interval compute = 2000 - the recorded all-reduce of 4400 bytes (1000).
  EXPECT_EQ(m.interval_compute_ns[0], 1000);
  EXPECT_EQ(m.measured_total_ns, 4 * 1552 + 4 * 3552);
}

TEST(SimulateTiming, StaticOneOnARing) {
  TraceModel m = Model(HandTrace());
  auto schedule = ComputeSchedule(m, "static:1", "");
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
  EXPECT_DOUBLE_EQ(schedule->accuracy_risk, 64.0 / 68.0);
  EXPECT_FALSE(schedule->accuracy_risk_partial);
}

TEST(SimulateTiming, OwnConfigurationOnTheRecordedNetwork) {
  TraceModel m = Model(HandTrace());
  auto schedule = ComputeSchedule(m, m.policy, m.vote_rule);
  ASSERT_TRUE(schedule.ok());
  EXPECT_TRUE(schedule->same_as_recorded);
  auto r = SimulateTiming(m, *schedule, *Net("recorded", m), {});
  ASSERT_TRUE(r.ok());
  // Everything measured but the exposed comm: one 4400-byte bucket ready
  // at the end of backward (253), 1000 ns on the recorded network: 1000
  // exposed instead of the measured 50, in each of 8 steps. Interval work
  // is the measured 2000 (1000 compute + 1000 all-reduce).
  EXPECT_EQ(r->phases.total_ns, m.measured_total_ns + 8 * 950);
  EXPECT_EQ(r->phases.stats_ns, 8 * 7 + 4 * 2000);
  EXPECT_EQ(r->cost_by_source[static_cast<int>(CostSource::kSameStep)],
            8 * (110 + 11 + 220 + 33));
}

TEST(SimulateTiming, OneRankHasNoCommunication) {
  TraceModel m = Model(HandTrace());
  auto schedule = ComputeSchedule(m, "none", "");
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
  TraceModel m = Model(HandTrace());
  auto schedule = ComputeSchedule(m, "none", "");
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

TEST(SimulateTiming, Deterministic) {
  trace::SyntheticTraceOptions o;
  o.freeze_every_intervals = 0;
  trace::TraceContents t = trace::ReadTraceFromBytes(
      trace::EncodeTrace(trace::MakeSyntheticTrace(o)));
  TraceModel m = Model(t);
  for (const char* policy :
       {"none", "static:3", "gradnorm", "freezeout", "apf"}) {
    auto s1 = ComputeSchedule(m, policy, "majority");
    auto s2 = ComputeSchedule(m, policy, "majority");
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
  TraceModel m = Model(HandTrace(/*frozen_from=*/4));
  // The recorded policy reproduces the recorded schedule: exact.
  auto own = ComputeSchedule(m, m.policy, "");
  ASSERT_TRUE(own.ok()) << own.status();
  EXPECT_TRUE(own->same_as_recorded);
  EXPECT_FALSE(own->extrapolated_from_step.has_value());
  auto events = ReplayRecordedPolicy(m);
  ASSERT_TRUE(events.ok());
  ASSERT_EQ(events->size(), 1u);
  EXPECT_EQ((*events)[0].step(), 4);
  // none keeps training body after step 4: no statistics, no timings.
  auto none = ComputeSchedule(m, "none", "");
  ASSERT_TRUE(none.ok());
  ASSERT_TRUE(none->extrapolated_from_step.has_value());
  EXPECT_EQ(*none->extrapolated_from_step, 4);
  auto r = SimulateTiming(m, *none, *Net("recorded", m), {});
  ASSERT_TRUE(r.ok());
  // body's cost after step 4 comes from the steps that ran it.
  EXPECT_EQ(r->cost_by_source[static_cast<int>(CostSource::kOtherSteps)],
            4 * (110 + 220 + 33));
  // Freezing earlier is exact: static:1 froze body where the run trained it.
  auto early = ComputeSchedule(m, "static:1", "");
  ASSERT_TRUE(early.ok());
  EXPECT_FALSE(early->extrapolated_from_step.has_value());
  // Its risk counts only what was measured, and says so.
  EXPECT_TRUE(early->accuracy_risk_partial);
  EXPECT_DOUBLE_EQ(early->accuracy_risk, 12.0 / 16.0);
}

TEST(Schedule, RebuildsStatisticsOfTheReplayedSchedule) {
  TraceModel m = Model(HandTrace());
  // body frozen in intervals 2 and 3 by the replayed schedule.
  std::vector<std::vector<bool>> trained = {
      {true, true}, {true, true}, {false, true}, {false, true}};
  bool incomplete = false;
  auto same = RebuildIntervalStats(m, 1, trained, &incomplete);
  EXPECT_EQ(same, nullptr);  // intervals 0 and 1 match the recording
  auto at2 = RebuildIntervalStats(m, 2, trained, &incomplete);
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
  auto at3 = RebuildIntervalStats(m, 3, trained, &incomplete);
  ASSERT_NE(at3, nullptr);
  EXPECT_EQ(at3->global[0].l2[1], 0.0);
  EXPECT_EQ(at3->global[0].trained_steps[1], 0);
  EXPECT_FALSE(incomplete);
  // Training where the recorded run had not cannot be rebuilt.
  TraceModel frozen = Model(HandTrace(/*frozen_from=*/4));
  std::vector<std::vector<bool>> all(4, {true, true});
  auto at3b = RebuildIntervalStats(frozen, 3, all, &incomplete);
  ASSERT_NE(at3b, nullptr);
  EXPECT_TRUE(incomplete);
}

TEST(SimulateTiming, CacheFillsInTheFirstEpochAndHitsAfter) {
  TraceModel m = Model(HandTrace());
  auto schedule = ComputeSchedule(m, "static:1", "");
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
  TraceModel m = Model(HandTrace());
  // Frozen from step 4, the first step of the last epoch: every sample of
  // that epoch is a miss (forward + write); nothing is seen twice.
  auto late = ComputeSchedule(m, "static:1,at=4", "");
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
  TraceModel m = Model(t);
  auto schedule = ComputeSchedule(m, "static:1", "");
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

TEST(SimulateTiming, NoProfileNoGuess) {
  TraceModel m = Model(HandTrace(-1, /*profile=*/false));
  auto schedule = ComputeSchedule(m, "static:1", "");
  ASSERT_TRUE(schedule.ok());
  auto r = SimulateTiming(m, *schedule, *Net("1gbe", m), {});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(r.status().message().find("no-grad forward"), std::string::npos)
      << r.status();
}

TEST(TraceModel, RejectsTracesThatCannotBeReplayed) {
  trace::TraceContents gap = HandTrace();
  gap.steps[3].set_step(7);
  EXPECT_EQ(TraceModel::Create(gap).status().code(),
            absl::StatusCode::kInvalidArgument);
  trace::TraceContents shape = HandTrace();
  shape.steps[2].add_trainable(true);
  auto s = TraceModel::Create(shape);
  EXPECT_EQ(s.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(s.status().message().find("step 2"), std::string::npos);
  trace::TraceContents cut = HandTrace();
  cut.status = absl::DataLossError("bad checksum at byte 99");
  auto c = TraceModel::Create(cut);
  EXPECT_EQ(c.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_NE(c.status().message().find("--allow_partial"), std::string::npos);
  EXPECT_TRUE(TraceModel::Create(cut, /*allow_partial=*/true).ok());
  trace::TraceContents none;
  EXPECT_FALSE(TraceModel::Create(none).ok());
}

}  // namespace
}  // namespace freezing::sim
