#include "train/models/model_factory.h"

#include <c10/util/Exception.h>

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "train/models/mlp.h"
#include "train/models/resnet.h"
#include "train/models/unit_model.h"
#include "train/models/vit.h"

namespace freezing::train {

const std::vector<std::string>& ModelNames() {
  static const auto* names = new std::vector<std::string>{
      "resnet18", "resnet34", "resnet50", "resnet_tiny",
      "mlp",      "vit_mini", "vit_tiny", "vit_b_16"};
  return *names;
}

bool IsVit(const std::string& name) { return VitPreset(name).ok(); }

int DefaultPatchSize(int image_size) { return image_size < 224 ? 4 : 16; }

int ResolvedPatchSize(const ModelConfig& c) {
  if (!IsVit(c.name)) return 0;
  return c.patch_size > 0 ? c.patch_size : DefaultPatchSize(c.image_size);
}

namespace {

absl::StatusOr<VitOptions> VitOptionsOf(const ModelConfig& c) {
  absl::StatusOr<VitOptions> o = VitPreset(c.name);
  if (!o.ok()) return o.status();
  o->image_size = c.image_size;
  o->patch_size = ResolvedPatchSize(c);
  o->num_classes = c.num_classes;
  o->in_channels = c.in_channels;
  o->block_units = c.granularity == "block";
  return o;
}

}  // namespace

absl::Status ValidateModelConfig(const ModelConfig& c) {
  const auto& names = ModelNames();
  if (std::find(names.begin(), names.end(), c.name) == names.end()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "unknown model '", c.name, "'; valid: ", absl::StrJoin(names, ", ")));
  }
  if (c.stem != "imagenet" && c.stem != "cifar") {
    return absl::InvalidArgumentError(
        absl::StrCat("unknown stem '", c.stem, "'; valid: imagenet, cifar"));
  }
  if (c.granularity != "child" && c.granularity != "block") {
    return absl::InvalidArgumentError(
        absl::StrCat("unknown freeze unit granularity '", c.granularity,
                     "'; valid: child, block"));
  }
  if (c.num_classes < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("num_classes must be >= 1, got ", c.num_classes));
  }
  if (c.in_channels < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("in_channels must be >= 1, got ", c.in_channels));
  }
  if (c.image_size < 8 || c.image_size > 1024) {
    return absl::InvalidArgumentError(
        absl::StrCat("image_size must be in 8..1024, got ", c.image_size));
  }
  if (c.patch_size < 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "patch_size must be >= 1 (or 0: the default), got ", c.patch_size));
  }
  if (!IsVit(c.name)) {
    if (c.patch_size != 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("patch_size applies to the ViTs only, not to ", c.name,
                       " (got ", c.patch_size, ")"));
    }
    return absl::OkStatus();
  }
  absl::StatusOr<VitOptions> o = VitOptionsOf(c);
  if (!o.ok()) return o.status();
  return ValidateVitOptions(*o);
}

absl::StatusOr<std::shared_ptr<UnitModel>> MakeModel(const ModelConfig& c) {
  if (absl::Status s = ValidateModelConfig(c); !s.ok()) return s;
  try {
    if (IsVit(c.name)) {
      absl::StatusOr<VitOptions> o = VitOptionsOf(c);
      if (!o.ok()) return o.status();
      return std::shared_ptr<UnitModel>(
          std::make_shared<VisionTransformer>(*o));
    }
    if (c.name == "mlp") {
      MlpOptions o;
      o.in_channels = c.in_channels;
      o.image_size = c.image_size;
      o.num_classes = c.num_classes;
      return std::shared_ptr<UnitModel>(std::make_shared<Mlp>(o));
    }
    ResNetOptions o;
    o.name = c.name;
    o.cifar_stem = c.stem == "cifar";
    o.num_classes = c.num_classes;
    o.in_channels = c.in_channels;
    o.image_size = c.image_size;
    o.block_units = c.granularity == "block";
    if (c.name == "resnet34") {
      o.layers = {3, 4, 6, 3};
    } else if (c.name == "resnet50") {
      o.layers = {3, 4, 6, 3};
      o.bottleneck = true;
    } else if (c.name == "resnet_tiny") {
      o.layers = {1, 1, 1, 1};
      o.stem_width = 8;
      o.widths = {8, 16, 32, 64};
    }
    return std::shared_ptr<UnitModel>(std::make_shared<ResNet>(o));
  } catch (const c10::Error& e) {
    return absl::InternalError(absl::StrCat("building model ", c.name, ": ",
                                            e.what_without_backtrace()));
  }
}

}  // namespace freezing::train
