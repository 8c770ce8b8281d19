#include "sim/trace_model.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <memory>
#include <utility>

#include "absl/strings/str_cat.h"
#include "freeze_trace/convert.h"

namespace freezing::sim {
namespace {

int64_t Round(double v) {
  if (!std::isfinite(v) || v <= 0) return 0;
  return static_cast<int64_t>(std::llround(v));
}

absl::Status Bad(const std::string& path, const std::string& what) {
  return absl::InvalidArgumentError(
      absl::StrCat("trace ", path, " cannot be replayed: ", what));
}

}  // namespace

UnitStates StatesOf(const std::vector<bool>& frozen) {
  const int n = static_cast<int>(frozen.size());
  UnitStates s;
  s.forward.assign(n, ForwardState::kGrad);
  s.backward.assign(n, BackwardState::kNone);
  s.first_trainable = 0;
  while (s.first_trainable < n && frozen[s.first_trainable]) {
    ++s.first_trainable;
  }
  for (int u = 0; u < n; ++u) {
    if (u < s.first_trainable) {
      s.forward[u] = ForwardState::kNoGrad;
      s.backward[u] = BackwardState::kNone;
    } else if (u == s.first_trainable) {
      s.backward[u] = BackwardState::kNoInputGrad;
    } else {
      s.backward[u] =
          frozen[u] ? BackwardState::kPassThrough : BackwardState::kFull;
    }
  }
  return s;
}

int64_t TraceModel::TrainableParams(const std::vector<bool>& frozen) const {
  int64_t p = 0;
  for (int u = 0; u < num_units; ++u) {
    if (!frozen[u]) p += units[u].params;
  }
  return p;
}

int64_t TraceModel::IntervalWork(const std::vector<bool>& trained_in_window,
                                 int window) const {
  int64_t p = 0;
  for (int u = 0; u < num_units; ++u) {
    if (trained_in_window[u]) p += units[u].params;
  }
  return p * window;
}

int TraceModel::RecordedWindow(int64_t i, std::vector<bool>* in_window) const {
  const int window = static_cast<int>(std::min<int64_t>(stats_window, i + 1));
  in_window->assign(num_units, false);
  for (int u = 0; u < num_units; ++u) {
    const auto& ts = intervals[i].global[u].trained_steps;
    (*in_window)[u] =
        ts.size() >= static_cast<size_t>(window) && ts[window - 1] > 0;
  }
  return window;
}

int64_t TraceModel::OptimizerLineNs(int64_t params) const {
  return Round(optimizer_calibration *
               (optimizer_fixed_ns +
                optimizer_ns_per_param * static_cast<double>(params)));
}

int64_t TraceModel::AccumulateNs(int64_t params) const {
  return Round(accumulate_ns_per_param * static_cast<double>(params));
}

int64_t TraceModel::AccumulatorAllReduceNs(const std::vector<bool>& trained,
                                           const NetworkModel& network,
                                           int world_size) const {
  int64_t ns = 0;
  for (int u = 0; u < num_units;) {
    if (!trained[u]) {
      ++u;
      continue;
    }
    int64_t params = 0;
    while (u < num_units && trained[u]) params += units[u++].params;
    ns += network.AllReduceNs(4 * params, world_size);
  }
  return ns;
}

void TraceModel::FitCosts(int64_t first_step, int64_t end_step) {
  const int n = num_units;
  const int64_t end =
      std::min<int64_t>(std::max<int64_t>(0, end_step), num_steps());
  const int64_t first = std::min(std::max<int64_t>(0, first_step), end);
  fit_first_step = first;
  fitted_steps = end;

  // Sums over the fitted steps, in step order (doubles: the order is part
  // of the result).
  std::vector<int64_t> sum_fwd(n * kForwardCosted, 0),
      cnt_fwd(n * kForwardCosted, 0);
  std::vector<int64_t> sum_bwd(n * kBackwardStates, 0),
      cnt_bwd(n * kBackwardStates, 0);
  std::vector<int64_t> opt_sum(recorded_sets.size(), 0),
      opt_cnt(recorded_sets.size(), 0);
  double accumulate_sum = 0, accumulate_params = 0;
  double opt_measured = 0, opt_profiled = 0;
  optimizer_ns_per_param = profile_optimizer_ns_per_param;
  optimizer_fixed_ns = profile_optimizer_fixed_ns;
  for (int64_t s = first; s < end; ++s) {
    const RecordedStep& r = steps[s];
    for (int u = 0; u < n; ++u) {
      const size_t k = static_cast<size_t>(s) * n + u;
      const ForwardState fs = forward_state[k];
      if (fs == ForwardState::kGrad || fs == ForwardState::kNoGrad) {
        sum_fwd[u * kForwardCosted + static_cast<int>(fs)] += forward_ns[k];
        ++cnt_fwd[u * kForwardCosted + static_cast<int>(fs)];
      }
      const BackwardState bs = backward_state[k];
      if (bs != BackwardState::kNone) {
        sum_bwd[u * kBackwardStates + static_cast<int>(bs)] += backward_ns[k];
        ++cnt_bwd[u * kBackwardStates + static_cast<int>(bs)];
      }
    }
    opt_sum[r.frozen_set] += r.optimizer_ns;
    ++opt_cnt[r.frozen_set];
    accumulate_sum += static_cast<double>(r.accumulate_ns);
    accumulate_params += static_cast<double>(r.trainable_params);
    opt_measured += static_cast<double>(r.optimizer_ns);
    opt_profiled +=
        optimizer_fixed_ns +
        optimizer_ns_per_param * static_cast<double>(r.trainable_params);
  }

  // Optimizer and statistics accumulation.
  optimizer_mean_by_set.clear();
  for (size_t s = 0; s < opt_sum.size(); ++s) {
    optimizer_mean_by_set.push_back(opt_cnt[s] > 0 ? opt_sum[s] / opt_cnt[s]
                                                   : -1);
  }
  optimizer_calibration = opt_profiled > 0 ? opt_measured / opt_profiled : 1;
  if (!(opt_profiled > 0) && accumulate_params > 0) {
    // No usable profile line: proportional to the parameters.
    optimizer_fixed_ns = 0;
    optimizer_ns_per_param = opt_measured / accumulate_params;
    optimizer_calibration = 1;
  }
  accumulate_ns_per_param =
      accumulate_params > 0 ? accumulate_sum / accumulate_params : 0;

  // Fallback costs and calibration.
  double meas_f = 0, prof_f = 0, meas_b = 0, prof_b = 0;
  for (int u = 0; u < n; ++u) {
    if (!profile_has_unit[u]) continue;
    for (int x = 0; x < kForwardCosted; ++x) {
      const int k = u * kForwardCosted + x;
      if (cnt_fwd[k] > 0 && profile_forward_ns[k] > 0) {
        meas_f += static_cast<double>(sum_fwd[k] / cnt_fwd[k]);
        prof_f += static_cast<double>(profile_forward_ns[k]);
      }
    }
    for (int x = 1; x < kBackwardStates; ++x) {
      const int k = u * kBackwardStates + x;
      if (cnt_bwd[k] > 0 && profile_backward_ns[k] > 0) {
        meas_b += static_cast<double>(sum_bwd[k] / cnt_bwd[k]);
        prof_b += static_cast<double>(profile_backward_ns[k]);
      }
    }
  }
  forward_calibration = prof_f > 0 ? meas_f / prof_f : 1;
  backward_calibration = prof_b > 0 ? meas_b / prof_b : 1;
  fallback_forward_ns.assign(n * kForwardCosted, 0);
  fallback_forward_source.assign(n * kForwardCosted, CostSource::kProfile);
  fallback_forward_available.assign(n * kForwardCosted, false);
  fallback_backward_ns.assign(n * kBackwardStates, 0);
  fallback_backward_source.assign(n * kBackwardStates, CostSource::kProfile);
  fallback_backward_available.assign(n * kBackwardStates, false);
  for (int u = 0; u < n; ++u) {
    for (int x = 0; x < kForwardCosted; ++x) {
      const int k = u * kForwardCosted + x;
      if (cnt_fwd[k] > 0) {
        fallback_forward_ns[k] = sum_fwd[k] / cnt_fwd[k];
        fallback_forward_source[k] = CostSource::kOtherSteps;
        fallback_forward_available[k] = true;
      } else if (profile_has_unit[u]) {
        fallback_forward_ns[k] = Round(
            static_cast<double>(profile_forward_ns[k]) * forward_calibration);
        fallback_forward_available[k] = true;
      }
    }
    // kNone costs nothing and is always available.
    fallback_backward_available[u * kBackwardStates] = true;
    for (int x = 1; x < kBackwardStates; ++x) {
      const int k = u * kBackwardStates + x;
      if (cnt_bwd[k] > 0) {
        fallback_backward_ns[k] = sum_bwd[k] / cnt_bwd[k];
        fallback_backward_source[k] = CostSource::kOtherSteps;
        fallback_backward_available[k] = true;
      } else if (profile_has_unit[u]) {
        fallback_backward_ns[k] = Round(
            static_cast<double>(profile_backward_ns[k]) * backward_calibration);
        fallback_backward_available[k] = true;
      }
    }
  }

  // The overlap rate of the recorded network: the fitted steps' all-reduce
  // work during backward over the time the channel was busy then.
  recorded_overlap = 1.0;
  if (overlap_measurable) {
    double work_during = 0, busy = 0;
    int64_t timed_steps = 0;
    for (int64_t s = first; s < end; ++s) {
      if (!steps[s].bucket_timed) continue;
      ++timed_steps;
      work_during += static_cast<double>(steps[s].overlap_work_ns);
      busy += static_cast<double>(steps[s].overlap_busy_ns);
    }
    if (busy > 0) {
      recorded_overlap = std::min(1.0, std::max(0.0, work_during / busy));
    } else if (timed_steps > 0) {
      // Every all-reduce started after backward (e.g. comm mode sync).
      recorded_overlap = 0;
    }
    network_context.recorded_overlap = recorded_overlap;
  }

  // Interval-end work per (parameter trained in the window × window
  // length), over the intervals that end inside the fitted steps.
  double work_ns = 0, work_units = 0;
  std::vector<bool> in_window;
  for (size_t i = 0; i < intervals.size(); ++i) {
    if (intervals[i].last_step >= end) break;
    if (intervals[i].last_step < first) continue;
    const int window = RecordedWindow(static_cast<int64_t>(i), &in_window);
    work_ns += static_cast<double>(interval_compute_ns[i]);
    work_units += static_cast<double>(IntervalWork(in_window, window));
  }
  interval_ns_per_param_window = work_units > 0 ? work_ns / work_units : 0;
}

absl::StatusOr<TraceModel> TraceModel::Create(const trace::TraceContents& trace,
                                              bool allow_partial) {
  TraceModel m;
  m.path = trace.path;
  if (!trace.header.has_value()) {
    if (!trace.status.ok()) return trace.status;  // names the file and why
    return Bad(trace.path, "it has no header");
  }
  if (!trace.status.ok()) {
    if (!allow_partial) {
      return absl::Status(
          trace.status.code(),
          absl::StrCat(trace.status.message(), " (the valid prefix holds ",
                       trace.steps.size(),
                       " steps; pass --allow_partial to replay it)"));
    }
    m.notes.push_back(absl::StrCat("trace cut short after ", trace.valid_bytes,
                                   " valid bytes (", trace.status.message(),
                                   "): replaying its ", trace.steps.size(),
                                   " recorded steps"));
  } else if (!trace.footer.has_value()) {
    m.notes.push_back(
        absl::StrCat("the run wrote no footer (it died): "
                     "replaying its ",
                     trace.steps.size(), " recorded steps"));
  }
  m.header = *trace.header;
  const trace::Header& h = m.header;
  const trace::RunConfig& c = h.config();
  m.num_units = h.units_size();
  const int n = m.num_units;
  if (n < 1) return Bad(trace.path, "its header lists no units");
  for (const trace::Unit& u : h.units()) {
    m.units.push_back({u.name(), u.params(), u.is_classifier()});
    m.unit_output_elements.push_back(u.output_elements_per_sample());
  }
  for (const trace::Param& p : h.params()) {
    if (p.unit() < 0 || p.unit() >= n) {
      return Bad(trace.path,
                 absl::StrCat("parameter ", p.name(), " belongs to unit ",
                              p.unit(), " of ", n));
    }
    m.tensors.push_back({p.name(), p.numel(),
                         p.element_bytes() > 0 ? p.element_bytes() : 4, true});
    m.tensor_unit.push_back(p.unit());
  }
  if (c.first_bucket_bytes() > 0) {
    m.plan_options.first_bucket_bytes = c.first_bucket_bytes();
  }
  if (c.bucket_cap_bytes() > 0) {
    m.plan_options.bucket_cap_bytes = c.bucket_cap_bytes();
  }
  auto context = freeze_trace::PolicyContextFromTrace(trace);
  if (!context.ok()) return context.status();
  m.context = *std::move(context);
  m.policy = c.policy().empty() ? "none" : c.policy();
  m.vote_rule = c.vote_rule().empty() ? "global" : c.vote_rule();
  m.world_size = std::max(1, c.ranks());
  m.batch_size = c.batch_size();
  m.stats_interval = m.context.base_interval_steps;
  m.stats_window = m.context.max_window;
  m.augment_variants = c.augment_variants();

  // Profile.
  m.has_profile = trace.profile.has_value();
  m.profile_forward_ns.assign(n * kForwardCosted, 0);
  m.profile_backward_ns.assign(n * kBackwardStates, 0);
  m.profile_has_unit.assign(n, false);
  if (m.has_profile) {
    const trace::StartupProfile& p = *trace.profile;
    for (const trace::UnitProfile& up : p.units()) {
      if (up.unit() < 0 || up.unit() >= n) continue;
      const int u = up.unit();
      m.profile_has_unit[u] = true;
      m.profile_forward_ns[u * kForwardCosted + 0] = up.forward_ns();
      m.profile_forward_ns[u * kForwardCosted + 1] = up.forward_nograd_ns();
      m.profile_backward_ns[u * kBackwardStates + 1] =
          up.backward_no_input_grad_ns();
      m.profile_backward_ns[u * kBackwardStates + 2] = up.backward_ns();
      m.profile_backward_ns[u * kBackwardStates + 3] = std::max<int64_t>(
          0, up.backward_ns() - up.backward_no_input_grad_ns());
    }
    m.profile_optimizer_ns_per_param =
        std::max(0.0, p.optimizer_ns_per_param());
    m.profile_optimizer_fixed_ns =
        static_cast<double>(std::max<int64_t>(0, p.optimizer_fixed_ns()));
    m.profile_loss_ns = std::max<int64_t>(0, p.loss_ns());
    m.cache_read_ns_per_element = std::max(0.0, p.cache_read_ns_per_element());
    for (const trace::AllReducePoint& a : p.allreduce()) {
      m.network_context.recorded.push_back({a.bytes(), a.ns()});
    }
  } else {
    m.notes.push_back(
        "the trace has no start-up profile: only states the run executed "
        "can be costed");
  }
  m.network_context.recorded_world_size = m.world_size;
  std::unique_ptr<NetworkModel> recorded_network;
  if (m.world_size > 1 && !m.network_context.recorded.empty()) {
    auto net = MakeNetworkModel("recorded", m.network_context);
    if (net.ok()) recorded_network = *std::move(net);
  }
  m.overlap_measurable = recorded_network != nullptr;

  // Steps.
  if (trace.steps.empty()) return Bad(trace.path, "it has no steps");
  std::map<std::vector<bool>, int> set_index;
  const size_t num_steps = trace.steps.size();
  m.forward_ns.assign(num_steps * n, 0);
  m.backward_ns.assign(num_steps * n, 0);
  m.forward_state.assign(num_steps * n, ForwardState::kGrad);
  m.backward_state.assign(num_steps * n, BackwardState::kNone);
  std::vector<bool> cache_active;
  for (size_t i = 0; i < num_steps; ++i) {
    const trace::Step& st = trace.steps[i];
    if (st.step() != static_cast<int64_t>(i)) {
      return Bad(trace.path,
                 absl::StrCat("its steps are not consecutive from 0 (record ",
                              i, " of the steps is step ", st.step(), ")"));
    }
    if (st.trainable_size() != n || st.unit_forward_ns_size() != n ||
        st.unit_backward_ns_size() != n) {
      return Bad(trace.path,
                 absl::StrCat("step ", st.step(), " has ", st.trainable_size(),
                              " trainable flags, ", st.unit_forward_ns_size(),
                              " forward and ", st.unit_backward_ns_size(),
                              " backward times; the header has ", n, " units"));
    }
    std::vector<bool> frozen(n);
    for (int u = 0; u < n; ++u) frozen[u] = !st.trainable(u);
    auto [it, inserted] =
        set_index.emplace(frozen, static_cast<int>(m.recorded_sets.size()));
    if (inserted) m.recorded_sets.push_back(frozen);
    RecordedStep r;
    r.step = st.step();
    r.epoch = st.epoch();
    r.frozen_set = it->second;
    r.phases = st.phases();
    const trace::PhaseTimes& ph = st.phases();
    r.data_ns = ph.data_ns();
    int64_t unit_fwd = 0, unit_bwd = 0;
    UnitStates states = StatesOf(frozen);
    const trace::CacheStep& cache = st.cache();
    for (int u = 0; u < n; ++u) {
      const size_t k = i * n + u;
      m.forward_ns[k] = std::max<int64_t>(0, st.unit_forward_ns(u));
      m.backward_ns[k] = std::max<int64_t>(0, st.unit_backward_ns(u));
      unit_fwd += m.forward_ns[k];
      unit_bwd += m.backward_ns[k];
      ForwardState fs = states.forward[u];
      if (cache.boundary_unit() >= u && cache.hits() > 0) {
        fs = cache.misses() == 0 ? ForwardState::kCached : ForwardState::kMixed;
      }
      m.forward_state[k] = fs;
      m.backward_state[k] = states.backward[u];
    }
    r.loss_forward_ns = std::max<int64_t>(0, ph.forward_ns() - unit_fwd);
    // With the cache active, forward_ns also holds its reads and writes:
    // such steps take the loss's share from the steps without (below).
    cache_active.push_back(cache.boundary_unit() >= 0 &&
                           cache.hits() + cache.misses() > 0);
    r.accumulate_ns = std::max<int64_t>(0, unit_bwd - ph.backward_ns());
    r.interval_ns = std::max<int64_t>(0, ph.stats_ns() - r.accumulate_ns);
    r.optimizer_ns = ph.optimizer_ns();
    r.trainable_params = m.TrainableParams(frozen);
    // The step's total is the truth; "other" closes the sum, so a replay of
    // the recorded configuration adds up to the recorded total.
    r.other_ns = ph.total_ns() - r.data_ns - (r.loss_forward_ns + unit_fwd) -
                 unit_bwd - ph.comm_exposed_ns() - r.optimizer_ns -
                 r.interval_ns;
    // This step's part of the overlap rate of the recorded network (see
    // network.h): the idle-machine work of the all-reduces that ran during
    // backward, and the time the channel was busy then. Work done after
    // backward ends is taken to run at full speed, so it is what the time
    // after backward could hold.
    if (recorded_network != nullptr && unit_bwd > 0 &&
        st.bucket_timings_size() > 0) {
      const int64_t wall = unit_bwd;
      int64_t work = 0, last_done = 0;
      std::vector<std::pair<int64_t, int64_t>> spans;
      for (const trace::BucketTiming& b : st.bucket_timings()) {
        if (b.start_ns() >= wall || b.done_ns() < b.start_ns()) continue;
        work += recorded_network->AllReduceNs(b.bytes(), m.world_size);
        last_done = std::max(last_done, b.done_ns());
        spans.push_back({b.start_ns(), std::min(b.done_ns(), wall)});
      }
      std::sort(spans.begin(), spans.end());
      int64_t covered = 0, reach = 0;
      for (const auto& [a, b] : spans) {
        const int64_t from = std::max(a, reach);
        if (b > from) covered += b - from;
        reach = std::max(reach, b);
      }
      const int64_t after = std::max<int64_t>(0, last_done - wall);
      r.bucket_timed = true;
      r.overlap_work_ns = work - std::min(work, after);
      r.overlap_busy_ns = covered;
    }
    m.measured_total_ns += ph.total_ns();
    m.steps.push_back(r);
  }
  {
    int64_t sum = 0, count = 0;
    for (size_t i = 0; i < num_steps; ++i) {
      if (cache_active[i]) continue;
      sum += m.steps[i].loss_forward_ns;
      ++count;
    }
    for (size_t i = 0; i < num_steps; ++i) {
      m.steps[i].cache_active = cache_active[i];
      if (!cache_active[i] || count == 0) continue;
      // The rest was the cache's reads, writes and misses, which the
      // simulator models itself (TimingOptions::cache).
      m.steps[i].loss_forward_ns = sum / count;
    }
  }
  if (trace.footer.has_value() && trace.status.ok() &&
      trace.footer->total_time_ns() > 0) {
    m.measured_total_ns = trace.footer->total_time_ns();
  }

  // Intervals.
  const int T = m.stats_interval;
  for (size_t i = 0; i < trace.intervals.size(); ++i) {
    const trace::Interval& iv = trace.intervals[i];
    if (iv.index() != static_cast<int64_t>(i) ||
        iv.last_step() != static_cast<int64_t>(i + 1) * T - 1) {
      return Bad(trace.path,
                 absl::StrCat("interval record ", i, " is base interval ",
                              iv.index(), " ending at step ", iv.last_step(),
                              "; expected interval ", i, " ending at step ",
                              (i + 1) * T - 1, " (T = ", T, ")"));
    }
    if (iv.last_step() >= static_cast<int64_t>(num_steps)) break;
    auto stats = freeze_trace::ToBaseIntervalStats(iv, n);
    if (!stats.ok())
      return Bad(trace.path, std::string(stats.status().message()));
    std::vector<bool> trained(n);
    for (int u = 0; u < n; ++u) {
      trained[u] = !stats->global[u].trained_steps.empty() &&
                   stats->global[u].trained_steps[0] > 0;
    }
    m.interval_trained.push_back(trained);
    m.intervals.push_back(*std::move(stats));
  }
  // Interval-end work: compute part = measured minus the modelled
  // all-reduce of the accumulators (float32) on the recorded network.
  m.interval_compute_ns.assign(m.intervals.size(), -1);
  for (size_t i = 0; i < m.intervals.size(); ++i) {
    const int64_t s = m.intervals[i].last_step;
    const int64_t comm_ns =
        recorded_network != nullptr
            ? m.AccumulatorAllReduceNs(m.interval_trained[i], *recorded_network,
                                       m.world_size)
            : 0;
    m.interval_compute_ns[i] =
        std::max<int64_t>(0, m.steps[s].interval_ns - comm_ns);
  }

  m.FitCosts(0, m.num_steps());
  m.measured_steps = m.num_steps();
  if (m.overlap_measurable &&
      std::none_of(m.steps.begin(), m.steps.end(),
                   [](const RecordedStep& r) { return r.bucket_timed; })) {
    m.notes.push_back(
        "the trace has no bucket timings: the recorded network's overlap "
        "rate is taken as 1");
  }

  m.freeze_events = trace.freeze_events;
  for (const trace::Epoch& e : trace.epochs) {
    m.epoch_accuracy.push_back(e.test_accuracy());
  }
  if (trace.footer.has_value() && trace.status.ok()) {
    m.final_accuracy = trace.footer->final_test_accuracy();
  } else if (!trace.epochs.empty()) {
    m.final_accuracy = trace.epochs.back().test_accuracy();
  }
  return m;
}

}  // namespace freezing::sim
