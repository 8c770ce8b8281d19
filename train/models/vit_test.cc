// The Vision Transformers: torchvision's names, order and shapes; logits
// parity with torchvision through tools/export_torchvision.py; the units of
// both granularities; FLOPs; initialisation; bad input named clearly.
#include "train/models/vit.h"

#include <torch/nn/module.h>
#include <torch/types.h>
#include <torch/utils.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "train/models/model_factory.h"
#include "train/models/torchvision_parity.h"
#include "train/models/unit_model.h"
#include "train/models/weights.h"

namespace freezing::train {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

std::string Runfile(const std::string& name) {
  return std::string(std::getenv("TEST_SRCDIR")) + "/freezing/train/models/" +
         name;
}

std::shared_ptr<UnitModel> Make(ModelConfig config) {
  absl::StatusOr<std::shared_ptr<UnitModel>> m = MakeModel(config);
  EXPECT_TRUE(m.ok()) << m.status();
  return m.ok() ? *m : nullptr;
}

ModelConfig Vit(const std::string& name, int classes = 10,
                const std::string& granularity = "child", int image_size = 32,
                int patch_size = 0, int channels = 3) {
  ModelConfig c;
  c.name = name;
  c.num_classes = classes;
  c.granularity = granularity;
  c.image_size = image_size;
  c.patch_size = patch_size;
  c.in_channels = channels;
  return c;
}

// "param name 1,1,128" lines of export_torchvision.py --names_out.
std::vector<std::string> ReadNames(const std::string& file) {
  std::ifstream in(Runfile(file));
  EXPECT_TRUE(in.good()) << file;
  std::vector<std::string> lines;
  std::string line;
  while (std::getline(in, line)) lines.push_back(line);
  return lines;
}

std::vector<std::string> OurNames(const UnitModel& m) {
  std::vector<std::string> lines;
  auto add = [&lines](const char* kind, const std::string& name,
                      const torch::Tensor& t) {
    std::ostringstream shape;
    for (int64_t i = 0; i < t.dim(); ++i) {
      shape << (i > 0 ? "," : "") << t.size(i);
    }
    lines.push_back(std::string(kind) + " " + name + " " + shape.str());
  };
  for (const auto& p : m.named_parameters()) add("param", p.key(), p.value());
  for (const auto& b : m.named_buffers()) add("buffer", b.key(), b.value());
  return lines;
}

TEST(VitTorchvisionTest, NamesOrderAndShapesMatchTorchvision) {
  EXPECT_EQ(OurNames(*Make(Vit("vit_mini"))),
            ReadNames("vit_mini_torchvision_names.txt"));
  EXPECT_EQ(OurNames(*Make(Vit("vit_mini", 5, "block", 28, 7, 1))),
            ReadNames("vit_mini_gray28_torchvision_names.txt"));
  EXPECT_EQ(OurNames(*Make(Vit("vit_b_16", 1000, "child", 224))),
            ReadNames("vit_b_16_torchvision_names.txt"));
}

TEST(VitTorchvisionTest, LogitsMatchTorchvision) {
  torch::set_num_threads(1);
  for (const std::string granularity : {"child", "block"}) {
    ModelConfig c;
    c.name = "vit_mini";
    c.granularity = granularity;
    absl::StatusOr<ParityResult> r =
        CheckLogitsParity(Runfile("vit_mini_torchvision.pt"),
                          Runfile("vit_mini_torchvision_sample.pt"), c);
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_EQ(r->logits, 3 * 10);
    EXPECT_LE(r->max_abs_diff, 1e-4) << granularity;
    // Not trivially zero (torchvision's head starts at zero; the export
    // perturbs it).
    EXPECT_GT(r->max_abs_expected, 0.05);
    RecordProperty("max_abs_logit_diff_" + granularity,
                   std::to_string(r->max_abs_diff));
    std::printf(
        "vit_mini (%s units): max |ours - torchvision| = %.3g over %lld "
        "logits (largest |logit| %.3g)\n",
        granularity.c_str(), r->max_abs_diff, static_cast<long long>(r->logits),
        r->max_abs_expected);
  }
}

TEST(VitTorchvisionTest, WeightsOfAnotherConfigurationAreRefusedByName) {
  const std::string file = Runfile("vit_mini_torchvision.pt");
  struct Case {
    ModelConfig config;
    std::string message;
  };
  const std::vector<Case> cases = {
      {Vit("vit_tiny"),
       "tensor 'class_token' has shape [1, 1, 128] in the file but "
       "[1, 1, 192] in the model"},
      {Vit("vit_mini", 10, "child", 32, 8),
       "tensor 'conv_proj.weight' has shape [128, 3, 4, 4] in the file but "
       "[128, 3, 8, 8] in the model (another patch size"},
      {Vit("vit_mini", 10, "child", 64),
       "tensor 'encoder.pos_embedding' has shape [1, 65, 128] in the file "
       "but [1, 257, 128] in the model (another number of tokens"},
      {Vit("vit_mini", 5),
       "tensor 'heads.head.weight' has shape [10, 128] in the file but "
       "[5, 128] in the model (exclude it to keep the model's "
       "initialisation, e.g. prefix \"heads.head.\""},
      {Vit("vit_mini", 10, "child", 32, 0, 1),
       "tensor 'conv_proj.weight' has shape [128, 3, 4, 4] in the file but "
       "[128, 1, 4, 4]"},
  };
  for (const Case& c : cases) {
    auto m = Make(c.config);
    const absl::Status s = LoadWeights(file, *m);
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(s.message(), HasSubstr(c.message));
    EXPECT_THAT(s.message(), HasSubstr("vit_mini_torchvision.pt does not fit "
                                       "model " +
                                       c.config.name));
  }
  // Another number of classes, with the head excluded: everything else loads.
  auto five = Make(Vit("vit_mini", 5));
  LoadWeightsOptions o;
  o.exclude_prefixes = {"heads.head."};
  ASSERT_TRUE(LoadWeights(file, *five, o).ok());
  EXPECT_EQ(
      five->named_parameters()["heads.head.weight"].abs().max().item<double>(),
      0.0);
  auto ten = Make(Vit("vit_mini"));
  ASSERT_TRUE(LoadWeights(file, *ten).ok());
  EXPECT_TRUE(torch::equal(
      five->named_parameters()["encoder.layers.encoder_layer_3.mlp.0.weight"],
      ten->named_parameters()["encoder.layers.encoder_layer_3.mlp.0.weight"]));
}

// Parameters per unit of vit_mini at 32x32, patch 4 (65 tokens), 10 classes.
constexpr int64_t kW = 128, kTokens = 65, kMlp = 512;
constexpr int64_t kEmbedding = kW + (kW * 3 * 16 + kW) + kTokens * kW;
constexpr int64_t kAttention = 2 * kW + (3 * kW * kW + 3 * kW) + (kW * kW + kW);
constexpr int64_t kMlpHalf = 2 * kW + (kW * kMlp + kMlp) + (kMlp * kW + kW);
constexpr int64_t kHead = 2 * kW + kW * 10 + 10;

TEST(VitUnitsTest, ChildUnitsAreEmbeddingBlocksAndHead) {
  auto m = Make(Vit("vit_mini"));
  std::vector<std::string> names;
  for (const UnitSpec& u : m->units()) names.push_back(u.name);
  EXPECT_THAT(names,
              ElementsAre("embedding", "encoder_layer_0", "encoder_layer_1",
                          "encoder_layer_2", "encoder_layer_3",
                          "encoder_layer_4", "encoder_layer_5", "head"));
  EXPECT_EQ(m->unit(0).num_params, kEmbedding);
  for (int u = 1; u <= 6; ++u) {
    EXPECT_EQ(m->unit(u).num_params, kAttention + kMlpHalf) << u;
  }
  EXPECT_EQ(m->unit(7).num_params, kHead);
  EXPECT_TRUE(m->unit(7).is_classifier);
  EXPECT_EQ(m->num_params(), kEmbedding + 6 * (kAttention + kMlpHalf) + kHead);
  // Every unit after the embedding passes the tokens on; the head gives
  // the logits.
  for (int u = 0; u < 7; ++u) {
    EXPECT_EQ(m->unit(u).output_elements_per_sample, kTokens * kW) << u;
  }
  EXPECT_EQ(m->unit(7).output_elements_per_sample, 10);
}

TEST(VitUnitsTest, BlockUnitsSplitEveryBlockIntoAttentionAndMlp) {
  auto m = Make(Vit("vit_mini", 10, "block"));
  ASSERT_EQ(m->num_units(), 1 + 2 * 6 + 1);
  EXPECT_EQ(m->unit(1).name, "encoder_layer_0.attention");
  EXPECT_EQ(m->unit(2).name, "encoder_layer_0.mlp");
  EXPECT_EQ(m->unit(12).name, "encoder_layer_5.mlp");
  EXPECT_EQ(m->unit(13).name, "head");
  for (int b = 0; b < 6; ++b) {
    EXPECT_EQ(m->unit(1 + 2 * b).num_params, kAttention);
    EXPECT_EQ(m->unit(2 + 2 * b).num_params, kMlpHalf);
  }
}

TEST(VitUnitsTest, UnitParamsAreNamedAfterTheirUnit) {
  for (const std::string granularity : {"child", "block"}) {
    auto m = Make(Vit("vit_mini", 10, granularity));
    const std::vector<std::string> names = m->parameter_names();
    std::vector<int> owner(names.size(), -1);
    for (int u = 0; u < m->num_units(); ++u) {
      for (int p : m->unit(u).params) {
        ASSERT_EQ(owner[p], -1) << names[p];
        owner[p] = u;
      }
    }
    for (size_t p = 0; p < names.size(); ++p) {
      ASSERT_GE(owner[p], 0) << names[p];
      const std::string& unit = m->unit(owner[p]).name;
      const std::string& n = names[p];
      if (unit == "embedding") {
        EXPECT_TRUE(n == "class_token" || n == "encoder.pos_embedding" ||
                    n.rfind("conv_proj.", 0) == 0)
            << n;
      } else if (unit == "head") {
        EXPECT_TRUE(n.rfind("encoder.ln.", 0) == 0 ||
                    n.rfind("heads.head.", 0) == 0)
            << n;
      } else {
        const std::string block = unit.substr(0, unit.find('.'));
        EXPECT_EQ(n.rfind("encoder.layers." + block + ".", 0), 0u) << n;
        if (granularity == "block") {
          const bool attention = unit.find(".attention") != std::string::npos;
          const bool in_attention =
              n.find(".ln_1.") != std::string::npos ||
              n.find(".self_attention.") != std::string::npos;
          EXPECT_EQ(attention, in_attention) << n << " in " << unit;
        }
      }
    }
  }
}

TEST(VitUnitsTest, ForwardIsTheChainOfUnitsAndLeavesInputsAlone) {
  torch::manual_seed(0);
  for (const std::string granularity : {"child", "block"}) {
    auto m = Make(Vit("vit_mini", 10, granularity));
    // torchvision's zero head would make every logit 0.
    {
      torch::NoGradGuard no_grad;
      m->named_parameters()["heads.head.weight"].normal_(0, 0.1);
    }
    const torch::Tensor x = torch::randn({3, 3, 32, 32});
    torch::Tensor h = x;
    for (int u = 0; u < m->num_units(); ++u) {
      const torch::Tensor before = h.clone();
      torch::Tensor next = m->ForwardUnit(u, h);
      EXPECT_TRUE(torch::equal(h, before)) << "unit " << u << " changed it";
      h = next;
    }
    EXPECT_EQ(h.sizes(), (std::vector<int64_t>{3, 10}));
    EXPECT_TRUE(torch::equal(m->forward(x), h));
    EXPECT_GT(h.abs().max().item<double>(), 0);
  }
}

TEST(VitUnitsTest, FlopsAgreeWithPublishedCounts) {
  // torchvision: ViT-B/16 at 224x224, 17.56 GFLOPS (multiply-adds).
  auto m = Make(Vit("vit_b_16", 1000, "child", 224));
  EXPECT_EQ(ResolvedPatchSize(Vit("vit_b_16", 1000, "child", 224)), 16);
  double flops = 0;
  for (const UnitSpec& u : m->units()) flops += u.forward_flops_per_sample;
  EXPECT_GT(flops, 2 * 17.56e9 * 0.99);
  EXPECT_LT(flops, 2 * 17.56e9 * 1.02);
  EXPECT_EQ(m->num_params(), 86567656);  // torchvision's vit_b_16
  // Every block costs the same.
  auto mini = Make(Vit("vit_mini"));
  for (int u = 2; u <= 6; ++u) {
    EXPECT_EQ(mini->unit(u).forward_flops_per_sample,
              mini->unit(1).forward_flops_per_sample);
  }
}

TEST(VitUnitsTest, InitialisationIsTorchvisions) {
  torch::manual_seed(0);
  auto m = Make(Vit("vit_tiny", 1000));
  auto p = m->named_parameters();
  EXPECT_EQ(p["class_token"].abs().max().item<double>(), 0);
  EXPECT_EQ(p["heads.head.weight"].abs().max().item<double>(), 0);
  EXPECT_EQ(p["conv_proj.bias"].abs().max().item<double>(), 0);
  EXPECT_NEAR(p["encoder.pos_embedding"].std().item<double>(), 0.02, 0.001);
  // Truncated normal, std sqrt(1 / fan_in) = sqrt(1 / 48).
  EXPECT_NEAR(p["conv_proj.weight"].std().item<double>(), std::sqrt(1 / 48.0),
              0.005);
  // Xavier uniform: bound sqrt(6 / (fan_in + fan_out)).
  const torch::Tensor in_proj =
      p["encoder.layers.encoder_layer_0.self_attention.in_proj_weight"];
  const double bound = std::sqrt(6.0 / (192 + 3 * 192));
  EXPECT_LE(in_proj.abs().max().item<double>(), bound);
  EXPECT_GT(in_proj.abs().max().item<double>(), 0.99 * bound);
  EXPECT_LT(
      p["encoder.layers.encoder_layer_0.mlp.0.bias"].abs().max().item<double>(),
      1e-5);
  EXPECT_TRUE(torch::equal(p["encoder.layers.encoder_layer_0.ln_1.weight"],
                           torch::ones({192})));
}

TEST(VitUnitsTest, FrozenEmbeddingFreezesTheTokensToo) {
  auto m = Make(Vit("vit_mini"));
  m->SetUnitFrozen(0, true);
  auto p = m->named_parameters();
  EXPECT_FALSE(p["class_token"].requires_grad());
  EXPECT_FALSE(p["encoder.pos_embedding"].requires_grad());
  EXPECT_FALSE(p["conv_proj.weight"].requires_grad());
  EXPECT_TRUE(p["encoder.layers.encoder_layer_0.ln_1.weight"].requires_grad());
}

TEST(VitConfigTest, PatchSizeDefaultsTo4At32And16At224) {
  EXPECT_EQ(ResolvedPatchSize(Vit("vit_mini")), 4);
  EXPECT_EQ(ResolvedPatchSize(Vit("vit_mini", 10, "child", 224)), 16);
  EXPECT_EQ(ResolvedPatchSize(Vit("vit_mini", 10, "child", 32, 8)), 8);
  ModelConfig resnet;
  EXPECT_EQ(ResolvedPatchSize(resnet), 0);
  EXPECT_EQ(Make(Vit("vit_mini", 10, "child", 32, 8))
                ->unit(0)
                .output_elements_per_sample,
            17 * 128);
}

TEST(VitConfigTest, BadInputIsNamed) {
  absl::Status s = MakeModel(Vit("vit_mini", 10, "child", 32, 5)).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(),
              HasSubstr("patch size 5 does not divide image size 32"));
  s = ValidateModelConfig(Vit("vit_b_16", 10, "child", 230));
  EXPECT_THAT(s.message(),
              HasSubstr("patch size 16 does not divide image size 230"));

  VitOptions o = *VitPreset("vit_mini");
  o.width = 130;
  s = ValidateVitOptions(o);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(),
              HasSubstr("width 130 is not divisible by 4 attention heads"));
  EXPECT_THROW(VisionTransformer{o}, c10::Error);
  o = *VitPreset("vit_mini");
  o.depth = 0;
  EXPECT_THAT(ValidateVitOptions(o).message(),
              HasSubstr("the depth must be at least 1"));
  EXPECT_EQ(VitPreset("vit_huge").status().code(), absl::StatusCode::kNotFound);

  ModelConfig resnet;
  resnet.patch_size = 4;
  EXPECT_THAT(ValidateModelConfig(resnet).message(),
              HasSubstr("patch_size applies to the ViTs only"));
  EXPECT_FALSE(ValidateModelConfig(Vit("vit_mini", 10, "child", 32, -1)).ok());

  // An image of another size than the model's.
  auto m = Make(Vit("vit_mini"));
  try {
    m->forward(torch::zeros({1, 3, 28, 28}));
    ADD_FAILURE() << "no error";
  } catch (const c10::Error& e) {
    EXPECT_THAT(e.what_without_backtrace(),
                HasSubstr("vit_mini takes images of 32x32"));
  }
}

}  // namespace
}  // namespace freezing::train
