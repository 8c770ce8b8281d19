// The cost of gradient-statistics collection per training step, as a
// fraction of the step time (issue 4: target < 2% for ResNet-18 at batch 64).
//
//   bazel run -c opt //benchmarks:stats_cost_benchmark
//   bazel run //benchmarks:stats_cost_benchmark -- --stats_model=resnet_tiny \
//       --stats_batch=4 --stats_intervals=1 --stats_threads=1   (smoke mode)
//
// Two identical harnesses (model, GradientReducer over a one-rank
// FakeCommunicator, Sgd, StepRunner) train side by side, one step each in
// turn, on the same fixed batch: A without GradientStatistics (StepRunner's
// stats pointer null), B with it (AccumulateLocal from the reducer's
// observer on every step, EndStep, and FinishInterval every T steps; T is the
// benchmark argument). Alternating the two keeps the machine's load the same
// for both on a shared machine. Counters (milliseconds, fractions):
//   step_ms_plain      median step of A
//   step_ms_stats      median step of B, without FinishInterval
//   accumulate_ms      median of B's in-step accumulation (StepReport.stats_ns)
//   interval_ms        mean FinishInterval time
//   fraction_direct    (accumulate_ms + interval_ms / T) / step_ms_plain:
//                      the timed statistics code itself
//   fraction_ab        (step_ms_stats + interval_ms / T - step_ms_plain) /
//                      step_ms_plain: the A/B difference, which also sees
//                      indirect costs (caches) but carries the noise of two
//                      step medians
// With one rank FinishInterval all-reduces nothing; on R ranks it adds one
// all-reduce of the trained units' interval sums per T steps (see
// docs/PERFORMANCE.md for the trainer's own per-step statistics share).
#include <ATen/ATen.h>
#include <ATen/Parallel.h>

#include <algorithm>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/status/status.h"
#include "benchmark/benchmark.h"
#include "benchmarks/step_harness.h"
#include "comm/fake_communicator.h"
#include "train/grad_stats.h"
#include "train/models/model_factory.h"
#include "train/models/unit_model.h"
#include "train/sgd.h"
#include "train/step_runner.h"

ABSL_FLAG(std::string, stats_model, "resnet18", "model (train/models names)");
ABSL_FLAG(int, stats_batch, 64, "batch size");
ABSL_FLAG(int, stats_threads, 2, "torch threads");
ABSL_FLAG(int, stats_intervals, 2,
          "measured statistics intervals per benchmark (2*T steps each of A "
          "and B at T=10 and 2 intervals)");
ABSL_FLAG(int, stats_warmup, 2, "unmeasured step pairs first");
ABSL_FLAG(int, stats_window, 4, "statistics window W (the trainer's default)");

namespace freezing::benchmarks {
namespace {

using train::GradientStatistics;
using train::StepReport;

StepReport StepOrDie(StepHarness& h, const at::Tensor& images,
                     const at::Tensor& labels) {
  auto report = h.runner->Step(images, 0, labels, 0.01);
  if (!report.ok()) {
    std::fprintf(stderr, "%s\n", report.status().ToString().c_str());
    std::abort();
  }
  return *std::move(report);
}

void BM_StatsCost(benchmark::State& state) {
  const int interval = static_cast<int>(state.range(0));
  const int batch = absl::GetFlag(FLAGS_stats_batch);
  const int pairs =
      interval * std::max(1, absl::GetFlag(FLAGS_stats_intervals));
  const int warmup = std::max(0, absl::GetFlag(FLAGS_stats_warmup));
  at::set_num_threads(absl::GetFlag(FLAGS_stats_threads));
  constexpr int kClasses = 5;

  auto world = comm::FakeCommunicator::CreateWorld(1);
  const std::string model = absl::GetFlag(FLAGS_stats_model);
  StepHarness plain =
      MakeStepHarnessOrDie(*world[0], model, kClasses, false, 1);
  StepHarness with = MakeStepHarnessOrDie(*world[0], model, kClasses, true,
                                          absl::GetFlag(FLAGS_stats_window));
  at::Generator gen = at::make_generator<at::CPUGeneratorImpl>(42);
  const at::Tensor images = at::randn({batch, 3, 32, 32}, gen);
  const at::Tensor labels = at::randint(0, kClasses, {batch}, gen);
  const std::vector<bool> trained(with.model->num_units(), true);

  int64_t interval_index = 0;
  int64_t step = 0;
  auto finish_interval = [&]() {
    auto s = with.stats->FinishInterval(interval_index, step + 1 - interval,
                                        step, 0, 0.5);
    if (!s.ok()) {
      std::fprintf(stderr, "%s\n", s.status().ToString().c_str());
      std::abort();
    }
    ++interval_index;
    benchmark::DoNotOptimize(s->global.data());
  };

  for (auto _ : state) {
    std::vector<int64_t> plain_ns, with_ns, accumulate_ns, interval_ns;
    for (int i = 0; i < warmup; ++i) {
      StepOrDie(plain, images, labels);
      const StepReport r = StepOrDie(with, images, labels);
      with.stats->EndStep(batch, r.loss * batch, trained);
    }
    if (warmup > 0) finish_interval();  // measured intervals start afresh
    const int64_t start = NowNs();
    for (int i = 0; i < pairs; ++i, ++step) {
      // Alternate which harness goes first, so neither always follows the
      // other's cache footprint.
      for (int turn = 0; turn < 2; ++turn) {
        const bool run_plain = (turn == 0) == (i % 2 == 0);
        if (run_plain) {
          const int64_t t0 = NowNs();
          StepOrDie(plain, images, labels);
          plain_ns.push_back(NowNs() - t0);
        } else {
          const int64_t t0 = NowNs();
          const StepReport r = StepOrDie(with, images, labels);
          with.stats->EndStep(batch, r.loss * batch, trained);
          with_ns.push_back(NowNs() - t0);
          accumulate_ns.push_back(r.stats_ns);
        }
      }
      if ((i + 1) % interval == 0) {
        const int64_t t0 = NowNs();
        finish_interval();
        interval_ns.push_back(NowNs() - t0);
      }
    }
    state.SetIterationTime(static_cast<double>(NowNs() - start) * 1e-9);

    const double plain_ms = MedianMs(plain_ns);
    const double with_ms = MedianMs(with_ns);
    const double acc_ms = MedianMs(accumulate_ns);
    double interval_ms = 0;
    for (int64_t ns : interval_ns) interval_ms += static_cast<double>(ns);
    interval_ms =
        interval_ns.empty() ? 0 : interval_ms * 1e-6 / interval_ns.size();
    state.counters["step_ms_plain"] = plain_ms;
    state.counters["step_ms_stats"] = with_ms;
    state.counters["accumulate_ms"] = acc_ms;
    state.counters["interval_ms"] = interval_ms;
    state.counters["fraction_direct"] =
        plain_ms > 0 ? (acc_ms + interval_ms / interval) / plain_ms : 0;
    state.counters["fraction_ab"] =
        plain_ms > 0 ? (with_ms + interval_ms / interval - plain_ms) / plain_ms
                     : 0;
    state.counters["steps_each"] = static_cast<double>(pairs);
  }
}

// The accumulation alone, and what fusing it into the optimizer's pass would
// leave of it (the change docs/PERFORMANCE.md proposes): over ResNet-18's
// parameters with random gradients, in turn,
//   sgd          train::Sgd::Step (one fused pass; it clears the gradients)
//   sgd_plus_acc GradientStatistics::AccumulateLocal of every parameter (as
//                the reducer's observer calls it), then Sgd::Step
//   fused        a prototype of one pass doing both, block by block (16 KiB):
//                acc += g, then the same update as Sgd's fused loop on the
//                block, whose gradient is then in L1
// Counters: medians in ms, and acc_separate_ms = sgd_plus_acc - sgd,
// acc_fused_ms = fused - sgd: what statistics cost per step either way.
void BM_AccumulateFusion(benchmark::State& state) {
  at::set_num_threads(absl::GetFlag(FLAGS_stats_threads));
  at::manual_seed(1);
  train::ModelConfig mc;
  mc.name = absl::GetFlag(FLAGS_stats_model);
  mc.num_classes = 5;
  auto model = train::MakeModel(mc);
  if (!model.ok()) std::abort();
  std::vector<at::Tensor> params;
  train::StatsLayout layout;
  layout.num_units = 1;
  for (const at::Tensor& p : (*model)->parameters()) {
    at::Tensor q = p.detach().clone();
    q.mutable_grad() = at::randn_like(q);
    params.push_back(q);
    layout.param_numel.push_back(q.numel());
    layout.param_unit.push_back(0);
  }
  auto world = comm::FakeCommunicator::CreateWorld(1);
  auto stats = GradientStatistics::Create(layout, 1, world[0].get());
  if (!stats.ok()) std::abort();
  train::Sgd sgd(params, train::SgdOptions{0.9, 1e-4});
  sgd.Step(1e-3);  // allocates the momentum buffers
  // The prototype's own state: momentum buffers and one flat accumulator.
  std::vector<at::Tensor> bufs;
  int64_t total = 0;
  for (const at::Tensor& p : params) {
    bufs.push_back(at::zeros_like(p));
    total += p.numel();
  }
  at::Tensor acc = at::zeros({total}, at::kFloat);
  auto refill = [&] {
    at::NoGradGuard no_grad;
    for (at::Tensor& p : params) p.mutable_grad().normal_();
  };
  auto fused = [&] {
    const float lr = 1e-3f, m = 0.9f, wd = 1e-4f;
    int64_t off = 0;
    for (size_t i = 0; i < params.size(); ++i) {
      float* p = params[i].data_ptr<float>();
      float* g = params[i].mutable_grad().data_ptr<float>();
      float* b = bufs[i].data_ptr<float>();
      float* a = acc.data_ptr<float>() + off;
      const int64_t n = params[i].numel();
      at::parallel_for(0, n, 1 << 15, [&](int64_t begin, int64_t end) {
        // Blocks of 16 KiB: the accumulation reads the gradient from
        // memory, the update then finds it in L1.
        for (int64_t b0 = begin; b0 < end; b0 += 4096) {
          const int64_t b1 = std::min(end, b0 + 4096);
#pragma omp simd
          for (int64_t j = b0; j < b1; ++j) a[j] += g[j];
#pragma omp simd
          for (int64_t j = b0; j < b1; ++j) {
            const float d = g[j] + wd * p[j];
            const float v = m * b[j] + d;
            b[j] = v;
            p[j] -= lr * v;
            g[j] = 0.0f;
          }
        }
      });
      off += n;
    }
  };
  const int reps = std::max(3, absl::GetFlag(FLAGS_stats_intervals) * 10);
  for (auto _ : state) {
    std::vector<int64_t> t_sgd, t_both, t_fused;
    for (int r = 0; r < reps; ++r) {
      for (int turn = 0; turn < 3; ++turn) {
        refill();  // gradients as backward leaves them, not in cache
        const int which = (turn + r) % 3;
        const int64_t t0 = NowNs();
        if (which == 0) {
          sgd.Step(1e-3);
        } else if (which == 1) {
          for (size_t i = 0; i < params.size(); ++i) {
            (*stats)->AccumulateLocal(static_cast<int>(i), params[i].grad());
          }
          sgd.Step(1e-3);
        } else {
          fused();
        }
        const int64_t ns = NowNs() - t0;
        (which == 0 ? t_sgd : which == 1 ? t_both : t_fused).push_back(ns);
      }
    }
    const double a = MedianMs(t_sgd), b = MedianMs(t_both),
                 c = MedianMs(t_fused);
    state.counters["sgd_ms"] = a;
    state.counters["sgd_plus_acc_ms"] = b;
    state.counters["fused_ms"] = c;
    state.counters["acc_separate_ms"] = b - a;
    state.counters["acc_fused_ms"] = c - a;
  }
}

BENCHMARK(BM_AccumulateFusion)->Iterations(1)->Unit(benchmark::kMillisecond);

// One iteration is the whole paired run (2 * T * stats_intervals steps).
BENCHMARK(BM_StatsCost)
    ->Arg(10)
    ->Arg(20)
    ->Iterations(1)
    ->UseManualTime()
    ->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace freezing::benchmarks

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);  // removes the --benchmark_* flags
  absl::ParseCommandLine(argc, argv);
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
