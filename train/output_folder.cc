#include "train/output_folder.h"

#include <sys/stat.h>

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "base/file.h"
#include "base/status_macros.h"
#include "train/checkpoint.h"

namespace freezing::train {
namespace {

bool Exists(const std::string& path) {
  struct stat st;
  return ::lstat(path.c_str(), &st) == 0;
}

bool IsFolder(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

std::vector<std::string> EarlierRunFiles(const std::string& out) {
  std::vector<std::string> found;
  for (const std::string& name : RunFileNames()) {
    if (Exists(absl::StrCat(out, "/", name))) found.push_back(name);
  }
  return found;
}

absl::StatusOr<OutputPlan> PlanResume(const TrainConfig& c, OutputPlan plan) {
  const std::string dir = absl::StrCat(c.out, "/checkpoint");
  absl::StatusOr<CheckpointInfo> info = ReadCheckpointInfo(dir);
  if (absl::IsNotFound(info.status())) {
    return absl::FailedPreconditionError(absl::StrCat(
        "--resume: ", c.out,
        " holds no checkpoint to continue from (a run writes one at the end "
        "of every epoch unless --checkpoints=false); drop --resume to start "
        "a new run"));
  }
  if (!info.ok()) return info.status();
  const std::vector<std::string> differences =
      FingerprintDifferences(info->fingerprint, ResumeFingerprint(c));
  if (!differences.empty()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "--resume: the run in ", c.out,
        " was made with another configuration: ",
        absl::StrJoin(differences, "; "),
        ". Give the flags it was made with (config.json lists them), or "
        "start a new run (another --out, or --overwrite)"));
  }
  plan.epochs_done = info->epochs_done;
  plan.global_step = info->global_step;
  plan.ranks = info->ranks;
  if (info->epochs_done > c.epochs) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--resume --epochs=", c.epochs, ": the run in ", c.out,
        " has already trained ", info->epochs_done,
        " epochs; --epochs=N with N > ", info->epochs_done, " continues it"));
  }
  const bool ended = Exists(absl::StrCat(c.out, "/summary.json"));
  plan.action = info->epochs_done == c.epochs && ended ? FolderAction::kFinished
                                                       : FolderAction::kResume;
  return plan;
}

}  // namespace

const std::vector<std::string>& RunFileNames() {
  static const auto* names =
      new std::vector<std::string>{"trace.pb", "summary.json", "config.json",
                                   "model.pt", "checkpoint/CHECKPOINT"};
  return *names;
}

std::string StagingFolder(const std::string& out) {
  std::string trimmed = out;
  while (trimmed.size() > 1 && trimmed.back() == '/') trimmed.pop_back();
  return absl::StrCat(trimmed, ".overwrite");
}

absl::StatusOr<OutputPlan> PlanOutputFolder(const TrainConfig& c) {
  OutputPlan plan;
  plan.out = c.out;
  plan.write_to = c.out;
  if (c.out.empty()) {
    return absl::InvalidArgumentError(
        "--out: an output folder is required (e.g. --out=/tmp/run)");
  }
  if (c.resume && c.overwrite) {
    return absl::InvalidArgumentError(
        "--resume continues the run in --out and --overwrite replaces it: "
        "give one of them");
  }
  if (Exists(c.out) && !IsFolder(c.out)) {
    return absl::FailedPreconditionError(
        absl::StrCat("--out=", c.out, " exists and is not a folder"));
  }
  if (c.resume) return PlanResume(c, plan);
  plan.earlier_files = EarlierRunFiles(c.out);
  if (plan.earlier_files.empty()) return plan;
  if (!c.overwrite) {
    return absl::FailedPreconditionError(absl::StrCat(
        "--out=", c.out, " holds an earlier run (",
        absl::StrJoin(plan.earlier_files, ", "),
        "): --resume continues it (with more epochs: --resume --epochs=N), "
        "--overwrite replaces it once this run has started, or choose "
        "another --out"));
  }
  plan.action = FolderAction::kReplace;
  plan.write_to = StagingFolder(c.out);
  return plan;
}

std::string FinishedRunNote(const OutputPlan& plan) {
  return absl::StrCat("the run in ", plan.out, " is finished (",
                      plan.epochs_done,
                      " epochs); nothing to do. --resume --epochs=N with N > ",
                      plan.epochs_done, " trains it further");
}

absl::Status PrepareWriteFolder(const OutputPlan& plan) {
  if (plan.action == FolderAction::kReplace) {
    // Left by an --overwrite that was interrupted: before its swap it holds
    // that attempt's unfinished run, after it the run it replaced.
    RETURN_IF_ERROR(base::RemoveTree(plan.write_to));
  }
  return base::MakeDirs(plan.write_to);
}

absl::Status ReplaceWithStaging(const OutputPlan& plan) {
  if (plan.action != FolderAction::kReplace) return absl::OkStatus();
  absl::Status swapped = base::ExchangeFoldersDurably(plan.write_to, plan.out);
  if (!swapped.ok()) {
    return absl::Status(
        swapped.code(),
        absl::StrCat("--overwrite: ", swapped.message(),
                     "; the earlier run in ", plan.out,
                     " is untouched (remove it yourself, or choose "
                     "another --out)"));
  }
  return base::RemoveTree(plan.write_to);
}

}  // namespace freezing::train
