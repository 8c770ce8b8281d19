// Policies that read the gradient norm test's eta (policy_base.h):
// gradnorm (the study's Algorithm 1), autofreeze and threshold. All three
// freeze in prefix order and never on an undefined eta (a zero previous
// norm, a NaN or infinite norm, a unit not trained in this or the previous
// interval): such a unit stays active and blocks the units behind it.
#include <algorithm>
#include <cmath>
#include <memory>
#include <utility>

#include "absl/strings/str_cat.h"
#include "base/status_macros.h"
#include "freeze/policy_base.h"

namespace freezing::freeze::internal {
namespace {

absl::StatusOr<NormKind> ParseNorm(const SpecOptions& options,
                                   const std::string& fallback) {
  ASSIGN_OR_RETURN(std::string norm,
                   options.Choice("norm", fallback, {"l2", "l1"}));
  return norm == "l2" ? NormKind::kL2 : NormKind::kL1;
}

std::string EtaText(int u, const Eta& e) {
  return e.defined ? absl::StrCat("unit ", u, " eta=", Num(e.value))
                   : absl::StrCat("unit ", u, " eta undefined (", e.why, ")");
}

// Shared by the three: the eta tracker and its state.
class EtaPolicy : public PolicyBase {
 public:
  EtaPolicy(std::string name, PolicyContext context, CommonOptions common,
            NormKind norm)
      : PolicyBase(std::move(name), context, common),
        norm_(norm),
        etas_(static_cast<int>(context.units.size())) {}

 protected:
  std::vector<Eta> NextEtas(const IntervalStats& stats) {
    return etas_.Next(stats, norm_);
  }
  void SaveFields(StateWriter& w) const override { etas_.Save(w); }
  absl::Status LoadFields(StateReader& r) override {
    EtaTracker etas(num_units());
    RETURN_IF_ERROR(EtaTracker::Load(r, num_units(), &etas));
    RETURN_IF_ERROR(r.ExpectEnd());
    etas_ = std::move(etas);
    return absl::OkStatus();
  }
  NormKind norm_;
  EtaTracker etas_;
};

// gradnorm: among the active units (not frozen, not the classifier) with a
// defined eta, the one with the smallest eta (lowest index on ties) is
// frozen if every unit before it is frozen (variant=single); with
// variant=prefix every active unit up to it is frozen, stopping before the
// first one whose eta is undefined.
class GradNormPolicy : public EtaPolicy {
 public:
  GradNormPolicy(PolicyContext context, CommonOptions common, NormKind norm,
                 bool prefix)
      : EtaPolicy("gradnorm", std::move(context), common, norm),
        prefix_(prefix) {}

 protected:
  std::string OwnOptions() const override {
    return absl::StrCat("norm=", NormName(norm_),
                        ",variant=", prefix_ ? "prefix" : "single");
  }
  Decision Propose(const IntervalStats& stats,
                   const std::vector<bool>& frozen) override {
    const std::vector<Eta> etas = NextEtas(stats);
    Decision d;
    int best = -1;
    for (int u = 0; u < num_units(); ++u) {
      if (frozen[u] || IsClassifierUnit(u) || !etas[u].defined) continue;
      if (best < 0 || etas[u].value < etas[best].value) best = u;
    }
    const int first = FirstActive(frozen);
    if (best < 0) {
      d.reason = first < 0 ? "gradnorm: no active unit"
                           : absl::StrCat(
                                 "gradnorm: no active unit has a "
                                 "defined eta; ",
                                 EtaText(first, etas[first]));
      return d;
    }
    d.reason = absl::StrCat("gradnorm: smallest ", EtaText(best, etas[best]));
    if (!prefix_) {
      if (best == first) {
        d.freeze.push_back(best);
      } else {
        absl::StrAppend(&d.reason,
                        "; not frozen: ", EtaText(first, etas[first]),
                        " before it is active");
      }
      return d;
    }
    for (int u = first; u <= best; ++u) {
      if (!etas[u].defined) {
        absl::StrAppend(&d.reason, "; prefix stops before ",
                        EtaText(u, etas[u]));
        break;
      }
      d.freeze.push_back(u);
    }
    return d;
  }

 private:
  bool prefix_;
};

// The p-th percentile of `v` (non-empty), linear interpolation between the
// closest ranks (numpy's default): sorted[(n-1)p/100].
double Percentile(std::vector<double> v, double p) {
  std::sort(v.begin(), v.end());
  const double pos = (v.size() - 1) * p / 100.0;
  const size_t lo = static_cast<size_t>(std::floor(pos));
  const size_t hi = std::min(lo + 1, v.size() - 1);
  const double frac = pos - static_cast<double>(lo);
  return v[lo] + (v[hi] - v[lo]) * frac;
}

// autofreeze: threshold = the percentile of eta over the active units with
// a defined eta; freezes the active prefix below the first unit whose eta
// is >= the threshold (or undefined).
class AutoFreezePolicy : public EtaPolicy {
 public:
  AutoFreezePolicy(PolicyContext context, CommonOptions common, NormKind norm,
                   double percentile)
      : EtaPolicy("autofreeze", std::move(context), common, norm),
        percentile_(percentile) {}

 protected:
  std::string OwnOptions() const override {
    return absl::StrCat("percentile=", FormatDouble(percentile_),
                        ",norm=", NormName(norm_));
  }
  Decision Propose(const IntervalStats& stats,
                   const std::vector<bool>& frozen) override {
    const std::vector<Eta> etas = NextEtas(stats);
    Decision d;
    std::vector<double> values;
    for (int u = 0; u < num_units(); ++u) {
      if (!frozen[u] && !IsClassifierUnit(u) && etas[u].defined) {
        values.push_back(etas[u].value);
      }
    }
    const int first = FirstActive(frozen);
    if (values.empty()) {
      d.reason = first < 0 ? "autofreeze: no active unit"
                           : absl::StrCat(
                                 "autofreeze: no active unit has a "
                                 "defined eta; ",
                                 EtaText(first, etas[first]));
      return d;
    }
    const double threshold = Percentile(values, percentile_);
    d.reason = absl::StrCat("autofreeze: threshold ", Num(threshold),
                            " (percentile ", FormatDouble(percentile_), ")");
    for (int u = first; u >= 0 && u < num_units(); ++u) {
      if (frozen[u] || IsClassifierUnit(u)) break;
      if (!etas[u].defined || etas[u].value >= threshold) {
        absl::StrAppend(&d.reason, "; stops at ", EtaText(u, etas[u]));
        break;
      }
      d.freeze.push_back(u);
    }
    return d;
  }

 private:
  double percentile_;
};

// threshold: counts, per unit, the consecutive intervals with a defined eta
// below tau (an undefined eta or one >= tau resets the count); the first
// active unit is frozen once its count reaches patience. One unit per
// interval.
class ThresholdPolicy : public EtaPolicy {
 public:
  ThresholdPolicy(PolicyContext context, CommonOptions common, NormKind norm,
                  double tau, int64_t patience)
      : EtaPolicy("threshold", std::move(context), common, norm),
        tau_(tau),
        patience_(patience),
        streak_(num_units(), 0) {}

 protected:
  std::string OwnOptions() const override {
    return absl::StrCat("tau=", FormatDouble(tau_), ",patience=", patience_,
                        ",norm=", NormName(norm_));
  }
  Decision Propose(const IntervalStats& stats,
                   const std::vector<bool>& frozen) override {
    const std::vector<Eta> etas = NextEtas(stats);
    for (int u = 0; u < num_units(); ++u) {
      const bool below = etas[u].defined && etas[u].value < tau_;
      streak_[u] = below ? streak_[u] + 1 : 0;
    }
    Decision d;
    const int first = FirstActive(frozen);
    if (first < 0) {
      d.reason = "threshold: no active unit";
      return d;
    }
    d.reason = absl::StrCat("threshold: ", EtaText(first, etas[first]),
                            ", below tau=", FormatDouble(tau_), " for ",
                            streak_[first], " of ", patience_, " intervals");
    if (streak_[first] >= patience_) d.freeze.push_back(first);
    return d;
  }
  void SaveFields(StateWriter& w) const override {
    EtaPolicy::SaveFields(w);
    w.AddInts("streak", streak_);
  }
  absl::Status LoadFields(StateReader& r) override {
    EtaTracker etas(num_units());
    RETURN_IF_ERROR(EtaTracker::Load(r, num_units(), &etas));
    ASSIGN_OR_RETURN(std::vector<int64_t> streak,
                     r.GetInts("streak", num_units()));
    for (int64_t s : streak) {
      if (s < 0) return absl::DataLossError("threshold state: negative streak");
    }
    RETURN_IF_ERROR(r.ExpectEnd());
    etas_ = std::move(etas);
    streak_ = std::move(streak);
    return absl::OkStatus();
  }

 private:
  double tau_;
  int64_t patience_;
  std::vector<int64_t> streak_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<FreezePolicy>> MakeGradNorm(
    const ParsedSpec& spec, const PolicyContext& context) {
  ASSIGN_OR_RETURN(SpecOptions options, OptionsFor(spec, {"norm", "variant"}));
  ASSIGN_OR_RETURN(CommonOptions common, ParseCommonOptions(options, context));
  ASSIGN_OR_RETURN(NormKind norm, ParseNorm(options, "l2"));
  ASSIGN_OR_RETURN(std::string variant,
                   options.Choice("variant", "single", {"single", "prefix"}));
  return std::make_unique<GradNormPolicy>(context, common, norm,
                                          variant == "prefix");
}

absl::StatusOr<std::unique_ptr<FreezePolicy>> MakeAutoFreeze(
    const ParsedSpec& spec, const PolicyContext& context) {
  ASSIGN_OR_RETURN(SpecOptions options,
                   OptionsFor(spec, {"percentile", "norm"}));
  ASSIGN_OR_RETURN(CommonOptions common, ParseCommonOptions(options, context));
  ASSIGN_OR_RETURN(double percentile, options.Double("percentile", 50, 0, 100));
  ASSIGN_OR_RETURN(NormKind norm, ParseNorm(options, "l1"));
  return std::make_unique<AutoFreezePolicy>(context, common, norm, percentile);
}

absl::StatusOr<std::unique_ptr<FreezePolicy>> MakeThreshold(
    const ParsedSpec& spec, const PolicyContext& context) {
  ASSIGN_OR_RETURN(SpecOptions options,
                   OptionsFor(spec, {"tau", "patience", "norm"}));
  ASSIGN_OR_RETURN(CommonOptions common, ParseCommonOptions(options, context));
  ASSIGN_OR_RETURN(double tau, options.DoubleAboveMin("tau", 0.1, 0, 1e300));
  ASSIGN_OR_RETURN(int64_t patience,
                   options.Int("patience", 3, 1, int64_t{1} << 40));
  ASSIGN_OR_RETURN(NormKind norm, ParseNorm(options, "l2"));
  return std::make_unique<ThresholdPolicy>(context, common, norm, tau,
                                           patience);
}

}  // namespace freezing::freeze::internal
