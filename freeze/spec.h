// Policy spec strings: `name[:key=value,...]`, as given to --policy.
//
// This is the one place that parses them, so that every policy reports a bad
// spec the same way: an InvalidArgument error that quotes the spec, names the
// bad part and lists what would have been valid (policy names or keys).
// `SpecOptions` also formats numbers for the canonical spec with the shortest
// text that reads back as the same double, so `spec()` round-trips exactly.
#ifndef FREEZING_FREEZE_SPEC_H_
#define FREEZING_FREEZE_SPEC_H_

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace freezing::freeze {

// ParsedSpec: a spec split into its name and options, in the order given.
// A positional option (no '=') has an empty key; only the first option may be
// positional (`static:3`).
struct ParsedSpec {
  std::string text;  // the spec as given, trimmed, for error messages
  std::string name;
  std::vector<std::pair<std::string, std::string>> options;
};

// ParsePolicySpec: splits `spec`; checks only its syntax (empty name, empty
// option, `=` without key, duplicate key, positional option not first).
absl::StatusOr<ParsedSpec> ParsePolicySpec(absl::string_view spec);

// SpecOptions: typed access to one policy's options. Created with the keys
// the policy accepts; unknown keys are an error listing the valid ones.
class SpecOptions {
 public:
  // `valid_keys` in the order help texts list them. `positional_key`, when
  // set, is the key a positional first option stands for (static:K -> k).
  static absl::StatusOr<SpecOptions> Create(
      const ParsedSpec& spec, std::vector<std::string> valid_keys,
      std::optional<std::string> positional_key = std::nullopt);

  bool Has(const std::string& key) const;
  // Each getter returns the value of `key`, or `fallback` when absent; a
  // value that does not parse or lies outside [min, max] is an error naming
  // the key, the value and the accepted range.
  absl::StatusOr<int64_t> Int(const std::string& key, int64_t fallback,
                              int64_t min, int64_t max) const;
  absl::StatusOr<double> Double(const std::string& key, double fallback,
                                double min, double max) const;
  // A finite double in (min, max] (for rates and fractions that must be
  // positive).
  absl::StatusOr<double> DoubleAboveMin(const std::string& key, double fallback,
                                        double min, double max) const;
  absl::StatusOr<bool> Bool(const std::string& key, bool fallback) const;
  // One of `choices` (exact match).
  absl::StatusOr<std::string> Choice(
      const std::string& key, const std::string& fallback,
      const std::vector<std::string>& choices) const;

  const ParsedSpec& spec() const { return spec_; }

 private:
  SpecOptions(ParsedSpec spec, std::map<std::string, std::string> values)
      : spec_(std::move(spec)), values_(std::move(values)) {}
  absl::Status BadValue(const std::string& key, const std::string& value,
                        const std::string& expected) const;

  ParsedSpec spec_;
  std::map<std::string, std::string> values_;  // ordered: deterministic
};

// FormatDouble: the shortest %g text that parses back to exactly `value`
// (e.g. 0.1 -> "0.1", 1.0 -> "1"). For canonical specs and reasons.
std::string FormatDouble(double value);

}  // namespace freezing::freeze

#endif  // FREEZING_FREEZE_SPEC_H_
