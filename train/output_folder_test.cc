#include "train/output_folder.h"

#include <sys/stat.h>

#include <cstdlib>
#include <string>

#include "base/file.h"
#include "gtest/gtest.h"
#include "train/checkpoint.h"
#include "train/train_config.h"

namespace freezing::train {
namespace {

std::string TempDir(const std::string& name) {
  const std::string dir = std::string(std::getenv("TEST_TMPDIR")) + "/" + name;
  EXPECT_TRUE(base::RemoveTree(dir).ok());
  return dir;
}

bool Exists(const std::string& path) {
  struct stat st;
  return ::lstat(path.c_str(), &st) == 0;
}

TrainConfig Config(const std::string& out) {
  TrainConfig c;
  c.out = out;
  c.epochs = 2;
  return c;
}

// An earlier run: its files, and a checkpoint after `epochs_done` epochs of
// a run made with `made_with`.
void FakeRun(const TrainConfig& made_with, int epochs_done, bool ended) {
  ASSERT_TRUE(base::MakeDirs(made_with.out + "/checkpoint").ok());
  ASSERT_TRUE(
      base::WriteFileAtomically(made_with.out + "/trace.pb", "old trace").ok());
  CheckpointInfo info;
  info.epochs_done = epochs_done;
  info.model_file = ModelFileName(epochs_done);
  info.fingerprint = ResumeFingerprint(made_with);
  ASSERT_TRUE(CommitCheckpoint(made_with.out + "/checkpoint", info).ok());
  if (ended) {
    ASSERT_TRUE(
        base::WriteFileAtomically(made_with.out + "/summary.json", "{}").ok());
  }
}

TEST(OutputFolderTest, AMissingOrEmptyFolderIsANewRun) {
  const std::string out = TempDir("new");
  absl::StatusOr<OutputPlan> plan = PlanOutputFolder(Config(out));
  ASSERT_TRUE(plan.ok()) << plan.status();
  EXPECT_EQ(plan->action, FolderAction::kCreate);
  EXPECT_EQ(plan->write_to, out);
  EXPECT_FALSE(Exists(out)) << "planning creates nothing";
  ASSERT_TRUE(base::MakeDirs(out).ok());
  ASSERT_TRUE(base::WriteFileAtomically(out + "/notes.txt", "mine").ok());
  // An empty checkpoint/ (older versions left one after a refused run).
  ASSERT_TRUE(base::MakeDirs(out + "/checkpoint").ok());
  EXPECT_EQ(PlanOutputFolder(Config(out))->action, FolderAction::kCreate);
}

TEST(OutputFolderTest, AnEarlierRunIsRefusedNamingResumeAndOverwrite) {
  const std::string out = TempDir("earlier");
  FakeRun(Config(out), 2, true);
  absl::StatusOr<OutputPlan> plan = PlanOutputFolder(Config(out));
  ASSERT_FALSE(plan.ok());
  EXPECT_EQ(plan.status().code(), absl::StatusCode::kFailedPrecondition);
  for (const char* needle :
       {"--resume", "--overwrite", "trace.pb", "checkpoint/CHECKPOINT"}) {
    EXPECT_NE(plan.status().message().find(needle), std::string::npos)
        << plan.status();
  }
}

TEST(OutputFolderTest, OverwriteStagesBesideAndSwapsTheRunsWhole) {
  const std::string out = TempDir("replace");
  FakeRun(Config(out), 2, true);
  TrainConfig c = Config(out);
  c.overwrite = true;
  absl::StatusOr<OutputPlan> plan = PlanOutputFolder(c);
  ASSERT_TRUE(plan.ok()) << plan.status();
  EXPECT_EQ(plan->action, FolderAction::kReplace);
  EXPECT_EQ(plan->write_to, out + ".overwrite");
  // A leftover of an interrupted --overwrite is removed first.
  ASSERT_TRUE(base::MakeDirs(plan->write_to + "/stale").ok());
  ASSERT_TRUE(PrepareWriteFolder(*plan).ok());
  EXPECT_FALSE(Exists(plan->write_to + "/stale"));
  EXPECT_TRUE(Exists(plan->write_to));
  ASSERT_TRUE(
      base::WriteFileAtomically(plan->write_to + "/trace.pb", "new").ok());
  // Until the swap, OUT is the old run.
  EXPECT_EQ(*base::ReadFile(out + "/trace.pb"), "old trace");
  ASSERT_TRUE(ReplaceWithStaging(*plan).ok());
  EXPECT_EQ(*base::ReadFile(out + "/trace.pb"), "new");
  EXPECT_FALSE(Exists(out + "/summary.json")) << "nothing of the old run";
  EXPECT_FALSE(Exists(plan->write_to));
}

TEST(OutputFolderTest, ResumeComparesAllButTheLength) {
  const std::string out = TempDir("resume");
  TrainConfig made = Config(out);
  made.epochs = 1;
  FakeRun(made, 1, true);
  TrainConfig c = Config(out);
  c.resume = true;
  c.epochs = 3;
  absl::StatusOr<OutputPlan> plan = PlanOutputFolder(c);
  ASSERT_TRUE(plan.ok()) << plan.status();
  EXPECT_EQ(plan->action, FolderAction::kResume);
  EXPECT_EQ(plan->epochs_done, 1);

  c.epochs = 1;  // the length it has: finished
  plan = PlanOutputFolder(c);
  ASSERT_TRUE(plan.ok()) << plan.status();
  EXPECT_EQ(plan->action, FolderAction::kFinished);
  EXPECT_NE(FinishedRunNote(*plan).find("finished (1 epochs)"),
            std::string::npos);
}

TEST(OutputFolderTest, AMismatchListsOnlyTheDifferingKeys) {
  const std::string out = TempDir("mismatch");
  FakeRun(Config(out), 1, false);
  TrainConfig c = Config(out);
  c.resume = true;
  c.batch_size = 8;
  c.lr = 0.5;
  absl::StatusOr<OutputPlan> plan = PlanOutputFolder(c);
  ASSERT_FALSE(plan.ok());
  const std::string m(plan.status().message());
  EXPECT_NE(m.find("batch_size: 64 in the checkpoint, 8 now"),
            std::string::npos)
      << m;
  EXPECT_NE(m.find("lr: 0.1 in the checkpoint, 0.5 now"), std::string::npos)
      << m;
  EXPECT_EQ(m.find("model"), std::string::npos) << "only what differs: " << m;
}

TEST(OutputFolderTest, ResumeErrorsSayWhatToDo) {
  const std::string out = TempDir("resume_errors");
  TrainConfig c = Config(out);
  c.resume = true;
  EXPECT_NE(PlanOutputFolder(c).status().message().find("no checkpoint"),
            std::string::npos);
  FakeRun(Config(out), 2, true);
  c.epochs = 1;
  EXPECT_EQ(PlanOutputFolder(c).status().code(),
            absl::StatusCode::kInvalidArgument);
  c.epochs = 2;
  c.overwrite = true;
  EXPECT_EQ(PlanOutputFolder(c).status().code(),
            absl::StatusCode::kInvalidArgument);
  ASSERT_TRUE(base::WriteFileAtomically(out + "/file", "x").ok());
  EXPECT_EQ(PlanOutputFolder(Config(out + "/file")).status().code(),
            absl::StatusCode::kFailedPrecondition);
}

TEST(FingerprintTest, OlderCheckpointsWithEpochsStillMatch) {
  TrainConfig c;
  const std::string now = ResumeFingerprint(c);
  EXPECT_EQ(now.find("epochs="), std::string::npos);
  EXPECT_TRUE(FingerprintDifferences("epochs=3\n" + now, now).empty());
  EXPECT_EQ(
      FingerprintDifferences("model=resnet18", "model=mlp"),
      (std::vector<std::string>{"model: resnet18 in the checkpoint, mlp now"}));
}

}  // namespace
}  // namespace freezing::train
