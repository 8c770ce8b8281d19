#include "replay/validation.h"

#include <algorithm>
#include <memory>
#include <optional>
#include <utility>

#include "absl/strings/str_cat.h"
#include "sim/network.h"
#include "sim/prediction_interval.h"
#include "sim/schedule.h"
#include "sim/simulator.h"
#include "sim/validation_models.h"
#include "trace/trace.pb.h"

namespace freezing::replay {
namespace {

double ErrorFraction(int64_t predicted, int64_t measured) {
  return measured != 0 ? static_cast<double>(predicted - measured) /
                             static_cast<double>(measured)
                       : 0.0;
}

// Predicted phases against the recorded ones of steps [first, last].
std::vector<PhaseError> ComparePhases(const sim::PhaseTotals& p,
                                      const sim::CostModel& model,
                                      int64_t first, int64_t last) {
  trace::PhaseTimes m;
  for (int64_t s = first; s <= last; ++s) {
    const trace::PhaseTimes& r = model.run().steps[s].phases;
    m.set_data_ns(m.data_ns() + r.data_ns());
    m.set_forward_ns(m.forward_ns() + r.forward_ns());
    m.set_backward_ns(m.backward_ns() + r.backward_ns());
    m.set_comm_exposed_ns(m.comm_exposed_ns() + r.comm_exposed_ns());
    m.set_optimizer_ns(m.optimizer_ns() + r.optimizer_ns());
    m.set_stats_ns(m.stats_ns() + r.stats_ns());
    m.set_other_ns(m.other_ns() + r.other_ns());
    m.set_total_ns(m.total_ns() + r.total_ns());
  }
  std::vector<PhaseError> out;
  auto add = [&](const char* name, int64_t predicted, int64_t measured) {
    out.push_back(
        {name, predicted, measured, ErrorFraction(predicted, measured)});
  };
  add("data", p.data_ns, m.data_ns());
  add("forward", p.forward_ns, m.forward_ns());
  add("backward", p.backward_ns, m.backward_ns());
  add("comm_exposed", p.comm_exposed_ns, m.comm_exposed_ns());
  add("optimizer", p.optimizer_ns, m.optimizer_ns());
  add("stats", p.stats_ns, m.stats_ns());
  add("other", p.other_ns, m.other_ns());
  add("total", p.total_ns, m.total_ns());
  return out;
}

// The run's own network: what it measured (`recorded`), or nothing to
// model on one rank.
absl::StatusOr<std::unique_ptr<sim::NetworkModel>> OwnNetwork(
    const sim::CostModel& m) {
  return sim::MakeNetworkModel(m.run().world_size > 1 ? "recorded" : "1gbe",
                               m.network_context());
}

absl::StatusOr<sim::TimingResult> Simulate(const sim::CostModel& m,
                                           const sim::FreezeSchedule& schedule,
                                           int64_t report_from_step) {
  auto net = OwnNetwork(m);
  if (!net.ok()) return net.status();
  sim::TimingOptions o;
  o.world_size = m.run().world_size;
  // The recorded run's cache, if it had one.
  o.cache = m.run().header.config().cache();
  o.report_from_step = report_from_step;
  return sim::SimulateTiming(m, schedule, **net, o);
}

// The interval of a prediction by `m` and whether `measured_ns` is in it.
void Bracket(const sim::CostModel& m, const sim::TimingResult& t,
             int64_t measured_ns, sim::PredictionInterval& interval,
             bool& inside) {
  interval = sim::MakePredictionInterval(m, sim::StepVariability::Of(m), t, 0);
  inside = interval.Contains(measured_ns);
}

// HeldOutCheck::step_time_drift_fraction of the steps from `split` on
// against the fitted steps [first, split).
std::optional<double> StepTimeDrift(const sim::CostModel& model, int64_t first,
                                    int64_t split) {
  const size_t sets = model.run().recorded_sets.size();
  std::vector<int64_t> in_sum(sets, 0), in_count(sets, 0);
  std::vector<int64_t> out_sum(sets, 0), out_count(sets, 0);
  const int64_t t = std::max(1, model.run().stats_interval);
  for (int64_t s = first; s < model.run().num_steps(); ++s) {
    if ((s + 1) % t == 0) continue;  // interval work: not every step's
    const sim::RecordedStep& r = model.run().steps[s];
    if (s < split) {
      in_sum[r.frozen_set] += r.phases.total_ns();
      ++in_count[r.frozen_set];
    } else {
      out_sum[r.frozen_set] += r.phases.total_ns();
      ++out_count[r.frozen_set];
    }
  }
  double measured = 0, level = 0;
  for (size_t k = 0; k < sets; ++k) {
    if (in_count[k] == 0 || out_count[k] == 0) continue;
    measured += static_cast<double>(out_sum[k]);
    level +=
        static_cast<double>(out_count[k]) *
        (static_cast<double>(in_sum[k]) / static_cast<double>(in_count[k]));
  }
  if (!(level > 0)) return std::nullopt;
  return measured / level - 1.0;
}

void Fill(const sim::PhaseTotals& p, const sim::CostModel& model, int64_t first,
          PredictionCheck& c) {
  c.first_step = first;
  c.last_step = model.run().num_steps() - 1;
  c.phases = ComparePhases(p, model, c.first_step, c.last_step);
  c.predicted_ns = p.total_ns;
  c.measured_ns = c.phases.back().measured_ns;
  c.error_fraction = ErrorFraction(c.predicted_ns, c.measured_ns);
}

// The held-out prediction of `v`'s run (or a note saying why there is
// none).
void HeldOut(const sim::CostModel& model, const sim::FreezeSchedule& s,
             double held_in_fraction, Validation& v) {
  auto split = sim::HeldOutSplit(model.run(), held_in_fraction);
  if (!split.ok()) {
    v.notes.push_back(std::string(split.status().message()));
    return;
  }
  auto held = sim::HeldOutCostModel(model.shared_run(), *split);
  absl::StatusOr<sim::TimingResult> p =
      held.ok() ? Simulate(*held, s, *split) : held.status();
  if (!p.ok()) {
    v.notes.push_back(
        absl::StrCat("no held-out validation: ", p.status().message()));
    return;
  }
  HeldOutCheck c;
  Fill(p->phases, model, *split, c);
  Bracket(*held, *p, c.measured_ns, c.interval, c.inside);
  c.fit_first_step = held->fit_first_step();
  c.fit_steps = *split;
  c.step_time_drift_fraction = StepTimeDrift(model, c.fit_first_step, *split);
  for (int64_t t = 0; t < *split; ++t) {
    c.held_in_measured_ns += model.run().steps[t].phases.total_ns();
  }
  v.error_fraction = c.error_fraction;
  v.held_out = std::move(c);
}

// The model-only prediction of `v`'s run (or a note saying why there is
// none).
void ModelOnly(const sim::CostModel& model, const sim::FreezeSchedule& s,
               Validation& v) {
  auto blind = sim::ProfileOnlyCostModel(model.shared_run());
  absl::StatusOr<sim::TimingResult> p =
      blind.ok() ? Simulate(*blind, s, 0) : blind.status();
  if (!p.ok()) {
    v.notes.push_back(std::string(p.status().message()));
    return;
  }
  ModelOnlyCheck c;
  Fill(p->phases, model, 0, c);
  Bracket(*blind, *p, c.measured_ns, c.interval, c.inside);
  c.overlap = blind->recorded_overlap();
  c.run_over_profile_forward = model.forward_calibration();
  c.run_over_profile_backward = model.backward_calibration();
  c.run_over_profile_optimizer = model.optimizer_calibration();
  v.model_only = std::move(c);
}

}  // namespace

absl::StatusOr<Validation> Validate(const sim::CostModel& model,
                                    double held_in_fraction) {
  if (!(held_in_fraction > 0 && held_in_fraction < 1)) {
    return absl::InvalidArgumentError(
        absl::StrCat("--held_in_fraction=", held_in_fraction,
                     ": valid values are in (0, 1)"));
  }
  Validation v;
  v.policy = model.run().policy;
  v.vote_rule = model.run().vote_rule;
  v.world_size = model.run().world_size;
  v.held_in_fraction = held_in_fraction;
  auto net = OwnNetwork(model);
  if (!net.ok()) {
    return absl::Status(net.status().code(),
                        absl::StrCat("--validate: ", net.status().message()));
  }
  v.network = model.run().world_size > 1 ? (*net)->spec() : "none (1 rank)";
  // The schedule comes from the recorded gradient statistics, not from
  // timings: every prediction below replays the same one.
  auto s = sim::ComputeSchedule(model.run(), model.run().policy,
                                model.run().vote_rule);
  if (!s.ok()) {
    return absl::Status(s.status().code(),
                        absl::StrCat("--validate: ", s.status().message()));
  }
  v.schedule_matches = s->same_as_recorded;

  // Exact replay.
  auto exact = Simulate(model, *s, 0);
  if (!exact.ok()) return exact.status();
  v.predicted_ns = exact->phases.total_ns;
  v.measured_ns = model.run().measured_total_ns;
  v.exact_replay_error_fraction = ErrorFraction(v.predicted_ns, v.measured_ns);
  v.phases =
      ComparePhases(exact->phases, model, 0, model.run().num_steps() - 1);
  Bracket(model, *exact, v.measured_ns, v.interval, v.inside);

  HeldOut(model, *s, held_in_fraction, v);
  ModelOnly(model, *s, v);
  return v;
}

}  // namespace freezing::replay
