// TraceModel: one recorded trace, prepared once for many replays: what every
// unit cost in every recorded step and in which state it was, what it would
// cost in a state the step did not run (measured at other steps, or the
// start-up profile calibrated to the run), the recorded gradient statistics
// in freeze/'s form, the parameters DDP buckets are planned from, and the
// measured totals a replay is compared with.
//
// A unit's state in a step follows from the frozen set (see StatesOf). Cost
// of unit u in state X at step s, in this order:
//   1. kSameStep:   the step's own measurement, if the recorded step had u in
//                   state X;
//   2. kOtherSteps: the mean of the measurements of the recorded steps that
//                   had u in state X;
//   3. kProfile:    the start-up profile's number for (u, X) times the run's
//                   calibration factor for that pass: the measured means of
//                   every (unit, state) the run did execute, divided by the
//                   profile's numbers for the same pairs (one factor for
//                   forward, one for backward), so that the profile, taken
//                   before training and under other load, is brought to the
//                   level of the run's own steps.
// Integer nanoseconds throughout; means are integer divisions of integer
// sums, factors are applied with one rounding. See sim/README.md.
#ifndef FREEZING_SIM_TRACE_MODEL_H_
#define FREEZING_SIM_TRACE_MODEL_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "comm/bucket_plan.h"
#include "freeze/policy.h"
#include "freeze/stats.h"
#include "sim/network.h"
#include "trace/trace.pb.h"
#include "trace/trace_reader.h"

namespace freezing::sim {

// Forward: with autograd (trainable or behind the first trainable unit), or
// under no-grad (the frozen prefix). kCached / kMixed only describe recorded
// steps of a run with the activation cache (all hits / some hits); their
// measurements are never reused.
enum class ForwardState : uint8_t {
  kGrad = 0,
  kNoGrad = 1,
  kCached = 2,
  kMixed = 3
};
inline constexpr int kForwardCosted = 2;  // kGrad, kNoGrad

// Backward: not run (frozen prefix), without the input gradient (the first
// trainable unit), full (a trainable unit behind it), or only the input
// gradient (a frozen unit behind a trainable one: policies that unfreeze).
enum class BackwardState : uint8_t {
  kNone = 0,
  kNoInputGrad = 1,
  kFull = 2,
  kPassThrough = 3
};
inline constexpr int kBackwardStates = 4;

enum class CostSource : uint8_t {
  kSameStep = 0,
  kOtherSteps = 1,
  kProfile = 2
};

// StatesOf: each unit's forward and backward state under `frozen`.
struct UnitStates {
  std::vector<ForwardState> forward;
  std::vector<BackwardState> backward;
  int first_trainable = 0;  // == units when everything is frozen
};
UnitStates StatesOf(const std::vector<bool>& frozen);

// One recorded step, as the simulator needs it.
struct RecordedStep {
  int64_t step = 0;
  int epoch = 0;
  int frozen_set = 0;  // index into TraceModel::recorded_sets
  int64_t data_ns = 0;
  int64_t loss_forward_ns = 0;  // forward_ns minus the units' forward
  int64_t optimizer_ns = 0;
  // Per-step accumulation of local gradients for the statistics (inside the
  // backward pass): the units' backward times minus backward_ns.
  int64_t accumulate_ns = 0;
  // End-of-interval statistics work (0 in other steps): stats_ns minus the
  // accumulation.
  int64_t interval_ns = 0;
  // Everything else: total minus the phases above and the exposed comm.
  int64_t other_ns = 0;
  int64_t trainable_params = 0;
  trace::PhaseTimes phases;  // as recorded (rank 0)
  // This step's share of the recorded network's overlap rate (TraceModel::
  // recorded_overlap): the idle-machine work of the all-reduces that ran
  // during backward, and the time the channel was busy then; bucket_timed
  // is false when the step has no bucket timings (or no backward).
  int64_t overlap_work_ns = 0;
  int64_t overlap_busy_ns = 0;
  bool bucket_timed = false;
  // The recorded run's activation cache served this step (its forward_ns
  // held cache reads and writes; loss_forward_ns is the other steps' mean).
  bool cache_active = false;
};

struct TraceModel {
  // Create: validates and prepares `trace`. InvalidArgument (naming the
  // record) for a trace whose steps or intervals are not consecutive from 0
  // or whose per-unit lists do not match the header; a trace cut short
  // (trace.status not OK) is refused unless `allow_partial`, when its valid
  // prefix is used and a note says so.
  static absl::StatusOr<TraceModel> Create(const trace::TraceContents& trace,
                                           bool allow_partial = false);

  std::string path;
  trace::Header header;
  std::vector<std::string> notes;  // facts a report should carry

  // Units and parameters.
  int num_units = 0;
  std::vector<freeze::UnitInfo> units;
  std::vector<int64_t> unit_output_elements;  // per sample
  std::vector<comm::TensorSpec> tensors;      // registration order
  std::vector<int> tensor_unit;
  comm::BucketPlanOptions plan_options;

  // The run.
  freeze::PolicyContext context;  // as the recorded run made its policies
  std::string policy;             // canonical spec of the recorded policy
  std::string vote_rule;
  int world_size = 1;
  int batch_size = 0;
  int stats_interval = 1;  // T
  int stats_window = 1;    // W
  int augment_variants = 0;

  // Steps: recorded_sets[i][u] = unit u frozen; steps index them.
  std::vector<std::vector<bool>> recorded_sets;
  std::vector<RecordedStep> steps;
  // [step * num_units + unit]
  std::vector<int64_t> forward_ns;
  std::vector<int64_t> backward_ns;
  std::vector<ForwardState> forward_state;
  std::vector<BackwardState> backward_state;

  // Costs of states a step did not run: [unit * kForwardCosted + state],
  // [unit * kBackwardStates + state]; source says which rule gave it;
  // available is false when neither other steps nor a profile have it.
  std::vector<int64_t> fallback_forward_ns;
  std::vector<CostSource> fallback_forward_source;
  std::vector<bool> fallback_forward_available;
  std::vector<int64_t> fallback_backward_ns;
  std::vector<CostSource> fallback_backward_source;
  std::vector<bool> fallback_backward_available;
  double forward_calibration = 1;   // measured / profile, forward pairs
  double backward_calibration = 1;  // measured / profile, backward pairs

  // Optimizer: mean per recorded set (-1 when no fitted step had the set);
  // otherwise the profile's line (fixed + per_param · P) times
  // optimizer_calibration.
  std::vector<int64_t> optimizer_mean_by_set;
  double optimizer_ns_per_param = 0;
  double optimizer_fixed_ns = 0;
  double optimizer_calibration = 1;
  // Statistics: accumulation per trainable parameter per step; interval
  // compute per (parameter trained in the window × window length).
  double accumulate_ns_per_param = 0;
  double interval_ns_per_param_window = 0;
  // Per recorded interval-end step (by interval index): the compute part
  // of its interval work (measured minus the modelled all-reduce of the
  // accumulators on the recorded network); -1 when not recorded.
  std::vector<int64_t> interval_compute_ns;

  // Cache: cost of copying one element of a cached activation.
  double cache_read_ns_per_element = 0;

  // Network measurements (start-up profile) and the overlap rate measured
  // from the steps' bucket timings, for `recorded`.
  NetworkContext network_context;
  double recorded_overlap = 1.0;
  // The overlap rate's inputs exist: a multi-rank trace with all-reduce
  // measurements (else recorded_overlap stays 1).
  bool overlap_measurable = false;

  // The start-up profile as recorded, [unit * kForwardCosted + state] and
  // [unit * kBackwardStates + state] (0 where the profile has no number),
  // kept so that the aggregates can be fitted again (FitCosts) and a
  // prediction can be made from the profile alone (validation_models.h).
  std::vector<int64_t> profile_forward_ns;
  std::vector<int64_t> profile_backward_ns;
  std::vector<bool> profile_has_unit;
  double profile_optimizer_ns_per_param = 0;
  double profile_optimizer_fixed_ns = 0;
  int64_t profile_loss_ns = 0;

  // Steps [fit_first_step, fitted_steps) are the ones every aggregate
  // above (fallback costs, calibration factors, optimizer, statistics and
  // overlap rates) was fitted on; steps [0, measured_steps) carry their own
  // measurements, later ones carry predictions made without them
  // (validation_models.h), and the `recorded` network gives those the mean
  // wait of steps [fit_first_step, measured_steps) (simulator.h). 0, all,
  // all after Create.
  int64_t fit_first_step = 0;
  int64_t fitted_steps = 0;
  int64_t measured_steps = 0;

  // Statistics per base interval, in freeze/'s form, and per interval and
  // unit whether the recorded run trained the unit in it.
  std::vector<freeze::BaseIntervalStats> intervals;
  std::vector<std::vector<bool>> interval_trained;

  // Recorded outcome.
  std::vector<trace::FreezeEvent> freeze_events;
  std::optional<double> final_accuracy;
  std::vector<double> epoch_accuracy;
  int64_t measured_total_ns = 0;  // Footer.total_time_ns, else sum of steps
  bool has_profile = false;

  // FitCosts: fits every aggregate again from steps [first_step, end_step)
  // only (clamped to the trace; interval-end work of the intervals ending
  // in that range); per-step records are left as they are. With no step
  // the aggregates come from the start-up profile alone (calibration
  // factors 1) and are 0 where it has no number. Create fits on every step.
  void FitCosts(int64_t first_step, int64_t end_step);

  // Helpers.
  int64_t num_steps() const { return static_cast<int64_t>(steps.size()); }
  int64_t TrainableParams(const std::vector<bool>& frozen) const;
  // Work units of the interval-end statistics for a set of units trained in
  // the window: sum of their parameters times the window length.
  int64_t IntervalWork(const std::vector<bool>& trained_in_window,
                       int window) const;
  // RecordedWindow: the window length of base interval `i`'s interval-end
  // work (min(W, i + 1)) and, per unit, whether the recorded run trained
  // it in that window.
  int RecordedWindow(int64_t i, std::vector<bool>* in_window) const;
  // OptimizerLineNs: the optimizer's step for `params` trainable
  // parameters from the profile's line, calibrated (used where no fitted
  // step had the same trainable set).
  int64_t OptimizerLineNs(int64_t params) const;
  // AccumulateNs: the statistics accumulation of one step for `params`
  // trainable parameters at the fitted per-parameter rate.
  int64_t AccumulateNs(int64_t params) const;
  // AccumulatorAllReduceNs: the interval-end all-reduce of the
  // accumulators of the units `trained` (float32), one all-reduce per
  // contiguous run of them, on `network` over `world_size` ranks.
  int64_t AccumulatorAllReduceNs(const std::vector<bool>& trained,
                                 const NetworkModel& network,
                                 int world_size) const;
};

}  // namespace freezing::sim

#endif  // FREEZING_SIM_TRACE_MODEL_H_
