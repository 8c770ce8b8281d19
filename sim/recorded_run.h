// RecordedRun: one recorded trace, read and validated once, as the facts a
// replay starts from: the units and the tensors DDP buckets are planned
// from, every step's record (its frozen set, its phases, each unit's
// measured forward and backward and the state it ran them in), the base
// intervals' statistics in freeze/'s form, the start-up profile, the
// all-reduce measurements and the recorded outcome.
//
// Nothing in it is fitted: the costs of states a step did not run, the
// calibration factors and the rates are a CostModel's (cost_model.h), fitted
// on a range of these steps. Immutable once created; cost models share it.
// See sim/README.md.
#ifndef FREEZING_SIM_RECORDED_RUN_H_
#define FREEZING_SIM_RECORDED_RUN_H_

#include <array>
#include <cstdint>
#include <memory>
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
// under no-grad (the frozen prefix), plainly or in its inference form
// (kFolded: BatchNorm folded into the convolutions, the trainer's
// --fold_frozen). kCached / kMixed only describe recorded steps of a run
// with the activation cache (all hits / some hits); their measurements are
// never reused.
enum class ForwardState : uint8_t {
  kGrad = 0,
  kNoGrad = 1,
  kFolded = 2,
  kCached = 3,
  kMixed = 4
};
inline constexpr int kForwardCosted = 3;  // kGrad, kNoGrad, kFolded

// ForwardCostName: "forward", "no-grad forward" or "folded forward", the
// cost a missing-measurement error names (costed states only).
inline const char* ForwardCostName(ForwardState state) {
  switch (state) {
    case ForwardState::kGrad:
      return "forward";
    case ForwardState::kNoGrad:
      return "no-grad forward";
    default:
      return "folded forward";
  }
}

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

// StatesOf: each unit's forward and backward state under `frozen`; the
// frozen prefix's forward is kFolded with `fold_prefix`, else kNoGrad.
struct UnitStates {
  std::vector<ForwardState> forward;
  std::vector<BackwardState> backward;
  int first_trainable = 0;  // == units when everything is frozen
};
UnitStates StatesOf(const std::vector<bool>& frozen, bool fold_prefix = false);

// UnitRecord: one unit in one recorded step, as measured.
struct UnitRecord {
  ForwardState forward_state = ForwardState::kGrad;
  BackwardState backward_state = BackwardState::kNone;
  int64_t forward_ns = 0;
  int64_t backward_ns = 0;
};

// RecordedStep: one recorded step (rank 0's view), split into the parts the
// simulator models.
struct RecordedStep {
  int64_t step = 0;
  int epoch = 0;
  int frozen_set = 0;  // index into RecordedRun::recorded_sets
  int64_t data_ns = 0;
  // forward_ns minus the units' forward: the loss. With the recorded cache
  // active (cache_active) it also holds the cache's reads and writes.
  int64_t loss_forward_ns = 0;
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
  double lr = 0;             // the learning rate the step used (0: unknown)
  trace::PhaseTimes phases;  // as recorded (rank 0)
  // This step's share of the recorded network's overlap rate (fitted by
  // CostModel): the idle-machine work of the all-reduces that ran during
  // backward, and the time the channel was busy then; bucket_timed is false
  // when the step has no bucket timings (or no backward).
  int64_t overlap_work_ns = 0;
  int64_t overlap_busy_ns = 0;
  bool bucket_timed = false;
  // The recorded run's activation cache served this step.
  bool cache_active = false;
  std::vector<UnitRecord> units;  // by unit index
};

// RecordedInterval: one base interval's statistics.
struct RecordedInterval {
  freeze::BaseIntervalStats stats;  // freeze/'s form; stats.last_step ends it
  std::vector<bool> trained;        // per unit: trained in this interval
  // The compute part of its interval-end work: the step's interval_ns minus
  // the modelled all-reduce of the accumulators on the recorded network.
  int64_t compute_ns = 0;
};

// The start-up profile as recorded: per unit, forward by ForwardState (the
// costed three; kFolded is 0 in profiles recorded before folding existed)
// and backward by BackwardState (kPassThrough = backward minus backward
// without the input gradient); 0 where it has no number.
struct ProfiledUnit {
  bool present = false;
  std::array<int64_t, kForwardCosted> forward_ns = {};
  std::array<int64_t, kBackwardStates> backward_ns = {};
};
struct StartupProfile {
  bool present = false;
  std::vector<ProfiledUnit> units;  // always one per unit
  double optimizer_ns_per_param = 0;
  double optimizer_fixed_ns = 0;
  int64_t loss_ns = 0;
  double cache_read_ns_per_element = 0;  // copying one cached element
};

struct RecordedRun {
  // Create: validates and reads `trace`. InvalidArgument (naming the record)
  // for a trace whose steps or intervals are not consecutive from 0 or whose
  // per-unit lists do not match the header; a trace cut short (trace.status
  // not OK) is refused unless `allow_partial`, when its valid prefix is used
  // and a note says so.
  static absl::StatusOr<std::shared_ptr<const RecordedRun>> Create(
      const trace::TraceContents& trace, bool allow_partial = false);

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

  // The run's configuration.
  freeze::PolicyContext context;  // as the recorded run made its policies
  std::string policy;             // canonical spec of the recorded policy
  std::string vote_rule;
  int world_size = 1;
  int batch_size = 0;
  int stats_interval = 1;  // T
  int stats_window = 1;    // W
  int augment_variants = 0;
  // The run folded its frozen prefix (RunConfig.fold_frozen): its steps'
  // prefix forwards are kFolded (Step.prefix_folded).
  bool fold_frozen = false;

  // Steps: recorded_sets[i][u] = unit u frozen; steps index them.
  std::vector<std::vector<bool>> recorded_sets;
  std::vector<RecordedStep> steps;
  std::vector<RecordedInterval> intervals;

  StartupProfile profile;
  // The start-up profile's all-reduce medians (for the `recorded` network).
  std::vector<AllReduceSample> allreduce;
  // The overlap rate's inputs exist: a multi-rank trace with all-reduce
  // measurements.
  bool overlap_measurable = false;

  // Recorded outcome.
  std::vector<trace::FreezeEvent> freeze_events;
  std::optional<double> final_accuracy;
  std::vector<double> epoch_accuracy;
  int64_t measured_total_ns = 0;  // Footer.total_time_ns, else sum of steps

  int64_t num_steps() const { return static_cast<int64_t>(steps.size()); }
  int64_t TrainableParams(const std::vector<bool>& frozen) const;
  // IntervalWork: work units of the interval-end statistics for a set of
  // units trained in the window: sum of their parameters times the window
  // length.
  int64_t IntervalWork(const std::vector<bool>& trained_in_window,
                       int window) const;
  // RecordedWindow: the window length of base interval `i`'s interval-end
  // work (min(W, i + 1)) and, per unit, whether the recorded run trained
  // it in that window.
  int RecordedWindow(int64_t i, std::vector<bool>* in_window) const;
  // AccumulatorAllReduceNs: the interval-end all-reduce of the
  // accumulators of the units `trained` (float32), one all-reduce per
  // contiguous run of them, on `network` over `world_size` ranks.
  int64_t AccumulatorAllReduceNs(const std::vector<bool>& trained,
                                 const NetworkModel& network,
                                 int world_size) const;
};

}  // namespace freezing::sim

#endif  // FREEZING_SIM_RECORDED_RUN_H_
