#include "freeze/window_norms.h"

#include <cmath>
#include <random>
#include <vector>

#include "gtest/gtest.h"

namespace freezing::freeze {
namespace {

// Reference in double: window w sums the newest w + 1 intervals.
struct Reference {
  std::vector<double> l2, l1, g2, g1, dot;
};

Reference Exact(const std::vector<std::vector<float>>& local,
                const std::vector<std::vector<float>>& global, int64_t begin,
                int64_t end) {
  Reference r;
  const int k = static_cast<int>(local.size());
  for (int w = 0; w < k; ++w) {
    double l2 = 0, l1 = 0, g2 = 0, g1 = 0, d = 0;
    for (int64_t j = begin; j < end; ++j) {
      double x = 0, y = 0;
      for (int v = 0; v <= w; ++v) {
        x += local[v][j];
        y += global[v][j];
      }
      l2 += x * x;
      l1 += std::fabs(x);
      g2 += y * y;
      g1 += std::fabs(y);
      d += x * y;
    }
    r.l2.push_back(l2);
    r.l1.push_back(l1);
    r.g2.push_back(g2);
    r.g1.push_back(g1);
    r.dot.push_back(d);
  }
  return r;
}

TEST(WindowNormsTest, HandValues) {
  // Two intervals of a 3-element unit inside a 5-element buffer.
  std::vector<float> i0 = {9, 1, -2, 2, 9}, i1 = {9, 3, 0, -4, 9};
  WindowSums s = WindowNormSums({i0.data(), i1.data()}, {}, 1, 4, true);
  // Window 1 = i0[1..4) = (1, -2, 2); window 2 = (4, -2, -2).
  EXPECT_EQ(s.local_l2, (std::vector<double>{9, 24}));
  EXPECT_EQ(s.local_l1, (std::vector<double>{5, 8}));
  EXPECT_EQ(s.global_l2, s.local_l2);
  EXPECT_EQ(s.dot, s.local_l2);
}

TEST(WindowNormsTest, MatchesDoubleReferenceAcrossBlocksAndChunks) {
  std::mt19937 rng(7);
  std::normal_distribution<float> normal(0, 1);
  const int64_t n = (int64_t{1} << 17) + 777;  // 2 chunks and a part block
  for (int k : {1, 3, 16}) {
    std::vector<std::vector<float>> local(k, std::vector<float>(n)),
        global(k, std::vector<float>(n));
    for (int w = 0; w < k; ++w) {
      for (int64_t j = 0; j < n; ++j) {
        local[w][j] = normal(rng);
        global[w][j] = 0.5f * local[w][j] + normal(rng);
      }
    }
    std::vector<const float*> lp, gp;
    for (int w = 0; w < k; ++w) {
      lp.push_back(local[w].data());
      gp.push_back(global[w].data());
    }
    const int64_t begin = 13, end = n - 5;
    WindowSums s = WindowNormSums(lp, gp, begin, end, false);
    Reference r = Exact(local, global, begin, end);
    ASSERT_EQ(s.local_l2.size(), static_cast<size_t>(k));
    for (int w = 0; w < k; ++w) {
      EXPECT_NEAR(s.local_l2[w], r.l2[w], 1e-5 * r.l2[w]) << k << " " << w;
      EXPECT_NEAR(s.local_l1[w], r.l1[w], 1e-5 * r.l1[w]);
      EXPECT_NEAR(s.global_l2[w], r.g2[w], 1e-5 * r.g2[w]);
      EXPECT_NEAR(s.global_l1[w], r.g1[w], 1e-5 * r.g1[w]);
      EXPECT_NEAR(s.dot[w], r.dot[w], 1e-4 * std::fabs(r.dot[w]) + 1e-3);
    }
    // Deterministic: the same inputs give the same bits.
    WindowSums again = WindowNormSums(lp, gp, begin, end, false);
    EXPECT_EQ(again.local_l2, s.local_l2);
    EXPECT_EQ(again.dot, s.dot);
  }
}

TEST(WindowNormsTest, EmptyUnitIsZero) {
  std::vector<float> a = {1, 2};
  WindowSums s = WindowNormSums({a.data()}, {a.data()}, 1, 1, false);
  EXPECT_EQ(s.local_l2, (std::vector<double>{0}));
  EXPECT_EQ(s.dot, (std::vector<double>{0}));
}

}  // namespace
}  // namespace freezing::freeze
