#include "benchmarks/step_harness.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <utility>

#include "absl/status/status.h"
#include "train/models/model_factory.h"

namespace freezing::benchmarks {
namespace {

void OrDie(const absl::Status& s) {
  if (!s.ok()) {
    std::fprintf(stderr, "%s\n", s.ToString().c_str());
    std::abort();
  }
}

}  // namespace

double MedianMs(std::vector<int64_t> ns) {
  if (ns.empty()) return 0;
  std::sort(ns.begin(), ns.end());
  const size_t n = ns.size();
  const double mid = n % 2 == 1
                         ? static_cast<double>(ns[n / 2])
                         : 0.5 * static_cast<double>(ns[n / 2 - 1] + ns[n / 2]);
  return mid * 1e-6;
}

StepHarness MakeStepHarnessOrDie(comm::Communicator& comm,
                                 const std::string& model, int num_classes,
                                 bool with_stats, int stats_window) {
  StepHarness h;
  at::manual_seed(1);
  train::ModelConfig mc;
  mc.name = model;
  mc.num_classes = num_classes;
  auto m = train::MakeModel(mc);
  OrDie(m.status());
  h.model = *m;
  const std::vector<at::Tensor> params = h.model->parameters();
  auto reducer = comm::GradientReducer::Create(
      &comm, params, h.model->parameter_names(), comm::ReducerOptions());
  OrDie(reducer.status());
  h.reducer = std::move(*reducer);
  h.sgd = std::make_unique<train::Sgd>(params, train::SgdOptions{0.9, 1e-4});
  if (with_stats) {
    train::StatsLayout layout;
    layout.num_units = h.model->num_units();
    layout.param_unit.assign(params.size(), 0);
    for (int u = 0; u < h.model->num_units(); ++u) {
      for (int p : h.model->unit(u).params) layout.param_unit[p] = u;
    }
    for (const at::Tensor& p : params) layout.param_numel.push_back(p.numel());
    auto stats = train::GradientStatistics::Create(layout, stats_window, &comm);
    OrDie(stats.status());
    h.stats = std::move(*stats);
  }
  h.runner = std::make_unique<train::StepRunner>(h.model.get(), h.reducer.get(),
                                                 h.sgd.get(), h.stats.get());
  return h;
}

}  // namespace freezing::benchmarks
