// The CI regression over testdata/: every recorded trace replayed against
// every policy (and a few vote rules) on a fixed set of networks and world
// sizes, both scalings, policy intervals in steps and in epochs, with a
// straggler and jitter, with and without the activation cache, written as
// a golden CSV;
// and the comparison of a new replay with its golden, as a readable list of
// differences: any change of a freeze schedule, or an estimate that moves by
// more than 1e-9 relative.
//
// Goldens: testdata/golden/<trace>.csv, refreshed by
// `bazel run //replay:update_goldens` (see testdata/README.md).
#ifndef FREEZING_REPLAY_REGRESSION_H_
#define FREEZING_REPLAY_REGRESSION_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "sim/cost_model.h"

namespace freezing::replay {

// The fixed configuration of the goldens.
std::vector<std::string> RegressionPolicies();  // "all" plus vote rules
std::vector<std::string> RegressionNetworks(const sim::CostModel& model);
std::vector<int> RegressionWorldSizes();  // 0 = recorded

// GoldenCsv: the golden text for the trace at `path`: a `cache` column
// (off / on) and a `skew` column (none, or the straggler and jitter of that
// pass) followed by replay.csv's columns, one row per case.
absl::StatusOr<std::string> GoldenCsv(const std::string& path);

// CompareGolden: the differences between `golden` and `now` (both
// GoldenCsv text), one readable line each, prefixed with `name`; empty when
// they agree: same cases, identical schedules and texts, numbers within
// `relative` of each other.
std::vector<std::string> CompareGolden(const std::string& name,
                                       const std::string& golden,
                                       const std::string& now,
                                       double relative = 1e-9);

// ParseCsv: rows of fields (RFC 4180 quoting), for the comparison and tests.
std::vector<std::vector<std::string>> ParseCsv(const std::string& text);

}  // namespace freezing::replay

#endif  // FREEZING_REPLAY_REGRESSION_H_
