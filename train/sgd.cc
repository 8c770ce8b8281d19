#include "train/sgd.h"

#include <utility>

#include <ATen/ATen.h>

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

void Sgd::Step(double lr) {
  at::NoGradGuard no_grad;
  for (size_t i = 0; i < params_.size(); ++i) {
    if (!trainable_[i]) continue;
    at::Tensor& p = params_[i];
    at::Tensor& grad = p.mutable_grad();
    if (!grad.defined()) continue;
    if (options_.weight_decay != 0) grad.add_(p, options_.weight_decay);
    if (options_.momentum != 0) {
      at::Tensor& buf = buffers_[i];
      if (!buf.defined()) {
        buf = grad.clone();
      } else {
        buf.mul_(options_.momentum).add_(grad);
      }
      p.add_(buf, -lr);
    } else {
      p.add_(grad, -lr);
    }
  }
}

absl::Status Sgd::LoadMomentum(const std::vector<at::Tensor>& buffers) {
  if (buffers.size() != params_.size()) {
    return absl::InvalidArgumentError(
        absl::StrCat("optimizer state has ", buffers.size(),
                     " momentum buffers, the model has ", params_.size(),
                     " parameters"));
  }
  for (size_t i = 0; i < buffers.size(); ++i) {
    if (buffers[i].defined() && !buffers[i].sizes().equals(params_[i].sizes())) {
      return absl::InvalidArgumentError(absl::StrCat(
          "momentum buffer ", i, " has shape ", ShapeString(buffers[i]),
          ", its parameter has shape ", ShapeString(params_[i])));
    }
  }
  at::NoGradGuard no_grad;
  for (size_t i = 0; i < buffers.size(); ++i) {
    buffers_[i] = buffers[i].defined() ? buffers[i].clone() : at::Tensor();
  }
  return absl::OkStatus();
}

}  // namespace freezing::train
