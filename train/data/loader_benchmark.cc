// Milliseconds per training batch: assembling one batch (shuffle lookup,
// augmentation choice, crop/flip/normalise into a float tensor) and taking a
// prefetched one, on Fashion-MNIST when installed (else synthetic data).
//   bazel run //train/data:loader_benchmark
#include <ATen/ATen.h>

#include <cstdio>
#include <memory>

#include "benchmark/benchmark.h"
#include "train/data/data_source.h"
#include "train/data/fashion_mnist.h"
#include "train/data/loader.h"
#include "train/data/partition.h"

namespace freezing::train {
namespace {

std::shared_ptr<const Dataset> LoadOnce() {
  static std::shared_ptr<const Dataset>* data = [] {
    absl::StatusOr<Dataset> d = LoadDataset({"fashion_mnist"});
    if (!d.ok()) {
      std::fprintf(stderr, "%s; using synthetic data\n",
                   std::string(d.status().message()).c_str());
      d = LoadDataset({"synthetic:n=8192"});
    }
    return new std::shared_ptr<const Dataset>(
        std::make_shared<const Dataset>(*std::move(d)));
  }();
  return *data;
}

std::unique_ptr<TrainLoader> MakeLoader(int batch, int prefetch) {
  auto data = LoadOnce();
  Partition p =
      *MakePartition(data->train.labels, data->num_classes, 2, "iid", 0);
  LoaderOptions o;
  o.batch_size = batch;
  o.prefetch = prefetch;
  return *TrainLoader::Create(data, p, o);
}

void BM_MakeBatch(benchmark::State& state) {
  auto loader = MakeLoader(state.range(0), 0);
  int64_t step = 0;
  for (auto _ : state) {
    Batch b = loader->MakeBatch(0, step);
    benchmark::DoNotOptimize(b.images.data_ptr<float>());
    step = (step + 1) % loader->steps_per_epoch();
  }
  state.SetItemsProcessed(state.iterations() * state.range(0));
}
BENCHMARK(BM_MakeBatch)->Arg(64)->Unit(benchmark::kMillisecond);

// Next() with a background thread: what the training step waits for when the
// consumer takes a while per batch (simulated by touching the images).
void BM_NextPrefetched(benchmark::State& state) {
  auto loader = MakeLoader(state.range(0), 2);
  for (auto _ : state) {
    Batch b = loader->Next();
    benchmark::DoNotOptimize(b.images.sum().item<float>());
  }
  state.SetItemsProcessed(state.iterations() * state.range(0));
}
BENCHMARK(BM_NextPrefetched)->Arg(64)->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace freezing::train
