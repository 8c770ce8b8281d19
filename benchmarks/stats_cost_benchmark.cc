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
//   interval_ms        mean FinishInterval time, and its parts
//                      (GradientStatistics::IntervalCost): interval_zero_ms
//                      (segments without a gradient), interval_allreduce_ms
//                      (copy and all-reduce: 0 on one rank),
//                      interval_norms_ms (the fused window norms),
//                      interval_gather_ms (every rank's statistics)
//   fraction_accumulate accumulate_ms / step_ms_plain
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
#include <functional>
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

double MeanMs(const std::vector<int64_t>& ns) {
  double sum = 0;
  for (int64_t t : ns) sum += static_cast<double>(t);
  return ns.empty() ? 0 : sum * 1e-6 / static_cast<double>(ns.size());
}

// The two harnesses of BM_StatsCost, their batch and their clocks.
struct PairedRun {
  int interval = 10;
  int batch = 64;
  std::unique_ptr<comm::FakeCommunicator> comm;
  StepHarness plain, with;
  at::Tensor images, labels;
  std::vector<bool> trained;
  int64_t interval_index = 0;
  int64_t step = 0;
  // Per measured step or interval.
  std::vector<int64_t> plain_ns, with_ns, accumulate_ns, interval_ns;
  // FinishInterval's parts (GradientStatistics::IntervalCost).
  std::vector<int64_t> zero_ns, all_reduce_ns, norms_ns, gather_ns;
};

std::unique_ptr<PairedRun> MakePairedRun(int interval) {
  auto run = std::make_unique<PairedRun>();
  run->interval = interval;
  run->batch = absl::GetFlag(FLAGS_stats_batch);
  at::set_num_threads(absl::GetFlag(FLAGS_stats_threads));
  constexpr int kClasses = 5;
  run->comm = std::move(comm::FakeCommunicator::CreateWorld(1)[0]);
  const std::string model = absl::GetFlag(FLAGS_stats_model);
  run->plain = MakeStepHarnessOrDie(*run->comm, model, kClasses, false, 1);
  run->with = MakeStepHarnessOrDie(*run->comm, model, kClasses, true,
                                   absl::GetFlag(FLAGS_stats_window));
  at::Generator gen = at::make_generator<at::CPUGeneratorImpl>(42);
  run->images = at::randn({run->batch, 3, 32, 32}, gen);
  run->labels = at::randint(0, kClasses, {run->batch}, gen);
  run->trained.assign(run->with.model->num_units(), true);
  return run;
}

// FinishInterval of B, timed as a whole and by part when `measured`.
void FinishInterval(PairedRun& r, bool measured) {
  const int64_t t0 = NowNs();
  auto s = r.with.stats->FinishInterval(
      r.interval_index, r.step + 1 - r.interval, r.step, 0, 0.5);
  if (!s.ok()) {
    std::fprintf(stderr, "%s\n", s.status().ToString().c_str());
    std::abort();
  }
  ++r.interval_index;
  benchmark::DoNotOptimize(s->global.data());
  if (!measured) return;
  r.interval_ns.push_back(NowNs() - t0);
  const GradientStatistics::IntervalCost& c =
      r.with.stats->last_interval_cost();
  r.zero_ns.push_back(c.zero_ns);
  r.all_reduce_ns.push_back(c.all_reduce_ns);
  r.norms_ns.push_back(c.norms_ns);
  r.gather_ns.push_back(c.gather_ns);
}

// One step of A or B, timed.
void PairedStep(PairedRun& r, bool run_plain) {
  const int64_t t0 = NowNs();
  if (run_plain) {
    StepOrDie(r.plain, r.images, r.labels);
    r.plain_ns.push_back(NowNs() - t0);
    return;
  }
  const StepReport rep = StepOrDie(r.with, r.images, r.labels);
  r.with.stats->EndStep(r.batch, rep.loss * r.batch, r.trained);
  r.with_ns.push_back(NowNs() - t0);
  r.accumulate_ns.push_back(rep.stats_ns);
}

void ReportStatsCost(const PairedRun& r, int pairs, benchmark::State& state) {
  const double plain_ms = MedianMs(r.plain_ns);
  const double with_ms = MedianMs(r.with_ns);
  const double acc_ms = MedianMs(r.accumulate_ns);
  const double interval_ms = MeanMs(r.interval_ns);
  const int t = r.interval;
  state.counters["step_ms_plain"] = plain_ms;
  state.counters["step_ms_stats"] = with_ms;
  state.counters["accumulate_ms"] = acc_ms;
  state.counters["interval_ms"] = interval_ms;
  state.counters["interval_zero_ms"] = MeanMs(r.zero_ns);
  state.counters["interval_allreduce_ms"] = MeanMs(r.all_reduce_ns);
  state.counters["interval_norms_ms"] = MeanMs(r.norms_ns);
  state.counters["interval_gather_ms"] = MeanMs(r.gather_ns);
  state.counters["fraction_direct"] =
      plain_ms > 0 ? (acc_ms + interval_ms / t) / plain_ms : 0;
  state.counters["fraction_accumulate"] = plain_ms > 0 ? acc_ms / plain_ms : 0;
  state.counters["fraction_ab"] =
      plain_ms > 0 ? (with_ms + interval_ms / t - plain_ms) / plain_ms : 0;
  state.counters["steps_each"] = static_cast<double>(pairs);
}

void BM_StatsCost(benchmark::State& state) {
  const int interval = static_cast<int>(state.range(0));
  const int pairs =
      interval * std::max(1, absl::GetFlag(FLAGS_stats_intervals));
  const int warmup = std::max(0, absl::GetFlag(FLAGS_stats_warmup));
  std::unique_ptr<PairedRun> run = MakePairedRun(interval);
  for (auto _ : state) {
    for (int i = 0; i < warmup; ++i) {
      PairedStep(*run, true);
      PairedStep(*run, false);
    }
    // Measured intervals start afresh; warm-up times are not kept.
    if (warmup > 0) FinishInterval(*run, false);
    for (auto* v : {&run->plain_ns, &run->with_ns, &run->accumulate_ns,
                    &run->interval_ns, &run->zero_ns, &run->all_reduce_ns,
                    &run->norms_ns, &run->gather_ns}) {
      v->clear();
    }
    const int64_t start = NowNs();
    for (int i = 0; i < pairs; ++i, ++run->step) {
      // Alternate which harness goes first, so neither always follows the
      // other's cache footprint.
      for (int turn = 0; turn < 2; ++turn) {
        PairedStep(*run, (turn == 0) == (i % 2 == 0));
      }
      if ((i + 1) % interval == 0) FinishInterval(*run, true);
    }
    state.SetIterationTime(static_cast<double>(NowNs() - start) * 1e-9);
    ReportStatsCost(*run, pairs, state);
  }
}

// BM_AccumulateFusion's parameters: ResNet-18's (or --stats_model's) shapes
// with random gradients, the statistics, the optimizer, and the prototype's
// own momentum buffers and flat accumulator.
struct FusionRig {
  std::vector<at::Tensor> params;
  std::unique_ptr<comm::FakeCommunicator> comm;
  std::unique_ptr<GradientStatistics> stats;
  std::unique_ptr<train::Sgd> sgd;
  std::vector<at::Tensor> bufs;
  at::Tensor acc;  // the prototype's and the per-parameter ATen adds'
};

std::unique_ptr<FusionRig> MakeFusionRig() {
  auto rig = std::make_unique<FusionRig>();
  at::manual_seed(1);
  train::ModelConfig mc;
  mc.name = absl::GetFlag(FLAGS_stats_model);
  mc.num_classes = 5;
  auto model = train::MakeModel(mc);
  if (!model.ok()) std::abort();
  train::StatsLayout layout;
  layout.num_units = 1;
  int64_t total = 0;
  for (const at::Tensor& p : (*model)->parameters()) {
    at::Tensor q = p.detach().clone();
    q.mutable_grad() = at::randn_like(q);
    rig->params.push_back(q);
    rig->bufs.push_back(at::zeros_like(q));
    layout.param_numel.push_back(q.numel());
    layout.param_unit.push_back(0);
    total += q.numel();
  }
  rig->comm = std::move(comm::FakeCommunicator::CreateWorld(1)[0]);
  auto stats = GradientStatistics::Create(layout, 1, rig->comm.get());
  if (!stats.ok()) std::abort();
  rig->stats = std::move(*stats);
  rig->sgd =
      std::make_unique<train::Sgd>(rig->params, train::SgdOptions{0.9, 1e-4});
  rig->sgd->Step(1e-3);  // allocates the momentum buffers
  rig->acc = at::zeros({total}, at::kFloat);
  return rig;
}

// The accumulation before issue 17: one ATen add_ per parameter into a
// narrowed flat accumulator (dispatch and a parallel region each).
void AtenAccumulate(FusionRig& rig) {
  at::NoGradGuard no_grad;
  int64_t off = 0;
  for (const at::Tensor& p : rig.params) {
    rig.acc.narrow(0, off, p.numel()).add_(p.grad().reshape({-1}));
    off += p.numel();
  }
}

// The prototype: accumulation and the SGD update in one pass, block by
// block (16 KiB): acc += g, then the same update as Sgd's fused loop on the
// block, whose gradient is then in L1.
void FusedPrototype(FusionRig& rig) {
  const float lr = 1e-3f, m = 0.9f, wd = 1e-4f;
  int64_t off = 0;
  for (size_t i = 0; i < rig.params.size(); ++i) {
    float* p = rig.params[i].data_ptr<float>();
    float* g = rig.params[i].mutable_grad().data_ptr<float>();
    float* b = rig.bufs[i].data_ptr<float>();
    float* a = rig.acc.data_ptr<float>() + off;
    const int64_t n = rig.params[i].numel();
    at::parallel_for(0, n, 1 << 15, [&](int64_t begin, int64_t end) {
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
}

// The accumulation alone, and what fusing it into the optimizer's pass would
// leave of it: over the model's parameters with random gradients, in turn,
//   sgd          train::Sgd::Step (one fused pass; it clears the gradients)
//   sgd_plus_acc GradientStatistics::AccumulateLocal of every parameter (as
//                the reducer's observer calls it), then Sgd::Step
//   sgd_plus_aten the accumulation as it was before issue 17 (AtenAccumulate),
//                then Sgd::Step
//   fused        FusedPrototype
// Counters: medians in ms; acc_separate_ms = sgd_plus_acc - sgd,
// acc_aten_ms = sgd_plus_aten - sgd, acc_fused_ms = fused - sgd: what
// statistics cost per step each way.
void BM_AccumulateFusion(benchmark::State& state) {
  at::set_num_threads(absl::GetFlag(FLAGS_stats_threads));
  std::unique_ptr<FusionRig> rig = MakeFusionRig();
  auto refill = [&] {
    at::NoGradGuard no_grad;
    for (at::Tensor& p : rig->params) p.mutable_grad().normal_();
  };
  const std::vector<std::function<void()>> variants = {
      [&] { rig->sgd->Step(1e-3); },
      [&] {
        for (size_t i = 0; i < rig->params.size(); ++i) {
          rig->stats->AccumulateLocal(static_cast<int>(i),
                                      rig->params[i].grad());
        }
        rig->sgd->Step(1e-3);
      },
      [&] {
        AtenAccumulate(*rig);
        rig->sgd->Step(1e-3);
      },
      [&] { FusedPrototype(*rig); }};
  const int reps = std::max(3, absl::GetFlag(FLAGS_stats_intervals) * 10);
  const int n = static_cast<int>(variants.size());
  for (auto _ : state) {
    std::vector<std::vector<int64_t>> t(n);
    for (int r = 0; r < reps; ++r) {
      for (int turn = 0; turn < n; ++turn) {
        refill();  // gradients as backward leaves them, not in cache
        const int which = (turn + r) % n;
        const int64_t t0 = NowNs();
        variants[which]();
        t[which].push_back(NowNs() - t0);
      }
    }
    const double sgd = MedianMs(t[0]);
    state.counters["sgd_ms"] = sgd;
    state.counters["sgd_plus_acc_ms"] = MedianMs(t[1]);
    state.counters["sgd_plus_aten_ms"] = MedianMs(t[2]);
    state.counters["fused_ms"] = MedianMs(t[3]);
    state.counters["acc_separate_ms"] = MedianMs(t[1]) - sgd;
    state.counters["acc_aten_ms"] = MedianMs(t[2]) - sgd;
    state.counters["acc_fused_ms"] = MedianMs(t[3]) - sgd;
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
