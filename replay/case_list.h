// The lists a user gives replay on its command line: policies, networks and
// world sizes. Policy and network specs contain commas themselves
// (`gradnorm:interval=20,norm=l1`, `ring:alpha_us=30,gbps=10`), so a list is
// split at commas and a piece that reads `key=value` (an '=' before any ':')
// continues the previous spec; ';' always separates.
#ifndef FREEZING_REPLAY_CASE_LIST_H_
#define FREEZING_REPLAY_CASE_LIST_H_

#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "sim/cost_model.h"

namespace freezing::replay {

// SplitSpecList: the specs in `text`, trimmed, in order. InvalidArgument for
// an empty list, an empty item or a list that starts with key=value.
absl::StatusOr<std::vector<std::string>> SplitSpecList(absl::string_view text,
                                                       absl::string_view what);

// A policy to replay: the text as given, the freeze/ spec and the vote rule
// ("" = the trace's). `POLICY@RULE` selects a vote rule.
struct PolicyCase {
  std::string given;
  std::string spec;
  std::string vote_rule;
};

// AllPolicies: `none`, `static:K` for K = 1..L (L = freezable units), and
// every other policy of freeze::PolicyNames() with its defaults (gradnorm
// also as variant=prefix).
std::vector<std::string> AllPolicies(const sim::CostModel& model);

// ParsePolicies: the list (with `all` expanded in place) as PolicyCases.
// Specs are checked later, by the Freezer, with its own errors.
absl::StatusOr<std::vector<PolicyCase>> ParsePolicies(
    absl::string_view text, const sim::CostModel& model);

// ParseWorldSizes: comma-separated integers in [1, 1048576], or `recorded`
// (0 in the result).
absl::StatusOr<std::vector<int>> ParseWorldSizes(absl::string_view text);

// ParseFoldFrozen: `recorded` (nullopt: as the trace's run), `true` or
// `false` (--fold_frozen).
absl::StatusOr<std::optional<bool>> ParseFoldFrozen(absl::string_view text);

}  // namespace freezing::replay

#endif  // FREEZING_REPLAY_CASE_LIST_H_
