#include "replay/case_list.h"

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "freeze/policy.h"

namespace freezing::replay {
namespace {

// `key=value` with the '=' before any ':'.
bool IsKeyValue(absl::string_view piece) {
  const size_t eq = piece.find('=');
  const size_t colon = piece.find(':');
  return eq != absl::string_view::npos && eq > 0 &&
         (colon == absl::string_view::npos || eq < colon);
}

}  // namespace

absl::StatusOr<std::vector<std::string>> SplitSpecList(absl::string_view text,
                                                       absl::string_view what) {
  std::vector<std::string> out;
  for (absl::string_view group : absl::StrSplit(text, ';')) {
    bool first_in_group = true;
    for (absl::string_view raw : absl::StrSplit(group, ',')) {
      const absl::string_view piece = absl::StripAsciiWhitespace(raw);
      if (piece.empty()) {
        return absl::InvalidArgumentError(
            absl::StrCat("--", what, "='", text, "': empty item in the list"));
      }
      if (IsKeyValue(piece)) {
        if (first_in_group || out.empty()) {
          return absl::InvalidArgumentError(
              absl::StrCat("--", what, "='", text, "': '", piece,
                           "' is an option without a spec before it (write "
                           "name:key=value,key=value)"));
        }
        absl::StrAppend(&out.back(), ",", piece);
      } else {
        out.emplace_back(piece);
      }
      first_in_group = false;
    }
  }
  if (out.empty()) {
    return absl::InvalidArgumentError(absl::StrCat("--", what, " is empty"));
  }
  return out;
}

std::vector<std::string> AllPolicies(const sim::CostModel& model) {
  std::vector<std::string> out;
  int freezable = 0;
  for (int u = 0; u < model.run().num_units; ++u) {
    if (!freeze::IsClassifier(model.run().units, u)) ++freezable;
  }
  for (const std::string& name : freeze::PolicyNames()) {
    if (name == "static") {
      for (int k = 1; k <= freezable; ++k)
        out.push_back(absl::StrCat("static:", k));
    } else if (name == "gradnorm") {
      out.push_back("gradnorm");
      out.push_back("gradnorm:variant=prefix");
    } else {
      out.push_back(name);
    }
  }
  return out;
}

absl::StatusOr<std::vector<PolicyCase>> ParsePolicies(
    absl::string_view text, const sim::CostModel& model) {
  auto specs = SplitSpecList(text, "policies");
  if (!specs.ok()) return specs.status();
  std::vector<PolicyCase> out;
  for (const std::string& s : *specs) {
    if (s == "all") {
      for (const std::string& p : AllPolicies(model)) out.push_back({p, p, ""});
      continue;
    }
    PolicyCase c;
    c.given = s;
    const size_t at = s.rfind('@');
    if (at == std::string::npos) {
      c.spec = s;
    } else {
      c.spec = s.substr(0, at);
      c.vote_rule = s.substr(at + 1);
      if (c.spec.empty() || c.vote_rule.empty()) {
        return absl::InvalidArgumentError(absl::StrCat(
            "--policies: '", s, "' must be POLICY or POLICY@RULE"));
      }
    }
    out.push_back(std::move(c));
  }
  return out;
}

absl::StatusOr<std::vector<int>> ParseWorldSizes(absl::string_view text) {
  std::vector<int> out;
  for (absl::string_view raw : absl::StrSplit(text, ',')) {
    const absl::string_view piece = absl::StripAsciiWhitespace(raw);
    if (piece == "recorded") {
      out.push_back(0);
      continue;
    }
    int v = 0;
    if (!absl::SimpleAtoi(piece, &v) || v < 1 || v > (1 << 20)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "--world_size: '", piece, "' is not a world size; valid: integers ",
          "1..1048576 or 'recorded', comma-separated"));
    }
    out.push_back(v);
  }
  if (out.empty()) return absl::InvalidArgumentError("--world_size is empty");
  return out;
}

absl::StatusOr<std::optional<bool>> ParseFoldFrozen(absl::string_view text) {
  const absl::string_view v = absl::StripAsciiWhitespace(text);
  if (v == "recorded") return std::optional<bool>();
  if (v == "true") return std::optional<bool>(true);
  if (v == "false") return std::optional<bool>(false);
  return absl::InvalidArgumentError(
      absl::StrCat("--fold_frozen: '", v,
                   "' is not a choice; valid: recorded, true, false"));
}

}  // namespace freezing::replay
