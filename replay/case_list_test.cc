#include "replay/case_list.h"

#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "sim/cost_model.h"
#include "trace/synthetic_trace.h"
#include "trace/trace_reader.h"

namespace freezing::replay {
namespace {

using Strings = std::vector<std::string>;

TEST(SplitSpecList, OptionsStayWithTheirSpec) {
  struct Case {
    std::string text;
    Strings want;
  };
  const Case cases[] = {
      {"none", {"none"}},
      {"none,static:3", {"none", "static:3"}},
      {"gradnorm:interval=20,norm=l1,static:3",
       {"gradnorm:interval=20,norm=l1", "static:3"}},
      {"ring:alpha_us=30,gbps=10,1gbe", {"ring:alpha_us=30,gbps=10", "1gbe"}},
      {" a , b ;c:x=1,y=2", {"a", "b", "c:x=1,y=2"}},
      {"static:1,at=40", {"static:1,at=40"}},
      {"apf@loss,autofreeze:percentile=30@snr",
       {"apf@loss", "autofreeze:percentile=30@snr"}},
  };
  for (const Case& c : cases) {
    auto got = SplitSpecList(c.text, "policies");
    ASSERT_TRUE(got.ok()) << c.text << ": " << got.status();
    EXPECT_EQ(*got, c.want) << c.text;
  }
}

TEST(SplitSpecList, Errors) {
  for (const char* bad : {"", "none,,static:3", "norm=l1", "a;x=1", ","}) {
    auto got = SplitSpecList(bad, "policies");
    EXPECT_FALSE(got.ok()) << bad;
    EXPECT_NE(got.status().message().find("--policies"), std::string::npos);
  }
}

sim::CostModel SyntheticModel(int units) {
  trace::SyntheticTraceOptions o;
  o.units = units;
  o.freeze_every_intervals = 0;
  auto m = sim::FitTrace(trace::ReadTraceFromBytes(
      trace::EncodeTrace(trace::MakeSyntheticTrace(o))));
  EXPECT_TRUE(m.ok()) << m.status();
  return *std::move(m);
}

TEST(ParsePolicies, AllExpandsEveryPolicy) {
  const sim::CostModel m = SyntheticModel(5);  // 4 freezable units
  auto cases = ParsePolicies("all", m);
  ASSERT_TRUE(cases.ok());
  Strings specs;
  for (const PolicyCase& c : *cases) {
    specs.push_back(c.spec);
    EXPECT_EQ(c.given, c.spec);
    EXPECT_EQ(c.vote_rule, "");
  }
  EXPECT_EQ(specs,
            (Strings{"none", "static:1", "static:2", "static:3", "static:4",
                     "gradnorm", "gradnorm:variant=prefix", "autofreeze",
                     "threshold", "freezeout", "pipetransformer", "apf"}));
}

TEST(ParsePolicies, VoteRules) {
  const sim::CostModel m = SyntheticModel(5);
  auto cases = ParsePolicies("gradnorm:interval=20@majority,none", m);
  ASSERT_TRUE(cases.ok());
  ASSERT_EQ(cases->size(), 2u);
  EXPECT_EQ((*cases)[0].given, "gradnorm:interval=20@majority");
  EXPECT_EQ((*cases)[0].spec, "gradnorm:interval=20");
  EXPECT_EQ((*cases)[0].vote_rule, "majority");
  EXPECT_EQ((*cases)[1].vote_rule, "");
  EXPECT_FALSE(ParsePolicies("gradnorm@", m).ok());
  EXPECT_FALSE(ParsePolicies("@snr", m).ok());
}

TEST(ParseWorldSizes, IntegersOrRecorded) {
  auto w = ParseWorldSizes("2,8, 32,recorded");
  ASSERT_TRUE(w.ok());
  EXPECT_EQ(*w, (std::vector<int>{2, 8, 32, 0}));
  for (const char* bad : {"", "0", "-2", "two", "8,", "2000000", "1.5"}) {
    auto got = ParseWorldSizes(bad);
    EXPECT_FALSE(got.ok()) << bad;
    EXPECT_NE(got.status().message().find("valid"), std::string::npos) << bad;
  }
}

TEST(ParseFoldFrozen, RecordedTrueFalse) {
  auto r = ParseFoldFrozen("recorded");
  ASSERT_TRUE(r.ok());
  EXPECT_FALSE(r->has_value());
  auto t = ParseFoldFrozen("true");
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(*t, std::optional<bool>(true));
  auto f = ParseFoldFrozen("false");
  ASSERT_TRUE(f.ok());
  EXPECT_EQ(*f, std::optional<bool>(false));
  auto bad = ParseFoldFrozen("yes");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("valid: recorded, true, false"),
            std::string::npos);
}

}  // namespace
}  // namespace freezing::replay
