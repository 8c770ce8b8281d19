// Logits parity with torchvision: a model of this project loaded with weights
// exported by tools/export_torchvision.py must give torchvision's eval-mode
// logits for the sample the script wrote (--sample_out).
//
// Used by weights_test / vit_test (small configurations, in CI) and by
// //train/models:check_parity (any configuration, e.g. vit_b_16 at 224,
// whose weights are too large for CI).
#ifndef FREEZING_TRAIN_MODELS_TORCHVISION_PARITY_H_
#define FREEZING_TRAIN_MODELS_TORCHVISION_PARITY_H_

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "train/models/model_factory.h"

namespace freezing::train {

// ParityResult: how far our logits are from torchvision's.
struct ParityResult {
  double max_abs_diff = 0;      // max |ours - torchvision| over all logits
  double max_abs_expected = 0;  // max |torchvision|: a zero model checks little
  int64_t logits = 0;           // number of logits compared
  ModelConfig config;           // the model that was built
};

// CheckLogitsParity: builds `config` with the number of classes, input
// channels and image size of the sample file (its "input" [B, C, S, S] and
// "logits" [B, classes]), loads `weights` (LoadWeights), runs the sample in
// eval mode under no-grad and compares. NotFound / InvalidArgument when a
// file is missing, unreadable or does not fit.
absl::StatusOr<ParityResult> CheckLogitsParity(const std::string& weights,
                                               const std::string& sample,
                                               ModelConfig config);

}  // namespace freezing::train

#endif  // FREEZING_TRAIN_MODELS_TORCHVISION_PARITY_H_
