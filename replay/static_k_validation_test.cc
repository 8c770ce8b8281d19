// Issue 6's second validation target, as a test on recorded data: the
// `none` trace of testdata/ (ResNet-18, 2 ranks, Fashion-MNIST classes 5-9,
// 64 steps) replayed with `static:4` on its own recorded network predicts
// the measured training time of the real `static:4` run of the same data
// (testdata/r18_static4_2rank.pb) within 10%. Both traces are recorded by
// testdata/regenerate.sh; the phase-by-phase comparison is printed.
#include <cmath>
#include <cstdio>
#include <string>

#include "absl/strings/str_format.h"
#include "gtest/gtest.h"
#include "replay/case_list.h"
#include "replay/replay.h"
#include "sim/cost_model.h"
#include "trace/trace_reader.h"

namespace freezing::replay {
namespace {

TEST(NoneToStaticK, PredictsTheRealStaticRunWithinTenPercent) {
  trace::TraceContents none = trace::ReadTrace("testdata/r18_none_2rank.pb");
  trace::TraceContents real = trace::ReadTrace("testdata/r18_static4_2rank.pb");
  ASSERT_TRUE(none.complete()) << none.status;
  ASSERT_TRUE(real.complete()) << real.status;
  // The same run but for the policy.
  const trace::RunConfig& a = none.header->config();
  const trace::RunConfig& b = real.header->config();
  ASSERT_EQ(a.model(), b.model());
  ASSERT_EQ(a.data(), b.data());
  ASSERT_EQ(a.train_samples(), b.train_samples());
  ASSERT_EQ(a.ranks(), b.ranks());
  ASSERT_EQ(a.batch_size(), b.batch_size());
  ASSERT_EQ(a.steps_per_epoch() * a.epochs(), b.steps_per_epoch() * b.epochs());
  ASSERT_EQ(a.seed(), b.seed());
  ASSERT_EQ(a.policy().rfind("none", 0), 0u);
  ASSERT_EQ(b.policy().rfind("static:", 0), 0u);

  auto model = sim::FitTrace(none);
  ASSERT_TRUE(model.ok()) << model.status();
  ReplayOptions o;
  o.policies = *ParsePolicies("static:4", *model);
  o.networks = {"recorded"};
  o.world_sizes = {0};
  auto report = RunReplay(*model, o);
  ASSERT_TRUE(report.ok()) << report.status();
  const sim::PhaseTotals& p = report->results[0].timing.phases;

  trace::PhaseTimes m;
  for (const trace::Step& s : real.steps) {
    m.set_data_ns(m.data_ns() + s.phases().data_ns());
    m.set_forward_ns(m.forward_ns() + s.phases().forward_ns());
    m.set_backward_ns(m.backward_ns() + s.phases().backward_ns());
    m.set_comm_exposed_ns(m.comm_exposed_ns() + s.phases().comm_exposed_ns());
    m.set_optimizer_ns(m.optimizer_ns() + s.phases().optimizer_ns());
    m.set_stats_ns(m.stats_ns() + s.phases().stats_ns());
    m.set_other_ns(m.other_ns() + s.phases().other_ns());
  }
  const int64_t measured = real.footer->total_time_ns();
  const double error = static_cast<double>(p.total_ns - measured) /
                       static_cast<double>(measured);
  std::printf("none -> static:4 on the recorded network\n");
  std::printf("  %-13s %12s %12s %8s\n", "phase", "predicted_s", "measured_s",
              "error");
  auto row = [](const char* name, int64_t pred, int64_t meas) {
    std::printf(
        "  %-13s %12.3f %12.3f %7.2f%%\n", name, pred * 1e-9, meas * 1e-9,
        meas != 0 ? 100.0 * static_cast<double>(pred - meas) / meas : 0.0);
  };
  row("data", p.data_ns, m.data_ns());
  row("forward", p.forward_ns, m.forward_ns());
  row("backward", p.backward_ns, m.backward_ns());
  row("comm_exposed", p.comm_exposed_ns, m.comm_exposed_ns());
  row("optimizer", p.optimizer_ns, m.optimizer_ns());
  row("stats", p.stats_ns, m.stats_ns());
  row("other", p.other_ns, m.other_ns());
  row("total", p.total_ns, measured);
  EXPECT_LE(std::fabs(error), 0.10) << absl::StrFormat(
      "predicted %.3f s, measured %.3f s", p.total_ns * 1e-9, measured * 1e-9);
}

}  // namespace
}  // namespace freezing::replay
