// The frozen prefix's inference form and the memory format, on every model:
// the folded prefix's output within 1e-4 relative of the unfolded one
// (ResNets: BatchNorm folded, ReLU fused, prepacked; ViTs and the MLP have
// no inference form and must give their own output exactly), channels-last
// within 1e-4 of contiguous, folded forms rebuilt when a statistic they were
// built from is written, dropped when the unit is unfrozen, and not used
// under autograd. BatchNorm statistics and affine parameters are random, so
// folding has something to fold. Measured relative differences are printed.
#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <torch/autograd.h>
#include <torch/nn/modules/batchnorm.h>
#include <torch/nn/modules/conv.h>

#include <algorithm>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "train/models/folded_conv.h"
#include "train/models/model_factory.h"
#include "train/models/unit_model.h"

namespace freezing::train {
namespace {

struct Case {
  std::string model;
  std::string granularity;
  std::string stem = "imagenet";
};

std::string Name(const ::testing::TestParamInfo<Case>& info) {
  return info.param.model + "_" + info.param.granularity + "_" +
         info.param.stem;
}

std::shared_ptr<UnitModel> Make(const Case& c) {
  at::manual_seed(3);
  ModelConfig mc;
  mc.name = c.model;
  mc.granularity = c.granularity;
  mc.stem = c.stem;
  mc.num_classes = 5;
  auto m = MakeModel(mc);
  EXPECT_TRUE(m.ok()) << m.status();
  std::shared_ptr<UnitModel> model = *m;
  // Random BatchNorm statistics and affine parameters (and everything else
  // perturbed), as after training: folding then changes every weight.
  torch::NoGradGuard no_grad;
  for (const auto& item : model->named_buffers()) {
    at::Tensor b = item.value();
    if (item.key().find("running_mean") != std::string::npos) {
      b.uniform_(-0.5, 0.5);
    } else if (item.key().find("running_var") != std::string::npos) {
      b.uniform_(0.5, 2.0);
    }
  }
  for (const auto& item : model->named_parameters()) {
    at::Tensor p = item.value();
    if (p.dim() == 1) p.add_(at::rand_like(p) * 0.5);
  }
  return model;
}

double RelativeDifference(const at::Tensor& got, const at::Tensor& want) {
  const double scale = want.abs().max().item<double>();
  return (got - want).abs().max().item<double>() / std::max(scale, 1e-30);
}

// The prefix [0, units - 1) (everything but the classifier) frozen, in eval
// mode under no-grad, and the logits after it.
std::pair<at::Tensor, at::Tensor> Prefix(UnitModel& m, const at::Tensor& x) {
  torch::NoGradGuard no_grad;
  at::Tensor h = x;
  for (int u = 0; u + 1 < m.num_units(); ++u) h = m.ForwardUnit(u, h);
  return {h, m.ForwardUnit(m.num_units() - 1, h)};
}

void Freeze(UnitModel& m, bool fold) {
  for (int u = 0; u + 1 < m.num_units(); ++u) {
    m.SetUnitFrozen(u, true);
    m.SetUnitFolded(u, fold);
  }
}

class FoldingTest : public ::testing::TestWithParam<Case> {};

TEST_P(FoldingTest, FoldedPrefixWithin1e4OfUnfoldedInBothFormats) {
  at::set_num_threads(2);
  std::shared_ptr<UnitModel> m = Make(GetParam());
  m->eval();
  const at::Tensor x = at::randn({8, 3, 32, 32});
  Freeze(*m, false);
  const auto [plain, plain_logits] = Prefix(*m, x);
  bool foldable = false;
  for (int u = 0; u + 1 < m->num_units(); ++u) {
    foldable |= m->has_inference_form(u);
  }
  EXPECT_EQ(foldable, m->model_name().rfind("resnet", 0) == 0);
  for (at::MemoryFormat f :
       {at::MemoryFormat::Contiguous, at::MemoryFormat::ChannelsLast}) {
    const bool cl = f == at::MemoryFormat::ChannelsLast;
    m->SetMemoryFormat(f);
    Freeze(*m, false);
    const auto [formatted, formatted_logits] = Prefix(*m, x);
    Freeze(*m, true);
    const auto [folded, folded_logits] = Prefix(*m, x);
    const double d_format = RelativeDifference(formatted, plain);
    const double d_fold = RelativeDifference(folded, formatted);
    const double d_logits = RelativeDifference(folded_logits, plain_logits);
    std::printf(
        "%s %s: %s vs contiguous %.3g, folded vs unfolded %.3g, "
        "logits %.3g\n",
        m->model_name().c_str(), GetParam().granularity.c_str(),
        cl ? "channels-last" : "contiguous", d_format, d_fold, d_logits);
    EXPECT_LE(d_format, 1e-4);
    EXPECT_LE(d_fold, 1e-4);
    EXPECT_LE(d_logits, 1e-4);
    if (!foldable) EXPECT_TRUE(at::equal(folded, formatted));
    if (foldable) EXPECT_FALSE(at::equal(folded, formatted)) << "not used?";
    if (cl && m->spatial_activations()) {
      EXPECT_TRUE(formatted.is_contiguous(at::MemoryFormat::ChannelsLast));
      EXPECT_TRUE(folded.is_contiguous(at::MemoryFormat::ChannelsLast));
    }
  }
}

TEST_P(FoldingTest, FoldedFormsFollowWrittenStatisticsAndAutograd) {
  std::shared_ptr<UnitModel> m = Make(GetParam());
  m->eval();
  const at::Tensor x = at::randn({4, 3, 32, 32});
  Freeze(*m, true);
  // A write into any buffer (as evaluation's broadcast does) is seen.
  {
    torch::NoGradGuard no_grad;
    for (at::Tensor b : m->buffers()) {
      if (b.is_floating_point()) b.copy_(b * 1.5);
    }
  }
  const at::Tensor folded = Prefix(*m, x).first;
  Freeze(*m, false);
  const at::Tensor plain = Prefix(*m, x).first;
  EXPECT_LE(RelativeDifference(folded, plain), 1e-4);
  // Under autograd the unit's own forward runs (as behind a trainable unit).
  Freeze(*m, true);
  at::Tensor h = x;
  for (int u = 0; u + 1 < m->num_units(); ++u) h = m->ForwardUnit(u, h);
  EXPECT_TRUE(at::equal(h.detach(), plain));
  // Unfreezing drops the fold.
  m->SetUnitFrozen(0, false);
  EXPECT_FALSE(m->unit_folded(0));
  EXPECT_THROW(m->SetUnitFolded(0, true), c10::Error);
}

TEST(FoldedConvTest, PrepackedAndRowsIndependentOfTheirBatch) {
  namespace nn = torch::nn;
  at::manual_seed(5);
  nn::Conv2d conv(nn::Conv2dOptions(4, 8, 3).padding(1).bias(false));
  nn::BatchNorm2d bn(8);
  bn->eval();
  const at::Tensor x = at::randn({20, 4, 6, 6});
  for (at::MemoryFormat f :
       {at::MemoryFormat::Contiguous, at::MemoryFormat::ChannelsLast}) {
    const FoldedConv c = FoldedConv::Fold(*conv, bn.get(), true, {4, 6, 6}, f);
    EXPECT_TRUE(c.prepacked()) << "libtorch's mkldnn_prepacked operators";
    torch::NoGradGuard no_grad;
    const at::Tensor y = c(x);
    EXPECT_TRUE(y.is_contiguous(f));
    for (int64_t rows : {1, 5, 16}) {
      EXPECT_TRUE(at::equal(c(x.narrow(0, 3, rows)), y.narrow(0, 3, rows)))
          << rows << " rows";
    }
  }
}

INSTANTIATE_TEST_SUITE_P(
    EveryModel, FoldingTest,
    ::testing::Values(Case{"resnet18", "child"}, Case{"resnet18", "block"},
                      Case{"resnet18", "child", "cifar"},
                      Case{"resnet34", "child"}, Case{"resnet50", "child"},
                      Case{"resnet50", "block"}, Case{"resnet_tiny", "child"},
                      Case{"resnet_tiny", "block"}, Case{"vit_mini", "child"},
                      Case{"vit_mini", "block"}, Case{"vit_tiny", "child"},
                      Case{"mlp", "child"}),
    Name);

}  // namespace
}  // namespace freezing::train
