// The activation cache inside real training runs (2 ranks as threads):
// training with the cache on gives the parameters of training with it off,
// bitwise, with freezing at the start, progressive freezing (incremental
// extension), unfreezing, augmentation variants, everything spilled to disk,
// a disk that fails, and a resumed run; the trace and the summary record what
// the cache did.
#include <ATen/ATen.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "comm/fake_communicator.h"
#include "gtest/gtest.h"
#include "trace/trace_reader.h"
#include "train/trainer.h"
#include "train/trainer_test_util.h"

namespace freezing::train {
namespace {

using testing::RunResult;
using testing::TempDir;
using testing::TrainOnFakeRanks;

TrainConfig SmallConfig(const std::string& out) {
  TrainConfig c;
  c.model = "resnet_tiny";
  c.data = "synthetic:n=384,test_n=64,classes=4";
  c.epochs = 3;
  c.batch_size = 16;
  c.ranks = 2;
  c.threads = 1;
  c.stats_interval = 5;  // freezing inside epochs (12 steps per epoch)
  c.stats_window = 2;
  c.profile_repeats = 1;
  c.augment = true;
  c.augment_variants = 2;  // batches mix hits and misses in epochs 2 and 3
  c.out = out;
  return c;
}

void ExpectSameParameters(const RunResult& a, const RunResult& b) {
  ASSERT_EQ(a.params.size(), b.params.size());
  ASSERT_FALSE(a.params.empty());
  for (size_t i = 0; i < a.params.size(); ++i) {
    EXPECT_TRUE(at::equal(a.params[i], b.params[i]))
        << "parameter " << i << " differs by up to "
        << (a.params[i] - b.params[i]).abs().max().item<double>();
  }
  EXPECT_EQ(a.summary.test_accuracy_per_epoch,
            b.summary.test_accuracy_per_epoch);
}

int64_t Sum(const std::vector<trace::Step>& steps,
            int64_t (trace::CacheStep::*field)() const) {
  int64_t n = 0;
  for (const trace::Step& s : steps) n += (s.cache().*field)();
  return n;
}

struct PolicyCase {
  std::string name;
  std::string policy;
  bool hits = true;  // the run has cache hits
  // Some hits are entries of an older boundary carried through newly frozen
  // units (seen as bytes read that are not hits x the boundary's size).
  bool extends = false;
};

class CacheEquivalenceTest : public ::testing::TestWithParam<PolicyCase> {};

TEST_P(CacheEquivalenceTest, CacheOnGivesTheParametersOfCacheOff) {
  const PolicyCase& pc = GetParam();
  TrainConfig off = SmallConfig(TempDir("off_" + pc.name));
  off.policy = pc.policy;
  TrainConfig on = SmallConfig(TempDir("on_" + pc.name));
  on.policy = pc.policy;
  on.cache = true;
  const RunResult without = TrainOnFakeRanks(off);
  const RunResult with = TrainOnFakeRanks(on);
  ExpectSameParameters(without, with);
  EXPECT_FALSE(with.summary.cache_disabled);
  EXPECT_EQ(with.summary.cache_hits > 0, pc.hits);
  EXPECT_GT(with.summary.cache_misses, 0);
  EXPECT_EQ(without.summary.cache_hits, 0);

  trace::TraceContents t = trace::ReadTrace(on.out + "/trace.pb");
  ASSERT_TRUE(t.complete()) << t.status;
  int64_t hits = 0, hit_steps = 0, extending_steps = 0;
  for (const trace::Step& s : t.steps) {
    const trace::CacheStep& c = s.cache();
    int prefix = 0;
    while (prefix < s.trainable_size() && !s.trainable(prefix)) ++prefix;
    EXPECT_EQ(c.boundary_unit(), prefix - 1) << "step " << s.step();
    EXPECT_EQ(c.hits() + c.misses(), prefix > 0 ? on.batch_size : 0)
        << "step " << s.step();
    EXPECT_FALSE(c.disabled());
    if (c.hits() > 0) {
      ++hit_steps;
      const int64_t row_bytes =
          t.header->units(c.boundary_unit()).output_elements_per_sample() * 4;
      if (c.bytes_read() != c.hits() * row_bytes) ++extending_steps;
      EXPECT_GT(c.bytes_read(), 0);
      EXPECT_GT(c.forward_saved_ns(), 0);
    }
    if (c.misses() > 0) EXPECT_GT(c.bytes_written(), 0);
    hits += c.hits();
  }
  EXPECT_EQ(extending_steps > 0, pc.extends);
  if (pc.hits) {
    EXPECT_GT(hit_steps, 0);
    // The summary counts both ranks, the trace rank 0.
    EXPECT_GT(with.summary.cache_hits, hits);
    EXPECT_GT(with.summary.cache_forward_saved_ns, 0);
  }
  EXPECT_NE(::access((on.out + "/activation_cache.rank0.spill").c_str(), F_OK),
            0);
}

INSTANTIATE_TEST_SUITE_P(
    Policies, CacheEquivalenceTest,
    ::testing::Values(
        // Frozen from the start.
        PolicyCase{"static", "static:3"},
        // Units freeze one after another inside epochs: entries are carried
        // through newly frozen units, and evaluation's broadcast of rank 0's
        // BatchNorm statistics makes rank 1's entries of a unit frozen in
        // that epoch stale.
        PolicyCase{"freezeout", "freezeout:t0=0.1", true, true},
        // Frozen sets with holes; units unfreeze and freeze again, dropping
        // entries (too briefly frozen here for hits: activation_cache_test
        // covers what unfreezing keeps and drops). Period 2: with the
        // default channels-last format and folded prefix, period 3 never
        // froze unit 0 in this run.
        PolicyCase{"apf", "apf:threshold=0.99,period=2", false}),
    [](const ::testing::TestParamInfo<PolicyCase>& info) {
      return info.param.name;
    });

TEST(TrainerCacheTest, EverythingSpilledToDiskGivesTheSameParameters) {
  TrainConfig off = SmallConfig(TempDir("spill_off"));
  off.policy = "static:4";
  off.augment = false;
  TrainConfig on = off;
  on.out = TempDir("spill_on");
  on.cache = true;
  on.cache_mem_mb = 0;
  const RunResult without = TrainOnFakeRanks(off);
  const RunResult with = TrainOnFakeRanks(on);
  ExpectSameParameters(without, with);
  // No augmentation: epoch 1 misses, epochs 2 and 3 hit (from the file).
  const int64_t samples = 2 * 12 * 16;
  EXPECT_EQ(with.summary.cache_misses, samples);
  EXPECT_EQ(with.summary.cache_hits, 2 * samples);
  trace::TraceContents t = trace::ReadTrace(on.out + "/trace.pb");
  ASSERT_TRUE(t.complete()) << t.status;
  EXPECT_EQ(Sum(t.steps, &trace::CacheStep::bytes_read),
            Sum(t.steps, &trace::CacheStep::bytes_written) * 2);
  EXPECT_NE(::access((on.out + "/activation_cache.rank0.spill").c_str(), F_OK),
            0)
      << "the spill file is removed at the end";
}

// A ViT's cache holds the tokens after the frozen prefix (17 x 128 floats
// per sample for vit_mini at 32x32 with patch 8, small enough for CI):
// exact spilled to disk with the prefix frozen from the start, and in memory
// with the prefix growing inside epochs (entries carried through newly
// frozen blocks).
TEST(TrainerCacheTest, VitTokensAreCachedExactlyInMemoryAndSpilled) {
  constexpr int64_t kTokenBytes = 17 * 128 * 4;
  for (const auto& [policy, mem_mb] :
       std::vector<std::pair<std::string, int64_t>>{
           {"static:3", 0}, {"freezeout:t0=0.1", 1024}}) {
    SCOPED_TRACE(policy);
    const std::string tag = policy.substr(0, policy.find(':'));
    TrainConfig off = SmallConfig(TempDir("vit_off_" + tag));
    off.model = "vit_mini";
    off.patch_size = 8;
    off.policy = policy;
    off.lr = 0.01;
    TrainConfig on = off;
    on.out = TempDir("vit_on_" + tag);
    on.cache = true;
    on.cache_mem_mb = mem_mb;
    const RunResult without = TrainOnFakeRanks(off);
    const RunResult with = TrainOnFakeRanks(on);
    ExpectSameParameters(without, with);
    EXPECT_FALSE(with.summary.cache_disabled);
    EXPECT_GT(with.summary.cache_hits, 0);
    trace::TraceContents t = trace::ReadTrace(on.out + "/trace.pb");
    ASSERT_TRUE(t.complete()) << t.status;
    for (int u = 0; u + 1 < t.header->units_size(); ++u) {
      EXPECT_EQ(t.header->units(u).output_elements_per_sample() * 4,
                kTokenBytes)
          << t.header->units(u).name();
    }
    // Every boundary holds the same tokens: each hit reads one row of them
    // (carried ones at their older boundary), each computed row (a miss, or
    // a carried hit) writes one.
    int64_t hits = 0;
    for (const trace::Step& s : t.steps) {
      const trace::CacheStep& c = s.cache();
      hits += c.hits();
      EXPECT_EQ(c.bytes_read(), c.hits() * kTokenBytes) << s.step();
      EXPECT_EQ(c.bytes_written() % kTokenBytes, 0) << s.step();
      EXPECT_GE(c.bytes_written(), c.misses() * kTokenBytes) << s.step();
    }
    EXPECT_GT(hits, 0);
  }
}

TEST(TrainerCacheTest, AFullDiskTurnsTheCacheOffAndTheRunCompletes) {
  TrainConfig off = SmallConfig(TempDir("full_off"));
  off.policy = "static:4";
  TrainConfig on = off;
  on.out = TempDir("full_on");
  on.cache = true;
  on.cache_mem_mb = 0;
  // Rank 0's spill file is /dev/full: its first write fails with ENOSPC.
  ASSERT_EQ(::system(("mkdir -p " + on.out).c_str()), 0);
  ASSERT_EQ(::symlink("/dev/full",
                      (on.out + "/activation_cache.rank0.spill").c_str()),
            0);
  const RunResult without = TrainOnFakeRanks(off);
  const RunResult with = TrainOnFakeRanks(on);
  ExpectSameParameters(without, with);
  EXPECT_TRUE(with.summary.cache_disabled);
  EXPECT_EQ(with.summary.steps, 36);
  trace::TraceContents t = trace::ReadTrace(on.out + "/trace.pb");
  ASSERT_TRUE(t.complete()) << t.status;
  for (const trace::Step& s : t.steps) {
    EXPECT_TRUE(s.cache().disabled()) << "step " << s.step();
    if (s.step() > 0) {
      EXPECT_EQ(s.cache().hits(), 0);
      EXPECT_EQ(s.cache().boundary_unit(), -1);
    }
  }
  // Rank 1's cache kept working.
  EXPECT_GT(with.summary.cache_hits, 0);
}

TEST(TrainerCacheTest, ResumeRebuildsTheCacheAndGivesTheSameParameters) {
  TrainConfig base = SmallConfig(TempDir("resume_full"));
  base.policy = "freezeout:t0=0.1";
  const RunResult uninterrupted = TrainOnFakeRanks(base);

  TrainConfig first = base;
  first.out = TempDir("resume_cache");
  first.cache = true;
  first.stop_after_epochs = 1;
  TrainOnFakeRanks(first);
  TrainConfig second = first;
  second.stop_after_epochs = 0;
  second.resume = true;
  const RunResult resumed = TrainOnFakeRanks(second);
  ExpectSameParameters(uninterrupted, resumed);
  EXPECT_EQ(resumed.summary.steps, 36);
  EXPECT_GT(resumed.summary.cache_hits, 0);
  EXPECT_GT(resumed.summary.cache_forward_saved_ns, 0);
}

TEST(TrainerCacheTest, FreshAugmentationWithTheCacheIsRefusedWithTheFix) {
  TrainConfig c = SmallConfig(TempDir("fresh"));
  c.ranks = 1;
  c.cache = true;
  c.augment_variants = 0;
  RunEnvironment env;
  env.quiet = true;
  std::vector<absl::Status> st =
      comm::RunOnFakeRanks(1, [&](comm::Communicator& comm) -> absl::Status {
        return Trainer::Create(c, comm, env).status();
      });
  EXPECT_EQ(st[0].code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(st[0].message().find("--augment_variants=K"), std::string::npos)
      << st[0];
  EXPECT_NE(st[0].message().find("--augment=false"), std::string::npos);
  c.augment = false;
  std::vector<absl::Status> ok =
      comm::RunOnFakeRanks(1, [&](comm::Communicator& comm) -> absl::Status {
        return Trainer::Create(c, comm, env).status();
      });
  EXPECT_TRUE(ok[0].ok()) << ok[0];
}

}  // namespace
}  // namespace freezing::train
