#include "train/sgd.h"

#include <torch/optim/sgd.h>

#include <vector>

#include "gtest/gtest.h"

namespace freezing::train {
namespace {

std::vector<at::Tensor> MakeParams(uint64_t seed) {
  at::manual_seed(seed);
  return {at::randn({7, 3}).requires_grad_(), at::randn({5}).requires_grad_()};
}

void SetGrads(std::vector<at::Tensor>& params, int step) {
  at::manual_seed(100 + step);
  for (auto& p : params) p.mutable_grad() = at::randn(p.sizes());
}

// Our update equals torch::optim::SGD's (the study's optimizer) up to float
// rounding: the fused loop may round a multiply-add once where ATen rounds
// twice, so a relative 1e-6 per step is allowed.
TEST(SgdTest, MatchesTorchSgd) {
  auto ours = MakeParams(1);
  auto theirs = MakeParams(1);
  Sgd sgd(ours, {.momentum = 0.9, .weight_decay = 1e-4});
  torch::optim::SGD reference(
      theirs, torch::optim::SGDOptions(0.1).momentum(0.9).weight_decay(1e-4));
  for (int step = 0; step < 5; ++step) {
    SetGrads(ours, step);
    SetGrads(theirs, step);
    sgd.Step(0.1);
    reference.step();
  }
  for (size_t i = 0; i < ours.size(); ++i) {
    EXPECT_TRUE(at::allclose(ours[i], theirs[i], 1e-6, 1e-7))
        << "parameter " << i << ": max difference "
        << (ours[i] - theirs[i]).abs().max().item<double>();
  }
  // Gradients are cleared for the next backward.
  for (const at::Tensor& p : ours) {
    EXPECT_EQ(p.grad().abs().sum().item<double>(), 0.0);
  }
}

TEST(SgdTest, FrozenParameterIsUntouchedAndKeepsMomentum) {
  auto params = MakeParams(2);
  Sgd sgd(params, {});
  SetGrads(params, 0);
  sgd.Step(0.1);
  const at::Tensor before = params[0].detach().clone();
  const at::Tensor momentum = sgd.momentum_buffers()[0].clone();
  sgd.SetTrainable({false, true});
  EXPECT_EQ(sgd.trainable_numel(), 5);
  SetGrads(params, 1);
  sgd.Step(0.1);
  EXPECT_TRUE(at::equal(params[0], before));
  EXPECT_TRUE(at::equal(sgd.momentum_buffers()[0], momentum));
}

TEST(SgdTest, LoadMomentumChecksShapes) {
  auto params = MakeParams(3);
  Sgd sgd(params, {});
  EXPECT_FALSE(sgd.LoadMomentum({at::zeros({7, 3})}).ok());
  auto st = sgd.LoadMomentum({at::zeros({3, 7}), at::Tensor()});
  EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(st.message().find("[3, 7]"), std::string::npos) << st;
  EXPECT_TRUE(sgd.LoadMomentum({at::zeros({7, 3}), at::Tensor()}).ok());
}

// Channels-last parameters with gradients and momentum of the same layout
// (the reducer's bucket views follow the parameter) take the fused pass and
// give, element for element, the contiguous parameters' result; a momentum
// buffer loaded from a contiguous checkpoint takes the parameter's layout.
TEST(SgdTest, ChannelsLastEqualsContiguousBitForBit) {
  at::manual_seed(3);
  const at::Tensor init = at::randn({6, 4, 3, 3});
  std::vector<at::Tensor> plain = {init.clone().requires_grad_()};
  std::vector<at::Tensor> cl = {
      init.contiguous(at::MemoryFormat::ChannelsLast).requires_grad_()};
  Sgd a(plain, {}), b(cl, {});
  for (int step = 0; step < 3; ++step) {
    at::manual_seed(200 + step);
    const at::Tensor g = at::randn({6, 4, 3, 3});
    plain[0].mutable_grad() = g.clone();
    cl[0].mutable_grad() = g.contiguous(at::MemoryFormat::ChannelsLast);
    a.Step(0.1);
    b.Step(0.1);
  }
  EXPECT_TRUE(at::equal(plain[0], cl[0]));
  EXPECT_TRUE(cl[0].is_contiguous(at::MemoryFormat::ChannelsLast));
  ASSERT_TRUE(b.LoadMomentum(a.momentum_buffers()).ok());
  EXPECT_TRUE(
      b.momentum_buffers()[0].is_contiguous(at::MemoryFormat::ChannelsLast));
  EXPECT_TRUE(at::equal(b.momentum_buffers()[0], a.momentum_buffers()[0]));
}

}  // namespace
}  // namespace freezing::train
