#include "freeze/spec.h"

#include <cmath>
#include <cstdlib>
#include <limits>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace freezing::freeze {
namespace {

using ::testing::HasSubstr;

TEST(ParsePolicySpecTest, SplitsNameAndOptionsInOrder) {
  auto p = ParsePolicySpec("  gradnorm: norm = l1 ,interval=50 ");
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(p->name, "gradnorm");
  EXPECT_EQ(p->text, "gradnorm: norm = l1 ,interval=50");
  ASSERT_EQ(p->options.size(), 2u);
  EXPECT_EQ(p->options[0].first, "norm");
  EXPECT_EQ(p->options[0].second, "l1");
  EXPECT_EQ(p->options[1].first, "interval");
}

TEST(ParsePolicySpecTest, PositionalFirstOption) {
  auto p = ParsePolicySpec("static:3,at=10");
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(p->options[0].first, "");
  EXPECT_EQ(p->options[0].second, "3");
}

struct BadSpec {
  std::string spec;
  std::string message;
};

class BadSpecTest : public ::testing::TestWithParam<BadSpec> {};

TEST_P(BadSpecTest, NamesTheBadPart) {
  auto p = ParsePolicySpec(GetParam().spec);
  ASSERT_FALSE(p.ok());
  EXPECT_EQ(p.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(p.status().message()), HasSubstr(GetParam().message));
}

INSTANTIATE_TEST_SUITE_P(
    Cases, BadSpecTest,
    ::testing::Values(BadSpec{"", "empty policy spec"},
                      BadSpec{"   ", "empty policy spec"},
                      BadSpec{":a=1", "missing policy name"},
                      BadSpec{"gradnorm:", "nothing after ':'"},
                      BadSpec{"gradnorm:a=1,,b=2", "empty option"},
                      BadSpec{"gradnorm:=3", "no key before '='"},
                      BadSpec{"gradnorm:a=", "'a' has no value"},
                      BadSpec{"gradnorm:a=1,a=2", "'a' given twice"},
                      BadSpec{"static:k=1,3", "option '3' is not key=value"}));

TEST(SpecOptionsTest, UnknownKeyListsValidKeys) {
  auto p = ParsePolicySpec("gradnorm:nrom=l1");
  ASSERT_TRUE(p.ok());
  auto o = SpecOptions::Create(*p, {"norm", "variant"});
  ASSERT_FALSE(o.ok());
  EXPECT_THAT(std::string(o.status().message()),
              HasSubstr("unknown key 'nrom' for policy 'gradnorm'; valid "
                        "keys: norm, variant"));
}

TEST(SpecOptionsTest, PositionalNeedsAPositionalKey) {
  auto p = ParsePolicySpec("gradnorm:3");
  ASSERT_TRUE(p.ok());
  EXPECT_FALSE(SpecOptions::Create(*p, {"norm"}).ok());
  auto o = SpecOptions::Create(*p, {"k"}, "k");
  ASSERT_TRUE(o.ok()) << o.status();
  EXPECT_EQ(*o->Int("k", 0, 0, 10), 3);
}

TEST(SpecOptionsTest, TypedGettersCheckRanges) {
  auto p = ParsePolicySpec("x:i=5,d=0.25,b=true,c=l1,bad=abc,nan=nan");
  ASSERT_TRUE(p.ok());
  auto o = SpecOptions::Create(*p, {"i", "d", "b", "c", "bad", "nan", "none"});
  ASSERT_TRUE(o.ok()) << o.status();
  EXPECT_EQ(*o->Int("i", 0, 0, 10), 5);
  EXPECT_EQ(*o->Int("none", 7, 0, 10), 7);
  EXPECT_FALSE(o->Int("i", 0, 6, 10).ok());
  EXPECT_EQ(*o->Double("d", 0, 0, 1), 0.25);
  EXPECT_FALSE(o->DoubleAboveMin("d", 0, 0.25, 1).ok());
  EXPECT_TRUE(*o->Bool("b", false));
  EXPECT_EQ(*o->Choice("c", "l2", {"l2", "l1"}), "l1");
  EXPECT_FALSE(o->Choice("bad", "l2", {"l2", "l1"}).ok());
  EXPECT_FALSE(o->Int("bad", 0, 0, 10).ok());
  EXPECT_FALSE(o->Bool("bad", false).ok());
  auto nan = o->Double("nan", 0, -1e300, 1e300);
  ASSERT_FALSE(nan.ok());
  EXPECT_THAT(std::string(nan.status().message()),
              HasSubstr("bad value 'nan' for 'nan'"));
}

TEST(FormatDoubleTest, ShortestTextThatReadsBackExactly) {
  EXPECT_EQ(FormatDouble(1.0), "1");
  EXPECT_EQ(FormatDouble(0.1), "0.1");
  EXPECT_EQ(FormatDouble(0.5), "0.5");
  EXPECT_EQ(FormatDouble(50), "50");
  EXPECT_EQ(FormatDouble(1234567), "1234567");
  EXPECT_EQ(FormatDouble(1e20), "1e+20");
  EXPECT_EQ(FormatDouble(1e-300), "1e-300");
  EXPECT_EQ(FormatDouble(std::numeric_limits<double>::infinity()), "inf");
  for (double v : {1.0 / 3, 2.0 / 3, 0.1 + 0.2, 123456.789e10, 5e-324}) {
    EXPECT_EQ(std::strtod(FormatDouble(v).c_str(), nullptr), v) << v;
  }
}

}  // namespace
}  // namespace freezing::freeze
