#include "sim/simulator.h"

#include <algorithm>
#include <cmath>
#include <utility>

#include "absl/strings/str_cat.h"
#include "comm/bucket_plan.h"

namespace freezing::sim {
namespace {

int64_t Round(double v) {
  if (!std::isfinite(v) || v <= 0) return 0;
  return static_cast<int64_t>(std::llround(v));
}

// Everything about one frozen set that does not change from step to step.
struct SetPlan {
  bool built = false;
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
  int64_t optimizer_ns = 0;      // when no recorded step has this set
  int64_t accumulate_ns = 0;     // estimate
  int64_t interval_comm_ns = 0;  // all-reduce of the accumulators
};

absl::Status MissingCost(const TraceModel& model, int u, const char* what) {
  return absl::FailedPreconditionError(absl::StrCat(
      "unit ", u, " (", model.units[u].name, ") needs its ", what,
      " cost, which the recorded run never measured and the trace has no "
      "start-up profile for"));
}

void BuildPlan(const TraceModel& model, const std::vector<bool>& frozen,
               const NetworkModel& network, int world_size, SetPlan& plan) {
  const int n = model.num_units;
  plan.states = StatesOf(frozen);
  plan.boundary = plan.states.first_trainable - 1;
  for (size_t r = 0; r < model.recorded_sets.size(); ++r) {
    if (model.recorded_sets[r] == frozen)
      plan.recorded_set = static_cast<int>(r);
  }
  std::vector<comm::TensorSpec> tensors = model.tensors;
  for (size_t t = 0; t < tensors.size(); ++t) {
    tensors[t].trainable = !frozen[model.tensor_unit[t]];
  }
  const comm::BucketPlan buckets =
      comm::BucketPlan::Build(tensors, model.plan_options);
  // Within a unit, gradients become ready in reverse registration order,
  // spread over the unit's backward in proportion to their elements:
  // reverse_cum[t] = elements of t and of its unit's later tensors.
  std::vector<int64_t> reverse_cum(tensors.size(), 0);
  std::vector<int64_t> unit_numel(n, 0);
  for (size_t i = tensors.size(); i-- > 0;) {
    const int u = model.tensor_unit[i];
    unit_numel[u] += tensors[i].numel;
    reverse_cum[i] = unit_numel[u];
  }
  for (const comm::Bucket& b : buckets.buckets()) {
    int gate = n - 1;
    for (int t : b.tensors) gate = std::min(gate, model.tensor_unit[t]);
    int64_t num = 0, den = unit_numel[gate];
    for (int t : b.tensors) {
      if (model.tensor_unit[t] == gate) num = std::max(num, reverse_cum[t]);
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
  plan.trainable_params = model.TrainableParams(frozen);
  if (plan.recorded_set >= 0 &&
      model.optimizer_mean_by_set[plan.recorded_set] >= 0) {
    plan.optimizer_ns = model.optimizer_mean_by_set[plan.recorded_set];
  } else {
    plan.optimizer_ns = model.OptimizerLineNs(plan.trainable_params);
  }
  plan.accumulate_ns = model.AccumulateNs(plan.trainable_params);
  std::vector<bool> trained(n);
  for (int u = 0; u < n; ++u) trained[u] = !frozen[u];
  plan.interval_comm_ns =
      model.AccumulatorAllReduceNs(trained, network, world_size);
  plan.built = true;
}

// The one-channel all-reduce schedule of one step: buckets in launch order,
// each ready when its gate unit's backward has passed its last gradient,
// progressing at `overlap` while backward runs. `unit_bwd` and `end` hold
// the units' backward durations and end offsets. Returns the time the last
// all-reduce is done (from the start of backward); `out`, when given, gets
// {bytes, start, done} per bucket.
int64_t ScheduleBuckets(const SetPlan& plan,
                        const std::vector<int64_t>& unit_bwd,
                        const std::vector<int64_t>& end, int64_t backward_wall,
                        double overlap,
                        std::vector<std::array<int64_t, 3>>* out) {
  int64_t channel_free = 0;
  for (size_t b = 0; b < plan.bucket_ns.size(); ++b) {
    const int g = plan.bucket_gate[b];
    // 128-bit: a long backward times a large unit's element count may
    // exceed 64 bits.
    const int64_t ready =
        end[g] - unit_bwd[g] +
        static_cast<int64_t>(static_cast<__int128>(unit_bwd[g]) *
                             plan.bucket_ready_num[b] /
                             plan.bucket_ready_den[b]);
    const int64_t start = std::max(ready, channel_free);
    const int64_t work = plan.bucket_ns[b];
    if (start >= backward_wall || overlap >= 1.0) {
      channel_free = start + work;
    } else {
      // Slower while backward computes, full speed after.
      const double during =
          overlap * static_cast<double>(backward_wall - start);
      channel_free =
          during >= static_cast<double>(work)
              ? start + Round(static_cast<double>(work) / overlap)
              : backward_wall + Round(static_cast<double>(work) - during);
    }
    if (out != nullptr && work > 0) {
      out->push_back({plan.bucket_bytes[b], start, channel_free});
    }
  }
  return channel_free;
}

// What each recorded step waited beyond the model of its own configuration
// on `network` at the recorded world size (see simulator.h). Steps from
// model.measured_steps on carry predictions, not measurements: they get the
// mean wait of the measured steps from model.fit_first_step on (none when
// there are none).
std::vector<int64_t> RecordedWaits(const TraceModel& model,
                                   const NetworkModel& network) {
  const int n = model.num_units;
  std::vector<SetPlan> plans(model.recorded_sets.size());
  std::vector<int64_t> waits(model.num_steps(), 0);
  std::vector<int64_t> unit_bwd(n), end(n);
  const int64_t measured =
      std::min(model.num_steps(), std::max<int64_t>(0, model.measured_steps));
  const int64_t mean_from =
      std::min(measured, std::max<int64_t>(0, model.fit_first_step));
  int64_t wait_sum = 0;
  for (int64_t s = 0; s < measured; ++s) {
    const RecordedStep& rs = model.steps[s];
    SetPlan& plan = plans[rs.frozen_set];
    if (!plan.built) {
      BuildPlan(model, model.recorded_sets[rs.frozen_set], network,
                model.world_size, plan);
    }
    int64_t t = 0;
    std::fill(unit_bwd.begin(), unit_bwd.end(), 0);
    for (int u = n - 1; u >= plan.states.first_trainable; --u) {
      unit_bwd[u] = model.backward_ns[static_cast<size_t>(s) * n + u];
      t += unit_bwd[u];
      end[u] = t;
    }
    const int64_t done =
        ScheduleBuckets(plan, unit_bwd, end, t, network.Overlap(), nullptr);
    const int64_t modelled = std::max<int64_t>(0, done - t);
    waits[s] = std::max<int64_t>(0, rs.phases.comm_exposed_ns() - modelled);
    if (s >= mean_from) wait_sum += waits[s];
  }
  if (measured < model.num_steps()) {
    const int64_t mean =
        measured > mean_from ? wait_sum / (measured - mean_from) : 0;
    std::fill(waits.begin() + measured, waits.end(), mean);
  }
  return waits;
}

// The activation cache's coverage (see simulator.h).
struct CacheState {
  int boundary = -1;
  double coverage = 0;         // at the start of the current epoch
  double hit = 0;              // share of this epoch's samples that hit
  int64_t steps_in_epoch = 0;  // steps of this epoch run with the boundary
  // The previous (shallower) boundary, whose entries are carried forward:
  // the share of this epoch's samples it holds, and what it will hold from
  // the next epoch on (its entries of the epoch it was replaced in).
  int old_boundary = -1;
  double old_hit = 0;
  double old_next = 0;

  // The coverage after this epoch's steps so far (K = 1 / inv_variants).
  double CoverageAfterEpoch(int64_t steps_per_epoch,
                            double inv_variants) const {
    return std::min(1.0, coverage + (1.0 - coverage) *
                                        static_cast<double>(steps_in_epoch) /
                                        static_cast<double>(steps_per_epoch) *
                                        inv_variants);
  }
};

}  // namespace

absl::StatusOr<TimingResult> SimulateTiming(const TraceModel& model,
                                            const FreezeSchedule& schedule,
                                            const NetworkModel& network,
                                            const TimingOptions& options) {
  const int world_size =
      options.world_size > 0 ? options.world_size : model.world_size;
  if (absl::Status s = network.CheckWorldSize(world_size); !s.ok()) return s;
  if (static_cast<int64_t>(schedule.step_set.size()) != model.num_steps()) {
    return absl::InvalidArgumentError(
        absl::StrCat("the schedule covers ", schedule.step_set.size(),
                     " steps, the trace has ", model.num_steps()));
  }
  TimingResult out;
  out.world_size = world_size;
  out.network = network.spec();
  if (world_size != model.world_size && schedule.vote_rule != "global") {
    out.notes.push_back(absl::StrCat(
        "vote rule ", schedule.vote_rule, " at world size ", world_size,
        ": the votes are those of the ", model.world_size,
        " recorded ranks (the trace has per-rank statistics for them only)"));
  }
  const int n = model.num_units;
  const int T = model.stats_interval;
  const int W = model.stats_window;

  // The cache.
  bool cache_on = options.cache;
  int variants = options.augment_variants >= 0 ? options.augment_variants
                                               : model.augment_variants;
  const bool augment = model.header.config().augment();
  if (!augment) variants = 1;
  if (cache_on && variants <= 0) {
    out.notes.push_back(
        "cache: no step can hit, the recorded run's augmentation is random "
        "(--augment_variants=0); replay with --augment_variants=K to assume K "
        "fixed variants per sample");
    cache_on = false;
  }
  if (cache_on && !(model.cache_read_ns_per_element > 0)) {
    out.notes.push_back(
        "cache: the trace has no measured cache read cost; reads cost 0");
  }
  const double inv_variants = variants > 0 ? 1.0 / variants : 0;
  const int64_t steps_per_epoch =
      model.context.steps_per_epoch > 0 ? model.context.steps_per_epoch : 1;
  const double batch = static_cast<double>(model.batch_size);
  auto read_ns = [&](int boundary) {
    return model.cache_read_ns_per_element *
           static_cast<double>(model.unit_output_elements[boundary]) * batch;
  };
  CacheState cache;
  int current_epoch = model.steps.empty() ? 0 : model.steps[0].epoch;
  double hit_sum = 0;
  int64_t hit_steps = 0;

  std::vector<int64_t> waits;
  if (network.ReplaysRecordedWaits() && model.world_size > 1) {
    waits = RecordedWaits(model, network);
  }
  std::vector<SetPlan> plans(schedule.sets.size());
  std::vector<int64_t> end(n, 0);
  std::vector<int64_t> unit_fwd(n, 0), unit_bwd(n, 0);
  std::vector<bool> in_window(n), rec_in_window(n);
  PhaseTotals& ph = out.phases;
  int64_t clock = 0;

  for (int64_t s = 0; s < model.num_steps(); ++s) {
    const int set = schedule.step_set[s];
    SetPlan& plan = plans[set];
    if (!plan.built) {
      BuildPlan(model, schedule.sets[set], network, world_size, plan);
    }
    const RecordedStep& rs = model.steps[s];
    const bool same_set = plan.recorded_set == rs.frozen_set;
    const bool reported = s >= options.report_from_step;
    const size_t base = static_cast<size_t>(s) * n;

    // Forward.
    int64_t prefix_fwd = 0, rest_fwd = 0;
    for (int u = 0; u < n; ++u) {
      const ForwardState x = plan.states.forward[u];
      int64_t cost;
      CostSource source;
      if (model.forward_state[base + u] == x) {
        cost = model.forward_ns[base + u];
        source = CostSource::kSameStep;
      } else {
        const int k = u * kForwardCosted + static_cast<int>(x);
        if (!model.fallback_forward_available[k]) {
          return MissingCost(
              model, u,
              x == ForwardState::kGrad ? "forward" : "no-grad forward");
        }
        cost = model.fallback_forward_ns[k];
        source = model.fallback_forward_source[k];
      }
      unit_fwd[u] = cost;
      if (reported) out.cost_by_source[static_cast<int>(source)] += cost;
      if (u <= plan.boundary) {
        prefix_fwd += cost;
      } else {
        rest_fwd += cost;
      }
    }
    int64_t forward = rs.loss_forward_ns + prefix_fwd + rest_fwd;
    int64_t cache_ns = 0;
    if (cache_on) {
      if (rs.epoch != current_epoch) {
        if (cache.boundary >= 0) {
          cache.coverage =
              cache.CoverageAfterEpoch(steps_per_epoch, inv_variants);
        }
        cache.hit = cache.coverage;
        cache.old_hit = cache.old_next;
        cache.steps_in_epoch = 0;
        current_epoch = rs.epoch;
      }
      if (plan.boundary != cache.boundary) {
        if (plan.boundary > cache.boundary && cache.boundary >= 0) {
          // Samples already seen this epoch come back only next epoch.
          cache.old_boundary = cache.boundary;
          cache.old_hit = cache.hit;
          cache.old_next =
              cache.CoverageAfterEpoch(steps_per_epoch, inv_variants);
        } else {
          cache.old_boundary = -1;
          cache.old_hit = 0;
          cache.old_next = 0;
        }
        cache.boundary = plan.boundary;
        cache.coverage = 0;
        cache.hit = 0;
        cache.steps_in_epoch = 0;
      }
      if (cache.boundary >= 0) {
        const double h = cache.hit;
        const double x =
            cache.old_boundary >= 0 ? (1.0 - h) * cache.old_hit : 0.0;
        const double miss = 1.0 - h - x;
        const double write = read_ns(cache.boundary);
        int64_t extend_fwd = 0;
        for (int u = cache.old_boundary + 1; u <= cache.boundary; ++u) {
          extend_fwd += unit_fwd[u];
        }
        const double old_read =
            cache.old_boundary >= 0 ? read_ns(cache.old_boundary) : 0.0;
        const double cost =
            h * write +
            x * (old_read + static_cast<double>(extend_fwd) + write) +
            miss * (static_cast<double>(prefix_fwd) + write);
        cache_ns = Round(cost);
        forward = rs.loss_forward_ns + cache_ns + rest_fwd;
        ++cache.steps_in_epoch;
        hit_sum += h;
        ++hit_steps;
      }
    }

    // Backward, gradient readiness, buckets on one channel.
    int64_t t = 0;
    std::fill(unit_bwd.begin(), unit_bwd.end(), 0);
    for (int u = n - 1; u >= plan.states.first_trainable; --u) {
      const BackwardState x = plan.states.backward[u];
      int64_t cost;
      CostSource source;
      if (model.backward_state[base + u] == x) {
        cost = model.backward_ns[base + u];
        source = CostSource::kSameStep;
      } else {
        const int k = u * kBackwardStates + static_cast<int>(x);
        if (!model.fallback_backward_available[k]) {
          return MissingCost(model, u, "backward");
        }
        cost = model.fallback_backward_ns[k];
        source = model.fallback_backward_source[k];
      }
      unit_bwd[u] = cost;
      if (reported) out.cost_by_source[static_cast<int>(source)] += cost;
      t += cost;
      end[u] = t;
    }
    const int64_t backward_wall = t;
    std::vector<std::array<int64_t, 3>>* timeline_buckets = nullptr;
    if (s < options.timeline_steps) {
      out.timeline.emplace_back();
      timeline_buckets = &out.timeline.back().buckets;
    }
    const int64_t channel_free =
        ScheduleBuckets(plan, unit_bwd, end, backward_wall, network.Overlap(),
                        timeline_buckets);
    const int64_t wait = world_size > 1 && !waits.empty() ? waits[s] : 0;
    const int64_t exposed =
        std::max<int64_t>(0, channel_free - backward_wall) + wait;
    if (reported) out.recorded_wait_ns += wait;

    const int64_t accumulate = std::min(
        backward_wall, same_set ? rs.accumulate_ns : plan.accumulate_ns);
    const int64_t optimizer = same_set ? rs.optimizer_ns : plan.optimizer_ns;

    // End of a base interval: the statistics' interval work.
    int64_t interval = 0;
    if ((s + 1) % T == 0) {
      const int64_t i = (s + 1) / T - 1;
      const int window = static_cast<int>(std::min<int64_t>(W, i + 1));
      std::fill(in_window.begin(), in_window.end(), false);
      for (int64_t j = i - window + 1; j <= i; ++j) {
        const std::vector<bool>& fz = schedule.sets[schedule.step_set[j * T]];
        for (int u = 0; u < n; ++u) {
          if (!fz[u]) in_window[u] = true;
        }
      }
      bool measured = false;
      if (i < static_cast<int64_t>(model.interval_compute_ns.size())) {
        model.RecordedWindow(i, &rec_in_window);  // the same window length
        measured = rec_in_window == in_window;
      }
      const int64_t compute =
          measured ? model.interval_compute_ns[i]
                   : Round(model.interval_ns_per_param_window *
                           static_cast<double>(
                               model.IntervalWork(in_window, window)));
      interval = compute + plan.interval_comm_ns;
    }

    const int64_t total = rs.data_ns + forward + backward_wall + exposed +
                          optimizer + interval + rs.other_ns;
    if (reported) {
      ph.data_ns += rs.data_ns;
      ph.forward_ns += forward;
      ph.backward_ns += backward_wall - accumulate;
      ph.comm_exposed_ns += exposed;
      ph.comm_total_ns += plan.bucket_ns_total;
      ph.optimizer_ns += optimizer;
      ph.stats_ns += accumulate + interval;
      ph.other_ns += rs.other_ns;
      ph.total_ns += total;
      out.bytes_allreduced += plan.grad_bytes;
      out.cache_ns += cache_ns;
    }

    if (timeline_buckets != nullptr) {
      StepTimeline& tl = out.timeline.back();
      tl.step = rs.step;
      tl.start_ns = clock;
      tl.data_ns = rs.data_ns;
      tl.forward_ns = forward;
      tl.backward_ns = backward_wall;
      tl.comm_exposed_ns = exposed;
      tl.optimizer_ns = optimizer;
      tl.stats_ns = interval;
      tl.other_ns = rs.other_ns;
      tl.cache_ns = cache_ns;
      tl.unit_forward_ns = unit_fwd;
      if (cache_on && cache.boundary >= 0) {
        for (int u = 0; u <= cache.boundary; ++u) tl.unit_forward_ns[u] = 0;
      }
      tl.unit_backward_ns = unit_bwd;
    }
    clock += total;
  }
  out.cache_hit_share =
      hit_steps > 0 ? hit_sum / static_cast<double>(hit_steps) : 0;
  return out;
}

}  // namespace freezing::sim
