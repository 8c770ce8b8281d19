#include "train/models/weights.h"

#include <torch/csrc/jit/serialization/import.h>
#include <torch/serialize/input-archive.h>
#include <torch/serialize/output-archive.h>
#include <torch/types.h>
#include <torch/utils.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "train/models/model_factory.h"
#include "train/models/unit_model.h"

namespace freezing::train {
namespace {

using ::testing::HasSubstr;

std::string Runfile(const std::string& name) {
  return std::string(std::getenv("TEST_SRCDIR")) + "/freezing/train/models/" +
         name;
}

std::string TempPath(const std::string& name) {
  return std::string(std::getenv("TEST_TMPDIR")) + "/" + name;
}

std::shared_ptr<UnitModel> Make(ModelConfig config) {
  absl::StatusOr<std::shared_ptr<UnitModel>> m = MakeModel(config);
  EXPECT_TRUE(m.ok()) << m.status();
  return *m;
}

// "param name 64,3,7,7" / "buffer name " lines of export_torchvision.py.
struct Entry {
  std::string kind, name;
  std::vector<int64_t> shape;
};

std::vector<Entry> ReadNames(const std::string& file) {
  std::ifstream in(Runfile(file));
  EXPECT_TRUE(in.good()) << file;
  std::vector<Entry> entries;
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream fields(line);
    Entry e;
    std::string shape;
    fields >> e.kind >> e.name >> shape;
    std::istringstream dims(shape);
    std::string d;
    while (std::getline(dims, d, ',')) e.shape.push_back(std::stoll(d));
    entries.push_back(e);
  }
  return entries;
}

std::vector<Entry> OurNames(const UnitModel& m) {
  std::vector<Entry> entries;
  for (const auto& p : m.named_parameters()) {
    entries.push_back({"param", p.key(), p.value().sizes().vec()});
  }
  for (const auto& b : m.named_buffers()) {
    entries.push_back({"buffer", b.key(), b.value().sizes().vec()});
  }
  return entries;
}

void ExpectSameNames(const std::vector<Entry>& ours,
                     const std::vector<Entry>& theirs) {
  ASSERT_EQ(ours.size(), theirs.size());
  for (size_t i = 0; i < ours.size(); ++i) {
    EXPECT_EQ(ours[i].kind, theirs[i].kind) << i;
    EXPECT_EQ(ours[i].name, theirs[i].name) << i;
    EXPECT_EQ(ours[i].shape, theirs[i].shape) << ours[i].name;
  }
}

TEST(TorchvisionParityTest, NamesOrderAndShapesMatchTorchvision) {
  ExpectSameNames(OurNames(*Make({"resnet18", "imagenet", 1000})),
                  ReadNames("resnet18_torchvision_names.txt"));
  ExpectSameNames(OurNames(*Make({"resnet34", "imagenet", 1000})),
                  ReadNames("resnet34_torchvision_names.txt"));
  ExpectSameNames(OurNames(*Make({"resnet50", "cifar", 10, 1})),
                  ReadNames("resnet50_cifar_torchvision_names.txt"));
}

TEST(TorchvisionParityTest, LogitsMatchTorchvision) {
  torch::set_num_threads(1);
  auto m = Make({"resnet18", "imagenet", 1000});
  const absl::Status s = LoadWeights(Runfile("resnet18_torchvision.pt"), *m);
  ASSERT_TRUE(s.ok()) << s;
  // The exported BatchNorm statistics came from two training batches.
  const auto buffers = m->named_buffers();
  EXPECT_EQ(buffers["layer2.1.bn1.num_batches_tracked"].item<int64_t>(), 2);
  EXPECT_GT(buffers["bn1.running_mean"].abs().sum().item<double>(), 0);
  torch::jit::Module sample =
      torch::jit::load(Runfile("resnet18_torchvision_sample.pt"));
  const torch::Tensor x = sample.attr("input").toTensor();
  const torch::Tensor expected = sample.attr("logits").toTensor();
  m->eval();
  torch::NoGradGuard no_grad;
  const torch::Tensor logits = m->forward(x);
  ASSERT_EQ(logits.sizes(), expected.sizes());
  const double diff = (logits - expected).abs().max().item<double>();
  EXPECT_LT(diff, 1e-4) << "max |ours - torchvision|";
  RecordProperty("max_abs_logit_diff", std::to_string(diff));
  std::printf("max |ours - torchvision| = %.3g over %lld logits\n", diff,
              static_cast<long long>(logits.numel()));
  EXPECT_GT(expected.abs().max().item<double>(), 0.1);  // not trivially zero
}

TEST(WeightsTest, OwnFormatRoundTripsParametersAndBuffers) {
  torch::manual_seed(1);
  auto a = Make({"resnet_tiny", "cifar", 10, 3, "block"});
  a->forward(torch::randn({4, 3, 32, 32}));  // moves BatchNorm statistics
  torch::manual_seed(2);
  auto b = Make({"resnet_tiny", "cifar", 10, 3, "child"});
  const std::string path = TempPath("tiny.pt");
  ASSERT_TRUE(SaveWeights(path, *a).ok());
  ASSERT_TRUE(LoadWeights(path, *b).ok());
  const auto pa = a->named_parameters(), pb = b->named_parameters();
  for (const auto& item : pa) {
    EXPECT_TRUE(torch::equal(item.value(), pb[item.key()])) << item.key();
  }
  const auto ba = a->named_buffers(), bb = b->named_buffers();
  for (const auto& item : ba) {
    EXPECT_TRUE(torch::equal(item.value(), bb[item.key()])) << item.key();
  }
  EXPECT_EQ(bb["bn1.num_batches_tracked"].item<int64_t>(), 1);
  // Parameters stay parameters that require gradients.
  for (const auto& p : b->parameters()) EXPECT_TRUE(p.requires_grad());
}

TEST(WeightsTest, ArchivesNestInACheckpoint) {
  torch::manual_seed(3);
  auto a = Make({"mlp", "imagenet", 10});
  torch::manual_seed(4);
  auto b = Make({"mlp", "imagenet", 10});
  auto c = Make({"mlp", "imagenet", 10});
  torch::serialize::OutputArchive weights, checkpoint;
  WriteWeights(*a, weights);
  checkpoint.write("model", weights);
  checkpoint.write("step", torch::tensor(7));
  const std::string path = TempPath("checkpoint.pt");
  checkpoint.save_to(path);

  torch::serialize::InputArchive in, nested;
  in.load_from(path);
  in.read("model", nested);
  const absl::Status read = ReadWeights(nested, *b);
  ASSERT_TRUE(read.ok()) << read;
  EXPECT_TRUE(torch::equal(b->named_parameters()["fc2.weight"],
                           a->named_parameters()["fc2.weight"]));
  // The same file through LoadWeights, reading under "model.".
  LoadWeightsOptions options;
  options.source_prefix = "model.";
  const absl::Status load = LoadWeights(path, *c, options);
  ASSERT_TRUE(load.ok()) << load;
  EXPECT_TRUE(torch::equal(c->named_parameters()["fc1.bias"],
                           a->named_parameters()["fc1.bias"]));
}

TEST(WeightsTest, MismatchNamesTheFirstDifferingTensor) {
  auto model = Make({"resnet18", "imagenet", 10});
  const torch::Tensor before =
      model->named_parameters()["conv1.weight"].clone();
  const absl::Status s =
      LoadWeights(Runfile("resnet18_torchvision.pt"), *model);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("resnet18_torchvision.pt"));
  EXPECT_THAT(s.message(),
              HasSubstr("tensor 'fc.weight' has shape [1000, 512] in the file "
                        "but [10, 512] in the model"));
  // Refused as a whole: nothing was copied.
  EXPECT_TRUE(torch::equal(model->named_parameters()["conv1.weight"], before));

  auto tiny = Make({"resnet_tiny", "imagenet", 10});
  const absl::Status missing =
      LoadWeights(Runfile("resnet18_torchvision.pt"), *tiny);
  EXPECT_THAT(missing.message(), HasSubstr("'conv1.weight' has shape "
                                           "[64, 3, 7, 7] in the file but "
                                           "[8, 3, 7, 7] in the model"));

  // A model tensor absent from the file; a file tensor absent from the model.
  auto mlp = Make({"mlp", "imagenet", 10});
  torch::serialize::OutputArchive partial;
  partial.write("fc1.weight", mlp->named_parameters()["fc1.weight"]);
  partial.save_to(TempPath("partial.pt"));
  EXPECT_THAT(LoadWeights(TempPath("partial.pt"), *mlp).message(),
              HasSubstr("tensor 'fc1.bias' [64] of the model is missing"));
  const std::string extra_path = TempPath("extra.pt");
  {
    torch::serialize::OutputArchive extra;
    WriteWeights(*mlp, extra);
    extra.write("fc3.weight", torch::zeros({2, 2}));
    extra.save_to(extra_path);
  }
  EXPECT_THAT(LoadWeights(extra_path, *mlp).message(),
              HasSubstr("tensor 'fc3.weight' [2, 2] of the file is not in "
                        "the model"));
}

TEST(WeightsTest, ExcludedPrefixesKeepTheirInitialisation) {
  torch::manual_seed(5);
  auto model = Make({"resnet18", "imagenet", 10});
  const torch::Tensor fc_before =
      model->named_parameters()["fc.weight"].clone();
  LoadWeightsOptions options;
  options.exclude_prefixes = {"fc."};
  const absl::Status s =
      LoadWeights(Runfile("resnet18_torchvision.pt"), *model, options);
  ASSERT_TRUE(s.ok()) << s;
  EXPECT_TRUE(torch::equal(model->named_parameters()["fc.weight"], fc_before));
  auto reference = Make({"resnet18", "imagenet", 1000});
  ASSERT_TRUE(LoadWeights(Runfile("resnet18_torchvision.pt"), *reference).ok());
  EXPECT_TRUE(
      torch::equal(model->named_parameters()["layer3.1.conv2.weight"],
                   reference->named_parameters()["layer3.1.conv2.weight"]));
  EXPECT_TRUE(
      torch::equal(model->named_buffers()["layer4.0.bn1.running_var"],
                   reference->named_buffers()["layer4.0.bn1.running_var"]));
}

TEST(WeightsTest, UnreadableFiles) {
  auto m = Make({"mlp", "imagenet", 10});
  EXPECT_EQ(LoadWeights(TempPath("none.pt"), *m).code(),
            absl::StatusCode::kNotFound);
  {
    std::ofstream junk(TempPath("junk.pt"));
    junk << "not an archive";
  }
  const absl::Status s = LoadWeights(TempPath("junk.pt"), *m);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("junk.pt is not a TorchScript"));
  EXPECT_EQ(SaveWeights("/nonexistent/dir/w.pt", *m).code(),
            absl::StatusCode::kInternal);
}

}  // namespace
}  // namespace freezing::train
