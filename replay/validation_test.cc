// Validate: on a hand-built trace whose held-out and model-only answers are
// known exactly (sim/validation_hand_trace.h), and on every recorded trace
// of testdata/: the three predictions are computed, deterministic to the
// byte, and within bounds that a broken model would leave.
#include "replay/validation.h"

#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "replay/case_list.h"
#include "replay/replay.h"
#include "replay/testdata_files.h"
#include "sim/cost_model.h"
#include "sim/prediction_interval.h"
#include "sim/validation_hand_trace.h"
#include "trace/trace_reader.h"

namespace freezing::replay {
namespace {

int64_t MeasuredSteps(const trace::TraceContents& t, int64_t first,
                      int64_t last) {
  int64_t sum = 0;
  for (int64_t s = first; s <= last; ++s) sum += t.steps[s].phases().total_ns();
  return sum;
}

TEST(Validate, HandTraceKnownExactly) {
  const trace::TraceContents t = sim::ValidationHandTrace(/*late=*/1.5);
  auto m = sim::FitTrace(t);
  ASSERT_TRUE(m.ok()) << m.status();
  auto v = Validate(*m);
  ASSERT_TRUE(v.ok()) << v.status();
  EXPECT_TRUE(v->schedule_matches);
  // Exact replay: every measured step with its own wait adds up exactly.
  EXPECT_EQ(v->predicted_ns, m->run().measured_total_ns);
  EXPECT_EQ(v->exact_replay_error_fraction, 0.0);
  // Held-out: fitted on steps 1-3, predicts 4-7, which ran 1.5 times slower
  // than the base numbers the fit sees.
  ASSERT_TRUE(v->held_out.has_value());
  const HeldOutCheck& h = *v->held_out;
  EXPECT_EQ(h.fit_first_step, 1);
  EXPECT_EQ(h.fit_steps, 4);
  EXPECT_EQ(h.first_step, 4);
  EXPECT_EQ(h.last_step, 7);
  EXPECT_EQ(h.held_in_measured_ns, MeasuredSteps(t, 0, 3));
  EXPECT_EQ(h.predicted_ns, sim::kHandHeldOutPredictedNs);
  EXPECT_EQ(h.measured_ns, MeasuredSteps(t, 4, 7));
  const double expected =
      static_cast<double>(sim::kHandHeldOutPredictedNs - h.measured_ns) /
      static_cast<double>(h.measured_ns);
  EXPECT_DOUBLE_EQ(h.error_fraction, expected);
  EXPECT_LT(h.error_fraction, -0.2);  // the slower steps, as they should
  ASSERT_TRUE(v->error_fraction.has_value());
  EXPECT_EQ(*v->error_fraction, h.error_fraction);
  // Model-only: the profile alone, over all 8 steps.
  ASSERT_TRUE(v->model_only.has_value());
  EXPECT_EQ(v->model_only->predicted_ns, sim::kHandModelOnlyPredictedNs);
  EXPECT_EQ(v->model_only->measured_ns, MeasuredSteps(t, 0, 7));
  EXPECT_DOUBLE_EQ(v->model_only->overlap, 0.0);  // comm mode sync
  // Phases add up to the total, predicted and measured.
  for (const PredictionCheck* c :
       {static_cast<const PredictionCheck*>(&h),
        static_cast<const PredictionCheck*>(&*v->model_only)}) {
    ASSERT_EQ(c->phases.size(), 8u);
    int64_t predicted = 0, measured = 0;
    for (size_t i = 0; i + 1 < c->phases.size(); ++i) {
      predicted += c->phases[i].predicted_ns;
      measured += c->phases[i].measured_ns;
    }
    EXPECT_EQ(predicted, c->predicted_ns);
    EXPECT_EQ(measured, c->measured_ns);
  }
}

TEST(Validate, IntervalsComeFromWhatEachModelSaw) {
  // The held-out model sees steps 1-3 only (0.9, 1.1 and 1 times the base:
  // fewer than sim::kMinBlocks, so its level takes the prior): its interval
  // does not depend on how slow the held-out steps were, and the 1.5x
  // slower ones fall outside it; at 1x they fall inside.
  const auto validate = [](double late) {
    auto m = sim::FitTrace(sim::ValidationHandTrace(late));
    EXPECT_TRUE(m.ok());
    auto v = Validate(*m);
    EXPECT_TRUE(v.ok()) << v.status();
    return *std::move(v);
  };
  const Validation slow = validate(1.5), slower = validate(3),
                   same = validate(1);
  ASSERT_TRUE(slow.held_out.has_value() && slower.held_out.has_value());
  EXPECT_EQ(slow.held_out->interval.low_ns, slower.held_out->interval.low_ns);
  EXPECT_EQ(slow.held_out->interval.high_ns, slower.held_out->interval.high_ns);
  EXPECT_DOUBLE_EQ(slow.held_out->interval.spread.level, sim::kLevelPriorSd);
  EXPECT_FALSE(slow.held_out->inside);
  EXPECT_TRUE(same.held_out->inside);
  // The exact replay predicts the measured total: inside.
  EXPECT_TRUE(slow.inside);
  // Model-only has no step: the priors.
  ASSERT_TRUE(slow.model_only.has_value());
  EXPECT_DOUBLE_EQ(slow.model_only->interval.spread.level, sim::kLevelPriorSd);
  EXPECT_GT(slow.model_only->interval.spread.profile, 0);
  // In the reports.
  auto m = sim::FitTrace(sim::ValidationHandTrace(1.5));
  ReplayReport report;
  report.validation = slow;
  EXPECT_NE(ToJson(report, *m).find("\"measured_inside\": false"),
            std::string::npos);
  EXPECT_NE(FormatTable(report, *m).find(": measured OUTSIDE"),
            std::string::npos);
}

TEST(Validate, TooShortToHoldOutSaysSo) {
  auto m = sim::FitTrace(sim::ValidationHandTrace());
  ASSERT_TRUE(m.ok());
  // 0.2 of 8 steps is less than one base interval of 2.
  auto v = Validate(*m, 0.2);
  ASSERT_TRUE(v.ok()) << v.status();
  EXPECT_FALSE(v->held_out.has_value());
  EXPECT_FALSE(v->error_fraction.has_value());
  ASSERT_FALSE(v->notes.empty());
  EXPECT_NE(v->notes[0].find("no held-out validation"), std::string::npos);
  EXPECT_TRUE(v->model_only.has_value());
  ReplayReport report;
  report.validation = *v;
  EXPECT_NE(ToJson(report, *m).find("\"error_fraction\": null"),
            std::string::npos);
  EXPECT_EQ(Validate(*m, 1.5).status().code(),
            absl::StatusCode::kInvalidArgument);
}

// Every recorded trace: byte-identical reports from two independent runs;
// the exact replay within 1% (it uses every measurement); the held-out
// within 15% (largest measured: +10.7% on r18_static4_2rank, whose machine
// ran 12% faster from step 24 on: replay/README.md); the model-only between
// -35% and +15% (the profile has no data loading, "other", or measured
// statistics cost: it under-predicts, by 5-27% on these traces).
TEST(Validate, EveryTestdataTraceDeterministicAndWithinBounds) {
  auto traces = TestdataTraces("testdata");
  ASSERT_TRUE(traces.ok()) << traces.status();
  ASSERT_GE(traces->size(), 7u);
  for (const std::string& name : *traces) {
    SCOPED_TRACE(name);
    const std::string path = "testdata/" + name + ".pb";
    std::string json[2], table[2];
    for (int k = 0; k < 2; ++k) {
      auto m = sim::FitTrace(trace::ReadTrace(path));
      ASSERT_TRUE(m.ok()) << m.status();
      ReplayOptions o;
      o.policies = *ParsePolicies("none", *m);
      o.networks = {DefaultNetworks(*m)};
      o.world_sizes = {0};
      o.validate = true;
      auto r = RunReplay(*m, o);
      ASSERT_TRUE(r.ok()) << r.status();
      json[k] = ToJson(*r, *m);
      table[k] = FormatTable(*r, *m);
      if (k > 0) continue;
      const Validation& v = *r->validation;
      EXPECT_TRUE(v.schedule_matches);
      EXPECT_LT(std::abs(v.exact_replay_error_fraction), 0.01);
      ASSERT_TRUE(v.held_out.has_value());
      ASSERT_TRUE(v.model_only.has_value());
      EXPECT_EQ(v.held_out->fit_first_step, 1);
      EXPECT_EQ(v.held_out->first_step, m->run().num_steps() / 2);
      EXPECT_LT(std::abs(v.held_out->error_fraction), 0.15);
      EXPECT_GT(v.model_only->error_fraction, -0.35);
      EXPECT_LT(v.model_only->error_fraction, 0.15);
      std::printf("%-40s exact %+.4f held-out %+.4f model-only %+.4f\n",
                  name.c_str(), v.exact_replay_error_fraction,
                  v.held_out->error_fraction, v.model_only->error_fraction);
    }
    EXPECT_EQ(json[0], json[1]);
    EXPECT_EQ(table[0], table[1]);
  }
}

}  // namespace
}  // namespace freezing::replay
