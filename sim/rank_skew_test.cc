// Stragglers and jitter: a neutral straggler changes nothing, a slow rank
// on the hand-built trace (hand_trace.h) makes rank 0 wait exactly as the
// arithmetic in the comments says, jitter is deterministic and costs the
// expected maximum over ranks, and bad input names the valid values.
#include "sim/rank_skew.h"

#include <memory>
#include <string>

#include "gtest/gtest.h"
#include "sim/cost_model.h"
#include "sim/hand_trace.h"
#include "sim/network.h"
#include "sim/schedule.h"
#include "sim/simulator.h"
#include "trace/trace_reader.h"

namespace freezing::sim {
namespace {

struct Fixture {
  CostModel model = *FitTrace(HandTrace());
  FreezeSchedule schedule = *ComputeSchedule(model.run(), "none", "");

  TimingResult Run(const std::string& network, RankSkewOptions skew,
                   int world_size = 0, int64_t timeline = 0) const {
    auto net = MakeNetworkModel(network, model.network_context());
    EXPECT_TRUE(net.ok()) << net.status();
    TimingOptions o;
    o.world_size = world_size;
    o.skew = skew;
    o.timeline_steps = timeline;
    auto t = SimulateTiming(model, schedule, **net, o);
    EXPECT_TRUE(t.ok()) << t.status();
    return *std::move(t);
  }
};

RankSkewOptions Straggle(int rank, double factor) {
  RankSkewOptions o;
  o.stragglers = {{rank, factor}};
  return o;
}

TEST(RankSkew, ANeutralStragglerChangesNothing) {
  Fixture f;
  for (const char* net : {"recorded", "ring:alpha_us=0,gbps=8",
                          "ring:alpha_us=1,gbps=1,overlap=0.3"}) {
    const TimingResult plain = f.Run(net, {});
    const TimingResult neutral = f.Run(net, Straggle(1, 1.0));
    EXPECT_EQ(neutral.phases.total_ns, plain.phases.total_ns) << net;
    EXPECT_EQ(neutral.phases.comm_exposed_ns, plain.phases.comm_exposed_ns);
    EXPECT_EQ(neutral.phases.stats_ns, plain.phases.stats_ns);
    EXPECT_EQ(neutral.phases.backward_ns, plain.phases.backward_ns);
  }
}

TEST(RankSkew, RankZeroWaitsForASlowRank) {
  Fixture f;
  // Per step on rank 0: data 20, forward 126, backward 253 (one 4400-byte
  // bucket, ready when backward ends), the ring's 4400 ns all-reduce,
  // optimizer 1100, other 3; odd steps: interval compute 1000 and the
  // accumulators' 4400 ns all-reduce. Rank 1 takes twice as long.
  const TimingResult t =
      f.Run("ring:alpha_us=0,gbps=8", Straggle(1, 2.0), 0, 2);
  ASSERT_EQ(t.timeline.size(), 2u);
  // Step 0: rank 1's bucket is ready at 2 · (146 + 253) = 798, rank 0's at
  // 399: the all-reduce ends at 798 + 4400 = 5198; rank 0 waited 4799.
  // Rank 0 ends at 5198 + 1100 + 3 = 6301, rank 1 at 5198 + 2200 + 6 = 7404:
  // it starts step 1 1103 later.
  const StepTimeline& s0 = t.timeline[0];
  EXPECT_EQ(s0.backward_ns, 253);
  EXPECT_EQ(s0.comm_exposed_ns, 4799);
  EXPECT_EQ(s0.optimizer_ns, 1100);
  EXPECT_EQ(s0.data_ns + s0.forward_ns + s0.backward_ns + s0.comm_exposed_ns +
                s0.optimizer_ns + s0.stats_ns + s0.other_ns,
            6301);
  // Step 1: rank 1's bucket is ready at 1103 + 798 = 1901: done at 6301,
  // rank 0 waited 6301 - 399 = 5902. Statistics: rank 0 reaches the
  // accumulators' all-reduce at 6301 + 1100 + 1000 = 8401, rank 1 at 6301 +
  // 2200 + 2000 = 10501; done at 14901; rank 0's stats phase 14901 - 7401 =
  // 7500 (its compute 1000, waiting 2100, the all-reduce 4400).
  const StepTimeline& s1 = t.timeline[1];
  EXPECT_EQ(s1.start_ns, 6301);
  EXPECT_EQ(s1.comm_exposed_ns, 5902);
  EXPECT_EQ(s1.stats_ns, 7500);
  // Unskewed the first step takes 5902: rank 1 cost rank 0 399 ns of waiting.
  const TimingResult plain = f.Run("ring:alpha_us=0,gbps=8", {}, 0, 2);
  EXPECT_EQ(plain.timeline[1].start_ns, 5902);
}

TEST(RankSkew, JitterIsSeededAndCostsTheSlowestRank) {
  Fixture f;
  RankSkewOptions jitter;
  jitter.jitter = 0.1;
  const TimingResult a = f.Run("ring:alpha_us=0,gbps=8", jitter, 64);
  const TimingResult b = f.Run("ring:alpha_us=0,gbps=8", jitter, 64);
  EXPECT_EQ(a.phases.total_ns, b.phases.total_ns);
  jitter.seed = 2;
  const TimingResult c = f.Run("ring:alpha_us=0,gbps=8", jitter, 64);
  EXPECT_NE(a.phases.total_ns, c.phases.total_ns);
  // The slowest of 64 ranks is about 2.4 standard deviations slow: rank 0
  // waits for it in every step.
  const TimingResult plain = f.Run("ring:alpha_us=0,gbps=8", {}, 64);
  EXPECT_GT(a.phases.total_ns, plain.phases.total_ns);
  EXPECT_GT(a.phases.comm_exposed_ns, plain.phases.comm_exposed_ns);
}

TEST(RankSkew, BadInputNamesTheValidValues) {
  auto ok = ParseStragglers(" 0:1.5, 3:2");
  ASSERT_TRUE(ok.ok()) << ok.status();
  ASSERT_EQ(ok->size(), 2u);
  EXPECT_EQ((*ok)[1].rank, 3);
  EXPECT_EQ((*ok)[1].factor, 2.0);
  EXPECT_TRUE(ParseStragglers("")->empty());
  for (const char* bad : {"1", "1:0", "a:b", "-1:2", "1:inf", "1:2,1:3"}) {
    EXPECT_FALSE(ParseStragglers(bad).ok()) << bad;
  }
  EXPECT_NE(ParseStragglers("1").status().message().find("RANK:FACTOR"),
            std::string::npos);
  const absl::Status outside = CheckRankSkew(Straggle(2, 1.5), 2);
  ASSERT_FALSE(outside.ok());
  EXPECT_NE(outside.message().find("valid ranks are 0..1"), std::string::npos)
      << outside;
  RankSkewOptions negative;
  negative.jitter = -0.1;
  const absl::Status jitter = CheckRankSkew(negative, 2);
  ASSERT_FALSE(jitter.ok());
  EXPECT_NE(jitter.message().find(">= 0"), std::string::npos) << jitter;
  // The simulator refuses it too.
  Fixture f;
  auto net = MakeNetworkModel("1gbe", f.model.network_context());
  TimingOptions o;
  o.skew = Straggle(5, 2);
  EXPECT_FALSE(SimulateTiming(f.model, f.schedule, **net, o).ok());
}

}  // namespace
}  // namespace freezing::sim
