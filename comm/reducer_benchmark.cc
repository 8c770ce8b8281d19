// Data-parallel training steps with the GradientReducer on N ranks (default
// 2), one per progress mode, to choose the default mode: forward, backward
// with bucketed all-reduce, FinishStep (no optimizer: it does not depend on
// the mode). The model is ResNet-18 (the study's; torchvision's structure
// and ImageNet stem) on 32x32 inputs, or a tiny MLP for smoke tests.
//
//   bazel run //comm:reducer_benchmark -- --ranks=2
//   UCX_TLS=tcp,self bazel run //comm:reducer_benchmark -- --ranks=2
//
// Each rank uses DefaultThreadsPerRank() libtorch threads. Reported time is
// the slowest rank's step; exposed_ms is FinishStep's wait (communication
// that backward did not hide), comm_ms the time any all-reduce was in
// flight.
#include <torch/torch.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "benchmark/benchmark.h"
#include "comm/launcher.h"
#include "comm/mpi_benchmark_main.h"
#include "comm/mpi_session.h"
#include "comm/progress_mode.h"
#include "comm/reducer.h"

namespace freezing::comm {
namespace {

using benchmarking::MaxOverRanks;
using benchmarking::World;

struct BasicBlockImpl : torch::nn::Module {
  BasicBlockImpl(int64_t in, int64_t out, int64_t stride) {
    namespace nn = torch::nn;
    conv1 = register_module("conv1", nn::Conv2d(nn::Conv2dOptions(in, out, 3)
                                                    .stride(stride)
                                                    .padding(1)
                                                    .bias(false)));
    bn1 = register_module("bn1", nn::BatchNorm2d(out));
    conv2 = register_module(
        "conv2",
        nn::Conv2d(nn::Conv2dOptions(out, out, 3).padding(1).bias(false)));
    bn2 = register_module("bn2", nn::BatchNorm2d(out));
    if (stride != 1 || in != out) {
      downsample = register_module(
          "downsample",
          nn::Sequential(
              nn::Conv2d(
                  nn::Conv2dOptions(in, out, 1).stride(stride).bias(false)),
              nn::BatchNorm2d(out)));
    }
  }
  torch::Tensor forward(torch::Tensor x) {
    torch::Tensor y = torch::relu(bn1(conv1(x)));
    y = bn2(conv2(y));
    return torch::relu(y + (downsample ? downsample->forward(x) : x));
  }
  torch::nn::Conv2d conv1{nullptr}, conv2{nullptr};
  torch::nn::BatchNorm2d bn1{nullptr}, bn2{nullptr};
  torch::nn::Sequential downsample{nullptr};
};
TORCH_MODULE(BasicBlock);

struct ResNet18Impl : torch::nn::Module {
  explicit ResNet18Impl(int64_t classes) {
    namespace nn = torch::nn;
    conv1 = register_module(
        "conv1",
        nn::Conv2d(
            nn::Conv2dOptions(3, 64, 7).stride(2).padding(3).bias(false)));
    bn1 = register_module("bn1", nn::BatchNorm2d(64));
    int64_t in = 64;
    for (int l = 0; l < 4; ++l) {
      const int64_t out = 64 << l;
      nn::Sequential layer(BasicBlock(in, out, l == 0 ? 1 : 2),
                           BasicBlock(out, out, 1));
      layers.push_back(register_module("layer" + std::to_string(l + 1), layer));
      in = out;
    }
    fc = register_module("fc", nn::Linear(512, classes));
  }
  torch::Tensor forward(torch::Tensor x) {
    x = torch::relu(bn1(conv1(x)));
    x = torch::max_pool2d(x, 3, 2, 1);
    for (auto& layer : layers) x = layer->forward(x);
    x = torch::adaptive_avg_pool2d(x, {1, 1}).flatten(1);
    return fc(x);
  }
  torch::nn::Conv2d conv1{nullptr};
  torch::nn::BatchNorm2d bn1{nullptr};
  std::vector<torch::nn::Sequential> layers;
  torch::nn::Linear fc{nullptr};
};
TORCH_MODULE(ResNet18);

struct TinyImpl : torch::nn::Module {
  TinyImpl() {
    l1 = register_module("l1", torch::nn::Linear(3 * 32 * 32, 256));
    l2 = register_module("l2", torch::nn::Linear(256, 10));
  }
  torch::Tensor forward(torch::Tensor x) {
    return l2(torch::relu(l1(x.flatten(1))));
  }
  torch::nn::Linear l1{nullptr}, l2{nullptr};
};
TORCH_MODULE(Tiny);

void Check(const absl::Status& s) {
  if (!s.ok()) MpiSession::AbortJob(s);
}

// Args: progress mode (0 hooks, 1 thread, 2 sync), model (0 ResNet-18,
// 1 tiny), batch per rank.
void BM_ReducerStep(benchmark::State& state) {
  Communicator& c = World();
  torch::set_num_threads(DefaultThreadsPerRank(c.size()));
  const auto mode = static_cast<ProgressMode>(state.range(0));
  const bool tiny = state.range(1) == 1;
  const int64_t batch = state.range(2);
  torch::manual_seed(1);
  std::shared_ptr<torch::nn::Module> model;
  std::function<torch::Tensor(torch::Tensor)> forward;
  if (tiny) {
    Tiny m;
    model = m.ptr();
    forward = [m](torch::Tensor x) mutable { return m->forward(x); };
  } else {
    ResNet18 m(10);
    model = m.ptr();
    forward = [m](torch::Tensor x) mutable { return m->forward(x); };
  }
  std::vector<torch::Tensor> params;
  std::vector<std::string> names;
  for (const auto& item : model->named_parameters()) {
    names.push_back(item.key());
    params.push_back(item.value());
  }
  ReducerOptions options;
  options.mode = mode;
  auto reducer = GradientReducer::Create(&c, params, names, options);
  Check(reducer.status());
  Check(GradientReducer::BroadcastTensors(&c, params, 0));
  torch::manual_seed(100 + c.rank());
  const torch::Tensor x = torch::randn({batch, 3, 32, 32});
  const torch::Tensor y = torch::randint(0, 10, {batch});

  double exposed_ms = 0, comm_ms = 0, backward_ms = 0;
  int64_t bytes = 0;
  auto step = [&](bool record) {
    const auto start = std::chrono::steady_clock::now();
    model->zero_grad();
    Check((*reducer)->BeginStep());
    torch::Tensor loss = torch::nn::functional::cross_entropy(forward(x), y);
    const auto backward_start = std::chrono::steady_clock::now();
    loss.backward();
    const auto backward_end = std::chrono::steady_clock::now();
    auto stats = (*reducer)->FinishStep();
    Check(stats.status());
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start)
            .count();
    if (record) {
      exposed_ms += stats->comm_exposed_ns / 1e6;
      comm_ms += stats->comm_total_ns / 1e6;
      backward_ms += std::chrono::duration<double, std::milli>(backward_end -
                                                               backward_start)
                         .count();
      bytes += stats->bytes;
    }
    return seconds;
  };
  for (int i = 0; i < 2; ++i) MaxOverRanks(step(false));  // warm-up
  for (auto _ : state) state.SetIterationTime(MaxOverRanks(step(true)));
  const double n = static_cast<double>(state.iterations());
  state.counters["exposed_ms"] = exposed_ms / n;
  state.counters["comm_ms"] = comm_ms / n;
  state.counters["backward_ms"] = backward_ms / n;
  state.counters["MB_per_step"] = bytes / n / 1e6;
  state.counters["buckets"] = (*reducer)->plan().buckets().size();
  state.SetLabel(std::string(ProgressModeName(mode)) +
                 (tiny ? " tiny" : " resnet18"));
}

BENCHMARK(BM_ReducerStep)
    ->ArgNames({"mode", "model", "batch"})
    ->Args({0, 0, 32})
    ->Args({1, 0, 32})
    ->Args({2, 0, 32})
    ->Iterations(15)
    ->UseManualTime()
    ->Unit(benchmark::kMillisecond);

// Smoke-sized: the test runs these.
BENCHMARK(BM_ReducerStep)
    ->ArgNames({"mode", "model", "batch"})
    ->Args({0, 1, 4})
    ->Args({1, 1, 4})
    ->Args({2, 1, 4})
    ->Iterations(3)
    ->UseManualTime()
    ->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace freezing::comm
