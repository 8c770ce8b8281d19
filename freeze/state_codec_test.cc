#include "freeze/state_codec.h"

#include <cmath>
#include <cstring>
#include <limits>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace freezing::freeze {
namespace {

using ::testing::HasSubstr;

bool SameBits(double a, double b) { return std::memcmp(&a, &b, 8) == 0; }

TEST(StateCodecTest, DoublesRoundTripBitExactly) {
  const std::vector<double> values = {0.0,
                                      -0.0,
                                      1.0,
                                      0.1,
                                      1.0 / 3,
                                      -2.5e-300,
                                      std::numeric_limits<double>::denorm_min(),
                                      std::numeric_limits<double>::max(),
                                      std::numeric_limits<double>::infinity(),
                                      -std::numeric_limits<double>::infinity(),
                                      std::numeric_limits<double>::quiet_NaN()};
  StateWriter w;
  w.AddDoubles("v", values);
  w.AddDouble("one", 0.1);
  StateReader r(w.str(), "test state");
  auto back = r.GetDoubles("v", values.size());
  ASSERT_TRUE(back.ok()) << back.status();
  for (size_t i = 0; i < values.size(); ++i) {
    EXPECT_TRUE(SameBits((*back)[i], values[i])) << i;
  }
  EXPECT_TRUE(SameBits(*r.GetDouble("one"), 0.1));
  EXPECT_TRUE(r.ExpectEnd().ok());
}

TEST(StateCodecTest, AllKindsRoundTripInOrder) {
  StateWriter w;
  w.Add("name", "gradnorm:interval=5");
  w.AddInt("n", -42);
  w.AddInts("ints", {1, -2, 3});
  w.AddInts("empty", {});
  w.AddBools("flags", {true, false, true});
  w.AddBlob("blob", "two\nlines\n");
  w.AddInt("after", 7);
  StateReader r(w.str(), "test state");
  EXPECT_EQ(*r.Get("name"), "gradnorm:interval=5");
  EXPECT_EQ(*r.GetInt("n"), -42);
  EXPECT_EQ(*r.GetInts("ints"), (std::vector<int64_t>{1, -2, 3}));
  EXPECT_TRUE(r.GetInts("empty", 0)->empty());
  EXPECT_EQ(*r.GetBools("flags", 3), (std::vector<bool>{true, false, true}));
  EXPECT_EQ(*r.GetBlob("blob"), "two\nlines\n");
  EXPECT_EQ(*r.GetInt("after"), 7);
  EXPECT_TRUE(r.ExpectEnd().ok());
}

struct Broken {
  std::string state;
  std::string message;
};

class BrokenStateTest : public ::testing::TestWithParam<Broken> {};

// Each state is read as: Get("a"), GetDoubles("d", 2), GetBlob("b"), end.
TEST_P(BrokenStateTest, IsDataLossNamingTheLine) {
  StateReader r(GetParam().state, "test state");
  absl::Status status = [&r]() -> absl::Status {
    auto a = r.Get("a");
    if (!a.ok()) return a.status();
    auto d = r.GetDoubles("d", 2);
    if (!d.ok()) return d.status();
    auto b = r.GetBlob("b");
    if (!b.ok()) return b.status();
    return r.ExpectEnd();
  }();
  ASSERT_FALSE(status.ok());
  EXPECT_EQ(status.code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(std::string(status.message()), HasSubstr(GetParam().message));
}

const char kGoodD[] = "d 2 3ff0000000000000 0000000000000000\n";

INSTANTIATE_TEST_SUITE_P(
    Cases, BrokenStateTest,
    ::testing::Values(
        Broken{"", "test state: line 1: ends where 'a' was expected"},
        Broken{"x 1\n", "expected 'a', got 'x 1'"},
        Broken{"a 1", "not terminated"},
        Broken{"a 1 2\n", "'a' needs exactly one value"},
        Broken{std::string("a 1\n") + "d 3 3ff0000000000000\n",
               "bad length or value count"},
        Broken{std::string("a 1\n") + "d 1 3ff0000000000000\n",
               "has 1 values, expected 2"},
        Broken{std::string("a 1\n") + "d 2 3ff0000000000000 zz\n",
               "bad double 'zz'"},
        Broken{std::string("a 1\n") + kGoodD + "b 10\nshort\n", "truncated"},
        Broken{std::string("a 1\n") + kGoodD + "b 2\nok\nextra\n",
               "line 5: unexpected data after the end"}));

}  // namespace
}  // namespace freezing::freeze
