// The trainer with the frozen prefix in its inference form and the memory
// format switch (issue 17): what the trace records (the format chosen and
// asked for, folding, which steps ran folded, the profile's folded forwards
// and both formats' step times), a resumed run rebuilding the folded prefix
// (bitwise the uninterrupted run), and folding and the format changing the
// training only by rounding.
#include <ATen/ATen.h>

#include <algorithm>
#include <cstdio>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "trace/trace_reader.h"
#include "train/train_config.h"
#include "train/trainer_test_util.h"

namespace freezing::train {
namespace {

using testing::RunResult;
using testing::TempDir;
using testing::TrainOnFakeRanks;

TrainConfig SmallConfig(const std::string& out) {
  TrainConfig c;
  c.model = "resnet_tiny";
  c.data = "synthetic:n=256,test_n=64,classes=4";
  c.epochs = 2;
  c.batch_size = 16;
  c.ranks = 2;
  c.threads = 1;
  c.policy = "static:3";
  c.stats_interval = 4;
  c.stats_window = 2;
  c.profile_repeats = 1;
  c.out = out;
  return c;
}

TEST(TrainerSpeedTest, TheTraceRecordsTheFormatAndTheFoldedPrefix) {
  const TrainConfig c = SmallConfig(TempDir("recorded"));
  TrainOnFakeRanks(c);
  trace::TraceContents t = trace::ReadTrace(c.out + "/trace.pb");
  ASSERT_TRUE(t.complete()) << t.status;
  const trace::RunConfig& rc = t.header->config();
  EXPECT_EQ(rc.memory_format(), "contiguous");  // auto
  EXPECT_EQ(rc.memory_format_flag(), "auto");
  EXPECT_TRUE(rc.fold_frozen());
  ASSERT_TRUE(t.profile.has_value());
  EXPECT_GT(t.profile->step_contiguous_ns(), 0);
  EXPECT_GT(t.profile->step_channels_last_ns(), 0);
  for (const trace::UnitProfile& u : t.profile->units()) {
    EXPECT_GT(u.forward_folded_ns(), 0) << "unit " << u.unit();
  }
  ASSERT_FALSE(t.steps.empty());
  for (const trace::Step& s : t.steps) {
    EXPECT_TRUE(s.prefix_folded()) << "step " << s.step();
  }

  TrainConfig plain = SmallConfig(TempDir("recorded_plain"));
  plain.memory_format = "channels_last";
  plain.fold_frozen = false;
  TrainOnFakeRanks(plain);
  t = trace::ReadTrace(plain.out + "/trace.pb");
  ASSERT_TRUE(t.complete()) << t.status;
  EXPECT_EQ(t.header->config().memory_format(), "channels_last");
  EXPECT_EQ(t.header->config().memory_format_flag(), "channels_last");
  EXPECT_FALSE(t.header->config().fold_frozen());
  for (const trace::Step& s : t.steps) EXPECT_FALSE(s.prefix_folded());
}

// The folded forms are built again on resume (from the checkpoint's
// weights): without them the prefix would differ in the last bits.
TEST(TrainerSpeedTest, ResumeRebuildsTheFoldedPrefixBitForBit) {
  for (const std::string policy : {"static:3", "gradnorm:variant=prefix"}) {
    const std::string name = policy.substr(0, 6);
    TrainConfig whole = SmallConfig(TempDir("whole_" + name));
    whole.policy = policy;
    whole.epochs = 3;
    const RunResult full = TrainOnFakeRanks(whole);
    TrainConfig first = whole;
    first.out = TempDir("cut_" + name);
    first.stop_after_epochs = 1;
    TrainOnFakeRanks(first);
    TrainConfig second = first;
    second.stop_after_epochs = 0;
    second.resume = true;
    const RunResult resumed = TrainOnFakeRanks(second);
    ASSERT_EQ(full.params.size(), resumed.params.size());
    for (size_t i = 0; i < full.params.size(); ++i) {
      EXPECT_TRUE(at::equal(full.params[i], resumed.params[i]))
          << policy << ": param " << i;
    }
    EXPECT_EQ(full.summary.test_accuracy_per_epoch,
              resumed.summary.test_accuracy_per_epoch);
  }
}

double MaxRelativeDifference(const RunResult& a, const RunResult& b) {
  double worst = 0;
  for (size_t i = 0; i < a.params.size(); ++i) {
    const double scale = a.params[i].abs().max().item<double>();
    worst =
        std::max(worst, (a.params[i] - b.params[i]).abs().max().item<double>() /
                            std::max(scale, 1e-12));
  }
  return worst;
}

// Folding and the memory format change float rounding, not the training:
// after 32 steps every parameter is within 1e-2 (relative to its largest
// value) of the contiguous, unfolded run's.
TEST(TrainerSpeedTest, FoldingAndTheFormatChangeOnlyRounding) {
  TrainConfig base = SmallConfig(TempDir("plain"));
  base.memory_format = "contiguous";
  base.fold_frozen = false;
  const RunResult plain = TrainOnFakeRanks(base);
  for (const std::string format : {"contiguous", "channels_last"}) {
    for (bool fold : {false, true}) {
      if (format == "contiguous" && !fold) continue;
      TrainConfig c = base;
      c.out = TempDir(format + (fold ? "_folded" : "_plain"));
      c.memory_format = format;
      c.fold_frozen = fold;
      const RunResult r = TrainOnFakeRanks(c);
      const double d = MaxRelativeDifference(r, plain);
      std::printf(
          "%s, fold %d: parameters within %.3g of contiguous "
          "unfolded\n",
          format.c_str(), fold, d);
      EXPECT_LE(d, 1e-2) << format << " fold " << fold;
      EXPECT_GT(d, 0) << "the same bits: was anything changed?";
    }
  }
}

}  // namespace
}  // namespace freezing::train
