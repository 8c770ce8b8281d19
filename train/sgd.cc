#include "train/sgd.h"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>

#include <utility>

#include "absl/strings/str_cat.h"

namespace freezing::train {
namespace {

std::string ShapeString(const at::Tensor& t) {
  std::string out = "[";
  for (int64_t d = 0; d < t.dim(); ++d) {
    absl::StrAppend(&out, d ? ", " : "", t.size(d));
  }
  return out + "]";
}

}  // namespace

Sgd::Sgd(std::vector<at::Tensor> params, SgdOptions options)
    : params_(std::move(params)),
      buffers_(params_.size()),
      trainable_(params_.size(), true),
      options_(options) {}

void Sgd::SetTrainable(const std::vector<bool>& trainable) {
  trainable_ = trainable;
}

int64_t Sgd::trainable_numel() const {
  int64_t n = 0;
  for (size_t i = 0; i < params_.size(); ++i) {
    if (trainable_[i]) n += params_[i].numel();
  }
  return n;
}

namespace {

// Element i of `a` and of `b` at the same memory offset, no gaps.
bool SameDenseLayout(const at::Tensor& a, const at::Tensor& b) {
  if (a.sizes() != b.sizes()) return false;
  if (a.is_contiguous() && b.is_contiguous()) return true;
  return a.is_non_overlapping_and_dense() && a.strides() == b.strides();
}

// One fused pass over a float32 parameter: weight decay, momentum, update
// and clearing the gradient for the next backward. ATen's unfused version
// (PyTorch's torch.optim.SGD on CPU) makes five passes over memory.
void FusedSgdFloat(float* p, float* g, float* buf, int64_t n, float lr,
                   float momentum, float weight_decay, bool first) {
  at::parallel_for(0, n, 1 << 15, [&](int64_t begin, int64_t end) {
    if (first) {
#pragma omp simd
      for (int64_t i = begin; i < end; ++i) {
        const float d = g[i] + weight_decay * p[i];
        buf[i] = d;
        p[i] -= lr * d;
        g[i] = 0.0f;
      }
    } else {
#pragma omp simd
      for (int64_t i = begin; i < end; ++i) {
        const float d = g[i] + weight_decay * p[i];
        const float b = momentum * buf[i] + d;
        buf[i] = b;
        p[i] -= lr * b;
        g[i] = 0.0f;
      }
    }
  });
}

}  // namespace

void Sgd::Step(double lr) {
  at::NoGradGuard no_grad;
  for (size_t i = 0; i < params_.size(); ++i) {
    if (!trainable_[i]) continue;
    at::Tensor& p = params_[i];
    at::Tensor& grad = p.mutable_grad();
    if (!grad.defined()) continue;
    at::Tensor& buf = buffers_[i];
    // One pass over raw memory: parameter, gradient and momentum in the same
    // dense layout (contiguous, or channels-last with the reducer's bucket
    // views following the parameter's strides).
    const bool fusable =
        options_.momentum != 0 && p.scalar_type() == at::kFloat &&
        grad.scalar_type() == at::kFloat && SameDenseLayout(p, grad) &&
        (!buf.defined() || SameDenseLayout(p, buf));
    if (fusable) {
      const bool first = !buf.defined();
      if (first) buf = at::empty_like(p);
      FusedSgdFloat(p.data_ptr<float>(), grad.data_ptr<float>(),
                    buf.data_ptr<float>(), p.numel(), static_cast<float>(lr),
                    static_cast<float>(options_.momentum),
                    static_cast<float>(options_.weight_decay), first);
      continue;
    }
    if (options_.weight_decay != 0) grad.add_(p, options_.weight_decay);
    if (options_.momentum != 0) {
      if (!buf.defined()) {
        buf = grad.clone();
      } else {
        buf.mul_(options_.momentum).add_(grad);
      }
      p.add_(buf, -lr);
    } else {
      p.add_(grad, -lr);
    }
    grad.zero_();
  }
}

absl::Status Sgd::LoadMomentum(const std::vector<at::Tensor>& buffers) {
  if (buffers.size() != params_.size()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "optimizer state has ", buffers.size(),
        " momentum buffers, the model has ", params_.size(), " parameters"));
  }
  for (size_t i = 0; i < buffers.size(); ++i) {
    if (buffers[i].defined() &&
        !buffers[i].sizes().equals(params_[i].sizes())) {
      return absl::InvalidArgumentError(absl::StrCat(
          "momentum buffer ", i, " has shape ", ShapeString(buffers[i]),
          ", its parameter has shape ", ShapeString(params_[i])));
    }
  }
  at::NoGradGuard no_grad;
  // In the parameter's layout (a checkpoint may have been written in
  // another memory format).
  for (size_t i = 0; i < buffers.size(); ++i) {
    buffers_[i] = buffers[i].defined()
                      ? at::empty_like(params_[i]).copy_(buffers[i])
                      : at::Tensor();
  }
  return absl::OkStatus();
}

}  // namespace freezing::train
