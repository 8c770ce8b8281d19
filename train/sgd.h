// Sgd: the study's optimizer (SGD with momentum and weight decay, PyTorch's
// update rule), aware of frozen parameters.
//
// A frozen parameter is out of the optimizer: no weight decay, no momentum
// update, no cost. Its momentum buffer is kept (and checkpointed), so a unit
// that a policy unfreezes resumes with the momentum it had. PyTorch's rule
// (torch.optim.SGD, dampening 0, no Nesterov):
//   d = grad + weight_decay * p
//   buf = d                      on the first update of p
//   buf = momentum * buf + d     afterwards
//   p = p - lr * buf
#ifndef FREEZING_TRAIN_SGD_H_
#define FREEZING_TRAIN_SGD_H_

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"

namespace freezing::train {

struct SgdOptions {
  double momentum = 0.9;
  double weight_decay = 1e-4;
};

class Sgd {
 public:
  Sgd(std::vector<at::Tensor> params, SgdOptions options);

  // Per parameter: true when it is trained (in the optimizer).
  void SetTrainable(const std::vector<bool>& trainable);
  const std::vector<bool>& trainable() const { return trainable_; }
  int64_t trainable_numel() const;

  // One update of every trainable parameter that has a gradient, which is
  // then cleared (zeroed in place, ready to accumulate the next backward).
  // float32 parameters take one fused pass; the result equals PyTorch's
  // within float rounding (the fused loop may contract a*b+c into one
  // rounding where ATen rounds twice).
  void Step(double lr);

  // Momentum buffers (undefined tensors for parameters never updated), for
  // checkpoints. LoadState checks count and shapes.
  const std::vector<at::Tensor>& momentum_buffers() const { return buffers_; }
  absl::Status LoadMomentum(const std::vector<at::Tensor>& buffers);

 private:
  std::vector<at::Tensor> params_;
  std::vector<at::Tensor> buffers_;
  std::vector<bool> trainable_;
  SgdOptions options_;
};

}  // namespace freezing::train

#endif  // FREEZING_TRAIN_SGD_H_
