#include "train/models/mlp.h"

#include <torch/nn/modules/linear.h>

#include <string>
#include <utility>

namespace freezing::train {

Mlp::Mlp(const MlpOptions& o)
    : UnitModel("mlp", {o.in_channels, o.image_size, o.image_size}) {
  namespace nn = torch::nn;
  int in = o.in_channels * o.image_size * o.image_size;
  std::vector<UnitDef> units;
  for (size_t i = 0; i < o.hidden.size(); ++i) {
    const std::string name = "fc" + std::to_string(i + 1);
    auto layer = register_module(name, nn::Linear(in, o.hidden[i]));
    const bool first = i == 0;
    units.push_back({name,
                     {layer},
                     [layer, first](const torch::Tensor& x) {
                       return torch::relu(
                           layer->forward(first ? x.flatten(1) : x));
                     },
                     2.0 * in * o.hidden[i] + o.hidden[i]});
    in = o.hidden[i];
  }
  auto fc = register_module("fc", nn::Linear(in, o.num_classes));
  const bool only = o.hidden.empty();
  units.push_back({"fc",
                   {fc},
                   [fc, only](const torch::Tensor& x) {
                     return fc->forward(only ? x.flatten(1) : x);
                   },
                   2.0 * in * o.num_classes,
                   /*is_classifier=*/true});
  SetUnits(std::move(units));
}

}  // namespace freezing::train
