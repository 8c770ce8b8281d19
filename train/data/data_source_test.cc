#include "train/data/data_source.h"

#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace freezing::train {
namespace {

using ::testing::HasSubstr;

TEST(DataSourceTest, BadSpecsListTheValidOnes) {
  for (const std::string spec :
       {"mnist", "cifar10", "cifar10:", "fashion_mnist:", "synthetic:n=x",
        "synthetic:colour=3", ""}) {
    const absl::Status status = ValidateDataSpec(spec);
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << spec;
    EXPECT_THAT(status.message(), HasSubstr("fashion_mnist, ")) << spec;
    EXPECT_THAT(status.message(), HasSubstr("cifar10:DIR")) << spec;
  }
  for (const std::string spec :
       {"fashion_mnist", "fashion_mnist:/tmp", "cifar10:/data", "synthetic",
        "synthetic:n=10,classes=3,seed=4,noise=0.5"}) {
    EXPECT_TRUE(ValidateDataSpec(spec).ok()) << spec;
  }
}

TEST(DataSourceTest, SyntheticDefaultsAndOptions) {
  absl::StatusOr<Dataset> data = LoadDataset({"synthetic"});
  ASSERT_TRUE(data.ok()) << data.status();
  EXPECT_EQ(data->train.size(), 2048);
  EXPECT_EQ(data->test.size(), 512);
  EXPECT_EQ(data->num_classes, 10);
  EXPECT_EQ(data->train.channels, 3);
  EXPECT_EQ(data->train.height, 32);
  data = LoadDataset({"synthetic:n=30,test_n=7,classes=3,channels=1,size=28"});
  ASSERT_TRUE(data.ok()) << data.status();
  EXPECT_EQ(data->train.size(), 30);
  EXPECT_EQ(data->test.size(), 7);
  EXPECT_EQ(data->num_classes, 3);
  EXPECT_EQ(data->train.channels, 1);
  EXPECT_EQ(data->train.width, 28);
  std::vector<int> counts(3, 0);
  for (int32_t l : data->train.labels) ++counts[l];
  EXPECT_EQ(counts, (std::vector<int>{10, 10, 10}));
  EXPECT_EQ(LoadDataset({"synthetic:classes=1"}).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(DataSourceTest, SyntheticIsDeterministicAndSeeded) {
  absl::StatusOr<Dataset> a = LoadDataset({"synthetic:n=40,test_n=8"});
  absl::StatusOr<Dataset> b = LoadDataset({"synthetic:n=40,test_n=8"});
  absl::StatusOr<Dataset> c = LoadDataset({"synthetic:n=40,test_n=8,seed=1"});
  ASSERT_TRUE(a.ok() && b.ok() && c.ok());
  EXPECT_EQ(a->train.pixels, b->train.pixels);
  EXPECT_EQ(a->train.labels, b->train.labels);
  EXPECT_EQ(a->test.pixels, b->test.pixels);
  EXPECT_NE(a->train.pixels, c->train.pixels);
}

// Learnable: classifying test samples by the nearest class-mean training
// image is far better than chance.
TEST(DataSourceTest, SyntheticIsLearnable) {
  absl::StatusOr<Dataset> data = LoadDataset({"synthetic:n=500,test_n=200"});
  ASSERT_TRUE(data.ok());
  const int64_t bytes = data->train.image_bytes();
  std::vector<std::vector<double>> means(10, std::vector<double>(bytes, 0));
  std::vector<int> counts(10, 0);
  for (int64_t i = 0; i < data->train.size(); ++i) {
    const int l = data->train.labels[i];
    ++counts[l];
    for (int64_t k = 0; k < bytes; ++k) means[l][k] += data->train.image(i)[k];
  }
  for (int c = 0; c < 10; ++c) {
    for (double& v : means[c]) v /= counts[c];
  }
  int correct = 0;
  for (int64_t i = 0; i < data->test.size(); ++i) {
    int best = -1;
    double best_distance = 0;
    for (int c = 0; c < 10; ++c) {
      double d = 0;
      for (int64_t k = 0; k < bytes; ++k) {
        const double diff = data->test.image(i)[k] - means[c][k];
        d += diff * diff;
      }
      if (best < 0 || d < best_distance) best = c, best_distance = d;
    }
    correct += best == data->test.labels[i];
  }
  EXPECT_GT(correct, 180);
}

TEST(DataSourceTest, ClassSelectionRemapsInTheGivenOrder) {
  absl::StatusOr<Dataset> all = LoadDataset({"synthetic:n=100,test_n=50"});
  DataConfig config{"synthetic:n=100,test_n=50", {7, 2, 5}};
  absl::StatusOr<Dataset> some = LoadDataset(config);
  ASSERT_TRUE(all.ok() && some.ok()) << some.status();
  EXPECT_EQ(some->num_classes, 3);
  EXPECT_EQ(some->original_class, (std::vector<int>{7, 2, 5}));
  EXPECT_EQ(some->class_names[0], all->class_names[7]);
  // The selected samples, in their original order, relabelled 7->0 2->1 5->2.
  std::vector<int64_t> kept;
  for (int64_t i = 0; i < all->train.size(); ++i) {
    const int l = all->train.labels[i];
    if (l == 7 || l == 2 || l == 5) kept.push_back(i);
  }
  ASSERT_EQ(some->train.size(), static_cast<int64_t>(kept.size()));
  for (size_t j = 0; j < kept.size(); ++j) {
    const int original = all->train.labels[kept[j]];
    EXPECT_EQ(some->train.labels[j], original == 7 ? 0 : original == 2 ? 1 : 2);
    EXPECT_EQ(some->train.image(j)[17], all->train.image(kept[j])[17]);
  }
  for (int32_t l : some->test.labels) EXPECT_LT(l, 3);
}

TEST(DataSourceTest, LimitsTakeTheFirstSamplesAfterSelection) {
  DataConfig config{"synthetic:n=100,test_n=50", {4, 1}, 7, 3};
  absl::StatusOr<Dataset> some = LoadDataset(config);
  DataConfig unlimited{"synthetic:n=100,test_n=50", {4, 1}};
  absl::StatusOr<Dataset> all = LoadDataset(unlimited);
  ASSERT_TRUE(some.ok() && all.ok());
  EXPECT_EQ(some->train.size(), 7);
  EXPECT_EQ(some->test.size(), 3);
  EXPECT_EQ(some->train.labels,
            std::vector<int32_t>(all->train.labels.begin(),
                                 all->train.labels.begin() + 7));
  EXPECT_EQ(some->train.pixels,
            std::vector<uint8_t>(
                all->train.pixels.begin(),
                all->train.pixels.begin() + 7 * all->train.image_bytes()));
}

TEST(DataSourceTest, BadClassListsAndLimits) {
  EXPECT_EQ(LoadDataset({"synthetic:n=20", {3, 3}}).status().code(),
            absl::StatusCode::kInvalidArgument);
  const absl::Status status = LoadDataset({"synthetic:n=20", {10}}).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(), HasSubstr("valid: 0..9"));
  EXPECT_EQ(LoadDataset({"synthetic:n=20", {}, -1}).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(DataSourceTest, MissingCifarFolderIsNotFound) {
  const absl::Status status =
      LoadDataset({"cifar10:/nonexistent/cifar"}).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(status.message(),
              HasSubstr("/nonexistent/cifar/data_batch_1.bin"));
}

}  // namespace
}  // namespace freezing::train
