// ResNets with torchvision's module names, structure and initialisation, as
// UnitModels (unit_model.h).
//
// torchvision.models.resnet{18,34,50}: conv1, bn1, relu, maxpool, layer1..4
// (blocks "0", "1", ... with conv1, bn1, conv2, bn2[, conv3, bn3], relu,
// downsample.0 / downsample.1), avgpool, fc. The CIFAR stem replaces conv1 by
// a 3x3 stride-1 convolution and drops the max-pool (no parameter names
// change). Units:
//   child: conv1 | bn1 (+relu, maxpool) | layer1 | layer2 | layer3 | layer4 |
//          fc (after avgpool and flatten) -- the study's 7 groups;
//   block: stem (conv1, bn1, relu, maxpool) | layer1.0 | layer1.1 | ... | fc.
#ifndef FREEZING_TRAIN_MODELS_RESNET_H_
#define FREEZING_TRAIN_MODELS_RESNET_H_

#include <memory>
#include <string>
#include <vector>

#include "train/models/unit_model.h"

namespace freezing::train {

// ResNetOptions: the architecture (torchvision's for resnet18/34/50) and the
// knobs the project varies.
struct ResNetOptions {
  std::string name = "resnet18";
  bool bottleneck = false;  // Bottleneck (x4) instead of BasicBlock
  std::vector<int> layers = {2, 2, 2, 2};         // blocks per stage
  int stem_width = 64;                            // conv1's output channels
  std::vector<int> widths = {64, 128, 256, 512};  // per stage ("planes")
  bool cifar_stem = false;
  int num_classes = 1000;
  int in_channels = 3;
  int image_size = 32;
  bool block_units = false;  // "block" granularity instead of "child"
};

// ResNet: see the file comment.
class ResNet : public UnitModel {
 public:
  explicit ResNet(const ResNetOptions& options);

 private:
  // The constructor's steps (resnet.cc): the stem and the four stages,
  // registered in torchvision's order, and the units over them.
  struct Stem;
  struct Stages;
  Stem AddStem(const ResNetOptions& o);
  Stages AddStages(const ResNetOptions& o, int size);
  static std::vector<UnitDef> ChildUnits(const Stem& stem,
                                         const Stages& stages);
  static std::vector<UnitDef> BlockUnits(const Stem& stem,
                                         const Stages& stages);
};

}  // namespace freezing::train

#endif  // FREEZING_TRAIN_MODELS_RESNET_H_
