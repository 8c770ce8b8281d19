#include "freeze/policy_base.h"

#include <cmath>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "base/status_macros.h"

namespace freezing::freeze::internal {

absl::StatusOr<SpecOptions> OptionsFor(
    const ParsedSpec& spec, std::vector<std::string> own_keys,
    std::optional<std::string> positional_key) {
  for (const std::string& k : CommonKeys()) own_keys.push_back(k);
  return SpecOptions::Create(spec, std::move(own_keys),
                             std::move(positional_key));
}

absl::StatusOr<CommonOptions> ParseCommonOptions(const SpecOptions& options,
                                                 const PolicyContext& context) {
  const int64_t t = context.base_interval_steps;
  const int64_t w = context.max_window;
  CommonOptions common;
  ASSIGN_OR_RETURN(int64_t interval,
                   options.Int("interval", t, 1, int64_t{1} << 40));
  const std::string& text = options.spec().text;
  if (interval % t != 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "policy spec '", text, "': interval=", interval,
        " is not a multiple of the statistics base interval T=", t,
        " steps; change the policy's interval or --stats_interval"));
  }
  if (interval > w * t) {
    return absl::InvalidArgumentError(absl::StrCat(
        "policy spec '", text, "': interval=", interval,
        " exceeds the longest recorded window W*T=", w * t, " (W=", w,
        ", T=", t, "); record with --stats_window >= ", interval / t,
        " or lower the interval"));
  }
  common.interval_steps = static_cast<int>(interval);
  ASSIGN_OR_RETURN(common.guards.warmup_steps,
                   options.Int("warmup", 0, 0, int64_t{1} << 50));
  ASSIGN_OR_RETURN(common.guards.max_frozen,
                   options.Double("max_frozen", 1.0, 0.0, 1.0));
  return common;
}

std::string PolicyBase::spec() const {
  std::string own = OwnOptions();
  return absl::StrCat(name_, ":interval=", common_.interval_steps,
                      own.empty() ? "" : ",", own,
                      ",warmup=", common_.guards.warmup_steps,
                      ",max_frozen=", FormatDouble(common_.guards.max_frozen));
}

int PolicyBase::num_freezable() const {
  int n = 0;
  for (int u = 0; u < num_units(); ++u) n += IsClassifierUnit(u) ? 0 : 1;
  return n;
}

int PolicyBase::FirstActive(const std::vector<bool>& frozen) const {
  for (int u = 0; u < num_units(); ++u) {
    if (!frozen[u] && !IsClassifierUnit(u)) return u;
    if (!frozen[u]) return -1;  // the classifier: nothing before it is active
  }
  return -1;
}

Decision PolicyBase::Initial() {
  const std::vector<bool> none(num_units(), false);
  return ApplyGuards(common_.guards, context_.units, none, /*apply_step=*/0,
                     !can_unfreeze(), InitialProposal());
}

Decision PolicyBase::Decide(const IntervalStats& stats,
                            const std::vector<bool>& frozen) {
  if (static_cast<int>(stats.units.size()) != num_units() ||
      static_cast<int>(frozen.size()) != num_units()) {
    Decision d;
    d.reason = absl::StrCat("no decision: statistics for ", stats.units.size(),
                            " units and a frozen set of ", frozen.size(),
                            ", the model has ", num_units());
    return d;
  }
  return ApplyGuards(common_.guards, context_.units, frozen,
                     stats.last_step + 1, !can_unfreeze(),
                     Propose(stats, frozen));
}

std::string PolicyBase::SaveState() const {
  StateWriter w;
  w.Add("policy", spec());
  SaveFields(w);
  return w.str();
}

absl::Status PolicyBase::LoadState(std::string_view state) {
  StateReader r(absl::string_view(state.data(), state.size()),
                absl::StrCat(name_, " state"));
  ASSIGN_OR_RETURN(std::string saved, r.Get("policy"));
  if (saved != spec()) {
    return absl::InvalidArgumentError(
        absl::StrCat("state was saved by policy '", saved,
                     "', this policy is '", spec(), "'"));
  }
  return LoadFields(r);
}

std::string NormName(NormKind kind) {
  return kind == NormKind::kL2 ? "l2" : "l1";
}

double NormOf(const UnitNorms& n, NormKind kind) {
  return kind == NormKind::kL2 ? n.l2 : n.l1;
}

std::vector<Eta> EtaTracker::Next(const IntervalStats& stats, NormKind kind) {
  const size_t n = prev_.size();
  std::vector<Eta> etas(n);
  for (size_t u = 0; u < n; ++u) {
    const UnitNorms& cur = stats.units[u];
    const double x = NormOf(cur, kind);
    const bool cur_valid = cur.trained_steps > 0 && std::isfinite(x);
    Eta& e = etas[u];
    if (cur.trained_steps <= 0) {
      e.why = "not trained in this interval";
    } else if (!std::isfinite(x)) {
      e.why = absl::StrCat("norm is ", Num(x));
    } else if (!prev_valid_[u]) {
      e.why = "no previous interval to compare with (it only records)";
    } else if (prev_[u] == 0) {
      e.why = "previous norm is 0";
    } else {
      const double eta = std::fabs((prev_[u] - x) / prev_[u]);
      if (std::isfinite(eta)) {
        e.defined = true;
        e.value = eta;
      } else {
        e.why = absl::StrCat("eta is ", Num(eta));
      }
    }
    prev_[u] = cur_valid ? x : 0.0;
    prev_valid_[u] = cur_valid;
  }
  return etas;
}

void EtaTracker::Save(StateWriter& writer) const {
  writer.AddDoubles("prev_norm", prev_);
  writer.AddBools("prev_valid", prev_valid_);
}

absl::Status EtaTracker::Load(StateReader& reader, int num_units,
                              EtaTracker* out) {
  ASSIGN_OR_RETURN(out->prev_, reader.GetDoubles("prev_norm", num_units));
  ASSIGN_OR_RETURN(out->prev_valid_, reader.GetBools("prev_valid", num_units));
  return absl::OkStatus();
}

std::string Num(double v) { return absl::StrFormat("%.6g", v); }

std::string UnitList(const std::vector<int>& units) {
  return absl::StrCat("[", absl::StrJoin(units, ","), "]");
}

void AppendNote(std::string& text, const std::string& note) {
  absl::StrAppend(&text, text.empty() ? "" : "; ", note);
}

}  // namespace freezing::freeze::internal
