#include "train/train_config.h"

#include <map>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"

namespace freezing::train {
namespace {

absl::Status Invalid(absl::string_view flag, absl::string_view message) {
  return absl::InvalidArgumentError(absl::StrCat("--", flag, ": ", message));
}

bool OneOf(const std::string& value, std::initializer_list<const char*> ok) {
  for (const char* o : ok) {
    if (value == o) return true;
  }
  return false;
}

}  // namespace

absl::Status ValidateConfig(const TrainConfig& c) {
  if (c.out.empty()) {
    return Invalid("out", "an output folder is required (e.g. --out=/tmp/run)");
  }
  if (!OneOf(c.stem, {"imagenet", "cifar"})) {
    return Invalid("stem", absl::StrCat("got '", c.stem,
                                        "'; valid values: imagenet, cifar"));
  }
  if (!OneOf(c.freeze_unit, {"child", "block"})) {
    return Invalid(
        "freeze_unit",
        absl::StrCat("got '", c.freeze_unit, "'; valid values: child, block"));
  }
  if (c.in_channels != 1 && c.in_channels != 3) {
    return Invalid("in_channels",
                   absl::StrCat("got ", c.in_channels, "; valid values: 1, 3"));
  }
  if (c.image_size < 8 || c.image_size > 1024) {
    return Invalid("image_size",
                   absl::StrCat("must be in 8..1024, got ", c.image_size));
  }
  if (c.patch_size < 0) {
    return Invalid("patch_size",
                   absl::StrCat("must be >= 1 (0: the model's default), got ",
                                c.patch_size));
  }
  if (c.batch_size < 1) {
    return Invalid("batch_size",
                   absl::StrCat("must be >= 1, got ", c.batch_size));
  }
  if (c.epochs < 1) {
    return Invalid("epochs", absl::StrCat("must be >= 1, got ", c.epochs));
  }
  if (c.ranks < 1) {
    return Invalid("ranks", absl::StrCat("must be >= 1, got ", c.ranks));
  }
  if (c.threads < 0) {
    return Invalid("threads", absl::StrCat("must be >= 0 (0: cores / ranks), "
                                           "got ",
                                           c.threads));
  }
  if (!(c.lr > 0)) return Invalid("lr", "must be > 0");
  if (c.momentum < 0 || c.momentum >= 1) {
    return Invalid("momentum", "must be in [0, 1)");
  }
  if (c.weight_decay < 0) return Invalid("weight_decay", "must be >= 0");
  if (c.train_limit < 0) return Invalid("train_limit", "must be >= 0");
  if (c.test_limit < 0) return Invalid("test_limit", "must be >= 0");
  if (c.stats_interval < 1) {
    return Invalid("stats_interval", "must be >= 1 (steps)");
  }
  if (c.stats_window < 1 || c.stats_window > 16) {
    return Invalid("stats_window", "must be in [1, 16] (base intervals)");
  }
  if (c.augment_variants < 0) {
    return Invalid("augment_variants",
                   "must be >= 0 (0: fresh random "
                   "augmentation every epoch)");
  }
  if (c.cache_mem_mb < 0) return Invalid("cache_mem_mb", "must be >= 0");
  if (c.first_bucket_bytes < 1 || c.bucket_cap_bytes < 1) {
    return Invalid("bucket_cap_mb", "bucket caps must be positive");
  }
  if (c.profile_repeats < 1) {
    return Invalid("profile_repeats", "must be >= 1");
  }
  if (!OneOf(c.memory_format, {"auto", "channels_last", "contiguous"})) {
    return Invalid("memory_format",
                   absl::StrCat("got '", c.memory_format,
                                "'; valid values: auto, channels_last, "
                                "contiguous"));
  }
  // The schedule's syntax is checked where it is parsed (lr_schedule.h).
  return absl::OkStatus();
}

trace::RunConfig ToRunConfig(const TrainConfig& c) {
  trace::RunConfig r;
  r.set_model(c.model);
  r.set_stem(c.stem);
  r.set_in_channels(c.in_channels);
  r.set_freeze_unit(c.freeze_unit);
  r.set_image_size(c.image_size);
  r.set_patch_size(c.patch_size);  // the trainer records the resolved size
  r.set_init(c.init);
  r.set_data(c.data);
  for (int k : c.classes) r.add_classes(k);
  r.set_train_limit(c.train_limit);
  r.set_test_limit(c.test_limit);
  r.set_partition(c.partition);
  r.set_augment(c.augment);
  r.set_augment_variants(c.augment_variants);
  r.set_batch_size(c.batch_size);
  r.set_epochs(c.epochs);
  r.set_lr(c.lr);
  r.set_momentum(c.momentum);
  r.set_weight_decay(c.weight_decay);
  r.set_lr_schedule(c.lr_schedule);
  r.set_policy(c.policy);
  r.set_vote_rule(c.vote_rule);
  r.set_stats_interval(c.stats_interval);
  r.set_stats_window(c.stats_window);
  r.set_seed(c.seed);
  r.set_threads(c.threads);
  r.set_ranks(c.ranks);
  r.set_comm_mode(c.comm_mode);
  r.set_allreduce_algorithm(c.allreduce_algorithm);
  r.set_first_bucket_bytes(c.first_bucket_bytes);
  r.set_bucket_cap_bytes(c.bucket_cap_bytes);
  r.set_cache(c.cache);
  r.set_cache_mem_mb(c.cache_mem_mb);
  // The trainer records the format it chose (memory_format).
  r.set_memory_format_flag(c.memory_format);
  r.set_fold_frozen(c.fold_frozen);
  r.set_out(c.out);
  return r;
}

std::string ResumeFingerprint(const TrainConfig& c) {
  std::vector<std::string> lines = {
      absl::StrCat("model=", c.model),
      absl::StrCat("stem=", c.stem),
      absl::StrCat("freeze_unit=", c.freeze_unit),
      absl::StrCat("in_channels=", c.in_channels),
      absl::StrCat("data=", c.data),
      absl::StrCat("classes=", absl::StrJoin(c.classes, ",")),
      absl::StrCat("train_limit=", c.train_limit),
      absl::StrCat("test_limit=", c.test_limit),
      absl::StrCat("partition=", c.partition),
      absl::StrCat("augment=", c.augment),
      absl::StrCat("augment_variants=", c.augment_variants),
      absl::StrCat("batch_size=", c.batch_size),
      absl::StrCat("lr=", c.lr),
      absl::StrCat("momentum=", c.momentum),
      absl::StrCat("weight_decay=", c.weight_decay),
      absl::StrCat("lr_schedule=", c.lr_schedule),
      absl::StrCat("policy=", c.policy),
      absl::StrCat("vote_rule=", c.vote_rule),
      absl::StrCat("stats_interval=", c.stats_interval),
      absl::StrCat("stats_window=", c.stats_window),
      absl::StrCat("seed=", c.seed),
  };
  // Only when they differ from the defaults, so that checkpoints written
  // before these flags existed still resume.
  if (c.image_size != 32) {
    lines.push_back(absl::StrCat("image_size=", c.image_size));
  }
  if (c.patch_size != 0) {
    lines.push_back(absl::StrCat("patch_size=", c.patch_size));
  }
  return absl::StrJoin(lines, "\n");
}

std::vector<std::string> FingerprintDifferences(const std::string& checkpoint,
                                                const std::string& now) {
  // key -> value, and the keys in order of first appearance.
  std::vector<std::string> keys;
  std::map<std::string, std::pair<std::string, std::string>> values;
  const auto add = [&](const std::string& text, bool first) {
    for (absl::string_view line :
         absl::StrSplit(text, '\n', absl::SkipEmpty())) {
      std::pair<std::string, std::string> kv =
          absl::StrSplit(line, absl::MaxSplits('=', 1));
      // The run's length may grow, and a run may resume on another number
      // of ranks (the checkpoint's CHECKPOINT file keeps that number).
      if (kv.first == "epochs" || kv.first == "ranks") continue;
      auto [it, inserted] = values.try_emplace(kv.first);
      if (inserted) keys.push_back(kv.first);
      (first ? it->second.first : it->second.second) = kv.second;
    }
  };
  add(checkpoint, true);
  add(now, false);
  std::vector<std::string> out;
  for (const std::string& k : keys) {
    const auto& [then, current] = values[k];
    if (then != current) {
      out.push_back(absl::StrCat(k, ": ", then.empty() ? "(none)" : then,
                                 " in the checkpoint, ",
                                 current.empty() ? "(none)" : current, " now"));
    }
  }
  return out;
}

}  // namespace freezing::train
