// PolicyReach: how many decisions a freezing policy gets within a run, so
// that a run too short for its policy says so at start-up instead of
// silently freezing nothing.
//
// A policy decides at the end of each of its intervals (every
// `interval_steps`, a multiple of --stats_interval) and freezes nothing
// before its warmup; a decision at the run's last step changes no step.
#ifndef FREEZING_TRAIN_POLICY_REACH_H_
#define FREEZING_TRAIN_POLICY_REACH_H_

#include <cstdint>
#include <string>

namespace freezing::train {

struct PolicyReach {
  int64_t decisions = 0;   // decision points that can change a step
  int64_t first_step = 0;  // the first of them (when decisions > 0)
  std::string note;        // what to print; empty: nothing to say
  bool warning = false;    // the policy cannot decide at all in this run
};

// DescribePolicyReach: for the run's steps [start_step, total_steps) of the
// policy `spec` (as given; none and static:K decide nothing during a run
// and get no note) acting every `interval_steps` from step `warmup_steps`,
// with base interval `stats_interval`.
PolicyReach DescribePolicyReach(const std::string& spec, int64_t start_step,
                                int64_t total_steps, int64_t interval_steps,
                                int64_t warmup_steps, int stats_interval);

}  // namespace freezing::train

#endif  // FREEZING_TRAIN_POLICY_REACH_H_
