#include "sim/network.h"

#include <cstdio>
#include <string>

#include "comm/calibration.h"
#include "gtest/gtest.h"

namespace freezing::sim {
namespace {

std::unique_ptr<NetworkModel> Make(const std::string& spec,
                                   const NetworkContext& context = {}) {
  auto m = MakeNetworkModel(spec, context);
  EXPECT_TRUE(m.ok()) << spec << ": " << m.status();
  return m.ok() ? *std::move(m) : nullptr;
}

TEST(Ring, AlphaBetaFormula) {
  auto m = Make("ring:alpha_us=30,gbps=10");
  ASSERT_NE(m, nullptr);
  EXPECT_EQ(m->spec(), "ring:alpha_us=30,gbps=10");
  // p = 4, n = 1e6 bytes: 2·3·30 us + 2·3/4·1e6·0.8 ns = 180 us + 1.2 ms.
  EXPECT_EQ(m->AllReduceNs(1000000, 4), 180000 + 1200000);
  EXPECT_EQ(m->AllReduceNs(1000000, 1), 0);
  EXPECT_EQ(m->AllReduceNs(0, 8), 0);
  // p = 2: 2·30 us + 1e6·0.8 ns.
  EXPECT_EQ(m->AllReduceNs(1000000, 2), 60000 + 800000);
}

TEST(Tree, LogarithmicHops) {
  auto m = Make("tree:alpha_us=10,gbps=8");  // 1 ns per byte
  ASSERT_NE(m, nullptr);
  EXPECT_EQ(m->AllReduceNs(1000, 2), 2 * (10000 + 1000));
  EXPECT_EQ(m->AllReduceNs(1000, 8), 6 * (10000 + 1000));
  EXPECT_EQ(m->AllReduceNs(1000, 5), 6 * (10000 + 1000));  // ceil(log2 5) = 3
}

TEST(ParameterServer, ShardLinkIsTheBottleneck) {
  auto m = Make("ps:servers=2,alpha_us=0,gbps=8");
  ASSERT_NE(m, nullptr);
  // 8 workers, 2 shards: each shard carries 4n both ways.
  EXPECT_EQ(m->AllReduceNs(1000, 8), 2 * 4 * 1000);
  // As many shards as workers: the worker's own link, n each way.
  auto wide = Make("ps:servers=8,alpha_us=0,gbps=8");
  EXPECT_EQ(wide->AllReduceNs(1000, 8), 2 * 1000);
  EXPECT_EQ(wide->AllReduceNs(1000, 2), 2 * 1000);
}

TEST(Hierarchical, IntraThenInter) {
  auto m = Make(
      "hier:ranks_per_node=4,intra_alpha_us=1,intra_gbps=80,"
      "inter_alpha_us=10,inter_gbps=8");
  ASSERT_NE(m, nullptr);
  // p = 8: G = 4, N = 2; n = 4000 bytes.
  // intra: 2·3·1 us + 2·3/4·4000·0.1 ns = 6000 + 600
  // inter: 2·1·10 us + 2·1/2·1000·1 ns = 20000 + 1000
  EXPECT_EQ(m->AllReduceNs(4000, 8), 6000 + 600 + 20000 + 1000);
  // One node.
  EXPECT_EQ(m->AllReduceNs(4000, 2), 2000 + 400);
  EXPECT_TRUE(m->CheckWorldSize(12).ok());
  EXPECT_TRUE(m->CheckWorldSize(3).ok());
  const absl::Status bad = m->CheckWorldSize(6);
  EXPECT_EQ(bad.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(bad.message().find("multiple of 4"), std::string::npos) << bad;
}

TEST(Presets, NamedAndDocumented) {
  for (const NetworkPreset& p : NetworkPresets()) {
    auto m = Make(p.name);
    ASSERT_NE(m, nullptr);
    EXPECT_EQ(m->spec(), p.name);
    auto same = Make(p.spec);
    EXPECT_EQ(m->AllReduceNs(25 << 20, 8), same->AllReduceNs(25 << 20, 8));
    EXPECT_FALSE(p.description.empty());
  }
  // Faster networks are faster.
  const int64_t n = 25 << 20;
  EXPECT_GT(Make("1gbe")->AllReduceNs(n, 4), Make("10gbe")->AllReduceNs(n, 4));
  EXPECT_GT(Make("10gbe")->AllReduceNs(n, 4), Make("25gbe")->AllReduceNs(n, 4));
  EXPECT_GT(Make("25gbe")->AllReduceNs(n, 4), Make("ib100")->AllReduceNs(n, 4));
  // 1gbe, 2 ranks, 100 MB: about 0.85 s (100e6 · 8 / 0.94e9).
  EXPECT_NEAR(Make("1gbe")->AllReduceNs(100000000, 2) * 1e-9, 0.851, 0.001);
}

TEST(Recorded, InterpolatesMeasurementsAndScalesWithTheLibrarysAlgorithm) {
  NetworkContext c;
  c.recorded_world_size = 2;
  // t = 20 us + 1 ns/byte, exactly.
  c.recorded = {{1000, 21000}, {1000000, 1020000}, {2000000, 2020000}};
  auto m = Make("recorded", c);
  ASSERT_NE(m, nullptr);
  EXPECT_EQ(m->AllReduceNs(1000, 2), 21000);
  EXPECT_EQ(m->AllReduceNs(1000000, 2), 1020000);
  EXPECT_EQ(m->AllReduceNs(1500000, 2), 1520000);
  EXPECT_EQ(m->AllReduceNs(3000000, 2), 3020000);  // slope 1 ns/byte
  // Below the smallest point: towards the fitted latency (20 us here).
  EXPECT_EQ(m->AllReduceNs(500, 2), 20500);
  // MPICH (the default: the run did not pin a ring): at p=2 two steps and
  // one vector, so alpha = 10 us, beta = 1 ns/B. Four ranks: 4 steps and
  // 1.5 vectors: 40 us + 1.5 ms. Three: 4 steps and 3 vectors (the extra
  // rank's whole-vector exchanges): 40 us + 3 ms.
  EXPECT_EQ(m->AllReduceNs(1000000, 4), 1540000);
  EXPECT_EQ(m->AllReduceNs(1000000, 3), 3040000);
  EXPECT_EQ(m->AllReduceNs(1000000, 1), 0);
  // A run that pinned the ring scales with the ring: a = 20 us -> alpha =
  // 10 us; ring at 4 / ring at 2 for 1 MB: (60 us + 1.5 ms) / (20 us + 1 ms).
  c.recorded_algorithm = "ring";
  auto ring = Make("recorded", c);
  ASSERT_NE(ring, nullptr);
  EXPECT_EQ(ring->AllReduceNs(1000000, 4), 1560000);
  EXPECT_EQ(ring->AllReduceNs(1000000, 3), 1373333);  // 40 us + 4/3 ms
  // And the spec can say which, whatever the run did.
  auto forced = Make("recorded:algorithm=mpich", c);
  ASSERT_NE(forced, nullptr);
  EXPECT_EQ(forced->spec(), "recorded:algorithm=mpich");
  EXPECT_EQ(forced->AllReduceNs(1000000, 3), 3040000);
  EXPECT_FALSE(MakeNetworkModel("recorded:algorithm=tree", c).ok());
}

TEST(Hosts, TheSlowestLinkInUseSetsTheRate) {
  auto m = Make("hosts:gbps=1/1/0.25,alpha_us=0");
  ASSERT_NE(m, nullptr);
  EXPECT_EQ(m->spec(), "hosts:gbps=1/1/0.25,alpha_us=0,algorithm=mpich");
  const int64_t n = 1000000;                      // 8 ms at 1 Gbit/s
  EXPECT_EQ(m->AllReduceNs(n, 2), 8000000);       // hosts 1, 2: 1 Gbit/s
  EXPECT_EQ(m->AllReduceNs(n, 3), 3 * 32000000);  // host 3 at a quarter
  EXPECT_EQ(m->AllReduceNs(n, 4), 3 * 16000000);  // 1.5 vectors, slow link
  auto ring = Make("hosts:gbps=1/1/0.25,alpha_us=0,algorithm=ring");
  EXPECT_EQ(ring->AllReduceNs(n, 3), 42666667);  // 4/3 vectors at 0.25
  EXPECT_FALSE(MakeNetworkModel("hosts:gbps=1/x,alpha_us=0", {}).ok());
  EXPECT_FALSE(MakeNetworkModel("hosts:gbps=1/1", {}).ok());  // alpha_us
}

TEST(Mpich, TheLibrarysAlgorithmAgainstTheRing) {
  auto m = Make("mpich:alpha_us=50,gbps=0.94");
  ASSERT_NE(m, nullptr);
  EXPECT_EQ(m->spec(), "mpich:alpha_us=50,gbps=0.94");
  const int64_t n = 25 << 20;
  const double beta = 8.0 / 0.94e9;
  // p=2 and p=4 move the ring's bytes with fewer steps; p=3 2.25x them.
  EXPECT_NEAR(m->AllReduceNs(n, 2) * 1e-9, 2 * 50e-6 + n * beta, 1e-9);
  EXPECT_NEAR(m->AllReduceNs(n, 3) * 1e-9, 4 * 50e-6 + 3.0 * n * beta, 1e-9);
  EXPECT_NEAR(m->AllReduceNs(n, 4) * 1e-9, 4 * 50e-6 + 1.5 * n * beta, 1e-9);
  auto ring = Make("ring:alpha_us=50,gbps=0.94");
  EXPECT_GT(m->AllReduceNs(n, 3), 2 * ring->AllReduceNs(n, 3));
}

TEST(Recorded, NeedsMeasurements) {
  NetworkContext c;
  auto m = MakeNetworkModel("recorded", c);
  EXPECT_EQ(m.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(m.status().message().find("1gbe"), std::string::npos);
}

TEST(Calibration, ReadsACalibrateFile) {
  comm::Calibration cal;
  cal.set_world_size(2);
  cal.set_alpha_s(20e-6);
  cal.set_beta_s_per_byte(1e-9);
  cal.set_fit("absolute");
  const std::string path =
      std::string(std::getenv("TEST_TMPDIR") ? std::getenv("TEST_TMPDIR")
                                             : "/tmp") +
      "/calibration.json";
  ASSERT_TRUE(comm::WriteCalibration(cal, path).ok());
  auto m = Make("calibration:" + path);
  ASSERT_NE(m, nullptr);
  EXPECT_EQ(m->AllReduceNs(1000000, 4), 120000 + 1500000);
  // A set: p=2 and p=4 measured (mpich), blocking and not.
  std::vector<comm::Calibration> set;
  for (int p : {2, 4}) {
    for (const char* op : {"allreduce", "iallreduce"}) {
      comm::Calibration c;
      c.set_world_size(p);
      c.set_alpha_s(p * 10e-6);
      c.set_beta_s_per_byte(std::string(op) == "iallreduce" ? 2e-9 : 1e-9);
      c.set_algorithm("mpich");
      c.set_operation(op);
      set.push_back(c);
    }
  }
  const std::string set_path = path + ".set";
  ASSERT_TRUE(comm::WriteCalibrations(set, set_path).ok());
  NetworkContext context;  // buckets non-blocking: iallreduce entries
  auto s = Make("calibration:" + set_path, context);
  ASSERT_NE(s, nullptr);
  // p=4 measured: 4 steps of 40 us + 1.5 MB of 2 ns.
  EXPECT_EQ(s->AllReduceNs(1000000, 4), 160000 + 3000000);
  // p=3 between 2 and 4: the smaller, p=2's alpha 20 us and beta, at p=3.
  EXPECT_EQ(s->AllReduceNs(1000000, 3), 80000 + 6000000);
  // p=8: the nearest, p=4's fit.
  EXPECT_EQ(s->AllReduceNs(1000000, 8), 6 * 40000 + 3500000);
  context.nonblocking_buckets = false;  // comm mode sync: blocking entries
  auto blocking = Make("calibration:" + set_path, context);
  EXPECT_EQ(blocking->AllReduceNs(1000000, 4), 160000 + 1500000);
  auto missing = MakeNetworkModel("calibration:/nonexistent/cal.json", {});
  EXPECT_FALSE(missing.ok());
  EXPECT_NE(missing.status().message().find("/nonexistent/cal.json"),
            std::string::npos);
}

TEST(Specs, ErrorsNameTheProblemAndTheValidChoices) {
  struct Case {
    const char* spec;
    const char* expect;
  };
  const Case cases[] = {
      {"", "valid networks"},
      {"ethernet", "unknown model 'ethernet'"},
      {"ethernet", "1gbe"},
      {"ring:alpha_us=30", "missing gbps"},
      {"ring:alpha_us=30,gbps=10,mtu=9000", "unknown key 'mtu'"},
      {"ring:alpha_us=-1,gbps=10", "alpha_us=-1"},
      {"ring:alpha_us=1,gbps=0", "gbps=0"},
      {"ring:alpha_us=1,gbps=ten", "gbps=ten"},
      {"ring:alpha_us=1,alpha_us=2,gbps=1", "given twice"},
      {"ps:alpha_us=1,gbps=1", "missing servers"},
      {"ps:servers=0,alpha_us=1,gbps=1", "servers=0"},
      {"hier:ranks_per_node=4", "missing intra_alpha_us"},
      {"ring:30", "not key=value"},
      {"calibration", "calibration:FILE"},
  };
  for (const Case& c : cases) {
    auto m = MakeNetworkModel(c.spec, {});
    ASSERT_FALSE(m.ok()) << c.spec;
    EXPECT_NE(m.status().message().find(c.expect), std::string::npos)
        << c.spec << ": " << m.status();
  }
}

TEST(Specs, CanonicalFormRoundTrips) {
  auto m = Make(" tree:gbps=2.5,alpha_us=7 ");
  ASSERT_NE(m, nullptr);
  EXPECT_EQ(m->spec(), "tree:alpha_us=7,gbps=2.5");
  auto again = Make(m->spec());
  EXPECT_EQ(again->AllReduceNs(12345, 16), m->AllReduceNs(12345, 16));
}

TEST(WorldSize, Limits) {
  auto m = Make("1gbe");
  EXPECT_TRUE(m->CheckWorldSize(1).ok());
  EXPECT_TRUE(m->CheckWorldSize(4096).ok());
  EXPECT_FALSE(m->CheckWorldSize(0).ok());
  EXPECT_FALSE(m->CheckWorldSize(-3).ok());
}

}  // namespace
}  // namespace freezing::sim
