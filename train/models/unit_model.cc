#include "train/models/unit_model.h"

#include <ATen/ATen.h>
#include <c10/util/Exception.h>
#include <torch/autograd.h>

#include <algorithm>
#include <unordered_map>
#include <utility>

namespace freezing::train {

UnitModel::UnitModel(std::string model_name, std::vector<int64_t> input_shape)
    : model_name_(std::move(model_name)),
      input_shape_(std::move(input_shape)) {}

void UnitModel::SetUnits(std::vector<UnitDef> units) {
  TORCH_CHECK(units_.empty(), "SetUnits called twice");
  TORCH_CHECK(!units.empty() && units.back().is_classifier,
              "the last unit must be the classifier");
  const std::vector<torch::Tensor> all = parameters();
  std::unordered_map<const void*, int> index_of;
  for (int i = 0; i < static_cast<int>(all.size()); ++i) {
    index_of[all[i].unsafeGetTensorImpl()] = i;
  }
  std::vector<int> owner(all.size(), -1);
  for (int u = 0; u < static_cast<int>(units.size()); ++u) {
    UnitSpec spec;
    spec.name = units[u].name;
    spec.forward_flops_per_sample = units[u].forward_flops_per_sample;
    spec.is_classifier = units[u].is_classifier;
    TORCH_CHECK(!spec.is_classifier || u + 1 == static_cast<int>(units.size()),
                "only the last unit may be the classifier");
    std::vector<torch::Tensor> params = units[u].params;
    for (const auto& module : units[u].modules) {
      for (const torch::Tensor& p : module->parameters()) params.push_back(p);
    }
    for (const torch::Tensor& p : params) {
      auto it = index_of.find(p.unsafeGetTensorImpl());
      TORCH_CHECK(it != index_of.end(), "unit ", spec.name,
                  " has a parameter that is not registered in the model");
      TORCH_CHECK(owner[it->second] == -1, "parameter ", it->second,
                  " belongs to units ", owner[it->second], " and ", u);
      owner[it->second] = u;
      spec.params.push_back(it->second);
      spec.num_params += p.numel();
    }
    std::sort(spec.params.begin(), spec.params.end());
    std::vector<torch::Tensor> tensors = params;
    for (const auto& module : units[u].modules) {
      for (const torch::Tensor& b : module->buffers()) tensors.push_back(b);
    }
    units_.push_back(std::move(spec));
    unit_modules_.push_back(units[u].modules);
    unit_fns_.push_back(std::move(units[u].forward));
    folds_.push_back(std::move(units[u].fold));
    unit_tensors_.push_back(std::move(tensors));
  }
  const std::vector<std::string> names = parameter_names();
  for (size_t i = 0; i < owner.size(); ++i) {
    TORCH_CHECK(owner[i] >= 0, "parameter ", names[i], " belongs to no unit");
  }
  frozen_.assign(units_.size(), false);
  folded_.assign(units_.size(), false);
  folded_fns_.resize(units_.size());
  folded_versions_.assign(units_.size(), 0);

  // Output sizes, from one zero image in eval mode (BatchNorm in training
  // mode refuses a batch with one value per channel).
  const bool was_training = is_training();
  torch::nn::Module::train(false);
  {
    torch::NoGradGuard no_grad;
    std::vector<int64_t> shape = {1};
    shape.insert(shape.end(), input_shape_.begin(), input_shape_.end());
    torch::Tensor x = torch::zeros(shape);
    for (int u = 0; u < num_units(); ++u) {
      x = unit_fns_[u](x);
      units_[u].output_elements_per_sample = x.numel();
      if (u + 1 < num_units() && x.dim() == 4) spatial_ = true;
    }
  }
  torch::nn::Module::train(was_training);
}

torch::Tensor UnitModel::InFormat(const torch::Tensor& x) const {
  if (format_ == at::MemoryFormat::Contiguous || x.dim() != 4 ||
      x.is_contiguous(format_)) {
    return x;
  }
  return x.contiguous(format_);
}

torch::Tensor UnitModel::ForwardUnit(int i, const torch::Tensor& x) {
  if (folded_.at(i) && folds_[i] && !at::GradMode::is_enabled()) {
    return Folded(i)(InFormat(x));
  }
  return unit_fns_.at(i)(InFormat(x));
}

torch::Tensor UnitModel::forward(const torch::Tensor& x) {
  torch::Tensor h = x;
  for (int u = 0; u < num_units(); ++u) h = ForwardUnit(u, h);
  return h;
}

int64_t UnitModel::Versions(int i) const {
  // Version counters only grow, so their sum changes with any write.
  int64_t v = 0;
  for (const torch::Tensor& t : unit_tensors_[i]) v += t._version();
  return v;
}

const UnitModel::UnitFn& UnitModel::Folded(int i) {
  const int64_t now = Versions(i);
  if (!folded_fns_[i] || now != folded_versions_[i]) {
    torch::NoGradGuard no_grad;
    folded_fns_[i] = folds_[i](format_);
    folded_versions_[i] = now;
  }
  return folded_fns_[i];
}

void UnitModel::SetUnitFolded(int i, bool folded) {
  TORCH_CHECK(!folded || frozen_.at(i), "unit ", units_.at(i).name,
              " must be frozen to be folded");
  folded_.at(i) = folded;
  folded_fns_[i] = nullptr;
  if (folded && folds_[i]) Folded(i);
}

void UnitModel::SetMemoryFormat(at::MemoryFormat format) {
  TORCH_CHECK(format == at::MemoryFormat::Contiguous ||
                  format == at::MemoryFormat::ChannelsLast,
              "memory format must be contiguous or channels-last");
  torch::NoGradGuard no_grad;
  for (torch::Tensor t : parameters()) {
    if (t.dim() == 4) t.set_data(t.contiguous(format));
  }
  for (torch::Tensor t : buffers()) {
    if (t.dim() == 4) t.set_data(t.contiguous(format));
  }
  format_ = format;
  for (int u = 0; u < num_units(); ++u) {
    folded_fns_[u] = nullptr;
    if (folded_[u] && folds_[u]) Folded(u);
  }
}

void UnitModel::SetUnitFrozen(int i, bool frozen) {
  if (!frozen) SetUnitFolded(i, false);
  frozen_.at(i) = frozen;
  const std::vector<torch::Tensor> all = parameters();
  for (int p : units_[i].params) all[p].set_requires_grad(!frozen);
  for (const auto& module : unit_modules_[i]) {
    module->train(frozen ? false : is_training());
  }
}

void UnitModel::train(bool on) {
  torch::nn::Module::train(on);
  for (int u = 0; u < num_units(); ++u) {
    if (!frozen_[u]) continue;
    for (const auto& module : unit_modules_[u]) module->train(false);
  }
}

std::vector<std::string> UnitModel::parameter_names() const {
  std::vector<std::string> names;
  for (const auto& item : named_parameters()) names.push_back(item.key());
  return names;
}

std::vector<std::string> UnitModel::buffer_names() const {
  std::vector<std::string> names;
  for (const auto& item : named_buffers()) names.push_back(item.key());
  return names;
}

int64_t UnitModel::num_params() const {
  int64_t n = 0;
  for (const auto& p : parameters()) n += p.numel();
  return n;
}

}  // namespace freezing::train
