#include "comm/cluster_spec.h"

#include <stdlib.h>
#include <unistd.h>

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "base/file.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace freezing::comm {
namespace {

using ::testing::HasSubstr;

ClusterSpec TwoHosts() {
  ClusterSpec spec;
  spec.name = "h";
  spec.complete = true;
  spec.options = "--hosts=2 --rate=1gbit,250mbit --burst=auto --delay_us=0";
  spec.subnet = "10.213.0.0/24";
  spec.bridge = "br-h";
  spec.bridge_address = "10.213.0.1";
  spec.hosts = {{"h1", "10.213.0.2", "vethh1", 1000000000, 250000},
                {"h2", "10.213.0.3", "vethh2", 250000000, 65536}};
  return spec;
}

TEST(ClusterSpecTest, RatesInTcUnits) {
  const struct {
    const char* text;
    int64_t bps;
  } cases[] = {
      {"1gbit", 1000000000},    {"250mbit", 250000000}, {"1.5gbit", 1500000000},
      {"64kbit", 64000},        {"999bit", 999},        {"2Gbit", 2000000000},
      {"1tbit", 1000000000000},
  };
  for (const auto& c : cases) {
    absl::StatusOr<int64_t> bps = ParseRate(c.text);
    ASSERT_TRUE(bps.ok()) << c.text << ": " << bps.status();
    EXPECT_EQ(*bps, c.bps) << c.text;
  }
}

TEST(ClusterSpecTest, RefusesBytesAndNonsense) {
  // tc's bps is bytes per second: 1gbps would be 8 Gbit/s.
  for (const char* text : {"1gbps", "1g", "gbit", "", "-1gbit", "0gbit",
                           "1.5bit", "1e9bit", "1,5gbit", "+1gbit"}) {
    absl::StatusOr<int64_t> bps = ParseRate(text);
    EXPECT_EQ(bps.status().code(), absl::StatusCode::kInvalidArgument) << text;
  }
  EXPECT_THAT(std::string(ParseRate("1gbps").status().message()),
              HasSubstr("gbit"));
}

TEST(ClusterSpecTest, FormatRateReadsBack) {
  for (int64_t bps :
       {int64_t{1000000000}, int64_t{250000000}, int64_t{1500000000},
        int64_t{64000}, int64_t{999}, int64_t{1234567}}) {
    const std::string text = FormatRate(bps);
    EXPECT_EQ(*ParseRate(text), bps) << text;
  }
  EXPECT_EQ(FormatRate(1000000000), "1gbit");
  EXPECT_EQ(FormatRate(1500000000), "1500mbit");
  EXPECT_EQ(FormatRate(999), "999bit");
}

TEST(ClusterSpecTest, TcOutputRates) {
  EXPECT_EQ(*ParseTcRate("1Gbit"), 1000000000);
  EXPECT_EQ(*ParseTcRate("250Mbit"), 250000000);
  EXPECT_EQ(*ParseTcRate("64Kbit"), 64000);
  EXPECT_FALSE(ParseTcRate("burst").ok());
}

TEST(ClusterSpecTest, Names) {
  for (const char* ok : {"h", "node", "t1234567h", "a1b"}) {
    EXPECT_TRUE(ValidateClusterName(ok).ok()) << ok;
  }
  // A trailing digit would make NAME1 ambiguous; 10 characters would not
  // leave room for vethNAME64 in 15.
  for (const char* bad : {"", "h1", "1h", "H", "a-b", "abcdefghij", "a b"}) {
    EXPECT_EQ(ValidateClusterName(bad).code(),
              absl::StatusCode::kInvalidArgument)
        << bad;
  }
}

TEST(ClusterSpecTest, StateFileRoundTrip) {
  const ClusterSpec spec = TwoHosts();
  absl::StatusOr<ClusterSpec> back = ParseClusterSpec(FormatClusterSpec(spec));
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(FormatClusterSpec(*back), FormatClusterSpec(spec));
  EXPECT_EQ(back->options, spec.options);
  ASSERT_EQ(back->hosts.size(), 2u);
  EXPECT_EQ(back->hosts[1].rate_bps, 250000000);
  EXPECT_EQ(back->hosts[1].link, "vethh2");
  EXPECT_TRUE(back->complete);
}

TEST(ClusterSpecTest, BrokenStateFileIsDataLoss) {
  for (const char* text :
       {"", "name h\n", "name h\nbridge br-h 10.0.0.1\nhost h1 x\n",
        "name h\nbridge br-h 10.0.0.1\nhost h1 a l x 1\n", "garbage\n"}) {
    EXPECT_EQ(ParseClusterSpec(text).status().code(),
              absl::StatusCode::kDataLoss)
        << text;
  }
}

class ReadClusterSpecTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = std::string(getenv("TEST_TMPDIR")) + "/state";
    ASSERT_TRUE(base::MakeDirs(ClusterStateDir(root_, "h")).ok());
  }
  std::string root_;
};

TEST_F(ReadClusterSpecTest, NoClusterNamesTheUpCommand) {
  const absl::Status s = ReadClusterSpec(root_, "zz").status();
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(s.message()),
              HasSubstr("FREEZING_CLUSTER=zz bazel run //comm:cluster -- up "
                        "--hosts=2"));
}

TEST_F(ReadClusterSpecTest, HalfUpNamesDown) {
  ClusterSpec spec = TwoHosts();
  spec.complete = false;
  ASSERT_TRUE(base::WriteFileAtomically(ClusterStateFile(root_, "h"),
                                        FormatClusterSpec(spec))
                  .ok());
  const absl::Status s = ReadClusterSpec(root_, "h").status();
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(s.message()),
              HasSubstr("bazel run //comm:cluster -- down"));
}

TEST_F(ReadClusterSpecTest, ReadsAClusterThatIsUp) {
  ASSERT_TRUE(base::WriteFileAtomically(ClusterStateFile(root_, "h"),
                                        FormatClusterSpec(TwoHosts()))
                  .ok());
  absl::StatusOr<ClusterSpec> spec = ReadClusterSpec(root_, "h");
  ASSERT_TRUE(spec.ok()) << spec.status();
  EXPECT_EQ(spec->bridge, "br-h");
}

TEST(ClusterSpecTest, NameFromEnvironment) {
  unsetenv(kClusterEnv);
  EXPECT_EQ(ClusterNameFromEnv(), "h");
  setenv(kClusterEnv, "t42h", 1);
  EXPECT_EQ(ClusterNameFromEnv(), "t42h");
  unsetenv(kClusterEnv);
  EXPECT_EQ(ClusterCommand("h", "down"), "bazel run //comm:cluster -- down");
}

}  // namespace
}  // namespace freezing::comm
