// Test helpers for freeze/: contexts, hand-built statistics and a
// deterministic random stream of base-interval statistics that looks like a
// fine-tuning run (norms that decay and settle, early units first; ranks
// with skewed, non-IID local gradients; occasional degenerate numbers).
#ifndef FREEZING_FREEZE_TEST_UTIL_H_
#define FREEZING_FREEZE_TEST_UTIL_H_

#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "freeze/freezer.h"
#include "freeze/policy.h"
#include "freeze/stats.h"

namespace freezing::freeze::testing {

// `units` units (the last is the classifier), params 100*(u+1).
PolicyContext MakeContext(int units, int base_interval_steps = 1,
                          int max_window = 1, int ranks = 1,
                          int64_t total_steps = 1000,
                          int64_t steps_per_epoch = 100);

// IntervalStats with the given L2 norms (L1 = `l1` if given, else = L2);
// trained_steps 1 unless `trained` says otherwise.
IntervalStats MakeIntervalStats(int64_t interval, int64_t last_step,
                                double progress, const std::vector<double>& l2,
                                const std::vector<double>& l1 = {},
                                const std::vector<int64_t>& trained = {});

// Doubles from the standard-specified mt19937_64, without the
// implementation-defined std distributions, so streams are the same with any
// standard library.
class Rng {
 public:
  explicit Rng(uint64_t seed) : engine_(seed) {}
  double Uniform() {  // [0, 1)
    return static_cast<double>(engine_() >> 11) * (1.0 / 9007199254740992.0);
  }

 private:
  std::mt19937_64 engine_;
};

struct StreamOptions {
  int units = 6;
  int ranks = 3;
  int base_interval_steps = 4;
  int max_window = 2;
  int intervals = 60;
  uint64_t seed = 1;
  double degenerate_probability = 0.02;  // NaN, inf or 0 norms
  // Parameters per unit; empty: MakeContext's 100*(u+1).
  std::vector<int64_t> unit_params;
  // How much unit u's gradient level and settling time grow with depth:
  // 1 + depth_growth * u (1: a ResNet's later groups carry larger norms and
  // settle later; near 0: a transformer's identical blocks).
  double depth_growth = 1.0;
};

// VitShapedStream: a ViT-Ti-shaped stream (vit_tiny's child units at 32x32,
// patch 4: an embedding of 22,080 parameters, 12 encoder blocks of 444,864
// each, a head of 2,314; block norms alike), with the given seed.
StreamOptions VitShapedStream(uint64_t seed);

// The statistics of base interval `index`; frozen units have no norms and
// trained_steps 0, as in a real run.
BaseIntervalStats RandomBaseInterval(Rng& rng, const StreamOptions& o,
                                     int64_t index,
                                     const std::vector<bool>& frozen);

// The context matching StreamOptions.
PolicyContext StreamContext(const StreamOptions& o);

// A decision as one line of text (everything in it, weights as bit-exact
// text), for comparing runs.
std::string DecisionText(const FreezeDecision& d);

}  // namespace freezing::freeze::testing

#endif  // FREEZING_FREEZE_TEST_UTIL_H_
