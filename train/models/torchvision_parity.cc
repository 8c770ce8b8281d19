#include "train/models/torchvision_parity.h"

#include <c10/util/Exception.h>
#include <torch/csrc/jit/serialization/import.h>
#include <unistd.h>

#include <memory>

#include "absl/strings/str_cat.h"
#include "train/models/unit_model.h"
#include "train/models/weights.h"

namespace freezing::train {

absl::StatusOr<ParityResult> CheckLogitsParity(const std::string& weights,
                                               const std::string& sample,
                                               ModelConfig config) {
  if (::access(sample.c_str(), R_OK) != 0) {
    return absl::NotFoundError(
        absl::StrCat("sample file ", sample, " does not exist"));
  }
  torch::Tensor input, expected;
  try {
    torch::jit::Module m = torch::jit::load(sample, torch::kCPU);
    input = m.attr("input").toTensor();
    expected = m.attr("logits").toTensor();
  } catch (const c10::Error& e) {
    return absl::InvalidArgumentError(
        absl::StrCat("sample file ", sample,
                     " is not an export_torchvision.py --sample_out archive: ",
                     e.what_without_backtrace()));
  }
  if (input.dim() != 4 || input.size(2) != input.size(3) ||
      expected.dim() != 2 || expected.size(0) != input.size(0)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "sample file ", sample, " holds input ", c10::str(input.sizes()),
        " and logits ", c10::str(expected.sizes()),
        "; expected [B, C, S, S] and [B, classes]"));
  }
  config.num_classes = static_cast<int>(expected.size(1));
  config.in_channels = static_cast<int>(input.size(1));
  config.image_size = static_cast<int>(input.size(2));
  absl::StatusOr<std::shared_ptr<UnitModel>> model = MakeModel(config);
  if (!model.ok()) return model.status();
  if (absl::Status s = LoadWeights(weights, **model); !s.ok()) return s;
  ParityResult r;
  r.config = config;
  try {
    (*model)->eval();
    torch::NoGradGuard no_grad;
    const torch::Tensor logits = (*model)->forward(input);
    if (!logits.sizes().equals(expected.sizes())) {
      return absl::InternalError(
          absl::StrCat("logits of shape ", c10::str(logits.sizes()),
                       ", torchvision's ", c10::str(expected.sizes())));
    }
    r.max_abs_diff = (logits - expected).abs().max().item<double>();
    r.max_abs_expected = expected.abs().max().item<double>();
    r.logits = logits.numel();
  } catch (const c10::Error& e) {
    return absl::InternalError(absl::StrCat("running ", config.name, ": ",
                                            e.what_without_backtrace()));
  }
  return r;
}

}  // namespace freezing::train
