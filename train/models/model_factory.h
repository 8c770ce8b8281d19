// The `--model`, `--stem`, `--freeze_unit` choices and the models they make.
//
// Free of libtorch: the trainer's flag handling can validate a ModelConfig
// without compiling torch headers; using the model needs unit_model.h.
// Model initialisation draws from libtorch's default generator: call
// torch::manual_seed(seed) first for a reproducible model.
#ifndef FREEZING_TRAIN_MODELS_MODEL_FACTORY_H_
#define FREEZING_TRAIN_MODELS_MODEL_FACTORY_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace freezing::train {

class UnitModel;

// ModelConfig: what the command line says about the model.
struct ModelConfig {
  // resnet18 | resnet34 | resnet50 (torchvision's) | resnet_tiny (BasicBlock,
  // one block per stage, widths 8/16/32/64) | mlp (no BatchNorm) |
  // vit_mini | vit_tiny | vit_b_16 (torchvision's VisionTransformer; vit.h).
  std::string name = "resnet18";
  std::string stem = "imagenet";  // imagenet (7x7/2 + max-pool) | cifar
  int num_classes = 10;
  int in_channels = 3;
  std::string granularity = "child";  // child | block
  int image_size = 32;                // height = width of the input
  // ViTs only: the side of a square patch; 0 = DefaultPatchSize.
  int patch_size = 0;
};

// IsVit: whether `name` is one of the Vision Transformers.
bool IsVit(const std::string& name);

// DefaultPatchSize: 4 for images below 224 pixels (64 patches at 32x32),
// 16 from 224 on (ViT-B/16's 196 patches at 224x224).
int DefaultPatchSize(int image_size);

// ResolvedPatchSize: the patch size `config` builds a ViT with (its own, or
// the default); 0 for the other models.
int ResolvedPatchSize(const ModelConfig& config);

// ModelNames: the valid `name`s.
const std::vector<std::string>& ModelNames();

// ValidateModelConfig: InvalidArgument naming the field and its valid values
// (for a ViT also a patch size that does not divide the image).
absl::Status ValidateModelConfig(const ModelConfig& config);

// MakeModel: a freshly initialised model in training mode with no unit
// frozen. The stem applies to the ResNets; mlp has one unit per Linear layer
// for either granularity; a ViT's "block" units are the attention and MLP
// halves of its encoder blocks.
absl::StatusOr<std::shared_ptr<UnitModel>> MakeModel(const ModelConfig& config);

}  // namespace freezing::train

#endif  // FREEZING_TRAIN_MODELS_MODEL_FACTORY_H_
