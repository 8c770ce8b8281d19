#include "train/models/resnet.h"

#include <torch/nn/init.h>
#include <torch/nn/modules/activation.h>
#include <torch/nn/modules/batchnorm.h>
#include <torch/nn/modules/container/modulelist.h>
#include <torch/nn/modules/container/sequential.h>
#include <torch/nn/modules/conv.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/modules/pooling.h>

#include <optional>
#include <utility>

#include "train/models/folded_conv.h"

namespace freezing::train {
namespace {

namespace nn = torch::nn;
using Fn = std::function<torch::Tensor(const torch::Tensor&)>;

// Spatial size after a convolution or pooling.
int OutSize(int in, int kernel, int stride, int padding) {
  return (in + 2 * padding - kernel) / stride + 1;
}

nn::Conv2d Conv(int in, int out, int kernel, int stride, int padding) {
  return nn::Conv2d(nn::Conv2dOptions(in, out, kernel)
                        .stride(stride)
                        .padding(padding)
                        .bias(false));
}

// 2 x multiply-adds of a bias-free convolution with a square output.
double ConvFlops(int in, int out, int kernel, int out_size) {
  return 2.0 * in * out * kernel * kernel * out_size * out_size;
}

// A residual block; `size` is its input's spatial size.
class ResidualBlockImpl : public nn::Module {
 public:
  virtual torch::Tensor forward(const torch::Tensor& x) = 0;
  // Fold: the block's inference form in memory format `f` (folded_conv.h),
  // from its current parameters and BatchNorm statistics.
  virtual Fn Fold(at::MemoryFormat f) const = 0;
  double flops() const { return flops_; }
  int out_size() const { return out_size_; }

 protected:
  // torchvision's downsample: 1x1 conv with the block's stride + BatchNorm.
  void MaybeDownsample(int in, int out, int stride, int size) {
    if (stride == 1 && in == out) return;
    downsample_ = register_module(
        "downsample",
        nn::Sequential(Conv(in, out, 1, stride, 0), nn::BatchNorm2d(out)));
    const int o = OutSize(size, 1, stride, 0);
    flops_ += ConvFlops(in, out, 1, o) + 2.0 * out * o * o;
  }
  torch::Tensor Identity(const torch::Tensor& x) {
    return downsample_.is_empty() ? x : downsample_->forward(x);
  }
  std::optional<FoldedConv> FoldDownsample(at::MemoryFormat f) const {
    if (downsample_.is_empty()) return std::nullopt;
    const nn::SequentialImpl& ds = *downsample_;
    return FoldedConv::Fold(*ds.ptr(0)->as<nn::Conv2d>(),
                            ds.ptr(1)->as<nn::BatchNorm2d>(), false,
                            {in_, size_, size_}, f);
  }
  // The folded block's end: the residual added, ReLU in place.
  static Fn Residual(std::function<torch::Tensor(const torch::Tensor&)> body,
                     std::optional<FoldedConv> downsample) {
    return [body = std::move(body), downsample](const torch::Tensor& x) {
      torch::Tensor out = body(x);
      out.add_(downsample.has_value() ? (*downsample)(x) : x);
      return out.relu_();
    };
  }

  nn::Sequential downsample_{nullptr};
  double flops_ = 0;
  int out_size_ = 0;
  int in_ = 0;    // input channels
  int size_ = 0;  // input height and width
};

class BasicBlockImpl : public ResidualBlockImpl {
 public:
  static constexpr int kExpansion = 1;

  BasicBlockImpl(int in, int planes, int stride, int size) {
    in_ = in;
    size_ = size;
    planes_ = planes;
    conv1_ = register_module("conv1", Conv(in, planes, 3, stride, 1));
    bn1_ = register_module("bn1", nn::BatchNorm2d(planes));
    relu_ = register_module("relu", nn::ReLU(nn::ReLUOptions(true)));
    conv2_ = register_module("conv2", Conv(planes, planes, 3, 1, 1));
    bn2_ = register_module("bn2", nn::BatchNorm2d(planes));
    const int o = OutSize(size, 3, stride, 1);
    const double elements = static_cast<double>(planes) * o * o;
    flops_ = ConvFlops(in, planes, 3, o) + ConvFlops(planes, planes, 3, o) +
             2 * 2 * elements + 2 * elements + elements;
    MaybeDownsample(in, planes, stride, size);
    out_size_ = o;
  }

  torch::Tensor forward(const torch::Tensor& x) override {
    torch::Tensor out = relu_->forward(bn1_->forward(conv1_->forward(x)));
    out = bn2_->forward(conv2_->forward(out));
    out += Identity(x);
    return relu_->forward(out);
  }

  Fn Fold(at::MemoryFormat f) const override {
    const FoldedConv c1 =
        FoldedConv::Fold(*conv1_, bn1_.get(), true, {in_, size_, size_}, f);
    const FoldedConv c2 = FoldedConv::Fold(*conv2_, bn2_.get(), false,
                                           {planes_, out_size_, out_size_}, f);
    return Residual([c1, c2](const torch::Tensor& x) { return c2(c1(x)); },
                    FoldDownsample(f));
  }

 private:
  nn::Conv2d conv1_{nullptr}, conv2_{nullptr};
  nn::BatchNorm2d bn1_{nullptr}, bn2_{nullptr};
  nn::ReLU relu_{nullptr};
  int planes_ = 0;
};

class BottleneckImpl : public ResidualBlockImpl {
 public:
  static constexpr int kExpansion = 4;

  BottleneckImpl(int in, int planes, int stride, int size) {
    in_ = in;
    size_ = size;
    planes_ = planes;
    const int out = planes * kExpansion;
    conv1_ = register_module("conv1", Conv(in, planes, 1, 1, 0));
    bn1_ = register_module("bn1", nn::BatchNorm2d(planes));
    conv2_ = register_module("conv2", Conv(planes, planes, 3, stride, 1));
    bn2_ = register_module("bn2", nn::BatchNorm2d(planes));
    conv3_ = register_module("conv3", Conv(planes, out, 1, 1, 0));
    bn3_ = register_module("bn3", nn::BatchNorm2d(out));
    relu_ = register_module("relu", nn::ReLU(nn::ReLUOptions(true)));
    const int o = OutSize(size, 3, stride, 1);
    const double in_elements = static_cast<double>(planes) * size * size;
    const double mid_elements = static_cast<double>(planes) * o * o;
    const double out_elements = static_cast<double>(out) * o * o;
    flops_ = ConvFlops(in, planes, 1, size) + ConvFlops(planes, planes, 3, o) +
             ConvFlops(planes, out, 1, o) + 3 * in_elements + 3 * mid_elements +
             2 * out_elements + 2 * out_elements;
    MaybeDownsample(in, out, stride, size);
    out_size_ = o;
  }

  torch::Tensor forward(const torch::Tensor& x) override {
    torch::Tensor out = relu_->forward(bn1_->forward(conv1_->forward(x)));
    out = relu_->forward(bn2_->forward(conv2_->forward(out)));
    out = bn3_->forward(conv3_->forward(out));
    out += Identity(x);
    return relu_->forward(out);
  }

  Fn Fold(at::MemoryFormat f) const override {
    const FoldedConv c1 =
        FoldedConv::Fold(*conv1_, bn1_.get(), true, {in_, size_, size_}, f);
    const FoldedConv c2 =
        FoldedConv::Fold(*conv2_, bn2_.get(), true, {planes_, size_, size_}, f);
    const FoldedConv c3 = FoldedConv::Fold(*conv3_, bn3_.get(), false,
                                           {planes_, out_size_, out_size_}, f);
    return Residual(
        [c1, c2, c3](const torch::Tensor& x) { return c3(c2(c1(x))); },
        FoldDownsample(f));
  }

 private:
  nn::Conv2d conv1_{nullptr}, conv2_{nullptr}, conv3_{nullptr};
  nn::BatchNorm2d bn1_{nullptr}, bn2_{nullptr}, bn3_{nullptr};
  nn::ReLU relu_{nullptr};
  int planes_ = 0;
};

// torchvision's initialisation: Kaiming normal (fan_out, ReLU) for
// convolutions; BatchNorm weight 1, bias 0 and Linear's default (kept from
// the constructors, which match PyTorch's).
void InitLikeTorchvision(nn::Module& model) {
  for (const auto& module : model.modules(/*include_self=*/false)) {
    if (auto* conv = module->as<nn::Conv2d>()) {
      nn::init::kaiming_normal_(conv->weight, 0, torch::kFanOut, torch::kReLU);
    } else if (auto* bn = module->as<nn::BatchNorm2d>()) {
      nn::init::ones_(bn->weight);
      nn::init::zeros_(bn->bias);
    }
  }
}

}  // namespace

// conv1, bn1, relu and (ImageNet stem) maxpool, as registered.
struct ResNet::Stem {
  std::shared_ptr<nn::Conv2dImpl> conv1;
  std::shared_ptr<nn::BatchNorm2dImpl> bn1;
  std::shared_ptr<nn::ReLUImpl> relu;
  std::shared_ptr<nn::MaxPool2dImpl> maxpool;  // null with the CIFAR stem
  double conv1_flops = 0;
  double bn1_flops = 0;            // BatchNorm + ReLU (+ max-pool)
  int out_size = 0;                // spatial size after the stem
  std::vector<int64_t> input_chw;  // of the images

  // What follows conv1: bn1, relu, maxpool.
  torch::Tensor Tail(const torch::Tensor& x) const {
    torch::Tensor h = relu->forward(bn1->forward(x));
    return maxpool == nullptr ? h : maxpool->forward(h);
  }
  // The child unit conv1's inference form: prepacked, nothing to fold.
  Fn FoldConv1(at::MemoryFormat f) const {
    return [c = FoldedConv::Fold(*conv1, nullptr, false, input_chw, f)](
               const torch::Tensor& x) { return c(x); };
  }
  // The block unit stem's: conv1 with bn1 folded and ReLU fused, maxpool.
  Fn Fold(at::MemoryFormat f) const {
    return [c = FoldedConv::Fold(*conv1, bn1.get(), true, input_chw, f),
            maxpool = maxpool](const torch::Tensor& x) {
      torch::Tensor h = c(x);
      return maxpool == nullptr ? h : maxpool->forward(h);
    };
  }
};

namespace {

// Blocks one after the other, each in its inference form.
Fn FoldBlocks(const std::vector<std::shared_ptr<ResidualBlockImpl>>& blocks,
              at::MemoryFormat f) {
  std::vector<Fn> folded;
  for (const auto& block : blocks) folded.push_back(block->Fold(f));
  return [folded](const torch::Tensor& x) {
    torch::Tensor h = x;
    for (const Fn& fn : folded) h = fn(h);
    return h;
  };
}

}  // namespace

// layer1..layer4: blocks[s] are registered in modules[s].
struct ResNet::Stages {
  std::vector<std::vector<std::shared_ptr<ResidualBlockImpl>>> blocks;
  std::vector<std::shared_ptr<nn::ModuleListImpl>> modules;
  int channels = 0;  // output channels of the last block
  int out_size = 0;  // spatial size after the last block
};

ResNet::ResNet(const ResNetOptions& o)
    : UnitModel(o.name, {o.in_channels, o.image_size, o.image_size}) {
  TORCH_CHECK(o.layers.size() == 4 && o.widths.size() == 4,
              "a ResNet has 4 stages");
  const Stem stem = AddStem(o);
  const Stages stages = AddStages(o, stem.out_size);
  const int in = stages.channels, size = stages.out_size;
  auto avgpool = register_module(
      "avgpool", nn::AdaptiveAvgPool2d(nn::AdaptiveAvgPool2dOptions(1)));
  auto fc = register_module("fc", nn::Linear(in, o.num_classes));
  const double fc_flops =
      static_cast<double>(in) * size * size + 2.0 * in * o.num_classes;
  InitLikeTorchvision(*this);

  std::vector<UnitDef> units =
      o.block_units ? BlockUnits(stem, stages) : ChildUnits(stem, stages);
  units.push_back({"fc",
                   {avgpool, fc},
                   [avgpool, fc](const torch::Tensor& x) {
                     return fc->forward(avgpool->forward(x).flatten(1));
                   },
                   fc_flops,
                   /*is_classifier=*/true});
  SetUnits(std::move(units));
}

ResNet::Stem ResNet::AddStem(const ResNetOptions& o) {
  Stem stem;
  stem.conv1 = register_module(
      "conv1", o.cifar_stem ? Conv(o.in_channels, o.stem_width, 3, 1, 1)
                            : Conv(o.in_channels, o.stem_width, 7, 2, 3));
  stem.bn1 = register_module("bn1", nn::BatchNorm2d(o.stem_width));
  stem.relu = register_module("relu", nn::ReLU(nn::ReLUOptions(true)));
  stem.input_chw = {o.in_channels, o.image_size, o.image_size};
  int size = o.image_size;
  const int conv1_size =
      o.cifar_stem ? OutSize(size, 3, 1, 1) : OutSize(size, 7, 2, 3);
  stem.conv1_flops =
      ConvFlops(o.in_channels, o.stem_width, o.cifar_stem ? 3 : 7, conv1_size);
  size = conv1_size;
  stem.bn1_flops = 3.0 * o.stem_width * size * size;  // BatchNorm + ReLU
  if (!o.cifar_stem) {
    stem.maxpool = register_module(
        "maxpool", nn::MaxPool2d(nn::MaxPool2dOptions(3).stride(2).padding(1)));
    size = OutSize(size, 3, 2, 1);
    stem.bn1_flops += 8.0 * o.stem_width * size * size;
  }
  stem.out_size = size;
  return stem;
}

ResNet::Stages ResNet::AddStages(const ResNetOptions& o, int size) {
  Stages stages;
  int in = o.stem_width;
  for (int s = 0; s < 4; ++s) {
    nn::ModuleList list;
    std::vector<std::shared_ptr<ResidualBlockImpl>> blocks;
    for (int b = 0; b < o.layers[s]; ++b) {
      const int stride = (s > 0 && b == 0) ? 2 : 1;
      std::shared_ptr<ResidualBlockImpl> block;
      if (o.bottleneck) {
        block = std::make_shared<BottleneckImpl>(in, o.widths[s], stride, size);
        in = o.widths[s] * BottleneckImpl::kExpansion;
      } else {
        block = std::make_shared<BasicBlockImpl>(in, o.widths[s], stride, size);
        in = o.widths[s] * BasicBlockImpl::kExpansion;
      }
      size = block->out_size();
      list->push_back(block);
      blocks.push_back(block);
    }
    stages.modules.push_back(
        register_module("layer" + std::to_string(s + 1), list));
    stages.blocks.push_back(std::move(blocks));
  }
  stages.channels = in;
  stages.out_size = size;
  return stages;
}

std::vector<UnitModel::UnitDef> ResNet::ChildUnits(const Stem& stem,
                                                   const Stages& stages) {
  std::vector<UnitDef> units;
  auto conv1 = stem.conv1;
  UnitDef first = {
      "conv1",
      {conv1},
      [conv1](const torch::Tensor& x) { return conv1->forward(x); },
      stem.conv1_flops};
  first.fold = [stem](at::MemoryFormat f) { return stem.FoldConv1(f); };
  units.push_back(std::move(first));
  std::vector<std::shared_ptr<nn::Module>> stem_tail = {stem.bn1, stem.relu};
  if (stem.maxpool != nullptr) stem_tail.push_back(stem.maxpool);
  units.push_back({"bn1", stem_tail,
                   [stem](const torch::Tensor& x) { return stem.Tail(x); },
                   stem.bn1_flops});
  for (int s = 0; s < 4; ++s) {
    auto blocks = stages.blocks[s];
    double flops = 0;
    for (const auto& block : blocks) flops += block->flops();
    UnitDef layer = {"layer" + std::to_string(s + 1),
                     {stages.modules[s]},
                     [blocks](const torch::Tensor& x) {
                       torch::Tensor h = x;
                       for (const auto& block : blocks) h = block->forward(h);
                       return h;
                     },
                     flops};
    layer.fold = [blocks](at::MemoryFormat f) { return FoldBlocks(blocks, f); };
    units.push_back(std::move(layer));
  }
  return units;
}

std::vector<UnitModel::UnitDef> ResNet::BlockUnits(const Stem& stem,
                                                   const Stages& stages) {
  std::vector<UnitDef> units;
  std::vector<std::shared_ptr<nn::Module>> stem_modules = {stem.conv1, stem.bn1,
                                                           stem.relu};
  if (stem.maxpool != nullptr) stem_modules.push_back(stem.maxpool);
  UnitDef first = {"stem", stem_modules,
                   [stem](const torch::Tensor& x) {
                     return stem.Tail(stem.conv1->forward(x));
                   },
                   stem.conv1_flops + stem.bn1_flops};
  first.fold = [stem](at::MemoryFormat f) { return stem.Fold(f); };
  units.push_back(std::move(first));
  for (int s = 0; s < 4; ++s) {
    for (size_t b = 0; b < stages.blocks[s].size(); ++b) {
      auto block = stages.blocks[s][b];
      UnitDef unit = {
          "layer" + std::to_string(s + 1) + "." + std::to_string(b),
          {block},
          [block](const torch::Tensor& x) { return block->forward(x); },
          block->flops()};
      unit.fold = [block](at::MemoryFormat f) { return block->Fold(f); };
      units.push_back(std::move(unit));
    }
  }
  return units;
}

}  // namespace freezing::train
