// Validation: how well the simulator predicts a recorded run's own
// configuration, three ways, from the most to the least it may use of the
// run (sim/validation_models.h):
//
//   exact replay  every step's own measured costs and, on the `recorded`
//                 network, every step's measured waiting. Its error is ~0
//                 by construction: it checks the bookkeeping (the phases
//                 add up to the trainer's total, the policy reproduces the
//                 schedule), not the model.
//   held-out      a model fitted on the first part of the run (a share of
//                 the steps in whole base intervals, by default the first
//                 half) predicts the rest, which it never saw. This is
//                 `error_fraction`: the fair estimate of the error of a
//                 replay of a configuration close to the recorded one.
//   model-only    the start-up profile, the network model and the run's
//                 configuration alone, no step's timing: what the simulator
//                 has for a configuration it has never seen run.
//
// Each compares predicted and measured time per phase and in total over
// the steps it predicts, and says whether the measured total fell inside
// its 90% prediction interval, built from what that prediction's model was
// fitted on (the held-out one: the held-in steps only). Deterministic:
// integer nanoseconds, fixed order.
#ifndef FREEZING_REPLAY_VALIDATION_H_
#define FREEZING_REPLAY_VALIDATION_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "sim/cost_model.h"
#include "sim/prediction_interval.h"

namespace freezing::replay {

// One phase: predicted and measured sums.
struct PhaseError {
  std::string phase;
  int64_t predicted_ns = 0;
  int64_t measured_ns = 0;
  double error_fraction = 0;  // (predicted - measured) / measured
};

// One prediction of steps [first_step, last_step] compared with them.
struct PredictionCheck {
  int64_t first_step = 0;
  int64_t last_step = 0;  // inclusive
  int64_t predicted_ns = 0;
  int64_t measured_ns = 0;  // sum of the steps' recorded totals
  double error_fraction = 0;
  // The central 90% interval of the prediction, from what its model was
  // fitted on (sim/prediction_interval.h), and whether the measured total
  // fell inside it.
  sim::PredictionInterval interval;
  bool inside = false;
  // data, forward, backward, comm_exposed, optimizer, stats, other, total.
  std::vector<PhaseError> phases;
};

// The held-out prediction and what it was fitted on.
struct HeldOutCheck : PredictionCheck {
  // Steps fit_first_step .. fit_steps - 1 were fitted on (the run's first
  // step is left out: sim::kWarmUpSteps); every step before first_step
  // (= fit_steps) is held in.
  int64_t fit_first_step = 0;
  int64_t fit_steps = 0;
  int64_t held_in_measured_ns = 0;  // steps 0 .. fit_steps - 1, recorded
  // How much slower (+) or faster (-) the predicted steps ran than the
  // fitted ones, measured, with the same work: over the steps that end no
  // base interval, per frozen set present in both parts, Σ n_out · mean_out
  // / Σ n_out · mean_in - 1. The share of the error no model fitted on the
  // held-in steps can know (a machine whose load changed); nullopt when the
  // parts share no frozen set.
  std::optional<double> step_time_drift_fraction;
};

// The model-only prediction, and the factors between the start-up profile
// and the run's own steps measured afterwards over the whole run (never used
// by the prediction; they say where its error comes from): measured means
// over the profile's numbers for every (unit, state) the run executed
// (forward, backward), and the measured optimizer over the profile's line.
struct ModelOnlyCheck : PredictionCheck {
  double overlap = 0;  // from the recorded comm mode
  double run_over_profile_forward = 1;
  double run_over_profile_backward = 1;
  double run_over_profile_optimizer = 1;
};

struct Validation {
  std::string policy;
  std::string vote_rule;
  std::string network;
  int world_size = 0;
  bool schedule_matches = false;  // the replayed schedule is the recorded one

  // The exact replay of every step; predicted_ns, measured_ns and phases
  // keep the names they always had (replay.json's validation.
  // predicted_total_s, measured_total_s, phases).
  int64_t predicted_ns = 0;
  int64_t measured_ns = 0;  // Footer.total_time_ns (= summary.json's)
  double exact_replay_error_fraction = 0;
  sim::PredictionInterval interval;  // of the exact replay, and whether
  bool inside = false;               // the measured total is in it
  std::vector<PhaseError> phases;

  // The held-out error: what validation.error_fraction reports. Absent
  // when the trace is too short to hold steps out (notes say why).
  std::optional<double> error_fraction;
  double held_in_fraction = 0.5;
  std::optional<HeldOutCheck> held_out;
  std::optional<ModelOnlyCheck> model_only;
  std::vector<std::string> notes;
};

// Validate: the three predictions of the recorded policy, vote rule and
// world size, on the `recorded` network (multi-rank traces; one rank has no
// communication). The held-out part starts at
// sim::HeldOutSplit(model, held_in_fraction). A missing held-out or
// model-only prediction (too few steps, no start-up profile) is a note,
// not an error; InvalidArgument for a fraction outside (0, 1).
absl::StatusOr<Validation> Validate(const sim::CostModel& model,
                                    double held_in_fraction = 0.5);

}  // namespace freezing::replay

#endif  // FREEZING_REPLAY_VALIDATION_H_
