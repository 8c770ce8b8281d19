// Vision Transformers with torchvision's module names, structure and
// initialisation, as UnitModels (unit_model.h).
//
// torchvision.models.vision_transformer.VisionTransformer: class_token,
// conv_proj (patchify convolution, kernel = stride = patch size),
// encoder.pos_embedding, encoder.layers.encoder_layer_N.{ln_1,
// self_attention (in_proj_weight, in_proj_bias, out_proj), ln_2, mlp.0,
// mlp.3}, encoder.ln, heads.head; LayerNorm eps 1e-6, GELU (erf), no dropout.
// Parameters are registered in torchvision's state_dict order, so its
// weights load by name (weights.h, tools/export_torchvision.py).
//
// Units:
//   child: embedding (conv_proj, class_token, encoder.pos_embedding) |
//          encoder_layer_0 | ... | encoder_layer_{depth-1} |
//          head (encoder.ln, heads.head) -- the classifier;
//   block: embedding | encoder_layer_0.attention (ln_1, self_attention and
//          its residual) | encoder_layer_0.mlp (ln_2, mlp and its residual) |
//          ... | head.
// Every unit after the embedding takes and returns the token activations
// [B, tokens, width] (tokens = (image / patch)^2 + 1), which is what the
// activation cache keeps. The head normalises the class token only:
// LayerNorm acts per token, so this equals torchvision's normalising every
// token and then taking the first, without the work on the others.
#ifndef FREEZING_TRAIN_MODELS_VIT_H_
#define FREEZING_TRAIN_MODELS_VIT_H_

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "train/models/unit_model.h"

namespace freezing::train {

// VitOptions: the architecture (torchvision's names: hidden_dim = width,
// num_layers = depth, num_heads = heads, mlp_dim) and the input.
struct VitOptions {
  std::string name = "vit_mini";
  int image_size = 32;
  int patch_size = 4;
  int depth = 6;
  int width = 128;
  int heads = 4;
  int mlp_dim = 512;
  int num_classes = 10;
  int in_channels = 3;
  bool block_units = false;  // "block" granularity: attention and MLP halves
};

// VitPreset: the architecture of `name`, with the image size, patch size,
// classes and channels left at their defaults: vit_mini (width 128, depth 6,
// 4 heads, MLP 512), vit_tiny (ViT-Ti: 192, 12, 3, 768), vit_b_16
// (torchvision's ViT-B/16: 768, 12, 12, 3072, patch 16). NotFound for any
// other name.
absl::StatusOr<VitOptions> VitPreset(const std::string& name);

// ValidateVitOptions: InvalidArgument naming the mismatch (a patch size that
// does not divide the image, a width not divisible by the heads, a size
// below 1).
absl::Status ValidateVitOptions(const VitOptions& options);

// VisionTransformer: see the file comment. The options must be valid
// (ValidateVitOptions); throws c10::Error otherwise.
class VisionTransformer : public UnitModel {
 public:
  explicit VisionTransformer(const VitOptions& options);

  const VitOptions& options() const { return options_; }
  // tokens: patches + the class token.
  int tokens() const;

 private:
  VitOptions options_;
  torch::Tensor class_token_;
};

}  // namespace freezing::train

#endif  // FREEZING_TRAIN_MODELS_VIT_H_
