// CacheModel on hand-made sequences of epochs and boundaries, every number
// checked by hand in the comments.
#include "sim/cache_model.h"

#include <vector>

#include "gtest/gtest.h"

namespace freezing::sim {
namespace {

// Three units with outputs of 50, 20 and 5 elements per sample, batch 8,
// 0.5 ns per element: a cached activation of unit 0 costs 0.5 · 50 · 8 = 200
// to read or write, one of unit 1 0.5 · 20 · 8 = 80. 4 steps per epoch.
CacheModel::Options Options(int variants) {
  CacheModel::Options o;
  o.read_ns_per_element = 0.5;
  o.output_elements = {50, 20, 5};
  o.batch_size = 8;
  o.steps_per_epoch = 4;
  o.variants = variants;
  return o;
}

const std::vector<int64_t> kForward = {100, 40, 10};

struct Expected {
  int epoch;
  int boundary;
  bool active;
  int64_t ns;
  double hit;
};

void ExpectSteps(CacheModel& cache, const std::vector<Expected>& steps) {
  for (size_t i = 0; i < steps.size(); ++i) {
    const Expected& e = steps[i];
    const CacheModel::StepCache c = cache.Step(e.epoch, e.boundary, kForward);
    EXPECT_EQ(c.active, e.active) << "step " << i;
    EXPECT_EQ(c.ns, e.ns) << "step " << i;
    EXPECT_DOUBLE_EQ(c.hit_share, e.hit) << "step " << i;
  }
}

TEST(CacheModel, EpochsAndBoundaryMoves) {
  CacheModel cache(Options(/*variants=*/1));
  ExpectSteps(cache,
              {
                  // No frozen prefix: nothing to cache.
                  {0, -1, false, 0, 0},
                  // Boundary set at unit 0: every sample misses, forward of
                  // unit 0 and a write: 100 + 200.
                  {0, 0, true, 300, 0},
                  {0, 0, true, 300, 0},
                  // Epoch 1: coverage 0 + 1 · 2/4 · 1 = 0.5. Half hit (read
                  // 200), half miss (300): 250.
                  {1, 0, true, 250, 0.5},
                  // Deeper, to unit 1: nothing hits at unit 1 yet; the old
                  // boundary holds this epoch's 0.5: those read 200, run unit
                  // 1 (40) and write 80 (320); the rest run units 0-1 (140)
                  // and write 80 (220): 0.5 · 320 + 0.5 · 220 = 270. The old
                  // entries hold 0.5 + 0.5 · 1/4 = 0.625 from the next epoch.
                  {1, 1, true, 270, 0},
                  {1, 1, true, 270, 0},
                  // Epoch 2: coverage 0.5 (2 of 4 steps at unit 1); old
                  // entries cover 0.5 · 0.625 = 0.3125 of the samples, misses
                  // 0.1875: 0.5 · 80 + 0.3125 · 320 + 0.1875 · 220 = 181.25.
                  {2, 1, true, 181, 0.5},
                  // Shallower: unit 1's entries are of no use, start again.
                  {2, 0, true, 300, 0},
                  {2, -1, false, 0, 0},
              });
  // Over the 7 steps with a prefix: (0.5 + 0.5) / 7.
  EXPECT_DOUBLE_EQ(cache.MeanHitShare(), 1.0 / 7.0);
}

TEST(CacheModel, VariantsSlowTheCoverage) {
  CacheModel cache(Options(/*variants=*/2));
  // A whole epoch at unit 0 fills 1/2 of the (sample, variant) keys, the
  // next adds half of the rest: 0.5, then 0.75.
  ExpectSteps(cache, {{0, 0, true, 300, 0},
                      {0, 0, true, 300, 0},
                      {0, 0, true, 300, 0},
                      {0, 0, true, 300, 0},
                      {1, 0, true, 250, 0.5},
                      {1, 0, true, 250, 0.5},
                      {1, 0, true, 250, 0.5},
                      {1, 0, true, 250, 0.5},
                      // 0.75 · 200 + 0.25 · 300 = 225.
                      {2, 0, true, 225, 0.75}});
}

TEST(CacheModel, TheFirstStepSetsTheEpoch) {
  CacheModel cache(Options(/*variants=*/1));
  // Starting in epoch 5 is not an epoch change: nothing is cached yet.
  ExpectSteps(cache, {{5, 0, true, 300, 0}, {5, 0, true, 300, 0}});
  EXPECT_DOUBLE_EQ(cache.MeanHitShare(), 0.0);
}

TEST(CacheModel, NoPrefixNoHitShare) {
  CacheModel cache(Options(/*variants=*/1));
  ExpectSteps(cache, {{0, -1, false, 0, 0}, {1, -1, false, 0, 0}});
  EXPECT_DOUBLE_EQ(cache.MeanHitShare(), 0.0);
}

}  // namespace
}  // namespace freezing::sim
