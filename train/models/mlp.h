// A small multi-layer perceptron without BatchNorm, for tests whose result
// must not depend on per-rank batch statistics (data-parallel equivalence).
//
// flatten -> fc1 -> ReLU -> fc2 -> ReLU -> fc; one unit per Linear layer
// ("fc1" includes the flatten, "fc1" and "fc2" their ReLU), for either
// granularity.
#ifndef FREEZING_TRAIN_MODELS_MLP_H_
#define FREEZING_TRAIN_MODELS_MLP_H_

#include <vector>

#include "train/models/unit_model.h"

namespace freezing::train {

// MlpOptions: the image the MLP takes and its layer widths.
struct MlpOptions {
  int in_channels = 3;
  int image_size = 32;
  std::vector<int> hidden = {64, 32};
  int num_classes = 10;
};

// Mlp: see the file comment. Linear layers keep PyTorch's default init.
class Mlp : public UnitModel {
 public:
  explicit Mlp(const MlpOptions& options);
};

}  // namespace freezing::train

#endif  // FREEZING_TRAIN_MODELS_MLP_H_
