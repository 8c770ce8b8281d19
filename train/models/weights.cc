#include "train/models/weights.h"

#include <c10/util/Exception.h>
#include <torch/csrc/jit/serialization/import.h>
#include <torch/serialize/input-archive.h>
#include <torch/serialize/output-archive.h>
#include <unistd.h>

#include <cstdio>
#include <map>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "base/file.h"
#include "train/models/unit_model.h"

namespace freezing::train {
namespace {

// Named tensors in file order.
using NamedTensors = std::vector<std::pair<std::string, torch::Tensor>>;

std::string Shape(const torch::Tensor& t) {
  return absl::StrCat("[", absl::StrJoin(t.sizes(), ", "), "]");
}

bool Excluded(const std::string& name, const LoadWeightsOptions& options) {
  for (const std::string& prefix : options.exclude_prefixes) {
    if (absl::StartsWith(name, prefix)) return true;
  }
  return false;
}

// The module of the model's classifier ("fc." for a ResNet, "heads.head."
// for a ViT): what to exclude for another number of classes.
std::string ClassifierPrefix(const UnitModel& model) {
  const UnitSpec& head = model.unit(model.num_units() - 1);
  if (head.params.empty()) return "fc.";
  const std::string name = model.parameter_names()[head.params.back()];
  return name.substr(0, name.rfind('.') + 1);
}

// What a shape difference of tensor `name` usually means.
std::string MismatchHint(const std::string& name, const UnitModel& model) {
  if (name == "encoder.pos_embedding") {
    return " (another number of tokens: the file's ViT was made for another "
           "image or patch size)";
  }
  if (name == "conv_proj.weight") {
    return " (another patch size, width or number of input channels)";
  }
  return absl::StrCat(
      " (exclude it to keep the model's initialisation, e.g. prefix \"",
      ClassifierPrefix(model), "\" for another number of classes)");
}

std::string FirstLine(const char* text) {
  std::string s = text;
  const size_t end = s.find('\n');
  return end == std::string::npos ? s : s.substr(0, end);
}

// Checks that `file` fits `model`, then copies; `source` names the file in
// messages.
absl::Status Apply(const NamedTensors& file, UnitModel& model,
                   const LoadWeightsOptions& options,
                   const std::string& source) {
  std::map<std::string, torch::Tensor> by_name;
  std::vector<std::string> order;
  for (const auto& [raw_name, tensor] : file) {
    if (!absl::StartsWith(raw_name, options.source_prefix)) continue;
    const std::string name = raw_name.substr(options.source_prefix.size());
    if (Excluded(name, options)) continue;
    if (by_name.emplace(name, tensor).second) order.push_back(name);
  }
  NamedTensors targets;
  for (const auto& item : model.named_parameters()) {
    targets.emplace_back(item.key(), item.value());
  }
  for (const auto& item : model.named_buffers()) {
    targets.emplace_back(item.key(), item.value());
  }
  const std::string context =
      absl::StrCat(source, " does not fit model ", model.model_name(), ": ");
  std::map<std::string, bool> in_model;
  for (const auto& [name, target] : targets) {
    in_model[name] = true;
    if (Excluded(name, options)) continue;
    auto it = by_name.find(name);
    if (it == by_name.end()) {
      return absl::InvalidArgumentError(
          absl::StrCat(context, "tensor '", name, "' ", Shape(target),
                       " of the model is missing from the file"));
    }
    if (!it->second.sizes().equals(target.sizes())) {
      return absl::InvalidArgumentError(
          absl::StrCat(context, "tensor '", name, "' has shape ",
                       Shape(it->second), " in the file but ", Shape(target),
                       " in the model", MismatchHint(name, model)));
    }
  }
  for (const std::string& name : order) {
    if (!in_model.count(name)) {
      return absl::InvalidArgumentError(
          absl::StrCat(context, "tensor '", name, "' ", Shape(by_name[name]),
                       " of the file is not in the model"));
    }
  }
  torch::NoGradGuard no_grad;
  for (auto& [name, target] : targets) {
    if (Excluded(name, options)) continue;
    target.copy_(by_name[name]);
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status LoadWeights(const std::string& path, UnitModel& model,
                         const LoadWeightsOptions& options) {
  if (access(path.c_str(), R_OK) != 0) {
    return absl::NotFoundError(absl::StrCat(
        "weights file ", path, " does not exist or is not readable"));
  }
  try {
    torch::jit::Module module = torch::jit::load(path, torch::kCPU);
    NamedTensors file;
    for (const auto& p : module.named_parameters(/*recurse=*/true)) {
      file.emplace_back(p.name, p.value);
    }
    for (const auto& b : module.named_buffers(/*recurse=*/true)) {
      file.emplace_back(b.name, b.value);
    }
    return Apply(file, model, options, path);
  } catch (const c10::Error& e) {
    return absl::InvalidArgumentError(
        absl::StrCat("weights file ", path,
                     " is not a TorchScript or torch::serialize archive: ",
                     FirstLine(e.what_without_backtrace())));
  }
}

absl::Status ReadWeights(torch::serialize::InputArchive& archive,
                         UnitModel& model, const LoadWeightsOptions& options) {
  try {
    NamedTensors file;
    for (const std::string& key : archive.keys()) {
      torch::Tensor t;
      if (archive.try_read(key, t, /*is_buffer=*/false) ||
          archive.try_read(key, t, /*is_buffer=*/true)) {
        file.emplace_back(key, t);
      }
    }
    return Apply(file, model, options, "weights archive");
  } catch (const c10::Error& e) {
    return absl::InvalidArgumentError(absl::StrCat(
        "reading weights archive: ", FirstLine(e.what_without_backtrace())));
  }
}

void WriteWeights(const UnitModel& model,
                  torch::serialize::OutputArchive& archive) {
  for (const auto& item : model.named_parameters()) {
    archive.write(item.key(), item.value(), /*is_buffer=*/false);
  }
  for (const auto& item : model.named_buffers()) {
    archive.write(item.key(), item.value(), /*is_buffer=*/true);
  }
}

absl::Status SaveWeights(const std::string& path, const UnitModel& model) {
  // Durably: the model file of a committed checkpoint must never be torn.
  return base::ReplaceFileAtomically(
      path, [&](const std::string& temporary) -> absl::Status {
        try {
          torch::serialize::OutputArchive archive;
          WriteWeights(model, archive);
          archive.save_to(temporary);
        } catch (const c10::Error& e) {
          return absl::InternalError(
              absl::StrCat("writing weights to ", temporary, ": ",
                           FirstLine(e.what_without_backtrace())));
        }
        return absl::OkStatus();
      });
}

}  // namespace freezing::train
