// Per-policy tests on hand-built statistic sequences (table-driven), the
// guards, spec errors and canonical specs, and state errors.
#include "freeze/policy.h"

#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "absl/strings/str_join.h"
#include "freeze/test_util.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace freezing::freeze {
namespace {

using ::testing::HasSubstr;
using testing::MakeContext;
using testing::MakeIntervalStats;

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr double kInf = std::numeric_limits<double>::infinity();

// One policy interval: the norms of the units (ignored for frozen units,
// which get norm 0 and trained_steps 0 as in a real run), and what the
// policy must decide.
struct Step {
  std::vector<double> l2;
  std::vector<int> freeze;
  std::vector<int> unfreeze = {};
  double progress = 0;                // 0: (i + 1) / 100
  int64_t last_step = -1;             // -1: (i + 1) * T - 1
  std::vector<double> l1 = {};        // empty: = l2
  std::vector<int64_t> trained = {};  // empty: 1 for units not frozen
  std::string reason = "";            // a substring of the decision's reason
};

struct PolicyCase {
  std::string name;
  std::string spec;
  int units;
  std::vector<int> initial;  // what Initial() freezes
  std::vector<Step> steps;
  int base_interval = 1;
  int64_t steps_per_epoch = 100;
};

void PrintTo(const PolicyCase& c, std::ostream* os) { *os << c.name; }

class PolicyCaseTest : public ::testing::TestWithParam<PolicyCase> {};

TEST_P(PolicyCaseTest, DecidesAsExpected) {
  const PolicyCase& c = GetParam();
  auto policy = MakePolicy(
      c.spec, MakeContext(c.units, c.base_interval,
                          /*max_window=*/1, 1, 1000, c.steps_per_epoch));
  ASSERT_TRUE(policy.ok()) << policy.status();
  std::vector<bool> frozen(c.units, false);
  Decision init = (*policy)->Initial();
  EXPECT_EQ(init.freeze, c.initial);
  for (int u : init.freeze) frozen[u] = true;
  for (size_t i = 0; i < c.steps.size(); ++i) {
    const Step& s = c.steps[i];
    std::vector<double> l2 = s.l2, l1 = s.l1.empty() ? s.l2 : s.l1;
    std::vector<int64_t> trained = s.trained;
    if (trained.empty()) trained.assign(c.units, 1);
    for (int u = 0; u < c.units; ++u) {
      if (frozen[u]) l2[u] = l1[u] = 0, trained[u] = 0;
    }
    const int64_t last_step =
        s.last_step >= 0 ? s.last_step : (i + 1) * c.base_interval - 1;
    const double progress = s.progress > 0 ? s.progress : (i + 1) / 100.0;
    Decision d = (*policy)->Decide(
        MakeIntervalStats(i, last_step, progress, l2, l1, trained), frozen);
    EXPECT_EQ(d.freeze, s.freeze) << "interval " << i << ": " << d.reason;
    EXPECT_EQ(d.unfreeze, s.unfreeze) << "interval " << i << ": " << d.reason;
    EXPECT_THAT(d.reason, HasSubstr(s.reason)) << "interval " << i;
    for (int u : d.freeze) frozen[u] = true;
    for (int u : d.unfreeze) frozen[u] = false;
    EXPECT_FALSE(frozen.back()) << "the classifier is never frozen";
  }
}

INSTANTIATE_TEST_SUITE_P(
    GradNorm, PolicyCaseTest,
    ::testing::Values(
        // The study's shape: the smallest eta moves down the network as
        // units settle; units freeze in prefix order, never the classifier
        // (whose eta is the smallest of all at interval 1).
        PolicyCase{"StudyShape",
                   "gradnorm",
                   4,
                   {},
                   {{{10, 10, 10, 10}, {}, {}, 0, -1, {}, {}, "only records"},
                    {{9, 5, 8, 9.5}, {0}, {}, 0, -1, {}, {}, "unit 0 eta=0.1"},
                    {{0, 4.9, 4, 9}, {1}, {}, 0, -1, {}, {}, "unit 1 eta=0.02"},
                    {{0, 0, 3.9, 8.9}, {2}},
                    {{0, 0, 0, 8.8}, {}, {}, 0, -1, {}, {}, "no active unit"}}},
        PolicyCase{"ArgminBlockedByActiveUnitBeforeIt",
                   "gradnorm",
                   4,
                   {},
                   {{{10, 10, 10, 10}, {}},
                    {{5, 9.9, 5, 10},
                     {},
                     {},
                     0,
                     -1,
                     {},
                     {},
                     "unit 0 eta=0.5 before it is active"},
                    {{4.9, 9.8, 5, 10}, {}}}},
        PolicyCase{"PrefixVariantFreezesUpToTheArgmin",
                   "gradnorm:variant=prefix",
                   4,
                   {},
                   {{{10, 10, 10, 10}, {}}, {{5, 8, 9.9, 10}, {0, 1, 2}}}},
        PolicyCase{
            "ZeroPreviousNormNeverFreezes",
            "gradnorm",
            4,
            {},
            {{{0, 10, 10, 10}, {}},
             {{1, 9.99, 5, 10}, {}, {}, 0, -1, {}, {}, "previous norm is 0"}}},
        PolicyCase{"ZeroPreviousNormStopsThePrefixVariant",
                   "gradnorm:variant=prefix",
                   4,
                   {},
                   {{{10, 0, 10, 10}, {}},
                    {{9, 1, 9.99, 10},
                     {0},
                     {},
                     0,
                     -1,
                     {},
                     {},
                     "prefix stops before unit 1 eta undefined (previous "
                     "norm is 0)"}}},
        PolicyCase{
            "NaNNormIsNotEvaluatedForTwoIntervals",
            "gradnorm",
            4,
            {},
            {{{10, 10, 5, 10}, {}},
             {{kNaN, 9.99, 5, 10}, {}, {}, 0, -1, {}, {}, "norm is nan"},
             {{9, 9.98, 5, 10}, {}, {}, 0, -1, {}, {}, "no previous interval"},
             {{8.991, 9.0, 2.5, 10}, {0}}}},
        PolicyCase{"InfiniteNormIsNotEvaluated",
                   "gradnorm",
                   3,
                   {},
                   {{{10, 10, 10}, {}},
                    {{kInf, 9.99, 10}, {}, {}, 0, -1, {}, {}, "norm is inf"}}},
        PolicyCase{"UntrainedUnitIsNotEvaluated",
                   "gradnorm",
                   4,
                   {},
                   {{{10, 10, 10, 10}, {}},
                    {{10, 9.9, 5, 10},
                     {},
                     {},
                     0,
                     -1,
                     {},
                     {0, 1, 1, 1},
                     "not trained in this interval"}}},
        PolicyCase{"L1NormOption",
                   "gradnorm:norm=l1",
                   3,
                   {},
                   {{{10, 10, 10}, {}, {}, 0, -1, {10, 10, 10}},
                    {{5, 9.9, 10}, {0}, {}, 0, -1, {9.9, 5, 10}}}},
        PolicyCase{"WarmupHoldsBackThenAllows",
                   "gradnorm:warmup=3",
                   3,
                   {},
                   {{{10, 10, 10}, {}},
                    {{9.9, 5, 10},
                     {},
                     {},
                     0,
                     -1,
                     {},
                     {},
                     "warmup: no freezing before step 3"},
                    {{9.8, 4, 10}, {0}}}},
        PolicyCase{"MaxFrozenCapsTheShareOfParameters",
                   // params 100, 200, 300, 400: unit 0 is 10%, 0+1 is 30%.
                   "gradnorm:variant=prefix,max_frozen=0.2",
                   4,
                   {},
                   {{{10, 10, 10, 10}, {}},
                    {{5, 8, 9.9, 10},
                     {0},
                     {},
                     0,
                     -1,
                     {},
                     {},
                     "max_frozen=0.2: held back [1,2]"}}}));

INSTANTIATE_TEST_SUITE_P(
    AutoFreeze, PolicyCaseTest,
    ::testing::Values(
        // etas 0.01, 0.02, 0.5, 0.005: median 0.015; unit 3 is below it but
        // not in the prefix.
        PolicyCase{"MedianFreezesThePrefixBelowIt",
                   "autofreeze",
                   5,
                   {},
                   {{{10, 10, 10, 10, 10}, {}},
                    {{9.9, 9.8, 5, 9.95, 1},
                     {0},
                     {},
                     0,
                     -1,
                     {},
                     {},
                     "threshold 0.015"},
                    // etas 0.0102, 0.02, 0.005025: unit 1 is AT the median.
                    {{0, 9.7, 4.9, 9.9, 1},
                     {},
                     {},
                     0,
                     -1,
                     {},
                     {},
                     "stops at unit 1"}}},
        PolicyCase{
            "Percentile90",
            "autofreeze:percentile=90",
            5,
            {},
            {{{10, 10, 10, 10, 10}, {}}, {{9.9, 9.8, 5, 9.95, 1}, {0, 1}}}},
        PolicyCase{
            "UsesL1ByDefault",
            "autofreeze",
            3,
            {},
            // L2 would give etas 0.5, 0.01; L1 gives 0.01, 0.5.
            {{{10, 10, 10}, {}}, {{5, 9.9, 1}, {0}, {}, 0, -1, {9.9, 5, 1}}}},
        PolicyCase{"UndefinedEtaStopsThePrefix",
                   "autofreeze:percentile=100",
                   4,
                   {},
                   {{{0, 10, 10, 10}, {}},
                    {{1, 9.9, 5, 1},
                     {},
                     {},
                     0,
                     -1,
                     {},
                     {},
                     "stops at unit 0 eta undefined"}}}));

INSTANTIATE_TEST_SUITE_P(
    Threshold, PolicyCaseTest,
    ::testing::Values(
        PolicyCase{"PatienceThenOneUnitPerInterval",
                   "threshold:tau=0.1,patience=2",
                   3,
                   {},
                   {{{10, 10, 1}, {}},
                    {{9.5, 9.5, 1}, {}, {}, 0, -1, {}, {}, "for 1 of 2"},
                    // unit 1 also qualifies, but only the first active unit
                    // is frozen.
                    {{9.0, 9.45, 1}, {0}},
                    {{0, 9.4, 1}, {1}}}},
        PolicyCase{"AnEtaAboveTauResetsTheCount",
                   "threshold:tau=0.1,patience=2",
                   3,
                   {},
                   {{{10, 10, 1}, {}},
                    {{9.5, 10, 1}, {}},
                    {{5, 10, 1}, {}, {}, 0, -1, {}, {}, "for 0 of 2"},
                    {{4.9, 10, 1}, {}},
                    {{4.85, 10, 1}, {0}}}}));

INSTANTIATE_TEST_SUITE_P(
    Schedules, PolicyCaseTest,
    ::testing::Values(
        PolicyCase{"None", "none", 3, {}, {{{1, 1, 1}, {}}, {{1, 2, 3}, {}}}},
        PolicyCase{"StaticFromTheStart",
                   "static:2",
                   4,
                   {0, 1},
                   {{{1, 1, 1, 1}, {}}, {{1, 1, 1, 1}, {}}}},
        PolicyCase{
            "StaticAtAStep",
            "static:k=2,at=15",
            4,
            {},
            {{{1, 1, 1, 1}, {}}, {{1, 1, 1, 1}, {0, 1}}, {{1, 1, 1, 1}, {}}},
            /*base_interval=*/10},
        PolicyCase{"StaticAllButTheClassifier", "static:3", 4, {0, 1, 2}, {}},
        // L = 4, t0 = 0.5: t_j = 0.5, 0.625, 0.75, 0.875.
        PolicyCase{"FreezeOutLinear",
                   "freezeout",
                   5,
                   {},
                   {{{1, 1, 1, 1, 1}, {}, {}, 0.4},
                    {{1, 1, 1, 1, 1}, {0}, {}, 0.5},
                    {{1, 1, 1, 1, 1}, {1}, {}, 0.7},
                    {{1, 1, 1, 1, 1}, {2, 3}, {}, 0.9},
                    {{1, 1, 1, 1, 1}, {}, {}, 1.0}}},
        // t0 = 0.8, cubic: t_j = 0.512, 0.614125, 0.729, 0.857375.
        PolicyCase{"FreezeOutCubic",
                   "freezeout:t0=0.8,cubic=1",
                   5,
                   {},
                   {{{1, 1, 1, 1, 1}, {}, {}, 0.5},
                    {{1, 1, 1, 1, 1}, {0}, {}, 0.6},
                    {{1, 1, 1, 1, 1}, {1, 2}, {}, 0.75},
                    {{1, 1, 1, 1, 1}, {3}, {}, 1.0}}},
        // L = 4, alpha = 0.5, 10 steps per epoch: after E epochs
        // floor(4 * (1 - 0.5^E)) = 0, 2, 3, 3 units.
        PolicyCase{"PipeTransformer",
                   "pipetransformer:alpha=0.5",
                   5,
                   {},
                   {{{1, 1, 1, 1, 1}, {}},
                    {{1, 1, 1, 1, 1},
                     {0, 1},
                     {},
                     0,
                     -1,
                     {},
                     {},
                     "1 epochs done, 2 of 4"},
                    {{1, 1, 1, 1, 1}, {}},
                    {{1, 1, 1, 1, 1}, {2}},
                    {{1, 1, 1, 1, 1}, {}},
                    {{1, 1, 1, 1, 1}, {}}},
                   /*base_interval=*/5,
                   /*steps_per_epoch=*/10}));

// ema 0.5, threshold 0.3, period 2 (+1 / *0.5). Unit 0 oscillates, unit 1
// trends down (never stable), unit 2 is the classifier.
INSTANTIATE_TEST_SUITE_P(
    Apf, PolicyCaseTest,
    ::testing::Values(PolicyCase{
        "FreezeUnfreezeAndAimdPeriods",
        "apf:ema=0.5,threshold=0.3,period=2,increase=1,decrease=0.5",
        3,
        {},
        {{{10, 10, 1}, {}},
         {{11, 9, 1}, {}},  // Delta +1: E=1, A=1, s=1
         {{10, 8, 1},
          {0},
          {},
          0,
          -1,
          {},
          {},
          "unit 0 stable 0 < 0.3, period 2"},
         {{0, 7, 1}, {}},  // frozen 1 of 2 intervals
         {{0, 6, 1},
          {},
          {0},
          0,
          -1,
          {},
          {},
          "unit 0 period of 2 intervals over"},
         {{10, 5, 1}, {}},  // after unfreezing: records only
         {{11, 4, 1}, {}},  // E=0.5, A=1: unstable at the recheck: period 1
         {{10, 3, 1}, {0}, {}, 0, -1, {}, {}, "stable 0.25 < 0.3, period 1"},
         {{0, 2, 1}, {}, {0}},  // period 1 over
         {{10, 1, 1}, {}},
         // E=0.125, A=0.75: stable at the recheck: period 1 + 1 = 2.
         {{10.5, 0.5, 1}, {0}, {}, 0, -1, {}, {}, "period 2"},
         {{0, 0.4, 1}, {}},
         {{0, 0.3, 1}, {}, {0}}}}));

// ApplyGuards on its own: params 100, 200, 300, 400 (the classifier).
struct GuardCase {
  std::string name;
  Guards guards;
  std::vector<bool> frozen;
  int64_t apply_step;
  bool keep_prefix;
  Decision proposal;
  std::vector<int> freeze;
  std::vector<int> unfreeze;
  bool zero_params = false;
};

void PrintTo(const GuardCase& c, std::ostream* os) { *os << c.name; }

class GuardTest : public ::testing::TestWithParam<GuardCase> {};

TEST_P(GuardTest, KeepsWhatTheGuardsAllow) {
  const GuardCase& c = GetParam();
  PolicyContext context = MakeContext(4);
  if (c.zero_params) {
    for (UnitInfo& u : context.units) u.params = 0;
  }
  Decision d = ApplyGuards(c.guards, context.units, c.frozen, c.apply_step,
                           c.keep_prefix, c.proposal);
  EXPECT_EQ(d.freeze, c.freeze) << d.reason;
  EXPECT_EQ(d.unfreeze, c.unfreeze) << d.reason;
}

const std::vector<bool> kNone = {false, false, false, false};

INSTANTIATE_TEST_SUITE_P(
    Cases, GuardTest,
    ::testing::Values(
        GuardCase{
            "NeverTheClassifier", {}, kNone, 0, true, {{0, 1, 3}}, {0, 1}, {}},
        GuardCase{"WarmupBlocks", {10, 1}, kNone, 9, true, {{0}}, {}, {}},
        GuardCase{"WarmupEnds", {10, 1}, kNone, 10, true, {{0}}, {0}, {}},
        GuardCase{"PrefixDropsAGap", {}, kNone, 0, true, {{0, 2}}, {0}, {}},
        GuardCase{
            "PrefixNeedsTheFirstActive", {}, kNone, 0, true, {{1}}, {}, {}},
        GuardCase{"PrefixExtendsFrozen",
                  {},
                  {true, false, false, false},
                  0,
                  true,
                  {{1}},
                  {1},
                  {}},
        GuardCase{"NoPrefixForApf", {}, kNone, 0, false, {{1}}, {1}, {}},
        GuardCase{"CapAtExactlyTheShare",
                  {0, 0.3},
                  kNone,
                  0,
                  true,
                  {{0, 1, 2}},
                  {0, 1},
                  {}},
        GuardCase{"CapBelow", {0, 0.25}, kNone, 0, true, {{0, 1, 2}}, {0}, {}},
        GuardCase{"CapZero", {0, 0}, kNone, 0, true, {{0}}, {}, {}},
        GuardCase{"CapCountsUnfreezesFirst",
                  {0, 0.5},
                  {true, true, false, false},
                  0,
                  false,
                  {{2}, {0}},
                  {2},
                  {0}},
        GuardCase{"UnfreezeOnlyFrozen",
                  {},
                  {true, false, false, false},
                  0,
                  false,
                  {{}, {0, 1}},
                  {},
                  {0}},
        GuardCase{"FreezeOnlyActiveAndKnown",
                  {},
                  {true, false, false, false},
                  0,
                  true,
                  {{0, 1, 1, 7, -1}},
                  {1},
                  {}},
        GuardCase{"CapCountsUnitsWithoutParams",
                  {0, 0.5},
                  kNone,
                  0,
                  true,
                  {{0, 1, 2}},
                  {0, 1},
                  {},
                  /*zero_params=*/true}));

// Spec errors: the message names the bad part and what would be valid.
struct SpecErrorCase {
  std::string spec;
  std::string message;
};

class SpecErrorTest : public ::testing::TestWithParam<SpecErrorCase> {};

TEST_P(SpecErrorTest, IsInvalidArgumentWithAClearMessage) {
  // T = 10 steps, W = 4.
  auto p = MakePolicy(GetParam().spec, MakeContext(5, 10, 4));
  ASSERT_FALSE(p.ok()) << GetParam().spec;
  EXPECT_EQ(p.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(p.status().message()), HasSubstr(GetParam().message));
}

INSTANTIATE_TEST_SUITE_P(
    Cases, SpecErrorTest,
    ::testing::Values(
        SpecErrorCase{"", "empty policy spec"},
        SpecErrorCase{"bogus:x=1",
                      "unknown policy 'bogus'; valid names: none, static, "
                      "gradnorm, autofreeze, threshold, freezeout, "
                      "pipetransformer, apf"},
        SpecErrorCase{"gradnorm:foo=1",
                      "unknown key 'foo' for policy 'gradnorm'; valid keys: "
                      "norm, variant, interval, warmup, max_frozen"},
        SpecErrorCase{"gradnorm:norm=l3",
                      "bad value 'l3' for 'norm': expected one of l2, l1"},
        SpecErrorCase{"gradnorm:interval=15",
                      "interval=15 is not a multiple of the statistics base "
                      "interval T=10 steps; change the policy's interval or "
                      "--stats_interval"},
        SpecErrorCase{"gradnorm:interval=50",
                      "exceeds the longest recorded window W*T=40 (W=4, "
                      "T=10); record with --stats_window >= 5"},
        SpecErrorCase{"gradnorm:interval=0", "expected an integer >= 1"},
        SpecErrorCase{"gradnorm:variant=all", "one of single, prefix"},
        SpecErrorCase{"gradnorm:warmup=-5", "'warmup'"},
        SpecErrorCase{"none:max_frozen=1.5", "expected a number in [0, 1]"},
        SpecErrorCase{"static", "static needs K"},
        SpecErrorCase{"static:5",
                      "bad value '5' for 'k': expected an integer "
                      "in [0, 4]"},
        SpecErrorCase{"static:k=2,3", "option '3' is not key=value"},
        SpecErrorCase{"static:2,k=3", "option 'k' given twice"},
        SpecErrorCase{"autofreeze:percentile=101", "'percentile'"},
        SpecErrorCase{"threshold:tau=-1", "'tau'"},
        SpecErrorCase{"threshold:patience=0", "'patience'"},
        SpecErrorCase{"freezeout:t0=nan", "bad value 'nan' for 't0'"},
        SpecErrorCase{"freezeout:cubic=yes", "0, 1, true or false"},
        SpecErrorCase{"pipetransformer:alpha=0", "expected a number in (0, 1]"},
        SpecErrorCase{"apf:ema=1", "'ema'"},
        SpecErrorCase{"apf:decrease=0", "'decrease'"},
        SpecErrorCase{"apf:period=0", "'period'"}));

TEST(MakePolicyTest, ContextErrors) {
  PolicyContext c = MakeContext(4);
  c.units[1].is_classifier = true;
  auto p = MakePolicy("gradnorm", c);
  EXPECT_THAT(std::string(p.status().message()),
              HasSubstr("only the last unit may be"));
  p = MakePolicy("pipetransformer", MakeContext(4, 1, 1, 1, 100, 0));
  EXPECT_THAT(std::string(p.status().message()),
              HasSubstr("needs steps_per_epoch > 0"));
  PolicyContext empty;
  EXPECT_FALSE(MakePolicy("none", empty).ok());
}

struct CanonicalCase {
  std::string spec;
  std::string canonical;
};

class CanonicalSpecTest : public ::testing::TestWithParam<CanonicalCase> {};

TEST_P(CanonicalSpecTest, SpellsOutEveryOptionAndRoundTrips) {
  const PolicyContext context = MakeContext(5, 10, 5);
  auto p = MakePolicy(GetParam().spec, context);
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ((*p)->spec(), GetParam().canonical);
  auto again = MakePolicy((*p)->spec(), context);
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ((*again)->spec(), GetParam().canonical);
}

INSTANTIATE_TEST_SUITE_P(
    Cases, CanonicalSpecTest,
    ::testing::Values(
        CanonicalCase{"gradnorm:interval=50",
                      "gradnorm:interval=50,norm=l2,variant=single,warmup=0,"
                      "max_frozen=1"},
        CanonicalCase{"gradnorm",
                      "gradnorm:interval=10,norm=l2,variant=single,"
                      "warmup=0,max_frozen=1"},
        CanonicalCase{" none: max_frozen = 0.5 ",
                      "none:interval=10,warmup=0,max_frozen=0.5"},
        CanonicalCase{"static:3",
                      "static:interval=10,k=3,at=0,warmup=0,max_frozen=1"},
        CanonicalCase{"autofreeze",
                      "autofreeze:interval=10,percentile=50,"
                      "norm=l1,warmup=0,max_frozen=1"},
        CanonicalCase{"threshold",
                      "threshold:interval=10,tau=0.1,patience=3,"
                      "norm=l2,warmup=0,max_frozen=1"},
        CanonicalCase{"freezeout:cubic=true",
                      "freezeout:interval=10,t0=0.5,cubic=1,warmup=0,"
                      "max_frozen=1"},
        CanonicalCase{"pipetransformer",
                      "pipetransformer:interval=10,alpha=0.1,warmup=0,"
                      "max_frozen=1"},
        CanonicalCase{"apf:warmup=100",
                      "apf:interval=10,ema=0.9,threshold=0.2,period=1,"
                      "increase=1,decrease=0.5,norm=l2,warmup=100,"
                      "max_frozen=1"}));

TEST(PolicyNamesTest, EveryNameMakesAPolicyWithDefaults) {
  for (const std::string& name : PolicyNames()) {
    const std::string spec = name == "static" ? "static:1" : name;
    auto p = MakePolicy(spec, MakeContext(5, 10, 5));
    ASSERT_TRUE(p.ok()) << name << ": " << p.status();
    EXPECT_EQ((*p)->interval_steps(), 10) << name;
    EXPECT_EQ((*p)->can_unfreeze(), name == "apf") << name;
  }
}

TEST(PolicyStateTest, ErrorsLeaveThePolicyUnchanged) {
  const PolicyContext context = MakeContext(4);
  auto p = MakePolicy("threshold:tau=0.5,patience=3", context);
  ASSERT_TRUE(p.ok());
  std::vector<bool> frozen(4, false);
  (*p)->Decide(MakeIntervalStats(0, 0, 0.1, {10, 10, 10, 10}), frozen);
  (*p)->Decide(MakeIntervalStats(1, 1, 0.2, {9, 9, 9, 9}), frozen);
  const std::string good = (*p)->SaveState();

  // Another policy's state.
  auto other = MakePolicy("threshold:tau=0.4,patience=3", context);
  absl::Status s = (*other)->LoadState(good);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(s.message()), HasSubstr("state was saved by policy"));

  // Broken bytes: truncated, a bad double, garbage, trailing data.
  const std::vector<std::string> broken = {
      good.substr(0, good.size() / 2),
      std::string(good).replace(good.find("prev_norm 4 ") + 12, 1, "x"),
      "garbage",
      good + "more 1\n",
  };
  for (const std::string& b : broken) {
    absl::Status status = (*p)->LoadState(b);
    EXPECT_EQ(status.code(), absl::StatusCode::kDataLoss) << b;
    EXPECT_EQ((*p)->SaveState(), good);
  }
  EXPECT_TRUE((*p)->LoadState(good).ok());
  EXPECT_EQ((*p)->SaveState(), good);
}

TEST(PolicyTest, WrongShapedStatisticsGiveNoDecision) {
  auto p = MakePolicy("gradnorm", MakeContext(4));
  ASSERT_TRUE(p.ok());
  std::vector<bool> frozen(4, false);
  Decision d = (*p)->Decide(MakeIntervalStats(0, 0, 0.1, {1, 2}), frozen);
  EXPECT_TRUE(d.empty());
  EXPECT_THAT(d.reason, HasSubstr("statistics for 2 units"));
}

}  // namespace
}  // namespace freezing::freeze
