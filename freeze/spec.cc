#include "freeze/spec.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <limits>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"

namespace freezing::freeze {
namespace {

absl::Status SpecError(absl::string_view spec, absl::string_view what) {
  return absl::InvalidArgumentError(
      absl::StrCat("policy spec '", spec, "': ", what));
}

}  // namespace

absl::StatusOr<ParsedSpec> ParsePolicySpec(absl::string_view spec) {
  ParsedSpec parsed;
  parsed.text = std::string(absl::StripAsciiWhitespace(spec));
  const std::string& text = parsed.text;
  if (text.empty()) {
    return absl::InvalidArgumentError(
        "empty policy spec; expected name[:key=value,...]");
  }
  const size_t colon = text.find(':');
  parsed.name = std::string(
      absl::StripAsciiWhitespace(absl::string_view(text).substr(0, colon)));
  if (parsed.name.empty()) {
    return SpecError(text, "missing policy name before ':'");
  }
  if (colon == std::string::npos) return parsed;
  const absl::string_view rest = absl::string_view(text).substr(colon + 1);
  if (absl::StripAsciiWhitespace(rest).empty()) {
    return SpecError(text, "nothing after ':' (drop the ':' or add options)");
  }
  std::vector<std::string> seen;
  for (absl::string_view item : absl::StrSplit(rest, ',')) {
    item = absl::StripAsciiWhitespace(item);
    if (item.empty()) return SpecError(text, "empty option between commas");
    const size_t eq = item.find('=');
    std::string key, value;
    if (eq == absl::string_view::npos) {
      if (!parsed.options.empty()) {
        return SpecError(text,
                         absl::StrCat("option '", item, "' is not key=value"));
      }
      value = std::string(item);
    } else {
      key = std::string(absl::StripAsciiWhitespace(item.substr(0, eq)));
      value = std::string(absl::StripAsciiWhitespace(item.substr(eq + 1)));
      if (key.empty()) {
        return SpecError(
            text, absl::StrCat("option '", item, "' has no key before '='"));
      }
      if (value.empty()) {
        return SpecError(
            text, absl::StrCat("option '", key, "' has no value after '='"));
      }
      for (const std::string& k : seen) {
        if (k == key) {
          return SpecError(text,
                           absl::StrCat("option '", key, "' given twice"));
        }
      }
      seen.push_back(key);
    }
    parsed.options.emplace_back(std::move(key), std::move(value));
  }
  return parsed;
}

absl::StatusOr<SpecOptions> SpecOptions::Create(
    const ParsedSpec& spec, std::vector<std::string> valid_keys,
    std::optional<std::string> positional_key) {
  std::map<std::string, std::string> values;
  const std::string valid = absl::StrJoin(valid_keys, ", ");
  for (const auto& [key, value] : spec.options) {
    std::string k = key;
    if (k.empty()) {
      if (!positional_key.has_value()) {
        return SpecError(spec.text,
                         absl::StrCat("option '", value,
                                      "' is not key=value; valid keys for ",
                                      spec.name, ": ", valid));
      }
      k = *positional_key;
    }
    bool known = false;
    for (const std::string& v : valid_keys) known = known || v == k;
    if (!known) {
      return SpecError(spec.text,
                       absl::StrCat("unknown key '", k, "' for policy '",
                                    spec.name, "'; valid keys: ", valid));
    }
    if (!values.emplace(k, value).second) {
      return SpecError(spec.text, absl::StrCat("option '", k, "' given twice"));
    }
  }
  return SpecOptions(spec, std::move(values));
}

bool SpecOptions::Has(const std::string& key) const {
  return values_.count(key) > 0;
}

absl::Status SpecOptions::BadValue(const std::string& key,
                                   const std::string& value,
                                   const std::string& expected) const {
  return SpecError(spec_.text, absl::StrCat("bad value '", value, "' for '",
                                            key, "': expected ", expected));
}

absl::StatusOr<int64_t> SpecOptions::Int(const std::string& key,
                                         int64_t fallback, int64_t min,
                                         int64_t max) const {
  auto it = values_.find(key);
  if (it == values_.end()) return fallback;
  int64_t v = 0;
  // Upper bounds that only guard overflow are not worth printing.
  const std::string range =
      max >= (int64_t{1} << 40)
          ? absl::StrCat("an integer >= ", min)
          : absl::StrCat("an integer in [", min, ", ", max, "]");
  if (!absl::SimpleAtoi(it->second, &v) || v < min || v > max) {
    return BadValue(key, it->second, range);
  }
  return v;
}

absl::StatusOr<double> SpecOptions::Double(const std::string& key,
                                           double fallback, double min,
                                           double max) const {
  auto it = values_.find(key);
  if (it == values_.end()) return fallback;
  double v = 0;
  if (!absl::SimpleAtod(it->second, &v) || !std::isfinite(v) || v < min ||
      v > max) {
    return BadValue(key, it->second,
                    absl::StrCat("a number in [", FormatDouble(min), ", ",
                                 FormatDouble(max), "]"));
  }
  return v;
}

absl::StatusOr<double> SpecOptions::DoubleAboveMin(const std::string& key,
                                                   double fallback, double min,
                                                   double max) const {
  auto it = values_.find(key);
  if (it == values_.end()) return fallback;
  double v = 0;
  if (!absl::SimpleAtod(it->second, &v) || !std::isfinite(v) || v <= min ||
      v > max) {
    return BadValue(key, it->second,
                    absl::StrCat("a number in (", FormatDouble(min), ", ",
                                 FormatDouble(max), "]"));
  }
  return v;
}

absl::StatusOr<bool> SpecOptions::Bool(const std::string& key,
                                       bool fallback) const {
  auto it = values_.find(key);
  if (it == values_.end()) return fallback;
  const std::string& v = it->second;
  if (v == "1" || v == "true") return true;
  if (v == "0" || v == "false") return false;
  return BadValue(key, v, "0, 1, true or false");
}

absl::StatusOr<std::string> SpecOptions::Choice(
    const std::string& key, const std::string& fallback,
    const std::vector<std::string>& choices) const {
  auto it = values_.find(key);
  if (it == values_.end()) return fallback;
  for (const std::string& c : choices) {
    if (c == it->second) return c;
  }
  return BadValue(key, it->second,
                  absl::StrCat("one of ", absl::StrJoin(choices, ", ")));
}

std::string FormatDouble(double value) {
  if (std::isnan(value)) return "nan";
  if (std::isinf(value)) return value > 0 ? "inf" : "-inf";
  for (int precision = 1; precision <= 17; ++precision) {
    std::string s = absl::StrFormat("%.*g", precision, value);
    double back = 0;
    if (!absl::SimpleAtod(s, &back) || back != value) continue;
    // %g picks the exponent form for 50 at precision 1 ("5e+01"); prefer
    // the plain form while the exponent is small.
    const size_t e = s.find('e');
    if (e != std::string::npos) {
      const int exponent = std::atoi(s.c_str() + e + 1);
      if (exponent >= 0 && exponent < 17) {
        return absl::StrFormat("%.*g", std::max(precision, exponent + 1),
                               value);
      }
    }
    return s;
  }
  return absl::StrFormat("%.17g", value);
}

}  // namespace freezing::freeze
