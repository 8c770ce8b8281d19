#include "sim/simulator.h"

#include <algorithm>
#include <cmath>
#include <optional>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "base/status_macros.h"
#include "comm/bucket_plan.h"
#include "sim/cache_model.h"
#include "sim/nanoseconds.h"
#include "sim/rank_skew.h"

namespace freezing::sim {
namespace {

// Everything about one frozen set that does not change from step to step.
struct SetPlan {
  UnitStates states;
  int recorded_set = -1;  // the same set among the recorded ones, or -1
  int boundary = -1;      // last unit of the frozen prefix, -1 none
  std::vector<int64_t> bucket_bytes;
  std::vector<int64_t> bucket_ns;
  int64_t bucket_ns_total = 0;   // sum of bucket_ns
  std::vector<int> bucket_gate;  // unit whose backward makes it ready
  // Its last gradient is ready after num/den of the gate unit's backward.
  std::vector<int64_t> bucket_ready_num;
  std::vector<int64_t> bucket_ready_den;
  int64_t grad_bytes = 0;
  int64_t trainable_params = 0;
  int64_t optimizer_ns = 0;          // when no recorded step has this set
  bool optimizer_from_line = false;  // optimizer_ns is the profile's line
  int64_t accumulate_ns = 0;         // estimate
  int64_t interval_comm_ns = 0;      // all-reduce of the accumulators
};

// The DDP buckets of `frozen` (comm::BucketPlan, the trainer's reducer's
// plan) and when each is ready: within a unit, gradients become ready in
// reverse registration order, spread over the unit's backward in
// proportion to their elements.
void PlanBuckets(const RecordedRun& run, const std::vector<bool>& frozen,
                 const NetworkModel& network, int world_size, SetPlan& plan) {
  const int n = run.num_units;
  std::vector<comm::TensorSpec> tensors = run.tensors;
  for (size_t t = 0; t < tensors.size(); ++t) {
    tensors[t].trainable = !frozen[run.tensor_unit[t]];
  }
  const comm::BucketPlan buckets =
      comm::BucketPlan::Build(tensors, run.plan_options);
  // reverse_cum[t] = elements of t and of its unit's later tensors.
  std::vector<int64_t> reverse_cum(tensors.size(), 0);
  std::vector<int64_t> unit_numel(n, 0);
  for (size_t i = tensors.size(); i-- > 0;) {
    const int u = run.tensor_unit[i];
    unit_numel[u] += tensors[i].numel;
    reverse_cum[i] = unit_numel[u];
  }
  for (const comm::Bucket& b : buckets.buckets()) {
    int gate = n - 1;
    for (int t : b.tensors) gate = std::min(gate, run.tensor_unit[t]);
    int64_t num = 0, den = unit_numel[gate];
    for (int t : b.tensors) {
      if (run.tensor_unit[t] == gate) num = std::max(num, reverse_cum[t]);
    }
    if (den <= 0) num = den = 1;
    plan.bucket_bytes.push_back(b.bytes);
    plan.bucket_gate.push_back(gate);
    plan.bucket_ready_num.push_back(num);
    plan.bucket_ready_den.push_back(den);
    plan.bucket_ns.push_back(network.AllReduceNs(b.bytes, world_size));
    plan.bucket_ns_total += plan.bucket_ns.back();
  }
  plan.grad_bytes = world_size > 1 ? buckets.total_bytes() : 0;
}

SetPlan BuildPlan(const CostModel& costs, const std::vector<bool>& frozen,
                  const NetworkModel& network, int world_size,
                  bool fold_prefix) {
  const RecordedRun& run = costs.run();
  SetPlan plan;
  plan.states = StatesOf(frozen, fold_prefix);
  plan.boundary = plan.states.first_trainable - 1;
  for (size_t r = 0; r < run.recorded_sets.size(); ++r) {
    if (run.recorded_sets[r] == frozen) plan.recorded_set = static_cast<int>(r);
  }
  PlanBuckets(run, frozen, network, world_size, plan);
  plan.trainable_params = run.TrainableParams(frozen);
  plan.optimizer_ns =
      costs.OptimizerNs(plan.recorded_set, plan.trainable_params);
  plan.optimizer_from_line = costs.OptimizerFromLine(plan.recorded_set);
  plan.accumulate_ns = costs.AccumulateNs(plan.trainable_params);
  std::vector<bool> trained(run.num_units);
  for (int u = 0; u < run.num_units; ++u) trained[u] = !frozen[u];
  plan.interval_comm_ns =
      run.AccumulatorAllReduceNs(trained, network, world_size);
  return plan;
}

// When each bucket of `plan` is ready, from the start of backward: when
// its gate unit's backward has passed its last gradient. `unit_bwd` and
// `end` hold the units' backward durations and end offsets.
void BucketReady(const SetPlan& plan, const std::vector<int64_t>& unit_bwd,
                 const std::vector<int64_t>& end, std::vector<int64_t>& ready) {
  ready.resize(plan.bucket_ns.size());
  for (size_t b = 0; b < plan.bucket_ns.size(); ++b) {
    const int g = plan.bucket_gate[b];
    // 128-bit: a long backward times a large unit's element count may
    // exceed 64 bits.
    ready[b] = end[g] - unit_bwd[g] +
               static_cast<int64_t>(static_cast<__int128>(unit_bwd[g]) *
                                    plan.bucket_ready_num[b] /
                                    plan.bucket_ready_den[b]);
  }
}

// The one-channel all-reduce schedule of one step (AllReduceChannel over
// BucketReady; `ready` is scratch): the time the last all-reduce is done,
// from the start of backward; `out`, when given, gets {bytes, start, done}
// per bucket.
int64_t ScheduleBuckets(const SetPlan& plan,
                        const std::vector<int64_t>& unit_bwd,
                        const std::vector<int64_t>& end, int64_t backward_wall,
                        double overlap, std::vector<int64_t>& ready,
                        std::vector<std::array<int64_t, 3>>* out) {
  BucketReady(plan, unit_bwd, end, ready);
  return AllReduceChannel(ready, plan.bucket_ns, plan.bucket_bytes,
                          backward_wall, overlap, out);
}

// What each recorded step waited beyond the model of its own configuration
// on `network` at the recorded world size (see simulator.h), per byte of
// gradient the step all-reduced: a replayed step waits that rate times its
// own gradient bytes, so that a step which all-reduces nothing (everything
// frozen) waits nothing and the recorded configuration waits what it
// waited. Steps from costs.measured_steps() on carry predictions, not
// measurements: they get the measured steps' rate (their waits over their
// bytes, from costs.fit_first_step() on; none when there are none).
std::vector<double> RecordedWaitPerByte(const CostModel& costs,
                                        const NetworkModel& network) {
  const RecordedRun& run = costs.run();
  const int n = run.num_units;
  std::vector<std::optional<SetPlan>> plans(run.recorded_sets.size());
  std::vector<double> rate(run.num_steps(), 0);
  std::vector<int64_t> unit_bwd(n), end(n), ready;
  const int64_t measured = costs.measured_steps();
  const int64_t mean_from = std::min(measured, costs.fit_first_step());
  double wait_sum = 0, bytes_sum = 0;
  for (int64_t s = 0; s < measured; ++s) {
    const RecordedStep& rs = run.steps[s];
    std::optional<SetPlan>& plan = plans[rs.frozen_set];
    if (!plan.has_value()) {
      plan = BuildPlan(costs, run.recorded_sets[rs.frozen_set], network,
                       run.world_size, run.fold_frozen);
    }
    int64_t t = 0;
    std::fill(unit_bwd.begin(), unit_bwd.end(), 0);
    for (int u = n - 1; u >= plan->states.first_trainable; --u) {
      unit_bwd[u] = rs.units[u].backward_ns;
      t += unit_bwd[u];
      end[u] = t;
    }
    const int64_t done = ScheduleBuckets(*plan, unit_bwd, end, t,
                                         network.Overlap(), ready, nullptr);
    const int64_t modelled = std::max<int64_t>(0, done - t);
    const int64_t wait = rs.phases.comm_exposed_ns() - modelled;
    const double bytes = static_cast<double>(plan->grad_bytes);
    rate[s] = bytes > 0 ? static_cast<double>(wait) / bytes : 0;
    if (s >= mean_from) {
      wait_sum += static_cast<double>(wait);
      bytes_sum += bytes;
    }
  }
  if (measured < run.num_steps()) {
    std::fill(rate.begin() + measured, rate.end(),
              bytes_sum > 0 ? wait_sum / bytes_sum : 0);
  }
  return rate;
}

// The activation cache the options ask for, or none (with a note saying
// why no step can hit).
std::optional<CacheModel> MakeCache(const RecordedRun& run,
                                    const TimingOptions& options,
                                    int64_t steps_per_epoch,
                                    std::vector<std::string>& notes) {
  if (!options.cache) return std::nullopt;
  int variants = options.augment_variants >= 0 ? options.augment_variants
                                               : run.augment_variants;
  if (!run.header.config().augment()) variants = 1;
  if (variants <= 0) {
    notes.push_back(
        "cache: no step can hit, the recorded run's augmentation is random "
        "(--augment_variants=0); replay with --augment_variants=K to assume K "
        "fixed variants per sample");
    return std::nullopt;
  }
  if (!(run.profile.cache_read_ns_per_element > 0)) {
    notes.push_back(
        "cache: the trace has no measured cache read cost; reads cost 0");
  }
  CacheModel::Options o;
  o.read_ns_per_element = run.profile.cache_read_ns_per_element;
  o.output_elements = run.unit_output_elements;
  o.batch_size = run.batch_size;
  o.steps_per_epoch = steps_per_epoch;
  o.variants = variants;
  return CacheModel(std::move(o));
}

// One simulated step; vectors are per unit.
struct StepTiming {
  int64_t data_ns = 0;
  int64_t forward_ns = 0;
  int64_t cache_ns = 0;
  int cached_through = -1;  // last unit whose forward the cache replaced
  int64_t backward_ns = 0;  // wall time, accumulation included
  int64_t accumulate_ns = 0;
  int64_t exposed_ns = 0;  // recorded wait included
  int64_t wait_ns = 0;
  int64_t comm_total_ns = 0;
  int64_t bytes_allreduced = 0;
  int64_t optimizer_ns = 0;
  int64_t optimizer_line_ns = 0;  // of optimizer_ns, from the profile's line
  int64_t interval_ns = 0;
  int64_t other_ns = 0;
  int64_t total_ns = 0;
  std::array<int64_t, 3> cost_by_source = {0, 0, 0};
  std::vector<int64_t> unit_forward_ns;
  std::vector<int64_t> unit_backward_ns;  // 0: not run
  std::vector<int64_t> unit_backward_end_ns;
  std::vector<std::array<int64_t, 3>> buckets;
};

// The steps of one schedule on one cost model and network, in order.
class StepSimulator {
 public:
  // `compute_scale`: every compute cost's factor (SharedCoresFactor);
  // `fold_prefix`: the frozen prefix runs folded.
  StepSimulator(const CostModel& costs, const FreezeSchedule& schedule,
                const NetworkModel& network, int world_size,
                std::optional<CacheModel> cache,
                std::vector<double> wait_per_byte, std::optional<RankSkew> skew,
                double compute_scale, bool fold_prefix)
      : costs_(costs),
        run_(costs.run()),
        schedule_(schedule),
        network_(network),
        world_size_(world_size),
        cache_(std::move(cache)),
        wait_per_byte_(std::move(wait_per_byte)),
        plans_(schedule.sets.size()),
        skew_(std::move(skew)),
        compute_scale_(compute_scale),
        fold_prefix_(fold_prefix) {}

  // Simulate: simulated step `s` (the replayed run's, schedule.steps) into
  // `t`, costed as the recorded step it maps to; its buckets only when
  // `keep_buckets`.
  absl::Status Simulate(int64_t s, bool keep_buckets, StepTiming& t) {
    const StepMap& map = schedule_.steps;
    const int64_t r = map.recorded_step[s];
    const RecordedStep& rs = run_.steps[r];
    const SetPlan& plan = Plan(schedule_.step_set[s]);
    const StepCosts step = costs_.Step(r);
    t.cost_by_source = {0, 0, 0};
    t.data_ns = Compute(step.data_ns);
    t.other_ns = Compute(step.other_ns);
    RETURN_IF_ERROR(Forward(r, plan, step.loss_forward_ns, map.epoch[s], t));
    RETURN_IF_ERROR(Backward(r, plan, t));
    // Signed (RoundNs would clamp a negative wait to 0).
    t.wait_ns =
        world_size_ > 1 && !wait_per_byte_.empty()
            ? static_cast<int64_t>(std::llround(
                  wait_per_byte_[r] * static_cast<double>(plan.grad_bytes)))
            : 0;
    t.comm_total_ns = plan.bucket_ns_total;
    t.bytes_allreduced = plan.grad_bytes;
    const bool same_set = plan.recorded_set == rs.frozen_set;
    t.accumulate_ns =
        std::min(t.backward_ns,
                 Compute(same_set ? step.accumulate_ns : plan.accumulate_ns));
    t.optimizer_ns = Compute(same_set ? step.optimizer_ns : plan.optimizer_ns);
    t.optimizer_line_ns =
        !same_set && plan.optimizer_from_line ? t.optimizer_ns : 0;
    int64_t interval_compute = 0, interval_comm = 0;
    bool interval_end = false;
    while (next_interval_ < map.num_intervals() &&
           map.interval_last_step[next_interval_] == s) {
      interval_compute += Compute(IntervalCompute(next_interval_++));
      interval_comm += plan.interval_comm_ns;
      interval_end = true;
    }
    t.interval_ns = interval_compute + interval_comm;
    t.buckets.clear();
    BucketReady(plan, t.unit_backward_ns, t.unit_backward_end_ns, ready_);
    if (skew_.has_value()) {
      Skew(s, plan, interval_compute, interval_comm, interval_end, keep_buckets,
           t);
      return absl::OkStatus();
    }
    const int64_t channel_free = AllReduceChannel(
        ready_, plan.bucket_ns, plan.bucket_bytes, t.backward_ns,
        network_.Overlap(), keep_buckets ? &t.buckets : nullptr);
    t.exposed_ns = WithRecordedWait(
        std::max<int64_t>(0, channel_free - t.backward_ns), t.wait_ns);
    t.total_ns = t.data_ns + t.forward_ns + t.backward_ns + t.exposed_ns +
                 t.optimizer_ns + t.interval_ns + t.other_ns;
    return absl::OkStatus();
  }

  double CacheHitShare() const {
    return cache_.has_value() ? cache_->MeanHitShare() : 0;
  }

 private:
  // Compute: `ns` of compute on this world's share of the cores.
  int64_t Compute(int64_t ns) const {
    return compute_scale_ == 1.0
               ? ns
               : RoundNs(static_cast<double>(ns) * compute_scale_);
  }

  const SetPlan& Plan(int set) {
    if (!plans_[set].has_value()) {
      plans_[set] = BuildPlan(costs_, schedule_.sets[set], network_,
                              world_size_, fold_prefix_);
    }
    return *plans_[set];
  }

  absl::Status MissingCost(int u, const char* what) const {
    return absl::FailedPreconditionError(absl::StrCat(
        "unit ", u, " (", run_.units[u].name, ") needs its ", what,
        " cost, which the recorded run never measured and the trace has no "
        "start-up profile for"));
  }

  // Each unit's forward in its state, the loss's, and the cache's reads and
  // writes in place of the frozen prefix's forward; the sums are scaled to
  // the shared cores once (the cache model sees the units' own costs).
  absl::Status Forward(int64_t s, const SetPlan& plan, int64_t loss_ns,
                       int epoch, StepTiming& t) {
    const int n = run_.num_units;
    t.unit_forward_ns.resize(n);
    int64_t prefix = 0, rest = 0;
    for (int u = 0; u < n; ++u) {
      const ForwardState x = plan.states.forward[u];
      const std::optional<UnitCost> cost = costs_.Cost(u, x, s);
      if (!cost.has_value()) {
        return MissingCost(u, ForwardCostName(x));
      }
      t.unit_forward_ns[u] = cost->ns;
      t.cost_by_source[static_cast<int>(cost->source)] += Compute(cost->ns);
      (u <= plan.boundary ? prefix : rest) += cost->ns;
    }
    t.forward_ns = Compute(loss_ns + prefix + rest);
    t.cache_ns = 0;
    t.cached_through = -1;
    if (cache_.has_value()) {
      const CacheModel::StepCache c =
          cache_->Step(epoch, plan.boundary, t.unit_forward_ns);
      if (c.active) {
        t.cache_ns = Compute(c.ns);
        t.cached_through = plan.boundary;
        t.forward_ns = Compute(loss_ns + c.ns + rest);
      }
    }
    for (int64_t& ns : t.unit_forward_ns) ns = Compute(ns);
    return absl::OkStatus();
  }

  // Backward from the last unit down to the first trainable one.
  absl::Status Backward(int64_t s, const SetPlan& plan, StepTiming& t) {
    const int n = run_.num_units;
    t.unit_backward_ns.assign(n, 0);
    t.unit_backward_end_ns.resize(n);
    int64_t wall = 0;
    for (int u = n - 1; u >= plan.states.first_trainable; --u) {
      const std::optional<UnitCost> cost =
          costs_.Cost(u, plan.states.backward[u], s);
      if (!cost.has_value()) return MissingCost(u, "backward");
      t.unit_backward_ns[u] = Compute(cost->ns);
      t.cost_by_source[static_cast<int>(cost->source)] += t.unit_backward_ns[u];
      wall += t.unit_backward_ns[u];
      t.unit_backward_end_ns[u] = wall;
    }
    t.backward_ns = wall;
    return absl::OkStatus();
  }

  // Step `s` with ranks at different speeds (rank_skew.h): rank 0's view
  // replaces the phases `t` holds.
  void Skew(int64_t s, const SetPlan& plan, int64_t interval_compute,
            int64_t interval_comm, bool interval_end, bool keep_buckets,
            StepTiming& t) {
    StepWork w;
    w.data_ns = t.data_ns;
    w.forward_ns = t.forward_ns;
    w.backward_ns = t.backward_ns;
    w.optimizer_ns = t.optimizer_ns;
    w.interval_compute_ns = interval_compute;
    w.interval_comm_ns = interval_comm;
    w.interval_end = interval_end;
    w.other_ns = t.other_ns;
    w.wait_ns = t.wait_ns;
    w.overlap = network_.Overlap();
    w.bucket_ready_ns = ready_;
    w.bucket_ns = plan.bucket_ns;
    w.bucket_bytes = plan.bucket_bytes;
    SkewedStep k = skew_->Step(s, w);
    t.data_ns = k.data_ns;
    t.forward_ns = k.forward_ns;
    t.backward_ns = k.backward_ns;
    t.accumulate_ns = std::min(
        t.backward_ns,
        RoundNs(static_cast<double>(t.accumulate_ns) * k.rank0_multiplier));
    t.exposed_ns = k.exposed_ns;
    t.optimizer_ns = k.optimizer_ns;
    t.interval_ns = k.interval_ns;
    t.other_ns = k.other_ns;
    t.total_ns = k.total_ns;
    if (keep_buckets) t.buckets = std::move(k.buckets);
  }

  // The statistics' compute at the end of the replayed run's base interval
  // `i`: the norms over the window of the units the schedule trained in it
  // (the all-reduce of the accumulators is the plan's). (The frozen set
  // changes only after an interval's last step, so that step's set is the
  // interval's.)
  int64_t IntervalCompute(int64_t i) {
    const int window =
        static_cast<int>(std::min<int64_t>(run_.stats_window, i + 1));
    in_window_.assign(run_.num_units, false);
    for (int64_t j = i - window + 1; j <= i; ++j) {
      const std::vector<bool>& fz =
          schedule_
              .sets[schedule_.step_set[schedule_.steps.interval_last_step[j]]];
      for (int u = 0; u < run_.num_units; ++u) {
        if (!fz[u]) in_window_[u] = true;
      }
    }
    return costs_.IntervalComputeNs(i, in_window_, window);
  }

  const CostModel& costs_;
  const RecordedRun& run_;
  const FreezeSchedule& schedule_;
  const NetworkModel& network_;
  const int world_size_;
  std::optional<CacheModel> cache_;
  const std::vector<double> wait_per_byte_;
  std::vector<std::optional<SetPlan>> plans_;
  std::vector<bool> in_window_;
  int64_t next_interval_ = 0;
  std::vector<int64_t> ready_;
  std::optional<RankSkew> skew_;
  const double compute_scale_;
  const bool fold_prefix_;
};

void AddToTotals(const StepTiming& t, TimingResult& out) {
  PhaseTotals& ph = out.phases;
  ph.data_ns += t.data_ns;
  ph.forward_ns += t.forward_ns;
  ph.backward_ns += t.backward_ns - t.accumulate_ns;
  ph.comm_exposed_ns += t.exposed_ns;
  ph.comm_total_ns += t.comm_total_ns;
  ph.optimizer_ns += t.optimizer_ns;
  ph.stats_ns += t.accumulate_ns + t.interval_ns;
  ph.other_ns += t.other_ns;
  ph.total_ns += t.total_ns;
  out.bytes_allreduced += t.bytes_allreduced;
  out.cache_ns += t.cache_ns;
  out.recorded_wait_ns += t.wait_ns;
  out.optimizer_line_ns += t.optimizer_line_ns;
  ++out.reported_steps;
  for (size_t k = 0; k < t.cost_by_source.size(); ++k) {
    out.cost_by_source[k] += t.cost_by_source[k];
  }
}

StepTimeline TimelineOf(const StepTiming& t, int64_t step, int64_t start_ns) {
  StepTimeline tl;
  tl.step = step;
  tl.start_ns = start_ns;
  tl.data_ns = t.data_ns;
  tl.forward_ns = t.forward_ns;
  tl.backward_ns = t.backward_ns;
  tl.comm_exposed_ns = t.exposed_ns;
  tl.optimizer_ns = t.optimizer_ns;
  tl.stats_ns = t.interval_ns;
  tl.other_ns = t.other_ns;
  tl.cache_ns = t.cache_ns;
  tl.unit_forward_ns = t.unit_forward_ns;
  for (int u = 0; u <= t.cached_through; ++u) tl.unit_forward_ns[u] = 0;
  tl.unit_backward_ns = t.unit_backward_ns;
  tl.buckets = t.buckets;
  return tl;
}

// What a case's note says about shared cores.
std::string SharedCoresNote(const RecordedRun& run, int world_size, int cores,
                            double factor) {
  return absl::StrCat(
      "shared cores: all ", world_size, " ranks (", ThreadsPerRank(run),
      " thread(s) each) on one machine of ", cores, " cores, as the recorded ",
      run.world_size, " were: compute x", absl::StrFormat("%.4f", factor),
      " (an emulation of hosts on one machine, not a property of real "
      "clusters)");
}

}  // namespace

double SharedCoresFactor(int world_size, int recorded_world_size,
                         int threads_per_rank, int cores) {
  if (cores <= 0) return 1.0;
  const auto share = [&](int ranks) {
    return std::max(1.0, static_cast<double>(ranks) * threads_per_rank /
                             static_cast<double>(cores));
  };
  return share(world_size) / share(recorded_world_size);
}

int ThreadsPerRank(const RecordedRun& run) {
  if (run.header.machine().threads_per_rank() > 0) {
    return run.header.machine().threads_per_rank();
  }
  return run.header.config().threads() > 0 ? run.header.config().threads() : 1;
}

absl::Status CheckSharedCores(int cores) {
  if (cores >= 0) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrCat(
      "shared cores ", cores,
      ": give the machine's cores (> 0), or 0 for ranks on hosts of their "
      "own"));
}

absl::StatusOr<TimingResult> SimulateTiming(const CostModel& costs,
                                            const FreezeSchedule& schedule,
                                            const NetworkModel& network,
                                            const TimingOptions& options) {
  const RecordedRun& run = costs.run();
  const int world_size =
      options.world_size > 0 ? options.world_size : run.world_size;
  RETURN_IF_ERROR(network.CheckWorldSize(world_size));
  const StepMap& map = schedule.steps;
  if (static_cast<int64_t>(schedule.step_set.size()) != map.num_steps()) {
    return absl::InvalidArgumentError(
        absl::StrCat("the schedule covers ", schedule.step_set.size(),
                     " steps, its step map ", map.num_steps()));
  }
  if (!map.identity && map.world_size != world_size) {
    return absl::InvalidArgumentError(absl::StrCat(
        "the schedule was made for ", map.world_size,
        " ranks' steps (same_data), the simulation asks for ", world_size));
  }
  TimingResult out;
  out.world_size = world_size;
  out.network = network.spec();
  if (world_size != run.world_size && schedule.vote_rule != "global") {
    out.notes.push_back(absl::StrCat(
        "vote rule ", schedule.vote_rule, " at world size ", world_size,
        ": the votes are those of the ", run.world_size,
        " recorded ranks (the trace has per-rank statistics for them only)"));
  }
  std::vector<double> wait_per_byte;
  if (network.ReplaysRecordedWaits() && run.world_size > 1) {
    wait_per_byte = RecordedWaitPerByte(costs, network);
  }
  RETURN_IF_ERROR(CheckRankSkew(options.skew, world_size));
  RETURN_IF_ERROR(CheckSharedCores(options.shared_cores));
  std::optional<RankSkew> skew;
  if (options.skew.enabled()) skew.emplace(options.skew, world_size);
  const double compute_scale = SharedCoresFactor(
      world_size, run.world_size, ThreadsPerRank(run), options.shared_cores);
  if (options.shared_cores > 0) {
    out.notes.push_back(
        SharedCoresNote(run, world_size, options.shared_cores, compute_scale));
  }
  StepSimulator simulator(
      costs, schedule, network, world_size,
      MakeCache(run, options, map.steps_per_epoch, out.notes),
      std::move(wait_per_byte), std::move(skew), compute_scale,
      options.fold_frozen.value_or(run.fold_frozen));
  StepTiming t;
  int64_t clock = 0;
  for (int64_t s = 0; s < map.num_steps(); ++s) {
    const bool timeline = s < options.timeline_steps;
    RETURN_IF_ERROR(simulator.Simulate(s, timeline, t));
    if (s >= options.report_from_step) AddToTotals(t, out);
    if (options.keep_step_totals) out.step_total_ns.push_back(t.total_ns);
    if (timeline) out.timeline.push_back(TimelineOf(t, s, clock));
    clock += t.total_ns;
  }
  out.cache_hit_share = simulator.CacheHitShare();
  return out;
}

}  // namespace freezing::sim
