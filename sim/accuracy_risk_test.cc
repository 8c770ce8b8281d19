// The accuracy risk proxies on the hand-built trace (hand_trace.h), with
// body's window-1 norms set to 40, 20, 10, 5 over the four base intervals
// (fc: 1 each) and learning rates 0.1 in the first epoch, 0.01 in the
// second; every expectation is worked out in the comments.
#include "sim/accuracy_risk.h"

#include <memory>
#include <optional>

#include "gtest/gtest.h"
#include "sim/hand_trace.h"
#include "sim/recorded_run.h"
#include "sim/schedule.h"
#include "trace/trace.pb.h"
#include "trace/trace_reader.h"

namespace freezing::sim {
namespace {

std::shared_ptr<const RecordedRun> HandRun(int frozen_from = -1) {
  trace::TraceContents t = HandTrace(frozen_from);
  const double body[] = {40, 20, 10, 5};
  for (int i = 0; i < 4; ++i) {
    if (t.intervals[i].global(0).trained_steps(0) > 0) {
      t.intervals[i].mutable_global(0)->set_l2(0, body[i]);
    }
  }
  for (int s = 0; s < 8; ++s) t.steps[s].set_lr(s < 4 ? 0.1 : 0.01);
  auto run = RecordedRun::Create(t);
  EXPECT_TRUE(run.ok()) << run.status();
  return *run;
}

double Risk(const FreezeSchedule& s, RiskProxy p) {
  const std::optional<double>& v = s.accuracy_risks[static_cast<int>(p)].value;
  EXPECT_TRUE(v.has_value()) << RiskProxyName(p);
  return v.value_or(-1);
}

TEST(AccuracyRisk, EveryProxyOnAFreezeAtStepFour) {
  const auto run = HandRun();
  // body frozen after the interval ending at step 3: intervals 2 and 3.
  auto s = ComputeSchedule(*run, "static:interval=2,k=1,at=4", "");
  ASSERT_TRUE(s.ok()) << s.status();
  // Norms: body 40 + 20 + 10 + 5, fc 4 · 1: 79 in all; discarded 10 + 5.
  EXPECT_DOUBLE_EQ(Risk(*s, RiskProxy::kNormShare), 15.0 / 79.0);
  EXPECT_EQ(s->accuracy_risk, std::optional<double>(15.0 / 79.0));
  EXPECT_EQ(s->accuracy_risk_proxy, "norm_share");
  // unconverged: body's last norm before the freeze over its first, 20 /
  // 40 = 0.5, discounts what it discarded: 0.5 · 15 / 79.
  EXPECT_DOUBLE_EQ(Risk(*s, RiskProxy::kUnconverged), 7.5 / 79.0);
  // remaining_steps: intervals start at steps 0, 2, 4, 6 of 8: weights 1,
  // 0.75, 0.5, 0.25; total 41 + 0.75 · 21 + 0.5 · 11 + 0.25 · 6 = 63.75;
  // discarded 0.5 · 10 + 0.25 · 5 = 6.25.
  EXPECT_DOUBLE_EQ(Risk(*s, RiskProxy::kRemainingSteps), 6.25 / 63.75);
  // lr: 0.1 for intervals 0-1, 0.01 for 2-3: total 0.1 · 62 + 0.01 · 17 =
  // 6.37, discarded 0.01 · 15.
  EXPECT_NEAR(Risk(*s, RiskProxy::kLearningRate), 0.15 / 6.37, 1e-15);
  EXPECT_FALSE(s->accuracy_risk_partial);
}

TEST(AccuracyRisk, FrozenFromTheStartIsFullyUnconverged) {
  const auto run = HandRun();
  auto s = ComputeSchedule(*run, "static:1", "");
  ASSERT_TRUE(s.ok());
  EXPECT_DOUBLE_EQ(Risk(*s, RiskProxy::kNormShare), 75.0 / 79.0);
  EXPECT_DOUBLE_EQ(Risk(*s, RiskProxy::kUnconverged), 75.0 / 79.0);
}

TEST(AccuracyRisk, NeverFrozeIsZeroAndUnmeasuredIsAbsent) {
  auto none = ComputeSchedule(*HandRun(), "none", "");
  ASSERT_TRUE(none.ok());
  for (int p = 0; p < kRiskProxies; ++p) {
    EXPECT_EQ(none->accuracy_risks[p].value, std::optional<double>(0.0));
  }
  // The recorded run froze body from step 4: static:1 discards body's two
  // measured intervals (40 + 20) of 64 measured, a lower bound.
  auto partial = ComputeSchedule(*HandRun(/*frozen_from=*/4), "static:1", "");
  ASSERT_TRUE(partial.ok());
  EXPECT_DOUBLE_EQ(partial->accuracy_risk.value_or(-1), 60.0 / 64.0);
  EXPECT_TRUE(partial->accuracy_risk_partial);
  // Recorded with body frozen throughout: nothing static:1 froze was ever
  // measured (n/a, not 0).
  auto unmeasured =
      ComputeSchedule(*HandRun(/*frozen_from=*/0), "static:1", "");
  ASSERT_TRUE(unmeasured.ok());
  EXPECT_FALSE(unmeasured->accuracy_risk.has_value());
  EXPECT_TRUE(unmeasured->accuracy_risk_partial);
}

TEST(AccuracyRisk, ProxyByName) {
  for (int p = 0; p < kRiskProxies; ++p) {
    const RiskProxy proxy = static_cast<RiskProxy>(p);
    auto parsed = ParseRiskProxy(RiskProxyName(proxy));
    ASSERT_TRUE(parsed.ok());
    EXPECT_EQ(*parsed, proxy);
  }
  auto bad = ParseRiskProxy("vibes");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("norm_share"), std::string::npos);
  // The proxy a schedule reports by is the one asked for.
  const auto run = HandRun();
  ScheduleOptions o;
  o.risk_proxy = RiskProxy::kUnconverged;
  auto s = ComputeSchedule(*run, "static:interval=2,k=1,at=4", "", o);
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->accuracy_risk_proxy, "unconverged");
  EXPECT_EQ(s->accuracy_risk, std::optional<double>(7.5 / 79.0));
}

}  // namespace
}  // namespace freezing::sim
