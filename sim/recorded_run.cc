#include "sim/recorded_run.h"

#include <algorithm>
#include <map>
#include <memory>
#include <utility>

#include "absl/strings/str_cat.h"
#include "freeze_trace/convert.h"

namespace freezing::sim {
namespace {

absl::Status Bad(const std::string& path, const std::string& what) {
  return absl::InvalidArgumentError(
      absl::StrCat("trace ", path, " cannot be replayed: ", what));
}

// Refuses a trace cut short unless `allow_partial`; notes what a partial or
// unfinished trace replays.
absl::Status CheckComplete(const trace::TraceContents& trace,
                           bool allow_partial, RecordedRun& run) {
  if (!trace.status.ok()) {
    if (!allow_partial) {
      return absl::Status(
          trace.status.code(),
          absl::StrCat(trace.status.message(), " (the valid prefix holds ",
                       trace.steps.size(),
                       " steps; pass --allow_partial to replay it)"));
    }
    run.notes.push_back(absl::StrCat(
        "trace cut short after ", trace.valid_bytes, " valid bytes (",
        trace.status.message(), "): replaying its ", trace.steps.size(),
        " recorded steps"));
  } else if (!trace.footer.has_value()) {
    // Every record is whole: the run is still going (or stopped between two
    // records); a run that died while writing leaves a cut record, above.
    run.notes.push_back(absl::StrCat(
        "the run has not finished (its trace has no footer yet: still "
        "running, or stopped between two records): replaying its ",
        trace.steps.size(), " recorded steps so far"));
  }
  return absl::OkStatus();
}

// Units, parameters and the run's configuration, from the header.
absl::Status ReadHeader(const trace::TraceContents& trace, RecordedRun& run) {
  run.header = *trace.header;
  const trace::Header& h = run.header;
  const trace::RunConfig& c = h.config();
  run.num_units = h.units_size();
  const int n = run.num_units;
  if (n < 1) return Bad(trace.path, "its header lists no units");
  for (const trace::Unit& u : h.units()) {
    run.units.push_back({u.name(), u.params(), u.is_classifier()});
    run.unit_output_elements.push_back(u.output_elements_per_sample());
  }
  for (const trace::Param& p : h.params()) {
    if (p.unit() < 0 || p.unit() >= n) {
      return Bad(trace.path,
                 absl::StrCat("parameter ", p.name(), " belongs to unit ",
                              p.unit(), " of ", n));
    }
    run.tensors.push_back({p.name(), p.numel(),
                           p.element_bytes() > 0 ? p.element_bytes() : 4,
                           true});
    run.tensor_unit.push_back(p.unit());
  }
  if (c.first_bucket_bytes() > 0) {
    run.plan_options.first_bucket_bytes = c.first_bucket_bytes();
  }
  if (c.bucket_cap_bytes() > 0) {
    run.plan_options.bucket_cap_bytes = c.bucket_cap_bytes();
  }
  auto context = freeze_trace::PolicyContextFromTrace(trace);
  if (!context.ok()) return context.status();
  run.context = *std::move(context);
  run.policy = c.policy().empty() ? "none" : c.policy();
  run.vote_rule = c.vote_rule().empty() ? "global" : c.vote_rule();
  run.world_size = std::max(1, c.ranks());
  run.batch_size = c.batch_size();
  run.stats_interval = run.context.base_interval_steps;
  run.stats_window = run.context.max_window;
  run.augment_variants = c.augment_variants();
  run.fold_frozen = c.fold_frozen();
  return absl::OkStatus();
}

// The start-up profile, as recorded, and its all-reduce points.
void ReadProfile(const trace::TraceContents& trace, RecordedRun& run) {
  StartupProfile& profile = run.profile;
  profile.units.assign(run.num_units, ProfiledUnit());
  if (!trace.profile.has_value()) {
    run.notes.push_back(
        "the trace has no start-up profile: only states the run executed "
        "can be costed");
    return;
  }
  const trace::StartupProfile& p = *trace.profile;
  profile.present = true;
  for (const trace::UnitProfile& up : p.units()) {
    if (up.unit() < 0 || up.unit() >= run.num_units) continue;
    ProfiledUnit& u = profile.units[up.unit()];
    u.present = true;
    u.forward_ns[static_cast<int>(ForwardState::kGrad)] = up.forward_ns();
    u.forward_ns[static_cast<int>(ForwardState::kNoGrad)] =
        up.forward_nograd_ns();
    u.forward_ns[static_cast<int>(ForwardState::kFolded)] =
        up.forward_folded_ns();
    u.backward_ns[static_cast<int>(BackwardState::kNoInputGrad)] =
        up.backward_no_input_grad_ns();
    u.backward_ns[static_cast<int>(BackwardState::kFull)] = up.backward_ns();
    u.backward_ns[static_cast<int>(BackwardState::kPassThrough)] =
        std::max<int64_t>(0, up.backward_ns() - up.backward_no_input_grad_ns());
  }
  profile.optimizer_ns_per_param = std::max(0.0, p.optimizer_ns_per_param());
  profile.optimizer_fixed_ns =
      static_cast<double>(std::max<int64_t>(0, p.optimizer_fixed_ns()));
  profile.loss_ns = std::max<int64_t>(0, p.loss_ns());
  profile.cache_read_ns_per_element =
      std::max(0.0, p.cache_read_ns_per_element());
  for (const trace::AllReducePoint& a : p.allreduce()) {
    run.allreduce.push_back({a.bytes(), a.ns()});
  }
}

// The step's part of the overlap rate of the recorded network (see
// network.h): the idle-machine work of the all-reduces that ran during
// backward (which lasted `backward_ns`), and the time the channel was busy
// then. Work done after backward ends is taken to run at full speed, so it
// is what the time after backward could hold.
void ReadOverlap(const trace::Step& st, int64_t backward_ns,
                 const NetworkModel& network, int world_size, RecordedStep& r) {
  const int64_t wall = backward_ns;
  int64_t work = 0, last_done = 0;
  std::vector<std::pair<int64_t, int64_t>> spans;
  for (const trace::BucketTiming& b : st.bucket_timings()) {
    if (b.start_ns() >= wall || b.done_ns() < b.start_ns()) continue;
    work += network.AllReduceNs(b.bytes(), world_size);
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

// One step's record; `frozen_set` indexes run.recorded_sets.
RecordedStep ReadStep(const trace::Step& st, const std::vector<bool>& frozen,
                      int frozen_set, const NetworkModel* recorded_network,
                      const RecordedRun& run) {
  const int n = run.num_units;
  RecordedStep r;
  r.step = st.step();
  r.epoch = st.epoch();
  r.frozen_set = frozen_set;
  r.lr = st.lr();
  r.phases = st.phases();
  const trace::PhaseTimes& ph = st.phases();
  r.data_ns = ph.data_ns();
  int64_t unit_fwd = 0, unit_bwd = 0;
  const UnitStates states = StatesOf(frozen, st.prefix_folded());
  const trace::CacheStep& cache = st.cache();
  r.units.resize(n);
  for (int u = 0; u < n; ++u) {
    UnitRecord& unit = r.units[u];
    unit.forward_ns = std::max<int64_t>(0, st.unit_forward_ns(u));
    unit.backward_ns = std::max<int64_t>(0, st.unit_backward_ns(u));
    unit_fwd += unit.forward_ns;
    unit_bwd += unit.backward_ns;
    unit.forward_state = states.forward[u];
    if (cache.boundary_unit() >= u && cache.hits() > 0) {
      unit.forward_state =
          cache.misses() == 0 ? ForwardState::kCached : ForwardState::kMixed;
    }
    unit.backward_state = states.backward[u];
  }
  r.loss_forward_ns = std::max<int64_t>(0, ph.forward_ns() - unit_fwd);
  r.cache_active =
      cache.boundary_unit() >= 0 && cache.hits() + cache.misses() > 0;
  r.accumulate_ns = std::max<int64_t>(0, unit_bwd - ph.backward_ns());
  r.interval_ns = std::max<int64_t>(0, ph.stats_ns() - r.accumulate_ns);
  r.optimizer_ns = ph.optimizer_ns();
  r.trainable_params = run.TrainableParams(frozen);
  // The step's total is the truth; "other" closes the sum, so a replay of
  // the recorded configuration adds up to the recorded total.
  r.other_ns = ph.total_ns() - r.data_ns - (r.loss_forward_ns + unit_fwd) -
               unit_bwd - ph.comm_exposed_ns() - r.optimizer_ns - r.interval_ns;
  if (recorded_network != nullptr && unit_bwd > 0 &&
      st.bucket_timings_size() > 0) {
    ReadOverlap(st, unit_bwd, *recorded_network, run.world_size, r);
  }
  return r;
}

absl::Status ReadSteps(const trace::TraceContents& trace,
                       const NetworkModel* recorded_network, RecordedRun& run) {
  if (trace.steps.empty()) return Bad(trace.path, "it has no steps");
  const int n = run.num_units;
  std::map<std::vector<bool>, int> set_index;
  for (size_t i = 0; i < trace.steps.size(); ++i) {
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
        set_index.emplace(frozen, static_cast<int>(run.recorded_sets.size()));
    if (inserted) run.recorded_sets.push_back(frozen);
    run.steps.push_back(
        ReadStep(st, frozen, it->second, recorded_network, run));
    run.measured_total_ns += st.phases().total_ns();
  }
  if (trace.footer.has_value() && trace.status.ok() &&
      trace.footer->total_time_ns() > 0) {
    run.measured_total_ns = trace.footer->total_time_ns();
  }
  return absl::OkStatus();
}

// The base intervals that end inside the recorded steps.
absl::Status ReadIntervals(const trace::TraceContents& trace,
                           const NetworkModel* recorded_network,
                           RecordedRun& run) {
  const int n = run.num_units;
  const int T = run.stats_interval;
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
    if (iv.last_step() >= run.num_steps()) break;
    auto stats = freeze_trace::ToBaseIntervalStats(iv, n);
    if (!stats.ok()) {
      return Bad(trace.path, std::string(stats.status().message()));
    }
    RecordedInterval& r = run.intervals.emplace_back();
    r.stats = *std::move(stats);
    r.trained.resize(n);
    for (int u = 0; u < n; ++u) {
      const std::vector<int64_t>& ts = r.stats.global[u].trained_steps;
      r.trained[u] = !ts.empty() && ts[0] > 0;
    }
    // Compute part = measured minus the modelled all-reduce of the
    // accumulators (float32) on the recorded network.
    const int64_t comm_ns =
        recorded_network != nullptr
            ? run.AccumulatorAllReduceNs(r.trained, *recorded_network,
                                         run.world_size)
            : 0;
    r.compute_ns = std::max<int64_t>(
        0, run.steps[r.stats.last_step].interval_ns - comm_ns);
  }
  return absl::OkStatus();
}

void ReadOutcome(const trace::TraceContents& trace, RecordedRun& run) {
  run.freeze_events = trace.freeze_events;
  for (const trace::Epoch& e : trace.epochs) {
    run.epoch_accuracy.push_back(e.test_accuracy());
  }
  if (trace.footer.has_value() && trace.status.ok()) {
    run.final_accuracy = trace.footer->final_test_accuracy();
  } else if (!trace.epochs.empty()) {
    run.final_accuracy = trace.epochs.back().test_accuracy();
  }
}

}  // namespace

UnitStates StatesOf(const std::vector<bool>& frozen, bool fold_prefix) {
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
      s.forward[u] =
          fold_prefix ? ForwardState::kFolded : ForwardState::kNoGrad;
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

absl::StatusOr<std::shared_ptr<const RecordedRun>> RecordedRun::Create(
    const trace::TraceContents& trace, bool allow_partial) {
  auto run = std::make_shared<RecordedRun>();
  run->path = trace.path;
  if (!trace.header.has_value()) {
    if (!trace.status.ok()) return trace.status;  // names the file and why
    return Bad(trace.path, "it has no header");
  }
  if (absl::Status s = CheckComplete(trace, allow_partial, *run); !s.ok()) {
    return s;
  }
  if (absl::Status s = ReadHeader(trace, *run); !s.ok()) return s;
  ReadProfile(trace, *run);
  std::unique_ptr<NetworkModel> recorded_network;
  if (run->world_size > 1 && !run->allreduce.empty()) {
    NetworkContext context;
    context.recorded = run->allreduce;
    context.recorded_world_size = run->world_size;
    SetRecordedAlgorithm(run->header.config().allreduce_algorithm(),
                         run->header.config().comm_mode(), context);
    auto net = MakeNetworkModel("recorded", context);
    if (net.ok()) recorded_network = *std::move(net);
  }
  run->overlap_measurable = recorded_network != nullptr;
  if (absl::Status s = ReadSteps(trace, recorded_network.get(), *run);
      !s.ok()) {
    return s;
  }
  if (absl::Status s = ReadIntervals(trace, recorded_network.get(), *run);
      !s.ok()) {
    return s;
  }
  if (run->overlap_measurable &&
      std::none_of(run->steps.begin(), run->steps.end(),
                   [](const RecordedStep& r) { return r.bucket_timed; })) {
    run->notes.push_back(
        "the trace has no bucket timings: the recorded network's overlap "
        "rate is taken as 1");
  }
  ReadOutcome(trace, *run);
  return std::shared_ptr<const RecordedRun>(std::move(run));
}

int64_t RecordedRun::TrainableParams(const std::vector<bool>& frozen) const {
  int64_t p = 0;
  for (int u = 0; u < num_units; ++u) {
    if (!frozen[u]) p += units[u].params;
  }
  return p;
}

int64_t RecordedRun::IntervalWork(const std::vector<bool>& trained_in_window,
                                  int window) const {
  int64_t p = 0;
  for (int u = 0; u < num_units; ++u) {
    if (trained_in_window[u]) p += units[u].params;
  }
  return p * window;
}

int RecordedRun::RecordedWindow(int64_t i, std::vector<bool>* in_window) const {
  const int window = static_cast<int>(std::min<int64_t>(stats_window, i + 1));
  in_window->assign(num_units, false);
  for (int u = 0; u < num_units; ++u) {
    const auto& ts = intervals[i].stats.global[u].trained_steps;
    (*in_window)[u] =
        ts.size() >= static_cast<size_t>(window) && ts[window - 1] > 0;
  }
  return window;
}

int64_t RecordedRun::AccumulatorAllReduceNs(const std::vector<bool>& trained,
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

}  // namespace freezing::sim
