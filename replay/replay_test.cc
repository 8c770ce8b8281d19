// RunReplay and its reports on a recorded trace of testdata/ (resnet_tiny,
// 2 ranks, policy none).
#include "replay/replay.h"

#include <string>

#include "base/json_test_util.h"
#include "gtest/gtest.h"
#include "replay/case_list.h"
#include "replay/chrome_export.h"
#include "replay/regression.h"
#include "sim/cost_model.h"
#include "trace/trace_reader.h"

namespace freezing::replay {
namespace {

constexpr char kTrace[] = "testdata/tiny_none_2rank.pb";

// The trace's model; `renamed_unit` (>= 0) gets the name `name`.
sim::CostModel Model(int renamed_unit = -1, const std::string& name = "") {
  trace::TraceContents t = trace::ReadTrace(kTrace);
  if (renamed_unit >= 0) t.header->mutable_units(renamed_unit)->set_name(name);
  auto m = sim::FitTrace(t);
  EXPECT_TRUE(m.ok()) << m.status();
  return *std::move(m);
}

ReplayOptions Options(const sim::CostModel& m, const std::string& policies,
                      std::vector<std::string> networks,
                      std::vector<int> worlds) {
  ReplayOptions o;
  o.policies = *ParsePolicies(policies, m);
  o.networks = std::move(networks);
  o.world_sizes = std::move(worlds);
  return o;
}

TEST(RunReplay, CasesBaselinesAndSpeedups) {
  const sim::CostModel m = Model();
  ReplayOptions o =
      Options(m, "none,static:3,freezeout", {"1gbe", "10gbe"}, {2, 8, 32});
  // The recorded steps at every world size (SameData below).
  o.scaling = sim::Scaling::kSameSteps;
  auto r = RunReplay(m, o);
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_EQ(r->results.size(), 3u * 2u * 3u);
  for (const CaseResult& c : r->results) {
    EXPECT_GT(c.timing.phases.total_ns, 0);
    if (c.policy.given == "none") {
      EXPECT_EQ(c.timing.phases.total_ns, c.baseline_total_ns);
      EXPECT_DOUBLE_EQ(c.speedup, 1.0);
      EXPECT_DOUBLE_EQ(c.saved_fraction, 0.0);
      // The recorded schedule at the recorded world size: its accuracy.
      EXPECT_EQ(c.recorded_accuracy.has_value(), c.world_size == 2);
    } else {
      EXPECT_LT(c.timing.phases.total_ns, c.baseline_total_ns)
          << c.policy.given;
      EXPECT_GT(c.speedup, 1.0);
      EXPECT_FALSE(c.recorded_accuracy.has_value());
    }
    EXPECT_FALSE(c.schedule->extrapolated_from_step.has_value());
    // Every predicted total inside its interval, and the mode in the row.
    EXPECT_TRUE(c.interval.Contains(c.timing.phases.total_ns));
    EXPECT_LT(c.interval.low_ns, c.interval.high_ns);
    EXPECT_EQ(c.schedule->steps.scaling, sim::Scaling::kSameSteps);
    EXPECT_EQ(c.schedule->steps.num_steps(), 64);
  }
  // Same network and policy: more ranks, more communication.
  EXPECT_LT(r->results[0].timing.phases.comm_total_ns,
            r->results[1].timing.phases.comm_total_ns);
}

TEST(RunReplay, SameDataRunsFewerStepsOnMoreRanks) {
  const sim::CostModel m = Model();
  ReplayOptions o = Options(m, "none,static:3,gradnorm", {"1gbe"}, {0, 8});
  auto r = RunReplay(m, o);  // same_data is the default
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_EQ(r->results.size(), 6u);
  // 2048 samples, 32 per rank: 32 steps per epoch on 2 ranks, 8 on 8.
  EXPECT_EQ(r->results[0].schedule->steps.num_steps(), 64);
  EXPECT_TRUE(r->results[0].schedule->steps.identity);
  EXPECT_EQ(r->results[1].schedule->steps.num_steps(), 16);
  EXPECT_EQ(r->results[1].schedule->steps.global_batch, 256);
  EXPECT_LT(r->results[1].timing.phases.total_ns,
            r->results[0].timing.phases.total_ns);
  // Only a policy that reads statistics assumes them; every case at 8 ranks
  // says what it runs.
  EXPECT_FALSE(r->results[3].schedule->statistics_assumed);  // static:3 @ 8
  EXPECT_TRUE(r->results[5].schedule->statistics_assumed);   // gradnorm @ 8
  const std::string table = FormatTable(*r, m);
  EXPECT_NE(table.find("cases 1,3,5: same_data on 8 ranks"), std::string::npos)
      << table;
  EXPECT_NE(table.find("case 5: statistics assumed"), std::string::npos);
  const std::string json = ToJson(*r, m);
  EXPECT_NE(json.find("\"scaling\": \"same_data\""), std::string::npos);
  EXPECT_NE(json.find("\"steps\": 16"), std::string::npos);
}

TEST(RunReplay, NoneIsExactOnAFreezingTraceAndRiskNotMeasuredIsNa) {
  trace::TraceContents t = trace::ReadTrace("testdata/r18_static4_2rank.pb");
  auto m = sim::FitTrace(t);
  ASSERT_TRUE(m.ok()) << m.status();
  ReplayOptions o = Options(*m, "none,static:2,static:6", {"1gbe"}, {0});
  auto r = RunReplay(*m, o);
  ASSERT_TRUE(r.ok()) << r.status();
  // none trains the 4 units the recorded run froze: their costs come from
  // the profile, its schedule is exact.
  const sim::FreezeSchedule& none = *r->results[0].schedule;
  EXPECT_FALSE(none.extrapolated_from_step.has_value());
  EXPECT_EQ(none.trains_recorded_frozen_from_step, std::optional<int64_t>(0));
  EXPECT_EQ(none.accuracy_risk, std::optional<double>(0.0));
  // static:2 froze only units the run never trained: nothing measured.
  EXPECT_FALSE(r->results[1].schedule->accuracy_risk.has_value());
  // static:6 froze layer3 and layer4 too, which were measured: a lower
  // bound.
  ASSERT_TRUE(r->results[2].schedule->accuracy_risk.has_value());
  EXPECT_TRUE(r->results[2].schedule->accuracy_risk_partial);
  const std::string table = FormatTable(*r, *m);
  EXPECT_NE(table.find(" n/a "), std::string::npos) << table;
  EXPECT_NE(table.find("risk: the share of the recorded"), std::string::npos);
  EXPECT_EQ(table.find("none  [extrapolated"), std::string::npos);
  const auto rows = ParseCsv(ToCsv(*r, *m));
  EXPECT_EQ(rows[2][23], "");  // accuracy_risk of static:2
  EXPECT_EQ(rows[0][23], "accuracy_risk");
}

TEST(RunReplay, SummaryParetoAndRecommendation) {
  const sim::CostModel m = Model();
  ReplayOptions o =
      Options(m, "none,static:1,static:2,static:3,gradnorm", {"1gbe"}, {0, 8});
  o.recommend = true;
  o.max_risk = 0.3;
  auto r = RunReplay(m, o);
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_EQ(r->summaries.size(), 2u);
  for (const GroupSummary& g : r->summaries) {
    ASSERT_TRUE(g.most_saved.has_value());
    // Nothing saves more than the one that saves most.
    for (const CaseResult& c : r->results) {
      if (c.world_size == g.world_size) {
        EXPECT_LE(c.saved_fraction, r->results[*g.most_saved].saved_fraction);
      }
    }
    // The front is ordered by risk, and saves more as the risk grows.
    ASSERT_FALSE(g.pareto.empty());
    for (size_t k = 1; k < g.pareto.size(); ++k) {
      const CaseResult& a = r->results[g.pareto[k - 1]];
      const CaseResult& b = r->results[g.pareto[k]];
      EXPECT_LT(*a.schedule->accuracy_risk, *b.schedule->accuracy_risk);
      EXPECT_LT(a.saved_fraction, b.saved_fraction);
    }
    // The recommendation is on the front, under the cap, and the front's
    // last point under the cap.
    ASSERT_TRUE(g.under_cap.has_value());
    EXPECT_LE(*r->results[*g.under_cap].schedule->accuracy_risk, 0.3);
    size_t last_under = 0;
    for (size_t i : g.pareto) {
      if (*r->results[i].schedule->accuracy_risk <= 0.3) last_under = i;
    }
    EXPECT_EQ(*g.under_cap, last_under);
  }
  const std::string table = FormatTable(*r, m);
  EXPECT_NE(table.find("summary, network 1gbe, 2 rank(s):"), std::string::npos);
  EXPECT_NE(table.find("  best with risk <= 0.30: "), std::string::npos);
  EXPECT_NE(table.find("  Pareto front (saved vs risk): none 0.0%/0.000"),
            std::string::npos)
      << table;
  const std::string json = ToJson(*r, m);
  for (const char* field :
       {"\"summary\": [", "\"pareto\": [", "\"recommended\": [", "\"front\": [",
        "\"best_under_max_risk\": {"}) {
    EXPECT_NE(json.find(field), std::string::npos) << field;
  }
  // A cap nothing meets: no recommendation, said so.
  o.max_risk = 0;
  o.policies = *ParsePolicies("static:2", m);
  auto none_under = RunReplay(m, o);
  ASSERT_TRUE(none_under.ok());
  EXPECT_FALSE(none_under->summaries[0].under_cap.has_value());
  EXPECT_NE(FormatTable(*none_under, m).find("none under the cap"),
            std::string::npos);
}

TEST(RunReplay, ValidationReportsEveryPhase) {
  const sim::CostModel m = Model();
  ReplayOptions o = Options(m, "none", {"recorded"}, {0});
  o.validate = true;
  auto r = RunReplay(m, o);
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_TRUE(r->validation.has_value());
  const Validation& v = *r->validation;
  EXPECT_TRUE(v.schedule_matches);
  EXPECT_EQ(v.measured_ns, m.run().measured_total_ns);
  EXPECT_EQ(v.phases.size(), 8u);
  EXPECT_EQ(v.phases.back().phase, "total");
  EXPECT_EQ(v.phases.back().predicted_ns, v.predicted_ns);
  // Measured phases are replayed as measured.
  for (const PhaseError& e : v.phases) {
    if (e.phase == "data" || e.phase == "forward" || e.phase == "optimizer") {
      EXPECT_EQ(e.predicted_ns, e.measured_ns) << e.phase;
    }
  }
  EXPECT_LT(std::abs(v.exact_replay_error_fraction), 0.01);
  // error_fraction is the held-out one (replay/validation_test.cc checks
  // the numbers).
  ASSERT_TRUE(v.held_out.has_value());
  ASSERT_TRUE(v.error_fraction.has_value());
  EXPECT_EQ(*v.error_fraction, v.held_out->error_fraction);
  EXPECT_TRUE(v.model_only.has_value());
}

TEST(Reports, JsonHasTheContractFields) {
  const sim::CostModel m = Model();
  ReplayOptions o = Options(m, "none,autofreeze", {"1gbe"}, {0, 8});
  o.validate = true;
  // Every option that adds fields, so that the determinism check below
  // covers them.
  o.recommend = true;
  o.skew.stragglers = {{1, 1.25}};
  o.skew.jitter = 0.02;
  o.shared_cores = 2;
  o.interval_in = sim::IntervalUnit::kEpochs;
  auto r = RunReplay(m, o);
  ASSERT_TRUE(r.ok());
  const std::string json = ToJson(*r, m);
  for (const char* field : {"\"results\": [",
                            "\"policy\": \"autofreeze\"",
                            "\"network\": \"1gbe\"",
                            "\"world_size\": 8",
                            "\"predicted_total_s\": ",
                            "\"speedup\": ",
                            "\"saved_fraction\": ",
                            "\"freeze_schedule\": [\n        {\"step\": ",
                            "\"extrapolated_from_step\": null",
                            "\"bytes_allreduced_per_rank\": ",
                            "\"comm_exposed_s\": ",
                            "\"accuracy_risk\": ",
                            "\"recorded_accuracy\": ",
                            "\"validation\": {",
                            "\"error_fraction\": ",
                            "\"error_fraction_of\": \"held_out\"",
                            "\"exact_replay_error_fraction\": ",
                            "\"held_out\": {",
                            "\"model_only\": {",
                            "\"scaling\": \"same_data\"",
                            "\"interval_in\": \"epochs\"",
                            "\"predicted_interval_s\": [",
                            "\"interval_spread\": {",
                            "\"accuracy_risks\": {\"norm_share\": ",
                            "\"accuracy_risk_proxy\": \"norm_share\"",
                            "\"statistics_assumed\": ",
                            "\"measured_inside\": ",
                            "\"options\": {",
                            "\"stragglers\": [{",
                            "\"jitter\": 0.02",
                            "\"shared_cores\": 2",
                            "shared cores: all 8 ranks",
                            "\"summary\": [",
                            "\"pareto\": [",
                            "\"recommended\": ["}) {
    EXPECT_NE(json.find(field), std::string::npos) << field;
  }
  // Deterministic: the same inputs give the same bytes.
  auto again = RunReplay(m, o);
  EXPECT_EQ(ToJson(*again, m), json);
  EXPECT_EQ(ToCsv(*again, m), ToCsv(*r, m));
  EXPECT_EQ(FormatTable(*again, m), FormatTable(*r, m));
  // CSV: a header and one row per case, every row as wide as the header.
  const auto rows = ParseCsv(ToCsv(*r, m));
  ASSERT_EQ(rows.size(), 1u + r->results.size());
  EXPECT_EQ(rows[0], CsvHeader());
  for (const auto& row : rows) EXPECT_EQ(row.size(), rows[0].size());
}

TEST(Reports, JsonEscapesNotesAndNamesAndKeepsNumbers) {
  const sim::CostModel m = Model();
  ReplayOptions o = Options(m, "none,static:2", {"1gbe"}, {0});
  o.validate = true;
  auto r = RunReplay(m, o);
  ASSERT_TRUE(r.ok());
  const std::string note = "a \"quoted\" note\non two lines\t\\ \x01";
  r->notes.push_back(note);
  r->results[1].notes.push_back(note);
  r->validation->notes.push_back(note);
  const sim::CostModel renamed = Model(0, "conv\"1\"\n");
  const google::protobuf::Struct json =
      base::ParseJsonForTest(ToJson(*r, renamed)).struct_value();
  const auto& f = json.fields();
  EXPECT_EQ(f.at("notes").list_value().values(0).string_value(), note);
  const auto& results = f.at("results").list_value();
  ASSERT_EQ(results.values_size(), 2);
  const auto& static2 = results.values(1).struct_value().fields();
  const auto& case_notes = static2.at("notes").list_value();
  EXPECT_EQ(case_notes.values(case_notes.values_size() - 1).string_value(),
            note);
  EXPECT_EQ(static2.at("freeze_schedule")
                .list_value()
                .values(0)
                .struct_value()
                .fields()
                .at("freeze")
                .list_value()
                .values(0)
                .string_value(),
            "conv\"1\"\n");
  const auto& v_notes =
      f.at("validation").struct_value().fields().at("notes").list_value();
  EXPECT_EQ(v_notes.values(v_notes.values_size() - 1).string_value(), note);
  // Numbers are JSON numbers with the values of the report.
  using Value = google::protobuf::Value;
  EXPECT_EQ(static2.at("bytes_allreduced_per_rank").kind_case(),
            Value::kNumberValue);
  EXPECT_EQ(static2.at("bytes_allreduced_per_rank").number_value(),
            r->results[1].timing.bytes_allreduced);
  EXPECT_EQ(static2.at("world_size").number_value(), 2);
  EXPECT_DOUBLE_EQ(static2.at("predicted_total_s").number_value(),
                   r->results[1].timing.phases.total_ns * 1e-9);
  EXPECT_EQ(static2.at("recorded_accuracy").kind_case(), Value::kNullValue);
}

TEST(Reports, ChromeTraceEscapesNames) {
  const std::string name = "layer\"4\"\\\n";
  const int last = Model().run().num_units - 1;
  const sim::CostModel m = Model(last, name);
  ReplayOptions o = Options(m, "none", {"1gbe"}, {0});
  o.timeline_case = 0;
  o.timeline_steps = 2;
  auto r = RunReplay(m, o);
  ASSERT_TRUE(r.ok());
  const google::protobuf::Struct json =
      base::ParseJsonForTest(ChromeTraceJson(r->results[0], m)).struct_value();
  int found = 0;
  for (const auto& e : json.fields().at("traceEvents").list_value().values()) {
    if (e.struct_value().fields().at("name").string_value() == name + " bwd") {
      ++found;
    }
  }
  EXPECT_EQ(found, 2);  // one per step
}

TEST(Reports, ChromeTraceOfOneCase) {
  const sim::CostModel m = Model();
  ReplayOptions o = Options(m, "static:2", {"1gbe"}, {0});
  o.timeline_case = 0;
  o.timeline_steps = 3;
  auto r = RunReplay(m, o);
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(r->results[0].timing.timeline.size(), 3u);
  const std::string json = ChromeTraceJson(r->results[0], m);
  EXPECT_EQ(json.rfind("{\n  \"displayTimeUnit\": \"ms\",", 0), 0u);
  EXPECT_NE(json.find("\"name\": \"layer4 bwd\""), std::string::npos);
  EXPECT_EQ(json.find("\"name\": \"conv1 bwd\""), std::string::npos);  // frozen
  EXPECT_NE(json.find("\"cat\": \"comm\""), std::string::npos);
}

TEST(RunReplay, BadInputNamesTheProblem) {
  const sim::CostModel m = Model();
  struct Case {
    std::string policies;
    std::vector<std::string> networks;
    std::vector<int> worlds;
    std::string expect;
    double max_risk = kDefaultMaxRisk;
    std::vector<sim::Straggler> stragglers = {};
    double jitter = 0;
  };
  const Case cases[] = {
      {"nonsense", {"1gbe"}, {0}, "valid names: none, static"},
      {"gradnorm@nobody", {"1gbe"}, {0}, "valid rules"},
      {"none", {"token-ring"}, {0}, "valid networks"},
      {"none",
       {"hier:ranks_per_node=4,intra_alpha_us=1,intra_gbps=10,"
        "inter_alpha_us=1,inter_gbps=1"},
       {6},
       "multiple of 4"},
      {"static:9", {"1gbe"}, {0}, "static"},
      {"none", {"1gbe"}, {0}, "valid values are in [0, 1]", 1.5},
      {"none", {"1gbe"}, {2, 8}, "valid ranks are 0..1", 0.25, {{4, 2.0}}},
      {"none", {"1gbe"}, {0}, "fractions >= 0", 0.25, {}, -0.1},
      {"none", {"1gbe"}, {4096}, "world sizes up to 64"},
  };
  for (const Case& c : cases) {
    auto policies = ParsePolicies(c.policies, m);
    ASSERT_TRUE(policies.ok());
    ReplayOptions o;
    o.policies = *policies;
    o.networks = c.networks;
    o.world_sizes = c.worlds;
    o.max_risk = c.max_risk;
    o.skew.stragglers = c.stragglers;
    o.skew.jitter = c.jitter;
    auto r = RunReplay(m, o);
    ASSERT_FALSE(r.ok()) << c.expect;
    EXPECT_NE(r.status().message().find(c.expect), std::string::npos)
        << r.status();
  }
}

}  // namespace
}  // namespace freezing::replay
