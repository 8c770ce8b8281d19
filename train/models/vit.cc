#include "train/models/vit.h"

#include <c10/util/Exception.h>
#include <torch/nn/init.h>
#include <torch/nn/modules/conv.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/modules/normalization.h>

#include <cmath>
#include <memory>
#include <utility>

#include "absl/strings/str_cat.h"

namespace freezing::train {
namespace {

namespace nn = torch::nn;

constexpr double kLayerNormEps = 1e-6;  // torchvision's norm_layer

// Per-element work counted in the FLOP estimate (see UnitSpec): LayerNorm
// (mean, variance, normalise, scale, shift), softmax (max, exp, sum,
// divide), GELU (erf and the products around it).
constexpr double kLayerNormFlops = 5;
constexpr double kSoftmaxFlops = 4;
constexpr double kGeluFlops = 8;

nn::LayerNorm LayerNorm(int width) {
  return nn::LayerNorm(nn::LayerNormOptions({width})
                           .eps(kLayerNormEps)
                           .elementwise_affine(true));
}

// torch.nn.init.trunc_normal_ as torchvision calls it: N(0, std) cut at the
// absolute bounds [-2, 2], drawn by inverting the normal CDF.
void TruncNormal(torch::Tensor t, double std) {
  torch::NoGradGuard no_grad;
  const double lower = 0.5 * (1 + std::erf(-2.0 / std / std::sqrt(2.0)));
  const double upper = 0.5 * (1 + std::erf(2.0 / std / std::sqrt(2.0)));
  t.uniform_(2 * lower - 1, 2 * upper - 1);
  t.erfinv_();
  t.mul_(std * std::sqrt(2.0));
  t.clamp_(-2.0, 2.0);
}

// nn.MultiheadAttention(width, heads, batch_first=True) for self-attention:
// in_proj_weight [3W, W] and in_proj_bias [3W] (query, key, value stacked),
// out_proj; PyTorch's initialisation (xavier_uniform_ on in_proj_weight,
// zero biases, out_proj.weight as Linear's default).
class SelfAttentionImpl : public nn::Module {
 public:
  SelfAttentionImpl(int width, int heads) : heads_(heads) {
    in_proj_weight_ = register_parameter(
        "in_proj_weight", torch::empty({3 * int64_t{width}, width}));
    in_proj_bias_ =
        register_parameter("in_proj_bias", torch::zeros({3 * int64_t{width}}));
    out_proj_ = register_module("out_proj", nn::Linear(width, width));
    nn::init::xavier_uniform_(in_proj_weight_);
    nn::init::zeros_(out_proj_->bias);
  }

  // x: [B, N, W] -> [B, N, W].
  torch::Tensor forward(const torch::Tensor& x) {
    const int64_t b = x.size(0), n = x.size(1), w = x.size(2);
    const int64_t d = w / heads_;
    // [B, N, 3, H, D] -> [3, B*H, N, D], one copy for query, key and value.
    const torch::Tensor qkv = torch::linear(x, in_proj_weight_, in_proj_bias_)
                                  .view({b, n, 3, heads_, d})
                                  .permute({2, 0, 3, 1, 4})
                                  .contiguous()
                                  .view({3, b * heads_, n, d});
    // Queries scaled before the product, as PyTorch's
    // multi_head_attention_forward does.
    const torch::Tensor q = qkv[0] * (1.0 / std::sqrt(static_cast<double>(d)));
    const torch::Tensor attention =
        torch::softmax(torch::bmm(q, qkv[1].transpose(1, 2)), -1);
    const torch::Tensor out = torch::bmm(attention, qkv[2])
                                  .view({b, heads_, n, d})
                                  .transpose(1, 2)
                                  .reshape({b, n, w});
    return out_proj_->forward(out);
  }

 private:
  int64_t heads_;
  torch::Tensor in_proj_weight_, in_proj_bias_;
  nn::Linear out_proj_{nullptr};
};
TORCH_MODULE(SelfAttention);

// torchvision's MLPBlock: Linear "0", GELU, dropout, Linear "3", dropout;
// xavier_uniform_ weights, N(0, 1e-6) biases.
class MlpBlockImpl : public nn::Module {
 public:
  MlpBlockImpl(int width, int mlp_dim) {
    fc1_ = register_module("0", nn::Linear(width, mlp_dim));
    fc2_ = register_module("3", nn::Linear(mlp_dim, width));
    for (nn::LinearImpl* l : {fc1_.get(), fc2_.get()}) {
      nn::init::xavier_uniform_(l->weight);
      nn::init::normal_(l->bias, 0, 1e-6);
    }
  }

  torch::Tensor forward(const torch::Tensor& x) {
    return fc2_->forward(torch::gelu(fc1_->forward(x)));
  }

 private:
  nn::Linear fc1_{nullptr}, fc2_{nullptr};
};
TORCH_MODULE(MlpBlock);

// torchvision's EncoderBlock, as two residual halves (the "block" units).
class EncoderBlockImpl : public nn::Module {
 public:
  EncoderBlockImpl(int width, int heads, int mlp_dim) {
    ln_1 = register_module("ln_1", LayerNorm(width));
    self_attention =
        register_module("self_attention", SelfAttention(width, heads));
    ln_2 = register_module("ln_2", LayerNorm(width));
    mlp = register_module("mlp", MlpBlock(width, mlp_dim));
  }

  torch::Tensor AttentionHalf(const torch::Tensor& x) {
    return self_attention->forward(ln_1->forward(x)) + x;
  }
  torch::Tensor MlpHalf(const torch::Tensor& x) {
    return x + mlp->forward(ln_2->forward(x));
  }
  torch::Tensor forward(const torch::Tensor& x) {
    return MlpHalf(AttentionHalf(x));
  }

  nn::LayerNorm ln_1{nullptr}, ln_2{nullptr};
  SelfAttention self_attention{nullptr};
  MlpBlock mlp{nullptr};
};

// torchvision's Encoder: pos_embedding, layers.encoder_layer_N, ln.
class EncoderImpl : public nn::Module {
 public:
  EncoderImpl(const VitOptions& o, int tokens) {
    pos_embedding =
        register_parameter("pos_embedding", torch::empty({1, tokens, o.width}));
    nn::init::normal_(pos_embedding, 0, 0.02);  // from BERT, as torchvision
    auto list = register_module("layers", std::make_shared<nn::Module>());
    for (int i = 0; i < o.depth; ++i) {
      blocks.push_back(list->register_module(
          "encoder_layer_" + std::to_string(i),
          std::make_shared<EncoderBlockImpl>(o.width, o.heads, o.mlp_dim)));
    }
    ln = register_module("ln", LayerNorm(o.width));
  }

  torch::Tensor pos_embedding;
  std::vector<std::shared_ptr<EncoderBlockImpl>> blocks;
  nn::LayerNorm ln{nullptr};
};

// Estimates per sample (see UnitSpec::forward_flops_per_sample).
struct VitFlops {
  double embedding, attention, mlp, head;
};

VitFlops Flops(const VitOptions& o, int tokens) {
  const double n = tokens, w = o.width, m = o.mlp_dim;
  const double patches = n - 1;
  const double k =
      static_cast<double>(o.in_channels) * o.patch_size * o.patch_size;
  VitFlops f;
  // Patchify convolution (+ bias), class token, position embedding.
  f.embedding = 2 * k * w * patches + w * patches + n * w;
  // LayerNorm, query/key/value, scaling, scores, softmax, weighted values,
  // output projection, residual.
  f.attention = kLayerNormFlops * n * w + 2 * n * w * 3 * w + n * w +
                2 * n * n * w + kSoftmaxFlops * o.heads * n * n +
                2 * n * n * w + 2 * n * w * w + n * w;
  // LayerNorm, two linear layers, GELU, residual.
  f.mlp = kLayerNormFlops * n * w + 4 * n * w * m + kGeluFlops * n * m + n * w;
  f.head = kLayerNormFlops * w + 2 * w * o.num_classes;
  return f;
}

}  // namespace

absl::StatusOr<VitOptions> VitPreset(const std::string& name) {
  VitOptions o;
  o.name = name;
  if (name == "vit_mini") {
    o.depth = 6, o.width = 128, o.heads = 4, o.mlp_dim = 512;
  } else if (name == "vit_tiny") {
    o.depth = 12, o.width = 192, o.heads = 3, o.mlp_dim = 768;
  } else if (name == "vit_b_16") {
    o.depth = 12, o.width = 768, o.heads = 12, o.mlp_dim = 3072;
    o.image_size = 224, o.patch_size = 16;
  } else {
    return absl::NotFoundError(absl::StrCat(
        "no ViT named '", name, "'; valid: vit_mini, vit_tiny, vit_b_16"));
  }
  return o;
}

absl::Status ValidateVitOptions(const VitOptions& o) {
  const std::pair<const char*, int> positive[] = {
      {"image size", o.image_size}, {"patch size", o.patch_size},
      {"depth", o.depth},           {"width", o.width},
      {"heads", o.heads},           {"MLP width", o.mlp_dim},
      {"classes", o.num_classes},   {"input channels", o.in_channels}};
  for (const auto& [what, value] : positive) {
    if (value < 1) {
      return absl::InvalidArgumentError(absl::StrCat(
          o.name, ": the ", what, " must be at least 1, got ", value));
    }
  }
  if (o.image_size % o.patch_size != 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        o.name, ": patch size ", o.patch_size, " does not divide image size ",
        o.image_size, " (", o.image_size, " % ", o.patch_size, " = ",
        o.image_size % o.patch_size,
        "); choose a patch size that splits the image into whole patches"));
  }
  if (o.width % o.heads != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat(o.name, ": width ", o.width, " is not divisible by ",
                     o.heads, " attention heads (", o.width, " % ", o.heads,
                     " = ", o.width % o.heads, ")"));
  }
  return absl::OkStatus();
}

int VisionTransformer::tokens() const {
  const int side = options_.image_size / options_.patch_size;
  return side * side + 1;
}

VisionTransformer::VisionTransformer(const VitOptions& o)
    : UnitModel(o.name, {o.in_channels, o.image_size, o.image_size}),
      options_(o) {
  const absl::Status valid = ValidateVitOptions(o);
  TORCH_CHECK(valid.ok(), std::string(valid.message()));
  const int n = tokens();
  class_token_ =
      register_parameter("class_token", torch::zeros({1, 1, o.width}));
  auto conv_proj = register_module(
      "conv_proj",
      nn::Conv2d(nn::Conv2dOptions(o.in_channels, o.width, o.patch_size)
                     .stride(o.patch_size)
                     .bias(true)));
  TruncNormal(conv_proj->weight,
              std::sqrt(1.0 / (static_cast<double>(o.in_channels) *
                               o.patch_size * o.patch_size)));
  nn::init::zeros_(conv_proj->bias);
  auto encoder =
      register_module("encoder", std::make_shared<EncoderImpl>(o, n));
  auto heads = register_module("heads", std::make_shared<nn::Module>());
  auto head =
      heads->register_module("head", nn::Linear(o.width, o.num_classes));
  nn::init::zeros_(head->weight);
  nn::init::zeros_(head->bias);

  const VitFlops flops = Flops(o, n);
  std::vector<UnitDef> units;
  const int size = o.image_size;
  UnitDef embedding{
      "embedding",
      {conv_proj},
      [this, conv_proj, encoder, size](const torch::Tensor& x) {
        TORCH_CHECK(x.dim() == 4 && x.size(2) == size && x.size(3) == size,
                    model_name(), " takes images of ", size, "x", size,
                    ", got a batch of shape ", x.sizes());
        const torch::Tensor patches =
            conv_proj->forward(x).flatten(2).transpose(1, 2);
        const torch::Tensor tokens =
            torch::cat({class_token_.expand({x.size(0), -1, -1}), patches}, 1);
        return tokens + encoder->pos_embedding;
      },
      flops.embedding};
  embedding.params = {class_token_, encoder->pos_embedding};
  units.push_back(std::move(embedding));
  for (int i = 0; i < o.depth; ++i) {
    auto block = encoder->blocks[i];
    const std::string name = "encoder_layer_" + std::to_string(i);
    if (o.block_units) {
      units.push_back(
          {name + ".attention",
           {block->ln_1.ptr(), block->self_attention.ptr()},
           [block](const torch::Tensor& x) { return block->AttentionHalf(x); },
           flops.attention});
      units.push_back(
          {name + ".mlp",
           {block->ln_2.ptr(), block->mlp.ptr()},
           [block](const torch::Tensor& x) { return block->MlpHalf(x); },
           flops.mlp});
    } else {
      units.push_back(
          {name,
           {block},
           [block](const torch::Tensor& x) { return block->forward(x); },
           flops.attention + flops.mlp});
    }
  }
  std::shared_ptr<nn::LayerNormImpl> ln = encoder->ln.ptr();
  units.push_back({"head",
                   {ln, head},
                   [ln, head](const torch::Tensor& x) {
                     return head->forward(ln->forward(x.select(1, 0)));
                   },
                   flops.head,
                   /*is_classifier=*/true});
  SetUnits(std::move(units));
}

}  // namespace freezing::train
