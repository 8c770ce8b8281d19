#include "comm/bucket_plan.h"

#include <cstdint>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace freezing::comm {
namespace {

using ::testing::ElementsAre;
using ::testing::ElementsAreArray;

constexpr int64_t kKiB = 1024;

// Float tensors of the given element counts; names t0, t1, ...
std::vector<TensorSpec> Floats(const std::vector<int64_t>& numels) {
  std::vector<TensorSpec> specs;
  for (size_t i = 0; i < numels.size(); ++i) {
    specs.push_back({"t" + std::to_string(i), numels[i], 4, true});
  }
  return specs;
}

struct PlanCase {
  std::string name;
  std::vector<TensorSpec> tensors;
  BucketPlanOptions options;
  // Expected tensor indices per bucket, in bucket order.
  std::vector<std::vector<int>> buckets;
};

class BucketPlanCaseTest : public ::testing::TestWithParam<PlanCase> {};

TEST_P(BucketPlanCaseTest, PlansExpectedBuckets) {
  const PlanCase& c = GetParam();
  const BucketPlan plan = BucketPlan::Build(c.tensors, c.options);
  std::vector<std::vector<int>> got;
  for (const Bucket& b : plan.buckets()) got.push_back(b.tensors);
  EXPECT_EQ(got, c.buckets);

  // Invariants every plan keeps.
  int64_t total = 0;
  std::vector<int> seen(c.tensors.size(), 0);
  for (size_t bi = 0; bi < plan.buckets().size(); ++bi) {
    const Bucket& b = plan.buckets()[bi];
    int64_t offset = 0;
    int64_t bytes = 0;
    for (size_t k = 0; k < b.tensors.size(); ++k) {
      const TensorSpec& t = c.tensors[b.tensors[k]];
      EXPECT_TRUE(t.trainable) << t.name;
      EXPECT_EQ(b.offsets[k], offset) << t.name;
      EXPECT_EQ(plan.bucket_of(b.tensors[k]), static_cast<int>(bi));
      EXPECT_EQ(t.element_bytes, b.element_bytes) << t.name;
      offset += t.numel;
      bytes += t.numel * t.element_bytes;
      ++seen[b.tensors[k]];
    }
    EXPECT_EQ(b.numel, offset);
    EXPECT_EQ(b.bytes, bytes);
    total += bytes;
    // Only a tensor larger than the cap alone makes a bucket exceed it.
    const int64_t cap =
        bi == 0 ? c.options.first_bucket_bytes : c.options.bucket_cap_bytes;
    if (b.bytes > cap) EXPECT_EQ(b.tensors.size(), 1u) << "bucket " << bi;
  }
  EXPECT_EQ(plan.total_bytes(), total);
  EXPECT_EQ(plan.num_tensors(), static_cast<int>(c.tensors.size()));
  for (size_t i = 0; i < c.tensors.size(); ++i) {
    EXPECT_EQ(seen[i], c.tensors[i].trainable ? 1 : 0) << c.tensors[i].name;
    if (!c.tensors[i].trainable) EXPECT_EQ(plan.bucket_of(i), -1);
  }
}

std::vector<PlanCase> Cases() {
  std::vector<PlanCase> cases;
  const BucketPlanOptions small{/*first_bucket_bytes=*/4 * kKiB,
                                /*bucket_cap_bytes=*/16 * kKiB};
  cases.push_back({"Empty", {}, small, {}});
  cases.push_back({"OneTensor", Floats({10}), small, {{0}}});
  // Reverse registration order: the last tensor leads the first bucket.
  cases.push_back({"ReverseOrder", Floats({1, 2, 3}), small, {{2, 1, 0}}});
  // 4 KiB = 1024 floats: the first bucket fills up exactly and closes.
  cases.push_back({"FirstBucketCapExact",
                   Floats({512, 512, 512, 512}),
                   small,
                   {{3, 2}, {1, 0}}});
  // A tensor that would overflow the first bucket starts the second.
  cases.push_back({"FirstBucketCapOverflow",
                   Floats({1000, 600, 600}),
                   small,
                   {{2}, {1, 0}}});
  // Later buckets use the larger cap (16 KiB = 4096 floats).
  cases.push_back({"LaterBucketsLargerCap",
                   Floats({2000, 2000, 2000, 2000, 1024}),
                   small,
                   {{4}, {3, 2}, {1, 0}}});
  // An oversize tensor gets a bucket of its own, wherever it is.
  cases.push_back(
      {"OversizeAlone", Floats({100, 10000, 100}), small, {{2}, {1}, {0}}});
  cases.push_back(
      {"OversizeFirst", Floats({100, 100, 5000}), small, {{2}, {1, 0}}});
  // Frozen tensors are never planned, wherever they are.
  {
    std::vector<TensorSpec> t = Floats({100, 200, 300, 400});
    t[0].trainable = false;
    t[2].trainable = false;
    cases.push_back({"FrozenSkipped", t, small, {{3, 1}}});
  }
  {
    std::vector<TensorSpec> t = Floats({100, 200});
    t[0].trainable = false;
    t[1].trainable = false;
    cases.push_back({"AllFrozen", t, small, {}});
  }
  // Frozen tensors take no room: the plan of the rest is unchanged.
  {
    std::vector<TensorSpec> t = Floats({512, 9999, 512, 512, 512});
    t[1].trainable = false;
    cases.push_back({"FrozenTakesNoRoom", t, small, {{4, 3}, {2, 0}}});
  }
  // Element sizes are never mixed in one bucket.
  {
    std::vector<TensorSpec> t = Floats({10, 10, 10});
    t[1].element_bytes = 8;
    cases.push_back({"ElementSizeSplits", t, small, {{2}, {1}, {0}}});
  }
  // Zero caps: one tensor per bucket.
  cases.push_back({"ZeroCaps",
                   Floats({1, 2, 3}),
                   BucketPlanOptions{0, 0},
                   {{2}, {1}, {0}}});
  // PyTorch's defaults: 1 MiB, then 25 MiB.
  cases.push_back({"Defaults",
                   Floats({int64_t{5} << 20, int64_t{1} << 20, 300000}),
                   BucketPlanOptions{},
                   {{2}, {1, 0}}});
  return cases;
}

INSTANTIATE_TEST_SUITE_P(Plans, BucketPlanCaseTest,
                         ::testing::ValuesIn(Cases()),
                         [](const ::testing::TestParamInfo<PlanCase>& info) {
                           return info.param.name;
                         });

TEST(BucketPlanTest, OffsetsAreElementOffsetsInBucket) {
  const BucketPlan plan =
      BucketPlan::Build(Floats({7, 5, 3}), BucketPlanOptions{1 << 20, 1 << 20});
  ASSERT_EQ(plan.buckets().size(), 1u);
  EXPECT_THAT(plan.buckets()[0].tensors, ElementsAre(2, 1, 0));
  EXPECT_THAT(plan.buckets()[0].offsets, ElementsAre(0, 3, 8));
  EXPECT_EQ(plan.buckets()[0].numel, 15);
  EXPECT_EQ(plan.buckets()[0].bytes, 60);
  EXPECT_EQ(plan.total_bytes(), 60);
}

TEST(BucketPlanTest, FingerprintIsDeterministic) {
  const std::vector<TensorSpec> t = Floats({100, 2000, 3000});
  const BucketPlanOptions o{4 * kKiB, 16 * kKiB};
  EXPECT_EQ(BucketPlan::Build(t, o).Fingerprint(),
            BucketPlan::Build(t, o).Fingerprint());
}

struct FingerprintCase {
  std::string name;
  std::vector<TensorSpec> other;
  BucketPlanOptions other_options;
};

class FingerprintDiffersTest
    : public ::testing::TestWithParam<FingerprintCase> {};

const BucketPlanOptions kBase{4 * kKiB, 16 * kKiB};
std::vector<TensorSpec> BaseTensors() { return Floats({100, 2000, 3000}); }

TEST_P(FingerprintDiffersTest, Differs) {
  const FingerprintCase& c = GetParam();
  EXPECT_NE(BucketPlan::Build(BaseTensors(), kBase).Fingerprint(),
            BucketPlan::Build(c.other, c.other_options).Fingerprint());
}

std::vector<FingerprintCase> FingerprintCases() {
  std::vector<FingerprintCase> cases;
  {
    auto t = BaseTensors();
    t[0].trainable = false;
    cases.push_back({"Frozen", t, kBase});
  }
  {
    auto t = BaseTensors();
    t[1].numel += 1;
    cases.push_back({"Size", t, kBase});
  }
  {
    auto t = BaseTensors();
    t[2].name = "renamed";
    cases.push_back({"Name", t, kBase});
  }
  {
    auto t = BaseTensors();
    t.push_back({"extra", 1, 4, true});
    cases.push_back({"ExtraTensor", t, kBase});
  }
  // Same tensors, other bucket boundaries.
  cases.push_back({"Caps", BaseTensors(), BucketPlanOptions{0, 0}});
  {
    auto t = BaseTensors();
    t[0].element_bytes = 8;
    cases.push_back({"ElementBytes", t, kBase});
  }
  return cases;
}

INSTANTIATE_TEST_SUITE_P(
    Fingerprints, FingerprintDiffersTest,
    ::testing::ValuesIn(FingerprintCases()),
    [](const ::testing::TestParamInfo<FingerprintCase>& info) {
      return info.param.name;
    });

TEST(BucketPlanTest, FingerprintIgnoresCapsThatGiveTheSameBuckets) {
  // The fingerprint is of the plan, not of the options that made it.
  const auto t = Floats({10, 10});
  EXPECT_EQ(
      BucketPlan::Build(t, BucketPlanOptions{1 << 20, 1 << 20}).Fingerprint(),
      BucketPlan::Build(t, BucketPlanOptions{1 << 21, 1 << 22}).Fingerprint());
}

}  // namespace
}  // namespace freezing::comm
