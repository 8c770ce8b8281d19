// The frozen prefix's forward with and without a warm activation cache: the
// study's setting (resnet18, child units, the first 4 units conv1, bn1,
// layer1, layer2 frozen, batch 64 of 32x32 images, 2 torch threads).
//   bazel run -c opt //train:activation_cache_benchmark -- \
//       --benchmark_repetitions=5 --benchmark_report_aggregates_only=true
// PrefixUncached: units 0-3 under no-grad, frozen BatchNorm in eval mode (what
// a step without the cache runs). PrefixCached/memory and /spilled: the same
// batch's boundary activations from a warm cache (ActivationCache::Prepare,
// all hits) held in memory or in the spill file (in the page cache), cycling
// over 16 batches (1024 samples, 8 MiB at layer2) so that reads do not come
// from the CPU caches. SideBySide alternates both in each iteration and
// reports cached_share = cached time / uncached time (the target:
// <= 0.05). Wall-clock times; on a shared machine read the _median rows.
#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <torch/autograd.h>

#include <chrono>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "benchmark/benchmark.h"
#include "train/activation_cache.h"
#include "train/models/model_factory.h"
#include "train/models/unit_model.h"

namespace freezing::train {
namespace {

constexpr int kBatch = 64;
constexpr int kFrozen = 4;  // conv1, bn1, layer1, layer2
constexpr int kBatches = 16;

int64_t NowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

struct Setup {
  std::shared_ptr<UnitModel> model;
  std::unique_ptr<ActivationCache> cache;
  std::vector<at::Tensor> images;
  std::vector<std::vector<int64_t>> samples;
  std::vector<int> variants = std::vector<int>(kBatch, 0);
  int64_t row_bytes = 0;
};

at::Tensor Uncached(UnitModel& model, const at::Tensor& x) {
  at::NoGradGuard no_grad;
  at::Tensor h = x;
  for (int u = 0; u < kFrozen; ++u) h = model.ForwardUnit(u, h);
  return h;
}

std::unique_ptr<Setup> MakeSetup(bool spilled) {
  auto s = std::make_unique<Setup>();
  at::manual_seed(0);
  s->model = *MakeModel({"resnet18", "imagenet", 10});
  for (int u = 0; u < kFrozen; ++u) s->model->SetUnitFrozen(u, true);
  ActivationCacheOptions o;
  o.memory_budget_bytes = spilled ? 0 : int64_t{1} << 30;
  const char* tmp = std::getenv("TMPDIR");
  o.spill_path = std::string(tmp != nullptr ? tmp : "/tmp") +
                 "/activation_cache_benchmark.spill";
  s->cache = *ActivationCache::Create(s->model.get(), o);
  s->cache->SetPrefix(kFrozen);
  for (int b = 0; b < kBatches; ++b) {
    s->images.push_back(at::randn({kBatch, 3, 32, 32}));
    std::vector<int64_t> samples;
    for (int i = 0; i < kBatch; ++i) samples.push_back(b * kBatch + i);
    s->samples.push_back(samples);
    // Warm: a full miss stores the step's prefix output.
    PreparedInput p = s->cache->Prepare(samples, s->variants, s->images[b]);
    const at::Tensor act = Uncached(*s->model, s->images[b]);
    s->cache->Store(samples, s->variants, act, &p.stats);
    s->row_bytes = act[0].numel() * static_cast<int64_t>(sizeof(float));
  }
  return s;
}

void PrefixUncached(benchmark::State& state) {
  at::set_num_threads(static_cast<int>(state.range(0)));
  auto s = MakeSetup(false);
  int b = 0;
  for (auto _ : state) {
    at::Tensor h = Uncached(*s->model, s->images[b]);
    benchmark::DoNotOptimize(h.data_ptr<float>());
    b = (b + 1) % kBatches;
  }
  state.SetItemsProcessed(state.iterations() * kBatch);
}

void PrefixCached(benchmark::State& state) {
  at::set_num_threads(static_cast<int>(state.range(0)));
  const bool spilled = state.range(1) != 0;
  auto s = MakeSetup(spilled);
  int b = 0;
  int64_t bytes = 0;
  for (auto _ : state) {
    PreparedInput p =
        s->cache->Prepare(s->samples[b], s->variants, s->images[b]);
    if (p.stats.hits != kBatch || s->cache->disabled()) {
      state.SkipWithError("the warm cache missed");
      break;
    }
    bytes += p.stats.bytes_read;
    benchmark::DoNotOptimize(p.input.data_ptr<float>());
    b = (b + 1) % kBatches;
  }
  state.SetItemsProcessed(state.iterations() * kBatch);
  state.counters["read_bytes_per_s"] = benchmark::Counter(
      static_cast<double>(bytes), benchmark::Counter::kIsRate);
  state.SetLabel(spilled ? "spilled" : "memory");
}

void SideBySide(benchmark::State& state) {
  at::set_num_threads(static_cast<int>(state.range(0)));
  const bool spilled = state.range(1) != 0;
  auto s = MakeSetup(spilled);
  int b = 0;
  int64_t uncached_ns = 0, cached_ns = 0;
  for (auto _ : state) {
    int64_t t0 = NowNs();
    at::Tensor h = Uncached(*s->model, s->images[b]);
    uncached_ns += NowNs() - t0;
    t0 = NowNs();
    PreparedInput p =
        s->cache->Prepare(s->samples[b], s->variants, s->images[b]);
    cached_ns += NowNs() - t0;
    if (p.stats.hits != kBatch || !at::equal(h, p.input)) {
      state.SkipWithError("the cache differs from the prefix");
      break;
    }
    b = (b + 1) % kBatches;
  }
  const double n = static_cast<double>(state.iterations());
  state.counters["uncached_ms"] = static_cast<double>(uncached_ns) * 1e-6 / n;
  state.counters["cached_ms"] = static_cast<double>(cached_ns) * 1e-6 / n;
  state.counters["cached_share"] =
      uncached_ns > 0
          ? static_cast<double>(cached_ns) / static_cast<double>(uncached_ns)
          : 0.0;
  state.SetLabel(spilled ? "spilled" : "memory");
}

BENCHMARK(PrefixUncached)->Arg(2)->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK(PrefixCached)
    ->Args({2, 0})
    ->Args({2, 1})
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);
BENCHMARK(SideBySide)
    ->Args({2, 0})
    ->Args({2, 1})
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace freezing::train
