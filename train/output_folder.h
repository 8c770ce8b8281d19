// What a run does with its output folder (--out), decided before anything
// is created, and the replacement of an earlier run (--overwrite).
//
//   folder holds              flags            plan
//   nothing (or missing)      (any but resume) kCreate: write into OUT
//   an earlier run            none             refused, naming --resume and
//                                              --overwrite
//   an earlier run            --overwrite      kReplace: write into the
//                                              staging folder OUT.overwrite
//                                              beside OUT; once the first
//                                              step is done, swap it with
//                                              OUT in one atomic rename
//                                              (ReplaceWithStaging) and
//                                              remove the old run
//   a checkpoint              --resume         kResume: continue in OUT
//   a finished run            --resume, same   kFinished: nothing to do
//                             --epochs
//
// "An earlier run" is any of the files a run leaves (RunFileNames; an empty
// checkpoint/ folder is not one). A crash
// before the swap leaves the old run in OUT (and a staging folder, which the
// next --overwrite removes); a crash after it leaves the new run in OUT
// (resumable as usual) and possibly the old one in OUT.overwrite. OUT never
// holds a mixture, and there is never a moment without a run in OUT.
#ifndef FREEZING_TRAIN_OUTPUT_FOLDER_H_
#define FREEZING_TRAIN_OUTPUT_FOLDER_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "train/train_config.h"

namespace freezing::train {

enum class FolderAction { kCreate, kReplace, kResume, kFinished };

// OutputPlan: what PlanOutputFolder decided.
struct OutputPlan {
  FolderAction action = FolderAction::kCreate;
  std::string out;          // the run's folder (config.out)
  std::string write_to;     // where the run writes until it has started
  int epochs_done = 0;      // kResume, kFinished: the checkpoint's
  int64_t global_step = 0;  // kResume, kFinished: the checkpoint's
  int ranks = 0;            // kResume, kFinished: the checkpoint's
  std::vector<std::string> earlier_files;  // kReplace: what will be replaced
};

// RunFileNames: the files and folders a run leaves in its output folder.
const std::vector<std::string>& RunFileNames();

// StagingFolder: where an --overwrite run writes until it replaces `out`.
std::string StagingFolder(const std::string& out);

// PlanOutputFolder: the plan for `config` (see the table above); reads, never
// writes. Errors (with the fix): InvalidArgument for --resume with
// --overwrite, or --epochs below the epochs already done; FailedPrecondition
// for a folder holding a run without --resume or --overwrite, a --out that is
// a file, a --resume without a checkpoint or with another configuration (the
// differing keys only).
absl::StatusOr<OutputPlan> PlanOutputFolder(const TrainConfig& config);

// FinishedRunNote: what to tell a --resume of a finished run (kFinished).
std::string FinishedRunNote(const OutputPlan& plan);

// PrepareWriteFolder: creates the folder the plan writes into (for kReplace
// a fresh staging folder, removing one an interrupted --overwrite left).
// Called once (rank 0) when the run starts; checkpoint/ is made by the
// first checkpoint.
absl::Status PrepareWriteFolder(const OutputPlan& plan);

// ReplaceWithStaging: kReplace, once the new run has started: swaps the
// staging folder with `plan.out` atomically and durably, then removes the
// old run (now in the staging folder's place). A failure before the swap
// leaves the old run in place.
absl::Status ReplaceWithStaging(const OutputPlan& plan);

}  // namespace freezing::train

#endif  // FREEZING_TRAIN_OUTPUT_FOLDER_H_
