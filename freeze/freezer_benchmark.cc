// Cost of the Freezer per base interval, offline (as sim/ and replay/ call
// it): a pre-generated random stream of 10 units and 4 ranks is fed to one
// Freezer per iteration. Reports base intervals per second.
//   bazel run //freeze:freezer_benchmark
#include <string>
#include <vector>

#include "benchmark/benchmark.h"
#include "freeze/freezer.h"
#include "freeze/test_util.h"

namespace freezing::freeze {
namespace {

using testing::RandomBaseInterval;
using testing::Rng;
using testing::StreamContext;
using testing::StreamOptions;

const char* const kSpecs[] = {"gradnorm", "autofreeze", "apf", "freezeout"};

void BM_FreezerOffline(benchmark::State& state) {
  const std::string spec = kSpecs[state.range(0)];
  const VoteRule rule = static_cast<VoteRule>(state.range(1));
  const StreamOptions o{.units = 10,
                        .ranks = 4,
                        .base_interval_steps = 1,
                        .max_window = 1,
                        .intervals = 2000,
                        .seed = 5,
                        .degenerate_probability = 0};
  // Statistics of a run that froze nothing; frozen units are skipped by
  // every policy, so their norms do not matter here.
  std::vector<BaseIntervalStats> stream;
  Rng rng(o.seed);
  const std::vector<bool> none(o.units, false);
  for (int i = 0; i < o.intervals; ++i) {
    stream.push_back(RandomBaseInterval(rng, o, i, none));
  }
  for (auto _ : state) {
    auto f = Freezer::Create(spec, rule, StreamContext(o), {0, 1, 2, 3});
    if (!f.ok()) {
      state.SkipWithError(std::string(f.status().message()).c_str());
      return;
    }
    std::vector<bool> frozen(o.units, false);
    for (const BaseIntervalStats& s : stream) {
      auto d = (*f)->OnBaseInterval(s, frozen);
      benchmark::DoNotOptimize(d);
    }
  }
  state.SetLabel(spec + "/" + VoteRuleName(rule));
  state.counters["intervals_per_s"] =
      benchmark::Counter(static_cast<double>(state.iterations()) * o.intervals,
                         benchmark::Counter::kIsRate);
}

BENCHMARK(BM_FreezerOffline)
    ->ArgsProduct({{0, 1, 2, 3},
                   {static_cast<int>(VoteRule::kGlobal),
                    static_cast<int>(VoteRule::kMajority),
                    static_cast<int>(VoteRule::kSnr)}})
    ->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace freezing::freeze
