#include "train/models/model_factory.h"

#include <torch/nn/modules/batchnorm.h>
#include <torch/types.h>
#include <torch/utils.h>

#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "train/models/unit_model.h"

namespace freezing::train {
namespace {

using ::testing::ElementsAre;
using ::testing::ElementsAreArray;
using ::testing::HasSubstr;

std::shared_ptr<UnitModel> Make(ModelConfig config) {
  absl::StatusOr<std::shared_ptr<UnitModel>> m = MakeModel(config);
  EXPECT_TRUE(m.ok()) << m.status();
  return *m;
}

std::vector<std::string> UnitNames(const UnitModel& m) {
  std::vector<std::string> names;
  for (const UnitSpec& u : m.units()) names.push_back(u.name);
  return names;
}

std::vector<int64_t> UnitParams(const UnitModel& m) {
  std::vector<int64_t> counts;
  for (const UnitSpec& u : m.units()) counts.push_back(u.num_params);
  return counts;
}

// Per-unit parameter counts of torchvision's models at 1000 classes, from
//   /usr/bin/python3 -c "import torchvision; m = torchvision.models.resnet18();
//   print([(n, sum(p.numel() for p in c.parameters()))
//          for n, c in m.named_children()])"
struct ChildCase {
  std::string name;
  int64_t total;
  std::vector<int64_t> child;
  int blocks;
  int64_t first_block;
  int64_t last_block;
};

const std::vector<ChildCase>& ChildCases() {
  static const auto* cases = new std::vector<ChildCase>{
      {"resnet18",
       11689512,
       {9408, 128, 147968, 525568, 2099712, 8393728, 513000},
       8,
       73984,
       4720640},
      {"resnet34",
       21797672,
       {9408, 128, 221952, 1116416, 6822400, 13114368, 513000},
       16,
       73984,
       4720640},
      {"resnet50",
       25557032,
       {9408, 128, 215808, 1219584, 7098368, 14964736, 2049000},
       16,
       75008,
       4462592},
  };
  return *cases;
}

TEST(ModelFactoryTest, ChildUnitsAreTheStudysSevenGroups) {
  for (const ChildCase& c : ChildCases()) {
    auto m = Make({c.name, "imagenet", 1000});
    EXPECT_EQ(m->num_params(), c.total) << c.name;
    EXPECT_THAT(UnitNames(*m), ElementsAre("conv1", "bn1", "layer1", "layer2",
                                           "layer3", "layer4", "fc"));
    EXPECT_THAT(UnitParams(*m), ElementsAreArray(c.child)) << c.name;
    for (int i = 0; i < m->num_units(); ++i) {
      EXPECT_EQ(m->unit(i).is_classifier, i == 6);
    }
  }
}

TEST(ModelFactoryTest, BlockUnitsAreStemBlocksAndFc) {
  for (const ChildCase& c : ChildCases()) {
    auto m = Make({c.name, "imagenet", 1000, 3, "block"});
    ASSERT_EQ(m->num_units(), c.blocks + 2) << c.name;
    EXPECT_EQ(m->unit(0).name, "stem");
    EXPECT_EQ(m->unit(0).num_params, 9408 + 128);
    EXPECT_EQ(m->unit(1).name, "layer1.0");
    EXPECT_EQ(m->unit(1).num_params, c.first_block);
    EXPECT_EQ(m->unit(c.blocks).num_params, c.last_block);
    EXPECT_EQ(m->unit(c.blocks + 1).name, "fc");
    EXPECT_TRUE(m->unit(c.blocks + 1).is_classifier);
    EXPECT_EQ(m->num_params(), c.total);
  }
  auto m = Make({"resnet34", "imagenet", 10, 3, "block"});
  EXPECT_THAT(
      UnitNames(*m),
      ElementsAre("stem", "layer1.0", "layer1.1", "layer1.2", "layer2.0",
                  "layer2.1", "layer2.2", "layer2.3", "layer3.0", "layer3.1",
                  "layer3.2", "layer3.3", "layer3.4", "layer3.5", "layer4.0",
                  "layer4.1", "layer4.2", "fc"));
}

TEST(ModelFactoryTest, UnitParamIndicesPartitionTheParameters) {
  auto m = Make({"resnet18", "imagenet", 10, 3, "block"});
  const std::vector<torch::Tensor> params = m->parameters();
  const std::vector<std::string> names = m->parameter_names();
  std::vector<int> owner(params.size(), -1);
  for (int u = 0; u < m->num_units(); ++u) {
    int64_t count = 0;
    for (int p : m->unit(u).params) {
      ASSERT_EQ(owner[p], -1);
      owner[p] = u;
      count += params[p].numel();
    }
    EXPECT_EQ(count, m->unit(u).num_params);
  }
  for (size_t p = 0; p < params.size(); ++p) {
    ASSERT_GE(owner[p], 0) << names[p];
    // Names say which unit a parameter is in.
    const std::string& unit = m->unit(owner[p]).name;
    if (unit == "stem") {
      EXPECT_TRUE(names[p].rfind("conv1.", 0) == 0 ||
                  names[p].rfind("bn1.", 0) == 0)
          << names[p];
    } else {
      EXPECT_EQ(names[p].rfind(unit + ".", 0), 0u) << names[p] << " " << unit;
    }
  }
}

TEST(ModelFactoryTest, CifarStemAndChannelsAndClasses) {
  auto m = Make({"resnet18", "cifar", 7, 1});
  const auto named = m->named_parameters();
  EXPECT_EQ(named["conv1.weight"].sizes(), (std::vector<int64_t>{64, 1, 3, 3}));
  EXPECT_EQ(named["fc.weight"].sizes(), (std::vector<int64_t>{7, 512}));
  EXPECT_EQ(m->named_children().find("maxpool"), nullptr);
  // No max-pool, stride 1: layer1 keeps 32x32.
  EXPECT_EQ(m->unit(2).output_elements_per_sample, 64 * 32 * 32);
  auto imagenet = Make({"resnet18", "imagenet", 7, 1});
  EXPECT_EQ(imagenet->unit(2).output_elements_per_sample, 64 * 8 * 8);
  EXPECT_EQ(m->parameter_names(), imagenet->parameter_names());
  EXPECT_EQ(m->buffer_names(), imagenet->buffer_names());
}

TEST(ModelFactoryTest, OutputSizesMatchAForwardPass) {
  for (const std::string name :
       {"resnet18", "resnet50", "resnet_tiny", "mlp"}) {
    for (const std::string granularity : {"child", "block"}) {
      auto m = Make({name, "imagenet", 10, 3, granularity});
      torch::Tensor x = torch::randn({2, 3, 32, 32});
      torch::Tensor h = x;
      for (int u = 0; u < m->num_units(); ++u) {
        h = m->ForwardUnit(u, h);
        EXPECT_EQ(h.numel(), 2 * m->unit(u).output_elements_per_sample)
            << name << " " << m->unit(u).name;
        EXPECT_GT(m->unit(u).forward_flops_per_sample, 0) << m->unit(u).name;
      }
      EXPECT_EQ(h.sizes(), (std::vector<int64_t>{2, 10}));
    }
  }
}

TEST(ModelFactoryTest, FlopsAgreeWithPublishedCounts) {
  // torchvision: resnet18 1.81 GMACs, resnet50 4.09 GMACs at 224x224.
  for (const auto& [name, gmacs] : std::vector<std::pair<std::string, double>>{
           {"resnet18", 1.81}, {"resnet50", 4.09}}) {
    auto m = Make({name, "imagenet", 1000, 3, "child", 224});
    double flops = 0;
    for (const UnitSpec& u : m->units()) flops += u.forward_flops_per_sample;
    EXPECT_GT(flops, 2 * gmacs * 1e9 * 0.99) << name;
    EXPECT_LT(flops, 2 * gmacs * 1e9 * 1.04) << name;
  }
}

TEST(ModelFactoryTest, ForwardIsTheChainOfUnitsAndLeavesInputsAlone) {
  torch::manual_seed(0);
  auto m = Make({"resnet_tiny", "imagenet", 10});
  m->eval();
  torch::Tensor x = torch::randn({3, 3, 32, 32});
  torch::Tensor h = x;
  for (int u = 0; u < m->num_units(); ++u) {
    const torch::Tensor before = h.clone();
    torch::Tensor next = m->ForwardUnit(u, h);
    EXPECT_TRUE(torch::equal(h, before))
        << "unit " << u << " changed its input";
    h = next;
  }
  EXPECT_TRUE(torch::allclose(m->forward(x), h));
}

TEST(ModelFactoryTest, InitialisationIsTorchvisions) {
  torch::manual_seed(0);
  auto m = Make({"resnet50", "imagenet", 1000});
  const auto named = m->named_parameters();
  // Kaiming normal, fan_out, ReLU gain: std = sqrt(2 / (out * k * k)).
  const torch::Tensor w = named["layer3.0.conv2.weight"];  // 256x256x3x3
  EXPECT_NEAR(w.std().item<double>(), std::sqrt(2.0 / (256 * 9)), 0.002);
  EXPECT_TRUE(torch::equal(named["layer2.1.bn3.weight"], torch::ones({512})));
  EXPECT_TRUE(torch::equal(named["layer2.1.bn3.bias"], torch::zeros({512})));
  // Linear default: U(-1/sqrt(fan_in), 1/sqrt(fan_in)).
  const double bound = 1 / std::sqrt(2048.0);
  EXPECT_LE(named["fc.weight"].abs().max().item<double>(), bound);
  EXPECT_GT(named["fc.weight"].abs().max().item<double>(), 0.99 * bound);
}

std::vector<bool> BatchNormTraining(const UnitModel& m) {
  std::vector<bool> modes;
  for (const auto& item : m.named_modules()) {
    if (item.value()->as<torch::nn::BatchNorm2d>() != nullptr) {
      modes.push_back(item.value()->is_training());
    }
  }
  return modes;
}

TEST(ModelFactoryTest, FrozenUnitsKeepBatchNormInEvalMode) {
  auto m = Make({"resnet_tiny", "imagenet", 10, 3, "child"});
  // BatchNorms in order: bn1; layer1.0 bn1 bn2; layer2.0 bn1 bn2 ds.1; ...
  const auto all = [](bool on) { return std::vector<bool>(12, on); };
  ASSERT_EQ(BatchNormTraining(*m), all(true));
  m->SetUnitFrozen(1, true);  // bn1
  m->SetUnitFrozen(2, true);  // layer1
  std::vector<bool> expected = all(true);
  expected[0] = expected[1] = expected[2] = false;
  EXPECT_EQ(BatchNormTraining(*m), expected);
  m->train();
  EXPECT_EQ(BatchNormTraining(*m), expected);
  m->eval();
  EXPECT_EQ(BatchNormTraining(*m), all(false));
  EXPECT_FALSE(m->is_training());
  m->SetTraining(true);
  EXPECT_EQ(BatchNormTraining(*m), expected);
  EXPECT_TRUE(m->is_training());
  // Unfreezing returns the unit to the model's mode.
  m->SetUnitFrozen(2, false);
  expected[1] = expected[2] = true;
  EXPECT_EQ(BatchNormTraining(*m), expected);
  m->eval();
  m->SetUnitFrozen(1, false);
  EXPECT_EQ(BatchNormTraining(*m), all(false));
  m->train();
  EXPECT_EQ(BatchNormTraining(*m), all(true));
}

TEST(ModelFactoryTest, FrozenUnitsNeedNoGradientAndKeepStatistics) {
  auto m = Make({"resnet_tiny", "imagenet", 10, 3, "block"});
  m->SetUnitFrozen(0, true);
  m->SetUnitFrozen(1, true);
  const std::vector<torch::Tensor> params = m->parameters();
  for (int u = 0; u < m->num_units(); ++u) {
    for (int p : m->unit(u).params) {
      EXPECT_EQ(params[p].requires_grad(), u >= 2) << u;
    }
  }
  const auto buffers = m->named_buffers();
  const torch::Tensor frozen_mean =
      buffers["layer1.0.bn1.running_mean"].clone();
  const torch::Tensor live_mean = buffers["layer2.0.bn1.running_mean"].clone();
  m->forward(torch::randn({4, 3, 32, 32})).sum().backward();
  EXPECT_TRUE(torch::equal(buffers["layer1.0.bn1.running_mean"], frozen_mean));
  EXPECT_FALSE(torch::equal(buffers["layer2.0.bn1.running_mean"], live_mean));
  EXPECT_FALSE(params[m->unit(0).params[0]].grad().defined());
  EXPECT_TRUE(params[m->unit(2).params[0]].grad().defined());
  m->SetUnitFrozen(0, false);
  EXPECT_TRUE(params[m->unit(0).params[0]].requires_grad());
}

TEST(ModelFactoryTest, TinyResNetIsSmall) {
  auto m = Make({"resnet_tiny", "imagenet", 10});
  // 3*8*49 + 16 | 2*576 + 32 | 1152+2304+64+128+32 | 4608+9216+128+512+64 |
  // 18432+36864+256+2048+128 | 650
  EXPECT_THAT(UnitParams(*m),
              ElementsAre(1176, 16, 1184, 3680, 14528, 57728, 650));
  EXPECT_EQ(m->num_params(), 78962);
}

TEST(ModelFactoryTest, MlpHasOneUnitPerLinearLayerAndNoBatchNorm) {
  for (const std::string granularity : {"child", "block"}) {
    auto m = Make({"mlp", "imagenet", 10, 1, granularity});
    EXPECT_THAT(UnitNames(*m), ElementsAre("fc1", "fc2", "fc"));
    EXPECT_THAT(m->parameter_names(),
                ElementsAre("fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias",
                            "fc.weight", "fc.bias"));
    EXPECT_TRUE(m->buffer_names().empty());
    EXPECT_EQ(m->unit(0).num_params, 1024 * 64 + 64);
  }
}

TEST(ModelFactoryTest, BadConfigsNameTheValidValues) {
  absl::Status s = MakeModel({"resnet101"}).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(),
              HasSubstr("resnet18, resnet34, resnet50, resnet_tiny, mlp"));
  s = MakeModel({"resnet18", "tiny"}).status();
  EXPECT_THAT(s.message(), HasSubstr("valid: imagenet, cifar"));
  s = MakeModel({"resnet18", "cifar", 10, 3, "layer"}).status();
  EXPECT_THAT(s.message(), HasSubstr("valid: child, block"));
  EXPECT_FALSE(MakeModel({"resnet18", "cifar", 0}).ok());
  EXPECT_FALSE(MakeModel({"resnet18", "cifar", 10, 0}).ok());
  EXPECT_FALSE(MakeModel({"resnet18", "cifar", 10, 3, "child", 4}).ok());
}

}  // namespace
}  // namespace freezing::train
