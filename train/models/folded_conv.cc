#include "train/models/folded_conv.h"

#include <ATen/ATen.h>
#include <ATen/core/dispatch/Dispatcher.h>
#include <ATen/core/stack.h>
#include <torch/nn/modules/batchnorm.h>
#include <torch/nn/modules/conv.h>

#include <string>
#include <utility>

namespace freezing::train {
namespace {

// The batch the weights are prepacked for. Any batch runs; a fixed one keeps
// oneDNN's choice of weight layout (and with it the kernel) independent of
// which batch happened to come first.
constexpr int64_t kNominalBatch = 64;

c10::optional<c10::OperatorHandle> FindOp(const char* name) {
  return c10::Dispatcher::singleton().findSchema({name, ""});
}

const c10::optional<c10::OperatorHandle>& PrepackOp() {
  static const c10::optional<c10::OperatorHandle> op =
      FindOp("mkldnn_prepacked::conv2d_prepack");
  return op;
}

const c10::optional<c10::OperatorHandle>& RunOp() {
  static const c10::optional<c10::OperatorHandle> op =
      FindOp("mkldnn_prepacked::conv2d_run");
  return op;
}

std::vector<int64_t> Pair(const torch::ExpandingArray<2>& a) {
  return {(*a)[0], (*a)[1]};
}

// W' and b' of the file comment; W and b alone without `bn`.
std::pair<at::Tensor, at::Tensor> FoldedWeights(
    const torch::nn::Conv2dImpl& conv, const torch::nn::BatchNorm2dImpl* bn) {
  at::Tensor w = conv.weight.detach();
  const int64_t out = w.size(0);
  at::Tensor b =
      conv.bias.defined() ? conv.bias.detach() : at::zeros({out}, w.options());
  if (bn == nullptr) return {w.clone(), b.clone()};
  at::Tensor gamma =
      bn->weight.defined() ? bn->weight.detach() : at::ones({out}, w.options());
  at::Tensor beta =
      bn->bias.defined() ? bn->bias.detach() : at::zeros({out}, w.options());
  const at::Tensor scale =
      gamma * at::rsqrt(bn->running_var.detach() + bn->options.eps());
  return {w * scale.reshape({-1, 1, 1, 1}),
          (b - bn->running_mean.detach()) * scale + beta};
}

}  // namespace

FoldedConv FoldedConv::Fold(const torch::nn::Conv2dImpl& conv,
                            const torch::nn::BatchNorm2dImpl* bn, bool relu,
                            const std::vector<int64_t>& input_chw,
                            at::MemoryFormat format) {
  at::NoGradGuard no_grad;
  FoldedConv f;
  auto [w, b] = FoldedWeights(conv, bn);
  f.weight_ = w.contiguous(format);
  f.bias_ = b.contiguous();
  f.stride_ = Pair(conv.options.stride());
  TORCH_CHECK(
      c10::holds_alternative<torch::ExpandingArray<2>>(conv.options.padding()),
      "FoldedConv: only explicit padding");
  f.padding_ = Pair(c10::get<torch::ExpandingArray<2>>(conv.options.padding()));
  f.dilation_ = Pair(conv.options.dilation());
  f.groups_ = conv.options.groups();
  f.relu_ = relu;
  f.format_ = format;
  if (PrepackOp().has_value() && RunOp().has_value() && at::hasMKLDNN()) {
    torch::jit::Stack stack;
    stack.emplace_back(f.weight_);
    stack.emplace_back(f.bias_);
    stack.emplace_back(f.stride_);
    stack.emplace_back(f.padding_);
    stack.emplace_back(f.dilation_);
    stack.emplace_back(f.groups_);
    stack.emplace_back(std::vector<int64_t>{kNominalBatch, input_chw.at(0),
                                            input_chw.at(1), input_chw.at(2)});
    stack.emplace_back(std::string(relu ? "relu" : "none"));
    PrepackOp()->callBoxed(&stack);
    f.packed_ = std::move(stack.at(0));
  }
  return f;
}

at::Tensor FoldedConv::operator()(const at::Tensor& x) const {
  const at::Tensor in = x.contiguous(format_);
  if (prepacked()) {
    torch::jit::Stack stack;
    stack.emplace_back(in);
    stack.emplace_back(packed_);
    RunOp()->callBoxed(&stack);
    return std::move(stack.at(0)).toTensor();
  }
  at::Tensor y =
      at::conv2d(in, weight_, bias_, stride_, padding_, dilation_, groups_);
  return relu_ ? y.relu_() : y;
}

}  // namespace freezing::train
