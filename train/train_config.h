// TrainConfig: everything a training run is configured with, resolved (no
// defaults left to guess) and validated. train_main.cc fills it from flags;
// tests fill it directly. The resolved config is written to OUT/config.json
// (as trace.proto's RunConfig) so a run can be repeated, and goes into the
// trace header.
#ifndef FREEZING_TRAIN_TRAIN_CONFIG_H_
#define FREEZING_TRAIN_TRAIN_CONFIG_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "trace/trace.pb.h"

namespace freezing::train {

struct TrainConfig {
  // Model.
  std::string model = "resnet18";
  std::string stem = "imagenet";
  std::string freeze_unit = "child";
  int in_channels = 3;
  int image_size = 32;  // height = width of the model's input
  int patch_size = 0;   // ViTs: side of a patch; 0: the model's default
  std::string init;     // --init: checkpoint or TorchScript archive; "" random
  std::vector<std::string> init_exclude;  // tensor name prefixes left as is

  // Data.
  std::string data = "fashion_mnist";
  std::vector<int> classes;  // empty: all
  int64_t train_limit = 0;   // 0: no limit
  int64_t test_limit = 0;
  std::string partition = "iid";
  bool augment = true;
  int augment_variants = 0;

  // Optimisation.
  int batch_size = 64;  // per rank
  int epochs = 1;
  double lr = 0.1;
  double momentum = 0.9;
  double weight_decay = 1e-4;
  std::string lr_schedule = "constant";
  int64_t max_steps = 0;  // 0: all steps of all epochs (tests cut runs short)
  // Stop (as if killed) after this many epochs, leaving the checkpoint for
  // --resume; 0: run to the end. Not part of the resume fingerprint.
  int stop_after_epochs = 0;

  // Freezing and statistics.
  std::string policy = "none";
  std::string vote_rule = "global";
  int stats_interval = 20;
  int stats_window = 4;

  // Execution.
  uint64_t seed = 1;
  int ranks = 1;
  int threads = 0;        // per rank; 0: cores / ranks
  std::string comm_mode;  // "": the reducer's default
  // The MPI library's all-reduce algorithm: "auto" (its own) or "ring"
  // (pinned before MPI starts: comm/allreduce_settings.h).
  std::string allreduce_algorithm = "auto";
  int64_t first_bucket_bytes = int64_t{1} << 20;
  int64_t bucket_cap_bytes = int64_t{25} << 20;
  std::string calibration;  // comm:calibrate file for the trace header
  int profile_repeats = 3;  // start-up profile: batches per measurement
  // Memory format of the model and its activations: auto | channels_last |
  // contiguous (auto: channels-last for models with 4-d activations between
  // units; step_runner.h ChooseMemoryFormat).
  std::string memory_format = "auto";
  // The frozen prefix runs in its inference form (BatchNorm folded into the
  // convolutions, ReLU fused, weights prepacked; models/folded_conv.h).
  bool fold_frozen = true;

  // Activation cache of the frozen prefix.
  bool cache = false;
  int64_t cache_mem_mb = 1024;

  // Output.
  std::string out;  // folder; required
  bool resume = false;
  // Replace the run in `out` once this one has started (output_folder.h);
  // without it a folder that holds a run is refused.
  bool overwrite = false;
  bool write_trace = true;
  bool checkpoints = true;
  int log_every = 0;  // steps between progress lines; 0: automatic
};

// Checks values and combinations, with errors that say how to fix them.
absl::Status ValidateConfig(const TrainConfig& config);

// The trace header's RunConfig for this config (derived fields such as
// sample counts and steps per epoch are filled in by the trainer).
trace::RunConfig ToRunConfig(const TrainConfig& config);

// Fields that must match between a checkpoint and the run resuming it, as
// "name=value" lines; a resume with a difference is refused. The length of
// the run (epochs, max_steps, stop_after_epochs) is not among them: a
// finished run continues with more epochs. Nor is the number of ranks: a
// run may resume on another (not bit-exact; train/README.md).
std::string ResumeFingerprint(const TrainConfig& config);

// FingerprintDifferences: the keys whose values differ between a
// checkpoint's fingerprint and this run's, one "key: A in the checkpoint, B
// now" each, in the fingerprint's order. `epochs` and `ranks`, which older
// checkpoints recorded, are not compared.
std::vector<std::string> FingerprintDifferences(const std::string& checkpoint,
                                                const std::string& now);

}  // namespace freezing::train

#endif  // FREEZING_TRAIN_TRAIN_CONFIG_H_
