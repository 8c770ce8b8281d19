// Where a training step of ours spends time beyond the model's own forward
// and backward: the same ResNet-18 step at batch 64, K frozen child units
// (the benchmark argument), in four variants run in turn on one machine:
//
//   model_setnone  forward (frozen prefix under no-grad, BatchNorm in eval)
//                  + loss + backward, gradients reset to undefined after
//                  each step, so autograd hands its gradient buffers over
//                  (PyTorch's zero_grad(set_to_none=True), the baseline's)
//   model_zeroed   the same, gradients kept and zeroed after each step, so
//                  autograd accumulates into them (an extra pass)
//   runner         StepRunner::Step without statistics: reducer over one
//                  rank (gradients are views of its buckets), hooks, Sgd
//   runner_stats   StepRunner::Step with GradientStatistics (accumulation
//                  only; FinishInterval is stats_cost_benchmark's subject)
//
// Counters are medians in milliseconds: *_fwdbwd (forward + backward, for
// the runners StepReport.forward_ns + backward_ns + stats_ns), *_total (whole
// step, for the runners with the optimizer), runner_opt.
//   bazel run //benchmarks:step_overhead_benchmark
//   bazel run //benchmarks:step_overhead_benchmark -- --overhead_steps=3 \
//       --overhead_model=resnet_tiny --overhead_batch=4   (smoke mode)
#include <ATen/ATen.h>
#include <ATen/Parallel.h>

#include <algorithm>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "benchmark/benchmark.h"
#include "benchmarks/step_harness.h"
#include "comm/fake_communicator.h"
#include "train/models/model_factory.h"
#include "train/models/unit_model.h"
#include "train/step_runner.h"

ABSL_FLAG(std::string, overhead_model, "resnet18", "model");
ABSL_FLAG(int, overhead_batch, 64, "batch size");
ABSL_FLAG(int, overhead_threads, 2, "torch threads");
ABSL_FLAG(int, overhead_steps, 20, "measured steps per variant");
ABSL_FLAG(int, overhead_warmup, 3, "unmeasured steps per variant first");

namespace freezing::benchmarks {
namespace {

using train::UnitModel;

void OrDie(const absl::Status& s) {
  if (!s.ok()) {
    std::fprintf(stderr, "%s\n", s.ToString().c_str());
    std::abort();
  }
}

std::shared_ptr<UnitModel> NewModel(int classes, int frozen) {
  at::manual_seed(1);
  train::ModelConfig mc;
  mc.name = absl::GetFlag(FLAGS_overhead_model);
  mc.num_classes = classes;
  auto m = train::MakeModel(mc);
  OrDie(m.status());
  for (int u = 0; u < frozen; ++u) (*m)->SetUnitFrozen(u, true);
  return *m;
}

// The model alone; `set_none` chooses how gradients are cleared.
struct ModelOnly {
  std::shared_ptr<UnitModel> model;
  int frozen = 0;
  bool set_none = true;

  int64_t Step(const at::Tensor& images, const at::Tensor& labels) {
    const int64_t t0 = NowNs();
    at::Tensor x = images;
    {
      at::NoGradGuard no_grad;
      for (int u = 0; u < frozen; ++u) x = model->ForwardUnit(u, x);
    }
    for (int u = frozen; u < model->num_units(); ++u) {
      x = model->ForwardUnit(u, x);
    }
    at::Tensor loss = at::cross_entropy_loss(x, labels);
    benchmark::DoNotOptimize(loss.item<double>());
    loss.backward();
    const int64_t ns = NowNs() - t0;
    at::NoGradGuard no_grad;
    for (at::Tensor& p : model->parameters()) {
      if (!p.grad().defined()) continue;
      if (set_none) {
        p.mutable_grad().reset();
      } else {
        p.mutable_grad().zero_();
      }
    }
    return ns;
  }
};

StepHarness NewRunner(comm::Communicator& comm, int classes, int frozen,
                      bool with_stats) {
  StepHarness r = MakeStepHarnessOrDie(
      comm, absl::GetFlag(FLAGS_overhead_model), classes, with_stats, 4);
  std::vector<bool> frozen_units(r.model->num_units(), false);
  for (int u = 0; u < frozen; ++u) frozen_units[u] = true;
  OrDie(r.runner->SetFrozen(frozen_units));
  return r;
}

void BM_StepOverhead(benchmark::State& state) {
  const int frozen = static_cast<int>(state.range(0));
  const int batch = absl::GetFlag(FLAGS_overhead_batch);
  const int steps = std::max(1, absl::GetFlag(FLAGS_overhead_steps));
  const int warmup = std::max(0, absl::GetFlag(FLAGS_overhead_warmup));
  at::set_num_threads(absl::GetFlag(FLAGS_overhead_threads));
  constexpr int kClasses = 5;

  auto world = comm::FakeCommunicator::CreateWorld(1);
  ModelOnly setnone{NewModel(kClasses, frozen), frozen, true};
  ModelOnly zeroed{NewModel(kClasses, frozen), frozen, false};
  StepHarness plain = NewRunner(*world[0], kClasses, frozen, false);
  StepHarness with = NewRunner(*world[0], kClasses, frozen, true);
  at::Generator gen = at::make_generator<at::CPUGeneratorImpl>(42);
  const at::Tensor images = at::randn({batch, 3, 32, 32}, gen);
  const at::Tensor labels = at::randint(0, kClasses, {batch}, gen);

  for (auto _ : state) {
    std::vector<int64_t> setnone_ns, zeroed_ns, runner_fb, runner_total,
        runner_opt, stats_fb, stats_total, stats_acc;
    const int64_t start = NowNs();
    for (int i = 0; i < warmup + steps; ++i) {
      const bool keep = i >= warmup;
      // Rotate the order so that no variant always follows the same one.
      for (int turn = 0; turn < 4; ++turn) {
        switch ((turn + i) % 4) {
          case 0: {
            const int64_t ns = setnone.Step(images, labels);
            if (keep) setnone_ns.push_back(ns);
            break;
          }
          case 1: {
            const int64_t ns = zeroed.Step(images, labels);
            if (keep) zeroed_ns.push_back(ns);
            break;
          }
          case 2:
          case 3: {
            StepHarness& r = (turn + i) % 4 == 2 ? plain : with;
            const int64_t t0 = NowNs();
            auto rep = r.runner->Step(images, 0, labels, 0.01);
            const int64_t ns = NowNs() - t0;
            OrDie(rep.status());
            if (!keep) break;
            const int64_t fb = rep->forward_ns + rep->backward_ns +
                               rep->comm_exposed_ns + rep->stats_ns;
            if (&r == &plain) {
              runner_fb.push_back(fb);
              runner_total.push_back(ns);
              runner_opt.push_back(rep->optimizer_ns);
            } else {
              stats_fb.push_back(fb);
              stats_total.push_back(ns);
              stats_acc.push_back(rep->stats_ns);
            }
            break;
          }
        }
      }
    }
    state.SetIterationTime(static_cast<double>(NowNs() - start) * 1e-9);
    state.counters["model_setnone_fwdbwd"] = MedianMs(setnone_ns);
    state.counters["model_zeroed_fwdbwd"] = MedianMs(zeroed_ns);
    state.counters["runner_fwdbwd"] = MedianMs(runner_fb);
    state.counters["runner_opt"] = MedianMs(runner_opt);
    state.counters["runner_total"] = MedianMs(runner_total);
    state.counters["runner_stats_fwdbwd"] = MedianMs(stats_fb);
    state.counters["runner_stats_acc"] = MedianMs(stats_acc);
    state.counters["runner_stats_total"] = MedianMs(stats_total);
  }
}

BENCHMARK(BM_StepOverhead)
    ->Arg(0)
    ->Arg(4)
    ->Iterations(1)
    ->UseManualTime()
    ->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace freezing::benchmarks

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  absl::ParseCommandLine(argc, argv);
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
