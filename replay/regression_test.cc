// The CI regression over testdata/ (see regression.h and testdata/README.md):
//  - every recorded trace, replayed with the fixed configuration, matches its
//    golden CSV: no freeze schedule changes, no estimate moves by more than
//    1e-9 relative; a failure lists every difference;
//  - online equals offline: the recorded policy and vote rule, fed each
//    trace's recorded statistics, reproduce its freeze events exactly (step,
//    epoch, interval, policy, rule, units, votes with weights, reason);
//  - testdata holds what the goldens are meant to cover.
// Refresh the goldens after an intended change: bazel run
// //replay:update_goldens
#include "replay/regression.h"

#include <algorithm>
#include <iostream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "base/file.h"
#include "gtest/gtest.h"
#include "replay/testdata_files.h"
#include "sim/cost_model.h"
#include "sim/schedule.h"
#include "trace/trace_reader.h"

namespace freezing::replay {
namespace {

constexpr char kTestdata[] = "testdata";
constexpr char kGolden[] = "testdata/golden";
constexpr char kRefresh[] =
    "If the change is intended, refresh the goldens with\n"
    "  bazel run //replay:update_goldens\nand review their diff.";

std::vector<std::string> Traces() {
  auto traces = TestdataTraces(kTestdata);
  EXPECT_TRUE(traces.ok()) << traces.status();
  return traces.ok() ? *traces : std::vector<std::string>{};
}

TEST(Regression, EveryTraceMatchesItsGolden) {
  const std::vector<std::string> traces = Traces();
  ASSERT_FALSE(traces.empty()) << "no traces in testdata/";
  std::vector<std::string> all;
  for (const std::string& name : traces) {
    auto golden = base::ReadFile(absl::StrCat(kGolden, "/", name, ".csv"));
    if (!golden.ok()) {
      all.push_back(
          absl::StrCat(name, ": no golden (", golden.status().message(), ")"));
      continue;
    }
    auto now = GoldenCsv(absl::StrCat(kTestdata, "/", name, ".pb"));
    if (!now.ok()) {
      all.push_back(
          absl::StrCat(name, ": replay failed: ", now.status().message()));
      continue;
    }
    for (std::string& d : CompareGolden(name, *golden, *now)) {
      all.push_back(std::move(d));
    }
  }
  if (!all.empty()) {
    const size_t shown = std::min<size_t>(all.size(), 40);
    ADD_FAILURE() << all.size() << " case(s) differ from the goldens"
                  << (shown < all.size() ? absl::StrCat(" (first ", shown, ")")
                                         : "")
                  << ":\n"
                  << absl::StrJoin(all.begin(), all.begin() + shown, "\n")
                  << "\n"
                  << kRefresh;
  }
}

TEST(Regression, EveryGoldenHasATrace) {
  auto goldens = GoldenFiles(kGolden);
  ASSERT_TRUE(goldens.ok()) << goldens.status();
  const std::vector<std::string> traces = Traces();
  for (const std::string& g : *goldens) {
    EXPECT_NE(std::find(traces.begin(), traces.end(), g), traces.end())
        << "testdata/golden/" << g << ".csv has no trace; remove it";
  }
}

TEST(OnlineEqualsOffline, RecordedFreezeEventsAreReproduced) {
  for (const std::string& name : Traces()) {
    SCOPED_TRACE(name);
    trace::TraceContents t =
        trace::ReadTrace(absl::StrCat(kTestdata, "/", name, ".pb"));
    auto model = sim::FitTrace(t);
    ASSERT_TRUE(model.ok()) << model.status();
    auto replayed = sim::ReplayRecordedPolicy(model->run());
    ASSERT_TRUE(replayed.ok()) << replayed.status();
    // Known train/ bug (reported): the trainer applies the initial decision
    // (static:K, interval -1, step 0) before its TraceRecorder exists, so
    // the trace lacks that event. Until it is fixed, check the decision
    // against what the trace does record of it (step 0's trainable units)
    // and compare the rest strictly.
    const bool initial_missing =
        !replayed->empty() && (*replayed)[0].interval() == -1 &&
        (t.freeze_events.empty() || t.freeze_events[0].interval() != -1);
    if (initial_missing) {
      std::cerr << name << ": the trace lacks the initial freeze event (train/"
                << " bug: trainer.cc applies Initial() before the trace "
                   "recorder exists); checked against step 0 instead\n";
      ASSERT_FALSE(t.steps.empty());
      std::vector<bool> trainable(t.steps[0].trainable().begin(),
                                  t.steps[0].trainable().end());
      for (int u : (*replayed)[0].freeze()) {
        ASSERT_LT(u, static_cast<int>(trainable.size()));
        EXPECT_FALSE(trainable[u]) << "unit " << u << " trained at step 0";
        trainable[u] = true;  // accounted for
      }
      for (bool tr : trainable) EXPECT_TRUE(tr);
      replayed->erase(replayed->begin());
    }
    ASSERT_EQ(replayed->size(), t.freeze_events.size())
        << "recorded policy " << model->run().policy << " (rule "
        << model->run().vote_rule << ")";
    for (size_t i = 0; i < t.freeze_events.size(); ++i) {
      EXPECT_TRUE((*replayed)[i].SerializeAsString() ==
                  t.freeze_events[i].SerializeAsString())
          << "event " << i << "\nrecorded:\n"
          << t.freeze_events[i].DebugString() << "replayed:\n"
          << (*replayed)[i].DebugString();
    }
    // The simulator's own path (statistics rebuilt for the replayed
    // schedule) gives the same decisions on the recorded schedule.
    auto schedule = sim::ComputeSchedule(model->run(), model->run().policy, "");
    ASSERT_TRUE(schedule.ok()) << schedule.status();
    EXPECT_TRUE(schedule->same_as_recorded);
    EXPECT_FALSE(schedule->extrapolated_from_step.has_value());
    const size_t skip = initial_missing ? 1 : 0;
    ASSERT_EQ(schedule->decisions.size(), t.freeze_events.size() + skip);
    for (size_t i = 0; i < t.freeze_events.size(); ++i) {
      EXPECT_TRUE(schedule->decisions[i + skip].SerializeAsString() ==
                  t.freeze_events[i].SerializeAsString())
          << "event " << i << "\nrecorded:\n"
          << t.freeze_events[i].DebugString() << "simulator:\n"
          << schedule->decisions[i + skip].DebugString();
    }
  }
}

TEST(Testdata, CoversOneAndTwoRanksNoneFreezingAndVotes) {
  bool one_rank = false, two_ranks = false, none = false, freezing = false,
       votes = false;
  for (const std::string& name : Traces()) {
    trace::TraceContents t =
        trace::ReadTrace(absl::StrCat(kTestdata, "/", name, ".pb"));
    ASSERT_TRUE(t.complete()) << name << ": " << t.status;
    const trace::RunConfig& c = t.header->config();
    one_rank = one_rank || c.ranks() == 1;
    two_ranks = two_ranks || c.ranks() == 2;
    none = none || c.policy().rfind("none", 0) == 0;
    freezing = freezing || !t.freeze_events.empty();
    votes = votes || (c.vote_rule() != "global" && !t.freeze_events.empty() &&
                      t.freeze_events[0].votes_size() == c.ranks());
  }
  EXPECT_TRUE(one_rank);
  EXPECT_TRUE(two_ranks);
  EXPECT_TRUE(none);
  EXPECT_TRUE(freezing);
  EXPECT_TRUE(votes);
}

// The comparison itself: a changed schedule and a moved estimate are
// reported, noise below 1e-9 relative is not.
TEST(CompareGolden, ReportsWhatChanged) {
  const std::string golden =
      "cache,policy,vote_rule,network,world_size,predicted_total_s,"
      "speedup,freeze_schedule\n"
      "off,gradnorm,global,1gbe,2,1000.000000000,1.25,conv1@40 bn1@80\n"
      "off,\"static:1,at=4\",global,\"ring:alpha_us=1,gbps=2\",8,500,1,"
      "conv1@0\n";
  EXPECT_TRUE(CompareGolden("t", golden, golden).empty());
  std::string tiny = golden;
  tiny.replace(tiny.find("1000.000000000"), 14, "1000.000000500");  // 5e-10
  EXPECT_TRUE(CompareGolden("t", golden, tiny).empty());
  std::string moved = golden;
  moved.replace(moved.find("1000.000000000"), 14, "1000.000002000");  // 2e-9
  auto d = CompareGolden("t", golden, moved);
  ASSERT_EQ(d.size(), 1u);
  EXPECT_NE(d[0].find("predicted_total_s: golden 1000.000000000, now "
                      "1000.000002000"),
            std::string::npos)
      << d[0];
  EXPECT_NE(d[0].find("policy gradnorm@global, network 1gbe, world 2"),
            std::string::npos)
      << d[0];
  std::string schedule = golden;
  schedule.replace(schedule.find("bn1@80"), 6, "bn1@84");
  d = CompareGolden("t", golden, schedule);
  ASSERT_EQ(d.size(), 1u);
  EXPECT_NE(d[0].find("freeze_schedule changed: golden 'conv1@40 bn1@80', "
                      "now 'conv1@40 bn1@84'"),
            std::string::npos)
      << d[0];
  std::string missing = golden.substr(0, golden.rfind("off,\"static"));
  d = CompareGolden("t", golden, missing);
  ASSERT_EQ(d.size(), 1u);
  EXPECT_NE(d[0].find("not replayed now"), std::string::npos);
}

TEST(ParseCsv, Quoting) {
  auto rows = ParseCsv("a,\"b,c\",\"d\"\"e\"\n1,,3\n");
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[0], (std::vector<std::string>{"a", "b,c", "d\"e"}));
  EXPECT_EQ(rows[1], (std::vector<std::string>{"1", "", "3"}));
}

}  // namespace
}  // namespace freezing::replay
