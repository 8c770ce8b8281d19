#include "train/policy_reach.h"

#include "gtest/gtest.h"

namespace freezing::train {
namespace {

struct Case {
  const char* spec;
  int64_t start, total, interval, warmup;
  int64_t decisions;
  bool warning;
};

class PolicyReachTest : public ::testing::TestWithParam<Case> {};

TEST_P(PolicyReachTest, CountsTheDecisionsThatCanChangeAStep) {
  const Case& c = GetParam();
  const PolicyReach r =
      DescribePolicyReach(c.spec, c.start, c.total, c.interval, c.warmup, 20);
  EXPECT_EQ(r.decisions, c.decisions);
  EXPECT_EQ(r.warning, c.warning) << r.note;
}

INSTANTIATE_TEST_SUITE_P(
    Cases, PolicyReachTest,
    ::testing::Values(
        // The run: 8 steps, decisions every 20.
        Case{"gradnorm", 0, 8, 20, 0, 0, true},
        // A decision at the last step changes no step.
        Case{"gradnorm", 0, 20, 20, 0, 0, true},
        Case{"gradnorm", 0, 21, 20, 0, 1, false},
        Case{"autofreeze:interval=40", 0, 200, 40, 0, 4, false},
        // Warmup moves the first decision.
        Case{"gradnorm:warmup=120", 0, 186, 20, 120, 4, false},
        Case{"gradnorm:warmup=200", 0, 186, 20, 200, 0, true},
        // A resumed run counts its own steps only.
        Case{"gradnorm", 100, 130, 20, 0, 1, false},
        Case{"gradnorm", 100, 110, 20, 0, 0, true},
        // Policies that decide nothing during a run get no note.
        Case{"none", 0, 8, 20, 0, 0, false},
        Case{"static:3", 0, 8, 20, 0, 0, false}));

TEST(PolicyReachTest, NotesSayWhatToChange) {
  const PolicyReach r = DescribePolicyReach("gradnorm", 0, 8, 20, 0, 20);
  EXPECT_NE(r.note.find("no decision"), std::string::npos) << r.note;
  EXPECT_NE(r.note.find("--stats_interval=20"), std::string::npos) << r.note;
  EXPECT_TRUE(DescribePolicyReach("none", 0, 8, 20, 0, 20).note.empty());
  const PolicyReach ok = DescribePolicyReach("gradnorm", 0, 100, 20, 0, 20);
  EXPECT_NE(ok.note.find("4 decision(s)"), std::string::npos) << ok.note;
}

}  // namespace
}  // namespace freezing::train
