// Forward and forward+backward time of the models (ResNets, vit_mini with
// patch 4) at batch 64 on 32x32 inputs (the study's setting), training mode,
// with a given number of torch threads (the benchmark argument):
//   bazel run //train/models:model_benchmark -- --benchmark_filter=resnet18
// FrozenPrefix/K runs the first K units under no-grad with their BatchNorm in
// eval mode, as the trainer does for a frozen prefix. Times are wall-clock
// (torch runs on several threads); on a shared machine use
//   --benchmark_repetitions=10 and read the _min rows.
#include <torch/types.h>
#include <torch/utils.h>

#include <algorithm>
#include <string>
#include <vector>

#include "benchmark/benchmark.h"
#include "train/models/model_factory.h"
#include "train/models/unit_model.h"

namespace freezing::train {
namespace {

constexpr int kBatch = 64;

// Other processes on a shared machine only ever slow a step down: with
// --benchmark_repetitions=N the minimum is the most stable figure.
double Min(const std::vector<double>& v) {
  return *std::min_element(v.begin(), v.end());
}

std::shared_ptr<UnitModel> Model(const std::string& name) {
  torch::manual_seed(0);
  return *MakeModel({name, "imagenet", 10});
}

void Forward(benchmark::State& state, const std::string& name) {
  torch::set_num_threads(state.range(0));
  auto m = Model(name);
  const torch::Tensor x = torch::randn({kBatch, 3, 32, 32});
  for (auto _ : state) {
    torch::Tensor y = m->forward(x);
    benchmark::DoNotOptimize(y.data_ptr<float>());
  }
  state.SetItemsProcessed(state.iterations() * kBatch);
}

void ForwardBackward(benchmark::State& state, const std::string& name,
                     int frozen) {
  torch::set_num_threads(state.range(0));
  auto m = Model(name);
  for (int u = 0; u < frozen; ++u) m->SetUnitFrozen(u, true);
  const torch::Tensor x = torch::randn({kBatch, 3, 32, 32});
  const torch::Tensor labels = torch::randint(0, 10, {kBatch});
  for (auto _ : state) {
    torch::Tensor h = x;
    {
      torch::NoGradGuard no_grad;
      for (int u = 0; u < frozen; ++u) h = m->ForwardUnit(u, h);
    }
    for (int u = frozen; u < m->num_units(); ++u) h = m->ForwardUnit(u, h);
    torch::Tensor loss = torch::cross_entropy_loss(h, labels);
    loss.backward();
    for (auto& p : m->parameters()) {
      if (p.grad().defined()) p.mutable_grad().zero_();
    }
  }
  state.SetItemsProcessed(state.iterations() * kBatch);
}

BENCHMARK_CAPTURE(Forward, resnet18, std::string("resnet18"))
    ->Arg(2)
    ->UseRealTime()
    ->ComputeStatistics("min", Min)
    ->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(ForwardBackward, resnet18, std::string("resnet18"), 0)
    ->Arg(2)
    ->UseRealTime()
    ->ComputeStatistics("min", Min)
    ->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(ForwardBackward, resnet18_frozen4, std::string("resnet18"), 4)
    ->Arg(2)
    ->UseRealTime()
    ->ComputeStatistics("min", Min)
    ->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(ForwardBackward, resnet_tiny, std::string("resnet_tiny"), 0)
    ->Arg(2)
    ->UseRealTime()
    ->ComputeStatistics("min", Min)
    ->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(ForwardBackward, vit_mini, std::string("vit_mini"), 0)
    ->Arg(2)
    ->UseRealTime()
    ->ComputeStatistics("min", Min)
    ->Unit(benchmark::kMillisecond);
// The embedding and the first three of six encoder blocks frozen.
BENCHMARK_CAPTURE(ForwardBackward, vit_mini_frozen4, std::string("vit_mini"), 4)
    ->Arg(2)
    ->UseRealTime()
    ->ComputeStatistics("min", Min)
    ->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace freezing::train
