#include "train/data/loader.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <memory>
#include <set>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "train/data/synthetic.h"

namespace freezing::train {
namespace {

using ::testing::HasSubstr;

std::shared_ptr<const Dataset> Data(int channels = 3, int size = 32) {
  SyntheticOptions o;
  o.n = 300;
  o.test_n = 101;
  o.classes = 4;
  o.channels = channels;
  o.size = size;
  absl::StatusOr<Dataset> d = MakeSynthetic(o);
  EXPECT_TRUE(d.ok());
  return std::make_shared<const Dataset>(*std::move(d));
}

Partition Iid(const Dataset& d, int ranks) {
  return *MakePartition(d.train.labels, d.num_classes, ranks, "iid", 1);
}

std::unique_ptr<TrainLoader> Loader(std::shared_ptr<const Dataset> d,
                                    const Partition& p, LoaderOptions o) {
  absl::StatusOr<std::unique_ptr<TrainLoader>> l = TrainLoader::Create(d, p, o);
  EXPECT_TRUE(l.ok()) << l.status();
  return *std::move(l);
}

void ExpectSameBatch(const Batch& a, const Batch& b) {
  EXPECT_EQ(a.epoch, b.epoch);
  EXPECT_EQ(a.step, b.step);
  EXPECT_EQ(a.indices, b.indices);
  EXPECT_EQ(a.variants, b.variants);
  EXPECT_TRUE(at::equal(a.images, b.images));
  EXPECT_TRUE(at::equal(a.labels, b.labels));
}

TEST(TrainLoaderTest, BatchesCoverTheShardOncePerEpoch) {
  auto data = Data();
  const Partition p = Iid(*data, 2);
  LoaderOptions o;
  o.batch_size = 32;
  o.rank = 1;
  auto loader = Loader(data, p, o);
  ASSERT_EQ(loader->steps_per_epoch(), 4);  // floor(150 / 32)
  const std::set<int64_t> shard(p.shards[1].begin(), p.shards[1].end());
  std::vector<int64_t> first_epoch;
  for (int epoch = 0; epoch < 2; ++epoch) {
    std::set<int64_t> seen;
    for (int step = 0; step < 4; ++step) {
      const Batch b = loader->MakeBatch(epoch, step);
      ASSERT_EQ(b.images.sizes(), (std::vector<int64_t>{32, 3, 32, 32}));
      ASSERT_EQ(b.images.scalar_type(), at::kFloat);
      ASSERT_EQ(b.labels.scalar_type(), at::kLong);
      ASSERT_TRUE(b.images.is_contiguous());
      for (int k = 0; k < 32; ++k) {
        const int64_t i = b.indices[k];
        EXPECT_TRUE(shard.count(i)) << i;
        EXPECT_TRUE(seen.insert(i).second) << "repeated " << i;
        EXPECT_EQ(b.labels[k].item<int64_t>(), data->train.labels[i]);
        EXPECT_EQ(b.variants[k], kFreshVariant);
        if (epoch == 0) first_epoch.push_back(i);
      }
    }
  }
  // The second epoch visits the shard in another order.
  const std::vector<int64_t> second = loader->EpochOrder(1);
  EXPECT_NE(first_epoch,
            std::vector<int64_t>(second.begin(), second.begin() + 128));
}

// Synchronous data parallelism: every rank runs the same number of steps,
// the smallest shard's, however unequal the shards (a rank that ran more
// steps would wait forever in a collective).
TEST(TrainLoaderTest, StepsPerEpochIsTheSameOnEveryRankWithUnequalShards) {
  auto data = Data();
  absl::StatusOr<Partition> p = MakePartition(
      data->train.labels, data->num_classes, 2, "dirichlet:alpha=0.5", 3);
  ASSERT_TRUE(p.ok()) << p.status();
  ASSERT_NE(p->shards[0].size(), p->shards[1].size());
  std::vector<int64_t> steps;
  for (int r = 0; r < 2; ++r) {
    LoaderOptions o;
    o.batch_size = 16;
    o.rank = r;
    steps.push_back(Loader(data, *p, o)->steps_per_epoch());
  }
  EXPECT_EQ(steps[0], steps[1]);
  EXPECT_EQ(steps[0], StepsPerEpoch(*p, 16));
}

TEST(TrainLoaderTest, ImagesAreTheRenderedAugmentations) {
  auto data = Data(1, 28);
  const Partition p = Iid(*data, 1);
  LoaderOptions o;
  o.batch_size = 8;
  o.seed = 3;
  o.augment_variants = 2;
  auto loader = Loader(data, p, o);
  absl::StatusOr<SampleRenderer> r = SampleRenderer::Create(*data, 3);
  ASSERT_TRUE(r.ok());
  const Batch b = loader->MakeBatch(2, 5);
  for (int k = 0; k < 8; ++k) {
    const int64_t i = b.indices[k];
    int variant;
    const Augmentation a =
        ChooseAugmentation(loader->augment_options(), 2, i, &variant);
    EXPECT_EQ(variant, b.variants[k]);
    EXPECT_GE(variant, 0);
    EXPECT_LT(variant, 2);
    std::vector<float> expected(r->out_elements());
    r->Render(data->train.image(i), a, expected.data());
    const float* got = b.images[k].data_ptr<float>();
    EXPECT_TRUE(std::equal(expected.begin(), expected.end(), got)) << k;
  }
}

TEST(TrainLoaderTest, DeterministicAcrossLoaders) {
  auto data = Data();
  const Partition p = Iid(*data, 2);
  LoaderOptions o;
  o.batch_size = 16;
  o.seed = 11;
  auto a = Loader(data, p, o);
  auto b = Loader(data, p, o);
  ExpectSameBatch(a->MakeBatch(3, 2), b->MakeBatch(3, 2));
  o.seed = 12;
  auto c = Loader(data, p, o);
  EXPECT_NE(a->MakeBatch(3, 2).indices, c->MakeBatch(3, 2).indices);
  // Ranks shuffle differently and hold different samples.
  o.seed = 11;
  o.rank = 1;
  auto other_rank = Loader(data, p, o);
  std::vector<int64_t> x = a->MakeBatch(0, 0).indices;
  std::vector<int64_t> y = other_rank->MakeBatch(0, 0).indices;
  for (int64_t i : x) EXPECT_EQ(std::count(y.begin(), y.end(), i), 0);
}

TEST(TrainLoaderTest, NextWithPrefetchEqualsRandomAccess) {
  auto data = Data();
  const Partition p = Iid(*data, 2);
  for (int prefetch : {0, 1, 3}) {
    LoaderOptions o;
    o.batch_size = 32;
    o.prefetch = prefetch;
    o.augment_variants = 3;
    auto loader = Loader(data, p, o);
    // Runs over the end of epoch 0 into epoch 1.
    for (int s = 0; s < 6; ++s) {
      ExpectSameBatch(loader->Next(), loader->MakeBatch(s / 4, s % 4));
    }
    loader->Seek(5, 3);
    ExpectSameBatch(loader->Next(), loader->MakeBatch(5, 3));
    ExpectSameBatch(loader->Next(), loader->MakeBatch(6, 0));
    loader->Seek(0, 1);
    ExpectSameBatch(loader->Next(), loader->MakeBatch(0, 1));
  }
}

TEST(TrainLoaderTest, AugmentOffGivesVariantZeroAndPlainImages) {
  auto data = Data();
  const Partition p = Iid(*data, 1);
  LoaderOptions o;
  o.batch_size = 4;
  o.augment = false;
  auto loader = Loader(data, p, o);
  auto eval = *EvalLoader::Create(data, Split::kTrain, 0, 1, 300, 3);
  const Batch all = eval->MakeBatch(0);
  const Batch b = loader->MakeBatch(1, 7);
  for (int k = 0; k < 4; ++k) {
    EXPECT_EQ(b.variants[k], 0);
    EXPECT_TRUE(at::equal(b.images[k], all.images[b.indices[k]]));
  }
}

TEST(TrainLoaderTest, ErrorsSayWhatToChange) {
  auto data = Data();
  const Partition p = Iid(*data, 4);  // 75 samples per rank
  LoaderOptions o;
  o.batch_size = 80;
  absl::Status s = TrainLoader::Create(data, p, o).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(s.message(), HasSubstr("fewer than one batch of 80"));
  o.batch_size = 8;
  o.rank = 4;
  EXPECT_EQ(TrainLoader::Create(data, p, o).status().code(),
            absl::StatusCode::kInvalidArgument);
  o.rank = 0;
  o.out_channels = 1;
  s = TrainLoader::Create(data, p, o).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("model takes 1"));
}

TEST(EvalLoaderTest, RanksCoverTheTestSetWithoutAugmentation) {
  auto data = Data();
  std::vector<int64_t> all;
  for (int rank = 0; rank < 3; ++rank) {
    auto eval = EvalLoader::Create(data, Split::kTest, rank, 3, 8, 3);
    ASSERT_TRUE(eval.ok()) << eval.status();
    int64_t count = 0;
    for (int64_t i = 0; i < (*eval)->num_batches(); ++i) {
      const Batch b = (*eval)->MakeBatch(i);
      EXPECT_EQ(b.epoch, -1);
      EXPECT_LE(b.indices.size(), 8u);
      for (size_t k = 0; k < b.indices.size(); ++k) {
        all.push_back(b.indices[k]);
        EXPECT_EQ(b.variants[k], 0);
        EXPECT_EQ(b.labels[k].item<int64_t>(), data->test.labels[b.indices[k]]);
      }
      count += b.indices.size();
    }
    EXPECT_EQ(count, (*eval)->num_samples());
  }
  ASSERT_EQ(all.size(), 101u);
  for (int64_t i = 0; i < 101; ++i) EXPECT_EQ(all[i], i);
}

}  // namespace
}  // namespace freezing::train
