// MakePolicy's registry, context checks and the guards shared by every
// policy. The policies live in schedule_policies.cc, gradient_policies.cc
// and apf_policy.cc.
#include "freeze/policy.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "base/status_macros.h"
#include "freeze/policy_base.h"
#include "freeze/spec.h"

namespace freezing::freeze {
namespace {

struct Entry {
  const char* name;
  internal::Factory make;
};

// In the order help texts list them.
const Entry kPolicies[] = {
    {"none", internal::MakeNone},
    {"static", internal::MakeStatic},
    {"gradnorm", internal::MakeGradNorm},
    {"autofreeze", internal::MakeAutoFreeze},
    {"threshold", internal::MakeThreshold},
    {"freezeout", internal::MakeFreezeOut},
    {"pipetransformer", internal::MakePipeTransformer},
    {"apf", internal::MakeApf},
};

absl::Status ValidateContext(const PolicyContext& c) {
  if (c.units.empty()) {
    return absl::InvalidArgumentError("policy context has no units");
  }
  for (size_t u = 0; u + 1 < c.units.size(); ++u) {
    if (c.units[u].is_classifier) {
      return absl::InvalidArgumentError(absl::StrCat(
          "unit ", u, " (", c.units[u].name,
          ") is marked as the classifier; only the last unit may be"));
    }
  }
  for (size_t u = 0; u < c.units.size(); ++u) {
    if (c.units[u].params < 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("unit ", u, " has a negative parameter count"));
    }
  }
  if (c.base_interval_steps < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("base interval T = ", c.base_interval_steps,
                     " steps; --stats_interval must be >= 1"));
  }
  if (c.max_window < 1) {
    return absl::InvalidArgumentError(absl::StrCat(
        "window W = ", c.max_window, "; --stats_window must be >= 1"));
  }
  if (c.ranks < 1 || c.total_steps < 0 || c.steps_per_epoch < 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "policy context: ranks = ", c.ranks, ", total_steps = ", c.total_steps,
        ", steps_per_epoch = ", c.steps_per_epoch,
        "; need ranks >= 1 and no negative step counts"));
  }
  return absl::OkStatus();
}

}  // namespace

std::vector<std::string> PolicyNames() {
  std::vector<std::string> names;
  for (const Entry& e : kPolicies) names.push_back(e.name);
  return names;
}

absl::StatusOr<std::unique_ptr<FreezePolicy>> MakePolicy(
    std::string_view spec, const PolicyContext& context) {
  ASSIGN_OR_RETURN(ParsedSpec parsed, ParsePolicySpec(absl::string_view(
                                          spec.data(), spec.size())));
  for (const Entry& e : kPolicies) {
    if (parsed.name == e.name) {
      RETURN_IF_ERROR(ValidateContext(context));
      return e.make(parsed, context);
    }
  }
  return absl::InvalidArgumentError(absl::StrCat(
      "policy spec '", parsed.text, "': unknown policy '", parsed.name,
      "'; valid names: ", absl::StrJoin(PolicyNames(), ", ")));
}

bool IsClassifier(const std::vector<UnitInfo>& units, int u) {
  return u == static_cast<int>(units.size()) - 1 ||
         (u >= 0 && u < static_cast<int>(units.size()) &&
          units[u].is_classifier);
}

namespace {

// Guard 1: the proposed changes that can be made at all, de-duplicated and
// ascending, into `out`.
void KeepPossible(const std::vector<UnitInfo>& units,
                  const std::vector<bool>& frozen, Decision& proposal,
                  Decision& out) {
  const int n = static_cast<int>(units.size());
  auto valid = [&](int u) {
    return u >= 0 && u < n && u < static_cast<int>(frozen.size());
  };
  std::sort(proposal.freeze.begin(), proposal.freeze.end());
  std::sort(proposal.unfreeze.begin(), proposal.unfreeze.end());
  for (int u : proposal.freeze) {
    if (!valid(u) || frozen[u]) continue;
    if (IsClassifier(units, u)) {
      internal::AppendNote(
          out.reason,
          absl::StrCat("unit ", u, " is the classifier: never frozen"));
      continue;
    }
    if (out.freeze.empty() || out.freeze.back() != u) out.freeze.push_back(u);
  }
  for (int u : proposal.unfreeze) {
    if (!valid(u) || !frozen[u]) continue;
    if (out.unfreeze.empty() || out.unfreeze.back() != u) {
      out.unfreeze.push_back(u);
    }
  }
}

// Guard 3: the frozen set after the decision must stay a prefix.
void KeepPrefix(int n, const std::vector<bool>& frozen, Decision& out) {
  std::vector<int>& freeze = out.freeze;
  std::vector<int> kept;
  size_t next = 0;  // into `freeze`
  for (int u = 0; u < n && next < freeze.size(); ++u) {
    const bool unfrozen_now =
        std::binary_search(out.unfreeze.begin(), out.unfreeze.end(), u);
    if (frozen[u] && !unfrozen_now) continue;
    if (freeze[next] != u) break;
    kept.push_back(u);
    ++next;
  }
  if (kept.size() != freeze.size()) {
    std::vector<int> dropped(freeze.begin() + kept.size(), freeze.end());
    internal::AppendNote(
        out.reason,
        absl::StrCat("prefix order: dropped ", internal::UnitList(dropped),
                     " (an earlier unit stays active)"));
    freeze = std::move(kept);
  }
}

// Guard 4: the cap on the frozen share of parameters.
void CapFrozenShare(double max_frozen, const std::vector<UnitInfo>& units,
                    const std::vector<bool>& frozen, Decision& out) {
  const int n = static_cast<int>(units.size());
  std::vector<int>& freeze = out.freeze;
  double total = 0;
  for (const UnitInfo& info : units) total += static_cast<double>(info.params);
  const bool by_units = total <= 0;
  auto weight = [&](int u) {
    return by_units ? 1.0 : static_cast<double>(units[u].params);
  };
  if (by_units) total = n;
  double now = 0;
  for (int u = 0; u < n && u < static_cast<int>(frozen.size()); ++u) {
    if (frozen[u] &&
        !std::binary_search(out.unfreeze.begin(), out.unfreeze.end(), u)) {
      now += weight(u);
    }
  }
  size_t k = 0;
  for (; k < freeze.size(); ++k) {
    if (now + weight(freeze[k]) > max_frozen * total) break;
    now += weight(freeze[k]);
  }
  if (k < freeze.size()) {
    std::vector<int> dropped(freeze.begin() + k, freeze.end());
    internal::AppendNote(
        out.reason, absl::StrCat("max_frozen=", FormatDouble(max_frozen),
                                 ": held back ", internal::UnitList(dropped)));
    freeze.resize(k);
  }
}

}  // namespace

Decision ApplyGuards(const Guards& guards, const std::vector<UnitInfo>& units,
                     const std::vector<bool>& frozen, int64_t apply_step,
                     bool keep_prefix, Decision proposal) {
  Decision out;
  out.reason = std::move(proposal.reason);
  // 1. What can be done at all.
  KeepPossible(units, frozen, proposal, out);
  // 2. Warm-up.
  if (!out.freeze.empty() && apply_step < guards.warmup_steps) {
    internal::AppendNote(
        out.reason,
        absl::StrCat("warmup: no freezing before step ", guards.warmup_steps,
                     " (held back ", internal::UnitList(out.freeze), ")"));
    out.freeze.clear();
  }
  // 3. Prefix order.
  if (keep_prefix && !out.freeze.empty()) {
    KeepPrefix(static_cast<int>(units.size()), frozen, out);
  }
  // 4. Cap on the frozen share of parameters.
  if (!out.freeze.empty()) {
    CapFrozenShare(guards.max_frozen, units, frozen, out);
  }
  return out;
}

}  // namespace freezing::freeze
