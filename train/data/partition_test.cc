#include "train/data/partition.h"

#include <algorithm>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace freezing::train {
namespace {

using ::testing::HasSubstr;

// 1003 samples, 10 classes, labels in a scrambled but fixed order.
std::vector<int32_t> Labels(int n = 1003, int classes = 10) {
  std::vector<int32_t> labels(n);
  for (int i = 0; i < n; ++i) labels[i] = (i * 7 + i / 13) % classes;
  return labels;
}

void ExpectDisjointAndComplete(const Partition& p, int64_t n) {
  std::vector<int> seen(n, 0);
  for (const auto& shard : p.shards) {
    EXPECT_TRUE(std::is_sorted(shard.begin(), shard.end()));
    for (int64_t i : shard) {
      ASSERT_GE(i, 0);
      ASSERT_LT(i, n);
      ++seen[i];
    }
  }
  for (int64_t i = 0; i < n; ++i) ASSERT_EQ(seen[i], 1) << "sample " << i;
}

// Mean over ranks of the largest class share of the rank's shard.
double MeanMaxClassShare(const Partition& p,
                         const std::vector<int32_t>& labels) {
  const auto hist = LabelHistograms(p, labels, 10);
  double total = 0;
  for (const auto& h : hist) {
    const int64_t size = std::max<int64_t>(1, [&] {
      int64_t s = 0;
      for (int64_t c : h) s += c;
      return s;
    }());
    total += static_cast<double>(*std::max_element(h.begin(), h.end())) / size;
  }
  return total / hist.size();
}

TEST(PartitionTest, IidIsDisjointCompleteEqualAndSeeded) {
  const std::vector<int32_t> labels = Labels();
  for (int ranks : {1, 2, 3, 4}) {
    absl::StatusOr<Partition> p = MakePartition(labels, 10, ranks, "iid", 7);
    ASSERT_TRUE(p.ok()) << p.status();
    ASSERT_EQ(p->num_ranks(), ranks);
    ExpectDisjointAndComplete(*p, labels.size());
    const std::vector<int64_t> sizes = ShardSizes(*p);
    EXPECT_LE(*std::max_element(sizes.begin(), sizes.end()) -
                  *std::min_element(sizes.begin(), sizes.end()),
              1);
  }
  absl::StatusOr<Partition> a = MakePartition(labels, 10, 4, "iid", 7);
  absl::StatusOr<Partition> b = MakePartition(labels, 10, 4, "iid", 7);
  absl::StatusOr<Partition> c = MakePartition(labels, 10, 4, "iid", 8);
  EXPECT_EQ(a->shards, b->shards);
  EXPECT_NE(a->shards, c->shards);
  EXPECT_LT(MeanMaxClassShare(*a, labels), 0.2);
}

TEST(PartitionTest, SortedShardsHoldContiguousLabelRanges) {
  const std::vector<int32_t> labels = Labels();
  absl::StatusOr<Partition> p = MakePartition(labels, 10, 5, "sorted", 0);
  ASSERT_TRUE(p.ok());
  ExpectDisjointAndComplete(*p, labels.size());
  for (int r = 0; r + 1 < 5; ++r) {
    int32_t max_here = 0, min_next = 10;
    for (int64_t i : p->shards[r]) max_here = std::max(max_here, labels[i]);
    for (int64_t i : p->shards[r + 1]) min_next = std::min(min_next, labels[i]);
    EXPECT_LE(max_here, min_next);
  }
  // 10 classes over 5 ranks: about two classes each.
  EXPECT_GT(MeanMaxClassShare(*p, labels), 0.45);
}

TEST(PartitionTest, DirichletSkewFollowsAlpha) {
  const std::vector<int32_t> labels = Labels(4000);
  absl::StatusOr<Partition> skewed =
      MakePartition(labels, 10, 4, "dirichlet:alpha=0.05", 3);
  absl::StatusOr<Partition> even =
      MakePartition(labels, 10, 4, "dirichlet:alpha=1000", 3);
  ASSERT_TRUE(skewed.ok() && even.ok());
  ExpectDisjointAndComplete(*skewed, labels.size());
  ExpectDisjointAndComplete(*even, labels.size());
  EXPECT_GT(MeanMaxClassShare(*skewed, labels), 0.5);
  EXPECT_LT(MeanMaxClassShare(*even, labels), 0.13);
  // Near-uniform shares give near-equal shards.
  for (int64_t s : ShardSizes(*even)) EXPECT_NEAR(s, 1000, 60);
  absl::StatusOr<Partition> again =
      MakePartition(labels, 10, 4, "dirichlet:alpha=0.05", 3);
  EXPECT_EQ(skewed->shards, again->shards);
}

TEST(PartitionTest, DirichletMinSize) {
  const std::vector<int32_t> labels = Labels(1000);
  absl::StatusOr<Partition> p =
      MakePartition(labels, 10, 4, "dirichlet:alpha=0.1,min_size=150", 1);
  ASSERT_TRUE(p.ok()) << p.status();
  for (int64_t s : ShardSizes(*p)) EXPECT_GE(s, 150);
  const absl::Status impossible =
      MakePartition(labels, 10, 4, "dirichlet:alpha=0.1,min_size=300", 1)
          .status();
  EXPECT_EQ(impossible.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(impossible.message(), HasSubstr("larger alpha"));
}

TEST(PartitionTest, HistogramsAndStepsPerEpoch) {
  Partition p;
  p.shards = {{0, 1, 2, 3, 4}, {5, 6, 7}};
  const std::vector<int32_t> labels = {0, 0, 1, 2, 2, 1, 1, 0};
  EXPECT_EQ(LabelHistograms(p, labels, 3),
            (std::vector<std::vector<int64_t>>{{2, 1, 2}, {1, 2, 0}}));
  EXPECT_EQ(ShardSizes(p), (std::vector<int64_t>{5, 3}));
  EXPECT_EQ(StepsPerEpoch(p, 1), 3);
  EXPECT_EQ(StepsPerEpoch(p, 2), 1);
  EXPECT_EQ(StepsPerEpoch(p, 4), 0);
}

TEST(PartitionTest, BadSpecsListTheValidOnes) {
  const std::vector<int32_t> labels = Labels(100);
  for (const std::string spec :
       {"random", "dirichlet", "dirichlet:alpha=0", "dirichlet:alpha=-1",
        "dirichlet:beta=1", "dirichlet:alpha=x",
        "dirichlet:alpha=1,min_size=-1", "iid:x"}) {
    const absl::Status s = MakePartition(labels, 10, 2, spec, 0).status();
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << spec;
    EXPECT_THAT(s.message(), HasSubstr("valid: iid, sorted, dirichlet"))
        << spec;
  }
  EXPECT_EQ(MakePartition(labels, 10, 0, "iid", 0).status().code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace freezing::train
