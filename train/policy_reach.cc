#include "train/policy_reach.h"

#include <algorithm>
#include <string>

#include "absl/strings/str_cat.h"
#include "freeze/spec.h"

namespace freezing::train {

PolicyReach DescribePolicyReach(const std::string& spec, int64_t start_step,
                                int64_t total_steps, int64_t interval_steps,
                                int64_t warmup_steps, int stats_interval) {
  PolicyReach reach;
  absl::StatusOr<freeze::ParsedSpec> parsed = freeze::ParsePolicySpec(spec);
  if (!parsed.ok() || parsed->name == "none" || parsed->name == "static" ||
      interval_steps < 1) {
    return reach;
  }
  // Decisions apply from the step after an interval's end: the first one
  // that applies after the start (a resumed run's first step was decided
  // before) and at or after the warmup.
  const int64_t from = std::max<int64_t>({start_step + 1, warmup_steps, 1});
  const int64_t first =
      (from + interval_steps - 1) / interval_steps * interval_steps;
  if (first < total_steps) {
    reach.decisions = (total_steps - 1 - first) / interval_steps + 1;
    reach.first_step = first;
  }
  const int64_t steps = total_steps - start_step;
  const std::string when = absl::StrCat(
      "decides every ", interval_steps, " steps",
      warmup_steps > 0 ? absl::StrCat(" from step ", warmup_steps) : "");
  if (reach.decisions == 0) {
    reach.warning = true;
    reach.note = absl::StrCat(
        "policy ", spec, " ", when, ", and this run has ", steps,
        " steps: it will make no decision and freeze nothing. Train longer "
        "(--epochs, --max_steps) or decide more often (the policy's "
        "interval=N, a multiple of --stats_interval=",
        stats_interval, ", which can be lowered too)");
  } else {
    reach.note =
        absl::StrCat("policy ", spec, " ", when, ": ", reach.decisions,
                     " decision(s) in this run's ", steps,
                     " steps, the first after step ", reach.first_step);
  }
  return reach;
}

}  // namespace freezing::train
