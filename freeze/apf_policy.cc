// apf: Adaptive Parameter Freezing (Chen et al., ICDCS'21), adapted to units.
//
// APF tests each *parameter* for stability with the effective perturbation
// |EMA(Delta)| / EMA(|Delta|), Delta being the parameter's signed update
// between checks: near 0 when the parameter oscillates around a value (its
// updates cancel), near 1 while it still moves one way. A stable parameter
// is frozen for a freezing period that grows additively while it stays
// stable and shrinks multiplicatively when it is not (AIMD), and is
// unfrozen when the period ends.
//
// The adaptation, stated honestly: a trace records only per-unit norms of
// the accumulated gradient, not signed per-parameter updates, so Delta here
// is the change of the unit's norm between consecutive policy intervals it
// was trained in: Delta_t = ||D_t|| - ||D_{t-1}||. The test therefore says
// "this unit's gradient norm has stopped trending and only fluctuates", a
// unit-level proxy for APF's test, not the same test. What is kept from APF:
// the stability ratio with EMAs, the threshold, AIMD freezing periods and
// unfreezing. Details (see README.md for the defaults):
// - EMAs start at the first Delta (E = Delta, A = |Delta|), then
//   E = b*E + (1-b)*Delta, A = b*A + (1-b)*|Delta|; stability s = |E| / A.
// - A verdict is taken only at an interval that produced a new Delta; s is
//   undefined (never frozen on) when A == 0 or a value is not finite.
// - Stable (s < threshold): freeze for `period` policy intervals; a frozen
//   unit's frozen-for count starts when the frozen set first shows it frozen
//   and it is unfrozen once the count reaches its period. Its norm history
//   restarts after unfreezing (no Delta spans the frozen gap); the EMAs are
//   kept.
// - The first verdict after an unfreeze adjusts the period: stable ->
//   period += increase, unstable -> period = max(1, floor(period*decrease)).
// The state follows the frozen set it is given, not its own proposals, so
// an instance outvoted in Freezer stays consistent with what was applied.
// The classifier is never evaluated; frozen sets need not be a prefix.
#include <algorithm>
#include <cmath>
#include <memory>
#include <utility>

#include "absl/strings/str_cat.h"
#include "base/status_macros.h"
#include "freeze/policy_base.h"

namespace freezing::freeze::internal {
namespace {

struct ApfOptions {
  NormKind norm = NormKind::kL2;
  double ema = 0.9;
  double threshold = 0.2;
  int64_t period = 1;
  int64_t increase = 1;
  double decrease = 0.5;
};

struct ApfState {
  std::vector<double> prev, ema_delta, ema_abs;
  std::vector<bool> prev_valid, tracked_frozen, recheck;
  std::vector<int64_t> observations, period, frozen_for;
};

class ApfPolicy : public PolicyBase {
 public:
  ApfPolicy(PolicyContext context, CommonOptions common, ApfOptions options)
      : PolicyBase("apf", std::move(context), common), o_(options) {
    const int n = num_units();
    s_.prev.assign(n, 0.0);
    s_.ema_delta.assign(n, 0.0);
    s_.ema_abs.assign(n, 0.0);
    s_.prev_valid.assign(n, false);
    s_.tracked_frozen.assign(n, false);
    s_.recheck.assign(n, false);
    s_.observations.assign(n, 0);
    s_.period.assign(n, o_.period);
    s_.frozen_for.assign(n, 0);
  }

  bool can_unfreeze() const override { return true; }

 protected:
  std::string OwnOptions() const override {
    return absl::StrCat(
        "ema=", FormatDouble(o_.ema), ",threshold=", FormatDouble(o_.threshold),
        ",period=", o_.period, ",increase=", o_.increase,
        ",decrease=", FormatDouble(o_.decrease), ",norm=", NormName(o_.norm));
  }

  Decision Propose(const IntervalStats& stats,
                   const std::vector<bool>& frozen) override {
    Decision d;
    std::string notes;
    for (int u = 0; u < num_units(); ++u) {
      if (IsClassifierUnit(u)) continue;
      if (frozen[u]) {
        if (FrozenPeriodOver(u)) {
          d.unfreeze.push_back(u);
          AppendNote(notes, absl::StrCat("unit ", u, " period of ",
                                         s_.period[u], " intervals over"));
        }
        continue;
      }
      if (Observe(u, stats.units[u])) Judge(u, d, notes);
    }
    d.reason = absl::StrCat("apf: ", notes.empty() ? "no change" : notes);
    return d;
  }

  void SaveFields(StateWriter& w) const override {
    w.AddDoubles("prev", s_.prev);
    w.AddBools("prev_valid", s_.prev_valid);
    w.AddDoubles("ema_delta", s_.ema_delta);
    w.AddDoubles("ema_abs", s_.ema_abs);
    w.AddInts("observations", s_.observations);
    w.AddInts("period", s_.period);
    w.AddInts("frozen_for", s_.frozen_for);
    w.AddBools("tracked_frozen", s_.tracked_frozen);
    w.AddBools("recheck", s_.recheck);
  }

  absl::Status LoadFields(StateReader& r) override {
    const int n = num_units();
    ApfState s;
    ASSIGN_OR_RETURN(s.prev, r.GetDoubles("prev", n));
    ASSIGN_OR_RETURN(s.prev_valid, r.GetBools("prev_valid", n));
    ASSIGN_OR_RETURN(s.ema_delta, r.GetDoubles("ema_delta", n));
    ASSIGN_OR_RETURN(s.ema_abs, r.GetDoubles("ema_abs", n));
    ASSIGN_OR_RETURN(s.observations, r.GetInts("observations", n));
    ASSIGN_OR_RETURN(s.period, r.GetInts("period", n));
    ASSIGN_OR_RETURN(s.frozen_for, r.GetInts("frozen_for", n));
    ASSIGN_OR_RETURN(s.tracked_frozen, r.GetBools("tracked_frozen", n));
    ASSIGN_OR_RETURN(s.recheck, r.GetBools("recheck", n));
    for (int u = 0; u < n; ++u) {
      if (s.period[u] < 1 || s.frozen_for[u] < 0 || s.observations[u] < 0) {
        return absl::DataLossError(absl::StrCat(
            "apf state: unit ", u, " has period ", s.period[u], ", frozen_for ",
            s.frozen_for[u], ", observations ", s.observations[u],
            " (need period >= 1, others >= 0)"));
      }
    }
    RETURN_IF_ERROR(r.ExpectEnd());
    s_ = std::move(s);
    return absl::OkStatus();
  }

 private:
  // Counts another interval of frozen unit `u`; whether its freezing period
  // is over (it is to be unfrozen).
  bool FrozenPeriodOver(int u) {
    if (!s_.tracked_frozen[u]) {
      s_.tracked_frozen[u] = true;
      s_.frozen_for[u] = 0;
    }
    s_.prev_valid[u] = false;
    return ++s_.frozen_for[u] >= s_.period[u];
  }

  // Takes the norm of active unit `u` in; whether it gave a new Delta (the
  // EMAs moved).
  bool Observe(int u, const UnitNorms& cur) {
    if (s_.tracked_frozen[u]) {
      s_.tracked_frozen[u] = false;
      s_.frozen_for[u] = 0;
      s_.recheck[u] = true;
    }
    const double x = NormOf(cur, o_.norm);
    if (cur.trained_steps <= 0 || !std::isfinite(x)) {
      s_.prev_valid[u] = false;
      return false;
    }
    bool observed = false;
    if (s_.prev_valid[u]) {
      const double delta = x - s_.prev[u];
      if (std::isfinite(delta)) {
        if (s_.observations[u] == 0) {
          s_.ema_delta[u] = delta;
          s_.ema_abs[u] = std::fabs(delta);
        } else {
          s_.ema_delta[u] = o_.ema * s_.ema_delta[u] + (1 - o_.ema) * delta;
          s_.ema_abs[u] =
              o_.ema * s_.ema_abs[u] + (1 - o_.ema) * std::fabs(delta);
        }
        ++s_.observations[u];
        observed = true;
      }
    }
    s_.prev[u] = x;
    s_.prev_valid[u] = true;
    return observed;
  }

  // The verdict on unit `u` after a new Delta: the period adjusted if this
  // is the first verdict since it was unfrozen, and a freeze if it is stable.
  void Judge(int u, Decision& d, std::string& notes) {
    const double e = s_.ema_delta[u], a = s_.ema_abs[u];
    if (!(a > 0) || !std::isfinite(a) || !std::isfinite(e)) {
      AppendNote(notes, absl::StrCat("unit ", u,
                                     " stability undefined (EMA |Delta| = ",
                                     Num(a), ")"));
      return;
    }
    const double stability = std::fabs(e) / a;
    const bool stable = stability < o_.threshold;
    if (s_.recheck[u]) {
      s_.recheck[u] = false;
      s_.period[u] =
          stable
              ? s_.period[u] + o_.increase
              : std::max<int64_t>(
                    1, static_cast<int64_t>(std::floor(
                           static_cast<double>(s_.period[u]) * o_.decrease)));
    }
    if (stable) {
      d.freeze.push_back(u);
      AppendNote(notes, absl::StrCat("unit ", u, " stable ", Num(stability),
                                     " < ", FormatDouble(o_.threshold),
                                     ", period ", s_.period[u]));
    }
  }

  ApfOptions o_;
  ApfState s_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<FreezePolicy>> MakeApf(
    const ParsedSpec& spec, const PolicyContext& context) {
  ASSIGN_OR_RETURN(SpecOptions options,
                   OptionsFor(spec, {"ema", "threshold", "period", "increase",
                                     "decrease", "norm"}));
  ASSIGN_OR_RETURN(CommonOptions common, ParseCommonOptions(options, context));
  ApfOptions o;
  ASSIGN_OR_RETURN(o.ema, options.Double("ema", o.ema, 0, 0.999999));
  ASSIGN_OR_RETURN(o.threshold,
                   options.DoubleAboveMin("threshold", o.threshold, 0, 1));
  ASSIGN_OR_RETURN(o.period,
                   options.Int("period", o.period, 1, int64_t{1} << 40));
  ASSIGN_OR_RETURN(o.increase,
                   options.Int("increase", o.increase, 0, int64_t{1} << 40));
  ASSIGN_OR_RETURN(o.decrease,
                   options.DoubleAboveMin("decrease", o.decrease, 0, 1));
  ASSIGN_OR_RETURN(std::string norm,
                   options.Choice("norm", "l2", {"l2", "l1"}));
  o.norm = norm == "l2" ? NormKind::kL2 : NormKind::kL1;
  return std::make_unique<ApfPolicy>(context, common, o);
}

}  // namespace freezing::freeze::internal
