// Replay speed (issue 6): a 50-epoch × 400-step trace of a 10-unit model
// (ResNet-18's children, 2 ranks, T = 10; synthesized in memory by
// trace/synthetic_trace.h, with no freezing so that every policy replays
// exactly) against 10 policies × 5 networks, in one RunReplay: the target is
// < 1 s on one core. Counters: `steps` = steps simulated per second (50
// cases × 20 000 steps per iteration), `cases` per second.
//
//   bazel run //benchmarks:replay_benchmark
//   bazel run //benchmarks:replay_benchmark -- --benchmark_format=json
//
// BM_PrepareTrace measures the one-time preparation of the trace
// (sim::FitTrace: the RecordedRun and the cost model fitted on it),
// BM_Schedules the policies alone (the freeze/ Freezer over 2 000 base
// intervals each).
#include <string>
#include <vector>

#include "benchmark/benchmark.h"
#include "replay/case_list.h"
#include "replay/replay.h"
#include "sim/cost_model.h"
#include "sim/schedule.h"
#include "trace/synthetic_trace.h"
#include "trace/trace_reader.h"

namespace freezing {
namespace {

const trace::TraceContents& Contents() {
  static const trace::TraceContents* contents = [] {
    trace::SyntheticTraceOptions o;
    o.units = 10;
    o.ranks = 2;
    o.stats_interval = 10;
    o.stats_window = 4;
    o.steps_per_epoch = 400;
    o.epochs = 50;
    o.freeze_every_intervals = 0;
    return new trace::TraceContents(trace::ReadTraceFromBytes(
        trace::EncodeTrace(trace::MakeSyntheticTrace(o)), "synthetic"));
  }();
  return *contents;
}

const sim::CostModel& Model() {
  static const sim::CostModel* model =
      new sim::CostModel(*sim::FitTrace(Contents()));
  return *model;
}

const std::vector<std::string>& Policies() {
  static const auto* policies =
      new std::vector<std::string>{"none",
                                   "static:3",
                                   "gradnorm",
                                   "gradnorm:variant=prefix",
                                   "autofreeze",
                                   "autofreeze@majority",
                                   "threshold",
                                   "freezeout",
                                   "pipetransformer",
                                   "apf"};
  return *policies;
}

replay::ReplayOptions Options() {
  replay::ReplayOptions o;
  for (const std::string& p : Policies()) {
    o.policies.push_back((*replay::ParsePolicies(p, Model()))[0]);
  }
  o.networks = {"recorded", "1gbe", "10gbe", "ib100",
                "hier:ranks_per_node=4,intra_alpha_us=2,intra_gbps=100,"
                "inter_alpha_us=20,inter_gbps=10"};
  o.world_sizes = {0};
  return o;
}

void BM_Replay(benchmark::State& state) {
  const sim::CostModel& model = Model();
  const replay::ReplayOptions options = Options();
  const int64_t cases =
      static_cast<int64_t>(options.policies.size() * options.networks.size());
  for (auto _ : state) {
    auto report = replay::RunReplay(model, options);
    if (!report.ok()) {
      state.SkipWithError(std::string(report.status().message()).c_str());
      return;
    }
    benchmark::DoNotOptimize(report->results.back().timing.phases.total_ns);
  }
  state.counters["steps"] = benchmark::Counter(
      static_cast<double>(cases * model.run().num_steps() * state.iterations()),
      benchmark::Counter::kIsRate);
  state.counters["cases"] =
      benchmark::Counter(static_cast<double>(cases * state.iterations()),
                         benchmark::Counter::kIsRate);
  state.counters["trace_steps"] = static_cast<double>(model.run().num_steps());
}
BENCHMARK(BM_Replay)->Unit(benchmark::kMillisecond)->UseRealTime();

void BM_Schedules(benchmark::State& state) {
  const sim::CostModel& model = Model();
  for (auto _ : state) {
    for (const std::string& p : Policies()) {
      const replay::PolicyCase c = (*replay::ParsePolicies(p, model))[0];
      auto s = sim::ComputeSchedule(model.run(), c.spec, c.vote_rule);
      if (!s.ok()) {
        state.SkipWithError(std::string(s.status().message()).c_str());
        return;
      }
      benchmark::DoNotOptimize(s->events.size());
    }
  }
  state.counters["intervals"] = benchmark::Counter(
      static_cast<double>(Policies().size() * model.run().intervals.size() *
                          state.iterations()),
      benchmark::Counter::kIsRate);
}
BENCHMARK(BM_Schedules)->Unit(benchmark::kMillisecond);

void BM_PrepareTrace(benchmark::State& state) {
  const trace::TraceContents& contents = Contents();
  for (auto _ : state) {
    auto m = sim::FitTrace(contents);
    benchmark::DoNotOptimize(m.ok());
  }
  state.counters["steps"] = benchmark::Counter(
      static_cast<double>(contents.steps.size() * state.iterations()),
      benchmark::Counter::kIsRate);
}
BENCHMARK(BM_PrepareTrace)->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace freezing

BENCHMARK_MAIN();
