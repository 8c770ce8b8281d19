// The frozen prefix's forward with and without a warm activation cache: the
// study's setting (resnet18, child units, the first 4 units conv1, bn1,
// layer1, layer2 frozen, batch 64 of 32x32 images, 2 torch threads).
//   bazel run //train:activation_cache_benchmark -- \
//       --benchmark_repetitions=5 --benchmark_report_aggregates_only=true
// PrefixUncached: units 0-3 under no-grad, frozen BatchNorm in eval mode (what
// a step without the cache runs). PrefixCached/memory and /spilled: the same
// batch's boundary activations from a warm cache (ActivationCache::Prepare,
// all hits) held in memory or in the spill file (in the page cache), cycling
// over 16 batches (1024 samples, 8 MiB at layer2: more than the L2 cache, not
// more than a large L3). SideBySide alternates both in each iteration and
// reports cached_share = cached time / uncached time (the target:
// <= 0.05). Wall-clock times; on a shared machine read the _median rows.
//
// StepsSideBySide: whole training steps (StepRunner: forward, backward, SGD,
// on one rank) with no unit frozen, with static:4, and with static:4 and a
// warm cache (as the trainer runs them: Prepare, Step, Store), one step of
// each in turn (the order rotating), so that load from other processes hits
// all three alike; reports each one's median step time and the speed-ups.
// The second argument is the share of each batch that hits (100: a warm
// cache; 50: half the samples are new, as with K augmentation variants
// before the cache has seen them all).
#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <torch/autograd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "base/clock.h"
#include "benchmark/benchmark.h"
#include "comm/fake_communicator.h"
#include "comm/reducer.h"
#include "train/activation_cache.h"
#include "train/models/model_factory.h"
#include "train/models/unit_model.h"
#include "train/sgd.h"
#include "train/step_runner.h"

namespace freezing::train {
namespace {

constexpr int kBatch = 64;
constexpr int kFrozen = 4;  // conv1, bn1, layer1, layer2
constexpr int kBatches = 16;

using base::NowNs;

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

// One way of training: a model, its reducer, optimizer and step runner, and
// optionally the cache.
struct Trainee {
  std::shared_ptr<UnitModel> model;
  std::unique_ptr<comm::GradientReducer> reducer;
  std::unique_ptr<Sgd> sgd;
  std::unique_ptr<StepRunner> runner;
  std::unique_ptr<ActivationCache> cache;
  std::vector<double> step_ms;
  std::vector<double> prefix_ms;  // forward of units 0..kFrozen-1 in the step
};

std::unique_ptr<Trainee> MakeTrainee(comm::Communicator& comm, int frozen,
                                     bool cache) {
  auto t = std::make_unique<Trainee>();
  at::manual_seed(0);
  t->model = *MakeModel({"resnet18", "imagenet", 10});
  std::vector<at::Tensor> params = t->model->parameters();
  t->reducer = *comm::GradientReducer::Create(
      &comm, params, t->model->parameter_names(), comm::ReducerOptions());
  t->sgd = std::make_unique<Sgd>(params, SgdOptions{0.9, 1e-4});
  t->runner = std::make_unique<StepRunner>(t->model.get(), t->reducer.get(),
                                           t->sgd.get(), nullptr);
  std::vector<bool> f(t->model->num_units(), false);
  for (int u = 0; u < frozen; ++u) f[u] = true;
  if (!t->runner->SetFrozen(f).ok()) return nullptr;
  if (cache) {
    t->cache = *ActivationCache::Create(t->model.get(), {});
    t->cache->SetPrefix(t->runner->first_trainable());
  }
  return t;
}

// One step as the trainer runs it; false on an error.
bool TrainStep(Trainee& t, const std::vector<int64_t>& samples,
               const std::vector<int>& variants, const at::Tensor& images,
               const at::Tensor& labels) {
  PreparedInput p;
  if (t.cache != nullptr) {
    p = t.cache->Prepare(samples, variants, images);
  } else {
    p.input = images;
  }
  auto report = t.runner->Step(p.input, p.start_unit, labels, 0.01);
  if (!report.ok()) return false;
  double prefix_ns = 0;
  for (int u = 0; u < kFrozen; ++u) {
    prefix_ns += static_cast<double>(report->unit_forward_ns[u]);
    if (!p.unit_forward_ns.empty()) {
      prefix_ns += static_cast<double>(p.unit_forward_ns[u]);
    }
  }
  t.prefix_ms.push_back(prefix_ns * 1e-6);
  if (t.cache != nullptr && p.store_prefix_output) {
    t.cache->Store(samples, variants, report->prefix_output, &p.stats);
  }
  return true;
}

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0.0 : v[v.size() / 2];
}

void StepsSideBySide(benchmark::State& state) {
  at::set_num_threads(static_cast<int>(state.range(0)));
  auto world = comm::FakeCommunicator::CreateWorld(1);
  std::vector<std::unique_ptr<Trainee>> trainees;
  trainees.push_back(MakeTrainee(*world[0], 0, false));        // none
  trainees.push_back(MakeTrainee(*world[0], kFrozen, false));  // static:4
  trainees.push_back(MakeTrainee(*world[0], kFrozen, true));   // + cache
  for (const auto& t : trainees) {
    if (t == nullptr) {
      state.SkipWithError("setup failed");
      return;
    }
  }
  std::vector<at::Tensor> images, labels;
  std::vector<std::vector<int64_t>> samples;
  const std::vector<int> variants(kBatch, 0);
  for (int b = 0; b < kBatches; ++b) {
    images.push_back(at::randn({kBatch, 3, 32, 32}));
    labels.push_back(at::randint(0, 10, {kBatch}));
    std::vector<int64_t> s;
    for (int i = 0; i < kBatch; ++i) s.push_back(b * kBatch + i);
    samples.push_back(s);
  }
  // Warm-up: one pass over the batches (fills the cache).
  for (int b = 0; b < kBatches; ++b) {
    for (auto& t : trainees) {
      if (!TrainStep(*t, samples[b], variants, images[b], labels[b])) {
        state.SkipWithError("a step failed");
        return;
      }
    }
  }
  const int64_t hit_rows = kBatch * state.range(1) / 100;
  int64_t iteration = 0;
  for (auto _ : state) {
    const int b = static_cast<int>(iteration % kBatches);
    // Rows past hit_rows are samples never seen before.
    std::vector<int64_t> batch_samples = samples[b];
    for (int64_t i = hit_rows; i < kBatch; ++i) {
      batch_samples[i] = (kBatches + iteration + 1) * kBatch + i;
    }
    for (int k = 0; k < 3; ++k) {
      Trainee& t = *trainees[(k + iteration) % 3];
      const int64_t t0 = NowNs();
      if (!TrainStep(t, batch_samples, variants, images[b], labels[b])) {
        state.SkipWithError("a step failed");
        return;
      }
      t.step_ms.push_back(static_cast<double>(NowNs() - t0) * 1e-6);
    }
    ++iteration;
  }
  const double none = Median(trainees[0]->step_ms);
  const double frozen = Median(trainees[1]->step_ms);
  const double cached = Median(trainees[2]->step_ms);
  state.counters["none_ms"] = none;
  state.counters["static4_ms"] = frozen;
  state.counters["static4_cache_ms"] = cached;
  state.counters["speedup_static4"] = frozen > 0 ? none / frozen : 0;
  state.counters["speedup_static4_cache"] = cached > 0 ? none / cached : 0;
  state.counters["speedup_cache_over_static4"] =
      cached > 0 ? frozen / cached : 0;
  // The physical limit of the cache over freezing alone: static:4's step
  // without its prefix forward (measured inside the same steps).
  const double prefix = Median(trainees[1]->prefix_ms);
  state.counters["static4_prefix_forward_ms"] = prefix;
  state.counters["limit_cache_over_static4"] =
      frozen > prefix ? frozen / (frozen - prefix) : 0;
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
BENCHMARK(StepsSideBySide)
    ->Args({2, 100})
    ->Args({2, 50})
    ->Iterations(48)
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace freezing::train
