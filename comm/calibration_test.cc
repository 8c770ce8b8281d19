#include "comm/calibration.h"

#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace freezing::comm {
namespace {

using ::testing::DoubleNear;
using ::testing::HasSubstr;
using ::testing::Not;

std::vector<CalibrationPoint> Points(int p, double alpha, double beta,
                                     double noise = 0) {
  std::vector<CalibrationPoint> points;
  int k = 0;
  for (int64_t n = 4096; n <= (int64_t{64} << 20); n *= 2, ++k) {
    CalibrationPoint pt;
    pt.set_bytes(n);
    const double t = 2 * (p - 1) * alpha + 2.0 * (p - 1) / p * n * beta;
    // Deterministic +-noise, alternating.
    pt.set_median_s(t * (1 + (k % 2 == 0 ? noise : -noise)));
    pt.set_repeats(5);
    points.push_back(pt);
  }
  return points;
}

struct FitCase {
  std::string name;
  int world_size;
  FitMethod method;
  double noise;
  // Ordinary least squares cannot see a 20 us latency under 5% noise on
  // 100 ms times: that is why kRelative is the default.
  bool alpha_recoverable = true;
};

class FitTest : public ::testing::TestWithParam<FitCase> {};

TEST_P(FitTest, RecoversAlphaAndBeta) {
  const FitCase& c = GetParam();
  const double alpha = 20e-6;      // 20 us per step
  const double beta = 1 / 1.25e9;  // 10 Gbit/s
  auto fit = FitRingModel(Points(c.world_size, alpha, beta, c.noise),
                          c.world_size, c.method);
  ASSERT_TRUE(fit.ok()) << fit.status();
  const double tolerance = c.noise == 0 ? 1e-9 : 0.1;
  if (c.alpha_recoverable) {
    EXPECT_THAT(fit->alpha_s(), DoubleNear(alpha, alpha * tolerance));
    EXPECT_LE(fit->max_relative_error(), 2 * c.noise + 1e-9);
  }
  EXPECT_THAT(fit->beta_s_per_byte(), DoubleNear(beta, beta * tolerance));
  EXPECT_GE(fit->r_squared(), c.noise == 0 ? 1 - 1e-12 : 0.95);
  EXPECT_EQ(fit->world_size(), c.world_size);
  EXPECT_EQ(fit->points_size(), 15);
  EXPECT_EQ(fit->fit(), FitMethodName(c.method));
}

INSTANTIATE_TEST_SUITE_P(
    Cases, FitTest,
    ::testing::Values(FitCase{"Exact2Hybrid", 2, FitMethod::kHybrid, 0},
                      FitCase{"Exact2Relative", 2, FitMethod::kRelative, 0},
                      FitCase{"Exact2Absolute", 2, FitMethod::kAbsolute, 0},
                      FitCase{"Exact8Hybrid", 8, FitMethod::kHybrid, 0},
                      FitCase{"Noisy2Hybrid", 2, FitMethod::kHybrid, 0.05},
                      FitCase{"Noisy2Relative", 2, FitMethod::kRelative, 0.05},
                      FitCase{"Noisy4Absolute", 4, FitMethod::kAbsolute, 0.05,
                              /*alpha_recoverable=*/false}),
    [](const auto& info) { return info.param.name; });

// Times as on one host: 5 us latency per step, 0.2 ns/byte in cache and
// 0.5 ns/byte beyond 8 MiB.
std::vector<CalibrationPoint> CacheBound() {
  std::vector<CalibrationPoint> points;
  for (int64_t n = 4096; n <= (int64_t{64} << 20); n *= 2) {
    CalibrationPoint pt;
    pt.set_bytes(n);
    pt.set_median_s(10e-6 + (n <= (8 << 20) ? 0.2e-9 : 0.5e-9) * n);
    points.push_back(pt);
  }
  return points;
}

TEST(FitRingModelTest, HybridFitsLatencyAndLargeMessages) {
  auto hybrid = FitRingModel(CacheBound(), 2, FitMethod::kHybrid);
  auto relative = FitRingModel(CacheBound(), 2, FitMethod::kRelative);
  auto absolute = FitRingModel(CacheBound(), 2, FitMethod::kAbsolute);
  ASSERT_TRUE(hybrid.ok()) << hybrid.status();
  ASSERT_TRUE(relative.ok()) << relative.status();
  ASSERT_TRUE(absolute.ok()) << absolute.status();
  // The latency we put in (5 us per step), as the relative fit finds it;
  // ordinary least squares cannot (its intercept would be negative).
  EXPECT_DOUBLE_EQ(hybrid->alpha_s(), relative->alpha_s());
  EXPECT_THAT(hybrid->alpha_s(), DoubleNear(5e-6, 2e-6));
  EXPECT_EQ(absolute->alpha_s(), 0);
  // Large messages dominate the times: the hybrid explains them about as
  // well as ordinary least squares, far better than the relative fit.
  EXPECT_GE(hybrid->r_squared(), 0.95);
  EXPECT_NEAR(hybrid->r_squared(), absolute->r_squared(), 0.01);
  EXPECT_LT(relative->r_squared(), hybrid->r_squared());
}

TEST(FitRingModelTest, NeverFitsNegativeLatency) {
  // Times that only a negative intercept would fit, by every method.
  std::vector<CalibrationPoint> points;
  for (int64_t n : {1 << 20, 4 << 20, 16 << 20}) {
    CalibrationPoint pt;
    pt.set_bytes(n);
    pt.set_median_s(1e-9 * n * (1 + n / double{16 << 20}));
    points.push_back(pt);
  }
  for (FitMethod w :
       {FitMethod::kHybrid, FitMethod::kAbsolute, FitMethod::kRelative}) {
    auto fit = FitRingModel(points, 2, w);
    ASSERT_TRUE(fit.ok()) << fit.status();
    EXPECT_EQ(fit->alpha_s(), 0) << FitMethodName(w);
    EXPECT_GT(fit->beta_s_per_byte(), 0) << FitMethodName(w);
  }
}

TEST(FitRingModelTest, RejectsBadInput) {
  auto points = Points(2, 1e-5, 1e-9);
  EXPECT_EQ(FitRingModel(points, 1, FitMethod::kRelative).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(FitRingModel({points[0], points[0]}, 2, FitMethod::kRelative)
                .status()
                .code(),
            absl::StatusCode::kInvalidArgument);
  points[3].set_median_s(0);
  EXPECT_EQ(FitRingModel(points, 2, FitMethod::kRelative).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(FitMethodTest, Parses) {
  EXPECT_EQ(*ParseFitMethod("hybrid"), FitMethod::kHybrid);
  EXPECT_EQ(*ParseFitMethod("relative"), FitMethod::kRelative);
  EXPECT_EQ(*ParseFitMethod("absolute"), FitMethod::kAbsolute);
  EXPECT_THAT(std::string(ParseFitMethod("l1").status().message()),
              HasSubstr("hybrid, absolute, relative"));
}

std::string ReadText(const std::string& path) {
  std::ifstream in(path);
  return std::string((std::istreambuf_iterator<char>(in)),
                     std::istreambuf_iterator<char>());
}

std::string TempPath(const std::string& name) {
  const char* dir = std::getenv("TEST_TMPDIR");
  return std::string(dir != nullptr ? dir : "/tmp") + "/" + name;
}

TEST(CalibrationFileTest, RoundTripsThroughJson) {
  auto fit = FitRingModel(Points(2, 3e-5, 1e-9), 2, FitMethod::kRelative);
  ASSERT_TRUE(fit.ok());
  fit->add_hosts("a");
  fit->add_hosts("a");
  fit->set_ranks_per_host(2);
  fit->set_transport("default");
  const std::string path = TempPath("calibration.json");
  ASSERT_TRUE(WriteCalibration(*fit, path).ok());
  auto read = ReadCalibration(path);
  ASSERT_TRUE(read.ok()) << read.status();
  EXPECT_EQ(read->SerializeAsString(), fit->SerializeAsString());
  EXPECT_DOUBLE_EQ(RingAllReduceSeconds(*read, 1 << 20),
                   2 * 3e-5 + (1 << 20) * 1e-9);
  const std::string json = ReadText(path);
  // The .proto's names; 64-bit integers as JSON numbers.
  for (const char* field :
       {"\"world_size\": 2,", "\"alpha_s\": ", "\"beta_s_per_byte\": ",
        "\"r_squared\": ", "\"ranks_per_host\": 2,", "\"bytes\": 4096,",
        "\"bytes\": 67108864,", "\"median_s\": ", "\"repeats\": 5"}) {
    EXPECT_THAT(json, HasSubstr(field));
  }
  EXPECT_THAT(json, Not(HasSubstr("alphaS")));
  EXPECT_THAT(json, Not(HasSubstr("\"4096\"")));
}

// A file written by the calibrate binary before its JSON was snake_case
// (benchmarks/results/experiments/exp5_comm_loopback_2026-11-25/
// calibration_shm.json, written by protobuf's printer): lowerCamelCase
// names, int64 as strings.
TEST(CalibrationFileTest, ReadsFilesWrittenBefore) {
  const std::string path = "comm/testdata/calibration_camelcase.json";
  const std::string json = ReadText(path);
  ASSERT_THAT(json, HasSubstr("\"betaSPerByte\": "));
  ASSERT_THAT(json, HasSubstr("\"bytes\": \"4096\""));
  auto read = ReadCalibration(path);
  ASSERT_TRUE(read.ok()) << read.status();
  EXPECT_EQ(read->world_size(), 2);
  EXPECT_DOUBLE_EQ(read->alpha_s(), 5.5696456715779824e-07);
  EXPECT_DOUBLE_EQ(read->beta_s_per_byte(), 4.821464524486691e-10);
  EXPECT_EQ(read->fit(), "hybrid");
  ASSERT_EQ(read->points_size(), 15);
  EXPECT_EQ(read->points(0).bytes(), 4096);
  EXPECT_EQ(read->points(14).bytes(), int64_t{64} << 20);
  EXPECT_EQ(read->points(14).repeats(), 8);
  EXPECT_EQ(read->hosts_size(), 2);
  EXPECT_EQ(read->ranks_per_host(), 2);
  // Written again, it is the new style and reads back as the same message.
  const std::string again = TempPath("rewritten.json");
  ASSERT_TRUE(WriteCalibration(*read, again).ok());
  EXPECT_THAT(ReadText(again), HasSubstr("\"bytes\": 4096,"));
  auto reread = ReadCalibration(again);
  ASSERT_TRUE(reread.ok()) << reread.status();
  EXPECT_EQ(reread->SerializeAsString(), read->SerializeAsString());
}

TEST(CalibrationFileTest, ErrorsSayWhatIsWrong) {
  EXPECT_EQ(ReadCalibration(TempPath("missing.json")).status().code(),
            absl::StatusCode::kNotFound);
  const std::string garbage = TempPath("garbage.json");
  std::ofstream(garbage) << "{\"alphaS\": \"fast\"";
  EXPECT_EQ(ReadCalibration(garbage).status().code(),
            absl::StatusCode::kDataLoss);
  const std::string impossible = TempPath("impossible.json");
  std::ofstream(impossible) << "{\"worldSize\": 2, \"alphaS\": -1, "
                               "\"betaSPerByte\": 1e-9}";
  auto bad = ReadCalibration(impossible);
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(bad.status().message()), HasSubstr("alpha_s=-1"));
}

// MPICH's reduce-scatter + all-gather, by hand (calibration.h): p' the
// largest power of two <= p; 2·log2(p') steps plus 2 when p > p'; bytes
// 2(p'-1)/p' of the vector plus 2 whole vectors when p > p'.
TEST(AllReduceTermsTest, MpichByWorldSize) {
  struct Case {
    int p;
    double steps;
    double factor;
  };
  const int64_t n = 4 << 20;
  for (const Case& c : std::vector<Case>{{2, 2, 1.0},
                                         {3, 4, 3.0},
                                         {4, 4, 1.5},
                                         {5, 6, 3.5},
                                         {8, 6, 1.75},
                                         {12, 8, 3.75}}) {
    const AllReduceTerms t =
        AllReduceTermsOf(AllReduceAlgorithm::kMpich, c.p, n, false);
    EXPECT_DOUBLE_EQ(t.alpha_steps, c.steps) << "p=" << c.p;
    EXPECT_DOUBLE_EQ(t.byte_factor, c.factor) << "p=" << c.p;
  }
  // The ring, for comparison: at p=3 MPICH moves 2.25x the ring's bytes.
  const AllReduceTerms ring =
      AllReduceTermsOf(AllReduceAlgorithm::kRing, 3, n, false);
  EXPECT_DOUBLE_EQ(ring.alpha_steps, 4);
  EXPECT_DOUBLE_EQ(ring.byte_factor, 4.0 / 3);
}

TEST(AllReduceTermsTest, SmallMessagesUseRecursiveDoubling) {
  // Non-blocking: up to 2048 bytes; blocking: fewer floats than p'.
  AllReduceTerms t = AllReduceTermsOf(AllReduceAlgorithm::kMpich, 4, 2048,
                                      /*nonblocking=*/true);
  EXPECT_DOUBLE_EQ(t.alpha_steps, 2);  // log2(4) whole-vector exchanges
  EXPECT_DOUBLE_EQ(t.byte_factor, 2);
  t = AllReduceTermsOf(AllReduceAlgorithm::kMpich, 4, 2048, false);
  EXPECT_DOUBLE_EQ(t.alpha_steps, 4);  // reduce-scatter + all-gather
  EXPECT_DOUBLE_EQ(t.byte_factor, 1.5);
  t = AllReduceTermsOf(AllReduceAlgorithm::kMpich, 3, 2048, true);
  EXPECT_DOUBLE_EQ(t.alpha_steps, 3);  // log2(2) + 2
  t = AllReduceTermsOf(AllReduceAlgorithm::kMpich, 8, 16, false);  // 4 < 8
  EXPECT_DOUBLE_EQ(t.alpha_steps, 3);
  EXPECT_DOUBLE_EQ(t.byte_factor, 3);
  EXPECT_DOUBLE_EQ(
      AllReduceTermsOf(AllReduceAlgorithm::kMpich, 1, 4096, false).byte_factor,
      0);
}

TEST(FitAllReduceModelTest, RecoversMpichAlphaAndBetaAtEveryWorldSize) {
  const double alpha = 50e-6;
  const double beta = 8.5e-9;
  for (int p : {2, 3, 4, 5}) {
    for (bool nonblocking : {false, true}) {
      std::vector<CalibrationPoint> points;
      for (int64_t n = 4096; n <= (int64_t{64} << 20); n *= 2) {
        const AllReduceTerms t =
            AllReduceTermsOf(AllReduceAlgorithm::kMpich, p, n, nonblocking);
        CalibrationPoint pt;
        pt.set_bytes(n);
        pt.set_median_s(t.alpha_steps * alpha + t.byte_factor * n * beta);
        points.push_back(pt);
      }
      auto fit = FitAllReduceModel(points, p, FitMethod::kHybrid,
                                   {AllReduceAlgorithm::kMpich, nonblocking});
      ASSERT_TRUE(fit.ok()) << fit.status();
      EXPECT_THAT(fit->alpha_s(), DoubleNear(alpha, alpha * 1e-6)) << p;
      EXPECT_THAT(fit->beta_s_per_byte(), DoubleNear(beta, beta * 1e-6)) << p;
      EXPECT_EQ(fit->algorithm(), "mpich");
      EXPECT_EQ(fit->operation(), nonblocking ? "iallreduce" : "allreduce");
      // The ring fit of the same times at p=3 sees 2.25x the bandwidth cost.
      if (p == 3 && !nonblocking) {
        auto ring = FitRingModel(points, p, FitMethod::kHybrid);
        ASSERT_TRUE(ring.ok());
        EXPECT_THAT(ring->beta_s_per_byte(), DoubleNear(2.25 * beta, 1e-11));
      }
    }
  }
}

TEST(CalibrationFileTest, SetsRoundTripAndPredictAtTheirWorldSize) {
  std::vector<Calibration> set;
  for (int p : {2, 3, 4}) {
    Calibration c;
    c.set_world_size(p);
    c.set_alpha_s(40e-6 * p);
    c.set_beta_s_per_byte(1e-8);
    c.set_algorithm("mpich");
    c.set_operation("iallreduce");
    set.push_back(c);
  }
  const std::string path = TempPath("set.json");
  ASSERT_TRUE(WriteCalibrations(set, path).ok());
  auto read = ReadCalibrations(path);
  ASSERT_TRUE(read.ok()) << read.status();
  ASSERT_EQ(read->size(), 3u);
  EXPECT_EQ((*read)[1].world_size(), 3);
  // 4 steps of alpha, 3 vectors of beta at p=3.
  EXPECT_DOUBLE_EQ(AllReduceSeconds((*read)[1], 1 << 20),
                   4 * 120e-6 + 3.0 * (1 << 20) * 1e-8);
  // The single-file reader gives the first.
  auto first = ReadCalibration(path);
  ASSERT_TRUE(first.ok());
  EXPECT_EQ(first->world_size(), 2);
  // An unknown algorithm name is refused with the valid ones.
  set[0].set_algorithm("butterfly");
  ASSERT_TRUE(WriteCalibrations(set, path).ok());
  auto bad = ReadCalibrations(path);
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(bad.status().message()), HasSubstr("ring, mpich"));
}

}  // namespace
}  // namespace freezing::comm
