// End-to-end runs of the trainer on ranks that are threads: outputs, the
// trace's agreement with the summary, resume equals an uninterrupted run, and
// configuration errors.
#include "train/trainer.h"

#include <ATen/ATen.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <sstream>
#include <string>
#include <vector>

#include "comm/fake_communicator.h"
#include "gtest/gtest.h"
#include "trace/trace_reader.h"
#include "train/checkpoint.h"
#include "train/trainer_test_util.h"

namespace freezing::train {
namespace {

using testing::RunResult;
using testing::TempDir;
using testing::TrainOnFakeRanks;

TrainConfig SmallConfig(const std::string& out) {
  TrainConfig c;
  c.model = "resnet_tiny";
  c.data = "synthetic:n=384,test_n=128,classes=4";
  c.epochs = 3;
  c.batch_size = 16;
  c.ranks = 2;
  c.threads = 1;
  c.policy = "gradnorm:variant=prefix";
  c.stats_interval = 5;  // intervals straddle epoch ends (12 steps/epoch)
  c.stats_window = 2;
  c.profile_repeats = 1;
  c.out = out;
  return c;
}

std::string Read(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

TEST(TrainerTest, WritesSummaryConfigTraceAndModel) {
  const std::string out = TempDir("full");
  const RunResult r = TrainOnFakeRanks(SmallConfig(out));
  EXPECT_EQ(r.summary.steps, 36);
  EXPECT_EQ(r.summary.test_accuracy_per_epoch.size(), 3u);
  const std::string json = Read(out + "/summary.json");
  EXPECT_NE(json.find("\"total_time_s\""), std::string::npos);
  EXPECT_NE(json.find("\"ranks\": 2"), std::string::npos);
  EXPECT_NE(Read(out + "/config.json").find("\"stats_interval\": 5"),
            std::string::npos);
  EXPECT_FALSE(Read(out + "/model.pt").empty());

  trace::TraceContents t = trace::ReadTrace(out + "/trace.pb");
  ASSERT_TRUE(t.complete()) << t.status;
  EXPECT_EQ(t.steps.size(), 36u);
  EXPECT_EQ(t.intervals.size(), 7u);  // 36 steps / T = 5
  EXPECT_EQ(t.epochs.size(), 3u);
  ASSERT_TRUE(t.profile.has_value());
  EXPECT_EQ(t.profile->units_size(), t.header->units_size());
  EXPECT_EQ(t.profile->allreduce_size() > 0, true);
  EXPECT_EQ(t.footer->total_time_ns(), r.summary.phases.total_ns);
  // Every freeze in the summary is in the trace, at the same step.
  int64_t freezes = 0;
  for (const trace::FreezeEvent& e : t.freeze_events)
    freezes += e.freeze_size();
  EXPECT_EQ(freezes, static_cast<int64_t>(r.summary.freeze_events.size()));
  // Intervals carry both ranks' statistics.
  for (const trace::Interval& i : t.intervals) {
    EXPECT_EQ(i.ranks_size(), 2);
    EXPECT_EQ(i.global_size(), t.header->units_size());
  }
  // Trainable flags in the steps follow the freeze events.
  for (const trace::Step& s : t.steps) {
    int frozen_before = 0;
    for (const trace::FreezeEvent& e : t.freeze_events) {
      if (e.step() <= s.step()) frozen_before += e.freeze_size();
    }
    int frozen = 0;
    for (bool tr : s.trainable()) frozen += tr ? 0 : 1;
    EXPECT_EQ(frozen, frozen_before) << "step " << s.step();
  }
}

TEST(TrainerTest, StaticFreezingIsRecordedBeforeTheFirstStep) {
  TrainConfig c = SmallConfig(TempDir("static"));
  c.policy = "static:2";
  c.epochs = 1;
  const RunResult r = TrainOnFakeRanks(c);
  ASSERT_EQ(r.summary.freeze_events.size(), 2u);
  EXPECT_EQ(r.summary.freeze_events[0].step, 0);
  trace::TraceContents t = trace::ReadTrace(TempDir("static") + "/trace.pb");
  ASSERT_TRUE(t.complete()) << t.status;
  ASSERT_EQ(t.freeze_events.size(), 1u);
  EXPECT_EQ(t.freeze_events[0].step(), 0);
  EXPECT_EQ(t.freeze_events[0].freeze_size(), 2);
  EXPECT_FALSE(t.steps[0].trainable(0));
  EXPECT_FALSE(t.steps[0].trainable(1));
  EXPECT_TRUE(t.steps[0].trainable(2));
}

TEST(TrainerTest, ResumeGivesTheParametersOfAnUninterruptedRun) {
  const RunResult full =
      TrainOnFakeRanks(SmallConfig(TempDir("uninterrupted")));

  TrainConfig first = SmallConfig(TempDir("interrupted"));
  first.stop_after_epochs = 1;
  TrainOnFakeRanks(first);
  TrainConfig second = SmallConfig(TempDir("interrupted"));
  second.resume = true;
  const RunResult resumed = TrainOnFakeRanks(second);

  ASSERT_EQ(full.params.size(), resumed.params.size());
  for (size_t i = 0; i < full.params.size(); ++i) {
    EXPECT_TRUE(at::equal(full.params[i], resumed.params[i])) << "param " << i;
  }
  ASSERT_EQ(full.summary.freeze_events.size(),
            resumed.summary.freeze_events.size());
  for (size_t i = 0; i < full.summary.freeze_events.size(); ++i) {
    EXPECT_EQ(full.summary.freeze_events[i].step,
              resumed.summary.freeze_events[i].step);
    EXPECT_EQ(full.summary.freeze_events[i].unit,
              resumed.summary.freeze_events[i].unit);
  }
  EXPECT_EQ(resumed.summary.steps, 36);
  EXPECT_EQ(full.summary.test_accuracy_per_epoch,
            resumed.summary.test_accuracy_per_epoch);

  // The resumed trace reads like one run.
  trace::TraceContents t =
      trace::ReadTrace(TempDir("interrupted") + "/trace.pb");
  ASSERT_TRUE(t.complete()) << t.status;
  EXPECT_TRUE(t.footer->resumed());
  ASSERT_EQ(t.steps.size(), 36u);
  for (size_t i = 0; i < t.steps.size(); ++i) {
    EXPECT_EQ(t.steps[i].step(), static_cast<int64_t>(i));
  }
  EXPECT_EQ(t.intervals.size(), 7u);
}

// A checkpoint that cannot be written (here: its folder is a file, as a full
// disk would fail it) costs the checkpoint, not the run.
TEST(TrainerTest, FailedCheckpointWritesDoNotStopTraining) {
  TrainConfig c = SmallConfig(TempDir("nockpt"));
  c.epochs = 2;
  ASSERT_EQ(std::system(("mkdir -p '" + c.out + "'").c_str()), 0);
  std::ofstream(c.out + "/checkpoint") << "not a folder";
  TrainOnFakeRanks(c);
  EXPECT_NE(Read(c.out + "/summary.json").find("\"steps\": 24"),
            std::string::npos);
  EXPECT_EQ(Read(c.out + "/checkpoint"), "not a folder");
}

// Weighted votes on deliberately different data: a Dirichlet non-IID
// partition gives the ranks different label mixes, so their local policies
// vote differently, yet every rank reaches the same decisions (a rank that
// froze differently would fail the reducer's plan check and end the run).
TEST(TrainerTest, RanksWithNonIidDataNeverDivergeUnderEveryVoteRule) {
  for (const char* rule : {"majority", "samples", "loss", "snr"}) {
    SCOPED_TRACE(rule);
    TrainConfig c = SmallConfig(TempDir(std::string("votes_") + rule));
    c.epochs = 2;
    c.data = "synthetic:n=512,test_n=64,classes=4";
    c.partition = "dirichlet:alpha=0.1,min_size=64";
    c.batch_size = 8;
    c.stats_interval = 2;
    c.policy = "gradnorm:variant=prefix";
    c.vote_rule = rule;
    RunEnvironment env;
    env.quiet = true;
    std::vector<std::vector<SummaryFreezeEvent>> events(2);
    std::vector<absl::Status> st =
        comm::RunOnFakeRanks(2, [&](comm::Communicator& comm) -> absl::Status {
          auto trainer = Trainer::Create(c, comm, env);
          if (!trainer.ok()) return trainer.status();
          auto summary = (*trainer)->Run();
          if (!summary.ok()) return summary.status();
          events[comm.rank()] = summary->freeze_events;
          return absl::OkStatus();
        });
    for (const absl::Status& s : st) ASSERT_TRUE(s.ok()) << s;
    ASSERT_EQ(events[0].size(), events[1].size());
    EXPECT_GT(events[0].size(), 0u) << "no decision: the test means nothing";
    for (size_t i = 0; i < events[0].size(); ++i) {
      EXPECT_EQ(events[0][i].unit, events[1][i].unit);
      EXPECT_EQ(events[0][i].step, events[1][i].step);
    }
    // The ranks really saw different data and voted: the trace has each
    // rank's vote for every decision.
    trace::TraceContents t = trace::ReadTrace(c.out + "/trace.pb");
    ASSERT_TRUE(t.complete()) << t.status;
    const auto& shards = t.header->config().shard_sizes();
    ASSERT_EQ(shards.size(), 2);
    EXPECT_NE(shards[0], shards[1]);
    for (const trace::FreezeEvent& e : t.freeze_events) {
      EXPECT_EQ(e.votes_size(), 2);
    }
  }
}

// Every rank's status of Create (and Run, when Create succeeds).
std::vector<absl::Status> CreateAndRun(const TrainConfig& c) {
  RunEnvironment env;
  env.quiet = true;
  return comm::RunOnFakeRanks(c.ranks,
                              [&](comm::Communicator& comm) -> absl::Status {
                                auto trainer = Trainer::Create(c, comm, env);
                                if (!trainer.ok()) return trainer.status();
                                return (*trainer)->Run().status();
                              });
}

TEST(TrainerTest, ResumeRefusesAnotherConfigurationNamingOnlyTheDifference) {
  TrainConfig first = SmallConfig(TempDir("mismatch"));
  first.stop_after_epochs = 1;
  TrainOnFakeRanks(first);
  TrainConfig other = SmallConfig(TempDir("mismatch"));
  other.resume = true;
  other.batch_size = 8;
  std::vector<absl::Status> st = CreateAndRun(other);
  EXPECT_EQ(st[0].code(), absl::StatusCode::kFailedPrecondition) << st[0];
  const std::string m(st[0].message());
  EXPECT_NE(m.find("batch_size: 16 in the checkpoint, 8 now"),
            std::string::npos)
      << m;
  EXPECT_EQ(m.find("model"), std::string::npos) << "not the whole config";
}

// Every rank's momentum in a checkpoint is the same tensor, bit for bit:
// data parallelism applies one averaged gradient to the same parameters on
// every rank. That is what lets a resume on another number of ranks give a
// new rank any rank's momentum.
void ExpectSameMomentumOnEveryRank(const std::string& out, int ranks,
                                   int epochs_done) {
  const std::string dir = out + "/checkpoint";
  absl::StatusOr<RankState> first = ReadRankState(dir, 0, epochs_done);
  ASSERT_TRUE(first.ok()) << first.status();
  size_t defined = 0;
  for (const at::Tensor& m : first->momentum) defined += m.defined();
  ASSERT_GT(defined, 0u) << "no momentum to compare";
  for (int r = 1; r < ranks; ++r) {
    absl::StatusOr<RankState> other = ReadRankState(dir, r, epochs_done);
    ASSERT_TRUE(other.ok()) << other.status();
    ASSERT_EQ(other->momentum.size(), first->momentum.size());
    for (size_t i = 0; i < first->momentum.size(); ++i) {
      ASSERT_EQ(other->momentum[i].defined(), first->momentum[i].defined());
      if (!first->momentum[i].defined()) continue;
      EXPECT_TRUE(at::equal(other->momentum[i], first->momentum[i]))
          << "rank " << r << " momentum " << i;
    }
  }
}

// ExpectSameTrainableUnits: steps `a` and `b` of the trace trained the same
// units, and not all of them.
void ExpectSameTrainableUnits(const trace::TraceContents& t, int64_t a,
                              int64_t b) {
  ASSERT_GT(t.steps.size(), static_cast<size_t>(std::max(a, b)));
  const trace::Step& x = t.steps[a];
  const trace::Step& y = t.steps[b];
  ASSERT_EQ(x.trainable_size(), y.trainable_size());
  int frozen = 0;
  for (int u = 0; u < x.trainable_size(); ++u) {
    EXPECT_EQ(x.trainable(u), y.trainable(u)) << "unit " << u;
    frozen += !x.trainable(u);
  }
  EXPECT_GT(frozen, 0) << "nothing frozen: the check would pass vacuously";
}

// StopAndResumeOn: runs `first` until it stops after epoch 1, checks its
// ranks' momentum, resumes it on `ranks` to the end; the resumed run.
RunResult StopAndResumeOn(TrainConfig first, int ranks) {
  first.stop_after_epochs = 1;
  TrainOnFakeRanks(first);
  ExpectSameMomentumOnEveryRank(first.out, first.ranks, 1);
  TrainConfig second = first;
  second.ranks = ranks;
  second.stop_after_epochs = 0;
  second.resume = true;
  return TrainOnFakeRanks(second);
}

// Fewer ranks: 3 ranks stopped after epoch 1 (8 steps of 48 samples),
// resumed on 2 (12 steps of 32 per epoch). Not bit-exact, so what is
// checked is what must hold: the step and epoch continue, the frozen units
// are kept, the data is re-sharded (the new epoch length), the trace reads
// as one run, and training goes on converging.
TEST(TrainerTest, ResumeOnFewerRanksContinuesAndConverges) {
  TrainConfig first = SmallConfig(TempDir("fewer"));
  first.ranks = 3;
  first.policy = "static:2";
  const RunResult resumed = StopAndResumeOn(first, 2);
  EXPECT_EQ(resumed.summary.steps, 8 + 2 * 12);
  EXPECT_EQ(resumed.summary.ranks, 2);
  const std::vector<double>& accuracy = resumed.summary.test_accuracy_per_epoch;
  ASSERT_EQ(accuracy.size(), 3u);
  EXPECT_GE(accuracy[2], accuracy[0]);

  trace::TraceContents t = trace::ReadTrace(first.out + "/trace.pb");
  ASSERT_TRUE(t.complete()) << t.status;
  ASSERT_EQ(t.steps.size(), 32u);
  for (size_t i = 0; i < t.steps.size(); ++i) {
    EXPECT_EQ(t.steps[i].step(), static_cast<int64_t>(i));
    EXPECT_EQ(t.steps[i].epoch(), i < 8 ? 0 : 1 + (i - 8) / 12) << i;
  }
  ExpectSameTrainableUnits(t, 7, 8);  // the last step before the resume
  ASSERT_EQ(t.epochs.size(), 3u);
  EXPECT_LT(t.epochs[2].train_loss(), t.epochs[0].train_loss());
}

// More ranks, under a vote rule: 2 ranks stopped after epoch 1, resumed on
// 3; rank 2 continues rank 0's policy instance, and the ranks keep
// deciding together (a rank that froze differently would end the run).
TEST(TrainerTest, ResumeOnMoreRanksUnderAVoteRuleContinues) {
  TrainConfig first = SmallConfig(TempDir("more_ranks"));
  first.vote_rule = "majority";
  first.lr = 0.05;  // 0.1 makes this small run diverge, resumed or not
  const RunResult resumed = StopAndResumeOn(first, 3);
  EXPECT_EQ(resumed.summary.steps, 12 + 2 * 8);
  trace::TraceContents t = trace::ReadTrace(first.out + "/trace.pb");
  ASSERT_TRUE(t.complete()) << t.status;
  ASSERT_EQ(t.steps.size(), 28u);
  EXPECT_EQ(t.steps.back().step(), 27);
  ASSERT_EQ(t.epochs.size(), 3u);
  EXPECT_LT(t.epochs[2].train_loss(), t.epochs[0].train_loss());
}

// A finished run continues with more epochs; the result is the finished
// run's epochs plus the new one, in the summary and in one trace.
TEST(TrainerTest, ResumeWithMoreEpochsContinuesAFinishedRun) {
  TrainConfig first = SmallConfig(TempDir("longer"));
  first.epochs = 2;
  const RunResult done = TrainOnFakeRanks(first);
  ASSERT_EQ(done.summary.test_accuracy_per_epoch.size(), 2u);
  TrainConfig more = first;
  more.resume = true;
  more.epochs = 3;
  const RunResult longer = TrainOnFakeRanks(more);
  EXPECT_EQ(longer.summary.steps, 36);
  EXPECT_EQ(longer.summary.epochs, 3);
  ASSERT_EQ(longer.summary.test_accuracy_per_epoch.size(), 3u);
  EXPECT_EQ(longer.summary.test_accuracy_per_epoch[1],
            done.summary.test_accuracy_per_epoch[1]);
  EXPECT_NE(Read(first.out + "/summary.json").find("\"epochs\": 3"),
            std::string::npos);
  trace::TraceContents t = trace::ReadTrace(first.out + "/trace.pb");
  ASSERT_TRUE(t.complete()) << t.status;
  EXPECT_EQ(t.steps.size(), 36u);
  EXPECT_EQ(t.epochs.size(), 3u);
  EXPECT_EQ(t.header->config().epochs(), 3);
  EXPECT_TRUE(t.footer->resumed());
}

// Resuming a finished run with the length it has changes nothing.
TEST(TrainerTest, ResumeOfAFinishedRunSaysSoAndChangesNothing) {
  TrainConfig c = SmallConfig(TempDir("finished"));
  c.epochs = 1;
  TrainOnFakeRanks(c);
  const std::string trace = Read(c.out + "/trace.pb");
  const std::string summary = Read(c.out + "/summary.json");
  c.resume = true;
  std::vector<absl::Status> st = CreateAndRun(c);
  EXPECT_EQ(st[0].code(), absl::StatusCode::kFailedPrecondition) << st[0];
  EXPECT_NE(st[0].message().find("is finished (1 epochs)"), std::string::npos)
      << st[0];
  EXPECT_EQ(Read(c.out + "/trace.pb"), trace);
  EXPECT_EQ(Read(c.out + "/summary.json"), summary);
}

// A run into the folder of an earlier run is refused and leaves it as it
// was; --overwrite replaces it, but only once the new run has started.
TEST(TrainerTest, AnEarlierRunIsKeptUnlessOverwrittenByARunThatStarted) {
  TrainConfig c = SmallConfig(TempDir("earlier"));
  c.epochs = 1;
  TrainOnFakeRanks(c);
  const std::string trace = Read(c.out + "/trace.pb");
  ASSERT_FALSE(trace.empty());

  std::vector<absl::Status> st = CreateAndRun(c);
  EXPECT_EQ(st[0].code(), absl::StatusCode::kFailedPrecondition) << st[0];
  EXPECT_NE(st[0].message().find("--overwrite"), std::string::npos) << st[0];
  EXPECT_EQ(Read(c.out + "/trace.pb"), trace) << "the old trace changed";

  // A new run that fails while setting up replaces nothing.
  TrainConfig failing = c;
  failing.overwrite = true;
  failing.data = "cifar10:/nonexistent";
  st = CreateAndRun(failing);
  EXPECT_FALSE(st[0].ok());
  EXPECT_EQ(Read(c.out + "/trace.pb"), trace);
  EXPECT_EQ(::access((c.out + ".overwrite").c_str(), F_OK), -1);

  TrainConfig replacing = c;
  replacing.overwrite = true;
  replacing.policy = "static:2";
  const RunResult r = TrainOnFakeRanks(replacing);
  EXPECT_EQ(r.summary.policy, "static:2");
  EXPECT_NE(Read(c.out + "/trace.pb"), trace);
  EXPECT_NE(Read(c.out + "/summary.json").find("static:2"), std::string::npos);
  EXPECT_EQ(::access((c.out + ".overwrite").c_str(), F_OK), -1);
  // The new run resumes like any other.
  TrainConfig more = replacing;
  more.overwrite = false;
  more.resume = true;
  more.epochs = 2;
  EXPECT_EQ(TrainOnFakeRanks(more).summary.steps, 24);
}

TEST(TrainerTest, BadConfigurationsAreRefusedWithTheFix) {
  RunEnvironment env;
  env.quiet = true;
  auto check = [&](TrainConfig c, absl::string_view needle) {
    std::vector<absl::Status> st =
        comm::RunOnFakeRanks(1, [&](comm::Communicator& comm) -> absl::Status {
          return Trainer::Create(c, comm, env).status();
        });
    EXPECT_FALSE(st[0].ok());
    EXPECT_NE(st[0].message().find(needle), absl::string_view::npos) << st[0];
  };
  TrainConfig c = SmallConfig(TempDir("bad"));
  c.ranks = 1;
  TrainConfig wrong_ranks = c;
  wrong_ranks.ranks = 2;
  check(wrong_ranks, "mpiexec");
  TrainConfig bad_policy = c;
  bad_policy.policy = "gradnrom";
  check(bad_policy, "gradnorm");  // the list of valid names
  TrainConfig bad_model = c;
  bad_model.model = "resnet19";
  check(bad_model, "resnet18");
  TrainConfig bad_rule = c;
  bad_rule.vote_rule = "median";
  check(bad_rule, "majority");
  TrainConfig no_out = c;
  no_out.out = "";
  check(no_out, "--out");
  TrainConfig bad_data = c;
  bad_data.data = "cifar10:/nonexistent";
  check(bad_data, "/nonexistent");
  // A refused run creates nothing.
  EXPECT_EQ(::access(c.out.c_str(), F_OK), -1) << c.out << " was created";
}

// Preflight finds Create's errors without ranks, and creates nothing.
TEST(TrainerTest, PreflightFindsConfigurationErrorsWithoutRanks) {
  TrainConfig c = SmallConfig(TempDir("preflight"));
  c.ranks = 4;  // no communicator needed
  ASSERT_TRUE(Trainer::Preflight(c).ok());
  const std::pair<std::function<void(TrainConfig&)>, const char*> cases[] = {
      {[](TrainConfig& b) { b.policy = "gradnrom"; }, "gradnorm"},
      {[](TrainConfig& b) { b.vote_rule = "median"; }, "--vote_rule"},
      {[](TrainConfig& b) { b.model = "resnet19"; }, "resnet18"},
      {[](TrainConfig& b) { b.classes = {7}; }, "class 7"},
      {[](TrainConfig& b) { b.init = "/nonexistent"; }, "--init"},
      {[](TrainConfig& b) { b.policy = "gradnorm:interval=7"; },
       "--stats_interval"},
  };
  for (const auto& [change, needle] : cases) {
    TrainConfig bad = c;
    change(bad);
    absl::Status s = Trainer::Preflight(bad).status();
    EXPECT_FALSE(s.ok()) << needle;
    EXPECT_NE(s.message().find(needle), absl::string_view::npos) << s;
  }
  EXPECT_EQ(::access(c.out.c_str(), F_OK), -1) << c.out << " was created";
}

}  // namespace
}  // namespace freezing::train
