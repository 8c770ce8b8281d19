// FoldedConv: a frozen convolution in its inference form. The BatchNorm that
// follows it (eval statistics: running mean and variance, weight, bias) is
// folded into its weight and bias, exactly as algebra allows:
//   scale = gamma / sqrt(running_var + eps)
//   W' = W * scale (per output channel),  b' = (b - running_mean) * scale +
//   beta
// a following ReLU is fused, and the weight is prepacked once for oneDNN
// (libtorch's mkldnn_prepacked::conv2d_prepack / conv2d_run, which
// TorchScript's optimize_for_inference uses: no weight reorder per call, ReLU
// as a post-op). Where libtorch has no such operator, the folded weight runs
// through at::conv2d and an in-place ReLU.
//
// Numerics: W' and b' are rounded to float once, and oneDNN's kernels differ
// from the unfolded convolution in the last bits; the folded output is
// within 1e-4 relative of the unfolded one (folding_test). A row's output
// does not depend on the other rows of its batch (prepacked for a fixed
// nominal batch, so not on the order of calls either), which the activation
// cache needs.
#ifndef FREEZING_TRAIN_MODELS_FOLDED_CONV_H_
#define FREEZING_TRAIN_MODELS_FOLDED_CONV_H_

#include <ATen/core/Tensor.h>
#include <ATen/core/ivalue.h>
#include <c10/core/MemoryFormat.h>

#include <cstdint>
#include <vector>

namespace torch::nn {
class Conv2dImpl;
class BatchNorm2dImpl;
}  // namespace torch::nn

namespace freezing::train {

class FoldedConv {
 public:
  // Fold: `conv` followed by `bn` (null: none) and ReLU (`relu`), for inputs
  // of `input_chw` = {channels, height, width} in memory format `format`.
  // Reads the current parameters and buffers (a later change of them is not
  // seen: build again). Throws c10::Error.
  static FoldedConv Fold(const torch::nn::Conv2dImpl& conv,
                         const torch::nn::BatchNorm2dImpl* bn, bool relu,
                         const std::vector<int64_t>& input_chw,
                         at::MemoryFormat format);

  // The folded convolution of `x` [N, C, H, W] (any N), output in `format`.
  // Call under no-grad.
  at::Tensor operator()(const at::Tensor& x) const;

  // Prepacked: true when libtorch's prepacked oneDNN operator runs it.
  bool prepacked() const { return !packed_.isNone(); }

 private:
  c10::IValue packed_;  // the ConvOpContext, or None
  at::Tensor weight_, bias_;
  std::vector<int64_t> stride_, padding_, dilation_;
  int64_t groups_ = 1;
  bool relu_ = false;
  at::MemoryFormat format_ = at::MemoryFormat::Contiguous;
};

}  // namespace freezing::train

#endif  // FREEZING_TRAIN_MODELS_FOLDED_CONV_H_
